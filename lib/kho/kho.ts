/**
 * KHO of one kernel: the outgoing state (preserve API, tracker, root FDT) and, on a KHO boot,
 * the incoming state (restore API, sub-tree retrieval), plus the kexec step that turns the
 * outgoing state into the 32-byte handover record.
 *
 * Arguments: the kernel's pfns, page counts, physical addresses and sizes are `unsigned long`
 * / `phys_addr_t` / `size_t`. A value no C caller can pass — NaN, ±Infinity, a fraction, a
 * negative number — is refused by the preserve and unpreserve calls with `KhoError` EINVAL
 * (issue 18 §6 chose EINVAL over a RangeError for this misuse; the void `kho_unpreserve_*`
 * calls throw it too), before anything is touched. Simulator bounds, also EINVAL: a pfn or a
 * page count above {@link PFN_BOUND} (2^52: pages of a 64-bit physical address space; a
 * larger `nr_pages` is a valid `unsigned long` in the kernel, which would try to preserve
 * beyond any RAM, and JavaScript numbers are exact only below 2^53), and a physical address
 * or size above `Number.MAX_SAFE_INTEGER` (2^53 - 1). The trackers' own bound (blocks below
 * 2^53 bytes) applies after these, with rollback. The restore calls refuse the same
 * non-integers but accept any integer ≥ 0: a successor reads addresses from bytes, and for
 * one beyond everything the kernel's answer is NULL, which they give.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { KernelOops } from "../kernel/oops.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import {
  encodeKexecMetadata,
  KEXEC_METADATA_LAYOUT,
  KHO_KEXEC_METADATA_NAME,
  KHO_KEXEC_METADATA_VERSION,
  readKexecMetadata,
} from "./abi/kexec_metadata.ts";
import type { Handover } from "./abi/kho_data.ts";
import type { AbiProfile, KhoApi } from "./profiles.ts";
import {
  encodeScratchArray,
  KHO_SCRATCH_ENTRY_SIZE,
  type ScratchArea,
} from "./abi/asm_generic_kexec_handover.ts";
import { allocPreserveFolio, type KhoNotifier, KhoOut, type KhoOutHost } from "./preserve.ts";
import type { KhoIn } from "./restore.ts";
import { KHO_FDT_SIZE } from "./abi/kexec_handover.ts";
import { locateMemHole, type PlacedSegment } from "./scratch.ts";

/** Largest pfn or page count the KHO calls accept: 2^52 (4 KiB pages of a 64-bit space). */
export const PFN_BOUND = 2 ** 52;

/**
 * EINVAL unless `value` is an integer in `[0, max]`: an `unsigned long` the simulator can
 * represent exactly (the default bound), or any integer ≥ 0 with `max` = Infinity.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KhoError } from "../errors.ts";
 * import { checkUnsignedLong, PFN_BOUND } from "./kho.ts";
 * checkUnsignedLong("kho_preserve_pages", "nr_pages", 512, PFN_BOUND);
 * for (const bad of [NaN, Infinity, -1, 1.5, PFN_BOUND + 1]) {
 *   assert.throws(
 *     () => checkUnsignedLong("kho_preserve_pages", "nr_pages", bad, PFN_BOUND),
 *     (e) => e instanceof KhoError && e.code === "EINVAL",
 *   );
 * }
 * ```
 */
export function checkUnsignedLong(
  callsite: string,
  name: string,
  value: number,
  max: number = Number.MAX_SAFE_INTEGER,
): void {
  if (Number.isInteger(value) && value >= 0 && value <= max) return;
  const why = Number.isFinite(value) && Number.isInteger(value) && value >= 0
    ? `above the simulator's bound ${max}`
    : "not an unsigned integer";
  throw new KhoError("EINVAL", `${callsite}: ${name} ${value} is ${why}`);
}

const pfnArg = (callsite: string, pfn: number) =>
  checkUnsignedLong(callsite, "pfn", pfn, PFN_BOUND);

function rangeArgs(callsite: string, pfn: number, nrPages: number): void {
  checkUnsignedLong(callsite, "pfn", pfn, PFN_BOUND);
  checkUnsignedLong(callsite, "nr_pages", nrPages, PFN_BOUND);
}

function physArgs(callsite: string, phys: number, size: number): void {
  checkUnsignedLong(callsite, "phys", phys);
  checkUnsignedLong(callsite, "size", size);
}

