/**
 * The 6.16 – 6.19 KHO tracker (`struct kho_mem_track` in `kernel/kexec_handover.c`): an
 * xarray indexed by order, each holding an xarray of bitmaps indexed by
 * `(pfn >> order) / PRESERVE_BITS`; bit `(pfn >> order) % PRESERVE_BITS` marks the block.
 * At finalize the bitmaps are listed in `khoser_mem_chunk` pages (`khoser.ts`).
 *
 * What is real memory and what is not:
 * - The two xarray levels are the outgoing kernel's private structures and never cross
 *   kexec: here, per order, a flat JavaScript array for bitmap indices below 2^17 and a Map
 *   above. Their XArray nodes are not in simulated memory (nor in the byte figures), but
 *   the cost counters charge them as the kernel's XArray would be built for the same indices
 *   (`xarray_nodes.ts`, kho-facts §3.1): a preserve or lookup reads, from `kho_out`'s
 *   `orders` head, the `orders` nodes to its order's slot, the `kho_mem_phys` object (its
 *   `phys_bits` head), the `phys_bits` nodes to its bitmap's slot and the bitmap's line; a
 *   new order allocates a `kho_mem_phys` and the `orders` nodes its store needs, a new
 *   bitmap the `phys_bits` nodes ({@link TrackerCounters.nodesAllocated}).
 * - The **bitmaps are real memory** in the simulated {@link PhysicalMemory}:
 *   - 512 bytes (6.16, `kzalloc`): slab objects carved out of zeroed 4 KiB pages, 8 per
 *     page, taken from the {@link MetadataPageAllocator} (site `"kho_mem_phys_bits"`) as a
 *     kmalloc-512 cache would; each counts 512 bytes in {@link XarrayTracker.metadataBytes}
 *     and its page once in {@link XarrayTracker.metadataPages}. A slab page goes back to
 *     the allocator when its last object is freed (a real slab may cache it);
 *   - 4096 bytes (6.18+, `get_zeroed_page`): one page per bitmap.
 * - Bitmap layout: Linux bitmap, bit i in u64 word i/64 at bit i%64, words little endian.
 *
 * The tracker caches word views of its bitmap pages; while it is live those pages must only
 * be written through word/byte writes of `PhysicalMemory`, not replaced wholesale (`fill`,
 * `zero`, whole-page `writeBytes`, `copy`), which would detach the cached views.
 *
 * Known-bug reproduction: {@link XarrayTracker.unpreserveRange} with `bug6_16` replays 6.16's
 * `__kho_unpreserve()` endless loop and reports it as a {@link KhoHangError}.
 *
 * @module
 */

import { KhoError } from "../../errors.ts";
import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import { ctz, hex, hweight32, ilog2, PAGE_SHIFT, PAGE_SIZE } from "../../units.ts";
import { settleOnAccess, TrackerCounters } from "./counters.ts";
import { XA_EXTRA_LINES_12, xaExtraLines, XaShape } from "./xarray_nodes.ts";
import {
  freeSerialized,
  KHOSER_MAX_ORDER,
  type KhoserList,
  type KhoserOrderBitmaps,
  type KhoserSource,
  preserveBitsOf,
  type ScratchCheck,
  serialize,
  type SerializeOptions,
  type XarrayBitmapBytes,
  xarrayKind,
} from "./khoser.ts";
import {
  checkAllocatedPage,
  type MetadataPageAllocator,
  type OutgoingTracker,
  type TrackerHost,
  type WalkBatchCallback,
  type WalkCallback,
} from "./tracker.ts";
import { type BlockCallback, WalkGuard } from "./walk_guard.ts";

/** Allocation site of bitmap pages (slab pages for 512-byte bitmaps). */
export const XARRAY_BITMAP_SITE = "kho_mem_phys_bits";

/** Largest pfn + 1 accepted: blocks must start below 2^53 bytes. */
const PFN_LIMIT = 2 ** (53 - PAGE_SHIFT);
/** 2^i for i = 0..75, exact doubles. */
const POW2 = Float64Array.from({ length: 76 }, (_, i) => 2 ** i);
/** Bitmap indices below this live in a flat per-order array; larger ones in a Map. */
const FLAT_MAX = 1 << 17;
/** Default bound of the 6.16 hang detector: iterations without progress. */
const DEFAULT_MAX_ITERATIONS = 10_000;
/** Lines past a node's first, for indices below 4096 (module-local: V8 folds it). */
const EXTRA_LINES = XA_EXTRA_LINES_12;

