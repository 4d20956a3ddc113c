/**
 * Rows as JSON and CSV, and back. Columns follow the metric catalogue's order, each wall-clock
 * metric followed by its statistics (`walkMs`, `walkMs.n`, `walkMs.median`, `walkMs.min`,
 * `walkMs.max`: `lib/metrics/timing.ts`), the `outcomes` family where the catalogue lists it (per
 * kind in first-seen order: `outcomes.KIND.attempted`, one column per outcome,
 * `outcomes.KIND.reasons`: `lib/metrics/outcomes.ts`), then any other keys in first-seen order.
 * CSV is RFC 4180 (quoted when a value has a comma, quote or line break), numbers in
 * JavaScript's shortest round-trip form, an empty cell for a metric a row does not have. JSON
 * nests the statistics as `timings: { NAME: { n, median, min, max } }` ({@link rowJson}) and
 * keeps `NAME` (the median), and the outcomes as `outcomes: { KIND: { attempted, …, reasons:
 * [text] } }`.
 *
 * @module
 */

import { METRIC_NAMES, metricDef, type MetricsRow, type MetricValue } from "../metrics/metrics.ts";
import {
  OUTCOME_FIELDS,
  outcomeColumns,
  outcomeKey,
  type Outcomes,
  parseOutcomeKey,
  rowOutcomes,
} from "../metrics/outcomes.ts";
import {
  parseTimingStatKey,
  rowTimings,
  TIMING_STATS,
  type Timings,
  timingStatKey,
  type TimingStats,
} from "../metrics/timing.ts";

/**
 * The columns of a set of rows: catalogue order (a wall-clock metric then its statistics),
 * then other keys in first-seen order.
 */
export function rowColumns(rows: readonly MetricsRow[]): string[] {
  const present = new Set<string>();
  const extra: string[] = [];
  const kinds: string[] = [];
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      if (!present.has(k)) {
        present.add(k);
        const outcome = parseOutcomeKey(k);
        if (outcome !== null) {
          if (!kinds.includes(outcome.kind)) kinds.push(outcome.kind);
          continue;
        }
        const stat = parseTimingStatKey(k);
        if (metricDef(k) === undefined && !(stat && metricDef(stat.name))) extra.push(k);
      }
    }
  }
  const outcomes = kinds.flatMap((kind) => OUTCOME_FIELDS.map((f) => outcomeKey(kind, f)));
  return [
    ...METRIC_NAMES.flatMap((n) =>
      n === "outcomes" ? outcomes : [n, ...TIMING_STATS.map((s) => timingStatKey(n, s))]
    ).filter((n) => present.has(n)),
    ...extra,
  ];
}

/**
 * A row as JSON has it: flat metrics in column order, then `outcomes` and `timings` (when it
 * has any).
 */
export type JsonRow = Record<string, MetricValue | Timings | Outcomes>;

/**
 * One row as {@link rowsToJson} writes it (and `data.json` of a report): its metrics in column
 * order without the flat statistics and outcome columns, then `outcomes: { KIND: { attempted,
 * …, reasons } }` and `timings: { NAME: { n, median, min, max } }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowJson } from "./export.ts";
 * const row = { profile: "kho-v4", walkMs: 2, "walkMs.n": 5, "walkMs.median": 2,
 *   "walkMs.min": 1.5, "walkMs.max": 4 };
 * assert.deepEqual(rowJson(row), {
 *   profile: "kho-v4", walkMs: 2, timings: { walkMs: { n: 5, median: 2, min: 1.5, max: 4 } },
 * });
 * ```
 */
export function rowJson(row: MetricsRow, columns: readonly string[] = rowColumns([row])): JsonRow {
  const o: JsonRow = {};
  for (const c of columns) {
    if (c in row && parseTimingStatKey(c) === null && parseOutcomeKey(c) === null) o[c] = row[c];
  }
  const outcomes = rowOutcomes(row);
  if (Object.keys(outcomes).length > 0) o.outcomes = outcomes;
  const timings = rowTimings(row);
  if (Object.keys(timings).length > 0) o.timings = timings;
  return o;
}

/** Rows as pretty-printed JSON (an array of {@link rowJson} objects, keys in column order). */
export function rowsToJson(rows: readonly MetricsRow[]): string {
  const cols = rowColumns(rows);
  return JSON.stringify(rows.map((r) => rowJson(r, cols)), null, 2) + "\n";
}

