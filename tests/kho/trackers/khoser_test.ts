import assert from "node:assert/strict";
import { TrackerCorruptionError } from "../../../lib/kho/trackers/corruption.ts";
import { KhoError } from "../../../lib/errors.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import {
  freeSerialized,
  KHOSER_CHUNK_SITE,
  type KhoserEra,
  type KhoserWalkErrorReason,
  serialize,
  walkKhoserChunks,
  walkKhoserChunksBatched,
  type XarrayBitmapBytes,
} from "../../../lib/kho/trackers/khoser.ts";
import { KHOSER_BITMAP_SIZE, KHOSER_CHUNK_HDR } from "../../../lib/kho/abi/kexec_handover.ts";
import { XarrayTracker } from "../../../lib/kho/trackers/xarray.ts";
import { FaultyAllocator, PagePool } from "../../../lib/design/page_pool.ts";
import { trackerFormat } from "../../../lib/kho/trackers/registry.ts";

const GiB = 2 ** 30;
const TiB = 2 ** 40;
const MEM = 2 * TiB;
const POOL = TiB + GiB;

function setup(bitmapBytes: XarrayBitmapBytes, scratchCheck?: (p: number, s: number) => number) {
  const mem = new PhysicalMemory(MEM);
  const pool = new PagePool({ mem, basePhys: POOL, pages: 1 << 14 });
  const faulty = new FaultyAllocator(pool);
  const log = new KernelLog();
  const tracker = new XarrayTracker({ mem, alloc: faulty, log, bitmapBytes, scratchCheck });
  return { mem, pool, faulty, log, tracker };
}

/** Blocks spread over several orders; order 0 needs more than two chunks. */
function populate(tracker: XarrayTracker, n0 = 600): [number, number][] {
  const bits = tracker.bitmapBytes * 8;
  const blocks: [number, number][] = [];
  for (let k = 0; k < n0; k++) blocks.push([k * bits + (k % 97), 0]);
  for (let k = 0; k < 3; k++) blocks.push([(k * 5 + 2) * bits * 8 + 8 * k, 3]);
  blocks.push([0x40000 * 3, 18], [0x40000 * 1000, 18]);
  for (const [p, o] of blocks) tracker.add(p, o);
  return blocks;
}

interface RawChunk {
  phys: number;
  next: bigint;
  order: number;
  num: number;
  entries: { start: bigint; bitmap: bigint }[];
}

/** The chunk list as raw fields, read with readU64Big/readU32 only. */
function readChunks(mem: PhysicalMemory, first: number): RawChunk[] {
  const out: RawChunk[] = [];
  let c = first;
  while (c !== 0) {
    const num = mem.readU32(c + 12);
    const entries = [];
    for (let i = 0; i < num; i++) {
      entries.push({
        start: mem.readU64Big(c + 16 + 16 * i),
        bitmap: mem.readU64Big(c + 24 + 16 * i),
      });
    }
    const next = mem.readU64Big(c);
    out.push({ phys: c, next, order: mem.readU32(c + 8), num, entries });
    c = Number(next);
  }
  return out;
}

function collect(
  o: Parameters<typeof walkKhoserChunks>[0],
): { r: ReturnType<typeof walkKhoserChunks>; blocks: [number, number][] } {
  const blocks: [number, number][] = [];
  const r = walkKhoserChunks(o, (p, order) => (blocks.push([p, order]), 0));
  return { r, blocks };
}

// ---------------------------------------------------------------- layout

