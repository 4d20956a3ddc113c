/**
 * guest_memfd files (`KVM_CREATE_GUEST_MEMFD`, `virt/kvm/guest_memfd.c`): guest memory owned
 * by KVM rather than by a host mapping — the file the guest_memfd proposal preserves across a
 * live update (`./guest_memfd_luo.ts`, luo-hugetlb-facts §4.4).
 *
 * Modelled:
 * - a file of a fixed size (page aligned), bound to its VM (`./kvm.ts`) for its whole life;
 * - its flags, the uAPI's `GUEST_MEMFD_FLAG_MMAP` (host mmap allowed) and
 *   `GUEST_MEMFD_FLAG_INIT_SHARED` (memory starts shared with the host), which the LUO handler
 *   maps bit for bit to `GUEST_MEMFD_LUO_FLAG_*`; a VM with private memory does not take
 *   INIT_SHARED (`kvm_gmem_get_supported_flags`, as assumed);
 * - the page cache: **order-0 folios**, allocated unmovable (the mapping is unmovable, so no
 *   folio ever sits in a CMA pageblock, i.e. in KHO scratch) on first touch; a fallocated folio
 *   is not uptodate and reads as zeros until written. The page cache is a {@link MemfdFile}'s;
 * - HugeTLB backing (`hugetlb: 2M | 1G`): guest_memfd does not support it in the kernels and
 *   series read (a QEMU document citing the v4 series: "guest_memfd does not currently support
 *   the hugetlb=on option", nor THP); kholab can create such a file so that the proposal's
 *   handler can be seen refusing it, and so that the labelled assumption profile can carry
 *   1 GiB folios (`rfc-2026-guest-memfd-hugetlb-assumed`) — never silently;
 * - `kvm_gmem_freeze` (set while LUO holds the file): no folio can be added, so a write or a
 *   fallocate reaching a hole fails (EPERM here; the kernel's errno is **[UNVERIFIED]**);
 *   writes to folios already present go on, and their bytes are what crosses kexec.
 *
 * Host access (`write`, `fill`, `read`) stands for an mmap of the file: ENODEV without
 * `GUEST_MEMFD_FLAG_MMAP`. Every operation is all or nothing.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import { GFP_KERNEL } from "../kernel/gfp.ts";
import type { FillSpec } from "../machine/physmem.ts";
import { PAGE_SIZE } from "../units.ts";
import type { KvmVm } from "./kvm.ts";
import { hugePageOrder, MemfdFile, type ShmemFolio } from "./memfd.ts";

/** uAPI `GUEST_MEMFD_FLAG_MMAP`: the file may be mmapped by the host. */
export const GUEST_MEMFD_FLAG_MMAP = 1;
/** uAPI `GUEST_MEMFD_FLAG_INIT_SHARED`: the memory starts shared with the host. */
export const GUEST_MEMFD_FLAG_INIT_SHARED = 2;

/** Fault-injection site of `__kvm_gmem_create_file` (the successor's file too). */
export const KVM_GMEM_CREATE_FILE_SITE = "kvm_gmem_create_file";

/** Options of {@link kvmCreateGuestMemfd}. */
export interface GuestMemfdCreateOptions {
  /** File size in bytes (> 0, page aligned; a multiple of the huge page size with `hugetlb`). */
  size: number;
  /** GUEST_MEMFD_FLAG_* (default MMAP | INIT_SHARED, what the proposal preserves). */
  flags?: number;
  /**
   * HugeTLB backing, 2 MiB or 1 GiB (not in any kernel or series read; see the module notes).
   */
  hugetlb?: number;
  /** Preferred NUMA node of the folios. */
  nid?: number;
}

