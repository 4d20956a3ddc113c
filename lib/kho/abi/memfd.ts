/**
 * The memfd LUO file handler's hand-over ABI (`include/linux/kho/abi/memfd.h`, used by
 * `mm/memfd_luo.c`; luo-hugetlb-facts §3.1, kho-facts §10). The handler is
 * `lib/clients/memfd_luo.ts`; both sides of a kexec use these layouts and nothing else.
 *
 * ```
 * #define MEMFD_LUO_FOLIO_DIRTY    BIT(0)
 * #define MEMFD_LUO_FOLIO_UPTODATE BIT(1)
 * struct memfd_luo_folio_ser {    // 16 bytes, __packed
 *   u64 pfn:52;                   // bits 0..51 of word 0 (GCC little-endian bitfield)
 *   u64 flags:12;                 // bits 52..63
 *   u64 index;                    // 8: page-cache index of the folio, in pages
 * };
 * // memfd-v1 (6.19):             // 40 bytes, __packed, from kho_alloc_preserve
 * struct memfd_luo_ser { u64 pos; u64 size; u64 nr_folios; struct kho_vmalloc folios; };
 * // memfd-v2 ("mm: memfd_luo: preserve file seals"):  48 bytes, __packed
 * struct memfd_luo_ser { u64 pos; u64 size; u32 seals; u32 flags; u64 nr_folios;
 *                        struct kho_vmalloc folios; };
 * ```
 *
 * The `memfd_luo_folio_ser` array lives in vmalloc memory preserved with
 * `kho_preserve_vmalloc`; the `memfd_luo_ser`'s physical address is the file's
 * `serialized_data` in its `luo_file_ser`. The seal bits (`F_SEAL_*`, the uAPI's
 * `include/uapi/linux/fcntl.h` values) are stored as is in memfd-v2.
 *
 * In flight, not in any profile (luo-hugetlb-facts §3.1, §5.4): the per-component compatible
 * `"memfd-v2;vmalloc-v1"` (`KHO_SUB_COMPAT`) and a 176-byte `memfd_luo_ser` led by a
 * 128-byte feature header, with the handler named `"memfd"` instead of a versioned string.
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { getLe64, setLe64 } from "../fdt/format.ts";
import { KHO_VMALLOC_LAYOUT, KhoVmalloc } from "./kexec_handover.ts";

/** `MEMFD_LUO_FOLIO_DIRTY`. */
export const MEMFD_LUO_FOLIO_DIRTY = 1;
/** `MEMFD_LUO_FOLIO_UPTODATE`. */
export const MEMFD_LUO_FOLIO_UPTODATE = 2;
/** Size of `struct memfd_luo_folio_ser`. */
export const MEMFD_LUO_FOLIO_SER_SIZE = 16;
/** Byte offsets of `struct memfd_luo_folio_ser` (`__packed`). */
export const MEMFD_LUO_FOLIO_SER_LAYOUT = {
  /** The u64 holding `pfn:52` (bits 0..51) and `flags:12` (bits 52..63). */
  pfnFlags: 0,
  /** `u64 index`. */
  index: 8,
} as const;
/** Width of the `pfn` bitfield; `flags` takes the 12 bits above it. */
export const MEMFD_LUO_FOLIO_PFN_BITS = 52;

/** `F_SEAL_SEAL`: no more seals may be added. */
export const F_SEAL_SEAL = 0x0001;
/** `F_SEAL_SHRINK`: the file may not shrink. */
export const F_SEAL_SHRINK = 0x0002;
/** `F_SEAL_GROW`: the file may not grow. */
export const F_SEAL_GROW = 0x0004;
/** `F_SEAL_WRITE`: the content may not change. */
export const F_SEAL_WRITE = 0x0008;
/** `F_SEAL_FUTURE_WRITE`: no new writable mappings or writes. */
export const F_SEAL_FUTURE_WRITE = 0x0010;
/** `F_SEAL_EXEC`: the mode's exec bits may not change. */
export const F_SEAL_EXEC = 0x0020;
/** `MEMFD_LUO_ALL_SEALS`: the seals memfd-v2 knows (0x3f); any other bit is EOPNOTSUPP. */
export const MEMFD_LUO_ALL_SEALS: number = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
  F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/** `MEMFD_LUO_FH_COMPATIBLE` of memfd-v1 (6.19). */
export const MEMFD_LUO_FH_COMPATIBLE_V1: MemfdLuoCompat = "memfd-v1";
/** `MEMFD_LUO_FH_COMPATIBLE` of memfd-v2 ("mm: memfd_luo: preserve file seals"). */
export const MEMFD_LUO_FH_COMPATIBLE_V2: MemfdLuoCompat = "memfd-v2";
/** The handler's compatible strings (`MEMFD_LUO_FH_COMPATIBLE`) by ABI version. */
export type MemfdLuoCompat = "memfd-v1" | "memfd-v2";

