import assert from "node:assert/strict";
import fc from "fast-check";
import { FreeBlockIndex, IntHash } from "../../lib/kernel/buddy_free_index.ts";

Deno.test("add/find/remove keep the size, the lists and the head bitmaps; empty pageblocks are dropped", () => {
  const idx = new FreeBlockIndex(2);
  const a = idx.add(5, 0, 1, 0, 0);
  const b = idx.add(2 ** 40 + 511, 0, 1, 3, 0); // above 2^32 pfns too
  assert.equal(idx.size, 2);
  assert.equal(idx.pageblocks, 2);
  assert.equal(idx.find(5), a);
  assert.equal(idx.nid[b], 3);
  assert.equal(idx.head(0), b); // LIFO
  assert.equal(idx.next[b], a);
  assert.equal(idx.count(0), 2);
  assert.equal(idx.firstHeadIn(0, 2 ** 41), 5);
  assert.equal(idx.firstHeadIn(6, 2 ** 40 + 511), null);
  assert.equal(idx.firstHeadIn(6, 2 ** 40 + 512), 2 ** 40 + 511);
  assert.equal(idx.pageblockFreePages(0), 1);
  idx.remove(a);
  assert.equal(idx.find(5), -1);
  assert.equal(idx.pageblocks, 1);
  assert.equal(idx.head(0), b);
  assert.equal(idx.next[b], -1);
  assert.deepEqual([...idx.slots()].map((s) => idx.pfn[s]), [2 ** 40 + 511]);
  const c = idx.add(7, 2, 0, 0, 1); // reuses the freed slot
  assert.equal(c, a);
  assert.equal(idx.pageblockFreePages(0), 4);
});

Deno.test("property: firstHeadIn and blockContaining find the heads; lists stay LIFO", () => {
  // sparse heads (a few per pageblock: listed in the record) and dense ones (a 512-entry map)
  const pfns = fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: 2047 }));
  fc.assert(
    fc.property(
      fc.uniqueArray(pfns, { maxLength: 300 }),
      fc.integer({ min: 0, max: 1 << 20 }),
      fc.integer({ min: 1, max: 1 << 16 }),
      (heads, start, len) => {
        const idx = new FreeBlockIndex(3);
        const slots = heads.map((h, i) => idx.add(h, 0, 0, 0, i % 3));
        // remove every third to exercise clearing and backward-shift deletion
        const live = heads.filter((_, i) => i % 3 !== 2);
        heads.forEach((_, i) => i % 3 === 2 && idx.remove(slots[i]));
        const want = live.filter((h) => h >= start && h < start + len);
        assert.equal(idx.firstHeadIn(start, start + len), want.length ? Math.min(...want) : null);
        assert.equal(idx.size, live.length);
        for (const h of live) {
          assert.equal(idx.pfn[idx.find(h)], h);
          assert.equal(idx.blockContaining(h), idx.find(h)); // order 0: the head only
        }
        if (!live.includes(start)) assert.equal(idx.blockContaining(start), -1);
        for (const h of heads.filter((_, i) => i % 3 === 2)) assert.equal(idx.find(h), -1);
        // list 0 and 1, newest first
        for (let li = 0; li < 2; li++) {
          const got: number[] = [];
          for (let s = idx.head(li); s >= 0; s = idx.next[s]) got.push(idx.pfn[s]);
          assert.deepEqual(got, heads.filter((_, i) => i % 3 === li).reverse());
        }
      },
    ),
    { seed: 4, numRuns: 300 },
  );
});

Deno.test("property: IntHash agrees with a Map under sets and deletes (many collisions)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.boolean(),
          fc.oneof(fc.integer({ min: 0, max: 63 }).map((x) => x * 1024), fc.nat(2 ** 40)),
        ),
        { maxLength: 400 },
      ),
      (ops) => {
        const h = new IntHash(4);
        const m = new Map<number, number>();
        ops.forEach(([del, k], i) => {
          if (del) assert.equal(h.delete(k), m.delete(k));
          else {
            h.set(k, i);
            m.set(k, i);
          }
        });
        assert.equal(h.size, m.size);
        for (const [k, v] of m) assert.equal(h.get(k), v);
      },
    ),
    { seed: 5, numRuns: 300 },
  );
});
