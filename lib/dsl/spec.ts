/**
 * What a command of the kholab language is: its positionals, options and value kinds, its
 * documentation, and the body that runs it on a {@link Session}; likewise object kinds
 * (`NAME = KIND …`) and metrics (`restore.failed`). A {@link CommandTable} holds them by name;
 * the parser validates statements against one, `help` prints one, the REPL completes from
 * one, and the evaluator dispatches through one. The language's own table is built
 * explicitly in `./table.ts`; a program can build its own with {@link commandTable}.
 *
 * @module
 */

import type { MemoryEstimate } from "../machine/host_memory.ts";
import type { Session } from "./session.ts";
import { kindName, type ValueKind } from "./values.ts";

/** One `key=value` option (or bare flag) of a command. */
export interface OptionSpec {
  /** Option name. */
  readonly name: string;
  /** Kind of its value. */
  readonly kind: ValueKind;
  /** One line of documentation. */
  readonly doc: string;
  /** Must be given. */
  readonly required?: boolean;
  /** May be written bare (`huge`), meaning `huge=on`. Its kind is then "bool". */
  readonly flag?: boolean;
  /** May be given more than once (values collected in a list). */
  readonly repeatable?: boolean;
  /** Default, for help. */
  readonly default?: string;
}

/** A flag option: `NAME` alone is `NAME=on`. */
export function flagOption(name: string, doc: string): OptionSpec {
  return { name, kind: "bool", flag: true, doc };
}

/** One positional argument. */
export interface PositionalSpec {
  /** Name shown in usage (`OBJECT`, `TOPIC`). */
  readonly name: string;
  /** Kind of its value. */
  readonly kind: ValueKind;
  /** One line of documentation. */
  readonly doc: string;
  /** May be left out. */
  readonly optional?: boolean;
  /** Takes every remaining positional (at least one unless optional). */
  readonly variadic?: boolean;
}

/** The converted arguments of one statement. */
export interface Invocation {
  /** Positionals, converted (a variadic one is spread into the list). */
  readonly args: unknown[];
  /** Options by name, converted (repeatable options as arrays, flags as booleans). */
  readonly opts: Record<string, unknown>;
  /** The table the statement runs with (for `help`, `show metrics`, `measure`). */
  readonly table: CommandTable;
  /**
   * The script (file, `<cell N>`, `<repl>`) the statement is in; a relative file name an
   * option gives is resolved against its folder, as `include` does.
   */
  readonly file?: string;
}

/** A command. */
export interface CommandSpec {
  /** Command name. */
  readonly name: string;
  /** One-line summary. */
  readonly summary: string;
  /** Longer help text (may be several lines). */
  readonly details?: string;
  /** Positional arguments, in order. */
  readonly positionals: readonly PositionalSpec[];
  /** Options. */
  readonly options: readonly OptionSpec[];
  /**
   * Statements with their own grammar (`let`, `expect`, `repeat`, `sweep`, `try`, `include`)
   * are parsed and run by the parser and evaluator themselves; their entry here is for help
   * and completion.
   */
  readonly special?: string;
  /** Runs the command (absent for special forms). */
  readonly run?: (s: Session, inv: Invocation) => void;
  /**
   * The command's own check of a statement's literal arguments, beyond each value's kind
   * (which options go together, which values a positional allows): the parser reports each
   * problem at the option or argument it names, so `kholab check` finds it. Values written as
   * expressions are null here; the command checks them again when it runs.
   */
  readonly check?: (literal: LiteralArgs) => readonly CheckProblem[];
  /**
   * Host memory the command is estimated to need (`../machine/host_memory.ts`), checked
   * against the session's budget before it runs; absent: too little to matter.
   */
  readonly estimate?: (s: Session, inv: Invocation) => MemoryEstimate;
}

/** A statement's literal arguments as text, for {@link CommandSpec.check}. */
export interface LiteralArgs {
  /** Positionals (null: an expression, known when it runs). */
  readonly args: readonly (string | null)[];
  /** Options by name (null: an expression or a bare flag). */
  readonly options: ReadonlyMap<string, string | null>;
}