/**
 * A guest_memfd file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { kvmCreateVm } from "./kvm.ts";
 * import { kvmCreateGuestMemfd } from "./guest_memfd.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }));
 * const gmem = kvmCreateGuestMemfd(kvmCreateVm(k), { size: 1 << 20 });
 * gmem.write(8192, new TextEncoder().encode("guest"));
 * assert.deepEqual(gmem.folios().map((f) => [f.index, f.order, f.uptodate]), [[2, 0, true]]);
 * assert.equal(new TextDecoder().decode(gmem.read(8192, 5)), "guest");
 * ```
 */
export class GuestMemfdFile {
  /** The kernel the file lives in. */
  readonly kernel: Kernel;
  /** The VM the file belongs to. */
  readonly vm: KvmVm;
  /** GUEST_MEMFD_FLAG_*. */
  readonly flags: number;
  /** The page cache (order-0 folios, or HugeTLB pages). */
  readonly pages: MemfdFile;
  #frozen = false;

  /** Use {@link kvmCreateGuestMemfd}; the handler's retrieve builds files this way too. */
  constructor(
    vm: KvmVm,
    opts: { size: number; flags: number; hugetlbOrder: number | null; nid?: number },
  ) {
    this.kernel = vm.kernel;
    this.vm = vm;
    this.flags = opts.flags;
    this.pages = new MemfdFile(vm.kernel, "[kvm-gmem]", {
      allowSealing: false,
      hugetlbOrder: opts.hugetlbOrder,
      folioOrder: 0,
      nid: opts.nid,
      gfp: GFP_KERNEL,
    });
    this.pages.setSize(opts.size);
  }

  /** `i_size`: the size given at creation. */
  get size(): number {
    return this.pages.size;
  }

  /** `mapping_large_folio_support`: true for a HugeTLB-backed file. */
  get largeFolios(): boolean {
    return this.pages.hugetlb;
  }

  /** Folio order of the file's pages: 0, or the HugeTLB order (9 or 18). */
  get folioOrder(): number {
    return this.pages.folioOrder;
  }

  /** Whether `kvm_gmem_freeze` holds the file (LUO preserved it). */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Whether the last reference is gone. */
  get released(): boolean {
    return this.pages.released;
  }

  /** The folios in index order. */
  folios(): readonly ShmemFolio[] {
    return this.pages.folios();
  }

  /**
   * `fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, len)`: allocates the folios of the range (not
   * uptodate: they read as zeros). EINVAL beyond the file; EPERM when frozen and the range
   * has a hole; ENOMEM (nothing allocated) when a folio cannot be had.
   */
  fallocate(offset: number, len: number): void {
    this.#checkRange(offset, len);
    this.#checkFrozen(offset, len, "fallocate");
    this.pages.fallocate(offset, len, { keepSize: true });
  }

  /** A host write through an mmap of the file (ENODEV without GUEST_MEMFD_FLAG_MMAP). */
  write(offset: number, bytes: Uint8Array): void {
    this.#mmap("write");
    this.#checkRange(offset, bytes.length);
    this.#checkFrozen(offset, bytes.length, "write");
    this.pages.write(offset, bytes);
  }

  /** {@link GuestMemfdFile.write} of a uniform byte or a seeded pattern (cheap for large ranges). */
  fill(offset: number, len: number, spec: FillSpec): void {
    this.#mmap("fill");
    this.#checkRange(offset, len);
    this.#checkFrozen(offset, len, "fill");
    this.pages.fill(offset, len, spec);
  }

  /** A host read through an mmap: holes and folios not uptodate read as zeros. */
  read(offset: number, len: number): Uint8Array {
    this.#mmap("read");
    this.#checkRange(offset, len);
    return this.pages.read(offset, len);
  }

  /** The page cache's 64-bit hash (index, order and bytes of every uptodate folio). */
  hash64(): bigint {
    return this.pages.hash64();
  }

  /** `close(fd)`: drops the caller's reference; the last one frees the folios. */
  close(): void {
    this.pages.close();
  }

  /** `get_file` (LUO's reference while the file is preserved). */
  get(): void {
    this.pages.get();
  }

