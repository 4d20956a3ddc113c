/**
 * The evaluator of the kholab language: control flow (`repeat`, `sweep`, `try`, `include`),
 * expressions, `let` and `expect`, and the dispatch of every other statement through the
 * command table to a command body on the {@link Session}. Each statement is a transaction:
 * a failed one leaves the session as before (its undo log runs) and raises a
 * {@link ScriptRuntimeError} naming the place, the command and, when the kernel refused, its
 * errno (`./failure.ts`).
 *
 * @module
 */

import { type Expr, formatStmt, type Program, type Stmt, type Value } from "./ast.ts";
import { parseEstimate } from "./memory_estimates.ts";
import {
  CommandError,
  didYouMean,
  ScriptRuntimeError,
  ScriptStopError,
  type Span,
  SpannedError,
} from "./errors.ts";
import { toRuntimeError } from "./failure.ts";
import { resolveScriptPath } from "./source_file.ts";
import { OBJECT_PROPERTIES, objectProperty } from "./objects.ts";
import { numberLiteralValue, parse } from "./parser.ts";
import type { ExpectResult, Session } from "./session.ts";
import { type CommandTable, type Invocation, metricValues, type OptionSpec } from "./spec.ts";
import { InputFileError } from "../scenario/input_file.ts";
import { readScriptFile } from "./source_file.ts";
import { TABLE } from "./table.ts";
import { convertValue, type ScalarValue, ValueError } from "./values.ts";

/** Options of an {@link Evaluator}. */
export interface EvaluatorOptions {
  /** Reads an included file (default: `readScriptFile`: a regular file of at most 4 MiB). */
  readFile?: (path: string) => string;
  /** The commands, object kinds and metrics. Default the language's. */
  table?: CommandTable;
}

const INCLUDE_DEPTH = 8;

/** A size literal (`256M`, `1GiB`, `4KB`): a number of bytes, not a count (`64Ki`, `1k`). */
const SIZE_LITERAL = /^(0x[0-9a-fA-F]+|\d+(\.\d+)?)([KMGTP]iB|[KMGTP]B|[KMGTP])$/;
const REPEAT_MAX = 100_000;

/** A statement as a label for messages (the canonical text, cut to 80 characters). */
function statementLabel(s: Stmt): string {
  const t = formatStmt(s).trim();
  return t.length > 80 ? t.slice(0, 79) + "…" : t;
}

function truthy(v: ScalarValue): boolean {
  return typeof v === "string" ? v.length > 0 : Boolean(v);
}

