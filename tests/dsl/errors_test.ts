import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import {
  didYouMean,
  editDistance,
  formatDiagnostic,
  ScriptRuntimeError,
  ScriptSyntaxError,
  ScriptSyntaxErrors,
} from "../../lib/dsl/errors.ts";
import { parse } from "../../lib/dsl/parser.ts";
import { runScript } from "../../lib/dsl/run.ts";

/** Every class of syntax error, one snippet each. */
const SYNTAX_CASES: Record<string, string> = {
  "unknown command": "machne ram=4G",
  "unknown command that is an object kind": "folios order=2",
  "unknown option": "iommu = pages cout=1Mi",
  "option without options": "kexec profle=kho-v3",
  "duplicate option": "machine ram=1G ram=2G",
  "missing value": "machine ram= nodes=2",
  "missing required option": "ring = vmalloc huge",
  "missing positional": "preserve",
  "surplus positional": "kexec now",
  "unknown object kind": "bufs = folio order=2",
  "bad object name": "my-obj = folios order=1",
  "object named like a command": "kexec = folios order=1",
  "bad size": "machine ram=12Q",
  "bad count": "x = pages count=lots",
  "bad enum": "show tabel",
  "bad profile": "profile kho-v9",
  "bad fill": "x = pages fill=rnd",
  "bad fault": "kernel fail=nht:3",
  "bad scratch": "kernel kho_scratch=lots",
  "bad reserve_mem": "kernel reserve_mem=64M",
  "assignment in expect": "expect restore.failed = 0",
  "incomplete expression": "let y = 3 +",
  "bad number": "expect x == 12Q",
  "unclosed paren": "expect (1 + 2",
  "unterminated string": 'expect x == "abc',
  "bad escape": 'expect x == "a\\qb"',
  "unclosed block": "repeat 3 {\n  kexec",
  "unexpected brace": "kexec\n}",
  "unclosed list": "sweep x in [1, 2 {\n}",
  "sweep without in": "sweep x [1] { }",
  "repeat without block": "repeat 3 kexec",
  "let without =": "let x 3",
  "expect without expression": "expect",
  "trailing garbage": "expect 1 == 1 )",
  "not a command": "42 kexec",
};

function syntaxMessage(text: string): string {
  try {
    parse(text, { file: "case.kho" });
  } catch (e) {
    assert.ok(e instanceof ScriptSyntaxErrors, String(e));
    for (const err of e.errors) {
      assert.ok(err instanceof SyntaxError);
      assert.ok(err.line >= 1 && err.column >= 1 && err.snippet.includes("^"));
    }
    return e.message;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

Deno.test("every syntax error class has a diagnostic with place and caret", async (t) => {
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(SYNTAX_CASES)) out[name] = syntaxMessage(text);
  await t.assertSnapshot(out);
});

/** Every class of runtime error. */
const RUNTIME_CASES: Record<string, string> = {
  "unknown object": "machine ram=1G\nb = folios order=1\npreserve b c",
  "preserve twice": "machine ram=1G\nb = folios order=1\npreserve b\npreserve b",
  "free preserved": "machine ram=1G\nb = folios order=1\npreserve b\nfree b",
  "finalize on a radix profile": "machine ram=1G\nfinalize",
  "abort on a radix profile": "machine ram=1G\nprofile kho-v2\nabort",
  "out of memory": "machine ram=1G\nb = folios order=10 count=1000",
  "object exists": "machine ram=1G\nb = folios order=1\nb = pages count=2",
  "bad value from a variable": 'let r = "lots"\nmachine ram=$r',
  "unknown name": "machine ram=1G\nexpect restore.faild == 0",
  "division by zero": "expect 1 / 0 == 1",
  "string arithmetic": 'expect "a" - 1 == 0',
  "repeat count": "repeat -1 {\n  kexec\n}",
  "include missing": "include nowhere.kho",
  "restore not incoming": "machine ram=1G\nb = folios order=1\nrestore b",
  "split a folio": "machine ram=1G\nb = folios order=1\nsplit b",
  "within needs order 0": "machine ram=1G\nb = pages order=2 within=64M",
  "node out of range": "machine ram=1G\nb = folios order=1 node=3",
  "unknown property": "machine ram=1G\nb = folios order=1\nexpect b.colour == 1",
  "machine too small": "machine ram=1M",
  "subtree exists": "machine ram=1G\nsubtree s\nsubtree s",
};

Deno.test("every runtime error class names line, command and errno", async (t) => {
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(RUNTIME_CASES)) {
    const r = runScript(text, { file: "run.kho", clock: new ManualClock() });
    assert.equal(r.exitCode, 2, name);
    assert.equal(r.results.error?.kind, "runtime", name);
    assert.match(r.results.error!.message, /^run\.kho:\d+:\d+: [a-z_]+: /, name);
    out[name] = r.results.error!.message;
  }
  await t.assertSnapshot(out);
});

Deno.test("a script reports every syntax error, not only the first", () => {
  const text = "machne\nx = pages cout=1\nkexec\nshow tabel\nrepeat 2 {\n  presrve x\n}\nexpect (1";
  try {
    parse(text, { file: "all.kho" });
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof ScriptSyntaxErrors);
    assert.deepEqual(e.errors.map((x) => x.line), [1, 2, 4, 6, 8]);
    assert.match(e.message, /5 syntax errors$/);
  }
});

Deno.test("error classes subclass built-ins and carry fields", () => {
  const s = new ScriptSyntaxError("bad", {
    file: "f",
    span: { line: 2, col: 3, len: 2 },
    source: "a\nbcdef",
  });
  assert.ok(s instanceof SyntaxError);
  assert.equal(s.message, "f:2:3: bad\n   2 | bcdef\n     |   ^^");
  const r = new ScriptRuntimeError("EINVAL: x", {
    file: "f",
    span: { line: 1, col: 1, len: 5 },
    command: "preserve",
    code: "EINVAL",
  });
  assert.ok(
    r instanceof Error && r.code === "EINVAL" && r.message === "f:1:1: preserve: EINVAL: x",
  );
  assert.ok(new ScriptSyntaxErrors([s]) instanceof AggregateError);
  assert.equal(
    formatDiagnostic({ file: "f", span: { line: 1, col: 1, len: 1 }, message: "m" }),
    "f:1:1: m",
  );
});

Deno.test("did-you-mean picks close candidates only", () => {
  assert.equal(editDistance("kexc", "kexec"), 1);
  assert.equal(didYouMean("kexc", ["kexec", "free"]), ' (did you mean "kexec"?)');
  assert.equal(didYouMean("zzzzzz", ["kexec", "free"]), "");
});
