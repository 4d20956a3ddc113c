/**
 * The interface every KHO preserved-memory tracker implements, whatever its generation:
 * the 6.16–6.19 xarray of bitmaps serialized into chunk lists, the RFC per-order tables,
 * the unified radix tree of kho-v2 and later, and proposals still on the list.
 *
 * A tracker has two faces:
 * - {@link OutgoingTracker}: the first kernel's live structure. It records preserved
 *   blocks `(pfn, order)`, keeps its metadata in pages of simulated physical memory taken
 *   from a {@link MetadataPageAllocator}, and names the physical address that the root FDT
 *   carries to the next kernel ({@link OutgoingTracker.handoverRoot}).
 * - {@link IncomingTracker}: the successor's view. It is built from that physical address
 *   and the memory bytes alone (no JavaScript object survives kexec) and walks the
 *   preserved blocks, validating everything it reads.
 *
 * Both report deterministic costs through {@link TrackerCounters}.
 *
 * @module
 */

import type { TrackerCounters } from "./counters.ts";

/**
 * Where tracker metadata pages come from: `get_zeroed_page()` / `free_page()` in the
 * kernel. Implementations are the buddy allocator, memblock before it, or a simple pool in
 * tests.
 */
export interface MetadataPageAllocator {
  /**
   * Allocates one zeroed 4 KiB page and returns its physical address, or null on ENOMEM.
   * `site` names the allocation point (e.g. `"kho_radix_node"`) for fault injection and
   * accounting; call this exactly once per allocation attempt.
   */
  allocZeroedPage(site: string): number | null;
  /** Returns a page obtained from {@link allocZeroedPage}. */
  freePage(phys: number): void;
}

/**
 * Called once per preserved block during a walk, with the block's physical address and
 * order. A non-zero return value stops the walk and becomes the walk's result (the
 * kernel's `kho_radix_walk_tree` convention).
 */
export type WalkCallback = (phys: number, order: number) => number;

/**
 * A batched walk callback: `count` blocks of one `order`, their physical addresses in
 * `phys[0 .. count)` in walk order (the buffer is reused after the call returns). A
 * non-zero return stops the walk after this batch. Lets a JavaScript consumer loop over
 * blocks itself instead of paying a function call per block.
 */
export type WalkBatchCallback = (phys: Float64Array, count: number, order: number) => number;

/** The first kernel's live tracker of preserved memory. */
export interface OutgoingTracker {
  /** Short name of the encoding, e.g. `"radix"`, `"xarray-4k"`, `"order-table"`. */
  readonly kind: string;
  /** Deterministic cost counters of this tracker. */
  readonly counters: TrackerCounters;
  /**
   * Records the block of `2^order` pages at `pfn` as preserved. Adding a block that is
   * already present is a no-op. Throws `KhoError` `ENOMEM` when a metadata page cannot be
   * allocated (the tracker is then exactly as before the call) and `EINVAL` on invalid
   * arguments or an uninitialised tracker.
   */
  add(pfn: number, order: number): void;
  /**
   * Forgets the block `(pfn, order)`. Deleting a block that was never added is not an
   * error (the kernel WARNs where it notices a missing path). Trackers may keep empty
   * metadata pages.
   */
  del(pfn: number, order: number): void;
  /**
   * Visits every preserved block in the tracker's natural order; returns the first
   * non-zero callback result, or 0 when the walk completed.
   */
  walk(cb: WalkCallback): number;
  /** Optional batched form of {@link walk}: same blocks, same order, a batch per call. */
  walkBatched?(cb: WalkBatchCallback): number;
  /**
   * The physical address the root FDT carries to the next kernel (e.g. the radix root for
   * `preserved-memory-map`, or the first chunk of a serialized list; 0 if none yet).
   */
  handoverRoot(): number;
  /** Metadata pages currently owned by the tracker (including its root page, if any). */
  metadataPages(): number;
  /** Metadata bytes currently owned by the tracker. */
  metadataBytes(): number;
  /** Physical addresses of the metadata pages currently owned, in ascending order. */
  ownedPagesPhys(): number[];
}

/**
 * The successor kernel's reader of a handed-over tracker, working from bytes only. A
 * structural corruption (a bad pointer, a cycle) makes {@link walk} throw a `KhoError`;
 * implementations document which entries they reject and skip instead.
 */
export interface IncomingTracker {
  /** Short name of the encoding, as {@link OutgoingTracker.kind}. */
  readonly kind: string;
  /** Deterministic cost counters of this reader. */
  readonly counters: TrackerCounters;
  /**
   * Visits every valid preserved block; returns the first non-zero callback result or 0.
   * Throws `KhoError` when the handed-over structure is unusable.
   */
  walk(cb: WalkCallback): number;
  /** Optional batched form of {@link walk}: same blocks, same order, a batch per call. */
  walkBatched?(cb: WalkBatchCallback): number;
}
