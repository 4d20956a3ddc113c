/**
 * `help` of the kholab language, generated from the command table.
 *
 * @module
 */

import { didYouMean } from "./errors.ts";
import { OBJECT_PROPERTIES } from "./objects.ts";
import { type CommandTable, type OptionSpec, usage } from "./spec.ts";
import { kindName } from "./values.ts";

const INTRO = `kholab command language — one statement per line (or ';'), # comments.
Sizes: 4K 2M 16G 1T 0x1000; counts: 64Ki 1Mi (binary), 1k 2M (decimal, in count=);
strings in quotes; $name or (expr) uses a variable in an option value.`;

function optionLines(options: readonly OptionSpec[]): string[] {
  return options.map((o) => {
    const head = o.flag ? o.name : `${o.name}=${kindName(o.kind)}`;
    const extra = [
      o.required ? "required" : "",
      o.default ? `default ${o.default}` : "",
      o.repeatable ? "repeatable" : "",
    ]
      .filter(Boolean).join(", ");
    return `  ${head.padEnd(28)} ${o.doc}${extra ? ` (${extra})` : ""}`;
  });
}

/**
 * Help text of a table: the command list, or one command / object kind / `metrics`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText } from "./help.ts";
 * import { TABLE } from "./table.ts";
 * assert.ok(helpText(TABLE, "kexec").startsWith("kexec"));
 * ```
 */
export function helpText(table: CommandTable, word?: string): string {
  const COMMANDS = table.commands;
  const OBJECT_KINDS = table.objectKinds;
  const METRICS = table.metrics;
  if (word === undefined) {
    const cmds = [...COMMANDS.values()].map((c) => `  ${c.name.padEnd(11)} ${c.summary}`);
    const kinds = [...OBJECT_KINDS.values()].map((k) => `  ${k.name.padEnd(11)} ${k.summary}`);
    return [
      INTRO,
      "",
      "Commands:",
      ...cmds,
      "",
      "Objects (NAME = KIND options…):",
      ...kinds,
      "",
      "help COMMAND for details; help metrics for metric names.",
    ].join("\n");
  }
  if (word === "metrics") {
    return [
      "Metrics (expect, measure, show metrics):",
      ...[...METRICS.values()].map((m) => `  ${m.name.padEnd(18)} ${m.doc}`),
      `Object properties: NAME.${OBJECT_PROPERTIES.join(" ")}`,
    ].join("\n");
  }
  const c = COMMANDS.get(word) ?? OBJECT_KINDS.get(word);
  if (c) {
    return [
      usage(c),
      `  ${c.summary}`,
      ...(c.details ? c.details.split("\n").map((l) => `  ${l}`) : []),
      ...("positionals" in c
        ? c.positionals.map((p) => `  ${p.name.padEnd(28)} ${p.doc} (${kindName(p.kind)})`)
        : []),
      ...optionLines(c.options),
    ].join("\n");
  }
  return `no help for "${word}"${
    didYouMean(word, [...COMMANDS.keys(), ...OBJECT_KINDS.keys(), "metrics"])
  }; try help`;
}
