/**
 * The profile comparison: the default `hypervisor` scenario (1 TiB, 2 nodes, 1008 × 1 GiB
 * guest folios through memfd, 1 Mi preserved order-0 pages in a 16 GiB pool, vmalloc
 * buffers, DMA blocks) for every available profile, as rows and as a text table. The command
 * line's `compare` and `sweep` (`cli.ts`) parse their arguments into these options.
 *
 * @module
 */

import type { ProfileName } from "../kho/profiles.ts";
import type { Clock } from "../rng.ts";
import type { MetricsRow, MetricValue } from "../metrics/metrics.ts";
import type { ParamValue } from "./scenarios.ts";
import { runSweep, type SweepOptions } from "./sweep.ts";

/** Options of {@link compareProfiles}. */
export interface CompareOptions {
  /** Scenario. Default `hypervisor`. */
  scenario?: string;
  /** Parameters over the scenario's defaults. */
  params?: Readonly<Record<string, ParamValue>>;
  /** Profiles. Default: every available one. */
  profiles?: readonly ProfileName[];
  /** Seed. Default 1. */
  seed?: number;
  /** Workers (default: all cores; 0 = this thread). */
  workers?: number;
  /** Host memory the runs may take at once (see {@link SweepOptions.maxMemoryBytes}). */
  maxMemoryBytes?: number;
  /** Progress callback. */
  onRow?: SweepOptions["onRow"];
  /** Clock for the wall-clock metrics (see {@link SweepOptions.clock}). */
  clock: Clock;
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
    maxMemoryBytes: options.maxMemoryBytes,
    onRow: options.onRow,
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
}

/** Bytes with a binary unit, three significant digits. */
export function formatBytes(v: MetricValue): string {
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let x = n;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u === 0
    ? `${n} B`
    : `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)} ${units[u]}`;
}

const ms = (v: MetricValue) => Number(v).toFixed(1);

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
  { header: "lost", metric: "lostObjects" },
  { header: "preserve ms", metric: "preserveMs", format: ms },
  { header: "finalize ms", metric: "finalizeMs", format: ms },
  { header: "walk ms", metric: "walkMs", format: ms },
  { header: "boot ms", metric: "bootMs", format: ms },
];

/** Rows as an aligned text table (missing values print as `-`), errors listed below. */
export function formatTable(
  rows: readonly MetricsRow[],
  columns: readonly TableColumn[] = COMPARE_COLUMNS,
): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      const v = r[c.metric];
      return v === undefined ? "-" : c.format ? c.format(v) : String(v);
    })
  );
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((row) => row[i].length))
  );
  const line = (xs: string[]) =>
    xs.map((x, i) => (i < 3 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ").trimEnd();
  const out = [line(columns.map((c) => c.header)), line(widths.map((w) => "-".repeat(w)))];
  for (const row of cells) out.push(line(row));
  const errs = rows.filter((r) => r.errors);
  if (errs.length > 0) {
    out.push("");
    for (const r of errs) {
      out.push(`${r.profile}${r.sweepValue ? ` @${r.sweepValue}` : ""}: ${r.errors}`);
    }
  }
  return out.join("\n") + "\n";
}
