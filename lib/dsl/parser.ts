/**
 * Parser of the kholab command language. A script is line-oriented: one statement per line
 * (or separated by `;`), `#` comments, blocks in braces for `repeat` and `sweep`. Statements
 * are checked against a command table (the language's {@link TABLE} unless one is given) — unknown
 * commands and options, missing or surplus arguments, literal values of the wrong kind —
 * and every error of the script is collected before {@link ScriptSyntaxErrors} is thrown.
 *
 * Bounded on any input: parsing takes time linear in the script's length (no step looks back
 * over the source); nesting — parentheses, unary operators, operator chains, blocks — stops at
 * {@link MAX_NESTING} levels with an error at its place (so neither the parser nor the
 * evaluator nor the printer can overflow the JavaScript stack); the first
 * {@link MAX_REPORTED_ERRORS} errors are reported in full and the rest counted. A UTF-8
 * byte-order mark at the start of a script is skipped.
 *
 * @module
 */

import type { BinaryOp, Expr, OptionNode, Program, Stmt, Value } from "./ast.ts";
import { PRECEDENCE } from "./ast.ts";
import {
  didYouMean,
  quoteToken,
  ScriptSyntaxError,
  ScriptSyntaxErrors,
  type Span,
} from "./errors.ts";
import {
  type CommandSpec,
  type CommandTable,
  type ObjectKindSpec,
  type OptionSpec,
  usage,
} from "./spec.ts";
import { TABLE } from "./table.ts";
import { convertValue, kindName, ValueError } from "./values.ts";
import { parseCount, parseSize } from "../units.ts";

/** Deepest nesting of parentheses, unary operators, operator chains and blocks. */
export const MAX_NESTING = 256;

/** Errors of one script reported in full; later ones are counted ("… and K more"). */
export const MAX_REPORTED_ERRORS = 100;

/** Options of {@link parse}. */
export interface ParseOptions {
  /** Name used in diagnostics. Default `<script>`. */
  file?: string;
  /** The commands, object kinds and metrics to check against. Default the language's. */
  table?: CommandTable;
  /** Errors reported in full (default {@link MAX_REPORTED_ERRORS}); the rest are counted. */
  maxErrors?: number;
}

/** Thrown to abandon a statement after an error (one instance: no stack trace to capture). */
class Bail extends Error {}
const BAIL = new Bail("bail");

/** The script without a leading byte-order mark (U+FEFF). */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const CMD_IDENT = /[A-Za-z_][A-Za-z0-9_-]*/y;
const NUMBER =
  /(0x[0-9a-fA-F]+|\d+(?:\.\d+)?)([KMGTP]iB|[KMGTP]B|Ki|Mi|Gi|Ti|k|[KMGTP])?(?![A-Za-z0-9_])/y;
