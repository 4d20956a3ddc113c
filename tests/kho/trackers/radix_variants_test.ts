import assert from "node:assert/strict";
import { TrackerCorruptionError } from "../../../lib/kho/trackers/corruption.ts";
import fc from "fast-check";
import { KhoError } from "../../../lib/errors.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import { RadixTree, type RadixWalkErrorReason } from "../../../lib/kho/trackers/radix.ts";
import {
  type DecodedTypedKey,
  IncomingRadixVariant,
  JGG_CODEC,
  khoPageType,
  khoSplitPreservedPages,
  ONE_HOT_CODEC,
  type RadixKeyCodec,
  RadixVariantTree,
  restoreRefcounts,
  TYPED_CODEC,
  TYPED_FIXED_CODEC,
  walkRadixVariant,
} from "../../../lib/kho/trackers/radix_variants.ts";
import {
  KHO_PAGE_CONTIG,
  KHO_PAGE_SPLIT,
  type KhoPageType,
} from "../../../lib/kho/abi/rfc_page_type.ts";
import { FaultyAllocator, PagePool } from "../../../lib/design/page_pool.ts";

const GiB = 2 ** 30;
const TiB = 2 ** 40;
const CODECS = [ONE_HOT_CODEC, JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC];

function setup(codec: RadixKeyCodec, memBytes = TiB, poolBase = TiB / 2, poolPages = 1 << 16) {
  const mem = new PhysicalMemory(memBytes);
  const pool = new PagePool({ mem, basePhys: poolBase, pages: poolPages });
  const log = new KernelLog();
  const tree = RadixVariantTree.create({ codec, mem, alloc: pool, log });
  return { mem, pool, log, tree };
}

type Block = [pfn: number, order: number, type: KhoPageType];
type Seen = [phys: number, order: number, type: KhoPageType];

function collect(walk: (cb: (p: number, o: number, t: KhoPageType) => number) => number): Seen[] {
  const out: Seen[] = [];
  walk((p, o, t) => {
    out.push([p, o, t]);
    return 0;
  });
  return out;
}

// ---------------------------------------------------------------- independent model (BigInt)

const MASK60 = (1n << 60n) - 1n;

/** The full 64-bit key of each proposal, straight from the formulas. */
function bigKey(kind: string, pfn: number, order: number, type: KhoPageType): bigint {
  const phys = BigInt(pfn) * 4096n;
  const shifted = phys >> BigInt(12 + order);
  const oneHot = (1n << BigInt(52 - order)) | shifted;
  switch (kind) {
    case "radix-jgg":
      return (BigInt(order) << 51n) | shifted;
    case "radix-typed":
      return oneHot | (BigInt(type) << 63n);
    case "radix-typed-fixed":
      return oneHot | (BigInt(type) << 53n);
    default:
      return oneHot;
  }
}

function bitLength(k: bigint): number {
  return k === 0n ? 0 : k.toString(2).length;
}

/** Decodes a key the tree stores (bits 0..59 only), as each proposal's decoder does. */
function bigDecode(kind: string, key: bigint): Seen {
  if (kind === "radix-jgg") {
    const order = Number(key >> 51n);
    return [Number((key & ((1n << 51n) - 1n)) << BigInt(12 + order)), order, 0];
  }
  let type: KhoPageType = 0;
  if (kind === "radix-typed-fixed" && (key >> 53n) & 1n) {
    type = 1;
    key &= ~(1n << 53n);
  }
  if (kind === "radix-typed") type = Number(key >> 63n) as KhoPageType; // always 0 here
  const order = 53 - bitLength(key);
  return [Number((key ^ (1n << BigInt(52 - order))) << BigInt(12 + order)), order, type];
}

function nodePath(key: bigint, level: number): string {
  const parts: string[] = [];
  for (let l = 5; l > level; l--) parts.push(String((key >> BigInt((l - 1) * 9 + 15)) & 511n));
  return parts.join("/");
}

