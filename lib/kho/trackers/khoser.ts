/**
 * The serialized form of the 6.16 – 6.19 xarray tracker: a linked list of
 * `struct khoser_mem_chunk` pages (`kho_mem_serialize` / `kho_mem_deserialize` in
 * `kernel/kexec_handover.c`): the writer (`serialize`) and the successor's reader
 * (`walkKhoserChunks`). The chunk layout is the ABI's, in `../abi/kexec_handover.ts`; both
 * sides take its offsets from there. The outgoing tracker itself is `xarray.ts`.
 *
 * Layout (the ABI, x86_64, little endian), one 4 KiB chunk:
 *
 * ```
 * 0x000  u64 next        physical address of the next chunk, 0 = last (KHOSER_PTR)
 * 0x008  u32 order       order of every bitmap in this chunk (chunks never mix orders)
 * 0x00c  u32 num_elms    entries used, 0..255
 * 0x010  255 × { u64 phys_start; u64 bitmap_phys }   (16 bytes each, to 0x1000)
 * ```
 *
 * An entry's bitmap (512 bytes in 6.16, one 4 KiB page from 6.18 on) is a Linux bitmap:
 * bit b lives in u64 word b/64 at bit b%64, words little endian. Bit b stands for the
 * preserved block `phys_start + (b << (order + PAGE_SHIFT))` of `2^order` pages.
 *
 * Neither the chunks nor the bitmaps are preserved pages: the successor stays inside the
 * scratch areas until it has walked the list (the kernel comment: "All of this memory is
 * normal kmalloc() memory and is not marked for preservation").
 *
 * Incoming validation policy ({@link walkKhoserChunks}), mirroring the radix reader:
 * - **Structural errors abort the walk** with a named {@link KhoserWalkErrorReason}: a
 *   chunk pointer that is unaligned or not RAM, a chunk reached twice (`"cycle"`),
 *   `num_elms` above 255, an order above {@link KHOSER_MAX_ORDER}, a bitmap pointer that
 *   is 0, not aligned to the bitmap size, or not RAM. Callbacks already made stay made.
 * - **Bad bits are rejected and skipped**: a set bit whose block is not entirely RAM or
 *   not aligned to its size (a `phys_start` the kernel would never write). Each is counted
 *   in {@link KhoserWalkResult.rejected}; the first few are logged, then one line.
 * - Every chunk is read at most once and a chunk holds at most 255 bitmaps, so a walk
 *   costs O(chunks × 255 × bitmap) whatever the bytes say; nothing is read outside RAM.
 *
 * Allocation-era notes: 6.16 kzallocs chunks (`kzalloc(PAGE_SIZE)`, freed with `kfree`)
 * and can only fail with ENOMEM; 6.18+ take `get_zeroed_page()` and WARN + fail with
 * EINVAL when the debug scratch check finds the page inside a scratch area. S-6.18i's
 * `kho_mem_ser_free()` frees those page chunks with `kfree` (later `free_page`); that bug
 * is harmless here, where every chunk goes back through `MetadataPageAllocator.freePage`.
 *
 * @module
 */

import { KhoError } from "../../errors.ts";
import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import { hex, PAGE_SHIFT, PAGE_SIZE } from "../../units.ts";
import { cacheLinesSpanned, TrackerCounters } from "./counters.ts";
import { hexU64, WalkGuard, type WalkGuardOptions, type WalkOutcome } from "./walk_guard.ts";
import { xaForEachCost } from "./xarray_nodes.ts";
import {
  checkAllocatedPage,
  type MetadataPageAllocator,
  type WalkBatchCallback,
  type WalkCallback,
} from "./tracker.ts";
import {
  KHO_FDT_MEMORY_MAP_PROP_NAME,
  KHOSER_BITMAP_SIZE,
  KHOSER_CHUNK_HDR,
  KHOSER_CHUNK_SIZE,
  KHOSER_ENTRIES_U32,
  KHOSER_ENTRY_BITMAP_U32,
  KHOSER_ENTRY_PHYS_START_U32,
  KHOSER_ENTRY_SIZE,
  KHOSER_ENTRY_U32,
  KHOSER_HDR_NEXT_U32,
  KHOSER_HDR_NUM_ELMS_U32,
  KHOSER_HDR_ORDER_U32,
} from "../abi/kexec_handover.ts";

