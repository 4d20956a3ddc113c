/**
 * Binary layouts of the memfd-style guest-memory client (`lib/clients/memfd.ts`).
 *
 * From the kernel (`mm/memfd_luo.c`, `include/linux/kho/abi/memfd.h`, 6.19 ABI; kho-facts §10):
 * ```
 * struct memfd_luo_folio_ser {   // 16 bytes, __packed
 *   u64 pfn:52;                  // bits 0..51 of word 0 (little-endian bitfield)
 *   u64 flags:12;                // bits 52..63: MEMFD_LUO_FOLIO_DIRTY 1, _UPTODATE 2
 *   u64 index;                   // page-cache index of the folio (in pages)
 * };
 * struct memfd_luo_ser {         // 40 bytes, __packed, from kho_alloc_preserve
 *   u64 pos;                     //  0: file position
 *   u64 size;                    //  8: i_size
 *   u64 nr_folios;               // 16
 *   struct kho_vmalloc folios;   // 24: the memfd_luo_folio_ser array
 * };
 * ```
 *
 * kholab's own session table (LUO's session/file tables are not modelled): KHO sub-tree
 * `"kholab-memfd"`, one `kho_alloc_preserve` block, rewritten whenever a file is preserved
 * or unpreserved:
 * ```
 * struct kholab_memfd_table {    // 16-byte header
 *   u64 magic;                   // "KHLMEMFD" (0x44464d454d4c484b little-endian)
 *   u32 version;                 // 1
 *   u32 count;
 *   struct {                     // count × 80 bytes
 *     char name[64];             // NUL-padded, at most 63 bytes of UTF-8
 *     u64 ser;                   // phys of the file's memfd_luo_ser
 *     char compat[8];            // "memfd-v1" (no NUL)
 *   } files[];
 * };
 * ```
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { KhoVmalloc } from "./kexec_handover.ts";

/** `MEMFD_LUO_FOLIO_DIRTY`. */
export const MEMFD_LUO_FOLIO_DIRTY = 1;
/** `MEMFD_LUO_FOLIO_UPTODATE`. */
export const MEMFD_LUO_FOLIO_UPTODATE = 2;
/** Size of `struct memfd_luo_folio_ser`. */
export const MEMFD_LUO_FOLIO_SER_SIZE = 16;
/** Size of `struct memfd_luo_ser`. */
export const MEMFD_LUO_SER_SIZE = 40;
/** `MEMFD_LUO_FH_COMPATIBLE` (6.19). */
export const MEMFD_LUO_FH_COMPATIBLE = "memfd-v1";

/** Sub-tree name of kholab's memfd session table. */
export const MEMFD_TABLE_NAME = "kholab-memfd";
/** Table magic, "KHLMEMFD" read as a little-endian u64. */
export const MEMFD_TABLE_MAGIC = 0x44464d454d4c484bn;
/** Table version. */
export const MEMFD_TABLE_VERSION = 1;
/** Table header size. */
export const MEMFD_TABLE_HEADER_SIZE = 16;
/** Table entry size. */
export const MEMFD_TABLE_ENTRY_SIZE = 80;
/** Longest file name (bytes, without the NUL). */
export const MEMFD_NAME_MAX = 63;

/** One `struct memfd_luo_folio_ser`. */
export interface MemfdFolioSer {
  /** Page frame of the folio head (52 bits). */
  pfn: number;
  /** MEMFD_LUO_FOLIO_* flags (12 bits). */
  flags: number;
  /** Page-cache index. */
  index: number;
}

/** Encodes a folio record (16 bytes). */
export function encodeFolioSer(r: MemfdFolioSer): Uint8Array {
  if (!(r.pfn >= 0 && r.pfn < 2 ** 52) || !(r.flags >= 0 && r.flags < 4096)) {
    throw new RangeError(`memfd_luo_folio_ser pfn ${r.pfn} flags ${r.flags}`);
  }
  const out = new Uint8Array(MEMFD_LUO_FOLIO_SER_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, r.pfn % 2 ** 32, true);
  dv.setUint32(4, (Math.floor(r.pfn / 2 ** 32) | (r.flags << 20)) >>> 0, true);
  dv.setUint32(8, r.index % 2 ** 32, true);
  dv.setUint32(12, Math.floor(r.index / 2 ** 32), true);
  return out;
}