/** Checks the tree bytes against the keys (tree indexes key bits 0..59 only). */
function checkBytes(
  mem: PhysicalMemory,
  root: number,
  ever: Iterable<bigint>,
  current: Iterable<bigint>,
): number[] {
  const tables = new Map<string, Set<number>>();
  const leaves = new Map<string, Set<number>>();
  for (const full of ever) {
    const k = full & MASK60;
    for (let level = 5; level >= 1; level--) {
      const p = nodePath(k, level);
      if (!tables.has(p)) tables.set(p, new Set());
      tables.get(p)!.add(Number((k >> BigInt((level - 1) * 9 + 15)) & 511n));
    }
    if (!leaves.has(nodePath(k, 0))) leaves.set(nodePath(k, 0), new Set());
  }
  for (const full of current) {
    const k = full & MASK60;
    leaves.get(nodePath(k, 0))!.add(Number(k & 32767n));
  }
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
      visit(v, level - 1, path === "" ? String(i) : `${path}/${i}`);
    }
    assert.deepEqual(nonZero, tables.get(path) ?? new Set(), `table entries at '${path}'`);
  };
  visit(root, 5, "");
  return pages.sort((a, b) => a - b);
}

/** The successor's view: stored keys ascending, decoded. */
function expectedWalk(kind: string, blocks: Iterable<Block>): Seen[] {
  const keys = new Set<bigint>();
  for (const [p, o, t] of blocks) keys.add(bigKey(kind, p, o, t) & MASK60);
  return [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => bigDecode(kind, k));
}

/** Pages a set of keys needs (root included), by distinct node paths. */
function modelPages(keys: Iterable<bigint>): number {
  const nodes = new Set<string>([""]);
  for (const full of keys) {
    const k = full & MASK60;
    for (let level = 4; level >= 0; level--) nodes.add(`${level}:${nodePath(k, level)}`);
  }
  return nodes.size;
}

// ---------------------------------------------------------------- codecs

Deno.test("codecs: keys match the formulas; decode inverts encode", () => {
  const vectors: Block[] = [
    [0, 0, 0],
    [1, 0, 0],
    [2 ** 20, 0, 1],
    [0x12345678, 0, 0],
    [0x200, 9, 1],
    [0x400, 10, 0],
    [0x40000, 18, 1],
    [2 ** 40 - 2 ** 18, 18, 0],
    [2 ** 41 - 1, 0, 1],
    [0, 52, 0],
  ];
  const out = new Uint32Array(2);
  const d: DecodedTypedKey = { phys: 0, order: 0, type: 0 };
  for (const codec of CODECS) {
    for (const [pfn, order, type] of vectors) {
      codec.encode(pfn, order, type, out);
      const want = bigKey(codec.kind, pfn, order, codec.typed ? type : 0);
      assert.equal((BigInt(out[1]) << 32n) | BigInt(out[0]), want, `${codec.kind} ${pfn}/${order}`);
      assert.ok(codec.decode(out[0], out[1], d));
      const phys = Math.floor(pfn / 2 ** order) * 2 ** order * 4096;
      assert.deepEqual([d.phys, d.order, d.type], [phys, order, codec.typed ? type : 0]);
    }
  }
  // JGG: the root index (bits 51..59) is the order; keys pass 2^53 from order 4 on
  for (const order of [0, 3, 4, 18, 52]) {
    JGG_CODEC.encode(2 ** 41 - 1, order, 0, out);
    assert.equal(out[1] >>> 19, order);
    assert.equal(out[1] >= 2 ** 21, order >= 4, `order ${order} key ≥ 2^53`);
    assert.ok(out[1] < 2 ** 25, "below 2^57");
  }
  // the posted type bit is bit 63, the fixed one bit 53
  TYPED_CODEC.encode(0x200, 9, KHO_PAGE_SPLIT, out);
  assert.equal(out[1] >>> 31, 1);
  TYPED_FIXED_CODEC.encode(0x200, 9, KHO_PAGE_SPLIT, out);
  assert.equal((out[1] >>> 21) & 1, 1);
  // invalid keys
  assert.ok(!ONE_HOT_CODEC.decode(0, 0, d));
  assert.ok(!JGG_CODEC.decode(0, 53 << 19, d));
  assert.ok(!TYPED_FIXED_CODEC.decode(0, 1 << 21, d), "type bit alone: key 0");
});

Deno.test("page type detection and restore refcounts as posted", () => {
  assert.equal(khoPageType(0, 1), KHO_PAGE_CONTIG, "order 0 is never split");
  assert.equal(khoPageType(9, 0), KHO_PAGE_CONTIG);
  assert.equal(khoPageType(9, 1), KHO_PAGE_SPLIT);
  assert.deepEqual([...restoreRefcounts(2, KHO_PAGE_CONTIG)], [1, 0, 0, 0]);
  assert.deepEqual([...restoreRefcounts(2, KHO_PAGE_SPLIT)], [1, 1, 1, 1]);
  assert.deepEqual([...restoreRefcounts(0, KHO_PAGE_SPLIT)], [1]);
});

