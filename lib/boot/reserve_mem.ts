/**
 * memblock `reserve_mem=size:align:name` regions and their KHO hand-over (`mm/memblock.c`,
 * kho-facts §8.3), as two steps of the boot:
 *
 * - {@link reserveMemSetup}, the `reserve_mem=` parameter handler (boot phase `reserve_mem`,
 *   after `memblock_reserve_kern`): each region is first revived from the previous kernel's
 *   `memblock` sub-FDT (`reserve_mem_kho_revive`: same name, `start` aligned, same size — its
 *   content is kept; the KHO walk of `kho_memory_init` memblock-reserves it, nothing restores
 *   it), otherwise allocated from memblock (`memblock_phys_alloc_range`). On a KHO boot
 *   memblock is still in scratch-only mode here, so a fresh region comes from scratch, as in
 *   the kernel.
 * - {@link reserveMemInit}, the `reserve_mem_init` late initcall (boot phase after
 *   `kho_init`): with KHO enabled and at least one region, `prepare_kho_fdt` publishes the
 *   regions in a one-page sub-FDT and preserves each of them. In the notifier era (6.16, 6.18)
 *   that happens in a FINALIZE notifier, as the kernel did then (kho-facts §8.3, History).
 *
 * The regions live in {@link ReserveMemState}, which the boot context fills and the
 * {@link Kernel} exposes as `kernel.reserveMem`.
 *
 * @module
 */

import { type ErrnoName, FdtError, KhoError } from "../errors.ts";
import type { BuddyAllocator } from "../kernel/buddy.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import { KernelOops } from "../kernel/oops.ts";
import { buildMemblockFdt, MEMBLOCK_KHO_FDT, readMemblockRegion } from "../kho/abi/memblock.ts";
import { hasApi } from "../kho/profiles.ts";
import { FdtReader, readBe32 } from "../kho/fdt/mod.ts";
import type { KernelParams } from "../kernel/cmdline.ts";
import type { Memblock } from "../kernel/memblock.ts";
import type { Kho } from "../kho/kho.ts";
import type { KhoNotifier } from "../kho/preserve.ts";
import type { KhoIn } from "../kho/restore.ts";
import type { Machine } from "../machine/machine.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import type { ResolvedBootConfig } from "./options.ts";

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

/** The `reserve_mem` state of one kernel. */
export interface ReserveMemState {
  /** The regions, in command-line order. */
  readonly regions: ReservedMem[];
  /** Names that could be neither revived nor allocated. */
  readonly failed: string[];
  /** The errno of `prepare_kho_fdt`, when it failed (logged, not thrown). */
  khoError?: ErrnoName;
  /** The sub-FDT page, once prepared. */
  fdtPfn: number | null;
}

/** What the KHO steps of `reserve_mem` use: a booted kernel or a boot context. */
export interface ReserveMemHost {
  /** The machine. */
  readonly machine: Machine;
  /** The page allocator. */
  readonly buddy: BuddyAllocator;
  /** KHO. */
  readonly kho: Kho;
  /** The kernel log. */
  readonly log: KernelLog;
  /** The regions. */
  readonly reserveMem: ReserveMemState;
  /** The boot's configuration (strict: a sub-FDT outside RAM fails the revival, no oops). */
  readonly config?: Pick<ResolvedBootConfig, "strict">;
}

/** What the `reserve_mem` phase reads of the boot in progress (a `BootContext`). */
export interface ReserveMemBoot {
  /** The machine. */
  readonly machine: Machine;
  /** The parsed command line. */
  readonly params: KernelParams;
  /** The boot-time allocator. */
  readonly memblock: Memblock;
  /** The incoming KHO state (`kho_populate`), or null. */
  readonly incoming: KhoIn | null;
  /** The kernel log. */
  readonly log: KernelLog;
  /** The regions. */
  readonly reserveMem: ReserveMemState;
  /** The boot's configuration (strict: a sub-FDT outside RAM fails the revival, no oops). */
  readonly config?: Pick<ResolvedBootConfig, "strict">;
}

/** An empty state (before the `reserve_mem` phase). */
export function newReserveMemState(): ReserveMemState {
  return { regions: [], failed: [], fdtPfn: null };
}

/**
 * `reserve_mem_kho_revive(name, size, align)`: the start of the previous kernel's region
 * `name` when the `memblock` sub-FDT has it with compatible `reserve-mem-v1`, a `start`
 * aligned to `align` and exactly `size` bytes; otherwise null (with the kernel's warnings).
 */
