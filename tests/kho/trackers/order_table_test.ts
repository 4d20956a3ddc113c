import assert from "node:assert/strict";
import { TrackerCorruptionError } from "../../../lib/kho/trackers/corruption.ts";
import { KhoError } from "../../../lib/errors.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import {
  OrderTableTracker,
  type OrderTableWalkErrorReason,
  walkOrderTable,
} from "../../../lib/kho/trackers/order_table.ts";
import {
  bitmapTableShift,
  KHO_ORDER_TABLE_BYTES,
  KHO_ORDER_TABLE_COMPAT,
  KHO_ORDER_TABLE_PROP,
  KHO_ORDER_TABLE_SLOTS,
  khoBitmapBit,
  khoPageTableIndex,
  khoPageTableLevelShift,
  khoTableLevel,
} from "../../../lib/kho/abi/rfc_order_table.ts";
import { FaultyAllocator, PagePool } from "../../../lib/design/page_pool.ts";
import { TrackerCounters } from "../../../lib/kho/trackers/counters.ts";
import { trackerFormat } from "../../../lib/kho/trackers/registry.ts";

const GiB = 2 ** 30;
const TiB = 2 ** 40;

function setup(memBytes = TiB, poolBase = TiB / 2, poolPages = 1 << 16) {
  const mem = new PhysicalMemory(memBytes);
  const pool = new PagePool({ mem, basePhys: poolBase, pages: poolPages });
  const log = new KernelLog();
  const t = OrderTableTracker.create({ mem, alloc: pool, log });
  return { mem, pool, log, t };
}

function collect(walk: (cb: (p: number, o: number) => number) => number): [number, number][] {
  const out: [number, number][] = [];
  walk((p, o) => {
    out.push([p, o]);
    return 0;
  });
  return out;
}

// ---------------------------------------------------------------- independent model (BigInt)

/** `kho_table_level` recomputed from the RFC text, independently of lib/. */
function modelLevels(order: number): number {
  const shift = 12 + 12 + 3 + order;
  if (shift >= 64) return 1;
  return Math.floor((64 - shift + 8) / 9) + 1;
}

/** Path of a block in the posted structure: [order, idx(Ltop), ..., idx(L2)] and its bit. */
function modelPath(pfn: number, order: number): { path: number[]; bit: number } {
  const pa = BigInt(pfn) * 4096n;
  const path: number[] = [order];
  for (let level = modelLevels(order); level > 1; level--) {
    const shift = BigInt(27 + order + 9 * (level - 2));
    path.push(Number((pa >> shift) & 511n));
  }
  const mask = (1n << BigInt(27 + order)) - 1n;
  const masked = pa & mask;
  const word = masked >> BigInt(12 + 6 + order); // kho_get_bitmap_table_index
  const offset = (pa >> BigInt(12 + order)) & 0x3fn; // PRESERVED_PAGE_OFFSET_SHIFT
  return { path, bit: Number(word * 64n + offset) };
}

/**
 * Reads the tracker's bytes with readU64/readBytes and checks them against the model: the
 * order table page holds exactly the slots of orders ever added (at byte 8 × order, also
 * past slot 9), every table holds exactly the entries on ever-added paths, and every bitmap
 * exactly the current bits. Returns the pages reached, sorted.
 */
