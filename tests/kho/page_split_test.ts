import assert from "node:assert/strict";
import fc from "fast-check";
import { splitOrderAt, splitPages } from "../../lib/kho/page_split.ts";

Deno.test("splitPages: natural alignment, exact cover, the example of the doc", () => {
  assert.deepEqual(splitPages(3, 13), [{ pfn: 3, order: 0 }, { pfn: 4, order: 2 }, {
    pfn: 8,
    order: 3,
  }]);
  assert.deepEqual(splitPages(2 ** 40, 2 ** 18), [{ pfn: 2 ** 40, order: 18 }]);
  assert.deepEqual(splitPages(7, 1), [{ pfn: 7, order: 0 }]);
});

Deno.test("splitOrderAt: the 7.1 NUMA rule shrinks a block that would span two nodes", () => {
  const nidOf = (pfn: number) => (pfn < 1000 ? 0 : 1);
  assert.equal(splitOrderAt(512, 1536), 9); // 512..1023 spans nodes 0 and 1
  assert.equal(splitOrderAt(512, 1536, nidOf), 8); // 512..767 is node 0 only
  const blocks = splitPages(512, 1024, nidOf);
  for (const b of blocks) assert.equal(nidOf(b.pfn), nidOf(b.pfn + 2 ** b.order - 1));
});

Deno.test("property: the split covers the range exactly with aligned blocks", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 45 }),
      fc.integer({ min: 1, max: 5000 }),
      (pfn, n) => {
        let next = pfn;
        for (const b of splitPages(pfn, n)) {
          assert.equal(b.pfn, next);
          assert.equal(b.pfn % 2 ** b.order, 0);
          assert.equal(b.order, splitOrderAt(b.pfn, pfn + n));
          next += 2 ** b.order;
        }
        assert.equal(next, pfn + n);
      },
    ),
    { seed: 9, numRuns: 300 },
  );
});
