/**
 * Seeded placement of preserved pages: distinct random offsets (uniform), dense clusters at
 * random places (clustered), and picking and allocating individual free pages anywhere in RAM;
 * with, for each, the size of the domain it draws from (for the information floor).
 *
 * @module
 */

import { allocContigRange, freeContigRange } from "../kernel/gigantic.ts";
import type { Kernel } from "../boot/kernel.ts";
import type { Rng } from "../rng.ts";
import { PAGE_SIZE } from "../units.ts";

/**
 * `k` distinct offsets in `[0, n)`, ascending, drawn uniformly (a bitmap for n ≤ 2^27,
 * otherwise a set; the complement is drawn when k > n / 2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "../rng.ts";
 * import { sampleDistinct } from "./placement.ts";
 * const s = sampleDistinct(new Rng(1), 100, 10);
 * assert.equal(s.length, 10);
 * assert.ok(s.every((x, i) => x < 100 && (i === 0 || x > s[i - 1]))); // distinct, sorted
 * ```
 */
export function sampleDistinct(rng: Rng, n: number, k: number): Float64Array {
  k = Math.max(0, Math.min(Math.floor(k), n));
  if (k === n) return Float64Array.from({ length: n }, (_, i) => i);
  const complement = k > n / 2;
  const draw = complement ? n - k : k;
  if (n <= 2 ** 27) {
    const bits = new Uint8Array(n);
    let got = 0;
    while (got < draw) {
      const x = rng.int(n);
      if (!bits[x]) {
        bits[x] = 1;
        got++;
      }
    }
    const out = new Float64Array(k);
    let j = 0;
    const want = complement ? 0 : 1;
    for (let i = 0; i < n && j < k; i++) if (bits[i] === want) out[j++] = i;
    return out;
  }
  if (complement) throw new RangeError(`sampleDistinct: ${k} of ${n} is too dense`);
  const set = new Set<number>();
  while (set.size < k) set.add(rng.int(n));
  return Float64Array.from(set).sort();
}

/**
 * What {@link sampleClustered} draws: `chosen` of `places` units of `unitPages` offsets,
 * every choice equally likely (single offsets when the clusters cannot hold `k`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clusteredDraw } from "./placement.ts";
 * assert.deepEqual(clusteredDraw(4096, 1000, 64), { unitPages: 64, places: 64, chosen: 16 });
 * assert.deepEqual(clusteredDraw(100, 99, 64), { unitPages: 1, places: 100, chosen: 99 });
 * ```
 */
export function clusteredDraw(
  n: number,
  k: number,
  clusterPages: number,
): { unitPages: number; places: number; chosen: number } {
  k = Math.max(0, Math.min(Math.floor(k), n));
  const c = Math.max(1, Math.floor(clusterPages));
  const slots = Math.floor(n / c);
  const need = Math.ceil(k / c);
  return need > slots
    ? { unitPages: 1, places: n, chosen: k }
    : { unitPages: c, places: slots, chosen: need };
}

/**
 * `k` offsets in `[0, n)` packed into fully used clusters of `clusterPages` consecutive
 * offsets at distinct random cluster positions, ascending (the last cluster holds the rest
 * of `k` from its start); single offsets ({@link sampleDistinct}) when the clusters cannot
 * hold `k` ({@link clusteredDraw} says which).
 */
export function sampleClustered(
  rng: Rng,
  n: number,
  k: number,
  clusterPages: number,
): Float64Array {
  k = Math.max(0, Math.min(Math.floor(k), n));
  const draw = clusteredDraw(n, k, clusterPages);
  if (draw.unitPages === 1) return sampleDistinct(rng, n, k);
  const c = draw.unitPages;
  const picks = sampleDistinct(rng, draw.places, draw.chosen);
  const out = new Float64Array(k);
  let j = 0;
  for (let s = 0; s < picks.length && j < k; s++) {
    for (let i = 0; i < c && j < k; i++) out[j++] = picks[s] * c + i;
  }
  return out;
}

/** Whether `[phys, phys + size)` overlaps one of the kernel's scratch areas. */
export function inScratch(kernel: Kernel, phys: number, size: number): boolean {
  return kernel.boot.scratch.some((a) =>
    a.size > 0 && phys < a.addr + a.size && a.addr < phys + size
  );
}

/**
 * The pages {@link allocRandomPages} can pick in `[startPfn, endPfn)`: free in the buddy
 * allocator and outside scratch. Its draw is a uniformly random subset of these (every
 * candidate is tried in a random order), so their number is the domain of the draw.
 */
export function randomPageCandidates(
  kernel: Kernel,
  range: { startPfn: number; endPfn: number },
): number {
  const scratch = kernel.boot.scratch.filter((a) => a.size > 0).map((a) => ({
    start: Math.floor(a.addr / PAGE_SIZE),
    end: Math.ceil((a.addr + a.size) / PAGE_SIZE),
  }));
  let n = 0;
  for (const b of kernel.buddy.freeBlocks()) {
    const lo = Math.max(b.pfn, range.startPfn);
    const hi = Math.min(b.pfn + 2 ** b.order, range.endPfn);
    if (hi <= lo) continue;
    n += hi - lo;
    for (const s of scratch) n -= Math.max(0, Math.min(hi, s.end) - Math.max(lo, s.start));
  }
  return n;
}

/**
 * Allocates up to `k` single free pages chosen at random in `[startPfn, endPfn)` (outside
 * scratch), each with `alloc_contig_range` of one page; candidates that are not free are
 * skipped and others drawn, up to `8k + 1024` distinct candidates. Returns the pfns,
 * ascending (fewer than `k` when free memory is short).
 */
export function allocRandomPages(
  kernel: Kernel,
  rng: Rng,
  range: { startPfn: number; endPfn: number },
  k: number,
): Float64Array {
  const n = range.endPfn - range.startPfn;
  const topo = kernel.machine.topology;
  const out: number[] = [];
  const tried = new Set<number>();
  const maxTries = Math.min(n, 8 * k + 1024);
  try {
    while (out.length < k && tried.size < maxTries) {
      const off = rng.int(n);
      if (tried.has(off)) continue;
      tried.add(off);
      const pfn = range.startPfn + off;
      const phys = pfn * PAGE_SIZE;
      if (!topo.isRam(phys, PAGE_SIZE) || inScratch(kernel, phys, PAGE_SIZE)) continue;
      if (!kernel.buddy.isFree(pfn)) continue;
      if (allocContigRange(kernel.buddy, pfn, pfn + 1)) {
        try {
          out.push(pfn);
        } catch (e) {
          freeContigRange(kernel.buddy, pfn, pfn + 1);
          throw e;
        }
      }
    }
    return Float64Array.from(out).sort();
  } catch (e) {
    // An exception of the host part-way: the pages taken so far go back.
    for (const pfn of out) freeContigRange(kernel.buddy, pfn, pfn + 1);
    throw e;
  }
}
