/**
 * The hand-over ABI of `include/linux/kho/abi/kexec_handover.h` against the facts
 * (kho-facts §2.1, §2.2, §3.2, §6.1, §8.1, §8.2, §18.5), and the writers' bytes read back
 * through the ABI's decoders.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chunkPhysOffset,
  decodeKhoFdtU64,
  decodeKhoRadixNode,
  decodeKhoserMemChunk,
  decodeKhoVmallocChunk,
  encodeKhoFdtU64,
  encodeKhoRadixNode,
  encodeKhoserMemChunk,
  encodeKhoVmallocChunk,
  KHO_BITMAP_SIZE_LOG2,
  KHO_FDT_COMPATIBLE,
  KHO_FDT_NAMES,
  KHO_FDT_SIZE,
  KHO_LEAF_BIT_MASK,
  KHO_LEAF_BITS,
  KHO_MAX_KEY_ORDER,
  KHO_ORDER_0_LOG2,
  KHO_RADIX_ENTRY_SIZE,
  KHO_RADIX_KEY_WIDTH,
  KHO_RADIX_LEAF_SIZE,
  KHO_RADIX_LEVEL_SHIFTS,
  KHO_RADIX_NODE_SIZE,
  KHO_RADIX_ROOT_LEVEL,
  KHO_TABLE_ENTRIES,
  KHO_TABLE_INDEX_MASK,
  KHO_TABLE_SIZE_LOG2,
  KHO_TREE_MAX_DEPTH,
  KHO_VMALLOC_ALLOC,
  KHO_VMALLOC_CHUNK_SIZE,
  KHO_VMALLOC_HDR_NEXT_OFFSET,
  KHO_VMALLOC_HDR_SIZE,
  KHO_VMALLOC_HUGE_VMAP,
  KHO_VMALLOC_LAYOUT,
  KHO_VMALLOC_SIZE,
  khoRadixSplitKey,
  khoRadixTableIndex,
  KHOSER_BITMAP_SIZE,
  KHOSER_CHUNK_HDR,
  KHOSER_CHUNK_SIZE,
  KHOSER_ENTRIES_U32,
  KHOSER_ENTRY_BITMAP_OFFSET,
  KHOSER_ENTRY_BITMAP_U32,
  KHOSER_ENTRY_PHYS_START_OFFSET,
  KHOSER_ENTRY_PHYS_START_U32,
  KHOSER_ENTRY_SIZE,
  KHOSER_ENTRY_U32,
  KHOSER_HDR_NEXT_OFFSET,
  KHOSER_HDR_NEXT_U32,
  KHOSER_HDR_NUM_ELMS_OFFSET,
  KHOSER_HDR_NUM_ELMS_U32,
  KHOSER_HDR_ORDER_OFFSET,
  KHOSER_HDR_ORDER_U32,
  KHOSER_PTR_SIZE,
  khoserEntryOffset,
  KhoVmalloc,
} from "../../../lib/kho/abi/kexec_handover.ts";
import { getProfile, PROFILE_NAMES } from "../../../lib/kho/profiles.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import { Machine } from "../../../lib/machine/machine.ts";
import { Kernel } from "../../../lib/boot/kernel.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { preserveVmalloc } from "../../../lib/kho/vmalloc.ts";
import { RadixTree } from "../../../lib/kho/trackers/radix.ts";
import { serialize } from "../../../lib/kho/trackers/khoser.ts";
import { XarrayTracker } from "../../../lib/kho/trackers/xarray.ts";
import { GiB } from "../../../lib/units.ts";

/** A bump allocator of zeroed pages from `base`. */
function bump(base: number) {
  let next = base;
  return { allocZeroedPage: () => (next += 4096) - 4096, freePage: () => {} };
}

// ---------------------------------------------------------------------------------------
// Root FDT (kho-facts §8.1, §8.2)

