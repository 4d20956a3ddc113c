/**
 * The vmemmap (lib/kernel/vmemmap.ts): where a struct page lives, the bytes HVO frees per
 * folio size (luo-hugetlb-facts §4.5: 1 GiB → 16 MiB, 4 KiB kept; 2 MiB → 32 KiB, 7 of 8
 * pages freed), the struct pages written per phase and their cache lines.
 */

import assert from "node:assert/strict";
import {
  HUGETLB_VMEMMAP_RESERVE_BYTES,
  hugetlbVmemmapBytes,
  hugetlbVmemmapOptimizableBytes,
  STRUCT_PAGE_BYTES,
  Vmemmap,
} from "../../lib/kernel/vmemmap.ts";

const MiB = 2 ** 20;

Deno.test("HVO sizes: what a folio's vmemmap is and what HVO frees", () => {
  assert.equal(STRUCT_PAGE_BYTES, 64);
  assert.equal(HUGETLB_VMEMMAP_RESERVE_BYTES, 4096);
  assert.equal(hugetlbVmemmapBytes(18), 16 * MiB);
  assert.equal(hugetlbVmemmapOptimizableBytes(18), 16 * MiB - 4096);
  assert.equal(hugetlbVmemmapBytes(9), 32 * 1024);
  assert.equal(hugetlbVmemmapOptimizableBytes(9) / 4096, 7);
  // 1 TiB of 1 GiB pages: 16 GiB of struct pages without HVO, 4 MiB with (luo-hugetlb-facts §4.5).
  assert.equal(1024 * hugetlbVmemmapBytes(18), 16 * 2 ** 30);
  assert.equal(1024 * (hugetlbVmemmapBytes(18) - hugetlbVmemmapOptimizableBytes(18)), 4 * MiB);
  assert.equal(hugetlbVmemmapOptimizableBytes(18, 56), 0, "not a power of two");
  assert.equal(hugetlbVmemmapOptimizableBytes(0), 0, "a 64-byte vmemmap is under a page");
});

Deno.test("struct page addresses per section rank; HVO ranges only where the vmemmap is contiguous and charged", () => {
  const v = new Vmemmap();
  // Node 0 has sections 0..7 and 16..23 (a hole between): its buffer holds them in rank order.
  const secs = [...Array(8).keys(), ...Array.from({ length: 8 }, (_, i) => 16 + i)];
  v.populate({ nid: 0, phys: 0x1_0000_0000, sections: secs });
  v.populate({ nid: 1, phys: 0, sections: [32, 33, 34, 35, 36, 37, 38, 39] });
  assert.equal(v.populatedBytes, 24 * 2 * MiB);
  assert.equal(v.structPagePhys(16 * 32768), 0x1_0000_0000 + 8 * 2 * MiB);
  assert.equal(v.structPagePhys(10 * 32768), null, "a hole");
  assert.equal(v.structPagePhys(32 * 32768), null, "not charged");
  // A 1 GiB folio at section 0: its 16 MiB of struct pages, the first page kept.
  assert.deepEqual(v.hvoRange(0, 18), {
    startPfn: 0x1_0000_0000 / 4096 + 1,
    endPfn: 0x1_0000_0000 / 4096 + 4096,
  });
  assert.equal(v.hvoRange(32 * 32768, 18), null);
  // A 2 MiB folio: 8 pages of struct pages, 7 freed.
  const r = v.hvoRange(512, 9)!;
  assert.equal(r.endPfn - r.startPfn, 7);
  assert.throws(() => v.populate({ nid: 0, phys: 0, sections: [] }), RangeError);
});

Deno.test("struct page writes are counted per phase, in bulk; one cache line per 64-byte struct page", () => {
  const v = new Vmemmap();
  v.charge("restore", 262_144);
  v.charge("compound", 262_144);
  v.charge("deferredInit", 10);
  assert.equal(v.writes("restore"), 262_144);
  assert.equal(v.cacheLines(), 2 * 262_144 + 10);
  assert.equal(v.recordHvo(18), 16 * MiB - 4096);
  assert.equal(v.hvoFolios, 1);
  assert.throws(() => v.charge("stamp", -1), RangeError);
  v.discard();
  assert.deepEqual([v.cacheLines(), v.hvoFreedBytes, v.populatedBytes], [0, 0, 0]);
  assert.equal(new Vmemmap(128).cacheLines(), 0);
});

Deno.test("folds: a folio of whole sections mapped onto one page — its struct pages alias the page's 64; misuse is a RangeError", () => {
  const v = new Vmemmap();
  v.populate({ nid: 0, phys: 0x1000_0000, sections: [0, 1, 2, 3, 4, 5, 6, 7] });
  const head = 2 ** 18; // the second GiB, not populated
  v.fold({ headPfn: head, order: 18, pagePhys: 0x2000_0000 });
  assert.equal(v.populatedBytes, 8 * 2 * MiB + 4096, "8 sections and one page");
  assert.equal(v.mappedBytes, v.populatedBytes);
  assert.deepEqual([v.foldedFolios, v.foldedPages, v.foldedStructPages], [1, 2 ** 18, 64]);
  assert.equal(v.structPagePhys(head), 0x2000_0000);
  assert.equal(v.structPagePhys(head + 63), 0x2000_0000 + 63 * 64);
  assert.equal(v.structPagePhys(head + 64), 0x2000_0000, "tail 64 aliases the head's slot");
  assert.equal(v.structPagePhys(5), 0x1000_0000 + 5 * 64, "populated sections as before");
  assert.equal(v.foldOf(head + 2 ** 18 - 1)?.headPfn, head);
  assert.equal(v.foldOf(head + 2 ** 18), null);
  assert.equal(v.hvoRange(head, 18), null, "nothing for HVO to free");
  assert.deepEqual(v.folds(), [{ headPfn: head, order: 18, pagePhys: 0x2000_0000 }]);
  const bad = [
    { headPfn: 2 ** 19, order: 9, pagePhys: 0 }, // 2 MiB: part of a section
    { headPfn: 2 ** 19 + 2 ** 15, order: 18, pagePhys: 0 }, // unaligned
    { headPfn: head, order: 18, pagePhys: 0 }, // folded twice
    { headPfn: 0, order: 18, pagePhys: 0x8000_0000 }, // populated sections
    { headPfn: 2 ** 19, order: 18, pagePhys: 2 ** 31 + 4096 }, // the page inside the folio
    { headPfn: 2 ** 19, order: 18, pagePhys: 100 }, // the page unaligned
  ];
  for (const f of bad) assert.throws(() => v.fold(f), RangeError, JSON.stringify(f));
  assert.throws(() => v.populate({ nid: 1, phys: 0, sections: [8] }), /section 8 is folded/);
  v.discard();
  assert.deepEqual([v.foldedFolios, v.foldedPages, v.foldOf(head)], [0, 0, null]);
});
