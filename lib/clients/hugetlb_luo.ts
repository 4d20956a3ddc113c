/**
 * HugeTLB live update, as the RFC "liveupdate: hugetlb support" posts it (Pratyush Yadav,
 * 2025-12-07, `<20251206230222.853493-1-pratyush@kernel.org>`, `mm/hugetlb_luo.c`;
 * luo-hugetlb-facts §4.2–§4.5): a proposal, in the profile `rfc-2025-12-hugetlb` only (the
 * profile's `guestMemory` names `hugetlb`). Layouts in `lib/kho/abi/hugetlb.ts`.
 *
 * - The **`hugetlb-v1` FLB** ({@link HugetlbFlb}): preserved with the first hugetlb memfd — a
 *   37-byte `hugetlb_ser` from `kho_alloc_preserve`, one `{nr_pages = 0, order}` entry per
 *   hstate in `for_each_hstate` order; each preserved folio counts itself in its hstate's
 *   `nr_pages`. The successor reads it in early boot (`liveupdate_flb_incoming_early`) so that
 *   its boot-time pool allocates only the pages not preserved (`lib/boot/phases.ts`); `finish`
 *   frees it (`kho_restore_free`, moved there as review asked).
 * - The **`huge-memfd-v1` file handler** ({@link HugeMemfdLuoHandler}): takes
 *   `is_file_hugepages(file) && !i_nlink`. Preserve freezes the inode (`hugetlb_i_freeze`),
 *   pins every folio (`memfd_pin_folios`: holes allocated from the pool), preserves each with
 *   `kho_preserve_folio` — a 1 GiB folio is one order-18 radix key, no tracker of its own — and
 *   counts it in the FLB, records `{pfn, index}` (16 bytes each) in a vmalloc array preserved
 *   with `kho_preserve_vmalloc`, and writes the 41-byte `hugemfd_ser` (`serialized_data`).
 *   Retrieve builds a hugetlb file of the recorded order (`hugetlb_file_setup`), sets size and
 *   position, charges the reservation (`hugemfd_setup_rsrv`), restores each folio
 *   (`kho_restore_folio`, NULL → EINVAL), then `hugemfd_add_folios` — HVO re-applied
 *   (`hugetlb_vmemmap_optimize_folios`) and each folio accounted in the pool, in use — and adds
 *   them to the page cache at `index >> order`. Errors leak the folios restored so far on
 *   purpose ("might be in use for DMA"). `finish` of a file never retrieved restores every
 *   folio and returns it to the pool (`prep_and_add_allocated_folios`), not to the buddy
 *   allocator.
 *
 * The RFC's quirk is reproduced as the bug `hugetlb-alloc-preserve-err-ptr`: both preserves
 * test `if (!ser)` after `kho_alloc_preserve()`, which returns an `ERR_PTR`; an allocation
 * failure is then written through — a page fault oops at `0xfffffffffffffff4`.
 *
 * **Bringing the struct pages back** is a hook ({@link HugetlbVmemmapRestore}): the RFC
 * rebuilds every struct page (`kho_restore_folio` writes head and 262,143 tails,
 * `prep_compound_page` writes them again) and re-applies HVO ({@link REBUILD_AND_REOPTIMIZE}).
 * A design that preserves the folded vmemmap of each folio (seed 002: a folio-based KHO "could
 * preserve and restore the high order folio struct page folding (HVO)") replaces it: its
 * preserve side runs after the handler preserved a file's folios, its boot side folds their
 * vmemmap at `sparse_init` (`lib/boot/vmemmap_fold.ts`), its restore side replaces the
 * restore. `defineProfile({ hugetlbVmemmap })` registers one for a profile
 * ({@link registerHugetlbVmemmap}; `examples/designs/folded_vmemmap.ts`), and every kernel of
 * that profile's module uses it; {@link hugetlbLuoModule}'s `vmemmapRestore` overrides it.
 *
 * @module
 */

