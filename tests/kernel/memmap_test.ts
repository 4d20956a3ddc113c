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

Deno.test("memmap: a pageblock records up to 64 pages one by one, then becomes dense", () => {
  const mm = new Memmap();
  mm.prepCompoundPage(512, 9); // a 2 MiB folio: its head is all the state
  mm.setPageCount(512, 1);
  mm.setPrivate(512, 9, 0x4b484f50);
  const one = mm.stats().approxBytes;
  assert.ok(one < 1000, `${one}`);
  for (let i = 63; i >= 1; i--) mm.setFlag(512 + i, PG_RESERVED); // descending: inserts in front
  // a section's record (~600 B) and 64 records of 16 bytes, not 7.5 KiB of arrays
  assert.ok(mm.stats().approxBytes < 2000, `${mm.stats().approxBytes}`);
  assert.deepEqual([mm.census().packedChunks, mm.census().packedPages], [1, 64]);
  assert.deepEqual(
    [mm.compoundOrder(512), mm.pageCount(512), mm.getPrivateParts(512), mm.compoundHead(700)],
    [9, 1, [9, 0x4b484f50], 512],
  );
  mm.setFlag(512 + 64, PG_RESERVED); // the 65th page
  assert.ok(mm.stats().approxBytes > 7680, "dense typed arrays");
  assert.equal(mm.census().denseChunks, 1);
  // Every field kept its value across the conversion.
  assert.deepEqual(
    [mm.compoundOrder(512), mm.pageCount(512), mm.getPrivateParts(512), mm.compoundHead(700)],
    [9, 1, [9, 0x4b484f50], 512],
  );
  assert.ok([1, 2, 8, 63, 64].every((i) => mm.testFlag(512 + i, PG_RESERVED)));
  assert.ok(!mm.testFlag(512 + 65, PG_RESERVED));
  // Range writes wider than the room left make the chunk dense first.
  const m2 = new Memmap();
  m2.setPageCount(1024, 2);
  m2.setPageCountRange(1025, 100, 1);
  assert.equal(m2.census().denseChunks, 1);
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

Deno.test("memmap: a whole pageblock given one refcount shares one read-only array", () => {
  const mm = new Memmap();
  mm.setPageCountRange(0, 4 * 512, 1); // four pageblocks allocated at once (alloc_contig_range)
  let c = mm.census();
  assert.deepEqual([c.denseChunks, c.uniformParts, c.stateParts], [4, 4, 0]);
  assert.ok(
    mm.stats().approxBytes < 1000,
    "a section record, four chunk objects: no 3.5 KiB parts",
  );
  assert.deepEqual([mm.pageCount(0), mm.pageCount(2047), mm.pageCount(2048)], [1, 1, 0]);
  mm.setPageCount(7, 1); // the same count: still shared
  mm.setPrivate(9, 5); // the private part is separate
  assert.deepEqual([mm.census().uniformParts, mm.census().privParts], [4, 1]);
  // The first write of another value gives the pageblock its own arrays, the counts copied.
  assert.equal(mm.pageRefInc(600), 2);
  assert.deepEqual([mm.pageCount(599), mm.pageCount(600), mm.pageCount(601)], [1, 2, 1]);
  mm.setFlag(1100, PG_RESERVED);
  assert.deepEqual([mm.flags(1100), mm.pageCount(1100), mm.flags(0)], [PG_RESERVED, 1, 0]);
  c = mm.census();
  assert.deepEqual([c.uniformParts, c.stateParts], [2, 2]);
  // The shared array itself was never written: a fresh pageblock still reads 1 everywhere.
  mm.setPageCountRange(8192, 512, 1);
  assert.ok([8192, 8192 + 88, 8703].every((p) => mm.pageCount(p) === 1));
  // Resets and frees of whole pageblocks go back to the shared zero part.
  mm.resetRange(1536, 512);
  mm.setPageCountRange(8192, 512, 0);
  assert.deepEqual([mm.pageCount(1536), mm.pageCount(8192), mm.census().uniformParts], [0, 0, 1]);
  mm.resetRange(0, 20); // part of a shared pageblock: it gets its own arrays
  assert.deepEqual([mm.pageCount(19), mm.pageCount(20)], [0, 1]);
  mm.trim(0, 16384);
  assert.equal(mm.census().denseChunks, 3, "pageblocks 0..2 still hold state; 3 and 16 went");
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
    packedChunks: 0,
    packedPages: 0,
    denseChunks: 0,
    privParts: 0,
    stateParts: 0,
    uniformParts: 0,
    densePagesLog2: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  });
  mm.setPageCount(3, 1); // one page recorded on its own
  mm.setPageCountRange(512, 512, 1); // a whole pageblock: a shared uniform refcount
  mm.setPrivate(1024 + 7, 5);
  mm.setPageCountRange(1024, 20, 2); // 20 pages, one of them with a private value too: packed
  mm.setPageCountRange(1536, 100, 1); // 100 pages: typed arrays
  mm.setPrivate(1536 + 3, 1);
  const c = mm.census();
  assert.deepEqual([c.packedChunks, c.packedPages], [2, 21]);
  assert.deepEqual([c.denseChunks, c.privParts, c.stateParts, c.uniformParts], [2, 1, 1, 1]);
  assert.equal(c.densePagesLog2[9], 1, "512 pages in use");
  assert.equal(c.densePagesLog2[7], 1, "100 pages in use (65..128)");
});

