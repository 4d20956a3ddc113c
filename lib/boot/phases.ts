/**
 * The boot sequence as named phases in the kernel's init order, each a function named after
 * the kernel function it models and run on the boot's {@link BootContext}:
 *
 * | phase                   | what it does here                                                      |
 * | ----------------------- | ---------------------------------------------------------------------- |
 * | `e820__memblock_setup`  | RAM of every node into memblock; the low pages reserved                |
 * | `kho_populate`          | validate the handover; scratch memblock add + mark; scratch-only mode  |
 * | `memblock_reserve_kern` | reserve the kernel image                                               |
 * | `reserve_mem`           | `reserve_mem=` regions: revived from the `memblock` sub-FDT, or new    |
 * | `sparse_init`           | the memmap (struct pages) from memblock, per node                      |
 * | `kho_extend_scratch`    | KHO boot, `rfc-2026-ext-scratch`: gaps between preserved GiBs → EXT    |
 * | `hugetlb_bootmem_alloc` | `hugetlb_cma=` and the gigantic HugeTLB pages from memblock            |
 * | `kho_reserve_scratch`   | cold boot: reserve the scratch areas for the next kernel               |
 * | `free_area_init`        | the buddy allocator (empty free lists)                                 |
 * | `kho_memory_init`       | KHO boot: scratch pageblocks → CMA, the tracker walk; end scratch-only |
 * | `memblock_free_all`     | everything free to the buddy allocator (poisoned)                      |
 * | `vmalloc_init`          | the vmalloc address space                                              |
 * | `kho_init`              | cold boot: scratch → CMA pageblocks; KHO's outgoing state              |
 * | `liveupdate_early_init` | LUO (6.19 on): `liveupdate=`, incoming LUO state checked (panics)      |
 * | `hugetlb_init`          | the HugeTLB pools: boot-memory folios gathered (HVO), 2 MiB pools      |
 * | `luo_late_startup`      | LUO's outgoing state (`liveupdate_num + 1`), `/dev/liveupdate`         |
 * | `reserve_mem_init`      | late initcall: the regions and their `memblock` sub-FDT preserved      |
 *
 * To extend the boot, insert a phase into {@link BOOT_PHASES} at its place in the kernel's
 * order: a file handler's module init (e.g. `memfd_luo_init`, a device_initcall calling
 * `ctx.liveupdate.registerFileHandler`) between `liveupdate_early_init` and
 * `luo_late_startup`. The kernel's configuration (`ctx.config`: CONFIG_KEXEC_HANDOVER_DEBUG,
 * CONFIG_DEFERRED_STRUCT_PAGE_INIT, a kdump kernel, kholab's strict checks) is read by the
 * phases it changes: `kho_populate` (strict checks), `kho_reserve_scratch` (a kdump kernel
 * disables KHO), `kho_memory_init` (deferred struct page init, the kernel's walk or the strict
 * one), `kho_init` (the debug scratch checks). The kexec path has its own steps in `./kexec.ts`.
 *
 * @module
 */

import { hasGuestMemory } from "../kho/profiles.ts";
import { hex, PAGE_SIZE, PAGEBLOCK_NR_PAGES, PAGES_PER_SECTION, SECTION_SIZE } from "../units.ts";
import { KernelBug, KhoError } from "../errors.ts";
import { BuddyAllocator } from "../kernel/buddy.ts";
import { kstrtobool } from "../kernel/cmdline.ts";
import { Hugetlb, parseHugetlbParams, stringGetSize } from "../kernel/hugetlb.ts";
import type { VmemmapFold } from "../kernel/vmemmap.ts";
import { MIGRATE_CMA } from "../kernel/gfp.ts";
import { MemblockFlags } from "../kernel/memblock.ts";
import { KernelOops } from "../kernel/oops.ts";
import { KernelPanic } from "../kernel/panic.ts";
import { Vmalloc } from "../kernel/vmalloc.ts";
import { Kho, LOW_RESERVED_BYTES } from "../kho/kho.ts";
import { KHO_PAGE_MAGIC, KhoIn, validateHandover } from "../kho/restore.ts";
import { khoExtendScratch } from "../kho/ext_scratch.ts";
import { LiveUpdate } from "../luo/luo_core.ts";
import { flbIncomingEarly } from "../luo/luo_flb.ts";
import { HUGETLB_FLB_COMPATIBLE, HUGETLB_SER_LAYOUT, readHugetlbSer } from "../kho/abi/hugetlb.ts";
import {
  DEFAULT_SCRATCH_SCALE,
  parseKhoScratch,
  reserveScratch,
  type ScratchSizing,
} from "../kho/scratch.ts";
import type { BootContext } from "./context.ts";
import { POISON_SEED } from "./options.ts";
import { reserveMemInit, reserveMemSetup } from "./reserve_mem.ts";
import { vmemmapFoldSource } from "./vmemmap_fold.ts";