import { hasGuestMemory } from "../kho/profiles.ts";
import { KhoError } from "../errors.ts";
import type { Kernel, KernelModule } from "../boot/kernel.ts";
import { registerVmemmapFoldSource, type VmemmapFoldView } from "../boot/vmemmap_fold.ts";
import type { VmemmapFold } from "../kernel/vmemmap.ts";
import { KernelOops } from "../kernel/oops.ts";
import {
  getHugemfdFolioSer,
  HUGE_MEMFD_COMPATIBLE,
  HUGEMFD_FOLIO_SER_SIZE,
  HUGEMFD_SER_LAYOUT,
  type HugemfdFolioSer,
  HUGETLB_FLB_COMPATIBLE,
  HUGETLB_SER_LAYOUT,
  HUGETLB_SER_MAX_HSTATES,
  hugetlbSerNrPagesOffset,
  putHugemfdFolioSer,
  readHugemfdSer,
  readHugetlbSer,
  writeHugemfdSer,
  writeHugetlbSer,
} from "../kho/abi/hugetlb.ts";
import type { FileOpArgs, LiveUpdateFileHandler, LuoFile } from "../luo/file_handler.ts";
import type { FlbOpArgs, LiveUpdateFlb } from "../luo/luo_flb.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import {
  FolioRecordArray,
  luoRegister,
  type PreservedFolios,
  preserveFile,
  requireSerRam,
} from "./folio_records.ts";
import { MemfdFile, type ShmemFolio } from "./memfd.ts";

/** Fault-injection site of the record array (`vcalloc`). */
export const HUGEMFD_FOLIOS_SITE = "hugemfd_folios";
/** Fault-injection site of the retrieve's reservation charge (`hugemfd_setup_rsrv`). */
export const HUGEMFD_RSRV_SITE = "hugemfd_setup_rsrv";
/** Fault-injection site of a retrieved folio's memcg charge (`mem_cgroup_charge_hugetlb`). */
export const HUGEMFD_MEMCG_SITE = "mem_cgroup_charge_hugetlb";

/** `ERR_PTR(-ENOMEM)` as the kernel prints it: what the quirk writes through. */
const ERR_PTR_ENOMEM = "0xfffffffffffffff4";

/**
 * How a retrieved HugeTLB folio gets its struct pages back — the step a design may replace.
 * kholab's RFC model is {@link REBUILD_AND_REOPTIMIZE}; a folded-vmemmap design would restore
 * the one preserved vmemmap page per folio instead of writing 2^order struct pages twice and
 * freeing 4095 vmemmap pages again.
 */
export interface HugetlbVmemmapRestore {
  /** Short name, e.g. `"rebuild-reoptimize"`. */
  readonly name: string;
  /** `kho_restore_folio(phys)` of one preserved folio: its head pfn, or null. */
  restoreFolio(kernel: Kernel, phys: number): number | null;
  /**
   * The restored folios join the pool (`hugemfd_add_folios`, or at finish
   * `prep_and_add_allocated_folios`): vmemmap optimized, accounted, in use or free.
   */
  addFolios(kernel: Kernel, pfns: readonly number[], order: number, inUse: boolean): void;
  /**
   * Outgoing: after `hugemfd_preserve` preserved a file's folios (head pfns, one order) and
   * before their records are handed over. All or nothing: an error (`KhoError`) must leave
   * nothing of the call behind; the handler then unpreserves the folios and fails.
   */
  preserveFolios?(kernel: Kernel, pfns: readonly number[], order: number): void;
  /** Outgoing: undoes {@link preserveFolios} for those folios (`hugemfd_unpreserve`). */
  unpreserveFolios?(kernel: Kernel, pfns: readonly number[], order: number): void;
  /**
   * The successor's `sparse_init`: the preserved folios whose vmemmap it maps folded
   * (`lib/boot/vmemmap_fold.ts`), from the handed-over bytes only.
   */
  foldsAtBoot?(view: VmemmapFoldView): readonly VmemmapFold[];
}

const VMEMMAP_DESIGNS = new Map<string, HugetlbVmemmapRestore>();

/**
 * Registers `design` as the way kernels of profile `profile` bring HugeTLB folios' struct
 * pages back (null: the RFC's again); its `foldsAtBoot`, if any, becomes the profile's fold
 * source at `sparse_init`. `defineProfile({ hugetlbVmemmap })` calls it.
 */
export function registerHugetlbVmemmap(
  profile: string,
  design: HugetlbVmemmapRestore | null,
): void {
  if (design === null) VMEMMAP_DESIGNS.delete(profile);
  else VMEMMAP_DESIGNS.set(profile, design);
  const fold = design?.foldsAtBoot;
  registerVmemmapFoldSource(
    profile,
    design !== null && fold !== undefined
      ? { name: design.name, foldsAtBoot: (view) => fold.call(design, view) }
      : null,
  );
}

