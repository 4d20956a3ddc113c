/**
 * The RFC v1 "Make KHO Stateless" tracker (Jason Miu, 2025-09-16, never merged): per-order
 * page tables rooted in a `struct kho_order_table`, modelled byte for byte as posted.
 *
 * Layout (4 KiB pages, all little-endian u64; defined once in `../abi/rfc_order_table.ts`):
 * - `struct kho_order_table { unsigned long orders[HUGETLB_PAGE_ORDER + 1]; }` — 10 slots
 *   (orders 0..9) at the start of a `kzalloc(PAGE_SIZE)` page, each the physical address of
 *   that order's top `kho_page_table` (0 = none). Its address is the FDT property
 *   {@link KHO_ORDER_TABLE_PROP} (`preserved-order-table`); the compatible stayed `"kho-v1"`.
 * - `struct kho_page_table { unsigned long tables[512]; }` — descriptors (physical addresses
 *   of the next table, low 12 bits zero). Level 2 entries point to bitmap tables.
 * - `struct kho_bitmap_table` — 32768 bits covering `2^(27 + order)` bytes
 *   (`BITMAP_TABLE_SHIFT(o) = PAGE_SHIFT + PAGE_SHIFT + 3 + o`).
 * - Depth per order: {@link khoTableLevel} `= ceil((64 - (27 + o)) / 9) + 1` (6 for order 0,
 *   5 for orders 1..9, 4 for orders 10..18). Index at level L ≥ 2:
 *   `(pa >> (27 + o + 9 * (L - 2))) & 511`; in the bitmap, with `pa` masked to the table's
 *   range: word `pa >> (18 + o)`, bit `(pa >> (12 + o)) & 63`, i.e. Linux bitmap bit
 *   `(pa >> (12 + o)) & 32767`.
 *
 * Behaviours reproduced from the posted code (`__kho_preserve_page_table`,
 * `kho_mem_deserialize`), all of them documented findings:
 * - **Orders without a slot.** `__kho_preserve_page_table` indexes `orders[order]` with no
 *   bound. An order-10 block (MAX_PAGE_ORDER, e.g. from `kho_preserve_phys` of an aligned
 *   4 MiB range) or an order-18 1 GiB folio writes its top-table address into the order
 *   table page *beyond slot 9* (byte `8 * order`: 80 for order 10, 144 for order 18); the
 *   page is a whole kzalloc'd page, so nothing else is overwritten, the add succeeds and
 *   its tables are built, but the successor's loop reads slots 0..9 only: **the block is
 *   silently lost across kexec.** {@link OrderTableWalkResult.ignoredSlots} counts such
 *   slots (a diagnostic the posted kernel does not have).
 * - **No ENOMEM rollback.** Each new table is linked as soon as it is allocated; a failed
 *   allocation returns -ENOMEM leaving the tables allocated earlier in the same call linked
 *   and empty (no leak, no dangling entry, but the tracker is not as before the call — a
 *   deviation from the {@link OutgoingTracker.add} contract). `kho_preserve_phys` in the
 *   same series also dropped the old unpreserve-on-failure loop, so blocks preserved before
 *   the failing one stay preserved (engine level, not modelled here).
 * - **Empty slots walk physical page 0.** The successor calls
 *   `kho_walk_page_tables(kho_page_table(orders[i]), ...)` where `kho_page_table(0)` is
 *   `phys_to_virt(0)`, which is not NULL on x86_64, so the `if (top)` test never skips an
 *   empty slot: page 0 is read as that order's top table. Harmless when page 0 is zero;
 *   with the BIOS IVT there it descends into garbage. [DERIVED from the posted code.]
 *   {@link OrderTableReaderOptions.emptySlot} selects `"walk-page-0"` (posted, default of
 *   the reader) or `"skip"`.
 * - **Stop rule.** In the posted walk a positive callback result ends only the current
 *   bitmap, a negative one the current order, and `kho_mem_deserialize` ignores both; its
 *   only callback (`kho_memblock_reserve`) always returns 0. This module uses the tracker
 *   convention (any non-zero result stops the walk and is returned).
 * - RFC v1 has no unpreserve; {@link OrderTableTracker.del} is an extension for the
 *   tracker interface (clears the bit, frees nothing).
 *
 * Incoming validation ({@link walkOrderTable}) follows `radix.ts`: structural errors abort
 * with a named {@link OrderTableWalkErrorReason}, leaf bits whose block is not RAM are
 * rejected and skipped, every page is visited at most once (page 0 in `"walk-page-0"` mode
 * may be the top table of several orders), so the work is bounded by the reachable pages.
 *
 * @module
 */

