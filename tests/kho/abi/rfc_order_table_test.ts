import assert from "node:assert/strict";
import {
  bitmapTableShift,
  KHO_BITMAP_TABLE_BITS,
  KHO_ORDER_TABLE_BYTES,
  KHO_ORDER_TABLE_COMPAT,
  KHO_ORDER_TABLE_PROP,
  KHO_ORDER_TABLE_SLOT_SIZE,
  KHO_ORDER_TABLE_SLOTS,
  KHO_PAGE_TABLE_ENTRIES,
  KHO_PAGE_TABLE_ENTRY_SIZE,
  KHO_PAGE_TABLE_SHIFT_PER_LEVEL,
  khoBitmapBit,
  khoPageTableIndex,
  khoPageTableLevelShift,
  khoTableLevel,
} from "../../../lib/kho/abi/rfc_order_table.ts";
import { KHO_FDT_NAMES } from "../../../lib/kho/abi/kexec_handover.ts";

Deno.test("RFC v1 order table: structures of kho-facts §4.1", () => {
  assert.equal(KHO_ORDER_TABLE_SLOTS, 10); // orders[HUGETLB_PAGE_ORDER + 1]
  assert.equal(KHO_ORDER_TABLE_SLOT_SIZE, 8);
  assert.equal(KHO_ORDER_TABLE_BYTES, 80);
  assert.equal(KHO_PAGE_TABLE_ENTRIES, 512); // tables[PAGE_SIZE / 8]
  assert.equal(KHO_PAGE_TABLE_ENTRY_SIZE * KHO_PAGE_TABLE_ENTRIES, 4096);
  assert.equal(KHO_PAGE_TABLE_SHIFT_PER_LEVEL, 9);
  assert.equal(KHO_BITMAP_TABLE_BITS, 32768); // one page of bits
  assert.equal(KHO_ORDER_TABLE_PROP, "preserved-order-table");
  assert.equal(KHO_ORDER_TABLE_COMPAT, "kho-v1");
  assert.equal(KHO_FDT_NAMES["rfc-v1"].memoryMapProp, KHO_ORDER_TABLE_PROP);
});

Deno.test("RFC v1 order table: levels and bit ranges (Lv6 = 63, Lv5 = 62:54, …, bitmap 26:0)", () => {
  assert.equal(bitmapTableShift(0), 27);
  assert.equal(bitmapTableShift(9), 36);
  assert.deepEqual([0, 9, 10, 18].map(khoTableLevel), [6, 5, 4, 4]);
  assert.equal(khoTableLevel(37), 1); // one bitmap covers 2^64 bytes
  // order 0: level L ≥ 2 indexes from bit 27 + 9 (L - 2)
  assert.deepEqual([2, 3, 4, 5, 6].map((l) => khoPageTableLevelShift(l, 0)), [27, 36, 45, 54, 63]);
  assert.equal(khoPageTableLevelShift(1, 0), 0);
  // "for higher order pages, the bit fields for each level shift to the left by the order"
  assert.deepEqual([2, 3].map((l) => khoPageTableLevelShift(l, 9)), [36, 45]);
  const pa = 0x1234_5678_9000;
  assert.equal(khoPageTableIndex(pa, 0, 2), Math.floor(pa / 2 ** 27) % 512);
  assert.equal(khoBitmapBit(pa, 0), Math.floor(pa / 4096) % 32768);
  assert.equal(khoBitmapBit(0x4020_0000, 9), (0x4020_0000 / 2 ** 21) % 32768);
});
