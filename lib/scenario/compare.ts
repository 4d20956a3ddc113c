/**
 * The profile comparison: the default `hypervisor` scenario (1 TiB, 2 nodes, 1008 × 1 GiB
 * guest folios through memfd, 1 Mi preserved order-0 pages in a 16 GiB pool, vmalloc
 * buffers, DMA blocks) for every available profile, as rows and as a text table; and the
 * command-line entry points `compare` and `sweep` (wired into `cli.ts` by its owner).
 *
 * @module
 */

import { getProfile, type ProfileName } from "../kho/abi/profiles.ts";
import type { Clock } from "../rng.ts";
import type { MetricsRow, MetricValue } from "../metrics/metrics.ts";
import { rowsToCsv, rowsToJson } from "./export.ts";
import { LADDER_HOST_BYTES, type ParamValue } from "./scenarios.ts";
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

/** Parsed command-line options: `--key value`, `--key=value`, repeated `--set k=v`, positionals. */
interface ParsedArgs {
  opts: Map<string, string>;
  sets: Record<string, string>;
  positional: string[];
}

function parseArgs(args: readonly string[]): ParsedArgs {
  const opts = new Map<string, string>();
  const sets: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const key = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const value = eq >= 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new SyntaxError(`--${key} needs a value`);
      if (key === "set") {
        const j = value.indexOf("=");
        if (j <= 0) throw new SyntaxError(`--set ${value}: expected name=value`);
        sets[value.slice(0, j)] = value.slice(j + 1);
      } else opts.set(key, value);
    } else if (/^[A-Za-z]\w*=/.test(a)) {
      const j = a.indexOf("=");
      sets[a.slice(0, j)] = a.slice(j + 1);
    } else positional.push(a);
  }
  return { opts, sets, positional };
}

function common(p: ParsedArgs): { profiles?: ProfileName[]; seed?: number; workers?: number } {
  const profiles = p.opts.get("profiles");
  const list = profiles === undefined || profiles === "all"
    ? undefined
    : profiles.split(",").map((x) => getProfile(x.trim()).name);
  const seed = p.opts.has("seed") ? Number(p.opts.get("seed")) : undefined;
  const workers = p.opts.has("workers") ? Number(p.opts.get("workers")) : undefined;
  return { profiles: list, seed, workers };
}

function render(rows: MetricsRow[], format: string | undefined): string {
  switch (format ?? "table") {
    case "json":
      return rowsToJson(rows);
    case "csv":
      return rowsToCsv(rows);
    case "table":
      return formatTable(rows);
    default:
      throw new RangeError(`--format ${format}: table, json or csv`);
  }
}

/** Usage of {@link compareCommand}. */
export const COMPARE_USAGE: string =
  "compare [--scenario NAME] [--profiles all|a,b] [--workers N] " +
  "[--seed N] [--format table|json|csv] [name=value …]";

/** Usage of {@link sweepCommand}. */
export const SWEEP_USAGE: string =
  "sweep SCENARIO [--param NAME --values v1,v2,…] [--profiles all|a,b] " +
  "[--workers N] [--seed N] [--format csv|json|table] [name=value …]  " +
  "(ladder without --param sweeps hostBytes over 512G,1T,2T,6T,12T,24T,32T)";

/**
 * `kholab compare …`: the default hypervisor scenario (or `--scenario`) for every profile;
 * returns the text to print (a table by default).
 *
 * @example
 * ```ts
 * import { compareCommand } from "./compare.ts";
 * import { ManualClock } from "../rng.ts";
 * const text = await compareCommand(["--scenario", "uniform", "ramBytes=2G", "pages=50",
 *   "--profiles", "kho-v4", "--workers", "0"], new ManualClock());
 * console.assert(text.startsWith("profile"));
 * ```
 */
export async function compareCommand(args: readonly string[], clock: Clock): Promise<string> {
  const p = parseArgs(args);
  const rows = await compareProfiles({
    scenario: p.opts.get("scenario") ?? p.positional[0] ?? "hypervisor",
    params: p.sets,
    ...common(p),
    clock,
  });
  return render(rows, p.opts.get("format"));
}

/**
 * `kholab sweep SCENARIO --param NAME --values …`: one row per (value, profile); returns
 * CSV by default.
 */
export async function sweepCommand(args: readonly string[], clock: Clock): Promise<string> {
  const p = parseArgs(args);
  const scenario = p.opts.get("scenario") ?? p.positional[0];
  if (scenario === undefined) throw new SyntaxError(`usage: ${SWEEP_USAGE}`);
  let param = p.opts.get("param");
  let values: ParamValue[] | undefined = p.opts.get("values")?.split(",").map((v) => v.trim());
  if (param === undefined && scenario === "ladder") {
    param = "hostBytes";
    values = [...LADDER_HOST_BYTES];
  }
  if (param !== undefined && (values === undefined || values.length === 0)) {
    throw new SyntaxError(`--param ${param} needs --values`);
  }
  const rows = await runSweep({ scenario, params: p.sets, param, values, ...common(p), clock });
  return render(rows, p.opts.get("format") ?? "csv");
}
