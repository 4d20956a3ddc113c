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
 * Both report deterministic costs through {@link TrackerCounters}. A {@link TrackerFormat}
 * names an encoding and builds both faces: kholab's table of formats (`registry.ts`) holds the
 * built-in ones and any a user registers (`defineTracker` in `lib/design/`); the conformance
 * suite (`lib/design/conformance.ts`) checks a format against this contract.
 *
 * @module
 */

import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import { hex, PAGE_SIZE } from "../../units.ts";
import type { TrackerCounters } from "./counters.ts";
import type { WalkOutcome } from "./walk_guard.ts";

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
 * kernel's `kho_radix_walk_tree` convention). Trackers whose keys carry a page type
 * ({@link TrackerCapabilities.pageType}) pass it as a third argument (0 CONTIG, 1 SPLIT);
 * a two-parameter callback ignores it.
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
  /**
   * Optional, for trackers whose keys carry a page type ({@link TrackerCapabilities.pageType}):
   * {@link add} with the type (0 CONTIG, 1 SPLIT); `add` records CONTIG.
   */
  addTyped?(pfn: number, order: number, type: number): void;
  /** Optional: {@link del} with a page type (see {@link addTyped}). */
  delTyped?(pfn: number, order: number, type: number): void;
  /**
   * Optional: frees every page the tracker owns (and its serialized form, if any) through
   * the allocator. The engine calls it when `kho_init` fails after the tracker was built.
   */
  destroy?(): void;
  /**
   * Optional, for trackers that hand over a serialized copy rather than their live pages
   * (the xarray era's chunk list, {@link TrackerFormat.serialize}): the pages of that copy,
   * in list order. They come from the same allocator and are not in {@link ownedPagesPhys}.
   */
  serializedPagesPhys?(): number[];
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
  /**
   * Optional: {@link walk} returning the whole outcome instead of throwing on corruption
   * (`ok`, the named `error`, blocks delivered and rejected). Where it is missing, the engine
   * derives the outcome from {@link walk} and its `TrackerCorruptionError`.
   */
  walkChecked?(cb: WalkCallback): WalkOutcome<string>;
  /** Optional: {@link walkBatched} returning the outcome (see {@link walkChecked}). */
  walkBatchedChecked?(cb: WalkBatchCallback): WalkOutcome<string>;
}

/** Whether `phys` is the address of a whole page of `mem` (0 is not). */
export function isPagePhys(phys: number, mem: PhysicalMemory): boolean {
  return phys !== 0 && Number.isSafeInteger(phys) && phys % PAGE_SIZE === 0 &&
    mem.contains(phys, PAGE_SIZE);
}

/**
 * Checks a page a metadata allocator returned: one that is not a page of `mem` is the
 * allocator's bug — it goes back (counted in `pagesFreed`) and a RangeError is thrown.
 */
export function checkAllocatedPage(
  phys: number,
  mem: PhysicalMemory,
  alloc: MetadataPageAllocator,
  counters: { pagesFreed: number },
): void {
  if (!isPagePhys(phys, mem)) {
    alloc.freePage(phys);
    counters.pagesFreed++;
    throw new RangeError(`allocator returned ${hex(phys)}, not a page of memory`);
  }
}

/** What an outgoing tracker is built from. */
export interface TrackerHost {
  /** The physical memory holding the tracker's pages. */
  mem: PhysicalMemory;
  /**
   * Source of metadata pages (`get_zeroed_page` / `free_page`; the xarray era's bitmaps
   * also `kzalloc` slab pages).
   */
  alloc: MetadataPageAllocator;
  /** Kernel log receiving the tracker's WARNs. */
  log: KernelLog;
  /**
   * 6.18/6.19's debug check of metadata pages against scratch (`kho_scratch_overlap`): the
   * index of the scratch area `[phys, phys + size)` overlaps, or -1. When it fires for a new
   * bitmap the kernel WARNs and fails with EINVAL. Absent: no check (6.16 has none).
   */
  scratchCheck?: (phys: number, size: number) => number;
}

/** What the successor's reader gets besides the memory and the root address. */
export interface IncomingTrackerOptions {
  /** Whether `[phys, phys + size)` is entirely RAM (default: inside the memory). */
  isRam?: (phys: number, size: number) => boolean;
  /** Log for rejected blocks and structural errors (default: none). */
  log?: KernelLog;
  /** Counters to charge (default: a fresh set). */
  counters?: TrackerCounters;
}

