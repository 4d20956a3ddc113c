/**
 * The language's limits on hostile input (issue 18 §4): nesting stops at MAX_NESTING with a
 * FILE:LINE:COL error in parse, check and run (never a JavaScript stack overflow); parsing is
 * linear; many errors are reported up to a limit and counted; a run has a step budget;
 * a byte-order mark is skipped; scenario parameters are checked where they are written.
 */
import assert from "node:assert/strict";
import { format } from "../../lib/dsl/ast.ts";
import {
  escapeControl,
  ScriptStopError,
  ScriptSyntaxErrors,
  snippetFor,
} from "../../lib/dsl/errors.ts";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { MAX_NESTING, MAX_REPORTED_ERRORS, parse, parseWithErrors } from "../../lib/dsl/parser.ts";
import { checkScript, runScript } from "../../lib/dsl/run.ts";
import { Session } from "../../lib/dsl/session.ts";
import { ManualClock } from "../../lib/rng.ts";

const clock = new ManualClock();

/** 10,000 levels of every kind of nesting the grammar has. */
const DEEP: Record<string, string> = {
  parentheses: "expect " + "(".repeat(10_000) + "1" + ")".repeat(10_000),
  "unary minus": "let x = " + "-".repeat(10_000) + "1",
  "unary not": "expect " + "!".repeat(10_000) + "1",
  blocks: "repeat 1 {\n".repeat(10_000) + "}\n".repeat(10_000),
  "try blocks": "try {\n".repeat(10_000) + "}\n".repeat(10_000),
  "operator chain": "expect " + "1 + ".repeat(10_000) + "1",
  "option expression": "machine ram=" + "(".repeat(10_000) + "1G" + ")".repeat(10_000),
};

Deno.test("10,000 levels of nesting: a FILE:LINE:COL error from parse, check and run", () => {
  for (const [what, text] of Object.entries(DEEP)) {
    let e: unknown;
    try {
      parse(text, { file: "deep.kho" });
    } catch (x) {
      e = x;
    }
    assert.ok(e instanceof ScriptSyntaxErrors, what);
    assert.match(e.errors[0].message, /^deep\.kho:\d+:\d+: nested deeper than 256 levels/, what);
    const c = checkScript(text, { file: "deep.kho" });
    assert.equal(c.ok, false, what);
    assert.match(c.message, /^deep\.kho:\d+:\d+: nested deeper than 256/, what);
    const r = runScript(text, { file: "deep.kho", clock });
    assert.equal(r.exitCode, 2, what);
    assert.equal(r.results.error?.kind, "syntax", what);
  }
});

Deno.test("nesting up to the limit parses, runs and prints back", () => {
  const depth = MAX_NESTING - 1;
  const texts = [
    "expect " + "(".repeat(depth) + "1" + ")".repeat(depth),
    "let x = " + "-".repeat(depth) + "1",
    "repeat 1 {\n".repeat(depth) + "let y = 1\n" + "}\n".repeat(depth),
    "let z = " + "1 + ".repeat(depth - 1) + "1\nexpect z == " + depth,
  ];
  for (const text of texts) {
    const p = parse(text);
    assert.equal(parse(format(p)).body.length, p.body.length);
    const s = new Session({ clock });
    new Evaluator(s).run(p);
    assert.equal(s.stats.expectFailed, 0, text.slice(0, 40));
  }
});

Deno.test("many errors: the first MAX_REPORTED_ERRORS in full, then '… and K more'", () => {
  const text = "kexc\n".repeat(16_000);
  const r = parseWithErrors(text, { file: "many.kho" });
  assert.equal(r.errors.length, MAX_REPORTED_ERRORS);
  assert.equal(r.more, 16_000 - MAX_REPORTED_ERRORS);
  let e: unknown;
  try {
    parse(text, { file: "many.kho" });
  } catch (x) {
    e = x;
  }
  assert.ok(e instanceof ScriptSyntaxErrors);
  assert.equal(e.more, 15_900);
  assert.match(e.message, /\n\n… and 15900 more\n\n16000 syntax errors$/);
  assert.match(e.errors[99].message, /^many\.kho:100:1: unknown command "kexc"/);
  const c = checkScript(text, { file: "many.kho" });
  assert.match(c.message, /… and 15900 more\n\n16000 syntax errors$/);
});

Deno.test("long lines: the snippet shows a window around the caret; tokens are cut", () => {
  const line = "kexec " + "x".repeat(100_000) + " bogus=1";
  const r = parseWithErrors(line, { file: "long.kho" });
  for (const e of r.errors) {
    assert.ok(e.message.length < 3000, `message of ${e.message.length} characters`);
  }
  assert.ok(r.errors.some((e) => /unexpected argument "x{40}…" for kexec/.test(e.message)));
  const snip = snippetFor(line, { line: 1, col: line.length - 6, len: 5 });
  const [text, caret] = snip.split("\n");
  assert.ok(text.length < 200);
  assert.equal(text.indexOf("bogus"), caret.indexOf("^"));
});

