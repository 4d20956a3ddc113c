/**
 * memblock benchmarks: the reservations of a KHO boot's tracker walk and the end-of-boot
 * `memblock_free_all`.
 *
 *     deno bench --allow-read --allow-run --allow-env bench/memblock_bench.ts
 *
 * Targets (one iteration; the list is chunked, so these stay near O(n log n)):
 * - 1,048,576 `reserve()` calls of distinct single pages in ascending order: < 1 s;
 * - the same in shuffled order: < 4 s;
 * - `freeAll` over a 1 TiB, 2-node machine with ~10 reserved regions: µs to ms (per range,
 *   never per page);
 * - a 32 TiB machine: memory proportional to the number of regions.
 *
 * @module
 */

import { KernelLog } from "../lib/kernel/dmesg.ts";
import { FaultInjector } from "../lib/kernel/faults.ts";
import { Memblock } from "../lib/kernel/memblock.ts";
import { Topology } from "../lib/machine/topology.ts";
import { Rng } from "../lib/rng.ts";
import { GiB, PAGE_SIZE, TiB } from "../lib/units.ts";

const PAGES = 1 << 20;
const BASE = 4 * GiB;

const TOPO_1T = new Topology({ ramBytes: TiB, nodes: 2 });
const TOPO_32T = new Topology({ ramBytes: 2 ** 45, nodes: 4 });

function fresh(topology = TOPO_1T): Memblock {
  const mb = new Memblock({ topology, log: new KernelLog(), faults: new FaultInjector() });
  mb.addTopologyRam();
  return mb;
}

/** Every other page from 4 GiB up: 1 Mi regions that never merge. */
const ASCENDING = new Float64Array(PAGES);
for (let i = 0; i < PAGES; i++) ASCENDING[i] = BASE + 2 * i * PAGE_SIZE;
const SHUFFLED = new Rng(1).shuffle([...ASCENDING]);
/** The bench-ref workload's pfns, `(i * 0x9E3779B1) mod 2^22`, in generation order. */
const GOLDEN = new Float64Array(PAGES);
for (let i = 0; i < PAGES; i++) {
  GOLDEN[i] = BASE + (Math.imul(i, 0x9e3779b1) & ((1 << 22) - 1)) * PAGE_SIZE;
}
const GOLDEN_SORTED = GOLDEN.slice().sort();

function check(mb: Memblock, regions: number): void {
  if (mb.reservedCount !== regions) {
    throw new Error(`expected ${regions} reserved regions, got ${mb.reservedCount}`);
  }
}

Deno.bench({
  name: "reserve 1Mi single pages, ascending (target < 1 s)",
  group: "reserve",
  baseline: true,
  n: 3,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    b.start();
    for (let i = 0; i < PAGES; i++) mb.reserve(ASCENDING[i], PAGE_SIZE);
    b.end();
    check(mb, PAGES);
  },
});

Deno.bench({
  name: "reserve + mark_noinit 1Mi single pages, ascending (KHO walk)",
  group: "reserve",
  n: 3,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    b.start();
    for (let i = 0; i < PAGES; i++) {
      mb.reserve(ASCENDING[i], PAGE_SIZE);
      mb.reservedMarkNoinit(ASCENDING[i], PAGE_SIZE);
    }
    b.end();
    check(mb, PAGES);
  },
});

Deno.bench({
  name: "reserveNoinitBatch 1Mi single pages, ascending (KHO walk, one merge pass)",
  group: "reserve",
  n: 3,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    const sizes = new Float64Array(PAGES).fill(PAGE_SIZE);
    b.start();
    mb.reserveNoinitBatch(ASCENDING, sizes, PAGES);
    b.end();
    check(mb, PAGES);
  },
});

Deno.bench({
  name: "reserveNoinitBatch bench-ref pfns as a walk gives them: 4 ascending runs",
  group: "reserve",
  n: 3,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    // four interleaved runs (a walk delivers one ascending run per order)
    const runs = new Float64Array(PAGES);
    for (let r = 0, k = 0; r < 4; r++) {
      for (let i = r; i < PAGES; i += 4) runs[k++] = GOLDEN_SORTED[i];
    }
    const sizes = new Float64Array(PAGES).fill(PAGE_SIZE);
    b.start();
    mb.reserveNoinitBatch(runs, sizes, PAGES);
    b.end();
    if (mb.totalReservedBytes() !== PAGES * PAGE_SIZE) throw new Error("lost pages");
  },
});