// The chunk layout as module-local constants (V8 folds these; imported bindings it loads):
// u32 word indices into a chunk page.
const NEXT = KHOSER_HDR_NEXT_U32;
const ORDER = KHOSER_HDR_ORDER_U32;
const NUM_ELMS = KHOSER_HDR_NUM_ELMS_U32;
const ENTRIES = KHOSER_ENTRIES_U32;
const ENTRY = KHOSER_ENTRY_U32;
const PHYS_START = KHOSER_ENTRY_PHYS_START_U32;
const BITMAP = KHOSER_ENTRY_BITMAP_U32;
const BITMAP_SIZE = KHOSER_BITMAP_SIZE;

/**
 * Largest order the reader accepts in a chunk header: `order + PAGE_SHIFT` must stay below
 * 64 for the kernel's `bit << (order + PAGE_SHIFT)` to be defined. Larger orders abort the
 * walk with `"order-too-large"`; the outgoing tracker refuses them with EINVAL.
 */
export const KHOSER_MAX_ORDER: number = 63 - PAGE_SHIFT;
/** Allocation site name of chunk pages (for fault injection). */
export const KHOSER_CHUNK_SITE = "khoser_mem_chunk";

/** Bitmap size of the tracker: 512 bytes (6.16, kzalloc) or one 4 KiB page (6.18+). */
export type XarrayBitmapBytes = 512 | 4096;

/** Kernel generation whose serialization rules apply. */
export type KhoserEra = "6.16" | "6.18" | "6.19";

/**
 * The debug scratch check (`kho_scratch_overlap`, 6.18+): index of the scratch area that
 * `[phys, phys + size)` overlaps, or -1 when it overlaps none.
 */
export type ScratchCheck = (phys: number, size: number) => number;

/** `PRESERVE_BITS` for a bitmap size: 4096 bits (512 B) or 32768 bits (4 KiB). */
export function preserveBitsOf(bitmapBytes: XarrayBitmapBytes): number {
  if (bitmapBytes !== 512 && bitmapBytes !== 4096) {
    throw new RangeError(`bitmap size ${bitmapBytes} is not 512 or 4096`);
  }
  return bitmapBytes * 8;
}

/** Tracker kind name of a bitmap size: `"xarray-512"` or `"xarray-4k"`. */
export function xarrayKind(bitmapBytes: XarrayBitmapBytes): "xarray-512" | "xarray-4k" {
  return bitmapBytes === 512 ? "xarray-512" : "xarray-4k";
}

const TWO32 = 4294967296;

/** Where a chunk entry is, for a walk's abort reason (built only when one is reported). */
function entryAt(e: number, chunkPhys: number): string {
  return `entry ${e} of chunk ${hex(chunkPhys)}`;
}
/** 2^i for i = 0..75, exact doubles. */
const POW2 = Float64Array.from({ length: 76 }, (_, i) => 2 ** i);

// ------------------------------------------------------------------------------------------
// Outgoing side: serialization.

/** The bitmaps of one order, ascending by xarray index. */
export interface KhoserOrderBitmaps {
  /** xarray indices `(pfn >> order) / PRESERVE_BITS`, ascending. */
  readonly indices: readonly number[];
  /** Physical address of each bitmap, parallel to `indices`. */
  readonly phys: readonly number[];
}

/** A serialized chunk list, as recorded for freeing it later. */
export interface KhoserList {
  /** Physical address of the first chunk (`preserved-memory-map`), 0 when empty. */
  readonly firstChunkPhys: number;
  /** Every chunk page, in list order. */
  readonly chunkPagesPhys: readonly number[];
  /** The era whose rules built it. */
  readonly era: KhoserEra;
  /** The allocator the chunks came from (and go back to). */
  readonly alloc: MetadataPageAllocator;
  /** Bitmaps visited (= entries written) while serializing. */
  readonly bitmapsVisited: number;
}

/**
 * What {@link serialize} needs from a tracker: its bitmaps by order, where they live, and a
 * slot recording the serialized list. `XarrayTracker` implements it.
 */