function checkBytes(
  mem: PhysicalMemory,
  root: number,
  ever: Iterable<[number, number]>,
  current: Iterable<[number, number]>,
): number[] {
  const entries = new Map<string, Set<number>>();
  const bits = new Map<string, Set<number>>();
  for (const [pfn, order] of ever) {
    const { path } = modelPath(pfn, order);
    for (let d = 0; d < path.length; d++) {
      const key = path.slice(0, d).join("/");
      if (!entries.has(key)) entries.set(key, new Set());
      entries.get(key)!.add(path[d]);
    }
    const leaf = path.join("/");
    if (!bits.has(leaf)) bits.set(leaf, new Set());
  }
  for (const [pfn, order] of current) {
    const { path, bit } = modelPath(pfn, order);
    bits.get(path.join("/"))!.add(bit);
  }
  const pages: number[] = [root];
  const visit = (phys: number, order: number, level: number, path: string) => {
    pages.push(phys);
    if (level === 1) {
      const bytes = mem.readBytes(phys, 4096);
      const got = new Set<number>();
      for (let i = 0; i < 4096; i++) {
        for (let b = 0; b < 8; b++) if ((bytes[i] >> b) & 1) got.add(i * 8 + b);
      }
      assert.deepEqual(got, bits.get(path) ?? new Set(), `bitmap bits at ${path}`);
      return;
    }
    const nonZero = new Set<number>();
    for (let i = 0; i < 512; i++) {
      const v = mem.readU64(phys + 8 * i);
      if (v === 0) continue;
      nonZero.add(i);
      assert.equal(v % 4096, 0);
      visit(v, order, level - 1, `${path}/${i}`);
    }
    assert.deepEqual(nonZero, entries.get(path) ?? new Set(), `entries at ${path}`);
  };
  const slots = new Set<number>();
  for (let i = 0; i < 512; i++) {
    const v = mem.readU64(root + 8 * i);
    if (v === 0) continue;
    slots.add(i);
    visit(v, i, modelLevels(i), String(i));
  }
  assert.deepEqual(slots, entries.get("") ?? new Set(), "order table slots");
  return pages.sort((a, b) => a - b);
}

/** What the successor reports: orders 0..9 ascending, addresses ascending. */
function expectedWalk(blocks: Iterable<[number, number]>): [number, number][] {
  const seen = new Map<string, [number, number]>();
  for (const [pfn, order] of blocks) {
    if (order >= KHO_ORDER_TABLE_SLOTS) continue;
    const phys = Math.floor(pfn / 2 ** order) * 2 ** order * 4096;
    seen.set(`${order}:${phys}`, [phys, order]);
  }
  return [...seen.values()].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
}

// ---------------------------------------------------------------- geometry

Deno.test("constants: FDT property, compat, 10 slots of 80 bytes", () => {
  assert.equal(KHO_ORDER_TABLE_PROP, "preserved-order-table");
  assert.equal(KHO_ORDER_TABLE_COMPAT, "kho-v1");
  assert.equal(KHO_ORDER_TABLE_SLOTS, 10);
  assert.equal(KHO_ORDER_TABLE_BYTES, 80);
});

Deno.test("geometry: kho_table_level, level shifts and indices as posted", () => {
  const levels = Array.from({ length: 19 }, (_, o) => khoTableLevel(o));
  assert.deepEqual(levels, [6, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4]);
  for (let o = 0; o <= 52; o++) assert.equal(khoTableLevel(o), modelLevels(o), `order ${o}`);
  assert.equal(khoTableLevel(37), 1, "BITMAP_TABLE_SHIFT ≥ 64: one bitmap covers everything");
  assert.equal(bitmapTableShift(0), 27);
  // the diagram: Lv6 = bit 63, Lv5 = 62:54, Lv4 = 53:45, Lv3 = 44:36, Lv2 = 35:27
  assert.deepEqual([6, 5, 4, 3, 2, 1].map((l) => khoPageTableLevelShift(l, 0)), [
    63,
    54,
    45,
    36,
    27,
    0,
  ]);
  assert.equal(khoPageTableLevelShift(5, 9), 63, "order 9: top level is bit 63 again");
  const pa = 0x12345678000;
  for (const o of [0, 1, 9]) {
    const { path, bit } = modelPath(pa / 4096, o);
    const got = [o];
    for (let l = khoTableLevel(o); l > 1; l--) got.push(khoPageTableIndex(pa, o, l));
    assert.deepEqual(got, path);
    assert.equal(khoBitmapBit(pa, o), bit);
  }
  // one bitmap table covers 128 MiB of order-0 pages, 64 GiB of 2 MiB blocks
  assert.equal(2 ** bitmapTableShift(0), 128 * 2 ** 20);
  assert.equal(2 ** bitmapTableShift(9), 64 * GiB);
});

// ---------------------------------------------------------------- layout and walk