for (const bytes of [512, 4096] as const) {
  Deno.test(`chunk layout matches an independent computation (${bytes}-byte bitmaps)`, () => {
    const { mem, pool, tracker } = setup(bytes);
    const blocks = populate(tracker);
    const bits = BigInt(bytes * 8);
    // expected entries: per order ascending, bitmap indices ascending (BigInt arithmetic)
    const byOrder = new Map<number, Map<bigint, Set<number>>>();
    for (const [pfn, order] of blocks) {
      const high = BigInt(pfn) >> BigInt(order);
      const idx = high / bits;
      if (!byOrder.has(order)) byOrder.set(order, new Map());
      const m = byOrder.get(order)!;
      if (!m.has(idx)) m.set(idx, new Set());
      m.get(idx)!.add(Number(high % bits));
    }
    const want: { order: number; entries: { start: bigint; bits: Set<number> }[] }[] = [];
    for (const order of [...byOrder.keys()].sort((a, b) => a - b)) {
      const idxs = [...byOrder.get(order)!.keys()].sort((a, b) => (a < b ? -1 : 1));
      for (let i = 0; i < idxs.length; i += 255) {
        want.push({
          order,
          entries: idxs.slice(i, i + 255).map((idx) => ({
            start: (idx * bits) << BigInt(order + 12),
            bits: byOrder.get(order)!.get(idx)!,
          })),
        });
      }
    }
    const first = serialize(tracker, pool, { era: "6.18" });
    const chunks = readChunks(mem, first);
    assert.equal(chunks.length, want.length);
    assert.equal(want.length, 3 + 1 + 1); // 600 order-0 bitmaps = 255 + 255 + 90
    assert.equal(pool.sites.get(KHOSER_CHUNK_SITE), want.length);
    const seenBitmaps = new Set<bigint>();
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      assert.equal(c.phys % 4096, 0);
      assert.equal(c.order, want[i].order, `chunk ${i} order`);
      assert.equal(c.num, want[i].entries.length, `chunk ${i} num_elms`);
      assert.equal(c.next, i + 1 < chunks.length ? BigInt(chunks[i + 1].phys) : 0n);
      // unused entry space stays zero
      const tail = mem.readBytes(c.phys + 16 + 16 * c.num, 4096 - 16 - 16 * c.num);
      assert.ok(tail.every((b) => b === 0), "unused entries are zero");
      for (let e = 0; e < c.num; e++) {
        assert.equal(c.entries[e].start, want[i].entries[e].start, `chunk ${i} entry ${e}`);
        const bm = c.entries[e].bitmap;
        assert.equal(bm % BigInt(bytes), 0n);
        assert.ok(!seenBitmaps.has(bm), "each bitmap listed once");
        seenBitmaps.add(bm);
        const raw = mem.readBytes(Number(bm), bytes);
        const set = new Set<number>();
        raw.forEach((v, j) => {
          for (let b = 0; b < 8; b++) if ((v >> b) & 1) set.add(j * 8 + b);
        });
        assert.deepEqual(set, want[i].entries[e].bits);
      }
    }
    // orders never mixed, and all orders' chunks are contiguous in the list
    const orders = chunks.map((c) => c.order);
    assert.deepEqual(orders, [...orders].sort((a, b) => a - b));
    assert.equal(KHOSER_CHUNK_HDR + KHOSER_BITMAP_SIZE * 16, 4096);
  });
}

Deno.test("exactly 255 bitmaps fill one chunk; the 256th starts a new chunk of the same order", () => {
  const { mem, pool, tracker } = setup(4096);
  for (let k = 0; k < 255; k++) tracker.add(k * 32768, 0);
  let first = serialize(tracker, pool, { era: "6.18" });
  assert.equal(readChunks(mem, first).length, 1);
  assert.equal(readChunks(mem, first)[0].num, 255);
  freeSerialized(tracker);
  tracker.add(255 * 32768, 0);
  first = serialize(tracker, pool, { era: "6.18" });
  const chunks = readChunks(mem, first);
  assert.deepEqual(chunks.map((c) => [c.order, c.num]), [[0, 255], [0, 1]]);
});