Deno.test("root FDT: compat strings and property names per generation (kho-facts §8.1)", () => {
  const row = (g: string) => {
    const n = KHO_FDT_NAMES[g];
    return [n.compatible, n.memoryMapProp, n.subTreeProp, n.subTreeSizeProp];
  };
  assert.deepEqual(row("kho-v1"), ["kho-v1", "preserved-memory-map", "fdt", null]);
  assert.deepEqual(row("rfc-v1"), ["kho-v1", "preserved-order-table", "fdt", null]);
  assert.deepEqual(row("kho-v2"), ["kho-v2", "preserved-memory-map", "preserved-data", null]);
  assert.deepEqual(row("kho-v3"), [
    "kho-v3",
    "preserved-memory-map",
    "preserved-data",
    "blob-size",
  ]);
  assert.deepEqual(row("kho-v4"), [
    "kho-v4",
    "preserved-memory-map",
    "preserved-data",
    "blob-size",
  ]);
  assert.equal(KHO_FDT_COMPATIBLE, "kho-v4");
  assert.equal(KHO_FDT_SIZE, 4096);
});

Deno.test("root FDT: every profile of a released generation carries that generation's names", () => {
  const generation: Record<string, string> = {
    "kho-v1-6.16": "kho-v1",
    "kho-v1-6.18": "kho-v1",
    "kho-v1-6.19": "kho-v1",
    "rfc-v1-order-table": "rfc-v1",
    "kho-v2": "kho-v2",
    "kho-v3": "kho-v3",
    "kho-v4": "kho-v4",
  };
  for (const name of PROFILE_NAMES) {
    const p = getProfile(name);
    const g = generation[name];
    if (g === undefined) continue; // the page-type proposals: checked in rfc_page_type_test
    const n = KHO_FDT_NAMES[g];
    assert.equal(p.compat, n.compatible, name);
    assert.equal(p.memoryMapProp, n.memoryMapProp, name);
    assert.equal(p.subtreeProp, n.subTreeProp, name);
    assert.equal(p.blobSize, n.subTreeSizeProp !== null, name);
  }
});

Deno.test("root FDT: u64 properties are 8 native-endian bytes (kho-facts §8.1, §8.2)", () => {
  // the value bytes of preserved-memory-map = 0x123456000 in the 152-byte golden of kho-facts §8.2
  assert.deepEqual([...encodeKhoFdtU64(0x123456000)], [0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0]);
  assert.equal(decodeKhoFdtU64(null), null);
  assert.equal(decodeKhoFdtU64(new Uint8Array(4)), null);
  assert.equal(decodeKhoFdtU64(new Uint8Array(9)), null);
  fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (v) => {
    assert.equal(decodeKhoFdtU64(encodeKhoFdtU64(v)), v);
  }));
});

// ---------------------------------------------------------------------------------------
// KHOSER pointers and vmalloc (kho-facts §3.2, §6.1)

Deno.test("vmalloc: sizeof(struct kho_vmalloc) == 16, natural layout (kho-facts §6.1)", () => {
  assert.equal(KHOSER_PTR_SIZE, 8);
  assert.deepEqual(
    { ...KHO_VMALLOC_LAYOUT },
    { size: 16, first: 0, totalPages: 8, flags: 12, order: 14 },
  );
  assert.equal(KHO_VMALLOC_ALLOC, 0x0001);
  assert.equal(KHO_VMALLOC_HUGE_VMAP, 0x0002);
  const d = new KhoVmalloc({ first: 0x1_2345_6000, totalPages: 0x01020304, flags: 3, order: 9 });
  const b = d.encode();
  assert.deepEqual([...b], [
    0x00,
    0x60,
    0x45,
    0x23,
    0x01,
    0,
    0,
    0, // first
    0x04,
    0x03,
    0x02,
    0x01, // total_pages
    0x03,
    0x00, // flags
    0x09,
    0x00, // order
  ]);
  assert.deepEqual(KhoVmalloc.decode(b), d);
  assert.throws(() => KhoVmalloc.decode(b.subarray(0, 15)), RangeError);
});