Deno.test("bytes match the posted layout for a mixed set (orders 0..9)", () => {
  const { mem, t } = setup();
  const blocks: [number, number][] = [
    [0, 0],
    [1, 0],
    [2 ** 20, 0],
    [0x12345678, 0],
    [0x200, 9],
    [0x2, 1],
    [0x400, 5],
    [2 ** 27 - 1, 0],
  ];
  for (const [p, o] of blocks) t.add(p, o);
  const pages = checkBytes(mem, t.handoverRoot(), blocks, blocks);
  assert.deepEqual(pages, t.ownedPagesPhys());
  assert.equal(t.metadataPages(), pages.length);
  assert.equal(t.metadataBytes(), pages.length * 4096);
  for (const [p, o] of blocks) assert.ok(t.isPreserved(p, o));
  assert.ok(!t.isPreserved(3, 0));
  assert.ok(!t.isPreserved(0x200, 8));
  // bit i of a bitmap is bit i%8 of byte i/8: pfn 13 order 0 → byte 1 bit 5
  t.add(13, 0);
  let bm = t.slotPhys(0);
  for (let l = 6; l > 1; l--) bm = mem.readU64(bm); // indices all 0 for pfn 13
  assert.equal(mem.readU8(bm + 1) & (1 << 5), 1 << 5);
});

Deno.test("walk: orders 0..9 ascending, addresses ascending; the successor sees the same", () => {
  const { mem, t } = setup();
  const blocks: [number, number][] = [
    [0x800, 9],
    [0x3000, 0],
    [0x200, 9],
    [0x1000, 0],
    [0x40, 6],
    [2 ** 27, 0],
    [0x2, 1],
  ];
  for (const [p, o] of blocks) t.add(p, o);
  const want = expectedWalk(blocks);
  assert.deepEqual(want.map(([, o]) => o), [0, 0, 0, 1, 6, 9, 9]);
  assert.deepEqual(collect((cb) => t.walk(cb)), want);
  const incoming = trackerFormat("order-table").incoming(mem, t.handoverRoot());
  assert.equal(incoming.kind, "order-table");
  assert.deepEqual(collect((cb) => incoming.walk(cb)), want);
});

Deno.test("duplicate add is a no-op; del (extension) clears, frees nothing, WARNs on no path", () => {
  const { t, mem, pool, log } = setup();
  t.add(0x1234, 0);
  const image = mem.image();
  const used = pool.inUseSorted();
  t.add(0x1234, 0);
  assert.deepEqual(mem.image(), image);
  assert.deepEqual(pool.inUseSorted(), used);
  t.add(0x200, 9);
  const pages = t.metadataPages();
  t.del(0x1234, 0);
  t.del(0x200, 9);
  assert.equal(t.metadataPages(), pages);
  assert.deepEqual(collect((cb) => t.walk(cb)), []);
  t.del(0x1235, 0); // path present, bit clear: silent
  assert.equal(log.warnings().length, 0);
  t.del(2 ** 35, 0); // no path
  t.del(0x400, 10); // no slot table
  assert.equal(log.warnings("kho_order_table_del").length, 2);
  checkBytes(mem, t.handoverRoot(), [[0x1234, 0], [0x200, 9]], []);
});

Deno.test("invalid arguments are EINVAL; dirty root refused; create ENOMEM; destroy", () => {
  const { t, mem, pool, log } = setup();
  for (const [p, o] of [[0, 53], [0, -1], [1.5, 0], [-1, 0], [2 ** 41, 0]]) {
    assert.throws(() => t.add(p, o), (e) => e instanceof KhoError && e.code === "EINVAL");
  }
  const dirty = pool.allocZeroedPage("x")!;
  mem.writeU8(dirty + 100, 1);
  assert.throws(
    () => new OrderTableTracker({ mem, alloc: pool, log, rootPhys: dirty }),
    (e) => e instanceof KhoError && e.code === "EINVAL",
  );
  const faulty = new FaultyAllocator(pool);
  faulty.faults.arm({ nth: 1 });
  const inUse = pool.inUse.size;
  assert.throws(
    () => OrderTableTracker.create({ mem, alloc: faulty, log }),
    (e) => e instanceof KhoError && e.code === "ENOMEM",
  );
  assert.equal(pool.inUse.size, inUse);
  assert.equal(faulty.faults.sites.get("kho_order_table"), 1);
  t.add(5, 0);
  const c = t.counters;
  t.destroy();
  assert.deepEqual(pool.inUseSorted(), [dirty]);
  assert.equal(c.pagesAllocated, c.pagesFreed);
  assert.equal(t.handoverRoot(), 0);
  assert.throws(() => t.add(5, 0), (e) => e instanceof KhoError && e.code === "EINVAL");
});

