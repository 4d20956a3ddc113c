/**
 * The standard kholab figures as thin helpers that return Observable Plot options: give the
 * options to {@link Chart} (or `chart()`) to render or display them. Every helper takes
 * plain row arrays — {@link MetricsRow}s from `runScenario`/`runSweep`/`compareProfiles`,
 * `abiMatrix` cells, or the small long-form rows built by the `…Rows` helpers — so a figure
 * can be drawn from fixed data (golden tests) as well as from a run.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import type { MetricsRow } from "../metrics/metrics.ts";
import { parseByOrder } from "../metrics/metrics.ts";
import { parseCount, parseSize } from "../units.ts";
import type { FigureOptions } from "./chart.ts";
export type { MetricsRow, MetricValue } from "../metrics/metrics.ts";

const num = (v: unknown): number => (typeof v === "number" ? v : Number(v));
const usable = (r: MetricsRow) => r.status !== "error";

/** Colours of the compatibility verdicts (ordinal). */
export const VERDICT_COLORS: Readonly<Record<string, string>> = {
  ok: "#2ca02c",
  refused: "#9e9e9e",
  corrupt: "#d62728",
};

/** Options of {@link metadataFigure}. */
export interface MetadataFigureOptions {
  /** Metric on the x axis (default `preservedBlocks`). */
  x?: string;
  /** Metric on the y axis (default `handoverBytes`: what the successor must read). */
  y?: string;
  /** Series (colour) field: `tracker` (default, one line per encoding) or `profile`. */
  series?: string;
  /** Title. */
  title?: string;
}

/**
 * Metadata bytes against preserved blocks, log-log, one line per encoding, with the
 * information-theoretic floor (`floorBytes`) as a dashed black line.
 */
export function metadataFigure(
  rows: readonly MetricsRow[],
  options: MetadataFigureOptions = {},
): FigureOptions {
  const x = options.x ?? "preservedBlocks";
  const y = options.y ?? "handoverBytes";
  const series = options.series ?? "tracker";
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
  return {
    title: options.title,
    x: { type: "log", label: `${x} →`, grid: true },
    y: { type: "log", label: `↑ ${y}`, grid: true },
    color: { legend: true, type: "ordinal" },
    marks: [
      Plot.line(floor, { x: "x", y: "y", stroke: "black", strokeDasharray: "4,3" }),
      Plot.text(floor.slice(-1), {
        x: "x",
        y: "y",
        text: () => "information floor",
        textAnchor: "end",
        dy: 10,
      }),
      Plot.line(data, { x: "x", y: "y", z: "series", stroke: "series", marker: "circle" }),
    ],
  };
}

/**
 * Metadata memory per profile: bars of what the successor must read (`handoverBytes`,
 * coloured by encoding) with the information floor (`floorBytes`) as a black tick.
 */
export function metadataBarsFigure(rows: readonly MetricsRow[], title?: string): FigureOptions {
  const data = rows.filter(usable).map((r) => ({
    profile: String(r.profile),
    tracker: String(r.tracker),
    kib: num(r.handoverBytes) / 1024,
    floorKib: num(r.floorBytes) / 1024,
  }));
  return {
    title,
    marginLeft: 170,
    x: { label: "metadata handed over (KiB) →", grid: true },
    y: { label: null, domain: data.map((d) => d.profile) },
    color: { legend: true, type: "ordinal" },
    marks: [
      Plot.barX(data, { x: "kib", y: "profile", fill: "tracker" }),
      Plot.tickX(data, { x: "floorKib", y: "profile", stroke: "black", strokeWidth: 2 }),
      Plot.ruleX([0]),
    ],
  };
}

/** Walk time per profile (`walkMs`), bars coloured by encoding. */
export function walkTimeFigure(rows: readonly MetricsRow[], title?: string): FigureOptions {
  const data = rows.filter(usable).map((r) => ({
    profile: String(r.profile),
    tracker: String(r.tracker),
    ms: num(r.walkMs),
  }));
  return {
    title,
    marginLeft: 170,
    x: { label: "walk ms →", grid: true },
    y: { label: null, domain: data.map((d) => d.profile) },
    color: { legend: true, type: "ordinal" },
    marks: [
      Plot.barX(data, { x: "ms", y: "profile", fill: "tracker" }),
      Plot.ruleX([0]),
    ],
  };
}

/** The walk cost counters drawn by {@link walkCostFigure}. */
export const WALK_COUNTERS: readonly string[] = [
  "walkPagesTouched",
  "walkCacheLines",
  "walkEntriesVisited",
  "walkBitmapWords",
];

