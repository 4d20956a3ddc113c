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
import {
  buildMemblockFdt,
  MEMBLOCK_KHO_FDT,
  MEMBLOCK_KHO_NODE_COMPATIBLE,
  RESERVE_MEM_KHO_NODE_COMPATIBLE,
  RESERVE_MEM_KHO_SIZE_PROP,
  RESERVE_MEM_KHO_START_PROP,
} from "../kho/abi/memblock.ts";
import { decodeKhoFdtU64 } from "../kho/abi/kexec_handover.ts";
import { type AbiProfile, hasApi } from "../kho/profiles.ts";
import { libfdtRet } from "../kho/fdt/reader.ts";
import { readPhysFdt } from "../kho/phys_fdt.ts";
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
export interface ReserveMemBoot extends Omit<ReserveMemHost, "buddy" | "kho"> {
  /** The parsed command line. */
  readonly params: KernelParams;
  /** The boot-time allocator. */
  readonly memblock: Memblock;
  /** The incoming KHO state (`kho_populate`), or null. */
  readonly incoming: KhoIn | null;
}

/** An empty state (before the `reserve_mem` phase). */
export function newReserveMemState(): ReserveMemState {
  return { regions: [], failed: [], fdtPfn: null };
}

/**
 * `reserve_mem_kho_revive(name, size, align)` (kho-facts §8.3, `mm/memblock.c`): the start of
 * the previous kernel's region `name` when the `memblock` sub-FDT (`kho_retrieve_subtree`,
 * read through `phys_to_virt`: a blob outside RAM is an oops, `./lib/kho/phys_fdt.ts`) is
 * `memblock-v1`, has a child `name` that is `reserve-mem-v1` with `start` and `size` of 8
 * bytes each, `start` aligned to `align` and `size` the requested size; otherwise null. Every
 * refusal is logged as the kernel logs it ("failed to retrieve FDT", "is incompatible with",
 * "has no child", "wrong alignment", "wrong size"); a `start` or `size` property of the
 * wrong length, and an FDT libfdt cannot read (`kho_retrieve_subtree`'s -ENOENT), which the
 * kernel refuses silently, get a kholab note. A `start` beyond what
 * a JavaScript number holds exactly (2^53) cannot be carried: refused with a note where the
 * generation would hand it on (before 7.1; from 7.1 the kernel's `kho_preserve_pages` of
 * the region faults first, see {@link reserveMemPrepareKho}).
 */