const DOTTED = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const WORD_STOP = " \t\r\n#;{}()\"'=";
const OPS = ["||", "&&", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%"] as const;

/** Reads a numeric literal's value (size rules, except Ki/Mi/Gi/Ti/k counts). */
export function numberLiteralValue(raw: string): number {
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (/(Ki|Mi|Gi|Ti|k)$/.test(raw)) return parseCount(raw);
  return parseSize(raw);
}

class Parser {
  readonly src: string;
  readonly file: string;
  pos = 0;
  readonly errors: ScriptSyntaxError[] = [];
  /** Errors found past {@link maxErrors}. */
  more = 0;
  readonly maxErrors: number;
  /** Current recursion depth (parentheses, unary operators, blocks). */
  #nesting = 0;
  /** Depth of each expression node built (operator chains nest without recursion). */
  readonly #exprDepth = new WeakMap<Expr, number>();
  readonly #lineStarts: number[] = [0];
  readonly commands: ReadonlyMap<string, CommandSpec>;
  readonly objectKinds: ReadonlyMap<string, ObjectKindSpec>;

  constructor(src: string, file: string, table: CommandTable = TABLE, maxErrors?: number) {
    this.src = src;
    this.file = file;
    this.maxErrors = maxErrors ?? MAX_REPORTED_ERRORS;
    this.commands = table.commands;
    this.objectKinds = table.objectKinds;
    for (let i = 0; i < src.length; i++) if (src[i] === "\n") this.#lineStarts.push(i + 1);
  }

  /** Index of the line holding offset `pos` (0-based), by binary search. */
  #lineIndex(pos: number): number {
    let lo = 0, hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Offset of the line break ending the line that holds `pos` (or the script's length). */
  lineEnd(pos: number): number {
    const next = this.#lineIndex(pos) + 1;
    return next < this.#lineStarts.length ? this.#lineStarts[next] - 1 : this.src.length;
  }

  span(start: number, end = start + 1): Span {
    const lo = this.#lineIndex(start);
    const stop = this.lineEnd(start);
    return {
      line: lo + 1,
      col: start - this.#lineStarts[lo] + 1,
      len: Math.max(1, Math.min(end, stop) - start),
    };
  }

  /** Whether further errors are only counted (then messages need no suggestions). */
  get quiet(): boolean {
    return this.errors.length >= this.maxErrors;
  }

  /** Records an error; `message` may be a function (not called past the error limit). */
  report(message: string | (() => string), start: number, end = start + 1): void {
    if (this.errors.length >= this.maxErrors) {
      this.more++;
      return;
    }
    this.errors.push(
      new ScriptSyntaxError(typeof message === "string" ? message : message(), {
        file: this.file,
        span: this.span(start, end),
        source: this.src,
      }),
    );
  }

  fail(message: string | (() => string), start: number, end = start + 1): never {
    this.report(message, start, end);
    throw BAIL;
  }

  /** Fails at `at`: expected `what`, found what is there. */
  expected(what: string, at = this.pos): never {
    this.fail(() => `expected ${what}, found ${this.describeHere()}`, at);
  }

  /** Records an error over `span`. */
  reportSpan(message: string | (() => string), span: Span): void {
    const at = this.offsetOf(span);
    this.report(message, at, at + span.len);
  }

  peek(): string {
    return this.src[this.pos] ?? "";
  }

  /** Skips blanks and a comment, not newlines (a `\` before a newline continues the line). */
  skipBlanks(): void {
    for (;;) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\r") this.pos++;
      else if (
        c === "\\" && (this.src[this.pos + 1] === "\n" || this.src.startsWith("\r\n", this.pos + 1))
      ) {
        this.pos += this.src[this.pos + 1] === "\n" ? 2 : 3;
      } else if (c === "#") {
        while (this.pos < this.src.length && this.peek() !== "\n") this.pos++;
      } else return;
    }
  }

  /** Skips blanks, comments, newlines and `;`. */
  skipSeparators(): void {
    for (;;) {
      this.skipBlanks();
      if (this.peek() === "\n" || this.peek() === ";") this.pos++;
      else return;
    }
  }

  atEnd(): boolean {
    const c = this.peek();
    return c === "" || c === "\n" || c === ";" || c === "}";
  }

  match(re: RegExp): string | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    return m ? m[0] : null;
  }

  describeHere(): string {
    const c = this.peek();
    if (c === "") return "end of script";
    if (c === "\n") return "end of line";
    const w = /^[^\s]{1,12}/.exec(this.src.slice(this.pos, this.pos + 12))?.[0] ?? c;
    return quoteToken(w, 12);
  }

  /** After an error: skip to the end of the statement, over any block it opened. */
  recover(): void {
    let depth = 0;
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c === '"' || c === "'") {
        const nl = this.lineEnd(this.pos);
        const end = this.src.indexOf(c, this.pos + 1);
        this.pos = end >= 0 && end < nl ? end + 1 : nl;
        continue;
      }
      if (c === "#") {
        this.skipBlanks();
        continue;
      }
      if (c === "{") depth++;
      else if (c === "}") {
        if (depth === 0) return;
        depth--;
        if (depth === 0) {
          this.pos++;
          return;
        }
      } else if ((c === "\n" || c === ";") && depth === 0) return;
      this.pos++;
    }
  }

  /** Runs `fn` one nesting level deeper; past {@link MAX_NESTING} fails at `at`. */
  nested<T>(at: number, fn: () => T): T {
    if (this.#nesting >= MAX_NESTING) this.tooDeep(at);
    this.#nesting++;
    try {
      return fn();
    } finally {
      this.#nesting--;
    }
  }

  tooDeep(at: number): never {
    this.fail(
      () => `nested deeper than ${MAX_NESTING} levels (parentheses, operators and blocks count)`,
      at,
    );
  }

  /** Records an expression node's depth (1 + its deepest child); past the limit fails. */
  node<E extends Expr>(e: E, at: number, ...children: Expr[]): E {
    let d = 0;
    for (const c of children) d = Math.max(d, this.#exprDepth.get(c) ?? 0);
    if (d + 1 > MAX_NESTING) this.tooDeep(at);
    this.#exprDepth.set(e, d + 1);
    return e;
  }

  // ---------------------------------------------------------------- program and blocks

  block(depth: number, open: number): Stmt[] {
    const body: Stmt[] = [];
    for (;;) {
      this.skipSeparators();
      if (this.pos >= this.src.length) {
        if (depth > 0) this.report("unclosed block: '{' has no matching '}'", open);
        return body;
      }
      if (this.peek() === "}") {
        if (depth > 0) {
          this.pos++;
          return body;
        }
        this.report("unexpected '}' (no block is open)", this.pos);
        this.pos++;
        continue;
      }
      const start = this.pos;
      try {
        body.push(this.statement(depth));
        this.skipBlanks();
        if (!this.atEnd()) this.fail(() => `unexpected ${this.describeHere()}`, this.pos);
      } catch (e) {
        if (!(e instanceof Bail)) throw e;
        if (this.pos === start) this.pos++;
        this.recover();
      }
    }
  }

  statement(depth: number): Stmt {
    const start = this.pos;
    const word = this.match(CMD_IDENT);
    if (word === null) this.expected("a command");
    this.pos += word.length;
    const nameSpan = this.span(start, this.pos);
    this.stmtSpan = nameSpan;
    this.skipBlanks();
    if (this.peek() === "=" && this.src[this.pos + 1] !== "=") return this.assignment(word, start);
    switch (word) {
      case "let":
        return this.letStmt(nameSpan);
      case "expect": {
        const e0 = this.pos;
        if (this.atEnd()) this.fail("expect needs an expression", start, this.pos);
        const expr = this.expr(false);
        return {
          kind: "expect",
          expr,
          source: this.src.slice(e0, this.pos).trim(),
          span: nameSpan,
        };
      }
      case "repeat": {
        if (this.atEnd()) this.fail("repeat needs a count: repeat N { … }", start, this.pos);
        const count = this.expr(false);
        this.skipBlanks();
        return { kind: "repeat", count, body: this.braceBlock(depth, "repeat"), span: nameSpan };
      }
      case "sweep":
        return this.sweepStmt(depth, nameSpan);
      case "try":
        return { kind: "try", body: this.braceBlock(depth, "try"), span: nameSpan };
      case "include": {
        if (this.atEnd()) this.fail("include needs a file name", start, this.pos);
        const path = this.value(WORD_STOP);
        return { kind: "include", path, span: nameSpan };
      }
    }
    const spec = this.commands.get(word);
    if (spec === undefined || spec.special) {
      const known = [...this.commands.keys()];
      let hint = this.quiet ? "" : didYouMean(word, known);
      if (!hint && this.objectKinds.has(word)) {
        hint = ` (objects are created with NAME = ${word} …)`;
      }
      this.fail(() => `unknown command ${quoteToken(word)}${hint}`, start, start + word.length);
    }
    const errorsBefore = this.errors.length + this.more;
    const { args, options } = this.items(spec, word);
    if (spec.check && this.errors.length + this.more === errorsBefore) {
      this.commandCheck(spec, args, options);
    }
    return { kind: "command", name: word, args, options, span: nameSpan };
  }

  assignment(target: string, start: number): Stmt {
    const span = this.span(start, start + target.length);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(target)) {
      this.report(
        () => `${quoteToken(target)} is not an object name (letters, digits, _)`,
        start,
        start + target.length,
      );
    } else if (this.commands.has(target) || this.objectKinds.has(target)) {
      this.report(
        () => `${quoteToken(target)} is a command name; choose another object name`,
        start,
        start + target.length,
      );
    }
    this.pos++; // =
    this.skipBlanks();
    const k0 = this.pos;
    const kind = this.match(CMD_IDENT);
    if (kind === null) this.expected(`an object kind (${[...this.objectKinds.keys()].join(", ")})`);
    this.pos += kind.length;
    const kindSpan = this.span(k0, this.pos);
    this.stmtSpan = kindSpan;
    const spec = this.objectKinds.get(kind);
    if (spec === undefined) {
      this.fail(
        () =>
          `unknown object kind ${quoteToken(kind)}${
            didYouMean(kind, this.objectKinds.keys())
          } (known: ${[...this.objectKinds.keys()].join(", ")})`,
        k0,
        this.pos,
      );
    }
    const { args, options } = this.items(spec, kind);
    return { kind: "assign", target, objectKind: kind, args, options, span, kindSpan };
  }

  letStmt(nameSpan: Span): Stmt {
    const n0 = this.pos;
    const name = this.match(IDENT);
    if (name === null) this.fail(() => `let needs a name, found ${this.describeHere()}`, this.pos);
    this.pos += name.length;
    this.skipBlanks();
    if (this.peek() !== "=" || this.src[this.pos + 1] === "=") {
      this.expected(`"=" after let ${name}`);
    }
    this.pos++;
    this.skipBlanks();
    if (this.atEnd()) this.fail(() => `let ${name} needs a value`, n0, this.pos);
    return { kind: "let", name, expr: this.expr(false), span: nameSpan };
  }

  sweepStmt(depth: number, nameSpan: Span): Stmt {
    const variable = this.match(IDENT);
    if (variable === null) {
      this.fail(() => `sweep needs a variable: sweep VAR in [ … ] { … }`, this.pos);
    }
    this.pos += variable.length;
    this.skipBlanks();
    if (this.match(/in(?![A-Za-z0-9_])/y) === null) this.expected(`"in" after sweep ${variable}`);
    this.pos += 2;
    this.skipBlanks();
    if (this.peek() !== "[") this.expected(`"[" to start the sweep values`);
    const open = this.pos++;
    const values: Value[] = [];
    for (;;) {
      while (" \t\r\n,".includes(this.peek()) && this.peek() !== "") this.pos++;
      this.skipBlanks();
      if (this.peek() === "]") {
        this.pos++;
        break;
      }
      if (this.peek() === "" || this.peek() === "{" || this.peek() === "}" || this.peek() === ";") {
        this.fail("unclosed '[': expected ']'", open);
      }
      if (this.peek() === "\n") continue;
      values.push(this.value(WORD_STOP + ",[]"));
    }
    this.skipBlanks();
    return {
      kind: "sweep",
      variable,
      values,
      body: this.braceBlock(depth, "sweep"),
      span: nameSpan,
    };
  }

  braceBlock(depth: number, what: string): Stmt[] {
    if (this.peek() !== "{") this.expected(`"{" to open the ${what} block`);
    const open = this.pos;
    if (depth + 1 > MAX_NESTING) this.tooDeep(open);
    this.pos++;
    return this.nested(open, () => this.block(depth + 1, open));
  }

  // ---------------------------------------------------------------- items and values

  /** Positionals and options up to the end of the statement, checked against the spec. */
  items(
    spec: CommandSpec | ObjectKindSpec,
    what: string,
  ): { args: Value[]; options: OptionNode[] } {
    const args: Value[] = [];
    const options: OptionNode[] = [];
    const optSpecs = new Map(spec.options.map((o) => [o.name, o]));
    for (;;) {
      this.skipBlanks();
      if (this.atEnd()) break;
      const i0 = this.pos;
      const c = this.peek();
      if (c === '"' || c === "'" || c === "$" || c === "(") {
        args.push(this.value(WORD_STOP));
        continue;
      }
      const word = this.readWord(WORD_STOP);
      if (word === "") this.fail(() => `unexpected ${this.describeHere()}`, this.pos);
      if (this.peek() === "=") {
        this.pos++;
        if (this.atEnd() || this.peek() === " " || this.peek() === "\t" || this.peek() === "#") {
          this.fail(() => `missing value after ${word}=`, i0, this.pos);
        }
        const value = this.value(" \t\r\n#;{}()");
        options.push({ name: word, value, span: this.span(i0, i0 + word.length) });
      } else if (optSpecs.get(word)?.flag) {
        options.push({ name: word, value: null, span: this.span(i0, this.pos) });
      } else {
        args.push({ kind: "word", text: word, span: this.span(i0, this.pos) });
      }
    }
    this.check(spec, what, args, options);
    return { args, options };
  }

  readWord(stops: string): string {
    const s = this.pos;
    while (this.pos < this.src.length && !stops.includes(this.peek())) this.pos++;
    return this.src.slice(s, this.pos);
  }

  value(stops: string): Value {
    const s = this.pos;
    const c = this.peek();
    if (c === '"' || c === "'") {
      const text = this.stringLiteral();
      return { kind: "string", text, span: this.span(s, this.pos) };
    }
    if (c === "$") {
      this.pos++;
      const name = this.match(DOTTED);
      if (name === null) this.fail("expected a variable name after $", s, s + 1);
      this.pos += name.length;
      const span = this.span(s, this.pos);
      return { kind: "expr", dollar: true, expr: { kind: "name", name, span }, span };
    }
    if (c === "(") {
      const expr = this.expr(true);
      return { kind: "expr", dollar: false, expr, span: this.span(s, this.pos) };
    }
    const text = this.readWord(stops);
    if (text === "") this.expected("a value");
    return { kind: "word", text, span: this.span(s, this.pos) };
  }

  stringLiteral(): string {
    const s = this.pos;
    const q = this.peek();
    let i = this.pos + 1;
    while (i < this.src.length && this.src[i] !== q && this.src[i] !== "\n") {
      i += q === '"' && this.src[i] === "\\" ? 2 : 1;
    }
    if (i >= this.src.length || this.src[i] !== q) {
      this.pos = Math.min(i, this.src.length);
      this.fail("unterminated string", s, s + 1);
    }
    const inner = this.src.slice(s + 1, i);
    this.pos = i + 1;
    if (q === "'") return inner;
    try {
      return JSON.parse(`"${inner}"`) as string;
    } catch {
      this.fail("bad escape in string", s, this.pos);
    }
  }

  check(
    spec: CommandSpec | ObjectKindSpec,
    what: string,
    args: Value[],
    options: OptionNode[],
  ): void {
    const known = new Map(spec.options.map((o) => [o.name, o]));
    const seen = new Set<string>();
    for (const o of options) {
      const os = known.get(o.name);
      if (os === undefined) {
        const names = [...known.keys()];
        this.reportSpan(
          () =>
            `unknown option ${quoteToken(o.name)} for ${what}${
              this.quiet ? "" : didYouMean(o.name, names)
            }${names.length ? ` (options: ${names.join(", ")})` : " (it takes no options)"}`,
          o.span,
        );
        continue;
      }
      if (seen.has(o.name) && !os.repeatable) {
        this.reportSpan(() => `option ${quoteToken(o.name)} given twice`, o.span);
      }
      seen.add(o.name);
      if (o.value === null) continue;
      this.checkValue(os, o.value, `${o.name}: `);
    }
    for (const os of spec.options) {
      if (os.required && !seen.has(os.name)) {
        this.reportSpan(
          () => `${what}: missing option ${os.name}=${kindName(os.kind)} (usage: ${usage(spec)})`,
          this.stmtSpan,
        );
      }
    }
    const pos = "positionals" in spec ? spec.positionals : [];
    let k = 0;
    for (let i = 0; i < args.length; i++) {
      const ps = pos[Math.min(k, pos.length - 1)];
      if (ps === undefined || (k >= pos.length && !pos[pos.length - 1].variadic)) {
        const flags = spec.options.filter((o) => o.flag).map((o) => o.name);
        const hint = args[i].kind === "word" && !this.quiet
          ? didYouMean((args[i] as { text: string }).text, [
            ...flags,
            ...spec.options.map((o) => o.name + "="),
          ])
          : "";
        this.reportSpan(
          () =>
            `unexpected argument ${quoteToken(valueText(args[i]))} for ${what}${hint} (usage: ${
              usage(spec)
            })`,
          args[i].span,
        );
        continue;
      }
      this.checkValue({ name: ps.name, kind: ps.kind, doc: ps.doc }, args[i], "");
      if (!ps.variadic) k++;
    }
    const need = pos.filter((p) => !p.optional);
    const given = pos.some((p) => p.variadic) ? Math.min(args.length, need.length) : args.length;
    if (given < need.length) {
      const miss = need[given] ?? need[need.length - 1];
      this.reportSpan(() => `${what}: missing ${miss.name} (usage: ${usage(spec)})`, this.stmtSpan);
    }
  }

  /** Runs a command's own check on the literal arguments; reports each problem in place. */
  commandCheck(spec: CommandSpec, args: Value[], options: OptionNode[]): void {
    const literal = (v: Value | null) => v === null || v.kind === "expr" ? null : v.text;
    const problems = spec.check!({
      args: args.map(literal),
      options: new Map(options.map((o) => [o.name, literal(o.value)])),
    });
    for (const p of problems) {
      const opt = p.option === undefined ? undefined : options.find((o) => o.name === p.option);
      const arg = p.arg === undefined ? undefined : args[p.arg];
      this.reportSpan(p.message, opt?.span ?? arg?.span ?? this.stmtSpan);
    }
  }

  stmtSpan: Span = { line: 1, col: 1, len: 1 };

  offsetOf(span: Span): number {
    return this.#lineStarts[span.line - 1] + span.col - 1;
  }

  checkValue(os: OptionSpec, v: Value, prefix: string): void {
    if (v.kind === "expr") return; // checked when it runs
    try {
      convertValue(os.kind, v.text);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      this.reportSpan(() => `${prefix}${e.message}`, v.span);
    }
  }

  // ---------------------------------------------------------------- expressions

  /** An expression; inside parentheses newlines are blanks. */
  expr(parenthesized: boolean): Expr {
    if (parenthesized) {
      const open = this.pos++;
      const e = this.nested(open, () => this.binary(1, true));
      this.skipAll(true);
      if (this.peek() !== ")") {
        this.fail(() => `expected ")" to close "(", found ${this.describeHere()}`, this.pos, open);
      }
      this.pos++;
      return e;
    }
    return this.binary(1, false);
  }

  skipAll(nl: boolean): void {
    for (;;) {
      this.skipBlanks();
      if (nl && this.peek() === "\n") this.pos++;
      else return;
    }
  }

  peekOp(): BinaryOp | null {
    for (const op of OPS) if (this.src.startsWith(op, this.pos)) return op;
    return null;
  }

  binary(minPrec: number, nl: boolean): Expr {
    let left = this.unary(nl);
    for (;;) {
      this.skipAll(nl);
      const op = this.peekOp();
      if (op === null && this.peek() === "=") {
        this.fail(() => `"=" is not an operator: use == to compare`, this.pos);
      }
      if (op === null || PRECEDENCE[op] < minPrec) return left;
      const at = this.pos;
      this.pos += op.length;
      const right = this.binary(PRECEDENCE[op] + 1, nl);
      left = this.node({ kind: "binary", op, left, right, span: left.span }, at, left, right);
    }
  }

  unary(nl: boolean): Expr {
    this.skipAll(nl);
    const s = this.pos;
    const c = this.peek();
    if ((c === "!" && this.src[this.pos + 1] !== "=") || c === "-") {
      this.pos++;
      const arg = this.nested(s, () => this.unary(nl));
      return this.node({ kind: "unary", op: c, arg, span: this.span(s) }, s, arg);
    }
    return this.primary(nl);
  }

  primary(_nl: boolean): Expr {
    const s = this.pos;
    const c = this.peek();
    if (c === "(") return this.expr(true);
    if (c === '"' || c === "'") {
      const value = this.stringLiteral();
      return { kind: "str", value, span: this.span(s, this.pos) };
    }
    if (c >= "0" && c <= "9") {
      const raw = this.match(NUMBER);
      if (raw === null) {
        const bad = this.match(/[0-9A-Za-z_.]+/y)!;
        this.fail(
          () =>
            `bad number ${quoteToken(bad)} (sizes: 4K 16G 1T; counts: 64Ki 1Mi 1k; hex: 0x1000)`,
          s,
          s + bad.length,
        );
      }
      this.pos += raw.length;
      let value: number;
      try {
        value = numberLiteralValue(raw);
      } catch (e) {
        this.fail(() => `bad number ${quoteToken(raw)}: ${(e as Error).message}`, s, this.pos);
      }
      return { kind: "num", value, raw, span: this.span(s, this.pos) };
    }
    const name = this.match(DOTTED);
    if (name !== null) {
      this.pos += name.length;
      if (name === "true" || name === "false") {
        return { kind: "bool", value: name === "true", span: this.span(s, this.pos) };
      }
      return { kind: "name", name, span: this.span(s, this.pos) };
    }
    this.expected("a value in the expression", s);
  }
}

