/**
 * How a kernel boots ({@link BootOptions}), what the previous kernel handed it
 * ({@link BootHandoff}) and what happened during boot ({@link BootReport}).
 *
 * Where later switches go: the kernel command line (`cmdline`) carries boot parameters, each
 * parsed by `lib/kernel/cmdline.ts` and consumed by the boot phase that models its
 * `early_param`/`__setup` handler (`reserve_mem=`: the `reserve_mem` phase of `./phases.ts`,
 * in `./reserve_mem.ts`). Build-time configuration (CONFIG_KEXEC_HANDOVER_DEBUG,
 * CONFIG_DEFERRED_STRUCT_PAGE_INIT, a kdump kernel) joins BootOptions as one `config` group
 * that the phases read from the boot context (`./context.ts`); none of those switches exists yet.
 *
 * @module
 */

import type { FaultOptions } from "../kernel/faults.ts";
import type { Handover } from "../kho/abi/kho_data.ts";
import type { AbiProfile, ProfileName } from "../kho/profiles.ts";
import type { ScratchArea } from "../kho/abi/asm_generic_kexec_handover.ts";
import type { RetrieveStats } from "../kho/restore.ts";

/** Seed of the poison pattern written over memory handed to the allocator. */
export const POISON_SEED = 0x6b6b6b6b;

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
   * At kexec, run `kho_finalize` first if this generation needs it and it has not run (as the
   * selftest's init or LUO's reboot hook do). Default true; false hands over an unfinalized
   * state, which the successor cannot revive.
   */
  finalizeAtKexec?: boolean;
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
  /** True when the handover was accepted. */
  khoBoot: boolean;
  /** Why KHO revival was disabled, when a handover was offered and refused. */
  revivalRefused?: string;
  /** The successor's tracker walk, on a KHO boot. */
  retrieve?: RetrieveStats;
  /** Pages handed to the buddy allocator by memblock_free_all. */
  freedPages: number;
  /** Scratch areas of this kernel (reserved on a cold boot, inherited on a KHO boot). */
  scratch: ScratchArea[];
}
