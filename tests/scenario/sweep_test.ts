import assert from "node:assert/strict";
import { ManualClock, wallClock } from "../../lib/rng.ts";
import { deterministicPart } from "../../lib/metrics/metrics.ts";
import { rowTimings } from "../../lib/metrics/timing.ts";
import { availableProfiles } from "../../lib/scenario/run.ts";
import { pointSeed } from "../../lib/scenario/scenarios.ts";
import {
  errorPoint,
  runPointUntimed,
  runSweep,
  type SweepPoint,
  sweepPoints,
} from "../../lib/scenario/sweep.ts";

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
  assert.throws(() => sweepPoints({ scenario: "uniform", profiles: ["kho-v9" as "kho-v4"] }));
});

Deno.test("sweep options are checked before any work", async () => {
  const base = { scenario: "uniform", profiles: ["kho-v4" as const], clock: new ManualClock() };
  for (const bad of [{ repeat: -1 }, { repeat: 1.5 }, { warmup: -2 }, { workers: -1 }]) {
    await assert.rejects(() => runSweep({ ...base, ...bad }), RangeError, JSON.stringify(bad));
  }
});

Deno.test("timed regions run only while no sweep point runs, one at a time, on any clock", async () => {
  const points = sweepPoints({
    scenario: "uniform",
    params: { ramBytes: "1G" },
    param: "pages",
    values: [50, 100, 200],
    profiles: ["kho-v1-6.19", "kho-v4"],
  });
  const events: string[] = [];
  const running = new Set<number>();
  let timing: number | null = null;
  const reads: { running: number; timing: number | null }[] = [];
  let t = 0;
  // The injected clock logs every reading: a timed region reads it at its start and end.
  const clock = {
    nowMs: () => (reads.push({ running: running.size, timing }), t++),
  };
  const rows = await runSweep({
    scenario: "uniform",
    params: { ramBytes: "1G" },
    param: "pages",
    values: [50, 100, 200],
    profiles: ["kho-v1-6.19", "kho-v4"],
    workers: 2,
    repeat: 3,
    maxPendingBytes: 0, // replay as soon as the running points are done: runs and replays interleave
    clock,
    onEvent: (e) => {
      events.push(`${e.type}:${e.index}`);
      if (e.type === "run-start") running.add(e.index);
      if (e.type === "run-end") running.delete(e.index);
      if (e.type === "time-start") {
        assert.equal(timing, null, "one point's replays at a time");
        assert.equal(running.size, 0, `replays of ${e.index} start while points run`);
        timing = e.index;
      }
      if (e.type === "time-end") {
        assert.equal(timing, e.index);
        timing = null;
      }
    },
  });
  assert.equal(rows.length, points.length);
  // Every clock reading happened inside one point's replays, with no point running.
  assert.ok(reads.length > 0);
  for (const r of reads) {
    assert.equal(r.running, 0, "the clock was read while a point ran");
    assert.notEqual(r.timing, null, "the clock was read outside the replays");
  }
  // Runs and replays did interleave (the budget of 0), and every point was run and timed once.
  const firstTime = events.findIndex((e) => e.startsWith("time-start"));
  const lastRun = events.findLastIndex((e) => e.startsWith("run-start"));
  assert.ok(firstTime < lastRun, events.join(" "));
  for (const type of ["run-start", "run-end", "time-start", "time-end"]) {
    const seen = events.filter((e) => e.startsWith(`${type}:`)).map((e) => +e.split(":")[1]);
    assert.deepEqual(seen.sort((a, b) => a - b), points.map((p) => p.index), type);
  }
  // Every row carries n = repeat samples of each of its timings, and the same deterministic
  // part as a sweep in this thread.
  for (const r of rows) {
    const timings = rowTimings(r);
    assert.ok(Object.keys(timings).length >= 4, r.profile as string);
    for (const [k, v] of Object.entries(timings)) {
      assert.equal(v.n, 3, k);
      assert.ok(v.min <= v.median && v.median <= v.max, k);
    }
  }
  const here = await runSweep({
    scenario: "uniform",
    params: { ramBytes: "1G" },
    param: "pages",
    values: [50, 100, 200],
    profiles: ["kho-v1-6.19", "kho-v4"],
    workers: 0,
    repeat: 0,
    clock: new ManualClock(),
  });
  assert.deepEqual(here, rows.map(deterministicPart));
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

Deno.test("maxPendingPoints: at most that many points run or wait for their replays", async () => {
  const waiting = new Set<number>();
  let most = 0;
  let replays = 0;
  const rows = await runSweep({
    scenario: "uniform",
    params: { ramBytes: "1G", nodes: 1 },
    param: "pages",
    values: [50, 100, 200],
    profiles: ["kho-v1-6.19", "kho-v4"],
    workers: 2,
    repeat: 1,
    warmup: 0,
    maxPendingPoints: 2,
    clock: new ManualClock(),
    onEvent: (e) => {
      if (e.type === "run-start") waiting.add(e.index);
      if (e.type === "time-end") waiting.delete(e.index);
      if (e.type === "time-start") replays++;
      most = Math.max(most, waiting.size);
    },
  });
  assert.equal(rows.length, 6);
  assert.equal(replays, 6);
  assert.equal(most, 2);
  // Without timings a row is complete as its run ends: nothing waits.
  const done: number[] = [];
  await runSweep({
    scenario: "uniform",
    params: { ramBytes: "1G", nodes: 1 },
    param: "pages",
    values: [50, 100],
    profiles: ["kho-v4"],
    workers: 2,
    repeat: 0,
    clock: new ManualClock(),
    onEvent: (e) => e.type === "time-start" && assert.fail("a replay without timings"),
    onRow: (_r, _d, _t, index) => done.push(index),
  });
  assert.deepEqual(done.sort(), [0, 1]);
});

Deno.test("after-jobs run once every point is timed, on workers or in this thread", async () => {
  const module = new URL("./fixtures/after_job.ts", import.meta.url).href;
  for (const workers of [0, 2]) {
    const events: string[] = [];
    const results: unknown[] = [];
    await runSweep({
      scenario: "uniform",
      params: { ramBytes: "2G", pages: 50 },
      profiles: ["kho-v4", "kho-v3"],
      workers,
      repeat: 1,
      clock: new ManualClock(),
      onEvent: (e) => events.push(e.type),
      afterJobs: {
        module,
        jobs: [{ n: 1 }, { n: 2 }, { n: 3 }],
        onResult: (i, r) => {
          events.push("after");
          results[i] = r;
        },
      },
    });
    assert.deepEqual(
      results,
      [{ doubled: 2 }, { doubled: 4 }, { doubled: 6 }],
      `workers ${workers}`,
    );
    assert.equal(events.lastIndexOf("time-end") < events.indexOf("after"), true);
    await assert.rejects(
      runSweep({
        scenario: "uniform",
        params: { ramBytes: "2G", pages: 50 },
        profiles: ["kho-v4"],
        workers,
        repeat: 0,
        clock: new ManualClock(),
        afterJobs: { module, jobs: [{ n: -1 }], onResult: () => {} },
      }),
      /negative n -1/,
    );
  }
});

Deno.test("a point that does not run is an error row: what identifies it, why, its tracker when known", () => {
  const point: SweepPoint = {
    index: 3,
    pointIndex: 1,
    scenario: "uniform",
    profile: "kho-v4",
    params: { noSuchParam: 1 },
    seed: 7,
    sweepParam: "noSuchParam",
    sweepValue: "1",
  };
  const ran = runPointUntimed(point, false);
  assert.equal(ran.index, 3);
  assert.deepEqual(ran.capsule, { tracker: null, handover: null });
  const { errors, ...row } = ran.row;
  assert.match(String(errors), /^run:\w*Error: .*noSuchParam/);
  assert.deepEqual(row, {
    scenario: "uniform",
    profile: "kho-v4",
    tracker: "radix",
    seed: 7,
    pointIndex: 1,
    sweepParam: "noSuchParam",
    sweepValue: "1",
    params: '{"noSuchParam":1}',
    status: "error",
  });
  // a worker's design module that does not load: no tracker (the profile may be the design's)
  const design = errorPoint(point, "design:TypeError: boom");
  assert.equal("tracker" in design.row, false);
  assert.equal(design.row.errors, "design:TypeError: boom");
  assert.equal(design.row.status, "error");
});
