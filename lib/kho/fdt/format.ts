/**
 * The DTB (flattened device tree) binary layout, as libfdt 1.6.1 sees it: header field
 * offsets, structure-block tokens, magic numbers, versions, alignment helpers, and the
 * byte-order helpers (big-endian for the format itself, little-endian for KHO's native-endian
 * property values, see fdt-facts §5).
 *
 * This is the one home of these constants; the writer, editor, reader and checker import them.
 *
 * @module
 */

/** `FDT_MAGIC`: a finished blob. */
export const FDT_MAGIC = 0xd00dfeed;
/** `FDT_SW_MAGIC` (= ~FDT_MAGIC): a sequential-write blob still being built. */
export const FDT_SW_MAGIC = (~FDT_MAGIC) >>> 0;

/** `FDT_BEGIN_NODE` token: start of a node, followed by its NUL-terminated name. */
export const FDT_BEGIN_NODE = 0x1;
/** `FDT_END_NODE` token: end of a node. */
export const FDT_END_NODE = 0x2;
/** `FDT_PROP` token: a property (`u32 len; u32 nameoff;` then the value). */
export const FDT_PROP = 0x3;
/** `FDT_NOP` token: ignored by parsers. */
export const FDT_NOP = 0x4;
/** `FDT_END` token: end of the structure block. */
export const FDT_END = 0x9;

/** `FDT_TAGSIZE`: tokens are 32-bit. */
export const FDT_TAGSIZE = 4;
/** Size of a memory reservation entry (`{u64 address; u64 size}`). */
export const FDT_RSV_ENTRY_SIZE = 16;

/** The version libfdt writes (17). */
export const FDT_LAST_SUPPORTED_VERSION = 0x11;
/** The last_comp_version libfdt writes (16). */
export const FDT_LAST_COMPATIBLE_VERSION = 0x10;
/** Oldest version libfdt 1.6.1 reads. */
export const FDT_FIRST_SUPPORTED_VERSION = 0x02;

/** Header sizes by version (`FDT_V1_SIZE` … `FDT_V17_SIZE`). */
export const FDT_V1_SIZE = 7 * 4;
/** Header size of a version-2 blob. */
export const FDT_V2_SIZE: number = FDT_V1_SIZE + 4;
/** Header size of a version-3 blob. */
export const FDT_V3_SIZE: number = FDT_V2_SIZE + 4;
/** Header size of a version-16 blob. */
export const FDT_V16_SIZE: number = FDT_V3_SIZE;
/** Header size of a version-17 blob (`sizeof(struct fdt_header)` = 40). */
export const FDT_V17_SIZE: number = FDT_V16_SIZE + 4;

/** Byte offsets of the `struct fdt_header` fields (all big-endian u32). */
export const HDR = {
  magic: 0x00,
  totalsize: 0x04,
  offDtStruct: 0x08,
  offDtStrings: 0x0c,
  offMemRsvmap: 0x10,
  version: 0x14,
  lastCompVersion: 0x18,
  bootCpuidPhys: 0x1c,
  sizeDtStrings: 0x20,
  sizeDtStruct: 0x24,
} as const;

/** A header field name. */
export type HeaderField = keyof typeof HDR;

/** `FDT_ALIGN(x, a)`: rounds x up to a multiple of a (a power of two). */
export function fdtAlign(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** `FDT_TAGALIGN(x)`: rounds x up to a multiple of 4. */
export function tagAlign(x: number): number {
  return fdtAlign(x, FDT_TAGSIZE);
}

/**
 * `FDT_TAGALIGN(x)` on a C `int`: the property length libfdt reads through `int *lenp` is the
 * u32 field reinterpreted as signed, so 0xfffffff4 aligns to -12 and 0xffffffff to 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tagAlignInt } from "./format.ts";
 * assert.equal(tagAlignInt(0xfffffff4), -12);
 * assert.equal(tagAlignInt(0xffffffff), 0);
 * assert.equal(tagAlignInt(5), 8);
 * ```
 */
export function tagAlignInt(x: number): number {
  return ((x | 0) + 3) & ~3;
}

/** Where sequential-write puts the reservation map: `ALIGN(40, 16)` = 48. */
export const SW_RSVMAP_OFFSET: number = fdtAlign(FDT_V17_SIZE, FDT_RSV_ENTRY_SIZE);
/** Where fdt_pack / fdt_open_into put the reservation map: `ALIGN(40, 8)` = 40. */
export const RW_RSVMAP_OFFSET: number = fdtAlign(FDT_V17_SIZE, 8);

/** `fdt_header_size_(version)`: header size of a blob of that version. */
export function headerSizeForVersion(version: number): number {
  if (version <= 1) return FDT_V1_SIZE;
  if (version <= 2) return FDT_V2_SIZE;
  if (version <= 3) return FDT_V3_SIZE;
  if (version <= 16) return FDT_V16_SIZE;
  return FDT_V17_SIZE;
}

/** Reads a big-endian u32; bytes past the end of `buf` read as zero (never throws). */
export function readBe32(buf: Uint8Array, off: number): number {
  if (off >= 0 && off + 4 <= buf.length) {
    return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
  }
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const p = off + i;
    v = v * 256 + (p >= 0 && p < buf.length ? buf[p] : 0);
  }
  return v;
}

