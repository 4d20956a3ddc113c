/**
 * xarray + bitmap tracker benchmark on the bench-ref workload
 * (`/work/shared/bench-ref/kho_ref.c`, mode `xarray`): 4 Mi dense order-0 pages
 * `pfn_i = (i * 0x9E3779B1) mod 2^22` in a 16 GiB span, preserved into a fresh tracker with
 * 512-byte (6.16) or 4 KiB (6.18+) bitmaps, serialized into `khoser_mem_chunk` pages, then
 * walked chunk by chunk by the incoming reader (from bytes, with validation) folding
 * `checksum = Σ (phys XOR order) mod 2^64`.
 *
 *     deno bench --allow-read --allow-run --allow-env bench/xarray_bench.ts
 *     deno run --allow-env --allow-run bench/xarray_bench.ts        # summary lines only
 *
 * Module load prints one JSON summary line per bitmap size (median of 7 runs after 3
 * warm-up runs), comparable with `kho_ref xarray 4194304 4194304 512|4096`; with
 * `KHO_REF=/path/to/kho_ref` set, the reference is run too and the ratios are printed.
 *
 * @module
 */

import { KernelLog } from "../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../lib/machine/physmem.ts";
import { serialize, type XarrayBitmapBytes } from "../lib/kho/trackers/khoser.ts";
import { XarrayTracker } from "../lib/kho/trackers/xarray.ts";
import { PagePool } from "../lib/design/page_pool.ts";
import { trackerFormat } from "../lib/kho/trackers/registry.ts";

/** The successor's reader of a serialized list (the format table's xarray kinds). */
function xarrayReader(bitmapBytes: 512 | 4096, mem: PhysicalMemory, first: number) {
  return trackerFormat(bitmapBytes === 512 ? "xarray-512" : "xarray-4k").incoming(mem, first);
}

const PAGES = 1 << 22;
const SPAN_PAGES = 1 << 22;
const TWO32 = 2 ** 32;

const PFNS = new Uint32Array(PAGES);
for (let i = 0; i < PAGES; i++) PFNS[i] = Math.imul(i, 0x9e3779b1) & (SPAN_PAGES - 1);

function fresh(bitmapBytes: XarrayBitmapBytes) {
  const mem = new PhysicalMemory(2 * SPAN_PAGES * 4096);
  const pool = new PagePool({
    mem,
    basePhys: SPAN_PAGES * 4096,
    pages: 4096,
    initOnFree: false,
  });
  const tracker = new XarrayTracker({ mem, alloc: pool, log: new KernelLog(), bitmapBytes });
  return { mem, pool, tracker };
}

function preserveAll(tracker: XarrayTracker): void {
  for (let i = 0; i < PAGES; i++) tracker.add(PFNS[i], 0);
}