/**
 * The struct-page design registered for `profile`, or null (the RFC's
 * {@link REBUILD_AND_REOPTIMIZE}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hugetlbVmemmapDesign } from "./hugetlb_luo.ts";
 * assert.equal(hugetlbVmemmapDesign("rfc-2025-12-hugetlb"), null);
 * ```
 */
export function hugetlbVmemmapDesign(profile: string): HugetlbVmemmapRestore | null {
  return VMEMMAP_DESIGNS.get(profile) ?? null;
}

/**
 * The RFC's way: `kho_restore_folio` writes every struct page of the folio
 * (`kho_init_folio`) and `prep_compound_page` writes them again — 2 × 262,144 for a 1 GiB
 * folio, counted in `kernel.memmap.vmemmap` — then `hugetlb_vmemmap_optimize_folios` frees
 * 4095 of the 4096 vmemmap pages again (with `hugetlb_free_vmemmap=on`).
 */
export const REBUILD_AND_REOPTIMIZE: HugetlbVmemmapRestore = Object.freeze({
  name: "rebuild-reoptimize",
  restoreFolio: (kernel: Kernel, phys: number) => kernel.kho.restoreFolio(phys),
  addFolios: (kernel: Kernel, pfns: readonly number[], order: number, inUse: boolean) =>
    kernel.hugetlb.addFolios(pfns, order, inUse),
});

/** The FLB's outgoing object: where the `hugetlb_ser` lies. */
interface HugetlbFlbObj {
  readonly phys: number;
}

/**
 * The `hugetlb-v1` FLB of one kernel: the preserved-page count per hstate.
 */
export class HugetlbFlb implements LiveUpdateFlb {
  /** `HUGETLB_FLB_COMPATIBLE`. */
  readonly compatible: string = HUGETLB_FLB_COMPATIBLE;
  /** The kernel. */
  readonly kernel: Kernel;

  /** The FLB of `kernel`. */
  constructor(kernel: Kernel) {
    this.kernel = kernel;
  }

  /**
   * `hugetlb_flb_preserve`: a `hugetlb_ser` with one zero count per hstate. With
   * `hugetlb-alloc-preserve-err-ptr` an allocation failure oopses (the error pointer is
   * written through); otherwise its error is returned.
   */
  preserve(args: FlbOpArgs): void {
    const k = this.kernel;
    const phys = allocPreserveQuirk(k, HUGETLB_SER_LAYOUT.size, "hugetlb_flb_preserve");
    const hstates = k.hugetlb.hstates.slice(0, HUGETLB_SER_MAX_HSTATES)
      .map((h) => ({ nrPages: 0, order: h.order }));
    writeHugetlbSer(k.machine.mem, phys, { hstates });
    args.data = phys;
    args.obj = { phys } satisfies HugetlbFlbObj;
  }

  /** `hugetlb_flb_unpreserve`: frees the `hugetlb_ser`. */
  unpreserve(args: FlbOpArgs): void {
    this.kernel.kho.unpreserveFree(args.data);
  }

  /** `hugetlb_flb_retrieve`: the successor's view of the counts (a page fault if not RAM). */
  retrieve(args: FlbOpArgs): void {
    const k = this.kernel;
    requireSerRam(k, args.data, HUGETLB_SER_LAYOUT.size, "hugetlb_flb_retrieve");
    args.obj = readHugetlbSer(k.machine.mem, args.data);
  }

  /** `hugetlb_flb_finish`: `kho_restore_free` of the `hugetlb_ser`. */
  finish(args: FlbOpArgs): void {
    this.kernel.kho.restoreFree(args.data);
  }
}

/**
 * `kho_alloc_preserve(size)` as the RFC calls it: with the quirk, a failure (an `ERR_PTR`,
 * which `!ptr` does not catch) is used as a pointer — the oops of the first write through it.
 */
