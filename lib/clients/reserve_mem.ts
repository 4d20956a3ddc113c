/**
 * memblock `reserve_mem=size:align:name` regions and their KHO hand-over (`mm/memblock.c`,
 * kho-facts §8.3). A region is first revived from the previous kernel's `memblock`
 * sub-FDT (same name, `start` aligned, same size — its content is kept), otherwise
 * allocated afresh; then, with KHO enabled and at least one region, `prepare_kho_fdt`
 * publishes the regions in a one-page sub-FDT and preserves each of them.
 *
 * Modelling choice: the kernel parses `reserve_mem=` early and allocates with
 * `memblock_phys_alloc_range` before the page allocator exists. kholab runs the client
 * after boot ({@link reserveMemInit}), so a fresh region is taken from the buddy allocator
 * as one physically contiguous range: the lowest free naturally aligned block of
 * `max(size, align)` rounded up to a power of two pages (outside scratch/CMA), of which
 * exactly `ceil(size / PAGE_SIZE)` pages are isolated (`alloc_contig_range`; each page gets
 * refcount 1, the rest stays free). Revived regions need no allocation: the successor's
 * KHO walk already reserved them, and, as in the kernel, nothing restores them.
 *
 * @module
 */

import { type ErrnoName, FdtError, KhoError } from "../errors.ts";
import { allocContigRange } from "../kernel/gigantic.ts";
import type { Kernel } from "../boot/kernel.ts";
import {
  buildMemblockFdt,
  MEMBLOCK_KHO_FDT,
  MEMBLOCK_KHO_NODE_COMPATIBLE,
  RESERVE_MEM_KHO_NODE_COMPATIBLE,
} from "../kho/abi/memblock.ts";
import { FdtReader, readBe32, readLe64 } from "../kho/fdt/mod.ts";
import { hex, PAGE_SIZE } from "../units.ts";

/** Fault-injection site of a fresh region. */
export const RESERVE_MEM_SITE = "reserve_mem";
/** Fault-injection site of the sub-FDT page (`alloc_page` in `prepare_kho_fdt`). */
export const RESERVE_MEM_FDT_SITE = "reserve_mem_kho_fdt";
/** `RESERVE_MEM_MAX_ENTRIES`. */
export const RESERVE_MEM_MAX_ENTRIES = 8;

/** One `reserve_mem` region of this kernel. */
export interface ReservedMem {
  /** The user's name. */
  readonly name: string;
  /** Physical start. */
  readonly start: number;
  /** Size in bytes, as requested. */
  readonly size: number;
  /** True when the region came back from the previous kernel through KHO. */
  readonly revived: boolean;
}

interface Table {
  regions: ReservedMem[];
  fdtPfn: number | null;
}

const tables = new WeakMap<Kernel, Table>();

function tableOf(kernel: Kernel): Table {
  let t = tables.get(kernel);
  if (t === undefined) {
    t = { regions: [], fdtPfn: null };
    tables.set(kernel, t);
  }
  return t;
}

/** The `reserve_mem` regions of this kernel, in command-line order. */
export function reservedMem(kernel: Kernel): readonly ReservedMem[] {
  return tableOf(kernel).regions;
}

/**
 * `reserve_mem_kho_revive(name, size, align)`: the start of the previous kernel's region
 * `name` when the `memblock` sub-FDT has it with compatible `reserve-mem-v1`, a `start`
 * aligned to `align` and exactly `size` bytes; otherwise null (with the kernel's warnings).
 */
