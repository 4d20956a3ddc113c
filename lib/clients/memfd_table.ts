/**
 * kholab's own table of preserved memfd files (`lib/clients/memfd.ts`; it stands in for
 * LUO's session and file tables, which the memfd client does not model). Not a kernel ABI:
 * KHO sub-tree `"kholab-memfd"`, one `kho_alloc_preserve` block, rewritten whenever a file is
 * preserved or unpreserved:
 * ```
 * struct kholab_memfd_table {    // 16-byte header
 *   u64 magic;                   // "KHLMEMFD" (0x44464d454d4c484b little-endian)
 *   u32 version;                 // 1
 *   u32 count;
 *   struct {                     // count × 80 bytes
 *     char name[64];             // NUL-padded, at most 63 bytes of UTF-8
 *     u64 ser;                   // phys of the file's memfd_luo_ser
 *     char compat[8];            // MEMFD_LUO_FH_COMPATIBLE "memfd-v1" (no NUL)
 *   } files[];
 * };
 * ```
 *
 * @module
 */

import type { PhysicalMemory } from "../machine/physmem.ts";
import { MEMFD_LUO_FH_COMPATIBLE } from "../kho/abi/memfd.ts";

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
/** Byte offsets of the header and, relative to an entry's start, of an entry's fields. */
export const MEMFD_TABLE_LAYOUT = {
  /** `u64 magic`. */
  magic: 0,
  /** `u32 version`. */
  version: 8,
  /** `u32 count`. */
  count: 12,
  /** `char name[64]` of an entry. */
  name: 0,
  /** Bytes of `name`. */
  nameBytes: 64,
  /** `u64 ser` of an entry. */
  ser: 64,
  /** `char compat[8]` of an entry. */
  compat: 72,
} as const;

const L = MEMFD_TABLE_LAYOUT;

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
  dv.setBigUint64(L.magic, MEMFD_TABLE_MAGIC, true);
  dv.setUint32(L.version, MEMFD_TABLE_VERSION, true);
  dv.setUint32(L.count, entries.length, true);
  entries.forEach((e, i) => {
    const at = MEMFD_TABLE_HEADER_SIZE + i * MEMFD_TABLE_ENTRY_SIZE;
    const name = new TextEncoder().encode(e.name);
    if (name.length > MEMFD_NAME_MAX || name.length === 0) {
      throw new RangeError(`memfd name "${e.name}": 1..${MEMFD_NAME_MAX} bytes`);
    }
    out.set(name, at + L.name);
    dv.setUint32(at + L.ser, e.ser % 2 ** 32, true);
    dv.setUint32(at + L.ser + 4, Math.floor(e.ser / 2 ** 32), true);
    out.set(COMPAT, at + L.compat);
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
  if (dv.getBigUint64(L.magic, true) !== MEMFD_TABLE_MAGIC) return null;
  if (dv.getUint32(L.version, true) !== MEMFD_TABLE_VERSION) return null;
  const count = dv.getUint32(L.count, true);
  if (memfdTableBytes(count) > size) return null;
  const body = mem.readBytes(phys, memfdTableBytes(count));
  const bv = new DataView(body.buffer, body.byteOffset);
  const out: MemfdTableEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = MEMFD_TABLE_HEADER_SIZE + i * MEMFD_TABLE_ENTRY_SIZE;
    const raw = body.subarray(at + L.name, at + L.name + L.nameBytes);
    const end = raw.indexOf(0);
    if (end <= 0) return null;
    if (!COMPAT.every((c, j) => body[at + L.compat + j] === c)) return null;
    out.push({
      name: new TextDecoder().decode(raw.subarray(0, end)),
      ser: bv.getUint32(at + L.ser + 4, true) * 2 ** 32 + bv.getUint32(at + L.ser, true),
    });
  }
  return out;
}