/** Reads a folio record from 16 bytes. */
export function decodeFolioSer(b: Uint8Array, off = 0): MemfdFolioSer {
  const dv = new DataView(b.buffer, b.byteOffset + off, MEMFD_LUO_FOLIO_SER_SIZE);
  const hi = dv.getUint32(4, true);
  return {
    pfn: (hi & 0xfffff) * 2 ** 32 + dv.getUint32(0, true),
    flags: hi >>> 20,
    index: dv.getUint32(12, true) * 2 ** 32 + dv.getUint32(8, true),
  };
}

/** `struct memfd_luo_ser`. */
export interface MemfdLuoSer {
  /** File position. */
  pos: number;
  /** File size in bytes. */
  size: number;
  /** Number of folios. */
  nrFolios: number;
  /** The folio array's vmalloc preservation. */
  folios: KhoVmalloc;
}

/** Writes a `memfd_luo_ser` at `phys`. */
export function writeMemfdLuoSer(mem: PhysicalMemory, phys: number, s: MemfdLuoSer): void {
  mem.writeU64(phys, s.pos);
  mem.writeU64(phys + 8, s.size);
  mem.writeU64(phys + 16, s.nrFolios);
  s.folios.writeTo(mem, phys + 24);
}

/** Reads a `memfd_luo_ser` at `phys`. */
export function readMemfdLuoSer(mem: PhysicalMemory, phys: number): MemfdLuoSer {
  return {
    pos: mem.readU64(phys),
    size: mem.readU64(phys + 8),
    nrFolios: mem.readU64(phys + 16),
    folios: KhoVmalloc.readFrom(mem, phys + 24),
  };
}

/** One session-table entry. */
export interface MemfdTableEntry {
  /** File name. */
  name: string;
  /** Physical address of its `memfd_luo_ser`. */
  ser: number;
}

const COMPAT = new TextEncoder().encode(MEMFD_LUO_FH_COMPATIBLE);

/** Bytes of a table with `n` entries. */
export function memfdTableBytes(n: number): number {
  return MEMFD_TABLE_HEADER_SIZE + MEMFD_TABLE_ENTRY_SIZE * n;
}

/** Encodes the session table. Throws RangeError for a name longer than 63 bytes. */
export function encodeMemfdTable(entries: readonly MemfdTableEntry[]): Uint8Array {
  const out = new Uint8Array(memfdTableBytes(entries.length));
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, MEMFD_TABLE_MAGIC, true);
  dv.setUint32(8, MEMFD_TABLE_VERSION, true);
  dv.setUint32(12, entries.length, true);
  entries.forEach((e, i) => {
    const at = MEMFD_TABLE_HEADER_SIZE + i * MEMFD_TABLE_ENTRY_SIZE;
    const name = new TextEncoder().encode(e.name);
    if (name.length > MEMFD_NAME_MAX || name.length === 0) {
      throw new RangeError(`memfd name "${e.name}": 1..${MEMFD_NAME_MAX} bytes`);
    }
    out.set(name, at);
    dv.setUint32(at + 64, e.ser % 2 ** 32, true);
    dv.setUint32(at + 68, Math.floor(e.ser / 2 ** 32), true);
    out.set(COMPAT, at + 72);
  });
  return out;
}

/**
 * Decodes a session table from memory at `phys` (`size` bytes available); null when the
 * magic, version, count or an entry's compatible is wrong.
 */
export function readMemfdTable(
  mem: PhysicalMemory,
  phys: number,
  size: number,
): MemfdTableEntry[] | null {
  if (size < MEMFD_TABLE_HEADER_SIZE) return null;
  const head = mem.readBytes(phys, MEMFD_TABLE_HEADER_SIZE);
  const dv = new DataView(head.buffer, head.byteOffset);
  if (dv.getBigUint64(0, true) !== MEMFD_TABLE_MAGIC) return null;
  if (dv.getUint32(8, true) !== MEMFD_TABLE_VERSION) return null;
  const count = dv.getUint32(12, true);
  if (memfdTableBytes(count) > size) return null;
  const body = mem.readBytes(phys, memfdTableBytes(count));
  const bv = new DataView(body.buffer, body.byteOffset);
  const out: MemfdTableEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = MEMFD_TABLE_HEADER_SIZE + i * MEMFD_TABLE_ENTRY_SIZE;
    const raw = body.subarray(at, at + 64);
    const end = raw.indexOf(0);
    if (end <= 0) return null;
    if (!COMPAT.every((c, j) => body[at + 72 + j] === c)) return null;
    out.push({
      name: new TextDecoder().decode(raw.subarray(0, end)),
      ser: bv.getUint32(at + 68, true) * 2 ** 32 + bv.getUint32(at + 64, true),
    });
  }
  return out;
}
