/**
 * The information-theoretic floor of a preserved-memory encoding: to tell the successor which
 * N of the M naturally aligned order-`o` places in RAM are preserved, any encoding needs at
 * least log2 C(M, N) bits; summed over orders this is the floor every tracker is compared to.
 *
 * @module
 */

import type { RamRange } from "../machine/topology.ts";
import { PAGE_SIZE } from "../units.ts";

/** Below this many terms log2 C(m, n) is summed term by term (exact to rounding). */
const EXACT_TERMS = 1 << 20;

/**
 * log Γ(x) for x ≥ 1 (natural log): Stirling's series after shifting x above 16, accurate
 * to ~1e-14 relative.
 */
export function lnGamma(x: number): number {
  if (!(x >= 1)) throw new RangeError(`lnGamma(${x}): x must be ≥ 1`);
  let shift = 0;
  while (x < 16) {
    shift += Math.log(x);
    x += 1;
  }
  const x2 = x * x;
  const series = 1 / (12 * x) - 1 / (360 * x * x2) + 1 / (1260 * x2 * x2 * x) -
    1 / (1680 * x2 * x2 * x2 * x);
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

/**
 * log2 of the binomial coefficient C(m, n), for 0 ≤ n ≤ m < 2^53. Exact to floating-point
 * rounding (a sum of log2 terms) when min(n, m − n) ≤ 2^20, otherwise through
 * {@link lnGamma}. Throws RangeError when n > m.
 *
 * @example
 * ```ts
 * import { log2Binomial } from "./floor.ts";
 * console.assert(Math.abs(log2Binomial(4, 2) - Math.log2(6)) < 1e-12);
 * console.assert(log2Binomial(10, 0) === 0 && log2Binomial(10, 10) === 0);
 * ```
 */
export function log2Binomial(m: number, n: number): number {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || n < 0 || m < 0 || n > m) {
    throw new RangeError(`log2Binomial(${m}, ${n})`);
  }
  const k = Math.min(n, m - n);
  if (k === 0) return 0;
  if (k <= EXACT_TERMS) {
    // C(m, k) = Π_{i=1..k} (m − k + i) / i
    let s = 0;
    const base = m - k;
    for (let i = 1; i <= k; i++) s += Math.log2((base + i) / i);
    return s;
  }
  return (lnGamma(m + 1) - lnGamma(k + 1) - lnGamma(m - k + 1)) / Math.LN2;
}

/** Naturally aligned places of `2^order` pages lying entirely in RAM. */
export function alignedPlaces(ranges: readonly RamRange[], order: number): number {
  const blockBytes = PAGE_SIZE * 2 ** order;
  let total = 0;
  for (const r of ranges) {
    const first = Math.ceil(r.start / blockBytes);
    const last = Math.floor(r.end / blockBytes);
    if (last > first) total += last - first;
  }
  return total;
}

/** The floor of one preserved set. */
export interface FloorResult {
  /** Total floor in bits. */
  bits: number;
  /** Floor per order (bits), for the orders present. */
  bitsByOrder: Map<number, number>;
}

/**
 * The floor for `blocksByOrder` preserved blocks (order → count) on RAM `ranges`. A count
 * above the places of its order (impossible for a valid preserved set) is clamped.
 */
export function preservationFloor(
  ranges: readonly RamRange[],
  blocksByOrder: ReadonlyMap<number, number>,
): FloorResult {
  const bitsByOrder = new Map<number, number>();
  let bits = 0;
  for (const [order, n] of [...blocksByOrder].sort((a, b) => a[0] - b[0])) {
    if (n <= 0) continue;
    const m = alignedPlaces(ranges, order);
    const b = log2Binomial(m, Math.min(n, m));
    bitsByOrder.set(order, b);
    bits += b;
  }
  return { bits, bitsByOrder };
}