// ---------------------------------------------------------------- orders without a slot

Deno.test("order 10 and order 18: written past slot 9, built, and lost across kexec", () => {
  const { mem, t } = setup();
  const root = t.handoverRoot();
  t.add(0x1000, 0);
  const before = t.metadataPages();
  t.add(0x400, 10); // a MAX_PAGE_ORDER block at 4 MiB
  assert.equal(t.metadataPages() - before, 4, "top table + 2 tables + bitmap (4 levels)");
  const slot10 = mem.readU64(root + 80);
  assert.ok(slot10 !== 0 && t.ownedPagesPhys().includes(slot10), "bytes 80..87 = table");
  t.add(0x40000, 18); // a 1 GiB folio at 1 GiB
  const slot18 = mem.readU64(root + 144);
  assert.ok(slot18 !== 0 && t.ownedPagesPhys().includes(slot18), "bytes 144..151 = table");
  // nothing else in the order table page changed: slots 0, 10, 18 only
  const nonZero: number[] = [];
  for (let i = 0; i < 512; i++) if (mem.readU64(root + 8 * i) !== 0) nonZero.push(i);
  assert.deepEqual(nonZero, [0, 10, 18]);
  // the outgoing kernel thinks they are preserved ...
  assert.ok(t.isPreserved(0x400, 10) && t.isPreserved(0x40000, 18));
  // ... and the bytes hold them exactly as the posted code would
  checkBytes(mem, root, [[0x1000, 0], [0x400, 10], [0x40000, 18]], [
    [0x1000, 0],
    [0x400, 10],
    [0x40000, 18],
  ]);
  // the successor reads slots 0..9: only the order-0 page survives
  const got: [number, number][] = [];
  const r = walkOrderTable({ mem, rootPhys: root }, (p, o) => (got.push([p, o]), 0));
  assert.ok(r.ok);
  assert.deepEqual(got, [[0x1000 * 4096, 0]]);
  assert.equal(r.ignoredSlots, 2, "two slots past the struct hold lost trees");
});

/** `kho_preserve_phys` as posted in RFC v1: blocks of min(ctz(pfn), ilog2(end - pfn)). */
function preservePhys(t: OrderTableTracker, phys: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  let pfn = phys / 4096;
  const end = (phys + size) / 4096;
  while (pfn < end) {
    let ctz = 0;
    while (ctz < 52 && (pfn / 2 ** ctz) % 2 === 0) ctz++;
    const order = Math.min(ctz, Math.floor(Math.log2(end - pfn)));
    t.add(pfn, order);
    out.push([pfn, order]);
    pfn += 2 ** order;
  }
  return out;
}

Deno.test("kho_preserve_phys of an aligned 4 MiB range and a 1 GiB folio: silently lost", () => {
  const { mem, t } = setup();
  const blocks = preservePhys(t, 12 * 2 ** 20, 4 * 2 ** 20); // 12 MiB: order-10 aligned
  assert.deepEqual(blocks, [[3072, 10]]);
  const part = preservePhys(t, 6 * 2 ** 20, 6 * 2 ** 20); // 6..12 MiB: orders 9 and 10
  assert.deepEqual(part, [[1536, 9], [2048, 10]]);
  t.add(2 ** 18, 18); // a gigantic folio
  const r = walkOrderTable({ mem, rootPhys: t.handoverRoot() }, () => 0);
  assert.deepEqual([r.ok, r.blocks, r.ignoredSlots], [true, 1, 2]);
  assert.deepEqual(collect((cb) => t.walk(cb)), [[6 * 2 ** 20, 9]]);
});

// ---------------------------------------------------------------- ENOMEM: no rollback