Deno.bench({
  name: "reserve 1Mi single pages, shuffled (target < 4 s)",
  group: "reserve",
  n: 2,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    b.start();
    for (let i = 0; i < PAGES; i++) mb.reserve(SHUFFLED[i], PAGE_SIZE);
    b.end();
    check(mb, PAGES);
  },
});

Deno.bench({
  name: "reserve 1Mi ascending, a 2 MiB block above every 4096 pages",
  group: "reserve",
  n: 3,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    const high = BASE + 64 * GiB;
    b.start();
    for (let i = 0; i < PAGES; i++) {
      mb.reserve(ASCENDING[i], PAGE_SIZE);
      if (i % 4096 === 0) mb.reserve(high + (i / 4096) * 4 * 2 ** 20, 2 ** 21);
    }
    b.end();
    check(mb, PAGES + PAGES / 4096);
  },
});

Deno.bench({
  name: "reserve bench-ref pfns (golden-ratio scatter), walk order and generation order",
  group: "reserve",
  n: 2,
  warmup: 1,
  fn(b) {
    const sorted = fresh();
    const scattered = fresh();
    b.start();
    for (let i = 0; i < PAGES; i++) sorted.reserve(GOLDEN_SORTED[i], PAGE_SIZE);
    for (let i = 0; i < PAGES; i++) scattered.reserve(GOLDEN[i], PAGE_SIZE);
    b.end();
    if (sorted.totalReservedBytes() !== PAGES * PAGE_SIZE) throw new Error("lost pages");
    check(scattered, sorted.reservedCount);
  },
});

Deno.bench({
  name: "freeAll, 1 TiB, 2 nodes, 10 reserved regions (per range)",
  group: "freeAll",
  fn(b) {
    const mb = fresh();
    for (let i = 0; i < 10; i++) mb.reserve(BASE + i * 37 * GiB + 12345, 3 * 2 ** 20);
    let pages = 0;
    b.start();
    pages = mb.freeAll(() => {});
    b.end();
    if (pages <= 0) throw new Error("nothing freed");
  },
});

Deno.bench({
  name: "freeAll after 1Mi scattered reservations",
  group: "freeAll",
  n: 3,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    for (let i = 0; i < PAGES; i++) mb.reserve(ASCENDING[i], PAGE_SIZE);
    let ranges = 0;
    b.start();
    mb.freeAll(() => ranges++);
    b.end();
    if (ranges !== PAGES + 2) throw new Error(`ranges ${ranges}`);
  },
});

Deno.bench({
  name: "scratch-only allocations with 1Mi reserved regions outside scratch",
  group: "alloc",
  n: 3,
  warmup: 1,
  fn(b) {
    const mb = fresh();
    for (let i = 0; i < PAGES; i++) mb.reserve(ASCENDING[i], PAGE_SIZE);
    mb.markKhoScratch(GiB, 2 * GiB);
    mb.setKhoScratchOnly();
    b.start();
    for (let i = 0; i < 1000; i++) {
      if (mb.physAlloc(PAGE_SIZE, PAGE_SIZE) === 0) throw new Error("scratch exhausted");
    }
    b.end();
  },
});

Deno.bench({
  name: "32 TiB machine: RAM, per-node allocations, 64Ki reservations",
  group: "alloc",
  n: 3,
  warmup: 1,
  fn() {
    const mb = fresh(TOPO_32T);
    for (let nid = 0; nid < 4; nid++) {
      mb.allocRange({ size: GiB, align: GiB, nid, exactNid: true });
    }
    for (let i = 0; i < 1 << 16; i++) mb.reserve(i * 2 ** 28 + PAGE_SIZE, PAGE_SIZE);
    if (mb.footprintBytes > 16 * 2 ** 20) throw new Error(`footprint ${mb.footprintBytes}`);
  },
});
