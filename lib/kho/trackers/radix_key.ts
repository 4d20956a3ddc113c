/**
 * Keys of the unified KHO radix tree (`include/linux/kho/abi/kexec_handover.h`,
 * `kho_radix_encode_key` / `kho_radix_decode_key`), for 4 KiB pages.
 *
 * A key is a one-hot *order bit* at bit `52 - order` with the *shifted physical address*
 * `phys >> (12 + order)` = `pfn >> order` below it:
 *
 * ```
 * key = 2^(52 - order) + floor(pfn / 2^order)
 * ```
 *
 * Every key of a block below 2^53 bytes of physical address is itself below 2^53, so keys
 * are exact JavaScript numbers. Larger orders give smaller keys: a walk in ascending key
 * order reports the largest blocks first, and ascending addresses within an order.
 *
 * The tree indexes key bits 0..59: bits 0..14 select a bit of the 32768-bit leaf, and
 * level L ∈ 1..5 uses bits `(L-1)*9+15 .. (L-1)*9+23` as its 512-entry table index
 * (L5 is the root). The constants and the node layout are the ABI's, in
 * `../abi/kexec_handover.ts`; this module computes keys from them.
 *
 * @module
 */

import {
  KHO_BITMAP_SIZE_LOG2,
  KHO_LEAF_BITS,
  KHO_MAX_KEY_ORDER,
  KHO_ORDER_0_LOG2,
  KHO_TABLE_ENTRIES,
  KHO_TABLE_SIZE_LOG2,
  KHO_TREE_MAX_DEPTH,
} from "../abi/kexec_handover.ts";

// Module-local copies of the ABI constants (V8 folds these; imported bindings it loads).
const ORDER_0_LOG2 = KHO_ORDER_0_LOG2;
const MAX_KEY_ORDER = KHO_MAX_KEY_ORDER;
const DEPTH = KHO_TREE_MAX_DEPTH;
const TABLE_ENTRIES = KHO_TABLE_ENTRIES;
const LEAF_BITS = KHO_LEAF_BITS;
const TABLE_SIZE_LOG2 = KHO_TABLE_SIZE_LOG2;
const BITMAP_SIZE_LOG2 = KHO_BITMAP_SIZE_LOG2;

/**
 * Which `KHO_TREE_MAX_DEPTH` formula:
 * - `"mainline"` (S-7.0h): `DIV_ROUND_UP(ORDER_0_LOG2 - BITMAP_SIZE_LOG2, TABLE_SIZE_LOG2) + 1`;
 * - `"kho-v3"` (the kho-v3 header): `DIV_ROUND_UP(ORDER_0_LOG2 - BITMAP_SIZE_LOG2 + 1,
 *   TABLE_SIZE_LOG2) + 1`, which also covers the order-0 order bit itself.
 */
export type RadixDepthFormula = "mainline" | "kho-v3";

/** The radix tree's constants for one page size. */
export interface RadixGeometry {
  /** PAGE_SHIFT the geometry was computed for. */
  readonly pageShift: number;
  /** `64 - PAGE_SHIFT`. */
  readonly order0Log2: number;
  /** `ilog2(PAGE_SIZE / 8)`. */
  readonly tableSizeLog2: number;
  /** `PAGE_SHIFT + 3`. */
  readonly bitmapSizeLog2: number;
  /** `DEPTH` by the chosen formula. */
  readonly treeMaxDepth: number;
  /** Key bits indexed: `(depth - 1) * tableSizeLog2 + bitmapSizeLog2`. */
  readonly keyWidth: number;
  /** Whether the indexed bits include the order-0 order bit (`keyWidth > order0Log2`). */
  readonly coversOrder0Bit: boolean;
}

/**
 * The radix constants for a page size `2^pageShift` under either depth formula. With
 * 4 KiB pages both formulas give 6 levels; with 16 KiB pages the mainline formula gives 4
 * levels covering 50 key bits although the order-0 order bit sits at bit 50, and the kho-v3
 * `+1` gives 5 levels (61 bits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { radixGeometry } from "./radix_key.ts";
 * assert.equal(radixGeometry(12).treeMaxDepth, 6);
 * assert.equal(radixGeometry(14, "mainline").coversOrder0Bit, false);
 * assert.equal(radixGeometry(14, "kho-v3").treeMaxDepth, 5);
 * ```
 */
