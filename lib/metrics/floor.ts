/**
 * Information floors of a preserved-memory encoding: how many bits any encoding of the
 * preserved set must spend, by a counting argument, under a stated assumption.
 *
 * **The floor ({@link placementFloor}, metric `floorBytes`).** A scenario states, as data,
 * each {@link PlacementDomain} it drew blocks from at random: M places (units of one or more
 * naturally aligned blocks) of which it chose N, every N-subset as likely (the IOMMU pages
 * in the hypervisor pool; the pages of the `uniform` scenario among the free pages of RAM;
 * the pages of each node's window in `clustered`; clusters of pages in a clustered pool).
 * Conditioned on everything but the draw — the domain, N, the machine's state before the
 * draw — the successor has to learn which of the C(M, N) subsets was drawn. Let P be the
 * whole preserved set the encoding describes and X the other preserved blocks of the same
 * order inside the domain's range (KHO's own pages, the manifest): from P the drawn set is
 * known up to which X of the N + X blocks are not drawn, so
 * H(P) ≥ log2 C(M, N) − log2 C(N + X, X), and any encoding — worst case, or on average for
 * prefix-free codes — spends at least that; for a fixed encoding, the probability over the
 * draw that it spends t bits less is below 2^−t. Domains are disjoint and drawn
 * independently, so their bounds add. Blocks the scenario did not draw — placed by the
 * allocator (guest folios, vmalloc, DMA blocks, test_kho folios, KHO's own pages) or fixed
 * by its parameters (a dense band) — carry no information this argument can count and add
 * 0: an allocator that fills memory in order makes them predictable. A domain some of whose
 * drawn blocks failed to preserve is not counted either.
 *
 * **The uniform-over-RAM bound ({@link preservationFloor}, metric `floorUniformRamBytes`)**:
 * Σ over orders of log2 C(M, N) with M every naturally aligned place of the order in RAM. It
 * is the floor only for a set drawn uniformly over all RAM; a set drawn from a pool, or
 * clustered, or placed by the allocator can be (and is) encoded below it.
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
 * import assert from "node:assert/strict";
 * import { log2Binomial } from "./floor.ts";
 * assert.ok(Math.abs(log2Binomial(4, 2) - Math.log2(6)) < 1e-12);
 * assert.equal(log2Binomial(10, 0), 0);
 * assert.equal(log2Binomial(10, 10), 0);
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
 * The uniform-over-RAM bound for `blocksByOrder` preserved blocks (order → count) on RAM
 * `ranges`: the floor only if every block had been drawn uniformly among all aligned places
 * of its order in RAM (see the module doc). A count above the places of its order
 * (impossible for a valid preserved set) is clamped.
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

/**
 * Places from which a scenario drew blocks at random: `places` units of `unitPages` pages
 * each, `chosen` of them drawn, every choice equally likely. The scenario states it as data
 * next to what it preserves; {@link placementFloor} counts it.
 */
export interface PlacementDomain {
  /** The workload (manifest section) whose blocks were drawn: `iommu`, `uniform`, …. */
  readonly workload: string;
  /** Order of each drawn block as preserved. */
  readonly order: number;
  /** NUMA node the domain lies on, or -1 when it spans nodes. */
  readonly nid: number;
  /** First byte of the physical range holding every place of the domain. */
  readonly startBytes: number;
  /** End of that range (exclusive). */
  readonly endBytes: number;
  /** Pages per unit of the draw: 1 for single pages, the cluster size for clusters. */
  readonly unitPages: number;
  /** Units the draw chose among (M): places that were candidates when it drew. */
  readonly places: number;
  /** Units drawn (N). */
  readonly chosen: number;
  /** Blocks drawn (what the workload preserves from this domain). */
  readonly blocks: number;
  /** What the domain is, in words (`the hypervisor pool`, `free pages of node 0's window`). */
  readonly what: string;
}

