/**
 * The unified KHO radix tree (kho-v2 and later, `kernel/liveupdate/kexec_handover.c`):
 * the outgoing kernel's {@link RadixTree} and the successor's {@link IncomingRadixTree},
 * both working on the tree's real bytes in simulated physical memory.
 *
 * Layout (the ABI, byte-compatible with the kernel; constants and node layout in
 * `../abi/kexec_handover.ts`): every node is a zeroed 4 KiB page of 512 little-endian u64
 * physical addresses of children (0 = empty); levels 5 (root) .. 1 are such tables, entries
 * of level 1 point to leaves; a leaf is a 4 KiB page holding a 32768-bit Linux bitmap (bit i
 * in u64 word i/64 at bit i%64, so bit i is bit i%8 of byte i/8). A preserved block
 * `(pfn, order)` is the set bit of its key (see `radix_key.ts`). The successor finds the tree
 * from the root's physical address alone.
 *
 * The outgoing tree keeps a JavaScript shadow of its own nodes (the `phys_to_virt` side:
 * a 512-slot array per table holding child tables or the word views of leaf pages) so that
 * `add` costs five array loads; every change is written to the page bytes at the same time, and walks read the
 * bytes. While the tree is live its pages must only be written through word/byte writes of
 * `PhysicalMemory` (`writeU8`, `writeU64`, …), not replaced wholesale (`fill`, `zero`,
 * `writeBytes` of a whole page, `copy`), which would detach the cached views.
 *
 * Incoming validation policy ({@link walkRadixTree}):
 * - **Structural errors abort the walk** with a named {@link RadixWalkErrorReason}: a root
 *   that is 0, unaligned or not RAM; a table entry that is not page aligned or points
 *   outside RAM; an entry pointing to a page already visited in this walk (`"cycle"` when
 *   the page is on the current path, `"shared-node"` otherwise); a non-zero root entry at
 *   index ≥ 4, whose keys would have bits 53+ set and no valid order (`"key-out-of-range"`).
 *   Callbacks already made stay made (the kernel has no way to undo reservations either).
 * - **Bad leaf bits are rejected and skipped**: key 0 (no valid order) and bits whose block
 *   `[phys, phys + 2^(order+12))` is not entirely RAM. Each is counted in
 *   {@link RadixWalkResult.rejected}; the first few are logged with `pr_err`, then one
 *   summary line.
 * - Every page is visited at most once, so a walk costs O(pages reachable × 512) whatever
 *   the bytes say, and never reads outside physical memory.
 *
 * @module
 */

import { KhoError } from "../../errors.ts";
import { TrackerCorruptionError } from "./corruption.ts";
import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../units.ts";
import { TrackerCounters } from "./counters.ts";
import { type ChildReasons, WalkGuard, type WalkOutcome } from "./walk_guard.ts";
import { fls64 } from "./radix_key.ts";
import {
  KHO_LEAF_BIT_MASK,
  KHO_LEAF_BITS,
  KHO_MAX_KEY_ORDER,
  KHO_ORDER_0_LOG2,
  KHO_RADIX_ENTRY_SIZE,
  KHO_RADIX_LEVEL_SHIFTS,
  KHO_RADIX_NODE_SIZE,
  KHO_RADIX_ROOT_LEVEL,
  KHO_TABLE_ENTRIES,
  KHO_TABLE_INDEX_MASK,
  khoRadixSplitKey,
  khoRadixTableIndex,
} from "../abi/kexec_handover.ts";
import type {
  IncomingTracker,
  MetadataPageAllocator,
  OutgoingTracker,
  WalkBatchCallback,
  WalkCallback,
} from "./tracker.ts";

// The ABI's layout as module-local constants: V8 folds these into the hot paths below
// (imported bindings it loads on every use). The unrolled paths index levels 5..3 in the key's
// high u32 half, level 2 across both halves and level 1 in the low half
// (`khoRadixTableIndex`); tests/kho/abi/kexec_handover_test.ts pins the shifts.
const ROOT_LEVEL = KHO_RADIX_ROOT_LEVEL;
const MAX_KEY_ORDER = KHO_MAX_KEY_ORDER;
const ORDER_0_LOG2 = KHO_ORDER_0_LOG2;
const TABLE_ENTRIES = KHO_TABLE_ENTRIES;
const LEAF_BITS = KHO_LEAF_BITS;
const IDX = KHO_TABLE_INDEX_MASK;
const BIT = KHO_LEAF_BIT_MASK;
const L5_HI = KHO_RADIX_LEVEL_SHIFTS[5] - 32;
const L4_HI = KHO_RADIX_LEVEL_SHIFTS[4] - 32;
const L3_HI = KHO_RADIX_LEVEL_SHIFTS[3] - 32;
const L2_LO = KHO_RADIX_LEVEL_SHIFTS[2];
const L2_HI = 32 - L2_LO;
const L1_LO = KHO_RADIX_LEVEL_SHIFTS[1];
/** The order bit of order 0 in the key's high half (bit 20 of `hi`), and its value. */
const ORDER_0_HI = ORDER_0_LOG2 - 32;
const ORDER_0_HI_VALUE = 2 ** ORDER_0_HI;
/** u32 words of a table entry and of a leaf. */
const ENTRY_U32 = KHO_RADIX_ENTRY_SIZE / 4;
const LEAF_U32 = LEAF_BITS / 32;
const TWO32 = 4294967296;
/** Leaves of one order reachable by a `shifted >> 15` below 2^17 (shifted below 2^32). */
const LEAF_CACHE_ENTRIES = 2 ** (32 - L1_LO);

