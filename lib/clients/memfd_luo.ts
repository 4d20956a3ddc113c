/**
 * The memfd file handler of the Live Update Orchestrator (`mm/memfd_luo.c`;
 * luo-hugetlb-facts §3, §6.4; kho-facts §10): how a shmem memfd crosses a live update.
 *
 * - **preserve** (`LIVEUPDATE_SESSION_PRESERVE_FD`): `shmem_freeze`, a `memfd_luo_ser` from
 *   `kho_alloc_preserve`, `memfd_pin_folios` over the whole file (holes allocated, folios
 *   migrated out of CMA/scratch), `kho_preserve_folio` per folio, one 16-byte
 *   `memfd_luo_folio_ser` per folio in a `vcalloc`'d array preserved with
 *   `kho_preserve_vmalloc`; the `memfd_luo_ser`'s physical address is the file's
 *   `serialized_data`. Every error undoes the call (holes filled and folios migrated stay, as
 *   in the kernel).
 * - **freeze** (at reboot): the file position is written again.
 * - **unpreserve** (the session closed before the update): everything preserve did.
 * - **retrieve** (successor, `LIVEUPDATE_SESSION_RETRIEVE_FD`): a fresh shmem file
 *   (memfd-v2: with `MFD_ALLOW_SEALING` and the seals), `kho_restore_vmalloc` of the records,
 *   `kho_restore_folio` and page-cache insertion per record.
 * - **finish** without retrieve: the folios are restored and dropped.
 *
 * Only shmem files are accepted (`shmem_file(file) && !i_nlink`): a hugetlb memfd finds no
 * handler and PRESERVE_FD fails with ENOENT. Shmem folios are at most PMD order (9).
 *
 * Per generation (the profile's `luo.memfd` and `bugs`): memfd-v1 (40-byte `memfd_luo_ser`,
 * seals not preserved: the successor's file is created without `MFD_ALLOW_SEALING`, so it
 * comes back sealed with `F_SEAL_SEAL` only) or memfd-v2 (48 bytes, seals kept); and the named
 * bugs `memfd-flags-sampled`, `memfd-retrieve-lost-errno`, `memfd-put-folios-pfn-as-phys`,
 * `memfd-acct-one-block` (see `KhoBug`). In 6.19–7.2 a failed retrieve leaves `retrieved`
 * false, so `finish` then runs on the `memfd_luo_ser` the failed retrieve already freed
 * (luo-hugetlb-facts §3.4 **[DERIVED]**): kholab follows the kernel's reads of that memory.
 *
 * The handler registers after boot (`memfd_luo_init`, a late initcall in `mm/`, above kholab's
 * boot layer): pass {@link MEMFD_LUO_MODULE} in the boot's `modules`, and kexec passes it on,
 * so the successor has it before the first open of `/dev/liveupdate`.
 *
 * @module
 */

import { type ErrnoName, KernelBug, KhoError } from "../errors.ts";
import type { Kernel, KernelModule } from "../boot/kernel.ts";
import {
  getFolioSer,
  MEMFD_LUO_ALL_SEALS,
  MEMFD_LUO_FOLIO_DIRTY,
  MEMFD_LUO_FOLIO_SER_SIZE,
  MEMFD_LUO_FOLIO_UPTODATE,
  type MemfdFolioSer,
  type MemfdLuoCompat,
  memfdLuoSerLayout,
  putFolioSer,
  readMemfdLuoSer,
  writeMemfdLuoSer,
} from "../kho/abi/memfd.ts";
import type { KhoBug } from "../kho/profiles.ts";
import type { FileOpArgs, LiveUpdateFileHandler, LuoFile } from "../luo/file_handler.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import {
  FolioRecordArray,
  luoRegister,
  type PreservedFolios,
  preserveFile,
  requireSerRam,
} from "./folio_records.ts";
import { MemfdFile, type ShmemFolio } from "./memfd.ts";

/** Fault-injection site of the pinned-folio pointer array (`kvmalloc_array`). */
export const MEMFD_LUO_PIN_ARRAY_SITE = "memfd_luo_pin_array";
/** Fault-injection site of the record array (`vcalloc`). */
export const MEMFD_LUO_FOLIOS_SITE = "memfd_luo_folios";
/** Fault-injection site of the successor's new file (`memfd_alloc_file`). */
export const MEMFD_ALLOC_FILE_SITE = "memfd_alloc_file";
/** Fault-injection site of a retrieved folio's memcg charge (`mem_cgroup_charge`). */
export const MEM_CGROUP_CHARGE_SITE = "mem_cgroup_charge";

