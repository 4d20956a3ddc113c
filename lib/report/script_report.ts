/**
 * Reports from scripts (issue 17 §6): {@link writeScriptReport} runs a kholab script
 * (`kholab report FILE.kho --out DIR`) and writes the same kind of self-contained report as a
 * scenario's (`./report.ts`), from what the script measured and drew:
 *
 * - `index.html` — one page: the measured rows (a column per swept variable), the charts the
 *   script recorded with `chart KIND …` (inline SVG, each a `<figure>` with its caption), the
 *   tables and charts it showed, its expectations, its output, and the script itself with the
 *   command, seed, variables, versions and code revision that reproduce it;
 * - `data.json` — the same facts: every `measure` row as the script recorded it, each chart
 *   (kind, options, the rows it drew), the expectations, the output, the script text;
 * - `rows.csv` (a row per `measure`: label, swept variables, metrics), `expects.csv`, and
 *   `script.kho` (with any included script under `includes/`).
 *
 * A script that does not run to its end (a syntax or runtime error) writes nothing: the
 * result carries the error, as `kholab run` prints it. A failed `expect` still writes the
 * report (exit code 1): the page says which.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ExpectResult, MeasureRow, ScriptChart } from "../dsl/session.ts";
import { loadScriptDesigns } from "../dsl/designs.ts";
import { type RunResult, runScript } from "../dsl/run.ts";
import { sweepColumns } from "../dsl/show.ts";
import { readScriptFile } from "../dsl/source_file.ts";
import type { ScalarValue } from "../dsl/values.ts";
import type { MetricsRow } from "../metrics/metrics.ts";
import { escapeHtml } from "../plot/chart.ts";
import { ResultTable, type TableColumn } from "../plot/table.ts";
import type { Clock } from "../rng.ts";
import { formatBytes } from "../scenario/compare.ts";
import { rowsToCsv } from "../scenario/export.ts";
import { formatSize } from "../units.ts";
import { renderReportHtml, type ReportSection } from "./html.ts";
import { codeRevision, type Versions, versions } from "./provenance.ts";

/** What to run and where to write. */
export interface ScriptReportOptions {
  /**
   * The script's file name: shown on the page; included scripts and `design` modules resolve
   * against its folder.
   */
  file: string;
  /** The script text (default: the file, read as `kholab run` reads it: at most 4 MiB). */
  text?: string;
  /** Output directory (created). */
  outDir: string;
  /** Seed before the script's own `seed` statements (default 42, as `kholab run`). */
  seed?: number;
  /** Variables bound before the script runs (`--set NAME=VALUE`). */
  vars?: Readonly<Record<string, ScalarValue>>;
  /** Steps the run may take (default: the language's, 10 million). */
  maxSteps?: number;
  /** Host memory the run may take (see `SessionOptions.maxMemoryBytes`). */
  maxMemoryBytes?: number;
  /** Reads included scripts (default: as `kholab run`, a regular file of at most 4 MiB). */
  readFile?: (path: string) => string;
  /** Largest machine the script may power on (default 64 TiB). */
  maxRamBytes?: number;
  /** The command that reproduces the report, shown on the page. */
  command?: string;
  /** Page title (default `kholab report: FILE`). */
  title?: string;
  /** Called with each line the script prints, as it runs. */
  onOutput?: (line: string) => void;
  /** Clock of wall-clock metrics (`wallClock` from an entry point). */
  clock: Clock;
}

/** The facts that reproduce a script report (`data.json`'s `meta`). */
export interface ScriptReportMeta {
  /** Command line. */
  command: string;
  /** The script's file name as given. */
  file: string;
  /** SHA-256 of the script text (hex). */
  scriptSha256: string;
  /** Seed before the script's own `seed` statements. */
  seed: number;
  /** Variables bound before it ran. */
  vars: Record<string, ScalarValue>;
  /** The swept variables of its rows (a column each). */
  swept: string[];
  /** 0: every expect held; 1: one failed. */
  exitCode: 0 | 1;
  /** Expectations that held and failed. */
  expects: { passed: number; failed: number };
  /** Code revision. */
  revision: string;
  /** Versions. */
  versions: Versions;
}

