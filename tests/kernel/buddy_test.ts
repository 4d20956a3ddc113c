import assert from "node:assert/strict";
import fc from "fast-check";
import {
  BuddyAllocator,
  type FreeBlockInfo,
  MIGRATE_CMA,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
} from "../../lib/kernel/buddy.ts";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { FaultInjector } from "../../lib/kernel/faults.ts";
import { type Gfp, GFP_KERNEL, GFP_MOVABLE } from "../../lib/kernel/gfp.ts";
import { PG_RESERVED } from "../../lib/kernel/memmap.ts";
import { PhysicalMemory } from "../../lib/machine/physmem.ts";
import { Topology } from "../../lib/machine/topology.ts";
import { GiB, MiB, PAGE_SIZE, TiB } from "../../lib/units.ts";

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

/** buddyinfo recomputed from the free blocks themselves. */
function recount(buddy: BuddyAllocator, nodes: number): number[][] {
  const out = Array.from({ length: nodes }, () => new Array(11).fill(0));
  for (const b of buddy.freeBlocks()) out[b.nid][b.order]++;
  return out;
}

Deno.test("buddy: booting 2 nodes × 512 MiB frees everything as max-order blocks", () => {
  const { buddy } = boot(GiB, 2);
  assert.deepEqual(buddy.buddyinfo(), [
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128],
  ]);
  assert.equal(buddy.nrFreePages(), 2 ** 18);
  assert.equal(buddy.nrFreePages(1), 2 ** 17);
  assert.equal(buddy.managedPages(), 2 ** 18);
  assert.equal(buddy.nrFreePagesOfType(0, MIGRATE_MOVABLE), 2 ** 17);
  assert.equal(
    buddy.buddyinfoText(),
    "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0      0    128 \n" +
      "Node 1, zone   Normal      0      0      0      0      0      0      0      0      0      0    128 \n",
  );
  assert.deepEqual(buddy.freeBlockContaining(2 ** 17 + 5), {
    pfn: 2 ** 17,
    order: 10,
    nid: 1,
    mt: MIGRATE_MOVABLE,
  });
  assert.equal(buddy.stats().runs, 2);
});

Deno.test("buddy: boot ranges decompose like __free_pages_memory and merge across calls", () => {
  const topology = new Topology({ ramBytes: 128 * MiB });
  const buddy = new BuddyAllocator({ topology });
  assert.equal(buddy.freeBootRange(3, 16, 0), 13);
  assert.deepEqual(freeSet(buddy), ["3:0", "4:2", "8:3"].sort());
  buddy.freeBootRange(0, 3, 0);
  assert.deepEqual(freeSet(buddy), ["0:4"]);
  buddy.freeBootRange(0x1ff, 0x401, 0);
  assert.deepEqual(
    freeSet(buddy).filter((s) => Number(s.split(":")[0]) >= 0x1ff),
    ["1024:0", "511:0", "512:9"].sort(),
  );
});

Deno.test("buddy: a boot range overlapping free memory is a bad page and is not freed", () => {
  const { buddy, log } = boot(128 * MiB);
  const before = buddy.nrFreePages();
  assert.equal(buddy.freeBootRange(100, 200, 0), 0);
  assert.equal(buddy.nrFreePages(), before);
  assert.equal(log.grep("BUG: Bad page state").length, 1);
  assert.throws(() => buddy.freeBootRange(0, 2 ** 20, 0), RangeError);
});

Deno.test("buddy: expand() keeps the low part and puts the upper halves back", () => {
  const { buddy } = boot(128 * MiB);
  assert.equal(buddy.allocPages(0), 0);
  assert.deepEqual(buddy.buddyinfo()[0], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 31]);
  assert.equal(buddy.allocPages(0), 1);
  assert.equal(buddy.allocPages(3), 8);
  assert.equal(buddy.allocPages(1), 2);
  assert.equal(buddy.memmap.pageCount(8), 1);
  assert.equal(buddy.memmap.pageCount(9), 0);
  assert.equal(buddy.allocCalls, 4);
});

