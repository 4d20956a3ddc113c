/**
 * Axis formats of the kholab figures: bytes with binary prefixes (KiB, MiB, GiB — never SI
 * `k`/`M`), counts written out (`10,000`, never `10k`), percentages with `%`, and tick values
 * chosen so that labels are round in those units (powers of two for bytes on a log axis,
 * powers of ten for counts).
 *
 * @module
 */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/**
 * The binary unit to draw bytes in on a linear axis: the largest whose value of `maxBytes`
 * is at least 1 (`B` for 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { byteUnit } from "./axes.ts";
 * assert.deepEqual(byteUnit(600 * 1024), { unit: "KiB", bytes: 1024 });
 * assert.deepEqual(byteUnit(3 * 2 ** 30), { unit: "GiB", bytes: 2 ** 30 });
 * ```
 */
export function byteUnit(maxBytes: number): { unit: string; bytes: number } {
  let u = 0;
  while (u < UNITS.length - 1 && maxBytes >= 1024 ** (u + 1)) u++;
  return { unit: UNITS[u], bytes: 1024 ** u };
}

/**
 * Bytes with a binary prefix: whole numbers without decimals (`256 KiB`), others with up to
 * three significant digits (`1.5 MiB`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBinaryBytes } from "./axes.ts";
 * assert.equal(formatBinaryBytes(262144), "256 KiB");
 * assert.equal(formatBinaryBytes(1.5 * 2 ** 20), "1.5 MiB");
 * assert.equal(formatBinaryBytes(0), "0 B");
 * ```
 */
export function formatBinaryBytes(bytes: number): string {
  const { unit, bytes: per } = byteUnit(Math.abs(bytes));
  return `${Number((bytes / per).toPrecision(3))} ${unit}`;
}

/** A count written out with thousands separators (`1,048,576`), at most 3 decimals. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

/** A percentage with its sign (`25 %`, `0.001 %`). */
export function formatPercent(p: number): string {
  return `${Number(p.toPrecision(3))} %`;
}

/**
 * Tick values for bytes on a log axis: powers of two between `min` and `max` (inclusive of
 * the powers just outside), every k-th one so that at most `maxTicks` remain; k is a power
 * of two, so labels stay round (`4 KiB, 16 KiB, 64 KiB …`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pow2Ticks } from "./axes.ts";
 * assert.deepEqual(pow2Ticks(4096, 65536, 8), [4096, 8192, 16384, 32768, 65536]);
 * assert.ok(pow2Ticks(1, 2 ** 40, 8).length <= 8);
 * ```
 */
export function pow2Ticks(min: number, max: number, maxTicks = 7): number[] {
  if (!(min > 0) || !(max >= min)) return [];
  const lo = Math.floor(Math.log2(min)), hi = Math.ceil(Math.log2(max));
  let step = 1;
  while (Math.floor((hi - lo) / step) + 1 > maxTicks) step *= 2;
  const start = Math.ceil(lo / step) * step;
  const out: number[] = [];
  for (let e = start; e <= hi; e += step) out.push(2 ** e);
  return out;
}

/** Tick values for counts on a log axis: powers of ten from ≤ `min` to ≥ `max`. */
export function pow10Ticks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min)) return [];
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    out.push(10 ** e);
  }
  return out;
}

/**
 * A log axis for bytes: the domain widened to powers of two around the data and round
 * ticks in it ({@link pow2Ticks}), labelled with binary prefixes.
 */
export function log2BytesAxis(values: readonly number[]): {
  base: 2;
  domain: [number, number];
  ticks: number[];
  tickFormat: (v: number) => string;
} {
  const pos = values.filter((v) => v > 0);
  const lo = pos.length ? 2 ** Math.floor(Math.log2(Math.min(...pos))) : 1;
  const hi = pos.length ? 2 ** Math.ceil(Math.log2(Math.max(...pos))) : 2;
  return {
    base: 2, // d3's log tickFormat blanks the labels of ticks that are not powers of the base
    domain: [lo, Math.max(hi, lo * 2)],
    ticks: pow2Ticks(lo, hi),
    tickFormat: formatBinaryBytes,
  };
}

/**
 * A log axis for counts: the domain widened to powers of ten around the data, a tick at
 * each, written out (`10,000`).
 */
export function log10CountAxis(values: readonly number[]): {
  domain: [number, number];
  ticks: number[];
  tickFormat: (v: number) => string;
} {
  const pos = values.filter((v) => v > 0);
  const lo = pos.length ? 10 ** Math.floor(Math.log10(Math.min(...pos))) : 1;
  const hi = pos.length ? 10 ** Math.ceil(Math.log10(Math.max(...pos))) : 10;
  return {
    domain: [lo, Math.max(hi, lo * 10)],
    ticks: pow10Ticks(lo, hi),
    tickFormat: formatCount,
  };
}

/** Left margin that fits the longest of `labels` at Plot's 10 px sans-serif (≈ 6.2 px/char). */
export function labelMargin(labels: Iterable<string>, min = 40): number {
  let longest = 0;
  for (const l of labels) longest = Math.max(longest, l.length);
  return Math.max(min, Math.ceil(longest * 6.2) + 14);
}

/**
 * Margins that keep a chart's outer tick labels inside its SVG: `marginLeft` for the widest
 * y label, `marginRight` for half the last x label (centred on the right edge).
 */
export function tickMargins(
  y: { ticks: readonly number[]; tickFormat: (v: number) => string },
  x?: { ticks: readonly number[]; tickFormat: (v: number) => string },
): { marginLeft: number; marginRight: number } {
  const last = x && x.ticks.length > 0 ? x.tickFormat(x.ticks[x.ticks.length - 1]) : "";
  return {
    marginLeft: labelMargin(y.ticks.map(y.tickFormat)),
    marginRight: Math.max(20, Math.ceil(last.length * 3.1) + 8),
  };
}