/** One chart as `data.json` lists it. */
export interface ScriptChartJson {
  /** Name (`data-chart` on the page). */
  name: string;
  /** Kind (`metadata`, `walk`, `by-order`, `buddyinfo`, `sweep`). */
  kind: string;
  /** Caption: what is drawn and its unit. */
  caption: string;
  /** Options given to `chart`. */
  options: Record<string, ScalarValue>;
  /** Indices into `rows` of the rows drawn. */
  rows: number[];
}

/** What {@link writeScriptReport} did. */
export interface ScriptReportResult {
  /**
   * 0 written, every expect held; 1 written, an expect failed; 2 the script failed: nothing
   * written.
   */
  exitCode: 0 | 1 | 2;
  /** The script's error when it failed (as `kholab run` reports it), else null. */
  error: RunResult["results"]["error"];
  /** Everything the script printed (and its error). */
  output: string;
  /** The `measure` rows. */
  rows: MeasureRow[];
  /** The charts recorded with `chart`. */
  charts: ScriptChart[];
  /** Reproduction facts (null when nothing was written). */
  meta: ScriptReportMeta | null;
  /** Files written, in writing order (none when the script failed). */
  files: string[];
  /** The names of the charts on the page (`data-chart`): the script's, then its `show chart`s'. */
  pageCharts: string[];
}

/** `1 row`, `2 rows`. */
function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** The column of a swept variable (renamed if a metric or the label has its name). */
function paramColumn(name: string, metrics: ReadonlySet<string>): string {
  return name === "label" || metrics.has(name) ? `sweep.${name}` : name;
}

/**
 * The measured rows flattened for tables and CSV — label, swept variables, metrics — with the
 * table columns of the swept variables (a size variable shown with a binary unit).
 */
function flatRows(
  rows: readonly MeasureRow[],
  sizes: ReadonlySet<string>,
): { rows: MetricsRow[]; params: TableColumn[] } {
  const metrics = new Set(rows.flatMap((r) => Object.keys(r.metrics)));
  const params = sweepColumns(rows);
  return {
    params: params.map((p) => {
      const column = paramColumn(p, metrics);
      return sizes.has(p)
        ? { header: column, metric: column, format: (v) => formatSize(Number(v)) }
        : { header: column, metric: column };
    }),
    rows: rows.map((r) => {
      const flat: MetricsRow = { label: r.label };
      for (const p of params) {
        const v = r.params[p];
        if (v !== undefined) flat[paramColumn(p, metrics)] = typeof v === "boolean" ? String(v) : v;
      }
      return Object.assign(flat, r.metrics);
    }),
  };
}

/** The tables of measured rows: captions and metric columns (after label and swept values). */
const ROW_TABLES: readonly [string, readonly string[]][] = [
  [
    "Objects and handover at each measure",
    [
      "kernel.profile",
      "kernel.boot",
      "objects.count",
      "preserved.blocks",
      "preserved.bytes",
      "handover.bytes",
      "tracker.pages",
    ],
  ],
  [
    "The successor: walk, restore, verify",
    [
      "walk.blocks",
      "walk.pages",
      "walk.cachelines",
      "restore.ok",
      "restore.failed",
      "verify.ok",
      "verify.failed",
    ],
  ],
];

/** A table column of a metric: bytes with a binary unit, the rest as they are. */
function metricColumn(metric: string): TableColumn {
  return /bytes$/.test(metric) ? { header: metric, metric, format: formatBytes } : {
    header: metric,
    metric,
  };
}