Deno.test("buddy: freeing everything restores the initial free lists exactly", () => {
  const { buddy } = boot(256 * MiB, 2);
  const info0 = buddy.buddyinfo();
  const set0 = freeSet(buddy);
  const got: [number, number][] = [];
  for (const order of [0, 3, 10, 0, 5, 9, 1, 0, 2, 10, 7]) {
    got.push([buddy.allocPages(order)!, order]);
  }
  assert.notDeepEqual(buddy.buddyinfo(), info0);
  for (const [pfn, order] of got.reverse()) buddy.freePages(pfn, order);
  assert.deepEqual(buddy.buddyinfo(), info0);
  assert.deepEqual(freeSet(buddy), set0);
  assert.equal(buddy.freeCalls, 11);
  assert.equal(buddy.memmap.stats().chunks, 0, "fully free pageblocks drop their state");
});

Deno.test("buddy: property — random alloc/free never double-allocates and keeps counts", () => {
  const nodes = 2;
  const totalPages = 256 * MiB / PAGE_SIZE; // 2 nodes × 128 MiB
  const op = fc.record({
    kind: fc.constantFrom("alloc", "alloc", "free"),
    order: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 4, max: 10 })),
    movable: fc.boolean(),
    nid: fc.integer({ min: 0, max: nodes - 1 }),
    exact: fc.boolean(),
    pick: fc.nat(),
  });
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 400, size: "max" }), (ops) => {
      const { buddy } = boot(256 * MiB, nodes, (b) => {
        // a 4 MiB CMA area on node 1
        b.setPageblockMigratetypeRange(2 ** 15 + 1024, 2 ** 15 + 2048, MIGRATE_CMA);
        // and one CMA pageblock whose buddy is not CMA: they must never merge
        b.setPageblockMigratetype(2 ** 15 + 4096 + 512, MIGRATE_CMA);
      });
      const info0 = buddy.buddyinfo();
      const set0 = freeSet(buddy);
      const owner = new Uint8Array(totalPages);
      const live: [number, number][] = [];
      let allocated = 0;
      for (const o of ops) {
        if (o.kind === "alloc") {
          const gfp: Gfp = { movable: o.movable, exactNode: o.exact, noWarn: true };
          const pfn = buddy.allocPages(o.order, { gfp, nid: o.nid });
          if (pfn === null) continue;
          assert.equal(pfn % 2 ** o.order, 0, "naturally aligned");
          if (!o.movable) {
            assert.notEqual(buddy.getPageblockMigratetype(pfn), MIGRATE_CMA, "unmovable in CMA");
          }
          if (o.exact) assert.equal(buddy.topology.nidOfPfn(pfn), o.nid);
          for (let p = pfn; p < pfn + 2 ** o.order; p++) {
            assert.equal(owner[p], 0, `page ${p} handed out twice`);
            owner[p] = 1;
          }
          assert.ok(!buddy.isFree(pfn) && !buddy.isFree(pfn + 2 ** o.order - 1));
          live.push([pfn, o.order]);
          allocated += 2 ** o.order;
        } else if (live.length > 0) {
          const [pfn, order] = live.splice(o.pick % live.length, 1)[0];
          buddy.freePages(pfn, order);
          owner.fill(0, pfn, pfn + 2 ** order);
          allocated -= 2 ** order;
          assert.ok(buddy.isFree(pfn));
        }
      }
      assert.deepEqual(buddy.buddyinfo(), recount(buddy, nodes));
      assert.equal(buddy.nrFreePages() + allocated, totalPages);
      for (const b of buddy.freeBlocks()) {
        assert.equal(owner[b.pfn], 0);
        assert.equal(owner[b.pfn + 2 ** b.order - 1], 0);
      }
      for (const [pfn, order] of live) buddy.freePages(pfn, order);
      assert.deepEqual(buddy.buddyinfo(), info0);
      assert.deepEqual(freeSet(buddy), set0);
      assert.equal(buddy.badPages, 0);
    }),
    { seed: 20260703, numRuns: 100 },
  );
});

