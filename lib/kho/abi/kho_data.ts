/**
 * The x86 `setup_data` of type `SETUP_KEXEC_KHO` (10): `struct kho_data { __u64 fdt_addr,
 * fdt_size, scratch_addr, scratch_size; } __packed` — 32 bytes. This is everything a kexec
 * passes to the next kernel besides physical memory.
 *
 * @module
 */

/** `SETUP_KEXEC_KHO`. */
export const SETUP_KEXEC_KHO = 10;
/** Size of `struct kho_data`. */
export const KHO_DATA_SIZE = 32;

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
 * import { decodeKhoData, encodeKhoData } from "./kho_data.ts";
 * const h = { fdtPhys: 0x1000, fdtLen: 4096, scratchPhys: 0x2000, scratchLen: 64 };
 * console.assert(decodeKhoData(encodeKhoData(h)).scratchLen === 64);
 * ```
 */
export function encodeKhoData(h: Handover): Uint8Array {
  const out = new Uint8Array(KHO_DATA_SIZE);
  const dv = new DataView(out.buffer);
  [h.fdtPhys, h.fdtLen, h.scratchPhys, h.scratchLen].forEach((v, i) => {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`kho_data field ${i}: ${v}`);
    dv.setUint32(i * 8, v >>> 0, true);
    dv.setUint32(i * 8 + 4, Math.floor(v / 2 ** 32), true);
  });
  return out;
}

/** Decodes a 32-byte `kho_data`. */
export function decodeKhoData(bytes: Uint8Array): Handover {
  if (bytes.length !== KHO_DATA_SIZE) {
    throw new RangeError(`kho_data is ${bytes.length} bytes, not 32`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, KHO_DATA_SIZE);
  const u64 = (i: number) => dv.getUint32(i * 8 + 4, true) * 2 ** 32 + dv.getUint32(i * 8, true);
  return { fdtPhys: u64(0), fdtLen: u64(1), scratchPhys: u64(2), scratchLen: u64(3) };
}
