/**
 * The charts a script records with `chart KIND …` (issue 17 §6): each draws measured rows
 * (`measure`) with a standard figure of `../plot/figures.ts` and is kept in the session, in
 * order, for `kholab report FILE.kho` (`../report/script_report.ts`); it is shown at once too
 * (as text in a terminal, as the chart in a notebook). The kinds:
 *
 * - `metadata` — `handover.bytes` (what the successor reads) per row, a bar each;
 * - `walk` — the successor's walk counters (`walk.cachelines`, `walk.pages`, `walk.entries`,
 *   `walk.bitmap_words`) per row, a panel per counter;
 * - `by-order` — the share of each order in `handover.bytes_by_order` and
 *   `walk.cachelines_by_order` (rows measured with `measure by_order`);
 * - `buddyinfo` — free blocks per order (`buddy.free_by_order`) per row;
 * - `sweep` — a metric (`y=`) against a swept variable (`x=`), a line per `series=`.
 *
 * A row is named in a chart by what tells it apart from the other rows drawn: its profile,
 * its label and the values of its swept variables (only those that differ); its bar takes
 * its profile's colour (`../plot/palette.ts`).
 *
 * @module
 */

import { profileNames } from "../kho/profiles.ts";
import { Chart, type FigureOptions } from "../plot/chart.ts";
import {
  buddyinfoFigure,
  buddyinfoRows,
  type NamedBar,
  namedBarsFigure,
  orderShareFigure,
  orderShareRows,
  sweepFigure,
  WALK_COUNTERS,
  walkCostFigure,
} from "../plot/figures.ts";
import type { MetricsRow } from "../metrics/metrics.ts";
import { profileColorScale } from "../plot/palette.ts";
import { CommandError } from "./errors.ts";
import type { MeasureRow, ScriptChart, Session } from "./session.ts";
import { fmt, paramCell, sweepColumns, textTable } from "./show.ts";
import type { ScalarValue } from "./values.ts";

/** The kinds of `chart`. */
export const CHART_KINDS = ["metadata", "walk", "by-order", "buddyinfo", "sweep"] as const;

/** A kind of `chart`. */
export type ChartKind = typeof CHART_KINDS[number];

/** What `chart` was asked: the kind and its options. */
export interface ChartRequest {
  /** Kind. */
  kind: ChartKind;
  /** Comma-separated row labels to draw (default: every row with the kind's data). */
  rows?: string;
  /** The caption's title (the figure adds the unit). */
  title?: string;
  /** The chart's name (default `chartN-KIND`). */
  name?: string;
  /** sweep: the swept variable on x (default: the innermost numeric one). */
  x?: string;
  /** sweep: the metric on y (default `handover.bytes`). */
  y?: string;
  /** sweep: a line per value of this swept variable or metric (default `kernel.profile`). */
  series?: string;
}

/** The options only `chart sweep` takes. */
export const SWEEP_ONLY_OPTIONS = ["x", "y", "series"] as const;

/** The walk counters of a row as the script names them, and as the figures do. */
const WALK_METRICS: readonly [string, string][] = [
  ["walk.pages", "walkPagesTouched"],
  ["walk.cachelines", "walkCacheLines"],
  ["walk.entries", "walkEntriesVisited"],
  ["walk.bitmap_words", "walkBitmapWords"],
];

/** Whether a metric of the language counts bytes. */
export function isBytesMetric(name: string): boolean {
  return /bytes$/i.test(name) || name === "mem.total" || name === "mem.free";
}

const num = (v: unknown): number | null => typeof v === "number" && Number.isFinite(v) ? v : null;

/** The profile of a row (the running kernel's when it was measured; "" before boot). */
function profileOf(r: MeasureRow): string {
  const p = r.metrics["kernel.profile"];
  return typeof p === "string" ? p : "";
}

/**
 * Names of rows in a chart: by what tells them apart — the profile when profiles differ, the
 * label when labels differ, each swept variable whose values differ (`n=16384`, left out
 * where it is the profile) — else the label; a name that is still shared gets `#2`, `#3`, ….
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowNames } from "./charts.ts";
 * const row = (label: string, p: string, n: number) =>
 *   ({ label, params: { p, n }, metrics: { "kernel.profile": p } });
 * assert.deepEqual(rowNames([row("a", "kho-v3", 1), row("a", "kho-v4", 1)]), ["kho-v3", "kho-v4"]);
 * assert.deepEqual(rowNames([row("a", "kho-v4", 1), row("a", "kho-v4", 2)]), ["n=1", "n=2"]);
 * assert.deepEqual(rowNames([row("a", "kho-v4", 1), row("a", "kho-v4", 1)]), ["a", "a #2"]);
 * ```
 */