/** One step of the boot sequence. */
export interface BootPhase {
  /** The kernel function it models (`"kho_populate"`). */
  readonly name: string;
  /** Runs the phase. */
  readonly run: (ctx: BootContext) => void;
}

/**
 * `e820__memblock_setup` and the early reservations of `setup_arch`: the low memory, and the
 * ranges the caller holds for itself (`BootOptions.heldRanges`).
 */
export function e820MemblockSetup(ctx: BootContext): void {
  ctx.memblock.addTopologyRam();
  ctx.memblock.reserve(0, LOW_RESERVED_BYTES);
  for (const r of ctx.options.heldRanges ?? []) ctx.memblock.reserve(r.start, r.size);
}

/**
 * `kho_populate`: validate the handover before anything else is allocated — what the kernel
 * checks, plus kholab's extra checks in strict mode (`config.strict`, which also requires the
 * kernel image inside scratch). On success the scratch areas are added to memblock and marked
 * (whatever they say: the kernel checks none of them), the scratch array reserved, memblock
 * allocates only from scratch, and the incoming state (`kho_in`: the FDT, so that
 * `kho_retrieve_subtree` works from here on) is set up; on failure "disabling KHO revival"
 * and an ordinary boot.
 */
export function khoPopulate(ctx: BootContext): void {
  const { handover } = ctx.handoff;
  if (!handover) return;
  const { machine: { mem, topology }, log, memblock: mb } = ctx;
  const strict = ctx.config.strict;
  const r = validateHandover({
    mem,
    topology,
    profile: ctx.profile,
    handover,
    forbidden: [{ addr: 0, size: LOW_RESERVED_BYTES }],
    strict,
  });
  const refuse = (reason: string, strictCheck?: string) => {
    ctx.revivalRefused = reason;
    ctx.strictCheck = strictCheck;
    log.warning(
      "KHO",
      `disabling KHO revival: ${reason}${strictCheck ? ` (strict check: ${strictCheck})` : ""}`,
    );
  };
  if (!r.ok) {
    refuse(r.reason, r.strictCheck);
  } else if (
    strict &&
    !r.scratch.some((a) =>
      ctx.imagePhys >= a.addr && ctx.imagePhys + ctx.imageBytes <= a.addr + a.size
    )
  ) {
    refuse(
      `kernel image at ${hex(ctx.imagePhys)} is outside scratch`,
      "kernel image inside scratch",
    );
  } else {
    ctx.populated = r;
    ctx.scratch = r.scratch;
    for (const a of r.scratch) {
      // memblock_add + memblock_mark_kho_scratch; an area memblock cannot even represent is
      // left to kho_memory_init, where its missing struct pages end the boot.
      if (a.size === 0 || !Number.isSafeInteger(a.addr + a.size)) continue;
      mb.add(a.addr, a.size);
      mb.markKhoScratch(a.addr, a.size);
    }
    mb.reserve(handover.scratchPhys, handover.scratchLen);
    mb.setKhoScratchOnly();
    ctx.incoming = new KhoIn(
      { mem, topology, memblock: mb, memmap: ctx.memmap, log },
      ctx.profile,
      handover.fdtPhys,
      r,
    );
    log.info("KHO", `found kexec handover data (FDT ${hex(handover.fdtPhys)})`);
  }
}

/** `memblock_reserve_kern` of the kernel image. */
export function memblockReserveKern(ctx: BootContext): void {
  ctx.memblock.reserve(ctx.imagePhys, ctx.imageBytes, {
    nid: ctx.machine.topology.nidOfPhys(ctx.imagePhys),
    flags: MemblockFlags.RSRV_KERN,
  });
}

/**
 * `sparse_init`: struct pages come from memblock, one buffer per node holding the vmemmap of
 * its present sections (`ctx.memmap.vmemmap`); panics when they cannot. With
 * `memmapBytesPerPage` 0 the vmemmap is counted (64 bytes per page) but not charged. On a KHO
 * boot of a profile with a folded-vmemmap design (`./vmemmap_fold.ts`), the folios it names
 * are mapped folded instead: their sections take no buffer.
 */