Deno.test("control bytes of a binary script are escaped in diagnostics", () => {
  const bin = "\x1b[2J\x07\x00kexec\x9b31m\u202e";
  const r = parseWithErrors(bin, { file: "bin.kho" });
  assert.ok(r.errors.length > 0);
  for (const e of r.errors) {
    // deno-lint-ignore no-control-regex -- no control character may reach the message
    assert.doesNotMatch(e.message, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
  }
  assert.match(r.errors[0].message, /\\x1b\[2J\\x07\\x00kexec\\x9b31m\\u202e/);
  // The caret still points at the token, counting escapes as what they print.
  const snip = snippetFor("a\x07b bad", { line: 1, col: 5, len: 3 });
  const [text, caret] = snip.split("\n");
  assert.equal(text.indexOf("bad"), caret.indexOf("^^^"));
  assert.equal(escapeControl("tab\tand\nnewline"), "tab\tand\nnewline");
});

Deno.test("a UTF-8 byte-order mark at the start is accepted; columns count from after it", () => {
  assert.equal(parse("\uFEFFmachine ram=1G\nkexec").body.length, 2);
  const r = parseWithErrors("\uFEFFkexc", { file: "bom.kho" });
  assert.match(r.errors[0].message, /^bom\.kho:1:1: unknown command "kexc"/);
  assert.equal(runScript("\uFEFFexpect 1 == 1\n", { clock }).exitCode, 0);
});

Deno.test("a run's step budget: nested repeats stop with a clear error, try does not catch it", () => {
  const text = "repeat 100000 {\n  repeat 100000 {\n    let x = i\n  }\n}\n";
  const r = runScript(text, { file: "loop.kho", clock, maxSteps: 50_000 });
  assert.equal(r.exitCode, 2);
  assert.match(
    r.results.error!.message,
    /^loop\.kho:\d+:\d+: (repeat|let): stopped: the run took more than 50,000 steps/,
  );
  const caught = runScript(`try {\n${text}}\nexpect 1 == 1`, { clock, maxSteps: 1000 });
  assert.equal(caught.exitCode, 2);
  assert.match(caught.output, /stopped: the run took more than 1,000 steps/);
  // The budget is per run: a session runs script after script.
  const s = new Session({ clock, maxSteps: 100 });
  const ev = new Evaluator(s);
  for (let k = 0; k < 5; k++) ev.runText("repeat 30 { let y = i }");
  assert.throws(() => ev.runText("repeat 200 { let y = i }"), ScriptStopError);
  // Includes count towards the run that includes them.
  const inc = runScript('repeat 10 { include "x.kho" }', {
    clock,
    maxSteps: 300,
    readFile: () => "repeat 100 { let z = i }",
  });
  assert.match(inc.output, /x\.kho:1:1: repeat: stopped: the run took more than 300 steps/);
});

Deno.test("scenario parameters are script errors with line:col, found by check", () => {
  const text = [
    "scenario uniform ramBytes=4GB5",
    "scenario uniform nodes=1.5",
    "scenario uniform guestBytes=3",
    "scenario uniform nodes=65",
    "scenario uniform ramBytes=100M",
    "scenario hypervisor ramBytes=60T headroomBytes=8T",
    "scenario uniform ramBytes=(2 * 1G) pages=10",
  ].join("\n");
  const c = checkScript(text, { file: "sc.kho" });
  const places = c.errors.map((e) => `${e.line}:${e.column}: ${e.reason}`);
  assert.deepEqual(places, [
    '1:27: ramBytes: not a size: "4GB5"',
    '2:24: nodes: not an integer: "1.5"',
    '3:18: scenario uniform has no parameter "guestBytes" (has: ramBytes, nodes, pages, ' +
    "memmapBytesPerPage, scratch, poison, khoDebug, deferredStructPageInit, strict)",
    "4:18: nodes=65: at most 64",
    "5:18: ramBytes=104857600: at least 256 MiB",
    "6:1: scenario hypervisor: a machine of 68 TiB is larger than 64 TiB",
  ]);
  // An expression's value is checked when it runs: a script error, not an internal one.
  const r = runScript("let n = 3\nscenario uniform nodes=$n ramBytes=256M", { clock, file: "x" });
  assert.equal(r.results.error?.kind, "runtime");
  assert.match(r.output, /x:2:1: scenario: scenario uniform: 3 nodes need at least 384 MiB/);
});

/** Wall time of parsing `n` copies of `unit` in a fresh process (ms). */
async function parseMs(unit: string, n: number): Promise<number> {
  const code = `import { parseWithErrors } from ${
    JSON.stringify(new URL("../../lib/dsl/parser.ts", import.meta.url).href)
  };
const text = ${JSON.stringify(unit)}.repeat(${n});
parseWithErrors(text); // warm-up
let best = Infinity; // the fastest of five: a busy machine slows some runs, never speeds one
for (let k = 0; k < 5; k++) {
  const t0 = performance.now();
  parseWithErrors(text);
  best = Math.min(best, performance.now() - t0);
}
console.log(best);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("parsing takes linear time: 4× the input takes well under 16× the time", async () => {
  // Quadratic cases of the past: error lines (16,000 took 9.5 s), statements on one line
  // (1,000,000 took over a minute), strings to skip after errors on one long line.
  for (const unit of ["kexc\n", "kexec;", 'x "a" ; ']) {
    const small = await parseMs(unit, 25_000);
    const big = await parseMs(unit, 100_000);
    assert.ok(big < 8 * Math.max(small, 5), `${JSON.stringify(unit)}: ${small} ms → ${big} ms`);
    assert.ok(big < 10_000, `${JSON.stringify(unit)}: 100,000 copies took ${big} ms`);
  }
});