// ---------------------------------------------------------------- the core equals radix.ts

Deno.test("the generic core with one-hot keys writes radix.ts's bytes, walk and counters", () => {
  const ops: [boolean, number, number][] = [
    [true, 0, 0],
    [true, 2 ** 20, 0],
    [true, 0x40000, 18],
    [true, 0x200, 9],
    [true, 0, 40], // key 2^12: the all-zero-prefix leaf, decoded bit by bit
    [true, 2 ** 27 + 3, 0],
    [false, 2 ** 20, 0],
    [false, 2 ** 30, 0], // missing path: WARN
    [true, 0x400, 10],
  ];
  const a = setup(ONE_HOT_CODEC);
  const mem = new PhysicalMemory(TiB);
  const pool = new PagePool({ mem, basePhys: TiB / 2, pages: 1 << 16 });
  const log = new KernelLog();
  const ref = RadixTree.create({ mem, alloc: pool, log });
  for (const [add, pfn, order] of ops) {
    if (add) {
      a.tree.add(pfn, order);
      ref.add(pfn, order);
    } else {
      a.tree.del(pfn, order);
      ref.del(pfn, order);
    }
  }
  assert.deepEqual(a.mem.image(), mem.image());
  assert.deepEqual(a.tree.ownedPagesPhys(), ref.ownedPagesPhys());
  const mine = collect((cb) => a.tree.walk(cb));
  const theirs: Seen[] = [];
  ref.walk((p, o) => (theirs.push([p, o, 0]), 0));
  assert.deepEqual(mine, theirs);
  assert.deepEqual(a.tree.counters.snapshot(), ref.counters.snapshot());
  assert.equal(a.log.warnings("kho_radix_del_page").length, 1);
  assert.equal(log.warnings("kho_radix_del_page").length, 1);
});

// ---------------------------------------------------------------- layout and walk order

Deno.test("JGG: bytes match the formula; root indexed by order; walk ascending order", () => {
  const { mem, tree } = setup(JGG_CODEC);
  const blocks: Block[] = [
    [0x3000, 0, 0],
    [0x40000, 18, 0],
    [0x800, 9, 0],
    [0x1000, 0, 0],
    [0, 18, 0],
    [0x200, 9, 0],
    [2 ** 27, 0, 0],
    [0x400, 10, 0],
  ];
  for (const [p, o] of blocks) tree.add(p, o);
  const keys = blocks.map(([p, o, t]) => bigKey("radix-jgg", p, o, t));
  assert.deepEqual(checkBytes(mem, tree.handoverRoot(), keys, keys), tree.ownedPagesPhys());
  const rootEntries: number[] = [];
  for (let i = 0; i < 512; i++) if (mem.readU64(tree.handoverRoot() + 8 * i)) rootEntries.push(i);
  assert.deepEqual(rootEntries, [0, 9, 10, 18]);
  const got = collect((cb) => tree.walk(cb));
  assert.deepEqual(got, expectedWalk("radix-jgg", blocks));
  assert.deepEqual(got.map(([, o]) => o), [0, 0, 0, 9, 9, 10, 18, 18]);
  const incoming = new IncomingRadixVariant({
    codec: JGG_CODEC,
    mem,
    rootPhys: tree.handoverRoot(),
  });
  assert.equal(incoming.kind, "radix-jgg");
  assert.deepEqual(collect((cb) => incoming.walk(cb)), got);
  for (const [p, o] of blocks) assert.ok(tree.isPreserved(p, o));
  assert.ok(!tree.isPreserved(0x200, 10));
});

Deno.test("a non-zero callback result stops the walk; duplicate add is a no-op", () => {
  const { tree, mem, pool } = setup(JGG_CODEC);
  for (let i = 0; i < 10; i++) tree.add(i * 7, 0);
  let calls = 0;
  assert.equal(tree.walk(() => (++calls === 3 ? 42 : 0)), 42);
  assert.equal(calls, 3);
  const r = walkRadixVariant({ codec: JGG_CODEC, mem, rootPhys: tree.handoverRoot() }, () => 7);
  assert.deepEqual([r.ok, r.stopped, r.blocks], [true, 7, 1]);
  const image = mem.image();
  const used = pool.inUseSorted();
  tree.add(7, 0);
  assert.deepEqual(mem.image(), image);
  assert.deepEqual(pool.inUseSorted(), used);
});

