import assert from "node:assert/strict";
import fc from "fast-check";
import { Topology } from "../../lib/machine/topology.ts";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { FaultInjector } from "../../lib/kernel/faults.ts";
import {
  Memblock,
  MEMBLOCK_ALLOC_ACCESSIBLE,
  MemblockFlags as F,
  type MemblockRegion,
  NUMA_NO_NODE,
} from "../../lib/kernel/memblock.ts";
import { MiB, PAGE_SIZE, SECTION_SIZE, TiB } from "../../lib/units.ts";

const K = 1024;

/** A memblock on a machine with `sections` 128 MiB sections split over `nodes` nodes. */
function make(opts: { sections?: number; nodes?: number; regionsPerChunk?: number } = {}) {
  const topology = new Topology({
    ramBytes: (opts.sections ?? 2) * SECTION_SIZE,
    nodes: opts.nodes ?? 1,
  });
  const log = new KernelLog();
  const faults = new FaultInjector();
  const mb = new Memblock({ topology, log, faults, regionsPerChunk: opts.regionsPerChunk });
  return { mb, log, faults, topology };
}

/** Regions as [base, size] pairs (flags / nid checked separately where they matter). */
function spans(regions: MemblockRegion[]): [number, number][] {
  return regions.map((r) => [r.base, r.size]);
}

// ---- memory: add / remove (basic_api.c) -------------------------------------------------

Deno.test("add: a simple region", () => {
  const { mb } = make();
  mb.add(0x1000, 64 * K, 0);
  assert.deepEqual(mb.memoryRegions(), [{ base: 0x1000, size: 64 * K, flags: 0, nid: 0 }]);
  assert.equal(mb.memoryCount, 1);
  assert.equal(mb.physMemSize(), 64 * K);
  assert.equal(mb.startOfDram(), 0x1000);
  assert.equal(mb.endOfDram(), 0x1000 + 64 * K);
});

Deno.test("add: disjoint, overlap top, overlap bottom, within, twice", () => {
  const { mb } = make();
  mb.add(0x10000, 0x4000, 0);
  mb.add(0x40000, 0x2000, 0); // disjoint
  assert.deepEqual(spans(mb.memoryRegions()), [[0x10000, 0x4000], [0x40000, 0x2000]]);
  mb.add(0x0e000, 0x4000, 0); // overlaps the top of the new range: extends down
  assert.deepEqual(spans(mb.memoryRegions()), [[0x0e000, 0x6000], [0x40000, 0x2000]]);
  mb.add(0x41000, 0x3000, 0); // overlaps the bottom of the new range: extends up
  assert.deepEqual(spans(mb.memoryRegions()), [[0x0e000, 0x6000], [0x40000, 0x4000]]);
  mb.add(0x0f000, 0x1000, 0); // within
  mb.add(0x40000, 0x4000, 0); // twice
  assert.deepEqual(spans(mb.memoryRegions()), [[0x0e000, 0x6000], [0x40000, 0x4000]]);
  assert.equal(mb.physMemSize(), 0xa000);
  mb.add(0x14000, 0x2c000, 0); // fills the gap exactly: everything merges
  assert.deepEqual(spans(mb.memoryRegions()), [[0x0e000, 0x36000]]);
  assert.equal(mb.physMemSize(), 0x36000);
});

Deno.test("add: adjacent regions merge only with equal node", () => {
  const { mb } = make({ nodes: 2 });
  mb.add(0x0, 0x1000, 0);
  mb.add(0x1000, 0x1000, 1);
  mb.add(0x2000, 0x1000, 1);
  assert.deepEqual(mb.memoryRegions(), [
    { base: 0, size: 0x1000, flags: 0, nid: 0 },
    { base: 0x1000, size: 0x2000, flags: 0, nid: 1 },
  ]);
  // covering both keeps their nodes: nothing new to insert
  mb.add(0, 0x3000, 0);
  assert.equal(mb.memoryCount, 2);
});

Deno.test("add without a node splits along the topology's nodes", () => {
  const { mb } = make({ sections: 2, nodes: 2 });
  mb.add(SECTION_SIZE - 0x2000, 0x4000);
  assert.deepEqual(mb.memoryRegions(), [
    { base: SECTION_SIZE - 0x2000, size: 0x2000, flags: 0, nid: 0 },
    { base: SECTION_SIZE, size: 0x2000, flags: 0, nid: 1 },
  ]);
  const t = make({ sections: 4, nodes: 2 });
  t.mb.addTopologyRam();
  assert.deepEqual(t.mb.memoryRegions(), [
    { base: 0, size: 2 * SECTION_SIZE, flags: 0, nid: 0 },
    { base: 2 * SECTION_SIZE, size: 2 * SECTION_SIZE, flags: 0, nid: 1 },
  ]);
});

Deno.test("remove: exact, top, bottom, within (split), absent", () => {
  const { mb } = make();
  mb.add(0x10000, 0x10000, 0);
  mb.remove(0x8000, 0x9000); // overlaps the bottom of the region
  assert.deepEqual(spans(mb.memoryRegions()), [[0x11000, 0xf000]]);
  mb.remove(0x1f000, 0x4000); // overlaps the top
  assert.deepEqual(spans(mb.memoryRegions()), [[0x11000, 0xe000]]);
  mb.remove(0x14000, 0x2000); // within: split in two
  assert.deepEqual(spans(mb.memoryRegions()), [[0x11000, 0x3000], [0x16000, 0x9000]]);
  mb.remove(0x40000, 0x1000); // absent: nothing happens
  assert.equal(mb.memoryCount, 2);
  mb.remove(0x11000, 0x3000); // exact
  assert.deepEqual(spans(mb.memoryRegions()), [[0x16000, 0x9000]]);
  assert.equal(mb.physMemSize(), 0x9000);
  mb.remove(0, 2 ** 40); // everything
  assert.equal(mb.memoryCount, 0);
  assert.equal(mb.physMemSize(), 0);
  assert.equal(mb.endOfDram(), 0);
});

