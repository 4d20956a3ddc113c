/**
 * A design that is in no kernel — **kholab's own proposal**: HugeTLB live update (the RFC
 * "liveupdate: hugetlb support", profile `rfc-2025-12-hugetlb`) that hands the folded vmemmap
 * of each 1 GiB folio over with the folio, as seed 002 says a folio-based KHO "could preserve
 * and restore the high order folio struct page folding (HVO)". Profile `folded-vmemmap`,
 * derived from `rfc-2025-12-hugetlb`; nothing else of the RFC changes (same tracker, same
 * `hugetlb-v1` FLB and `huge-memfd-v1` records, same compatible strings).
 *
 * What the RFC's successor does with a preserved 1 GiB folio (luo-hugetlb-facts §4.5): its
 * `sparse_init` maps 16 MiB of struct pages for it (4096 vmemmap pages), `memmap_init` writes
 * its 262,144 struct pages, `kho_restore_folio` writes them again and `prep_compound_page` a
 * third time, and only then HVO frees 4095 of the 4096 vmemmap pages. What this design's
 * successor does instead:
 * - **outgoing**, when `hugemfd_preserve` has preserved a file's folios: the vmemmap page HVO
 *   kept for each 1 GiB folio (`HUGETLB_VMEMMAP_RESERVE_SIZE`: one page, every struct page of
 *   the folio mapped onto it) is preserved as an order-0 page (`kho_preserve_pages`) and
 *   recorded in a table handed over as the KHO sub-tree `folded-vmemmap`;
 * - **`sparse_init`** of the successor reads the table and maps every vmemmap page of each
 *   recorded folio onto its preserved page — the folio's 8 sections take no memmap buffer,
 *   `memmap_init` and `init_deferred_page` leave its struct pages alone;
 * - **retrieve** (or finish): `kho_restore_folio` checks the folio as always and writes the 64
 *   struct pages of the one page (the head, and 63 tails whose `compound_head` it re-encodes
 *   for its own vmemmap), restores the preserved page (now the folio's vmemmap), and the folio
 *   joins the pool already optimized: HVO is not re-applied.
 *
 * Only folios the old kernel had optimized (`hugetlb_free_vmemmap=on`) and of at least 128 MiB
 * (whole sections: 1 GiB on x86_64) are recorded; a folio whose kept page lies in scratch (a
 * pool the successor of a KHO boot allocated itself, whose memmap came from scratch) cannot
 * be preserved in place and is left to the RFC's path (logged). A successor whose struct page
 * differs in size, or booted with `hugetlb_free_vmemmap=off`, folds nothing: it restores and
 * frees the preserved pages and rebuilds the struct pages as the RFC does.
 *
 * Assumptions (kholab's, as a proposal's): the successor's `sparse_init` can read the KHO FDT
 * (`kho_populate` ran before it, as on x86); the struct page layout is the same in both
 * kernels where their sizes are (a layout version would belong in the table); the 63 tails
 * are rewritten because `vmemmap_base` may move with KASLR.
 *
 * Byte layout of the table (4 KiB pages, little-endian; the successor reads nothing else):
 *
 * ```
 * page header (32 bytes)
 *   0x000  u64 next               physical address of the next page, 0 = last
 *   0x008  u32 count              records in this page, 0..254
 *   0x00c  u32 magic              0x4d4d5646 ("FVMM")
 *   0x010  u32 struct_page_bytes  sizeof(struct page) of the kernel that wrote it (64)
 *   0x014  u32 version            1
 *   0x018  u64 reserved           0
 * record i (16 bytes, at 0x020 + 16 i, i < 254)
 *   0x0    u64 folio              pfn:52 | order:12 (bits 52..63), as the hugemfd records
 *   0x8    u64 vmemmap            physical address of the folio's one vmemmap page
 * ```
 *
 * The successor checks every page (aligned, RAM, not read before, magic, version, count) and
 * every record (order ≥ 15, folio aligned and RAM, page aligned, RAM, outside scratch and
 * outside every folio, no folio twice); anything wrong and it folds nothing ("folded-vmemmap:
 * …; struct pages rebuilt" in its log). After the tracker walk the boot panics if a folded
 * folio or its page is not preserved memory (`lib/boot/vmemmap_fold.ts`).
 *
 * Load it with `--design examples/designs/folded_vmemmap.ts` (command line), `design
 * examples/designs/folded_vmemmap.ts` (scripts) or `await loadDesign(…)` (TypeScript).
 *
 * @module
 */

import {
  defineProfile,
  hex,
  type HugetlbVmemmapRestore,
  type Kernel,
  PAGE_SIZE,
  REBUILD_AND_REOPTIMIZE,
  type ScratchArea,
  type VmemmapFold,
  type VmemmapFoldView,
} from "../../mod.ts";