Deno.test("vmalloc: kho_vmalloc_chunk is one page of 8-byte header + 511 addresses", () => {
  assert.equal(KHO_VMALLOC_HDR_SIZE, 8);
  assert.equal(KHO_VMALLOC_HDR_NEXT_OFFSET, 0);
  assert.equal(KHO_VMALLOC_SIZE, 511);
  assert.equal(KHO_VMALLOC_CHUNK_SIZE, 4096); // static_assert(sizeof(...) == PAGE_SIZE)
  assert.equal(chunkPhysOffset(0), 8);
  assert.equal(chunkPhysOffset(510), 4088);
  assert.equal(chunkPhysOffset(511), 4096); // where the unbounded loop of kho-facts §6.4 read on
  const full = Array.from({ length: 511 }, (_, i) => (i + 1) * 4096);
  const bytes = encodeKhoVmallocChunk({ next: 0x9000, phys: full });
  assert.deepEqual(decodeKhoVmallocChunk(bytes), { next: 0x9000, phys: full });
  assert.deepEqual(decodeKhoVmallocChunk(new Uint8Array(4096)), { next: 0, phys: [] });
  assert.throws(() => encodeKhoVmallocChunk({ next: 0, phys: [...full, 1] }), RangeError);
  assert.throws(() => encodeKhoVmallocChunk({ next: 0, phys: [0x1000, 0] }), RangeError);
});

Deno.test("vmalloc: the chunks kho_preserve_vmalloc writes decode through the ABI", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 * GiB, nodes: 1 }), {
    poison: false,
    memmapBytesPerPage: 0,
  });
  const pages = 600; // two chunks: 511 + 89
  const addr = k.vmalloc.vmalloc(pages * 4096)!;
  const desc = preserveVmalloc(k, addr);
  const vm = k.vmalloc.findVmArea(addr)!;
  const first = decodeKhoVmallocChunk(k.machine.mem.readBytes(desc.first, 4096));
  assert.equal(first.phys.length, 511);
  assert.notEqual(first.next, 0);
  const second = decodeKhoVmallocChunk(k.machine.mem.readBytes(first.next, 4096));
  assert.equal(second.next, 0);
  assert.deepEqual(
    [...first.phys, ...second.phys],
    Array.from({ length: pages }, (_, i) => vm.pages[i] * 4096),
  );
  assert.equal(desc.totalPages, pages);
});

// ---------------------------------------------------------------------------------------
// The radix tree (kho-facts §2.1, §2.2, §18.5)

Deno.test("radix: enum kho_radix_consts and node sizes (kho-facts §2.1)", () => {
  assert.equal(KHO_ORDER_0_LOG2, 52);
  assert.equal(KHO_TABLE_SIZE_LOG2, 9);
  assert.equal(KHO_BITMAP_SIZE_LOG2, 15);
  assert.equal(KHO_TREE_MAX_DEPTH, 6);
  assert.equal(KHO_RADIX_ROOT_LEVEL, 5);
  assert.equal(KHO_RADIX_KEY_WIDTH, 60);
  assert.equal(KHO_TABLE_ENTRIES, 512);
  assert.equal(KHO_TABLE_INDEX_MASK, 511);
  assert.equal(KHO_LEAF_BITS, 32768);
  assert.equal(KHO_LEAF_BIT_MASK, 0x7fff);
  assert.equal(KHO_MAX_KEY_ORDER, 52);
  assert.equal(KHO_RADIX_ENTRY_SIZE, 8);
  assert.equal(KHO_RADIX_NODE_SIZE, 4096); // struct kho_radix_node: one page
  assert.equal(KHO_RADIX_LEAF_SIZE, 4096); // struct kho_radix_leaf: one page
});

