import assert from "node:assert/strict";
import { jupyterKernel, Progress } from "../../lib/plot/progress.ts";

Deno.test("outside the kernel there is no Deno.jupyter and no progress output when not a TTY", () => {
  assert.equal(jupyterKernel(), null);
  const p = new Progress("x", 2);
  assert.equal(p.sink, Deno.stderr.isTerminal() ? "tty" : "none");
});

Deno.test("Progress counts, formats and feeds from sweep rows", async () => {
  const p = new Progress("sweep", 4, { sink: "none" });
  assert.equal(p.text(), "sweep: 0/4 (0%)");
  const onRow = p.onRow();
  onRow({ profile: "kho-v4", sweepValue: "16G" }, 1, 4);
  assert.equal(p.text(), "sweep: 1/4 (25%) kho-v4 @16G");
  onRow({ profile: "kho-v2", sweepValue: "" }, 3, 4);
  assert.equal(p.doneSteps, 3);
  assert.equal(p.text(), "sweep: 3/4 (75%) kho-v2");
  await p.done();
  assert.equal(p.text(), "sweep: 4/4 (100%)");
});