/** 2^i for i = 0..63, exact doubles. */
const POW2 = Float64Array.from({ length: 66 }, (_, i) => 2 ** i);
/** Key value of index 1 at level L (L = 1..5): 2^((L-1)*9+15). */
const LEVEL_UNIT = Float64Array.from(KHO_RADIX_LEVEL_SHIFTS, (s, l) => l === 0 ? 1 : 2 ** s);
/** Largest pfn whose key stays below 2^53 (phys < 2^53). */
const PFN_LIMIT = 2 ** (ORDER_0_LOG2 - 11);
/** Root entries at this index or above would give keys ≥ 2^53 (bits 53..59). */
const ROOT_INDEX_LIMIT = 2 ** (ORDER_0_LOG2 + 1 - KHO_RADIX_LEVEL_SHIFTS[ROOT_LEVEL]);
/** u64 words in a leaf page, lines in a leaf page. */
const U64_PER_PAGE = KHO_RADIX_NODE_SIZE / 8;
const LINES_PER_PAGE = KHO_RADIX_NODE_SIZE / 64;

/**
 * A table node of the outgoing tree's shadow: its 512 children by index (child tables, or
 * the word views of leaf pages at level 1; null = empty entry). One array load per level.
 */
type Table = (Table | Uint32Array | null)[];

/** What the tree knows about a table page besides its children. */
interface TableInfo {
  readonly phys: number;
  readonly words: Uint32Array;
}

/** Options of {@link RadixTree}. */
export interface RadixTreeOptions {
  /** The physical memory holding the tree's pages. */
  mem: PhysicalMemory;
  /** Source of node and leaf pages (`get_zeroed_page` / `free_page`). */
  alloc: MetadataPageAllocator;
  /** Kernel log receiving the tree's WARNs. */
  log: KernelLog;
  /**
   * Physical address of a zeroed root page allocated by the caller (as `kho_init()`
   * kzallocs it), or undefined / 0 for an uninitialised tree, on which every operation
   * WARNs and fails with EINVAL. The tree owns the root page from then on.
   */
  rootPhys?: number;
  /** Counters to use (default: a fresh set). */
  counters?: TrackerCounters;
}

/** A preserved block found by {@link RadixTree.findBlock}. */
export interface PreservedBlock {
  /** First page frame of the block. */
  readonly pfn: number;
  /** Order of the block. */
  readonly order: number;
}

/**
 * The outgoing kernel's radix tree of preserved memory (`kho_out.radix_tree`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RadixTree } from "./radix.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * const mem = new PhysicalMemory(2 ** 30);
 * let next = 2 ** 29;
 * const alloc = { allocZeroedPage: () => (next += 4096) - 4096, freePage: () => {} };
 * const tree = RadixTree.create({ mem, alloc, log: new KernelLog() });
 * tree.add(0x40000, 9); // a 2 MiB folio at 1 GiB
 * assert.equal(tree.metadataPages(), 6);
 * assert.equal(tree.isPreserved(0x40000, 9), true);
 * const seen: number[] = [];
 * tree.walk((phys, order) => (seen.push(phys, order), 0));
 * assert.deepEqual(seen, [2 ** 30, 9]);
 * ```
 */
export class RadixTree implements OutgoingTracker {
  /** Encoding name. */
  readonly kind = "radix";
  /** Cost counters. */
  readonly counters: TrackerCounters;
  /** The memory holding the tree. */
  readonly mem: PhysicalMemory;
  readonly #alloc: MetadataPageAllocator;
  readonly #log: KernelLog;
  #root: Table | null = null;
  #rootPhys = 0;
  /** Every owned page by physical address: tables and leaf word views. */
  readonly #pages = new Map<number, Table | Uint32Array>();
  /** Page and bytes of each table (slow paths only). */
  readonly #tables = new Map<Table, TableInfo>();
  readonly #idx = new Int32Array(ROOT_LEVEL + 1);
  /**
   * Leaves already linked, per order, by `shifted >> 15` for `shifted = pfn >> order` below
   * 2^32: a software TLB for {@link add}. Nodes are never freed while the tree lives (only
   * by {@link destroy}, which drops the cache), so an entry never goes stale. The cost
   * counters still charge the full six-level descent the kernel performs.
   */
  #leafCache: ((Uint32Array | null)[] | undefined)[] = new Array(ORDER_0_HI + 1).fill(undefined);