function valueText(v: Value): string {
  return v.kind === "expr" ? "(…)" : v.text;
}

/**
 * Parses and checks a script. Throws {@link ScriptSyntaxErrors} listing every error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parse } from "./parser.ts";
 * const p = parse("machine ram=4G\nbufs = folios order=2 count=3\npreserve bufs\nkexec");
 * assert.equal(p.body.length, 4);
 * assert.equal(p.body[1].kind, "assign");
 * ```
 */
export function parse(text: string, options: ParseOptions = {}): Program {
  const r = parseWithErrors(text, options);
  if (r.errors.length || r.more) throw new ScriptSyntaxErrors(r.errors, r.more);
  return r.program;
}

/**
 * Parses a script and returns the statements that parsed together with every error (for
 * tools that go on after errors, e.g. checking the includes of a broken script).
 */
export function parseWithErrors(
  text: string,
  options: ParseOptions = {},
): { program: Program; errors: ScriptSyntaxError[]; more: number } {
  const src = stripBom(text);
  const p = new Parser(src, options.file ?? "<script>", options.table, options.maxErrors);
  const body = p.block(0, 0);
  return { program: { file: p.file, source: src, body }, errors: p.errors, more: p.more };
}

/** Parses a single expression (for tools); throws {@link ScriptSyntaxErrors}. */
export function parseExpr(text: string, options: ParseOptions = {}): Expr {
  const p = new Parser(text, options.file ?? "<expr>");
  let e: Expr | null = null;
  try {
    e = p.expr(false);
    p.skipBlanks();
    if (p.pos < text.length) p.fail(`unexpected ${p.describeHere()}`, p.pos);
  } catch (err) {
    if (!(err instanceof Bail)) throw err;
  }
  if (p.errors.length || e === null) throw new ScriptSyntaxErrors(p.errors, p.more);
  return e;
}
