/**
 * Proposed key encodings for the KHO radix tree, on one generic six-level tree core: the
 * same pages, the same 512-entry tables over key bits 15..59 and 32768-bit leaves over key
 * bits 0..14, the same exact ENOMEM rollback and validating reader as `radix.ts`, but with
 * the key computed by a {@link RadixKeyCodec}. (`radix.ts` hard-wires the one-hot key in
 * its unrolled paths, so it cannot be parameterised; this core with
 * {@link ONE_HOT_CODEC} writes byte-identical trees and could replace it.)
 *
 * Codecs (4 KiB pages; keys as two u32 halves, since several exceed 2^53):
 * - {@link ONE_HOT_CODEC} `"radix-onehot"` — mainline: `(1 << (52 - order)) | (phys >> (12 + order))`.
 * - {@link JGG_CODEC} `"radix-jgg"` — Jason Gunthorpe's RFC v1 review suggestion
 *   `(order << 51) | (phys >> (12 + order))`: the shifted address takes bits 0..50 (so
 *   phys < 2^(63 + order): Pasha Tatashin's "this limits to 63bit address space"), the
 *   order bits 51..56, which are exactly the root's index: the root is indexed by order
 *   (the "order level folded into Lv6"). Keys reach 2^57; 6 levels index 60 bits ≥ 57.
 *   Walk order: ascending order, then ascending address.
 * - {@link TYPED_CODEC} `"radix-typed"` — the July 2026 RFC "kho: Support preserving
 *   unsplit high-order pages" as posted: the one-hot key with the page type
 *   (`KHO_PAGE_CONTIG` = 0 / `KHO_PAGE_SPLIT` = 1) in **bit 63**. The tree's index
 *   extraction (`key >> shift) % 512`, `key % 32768`) never looks at bits 60..63, so both
 *   types set the same leaf bit, and the walk rebuilds keys from table indices, so
 *   `kho_radix_decode_key` always finds type 0: **every block reaches the successor as
 *   CONTIG**; a split block is restored with tail refcounts 0 (see {@link restoreRefcounts}).
 *   `del` of either type clears the shared bit.
 * - {@link TYPED_FIXED_CODEC} `"radix-typed-fixed"` — a corrected variant: the type in
 *   **bit 53**, the lowest bit above the order-0 order bit (52). It is inside the 60 indexed
 *   bits, so it reaches the successor; decode is the posted one with
 *   `KHO_KEY_TYPE_SHIFT` 63 → 53 (bit 53 is never an order bit, so it is unambiguous);
 *   SPLIT keys live under root entries 4..6 (a second subtree, at most 5 extra pages per
 *   region); walk order: all CONTIG blocks (orders descending), then all SPLIT ones. It
 *   fits `KHO_RADIX_KEY_WIDTH` = 60 and needs no deeper tree, but an old successor would
 *   decode a SPLIT key as order -1, so it needs a new compatible string.
 *
 * @module
 */

import { KhoError } from "../../errors.ts";
import { TrackerCorruptionError } from "./corruption.ts";
import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../units.ts";
import { TrackerCounters } from "./counters.ts";
import { type ChildReasons, hexU64, WalkGuard } from "./walk_guard.ts";
import type { RadixWalkErrorReason, RadixWalkResult } from "./radix.ts";
import type { IncomingTracker, MetadataPageAllocator, OutgoingTracker } from "./tracker.ts";
import {
  KHO_LEAF_BIT_MASK,
  KHO_LEAF_BITS,
  KHO_MAX_KEY_ORDER,
  KHO_ORDER_0_LOG2,
  KHO_RADIX_ENTRY_SIZE,
  KHO_RADIX_LEVEL_SHIFTS,
  KHO_RADIX_ROOT_LEVEL,
  KHO_TABLE_ENTRIES,
  khoRadixTableIndex,
} from "../abi/kexec_handover.ts";
import {
  KHO_KEY_TYPE_SHIFT,
  KHO_KEY_TYPE_SHIFT_FIXED,
  KHO_PAGE_CONTIG,
  KHO_PAGE_SPLIT,
  khoKeyTypeMaskHi,
  type KhoPageType,
} from "../abi/rfc_page_type.ts";