// ---- reserved: reserve / free -----------------------------------------------------------

Deno.test("reserve: overlaps, adjacency, and the region between two", () => {
  const { mb } = make();
  mb.reserve(0x2000, 0x1000);
  mb.reserve(0x1800, 0x1000); // overlaps the bottom
  assert.deepEqual(spans(mb.reservedRegions()), [[0x1800, 0x1800]]);
  mb.reserve(0x2800, 0x1000); // overlaps the top
  mb.reserve(0x2000, 0x100); // within
  mb.reserve(0x1800, 0x2000); // twice (exact)
  assert.deepEqual(spans(mb.reservedRegions()), [[0x1800, 0x2000]]);
  mb.reserve(0x8000, 0x1000);
  mb.reserve(0x3800, 0x4800); // exactly between two regions: all three merge
  assert.deepEqual(spans(mb.reservedRegions()), [[0x1800, 0x7800]]);
  assert.equal(mb.totalReservedBytes(), 0x7800);
  assert.equal(mb.reserveCalls, 7);
});

Deno.test("reserve: regions with different flags or nodes do not merge", () => {
  const { mb } = make({ nodes: 2 });
  mb.reserve(0x1000, 0x1000);
  mb.reserve(0x2000, 0x1000, { flags: F.RSRV_KERN });
  mb.reserve(0x3000, 0x1000, { nid: 1 });
  mb.reserve(0x4000, 0x1000, { nid: 1 });
  assert.deepEqual(mb.reservedRegions(), [
    { base: 0x1000, size: 0x1000, flags: 0, nid: 0 },
    { base: 0x2000, size: 0x1000, flags: F.RSRV_KERN, nid: 0 },
    { base: 0x3000, size: 0x2000, flags: 0, nid: 1 },
  ]);
});

Deno.test("reserve: node from the topology, NUMA_NO_NODE across nodes", () => {
  const { mb } = make({ sections: 2, nodes: 2 });
  mb.reserve(SECTION_SIZE - 0x1000, 0x2000);
  mb.reserve(SECTION_SIZE + 0x4000, 0x1000);
  mb.reserve(0x10000, 0x1000);
  mb.reserve(4 * SECTION_SIZE, 0x1000); // in no RAM at all
  assert.deepEqual(mb.reservedRegions().map((r) => r.nid), [0, NUMA_NO_NODE, 1, NUMA_NO_NODE]);
});

Deno.test("reserve: 129 disjoint regions (memblock_reserve_many_check) across chunks", () => {
  for (const regionsPerChunk of [4, 512]) {
    const { mb } = make({ regionsPerChunk });
    for (let i = 0; i < 129; i++) mb.reserve(i * 0x10000, 0x1000);
    assert.equal(mb.reservedCount, 129);
    assert.equal(mb.totalReservedBytes(), 129 * 0x1000);
    // fill the odd holes from the top down: every gap closes and all merge
    for (let i = 127; i >= 0; i--) mb.reserve(i * 0x10000 + 0x1000, 0xf000);
    assert.deepEqual(spans(mb.reservedRegions()), [[0, 128 * 0x10000 + 0x1000]]);
  }
});

Deno.test("free: simple, overlap, within, absent", () => {
  const { mb } = make();
  mb.reserve(0x4000, 0x4000);
  mb.reserve(0x10000, 0x2000);
  mb.free(0x5000, 0x1000); // within: split
  assert.deepEqual(spans(mb.reservedRegions()), [[0x4000, 0x1000], [0x6000, 0x2000], [
    0x10000,
    0x2000,
  ]]);
  mb.free(0x7000, 0xa000); // top of one, bottom of the next
  assert.deepEqual(spans(mb.reservedRegions()), [[0x4000, 0x1000], [0x6000, 0x1000], [
    0x11000,
    0x1000,
  ]]);
  mb.free(0x20000, 0x1000); // absent
  mb.free(0x4000, 0x1000); // exact
  assert.deepEqual(spans(mb.reservedRegions()), [[0x6000, 0x1000], [0x11000, 0x1000]]);
  assert.equal(mb.totalReservedBytes(), 0x2000);
});

Deno.test("isRegionReserved is an overlap test", () => {
  const { mb } = make();
  mb.reserve(0x4000, 0x1000);
  assert.equal(mb.isRegionReserved(0x3000, 0x1000), false);
  assert.equal(mb.isRegionReserved(0x3000, 0x1001), true);
  assert.equal(mb.isRegionReserved(0x4fff, 0x10), true);
  assert.equal(mb.isRegionReserved(0x5000, 0x1000), false);
  assert.equal(mb.isReserved(0x4000), true);
  assert.equal(mb.isReserved(0x5000), false);
});

// ---- flags -------------------------------------------------------------------------------

Deno.test("markKhoScratch splits memory regions and clearKhoScratch merges them back", () => {
  const { mb } = make({ sections: 8 });
  mb.add(0, 1024 * MiB, 0);
  mb.markKhoScratch(256 * MiB, 256 * MiB);
  assert.deepEqual(mb.memoryRegions(), [
    { base: 0, size: 256 * MiB, flags: 0, nid: 0 },
    { base: 256 * MiB, size: 256 * MiB, flags: F.KHO_SCRATCH, nid: 0 },
    { base: 512 * MiB, size: 512 * MiB, flags: 0, nid: 0 },
  ]);
  mb.markKhoScratch(512 * MiB, 128 * MiB); // adjacent: merges with the flagged part
  assert.equal(mb.memoryCount, 3);
  assert.equal(mb.memoryRegions()[1].size, 384 * MiB);
  mb.markKhoScratch(2048 * MiB, 0x1000); // outside memory: no region is created
  assert.equal(mb.memoryCount, 3);
  mb.clearKhoScratch(0, 1024 * MiB);
  assert.deepEqual(spans(mb.memoryRegions()), [[0, 1024 * MiB]]);
  assert.equal(mb.physMemSize(), 1024 * MiB);
});