/** Writes a big-endian u32 (the low 32 bits of `value`). */
export function writeBe32(buf: Uint8Array, off: number, value: number): void {
  const v = value >>> 0;
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Reads a big-endian u64 as a number (exact below 2^53). */
export function readBe64(buf: Uint8Array, off: number): number {
  return readBe32(buf, off) * 2 ** 32 + readBe32(buf, off + 4);
}

/** Writes a big-endian u64 from a non-negative safe integer. */
export function writeBe64(buf: Uint8Array, off: number, value: number): void {
  writeBe32(buf, off, Math.floor(value / 2 ** 32));
  writeBe32(buf, off + 4, value % 2 ** 32);
}

/** Reads a header field of a blob (zero for fields past the end of a short buffer). */
export function getHeader(buf: Uint8Array, field: HeaderField): number {
  return readBe32(buf, HDR[field]);
}

/** Writes a header field of a blob. */
export function setHeader(buf: Uint8Array, field: HeaderField, value: number): void {
  writeBe32(buf, HDR[field], value);
}

/**
 * KHO's native-endian u64 property value: 8 bytes, little-endian (x86-64/arm64).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { le64 } from "./format.ts";
 * assert.deepEqual([...le64(0x116be4000)], [0x00, 0x40, 0xbe, 0x16, 0x01, 0, 0, 0]);
 * ```
 */
export function le64(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`le64(${value})`);
  const out = new Uint8Array(8);
  let lo = value % 2 ** 32;
  let hi = Math.floor(value / 2 ** 32);
  for (let i = 0; i < 4; i++, lo = Math.floor(lo / 256)) out[i] = lo & 0xff;
  for (let i = 4; i < 8; i++, hi = Math.floor(hi / 256)) out[i] = hi & 0xff;
  return out;
}

/** KHO's native-endian u32 property value: 4 bytes, little-endian. */
export function le32(value: number): Uint8Array {
  const v = value >>> 0;
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
}

/** Reads a little-endian u32 at `off` (default 0). */
export function readLe32(bytes: Uint8Array, off = 0): number {
  if (off < 0 || off + 4 > bytes.length) throw new RangeError(`readLe32 at ${off}`);
  return (bytes[off] | (bytes[off + 1] << 8) | (bytes[off + 2] << 16) | (bytes[off + 3] << 24)) >>>
    0;
}

/** Reads a little-endian u64 at `off` (default 0) as a number (exact below 2^53). */
export function readLe64(bytes: Uint8Array, off = 0): number {
  return readLe32(bytes, off + 4) * 2 ** 32 + readLe32(bytes, off);
}

/** Writes a little-endian u64 at `at` of `dv` from a non-negative safe integer. */
export function setLe64(dv: DataView, at: number, value: number): void {
  dv.setUint32(at, value % 2 ** 32, true);
  dv.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}

/** Reads a little-endian u64 at `at` of `dv` as a number (exact below 2^53). */
export function getLe64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * 2 ** 32 + dv.getUint32(at, true);
}

/** UTF-8 bytes of a name (libfdt names are byte strings; callers use ASCII). */
export function encodeName(name: string): Uint8Array {
  return new TextEncoder().encode(name);
}

/** A NUL-terminated string value, as `fdt_property_string` stores it. */
export function cstring(s: string): Uint8Array {
  const b = encodeName(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}
