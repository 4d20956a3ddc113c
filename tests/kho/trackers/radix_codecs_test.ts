import assert from "node:assert/strict";
import { KhoError } from "../../../lib/errors.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import {
  RadixTree,
  type RadixWalkErrorReason,
  walkRadixTree,
} from "../../../lib/kho/trackers/radix.ts";
import {
  type DecodedTypedKey,
  JGG_CODEC,
  khoPageType,
  khoSplitPreservedPages,
  ONE_HOT_CODEC,
  type RadixKeyCodec,
  restoreRefcounts,
  TYPED_CODEC,
  TYPED_FIXED_CODEC,
} from "../../../lib/kho/trackers/radix_codecs.ts";
import { trackerFormat } from "../../../lib/kho/trackers/registry.ts";
import {
  KHO_PAGE_CONTIG,
  KHO_PAGE_SPLIT,
  type KhoPageType,
} from "../../../lib/kho/abi/rfc_page_type.ts";
import { FaultyAllocator, PagePool } from "../../../lib/design/page_pool.ts";
import {
  bigKey,
  checkBytes,
  collect,
  expectedWalk,
  expectWalkError,
  modelPages,
  type Seen,
  setup,
  smallTree,
} from "./radix_model.ts";

// The radix core with each key codec. The generic contract (walk back, stop, duplicate add,
// ENOMEM rollback, accounting, bytes only, corruption, random add/del sequences) is the
// conformance suite's (tests/design/conformance_test.ts), run for every codec's kind.

const GiB = 2 ** 30;
const TiB = 2 ** 40;
const CODECS = [ONE_HOT_CODEC, JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC];

type Block = [pfn: number, order: number, type: KhoPageType];

const incoming = (codec: RadixKeyCodec, mem: PhysicalMemory, rootPhys: number) =>
  trackerFormat(codec.kind).incoming(mem, rootPhys);

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
  const reader = incoming(JGG_CODEC, mem, tree.handoverRoot());
  assert.equal(reader.kind, "radix-jgg");
  assert.deepEqual(collect((cb) => reader.walk(cb)), got);
  for (const [p, o] of blocks) assert.ok(tree.isPreserved(p, o));
  assert.ok(!tree.isPreserved(0x200, 10));
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
    () => new RadixTree({ codec: JGG_CODEC, mem, alloc: pool, log, rootPhys: dirty }),
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
  assert.equal(modelPages(keysOf("radix", sparse(12 * TiB))), 98_500);
});

Deno.test("figures: mixed orders cost JGG more (no shared upper levels across orders)", () => {
  // one block of each order 0..18 at 4 GiB: one-hot shares levels among orders 2..10 and
  // 11..18; JGG gives every order its own 5-page path under the root
  assert.equal(pagesFor(ONE_HOT_CODEC, everyOrder()), 73);
  assert.equal(modelPages(keysOf("radix", everyOrder())), 73);
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
    // what the successor receives for either: (2 MiB, order 9, CONTIG)
    const got = collect((cb) => incoming(TYPED_CODEC, s.mem, s.tree.handoverRoot()).walk(cb));
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
  const got = collect((cb) => incoming(TYPED_FIXED_CODEC, mem, tree.handoverRoot()).walk(cb));
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
  const t = RadixTree.create({ codec: TYPED_FIXED_CODEC, mem, alloc, log: new KernelLog() });
  t.add(0x200, 9);
  alloc.faults.arm({ nth: 1 });
  assert.throws(
    () => khoSplitPreservedPages(t, 0x200, 9),
    (e) => e instanceof KhoError && e.code === "ENOMEM",
  );
  assert.deepEqual(collect((cb) => t.walk(cb)), [], "the block is lost");
});

// ---------------------------------------------------------------- corruption

Deno.test("corruption: named reasons for every codec", () => {
  type S = ReturnType<typeof smallTree>;
  for (const codec of [JGG_CODEC, TYPED_CODEC, TYPED_FIXED_CODEC]) {
    const base = smallTree(codec);
    expectWalkError(codec, base.mem, 0, "root-null");
    expectWalkError(codec, base.mem, 0x1008, "root-unaligned");
    expectWalkError(codec, base.mem, base.mem.sizeBytes, "root-outside-ram");
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
      const s = smallTree(codec);
      corrupt(s);
      const r = expectWalkError(codec, s.mem, s.chain[0], reason);
      assert.ok(r.blocks <= 2);
    }
    // the last valid root index is accepted
    const s = smallTree(codec);
    s.mem.writeU64(s.chain[0] + 8 * (firstBad - 1), 40 * GiB);
    const r = walkRadixTree({ codec, mem: s.mem, rootPhys: s.chain[0] }, () => 0);
    assert.ok(r.ok, `${codec.kind}: root entry ${firstBad - 1}`);
  }
});

Deno.test("corruption: bits with no key or beyond RAM are rejected and skipped", () => {
  const { tree, mem } = smallTree(TYPED_FIXED_CODEC);
  tree.addTyped(0, 52, KHO_PAGE_SPLIT); // the type-only prefix leaf: key 2^53 | 1
  const log = new KernelLog();
  const isRam = (p: number, s: number) =>
    p + s <= 4 * GiB + 4096 || (p >= 32 * GiB && p + s <= 64 * GiB);
  const got: Seen[] = [];
  const r = walkRadixTree(
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
  const r2 = walkRadixTree(
    { codec: TYPED_FIXED_CODEC, mem, rootPhys: tree.handoverRoot(), log },
    () => 0,
  );
  assert.equal(r2.rejected, 2, "the order-52 block and key 2^53");
  assert.ok(log.grep("has no order").length >= 1);
});
