/**
 * Radix tree benchmark on the bench-ref workload (`/work/shared/bench-ref/kho_ref.c`):
 * 1 Mi order-0 pages `pfn_i = (i * 0x9E3779B1) mod 2^22` in a 16 GiB span, preserved into
 * a fresh tree, then walked by the incoming reader (from bytes, with validation) folding
 * `checksum = Σ (phys XOR order) mod 2^64`.
 *
 *     deno bench --allow-read --allow-run --allow-env bench/radix_bench.ts
 *     deno run --allow-env --allow-run bench/radix_bench.ts        # summary line only
 *
 * Module load prints one JSON summary line (median of 7 runs after 3 warm-up runs, ns per
 * page, checksum)
 * comparable with `kho_ref radix 1048576 4194304`; with `KHO_REF=/path/to/kho_ref` set,
 * the reference is run too and the ratios are printed.
 *
 * @module
 */

import { KernelLog } from "../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../lib/machine/physmem.ts";
import { RadixTree } from "../lib/kho/trackers/radix.ts";
import { trackerFormat } from "../lib/kho/trackers/registry.ts";
import { PagePool } from "../lib/design/page_pool.ts";

const PAGES = 1 << 20;
const SPAN_PAGES = 1 << 22;
const TWO32 = 2 ** 32;

const PFNS = new Uint32Array(PAGES);
for (let i = 0; i < PAGES; i++) PFNS[i] = Math.imul(i, 0x9e3779b1) & (SPAN_PAGES - 1);

function freshTree(): { mem: PhysicalMemory; tree: RadixTree } {
  const mem = new PhysicalMemory(2 * SPAN_PAGES * 4096);
  const pool = new PagePool({
    mem,
    basePhys: SPAN_PAGES * 4096,
    pages: 4096,
    initOnFree: false,
  });
  return { mem, tree: RadixTree.create({ mem, alloc: pool, log: new KernelLog() }) };
}

function preserveAll(tree: RadixTree): void {
  for (let i = 0; i < PAGES; i++) tree.add(PFNS[i], 0);
}

/**
 * Σ (phys XOR order) mod 2^64 in two 32-bit halves. One callback function for the whole
 * run, so the walk's call site stays monomorphic (as the C reference's inlined sum is);
 * a typed array keeps the accumulators unboxed.
 */
const ACC = new Float64Array(2);
function checksumCb(phys: number, order: number): number {
  ACC[0] += ((phys >>> 0) ^ order) >>> 0;
  ACC[1] += Math.floor(phys / 4294967296); // a literal: V8 turns it into a multiply
  if (ACC[0] >= 2 ** 52) carry();
  return 0;
}
function carry(): void {
  const c = Math.floor(ACC[0] / TWO32);
  ACC[0] -= c * TWO32;
  ACC[1] = (ACC[1] + c) % TWO32;
}
function resetChecksum(): void {
  // -0, not 0: V8 would otherwise record small-integer feedback for the sums on the first
  // walk and keep slower int32-speculating code (measured: 2x slower walks).
  ACC[0] = -0;
  ACC[1] = -0;
}
function checksumHex(): string {
  carry();
  return "0x" + (ACC[1] % TWO32).toString(16).padStart(8, "0") +
    ACC[0].toString(16).padStart(8, "0");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The same checksum over a batch (a leaf's blocks): the loop keeps the sums in registers. */
function checksumBatch(phys: Float64Array, n: number, order: number): number {
  let lo = ACC[0], hi = ACC[1];
  for (let i = 0; i < n; i++) {
    const p = phys[i];
    lo += ((p >>> 0) ^ order) >>> 0;
    hi += Math.floor(p / 4294967296);
  }
  ACC[0] = lo; // n ≤ 32768 terms below 2^32 each: lo stays below 2^53 before the carry
  ACC[1] = hi;
  if (lo >= 2 ** 52) carry();
  return 0;
}

/** Median figures over `reps` timed runs after `warmup` untimed ones (JIT warm-up). */
function summary(reps = 7, warmup = 3) {
  const preserve: number[] = [];
  const walk: number[] = [];
  const walkBatch: number[] = [];
  let checksum = "";
  let trackerPages = 0;
  let walked = 0;
  for (let r = 0; r < warmup + reps; r++) {
    const { mem, tree } = freshTree();
    const t0 = performance.now();
    preserveAll(tree);
    const t1 = performance.now();
    resetChecksum();
    const incoming = trackerFormat("radix").incoming(mem, tree.handoverRoot());
    const t2 = performance.now();
    incoming.walk(checksumCb);
    const t3 = performance.now();
    walked = incoming.counters.callbacks;
    const sum = checksumHex();
    resetChecksum();
    const t4 = performance.now();
    incoming.walkBatched!(checksumBatch);
    const t5 = performance.now();
    if (checksumHex() !== sum) throw new Error("batched walk checksum differs");
    if (r < warmup) continue;
    preserve.push((t1 - t0) * 1e6 / PAGES);
    walk.push((t3 - t2) * 1e6 / PAGES);
    walkBatch.push((t5 - t4) * 1e6 / PAGES);
    checksum = sum;
    trackerPages = tree.metadataPages();
  }
  return {
    workload: "radix",
    pages: PAGES,
    span_pages: SPAN_PAGES,
    preserve_ns_per_item: +median(preserve).toFixed(2),
    walk_ns_per_item: +median(walk).toFixed(2),
    /** The same checksum through the batched walk (a leaf per callback). */
    walk_batched_ns_per_item: +median(walkBatch).toFixed(2),
    tracker_pages: trackerPages,
    walked,
    checksum,
  };
}

const ours = summary();
console.log(JSON.stringify({ engine: "kholab", ...ours }));
const refPath = Deno.env.get("KHO_REF");
if (refPath) {
  const out = new Deno.Command(refPath, { args: ["radix", String(PAGES), String(SPAN_PAGES)] })
    .outputSync();
  const ref = JSON.parse(new TextDecoder().decode(out.stdout));
  console.log(JSON.stringify({ engine: "kho_ref", ...ref }));
  console.log(JSON.stringify({
    preserve_ratio: +(ours.preserve_ns_per_item / ref.preserve_ns_per_item).toFixed(2),
    walk_ratio: +(ours.walk_ns_per_item / ref.walk_ns_per_item).toFixed(2),
    walk_batched_ratio: +(ours.walk_batched_ns_per_item / ref.walk_ns_per_item).toFixed(2),
    checksums_match: ours.checksum === ref.checksum,
  }));
}

if (!import.meta.main) {
  Deno.bench("radix add: 1 Mi random order-0 pages in 16 GiB", { group: "radix" }, (b) => {
    const { tree } = freshTree();
    b.start();
    preserveAll(tree);
    b.end();
  });

  const prepared = freshTree();
  preserveAll(prepared.tree);
  const root = prepared.tree.handoverRoot();

  Deno.bench("radix incoming walk: 1 Mi pages, checksum", { group: "radix" }, () => {
    resetChecksum();
    trackerFormat("radix").incoming(prepared.mem, root).walk(checksumCb);
    if (checksumHex() !== ours.checksum) throw new Error("checksum changed");
  });

  Deno.bench("radix incoming batched walk: 1 Mi pages, checksum", { group: "radix" }, () => {
    resetChecksum();
    trackerFormat("radix").incoming(prepared.mem, root).walkBatched!(checksumBatch);
    if (checksumHex() !== ours.checksum) throw new Error("checksum changed");
  });

  Deno.bench("radix outgoing walk: 1 Mi pages, checksum", { group: "radix" }, () => {
    resetChecksum();
    prepared.tree.walk(checksumCb);
  });
}
