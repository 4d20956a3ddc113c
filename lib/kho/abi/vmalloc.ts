/**
 * The KHO vmalloc preservation ABI (`include/linux/kho/abi/kexec_handover.h`): the 16-byte
 * `struct kho_vmalloc` descriptor a client stores wherever it likes (an FDT property, its
 * own serialized struct), and the chain of one-page `struct kho_vmalloc_chunk`s it points
 * to. Writer (`preserveVmalloc` in `lib/kho/vmalloc.ts`) and reader (`restoreVmalloc`) both
 * use these offsets; nothing else in kholab knows them.
 *
 * ```
 * struct kho_vmalloc {            // 16 bytes, natural layout
 *   u64 first;                    //  0: phys of the first chunk (KHOSER_PTR)
 *   u32 total_pages;              //  8: vm->nr_pages
 *   u16 flags;                    // 12: KHO_VMALLOC_*
 *   u16 order;                    // 14: get_vm_area_page_order()
 * };
 * struct kho_vmalloc_chunk {      // 4096 bytes
 *   u64 next;                     //  0: phys of the next chunk, 0 at the end
 *   u64 phys[511];                //  8: first phys of each 1 << order block; 0-terminated
 * };                              //     unless full
 * ```
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SIZE } from "../../units.ts";

/** `KHO_VMALLOC_ALLOC`: the area came from vmalloc() (VM_ALLOC). */
export const KHO_VMALLOC_ALLOC = 0x0001;
/** `KHO_VMALLOC_HUGE_VMAP`: the area may be PMD-mapped (VM_ALLOW_HUGE_VMAP). */
export const KHO_VMALLOC_HUGE_VMAP = 0x0002;

/** Byte offsets of `struct kho_vmalloc`. */
export const KHO_VMALLOC_LAYOUT = {
  /** Size of the descriptor in bytes. */
  size: 16,
  /** `u64 first`. */
  first: 0,
  /** `u32 total_pages`. */
  totalPages: 8,
  /** `u16 flags`. */
  flags: 12,
  /** `u16 order`. */
  order: 14,
} as const;

/** Size of `struct kho_vmalloc_hdr` (`KHOSER_PTR next`). */
export const KHO_VMALLOC_HDR_SIZE = 8;
/** `KHO_VMALLOC_SIZE`: physical addresses per chunk, (PAGE_SIZE - 8) / 8 = 511. */
export const KHO_VMALLOC_SIZE: number = (PAGE_SIZE - KHO_VMALLOC_HDR_SIZE) / 8;
/** Size of `struct kho_vmalloc_chunk` (one page). */
export const KHO_VMALLOC_CHUNK_SIZE: number = PAGE_SIZE;

/** Byte offset of `chunk->phys[i]` from the chunk's start (may run past the page for i ≥ 511). */
export function chunkPhysOffset(i: number): number {
  return KHO_VMALLOC_HDR_SIZE + 8 * i;
}

/** The values of a `struct kho_vmalloc`. */
export interface KhoVmallocFields {
  /** Physical address of the first chunk (0: none). */
  first: number;
  /** Pages of the area (`vm->nr_pages`), u32. */
  totalPages: number;
  /** KHO_VMALLOC_* flags, u16. */
  flags: number;
  /** Page order of the mapping (0, or 9 for huge vmap), u16. */
  order: number;
}

/**
 * A `struct kho_vmalloc`: what a client keeps to find its vmalloc area after kexec. Only
 * its 16 bytes ({@link KhoVmalloc.encode}) may cross a kexec.
 *
 * @example
 * ```ts
 * import { KhoVmalloc } from "./vmalloc.ts";
 * const d = new KhoVmalloc({ first: 0x10203000, totalPages: 2, flags: 1, order: 0 });
 * const bytes = d.encode();
 * console.assert(bytes.length === 16 && KhoVmalloc.decode(bytes).first === 0x10203000);
 * ```
 */
export class KhoVmalloc implements KhoVmallocFields {
  /** Physical address of the first chunk. */
  readonly first: number;
  /** Pages of the area. */
  readonly totalPages: number;
  /** KHO_VMALLOC_* flags. */
  readonly flags: number;
  /** Page order of the mapping. */
  readonly order: number;

  /** Wraps the field values (no range checks beyond the field widths on encode). */
  constructor(fields: KhoVmallocFields) {
    this.first = fields.first;
    this.totalPages = fields.totalPages;
    this.flags = fields.flags;
    this.order = fields.order;
  }

  /** The 16 little-endian bytes of the struct. */
  encode(): Uint8Array {
    const out = new Uint8Array(KHO_VMALLOC_LAYOUT.size);
    const dv = new DataView(out.buffer);
    if (!Number.isSafeInteger(this.first) || this.first < 0) {
      throw new RangeError(`kho_vmalloc.first ${this.first}`);
    }
    dv.setUint32(0, this.first % 2 ** 32, true);
    dv.setUint32(4, Math.floor(this.first / 2 ** 32), true);
    dv.setUint32(KHO_VMALLOC_LAYOUT.totalPages, this.totalPages >>> 0, true);
    dv.setUint16(KHO_VMALLOC_LAYOUT.flags, this.flags & 0xffff, true);
    dv.setUint16(KHO_VMALLOC_LAYOUT.order, this.order & 0xffff, true);
    return out;
  }

  /** Reads a struct from `bytes` at `offset` (at least 16 bytes must be there). */
  static decode(bytes: Uint8Array, offset = 0): KhoVmalloc {
    if (offset < 0 || offset + KHO_VMALLOC_LAYOUT.size > bytes.length) {
      throw new RangeError(`kho_vmalloc needs 16 bytes at ${offset} of ${bytes.length}`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, KHO_VMALLOC_LAYOUT.size);
    return new KhoVmalloc({
      first: dv.getUint32(4, true) * 2 ** 32 + dv.getUint32(0, true),
      totalPages: dv.getUint32(KHO_VMALLOC_LAYOUT.totalPages, true),
      flags: dv.getUint16(KHO_VMALLOC_LAYOUT.flags, true),
      order: dv.getUint16(KHO_VMALLOC_LAYOUT.order, true),
    });
  }

  /** Writes the 16 bytes into physical memory. */
  writeTo(mem: PhysicalMemory, phys: number): void {
    mem.writeBytes(phys, this.encode());
  }

  /** Reads the 16 bytes from physical memory. */
  static readFrom(mem: PhysicalMemory, phys: number): KhoVmalloc {
    return KhoVmalloc.decode(mem.readBytes(phys, KHO_VMALLOC_LAYOUT.size));
  }
}
