/**
 * The x86 `setup_data` of type `SETUP_KEXEC_KHO` (10) (`arch/x86/include/uapi/asm/setup_data.h`,
 * `SETUP_KEXEC_KHO` in `asm/bootparam.h`; kho-facts §9.4): `struct kho_data { __u64 fdt_addr,
 * fdt_size, scratch_addr, scratch_size; } __packed` — 32 bytes. This is everything a kexec
 * passes to the next kernel besides physical memory. Device-tree architectures pass the same
 * four values in `/chosen` (`linux,kho-fdt`, `linux,kho-scratch`); kholab models x86.
 *
 * @module
 */

import { getLe64, setLe64 } from "../fdt/format.ts";

/** `SETUP_KEXEC_KHO`. */
export const SETUP_KEXEC_KHO = 10;
/** Size of `struct kho_data`. */
export const KHO_DATA_SIZE = 32;
/** Byte offsets of `struct kho_data` (`__packed`, little-endian u64s). */
export const KHO_DATA_LAYOUT = {
  /** `__u64 fdt_addr`. */
  fdtAddr: 0,
  /** `__u64 fdt_size`. */
  fdtSize: 8,
  /** `__u64 scratch_addr`. */
  scratchAddr: 16,
  /** `__u64 scratch_size`. */
  scratchSize: 24,
} as const;

/** The handover record of one kexec. */
export interface Handover {
  /** Physical address of the root FDT (0: no KHO). */
  fdtPhys: number;
  /** Size of the root FDT buffer. */
  fdtLen: number;
  /** Physical address of the `struct kho_scratch` array. */
  scratchPhys: number;
  /** Size of the scratch array in bytes (16 per area). */
  scratchLen: number;
}

/**
 * Encodes a handover as the 32-byte `kho_data` (little-endian u64s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKhoData, encodeKhoData } from "./kho_data.ts";
 * const h = { fdtPhys: 0x1000, fdtLen: 4096, scratchPhys: 0x2000, scratchLen: 64 };
 * assert.equal(encodeKhoData(h).length, 32);
 * assert.deepEqual(decodeKhoData(encodeKhoData(h)), h);
 * ```
 */
export function encodeKhoData(h: Handover): Uint8Array {
  const L = KHO_DATA_LAYOUT;
  const out = new Uint8Array(KHO_DATA_SIZE);
  const dv = new DataView(out.buffer);
  const fields = [
    [L.fdtAddr, h.fdtPhys],
    [L.fdtSize, h.fdtLen],
    [L.scratchAddr, h.scratchPhys],
    [L.scratchSize, h.scratchLen],
  ] as const;
  fields.forEach(([at, v], i) => {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`kho_data field ${i}: ${v}`);
    setLe64(dv, at, v);
  });
  return out;
}

/** Decodes a 32-byte `kho_data`. */
export function decodeKhoData(bytes: Uint8Array): Handover {
  if (bytes.length !== KHO_DATA_SIZE) {
    throw new RangeError(`kho_data is ${bytes.length} bytes, not 32`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, KHO_DATA_SIZE);
  const L = KHO_DATA_LAYOUT;
  const u64 = (at: number) => getLe64(dv, at);
  return {
    fdtPhys: u64(L.fdtAddr),
    fdtLen: u64(L.fdtSize),
    scratchPhys: u64(L.scratchAddr),
    scratchLen: u64(L.scratchSize),
  };
}
