/**
 * The folded-vmemmap design (examples/designs/folded_vmemmap.ts, kholab's own proposal; seed
 * 002: a folio-based KHO "could preserve and restore the high order folio struct page folding
 * (HVO)") next to the HugeTLB live update RFC it derives from: what it saves — memmap bytes,
 * struct-page writes, cache lines, estimated successor time by phase — against figures derived
 * by hand; the successor's view of the handed-over table (bytes only), a kernel that will not
 * fold, corrupt tables, the panic when a folded folio is not preserved, and the preserve side's
 * rollback.
 */

import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { memfdCreate, type MemfdFile } from "../../lib/clients/memfd.ts";
import { HUGETLB_LUO_MODULE, hugetlbVmemmapDesign } from "../../lib/clients/hugetlb_luo.ts";
import { defineProfile } from "../../lib/design/define.ts";
import { KhoError } from "../../lib/errors.ts";
import { KernelPanic } from "../../lib/kernel/panic.ts";
import { getProfile } from "../../lib/kho/profiles.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { parseByOrder } from "../../lib/metrics/metrics.ts";
import {
  type SampleStats,
  type StructPageCosts,
  structPageMetrics,
  structPageTimes,
} from "../../lib/metrics/struct_pages.ts";
import { ManualClock } from "../../lib/rng.ts";
import { runScenario } from "../../lib/scenario/run.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";
import {
  FOLDED_RECORDS_PER_PAGE,
  FOLDED_VMEMMAP,
  FOLDED_VMEMMAP_MAGIC,
  FOLDED_VMEMMAP_PROFILE,
  FOLDED_VMEMMAP_SUBTREE,
} from "../../examples/designs/folded_vmemmap.ts";

const RFC = "rfc-2025-12-hugetlb";
const DESIGN = "folded-vmemmap";
const MiB = 2 ** 20;
/** Struct pages of a 1 GiB folio; of one vmemmap page. */
const FOLIO_PAGES = 262_144, PAGE_STRUCTS = 64;

function boot(profile: string, o: { extra?: string; pages?: number } = {}): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 1 }), {
    profile,
    cmdline: `liveupdate=on kho_scratch=64M,512M,512M hugepagesz=1G hugepages=${o.pages ?? 3} ` +
      `hugetlb_free_vmemmap=on ${o.extra ?? ""}`,
    modules: [HUGETLB_LUO_MODULE],
  });
}

function guest(k: Kernel, name: string, n: number, pattern: number): MemfdFile {
  const f = memfdCreate(k, name, { hugetlb: GiB });
  f.fill(0, n * GiB, { pattern });
  return f;
}

/** Two guests (2 + 1 folios) preserved, kexec with `cmdline` (default: the same one). */
function handover(profile: string, successorCmdline?: string) {
  const k1 = boot(profile);
  const a = guest(k1, "a", 2, 7), b = guest(k1, "b", 1, 9);
  const hashes = [a.hash64(), b.hash64()];
  const pfns = [...a.folios(), ...b.folios()].map((f) => f.pfn);
  // The page HVO kept for each folio: the first page of its vmemmap in the old kernel.
  const kept = pfns.map((p) => k1.memmap.vmemmap.structPagePhys(p));
  const dev = k1.liveupdate.open();
  dev.createSession("a").preserveFd(a, 1);
  dev.createSession("b").preserveFd(b, 1);
  const k2 = k1.kexec(successorCmdline === undefined ? {} : { cmdline: successorCmdline });
  return { k1, k2, hashes, pfns, kept };
}

/** Retrieve "a", finish "b" (returned to the pool free); the contents checked. */
function bringBack(k2: Kernel, hashes: bigint[]): void {
  const d2 = k2.liveupdate.open();
  const a = d2.retrieveSession("a").retrieveFd(1) as MemfdFile;
  assert.equal(a.hash64(), hashes[0], "guest a's bytes");
  d2.retrieveSession("b").finish();
}