function allocPreserveQuirk(k: Kernel, size: number, fn: string): number {
  try {
    return k.kho.allocPreserve(size);
  } catch (e) {
    if (e instanceof KhoError && k.profile.bugs.includes("hugetlb-alloc-preserve-err-ptr")) {
      k.log.error(
        "",
        `${fn}: kho_alloc_preserve returned ERR_PTR(-${e.code}), which the !ptr test misses`,
      );
      throw new KernelOops({ address: 2 ** 64 - 12, fn, addressText: ERR_PTR_ENOMEM }, k.log);
    }
    throw e;
  }
}

/** What preserve keeps for unpreserve (`private_data`; never handed over). */
interface HugemfdPrivate extends PreservedFolios<MemfdFile> {
  /** Byte offset of the file's hstate count in the FLB's `hugetlb_ser`. */
  readonly countAt: number;
}

/**
 * The `huge-memfd-v1` file handler of one kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { memfdCreate, type MemfdFile } from "./memfd.ts";
 * import { HUGETLB_LUO_MODULE } from "./hugetlb_luo.ts";
 * const machine = new Machine({ ramBytes: 8 * 2 ** 30, nodes: 1 });
 * const cmdline = "kho_scratch=64M,256M,256M liveupdate=on hugepagesz=1G hugepages=2";
 * const k1 = Kernel.coldBoot(machine, {
 *   cmdline, profile: "rfc-2025-12-hugetlb", modules: [HUGETLB_LUO_MODULE],
 * });
 * const f = memfdCreate(k1, "vm0", { hugetlb: 2 ** 30 });
 * f.fill(0, 2 ** 30, { pattern: 7 });
 * const hash = f.hash64();
 * k1.liveupdate.open().createSession("vm0").preserveFd(f, 1);
 * const k2 = k1.kexec(); // the pool allocates 2 - 1 = 1 page at boot
 * assert.equal(k2.hugetlb.hstate(18)!.nrHugePages, 1);
 * const back = k2.liveupdate.open().retrieveSession("vm0").retrieveFd(1) as MemfdFile;
 * assert.equal(back.hash64(), hash);
 * assert.equal(k2.hugetlb.hstate(18)!.nrHugePages, 2); // the retrieved folio joins the pool
 * ```
 */
export class HugeMemfdLuoHandler implements LiveUpdateFileHandler {
  /** `HUGE_MEMFD_COMPATIBLE`. */
  readonly compatible: string = HUGE_MEMFD_COMPATIBLE;
  /** The kernel whose files this handler takes. */
  readonly kernel: Kernel;
  /** The FLB the files depend on. */
  readonly flb: HugetlbFlb;
  /** How retrieved folios get their struct pages back. */
  readonly vmemmapRestore: HugetlbVmemmapRestore;
  readonly #records: FolioRecordArray<HugemfdFolioSer>;

