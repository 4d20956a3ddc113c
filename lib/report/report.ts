/**
 * Reproducible reports: {@link writeReport} runs a scenario for every profile (or a sweep),
 * draws the standard figures and writes into a directory
 *
 * - `index.html` — one self-contained page: inline SVG charts, tables, and the exact command,
 *   seed, parameters, versions and code revision that reproduce it;
 * - `data.json` — the same facts and every row;
 * - `rows.csv`, `matrix.csv`, `buddyinfo.csv`, `radix_levels.csv`.
 *
 * {@link demoReport} is `deno task demo`: the 1 TiB hypervisor report and its summary table.
 * The command line (`kholab report …`, `cli.ts`) parses its arguments into {@link ReportOptions}.
 *
 * @module
 */

import { join } from "node:path";
import type { ProfileName } from "../kho/profiles.ts";
import { getProfile } from "../kho/profiles.ts";
import type { MetricsRow } from "../metrics/metrics.ts";
import { Chart, type FigureOptions } from "../plot/chart.ts";
import {
  buddyinfoFigure,
  compatMatrixFigure,
  metadataBarsFigure,
  metadataFigure,
  orderShareFigure,
  orderShareRows,
  radixOccupancyFigure,
  sweepFigure,
  timingFigure,
  walkCostFigure,
  walkTimeFigure,
} from "../plot/figures.ts";
import { Progress } from "../plot/progress.ts";
import { ResultTable } from "../plot/table.ts";
import { abiMatrix, type AbiMatrixCell } from "../scenario/abi_matrix.ts";
import {
  COMPARE_COLUMNS,
  formatTable,
  OUTCOME_TABLE_COLUMNS,
  outcomeRows,
} from "../scenario/compare.ts";
import { rowJson, rowsToCsv } from "../scenario/export.ts";
import { availableProfiles, DEFAULT_REPEAT } from "../scenario/run.ts";
import { DEFAULT_WARMUP, DEFAULT_WARMUP_MS } from "../metrics/replay.ts";
import { type ParamValue, resolveParams } from "../scenario/scenarios.ts";
import { runSweep, type SweepOptions } from "../scenario/sweep.ts";
import { renderReportHtml, type ReportSection } from "./html.ts";
import type { KexecInspection } from "./inspect.ts";
import type { InspectJob } from "./inspect_job.ts";
import { codeRevision, type Versions, versions } from "./provenance.ts";
export { PROFILE_NAMES, type ProfileName } from "../kho/profiles.ts";
export type { ParamValue } from "../scenario/scenarios.ts";
export type { AbiMatrixCell } from "../scenario/abi_matrix.ts";
export type { MetricsRow, MetricValue } from "../metrics/metrics.ts";

/** What to report on: the {@link SweepOptions} the report's sweep takes, and the page's own. */
export interface ReportOptions extends
  Pick<
    SweepOptions,
    "params" | "param" | "values" | "profiles" | "seed" | "workers" | "maxMemoryBytes" | "clock"
  > {
  /** Scenario. Default `hypervisor`. */
  scenario?: string;
  /**
   * Timed samples of each wall-clock region per point, after warm-up (default
   * `DEFAULT_REPEAT`, 5; at least 1).
   */
  repeat?: number;
  /** Output directory (created). */
  outDir: string;
  /** The command that reproduces the report, shown on the page. */
  command?: string;
  /** Page title. */
  title?: string;
  /**
   * Profiles whose kexec is inspected (buddyinfo, radix levels), one collapsible part each.
   * Default: every profile of the report.
   */
  inspectProfiles?: readonly ProfileName[];
  /** Include the ABI compatibility matrix (default true). */
  matrix?: boolean;
  /** Show progress (notebook display or TTY line). Default true. */
  progress?: boolean;
}

/** The facts that reproduce a report (`data.json`'s `meta`). */
export interface ReportMeta {
  /** Command line. */
  command: string;
  /** Scenario. */
  scenario: string;
  /** Seed. */
  seed: number;
  /** Resolved parameters. */
  params: Record<string, ParamValue>;
  /** Swept parameter and values, when a sweep. */
  sweep: { param: string; values: string[] } | null;
  /** Profiles. */
  profiles: string[];
  /** How the wall-clock figures were measured. */
  timing: { repeat: number; warmup: number; warmupMs: number; method: string };
  /** Code revision. */
  revision: string;
  /** Versions. */
  versions: Versions;
}

