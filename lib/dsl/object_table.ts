/**
 * The named-object table: how the interpreter finds its objects again after kexec without
 * carrying any JavaScript object across. Before kexec the table is written into preserved
 * memory and registered as the KHO sub-tree {@link OBJECT_TABLE_SUBTREE}; the successor
 * retrieves the sub-tree by name, reads the table from physical memory, and releases the
 * table's own pages (`kho_restore_free`). The object memory itself stays preserved until
 * `restore`.
 *
 * This is a minimal stand-in for the named-object registry client (`lib/clients/objects.ts`)
 * and will be replaced by it. Layout (little endian, all blobs are folios from
 * `kho_alloc_preserve`, at most 4 MiB each):
 *
 * ```
 * header (16 bytes)              entry (128 bytes), `count` of them after the header
 *   u32 magic  "KDSO"              char name[48]     NUL-padded
 *   u32 version = 1                char kind[16]     "folios", "pages", "vmalloc", …
 *   u32 count                      u32  unit         0 folio (kho_preserve_folio), 1 pages
 *   u32 entry_size = 128           u32  flags        1 split, 2 huge vmap, 4 sub-tree
 *                                  u64  nr_blocks
 *                                  u64  block_pages  pages per block, 0 = per-block sizes
 *                                  u64  list_phys    first block-list chunk, 0 if none
 *                                  u64  hash         content hash at creation
 *                                  u64  bytes
 *                                  u32  order        page order of the blocks (vmalloc)
 *                                  (zero padding to 128)
 * block-list chunk
 *   u64 next (phys, 0 at the end)  u64 count   then `count` items: u64 phys, or with
 *                                              block_pages = 0 pairs (u64 phys, u64 pages)
 * ```
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import { KhoError } from "../errors.ts";
import { MAX_PAGE_ORDER, PAGE_SIZE } from "../units.ts";

/** Name of the sub-tree holding the table. */
export const OBJECT_TABLE_SUBTREE = "kholab-dsl-objects";
/** "KDSO" little endian. */
export const OBJECT_TABLE_MAGIC = 0x4f53444b;
/** Table format version. */
export const OBJECT_TABLE_VERSION = 1;
/** Bytes per entry. */
export const OBJECT_ENTRY_SIZE = 128;
/** Longest object name (bytes, without the NUL). */
export const OBJECT_NAME_MAX = 47;
const HEADER_SIZE = 16;
const CHUNK_HEADER = 16;
const MAX_BLOB = 2 ** MAX_PAGE_ORDER * PAGE_SIZE;

/** Entry flag: the pages were split into order-0 pages. */
export const OBJ_FLAG_SPLIT = 1;
/** Entry flag: vmalloc area with VM_ALLOW_HUGE_VMAP. */
export const OBJ_FLAG_HUGE = 2;
/** Entry flag: the object is a KHO sub-tree blob (named in the root FDT). */
export const OBJ_FLAG_SUBTREE = 4;

/** One table entry, as written and read. */
export interface ObjectRecord {
  /** Object name. */
  name: string;
  /** Object kind. */
  kind: string;
  /** How the blocks were preserved. */
  unit: "folio" | "pages";
  /** OBJ_FLAG_* bits. */
  flags: number;
  /** Physical address of each block. */
  phys: number[];
  /** Pages of each block. */
  pages: number[];
  /** Content hash. */
  hash: bigint;
  /** Bytes of the object. */
  bytes: number;
  /** Page order of the blocks (vmalloc's area order), else 0. */
  order: number;
}