/** Pages on the path of `(pfn, order)` from its slot, until the first empty entry. */
function pathPages(mem: PhysicalMemory, root: number, pfn: number, order: number): number[] {
  const out: number[] = [];
  let p = mem.readU64(root + 8 * order);
  if (p === 0) return out;
  out.push(p);
  for (let level = khoTableLevel(order); level > 1; level--) {
    p = mem.readU64(p + 8 * khoPageTableIndex(pfn * 4096, order, level));
    if (p === 0) break;
    out.push(p);
  }
  return out;
}

Deno.test("ENOMEM at each allocation point: no rollback, no leak, no dangling entry", () => {
  const scenarios: { existing: [number, number][]; add: [number, number]; need: number }[] = [
    { existing: [], add: [2 ** 20, 0], need: 6 }, // top (L6), L5, L4, L3, L2, bitmap
    { existing: [], add: [0x200, 9], need: 5 },
    { existing: [], add: [0x400, 10], need: 4 }, // slot past the struct
    { existing: [[2 ** 20, 0]], add: [2 ** 33, 0], need: 3 }, // new L4 entry: L3, L2, bitmap
    { existing: [[2 ** 20, 0]], add: [2 ** 20 + 2 ** 15, 0], need: 1 }, // new bitmap
  ];
  for (const { existing, add: [pfn, order], need } of scenarios) {
    for (let k = 1; k <= need; k++) {
      const what = `order ${order} k=${k}`;
      const mem = new PhysicalMemory(64 * GiB);
      const pool = new PagePool({ mem, basePhys: 32 * GiB, pages: 64 });
      const alloc = new FaultyAllocator(pool);
      const t = OrderTableTracker.create({ mem, alloc, log: new KernelLog() });
      for (const [p, o] of existing) t.add(p, o);
      const root = t.handoverRoot();
      const pathBefore = pathPages(mem, root, pfn, order).length;
      const pagesBefore = t.metadataPages();
      alloc.faults.arm({ nth: k });
      assert.throws(() => t.add(pfn, order), (e) => e instanceof KhoError && e.code === "ENOMEM");
      // the k-1 tables allocated before the failure stay linked (the kernel has no rollback)
      assert.equal(t.metadataPages() - pagesBefore, k - 1, what);
      const path = pathPages(mem, root, pfn, order);
      assert.equal(path.length, pathBefore + k - 1, what);
      assert.equal(mem.readU64(root + 8 * order) === 0, pathBefore + k - 1 === 0, "slot");
      // no leak: every allocated page is owned; no dangling entry: the path ends in a zero page
      assert.equal(pool.inUse.size, t.metadataPages());
      const owned = new Set(t.ownedPagesPhys());
      for (const p of path) assert.ok(owned.has(p));
      if (k > 1) assert.ok(mem.readBytes(path[path.length - 1], 4096).every((b) => b === 0));
      assert.ok(!t.isPreserved(pfn, order));
      const want = expectedWalk(existing);
      assert.deepEqual(collect((cb) => t.walk(cb)), want);
      const r = walkOrderTable({ mem, rootPhys: root, emptySlot: "skip" }, () => 0);
      assert.deepEqual([r.ok, r.blocks], [true, want.length]);
      // a retry allocates only what is missing
      alloc.faults.disarm();
      const s = t.counters.snapshot();
      t.add(pfn, order);
      assert.equal(t.counters.since(s).pagesAllocated, need - (k - 1), what);
      assert.equal(t.counters.allocFailures, 1);
      checkBytes(mem, root, [...existing, [pfn, order]], [...existing, [pfn, order]]);
    }
  }
});

// ---------------------------------------------------------------- empty slots and page 0

