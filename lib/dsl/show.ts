/**
 * `show TOPIC`: views of a session — the measured table and a chart of it, metrics, objects,
 * `reserve_mem=` regions, the kernel log, /proc/buddyinfo, the root FDT as DTS, the tracker,
 * scratch areas, profiles and the configuration. Each view is text (what a terminal prints);
 * tables and the chart also carry HTML for notebooks.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { describeBootConfig, resolveBootConfig } from "../boot/options.ts";
import { getProfile, profileNames } from "../kho/profiles.ts";
import { nativePropertyNote } from "../kho/abi/native_props.ts";
import { toDts } from "../kho/fdt/dts.ts";
import { FDT_MAGIC } from "../kho/fdt/format.ts";
import { KHO_FDT_SIZE } from "../kho/abi/kexec_handover.ts";
import type { MetricsRow } from "../metrics/metrics.ts";
import { Chart, escapeHtml } from "../plot/chart.ts";
import { ResultTable } from "../plot/table.ts";
import { formatSize, hex } from "../units.ts";
import { formatTiming, TIMING_STATS, type TimingStats } from "../metrics/timing.ts";
import { describe } from "./objects.ts";
import { showOutcomes } from "./outcomes.ts";
import { textTable } from "./text_table.ts";
import type { ScalarValue } from "./values.ts";
export { textTable } from "./text_table.ts";
import type { MeasureRow, Session, Shown } from "./session.ts";
import type { CommandTable } from "./spec.ts";

/** Topics of `show`. */
export const SHOW_TOPICS = [
  "table",
  "chart",
  "metrics",
  "objects",
  "outcomes",
  "reserve_mem",
  "log",
  "buddyinfo",
  "fdt",
  "tracker",
  "scratch",
  "profiles",
  "config",
] as const;

const DEFAULT_COLUMNS = [
  "kernel.boot",
  "kernel.profile",
  "objects.count",
  "preserved.bytes",
  "tracker.pages",
  "walk.blocks",
  "restore.ok",
  "restore.failed",
  "verify.failed",
];

const DEFAULT_CHART_COLUMNS = ["tracker.pages", "walk.blocks"];

/**
 * The line under `show metrics` naming the metrics without a value yet (they read as 0 in
 * `expect` and `measure`): a family of more than three none of whose members is `set`, as
 * `prefix.* (N)` with what sets it; otherwise each name, a timing's statistics folded into it
 * (`scenario.finalizeMs (.n .median .min .max)`: the last scenario had no such region).
 */
export function unsetNote(names: readonly string[], set: readonly string[] = []): string {
  const setPrefixes = new Set(set.map((n) => n.split(".")[0]));
  const byPrefix = new Map<string, string[]>();
  for (const n of names) {
    const prefix = n.split(".")[0];
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), n]);
  }
  const folded = (ns: string[]) =>
    ns.flatMap((n) => {
      const base = n.replace(/\.(n|median|min|max)$/, "");
      if (base !== n && ns.includes(base)) return [];
      const stats = TIMING_STATS.filter((st) => ns.includes(`${n}.${st}`));
      return [stats.length > 0 ? `${n} (${stats.map((st) => `.${st}`).join(" ")})` : n];
    });
  const parts = [...byPrefix].flatMap(([prefix, ns]) =>
    ns.length > 3 && !setPrefixes.has(prefix)
      ? [`${prefix}.* (${ns.length}${prefix === "scenario" ? ", set by `scenario NAME`" : ""})`]
      : folded(ns)
  );
  return `not set yet (0 in expect and measure): ${parts.join(", ")}`;
}

/** A text table that shows as an HTML table in notebooks. */
function tableShown(header: string[], rows: string[][], text?: string): Shown {
  const data: MetricsRow[] = rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
  return {
    text: text ?? textTable(header, rows),
    html: new ResultTable(data, header).toHtml(),
  };
}

/** A value in a table: `-` when absent, fractions to 3 decimals. */
export function fmt(v: ScalarValue | undefined): string {
  if (v === undefined) return "-";
  return typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v);
}