/**
 * Runs the script and writes its report (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeScriptReport } from "./script_report.ts";
 * import { ManualClock } from "../rng.ts";
 * const outDir = await Deno.makeTempDir();
 * const r = await writeScriptReport({
 *   file: "small.kho",
 *   text: "machine ram=1G\nb = pages count=64\npreserve b\nmeasure label=before\n" +
 *     "kexec\nrestore b\nmeasure label=after\nchart metadata\nchart walk",
 *   outDir,
 *   clock: new ManualClock(),
 * });
 * assert.equal(r.exitCode, 0);
 * assert.deepEqual(r.charts.map((c) => c.kind), ["metadata", "walk"]);
 * const data = JSON.parse(await Deno.readTextFile(`${outDir}/data.json`));
 * assert.deepEqual(data.rows, JSON.parse(JSON.stringify(r.rows)));
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function writeScriptReport(
  options: ScriptReportOptions,
): Promise<ScriptReportResult> {
  const file = options.file;
  const text = options.text ?? readScriptFile(file);
  const read = options.readFile ?? ((p: string) => readScriptFile(p));
  const includes = new Map<string, string>();
  const readFile = (p: string) => {
    const t = read(p);
    includes.set(p, t);
    return t;
  };
  await loadScriptDesigns(text, { file, readFile: read });
  const shown: string[] = [];
  const seed = options.seed ?? 42;
  const vars = { ...options.vars };
  const run = runScript(text, {
    file,
    readFile,
    seed,
    vars,
    maxSteps: options.maxSteps,
    maxMemoryBytes: options.maxMemoryBytes,
    maxRamBytes: options.maxRamBytes,
    onOutput: options.onOutput,
    onShow: (item) => {
      if (item.html !== undefined && item.recorded === undefined) shown.push(item.html);
    },
    clock: options.clock,
  });
  const s = run.session;
  const pageCharts = s.charts.map((c) => c.name);
  if (run.exitCode === 2) {
    return {
      exitCode: 2,
      error: run.results.error,
      output: run.output,
      rows: s.rows,
      charts: s.charts,
      meta: null,
      files: [],
      pageCharts,
    };
  }
  const expects = run.results.expects;
  const failed = expects.filter((e) => !e.ok).length;
  const scriptSha256 = createHash("sha256").update(text).digest("hex");
  const swept = sweepColumns(s.rows);
  const meta: ScriptReportMeta = {
    command: options.command ??
      `deno task kholab report ${file} --seed ${seed} --out ${options.outDir}`,
    file,
    scriptSha256,
    seed,
    vars,
    swept,
    exitCode: failed > 0 ? 1 : 0,
    expects: { passed: expects.length - failed, failed },
    revision: codeRevision(),
    versions: versions(),
  };

  const flat = flatRows(s.rows, s.sizeVariables);
  const sections: ReportSection[] = [];
  const label: TableColumn[] = [{ header: "label", metric: "label" }, ...flat.params];
  sections.push({
    title: "Measured rows",
    text: s.rows.length === 0
      ? "The script measured nothing (measure label=…)."
      : `${plural(s.rows.length, "row")}, one per measure statement run` +
        (swept.length > 0 ? `, a column per swept variable (${swept.join(", ")})` : "") +
        ". Every metric of every row is in data.json and rows.csv; the counters are " +
        "deterministic (the same for this script, seed and revision on any machine).",
    tables: s.rows.length === 0 ? [] : ROW_TABLES.map(([caption, cols]) =>
      new ResultTable(
        flat.rows,
        [...label, ...cols.filter((c) => flat.rows.some((r) => c in r)).map(metricColumn)],
        caption,
      )
    ),
  });
  if (s.charts.length > 0) {
    sections.push({
      title: "Charts",
      text: "Drawn by the script's chart statements from the rows measured before each " +
        "(data.json lists the rows of each chart); a row's bar is in its profile's colour.",
      charts: s.charts.map((c) => c.chart),
    });
  }
  if (shown.length > 0) {
    sections.push({
      title: "Shown by the script",
      text: "The tables and charts of the script's show statements, in order.",
      html: shown.map((h, i) => renameShownChart(h, i, pageCharts)),
    });
  }
  if (expects.length > 0) {
    sections.push({
      title: "Expectations",
      text: failed === 0
        ? `All ${expects.length} expectations held.`
        : `${failed} of ${expects.length} expectations failed.`,
      tables: [
        new ResultTable(
          expectSummary(expects),
          ["where", "expect", "held", "failed", "values"],
          "Each expect statement once (a statement in a sweep runs once per point); values: " +
            "the names it read, at its first failure, else at its last run",
          { wrap: true },
        ),
      ],
    });
  }
  sections.push({
    title: "Output",
    pre: [{
      title: `What the script printed (${s.output.length} lines)`,
      text: s.output.join("\n"),
      collapsed: true,
    }],
  });
  sections.push({
    title: "Script",
    text: "The script as it ran (run it again with the command above).",
    pre: [
      { title: file, text },
      ...[...includes].map(([f, t]) => ({ title: `included: ${f}`, text: t })),
    ],
  });
  const reproduce: Record<string, string> = {
    command: meta.command,
    script: `${file} (sha-256 ${scriptSha256})`,
    seed: `${seed} (before the script's own seed statements)`,
    ...(Object.keys(vars).length > 0
      ? { variables: Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(" ") }
      : {}),
    ...(swept.length > 0 ? { swept: swept.join(", ") } : {}),
    "code revision": meta.revision,
    versions: Object.entries(meta.versions).map(([k, v]) => `${k} ${v}`).join(", "),
  };
  const html = renderReportHtml({
    title: options.title ?? `kholab report: ${file}`,
    summary: `The kholab script ${file}: ${plural(s.rows.length, "measured row")}, ` +
      `${plural(s.charts.length, "chart")}, ${expects.length - failed} of ${expects.length} ` +
      "expectations held. " +
      "Deterministic metrics are identical for this script, seed and revision on any " +
      "machine; wall-clock figures (a scenario's …Ms) are measured on the machine that " +
      "wrote the report.",
    reproduce,
    sections,
  });

  await Deno.mkdir(options.outDir, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, content: string) => {
    const path = join(options.outDir, name);
    await Deno.writeTextFile(path, content);
    files.push(path);
  };
  await write("index.html", html);
  const charts: ScriptChartJson[] = s.charts.map((c) => ({
    name: c.name,
    kind: c.kind,
    caption: c.chart.caption,
    options: { ...c.options },
    rows: [...c.rows],
  }));
  await write(
    "data.json",
    JSON.stringify(
      {
        meta,
        script: {
          file,
          text,
          sha256: scriptSha256,
          includes: [...includes].map(([f, t]) => ({ file: f, text: t })),
        },
        rows: s.rows,
        charts,
        expects,
        output: s.output,
      },
      null,
      2,
    ) + "\n",
  );
  await write("rows.csv", flat.rows.length > 0 ? rowsToCsv(flat.rows) : "label\n");
  await write(
    "expects.csv",
    expects.length > 0 ? rowsToCsv(expects.map(expectRow)) : "where,expect,result,values\n",
  );
  await write("script.kho", text);
  let n = 0;
  for (const [f, t] of includes) {
    await Deno.mkdir(join(options.outDir, "includes"), { recursive: true });
    await write(join("includes", `${++n}-${f.replace(/^.*\//, "")}`), t);
  }
  return {
    exitCode: meta.exitCode,
    error: null,
    output: run.output,
    rows: s.rows,
    charts: s.charts,
    meta,
    files,
    pageCharts,
  };
}

/** The expectations grouped by statement: held and failed counts, the telling values. */
function expectSummary(expects: readonly ExpectResult[]): MetricsRow[] {
  const by = new Map<
    string,
    { first: ExpectResult; held: number; failed: number; show: ExpectResult }
  >();
  for (const e of expects) {
    const key = `${e.file}:${e.line}:${e.source}`;
    const g = by.get(key) ?? { first: e, held: 0, failed: 0, show: e };
    if (e.ok) g.held++;
    else g.failed++;
    if (g.failed === 0 || (!e.ok && g.failed === 1)) g.show = e;
    by.set(key, g);
  }
  return [...by.values()].map((g) => ({
    where: `${g.first.file}:${g.first.line}`,
    expect: g.first.source,
    held: g.held,
    failed: g.failed,
    values: valuesText(g.show),
  }));
}

/** The values an expectation read, as `name = value, …`. */
function valuesText(e: ExpectResult): string {
  return Object.entries(e.values).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ");
}

/** An expectation as a CSV row. */
function expectRow(e: ExpectResult): MetricsRow {
  return {
    where: `${e.file}:${e.line}`,
    expect: e.source,
    result: e.ok ? "held" : "FAILED",
    values: valuesText(e),
  };
}

/**
 * A shown item's HTML with its chart (if it is one) named uniquely on the page
 * (`shown2-dsl_measure`: a script may show the same chart twice), the name added to `names`.
 */
function renameShownChart(html: string, index: number, names: string[]): string {
  const m = /^<figure class="kholab-chart" data-chart="([^"]*)">/.exec(html);
  if (!m) return html;
  const name = `shown${index + 1}-${m[1]}`;
  names.push(name);
  return html.replace(m[0], `<figure class="kholab-chart" data-chart="${escapeHtml(name)}">`);
}