/** What was preserved of one domain, measured at kexec time. */
export interface DomainObservation {
  /** The domain. */
  readonly domain: PlacementDomain;
  /** Drawn blocks that were preserved (fewer than `domain.blocks` when preserves failed). */
  readonly preserved: number;
  /** Other preserved blocks of the domain's order inside its range (X). */
  readonly others: number;
}

/** The floor of one domain: its bits and, when it counts 0, why. */
export interface DomainFloor {
  /** The observation it was computed from. */
  readonly observation: DomainObservation;
  /** log2 C(M, N) − log2 C(N + X, X), at least 0; 0 when not counted. */
  readonly bits: number;
  /** Why the domain counts 0 bits, or null when it counts. */
  readonly excluded: string | null;
}

/** {@link placementFloor}'s result. */
export interface PlacementFloorResult extends FloorResult {
  /** Per domain, in the order given. */
  domains: DomainFloor[];
  /** Drawn blocks the floor accounts for (of the counted domains). */
  blocks: number;
}

/**
 * The floor of the scenario's random placement (see the module doc): Σ over domains of
 * log2 C(M, N) − log2 C(N + X, X); a domain with a drawn block that was not preserved counts
 * 0, with the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { log2Binomial, placementFloor } from "./floor.ts";
 * const pool = { workload: "iommu", order: 0, nid: 0, startBytes: 0, endBytes: 2 ** 24,
 *   unitPages: 1, places: 4096, chosen: 1024, blocks: 1024, what: "a 16 MiB pool" };
 * const f = placementFloor([{ domain: pool, preserved: 1024, others: 0 }]);
 * assert.equal(f.bits, log2Binomial(4096, 1024));
 * const g = placementFloor([{ domain: pool, preserved: 1024, others: 2 }]);
 * assert.ok(Math.abs(g.bits - (f.bits - log2Binomial(1026, 2))) < 1e-6);
 * assert.equal(placementFloor([{ domain: pool, preserved: 1000, others: 0 }]).bits, 0);
 * ```
 */
export function placementFloor(observations: readonly DomainObservation[]): PlacementFloorResult {
  const bitsByOrder = new Map<number, number>();
  const domains: DomainFloor[] = [];
  let bits = 0, blocks = 0;
  for (const ob of observations) {
    const d = ob.domain;
    let excluded: string | null = null;
    let b = 0;
    if (ob.preserved < d.blocks) {
      excluded = `${d.blocks - ob.preserved} of its ${d.blocks} drawn blocks were not preserved`;
    } else if (d.chosen > d.places) {
      excluded = `${d.chosen} drawn of ${d.places} places: not a draw`;
    } else {
      b = Math.max(
        0,
        log2Binomial(d.places, d.chosen) - log2Binomial(d.blocks + ob.others, ob.others),
      );
      bits += b;
      blocks += d.blocks;
      bitsByOrder.set(d.order, (bitsByOrder.get(d.order) ?? 0) + b);
    }
    domains.push({ observation: ob, bits: b, excluded });
  }
  return { bits, bitsByOrder, domains, blocks };
}

/**
 * One domain's floor in words, for the `floorDomains` metric:
 * `iommu: 1048576 of 4194304 order-0 places of the hypervisor pool [0x…, 0x…) on node 0,
 * 3 other blocks there: 3406421.6 bits`.
 */
export function describeDomainFloor(f: DomainFloor): string {
  const { domain: d, others } = f.observation;
  const unit = d.unitPages === 1
    ? `order-${d.order} places`
    : `clusters of ${d.unitPages} order-${d.order} pages`;
  const node = d.nid >= 0 ? ` on node ${d.nid}` : "";
  const range = `[0x${d.startBytes.toString(16)}, 0x${d.endBytes.toString(16)})`;
  const rest = others > 0 ? `, ${others} other block${others === 1 ? "" : "s"} there` : "";
  const value = f.excluded === null
    ? `${Math.round(f.bits * 100) / 100} bits`
    : `not counted (${f.excluded})`;
  return `${d.workload}: ${d.chosen} of ${d.places} ${unit}, ${d.what} ${range}${node}${rest}: ${value}`;
}
