/**
 * `help` of the kholab language, generated from the command table.
 *
 * @module
 */

import { COMMANDS, OBJECT_KINDS, type OptionSpec, usage } from "./commands.ts";
import { didYouMean } from "./errors.ts";
import { METRICS } from "./metrics.ts";
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
 * Help text: the command list, or one command / object kind / `metrics`.
 *
 * @example
 * ```ts
 * import { helpText } from "./help.ts";
 * console.assert(helpText("kexec").startsWith("kexec"));
 * ```
 */
export function helpText(word?: string): string {
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
      "Object properties: NAME.blocks folios pages bytes order preserved incoming restored failed verified phys",
    ].join("\n");
  }
  const c = COMMANDS.get(word);
  if (c) {
    return [
      usage(c),
      `  ${c.summary}`,
      ...(c.details ? c.details.split("\n").map((l) => `  ${l}`) : []),
      ...(c.positionals.length
        ? c.positionals.map((p) => `  ${p.name.padEnd(28)} ${p.doc} (${kindName(p.kind)})`)
        : []),
      ...optionLines(c.options),
    ].join("\n");
  }
  const k = OBJECT_KINDS.get(word);
  if (k) {
    return [
      usage(k),
      `  ${k.summary}`,
      ...(k.details ? k.details.split("\n").map((l) => `  ${l}`) : []),
      ...optionLines(k.options),
    ].join("\n");
  }
  return `no help for "${word}"${
    didYouMean(word, [...COMMANDS.keys(), ...OBJECT_KINDS.keys(), "metrics"])
  }; try help`;
}