/**
 * The successor's walk cost counters per profile on a log axis, one symbol per counter
 * (deterministic: the same for a seed on any machine).
 */
export function walkCostFigure(
  rows: readonly MetricsRow[],
  counters: readonly string[] = WALK_COUNTERS,
  title?: string,
): FigureOptions {
  const data = rows.filter(usable).flatMap((r) =>
    counters.filter((c) => num(r[c]) > 0).map((c) => ({
      profile: String(r.profile),
      counter: c,
      value: num(r[c]),
    }))
  );
  return {
    title,
    marginLeft: 170,
    x: { type: "log", label: "count →", grid: true },
    y: { label: null, domain: [...new Set(data.map((d) => d.profile))] },
    color: { legend: true, type: "ordinal", domain: [...counters] },
    symbol: { domain: [...counters] },
    marks: [
      Plot.dot(data, { x: "value", y: "profile", stroke: "counter", symbol: "counter", r: 4 }),
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

/** Stacked bars of a per-order quantity per profile (e.g. metadata bytes by order). */
export function byOrderFigure(
  data: readonly ByOrderRow[],
  options: { label?: string; title?: string } = {},
): FigureOptions {
  const orders = [...new Set(data.map((d) => String(d.order)))].sort((a, b) =>
    (Number(a) - Number(b)) || a.localeCompare(b)
  );
  return {
    title: options.title,
    marginBottom: 60,
    x: { label: null, tickRotate: -20, domain: [...new Set(data.map((d) => d.profile))] },
    y: { label: `↑ ${options.label ?? "value"}`, grid: true },
    color: { legend: true, type: "ordinal", domain: orders, label: "order" },
    marks: [
      Plot.barY(data, { x: "profile", y: "value", fill: (d: ByOrderRow) => String(d.order) }),
      Plot.ruleY([0]),
    ],
  };
}

/** Metadata by order, stacked (see {@link byOrderFigure}); `label` defaults to bytes. */
export function metadataByOrderFigure(data: readonly ByOrderRow[], title?: string): FigureOptions {
  return byOrderFigure(data, { label: "metadata bytes", title });
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
  /** Series field (default `tracker`). */
  series?: string;
  /** Title. */
  title?: string;
}

/** A metric along a sweep (`sweepValue` on x), one line per series. */
export function sweepFigure(
  rows: readonly MetricsRow[],
  options: SweepFigureOptions = {},
): FigureOptions {
  const y = options.y ?? "handoverBytes";
  const series = options.series ?? "tracker";
  const scale = options.xScale ?? 1;
  const logY = options.logY ?? true;
  const data = rows.filter((r) => usable(r) && r.sweepValue !== undefined && r.sweepValue !== "")
    .map((r) => ({ x: sweepNumber(r.sweepValue) / scale, y: num(r[y]), series: String(r[series]) }))
    .filter((d) => !logY || d.y > 0)
    .sort((a, b) => a.series.localeCompare(b.series) || a.x - b.x);
  const param = String(rows.find((r) => r.sweepParam)?.sweepParam ?? "value");
  return {
    title: options.title,
    x: { type: options.logX ?? true ? "log" : "linear", label: `${options.xLabel ?? param} →` },
    y: { type: logY ? "log" : "linear", label: `↑ ${y}`, grid: true },
    color: { legend: true, type: "ordinal" },
    marks: [Plot.line(data, { x: "x", y: "y", z: "series", stroke: "series", marker: "circle" })],
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
  return {
    title,
    marginLeft: 170,
    marginBottom: 110,
    padding: 0.05,
    x: { domain: profiles, tickRotate: -45, label: "successor →" },
    y: { domain: profiles, label: "↑ first kernel" },
    color: {
      type: "ordinal",
      domain: verdicts,
      range: verdicts.map((v) => VERDICT_COLORS[v]),
      legend: true,
    },
    marks: [
      Plot.cell(cells, { x: "to", y: "from", fill: "verdict" }),
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
  return {
    title,
    fx: { label: "order" },
    x: { axis: null, domain: phases },
    y: { type: "symlog", label: "↑ free blocks", grid: true },
    color: { legend: true, type: "ordinal", domain: phases },
    marks: [
      Plot.barY(rows, { fx: "order", x: "phase", y: "blocks", fill: "phase" }),
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
    title,
    x: { domain: data.map((d) => d.level), label: "level" },
    y: { type: "log", label: "↑ slots used (%)", domain: [0.001, 100], grid: true },
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
        text: (d: LevelRow) => `${d.nodes} pg`,
        dy: -10,
      }),
    ],
  };
}