Deno.test("radix: key bits of each level: 14:0, 23:15, 32:24, 41:33, 50:42, 59:51 (kho-facts §18.5)", () => {
  assert.deepEqual([...KHO_RADIX_LEVEL_SHIFTS], [0, 15, 24, 33, 42, 51]);
  const ranges = KHO_RADIX_LEVEL_SHIFTS.map((s, l) => {
    const width = l === 0 ? KHO_BITMAP_SIZE_LOG2 : KHO_TABLE_SIZE_LOG2;
    return `${s + width - 1}:${s}`;
  });
  assert.deepEqual(ranges, ["14:0", "23:15", "32:24", "41:33", "50:42", "59:51"]);
  // the hot paths split the key into u32 halves: L5..L3 in the high half, L2 across, L1 low
  assert.ok(KHO_RADIX_LEVEL_SHIFTS[3] >= 32 && KHO_RADIX_LEVEL_SHIFTS[3] + 9 <= 64);
  assert.ok(KHO_RADIX_LEVEL_SHIFTS[2] < 32 && KHO_RADIX_LEVEL_SHIFTS[2] + 9 > 32);
  assert.ok(KHO_RADIX_LEVEL_SHIFTS[1] + 9 <= 32);
});

/** kho-facts §2.2 test vectors: key, indices L5, L4, L3, L2, L1, leaf bit. */
const VECTORS: [bigint, number[]][] = [
  [0x0010000000000000n, [2, 0, 0, 0, 0, 0]],
  [0x0010000000000001n, [2, 0, 0, 0, 0, 1]],
  [0x0010000000100000n, [2, 0, 0, 0, 32, 0]],
  [0x0010000012345678n, [2, 0, 0, 18, 104, 22136]],
  [0x0010007fffffffffn, [2, 0, 63, 511, 511, 32767]],
  [0x0000080000000001n, [0, 2, 0, 0, 0, 1]],
  [0x0000040000000000n, [0, 1, 0, 0, 0, 0]],
  [0x0000040000000001n, [0, 1, 0, 0, 0, 1]],
  [0x0000000400000001n, [0, 0, 2, 0, 0, 1]],
  [0x0000000400000002n, [0, 0, 2, 0, 0, 2]],
];

Deno.test("radix: table indices of the kho-facts §2.2 vectors", () => {
  const out = new Int32Array(6);
  for (const [key, want] of VECTORS) {
    const lo = Number(key & 0xffffffffn), hi = Number(key >> 32n);
    const got = [5, 4, 3, 2, 1].map((l) => khoRadixTableIndex(l, lo, hi));
    assert.deepEqual([...got, lo & KHO_LEAF_BIT_MASK], want, `key 0x${key.toString(16)}`);
    khoRadixSplitKey(Number(key), out);
    assert.deepEqual([out[5], out[4], out[3], out[2], out[1], out[0]], want);
  }
});

Deno.test("radix: index extraction equals (key >> shift) % 512 on random 60-bit keys", () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 60n) - 1n }), (key) => {
    const lo = Number(key & 0xffffffffn), hi = Number(key >> 32n);
    for (let l = 1; l <= 5; l++) {
      const want = Number((key >> BigInt(KHO_RADIX_LEVEL_SHIFTS[l])) % 512n);
      assert.equal(khoRadixTableIndex(l, lo, hi), want);
    }
  }));
});

Deno.test("radix: node round trip, and the tree's root page read through the ABI", () => {
  const node = encodeKhoRadixNode(new Map([[0, 0x1000], [511, 0x7fff_ffff_f000]]));
  const entries = decodeKhoRadixNode(node);
  assert.equal(entries.length, 512);
  assert.equal(entries[0], 0x1000);
  assert.equal(entries[511], 0x7fff_ffff_f000);
  assert.equal(entries.filter((e) => e !== 0).length, 2);
  assert.throws(() => encodeKhoRadixNode(new Map([[512, 1]])), RangeError);

  const mem = new PhysicalMemory(2 ** 30);
  const tree = RadixTree.create({ mem, alloc: bump(2 ** 29), log: new KernelLog() });
  tree.add(0x40000, 18); // a 1 GiB folio at 1 GiB: key 0x0000000400000001, L5..L3 = 0, 0, 2
  let phys = tree.handoverRoot();
  for (const [level, index] of [[5, 0], [4, 0], [3, 2], [2, 0], [1, 0]]) {
    const e = decodeKhoRadixNode(mem.readBytes(phys, 4096));
    assert.deepEqual(e.flatMap((p, i) => p !== 0 ? [i] : []), [index], `level ${level}`);
    phys = e[index];
  }
  const leaf = mem.readBytes(phys, KHO_RADIX_LEAF_SIZE);
  assert.equal(leaf[0], 0b10); // leaf bit 1
});