/** The KHO sub-tree that carries the table. */
export const FOLDED_VMEMMAP_SUBTREE = "folded-vmemmap";
/** The page magic, "FVMM" in little-endian bytes. */
export const FOLDED_VMEMMAP_MAGIC = 0x4d4d5646;
/** The table's version. */
export const FOLDED_VMEMMAP_VERSION = 1;
/** Records per page: (4096 - 32) / 16. */
export const FOLDED_RECORDS_PER_PAGE = 254;
const HEADER = 32;
const RECORD = 16;
/** Smallest order the successor can fold: a whole 128 MiB section. */
const MIN_FOLD_ORDER = 15;
const PFN_BITS = 2 ** 52;
/** A walk never reads more pages than a 64 TiB machine could need. */
const MAX_TABLE_PAGES = 2 ** 16;

/** One record: a folio and the page that holds its struct pages. */
interface FoldRecord {
  readonly pfn: number;
  readonly order: number;
  readonly page: number;
}

/** The outgoing table of one kernel: its pages (bytes are the truth) and where each folio is. */
interface OutTable {
  readonly pages: number[];
  readonly where: Map<number, number>;
  count: number;
}

/** What a successor read at `sparse_init`, kept until its restores have used it. */
interface InTable {
  /** Folio head pfn → its preserved vmemmap page. */
  readonly pages: Map<number, number>;
  /** The table's own pages, freed once every record is used. */
  readonly tablePages: number[];
}

const OUT = new WeakMap<Kernel, OutTable>();
const IN = new WeakMap<object, InTable>();

function inScratch(scratch: readonly ScratchArea[], phys: number, size: number): boolean {
  return scratch.some((a) => phys < a.addr + a.size && phys + size > a.addr);
}

/** Byte address of record `i` of the table (page `i / 254`, slot `i % 254`). */
function recordAt(t: OutTable, i: number): number {
  return t.pages[Math.floor(i / FOLDED_RECORDS_PER_PAGE)] + HEADER +
    (i % FOLDED_RECORDS_PER_PAGE) * RECORD;
}

/** A new table page, linked after the last; ENOMEM and the table is as it was. */
function addPage(k: Kernel, t: OutTable): void {
  const phys = k.kho.allocPreserve(PAGE_SIZE);
  const mem = k.machine.mem;
  mem.writeU32(phys + 0xc, FOLDED_VMEMMAP_MAGIC);
  mem.writeU32(phys + 0x10, k.memmap.vmemmap.structPageBytes);
  mem.writeU32(phys + 0x14, FOLDED_VMEMMAP_VERSION);
  if (t.pages.length === 0) {
    try {
      k.kho.addSubtree(FOLDED_VMEMMAP_SUBTREE, phys, PAGE_SIZE);
    } catch (e) {
      k.kho.unpreserveFree(phys);
      throw e;
    }
  } else mem.writeU64(t.pages[t.pages.length - 1], phys);
  t.pages.push(phys);
}

/** Drops the last page once it holds nothing (the first one last: then the sub-tree goes). */
function dropEmptyPage(k: Kernel, t: OutTable): void {
  if (t.count > (t.pages.length - 1) * FOLDED_RECORDS_PER_PAGE) return;
  const phys = t.pages.pop()!;
  if (t.pages.length === 0) k.kho.removeSubtree(phys);
  else k.machine.mem.writeU64(t.pages[t.pages.length - 1], 0);
  k.kho.unpreserveFree(phys);
}

function setCount(k: Kernel, t: OutTable, page: number): void {
  const n = Math.min(
    FOLDED_RECORDS_PER_PAGE,
    Math.max(0, t.count - page * FOLDED_RECORDS_PER_PAGE),
  );
  k.machine.mem.writeU32(t.pages[page] + 0x8, n);
}

function append(k: Kernel, t: OutTable, r: FoldRecord): void {
  if (t.count === t.pages.length * FOLDED_RECORDS_PER_PAGE) addPage(k, t);
  const at = recordAt(t, t.count);
  const mem = k.machine.mem;
  mem.writeU64Parts(at, r.pfn >>> 0, Math.floor(r.pfn / 2 ** 32) + r.order * 2 ** 20);
  mem.writeU64(at + 8, r.page);
  t.where.set(r.pfn, t.count);
  t.count++;
  setCount(k, t, Math.floor((t.count - 1) / FOLDED_RECORDS_PER_PAGE));
}

