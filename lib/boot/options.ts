/**
 * How a kernel boots ({@link BootOptions}), what the previous kernel handed it
 * ({@link BootHandoff}) and what happened during boot ({@link BootReport}).
 *
 * Where switches go: the kernel command line (`cmdline`) carries boot parameters, each
 * parsed by `lib/kernel/cmdline.ts` and consumed by the boot phase that models its
 * `early_param`/`__setup` handler (`reserve_mem=`: the `reserve_mem` phase of `./phases.ts`,
 * in `./reserve_mem.ts`). Build-time configuration and the kind of kernel are one `config` group
 * ({@link BootConfig}: CONFIG_KEXEC_HANDOVER_DEBUG, CONFIG_DEFERRED_STRUCT_PAGE_INIT, a kdump
 * kernel, kholab's strict checks) that the phases read from the boot context (`./context.ts`)
 * and that the boot report repeats.
 *
 * @module
 */

import type { FaultOptions } from "../kernel/faults.ts";
import type { Clock } from "../rng.ts";
import type { Handover } from "../kho/abi/kho_data.ts";
import type { AbiProfile, ProfileName } from "../kho/profiles.ts";
import type { ScratchArea } from "../kho/abi/asm_generic_kexec_handover.ts";
import type { RetrieveStats } from "../kho/restore.ts";
import type { ExtScratchReport } from "../kho/ext_scratch.ts";

/** Seed of the poison pattern written over memory handed to the allocator. */
export const POISON_SEED = 0x6b6b6b6b;

/**
 * The kernel's build configuration and kind, per boot. Every switch defaults to off.
 *
 * - `khoDebug` — CONFIG_KEXEC_HANDOVER_DEBUG: `kho_scratch_overlap()` does real work only with
 *   it (kho-facts §1.1, §5.5), so preserving memory inside scratch is refused (WARN, EINVAL)
 *   only then. A debug option without a Kconfig default (`kernel/liveupdate/Kconfig`), so off,
 *   as in distribution kernels.
 * - `deferredStructPageInit` — CONFIG_DEFERRED_STRUCT_PAGE_INIT: the successor initialises
 *   every page of each preserved block before stamping it (`kho_get_preserved_page` →
 *   `init_deferred_page`, kho-facts §5.2); counted in {@link RetrieveStats}. Released kernels
 *   forbid the combination (8b66ed2c3f42): only a profile with the fix boots with it.
 * - `crashKernel` — this kernel is a kdump kernel (`is_kdump_kernel()`); on `kexec`, the
 *   image is a crash image (KEXEC_TYPE_CRASH): no `liveupdate_reboot`, no finalize, and
 *   `kho_locate_mem_hole` does not place it in scratch (luo-hugetlb-facts §5.5).
 * - `strict` — kholab's hardened successor: the checks a hardened kernel could add on top of
 *   `kho_populate`'s (scratch array and areas inside RAM, page-aligned, not overlapping each
 *   other, the FDT or the kernel; the kernel image inside scratch; every tracker pointer inside
 *   RAM, no cycle, no shared node, every block inside RAM). A failed check refuses the
 *   handover ("disabling KHO revival") and the boot report names it. Off: the kernel's own
 *   verdict — what `kho_populate` checks, then whatever the bytes make the kernel do
 *   (a named oops or a detected hang where it would fault or loop).
 */
export interface BootConfig {
  /** CONFIG_KEXEC_HANDOVER_DEBUG. Default false. */
  khoDebug?: boolean;
  /** CONFIG_DEFERRED_STRUCT_PAGE_INIT. Default false. */
  deferredStructPageInit?: boolean;
  /** A kdump kernel (and, on kexec, a crash image). Default false. */
  crashKernel?: boolean;
  /** kholab's strict (hardened) handover checks. Default false: the kernel's own verdict. */
  strict?: boolean;
}

/** A {@link BootConfig} with every switch resolved. */
export type ResolvedBootConfig = Readonly<Required<BootConfig>>;

/** Resolves the defaults of a {@link BootConfig} (every switch off). */
export function resolveBootConfig(config: BootConfig | undefined): ResolvedBootConfig {
  return {
    khoDebug: config?.khoDebug ?? false,
    deferredStructPageInit: config?.deferredStructPageInit ?? false,
    crashKernel: config?.crashKernel ?? false,
    strict: config?.strict ?? false,
  };
}

/**
 * The switches that are on, as the kernel names them: `CONFIG_KEXEC_HANDOVER_DEBUG=y`,
 * `CONFIG_DEFERRED_STRUCT_PAGE_INIT=y`, `kdump`, `strict`; "" when none is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeBootConfig, resolveBootConfig } from "./options.ts";
 * assert.equal(describeBootConfig(resolveBootConfig({ crashKernel: true })), "kdump");
 * assert.equal(describeBootConfig(resolveBootConfig({})), "");
 * ```
 */
