/**
 * The KHO radix tree (kho-v2 and later, `kernel/liveupdate/kexec_handover.c`): one six-level
 * core over 60-bit keys — the outgoing kernel's {@link RadixTree} and the successor's walk
 * ({@link walkRadixTree}), both on the tree's real bytes in simulated physical memory — with
 * the key computed by a codec (`radix_codecs.ts`): the kernel's one-hot order key, or a
 * proposal's. The kernel's tree is this core with {@link ONE_HOT_CODEC} plus the fast paths
 * its benchmarks need (an unrolled descent on key halves, a per-order leaf cache, a walk that
 * hands over a leaf's blocks at a time).
 *
 * Layout (the ABI, byte-compatible with the kernel; constants and node layout in
 * `../abi/kexec_handover.ts`): every node is a zeroed 4 KiB page of 512 little-endian u64
 * physical addresses of children (0 = empty); levels 5 (root) .. 1 are such tables, entries
 * of level 1 point to leaves; a leaf is a 4 KiB page holding a 32768-bit Linux bitmap (bit i
 * in u64 word i/64 at bit i%64, so bit i is bit i%8 of byte i/8). A preserved block is the
 * set bit of its key: leaf bit = key bits 0..14, level L's index = key bits
 * `(L-1)*9+15 .. +23`; bits 60..63 are never indexed. The successor finds the tree from the
 * root's physical address alone.
 *
 * Two ways in: the page API of mainline and the proposals (`add` / `addTyped`, the codec
 * encodes; a key's bits 60..63 are dropped by the index extraction, as `kho_radix_add_page`
 * does — how the page-type RFC as posted loses its type) and the generalized key API of the
 * 2026 series (`addKey` / `delKey`: the caller encodes, keys wider than
 * `KHO_RADIX_KEY_WIDTH` = 60 bits are rejected — "kho: disallow wide keys in radix tree";
 * the errno, ERANGE here, is unverified).
 *
 * The outgoing tree keeps a JavaScript shadow of its own nodes (the `phys_to_virt` side: a
 * 512-slot array per table holding child tables or the word views of leaf pages) so that an
 * add costs five array loads; every change is written to the page bytes at the same time, and
 * walks read the bytes. While the tree is live its pages must only be written through
 * word/byte writes of `PhysicalMemory` (`writeU8`, `writeU64`, …), not replaced wholesale
 * (`fill`, `zero`, `writeBytes` of a whole page, `copy`), which would detach the cached views.
 *
 * Incoming validation policy ({@link walkRadixTree}):
 * - **Structural errors abort the walk** with a named {@link RadixWalkErrorReason}: a root
 *   that is 0, unaligned or not RAM; a table entry that is not page aligned or points
 *   outside RAM; an entry pointing to a page already visited in this walk (`"cycle"` when
 *   the page is on the current path, `"shared-node"` otherwise); a non-zero root entry the
 *   codec says can hold no key (one-hot: index ≥ 4, whose keys would have bits 53+ set and
 *   no valid order: `"key-out-of-range"`). Callbacks already made stay made (the kernel has
 *   no way to undo reservations either).
 * - **Bad leaf bits are rejected and skipped**: bits with no valid key (one-hot key 0) and
 *   bits whose block `[phys, phys + 2^(order+12))` is not entirely RAM. Each is counted in
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
import { settleOnAccess, TrackerCounters } from "./counters.ts";
import {
  type BlockCallback,
  hexU64,
  TREE_CHILD_REASONS,
  type TreeWalkErrorReason,
  WalkGuard,
  type WalkGuardOptions,
  type WalkOutcome,
} from "./walk_guard.ts";
import {
  type DecodedTypedKey,
  ONE_HOT_CODEC,
  type RadixKeyCodec,
  type TypedWalkCallback,
} from "./radix_codecs.ts";
import {
  KHO_LEAF_BIT_MASK,
  KHO_LEAF_BITS,
  KHO_ORDER_0_LOG2,
  KHO_RADIX_ENTRY_SIZE,
  KHO_RADIX_KEY_WIDTH,
  KHO_RADIX_LEVEL_SHIFTS,
  KHO_RADIX_NODE_SIZE,
  KHO_RADIX_ROOT_LEVEL,
  KHO_TABLE_ENTRIES,
  KHO_TABLE_INDEX_MASK,
  khoRadixTableIndex,
} from "../abi/kexec_handover.ts";
import { KHO_PAGE_CONTIG, KHO_PAGE_SPLIT, type KhoPageType } from "../abi/rfc_page_type.ts";
import {
  isPagePhys,
  type MetadataPageAllocator,
  type OutgoingTracker,
  type TrackerHost,
  type WalkBatchCallback,
} from "./tracker.ts";

// The ABI's layout as module-local constants: V8 folds these into the hot paths below
// (imported bindings it loads on every use). The unrolled paths index levels 5..3 in the key's
// high u32 half, level 2 across both halves and level 1 in the low half
// (`khoRadixTableIndex`); tests/kho/abi/kexec_handover_test.ts pins the shifts.
const ROOT_LEVEL = KHO_RADIX_ROOT_LEVEL;
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
/** Keys of the key API: the high half stays below this (60 indexed bits). */
const KEY_HI_LIMIT = 2 ** (KHO_RADIX_KEY_WIDTH - 32);
/** u32 words of a table entry and of a leaf. */
const ENTRY_U32 = KHO_RADIX_ENTRY_SIZE / 4;
const LEAF_U32 = LEAF_BITS / 32;
const TWO32 = 4294967296;
/** Leaves of one order reachable by a `shifted >> 15` below 2^17 (shifted below 2^32). */
const LEAF_CACHE_ENTRIES = 2 ** (32 - L1_LO);
/**
 * Adds of an order that go down the tree before the order gets its leaf cache (128 Ki
 * entries): a tree holding a few blocks of each order — a small kernel's — never pays for it.
 */