/** Removes folio `pfn`'s record: the last record moves into its slot. */
function remove(k: Kernel, t: OutTable, pfn: number): number | null {
  const i = t.where.get(pfn);
  if (i === undefined) return null;
  const mem = k.machine.mem;
  const page = mem.readU64(recordAt(t, i) + 8);
  const last = t.count - 1;
  if (i !== last) {
    const from = recordAt(t, last), to = recordAt(t, i);
    mem.writeBytes(to, mem.readBytes(from, RECORD));
    const [lo, hi] = mem.readU64Parts(to);
    t.where.set(lo + (hi % 2 ** 20) * 2 ** 32, i);
  }
  mem.writeBytes(recordAt(t, last), new Uint8Array(RECORD));
  t.where.delete(pfn);
  t.count--;
  setCount(k, t, Math.floor(last / FOLDED_RECORDS_PER_PAGE));
  dropEmptyPage(k, t);
  return page;
}

/**
 * `preserveFolios`: the kept vmemmap page of each optimized folio of at least a section,
 * preserved and recorded; all or nothing.
 */
function preserveFolios(k: Kernel, pfns: readonly number[], order: number): void {
  if (order < MIN_FOLD_ORDER || !k.hugetlb.hvo) return;
  let t = OUT.get(k);
  if (t === undefined) OUT.set(k, t = { pages: [], where: new Map(), count: 0 });
  const v = k.memmap.vmemmap;
  const done: number[] = [];
  try {
    for (const pfn of pfns) {
      if (t.where.has(pfn)) continue;
      const page = v.structPagePhys(pfn);
      if (page === null || page % PAGE_SIZE !== 0) continue; // memmap not charged: nothing kept
      if (inScratch(k.boot.scratch, page, PAGE_SIZE)) {
        k.log.info(
          "folded-vmemmap",
          `vmemmap of folio ${hex(pfn * PAGE_SIZE)} lies in scratch; left to be rebuilt`,
        );
        continue;
      }
      k.kho.preservePages(page / PAGE_SIZE, 1);
      try {
        append(k, t, { pfn, order, page });
      } catch (e) {
        k.kho.unpreservePages(page / PAGE_SIZE, 1);
        throw e;
      }
      done.push(pfn);
    }
  } catch (e) {
    unpreserveFolios(k, done, order);
    throw e;
  }
}

/** `unpreserveFolios`: their pages unpreserved and their records removed. */
function unpreserveFolios(k: Kernel, pfns: readonly number[], _order: number): void {
  const t = OUT.get(k);
  if (t === undefined) return;
  for (const pfn of [...pfns].reverse()) {
    const page = remove(k, t, pfn);
    if (page !== null) k.kho.unpreservePages(page / PAGE_SIZE, 1);
  }
}

/** Why a table is refused, or null; `records` receives what it holds. */
function readTable(
  view: VmemmapFoldView,
  root: number,
  records: FoldRecord[],
  tablePages: number[],
): string | null {
  const { mem } = view;
  const seen = new Set<number>();
  for (let phys = root; phys !== 0;) {
    if (phys % PAGE_SIZE !== 0 || !view.isRam(phys, PAGE_SIZE)) {
      return `page ${hex(phys)} is not an aligned page of RAM`;
    }
    if (seen.has(phys) || seen.size >= MAX_TABLE_PAGES) return `page ${hex(phys)} read twice`;
    seen.add(phys);
    tablePages.push(phys);
    if (mem.readU32(phys + 0xc) !== FOLDED_VMEMMAP_MAGIC) return `bad magic at ${hex(phys)}`;
    if (mem.readU32(phys + 0x14) !== FOLDED_VMEMMAP_VERSION) {
      return `version ${mem.readU32(phys + 0x14)}`;
    }
    const sp = mem.readU32(phys + 0x10);
    if (sp !== view.structPageBytes) {
      return `struct page of ${sp} bytes, this kernel's are ${view.structPageBytes}`;
    }
    const count = mem.readU32(phys + 0x8);
    if (count > FOLDED_RECORDS_PER_PAGE) return `count ${count} at ${hex(phys)}`;
    for (let i = 0; i < count; i++) {
      const at = phys + HEADER + i * RECORD;
      const [lo, hi] = mem.readU64Parts(at);
      const pfn = lo + (hi % 2 ** 20) * 2 ** 32;
      const order = Math.floor(hi / 2 ** 20);
      const [plo, phi] = mem.readU64Parts(at + 8);
      const page = plo + phi * 2 ** 32;
      records.push({ pfn, order, page });
    }
    const [nlo, nhi] = mem.readU64Parts(phys);
    phys = nlo + nhi * 2 ** 32;
  }
  return null;
}