Deno.test("buddy: unmovable allocations never use CMA; movable ones may", () => {
  // 128 MiB: the upper 64 MiB is CMA.
  const { buddy, log } = boot(128 * MiB, 1, (b) => {
    b.setPageblockMigratetypeRange(2 ** 14, 2 ** 15, MIGRATE_CMA);
  });
  assert.equal(buddy.nrFreePagesOfType(0, MIGRATE_CMA), 2 ** 14);
  // CMA is exactly half of free memory: movable allocations prefer normal memory.
  const mov = buddy.allocPages(0, { gfp: GFP_MOVABLE })!;
  assert.ok(mov < 2 ** 14);
  buddy.freePages(mov, 0);
  const kernel: number[] = [];
  for (;;) {
    const pfn = buddy.allocPages(10, { gfp: { noWarn: true } });
    if (pfn === null) break;
    assert.ok(pfn < 2 ** 14, `unmovable block at ${pfn} is in CMA`);
    kernel.push(pfn);
  }
  assert.equal(kernel.length, 16);
  assert.equal(buddy.allocPages(0, { gfp: GFP_KERNEL }), null);
  assert.equal(log.grep("page allocation failure: order:0").length, 1);
  const m = buddy.allocPages(3, { gfp: GFP_MOVABLE })!;
  assert.equal(buddy.getPageblockMigratetype(m), MIGRATE_CMA);
  assert.deepEqual(buddy.pagetypeinfo().find((r) => r.mt === MIGRATE_CMA)!.counts, [
    0,
    0,
    0,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    15,
  ]);
});