export function radixGeometry(
  pageShift: number,
  formula: RadixDepthFormula = "kho-v3",
): RadixGeometry {
  if (!Number.isInteger(pageShift) || pageShift < 4 || pageShift > 20) {
    throw new RangeError(`page shift ${pageShift} is not 4..20`);
  }
  const order0Log2 = 64 - pageShift;
  const tableSizeLog2 = pageShift - 3;
  const bitmapSizeLog2 = pageShift + 3;
  const plus = formula === "kho-v3" ? 1 : 0;
  const treeMaxDepth = Math.ceil((order0Log2 - bitmapSizeLog2 + plus) / tableSizeLog2) + 1;
  const keyWidth = (treeMaxDepth - 1) * tableSizeLog2 + bitmapSizeLog2;
  return {
    pageShift,
    order0Log2,
    tableSizeLog2,
    bitmapSizeLog2,
    treeMaxDepth,
    keyWidth,
    coversOrder0Bit: keyWidth > order0Log2,
  };
}

function checkOrder(order: number): void {
  if (!Number.isInteger(order) || order < 0 || order > MAX_KEY_ORDER) {
    throw new RangeError(`order ${order} is not 0..${MAX_KEY_ORDER}`);
  }
}

/**
 * The key of the block of order `order` at page frame `pfn` (low `order` bits of `pfn` are
 * dropped, as the kernel's shift does).
 */
export function pfnKey(pfn: number, order: number): number {
  checkOrder(order);
  if (!Number.isSafeInteger(pfn) || pfn < 0 || pfn >= 2 ** (ORDER_0_LOG2 - 11)) {
    throw new RangeError(`pfn ${pfn} is not a page frame below 2^53 bytes`);
  }
  return 2 ** (ORDER_0_LOG2 - order) + Math.floor(pfn / 2 ** order);
}

/**
 * `kho_radix_encode_key(phys, order)`: `(1 << (52 - order)) | (phys >> (12 + order))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeKey } from "./radix_key.ts";
 * assert.equal(encodeKey(0x40000000, 18), 0x0000000400000001);
 * ```
 */
export function encodeKey(phys: number, order: number): number {
  if (!Number.isSafeInteger(phys) || phys < 0) {
    throw new RangeError(`physical address ${phys} is not a non-negative safe integer`);
  }
  checkOrder(order);
  return 2 ** (ORDER_0_LOG2 - order) + Math.floor(phys / 2 ** (12 + order));
}

/** `fls64(key)` for an integer key below 2^53: 1-based index of the highest set bit, 0 for 0. */
export function fls64(key: number): number {
  const hi = Math.floor(key / 2 ** 32);
  if (hi > 0) return 64 - Math.clz32(hi);
  return 32 - Math.clz32(key >>> 0);
}

/** A decoded key. */
export interface DecodedKey {
  /** Physical address of the block (exact when below 2^53). */
  readonly phys: number;
  /** Order of the block, 0..52. */
  readonly order: number;
}

/**
 * `kho_radix_decode_key(key)`: `order = 53 - fls64(key)`, `phys = key << (12 + order)`
 * (the order bit falls off past bit 63). Keys must be integers in `[1, 2^53)`: key 0 and
 * keys with bits 53..63 set decode to no valid order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKey } from "./radix_key.ts";
 * const { phys, order } = decodeKey(0x0000080000000001);
 * assert.equal(phys, 0x200000);
 * assert.equal(order, 9);
 * ```
 */
export function decodeKey(key: number): DecodedKey {
  if (!Number.isSafeInteger(key) || key < 1) {
    throw new RangeError(`radix key ${key} is not an integer in [1, 2^53)`);
  }
  const order = ORDER_0_LOG2 + 1 - fls64(key);
  const phys = (key - 2 ** (ORDER_0_LOG2 - order)) * 2 ** (12 + order);
  return { phys, order };
}

/** Table index of `key` at level 1..5: key bits `(level-1)*9+15` .. `+8`. */
export function tableIndex(key: number, level: number): number {
  if (!Number.isInteger(level) || level < 1 || level >= DEPTH) {
    throw new RangeError(`radix level ${level} is not 1..${DEPTH - 1}`);
  }
  const shift = (level - 1) * TABLE_SIZE_LOG2 + BITMAP_SIZE_LOG2; // KHO_RADIX_LEVEL_SHIFTS[level]
  return Math.floor(key / 2 ** shift) % TABLE_ENTRIES;
}

/** Bit of `key` in its leaf: key bits 0..14. */
export function leafBit(key: number): number {
  return key % LEAF_BITS;
}

/** The path of a key from the root: `[L5, L4, L3, L2, L1, leaf bit]`. */
export function keyPath(key: number): number[] {
  const out: number[] = [];
  for (let level = DEPTH - 1; level >= 1; level--) out.push(tableIndex(key, level));
  out.push(leafBit(key));
  return out;
}