Deno.test("invalid arguments EINVAL; destroyed tree WARNs once and is EINVAL", () => {
  const { tree, pool, log, mem } = setup(TYPED_FIXED_CODEC);
  for (const [p, o, t] of [[0, 53, 0], [0, -1, 0], [1.5, 0, 0], [2 ** 41, 0, 0], [0, 0, 2]]) {
    assert.throws(
      () => tree.addTyped(p, o, t as KhoPageType),
      (e) => e instanceof KhoError && e.code === "EINVAL",
    );
  }
  const dirty = pool.allocZeroedPage("x")!;
  mem.writeU8(dirty + 1, 1);
  assert.throws(
    () => new RadixVariantTree({ codec: JGG_CODEC, mem, alloc: pool, log, rootPhys: dirty }),
    (e) => e instanceof KhoError && e.code === "EINVAL",
  );
  tree.add(5, 0);
  tree.destroy();
  assert.deepEqual(pool.inUseSorted(), [dirty]);
  assert.equal(tree.handoverRoot(), 0);
  for (let i = 0; i < 2; i++) {
    assert.throws(() => tree.add(1, 0), (e) => e instanceof KhoError && e.code === "EINVAL");
  }
  tree.del(1, 0);
  assert.equal(log.warnings("kho_radix_add_page").length, 1);
  assert.equal(log.warnings("kho_radix_del_page").length, 1);
  assert.ok(!tree.isPreserved(5, 0));
});

// ---------------------------------------------------------------- figures

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
function* everyOrder(): Generator<[number, number]> {
  for (let o = 0; o <= 18; o++) yield [2 ** 20, o]; // one block of each order at 4 GiB
}

function keysOf(kind: string, blocks: Iterable<[number, number]>, type: KhoPageType = 0) {
  return [...blocks].map(([p, o]) => bigKey(kind, p, o, type));
}

function pagesFor(codec: RadixKeyCodec, blocks: Iterable<[number, number]>, type: KhoPageType = 0) {
  const { tree } = setup(codec, 2 * TiB, 1.5 * TiB, 1 << 14);
  for (const [p, o] of blocks) tree.addTyped(p, o, type);
  return tree.metadataPages();
}

Deno.test("figures: JGG and one-hot need the same pages for single-order sets", () => {
  // 16 GiB dense order-0 from 4 GiB: 128 leaves + 5 tables
  assert.equal(pagesFor(JGG_CODEC, dense16()), 133);
  // 1024 × 1 GiB folios: root + 4 tables + 1 leaf (one-hot and JGG)
  assert.equal(pagesFor(JGG_CODEC, gigaFolios()), 6);
  assert.equal(pagesFor(ONE_HOT_CODEC, gigaFolios()), 6);
  assert.equal(modelPages(keysOf("radix-jgg", gigaFolios())), 6);
  // 1 TiB as 2 MiB folios: 16 leaves + 5 tables
  assert.equal(pagesFor(JGG_CODEC, hugeFolios()), 21);
  assert.equal(modelPages(keysOf("radix-jgg", hugeFolios())), 21);
  // one order-0 page per 128 MiB: 1 TiB run for real, 12 TiB from the model
  assert.equal(pagesFor(JGG_CODEC, sparse(TiB)), 8212);
  assert.equal(pagesFor(ONE_HOT_CODEC, sparse(TiB)), 8212);
  assert.equal(modelPages(keysOf("radix-jgg", sparse(TiB))), 8212);
  assert.equal(modelPages(keysOf("radix-jgg", sparse(12 * TiB))), 98_500);
  assert.equal(modelPages(keysOf("radix-onehot", sparse(12 * TiB))), 98_500);
});