  /** The handler of `kernel`, with its FLB. */
  constructor(kernel: Kernel, flb: HugetlbFlb, vmemmapRestore = REBUILD_AND_REOPTIMIZE) {
    this.kernel = kernel;
    this.flb = flb;
    this.vmemmapRestore = vmemmapRestore;
    this.#records = new FolioRecordArray(kernel, {
      name: "hugemfd",
      site: HUGEMFD_FOLIOS_SITE,
      size: HUGEMFD_FOLIO_SER_SIZE,
      get: getHugemfdFolioSer,
    });
  }

  /** `hugemfd_can_preserve`: `is_file_hugepages(file) && !i_nlink`, of this kernel. */
  canPreserve(file: LuoFile): boolean {
    return file instanceof MemfdFile && file.kernel === this.kernel && file.hugetlb &&
      file.nlink === 0;
  }

  /** `hugemfd_preserve`. Every error undoes the call (holes filled stay, as in the kernel). */
  preserve(args: FileOpArgs): void {
    const file = args.file as MemfdFile;
    const k = this.kernel;
    const alloc = () => allocPreserveQuirk(k, HUGEMFD_SER_LAYOUT.bytes, "hugemfd_preserve");
    // the file frozen first: hugetlb_i_freeze(inode, true)
    preserveFile(k, args, alloc, (ser) => {
      const p = this.#preserveFolios(file, this.#countOffset(file.folioOrder));
      writeHugemfdSer(k.machine.mem, ser, {
        size: file.size,
        pos: file.pos,
        nrFolios: p.folios.length,
        folios: p.desc,
        order: file.folioOrder,
      });
      return p;
    });
  }

  /** Byte offset of the count of the hstate of `order` in the outgoing `hugetlb_ser` (ENOENT). */
  #countOffset(order: number): number {
    const k = this.kernel;
    const obj = k.liveupdate.flbGetOutgoing(this.flb) as HugetlbFlbObj | null;
    if (obj === null) throw new KhoError("ENOENT", "hugemfd: no outgoing hugetlb FLB");
    const ser = readHugetlbSer(k.machine.mem, obj.phys);
    const i = ser.hstates.findIndex((h) => h.order === order);
    if (i < 0) throw new KhoError("ENOENT", `hugemfd: no hstate of order ${order} in the FLB`);
    return obj.phys + hugetlbSerNrPagesOffset(i);
  }

  #addCount(countAt: number, delta: number): void {
    const mem = this.kernel.machine.mem;
    mem.writeU64(countAt, mem.readU64(countAt) + delta);
  }

  /** Pin, preserve and count each folio, record it, preserve the records. */
  #preserveFolios(file: MemfdFile, countAt: number): HugemfdPrivate {
    const k = this.kernel;
    const pfns = (folios: readonly ShmemFolio[]) => folios.map((f) => f.pfn);
    const p = this.#records.preservePinned(file, {
      record: (dv, at, f) => {
        this.#addCount(countAt, 1);
        putHugemfdFolioSer(dv, at, { pfn: f.pfn, index: f.index });
      },
      unrecord: () => this.#addCount(countAt, -1),
      preserveMore: (folios) =>
        this.vmemmapRestore.preserveFolios?.(k, pfns(folios), file.folioOrder),
      unpreserveMore: (folios) =>
        this.vmemmapRestore.unpreserveFolios?.(k, pfns(folios), file.folioOrder),
    });
    return { ...p, countAt };
  }

  /** `hugemfd_unpreserve`: everything preserve did, undone. */
  unpreserve(args: FileOpArgs): void {
    const k = this.kernel;
    const p = args.privateData as HugemfdPrivate | null;
    if (args.serializedData === 0 || p === null) {
      k.log.warn("hugemfd_unpreserve", "no serialized data");
      return;
    }
    this.#records.unpreserve(p, {
      unpreserveMore: (folios) =>
        this.vmemmapRestore.unpreserveFolios?.(k, folios.map((f) => f.pfn), p.file.folioOrder),
      each: (f) => {
        this.#addCount(p.countAt, -1);
        p.file.unpinFolio(f);
      },
    });
    k.kho.unpreserveFree(args.serializedData);
    p.file.freeze(false);
    p.file.put();
  }

  /** `hugemfd_retrieve`: a new hugetlb file from the handed-over bytes. */
  retrieve(args: FileOpArgs): void {
    const k = this.kernel;
    const serPa = args.serializedData;
    const ser = this.#readSer(serPa, "hugemfd_retrieve");
    const h = k.hugetlb.hstate(ser.order);
    if (h === null) {
      // hugetlb_file_setup: no hstate of that size in this kernel (errno [UNVERIFIED]).
      throw new KhoError("ENODEV", `hugemfd: no ${2 ** ser.order * PAGE_SIZE}-byte hstate`);
    }
    const file = new MemfdFile(k, "", {
      allowSealing: false,
      hugetlbOrder: ser.order,
      folioOrder: 0,
    });
    file.pos = ser.pos;
    file.setSize(ser.size);
    if (k.faults.shouldFail(HUGEMFD_RSRV_SITE)) {
      file.put();
      throw new KhoError("ENOMEM", "hugemfd_setup_rsrv: hugetlb cgroup charge");
    }
    if (ser.nrFolios > 0) {
      const r = this.#records.restore(ser, "hugemfd_retrieve");
      if (r === null) {
        file.put();
        throw new KhoError("EINVAL", "hugemfd: kho_restore_vmalloc failed");
      }
      const recs = r.records;
      k.vmalloc.vfree(r.array);
      // Restore each folio; a failure leaks those already restored (they may be in DMA use).
      const pfns: number[] = [];
      for (const r of recs) {
        const pfn = this.vmemmapRestore.restoreFolio(k, r.pfn * PAGE_SIZE);
        if (pfn === null) {
          k.log.error("hugemfd", `Unable to restore folio at ${hex(r.pfn * PAGE_SIZE)}`);
          throw new KhoError("EINVAL", `hugemfd: kho_restore_folio(${hex(r.pfn * PAGE_SIZE)})`);
        }
        pfns.push(pfn);
      }
      // hugemfd_add_folios: HVO re-applied, accounted in the pool, in use.
      this.vmemmapRestore.addFolios(k, pfns, ser.order, true);
      for (let i = 0; i < recs.length; i++) {
        if (k.faults.shouldFail(HUGEMFD_MEMCG_SITE)) {
          throw new KhoError("ENOMEM", "hugemfd: mem_cgroup_charge_hugetlb");
        }
        file.addFolio({
          pfn: pfns[i],
          index: recs[i].index,
          order: ser.order,
          uptodate: true,
          dirty: true,
          pins: 0,
        });
        file.acctPages(2 ** ser.order);
      }
    }
    args.file = file;
    k.kho.restoreFree(serPa);
  }

  /**
   * `hugemfd_finish`: nothing for a retrieved file; otherwise every folio is restored and
   * returned to the pool free (`prep_and_add_allocated_folios`: HVO, accounted), a folio that
   * does not restore is warned about and skipped; the records and the `hugemfd_ser` are freed.
   */
  finish(args: FileOpArgs): void {
    if (args.retrieveStatus !== 0) return;
    const k = this.kernel;
    const serPa = args.serializedData;
    const ser = this.#readSer(serPa, "hugemfd_finish");
    const restored = ser.nrFolios > 0 ? this.#records.restore(ser, "hugemfd_finish") : null;
    if (restored !== null) {
      k.vmalloc.vfree(restored.array);
      const pfns: number[] = [];
      for (const r of restored.records) {
        const pfn = this.vmemmapRestore.restoreFolio(k, r.pfn * PAGE_SIZE);
        if (pfn === null) {
          k.log.warning("hugemfd", `Could not restore folio at ${hex(r.pfn * PAGE_SIZE)}`);
          continue;
        }
        pfns.push(pfn);
      }
      if (k.hugetlb.hstate(ser.order) !== null) {
        this.vmemmapRestore.addFolios(k, pfns, ser.order, false);
      }
    }
    k.kho.restoreFree(serPa);
  }

  /** `phys_to_virt(serialized_data)` and the read: a page fault oops when it is not RAM. */
  #readSer(serPa: number, fn: string) {
    requireSerRam(this.kernel, serPa, HUGEMFD_SER_LAYOUT.bytes, fn);
    return readHugemfdSer(this.kernel.machine.mem, serPa);
  }
}