Deno.test("empty slots walk physical page 0 (phys_to_virt(0) is not NULL)", () => {
  const { mem, t } = setup(64 * GiB, 32 * GiB, 256);
  t.add(2 ** 20, 0);
  const root = t.handoverRoot();
  // page 0 zero: harmless, but each of the 9 empty slots scans page 0
  const posted = walkOrderTable({ mem, rootPhys: root }, () => 0);
  const skip = walkOrderTable({ mem, rootPhys: root, emptySlot: "skip" }, () => 0);
  assert.ok(posted.ok && skip.ok);
  assert.equal(posted.tablesVisited - skip.tablesVisited, 9);
  assert.equal(posted.blocks, 1);
  // page 0 holding a SeaBIOS-like real-mode IVT (f000:ff53 vectors): garbage descriptors
  for (let i = 0; i < 256; i++) mem.writeU32(4 * i, 0xf000ff53);
  const ivt = walkOrderTable({ mem, rootPhys: root }, () => 0);
  assert.equal(ivt.ok, false);
  assert.equal(ivt.error, "entry-unaligned", ivt.detail);
  assert.ok(walkOrderTable({ mem, rootPhys: root, emptySlot: "skip" }, () => 0).ok);
  // page 0 shaped like a table chain: phantom blocks reach the callback
  mem.zero(0, 4096);
  const [a, b, c, d] = [1, 2, 3, 4].map((i) => 16 * GiB + i * 4096);
  mem.writeU64(0, a);
  mem.writeU64(a, b);
  mem.writeU64(b, c);
  mem.writeU64(c, d);
  mem.writeU8(d, 0b100000); // bit 5
  const got: [number, number][] = [];
  const phantom = walkOrderTable({ mem, rootPhys: root }, (p, o) => (got.push([p, o]), 0));
  // order 1 (5 levels: page 0, a, b, c, bitmap d) reports block 5 of order 1 = 40 KiB
  assert.deepEqual(got, [[2 ** 32, 0], [5 * 8192, 1]]);
  // order 2 walks page 0 again and meets a a second time
  assert.equal(phantom.error, "shared-node");
});

// ---------------------------------------------------------------- counters

Deno.test("counters: an add into an empty tracker allocates levels(order) pages", () => {
  for (const [order, pages] of [[0, 6], [1, 5], [9, 5], [10, 4], [18, 4]]) {
    const { t } = setup();
    const s = t.counters.snapshot();
    t.add(2 ** 20, order);
    const d = t.counters.since(s);
    assert.equal(d.pagesAllocated, pages, `order ${order}`);
    assert.equal(d.entriesVisited, pages, "the slot plus one entry per table level");
    assert.equal(d.pagesTouched, pages + 1);
    assert.equal(d.cacheLinesWritten, pages + 1, "a link per new table, and the bit");
    const s2 = t.counters.snapshot();
    t.add(2 ** 20 + 2 ** order, order);
    const d2 = t.counters.since(s2);
    assert.equal(d2.pagesAllocated, 0);
    assert.equal(d2.entriesFollowed, pages);
    assert.equal(d2.cacheLinesRead, pages + 1);
    assert.equal(d2.cacheLinesWritten, 1);
  }
});

Deno.test("counters: walking one full bitmap reads 64 lines and 512 words", () => {
  const { t, mem } = setup();
  for (let i = 0; i < 32768; i++) t.add(2 ** 20 + i, 0);
  assert.equal(t.metadataPages(), 7);
  const c = new TrackerCounters();
  let n = 0;
  walkOrderTable({ mem, rootPhys: t.handoverRoot(), emptySlot: "skip", counters: c }, () => (
    n++, 0
  ));
  assert.equal(n, 32768);
  assert.equal(c.callbacks, 32768);
  assert.equal(c.bitmapWordsScanned, 512);
  assert.equal(c.entriesVisited, 10 + 5 * 512);
  assert.equal(c.entriesFollowed, 1 + 5);
  assert.equal(c.cacheLinesRead, 2 + 5 * 64 + 64);
  assert.equal(c.pagesTouched, 7);
});

// ------------------------------------------------------ figures (kho-facts §4 / §18.5)

/** Table pages the posted structure needs for `blocks`, from the model (root included). */
function modelPages(blocks: Iterable<[number, number]>): number {
  const nodes = new Set<string>();
  for (const [pfn, order] of blocks) {
    const { path } = modelPath(pfn, order);
    for (let d = 1; d <= path.length; d++) nodes.add(path.slice(0, d).join("/"));
  }
  return 1 + nodes.size;
}

