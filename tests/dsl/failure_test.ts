import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { KhoError, PhysRangeError } from "../../lib/errors.ts";
import { ScriptRuntimeError } from "../../lib/dsl/errors.ts";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { parse } from "../../lib/dsl/parser.ts";
import { runScript } from "../../lib/dsl/run.ts";
import { Session } from "../../lib/dsl/session.ts";
import { type CommandSpec, commandTable } from "../../lib/dsl/spec.ts";
import { TABLE } from "../../lib/dsl/table.ts";

/** The language's table plus a command `boom KIND` that sets a variable, then throws. */
const clock = new ManualClock();

function boomTable() {
  const boom: CommandSpec = {
    name: "boom",
    summary: "fail on purpose",
    positionals: [{ name: "KIND", kind: "word", doc: "what to throw" }],
    options: [],
    run: (s, inv) => {
      s.vars.set("touched", 1);
      s.onUndo(() => s.vars.delete("touched"));
      const recurse = (n: number): number => recurse(n + 1) + 1;
      switch (inv.args[0]) {
        case "range":
          throw new RangeError("fault nth=0: a positive integer");
        case "phys":
          throw new PhysRangeError(2 ** 50, 4096);
        case "type":
          return void (null as unknown as { x: number }).x;
        case "stack":
          recurse(0);
          return;
        case "errno":
          throw new KhoError("EBUSY", "KHO is finalized");
      }
    },
  };
  return commandTable({
    commands: [...TABLE.commands.values(), boom],
    objectKinds: [...TABLE.objectKinds.values()],
    metrics: [...TABLE.metrics.values()],
  });
}

function fail(kind: string): { e: ScriptRuntimeError; s: Session } {
  const table = boomTable();
  const s = new Session({ file: "f.kho", clock });
  const ev = new Evaluator(s, { table });
  try {
    ev.run(parse(`let a = 1\n  boom ${kind}`, { file: "f.kho", table }));
  } catch (e) {
    assert.ok(e instanceof ScriptRuntimeError, String(e));
    return { e, s };
  }
  throw new Error("no error");
}

Deno.test("internal failures are internal errors at FILE:LINE:COL, never an errno, rolled back", () => {
  for (
    const [kind, name] of [
      ["range", "RangeError"],
      ["phys", "PhysRangeError"],
      ["type", "TypeError"],
      ["stack", "RangeError"],
    ]
  ) {
    const { e, s } = fail(kind);
    assert.equal(e.internal, true, kind);
    assert.equal(e.code, null, kind);
    assert.match(e.message, new RegExp(`^f\\.kho:2:3: boom: internal error: ${name}: `), kind);
    assert.ok(e.message.endsWith(`\n   2 |   boom ${kind}\n     |   ^^^^`), e.message);
    assert.equal(s.vars.has("touched"), false, `${kind}: the command's undo ran`);
    assert.equal(s.vars.get("a"), 1);
  }
});

Deno.test("a KhoError keeps its errno; try catches it, but not an internal error", () => {
  const { e } = fail("errno");
  assert.equal(e.internal, false);
  assert.equal(e.code, "EBUSY");
  assert.match(e.message, /^f\.kho:2:3: boom: EBUSY: KHO is finalized/);
  const table = boomTable();
  const s = new Session({ clock });
  const ev = new Evaluator(s, { table });
  ev.run(parse("try {\n  boom errno\n}", { table }));
  assert.equal(s.lastErrorCode, "EBUSY");
  assert.throws(
    () => ev.run(parse("try {\n  boom type\n}", { table })),
    (x: ScriptRuntimeError) => x.internal,
  );
});

Deno.test("runScript reports an internal error with kind internal and exit code 2", () => {
  const r = runScript("machine ram=1G\nboom stack", { file: "x.kho", table: boomTable(), clock });
  assert.equal(r.exitCode, 2);
  assert.equal(r.results.error?.kind, "internal");
  assert.equal(r.results.error?.code, null);
  assert.match(r.output, /^x\.kho:2:1: boom: internal error: RangeError: Maximum call stack/m);
  const k = runScript("boom errno", { table: boomTable(), clock });
  assert.deepEqual([k.results.error?.kind, k.results.error?.code], ["runtime", "EBUSY"]);
});

Deno.test("kho-v1-6.16: a preserve that fails part-way says what the generation cannot undo", () => {
  const r = runScript(
    [
      "machine ram=2G nodes=2",
      "profile kho-v1-6.16",
      "a = folios order=3 count=2",
      "b = pages count=2000 within=512M node=1",
      "kernel fail=nth:2,sites:kho_mem",
      "preserve a b",
    ].join("\n"),
    { file: "p.kho", clock },
  );
  assert.equal(r.exitCode, 2, r.output);
  const err = r.results.error!;
  assert.equal(err.kind, "runtime");
  assert.equal(err.code, "ENOMEM");
  assert.match(
    err.message,
    /b: \d+ of 2000 block\(s\) stay preserved \(kho-v1-6\.16 cannot unpreserve\)/,
  );
  assert.match(
    err.message,
    /not undone: EOPNOTSUPP: folios a: kho_unpreserve_folio does not exist in kho-v1-6\.16 \(6\.16\)/,
  );
  // What stays preserved still crosses under its name; the blocks that did not are lost.
  const go = runScript(
    [
      "machine ram=2G nodes=2",
      "profile kho-v1-6.16",
      "a = folios order=3 count=2",
      "b = pages count=2000 within=512M node=1",
      "kernel fail=nth:2,sites:kho_mem",
      "try {",
      "  preserve a b",
      "}",
      "kernel fail=off",
      "kexec",
      "restore",
      "verify a",
      "expect a.restored && b.restored && b.failed > 0 && verify.ok == 1",
    ].join("\n"),
    { file: "p.kho", clock },
  );
  assert.equal(go.exitCode, 0, go.output);
});
