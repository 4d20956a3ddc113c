import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { compareProfiles, formatBytes, formatTable } from "../../lib/scenario/compare.ts";

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
  assert.match(
    text,
    /kho-v1-6\.18: unsupported: guests: kho-v1-6\.18 \(6\.18\) has no Live Update Orchestrator .*×2/,
  );
  assert.doesNotMatch(text, /kho-v4: unsupported/);
});

Deno.test("formatBytes", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(532 * 1024), "532 KiB");
  assert.equal(formatBytes(1.5 * 2 ** 20), "1.50 MiB");
});
