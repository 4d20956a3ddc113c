import assert from "node:assert/strict";
import { BuddyAllocator, MIGRATE_CMA } from "../../lib/kernel/buddy.ts";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { FaultInjector } from "../../lib/kernel/faults.ts";
import {
  allocContigRange,
  allocGigantic,
  freeContigRange,
  freeGigantic,
  prepGiganticFolio,
} from "../../lib/kernel/gigantic.ts";
import { Memmap, PG_RESERVED } from "../../lib/kernel/memmap.ts";
import { Topology } from "../../lib/machine/topology.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";

const G = 2 ** 18; // pages per 1 GiB

function boot(ramBytes: number, nodes = 1, setup?: (b: BuddyAllocator) => void) {
  const topology = new Topology({ ramBytes, nodes });
  const log = new KernelLog();
  const faults = new FaultInjector();
  const buddy = new BuddyAllocator({ topology, log, faults });
  setup?.(buddy);
  for (const r of topology.ranges) {
    buddy.freeBootRange(r.start / PAGE_SIZE, r.end / PAGE_SIZE, r.nid);
  }
  return { topology, buddy, log, faults };
}

function freeSet(buddy: BuddyAllocator): string[] {
  return [...buddy.freeBlocks()].map((b) => `${b.pfn}:${b.order}`).sort();
}

Deno.test("gigantic: 1 GiB folios come from the runs, lowest address first", () => {
  const { buddy } = boot(4 * GiB);
  const info0 = buddy.buddyinfo();
  const a = allocGigantic(buddy, 18, 0)!;
  assert.equal(a, 0);
  const b = allocGigantic(buddy, 18, 0)!;
  assert.equal(b, G);
  assert.equal(buddy.nrFreePages(), 4 * G - 2 * G);
  assert.equal(buddy.buddyinfo()[0][10], info0[0][10] - 512);
  for (const p of [a, a + 1, a + G - 1, b + 12345]) assert.ok(!buddy.isFree(p));
  assert.equal(buddy.memmap.compoundHead(a + G - 1), a);
  assert.equal(buddy.memmap.compoundOrder(b), 18);
  assert.equal(buddy.memmap.pageCount(a), 1);
  assert.equal(buddy.memmap.pageCount(a + 1), 0);
  assert.ok(buddy.memmap.stats().chunks <= 2, "one chunk per folio head");
  assert.ok(freeGigantic(buddy, a, 18));
  assert.ok(buddy.folioPut(b + 7), "folio_put of a gigantic folio frees it");
  assert.deepEqual(buddy.buddyinfo(), info0);
  assert.ok(!buddy.memmap.isHead(a));
});

Deno.test("gigantic: a used page makes the aligned range unavailable", () => {
  const { buddy } = boot(4 * GiB);
  const small = buddy.allocPages(0)!;
  assert.equal(small, 0);
  assert.equal(allocGigantic(buddy, 18, 0), G);
  assert.equal(allocContigRange(buddy, 0, 1024), false);
  assert.equal(buddy.memmap.pageCount(1), 0, "nothing changed");
});

Deno.test("gigantic: node preference, exactNode and exhaustion", () => {
  const { buddy, topology } = boot(4 * GiB, 2);
  const got: number[] = [];
  for (;;) {
    const h = allocGigantic(buddy, 18, 1, { exactNode: true });
    if (h === null) break;
    got.push(h);
  }
  assert.equal(got.length, 2);
  assert.ok(got.every((h) => topology.nidOfPfn(h) === 1));
  const fallback = allocGigantic(buddy, 18, 1)!;
  assert.equal(topology.nidOfPfn(fallback), 0);
  assert.throws(() => allocGigantic(buddy, 10, 0), RangeError);
  assert.throws(() => allocGigantic(buddy, 19, 0), RangeError);
});

Deno.test("gigantic: CMA pageblocks are skipped unless allowed", () => {
  const { buddy } = boot(2 * GiB, 1, (b) => b.setPageblockMigratetypeRange(0, G, MIGRATE_CMA));
  assert.equal(allocGigantic(buddy, 18, 0), G);
  assert.equal(allocGigantic(buddy, 18, 0), null);
  assert.equal(allocGigantic(buddy, 18, 0, { allowCma: true }), 0);
});