/** EINVAL unless `[startPfn, endPfn)` is a range of pfns the tracker can hold. */
function checkPfnRange(startPfn: number, endPfn: number): void {
  if (
    !(Number.isSafeInteger(startPfn) && Number.isSafeInteger(endPfn) && startPfn >= 0 &&
      endPfn <= PFN_LIMIT)
  ) {
    throw new KhoError("EINVAL", `invalid pfn range [${startPfn}, ${endPfn})`);
  }
}

/**
 * A kernel loop that can never terminate, detected instead of run forever: what the
 * watchdog reports as a soft lockup. Deliberately **not** a `KhoError`: the kernel function
 * never returns, so there is no errno, and code catching `KhoError` for error returns must
 * not swallow it.
 */
export class KhoHangError extends Error {
  /** The page frame at which the loop spins. */
  readonly pfn: number;
  /** The order the loop computes at that pfn. */
  readonly order: number;
  /** Iterations run without progress before the detector fired. */
  readonly iterations: number;
  /** Builds the report of a loop stuck at `pfn`. */
  constructor(pfn: number, order: number, iterations: number) {
    super(
      `soft lockup: __kho_unpreserve loops at pfn ${hex(pfn)} order ${order} ` +
        `(6.16 bug; no progress in ${iterations} iterations)`,
    );
    this.name = "KhoHangError";
    this.pfn = pfn;
    this.order = order;
    this.iterations = iterations;
  }
}

/** Options of {@link XarrayTracker}. */
export interface XarrayTrackerOptions extends TrackerHost {
  /** 512 (6.16) or 4096 (6.18+). */
  bitmapBytes: XarrayBitmapBytes;
  /** Counters to use (default: a fresh set). */
  counters?: TrackerCounters;
}

/** Options of {@link XarrayTracker.unpreserveRange}. */
export interface UnpreserveRangeOptions {
  /**
   * Replay 6.16's `__kho_unpreserve()`: a missing order or bitmap `continue`s without
   * advancing pfn. False models the fix ("kho: warn and exit when unpreserved page wasn't
   * preserved", 6.17-stable+): WARN_ON_ONCE and return.
   */
  bug6_16: boolean;
  /** Iterations without progress after which the loop is declared hung (default 10000). */
  maxIterations?: number;
}

/** A slab page (or, for 4 KiB bitmaps, a bitmap page) and which of its objects are used. */
interface SlabPage {
  readonly phys: number;
  readonly words: Uint32Array;
  used: number;
}

/** The per-order `struct kho_mem_phys`: its `phys_bits` xarray. */
interface OrderXa {
  /** Word views of bitmaps with index < FLAT_MAX (grown on demand, null = none). */
  readonly flat: (Uint32Array | null)[];
  /** Word views of bitmaps with larger indices. */
  readonly far: Map<number, Uint32Array>;
  /** Physical address of every bitmap, by index. */
  readonly phys: Map<number, number>;
  /** The nodes the kernel's `phys_bits` XArray would have. */
  readonly shape: XaShape;
  bitmaps: number;
  /**
   * Cost of a preserve or lookup of a present bitmap of this order, but for the lines of the
   * `phys_bits` slots past their node's first line (`xaExtraLines` of the index): the
   * `orders` nodes and their lines, the `kho_mem_phys` line, one line per `phys_bits` node,
   * the bitmap's line. Kept up to date as the two XArrays grow.
   */
  lines: number;
  /**
   * Slots read on that path (each followed): `orders` nodes, the `phys_bits` head, nodes. The
   * objects on it (nodes, `kho_mem_phys`, the bitmap's page) are one more.
   */
  entries: number;
  /**
   * Set bits of each flat bitmap when last settled, less the bits cleared since (as long as
   * `flat`). A preserve that sets a bit is not counted when made: the settle
   * charges the bits a bitmap gained since (its index gives their extra lines).
   */
  settledBits: Int32Array;
  /** Whether a preserve has set a bit in a flat bitmap since the last settle. */
  dirty: boolean;
  /** Preserves not yet settled that `settledBits` does not see: of `far` bitmaps, of set bits. */
  adds: number;
  /** Their lines past their `phys_bits` nodes' first lines (Σ `xaExtraLines`). */
  extraLines: number;
}

