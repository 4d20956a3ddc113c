import assert from "node:assert/strict";
import {
  decodeKey,
  encodeKey,
  fls64,
  keyPath,
  leafBit,
  pfnKey,
  radixGeometry,
  tableIndex,
} from "../../../lib/kho/trackers/radix_key.ts";
import {
  KHO_BITMAP_SIZE_LOG2,
  KHO_ORDER_0_LOG2,
  KHO_RADIX_KEY_WIDTH,
  KHO_TABLE_SIZE_LOG2,
  KHO_TREE_MAX_DEPTH,
} from "../../../lib/kho/abi/kexec_handover.ts";

/** kho-facts.md §2.2 test vectors: phys, order, key, indices L5..L1, bit. */
const VECTORS: [bigint, number, bigint, number[]][] = [
  [0x0n, 0, 0x0010000000000000n, [2, 0, 0, 0, 0, 0]],
  [0x1000n, 0, 0x0010000000000001n, [2, 0, 0, 0, 0, 1]],
  [0x100000000n, 0, 0x0010000000100000n, [2, 0, 0, 0, 32, 0]],
  [0x12345678000n, 0, 0x0010000012345678n, [2, 0, 0, 18, 104, 22136]],
  [0x7fffffffff000n, 0, 0x0010007fffffffffn, [2, 0, 63, 511, 511, 32767]],
  [0x200000n, 9, 0x0000080000000001n, [0, 2, 0, 0, 0, 1]],
  [0x0n, 10, 0x0000040000000000n, [0, 1, 0, 0, 0, 0]],
  [0x400000n, 10, 0x0000040000000001n, [0, 1, 0, 0, 0, 1]],
  [0x40000000n, 18, 0x0000000400000001n, [0, 0, 2, 0, 0, 1]],
  [0x80000000n, 18, 0x0000000400000002n, [0, 0, 2, 0, 0, 2]],
];

Deno.test("constants are the kernel's for 4 KiB pages", () => {
  assert.equal(KHO_ORDER_0_LOG2, 52);
  assert.equal(KHO_TABLE_SIZE_LOG2, 9);
  assert.equal(KHO_BITMAP_SIZE_LOG2, 15);
  assert.equal(KHO_TREE_MAX_DEPTH, 6);
  assert.equal(KHO_RADIX_KEY_WIDTH, 60);
});

Deno.test("kho-facts §2.2 vectors: key, decode and indices root to leaf", () => {
  for (const [phys, order, key, path] of VECTORS) {
    const k = encodeKey(Number(phys), order);
    assert.equal(BigInt(k), key, `key of 0x${phys.toString(16)}/${order}`);
    assert.equal(pfnKey(Number(phys) / 4096, order), k);
    assert.deepEqual(decodeKey(k), { phys: Number(phys), order });
    assert.deepEqual(keyPath(k), path);
    for (let level = 5; level >= 1; level--) assert.equal(tableIndex(k, level), path[5 - level]);
    assert.equal(leafBit(k), path[5]);
  }
});

Deno.test("indices agree with a BigInt computation for many keys", () => {
  let x = 12345;
  for (let n = 0; n < 2000; n++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const order = x % 19;
    const pfn = (x * 977 + n * 7919) % 2 ** 41;
    const k = pfnKey(pfn, order);
    const big = (1n << BigInt(52 - order)) | (BigInt(pfn) >> BigInt(order));
    assert.equal(BigInt(k), big);
    for (let level = 1; level <= 5; level++) {
      assert.equal(
        BigInt(tableIndex(k, level)),
        (big >> BigInt((level - 1) * 9 + 15)) & 511n,
      );
    }
    assert.equal(BigInt(leafBit(k)), big & 32767n);
    const d = decodeKey(k);
    assert.equal(d.order, order);
    assert.equal(d.phys, Math.floor(pfn / 2 ** order) * 2 ** order * 4096);
  }
});

Deno.test("larger orders give smaller keys; addresses ascend within an order", () => {
  assert.ok(encodeKey(0, 18) < encodeKey(0, 9));
  assert.ok(encodeKey(2 ** 45, 9) < encodeKey(0, 0));
  assert.ok(encodeKey(0x1000, 0) < encodeKey(0x2000, 0));
});

Deno.test("encode drops the low order bits of the address like the kernel's shift", () => {
  assert.equal(encodeKey(0x201000, 9), encodeKey(0x200000, 9));
  assert.equal(pfnKey(513, 9), pfnKey(512, 9));
});

Deno.test("fls64", () => {
  assert.equal(fls64(0), 0);
  assert.equal(fls64(1), 1);
  assert.equal(fls64(2 ** 31), 32);
  assert.equal(fls64(2 ** 32), 33);
  assert.equal(fls64(2 ** 52), 53);
  assert.equal(fls64(2 ** 53 - 1), 53);
});

Deno.test("invalid arguments are RangeErrors", () => {
  assert.throws(() => encodeKey(0, 53), RangeError);
  assert.throws(() => encodeKey(0, -1), RangeError);
  assert.throws(() => encodeKey(0, 1.5), RangeError);
  assert.throws(() => encodeKey(-4096, 0), RangeError);
  assert.throws(() => pfnKey(2 ** 41, 0), RangeError);
  assert.throws(() => decodeKey(0), RangeError);
  assert.throws(() => decodeKey(2 ** 53), RangeError);
  assert.throws(() => tableIndex(1, 0), RangeError);
  assert.throws(() => tableIndex(1, 6), RangeError);
  assert.deepEqual(decodeKey(1), { phys: 0, order: 52 });
});

Deno.test("depth formulas: both 6 for 4 KiB; the kho-v3 +1 matters for 16 KiB pages", () => {
  for (const f of ["mainline", "kho-v3"] as const) {
    const g = radixGeometry(12, f);
    assert.deepEqual(
      [g.order0Log2, g.tableSizeLog2, g.bitmapSizeLog2, g.treeMaxDepth, g.keyWidth],
      [52, 9, 15, 6, 60],
    );
    assert.ok(g.coversOrder0Bit);
  }
  const old16k = radixGeometry(14, "mainline");
  assert.equal(old16k.treeMaxDepth, 4);
  assert.equal(old16k.keyWidth, 50);
  assert.equal(old16k.coversOrder0Bit, false);
  const new16k = radixGeometry(14, "kho-v3");
  assert.equal(new16k.treeMaxDepth, 5);
  assert.equal(new16k.keyWidth, 61);
  assert.ok(new16k.coversOrder0Bit);
  assert.equal(radixGeometry(16, "kho-v3").treeMaxDepth, 4);
  assert.throws(() => radixGeometry(3), RangeError);
});
