/**
 * The KHO hand-over ABI (`include/linux/kho/abi/kexec_handover.h`; kho-facts §2, §3.2, §4,
 * §6.1, §8): everything of the outgoing kernel's own bytes that a successor reads. One home
 * for each name and layout; the writers (`root_fdt*.ts`, `trackers/`, `vmalloc.ts`) and the
 * readers (`restore.ts`, the incoming trackers) both take them from here.
 *
 * 1. **The root FDT**: compatible strings per generation, the root property holding the
 *    tracker's address, the sub-node properties, and the native-endian u64 property values.
 * 2. **KHOSER pointers**: a u64 physical address, 0 for NULL.
 * 3. **vmalloc preservation**: `struct kho_vmalloc` (16 bytes) and the one-page
 *    `struct kho_vmalloc_chunk` chain of 511 addresses each.
 * 4. **The radix tree** (kho-v2 on): `enum kho_radix_consts`, `struct kho_radix_node` (512
 *    u64 child addresses), `struct kho_radix_leaf` (a 32,768-bit bitmap) and the key bits
 *    each level indexes.
 * 5. **The xarray era's serialized tracker** (6.16 – 6.19, `kernel/kexec_handover.c`): the
 *    one-page `struct khoser_mem_chunk` (16-byte header + 255 `{phys_start, bitmap}`).
 *
 * All integers are little endian (x86_64), as the kernel stores them natively. Proposals
 * that never reached mainline live in `rfc_order_table.ts` and `rfc_page_type.ts`.
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../units.ts";
import { getLe64, le64, readLe64, setLe64 } from "../fdt/format.ts";

// ------------------------------------------------------------------------------------------
// 1. The root FDT (kho-facts §8.1, §8.2).

/** Size of the root FDT buffer: one page (`fdt_create(root, PAGE_SIZE)` in every era). */
export const KHO_FDT_SIZE: number = PAGE_SIZE;

/** `KHO_FDT_COMPATIBLE` of 6.16 – 6.19 (xarray tracker); RFC v1 kept it. */
export const KHO_FDT_COMPATIBLE_V1 = "kho-v1";
/** `KHO_FDT_COMPATIBLE` of 7.0: the radix tree, sub-node property `preserved-data`. */
export const KHO_FDT_COMPATIBLE_V2 = "kho-v2";
/** `KHO_FDT_COMPATIBLE` of 7.1: sub-nodes also carry `blob-size`. */
export const KHO_FDT_COMPATIBLE_V3 = "kho-v3";
/** `KHO_FDT_COMPATIBLE` of 7.2-rc1: bumped with the kho_block / LUO ABI change. */
export const KHO_FDT_COMPATIBLE_V4 = "kho-v4";
/** `KHO_FDT_COMPATIBLE` of mainline as of v7.2-rc1. */
export const KHO_FDT_COMPATIBLE = KHO_FDT_COMPATIBLE_V4;

/** `KHO_FDT_MEMORY_MAP_PROP_NAME`: root property, u64 address of the tracker (all eras). */
export const KHO_FDT_MEMORY_MAP_PROP_NAME = "preserved-memory-map";
/**
 * kho-v1's `KHO_FDT_SUB_TREE_PROP_NAME`: sub-node property, u64 address of a sub-FDT
 * (6.16 – 6.19 and RFC v1).
 */
export const KHO_FDT_SUB_TREE_PROP_NAME_V1 = "fdt";
/**
 * `KHO_SUB_TREE_PROP_NAME` (7.1 on; 7.0 spelled the macro `KHO_FDT_SUB_TREE_PROP_NAME`):
 * sub-node property, u64 address of a blob of any format (kho-v2 on).
 */
export const KHO_SUB_TREE_PROP_NAME = "preserved-data";
/** `KHO_SUB_TREE_SIZE_PROP_NAME`: sub-node property, u64 size of the blob (kho-v3 on). */
export const KHO_SUB_TREE_SIZE_PROP_NAME = "blob-size";
/**
 * **Proposal** (RFC v1 "Make KHO Stateless", 2025-09, never merged): the root property
 * holding the address of `struct kho_order_table` instead of `preserved-memory-map`; the
 * compatible stayed {@link KHO_FDT_COMPATIBLE_V1}. Layout in `rfc_order_table.ts`.
 */