/**
 * Walk orders a format can promise ({@link TrackerCapabilities.walkOrder}): `order-desc` —
 * largest orders first, ascending addresses within an order (the one-hot radix key);
 * `order-asc` — smallest orders first, ascending addresses within an order; `address` —
 * ascending addresses whatever the order; `unspecified` — any order, each block once.
 */
export type WalkOrder = "order-desc" | "order-asc" | "address" | "unspecified";

/** What a tracker format can do, as the engine and the conformance suite read it. */
export interface TrackerCapabilities {
  /** Largest order whose blocks reach the successor (larger ones are refused or lost). */
  readonly maxOrder: number;
  /** Whether keys carry a page type: the tracker has `addTyped` / `delTyped`. */
  readonly pageType: boolean;
  /**
   * What an `add` failing with ENOMEM leaves: `exact` — pages, bytes and blocks exactly as
   * before the call (the kernel's `err_free_nodes`); `none` — no rollback (pages allocated
   * by the call stay linked and owned, no block is lost or gained, nothing leaks).
   */
  readonly rollback: "exact" | "none";
  /** The order of the walk (both faces). */
  readonly walkOrder: WalkOrder;
  /** Whether the successor's reader has a native batched walk. */
  readonly batchedWalk: boolean;
}

/**
 * What kernel code reading handed-over memory through the direct map needs (the kernel's
 * tracker walk, a blob read with `phys_to_virt`, a kho_block chain): the memory, where RAM is
 * (a read elsewhere is a fatal page fault) and the log for the oops and lockup lines.
 */
export interface KernelWalkHost {
  /** Physical memory. */
  readonly mem: PhysicalMemory;
  /** Whether `[phys, phys + size)` is RAM (has a direct mapping and struct pages). */
  isRam(phys: number, size: number): boolean;
  /** The successor's log (the oops and lockup lines). */
  readonly log: KernelLog;
}

/**
 * A block as the kernel's walk hands it to its callback: the physical address as the u64 the
 * kernel computed, the order as the `unsigned int` it passes, and the page type (0 for
 * untyped trackers).
 */
export type KernelBlockCallback = (phys: bigint, order: number, type: number) => void;

/** What a replay saw. */
export interface KernelWalkResult {
  /** Blocks handed to the callback. */
  blocks: number;
  /** Metadata pages (or chunk elements) read. */
  reads: number;
}

/**
 * The kernel's own walk of a format's bytes, replayed without validation when the validating
 * reader met an anomaly (the kernel's verdict on corrupted bytes: an oops on a wild pointer, a
 * walk that never ends); `fn` names the kernel function that reserves each block.
 */
export interface KernelReplay {
  /** The function whose store faults on a block without a struct page. */
  readonly fn: string;
  /** Walks the bytes at `rootPhys` as the kernel does; see `kernel_walk.ts`. */
  walk(host: KernelWalkHost, rootPhys: number, cb: KernelBlockCallback): KernelWalkResult;
}

/**
 * A tracker format: one encoding of preserved memory, both faces. `create` builds the first
 * kernel's tracker over pages from `host.alloc`; `incoming` builds the successor's reader
 * from the memory and the root address alone (nothing else crosses kexec).
 */
export interface TrackerFormat {
  /** Short name, unique in the table, e.g. `"radix"`. */
  readonly kind: string;
  /** One line: what the encoding is and where it comes from. */
  readonly summary: string;
  /** What it can do. */
  readonly capabilities: TrackerCapabilities;
  /** Builds the outgoing tracker; throws `KhoError` ENOMEM when its first pages cannot be had. */
  create(host: TrackerHost): OutgoingTracker;
  /** Builds the successor's reader of the bytes at `rootPhys`. */
  incoming(
    mem: PhysicalMemory,
    rootPhys: number,
    options?: IncomingTrackerOptions,
  ): IncomingTracker;
  /**
   * Optional: writes the handed-over copy of a tracker that does not hand over its live pages
   * (the xarray era's `kho_mem_serialize`, 6.19 rules: a repeat frees the previous copy) and
   * returns its root. Absent: the live pages cross and the root is `handoverRoot()`.
   */
  serialize?(tracker: OutgoingTracker): number;
  /**
   * Optional: the kernel's own walk, for the kernel's verdict on corrupted bytes (formats of a
   * released kernel or of a posted patch). Absent: the validating reader's verdict stands.
   */
  readonly kernelReplay?: KernelReplay;
}