/**
 * The HugeTLB live update module (`hugetlb_luo_init`): registers the `huge-memfd-v1` handler
 * and links the `hugetlb-v1` FLB to it, on a kernel whose profile has the `hugetlb` guest
 * memory path; nothing elsewhere. Its struct-page restore is `vmemmapRestore`, else the one
 * registered for the kernel's profile ({@link registerHugetlbVmemmap}), else the RFC's.
 */
export function hugetlbLuoModule(
  options: { vmemmapRestore?: HugetlbVmemmapRestore } = {},
): KernelModule {
  return Object.freeze({
    name: "hugetlb_luo_init",
    init(kernel: Kernel): void {
      if (!hasGuestMemory(kernel.profile, "hugetlb") || kernel.profile.luo === null) return;
      const flb = new HugetlbFlb(kernel);
      const fh = new HugeMemfdLuoHandler(
        kernel,
        flb,
        options.vmemmapRestore ?? hugetlbVmemmapDesign(kernel.profile.name) ??
          REBUILD_AND_REOPTIMIZE,
      );
      luoRegister(kernel, "hugetlb_luo", "Could not register hugetlb live update", () => {
        kernel.liveupdate.registerFileHandler(fh);
        kernel.liveupdate.registerFlb(fh, flb);
      });
    },
  });
}

/** {@link hugetlbLuoModule} with the RFC's struct page restore. */
export const HUGETLB_LUO_MODULE: KernelModule = hugetlbLuoModule();

/** The huge-memfd handler registered in `kernel`, or null. */
export function hugeMemfdLuoHandler(kernel: Kernel): HugeMemfdLuoHandler | null {
  const h = kernel.liveupdate.files?.handlers.find((x) => x instanceof HugeMemfdLuoHandler);
  return (h as HugeMemfdLuoHandler | undefined) ?? null;
}
