/**
 * `struct kho_scratch { phys_addr_t addr; phys_addr_t size; }` (16 bytes): the array of
 * scratch areas handed to the next kernel. One home for the layout.
 *
 * @module
 */

/** Size of one `struct kho_scratch`. */
export const KHO_SCRATCH_ENTRY_SIZE = 16;

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
 * import { decodeScratchArray, encodeScratchArray } from "./scratch.ts";
 * const b = encodeScratchArray([{ addr: 0x1000000, size: 0x200000 }]);
 * console.assert(decodeScratchArray(b)[0].size === 0x200000);
 * ```
 */
export function encodeScratchArray(areas: readonly ScratchArea[]): Uint8Array {
  const out = new Uint8Array(areas.length * KHO_SCRATCH_ENTRY_SIZE);
  const dv = new DataView(out.buffer);
  areas.forEach((a, i) => {
    for (const [k, v] of [[0, a.addr], [8, a.size]] as const) {
      dv.setUint32(i * 16 + k, v >>> 0, true);
      dv.setUint32(i * 16 + k + 4, Math.floor(v / 2 ** 32), true);
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
  const u64 = (o: number) => dv.getUint32(o + 4, true) * 2 ** 32 + dv.getUint32(o, true);
  const out: ScratchArea[] = [];
  for (let o = 0; o < bytes.length; o += 16) out.push({ addr: u64(o), size: u64(o + 8) });
  return out;
}
