/**
 * The vmemmap of one boot: where the `struct page`s live, how many bytes of them are mapped,
 * what HugeTLB Vmemmap Optimization (HVO) gave back, and how many struct pages each phase
 * of the boot and of the restores wrote. The struct page *fields* kholab keeps are in
 * `./memmap.ts`; this file counts what writing 64-byte struct pages costs a real kernel,
 * arithmetically (a 1 GiB folio is one head in the memmap, never 262,144 records).
 *
 * Model (luo-hugetlb-facts §4.5, kho-facts §13, §18.2):
 * - `sparse_init` maps the struct pages of every present section: 2^15 pages × 64 bytes =
 *   2 MiB per 128 MiB section, from one memblock buffer per node (`sparse_buffer_init`),
 *   sections in address order. The struct page of pfn `p` lies at the node's buffer +
 *   (rank of `p`'s section among the node's sections) × 2 MiB + (`p` mod 2^15) × 64.
 * - HVO (`hugetlb_free_vmemmap=on`): a HugeTLB folio keeps one vmemmap page
 *   (`HUGETLB_VMEMMAP_RESERVE_SIZE` = PAGE_SIZE; every tail struct page is mapped to it) and
 *   frees the rest to the page allocator: 4095 of 4096 pages for 1 GiB, 7 of 8 for 2 MiB. It
 *   needs a power-of-two struct page ("struct page crosses page boundaries" otherwise).
 * - The struct pages each phase writes are counted per phase ({@link StructPagePhase}); with
 *   64-byte struct pages each is one cache line.
 *
 * HVO state is not handed over: a successor maps the full vmemmap of all RAM at boot, so a
 * preserved 1 GiB folio costs it 16 MiB of struct pages until its owner re-applies HVO.
 *
 * A **fold** ({@link VmemmapFold}) is what no kernel does and a design may: a boot that maps
 * the vmemmap of a folio folded from the start — every vmemmap page of the folio onto one
 * page that already holds its struct pages — instead of populating its sections
 * (`examples/designs/folded_vmemmap.ts`, seed 002's "preserve and restore the high order folio
 * struct page folding (HVO)"). A folded folio's sections take no memmap buffer, its struct
 * pages are the one page's (the struct page of `head + i` lies at the page + (i mod 64) × 64),
 * and HVO has nothing left to free.
 *
 * @module
 */

import { PAGE_SIZE, PAGES_PER_SECTION } from "../units.ts";

/** `sizeof(struct page)` on a usual x86_64 configuration (kho-facts §13). */
export const STRUCT_PAGE_BYTES = 64;
/** `HUGETLB_VMEMMAP_RESERVE_SIZE`: the vmemmap a HugeTLB folio keeps under HVO, one page. */
export const HUGETLB_VMEMMAP_RESERVE_BYTES: number = PAGE_SIZE;
/** One 64-byte cache line. */
const CACHE_LINE_BYTES = 64;

/**
 * Phases that write struct pages:
 * - `memmapInit` — `memmap_init` / deferred init threads: every page of RAM not marked
 *   noinit (KHO-preserved memory is `memblock_reserved_mark_noinit`);
 * - `deferredInit` — `init_deferred_page` of every page of each preserved block in the
 *   successor's walk (`kho_get_preserved_page`, CONFIG_DEFERRED_STRUCT_PAGE_INIT);
 * - `stamp` — the walk's `page->private` stamp, one head page per block;
 * - `restore` — `kho_restore_folio`'s `kho_init_folio` (head refcount 1, every tail 0) and
 *   `kho_restore_pages` (every page refcount 1): 2^order per block;
 * - `compound` — `prep_compound_page` of a restored folio of order > 0 (`__SetPageHead` and
 *   every tail's `prep_compound_tail`): 2^order per folio.
 */
export type StructPagePhase = "memmapInit" | "deferredInit" | "stamp" | "restore" | "compound";

/** The struct page phases, in boot order. */
export const STRUCT_PAGE_PHASES: readonly StructPagePhase[] = [
  "memmapInit",
  "deferredInit",
  "stamp",
  "restore",
  "compound",
];