import { KhoError } from "../../errors.ts";
import { TrackerCorruptionError } from "./corruption.ts";
import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../units.ts";
import { TrackerCounters } from "./counters.ts";
import {
  TREE_CHILD_REASONS,
  type TreeWalkErrorReason,
  WalkGuard,
  type WalkGuardOptions,
  type WalkOutcome,
} from "./walk_guard.ts";
import {
  checkAllocatedPage,
  isPagePhys,
  type MetadataPageAllocator,
  type OutgoingTracker,
  type TrackerHost,
  type WalkCallback,
} from "./tracker.ts";
import {
  KHO_BITMAP_TABLE_BITS,
  KHO_ORDER_TABLE_PROP,
  KHO_ORDER_TABLE_SLOT_SIZE,
  KHO_ORDER_TABLE_SLOTS,
  KHO_PAGE_TABLE_ENTRIES,
  KHO_PAGE_TABLE_ENTRY_SIZE,
  khoPageTableLevelShift,
  khoTableLevel,
} from "../abi/rfc_order_table.ts";

/** Largest order the model accepts (a pfn shifted by more has no bits left). */
export const KHO_ORDER_TABLE_MAX_ORDER = 52;
/** Allocation site of the order table page (`kzalloc(PAGE_SIZE)` in `kho_init`). */
export const SITE_ORDER_TABLE = "kho_order_table";
/** Allocation site of page and bitmap tables (`kho_alloc_page_table`). */
export const SITE_PAGE_TABLE = "kho_page_table";

// The RFC's layout as module-local constants (V8 folds these; imported bindings it loads).
const SLOTS = KHO_ORDER_TABLE_SLOTS;
const SLOT_U32 = KHO_ORDER_TABLE_SLOT_SIZE / 4;
const ENTRIES = KHO_PAGE_TABLE_ENTRIES;
const IDX = KHO_PAGE_TABLE_ENTRIES - 1;
const ENTRY_U32 = KHO_PAGE_TABLE_ENTRY_SIZE / 4;
const BITMAP_BITS = KHO_BITMAP_TABLE_BITS;
const BITMAP_U32 = KHO_BITMAP_TABLE_BITS / 32;
/** Slot-sized words in the whole order-table page (slots past the struct included). */
const PAGE_SLOTS = PAGE_SIZE / KHO_ORDER_TABLE_SLOT_SIZE;

const TWO32 = 4294967296;
const POW2 = Float64Array.from({ length: 128 }, (_, i) => 2 ** i);
/** 2^-i, exact. */
const INV2 = Float64Array.from({ length: 128 }, (_, i) => 2 ** -i);
const PFN_LIMIT = 2 ** 41;
const ADDR_LIMIT = 2 ** 53;
const LEVELS = Int32Array.from(
  { length: KHO_ORDER_TABLE_MAX_ORDER + 1 },
  (_, o) => khoTableLevel(o),
);

/** Shadow of a page table: children by index (tables, or bitmap word views at level 2). */
type PTable = (PTable | Uint32Array | null)[];

/** Options of {@link OrderTableTracker}. */
export interface OrderTableOptions extends Omit<TrackerHost, "scratchCheck"> {
  /** Physical address of a zeroed order-table page allocated by the caller. */
  rootPhys: number;
  /** Counters to use (default: a fresh set). */
  counters?: TrackerCounters;
}

/**
 * The outgoing kernel's RFC v1 tracker: an order table page plus one radix of page tables
 * per order, written to simulated physical memory as the posted code lays it out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OrderTableTracker } from "./order_table.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * const mem = new PhysicalMemory(2 ** 30);
 * let next = 2 ** 29;
 * const alloc = { allocZeroedPage: () => (next += 4096) - 4096, freePage: () => {} };
 * const t = OrderTableTracker.create({ mem, alloc, log: new KernelLog() });
 * t.add(0x200, 9); // a 2 MiB block: order table + 4 tables + 1 bitmap
 * assert.equal(t.metadataPages(), 6);
 * assert.equal(t.isPreserved(0x200, 9), true);
 * t.add(0x400, 10); // no slot for order 10: written past slot 9, never walked
 * const seen: number[] = [];
 * t.walk((phys, order) => (seen.push(phys, order), 0));
 * assert.deepEqual(seen, [0x200000, 9]);
 * ```
 */