Deno.test("gigantic: fault injection and refcount checks on free", () => {
  const { buddy, faults, log } = boot(2 * GiB);
  faults.arm({ nth: 1 });
  assert.equal(allocGigantic(buddy, 18, 0), null);
  assert.equal(faults.sites.get("alloc_gigantic_folio"), 1);
  const h = allocGigantic(buddy, 18, 0)!;
  buddy.memmap.pageRefInc(h);
  assert.equal(freeGigantic(buddy, h, 18), false);
  assert.equal(log.warnings("free_gigantic_folio").length, 1);
  assert.equal(freeGigantic(buddy, h + 1, 18), false, "not a head");
  buddy.memmap.pageRefDec(h);
  // a tail with a stray reference: bad page state, nothing freed
  buddy.memmap.setPageCount(h + 100, 1);
  const free = buddy.nrFreePages();
  assert.equal(freeGigantic(buddy, h, 18), false);
  assert.equal(buddy.nrFreePages(), free);
  assert.equal(log.grep("BUG: Bad page state").length, 1);
});

Deno.test("gigantic: alloc_contig_range of an unaligned range and free_contig_range", () => {
  const { buddy, log } = boot(256 * MiB);
  const set0 = freeSet(buddy);
  assert.ok(allocContigRange(buddy, 0x1001, 0x1100));
  assert.equal(buddy.memmap.pageCount(0x1001), 1);
  assert.equal(buddy.memmap.pageCount(0x10ff), 1);
  assert.ok(buddy.isFree(0x1000) && buddy.isFree(0x1100));
  assert.equal(buddy.nrFreePages(), 2 ** 16 - 0xff);
  buddy.memmap.setPageCount(0x1050, 2);
  assert.equal(freeContigRange(buddy, 0x1001, 0x1100), false);
  assert.match(log.warnings("free_contig_range")[0].text, /1 pages are still in use!/);
  buddy.memmap.setPageCount(0x1050, 1);
  assert.ok(freeContigRange(buddy, 0x1001, 0x1100));
  assert.deepEqual(freeSet(buddy), set0);
  // compound contig allocation must be a naturally aligned power of two
  assert.throws(() => allocContigRange(buddy, 0x1000, 0x1300, { comp: true }), RangeError);
  assert.ok(allocContigRange(buddy, 0x2000, 0x2800, { comp: true }));
  assert.equal(buddy.memmap.compoundHead(0x27ff), 0x2000);
});

Deno.test("gigantic: boot-time folios from memblock via prepGiganticFolio", () => {
  const mm = new Memmap();
  mm.setFlagRange(G, 600, PG_RESERVED); // e.g. reserve_bootmem_region touched some pages
  prepGiganticFolio(mm, G, 18);
  assert.equal(mm.compoundHead(G + G - 1), G);
  assert.equal(mm.pageCount(G), 1);
  assert.equal(mm.pageCount(G + 1), 0);
  assert.ok(!mm.testFlag(G + 599, PG_RESERVED));
  assert.ok(mm.stats().chunks <= 2);
});

Deno.test("gigantic and contig: an exception while preparing the range gives it back", () => {
  for (const what of ["gigantic", "contig", "contig comp"]) {
    const { buddy } = boot(4 * GiB);
    const before = freeSet(buddy);
    const mm = buddy.memmap as unknown as Record<string, unknown>;
    const name = what === "contig" ? "setPageCountRange" : "prepCompoundPage";
    const orig = (mm[name] as (...a: unknown[]) => unknown).bind(buddy.memmap);
    mm[name] = () => {
      throw new RangeError("Array buffer allocation failed");
    };
    assert.throws(
      () =>
        what === "gigantic"
          ? allocGigantic(buddy, 18, 0)
          : allocContigRange(buddy, G, 2 * G, { comp: what === "contig comp" }),
      /Array buffer allocation failed/,
      what,
    );
    mm[name] = orig;
    assert.deepEqual(freeSet(buddy), before, what);
    assert.equal(buddy.memmap.pageCount(G), 0, what);
  }
});
