/**
 * Every outcome an object can end in, each on a small machine, with the reason the row gives:
 * unsupported (6.16 has no LUO, hence no memfd), refused (the successor's logged reason),
 * failedRestore (errno or NULL and the successor's log lines), corrupted (content hash), lost
 * (the walk did not keep it — with poison on and off —, its preserve failed in the first
 * kernel, the manifest naming it was unreadable).
 */
import assert from "node:assert/strict";
import type { BootOptions, KernelOptions } from "../../lib/boot/kernel.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import type { MetricsRow } from "../../lib/metrics/metrics.ts";
import { outcomeProblems, type Outcomes, rowOutcomes } from "../../lib/metrics/outcomes.ts";
import { SCENARIO_CHUNK_HEADER_SIZE } from "../../lib/scenario/manifest_abi.ts";
import { writeScenarioManifest } from "../../lib/scenario/manifest.ts";
import { restoreScenario, runUntimed } from "../../lib/scenario/run.ts";
import { attemptedSections } from "../../lib/scenario/restore_outcome.ts";
import { FolioSet, MemfdSet, Tally } from "../../lib/scenario/workloads.ts";
import type { ProfileName } from "../../lib/kho/profiles.ts";
import type { ParamValue } from "../../lib/scenario/scenarios.ts";
import { PAGE_SIZE } from "../../lib/units.ts";
import { SMALL_HYPERVISOR as SMALL } from "../support/small_hypervisor.ts";

/** Two 1 GiB guest folios preserved directly (kho_preserve_folio), on the same small host. */
const GIANT = { ...SMALL, guestBytes: "2G", guestFolio: "1G", guestClient: "folio" };

/** Runs and checks that every kind's outcomes add up with a reason per count. */
function run(
  profile: ProfileName,
  params: Record<string, ParamValue>,
  beforeKexec?: Parameters<typeof runUntimed>[0]["beforeKexec"],
): { row: MetricsRow; o: Outcomes; successor: Kernel | null } {
  const r = runUntimed({ scenario: "hypervisor", profile, params, capture: false, beforeKexec });
  const o = rowOutcomes(r.row);
  for (const [kind, k] of Object.entries(o)) {
    assert.deepEqual(outcomeProblems(kind, k), [], `${profile} ${kind}`);
  }
  return { row: r.row, o, successor: r.successor };
}

Deno.test("unsupported: 6.16 has no LUO (no memfd) and no kho_preserve_vmalloc — named, never lost", () => {
  const { row, o } = run("kho-v1-6.16", SMALL);
  assert.equal(row.status, "unsupported");
  assert.deepEqual(o.memfd, {
    attempted: 2,
    restored: 0,
    unsupported: 2,
    refused: 0,
    failedRestore: 0,
    corrupted: 0,
    lost: 0,
    reasons: [
      "guests: 2 unsupported — kho-v1-6.16 (6.16) has no Live Update Orchestrator (6.19 on): " +
      "no memfd preservation",
    ],
  });
  assert.deepEqual(o.vmalloc.reasons, [
    "vmalloc: 2 unsupported — kho-v1-6.16 (6.16) has no kho_preserve_vmalloc (6.18 on)",
  ]);
  assert.deepEqual([o.folio.restored, o.range.restored], [2000, 2]);
  assert.deepEqual(
    [row.attemptedObjects, row.restoredObjects, row.unsupportedObjects, row.lostObjects],
    [2006, 2002, 4, 0],
  );
});

Deno.test("refused: the successor's logged reason, for every object handed over", () => {
  const { row, o, successor } = run("kho-v4", SMALL, ({ instance }) => {
    (instance.bootOptions as BootOptions).profile = "kho-v3"; // another compat
  });
  assert.equal(row.status, "refused");
  assert.equal(row.refusedObjects, 2006);
  const why = successor!.boot.revivalRefused!;
  assert.ok(successor!.log.text().includes(why), "the reason is the successor's log line");
  for (const k of Object.values(o)) {
    assert.equal(k.refused, k.attempted);
    assert.ok(
      k.reasons.every((r) => r.endsWith(`refused — the successor refused the handover: ${why}`)),
    );
  }
});

Deno.test("failedRestore: NULL with the successor's WARN (order 18 > 10), the memory kept", () => {
  for (const profile of ["kho-v1-6.18", "kho-v2"] as const) {
    const { row, o, successor } = run(profile, GIANT);
    assert.equal(row.status, "lost", profile);
    assert.deepEqual([o.folio.failedRestore, o.folio.lost, row.restoreFailures], [2, 0, 2]);
    assert.deepEqual(o.folio.reasons, [
      "guests: 2 failedRestore — kho_restore_folio(0x40000000) returned NULL; successor's log: " +
      "WARNING: at kho_restore_page: pfn 0x40000: order 18 > 10 (the first of 2)",
    ], profile);
    // The walk kept it: the folio's memory is not in the page allocator.
    assert.equal(successor!.buddy.firstFreeIn(0x40000, 0x40000 + 2 ** 18), null, profile);
  }
  // 6.16 returns NULL without a word: the reason says what page->private holds.
  const { o } = run("kho-v1-6.16", GIANT);
  assert.match(
    o.folio.reasons[0],
    /^guests: 2 failedRestore — kho_restore_folio\(0x40000000\) returned NULL; the successor logged nothing; page->private of pfn 0x40000 says order 18, above the 10 the restore takes/,
  );
});

