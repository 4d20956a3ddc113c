/**
 * Observation commands: `measure` (every metric as a row), `show TOPIC` (text views, with
 * tables and charts for notebooks) and `help`.
 *
 * @module
 */

import { helpText } from "../help.ts";
import { byOrderMetrics } from "../metrics.ts";
import type { Session } from "../session.ts";
import { SHOW_TOPICS, showTopic } from "../show.ts";
import { type CommandSpec, type CommandTable, flagOption, metricValues } from "../spec.ts";

/**
 * `measure [label=…] [by_order]`: every metric of the table as a row, with the value of each
 * `sweep` variable it runs under; `by_order` adds the per-order costs of the outgoing tracker
 * ({@link byOrderMetrics}).
 */
export function measureCommand(
  s: Session,
  table: CommandTable,
  options: { label?: string; byOrder?: boolean } = {},
): void {
  const metrics = metricValues(table, s);
  if (options.byOrder) Object.assign(metrics, byOrderMetrics(s));
  s.rows.push({
    label: options.label ?? `m${s.rows.length + 1}`,
    params: Object.fromEntries(s.sweeps.map((b) => [b.name, b.value])),
    metrics,
  });
  s.onUndo(() => s.rows.pop());
}

/** The observation commands. */
export const OBSERVE_COMMANDS: readonly CommandSpec[] = [
  {
    name: "measure",
    summary: "record every metric as a row of the table",
    details: "Inside a sweep the row also records each swept variable's value (a column of\n" +
      "show table and of a report). by_order adds, for the outgoing tracker (before kexec),\n" +
      "preserved.blocks_by_order, handover.bytes_by_order and walk.cachelines_by_order:\n" +
      "each order's blocks alone in a tracker of the profile's kind, as \"order:value …\"\n" +
      "(what chart by-order draws; it builds a tracker per order, so it is not the default).",
    positionals: [],
    options: [
      { name: "label", kind: "word", doc: "row label", default: "m1, m2, …" },
      flagOption("by_order", "also the per-order costs of the outgoing tracker"),
    ],
    run: (s, inv) =>
      measureCommand(s, inv.table, {
        label: inv.opts.label as string | undefined,
        byOrder: inv.opts.by_order === true,
      }),
  },
  {
    name: "show",
    summary: `print ${SHOW_TOPICS.join("|")}`,
    details: "In a notebook, table, chart, objects, metrics and reserve_mem display as HTML.\n" +
      "chart draws the measured rows: one bar per row for each of columns= (default\n" +
      "tracker.pages,walk.blocks).",
    positionals: [{ name: "TOPIC", kind: { enum: SHOW_TOPICS }, doc: "what to show" }],
    options: [
      { name: "columns", kind: "word", doc: "table, chart: comma-separated metric names" },
      { name: "grep", kind: "string", doc: "log: only lines containing this text" },
      flagOption("subtrees", "fdt: also every sub-tree that is an FDT"),
    ],
    run: (s, inv) => s.show(showTopic(s, inv.table, inv.args[0] as string, inv.opts)),
  },
  {
    name: "help",
    summary: "list commands, or explain one",
    positionals: [{ name: "COMMAND", kind: "word", doc: "command or object kind", optional: true }],
    options: [],
    run: (s, inv) => s.print(helpText(inv.table, inv.args[0] as string | undefined)),
  },
];