export const KHO_FDT_ORDER_TABLE_PROP_NAME = "preserved-order-table";

/** Root FDT names of one generation. */
export interface KhoFdtNames {
  /** Root `compatible`, checked by exact match in the successor. */
  readonly compatible: string;
  /** Root property holding the tracker's physical address. */
  readonly memoryMapProp: string;
  /** Sub-node property holding a sub-blob's physical address. */
  readonly subTreeProp: string;
  /** Sub-node property holding the blob's size, or null before kho-v3. */
  readonly subTreeSizeProp: string | null;
}

/** The root FDT names of each generation (kho-facts §8.1); `rfc-v1` is a proposal. */
export const KHO_FDT_NAMES: Readonly<Record<string, KhoFdtNames>> = {
  "kho-v1": {
    compatible: KHO_FDT_COMPATIBLE_V1,
    memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
    subTreeProp: KHO_FDT_SUB_TREE_PROP_NAME_V1,
    subTreeSizeProp: null,
  },
  "rfc-v1": {
    compatible: KHO_FDT_COMPATIBLE_V1,
    memoryMapProp: KHO_FDT_ORDER_TABLE_PROP_NAME,
    subTreeProp: KHO_FDT_SUB_TREE_PROP_NAME_V1,
    subTreeSizeProp: null,
  },
  "kho-v2": {
    compatible: KHO_FDT_COMPATIBLE_V2,
    memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
    subTreeProp: KHO_SUB_TREE_PROP_NAME,
    subTreeSizeProp: null,
  },
  "kho-v3": {
    compatible: KHO_FDT_COMPATIBLE_V3,
    memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
    subTreeProp: KHO_SUB_TREE_PROP_NAME,
    subTreeSizeProp: KHO_SUB_TREE_SIZE_PROP_NAME,
  },
  "kho-v4": {
    compatible: KHO_FDT_COMPATIBLE_V4,
    memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
    subTreeProp: KHO_SUB_TREE_PROP_NAME,
    subTreeSizeProp: KHO_SUB_TREE_SIZE_PROP_NAME,
  },
};

/** Size of a KHO FDT u64 property value. */
export const KHO_FDT_U64_SIZE = 8;

/**
 * The value of a KHO FDT u64 property (an address or a size): 8 bytes in **native** (little)
 * endianness, as the kernel passes `&phys` to `fdt_property`/`fdt_setprop` ("Properties are
 * passed in native endianness"), unlike device-tree cells.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKhoFdtU64, encodeKhoFdtU64 } from "./kexec_handover.ts";
 * assert.deepEqual([...encodeKhoFdtU64(0x123456000)], [0, 0x60, 0x45, 0x23, 1, 0, 0, 0]);
 * assert.equal(decodeKhoFdtU64(encodeKhoFdtU64(0x123456000)), 0x123456000);
 * ```
 */
export function encodeKhoFdtU64(value: number): Uint8Array {
  return le64(value);
}

/**
 * A u64 property as the successor reads it: null when the property is missing or its
 * length is not exactly 8 (`kho_mem_retrieve`, `kho_retrieve_subtree`), else its value.
 */
export function decodeKhoFdtU64(prop: Uint8Array | null): number | null {
  if (prop === null || prop.length !== KHO_FDT_U64_SIZE) return null;
  return readLe64(prop);
}

// ------------------------------------------------------------------------------------------
// 2. KHOSER pointers (kho-facts §3.2).

/**
 * Size of a `DECLARE_KHOSER_PTR` union: `u64 phys` (6.16: `phys_addr_t`, 8 bytes on x86_64).
 * `KHOSER_STORE_PTR` stores `virt_to_phys(v)`; `KHOSER_LOAD_PTR` gives NULL for 0. Every
 * "next"/"first"/"bitmap" field below is one.
 */
