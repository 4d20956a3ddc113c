import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { availableProfiles, runScenario } from "../../lib/scenario/run.ts";
import { deterministicPart, METRICS } from "../../lib/metrics/metrics.ts";
import { rowTimings } from "../../lib/metrics/timing.ts";
import { outcomeProblems, rowOutcomes } from "../../lib/metrics/outcomes.ts";
import { getProfile } from "../../lib/kho/profiles.ts";
import { SCENARIO_NAMES, type ScenarioName } from "../../lib/scenario/scenarios.ts";
import { SMALL_HYPERVISOR as SMALL } from "../support/small_hypervisor.ts";

/** Runs here read a manual clock: every wall-clock metric is 0. */
const CLOCK = new ManualClock();

Deno.test("small hypervisor run for every available profile: rows complete, real behaviour", () => {
  const profiles = availableProfiles();
  assert.ok(profiles.includes("kho-v4") && profiles.includes("kho-v1-6.16"));
  for (const profile of profiles) {
    const { row, successor } = runScenario({
      clock: CLOCK,
      scenario: "hypervisor",
      profile,
      params: SMALL,
    });
    const stateless = getProfile(profile).finalize === "none";
    for (const m of METRICS) {
      if (m.name === "pointIndex" || m.name === "sweepParam" || m.name === "sweepValue") continue;
      if (m.name === "finalizeMs" && stateless) continue; // no finalize, no timing
      // only in rows of a profile with a folded-vmemmap design (tests/design/folded_vmemmap_test.ts)
      if (m.name === "memmapFoldedFolios") continue;
      if (m.type === "outcomes") {
        // A family of columns: one set per kind attempted, adding up.
        const o = rowOutcomes(row);
        assert.deepEqual(Object.keys(o), ["folio", "memfd", "vmalloc", "range"], profile);
        for (const [kind, k] of Object.entries(o)) {
          assert.deepEqual(outcomeProblems(kind, k), [], `${profile} ${kind}`);
        }
        continue;
      }
      assert.ok(m.name in row, `${profile}: ${m.name} missing`);
      // Every timing: its median and n = repeat (default 5) samples with min and max.
      if (m.kind === "wallclock") {
        assert.deepEqual(rowTimings(row)[m.name], { n: 5, median: 0, min: 0, max: 0 }, m.name);
      }
    }
    assert.equal("finalizeMs" in row, !stateless, profile);
    assert.doesNotMatch(String(row.errors), /timing:/, `${profile}: a replay disagreed`);
    assert.ok(successor?.kho.isKhoBoot, profile);
    assert.equal(row.walkOk, 1);
    if (getProfile(profile).fdtStyle === "sw-open") {
      // RFC v1 preserves its root FDT page in kho_fill_kimage, after the measurement.
      assert.equal(row.walkBlocks, (row.preservedBlocks as number) + 1, profile);
    } else assert.equal(row.walkBlocks, row.preservedBlocks, profile);
    assert.ok((row.walkCacheLines as number) > 0);
    assert.equal(row.lostObjects, 0, profile);
    assert.equal(row.errors, "", profile);
    if (getProfile(profile).luo !== null) {
      // The guests: 2 memfds of 2 × 2 MiB folios, each in a LUO session, restored by token.
      assert.equal(row.status, "ok", `${profile}: ${row.errors}`);
      assert.deepEqual([row.luoSessions, row.luoFiles], [2, 2], profile);
      assert.match(row.preservedBlocksByOrder as string, /(^| )9:6( |$)/, "4 guest + 2 DMA");
    } else {
      // No LUO, hence no memfd preservation: unsupported, never lost.
      assert.equal(row.status, "unsupported", profile);
      assert.equal(row.luoSessions, 0);
      assert.match(row.unsupported as string, /^guests: .* has no Live Update Orchestrator/);
    }
    if (profile === "kho-v4" || profile === "kho-v4+fixes" || profile === "kho-v3") {
      assert.equal(row.trackerSerializedBytes, 0);
    }
    if (profile === "kho-v1-6.16") {
      assert.match(row.unsupported as string, /vmalloc: .* no kho_preserve_vmalloc.* ×2$/);
      assert.equal(row.unsupportedObjects, 4);
      assert.ok((row.trackerSerializedPages as number) > 0);
    }
  }
});