export class OrderTableTracker implements OutgoingTracker {
  /** Encoding name. */
  readonly kind = "order-table";
  /** Cost counters. */
  readonly counters: TrackerCounters;
  /** The memory holding the tables. */
  readonly mem: PhysicalMemory;
  readonly #alloc: MetadataPageAllocator;
  readonly #log: KernelLog;
  readonly #rootPhys: number;
  readonly #rootWords: Uint32Array;
  /** Top table of each order (index = order, up to 52: beyond slot 9 as posted). */
  readonly #slots: (PTable | null)[] = new Array(KHO_ORDER_TABLE_MAX_ORDER + 1).fill(null);
  readonly #pages = new Map<number, PTable | Uint32Array>();
  readonly #words = new Map<PTable, Uint32Array>();
  #destroyed = false;

  /** Wraps a caller-allocated zeroed order-table page (as `kho_init` kzallocs it). */
  constructor(options: OrderTableOptions) {
    this.mem = options.mem;
    this.#alloc = options.alloc;
    this.#log = options.log;
    this.counters = options.counters ?? new TrackerCounters();
    const phys = options.rootPhys;
    if (!isPagePhys(phys, this.mem)) {
      throw new RangeError(`order table page 0x${phys.toString(16)} is not a page of memory`);
    }
    if (!this.mem.isZeroPage(phys / PAGE_SIZE)) {
      throw new KhoError("EINVAL", `order table page 0x${phys.toString(16)} is not zeroed`);
    }
    this.#rootPhys = phys;
    this.#rootWords = this.mem.writablePage(phys / PAGE_SIZE);
    this.#pages.set(phys, this.#rootWords);
  }

  /**
   * Allocates the zeroed order table from `alloc` (site {@link SITE_ORDER_TABLE}) and returns
   * a tracker around it; throws `KhoError` ENOMEM when that fails (`kho_init` fails).
   */
  static create(options: Omit<OrderTableOptions, "rootPhys">): OrderTableTracker {
    const counters = options.counters ?? new TrackerCounters();
    const phys = options.alloc.allocZeroedPage(SITE_ORDER_TABLE);
    if (phys === null) {
      counters.allocFailures++;
      throw new KhoError("ENOMEM", "cannot allocate the KHO order table");
    }
    counters.pagesAllocated++;
    return new OrderTableTracker({ ...options, counters, rootPhys: phys });
  }

  #checkArgs(pfn: number, order: number): void {
    if (
      !((order >>> 0) === order && order <= KHO_ORDER_TABLE_MAX_ORDER) ||
      !(pfn >= 0 && pfn < PFN_LIMIT && Math.floor(pfn) === pfn)
    ) {
      throw new KhoError("EINVAL", `invalid block pfn ${pfn} order ${order}`);
    }
    if (this.#destroyed) throw new KhoError("EINVAL", "KHO order table was destroyed");
  }

  #allocTable(pfn: number, order: number): number {
    const phys = this.#alloc.allocZeroedPage(SITE_PAGE_TABLE);
    if (phys === null) {
      this.counters.allocFailures++;
      throw new KhoError(
        "ENOMEM",
        `cannot allocate a KHO page table for pfn 0x${pfn.toString(16)} order ${order}`,
      );
    }
    this.counters.pagesAllocated++;
    checkAllocatedPage(phys, this.mem, this.#alloc, this.counters);
    return phys;
  }