/** A problem {@link CommandSpec.check} found: what, and where (an option or a positional). */
export interface CheckProblem {
  /** The message. */
  readonly message: string;
  /** The option at fault (the caret goes under its name). */
  readonly option?: string;
  /** The positional at fault, by index. */
  readonly arg?: number;
}

/** An object kind, created with `NAME = KIND options…`. */
export interface ObjectKindSpec {
  /** Kind name. */
  readonly name: string;
  /** One-line summary. */
  readonly summary: string;
  /** Longer help. */
  readonly details?: string;
  /** Options. */
  readonly options: readonly OptionSpec[];
  /** Allocates and fills the object's memory, registering it under `name`. */
  readonly create: (s: Session, name: string, inv: Invocation) => void;
  /** Host memory creating it is estimated to need (see {@link CommandSpec.estimate}). */
  readonly estimate?: (s: Session, inv: Invocation) => MemoryEstimate;
}

/** A metric: documentation and how to read it from a session. */
export interface MetricSpec {
  /** Dotted name. */
  readonly name: string;
  /** One line of documentation. */
  readonly doc: string;
  /** Current value (undefined when not applicable, e.g. before boot). */
  readonly get: (s: Session) => number | string | undefined;
}

/** Commands, object kinds and metrics by name. */
export interface CommandTable {
  /** Every command (special forms included, for help and completion). */
  readonly commands: ReadonlyMap<string, CommandSpec>;
  /** Every object kind. */
  readonly objectKinds: ReadonlyMap<string, ObjectKindSpec>;
  /** Every metric. */
  readonly metrics: ReadonlyMap<string, MetricSpec>;
}

/**
 * A table from lists; a name given twice is a RangeError (a table is built once, explicitly).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandTable } from "./spec.ts";
 * const t = commandTable({
 *   commands: [{ name: "hello", summary: "say hello", positionals: [], options: [],
 *     run: (s) => s.print("hello") }],
 * });
 * assert.ok(t.commands.has("hello") && t.objectKinds.size === 0);
 * assert.throws(() => commandTable({ commands: [...t.commands.values(), ...t.commands.values()] }));
 * ```
 */
export function commandTable(parts: {
  commands?: readonly CommandSpec[];
  objectKinds?: readonly ObjectKindSpec[];
  metrics?: readonly MetricSpec[];
}): CommandTable {
  const byName = <T extends { name: string }>(what: string, list: readonly T[] = []) => {
    const m = new Map<string, T>();
    for (const x of list) {
      if (m.has(x.name)) throw new RangeError(`${what} "${x.name}" defined twice`);
      m.set(x.name, x);
    }
    return m;
  };
  return {
    commands: byName("command", parts.commands),
    objectKinds: byName("object kind", parts.objectKinds),
    metrics: byName("metric", parts.metrics),
  };
}

/** `NAME [ARG] [opt=KIND]…` usage line of a command or `NAME = kind …` of an object kind. */
export function usage(spec: CommandSpec | ObjectKindSpec): string {
  const parts: string[] = [];
  if ("positionals" in spec) {
    if (spec.special) return spec.special;
    parts.push(spec.name);
    for (const p of spec.positionals) {
      const s = p.variadic ? `${p.name}…` : p.name;
      parts.push(p.optional ? `[${s}]` : s);
    }
  } else {
    parts.push(`NAME = ${spec.name}`);
  }
  for (const o of spec.options) {
    const s = o.flag ? o.name : `${o.name}=${kindName(o.kind)}`;
    parts.push(o.required ? s : `[${s}]`);
  }
  return parts.join(" ");
}

/** The value of every metric of `table` for a session (0 where not applicable). */
export function metricValues(table: CommandTable, s: Session): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [name, m] of table.metrics) out[name] = m.get(s) ?? 0;
  return out;
}