/**
 * A HugeTLB folio whose vmemmap a boot maps folded: all its vmemmap pages onto the one page at
 * `pagePhys` (HVO's layout, `HUGETLB_VMEMMAP_RESERVE_SIZE` = one page).
 */
export interface VmemmapFold {
  /** Head pfn, aligned to 2^order. */
  readonly headPfn: number;
  /** Folio order: whole sections (≥ 15 with 4 KiB pages and 128 MiB sections). */
  readonly order: number;
  /** The page holding the folio's struct pages (page aligned, outside the folio). */
  readonly pagePhys: number;
}

/** The struct pages of one node's memmap buffer. */
interface NodeMap {
  /** Physical address of the buffer (0 when not charged to memblock). */
  readonly phys: number;
  /** Rank of each present section (by section index) in the buffer. */
  readonly rank: ReadonlyMap<number, number>;
}

/**
 * Bytes of vmemmap of a HugeTLB folio of `order` (`hugetlb_vmemmap_size`): 2^order struct
 * pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hugetlbVmemmapBytes, hugetlbVmemmapOptimizableBytes } from "./vmemmap.ts";
 * assert.equal(hugetlbVmemmapBytes(18), 16 * 2 ** 20); // 16 MiB per 1 GiB folio
 * assert.equal(hugetlbVmemmapOptimizableBytes(18) / 4096, 4095);
 * assert.equal(hugetlbVmemmapOptimizableBytes(9) / 4096, 7); // 2 MiB: 7 of 8 pages
 * ```
 */
export function hugetlbVmemmapBytes(order: number, structPageBytes = STRUCT_PAGE_BYTES): number {
  return 2 ** order * structPageBytes;
}

/**
 * Bytes HVO frees per folio (`hugetlb_vmemmap_optimizable_size`): the vmemmap minus the one
 * page kept; 0 when the vmemmap is not more than a page or the struct page size is not a
 * power of two.
 */
