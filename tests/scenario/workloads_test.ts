import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import type { BootOptions } from "../../lib/boot/kernel.ts";
import { getProfile, type ProfileName } from "../../lib/kho/profiles.ts";
import { SCENARIO_CHUNK_HEADER_SIZE } from "../../lib/scenario/manifest_abi.ts";
import { writeScenarioManifest } from "../../lib/scenario/manifest.ts";
import { availableProfiles, restoreScenario, runScenario } from "../../lib/scenario/run.ts";
import { buildScenario } from "../../lib/scenario/scenarios.ts";
import { Tally, type Workload } from "../../lib/scenario/workloads.ts";

/** Runs here read a manual clock: every wall-clock metric is 0. */
const CLOCK = new ManualClock();

const SMALL = {
  ramBytes: "4G",
  headroomBytes: "4G",
  nodes: 1,
  guestFolios: 2,
  vms: 2,
  poolBytes: "256M",
  iommuPages: 2000,
  vmallocBuffers: 2,
  dmaBlocks: 2,
};

/**
 * The small hypervisor's outcome per profile as the workloads reported it before the
 * manifest existed (JavaScript state carried across kexec): status, lostObjects,
 * restoredBlocks, restoreFailures, restoreStructPagesWritten, preservedBlocks, errors.
 */
const BEFORE: Record<ProfileName, [string, number, number, number, number, number, string]> = {
  // 6.16's kho_restore_folio returns NULL above MAX_PAGE_ORDER (S-6.16c), like 6.18–7.0: the
  // two 1 GiB guest folios (memfd falls back to folios) are now lost — 2 more lost objects and
  // restore failures, 2 fewer restored blocks, 2 × 262144 fewer struct pages written.
  "kho-v1-6.16": [
    "lost",
    4,
    2002,
    2,
    3024,
    2005,
    "guests-memfd:EOPNOTSUPP; vmalloc:EOPNOTSUPP×2",
  ],
  "kho-v1-6.18": ["lost", 2, 2514, 2, 3536, 2519, "guests-memfd:EOPNOTSUPP"],
  "kho-v1-6.19": ["lost", 2, 2514, 2, 3536, 2526, "guests-restore:EINVAL×2"],
  "rfc-v1-order-table": [
    "lost",
    4,
    2004,
    0,
    527312,
    2002,
    "guests-memfd:EOPNOTSUPP; vmalloc:EOPNOTSUPP×2",
  ],
  "kho-v2": ["lost", 2, 2514, 2, 3536, 2526, "guests-restore:EINVAL×2"],
  "kho-v3": ["ok", 0, 2516, 0, 527824, 2527, ""],
  "kho-v4": ["ok", 0, 2516, 0, 527824, 2527, ""],
  "kho-v4+fixes": ["ok", 0, 2516, 0, 527824, 2527, ""],
  "rfc-2026-page-type": ["ok", 0, 2516, 0, 527824, 2527, ""],
  "rfc-2026-page-type-fixed": ["ok", 0, 2516, 0, 527824, 2527, ""],
};

Deno.test("every profile restores from the manifest with the outcome of before", () => {
  for (const profile of availableProfiles()) {
    const { row, successor } = runScenario({
      clock: CLOCK,
      scenario: "hypervisor",
      profile,
      params: SMALL,
    });
    const [status, lost, restored, failures, pages, blocks, errors] = BEFORE[profile];
    assert.equal(row.status, status, profile);
    assert.equal(row.errors, errors, profile);
    assert.equal(row.lostObjects, lost, profile);
    assert.equal(row.restoredBlocks, restored, profile);
    assert.equal(row.restoreFailures, failures, profile);
    assert.equal(row.restoreStructPagesWritten, pages, profile);
    // 2000 × 16-byte records and the rest fit one order-3 chunk; plus the root FDT page.
    assert.equal(row.manifestBlocks, 2, profile);
    assert.equal(row.manifestBytes, 8 * 4096 + 4096, profile);
    assert.equal((row.preservedBlocks as number) - (row.manifestBlocks as number), blocks, profile);
    assert.ok(successor?.kho.isKhoBoot, profile);
    assert.deepEqual(successor!.kho.incoming!.subtreeNames().includes("kholab-scenario"), true);
  }
});

/** Makes every workload object of the first kernel useless: contents zeroed, then trapped. */
function poison(workloads: Workload[]): void {
  for (const w of workloads) {
    for (const v of Object.values(w)) {
      if (v instanceof Float64Array) v.fill(0);
      else if (v instanceof BigUint64Array) v.fill(0n);
      else if (Array.isArray(v)) v.length = 0;
    }
  }
  const trap = new Proxy({}, {
    get: () => {
      throw new Error("the successor read a first-kernel workload");
    },
  }) as Workload;
  workloads.fill(trap);
}

