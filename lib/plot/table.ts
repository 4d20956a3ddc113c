/**
 * Result tables that display themselves: in a notebook as an HTML table (`text/html`, with
 * the aligned text table as `text/plain`), elsewhere as text or an HTML fragment.
 *
 * @module
 */

import {
  formatTable,
  tableCell,
  type TableColumn,
  timingColumn,
  timingNote,
} from "../scenario/compare.ts";
import { isWallClock, type MetricsRow } from "../metrics/metrics.ts";
import { escapeHtml, JUPYTER_DISPLAY, type MimeBundle } from "./chart.ts";
export type { MetricsRow, MetricValue } from "../metrics/metrics.ts";
export type { TableColumn } from "../scenario/compare.ts";

/**
 * A column: a metric name (a wall-clock one shows `median (min–max)`), or a
 * {@link TableColumn} with header and formatter.
 */
export type ColumnSpec = string | TableColumn;

const toColumn = (c: ColumnSpec): TableColumn =>
  typeof c !== "string" ? c : isWallClock(c) ? timingColumn(c, c) : { header: c, metric: c };

/**
 * A table of rows with chosen columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResultTable } from "./table.ts";
 * const t = new ResultTable([{ profile: "kho-v4", walkCacheLines: 64 }], ["profile", "walkCacheLines"]);
 * // Numbers are right-aligned:
 * assert.ok(t.toHtml().includes('<td>kho-v4</td><td style="text-align:right">64</td>'));
 * assert.equal(t.toText().split("\n")[0], "profile  walkCacheLines");
 * ```
 */
export class ResultTable {
  /** The rows. */
  readonly rows: readonly MetricsRow[];
  /** The columns. */
  readonly columns: readonly TableColumn[];
  /** Caption (HTML-escaped when rendered). */
  readonly caption: string;
  /** Cells wrap their text (default: one line each; for columns of sentences). */
  readonly wrap: boolean;

  /** Rows with columns (default: every key of the first row). */
  constructor(
    rows: readonly MetricsRow[],
    columns?: readonly ColumnSpec[],
    caption = "",
    options: { wrap?: boolean } = {},
  ) {
    this.rows = rows;
    this.columns = (columns ?? Object.keys(rows[0] ?? {})).map(toColumn);
    this.caption = caption;
    this.wrap = options.wrap ?? false;
  }

  /**
   * The aligned text table (`formatTable` of the comparison); the text of `below` columns
   * follows it, one line per line of it, after the row's first cell.
   */
  toText(): string {
    const below = this.columns.filter((c) => c.below);
    const table = formatTable(this.rows, this.columns.filter((c) => !c.below));
    const notes = this.rows.flatMap((r) =>
      below.flatMap((c) => {
        const v = tableCell(r, c);
        return v === "-" || v === ""
          ? []
          : v.split("\n").map((l) => `${r[this.columns[0].metric]}: ${l}`);
      })
    );
    return notes.length === 0 ? table : `${table}\n${notes.join("\n")}\n`;
  }

  /**
   * An HTML `<table class="kholab-table">` (numbers right-aligned; with `wrap` also class
   * `kholab-wrap`; a `wrap` column's text wrapped with its line breaks kept, a `below` column's
   * text in a full-width row under its row); with wall-clock columns a footer says what they
   * show.
   */
  toHtml(): string {
    const shown = this.columns.filter((c) => !c.below);
    const below = this.columns.filter((c) => c.below);
    const head = shown.map((c) => `<th>${escapeHtml(c.header)}</th>`).join("");
    const under = (r: MetricsRow) =>
      below.map((c) => {
        const v = tableCell(r, c);
        return v === "-" || v === ""
          ? ""
          : `\n<tr><td colspan="${shown.length}" style="white-space:pre-line;` +
            `overflow-wrap:anywhere;padding-left:1.5rem">${escapeHtml(v)}</td></tr>`;
      }).join("");
    const body = this.rows.map((r) =>
      "<tr>" + shown.map((c) => {
        const v = r[c.metric];
        const align = c.wrap
          ? ' style="white-space:pre-line;overflow-wrap:anywhere;min-width:8rem"'
          : typeof v === "number"
          ? ' style="text-align:right"'
          : "";
        return `<td${align}>${escapeHtml(tableCell(r, c))}</td>`;
      }).join("") + "</tr>" + under(r)
    ).join("\n");
    const cap = this.caption ? `<caption>${escapeHtml(this.caption)}</caption>` : "";
    const note = this.columns.some((c) => c.cell) ? timingNote(this.rows) : "";
    const foot = note
      ? `<tfoot><tr><td colspan="${shown.length}" style="white-space:normal">` +
        `${escapeHtml(note)}</td></tr></tfoot>`
      : "";
    const cls = this.wrap ? "kholab-table kholab-wrap" : "kholab-table";
    return `<table class="${cls}">${cap}<thead><tr>${head}</tr></thead>` +
      `<tbody>\n${body}\n</tbody>${foot}</table>`;
  }

  /** The MIME bundle a notebook displays. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return { "text/html": this.toHtml(), "text/plain": this.toText() };
  }
}

/** A displayable {@link ResultTable} (shorthand). */
export function table(
  rows: readonly MetricsRow[],
  columns?: readonly ColumnSpec[],
  caption?: string,
): ResultTable {
  return new ResultTable(rows, columns, caption);
}
