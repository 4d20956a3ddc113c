/**
 * Generated writer/editor call sequences compared byte for byte with libfdt (pylibfdt via
 * tools/libfdt_replay.py, one batch), plus dtc decoding and fdt_check_full of every blob.
 */

import assert from "node:assert/strict";
import { toDts } from "../../../lib/kho/fdt/dts.ts";
import { requireTool } from "../../support/system_tools.ts";
import {
  fromHex,
  makeReplayCases,
  type OpsResult,
  REPLAY_CASES,
  runLibfdt,
  runOurs,
} from "./replay_support.ts";

Deno.test("generated cases: identical bytes, errors and check verdicts as libfdt", async () => {
  if (!requireTool("libfdt")) return;
  const cases = makeReplayCases();
  const theirs = (await runLibfdt(cases.map((ops) => ({ ops })))) as OpsResult[];
  let finished = 0;
  let edited = 0;
  for (let i = 0; i < cases.length; i++) {
    const ours = runOurs(cases[i]);
    const t = theirs[i];
    const ctx = `case ${i}: ${JSON.stringify(cases[i]).slice(0, 400)}`;
    assert.deepEqual(ours.results, t.results, `${ctx}\nresults`);
    assert.equal(ours.snapshots.length, t.snapshots.length, ctx);
    for (let s = 0; s < t.snapshots.length; s++) {
      assert.equal(ours.snapshots[s].totalsize, t.snapshots[s].totalsize, `${ctx}\nsnapshot ${s}`);
      assert.equal(ours.snapshots[s].buf, t.snapshots[s].buf, `${ctx}\nsnapshot ${s} bytes`);
    }
    assert.equal(ours.totalsize, t.totalsize, ctx);
    assert.equal(ours.buf, t.buf, `${ctx}\nfinal buffer`);
    assert.equal(ours.check, t.check, `${ctx}\ncheck`);
    if (t.check === "OK") finished++;
    edited += cases[i].filter((o, j) =>
      (o[0] === "add_subnode" || o[0] === "setprop" || o[0] === "del_node") && t.results[j] === 0
    ).length;
  }
  assert.ok(finished > REPLAY_CASES / 2, `only ${finished} cases produced valid blobs`);
  assert.ok(edited > REPLAY_CASES, `only ${edited} successful edits`);
});

Deno.test("generated blobs: dtc decodes a sample and prints our dts text", async () => {
  if (!requireTool("libfdt", "dtc")) return;
  const cases = makeReplayCases();
  const dir = await Deno.makeTempDir({ prefix: "kholab-fdt-" });
  try {
    let n = 0;
    for (let i = 0; i < cases.length && n < 30; i += 7) {
      const ours = runOurs(cases[i]);
      if (ours.check !== "OK") continue;
      const blob = fromHex(ours.buf).slice(0, ours.totalsize);
      const file = `${dir}/case${i}.dtb`;
      await Deno.writeFile(file, blob);
      const out = await new Deno.Command("dtc", {
        args: ["-q", "-I", "dtb", "-O", "dts", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `dtc rejected case ${i}: ${err}`);
      assert.equal(toDts(blob), new TextDecoder().decode(out.stdout), `dts of case ${i}`);
      n++;
    }
    assert.ok(n >= 20, `only ${n} blobs sampled`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