  /** `fput`. */
  put(): void {
    this.pages.put();
  }

  /** `kvm_gmem_freeze(inode, freeze)`. */
  freeze(on: boolean): void {
    this.#frozen = on;
  }

  #mmap(what: string): void {
    if (!(this.flags & GUEST_MEMFD_FLAG_MMAP)) {
      throw new KhoError("ENODEV", `${what}: guest_memfd without GUEST_MEMFD_FLAG_MMAP`);
    }
  }

  #checkRange(offset: number, len: number): void {
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0 ||
      offset + len > this.size
    ) {
      throw new KhoError("EINVAL", `guest_memfd range ${offset}+${len} of ${this.size}`);
    }
  }

  /** While frozen, no folio may be added: every page of the range must be present. */
  #checkFrozen(offset: number, len: number, what: string): void {
    if (!this.#frozen || len === 0) return;
    const end = Math.ceil((offset + len) / PAGE_SIZE);
    for (let idx = Math.floor(offset / PAGE_SIZE); idx < end;) {
      const f = this.pages.folioAt(idx);
      if (f === null) {
        throw new KhoError("EPERM", `${what}: guest_memfd is frozen by LUO (page ${idx} absent)`);
      }
      idx = f.index + 2 ** f.order;
    }
  }
}

/**
 * `ioctl(vmfd, KVM_CREATE_GUEST_MEMFD, { size, flags })`: a new guest_memfd of `vm`. EINVAL
 * for a size that is not positive and page aligned (or not a multiple of the huge page), a
 * huge page size other than 2 MiB or 1 GiB, unknown flags, or INIT_SHARED on a VM with
 * private memory; ENOMEM when the fault site {@link KVM_GMEM_CREATE_FILE_SITE} fires.
 */
export function kvmCreateGuestMemfd(vm: KvmVm, opts: GuestMemfdCreateOptions): GuestMemfdFile {
  vm.kernel.assertAlive();
  if (!vm.fileActive) throw new KhoError("EBADF", "KVM_CREATE_GUEST_MEMFD: VM file closed");
  const flags = opts.flags ?? (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~guestMemfdSupportedFlags(vm)) !== 0) {
    throw new KhoError("EINVAL", `KVM_CREATE_GUEST_MEMFD flags ${flags}`);
  }
  const hugetlbOrder = hugePageOrder(opts.hugetlb, "guest_memfd huge page size");
  const unit = PAGE_SIZE * 2 ** (hugetlbOrder ?? 0);
  if (!Number.isSafeInteger(opts.size) || opts.size <= 0 || opts.size % unit !== 0) {
    throw new KhoError("EINVAL", `KVM_CREATE_GUEST_MEMFD size ${opts.size}`);
  }
  return createGuestMemfdFile(vm, { size: opts.size, flags, hugetlbOrder, nid: opts.nid });
}

/**
 * `__kvm_gmem_create_file(kvm, size, flags)` without the ioctl's checks (the LUO handler's
 * retrieve): ENOMEM when the fault site {@link KVM_GMEM_CREATE_FILE_SITE} fires.
 */
export function createGuestMemfdFile(
  vm: KvmVm,
  opts: { size: number; flags: number; hugetlbOrder: number | null; nid?: number },
): GuestMemfdFile {
  if (vm.kernel.faults.shouldFail(KVM_GMEM_CREATE_FILE_SITE)) {
    throw new KhoError("ENOMEM", "__kvm_gmem_create_file");
  }
  return new GuestMemfdFile(vm, opts);
}

/**
 * `kvm_gmem_get_supported_flags(kvm)`: MMAP always; INIT_SHARED unless the VM has private
 * memory (as assumed).
 */
export function guestMemfdSupportedFlags(vm: KvmVm): number {
  return GUEST_MEMFD_FLAG_MMAP | (vm.hasPrivateMem ? 0 : GUEST_MEMFD_FLAG_INIT_SHARED);
}