/**
 * `memfd_luo_handler` of one kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { memfdCreate, type MemfdFile } from "./memfd.ts";
 * import { MEMFD_LUO_MODULE } from "./memfd_luo.ts";
 * const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
 * const k1 = Kernel.coldBoot(machine, { cmdline: "liveupdate=on", modules: [MEMFD_LUO_MODULE] });
 * const f = memfdCreate(k1, "vm0", { folioOrder: 9 });
 * f.fill(0, 4 << 20, { pattern: 7 });
 * const hash = f.hash64();
 * k1.liveupdate.open().createSession("vm0").preserveFd(f, 1);
 * const k2 = k1.kexec(); // the module is registered again in the successor
 * const back = k2.liveupdate.open().retrieveSession("vm0").retrieveFd(1) as MemfdFile;
 * assert.equal(back.hash64(), hash);
 * assert.equal(back.folios().length, 2);
 * ```
 */
export class MemfdLuoHandler implements LiveUpdateFileHandler {
  /** `MEMFD_LUO_FH_COMPATIBLE` of this kernel's generation. */
  readonly compatible: MemfdLuoCompat;
  /** The kernel whose files this handler takes. */
  readonly kernel: Kernel;
  readonly #bugs: ReadonlySet<KhoBug>;
  readonly #records: FolioRecordArray<MemfdFolioSer>;

