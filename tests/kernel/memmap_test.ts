import assert from "node:assert/strict";
import { KernelBug } from "../../lib/errors.ts";
import {
  MAX_FOLIO_ORDER,
  Memmap,
  PG_HEAD,
  PG_NOINIT,
  PG_RESERVED,
} from "../../lib/kernel/memmap.ts";

Deno.test("memmap: untouched pages have the default state and cost nothing", () => {
  const mm = new Memmap();
  for (const pfn of [0, 1, 511, 512, 2 ** 28 - 1, 2 ** 33 - 1]) {
    assert.equal(mm.pageCount(pfn), 0);
    assert.deepEqual(mm.getPrivateParts(pfn), [0, 0]);
    assert.equal(mm.flags(pfn), 0);
    assert.equal(mm.compoundHead(pfn), pfn);
    assert.equal(mm.isTail(pfn), false);
  }
  mm.setPageCount(5, 0);
  mm.setPrivate(5, 0, 0);
  mm.clearFlag(5, PG_RESERVED);
  mm.setPageCountRange(0, 2 ** 30, 0);
  assert.deepEqual(mm.stats(), { sections: 0, chunks: 0, approxBytes: 0 });
});

Deno.test("memmap: refcount, private and flags round-trip; storage is per pageblock", () => {
  const mm = new Memmap();
  const far = 2 ** 33 - 3; // a 32 TiB machine's last pages
  mm.setPageCount(7, 3);
  assert.equal(mm.pageRefInc(7), 4);
  assert.equal(mm.pageRefDec(7), 3);
  assert.equal(mm.pageCount(7), 3);
  assert.equal(mm.pageCount(6), 0);
  mm.setPrivate(far, 0x0000000a, 0x4b484f50);
  assert.deepEqual(mm.getPrivateParts(far), [0x0a, 0x4b484f50]);
  assert.equal(mm.getPrivateBig(far), 0x4b484f500000000an);
  mm.setPrivate(600, 5);
  assert.equal(mm.getPrivate(600), 5);
  mm.setFlag(1000, PG_RESERVED);
  assert.ok(mm.testFlag(1000, PG_RESERVED));
  assert.ok(!mm.testFlag(1000, PG_HEAD));
  mm.clearFlag(1000, PG_RESERVED);
  assert.ok(!mm.testFlag(1000, PG_RESERVED));
  // pfns 7, 600 and 1000 are in pageblocks 0 and 1 of section 0; far is in another section.
  const st = mm.stats();
  assert.equal(st.sections, 2);
  assert.equal(st.chunks, 3);
  // Each pageblock has one or two pages with state: three sparse chunks of a few hundred bytes.
  assert.ok(st.approxBytes > 3 * 160 && st.approxBytes < 2 * 2100 + 3 * 500, `${st.approxBytes}`);
});

Deno.test("memmap: a pageblock records up to eight pages one by one, then becomes dense", () => {
  const mm = new Memmap();
  mm.prepCompoundPage(512, 9); // a 2 MiB folio: its head is all the state
  mm.setPageCount(512, 1);
  mm.setPrivate(512, 9, 0x4b484f50);
  const sparse = mm.stats().approxBytes;
  assert.ok(sparse < 1000, `${sparse}`);
  for (let i = 1; i < 8; i++) mm.setFlag(512 + i, PG_RESERVED);
  assert.ok(mm.stats().approxBytes < 2000, "eight pages: still sparse");
  mm.setFlag(512 + 8, PG_RESERVED); // the ninth page
  assert.ok(mm.stats().approxBytes > 7680, "dense typed arrays");
  // Every field kept its value across the conversion.
  assert.deepEqual(
    [mm.compoundOrder(512), mm.pageCount(512), mm.getPrivateParts(512), mm.compoundHead(700)],
    [9, 1, [9, 0x4b484f50], 512],
  );
  assert.ok([1, 2, 8].every((i) => mm.testFlag(512 + i, PG_RESERVED)));
  // Range writes wider than the room left make the chunk dense first.
  const m2 = new Memmap();
  m2.setPageCount(1024, 2);
  m2.setPageCountRange(1025, 100, 1);
  assert.deepEqual([m2.pageCount(1024), m2.pageCount(1124), m2.pageCount(1125)], [2, 1, 0]);
  m2.setPageCountRange(1024, 512, 0);
  m2.trim(1024, 1536);
  assert.equal(m2.stats().chunks, 0);
  const m3 = new Memmap();
  m3.setFlag(3, PG_RESERVED);
  m3.setPageCount(5, 1);
  const seen: number[] = [];
  m3.forEachBusyPage(0, 512, (pfn) => void seen.push(pfn));
  assert.deepEqual(seen, [3, 5]);
  m3.resetRange(0, 512);
  assert.deepEqual([m3.flags(3), m3.pageCount(5)], [0, 0]);
});