/** What {@link writeReport} produced. */
export interface ReportResult {
  /** The metrics rows. */
  rows: MetricsRow[];
  /** The compatibility matrix (empty when left out). */
  matrix: AbiMatrixCell[];
  /** The first inspected kexec, or null. */
  inspection: KexecInspection | null;
  /** Every inspected kexec, in profile order. */
  inspections: KexecInspection[];
  /** Reproduction facts. */
  meta: ReportMeta;
  /** The summary as an aligned text table. */
  summary: string;
  /** Files written (absolute or as given, in writing order). */
  files: string[];
  /** The charts on the page (name → chart). */
  charts: Map<string, Chart>;
}

function csv(rows: readonly object[]): string {
  return rowsToCsv(rows as unknown as MetricsRow[]);
}

/**
 * Runs and writes a report (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeReport } from "./report.ts";
 * import { ManualClock } from "../rng.ts";
 * const outDir = await Deno.makeTempDir();
 * const r = await writeReport({
 *   scenario: "uniform", params: { ramBytes: "2G", pages: 100 }, profiles: ["kho-v4"],
 *   outDir, workers: 0, progress: false, clock: new ManualClock(),
 * });
 * assert.equal(r.rows.length, 1);
 * assert.equal(r.rows[0].lostObjects, 0);
 * assert.ok(r.files.includes(`${outDir}/index.html`) && r.files.includes(`${outDir}/rows.csv`));
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function writeReport(options: ReportOptions): Promise<ReportResult> {
  const scenario = options.scenario ?? "hypervisor";
  const seed = options.seed ?? 1;
  const profiles = [...(options.profiles ?? availableProfiles())].map((p) => getProfile(p).name);
  const params = resolveParams(scenario, options.params);
  const sweep = options.param !== undefined
    ? { param: options.param, values: (options.values ?? []).map(String) }
    : null;
  const total = profiles.length * (sweep ? sweep.values.length : 1);
  const repeat = options.repeat ?? DEFAULT_REPEAT;
  if (!Number.isSafeInteger(repeat) || repeat < 1) {
    throw new RangeError(`repeat=${repeat}: a report needs at least 1 timed sample per region`);
  }
  const inspectProfiles = [...(options.inspectProfiles ?? profiles)].map((p) => getProfile(p).name);
  const progress = options.progress === false
    ? null
    : new Progress(`report ${scenario}`, 2 * total + 1 + inspectProfiles.length);
  let steps = 0;
  // The kexec inspections run on the sweep's workers once every point is timed.
  const inspectJobs: InspectJob[] = inspectProfiles.map((profile) => ({
    scenario,
    profile,
    params: sweep
      ? { ...options.params, [sweep.param]: sweep.values[sweep.values.length - 1] }
      : options.params,
    seed,
  }));
  const inspections: KexecInspection[] = new Array(inspectJobs.length);
  let inspected = 0;
  const rows = await runSweep({
    scenario,
    params: options.params,
    param: options.param,
    values: options.values,
    profiles,
    seed,
    workers: options.workers,
    maxMemoryBytes: options.maxMemoryBytes,
    repeat,
    onEvent: progress
      ? (e) => {
        if (e.type === "run-end") progress.update(++steps, `run ${e.index + 1}/${e.total}`);
        if (e.type === "time-end") progress.update(++steps, `timed ${e.index + 1}/${e.total}`);
      }
      : undefined,
    clock: options.clock,
    afterJobs: {
      module: new URL("./inspect_job.ts", import.meta.url).href,
      jobs: inspectJobs,
      onResult: (i, result) => {
        inspections[i] = result as KexecInspection;
        progress?.update(
          2 * total + 1 + ++inspected,
          `inside one kexec: ${inspectJobs[i].profile}`,
        );
      },
    },
  });
  const matrix = options.matrix === false ? [] : abiMatrix(profiles);
  progress?.update(2 * total + 1 + inspectJobs.length, "compatibility matrix");
  const inspection = inspections[0] ?? null;
  await progress?.done("writing");

  const meta: ReportMeta = {
    command: options.command ?? `deno task kholab report --scenario ${scenario} --seed ${seed}`,
    scenario,
    seed,
    params,
    sweep,
    profiles,
    timing: {
      repeat,
      warmup: DEFAULT_WARMUP,
      warmupMs: DEFAULT_WARMUP_MS,
      method: "each point's run reads no clock; its timed regions are replayed afterwards " +
        `(up to ${DEFAULT_WARMUP} untimed warm-up runs, fewer once they took ` +
        `${DEFAULT_WARMUP_MS} ms, then \`repeat\` timed), one point at a time in ` +
        "one thread while no " +
        "point runs (lib/metrics/replay.ts, docs/metrics.md)",
    },
    revision: codeRevision(),
    versions: versions(),
  };

  const charts = new Map<string, Chart>();
  const add = (name: string, figure: FigureOptions) => {
    const c = new Chart(figure, name);
    charts.set(name, c);
    return c;
  };
  const lastPoint = sweep ? rows.filter((r) => r.sweepValue === sweep.values.at(-1)) : rows;
  const sections: ReportSection[] = [];
  const floorText = String(lastPoint.find((r) => r.floorDomains)?.floorDomains ?? "");
  sections.push({
    title: sweep ? `Summary at ${sweep.param} = ${sweep.values.at(-1)}` : "Summary",
    text: "Metadata the successor must read (handover) against the information floor, the " +
      "bits any encoding needs for what the scenario drew at random (lib/metrics/floor.ts; " +
      `here: ${floorText || "none"}); then the walk's deterministic cost counters — the ` +
      "comparison to rely on — and the wall-clock times of this machine: median (min–max) " +
      `in ms of ${repeat} isolated repeats after warm-up, each region replayed on what the ` +
      "run recorded while no other point ran (docs/metrics.md says what each covers). " +
      OUTCOMES_TEXT,
    tables: [
      ...SUMMARY_TABLES.map(([caption, headers]) =>
        new ResultTable(
          lastPoint,
          headers.map((h) => COMPARE_COLUMNS.find((c) => c.header === h)!),
          caption,
        )
      ),
      new ResultTable(
        outcomeRows(lastPoint),
        OUTCOME_TABLE_COLUMNS,
        "Outcomes: what became of every object the scenario attempted, per profile, with the " +
          "reasons by kind (deterministic; per kind in data.json and rows.csv)",
      ),
    ],
  });
  const metadataCharts = [
    add("metadata_bars", metadataBarsFigure(lastPoint)),
    add("walk_cost", walkCostFigure(lastPoint)),
  ];
  const shares = orderShareRows(lastPoint);
  if (shares.length > 0) {
    metadataCharts.push(
      add("order_share", orderShareFigure(shares)),
    );
  }
  sections.push({
    title: "Metadata and walk",
    text: "Each profile in the same colour in every chart. The per-order shares build each " +
      "order's blocks alone in a tracker of the profile's kind (lib/metrics/by_order.ts).",
    charts: metadataCharts,
  });
  const timed: [string, string, string][] = [
    ["preserve_time", "preserveMs", "Tracker's share of the preserve calls, wall clock"],
    ["finalize_time", "finalizeMs", "kho_finalize's serialization, wall clock"],
    ["walk_time", "walkMs", "Successor's tracker walk, wall clock"],
    ["reserve_time", "reserveMs", "Successor's kho_mem_retrieve, wall clock"],
  ];
  sections.push({
    title: "Wall clock",
    text: `Milliseconds on the machine that wrote this report: bars at the median of ${repeat} ` +
      `isolated repeats after up to ${DEFAULT_WARMUP} untimed warm-up runs, black rules from the ` +
      "fastest to the " +
      "slowest sample. Each region is replayed on what the run recorded (the tracker's " +
      "operations, the handed-over bytes), one point at a time while no other point runs; " +
      "docs/metrics.md says exactly what each covers. Times vary between machines and runs: " +
      "the deterministic counters above are the comparison to rely on.",
    charts: timed.filter(([, metric]) => lastPoint.some((r) => `${metric}.n` in r))
      .map(([name, metric, title]) =>
        add(
          name,
          metric === "walkMs"
            ? walkTimeFigure(lastPoint, title)
            : timingFigure(lastPoint, metric, { title }),
        )
      ),
  });
  if (sweep) {
    const column = (h: string) => COMPARE_COLUMNS.find((c) => c.header === h)!;
    sections.push({
      title: `Sweep over ${sweep.param}`,
      text: `Every point of the sweep: ${sweep.param} = ${sweep.values.join(", ")}, for each ` +
        "profile (deterministic counters; every metric in data.json and rows.csv).",
      tables: [
        new ResultTable(
          rows,
          [
            { header: sweep.param, metric: "sweepValue" },
            ...["profile", "status", "blocks", "handover", "floor", "walk lines", "walk pages"]
              .map(column),
            column("outcomes"),
          ],
          `Every point, by ${sweep.param} and profile`,
        ),
      ],
      charts: [
        add("metadata", metadataFigure(rows)),
        add("sweep_handover", sweepFigure(rows)),
        add("sweep_walk", sweepFigure(rows, { y: "walkCacheLines" })),
      ],
    });
  }
  if (inspections.length > 0) {
    sections.push({
      title: "Inside one kexec",
      text: "For each profile (open its part): free blocks per order before kexec (first " +
        "kernel, after preserving) and after the successor's boot; for radix-tree profiles, " +
        "the occupancy of the handed-over tree by level. Each part names the successor's " +
        "configuration and whose verdict on the handover it applied." +
        (sweep ? ` At ${sweep.param} = ${sweep.values.at(-1)}.` : ""),
      groups: inspections.map((v, i) => ({
        title: `${v.profile}${v.khoBoot ? "" : " (handover refused: cold boot)"}`,
        text: `The successor booted with ${v.boot.config || "the default configuration"} and ` +
          `applied ${
            v.boot.verdict === "strict" ? "kholab's strict checks" : "the kernel's verdict"
          }` +
          (v.khoBoot
            ? "."
            : `: ${v.boot.refused ?? "no KHO"}${
              v.boot.strictCheck ? ` (strict check: ${v.boot.strictCheck})` : ""
            }.`),
        open: i === 0,
        charts: [
          add(
            `buddyinfo-${v.profile}`,
            buddyinfoFigure(v.buddyinfo, `Free blocks per order around kexec, ${v.profile}`),
          ),
          ...(v.radix
            ? [add(
              `radix_levels-${v.profile}`,
              radixOccupancyFigure(v.radix.levels, `Radix tree occupancy, ${v.profile}`),
            )]
            : []),
        ],
      })),
    });
  }
  if (matrix.length > 0) {
    sections.push({
      title: "ABI compatibility matrix",
      text: "Every profile kexecs into every profile with folios of orders 0..9 preserved.",
      charts: [add("compat_matrix", compatMatrixFigure(matrix))],
    });
  }
  const reproduce: Record<string, string> = {
    command: meta.command,
    seed: String(seed),
    scenario,
    parameters: JSON.stringify(params),
    ...(sweep ? { sweep: `${sweep.param} = ${sweep.values.join(", ")}` } : {}),
    profiles: profiles.join(", "),
    "code revision": meta.revision,
    versions: Object.entries(meta.versions).map(([k, v]) => `${k} ${v}`).join(", "),
  };
  const html = renderReportHtml({
    title: options.title ?? `kholab report: ${scenario}`,
    summary: `${scenario} scenario, ${profiles.length} profiles, seed ${seed}. ` +
      "Deterministic metrics are identical for this seed and revision on any machine; " +
      "times (ms) are measured on the machine that wrote the report.",
    reproduce,
    sections,
  });

  await Deno.mkdir(options.outDir, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, text: string) => {
    const path = join(options.outDir, name);
    await Deno.writeTextFile(path, text);
    files.push(path);
  };
  await write("index.html", html);
  await write(
    "data.json",
    JSON.stringify({ meta, rows: rows.map((r) => rowJson(r)), matrix, inspections }, null, 2) +
      "\n",
  );
  await write("rows.csv", rowsToCsv(rows));
  if (matrix.length > 0) {
    await write(
      "matrix.csv",
      csv(matrix.map((c) => ({
        from: c.from,
        to: c.to,
        verdict: c.verdict,
        accepted: c.accepted ? 1 : 0,
        preserved: c.preserved,
        restored: c.restored,
        reason: c.reason ?? "",
      }))),
    );
  }
  if (inspections.length > 0) {
    await write(
      "buddyinfo.csv",
      csv(inspections.flatMap((v) => v.buddyinfo.map((b) => ({ profile: v.profile, ...b })))),
    );
    const levels = inspections.flatMap((v) =>
      v.radix ? v.radix.levels.map((l) => ({ profile: v.profile, ...l })) : []
    );
    if (levels.length > 0) await write("radix_levels.csv", csv(levels));
  }
  return {
    rows,
    matrix,
    inspection,
    inspections,
    meta,
    summary: formatTable(lastPoint),
    files,
    charts,
  };
}

/** What the outcomes table says (the summary's last sentences). */
const OUTCOMES_TEXT = "Every object the scenario attempted ends in one outcome, counted per " +
  "profile in the last table with the reasons next to the counts (per kind in data.json and " +
  "rows.csv): restored (content verified), " +
  "unsupported (the generation lacks the API or capability: not handed over, not lost), " +
  "refused (the successor refused the handover), failedRestore (the successor kept the memory, " +
  "the restore call failed: its errno and log line), corrupted (content hash differs), lost " +
  "(not found: where it went missing — e.g. the walk did not keep it and memblock_free_all gave " +
  "it to the page allocator; with poison off such content may still match, and the reason says " +
  "it survived only because freed memory was not overwritten).";