// The ABI's layout as module-local constants (V8 folds these; imported bindings it loads).
const ROOT_LEVEL = KHO_RADIX_ROOT_LEVEL;
const ORDER_0_LOG2 = KHO_ORDER_0_LOG2;
const MAX_KEY_ORDER = KHO_MAX_KEY_ORDER;
const TABLE_ENTRIES = KHO_TABLE_ENTRIES;
const LEAF_BITS = KHO_LEAF_BITS;
const BIT = KHO_LEAF_BIT_MASK;
const ENTRY_U32 = KHO_RADIX_ENTRY_SIZE / 4;
const LEAF_U32 = LEAF_BITS / 32;
const L5_HI = KHO_RADIX_LEVEL_SHIFTS[5] - 32;
const L4_HI = KHO_RADIX_LEVEL_SHIFTS[4] - 32;
const L3_HI = KHO_RADIX_LEVEL_SHIFTS[3] - 32;
const L2_LO = KHO_RADIX_LEVEL_SHIFTS[2];
const L2_HI = 32 - L2_LO;
const L1_LO = KHO_RADIX_LEVEL_SHIFTS[1];
/** One-hot keys: the order-0 order bit in the high half; keys below 2^53 have `hi` below this. */
const ONE_HOT_HI_LIMIT = 2 ** (ORDER_0_LOG2 + 1 - 32);

/**
 * A walk callback that also receives the block's page type (0 for untyped encodings). A
 * plain `WalkCallback` `(phys, order)` is accepted wherever this is expected. A non-zero
 * return stops the walk.
 */
export type TypedWalkCallback = (phys: number, order: number, type: KhoPageType) => number;

/** A decoded key (output of {@link RadixKeyCodec.decode}). */
export interface DecodedTypedKey {
  /** Physical address of the block (inexact beyond 2^53, where nothing is RAM). */
  phys: number;
  /** Order of the block. */
  order: number;
  /** Page type (0 for untyped codecs). */
  type: KhoPageType;
}

/** A key encoding for the generic six-level radix core. */
export interface RadixKeyCodec {
  /** Tracker kind, e.g. `"radix-jgg"`. */
  readonly kind: string;
  /** Largest order the encoding represents. */
  readonly maxOrder: number;
  /** Whether keys carry a page type. */
  readonly typed: boolean;
  /**
   * Writes the key of `(pfn, order, type)` as u32 halves: `out[0]` = bits 0..31,
   * `out[1]` = bits 32..63. The low `order` bits of `pfn` are dropped.
   */
  encode(pfn: number, order: number, type: KhoPageType, out: Uint32Array): void;
  /** Decodes the key `(lo, hi)` into `out`; false when it names no valid block. */
  decode(lo: number, hi: number, out: DecodedTypedKey): boolean;
  /** Whether a non-zero root (level-5, key bits 51..59) entry at `index` can hold keys. */
  rootIndexValid(index: number): boolean;
  /**
   * Whether every bit b of the leaf whose bit-0 key is `(lo, hi)` decodes to the same order
   * and type at address `phys(bit 0) + b · 2^(12 + order)` (else bits decode one by one).
   */
  uniformLeaf(lo: number, hi: number): boolean;
}

const TWO32 = 4294967296;
const POW2 = Float64Array.from({ length: 128 }, (_, i) => 2 ** i);
const PFN_LIMIT = 2 ** 41;

function fls(lo: number, hi: number): number {
  return hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(lo);
}

/** One-hot decode of `(lo, hi)` with hi < 2^21; false for key 0. */
function oneHotDecode(lo: number, hi: number, out: DecodedTypedKey): boolean {
  hi >>>= 0;
  if (hi >= ONE_HOT_HI_LIMIT || (lo | hi) === 0) return false;
  const f = fls(lo, hi);
  const order = ORDER_0_LOG2 + 1 - f;
  const key = hi * TWO32 + (lo >>> 0);
  out.order = order;
  out.phys = (key - POW2[f - 1]) * POW2[PAGE_SHIFT + order];
  return true;
}

/** One-hot key halves of `(pfn, order)`. */
function oneHotEncode(pfn: number, order: number, out: Uint32Array): void {
  const key = POW2[ORDER_0_LOG2 - order] + Math.floor(pfn / POW2[order]);
  const lo = key >>> 0;
  out[0] = lo;
  out[1] = (key - lo) / TWO32;
}