export function rowNames(
  rows: readonly MeasureRow[],
  sizes: ReadonlySet<string> = new Set(),
): string[] {
  const differs = (f: (r: MeasureRow) => unknown) => new Set(rows.map(f)).size > 1;
  const byProfile = differs(profileOf);
  const byLabel = differs((r) => r.label);
  const params = sweepColumns(rows).filter((p) => differs((r) => r.params[p]));
  const seen = new Map<string, number>();
  return rows.map((r) => {
    const parts: string[] = [];
    if (byProfile) parts.push(profileOf(r) || "no kernel");
    if (byLabel) parts.push(r.label);
    for (const p of params) {
      const v = r.params[p];
      if (v !== undefined && !(byProfile && v === profileOf(r))) {
        parts.push(`${p}=${paramCell(r, p, sizes)}`);
      }
    }
    const base = parts.length > 0 ? parts.join(" · ") : r.label;
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return k === 1 ? base : `${base} #${k}`;
  });
}

/** The rows a chart draws: those labelled in `rows=`, else those `usable` says have data. */
function selectRows(
  s: Session,
  req: ChartRequest,
  usable: (r: MeasureRow) => boolean,
  missing: string,
): number[] {
  if (s.rows.length === 0) {
    throw new CommandError(null, `chart ${req.kind}: no measured rows yet (measure label=…)`);
  }
  if (req.rows === undefined) {
    const picked = s.rows.flatMap((r, i) => usable(r) ? [i] : []);
    if (picked.length === 0) throw new CommandError(null, `chart ${req.kind}: ${missing}`);
    return picked;
  }
  const labels = req.rows.split(",").map((l) => l.trim()).filter(Boolean);
  const picked: number[] = [];
  for (const l of labels) {
    const found = s.rows.flatMap((r, i) => r.label === l ? [i] : []);
    if (found.length === 0) {
      const known = [...new Set(s.rows.map((r) => r.label))];
      throw new CommandError(
        null,
        `chart ${req.kind}: no measured row labelled "${l}" (rows: ${known.join(", ")})`,
        l,
      );
    }
    for (const i of found) {
      if (!usable(s.rows[i])) {
        throw new CommandError(null, `chart ${req.kind}: row "${l}": ${missing}`, l);
      }
    }
    picked.push(...found);
  }
  return [...new Set(picked)].sort((a, b) => a - b);
}

/** A chart's figure, and its values as a text table. */
interface Drawn {
  rows: number[];
  figure: FigureOptions;
  header: string[];
  cells: string[][];
}

function metadataChart(s: Session, req: ChartRequest): Drawn {
  const rows = selectRows(
    s,
    req,
    (r) =>
      (num(r.metrics["preserved.blocks"]) ?? 0) > 0 && num(r.metrics["handover.bytes"]) !== null,
    "no measured row with preserved objects (measure after preserve, before kexec)",
  );
  const picked = rows.map((i) => s.rows[i]);
  const names = rowNames(picked, s.sizeVariables);
  const data: NamedBar[] = picked.map((r, i) => ({
    name: names[i],
    profile: profileOf(r),
    value: num(r.metrics["handover.bytes"]) ?? 0,
  }));
  return {
    rows,
    figure: namedBarsFigure(data, {
      title: req.title ??
        "Metadata the successor reads (handover.bytes: tracker pages and serialized chunks)",
      label: "handover.bytes",
      bytes: true,
    }),
    header: ["row", "profile", "handover.bytes", "preserved.blocks"],
    cells: picked.map((r, i) => [
      names[i],
      profileOf(r),
      fmt(r.metrics["handover.bytes"]),
      fmt(r.metrics["preserved.blocks"]),
    ]),
  };
}