export function sparseInit(ctx: BootContext): void {
  const memmapPerPage = ctx.options.memmapBytesPerPage ?? 64;
  const topology = ctx.machine.topology;
  const vmemmap = ctx.memmap.vmemmap;
  const folds = foldsAtBoot(ctx);
  const folded = new Set<number>();
  for (const f of folds) {
    for (let i = 0; i < 2 ** f.order / PAGES_PER_SECTION; i++) {
      folded.add(f.headPfn / PAGES_PER_SECTION + i);
    }
  }
  const sectionsOf = (nid: number) => {
    const out: number[] = [];
    for (const r of topology.ranges) {
      if (r.nid !== nid) continue;
      for (let a = r.start; a < r.end; a += SECTION_SIZE) {
        if (!folded.has(a / SECTION_SIZE)) out.push(a / SECTION_SIZE);
      }
    }
    return out;
  };
  if (memmapPerPage <= 0) {
    for (const nid of topology.nodesWithMemory()) {
      vmemmap.populate({ nid, phys: 0, sections: sectionsOf(nid) });
    }
  } else {
    for (const nid of topology.nodesWithMemory()) {
      const foldedBytes = folds.filter((f) => topology.nidOfPfn(f.headPfn) === nid)
        .reduce((n, f) => n + 2 ** f.order * PAGE_SIZE, 0);
      const pages = (topology.nodeBytes(nid) - foldedBytes) / PAGE_SIZE;
      const size = Math.ceil(pages * memmapPerPage / PAGE_SIZE) * PAGE_SIZE;
      const phys = size === 0 ? 0 : ctx.memblock.allocRange({ size, align: PAGE_SIZE, nid });
      if (phys === 0 && size > 0) {
        throw new KernelPanic(
          `cannot allocate the memmap of node ${nid} (${hex(size)} bytes)`,
          ctx.log,
        );
      }
      if (size > 0 && !topology.isRam(phys, size)) {
        // A handed-over scratch area that is not RAM: scratch-only memblock allocated the
        // memmap there, and initialising it writes memory that does not exist.
        ctx.log.error("", `sparse_init: memmap of node ${nid} at ${hex(phys)} is not RAM`);
        throw new KernelOops({ address: phys, fn: "sparse_init" }, ctx.log);
      }
      vmemmap.populate({ nid, phys, sections: sectionsOf(nid) });
    }
  }
  for (const f of folds) vmemmap.fold(f);
  if (folds.length > 0) {
    ctx.log.info(
      "",
      `sparse_init: vmemmap of ${folds.length} preserved folios mapped folded ` +
        `(${vmemmapFoldSource(ctx.profile.name)!.name})`,
    );
  }
}

/**
 * The folios a folded-vmemmap design maps folded on this boot (none without a design, on a
 * cold boot, or where KHO revival was refused). The boot checks what the design cannot get
 * wrong without a bug of its own (a {@link KernelBug}): whole sections of RAM on one node,
 * aligned, pages outside every folded folio, no folio twice.
 */
function foldsAtBoot(ctx: BootContext): readonly VmemmapFold[] {
  const source = vmemmapFoldSource(ctx.profile.name);
  const incoming = ctx.incoming;
  if (source === null || !ctx.populated || incoming === null || !incoming.isKhoBoot) return [];
  const { mem, topology } = ctx.machine;
  const folds = source.foldsAtBoot({
    mem,
    log: ctx.log,
    isRam: (p, s) => topology.isRam(p, s),
    structPageBytes: ctx.memmap.vmemmap.structPageBytes,
    hvo: parseHugetlbParams(ctx.params.raw).hvo,
    scratch: ctx.scratch,
    subtree: (name) => {
      try {
        return incoming.retrieveSubtree(name);
      } catch (e) {
        if (e instanceof KhoError && e.code === "ENOENT") return null;
        throw e;
      }
    },
    bootKey: ctx.memmap,
  });
  const heads = new Set<number>();
  for (const f of folds) {
    const bytes = 2 ** f.order * PAGE_SIZE;
    const phys = f.headPfn * PAGE_SIZE;
    const ok = Number.isInteger(f.order) && 2 ** f.order >= PAGES_PER_SECTION &&
      Number.isSafeInteger(phys) && phys % bytes === 0 && topology.isRam(phys, bytes) &&
      topology.nidOfPfn(f.headPfn) === topology.nidOfPfn(f.headPfn + 2 ** f.order - 1) &&
      f.pagePhys % PAGE_SIZE === 0 && topology.isRam(f.pagePhys, PAGE_SIZE) &&
      !heads.has(f.headPfn) &&
      !folds.some((g) =>
        f.pagePhys >= g.headPfn * PAGE_SIZE &&
        f.pagePhys < (g.headPfn + 2 ** g.order) * PAGE_SIZE
      );
    if (!ok) {
      throw new KernelBug(
        `${source.name}: fold of pfn ${hex(f.headPfn)} order ${f.order} onto ` +
          `${hex(f.pagePhys)} is not a folio of whole sections with a page of its own`,
      );
    }
    heads.add(f.headPfn);
  }
  return folds;
}