export function hugetlbVmemmapOptimizableBytes(
  order: number,
  structPageBytes = STRUCT_PAGE_BYTES,
): number {
  if (!isPowerOfTwo(structPageBytes)) return 0;
  return Math.max(0, hugetlbVmemmapBytes(order, structPageBytes) - HUGETLB_VMEMMAP_RESERVE_BYTES);
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * The vmemmap of one boot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Vmemmap } from "./vmemmap.ts";
 * const v = new Vmemmap();
 * v.populate({ nid: 0, phys: 0x4000_0000, sections: [0, 1, 2, 3] }); // 512 MiB of RAM
 * assert.equal(v.populatedBytes, 8 * 2 ** 20);
 * assert.equal(v.structPagePhys(32768 + 5), 0x4000_0000 + 2 ** 21 + 5 * 64);
 * v.charge("restore", 262144);
 * assert.equal(v.cacheLines(), 262144);
 * ```
 */
export class Vmemmap {
  /** `sizeof(struct page)` of this kernel. */
  readonly structPageBytes: number;
  readonly #nodes = new Map<number, NodeMap>();
  #populated = 0;
  #hvoFreed = 0;
  #hvoFolios = 0;
  /** Folds by section index (each section of a folded folio). */
  readonly #folds = new Map<number, VmemmapFold>();
  #foldedFolios = 0;
  #foldedPages = 0;
  readonly #writes: Record<StructPagePhase, number> = {
    memmapInit: 0,
    deferredInit: 0,
    stamp: 0,
    restore: 0,
    compound: 0,
  };

  /** An empty vmemmap (nothing populated) with `structPageBytes` per struct page. */
  constructor(structPageBytes = STRUCT_PAGE_BYTES) {
    if (!Number.isInteger(structPageBytes) || structPageBytes <= 0) {
      throw new RangeError(`struct page size ${structPageBytes}`);
    }
    this.structPageBytes = structPageBytes;
  }

  /** Bytes of the memmap buffer a section takes (2 MiB with 64-byte struct pages). */
  get sectionBytes(): number {
    return PAGES_PER_SECTION * this.structPageBytes;
  }

  /**
   * `sparse_init` for one node: its present sections (ascending) are mapped from the buffer at
   * `phys` (0: the bytes are counted but kholab did not charge them to memblock).
   */
  populate(o: { nid: number; phys: number; sections: readonly number[] }): void {
    if (this.#nodes.has(o.nid)) throw new RangeError(`vmemmap of node ${o.nid} populated twice`);
    const folded = o.sections.find((s) => this.#folds.has(s));
    if (folded !== undefined) throw new RangeError(`vmemmap section ${folded} is folded`);
    const rank = new Map<number, number>();
    o.sections.forEach((s, i) => rank.set(s, i));
    this.#nodes.set(o.nid, { phys: o.phys, rank });
    this.#populated += o.sections.length * this.sectionBytes;
  }

  /**
   * Bytes of struct pages mapped at boot: every present section's (2 MiB each), and one page
   * per folded folio.
   */
  get populatedBytes(): number {
    return this.#populated;
  }

  /**
   * Maps the vmemmap of one folio folded (a design's boot, before or after `populate`; its
   * sections must not be populated). RangeError when the folio does not cover whole sections,
   * is unaligned, overlaps a fold or a populated section, or the page lies inside the folio.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Vmemmap } from "./vmemmap.ts";
   * const v = new Vmemmap();
   * v.populate({ nid: 0, phys: 0x4000_0000, sections: [0, 1, 2, 3, 4, 5, 6, 7] }); // 1 GiB
   * v.fold({ headPfn: 2 ** 18, order: 18, pagePhys: 0x3000_0000 }); // the next GiB, folded
   * assert.equal(v.populatedBytes, 16 * 2 ** 20 + 4096);
   * assert.equal(v.structPagePhys(2 ** 18 + 65), 0x3000_0000 + 64); // tail 65 aliases tail 1
   * assert.equal(v.foldOf(2 ** 18 + 12345)?.headPfn, 2 ** 18);
   * ```
   */
  fold(f: VmemmapFold): void {
    const sectionOrder = Math.log2(PAGES_PER_SECTION);
    const { headPfn, order, pagePhys } = f;
    if (
      !Number.isInteger(order) || order < sectionOrder || order > 52 ||
      !Number.isSafeInteger(headPfn) || headPfn < 0 || headPfn % 2 ** order !== 0 ||
      !Number.isSafeInteger(pagePhys) || pagePhys < 0 || pagePhys % PAGE_SIZE !== 0
    ) {
      throw new RangeError(`vmemmap fold of pfn ${headPfn} order ${order} at ${pagePhys}`);
    }
    const pagePfn = pagePhys / PAGE_SIZE;
    if (pagePfn >= headPfn && pagePfn < headPfn + 2 ** order) {
      throw new RangeError(`vmemmap fold of pfn ${headPfn}: its page lies inside the folio`);
    }
    const first = headPfn / PAGES_PER_SECTION;
    const n = 2 ** order / PAGES_PER_SECTION;
    for (let s = first; s < first + n; s++) {
      if (this.#folds.has(s) || [...this.#nodes.values()].some((m) => m.rank.has(s))) {
        throw new RangeError(`vmemmap fold of pfn ${headPfn}: section ${s} is already mapped`);
      }
    }
    const fold = Object.freeze({ headPfn, order, pagePhys });
    for (let s = first; s < first + n; s++) this.#folds.set(s, fold);
    this.#populated += PAGE_SIZE;
    this.#foldedFolios++;
    this.#foldedPages += 2 ** order;
  }

  /** The fold that maps the struct page of `pfn`, or null. */
  foldOf(pfn: number): VmemmapFold | null {
    return this.#folds.get(Math.floor(pfn / PAGES_PER_SECTION)) ?? null;
  }

  /** The folds of this boot, by head pfn. */
  folds(): VmemmapFold[] {
    return [...new Set(this.#folds.values())].sort((a, b) => a.headPfn - b.headPfn);
  }

  /** Folios whose vmemmap this boot mapped folded. */
  get foldedFolios(): number {
    return this.#foldedFolios;
  }

  /** Pages of RAM whose struct pages are folded (2^order per folded folio). */
  get foldedPages(): number {
    return this.#foldedPages;
  }

  /** Struct pages one folded page holds (PAGE_SIZE / sizeof(struct page): 64). */
  get foldedStructPages(): number {
    return Math.floor(PAGE_SIZE / this.structPageBytes);
  }

  /** Bytes of struct pages mapped now: populated minus what HVO freed. */
  get mappedBytes(): number {
    return this.#populated - this.#hvoFreed;
  }

  /** Bytes HVO has freed in this boot. */
  get hvoFreedBytes(): number {
    return this.#hvoFreed;
  }

  /** HugeTLB folios HVO optimized in this boot. */
  get hvoFolios(): number {
    return this.#hvoFolios;
  }

  /**
   * Physical address of the struct page of `pfn` (in its fold's page for a folded folio), or
   * null when its node's memmap was not charged to memblock or its section is not present.
   */
  structPagePhys(pfn: number): number | null {
    const section = Math.floor(pfn / PAGES_PER_SECTION);
    const f = this.#folds.get(section);
    if (f !== undefined) {
      return f.pagePhys + ((pfn - f.headPfn) % this.foldedStructPages) * this.structPageBytes;
    }
    for (const n of this.#nodes.values()) {
      const r = n.rank.get(section);
      if (r === undefined) continue;
      if (n.phys === 0) return null;
      return n.phys + r * this.sectionBytes + (pfn % PAGES_PER_SECTION) * this.structPageBytes;
    }
    return null;
  }

  /**
   * The physical pages HVO frees for the folio at `head` of `order`: `[startPfn, endPfn)` of
   * its vmemmap after the page kept, or null when the vmemmap is not contiguous in one charged
   * buffer (then only the bytes are counted). Empty when nothing is optimizable.
   */
  hvoRange(head: number, order: number): { startPfn: number; endPfn: number } | null {
    const bytes = hugetlbVmemmapOptimizableBytes(order, this.structPageBytes);
    const first = this.structPagePhys(head);
    if (first === null || first % PAGE_SIZE !== 0) return null;
    const last = this.structPagePhys(head + 2 ** order - 1);
    const end = first + hugetlbVmemmapBytes(order, this.structPageBytes);
    if (last === null || last + this.structPageBytes !== end) return null;
    const start = first + HUGETLB_VMEMMAP_RESERVE_BYTES;
    return bytes === 0
      ? { startPfn: start / PAGE_SIZE, endPfn: start / PAGE_SIZE }
      : { startPfn: start / PAGE_SIZE, endPfn: end / PAGE_SIZE };
  }

  /** Records HVO of one folio of `order` (the bytes it frees). */
  recordHvo(order: number): number {
    const bytes = hugetlbVmemmapOptimizableBytes(order, this.structPageBytes);
    this.#hvoFreed += bytes;
    this.#hvoFolios++;
    return bytes;
  }

  /** Counts `pages` struct pages written in `phase` (charged in bulk: no per-page work). */
  charge(phase: StructPagePhase, pages: number): void {
    if (!Number.isSafeInteger(pages) || pages < 0) {
      throw new RangeError(`struct page writes ${pages} in ${phase}`);
    }
    this.#writes[phase] += pages;
  }

  /** Struct pages written in `phase` so far. */
  writes(phase: StructPagePhase): number {
    return this.#writes[phase];
  }

  /**
   * 64-byte cache lines of struct pages written, over every phase (each phase counts the
   * lines it writes; a struct page written in two phases counts twice).
   */
  cacheLines(): number {
    const linesPerPage = Math.ceil(this.structPageBytes / CACHE_LINE_BYTES);
    let pages = 0;
    for (const p of STRUCT_PAGE_PHASES) pages += this.#writes[p];
    return pages * linesPerPage;
  }

  /** Forgets everything (the kernel was replaced by kexec). */
  discard(): void {
    this.#nodes.clear();
    this.#populated = 0;
    this.#hvoFreed = 0;
    this.#hvoFolios = 0;
    this.#folds.clear();
    this.#foldedFolios = 0;
    this.#foldedPages = 0;
    for (const p of STRUCT_PAGE_PHASES) this.#writes[p] = 0;
  }
}
