/**
 * A short run of the `handover` fuzz target (the long one is `deno task fuzz --target handover
 * --runs 200000`): mutated handovers of every profile, the successor booted and every client
 * restore path driven. No finding is allowed: no exception that is not a kernel verdict, no
 * corruption a client detected without a line in the kernel log, no hang, no memory past the
 * bound. And the inputs reach the verdicts and the clients' outcomes they are meant to.
 */

import assert from "node:assert/strict";
import { runFuzz } from "../../../tools/fuzz/harness.ts";
import { RECORD_BYTES, runHandoverInput, target } from "../../../tools/fuzz/handover.ts";
import { BASE_KEYS } from "../../../tools/fuzz/handover_base.ts";
import { PROFILE_NAMES } from "../../../lib/kho/profiles.ts";

Deno.test("fuzz handover: 400 mutated handovers, seed 18: no finding", async () => {
  const r = await runFuzz({
    target: "handover",
    runs: 400,
    seed: 18,
    // A generous bound: the suite runs in parallel on a loaded machine (the long runs keep
    // the default 2 s).
    inputMs: 30_000,
    outDir: null,
    log: () => {},
  });
  const report = [r.summary, ...r.groups.map((g) => `${g.count} × ${g.detail}`)].join("\n");
  assert.equal(r.inputs, 400, report);
  assert.equal(r.findings, 0, report);
  // Kernel verdicts and clients' outcomes are all reached.
  assert.match(r.summary!, /boot: .*\bok \d+/, report);
  assert.match(r.summary!, /\b(oops|panic) \d+/, report);
  for (const step of ["test_kho:ok", "manifest:ok", "memfd:ok", "vmalloc:ok", "kexec:ok"]) {
    assert.match(r.summary!, new RegExp(`\\b${step} \\d+`), `${step}\n${report}`);
  }
  assert.match(r.summary!, /\b(test_kho|manifest|memfd|vmalloc):(EINVAL|null|EIO) \d+/, report);
});

Deno.test("fuzz handover: the seeds are the unchanged bases of every profile, and they restore everything", () => {
  const seeds = target.corpus();
  assert.equal(seeds.length, PROFILE_NAMES.length * 3);
  assert.deepEqual([...new Set(BASE_KEYS.map((k) => k.profile))], [...PROFILE_NAMES]);
  for (const i of [0, 18, 21]) {
    const o = runHandoverInput(seeds[i]);
    assert.equal(o.boot, "ok", o.base);
    assert.ok(o.steps.includes("manifest:ok") && o.steps.includes("kexec:ok"), o.base);
    assert.ok(!o.steps.some((s) => /differs|null|EINVAL|EIO|fresh/.test(s)), o.steps.join(" "));
  }
  // A record is 12 bytes; a partial one is ignored (delta debugging cuts anywhere).
  const partial = new Uint8Array(2 + RECORD_BYTES - 1);
  partial[0] = 18;
  assert.deepEqual(runHandoverInput(partial), runHandoverInput(seeds[18]));
});