Deno.test("memmap: range setters fill across chunk boundaries", () => {
  const mm = new Memmap();
  mm.setPageCountRange(500, 600, 1);
  assert.equal(mm.pageCount(499), 0);
  assert.equal(mm.pageCount(500), 1);
  assert.equal(mm.pageCount(1099), 1);
  assert.equal(mm.pageCount(1100), 0);
  assert.equal(mm.stats().chunks, 3);
  mm.setFlagRange(510, 10, PG_RESERVED | PG_NOINIT);
  assert.ok(mm.testFlag(519, PG_NOINIT) && !mm.testFlag(520, PG_NOINIT));
  mm.clearFlagRange(0, 4096, PG_NOINIT);
  assert.ok(mm.testFlag(515, PG_RESERVED) && !mm.testFlag(515, PG_NOINIT));
  const busy: number[] = [];
  mm.forEachBusyPage(505, 512, (p) => {
    busy.push(p);
  });
  assert.deepEqual(busy, [505, 506, 507, 508, 509, 510, 511]);
  mm.resetRange(0, 4096);
  assert.equal(mm.pageCount(600), 0);
  assert.equal(mm.flags(515), 0);
  mm.trim(0, 4096);
  assert.equal(mm.stats().chunks, 0);
});

Deno.test("memmap: trim keeps chunks that still hold state", () => {
  const mm = new Memmap();
  mm.setPrivate(3, 1);
  mm.setPageCount(700, 1);
  mm.setPageCount(700, 0);
  mm.trim(0, 1024);
  assert.equal(mm.stats().chunks, 1);
  assert.equal(mm.getPrivate(3), 1);
});

Deno.test("memmap: compound head lookup for every order 1..18", () => {
  for (let order = 1; order <= MAX_FOLIO_ORDER; order++) {
    const mm = new Memmap();
    const n = 2 ** order;
    const head = 7 * 2 ** 18 + (order < 18 ? 3 * n : 0); // aligned to the order
    mm.prepCompoundPage(head, order);
    assert.equal(mm.stats().chunks, 1, "tails are not written");
    for (const off of [0, 1, n >> 1, n - 1]) {
      assert.equal(mm.compoundHead(head + off), head, `order ${order} off ${off}`);
    }
    assert.equal(mm.compoundHead(head + n), head + n);
    assert.equal(mm.compoundHead(head - 1), head - 1);
    assert.equal(mm.compoundOrder(head), order);
    assert.equal(mm.compoundOrder(head + n - 1), 0);
    assert.equal(mm.folioOrder(head + n - 1), order);
    assert.ok(mm.isHead(head) && !mm.isTail(head));
    assert.ok(mm.isTail(head + n - 1));
    mm.clearCompound(head);
    assert.equal(mm.compoundHead(head + n - 1), head + n - 1);
  }
});

Deno.test("memmap: nested candidates — a small folio next to a large one", () => {
  const mm = new Memmap();
  mm.prepCompoundPage(0, 2); // [0, 4)
  mm.prepCompoundPage(8, 3); // [8, 16)
  assert.equal(mm.compoundHead(3), 0);
  assert.equal(mm.compoundHead(4), 4);
  assert.equal(mm.compoundHead(7), 7);
  assert.equal(mm.compoundHead(15), 8);
});

Deno.test("memmap: prepCompoundPage rejects bad orders and misaligned heads", () => {
  const mm = new Memmap();
  assert.throws(() => mm.prepCompoundPage(0, 0), RangeError);
  assert.throws(() => mm.prepCompoundPage(0, 19), RangeError);
  assert.throws(() => mm.prepCompoundPage(2, 2), RangeError);
});

Deno.test("memmap: splitPage gives every page refcount 1", () => {
  const mm = new Memmap();
  mm.setPageCount(1024, 1);
  mm.splitPage(1024, 9);
  for (const p of [1024, 1025, 1300, 1535]) assert.equal(mm.pageCount(p), 1);
  assert.equal(mm.pageCount(1536), 0);
  mm.prepCompoundPage(2048, 2);
  mm.setPageCount(2048, 1);
  const bug = (re: RegExp) => (e: unknown) => e instanceof KernelBug && re.test(e.message);
  assert.throws(() => mm.splitPage(2048, 2), bug(/^VM_BUG_ON_PAGE\(PageCompound\(page\)\)/));
  assert.throws(() => mm.splitPage(4096, 2), bug(/^VM_BUG_ON_PAGE\(!page_count\(page\)\)/));
});

Deno.test("memmap: census counts the chunks by representation and pages in use", () => {
  const mm = new Memmap();
  assert.deepEqual(mm.census(), {
    sparseChunks: 0,
    sparsePages: 0,
    denseChunks: 0,
    privParts: 0,
    stateParts: 0,
    densePagesLog2: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  });
  mm.setPageCount(3, 1); // one page recorded on its own
  mm.setPageCountRange(512, 512, 1); // a whole pageblock: typed arrays
  mm.setPrivate(1024 + 7, 5);
  mm.setPageCountRange(1024, 20, 2); // 20 pages, one of them with a private value too
  const c = mm.census();
  assert.deepEqual([c.sparseChunks, c.sparsePages], [1, 1]);
  assert.deepEqual([c.denseChunks, c.privParts, c.stateParts], [2, 1, 2]);
  assert.equal(c.densePagesLog2[9], 1, "512 pages in use");
  assert.equal(c.densePagesLog2[5], 1, "20 pages in use (17..32)");
});
