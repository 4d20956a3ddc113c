/**
 * The buddy page allocator of one boot (mm/page_alloc.c) as far as KHO needs it: free lists
 * per node × migrate type × order, splitting with `expand()`, merging with the buddy on
 * free, migrate-type fallback (claim / steal, CMA only for movable allocations), node
 * fallback, bad-page checks on free (as with CONFIG_DEBUG_VM), compound pages and the
 * /proc/buddyinfo and /proc/pagetypeinfo views.
 *
 * Everything is sparse. Free blocks of order < MAX_PAGE_ORDER are slots of a struct-of-arrays
 * index on intrusive LIFO lists (the kernel adds to and takes from the list head; no object
 * per block, {@link FreeBlockIndex}); free max-order blocks are sorted runs ({@link RunList}),
 * so freeing all of a 32 TiB machine costs O(runs).
 * Pageblock migrate types are a map of the pageblocks that are not MIGRATE_MOVABLE. The
 * allocator never writes per-page state for free memory: a page is free when a free block
 * covers it.
 *
 * Model notes: one zone per node ("Normal"); no per-cpu lists, watermarks, reclaim or
 * compaction; the claim heuristic counts free pages only (the kernel also counts in-use
 * pages of a compatible mobility, which kholab does not track).
 *
 * @module
 */

import type { PhysicalMemory } from "../machine/physmem.ts";
import type { Topology } from "../machine/topology.ts";
import {
  MAX_PAGE_ORDER,
  NR_PAGE_ORDERS,
  PAGE_SIZE,
  PAGEBLOCK_NR_PAGES,
  PAGEBLOCK_ORDER,
  PAGES_PER_SECTION,
} from "../units.ts";
import { FreeBlockIndex } from "./buddy_free_index.ts";
import { RunList } from "./buddy_runs.ts";
import { KernelLog } from "./dmesg.ts";
import { FaultInjector } from "./faults.ts";
import {
  type Gfp,
  GFP_KERNEL,
  gfpMigratetype,
  gfpName,
  MIGRATE_CMA,
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  MIGRATETYPE_NAMES,
  migratetypeIsMergeable,
} from "./gfp.ts";
import { Memmap, PG_HEAD, PG_RESERVED } from "./memmap.ts";

export {
  MIGRATE_CMA,
  MIGRATE_HIGHATOMIC,
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  MIGRATETYPE_NAMES,
} from "./gfp.ts";

const MAX_BLOCK_PAGES = 2 ** MAX_PAGE_ORDER;
/** bad_page() shows this many reports, then suppresses (the kernel's burst of 60). */
const BAD_PAGE_BURST = 60;

/** fallbacks[]: where each per-cpu migrate type may take pages from, in order. */
const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // RECLAIMABLE
];

/** Options of a {@link BuddyAllocator}. */
export interface BuddyOptions {
  /** The machine's RAM layout (nodes, holes). */
  topology: Topology;
  /** struct page state; a new one by default. */
  memmap?: Memmap;
  /** The boot's kernel log; a new one by default. */
  log?: KernelLog;
  /** Fault injection, asked once per allocation; a new (disarmed) one by default. */
  faults?: FaultInjector;
  /** Physical memory, needed only to honour `gfp.zero`. */
  mem?: PhysicalMemory;
}

/** Options of one allocation. */
export interface AllocOptions {
  /** GFP flags; GFP_KERNEL by default. */
  gfp?: Gfp;
  /** Preferred node; the first node with memory by default (or -1, NUMA_NO_NODE). */
  nid?: number;
  /** Fault-injection site name; "alloc_pages" by default. */
  site?: string;
}

/** A free buddy block. */
export interface FreeBlockInfo {
  /** First page frame. */
  pfn: number;
  /** Buddy order (0..MAX_PAGE_ORDER). */
  order: number;
  /** Node whose free lists hold it. */
  nid: number;
  /** Migrate type of the free list holding it. */
  mt: number;
}

/** One row of /proc/pagetypeinfo's free table. */
export interface PagetypeRow {
  /** Node id. */
  nid: number;
  /** Migrate type. */
  mt: number;
  /** Its name as the kernel prints it. */
  name: string;
  /** Free blocks per order, 0..MAX_PAGE_ORDER. */
  counts: number[];
}

/** Memory-use figures of a {@link BuddyAllocator} (without its memmap). */
export interface BuddyStats {
  /** Free blocks of order < MAX_PAGE_ORDER (one slot each). */
  smallFreeBlocks: number;
  /** Runs of free max-order blocks. */
  runs: number;
  /** Pageblocks whose migrate type is not MOVABLE (one map entry each). */
  typedPageblocks: number;
  /** Partially free pageblocks tracked. */
  partialPageblocks: number;
  /** Approximate JavaScript heap used by the allocator's structures, in bytes. */
  approxBytes: number;
}

function alignDown(n: number, align: number): number {
  return Math.floor(n / align) * align;
}

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

function hex5(n: number): string {
  return n.toString(16).padStart(5, "0");
}

/** Largest naturally aligned block order at `pfn` that fits before `end`, capped (≤ 31). */
function blockOrder(pfn: number, end: number, cap: number): number {
  // the alignment from pfn mod 2^32 (a multiple of 2^32 is aligned to any order ≤ 31)
  const lo = pfn >>> 0;
  const tz = lo === 0 ? 32 : 31 - Math.clz32(lo & -lo);
  const len = end - pfn;
  const lg = len >= 2 ** 31 ? 31 : 31 - Math.clz32(len);
  return Math.min(cap, tz, lg);
}

/**
 * The buddy allocator of one boot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Topology } from "../machine/topology.ts";
 * import { BuddyAllocator } from "./buddy.ts";
 * const topology = new Topology({ ramBytes: 2 ** 30, nodes: 1 });
 * const buddy = new BuddyAllocator({ topology });
 * buddy.freeBootRange(0, 2 ** 18, 0); // memblock_free_all
 * const pfn = buddy.allocPages(0)!; // the lowest page: expand() keeps the low half
 * assert.equal(pfn, 0);
 * assert.equal(buddy.memmap.pageCount(pfn), 1);
 * buddy.freePages(pfn, 0);
 * assert.equal(buddy.buddyinfo()[0][10], 256); // merged back: 256 order-10 blocks
 * ```
 */