// ---------------------------------------------------------------------------------------
// The xarray era's khoser_mem_chunk (kho-facts §3.2, §18.5)

Deno.test("khoser_mem_chunk: 16-byte header + 255 × 16-byte entries = one page", () => {
  assert.equal(KHOSER_CHUNK_HDR, 16);
  assert.equal(KHOSER_ENTRY_SIZE, 16);
  assert.equal(KHOSER_BITMAP_SIZE, 255);
  assert.equal(KHOSER_CHUNK_SIZE, 4096);
  assert.equal(KHOSER_CHUNK_HDR + KHOSER_BITMAP_SIZE * KHOSER_ENTRY_SIZE, KHOSER_CHUNK_SIZE);
  assert.deepEqual(
    [KHOSER_HDR_NEXT_OFFSET, KHOSER_HDR_ORDER_OFFSET, KHOSER_HDR_NUM_ELMS_OFFSET],
    [0, 8, 12],
  );
  assert.deepEqual([KHOSER_ENTRY_PHYS_START_OFFSET, KHOSER_ENTRY_BITMAP_OFFSET], [0, 8]);
  assert.equal(khoserEntryOffset(0), 16);
  assert.equal(khoserEntryOffset(254), 4080);
  // the u32 word view the hot paths use is the same layout
  assert.deepEqual([KHOSER_HDR_NEXT_U32, KHOSER_HDR_ORDER_U32, KHOSER_HDR_NUM_ELMS_U32], [0, 2, 3]);
  assert.deepEqual(
    [KHOSER_ENTRIES_U32, KHOSER_ENTRY_U32, KHOSER_ENTRY_PHYS_START_U32, KHOSER_ENTRY_BITMAP_U32],
    [4, 4, 0, 2],
  );
});

Deno.test("khoser_mem_chunk: encode/decode round trip and bounds", () => {
  const entries = Array.from({ length: 255 }, (_, i) => ({
    physStart: i * 2 ** 27,
    bitmap: 0x4000_0000 + i * 4096,
  }));
  const chunk = { next: 0x1_0000_1000, order: 3, entries };
  const bytes = encodeKhoserMemChunk(chunk);
  assert.equal(bytes.length, 4096);
  assert.deepEqual(decodeKhoserMemChunk(bytes), chunk);
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getUint32(8, true), 3);
  assert.equal(dv.getUint32(12, true), 255);
  assert.throws(() => encodeKhoserMemChunk({ ...chunk, entries: [...entries, entries[0]] }));
  dv.setUint32(12, 256, true);
  assert.throws(() => decodeKhoserMemChunk(bytes), RangeError);
});

Deno.test("khoser_mem_chunk: the chunks serialize() writes decode through the ABI", () => {
  const mem = new PhysicalMemory(2 ** 32);
  const alloc = bump(2 ** 31);
  const t = new XarrayTracker({ mem, alloc, log: new KernelLog(), bitmapBytes: 4096 });
  // order 0: 300 bitmaps (two chunks of 255 + 45), order 9: one bitmap
  for (let i = 0; i < 300; i++) t.add(i * 32768, 0);
  t.add(0x200, 9);
  let phys = serialize(t, alloc, { era: "6.19" });
  const chunks = [];
  while (phys !== 0) {
    const c = decodeKhoserMemChunk(mem.readBytes(phys, 4096));
    chunks.push(c);
    phys = c.next;
  }
  assert.deepEqual(chunks.map((c) => [c.order, c.entries.length]), [[0, 255], [0, 45], [9, 1]]);
  const starts = chunks.flatMap((c) => c.order === 0 ? c.entries.map((e) => e.physStart) : []);
  assert.deepEqual(starts, Array.from({ length: 300 }, (_, i) => i * 32768 * 4096));
  assert.equal(chunks[2].entries[0].physStart, 0);
  for (const c of chunks) for (const e of c.entries) assert.equal(e.bitmap % 4096, 0);
});
