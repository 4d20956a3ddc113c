/**
 * Tab completion for the kholab language, from the command table: command names, object
 * kinds after `NAME =`, option names (`count=`), option values of enumerated kinds (profile
 * names, `on|off`, fills), object names where a command takes objects, and metric names in
 * `expect` / `let`.
 *
 * @module
 */

import { OBJECT_PROPERTIES } from "./objects.ts";
import type { CommandTable, OptionSpec, PositionalSpec } from "./spec.ts";
import { TABLE } from "./table.ts";
import { kindWords, type ValueKind } from "./values.ts";

/** What completion knows about the session. */
export interface CompletionContext {
  /** Names of the objects of the running kernel. */
  objects: readonly string[];
  /** Variable names. */
  variables?: readonly string[];
  /** The table to complete from. Default the language's. */
  table?: CommandTable;
}

/** Completion result: replace `line.slice(start, cursor)` with one of `candidates`. */
export interface Completion {
  /** Start of the word being completed. */
  start: number;
  /** Full replacement words, sorted. */
  candidates: string[];
}

function wordsFor(kind: ValueKind, ctx: CompletionContext): string[] {
  if (kind === "object") return [...ctx.objects];
  return kindWords(kind);
}

/**
 * Completions for the text before the cursor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { complete } from "./complete.ts";
 * assert.equal(complete("kex", { objects: [] }).candidates[0], "kexec");
 * assert.deepEqual(complete("preserve gu", { objects: ["guest"] }).candidates, ["guest"]);
 * ```
 */
export function complete(line: string, ctx: CompletionContext): Completion {
  const table = ctx.table ?? TABLE;
  const COMMANDS = table.commands;
  const OBJECT_KINDS = table.objectKinds;
  const METRICS = table.metrics;
  // The current statement starts after the last ; { or }.
  const stmtStart = Math.max(line.lastIndexOf(";"), line.lastIndexOf("{"), line.lastIndexOf("}")) +
    1;
  const stmt = line.slice(stmtStart);
  const m = /(\S*)$/.exec(stmt)!;
  const word = m[1];
  const start = line.length - word.length;
  const before = stmt.slice(0, stmt.length - word.length).trim().split(/\s+/).filter(Boolean);
  const pick = (all: Iterable<string>) => ({
    start,
    candidates: [...new Set(all)].filter((c) => c.startsWith(word)).sort(),
  });
  if (before.length === 0) {
    return pick([...COMMANDS.keys(), ...ctx.objects.map((o) => o)]);
  }
  let options: readonly OptionSpec[] = [];
  let positionals: readonly PositionalSpec[] = [];
  if (before.length >= 2 && before[1] === "=") {
    if (before.length === 2) return pick(OBJECT_KINDS.keys());
    options = OBJECT_KINDS.get(before[2])?.options ?? [];
  } else {
    const cmd = before[0];
    if (cmd === "expect" || cmd === "let" || cmd === "repeat") {
      const props = ctx.objects.flatMap((o) => OBJECT_PROPERTIES.map((p) => `${o}.${p}`));
      return pick([...METRICS.keys(), ...props, ...(ctx.variables ?? [])]);
    }
    if (cmd === "help") return pick([...COMMANDS.keys(), ...OBJECT_KINDS.keys(), "metrics"]);
    const spec = COMMANDS.get(cmd);
    if (!spec) return { start, candidates: [] };
    options = spec.options;
    positionals = spec.positionals;
  }
  const eq = word.indexOf("=");
  if (eq >= 0) {
    const o = options.find((x) => x.name === word.slice(0, eq));
    if (!o) return { start, candidates: [] };
    const prefix = word.slice(0, eq + 1);
    return pick(wordsFor(o.kind, ctx).map((w) => prefix + w));
  }
  const given = before.slice(1).filter((w) => !w.includes("="));
  const out: string[] = [];
  for (const o of options) {
    if (before.some((w) => w === o.name || w.startsWith(o.name + "=")) && !o.repeatable) continue;
    out.push(o.flag ? o.name : `${o.name}=`);
  }
  const p = positionals[Math.min(given.length, positionals.length - 1)];
  if (p && (given.length < positionals.length || p.variadic)) {
    out.push(...wordsFor(p.kind, ctx).filter((w) => !(p.kind === "object" && given.includes(w))));
  }
  return pick(out);
}

/** The longest common prefix of words. */
export function commonPrefix(words: readonly string[]): string {
  if (words.length === 0) return "";
  let p = words[0];
  for (const w of words) {
    while (!w.startsWith(p)) p = p.slice(0, -1);
  }
  return p;
}
