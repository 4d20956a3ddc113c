import assert from "node:assert/strict";
import fc from "fast-check";
import { FreeBlockIndex } from "../../lib/kernel/buddy_free_index.ts";

Deno.test("set/get/delete keep the size and the head bitmaps; empty pageblocks are dropped", () => {
  const idx = new FreeBlockIndex<number>();
  idx.set(5, 1);
  idx.set(5, 2); // replaces, no second entry
  idx.set(2 ** 40 + 511, 3); // above 2^32 pfns too
  assert.equal(idx.size, 2);
  assert.equal(idx.pageblocks, 2);
  assert.equal(idx.get(5), 2);
  assert.equal(idx.firstHeadIn(0, 2 ** 41), 5);
  assert.equal(idx.firstHeadIn(6, 2 ** 40 + 511), null);
  assert.equal(idx.firstHeadIn(6, 2 ** 40 + 512), 2 ** 40 + 511);
  assert.ok(idx.delete(5));
  assert.ok(!idx.delete(5));
  assert.equal(idx.pageblocks, 1);
  assert.deepEqual([...idx.values()], [3]);
});

Deno.test("property: firstHeadIn is the lowest head in the range", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 60 }),
      fc.integer({ min: 0, max: 4095 }),
      fc.integer({ min: 1, max: 2048 }),
      (heads, start, len) => {
        const idx = new FreeBlockIndex<boolean>();
        for (const h of heads) idx.set(h, true);
        // delete every third to exercise clearing
        const live = heads.filter((h, i) => (i % 3 === 2 ? !idx.delete(h) : true));
        const want = live.filter((h) => h >= start && h < start + len);
        assert.equal(idx.firstHeadIn(start, start + len), want.length ? Math.min(...want) : null);
        assert.equal(idx.size, live.length);
      },
    ),
    { seed: 4, numRuns: 400 },
  );
});