/** Σ (phys XOR order) mod 2^64 in two 32-bit halves (see radix_bench.ts). */
const ACC = new Float64Array(2);
function checksumCb(phys: number, order: number): number {
  ACC[0] += ((phys >>> 0) ^ order) >>> 0;
  ACC[1] += Math.floor(phys / 4294967296);
  if (ACC[0] >= 2 ** 52) carry();
  return 0;
}
function checksumBatch(phys: Float64Array, n: number, order: number): number {
  let lo = ACC[0], hi = ACC[1];
  for (let i = 0; i < n; i++) {
    const p = phys[i];
    lo += ((p >>> 0) ^ order) >>> 0;
    hi += Math.floor(p / 4294967296);
  }
  ACC[0] = lo;
  ACC[1] = hi;
  if (lo >= 2 ** 52) carry();
  return 0;
}
function carry(): void {
  const c = Math.floor(ACC[0] / TWO32);
  ACC[0] -= c * TWO32;
  ACC[1] = (ACC[1] + c) % TWO32;
}
function resetChecksum(): void {
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

/** Median figures over `reps` timed runs after `warmup` untimed ones. */
function summary(bitmapBytes: XarrayBitmapBytes, reps = 7, warmup = 3) {
  const preserve: number[] = [];
  const ser: number[] = [];
  const walk: number[] = [];
  const walkBatch: number[] = [];
  let checksum = "";
  let bitmaps = 0;
  let chunkPages = 0;
  let walked = 0;
  for (let r = 0; r < warmup + reps; r++) {
    const { mem, pool, tracker } = fresh(bitmapBytes);
    const t0 = performance.now();
    preserveAll(tracker);
    const t1 = performance.now();
    const first = serialize(tracker, pool, { era: bitmapBytes === 512 ? "6.16" : "6.18" });
    const t2 = performance.now();
    resetChecksum();
    const incoming = xarrayReader(bitmapBytes, mem, first);
    incoming.walk(checksumCb);
    const t3 = performance.now();
    walked = incoming.counters.callbacks;
    const sum = checksumHex();
    resetChecksum();
    const t4 = performance.now();
    xarrayReader(bitmapBytes, mem, first)
      .walkBatched!(checksumBatch);
    const t5 = performance.now();
    if (checksumHex() !== sum) throw new Error("batched walk checksum differs");
    if (r < warmup) continue;
    preserve.push((t1 - t0) * 1e6 / PAGES);
    ser.push((t2 - t1) * 1e6);
    walk.push((t3 - t2) * 1e6 / PAGES);
    walkBatch.push((t5 - t4) * 1e6 / PAGES);
    checksum = sum;
    bitmaps = tracker.bitmapCount();
    chunkPages = tracker.serializedPagesPhys().length;
  }
  return {
    workload: "xarray",
    pages: PAGES,
    span_pages: SPAN_PAGES,
    bitmap_bytes: bitmapBytes,
    preserve_ns_per_item: +median(preserve).toFixed(2),
    serialize_ns_total: Math.round(median(ser)),
    walk_ns_per_item: +median(walk).toFixed(2),
    /** The same checksum through the batched walk (a bitmap per callback). */
    walk_batched_ns_per_item: +median(walkBatch).toFixed(2),
    bitmaps,
    bitmap_bytes_total: bitmaps * bitmapBytes,
    chunk_pages: chunkPages,
    walked,
    checksum,
  };
}

for (const bytes of [512, 4096] as const) {
  const ours = summary(bytes);
  console.log(JSON.stringify({ engine: "kholab", ...ours }));
  const refPath = Deno.env.get("KHO_REF");
  if (refPath) {
    const out = new Deno.Command(refPath, {
      args: ["xarray", String(PAGES), String(SPAN_PAGES), String(bytes)],
    }).outputSync();
    const ref = JSON.parse(new TextDecoder().decode(out.stdout));
    console.log(JSON.stringify({ engine: "kho_ref", ...ref }));
    const refSerWalk = ref.serialize_ns_total + ref.walk_ns_per_item * PAGES;
    console.log(JSON.stringify({
      bitmap_bytes: bytes,
      preserve_ratio: +(ours.preserve_ns_per_item / ref.preserve_ns_per_item).toFixed(2),
      serialize_walk_ratio: +(
        (ours.serialize_ns_total + ours.walk_ns_per_item * PAGES) / refSerWalk
      ).toFixed(2),
      serialize_walk_batched_ratio: +(
        (ours.serialize_ns_total + ours.walk_batched_ns_per_item * PAGES) / refSerWalk
      ).toFixed(2),
      checksums_match: ours.checksum === ref.checksum,
      bitmaps_match: ours.bitmaps === ref.bitmaps && ours.chunk_pages === ref.chunk_pages,
    }));
  }
}

if (!import.meta.main) {
  for (const bytes of [512, 4096] as const) {
    const group = `xarray-${bytes}`;
    Deno.bench(`xarray add (${bytes} B bitmaps): 4 Mi dense order-0 pages`, { group }, (b) => {
      const { tracker } = fresh(bytes);
      b.start();
      preserveAll(tracker);
      b.end();
    });

    const prepared = fresh(bytes);
    preserveAll(prepared.tracker);

    Deno.bench(`xarray serialize (${bytes} B bitmaps)`, { group }, (b) => {
      b.start();
      serialize(prepared.tracker, prepared.pool, { era: "6.19" });
      b.end();
    });

    // a separate list for the walks: the serialize bench keeps replacing its own
    const walked = fresh(bytes);
    preserveAll(walked.tracker);
    const first = serialize(walked.tracker, walked.pool, { era: "6.18" });
    Deno.bench(`xarray incoming walk (${bytes} B bitmaps): checksum`, { group }, () => {
      resetChecksum();
      xarrayReader(bytes, walked.mem, first)
        .walk(checksumCb);
      if (checksumHex() !== "0x007ffffe00000000") throw new Error("checksum changed");
    });

    Deno.bench(`xarray incoming batched walk (${bytes} B bitmaps): checksum`, { group }, () => {
      resetChecksum();
      xarrayReader(bytes, walked.mem, first)
        .walkBatched!(checksumBatch);
      if (checksumHex() !== "0x007ffffe00000000") throw new Error("checksum changed");
    });
  }
}
