import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import type { BootOptions } from "../../lib/boot/kernel.ts";
import { getProfile, type ProfileName } from "../../lib/kho/profiles.ts";
import { SCENARIO_CHUNK_HEADER_SIZE } from "../../lib/scenario/manifest_abi.ts";
import { writeScenarioManifest } from "../../lib/scenario/manifest.ts";
import { availableProfiles, restoreScenario, runScenario } from "../../lib/scenario/run.ts";
import { buildScenario } from "../../lib/scenario/scenarios.ts";
import { restoreSection, Tally, VmallocSet, type Workload } from "../../lib/scenario/workloads.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { KhoVmalloc } from "../../lib/kho/abi/kexec_handover.ts";
import { outcomeProblems, rowOutcomes } from "../../lib/metrics/outcomes.ts";
import { SMALL_HYPERVISOR as SMALL } from "../support/small_hypervisor.ts";

/** Runs here read a manual clock: every wall-clock metric is 0. */
const CLOCK = new ManualClock();

/**
 * The small hypervisor's outcome per profile: status, lostObjects, restoredBlocks,
 * restoreFailures, restoreStructPagesWritten, preservedBlocks (without the manifest), errors,
 * unsupportedObjects. Guests are 2 memfds of 2 × 2 MiB folios through LUO: 6.19 on restore
 * them (4 folios); before 6.19 (and RFC v1) there is no LUO, so they are unsupported, as are
 * vmalloc buffers without `kho_preserve_vmalloc` (6.16, RFC v1). 2000 IOMMU pages, 2 DMA
 * blocks of 512 pages and (6.18 on) 2 vmalloc buffers of 256 pages restore everywhere.
 * preservedBlocks also counts each generation's LUO state (6.19: the luo-v1 FDT page, a
 * 16-page session array, a 2-page file array per session; 7.0–7.1: and the FLB page; 7.2:
 * luo_ser, the FLB page, one session block and one file block per session) and per file a
 * memfd_luo_ser, its record page and vmalloc chunk.
 *
 * restoreStructPagesWritten is every struct page the successor's kho_restore_* wrote (the head
 * and tails of each block), derived by hand: 7.2 — 2000 IOMMU pages, 2 × 512 DMA pages, 2 ×
 * (256 + 1 chunk) vmalloc pages, 4 × 512 memfd folio pages, per memfd its memfd_luo_ser and
 * its records' data and chunk pages (6), the manifest's order-3 chunk and root page (9), and
 * LUO's luo_ser, session block and two file blocks (4): 5605. 6.19–7.1 restore a 16-page
 * session array and two 2-page file arrays instead of the blocks and keep the luo-v1 FDT: +16.
 * 6.18: no LUO, no memfds: 3547. 6.16 and RFC v1 restore order > 0 with prep_compound_page
 * only (no refcounts, kho-facts §5.3) and have no vmalloc: the 2000 IOMMU pages and the
 * manifest's root page, and 6.16 its own incoming FDT: 2002 / 2001.
 */
const OUTCOME: Record<
  ProfileName,
  [string, number, number, number, number, number, string, number]
> = {
  "kho-v1-6.16": ["unsupported", 0, 2002, 0, 2002, 2003, "", 4],
  "kho-v1-6.18": ["unsupported", 0, 2514, 0, 3547, 2517, "", 2],
  "kho-v1-6.19": ["ok", 0, 2518, 0, 5621, 2531, "", 0],
  "rfc-v1-order-table": ["unsupported", 0, 2002, 0, 2001, 2002, "", 4],
  "kho-v2": ["ok", 0, 2518, 0, 5621, 2532, "", 0],
  "kho-v3": ["ok", 0, 2518, 0, 5621, 2533, "", 0],
  "kho-v4": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
  "kho-v4+fixes": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
  "rfc-2026-page-type": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
  "rfc-2026-page-type-fixed": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
  "rfc-2025-12-hugetlb": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
  "rfc-2026-ext-scratch": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
  "rfc-2026-guest-memfd": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
  "rfc-2026-guest-memfd-hugetlb-assumed": ["ok", 0, 2518, 0, 5605, 2533, "", 0],
};