  /** The handler of `kernel` (its generation's memfd ABI and bugs; EOPNOTSUPP without LUO). */
  constructor(kernel: Kernel) {
    const luo = kernel.profile.luo;
    if (luo === null) {
      throw new KhoError("EOPNOTSUPP", `${kernel.profile.name} has no LUO, hence no memfd_luo`);
    }
    this.kernel = kernel;
    this.compatible = luo.memfd;
    this.#bugs = new Set(kernel.profile.bugs);
    this.#records = new FolioRecordArray(kernel, {
      name: "memfd_luo",
      site: MEMFD_LUO_FOLIOS_SITE,
      size: MEMFD_LUO_FOLIO_SER_SIZE,
      get: getFolioSer,
    });
  }

  /** `memfd_luo_can_preserve`: a shmem file (not hugetlbfs) with no link, of this kernel. */
  canPreserve(file: LuoFile): boolean {
    return file instanceof MemfdFile && file.kernel === this.kernel && !file.hugetlb &&
      file.nlink === 0;
  }

  /** `memfd_luo_preserve`. */
  preserve(args: FileOpArgs): void {
    const file = args.file as MemfdFile;
    const { kho, machine } = this.kernel;
    const L = memfdLuoSerLayout(this.compatible);
    preserveFile(this.kernel, args, () => kho.allocPreserve(L.size), (ser) => {
      if (L.seals !== null && (file.seals & ~MEMFD_LUO_ALL_SEALS) !== 0) {
        throw new KhoError("EOPNOTSUPP", `memfd seals ${hex(file.seals)} unknown to memfd-v2`);
      }
      const p = this.#preserveFolios(file);
      writeMemfdLuoSer(machine.mem, ser, this.compatible, {
        pos: file.pos,
        size: file.size,
        seals: L.seals === null ? 0 : file.seals,
        flags: 0,
        nrFolios: p.folios.length,
        folios: p.desc,
      });
      return p;
    });
  }

  /** `memfd_luo_preserve_folios`: pin, preserve each folio, record it, preserve the records. */
  #preserveFolios(file: MemfdFile): PreservedFolios<MemfdFile> {
    if (file.size !== 0 && this.kernel.faults.shouldFail(MEMFD_LUO_PIN_ARRAY_SITE)) {
      throw new KhoError("ENOMEM", "memfd_luo: kvmalloc_array of the folio pointers");
    }
    const sampled = this.#bugs.has("memfd-flags-sampled");
    return this.#records.preservePinned(file, {
      record: (dv, at, f) =>
        putFolioSer(dv, at, {
          pfn: f.pfn,
          flags: sampled ? sampledFlags(f) : this.#makeUptodate(f),
          index: f.index,
        }),
    });
  }

  /**
   * After "mm: memfd_luo: always make all folios uptodate": dirty, zeroed if it was not
   * uptodate, uptodate; recorded as DIRTY|UPTODATE.
   */
  #makeUptodate(f: ShmemFolio): number {
    if (!f.uptodate) {
      this.kernel.machine.mem.zero(f.pfn * PAGE_SIZE, PAGE_SIZE * 2 ** f.order);
      f.uptodate = true;
    }
    f.dirty = true;
    return MEMFD_LUO_FOLIO_DIRTY | MEMFD_LUO_FOLIO_UPTODATE;
  }

  /** `memfd_luo_freeze`: EINVAL (WARN) without a `memfd_luo_ser`; writes the position again. */
  freeze(args: FileOpArgs): void {
    if (args.serializedData === 0) {
      this.kernel.log.warn("memfd_luo_freeze", "no serialized data");
      throw new KhoError("EINVAL", "memfd_luo_freeze: no memfd_luo_ser");
    }
    const file = args.file as MemfdFile;
    const L = memfdLuoSerLayout(this.compatible);
    this.kernel.machine.mem.writeU64(args.serializedData + L.pos, file.pos);
  }

  /** `memfd_luo_unpreserve`: unfreeze, unpreserve and unpin every folio, free the records. */
  unpreserve(args: FileOpArgs): void {
    const k = this.kernel;
    const p = args.privateData as PreservedFolios<MemfdFile> | null;
    if (args.serializedData === 0 || p === null) {
      k.log.warn("memfd_luo_unpreserve", "no serialized data");
      return;
    }
    p.file.freeze(false);
    this.#records.unpreserve(p, { each: (f) => p.file.unpinFolio(f) });
    k.kho.unpreserveFree(args.serializedData);
    p.file.put();
  }

  /** `memfd_luo_retrieve`: a new shmem file from the handed-over bytes. */
  retrieve(args: FileOpArgs): void {
    const k = this.kernel;
    const { kho } = k;
    const serPa = args.serializedData;
    const ser = this.#readSer(serPa, "memfd_luo_retrieve");
    const v2 = this.compatible === "memfd-v2";
    if (v2 && (ser.seals & ~MEMFD_LUO_ALL_SEALS) !== 0) {
      k.log.note("memfd_luo", `retrieve: seals ${hex(ser.seals)} unknown to memfd-v2: -EOPNOTSUPP`);
      kho.restoreFree(serPa);
      throw new KhoError("EOPNOTSUPP", `memfd_luo: seals ${hex(ser.seals)} unknown to memfd-v2`);
    }
    if (k.faults.shouldFail(MEMFD_ALLOC_FILE_SITE)) {
      k.log.error("memfd_luo", "failed to setup file: -ENOMEM");
      kho.restoreFree(serPa);
      throw new KhoError("ENOMEM", "memfd_alloc_file");
    }
    const file = new MemfdFile(k, "", { allowSealing: v2, hugetlbOrder: null, folioOrder: 0 });
    try {
      if (v2) file.addSeals(ser.seals);
      file.pos = ser.pos;
      file.setSize(ser.size);
      if (ser.nrFolios > 0) {
        const r = this.#records.restore(ser, "memfd_luo_retrieve");
        if (r === null) throw new KhoError("EINVAL", "memfd_luo: kho_restore_vmalloc failed");
        const err = this.#retrieveFolios(file, r.records);
        k.vmalloc.vfree(r.array);
        if (err !== null) throw new KhoError(err, `memfd_luo: retrieving the folios failed`);
      }
    } catch (e) {
      file.put();
      kho.restoreFree(serPa);
      throw e;
    }
    args.file = file;
    kho.restoreFree(serPa);
  }

  /**
   * `memfd_luo_retrieve_folios`: `err = -EIO`; per record (pfn 0 skipped) `kho_restore_folio`,
   * the memcg charge, the page-cache insertion, the flags, the inode accounting. At the first
   * failure the folios after it are restored and put (`put_folios`) and `err` returned —
   * which, with `memfd-retrieve-lost-errno`, is 0 once a folio succeeded: the file then
   * misses that folio and the rest. Returns the errno, or null for success.
   */
  #retrieveFolios(file: MemfdFile, records: readonly MemfdFolioSer[]): ErrnoName | null {
    const k = this.kernel;
    const lostErrno = this.#bugs.has("memfd-retrieve-lost-errno");
    const nr = records.length;
    let err: ErrnoName | null = "EIO";
    let i = 0;
    for (; i < nr; i++) {
      const r = records[i];
      if (r.pfn === 0) continue;
      const pfn = k.kho.restoreFolio(r.pfn * PAGE_SIZE);
      if (pfn === null) {
        k.log.error(
          "memfd_luo",
          `Unable to restore folio at physical address: ${hex(r.pfn * PAGE_SIZE)}`,
        );
        if (!lostErrno) err = "EIO";
        break;
      }
      if (k.faults.shouldFail(MEM_CGROUP_CHARGE_SITE)) {
        err = "ENOMEM";
        k.log.error("memfd_luo", `shmem: failed to charge folio index ${i}: -12`);
        k.buddy.folioPut(pfn);
        break;
      }
      const order = k.memmap.folioOrder(pfn);
      if (r.index % 2 ** order !== 0) {
        throw new KernelBug(
          `VM_BUG_ON_FOLIO(index != round_down(index, nr)): index ${r.index}, order ${order}`,
        );
      }
      try {
        file.addFolio({
          pfn,
          index: r.index,
          order,
          uptodate: (r.flags & MEMFD_LUO_FOLIO_UPTODATE) !== 0,
          dirty: (r.flags & MEMFD_LUO_FOLIO_DIRTY) !== 0,
          pins: 0,
        });
      } catch (e) {
        if (!(e instanceof KhoError)) throw e;
        err = e.code;
        k.log.error(
          "memfd_luo",
          `shmem: failed to add to page cache folio index ${i}: ${-e.errno}`,
        );
        k.buddy.folioPut(pfn);
        break;
      }
      file.acctPages(this.#bugs.has("memfd-acct-one-block") ? 1 : 2 ** order);
      err = null;
    }
    if (i === nr) return null;
    // put_folios: restore and put every folio after the failed one.
    const pfnAsPhys = this.#bugs.has("memfd-put-folios-pfn-as-phys");
    this.#records.discard(records, { from: i + 1, pfnAsPhys });
    return err;
  }

  /**
   * `memfd_luo_finish`: nothing for a retrieved file (nor, with `retrieve_status`, after a
   * failed retrieve); otherwise the records are restored, every folio restored and put
   * (`memfd_luo_discard_folios`; one that does not restore is warned about and skipped), the
   * records and the `memfd_luo_ser` freed.
   */
  finish(args: FileOpArgs): void {
    if (args.retrieveStatus !== 0) return;
    const k = this.kernel;
    const serPa = args.serializedData;
    const ser = this.#readSer(serPa, "memfd_luo_finish");
    const r = this.#records.restore(ser, "memfd_luo_finish");
    if (r !== null) {
      this.#records.discard(r.records, { warn: "memfd_luo" });
      k.vmalloc.vfree(r.array);
    }
    k.kho.restoreFree(serPa);
  }

  /** `phys_to_virt(serialized_data)` and the read: a page fault oops when it is not RAM. */
  #readSer(serPa: number, fn: string) {
    requireSerRam(this.kernel, serPa, memfdLuoSerLayout(this.compatible).size, fn);
    return readMemfdLuoSer(this.kernel.machine.mem, serPa, this.compatible);
  }
}

