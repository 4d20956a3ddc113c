/**
 * A short run of the `dsl` fuzz target (the long one is `deno task fuzz --target dsl --runs
 * 1000000`): mutated scripts through parse, check and run with small budgets. No finding is
 * allowed: no exception past the language's diagnostics, no internal error, no hang.
 */

import assert from "node:assert/strict";
import { runFuzz } from "../../../tools/fuzz/harness.ts";
import { target } from "../../../tools/fuzz/dsl.ts";
import { Rng } from "../../../lib/rng.ts";

Deno.test("fuzz dsl: 1,500 mutated scripts, seed 21: no exception, internal error or hang", async () => {
  const r = await runFuzz({
    target: "dsl",
    runs: 1500,
    seed: 21,
    outDir: null,
    log: () => {},
    inputMs: 15_000,
  });
  const report = [r.summary, ...r.groups.map((g) => `${g.count} × ${g.detail}`)].join("\n");
  assert.equal(r.findings, 0, report);
  assert.equal(r.inputs + r.refused, 1500, report);
  // The mutations reach the common outcomes: scripts that run clean, stop on a runtime error,
  // and do not parse. A failed expect is rare among mutants (0–2 in 1,500, by seed): its
  // classification is checked on a script below.
  for (const k of ["exit 0", "exit 2 \\(runtime\\)", "exit 2 \\(syntax\\)"]) {
    assert.match(r.summary!, new RegExp(`${k} \\d+`), r.summary!);
  }
  const failed = target.execute(new TextEncoder().encode("expect 1 == 2\n")) as {
    exitCode: number;
  };
  assert.equal(failed.exitCode, 1);
});

Deno.test("fuzz dsl: the corpus reaches every command and the generator is seeded", () => {
  const corpus = target.corpus();
  const text = corpus.map((b) => new TextDecoder().decode(b)).join("\n");
  for (const c of ["preserve", "kexec", "restore", "scenario", "sweep", "include", "try"]) {
    assert.match(text, new RegExp(`\\b${c}\\b`), c);
  }
  const a = target.generate(new Rng(5), corpus), b = target.generate(new Rng(5), corpus);
  assert.deepEqual(a, b);
  // The budgets keep a run short: the examples' 1 TiB machine is refused (E2BIG).
  const big = new TextEncoder().encode("machine ram=1T\nkexec\n");
  const obs = target.execute(big) as { exitCode: number; error: string };
  assert.deepEqual([obs.exitCode, obs.error], [2, "runtime"]);
});