Deno.test("every profile restores from the manifest: guests through LUO from 6.19, unsupported before", () => {
  for (const profile of availableProfiles()) {
    const { row, successor } = runScenario({
      clock: CLOCK,
      scenario: "hypervisor",
      profile,
      params: SMALL,
    });
    const [status, lost, restored, failures, pages, blocks, errors, unsupported] = OUTCOME[profile];
    assert.equal(row.status, status, profile);
    assert.equal(row.errors, errors, profile);
    assert.equal(row.unsupportedObjects, unsupported, profile);
    if (getProfile(profile).luo === null) {
      assert.match(row.unsupported as string, /^guests: .* has no Live Update Orchestrator/);
    }
    assert.equal(row.lostObjects, lost, profile);
    assert.equal(row.restoredBlocks, restored, profile);
    assert.equal(row.restoreFailures, failures, profile);
    assert.equal(row.restoreStructPagesWritten, pages, profile);
    if (profile === "kho-v4") {
      // prep_compound_page: the 4 memfd folios and the manifest's order-3 chunk.
      assert.equal(row.compoundStructPagesWritten, 4 * 512 + 8);
      assert.equal(row.memmapInitStructPages, (row.memmapBootBytes as number) / 64);
    }
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
    restoreScenario(k2, t2, { attempted: [] });
    const [, lost, restored] = OUTCOME[profile];
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
    // Every object the generation could preserve is lost: 2000 IOMMU pages, 2 DMA blocks,
    // and on kho-v4 the 2 files and 2 vmalloc buffers (unsupported in 6.16, not lost).
    assert.equal(row.lostObjects, profile === "kho-v4" ? 2006 : 2002, profile);
    assert.equal(row.unsupportedObjects, profile === "kho-v4" ? 0 : 4, profile);
    assert.equal(row.restoredBlocks, 0, profile);
    assert.equal(row.preserveFailures, clean.preserveFailures);
    assert.equal(row.preservedBlocks, clean.preservedBlocks, "the corruption is after measuring");
  }
});

Deno.test("a refused handover settles every attempted object as refused, with the successor's reason", () => {
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
  // 2000 IOMMU pages, 2 DMA blocks, 2 files, 2 vmalloc buffers: handed over, refused, not lost.
  assert.equal(row.refusedObjects, 2006);
  assert.equal(row.lostObjects, 0);
  const o = rowOutcomes(row);
  assert.deepEqual(Object.keys(o), ["folio", "memfd", "vmalloc", "range"]);
  assert.equal(o.folio.refused, 2000);
  assert.match(
    o.folio.reasons[0],
    /^iommu: 2000 refused — the successor refused the handover: .*compat/,
  );
  for (const [kind, k] of Object.entries(o)) assert.deepEqual(outcomeProblems(kind, k), [], kind);
});

Deno.test("content changed after the manifest was written is reported corrupted, not hidden", () => {
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
  restoreScenario(k2, t2, { attempted: [] });
  assert.equal(t2.outcomes.total("corrupted"), 1);
  assert.equal(t2.lostObjects, 0);
  assert.equal(t2.restoreFailures, 0);
  assert.deepEqual(
    t2.outcomes.outcomes().folio.reasons,
    [`${folio.name}: 1 corrupted — content hash differs`],
  );
});

Deno.test("a vmalloc record whose area comes back smaller than its bytes is corrupted, not a page fault of kholab's (issue 18 §1)", () => {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 30, nodes: 1 }));
  const addr = k1.vmalloc.vmalloc(3 * 4096)!;
  k1.vmalloc.fill(addr, 3 * 4096, { pattern: 3 });
  const set = new VmallocSet("vbuf", k1, [addr], 3 * 4096);
  const section = set.preserve(k1, new Tally());
  const desc = section.descs[0];
  // The chunk ends after two entries and the record says two pages: a 2-page area restores.
  k1.machine.mem.writeU64(desc.first + 8 + 2 * 8, 0);
  const forged = { ...section, descs: [new KhoVmalloc({ ...desc, totalPages: 2 })] };
  const k2 = k1.kexec();
  const t = new Tally();
  restoreSection(k2, forged, t);
  assert.equal(t.restoreFailures, 0);
  assert.equal(t.lostObjects, 0);
  assert.deepEqual(t.outcomes.outcomes().vmalloc.reasons, [
    "vbuf: 1 corrupted — content hash differs (an area of 2 pages for 12288 bytes)",
  ]);
});

Deno.test("restores tally the kernel's verdicts and let kholab's own exceptions through", () => {
  const k2 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 30, nodes: 1 })).kexec();
  const t = new Tally();
  // A pfn no C caller could pass is the KHO facade's EINVAL: tallied.
  restoreSection(k2, {
    kind: "folio",
    name: "f",
    attempted: 1,
    order: 0,
    pfns: Float64Array.of(NaN),
    hashes: BigUint64Array.of(0n),
  }, t);
  assert.equal(t.errorText(), "f-restore:EINVAL");
  // A kholab bug (here: a kernel object that is not one) is not the kernel's answer.
  const broken = { ...k2, kho: null } as unknown as Kernel;
  assert.throws(() =>
    restoreSection(broken, {
      kind: "folio",
      name: "f",
      attempted: 1,
      order: 0,
      pfns: Float64Array.of(1),
      hashes: BigUint64Array.of(0n),
    }, new Tally()), TypeError);
});