export function reserveMemRevive(
  ctx: ReserveMemBoot,
  name: string,
  size: number,
  align: number,
): number | null {
  const incoming = ctx.incoming;
  if (incoming === null || !incoming.isKhoBoot) return null;
  const log = ctx.log;
  /** The kernel's `pr_warn` of a refused region, and the refusal. */
  const refuse = (message: string): null => {
    log.warning("memblock", message);
    return null;
  };
  let phys: number;
  try {
    phys = incoming.retrieveSubtree(MEMBLOCK_KHO_FDT).phys;
  } catch (e) {
    if (!(e instanceof KhoError)) throw e;
    if (e.code !== "ENOENT") {
      refuse(`failed to retrieve FDT '${MEMBLOCK_KHO_FDT}' from KHO: ${-e.errno}`);
    } else if (e.cause instanceof FdtError && e.cause.code !== "FDT_ERR_NOTFOUND") {
      // kho_retrieve_subtree's -ENOENT for an FDT libfdt cannot read: the kernel says nothing
      log.note(
        "memblock",
        `reserve_mem_kho_revive: '${name}': the KHO FDT is unreadable (${e.cause.code}); ` +
          "allocated afresh",
      );
    }
    return null;
  }
  const topology = ctx.machine.topology;
  const host = { mem: ctx.machine.mem, isRam: (p: number, n: number) => topology.isRam(p, n), log };
  const at = {
    fn: "reserve_mem_kho_revive",
    structure: "memblock sub-FDT",
    strict: ctx.config?.strict,
  };
  let region: { start: number; size: number } | null;
  try {
    region = readPhysFdt(host, phys, at, (rd) => {
      const root = libfdtRet(() => rd.nodeCheckCompatible(0, MEMBLOCK_KHO_NODE_COMPATIBLE));
      if (root !== 0) {
        return refuse(
          `FDT '${MEMBLOCK_KHO_FDT}' is incompatible with '${MEMBLOCK_KHO_NODE_COMPATIBLE}': ${root}`,
        );
      }
      const off = libfdtRet(() => rd.subnodeOffset(0, name));
      if (off < 0) return refuse(`FDT '${MEMBLOCK_KHO_FDT}' has no child '${name}': ${off}`);
      const node = libfdtRet(() => rd.nodeCheckCompatible(off, RESERVE_MEM_KHO_NODE_COMPATIBLE));
      if (node !== 0) {
        return refuse(
          `Node '${name}' is incompatible with '${RESERVE_MEM_KHO_NODE_COMPATIBLE}': ${node}`,
        );
      }
      const prop = (p: string) => {
        try {
          return decodeKhoFdtU64(rd.getprop(off, p));
        } catch (e) {
          if (e instanceof FdtError) return null; // fdt_getprop gives NULL
          throw e;
        }
      };
      const start = prop(RESERVE_MEM_KHO_START_PROP);
      const sz = prop(RESERVE_MEM_KHO_SIZE_PROP);
      if (start === null || sz === null) {
        log.note("memblock", `reserve_mem_kho_revive: '${name}': start or size is not 8 bytes`);
        return null;
      }
      return { start, size: sz };
    });
  } catch (e) {
    if (e instanceof KhoError && e.code === "EFAULT") return null; // strict: logged
    if (!(e instanceof FdtError)) throw e;
    // The header check failed: fdt_node_check_compatible returns that error.
    return refuse(
      `FDT '${MEMBLOCK_KHO_FDT}' is incompatible with '${MEMBLOCK_KHO_NODE_COMPATIBLE}': ${e.fdtErrno}`,
    );
  }
  if (region === null) return null;
  const { start } = region;
  if (start % align !== 0) {
    return refuse(`KHO reserve-mem '${name}' has wrong alignment (${hex(align)}, ${hex(start)})`);
  }
  if (region.size !== size) {
    return refuse(`KHO reserve-mem '${name}' has wrong size (${hex(region.size)} != ${hex(size)})`);
  }
  if (!Number.isSafeInteger(start) && !preserveTouchesStructPages(ctx.incoming!.profile)) {
    log.note(
      "memblock",
      `reserve_mem_kho_revive: '${name}' at ${hex(start)}: beyond 2^53, kholab cannot carry ` +
        "the address; allocated afresh",
    );
    return null;
  }
  log.info("memblock", `Revived memory reservation '${name}' from KHO`);
  return start;
}

/**
 * Whether this generation's `kho_preserve_pages` reads the struct page of every block it
 * preserves: 7.1's NUMA rule (`pfn_to_nid`) and the page-type RFC (the second page's
 * refcount) do. A revived region outside RAM then faults there.
 */
function preserveTouchesStructPages(p: AbiProfile): boolean {
  return p.numaAwarePages || p.tracker === "radix-typed" || p.tracker === "radix-typed-fixed";
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
  // A region revived from corrupt bytes may lie outside RAM: kho_preserve_pages reads its
  // struct pages (7.1's pfn_to_nid, the page-type RFC's refcount check) and faults.
  if (preserveTouchesStructPages(host.kho.profile)) {
    for (const r of st.regions) {
      if (regionPages(r) === 0 || host.machine.topology.isRam(r.start, r.size)) continue;
      host.log.error(
        "memblock",
        `reserved_mem_preserve: '${r.name}' at ${hex(r.start)} is not RAM`,
      );
      throw new KernelOops(
        { address: r.start, fn: "kho_preserve_pages", structure: "struct page" },
        host.log,
      );
    }
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
  kho.requireApi("unpreservePages", "kho_unpreserve_pages");
  kho.requireApi("removeSubtree", "kho_remove_subtree");
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