Deno.test("figures: mixed orders cost JGG more (no shared upper levels across orders)", () => {
  // one block of each order 0..18 at 4 GiB: one-hot shares levels among orders 2..10 and
  // 11..18; JGG gives every order its own 5-page path under the root
  assert.equal(pagesFor(ONE_HOT_CODEC, everyOrder()), 73);
  assert.equal(modelPages(keysOf("radix-onehot", everyOrder())), 73);
  assert.equal(pagesFor(JGG_CODEC, everyOrder()), 1 + 19 * 5);
  assert.equal(modelPages(keysOf("radix-jgg", everyOrder())), 96);
  // the typed variants: CONTIG-only sets cost what one-hot costs; SPLIT gets its own subtree
  assert.equal(pagesFor(TYPED_CODEC, everyOrder(), KHO_PAGE_SPLIT), 73);
  assert.equal(pagesFor(TYPED_FIXED_CODEC, hugeFolios(), KHO_PAGE_SPLIT), 21);
  const both = setup(TYPED_FIXED_CODEC).tree;
  for (const [p, o] of hugeFolios()) both.addTyped(p, o, (p / 512) % 2 as KhoPageType);
  assert.equal(both.metadataPages(), 1 + 2 * 20, "two subtrees of 4 tables + 16 leaves");
});

// ---------------------------------------------------------------- the page type

Deno.test("radix-typed as posted: the type in bit 63 never reaches the successor", () => {
  const contig = setup(TYPED_CODEC);
  const split = setup(TYPED_CODEC);
  contig.tree.addTyped(0x200, 9, KHO_PAGE_CONTIG); // a dma_alloc_coherent-style unsplit block
  split.tree.addTyped(0x200, 9, KHO_PAGE_SPLIT); // the same block after split_page()
  // identical bytes: bit 63 is not indexed, both set the same leaf bit
  assert.deepEqual(split.mem.image(), contig.mem.image());
  for (const s of [contig, split]) {
    const incoming = new IncomingRadixVariant({
      codec: TYPED_CODEC,
      mem: s.mem,
      rootPhys: s.tree.handoverRoot(),
    });
    // what the successor receives for either: (2 MiB, order 9, CONTIG)
    const got = collect((cb) => incoming.walk(cb));
    assert.deepEqual(got, [[0x200000, 9, KHO_PAGE_CONTIG]]);
    // → kho_restore_pages gives tails refcount 0, also to the split block's pages
    assert.deepEqual([...restoreRefcounts(2, got[0][2])], [1, 0, 0, 0]);
  }
  // the outgoing side cannot tell them apart either; del of either type clears the block
  assert.ok(split.tree.isPreserved(0x200, 9, KHO_PAGE_CONTIG));
  split.tree.delTyped(0x200, 9, KHO_PAGE_CONTIG);
  assert.deepEqual(collect((cb) => split.tree.walk(cb)), []);
  // CONTIG and SPLIT blocks in one tree all come back CONTIG
  const mixed = setup(TYPED_CODEC);
  mixed.tree.addTyped(0x400, 9, KHO_PAGE_SPLIT);
  mixed.tree.addTyped(0x600, 9, KHO_PAGE_CONTIG);
  assert.deepEqual(collect((cb) => mixed.tree.walk(cb)).map(([, , t]) => t), [0, 0]);
});

Deno.test("radix-typed-fixed: the type in bit 53 reaches the successor", () => {
  const { tree, mem } = setup(TYPED_FIXED_CODEC);
  tree.addTyped(0x200, 9, KHO_PAGE_SPLIT);
  tree.addTyped(0x400, 9, KHO_PAGE_CONTIG);
  tree.addTyped(0x1000, 0, KHO_PAGE_CONTIG);
  tree.addTyped(0x200, 9, KHO_PAGE_CONTIG); // a distinct key from the SPLIT one
  const incoming = new IncomingRadixVariant({
    codec: TYPED_FIXED_CODEC,
    mem,
    rootPhys: tree.handoverRoot(),
  });
  const got = collect((cb) => incoming.walk(cb));
  // all CONTIG blocks (orders descending), then the SPLIT ones
  assert.deepEqual(got, [
    [0x200000, 9, KHO_PAGE_CONTIG],
    [0x400000, 9, KHO_PAGE_CONTIG],
    [0x1000000, 0, KHO_PAGE_CONTIG],
    [0x200000, 9, KHO_PAGE_SPLIT],
  ]);
  assert.deepEqual([...restoreRefcounts(2, got[3][2])], [1, 1, 1, 1]);
  const roots: number[] = [];
  for (let i = 0; i < 512; i++) if (mem.readU64(tree.handoverRoot() + 8 * i)) roots.push(i);
  assert.deepEqual(roots, [0, 2, 4], "SPLIT order-9 keys live under root entry 4");
  tree.delTyped(0x200, 9, KHO_PAGE_CONTIG);
  assert.ok(tree.isPreserved(0x200, 9, KHO_PAGE_SPLIT));
  assert.ok(!tree.isPreserved(0x200, 9, KHO_PAGE_CONTIG));
});

