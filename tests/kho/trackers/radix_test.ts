import assert from "node:assert/strict";
import { TrackerCorruptionError } from "../../../lib/kho/trackers/corruption.ts";
import fc from "fast-check";
import { KhoError } from "../../../lib/errors.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import {
  IncomingRadixTree,
  RadixTree,
  type RadixWalkErrorReason,
  walkRadixTree,
  walkRadixTreeBatched,
} from "../../../lib/kho/trackers/radix.ts";
import { FaultyAllocator, PagePool } from "./page_pool.ts";

const GiB = 2 ** 30;
const TiB = 2 ** 40;

function setup(memBytes = TiB, poolBase = TiB / 2, poolPages = 1 << 16) {
  const mem = new PhysicalMemory(memBytes);
  const pool = new PagePool({ mem, basePhys: poolBase, pages: poolPages });
  const log = new KernelLog();
  const tree = RadixTree.create({ mem, alloc: pool, log });
  return { mem, pool, log, tree };
}

// ---------------------------------------------------------------- independent model

/** Key by BigInt, straight from the ABI formula (independent of lib/). */
function bigKey(pfn: number, order: number): bigint {
  const phys = BigInt(pfn) * 4096n;
  return (1n << BigInt(52 - order)) | (phys >> BigInt(12 + order));
}

/** Path string of the node at `level` holding `key` (indices above that level). */
function nodePath(key: bigint, level: number): string {
  const parts: string[] = [];
  for (let l = 5; l > level; l--) parts.push(String((key >> BigInt((l - 1) * 9 + 15)) & 511n));
  return parts.join("/");
}

/**
 * Reads the tree from bytes with mem.readU64 / mem.readBytes and compares every table and
 * leaf with what the keys predict: non-zero table entries are those on the path of some key
 * ever added (nodes are never freed), set leaf bits are exactly the current keys.
 * Returns the physical addresses of the pages reached.
 */
function checkBytes(
  mem: PhysicalMemory,
  rootPhys: number,
  everKeys: Iterable<bigint>,
  currentKeys: Iterable<bigint>,
): number[] {
  const tables = new Map<string, Set<number>>();
  const leaves = new Map<string, Set<number>>();
  for (const k of everKeys) {
    for (let level = 5; level >= 1; level--) {
      const p = nodePath(k, level);
      if (!tables.has(p)) tables.set(p, new Set());
      tables.get(p)!.add(Number((k >> BigInt((level - 1) * 9 + 15)) & 511n));
    }
    const lp = nodePath(k, 0);
    if (!leaves.has(lp)) leaves.set(lp, new Set());
  }
  for (const k of currentKeys) leaves.get(nodePath(k, 0))!.add(Number(k & 32767n));

  const pages: number[] = [];
  const visit = (phys: number, level: number, path: string) => {
    pages.push(phys);
    if (level === 0) {
      const bytes = mem.readBytes(phys, 4096);
      const bits = new Set<number>();
      for (let i = 0; i < 4096; i++) {
        for (let b = 0; b < 8; b++) if ((bytes[i] >> b) & 1) bits.add(i * 8 + b);
      }
      assert.deepEqual(bits, leaves.get(path) ?? new Set(), `leaf bits at ${path}`);
      return;
    }
    const nonZero = new Set<number>();
    for (let i = 0; i < 512; i++) {
      const v = mem.readU64(phys + 8 * i);
      if (v === 0) continue;
      nonZero.add(i);
      assert.equal(v % 4096, 0, "child pointer is page aligned");
      visit(v, level - 1, path === "" ? String(i) : `${path}/${i}`);
    }
    assert.deepEqual(nonZero, tables.get(path) ?? new Set(), `table entries at '${path}'`);
  };
  visit(rootPhys, 5, "");
  return pages.sort((a, b) => a - b);
}

