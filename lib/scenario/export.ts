/**
 * Rows as JSON and CSV, and back. Columns follow the metric catalogue's order (then any
 * other keys, in first-seen order); CSV is RFC 4180 (quoted when a value has a comma, quote
 * or line break), numbers in JavaScript's shortest round-trip form, an empty cell for a
 * metric a row does not have.
 *
 * @module
 */

import { METRIC_NAMES, metricDef, type MetricsRow, type MetricValue } from "../metrics/metrics.ts";

/** The columns of a set of rows: catalogue order, then other keys in first-seen order. */
export function rowColumns(rows: readonly MetricsRow[]): string[] {
  const present = new Set<string>();
  const extra: string[] = [];
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      if (!present.has(k)) {
        present.add(k);
        if (metricDef(k) === undefined) extra.push(k);
      }
    }
  }
  return [...METRIC_NAMES.filter((n) => present.has(n)), ...extra];
}

/** Rows as pretty-printed JSON (an array of objects, keys in column order). */
export function rowsToJson(rows: readonly MetricsRow[]): string {
  const cols = rowColumns(rows);
  const ordered = rows.map((r) => {
    const o: MetricsRow = {};
    for (const c of cols) if (c in r) o[c] = r[c];
    return o;
  });
  return JSON.stringify(ordered, null, 2) + "\n";
}

/** Parses {@link rowsToJson} output. Throws SyntaxError on anything but an array of objects. */
export function rowsFromJson(text: string): MetricsRow[] {
  const v = JSON.parse(text);
  if (!Array.isArray(v) || v.some((r) => typeof r !== "object" || r === null)) {
    throw new SyntaxError("expected a JSON array of rows");
  }
  return v as MetricsRow[];
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
      const def = metricDef(col);
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