export function reserveMemRevive(
  ctx: ReserveMemBoot,
  name: string,
  size: number,
  align: number,
): number | null {
  const incoming = ctx.incoming;
  if (incoming === null || !incoming.isKhoBoot) return null;
  let phys: number;
  try {
    phys = incoming.retrieveSubtree(MEMBLOCK_KHO_FDT).phys;
  } catch {
    return null;
  }
  const mem = ctx.machine.mem;
  const log = ctx.log;
  try {
    if (!ctx.machine.topology.isRam(phys, 8)) {
      // reserve_mem_kho_revive: fdt_node_check_compatible(phys_to_virt(fdt_phys), …) faults.
      if (ctx.config?.strict) return null;
      log.error("memblock", `reserve_mem: sub-FDT at ${hex(phys)} is not RAM`);
      throw new KernelOops({ address: phys, fn: "reserve_mem_kho_revive" }, log);
    }
    const total = Math.min(readBe32(mem.readBytes(phys, 8), 4), PAGE_SIZE);
    const region = readMemblockRegion(new FdtReader(mem.readBytes(phys, total)), name);
    if (region === null) return null;
    const start = region.start;
    if (start % align !== 0) {
      log.warning(
        "memblock",
        `KHO reserve-mem '${name}' has wrong alignment (${hex(start)}, ${hex(align)})`,
      );
      return null;
    }
    if (region.size !== size) {
      log.warning(
        "memblock",
        `KHO reserve-mem '${name}' has wrong size (${hex(region.size)} != ${hex(size)})`,
      );
      return null;
    }
    log.info("memblock", `Revived memory reservation '${name}' from KHO`);
    return start;
  } catch (e) {
    if (e instanceof FdtError) return null;
    throw e;
  }
}

/**
 * Boot phase `reserve_mem`: the `reserve_mem=` handler for every request of the command line
 * (revive, else `memblock_phys_alloc_range(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE)`; at
 * most {@link RESERVE_MEM_MAX_ENTRIES}). A request that gets no memory is logged and dropped.
 */
export function reserveMemSetup(ctx: ReserveMemBoot): void {
  const st = ctx.reserveMem;
  for (const p of ctx.params.reserveMem) {
    if (st.regions.length >= RESERVE_MEM_MAX_ENTRIES) {
      ctx.log.error("memblock", `reserve_mem: too many entries, dropping '${p.name}'`);
      st.failed.push(p.name);
      continue;
    }
    const revived = reserveMemRevive(ctx, p.name, p.size, p.align);
    if (revived !== null) {
      st.regions.push({ name: p.name, start: revived, size: p.size, revived: true });
      continue;
    }
    const start = ctx.memblock.allocRange({ size: p.size, align: p.align });
    if (start === 0) {
      ctx.log.error("memblock", `reserve_mem: failed to allocate '${p.name}' (${hex(p.size)})`);
      st.failed.push(p.name);
      continue;
    }
    st.regions.push({ name: p.name, start, size: p.size, revived: false });
  }
}

/** Pages `kho_preserve_pages` covers for a region: `size >> PAGE_SHIFT`. */
function regionPages(r: ReservedMem): number {
  return Math.floor(r.size / PAGE_SIZE);
}

/** `reserved_mem_preserve`: every region (pages, or 6.16's phys ranges); all or nothing. */
function preserveRegions(host: ReserveMemHost): void {
  const kho = host.kho;
  const regions = host.reserveMem.regions;
  let done = 0;
  try {
    for (const r of regions) {
      if (regionPages(r) > 0) kho.preserveRange(r.start / PAGE_SIZE, regionPages(r));
      done++;
    }
  } catch (e) {
    if (hasApi(kho.profile, "unpreservePages")) {
      for (const r of regions.slice(0, done)) {
        if (regionPages(r) > 0) kho.unpreservePages(r.start / PAGE_SIZE, regionPages(r));
      }
    }
    throw e;
  }
}

/**
 * `prepare_kho_fdt` + `reserved_mem_preserve`: a page; the `memblock` sub-FDT in it; then
 * (6.19 on, RFC v1) the page preserved, `kho_add_subtree("memblock", fdt, totalsize)` and every
 * region preserved with `kho_preserve_pages`; or (6.16, 6.18) a FINALIZE notifier that
 * preserves the regions and the page and adds the sub-FDT to the serialization. On failure
 * what the generation can undo is undone and the error thrown (ENOMEM for the page). Preparing
 * twice is a misuse of the API (RangeError).
 */
