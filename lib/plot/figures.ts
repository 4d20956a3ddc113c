/**
 * The standard kholab figures as thin helpers that return Observable Plot options: give the
 * options to {@link Chart} (or `chart()`) to render or display them. Every helper takes
 * plain row arrays — {@link MetricsRow}s from `runScenario`/`runSweep`/`compareProfiles`,
 * `abiMatrix` cells, or the small long-form rows built by the `…Rows` helpers — so a figure
 * can be drawn from fixed data (golden tests) as well as from a run.
 *
 * Conventions every helper keeps: a `caption` that names the quantity and its unit (the
 * {@link Chart} puts it in the `<figcaption>`); bytes with binary prefixes and counts
 * written out (`./axes.ts`); a profile has the same colour in every figure
 * (`./palette.ts`); one value per profile is a bar, never a lone dot.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import type { MetricsRow } from "../metrics/metrics.ts";
import { parseByOrder } from "../metrics/metrics.ts";
import { rowTimings } from "../metrics/timing.ts";
import { parseCount, parseSize } from "../units.ts";
import {
  byteUnit,
  formatBinaryBytes,
  formatCount,
  formatPercent,
  labelMargin,
  log10CountAxis,
  log2BytesAxis,
  pow10Ticks,
  tickMargins,
} from "./axes.ts";
import type { FigureOptions } from "./chart.ts";
import { profileColorScale } from "./palette.ts";
export type { MetricsRow, MetricValue } from "../metrics/metrics.ts";

const num = (v: unknown): number => (typeof v === "number" ? v : Number(v));
const usable = (r: MetricsRow) => r.status !== "error";
const caption = (title: string | undefined, fallback: string, units: string) =>
  `${title ?? fallback} (${units})`;

/** Colours of the compatibility verdicts (ordinal). */
export const VERDICT_COLORS: Readonly<Record<string, string>> = {
  ok: "#2ca02c",
  refused: "#9e9e9e",
  corrupt: "#d62728",
  panic: "#7b1fa2",
  hang: "#ff7f0e",
};

/** The colour scale of a series field: the profile palette for `profile`, else ordinal. */
function seriesColor(series: string, values: Iterable<string>) {
  return series === "profile"
    ? profileColorScale(values)
    : { type: "ordinal" as const, legend: true, label: series };
}

/** One line per series through `{ x, y, series }` points, a circle at each. */
function seriesLine(data: readonly { x: number; y: number; series: string }[]) {
  return Plot.line(data, {
    x: "x",
    y: "y",
    z: "series",
    stroke: "series",
    marker: "circle",
    title: "series",
  });
}

/** Options of {@link metadataFigure}. */
export interface MetadataFigureOptions {
  /** Metric on the x axis (default `preservedBlocks`). */
  x?: string;
  /** Metric on the y axis (default `handoverBytes`: what the successor must read). */
  y?: string;
  /** Series (colour) field: `profile` (default, the profile palette) or `tracker`. */
  series?: string;
  /** Title (the caption adds the units). */
  title?: string;
}

/**
 * Metadata bytes against preserved blocks, log-log, one line per series, with the
 * information floor (`floorBytes`) as a dashed black line labelled at its end. For sweeps:
 * with one point per profile use {@link metadataBarsFigure}.
 */