export function reserveMemRevive(
  kernel: Kernel,
  name: string,
  size: number,
  align: number,
): number | null {
  if (!kernel.kho.isKhoBoot) return null;
  let phys: number;
  try {
    phys = kernel.kho.retrieveSubtree(MEMBLOCK_KHO_FDT).phys;
  } catch {
    return null;
  }
  const mem = kernel.machine.mem;
  try {
    const total = Math.min(readBe32(mem.readBytes(phys, 8), 4), PAGE_SIZE);
    const rd = new FdtReader(mem.readBytes(phys, total));
    if (rd.nodeCheckCompatible(0, MEMBLOCK_KHO_NODE_COMPATIBLE) !== 0) return null;
    const off = rd.subnodeOffset(0, name);
    if (rd.nodeCheckCompatible(off, RESERVE_MEM_KHO_NODE_COMPATIBLE) !== 0) return null;
    const pStart = rd.getprop(off, "start");
    const pSize = rd.getprop(off, "size");
    if (pStart === null || pSize === null || pStart.length !== 8 || pSize.length !== 8) {
      return null;
    }
    const start = readLe64(pStart);
    if (start % align !== 0) {
      kernel.log.warning(
        "memblock",
        `KHO reserve-mem '${name}' has wrong alignment (${hex(start)}, ${hex(align)})`,
      );
      return null;
    }
    if (readLe64(pSize) !== size) {
      kernel.log.warning(
        "memblock",
        `KHO reserve-mem '${name}' has wrong size (${hex(readLe64(pSize))} != ${hex(size)})`,
      );
      return null;
    }
    kernel.log.info("memblock", `Revived memory reservation '${name}' from KHO`);
    return start;
  } catch (e) {
    if (e instanceof FdtError) return null;
    throw e;
  }
}

/**
 * A fresh, physically contiguous region (see the module note); null when no aligned range
 * is free or on an injected fault.
 */
function allocRegion(kernel: Kernel, size: number, align: number): number | null {
  const pages = Math.ceil(size / PAGE_SIZE);
  const span = Math.max(pages, Math.ceil(align / PAGE_SIZE));
  const order = Math.ceil(Math.log2(span));
  for (const nid of kernel.machine.topology.nodesWithMemory()) {
    const start = kernel.buddy.findFreeRange(nid, order);
    if (start === null) continue;
    if (allocContigRange(kernel.buddy, start, start + pages, { site: RESERVE_MEM_SITE })) {
      return start * PAGE_SIZE;
    }
    return null;
  }
  return null;
}

/** Pages `kho_preserve_pages` covers for a region: `size >> PAGE_SHIFT`. */
function regionPages(r: ReservedMem): number {
  return Math.floor(r.size / PAGE_SIZE);
}

/**
 * `prepare_kho_fdt` + `reserved_mem_preserve`: a page, preserved; the `memblock` sub-FDT;
 * `kho_add_subtree("memblock", fdt, totalsize)`; then every region preserved with
 * `kho_preserve_pages`. On failure all of it is undone and the error thrown (ENOMEM for the
 * page). Regions smaller than a page are published but have no pages to preserve.
 */
export function reserveMemPrepareKho(kernel: Kernel): void {
  const t = tableOf(kernel);
  if (t.fdtPfn !== null) throw new KhoError("EBUSY", "memblock FDT already prepared");
  const pfn = kernel.buddy.allocPages(0, { site: RESERVE_MEM_FDT_SITE });
  if (pfn === null) throw new KhoError("ENOMEM", "prepare_kho_fdt: no page");
  const kho = kernel.kho;
  const phys = pfn * PAGE_SIZE;
  try {
    kho.preservePages(pfn, 1);
  } catch (e) {
    kernel.buddy.freePage(pfn);
    throw e;
  }
  try {
    const fdt = buildMemblockFdt(t.regions);
    kernel.machine.mem.writeBytes(phys, fdt);
    kho.addSubtree(MEMBLOCK_KHO_FDT, phys, fdt.length);
  } catch (e) {
    kho.unpreservePages(pfn, 1);
    kernel.buddy.freePage(pfn);
    throw e instanceof FdtError ? new KhoError("ENOMEM", e.message) : e;
  }
  let done = 0;
  try {
    for (const r of t.regions) {
      if (regionPages(r) > 0) kho.preservePages(r.start / PAGE_SIZE, regionPages(r));
      done++;
    }
  } catch (e) {
    for (const r of t.regions.slice(0, done)) {
      if (regionPages(r) > 0) kho.unpreservePages(r.start / PAGE_SIZE, regionPages(r));
    }
    kho.removeSubtree(phys);
    kho.unpreservePages(pfn, 1);
    kernel.buddy.freePage(pfn);
    throw e;
  }
  t.fdtPfn = pfn;
}