function* dense16(): Generator<[number, number]> {
  for (let i = 0; i < 2 ** 22; i++) yield [2 ** 20 + i, 0];
}
function* gigaFolios(): Generator<[number, number]> {
  for (let p = 0; p < 2 ** 28; p += 2 ** 18) yield [p, 18];
}
function* hugeFolios(): Generator<[number, number]> {
  for (let p = 0; p < 2 ** 28; p += 512) yield [p, 9];
}
function* sparse(bytes: number): Generator<[number, number]> {
  for (let p = 0; p < bytes / 4096; p += 2 ** 15) yield [p, 0];
}

Deno.test("figures: 16 GiB dense order-0 from 4 GiB → 134 pages (radix: 133)", () => {
  const { t, mem } = setup();
  for (const [p, o] of dense16()) t.add(p, o);
  assert.equal(t.metadataPages(), 134);
  const r = walkOrderTable({ mem, rootPhys: t.handoverRoot() }, () => 0);
  assert.deepEqual([r.ok, r.blocks, r.bitmapsVisited], [true, 2 ** 22, 128]);
});

Deno.test("figures: 1024 × 1 GiB folios → 5 pages, none reaches the successor", () => {
  const { t, mem } = setup();
  for (const [p, o] of gigaFolios()) t.add(p, o);
  assert.equal(t.metadataPages(), 5, "order table + L4 + L3 + L2 + 1 bitmap");
  assert.equal(modelPages(gigaFolios()), 5);
  const r = walkOrderTable({ mem, rootPhys: t.handoverRoot() }, () => 0);
  assert.deepEqual([r.ok, r.blocks, r.ignoredSlots], [true, 0, 1]);
});

Deno.test("figures: 1 TiB as 2 MiB folios → 21 pages", () => {
  const { t, mem } = setup();
  for (const [p, o] of hugeFolios()) t.add(p, o);
  assert.equal(t.metadataPages(), 21, "order table + 4 tables + 16 bitmaps");
  assert.equal(modelPages(hugeFolios()), 21);
  const r = walkOrderTable({ mem, rootPhys: t.handoverRoot() }, () => 0);
  assert.deepEqual([r.ok, r.blocks], [true, 2 ** 19]);
});

Deno.test("figures: one order-0 page per 128 MiB over 12 TiB → 98,501 pages (model)", () => {
  // the real tracker at 1 TiB agrees with the model; 12 TiB is computed by the model only
  const { t } = setup(2 * TiB, 1.5 * TiB, 1 << 14);
  for (const [p, o] of sparse(TiB)) t.add(p, o);
  assert.equal(t.metadataPages(), 8213);
  assert.equal(modelPages(sparse(TiB)), 8213);
  assert.equal(modelPages(sparse(12 * TiB)), 98_304 + 192 + 4 + 1);
});

// ---------------------------------------------------------------- property: round trip

// ---------------------------------------------------------------- corruption

function expectError(
  mem: PhysicalMemory,
  rootPhys: number,
  reason: OrderTableWalkErrorReason,
  isRam?: (p: number, s: number) => boolean,
) {
  const log = new KernelLog();
  const r = walkOrderTable({ mem, rootPhys, isRam, log, emptySlot: "skip" }, () => 0);
  assert.equal(r.ok, false);
  assert.equal(r.error, reason, r.detail);
  assert.equal(log.grep(reason).length, 1, "logged");
  assert.throws(
    () => trackerFormat("order-table").incoming(mem, rootPhys, { isRam }).walk(() => 0),
    (e) =>
      e instanceof TrackerCorruptionError && e.structure === "order table" &&
      e instanceof KhoError && e.code === "EINVAL" &&
      e.reason === reason,
  );
  return r;
}

/** Order-0 and order-9 blocks; returns the order-0 chain: [order table, L6..L2, bitmap]. */
function smallTracker() {
  const s = setup(64 * GiB, 32 * GiB, 1024);
  s.t.add(2 ** 20, 0);
  s.t.add(2 ** 20 + 5, 0);
  s.t.add(0x200, 9);
  const chain: number[] = [s.t.handoverRoot(), s.t.slotPhys(0)];
  for (let level = 6; level > 1; level--) {
    const page = chain[chain.length - 1];
    let next = 0;
    for (let i = 0; i < 512 && next === 0; i++) next = s.mem.readU64(page + 8 * i);
    chain.push(next);
  }
  return { ...s, chain };
}