Deno.test("1 GiB guests: hugetlbfs memfds cross on the HugeTLB RFC and are unsupported (no hugetlb preservation) everywhere else; as plain folios they cross wherever KHO restores order 18", () => {
  const params = { ...SMALL, guestBytes: "2G", guestFolio: "1G" };
  for (const profile of ["kho-v1-6.18", "kho-v4"] as const) {
    const { row } = runScenario({ clock: CLOCK, scenario: "hypervisor", profile, params });
    assert.equal(row.status, "unsupported", profile);
    assert.equal(row.unsupportedObjects, 2, profile);
    assert.equal(row.lostObjects, 0, profile);
    assert.match(
      row.unsupported as string,
      profile === "kho-v4"
        ? /^guests: kho-v4 \(7\.2-rc1\): no hugetlb preservation — .*LUO's memfd handler takes shmem files only.* ×2$/
        : /^guests: kho-v1-6\.18 \(6\.18\): no hugetlb preservation — .*no Live Update Orchestrator either.* ×2$/,
    );
    // The capability decides: PRESERVE_FD is not tried, nothing is in a session.
    assert.deepEqual([row.luoSessions, row.luoFiles, row.preserveFailures], [0, 0, 0]);
    // No preserved folio: the successor maps no struct pages for guests, HVO has nothing to do.
    assert.ok((row.memmapPreservedBytes as number) < 2 ** 20, profile);
    assert.equal(row.hvoFreedBytes, 0);
  }
  const rfc = runScenario({
    clock: CLOCK,
    scenario: "hypervisor",
    profile: "rfc-2025-12-hugetlb",
    params,
  });
  assert.equal(rfc.row.status, "ok", String(rfc.row.errors));
  assert.deepEqual([rfc.row.luoSessions, rfc.row.luoFiles], [2, 2]);
  assert.match(rfc.row.preservedBlocksByOrder as string, /(^| )18:2$/, "one order-18 key each");
  // The two folios' struct pages: 16 MiB each at boot, written twice, then 4 KiB each kept.
  assert.equal(rfc.row.compoundStructPagesWritten, 2 * 2 ** 18 + 8, "and the manifest chunk");
  assert.equal(rfc.row.hvoFreedBytes, 2 * (16 * 2 ** 20 - 4096));
  assert.equal(
    rfc.row.memmapAfterHvoBytes,
    (rfc.row.memmapBootBytes as number) - 2 * (16 * 2 ** 20 - 4096),
  );
  const folio = { ...params, guestClient: "folio" };
  const v4 = runScenario({
    clock: CLOCK,
    scenario: "hypervisor",
    profile: "kho-v4",
    params: folio,
  });
  assert.equal(v4.row.status, "ok");
  assert.match(v4.row.preservedBlocksByOrder as string, /(^| )18:2$/);
  // 7.0 restores no folio above MAX_PAGE_ORDER (kho_restore_page: order > 10).
  const v2 = runScenario({
    clock: CLOCK,
    scenario: "hypervisor",
    profile: "kho-v2",
    params: folio,
  });
  assert.equal(v2.row.status, "lost");
  // The walk kept both folios (their memory is reserved): the restore refused them, with a WARN.
  assert.equal(v2.row.restoreFailures, 2);
  assert.equal(v2.row.lostObjects, 0);
  assert.deepEqual(rowOutcomes(v2.row).folio.reasons, [
    "guests: 2 failedRestore — kho_restore_folio(0x40000000) returned NULL; successor's log: " +
    "WARNING: at kho_restore_page: pfn 0x40000: order 18 > 10 (the first of 2)",
  ]);
  assert.throws(
    () =>
      runScenario({
        clock: CLOCK,
        scenario: "hypervisor",
        profile: "kho-v4",
        params: { ...params, guestFolio: "4M" },
      }),
    /guestFolio 4194304: 4K..2M/,
  );
});

Deno.test("the wall-clock metrics come from the injected clock, each region timed alone", () => {
  const params = { ramBytes: "2G", pages: 50 };
  const { row } = runScenario({ scenario: "uniform", profile: "kho-v4", params, clock: CLOCK });
  const names = ["preserveMs", "walkMs", "populateMs", "reserveMs"];
  // the struct-page estimates: counts × unit costs measured with the same clock
  const estimates = ["memmapInitMs", "deferredInitMs", "restoreStructPagesMs", "hvoMs"];
  // kho-v4 has no finalize
  assert.deepEqual(Object.keys(rowTimings(row)), [...names, ...estimates]);
  for (const k of names) assert.equal(row[k], 0, k);
  // A clock that advances 1 ms per reading: every timed sample reads it exactly twice, around
  // its region and nothing else, so every sample is 1 ms.
  let t = 0;
  const stepping = runScenario({
    scenario: "uniform",
    profile: "kho-v1-6.19",
    params,
    clock: { nowMs: () => t++ },
    repeat: 3,
  });
  const timings = rowTimings(stepping.row);
  assert.deepEqual(Object.keys(timings), [
    "preserveMs",
    "finalizeMs",
    ...names.slice(1),
    ...estimates,
  ]);
  for (const k of ["preserveMs", "finalizeMs", ...names.slice(1)]) {
    assert.deepEqual(timings[k], { n: 3, median: 1, min: 1, max: 1 }, k);
  }
  // The run's own phases (RunResult.phaseMs, for benchmarks) read the same clock once each
  // side; the kexec also around the copy of the handed-over bytes, which bootMs leaves out.
  assert.deepEqual(stepping.phaseMs, {
    buildMs: 1,
    preserveMs: 1,
    finalizeMs: 1,
    bootMs: 2,
    restoreMs: 1,
  });
  // Every reading accounted for: the run's 12, then 3 warm-up and 3 timed passes of the
  // tracker replay (preserve, finalize), the walk and the early boot (populate, reserve), and
  // the warm-up's own clock (a reading before it and after each of its runs), then the
  // struct-page unit costs: 4 loops, 3 samples of two readings each.
  assert.equal(t, 12 + (3 + 3) * (4 + 2 + 4) + 3 * (1 + 3) + 4 * 3 * 2);
  // repeat: 0 measures nothing; the rest of the row is the same.
  const none = runScenario({
    scenario: "uniform",
    profile: "kho-v4",
    params,
    clock: CLOCK,
    repeat: 0,
  });
  assert.deepEqual(rowTimings(none.row), {});
  assert.ok(!("walkMs" in none.row));
  assert.deepEqual(none.row, deterministicPart(row));
  assert.throws(
    () => runScenario({ scenario: "uniform", profile: "kho-v4", params, clock: CLOCK, repeat: -1 }),
    RangeError,
  );
  assert.equal(row.status, "ok");
  assert.equal(row.restoredBlocks, 50);
  // The 50 pages and the manifest's two pages (its root and one chunk), one struct page each.
  assert.equal(row.restoreStructPagesWritten, 52);
  // The struct-page estimates read the injected clock too: 0 with a clock that never moves.
  for (const k of ["memmapInitMs", "deferredInitMs", "restoreStructPagesMs", "hvoMs"]) {
    assert.equal(row[k], 0, k);
    assert.equal(row[`${k}.n`], 5, k);
  }
  // 1 ms per loop over one folio's 262,144 struct pages; memmap_init writes 2 GiB's 524,288.
  assert.equal(stepping.row.memmapInitMs, 2);
});