/** The KHO facade of a kernel. */
export class Kho {
  /** Whether KHO is enabled in this kernel (`kho=`; false after a scratch failure). */
  readonly enabled: boolean;
  /** The profile this kernel speaks. */
  readonly profile: AbiProfile;
  /**
   * kholab's strict checks (`BootConfig.strict`): incoming pointers outside RAM fail the call
   * instead of the kernel's oops.
   */
  readonly strict: boolean;
  /** Outgoing state, when enabled. */
  readonly out: KhoOut | null;
  /** Incoming state, when this is a KHO boot. */
  readonly incoming: KhoIn | null;
  /** kexec count read from the incoming kexec-metadata (0 on a cold boot). */
  readonly kexecCount: number;
  /** Release string of the previous kernel, when known. */
  readonly previousRelease: string | null;
  readonly #host: KhoOutHost;
  readonly #log: KernelLog;
  readonly #apis: ReadonlySet<KhoApi>;
  /** The hot preserve calls' availability, looked up once. */
  readonly #hasPreservePages: boolean;
  readonly #hasPreservePhys: boolean;

  /** Assembles the facade (see `kho_init`, {@link Kho.init}). */
  private constructor(
    init: {
      host: KhoOutHost;
      profile: AbiProfile;
      out: KhoOut | null;
      incoming: KhoIn | null;
      kexecCount: number;
      previousRelease: string | null;
      strict: boolean;
    },
  ) {
    this.strict = init.strict;
    this.#host = init.host;
    this.#log = init.host.log;
    this.profile = init.profile;
    this.#apis = new Set(init.profile.api);
    this.#hasPreservePages = this.#apis.has("preservePages");
    this.#hasPreservePhys = this.#apis.has("preservePhys");
    this.out = init.out;
    this.enabled = init.out !== null;
    this.incoming = init.incoming;
    this.kexecCount = init.kexecCount;
    this.previousRelease = init.previousRelease;
  }

  /**
   * `kho_init`: when enabled, sets up the outgoing tracker and root FDT, and (7.1 on) reads
   * the incoming kexec-metadata and writes the outgoing one with `kexec_count + 1`. A failure
   * here disables KHO for this kernel (logged).
   */
  static init(
    options: {
      host: KhoOutHost;
      profile: AbiProfile;
      enabled: boolean;
      scratch: readonly ScratchArea[];
      incoming: KhoIn | null;
      release: string;
      /** CONFIG_KEXEC_HANDOVER_DEBUG (the scratch-overlap checks). Default false. */
      debug?: boolean;
      /**
       * kholab's strict checks: a sub-blob outside RAM is ignored with a warning instead of
       * the kernel's oops. Default false.
       */
      strict?: boolean;
    },
  ): Kho {
    const { host, profile, incoming } = options;
    let kexecCount = 0;
    let previousRelease: string | null = null;
    if (incoming?.isKhoBoot && profile.kexecMetadata) {
      try {
        const { phys, size } = incoming.retrieveSubtree(KHO_KEXEC_METADATA_NAME);
        const len = Math.min(size ?? KEXEC_METADATA_LAYOUT.size, KEXEC_METADATA_LAYOUT.size);
        // kho_in_kexec_metadata reads the blob through phys_to_virt once blob-size ≥ 4.
        if (len >= 4 && !host.topology.isRam(phys, len)) {
          if (options.strict) throw new KhoError("EFAULT", `blob ${hex(phys)} is not RAM`);
          host.log.error("KHO", `kexec-metadata blob at ${hex(phys)} is not RAM`);
          throw new KernelOops({ address: phys, fn: "kho_in_kexec_metadata" }, host.log);
        }
        const r = readKexecMetadata(host.mem.readBytes(phys, len));
        if (r.ok) {
          kexecCount = r.value.kexecCount;
          previousRelease = r.value.previousRelease;
        } else host.log.warning("KHO", `ignoring kexec-metadata: ${r.reason}`);
      } catch (e) {
        if (e instanceof KernelOops) throw e;
        host.log.warning("KHO", `no kexec-metadata: ${(e as Error).message}`);
      }
    }
    let out: KhoOut | null = null;
    if (options.enabled) {
      try {
        out = KhoOut.init(host, profile, options.scratch, { debug: options.debug });
        if (profile.kexecMetadata) {
          const blob = encodeKexecMetadata({
            version: KHO_KEXEC_METADATA_VERSION,
            previousRelease: options.release,
            kexecCount: kexecCount + 1,
          });
          const phys = out.allocPreserve(blob.length, "kho_kexec_metadata");
          host.mem.writeBytes(phys, blob);
          out.addSubtree(KHO_KEXEC_METADATA_NAME, phys, blob.length);
        }
      } catch (e) {
        host.log.error("KHO", `kho_init failed: ${(e as Error).message}; KHO disabled`);
        out = null;
      }
    }
    return new Kho({
      host,
      profile,
      out,
      incoming,
      kexecCount,
      previousRelease,
      strict: options.strict ?? false,
    });
  }