export function metadataFigure(
  rows: readonly MetricsRow[],
  options: MetadataFigureOptions = {},
): FigureOptions {
  const x = options.x ?? "preservedBlocks";
  const y = options.y ?? "handoverBytes";
  const series = options.series ?? "profile";
  const data = rows.filter((r) => usable(r) && num(r[x]) > 0 && num(r[y]) > 0)
    .map((r) => ({ x: num(r[x]), y: num(r[y]), series: String(r[series]) }))
    .sort((a, b) => a.series.localeCompare(b.series) || a.x - b.x);
  const floorByX = new Map<number, number>();
  for (const r of rows) {
    if (usable(r) && num(r[x]) > 0 && num(r.floorBytes) > 0) {
      floorByX.set(num(r[x]), num(r.floorBytes));
    }
  }
  const floor = [...floorByX].sort((a, b) => a[0] - b[0]).map(([fx, fy]) => ({ x: fx, y: fy }));
  const ys = [...data.map((d) => d.y), ...floor.map((f) => f.y)];
  const xs = data.map((d) => d.x);
  const xAxis = log10CountAxis(xs), yAxis = log2BytesAxis(ys);
  return {
    caption: caption(
      options.title,
      `${y} against ${x}`,
      "bytes, log-log; dashed: information floor of the drawn placement",
    ),
    ...tickMargins(yAxis, xAxis),
    x: { type: "log", label: `${x} →`, grid: true, ...xAxis },
    y: { type: "log", label: `↑ ${y}`, grid: true, ...yAxis },
    color: seriesColor(series, data.map((d) => d.series)),
    marks: [
      Plot.line(floor, { x: "x", y: "y", stroke: "black", strokeDasharray: "4,3" }),
      Plot.text(floor.slice(-1), {
        x: "x",
        y: "y",
        text: () => "information floor",
        textAnchor: "end",
        dy: 10,
      }),
      seriesLine(data),
    ],
  };
}

/**
 * Metadata memory per profile: a bar per profile of what the successor must read
 * (`handoverBytes`, in the profile's colour), with the information floor (`floorBytes`) as a
 * dashed rule labelled with its value (one rule when every row has the same floor, else a
 * tick per bar).
 */
export function metadataBarsFigure(rows: readonly MetricsRow[], title?: string): FigureOptions {
  const data = rows.filter(usable).map((r) => ({
    profile: String(r.profile),
    bytes: num(r.handoverBytes),
    floor: num(r.floorBytes) || 0,
  }));
  const max = Math.max(1, ...data.map((d) => Math.max(d.bytes, d.floor)));
  const { unit, bytes: per } = byteUnit(max);
  const floors = [...new Set(data.map((d) => d.floor))];
  const shared = floors.length === 1 ? floors[0] : null;
  const floorMarks = shared === null
    ? [
      Plot.tickX(data.filter((d) => d.floor > 0), {
        x: (d: { floor: number }) => d.floor / per,
        y: "profile",
        stroke: "black",
        strokeWidth: 2,
        strokeDasharray: "3,2",
      }),
    ]
    : shared > 0
    ? [
      Plot.ruleX([shared / per], { stroke: "black", strokeDasharray: "4,3" }),
      Plot.text([shared / per], {
        x: (d: number) => d,
        frameAnchor: "top",
        lineAnchor: "bottom",
        dy: -4,
        textAnchor: shared / max > 0.6 ? "end" : "start",
        text: () => `information floor ${formatBinaryBytes(shared)}`,
      }),
    ]
    : [];
  return {
    caption: caption(
      title,
      "Metadata the successor must read",
      `${unit} per profile; dashed: information floor of the drawn placement` +
        (shared === 0 ? ", 0 here: the scenario draws nothing at random" : ""),
    ),
    marginLeft: labelMargin(data.map((d) => d.profile)),
    marginTop: 24,
    marginRight: 24,
    height: 40 + 22 * data.length,
    x: { label: `metadata handed over (${unit}) →`, grid: true, tickFormat: formatCount },
    y: { label: null, domain: data.map((d) => d.profile) },
    color: { ...profileColorScale(data.map((d) => d.profile)), legend: false },
    marks: [
      Plot.barX(data, {
        x: (d: { bytes: number }) => d.bytes / per,
        y: "profile",
        fill: "profile",
        title: (d: { profile: string; bytes: number }) =>
          `${d.profile}: ${formatBinaryBytes(d.bytes)}`,
      }),
      ...floorMarks,
      Plot.ruleX([0]),
    ],
  };
}

/** One profile's timing, as {@link timingFigure} draws it. */
interface TimingBar {
  profile: string;
  n: number;
  median: number;
  min: number;
  max: number;
}

/** The timing `metric` of each row: its statistics, or one plain value as a single sample. */
function timingBars(rows: readonly MetricsRow[], metric: string): TimingBar[] {
  return rows.filter(usable).flatMap((r) => {
    const t = rowTimings(r)[metric];
    const v = r[metric];
    const stats = t ??
      (typeof v === "number" ? { n: 1, median: v, min: v, max: v } : undefined);
    return stats ? [{ profile: String(r.profile), ...stats }] : [];
  });
}

