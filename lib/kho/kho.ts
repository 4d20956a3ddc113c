/**
 * KHO of one kernel: the outgoing state (preserve API, tracker, root FDT) and, on a KHO boot,
 * the incoming state (restore API, sub-tree retrieval), plus the kexec step that turns the
 * outgoing state into the 32-byte handover record.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import { GFP_KERNEL } from "../kernel/gfp.ts";
import { getOrder, hex, MAX_PAGE_ORDER, PAGE_SIZE } from "../units.ts";
import {
  encodeKexecMetadata,
  KEXEC_METADATA_LAYOUT,
  KHO_KEXEC_METADATA_NAME,
  KHO_KEXEC_METADATA_VERSION,
  readKexecMetadata,
} from "./abi/kexec_metadata.ts";
import type { Handover } from "./abi/kho_data.ts";
import type { AbiProfile, KhoApi } from "./profiles.ts";
import { encodeScratchArray, type ScratchArea } from "./abi/asm_generic_kexec_handover.ts";
import { type KhoNotifier, KhoOut, type KhoOutHost } from "./preserve.ts";
import type { KhoIn } from "./restore.ts";
import { KHO_FDT_SIZE } from "./abi/kexec_handover.ts";
import { locateMemHole, type PlacedSegment } from "./scratch.ts";

/** The KHO facade of a kernel. */
export class Kho {
  /** Whether KHO is enabled in this kernel (`kho=`; false after a scratch failure). */
  readonly enabled: boolean;
  /** The profile this kernel speaks. */
  readonly profile: AbiProfile;
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
    },
  ) {
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
    },
  ): Kho {
    const { host, profile, incoming } = options;
    let kexecCount = 0;
    let previousRelease: string | null = null;
    if (incoming?.isKhoBoot && profile.kexecMetadata) {
      try {
        const { phys, size } = incoming.retrieveSubtree(KHO_KEXEC_METADATA_NAME);
        const len = Math.min(size ?? KEXEC_METADATA_LAYOUT.size, KEXEC_METADATA_LAYOUT.size);
        const r = readKexecMetadata(host.mem.readBytes(phys, len));
        if (r.ok) {
          kexecCount = r.value.kexecCount;
          previousRelease = r.value.previousRelease;
        } else host.log.warning("KHO", `ignoring kexec-metadata: ${r.reason}`);
      } catch (e) {
        host.log.warning("KHO", `no kexec-metadata: ${(e as Error).message}`);
      }
    }
    let out: KhoOut | null = null;
    if (options.enabled) {
      try {
        out = KhoOut.init(host, profile, options.scratch);
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
    return new Kho({ host, profile, out, incoming, kexecCount, previousRelease });
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

  #api(fn: KhoApi, callsite: string): void {
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
    (this.out ?? this.#outOrThrow("kho_preserve_folio")).preserveFolio(pfn);
  }

  /** `kho_unpreserve_folio` (6.19 on). */
  unpreserveFolio(pfn: number): void {
    this.#api("unpreserveFolio", "kho_unpreserve_folio");
    this.#outOrThrow("kho_unpreserve_folio").unpreserveFolio(pfn);
  }

  /** `kho_preserve_pages` (6.18 on). */
  preservePages(pfn: number, nrPages: number): void {
    if (!this.#hasPreservePages) this.#api("preservePages", "kho_preserve_pages");
    (this.out ?? this.#outOrThrow("kho_preserve_pages")).preservePages(pfn, nrPages);
  }

  /** `kho_unpreserve_pages`. */
  unpreservePages(pfn: number, nrPages: number): void {
    this.#api("unpreservePages", "kho_unpreserve_pages");
    this.#outOrThrow("kho_unpreserve_pages").unpreservePages(pfn, nrPages);
  }

  /** `kho_preserve_phys(phys, size)` (6.16, RFC v1). */
  preservePhys(phys: number, size: number): void {
    if (!this.#hasPreservePhys) this.#api("preservePhys", "kho_preserve_phys");
    (this.out ?? this.#outOrThrow("kho_preserve_phys")).preservePhys(phys, size);
  }

  /** 6.16's internal `__kho_unpreserve` on a physical range (shows its lockup bug). */
  unpreservePhys(phys: number, size: number): void {
    this.#api("unpreservePhys", "__kho_unpreserve");
    this.#outOrThrow("__kho_unpreserve").unpreservePhys(phys, size);
  }

  /**
   * Preserves `[pfn, pfn + nrPages)` with whatever this generation offers:
   * `kho_preserve_pages` (6.18 on) or `kho_preserve_phys` (6.16, RFC v1).
   */
  preserveRange(pfn: number, nrPages: number): void {
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
    this.#api("allocPreserve", "kho_alloc_preserve");
    if (this.out === null) return this.#allocPreserveOff(size);
    return this.out.allocPreserve(size);
  }

  #allocPreserveOff(size: number): never {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new KhoError("EINVAL", `kho_alloc_preserve(${size})`);
    }
    const order = getOrder(size);
    if (order > MAX_PAGE_ORDER) {
      throw new KhoError("E2BIG", `kho_alloc_preserve(${size}): order ${order}`);
    }
    const pfn = this.#host.buddy.folioAlloc(order, {
      gfp: { ...GFP_KERNEL, zero: true },
      site: "kho_alloc_preserve",
    });
    if (pfn === null) {
      throw new KhoError("ENOMEM", `kho_alloc_preserve(${size}): no order-${order} folio`);
    }
    this.#host.buddy.folioPut(pfn);
    return this.#outOrThrow("kho_preserve_folio") as never;
  }

  /** `kho_unpreserve_free` (0 is accepted). */
  unpreserveFree(phys: number): void {
    if (phys === 0) return;
    this.#api("allocPreserve", "kho_unpreserve_free");
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
    this.#api("splitPreservedPages", "kho_split_preserved_pages");
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
    this.#api("removeSubtree", "kho_remove_subtree");
    this.out?.removeSubtree(blobPhys);
  }

  /** `kho_retrieve_subtree(name)`: `{ phys, size }` (size from kho-v3 on). */
  retrieveSubtree(name: string): { phys: number; size?: number } {
    if (this.incoming === null) throw new KhoError("ENOENT", "no incoming KHO FDT");
    return this.incoming.retrieveSubtree(name);
  }

  /** `kho_restore_folio(phys)`: head pfn or null. */
  restoreFolio(phys: number): number | null {
    if (this.incoming === null || !this.incoming.isKhoBoot) return null;
    return this.incoming.restoreFolio(phys);
  }

  /** `kho_restore_pages(phys, nr)` (6.18 on): first pfn or null. */
  restorePages(phys: number, nrPages: number): number | null {
    this.#api("restorePages", "kho_restore_pages");
    if (this.incoming === null || !this.incoming.isKhoBoot) return null;
    return this.incoming.restorePages(phys, nrPages);
  }

  /** `kho_restore_free(mem)`: restores the folio and gives it to the allocator (0 accepted). */
  restoreFree(phys: number): void {
    if (phys === 0) return;
    this.#api("allocPreserve", "kho_restore_free");
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
    options: { imageBytes: number; mem: PhysicalMemory },
  ): { handover: Handover; imagePhys: number } {
    const out = this.#outOrThrow("kho_fill_kimage");
    const fdtPhys = out.prepareKexec();
    const areas = out.scratch;
    const array = encodeScratchArray(areas);
    const placed: PlacedSegment[] = [];
    const imagePhys = locateMemHole(
      areas,
      { size: options.imageBytes, align: 2 * 1024 * 1024 },
      placed,
    );
    placed.push({ mem: imagePhys, memsz: options.imageBytes });
    const scratchPhys = locateMemHole(areas, { size: array.length, align: 64 * 1024 }, placed);
    options.mem.writeBytes(scratchPhys, array);
    return {
      handover: {
        fdtPhys,
        fdtLen: KHO_FDT_SIZE,
        scratchPhys,
        scratchLen: array.length,
      },
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