/**
 * After the tracker walk: every folded folio must be a preserved block of its order and its
 * page a preserved page (their stamps), or the allocator would reuse memory whose struct pages
 * alias another's — a panic of the design's kernel.
 */
function checkFolds(ctx: BootContext, folds: readonly VmemmapFold[]): void {
  const magic = ctx.profile.pageMagic;
  const stamped = (pfn: number, order: number) => {
    const [lo, hi] = ctx.memmap.getPrivateParts(pfn);
    return (lo & 0x7fffffff) === order && (!magic || hi === KHO_PAGE_MAGIC);
  };
  for (const f of folds) {
    const pagePfn = f.pagePhys / PAGE_SIZE;
    if (!stamped(f.headPfn, f.order) || (magic && !stamped(pagePfn, 0))) {
      throw new KernelPanic(
        `folded vmemmap: folio ${hex(f.headPfn * PAGE_SIZE)} or its struct page ` +
          `${hex(f.pagePhys)} is not preserved memory`,
        ctx.log,
      );
    }
  }
}

/**
 * `kho_extend_scratch` (from `mm_core_init_early`, before the boot-time huge page allocation;
 * profiles with `extendedScratch`, kho-facts §9.6): on a KHO boot the incoming radix tree is
 * digested into a second tree keyed by 1 GiB block and every gap between busy blocks becomes
 * `MEMBLOCK_KHO_SCRATCH_EXT` memory (`../kho/ext_scratch.ts`).
 */
export function khoExtendScratchPhase(ctx: BootContext): void {
  if (!ctx.profile.extendedScratch || !ctx.populated || !ctx.incoming?.isKhoBoot) return;
  ctx.extScratch = khoExtendScratch({
    mem: ctx.machine.mem,
    topology: ctx.machine.topology,
    memblock: ctx.memblock,
    log: ctx.log,
    mapPhys: ctx.incoming.mapPhys,
  }, { strict: ctx.config.strict, clock: ctx.options.clock });
}

/**
 * `kho_reserve_scratch` (cold boot only): sized by `kho_scratch=` (a bad value warns and
 * falls back to the defaults); a failure disables KHO. On a KHO boot `kho_scratch=` is
 * ignored: the inherited areas are reused. A kdump kernel without a handover disables KHO
 * instead ("disabled in the kdump kernel"), unless its generation has `kdump-kho-active`.
 */
export function khoReserveScratch(ctx: BootContext): void {
  const { log, params } = ctx;
  if (ctx.khoEnabled && !ctx.populated && ctx.config.crashKernel) {
    // kho_memory_init (linux-mm @ 65660710): no KHO in the kdump kernel. Generations with
    // kdump-kho-active reserve scratch like any kernel.
    if (!ctx.profile.bugs.includes("kdump-kho-active")) {
      ctx.khoEnabled = false;
      log.info("KHO", "disabled in the kdump kernel");
      return;
    }
  }
  if (ctx.khoEnabled && !ctx.populated) {
    let sizing: ScratchSizing = { scale: DEFAULT_SCRATCH_SCALE };
    if (params.khoScratch !== undefined) {
      try {
        sizing = parseKhoScratch(params.khoScratch, {
          sizesNonZero: ctx.profile.scratchSizesNonZero,
        });
      } catch (e) {
        log.warning(
          "KHO",
          `kho_scratch=${params.khoScratch}: ${(e as Error).message}; using defaults`,
        );
      }
    }
    const r = reserveScratch({
      memblock: ctx.memblock,
      topology: ctx.machine.topology,
      log,
      sizing,
      nodes: ctx.profile.scratchNodes,
      excludeHugetlb: ctx.profile.extendedScratch ?? false,
    });
    if (r === null) ctx.khoEnabled = false;
    else ctx.scratch = r.areas;
  } else if (ctx.populated && params.khoScratch !== undefined) {
    log.info("KHO", "kho_scratch= ignored on a KHO boot");
  }
}

