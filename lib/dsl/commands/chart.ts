/**
 * The `chart` command: records a chart of the measured rows for a report from the script
 * (`kholab report FILE.kho`), and shows it (`../charts.ts` draws it).
 *
 * ```
 * sweep p in [kho-v1-6.19, kho-v4] { … measure label=before by_order … kexec … measure label=after }
 * chart metadata rows=before
 * chart walk
 * chart by-order
 * chart sweep x=n y=handover.bytes
 * ```
 *
 * @module
 */

import { CHART_KINDS, type ChartKind, recordChart, SWEEP_ONLY_OPTIONS } from "../charts.ts";
import type { CheckProblem, CommandSpec } from "../spec.ts";

/** The `chart` command. */
export const CHART_COMMAND: CommandSpec = {
  name: "chart",
  summary: `record a chart of the measured rows (${CHART_KINDS.join("|")}) for a report`,
  details: `chart KIND [rows=LABEL,…] [title="…"] [name=NAME] — sweep also [x=VAR] [y=METRIC]
[series=VAR|METRIC]. Draws the rows measured so far (rows=: only those labels; default: every
row with the kind's data) and keeps the chart for kholab report FILE.kho, in order:
  metadata   handover.bytes per row (measure after preserve, before kexec)
  walk       the successor's walk.pages, walk.cachelines, walk.entries, walk.bitmap_words
             (measure after kexec)
  by-order   each order's share of handover.bytes_by_order and walk.cachelines_by_order
             (measure by_order, before kexec)
  buddyinfo  free blocks per order (buddy.free_by_order) per row
  sweep      y= (default handover.bytes) against the swept variable x= (default the
             innermost numeric one), a line per series= (default kernel.profile); without
             rows=, a handover.*/tracker.*/preserved.* metric from the rows with preserved
             objects, a walk.* metric from the rows after a walk
A row is named by what tells it apart (profile, label, swept values) and coloured by its
profile; a variable swept over sizes (128M, 2G) is drawn in bytes.`,
  positionals: [{ name: "KIND", kind: { enum: CHART_KINDS }, doc: "what to draw" }],
  options: [
    { name: "rows", kind: "word", doc: "comma-separated row labels to draw" },
    { name: "title", kind: "string", doc: "the caption's title (the unit is added)" },
    { name: "name", kind: "word", doc: "the chart's name in a report", default: "chartN-KIND" },
    { name: "x", kind: "word", doc: "sweep: the swept variable on x" },
    { name: "y", kind: "word", doc: "sweep: the metric on y", default: "handover.bytes" },
    {
      name: "series",
      kind: "word",
      doc: "sweep: a line per value of this swept variable or metric",
      default: "kernel.profile",
    },
  ],
  check: (literal) => {
    const kind = literal.args[0];
    if (kind === null || kind === "sweep") return [];
    return SWEEP_ONLY_OPTIONS.filter((o) => literal.options.has(o)).map((o): CheckProblem => ({
      option: o,
      message: `${o}= is for chart sweep`,
    }));
  },
  // The options are the request's fields (rows, title, name, x, y, series).
  run: (s, inv) => void recordChart(s, { ...inv.opts, kind: inv.args[0] as ChartKind }),
};
