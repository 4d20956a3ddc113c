import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import {
  compareProfiles,
  formatBytes,
  formatTable,
  tableCell,
  timingColumn,
  timingNote,
} from "../../lib/scenario/compare.ts";

Deno.test("compare from TypeScript returns one row per profile", async () => {
  const rows = await compareProfiles({
    params: {
      ramBytes: "4G",
      headroomBytes: "4G",
      nodes: 1,
      guestBytes: "4M",
      guestFolio: "2M",
      poolBytes: "128M",
    },
    profiles: ["kho-v4", "kho-v1-6.18"],
    workers: 0,
    clock: new ManualClock(),
  });
  assert.deepEqual(rows.map((r) => r.profile), ["kho-v4", "kho-v1-6.18"]);
  assert.ok(rows.every((r) => r.scenario === "hypervisor"));
  const text = formatTable(rows);
  const lines = text.split("\n");
  assert.ok(lines[0].startsWith("profile") && lines[0].includes("handover"));
  assert.ok(lines[2].startsWith("kho-v4"));
  // The outcomes column, and each reason under the table next to its profile and kind.
  assert.match(lines[0], / outcomes /);
  assert.match(lines[2], / 32794 restored /);
  assert.match(lines[3], / 32792 restored, 2 unsupported /);
  assert.match(
    text,
    /^kho-v1-6\.18: memfd: guests: 2 unsupported — kho-v1-6\.18 \(6\.18\) has no Live Update Orchestrator \(6\.19 on\): no memfd preservation$/m,
  );
  assert.doesNotMatch(text, /^kho-v4: /m);
  // Wall clock: median (min–max) and what it is; a profile without finalize has no figure.
  assert.match(lines[0], /preserve ms +finalize ms +walk ms +reserve ms$/);
  assert.match(lines[2], / 0\.000 \(0\.000–0\.000\) +- +0\.000 \(0\.000–0\.000\) /);
  assert.match(text, /^ms: median \(min–max\) of n = 5 isolated repeats after warm-up/m);
  assert.match(text, /deterministic counters are the comparison to rely on/);
  const none = await compareProfiles({
    params: {
      ramBytes: "4G",
      headroomBytes: "4G",
      nodes: 1,
      guestBytes: "4M",
      guestFolio: "2M",
      poolBytes: "128M",
    },
    profiles: ["kho-v4"],
    workers: 0,
    repeat: 0,
    clock: new ManualClock(),
  });
  assert.doesNotMatch(formatTable(none), /^ms: median/m);
  assert.match(formatTable(none).split("\n")[2], /( +-){4}$/);
});

Deno.test("a wall-clock column shows the spread of its samples", () => {
  const row = {
    profile: "kho-v4",
    walkMs: 12.5,
    "walkMs.n": 7,
    "walkMs.median": 12.5,
    "walkMs.min": 11.04,
    "walkMs.max": 30.96,
  };
  const c = timingColumn("walk ms", "walkMs");
  assert.equal(tableCell(row, c), "12.5 (11.0–31.0)");
  assert.equal(tableCell({ profile: "kho-v4", walkMs: 12.5 }, c), "-"); // a lone value is not shown
  assert.equal(
    timingNote([row]),
    "ms: median (min–max) of n = 7 isolated repeats after warm-up on this machine " +
      "(docs/metrics.md says what each region covers); the deterministic counters are the " +
      "comparison to rely on.",
  );
});

Deno.test("formatBytes", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(532 * 1024), "532 KiB");
  assert.equal(formatBytes(1.5 * 2 ** 20), "1.50 MiB");
});
