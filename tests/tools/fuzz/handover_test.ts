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

Deno.test("fuzz handover: the long runs' findings replay as kernel verdicts and logged refusals", () => {
  // Reproducers of `deno task fuzz --target handover` (seed 7 and seed 20261206); each was a
  // finding before its fix. The base name is checked first: the bytes mean what they meant
  // only on the same base.
  const hex = (s: string) => Uint8Array.from(s.match(/../g)!, (b) => parseInt(b, 16));
  const cases: { input: string; base: string; boot: string; step?: string; why: string }[] = [
    {
      // a scratch area moved past the end of RAM: the second tree's first page came from it
      input: "220043000000bc00000000000000",
      base: "rfc-2026-ext-scratch/1G-2n",
      boot: "oops",
      why: "was PhysRangeError in kho_extend_scratch (memblock_alloc's memset)",
    },
    {
      // the manifest's root pointer moved inside its page: the folio restores, its page is read
      input: "0000e5000064f9000000b8000000",
      base: "kho-v1-6.16/512M",
      boot: "ok",
      step: "manifest:EINVAL",
      why: "was PhysRangeError reading the manifest chunk from the unaligned address",
    },
    {
      // the root FDT's structure corrupted: reserve_mem's kho_retrieve_subtree gets -ENOENT
      input: "0e00000000000000000000000000000000000000000000000000f40000ea006c28f01a0000004c0000" +
        "d58f00b00000000000",
      base: "kho-v2/512M-strict",
      boot: "ok",
      step: "reserve_mem:fresh",
      why: "was UnloggedCorruption: the kernel refuses silently, kholab notes it",
    },
  ];
  for (const c of cases) {
    const o = runHandoverInput(hex(c.input));
    assert.equal(o.base, c.base, c.why);
    assert.equal(o.boot, c.boot, c.why);
    if (c.step) assert.ok(o.steps.includes(c.step), `${c.why}: ${o.steps.join(", ")}`);
  }
});
