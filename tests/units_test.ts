import assert from "node:assert/strict";
import { ctz, formatSize, getOrder, GiB, ilog2, parseCount, parseSize, TiB } from "../lib/units.ts";

Deno.test("size and count literals", () => {
  assert.equal(parseSize("4K"), 4096);
  assert.equal(parseSize("16G"), 16 * GiB);
  assert.equal(parseSize("1T"), TiB);
  assert.equal(parseSize("16GiB"), 16 * GiB);
  assert.equal(parseSize("0x1000"), 4096);
  assert.equal(parseCount("1Mi"), 1 << 20);
  assert.equal(parseCount("1k"), 1000);
  assert.throws(() => parseSize("16Q"), SyntaxError);
  assert.throws(() => parseCount("1.5"), RangeError);
  assert.equal(formatSize(16 * GiB), "16 GiB");
  assert.equal(formatSize(1536), "1.50 KiB");
});

Deno.test("bit arithmetic beyond 32 bits", () => {
  assert.equal(ilog2(1), 0);
  assert.equal(ilog2(2 ** 40), 40);
  assert.equal(ilog2(2 ** 40 + 5), 40);
  assert.equal(ilog2(2 ** 41 - 1), 40);
  assert.equal(ctz(0), 64);
  assert.equal(ctz(2 ** 33), 33);
  assert.equal(ctz(3 * 2 ** 20), 20);
  for (let b = 0; b < 53; b++) {
    assert.equal(ctz(2 ** b), b);
    assert.equal(ctz(3 * 2 ** b > 2 ** 53 ? 2 ** b : 3 * 2 ** b), b);
  }
  assert.equal(ctz(2 ** 52 + 2 ** 40), 40);
  assert.equal(getOrder(1), 0);
  assert.equal(getOrder(4096), 0);
  assert.equal(getOrder(4097), 1);
  assert.equal(getOrder(8 * 4096 + 1), 4);
});
