import assert from "node:assert/strict";
import { ManualClock, wallClock } from "../../lib/rng.ts";
import { deterministicPart } from "../../lib/metrics/metrics.ts";
import { availableProfiles } from "../../lib/scenario/run.ts";
import { pointSeed } from "../../lib/scenario/scenarios.ts";
import { runSweep, sweepPoints } from "../../lib/scenario/sweep.ts";

const SMALL_HYPERVISOR = {
  ramBytes: "4G",
  headroomBytes: "4G",
  nodes: 1,
  guestBytes: "4M",
  guestFolio: "2M",
  vms: 2,
  poolBytes: "256M",
  vmallocBuffers: 2,
  dmaBlocks: 2,
};

Deno.test("sweep points: values outer, profiles inner, seeds from the value index", () => {
  const pts = sweepPoints({
    scenario: "uniform",
    param: "pages",
    values: [10, "1Ki"],
    profiles: ["kho-v4", "kho-v1-6.19"],
    seed: 5,
  });
  assert.deepEqual(pts.map((p) => [p.index, p.pointIndex, p.profile, p.sweepValue]), [
    [0, 0, "kho-v4", "10"],
    [1, 0, "kho-v1-6.19", "10"],
    [2, 1, "kho-v4", "1Ki"],
    [3, 1, "kho-v1-6.19", "1Ki"],
  ]);
  assert.equal(pts[0].seed, pts[1].seed);
  assert.equal(pts[2].seed, pointSeed(5, 1));
  assert.notEqual(pts[0].seed, pts[2].seed);
  assert.equal(pts[3].params.pages, "1Ki");
  assert.throws(() => sweepPoints({ scenario: "nope" }), RangeError);
  // Workers read their own wall clock: any other clock needs workers: 0.
  assert.rejects(
    () => runSweep({ scenario: "uniform", workers: 1, clock: new ManualClock() }),
    RangeError,
  );
  assert.throws(() => sweepPoints({ scenario: "uniform", profiles: ["kho-v9" as "kho-v4"] }));
});

Deno.test("a density sweep × all profiles gives the same rows with 1 worker and with 2", async () => {
  const options = {
    scenario: "hypervisor",
    params: SMALL_HYPERVISOR,
    param: "iommuEveryBytes",
    values: ["4K", "64K", "2M", "1G"],
    seed: 3,
    clock: wallClock,
  };
  const one = await runSweep({ ...options, workers: 1 });
  const two = await runSweep({ ...options, workers: 2 });
  const profiles = availableProfiles();
  assert.equal(one.length, 4 * profiles.length);
  assert.deepEqual(one.map(deterministicPart), two.map(deterministicPart));
  // The rows are real: one preserved page per 4 KiB preserves the whole 256 MiB pool.
  const v4 = one.filter((r) => r.profile === "kho-v4");
  assert.deepEqual(v4.map((r) => r.sweepValue), ["4K", "64K", "2M", "1G"]);
  assert.ok((v4[0].preservedBlocks as number) > 65536);
  assert.ok((v4[0].preservedBlocks as number) > (v4[1].preservedBlocks as number));
  for (const r of one) assert.notEqual(r.status, "error", `${r.profile}: ${r.errors}`);
  assert.ok(v4.every((r) => r.status === "ok" && r.lostObjects === 0));
});
