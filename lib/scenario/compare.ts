/**
 * The profile comparison: the default `hypervisor` scenario (1 TiB, 2 nodes, 1008 GiB of
 * guest memory in 8 hugetlbfs memfds of 1 GiB pages, preserved through LUO where the profile
 * can, 1 Mi preserved order-0 pages in a 16 GiB pool, vmalloc buffers, DMA blocks) for every
 * available profile, as rows and as a text table. The command
 * line's `compare` and `sweep` (`cli.ts`) parse their arguments into these options.
 *
 * @module
 */

import type { MetricsRow, MetricValue } from "../metrics/metrics.ts";
import { formatTiming, rowTimings } from "../metrics/timing.ts";
import { formatOutcomeCounts, OUTCOMES, rowOutcomes, totalOutcomes } from "../metrics/outcomes.ts";
import { runSweep, type SweepOptions } from "./sweep.ts";
import { stringGetSize } from "../kernel/hugetlb.ts";

/** Options of {@link compareProfiles}: the {@link SweepOptions} it passes on, and the scenario. */
export interface CompareOptions extends
  Pick<
    SweepOptions,
    | "params"
    | "profiles"
    | "seed"
    | "workers"
    | "repeat"
    | "maxMemoryBytes"
    | "onRow"
    | "onEvent"
    | "clock"
  > {
  /** Scenario. Default `hypervisor`. */
  scenario?: string;
}

/**
 * Runs the scenario (default: the default hypervisor) once per profile; one row each, in
 * profile order.
 */
export function compareProfiles(options: CompareOptions): Promise<MetricsRow[]> {
  return runSweep({
    scenario: options.scenario ?? "hypervisor",
    params: options.params,
    profiles: options.profiles,
    seed: options.seed,
    workers: options.workers,
    repeat: options.repeat,
    maxMemoryBytes: options.maxMemoryBytes,
    onRow: options.onRow,
    onEvent: options.onEvent,
    clock: options.clock,
  });
}

/** A column of the comparison table: header, metric, how to print it. */
export interface TableColumn {
  /** Header text. */
  readonly header: string;
  /** Metric name. */
  readonly metric: string;
  /** Formatter (default: the value as text). */
  readonly format?: (v: MetricValue) => string;
  /** The cell from the whole row (wins over `format`; for figures made of several fields). */
  readonly cell?: (row: MetricsRow) => string | undefined;
  /** HTML: the cell wraps, and its line breaks are kept (long text such as reasons). */
  readonly wrap?: boolean;
  /**
   * Long text shown under its row rather than in a column (HTML: a full-width row, line breaks
   * kept; text: lines under the table), e.g. the reasons of the outcomes.
   */
  readonly below?: boolean;
}

/** Bytes with a binary unit, three significant digits (as the kernel's `string_get_size`). */
export function formatBytes(v: MetricValue): string {
  const n = Number(v);
  return Number.isFinite(n) ? stringGetSize(n) : String(v);
}

/**
 * A wall-clock column: `median (min–max)` in ms of the timing `metric` (`lib/metrics/timing.ts`);
 * `-` when the row has none.
 */
export function timingColumn(header: string, metric: string): TableColumn {
  return {
    header,
    metric,
    cell: (row) => {
      const t = rowTimings(row)[metric];
      return t === undefined ? undefined : formatTiming(t);
    },
  };
}

/**
 * The outcomes column: what became of the row's attempted objects, all kinds together
 * (`4100 restored, 32 failedRestore`); `-` when the row has no outcomes.
 */
export const OUTCOMES_COLUMN: TableColumn = {
  header: "outcomes",
  metric: "attemptedObjects",
  cell: (row) => {
    const o = rowOutcomes(row);
    return Object.keys(o).length === 0 ? undefined : formatOutcomeCounts(totalOutcomes(o));
  },
};

/**
 * The reasons of a row's outcomes, one line per reason: `KIND: NAME: N OUTCOME — TEXT`
 * (`lib/metrics/outcomes.ts`).
 */
export function outcomeReasonLines(row: MetricsRow): string[] {
  return Object.entries(rowOutcomes(row)).flatMap(([kind, k]) =>
    k.reasons.map((r) => `${kind}: ${r}`)
  );
}

/**
 * One row per row: `profile` (and `sweepValue`), `attempted`, the count of each outcome over
 * every kind, and `reasons`, one per line as `KIND: NAME: N OUTCOME — TEXT`
 * ({@link outcomeReasonLines}): what {@link OUTCOME_TABLE_COLUMNS} show, the reasons next to
 * their counts (per kind in the row's `outcomes.KIND.*`).
 */