/** Mainline one-hot keys (`kho_radix_encode_key`), for cross-checking with `radix.ts`. */
export const ONE_HOT_CODEC: RadixKeyCodec = {
  kind: "radix-onehot",
  maxOrder: MAX_KEY_ORDER,
  typed: false,
  encode(pfn, order, _type, out) {
    oneHotEncode(pfn, order, out);
  },
  decode(lo, hi, out) {
    out.type = KHO_PAGE_CONTIG;
    return oneHotDecode(lo, hi, out);
  },
  rootIndexValid: (i) => i < 4,
  uniformLeaf: (lo, hi) => (lo | hi) !== 0,
};

/** Jason Gunthorpe's `(order << 51) | (phys >> (PAGE_SHIFT + order))`. */
export const JGG_CODEC: RadixKeyCodec = {
  kind: "radix-jgg",
  maxOrder: 52,
  typed: false,
  encode(pfn, order, _type, out) {
    const shifted = Math.floor(pfn / POW2[order]); // < 2^41
    const lo = shifted >>> 0;
    out[0] = lo;
    out[1] = (order << 19) + (shifted - lo) / TWO32;
  },
  decode(lo, hi, out) {
    const order = hi >>> 19;
    if (order > 52) return false;
    out.type = KHO_PAGE_CONTIG;
    out.order = order;
    out.phys = ((hi & 0x7ffff) * TWO32 + (lo >>> 0)) * POW2[PAGE_SHIFT + order];
    return true;
  },
  rootIndexValid: (i) => i <= 52,
  uniformLeaf: () => true,
};

/** Bit 63 of the key (the posted type bit), in the high half. */
const TYPE_BIT_63 = khoKeyTypeMaskHi(KHO_KEY_TYPE_SHIFT);

/** The 2026 page-type RFC as posted: one-hot key, type in bit 63 (never indexed). */
export const TYPED_CODEC: RadixKeyCodec = {
  kind: "radix-typed",
  maxOrder: MAX_KEY_ORDER,
  typed: true,
  encode(pfn, order, type, out) {
    oneHotEncode(pfn, order, out);
    if (type === KHO_PAGE_SPLIT) out[1] = (out[1] | TYPE_BIT_63) >>> 0;
  },
  decode(lo, hi, out) {
    out.type = ((hi & TYPE_BIT_63) !== 0 ? 1 : 0) as KhoPageType;
    return oneHotDecode(lo, hi & ~TYPE_BIT_63, out);
  },
  rootIndexValid: (i) => i < 4,
  uniformLeaf: (lo, hi) => (lo | (hi & ~TYPE_BIT_63)) !== 0,
};

/** Bit 53 of the key (the corrected type bit), in the high half. */
const TYPE_BIT_53 = khoKeyTypeMaskHi(KHO_KEY_TYPE_SHIFT_FIXED);

/** The corrected typed key: one-hot key, type in bit 53 (indexed by the root). */
export const TYPED_FIXED_CODEC: RadixKeyCodec = {
  kind: "radix-typed-fixed",
  maxOrder: MAX_KEY_ORDER,
  typed: true,
  encode(pfn, order, type, out) {
    oneHotEncode(pfn, order, out);
    if (type === KHO_PAGE_SPLIT) out[1] = out[1] | TYPE_BIT_53;
  },
  decode(lo, hi, out) {
    out.type = ((hi & TYPE_BIT_53) !== 0 ? 1 : 0) as KhoPageType;
    return oneHotDecode(lo, (hi & ~TYPE_BIT_53) >>> 0, out);
  },
  rootIndexValid: (i) => i < 8,
  uniformLeaf: (lo, hi) => ((lo | (hi & ~TYPE_BIT_53)) >>> 0) !== 0,
};

/**
 * `kho_is_page_split()` as posted: a block of order > 0 is SPLIT when its second page has a
 * non-zero refcount, else CONTIG (order 0 is always CONTIG).
 */
export function khoPageType(order: number, secondPageRefcount: number): KhoPageType {
  return order > 0 && secondPageRefcount !== 0 ? KHO_PAGE_SPLIT : KHO_PAGE_CONTIG;
}

