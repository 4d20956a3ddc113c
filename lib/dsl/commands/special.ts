/**
 * The special forms — statements with their own grammar (`let`, `expect`, `repeat`, `sweep`,
 * `try`, `include`), parsed by the parser and run by the evaluator. Their entries in the
 * command table are for help and completion.
 *
 * @module
 */

import type { CommandSpec } from "../spec.ts";

const SPECIAL: [string, string, string, string?][] = [
  ["let", "let NAME = EXPR", "bind a variable (use it as NAME in expressions, $NAME in options)"],
  [
    "expect",
    "expect EXPR",
    "check a condition; a false one fails the script (exit code 1) but it goes on",
    "EXPR: numbers (4K, 16G, 1Mi, 64Ki, 1k, 0x10), strings, metric names (restore.failed,\n" +
    "tracker.pages, kexec.count, …), object properties (guest.folios, iommu.preserved),\n" +
    "measured rows (before_kexec.tracker.pages), variables; + - * / %, == != < <= > >=,\n" +
    "&& || !, parentheses. `show metrics` lists the metric names.",
  ],
  ["repeat", "repeat N { … }", "run a block N times (the variable `i` counts from 0)"],
  ["sweep", "sweep VAR in [v1, v2, …] { … }", "run a block once per value"],
  [
    "try",
    "try { … }",
    "run a block; a runtime error in it is printed and recorded, and the script goes on",
    'After it: error.code is the errno name of the last error ("" if none), try.failed\n' +
    "counts failed try blocks. The failed command itself left no trace (rolled back).",
  ],
  ["include", "include FILE", "run another script (path relative to this one)"],
];

/** The special forms, for help and completion. */
export const SPECIAL_FORMS: readonly CommandSpec[] = SPECIAL.map((
  [name, syntax, summary, details],
) => ({
  name,
  summary,
  details,
  positionals: [],
  options: [],
  special: syntax,
}));