/** What {@link reserveMemInit} did. */
export interface ReserveMemInitResult {
  /** The regions of this kernel. */
  regions: readonly ReservedMem[];
  /** Names that could be neither revived nor allocated. */
  failed: string[];
  /** The errno of `prepare_kho_fdt`, when it failed (logged, not thrown). */
  khoError?: ErrnoName;
}

/**
 * The `reserve_mem=` parser for every request of the command line (revive, else allocate)
 * followed by `reserve_mem_init` (the late initcall: `prepare_kho_fdt` when KHO is enabled
 * and there is at least one region). Call once per boot.
 *
 * @example
 * ```ts
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { reserveMemInit } from "./reserve_mem.ts";
 * const m = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
 * const k1 = Kernel.coldBoot(m, { cmdline: "reserve_mem=8M:2M:trace" });
 * const r1 = reserveMemInit(k1).regions[0];
 * const k2 = k1.kexec();
 * const r2 = reserveMemInit(k2).regions[0];
 * console.assert(r2.revived && r2.start === r1.start);
 * ```
 */
export function reserveMemInit(kernel: Kernel): ReserveMemInitResult {
  const t = tableOf(kernel);
  if (t.regions.length > 0 || t.fdtPfn !== null) {
    throw new RangeError("reserveMemInit: already initialised in this kernel");
  }
  const failed: string[] = [];
  for (const p of kernel.params.reserveMem) {
    if (t.regions.length >= RESERVE_MEM_MAX_ENTRIES) {
      kernel.log.error("memblock", `reserve_mem: too many entries, dropping '${p.name}'`);
      failed.push(p.name);
      continue;
    }
    const revived = reserveMemRevive(kernel, p.name, p.size, p.align);
    if (revived !== null) {
      t.regions.push({ name: p.name, start: revived, size: p.size, revived: true });
      continue;
    }
    const start = allocRegion(kernel, p.size, p.align);
    if (start === null) {
      kernel.log.error("memblock", `reserve_mem: failed to allocate '${p.name}' (${hex(p.size)})`);
      failed.push(p.name);
      continue;
    }
    t.regions.push({ name: p.name, start, size: p.size, revived: false });
  }
  let khoError: ErrnoName | undefined;
  if (kernel.kho.enabled && t.regions.length > 0) {
    try {
      reserveMemPrepareKho(kernel);
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
      khoError = e.code;
      kernel.log.error("memblock", `failed to prepare memblock FDT for KHO: -${e.code}`);
    }
  }
  return { regions: t.regions, failed, khoError };
}

/**
 * Drops this kernel's KHO hand-over of the regions (the inverse of
 * {@link reserveMemPrepareKho}): unpreserves the regions and the sub-FDT page, removes the
 * sub-tree and frees the page. The regions themselves stay reserved.
 */
export function reserveMemUnprepareKho(kernel: Kernel): void {
  const t = tableOf(kernel);
  if (t.fdtPfn === null) return;
  const kho = kernel.kho;
  for (const r of t.regions) {
    if (regionPages(r) > 0) kho.unpreservePages(r.start / PAGE_SIZE, regionPages(r));
  }
  kho.removeSubtree(t.fdtPfn * PAGE_SIZE);
  kho.unpreservePages(t.fdtPfn, 1);
  kernel.buddy.freePage(t.fdtPfn);
  t.fdtPfn = null;
}