  /** Wraps a caller-allocated zeroed root page (or none: an uninitialised tree). */
  constructor(options: RadixTreeOptions) {
    this.mem = options.mem;
    this.#alloc = options.alloc;
    this.#log = options.log;
    this.counters = options.counters ?? new TrackerCounters();
    const rootPhys = options.rootPhys ?? 0;
    if (rootPhys !== 0) {
      this.#checkPagePhys(rootPhys, "root");
      if (!this.mem.isZeroPage(rootPhys / PAGE_SIZE)) {
        throw new KhoError("EINVAL", `radix root page 0x${rootPhys.toString(16)} is not zeroed`);
      }
      this.#root = this.#adoptTable(rootPhys);
      this.#rootPhys = rootPhys;
    }
  }

  /**
   * Allocates a zeroed root page from `alloc` (site `"kho_radix_root"`) and returns a tree
   * around it; throws `KhoError` ENOMEM when the allocation fails.
   */
  static create(options: Omit<RadixTreeOptions, "rootPhys">): RadixTree {
    const counters = options.counters ?? new TrackerCounters();
    const phys = options.alloc.allocZeroedPage("kho_radix_root");
    if (phys === null) {
      counters.allocFailures++;
      throw new KhoError("ENOMEM", "cannot allocate the KHO radix tree root");
    }
    counters.pagesAllocated++;
    if (phys === 0) {
      options.alloc.freePage(phys);
      counters.pagesFreed++;
      throw new RangeError("allocator returned page 0 for the radix root (0 means no root)");
    }
    return new RadixTree({ ...options, counters, rootPhys: phys });
  }