export function describeBootConfig(config: ResolvedBootConfig): string {
  const on: string[] = [];
  if (config.khoDebug) on.push("CONFIG_KEXEC_HANDOVER_DEBUG=y");
  if (config.deferredStructPageInit) on.push("CONFIG_DEFERRED_STRUCT_PAGE_INIT=y");
  if (config.crashKernel) on.push("kdump");
  if (config.strict) on.push("strict");
  return on.join(" ");
}

/** How to boot a kernel. */
export interface BootOptions {
  /** Kernel command line (`kho=on kho_scratch=200% reserve_mem=…`). Default "". */
  cmdline?: string;
  /** ABI profile of this kernel. Default: the current profile. */
  profile?: ProfileName | AbiProfile;
  /** `uname -r` of this kernel, recorded in kexec-metadata. Default from the profile. */
  release?: string;
  /**
   * Fill every range handed to the page allocator with a poison pattern, so anything that
   * relied on memory that was not preserved reads garbage. Default true.
   */
  poison?: boolean;
  /** Bytes of `struct page` per page frame, allocated from memblock per node. Default 64. */
  memmapBytesPerPage?: number;
  /** Size of the kernel image segment. Default 64 MiB. */
  imageBytes?: number;
  /** Fault injection armed from the start of the boot. */
  faults?: FaultOptions;
  /**
   * Physical ranges `[start, start + size)` kept out of every boot-time allocation and out of
   * the free lists: `e820__memblock_setup` reserves them in memblock, as `setup_arch` reserves
   * what the boot loader handed over, and `memblock_free_all` leaves them alone. Whoever asked
   * for them takes them right after boot (an import of a real host's preserved blocks,
   * `lib/scenario/pfn_import.ts`, frees them to the page allocator and allocates exactly them),
   * so that this kernel's memmap, scratch areas and KHO metadata land elsewhere, as they did
   * on the host. Cold boot only: kexec does not pass them on.
   */
  heldRanges?: readonly { readonly start: number; readonly size: number }[];
  /**
   * At kexec, run `kho_finalize` first if this generation needs it and it has not run (as the
   * selftest's init or LUO's reboot hook do). Default true; false hands over an unfinalized
   * state, which the successor cannot revive.
   */
  finalizeAtKexec?: boolean;
  /** Build configuration and kind of kernel ({@link BootConfig}; every switch off by default). */
  config?: BootConfig;
  /**
   * Clock for the boot's timed regions (the reservation walk, `reserveMs`); without one
   * nothing is timed. The wall clock is handed in by the outermost caller.
   */
  clock?: Clock;
}

/** What the previous kernel passed on (absent on a cold boot). */
export interface BootHandoff {
  /** The handover record, or null when the previous kernel did not use KHO. */
  handover: Handover | null;
  /** Where the previous kernel placed this kernel's image. */
  imagePhys: number;
  /** Boots on this machine so far (0 = power-on). */
  bootIndex: number;
}

/** What happened during boot, for metrics and tests. */
export interface BootReport {
  /** The configuration this kernel booted with. */
  config: ResolvedBootConfig;
  /**
   * Whose verdict on the incoming handover: `"kernel"` (what the kernel checks) or
   * `"strict"` (kholab's hardened checks on top).
   */
  verdict: "kernel" | "strict";
  /** True when the handover was accepted. */
  khoBoot: boolean;
  /** Why KHO revival was disabled, when a handover was offered and refused. */
  revivalRefused?: string;
  /**
   * In strict mode, the extra check (one the kernel does not make) that refused the handover
   * or aborted the tracker walk, e.g. `"scratch area inside RAM"`; absent when the kernel's
   * own checks decided.
   */
  strictCheck?: string;
  /** The successor's tracker walk, on a KHO boot. */
  retrieve?: RetrieveStats;
  /**
   * What `kho_extend_scratch` did (profiles with extended scratch, on a KHO boot): the busy
   * 1 GiB blocks, the areas marked `MEMBLOCK_KHO_SCRATCH_EXT`, its counters and the second
   * tree's bytes.
   */
  extScratch?: ExtScratchReport;
  /** Pages handed to the buddy allocator by memblock_free_all. */
  freedPages: number;
  /**
   * Whether memory handed to the page allocator at boot was poisoned (`BootOptions.poison`): when
   * it was not, a preserved object the walk did not keep may still hold its bytes — content that
   * survived only because freed memory was not overwritten.
   */
  poisoned: boolean;
  /** Scratch areas of this kernel (reserved on a cold boot, inherited on a KHO boot). */
  scratch: ScratchArea[];
}
