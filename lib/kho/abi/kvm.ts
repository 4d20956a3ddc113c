/**
 * The KVM and guest_memfd LUO hand-over ABI (`include/linux/kho/abi/kvm.h` of the series
 * "liveupdate: kvm: Guest_memfd preservation", Tarun Sahu, RFC v1 2026-06-05 … v4 2026-07-28;
 * luo-hugetlb-facts §4.4, `M @ bd568219`). The handlers are `lib/clients/kvm_luo.ts` (the VM
 * file) and `lib/clients/guest_memfd_luo.ts`; both sides of a kexec use these layouts only.
 *
 * ```
 * struct kvm_luo_ser { u64 type; } __packed;                         // 8 bytes (v4's base vmfd)
 * #define KVM_LUO_FH_COMPATIBLE "kvm_vm_luo_v1"
 * struct guest_memfd_luo_folio_ser { u64 pfn:52; u64 flags:12; u64 index; } __packed; // 16
 * #define GUEST_MEMFD_LUO_FOLIO_UPTODATE   BIT(0)                    // folio flags
 * #define GUEST_MEMFD_LUO_FLAG_MMAP        BIT(0)                    // file flags
 * #define GUEST_MEMFD_LUO_FLAG_INIT_SHARED BIT(1)
 * #define GUEST_MEMFD_LUO_SUPPORTED_FLAGS  (MMAP | INIT_SHARED)
 * struct guest_memfd_luo_ser { u64 size; u64 flags; u64 nr_folios; u64 vm_token;
 *                              struct kho_vmalloc folios; } __packed; // 48 bytes
 * #define GUEST_MEMFD_LUO_FH_COMPATIBLE "guest_memfd_luo_v1"
 * ```
 *
 * `vm_token` is the LUO token under which the guest_memfd's VM file is preserved in the same
 * session: the binding a successor follows to find the VM again. The folio record has the
 * layout of `memfd_luo_folio_ser` (`./memfd.ts`), whose codec it shares.
 *
 * The facts give `kvm_luo_ser` in two other forms, neither modelled: an early 32-byte one
 * `{ u64 type; u64 nr_mem_attrs; struct kho_vmalloc mem_attrs; }` (removed in v2 with the
 * `mem_attr_array` preservation) and a later 16-byte `{ u64 type; KHOSER arch_state; }` of the
 * vCPU work (with `kvm_vcpu_luo_ser`, "kvm_vcpu_luo_v1"). The 8-byte `{ u64 type; }` is the
 * base VM handler of the v4-era header as read in a public copy of the series (luo-hugetlb-facts
 * §4.4 lists it as in flight; which posting has exactly this header is **[UNVERIFIED]**).
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { getLe64, setLe64 } from "../fdt/format.ts";
import { KHO_VMALLOC_LAYOUT, KhoVmalloc } from "./kexec_handover.ts";
import {
  decodeFolioSer,
  encodeFolioSer,
  getFolioSer,
  MEMFD_LUO_FOLIO_SER_SIZE,
  type MemfdFolioSer,
  putFolioSer,
} from "./memfd.ts";

/** `KVM_LUO_FH_COMPATIBLE`: the VM file handler. */
export const KVM_LUO_FH_COMPATIBLE = "kvm_vm_luo_v1";
/** `GUEST_MEMFD_LUO_FH_COMPATIBLE`: the guest_memfd file handler. */
export const GUEST_MEMFD_LUO_FH_COMPATIBLE = "guest_memfd_luo_v1";

/** `GUEST_MEMFD_LUO_FOLIO_UPTODATE` (folio record flag). */
export const GUEST_MEMFD_LUO_FOLIO_UPTODATE = 1;
/** `GUEST_MEMFD_LUO_FLAG_MMAP` (file flag): the guest_memfd supports host mmap. */
export const GUEST_MEMFD_LUO_FLAG_MMAP = 1;
/** `GUEST_MEMFD_LUO_FLAG_INIT_SHARED` (file flag): the memory was initialised as shared. */
export const GUEST_MEMFD_LUO_FLAG_INIT_SHARED = 2;
/** `GUEST_MEMFD_LUO_SUPPORTED_FLAGS`: any other file flag bit is EOPNOTSUPP. */
export const GUEST_MEMFD_LUO_SUPPORTED_FLAGS: number = GUEST_MEMFD_LUO_FLAG_MMAP |
  GUEST_MEMFD_LUO_FLAG_INIT_SHARED;

