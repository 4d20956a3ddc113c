/**
 * KHO vmalloc preservation (`kho_preserve_vmalloc`, `kho_unpreserve_vmalloc`,
 * `kho_restore_vmalloc`, S-7.1c): the pages behind a vmalloc area are preserved block by
 * block (`1 << order` pages each), and their physical addresses are recorded in a chain of
 * preserved one-page chunks (layout in `./abi/kexec_handover.ts`). The successor rebuilds the
 * area from the 16-byte {@link KhoVmalloc} descriptor and the chunk bytes alone.
 *
 * The historical bugs of kho-facts §6.4 can be switched on by name (`bugs` option, or the
 * kernel profile's `bugs`): `vmalloc-same-head-page`, `vmalloc-chunk-overrun`,
 * `vmalloc-unpreserve-order`, and the error-path quirk `vmalloc-unwind-unset-order`.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { KernelOops } from "../kernel/oops.ts";
import type { BuddyAllocator } from "../kernel/buddy.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import type { FaultInjector } from "../kernel/faults.ts";
import { GFP_KERNEL } from "../kernel/gfp.ts";
import { VM_ALLOC, VM_ALLOW_HUGE_VMAP, type Vmalloc } from "../kernel/vmalloc.ts";
import type { Machine } from "../machine/machine.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import type { AbiProfile, KhoBug } from "./profiles.ts";
import type { Kho } from "./kho.ts";
import {
  chunkPhysOffset,
  KHO_VMALLOC_ALLOC,
  KHO_VMALLOC_CHUNK_SIZE,
  KHO_VMALLOC_HDR_NEXT_OFFSET,
  KHO_VMALLOC_HUGE_VMAP,
  KHO_VMALLOC_SIZE,
  KhoVmalloc,
} from "./abi/kexec_handover.ts";

export { KhoVmalloc };

/** `KHO_VMALLOC_SUPPORTED_FLAGS`: VM_ALLOC | VM_ALLOW_HUGE_VMAP. */
export const KHO_VMALLOC_SUPPORTED_FLAGS: number = VM_ALLOC | VM_ALLOW_HUGE_VMAP;

/** Fault-injection site of a chunk page (`get_zeroed_page` in `new_vmalloc_chunk`). */
export const VMALLOC_CHUNK_SITE = "kho_vmalloc_chunk";
/** Fault-injection site of the restore's page array (`kvmalloc_objs`). */
export const VMALLOC_PAGES_ARRAY_SITE = "kho_restore_vmalloc_pages";

/**
 * With `vmalloc-chunk-overrun`, how far past the end of a chunk the simulator follows the
 * kernel's unbounded loop before giving up (the real loop runs until it reads a zero or
 * faults). 64 KiB = 8192 stray entries.
 */
export const OVERRUN_SCAN_LIMIT_BYTES: number = 64 * 1024;

/**
 * What vmalloc preservation needs of the running kernel: the machine's memory and RAM
 * layout, the page and vmalloc allocators, KHO, the log, fault injection and the profile's
 * bugs. A booted `Kernel` (lib/boot) is one.
 */
export interface KhoVmallocHost {
  /** Physical memory and RAM layout. */
  readonly machine: Pick<Machine, "mem" | "topology">;
  /** The page allocator (chunk pages). */
  readonly buddy: BuddyAllocator;
  /** vmalloc (the areas preserved and restored). */
  readonly vmalloc: Vmalloc;
  /** KHO (preserve and restore of the pages). */
  readonly kho: Kho;
  /** The kernel log. */
  readonly log: KernelLog;
  /** Fault injection (the restore's page array). */
  readonly faults: FaultInjector;
  /** The generation's bugs reproduced by default. */
  readonly profile: Pick<AbiProfile, "bugs">;
}

/** Options of the vmalloc preservation calls. */
export interface VmallocPreserveOptions {
  /** Bugs to reproduce instead of the kernel profile's (`[]` = none). */
  bugs?: readonly KhoBug[];
}

/** `vmalloc_flags_to_kho`. */
export function vmallocFlagsToKho(vmFlags: number): number {
  let f = 0;
  if (vmFlags & VM_ALLOC) f |= KHO_VMALLOC_ALLOC;
  if (vmFlags & VM_ALLOW_HUGE_VMAP) f |= KHO_VMALLOC_HUGE_VMAP;
  return f;
}