  #adoptTable(phys: number): PTable {
    const t: PTable = new Array<PTable | Uint32Array | null>(ENTRIES).fill(null);
    this.#words.set(t, this.mem.writablePage(phys / PAGE_SIZE));
    this.#pages.set(phys, t);
    return t;
  }

  /**
   * `__kho_preserve_page_table(PFN_PHYS(pfn), order)` as posted: allocates the order's top
   * table if `orders[order]` is 0 (for orders ≥ 10 that slot lies past the struct, in the
   * same page), then each missing table on the path (site {@link SITE_PAGE_TABLE}), linking
   * each as soon as it exists, and sets the block's bitmap bit. Low `order` bits of `pfn` are
   * dropped. On an allocation failure throws `KhoError` ENOMEM **without rollback**: tables
   * allocated earlier in the call stay linked. EINVAL for an order outside 0..52 or a pfn
   * that is not a page frame below 2^53 bytes.
   */
  add(pfn: number, order: number): void {
    this.#checkArgs(pfn, order);
    const c = this.counters;
    const levels = LEVELS[order];
    let top = this.#slots[order];
    c.entriesVisited++;
    c.cacheLinesRead++;
    if (top === null) {
      const phys = this.#allocTable(pfn, order);
      const w = this.#rootWords;
      w[SLOT_U32 * order] = phys >>> 0;
      w[SLOT_U32 * order + 1] = Math.floor(phys / TWO32);
      c.cacheLinesWritten++;
      top = this.#adoptTable(phys);
      this.#slots[order] = top;
    } else {
      c.entriesFollowed++;
    }
    let t = top;
    let touched = 2;
    for (let level = levels; level > 1; level--) {
      const s = khoPageTableLevelShift(level, order) - PAGE_SHIFT;
      const idx = s >= 64 ? 0 : Math.floor(pfn * INV2[s]) & IDX;
      const k = t[idx];
      c.entriesVisited++;
      c.cacheLinesRead++;
      touched++;
      if (k !== null) {
        c.entriesFollowed++;
        if (level === 2) return this.#setBit(k as Uint32Array, pfn, order, touched);
        t = k as PTable;
        continue;
      }
      const phys = this.#allocTable(pfn, order);
      const w = this.#words.get(t)!;
      w[ENTRY_U32 * idx] = phys >>> 0;
      w[ENTRY_U32 * idx + 1] = Math.floor(phys / TWO32);
      c.cacheLinesWritten++;
      if (level === 2) {
        const bm = this.mem.writablePage(phys / PAGE_SIZE);
        this.#pages.set(phys, bm);
        t[idx] = bm;
        return this.#setBit(bm, pfn, order, touched);
      }
      const child = this.#adoptTable(phys);
      t[idx] = child;
      t = child;
    }
    // kho_table_level() is 1 only for orders ≥ 37: the top "table" is the bitmap itself.
    const bm = this.#words.get(top)!;
    this.#setBit(bm, pfn, order, touched);
  }

  #setBit(bm: Uint32Array, pfn: number, order: number, touched: number): void {
    const bit = Math.floor(pfn * INV2[order]) & (BITMAP_BITS - 1);
    bm[bit >>> 5] |= 1 << (bit & 31);
    this.counters.cacheLinesRead++;
    this.counters.cacheLinesWritten++;
    this.counters.pagesTouched += touched;
  }

  /** The bitmap page view and bit of `(pfn, order)`, or null when the path is missing. */
  #locate(pfn: number, order: number, warnSite: string | null): [Uint32Array, number] | null {
    const c = this.counters;
    const top = this.#slots[order];
    c.entriesVisited++;
    c.cacheLinesRead++;
    c.pagesTouched++;
    let k: PTable | Uint32Array | null = top;
    const levels = LEVELS[order];
    let level = levels;
    for (; level > 1 && k !== null; level--) {
      c.entriesFollowed++;
      const s = khoPageTableLevelShift(level, order) - PAGE_SHIFT;
      const idx = s >= 64 ? 0 : Math.floor(pfn * INV2[s]) & IDX;
      k = (k as PTable)[idx];
      c.entriesVisited++;
      c.cacheLinesRead++;
      c.pagesTouched++;
    }
    if (k === null) {
      if (warnSite !== null) {
        this.#log.warn(
          warnSite,
          `no order table path for pfn 0x${pfn.toString(16)} order ${order} (level ${level})`,
        );
      }
      return null;
    }
    c.entriesFollowed++;
    const bm = levels === 1 ? this.#words.get(k as PTable)! : k as Uint32Array;
    return [bm, Math.floor(pfn * INV2[order]) & (BITMAP_BITS - 1)];
  }

  /**
   * Extension (RFC v1 has no unpreserve): clears the block's bitmap bit; a missing path
   * WARNs (callsite `"kho_order_table_del"`) and returns. No table is ever freed.
   */
  del(pfn: number, order: number): void {
    this.#checkArgs(pfn, order);
    const at = this.#locate(pfn, order, "kho_order_table_del");
    if (at === null) return;
    const [bm, bit] = at;
    bm[bit >>> 5] &= ~(1 << (bit & 31));
    this.counters.cacheLinesRead++;
    this.counters.cacheLinesWritten++;
  }

  /** Whether the block's bit is set (whatever its order, even one the successor ignores). */
  isPreserved(pfn: number, order: number): boolean {
    this.#checkArgs(pfn, order);
    const at = this.#locate(pfn, order, null);
    if (at === null) return false;
    const [bm, bit] = at;
    return (bm[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  /** The u64 at slot `order` of the order table page (for orders ≥ 10: past the struct). */
  slotPhys(order: number): number {
    return this.mem.readU64(this.#rootPhys + KHO_ORDER_TABLE_SLOT_SIZE * order);
  }

  /**
   * Visits the blocks the successor would find, reading the bytes: orders 0..9 in
   * ascending order, ascending addresses within an order. Blocks of orders ≥ 10 are not
   * visited (they have no slot). Empty slots are skipped (the outgoing side never walked
   * its tables in RFC v1; use {@link walkOrderTable} for the posted page-0 behaviour).
   */
  walk(cb: WalkCallback): number {
    const r = walkOrderTable({
      mem: this.mem,
      rootPhys: this.#rootPhys,
      log: this.#log,
      counters: this.counters,
      checkBlocks: false,
      emptySlot: "skip",
    }, cb);
    if (!r.ok) throw new TrackerCorruptionError("order table", r);
    return r.stopped;
  }

  /** Physical address of the order table (`preserved-order-table`). */
  handoverRoot(): number {
    return this.#destroyed ? 0 : this.#rootPhys;
  }

  /** Pages owned: the order table, page tables and bitmap tables. */
  metadataPages(): number {
    return this.#pages.size;
  }

  /** Bytes owned. */
  metadataBytes(): number {
    return this.#pages.size * PAGE_SIZE;
  }

  /** Physical addresses of owned pages, ascending. */
  ownedPagesPhys(): number[] {
    return [...this.#pages.keys()].sort((a, b) => a - b);
  }

  /** Frees every page, the order table included; the tracker is unusable afterwards. */
  destroy(): void {
    for (const phys of this.#pages.keys()) {
      this.#alloc.freePage(phys);
      this.counters.pagesFreed++;
    }
    this.#pages.clear();
    this.#words.clear();
    this.#slots.fill(null);
    this.#destroyed = true;
  }
}

// ------------------------------------------------------------------------------------------
// Incoming side.

/**
 * Why a walk of handed-over order-table bytes was aborted: the tree readers' reasons
 * ({@link TreeWalkErrorReason}; `root-null` is `preserved-order-table` = 0, where the posted
 * kernel silently returns; a slot is checked as an entry; `shared-node` also across orders),
 * or a non-zero entry whose address range starts at or beyond 2^53 (e.g. level-6 index 1).
 */
export type OrderTableWalkErrorReason = TreeWalkErrorReason | "address-out-of-range";

/** Outcome of {@link walkOrderTable}. */
export interface OrderTableWalkResult extends Readonly<WalkOutcome<OrderTableWalkErrorReason>> {
  /** Page tables scanned (the order table not included). */
  readonly tablesVisited: number;
  /** Bitmap tables scanned. */
  readonly bitmapsVisited: number;
  /**
   * Non-zero u64 words past slot 9 of the order table page (slots of orders ≥ 10 written by
   * the unbounded `orders[order]`): blocks the successor silently loses. Diagnostic only.
   */
  readonly ignoredSlots: number;
}

/** Options of {@link walkOrderTable}. */
export interface OrderTableReaderOptions extends WalkGuardOptions {
  /** Order table address from `preserved-order-table`. */
  rootPhys: number;
  /** Check every bit's block against RAM (default true; the outgoing walk passes false). */
  checkBlocks?: boolean;
  /**
   * What an empty slot means: `"walk-page-0"` (default, as posted: `phys_to_virt(0)` is not
   * NULL, so physical page 0 is walked as that order's top table, without a RAM check,
   * as the kernel reads it through the direct map) or `"skip"`.
   */
  emptySlot?: "walk-page-0" | "skip";
}

class OtWalker extends WalkGuard<OrderTableWalkErrorReason> {
  readonly checkBlocks: boolean;
  tables = 0;
  bitmaps = 0;

  constructor(readonly o: OrderTableReaderOptions, counters: TrackerCounters) {
    super(o, counters, "order table", "order table: ");
    this.checkBlocks = o.checkBlocks ?? true;
  }

  /** Scans the table at `phys`, level `level` ≥ 2 of an `order` tree; false to end. */
  table(phys: number, level: number, order: number, prefix: number): boolean {
    const w = this.words(phys / PAGE_SIZE);
    this.tables++;
    this.path.push(phys);
    const shift = khoPageTableLevelShift(level, order);
    const unit = POW2[shift];
    let i = 0, followed = 0, go = true;
    for (; i < ENTRIES; i++) {
      const lo = w[ENTRY_U32 * i], hi = w[ENTRY_U32 * i + 1];
      if ((lo | hi) === 0) continue;
      const at = () => `entry ${i} of order-${order} level-${level} table 0x${phys.toString(16)}`;
      const start = prefix + i * unit;
      if (start >= ADDR_LIMIT) {
        go = this.fail("address-out-of-range", `${at()} covers 2^${shift} × ${i}`);
        break;
      }
      const child = this.child(lo, hi, at, TREE_CHILD_REASONS);
      if (child < 0) {
        go = false;
        break;
      }
      followed++;
      go = level === 2
        ? this.bitmap(child, order, start)
        : this.table(child, level - 1, order, start);
      if (!go) break;
    }
    this.tableDone(i < ENTRIES ? i + 1 : ENTRIES, followed);
    return go;
  }

  /** Scans the bitmap at `phys` whose bit 0 is address `base`; false to end. */
  bitmap(phys: number, order: number, base: number): boolean {
    const w = this.words(phys / PAGE_SIZE);
    this.bitmaps++;
    this.c.pagesTouched++;
    const blockBytes = POW2[PAGE_SHIFT + order];
    const allRam = !this.checkBlocks || this.ram(base, BITMAP_BITS * blockBytes);
    return this.scanBitmap(w, 0, BITMAP_U32, base, blockBytes, order, 0, allRam);
  }

  /** Walks the order table at `root` (already validated). */
  slots(root: number, emptySlot: "walk-page-0" | "skip"): void {
    const w = this.words(root / PAGE_SIZE);
    this.c.pagesTouched++;
    this.path.push(root);
    for (let order = 0; order < SLOTS; order++) {
      const lo = w[SLOT_U32 * order], hi = w[SLOT_U32 * order + 1];
      this.c.entriesVisited++;
      this.c.cacheLinesRead += (order & 7) === 0 ? 1 : 0;
      let top: number;
      if ((lo | hi) === 0) {
        if (emptySlot === "skip") continue;
        // phys_to_virt(0) is not NULL: page 0 is walked as this order's top table (it may
        // be the top table of several orders; pages below it are still visited once)
        top = 0;
      } else {
        top = this.child(
          lo,
          hi,
          () => `slot ${order} of order table 0x${root.toString(16)}`,
          TREE_CHILD_REASONS,
        );
        if (top < 0) return;
        this.c.entriesFollowed++;
      }
      const levels = LEVELS[order];
      const go = levels === 1 ? this.bitmap(top, order, 0) : this.table(top, levels, order, 0);
      if (!go) return;
    }
  }
}

/**
 * Walks handed-over order-table bytes as `kho_mem_deserialize` does: slots 0..9 in
 * ascending order, each order's tree recursively, calling `cb(phys, order)` for every valid
 * preserved block (ascending addresses within an order), with the validation policy of this
 * module. Never throws for corrupted bytes; exceptions thrown by `cb` propagate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walkOrderTable } from "./order_table.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * mem.writeU64(0x1000 + 8 * 3, 0x1000); // slot 3 points to the order table itself
 * const r = walkOrderTable({ mem, rootPhys: 0x1000 }, () => 0);
 * assert.ok(!r.ok);
 * assert.equal(r.error, "cycle");
 * ```
 */
export function walkOrderTable(
  options: OrderTableReaderOptions,
  cb: WalkCallback,
): OrderTableWalkResult {
  const counters = options.counters ?? new TrackerCounters();
  const w = new OtWalker(options, counters);
  const root = options.rootPhys;
  let ignoredSlots = 0;
  if (w.treeRoot(root, "order table", `${KHO_ORDER_TABLE_PROP} is 0`)) {
    const words = w.words(root / PAGE_SIZE);
    for (let i = SLOTS; i < PAGE_SLOTS; i++) {
      if ((words[SLOT_U32 * i] | words[SLOT_U32 * i + 1]) !== 0) ignoredSlots++;
    }
    w.run(cb, null, 0, () => w.slots(root, options.emptySlot ?? "walk-page-0"));
  }
  return w.outcome(`order table`, {
    tablesVisited: w.tables,
    bitmapsVisited: w.bitmaps,
    ignoredSlots,
  });
}
