/**
 * The syntax tree of a kholab script and its printer: {@link format} prints a program that
 * parses back to the same tree (spans aside, see {@link withoutSpans}).
 *
 * @module
 */

import type { Span } from "./errors.ts";

/** An expression (in `expect`, `let`, `repeat`, `$name` and `(…)` option values). */
export type Expr =
  | { kind: "num"; value: number; raw: string; span: Span }
  | { kind: "str"; value: string; span: Span }
  | { kind: "bool"; value: boolean; span: Span }
  | { kind: "name"; name: string; span: Span }
  | { kind: "unary"; op: "!" | "-"; arg: Expr; span: Span }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr; span: Span };

/** Binary operators, loosest first: `||`, `&&`, comparisons, `+ -`, `* / %`. */
export type BinaryOp =
  | "||"
  | "&&"
  | "=="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "+"
  | "-"
  | "*"
  | "/"
  | "%";

/** Precedence of each binary operator (higher binds tighter). */
export const PRECEDENCE: Readonly<Record<BinaryOp, number>> = {
  "||": 1,
  "&&": 2,
  "==": 3,
  "!=": 3,
  "<": 3,
  "<=": 3,
  ">": 3,
  ">=": 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
};

/** A value of an option or positional: a bare word, a quoted string, or an expression. */
export type Value =
  | { kind: "word"; text: string; span: Span }
  | { kind: "string"; text: string; span: Span }
  | { kind: "expr"; expr: Expr; dollar: boolean; span: Span };

/** `key=value`, or a bare flag (`huge`) whose value is null. */
export interface OptionNode {
  /** Option name. */
  name: string;
  /** The value, or null for a bare flag. */
  value: Value | null;
  /** Where the option starts. */
  span: Span;
}

/** A statement. */
export type Stmt =
  | {
    kind: "command";
    name: string;
    args: Value[];
    options: OptionNode[];
    span: Span;
  }
  | {
    kind: "assign";
    target: string;
    objectKind: string;
    args: Value[];
    options: OptionNode[];
    span: Span;
    kindSpan: Span;
  }
  | { kind: "let"; name: string; expr: Expr; span: Span }
  | { kind: "expect"; expr: Expr; source: string; span: Span }
  | { kind: "repeat"; count: Expr; body: Stmt[]; span: Span }
  | { kind: "try"; body: Stmt[]; span: Span }
  | { kind: "sweep"; variable: string; values: Value[]; body: Stmt[]; span: Span }
  | { kind: "include"; path: Value; span: Span };

/** A parsed script. */
export interface Program {
  /** Name used in diagnostics. */
  file: string;
  /** The source text. */
  source: string;
  /** Top-level statements. */
  body: Stmt[];
}

/** Prints an expression with the fewest parentheses that keep its tree. */
export function formatExpr(e: Expr, parentPrec = 0, right = false): string {
  switch (e.kind) {
    case "num":
      return e.raw;
    case "str":
      return JSON.stringify(e.value);
    case "bool":
      return String(e.value);
    case "name":
      return e.name;
    case "unary": {
      const inner = formatExpr(e.arg, 6);
      return e.op === "-" && inner.startsWith("-") ? `- ${inner}` : `${e.op}${inner}`;
    }
    case "binary": {
      const p = PRECEDENCE[e.op];
      const s = `${formatExpr(e.left, p)} ${e.op} ${formatExpr(e.right, p, true)}`;
      return p < parentPrec || (right && p === parentPrec) ? `(${s})` : s;
    }
  }
}

/** Prints a value (word, quoted string, `$name` or `(expr)`). */
export function formatValue(v: Value): string {
  switch (v.kind) {
    case "word":
      return v.text;
    case "string":
      return JSON.stringify(v.text);
    case "expr":
      return v.dollar && v.expr.kind === "name" ? `$${v.expr.name}` : `(${formatExpr(v.expr)})`;
  }
}

function formatItems(args: Value[], options: OptionNode[]): string {
  const parts = args.map(formatValue);
  for (const o of options) {
    parts.push(o.value === null ? o.name : `${o.name}=${formatValue(o.value)}`);
  }
  return parts.length ? " " + parts.join(" ") : "";
}

function formatBlock(body: Stmt[], indent: string): string {
  if (body.length === 0) return "{\n" + indent + "}";
  return "{\n" + body.map((s) => formatStmt(s, indent + "  ")).join("\n") + "\n" + indent + "}";
}

/** Prints one statement at an indentation. */
export function formatStmt(s: Stmt, indent = ""): string {
  switch (s.kind) {
    case "command":
      return indent + s.name + formatItems(s.args, s.options);
    case "assign":
      return `${indent}${s.target} = ${s.objectKind}${formatItems(s.args, s.options)}`;
    case "let":
      return `${indent}let ${s.name} = ${formatExpr(s.expr)}`;
    case "expect":
      return `${indent}expect ${formatExpr(s.expr)}`;
    case "repeat":
      return `${indent}repeat ${formatExpr(s.count)} ${formatBlock(s.body, indent)}`;
    case "try":
      return `${indent}try ${formatBlock(s.body, indent)}`;
    case "sweep":
      return `${indent}sweep ${s.variable} in [${s.values.map(formatValue).join(", ")}] ${
        formatBlock(s.body, indent)
      }`;
    case "include":
      return `${indent}include ${formatValue(s.path)}`;
  }
}

/**
 * Prints a program; `parse(format(p))` gives the same tree as `p`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { format } from "./ast.ts";
 * import { parse } from "./parser.ts";
 * const p = parse("repeat 2 { kexec }\nexpect kexec.count==2");
 * assert.equal(format(p), "repeat 2 {\n  kexec\n}\nexpect kexec.count == 2\n");
 * ```
 */
export function format(p: { body: Stmt[] }): string {
  return p.body.map((s) => formatStmt(s)).join("\n") + (p.body.length ? "\n" : "");
}

/** A deep copy of a tree without `span`, `kindSpan` and `source` fields (for comparisons). */
export function withoutSpans<T>(node: T): T {
  if (Array.isArray(node)) return node.map(withoutSpans) as T;
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === "span" || k === "kindSpan" || k === "source") continue;
    out[k] = withoutSpans(v);
  }
  return out as T;
}
