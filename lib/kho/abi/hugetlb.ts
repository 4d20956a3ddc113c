/**
 * The HugeTLB live update hand-over ABI of the RFC "liveupdate: hugetlb support" (Pratyush
 * Yadav, 2025-12-07, `<20251206230222.853493-1-pratyush@kernel.org>`;
 * `include/linux/kho/abi/hugetlb.h` at `prati0100/linux` @ 23652ff7; luo-hugetlb-facts §4.3).
 * A proposal: no release has it. The FLB and the file handler are
 * `lib/clients/hugetlb_luo.ts`; both sides of a kexec use these layouts and nothing else.
 *
 * ```
 * #define HUGETLB_SER_MAX_HSTATES 4       // x86 HUGE_MAX_HSTATE = 2, arm64 4
 * struct hugetlb_hstate_ser { u64 nr_pages; u8 order; } __packed;        // 9 bytes
 * struct hugetlb_ser { struct hugetlb_hstate_ser hstates[4];               // @0..35
 *                      u8 nr_hstates; } __packed;                         // @36: 37 bytes
 * #define HUGETLB_FLB_COMPATIBLE "hugetlb-v1"
 * struct hugemfd_folio_ser { u64 pfn:52; u64 reserved:12; u64 index; } __packed; // 16 bytes
 * struct hugemfd_ser { u64 size;       // @0 (size before pos, unlike memfd_luo_ser)
 *                      u64 pos;        // @8
 *                      u64 nr_folios;  // @16
 *                      struct kho_vmalloc folios;   // @24..39
 *                      u8 order; } __packed;        // @40: the hstate order; 41 bytes
 * #define HUGE_MEMFD_COMPATIBLE "huge-memfd-v1"
 * ```
 *
 * `hugetlb_ser.hstates[i].nr_pages` counts the *preserved* pages of the hstate (one entry per
 * hstate in `for_each_hstate` order); the successor's boot-time pool allocates only the pages
 * not already preserved. A folio record's `index` is the folio's page-cache index in base
 * pages (the retrieve adds it at `index >> order`, in huge pages); `reserved` is written 0.
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { getLe64, setLe64 } from "../fdt/format.ts";
import { KHO_VMALLOC_LAYOUT, KhoVmalloc } from "./kexec_handover.ts";
import { getFolioSer, type MemfdLuoSer, putFolioSer } from "./memfd.ts";

/** `HUGETLB_SER_MAX_HSTATES`: entries of `hugetlb_ser.hstates` (arm64 has 4 hstates). */
export const HUGETLB_SER_MAX_HSTATES = 4;
/** `HUGETLB_FLB_COMPATIBLE`. */
export const HUGETLB_FLB_COMPATIBLE = "hugetlb-v1";
/** `HUGE_MEMFD_COMPATIBLE`: the huge-memfd file handler's compatible. */
export const HUGE_MEMFD_COMPATIBLE = "huge-memfd-v1";

/** Size of `struct hugetlb_hstate_ser` (`__packed`). */
export const HUGETLB_HSTATE_SER_SIZE = 9;
/** Byte offsets of `struct hugetlb_ser` (`__packed`) and its size, 37. */
export const HUGETLB_SER_LAYOUT = {
  /** `hstates[i]` at `i * 9`: `u64 nr_pages` at +0, `u8 order` at +8. */
  hstates: 0,
  /** `u8 nr_hstates`. */
  nrHstates: HUGETLB_SER_MAX_HSTATES * HUGETLB_HSTATE_SER_SIZE,
  /** Size of the struct. */
  size: HUGETLB_SER_MAX_HSTATES * HUGETLB_HSTATE_SER_SIZE + 1,
} as const;

/** Size of `struct hugemfd_folio_ser`. */
export const HUGEMFD_FOLIO_SER_SIZE = 16;
/** Byte offsets of `struct hugemfd_ser` (`__packed`) and its size, 41. */
export const HUGEMFD_SER_LAYOUT = {
  /** `u64 size`. */
  size: 0,
  /** `u64 pos`. */
  pos: 8,
  /** `u64 nr_folios`. */
  nrFolios: 16,
  /** `struct kho_vmalloc folios`. */
  folios: 24,
  /** `u8 order`. */
  order: 24 + KHO_VMALLOC_LAYOUT.size,
  /** Size of the struct. */
  bytes: 24 + KHO_VMALLOC_LAYOUT.size + 1,
} as const;

