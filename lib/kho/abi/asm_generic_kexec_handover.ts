/**
 * `include/asm-generic/kexec_handover.h` (kho-facts §1.1, §9.1): `struct kho_scratch {
 * phys_addr_t addr; phys_addr_t size; }` (16 bytes), the array of scratch areas handed to the
 * next kernel (older trees declare it in `include/linux/kexec_handover.h`). Not under
 * `include/linux/kho/abi/` in the kernel, but the successor reads it from memory, so it
 * lives with the other hand-over layouts. Writer (`kho_fill_kimage` in `kho.ts`) and reader
 * (`kho_populate` in `restore.ts`) both use {@link encodeScratchArray} /
 * {@link decodeScratchArray}.
 *
 * @module
 */

import { getLe64, setLe64 } from "../fdt/format.ts";

/** Size of one `struct kho_scratch`. */
export const KHO_SCRATCH_ENTRY_SIZE = 16;
/** Byte offsets of `struct kho_scratch` (x86_64: `phys_addr_t` is a u64). */
export const KHO_SCRATCH_LAYOUT = {
  /** `phys_addr_t addr`. */
  addr: 0,
  /** `phys_addr_t size`. */
  size: 8,
} as const;

/** A scratch area: memory the next kernel may boot from. */
export interface ScratchArea {
  /** Physical start. */
  addr: number;
  /** Size in bytes. */
  size: number;
}

/**
 * Encodes the scratch array (little-endian u64 pairs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeScratchArray, encodeScratchArray } from "./asm_generic_kexec_handover.ts";
 * const b = encodeScratchArray([{ addr: 0x1000000, size: 0x200000 }]);
 * assert.equal(b.length, 16);
 * assert.deepEqual(decodeScratchArray(b), [{ addr: 0x1000000, size: 0x200000 }]);
 * ```
 */
export function encodeScratchArray(areas: readonly ScratchArea[]): Uint8Array {
  const out = new Uint8Array(areas.length * KHO_SCRATCH_ENTRY_SIZE);
  const dv = new DataView(out.buffer);
  const L = KHO_SCRATCH_LAYOUT;
  areas.forEach((a, i) => {
    for (const [k, v] of [[L.addr, a.addr], [L.size, a.size]] as const) {
      const at = i * KHO_SCRATCH_ENTRY_SIZE + k;
      setLe64(dv, at, v);
    }
  });
  return out;
}

/** Decodes a scratch array; the length must be a multiple of 16. */
export function decodeScratchArray(bytes: Uint8Array): ScratchArea[] {
  if (bytes.length % KHO_SCRATCH_ENTRY_SIZE !== 0) {
    throw new RangeError(`scratch array of ${bytes.length} bytes is not a multiple of 16`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const u64 = (o: number) => getLe64(dv, o);
  const L = KHO_SCRATCH_LAYOUT;
  const out: ScratchArea[] = [];
  for (let o = 0; o < bytes.length; o += KHO_SCRATCH_ENTRY_SIZE) {
    out.push({ addr: u64(o + L.addr), size: u64(o + L.size) });
  }
  return out;
}