/**
 * Parses {@link rowsToJson} output (each `timings` back into flat statistics, `outcomes` into
 * flat outcome columns). Throws SyntaxError on anything but an array of objects.
 */
export function rowsFromJson(text: string): MetricsRow[] {
  const v = JSON.parse(text);
  if (!Array.isArray(v) || v.some((r) => typeof r !== "object" || r === null)) {
    throw new SyntaxError("expected a JSON array of rows");
  }
  return (v as Record<string, unknown>[]).map(rowFromJson);
}

/**
 * One {@link rowJson} object back into a flat row (its `outcomes` and `timings` into flat
 * columns, after the other keys).
 */
export function rowFromJson(r: Readonly<Record<string, unknown>>): MetricsRow {
  const { timings, outcomes, ...rest } = r;
  const row = rest as MetricsRow;
  if (typeof outcomes === "object" && outcomes !== null) {
    Object.assign(row, outcomeColumns(outcomes as Outcomes));
  }
  if (typeof timings === "object" && timings !== null) {
    for (const [name, t] of Object.entries(timings as Record<string, TimingStats>)) {
      for (const s of TIMING_STATS) row[timingStatKey(name, s)] = t[s];
    }
  }
  return row;
}

function csvCell(v: MetricValue | undefined): string {
  if (v === undefined) return "";
  const s = String(v);
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Rows as CSV with a header line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowsFromCsv, rowsToCsv } from "./export.ts";
 * const rows = [{ profile: "kho-v4", walkCacheLines: 64, errors: "a, b" }];
 * const csv = rowsToCsv(rows); // columns in the catalogue's order: errors before walkCacheLines
 * assert.equal(csv, 'profile,errors,walkCacheLines\nkho-v4,"a, b",64\n');
 * const back = rowsFromCsv(csv);
 * assert.deepEqual(Object.keys(back[0]), ["profile", "errors", "walkCacheLines"]);
 * assert.deepEqual(back, rows);
 * ```
 */
export function rowsToCsv(rows: readonly MetricsRow[]): string {
  const cols = rowColumns(rows);
  const lines = [cols.map(csvCell).join(",")];
  for (const r of rows) lines.push(cols.map((c) => csvCell(r[c])).join(","));
  return lines.join("\n") + "\n";
}

/** Splits CSV text into records of cells (RFC 4180 quoting). */
export function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let rec: string[] = [];
  let cell = "";
  let i = 0;
  let quoted = false;
  let any = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cell += ch;
      i++;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      any = true;
    } else if (ch === ",") {
      rec.push(cell);
      cell = "";
      any = true;
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      if (any || cell !== "") {
        rec.push(cell);
        out.push(rec);
      }
      rec = [];
      cell = "";
      any = false;
    } else {
      cell += ch;
      any = true;
    }
    i++;
  }
  if (quoted) throw new SyntaxError("CSV: unterminated quoted cell");
  if (any || cell !== "") {
    rec.push(cell);
    out.push(rec);
  }
  return out;
}

const NUMERIC = /^-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/**
 * Parses {@link rowsToCsv} output: catalogue metrics get their type back (numbers for
 * `number` metrics, strings otherwise, an empty cell an empty string); other columns are
 * numbers when they look numeric; empty number cells and empty other cells are left out.
 */
export function rowsFromCsv(text: string): MetricsRow[] {
  const [header, ...records] = parseCsv(text);
  if (header === undefined) return [];
  return records.map((rec, ri) => {
    if (rec.length !== header.length) {
      throw new SyntaxError(
        `CSV record ${ri + 1}: ${rec.length} cells, header has ${header.length}`,
      );
    }
    const row: MetricsRow = {};
    header.forEach((col, i) => {
      const s = rec[i];
      const outcome = parseOutcomeKey(col);
      if (outcome !== null) {
        if (s !== "") row[col] = outcome.field === "reasons" ? s : Number(s);
        return;
      }
      const stat = parseTimingStatKey(col);
      const def = metricDef(col) ?? (stat ? metricDef(stat.name) : undefined);
      if (s === "") {
        if (def !== undefined && def.type !== "number") row[col] = "";
        return;
      }
      const numeric = def ? def.type === "number" : NUMERIC.test(s);
      row[col] = numeric ? Number(s) : s;
    });
    return row;
  });
}