/** One `struct hugetlb_hstate_ser`. */
export interface HugetlbHstateSer {
  /** Preserved pages of this hstate. */
  nrPages: number;
  /** The hstate's order (9 for 2 MiB, 18 for 1 GiB). */
  order: number;
}

/** The values of a `struct hugetlb_ser`: `nr_hstates` entries (the rest of the array is 0). */
export interface HugetlbSer {
  /** The used entries, `nr_hstates` of them. */
  hstates: HugetlbHstateSer[];
}

/**
 * The 37 bytes of a `hugetlb_ser`. RangeError for more than 4 hstates, a count that is not a
 * u64 below 2^53, or an order that is not a u8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHugetlbSer, encodeHugetlbSer } from "./hugetlb.ts";
 * const b = encodeHugetlbSer({ hstates: [{ nrPages: 5, order: 18 }, { nrPages: 0, order: 9 }] });
 * assert.equal(b.length, 37);
 * assert.deepEqual([b[0], b[8], b[17], b[36]], [5, 18, 9, 2]);
 * assert.deepEqual(decodeHugetlbSer(b).hstates[0], { nrPages: 5, order: 18 });
 * ```
 */
export function encodeHugetlbSer(s: HugetlbSer): Uint8Array {
  if (s.hstates.length > HUGETLB_SER_MAX_HSTATES) {
    throw new RangeError(`hugetlb_ser: ${s.hstates.length} hstates > ${HUGETLB_SER_MAX_HSTATES}`);
  }
  const out = new Uint8Array(HUGETLB_SER_LAYOUT.size);
  const dv = new DataView(out.buffer);
  s.hstates.forEach((h, i) => {
    if (!Number.isSafeInteger(h.nrPages) || h.nrPages < 0) {
      throw new RangeError(`hugetlb_hstate_ser.nr_pages ${h.nrPages}`);
    }
    if (!Number.isInteger(h.order) || h.order < 0 || h.order > 255) {
      throw new RangeError(`hugetlb_hstate_ser.order ${h.order}`);
    }
    const at = HUGETLB_SER_LAYOUT.hstates + i * HUGETLB_HSTATE_SER_SIZE;
    setLe64(dv, at, h.nrPages);
    dv.setUint8(at + 8, h.order);
  });
  dv.setUint8(HUGETLB_SER_LAYOUT.nrHstates, s.hstates.length);
  return out;
}

/**
 * Reads a `hugetlb_ser` (37 bytes): the first `nr_hstates` entries, at most 4 (the kernel
 * bounds its loops by `HUGETLB_SER_MAX_HSTATES`, so a larger byte reads as 4). A count above
 * 2^53 − 1 reads as a rounded number.
 */