Deno.test("no JavaScript state crosses: poisoned workload objects change nothing", () => {
  for (const scenario of ["hypervisor", "test_kho"] as const) {
    for (const profile of ["kho-v4", "kho-v1-6.18", "rfc-v1-order-table"] as const) {
      const params = scenario === "hypervisor" ? SMALL : {};
      const clean = runScenario({ clock: CLOCK, scenario, profile, params }).row;
      let poisoned = false;
      const { row } = runScenario({
        clock: CLOCK,
        scenario,
        profile,
        params,
        beforeKexec: ({ instance }) => {
          poison(instance.workloads as Workload[]);
          poisoned = true;
        },
      });
      assert.ok(poisoned);
      for (const k of ["status", "errors", "lostObjects", "restoredBlocks", "restoreFailures"]) {
        assert.equal(row[k], clean[k], `${scenario} ${profile} ${k}`);
      }
      if (profile === "kho-v4") assert.equal(row.status, "ok", `${scenario}: ${row.errors}`);
    }
  }
});

Deno.test("the successor's restore needs only the successor kernel", () => {
  for (const profile of availableProfiles()) {
    const inst = buildScenario("hypervisor", { profile, params: SMALL });
    const k1 = inst.kernel;
    const t1 = new Tally();
    const sections = inst.workloads.map((w) => w.preserve(k1, t1));
    writeScenarioManifest(k1, sections);
    const finalize = getProfile(profile).finalize !== "none";
    if (finalize) k1.kho.finalize();
    const k2 = k1.kexec({ ...inst.bootOptions, finalizeAtKexec: false });
    // From here on: k2 and a fresh tally, nothing else.
    const t2 = new Tally();
    restoreScenario(k2, t2, { attempted: 0, clock: CLOCK });
    const [, lost, restored] = BEFORE[profile];
    assert.equal(t2.lostObjects, lost, profile);
    assert.equal(t2.restoredBlocks, restored, profile);
    assert.ok(![...t2.errors.keys()].some((k) => k.startsWith("manifest")), profile);
  }
});

Deno.test("a corrupt manifest chunk loses every attempted object with a manifest error", () => {
  for (const profile of ["kho-v4", "kho-v1-6.16"] as const) {
    const clean = runScenario({ clock: CLOCK, scenario: "hypervisor", profile, params: SMALL }).row;
    const { row } = runScenario({
      clock: CLOCK,
      scenario: "hypervisor",
      profile,
      params: SMALL,
      beforeKexec: ({ kernel, manifest }) => {
        assert.ok(manifest !== null);
        kernel.machine.mem.fill(manifest.firstChunkPhys + SCENARIO_CHUNK_HEADER_SIZE + 100, 64, {
          byte: 0xee,
        });
      },
    });
    assert.equal(row.status, "lost", profile);
    assert.match(row.errors as string, /manifest:EINVAL/, profile);
    // Every attempted object is lost: 2000 IOMMU pages, 2 files (or, in 6.16, their 2
    // folios), 2 vmalloc buffers, 2 DMA blocks.
    assert.equal(row.lostObjects, 2006, profile);
    assert.equal(row.restoredBlocks, 0, profile);
    assert.equal(row.preserveFailures, clean.preserveFailures);
    assert.equal(row.preservedBlocks, clean.preservedBlocks, "the corruption is after measuring");
  }
});

Deno.test("a refused handover loses every attempted object", () => {
  const { row } = runScenario({
    clock: CLOCK,
    scenario: "hypervisor",
    profile: "kho-v4",
    params: SMALL,
    beforeKexec: ({ instance }) => {
      (instance.bootOptions as BootOptions).profile = "kho-v3"; // another compat
    },
  });
  assert.equal(row.status, "refused");
  assert.match(row.errors as string, /^boot:Error\(.*compat/);
  assert.equal(row.lostObjects, 2006);
});

Deno.test("content changed after the manifest was written is reported lost, not hidden", () => {
  const inst = buildScenario("hypervisor", { profile: "kho-v4", params: SMALL });
  const k1 = inst.kernel;
  const t1 = new Tally();
  const sections = inst.workloads.map((w) => w.preserve(k1, t1));
  writeScenarioManifest(k1, sections);
  const folio = sections.find((s) => s.kind === "folio" && s.pfns.length > 0);
  assert.ok(folio && folio.kind === "folio");
  k1.machine.mem.writeU8(folio.pfns[0] * 4096 + 77, 0x42);
  const k2 = k1.kexec(inst.bootOptions);
  const t2 = new Tally();
  restoreScenario(k2, t2, { attempted: 0, clock: CLOCK });
  assert.equal(t2.lostObjects, 1);
  assert.equal(t2.restoreFailures, 0);
});