Deno.test("reservedMarkNoinit sets the flag on reserved parts only, splitting and merging", () => {
  const { mb } = make();
  mb.reserve(0x10000, 0x4000);
  mb.reserve(0x20000, 0x1000);
  mb.reservedMarkNoinit(0x11000, 0x10000); // middle of the first, all of the second
  assert.deepEqual(mb.reservedRegions(), [
    { base: 0x10000, size: 0x1000, flags: 0, nid: 0 },
    { base: 0x11000, size: 0x3000, flags: F.RSRV_NOINIT, nid: 0 },
    { base: 0x20000, size: 0x1000, flags: F.RSRV_NOINIT, nid: 0 },
  ]);
  assert.equal(mb.totalReservedBytes(), 0x5000);
  mb.reservedMarkNoinit(0x10000, 0x1000);
  assert.deepEqual(spans(mb.reservedRegions()), [[0x10000, 0x4000], [0x20000, 0x1000]]);
  // KHO walk pattern: reserve then mark, page after page: one region
  const t = make();
  for (let i = 0; i < 16; i++) {
    t.mb.reserve(0x100000 + i * 0x1000, 0x1000);
    t.mb.reservedMarkNoinit(0x100000 + i * 0x1000, 0x1000);
  }
  assert.deepEqual(t.mb.reservedRegions(), [
    { base: 0x100000, size: 0x10000, flags: F.RSRV_NOINIT, nid: 0 },
  ]);
});

Deno.test("reserve with flags over a region with other flags WARNs like memblock_add_range", () => {
  const { mb, log } = make();
  mb.reserve(0x2000, 0x1000);
  mb.reservedMarkNoinit(0x2000, 0x1000);
  mb.reserve(0x1000, 0x3000); // NONE flags: no warning
  assert.equal(log.warnings("memblock_add_range").length, 0);
  mb.reserve(0x8000, 0x1000, { flags: F.RSRV_NOINIT });
  mb.reserve(0x7000, 0x2000, { flags: F.RSRV_KERN });
  assert.equal(log.warnings("memblock_add_range").length, 1);
});

// ---- allocation (alloc_api.c, alloc_nid_api.c) -----------------------------------------------

const MEM = 0x100000; // 1 MiB of memory at 1 MiB, like the harness's MEM_SIZE block
function small(opts: { bottomUp?: boolean; nodes?: number } = {}) {
  const t = make({ nodes: opts.nodes });
  t.mb.add(MEM, MEM, 0);
  t.mb.bottomUp = opts.bottomUp ?? false;
  return t;
}

Deno.test("alloc top-down: simple, below a reservation, merging with it", () => {
  const { mb } = small();
  const a = mb.physAlloc(0x2000, 0x1000);
  assert.equal(a, 2 * MEM - 0x2000);
  assert.deepEqual(mb.reservedRegions(), [
    { base: a, size: 0x2000, flags: F.RSRV_KERN, nid: 0 },
  ]);
  const b = mb.physAlloc(0x1000, 0x1000); // directly below: merges (same flags, node)
  assert.equal(b, a - 0x1000);
  assert.deepEqual(spans(mb.reservedRegions()), [[b, 0x3000]]);
  mb.reserve(b - 0x1000, 0x1000); // plain reservation (flags NONE) right below
  const c = mb.physAlloc(0x1000, 0x1000);
  assert.equal(c, b - 0x2000);
  assert.equal(mb.reservedCount, 3);
  assert.equal(mb.allocCalls, 3);
});

Deno.test("alloc top-down: skips a gap too small and honours alignment", () => {
  const { mb } = small();
  mb.reserve(2 * MEM - 0x1000, 0x1000);
  mb.reserve(2 * MEM - 0x4000, 0x2000); // leaves a 4 KiB gap at top - 0x2000
  assert.equal(mb.physAlloc(0x2000, 0x1000), 2 * MEM - 0x6000);
  assert.equal(mb.physAlloc(0x1000, 0x1000), 2 * MEM - 0x2000); // fits the gap
  assert.equal(mb.physAlloc(0x1000, 0x10000), 2 * MEM - 0x10000); // aligned down
  assert.equal(mb.physAlloc(0x1000, 0), 2 * MEM - 0x7000); // align 0 → 64
});

Deno.test("alloc bottom-up: simple, above a reservation, alignment, first page", () => {
  const { mb } = small({ bottomUp: true });
  assert.equal(mb.physAlloc(0x1000, 0x1000), MEM);
  mb.reserve(MEM + 0x1000, 0x1000);
  assert.equal(mb.physAlloc(0x1000, 0x1000), MEM + 0x2000);
  assert.equal(mb.physAlloc(0x1000, 0x10000), MEM + 0x10000);
  const t = make();
  t.mb.add(0, 0x10000, 0);
  t.mb.bottomUp = true;
  assert.equal(t.mb.physAlloc(0x1000, 0x1000), PAGE_SIZE, "the first page is never used");
});

