import assert from "node:assert/strict";
import { KhoError } from "../../../lib/errors.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import {
  RadixTree,
  type RadixWalkErrorReason,
  walkRadixTree,
  walkRadixTreeBatched,
} from "../../../lib/kho/trackers/radix.ts";
import { ONE_HOT_CODEC } from "../../../lib/kho/trackers/radix_codecs.ts";
import { trackerFormat } from "../../../lib/kho/trackers/registry.ts";
import { PagePool } from "../../../lib/design/page_pool.ts";
import {
  bigKey as anyBigKey,
  checkBytes,
  collect as collectTyped,
  expectedWalk as anyExpectedWalk,
  expectWalkError,
  setup as setupCodec,
  smallTree,
} from "./radix_model.ts";

// The generic checks (walk order, stop, duplicate add, ENOMEM rollback at every allocation,
// accounting, bytes only, corruption by pointer and at random, random add/del sequences) are
// the conformance suite's (tests/design/conformance_test.ts); these are the kernel tree's own.

const GiB = 2 ** 30;
const TiB = 2 ** 40;

const setup = (memBytes = TiB, poolBase = TiB / 2, poolPages = 1 << 16) =>
  setupCodec(ONE_HOT_CODEC, memBytes, poolBase, poolPages);
const bigKey = (pfn: number, order: number) => anyBigKey("radix", pfn, order);
const expectedWalk = (blocks: Iterable<readonly [number, number]>): [number, number][] =>
  anyExpectedWalk("radix", blocks).map(([p, o]) => [p, o]);
const collect = (walk: (cb: (p: number, o: number) => number) => number): [number, number][] =>
  collectTyped(walk).map(([p, o]) => [p, o]);
const expectError = (
  mem: PhysicalMemory,
  rootPhys: number,
  reason: RadixWalkErrorReason,
  isRam?: (p: number, s: number) => boolean,
) => expectWalkError(ONE_HOT_CODEC, mem, rootPhys, reason, isRam);
const incoming = (mem: PhysicalMemory, rootPhys: number) =>
  trackerFormat("radix").incoming(mem, rootPhys);

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
  assert.deepEqual(collect((cb) => incoming(mem, tree.handoverRoot()).walk(cb)), got);
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
  assert.equal(d.cacheLinesWritten, 1); // the bit
  assert.equal(tree.metadataPages(), 6);
  s = tree.counters.snapshot();
  tree.del(0x80000, 18);
  d = tree.counters.since(s);
  assert.deepEqual([d.entriesVisited, d.cacheLinesRead, d.cacheLinesWritten], [5, 6, 1]);
});

Deno.test("counters: a new path writes one line per page it links, plus the bit", () => {
  const { tree } = setup();
  const s = tree.counters.snapshot();
  tree.add(0x40000, 18);
  const d = tree.counters.since(s);
  assert.deepEqual([d.pagesAllocated, d.cacheLinesWritten, d.nodesAllocated], [5, 6, 0]);
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
  const reader = incoming(mem, tree.handoverRoot());
  let n = 0;
  reader.walk(() => (n++, 0));
  const c = reader.counters;
  assert.equal(n, 32768);
  assert.equal(c.callbacks, 32768);
  assert.equal(c.bitmapWordsScanned, 512);
  const tableLines = 5 * 64;
  assert.equal(c.cacheLinesRead - tableLines, 64, "the leaf's lines");
  assert.equal(c.entriesVisited, 5 * 512);
  assert.equal(c.entriesFollowed, 5);
  assert.equal(c.pagesTouched, 6);
  // a walk stopped at the first block reads only what it reached
  const again = incoming(mem, tree.handoverRoot());
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

// ---------------------------------------------------------------- corruption

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

// ---------------------------------------------------------------- the generalized key API

Deno.test("kho_radix_add_key / del_key: keys the caller encodes; wider than 60 bits is ERANGE", () => {
  const { tree, mem, pool, log } = setup();
  const key = bigKey(0x40000, 18);
  tree.addKey(Number(key & 0xffffffffn), Number(key >> 32n));
  assert.ok(tree.isPreserved(0x40000, 18), "the same bit as the page API's");
  assert.deepEqual(collect((cb) => tree.walk(cb)), [[GiB, 18]]);
  // bit 60 (and anything above) is beyond KHO_RADIX_KEY_WIDTH: refused, nothing changed
  const image = mem.image();
  const used = pool.inUseSorted();
  for (const hi of [2 ** 28, 2 ** 31]) {
    assert.throws(() => tree.addKey(0, hi), (e) => e instanceof KhoError && e.code === "ERANGE");
    assert.throws(() => tree.delKey(0, hi), (e) => e instanceof KhoError && e.code === "ERANGE");
  }
  assert.throws(() => tree.addKey(-1, 0), (e) => e instanceof KhoError && e.code === "EINVAL");
  assert.deepEqual(mem.image(), image);
  assert.deepEqual(pool.inUseSorted(), used);
  // the widest key accepted: bits 0..59 all set (a root entry a one-hot walk refuses)
  tree.addKey(0xffffffff, 2 ** 28 - 1);
  assert.equal(
    walkRadixTree({ mem, rootPhys: tree.handoverRoot() }, () => 0).error,
    "key-out-of-range",
  );
  tree.delKey(Number(key & 0xffffffffn), Number(key >> 32n));
  assert.ok(!tree.isPreserved(0x40000, 18));
  tree.delKey(5, 0); // no path: WARN
  assert.equal(log.warnings("kho_radix_del_key").length, 1);
});

Deno.test("a pool of one page: ENOMEM names the key for the key API", () => {
  const mem = new PhysicalMemory(GiB);
  const pool = new PagePool({ mem, basePhys: 4096, pages: 1 });
  const tree = RadixTree.create({ mem, alloc: pool, log: new KernelLog() });
  assert.throws(
    () => tree.addKey(1, 0),
    (e) => e instanceof KhoError && e.code === "ENOMEM" && /key 0x1/.test(e.message),
  );
  assert.equal(pool.inUse.size, 1);
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