Deno.test("empty tracker serializes to 0; an order left empty by a failed add gives num_elms 0", () => {
  const { mem, pool, faulty, tracker } = setup(4096);
  assert.equal(serialize(tracker, pool, { era: "6.16" }), 0);
  assert.equal(tracker.handoverRoot(), 0);
  assert.ok(collect({ mem, firstChunkPhys: 0, bitmapBytes: 4096 }).r.ok);
  freeSerialized(tracker);
  tracker.add(1, 0);
  faulty.faults.arm({ nth: 1, sites: ["kho_mem_phys_bits"] });
  assert.throws(() => tracker.add(0x400, 9), (e) => e instanceof KhoError && e.code === "ENOMEM");
  assert.deepEqual(tracker.orders(), [0, 9]); // the kernel keeps the new order's xarray
  const first = serialize(tracker, pool, { era: "6.16" });
  assert.deepEqual(readChunks(mem, first).map((c) => [c.order, c.num]), [[0, 1], [9, 0]]);
  assert.deepEqual(collect({ mem, firstChunkPhys: first, bitmapBytes: 4096 }).blocks, [[4096, 0]]);
});

// ---------------------------------------------------------------- errors and eras

for (const era of ["6.16", "6.18", "6.19"] as const) {
  Deno.test(`ENOMEM at every chunk allocation frees every chunk (${era})`, () => {
    const { pool, faulty, tracker } = setup(512);
    populate(tracker, 300);
    let old: number[] = [];
    if (era === "6.19") {
      serialize(tracker, faulty, { era });
      old = tracker.serializedPagesPhys();
    }
    const inUse = pool.inUseSorted();
    const chunksNeeded = 2 + 1 + 1;
    for (let nth = 1; nth <= chunksNeeded; nth++) {
      faulty.faults.arm({ nth, sites: [KHOSER_CHUNK_SITE] });
      assert.throws(
        () => serialize(tracker, faulty, { era }),
        (e) => e instanceof KhoError && e.code === "ENOMEM",
      );
      assert.deepEqual(pool.inUseSorted(), inUse, `fault at chunk ${nth}`);
      assert.deepEqual(tracker.serializedPagesPhys(), old, "the previous list (6.19) stays");
      faulty.faults.disarm();
    }
    assert.equal(tracker.counters.allocFailures, chunksNeeded);
  });
}

Deno.test("scratch check: ignored by 6.16; 6.18 and 6.19 WARN and fail EINVAL, freeing all", () => {
  const bad = POOL + 130 * 4096; // the second chunk page (after 129 slab pages + 1 chunk)
  const check = (p: number, s: number) => (p <= bad && bad < p + s ? 2 : -1);
  for (const era of ["6.16", "6.18", "6.19"] as const) {
    const { pool, log, tracker } = setup(512);
    populate(tracker, 1024);
    assert.equal(pool.inUse.size, 128 + 1);
    const inUse = pool.inUseSorted();
    if (era === "6.16") {
      const first = serialize(tracker, pool, { era, scratchCheck: check });
      assert.ok(first > 0);
      continue;
    }
    assert.throws(
      () => serialize(tracker, pool, { era, scratchCheck: check }),
      (e) => e instanceof KhoError && e.code === "EINVAL" && /scratch area 2/.test(e.message),
    );
    assert.equal(log.warnings("new_chunk").length, 1);
    assert.deepEqual(pool.inUseSorted(), inUse);
    assert.equal(tracker.serializedList, null);
  }
});

Deno.test("6.16/6.18 refuse a second serialization (EEXIST); 6.19 replaces the old list", () => {
  for (const era of ["6.16", "6.18"] as const) {
    const { pool, tracker } = setup(4096);
    tracker.add(1, 0);
    serialize(tracker, pool, { era });
    assert.throws(
      () => serialize(tracker, pool, { era }),
      (e) => e instanceof KhoError && e.code === "EEXIST",
    );
    freeSerialized(tracker); // abort
    assert.ok(serialize(tracker, pool, { era }) > 0);
  }
  const { mem, pool, tracker } = setup(4096);
  tracker.add(1, 0);
  const first1 = serialize(tracker, pool, { era: "6.19" });
  const old = tracker.serializedPagesPhys();
  // preserving after finalize is allowed in 6.19; a new bitmap is invisible until the next
  // finalize, but a bit set in an already listed bitmap shows up at once
  tracker.add(2, 0);
  tracker.add(0x40000, 18);
  assert.deepEqual(collect({ mem, firstChunkPhys: first1, bitmapBytes: 4096 }).blocks, [
    [4096, 0],
    [8192, 0],
  ]);
  const first2 = serialize(tracker, pool, { era: "6.19" });
  assert.ok(!old.some((p) => pool.inUse.has(p)), "old list freed");
  assert.equal(pool.inUse.size, 2 + 2);
  assert.deepEqual(collect({ mem, firstChunkPhys: first2, bitmapBytes: 4096 }).blocks, [
    [4096, 0],
    [8192, 0],
    [GiB, 18],
  ]);
});