export const KHOSER_PTR_SIZE = 8;

// ------------------------------------------------------------------------------------------
// 3. vmalloc preservation (kho-facts §6.1).

/** `KHO_VMALLOC_ALLOC`: the area came from vmalloc() (VM_ALLOC). */
export const KHO_VMALLOC_ALLOC = 0x0001;
/** `KHO_VMALLOC_HUGE_VMAP`: the area may be PMD-mapped (VM_ALLOW_HUGE_VMAP). */
export const KHO_VMALLOC_HUGE_VMAP = 0x0002;

/**
 * Byte offsets and size of `struct kho_vmalloc` (natural layout, not `__packed`):
 * ```
 * struct kho_vmalloc {
 *   KHOSER_PTR first;             //  0: phys of the first chunk
 *   unsigned int total_pages;     //  8: vm->nr_pages
 *   unsigned short flags;         // 12: KHO_VMALLOC_*
 *   unsigned short order;         // 14: get_vm_area_page_order()
 * };                              // 16 bytes
 * ```
 */
export const KHO_VMALLOC_LAYOUT = {
  /** Size of the descriptor in bytes. */
  size: 16,
  /** `u64 first`. */
  first: 0,
  /** `u32 total_pages`. */
  totalPages: 8,
  /** `u16 flags`. */
  flags: 12,
  /** `u16 order`. */
  order: 14,
} as const;

/** Size of `struct kho_vmalloc_hdr` (`KHOSER_PTR next`). */
export const KHO_VMALLOC_HDR_SIZE: number = KHOSER_PTR_SIZE;
/** Byte offset of `hdr.next` in a `struct kho_vmalloc_chunk`. */
export const KHO_VMALLOC_HDR_NEXT_OFFSET = 0;
/** `KHO_VMALLOC_SIZE`: physical addresses per chunk, (PAGE_SIZE - 8) / 8 = 511. */
export const KHO_VMALLOC_SIZE: number = (PAGE_SIZE - KHO_VMALLOC_HDR_SIZE) / 8;
/** Size of `struct kho_vmalloc_chunk` (one page; static_assert in the kernel). */
export const KHO_VMALLOC_CHUNK_SIZE: number = KHO_VMALLOC_HDR_SIZE + 8 * KHO_VMALLOC_SIZE;

/**
 * Byte offset of `chunk->phys[i]` from the chunk's start (may run past the page for
 * i ≥ 511, where the early kernels' unbounded loops read).
 */
export function chunkPhysOffset(i: number): number {
  return KHO_VMALLOC_HDR_SIZE + 8 * i;
}

/** The values of a `struct kho_vmalloc`. */
export interface KhoVmallocFields {
  /** Physical address of the first chunk (0: none). */
  first: number;
  /** Pages of the area (`vm->nr_pages`), u32. */
  totalPages: number;
  /** KHO_VMALLOC_* flags, u16. */
  flags: number;
  /** Page order of the mapping (0, or 9 for huge vmap), u16. */
  order: number;
}

/**
 * A `struct kho_vmalloc`: what a client keeps to find its vmalloc area after kexec. Only
 * its 16 bytes ({@link KhoVmalloc.encode}) may cross a kexec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KhoVmalloc } from "./kexec_handover.ts";
 * const d = new KhoVmalloc({ first: 0x10203000, totalPages: 2, flags: 1, order: 0 });
 * const bytes = d.encode();
 * assert.equal(bytes.length, 16);
 * assert.equal(KhoVmalloc.decode(bytes).first, 0x10203000);
 * ```
 */
export class KhoVmalloc implements KhoVmallocFields {
  /** Physical address of the first chunk. */
  readonly first: number;
  /** Pages of the area. */
  readonly totalPages: number;
  /** KHO_VMALLOC_* flags. */
  readonly flags: number;
  /** Page order of the mapping. */
  readonly order: number;

