/**
 * Gigantic folios (order > MAX_PAGE_ORDER, e.g. 1 GiB = order 18) and contiguous ranges,
 * as hugetlb gets them: at run time through `alloc_contig_range()` out of the buddy
 * allocator's free lists, at boot from memblock.
 *
 * kholab's `alloc_contig_range` takes only ranges that are already entirely free (it does
 * not migrate in-use pages), so it succeeds exactly when the buddy lists cover the range.
 *
 * @module
 */

import { MAX_PAGE_ORDER } from "../units.ts";
import type { BuddyAllocator } from "./buddy.ts";
import type { Memmap } from "./memmap.ts";
import { MAX_FOLIO_ORDER, PG_NOINIT, PG_RESERVED } from "./memmap.ts";

/** Options of {@link allocContigRange}. */
export interface ContigOptions {
  /** `__GFP_COMP`: make one compound page (size must be a naturally aligned power of two). */
  comp?: boolean;
  /** Fault-injection site; "alloc_contig_range" by default. */
  site?: string;
}

/** Options of {@link allocGigantic}. */
export interface GiganticOptions {
  /** `__GFP_THISNODE`: only node `nid` (hugetlb's per-node pool sizing). Default false. */
  exactNode?: boolean;
  /** Also use MIGRATE_CMA pageblocks (hugetlb_cma-like). Default false. */
  allowCma?: boolean;
  /** Fault-injection site; "alloc_gigantic_folio" by default. */
  site?: string;
}

function checkGiganticOrder(order: number): void {
  if (!Number.isInteger(order) || order <= MAX_PAGE_ORDER || order > MAX_FOLIO_ORDER) {
    throw new RangeError(`gigantic order ${order}: ${MAX_PAGE_ORDER + 1}..${MAX_FOLIO_ORDER}`);
  }
}

/**
 * alloc_contig_range(): takes `[startPfn, endPfn)` out of the buddy allocator if all of it
 * is free. Without `comp` every page gets refcount 1 (independent pages); with `comp` the
 * range becomes one compound page with head refcount 1. Returns false (the kernel's
 * -EBUSY) when a page is not free, or on an injected fault, with nothing changed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Topology } from "../machine/topology.ts";
 * import { BuddyAllocator } from "./buddy.ts";
 * import { allocContigRange } from "./gigantic.ts";
 * const buddy = new BuddyAllocator({ topology: new Topology({ ramBytes: 2 ** 30 }) });
 * buddy.freeBootRange(0, 2 ** 18, 0);
 * assert.equal(allocContigRange(buddy, 0x1000, 0x1100), true);
 * assert.equal(buddy.memmap.pageCount(0x10ff), 1);
 * assert.equal(buddy.isFree(0x1000), false);
 * ```
 */
export function allocContigRange(
  buddy: BuddyAllocator,
  startPfn: number,
  endPfn: number,
  opts: ContigOptions = {},
): boolean {
  const n = endPfn - startPfn;
  if (!Number.isSafeInteger(startPfn) || !(n > 0)) {
    throw new RangeError(`contig range [${startPfn}, ${endPfn}) is empty or invalid`);
  }
  let order = -1;
  if (opts.comp) {
    order = Math.round(Math.log2(n));
    if (2 ** order !== n || startPfn % n !== 0 || order < 1 || order > MAX_FOLIO_ORDER) {
      throw new RangeError(`compound contig range [${startPfn}, ${endPfn}) is not a folio`);
    }
  }
  if (buddy.faults.shouldFail(opts.site ?? "alloc_contig_range")) return false;
  if (!buddy.isolateFreeRange(startPfn, endPfn)) return false;
  try {
    if (opts.comp) {
      buddy.memmap.prepCompoundPage(startPfn, order);
      buddy.memmap.setPageCount(startPfn, 1);
    } else {
      buddy.memmap.setPageCountRange(startPfn, n, 1);
    }
  } catch (e) {
    unisolate(buddy, startPfn, endPfn);
    throw e;
  }
  return true;
}

/**
 * Gives an isolated range back after an exception part-way through preparing it: its struct
 * page state reset, the pages freed (the allocation is undone, whatever it had set).
 */
function unisolate(buddy: BuddyAllocator, startPfn: number, endPfn: number): void {
  buddy.memmap.resetRange(startPfn, endPfn - startPfn);
  buddy.freeFrozenRange(startPfn, endPfn);
}

/**
 * free_contig_range() for pages from {@link allocContigRange} without `comp`: drops each
 * page's reference and frees the range (as max-order blocks where aligned). Pages whose
 * count was not 1 are warned about ("N pages are still in use!") and the range is not
 * freed. Returns whether it was freed.
 */