/**
 * The outgoing kernel's xarray + bitmap tracker (`kho_out.ser.track` / `kho_out.track`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XarrayTracker } from "./xarray.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * const mem = new PhysicalMemory(2 ** 30);
 * let next = 2 ** 29;
 * const alloc = { allocZeroedPage: () => (next += 4096) - 4096, freePage: () => {} };
 * const t = new XarrayTracker({ mem, alloc, log: new KernelLog(), bitmapBytes: 512 });
 * t.add(0x40000, 18); // a 1 GiB folio at 1 GiB
 * t.add(0x1000, 0);
 * assert.equal(t.bitmapCount(), 2);
 * assert.equal(t.metadataBytes(), 1024);
 * assert.equal(t.metadataPages(), 1);
 * const seen: number[] = [];
 * t.walk((phys, order) => (seen.push(phys, order), 0));
 * assert.deepEqual(seen, [0x1000000, 0, 2 ** 30, 18]);
 * ```
 */
export class XarrayTracker implements OutgoingTracker, KhoserSource {
  /** Encoding name: `"xarray-512"` or `"xarray-4k"`. */
  readonly kind: "xarray-512" | "xarray-4k";
  /** Cost counters. */
  readonly counters: TrackerCounters;
  /** The memory holding the bitmaps. */
  readonly mem: PhysicalMemory;
  /** Kernel log for WARNs. */
  readonly log: KernelLog;
  /** Bitmap size in bytes. */
  readonly bitmapBytes: XarrayBitmapBytes;
  /** `PRESERVE_BITS`: bits per bitmap (4096 or 32768). */
  readonly preserveBits: number;
  /** The debug scratch check, if modelled (6.18+). */
  readonly scratchCheck?: ScratchCheck;
  /**
   * The current serialized chunk list (`preserved_mem_map`), set by {@link serialize} and
   * cleared by {@link freeSerialized}; null when none.
   */
  serializedList: KhoserList | null = null;
  readonly #alloc: MetadataPageAllocator;
  readonly #orders: (OrderXa | undefined)[] = [];
  readonly #slabPages = new Map<number, SlabPage>();
  /** Slab pages with a free object; allocation takes from the end (LIFO). */
  readonly #partial: SlabPage[] = [];
  readonly #perPage: number;
  readonly #fullMask: number;
  readonly #words32: number;
  readonly #bitsShift: number;
  readonly #bitsMask: number;
  /** The nodes the kernel's `orders` XArray would have. */
  readonly #ordersShape = new XaShape();
  /** The raw counters behind {@link counters}: every charge goes here ({@link settleOnAccess}). */
  readonly #c: TrackerCounters;
  #bitmaps = 0;

  /** The raw counters behind {@link counters}, which serialization charges. */
  get chargeCounters(): TrackerCounters {
    return this.#c;
  }

  /** An empty tracker. */
  constructor(options: XarrayTrackerOptions) {
    this.preserveBits = preserveBitsOf(options.bitmapBytes);
    this.bitmapBytes = options.bitmapBytes;
    this.kind = xarrayKind(options.bitmapBytes);
    this.mem = options.mem;
    this.#alloc = options.alloc;
    this.log = options.log;
    this.scratchCheck = options.scratchCheck;
    this.counters = options.counters ?? new TrackerCounters();
    this.#c = settleOnAccess(this.counters, this.#settle);
    this.#perPage = PAGE_SIZE / options.bitmapBytes;
    this.#fullMask = (1 << this.#perPage) - 1;
    this.#words32 = options.bitmapBytes / 4;
    this.#bitsShift = 31 - Math.clz32(this.preserveBits);
    this.#bitsMask = this.preserveBits - 1;
  }

