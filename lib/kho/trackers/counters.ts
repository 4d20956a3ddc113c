/**
 * Deterministic cost counters of a KHO preserved-memory tracker: what the kernel would do,
 * counted rather than timed, so figures are comparable across machines and runs.
 *
 * One cost model for every encoding (the kernel's, the proposals' and user designs'; the full
 * text, with each encoding's levels, is the "Cost model" of `docs/metrics.md`, rendered from
 * `lib/metrics/metrics.ts`):
 * - a *table entry visited* is one pointer slot the kernel reads on its way (a u64 entry of a
 *   table page, a slot of an XArray node, a chunk element); a *followed* entry is a non-zero
 *   one whose child the kernel then dereferences;
 * - a *bitmap word scanned* is one u64 word of a bitmap read while searching for set bits
 *   (setting or clearing a single bit is not a scan);
 * - *cache lines read* counts the distinct 64-byte lines of tracker metadata an operation
 *   reads, whatever holds them (table pages, leaves and bitmaps, XArray nodes, the per-order
 *   `kho_mem_phys`, chunk pages): a table lookup reads the one line holding the entry,
 *   scanning a whole 4 KiB table or leaf reads 64; setting or clearing a bit reads its line.
 *   An operation is charged the lines of its whole path, nodes it has just created included.
 *   The tracker's anchor in the kernel's static data (the radix root pointer, `kho_out`'s
 *   `orders` XArray head, an FDT property) is not charged;
 * - *cache lines written* counts the lines an operation stores to: the line of each bit set
 *   or cleared, one per pointer stored (a new node linked, an entry added), and the lines a
 *   serialization fills; a page's zeroing by its allocator is not charged;
 * - *pages touched* counts the distinct metadata pages an operation reads or writes; an
 *   object smaller than a page (an XArray node, a slab bitmap) counts as the page holding it;
 * - *nodes allocated* counts index objects smaller than a page that the tracker allocates
 *   from slab (XArray nodes, `kho_mem_phys`); whole pages are *pages allocated*.
 *
 * @module
 */

/** Size of a CPU cache line in bytes (x86_64). */
export const CACHE_LINE_SIZE = 64;

/** Plain values of {@link TrackerCounters}, for snapshots and differences. */
export interface TrackerCounterValues {
  /** Metadata pages obtained from the allocator. */
  readonly pagesAllocated: number;
  /** Metadata pages returned to the allocator. */
  readonly pagesFreed: number;
  /** Metadata page allocations that failed (ENOMEM). */
  readonly allocFailures: number;
  /** Table entries read. */
  readonly entriesVisited: number;
  /** Non-zero table entries followed to a child. */
  readonly entriesFollowed: number;
  /** u64 bitmap words read while scanning for set bits. */
  readonly bitmapWordsScanned: number;
  /** Distinct 64-byte cache lines read, summed over operations. */
  readonly cacheLinesRead: number;
  /** Distinct metadata pages touched, summed over operations. */
  readonly pagesTouched: number;
  /** Walk callbacks made. */
  readonly callbacks: number;
  /** Index objects smaller than a page allocated from slab (XArray nodes, `kho_mem_phys`). */
  readonly nodesAllocated: number;
  /** 64-byte lines stored to: bits set or cleared, pointers stored, serialized lines filled. */
  readonly cacheLinesWritten: number;
}

/** Names of the counters, in a stable order (for tables and CSV headers). */
export const TRACKER_COUNTER_NAMES: readonly (keyof TrackerCounterValues)[] = [
  "pagesAllocated",
  "pagesFreed",
  "allocFailures",
  "entriesVisited",
  "entriesFollowed",
  "bitmapWordsScanned",
  "cacheLinesRead",
  "pagesTouched",
  "callbacks",
  "nodesAllocated",
  "cacheLinesWritten",
];

/**
 * Mutable cost counters owned by one tracker. Trackers bump the fields directly in their
 * hot paths; readers take {@link snapshot}s and {@link since} differences.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TrackerCounters } from "./counters.ts";
 * const c = new TrackerCounters();
 * const before = c.snapshot();
 * c.cacheLinesRead += 64;
 * c.bitmapWordsScanned += 512;
 * assert.equal(c.since(before).cacheLinesRead, 64);
 * assert.equal(c.since(before).bitmapWordsScanned, 512);
 * ```
 */