Deno.test("failedRestore: an errno and the successor's log lines (no memfd handler: EIO at the first open)", () => {
  const { row, o } = run("kho-v4", SMALL, ({ instance }) => {
    (instance.bootOptions as KernelOptions).modules = []; // the successor loads no LUO handler
  });
  assert.equal(row.status, "lost");
  assert.match(row.errors as string, /guests-restore:EIO/);
  assert.deepEqual([o.memfd.failedRestore, o.memfd.attempted], [2, 2]);
  assert.match(
    o.memfd.reasons[0],
    /^guests: 2 failedRestore — open\(\/dev\/liveupdate\): EIO: \/dev\/liveupdate: incoming sessions failed to deserialize \(ENOENT\); successor's log: luo: No registered handler for compatible 'memfd-v2' \| luo: Failed to deserialize files for session \[vm0\] -ENOENT$/,
  );
  assert.equal(o.folio.restored, 2000, "the rest is restored");
});

Deno.test("corrupted: a memfd whose content changed after it was preserved", () => {
  const { row, o } = run("kho-v4", SMALL, ({ instance, kernel }) => {
    const guests = instance.workloads.find((w) => w instanceof MemfdSet) as MemfdSet;
    const pfn = guests.files[1].folios()[0].pfn;
    kernel.machine.mem.writeU8(pfn * PAGE_SIZE + 5, 0x99);
  });
  assert.equal(row.status, "lost");
  assert.equal(row.corruptedObjects, 1);
  assert.deepEqual([o.memfd.restored, o.memfd.corrupted], [1, 1]);
  assert.deepEqual(o.memfd.reasons, ["guests: 1 corrupted — content hash differs"]);
});

Deno.test("lost: the order table drops 1 GiB folios; poison decides only whether their bytes survived, and the reason says so", () => {
  const reasons: string[] = [];
  for (const poison of [1, 0]) {
    const { row, o } = run("rfc-v1-order-table", { ...GIANT, poison });
    assert.equal(row.status, "lost", `poison=${poison}`);
    assert.deepEqual([o.folio.lost, o.folio.restored, row.lostObjects], [2, 2000, 2]);
    reasons.push(o.folio.reasons[0]);
  }
  const walk = "guests: 2 lost — not kept by the successor's walk: pfn 0x40000 was in the page " +
    "allocator (memblock_free_all freed it at boot); kho_restore_folio returned it anyway; ";
  assert.deepEqual(reasons, [
    `${walk}its content was overwritten (freed memory is poisoned) (the first of 2)`,
    `${walk}its content survived only because freed memory was not overwritten (poison off) ` +
    "(the first of 2)",
  ]);
});

Deno.test("lost: a preserve that failed in the first kernel, its errno carried by the manifest", () => {
  const machine = new Machine({ ramBytes: 2 ** 31, nodes: 1 });
  const k1 = Kernel.coldBoot(machine, { config: { khoDebug: true } });
  const inScratch = k1.boot.scratch[0].addr / PAGE_SIZE;
  const ok = k1.buddy.folioAlloc(0)!;
  const set = new FolioSet("pages", k1, Float64Array.of(ok, inScratch), 0);
  const t1 = new Tally();
  const section = set.preserve(k1, t1);
  assert.match(section.failedReason!, /^kho_preserve_folio: EINVAL: folio at .* overlaps scratch/);
  writeScenarioManifest(k1, [section]);
  const k2 = k1.kexec();
  const t2 = new Tally(); // the successor's: only what the manifest says
  restoreScenario(k2, t2, { attempted: [] });
  assert.deepEqual(t2.outcomes.outcomes().folio.reasons, [
    `pages: 1 lost — its preserve failed in the first kernel: ${section.failedReason}`,
  ]);
  assert.deepEqual([t2.outcomes.total("restored"), t2.lostObjects], [1, 1]);
});

Deno.test("lost: the manifest naming them unreadable, every preserved object says where", () => {
  const { row, o } = run("kho-v4", SMALL, ({ kernel, manifest }) => {
    kernel.machine.mem.fill(manifest!.firstChunkPhys + SCENARIO_CHUNK_HEADER_SIZE + 100, 64, {
      byte: 0xee,
    });
  });
  assert.equal(row.lostObjects, 2006);
  assert.match(
    o.folio.reasons[0],
    /^iommu: 2000 lost — the successor could not read the manifest naming it \(EINVAL: /,
  );
});

Deno.test("a run where nothing reaches the successor keeps the harness's unsupported objects unsupported", () => {
  const sections = attemptedSections([
    {
      kind: "memfd",
      name: "guests",
      attempted: 3,
      files: [],
      unsupported: { count: 2, reason: "no LUO" },
      failedReason: "open(/dev/liveupdate): ENOENT: liveupdate is off",
    },
  ]);
  const t = new Tally();
  const k2 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 30, nodes: 1 }));
  restoreScenario(k2, t, { attempted: sections }); // a cold boot: no manifest
  assert.deepEqual(t.outcomes.outcomes().memfd.reasons, [
    "guests: 2 unsupported — no LUO",
    "guests: 1 lost — its preserve failed in the first kernel: open(/dev/liveupdate): ENOENT: " +
    "liveupdate is off",
  ]);
});