export function outcomeRows(rows: readonly MetricsRow[]): MetricsRow[] {
  return rows.flatMap((r) => {
    const o = rowOutcomes(r);
    if (Object.keys(o).length === 0) return [];
    const t = totalOutcomes(o);
    return [{
      profile: r.profile,
      ...(r.sweepValue !== undefined ? { sweepValue: r.sweepValue } : {}),
      attempted: t.attempted,
      ...Object.fromEntries(OUTCOMES.map((x) => [x, t[x]])),
      reasons: outcomeReasonLines(r).join("\n"),
    }];
  });
}

/** The columns of a table of {@link outcomeRows}. */
export const OUTCOME_TABLE_COLUMNS: readonly TableColumn[] = [
  { header: "profile", metric: "profile" },
  { header: "attempted", metric: "attempted" },
  ...OUTCOMES.map((o) => ({ header: o, metric: o })),
  { header: "reasons", metric: "reasons", below: true },
];

/** The columns of the comparison table. */
export const COMPARE_COLUMNS: readonly TableColumn[] = [
  { header: "profile", metric: "profile" },
  { header: "tracker", metric: "tracker" },
  { header: "status", metric: "status" },
  { header: "blocks", metric: "preservedBlocks" },
  { header: "live", metric: "trackerLiveBytes", format: formatBytes },
  { header: "serialized", metric: "trackerSerializedBytes", format: formatBytes },
  { header: "handover", metric: "handoverBytes", format: formatBytes },
  { header: "floor", metric: "floorBytes", format: formatBytes },
  { header: "allocs", metric: "metadataAllocs" },
  { header: "walk lines", metric: "walkCacheLines" },
  { header: "walk words", metric: "walkBitmapWords" },
  { header: "walk entries", metric: "walkEntriesVisited" },
  { header: "walk pages", metric: "walkPagesTouched" },
  { header: "preserved memmap", metric: "memmapPreservedBytes", format: formatBytes },
  { header: "struct-page writes", metric: "structPageWrites" },
  { header: "memmap after HVO", metric: "memmapAfterHvoBytes", format: formatBytes },
  OUTCOMES_COLUMN,
  timingColumn("preserve ms", "preserveMs"),
  timingColumn("finalize ms", "finalizeMs"),
  timingColumn("walk ms", "walkMs"),
  timingColumn("reserve ms", "reserveMs"),
];

/** What the wall-clock columns of {@link formatTable} show, printed under the table. */
export function timingNote(rows: readonly MetricsRow[]): string {
  const ns = new Set(rows.flatMap((r) => Object.values(rowTimings(r)).map((t) => t.n)));
  if (ns.size === 0) return "";
  return `ms: median (min–max) of n = ${[...ns].sort((a, b) => a - b).join(", ")} isolated ` +
    "repeats after warm-up on this machine (docs/metrics.md says what each region covers); " +
    "the deterministic counters are the comparison to rely on.";
}

/** One cell of {@link formatTable} (`-` when the row has no value). */
export function tableCell(row: MetricsRow, c: TableColumn): string {
  if (c.cell) return c.cell(row) ?? "-";
  const v = row[c.metric];
  return v === undefined ? "-" : c.format ? c.format(v) : String(v);
}

/**
 * Rows as an aligned text table (missing values print as `-`); below it what the wall-clock
 * columns show and, per row, its errors and the reason of every outcome but `restored`
 * (`PROFILE: KIND: NAME: N OUTCOME — TEXT`, {@link outcomeReasonLines}).
 */
export function formatTable(
  rows: readonly MetricsRow[],
  columns: readonly TableColumn[] = COMPARE_COLUMNS,
): string {
  const cells = rows.map((r) => columns.map((c) => tableCell(r, c)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((row) => row[i].length))
  );
  const line = (xs: string[]) =>
    xs.map((x, i) => (i < 3 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ").trimEnd();
  const out = [line(columns.map((c) => c.header)), line(widths.map((w) => "-".repeat(w)))];
  for (const row of cells) out.push(line(row));
  const note = columns.some((c) => c.cell) ? timingNote(rows) : "";
  if (note) out.push("", note);
  const notes = rows.flatMap((r) => {
    const at = `${r.profile}${r.sweepValue ? ` @${r.sweepValue}` : ""}`;
    return [
      ...(r.errors ? [`${at}: ${r.errors}`] : []),
      ...outcomeReasonLines(r).map((line) => `${at}: ${line}`),
    ];
  });
  if (notes.length > 0) out.push("", ...notes);
  return out.join("\n") + "\n";
}
