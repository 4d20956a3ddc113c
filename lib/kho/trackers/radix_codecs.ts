/**
 * Key codecs of the KHO radix tree: how a block `(pfn, order[, type])` becomes the key whose
 * bit the six-level tree of `radix.ts` sets. The tree itself indexes key bits 0..59 (bits
 * 0..14 a leaf bit, then 9 bits per level up to the root's 51..59) and never looks at bits
 * 60..63; a codec decides what those 60 bits mean. Keys are two u32 halves, since some exceed
 * 2^53.
 *
 * - {@link ONE_HOT_CODEC} `"radix"` — mainline (`kho_radix_encode_key`): the one-hot order bit
 *   `1 << (52 - order)` above `phys >> (12 + order)`. `radix.ts` adds its fast paths for it.
 * - {@link JGG_CODEC} `"radix-jgg"` — Jason Gunthorpe's RFC v1 review suggestion (seed 001)
 *   `(order << 51) | (phys >> (12 + order))`: the shifted address takes bits 0..50 (so
 *   phys < 2^(63 + order): Pasha Tatashin's "this limits to 63bit address space"), the order
 *   bits 51..56, which are exactly the root's index: the root is indexed by order (the
 *   "order level folded into Lv6"). Keys reach 2^57; 6 levels index 60 bits ≥ 57. Walk order:
 *   ascending order, then ascending address.
 * - {@link TYPED_CODEC} `"radix-typed"` — the July 2026 RFC "kho: Support preserving unsplit
 *   high-order pages" as posted (seed 004): the one-hot key with the page type
 *   (`KHO_PAGE_CONTIG` = 0 / `KHO_PAGE_SPLIT` = 1) in **bit 63**. The tree's index extraction
 *   never looks at bits 60..63, so both types set the same leaf bit, and the walk rebuilds
 *   keys from table indices, so `kho_radix_decode_key` always finds type 0: **every block
 *   reaches the successor as CONTIG**; a split block is restored with tail refcounts 0 (see
 *   {@link restoreRefcounts}). `del` of either type clears the shared bit.
 * - {@link TYPED_FIXED_CODEC} `"radix-typed-fixed"` — a corrected variant: the type in **bit
 *   53**, the lowest bit above the order-0 order bit (52). It is inside the 60 indexed bits,
 *   so it reaches the successor; decode is the posted one with `KHO_KEY_TYPE_SHIFT` 63 → 53
 *   (bit 53 is never an order bit, so it is unambiguous); SPLIT keys live under root entries
 *   4..6 (a second subtree, at most 5 extra pages per region); walk order: all CONTIG blocks
 *   (orders descending), then all SPLIT ones. It fits `KHO_RADIX_KEY_WIDTH` = 60 and needs no
 *   deeper tree, but an old successor would decode a SPLIT key as order -1, so it needs a
 *   new compatible string.
 *
 * @module
 */

import { PAGE_SHIFT } from "../../units.ts";
import { KHO_MAX_KEY_ORDER, KHO_ORDER_0_LOG2 } from "../abi/kexec_handover.ts";
import {
  KHO_KEY_TYPE_SHIFT,
  KHO_KEY_TYPE_SHIFT_FIXED,
  KHO_PAGE_CONTIG,
  KHO_PAGE_SPLIT,
  khoKeyTypeMaskHi,
  type KhoPageType,
} from "../abi/rfc_page_type.ts";
import type { OutgoingTracker } from "./tracker.ts";

// The ABI's layout as module-local constants (V8 folds these; imported bindings it loads).
const ORDER_0_LOG2 = KHO_ORDER_0_LOG2;
const MAX_KEY_ORDER = KHO_MAX_KEY_ORDER;
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
   * Whether keys below bit 53 are the kernel's one-hot order keys (`kho_radix_decode_key`
   * reads them), as tools reading a tree's bytes outside a walk assume.
   */
  readonly oneHotOrder: boolean;
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

/** Mainline one-hot keys (`kho_radix_encode_key`): the kernel's tree, kind `"radix"`. */
export const ONE_HOT_CODEC: RadixKeyCodec = {
  kind: "radix",
  maxOrder: MAX_KEY_ORDER,
  typed: false,
  oneHotOrder: true,
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
  oneHotOrder: false,
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
  oneHotOrder: true,
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
  oneHotOrder: true,
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
