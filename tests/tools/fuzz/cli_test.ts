/**
 * A short run of the `cli` fuzz target: the command line in process with mutated arguments
 * and input files. No finding is allowed: no exception out of `main`, no exit code but 0, 1
 * or 2, no stack trace in what it prints, no hang.
 */

import assert from "node:assert/strict";
import { decodeInvocation, encodeInvocation, target } from "../../../tools/fuzz/cli.ts";
import { runFuzz } from "../../../tools/fuzz/harness.ts";

Deno.test("fuzz cli: 400 mutated invocations, seed 22: exit codes 0, 1, 2 only, no stack trace", async () => {
  // A generous bound per input: the suite runs beside other tests on a loaded machine; a real
  // hang (the runs have a step budget) still ends there.
  const r = await runFuzz({
    target: "cli",
    runs: 400,
    seed: 22,
    outDir: null,
    log: () => {},
    inputMs: 15_000,
  });
  const report = [r.summary, ...r.groups.map((g) => `${g.count} × ${g.detail}`)].join("\n");
  assert.equal(r.findings, 0, report);
  assert.equal(r.inputs, 400, report);
  assert.match(r.summary!, /:0 \d+/, "some invocations succeed");
  assert.match(r.summary!, /:2 \d+/, "some are bad input");
});

Deno.test("fuzz cli: invocations round-trip through bytes", () => {
  const file = new Uint8Array([0, 0, 1, 2, 0xff]);
  const enc = encodeInvocation(["run", "@FILE", "--json"], file);
  assert.deepEqual(decodeInvocation(enc), { argv: ["run", "@FILE", "--json"], file });
  assert.deepEqual(decodeInvocation(encodeInvocation([], file)).argv, []);
  assert.equal(target.corpus().length > 10, true);
});