Deno.test("kho_split_preserved_pages: invisible with bit 63, moves the key with bit 53", () => {
  const posted = setup(TYPED_CODEC);
  posted.tree.add(0x200, 9);
  const image = posted.mem.image();
  const allocated = posted.tree.counters.pagesAllocated;
  khoSplitPreservedPages(posted.tree, 0x200, 9);
  assert.deepEqual(posted.mem.image(), image, "same bit cleared and set again");
  assert.equal(posted.tree.counters.pagesAllocated, allocated);
  assert.deepEqual(collect((cb) => posted.tree.walk(cb)), [[0x200000, 9, KHO_PAGE_CONTIG]]);

  const fixed = setup(TYPED_FIXED_CODEC);
  fixed.tree.add(0x200, 9);
  khoSplitPreservedPages(fixed.tree, 0x200, 9);
  assert.deepEqual(collect((cb) => fixed.tree.walk(cb)), [[0x200000, 9, KHO_PAGE_SPLIT]]);

  // the re-preserve can need pages; on ENOMEM the block stays unpreserved (posted sequence)
  const mem = new PhysicalMemory(TiB);
  const pool = new PagePool({ mem, basePhys: TiB / 2, pages: 64 });
  const alloc = new FaultyAllocator(pool);
  const t = RadixVariantTree.create({ codec: TYPED_FIXED_CODEC, mem, alloc, log: new KernelLog() });
  t.add(0x200, 9);
  alloc.faults.arm({ nth: 1 });
  assert.throws(
    () => khoSplitPreservedPages(t, 0x200, 9),
    (e) => e instanceof KhoError && e.code === "ENOMEM",
  );
  assert.deepEqual(collect((cb) => t.walk(cb)), [], "the block is lost");
});

// ---------------------------------------------------------------- ENOMEM: exact rollback

const SCENARIO: Block[] = [
  [0, 0, 0],
  [1, 0, 0],
  [0x40000, 18, 0],
  [2 ** 27, 0, 0],
  [0x200, 9, 1],
  [0x400, 9, 1],
  [0x600, 9, 0],
  [2 ** 33, 0, 0],
];

function runScenario(codec: RadixKeyCodec, failAt: number | null) {
  const mem = new PhysicalMemory(2 ** 46);
  const pool = new PagePool({ mem, basePhys: 2 ** 45, pages: 4096 });
  const alloc = new FaultyAllocator(pool);
  if (failAt !== null) alloc.faults.arm({ nth: failAt });
  let tree: RadixVariantTree;
  try {
    tree = RadixVariantTree.create({ codec, mem, alloc, log: new KernelLog() });
  } catch (e) {
    assert.ok(e instanceof KhoError && e.code === "ENOMEM");
    assert.equal(pool.inUse.size, 0);
    return { failed: [-1], calls: alloc.faults.calls };
  }
  const failed: number[] = [];
  const ok: Block[] = [];
  SCENARIO.forEach(([pfn, order, type], i) => {
    const image = mem.image();
    const used = pool.inUseSorted();
    const before = tree.counters.snapshot();
    try {
      tree.addTyped(pfn, order, type);
      ok.push([pfn, order, type]);
    } catch (e) {
      assert.ok(e instanceof KhoError && e.code === "ENOMEM", String(e));
      failed.push(i);
      assert.deepEqual(mem.image(), image, "memory image restored");
      assert.deepEqual(pool.inUseSorted(), used, "allocator state restored");
      const d = tree.counters.since(before);
      assert.equal(d.allocFailures, 1);
      assert.equal(d.pagesAllocated, d.pagesFreed);
    }
  });
  const keys = ok.map(([p, o, t]) => bigKey(codec.kind, p, o, t));
  assert.deepEqual(checkBytes(mem, tree.handoverRoot(), keys, keys), tree.ownedPagesPhys());
  const incoming = new IncomingRadixVariant({ codec, mem, rootPhys: tree.handoverRoot() });
  assert.deepEqual(collect((cb) => incoming.walk(cb)), expectedWalk(codec.kind, ok));
  assert.equal(pool.inUse.size, tree.metadataPages());
  return { failed, calls: alloc.faults.calls };
}

