import assert from "node:assert/strict";
import fc from "fast-check";
import { type Expr, format, type Stmt, type Value, withoutSpans } from "../../lib/dsl/ast.ts";
import { ScriptSyntaxError, ScriptSyntaxErrors } from "../../lib/dsl/errors.ts";
import { numberLiteralValue, parse, parseExpr } from "../../lib/dsl/parser.ts";

const S = { line: 1, col: 1, len: 1 };
const EXAMPLES = ["quickstart", "hypervisor", "hypervisor-small", "chain", "faults", "profiles"]
  .map((n) => Deno.readTextFileSync(new URL(`../../examples/${n}.kho`, import.meta.url)));

Deno.test("the brief's script parses to the expected statements", () => {
  const p = parse(EXAMPLES[1], { file: "hypervisor.kho" });
  const kinds = p.body.map((s) =>
    s.kind === "command" ? s.name : s.kind === "assign" ? `${s.target}=${s.objectKind}` : s.kind
  );
  assert.deepEqual(kinds, [
    "seed",
    "machine",
    "profile",
    "kernel",
    "guest=memfd",
    "iommu=pages",
    "ring=vmalloc",
    "bufs=folios",
    "dma=pages",
    "preserve",
    "measure",
    "kexec",
    "restore",
    "verify",
    "measure",
    "expect",
    "show",
  ]);
  const ring = p.body[6] as Extract<Stmt, { kind: "assign" }>;
  assert.deepEqual(ring.options.map((o) => [o.name, o.value?.kind ?? null]), [
    ["size", "word"],
    ["huge", null],
    ["fill", "word"],
  ]);
  assert.deepEqual(p.body[6].span, { line: 9, col: 1, len: 4 });
});

Deno.test("number literals: sizes, counts, hex, decimals", () => {
  assert.equal(numberLiteralValue("4K"), 4096);
  assert.equal(numberLiteralValue("1T"), 2 ** 40);
  assert.equal(numberLiteralValue("1Mi"), 2 ** 20);
  assert.equal(numberLiteralValue("64Ki"), 65536);
  assert.equal(numberLiteralValue("1k"), 1000);
  assert.equal(numberLiteralValue("0x10"), 16);
  assert.equal(numberLiteralValue("0.5"), 0.5);
  const e = parseExpr("a.b + 2 * 3 == 8 && !c || d < 1G") as Extract<Expr, { kind: "binary" }>;
  assert.equal(e.op, "||");
});

Deno.test("format prints a canonical script that parses back to the same tree", () => {
  for (const text of EXAMPLES) {
    const p = parse(text);
    const again = parse(format(p));
    assert.deepEqual(withoutSpans(again.body), withoutSpans(p.body));
    assert.equal(format(again), format(p));
  }
});

// ------------------------------------------------------------------ generators

const NAMES = ["a", "x_1", "restore.failed", "guest.folios", "before_kexec.tracker.pages"];
const RAWS = ["0", "1", "42", "4K", "16G", "1T", "1Mi", "64Ki", "1k", "0x1f", "0.25"];
const OPS = ["||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"] as const;

const exprArb: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...RAWS).map((raw): Expr => ({
      kind: "num",
      raw,
      value: numberLiteralValue(raw),
      span: S,
    })),
    fc.string({ maxLength: 6 }).map((value): Expr => ({ kind: "str", value, span: S })),
    fc.boolean().map((value): Expr => ({ kind: "bool", value, span: S })),
    fc.constantFrom(...NAMES).map((name): Expr => ({ kind: "name", name, span: S })),
    fc.tuple(fc.constantFrom("!", "-") as fc.Arbitrary<"!" | "-">, tie("e")).map((
      [op, arg],
    ): Expr => ({ kind: "unary", op, arg, span: S })),
    fc.tuple(fc.constantFrom(...OPS), tie("e"), tie("e")).map((
      [op, left, right],
    ): Expr => ({ kind: "binary", op, left, right, span: S })),
  ),
})).e;

const valueArb: fc.Arbitrary<Value> = fc.oneof(
  fc.constantFrom("1G", "kho-v2", "random", "0x1000", "a").map((text): Value => ({
    kind: "word",
    text,
    span: S,
  })),
  fc.string({ maxLength: 5 }).map((text): Value => ({ kind: "string", text, span: S })),
  fc.constantFrom("a", "x_1").map((name): Value => ({
    kind: "expr",
    dollar: true,
    expr: { kind: "name", name, span: S },
    span: S,
  })),
  exprArb.map((expr): Value => ({ kind: "expr", dollar: false, expr, span: S })),
);