function walkChart(s: Session, req: ChartRequest): Drawn {
  const rows = selectRows(
    s,
    req,
    (r) => (num(r.metrics["walk.blocks"]) ?? 0) > 0,
    "no measured row after a walk that found blocks (measure after kexec)",
  );
  const picked = rows.map((i) => s.rows[i]);
  const names = rowNames(picked, s.sizeVariables);
  const mapped: MetricsRow[] = picked.map((r, i) => ({
    name: names[i],
    profile: profileOf(r),
    ...Object.fromEntries(WALK_METRICS.map(([dsl, fig]) => [fig, num(r.metrics[dsl]) ?? 0])),
  }));
  return {
    rows,
    figure: walkCostFigure(
      mapped,
      WALK_COUNTERS,
      req.title ?? "Successor's walk cost counters (walk.*)",
      { by: "name" },
    ),
    header: ["row", "profile", ...WALK_METRICS.map(([dsl]) => dsl)],
    cells: picked.map((r, i) => [
      names[i],
      profileOf(r),
      ...WALK_METRICS.map(([dsl]) => fmt(r.metrics[dsl])),
    ]),
  };
}

function byOrderChart(s: Session, req: ChartRequest): Drawn {
  const has = (r: MeasureRow) =>
    typeof r.metrics["handover.bytes_by_order"] === "string" &&
    r.metrics["handover.bytes_by_order"] !== "";
  const rows = selectRows(
    s,
    req,
    has,
    "no measured row has per-order costs (measure by_order, before kexec, with blocks preserved)",
  );
  const picked = rows.map((i) => s.rows[i]);
  const names = rowNames(picked, s.sizeVariables);
  const shares = orderShareRows(picked.map((r, i) => ({
    profile: names[i],
    handoverBytesByOrder: r.metrics["handover.bytes_by_order"],
    walkCacheLinesByOrder: r.metrics["walk.cachelines_by_order"] ?? "",
  })));
  const keys = ["preserved.blocks_by_order", "handover.bytes_by_order", "walk.cachelines_by_order"];
  return {
    rows,
    figure: orderShareFigure(shares, req.title),
    header: ["row", ...keys],
    cells: picked.map((r, i) => [names[i], ...keys.map((k) => fmt(r.metrics[k]))]),
  };
}

function buddyinfoChart(s: Session, req: ChartRequest): Drawn {
  const rows = selectRows(
    s,
    req,
    (r) => typeof r.metrics["buddy.free_by_order"] === "string",
    "no measured row with a running kernel",
  );
  const picked = rows.map((i) => s.rows[i]);
  const names = rowNames(picked, s.sizeVariables);
  const phases = Object.fromEntries(
    picked.map((r, i) => [names[i], String(r.metrics["buddy.free_by_order"])]),
  );
  const figure = buddyinfoFigure(
    buddyinfoRows(phases),
    req.title ?? "Free blocks per buddy order at the measured rows (buddy.free_by_order)",
  );
  // Rows told apart by their profile alone take the profile's colour.
  const known = new Set<string>(profileNames());
  if (names.every((n) => known.has(n))) {
    figure.color = { ...profileColorScale(names), label: "profile" };
  }
  return {
    rows,
    figure,
    header: ["row", "buddy.free_by_order"],
    cells: picked.map((r, i) => [names[i], fmt(r.metrics["buddy.free_by_order"])]),
  };
}

/** The value of `name` in a row: a swept variable, else a metric. */
function valueOf(r: MeasureRow, name: string): ScalarValue | undefined {
  return name in r.params ? r.params[name] : r.metrics[name];
}