/** `kho_flags_to_vmalloc`. */
export function khoFlagsToVmalloc(khoFlags: number): number {
  let f = 0;
  if (khoFlags & KHO_VMALLOC_ALLOC) f |= VM_ALLOC;
  if (khoFlags & KHO_VMALLOC_HUGE_VMAP) f |= VM_ALLOW_HUGE_VMAP;
  return f;
}

function bugsOf(kernel: KhoVmallocHost, opts: VmallocPreserveOptions): ReadonlySet<KhoBug> {
  return new Set(opts.bugs ?? kernel.profile.bugs);
}

/** `new_vmalloc_chunk(cur)`: a zeroed, preserved page linked from `cur`; 0 on failure. */
function newVmallocChunk(kernel: KhoVmallocHost, cur: number): number {
  const pfn = kernel.buddy.allocPages(0, {
    gfp: { ...GFP_KERNEL, zero: true },
    site: VMALLOC_CHUNK_SITE,
  });
  if (pfn === null) return 0;
  kernel.machine.mem.zero(pfn * PAGE_SIZE, PAGE_SIZE);
  try {
    kernel.kho.preservePages(pfn, 1);
  } catch {
    kernel.buddy.freePage(pfn);
    return 0;
  }
  if (cur !== 0) kernel.machine.mem.writeU64(cur + KHO_VMALLOC_HDR_NEXT_OFFSET, pfn * PAGE_SIZE);
  return pfn * PAGE_SIZE;
}

/**
 * Reads `chunk->phys[i]`; returns null where a strict successor refuses to read (past RAM;
 * the kernel faults there: {@link KernelOops}) and -1 where the simulator stops an
 * overrunning loop.
 */
function readChunkEntry(kernel: KhoVmallocHost, chunk: number, i: number): number | null {
  const at = chunk + chunkPhysOffset(i);
  if (at + 8 - (chunk + KHO_VMALLOC_CHUNK_SIZE) > OVERRUN_SCAN_LIMIT_BYTES) return -1;
  if (!kernel.machine.topology.isRam(at, 8)) return chunkFault(kernel, at);
  const [lo, hi] = kernel.machine.mem.readU64Parts(at);
  return hi * 2 ** 32 + lo;
}

/**
 * A chunk read outside RAM: the kernel's oops ({@link KernelOops} in `kho_restore_vmalloc`,
 * or wherever the chunk is walked); a strict successor logs it and fails the call instead.
 */
function chunkFault(kernel: KhoVmallocHost, at: number): null {
  if (!kernel.kho.strict) {
    throw new KernelOops({ address: at, fn: "kho_restore_vmalloc" }, kernel.log);
  }
  kernel.log.error("KHO", `kho_restore_vmalloc: chunk at ${hex(at)} is not RAM (strict check)`);
  return null;
}

/** `kho_vmalloc_unpreserve_chunk(chunk, order)`. */
function unpreserveChunk(
  kernel: KhoVmallocHost,
  chunk: number,
  order: number,
  bugs: ReadonlySet<KhoBug>,
): void {
  const kho = kernel.kho;
  kho.unpreservePages(chunk / PAGE_SIZE, 1);
  const bounded = !bugs.has("vmalloc-chunk-overrun");
  const nr = bugs.has("vmalloc-unpreserve-order") ? 1 : 2 ** order;
  for (let i = 0; !bounded || i < KHO_VMALLOC_SIZE; i++) {
    const phys = readChunkEntry(kernel, chunk, i);
    if (phys === null || phys <= 0) break;
    try {
      kho.unpreservePages(Math.floor(phys / PAGE_SIZE), nr);
    } catch {
      // A stray value beyond the tracker's key range: nothing can be preserved there.
    }
  }
}

/** `kho_unpreserve_vmalloc` over the chunk chain starting at `first` with `order`. */
function unpreserveChain(
  kernel: KhoVmallocHost,
  first: number,
  order: number,
  bugs: ReadonlySet<KhoBug>,
): void {
  let chunk = first;
  while (chunk !== 0) {
    unpreserveChunk(kernel, chunk, order, bugs);
    const next = kernel.machine.mem.readU64(chunk + KHO_VMALLOC_HDR_NEXT_OFFSET);
    kernel.buddy.freePage(chunk / PAGE_SIZE);
    chunk = next;
  }
}