/**
 * A wall-clock timing per profile (`walkMs`, `preserveMs`, … of `lib/metrics/timing.ts`): a bar
 * per profile in its colour at the median, a black rule from the fastest to the slowest sample.
 * Rows without that timing (a stateless profile's `finalizeMs`) are left out.
 */
export function timingFigure(
  rows: readonly MetricsRow[],
  metric: string,
  options: { title?: string; label?: string } = {},
): FigureOptions {
  const data = timingBars(rows, metric);
  const ns = [...new Set(data.map((d) => d.n))].sort((a, b) => a - b);
  const label = options.label ?? metric.replace(/Ms$/, "");
  return {
    caption: caption(
      options.title,
      `${metric}, wall clock`,
      `ms on the machine that ran it; median of n = ${ns.join(", ") || 0} isolated repeats ` +
        "after warm-up, bars min–max",
    ),
    marginLeft: labelMargin(data.map((d) => d.profile)),
    marginRight: 32,
    height: 40 + 22 * data.length,
    x: { label: `${label} (ms) →`, grid: true, tickFormat: formatCount },
    y: { label: null, domain: data.map((d) => d.profile) },
    color: { ...profileColorScale(data.map((d) => d.profile)), legend: false },
    marks: [
      Plot.barX(data, {
        x: "median",
        y: "profile",
        fill: "profile",
        title: (d: TimingBar) =>
          `${d.profile}: median ${d.median} ms (min ${d.min}, max ${d.max}, n = ${d.n})`,
      }),
      Plot.ruleY(data, { y: "profile", x1: "min", x2: "max", stroke: "black" }),
      Plot.tickX(data, { x: "min", y: "profile", stroke: "black", insetTop: 5, insetBottom: 5 }),
      Plot.tickX(data, { x: "max", y: "profile", stroke: "black", insetTop: 5, insetBottom: 5 }),
      Plot.ruleX([0]),
    ],
  };
}

/** Walk time per profile (`walkMs`): {@link timingFigure} of the successor's tracker walk. */
export function walkTimeFigure(rows: readonly MetricsRow[], title?: string): FigureOptions {
  return timingFigure(rows, "walkMs", {
    title: title ?? "Successor's tracker walk, wall clock",
    label: "walk",
  });
}

/** The walk cost counters drawn by {@link walkCostFigure}. */
export const WALK_COUNTERS: readonly string[] = [
  "walkPagesTouched",
  "walkCacheLines",
  "walkEntriesVisited",
  "walkBitmapWords",
];

/** Readable names of the walk counters (facet labels). */
const COUNTER_LABELS: Readonly<Record<string, string>> = {
  walkPagesTouched: "pages touched",
  walkCacheLines: "cache lines read",
  walkEntriesVisited: "entries visited",
  walkBitmapWords: "bitmap words",
  walkEntriesFollowed: "entries followed",
};

/** Options of {@link walkCostFigure}. */
export interface WalkCostOptions {
  /**
   * The field naming each bar (default `profile`); the bar's colour is always its row's
   * `profile` (a script's rows are named by label and swept values, coloured by profile).
   */
  by?: string;
}

/**
 * The successor's walk cost counters: a panel per counter, a bar per row (a profile, or the
 * `by` field) in its profile's colour, on a log axis from 1 (deterministic: the same for a
 * seed on any machine).
 */