function fmtValue(v: ScalarValue): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * Runs statements on a session.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../rng.ts";
 * import { Evaluator } from "./evaluator.ts";
 * import { Session } from "./session.ts";
 * const s = new Session({ clock: new ManualClock() });
 * const ev = new Evaluator(s);
 * ev.runText("machine ram=2G\nb = folios order=3 count=2\npreserve b\nkexec\nrestore b\nverify b");
 * assert.equal(s.stats.verifyOk, 1);
 * ```
 */
export class Evaluator {
  /** The session statements run on. */
  readonly session: Session;
  /** The commands, object kinds and metrics. */
  readonly table: CommandTable;
  readonly #readFile: (path: string) => string;
  #source = "";
  readonly #fileStack: string[];

  /** An evaluator for `session`. */
  constructor(session: Session, options: EvaluatorOptions = {}) {
    this.session = session;
    this.table = options.table ?? TABLE;
    this.#readFile = options.readFile ?? ((p) => readScriptFile(p));
    this.#fileStack = [session.file];
  }

  /**
   * Runs a parsed program (stops at the first runtime error, which it throws). A run — this
   * program with its includes — has the session's step budget.
   */
  run(program: Program): void {
    const prevSource = this.#source;
    if (this.#fileStack.length === 1) this.session.steps = 0;
    this.#source = program.source;
    this.#fileStack.push(program.file);
    try {
      this.#block(program.body);
    } finally {
      this.#fileStack.pop();
      this.#source = prevSource;
    }
  }

  /**
   * Parses and runs text; throws ScriptSyntaxErrors or ScriptRuntimeError (a script too big
   * for the memory budget is refused before it is parsed, a runtime error at its line 1).
   */
  runText(text: string, file: string = this.session.file): void {
    this.#checkParse(text, file);
    this.run(parse(text, { file, table: this.table }));
  }

  /** Refuses a script whose syntax tree would not fit the memory budget. */
  #checkParse(text: string, file: string): void {
    try {
      this.session.memory.check(`parsing ${file}`, parseEstimate(text.length));
    } catch (e) {
      const stmt: Stmt = {
        kind: "command",
        name: "parse",
        args: [],
        options: [],
        span: { line: 1, col: 1, len: 1 },
      };
      throw toRuntimeError(e, { file, source: "", stmt, command: "parse" });
    }
  }

  /** Every metric's current value. */
  metrics(): Record<string, number | string> {
    return metricValues(this.table, this.session);
  }

  get #file(): string {
    return this.#fileStack[this.#fileStack.length - 1];
  }

  #block(body: Stmt[]): void {
    for (const s of body) this.#statement(s);
  }

  /** One step of the run at statement `s` (a stop becomes a ScriptStopError there). */
  #tick(s: Stmt): void {
    try {
      this.session.tick();
    } catch (e) {
      throw toRuntimeError(e, {
        file: this.#file,
        source: this.#source,
        stmt: s,
        command: this.#commandName(s),
      });
    }
  }

  #statement(s: Stmt): void {
    const vars = this.session.vars;
    this.#tick(s);
    switch (s.kind) {
      case "repeat": {
        const n = this.#guard(s, "repeat", () => {
          const v = this.eval(s.count);
          if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > REPEAT_MAX) {
            throw new CommandError(null, `count must be an integer 0..${REPEAT_MAX}, got ${v}`);
          }
          return v;
        });
        const prev = vars.get("i");
        try {
          for (let i = 0; i < n; i++) {
            if (i > 0) this.#tick(s);
            vars.set("i", i);
            this.#block(s.body);
          }
        } finally {
          if (prev === undefined) vars.delete("i");
          else vars.set("i", prev);
        }
        return;
      }
      case "sweep": {
        const values = this.#guard(s, "sweep", () => s.values.map((v) => this.#sweepValue(v)));
        const sizes = this.session.sizeVariables;
        if (s.values.every((v) => v.kind === "word" && SIZE_LITERAL.test(v.text))) {
          sizes.add(s.variable);
        } else sizes.delete(s.variable);
        const prev = vars.get(s.variable);
        const sweeps = this.session.sweeps;
        const depth = sweeps.length;
        try {
          values.forEach((v, k) => {
            if (k > 0) this.#tick(s);
            vars.set(s.variable, v);
            sweeps.length = depth;
            sweeps.push({ name: s.variable, value: v });
            this.#block(s.body);
          });
        } finally {
          sweeps.length = depth;
          if (prev === undefined) vars.delete(s.variable);
          else vars.set(s.variable, prev);
        }
        return;
      }
      case "try": {
        try {
          this.#block(s.body);
        } catch (e) {
          if (!(e instanceof ScriptRuntimeError) || e.internal || e instanceof ScriptStopError) {
            throw e;
          }
          this.session.stats.tryFailed++;
          this.session.lastErrorCode = e.code ?? "ERROR";
          this.session.print(`try: ${e.message.split("\n")[0]}`);
        }
        return;
      }
      case "include": {
        const program = this.#guard(s, "include", () => {
          if (this.#fileStack.length > INCLUDE_DEPTH) {
            throw new CommandError("ELOOP", `includes nested deeper than ${INCLUDE_DEPTH}`);
          }
          const resolved = resolveScriptPath(String(this.#raw(s.path)), this.#file);
          let text: string;
          try {
            text = this.#readFile(resolved);
          } catch (e) {
            if (e instanceof InputFileError) throw new CommandError(e.code, e.message);
            throw new CommandError("ENOENT", `${resolved}: ${(e as Error)?.message ?? e}`);
          }
          this.session.memory.check(`parsing ${resolved}`, parseEstimate(text.length));
          return parse(text, { file: resolved, table: this.table });
        });
        this.run(program);
        return;
      }
      default:
        this.#guard(s, this.#commandName(s), () => this.#simple(s));
    }
  }

  #commandName(s: Stmt): string {
    if (s.kind === "command") return s.name;
    if (s.kind === "assign") return s.objectKind;
    return s.kind;
  }

  /** Runs fn as a transaction: on error, undo and throw a ScriptRuntimeError. */
  #guard<T>(s: Stmt, command: string, fn: () => T): T {
    const session = this.session;
    session.begin();
    try {
      const r = fn();
      session.commit();
      return r;
    } catch (e) {
      const notUndone = session.rollback();
      throw toRuntimeError(e, {
        file: this.#file,
        source: this.#source,
        stmt: s,
        command,
        notUndone,
      });
    }
  }

  #simple(s: Stmt): void {
    switch (s.kind) {
      case "let": {
        const v = this.eval(s.expr);
        const vars = this.session.vars;
        const prev = vars.get(s.name);
        vars.set(s.name, v);
        this.session.onUndo(() =>
          prev === undefined ? vars.delete(s.name) : vars.set(s.name, prev)
        );
        return;
      }
      case "expect":
        return this.#expect(s);
      case "command": {
        const spec = this.table.commands.get(s.name);
        if (!spec?.run) throw new CommandError(null, `unknown command "${s.name}"`);
        const inv = this.#invocation(s, spec.positionals, spec.options);
        if (spec.estimate) {
          this.session.memory.check(statementLabel(s), spec.estimate(this.session, inv));
        }
        spec.run(this.session, inv);
        return;
      }
      case "assign": {
        const spec = this.table.objectKinds.get(s.objectKind);
        if (!spec) throw new CommandError(null, `unknown object kind "${s.objectKind}"`);
        const inv = this.#invocation(s, [], spec.options);
        if (spec.estimate) {
          this.session.memory.check(statementLabel(s), spec.estimate(this.session, inv));
        }
        spec.create(this.session, s.target, inv);
        return;
      }
      default:
        throw new CommandError(null, `cannot run ${s.kind} here`);
    }
  }

  #invocation(
    s: Stmt & { args: Value[]; options: { name: string; value: Value | null; span: Span }[] },
    positionals: readonly { kind: OptionSpec["kind"]; variadic?: boolean }[],
    options: readonly OptionSpec[],
  ): Invocation {
    const args: unknown[] = [];
    s.args.forEach((v, i) => {
      const ps = positionals[Math.min(i, positionals.length - 1)];
      args.push(this.#convert(ps.kind, v));
    });
    const opts: Record<string, unknown> = {};
    for (const o of s.options) {
      const os = options.find((x) => x.name === o.name)!;
      const value = o.value === null ? true : this.#convert(os.kind, o.value);
      if (os.repeatable) ((opts[o.name] ??= []) as unknown[]).push(value);
      else opts[o.name] = value;
    }
    return { args, opts, table: this.table, file: this.#file };
  }

  #raw(v: Value): ScalarValue {
    if (v.kind === "expr") return this.eval(v.expr);
    return v.text;
  }

  #convert(kind: OptionSpec["kind"], v: Value): unknown {
    try {
      return convertValue(kind, this.#raw(v));
    } catch (e) {
      if (e instanceof ValueError) throw new SpannedError(null, e.message, v.span);
      throw e;
    }
  }

  #sweepValue(v: Value): ScalarValue {
    const raw = this.#raw(v);
    if (typeof raw === "string" && v.kind === "word") {
      try {
        return numberLiteralValue(raw);
      } catch {
        return raw;
      }
    }
    return raw;
  }

  // ---------------------------------------------------------------- expressions

  /** Evaluates an expression; `used` collects the names it read and their values. */
  eval(e: Expr, used?: Record<string, ScalarValue>): ScalarValue {
    switch (e.kind) {
      case "num":
      case "str":
      case "bool":
        return e.value;
      case "name": {
        const v = this.lookup(e.name, e.span);
        if (used) used[e.name] = v;
        return v;
      }
      case "unary": {
        const v = this.eval(e.arg, used);
        if (e.op === "!") return !truthy(v);
        return -this.#num(v, e, "-");
      }
      case "binary": {
        if (e.op === "&&") {
          return truthy(this.eval(e.left, used)) && truthy(this.eval(e.right, used));
        }
        if (e.op === "||") {
          return truthy(this.eval(e.left, used)) || truthy(this.eval(e.right, used));
        }
        const a = this.eval(e.left, used);
        const b = this.eval(e.right, used);
        if (e.op === "==") return a === b;
        if (e.op === "!=") return a !== b;
        if (typeof a === "string" && typeof b === "string") {
          switch (e.op) {
            case "<":
              return a < b;
            case "<=":
              return a <= b;
            case ">":
              return a > b;
            case ">=":
              return a >= b;
            case "+":
              return a + b;
          }
        }
        const x = this.#num(a, e.left, e.op), y = this.#num(b, e.right, e.op);
        switch (e.op) {
          case "<":
            return x < y;
          case "<=":
            return x <= y;
          case ">":
            return x > y;
          case ">=":
            return x >= y;
          case "+":
            return x + y;
          case "-":
            return x - y;
          case "*":
            return x * y;
          case "/":
          case "%":
            if (y === 0) throw new SpannedError(null, "division by zero", e.right.span);
            return e.op === "/" ? x / y : x % y;
        }
      }
    }
  }

  #num(v: ScalarValue, e: Expr, op: string): number {
    if (typeof v === "number") return v;
    if (typeof v === "boolean") return v ? 1 : 0;
    throw new SpannedError(null, `"${op}" needs numbers, got the string "${v}"`, e.span);
  }

  /**
   * Value of a name: a variable, an object property (`guest.folios`), a measured row
   * (`before_kexec.tracker.pages`) or a metric (`restore.failed`).
   */
  lookup(name: string, span?: Span): ScalarValue {
    const s = this.session;
    const v = s.vars.get(name);
    if (v !== undefined) return v;
    const dot = name.indexOf(".");
    if (dot > 0) {
      const head = name.slice(0, dot), rest = name.slice(dot + 1);
      const obj = s.objects.get(head);
      if (obj) return objectProperty(obj, rest, span);
      const row = s.rows.findLast((r) => r.label.replaceAll("-", "_") === head);
      if (row && rest in row.metrics) return row.metrics[rest];
    }
    const metric = this.table.metrics.get(name);
    if (metric) return metric.get(s) ?? 0;
    const candidates = [
      ...s.vars.keys(),
      ...this.table.metrics.keys(),
      ...[...s.objects.keys()].flatMap((o) => OBJECT_PROPERTIES.map((p) => `${o}.${p}`)),
    ];
    const msg = `unknown name "${name}"${didYouMean(name, candidates)}`;
    if (span) throw new SpannedError(null, msg, span);
    throw new CommandError(null, msg);
  }

  #expect(s: Stmt & { kind: "expect" }): void {
    const session = this.session;
    const used: Record<string, ScalarValue> = {};
    const ok = truthy(this.eval(s.expr, used));
    const r: ExpectResult = {
      file: this.#file,
      line: s.span.line,
      source: s.source,
      ok,
      values: used,
    };
    session.expects.push(r);
    if (ok) session.stats.expectPassed++;
    else {
      session.stats.expectFailed++;
      const vals = Object.entries(used).map(([k, v]) => `${k} = ${fmtValue(v)}`).join(", ");
      session.print(
        `${this.#file}:${s.span.line}:${s.span.col}: expect failed: ${s.source}${
          vals ? ` (${vals})` : ""
        }`,
      );
    }
  }
}
