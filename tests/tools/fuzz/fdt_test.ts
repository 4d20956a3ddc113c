/**
 * A short run of the `fdt` fuzz target (the long ones are `deno task fuzz --target fdt --runs
 * 1000000`): mutated blobs from the FDT tests' corpus through kholab's checker, reader and
 * editor, compared with libfdt when python3-libfdt is installed (skipped with the reason
 * otherwise; required under KHOLAB_REQUIRE_TOOLS=1). No finding is allowed.
 */

import assert from "node:assert/strict";
import { runFuzz } from "../../../tools/fuzz/harness.ts";
import { requireTool } from "../../support/system_tools.ts";

Deno.test("fuzz fdt: 4,000 mutated blobs, seed 18: no exception, hang, memory or libfdt mismatch", async () => {
  const withLibfdt = requireTool("libfdt"); // prints why the comparison is skipped, or throws
  const lines: string[] = [];
  const r = await runFuzz({
    target: "fdt",
    runs: 4000,
    seed: 18,
    outDir: null,
    requireOracle: withLibfdt,
    log: (l) => lines.push(l),
  });
  const report = [r.summary, ...r.groups.map((g) => `${g.count} × ${g.detail}`)].join("\n");
  assert.equal(r.inputs, 4000, report);
  assert.equal(r.findings, 0, report);
  if (withLibfdt) {
    assert.equal(r.compared, 4000);
    assert.ok(r.oracle && "name" in r.oracle);
  } else assert.ok(r.oracle && "skipped" in r.oracle, lines.join("\n"));
  // The mutations reach every kind of verdict, valid blobs included.
  for (const v of ["OK", "TRUNCATED", "BADSTRUCTURE", "BADOFFSET", "BADVERSION", "BADMAGIC"]) {
    assert.match(r.summary!, new RegExp(`\\b${v} \\d+`), r.summary!);
  }
});