/** A written table: its blob and every blob it allocated (for rollback). */
export interface WrittenTable {
  /** Physical address of the header blob. */
  phys: number;
  /** Size of the header blob. */
  size: number;
  /** Every preserved blob (header and chunks). */
  blobs: number[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function putString(b: Uint8Array, off: number, s: string, max: number): void {
  const bytes = enc.encode(s);
  if (bytes.length >= max) throw new KhoError("EINVAL", `name "${s}" longer than ${max - 1} bytes`);
  b.set(bytes, off);
}

function getString(b: Uint8Array, off: number, max: number): string {
  let end = off;
  while (end < off + max && b[end] !== 0) end++;
  return dec.decode(b.subarray(off, end));
}

/**
 * Writes the table into preserved blobs and adds the sub-tree. All or nothing: on failure
 * every blob is unpreserved and freed again and the error is rethrown.
 */
export function writeObjectTable(kernel: Kernel, records: readonly ObjectRecord[]): WrittenTable {
  const kho = kernel.kho;
  const mem = kernel.machine.mem;
  const blobs: number[] = [];
  const alloc = (size: number) => {
    const phys = kho.allocPreserve(size);
    blobs.push(phys);
    return phys;
  };
  try {
    const size = HEADER_SIZE + OBJECT_ENTRY_SIZE * records.length;
    if (size > MAX_BLOB) throw new KhoError("E2BIG", `${records.length} objects`);
    const head = new Uint8Array(size);
    const hv = new DataView(head.buffer);
    hv.setUint32(0, OBJECT_TABLE_MAGIC, true);
    hv.setUint32(4, OBJECT_TABLE_VERSION, true);
    hv.setUint32(8, records.length, true);
    hv.setUint32(12, OBJECT_ENTRY_SIZE, true);
    records.forEach((r, i) => {
      const off = HEADER_SIZE + i * OBJECT_ENTRY_SIZE;
      putString(head, off, r.name, 48);
      putString(head, off + 48, r.kind, 16);
      const uniform = r.pages.every((p) => p === r.pages[0]) ? (r.pages[0] ?? 0) : 0;
      hv.setUint32(off + 64, r.unit === "folio" ? 0 : 1, true);
      hv.setUint32(off + 68, r.flags, true);
      hv.setBigUint64(off + 72, BigInt(r.phys.length), true);
      hv.setBigUint64(off + 80, BigInt(uniform), true);
      hv.setBigUint64(off + 88, BigInt(writeList(r, uniform, alloc, mem)), true);
      hv.setBigUint64(off + 96, r.hash & 0xffffffffffffffffn, true);
      hv.setBigUint64(off + 104, BigInt(r.bytes), true);
      hv.setUint32(off + 112, r.order, true);
    });
    const phys = alloc(size);
    mem.writeBytes(phys, head);
    kho.addSubtree(OBJECT_TABLE_SUBTREE, phys, size);
    return { phys, size, blobs };
  } catch (e) {
    for (const b of blobs) kho.unpreserveFree(b);
    throw e;
  }
}

function writeList(
  r: ObjectRecord,
  uniform: number,
  alloc: (size: number) => number,
  mem: Kernel["machine"]["mem"],
): number {
  const n = r.phys.length;
  if (n === 0) return 0;
  const itemBytes = uniform ? 8 : 16;
  const perChunk = Math.floor((MAX_BLOB - CHUNK_HEADER) / itemBytes);
  const chunks: { phys: number; bytes: Uint8Array }[] = [];
  for (let first = 0; first < n; first += perChunk) {
    const count = Math.min(perChunk, n - first);
    const bytes = new Uint8Array(CHUNK_HEADER + count * itemBytes);
    const v = new DataView(bytes.buffer);
    v.setBigUint64(8, BigInt(count), true);
    for (let i = 0; i < count; i++) {
      const p = r.phys[first + i];
      v.setUint32(CHUNK_HEADER + i * itemBytes, p % 2 ** 32, true);
      v.setUint32(CHUNK_HEADER + i * itemBytes + 4, Math.floor(p / 2 ** 32), true);
      if (!uniform) {
        const pg = r.pages[first + i];
        v.setUint32(CHUNK_HEADER + i * 16 + 8, pg % 2 ** 32, true);
        v.setUint32(CHUNK_HEADER + i * 16 + 12, Math.floor(pg / 2 ** 32), true);
      }
    }
    chunks.push({ phys: alloc(bytes.length), bytes });
  }
  chunks.forEach((c, i) => {
    const next = chunks[i + 1]?.phys ?? 0;
    new DataView(c.bytes.buffer).setBigUint64(0, BigInt(next), true);
    mem.writeBytes(c.phys, c.bytes);
  });
  return chunks[0].phys;
}

/** Removes a table written by {@link writeObjectTable} (rollback of a failed kexec). */
export function discardObjectTable(kernel: Kernel, table: WrittenTable): void {
  kernel.kho.removeSubtree(table.phys);
  for (const b of table.blobs) kernel.kho.unpreserveFree(b);
}

const u64 = (v: DataView, off: number) =>
  v.getUint32(off, true) + v.getUint32(off + 4, true) * 2 ** 32;

/**
 * Reads the incoming table in a KHO boot: restores and frees its blobs (`kho_restore_free`)
 * and returns the records. Returns an empty list when the previous kernel wrote none (or
 * this is not a KHO boot); throws KhoError EINVAL on a malformed table.
 */
export function readObjectTable(kernel: Kernel): ObjectRecord[] {
  const kho = kernel.kho;
  if (!kho.isKhoBoot) return [];
  let where: { phys: number; size?: number };
  try {
    where = kho.retrieveSubtree(OBJECT_TABLE_SUBTREE);
  } catch (e) {
    if (e instanceof KhoError && e.code === "ENOENT") return [];
    throw e;
  }
  const mem = kernel.machine.mem;
  const topo = kernel.machine.topology;
  const check = (phys: number, len: number, what: string) => {
    if (!Number.isSafeInteger(phys) || phys % PAGE_SIZE !== 0 || !topo.isRam(phys, len)) {
      throw new KhoError("EINVAL", `object table: ${what} at ${phys} is not RAM`);
    }
  };
  check(where.phys, HEADER_SIZE, "header");
  const h = new DataView(mem.readBytes(where.phys, HEADER_SIZE).buffer);
  if (
    h.getUint32(0, true) !== OBJECT_TABLE_MAGIC || h.getUint32(4, true) !== OBJECT_TABLE_VERSION
  ) {
    throw new KhoError("EINVAL", "object table: bad magic or version");
  }
  const count = h.getUint32(8, true);
  const size = HEADER_SIZE + count * OBJECT_ENTRY_SIZE;
  if (h.getUint32(12, true) !== OBJECT_ENTRY_SIZE || size > MAX_BLOB) {
    throw new KhoError("EINVAL", "object table: bad entry size or count");
  }
  const head = mem.readBytes(where.phys, size);
  const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const blobs = [where.phys];
  const out: ObjectRecord[] = [];
  for (let i = 0; i < count; i++) {
    const off = HEADER_SIZE + i * OBJECT_ENTRY_SIZE;
    const nrBlocks = u64(hv, off + 72);
    const uniform = u64(hv, off + 80);
    const phys: number[] = [];
    const pages: number[] = [];
    let chunk = u64(hv, off + 88);
    let hops = 0;
    while (chunk !== 0 && phys.length < nrBlocks) {
      if (++hops > 1 + nrBlocks) throw new KhoError("EINVAL", "object table: list loops");
      check(chunk, CHUNK_HEADER, "block list");
      blobs.push(chunk);
      const ch = new DataView(mem.readBytes(chunk, CHUNK_HEADER).buffer);
      const next = u64(ch, 0);
      const n = u64(ch, 8);
      const itemBytes = uniform ? 8 : 16;
      if (CHUNK_HEADER + n * itemBytes > MAX_BLOB) {
        throw new KhoError("EINVAL", "object table: chunk too long");
      }
      const body = mem.readBytes(chunk + CHUNK_HEADER, n * itemBytes);
      const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
      for (let k = 0; k < n; k++) {
        phys.push(u64(bv, k * itemBytes));
        pages.push(uniform || u64(bv, k * itemBytes + 8));
      }
      chunk = next;
    }
    if (phys.length !== nrBlocks) throw new KhoError("EINVAL", "object table: short block list");
    out.push({
      name: getString(head, off, 48),
      kind: getString(head, off + 48, 16),
      unit: hv.getUint32(off + 64, true) === 0 ? "folio" : "pages",
      flags: hv.getUint32(off + 68, true),
      phys,
      pages,
      hash: hv.getBigUint64(off + 96, true),
      bytes: u64(hv, off + 104),
      order: hv.getUint32(off + 112, true),
    });
  }
  for (const b of blobs) kho.restoreFree(b);
  return out;
}
