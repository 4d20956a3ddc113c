/**
 * kholab's named-object table (`lib/clients/objects.ts`): how a scenario finds the folios,
 * page ranges, vmalloc areas and memfd files it preserved, by name, after kexec. One KHO
 * sub-tree `"kholab-objects"` pointing at a `kho_alloc_preserve` block (little-endian):
 * ```
 * struct kholab_objects {        // 16-byte header
 *   u64 magic;                   // "KHLOBJS1" read as a little-endian u64
 *   u32 version;                 // 1
 *   u32 count;
 *   struct {                     // count × 96 bytes
 *     char name[48];             //  0: NUL-padded, 1..47 bytes of UTF-8
 *     u32 kind;                  // 48: 1 folio, 2 pages, 3 vmalloc, 4 memfd
 *     u32 order;                 // 52: folio order (0 otherwise)
 *     u64 phys;                  // 56: folio head / first page (0 otherwise)
 *     u64 count;                 // 64: pages: page count; vmalloc, memfd: size in bytes
 *     struct kho_vmalloc vm;     // 72: vmalloc: the area's descriptor (zero otherwise)
 *     u64 hash;                  // 88: content hash at preserve time
 *   } objects[];                 // a memfd object is found in the memfd table by its name
 * };
 * ```
 *
 * @module
 */

import { KhoVmalloc } from "./vmalloc.ts";

/** Sub-tree name of the table. */
export const OBJECTS_TABLE_NAME = "kholab-objects";
/** Table magic, "KHLOBJS1" read as a little-endian u64. */
export const OBJECTS_MAGIC = 0x31534a424f4c484bn;
/** Table version. */
export const OBJECTS_VERSION = 1;
/** Header size. */
export const OBJECTS_HEADER_SIZE = 16;
/** Entry size. */
export const OBJECTS_ENTRY_SIZE = 96;
/** Longest object name in bytes. */
export const OBJECT_NAME_MAX = 47;

/** Object kinds and their codes. */
export const OBJECT_KINDS = { folio: 1, pages: 2, vmalloc: 3, memfd: 4 } as const;
/** An object kind. */
export type ObjectKind = keyof typeof OBJECT_KINDS;

/** One table entry. */
export interface ObjectRecord {
  /** Unique name. */
  name: string;
  /** What it is. */
  kind: ObjectKind;
  /** Folio order (folio only). */
  order: number;
  /** Folio head / first page physical address (folio, pages). */
  phys: number;
  /** pages: page count; vmalloc, memfd: size in bytes. */
  count: number;
  /** The vmalloc descriptor (vmalloc only). */
  vm: KhoVmalloc;
  /** Content hash at preserve time. */
  hash: bigint;
}

/** Bytes of a table with `n` entries. */
export function objectsTableBytes(n: number): number {
  return OBJECTS_HEADER_SIZE + OBJECTS_ENTRY_SIZE * n;
}

function setU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v % 2 ** 32, true);
  dv.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
}

function getU64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * 2 ** 32 + dv.getUint32(at, true);
}

/** Encodes the table. Throws RangeError for a bad name. */
export function encodeObjectsTable(records: readonly ObjectRecord[]): Uint8Array {
  const out = new Uint8Array(objectsTableBytes(records.length));
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, OBJECTS_MAGIC, true);
  dv.setUint32(8, OBJECTS_VERSION, true);
  dv.setUint32(12, records.length, true);
  records.forEach((r, i) => {
    const at = OBJECTS_HEADER_SIZE + i * OBJECTS_ENTRY_SIZE;
    const name = new TextEncoder().encode(r.name);
    if (name.length === 0 || name.length > OBJECT_NAME_MAX) {
      throw new RangeError(`object name "${r.name}": 1..${OBJECT_NAME_MAX} bytes`);
    }
    out.set(name, at);
    dv.setUint32(at + 48, OBJECT_KINDS[r.kind], true);
    dv.setUint32(at + 52, r.order, true);
    setU64(dv, at + 56, r.phys);
    setU64(dv, at + 64, r.count);
    out.set(r.vm.encode(), at + 72);
    dv.setBigUint64(at + 88, r.hash, true);
  });
  return out;
}

/** Decodes a table; null when the magic, version, size or a kind is wrong. */
export function decodeObjectsTable(bytes: Uint8Array): ObjectRecord[] | null {
  if (bytes.length < OBJECTS_HEADER_SIZE) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getBigUint64(0, true) !== OBJECTS_MAGIC) return null;
  if (dv.getUint32(8, true) !== OBJECTS_VERSION) return null;
  const count = dv.getUint32(12, true);
  if (objectsTableBytes(count) > bytes.length) return null;
  const kinds = Object.entries(OBJECT_KINDS);
  const out: ObjectRecord[] = [];
  for (let i = 0; i < count; i++) {
    const at = OBJECTS_HEADER_SIZE + i * OBJECTS_ENTRY_SIZE;
    const raw = bytes.subarray(at, at + 48);
    const end = raw.indexOf(0);
    const kind = kinds.find(([, code]) => code === dv.getUint32(at + 48, true));
    if (end <= 0 || kind === undefined) return null;
    out.push({
      name: new TextDecoder().decode(raw.subarray(0, end)),
      kind: kind[0] as ObjectKind,
      order: dv.getUint32(at + 52, true),
      phys: getU64(dv, at + 56),
      count: getU64(dv, at + 64),
      vm: KhoVmalloc.decode(bytes, at + 72),
      hash: dv.getBigUint64(at + 88, true),
    });
  }
  return out;
}
