/**
 * Timing statistics: a wall-clock figure is never one sample. Each timed region is replayed
 * `n` times after warm-up, one sweep point at a time (`./replay.ts`), and reported as
 * `{ n, median, min, max }` in milliseconds.
 *
 * In a row ({@link timingColumns}) a timing `NAME` is flat, so that rows stay CSV columns:
 * `NAME` (the median, the column older readers know), `NAME.n`, `NAME.median`, `NAME.min`,
 * `NAME.max`. JSON nests the same figures as `timings: { NAME: { n, median, min, max } }`
 * (`lib/scenario/export.ts`); {@link rowTimings} reads them back from a flat row.
 *
 * @module
 */

/** The statistics of one timed region: `n` samples (ms), their median, minimum and maximum. */
export interface TimingStats {
  /** Samples (isolated repeats after warm-up). */
  readonly n: number;
  /** Median (the mean of the two middle samples when `n` is even), ms. */
  readonly median: number;
  /** Fastest sample, ms. */
  readonly min: number;
  /** Slowest sample, ms. */
  readonly max: number;
}

/** Timings by region name (`walkMs`, `preserveMs`, …). */
export type Timings = Record<string, TimingStats>;

/** The statistics a row carries per timing, in column order. */
export const TIMING_STATS: readonly (keyof TimingStats)[] = ["n", "median", "min", "max"];

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The statistics of `samples` (milliseconds, rounded to 0.001). Throws RangeError on no
 * samples or a sample that is not a finite number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timingStats } from "./timing.ts";
 * assert.deepEqual(timingStats([5, 1, 3]), { n: 3, median: 3, min: 1, max: 5 });
 * assert.deepEqual(timingStats([4, 1, 3, 2]), { n: 4, median: 2.5, min: 1, max: 4 });
 * ```
 */
export function timingStats(samples: readonly number[]): TimingStats {
  if (samples.length === 0) throw new RangeError("timingStats: no samples");
  if (samples.some((s) => !Number.isFinite(s))) {
    throw new RangeError(`timingStats: a sample is not a finite number (${samples.join(", ")})`);
  }
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, median: round3(median), min: round3(s[0]), max: round3(s.at(-1)!) };
}

/** The row key of one statistic of a timing: `walkMs.median`. */
export function timingStatKey(name: string, stat: keyof TimingStats): string {
  return `${name}.${stat}`;
}

/** `{ name, stat }` of a key made by {@link timingStatKey}, or null for any other key. */
export function parseTimingStatKey(
  key: string,
): { name: string; stat: keyof TimingStats } | null {
  const m = /^([A-Za-z][A-Za-z0-9]*)\.(n|median|min|max)$/.exec(key);
  return m ? { name: m[1], stat: m[2] as keyof TimingStats } : null;
}

/**
 * The flat row columns of `timings`: per timing its median under its own name, then
 * `NAME.n`, `NAME.median`, `NAME.min`, `NAME.max`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowTimings, timingColumns, timingStats } from "./timing.ts";
 * const cols = timingColumns({ walkMs: timingStats([2, 1, 9]) });
 * assert.deepEqual(cols, {
 *   walkMs: 2, "walkMs.n": 3, "walkMs.median": 2, "walkMs.min": 1, "walkMs.max": 9,
 * });
 * assert.deepEqual(rowTimings({ profile: "kho-v4", ...cols }), {
 *   walkMs: { n: 3, median: 2, min: 1, max: 9 },
 * });
 * ```
 */
export function timingColumns(timings: Timings): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, t] of Object.entries(timings)) {
    out[name] = t.median;
    for (const stat of TIMING_STATS) out[timingStatKey(name, stat)] = t[stat];
  }
  return out;
}

/**
 * The timings of a flat row: every `NAME` with all four statistics present as numbers (in
 * first-seen order).
 */
export function rowTimings(row: Readonly<Record<string, number | string>>): Timings {
  const names: string[] = [];
  for (const k of Object.keys(row)) {
    const p = parseTimingStatKey(k);
    if (p && !names.includes(p.name)) names.push(p.name);
  }
  const out: Record<string, TimingStats> = {};
  for (const name of names) {
    const v = TIMING_STATS.map((s) => row[timingStatKey(name, s)]);
    if (v.every((x) => typeof x === "number")) {
      const [n, median, min, max] = v as number[];
      out[name] = { n, median, min, max };
    }
  }
  return out;
}

/**
 * A timing as text: `median (min–max)`, with `digits` decimals (default: 1 from 10 ms up, 2
 * from 1 ms, 3 below); `n` is left to the caption or header that names it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTiming } from "./timing.ts";
 * assert.equal(formatTiming({ n: 5, median: 12.34, min: 11, max: 14.06 }), "12.3 (11.0–14.1)");
 * assert.equal(formatTiming({ n: 5, median: 0.034, min: 0.03, max: 0.05 }), "0.034 (0.030–0.050)");
 * ```
 */
export function formatTiming(t: TimingStats, digits?: number): string {
  const d = digits ?? (t.max >= 10 ? 1 : t.max >= 1 ? 2 : 3);
  return `${t.median.toFixed(d)} (${t.min.toFixed(d)}–${t.max.toFixed(d)})`;
}