const TEMPLATES = [
  "kexec",
  "kexec profile=kho-v3",
  "preserve a b",
  "show table",
  "measure label=x-1",
  "machine ram=1G nodes=2",
  "b = folios order=2 count=3",
  "r = vmalloc size=1M huge",
  "kernel fail=prob:0.5,seed:3 reserve_mem=64M:4K:trace",
  "help",
  'include "lib/common.kho"',
].map((t) => parse(t).body[0]);

const stmtArb: fc.Arbitrary<Stmt> = fc.letrec<{ s: Stmt; body: Stmt[] }>((tie) => ({
  s: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...TEMPLATES),
    fc.tuple(fc.constantFrom("a", "n_2"), exprArb).map(([name, expr]): Stmt => ({
      kind: "let",
      name,
      expr,
      span: S,
    })),
    exprArb.map((expr): Stmt => ({ kind: "expect", expr, source: "", span: S })),
    fc.tuple(exprArb, tie("body")).map(([count, body]): Stmt => ({
      kind: "repeat",
      count,
      body,
      span: S,
    })),
    fc.tuple(fc.array(valueArb, { maxLength: 4 }), tie("body")).map(([values, body]): Stmt => ({
      kind: "sweep",
      variable: "v",
      values,
      body,
      span: S,
    })),
    tie("body").map((body): Stmt => ({ kind: "try", body, span: S })),
    valueArb.map((v): Stmt => ({
      kind: "command",
      name: "kernel",
      args: [],
      options: [{ name: "cmdline", value: v, span: S }],
      span: S,
    })),
  ),
  body: fc.array(tie("s"), { maxLength: 3 }),
})).s;

Deno.test("property: parse(format(ast)) is ast", () => {
  fc.assert(
    fc.property(fc.array(stmtArb, { maxLength: 5 }), (body) => {
      const text = format({ body });
      let again;
      try {
        again = parse(text);
      } catch (e) {
        throw new Error(`${text}\n${(e as Error).message}`);
      }
      assert.deepEqual(withoutSpans(again.body), withoutSpans(body));
    }),
    { seed: 20260401, numRuns: 300 },
  );
});

// ------------------------------------------------------------------ robustness

const ALPHABET = [
  ..."{}[]()=\"'$#;\n \t=+-!<>&|.,0x4KGMi~\\",
  "kexec",
  "repeat 2 {",
  "sweep v in [",
  "expect ",
  "let z = ",
];

const mutated = fc.tuple(
  fc.constantFrom(...EXAMPLES),
  fc.array(
    fc.tuple(
      fc.nat(),
      fc.nat({ max: 12 }),
      fc.constantFrom(...ALPHABET),
      fc.constantFrom("del", "ins", "dup"),
    ),
    { minLength: 1, maxLength: 6 },
  ),
).map(([text, edits]) => {
  let t = text;
  for (const [at, len, ins, op] of edits) {
    const i = at % (t.length + 1);
    if (op === "del") t = t.slice(0, i) + t.slice(i + len);
    else if (op === "ins") t = t.slice(0, i) + ins + t.slice(i);
    else t = t.slice(0, i) + t.slice(i, i + len * 4) + t.slice(i);
  }
  return t;
});

function onlyLanguageErrors(text: string): void {
  try {
    parse(text, { file: "m.kho" });
  } catch (e) {
    if (!(e instanceof ScriptSyntaxErrors)) throw e;
    const lines = text.split("\n").length;
    assert.ok(e.errors.length > 0);
    for (const err of e.errors) {
      assert.ok(err instanceof ScriptSyntaxError);
      assert.ok(err.line >= 1 && err.line <= lines, err.message);
      assert.ok(err.message.startsWith(`m.kho:${err.line}:${err.column}: `));
    }
  }
}

Deno.test("property: mutated scripts only ever give the language's own syntax errors", () => {
  fc.assert(fc.property(mutated, onlyLanguageErrors), { seed: 77, numRuns: 500 });
});

Deno.test("property: random text only ever gives the language's own syntax errors", () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...ALPHABET, "a", "b", "preserve", "show", "machine"), {
        maxLength: 40,
      }).map((a) => a.join("")),
      onlyLanguageErrors,
    ),
    { seed: 78, numRuns: 500 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 80 }), onlyLanguageErrors), {
    seed: 79,
    numRuns: 300,
  });
});