/** Expected walk: blocks sorted by key (order descending, address ascending). */
function expectedWalk(blocks: Iterable<[number, number]>): [number, number][] {
  return [...blocks]
    .map(([pfn, order]) => ({ k: bigKey(pfn, order), pfn, order }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map(({ pfn, order }) => [Math.floor(pfn / 2 ** order) * 2 ** order * 4096, order]);
}

function collectBatched(
  walk: (cb: (phys: Float64Array, n: number, order: number) => number) => number,
): [number, number][] {
  const out: [number, number][] = [];
  walk((phys, n, order) => {
    for (let i = 0; i < n; i++) out.push([phys[i], order]);
    return 0;
  });
  return out;
}

function collect(walk: (cb: (p: number, o: number) => number) => number): [number, number][] {
  const out: [number, number][] = [];
  walk((p, o) => {
    out.push([p, o]);
    return 0;
  });
  return out;
}

// ---------------------------------------------------------------- basic behaviour

Deno.test("bytes match the key formula for a mixed set", () => {
  const { mem, tree } = setup();
  const blocks: [number, number][] = [
    [0, 0],
    [1, 0],
    [0x1_0000_0, 0], // 4 GiB
    [0x12345678, 0],
    [0x200, 9],
    [0x400, 10],
    [0x40000, 18],
    [0x80000, 18],
    [2 ** 28 - 1, 0],
  ];
  for (const [pfn, order] of blocks) tree.add(pfn, order);
  const keys = blocks.map(([p, o]) => bigKey(p, o));
  const pages = checkBytes(mem, tree.handoverRoot(), keys, keys);
  assert.deepEqual(pages, tree.ownedPagesPhys());
  assert.equal(tree.metadataPages(), pages.length);
  assert.equal(tree.metadataBytes(), pages.length * 4096);
  for (const [pfn, order] of blocks) assert.ok(tree.isPreserved(pfn, order));
  assert.ok(!tree.isPreserved(2, 0));
  assert.ok(!tree.isPreserved(0x200, 10));
});

Deno.test("leaf bit i is bit i%8 of byte i/8 (Linux bitmap, little-endian)", () => {
  const { mem, tree } = setup();
  // order 0 key bit = pfn % 32768: pfn 0x8000 + 13 → leaf bit 13 → byte 1 bit 5
  tree.add(0x8000 + 13, 0);
  let leaf = tree.handoverRoot();
  for (const i of [2, 0, 0, 0, 1]) leaf = mem.readU64(leaf + 8 * i);
  assert.equal(mem.readU8(leaf + 1), 1 << 5);
  assert.equal(mem.readU64(leaf), 1 << 13);
});

Deno.test("walk order: largest orders first, ascending addresses within an order", () => {
  const { tree, mem } = setup();
  const blocks: [number, number][] = [
    [0x3000, 0],
    [0x40000, 18],
    [0x800, 9],
    [0x1000, 0],
    [0, 18],
    [0x200, 9],
    [2 ** 27, 0],
  ];
  for (const [p, o] of blocks) tree.add(p, o);
  const got = collect((cb) => tree.walk(cb));
  assert.deepEqual(got, expectedWalk(blocks));
  assert.deepEqual(got.map(([, o]) => o), [18, 18, 9, 9, 0, 0, 0]);
  const incoming = new IncomingRadixTree({ mem, rootPhys: tree.handoverRoot() });
  assert.deepEqual(collect((cb) => incoming.walk(cb)), got);
});

Deno.test("a non-zero callback result stops the walk and is returned", () => {
  const { tree, mem } = setup();
  for (let i = 0; i < 10; i++) tree.add(i * 7, 0);
  let calls = 0;
  const stop = (_p: number, _o: number) => (++calls === 3 ? 42 : 0);
  assert.equal(tree.walk(stop), 42);
  assert.equal(calls, 3);
  calls = 0;
  const r = walkRadixTree({ mem, rootPhys: tree.handoverRoot() }, stop);
  assert.deepEqual([r.ok, r.stopped, r.blocks], [true, 42, 3]);
  assert.equal(tree.walk(() => 0), 0);
});

Deno.test("duplicate add is a no-op", () => {
  const { tree, mem, pool } = setup();
  tree.add(0x1234, 0);
  const image = mem.image();
  const used = pool.inUseSorted();
  const before = tree.counters.snapshot();
  tree.add(0x1234, 0);
  assert.deepEqual(mem.image(), image);
  assert.deepEqual(pool.inUseSorted(), used);
  assert.equal(tree.counters.since(before).pagesAllocated, 0);
});

Deno.test("delete clears the bit, frees nothing, WARNs on a missing path", () => {
  const { tree, mem, log, pool } = setup();
  tree.add(0x1234, 0);
  tree.add(0x40000, 18);
  const pages = tree.metadataPages();
  tree.del(0x1234, 0);
  tree.del(0x40000, 18);
  assert.equal(tree.metadataPages(), pages);
  assert.equal(pool.inUse.size, pages);
  assert.deepEqual(collect((cb) => tree.walk(cb)), []);
  assert.equal(log.warnings().length, 0);
  // bit absent but path present: silent
  tree.del(0x1235, 0);
  assert.equal(log.warnings().length, 0);
  // path absent: WARN each time (WARN_ON, not once)
  tree.del(2 ** 30, 0);
  tree.del(0x200, 9);
  assert.equal(log.warnings("kho_radix_del_page").length, 2);
  assert.equal(tree.metadataPages(), pages);
  const keys = [bigKey(0x1234, 0), bigKey(0x40000, 18)];
  checkBytes(mem, tree.handoverRoot(), keys, []);
});

Deno.test("uninitialised tree: WARN_ON_ONCE and EINVAL", () => {
  const mem = new PhysicalMemory(GiB);
  const log = new KernelLog();
  const pool = new PagePool({ mem, basePhys: 0, pages: 16 });
  const tree = new RadixTree({ mem, alloc: pool, log });
  assert.equal(tree.handoverRoot(), 0);
  for (let i = 0; i < 2; i++) {
    assert.throws(() => tree.add(1, 0), (e) => e instanceof KhoError && e.code === "EINVAL");
  }
  assert.throws(() => tree.walk(() => 0), (e) => e instanceof KhoError && e.code === "EINVAL");
  tree.del(1, 0);
  tree.del(1, 0);
  assert.equal(log.warnings("kho_radix_add_page").length, 1);
  assert.equal(log.warnings("kho_radix_walk_tree").length, 1);
  assert.equal(log.warnings("kho_radix_del_page").length, 1);
  assert.equal(pool.inUse.size, 0);
});

Deno.test("invalid arguments are EINVAL; a dirty root page is refused", () => {
  const { tree, mem, pool, log } = setup();
  for (const [p, o] of [[0, 53], [0, -1], [1.5, 0], [-1, 0], [2 ** 41, 0]]) {
    assert.throws(() => tree.add(p, o), (e) => e instanceof KhoError && e.code === "EINVAL");
  }
  const dirty = pool.allocZeroedPage("x")!;
  mem.writeU8(dirty + 100, 1);
  assert.throws(
    () => new RadixTree({ mem, alloc: pool, log, rootPhys: dirty }),
    (e) => e instanceof KhoError && e.code === "EINVAL",
  );
});

Deno.test("create: root allocation failure is ENOMEM; destroy frees every page", () => {
  const mem = new PhysicalMemory(GiB);
  const pool = new PagePool({ mem, basePhys: 4096, pages: 64 });
  const faulty = new FaultyAllocator(pool);
  faulty.faults.arm({ nth: 1 });
  assert.throws(
    () => RadixTree.create({ mem, alloc: faulty, log: new KernelLog() }),
    (e) => e instanceof KhoError && e.code === "ENOMEM",
  );
  assert.equal(pool.inUse.size, 0);
  const tree = RadixTree.create({ mem, alloc: pool, log: new KernelLog() });
  tree.add(5, 0);
  tree.add(2 ** 25, 0);
  assert.equal(pool.inUse.size, tree.metadataPages());
  const c = tree.counters;
  tree.destroy();
  assert.equal(pool.inUse.size, 0);
  assert.equal(c.pagesAllocated, c.pagesFreed);
  assert.equal(tree.metadataPages(), 0);
  assert.equal(tree.handoverRoot(), 0);
});

Deno.test("findBlock and coveringBlocks answer 'is this range preserved, at which order'", () => {
  const { tree } = setup();
  tree.add(0x40000, 18);
  tree.add(0x200, 9);
  tree.add(0x400, 0);
  assert.deepEqual(tree.findBlock(0x40000 + 12345), { pfn: 0x40000, order: 18 });
  assert.deepEqual(tree.findBlock(0x3ff), { pfn: 0x200, order: 9 });
  assert.equal(tree.findBlock(0x401), null);
  assert.deepEqual(tree.coveringBlocks(0x200, 513), [
    { pfn: 0x200, order: 9 },
    { pfn: 0x400, order: 0 },
  ]);
  assert.equal(tree.coveringBlocks(0x200, 514), null);
  assert.deepEqual(tree.coveringBlocks(0x40000, 2 ** 18), [{ pfn: 0x40000, order: 18 }]);
});

Deno.test("batched walk: a leaf per call, stop after a batch, nested walks, counters", () => {
  const { tree, mem } = setup();
  for (let i = 0; i < 5; i++) tree.add(i, 0); // leaf A
  for (let i = 0; i < 3; i++) tree.add(2 ** 15 + i, 0); // leaf B
  tree.add(0x40000, 18);
  tree.add(0, 52); // the all-zero-prefix leaf: delivered one block per call
  const calls: [number, number][] = [];
  const root = tree.handoverRoot();
  const r = walkRadixTreeBatched({ mem, rootPhys: root, checkBlocks: false }, (phys, n, o) => {
    calls.push([n, o]);
    // a walk started from inside the callback must not clobber this batch
    const first = phys[0];
    walkRadixTreeBatched({ mem, rootPhys: root }, () => 0);
    assert.equal(phys[0], first);
    return 0;
  });
  assert.deepEqual(calls, [[1, 52], [1, 18], [5, 0], [3, 0]]);
  assert.equal(r.blocks, 10);
  let batches = 0;
  const counters = tree.counters.snapshot();
  assert.equal(tree.walkBatched(() => ++batches === 3 ? 9 : 0), 9);
  assert.equal(batches, 3);
  const d = tree.counters.since(counters);
  assert.equal(d.callbacks, 1 + 1 + 5);
  assert.equal(d.bitmapWordsScanned, 3 * 512, "whole leaves are scanned before delivery");
});

// ---------------------------------------------------------------- counters

Deno.test("counters: an order-18 add into an empty tree allocates 5 pages", () => {
  const { tree } = setup();
  assert.equal(tree.metadataPages(), 1);
  let s = tree.counters.snapshot();
  tree.add(0x40000, 18);
  let d = tree.counters.since(s);
  assert.equal(d.pagesAllocated, 5);
  assert.equal(d.entriesVisited, 5);
  assert.equal(d.entriesFollowed, 0);
  assert.equal(d.cacheLinesRead, 6);
  assert.equal(d.pagesTouched, 6);
  s = tree.counters.snapshot();
  tree.add(0x80000, 18);
  d = tree.counters.since(s);
  assert.equal(d.pagesAllocated, 0);
  assert.equal(d.entriesFollowed, 5);
  assert.equal(d.entriesVisited, 5);
  assert.equal(d.cacheLinesRead, 6);
  assert.equal(d.pagesTouched, 6);
  assert.equal(tree.metadataPages(), 6);
});

Deno.test("leaf cache: repeated and neighbouring adds charge the full descent, high pfns too", () => {
  const { tree } = setup(2 ** 50, 2 ** 40, 1 << 12);
  // shifted = pfn >> order below and above 2^32 (the cache covers only the former)
  const blocks: [number, number][] = [[5, 0], [6, 0], [2 ** 33 + 7, 0], [2 ** 33 + 8, 0], [
    2 ** 20,
    3,
  ], [2 ** 20 + 8, 3]];
  for (const [pfn, order] of [...blocks, ...blocks]) {
    const s = tree.counters.snapshot();
    tree.add(pfn, order);
    const d = tree.counters.since(s);
    assert.equal(d.entriesVisited, 5);
    assert.equal(d.cacheLinesRead, 6);
    assert.equal(d.pagesTouched, 6);
    assert.ok(tree.isPreserved(pfn, order));
  }
  const seen: string[] = [];
  tree.walk((phys, order) => (seen.push(`${phys / 4096}/${order}`), 0));
  assert.deepEqual(seen.sort(), blocks.map(([p, o]) => `${p}/${o}`).sort());
});

Deno.test("counters: walking one full leaf reads 64 cache lines and 512 bitmap words", () => {
  const { tree, mem } = setup();
  const start = 2 ** 20; // 4 GiB, leaf aligned
  for (let i = 0; i < 32768; i++) tree.add(start + i, 0);
  assert.equal(tree.metadataPages(), 6);
  const incoming = new IncomingRadixTree({ mem, rootPhys: tree.handoverRoot() });
  let n = 0;
  incoming.walk(() => (n++, 0));
  const c = incoming.counters;
  assert.equal(n, 32768);
  assert.equal(c.callbacks, 32768);
  assert.equal(c.bitmapWordsScanned, 512);
  const tableLines = 5 * 64;
  assert.equal(c.cacheLinesRead - tableLines, 64, "the leaf's lines");
  assert.equal(c.entriesVisited, 5 * 512);
  assert.equal(c.entriesFollowed, 5);
  assert.equal(c.pagesTouched, 6);
  // a walk stopped at the first block reads only what it reached
  const again = new IncomingRadixTree({ mem, rootPhys: tree.handoverRoot() });
  assert.equal(again.walk(() => 1), 1);
  assert.equal(again.counters.bitmapWordsScanned, 1);
  // root entries 0..2, L4..L2 entry 0, L1 entries 0..32 (5 lines), the leaf's first line
  assert.equal(again.counters.cacheLinesRead, 1 + 1 + 1 + 1 + 5 + 1);
});

// ---------------------------------------------------------------- published figures

Deno.test("kho-facts §18.5: 16 GiB of dense order-0 pages from 4 GiB → 133 pages", () => {
  const { tree, mem } = setup();
  const start = 2 ** 20, n = 2 ** 22;
  for (let i = 0; i < n; i++) tree.add(start + i, 0);
  assert.equal(tree.metadataPages(), 133);
  const r = walkRadixTree({ mem, rootPhys: tree.handoverRoot() }, () => 0);
  assert.deepEqual([r.ok, r.blocks, r.leavesVisited, r.tablesVisited], [true, n, 128, 5]);
});

Deno.test("kho-facts §2.8: 1 TiB as 1 GiB folios → 6 pages; as 2 MiB folios → 21 pages", () => {
  const giga = setup().tree;
  for (let pfn = 0; pfn < 2 ** 28; pfn += 2 ** 18) giga.add(pfn, 18);
  assert.equal(giga.metadataPages(), 6);
  const huge = setup().tree;
  for (let pfn = 0; pfn < 2 ** 28; pfn += 512) huge.add(pfn, 9);
  assert.equal(huge.metadataPages(), 21);
});

// ---------------------------------------------------------------- ENOMEM rollback

const SCENARIO: [number, number][] = [
  [0, 0], // 5 new pages below the root
  [1, 0], // none
  [0x40000, 18], // a new branch from the root (root index 0): 5 pages
  [2 ** 27, 0], // new L1 + leaf
  [0x200, 9], // new L4 branch
  [2 ** 27 + 2 ** 15, 0], // new leaf only
  [5 * 2 ** 18, 18], // none
  [2 ** 33, 0], // new L3 branch
];

function runScenario(failAt: number | null, initOnFree: boolean) {
  const mem = new PhysicalMemory(2 ** 46);
  const pool = new PagePool({ mem, basePhys: 2 ** 45, pages: 4096, initOnFree });
  const alloc = new FaultyAllocator(pool);
  if (failAt !== null) alloc.faults.arm({ nth: failAt });
  let tree: RadixTree;
  try {
    tree = RadixTree.create({ mem, alloc, log: new KernelLog() });
  } catch (e) {
    assert.ok(e instanceof KhoError && e.code === "ENOMEM");
    assert.equal(pool.inUse.size, 0);
    return { failed: [-1], allocations: alloc.faults.calls };
  }
  const failed: number[] = [];
  const ok: [number, number][] = [];
  SCENARIO.forEach(([pfn, order], i) => {
    const image = mem.image();
    const used = pool.inUseSorted();
    const owned = tree.ownedPagesPhys();
    const ownedBytes = owned.map((p) => mem.readBytes(p, 4096));
    const before = tree.counters.snapshot();
    try {
      tree.add(pfn, order);
      ok.push([pfn, order]);
      const d = tree.counters.since(before);
      assert.ok(d.pagesAllocated >= 0 && d.pagesAllocated <= 5);
    } catch (e) {
      assert.ok(e instanceof KhoError && e.code === "ENOMEM", String(e));
      failed.push(i);
      if (initOnFree) assert.deepEqual(mem.image(), image, "memory image restored");
      assert.deepEqual(pool.inUseSorted(), used, "allocator state restored");
      assert.deepEqual(tree.ownedPagesPhys(), owned);
      assert.deepEqual(owned.map((p) => mem.readBytes(p, 4096)), ownedBytes, "tree bytes");
      const d = tree.counters.since(before);
      assert.equal(d.allocFailures, 1);
      assert.equal(d.pagesAllocated, d.pagesFreed);
    }
  });
  const keys = ok.map(([p, o]) => bigKey(p, o));
  assert.deepEqual(checkBytes(mem, tree.handoverRoot(), keys, keys), tree.ownedPagesPhys());
  const incoming = new IncomingRadixTree({ mem, rootPhys: tree.handoverRoot() });
  assert.deepEqual(collect((cb) => incoming.walk(cb)), expectedWalk(ok));
  assert.equal(pool.inUse.size, tree.metadataPages());
  return { failed, allocations: alloc.faults.calls };
}

Deno.test("ENOMEM at every allocation point rolls back exactly", () => {
  const clean = runScenario(null, true);
  assert.deepEqual(clean.failed, []);
  const total = clean.allocations;
  assert.equal(total, 1 + 5 + 5 + 2 + 4 + 1 + 3);
  const failedOps = new Set<number>();
  for (let k = 1; k <= total; k++) {
    for (const initOnFree of [true, false]) {
      const r = runScenario(k, initOnFree);
      assert.equal(r.failed.length, 1, `k=${k}`);
      failedOps.add(r.failed[0]);
    }
  }
  // every op that allocates was hit, plus the root
  assert.deepEqual([...failedOps].sort((a, b) => a - b), [-1, 0, 2, 3, 4, 5, 7]);
});

// ---------------------------------------------------------------- property: model walk

Deno.test("property: random preserve/unpreserve sequences walk back the model", () => {
  const blockArb = fc.record({
    order: fc.integer({ min: 0, max: 18 }),
    base: fc.integer({ min: 0, max: 2 ** 28 - 1 }),
  }).map(({ order, base }) => [Math.floor(base / 2 ** order) * 2 ** order, order] as const);
  const arb = fc.array(blockArb, { minLength: 1, maxLength: 12 }).chain((pool) =>
    fc.tuple(
      fc.constant(pool),
      fc.array(
        fc.record({ add: fc.boolean(), i: fc.nat({ max: pool.length - 1 }) }),
        { maxLength: 40 },
      ),
    )
  );
  fc.assert(
    fc.property(arb, ([blocks, ops]) => {
      const { tree, mem, log } = setup();
      const current = new Map<bigint, [number, number]>();
      const ever = new Set<bigint>();
      const leafPrefixes = new Set<bigint>();
      let expectWarns = 0;
      for (const { add, i } of ops) {
        const [pfn, order] = blocks[i];
        const k = bigKey(pfn, order);
        if (add) {
          const before = tree.counters.snapshot();
          tree.add(pfn, order);
          const d = tree.counters.since(before);
          assert.ok(d.pagesAllocated >= 0 && d.pagesAllocated <= 5);
          current.set(k, [pfn, order]);
          ever.add(k);
          leafPrefixes.add(k >> 15n);
        } else {
          tree.del(pfn, order);
          current.delete(k);
          if (!leafPrefixes.has(k >> 15n)) expectWarns++;
        }
      }
      assert.equal(log.warnings("kho_radix_del_page").length, expectWarns);
      const pages = checkBytes(mem, tree.handoverRoot(), ever, current.keys());
      assert.deepEqual(pages, tree.ownedPagesPhys());
      const want = expectedWalk(current.values());
      assert.deepEqual(collect((cb) => tree.walk(cb)), want);
      const incoming = new IncomingRadixTree({
        mem,
        rootPhys: tree.handoverRoot(),
        isRam: (p, s) => p + s <= TiB,
      });
      assert.deepEqual(collect((cb) => incoming.walk(cb)), want);
      assert.deepEqual(collectBatched((cb) => incoming.walkBatched(cb)), want);
      assert.deepEqual(collectBatched((cb) => tree.walkBatched(cb)), want);
    }),
    { seed: 0x5eed, numRuns: 60 },
  );
});

// ---------------------------------------------------------------- corruption

const REASONS: RadixWalkErrorReason[] = [
  "root-null",
  "root-unaligned",
  "root-outside-ram",
  "entry-unaligned",
  "entry-outside-ram",
  "cycle",
  "shared-node",
  "key-out-of-range",
];

function expectError(
  mem: PhysicalMemory,
  rootPhys: number,
  reason: RadixWalkErrorReason,
  isRam?: (p: number, s: number) => boolean,
) {
  const log = new KernelLog();
  const r = walkRadixTree({ mem, rootPhys, isRam, log }, () => 0);
  assert.equal(r.ok, false);
  assert.equal(r.error, reason, r.detail);
  assert.ok(log.grep(reason).length === 1, "logged");
  const tree = new IncomingRadixTree({ mem, rootPhys, isRam });
  assert.throws(
    () => tree.walk(() => 0),
    (e) =>
      e instanceof TrackerCorruptionError && e.structure === "radix tree" &&
      e instanceof KhoError && e.code === "EINVAL" &&
      e.reason === reason,
  );
  return r;
}

/** A tree with one order-0 block at 4 GiB; returns the pages by level (root first). */
function smallTree() {
  const s = setup(64 * GiB, 32 * GiB, 1024);
  s.tree.add(2 ** 20, 0);
  s.tree.add(2 ** 20 + 5, 0);
  const chain: number[] = [s.tree.handoverRoot()];
  for (let level = 5; level >= 1; level--) {
    const page = chain[chain.length - 1];
    let next = 0;
    for (let i = 0; i < 512 && next === 0; i++) next = s.mem.readU64(page + 8 * i);
    chain.push(next);
  }
  return { ...s, chain };
}

Deno.test("corruption: bad roots", () => {
  const { mem } = smallTree();
  expectError(mem, 0, "root-null");
  expectError(mem, mem.sizeBytes, "root-outside-ram");
  expectError(mem, -4096, "root-outside-ram");
  expectError(mem, 2 ** 60, "root-outside-ram");
  expectError(mem, 0x1008, "root-unaligned");
  expectError(mem, 32 * GiB, "root-outside-ram", (p) => p < 16 * GiB);
});

Deno.test("corruption: bad entries, cycles, shared nodes, wide keys", () => {
  const cases: [string, RadixWalkErrorReason, (t: ReturnType<typeof smallTree>) => void][] = [
    ["entry outside RAM", "entry-outside-ram", (t) => t.mem.writeU64(t.chain[0] + 16, 2 ** 40)],
    ["entry beyond 2^53", "entry-outside-ram", (t) => t.mem.writeU64Parts(t.chain[2], 0, 2 ** 31)],
    ["unaligned entry", "entry-unaligned", (t) => t.mem.writeU64(t.chain[3] + 8, t.chain[4] + 8)],
    ["root points to itself", "cycle", (t) => t.mem.writeU64(t.chain[0] + 24, t.chain[0])],
    ["L1 points to L3", "cycle", (t) => t.mem.writeU64(t.chain[4] + 8 * 100, t.chain[2])],
    ["two L1 entries share a leaf", "shared-node", (t) => {
      t.mem.writeU64(t.chain[4] + 8 * 300, t.chain[5]);
    }],
    ["root entry 4", "key-out-of-range", (t) => t.mem.writeU64(t.chain[0] + 32, t.chain[1])],
  ];
  for (const [name, reason, corrupt] of cases) {
    const t = smallTree();
    corrupt(t);
    const r = expectError(t.mem, t.tree.handoverRoot(), reason);
    assert.ok(r.blocks <= 2, name);
  }
});

Deno.test("corruption: a table whose every entry points to itself ends at once", () => {
  const { mem, chain, tree } = smallTree();
  for (let i = 0; i < 512; i++) mem.writeU64(chain[2] + 8 * i, chain[2]);
  const r = expectError(mem, tree.handoverRoot(), "cycle");
  assert.ok(r.tablesVisited <= 3);
  for (let i = 0; i < 512; i++) mem.writeU64(chain[2] + 8 * i, chain[3]);
  const r2 = expectError(mem, tree.handoverRoot(), "shared-node");
  assert.ok(r2.tablesVisited + r2.leavesVisited <= 6);
});

Deno.test("corruption: leaf bits beyond RAM are rejected and skipped", () => {
  const { mem, tree } = smallTree();
  tree.add(2 ** 20 + 40000, 0); // a second leaf
  const log = new KernelLog();
  // RAM: the first preserved page and the tree's own pages
  const isRam = (p: number, s: number) =>
    p + s <= 4 * GiB + 4096 || (p >= 32 * GiB && p + s <= 64 * GiB);
  const got: [number, number][] = [];
  const r = walkRadixTree({ mem, rootPhys: tree.handoverRoot(), isRam, log }, (p, o) => {
    got.push([p, o]);
    return 0;
  });
  assert.ok(r.ok);
  assert.deepEqual(got, [[4 * GiB, 0]]);
  assert.equal(r.rejected, 2);
  assert.equal(log.grep("rejecting preserved block").length, 2);
  assert.equal(log.grep("rejected 2 preserved blocks").length, 1);
  // a set bit 0 in the all-zero-prefix leaf is key 0: no order
  tree.add(0, 52);
  const zeroLeaf = walkRadixTree({ mem, rootPhys: tree.handoverRoot() }, () => 0);
  assert.equal(zeroLeaf.rejected, 1, "order-52 block of 2^64 bytes is not RAM");
  let leaf0 = tree.handoverRoot();
  for (let l = 5; l >= 1; l--) leaf0 = mem.readU64(leaf0);
  mem.writeU8(leaf0, mem.readU8(leaf0) | 1);
  const withKey0 = walkRadixTree({ mem, rootPhys: tree.handoverRoot() }, () => 0);
  assert.equal(withKey0.rejected, 2);
  // the outgoing kernel's own walk reports every set bit, as the kernel does
  const own: number[] = [];
  tree.del(0, 52);
  tree.add(0, 52);
  mem.writeU8(leaf0, mem.readU8(leaf0) & ~1);
  tree.walk((_p, o) => (own.push(o), 0));
  assert.deepEqual(own, [52, 0, 0, 0]);
});

Deno.test("corruption: many rejected bits are logged a few times then summarised", () => {
  const { mem, tree } = smallTree();
  for (let i = 0; i < 100; i++) tree.add(2 ** 20 + 1000 + i, 0);
  const log = new KernelLog();
  const r = walkRadixTree(
    { mem, rootPhys: tree.handoverRoot(), isRam: () => false, log, rejectLogLimit: 3 },
    () => 0,
  );
  // isRam false for everything: the root itself is not RAM
  assert.equal(r.error, "root-outside-ram");
  const r2 = walkRadixTree({
    mem,
    rootPhys: tree.handoverRoot(),
    isRam: (p, s) => p >= 32 * GiB && p + s <= 64 * GiB,
    log,
    rejectLogLimit: 3,
  }, () => 0);
  assert.ok(r2.ok);
  assert.equal(r2.rejected, 102);
  assert.equal(log.grep("rejecting preserved block").length, 3);
  assert.equal(log.grep("further rejected blocks not logged").length, 1);
});

Deno.test("property: random byte mutations end in a valid walk or a named error", () => {
  const mutation = fc.record({
    page: fc.nat(),
    kind: fc.constantFrom("byte", "pointer", "self"),
    offset: fc.nat({ max: 4095 }),
    value: fc.nat({ max: 255 }),
    entry: fc.nat({ max: 511 }),
    target: fc.nat(),
  });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.constantFrom(0, 0, 9, 18)), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      (blocks, mutations) => {
        const { tree, mem } = setup(64 * GiB, 32 * GiB, 256);
        for (const [pfn, order] of blocks) {
          tree.add(Math.floor(pfn / 2 ** order) * 2 ** order, order);
        }
        const pages = tree.ownedPagesPhys();
        for (const m of mutations) {
          const page = pages[m.page % pages.length];
          if (m.kind === "byte") mem.writeU8(page + m.offset, m.value);
          else {
            const target = m.kind === "self" ? page : pages[m.target % pages.length];
            mem.writeU64(page + 8 * m.entry, target + (m.value < 8 ? m.value : 0));
          }
        }
        const isRam = (p: number, s: number) => p >= 0 && p + s <= 48 * GiB;
        let r;
        try {
          r = walkRadixTree({ mem, rootPhys: tree.handoverRoot(), isRam }, (p, o) => {
            assert.ok(isRam(p, 2 ** (o + 12)), "callback block is RAM");
            return 0;
          });
        } catch (e) {
          throw new Error(`walk threw ${e}`);
        }
        if (!r.ok) assert.ok(REASONS.includes(r.error!), r.error);
        // every page at most once: bounded work
        assert.ok(r.tablesVisited + r.leavesVisited <= pages.length + mutations.length);
        try {
          new IncomingRadixTree({ mem, rootPhys: tree.handoverRoot(), isRam }).walk(() => 0);
        } catch (e) {
          assert.ok(e instanceof TrackerCorruptionError, String(e));
        }
        const batched = walkRadixTreeBatched(
          { mem, rootPhys: tree.handoverRoot(), isRam },
          () => 0,
        );
        assert.deepEqual(batched, r);
      },
    ),
    { seed: 0xc0ffee, numRuns: 150 },
  );
});