export interface KhoserSource {
  /** Memory holding the bitmaps (and the chunks to be written). */
  readonly mem: PhysicalMemory;
  /** Kernel log for the WARNs. */
  readonly log: KernelLog;
  /**
   * Counters charged with the serialization work: the tracker's raw counters where its public
   * ones settle on access (`settleOnAccess`), so the charges skip the settling.
   */
  readonly chargeCounters: TrackerCounters;
  /** Bitmap size, which fixes `PRESERVE_BITS`. */
  readonly bitmapBytes: XarrayBitmapBytes;
  /** The debug scratch check, if the kernel has one (applied from 6.18 on). */
  readonly scratchCheck?: ScratchCheck;
  /** The current serialized list (`kho_out.ser.preserved_mem_map`), null when none. */
  serializedList: KhoserList | null;
  /** Orders present in the `orders` xarray, ascending (possibly with no bitmap). */
  orders(): number[];
  /** The bitmaps of `order`, ascending by index. */
  bitmaps(order: number): KhoserOrderBitmaps;
}

/** Options of {@link serialize}. */
export interface SerializeOptions {
  /** Which kernel's rules: 6.16 (ENOMEM only), 6.18 (+ scratch check), 6.19 (+ repeat). */
  era: KhoserEra;
  /** Scratch check for chunk pages (default: the tracker's; ignored for 6.16). */
  scratchCheck?: ScratchCheck;
  /** Log for WARNs (default: the tracker's). */
  log?: KernelLog;
}

/**
 * `kho_mem_serialize()`: writes the tracker's bitmaps into a fresh chunk list and returns
 * the first chunk's physical address (0 when no order is present).
 *
 * For each order present (ascending) a new chunk is started with `hdr.order = order`; each
 * bitmap of that order (ascending index `idx`) appends `{phys_start = (idx * PRESERVE_BITS)
 * << (order + PAGE_SHIFT), bitmap phys}`; a full chunk (255 entries) is followed by a new
 * chunk of the same order. An order whose xarray holds no bitmap (left behind by a failed
 * preserve, as in the kernel) still gets one chunk with `num_elms = 0`.
 *
 * Costs (charged when the list is complete): the two `xa_for_each` loops read the `orders`
 * XArray's nodes, each order's `kho_mem_phys` (its `phys_bits` head) and that XArray's nodes
 * ({@link xaForEachCost}: slots as entries visited, nodes as pages touched, their lines as
 * lines read); the bitmaps themselves are not read (only their addresses are listed); each
 * chunk page is a page touched and its filled lines (header and entries) lines written.
 *
 * Chunk pages come from `alloc` (site {@link KHOSER_CHUNK_SITE}). On a failure every
 * chunk of the new list is freed and `KhoError` is thrown: ENOMEM, or from 6.18 on EINVAL
 * (after a WARN) when the scratch check rejects a chunk page. The list is recorded in
 * `tracker.serializedList`. A second serialization while a list exists throws EEXIST for
 * 6.16/6.18 (finalize twice; abort first); 6.19's `kho_update_memory_map()` instead frees
 * the old list after the new one is complete (on failure the old list stays).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serialize } from "./khoser.ts";
 * import { XarrayTracker } from "./xarray.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * const mem = new PhysicalMemory(2 ** 30);
 * let next = 2 ** 29;
 * const alloc = { allocZeroedPage: () => (next += 4096) - 4096, freePage: () => {} };
 * const t = new XarrayTracker({ mem, alloc, log: new KernelLog(), bitmapBytes: 4096 });
 * t.add(0x1234, 0);
 * const first = serialize(t, alloc, { era: "6.18" });
 * assert.equal(mem.readU32(first + 12), 1);
 * assert.ok(mem.readU64(first + 24) > 0);
 * ```
 */