Deno.test("alloc in a range, top-down and bottom-up, and failures leave regions unchanged", () => {
  for (const bottomUp of [false, true]) {
    const { mb } = small({ bottomUp });
    const lo = MEM + 0x10000;
    const hi = MEM + 0x20000;
    const a = mb.physAllocRange(0x4000, 0x1000, lo, hi);
    assert.equal(a, bottomUp ? lo : hi - 0x4000);
    const before = mb.reservedRegions();
    assert.equal(mb.physAllocRange(0x10000, 0x1000, lo, hi), 0, "does not fit any more");
    assert.equal(mb.physAllocRange(2 * MEM, 0x1000, 0, MEMBLOCK_ALLOC_ACCESSIBLE), 0);
    assert.equal(mb.physAllocRange(0x1000, 0x1000, 3 * MEM, 4 * MEM), 0, "no memory there");
    assert.deepEqual(mb.reservedRegions(), before);
    assert.equal(mb.allocFailures, 3);
  }
});

Deno.test("alloc on a node, fallback to another node, exact node failure", () => {
  const { mb } = make({ sections: 2, nodes: 2 });
  mb.addTopologyRam();
  const top0 = SECTION_SIZE;
  assert.equal(mb.allocRange({ size: 0x1000, align: 0x1000, nid: 0 }), top0 - 0x1000);
  assert.equal(mb.allocRange({ size: 0x1000, align: 0x1000, nid: 1 }), 2 * top0 - 0x1000);
  // fill node 0 except its first page
  mb.reserve(PAGE_SIZE, top0 - 0x2000);
  assert.equal(
    mb.allocRange({ size: 0x1000, align: 0x1000, nid: 0, exactNid: true }),
    0,
    "exact node: no fallback",
  );
  const fb = mb.allocRange({ size: 0x1000, align: 0x1000, nid: 0 });
  assert.equal(fb, 2 * top0 - 0x2000, "fell back to node 1");
  assert.equal(mb.findReserved(fb)?.nid, 1);
  assert.equal(mb.allocExactNid({ size: 0x1000, align: 0x1000, nid: 0 }), 0);
  assert.equal(mb.allocTryNid({ size: 0x1000, align: 0x1000, nid: 0 }), 2 * top0 - 0x3000);
});

Deno.test("allocTryNid retries without minAddr", () => {
  const { mb } = small();
  const a = mb.allocTryNid({ size: 0x1000, align: 0x1000, minAddr: 4 * MEM });
  assert.equal(a, 2 * MEM - 0x1000);
  assert.equal(mb.allocCalls, 1);
  assert.equal(mb.allocExactNid({ size: 0x1000, align: 0x1000, minAddr: 4 * MEM, nid: 1 }), 0);
});

Deno.test("scratch-only mode allocates only inside KHO_SCRATCH memory", () => {
  for (const bottomUp of [false, true]) {
    const { mb } = small({ bottomUp });
    const s = MEM + 0x40000;
    mb.markKhoScratch(s, 0x8000);
    mb.setKhoScratchOnly();
    assert.equal(mb.khoScratchOnly, true);
    const a = mb.physAlloc(0x4000, 0x1000);
    assert.equal(a, bottomUp ? s : s + 0x4000);
    const b = mb.physAlloc(0x4000, 0x1000);
    assert.equal(b, bottomUp ? s + 0x4000 : s);
    assert.equal(mb.physAlloc(0x1000, 0x1000), 0, "scratch is full");
    assert.equal(mb.physAlloc(0x10000, 0x1000), 0);
    mb.clearKhoScratchOnly();
    assert.equal(mb.physAlloc(0x1000, 0x1000), bottomUp ? MEM : 2 * MEM - 0x1000);
  }
});

Deno.test("NOMAP memory is never allocated", () => {
  const { mb } = small();
  mb.markNomap(2 * MEM - 0x10000, 0x10000);
  assert.equal(mb.physAlloc(0x1000, 0x1000), 2 * MEM - 0x11000);
  mb.clearNomap(0, 4 * MEM);
  assert.equal(mb.memoryCount, 1);
});

Deno.test("fault injection: the allocation returns 0 and changes nothing", () => {
  const { mb, faults } = small();
  mb.reserve(MEM, 0x1000);
  const before = mb.reservedRegions();
  faults.arm({ nth: 1, sites: ["memblock_alloc"] });
  assert.equal(mb.physAlloc(0x1000, 0x1000), 0);
  assert.deepEqual(mb.reservedRegions(), before);
  assert.equal(mb.totalReservedBytes(), 0x1000);
  assert.equal(faults.injected, 1);
  assert.equal(mb.allocTryNid({ size: 0x1000, align: 0x1000, minAddr: 8 * MEM }), 2 * MEM - 0x1000);
  assert.equal(faults.sites.get("memblock_alloc"), 2, "one fault query per attempt");
  faults.arm({ nth: 1 });
  assert.equal(mb.allocTryNid({ size: 0x1000, align: 0x1000, minAddr: 8 * MEM }), 0);
  assert.equal(mb.allocFailures, 2);
});

// ---- reserved_kern_size ---------------------------------------------------------------------

Deno.test("reservedKernSize counts RSRV_KERN bytes below a limit, per node", () => {
  const { mb } = make({ sections: 4, nodes: 2 });
  mb.addTopologyRam();
  const hi0 = mb.allocRange({ size: 0x3000, align: 0x1000, nid: 0 }); // top of node 0
  mb.allocRange({ size: 0x5000, align: 0x1000, nid: 1 }); // top of node 1
  mb.reserve(0x10000, 0x7000); // not kernel-allocated: never counted
  const low = mb.physAllocRange(0x2000, 0x1000, 0, 0x100000); // node 0, low
  assert.equal(low, 0x100000 - 0x2000);
  assert.equal(mb.reservedKernSize(Number.MAX_SAFE_INTEGER, NUMA_NO_NODE), 0xa000);
  assert.equal(mb.reservedKernSize(Number.MAX_SAFE_INTEGER, 0), 0x5000);
  assert.equal(mb.reservedKernSize(Number.MAX_SAFE_INTEGER, 1), 0x5000);
  assert.equal(mb.reservedKernSize(0x100000, NUMA_NO_NODE), 0x2000);
  assert.equal(mb.reservedKernSize(hi0 + 0x1000, NUMA_NO_NODE), 0x3000, "clipped at limit");
  assert.equal(mb.reservedKernSize(0x1000, NUMA_NO_NODE), 0);
});