function sweepChart(s: Session, req: ChartRequest): Drawn {
  const swept = sweepColumns(s.rows);
  const numeric = (p: string) => (r: MeasureRow) => num(r.params[p]) !== null;
  const x = req.x ?? swept.findLast((p) => s.rows.some(numeric(p)));
  if (x === undefined) {
    throw new CommandError(
      null,
      "chart sweep: no measured row under a numeric sweep (sweep n in [4Ki, 16Ki] { … measure })",
    );
  }
  if (!swept.includes(x)) {
    throw new CommandError(
      null,
      `chart sweep: x=${x} is not a swept variable of the measured rows (swept: ${
        swept.join(", ") || "none"
      })`,
      x,
    );
  }
  const y = req.y ?? "handover.bytes";
  const series = req.series ?? "kernel.profile";
  // Without rows=, a metric of the outgoing handover is drawn where objects were preserved,
  // one of the successor's walk where a walk found blocks (not both sides of each kexec).
  const phase = req.rows !== undefined
    ? () => true
    : /^(handover|tracker|preserved)\./.test(y)
    ? (r: MeasureRow) => (num(r.metrics["preserved.blocks"]) ?? 0) > 0
    : /^walk\./.test(y)
    ? (r: MeasureRow) => (num(r.metrics["walk.blocks"]) ?? 0) > 0
    : () => true;
  const rows = selectRows(
    s,
    req,
    (r) =>
      numeric(x)(r) && num(r.metrics[y]) !== null && valueOf(r, series) !== undefined &&
      phase(r),
    `no measured row has a number for ${x} and for ${y}` +
      (y in (s.rows[0]?.metrics ?? {}) ? "" : ` (y=${y}: not a metric)`),
  );
  const picked = rows.map((i) => s.rows[i]);
  const seriesOf = (r: MeasureRow) => String(valueOf(r, series));
  const seen = new Map<string, MeasureRow>();
  for (const r of picked) {
    const key = `${seriesOf(r)}\u0000${r.params[x]}`;
    const other = seen.get(key);
    if (other) {
      throw new CommandError(
        null,
        `chart sweep: two rows for ${series} = ${seriesOf(r)} at ${x} = ${r.params[x]} ` +
          `(labels ${other.label}, ${r.label}): choose one with rows=LABEL`,
      );
    }
    seen.set(key, r);
  }
  const known = new Set<string>(profileNames());
  const byProfile = series === "kernel.profile" || picked.every((r) => known.has(seriesOf(r)));
  const field = byProfile ? "profile" : series;
  const mapped: MetricsRow[] = picked.map((r) => ({
    sweepParam: x,
    sweepValue: num(r.params[x])!,
    [y]: num(r.metrics[y])!,
    [field]: seriesOf(r),
  }));
  const spread = (vs: number[]) =>
    vs.length > 0 && vs.every((v) => v > 0) && Math.max(...vs) / Math.min(...vs) >= 10;
  return {
    rows,
    figure: sweepFigure(mapped, {
      y,
      series: field,
      title: req.title,
      bytes: isBytesMetric(y),
      xBytes: s.sizeVariables.has(x),
      logX: spread(picked.map((r) => num(r.params[x])!)),
      logY: spread(picked.map((r) => num(r.metrics[y])!)),
    }),
    header: [series, x, y],
    cells: picked.map((r) => [seriesOf(r), paramCell(r, x, s.sizeVariables), fmt(r.metrics[y])]),
  };
}

/**
 * Runs `chart KIND …` on a session: draws the rows, records the chart (undone with the
 * statement) and returns it. A kind without rows to draw is an error that says what to
 * measure.
 */
export function recordChart(s: Session, req: ChartRequest): ScriptChart {
  if (req.kind !== "sweep") {
    for (const o of SWEEP_ONLY_OPTIONS) {
      if (req[o] !== undefined) {
        throw new CommandError(null, `chart ${req.kind}: ${o}= is for chart sweep`, o);
      }
    }
  }
  const name = req.name ?? `chart${s.charts.length + 1}-${req.kind}`;
  if (s.charts.some((c) => c.name === name)) {
    throw new CommandError("EEXIST", `a chart named "${name}" exists`, name);
  }
  const drawn = req.kind === "metadata"
    ? metadataChart(s, req)
    : req.kind === "walk"
    ? walkChart(s, req)
    : req.kind === "by-order"
    ? byOrderChart(s, req)
    : req.kind === "buddyinfo"
    ? buddyinfoChart(s, req)
    : sweepChart(s, req);
  const options: Record<string, ScalarValue> = {};
  for (const k of ["rows", "title", "x", "y", "series"] as const) {
    if (req[k] !== undefined) options[k] = req[k]!;
  }
  const recorded: ScriptChart = {
    name,
    kind: req.kind,
    options,
    rows: drawn.rows,
    chart: new Chart(drawn.figure, name),
  };
  s.charts.push(recorded);
  s.onUndo(() => s.charts.pop());
  s.show({
    text: `chart ${name}: ${recorded.chart.caption}\n${textTable(drawn.header, drawn.cells)}`,
    html: recorded.chart.toHtml(),
    recorded: name,
  });
  return recorded;
}