Deno.test("buddy: CMA and non-CMA pageblocks never merge into one block", () => {
  const { buddy } = boot(128 * MiB, 1, (b) => b.setPageblockMigratetype(512, MIGRATE_CMA));
  assert.deepEqual(buddy.buddyinfo()[0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 31]);
  const cma = buddy.pagetypeinfo().find((r) => r.mt === MIGRATE_CMA)!.counts;
  assert.deepEqual(cma, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  const p = buddy.allocPages(9, { gfp: GFP_MOVABLE })!;
  buddy.freePages(p, 9);
  assert.deepEqual(buddy.buddyinfo()[0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 31]);
});

Deno.test("buddy: movable allocations go to CMA first when it holds over half of free memory", () => {
  const { buddy } = boot(128 * MiB, 1, (b) => {
    b.setPageblockMigratetypeRange(2 ** 13, 2 ** 15, MIGRATE_CMA); // 3/4 CMA
  });
  const pfn = buddy.allocPages(0, { gfp: GFP_MOVABLE })!;
  assert.equal(buddy.getPageblockMigratetype(pfn), MIGRATE_CMA);
  const k = buddy.allocPages(0)!;
  assert.equal(buddy.getPageblockMigratetype(k), MIGRATE_UNMOVABLE, "claimed pageblock");
  assert.ok(k < 2 ** 13);
});

Deno.test("buddy: unmovable allocations claim movable pageblocks; movable ones steal small blocks", () => {
  const { buddy } = boot(128 * MiB);
  const k = buddy.allocPages(0)!;
  // The whole max-order block was claimed: both its pageblocks are now unmovable.
  assert.equal(buddy.getPageblockMigratetype(k), MIGRATE_UNMOVABLE);
  assert.equal(buddy.getPageblockMigratetype(k + 512), MIGRATE_UNMOVABLE);
  assert.equal(buddy.getPageblockMigratetype(k + 1024), MIGRATE_MOVABLE);
  const info = buddy.pagetypeinfo();
  assert.deepEqual(info.find((r) => r.mt === MIGRATE_UNMOVABLE)!.counts.slice(0, 10), [
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
  ]);
  assert.equal(info.find((r) => r.mt === MIGRATE_MOVABLE)!.counts[10], 31);
  buddy.freePages(k, 0);
  // freeing merged back to max order, of the freed block's type
  assert.equal(buddy.pagetypeinfo().find((r) => r.mt === MIGRATE_UNMOVABLE)!.counts[10], 1);
});

Deno.test("buddy: node preference, fallback and exactNode", () => {
  const { buddy, topology } = boot(256 * MiB, 2);
  const p1 = buddy.allocPages(0, { nid: 1 })!;
  assert.equal(topology.nidOfPfn(p1), 1);
  assert.equal(topology.nidOfPfn(buddy.allocPages(0)!), 0, "default: first node");
  const node1: number[] = [];
  for (;;) {
    const p = buddy.allocPages(10, { nid: 1, gfp: { exactNode: true, noWarn: true } });
    if (p === null) break;
    node1.push(p);
  }
  assert.equal(buddy.nrFreePages(1) < 1024, true);
  assert.equal(buddy.allocPages(10, { nid: 1, gfp: { exactNode: true, noWarn: true } }), null);
  const fallback = buddy.allocPages(10, { nid: 1 })!;
  assert.equal(topology.nidOfPfn(fallback), 0);
});

Deno.test("buddy: an injected fault returns null and changes nothing", () => {
  const { buddy, faults, log } = boot(128 * MiB);
  buddy.allocPages(2);
  const info = buddy.buddyinfo();
  const set = freeSet(buddy);
  faults.arm({ nth: 1, sites: ["my_site"] });
  const other = buddy.allocPages(0);
  assert.notEqual(other, null, "other sites do not match");
  assert.equal(buddy.allocPages(0, { site: "my_site" }), null);
  assert.equal(faults.injected, 1);
  assert.equal(log.grep("page allocation failure").length, 0);
  buddy.freePages(other!, 0);
  assert.deepEqual(buddy.buddyinfo(), info);
  assert.deepEqual(freeSet(buddy), set);
  assert.equal(buddy.allocFailures, 1);
  assert.ok(faults.sites.get("alloc_pages")! >= 2);
});

Deno.test("buddy: out of memory warns unless __GFP_NOWARN; order > 10 is rejected", () => {
  const { buddy, log } = boot(128 * MiB);
  while (buddy.allocPages(10, { gfp: { noWarn: true } }) !== null) { /* drain */ }
  assert.equal(log.grep("page allocation failure").length, 0);
  assert.equal(buddy.allocPages(4), null);
  assert.equal(log.grep(/page allocation failure: order:4, mode:\(GFP_KERNEL\)/).length, 1);
  assert.equal(buddy.allocPages(11), null);
  assert.equal(log.warnings("__alloc_pages").length, 1);
});

Deno.test("buddy: a non-zero tail refcount is a bad page state; the block is leaked", () => {
  const { buddy, log } = boot(128 * MiB);
  const pfn = buddy.allocPages(2)!;
  const free0 = buddy.nrFreePages();
  // As kho_restore_pages leaves them: every page refcount 1.
  buddy.memmap.setPageCountRange(pfn, 4, 1);
  buddy.freePages(pfn, 2);
  assert.equal(buddy.nrFreePages(), free0, "leaked, not freed");
  assert.equal(buddy.badPages, 3);
  assert.equal(buddy.leakedPages, 4);
  assert.ok(buddy.taintedBadPage);
  const lines = log.grep("BUG: Bad page state in process swapper/0  pfn:");
  assert.equal(lines.length, 3);
  assert.match(lines[0].text, /pfn:00001$/);
  assert.equal(log.grep("page dumped because: nonzero _refcount").length, 3);
  assert.ok(!buddy.isFree(pfn));
});

Deno.test("buddy: double free and freeing reserved pages are bad page states", () => {
  const { buddy, log } = boot(128 * MiB);
  const a = buddy.allocPages(0)!;
  buddy.freePages(a, 0);
  const info = buddy.buddyinfo();
  buddy.freePages(a, 0);
  assert.deepEqual(buddy.buddyinfo(), info);
  assert.equal(buddy.badPages, 1);
  assert.equal(log.grep("double free").length, 1);
  const b = buddy.allocPages(1)!;
  buddy.memmap.setFlag(b + 1, PG_RESERVED);
  buddy.freePages(b, 1);
  assert.equal(log.grep("PAGE_FLAGS_CHECK_AT_FREE").length, 1);
  assert.ok(!buddy.isFree(b));
  // Dropping a reference on a page with refcount 0 is a VM_BUG_ON, reported as a WARN.
  buddy.freePages(b + 1, 0);
  assert.equal(log.warnings("__free_pages").length, 1);
});

Deno.test("buddy: bad pages are reported at most 60 times but all counted", () => {
  const { buddy, log } = boot(128 * MiB);
  const pfn = buddy.allocPages(8)!;
  buddy.memmap.setPageCountRange(pfn + 1, 255, 1);
  buddy.freePages(pfn, 8);
  assert.equal(buddy.badPages, 255);
  assert.equal(log.grep("BUG: Bad page state").length, 60);
});

Deno.test("buddy: extra reference on a non-compound head frees the tails (___free_pages)", () => {
  const { buddy } = boot(128 * MiB);
  const set0 = freeSet(buddy);
  const pfn = buddy.allocPages(2)!;
  buddy.memmap.pageRefInc(pfn);
  buddy.freePages(pfn, 2);
  assert.ok(!buddy.isFree(pfn));
  assert.ok(buddy.isFree(pfn + 1) && buddy.isFree(pfn + 3));
  assert.equal(buddy.memmap.pageCount(pfn), 1);
  buddy.freePages(pfn, 0);
  assert.deepEqual(freeSet(buddy), set0);
});

Deno.test("buddy: folios (__GFP_COMP) — compound head, put through a tail", () => {
  const { buddy, log } = boot(128 * MiB);
  const set0 = freeSet(buddy);
  const f = buddy.folioAlloc(4)!;
  assert.ok(buddy.memmap.isHead(f));
  assert.equal(buddy.memmap.compoundHead(f + 9), f);
  assert.equal(buddy.memmap.pageCount(f), 1);
  buddy.memmap.pageRefInc(f);
  assert.equal(buddy.folioPut(f + 3), false);
  assert.equal(buddy.folioPut(f + 3), true);
  assert.deepEqual(freeSet(buddy), set0);
  assert.ok(!buddy.memmap.isHead(f));
  // order mismatch on __free_pages of a compound page
  const g = buddy.folioAlloc(3)!;
  buddy.freePages(g, 2);
  assert.equal(log.grep("compound order mismatch").length, 1);
});

Deno.test("buddy: allocation zeroes pages with __GFP_ZERO when it has memory", () => {
  const topology = new Topology({ ramBytes: 128 * MiB });
  const mem = new PhysicalMemory(128 * MiB);
  const buddy = new BuddyAllocator({ topology, mem });
  mem.fill(0, 128 * MiB, { byte: 0xaa });
  buddy.freeBootRange(0, 2 ** 15, 0);
  const p = buddy.allocPages(1, { gfp: { zero: true } })!;
  assert.ok(mem.isZeroPage(p) && mem.isZeroPage(p + 1));
  const q = buddy.allocPages(0)!;
  assert.equal(mem.readU8(q * PAGE_SIZE), 0xaa);
});

Deno.test("buddy: init_cma_reserved_pageblock and pageblock type changes on free memory", () => {
  const topology = new Topology({ ramBytes: 128 * MiB });
  const buddy = new BuddyAllocator({ topology });
  buddy.freeBootRange(0, 2 ** 14, 0);
  // [64 MiB, 72 MiB) stays reserved (a scratch area), then becomes CMA pageblock by pageblock
  buddy.freeBootRange(2 ** 14 + 2048, 2 ** 15, 0);
  for (let p = 2 ** 14; p < 2 ** 14 + 2048; p += 512) buddy.initCmaReservedPageblock(p);
  assert.equal(buddy.nrFreePagesOfType(0, MIGRATE_CMA), 2048);
  assert.equal(buddy.managedPages(0), 2 ** 15);
  assert.deepEqual(buddy.pagetypeinfo().find((r) => r.mt === MIGRATE_CMA)!.counts.slice(9), [
    0,
    2,
  ]);
  assert.equal(buddy.badPages, 0);
  buddy.initCmaReservedPageblock(2 ** 14);
  assert.equal(buddy.badPages, 1, "pages already free");
  // splitting a free max-order block when one of its pageblocks changes type
  buddy.setPageblockMigratetype(512, MIGRATE_UNMOVABLE);
  const un = buddy.pagetypeinfo().find((r) => r.mt === MIGRATE_UNMOVABLE)!.counts;
  const mv = buddy.pagetypeinfo().find((r) => r.mt === MIGRATE_MOVABLE)!.counts;
  assert.equal(un[9], 1);
  assert.equal(mv[9], 1);
  assert.deepEqual(buddy.freeBlockContaining(600), { pfn: 512, order: 9, nid: 0, mt: 0 });
  assert.deepEqual(buddy.buddyinfo(), recount(buddy, 1));
  assert.ok(buddy.pagetypeinfoText().includes("type          CMA "));
});

Deno.test("buddy: isolateFreeRange takes exactly the range and splits the rest", () => {
  const { buddy } = boot(128 * MiB);
  const set0 = freeSet(buddy);
  assert.ok(buddy.isolateFreeRange(0x3ff, 0x1401));
  assert.ok(buddy.isFree(0x3fe) && !buddy.isFree(0x3ff) && !buddy.isFree(0x1400));
  assert.ok(buddy.isFree(0x1401));
  assert.equal(buddy.nrFreePages(), 2 ** 15 - (0x1401 - 0x3ff));
  assert.equal(buddy.isolateFreeRange(0x3fe, 0x400), false, "0x3ff is not free");
  assert.ok(buddy.freeFrozenRange(0x3ff, 0x1401));
  assert.deepEqual(freeSet(buddy), set0);
  const found: FreeBlockInfo | null = buddy.freeBlockContaining(0x1000);
  assert.equal(found?.order, 10);
});

Deno.test("buddy: a 1 TiB 2-node machine boots with a tiny heap", () => {
  const { buddy } = boot(TiB, 2);
  assert.deepEqual(buddy.buddyinfo().map((r) => r[10]), [131072, 131072]);
  assert.equal(buddy.nrFreePages(), 2 ** 28);
  const st = buddy.stats();
  assert.ok(st.approxBytes < 64 * 1024, `allocator ${st.approxBytes} bytes`);
  assert.equal(buddy.memmap.stats().approxBytes, 0);
  // a few thousand allocations touch only the pageblocks they use
  const pfns: number[] = [];
  for (let i = 0; i < 4096; i++) pfns.push(buddy.allocPages(0)!);
  assert.ok(buddy.memmap.stats().approxBytes < 100 * 1024);
  for (const p of pfns) buddy.freePages(p, 0);
  assert.deepEqual(buddy.buddyinfo().map((r) => r[10]), [131072, 131072]);
  assert.ok(buddy.stats().approxBytes < 64 * 1024 + 16 * 40);
});

Deno.test("buddy: a 32 TiB machine boots in O(runs)", () => {
  const { buddy } = boot(32 * TiB, 8);
  assert.equal(buddy.nrFreePages(), 2 ** 33);
  assert.equal(buddy.stats().runs, 8);
  assert.equal(buddy.stats().smallFreeBlocks, 0);
});

Deno.test("alloc_pages: an exception while preparing the block puts it back on the lists", () => {
  const topology = new Topology({ ramBytes: 2 ** 30 });
  const buddy = new BuddyAllocator({ topology });
  buddy.freeBootRange(0, 2 ** 18, 0);
  const free = buddy.nrFreePages();
  const blocks = [...buddy.freeBlocks()].map((b) => `${b.pfn}:${b.order}`).sort();
  const mm = buddy.memmap as unknown as Record<string, unknown>;
  const orig = (mm.prepCompoundPage as (...a: unknown[]) => unknown).bind(buddy.memmap);
  mm.prepCompoundPage = () => {
    throw new RangeError("Array buffer allocation failed");
  };
  assert.throws(() => buddy.folioAlloc(4), /Array buffer allocation failed/);
  mm.prepCompoundPage = orig;
  assert.equal(buddy.nrFreePages(), free);
  assert.deepEqual([...buddy.freeBlocks()].map((b) => `${b.pfn}:${b.order}`).sort(), blocks);
  assert.notEqual(buddy.folioAlloc(4), null);
});

Deno.test("buddy: boot ranges in ascending order skip the overlap scan, and still catch overlaps", () => {
  const topology = new Topology({ ramBytes: 128 * MiB, nodes: 1 });
  const log = new KernelLog();
  const buddy = new BuddyAllocator({ topology, log });
  assert.equal(buddy.freeBootRange(0, 100, 0), 100);
  assert.equal(buddy.freeBootRange(200, 300, 0), 100);
  assert.equal(buddy.freeBootRange(150, 250, 0), 0, "below the freed end: scanned, overlaps");
  assert.equal(log.grep("BUG: Bad page state").length, 1);
  assert.equal(buddy.freeBootRange(300, 400, 0), 100);
  // memory freed another way may lie anywhere: every later boot range is scanned
  assert.ok(buddy.freeFrozenRange(800, 900));
  assert.equal(buddy.freeBootRange(850, 870, 0), 0, "above the boot ranges, overlaps");
  assert.equal(log.grep("BUG: Bad page state").length, 2);
  assert.equal(buddy.freeBootRange(500, 600, 0), 100);
  assert.equal(buddy.nrFreePages(), 500);
});