/**
 * `kho_restore_refcounts()` as posted: the refcounts `kho_restore_pages` gives the
 * `2^order` pages of a block of the type the successor received: head 1, tails 1 for SPLIT
 * and 0 for CONTIG.
 */
export function restoreRefcounts(order: number, type: KhoPageType): Uint8Array {
  const out = new Uint8Array(2 ** order).fill(type === KHO_PAGE_SPLIT ? 1 : 0);
  out[0] = 1;
  return out;
}

/** Shadow of a table page: children by index (tables, or leaf word views at level 1). */
type VTable = (VTable | Uint32Array | null)[];

/** Options of {@link RadixVariantTree}. */
export interface RadixVariantOptions {
  /** The key encoding. */
  codec: RadixKeyCodec;
  /** The physical memory holding the tree. */
  mem: PhysicalMemory;
  /** Source of node and leaf pages. */
  alloc: MetadataPageAllocator;
  /** Kernel log for WARNs. */
  log: KernelLog;
  /** A zeroed root page allocated by the caller. */
  rootPhys: number;
  /** Counters to use (default: a fresh set). */
  counters?: TrackerCounters;
}

/**
 * The outgoing side of a six-level KHO radix tree with a pluggable key
 * ({@link RadixKeyCodec}): `kho_radix_add_page` / `del_page` / `walk_tree` of mainline,
 * including the exact ENOMEM rollback (new pages freed, anchor entry reset), on the tree's
 * bytes in simulated physical memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JGG_CODEC, RadixVariantTree } from "./radix_variants.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * const mem = new PhysicalMemory(2 ** 31);
 * let next = 2 ** 30;
 * const alloc = { allocZeroedPage: () => (next += 4096) - 4096, freePage: () => {} };
 * const t = RadixVariantTree.create({ codec: JGG_CODEC, mem, alloc, log: new KernelLog() });
 * t.add(0x40000, 18);
 * t.add(0x1000, 0);
 * const seen: number[] = [];
 * t.walk((phys, order) => (seen.push(order), 0));
 * assert.deepEqual(seen, [0, 18]); // ascending order
 * ```
 */
export class RadixVariantTree implements OutgoingTracker {
  /** Encoding name (the codec's kind). */
  readonly kind: string;
  /** The key encoding. */
  readonly codec: RadixKeyCodec;
  /** Cost counters. */
  readonly counters: TrackerCounters;
  /** The memory holding the tree. */
  readonly mem: PhysicalMemory;
  readonly #alloc: MetadataPageAllocator;
  readonly #log: KernelLog;
  #root: VTable | null;
  #rootPhys: number;
  readonly #pages = new Map<number, VTable | Uint32Array>();
  readonly #words = new Map<VTable, Uint32Array>();
  readonly #key = new Uint32Array(2);

  /** Wraps a caller-allocated zeroed root page. */
  constructor(options: RadixVariantOptions) {
    this.codec = options.codec;
    this.kind = options.codec.kind;
    this.mem = options.mem;
    this.#alloc = options.alloc;
    this.#log = options.log;
    this.counters = options.counters ?? new TrackerCounters();
    const phys = options.rootPhys;
    if (!isPagePhys(phys, this.mem)) {
      throw new RangeError(`radix root page 0x${phys.toString(16)} is not a page of memory`);
    }
    if (!this.mem.isZeroPage(phys / PAGE_SIZE)) {
      throw new KhoError("EINVAL", `radix root page 0x${phys.toString(16)} is not zeroed`);
    }
    this.#rootPhys = phys;
    this.#root = this.#adoptTable(phys);
  }

  /** Allocates the root (site `"kho_radix_root"`) and returns a tree; ENOMEM on failure. */
  static create(options: Omit<RadixVariantOptions, "rootPhys">): RadixVariantTree {
    const counters = options.counters ?? new TrackerCounters();
    const phys = options.alloc.allocZeroedPage("kho_radix_root");
    if (phys === null) {
      counters.allocFailures++;
      throw new KhoError("ENOMEM", "cannot allocate the KHO radix tree root");
    }
    counters.pagesAllocated++;
    return new RadixVariantTree({ ...options, counters, rootPhys: phys });
  }