/** A `memfd_luo_ser` layout: byte offsets (`__packed`) and size; `seals`/`flags` v2 only. */
export interface MemfdLuoSerLayout {
  /** Size of the struct. */
  readonly size: number;
  /** `u64 pos`. */
  readonly pos: number;
  /** `u64 size`. */
  readonly fileSize: number;
  /** `u32 seals` (memfd-v2), or null. */
  readonly seals: number | null;
  /** `u32 flags` (memfd-v2, must be 0), or null. */
  readonly flags: number | null;
  /** `u64 nr_folios`. */
  readonly nrFolios: number;
  /** `struct kho_vmalloc folios`. */
  readonly folios: number;
}

/** memfd-v1's 40-byte `memfd_luo_ser`. */
export const MEMFD_LUO_SER_V1_LAYOUT: MemfdLuoSerLayout = Object.freeze({
  size: 24 + KHO_VMALLOC_LAYOUT.size,
  pos: 0,
  fileSize: 8,
  seals: null,
  flags: null,
  nrFolios: 16,
  folios: 24,
});

/** memfd-v2's 48-byte `memfd_luo_ser` (seals at 16, flags at 20). */
export const MEMFD_LUO_SER_V2_LAYOUT: MemfdLuoSerLayout = Object.freeze({
  size: 32 + KHO_VMALLOC_LAYOUT.size,
  pos: 0,
  fileSize: 8,
  seals: 16,
  flags: 20,
  nrFolios: 24,
  folios: 32,
});

/** The `memfd_luo_ser` layout of an ABI version. */
export function memfdLuoSerLayout(compat: MemfdLuoCompat): MemfdLuoSerLayout {
  return compat === "memfd-v1" ? MEMFD_LUO_SER_V1_LAYOUT : MEMFD_LUO_SER_V2_LAYOUT;
}

const PFN_HI_BITS = MEMFD_LUO_FOLIO_PFN_BITS - 32;

/** One `struct memfd_luo_folio_ser`. */
export interface MemfdFolioSer {
  /** Page frame of the folio head (52 bits). */
  pfn: number;
  /** MEMFD_LUO_FOLIO_* flags (12 bits). */
  flags: number;
  /** Page-cache index, in pages. */
  index: number;
}

/**
 * Writes a folio record at byte `at` of `dv` (16 bytes; one DataView serves a whole array).
 * RangeError for a pfn beyond 52 bits, flags beyond 12 or an index that is not a u64.
 */
export function putFolioSer(dv: DataView, at: number, r: MemfdFolioSer): void {
  if (
    !(Number.isSafeInteger(r.pfn) && r.pfn >= 0 && r.pfn < 2 ** MEMFD_LUO_FOLIO_PFN_BITS) ||
    !(Number.isInteger(r.flags) && r.flags >= 0 && r.flags < 2 ** (32 - PFN_HI_BITS)) ||
    !(Number.isSafeInteger(r.index) && r.index >= 0)
  ) {
    throw new RangeError(`memfd_luo_folio_ser pfn ${r.pfn} flags ${r.flags} index ${r.index}`);
  }
  const L = MEMFD_LUO_FOLIO_SER_LAYOUT;
  dv.setUint32(at + L.pfnFlags, r.pfn % 2 ** 32, true);
  dv.setUint32(
    at + L.pfnFlags + 4,
    (Math.floor(r.pfn / 2 ** 32) | (r.flags << PFN_HI_BITS)) >>> 0,
    true,
  );
  setLe64(dv, at + L.index, r.index);
}

/** Reads the folio record at byte `at` of `dv`. */
export function getFolioSer(dv: DataView, at: number): MemfdFolioSer {
  const L = MEMFD_LUO_FOLIO_SER_LAYOUT;
  const hi = dv.getUint32(at + L.pfnFlags + 4, true);
  return {
    pfn: (hi & (2 ** PFN_HI_BITS - 1)) * 2 ** 32 + dv.getUint32(at + L.pfnFlags, true),
    flags: hi >>> PFN_HI_BITS,
    index: getLe64(dv, at + L.index),
  };
}

/**
 * Encodes a folio record (16 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeFolioSer, encodeFolioSer } from "./memfd.ts";
 * const r = { pfn: 0x123456789, flags: 3, index: 512 };
 * assert.deepEqual(decodeFolioSer(encodeFolioSer(r)), r);
 * assert.equal(encodeFolioSer(r)[6], 0x30); // flags 3 in bits 52..53
 * ```
 */