export class TrackerCounters implements TrackerCounterValues {
  /** Metadata pages obtained from the allocator. */
  pagesAllocated = 0;
  /** Metadata pages returned to the allocator. */
  pagesFreed = 0;
  /** Metadata page allocations that failed (ENOMEM). */
  allocFailures = 0;
  /** Table entries read. */
  entriesVisited = 0;
  /** Non-zero table entries followed to a child. */
  entriesFollowed = 0;
  /** u64 bitmap words read while scanning for set bits. */
  bitmapWordsScanned = 0;
  /** Distinct 64-byte cache lines read, summed over operations. */
  cacheLinesRead = 0;
  /** Distinct metadata pages touched, summed over operations. */
  pagesTouched = 0;
  /** Walk callbacks made. */
  callbacks = 0;
  /** Index objects smaller than a page allocated from slab (XArray nodes, `kho_mem_phys`). */
  nodesAllocated = 0;
  /** 64-byte lines stored to: bits set or cleared, pointers stored, serialized lines filled. */
  cacheLinesWritten = 0;

  /** Sets every counter to zero. */
  reset(): void {
    for (const k of TRACKER_COUNTER_NAMES) this[k] = 0;
  }

  /** A frozen copy of the current values. */
  snapshot(): TrackerCounterValues {
    const out: Record<string, number> = {};
    for (const k of TRACKER_COUNTER_NAMES) out[k] = this[k];
    return Object.freeze(out as unknown as TrackerCounterValues);
  }

  /** Current values minus an earlier {@link snapshot}. */
  since(before: TrackerCounterValues): TrackerCounterValues {
    const out: Record<string, number> = {};
    for (const k of TRACKER_COUNTER_NAMES) out[k] = this[k] - before[k];
    return Object.freeze(out as unknown as TrackerCounterValues);
  }

  /** Adds another set of values to these counters (e.g. to aggregate several walks). */
  add(other: TrackerCounterValues): void {
    for (const k of TRACKER_COUNTER_NAMES) this[k] += other[k];
  }
}

/** The raw counters and settle functions behind every counters object that has them. */
const SETTLED = new WeakMap<TrackerCounters, { raw: TrackerCounters; settlers: (() => void)[] }>();

/**
 * Lets a tracker keep charges of its hot path to itself and settle them on the next access:
 * from then on every read or write of a counter of `counters` first calls `settle` (and any
 * settle function installed on `counters` before). A reader therefore sees the counters as if
 * every charge had been made at once, whether it reads a field, takes a snapshot, resets or
 * restores them. Returns the raw counters behind `counters` (the same for every call on it):
 * `settle` and the tracker's other charges add to those directly, without the settling.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { settleOnAccess, TrackerCounters } from "./counters.ts";
 * const c = new TrackerCounters();
 * let pendingLines = 0;
 * const raw = settleOnAccess(c, () => {
 *   raw.cacheLinesRead += pendingLines;
 *   pendingLines = 0;
 * });
 * const before = c.snapshot();
 * pendingLines += 3; // a hot path's charge, not yet counted
 * raw.pagesTouched++; // a charge made directly
 * assert.equal(c.cacheLinesRead, 3);
 * assert.equal(c.since(before).pagesTouched, 1);
 * pendingLines += 2;
 * c.reset(); // settles, then clears
 * assert.equal(c.cacheLinesRead, 0);
 * ```
 */
export function settleOnAccess(counters: TrackerCounters, settle: () => void): TrackerCounters {
  let entry = SETTLED.get(counters);
  if (entry === undefined) {
    const raw = new TrackerCounters();
    const settlers: (() => void)[] = [];
    for (const name of TRACKER_COUNTER_NAMES) {
      raw[name] = counters[name];
      Object.defineProperty(counters, name, {
        enumerable: true,
        get() {
          for (let i = 0; i < settlers.length; i++) settlers[i]();
          return raw[name];
        },
        set(v: number) {
          for (let i = 0; i < settlers.length; i++) settlers[i]();
          raw[name] = v;
        },
      });
    }
    entry = { raw, settlers };
    SETTLED.set(counters, entry);
  }
  entry.settlers.push(settle);
  return entry.raw;
}

/**
 * Number of distinct cache lines covered by the byte range `[offset, offset + len)` (offset
 * relative to a line-aligned base, e.g. a page). Zero for an empty range.
 */
export function cacheLinesSpanned(offset: number, len: number): number {
  if (len <= 0) return 0;
  return Math.floor((offset + len - 1) / CACHE_LINE_SIZE) - Math.floor(offset / CACHE_LINE_SIZE) +
    1;
}