/** The timing statistics of `column` in a measured row (`scenario.walkMs.min`, …), if any. */
function timingOf(metrics: Record<string, number | string>, column: string): TimingStats | null {
  const [n, median, min, max] = TIMING_STATS.map((st) => metrics[`${column}.${st}`]);
  return [n, median, min, max].every((x) => typeof x === "number")
    ? { n: n as number, median: median as number, min: min as number, max: max as number }
    : null;
}

/** A measured cell: a wall-clock metric with its statistics as `median (min–max, n=N)`. */
function cell(metrics: Record<string, number | string>, column: string): string {
  const t = timingOf(metrics, column);
  return t ? `${formatTiming(t)}, n=${t.n}` : fmt(metrics[column]);
}

/**
 * The swept parameters of measured rows (`sweep VAR in […]` around a `measure`), in
 * first-seen order: a column each in the table, after the label.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepColumns } from "./show.ts";
 * import type { MeasureRow } from "./session.ts";
 * const rows: MeasureRow[] = [{ label: "a", params: { p: "kho-v4" }, metrics: {} },
 *   { label: "b", params: { p: "kho-v3", n: 4 }, metrics: {} }];
 * assert.deepEqual(sweepColumns(rows), ["p", "n"]);
 * ```
 */
export function sweepColumns(rows: readonly MeasureRow[]): string[] {
  const out = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.params)) out.add(k);
  return [...out];
}

/**
 * A swept parameter's value as text: a size variable (`sweep pool in [128M, 1G]`, listed in
 * `sizes`) with a binary unit, "-" where the row was not under it.
 */
export function paramCell(
  row: MeasureRow,
  name: string,
  sizes: ReadonlySet<string> = new Set(),
): string {
  const v = row.params[name];
  if (v === undefined) return "-";
  return typeof v === "number" && sizes.has(name) && Number.isSafeInteger(v) && v >= 0
    ? formatSize(v)
    : String(v);
}

/** The measured rows as a table: label, a column per swept parameter, then `cols`. */
function measuredTable(
  rows: readonly MeasureRow[],
  cols: readonly string[],
  sizes: ReadonlySet<string>,
): Shown {
  const params = sweepColumns(rows);
  return tableShown(
    ["label", ...params, ...cols],
    rows.map((r) => [
      r.label,
      ...params.map((p) => paramCell(r, p, sizes)),
      ...cols.map((c) => cell(r.metrics, c)),
    ]),
  );
}

function columnsOf(o: Record<string, unknown>, fallback: string[]): string[] {
  return typeof o.columns === "string" ? o.columns.split(",").filter(Boolean) : fallback;
}

/**
 * The measured rows as a bar chart: one group of bars per row, one bar per column; a
 * wall-clock column is a bar at its median with a rule from its min to its max.
 */
function chartShown(s: Session, cols: string[]): Shown {
  // A group per row: its label, with its swept values in a sweep (`point p=kho-v4 n=4096`).
  const seen = new Map<string, number>();
  const keys = s.rows.map((r) => {
    const swept = Object.keys(r.params).map((p) => `${p}=${paramCell(r, p, s.sizeVariables)}`);
    const key = [r.label, ...swept].join(" ");
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return n === 1 ? key : `${key} #${n}`;
  });
  const data = s.rows.flatMap((r, i) =>
    cols.flatMap((c) => {
      const v = r.metrics[c];
      return typeof v === "number" ? [{ label: keys[i], metric: c, value: v }] : [];
    })
  );
  const spread = s.rows.flatMap((r, i) =>
    cols.flatMap((c) => {
      const t = timingOf(r.metrics, c);
      return t ? [{ label: keys[i], metric: c, min: t.min, max: t.max }] : [];
    })
  );
  const { text } = measuredTable(s.rows, cols, s.sizeVariables);
  const chart = new Chart({
    marks: [
      Plot.barY(data, { fx: "label", x: "metric", y: "value", fill: "metric" }),
      Plot.ruleX(spread, { fx: "label", x: "metric", y1: "min", y2: "max", stroke: "black" }),
      Plot.ruleY([0]),
    ],
    x: { axis: null },
    color: { legend: true },
    caption: `Measured rows (measure label=…): ${cols.join(", ")} (metric value per row` +
      (spread.length > 0 ? "; wall clock: median of n timed samples, rules min–max)" : ")"),
  }, "dsl_measure");
  return { text, html: chart.toHtml() };
}