Deno.test("test_kho, dense and clustered scenarios run and verify", () => {
  const t = runScenario({ clock: CLOCK, scenario: "test_kho", profile: "kho-v4" }).row;
  assert.equal(t.status, "ok", String(t.errors));
  assert.ok((t.restoredBlocks as number) > 0);
  // 128 MiB of order-0 pages at 1 GiB: one full radix leaf of preserved pages.
  const d = runScenario({
    clock: CLOCK,
    scenario: "dense",
    profile: "kho-v4",
    params: { ramBytes: "4G", bandStartBytes: "1G", bandBytes: "128M" },
  }).row;
  assert.equal(d.status, "ok", String(d.errors));
  assert.equal(d.restoredBlocks, 32768);
  assert.ok((d.walkBitmapWords as number) >= 512);
  const c = runScenario({
    clock: CLOCK,
    scenario: "clustered",
    profile: "kho-v1-6.18",
    params: { ramBytes: "2G", pages: 400, windowBytes: "64M" },
  }).row;
  assert.equal(c.status, "ok", String(c.errors));
  assert.equal(c.restoredBlocks, 400);
});

/**
 * Every standard scenario, scaled down (the same builders and draws as at full size; the
 * 1 TiB hypervisor is checked for every profile in notebooks/hypervisor-1tib.ipynb and the
 * demo report's data.json in tests/report).
 */
const FLOOR_CASES: [ScenarioName, Record<string, string | number>][] = [
  ["hypervisor", { ...SMALL, poison: 0 }],
  ["hypervisor", { ...SMALL, iommuPlacement: "clustered", poison: 0 }],
  ["hypervisor", { ...SMALL, iommuPages: 50000, poison: 0 }], // 3/4 of the pool
  ["ladder", { hostBytes: "64G", poison: 0 }],
  ["uniform", { ramBytes: "2G", pages: 3000, poison: 0 }],
  ["uniform", { ramBytes: "1G", pages: 80000, poison: 0 }], // half the free pages
  ["clustered", { ramBytes: "4G", pages: 8192, windowBytes: "256M", poison: 0 }],
  ["dense", { ramBytes: "4G", bandStartBytes: "1G", bandBytes: "1G", poison: 0 }],
  ["test_kho", { poison: 0 }],
];

Deno.test("the floor is a floor: floorBytes ≤ handoverBytes, every profile, every scenario", () => {
  assert.deepEqual([...new Set(FLOOR_CASES.map(([s]) => s))].sort(), [...SCENARIO_NAMES].sort());
  for (const [scenario, params] of FLOOR_CASES) {
    for (const profile of availableProfiles()) {
      const { row } = runScenario({ clock: CLOCK, scenario, profile, params });
      const where = `${scenario} ${JSON.stringify(params)} ${profile}: ${row.floorDomains}`;
      assert.notEqual(row.status, "error", where);
      assert.ok((row.floorBytes as number) <= (row.handoverBytes as number), where);
      assert.ok((row.floorBlocks as number) <= (row.preservedBlocks as number), where);
      const drawn = ["hypervisor", "ladder", "uniform", "clustered"].includes(scenario);
      assert.equal((row.floorBytes as number) > 0, drawn, `${where}: a floor iff a draw`);
    }
  }
});