/** 6.19's flags: DIRTY and UPTODATE as the folio has them at preserve. */
function sampledFlags(f: ShmemFolio): number {
  return (f.dirty ? MEMFD_LUO_FOLIO_DIRTY : 0) | (f.uptodate ? MEMFD_LUO_FOLIO_UPTODATE : 0);
}

/**
 * `memfd_luo_init` (a late initcall): registers the memfd handler when the kernel has LUO.
 * LUO disabled (`liveupdate` off, KHO off) is not an error (`-EOPNOTSUPP` is ignored); any
 * other registration error is logged ("Could not register luo filesystem handler",
 * wording **[UNVERIFIED]**) and returned.
 */
export const MEMFD_LUO_MODULE: KernelModule = Object.freeze({
  name: "memfd_luo_init",
  init(kernel: Kernel): void {
    if (kernel.profile.luo === null) return; // no CONFIG_LIVEUPDATE before 6.19
    luoRegister(kernel, "memfd_luo", "Could not register luo filesystem handler", () => {
      kernel.liveupdate.registerFileHandler(new MemfdLuoHandler(kernel));
    });
  },
});

/** The memfd handler registered in `kernel`, or null. */
export function memfdLuoHandler(kernel: Kernel): MemfdLuoHandler | null {
  const h = kernel.liveupdate.files?.handlers.find((x) => x instanceof MemfdLuoHandler);
  return (h as MemfdLuoHandler | undefined) ?? null;
}