export function walkCostFigure(
  rows: readonly MetricsRow[],
  counters: readonly string[] = WALK_COUNTERS,
  title?: string,
  options: WalkCostOptions = {},
): FigureOptions {
  const by = options.by ?? "profile";
  const data = rows.filter(usable).flatMap((r) =>
    counters.filter((c) => num(r[c]) > 0).map((c) => ({
      name: String(r[by]),
      profile: String(r.profile),
      counter: COUNTER_LABELS[c] ?? c,
      value: num(r[c]),
    }))
  );
  const names = [...new Set(data.map((d) => d.name))];
  const panels = counters.map((c) => COUNTER_LABELS[c] ?? c)
    .filter((c) => data.some((d) => d.counter === c));
  const max = Math.max(10, ...data.map((d) => d.value));
  return {
    caption: caption(
      title,
      "Successor's walk cost counters",
      "counts per walk, log scale; deterministic",
    ),
    marginLeft: labelMargin(names),
    marginRight: labelMargin(panels),
    height: 30 + panels.length * (14 * names.length + 18),
    x: {
      type: "log",
      domain: [1, 10 ** Math.ceil(Math.log10(max))],
      label: "count →",
      grid: true,
      ticks: pow10Ticks(1, max),
      tickFormat: formatCount,
    },
    y: { label: null, domain: names },
    fy: { label: null, domain: panels },
    color: { ...profileColorScale(data.map((d) => d.profile)), legend: false },
    marks: [
      Plot.barX(data, {
        x1: 1,
        x2: "value",
        y: "name",
        fy: "counter",
        fill: "profile",
        title: (d: { name: string; profile: string; counter: string; value: number }) =>
          `${d.profile}: ${d.name === d.profile ? "" : `${d.name}: `}${
            formatCount(d.value)
          } ${d.counter}`,
      }),
      Plot.frame({ stroke: "#ddd" }),
    ],
  };
}

/** One bar of {@link namedBarsFigure}. */
export interface NamedBar {
  /** What the bar is (a measured row: its label and swept values). */
  name: string;
  /** The profile whose colour it takes. */
  profile: string;
  /** Its value. */
  value: number;
}

/** Options of {@link namedBarsFigure}. */
export interface NamedBarsOptions {
  /** What is drawn (the caption adds the unit). */
  title: string;
  /** Axis label (the unit is added). */
  label: string;
  /** Values are bytes (drawn in a binary unit). Default false: counts. */
  bytes?: boolean;
}

/**
 * One quantity per named row: a bar each, in its profile's colour, on a linear axis from 0
 * (bytes in the binary unit of the largest). What a script's `chart metadata` draws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { namedBarsFigure } from "./figures.ts";
 * const f = namedBarsFigure([{ name: "kho-v4", profile: "kho-v4", value: 3 * 4096 }],
 *   { title: "Metadata", label: "metadata", bytes: true });
 * assert.equal(f.caption, "Metadata (KiB per measured row; colour: its profile)");
 * ```
 */
export function namedBarsFigure(
  data: readonly NamedBar[],
  options: NamedBarsOptions,
): FigureOptions {
  const max = Math.max(1, ...data.map((d) => d.value));
  const { unit, bytes: per } = options.bytes ? byteUnit(max) : { unit: "", bytes: 1 };
  const show = (v: number) => options.bytes ? formatBinaryBytes(v) : formatCount(v);
  return {
    caption: `${options.title} (${
      options.bytes ? `${unit} ` : "count "
    }per measured row; colour: its profile)`,
    marginLeft: labelMargin(data.map((d) => d.name)),
    marginRight: 24,
    height: 40 + 22 * data.length,
    x: {
      label: `${options.label}${options.bytes ? ` (${unit})` : ""} →`,
      grid: true,
      tickFormat: formatCount,
    },
    y: { label: null, domain: data.map((d) => d.name) },
    color: { ...profileColorScale(data.map((d) => d.profile)), legend: false },
    marks: [
      Plot.barX(data, {
        x: (d: NamedBar) => d.value / per,
        y: "name",
        fill: "profile",
        title: (d: NamedBar) =>
          `${d.profile}: ${d.name === d.profile ? "" : `${d.name}: `}${show(d.value)}`,
      }),
      Plot.ruleX([0]),
    ],
  };
}

/** One long-form per-order value. */
export interface ByOrderRow {
  /** Series (profile, phase…). */
  profile: string;
  /** Buddy order (or a label such as `shared`). */
  order: number | string;
  /** Value. */
  value: number;
}

/** Long-form rows of a per-order metric (`"order:value …"`) of each row. */
export function byOrderRows(rows: readonly MetricsRow[], metric: string): ByOrderRow[] {
  return rows.filter(usable).flatMap((r) =>
    [...parseByOrder(String(r[metric] ?? ""))].map(([order, value]) => ({
      profile: String(r.profile),
      order,
      value,
    }))
  );
}