// ---- free_all --------------------------------------------------------------------------------

Deno.test("freeAll: free ranges exclude reserved and are page-rounded inward", () => {
  const { mb, log } = make({ sections: 2, nodes: 2 });
  mb.addTopologyRam();
  mb.reserve(0x1800, 0x1000); // pages 1..2 partly: reserved pfns [1, 3)
  mb.reserve(SECTION_SIZE - 0x1000, 0x2000); // straddles the node boundary
  mb.reserve(SECTION_SIZE + 0x10000, 0x1000);
  mb.reservedMarkNoinit(SECTION_SIZE + 0x10000, 0x1000);
  mb.markNomap(2 * SECTION_SIZE - 0x4000, 0x4000);
  const freed: [number, number, number][] = [];
  const reserved: [number, number, number, number][] = [];
  const P = SECTION_SIZE / PAGE_SIZE;
  const pages = mb.freeAll(
    (s, e, nid) => freed.push([s, e, nid]),
    (s, e, nid, flags) => reserved.push([s, e, nid, flags]),
  );
  assert.deepEqual(freed, [
    [0, 1, 0],
    [3, P - 1, 0],
    [P + 1, P + 16, 1],
    [P + 17, 2 * P - 4, 1],
  ]);
  assert.equal(pages, freed.reduce((s, [a, b]) => s + b - a, 0));
  assert.deepEqual(reserved, [
    [2 * P - 4, 2 * P, 1, F.NOMAP],
    [1, 3, 0, 0],
    [P - 1, P + 1, 0, 0], // NUMA_NO_NODE region: node of its first page
    [P + 16, P + 17, 1, F.RSRV_NOINIT],
  ]);
  assert.equal(mb.freeAll(() => assert.fail("twice")), 0);
  assert.equal(log.warnings("memblock_free_all").length, 1);
});

Deno.test("freeAll over a 1 TiB two-node machine reports whole ranges", () => {
  const { mb } = make({ sections: TiB / SECTION_SIZE, nodes: 2 });
  mb.addTopologyRam();
  for (let i = 0; i < 10; i++) mb.reserve(i * 97 * SECTION_SIZE + 0x1000, 0x100000);
  const ranges: [number, number, number][] = [];
  const pages = mb.freeAll((s, e, nid) => ranges.push([s, e, nid]));
  assert.equal(ranges.length, 12); // 10 holes cut 2 node ranges into 12
  assert.equal(pages, TiB / PAGE_SIZE - 10 * 256);
});

// ---- dump, big machines ---------------------------------------------------------------------

Deno.test("dump prints like debugfs", () => {
  const { mb } = make({ nodes: 2 });
  mb.add(0, 0x80000000, 0);
  mb.reserve(0x1000, 0x1000, { flags: F.RSRV_KERN | F.RSRV_NOINIT });
  mb.reserve(SECTION_SIZE - 0x1000, 0x2000);
  assert.equal(mb.dump("memory"), "   0: 0x0000000000000000..0x000000007fffffff    0 NONE\n");
  assert.equal(
    mb.dump("reserved"),
    "   0: 0x0000000000001000..0x0000000000001fff    0 RSV_NIT\n" +
      "   1: 0x0000000007fff000..0x0000000008000fff    x NONE\n",
  );
  assert.match(String(mb), /reserved 2 regions/);
});

Deno.test("a 32 TiB machine uses memory proportional to its regions", () => {
  const topology = new Topology({ ramBytes: 2 ** 45, nodes: 4 });
  const mb = new Memblock({ topology, log: new KernelLog(), faults: new FaultInjector() });
  mb.addTopologyRam();
  assert.equal(mb.physMemSize(), 2 ** 45);
  const a = mb.allocRange({ size: 2 ** 30, align: 2 ** 30, nid: 2 });
  assert.equal(a, 3 * 2 ** 43 - 2 ** 30);
  for (let i = 0; i < 1000; i++) mb.reserve(i * 2 ** 34 + PAGE_SIZE, PAGE_SIZE);
  assert.equal(mb.reservedCount, 1001);
  assert.ok(mb.footprintBytes < 1 << 20, `footprint ${mb.footprintBytes}`);
  let ranges = 0;
  mb.freeAll(() => ranges++);
  assert.equal(ranges, 4 + 1000); // one range per node, split once by each reservation
});

// ---- property test against a per-page model -------------------------------------------------

/** A per-page model of memblock on a 128-page arena straddling the node 0/1 boundary. */
const N = 128;
const ARENA = SECTION_SIZE - (N / 2) * PAGE_SIZE;
const ABSENT = -2;
const topoNid = (p: number) => (p < N / 2 ? 0 : 1);

class Model {
  memNid = new Int8Array(N).fill(ABSENT);
  memFlags = new Uint8Array(N);
  resNid = new Int8Array(N).fill(ABSENT);
  resFlags = new Uint8Array(N);
  scratchOnly = false;
  bottomUp = false;

  rangeNid(p: number, n: number): number {
    const a = topoNid(p);
    return a === topoNid(p + n - 1) ? a : NUMA_NO_NODE;
  }

  add(p: number, n: number, nid?: number) {
    for (let i = p; i < p + n; i++) {
      if (this.memNid[i] === ABSENT) {
        this.memNid[i] = nid ?? topoNid(i);
        this.memFlags[i] = 0;
      }
    }
  }

  reserve(p: number, n: number, nid: number, flags: number) {
    for (let i = p; i < p + n; i++) {
      if (this.resNid[i] === ABSENT) {
        this.resNid[i] = nid;
        this.resFlags[i] = flags;
      }
    }
  }