export function decodeHugetlbSer(bytes: Uint8Array): HugetlbSer {
  if (bytes.length < HUGETLB_SER_LAYOUT.size) {
    throw new RangeError(`hugetlb_ser needs ${HUGETLB_SER_LAYOUT.size} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HUGETLB_SER_LAYOUT.size);
  const n = Math.min(dv.getUint8(HUGETLB_SER_LAYOUT.nrHstates), HUGETLB_SER_MAX_HSTATES);
  const hstates: HugetlbHstateSer[] = [];
  for (let i = 0; i < n; i++) {
    const at = HUGETLB_SER_LAYOUT.hstates + i * HUGETLB_HSTATE_SER_SIZE;
    hstates.push({ nrPages: getLe64(dv, at), order: dv.getUint8(at + 8) });
  }
  return { hstates };
}

/** Writes a `hugetlb_ser` at `phys`. */
export function writeHugetlbSer(mem: PhysicalMemory, phys: number, s: HugetlbSer): void {
  mem.writeBytes(phys, encodeHugetlbSer(s));
}

/** Reads a `hugetlb_ser` at `phys`. */
export function readHugetlbSer(mem: PhysicalMemory, phys: number): HugetlbSer {
  return decodeHugetlbSer(mem.readBytes(phys, HUGETLB_SER_LAYOUT.size));
}

/** Byte offset of `hstates[i].nr_pages` in a `hugetlb_ser`. */
export function hugetlbSerNrPagesOffset(i: number): number {
  return HUGETLB_SER_LAYOUT.hstates + i * HUGETLB_HSTATE_SER_SIZE;
}

/** One `struct hugemfd_folio_ser`. */
export interface HugemfdFolioSer {
  /** Page frame of the folio head (52 bits). */
  pfn: number;
  /** Page-cache index of the folio, in base pages. */
  index: number;
}

/**
 * Writes a folio record at byte `at` of `dv` (16 bytes; `reserved` 0). The layout is
 * `memfd_luo_folio_ser`'s with the 12 flag bits reserved. RangeError for a pfn beyond 52 bits
 * or an index that is not a u64.
 */
export function putHugemfdFolioSer(dv: DataView, at: number, r: HugemfdFolioSer): void {
  putFolioSer(dv, at, { pfn: r.pfn, flags: 0, index: r.index });
}

/** Reads the folio record at byte `at` of `dv` (the reserved bits are ignored). */
export function getHugemfdFolioSer(dv: DataView, at: number): HugemfdFolioSer {
  const r = getFolioSer(dv, at);
  return { pfn: r.pfn, index: r.index };
}

/** The values of a `struct hugemfd_ser`. */
export interface HugemfdSer extends Pick<MemfdLuoSer, "size" | "pos" | "nrFolios" | "folios"> {
  /** The hstate's order (18 for 1 GiB pages). */
  order: number;
}

/**
 * The 41 bytes of a `hugemfd_ser`. RangeError for values that do not fit their fields.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHugemfdSer, encodeHugemfdSer } from "./hugetlb.ts";
 * import { KhoVmalloc } from "./kexec_handover.ts";
 * const folios = new KhoVmalloc({ first: 0x7000, totalPages: 1, flags: 1, order: 0 });
 * const s = { size: 2 ** 31, pos: 0, nrFolios: 2, folios, order: 18 };
 * const b = encodeHugemfdSer(s);
 * assert.equal(b.length, 41);
 * assert.deepEqual([b[3], b[16], b[40]], [0x80, 2, 18]); // size at 0, nr_folios at 16, order at 40
 * assert.deepEqual(decodeHugemfdSer(b), s);
 * ```
 */
export function encodeHugemfdSer(s: HugemfdSer): Uint8Array {
  const L = HUGEMFD_SER_LAYOUT;
  const u64 = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (!u64(s.size) || !u64(s.pos) || !u64(s.nrFolios)) {
    throw new RangeError(`hugemfd_ser size ${s.size} pos ${s.pos} nr_folios ${s.nrFolios}`);
  }
  if (!Number.isInteger(s.order) || s.order < 0 || s.order > 255) {
    throw new RangeError(`hugemfd_ser order ${s.order}`);
  }
  const out = new Uint8Array(L.bytes);
  const dv = new DataView(out.buffer);
  setLe64(dv, L.size, s.size);
  setLe64(dv, L.pos, s.pos);
  setLe64(dv, L.nrFolios, s.nrFolios);
  out.set(s.folios.encode(), L.folios);
  dv.setUint8(L.order, s.order);
  return out;
}

/** Reads a `hugemfd_ser` from `bytes` (at least 41). */
export function decodeHugemfdSer(bytes: Uint8Array): HugemfdSer {
  const L = HUGEMFD_SER_LAYOUT;
  if (bytes.length < L.bytes) {
    throw new RangeError(`hugemfd_ser needs ${L.bytes} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, L.bytes);
  return {
    size: getLe64(dv, L.size),
    pos: getLe64(dv, L.pos),
    nrFolios: getLe64(dv, L.nrFolios),
    folios: KhoVmalloc.decode(bytes, L.folios),
    order: dv.getUint8(L.order),
  };
}

/** Writes a `hugemfd_ser` at `phys`. */
export function writeHugemfdSer(mem: PhysicalMemory, phys: number, s: HugemfdSer): void {
  mem.writeBytes(phys, encodeHugemfdSer(s));
}

/** Reads a `hugemfd_ser` at `phys`. */
export function readHugemfdSer(mem: PhysicalMemory, phys: number): HugemfdSer {
  return decodeHugemfdSer(mem.readBytes(phys, HUGEMFD_SER_LAYOUT.bytes));
}