export function freeContigRange(buddy: BuddyAllocator, startPfn: number, endPfn: number): boolean {
  let ones = 0;
  buddy.memmap.forEachBusyPage(startPfn, endPfn, (_p, rc) => {
    if (rc === 1) ones++;
  });
  const inUse = endPfn - startPfn - ones;
  if (inUse !== 0) {
    buddy.log.warn("free_contig_range", `${inUse} pages are still in use!`);
    return false;
  }
  buddy.memmap.setPageCountRange(startPfn, endPfn - startPfn, 0);
  return buddy.freeFrozenRange(startPfn, endPfn);
}

/**
 * alloc_gigantic_folio(): a naturally aligned, free range of 2^order pages (order >
 * MAX_PAGE_ORDER) on node `nid` — lowest address first, other nodes after it unless
 * `exactNode` — taken out of the buddy lists as a compound folio with head refcount 1.
 * Returns the head pfn, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Topology } from "../machine/topology.ts";
 * import { BuddyAllocator } from "./buddy.ts";
 * import { allocGigantic, freeGigantic } from "./gigantic.ts";
 * const buddy = new BuddyAllocator({ topology: new Topology({ ramBytes: 4 * 2 ** 30 }) });
 * buddy.freeBootRange(0, 2 ** 20, 0);
 * const head = allocGigantic(buddy, 18, 0)!;
 * assert.equal(buddy.memmap.compoundHead(head + 5), head);
 * assert.equal(freeGigantic(buddy, head, 18), true);
 * assert.equal(buddy.nrFreePages(), 2 ** 20);
 * ```
 */
export function allocGigantic(
  buddy: BuddyAllocator,
  order: number,
  nid: number,
  opts: GiganticOptions = {},
): number | null {
  checkGiganticOrder(order);
  if (buddy.faults.shouldFail(opts.site ?? "alloc_gigantic_folio")) return null;
  const nodes = buddy.topology.nodes;
  const zonelist = opts.exactNode
    ? [nid]
    : Array.from({ length: nodes }, (_, k) => (nid + k) % nodes);
  for (const node of zonelist) {
    const head = buddy.findFreeRange(node, order, opts.allowCma ?? false);
    if (head === null) continue;
    if (!buddy.isolateFreeRange(head, head + 2 ** order)) continue;
    try {
      buddy.memmap.prepCompoundPage(head, order);
      buddy.memmap.setPageCount(head, 1);
    } catch (e) {
      unisolate(buddy, head, head + 2 ** order);
      throw e;
    }
    return head;
  }
  return null;
}

/**
 * Returns a gigantic folio to the buddy allocator as max-order blocks (free_gigantic_folio
 * after the last reference). The folio's head refcount must be 1 (the caller's last
 * reference, dropped here) or 0; a larger count, or a `headPfn` that is not the head of a
 * folio of that order, is warned about and nothing is freed. Returns whether it was freed.
 */
export function freeGigantic(buddy: BuddyAllocator, headPfn: number, order: number): boolean {
  checkGiganticOrder(order);
  const mm = buddy.memmap;
  if (!mm.isHead(headPfn) || mm.compoundOrder(headPfn) !== order) {
    buddy.log.warn(
      "free_gigantic_folio",
      `pfn 0x${headPfn.toString(16)} is not the head of an order-${order} folio`,
    );
    return false;
  }
  const rc = mm.pageCount(headPfn);
  if (rc > 1) {
    buddy.log.warn(
      "free_gigantic_folio",
      `folio 0x${headPfn.toString(16)} still has ${rc} references`,
    );
    return false;
  }
  mm.clearCompound(headPfn);
  mm.setPageCount(headPfn, 0);
  return buddy.freeFrozenRange(headPfn, headPfn + 2 ** order);
}

/**
 * Boot-time gigantic page from memblock (hugetlb's `gather_bootmem_prealloc` path): clears
 * PG_reserved / noinit state of the range, gives the tails refcount 0 (both without
 * creating per-page state), then makes the range a compound folio with head refcount 1.
 */
export function prepGiganticFolio(memmap: Memmap, headPfn: number, order: number): void {
  const n = 2 ** order;
  memmap.clearFlagRange(headPfn, n, PG_RESERVED | PG_NOINIT);
  memmap.setPageCountRange(headPfn, n, 0);
  memmap.prepCompoundPage(headPfn, order);
  memmap.setPageCount(headPfn, 1);
}