/** The summary, split in four tables that fit the page: captions and column headers. */
const SUMMARY_TABLES: readonly [string, readonly string[]][] = [
  [
    "Metadata (deterministic; bytes with binary prefixes)",
    [
      "profile",
      "tracker",
      "status",
      "blocks",
      "live",
      "serialized",
      "handover",
      "floor",
      "allocs",
    ],
  ],
  [
    "Struct pages of the successor (deterministic): what the preserved memory's struct pages " +
    "take at boot, what KHO made it write, what stays mapped after HVO",
    ["profile", "preserved memmap", "struct-page writes", "memmap after HVO"],
  ],
  [
    "Successor's walk (deterministic counters)",
    ["profile", "walk lines", "walk words", "walk entries", "walk pages"],
  ],
  [
    "Wall clock (ms on this machine: median (min–max) of isolated repeats after warm-up)",
    ["profile", "preserve ms", "finalize ms", "walk ms", "reserve ms"],
  ],
];

/** Options of {@link demoReport}. */
export interface DemoReportOptions extends
  Pick<
    ReportOptions,
    "params" | "profiles" | "seed" | "workers" | "repeat" | "maxMemoryBytes" | "progress" | "clock"
  > {
  /** Output directory. Default `report/demo`. */
  outDir?: string;
}

/**
 * `deno task demo`: the 1 TiB hypervisor report (guest hugetlbfs memfds of 1 GiB pages through
 * LUO where the profile can, 16 GiB hypervisor pool, every profile) written to `report/demo/`;
 * returns the result (print `summary`).
 */
export function demoReport(options: DemoReportOptions): Promise<ReportResult> {
  const outDir = options.outDir ?? "report/demo";
  return writeReport({
    scenario: "hypervisor",
    params: options.params,
    profiles: options.profiles,
    seed: options.seed ?? 1,
    workers: options.workers,
    repeat: options.repeat,
    maxMemoryBytes: options.maxMemoryBytes,
    outDir,
    progress: options.progress,
    clock: options.clock,
    title: "kholab demo: a 1 TiB hypervisor host across kexec",
    command: options.params
      ? `deno task kholab report --scenario hypervisor --seed ${options.seed ?? 1} ` +
        (options.repeat !== undefined ? `--repeat ${options.repeat} ` : "") +
        Object.entries(options.params).map(([k, v]) => `${k}=${v}`).join(" ") +
        ` --out ${outDir}`
      : `deno task demo${options.repeat !== undefined ? ` --repeat ${options.repeat}` : ""}`,
  });
}