/**
 * `kho_preserve_vmalloc(ptr, &preservation)`: preserves the pages of the vmalloc area
 * containing `addr` and returns the descriptor to hand over.
 *
 * Errors (`KhoError`): EINVAL when `addr` is in no vmalloc area; EOPNOTSUPP for flags other
 * than VM_ALLOC | VM_ALLOW_HUGE_VMAP; ENOMEM when a chunk page cannot be allocated or
 * preserved; the `kho_preserve_pages` error of a data block. On any error every chunk and
 * block preserved by this call is unpreserved and the chunk pages freed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { preserveVmalloc, restoreVmalloc } from "./vmalloc.ts";
 * const k1 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }));
 * const addr = k1.vmalloc.vmalloc(3 * 4096)!;
 * k1.vmalloc.fill(addr, 3 * 4096, { pattern: 7 });
 * const hash = k1.vmalloc.hash64(addr, 3 * 4096);
 * const desc = preserveVmalloc(k1, addr);
 * const k2 = k1.kexec();
 * const back = restoreVmalloc(k2, desc)!;
 * assert.equal(k2.vmalloc.findVmArea(back)!.nrPages, 3);
 * assert.equal(k2.vmalloc.hash64(back, 3 * 4096), hash);
 * ```
 */
export function preserveVmalloc(
  kernel: KhoVmallocHost,
  addr: number,
  opts: VmallocPreserveOptions = {},
): KhoVmalloc {
  const bugs = bugsOf(kernel, opts);
  const vm = kernel.vmalloc.findVmArea(addr);
  if (vm === null) throw new KhoError("EINVAL", `kho_preserve_vmalloc: no vm area at ${hex(addr)}`);
  if (vm.flags & ~KHO_VMALLOC_SUPPORTED_FLAGS) {
    throw new KhoError(
      "EOPNOTSUPP",
      `kho_preserve_vmalloc: vm flags ${hex(vm.flags)} not supported`,
    );
  }
  const flags = vmallocFlagsToKho(vm.flags);
  const order = vm.pageOrder;
  const mem = kernel.machine.mem;

  const first = newVmallocChunk(kernel, 0);
  if (first === 0) throw new KhoError("ENOMEM", "kho_preserve_vmalloc: no chunk page");
  let chunk = first;
  let idx = 0;
  const contig = 2 ** order;
  try {
    for (let i = 0; i < vm.nrPages; i += contig) {
      const pfn = vm.pages[i];
      kernel.kho.preservePages(pfn, contig);
      mem.writeU64(chunk + chunkPhysOffset(idx++), pfn * PAGE_SIZE);
      if (idx === KHO_VMALLOC_SIZE) {
        chunk = newVmallocChunk(kernel, chunk);
        if (chunk === 0) throw new KhoError("ENOMEM", "kho_preserve_vmalloc: no chunk page");
        idx = 0;
      }
    }
  } catch (e) {
    // err_free: kho_unpreserve_vmalloc(preservation), whose order field the kernel has not
    // set yet (the bug name reproduces that; by default the area's order is used).
    const unwindOrder = bugs.has("vmalloc-unwind-unset-order") ? 0 : order;
    unpreserveChain(kernel, first, unwindOrder, bugs);
    throw e;
  }
  return new KhoVmalloc({ first, totalPages: vm.nrPages, flags, order });
}

/**
 * `kho_unpreserve_vmalloc(&preservation)`: unpreserves every chunk and every recorded block
 * and frees the chunk pages. The vmalloc area itself stays allocated.
 */
export function unpreserveVmalloc(
  kernel: KhoVmallocHost,
  desc: KhoVmalloc,
  opts: VmallocPreserveOptions = {},
): void {
  unpreserveChain(kernel, desc.first, desc.order, bugsOf(kernel, opts));
}