export class BuddyAllocator {
  /** The machine's RAM layout. */
  readonly topology: Topology;
  /** struct page state. */
  readonly memmap: Memmap;
  /** The kernel log. */
  readonly log: KernelLog;
  /** Fault injection. */
  readonly faults: FaultInjector;
  /** Physical memory for `__GFP_ZERO`, or null. */
  readonly mem: PhysicalMemory | null;
  /** `current->comm` used in messages. */
  comm = "swapper/0";
  /** Allocation calls (allocPages / folioAlloc), including failed ones. */
  allocCalls = 0;
  /** Free calls (freePages / folioPut). */
  freeCalls = 0;
  /** Allocations that returned null (injected failures included). */
  allocFailures = 0;
  /** Pages reported by bad_page(). */
  badPages = 0;
  /** Pages leaked because a bad page was found in their block. */
  leakedPages = 0;
  /** TAINT_BAD_PAGE: set once a bad page was reported. */
  taintedBadPage = false;

  readonly #nodes: number;
  readonly #defaultNid: number;
  readonly #free: FreeBlockIndex;
  #runs: RunList[];
  readonly #freePages: Float64Array;
  readonly #managed: Float64Array;
  readonly #pbMt = new Map<number, number>();
  /** The same types, paged: 4096 pageblocks a page, pages only where a type is not MOVABLE. */
  #pbMtPages: (Uint8Array | undefined)[] = [];
  #pbMtSorted: number[] | null = null;
  #badShown = 0;
  /**
   * Every free page lies below this pfn while only boot ranges were freed (ascending, as
   * memblock_free_all hands them over): a boot range starting at or above it overlaps no free
   * memory, and its double-free check can find nothing. Infinity once memory was freed any
   * other way (allocation and splitting keep free pages inside free memory).
   */
  #freeBelow = 0;

  /** Creates an allocator with empty free lists (nothing is free before boot frees it). */
  constructor(options: BuddyOptions) {
    this.topology = options.topology;
    this.memmap = options.memmap ?? new Memmap();
    this.log = options.log ?? new KernelLog();
    this.faults = options.faults ?? new FaultInjector();
    this.mem = options.mem ?? null;
    this.#nodes = this.topology.nodes;
    this.#defaultNid = this.topology.nodesWithMemory()[0] ?? 0;
    this.#free = new FreeBlockIndex(this.#nodes * MIGRATE_TYPES * MAX_PAGE_ORDER);
    this.#runs = Array.from(
      { length: this.#nodes * MIGRATE_TYPES },
      () => new RunList(MAX_BLOCK_PAGES),
    );
    this.#freePages = new Float64Array(this.#nodes * MIGRATE_TYPES);
    this.#pbMtPages = this.#emptyPbMtPages();
    this.#managed = new Float64Array(this.#nodes);
  }

  /**
   * Drops every free list, run and pageblock record: the kernel was replaced by kexec and
   * its allocator state is gone (the successor rebuilds its own from memblock). Frees the
   * JavaScript memory of a dead kernel that is still referenced.
   */
  discard(): void {
    this.#free.clear();
    this.#runs = this.#runs.map(() => new RunList(MAX_BLOCK_PAGES));
    this.#freePages.fill(0);
    this.#managed.fill(0);
    this.#pbMt.clear();
    this.#pbMtPages = this.#emptyPbMtPages();
    this.#freeBelow = 0;
    this.#pbMtSorted = null;
  }

  // ================================================================== free lists