export function reserveMemPrepareKho(host: ReserveMemHost): void {
  const st = host.reserveMem;
  if (st.fdtPfn !== null) {
    throw new RangeError("reserveMemPrepareKho: already prepared in this kernel");
  }
  const pfn = host.buddy.allocPages(0, { site: RESERVE_MEM_FDT_SITE });
  if (pfn === null) throw new KhoError("ENOMEM", "prepare_kho_fdt: no page");
  const kho = host.kho;
  const phys = pfn * PAGE_SIZE;
  let fdt: Uint8Array;
  try {
    fdt = buildMemblockFdt(st.regions);
  } catch (e) {
    host.buddy.freePage(pfn);
    throw e instanceof FdtError ? new KhoError("ENOMEM", e.message) : e;
  }
  host.machine.mem.writeBytes(phys, fdt);
  if (kho.profile.finalize === "notifier") {
    const notifier: KhoNotifier = (event, ser) => {
      if (event !== "finalize") return 0;
      try {
        preserveRegions(host);
        kho.preserveFolio(pfn);
        ser!.addSubtree(MEMBLOCK_KHO_FDT, phys);
      } catch (e) {
        if (e instanceof KhoError) return -e.errno;
        throw e;
      }
      return 0;
    };
    kho.registerNotifier(notifier);
    st.fdtPfn = pfn;
    return;
  }
  const canUnpreserve = hasApi(kho.profile, "unpreservePages");
  try {
    kho.preserveRange(pfn, 1);
  } catch (e) {
    host.buddy.freePage(pfn);
    throw e;
  }
  try {
    kho.addSubtree(MEMBLOCK_KHO_FDT, phys, fdt.length);
  } catch (e) {
    if (canUnpreserve) {
      kho.unpreservePages(pfn, 1);
      host.buddy.freePage(pfn);
    }
    throw e instanceof FdtError ? new KhoError("ENOMEM", e.message) : e;
  }
  try {
    preserveRegions(host);
  } catch (e) {
    if (canUnpreserve && hasApi(kho.profile, "removeSubtree")) {
      kho.removeSubtree(phys);
      kho.unpreservePages(pfn, 1);
      host.buddy.freePage(pfn);
    }
    throw e;
  }
  st.fdtPfn = pfn;
}

/**
 * Drops this kernel's KHO hand-over of the regions (the inverse of
 * {@link reserveMemPrepareKho}, where the generation has `kho_unpreserve_pages` and
 * `kho_remove_subtree`; EOPNOTSUPP naming the missing API otherwise): unpreserves the
 * regions and the sub-FDT page, removes the sub-tree and frees the page. The regions
 * themselves stay reserved.
 */
export function reserveMemUnprepareKho(host: ReserveMemHost): void {
  const st = host.reserveMem;
  if (st.fdtPfn === null) return;
  const kho = host.kho;
  for (
    const [api, name] of [["unpreservePages", "kho_unpreserve_pages"], [
      "removeSubtree",
      "kho_remove_subtree",
    ]] as const
  ) {
    if (!hasApi(kho.profile, api)) {
      throw new KhoError(
        "EOPNOTSUPP",
        `${name} does not exist in ${kho.profile.name} (${kho.profile.kernel})`,
      );
    }
  }
  for (const r of st.regions) {
    if (regionPages(r) > 0) kho.unpreservePages(r.start / PAGE_SIZE, regionPages(r));
  }
  kho.removeSubtree(st.fdtPfn * PAGE_SIZE);
  kho.unpreservePages(st.fdtPfn, 1);
  host.buddy.freePage(st.fdtPfn);
  st.fdtPfn = null;
}

/**
 * Boot phase `reserve_mem_init` (the late initcall): `prepare_kho_fdt` when KHO is enabled and
 * there is at least one region; a failure is logged and recorded in `khoError`, not thrown.
 */
export function reserveMemInit(ctx: ReserveMemHost): void {
  const st = ctx.reserveMem;
  if (!ctx.kho.enabled || st.regions.length === 0) return;
  try {
    reserveMemPrepareKho(ctx);
  } catch (e) {
    if (!(e instanceof KhoError)) throw e;
    st.khoError = e.code;
    ctx.log.error("memblock", `failed to prepare memblock FDT for KHO: -${e.code}`);
  }
}