  clear(arr: Int8Array, p: number, n: number) {
    arr.fill(ABSENT, p, p + n);
  }

  setFlag(nids: Int8Array, flags: Uint8Array, p: number, n: number, flag: number, set: boolean) {
    for (let i = p; i < p + n; i++) {
      if (nids[i] !== ABSENT) flags[i] = set ? flags[i] | flag : flags[i] & ~flag;
    }
  }

  /** Runs of equal (nid, flags) among pages where `keep` holds: [startPage, endPage, nid, flags]. */
  runs(
    nids: Int8Array,
    flags: Uint8Array,
    keep: (i: number) => boolean,
  ): [number, number, number, number][] {
    const out: [number, number, number, number][] = [];
    for (let i = 0; i < N; i++) {
      if (!keep(i)) continue;
      const last = out[out.length - 1];
      if (last && last[1] === i && last[2] === nids[i] && last[3] === flags[i]) last[1]++;
      else out.push([i, i + 1, nids[i], flags[i]]);
    }
    return out;
  }

  regions(nids: Int8Array, flags: Uint8Array): MemblockRegion[] {
    return this.runs(nids, flags, (i) => nids[i] !== ABSENT).map(([a, b, nid, f]) => ({
      base: ARENA + a * PAGE_SIZE,
      size: (b - a) * PAGE_SIZE,
      flags: f,
      nid,
    }));
  }

  freeRuns(nid: number) {
    return this.runs(
      this.memNid,
      this.memFlags,
      (i) =>
        this.memNid[i] !== ABSENT && this.resNid[i] === ABSENT &&
        (nid < 0 || this.memNid[i] === nid) &&
        !(this.memFlags[i] & (F.NOMAP | F.DRIVER_MANAGED)) &&
        (!this.scratchOnly || (this.memFlags[i] & F.KHO_SCRATCH) !== 0),
    );
  }

  find(size: number, align: number, start: number, end: number, nid: number): number {
    if (end === MEMBLOCK_ALLOC_ACCESSIBLE) end = Number.MAX_SAFE_INTEGER;
    start = Math.max(start, PAGE_SIZE);
    end = Math.max(start, end);
    const runs = this.freeRuns(nid).map(([a, b]) => [
      Math.max(ARENA + a * PAGE_SIZE, start),
      Math.min(ARENA + b * PAGE_SIZE, end),
    ]).filter(([lo, hi]) => lo < hi);
    if (!this.bottomUp) runs.reverse();
    for (const [lo, hi] of runs) {
      if (this.bottomUp) {
        const cand = Math.ceil(lo / align) * align;
        if (cand < hi && hi - cand >= size) return cand;
      } else if (hi >= size) {
        const cand = Math.floor((hi - size) / align) * align;
        if (cand >= lo) return cand;
      }
    }
    return 0;
  }

  alloc(size: number, align: number, start: number, end: number, nid: number, exact: boolean) {
    let found = this.find(size, align, start, end, nid);
    let rnid = nid;
    if (found === 0 && nid >= 0 && !exact) {
      found = this.find(size, align, start, end, NUMA_NO_NODE);
      rnid = NUMA_NO_NODE;
    }
    if (found !== 0) {
      const p = (found - ARENA) / PAGE_SIZE;
      const n = size / PAGE_SIZE;
      this.reserve(p, n, rnid >= 0 ? rnid : this.rangeNid(p, n), F.RSRV_KERN);
    }
    return found;
  }
}

type Op =
  | { kind: "add"; p: number; n: number; nid?: number }
  | { kind: "remove" | "free" | "noinit" | "nomap"; p: number; n: number }
  | { kind: "reserve"; p: number; n: number; nid?: number; flags: number }
  | { kind: "scratch"; p: number; n: number; set: boolean }
  | { kind: "mode"; scratchOnly: boolean; bottomUp: boolean }
  | {
    kind: "alloc";
    n: number;
    alignLog: number;
    start?: number;
    end?: number;
    nid: number;
    exact: boolean;
  };

const span = fc.integer({ min: 0, max: N - 1 }).chain((p) =>
  fc.integer({ min: 1, max: Math.min(24, N - p) }).map((n) => ({ p, n }))
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ s: span, nid: fc.option(fc.constantFrom(0, 1, -1), { nil: undefined }) })
      .map(({ s, nid }) => ({ kind: "add" as const, ...s, nid })),
  },
  { weight: 1, arbitrary: span.map((s) => ({ kind: "remove" as const, ...s })) },
  { weight: 2, arbitrary: span.map((s) => ({ kind: "free" as const, ...s })) },
  { weight: 1, arbitrary: span.map((s) => ({ kind: "noinit" as const, ...s })) },
  { weight: 1, arbitrary: span.map((s) => ({ kind: "nomap" as const, ...s })) },
  {
    weight: 3,
    arbitrary: fc.record({
      s: span,
      nid: fc.option(fc.constantFrom(0, 1), { nil: undefined }),
      flags: fc.constantFrom(0, 0, F.RSRV_KERN, F.RSRV_NOINIT),
    }).map(({ s, nid, flags }) => ({ kind: "reserve" as const, ...s, nid, flags })),
  },
  {
    weight: 1,
    arbitrary: fc.record({ s: span, set: fc.boolean() }).map(({ s, set }) => ({
      kind: "scratch" as const,
      ...s,
      set,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      scratchOnly: fc.constantFrom(false, false, true),
      bottomUp: fc.boolean(),
    }).map((m) => ({
      kind: "mode" as const,
      ...m,
    })),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      n: fc.integer({ min: 1, max: 12 }),
      alignLog: fc.integer({ min: 0, max: 4 }),
      start: fc.option(fc.integer({ min: 0, max: N / 2 }), { nil: undefined, freq: 2 }),
      end: fc.option(fc.integer({ min: N / 4, max: N }), { nil: undefined, freq: 2 }),
      nid: fc.constantFrom(-1, 0, 1),
      exact: fc.boolean(),
    }).map((a) => ({ kind: "alloc" as const, ...a })),
  },
);