Deno.test("corruption: bad order table addresses", () => {
  const { mem } = smallTracker();
  expectError(mem, 0, "root-null");
  expectError(mem, mem.sizeBytes, "root-outside-ram");
  expectError(mem, -4096, "root-outside-ram");
  expectError(mem, 0x1008, "root-unaligned");
  expectError(mem, 32 * GiB, "root-outside-ram", (p) => p < 16 * GiB);
});

Deno.test("corruption: bad slots and entries, cycles, shared tables, wide indices", () => {
  type T = ReturnType<typeof smallTracker>;
  const cases: [string, OrderTableWalkErrorReason, (t: T) => void][] = [
    ["slot outside RAM", "entry-outside-ram", (t) => t.mem.writeU64(t.chain[0] + 8 * 3, TiB)],
    ["unaligned slot", "entry-unaligned", (t) => t.mem.writeU64(t.chain[0] + 8 * 3, 0x1010)],
    ["slot → order table", "cycle", (t) => t.mem.writeU64(t.chain[0] + 8 * 4, t.chain[0])],
    ["slot 5 = slot 0's table", "shared-node", (t) => t.mem.writeU64(t.chain[0] + 40, t.chain[1])],
    ["entry beyond 2^53", "entry-outside-ram", (t) => t.mem.writeU64Parts(t.chain[3], 0, 2 ** 31)],
    ["L2 → L4", "cycle", (t) => t.mem.writeU64(t.chain[5] + 8 * 100, t.chain[3])],
    ["two L2 entries share a bitmap", "shared-node", (t) => {
      t.mem.writeU64(t.chain[5] + 8 * 300, t.chain[6]);
    }],
    ["L6 entry 1 (pa bit 63)", "address-out-of-range", (t) => {
      t.mem.writeU64(t.chain[1] + 8, t.chain[2]);
    }],
    ["L5 entry 1 of order 0 (pa bit 54)", "address-out-of-range", (t) => {
      t.mem.writeU64(t.chain[2] + 8, 40 * GiB);
    }],
  ];
  for (const [name, reason, corrupt] of cases) {
    const t = smallTracker();
    corrupt(t);
    const r = expectError(t.mem, t.chain[0], reason);
    assert.ok(r.blocks <= 3, name);
  }
});

Deno.test("corruption: bits beyond RAM are rejected and skipped, logged then summarised", () => {
  const { mem, t } = smallTracker();
  for (let i = 0; i < 20; i++) t.add(2 ** 21 + i, 0); // 8 GiB
  const log = new KernelLog();
  const isRam = (p: number, s: number) =>
    p + s <= 4 * GiB + 4096 || (p >= 32 * GiB && p + s <= 64 * GiB);
  const got: [number, number][] = [];
  const r = walkOrderTable(
    { mem, rootPhys: t.handoverRoot(), isRam, log, rejectLogLimit: 3, emptySlot: "skip" },
    (p, o) => (got.push([p, o]), 0),
  );
  assert.ok(r.ok);
  assert.deepEqual(got, [[4 * GiB, 0], [2 * 2 ** 20, 9]]);
  assert.equal(r.rejected, 1 + 20, "pfn 2^20+5 and the 20 pages at 8 GiB");
  assert.equal(log.grep("rejecting preserved block").length, 3);
  assert.equal(log.grep("further rejected blocks not logged").length, 1);
  assert.equal(log.grep("rejected 21 preserved blocks").length, 1);
  // the outgoing walk reports every set bit
  assert.equal(collect((cb) => t.walk(cb)).length, 23);
});

Deno.test("corruption: a table whose every entry points to itself ends at once", () => {
  const { mem, chain, t } = smallTracker();
  for (let i = 0; i < 512; i++) mem.writeU64(chain[3] + 8 * i, chain[3]);
  const r = expectError(mem, t.handoverRoot(), "cycle");
  assert.ok(r.tablesVisited <= 3);
});