/**
 * `hugetlb_cma_reserve` and `hugetlb_bootmem_alloc` (`mm_core_init_early`, before the page
 * allocator): the HugeTLB pools the command line asks for (`hugepagesz=`, `hugepages=`,
 * `default_hugepagesz=`, `hugetlb_free_vmemmap=`, `hugetlb_cma=`), their gigantic pages from
 * memblock. On a KHO boot scratch-only mode is still on here, so those pages can come only
 * from scratch — unless the generation has "kho: disable scratch-only earlier in boot"
 * (`khoEarlyMemoryInit`), which runs the tracker walk first and ends scratch-only mode. With
 * the HugeTLB live update RFC the incoming `hugetlb-v1` FLB is read here (its early accessor)
 * and only the pages a live update does not bring back are allocated; hugetlb CMA is disabled
 * when live update is enabled (`liveupdate=on`).
 */
export function hugetlbBootmemAlloc(ctx: BootContext): void {
  const { machine: { topology, mem }, log } = ctx;
  const h = new Hugetlb(
    { topology, memmap: ctx.memmap, log, faults: ctx.faults },
    ctx.params.raw,
  );
  ctx.hugetlb = h;
  const hugetlbLu = hasGuestMemory(ctx.profile, "hugetlb");
  const liveupdate = kstrtobool(ctx.params.other.get("liveupdate") ?? "off") === true;
  h.cmaReserve(
    ctx.memblock,
    hugetlbLu && liveupdate && ctx.khoEnabled
      ? "hugetlb_cma disabled: live update is enabled (mm: hugetlb: disable CMA if liveupdate " +
        "is enabled)"
      : undefined,
  );
  if (ctx.profile.khoEarlyMemoryInit) {
    khoMemRetrieve(ctx);
    ctx.memblock.clearKhoScratchOnly();
  }
  let preserved = (_order: number) => 0;
  const incoming = ctx.incoming;
  if (hugetlbLu && ctx.profile.luo !== null && incoming !== null && incoming.isKhoBoot) {
    const flb = flbIncomingEarly(
      {
        mem,
        isRam: (p, s) => topology.isRam(p, s),
        retrieveSubtree: (n) => incoming.retrieveSubtree(n),
      },
      ctx.profile.luo.blob,
      HUGETLB_FLB_COMPATIBLE,
    );
    if (flb !== null && topology.isRam(flb.data, HUGETLB_SER_LAYOUT.size)) {
      const ser = readHugetlbSer(mem, flb.data);
      preserved = (order) =>
        ser.hstates.filter((x) => x.order === order).reduce((n, x) => n + x.nrPages, 0);
      for (const hs of ser.hstates) {
        if (hs.nrPages === 0) continue;
        log.info(
          "HugeTLB",
          `${hs.nrPages} pages of size ${stringGetSize(2 ** hs.order * PAGE_SIZE)} are ` +
            `preserved by live update; not allocating them`,
        );
      }
    }
  }
  h.bootmemAlloc(ctx.memblock, preserved);
}

/** `free_area_init`: the page allocator, with empty free lists. */
export function freeAreaInit(ctx: BootContext): void {
  ctx.buddy = new BuddyAllocator({
    topology: ctx.machine.topology,
    memmap: ctx.memmap,
    log: ctx.log,
    faults: ctx.faults,
    mem: ctx.machine.mem,
  });
}

/**
 * `kho_memory_init`: on a KHO boot the scratch pageblocks become CMA, then the tracker walk
 * (`kho_mem_retrieve`) reserves every preserved block. Scratch-only mode ends here.
 */