/** What `show TOPIC` shows. */
export function showTopic(
  s: Session,
  table: CommandTable,
  topic: string,
  o: Record<string, unknown>,
): Shown {
  const text = (t: string): Shown => ({ text: t });
  switch (topic) {
    case "table": {
      const cols = columnsOf(o, DEFAULT_COLUMNS);
      if (s.rows.length === 0) return text("(no measurements: use `measure label=…`)");
      return measuredTable(s.rows, cols, s.sizeVariables);
    }
    case "chart": {
      if (s.rows.length === 0) return text("(no measurements: use `measure label=…`)");
      return chartShown(s, columnsOf(o, DEFAULT_CHART_COLUMNS));
    }
    case "metrics": {
      const set: string[][] = [];
      const unset: string[] = [];
      for (const [name, spec] of table.metrics) {
        const v = spec.get(s);
        if (v === undefined) unset.push(name);
        else {
          const t = fmt(v);
          set.push([name, t.length > 32 ? `${t.slice(0, 31)}…` : t, spec.doc]);
        }
      }
      const header = ["metric", "value", "meaning"];
      const lines = textTable(header, set).split("\n")
        .map((l) => l.replace(/^(\S+\s+\S+)\s{2,}/, "$1  ")).join("\n");
      if (unset.length === 0) return tableShown(header, set, lines);
      const note = unsetNote(unset, set.map((r) => r[0]));
      const shown = tableShown(header, set, `${lines}\n${note}`);
      return { ...shown, html: `${shown.html}\n<p class="kholab-note">${escapeHtml(note)}</p>` };
    }
    case "objects": {
      if (s.objects.size === 0) return text("(no objects)");
      return tableShown(
        ["name", "kind", "state", "blocks", "pages", "size", "first"],
        [...s.objects.values()].map((x) => [
          x.name,
          x.kind,
          x.state,
          String(x.blocks()),
          String(x.totalPages()),
          formatSize(x.bytes),
          x.phys.length > 0 ? hex(x.phys[0]) : "-",
        ]),
      );
    }
    case "outcomes":
      return showOutcomes(s);
    case "reserve_mem": {
      const k = s.ensureKernel();
      const st = k.reserveMem;
      if (st.regions.length === 0 && st.failed.length === 0) {
        return text("(no reserve_mem= regions: use `kernel reserve_mem=SIZE:ALIGN:NAME`)");
      }
      const handed = st.fdtPfn !== null ? "yes" : st.khoError ? `no (-${st.khoError})` : "no";
      return tableShown(
        ["name", "start", "size", "revived", "handed over", "verified"],
        [
          ...st.regions.map((r) => {
            const v = s.objects.get(r.name)?.verified;
            return [
              r.name,
              hex(r.start),
              formatSize(r.size),
              r.revived ? "yes" : "no",
              handed,
              v === true ? "yes" : v === false ? "no" : "-",
            ];
          }),
          ...st.failed.map((n) => [n, "-", "-", "-", "not reserved", "-"]),
        ],
      );
    }
    case "log": {
      const k = s.ensureKernel();
      const all = k.log.text();
      const g = o.grep as string | undefined;
      return text(
        g === undefined ? all : all.split("\n").filter((l) => l.includes(g)).join("\n"),
      );
    }
    case "buddyinfo":
      return text(s.ensureKernel().buddy.buddyinfoText());
    case "fdt": {
      const k = s.ensureKernel();
      const mem = k.machine.mem;
      const parts: string[] = [];
      const dump = (what: string, phys: number, size: number) => {
        const blob = mem.contains(phys, size) ? mem.readBytes(phys, size) : null;
        if (
          blob === null || blob.length < 4 || new DataView(blob.buffer).getUint32(0) !== FDT_MAGIC
        ) {
          parts.push(`// ${what} at ${hex(phys)}: ${size} bytes, not an FDT`);
          return;
        }
        parts.push(`// ${what} at ${hex(phys)}`);
        try {
          parts.push(toDts(blob, { annotate: nativePropertyNote }));
        } catch (e) {
          parts.push(`// unreadable: ${(e as Error).message}`);
        }
      };
      const subtrees = o.subtrees === true;
      if (k.kho.out) {
        dump("outgoing root FDT", k.kho.out.root.phys, KHO_FDT_SIZE);
        if (subtrees) {
          for (const t of k.kho.out.subtrees()) {
            dump(`outgoing sub-tree "${t.name}"`, t.phys, t.size);
          }
        }
      }
      const inc = k.kho.incoming;
      if (inc?.isKhoBoot) {
        dump("incoming root FDT", inc.fdtPhys, KHO_FDT_SIZE);
        if (subtrees) {
          for (const name of inc.subtreeNames()) {
            try {
              const t = inc.retrieveSubtree(name);
              dump(`incoming sub-tree "${name}"`, t.phys, t.size ?? KHO_FDT_SIZE);
            } catch (e) {
              parts.push(`// incoming sub-tree "${name}": ${(e as Error).message}`);
            }
          }
        }
      }
      if (parts.length === 0) return text("(KHO is off)");
      parts.push(
        "// KHO writes integer properties in native (little-endian) order and dtc prints " +
          "big-endian cells: the values are decoded after //",
      );
      return text(parts.join("\n"));
    }
    case "tracker": {
      const k = s.ensureKernel();
      const t = k.kho.out?.tracker;
      if (!t) return text("(KHO is off)");
      const c = t.counters as unknown as Record<string, unknown>;
      const counters = Object.entries(c).filter(([, v]) => typeof v === "number").map(([n, v]) =>
        `  ${n}: ${v}`
      );
      return text(
        [
          `tracker: ${t.kind}`,
          `metadata: ${t.metadataPages()} pages (${formatSize(t.metadataBytes())})`,
          `handover root: ${hex(t.handoverRoot())}`,
          ...(counters.length ? ["counters:", ...counters] : []),
        ].join("\n"),
      );
    }
    case "scratch": {
      const k = s.ensureKernel();
      return tableShown(
        ["area", "start", "end", "size"],
        k.boot.scratch.map((a, i) => [
          String(i),
          hex(a.addr),
          hex(a.addr + a.size),
          formatSize(a.size),
        ]),
      );
    }
    case "profiles":
      return tableShown(
        ["profile", "kernel", "compat", "blob-size", "kexec-metadata", "luo", "bugs", "fixes"],
        profileNames().map(getProfile).map((p) => [
          p.name,
          p.kernel,
          p.compat,
          p.blobSize ? "yes" : "no",
          p.kexecMetadata ? "yes" : "no",
          p.luo ? `${p.luo.compat}${p.luo.store === "kho-block" ? "+kho_block" : ""}` : "-",
          p.bugs.join(",") || "-",
          p.fixes.map((f) => `${f.name} (${f.status})`).join(",") || "-",
        ]),
      );
    case "config": {
      const c = s.machineConfig;
      return text(
        [
          `seed ${s.seed}`,
          `machine ram=${
            formatSize(c.ramBytes)
          } nodes=${c.nodes} memmap=${c.memmapBytesPerPage} poison=${c.poison ? "on" : "off"}${
            c.headroomBytes !== null ? ` headroom=${formatSize(c.headroomBytes)}` : ""
          }`,
          `profile ${s.kernel?.profile.name ?? s.bootProfile}${
            s.nextProfile ? ` (next kexec: ${s.nextProfile})` : ""
          }`,
          `kernel ${s.cmdline()}${
            s.kernelConfig.config
              ? ` ${describeBootConfig(resolveBootConfig(s.kernelConfig.config))}`.trimEnd()
              : ""
          }`,
          `booted: ${s.kernel ? `boot #${s.kernel.bootIndex}` : "no"}`,
          ...[...s.objects.values()].map((x) => `object ${x.name}: ${describe(x)}`),
        ].join("\n"),
      );
    }
  }
  return text(`unknown topic ${escapeHtml(topic)}`);
}