export function serialize(
  tracker: KhoserSource,
  alloc: MetadataPageAllocator,
  options: SerializeOptions,
): number {
  const era = options.era;
  if (era !== "6.16" && era !== "6.18" && era !== "6.19") {
    throw new RangeError(`unknown KHO era ${era}`);
  }
  const log = options.log ?? tracker.log;
  const scratchCheck = era === "6.16" ? undefined : (options.scratchCheck ?? tracker.scratchCheck);
  const old = tracker.serializedList;
  if (old !== null && era !== "6.19") {
    throw new KhoError("EEXIST", `KHO memory map already serialized (${era}: abort first)`);
  }
  const c = tracker.chargeCounters;
  const mem = tracker.mem;
  const bits = preserveBitsOf(tracker.bitmapBytes);
  const pages: number[] = [];
  let first = 0;
  let cur: Uint32Array | null = null;
  let visited = 0;
  const orders = tracker.orders();
  const indicesByOrder: (readonly number[])[] = [];

  const newChunk = (order: number): Uint32Array => {
    const phys = alloc.allocZeroedPage(KHOSER_CHUNK_SITE);
    if (phys === null) {
      c.allocFailures++;
      throw new KhoError("ENOMEM", `cannot allocate a KHO chunk page for order ${order}`);
    }
    c.pagesAllocated++;
    checkAllocatedPage(phys, mem, alloc, c);
    pages.push(phys);
    if (scratchCheck !== undefined) {
      const area = scratchCheck(phys, KHOSER_CHUNK_SIZE);
      if (area >= 0) {
        log.warn("new_chunk", `chunk page ${hex(phys)} overlaps scratch area ${area}`);
        throw new KhoError("EINVAL", `KHO chunk page ${hex(phys)} is in scratch area ${area}`);
      }
    }
    const w = mem.writablePage(phys / PAGE_SIZE);
    w[ORDER] = order;
    if (cur === null) {
      first = phys;
    } else {
      cur[NEXT] = phys >>> 0;
      cur[NEXT + 1] = Math.floor(phys / TWO32);
    }
    c.pagesTouched++;
    return w;
  };

  try {
    for (const order of orders) {
      cur = newChunk(order);
      const { indices, phys } = tracker.bitmaps(order);
      indicesByOrder.push(indices);
      const unit = bits * POW2[order + PAGE_SHIFT];
      for (let i = 0; i < indices.length; i++) {
        if (cur[NUM_ELMS] === BITMAP_SIZE) cur = newChunk(order);
        const n = cur[NUM_ELMS];
        const o = ENTRIES + ENTRY * n;
        const start = indices[i] * unit;
        const bm = phys[i];
        cur[o + PHYS_START] = start >>> 0;
        cur[o + PHYS_START + 1] = Math.floor(start / TWO32);
        cur[o + BITMAP] = bm >>> 0;
        cur[o + BITMAP + 1] = Math.floor(bm / TWO32);
        cur[NUM_ELMS] = n + 1;
        visited++;
      }
    }
  } catch (e) {
    // kho_mem_ser_free(first_chunk) (+ the __free(kfree) of a chunk failing the check)
    for (const p of pages) {
      alloc.freePage(p);
      c.pagesFreed++;
    }
    throw e;
  }
  // The reads of the two xa_for_each loops, and the chunk lines filled.
  const walk = xaForEachCost(orders);
  let slots = walk.slots, followed = walk.followed, lines = walk.lines, objects = walk.nodes;
  for (const indices of indicesByOrder) {
    const b = xaForEachCost(indices);
    slots += 1 + b.slots; // the phys_bits head in kho_mem_phys, then its nodes
    followed += (indices.length > 0 ? 1 : 0) + b.followed;
    lines += 1 + b.lines;
    objects += 1 + b.nodes;
  }
  c.entriesVisited += slots;
  c.entriesFollowed += followed;
  c.cacheLinesRead += lines;
  c.pagesTouched += objects;
  for (const indices of indicesByOrder) {
    // full chunks of 255 entries fill their page, the last one its header and n entries
    const n = indices.length, full = Math.max(0, Math.ceil(n / BITMAP_SIZE) - 1);
    c.cacheLinesWritten += full * cacheLinesSpanned(0, KHOSER_CHUNK_SIZE) +
      cacheLinesSpanned(0, KHOSER_CHUNK_HDR + (n - full * BITMAP_SIZE) * KHOSER_ENTRY_SIZE);
  }
  const list: KhoserList = {
    firstChunkPhys: first,
    chunkPagesPhys: pages,
    era,
    alloc,
    bitmapsVisited: visited,
  };
  if (old !== null) freeChunkList(old, c); // 6.19 kho_update_memory_map()
  tracker.serializedList = list;
  return first;
}

function freeChunkList(list: KhoserList, counters: TrackerCounters): void {
  for (const p of list.chunkPagesPhys) {
    list.alloc.freePage(p);
    counters.pagesFreed++;
  }
}

/**
 * `kho_mem_ser_free()`: frees the tracker's serialized chunk list (abort in 6.16 – 6.18, or
 * by hand) and clears `tracker.serializedList`. No-op when there is none.
 */
export function freeSerialized(tracker: KhoserSource): void {
  const list = tracker.serializedList;
  if (list === null) return;
  freeChunkList(list, tracker.chargeCounters);
  tracker.serializedList = null;
}

// ------------------------------------------------------------------------------------------
// Incoming side: walking chunk bytes with validation.