/** Byte offsets and size of `struct kvm_luo_ser` (`__packed`). */
export const KVM_LUO_SER_LAYOUT = {
  /** Size of the struct. */
  size: 8,
  /** `u64 type`: the VM type `KVM_CREATE_VM` is given again in the successor. */
  type: 0,
} as const;

/** Byte offsets and size of `struct guest_memfd_luo_ser` (`__packed`). */
export const GUEST_MEMFD_LUO_SER_LAYOUT = {
  /** Size of the struct. */
  size: 32 + KHO_VMALLOC_LAYOUT.size,
  /** `u64 size`: the file size in bytes. */
  fileSize: 0,
  /** `u64 flags`: GUEST_MEMFD_LUO_FLAG_*. */
  flags: 8,
  /** `u64 nr_folios`: records in the folio array. */
  nrFolios: 16,
  /** `u64 vm_token`: the LUO token of the VM file in the same session. */
  vmToken: 24,
  /** `struct kho_vmalloc folios`: the preserved array of folio records. */
  folios: 32,
} as const;

/** Size of `struct guest_memfd_luo_folio_ser` (the layout of `memfd_luo_folio_ser`). */
export const GUEST_MEMFD_LUO_FOLIO_SER_SIZE: number = MEMFD_LUO_FOLIO_SER_SIZE;

/** One `struct guest_memfd_luo_folio_ser`: pfn (52 bits), flags (12 bits), page-cache index. */
export type GuestMemfdFolioSer = MemfdFolioSer;

/** Writes a folio record at byte `at` of `dv` (the `memfd_luo_folio_ser` codec). */
export const putGuestMemfdFolioSer: (dv: DataView, at: number, r: GuestMemfdFolioSer) => void =
  putFolioSer;
/** Reads the folio record at byte `at` of `dv`. */
export const getGuestMemfdFolioSer: (dv: DataView, at: number) => GuestMemfdFolioSer = getFolioSer;
/** The 16 bytes of a folio record. */
export const encodeGuestMemfdFolioSer: (r: GuestMemfdFolioSer) => Uint8Array = encodeFolioSer;
/** A folio record from `b` at `off`. */
export const decodeGuestMemfdFolioSer: (b: Uint8Array, off?: number) => GuestMemfdFolioSer =
  decodeFolioSer;

/** The values of a `struct guest_memfd_luo_ser`. */
export interface GuestMemfdLuoSer {
  /** File size in bytes. */
  size: number;
  /** GUEST_MEMFD_LUO_FLAG_* (a u64). */
  flags: number;
  /** Records in the folio array. */
  nrFolios: number;
  /** The VM file's LUO token (a u64). */
  vmToken: bigint;
  /** The folio array's vmalloc preservation. */
  folios: KhoVmalloc;
}

const MASK64 = (1n << 64n) - 1n;

/**
 * The 48 bytes of a `guest_memfd_luo_ser`. RangeError for a size, flags or count that is not
 * a u64 below 2^53, or a token outside 0..2^64 − 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGuestMemfdLuoSer, encodeGuestMemfdLuoSer } from "./kvm.ts";
 * import { KhoVmalloc } from "./kexec_handover.ts";
 * const folios = new KhoVmalloc({ first: 0x7000, totalPages: 1, flags: 1, order: 0 });
 * const s = { size: 2 << 20, flags: 3, nrFolios: 512, vmToken: 0xabn, folios };
 * const b = encodeGuestMemfdLuoSer(s);
 * assert.equal(b.length, 48);
 * assert.equal(b[24], 0xab); // u64 vm_token at 24
 * assert.equal(b[32], 0x00); // kho_vmalloc folios at 32: first = 0x7000
 * assert.equal(b[33], 0x70);
 * assert.deepEqual(decodeGuestMemfdLuoSer(b), s);
 * ```
 */