export function khoMemoryInit(ctx: BootContext): void {
  if (ctx.populated && ctx.incoming) {
    const topology = ctx.machine.topology;
    for (const [i, a] of ctx.scratch.entries()) {
      if (a.size === 0) continue;
      if (!topology.isRam(a.addr, a.size)) {
        // kho_release_scratch initialises the struct pages of every scratch pageblock; memory
        // that is not RAM has none (the kernel checked nothing in kho_populate).
        let at = a.addr;
        while (at < a.addr + a.size && topology.isRam(at, PAGE_SIZE)) at += PAGE_SIZE;
        ctx.log.error(
          "KHO",
          `kho_release_scratch: scratch area ${i} ${hex(a.addr)}+${hex(a.size)} is not RAM`,
        );
        throw new KernelOops({ address: at, fn: "kho_release_scratch" }, ctx.log);
      }
      // pageblock_start_pfn(PFN_DOWN(start)) .. pageblock_align(PFN_UP(end)): MIGRATE_CMA
      ctx.buddy.setPageblockMigratetypeRange(
        Math.floor(a.addr / PAGE_SIZE),
        Math.ceil((a.addr + a.size) / PAGE_SIZE),
        MIGRATE_CMA,
      );
    }
    khoMemRetrieve(ctx);
  }
  ctx.memblock.clearKhoScratchOnly();
}

/**
 * `kho_mem_retrieve` of a KHO boot, once (the HugeTLB RFC's `kho_memory_init` is idempotent:
 * it may run before the gigantic pages): the tracker walk, and the struct pages it writes — the
 * stamp on each block's head, and with deferred struct page init every page of each block.
 */
function khoMemRetrieve(ctx: BootContext): void {
  if (!ctx.populated || !ctx.incoming || ctx.retrieve !== undefined) return;
  ctx.retrieve = ctx.incoming.memRetrieve({
    strict: ctx.config.strict,
    deferredStructPageInit: ctx.config.deferredStructPageInit,
    clock: ctx.options.clock,
  });
  ctx.strictCheck ??= ctx.retrieve.strictCheck;
  const v = ctx.memmap.vmemmap;
  checkFolds(ctx, v.folds());
  v.charge("stamp", ctx.retrieve.blocks);
  // kho_get_preserved_page leaves a folded folio's struct pages alone (they alias its page's).
  const foldedDeferred = ctx.config.deferredStructPageInit ? v.foldedPages : 0;
  v.charge("deferredInit", Math.max(0, ctx.retrieve.deferredInitPages - foldedDeferred));
}

/**
 * `memblock_free_all`: everything free goes to the buddy allocator (poisoned). The struct
 * pages `memmap_init` wrote by now are counted here: every page of RAM — or, with
 * CONFIG_DEFERRED_STRUCT_PAGE_INIT, every page but the noinit (KHO-preserved) ones, which the
 * deferred threads skip and `kho_get_preserved_page` initialised in the walk (**[DERIVED]**).
 */
export function memblockFreeAll(ctx: BootContext): void {
  const buddy = ctx.buddy;
  if (ctx.poison) {
    const freed: [number, number][] = [];
    ctx.freedPages = ctx.memblock.freeAll((startPfn, endPfn, nid) => {
      freed.push([startPfn, endPfn]);
      buddy.freeBootRange(startPfn, endPfn, nid);
    });
    ctx.machine.mem.fillPageRanges(freed, { pattern: POISON_SEED + ctx.bootIndex });
  } else {
    ctx.freedPages = ctx.memblock.freeAll((startPfn, endPfn, nid) => {
      buddy.freeBootRange(startPfn, endPfn, nid);
    });
  }
  let pages = ctx.machine.topology.ramBytes / PAGE_SIZE;
  if (ctx.config.deferredStructPageInit) {
    for (const r of ctx.memblock.reservedRegions()) {
      if (r.flags & MemblockFlags.RSRV_NOINIT) pages -= Math.floor(r.size / PAGE_SIZE);
    }
  } else {
    // Folded folios (a design's boot) have no struct pages of their own to initialise.
    pages -= ctx.memmap.vmemmap.foldedPages;
  }
  ctx.memmap.vmemmap.charge("memmapInit", Math.max(0, pages));
}

/** `vmalloc_init`: the vmalloc address space over the page allocator. */
export function vmallocInit(ctx: BootContext): void {
  ctx.vmalloc = new Vmalloc({
    buddy: ctx.buddy,
    memmap: ctx.memmap,
    mem: ctx.machine.mem,
    log: ctx.log,
    faults: ctx.faults,
  });
}

/**
 * `kho_init`: on a cold boot with KHO enabled the scratch areas are released to the
 * allocator as CMA pageblocks (poisoned); then KHO's outgoing state (root FDT, tracker,
 * kexec-metadata) is built.
 */
