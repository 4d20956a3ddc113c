import assert from "node:assert/strict";
import type { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { Rng } from "../../lib/rng.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";
import { getProfile, hasGuestMemory, PROFILE_NAMES, PROFILES } from "../../lib/kho/profiles.ts";
import { KhoHangError, type XarrayTracker } from "../../lib/kho/trackers/xarray.ts";
import {
  abiMatrix,
  abiMatrixCell,
  abiMatrixText,
  availableProfiles,
} from "../../lib/scenario/abi_matrix.ts";
import { oracleBlobs, type OracleRequest } from "../support/fdt_oracle.ts";
import { requireTool } from "../support/system_tools.ts";
import { type Op, runLibfdt, toHex } from "./fdt/replay_support.ts";

const machine = () => new Machine({ ramBytes: 8 * GiB, nodes: 2 });

Deno.test("the profile table is complete and self-consistent", () => {
  for (const name of PROFILE_NAMES) {
    const p = getProfile(name);
    assert.equal(p.name, name);
    if (p.tracker.startsWith("xarray")) assert.equal(p.compat, "kho-v1");
    if (p.finalize === "notifier") assert.equal(p.fdtStyle, "sw-finalize");
    if (p.blobSize) assert.equal(p.subtreeProp, "preserved-data");
  }
  // A profile is the kernel as released: 7.2 carries the live KHO bugs of S-7.1c's core
  // (luo-hugetlb-facts §6) and its LUO defect (luo-hugetlb-facts §6.5); every generation computes the successor's
  // reservation size in int (deserialize_bitmap's int sz from 6.16, u64 sz = 1 << … from 7.0).
  assert.ok(PROFILES["kho-v4"].bugs.includes("luo-dup-session-empty-block"));
  for (const name of PROFILE_NAMES) {
    const p = getProfile(name);
    assert.equal(p.bugs.includes("int-size-overflow"), p.fixes.length === 0, name);
    // the vmalloc error path reads the unset order from 6.19 on (S-6.19c … linux-mm)
    const unwind = ["kho-v1-6.19", "kho-v2", "kho-v3", "kho-v4"].includes(name) ||
      name.startsWith("rfc-2026") || name === "rfc-2025-12-hugetlb";
    assert.equal(p.bugs.includes("vmalloc-unwind-unset-order"), unwind, name);
    if (p.base !== null) {
      assert.equal(p.compat, getProfile(p.base).compat, `${name}: a fix keeps the ABI`);
      for (const f of p.fixes) for (const b of f.removes) assert.ok(!p.bugs.includes(b));
    }
  }
  // memfd_luo's retrieve defects no mainline fix is known for (luo-hugetlb-facts §6.4, the lost
  // errno; the v1 accounting) are in every release with LUO, removed in kho-v4+fixes.
  for (const b of ["memfd-retrieve-lost-errno", "memfd-acct-one-block"] as const) {
    assert.ok(PROFILES["kho-v4"].bugs.includes(b), b);
    assert.ok(!PROFILES["kho-v4+fixes"].bugs.includes(b), b);
  }
  // memfd per release (luo-hugetlb-facts §3.1, §2.9): memfd-v1 in 6.19 and 7.0, memfd-v2 from 7.1.
  assert.deepEqual(
    PROFILE_NAMES.filter((n) => getProfile(n).luo).map((n) => [n, getProfile(n).luo!.memfd]),
    [
      ["kho-v1-6.19", "memfd-v1"],
      ["kho-v2", "memfd-v1"],
      ["kho-v3", "memfd-v2"],
      ["kho-v4", "memfd-v2"],
      ["kho-v4+fixes", "memfd-v2"],
      ["rfc-2026-page-type", "memfd-v2"],
      ["rfc-2026-page-type-fixed", "memfd-v2"],
      ["rfc-2025-12-hugetlb", "memfd-v2"],
      ["rfc-2026-ext-scratch", "memfd-v2"],
      ["rfc-2026-guest-memfd", "memfd-v2"],
      ["rfc-2026-guest-memfd-hugetlb-assumed", "memfd-v2"],
    ],
  );
  // The put_folios PFN bug until its fix reached 7.1 (3538f90ab89a); sampled flags in 6.19 only.
  const withBug = (b: string) =>
    PROFILE_NAMES.filter((n) => (getProfile(n).bugs as readonly string[]).includes(b));
  assert.deepEqual(withBug("memfd-put-folios-pfn-as-phys"), ["kho-v1-6.19", "kho-v2"]);
  assert.deepEqual(withBug("memfd-flags-sampled"), ["kho-v1-6.19"]);
  // No release has retrieve_status; the guest_memfd series' handlers need it (as assumed).
  for (const name of PROFILE_NAMES) {
    assert.equal(
      getProfile(name).luo?.retrieveStatus ?? false,
      hasGuestMemory(getProfile(name), "guest_memfd"),
      `${name}: retrieve_status`,
    );
  }
  // Proposals state their status; an assumption is in the summary, never silent.
  for (const name of PROFILE_NAMES) {
    const p = getProfile(name);
    if (name.startsWith("rfc-2026-") && !name.startsWith("rfc-2026-page-type")) {
      assert.ok(p.status, `${name} states its status`);
    }
    for (const a of p.assumptions ?? []) assert.ok(p.summary.includes(a.label), name);
  }
  // LUO per release (luo-hugetlb-facts §2.9): none before 6.19, the luo-v1 FDT to 7.1, luo-v5.
  const luo = (n: keyof typeof PROFILES) => PROFILES[n].luo;
  assert.equal(luo("kho-v1-6.16"), null);
  assert.equal(luo("kho-v1-6.18"), null);
  assert.equal(luo("rfc-v1-order-table"), null);
  assert.deepEqual(
    [luo("kho-v1-6.19")!.compat, luo("kho-v1-6.19")!.sessionCompat, luo("kho-v1-6.19")!.flb],
    ["luo-v1", "luo-session-v2", false],
  );
  for (const n of ["kho-v2", "kho-v3"] as const) {
    assert.equal(luo(n)!.flbCompat, "luo-flb-v1");
    assert.equal(luo(n)!.store, "contiguous");
  }
  assert.deepEqual([luo("kho-v4")!.blob, luo("kho-v4")!.compat, luo("kho-v4")!.store], [
    "luo-ser",
    "luo-v5",
    "kho-block",
  ]);
  for (const name of PROFILE_NAMES) {
    const l = getProfile(name).luo;
    if (getProfile(name).bugs.includes("luo-dup-session-empty-block")) {
      assert.equal(l?.store, "kho-block", name);
    }
  }
  assert.throws(() => getProfile("kho-v9"), /unknown KHO profile/);
});

Deno.test("every available generation preserves, hands over, walks and restores end to end", () => {
  for (const profile of availableProfiles()) {
    const rng = new Rng(3);
    const m = machine();
    const k1 = Kernel.coldBoot(m, { profile });
    const objs: { pfn: number; order: number; hash: bigint }[] = [];
    const maxOrder = getProfile(profile).tracker === "order-table" ? 9 : 10; // RFC v1 has 10 slots
    for (let order = 0; order <= maxOrder; order++) {
      const pfn = k1.buddy.folioAlloc(order, { nid: order % 2 })!;
      m.mem.fill(pfn * PAGE_SIZE, 2 ** order * PAGE_SIZE, { pattern: rng.u32() });
      k1.kho.preserveFolio(pfn);
      objs.push({ pfn, order, hash: m.mem.hash64(pfn * PAGE_SIZE, 2 ** order * PAGE_SIZE) });
    }
    const range = k1.buddy.allocPages(6)!;
    k1.kho.preserveRange(range + 3, 40);
    const blob = k1.buddy.folioAlloc(0)!;
    m.mem.writeU64(blob * PAGE_SIZE, 0xabcdef);
    k1.kho.preserveFolio(blob);
    k1.kho.registerSubtree("test-blob", blob * PAGE_SIZE, 8);
    const k2 = k1.kexec();
    assert.ok(k2.kho.isKhoBoot, `${profile}: ${k2.boot.revivalRefused}`);
    for (const o of objs) {
      assert.equal(k2.kho.restoreFolio(o.pfn * PAGE_SIZE), o.pfn, `${profile} order ${o.order}`);
      assert.equal(m.mem.hash64(o.pfn * PAGE_SIZE, 2 ** o.order * PAGE_SIZE), o.hash);
    }
    assert.equal(k2.kho.retrieveSubtree("test-blob").phys, blob * PAGE_SIZE, profile);
    assert.equal(m.mem.readU64(blob * PAGE_SIZE), 0xabcdef);
  }
});

Deno.test("API availability follows the generation", () => {
  const k16 = Kernel.coldBoot(machine(), { profile: "kho-v1-6.16" });
  const pfn = k16.buddy.folioAlloc(0)!;
  assert.throws(() => k16.kho.preservePages(pfn, 1), (e: KhoError) => e.code === "EOPNOTSUPP");
  assert.throws(() => k16.kho.allocPreserve(10), (e: KhoError) => e.code === "EOPNOTSUPP");
  assert.throws(
    () => k16.kho.addSubtree("x", pfn * PAGE_SIZE, 8),
    /only inside a KHO FINALIZE notifier/,
  );
  k16.kho.preservePhys(pfn * PAGE_SIZE, PAGE_SIZE);
  assert.throws(
    () => k16.kho.preservePhys(pfn * PAGE_SIZE + 1, PAGE_SIZE),
    (e: KhoError) => e.code === "EINVAL",
  );
  const k4 = Kernel.coldBoot(machine());
  assert.throws(
    () => k4.kho.preservePhys(0x100000, PAGE_SIZE),
    (e: KhoError) => e.code === "EOPNOTSUPP",
  );
  assert.throws(() => k4.kho.finalize(), (e: KhoError) => e.code === "EOPNOTSUPP");
  assert.throws(() => k4.kho.registerNotifier(() => 0), (e: KhoError) => e.code === "EOPNOTSUPP");
});

Deno.test("6.16 finalize/abort: EEXIST, ENOENT, EBUSY, and abort destroys every preservation", () => {
  const k = Kernel.coldBoot(machine(), { profile: "kho-v1-6.16" });
  const events: string[] = [];
  k.kho.registerNotifier((ev) => (events.push(ev), 0));
  const pfn = k.buddy.folioAlloc(2)!;
  k.kho.preserveFolio(pfn);
  assert.throws(() => k.kho.abort(), (e: KhoError) => e.code === "ENOENT");
  k.kho.finalize();
  assert.ok(k.kho.out!.finalized);
  assert.ok(k.kho.out!.serializedRoot > 0);
  assert.throws(() => k.kho.finalize(), (e: KhoError) => e.code === "EEXIST");
  assert.throws(
    () => k.kho.preserveFolio(k.buddy.folioAlloc(0)!),
    (e: KhoError) => e.code === "EBUSY",
  );
  assert.throws(() => k.kho.preservePhys(0x200000, PAGE_SIZE), (e: KhoError) => e.code === "EBUSY");
  k.kho.abort();
  assert.deepEqual(events, ["finalize", "abort"]);
  assert.equal(k.kho.out!.finalized, false);
  let n = 0;
  k.kho.out!.tracker.walk(() => (n++, 0));
  assert.equal(n, 0, "abort destroyed the tracker");
  assert.equal(k.kho.out!.serializedRoot, 0);
  assert.equal(k.kho.out!.root.bytes().length, 0);
  // Clients must preserve again; a second finalize then works.
  k.kho.preserveFolio(pfn);
  k.kho.finalize();
  const k2 = k.kexec();
  assert.equal(k2.kho.restoreFolio(pfn * PAGE_SIZE), pfn);
});

Deno.test("6.16: a failing FINALIZE notifier aborts the finalize", () => {
  const k = Kernel.coldBoot(machine(), { profile: "kho-v1-6.16" });
  k.kho.preserveFolio(k.buddy.folioAlloc(0)!);
  k.kho.registerNotifier((ev) => (ev === "finalize" ? -22 : 0));
  assert.throws(() => k.kho.finalize(), (e: KhoError) => e.code === "ENOMEM");
  assert.equal(k.kho.out!.finalized, false);
  let n = 0;
  k.kho.out!.tracker.walk(() => (n++, 0));
  assert.equal(n, 0);
});

Deno.test("6.19 finalize is repeatable: old list freed, map rewritten in place; no abort", () => {
  const k = Kernel.coldBoot(machine(), { profile: "kho-v1-6.19" });
  const a = k.buddy.folioAlloc(0)!;
  k.kho.preserveFolio(a);
  const fdt0 = k.kho.out!.root.bytes();
  k.kho.finalize();
  const first1 = k.kho.out!.serializedRoot;
  const fdt1 = k.kho.out!.root.bytes();
  assert.equal(fdt1.length, fdt0.length, "the property is rewritten in place");
  assert.notDeepEqual(fdt1, fdt0);
  const t = k.kho.out!.tracker as XarrayTracker;
  const chunks1 = t.serializedPagesPhys();
  const b = k.buddy.folioAlloc(3)!;
  k.kho.preserveFolio(b); // allowed after finalize in 6.19, not included until the next one
  k.kho.finalize();
  assert.notEqual(k.kho.out!.serializedRoot, first1);
  for (const c of chunks1) {
    assert.ok(!t.serializedPagesPhys().includes(c) || c === k.kho.out!.serializedRoot);
  }
  assert.throws(() => k.kho.abort(), (e: KhoError) => e.code === "EINVAL");
  const k2 = k.kexec({ finalizeAtKexec: false });
  assert.equal(k2.kho.restoreFolio(b * PAGE_SIZE), b);
  assert.equal(k2.kho.restoreFolio(a * PAGE_SIZE), a);
});

Deno.test("without finalize, 6.16 and 6.19 hand over nothing the successor can use", () => {
  for (const profile of ["kho-v1-6.16", "kho-v1-6.19"] as const) {
    const k = Kernel.coldBoot(machine(), { profile });
    k.kho.preserveFolio(k.buddy.folioAlloc(0)!);
    const k2 = k.kexec({ finalizeAtKexec: false });
    assert.equal(k2.kho.isKhoBoot, false, profile);
    assert.match(
      k2.boot.revivalRefused ?? "",
      profile === "kho-v1-6.19" ? /preserved-memory-map is 0/ : /invalid FDT/,
    );
  }
});

Deno.test("6.16 __kho_unpreserve on memory never preserved is a detected lockup; later kernels WARN", () => {
  const k = Kernel.coldBoot(machine(), { profile: "kho-v1-6.16" });
  k.kho.preservePhys(0x4000000, 4 * PAGE_SIZE);
  assert.throws(
    () => k.kho.unpreservePhys(0x8000000, 4 * PAGE_SIZE),
    (e: Error) => e instanceof KhoHangError,
  );
  assert.ok(k.log.grep(/soft lockup/).length >= 1);
  const k19 = Kernel.coldBoot(machine(), { profile: "kho-v1-6.19" });
  k19.kho.unpreservePages(0x8000, 4);
  assert.ok(k19.log.warnings().length >= 1);
});

Deno.test("6.16 restore rules: no magic, no refcounts for order > 0, no double-restore detection", () => {
  const m = machine();
  const k1 = Kernel.coldBoot(m, { profile: "kho-v1-6.16" });
  const f = k1.buddy.folioAlloc(3)!;
  k1.kho.preserveFolio(f);
  const k2 = k1.kexec();
  assert.deepEqual(k2.memmap.getPrivateParts(f), [3, 0], "page->private = order, no magic");
  assert.equal(k2.kho.restoreFolio(f * PAGE_SIZE), f);
  assert.equal(k2.memmap.pageCount(f), 0, "prep_compound_page only: the head has no reference");
  assert.equal(k2.kho.restoreFolio(f * PAGE_SIZE), f, "a second restore is not detected");
  assert.equal(
    k2.kho.restoreFolio(0x10000 * PAGE_SIZE),
    0x10000,
    "never-preserved memory restores",
  );
  // The same in the current generation is caught.
  const k4 = Kernel.coldBoot(machine()).kexec();
  assert.equal(k4.kho.restoreFolio(0x10000 * PAGE_SIZE), null);
});

/** Oracle request for an xarray-era root. */
function oracleFor(k: Kernel): OracleRequest {
  const out = k.kho.out!;
  const subtrees = out.subtrees().map((s) => [s.name, s.phys] as [string, number]);
  const args = {
    compat: "kho-v1",
    map: out.serializedRoot,
    subtrees,
    prop_name: "fdt",
    blob_sizes: {},
  };
  return k.profile.fdtStyle === "rw" ? { root_rw: args } : { root_sw: args };
}

Deno.test("xarray-era root FDTs are byte-identical to fdt_oracle.py root-sw (6.16, 6.18) and root-rw (6.19)", async () => {
  const got: Uint8Array[] = [];
  const reqs: OracleRequest[] = [];
  for (const profile of ["kho-v1-6.16", "kho-v1-6.18", "kho-v1-6.19"] as const) {
    for (const n of [0, 1, 3]) {
      const k = Kernel.coldBoot(machine(), { profile });
      for (let i = 0; i < 20; i++) k.kho.preserveFolio(k.buddy.folioAlloc(i % 5)!);
      for (let i = 0; i < n; i++) {
        const b = k.buddy.folioAlloc(0)!;
        k.kho.preserveFolio(b);
        k.kho.registerSubtree(`sub-${i}`, b * PAGE_SIZE, 64);
      }
      k.kho.finalize();
      got.push(k.kho.out!.root.bytes());
      reqs.push(oracleFor(k));
    }
  }
  if (!requireTool("libfdt", "oracle")) return;
  const want = await oracleBlobs(reqs);
  got.forEach((g, i) => assert.deepEqual(g, want[i], `case ${i}`));
});

Deno.test("ABI compatibility matrix: matching ABIs revive, others are refused or shown corrupt", () => {
  const cells = abiMatrix();
  const names = availableProfiles();
  assert.equal(cells.length, names.length ** 2);
  for (const c of cells) {
    if (c.from === c.to) assert.equal(c.verdict, "ok", `${c.from} → itself: ${c.reason}`);
    const pf = getProfile(c.from), pt = getProfile(c.to);
    if (pf.compat !== pt.compat) {
      assert.equal(c.verdict, "refused");
      assert.equal(c.reason, `compat "${pf.compat}" does not match "${pt.compat}"`);
    }
  }
  // Same compat string, different bitmap size: the format change 6.16 → 6.18 is not versioned.
  assert.notEqual(abiMatrixCell("kho-v1-6.18", "kho-v1-6.16").verdict, "ok");
  assert.notEqual(abiMatrixCell("kho-v1-6.16", "kho-v1-6.18").verdict, "ok");
  assert.equal(abiMatrixCell("kho-v1-6.18", "kho-v1-6.19").verdict, "ok");
  const text = abiMatrixText(cells);
  assert.match(text, /kho-v4 → kho-v3: compat "kho-v4" does not match "kho-v3"/);
});

Deno.test("property: random preserve/unpreserve sets walk back identically in every available profile", () => {
  const rng = new Rng(11);
  for (let run = 0; run < 6; run++) {
    for (const profile of availableProfiles()) {
      if (!getProfile(profile).api.includes("unpreserveFolio")) continue; // no unpreserve there
      const k = Kernel.coldBoot(machine(), { profile });
      const model = new Set<string>();
      const live: { pfn: number; order: number }[] = [];
      for (let i = 0; i < 60; i++) {
        if (live.length > 0 && rng.chance(0.3)) {
          const o = live.splice(rng.int(live.length), 1)[0];
          k.kho.unpreserveFolio(o.pfn);
          model.delete(`${o.pfn * PAGE_SIZE}/${o.order}`);
        } else {
          const order = rng.int(11);
          const pfn = k.buddy.folioAlloc(order, { nid: rng.int(2) })!;
          k.kho.preserveFolio(pfn);
          live.push({ pfn, order });
          model.add(`${pfn * PAGE_SIZE}/${order}`);
        }
      }
      const k2 = k.kexec();
      const seen = new Set<string>();
      for (const o of live) {
        assert.equal(k2.kho.restoreFolio(o.pfn * PAGE_SIZE), o.pfn, profile);
        seen.add(`${o.pfn * PAGE_SIZE}/${o.order}`);
      }
      assert.deepEqual(seen, model);
      assert.ok((k2.boot.retrieve?.blocks ?? 0) >= model.size);
    }
  }
});

Deno.test("RFC v1 order table: blocks of order > 9 have no slot and are lost across kexec", () => {
  const m = machine();
  const k1 = Kernel.coldBoot(m, { profile: "rfc-v1-order-table" });
  const ok9 = k1.buddy.folioAlloc(9)!;
  const lost10 = k1.buddy.folioAlloc(10)!;
  k1.kho.preserveFolio(ok9);
  k1.kho.preserveFolio(lost10); // accepted: written past the 10-slot table
  const k2 = k1.kexec();
  assert.ok(k2.kho.isKhoBoot);
  assert.ok(k2.memblock.isRegionReserved(ok9 * PAGE_SIZE, PAGE_SIZE));
  assert.ok(
    !k2.memblock.isRegionReserved(lost10 * PAGE_SIZE, PAGE_SIZE),
    "the order-10 block was not reserved",
  );
  assert.equal(k2.kho.restoreFolio(ok9 * PAGE_SIZE), ok9);
});

Deno.test("page-type RFC: what the successor receives for CONTIG and SPLIT blocks, posted vs fixed", () => {
  const run = (profile: "kho-v4" | "rfc-2026-page-type" | "rfc-2026-page-type-fixed") => {
    const m = machine();
    const k1 = Kernel.coldBoot(m, { profile });
    const contig = k1.buddy.allocPages(4)!; // dma_alloc_coherent-style: head 1, tails 0
    const split = k1.buddy.allocPages(4)!;
    k1.memmap.splitPage(split, 4); // every page refcount 1
    k1.kho.preservePages(contig, 16);
    k1.kho.preservePages(split, 16);
    const k2 = k1.kexec();
    assert.ok(k2.kho.isKhoBoot, profile);
    k2.kho.restorePages(contig * PAGE_SIZE, 16);
    k2.kho.restorePages(split * PAGE_SIZE, 16);
    return {
      contigTails: k2.memmap.pageCount(contig + 1),
      splitTails: k2.memmap.pageCount(split + 1),
      k2,
      contig,
    };
  };
  const v4 = run("kho-v4");
  assert.deepEqual([v4.contigTails, v4.splitTails], [1, 1], "current: every page refcount 1");
  // Freeing the unsplit block as one block then trips page_expected_state: a bad page.
  v4.k2.buddy.freePages(v4.contig, 4);
  assert.ok(v4.k2.buddy.badPages > 0);
  const posted = run("rfc-2026-page-type");
  assert.deepEqual(
    [posted.contigTails, posted.splitTails],
    [0, 0],
    "posted: bit 63 is never indexed, SPLIT arrives as CONTIG",
  );
  const fixed = run("rfc-2026-page-type-fixed");
  assert.deepEqual(
    [fixed.contigTails, fixed.splitTails],
    [0, 1],
    "fixed: each block gets its own pattern",
  );
  fixed.k2.buddy.freePages(fixed.contig, 4);
  assert.equal(fixed.k2.buddy.badPages, 0);
});

Deno.test("radix-era root FDTs (v2, v3, v4, page-type RFCs) are byte-identical to fdt_oracle.py root-rw", async () => {
  const got: Uint8Array[] = [];
  const reqs: OracleRequest[] = [];
  for (
    const profile of [
      "kho-v2",
      "kho-v3",
      "kho-v4",
      "rfc-2026-page-type",
      "rfc-2026-page-type-fixed",
    ] as const
  ) {
    for (const n of [0, 2]) {
      const k = Kernel.coldBoot(machine(), { profile });
      for (let i = 0; i < 10; i++) k.kho.preserveFolio(k.buddy.folioAlloc(i % 4)!);
      for (let i = 0; i < n; i++) {
        const b = k.kho.allocPreserve(100 + i);
        k.kho.addSubtree(`sub-${i}`, b, 100 + i);
      }
      const out = k.kho.out!;
      got.push(out.root.bytes());
      reqs.push({
        root_rw: {
          compat: k.profile.compat,
          map: out.tracker.handoverRoot(),
          subtrees: out.subtrees().map((s) => [s.name, s.phys] as [string, number]),
          prop_name: k.profile.subtreeProp,
          blob_sizes: k.profile.blobSize
            ? Object.fromEntries(out.subtrees().map((s) => [s.name, s.size]))
            : {},
        },
      });
    }
  }
  if (!requireTool("libfdt", "oracle")) return;
  const want = await oracleBlobs(reqs);
  got.forEach((g, i) => assert.deepEqual(g, want[i], `case ${i}`));
});

Deno.test("RFC v1's open root FDT equals libfdt replaying kho_out_fdt_init + kho_add_subtree + kho_commit_fdt", async () => {
  const m = machine();
  const k = Kernel.coldBoot(m, { profile: "rfc-v1-order-table" });
  const blobs = [0, 1, 2].map(() => k.buddy.folioAlloc(0)! * PAGE_SIZE);
  blobs.forEach((b, i) => k.kho.addSubtree(`sub-${i}`, b, 0));
  const filled = k.kho.fillKimage({ imageBytes: 64 << 20, mem: m.mem });
  const got = m.mem.readBytes(filled.handover.fdtPhys, PAGE_SIZE);
  const le = (v: number) => toHex(new Uint8Array(new BigUint64Array([BigInt(v)]).buffer));
  const ops: Op[] = [
    ["create", PAGE_SIZE, false],
    ["finish_reservemap"],
    ["begin_node", ""],
    ["property", "compatible", toHex(new TextEncoder().encode("kho-v1\0"))],
    ["placeholder", "preserved-order-table", 8],
    ["fill", 0, le(k.kho.out!.tracker.handoverRoot())],
    ...blobs.flatMap((b, i) =>
      [["begin_node", `sub-${i}`], ["property", "fdt", le(b)], ["end_node"]] as Op[]
    ),
    ["end_node"],
    ["finish"],
  ];
  assert.equal(
    k.kho.out!.isPreserved(filled.handover.fdtPhys / PAGE_SIZE, 0),
    true,
    "kho_fill_kimage preserves it",
  );
  if (!requireTool("libfdt")) return;
  const [want] = await runLibfdt([{ ops }]) as { buf: string }[];
  assert.equal(toHex(got), want.buf);
});