  /** `is_kho_boot()`. */
  get isKhoBoot(): boolean {
    return this.incoming?.isKhoBoot ?? false;
  }

  #outOrThrow(callsite: string): KhoOut {
    if (this.out === null) {
      this.#log.warnOnOnce(callsite, "KHO is not enabled");
      throw new KhoError("EINVAL", `${callsite}: KHO is not enabled`);
    }
    return this.out;
  }

  /** EOPNOTSUPP naming `callsite` unless this generation has `fn`. */
  requireApi(fn: KhoApi, callsite: string): void {
    if (!this.#apis.has(fn)) {
      throw new KhoError(
        "EOPNOTSUPP",
        `${callsite} does not exist in ${this.profile.name} (${this.profile.kernel})`,
      );
    }
  }

  #inOrThrow(): KhoIn {
    if (this.incoming === null || !this.incoming.isKhoBoot) {
      throw new KhoError("ENOENT", "not a KHO boot");
    }
    return this.incoming;
  }

  /** `kho_preserve_folio` (the folio's head pfn). */
  preserveFolio(pfn: number): void {
    pfnArg("kho_preserve_folio", pfn);
    (this.out ?? this.#outOrThrow("kho_preserve_folio")).preserveFolio(pfn);
  }

  /** `kho_unpreserve_folio` (6.19 on). */
  unpreserveFolio(pfn: number): void {
    this.requireApi("unpreserveFolio", "kho_unpreserve_folio");
    pfnArg("kho_unpreserve_folio", pfn);
    this.#outOrThrow("kho_unpreserve_folio").unpreserveFolio(pfn);
  }

  /** `kho_preserve_pages` (6.18 on). */
  preservePages(pfn: number, nrPages: number): void {
    const out = this.out;
    // the common call first: one page, a pfn below 2^32 (the checks pass)
    if (nrPages === 1 && (pfn >>> 0) === pfn && out !== null && this.#hasPreservePages) {
      out.preservePage(pfn);
    } else this.#preservePagesChecked(pfn, nrPages);
  }

  #preservePagesChecked(pfn: number, nrPages: number): void {
    if (!this.#hasPreservePages) this.requireApi("preservePages", "kho_preserve_pages");
    rangeArgs("kho_preserve_pages", pfn, nrPages);
    (this.out ?? this.#outOrThrow("kho_preserve_pages")).preservePages(pfn, nrPages);
  }

  /** `kho_unpreserve_pages`. */
  unpreservePages(pfn: number, nrPages: number): void {
    this.requireApi("unpreservePages", "kho_unpreserve_pages");
    rangeArgs("kho_unpreserve_pages", pfn, nrPages);
    this.#outOrThrow("kho_unpreserve_pages").unpreservePages(pfn, nrPages);
  }

  /** `kho_preserve_phys(phys, size)` (6.16, RFC v1). */
  preservePhys(phys: number, size: number): void {
    const out = this.out;
    // the common call first: one page at an aligned address below 16 TiB (the checks pass)
    if (
      size === PAGE_SIZE && (phys / PAGE_SIZE) >>> 0 === phys / PAGE_SIZE && out !== null &&
      this.#hasPreservePhys
    ) {
      out.preservePage(phys / PAGE_SIZE, true);
    } else this.#preservePhysChecked(phys, size);
  }

  #preservePhysChecked(phys: number, size: number): void {
    if (!this.#hasPreservePhys) this.requireApi("preservePhys", "kho_preserve_phys");
    physArgs("kho_preserve_phys", phys, size);
    (this.out ?? this.#outOrThrow("kho_preserve_phys")).preservePhys(phys, size);
  }

  /** 6.16's internal `__kho_unpreserve` on a physical range (shows its lockup bug). */
  unpreservePhys(phys: number, size: number): void {
    this.requireApi("unpreservePhys", "__kho_unpreserve");
    physArgs("__kho_unpreserve", phys, size);
    this.#outOrThrow("__kho_unpreserve").unpreservePhys(phys, size);
  }

  /**
   * Preserves `[pfn, pfn + nrPages)` with whatever this generation offers:
   * `kho_preserve_pages` (6.18 on) or `kho_preserve_phys` (6.16, RFC v1).
   */
  preserveRange(pfn: number, nrPages: number): void {
    rangeArgs(this.#hasPreservePages ? "kho_preserve_pages" : "kho_preserve_phys", pfn, nrPages);
    if (this.#hasPreservePages) this.preservePages(pfn, nrPages);
    else this.preservePhys(pfn * PAGE_SIZE, nrPages * PAGE_SIZE);
  }

  /**
   * `kho_alloc_preserve(size)` (6.19 on): physical address of a zeroed, preserved folio. With
   * KHO off the folio is allocated, `kho_preserve_folio` finds no tree (WARN_ON_ONCE, EINVAL)
   * and the folio is freed again: EINVAL, as in the kernel (EOPNOTSUPP is only the
   * `!CONFIG_KEXEC_HANDOVER` stub).
   */
  allocPreserve(size: number): number {
    this.requireApi("allocPreserve", "kho_alloc_preserve");
    if (this.out === null) return this.#allocPreserveOff(size);
    return this.out.allocPreserve(size);
  }

  #allocPreserveOff(size: number): never {
    const [pfn] = allocPreserveFolio(this.#host.buddy, size, "kho_alloc_preserve");
    this.#host.buddy.folioPut(pfn);
    return this.#outOrThrow("kho_preserve_folio") as never;
  }

  /** `kho_unpreserve_free` (0 is accepted). */
  unpreserveFree(phys: number): void {
    if (phys === 0) return;
    this.requireApi("allocPreserve", "kho_unpreserve_free");
    checkUnsignedLong("kho_unpreserve_free", "mem", phys);
    this.#outOrThrow("kho_unpreserve_free").unpreserveFree(phys);
  }

  /**
   * `kho_add_subtree(name, blob, size)`. In the notifier era (6.16, 6.18) sub-trees can only
   * be added inside a FINALIZE notifier: use {@link Kho.registerSubtree}.
   */
  addSubtree(name: string, blobPhys: number, size: number): void {
    if (this.out === null) throw new KhoError("EOPNOTSUPP", "kho_add_subtree: KHO is not enabled");
    this.out.addSubtree(name, blobPhys, size);
  }

  /**
   * Publishes a sub-tree the way this generation's clients do: directly with
   * `kho_add_subtree`, or in the notifier era from a FINALIZE notifier registered now.
   */
  registerSubtree(name: string, blobPhys: number, size: number): void {
    const out = this.#outOrThrow("kho_add_subtree");
    if (this.profile.finalize === "notifier") {
      out.registerNotifier((event, ser) => {
        if (event === "finalize") ser!.addSubtree(name, blobPhys);
        return 0;
      });
    } else out.addSubtree(name, blobPhys, size);
  }

  /** `register_kho_notifier` (6.16–6.18). */
  registerNotifier(fn: KhoNotifier): void {
    if (this.profile.finalize !== "notifier") {
      throw new KhoError(
        "EOPNOTSUPP",
        `register_kho_notifier does not exist in ${this.profile.name}`,
      );
    }
    this.#outOrThrow("register_kho_notifier").registerNotifier(fn);
  }

  /** `kho_split_preserved_pages(pfn, order)` (page-type RFC profiles). */
  splitPreservedPages(pfn: number, order: number): void {
    this.requireApi("splitPreservedPages", "kho_split_preserved_pages");
    pfnArg("kho_split_preserved_pages", pfn);
    checkUnsignedLong("kho_split_preserved_pages", "order", order, 63);
    this.#outOrThrow("kho_split_preserved_pages").splitPreservedPages(pfn, order);
  }

  /** `kho_finalize` (6.16–6.19): see {@link KhoOut.finalize}. */
  finalize(): void {
    if (this.out === null) throw new KhoError("EOPNOTSUPP", "kho_finalize: KHO is not enabled");
    this.out.finalize();
  }

  /** `kho_abort` (6.16, 6.18): see {@link KhoOut.abort}. */
  abort(): void {
    if (this.out === null) throw new KhoError("EOPNOTSUPP", "kho_abort: KHO is not enabled");
    this.out.abort();
  }

  /** `kho_remove_subtree(blob)` (6.19 on). */
  removeSubtree(blobPhys: number): void {
    this.requireApi("removeSubtree", "kho_remove_subtree");
    this.out?.removeSubtree(blobPhys);
  }

  /** `kho_retrieve_subtree(name)`: `{ phys, size }` (size from kho-v3 on). */
  retrieveSubtree(name: string): { phys: number; size?: number } {
    if (this.incoming === null) throw new KhoError("ENOENT", "no incoming KHO FDT");
    return this.incoming.retrieveSubtree(name);
  }

  /** `kho_restore_folio(phys)`: head pfn or null. */
  restoreFolio(phys: number): number | null {
    checkUnsignedLong("kho_restore_folio", "phys", phys, Infinity);
    if (this.incoming === null || !this.incoming.isKhoBoot) return null;
    return this.incoming.restoreFolio(phys);
  }

  /** `kho_restore_pages(phys, nr)` (6.18 on): first pfn or null. */
  restorePages(phys: number, nrPages: number): number | null {
    this.requireApi("restorePages", "kho_restore_pages");
    checkUnsignedLong("kho_restore_pages", "phys", phys, Infinity);
    checkUnsignedLong("kho_restore_pages", "nr_pages", nrPages, Infinity);
    if (this.incoming === null || !this.incoming.isKhoBoot) return null;
    return this.incoming.restorePages(phys, nrPages);
  }

  /** `kho_restore_free(mem)`: restores the folio and gives it to the allocator (0 accepted). */
  restoreFree(phys: number): void {
    if (phys === 0) return;
    this.requireApi("allocPreserve", "kho_restore_free");
    checkUnsignedLong("kho_restore_free", "mem", phys, Infinity);
    const pfn = this.incoming?.isKhoBoot ? this.#inOrThrow().restoreFolio(phys) : null;
    if (pfn === null) {
      this.#log.warn("kho_restore_free", `cannot restore ${hex(phys)}`);
      return;
    }
    this.#host.buddy.folioPut(pfn);
  }

  /**
   * `kho_fill_kimage` + the kexec reboot: places the scratch array and the next kernel's
   * image inside scratch (`kho_locate_mem_hole`), writes the array, and returns the handover
   * record. Throws EADDRNOTAVAIL when the segments do not fit in scratch.
   */
  fillKimage(
    options: { imageBytes: number; mem: PhysicalMemory; crash?: boolean },
  ): { handover: Handover; imagePhys: number } {
    const out = this.#outOrThrow("kho_fill_kimage");
    const fdtPhys = out.prepareKexec();
    const plan = this.planKimage(options);
    options.mem.writeBytes(plan.handover.scratchPhys, encodeScratchArray(out.scratch));
    return { handover: { ...plan.handover, fdtPhys }, imagePhys: plan.imagePhys };
  }

  /**
   * Where {@link Kho.fillKimage} would put the next kernel's image (2 MiB aligned) and the
   * scratch array (64 KiB aligned, `kho_fill_kimage`'s `buf_align`), top-down in scratch —
   * or, for a crash image, where kexec's generic search puts them — and the handover record it
   * would pass, computed without writing anything. Throws EADDRNOTAVAIL when the segments do
   * not fit in scratch.
   */
  planKimage(
    options: { imageBytes: number; crash?: boolean },
  ): { handover: Handover; imagePhys: number } {
    const out = this.#outOrThrow("kho_fill_kimage");
    const areas = out.scratch;
    const scratchLen = areas.length * KHO_SCRATCH_ENTRY_SIZE;
    const placed: PlacedSegment[] = [];
    let imagePhys: number;
    let scratchPhys: number;
    if (options.crash) {
      // kho_locate_mem_hole returns 1 for a crash image: kexec's generic search places the
      // segments (kholab has no crashkernel= region: the cold load address, then the array).
      imagePhys = COLD_IMAGE_PHYS;
      scratchPhys = Math.ceil((imagePhys + options.imageBytes) / (64 * 1024)) * 64 * 1024;
    } else {
      imagePhys = locateMemHole(
        areas,
        { size: options.imageBytes, align: 2 * 1024 * 1024 },
        placed,
      );
      placed.push({ mem: imagePhys, memsz: options.imageBytes });
      scratchPhys = locateMemHole(areas, { size: scratchLen, align: 64 * 1024 }, placed);
    }
    return {
      handover: { fdtPhys: out.root.phys, fdtLen: KHO_FDT_SIZE, scratchPhys, scratchLen },
      imagePhys,
    };
  }
}

/** The default size of a kernel image segment (text, data, bss, initrd): 64 MiB. */
export const DEFAULT_IMAGE_BYTES = 64 * 1024 * 1024;
/** Where a cold-booted kernel image lives (x86 `LOAD_PHYSICAL_ADDR`, 16 MiB). */
export const COLD_IMAGE_PHYS = 16 * 1024 * 1024;
/** Pages of low memory the firmware and real-mode trampolines keep (first 1 MiB). */
export const LOW_RESERVED_BYTES = 256 * PAGE_SIZE;