function checkInvariants(regions: MemblockRegion[]) {
  for (let i = 1; i < regions.length; i++) {
    const a = regions[i - 1];
    const b = regions[i];
    assert.ok(a.base + a.size <= b.base, "sorted and disjoint");
    assert.ok(
      a.base + a.size < b.base || a.flags !== b.flags || a.nid !== b.nid,
      "maximally merged",
    );
  }
  for (const r of regions) assert.ok(r.size > 0);
}

function runOps(ops: Op[], regionsPerChunk: number) {
  const topology = new Topology({
    ranges: [{ start: 0, end: SECTION_SIZE, nid: 0 }, {
      start: SECTION_SIZE,
      end: 2 * SECTION_SIZE,
      nid: 1,
    }],
    nodes: 2,
    ramBytes: 0,
  });
  const mb = new Memblock({
    topology,
    log: new KernelLog(),
    faults: new FaultInjector(),
    regionsPerChunk,
  });
  const m = new Model();
  const at = (p: number) => ARENA + p * PAGE_SIZE;
  for (const op of ops) {
    switch (op.kind) {
      case "add":
        mb.add(at(op.p), op.n * PAGE_SIZE, op.nid);
        m.add(op.p, op.n, op.nid);
        break;
      case "remove":
        mb.remove(at(op.p), op.n * PAGE_SIZE);
        m.clear(m.memNid, op.p, op.n);
        break;
      case "free":
        mb.free(at(op.p), op.n * PAGE_SIZE);
        m.clear(m.resNid, op.p, op.n);
        break;
      case "noinit":
        mb.reservedMarkNoinit(at(op.p), op.n * PAGE_SIZE);
        m.setFlag(m.resNid, m.resFlags, op.p, op.n, F.RSRV_NOINIT, true);
        break;
      case "nomap":
        mb.markNomap(at(op.p), op.n * PAGE_SIZE);
        m.setFlag(m.memNid, m.memFlags, op.p, op.n, F.NOMAP, true);
        break;
      case "scratch":
        if (op.set) mb.markKhoScratch(at(op.p), op.n * PAGE_SIZE);
        else mb.clearKhoScratch(at(op.p), op.n * PAGE_SIZE);
        m.setFlag(m.memNid, m.memFlags, op.p, op.n, F.KHO_SCRATCH, op.set);
        break;
      case "reserve":
        mb.reserve(at(op.p), op.n * PAGE_SIZE, { nid: op.nid, flags: op.flags });
        m.reserve(op.p, op.n, op.nid ?? m.rangeNid(op.p, op.n), op.flags);
        break;
      case "mode":
        if (op.scratchOnly) mb.setKhoScratchOnly();
        else mb.clearKhoScratchOnly();
        mb.bottomUp = m.bottomUp = op.bottomUp;
        m.scratchOnly = op.scratchOnly;
        break;
      case "alloc": {
        const size = op.n * PAGE_SIZE;
        const align = PAGE_SIZE << op.alignLog;
        const start = op.start === undefined ? 0 : at(op.start);
        const end = op.end === undefined ? MEMBLOCK_ALLOC_ACCESSIBLE : at(op.end);
        const got = mb.allocRange({ size, align, start, end, nid: op.nid, exactNid: op.exact });
        const want = m.alloc(size, align, start, end, op.nid, op.exact);
        assert.equal(got, want, `alloc ${JSON.stringify(op)}`);
        break;
      }
    }
    const mem = mb.memoryRegions();
    const res = mb.reservedRegions();
    checkInvariants(mem);
    checkInvariants(res);
    assert.deepEqual(mem, m.regions(m.memNid, m.memFlags), `memory after ${JSON.stringify(op)}`);
    assert.deepEqual(res, m.regions(m.resNid, m.resFlags), `reserved after ${JSON.stringify(op)}`);
    assert.equal(mb.physMemSize(), mem.reduce((s, r) => s + r.size, 0));
    assert.equal(mb.totalReservedBytes(), res.reduce((s, r) => s + r.size, 0));
    assert.equal(mb.memoryCount, mem.length);
    assert.equal(mb.reservedCount, res.length);
  }
  // freeAll against the model's free runs (scratch-only mode does not restrict freeing)
  m.scratchOnly = false;
  const want = m.freeRuns(NUMA_NO_NODE).map(([a, b, nid]) => [
    ARENA / PAGE_SIZE + a,
    ARENA / PAGE_SIZE + b,
    nid >= 0 ? nid : topoNid(a),
  ]);
  const got: number[][] = [];
  const pages = mb.freeAll((s, e, nid) => got.push([s, e, nid]));
  assert.deepEqual(got, want);
  assert.equal(pages, want.reduce((s, [a, b]) => s + b - a, 0));
}

Deno.test("property: random operations agree with a per-page model", () => {
  for (const regionsPerChunk of [2, 3, 512]) {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(opArb, { maxLength: 60, size: "max" }),
        (whole, ops) =>
          runOps(whole ? [{ kind: "add", p: 0, n: N }, ...ops] : ops, regionsPerChunk),
      ),
      { seed: 20260707 + regionsPerChunk, numRuns: 200 },
    );
  }
});

