/**
 * Deterministic cost counters of a KHO preserved-memory tracker: what the kernel would do,
 * counted rather than timed, so figures are comparable across machines and runs.
 *
 * Conventions (shared by every tracker implementation):
 * - a *table entry visited* is one u64 slot of a metadata table that the kernel reads; a
 *   *followed* entry is a non-zero one whose child the kernel then dereferences;
 * - a *bitmap word scanned* is one u64 word of a bitmap read while searching for set bits
 *   (setting or clearing a single bit is not a scan);
 * - *cache lines read* counts the distinct 64-byte lines an operation reads: a table lookup
 *   reads the one line holding the entry, scanning a whole 4 KiB table or leaf reads 64;
 * - *pages touched* counts the distinct metadata pages an operation reads or writes.
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

/**
 * Number of distinct cache lines covered by the byte range `[offset, offset + len)` (offset
 * relative to a line-aligned base, e.g. a page). Zero for an empty range.
 */
export function cacheLinesSpanned(offset: number, len: number): number {
  if (len <= 0) return 0;
  return Math.floor((offset + len - 1) / CACHE_LINE_SIZE) - Math.floor(offset / CACHE_LINE_SIZE) +
    1;
}