// ---------------------------------------------------------------- serialization costs

Deno.test("serialize counters: xa_for_each over both XArrays, no bitmap read, chunks written", () => {
  for (const bytes of [512, 4096] as const) {
    const { pool, tracker } = setup(bytes);
    tracker.add(0x200, 9); // order 9: bitmap 0, in its phys_bits head
    for (let k = 0; k < 300; k++) tracker.add(k * bytes * 8, 0); // order 0: bitmaps 0..299
    const s = tracker.counters.snapshot();
    serialize(tracker, pool, { era: "6.19" });
    const d = tracker.counters.since(s);
    // `orders` {0, 9}: one node; find(0) reads slot 0, find_after(0) slots 1..9, the last
    // find_after slots 10..63. Order 0's phys_bits 0..299: a root and 5 leaves; each of the
    // 300 finds reads a root slot and a leaf slot, the last one the root's slot 4, the leaf's
    // slots 44..63 and the root's 5..63. Plus each kho_mem_phys's phys_bits head.
    assert.equal(d.entriesVisited, 64 + 2 + (2 * 300 + 1 + 20 + 59));
    assert.equal(d.cacheLinesRead, 9 + 2 + 6 * 9); // every node's 9 slot lines, 2 kho_mem_phys
    assert.equal(d.pagesTouched, 3 + 1 + 2 + 6); // 3 chunks, 7 nodes, 2 kho_mem_phys
    assert.equal(d.bitmapWordsScanned, 0); // bitmaps are listed by address, never read
    // chunks of 255 and 45 entries for order 0, 1 for order 9: 16-byte header + 16 per entry
    assert.equal(d.cacheLinesWritten, 64 + Math.ceil((16 + 45 * 16) / 64) + 1);
    assert.equal(d.nodesAllocated, 0);
  }
});

// ---------------------------------------------------------------- incoming walk

Deno.test("walk counters: chunk lines and entries, bitmap words and lines, pages", () => {
  for (const bytes of [512, 4096] as const) {
    const { mem, pool, tracker } = setup(bytes);
    for (let k = 0; k < 20; k++) tracker.add(k * bytes * 8 + k, 0); // 20 bitmaps, one chunk
    const first = serialize(tracker, pool, { era: "6.18" });
    const incoming = trackerFormat(bytes === 512 ? "xarray-512" : "xarray-4k").incoming(mem, first);
    assert.equal(incoming.kind, bytes === 512 ? "xarray-512" : "xarray-4k");
    assert.equal(incoming.walk(() => 0), 0);
    const c = incoming.counters;
    assert.equal(c.entriesVisited, 20);
    assert.equal(c.entriesFollowed, 20);
    assert.equal(c.bitmapWordsScanned, 20 * bytes / 8);
    // header + 20 entries = 336 bytes = 6 lines; each bitmap 8 or 64 lines
    assert.equal(c.cacheLinesRead, 6 + 20 * bytes / 64);
    assert.equal(c.pagesTouched, 1 + (bytes === 512 ? 3 : 20)); // chunk + bitmap pages
    assert.equal(c.callbacks, 20);
  }
});