Deno.test("MEMBLOCK_KHO_SCRATCH_EXT: marked memory is allocatable in scratch-only mode; user allocations take only it", () => {
  const { mb } = make({ sections: 16 }); // 2 GiB
  mb.addTopologyRam();
  mb.markKhoScratch(0x1000_0000, 0x1000_0000); // [256 MiB, 512 MiB) scratch
  mb.markKhoScratchExt(0x4000_0000, 0x2000_0000); // [1 GiB, 1.5 GiB) extended scratch
  mb.setKhoScratchOnly();
  // Kernel memory: scratch or extended scratch (top-down: the extended area is higher).
  const k = mb.allocRange({ size: MiB, align: MiB });
  assert.ok(k >= 0x4000_0000 && k < 0x6000_0000, `kernel ${k.toString(16)}`);
  // User memory (memblock_alloc_nid_user): never scratch.
  mb.bottomUp = true;
  const u = mb.allocNidUser({ size: 64 * MiB, align: MiB });
  assert.ok(u >= 0x4000_0000 && u < 0x6000_0000, `user ${u.toString(16)}`);
  const kb = mb.allocRange({ size: MiB, align: MiB });
  assert.ok(kb >= 0x1000_0000 && kb < 0x2000_0000, "bottom-up kernel memory: scratch first");
  assert.equal(mb.findReserved(u)!.flags, F.RSRV_KERN | F.RSRV_HUGETLB);
  assert.equal(mb.reservedHugetlbSize(Number.MAX_SAFE_INTEGER, NUMA_NO_NODE), 64 * MiB);
  assert.equal(mb.reservedKernSize(Number.MAX_SAFE_INTEGER, NUMA_NO_NODE), 66 * MiB);
  assert.equal(mb.allocNidUser({ size: 512 * MiB, align: MiB }), 0, "no room in the extended area");
  mb.clearKhoScratchOnly();
  assert.ok(
    mb.allocNidUser({ size: 512 * MiB, align: MiB }) !== 0,
    "anywhere outside scratch-only",
  );
  assert.match(mb.dump("memory"), /KHO_SCRATCH_EXT/);
  assert.match(mb.dump("reserved"), /RSV_KERN/);
});

Deno.test("memblock_mark_kho_scratch_ext leaves holes alone and keeps the other flags", () => {
  const topology = new Topology({ ramBytes: SECTION_SIZE * 4 });
  const mb = new Memblock({ topology, log: new KernelLog(), faults: new FaultInjector() });
  mb.add(0, SECTION_SIZE, 0);
  mb.add(2 * SECTION_SIZE, SECTION_SIZE, 0); // a hole in between
  mb.markKhoScratch(0, MiB);
  mb.markKhoScratchExt(0, 4 * SECTION_SIZE);
  assert.equal(mb.physMemSize(), 2 * SECTION_SIZE);
  const regions = mb.memoryRegions();
  assert.deepEqual(regions.map((r) => r.flags), [
    F.KHO_SCRATCH | F.KHO_SCRATCH_EXT,
    F.KHO_SCRATCH_EXT,
    F.KHO_SCRATCH_EXT,
  ]);
});

Deno.test("property: reserveNoinitBatch leaves what reserve + mark_noinit one by one leave", () => {
  const page = fc.integer({ min: 0, max: 2 * 32768 - 1 }); // pages of 2 sections
  fc.assert(
    fc.property(
      // earlier reservations with their own flags, then the walk's blocks (any order, overlaps)
      fc.array(fc.tuple(page, fc.integer({ min: 1, max: 64 }), fc.constantFrom(0, F.RSRV_KERN))),
      fc.oneof(
        fc.array(fc.tuple(page, fc.integer({ min: 0, max: 9 })), { maxLength: 300 }),
        // disjoint blocks (the walk's usual output): one per 2 MiB at most
        fc.uniqueArray(fc.integer({ min: 0, max: 127 }), { maxLength: 128 }).chain((pbs) =>
          fc.tuple(
            ...pbs.map((pb) =>
              fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 511 })).map((
                [o, off],
              ) => [pb * 512 + (off & ~(2 ** o - 1)), o] as [number, number])
            ),
          )
        ),
      ),
      fc.boolean(),
      (before, blocks, sort) => {
        const a = make({ nodes: 2, regionsPerChunk: 4 });
        const b = make({ nodes: 2, regionsPerChunk: 4 });
        for (const [p, n, flags] of before) {
          a.mb.reserve(p * PAGE_SIZE, n * PAGE_SIZE, { flags });
          b.mb.reserve(p * PAGE_SIZE, n * PAGE_SIZE, { flags });
        }
        const list = sort ? [...blocks].sort((x, y) => x[0] - y[0]) : blocks;
        const base = new Float64Array(list.map(([p]) => p * PAGE_SIZE));
        const size = new Float64Array(list.map(([, o]) => 2 ** o * PAGE_SIZE));
        for (let i = 0; i < list.length; i++) {
          a.mb.reserve(base[i], size[i]);
          a.mb.reservedMarkNoinit(base[i], size[i]);
        }
        b.mb.reserveNoinitBatch(base, size, list.length);
        assert.deepEqual(b.mb.reservedRegions(), a.mb.reservedRegions());
        assert.equal(b.mb.reservedCount, a.mb.reservedCount);
        assert.equal(b.mb.totalReservedBytes(), a.mb.totalReservedBytes());
        assert.equal(b.mb.reserveCalls, a.mb.reserveCalls);
      },
    ),
    { seed: 19, numRuns: 300 },
  );
});

Deno.test("reserveNoinitBatch: a bad range throws as the single call does, after the earlier ones", () => {
  const { mb } = make();
  const base = new Float64Array([0x10000, -4096, 0x30000]);
  const size = new Float64Array([4096, 4096, 4096]);
  assert.throws(() => mb.reserveNoinitBatch(base, size, 3), RangeError);
  assert.deepEqual(mb.reservedRegions(), [
    { base: 0x10000, size: 4096, flags: F.RSRV_NOINIT, nid: 0 },
  ]);
});