/** Why the records cannot be folded, or null. */
function checkRecords(view: VmemmapFoldView, records: readonly FoldRecord[]): string | null {
  const heads = new Set<number>();
  const folios = [...records].sort((a, b) => a.pfn - b.pfn);
  for (const r of records) {
    const bytes = 2 ** r.order * PAGE_SIZE;
    const phys = r.pfn * PAGE_SIZE;
    if (r.order < MIN_FOLD_ORDER || r.order > 30 || r.pfn % 2 ** r.order !== 0) {
      return `folio pfn ${hex(r.pfn)} of order ${r.order}`;
    }
    if (r.pfn + 2 ** r.order > PFN_BITS || !view.isRam(phys, bytes)) {
      return `folio ${hex(phys)} is not RAM`;
    }
    if (heads.has(r.pfn)) return `folio ${hex(phys)} twice`;
    heads.add(r.pfn);
    if (
      !Number.isSafeInteger(r.page) || r.page % PAGE_SIZE !== 0 ||
      !view.isRam(r.page, PAGE_SIZE) || inScratch(view.scratch, r.page, PAGE_SIZE)
    ) {
      return `vmemmap page ${hex(r.page)} of folio ${hex(phys)}`;
    }
  }
  for (let i = 1; i < folios.length; i++) {
    const a = folios[i - 1];
    if (a.pfn + 2 ** a.order > folios[i].pfn) return `folios ${hex(a.pfn * PAGE_SIZE)} overlap`;
  }
  for (const r of records) {
    const pfn = r.page / PAGE_SIZE;
    // the last folio starting at or below the page's pfn
    let lo = 0, hi = folios.length - 1, at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (folios[mid].pfn <= pfn) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (at >= 0 && pfn < folios[at].pfn + 2 ** folios[at].order) {
      return `vmemmap page ${hex(r.page)} lies inside a folio`;
    }
  }
  return null;
}

/** `foldsAtBoot`: the table read and checked; the folds, or none (logged). */
function foldsAtBoot(view: VmemmapFoldView): readonly VmemmapFold[] {
  const sub = view.subtree(FOLDED_VMEMMAP_SUBTREE);
  if (sub === null) return [];
  const records: FoldRecord[] = [];
  const tablePages: number[] = [];
  const why = readTable(view, sub.phys, records, tablePages) ?? checkRecords(view, records);
  if (why !== null) {
    // Nothing read can be trusted: no fold, no page freed; the preserved pages stay reserved.
    view.log.error("folded-vmemmap", `${why}; struct pages rebuilt`);
    return [];
  }
  IN.set(view.bootKey, {
    pages: new Map(records.map((r) => [r.pfn, r.page])),
    tablePages,
  });
  if (!view.hvo) {
    view.log.info(
      "folded-vmemmap",
      `hugetlb_free_vmemmap=off: ${records.length} folios' struct pages rebuilt`,
    );
    return [];
  }
  return records.map((r) => ({ headPfn: r.pfn, order: r.order, pagePhys: r.page }));
}

/**
 * `restoreFolio`: `kho_restore_folio` (64 struct pages for a folded folio), then its preserved
 * vmemmap page restored — kept as the folio's vmemmap when folded, freed when not.
 */
function restoreFolio(k: Kernel, phys: number): number | null {
  const pfn = k.kho.restoreFolio(phys);
  const t = IN.get(k.memmap);
  const page = pfn === null ? undefined : t?.pages.get(pfn);
  if (pfn === null || t === undefined || page === undefined) return pfn;
  t.pages.delete(pfn);
  const pagePfn = k.kho.restorePages(page, 1);
  if (pagePfn === null) {
    k.log.warning("folded-vmemmap", `cannot restore the vmemmap page ${hex(page)}`);
  } else if (k.memmap.vmemmap.foldOf(pfn)?.pagePhys !== page) {
    k.buddy.freePage(pagePfn); // not folded in this kernel: the page is free memory again
  }
  if (t.pages.size === 0) {
    for (const p of t.tablePages) k.kho.restoreFree(p);
    t.tablePages.length = 0;
  }
  return pfn;
}

/** The design: preserve side, boot-time fold, restore; the pool's accounting is the RFC's. */
export const FOLDED_VMEMMAP: HugetlbVmemmapRestore = Object.freeze({
  name: "folded-vmemmap",
  restoreFolio,
  addFolios: REBUILD_AND_REOPTIMIZE.addFolios,
  preserveFolios,
  unpreserveFolios,
  foldsAtBoot,
});

/** The profile: `rfc-2025-12-hugetlb` with {@link FOLDED_VMEMMAP}. */
export const FOLDED_VMEMMAP_PROFILE = defineProfile({
  name: "folded-vmemmap",
  base: "rfc-2025-12-hugetlb",
  summary: "HugeTLB live update RFC with the folded vmemmap handed over: a preserved 1 GiB " +
    "folio's struct pages come back as one page, no HVO again",
  kernel: "kholab design",
  status: "kholab's own proposal (seed 002's remark; in no posted series)",
  hugetlbVmemmap: FOLDED_VMEMMAP,
});
