/**
 * **Proposal, never merged.** The preserved-memory layout of RFC v1 "Make KHO Stateless"
 * (Jason Miu, [RFC v1 0/4], 2025-09-16; kho-facts §4.1): per-order page tables rooted in a
 * `struct kho_order_table`, whose physical address the root FDT carries in
 * `preserved-order-table` (compatible still `"kho-v1"`; both names in `kexec_handover.ts`).
 * From v2 on the series became the one radix tree of `kexec_handover.ts`.
 *
 * Layout (4 KiB pages, all little-endian u64):
 * - `struct kho_order_table { unsigned long orders[HUGETLB_PAGE_ORDER + 1]; }` — 10 slots
 *   (orders 0..9) at the start of a `kzalloc(PAGE_SIZE)` page, each the physical address of
 *   that order's top `kho_page_table` (0 = none).
 * - `struct kho_page_table { unsigned long tables[PAGE_SIZE / 8]; }` — 512 descriptors, the
 *   physical addresses of the next tables (low 12 bits zero); level-2 entries point to
 *   bitmap tables.
 * - `struct kho_bitmap_table { unsigned long bitmaps[PAGE_SIZE / 8]; }` — 32768 bits covering
 *   `2^(27 + order)` bytes (`BITMAP_TABLE_SHIFT(o) = PAGE_SHIFT + PAGE_SHIFT + 3 + o`).
 * - Depth per order: {@link khoTableLevel} `= ceil((64 - (27 + o)) / 9) + 1`. Index at level
 *   L ≥ 2: `(pa >> (27 + o + 9 * (L - 2))) & 511`; in the bitmap table, Linux bitmap bit
 *   `(pa >> (12 + o)) & 32767`.
 *
 * @module
 */

import { HUGETLB_PAGE_ORDER, PAGE_SHIFT, PAGE_SIZE } from "../../units.ts";
import { KHO_FDT_COMPATIBLE_V1, KHO_FDT_ORDER_TABLE_PROP_NAME } from "./kexec_handover.ts";

/** RFC v1's root property holding the order table's address (`preserved-order-table`). */
export const KHO_ORDER_TABLE_PROP: string = KHO_FDT_ORDER_TABLE_PROP_NAME;
/** RFC v1's root compatible string (unchanged from the xarray era: `kho-v1`). */
export const KHO_ORDER_TABLE_COMPAT: string = KHO_FDT_COMPATIBLE_V1;
/** Slots of `struct kho_order_table`: `HUGETLB_PAGE_ORDER + 1` = 10 (orders 0..9). */
export const KHO_ORDER_TABLE_SLOTS: number = HUGETLB_PAGE_ORDER + 1;
/** Size of one slot (`unsigned long`): the u64 address of an order's top table. */
export const KHO_ORDER_TABLE_SLOT_SIZE = 8;
/** Bytes of `struct kho_order_table` (the rest of its kzalloc'd page is unused). */
export const KHO_ORDER_TABLE_BYTES: number = KHO_ORDER_TABLE_SLOTS * KHO_ORDER_TABLE_SLOT_SIZE;
/** `PAGE_TABLE_SHIFT_PER_LEVEL`: 512 descriptors per table. */
export const KHO_PAGE_TABLE_SHIFT_PER_LEVEL = 9;
/** Descriptors in one `struct kho_page_table` (512). */
export const KHO_PAGE_TABLE_ENTRIES: number = 1 << KHO_PAGE_TABLE_SHIFT_PER_LEVEL;
/** Size of a descriptor (`unsigned long`). */
export const KHO_PAGE_TABLE_ENTRY_SIZE = 8;
/** Bits in one bitmap table (32768). */
export const KHO_BITMAP_TABLE_BITS: number = PAGE_SIZE * 8;

/** `BITMAP_TABLE_SHIFT(order)`: log2 of the bytes one bitmap table covers (27 + order). */
export function bitmapTableShift(order: number): number {
  return PAGE_SHIFT + PAGE_SHIFT + 3 + order;
}

/**
 * `kho_table_level(order)`: levels of an order's tree including the bitmap level,
 * `ceil((64 - (27 + o)) / 9) + 1`, or 1 when one bitmap covers 2^64 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { khoTableLevel } from "./rfc_order_table.ts";
 * assert.deepEqual([khoTableLevel(0), khoTableLevel(9), khoTableLevel(18)], [6, 5, 4]);
 * ```
 */
export function khoTableLevel(order: number): number {
  const shift = bitmapTableShift(order);
  if (shift >= 64) return 1;
  return Math.ceil((64 - shift) / KHO_PAGE_TABLE_SHIFT_PER_LEVEL) + 1;
}

/** `kho_page_table_level_shift(level, order)`: 0 for level 1, else `27 + o + 9 (L - 2)`. */
export function khoPageTableLevelShift(level: number, order: number): number {
  return level <= 1 ? 0 : bitmapTableShift(order) + KHO_PAGE_TABLE_SHIFT_PER_LEVEL * (level - 2);
}

/** Table index of physical address `phys` at `level` ≥ 2 of an `order` tree. */
export function khoPageTableIndex(phys: number, order: number, level: number): number {
  const s = khoPageTableLevelShift(level, order);
  return s >= 64 ? 0 : Math.floor(phys / 2 ** s) % KHO_PAGE_TABLE_ENTRIES;
}

/** Linux-bitmap bit of `phys` in its order-`order` bitmap table: `(pa >> (12 + o)) & 32767`. */
export function khoBitmapBit(phys: number, order: number): number {
  return Math.floor(phys / 2 ** (PAGE_SHIFT + order)) % KHO_BITMAP_TABLE_BITS;
}