/**
 * `kho_restore_vmalloc(&preservation)` in the successor: restores every recorded block
 * (`kho_restore_pages(phys, 1 << order)`) and every chunk page (then frees it), checks that
 * no block goes past `total_pages` and that exactly `total_pages` pages were found, and maps
 * the pages as a new vmalloc area with the preserved page order. Returns its address, or
 * null on any failure (pages already restored are not given back, as in the kernel).
 *
 * The kernel returns NULL without a word for most of these failures (unsupported flags, a
 * block past `total_pages`, a block or chunk that does not restore, a page count that does not
 * match); kholab logs each with a note (`KernelLog.note`), so its callers — memfd retrieve,
 * the test module — never drop what they found silently. The page array's allocation prints
 * the kernel's `warn_alloc` line when it cannot succeed (more than all of RAM).
 */
export function restoreVmalloc(
  kernel: KhoVmallocHost,
  desc: KhoVmalloc,
  opts: VmallocPreserveOptions = {},
): number | null {
  const bugs = bugsOf(kernel, opts);
  const log = kernel.log;
  const fail = (why: string): null => {
    log.note("kho_restore_vmalloc", `${why}: NULL`);
    return null;
  };
  const vmFlags = khoFlagsToVmalloc(desc.flags);
  if (vmFlags & ~KHO_VMALLOC_SUPPORTED_FLAGS) {
    return fail(`flags ${hex(desc.flags)} not supported`);
  }
  const totalPages = desc.totalPages;
  // kvmalloc_objs(*pages, total_pages): an array larger than RAM fails in vmalloc, which warns.
  const arrayBytes = totalPages * 8;
  if (arrayBytes / PAGE_SIZE > kernel.buddy.managedPages()) {
    log.warning("", `vmalloc error: size ${arrayBytes}, exceeds total pages`);
    return null;
  }
  if (kernel.faults.shouldFail(VMALLOC_PAGES_ARRAY_SITE)) {
    log.warning("", `vmalloc error: size ${arrayBytes}, failed to allocate pages`);
    return null;
  }
  const order = desc.order;
  // 1 << order in the kernel's int: from order 31 the count no longer fits (kholab stops).
  if (order > 30) return fail(`order ${order}: 1 << order does not fit the page count`);
  const contig = 2 ** order;
  const pages: number[] = [];
  const bounded = !bugs.has("vmalloc-chunk-overrun");
  const sameHead = bugs.has("vmalloc-same-head-page");
  let chunk = desc.first;
  let idx = 0;
  while (chunk !== 0) {
    // The kernel reads a chunk wherever KHOSER_LOAD_PTR points; strict also wants it aligned.
    if (!kernel.machine.topology.isRam(chunk, 8)) return chunkFault(kernel, chunk);
    if (kernel.kho.strict && chunk % PAGE_SIZE !== 0) return chunkFault(kernel, chunk);
    for (let i = 0; !bounded || i < KHO_VMALLOC_SIZE; i++) {
      const phys = readChunkEntry(kernel, chunk, i);
      if (phys === null) return null; // strict: logged
      if (phys < 0) {
        return fail(`chunk ${hex(chunk)}: no 0 entry in ${OVERRUN_SCAN_LIMIT_BYTES} bytes`);
      }
      if (phys === 0) break;
      if (idx + contig > totalPages) {
        return fail(`chunk ${hex(chunk)} entry ${i}: page ${idx + contig} of ${totalPages}`);
      }
      const pfn = kernel.kho.restorePages(phys, contig);
      if (pfn === null) {
        return fail(`chunk ${hex(chunk)} entry ${i}: kho_restore_pages(${hex(phys)}) failed`);
      }
      for (let j = 0; j < contig; j++) pages[idx++] = sameHead ? pfn : pfn + j;
    }
    const chunkPfn = kernel.kho.restorePages(chunk, 1);
    if (chunkPfn === null) return fail(`chunk ${hex(chunk)} did not restore`);
    const next = kernel.machine.mem.readU64(chunk + KHO_VMALLOC_HDR_NEXT_OFFSET);
    kernel.buddy.freePage(chunkPfn);
    chunk = next;
  }
  if (idx !== totalPages) return fail(`${idx} pages found, total_pages ${totalPages}`);
  if (totalPages === 0) return fail("total_pages 0: no area to map");
  return kernel.vmalloc.vmapPages(pages, order, vmFlags);
}