export function encodeGuestMemfdLuoSer(s: GuestMemfdLuoSer): Uint8Array {
  const u64 = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (!u64(s.size) || !u64(s.flags) || !u64(s.nrFolios)) {
    throw new RangeError(
      `guest_memfd_luo_ser size ${s.size} flags ${s.flags} nr_folios ${s.nrFolios}`,
    );
  }
  if (s.vmToken < 0n || s.vmToken > MASK64) {
    throw new RangeError(`guest_memfd_luo_ser vm_token ${s.vmToken}: a u64`);
  }
  const L = GUEST_MEMFD_LUO_SER_LAYOUT;
  const out = new Uint8Array(L.size);
  const dv = new DataView(out.buffer);
  setLe64(dv, L.fileSize, s.size);
  setLe64(dv, L.flags, s.flags);
  setLe64(dv, L.nrFolios, s.nrFolios);
  dv.setBigUint64(L.vmToken, s.vmToken, true);
  out.set(s.folios.encode(), L.folios);
  return out;
}

/**
 * Reads a `guest_memfd_luo_ser` from `bytes` (at least 48). Values at or above 2^53 in the
 * size, flags or count fields come back inexact (a successor compares them with limits).
 */
export function decodeGuestMemfdLuoSer(bytes: Uint8Array): GuestMemfdLuoSer {
  const L = GUEST_MEMFD_LUO_SER_LAYOUT;
  if (bytes.length < L.size) {
    throw new RangeError(`guest_memfd_luo_ser needs ${L.size} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, L.size);
  return {
    size: getLe64(dv, L.fileSize),
    flags: getLe64(dv, L.flags),
    nrFolios: getLe64(dv, L.nrFolios),
    vmToken: dv.getBigUint64(L.vmToken, true),
    folios: KhoVmalloc.decode(bytes, L.folios),
  };
}

/** Writes a `guest_memfd_luo_ser` at `phys`. */
export function writeGuestMemfdLuoSer(
  mem: PhysicalMemory,
  phys: number,
  s: GuestMemfdLuoSer,
): void {
  mem.writeBytes(phys, encodeGuestMemfdLuoSer(s));
}

/** Reads a `guest_memfd_luo_ser` at `phys`. */
export function readGuestMemfdLuoSer(mem: PhysicalMemory, phys: number): GuestMemfdLuoSer {
  return decodeGuestMemfdLuoSer(mem.readBytes(phys, GUEST_MEMFD_LUO_SER_LAYOUT.size));
}

/** The values of a `struct kvm_luo_ser`. */
export interface KvmLuoSer {
  /** The VM type (x86: `kvm->arch.vm_type`), a u64. */
  type: bigint;
}

/**
 * The 8 bytes of a `kvm_luo_ser`; RangeError for a type outside 0..2^64 − 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKvmLuoSer, encodeKvmLuoSer } from "./kvm.ts";
 * const b = encodeKvmLuoSer({ type: 2n });
 * assert.deepEqual([...b], [2, 0, 0, 0, 0, 0, 0, 0]);
 * assert.equal(decodeKvmLuoSer(b).type, 2n);
 * ```
 */
export function encodeKvmLuoSer(s: KvmLuoSer): Uint8Array {
  if (s.type < 0n || s.type > MASK64) throw new RangeError(`kvm_luo_ser type ${s.type}: a u64`);
  const out = new Uint8Array(KVM_LUO_SER_LAYOUT.size);
  new DataView(out.buffer).setBigUint64(KVM_LUO_SER_LAYOUT.type, s.type, true);
  return out;
}

/** Reads a `kvm_luo_ser` from `bytes` (at least 8). */
export function decodeKvmLuoSer(bytes: Uint8Array): KvmLuoSer {
  if (bytes.length < KVM_LUO_SER_LAYOUT.size) {
    throw new RangeError(`kvm_luo_ser needs ${KVM_LUO_SER_LAYOUT.size} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, KVM_LUO_SER_LAYOUT.size);
  return { type: dv.getBigUint64(KVM_LUO_SER_LAYOUT.type, true) };
}