  /** Wraps the field values (no range checks beyond the field widths on encode). */
  constructor(fields: KhoVmallocFields) {
    this.first = fields.first;
    this.totalPages = fields.totalPages;
    this.flags = fields.flags;
    this.order = fields.order;
  }

  /** The 16 little-endian bytes of the struct. */
  encode(): Uint8Array {
    const L = KHO_VMALLOC_LAYOUT;
    const out = new Uint8Array(L.size);
    const dv = new DataView(out.buffer);
    if (!Number.isSafeInteger(this.first) || this.first < 0) {
      throw new RangeError(`kho_vmalloc.first ${this.first}`);
    }
    setLe64(dv, L.first, this.first);
    dv.setUint32(L.totalPages, this.totalPages >>> 0, true);
    dv.setUint16(L.flags, this.flags & 0xffff, true);
    dv.setUint16(L.order, this.order & 0xffff, true);
    return out;
  }

  /** Reads a struct from `bytes` at `offset` (at least 16 bytes must be there). */
  static decode(bytes: Uint8Array, offset = 0): KhoVmalloc {
    const L = KHO_VMALLOC_LAYOUT;
    if (offset < 0 || offset + L.size > bytes.length) {
      throw new RangeError(`kho_vmalloc needs 16 bytes at ${offset} of ${bytes.length}`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, L.size);
    return new KhoVmalloc({
      first: getLe64(dv, L.first),
      totalPages: dv.getUint32(L.totalPages, true),
      flags: dv.getUint16(L.flags, true),
      order: dv.getUint16(L.order, true),
    });
  }

  /** Writes the 16 bytes into physical memory. */
  writeTo(mem: PhysicalMemory, phys: number): void {
    mem.writeBytes(phys, this.encode());
  }

  /** Reads the 16 bytes from physical memory. */
  static readFrom(mem: PhysicalMemory, phys: number): KhoVmalloc {
    return KhoVmalloc.decode(mem.readBytes(phys, KHO_VMALLOC_LAYOUT.size));
  }
}

/** A decoded `struct kho_vmalloc_chunk`. */
export interface KhoVmallocChunk {
  /** `hdr.next`: physical address of the next chunk, 0 at the end. */
  next: number;
  /** `phys[]` up to the first 0 (all 511 when the chunk is full). */
  phys: number[];
}

/**
 * The 4096 bytes of a `struct kho_vmalloc_chunk`; throws RangeError for more than 511
 * addresses or a 0 among them (0 ends the array).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKhoVmallocChunk, encodeKhoVmallocChunk } from "./kexec_handover.ts";
 * const bytes = encodeKhoVmallocChunk({ next: 0x5000, phys: [0x1000, 0x3000] });
 * assert.equal(bytes.length, 4096);
 * assert.deepEqual(decodeKhoVmallocChunk(bytes), { next: 0x5000, phys: [0x1000, 0x3000] });
 * ```
 */
export function encodeKhoVmallocChunk(chunk: KhoVmallocChunk): Uint8Array {
  if (chunk.phys.length > KHO_VMALLOC_SIZE) {
    throw new RangeError(`kho_vmalloc_chunk holds ${KHO_VMALLOC_SIZE} addresses, not more`);
  }
  const out = new Uint8Array(KHO_VMALLOC_CHUNK_SIZE);
  out.set(le64(chunk.next), KHO_VMALLOC_HDR_NEXT_OFFSET);
  chunk.phys.forEach((p, i) => {
    if (p === 0) throw new RangeError(`kho_vmalloc_chunk phys[${i}] is 0 (the terminator)`);
    out.set(le64(p), chunkPhysOffset(i));
  });
  return out;
}

/** Decodes one chunk page (`bytes` of at least 4096): `next` and `phys[]` up to its first 0. */
export function decodeKhoVmallocChunk(bytes: Uint8Array): KhoVmallocChunk {
  if (bytes.length < KHO_VMALLOC_CHUNK_SIZE) {
    throw new RangeError(`kho_vmalloc_chunk is ${KHO_VMALLOC_CHUNK_SIZE} bytes`);
  }
  const phys: number[] = [];
  for (let i = 0; i < KHO_VMALLOC_SIZE; i++) {
    const p = readLe64(bytes, chunkPhysOffset(i));
    if (p === 0) break;
    phys.push(p);
  }
  return { next: readLe64(bytes, KHO_VMALLOC_HDR_NEXT_OFFSET), phys };
}

// ------------------------------------------------------------------------------------------
// 4. The radix tree (kho-v2 on; kho-facts §2.1, §2.2, §18.5).

/** `KHO_ORDER_0_LOG2 = 64 - PAGE_SHIFT` (52): the order bit of an order-0 key. */
export const KHO_ORDER_0_LOG2: number = 64 - PAGE_SHIFT;
/** `KHO_TABLE_SIZE_LOG2 = ilog2(PAGE_SIZE / sizeof(phys_addr_t))` (9): 512 entries a node. */
export const KHO_TABLE_SIZE_LOG2: number = Math.log2(PAGE_SIZE / 8);
/** `KHO_BITMAP_SIZE_LOG2 = PAGE_SHIFT + ilog2(BITS_PER_BYTE)` (15): 32,768 bits a leaf. */
export const KHO_BITMAP_SIZE_LOG2: number = PAGE_SHIFT + 3;
/**
 * `KHO_TREE_MAX_DEPTH` (6): `DIV_ROUND_UP(KHO_ORDER_0_LOG2 - KHO_BITMAP_SIZE_LOG2 + 1,
 * KHO_TABLE_SIZE_LOG2) + 1` as of kho-v3 (7.0 had no `+ 1`; both give 6 with 4 KiB pages).
 * The root is level 5; levels 5..1 are `kho_radix_node`s; level 0 is the leaf.
 */
export const KHO_TREE_MAX_DEPTH: number = Math.ceil(
  (KHO_ORDER_0_LOG2 - KHO_BITMAP_SIZE_LOG2 + 1) / KHO_TABLE_SIZE_LOG2,
) + 1;
/** Key bits the tree indexes: `(DEPTH - 1) * 9 + 15` = 60 (bits 60..63 are never examined). */
export const KHO_RADIX_KEY_WIDTH: number = (KHO_TREE_MAX_DEPTH - 1) * KHO_TABLE_SIZE_LOG2 +
  KHO_BITMAP_SIZE_LOG2;
/** Entries in one table node (512). */
export const KHO_TABLE_ENTRIES: number = 1 << KHO_TABLE_SIZE_LOG2;
/** Bits in one leaf (32768). */
export const KHO_LEAF_BITS: number = 1 << KHO_BITMAP_SIZE_LOG2;
/** Largest order a key can encode (the order bit reaches bit 0). */
export const KHO_MAX_KEY_ORDER: number = KHO_ORDER_0_LOG2;
/** Level of the root node (5). */
export const KHO_RADIX_ROOT_LEVEL: number = KHO_TREE_MAX_DEPTH - 1;
/** Size of a table entry: the u64 physical address of a child page, 0 = empty. */
export const KHO_RADIX_ENTRY_SIZE = 8;
/** Size of `struct kho_radix_node { u64 table[512]; }`: one page. */
export const KHO_RADIX_NODE_SIZE: number = KHO_TABLE_ENTRIES * KHO_RADIX_ENTRY_SIZE;
/** Size of `struct kho_radix_leaf { DECLARE_BITMAP(bitmap, 32768); }`: one page. */
export const KHO_RADIX_LEAF_SIZE: number = KHO_LEAF_BITS / 8;
/** Mask of a table index (511). */
export const KHO_TABLE_INDEX_MASK: number = KHO_TABLE_ENTRIES - 1;
/** Mask of a leaf bit index (32767). */
export const KHO_LEAF_BIT_MASK: number = KHO_LEAF_BITS - 1;

/**
 * Lowest key bit of each level's index: `[0, 15, 24, 33, 42, 51]` — the leaf bit is key
 * bits 0..14 (level 0), the level-L table index (L = 1..5) key bits
 * `(L-1)*9+15 .. (L-1)*9+23` (23:15, 32:24, 41:33, 50:42, 59:51).
 */
export const KHO_RADIX_LEVEL_SHIFTS: readonly number[] = Object.freeze(
  Array.from(
    { length: KHO_TREE_MAX_DEPTH },
    (_, l) => l === 0 ? 0 : (l - 1) * KHO_TABLE_SIZE_LOG2 + KHO_BITMAP_SIZE_LOG2,
  ),
);

// Module-local copies: V8 folds these into the code, imported bindings it loads each time.
const L5_HI = KHO_RADIX_LEVEL_SHIFTS[5] - 32;
const L4_HI = KHO_RADIX_LEVEL_SHIFTS[4] - 32;
const L3_HI = KHO_RADIX_LEVEL_SHIFTS[3] - 32;
const L2_LO = KHO_RADIX_LEVEL_SHIFTS[2];
const L2_HI = 32 - L2_LO;
const L1_LO = KHO_RADIX_LEVEL_SHIFTS[1];
const INDEX_MASK = KHO_TABLE_INDEX_MASK;
const BIT_MASK = KHO_LEAF_BIT_MASK;
const TWO32 = 4294967296;

/**
 * Table index at `level` (1..5) of the key whose u32 halves are `lo` (bits 0..31) and `hi`
 * (bits 32..63): levels 5..3 lie in `hi`, level 2 straddles the halves, level 1 is in `lo`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { khoRadixTableIndex } from "./kexec_handover.ts";
 * // key 0x0010000012345678 (phys 0x12345678000, order 0): L5..L1 = 2, 0, 0, 18, 104
 * const lo = 0x12345678, hi = 0x00100000;
 * assert.deepEqual([5, 4, 3, 2, 1].map((l) => khoRadixTableIndex(l, lo, hi)), [2, 0, 0, 18, 104]);
 * ```
 */
export function khoRadixTableIndex(level: number, lo: number, hi: number): number {
  switch (level) {
    case 5:
      return (hi >>> L5_HI) & INDEX_MASK;
    case 4:
      return (hi >>> L4_HI) & INDEX_MASK;
    case 3:
      return (hi >>> L3_HI) & INDEX_MASK;
    case 2:
      return ((lo >>> L2_LO) | (hi << L2_HI)) & INDEX_MASK;
    default:
      return (lo >>> L1_LO) & INDEX_MASK;
  }
}

/**
 * Splits a key (an integer below 2^53) into its six indices: `out[5..1]` the table indices
 * of levels 5 (root) .. 1, `out[0]` the leaf bit.
 */
export function khoRadixSplitKey(key: number, out: Int32Array): void {
  const lo = key >>> 0;
  const hi = (key - lo) / TWO32;
  out[0] = lo & BIT_MASK;
  out[1] = (lo >>> L1_LO) & INDEX_MASK;
  out[2] = ((lo >>> L2_LO) | (hi << L2_HI)) & INDEX_MASK;
  out[3] = (hi >>> L3_HI) & INDEX_MASK;
  out[4] = (hi >>> L4_HI) & INDEX_MASK;
  out[5] = (hi >>> L5_HI) & INDEX_MASK;
}

/**
 * The 512 child addresses of a `struct kho_radix_node` page (0 = empty), as the successor
 * reads them.
 */
export function decodeKhoRadixNode(bytes: Uint8Array): number[] {
  if (bytes.length < KHO_RADIX_NODE_SIZE) {
    throw new RangeError(`kho_radix_node is ${KHO_RADIX_NODE_SIZE} bytes`);
  }
  return Array.from(
    { length: KHO_TABLE_ENTRIES },
    (_, i) => readLe64(bytes, i * KHO_RADIX_ENTRY_SIZE),
  );
}

/**
 * The bytes of a `struct kho_radix_node` with the given child addresses (index → phys).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKhoRadixNode, encodeKhoRadixNode } from "./kexec_handover.ts";
 * const node = encodeKhoRadixNode(new Map([[2, 0x7000]]));
 * assert.equal(node.length, 4096);
 * assert.equal(decodeKhoRadixNode(node)[2], 0x7000);
 * ```
 */
export function encodeKhoRadixNode(children: ReadonlyMap<number, number>): Uint8Array {
  const out = new Uint8Array(KHO_RADIX_NODE_SIZE);
  for (const [i, phys] of children) {
    if (!Number.isInteger(i) || i < 0 || i >= KHO_TABLE_ENTRIES) {
      throw new RangeError(`kho_radix_node index ${i} is not 0..${KHO_TABLE_ENTRIES - 1}`);
    }
    out.set(le64(phys), i * KHO_RADIX_ENTRY_SIZE);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// 5. The xarray era's serialized tracker: `struct khoser_mem_chunk` (6.16 – 6.19, kho-facts
// §3.2; declared in kernel/kexec_handover.c, not in the ABI header, but read by successors).
//
//   0x000  KHOSER_PTR next     physical address of the next chunk, 0 = last
//   0x008  u32 order           order of every bitmap in this chunk (chunks never mix orders)
//   0x00c  u32 num_elms        entries used, 0..255
//   0x010  255 × struct khoser_mem_bitmap_ptr { u64 phys_start; KHOSER_PTR bitmap; }

/** Size of one `struct khoser_mem_chunk`: exactly one page (static_assert in the kernel). */
export const KHOSER_CHUNK_SIZE: number = PAGE_SIZE;
/** Size of `struct khoser_mem_chunk_hdr`: `{KHOSER_PTR next; u32 order; u32 num_elms}`. */
export const KHOSER_CHUNK_HDR = 16;
/** Byte offset of `hdr.next` in a chunk. */
export const KHOSER_HDR_NEXT_OFFSET = 0;
/** Byte offset of `hdr.order` in a chunk. */
export const KHOSER_HDR_ORDER_OFFSET = 8;
/** Byte offset of `hdr.num_elms` in a chunk. */
export const KHOSER_HDR_NUM_ELMS_OFFSET = 12;
/** Size of `struct khoser_mem_bitmap_ptr`: `{u64 phys_start; KHOSER_PTR bitmap}`. */
export const KHOSER_ENTRY_SIZE = 16;
/** Byte offset of `phys_start` in an entry. */
export const KHOSER_ENTRY_PHYS_START_OFFSET = 0;
/** Byte offset of `bitmap` in an entry. */
export const KHOSER_ENTRY_BITMAP_OFFSET = 8;
/** `KHOSER_BITMAP_SIZE = (PAGE_SIZE - 16) / 16`: entries per chunk (255). */
export const KHOSER_BITMAP_SIZE: number = (KHOSER_CHUNK_SIZE - KHOSER_CHUNK_HDR) /
  KHOSER_ENTRY_SIZE;

/** The chunk's fields as indices of u32 words (how the hot paths view a page). */
export const KHOSER_HDR_NEXT_U32: number = KHOSER_HDR_NEXT_OFFSET / 4;
/** `hdr.order` as a u32 word index. */
export const KHOSER_HDR_ORDER_U32: number = KHOSER_HDR_ORDER_OFFSET / 4;
/** `hdr.num_elms` as a u32 word index. */
export const KHOSER_HDR_NUM_ELMS_U32: number = KHOSER_HDR_NUM_ELMS_OFFSET / 4;
/** u32 word index of entry 0. */
export const KHOSER_ENTRIES_U32: number = KHOSER_CHUNK_HDR / 4;
/** u32 words per entry. */
export const KHOSER_ENTRY_U32: number = KHOSER_ENTRY_SIZE / 4;
/** `phys_start` as a u32 word offset inside an entry. */
export const KHOSER_ENTRY_PHYS_START_U32: number = KHOSER_ENTRY_PHYS_START_OFFSET / 4;
/** `bitmap` as a u32 word offset inside an entry. */
export const KHOSER_ENTRY_BITMAP_U32: number = KHOSER_ENTRY_BITMAP_OFFSET / 4;

/** Byte offset of entry `i` (0..254) inside a chunk. */
export function khoserEntryOffset(i: number): number {
  return KHOSER_CHUNK_HDR + i * KHOSER_ENTRY_SIZE;
}

/** One `struct khoser_mem_bitmap_ptr`. */
export interface KhoserMemBitmapPtr {
  /** Physical address of the bitmap's bit 0. */
  physStart: number;
  /** Physical address of the bitmap (`KHOSER_PTR`). */
  bitmap: number;
}

/** A decoded `struct khoser_mem_chunk`. */
export interface KhoserMemChunk {
  /** `hdr.next`: physical address of the next chunk, 0 at the end. */
  next: number;
  /** `hdr.order`. */
  order: number;
  /** The `hdr.num_elms` used entries. */
  entries: KhoserMemBitmapPtr[];
}

/**
 * The 4096 bytes of a `struct khoser_mem_chunk`; throws RangeError beyond 255 entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKhoserMemChunk, encodeKhoserMemChunk } from "./kexec_handover.ts";
 * const chunk = { next: 0, order: 9, entries: [{ physStart: 2 ** 33, bitmap: 0x7000 }] };
 * const bytes = encodeKhoserMemChunk(chunk);
 * assert.equal(bytes.length, 4096);
 * assert.deepEqual(decodeKhoserMemChunk(bytes), chunk);
 * ```
 */
export function encodeKhoserMemChunk(chunk: KhoserMemChunk): Uint8Array {
  if (chunk.entries.length > KHOSER_BITMAP_SIZE) {
    throw new RangeError(`khoser_mem_chunk holds ${KHOSER_BITMAP_SIZE} entries, not more`);
  }
  const out = new Uint8Array(KHOSER_CHUNK_SIZE);
  const dv = new DataView(out.buffer);
  out.set(le64(chunk.next), KHOSER_HDR_NEXT_OFFSET);
  dv.setUint32(KHOSER_HDR_ORDER_OFFSET, chunk.order, true);
  dv.setUint32(KHOSER_HDR_NUM_ELMS_OFFSET, chunk.entries.length, true);
  chunk.entries.forEach((e, i) => {
    const at = khoserEntryOffset(i);
    out.set(le64(e.physStart), at + KHOSER_ENTRY_PHYS_START_OFFSET);
    out.set(le64(e.bitmap), at + KHOSER_ENTRY_BITMAP_OFFSET);
  });
  return out;
}

/**
 * Decodes a chunk page (`bytes` of at least 4096). `num_elms` is taken as written up to 255
 * entries (the successor's walk rejects more; here RangeError).
 */
export function decodeKhoserMemChunk(bytes: Uint8Array): KhoserMemChunk {
  if (bytes.length < KHOSER_CHUNK_SIZE) {
    throw new RangeError(`khoser_mem_chunk is ${KHOSER_CHUNK_SIZE} bytes`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, KHOSER_CHUNK_SIZE);
  const num = dv.getUint32(KHOSER_HDR_NUM_ELMS_OFFSET, true);
  if (num > KHOSER_BITMAP_SIZE) throw new RangeError(`khoser_mem_chunk num_elms ${num}`);
  const entries: KhoserMemBitmapPtr[] = [];
  for (let i = 0; i < num; i++) {
    const at = khoserEntryOffset(i);
    entries.push({
      physStart: readLe64(bytes, at + KHOSER_ENTRY_PHYS_START_OFFSET),
      bitmap: readLe64(bytes, at + KHOSER_ENTRY_BITMAP_OFFSET),
    });
  }
  return {
    next: readLe64(bytes, KHOSER_HDR_NEXT_OFFSET),
    order: dv.getUint32(KHOSER_HDR_ORDER_OFFSET, true),
    entries,
  };
}