  /** A page table for the machine's pageblocks, every page absent (all MOVABLE). */
  #emptyPbMtPages(): (Uint8Array | undefined)[] {
    const pages = Math.ceil(this.topology.endBytes / PAGE_SIZE / PAGEBLOCK_NR_PAGES / 4096);
    return new Array<Uint8Array | undefined>(pages).fill(undefined);
  }

  #li(nid: number, mt: number, order: number): number {
    return (nid * MIGRATE_TYPES + mt) * MAX_PAGE_ORDER + order;
  }

  /** Puts a free block on the head of its list (order MAX_PAGE_ORDER: into the runs). */
  #addBlock(pfn: number, order: number, mt: number, nid: number): void {
    const pages = 1 << order;
    this.#freePages[nid * MIGRATE_TYPES + mt] += pages;
    if (order === MAX_PAGE_ORDER) {
      this.#runs[nid * MIGRATE_TYPES + mt].add(pfn, pfn + pages);
      return;
    }
    this.#free.add(pfn, order, mt, nid, this.#li(nid, mt, order));
  }

  /** Takes the free block (order < MAX_PAGE_ORDER) in slot `s` off its list. */
  #removeBlock(s: number): void {
    const f = this.#free;
    this.#freePages[f.nid[s] * MIGRATE_TYPES + f.mt[s]] -= 1 << f.order[s];
    f.remove(s);
  }

  #removeRunRange(nid: number, mt: number, start: number, end: number): void {
    this.#runs[nid * MIGRATE_TYPES + mt].remove(start, end);
    this.#freePages[nid * MIGRATE_TYPES + mt] -= end - start;
  }

  #addRunRange(nid: number, mt: number, start: number, end: number): void {
    this.#runs[nid * MIGRATE_TYPES + mt].add(start, end);
    this.#freePages[nid * MIGRATE_TYPES + mt] += end - start;
  }

  #listEmpty(nid: number, mt: number, order: number): boolean {
    return order === MAX_PAGE_ORDER
      ? this.#runs[nid * MIGRATE_TYPES + mt].blocks === 0
      : this.#free.head(this.#li(nid, mt, order)) < 0;
  }

  /** get_page_from_free_area + del_page_from_free_list: the list head (lowest run block). */
  #takeHead(nid: number, mt: number, order: number): number | null {
    if (order === MAX_PAGE_ORDER) {
      const pfn = this.#runs[nid * MIGRATE_TYPES + mt].popFirstBlock();
      if (pfn !== null) this.#freePages[nid * MIGRATE_TYPES + mt] -= MAX_BLOCK_PAGES;
      return pfn;
    }
    const s = this.#free.head(this.#li(nid, mt, order));
    if (s < 0) return null;
    const pfn = this.#free.pfn[s];
    this.#removeBlock(s);
    return pfn;
  }

  /** Adds `[start, end)` as maximal aligned blocks without merging. */
  #addDecomposed(start: number, end: number, mt: number, nid: number): void {
    let p = start;
    while (p < end) {
      const o = blockOrder(p, end, MAX_PAGE_ORDER);
      this.#addBlock(p, o, mt, nid);
      p += 1 << o; // o ≤ MAX_PAGE_ORDER
    }
  }

  // ================================================================== pageblocks

  /** get_pageblock_migratetype(). */
  getPageblockMigratetype(pfn: number): number {
    const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    const page = this.#pbMtPages[Math.floor(pb / 4096)];
    return page === undefined ? MIGRATE_MOVABLE : page[pb % 4096];
  }

  #setPbMtRaw(pb: number, mt: number): void {
    const old = this.#pbMt.get(pb) ?? MIGRATE_MOVABLE;
    if (old === mt) return;
    if (mt === MIGRATE_MOVABLE) this.#pbMt.delete(pb);
    else this.#pbMt.set(pb, mt);
    const pi = Math.floor(pb / 4096);
    let page = this.#pbMtPages[pi];
    if (page === undefined) {
      if (!(pi < 2 ** 24)) throw new RangeError(`pageblock ${pb} beyond any machine`);
      page = this.#pbMtPages[pi] = new Uint8Array(4096).fill(MIGRATE_MOVABLE);
    }
    page[pb % 4096] = mt;
    this.#pbMtSorted = null;
  }

  /** change_pageblock_range(): sets the type of every pageblock in a free block. */
  #setPbMtRange(pfn: number, pages: number, mt: number): void {
    const first = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    const n = Math.max(1, pages / PAGEBLOCK_NR_PAGES);
    for (let i = 0; i < n; i++) this.#setPbMtRaw(first + i, mt);
  }

  /** Sorted pageblock indices in `[pbStart, pbEnd)` whose type is not MOVABLE. */
  #typedPageblocks(pbStart: number, pbEnd: number): number[] {
    if (this.#pbMt.size === 0) return [];
    if (this.#pbMtSorted === null) {
      this.#pbMtSorted = [...this.#pbMt.keys()].sort((a, b) => a - b);
    }
    const s = this.#pbMtSorted;
    let lo = 0, hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] < pbStart) lo = mid + 1;
      else hi = mid;
    }
    const out: number[] = [];
    for (let i = lo; i < s.length && s[i] < pbEnd; i++) out.push(s[i]);
    return out;
  }

  /** Slots of the free blocks (order < MAX_PAGE_ORDER) lying inside pageblock `pb`, ascending. */
  #smallBlocksInPageblock(pb: number): number[] {
    const out: number[] = [];
    if (!this.#free.hasPageblock(pb)) return out;
    const end = (pb + 1) * PAGEBLOCK_NR_PAGES;
    let p = pb * PAGEBLOCK_NR_PAGES;
    for (let h = this.#free.firstHeadIn(p, end); h !== null; h = this.#free.firstHeadIn(p, end)) {
      const s = this.#free.find(h);
      out.push(s);
      p = h + (1 << this.#free.order[s]);
    }
    return out;
  }

  /** Moves the free blocks of pageblock `pb` to the lists of type `mt` (move_freepages_block). */
  #moveFreepagesBlock(pb: number, mt: number): void {
    const f = this.#free;
    for (const s of this.#smallBlocksInPageblock(pb)) {
      const pfn = f.pfn[s], order = f.order[s], nid = f.nid[s];
      this.#removeBlock(s);
      this.#addBlock(pfn, order, mt, nid);
    }
  }

  /**
   * set_pageblock_migratetype() followed by move_freepages_block(): the pageblock's free
   * blocks move to the lists of the new type; a free max-order block containing it is split
   * into its two pageblock halves first.
   */
  setPageblockMigratetype(pfn: number, mt: number): void {
    if (!Number.isInteger(mt) || mt < 0 || mt >= MIGRATE_TYPES) {
      throw new RangeError(`migratetype ${mt}: 0..${MIGRATE_TYPES - 1}`);
    }
    const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    const pbStart = pb * PAGEBLOCK_NR_PAGES;
    const old = this.getPageblockMigratetype(pbStart);
    if (old === mt) return;
    const nid = this.topology.nidOfPfn(pbStart);
    let splitHalves: number | null = null;
    if (nid >= 0) {
      const blockStart = alignDown(pbStart, MAX_BLOCK_PAGES);
      for (let t = 0; t < MIGRATE_TYPES; t++) {
        if (this.#runs[nid * MIGRATE_TYPES + t].runContaining(pbStart) !== null) {
          this.#removeRunRange(nid, t, blockStart, blockStart + MAX_BLOCK_PAGES);
          splitHalves = blockStart;
          break;
        }
      }
    }
    this.#setPbMtRaw(pb, mt);
    this.#moveFreepagesBlock(pb, mt);
    if (splitHalves !== null) {
      for (const half of [splitHalves, splitHalves + PAGEBLOCK_NR_PAGES]) {
        this.#addBlock(half, PAGEBLOCK_ORDER, this.getPageblockMigratetype(half), nid);
      }
    }
  }

  /** Sets the type of every pageblock overlapping `[startPfn, endPfn)`. */
  setPageblockMigratetypeRange(startPfn: number, endPfn: number, mt: number): void {
    for (let p = alignDown(startPfn, PAGEBLOCK_NR_PAGES); p < endPfn; p += PAGEBLOCK_NR_PAGES) {
      this.setPageblockMigratetype(p, mt);
    }
  }

  // ================================================================== freeing

  /** __free_one_page(): merges with free buddies and puts the result on a free list. */
  #freeOneBlock(pfn: number, order: number, mt: number, nid: number): void {
    const f = this.#free;
    while (order < MAX_PAGE_ORDER) {
      const size = 1 << order;
      // pfn is aligned to size (≤ 2^9), so bit `order` of pfn mod 2^32 says which half it is
      const buddyPfn = ((pfn >>> 0) & size) === 0 ? pfn + size : pfn - size;
      const b = f.find(buddyPfn);
      if (b < 0 || f.order[b] !== order || f.nid[b] !== nid) break;
      const bmt = f.mt[b];
      if (order >= PAGEBLOCK_ORDER && bmt !== mt) {
        if (!migratetypeIsMergeable(mt) || !migratetypeIsMergeable(bmt)) break;
      }
      this.#removeBlock(b);
      // "Match buddy type": the merged block takes the freed block's type.
      if (bmt !== mt && order >= PAGEBLOCK_ORDER) this.#setPbMtRange(buddyPfn, size, mt);
      pfn = Math.min(pfn, buddyPfn);
      order++;
    }
    this.#addBlock(pfn, order, mt, nid);
    if (order >= PAGEBLOCK_ORDER) this.memmap.trim(pfn, pfn + (1 << order));
  }

  /** split_large_buddy() + __free_one_page(): frees one block pageblock by pageblock. */
  #freeBlock(pfn: number, order: number, nid: number): void {
    if (order <= PAGEBLOCK_ORDER) {
      this.#freeOneBlock(pfn, order, this.getPageblockMigratetype(pfn), nid);
      return;
    }
    const end = pfn + (1 << order);
    for (let p = pfn; p < end; p += PAGEBLOCK_NR_PAGES) {
      this.#freeOneBlock(p, PAGEBLOCK_ORDER, this.getPageblockMigratetype(p), nid);
    }
  }

  /** Frees `[start, end)` (any alignment) as maximal aligned blocks, with merging. */
  #freeDecomposed(start: number, end: number, nid: number): void {
    let p = start;
    while (p < end) {
      const o = blockOrder(p, end, MAX_PAGE_ORDER);
      this.#freeBlock(p, o, nid);
      p += 1 << o; // o ≤ MAX_PAGE_ORDER
    }
  }

  /**
   * Frees a range of one node without checks, as __free_pages_memory does: the unaligned
   * edges block by block, the max-order-aligned middle straight into the runs, split where
   * pageblock types change.
   */
  #releaseRange(start: number, end: number, nid: number): void {
    const a = Math.min(end, alignUp(start, MAX_BLOCK_PAGES));
    const b = Math.max(a, alignDown(end, MAX_BLOCK_PAGES));
    this.#freeDecomposed(start, a, nid);
    if (a < b) {
      const pbA = a / PAGEBLOCK_NR_PAGES, pbB = b / PAGEBLOCK_NR_PAGES;
      let cursor = pbA;
      const typed = this.#typedPageblocks(pbA, pbB);
      let i = 0;
      while (cursor < pbB) {
        let segEnd: number, mt: number;
        if (i < typed.length && typed[i] === cursor) {
          mt = this.#pbMt.get(cursor)!;
          segEnd = cursor + 1;
          i++;
          while (i < typed.length && typed[i] === segEnd && this.#pbMt.get(segEnd) === mt) {
            segEnd++;
            i++;
          }
        } else {
          mt = MIGRATE_MOVABLE;
          segEnd = i < typed.length ? typed[i] : pbB;
        }
        this.#releaseSegment(cursor * PAGEBLOCK_NR_PAGES, segEnd * PAGEBLOCK_NR_PAGES, mt, nid);
        cursor = segEnd;
      }
    }
    this.#freeDecomposed(b, end, nid);
  }

  /** Frees whole pageblocks `[start, end)` of one type: aligned middle into the runs. */
  #releaseSegment(start: number, end: number, mt: number, nid: number): void {
    const a = Math.min(end, alignUp(start, MAX_BLOCK_PAGES));
    const b = Math.max(a, alignDown(end, MAX_BLOCK_PAGES));
    for (let p = start; p < a; p += PAGEBLOCK_NR_PAGES) {
      this.#freeOneBlock(p, PAGEBLOCK_ORDER, mt, nid);
    }
    if (a < b) this.#addRunRange(nid, mt, a, b);
    for (let p = b; p < end; p += PAGEBLOCK_NR_PAGES) {
      this.#freeOneBlock(p, PAGEBLOCK_ORDER, mt, nid);
    }
  }

  /** Whether page `pfn` is in a free block (isFree without the result object). */
  #isFreeAt(pfn: number): boolean {
    if (this.#free.blockContaining(pfn) >= 0) return true;
    const nid = this.topology.nidOfPfn(pfn);
    if (nid < 0) return false;
    return this.#runs[nid * MIGRATE_TYPES + this.getPageblockMigratetype(pfn)].contains(pfn);
  }

  /** The first free pfn in `[start, end)`, or null. Sparse: runs, then partial pageblocks. */
  #firstFreeIn(start: number, end: number): number | null {
    if (end <= start) return null;
    if (this.#isFreeAt(start)) return start;
    if (
      end - start <= MAX_BLOCK_PAGES &&
      alignDown(start, MAX_BLOCK_PAGES) === alignDown(end - 1, MAX_BLOCK_PAGES)
    ) {
      // Inside one max-order block: a run would have contained `start`, and any other free
      // block overlapping the range has its head inside it.
      return this.#free.firstHeadIn(start + 1, end);
    }
    let best = Infinity;
    for (const rl of this.#runs) {
      if (rl.blocks === 0) continue;
      const r = rl.runs(start, end)[0];
      if (r !== undefined) best = Math.min(best, Math.max(start, r[0]));
    }
    const pbE = Math.ceil(end / PAGEBLOCK_NR_PAGES);
    for (
      let pb = this.#free.nextPageblock(Math.floor(start / PAGEBLOCK_NR_PAGES));
      pb >= 0 && pb < pbE;
      pb = this.#free.nextPageblock(pb + 1)
    ) {
      const lo = Math.max(start, pb * PAGEBLOCK_NR_PAGES);
      if (lo >= best) break;
      const hi = Math.min(end, (pb + 1) * PAGEBLOCK_NR_PAGES, best);
      const head = this.#free.firstHeadIn(lo, hi);
      if (head !== null) best = head;
    }
    return best === Infinity ? null : best;
  }

  /** bad_page(): reports one page, rate-limited like the kernel, and taints. */
  #badPage(pfn: number, reason: string): void {
    this.badPages++;
    this.taintedBadPage = true;
    if (this.#badShown >= BAD_PAGE_BURST) return;
    this.#badShown++;
    const rc = this.memmap.pageCount(pfn);
    const flags = this.memmap.flags(pfn);
    const names = [
      (flags & PG_RESERVED) ? "reserved" : "",
      (flags & PG_HEAD) ? "head" : "",
    ].filter((s) => s).join("|");
    this.log.error("", `BUG: Bad page state in process ${this.comm}  pfn:${hex5(pfn)}`);
    this.log.error(
      "",
      `page: refcount:${rc} mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${
        pfn.toString(16)
      }`,
    );
    this.log.error("", `flags: 0x${flags.toString(16)}(${names})`);
    this.log.error("", `page dumped because: ${reason}`);
  }

  /**
   * free_pages_prepare()'s checks (page_expected_state for every page, as with
   * CONFIG_DEBUG_VM), done sparsely: only pages with state, plus a scan for pages that are
   * already free. Returns false if any page is bad.
   */
  #checkFree(pfn: number, nrPages: number, headOrder: number | null): boolean {
    let bad = 0;
    const end = pfn + nrPages;
    if (headOrder !== null && this.memmap.isHead(pfn)) {
      if (this.memmap.compoundOrder(pfn) !== headOrder) {
        this.#badPage(pfn, "compound order mismatch");
        bad++;
      }
    }
    this.memmap.forEachBusyPage(pfn, end, (p, rc, flags) => {
      if (rc !== 0) {
        this.#badPage(p, "nonzero _refcount");
        bad++;
      } else if ((flags & PG_RESERVED) || ((flags & PG_HEAD) && p !== pfn)) {
        this.#badPage(p, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set");
        bad++;
      }
    });
    const freeAt = this.#firstFreeIn(pfn, end);
    if (freeAt !== null) {
      this.#badPage(freeAt, "page already free (double free or overlap with a free block)");
      bad++;
    }
    return bad === 0;
  }

  /** __free_frozen_pages(): checks, then frees; a bad block is leaked. */
  #freeFrozen(pfn: number, order: number): boolean {
    const pages = 1 << order;
    const nid = this.topology.nidOfPfn(pfn);
    if (nid < 0 || this.topology.nidOfPfn(pfn + pages - 1) !== nid) {
      this.log.warn("__free_pages", `pfn 0x${pfn.toString(16)} order ${order} is not in one zone`);
      return false;
    }
    if (!this.#checkFree(pfn, pages, order)) {
      this.leakedPages += pages;
      return false;
    }
    this.memmap.clearCompound(pfn);
    this.#freeBelow = Infinity;
    this.#freeBlock(pfn, order, nid);
    return true;
  }

  /**
   * memblock_free_all() for one range (`__free_pages_memory` → `__free_pages_core`): resets
   * the pages' struct page state, frees maximal aligned blocks (≤ MAX_PAGE_ORDER) into the
   * lists of their pageblock's type, merging with free neighbours; the aligned middle goes
   * to the runs in O(1). Adds the pages to the node's managed count. A range that overlaps
   * free memory is reported as a bad page and not freed. Returns the pages freed.
   */
  freeBootRange(startPfn: number, endPfn: number, nid: number): number {
    if (!Number.isSafeInteger(startPfn) || !Number.isSafeInteger(endPfn) || startPfn < 0) {
      throw new RangeError(`boot range [${startPfn}, ${endPfn}) is not a pfn range`);
    }
    if (endPfn <= startPfn) return 0;
    const t = this.topology;
    if (t.nidOfPfn(startPfn) !== nid || t.nidOfPfn(endPfn - 1) !== nid) {
      throw new RangeError(
        `boot range [0x${startPfn.toString(16)}, 0x${
          endPfn.toString(16)
        }) is not RAM of node ${nid}`,
      );
    }
    const overlap = startPfn >= this.#freeBelow ? null : this.#firstFreeIn(startPfn, endPfn);
    if (overlap !== null) {
      this.#badPage(overlap, "page already free (double free or overlap with a free block)");
      return 0;
    }
    this.memmap.resetRange(startPfn, endPfn - startPfn);
    if (this.#freeBelow !== Infinity) this.#freeBelow = Math.max(this.#freeBelow, endPfn);
    this.#releaseRange(startPfn, endPfn, nid);
    this.memmap.trim(startPfn, endPfn);
    this.#managed[nid] += endPfn - startPfn;
    return endPfn - startPfn;
  }

  /**
   * init_cma_reserved_pageblock(): resets the pageblock's 512 pages, marks it MIGRATE_CMA
   * and frees it (with the usual checks: pages already free are a bad page state).
   */
  initCmaReservedPageblock(pfn: number): void {
    if (pfn % PAGEBLOCK_NR_PAGES !== 0) {
      throw new RangeError(`pfn 0x${pfn.toString(16)} is not pageblock-aligned`);
    }
    const nid = this.topology.nidOfPfn(pfn);
    if (nid < 0) throw new RangeError(`pfn 0x${pfn.toString(16)} is not RAM`);
    this.memmap.resetRange(pfn, PAGEBLOCK_NR_PAGES);
    this.setPageblockMigratetype(pfn, MIGRATE_CMA);
    if (this.#freeFrozen(pfn, PAGEBLOCK_ORDER)) this.#managed[nid] += PAGEBLOCK_NR_PAGES;
  }

  /**
   * __free_pages(): drops the head reference; at zero the whole block is checked and freed.
   * If references remain on a non-compound head, the tail parts are freed and the head page
   * stays allocated (the kernel's `___free_pages` rule).
   */
  freePages(pfn: number, order: number): void {
    this.freeCalls++;
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) {
      throw new RangeError(`free order ${order}: 0..${MAX_PAGE_ORDER}`);
    }
    if (this.freeBlockContaining(pfn) !== null) {
      this.#badPage(pfn, "page already free (double free)");
      return;
    }
    if (this.memmap.pageCount(pfn) <= 0) {
      this.log.warn(
        "__free_pages",
        `VM_BUG_ON_PAGE(page_ref_count(page) == 0) pfn:0x${pfn.toString(16)}`,
      );
      return;
    }
    const head = this.memmap.isHead(pfn);
    if (this.memmap.pageRefDec(pfn) === 0) {
      this.#freeFrozen(pfn, order);
    } else if (!head) {
      while (order-- > 0) this.#freeFrozen(pfn + (1 << order), order);
    }
  }

  /** __free_page(). */
  freePage(pfn: number): void {
    this.freePages(pfn, 0);
  }

  /**
   * folio_put(): drops a reference on the folio containing `pfn`; at zero the whole folio is
   * freed (a gigantic folio as max-order blocks). Returns true when the folio was freed.
   */
  folioPut(pfn: number): boolean {
    this.freeCalls++;
    const head = this.memmap.compoundHead(pfn);
    if (this.freeBlockContaining(head) !== null) {
      this.#badPage(head, "page already free (double free)");
      return false;
    }
    if (this.memmap.pageCount(head) <= 0) {
      this.log.warn(
        "folio_put",
        `VM_BUG_ON_PAGE(page_ref_count(page) == 0) pfn:0x${head.toString(16)}`,
      );
      return false;
    }
    if (this.memmap.pageRefDec(head) !== 0) return false;
    const order = this.memmap.compoundOrder(head);
    if (order > MAX_PAGE_ORDER) {
      this.memmap.clearCompound(head);
      return this.freeFrozenRange(head, head + (1 << order));
    }
    return this.#freeFrozen(head, order);
  }

  /**
   * Frees a range of frozen pages (refcount 0) of any size, e.g. a gigantic folio whose
   * compound state was cleared: bad-page checks over the range, then maximal aligned blocks
   * with merging (whole max-order blocks straight into the runs). Returns false, freeing
   * nothing, if a page is bad or the range is not RAM.
   */
  freeFrozenRange(startPfn: number, endPfn: number): boolean {
    const segs = this.#nodeSegments(startPfn, endPfn);
    if (segs === null) {
      this.log.warn(
        "free_contig_range",
        `[0x${startPfn.toString(16)}, 0x${endPfn.toString(16)}) is not RAM`,
      );
      return false;
    }
    if (!this.#checkFree(startPfn, endPfn - startPfn, null)) {
      this.leakedPages += endPfn - startPfn;
      return false;
    }
    this.memmap.resetRange(startPfn, endPfn - startPfn);
    this.#freeBelow = Infinity;
    for (const [s, e, nid] of segs) this.#releaseRange(s, e, nid);
    this.memmap.trim(startPfn, endPfn);
    return true;
  }

  /** Splits `[start, end)` at node boundaries; null if any part is a hole. */
  #nodeSegments(start: number, end: number): [number, number, number][] | null {
    const out: [number, number, number][] = [];
    let p = start;
    while (p < end) {
      const nid = this.topology.nidOfPfn(p);
      if (nid < 0) return null;
      let q = Math.min(end, alignDown(p, PAGES_PER_SECTION) + PAGES_PER_SECTION);
      while (q < end && this.topology.nidOfPfn(q) === nid) q = Math.min(end, q + PAGES_PER_SECTION);
      out.push([p, q, nid]);
      p = q;
    }
    return out;
  }

  // ================================================================== allocation

  /** expand(): keeps the low part, puts the upper halves back on lower orders. */
  #expand(pfn: number, low: number, high: number, mt: number, nid: number): void {
    while (high > low) {
      high--;
      this.#addBlock(pfn + (1 << high), high, mt, nid);
    }
  }

  /** __rmqueue_smallest(). */
  #rmqueueSmallest(nid: number, order: number, mt: number): number | null {
    for (let o = order; o <= MAX_PAGE_ORDER; o++) {
      const pfn = this.#takeHead(nid, mt, o);
      if (pfn !== null) {
        this.#expand(pfn, order, o, mt, nid);
        return pfn;
      }
    }
    return null;
  }

  /** find_suitable_fallback() without the claim test: the first non-empty fallback list. */
  #fallbackMt(nid: number, order: number, startMt: number): number {
    for (const fmt of FALLBACKS[startMt]) if (!this.#listEmpty(nid, fmt, order)) return fmt;
    return -1;
  }

  /** __rmqueue_claim(): take a block of another type, claiming its pageblock(s). */
  #rmqueueClaim(nid: number, order: number, startMt: number): number | null {
    for (let co = MAX_PAGE_ORDER; co >= order; co--) {
      // should_try_claim_block()
      if (co < PAGEBLOCK_ORDER / 2 && startMt === MIGRATE_MOVABLE) break;
      const fmt = this.#fallbackMt(nid, co, startMt);
      if (fmt < 0) continue;
      if (co >= PAGEBLOCK_ORDER) {
        const pfn = this.#takeHead(nid, fmt, co)!;
        this.#setPbMtRange(pfn, 1 << co, startMt);
        this.#expand(pfn, order, co, startMt, nid);
        return pfn;
      }
      // try_to_claim_block() for a block inside a pageblock: claim the pageblock if at
      // least half of it is free.
      const b = this.#free.head(this.#li(nid, fmt, co));
      const pb = Math.floor(this.#free.pfn[b] / PAGEBLOCK_NR_PAGES);
      if (this.#free.pageblockFreePages(pb) >= PAGEBLOCK_NR_PAGES / 2) {
        this.#setPbMtRaw(pb, startMt);
        this.#moveFreepagesBlock(pb, startMt);
        return this.#rmqueueSmallest(nid, order, startMt);
      }
    }
    return null;
  }

  /** __rmqueue_steal(): take the smallest fallback block without claiming. */
  #rmqueueSteal(nid: number, order: number, startMt: number): number | null {
    for (let co = order; co <= MAX_PAGE_ORDER; co++) {
      const fmt = this.#fallbackMt(nid, co, startMt);
      if (fmt < 0) continue;
      const pfn = this.#takeHead(nid, fmt, co)!;
      this.#expand(pfn, order, co, fmt, nid);
      return pfn;
    }
    return null;
  }

  /** __rmqueue() on one node. */
  #rmqueue(nid: number, order: number, startMt: number, cma: boolean): number | null {
    let pfn: number | null = null;
    const i = nid * MIGRATE_TYPES;
    if (cma) {
      // Balance movable allocations: use CMA first when it holds over half of free memory.
      let total = 0;
      for (let t = 0; t < MIGRATE_TYPES; t++) total += this.#freePages[i + t];
      if (this.#freePages[i + MIGRATE_CMA] > total / 2) {
        pfn = this.#rmqueueSmallest(nid, order, MIGRATE_CMA);
        if (pfn !== null) return pfn;
      }
    }
    pfn = this.#rmqueueSmallest(nid, order, startMt);
    if (pfn === null && cma) pfn = this.#rmqueueSmallest(nid, order, MIGRATE_CMA);
    if (pfn === null && startMt < MIGRATE_PCPTYPES) pfn = this.#rmqueueClaim(nid, order, startMt);
    if (pfn === null && startMt < MIGRATE_PCPTYPES) pfn = this.#rmqueueSteal(nid, order, startMt);
    return pfn;
  }

  /** check_new_pages(): sparse check that a block taken off the lists has clean pages. */
  #checkNew(pfn: number, pages: number): boolean {
    let bad = 0;
    this.memmap.forEachBusyPage(pfn, pfn + pages, (p, rc, flags) => {
      if (rc !== 0) this.#badPage(p, "nonzero _refcount");
      else if (flags & (PG_RESERVED | PG_HEAD)) {
        this.#badPage(p, "PAGE_FLAGS_CHECK_AT_PREP flag(s) set");
      } else return;
      bad++;
    });
    return bad === 0;
  }

  #zonelist(nid: number, exact: boolean): number[] {
    if (exact) return [nid];
    const out: number[] = [];
    for (let k = 0; k < this.#nodes; k++) out.push((nid + k) % this.#nodes);
    return out;
  }

  /**
   * alloc_pages(): a block of 2^order pages, or null. Head refcount 1, tails 0; with
   * `gfp.comp` a compound page (folio). Searches the preferred node (wanted type, then CMA
   * for movable allocations, then claiming / stealing other types), then the other nodes
   * unless `gfp.exactNode`. An injected fault returns null with no side effects.
   */
  allocPages(order: number, opts: AllocOptions = {}): number | null {
    this.allocCalls++;
    const gfp = opts.gfp ?? GFP_KERNEL;
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) {
      if (!gfp.noWarn) {
        this.log.warnOnOnce("__alloc_pages", `order ${order} > MAX_PAGE_ORDER`);
      }
      this.allocFailures++;
      return null;
    }
    if (this.faults.shouldFail(opts.site ?? "alloc_pages")) {
      this.allocFailures++;
      return null;
    }
    const mt = gfpMigratetype(gfp);
    const cma = gfp.movable === true;
    const nid = opts.nid === undefined || opts.nid < 0 ? this.#defaultNid : opts.nid;
    if (nid >= this.#nodes) throw new RangeError(`node ${nid} of ${this.#nodes}`);
    const pages = 1 << order;
    for (const node of this.#zonelist(nid, gfp.exactNode === true)) {
      for (;;) {
        const pfn = this.#rmqueue(node, order, mt, cma);
        if (pfn === null) break;
        if (!this.#checkNew(pfn, pages)) {
          this.leakedPages += pages;
          continue;
        }
        try {
          this.memmap.setPageCount(pfn, 1);
          this.memmap.setPrivate(pfn, 0, 0);
          if (gfp.comp && order > 0) this.memmap.prepCompoundPage(pfn, order);
          if (gfp.zero && this.mem !== null) this.mem.zero(pfn * PAGE_SIZE, pages * PAGE_SIZE);
        } catch (e) {
          // An exception of the host while preparing the block: it goes back to the lists.
          this.memmap.resetRange(pfn, pages);
          this.#freeBelow = Infinity;
          this.#freeBlock(pfn, order, node);
          throw e;
        }
        return pfn;
      }
    }
    this.allocFailures++;
    if (!gfp.noWarn) {
      this.log.warning(
        "",
        `${this.comm}: page allocation failure: order:${order}, mode:(${gfpName(gfp)}), ` +
          `nodemask=(null)`,
      );
    }
    return null;
  }

  /** alloc_page(): one page. */
  allocPage(opts: AllocOptions = {}): number | null {
    return this.allocPages(0, opts);
  }

  /** folio_alloc(): allocPages with `__GFP_COMP` (a compound page of order > 0). */
  folioAlloc(order: number, opts: AllocOptions = {}): number | null {
    return this.allocPages(order, { ...opts, gfp: { ...(opts.gfp ?? GFP_KERNEL), comp: true } });
  }

  // ================================================================== contiguous ranges

  /**
   * A naturally aligned, entirely free range of 2^order pages on node `nid` (lowest first),
   * searched through the max-order runs of the ordinary migrate types (and CMA with
   * `allowCma`), or null. Nothing is taken off the lists.
   */
  findFreeRange(nid: number, order: number, allowCma = false): number | null {
    const n = 1 << order;
    const types = [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE];
    if (allowCma) types.push(MIGRATE_CMA);
    const all: [number, number][] = [];
    for (const t of types) all.push(...this.#runs[nid * MIGRATE_TYPES + t].runs());
    all.sort((x, y) => x[0] - y[0]);
    let i = 0;
    while (i < all.length) {
      const s = all[i][0];
      let e = all[i][1];
      i++;
      while (i < all.length && all[i][0] === e) e = all[i++][1];
      const a = alignUp(s, Math.max(n, MAX_BLOCK_PAGES));
      if (a + n <= e) return a;
    }
    return null;
  }

  /**
   * Takes `[startPfn, endPfn)` off the free lists if every page of it is free (all or
   * nothing); free blocks sticking out of the range are split and their outer parts stay
   * free. The pages are left frozen (refcount 0). Returns false if a page is not free.
   */
  isolateFreeRange(startPfn: number, endPfn: number): boolean {
    type Piece = { start: number; end: number; nid: number; mt: number; slot?: number };
    const pieces: Piece[] = [];
    let p = startPfn;
    while (p < endPfn) {
      let found = false;
      let last = -1;
      for (let o = 0; o < MAX_PAGE_ORDER && !found; o++) {
        const c = alignDown(p, 1 << o);
        if (c === last) continue;
        last = c;
        const f = this.#free;
        const b = f.find(c);
        if (b >= 0 && c + (1 << f.order[b]) > p) {
          pieces.push({
            start: c,
            end: c + (1 << f.order[b]),
            nid: f.nid[b],
            mt: f.mt[b],
            slot: b,
          });
          p = c + (1 << f.order[b]);
          found = true;
        }
      }
      if (found) continue;
      const nid = this.topology.nidOfPfn(p);
      if (nid < 0) return false;
      for (let t = 0; t < MIGRATE_TYPES && !found; t++) {
        const run = this.#runs[nid * MIGRATE_TYPES + t].runContaining(p);
        if (run !== null) {
          const s = alignDown(p, MAX_BLOCK_PAGES);
          const e = Math.min(run[1], alignUp(endPfn, MAX_BLOCK_PAGES));
          pieces.push({ start: s, end: e, nid, mt: t });
          p = e;
          found = true;
        }
      }
      if (!found) return false;
    }
    for (const pc of pieces) {
      if (pc.slot !== undefined) this.#removeBlock(pc.slot);
      else this.#removeRunRange(pc.nid, pc.mt, pc.start, pc.end);
      if (pc.start < startPfn) this.#addDecomposed(pc.start, startPfn, pc.mt, pc.nid);
      if (pc.end > endPfn) this.#addDecomposed(endPfn, pc.end, pc.mt, pc.nid);
    }
    return true;
  }

  // ================================================================== queries

  /**
   * The first pfn of `[startPfn, endPfn)` that lies in a free block, or null when no page of the
   * range is free (what `PageBuddy` on each page would say; sparse: free runs and blocks only).
   */
  firstFreeIn(startPfn: number, endPfn: number): number | null {
    return this.#firstFreeIn(startPfn, endPfn);
  }

  /** Whether page `pfn` is in a free block. */
  isFree(pfn: number): boolean {
    return this.freeBlockContaining(pfn) !== null;
  }

  /** The free block containing `pfn`, or null. */
  freeBlockContaining(pfn: number): FreeBlockInfo | null {
    // Blocks of order ≤ pageblock_order lie inside one pageblock: the nearest head below.
    const f = this.#free;
    const b = f.blockContaining(pfn);
    if (b >= 0) return { pfn: f.pfn[b], order: f.order[b], nid: f.nid[b], mt: f.mt[b] };
    const nid = this.topology.nidOfPfn(pfn);
    if (nid < 0) return null;
    // A free max-order block sits on the run list of its pageblock's type.
    const mt = this.getPageblockMigratetype(pfn);
    if (this.#runs[nid * MIGRATE_TYPES + mt].runContaining(pfn) !== null) {
      return { pfn: alignDown(pfn, MAX_BLOCK_PAGES), order: MAX_PAGE_ORDER, nid, mt };
    }
    return null;
  }

  /** Every free block (max-order runs expanded block by block), in no particular order. */
  *freeBlocks(): Generator<FreeBlockInfo> {
    const f = this.#free;
    for (const s of f.slots()) {
      yield { pfn: f.pfn[s], order: f.order[s], nid: f.nid[s], mt: f.mt[s] };
    }
    for (let i = 0; i < this.#runs.length; i++) {
      const nid = Math.floor(i / MIGRATE_TYPES), mt = i % MIGRATE_TYPES;
      for (const [s, e] of this.#runs[i].runs()) {
        for (let p = s; p < e; p += MAX_BLOCK_PAGES) {
          yield { pfn: p, order: MAX_PAGE_ORDER, nid, mt };
        }
      }
    }
  }

  /** The runs of free max-order blocks of one node and type, as `[start, end)` pfns. */
  freeRuns(nid: number, mt: number): [number, number][] {
    return this.#runs[nid * MIGRATE_TYPES + mt].runs();
  }

  /** Free pages, of one node or of all. */
  nrFreePages(nid?: number): number {
    let sum = 0;
    for (let n = 0; n < this.#nodes; n++) {
      if (nid !== undefined && n !== nid) continue;
      for (let t = 0; t < MIGRATE_TYPES; t++) sum += this.#freePages[n * MIGRATE_TYPES + t];
    }
    return sum;
  }

  /** Free pages of one node and migrate type. */
  nrFreePagesOfType(nid: number, mt: number): number {
    return this.#freePages[nid * MIGRATE_TYPES + mt];
  }

  /** Pages handed to the allocator (managed_pages), of one node or of all. */
  managedPages(nid?: number): number {
    if (nid !== undefined) return this.#managed[nid];
    return this.#managed.reduce((a, b) => a + b, 0);
  }

  /** adjust_managed_page_count(): e.g. when KHO restores preserved pages. */
  adjustManagedPageCount(nid: number, delta: number): void {
    this.#managed[nid] += delta;
  }

  /** Free blocks per order of one node and type (11 counts). */
  #typeCounts(nid: number, mt: number): number[] {
    const out: number[] = [];
    for (let o = 0; o < MAX_PAGE_ORDER; o++) out.push(this.#free.count(this.#li(nid, mt, o)));
    out.push(this.#runs[nid * MIGRATE_TYPES + mt].blocks);
    return out;
  }

  /** /proc/buddyinfo as numbers: per node, free blocks per order 0..10 (all types). */
  buddyinfo(): number[][] {
    const out: number[][] = [];
    for (let n = 0; n < this.#nodes; n++) {
      const row = new Array(NR_PAGE_ORDERS).fill(0);
      for (let t = 0; t < MIGRATE_TYPES; t++) {
        this.#typeCounts(n, t).forEach((c, o) => row[o] += c);
      }
      out.push(row);
    }
    return out;
  }

  /** /proc/buddyinfo text: one line per node with memory, zone "Normal". */
  buddyinfoText(): string {
    const info = this.buddyinfo();
    let s = "";
    for (const n of this.topology.nodesWithMemory()) {
      s += `Node ${n}, zone ${"Normal".padStart(8)} `;
      for (const c of info[n]) s += `${String(c).padStart(6)} `;
      s += "\n";
    }
    return s;
  }

  /** /proc/pagetypeinfo's free table as numbers: one row per node and migrate type. */
  pagetypeinfo(): PagetypeRow[] {
    const out: PagetypeRow[] = [];
    for (let n = 0; n < this.#nodes; n++) {
      for (let t = 0; t < MIGRATE_TYPES; t++) {
        out.push({ nid: n, mt: t, name: MIGRATETYPE_NAMES[t], counts: this.#typeCounts(n, t) });
      }
    }
    return out;
  }

  /** /proc/pagetypeinfo's header and free table (counts above 100000 print as `>100000`). */
  pagetypeinfoText(): string {
    let s = `Page block order: ${PAGEBLOCK_ORDER}\nPages per block:  ${PAGEBLOCK_NR_PAGES}\n\n`;
    s += `${"Free pages count per migrate type at order".padEnd(43)} `;
    for (let o = 0; o < NR_PAGE_ORDERS; o++) s += `${String(o).padStart(6)} `;
    s += "\n";
    const withMem = new Set(this.topology.nodesWithMemory());
    for (const row of this.pagetypeinfo()) {
      if (!withMem.has(row.nid)) continue;
      s += `Node ${String(row.nid).padStart(4)}, zone ${"Normal".padStart(8)}, type ${
        row.name.padStart(12)
      } `;
      for (const c of row.counts) {
        s += c >= 100000 ? `>${String(100000).padStart(6)} ` : `${String(c).padStart(6)} `;
      }
      s += "\n";
    }
    return s;
  }

  /** Memory-use figures of the allocator's own structures. */
  stats(): BuddyStats {
    const runs = this.#runs.reduce((a, r) => a + r.runCount, 0);
    const small = this.#free.size;
    return {
      smallFreeBlocks: small,
      runs,
      typedPageblocks: this.#pbMt.size,
      partialPageblocks: this.#free.pageblocks,
      approxBytes: this.#free.byteLength + runs * 16 + this.#pbMt.size * 40 +
        this.#runs.length * 120,
    };
  }
}