Deno.test("ENOMEM at every allocation point rolls back exactly (jgg, typed, typed-fixed)", () => {
  for (const codec of [JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC]) {
    const clean = runScenario(codec, null);
    assert.deepEqual(clean.failed, []);
    const hit = new Set<number>();
    for (let k = 1; k <= clean.calls; k++) {
      const r = runScenario(codec, k);
      assert.equal(r.failed.length, 1, `${codec.kind} k=${k}`);
      hit.add(r.failed[0]);
    }
    assert.ok(hit.has(-1) && hit.has(0) && hit.has(2), codec.kind);
  }
  // allocations per codec for the scenario (root included)
  assert.deepEqual(
    [JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC].map((c) => runScenario(c, null).calls),
    [1 + 5 + 5 + 2 + 5 + 0 + 0 + 3, 1 + 5 + 5 + 2 + 4 + 0 + 0 + 3, 1 + 5 + 5 + 2 + 5 + 0 + 4 + 3],
  );
});

// ---------------------------------------------------------------- property: round trip

Deno.test("property: random typed add/del sequences round-trip from bytes (orders 0..18)", () => {
  const blockArb = fc.record({
    order: fc.integer({ min: 0, max: 18 }),
    base: fc.integer({ min: 0, max: 2 ** 28 - 1 }),
    type: fc.constantFrom<KhoPageType>(0, 1),
  }).map(({ order, base, type }) =>
    [Math.floor(base / 2 ** order) * 2 ** order, order, type] as Block
  );
  const arb = fc.array(blockArb, { minLength: 1, maxLength: 12 }).chain((pool) =>
    fc.tuple(
      fc.constant(pool),
      fc.array(fc.record({ add: fc.boolean(), i: fc.nat({ max: pool.length - 1 }) }), {
        maxLength: 40,
      }),
      fc.constantFrom(JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC),
    )
  );
  fc.assert(
    fc.property(arb, ([blocks, ops, codec]) => {
      const { tree, mem } = setup(codec);
      const kind = codec.kind;
      const current = new Map<bigint, Block>();
      const ever = new Set<bigint>();
      for (const { add, i } of ops) {
        const [pfn, order, type] = blocks[i];
        const stored = bigKey(kind, pfn, order, type) & MASK60;
        if (add) {
          tree.addTyped(pfn, order, type);
          current.set(stored, [pfn, order, type]);
          ever.add(stored);
        } else {
          tree.delTyped(pfn, order, type);
          current.delete(stored);
        }
      }
      assert.deepEqual(
        checkBytes(mem, tree.handoverRoot(), ever, current.keys()),
        tree.ownedPagesPhys(),
      );
      const want = expectedWalk(kind, current.values());
      assert.deepEqual(collect((cb) => tree.walk(cb)), want);
      const incoming = new IncomingRadixVariant({
        codec,
        mem,
        rootPhys: tree.handoverRoot(),
        isRam: (p, s) => p + s <= TiB,
      });
      const got = collect((cb) => incoming.walk(cb));
      assert.deepEqual(got, want);
      if (kind === "radix-typed") assert.ok(got.every(([, , t]) => t === KHO_PAGE_CONTIG));
      if (kind === "radix-typed-fixed") {
        const splits = [...current.values()].filter(([, , t]) => t === 1).length;
        assert.equal(got.filter(([, , t]) => t === 1).length, splits);
      }
    }),
    { seed: 0x7e57ed, numRuns: 80 },
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
  codec: RadixKeyCodec,
  mem: PhysicalMemory,
  rootPhys: number,
  reason: RadixWalkErrorReason,
) {
  const log = new KernelLog();
  const r = walkRadixVariant({ codec, mem, rootPhys, log }, () => 0);
  assert.equal(r.ok, false);
  assert.equal(r.error, reason, r.detail);
  assert.equal(log.grep(reason).length, 1);
  assert.throws(
    () => new IncomingRadixVariant({ codec, mem, rootPhys }).walk(() => 0),
    (e) =>
      e instanceof TrackerCorruptionError && e.structure === "radix tree" && e.code === "EINVAL" &&
      e.reason === reason,
  );
  return r;
}

function small(codec: RadixKeyCodec) {
  const s = setup(codec, 64 * GiB, 32 * GiB, 1024);
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

Deno.test("corruption: named reasons for every codec", () => {
  type S = ReturnType<typeof small>;
  for (const codec of [JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC]) {
    const base = small(codec);
    expectError(codec, base.mem, 0, "root-null");
    expectError(codec, base.mem, 0x1008, "root-unaligned");
    expectError(codec, base.mem, base.mem.sizeBytes, "root-outside-ram");
    const firstBad = codec === JGG_CODEC ? 53 : codec === TYPED_CODEC ? 4 : 8;
    const cases: [RadixWalkErrorReason, (s: S) => void][] = [
      ["entry-outside-ram", (s) => s.mem.writeU64(s.chain[1] + 16, TiB)],
      ["entry-unaligned", (s) => s.mem.writeU64(s.chain[3] + 8, s.chain[4] + 8)],
      ["cycle", (s) => s.mem.writeU64(s.chain[0] + 8, s.chain[0])],
      ["cycle", (s) => s.mem.writeU64(s.chain[4] + 8 * 100, s.chain[2])],
      ["shared-node", (s) => s.mem.writeU64(s.chain[4] + 8 * 300, s.chain[5])],
      ["key-out-of-range", (s) => s.mem.writeU64(s.chain[0] + 8 * firstBad, s.chain[1])],
    ];
    for (const [reason, corrupt] of cases) {
      const s = small(codec);
      corrupt(s);
      const r = expectError(codec, s.mem, s.chain[0], reason);
      assert.ok(r.blocks <= 2);
    }
    // the last valid root index is accepted
    const s = small(codec);
    s.mem.writeU64(s.chain[0] + 8 * (firstBad - 1), 40 * GiB);
    const r = walkRadixVariant({ codec, mem: s.mem, rootPhys: s.chain[0] }, () => 0);
    assert.ok(r.ok, `${codec.kind}: root entry ${firstBad - 1}`);
  }
});

Deno.test("corruption: bits with no key or beyond RAM are rejected and skipped", () => {
  const { tree, mem } = small(TYPED_FIXED_CODEC);
  tree.addTyped(0, 52, KHO_PAGE_SPLIT); // the type-only prefix leaf: key 2^53 | 1
  const log = new KernelLog();
  const isRam = (p: number, s: number) =>
    p + s <= 4 * GiB + 4096 || (p >= 32 * GiB && p + s <= 64 * GiB);
  const got: Seen[] = [];
  const r = walkRadixVariant(
    { codec: TYPED_FIXED_CODEC, mem, rootPhys: tree.handoverRoot(), isRam, log },
    (p, o, t) => (got.push([p, o, t]), 0),
  );
  assert.ok(r.ok);
  assert.deepEqual(got, [[4 * GiB, 0, 0]]);
  assert.equal(r.rejected, 2, "pfn 2^20+5 and the order-52 block");
  // bit 0 of the type-only leaf is key 2^53: no order
  let leaf = tree.handoverRoot();
  leaf = mem.readU64(leaf + 8 * 4);
  for (let l = 4; l >= 1; l--) leaf = mem.readU64(leaf);
  mem.writeU8(leaf, mem.readU8(leaf) | 1);
  const r2 = walkRadixVariant(
    { codec: TYPED_FIXED_CODEC, mem, rootPhys: tree.handoverRoot(), log },
    () => 0,
  );
  assert.equal(r2.rejected, 2, "the order-52 block and key 2^53");
  assert.ok(log.grep("has no order").length >= 1);
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
      fc.constantFrom(JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC),
      fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: 2 ** 24 - 1 }),
          fc.constantFrom(0, 0, 9, 18),
          fc.constantFrom<KhoPageType>(0, 1),
        ),
        { minLength: 1, maxLength: 8 },
      ),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      (codec, blocks, mutations) => {
        const { tree, mem } = setup(codec, 64 * GiB, 32 * GiB, 256);
        for (const [pfn, order, type] of blocks) {
          tree.addTyped(Math.floor(pfn / 2 ** order) * 2 ** order, order, type);
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
          r = walkRadixVariant({ codec, mem, rootPhys: tree.handoverRoot(), isRam }, (p, o) => {
            assert.ok(isRam(p, 2 ** (o + 12)), "callback block is RAM");
            return 0;
          });
        } catch (e) {
          throw new Error(`walk threw ${e}`);
        }
        if (!r.ok) assert.ok(REASONS.includes(r.error!), r.error);
        // every page at most once; a mutation adds at most one (zero) page
        assert.ok(r.tablesVisited + r.leavesVisited <= pages.length + mutations.length);
      },
    ),
    { seed: 0xfeed5, numRuns: 150 },
  );
});