  #adoptTable(phys: number): VTable {
    const t: VTable = new Array<VTable | Uint32Array | null>(TABLE_ENTRIES).fill(null);
    this.#words.set(t, this.mem.writablePage(phys / PAGE_SIZE));
    this.#pages.set(phys, t);
    return t;
  }

  #rootOrThrow(callsite: string): VTable {
    if (this.#root !== null) return this.#root;
    this.#log.warnOnOnce(callsite, "KHO radix tree root is NULL");
    throw new KhoError("EINVAL", "KHO radix tree is not initialised");
  }

  #encode(pfn: number, order: number, type: number): void {
    if (
      !((order >>> 0) === order && order <= this.codec.maxOrder) ||
      !(pfn >= 0 && pfn < PFN_LIMIT && Math.floor(pfn) === pfn) ||
      !(type === KHO_PAGE_CONTIG || type === KHO_PAGE_SPLIT)
    ) {
      throw new KhoError("EINVAL", `invalid block pfn ${pfn} order ${order} type ${type}`);
    }
    this.codec.encode(pfn, order, type as KhoPageType, this.#key);
  }

  /** {@link addTyped} with `KHO_PAGE_CONTIG` (what `kho_preserve_folio` passes). */
  add(pfn: number, order: number): void {
    this.addTyped(pfn, order, KHO_PAGE_CONTIG);
  }

  /**
   * `kho_radix_add_page(tree, pfn, order, type)`: sets the key's leaf bit, allocating
   * missing nodes top-down (site `"kho_radix_node"`). On ENOMEM every page allocated by the
   * call is freed and the anchor entry reset, so the bytes are exactly as before; then
   * `KhoError` ENOMEM. EINVAL on bad arguments (order beyond the codec, pfn not below 2^41,
   * type not 0/1) or an uninitialised tree (after WARN_ON_ONCE).
   */
  addTyped(pfn: number, order: number, type: KhoPageType): void {
    const root = this.#rootOrThrow("kho_radix_add_page");
    this.#encode(pfn, order, type);
    const lo = this.#key[0], hi = this.#key[1];
    const c = this.counters;
    let t = root;
    for (let level = ROOT_LEVEL; level >= 1; level--) {
      const i = khoRadixTableIndex(level, lo, hi);
      const k = t[i];
      if (k === null) return this.#addSlow(t, level, lo, hi, pfn, order);
      if (level === 1) {
        const bit = lo & BIT;
        const leaf = k as Uint32Array;
        leaf[bit >>> 5] |= 1 << (bit & 31);
      } else t = k as VTable;
    }
    c.entriesVisited += ROOT_LEVEL;
    c.entriesFollowed += ROOT_LEVEL;
    c.cacheLinesRead += ROOT_LEVEL + 1;
    c.pagesTouched += ROOT_LEVEL + 1;
  }

  #addSlow(anchor: VTable, level: number, lo: number, hi: number, pfn: number, order: number) {
    const c = this.counters;
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
          `cannot allocate a KHO radix node for pfn 0x${pfn.toString(16)} order ${order}`,
        );
      }
      c.pagesAllocated++;
      const words = this.#words.get(t)!;
      words[ENTRY_U32 * i] = phys >>> 0;
      words[ENTRY_U32 * i + 1] = Math.floor(phys / TWO32);
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
    c.entriesVisited += ROOT_LEVEL;
    c.entriesFollowed += followed;
    c.cacheLinesRead += ROOT_LEVEL + 1;
    c.pagesTouched += ROOT_LEVEL + 1;
  }

  #rollback(fresh: number[], anchor: VTable, anchorIdx: number): void {
    for (const phys of fresh) {
      const page = this.#pages.get(phys)!;
      if (!(page instanceof Uint32Array)) this.#words.delete(page);
      this.#pages.delete(phys);
      this.#alloc.freePage(phys);
      this.counters.pagesFreed++;
    }
    const words = this.#words.get(anchor)!;
    words[2 * anchorIdx] = 0;
    words[2 * anchorIdx + 1] = 0;
    anchor[anchorIdx] = null;
  }

  /** The leaf and bit of the encoded key in `#key`, or null (level where the path ends). */
  #leaf(root: VTable, counted: boolean): Uint32Array | number {
    const lo = this.#key[0], hi = this.#key[1];
    const c = this.counters;
    let t: VTable | Uint32Array = root;
    for (let level = ROOT_LEVEL; level >= 1; level--) {
      const k: VTable | Uint32Array | null = (t as VTable)[khoRadixTableIndex(level, lo, hi)];
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

  /** {@link delTyped} with `KHO_PAGE_CONTIG`. */
  del(pfn: number, order: number): void {
    this.delTyped(pfn, order, KHO_PAGE_CONTIG);
  }

  /**
   * `kho_radix_del_page(tree, pfn, order, type)`: clears the key's leaf bit; a missing path
   * WARNs and returns; no node is freed. With {@link TYPED_CODEC} the type does not select
   * the bit, so deleting either type clears the block.
   */
  delTyped(pfn: number, order: number, type: KhoPageType): void {
    if (this.#root === null) {
      this.#log.warnOnOnce("kho_radix_del_page", "KHO radix tree root is NULL");
      return;
    }
    this.#encode(pfn, order, type);
    const leaf = this.#leaf(this.#root, true);
    if (typeof leaf === "number") {
      this.#log.warn(
        "kho_radix_del_page",
        `no radix path for pfn 0x${pfn.toString(16)} order ${order} (level ${leaf})`,
      );
      return;
    }
    const bit = this.#key[0] & BIT;
    leaf[bit >>> 5] &= ~(1 << (bit & 31));
    this.counters.cacheLinesRead++;
    this.counters.pagesTouched++;
  }

  /** Whether the key of `(pfn, order, type)` is set. */
  isPreserved(pfn: number, order: number, type: KhoPageType = KHO_PAGE_CONTIG): boolean {
    if (this.#root === null) return false;
    this.#encode(pfn, order, type);
    const leaf = this.#leaf(this.#root, false);
    if (typeof leaf === "number") return false;
    const bit = this.#key[0] & BIT;
    return (leaf[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  /**
   * `kho_radix_walk_tree`: `cb(phys, order, type)` for every set bit in ascending key order,
   * reading the bytes (type as the successor decodes it). Non-zero result stops the walk.
   */
  walk(cb: TypedWalkCallback): number {
    this.#rootOrThrow("kho_radix_walk_tree");
    const r = walkRadixVariant({
      codec: this.codec,
      mem: this.mem,
      rootPhys: this.#rootPhys,
      log: this.#log,
      counters: this.counters,
      checkBlocks: false,
    }, cb);
    if (!r.ok) throw new TrackerCorruptionError("radix tree", r);
    return r.stopped;
  }

  /** Physical address of the root page, 0 after {@link destroy}. */
  handoverRoot(): number {
    return this.#rootPhys;
  }

  /** Pages owned: root, tables, leaves. */
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

  /** Frees every page; the tree is uninitialised afterwards. */
  destroy(): void {
    for (const phys of this.#pages.keys()) {
      this.#alloc.freePage(phys);
      this.counters.pagesFreed++;
    }
    this.#pages.clear();
    this.#words.clear();
    this.#root = null;
    this.#rootPhys = 0;
  }
}

/** A tracker whose keys carry a page type: `addTyped` and `delTyped` are there. */
export type TypedTracker =
  & OutgoingTracker
  & Required<Pick<OutgoingTracker, "addTyped" | "delTyped">>;

/**
 * `kho_split_preserved_pages(page, order)` as posted, on the tracker: unpreserve the block
 * (its type is read before the split: CONTIG), `split_page()`, re-preserve it (now SPLIT).
 * If the re-preserve fails with ENOMEM the block stays unpreserved (posted behaviour) and
 * the error propagates. With {@link TYPED_CODEC} the same bit is cleared and set again (the
 * path exists, so it cannot fail) and the tree's bytes are unchanged: the split is
 * invisible to the successor. With {@link TYPED_FIXED_CODEC} the bit moves to the SPLIT
 * subtree, which may need new pages.
 */
export function khoSplitPreservedPages(tree: TypedTracker, pfn: number, order: number): void {
  tree.delTyped(pfn, order, khoPageType(order, 0));
  tree.addTyped(pfn, order, khoPageType(order, 1));
}

function isPagePhys(phys: number, mem: PhysicalMemory): boolean {
  return phys !== 0 && Number.isSafeInteger(phys) && phys % PAGE_SIZE === 0 &&
    mem.contains(phys, PAGE_SIZE);
}

// ------------------------------------------------------------------------------------------
// Incoming side.

/** Options of {@link walkRadixVariant} and {@link IncomingRadixVariant}. */
export interface RadixVariantReaderOptions {
  /** The key encoding the tree was written with. */
  codec: RadixKeyCodec;
  /** Physical memory as the successor sees it. */
  mem: PhysicalMemory;
  /** Root physical address from the FDT. */
  rootPhys: number;
  /** Whether `[phys, phys + size)` is entirely RAM (default: inside `mem`). */
  isRam?: (phys: number, size: number) => boolean;
  /** Log for rejected entries and errors (default: none). */
  log?: KernelLog;
  /** Counters to charge (default: a fresh set). */
  counters?: TrackerCounters;
  /** Rejected entries logged individually before a summary line (default 8). */
  rejectLogLimit?: number;
  /** Check every block against RAM (default true; the outgoing walk passes false). */
  checkBlocks?: boolean;
}

const CHILD_REASONS: ChildReasons<RadixWalkErrorReason> = {
  unaligned: "entry-unaligned",
  outside: "entry-outside-ram",
  cycle: "cycle",
  shared: "shared-node",
};

class VWalker extends WalkGuard<RadixWalkErrorReason> {
  readonly codec: RadixKeyCodec;
  readonly checkBlocks: boolean;
  readonly d: DecodedTypedKey = { phys: 0, order: 0, type: 0 };
  tables = 0;
  leaves = 0;

  constructor(
    readonly o: RadixVariantReaderOptions,
    readonly cb: TypedWalkCallback,
    counters: TrackerCounters,
  ) {
    super(o, counters, o.codec.kind, `${o.codec.kind}: `);
    this.codec = o.codec;
    this.checkBlocks = o.checkBlocks ?? true;
  }

  /** Scans the table at `phys`, `level` 5..1, whose key prefix is `(lo, hi)`. */
  table(phys: number, level: number, lo: number, hi: number): boolean {
    const w = this.words(phys / PAGE_SIZE);
    this.tables++;
    this.path.push(phys);
    let i = 0, followed = 0, go = true;
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
        CHILD_REASONS,
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
    const seen = i < TABLE_ENTRIES ? i + 1 : TABLE_ENTRIES;
    this.c.entriesVisited += seen;
    this.c.entriesFollowed += followed;
    this.c.cacheLinesRead += Math.ceil(seen / 8);
    this.c.pagesTouched++;
    this.path.pop();
    return go;
  }

  /** Scans the leaf at `phys` whose bit 0 has key `(lo, hi)`. */
  leaf(phys: number, lo: number, hi: number): boolean {
    const w = this.words(phys / PAGE_SIZE);
    this.leaves++;
    const codec = this.codec, d = this.d, cb = this.cb;
    const uniform = codec.uniformLeaf(lo, hi) && codec.decode(lo, hi, d);
    const order = d.order, type = d.type, base = d.phys;
    const blockBytes = uniform ? POW2[PAGE_SHIFT + order] : 0;
    const allRam = uniform &&
      (!this.checkBlocks || this.ram(base, LEAF_BITS * blockBytes));
    let u = 0, calls = 0, go = true;
    for (; u < LEAF_U32 && go; u++) {
      let x = w[u] | 0;
      if (x === 0) continue;
      do {
        const t = x & -x;
        x ^= t;
        const b = u * 32 + 31 - Math.clz32(t);
        let pa: number, o: number, ty: KhoPageType;
        if (uniform) {
          pa = base + b * blockBytes;
          o = order;
          ty = type;
          if (!allRam && !this.ram(pa, blockBytes)) {
            this.reject(pa, o, "not entirely RAM");
            continue;
          }
        } else {
          if (!codec.decode((lo | b) >>> 0, hi, d)) {
            this.reject(0, -1, `key 0x${hexU64((lo | b) >>> 0, hi)} has no order`);
            continue;
          }
          pa = d.phys;
          o = d.order;
          ty = d.type;
          if (this.checkBlocks && !this.ram(pa, POW2[PAGE_SHIFT + o])) {
            this.reject(pa, o, "not entirely RAM");
            continue;
          }
        }
        calls++;
        const r = cb(pa, o, ty);
        if (r) {
          this.stopped = r;
          go = false;
          break;
        }
      } while (x !== 0);
    }
    this.blocks += calls;
    this.c.callbacks += calls;
    const words64 = go ? LEAF_U32 / 2 : ((u - 1) >>> 1) + 1;
    this.c.bitmapWordsScanned += words64;
    this.c.cacheLinesRead += go ? 64 : Math.ceil(words64 / 8);
    this.c.pagesTouched++;
    return go;
  }
}

/**
 * Walks handed-over radix bytes written with `options.codec`, calling `cb(phys, order, type)`
 * for every valid block in ascending key order, with the validation policy of `radix.ts`
 * (named {@link RadixWalkErrorReason}s; `"key-out-of-range"` when the codec says a root
 * entry cannot hold keys; bits with no valid key or a block not entirely RAM are rejected
 * and skipped; every page at most once). Never throws for corrupted bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JGG_CODEC, walkRadixVariant } from "./radix_variants.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * mem.writeU64(0x1000 + 8 * 60, 0x2000); // root entry 60: order 60 > 52
 * const r = walkRadixVariant({ codec: JGG_CODEC, mem, rootPhys: 0x1000 }, () => 0);
 * assert.ok(!r.ok);
 * assert.equal(r.error, "key-out-of-range");
 * ```
 */
export function walkRadixVariant(
  options: RadixVariantReaderOptions,
  cb: TypedWalkCallback,
): RadixWalkResult {
  const w = new VWalker(options, cb, options.counters ?? new TrackerCounters());
  const root = options.rootPhys;
  if (root === 0) {
    w.fail("root-null", "root is 0");
  } else if (!Number.isSafeInteger(root) || root < 0) {
    w.fail("root-outside-ram", `root ${root}`);
  } else if (root % PAGE_SIZE !== 0) {
    w.fail("root-unaligned", `root 0x${root.toString(16)}`);
  } else if (!w.ram(root, PAGE_SIZE)) {
    w.fail("root-outside-ram", `root 0x${root.toString(16)}`);
  } else {
    w.visited.add(root);
    w.table(root, ROOT_LEVEL, 0, 0);
  }
  return w.outcome(`${options.codec.kind}`, { tablesVisited: w.tables, leavesVisited: w.leaves });
}

/**
 * The successor's reader of a radix tree written with a given codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IncomingRadixVariant, TYPED_FIXED_CODEC } from "./radix_variants.ts";
 * import { TrackerCorruptionError } from "./corruption.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * const r = new IncomingRadixVariant({ codec: TYPED_FIXED_CODEC, mem, rootPhys: 0 });
 * assert.throws(
 *   () => r.walk(() => 0),
 *   (e) => e instanceof TrackerCorruptionError && e.reason === "root-null",
 * );
 * ```
 */
export class IncomingRadixVariant implements IncomingTracker {
  /** Encoding name (the codec's kind). */
  readonly kind: string;
  /** Cost counters, charged by every walk. */
  readonly counters: TrackerCounters;
  readonly #options: RadixVariantReaderOptions;

  /** A reader for the tree at `options.rootPhys`. */
  constructor(options: RadixVariantReaderOptions) {
    this.kind = options.codec.kind;
    this.counters = options.counters ?? new TrackerCounters();
    this.#options = { ...options, counters: this.counters };
  }

  /**
   * Walks the valid blocks with their types; returns the stopping result or 0. Throws
   * `TrackerCorruptionError` (from `corruption.ts`) on a structural error.
   */
  walk(cb: TypedWalkCallback): number {
    const r = this.walkChecked(cb);
    if (!r.ok) throw new TrackerCorruptionError("radix tree", r);
    return r.stopped;
  }

  /** Walks and returns the full result; never throws for corruption. */
  walkChecked(cb: TypedWalkCallback): RadixWalkResult {
    return walkRadixVariant(this.#options, cb);
  }
}