Deno.test("walk stops on a non-zero callback; batched walk gives the same blocks", () => {
  const { mem, pool, tracker } = setup(512);
  populate(tracker, 300);
  const first = serialize(tracker, pool, { era: "6.16" });
  const o = { mem, firstChunkPhys: first, bitmapBytes: 512 as const };
  const all = collect(o).blocks;
  assert.equal(all.length, 300 + 3 + 2);
  const outgoing: [number, number][] = [];
  tracker.walk((p, ord) => (outgoing.push([p, ord]), 0));
  assert.deepEqual(all, outgoing);
  const batched: [number, number][] = [];
  const rb = walkKhoserChunksBatched(o, (p, n, ord) => {
    for (let i = 0; i < n; i++) batched.push([p[i], ord]);
    return 0;
  });
  assert.ok(rb.ok);
  assert.deepEqual(batched, all);
  let n = 0;
  const r = walkKhoserChunks(o, () => (++n === 10 ? 7 : 0));
  assert.ok(r.ok);
  assert.equal(r.stopped, 7);
  assert.equal(r.blocks, 10);
  assert.equal(trackerFormat("xarray-512").incoming(mem, first).walk(() => 9), 9);
});

/** A small serialized list for corruption tests: 2 chunks of order 0, 1 of order 9. */
function corruptible() {
  const { mem, pool, tracker } = setup(4096);
  for (let k = 0; k < 256; k++) tracker.add(k * 32768 + 5, 0);
  tracker.add(512 * 7, 9);
  const first = serialize(tracker, pool, { era: "6.18" });
  const chunks = readChunks(mem, first);
  assert.equal(chunks.length, 3);
  return { mem, first, chunks, log: new KernelLog() };
}

function expectError(
  o: Parameters<typeof walkKhoserChunks>[0],
  reason: KhoserWalkErrorReason,
): void {
  const r = walkKhoserChunks(o, () => 0);
  assert.equal(r.ok, false);
  assert.equal(r.error, reason, r.detail);
  assert.throws(
    () =>
      trackerFormat(o.bitmapBytes === 512 ? "xarray-512" : "xarray-4k")
        .incoming(o.mem, o.firstChunkPhys, { isRam: o.isRam }).walk(() => 0),
    (e) =>
      e instanceof TrackerCorruptionError && e.structure === "memory map" && e.reason === reason &&
      e.code === "EINVAL",
  );
}

Deno.test("corruption: chunk cycle, self-loop", () => {
  const c = corruptible();
  c.mem.writeU64(c.chunks[2].phys, c.chunks[0].phys);
  expectError({ mem: c.mem, firstChunkPhys: c.first, bitmapBytes: 4096, log: c.log }, "cycle");
  assert.ok(c.log.grep(/cycle/).length > 0);
  const d = corruptible();
  d.mem.writeU64(d.chunks[1].phys, d.chunks[1].phys);
  const r = walkKhoserChunks({ mem: d.mem, firstChunkPhys: d.first, bitmapBytes: 4096 }, () => 0);
  assert.equal(r.error, "cycle");
  assert.equal(r.chunksVisited, 2);
  assert.equal(r.blocks, 256, "blocks before the error stay reported");
});

Deno.test("corruption: next outside RAM, unaligned, or in a hole", () => {
  const c = corruptible();
  const o = { mem: c.mem, firstChunkPhys: c.first, bitmapBytes: 4096 as const };
  c.mem.writeU64(c.chunks[0].phys, MEM);
  expectError(o, "chunk-outside-ram");
  c.mem.writeU64Parts(c.chunks[0].phys, 0, 0xffffffff);
  expectError(o, "chunk-outside-ram");
  c.mem.writeU64(c.chunks[0].phys, c.chunks[1].phys + 8);
  expectError(o, "chunk-unaligned");
  c.mem.writeU64(c.chunks[0].phys, c.chunks[1].phys);
  const hole = (p: number, s: number) => !(p < c.chunks[1].phys + 4096 && p + s > c.chunks[1].phys);
  expectError({ ...o, isRam: hole }, "chunk-outside-ram");
  expectError({ ...o, firstChunkPhys: MEM + 4096 }, "chunk-outside-ram");
  expectError({ ...o, firstChunkPhys: 12 }, "chunk-unaligned");
  expectError({ ...o, firstChunkPhys: -4096 }, "chunk-outside-ram");
});