  #checkArgs(pfn: number, order: number): void {
    if (
      !((order >>> 0) === order && order <= KHOSER_MAX_ORDER) ||
      !(pfn >= 0 && pfn < PFN_LIMIT && Math.floor(pfn) === pfn)
    ) {
      throw new KhoError("EINVAL", `invalid block pfn ${pfn} order ${order}`);
    }
  }

  /** The bitmap view of `(order, idx)`, or null. */
  #lookup(order: number, idx: number): Uint32Array | null {
    const xa = this.#orders[order];
    if (xa === undefined) return null;
    if (idx < xa.flat.length) return xa.flat[idx];
    return xa.far.get(idx) ?? null;
  }

  /**
   * `__kho_preserve_order(track, pfn, order)`: sets bit `(pfn >> order) % PRESERVE_BITS` of
   * bitmap `(pfn >> order) / PRESERVE_BITS` of `order`, creating the order's xarray and
   * allocating the bitmap when missing. Throws `KhoError` ENOMEM when the bitmap cannot be
   * allocated, and (with a scratch check) EINVAL after a WARN when the new bitmap lies in a
   * scratch area; the bitmap is then freed, so bitmaps, pages and bytes are as before. As in
   * the kernel, a newly created order xarray stays even then (it holds no bitmap; a later
   * serialization writes an empty chunk for it). Throws EINVAL for an order above 51 or a
   * pfn that is not a page frame below 2^53 bytes. The low `order` bits of `pfn` are dropped.
   */
  add(pfn: number, order: number): void {
    // the common preserve first: a pfn below 2^32 in an order there is, a flat bitmap (allocated
    // if missing), a bit not yet set; small, so V8 inlines it also where other trackers' `add`
    // share the call site
    if ((pfn >>> 0) === pfn && (order >>> 0) === order && order < 32) {
      const high = pfn >>> order;
      const idx = high >>> this.#bitsShift;
      const xa = this.#orders[order];
      if (xa !== undefined && idx < FLAT_MAX) {
        const bm = (idx < xa.flat.length ? xa.flat[idx] : null) ??
          this.#allocBitmap(xa, order, idx);
        const bit = high & this.#bitsMask, k = bit >>> 5, m = 1 << (bit & 31), w = bm[k];
        if ((w & m) === 0) {
          bm[k] = w | m; // counted from the bits when settled
          xa.dirty = true;
          return;
        }
      }
    }
    this.#addBlock(pfn, order);
  }

  /** {@link add} in general: a new order or bitmap, a far bitmap, a set bit, a wide pfn. */
  #addBlock(pfn: number, order: number): void {
    let idx: number, bit: number;
    if ((pfn >>> 0) === pfn && (order >>> 0) === order && order < 32) {
      // pfn below 2^32 (16 TiB): integer arithmetic
      const high = pfn >>> order;
      idx = high >>> this.#bitsShift;
      bit = high & this.#bitsMask;
    } else {
      this.#checkArgs(pfn, order);
      const high = Math.floor(pfn / POW2[order]);
      idx = Math.floor(high / this.preserveBits);
      bit = high - idx * this.preserveBits;
    }
    const xa = this.#orders[order] ?? this.#newOrder(order);
    let bm = idx < xa.flat.length ? xa.flat[idx] : (xa.far.get(idx) ?? null);
    if (bm === null) bm = this.#allocBitmap(xa, order, idx);
    // the path to the bitmap is charged arithmetically (see OrderXa.lines) when settled
    const k = bit >>> 5, m = 1 << (bit & 31), w = bm[k];
    if ((w & m) === 0 && idx < FLAT_MAX) {
      bm[k] = w | m; // a new bit of a flat bitmap: counted from the bits when settled
      xa.dirty = true;
    } else {
      bm[k] = w | m;
      xa.adds++;
      xa.extraLines += xaExtraLines(idx);
    }
  }

  /**
   * Settles the preserves' path charges into the counters: per order, the bits each flat
   * bitmap gained since the last settle (each a preserve: a preserve of a set bit, or of a
   * `far` bitmap, is counted in `adds` when made; a `del` lowers `settledBits` as it clears)
   * and `adds`, each a path of `lines` lines and `entries` slots plus its index's extra lines,
   * and one bitmap line written. Exact as long as nothing but this tracker writes its bitmaps,
   * as in the kernel. Runs before any counter is read or written ({@link settleOnAccess}),
   * before a path cost changes and before `destroy`; a full bitmap is not re-counted (it can
   * only gain bits after a `del`, which lowers its `settledBits`).
   */
  #settle = (): void => {
    const orders = this.#orders;
    const n32 = this.#words32, full = this.preserveBits;
    for (let o = 0; o < orders.length; o++) {
      const xa = orders[o];
      if (xa === undefined) continue;
      let adds = xa.adds, extraLines = xa.extraLines;
      xa.adds = 0;
      xa.extraLines = 0;
      if (xa.dirty) {
        xa.dirty = false;
        const flat = xa.flat, settled = xa.settledBits;
        for (let i = 0; i < flat.length; i++) {
          const bm = flat[i];
          if (bm === null || settled[i] === full) continue;
          let bits = 0;
          for (let k = 0; k < n32; k++) {
            const w = bm[k];
            if (w !== 0) bits += hweight32(w);
          }
          const n = bits - settled[i];
          if (n === 0) continue;
          settled[i] = bits;
          adds += n;
          extraLines += n * (i < 4096 ? EXTRA_LINES[i] : xaExtraLines(i));
        }
      }
      if (adds === 0) continue;
      const c = this.#c;
      c.cacheLinesRead += adds * xa.lines + extraLines;
      c.entriesVisited += adds * xa.entries;
      c.entriesFollowed += adds * xa.entries;
      c.pagesTouched += adds * (xa.entries + 1);
      c.cacheLinesWritten += adds;
    }
  };

  /**
   * The `kho_mem_phys` of a new order (`kzalloc` + `xa_cmpxchg` into `orders`): one node
   * allocated for it, the `orders` nodes its store creates, one pointer stored per node and
   * for the entry.
   */
  #newOrder(order: number): OrderXa {
    const xa: OrderXa = {
      flat: [],
      far: new Map(),
      phys: new Map(),
      shape: new XaShape(),
      bitmaps: 0,
      lines: 0,
      entries: 0,
      settledBits: new Int32Array(0),
      dirty: false,
      adds: 0,
      extraLines: 0,
    };
    for (let o = this.#orders.length; o < order; o++) this.#orders.push(undefined);
    this.#orders[order] = xa;
    const height = this.#ordersShape.height;
    const created = this.#ordersShape.store(order);
    const c = this.#c;
    c.nodesAllocated += 1 + created;
    c.cacheLinesWritten += 1 + created;
    if (this.#ordersShape.height !== height) {
      for (let o = 0; o < this.#orders.length; o++) {
        const other = this.#orders[o];
        if (other !== undefined) this.#pathCost(other, o);
      }
    } else {
      this.#pathCost(xa, order);
    }
    return xa;
  }

  /** Recomputes `xa`'s path cost (`OrderXa.lines`, `entries`) from both shapes. */
  #pathCost(xa: OrderXa, order: number): void {
    this.#settle();
    const ho = this.#ordersShape.height;
    const hb = xa.shape.height;
    xa.entries = ho + 1 + hb;
    xa.lines = (ho === 0 ? 0 : ho + xaExtraLines(order)) + 1 + hb + 1;
  }

  /**
   * Charges a lookup of `(order, idx)` that finds no bitmap (`xa_load` returning NULL on
   * either XArray): the `orders` descent, and where the order exists its `kho_mem_phys` and
   * the `phys_bits` descent, each to its first empty slot.
   */
  #chargeMiss(order: number, idx: number): void {
    const c = this.#c;
    const o = this.#ordersShape.load(order);
    let slots = o.slots, followed = o.followed, lines = o.lines, objects = o.nodes;
    const xa = this.#orders[order];
    if (xa !== undefined) {
      const b = xa.shape.load(idx);
      slots += 1 + b.slots; // the phys_bits head, then its nodes
      followed += b.followed + (xa.shape.count > 0 ? 1 : 0);
      lines += 1 + b.lines;
      objects += 1 + b.nodes;
    }
    c.entriesVisited += slots;
    c.entriesFollowed += followed;
    c.cacheLinesRead += lines;
    c.pagesTouched += objects;
  }

  /** Charges a lookup that found the bitmap of `(order, idx)` and cleared one of its bits. */
  #chargeHit(xa: OrderXa, idx: number): void {
    const c = this.#c;
    c.cacheLinesRead += xa.lines + xaExtraLines(idx);
    c.entriesVisited += xa.entries;
    c.entriesFollowed += xa.entries;
    c.pagesTouched += xa.entries + 1;
    c.cacheLinesWritten++;
  }

  /** Records bitmap `idx` of `xa` (growing the flat array as needed). */
  #store(xa: OrderXa, idx: number, view: Uint32Array, phys: number): void {
    if (idx < FLAT_MAX) {
      const flat = xa.flat;
      if (idx >= flat.length) {
        const want = Math.min(FLAT_MAX, Math.max(64, 2 ** Math.ceil(Math.log2(idx + 1))));
        while (flat.length < want) flat.push(null);
        const settled = new Int32Array(want);
        settled.set(xa.settledBits);
        xa.settledBits = settled;
      }
      flat[idx] = view;
    } else {
      xa.far.set(idx, view);
    }
    xa.phys.set(idx, phys);
  }

  /** `xa_load_or_alloc()` for a bitmap: kzalloc(512) from the slab, or get_zeroed_page. */
  #allocBitmap(xa: OrderXa, order: number, idx: number): Uint32Array {
    const c = this.#c;
    let page = this.#partial[this.#partial.length - 1];
    let fresh = false;
    if (page === undefined) {
      const phys = this.#alloc.allocZeroedPage(XARRAY_BITMAP_SITE);
      if (phys === null) {
        c.allocFailures++;
        this.#chargeMiss(order, idx);
        throw new KhoError(
          "ENOMEM",
          `cannot allocate a ${this.bitmapBytes}-byte KHO bitmap (order ${order} index ${idx})`,
        );
      }
      c.pagesAllocated++;
      checkAllocatedPage(phys, this.mem, this.#alloc, c);
      page = { phys, words: this.mem.writablePage(phys / PAGE_SIZE), used: 0 };
      this.#slabPages.set(phys, page);
      this.#partial.push(page);
      fresh = true;
    }
    const free = ~page.used & this.#fullMask;
    const slot = 31 - Math.clz32(free & -free);
    page.used |= 1 << slot;
    if (page.used === this.#fullMask) this.#partial.pop();
    const n = this.#words32;
    const view = this.#perPage === 1 ? page.words : page.words.subarray(slot * n, slot * n + n);
    if (!fresh) view.fill(0); // kzalloc of a recycled object
    const objPhys = page.phys + slot * this.bitmapBytes;
    if (this.scratchCheck !== undefined) {
      const area = this.scratchCheck(objPhys, this.bitmapBytes);
      if (area >= 0) {
        this.log.warn(
          "xa_load_or_alloc",
          `KHO bitmap ${hex(objPhys)} overlaps scratch area ${area}`,
        );
        this.#freeObject(page, slot);
        this.#chargeMiss(order, idx);
        throw new KhoError("EINVAL", `KHO bitmap ${hex(objPhys)} is in scratch area ${area}`);
      }
    }
    this.#store(xa, idx, view, objPhys);
    xa.bitmaps++;
    this.#bitmaps++;
    // xa_cmpxchg into phys_bits: the nodes it creates, a pointer stored per node and entry
    const height = xa.shape.height;
    const created = xa.shape.store(idx);
    c.nodesAllocated += created;
    c.cacheLinesWritten += 1 + created;
    if (xa.shape.height !== height) this.#pathCost(xa, order);
    return view;
  }

  #freeObject(page: SlabPage, slot: number): void {
    const wasFull = page.used === this.#fullMask;
    page.used &= ~(1 << slot);
    if (page.used === 0) {
      const i = this.#partial.indexOf(page);
      if (i >= 0) this.#partial.splice(i, 1);
      this.#slabPages.delete(page.phys);
      this.#alloc.freePage(page.phys);
      this.#c.pagesFreed++;
    } else if (wasFull) {
      this.#partial.push(page);
    }
  }

  /**
   * Unpreserves one block (`__kho_unpreserve_order`): clears its bit; frees nothing, even
   * when a bitmap becomes empty. A missing order or bitmap WARNs once
   * (`__kho_unpreserve`, as after the 6.17 fix) and returns. EINVAL on invalid arguments.
   */
  del(pfn: number, order: number): void {
    this.#checkArgs(pfn, order);
    const high = Math.floor(pfn / POW2[order]);
    const idx = Math.floor(high / this.preserveBits);
    const bit = high - idx * this.preserveBits;
    const bm = this.#lookup(order, idx);
    if (bm === null) {
      this.#chargeMiss(order, idx);
      this.log.warnOnOnce(
        "__kho_unpreserve",
        `block pfn ${hex(pfn)} order ${order} was not preserved`,
      );
      return;
    }
    this.#clearBit(this.#orders[order]!, idx, bm, bit);
  }

  /** Clears bit `bit` of bitmap `idx` of `xa` (a found bitmap) and charges the lookup. */
  #clearBit(xa: OrderXa, idx: number, bm: Uint32Array, bit: number): void {
    const k = bit >>> 5, m = 1 << (bit & 31), w = bm[k];
    bm[k] = w & ~m;
    // one bit fewer to compare with: a preserve not yet settled that set it stays counted,
    // and setting it again is a new bit (the count goes below zero for a moment then)
    if ((w & m) !== 0 && idx < FLAT_MAX) xa.settledBits[idx]--;
    this.#chargeHit(xa, idx);
  }

  /**
   * `__kho_unpreserve(track, pfn, end_pfn)`: unpreserves `[startPfn, endPfn)` split into
   * blocks of order `min(ctz(pfn), ilog2(end_pfn - pfn))` (ctz(0) = 64).
   *
   * - `bug6_16: true` replays 6.16: a missing order xarray or bitmap hits `continue`
   *   without advancing `pfn`, so the loop recomputes the same lookup forever. Nothing can
   *   change between iterations, so after `maxIterations` iterations without progress the
   *   loop is declared hung: a watchdog line is logged and {@link KhoHangError} is thrown
   *   (bits cleared before that point stay cleared, as in the kernel).
   * - `bug6_16: false` is the fix (b05addf6f059): WARN_ON_ONCE and return.
   */
  unpreserveRange(startPfn: number, endPfn: number, options: UnpreserveRangeOptions): void {
    const maxIterations = options.maxIterations ?? DEFAULT_MAX_ITERATIONS;
    if (!Number.isSafeInteger(maxIterations) || maxIterations < 1) {
      throw new RangeError(`maxIterations ${maxIterations} is not a positive integer`);
    }
    checkPfnRange(startPfn, endPfn);
    let pfn = startPfn;
    let stuck = 0;
    while (pfn < endPfn) {
      const order = Math.min(ctz(pfn), ilog2(endPfn - pfn));
      const high = Math.floor(pfn / POW2[order]);
      const idx = Math.floor(high / this.preserveBits);
      const bm = this.#lookup(order, idx);
      if (bm === null) {
        this.#chargeMiss(order, idx);
        if (!options.bug6_16) {
          this.log.warnOnOnce(
            "__kho_unpreserve",
            `pfn ${hex(pfn)} order ${order} was not preserved`,
          );
          return;
        }
        // `continue` without `pfn += 1 << order`
        if (++stuck >= maxIterations) {
          this.log.error(
            "watchdog",
            `BUG: soft lockup - CPU#0 stuck for 22s! [__kho_unpreserve pfn ${hex(pfn)}]`,
          );
          throw new KhoHangError(pfn, order, stuck);
        }
        continue;
      }
      this.#clearBit(this.#orders[order]!, idx, bm, high - idx * this.preserveBits);
      pfn += POW2[order];
    }
  }

  /**
   * `kho_preserve_phys()` in pfns: preserves `[startPfn, endPfn)` as blocks of order
   * `min(ctz(pfn), ilog2(end - pfn))`; on an error unpreserves the blocks already done
   * (`__kho_unpreserve(start, failed_pfn)`, which cannot hang: those blocks exist) and
   * rethrows it.
   */
  preserveRange(startPfn: number, endPfn: number): void {
    checkPfnRange(startPfn, endPfn);
    let pfn = startPfn;
    while (pfn < endPfn) {
      const order = Math.min(ctz(pfn), ilog2(endPfn - pfn), KHOSER_MAX_ORDER);
      try {
        this.add(pfn, order);
      } catch (e) {
        this.unpreserveRange(startPfn, pfn, { bug6_16: false });
        throw e;
      }
      pfn += POW2[order];
    }
  }

  /** Whether the block `(pfn, order)` is recorded (its bit is set). */
  isPreserved(pfn: number, order: number): boolean {
    this.#checkArgs(pfn, order);
    const high = Math.floor(pfn / POW2[order]);
    const idx = Math.floor(high / this.preserveBits);
    const bit = high - idx * this.preserveBits;
    const bm = this.#lookup(order, idx);
    return bm !== null && (bm[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  /** Bitmaps allocated (in all orders). */
  bitmapCount(): number {
    return this.#bitmaps;
  }

  /** Orders whose xarray exists, ascending (an order may hold no bitmap; see {@link add}). */
  orders(): number[] {
    const out: number[] = [];
    for (let o = 0; o < this.#orders.length; o++) if (this.#orders[o] !== undefined) out.push(o);
    return out;
  }

  /** The bitmaps of `order`, ascending by index (empty when the order is absent). */
  bitmaps(order: number): KhoserOrderBitmaps {
    const indices: number[] = [];
    const phys: number[] = [];
    const xa = this.#orders[order];
    if (xa === undefined) return { indices, phys };
    const flat = xa.flat;
    for (let idx = 0; idx < flat.length; idx++) {
      if (flat[idx] === null) continue;
      indices.push(idx);
      phys.push(xa.phys.get(idx)!);
    }
    for (const idx of [...xa.far.keys()].sort((a, b) => a - b)) {
      indices.push(idx);
      phys.push(xa.phys.get(idx)!);
    }
    return { indices, phys };
  }

  /**
   * Visits every set bit in ascending order, then bitmap index, then bit, reading the
   * bitmaps' bytes. A non-zero callback result stops the walk and is returned; 0 when
   * complete. Callbacks must not add to or delete from this tracker.
   */
  walk(cb: WalkCallback): number {
    return this.#walk(cb, null);
  }

  /** {@link walk} delivering a bitmap's blocks per call (buffer valid during the call). */
  walkBatched(cb: WalkBatchCallback): number {
    return this.#walk(null, cb);
  }

  #walk(cb: WalkCallback | null, batchCb: WalkBatchCallback | null): number {
    const c = this.#c;
    const n32 = this.#words32;
    const bits = this.preserveBits;
    const g = new WalkGuard<never>({ mem: this.mem }, c, "xarray", "");
    const pages = new Set<number>();
    g.run(cb as BlockCallback | null, batchCb, bits, () => {
      for (const order of this.orders()) {
        const { indices, phys } = this.bitmaps(order);
        const blockBytes = POW2[order + PAGE_SHIFT];
        for (let i = 0; i < indices.length; i++) {
          const pfn = Math.floor(phys[i] / PAGE_SIZE);
          if (!pages.has(pfn)) {
            pages.add(pfn);
            c.pagesTouched++;
          }
          c.entriesVisited++;
          c.entriesFollowed++;
          const w = this.#lookup(order, indices[i])!;
          const start = indices[i] * bits * blockBytes;
          if (!g.scanBitmap(w, 0, n32, start, blockBytes, order, 0, true)) return;
        }
      }
    });
    return g.stopped;
  }

  /** First chunk of the serialized list (`preserved-memory-map`), 0 when not serialized. */
  handoverRoot(): number {
    return this.serializedList?.firstChunkPhys ?? 0;
  }

  /** Pages holding bitmaps (slab pages for 512-byte bitmaps); chunk pages not included. */
  metadataPages(): number {
    return this.#slabPages.size;
  }

  /**
   * Bitmaps × bitmap size (a 512-byte bitmap counts 512 bytes); the XArray nodes and
   * `kho_mem_phys` objects are not counted (they are charged in `nodesAllocated`).
   */
  metadataBytes(): number {
    return this.#bitmaps * this.bitmapBytes;
  }

  /** Physical addresses of the pages holding bitmaps, ascending. */
  ownedPagesPhys(): number[] {
    return [...this.#slabPages.keys()].sort((a, b) => a - b);
  }

  /** Physical addresses of the serialized chunk pages, in list order (empty if none). */
  serializedPagesPhys(): number[] {
    return [...(this.serializedList?.chunkPagesPhys ?? [])];
  }

  /**
   * `kho_mem_serialize()` into chunk pages from `alloc` (default: the tracker's allocator);
   * see {@link serialize} in `khoser.ts`. Returns the first chunk's physical address.
   */
  serialize(options: SerializeOptions & { alloc?: MetadataPageAllocator }): number {
    return serialize(this, options.alloc ?? this.#alloc, options);
  }

  /** `kho_mem_ser_free()` of the serialized list, if any. */
  freeSerialized(): void {
    freeSerialized(this);
  }

  /**
   * 6.16 – 6.18 `kho_abort()`: frees every bitmap (slab pages or bitmap pages) and destroys
   * both xarray levels, then frees the serialized chunk list if there is one. The tracker is
   * empty and usable afterwards.
   */
  destroy(): void {
    this.#settle(); // the preserves made so far stay charged
    for (const phys of this.#slabPages.keys()) {
      this.#alloc.freePage(phys);
      this.#c.pagesFreed++;
    }
    this.#slabPages.clear();
    this.#partial.length = 0;
    this.#orders.length = 0;
    this.#ordersShape.clear();
    this.#bitmaps = 0;
    this.freeSerialized();
  }
}