/** `order 0 (4 KiB)`, `order 18 (1 GiB)`, or the label itself (`shared`). */
export function orderLabel(order: number | string): string {
  return typeof order === "number"
    ? `order ${order} (${formatBinaryBytes(4096 * 2 ** order)})`
    : order;
}

const orderKey = (o: number | string) => (typeof o === "number" ? o : Infinity);

/** Stacked bars of a per-order quantity per profile (e.g. metadata bytes by order). */
export function byOrderFigure(
  data: readonly ByOrderRow[],
  options: { label?: string; title?: string; bytes?: boolean } = {},
): FigureOptions {
  const orders = [...new Set(data.map((d) => d.order))].sort((a, b) =>
    (orderKey(a) - orderKey(b)) || String(a).localeCompare(String(b))
  ).map(orderLabel);
  const profiles = [...new Set(data.map((d) => d.profile))];
  const totals = new Map<string, number>();
  for (const d of data) totals.set(d.profile, (totals.get(d.profile) ?? 0) + d.value);
  const bytes = options.bytes ?? true;
  const { unit, bytes: per } = bytes ? byteUnit(Math.max(1, ...totals.values())) : {
    unit: "",
    bytes: 1,
  };
  const label = options.label ?? (bytes ? "bytes" : "value");
  return {
    caption: caption(
      options.title,
      `${label} by block order`,
      bytes ? `${unit}, stacked by order` : "stacked by order",
    ),
    marginLeft: labelMargin(profiles),
    marginRight: 24,
    height: 60 + 26 * profiles.length,
    x: { label: `${label}${bytes ? ` (${unit})` : ""} →`, grid: true, tickFormat: formatCount },
    y: { label: null, domain: profiles },
    color: { legend: true, type: "ordinal", domain: orders, label: "order", scheme: "viridis" },
    marks: [
      Plot.barX(data, {
        x: (d: ByOrderRow) => d.value / per,
        y: "profile",
        fill: (d: ByOrderRow) => orderLabel(d.order),
        title: (d: ByOrderRow) =>
          `${d.profile}, ${orderLabel(d.order)}: ${bytes ? formatBinaryBytes(d.value) : d.value}`,
      }),
      Plot.ruleX([0]),
    ],
  };
}

/** Metadata by order, stacked (see {@link byOrderFigure}); values in bytes. */
export function metadataByOrderFigure(data: readonly ByOrderRow[], title?: string): FigureOptions {
  return byOrderFigure(data, { label: "metadata", title: title ?? "Metadata by block order" });
}

/** One share of {@link orderShareFigure}: a profile's percentage of a measure in an order. */
export interface OrderShareRow {
  /** Profile. */
  profile: string;
  /** What is shared out (`metadata bytes`, `walk cache lines`). */
  measure: string;
  /** Block order. */
  order: number;
  /** Percent of the measure's per-order sum for the profile. */
  percent: number;
  /** The value itself. */
  value: number;
}

/**
 * The shares of each profile's `handoverBytesByOrder` and `walkCacheLinesByOrder` (each
 * order's blocks alone, `lib/metrics/by_order.ts`), in percent of their per-order sum.
 */
export function orderShareRows(rows: readonly MetricsRow[]): OrderShareRow[] {
  const measures: [string, string][] = [
    ["handoverBytesByOrder", "metadata bytes"],
    ["walkCacheLinesByOrder", "walk cache lines"],
  ];
  return rows.filter(usable).flatMap((r) =>
    measures.flatMap(([metric, measure]) => {
      const m = parseByOrder(String(r[metric] ?? ""));
      const sum = [...m.values()].reduce((a, b) => a + b, 0);
      return sum === 0 ? [] : [...m].map(([order, value]) => ({
        profile: String(r.profile),
        measure,
        order,
        percent: (100 * value) / sum,
        value,
      }));
    })
  );
}

/**
 * What share of each encoding's metadata and walk goes to each block order — 1 GiB folios
 * (order 18) against 4 KiB pages (order 0) — as 100 % stacked bars, a panel per measure.
 */
