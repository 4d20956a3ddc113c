import assert from "node:assert/strict";
import { BuddyAllocator } from "../../lib/kernel/buddy.ts";
import { Topology } from "../../lib/machine/topology.ts";
import { formableBlocks, freeBlocksByOrder, freeBytesOf } from "../../lib/metrics/buddy_stats.ts";

function buddy(gib: number, nodes = 1): BuddyAllocator {
  const topology = new Topology({ ramBytes: gib * 2 ** 30, nodes });
  const b = new BuddyAllocator({ topology });
  for (const r of topology.ranges) b.freeBootRange(r.start / 4096, r.end / 4096, r.nid);
  return b;
}

Deno.test("free blocks by order and formable 2 MiB / 1 GiB blocks", () => {
  const b = buddy(4, 2);
  assert.equal(formableBlocks(b, 18), 4);
  assert.equal(formableBlocks(b, 9), 2048);
  assert.equal(freeBytesOf(freeBlocksByOrder(b)), 4 * 2 ** 30);
  // One allocated page breaks one 2 MiB block and one 1 GiB block.
  const pfn = b.allocPages(0)!;
  assert.ok(pfn !== null);
  assert.equal(formableBlocks(b, 18), 3);
  assert.equal(formableBlocks(b, 9), 2047);
  assert.equal(formableBlocks(b, 0), 2 ** 20 - 1);
  assert.equal(freeBytesOf(freeBlocksByOrder(b)), 4 * 2 ** 30 - 4096);
  b.freePages(pfn, 0);
  assert.equal(formableBlocks(b, 18), 4);
});
