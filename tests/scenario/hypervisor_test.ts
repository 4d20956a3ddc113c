/**
 * The hypervisor rebuilt (issue 16, its part 6 and acceptance): the 1 TiB default on the HugeTLB
 * live update RFC — 1008 × 1 GiB guest folios in hugetlbfs memfds through the huge-memfd
 * handler, kexec, retrieve, content verified; the successor's pool allocates only what is not
 * preserved; HVO re-applied; the struct-page figures equal the hand computation — and every
 * other generation reporting those guests *unsupported* with its reason, never lost.
 */

import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { getProfile, hasGuestMemory } from "../../lib/kho/profiles.ts";
import { availableProfiles, runScenario } from "../../lib/scenario/run.ts";
import { parseByOrder } from "../../lib/metrics/metrics.ts";

const CLOCK = new ManualClock();
const MiB = 2 ** 20;
const FOLIO_PAGES = 262_144;

Deno.test("1 TiB, rfc-2025-12-hugetlb: 1008 × 1 GiB guests cross through huge-memfd; the pool allocates only the remainder; HVO re-applied; struct pages as computed by hand", () => {
  const { row, successor } = runScenario({
    scenario: "hypervisor",
    profile: "rfc-2025-12-hugetlb",
    clock: CLOCK,
  });
  assert.equal(row.status, "ok", String(row.errors));
  assert.equal(row.lostObjects, 0, "every guest byte verified after retrieve");
  assert.equal(row.unsupported, "");
  assert.equal(row.luoFiles, 8, "8 guest memfds in 8 sessions");
  const byOrder = parseByOrder(row.preservedBlocksByOrder as string);
  assert.equal(byOrder.get(18), 1008, "each 1 GiB folio one order-18 key");
  const k2 = successor!;
  // The successor's boot: hugepages=0:494,1:514 asked, 1008 preserved → nothing allocated.
  assert.match(
    k2.log.text(),
    /HugeTLB: 1008 pages of size 1.00 GiB are preserved by live update; not allocating them/,
  );
  assert.match(k2.log.text(), /HugeTLB: registered 1.00 GiB page size, pre-allocated 0 pages/);
  const h = k2.hugetlb.hstate(18)!;
  assert.deepEqual([h.maxHugePages, h.nrHugePages, h.freeHugePages], [1008, 1008, 0]);
  // HVO re-applied at retrieve, to exactly the 1008 retrieved folios.
  assert.equal(row.hvoFolios, 1008);
  assert.equal(row.hvoFreedBytes, 1008 * (16 * MiB - 4096), "4095 of 4096 vmemmap pages each");
  // The memmap: 64 bytes per page of RAM at boot; the preserved memory's share holds 16 MiB per
  // folio; after HVO each folio keeps 4 KiB.
  const ram = k2.machine.topology.ramBytes;
  assert.equal(row.memmapBootBytes, ram / 64);
  assert.equal(row.memmapPreservedBytes, (row.walkBytes as number) / 64);
  assert.ok((row.memmapPreservedBytes as number) >= 1008 * 16 * MiB);
  assert.equal(
    row.memmapAfterHvoBytes,
    (row.memmapBootBytes as number) - 1008 * (16 * MiB - 4096),
  );
  assert.equal(
    (row.memmapBootBytes as number) - (row.memmapAfterHvoBytes as number) + 1008 * 4096,
    1008 * 16 * MiB,
    "per folio: 16 MiB before HVO, 4 KiB after",
  );
  // Struct pages written: kho_init_folio and prep_compound_page each write the head and the
  // 262,143 tails of every folio. prep_compound_page also ran for the scenario manifest's
  // order-9 chunks (the order-9 blocks beyond the 16 DMA blocks, which kho_restore_pages
  // restores without it).
  const manifestChunks = byOrder.get(9)! - 16;
  assert.equal(
    row.compoundStructPagesWritten,
    1008 * (2 * 262_143 + 2) / 2 + manifestChunks * 512,
  );
  assert.ok((row.restoreStructPagesWritten as number) >= 1008 * FOLIO_PAGES + 2 ** 20);
  assert.equal(row.walkDeferredInitPages, 0, "CONFIG_DEFERRED_STRUCT_PAGE_INIT off");
  assert.equal(row.memmapInitStructPages, ram / 4096, "memmap_init writes every page");
  assert.equal(
    row.structPageWrites,
    (row.walkStructPagesWritten as number) + (row.restoreStructPagesWritten as number) +
      (row.compoundStructPagesWritten as number),
  );
  assert.equal(row.structPageCacheLines, row.structPageWrites, "one line per struct page");
  // The per-phase estimates exist with their statistics (0 ms on a clock that never moves).
  for (const k of ["memmapInitMs", "restoreStructPagesMs", "hvoMs"]) {
    assert.deepEqual([row[k], row[`${k}.n`], row[`${k}.max`]], [0, 5, 0], k);
  }
});

Deno.test("every generation without 1 GiB guest preservation reports the guests unsupported with its reason — never lost; HVO off keeps 16 MiB per folio", () => {
  const params = {
    ramBytes: "24G",
    guestBytes: "16G",
    poolBytes: "1G",
    iommuPages: 4096,
    vms: 4,
    poison: 0,
  };
  for (const profile of availableProfiles()) {
    const { row } = runScenario({ scenario: "hypervisor", profile, params, clock: CLOCK });
    assert.equal(row.lostObjects, 0, profile);
    if (hasGuestMemory(getProfile(profile), "hugetlb")) {
      assert.equal(row.status, "ok", `${profile}: ${row.errors}`);
      assert.equal(row.hvoFolios, 16);
      continue;
    }
    assert.equal(row.status, "unsupported", profile);
    assert.match(
      row.unsupported as string,
      new RegExp(`^guests: ${profile.replace("+", "\\+")} \\(.*\\): no hugetlb preservation — `),
      profile,
    );
    assert.match(row.unsupported as string, /guests: .* ×4(;|$)/, `${profile}: the 4 memfds`);
    // No guest folio comes back, so no HVO of theirs; with extended scratch the successor's
    // boot allocates its hugepages= pool afresh from the areas between preserved memory (the
    // series' point) and HVO frees 4095 vmemmap pages of each of its 16 new folios.
    const fresh = getProfile(profile).extendedScratch ? 16 * 4095 * 4096 : 0;
    assert.equal(row.hvoFreedBytes, fresh, `${profile}: HVO of the successor's own pool only`);
  }
  const off = runScenario({
    scenario: "hypervisor",
    profile: "rfc-2025-12-hugetlb",
    params: { ...params, hvo: 0 },
    clock: CLOCK,
  }).row;
  assert.equal(off.status, "ok");
  assert.equal(off.hvoFreedBytes, 0);
  assert.equal(off.memmapAfterHvoBytes, off.memmapBootBytes, "16 MiB per folio stays mapped");
});