Deno.test("folded-vmemmap is a profile derived from the RFC, its status kholab's own proposal", () => {
  const p = getProfile(DESIGN);
  assert.equal(p, FOLDED_VMEMMAP_PROFILE);
  const rfc = getProfile(RFC);
  assert.deepEqual(
    [p.tracker, p.compat, p.luo, p.guestMemory, p.bugs],
    [rfc.tracker, rfc.compat, rfc.luo, rfc.guestMemory, rfc.bugs],
  );
  assert.match(p.status!, /^kholab's own proposal/);
  assert.equal(hugetlbVmemmapDesign(DESIGN), FOLDED_VMEMMAP);
  assert.equal(hugetlbVmemmapDesign(RFC), null);
  // A profile derived from the design keeps its way of bringing struct pages back.
  defineProfile({ name: "folded-vmemmap-copy", base: DESIGN });
  assert.equal(hugetlbVmemmapDesign("folded-vmemmap-copy"), FOLDED_VMEMMAP);
  assert.throws(
    () => defineProfile({ name: "v4-folded", base: "kho-v4", hugetlbVmemmap: FOLDED_VMEMMAP }),
    /needs a base with HugeTLB live update/,
  );
});

Deno.test("16 GiB, 3 × 1 GiB guest folios: the table handed over, the vmemmap folded at boot, 64 struct pages per folio, no HVO — next to the RFC, by hand", () => {
  const rfc = handover(RFC), fold = handover(DESIGN);
  // The table: one page, three records {pfn | 18 << 52, vmemmap page}, the sub-tree points at it.
  const { phys } = fold.k2.kho.retrieveSubtree(FOLDED_VMEMMAP_SUBTREE);
  const mem = fold.k2.machine.mem;
  assert.deepEqual(
    [mem.readU64(phys), mem.readU32(phys + 8), mem.readU32(phys + 12), mem.readU32(phys + 16)],
    [0, 3, FOLDED_VMEMMAP_MAGIC, 64],
  );
  for (let i = 0; i < 3; i++) {
    const at = phys + 32 + 16 * i;
    const [lo, hi] = mem.readU64Parts(at);
    assert.equal(lo + (hi % 2 ** 20) * 2 ** 32, fold.pfns[i]);
    assert.equal(Math.floor(hi / 2 ** 20), 18);
    assert.equal(mem.readU64(at + 8), fold.kept[i]);
    assert.equal(fold.k2.memmap.vmemmap.foldOf(fold.pfns[i])?.pagePhys, fold.kept[i]);
  }
  assert.throws(() => rfc.k2.kho.retrieveSubtree(FOLDED_VMEMMAP_SUBTREE), /no sub-tree/);
  assert.match(fold.k2.log.text(), /sparse_init: vmemmap of 3 preserved folios mapped folded/);
  bringBack(rfc.k2, rfc.hashes);
  bringBack(fold.k2, fold.hashes);
  for (const { k2 } of [rfc, fold]) {
    const h = k2.hugetlb.hstate(18)!;
    assert.deepEqual([h.nrHugePages, h.freeHugePages], [3, 1], "2 in use, 1 back in the pool");
  }
  const r = structPageMetrics(rfc.k2), f = structPageMetrics(fold.k2);
  const ram = 16 * GiB;
  // memmap: 64 bytes per page of RAM; the design maps each folded folio's 16 MiB as one page.
  assert.equal(r.memmapBootBytes, ram / 64);
  assert.equal(f.memmapBootBytes, ram / 64 - 3 * 16 * MiB + 3 * 4096);
  // After the RFC's HVO the same bytes stay mapped: 4 KiB per folio either way.
  assert.equal(r.memmapAfterHvoBytes, ram / 64 - 3 * (16 * MiB - 4096));
  assert.equal(f.memmapAfterHvoBytes, r.memmapAfterHvoBytes);
  assert.deepEqual([r.hvoFolios, r.hvoFreedBytes], [3, 3 * 4095 * 4096]);
  assert.deepEqual([f.hvoFolios, f.hvoFreedBytes, f.memmapFoldedFolios], [0, 0, 3]);
  // memmap_init: every page of RAM, less the folded folios' pages.
  assert.equal(r.memmapInitStructPages, ram / PAGE_SIZE);
  assert.equal(f.memmapInitStructPages, ram / PAGE_SIZE - 3 * FOLIO_PAGES);
  // Restore: the RFC writes 262,144 struct pages per folio twice; the design 1 + 63 per folio,
  // plus the 3 vmemmap pages restored and the table page freed (kho_restore_free), one each.
  // The other blocks (the records, the sers, LUO's own) cost both the same.
  const other = (r.restoreStructPagesWritten as number) - 3 * FOLIO_PAGES;
  assert.equal(f.restoreStructPagesWritten, other + 3 * 1 + 3 + 1);
  assert.equal(r.compoundStructPagesWritten, 3 * FOLIO_PAGES);
  assert.equal(f.compoundStructPagesWritten, 3 * (PAGE_STRUCTS - 1));
  // The walk stamps one head per block: the design hands over 4 more blocks (3 pages + table).
  const rw = rfc.k2.boot.retrieve!, fw = fold.k2.boot.retrieve!;
  assert.equal(fw.blocks, rw.blocks + 4);
  assert.equal(r.structPageWrites, rw.blocks + other + 3 * FOLIO_PAGES + 3 * FOLIO_PAGES);
  assert.equal(f.structPageWrites, rw.blocks + 4 + other + 3 + 3 + 1 + 3 * 63);
  assert.equal(f.structPageCacheLines, f.structPageWrites, "64-byte struct pages: a line each");
  // The folded folios' vmemmap is their preserved page, in use; the table page is free again.
  const v = fold.k2.memmap.vmemmap;
  for (const pfn of fold.pfns) {
    const page = v.foldOf(pfn)!.pagePhys;
    assert.equal(v.structPagePhys(pfn), page);
    assert.equal(fold.k2.memmap.pageCount(page / PAGE_SIZE), 1, "restored, held by the vmemmap");
  }
  assert.ok(fold.k2.buddy.isFree(phys / PAGE_SIZE), "the table page went back to the allocator");
});

Deno.test("a chain: the successor preserves the folded folios again, the third kernel folds them onto the same pages", () => {
  const { k2, hashes, pfns } = handover(DESIGN);
  const d2 = k2.liveupdate.open();
  const r2 = d2.retrieveSession("a");
  const a = r2.retrieveFd(1) as MemfdFile;
  r2.finish();
  r2.close();
  d2.retrieveSession("b").finish();
  const pages = pfns.slice(0, 2).map((p) => k2.memmap.vmemmap.foldOf(p)!.pagePhys);
  d2.createSession("a2").preserveFd(a, 1);
  const k3 = k2.kexec();
  assert.deepEqual(pfns.slice(0, 2).map((p) => k3.memmap.vmemmap.foldOf(p)?.pagePhys), pages);
  const back = k3.liveupdate.open().retrieveSession("a2").retrieveFd(1) as MemfdFile;
  assert.equal(back.hash64(), hashes[0]);
  assert.equal(structPageMetrics(k3).compoundStructPagesWritten, 2 * 63);
});

Deno.test("HVO off on the old kernel: nothing folded to hand over — the design is the RFC", () => {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 1 }), {
    profile: DESIGN,
    cmdline: "liveupdate=on kho_scratch=64M,512M,512M hugepagesz=1G hugepages=1",
    modules: [HUGETLB_LUO_MODULE],
  });
  const f = guest(k1, "a", 1, 3);
  k1.liveupdate.open().createSession("a").preserveFd(f, 1);
  const k2 = k1.kexec();
  assert.throws(() => k2.kho.retrieveSubtree(FOLDED_VMEMMAP_SUBTREE), /no sub-tree/);
  k2.liveupdate.open().retrieveSession("a").retrieveFd(1);
  const m = structPageMetrics(k2);
  assert.deepEqual([m.memmapFoldedFolios, m.hvoFolios], [0, 0]);
  assert.equal(m.compoundStructPagesWritten, FOLIO_PAGES);
});