const LEAF_CACHE_AFTER = 4;
type LeafCache = (Uint32Array | null)[];

/** No leaf cache for any order yet. */
function newLeafCache(): (LeafCache | undefined)[] {
  return new Array(ORDER_0_HI + 1).fill(undefined);
}

/** 2^i for i = 0..63, exact doubles. */
const POW2 = Float64Array.from({ length: 66 }, (_, i) => 2 ** i);
/** Largest pfn whose block starts below 2^53 bytes. */
const PFN_LIMIT = 2 ** (ORDER_0_LOG2 - 11);
/** u64 words in a leaf page. */
const U64_PER_PAGE = KHO_RADIX_NODE_SIZE / 8;

/**
 * A table node of the outgoing tree's shadow: its 512 children by index (child tables, or
 * the word views of leaf pages at level 1; null = empty entry). One array load per level.
 */
type Table = (Table | Uint32Array | null)[];

/** Options of {@link RadixTree}. */
export interface RadixTreeOptions extends Omit<TrackerHost, "scratchCheck"> {
  /** The key encoding (default {@link ONE_HOT_CODEC}, the kernel's). */
  codec?: RadixKeyCodec;
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
 * The outgoing kernel's radix tree of preserved memory (`kho_out.radix_tree`), with the
 * kernel's keys or a codec's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RadixTree } from "./radix.ts";
 * import { JGG_CODEC } from "./radix_codecs.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * const mem = new PhysicalMemory(2 ** 31);
 * let next = 2 ** 30;
 * const alloc = { allocZeroedPage: () => (next += 4096) - 4096, freePage: () => {} };
 * const tree = RadixTree.create({ mem, alloc, log: new KernelLog() });
 * tree.add(0x40000, 9); // a 2 MiB folio at 1 GiB
 * assert.equal(tree.metadataPages(), 6);
 * assert.equal(tree.isPreserved(0x40000, 9), true);
 * const seen: number[] = [];
 * tree.walk((phys, order) => (seen.push(phys, order), 0));
 * assert.deepEqual(seen, [2 ** 30, 9]);
 * const jgg = RadixTree.create({ codec: JGG_CODEC, mem, alloc, log: new KernelLog() });
 * jgg.add(0x40000, 18);
 * jgg.add(0x1000, 0);
 * const orders: number[] = [];
 * jgg.walk((_, order) => (orders.push(order), 0));
 * assert.deepEqual(orders, [0, 18]); // the root is indexed by order: ascending
 * ```
 */
export class RadixTree implements OutgoingTracker {
  /** Encoding name: the codec's kind (`"radix"` for the kernel's). */
  readonly kind: string;
  /** The key encoding. */
  readonly codec: RadixKeyCodec;
  /** Cost counters. */
  readonly counters: TrackerCounters;
  /** The memory holding the tree. */
  readonly mem: PhysicalMemory;
  readonly #alloc: MetadataPageAllocator;
  readonly #log: KernelLog;
  /** Whether the codec is the kernel's: `add` takes the one-hot fast path. */
  readonly #oneHot: boolean;
  #root: Table | null = null;
  #rootPhys = 0;
  /** Every owned page by physical address: tables and leaf word views. */
  readonly #pages = new Map<number, Table | Uint32Array>();
  /** Page words of each table. */
  readonly #words = new Map<Table, Uint32Array>();
  /** The key being added or looked up, as u32 halves. */
  readonly #key = new Uint32Array(2);
  /**
   * One-hot only: leaves already linked, per order, by `shifted >> 15` for
   * `shifted = pfn >> order` below 2^32 — a software TLB for {@link add}. Nodes are never
   * freed while the tree lives (only by {@link destroy}, which drops the cache), so an entry
   * never goes stale. The cost counters still charge the full six-level descent.
   */
  #leafCache: (LeafCache | undefined)[] = newLeafCache();
  /** The raw counters behind {@link counters}: every charge goes here ({@link settleOnAccess}). */
  readonly #c: TrackerCounters;
  /** Adds through the leaf cache not yet charged (each a whole descent, {@link #chargeDescent}). */
  #cachedAdds = 0;
  /** Adds per order that went down the tree while it had no cache. */
  #leavesLinked = new Int32Array(ORDER_0_HI + 1);

  /** Wraps a caller-allocated zeroed root page (or none: an uninitialised tree). */
  constructor(options: RadixTreeOptions) {
    this.codec = options.codec ?? ONE_HOT_CODEC;
    this.kind = this.codec.kind;
    this.#oneHot = this.codec === ONE_HOT_CODEC;
    this.mem = options.mem;
    this.#alloc = options.alloc;
    this.#log = options.log;
    this.counters = options.counters ?? new TrackerCounters();
    this.#c = settleOnAccess(this.counters, this.#settle);
    const rootPhys = options.rootPhys ?? 0;
    if (rootPhys !== 0) {
      if (!isPagePhys(rootPhys, this.mem)) {
        throw new RangeError(`radix root page 0x${rootPhys.toString(16)} is not a page of memory`);
      }
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

  #adoptTable(phys: number): Table {
    const t: Table = new Array<Table | Uint32Array | null>(TABLE_ENTRIES).fill(null);
    this.#words.set(t, this.mem.writablePage(phys / PAGE_SIZE));
    this.#pages.set(phys, t);
    return t;
  }

  #uninitialised(callsite: string): never {
    this.#log.warnOnOnce(callsite, "KHO radix tree root is NULL");
    throw new KhoError("EINVAL", "KHO radix tree is not initialised");
  }

  /** The codec's key of `(pfn, order, type)` into `#key`; EINVAL on bad arguments. */
  #encode(pfn: number, order: number, type: number): void {
    if (
      !((order >>> 0) === order && order <= this.codec.maxOrder) ||
      !(pfn >= 0 && pfn < PFN_LIMIT && Math.floor(pfn) === pfn) ||
      !(type === KHO_PAGE_CONTIG || (type === KHO_PAGE_SPLIT && this.codec.typed))
    ) {
      throw new KhoError("EINVAL", `invalid block pfn ${pfn} order ${order} type ${type}`);
    }
    this.codec.encode(pfn, order, type as KhoPageType, this.#key);
  }

  /**
   * `kho_radix_add_page(tree, pfn, order)`: sets the key's leaf bit, allocating missing
   * nodes top-down (site `"kho_radix_node"`). The low `order` bits of `pfn` are dropped, as
   * the kernel's key shift does. On an allocation failure every page allocated by this call
   * is freed and the anchor entry (the first one written) is reset to 0 (`err_free_nodes`),
   * so the tree's bytes are exactly as before; then `KhoError` ENOMEM is thrown. Adding a
   * present block is a no-op. Throws EINVAL (after a WARN_ON_ONCE) on an uninitialised tree,
   * and EINVAL for an order beyond the codec's or a pfn that is not a page frame below 2^53
   * bytes. A typed codec records the block as CONTIG.
   */
  add(pfn: number, order: number): void {
    // the common preserve first: one page below 16 TiB whose leaf is cached (only the one-hot
    // descent below caches leaves); small, so V8 inlines it also where other trackers' `add`
    // share the call site
    if (order === 0 && (pfn >>> 0) === pfn) {
      const cache = this.#leafCache[0];
      if (cache !== undefined) {
        const cached = cache[pfn >>> L1_LO];
        if (cached !== null) {
          const bit = pfn & BIT;
          cached[bit >>> 5] |= 1 << (bit & 31);
          this.#cachedAdds++; // charged as #chargeDescent(ROOT_LEVEL) when settled
          return;
        }
      }
    }
    this.#addBlock(pfn, order);
  }

  /** {@link add} for any block: the key's halves, the leaf cache, else the descent. */
  #addBlock(pfn: number, order: number): void {
    if (!this.#oneHot) return this.addTyped(pfn, order, KHO_PAGE_CONTIG);
    const root = this.#root ?? this.#uninitialised("kho_radix_add_page");
    if (
      !((order >>> 0) === order && order <= ORDER_0_LOG2) ||
      !(pfn >= 0 && pfn < PFN_LIMIT && Math.floor(pfn) === pfn)
    ) {
      this.#encode(pfn, order, KHO_PAGE_CONTIG);
    }
    // The one-hot key as two 32-bit halves, in integer arithmetic where possible.
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
        this.#cachedAdds++; // charged as #chargeDescent(ROOT_LEVEL) when settled
        return;
      }
    }
    this.#addMiss(root, lo, hi, pfn, order, cacheable);
  }

  /** {@link add} past the leaf cache: the descent, allocating, and the leaf cached. */
  #addMiss(root: Table, lo: number, hi: number, pfn: number, order: number, cacheable: boolean) {
    const leaf = this.#insert(root, lo, hi, pfn, order);
    if (cacheable) this.#cacheLeaf(order, lo >>> L1_LO, leaf);
  }

  /**
   * `kho_radix_add_page(tree, pfn, order, type)` of the page-type RFC: the codec's key of the
   * typed block, then as {@link add}. EINVAL for a SPLIT type with an untyped codec.
   */
  addTyped(pfn: number, order: number, type: number): void {
    const root = this.#root ?? this.#uninitialised("kho_radix_add_page");
    this.#encode(pfn, order, type);
    this.#insert(root, this.#key[0], this.#key[1], pfn, order);
  }

  /**
   * The generalized `kho_radix_add_key(tree, key)`: sets the bit of a key the caller encoded
   * (`lo` bits 0..31, `hi` bits 32..63). A key wider than `KHO_RADIX_KEY_WIDTH` (60 bits)
   * is rejected with `KhoError` ERANGE (the posted errno is unverified). Same allocation
   * and rollback as {@link add}.
   */
  addKey(lo: number, hi: number): void {
    const root = this.#root ?? this.#uninitialised("kho_radix_add_key");
    this.#checkKey(lo, hi);
    this.#insert(root, lo >>> 0, hi >>> 0, -1, -1);
  }

  #checkKey(lo: number, hi: number): void {
    if (!((lo >>> 0) === lo && (hi >>> 0) === hi)) {
      throw new KhoError("EINVAL", `radix key halves ${lo}, ${hi} are not u32 values`);
    }
    if (hi >= KEY_HI_LIMIT) {
      throw new KhoError(
        "ERANGE",
        `radix key 0x${hexU64(lo, hi)} is wider than ${KHO_RADIX_KEY_WIDTH} bits`,
      );
    }
  }

  /** Settles the leaf cache's adds: a whole descent each ({@link settleOnAccess}). */
  #settle = (): void => {
    const n = this.#cachedAdds;
    if (n === 0) return;
    this.#cachedAdds = 0;
    const c = this.#c;
    c.entriesVisited += n * ROOT_LEVEL;
    c.entriesFollowed += n * ROOT_LEVEL;
    c.cacheLinesRead += n * (ROOT_LEVEL + 1);
    c.pagesTouched += n * (ROOT_LEVEL + 1);
    c.cacheLinesWritten += n;
  };

  /**
   * The cost of an add, whatever it allocated: five table entries (levels 5..1) and the
   * leaf, one line and one page each, the leaf's line written (the bit).
   */
  #chargeDescent(followed: number): void {
    const c = this.#c;
    c.entriesVisited += ROOT_LEVEL;
    c.entriesFollowed += followed;
    c.cacheLinesRead += ROOT_LEVEL + 1;
    c.pagesTouched += ROOT_LEVEL + 1;
    c.cacheLinesWritten++;
  }

  /**
   * Sets the leaf bit of key `(lo, hi)` (bits 60..63 are not indexed): levels 5..1 unrolled;
   * a missing entry hands over to the allocating {@link #insertSlow}. Returns the leaf.
   * `pfn` and `order` only name the block in an ENOMEM message (-1: a raw key).
   */
  #insert(root: Table, lo: number, hi: number, pfn: number, order: number): Uint32Array {
    let t = root;
    let k = t[(hi >>> L5_HI) & IDX];
    if (k === null) return this.#insertSlow(t, 5, lo, hi, pfn, order);
    t = k as Table;
    k = t[(hi >>> L4_HI) & IDX];
    if (k === null) return this.#insertSlow(t, 4, lo, hi, pfn, order);
    t = k as Table;
    k = t[(hi >>> L3_HI) & IDX];
    if (k === null) return this.#insertSlow(t, 3, lo, hi, pfn, order);
    t = k as Table;
    k = t[((lo >>> L2_LO) | (hi << L2_HI)) & IDX];
    if (k === null) return this.#insertSlow(t, 2, lo, hi, pfn, order);
    t = k as Table;
    const leaf = t[(lo >>> L1_LO) & IDX] as Uint32Array | null;
    if (leaf === null) return this.#insertSlow(t, 1, lo, hi, pfn, order);
    const bit = lo & BIT;
    leaf[bit >>> 5] |= 1 << (bit & 31);
    this.#chargeDescent(ROOT_LEVEL);
    return leaf;
  }

  /**
   * The allocating part of {@link #insert}: the entry at `level` of table `anchor` is empty,
   * so every node below it is new. Mirrors the kernel: allocate, link and descend level by
   * level; on failure free the new pages and clear the anchor entry (`err_free_nodes`).
   */
  #insertSlow(
    anchor: Table,
    level: number,
    lo: number,
    hi: number,
    pfn: number,
    order: number,
  ): Uint32Array {
    const c = this.#c;
    const followed = ROOT_LEVEL - level;
    const fresh: number[] = [];
    let t = anchor;
    let leaf: Uint32Array | null = null;
    for (let l = level; l >= 1; l--) {
      const i = khoRadixTableIndex(l, lo, hi);
      const phys = this.#alloc.allocZeroedPage("kho_radix_node");
      if (phys === null || !isPagePhys(phys, this.mem)) {
        if (phys === null) c.allocFailures++;
        else {
          this.#alloc.freePage(phys);
          c.pagesAllocated++;
          c.pagesFreed++;
        }
        c.entriesVisited += ROOT_LEVEL - l + 1;
        c.entriesFollowed += followed;
        c.cacheLinesRead += ROOT_LEVEL - l + 1;
        c.pagesTouched += ROOT_LEVEL - l + 1;
        this.#rollback(fresh, anchor, khoRadixTableIndex(level, lo, hi));
        if (phys !== null) {
          throw new RangeError(`allocator returned 0x${phys.toString(16)}, not a page of memory`);
        }
        throw new KhoError(
          "ENOMEM",
          pfn < 0
            ? `cannot allocate a KHO radix node for key 0x${hexU64(lo, hi)}`
            : `cannot allocate a KHO radix node for pfn 0x${pfn.toString(16)} order ${order}`,
        );
      }
      c.pagesAllocated++;
      const words = this.#words.get(t)!;
      words[ENTRY_U32 * i] = phys >>> 0;
      words[ENTRY_U32 * i + 1] = Math.floor(phys / TWO32);
      c.cacheLinesWritten++; // the link to the new page
      fresh.push(phys);
      if (l > 1) {
        const child = this.#adoptTable(phys);
        t[i] = child;
        t = child;
      } else {
        leaf = this.mem.writablePage(phys / PAGE_SIZE);
        this.#pages.set(phys, leaf);
        t[i] = leaf;
      }
    }
    const bit = lo & BIT;
    leaf![bit >>> 5] |= 1 << (bit & 31);
    this.#chargeDescent(followed);
    return leaf!;
  }

  #cacheLeaf(order: number, index: number, leaf: Uint32Array): void {
    let cache = this.#leafCache[order];
    if (cache === undefined) {
      if (++this.#leavesLinked[order] < LEAF_CACHE_AFTER) return;
      cache = new Array(LEAF_CACHE_ENTRIES).fill(null);
      this.#leafCache[order] = cache;
    }
    cache[index] = leaf;
  }

  /** `err_free_nodes`: frees the pages of a failed insert and clears its anchor entry. */
  #rollback(fresh: number[], anchor: Table, anchorIdx: number): void {
    for (const phys of fresh) {
      const page = this.#pages.get(phys)!;
      if (!(page instanceof Uint32Array)) this.#words.delete(page);
      this.#pages.delete(phys);
      this.#alloc.freePage(phys);
      this.#c.pagesFreed++;
    }
    const words = this.#words.get(anchor)!;
    words[ENTRY_U32 * anchorIdx] = 0;
    words[ENTRY_U32 * anchorIdx + 1] = 0;
    this.#c.cacheLinesWritten++;
    anchor[anchorIdx] = null;
  }

  /**
   * The leaf holding key `#key`, or the level (5..1) whose entry is missing; with `counted`
   * each level read is charged.
   */
  #leafOf(root: Table, counted: boolean): Uint32Array | number {
    const lo = this.#key[0], hi = this.#key[1];
    const c = this.#c;
    let t: Table | Uint32Array = root;
    for (let level = ROOT_LEVEL; level >= 1; level--) {
      const k: Table | Uint32Array | null = (t as Table)[khoRadixTableIndex(level, lo, hi)];
      if (counted) {
        c.entriesVisited++;
        c.cacheLinesRead++;
        c.pagesTouched++;
      }
      if (k === null) return level;
      if (counted) c.entriesFollowed++;
      t = k;
    }
    return t as Uint32Array;
  }

  /**
   * `kho_radix_del_page(tree, pfn, order)`: clears the key's leaf bit. A missing entry on
   * the path WARNs (`kho_radix_del_page`) and returns. No node is ever freed, even when it
   * becomes empty. On an uninitialised tree: WARN_ON_ONCE and return (the kernel function is
   * void). Invalid arguments throw EINVAL.
   */
  del(pfn: number, order: number): void {
    this.delTyped(pfn, order, KHO_PAGE_CONTIG);
  }

  /**
   * `kho_radix_del_page(tree, pfn, order, type)` of the page-type RFC: as {@link del}. With
   * the type in bit 63 (not indexed) deleting either type clears the block's one bit.
   */
  delTyped(pfn: number, order: number, type: number): void {
    if (this.#root === null) {
      this.#log.warnOnOnce("kho_radix_del_page", "KHO radix tree root is NULL");
      return;
    }
    this.#encode(pfn, order, type);
    this.#clear(
      "kho_radix_del_page",
      () => `no radix path for pfn 0x${pfn.toString(16)} order ${order}`,
    );
  }

  /** The generalized `kho_radix_del_key(tree, key)`; the same width rule as {@link addKey}. */
  delKey(lo: number, hi: number): void {
    if (this.#root === null) {
      this.#log.warnOnOnce("kho_radix_del_key", "KHO radix tree root is NULL");
      return;
    }
    this.#checkKey(lo, hi);
    this.#key[0] = lo;
    this.#key[1] = hi;
    this.#clear("kho_radix_del_key", () => `no radix path for key 0x${hexU64(lo, hi)}`);
  }

  #clear(callsite: string, what: () => string): void {
    const leaf = this.#leafOf(this.#root!, true);
    if (typeof leaf === "number") {
      this.#log.warn(callsite, `${what()} (level ${leaf})`);
      return;
    }
    const bit = this.#key[0] & BIT;
    leaf[bit >>> 5] &= ~(1 << (bit & 31));
    this.#c.cacheLinesRead++;
    this.#c.pagesTouched++;
    this.#c.cacheLinesWritten++;
  }

  /**
   * `kho_radix_walk_tree`: calls `cb(phys, order, type)` for every set bit in ascending key
   * order (one-hot: largest orders first, ascending addresses within an order), reading the
   * tree's bytes; the type is what the successor decodes (0 for untyped codecs). A non-zero
   * callback result stops the walk and is returned; 0 when complete. Callbacks must not add
   * to or delete from this tree (the kernel holds the tree lock).
   */
  walk(cb: TypedWalkCallback): number {
    if (this.#root === null) this.#uninitialised("kho_radix_walk_tree");
    return this.#walk(cb, null);
  }

  /** {@link walk} delivering a leaf's blocks at a time (see {@link walkRadixTreeBatched}). */
  walkBatched(cb: WalkBatchCallback): number {
    if (this.#root === null) this.#uninitialised("kho_radix_walk_tree");
    return this.#walk(null, cb);
  }

  #walk(cb: TypedWalkCallback | null, batchCb: WalkBatchCallback | null): number {
    const r = runWalk(
      {
        codec: this.codec,
        mem: this.mem,
        rootPhys: this.#rootPhys,
        log: this.#log,
        counters: this.#c,
        checkBlocks: false,
      },
      cb,
      batchCb,
    );
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

  /** Whether the block `(pfn, order, type)` is recorded (its key's bit is set). */
  isPreserved(pfn: number, order: number, type: KhoPageType = KHO_PAGE_CONTIG): boolean {
    if (this.#root === null) return false;
    this.#encode(pfn, order, type);
    const leaf = this.#leafOf(this.#root, false);
    if (typeof leaf === "number") return false;
    const bit = this.#key[0] & BIT;
    return (leaf[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  /**
   * The largest preserved block containing page frame `pfn` (orders from the codec's largest
   * down to 0 are tried), or null when no preserved block covers it.
   */
  findBlock(pfn: number): PreservedBlock | null {
    if (this.#root === null) return null;
    for (let order = this.codec.maxOrder; order >= 0; order--) {
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
      this.#c.pagesFreed++;
    }
    this.#pages.clear();
    this.#words.clear();
    this.#leafCache = newLeafCache();
    this.#leavesLinked.fill(0);
    this.#root = null;
    this.#rootPhys = 0;
  }
}

// ------------------------------------------------------------------------------------------
// Incoming side: walking from bytes with validation.

/**
 * Why a walk of handed-over radix bytes was aborted: the tree readers' reasons
 * ({@link TreeWalkErrorReason}; `root-null` is `preserved-memory-map` = 0 → -EINVAL), or a
 * non-zero root entry whose keys the codec cannot decode (one-hot: index ≥ 4).
 */
export type RadixWalkErrorReason = TreeWalkErrorReason | "key-out-of-range";

/** The outcome of {@link walkRadixTree}. */
export interface RadixWalkResult extends Readonly<WalkOutcome<RadixWalkErrorReason>> {
  /** Table pages scanned (root included). */
  readonly tablesVisited: number;
  /** Leaf pages scanned. */
  readonly leavesVisited: number;
}

/** Options of {@link walkRadixTree}. */
export interface RadixReaderOptions extends WalkGuardOptions {
  /** The key encoding the tree was written with (default {@link ONE_HOT_CODEC}). */
  codec?: RadixKeyCodec;
  /** Root physical address from `preserved-memory-map`. */
  rootPhys: number;
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

class Walker extends WalkGuard<RadixWalkErrorReason> {
  readonly codec: RadixKeyCodec;
  readonly checkBlocks: boolean;
  readonly d: DecodedTypedKey = { phys: 0, order: 0, type: 0 };
  readonly onTable: ((phys: number) => void) | null;
  tables = 0;
  leaves = 0;

  constructor(o: RadixReaderOptions, counters: TrackerCounters) {
    const codec = o.codec ?? ONE_HOT_CODEC;
    super(o, counters, "radix tree", `${codec.kind}: `);
    this.codec = codec;
    this.checkBlocks = o.checkBlocks ?? true;
    this.onTable = o.onTable ?? null;
  }

  /** Scans table page `phys` at `level` whose key prefix is `(lo, hi)`; false to end. */
  table(phys: number, level: number, lo: number, hi: number): boolean {
    if (this.onTable !== null) this.onTable(phys);
    const w = this.words(phys / PAGE_SIZE);
    this.tables++;
    this.path.push(phys);
    let i = 0;
    let followed = 0;
    let go = true;
    for (; i < TABLE_ENTRIES; i++) {
      const elo = w[ENTRY_U32 * i], ehi = w[ENTRY_U32 * i + 1];
      if ((elo | ehi) === 0) continue;
      if (level === ROOT_LEVEL && !this.codec.rootIndexValid(i)) {
        go = this.fail("key-out-of-range", `root entry ${i} is set`);
        break;
      }
      const child = this.child(
        elo,
        ehi,
        () => `entry ${i} of level-${level} table 0x${phys.toString(16)}`,
        TREE_CHILD_REASONS,
      );
      if (child < 0) {
        go = false;
        break;
      }
      followed++;
      let clo = lo, chi = hi;
      switch (level) {
        case 5:
          chi = hi | (i << L5_HI);
          break;
        case 4:
          chi = hi | (i << L4_HI);
          break;
        case 3:
          chi = hi | (i << L3_HI);
          break;
        case 2:
          clo = (lo | ((i & ((1 << L2_HI) - 1)) << L2_LO)) >>> 0;
          chi = hi | (i >>> L2_HI);
          break;
        default:
          clo = (lo | (i << L1_LO)) >>> 0;
      }
      go = level === 1 ? this.leaf(child, clo, chi) : this.table(child, level - 1, clo, chi);
      if (!go) break;
    }
    this.tableDone(i < TABLE_ENTRIES ? i + 1 : TABLE_ENTRIES, followed);
    return go;
  }

  /** Scans leaf page `phys` whose bit 0 has key `(lo, hi)`; false when the walk must end. */
  leaf(phys: number, lo: number, hi: number): boolean {
    if (this.onTable !== null) this.onTable(phys);
    const w = this.words(phys / PAGE_SIZE);
    this.leaves++;
    this.c.pagesTouched++;
    const d = this.d;
    if (!(this.codec.uniformLeaf(lo, hi) && this.codec.decode(lo, hi, d))) {
      return this.leafSlow(w, lo, hi);
    }
    const order = d.order, type = d.type, base = d.phys;
    const blockBytes = POW2[PAGE_SHIFT + order];
    const allRam = !this.checkBlocks || this.ram(base, LEAF_BITS * blockBytes);
    if (this.batchCb !== null || !allRam) {
      return this.scanBitmap(w, 0, LEAF_U32, base, blockBytes, order, type, allRam);
    }
    // The per-block hot loop stays here: the walk's callback then inlines into it.
    const cb = this.cb;
    let u = 0, calls = 0, stopped = 0;
    for (; u < LEAF_U32; u++) {
      let x = w[u] | 0;
      if (x === 0) continue;
      const wordBase = base + u * 32 * blockBytes;
      do {
        const t = x & -x;
        x ^= t;
        calls++;
        stopped = cb(wordBase + (31 - Math.clz32(t)) * blockBytes, order, type);
        if (stopped) break;
      } while (x !== 0);
      if (stopped) break;
    }
    this.blocks += calls;
    this.c.callbacks += calls;
    if (stopped) this.stopped = stopped;
    return this.scanned(u, LEAF_U32);
  }

  /**
   * A leaf whose bits do not all decode alike (one-hot: the leaf of prefix 0, keys 1..32767,
   * orders 52..38): each bit is decoded on its own and delivered alone. False when a
   * callback stopped the walk.
   */
  leafSlow(w: Uint32Array, lo: number, hi: number): boolean {
    const d = this.d;
    let u = 0;
    let go = true;
    for (; u < LEAF_U32 && go; u++) {
      const x = w[u];
      if (x === 0) continue;
      for (let b = 0; b < 32 && go; b++) {
        if ((x & (1 << b)) === 0) continue;
        const klo = (lo | (u * 32 + b)) >>> 0;
        if (!this.codec.decode(klo, hi, d)) {
          this.reject(0, -1, `key 0x${hexU64(klo, hi)} has no order`);
          continue;
        }
        if (this.checkBlocks && !this.blockOk(d.phys, POW2[PAGE_SHIFT + d.order], d.order)) {
          continue;
        }
        this.blocks++;
        this.c.callbacks++;
        const r = this.cb(d.phys, d.order, d.type);
        if (r) {
          this.stopped = r;
          go = false;
        }
      }
    }
    const words64 = go ? U64_PER_PAGE : ((u - 1) >>> 1) + 1;
    this.c.bitmapWordsScanned += words64;
    this.c.cacheLinesRead += Math.ceil(words64 / 8);
    return go;
  }
}

/**
 * Walks handed-over radix tree bytes from `rootPhys`, calling `cb(phys, order, type)` for
 * every valid preserved block in ascending key order, with the validation policy of this
 * module (structural errors abort with a named reason; bad leaf bits are rejected and
 * skipped). `options.codec` says how keys decode (default the kernel's). Never throws for
 * corrupted bytes; exceptions thrown by `cb` propagate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walkRadixTree } from "./radix.ts";
 * import { JGG_CODEC } from "./radix_codecs.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * mem.writeU64(0x1000, 0x1000); // a root whose entry 0 points to itself
 * const r = walkRadixTree({ mem, rootPhys: 0x1000 }, () => 0);
 * assert.ok(!r.ok);
 * assert.equal(r.error, "cycle");
 * mem.writeU64(0x3000 + 8 * 60, 0x2000); // root entry 60: a JGG order of 60 > 52
 * const j = walkRadixTree({ codec: JGG_CODEC, mem, rootPhys: 0x3000 }, () => 0);
 * assert.ok(!j.ok);
 * assert.equal(j.error, "key-out-of-range");
 * ```
 */
export function walkRadixTree(
  options: RadixReaderOptions,
  cb: TypedWalkCallback,
): RadixWalkResult {
  return runWalk(options, cb, null);
}

/**
 * {@link walkRadixTree} delivering blocks a leaf at a time: `cb(phys, count, order)` gets
 * the addresses of up to 32768 valid blocks of one order in ascending order, in a buffer
 * valid only during the call (a page type, if the codec has one, is not delivered). Same
 * validation, order, counters (one callback counted per block) and stop rule (a non-zero
 * result stops the walk after that batch). Much faster than per-block callbacks in
 * JavaScript when the consumer can loop itself.
 */
export function walkRadixTreeBatched(
  options: RadixReaderOptions,
  cb: WalkBatchCallback,
): RadixWalkResult {
  return runWalk(options, null, cb);
}

function runWalk(
  options: RadixReaderOptions,
  cb: TypedWalkCallback | null,
  batchCb: WalkBatchCallback | null,
): RadixWalkResult {
  const w = new Walker(options, options.counters ?? new TrackerCounters());
  const root = options.rootPhys;
  if (w.treeRoot(root, "root", "preserved-memory-map is 0")) {
    w.run(cb as BlockCallback | null, batchCb, LEAF_BITS, () => w.table(root, ROOT_LEVEL, 0, 0));
  }
  return w.outcome(w.codec.kind, { tablesVisited: w.tables, leavesVisited: w.leaves });
}