export function khoInit(ctx: BootContext): void {
  const mem = ctx.machine.mem;
  if (ctx.khoEnabled && !ctx.populated) {
    for (const a of ctx.scratch) {
      if (ctx.poison && a.size > 0) {
        mem.fill(a.addr, a.size, { pattern: POISON_SEED + ctx.bootIndex });
      }
      for (
        let pfn = a.addr / PAGE_SIZE;
        pfn < (a.addr + a.size) / PAGE_SIZE;
        pfn += PAGEBLOCK_NR_PAGES
      ) {
        ctx.buddy.initCmaReservedPageblock(pfn);
      }
    }
  }
  ctx.kho = Kho.init({
    host: {
      mem,
      topology: ctx.machine.topology,
      memmap: ctx.memmap,
      buddy: ctx.buddy,
      log: ctx.log,
    },
    profile: ctx.profile,
    enabled: ctx.khoEnabled,
    scratch: ctx.scratch,
    incoming: ctx.incoming,
    release: ctx.release,
    debug: ctx.config.khoDebug,
    strict: ctx.config.strict,
  });
}

/**
 * `early_param("liveupdate")` and the early_initcall `liveupdate_early_init`: LUO's incoming
 * state is checked and its session chain restored (on any boot with KHO on; a failure panics,
 * {@link KernelPanic}). A generation without LUO gets an orchestrator that says so.
 */
export function liveupdateEarlyInit(ctx: BootContext): void {
  const { mem, topology } = ctx.machine;
  ctx.liveupdate = LiveUpdate.earlyInit({
    mem,
    isRam: (phys, size) => topology.isRam(phys, size),
    kho: ctx.kho,
    log: ctx.log,
    faults: ctx.faults,
    profile: ctx.profile,
  }, { liveupdate: ctx.params.other.get("liveupdate") });
}

/**
 * The late_initcalls `luo_late_startup` (6.19–7.1) / `luo_state_setup` (7.2) and
 * `liveupdate_ioctl_init`: the outgoing `"LUO"` blob for the next update and the device.
 * File handlers registered after boot behave like loadable modules.
 */
export function luoLateStartup(ctx: BootContext): void {
  ctx.liveupdate.lateInit();
}

/** `hugetlb_init` (a subsys_initcall): the HugeTLB pools are filled and reported. */
export function hugetlbInit(ctx: BootContext): void {
  ctx.hugetlb.init(ctx.buddy);
}

/** The boot sequence, in the kernel's init order. */
export const BOOT_PHASES: readonly BootPhase[] = [
  { name: "e820__memblock_setup", run: e820MemblockSetup },
  { name: "kho_populate", run: khoPopulate },
  { name: "memblock_reserve_kern", run: memblockReserveKern },
  { name: "reserve_mem", run: reserveMemSetup },
  { name: "sparse_init", run: sparseInit },
  { name: "kho_extend_scratch", run: khoExtendScratchPhase },
  { name: "hugetlb_bootmem_alloc", run: hugetlbBootmemAlloc },
  { name: "kho_reserve_scratch", run: khoReserveScratch },
  { name: "free_area_init", run: freeAreaInit },
  { name: "kho_memory_init", run: khoMemoryInit },
  { name: "memblock_free_all", run: memblockFreeAll },
  { name: "vmalloc_init", run: vmallocInit },
  { name: "kho_init", run: khoInit },
  { name: "liveupdate_early_init", run: liveupdateEarlyInit },
  { name: "hugetlb_init", run: hugetlbInit },
  { name: "luo_late_startup", run: luoLateStartup },
  // Late initcalls run in link order: kernel/ (LUO) before mm/ (memblock's reserve_mem_init).
  { name: "reserve_mem_init", run: reserveMemInit },
];

/**
 * `start_kernel`: runs the phases in order on a fresh context and logs the end of boot.
 * A phase may throw {@link KernelPanic}.
 */
export function startKernel(
  ctx: BootContext,
  phases: readonly BootPhase[] = BOOT_PHASES,
): BootContext {
  for (const phase of phases) phase.run(ctx);
  ctx.log.info(
    "",
    `boot #${ctx.bootIndex} done: ${ctx.freedPages} pages freed, KHO ${
      ctx.kho.enabled ? "on" : "off"
    }`,
  );
  return ctx;
}
