import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { getProfile } from "../../lib/kho/profiles.ts";
import type { TimingCapsule } from "../../lib/metrics/capsule.ts";
import { replayTimings, TIMED_REGIONS } from "../../lib/metrics/replay.ts";
import { availableProfiles, runUntimed } from "../../lib/scenario/run.ts";
import { PAGE_SIZE } from "../../lib/units.ts";

const SMALL = {
  ramBytes: "4G",
  headroomBytes: "4G",
  nodes: 1,
  guestBytes: "8M",
  vms: 2,
  poolBytes: "256M",
  iommuPages: 2000,
  vmallocBuffers: 2,
  dmaBlocks: 2,
};

function capsuleOf(profile: string): TimingCapsule {
  return runUntimed({ scenario: "hypervisor", profile: profile as "kho-v4", params: SMALL })
    .capsule;
}

Deno.test("every replay of every profile does exactly the run's work: counters, walk, verdict", () => {
  for (const profile of availableProfiles()) {
    const r = replayTimings(capsuleOf(profile), { clock: new ManualClock(), repeat: 2 });
    assert.deepEqual(r.problems, [], profile);
    const expected = TIMED_REGIONS.filter((n) =>
      n !== "finalizeMs" || getProfile(profile).finalize !== "none"
    );
    assert.deepEqual(Object.keys(r.timings), expected, profile);
    for (const t of Object.values(r.timings)) assert.equal(t.n, 2);
  }
});

Deno.test("a replay that disagrees with the run gives a problem, not a timing", () => {
  const clock = new ManualClock();
  const c = capsuleOf("kho-v1-6.19");
  // The run charged other preserve counters than the replay does: no preserve, no finalize.
  const counters = { ...c.tracker!.preserveCounters, cacheLinesRead: 1 };
  const bad = replayTimings({ ...c, tracker: { ...c.tracker!, preserveCounters: counters } }, {
    clock,
    repeat: 3,
  });
  assert.match(bad.problems.join("\n"), /^timing:preserveMs: preserve counters: replay/);
  assert.ok(!("preserveMs" in bad.timings) && !("finalizeMs" in bad.timings));
  assert.ok("walkMs" in bad.timings && "reserveMs" in bad.timings);
  // A handed-over page missing from the copy: the walk and the replayed boot read other
  // bytes than the successor did.
  const h = c.handover!;
  const root = h.pfns.indexOf(h.mapPhys / PAGE_SIZE);
  assert.ok(root >= 0, "the walk's first page is in the copy");
  const bytes = h.bytes.slice();
  bytes.fill(0, root * PAGE_SIZE, (root + 1) * PAGE_SIZE);
  const torn = replayTimings({ ...c, handover: { ...h, bytes } }, { clock, repeat: 3 });
  assert.match(torn.problems.join("\n"), /timing:walkMs: walk: replay/);
  assert.match(torn.problems.join("\n"), /timing:populateMs: boot: replay/);
  assert.deepEqual(Object.keys(torn.timings), ["preserveMs", "finalizeMs"]);
});

Deno.test("warm-up runs are untimed, each timed sample is its region alone", () => {
  const c = capsuleOf("kho-v1-6.19");
  let reads = 0;
  const r = replayTimings(c, { clock: { nowMs: () => reads++ }, repeat: 4, warmup: 2 });
  for (const [name, t] of Object.entries(r.timings)) {
    assert.deepEqual(t, { n: 4, median: 1, min: 1, max: 1 }, name);
  }
  // 6 passes of each replay: tracker (preserve, finalize), walk, early boot (populate, reserve);
  // the warm-up reads the clock before it and after each of its 2 runs.
  assert.equal(reads, 6 * (4 + 2 + 4) + 3 * 3);
  // A warm-up that takes its time stops after one run: here every reading is 100 ms.
  let slow = 0;
  replayTimings(c, { clock: { nowMs: () => (slow++) * 100 }, repeat: 2, warmup: 3, warmupMs: 250 });
  // per region: 1 + 1 warm-up run (its readings) + 1, then 2 timed runs
  assert.equal(slow, (1 + 4 + 1 + 2 * 4) + (1 + 2 + 1 + 2 * 2) + (1 + 4 + 1 + 2 * 4));
  assert.throws(() => replayTimings(c, { clock: new ManualClock(), repeat: 0 }), RangeError);
  assert.throws(
    () => replayTimings(c, { clock: new ManualClock(), repeat: 1, warmup: -1 }),
    RangeError,
  );
  assert.throws(
    () => replayTimings(c, { clock: new ManualClock(), repeat: 1, warmupMs: -1 }),
    RangeError,
  );
});