export function orderShareFigure(data: readonly OrderShareRow[], title?: string): FigureOptions {
  const profiles = [...new Set(data.map((d) => d.profile))];
  const orders = [...new Set(data.map((d) => d.order))].sort((a, b) => a - b).map(orderLabel);
  const measures = [...new Set(data.map((d) => d.measure))];
  return {
    caption: caption(
      title,
      "Share of each encoding's metadata and walk per block order",
      "% of the per-order sum; each order's blocks alone in a tracker of the profile's kind",
    ),
    marginLeft: labelMargin(profiles),
    marginRight: labelMargin(measures),
    height: 60 + measures.length * (16 * profiles.length + 16),
    x: {
      label: "share (%) →",
      domain: [0, 100],
      ticks: [0, 25, 50, 75, 100],
      tickFormat: formatPercent,
    },
    y: { label: null, domain: profiles },
    fy: { label: null, domain: measures },
    color: { legend: true, type: "ordinal", domain: orders, label: "order", scheme: "viridis" },
    marks: [
      Plot.barX(data, {
        x: "percent",
        y: "profile",
        fy: "measure",
        fill: (d: OrderShareRow) => orderLabel(d.order),
        order: (d: OrderShareRow) => d.order,
        title: (d: OrderShareRow) =>
          `${d.profile}, ${orderLabel(d.order)}: ${formatPercent(d.percent)} of ${d.measure} (${
            d.measure.endsWith("bytes") ? formatBinaryBytes(d.value) : formatCount(d.value)
          })`,
      }),
      Plot.ruleX([0]),
    ],
  };
}

/** A sweep value as a number: plain numbers, sizes (`16G`) or counts (`1Mi`). */
export function sweepNumber(value: unknown): number {
  if (typeof value === "number") return value;
  const s = String(value);
  const n = Number(s);
  if (s.trim() !== "" && Number.isFinite(n)) return n;
  try {
    return parseSize(s);
  } catch {
    return parseCount(s);
  }
}

/** Options of {@link sweepFigure}. */
export interface SweepFigureOptions {
  /** y metric (default `handoverBytes`). */
  y?: string;
  /** x label. */
  xLabel?: string;
  /** Divides the swept value (e.g. 2^40 to show TiB). Default 1. */
  xScale?: number;
  /** Log x (default true). */
  logX?: boolean;
  /** Log y (default true). */
  logY?: boolean;
  /** Series field (default `profile`, in the profile palette). */
  series?: string;
  /** Title (the caption adds the units). */
  title?: string;
  /** y is bytes (default: y's name ends in `Bytes`). */
  bytes?: boolean;
  /** The swept values are bytes (ticks with binary prefixes). Default false. */
  xBytes?: boolean;
}

/**
 * A metric along a sweep (`sweepValue` on x), one line per series. Bytes on a log axis get
 * power-of-two ticks with binary prefixes; on a linear axis they are drawn in the binary unit
 * of the largest value, from 0.
 */