/** Why a walk of handed-over chunk bytes was aborted. */
export type KhoserWalkErrorReason =
  /** A chunk pointer (first or `hdr.next`) is not page aligned. */
  | "chunk-unaligned"
  /** A chunk pointer points to memory that is not RAM. */
  | "chunk-outside-ram"
  /** A chunk pointer leads back to a chunk already read (the list is not a list). */
  | "cycle"
  /** `hdr.num_elms` exceeds {@link KHOSER_BITMAP_SIZE}. */
  | "num-elms-too-large"
  /** `hdr.order` exceeds {@link KHOSER_MAX_ORDER}. */
  | "order-too-large"
  /** An entry's bitmap pointer is 0 (the kernel would dereference NULL). */
  | "bitmap-null"
  /** An entry's bitmap pointer is not aligned to the bitmap size. */
  | "bitmap-unaligned"
  /** An entry's bitmap is not entirely RAM. */
  | "bitmap-outside-ram";

/** The outcome of {@link walkKhoserChunks}. */
export interface KhoserWalkResult extends Readonly<WalkOutcome<KhoserWalkErrorReason>> {
  /** Chunk pages read. */
  readonly chunksVisited: number;
  /** Bitmaps scanned. */
  readonly bitmapsVisited: number;
}

/** Options of {@link walkKhoserChunks}. */
export interface KhoserReaderOptions extends WalkGuardOptions {
  /** First chunk from `preserved-memory-map`; 0 means nothing was preserved. */
  firstChunkPhys: number;
  /** Bitmap size the successor was built with (its `PRESERVE_BITS`). */
  bitmapBytes: XarrayBitmapBytes;
}

class ChunkWalker extends WalkGuard<KhoserWalkErrorReason> {
  readonly bitmapBytes: number;
  readonly bits: number;
  readonly bitmapPages = new Set<number>();
  chunks = 0;
  bitmaps = 0;

  constructor(o: KhoserReaderOptions, counters: TrackerCounters) {
    super(o, counters, "memory map", "");
    this.bitmapBytes = o.bitmapBytes;
    this.bits = preserveBitsOf(o.bitmapBytes);
  }

  /** Follows the list from `first`. */
  follow(first: number): void {
    let lo = first >>> 0;
    let hi = Math.floor(first / TWO32);
    let from = KHO_FDT_MEMORY_MAP_PROP_NAME;
    while ((lo | hi) !== 0) {
      const at = `${from} = 0x${hexU64(lo, hi)}`;
      if ((lo & (PAGE_SIZE - 1)) !== 0) {
        this.fail("chunk-unaligned", at);
        return;
      }
      const phys = hi * TWO32 + lo;
      if (hi >= 2 ** 21 || !this.ram(phys, KHOSER_CHUNK_SIZE)) {
        this.fail("chunk-outside-ram", at);
        return;
      }
      if (this.visited.has(phys)) {
        this.fail("cycle", at);
        return;
      }
      this.visited.add(phys);
      const w = this.words(phys / PAGE_SIZE);
      if (!this.chunk(phys, w)) return;
      lo = w[NEXT];
      hi = w[NEXT + 1];
      from = `next of chunk ${hex(phys)}`;
    }
  }

  /** Reads one chunk; false when the walk must end. */
  chunk(phys: number, w: Uint32Array): boolean {
    this.chunks++;
    const c = this.c;
    c.pagesTouched++;
    const order = w[ORDER];
    const num = w[NUM_ELMS];
    if (num > BITMAP_SIZE) {
      c.cacheLinesRead++;
      return this.fail("num-elms-too-large", `chunk ${hex(phys)} num_elms ${num}`);
    }
    if (order > KHOSER_MAX_ORDER) {
      c.cacheLinesRead++;
      return this.fail("order-too-large", `chunk ${hex(phys)} order ${order}`);
    }
    const bytes = this.bitmapBytes;
    let e = 0;
    let followed = 0;
    let go = true;
    for (; e < num; e++) {
      const o = ENTRIES + ENTRY * e;
      const bmLo = w[o + BITMAP], bmHi = w[o + BITMAP + 1];
      if ((bmLo | bmHi) === 0) {
        go = this.fail("bitmap-null", `${entryAt(e, phys)} has a NULL bitmap`);
        break;
      }
      if ((bmLo & (bytes - 1)) !== 0) {
        go = this.fail("bitmap-unaligned", `${entryAt(e, phys)}: bitmap 0x${hexU64(bmLo, bmHi)}`);
        break;
      }
      const bm = bmHi * TWO32 + bmLo;
      if (bmHi >= 2 ** 21 || !this.ram(bm, bytes)) {
        go = this.fail("bitmap-outside-ram", `${entryAt(e, phys)}: bitmap 0x${hexU64(bmLo, bmHi)}`);
        break;
      }
      const start = w[o + PHYS_START + 1] * TWO32 + w[o + PHYS_START];
      followed++;
      go = this.bitmap(bm, start, order);
      if (!go) break;
    }
    const read = e < num ? e + 1 : num;
    c.entriesVisited += read;
    c.entriesFollowed += followed;
    c.cacheLinesRead += cacheLinesSpanned(0, KHOSER_CHUNK_HDR + read * KHOSER_ENTRY_SIZE);
    return go;
  }