export function encodeFolioSer(r: MemfdFolioSer): Uint8Array {
  const out = new Uint8Array(MEMFD_LUO_FOLIO_SER_SIZE);
  putFolioSer(new DataView(out.buffer), 0, r);
  return out;
}

/** Reads a folio record from `b` at `off` (16 bytes). */
export function decodeFolioSer(b: Uint8Array, off = 0): MemfdFolioSer {
  return getFolioSer(new DataView(b.buffer, b.byteOffset, b.length), off);
}

/** The values of a `struct memfd_luo_ser`. */
export interface MemfdLuoSer {
  /** File position (`f_pos`). */
  pos: number;
  /** File size in bytes (`i_size`). */
  size: number;
  /** memfd-v2: the seals (`F_SEAL_*`); 0 and not stored in memfd-v1. */
  seals: number;
  /** memfd-v2: flags, "unused flag bits must be set to 0". */
  flags: number;
  /** Folios in the array. */
  nrFolios: number;
  /** The folio array's vmalloc preservation. */
  folios: KhoVmalloc;
}

/**
 * The bytes of a `memfd_luo_ser` in the layout of `compat` (memfd-v1 has no seals: they must
 * be 0 there). RangeError for values that do not fit their fields.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMemfdLuoSer, encodeMemfdLuoSer } from "./memfd.ts";
 * import { KhoVmalloc } from "./kexec_handover.ts";
 * const folios = new KhoVmalloc({ first: 0x5000, totalPages: 1, flags: 1, order: 0 });
 * const s = { pos: 4, size: 8192, seals: 0x9, flags: 0, nrFolios: 2, folios };
 * const v2 = encodeMemfdLuoSer("memfd-v2", s);
 * assert.equal(v2.length, 48);
 * assert.equal(v2[16], 0x9); // u32 seals at 16
 * assert.deepEqual(decodeMemfdLuoSer("memfd-v2", v2), s);
 * assert.equal(encodeMemfdLuoSer("memfd-v1", { ...s, seals: 0 }).length, 40);
 * ```
 */
export function encodeMemfdLuoSer(compat: MemfdLuoCompat, s: MemfdLuoSer): Uint8Array {
  const L = memfdLuoSerLayout(compat);
  const u64 = (v: number) => Number.isSafeInteger(v) && v >= 0;
  const u32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (!u64(s.pos) || !u64(s.size) || !u64(s.nrFolios)) {
    throw new RangeError(`memfd_luo_ser pos ${s.pos} size ${s.size} nr_folios ${s.nrFolios}`);
  }
  if (L.seals === null ? s.seals !== 0 || s.flags !== 0 : !u32(s.seals) || !u32(s.flags)) {
    throw new RangeError(`memfd_luo_ser (${compat}) seals ${s.seals} flags ${s.flags}`);
  }
  const out = new Uint8Array(L.size);
  const dv = new DataView(out.buffer);
  setLe64(dv, L.pos, s.pos);
  setLe64(dv, L.fileSize, s.size);
  if (L.seals !== null) dv.setUint32(L.seals, s.seals, true);
  if (L.flags !== null) dv.setUint32(L.flags, s.flags, true);
  setLe64(dv, L.nrFolios, s.nrFolios);
  out.set(s.folios.encode(), L.folios);
  return out;
}

/** Reads a `memfd_luo_ser` of `compat` from `bytes` (at least the layout's size). */
export function decodeMemfdLuoSer(compat: MemfdLuoCompat, bytes: Uint8Array): MemfdLuoSer {
  const L = memfdLuoSerLayout(compat);
  if (bytes.length < L.size) {
    throw new RangeError(`memfd_luo_ser (${compat}) needs ${L.size} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, L.size);
  return {
    pos: getLe64(dv, L.pos),
    size: getLe64(dv, L.fileSize),
    seals: L.seals === null ? 0 : dv.getUint32(L.seals, true),
    flags: L.flags === null ? 0 : dv.getUint32(L.flags, true),
    nrFolios: getLe64(dv, L.nrFolios),
    folios: KhoVmalloc.decode(bytes, L.folios),
  };
}

/** Writes a `memfd_luo_ser` of `compat` at `phys`. */
export function writeMemfdLuoSer(
  mem: PhysicalMemory,
  phys: number,
  compat: MemfdLuoCompat,
  s: MemfdLuoSer,
): void {
  mem.writeBytes(phys, encodeMemfdLuoSer(compat, s));
}

/** Reads a `memfd_luo_ser` of `compat` at `phys`. */
export function readMemfdLuoSer(
  mem: PhysicalMemory,
  phys: number,
  compat: MemfdLuoCompat,
): MemfdLuoSer {
  return decodeMemfdLuoSer(compat, mem.readBytes(phys, memfdLuoSerLayout(compat).size));
}