export function sweepFigure(
  rows: readonly MetricsRow[],
  options: SweepFigureOptions = {},
): FigureOptions {
  const y = options.y ?? "handoverBytes";
  const series = options.series ?? "profile";
  const scale = options.xScale ?? 1;
  const logY = options.logY ?? true;
  const logX = options.logX ?? true;
  const isBytes = options.bytes ?? y.endsWith("Bytes");
  const xBytes = options.xBytes ?? false;
  const points = rows.filter((r) => usable(r) && r.sweepValue !== undefined && r.sweepValue !== "")
    .map((r) => ({ x: sweepNumber(r.sweepValue) / scale, y: num(r[y]), series: String(r[series]) }))
    .filter((d) => !logY || d.y > 0)
    .sort((a, b) => a.series.localeCompare(b.series) || a.x - b.x);
  const param = String(rows.find((r) => r.sweepParam)?.sweepParam ?? "value");
  const xName = options.xLabel ?? param;
  // A linear byte axis is drawn in the unit of its largest value (ticks 0, 20, 40 … KiB).
  const yUnit = !logY && isBytes ? byteUnit(Math.max(1, ...points.map((d) => d.y))) : null;
  const xUnit = !logX && xBytes ? byteUnit(Math.max(1, ...points.map((d) => d.x))) : null;
  const data = points.map((d) => ({
    ...d,
    x: xUnit ? d.x / xUnit.bytes : d.x,
    y: yUnit ? d.y / yUnit.bytes : d.y,
  }));
  const ys = data.map((d) => d.y), xs = data.map((d) => d.x);
  const yAxis = logY
    ? (isBytes ? log2BytesAxis(ys) : log10CountAxis(ys))
    : { tickFormat: formatCount };
  const xTicks = !logX || xs.length === 0
    ? null
    : xBytes
    ? log2BytesAxis(xs)
    : Math.max(...xs) / Math.min(...xs) >= 100
    ? log10CountAxis(xs)
    : null;
  const xFormat = logX && xBytes ? formatBinaryBytes : formatCount;
  const margins = tickMargins(
    "ticks" in yAxis ? yAxis : { ticks: [Math.max(0, ...ys)], tickFormat: yAxis.tickFormat },
    xTicks ?? { ticks: [Math.max(0, ...xs)], tickFormat: xFormat },
  );
  return {
    caption: caption(
      options.title,
      `${y} along ${xName}`,
      `${isBytes ? (yUnit ? yUnit.unit : "bytes") : "count"}${logY ? ", log scale" : ""}`,
    ),
    ...margins,
    x: {
      type: logX ? "log" : "linear",
      label: `${xName}${xUnit ? ` (${xUnit.unit})` : ""} →`,
      tickFormat: xFormat,
      ...xTicks,
    },
    y: {
      type: logY ? "log" : "linear",
      label: `↑ ${y}${yUnit ? ` (${yUnit.unit})` : ""}`,
      grid: true,
      ...(logY ? {} : { zero: true }),
      ...yAxis,
    },
    color: seriesColor(series, data.map((d) => d.series)),
    marks: [
      seriesLine(data),
    ],
  };
}

/** The density sweep: a metric against the swept density parameter. */
export function densitySweepFigure(
  rows: readonly MetricsRow[],
  options: SweepFigureOptions = {},
): FigureOptions {
  return sweepFigure(rows, { title: "Density sweep", ...options });
}

/** The host-size ladder: a metric against host RAM in TiB (log x). */
export function hostLadderFigure(
  rows: readonly MetricsRow[],
  options: SweepFigureOptions = {},
): FigureOptions {
  return sweepFigure(rows, {
    title: "Host-size ladder",
    xLabel: "host RAM (TiB)",
    xScale: 2 ** 40,
    ...options,
  });
}

/** One compatibility-matrix cell (the fields of `abiMatrix` cells the figure uses). */
export interface MatrixCell {
  /** Profile of the first kernel. */
  from: string;
  /** Profile of the successor. */
  to: string;
  /** `ok`, `refused` or `corrupt`. */
  verdict: string;
}

/** The compatibility matrix as a heatmap with ordinal verdict colours. */
export function compatMatrixFigure(cells: readonly MatrixCell[], title?: string): FigureOptions {
  const profiles = [...new Set(cells.flatMap((c) => [c.from, c.to]))];
  const verdicts = Object.keys(VERDICT_COLORS);
  const margin = labelMargin(profiles);
  return {
    caption: caption(
      title,
      "ABI compatibility: first kernel (rows) kexecs into successor (columns)",
      "verdict per pair",
    ),
    marginLeft: margin,
    marginBottom: margin + 10,
    marginRight: 24,
    padding: 0.05,
    x: { domain: profiles, tickRotate: -90, label: "successor →" },
    y: { domain: profiles, label: "↑ first kernel" },
    color: {
      type: "ordinal",
      domain: verdicts,
      range: verdicts.map((v) => VERDICT_COLORS[v]),
      legend: true,
    },
    marks: [
      Plot.cell(cells, { x: "to", y: "from", fill: "verdict", title: "verdict" }),
      Plot.text(cells, { x: "to", y: "from", text: "verdict", fill: "white", fontSize: 9 }),
    ],
  };
}

/** One /proc/buddyinfo value: free blocks of an order in a phase. */
export interface BuddyinfoRow {
  /** `before kexec`, `after kexec`, … */
  phase: string;
  /** Order 0..10. */
  order: number;
  /** Free blocks. */
  blocks: number;
}