Deno.test("corruption: num_elms 1000, order 60", () => {
  const c = corruptible();
  const o = { mem: c.mem, firstChunkPhys: c.first, bitmapBytes: 4096 as const };
  c.mem.writeU32(c.chunks[1].phys + 12, 1000);
  expectError(o, "num-elms-too-large");
  c.mem.writeU32(c.chunks[1].phys + 12, 256);
  expectError(o, "num-elms-too-large");
  c.mem.writeU32(c.chunks[1].phys + 12, 1);
  c.mem.writeU32(c.chunks[2].phys + 8, 60);
  expectError(o, "order-too-large");
});

Deno.test("corruption: bitmap pointer NULL, unaligned, outside RAM", () => {
  const c = corruptible();
  const o = { mem: c.mem, firstChunkPhys: c.first, bitmapBytes: 4096 as const };
  const slot = c.chunks[0].phys + 24 + 16 * 3;
  c.mem.writeU64(slot, 0);
  expectError(o, "bitmap-null");
  c.mem.writeU64(slot, POOL + 512);
  expectError(o, "bitmap-unaligned");
  assert.ok(walkKhoserChunks({ ...o, bitmapBytes: 512 }, () => 0).error !== "bitmap-unaligned");
  c.mem.writeU64(slot, MEM);
  expectError(o, "bitmap-outside-ram");
  c.mem.writeU64(slot, MEM - 2048);
  expectError(
    { ...o, bitmapBytes: 512, isRam: (p, s) => p + s <= MEM - 4096 },
    "bitmap-outside-ram",
  );
  c.mem.writeU64Parts(slot, 0, 0x12345678);
  expectError(o, "bitmap-outside-ram");
});

Deno.test("corruption: bits beyond RAM and misaligned phys_start are rejected, not fatal", () => {
  const c = corruptible();
  const log = new KernelLog();
  const o = { mem: c.mem, firstChunkPhys: c.first, bitmapBytes: 4096 as const, log };
  // entry 0 of chunk 0 now claims a bitmap of blocks starting at the end of RAM
  c.mem.writeU64(c.chunks[0].phys + 16, MEM - 4096 * 5);
  const { r, blocks } = collect(o);
  assert.ok(r.ok);
  assert.equal(r.rejected, 1); // bit 5 → MEM exactly: outside
  assert.equal(blocks.length, 256);
  assert.equal(log.grep(/not entirely RAM/).length, 1);
  assert.equal(log.grep(/rejected 1 preserved blocks/).length, 1);
  // a hole in RAM rejects the blocks in it
  const hole = (p: number, s: number) => !(p < 2 * 32768 * 4096 && p + s > 32768 * 4096);
  c.mem.writeU64(c.chunks[0].phys + 16, 0);
  const h = collect({ ...o, isRam: hole });
  assert.ok(h.r.ok);
  assert.equal(h.r.rejected, 1); // the page in the second 128 MiB
  // a phys_start that is not block aligned: every bit of the entry is rejected
  c.mem.writeU64(c.chunks[2].phys + 16, 4096);
  const m = collect(o);
  assert.ok(m.r.ok);
  assert.equal(m.r.rejected, 1);
  assert.ok(!m.blocks.some(([, ord]) => ord === 9));
  // phys_start above 2^53: rejected without precision trouble
  c.mem.writeU64Parts(c.chunks[2].phys + 16, 0, 0xfff00000);
  assert.equal(collect(o).r.rejected, 1);
});

Deno.test("eras are validated", () => {
  const { pool, tracker } = setup(512);
  assert.throws(() => serialize(tracker, pool, { era: "6.17" as KhoserEra }), RangeError);
});
