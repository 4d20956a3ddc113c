/**
 * The memfd LUO file handler's hand-over ABI (`include/linux/kho/abi/memfd.h`,
 * `mm/memfd_luo.c`, 6.19; kho-facts §10), used by the guest-memory client
 * `lib/clients/memfd.ts` on both sides of a kexec:
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
 * kholab's own table of preserved files (it stands in for LUO's session and file tables)
 * lives with its owner, in `lib/clients/memfd_table.ts`.
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
/** Byte offsets of `struct memfd_luo_folio_ser` (`__packed`). */
export const MEMFD_LUO_FOLIO_SER_LAYOUT = {
  /** The u64 holding `pfn:52` (bits 0..51) and `flags:12` (bits 52..63). */
  pfnFlags: 0,
  /** `u64 index`. */
  index: 8,
} as const;
/** Width of the `pfn` bitfield; `flags` takes the 12 bits above it. */
export const MEMFD_LUO_FOLIO_PFN_BITS = 52;
/** Size of `struct memfd_luo_ser`. */
export const MEMFD_LUO_SER_SIZE = 40;
/** Byte offsets of `struct memfd_luo_ser` (`__packed`). */
export const MEMFD_LUO_SER_LAYOUT = {
  /** `u64 pos`. */
  pos: 0,
  /** `u64 size`. */
  size: 8,
  /** `u64 nr_folios`. */
  nrFolios: 16,
  /** `struct kho_vmalloc folios`. */
  folios: 24,
} as const;
/** `MEMFD_LUO_FH_COMPATIBLE` (6.19). */
export const MEMFD_LUO_FH_COMPATIBLE = "memfd-v1";

const PFN_HI_BITS = MEMFD_LUO_FOLIO_PFN_BITS - 32;

/** One `struct memfd_luo_folio_ser`. */
export interface MemfdFolioSer {
  /** Page frame of the folio head (52 bits). */
  pfn: number;
  /** MEMFD_LUO_FOLIO_* flags (12 bits). */
  flags: number;
  /** Page-cache index. */
  index: number;
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
 * ```
 */
export function encodeFolioSer(r: MemfdFolioSer): Uint8Array {
  if (
    !(r.pfn >= 0 && r.pfn < 2 ** MEMFD_LUO_FOLIO_PFN_BITS) ||
    !(r.flags >= 0 && r.flags < 2 ** (64 - MEMFD_LUO_FOLIO_PFN_BITS))
  ) {
    throw new RangeError(`memfd_luo_folio_ser pfn ${r.pfn} flags ${r.flags}`);
  }
  const L = MEMFD_LUO_FOLIO_SER_LAYOUT;
  const out = new Uint8Array(MEMFD_LUO_FOLIO_SER_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(L.pfnFlags, r.pfn % 2 ** 32, true);
  dv.setUint32(
    L.pfnFlags + 4,
    (Math.floor(r.pfn / 2 ** 32) | (r.flags << PFN_HI_BITS)) >>> 0,
    true,
  );
  dv.setUint32(L.index, r.index % 2 ** 32, true);
  dv.setUint32(L.index + 4, Math.floor(r.index / 2 ** 32), true);
  return out;
}

/** Reads a folio record from 16 bytes. */
export function decodeFolioSer(b: Uint8Array, off = 0): MemfdFolioSer {
  const L = MEMFD_LUO_FOLIO_SER_LAYOUT;
  const dv = new DataView(b.buffer, b.byteOffset + off, MEMFD_LUO_FOLIO_SER_SIZE);
  const hi = dv.getUint32(L.pfnFlags + 4, true);
  return {
    pfn: (hi & (2 ** PFN_HI_BITS - 1)) * 2 ** 32 + dv.getUint32(L.pfnFlags, true),
    flags: hi >>> PFN_HI_BITS,
    index: dv.getUint32(L.index + 4, true) * 2 ** 32 + dv.getUint32(L.index, true),
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
  const L = MEMFD_LUO_SER_LAYOUT;
  mem.writeU64(phys + L.pos, s.pos);
  mem.writeU64(phys + L.size, s.size);
  mem.writeU64(phys + L.nrFolios, s.nrFolios);
  s.folios.writeTo(mem, phys + L.folios);
}

/** Reads a `memfd_luo_ser` at `phys`. */
export function readMemfdLuoSer(mem: PhysicalMemory, phys: number): MemfdLuoSer {
  const L = MEMFD_LUO_SER_LAYOUT;
  return {
    pos: mem.readU64(phys + L.pos),
    size: mem.readU64(phys + L.size),
    nrFolios: mem.readU64(phys + L.nrFolios),
    folios: KhoVmalloc.readFrom(mem, phys + L.folios),
  };
}