Deno.test("the table callback: every page of the tree, root first, in the walk's pre-order (tables before their children, each leaf before its keys)", () => {
  const { mem, tree } = setup();
  tree.add(0x40000, 9);
  tree.add(0x1000, 0);
  tree.add(0x1001, 0);
  const events: string[] = [];
  const r = walkRadixTreeBatched(
    { mem, rootPhys: tree.handoverRoot(), onTable: (phys) => events.push(`t${phys}`) },
    (phys, n) => {
      for (let i = 0; i < n; i++) events.push(`k${phys[i]}`);
      return 0;
    },
  );
  assert.ok(r.ok);
  const pages = events.filter((e) => e.startsWith("t")).map((e) => Number(e.slice(1)));
  assert.equal(pages[0], tree.handoverRoot());
  assert.deepEqual([...pages].sort((a, b) => a - b), tree.ownedPagesPhys());
  assert.equal(pages.length, r.tablesVisited + r.leavesVisited);
  // the order-9 block's leaf comes before its key; the order-0 leaf before both order-0 keys
  const at = (e: string) => events.indexOf(e);
  assert.ok(at(`k${0x40000 * 4096}`) > 0 && at(`k${0x1000 * 4096}`) > at(`k${0x40000 * 4096}`));
  assert.ok(events[at(`k${0x1000 * 4096}`) - 1].startsWith("t"), "the leaf just before its keys");
  // what the callback throws ends the walk
  assert.throws(
    () =>
      walkRadixTree({
        mem,
        rootPhys: tree.handoverRoot(),
        onTable: () => {
          throw new KhoError("ENOMEM", "test");
        },
      }, () => 0),
    KhoError,
  );
});