Deno.test("a successor booted with hugetlb_free_vmemmap=off folds nothing: struct pages rebuilt, the preserved vmemmap pages freed", () => {
  const cmdline = "liveupdate=on kho_scratch=64M,512M,512M hugepagesz=1G hugepages=3";
  const { k2, hashes } = handover(DESIGN, cmdline);
  const pages = readPages(k2); // before the table is freed
  assert.match(k2.log.text(), /hugetlb_free_vmemmap=off: 3 folios' struct pages rebuilt/);
  bringBack(k2, hashes);
  const m = structPageMetrics(k2);
  assert.deepEqual([m.memmapFoldedFolios, m.hvoFolios], [0, 0]);
  assert.equal(m.compoundStructPagesWritten, 3 * FOLIO_PAGES);
  for (const p of pages) assert.ok(k2.buddy.isFree(p / PAGE_SIZE), `page ${p} freed`);
});

/** The vmemmap pages a successor's incoming table names. */
function readPages(k: Kernel): number[] {
  const { phys } = k.kho.retrieveSubtree(FOLDED_VMEMMAP_SUBTREE);
  const n = k.machine.mem.readU32(phys + 8);
  return Array.from({ length: n }, (_, i) => k.machine.mem.readU64(phys + 40 + 16 * i));
}

Deno.test("a corrupt table is refused as a whole: logged, nothing folded, the RFC's rebuild", () => {
  const corruptions: [string, (mem: Kernel["machine"]["mem"], t: number) => void, RegExp][] = [
    ["magic", (mem, t) => mem.writeU32(t + 12, 0), /bad magic/],
    ["count", (mem, t) => mem.writeU32(t + 8, FOLDED_RECORDS_PER_PAGE + 1), /count 255/],
    ["next", (mem, t) => mem.writeU64(t, t), /read twice/],
    ["order", (mem, t) => mem.writeU32(t + 36, 9 * 2 ** 20), /order 9/],
    [
      "page in a folio",
      (mem, t) => mem.writeU64(t + 40, mem.readU32(t + 32) * PAGE_SIZE),
      /inside a folio/,
    ],
    ["struct page size", (mem, t) => mem.writeU32(t + 16, 56), /struct page of 56 bytes/],
  ];
  for (const [what, corrupt, reason] of corruptions) {
    const k1 = boot(DESIGN);
    const a = guest(k1, "a", 2, 7);
    const hash = a.hash64();
    k1.liveupdate.open().createSession("a").preserveFd(a, 1);
    const table = tablePhys(k1);
    corrupt(k1.machine.mem, table);
    const k2 = k1.kexec();
    assert.match(
      k2.log.text(),
      new RegExp(`folded-vmemmap: .*${reason.source}.*; struct pages rebuilt`),
      what,
    );
    assert.equal(k2.memmap.vmemmap.foldedFolios, 0, what);
    const back = k2.liveupdate.open().retrieveSession("a").retrieveFd(1) as MemfdFile;
    assert.equal(back.hash64(), hash, what);
    assert.equal(structPageMetrics(k2).compoundStructPagesWritten, 2 * FOLIO_PAGES, what);
  }
});

/** Where the outgoing table's first page lies (the sub-tree's blob). */
function tablePhys(k: Kernel): number {
  const sub = k.kho.out!.subtrees().find((s) => s.name === FOLDED_VMEMMAP_SUBTREE);
  return sub!.phys;
}

Deno.test("a table that folds memory the tracker does not hold: the design's successor panics after the walk", () => {
  const k1 = boot(DESIGN, { pages: 4 });
  const a = guest(k1, "a", 1, 7);
  const spare = guest(k1, "spare", 1, 1); // a pool folio that is never preserved
  k1.liveupdate.open().createSession("a").preserveFd(a, 1);
  const t = tablePhys(k1);
  const pfn = spare.folios()[0].pfn;
  k1.machine.mem.writeU64Parts(t + 32, pfn >>> 0, Math.floor(pfn / 2 ** 32) + 18 * 2 ** 20);
  assert.throws(
    () => k1.kexec(),
    (e) =>
      e instanceof KernelPanic &&
      /folded vmemmap: folio .* is not preserved memory/.test(e.message),
  );
});

Deno.test("preserve side: all or nothing — a table page that cannot be had fails the preserve and leaves the handover as it was; unpreserve removes the table", () => {
  // The design, with its first table page failing (the fault armed just before it runs).
  defineProfile({
    name: "folded-vmemmap-enomem",
    base: DESIGN,
    hugetlbVmemmap: {
      ...FOLDED_VMEMMAP,
      name: "folded-vmemmap-enomem",
      preserveFolios(k, pfns, order) {
        k.faults.arm({ nth: 1, sites: ["kho_alloc_preserve"] });
        try {
          FOLDED_VMEMMAP.preserveFolios!(k, pfns, order);
        } finally {
          k.faults.disarm();
        }
      },
    },
  });
  const k1 = boot("folded-vmemmap-enomem");
  const a = guest(k1, "a", 2, 7);
  const session = k1.liveupdate.open().createSession("a");
  const blocks = () => {
    const out: string[] = [];
    k1.kho.out!.tracker.walk((p, o) => (out.push(`${p}/${o}`), 0));
    return out.sort();
  };
  const before = blocks();
  assert.throws(
    () => session.preserveFd(a, 1),
    (e) => e instanceof KhoError && e.code === "ENOMEM",
  );
  assert.equal(k1.faults.injected, 1, "the design's table page was the allocation that failed");
  assert.deepEqual(blocks(), before, "no folio, vmemmap page or table page left preserved");
  assert.ok(!k1.kho.out!.subtrees().some((s) => s.name === FOLDED_VMEMMAP_SUBTREE));
  // The real design: preserve, then close the session — everything undone.
  const k = boot(DESIGN);
  const b = guest(k, "b", 2, 7);
  const dev = k.liveupdate.open();
  const empty = (() => {
    const out: string[] = [];
    k.kho.out!.tracker.walk((p, o) => (out.push(`${p}/${o}`), 0));
    return out.sort();
  })();
  const s = dev.createSession("b");
  s.preserveFd(b, 1);
  assert.ok(k.kho.out!.subtrees().some((x) => x.name === FOLDED_VMEMMAP_SUBTREE));
  s.close(); // closing an outgoing session unpreserves its files
  const after: string[] = [];
  k.kho.out!.tracker.walk((p, o) => (after.push(`${p}/${o}`), 0));
  assert.deepEqual(after.sort(), empty);
  assert.ok(!k.kho.out!.subtrees().some((x) => x.name === FOLDED_VMEMMAP_SUBTREE));
});

/** Fixed unit costs (ns), so that the time estimates can be derived by hand. */
function fixed(ns: number): SampleStats {
  return { n: 1, median: ns, min: ns, max: ns };
}
const COSTS: StructPageCosts = {
  init: fixed(2),
  refcount: fixed(0.5),
  compound: fixed(1),
  hvoPage: fixed(40),
};

Deno.test("1 TiB of 1 GiB guests brought back: the RFC and the folded-vmemmap design side by side, by hand", () => {
  const run = (profile: string) =>
    runScenario({ scenario: "hypervisor", profile, clock: new ManualClock(), repeat: 0 });
  const r = run(RFC), f = run(DESIGN);
  for (const x of [r, f]) {
    assert.equal(x.row.status, "ok", String(x.row.errors));
    assert.equal(x.row.lostObjects, 0);
  }
  const guests = 1008;
  assert.equal(parseByOrder(f.row.preservedBlocksByOrder as string).get(18), guests);
  // ⌈1008 / 254⌉ = 4 table pages; one vmemmap page per folio.
  const tablePages = Math.ceil(guests / FOLDED_RECORDS_PER_PAGE);
  assert.equal(tablePages, 4);
  const o0 = (row: typeof r.row) => parseByOrder(row.preservedBlocksByOrder as string).get(0)!;
  assert.equal(o0(f.row), o0(r.row) + guests + tablePages);
  const ram = r.successor!.machine.topology.ramBytes;
  const n = (row: typeof r.row, k: string) => row[k] as number;
  // memmap bytes
  assert.equal(n(r.row, "memmapBootBytes"), ram / 64);
  assert.equal(n(f.row, "memmapBootBytes"), ram / 64 - guests * (16 * MiB - 4096));
  assert.equal(n(r.row, "memmapAfterHvoBytes"), ram / 64 - guests * (16 * MiB - 4096));
  assert.equal(n(f.row, "memmapAfterHvoBytes"), n(r.row, "memmapAfterHvoBytes"));
  assert.equal(n(r.row, "memmapBootBytes") - n(f.row, "memmapBootBytes"), 16_907_304_960);
  // struct-page writes, phase by phase
  assert.equal(n(f.row, "memmapInitStructPages"), ram / 4096 - guests * FOLIO_PAGES);
  assert.equal(
    n(r.row, "restoreStructPagesWritten") - n(f.row, "restoreStructPagesWritten"),
    guests * FOLIO_PAGES - guests * 2 - tablePages, // head + vmemmap page each; the table freed
  );
  assert.equal(
    n(r.row, "compoundStructPagesWritten") - n(f.row, "compoundStructPagesWritten"),
    guests * (FOLIO_PAGES - 63),
  );
  assert.equal(
    n(f.row, "walkStructPagesWritten") - n(r.row, "walkStructPagesWritten"),
    guests + tablePages,
  );
  // The RFC's restore writes 2 × 264,241,152 struct pages for the guests; the design 65 per
  // folio (head, vmemmap page, 63 tails) and one per table page, and its walk stamps 1012 more
  // heads: about 530.6 M struct pages become about 2.2 M, one cache line each.
  assert.equal(
    n(r.row, "structPageWrites") - n(f.row, "structPageWrites"),
    2 * guests * FOLIO_PAGES - guests * (2 + 63) - tablePages - (guests + tablePages),
  );
  assert.equal(n(r.row, "structPageCacheLines"), n(r.row, "structPageWrites"));
  assert.equal(n(f.row, "structPageCacheLines"), n(f.row, "structPageWrites"));
  assert.deepEqual([n(r.row, "hvoFolios"), n(f.row, "hvoFolios")], [guests, 0]);
  assert.equal(n(f.row, "memmapFoldedFolios"), guests);
  assert.ok(!("memmapFoldedFolios" in r.row), "only a profile with a fold source has the column");
  // Estimated successor time by phase with fixed unit costs (ns): init 2, refcount 0.5,
  // compound 1, HVO 40 per vmemmap page.
  const tr = structPageTimes(r.row, COSTS), tf = structPageTimes(f.row, COSTS);
  const ms = (x: number) => Math.round(x * 1000) / 1000;
  assert.equal(tr.memmapInitMs, ms(ram / 4096 * 2 / 1e6));
  assert.equal(tf.memmapInitMs, ms((ram / 4096 - guests * FOLIO_PAGES) * 2 / 1e6));
  assert.equal(ms(tr.memmapInitMs - tf.memmapInitMs), 528.482); // 264,241,152 × 2 ns
  assert.equal(tr.hvoMs, 165.11); // 1008 × 4095 vmemmap pages × 40 ns
  assert.equal(tf.hvoMs, 0);
  assert.equal(
    tf.restoreStructPagesMs,
    ms(
      (n(f.row, "restoreStructPagesWritten") * 0.5 + n(f.row, "compoundStructPagesWritten")) / 1e6,
    ),
  );
  assert.ok(tr.restoreStructPagesMs - tf.restoreStructPagesMs > 390, "≈ 396 ms of restore saved");
});