/**
 * Long-form buddyinfo rows from per-phase counts: each value is one list of free blocks per
 * order, or per node lists (`buddy.buddyinfo()`), which are summed; or a `"order:value …"`
 * string (the `freeBlocksByOrder` metric).
 */
export function buddyinfoRows(
  phases: Readonly<Record<string, readonly number[] | readonly number[][] | string>>,
): BuddyinfoRow[] {
  const out: BuddyinfoRow[] = [];
  for (const [phase, v] of Object.entries(phases)) {
    let counts: number[];
    if (typeof v === "string") {
      counts = new Array(11).fill(0);
      for (const [o, n] of parseByOrder(v)) counts[o] = n;
    } else if (v.length > 0 && Array.isArray(v[0])) {
      const nodes = v as readonly number[][];
      counts = nodes[0].map((_, o) => nodes.reduce((s, n) => s + n[o], 0));
    } else counts = [...(v as readonly number[])];
    counts.forEach((blocks, order) => out.push({ phase, order, blocks }));
  }
  return out;
}

/** /proc/buddyinfo before and after kexec: free blocks per order, grouped bars (symlog y). */
export function buddyinfoFigure(rows: readonly BuddyinfoRow[], title?: string): FigureOptions {
  const phases = [...new Set(rows.map((r) => r.phase))];
  const top = 10 ** Math.max(1, Math.ceil(Math.log10(Math.max(1, ...rows.map((r) => r.blocks)))));
  return {
    caption: caption(
      title,
      "Free blocks per buddy order around kexec (/proc/buddyinfo, all nodes)",
      "blocks, symmetric log scale",
    ),
    marginLeft: 70,
    fx: { label: "order →" },
    x: { axis: null, domain: phases },
    y: {
      type: "symlog",
      label: "↑ free blocks",
      grid: true,
      domain: [0, top],
      ticks: [0, ...pow10Ticks(1, top)],
      tickFormat: formatCount,
    },
    color: { legend: true, type: "ordinal", domain: phases, label: "phase" },
    marks: [
      Plot.barY(rows, {
        fx: "order",
        x: "phase",
        y: "blocks",
        fill: "phase",
        title: (d: BuddyinfoRow) => `${d.phase}, order ${d.order}: ${formatCount(d.blocks)}`,
      }),
      Plot.ruleY([0]),
    ],
  };
}

/** Occupancy of one level of the radix tree (see `radixOccupancy`). */
export interface LevelRow {
  /** `L5` (root) … `L1`, `leaf`. */
  level: string;
  /** Pages at this level. */
  nodes: number;
  /** Used slots (non-zero entries; set bits in leaves). */
  used: number;
  /** Slots in all nodes of the level. */
  slots: number;
}

/**
 * Radix tree occupancy by level: the percentage of used slots on a log axis (a sparse tree
 * uses a handful of 512 entries per table), labelled with the level's page count.
 */
export function radixOccupancyFigure(levels: readonly LevelRow[], title?: string): FigureOptions {
  const data = levels.map((l) => ({
    ...l,
    percent: l.slots > 0 ? Math.max(0.001, (100 * l.used) / l.slots) : 0.001,
  }));
  return {
    caption: caption(
      title,
      "Radix tree occupancy by level, read from the handed-over bytes",
      "% of slots used, log scale; label: pages at the level",
    ),
    marginLeft: 60,
    marginTop: 24,
    x: { domain: data.map((d) => d.level), label: "level" },
    y: {
      type: "log",
      label: "↑ slots used (%)",
      domain: [0.001, 100],
      grid: true,
      ticks: [0.001, 0.01, 0.1, 1, 10, 100],
      tickFormat: formatPercent,
    },
    marks: [
      Plot.ruleX(data, {
        x: "level",
        y1: 0.001,
        y2: "percent",
        stroke: "steelblue",
        strokeWidth: 14,
      }),
      Plot.text(data, {
        x: "level",
        y: "percent",
        text: (d: LevelRow) => `${formatCount(d.nodes)} pg`,
        dy: -10,
      }),
    ],
  };
}