  /** Scans one bitmap; false when a callback stopped the walk. */
  bitmap(bm: number, start: number, order: number): boolean {
    this.bitmaps++;
    const pfn = Math.floor(bm / PAGE_SIZE);
    if (!this.bitmapPages.has(pfn)) {
      this.bitmapPages.add(pfn);
      this.c.pagesTouched++;
    }
    const blockBytes = POW2[order + PAGE_SHIFT];
    const allOk = Number.isSafeInteger(start) && start % blockBytes === 0 &&
      this.ram(start, this.bits * blockBytes);
    const w = this.words(pfn);
    const off = (bm % PAGE_SIZE) >>> 2;
    return this.scanBitmap(w, off, this.bitmapBytes >>> 2, start, blockBytes, order, 0, allOk);
  }

  /** A block of a bitmap must also be aligned to its size (a `phys_start` the kernel writes). */
  override blockOk(pa: number, blockBytes: number, order: number): boolean {
    if (!Number.isSafeInteger(pa) || pa % blockBytes !== 0) {
      this.reject(pa, order, "not aligned to its size");
      return false;
    }
    return super.blockOk(pa, blockBytes, order);
  }
}

function runWalk(
  options: KhoserReaderOptions,
  cb: WalkCallback | null,
  batchCb: WalkBatchCallback | null,
): KhoserWalkResult {
  const w = new ChunkWalker(options, options.counters ?? new TrackerCounters());
  const first = options.firstChunkPhys;
  if (!Number.isSafeInteger(first) || first < 0) {
    w.fail("chunk-outside-ram", `preserved-memory-map = ${first}`);
  } else {
    w.run(cb, batchCb, w.bits, () => w.follow(first));
  }
  return w.outcome(`memory map`, { chunksVisited: w.chunks, bitmapsVisited: w.bitmaps });
}

/**
 * `kho_mem_deserialize()` with validation: follows the chunk list from
 * `options.firstChunkPhys` and calls `cb(phys, order)` for every set bit of every bitmap,
 * `phys = phys_start + (b << (order + PAGE_SHIFT))`, in list order (chunk, entry, bit). A
 * non-zero callback result stops the walk. Never throws for corrupted bytes (see the module
 * policy); exceptions thrown by `cb` propagate.
 *
 * Counters: per chunk one page touched, `num_elms` entries visited and followed, the cache
 * lines of the header and entries read; per bitmap its u64 words scanned and its lines (8
 * for 512 bytes, 64 for 4 KiB), and each distinct bitmap page touched once per walk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walkKhoserChunks } from "./khoser.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * mem.writeU64(0x1000, 0x1000); // a chunk whose next is itself
 * const r = walkKhoserChunks({ mem, firstChunkPhys: 0x1000, bitmapBytes: 4096 }, () => 0);
 * assert.ok(!r.ok);
 * assert.equal(r.error, "cycle");
 * ```
 */
export function walkKhoserChunks(options: KhoserReaderOptions, cb: WalkCallback): KhoserWalkResult {
  return runWalk(options, cb, null);
}

/**
 * {@link walkKhoserChunks} delivering a bitmap's valid blocks at a time: `cb(phys, count,
 * order)` with up to `PRESERVE_BITS` addresses in a buffer valid only during the call. Same
 * validation, order, counters (one callback counted per block) and stop rule (a non-zero
 * result stops the walk after that batch).
 */
export function walkKhoserChunksBatched(
  options: KhoserReaderOptions,
  cb: WalkBatchCallback,
): KhoserWalkResult {
  return runWalk(options, null, cb);
}
