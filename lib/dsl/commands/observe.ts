/**
 * Observation commands: `measure` (every metric as a row), `show TOPIC` (text views, with
 * tables and charts for notebooks) and `help`.
 *
 * @module
 */

import { helpText } from "../help.ts";
import type { Session } from "../session.ts";
import { SHOW_TOPICS, showTopic } from "../show.ts";
import { type CommandSpec, type CommandTable, metricValues } from "../spec.ts";

/** `measure [label=…]`: every metric of the table as a row. */
export function measureCommand(s: Session, table: CommandTable, label?: string): void {
  s.rows.push({ label: label ?? `m${s.rows.length + 1}`, metrics: metricValues(table, s) });
  s.onUndo(() => s.rows.pop());
}

/** The observation commands. */
export const OBSERVE_COMMANDS: readonly CommandSpec[] = [
  {
    name: "measure",
    summary: "record every metric as a row of the table",
    positionals: [],
    options: [{ name: "label", kind: "word", doc: "row label", default: "m1, m2, …" }],
    run: (s, inv) => measureCommand(s, inv.table, inv.opts.label as string | undefined),
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
      {
        name: "subtrees",
        kind: "bool",
        flag: true,
        doc: "fdt: also every sub-tree that is an FDT",
      },
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