/** A page's fields in the reference model of the property test below. */
interface ModelPage {
  rc: number;
  lo: number;
  hi: number;
  fl: number;
  ord: number;
}

/**
 * The memmap's behaviour against a plain map of pages, whatever representation each pageblock
 * is in: random writes (single pages, ranges, whole pageblocks, batches of stamps, resets,
 * frees, trims) over four pageblocks move chunks through packed records (up to 64, inserted
 * in any order), dense arrays and shared uniform refcounts; after every step each page reads
 * as the model says and the census is consistent (packed chunks hold at most 64 records).
 */
Deno.test("memmap: every representation reads as a plain map of pages (property)", async () => {
  const fc = (await import("fast-check")).default;
  const PAGES = 4 * 512;
  const pfn = fc.integer({ min: 0, max: PAGES - 1 });
  const range = fc.tuple(pfn, fc.integer({ min: 1, max: 700 }));
  const op = fc.oneof(
    fc.record({ k: fc.constant("count"), p: pfn, n: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ k: fc.constant("countRange"), r: range, n: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ k: fc.constant("block"), b: fc.integer({ min: 0, max: 3 }), n: fc.nat(2) }),
    fc.record({ k: fc.constant("inc"), p: pfn, d: fc.constantFrom(1, -1) }),
    fc.record({
      k: fc.constant("priv"),
      p: pfn,
      lo: fc.constantFrom(0, 1, 0xffffffff),
      hi: fc.nat(2),
    }),
    fc.record({
      k: fc.constant("stamp"),
      ps: fc.array(pfn, { minLength: 1, maxLength: 120 }),
      sorted: fc.boolean(),
    }),
    fc.record({ k: fc.constant("flag"), p: pfn, f: fc.constantFrom(PG_RESERVED, PG_NOINIT) }),
    fc.record({ k: fc.constant("unflag"), p: pfn, f: fc.constantFrom(PG_RESERVED, PG_NOINIT) }),
    fc.record({
      k: fc.constant("flagRange"),
      r: range,
      f: fc.constantFrom(PG_RESERVED, PG_NOINIT),
    }),
    fc.record({
      k: fc.constant("unflagRange"),
      r: range,
      f: fc.constantFrom(PG_RESERVED, PG_NOINIT),
    }),
    fc.record({ k: fc.constant("compound"), p: pfn, o: fc.integer({ min: 1, max: 9 }) }),
    fc.record({ k: fc.constant("uncompound"), p: pfn }),
    fc.record({ k: fc.constant("reset"), r: range }),
    fc.record({ k: fc.constant("trim"), r: range }),
  );
  const RESET = ~(PG_RESERVED | PG_HEAD | PG_NOINIT);
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
      const mm = new Memmap();
      const model = new Map<number, ModelPage>();
      const at = (p: number) => {
        let r = model.get(p);
        if (r === undefined) model.set(p, r = { rc: 0, lo: 0, hi: 0, fl: 0, ord: 0 });
        return r;
      };
      const each = ([p, n]: [number, number], f: (p: number) => void) => {
        for (let q = p; q < Math.min(PAGES, p + n); q++) f(q);
      };
      for (const o of ops) {
        switch (o.k) {
          case "count":
            mm.setPageCount(o.p, o.n);
            at(o.p).rc = o.n;
            break;
          case "countRange": {
            const n = Math.min(o.r[1], PAGES - o.r[0]);
            mm.setPageCountRange(o.r[0], n, o.n);
            each(o.r, (q) => void (at(q).rc = o.n));
            break;
          }
          case "block":
            mm.setPageCountRange(o.b * 512, 512, o.n);
            each([o.b * 512, 512], (q) => void (at(q).rc = o.n));
            break;
          case "inc": {
            const v = o.d > 0 ? mm.pageRefInc(o.p) : mm.pageRefDec(o.p);
            at(o.p).rc += o.d;
            assert.equal(v, at(o.p).rc);
            break;
          }
          case "priv":
            mm.setPrivate(o.p, o.lo, o.hi);
            Object.assign(at(o.p), { lo: o.lo, hi: o.hi });
            break;
          case "stamp": {
            const ps = o.sorted ? [...o.ps].sort((a, b) => a - b) : o.ps;
            mm.setPrivateOfPhys(Float64Array.from(ps, (p) => p * 4096), ps.length, 7, 0x4b48);
            for (const p of ps) Object.assign(at(p), { lo: 7, hi: 0x4b48 });
            break;
          }
          case "flag":
            mm.setFlag(o.p, o.f);
            at(o.p).fl |= o.f;
            break;
          case "unflag":
            mm.clearFlag(o.p, o.f);
            at(o.p).fl &= ~o.f;
            break;
          case "flagRange": {
            mm.setFlagRange(o.r[0], Math.min(o.r[1], PAGES - o.r[0]), o.f);
            each(o.r, (q) => void (at(q).fl |= o.f));
            break;
          }
          case "unflagRange":
            mm.clearFlagRange(o.r[0], o.r[1], o.f);
            each(o.r, (q) => void (at(q).fl &= ~o.f));
            break;
          case "compound": {
            const head = o.p - o.p % 2 ** o.o;
            mm.prepCompoundPage(head, o.o);
            Object.assign(at(head), { fl: at(head).fl | PG_HEAD, ord: o.o });
            break;
          }
          case "uncompound":
            mm.clearCompound(o.p);
            Object.assign(at(o.p), { fl: at(o.p).fl & ~PG_HEAD, ord: 0 });
            break;
          case "reset":
            mm.resetRange(o.r[0], o.r[1]);
            each(o.r, (q) => void Object.assign(at(q), { rc: 0, ord: 0, fl: at(q).fl & RESET }));
            break;
          case "trim":
            mm.trim(o.r[0], o.r[0] + o.r[1]);
            break;
        }
        const census = mm.census();
        assert.ok(census.packedPages <= 64 * census.packedChunks);
        assert.equal(census.packedChunks + census.denseChunks, mm.stats().chunks);
      }
      const busy: number[][] = [];
      mm.forEachBusyPage(0, PAGES, (p, rc, fl) => void busy.push([p, rc, fl]));
      const want: number[][] = [];
      for (let p = 0; p < PAGES; p++) {
        const r = model.get(p) ?? { rc: 0, lo: 0, hi: 0, fl: 0, ord: 0 };
        const head = (r.fl & PG_HEAD) !== 0;
        assert.deepEqual(
          [mm.pageCount(p), mm.getPrivateParts(p), mm.flags(p), mm.compoundOrder(p)],
          [r.rc, [r.lo, r.hi], r.fl, head ? r.ord : 0],
          `pfn ${p}`,
        );
        if (r.rc !== 0 || r.fl !== 0) want.push([p, r.rc, r.fl]);
      }
      assert.deepEqual(busy, want);
    }),
    { seed: 19, numRuns: 300 },
  );
});