  #checkPagePhys(phys: number, what: string): void {
    if (
      phys === 0 || !Number.isSafeInteger(phys) || phys % PAGE_SIZE !== 0 ||
      !this.mem.contains(phys, PAGE_SIZE)
    ) {
      throw new RangeError(`radix ${what} page 0x${phys.toString(16)} is not a page of memory`);
    }
  }

  #adoptTable(phys: number): Table {
    const t: Table = new Array<Table | Uint32Array | null>(TABLE_ENTRIES).fill(null);
    this.#tables.set(t, { phys, words: this.mem.writablePage(phys / PAGE_SIZE) });
    this.#pages.set(phys, t);
    return t;
  }

  #adoptLeaf(phys: number): Uint32Array {
    const w = this.mem.writablePage(phys / PAGE_SIZE);
    this.#pages.set(phys, w);
    return w;
  }

  #uninitialised(callsite: string): never {
    this.#log.warnOnOnce(callsite, "KHO radix tree root is NULL");
    throw new KhoError("EINVAL", "KHO radix tree is not initialised");
  }

  #checkArgs(pfn: number, order: number): void {
    if (
      !((order >>> 0) === order && order <= MAX_KEY_ORDER) ||
      !(pfn >= 0 && pfn < PFN_LIMIT && Math.floor(pfn) === pfn)
    ) {
      throw new KhoError("EINVAL", `invalid block pfn ${pfn} order ${order}`);
    }
  }

  /** Key of `(pfn, order)`, split into `#idx`. */
  #split(pfn: number, order: number): void {
    const shifted = order === 0 ? pfn : Math.floor(pfn / POW2[order]);
    khoRadixSplitKey(POW2[ORDER_0_LOG2 - order] + shifted, this.#idx);
  }

  /**
   * `kho_radix_add_page(tree, pfn, order)`: sets the key's leaf bit, allocating missing
   * nodes top-down (site `"kho_radix_node"`). The low `order` bits of `pfn` are dropped, as
   * the kernel's key shift does. On an allocation failure every page allocated by this
   * call is freed and the anchor entry (the first one written) is reset to 0, so the tree's
   * bytes are exactly as before; then `KhoError` ENOMEM is thrown. Adding a present block
   * is a no-op. Throws EINVAL (after a WARN_ON_ONCE) on an uninitialised tree, and EINVAL
   * for an order outside 0..52 or a pfn that is not a page frame below 2^53 bytes.
   */
  add(pfn: number, order: number): void {
    const root = this.#root ?? this.#uninitialised("kho_radix_add_page");
    if (
      !((order >>> 0) === order && order <= MAX_KEY_ORDER) ||
      !(pfn >= 0 && pfn < PFN_LIMIT && Math.floor(pfn) === pfn)
    ) {
      this.#checkArgs(pfn, order);
    }
    // The key as two 32-bit halves, in integer arithmetic where possible.
    let lo: number, hi: number;
    if (order === 0) {
      lo = pfn >>> 0;
      hi = (ORDER_0_HI_VALUE + (pfn - lo) / 4294967296) | 0; // a literal divisor: a multiply
    } else {
      const shifted = Math.floor(pfn / POW2[order]);
      if (order <= ORDER_0_HI) {
        lo = shifted >>> 0;
        hi = (POW2[ORDER_0_HI - order] + (shifted - lo) / 4294967296) | 0;
      } else {
        lo = (shifted + POW2[ORDER_0_LOG2 - order]) >>> 0;
        hi = 0;
      }
    }
    const cacheable = order <= ORDER_0_HI && hi === POW2[ORDER_0_HI - order];
    if (cacheable) {
      const cache = this.#leafCache[order];
      const cached = cache === undefined ? null : cache[lo >>> L1_LO];
      if (cached !== null) {
        const bit = lo & BIT;
        cached[bit >>> 5] |= 1 << (bit & 31);
        const c = this.counters;
        c.entriesVisited += ROOT_LEVEL;
        c.entriesFollowed += ROOT_LEVEL;
        c.cacheLinesRead += ROOT_LEVEL + 1;
        c.pagesTouched += ROOT_LEVEL + 1;
        return;
      }
    }
    // Levels 5..1 unrolled; a missing entry hands over to the allocating slow path.
    let t = root;
    let k = t[(hi >>> L5_HI) & IDX];
    if (k === null) return this.#addSlow(t, 5, lo, hi, pfn, order);
    t = k as Table;
    k = t[(hi >>> L4_HI) & IDX];
    if (k === null) return this.#addSlow(t, 4, lo, hi, pfn, order);
    t = k as Table;
    k = t[(hi >>> L3_HI) & IDX];
    if (k === null) return this.#addSlow(t, 3, lo, hi, pfn, order);
    t = k as Table;
    k = t[((lo >>> L2_LO) | (hi << L2_HI)) & IDX];
    if (k === null) return this.#addSlow(t, 2, lo, hi, pfn, order);
    t = k as Table;
    const leaf = t[(lo >>> L1_LO) & IDX] as Uint32Array | null;
    if (leaf === null) return this.#addSlow(t, 1, lo, hi, pfn, order);
    const bit = lo & BIT;
    leaf[bit >>> 5] |= 1 << (bit & 31);
    if (cacheable) this.#cacheLeaf(order, lo >>> L1_LO, leaf);
    const c = this.counters;
    c.entriesVisited += ROOT_LEVEL;
    c.entriesFollowed += ROOT_LEVEL;
    c.cacheLinesRead += ROOT_LEVEL + 1;
    c.pagesTouched += ROOT_LEVEL + 1;
  }

  /**
   * The allocating part of {@link add}: the entry at `level` of table `anchor` is empty,
   * so every node below it is new. Mirrors the kernel: allocate, link and descend level by
   * level; on failure free the new pages and clear the anchor entry.
   */
  #addSlow(
    anchor: Table,
    level: number,
    lo: number,
    hi: number,
    pfn: number,
    order: number,
  ): void {
    const c = this.counters;
    const followed = ROOT_LEVEL - level;
    const fresh: number[] = [];
    let t = anchor;
    let leaf: Uint32Array | null = null;
    for (let l = level; l >= 1; l--) {
      const i = khoRadixTableIndex(l, lo, hi);
      const phys = this.#alloc.allocZeroedPage("kho_radix_node");
      if (phys === null) {
        c.allocFailures++;
        c.entriesVisited += ROOT_LEVEL - l + 1;
        c.entriesFollowed += followed;
        c.cacheLinesRead += ROOT_LEVEL - l + 1;
        c.pagesTouched += ROOT_LEVEL - l + 1;
        this.#rollback(fresh, anchor, khoRadixTableIndex(level, lo, hi));
        throw new KhoError(
          "ENOMEM",
          `cannot allocate a KHO radix node for pfn 0x${pfn.toString(16)} order ${order}`,
        );
      }
      c.pagesAllocated++;
      if (
        phys === 0 || !Number.isSafeInteger(phys) || phys % PAGE_SIZE !== 0 ||
        !this.mem.contains(phys, PAGE_SIZE)
      ) {
        this.#alloc.freePage(phys);
        c.pagesFreed++;
        this.#rollback(fresh, anchor, khoRadixTableIndex(level, lo, hi));
        throw new RangeError(`allocator returned 0x${phys.toString(16)}, not a page of memory`);
      }
      const words = this.#tables.get(t)!.words;
      words[ENTRY_U32 * i] = phys >>> 0;
      words[ENTRY_U32 * i + 1] = Math.floor(phys / TWO32);
      fresh.push(phys);
      if (l > 1) {
        const child = this.#adoptTable(phys);
        t[i] = child;
        t = child;
      } else {
        leaf = this.#adoptLeaf(phys);
        t[i] = leaf;
      }
    }
    const bit = lo & BIT;
    leaf![bit >>> 5] |= 1 << (bit & 31);
    if (order <= ORDER_0_HI && hi === POW2[ORDER_0_HI - order]) {
      this.#cacheLeaf(order, lo >>> L1_LO, leaf!);
    }
    c.entriesVisited += ROOT_LEVEL;
    c.entriesFollowed += followed;
    c.cacheLinesRead += ROOT_LEVEL + 1;
    c.pagesTouched += ROOT_LEVEL + 1;
  }

  #cacheLeaf(order: number, index: number, leaf: Uint32Array): void {
    let cache = this.#leafCache[order];
    if (cache === undefined) {
      cache = new Array(LEAF_CACHE_ENTRIES).fill(null);
      this.#leafCache[order] = cache;
    }
    cache[index] = leaf;
  }

  #rollback(fresh: number[], anchor: Table, anchorIdx: number): void {
    for (const phys of fresh) {
      const page = this.#pages.get(phys)!;
      if (!(page instanceof Uint32Array)) this.#tables.delete(page);
      this.#pages.delete(phys);
      this.#alloc.freePage(phys);
      this.counters.pagesFreed++;
    }
    const words = this.#tables.get(anchor)!.words;
    words[ENTRY_U32 * anchorIdx] = 0;
    words[ENTRY_U32 * anchorIdx + 1] = 0;
    anchor[anchorIdx] = null;
  }

  /** The leaf holding `(pfn, order)`'s key (bit in `#idx[0]`), or null. */
  #leafOf(root: Table, pfn: number, order: number): Uint32Array | null {
    this.#split(pfn, order);
    let t: Table | Uint32Array | null = root;
    for (let level = ROOT_LEVEL; level >= 1 && t !== null; level--) {
      t = (t as Table)[this.#idx[level]];
    }
    return t as Uint32Array | null;
  }

  /**
   * `kho_radix_del_page(tree, pfn, order)`: clears the key's leaf bit. A missing entry on
   * the path WARNs (`kho_radix_del_page`) and returns. No node is ever freed, even when it
   * becomes empty. On an uninitialised tree: WARN_ON_ONCE and return (the kernel function is
   * void). Invalid arguments throw EINVAL.
   */
  del(pfn: number, order: number): void {
    const root = this.#root;
    if (root === null) {
      this.#log.warnOnOnce("kho_radix_del_page", "KHO radix tree root is NULL");
      return;
    }
    this.#checkArgs(pfn, order);
    this.#split(pfn, order);
    const idx = this.#idx;
    const c = this.counters;
    let t: Table | Uint32Array = root;
    for (let level = ROOT_LEVEL; level >= 1; level--) {
      const k: Table | Uint32Array | null = (t as Table)[idx[level]];
      c.entriesVisited++;
      c.cacheLinesRead++;
      c.pagesTouched++;
      if (k === null) {
        this.#log.warn(
          "kho_radix_del_page",
          `no radix path for pfn 0x${pfn.toString(16)} order ${order} (level ${level})`,
        );
        return;
      }
      c.entriesFollowed++;
      t = k;
    }
    const bit = idx[0];
    (t as Uint32Array)[bit >>> 5] &= ~(1 << (bit & 31));
    c.cacheLinesRead++;
    c.pagesTouched++;
  }

  /**
   * `kho_radix_walk_tree`: calls `cb(phys, order)` for every set bit in ascending key
   * order (largest orders first, ascending addresses within an order), reading the tree's
   * bytes. A non-zero callback result stops the walk and is returned; 0 when complete.
   * Callbacks must not add to or delete from this tree (the kernel holds the tree lock).
   */
  walk(cb: WalkCallback): number {
    if (this.#root === null) this.#uninitialised("kho_radix_walk_tree");
    const r = walkRadixTree({
      mem: this.mem,
      rootPhys: this.#rootPhys,
      log: this.#log,
      counters: this.counters,
      checkBlocks: false,
    }, cb);
    if (!r.ok) throw new TrackerCorruptionError("radix tree", r);
    return r.stopped;
  }

  /** {@link walk} delivering a leaf's blocks at a time (see {@link walkRadixTreeBatched}). */
  walkBatched(cb: WalkBatchCallback): number {
    if (this.#root === null) this.#uninitialised("kho_radix_walk_tree");
    const r = walkRadixTreeBatched({
      mem: this.mem,
      rootPhys: this.#rootPhys,
      log: this.#log,
      counters: this.counters,
      checkBlocks: false,
    }, cb);
    if (!r.ok) throw new TrackerCorruptionError("radix tree", r);
    return r.stopped;
  }

  /** Physical address of the root page (`preserved-memory-map`), 0 when uninitialised. */
  handoverRoot(): number {
    return this.#rootPhys;
  }

  /** Pages owned by the tree: root, tables and leaves. */
  metadataPages(): number {
    return this.#pages.size;
  }

  /** Bytes owned by the tree. */
  metadataBytes(): number {
    return this.#pages.size * PAGE_SIZE;
  }

  /** Physical addresses of the owned pages, ascending. */
  ownedPagesPhys(): number[] {
    return [...this.#pages.keys()].sort((a, b) => a - b);
  }

  /** Whether the block `(pfn, order)` is recorded (its key's bit is set). */
  isPreserved(pfn: number, order: number): boolean {
    if (this.#root === null) return false;
    this.#checkArgs(pfn, order);
    const leaf = this.#leafOf(this.#root, pfn, order);
    if (leaf === null) return false;
    const bit = this.#idx[0];
    return (leaf[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  /**
   * The largest preserved block containing page frame `pfn` (orders 52 down to 0 are
   * tried), or null when no preserved block covers it.
   */
  findBlock(pfn: number): PreservedBlock | null {
    if (this.#root === null) return null;
    for (let order = MAX_KEY_ORDER; order >= 0; order--) {
      const start = Math.floor(pfn / POW2[order]) * POW2[order];
      if (this.isPreserved(start, order)) return { pfn: start, order };
    }
    return null;
  }

  /**
   * The preserved blocks that cover `[pfn, pfn + nrPages)` in address order, or null if some
   * page of the range is not covered (the KUnit helper `kho_test_pages_preserved` asks
   * this question).
   */
  coveringBlocks(pfn: number, nrPages: number): PreservedBlock[] | null {
    const out: PreservedBlock[] = [];
    const end = pfn + nrPages;
    let p = pfn;
    while (p < end) {
      const b = this.findBlock(p);
      if (b === null) return null;
      out.push(b);
      p = b.pfn + POW2[b.order];
    }
    return out;
  }

  /**
   * Frees every page of the tree, the root included, through the allocator; the tree is
   * uninitialised afterwards.
   */
  destroy(): void {
    for (const phys of this.#pages.keys()) {
      this.#alloc.freePage(phys);
      this.counters.pagesFreed++;
    }
    this.#pages.clear();
    this.#tables.clear();
    this.#leafCache = new Array(ORDER_0_HI + 1).fill(undefined);
    this.#root = null;
    this.#rootPhys = 0;
  }
}

// ------------------------------------------------------------------------------------------
// Incoming side: walking from bytes with validation.

/** Why a walk of handed-over radix bytes was aborted. */
export type RadixWalkErrorReason =
  /** The root address is 0 (`preserved-memory-map` = 0 → -EINVAL). */
  | "root-null"
  /** The root address is not page aligned. */
  | "root-unaligned"
  /** The root page is not RAM. */
  | "root-outside-ram"
  /** A table entry is not page aligned. */
  | "entry-unaligned"
  /** A table entry points to a page that is not RAM. */
  | "entry-outside-ram"
  /** A table entry points to a page on the current path (itself or an ancestor). */
  | "cycle"
  /** A table entry points to a page already visited elsewhere in this walk. */
  | "shared-node"
  /** A non-zero root entry at index ≥ 4 (keys with bits 53..59 set have no valid order). */
  | "key-out-of-range";

/** The outcome of {@link walkRadixTree}. */
export interface RadixWalkResult extends Readonly<WalkOutcome<RadixWalkErrorReason>> {
  /** Table pages scanned (root included). */
  readonly tablesVisited: number;
  /** Leaf pages scanned. */
  readonly leavesVisited: number;
}

/** Options of {@link walkRadixTree} and {@link IncomingRadixTree}. */
export interface RadixReaderOptions {
  /** Physical memory as the successor sees it. */
  mem: PhysicalMemory;
  /** Root physical address from `preserved-memory-map`. */
  rootPhys: number;
  /** Whether `[phys, phys + size)` is entirely RAM (default: inside `mem`). */
  isRam?: (phys: number, size: number) => boolean;
  /** Log for rejected entries and errors (default: none). */
  log?: KernelLog;
  /** Counters to charge (default: a fresh set). */
  counters?: TrackerCounters;
  /** Rejected entries logged individually before a "suppressed" line (default 8). */
  rejectLogLimit?: number;
  /**
   * Check every leaf bit's block against RAM and reject bad ones (default true). The
   * outgoing kernel's own walk passes false: it reports every set bit, as the kernel does.
   */
  checkBlocks?: boolean;
  /**
   * The walk's table callback ("kho: add callback for table pages", 2026; kho-facts §9.6):
   * called with the physical address of every page of the tree itself — each table, the root
   * first, and each leaf — before its entries, in the walk's pre-order. What it throws ends
   * the walk.
   */
  onTable?: (phys: number) => void;
}

const CHILD_REASONS: ChildReasons<RadixWalkErrorReason> = {
  unaligned: "entry-unaligned",
  outside: "entry-outside-ram",
  cycle: "cycle",
  shared: "shared-node",
};

class Walker extends WalkGuard<RadixWalkErrorReason> {
  readonly cb: WalkCallback;
  /** Batch mode: blocks of one leaf are delivered together through this callback. */
  readonly batchCb: WalkBatchCallback | null;
  batchBuf: Float64Array | null = null;
  readonly checkBlocks: boolean;
  readonly onTable: ((phys: number) => void) | null;
  tables = 0;
  leaves = 0;

  constructor(
    o: RadixReaderOptions,
    cb: WalkCallback | null,
    batchCb: WalkBatchCallback | null,
    counters: TrackerCounters,
  ) {
    super(o, counters, "radix tree", "radix: ");
    this.batchCb = batchCb;
    this.cb = cb ?? ((phys, order) => {
      const buf = this.batchBuf!;
      buf[0] = phys;
      return batchCb!(buf, 1, order);
    });
    this.checkBlocks = o.checkBlocks ?? true;
    this.onTable = o.onTable ?? null;
  }

  /** Scans table page `phys` at `level`; false when the walk must end. */
  table(phys: number, level: number, prefix: number): boolean {
    if (this.onTable !== null) this.onTable(phys);
    const w = this.words(phys / PAGE_SIZE);
    this.tables++;
    this.path.push(phys);
    const unit = LEVEL_UNIT[level];
    let i = 0;
    let followed = 0;
    let go = true;
    for (; i < TABLE_ENTRIES; i++) {
      const lo = w[ENTRY_U32 * i], hi = w[ENTRY_U32 * i + 1];
      if ((lo | hi) === 0) continue;
      if (level === ROOT_LEVEL && i >= ROOT_INDEX_LIMIT) {
        go = this.fail("key-out-of-range", `root entry ${i} is set`);
        break;
      }
      const child = this.child(
        lo,
        hi,
        () => `entry ${i} of level-${level} table 0x${phys.toString(16)}`,
        CHILD_REASONS,
      );
      if (child < 0) {
        go = false;
        break;
      }
      followed++;
      const p = prefix + i * unit;
      go = level === 1 ? this.leaf(child, p) : this.table(child, level - 1, p);
      if (!go) break;
    }
    const seen = i < TABLE_ENTRIES ? i + 1 : TABLE_ENTRIES;
    this.c.entriesVisited += seen;
    this.c.entriesFollowed += followed;
    this.c.cacheLinesRead += Math.ceil(seen / 8);
    this.c.pagesTouched++;
    this.path.pop();
    return go;
  }

  /** Scans leaf page `phys` whose bit 0 has key `prefix`; false when the walk must end. */
  leaf(phys: number, prefix: number): boolean {
    if (this.onTable !== null) this.onTable(phys);
    const w = this.words(phys / PAGE_SIZE);
    this.leaves++;
    let u = 0; // u32 word index
    let go = true;
    if (prefix === 0) {
      const stopAt = this.leafSlow(w);
      go = stopAt < 0;
      u = go ? LEAF_U32 : stopAt;
    } else {
      const fls = fls64(prefix);
      const order = ORDER_0_LOG2 + 1 - fls;
      const blockBytes = POW2[PAGE_SHIFT + order];
      const base = (prefix - POW2[fls - 1]) * blockBytes;
      const allRam = !this.checkBlocks || this.ram(base, LEAF_BITS * blockBytes);
      if (this.batchCb !== null) {
        const stopAt = this.leafBatch(w, base, blockBytes, order, allRam);
        go = stopAt < 0;
        u = go ? LEAF_U32 : stopAt;
      } else {
        const cb = this.cb;
        let calls = 0;
        for (; u < LEAF_U32; u++) {
          let x = w[u] | 0;
          if (x === 0) continue;
          const wordBase = base + u * 32 * blockBytes;
          do {
            const t = x & -x;
            x ^= t;
            const pa = wordBase + (31 - Math.clz32(t)) * blockBytes;
            if (!allRam && !this.ram(pa, blockBytes)) {
              this.reject(pa, order, "not entirely RAM");
              continue;
            }
            calls++;
            const r = cb(pa, order);
            if (r) {
              this.stopped = r;
              go = false;
              break;
            }
          } while (x !== 0);
          if (!go) break;
        }
        this.blocks += calls;
        this.c.callbacks += calls;
      }
    }
    const words64 = go ? U64_PER_PAGE : (u >>> 1) + 1;
    this.c.bitmapWordsScanned += words64;
    this.c.cacheLinesRead += go ? LINES_PER_PAGE : Math.ceil(words64 / 8);
    this.c.pagesTouched++;
    return go;
  }

  /**
   * Batch mode of {@link leaf}: gathers the leaf's valid blocks into the batch buffer and
   * delivers them in one call. Returns the last word index when that call stopped the walk (the whole leaf
   * was scanned), else -1.
   */
  leafBatch(
    w: Uint32Array,
    base: number,
    blockBytes: number,
    order: number,
    allRam: boolean,
  ): number {
    const buf = this.batchBuf!;
    let n = 0;
    for (let u = 0; u < LEAF_U32; u++) {
      let x = w[u] | 0;
      if (x === 0) continue;
      const wordBase = base + u * 32 * blockBytes;
      if (x === -1 && allRam) {
        // a full word (dense preservation): 32 consecutive blocks
        for (let b = 0; b < 32; b++) buf[n++] = wordBase + b * blockBytes;
        continue;
      }
      do {
        const t = x & -x;
        x ^= t;
        const pa = wordBase + (31 - Math.clz32(t)) * blockBytes;
        if (!allRam && !this.ram(pa, blockBytes)) {
          this.reject(pa, order, "not entirely RAM");
          continue;
        }
        buf[n++] = pa;
      } while (x !== 0);
    }
    if (n === 0) return -1;
    this.blocks += n;
    this.c.callbacks += n;
    const r = this.batchCb!(buf, n, order);
    if (r) {
      this.stopped = r;
      return LEAF_U32 - 1;
    }
    return -1;
  }

  /**
   * The leaf whose prefix is 0: each bit b is the key b itself (orders 52..38). Returns the
   * u32 word index where a callback stopped the walk, or -1 when the leaf was completed.
   */
  leafSlow(w: Uint32Array): number {
    for (let u = 0; u < LEAF_U32; u++) {
      const x = w[u];
      if (x === 0) continue;
      for (let b = 0; b < 32; b++) {
        if ((x & (1 << b)) === 0) continue;
        const key = u * 32 + b;
        if (key === 0) {
          this.reject(0, ORDER_0_LOG2 + 1, "key 0 has no order");
          continue;
        }
        const fls = 32 - Math.clz32(key);
        const order = ORDER_0_LOG2 + 1 - fls;
        const blockBytes = POW2[PAGE_SHIFT + order];
        const pa = (key - POW2[fls - 1]) * blockBytes;
        if (this.checkBlocks && !this.ram(pa, blockBytes)) {
          this.reject(pa, order, "not entirely RAM");
          continue;
        }
        this.blocks++;
        this.c.callbacks++;
        const r = this.cb(pa, order);
        if (r) {
          this.stopped = r;
          return u;
        }
      }
    }
    return -1;
  }
}

/**
 * Walks handed-over radix tree bytes from `rootPhys`, calling `cb(phys, order)` for every
 * valid preserved block in ascending key order, with the validation policy of this module
 * (structural errors abort with a named reason; bad leaf bits are rejected and skipped).
 * Never throws for corrupted bytes; exceptions thrown by `cb` propagate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walkRadixTree } from "./radix.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * mem.writeU64(0x1000, 0x1000); // a root whose entry 0 points to itself
 * const r = walkRadixTree({ mem, rootPhys: 0x1000 }, () => 0);
 * assert.ok(!r.ok);
 * assert.equal(r.error, "cycle");
 * ```
 */
export function walkRadixTree(options: RadixReaderOptions, cb: WalkCallback): RadixWalkResult {
  return runWalk(options, cb, null);
}

/**
 * {@link walkRadixTree} delivering blocks a leaf at a time: `cb(phys, count, order)` gets
 * the addresses of up to 32768 valid blocks of one order in ascending order, in a buffer
 * valid only during the call. Same validation, order, counters (one callback counted per
 * block) and stop rule (a non-zero result stops the walk after that batch). Much faster
 * than per-block callbacks in JavaScript when the consumer can loop itself.
 */
export function walkRadixTreeBatched(
  options: RadixReaderOptions,
  cb: WalkBatchCallback,
): RadixWalkResult {
  return runWalk(options, null, cb);
}

let sharedBatchBuf: Float64Array | null = new Float64Array(LEAF_BITS);

function runWalk(
  options: RadixReaderOptions,
  cb: WalkCallback | null,
  batchCb: WalkBatchCallback | null,
): RadixWalkResult {
  const counters = options.counters ?? new TrackerCounters();
  const w = new Walker(options, cb, batchCb, counters);
  let borrowed = false;
  if (batchCb !== null) {
    // one shared buffer; a walk started from inside a batch callback gets its own
    borrowed = sharedBatchBuf !== null;
    w.batchBuf = sharedBatchBuf ?? new Float64Array(LEAF_BITS);
    sharedBatchBuf = null;
  }
  try {
    const root = options.rootPhys;
    if (root === 0) {
      w.fail("root-null", "preserved-memory-map is 0");
    } else if (!Number.isSafeInteger(root) || root < 0) {
      w.fail("root-outside-ram", `root ${root}`);
    } else if (root % PAGE_SIZE !== 0) {
      w.fail("root-unaligned", `root 0x${root.toString(16)}`);
    } else if (!w.ram(root, PAGE_SIZE)) {
      w.fail("root-outside-ram", `root 0x${root.toString(16)}`);
    } else {
      w.visited.add(root);
      w.table(root, ROOT_LEVEL, 0);
    }
  } finally {
    if (borrowed) sharedBatchBuf = w.batchBuf;
  }
  return w.outcome(`radix`, { tablesVisited: w.tables, leavesVisited: w.leaves });
}

/**
 * The successor kernel's view of a handed-over radix tree: a root physical address and the
 * memory's bytes, nothing else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IncomingRadixTree } from "./radix.ts";
 * import { TrackerCorruptionError } from "./corruption.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * const tree = new IncomingRadixTree({ mem, rootPhys: 0 });
 * assert.throws(
 *   () => tree.walk(() => 0),
 *   (e) => e instanceof TrackerCorruptionError && e.reason === "root-null",
 * );
 * ```
 */
export class IncomingRadixTree implements IncomingTracker {
  /** Encoding name. */
  readonly kind = "radix";
  /** Cost counters, charged by every walk. */
  readonly counters: TrackerCounters;
  readonly #options: RadixReaderOptions;

  /** A reader for the tree at `options.rootPhys`. */
  constructor(options: RadixReaderOptions) {
    this.counters = options.counters ?? new TrackerCounters();
    this.#options = { ...options, counters: this.counters };
  }

  /** Physical address of the root being read. */
  get rootPhys(): number {
    return this.#options.rootPhys;
  }

  /**
   * Walks the valid blocks; returns the stopping callback result or 0. Throws
   * {@link TrackerCorruptionError} (a `KhoError` EINVAL) on a structural error.
   */
  walk(cb: WalkCallback): number {
    const r = this.walkChecked(cb);
    if (!r.ok) throw new TrackerCorruptionError("radix tree", r);
    return r.stopped;
  }

  /** Walks and returns the full {@link RadixWalkResult}; never throws for corruption. */
  walkChecked(cb: WalkCallback): RadixWalkResult {
    return walkRadixTree(this.#options, cb);
  }

  /**
   * {@link walk} with a leaf at a time delivered to `cb` (see {@link walkRadixTreeBatched}).
   * Throws {@link TrackerCorruptionError} on a structural error.
   */
  walkBatched(cb: WalkBatchCallback): number {
    const r = walkRadixTreeBatched(this.#options, cb);
    if (!r.ok) throw new TrackerCorruptionError("radix tree", r);
    return r.stopped;
  }
}
