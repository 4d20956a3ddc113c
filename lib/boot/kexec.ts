/**
 * The kexec reboot path of a running kernel, as named steps in the kernel's order
 * (`kernel_kexec`): finalize KHO where the generation needs it (what the selftest's init or
 * LUO's reboot hook do), `kho_fill_kimage` (image and scratch array placed in scratch, the
 * handover record filled), then `machine_kexec` (the image copied into place). What the
 * steps produce is the {@link BootHandoff} of the next boot; nothing else crosses.
 *
 * LUO's `liveupdate_reboot` runs first: it serializes the sessions, files and FLBs, and an
 * error there (a handler's freeze failing, 6.19's finalize) aborts the kexec — the kernel keeps
 * running.
 *
 * A kexec into a kdump kernel (`config.crashKernel` of the next boot) loads a crash image
 * (KEXEC_TYPE_CRASH) and takes the crash path: no `liveupdate_reboot`, no finalize;
 * `kho_locate_mem_hole` does not place crash segments in scratch (luo-hugetlb-facts §5.5), so
 * they go where kexec's generic search puts them — kholab has no `crashkernel=` region and
 * uses the cold-boot load address for the image, the scratch array right after it. Whether
 * `kho_fill_kimage` still hands the crashed kernel's KHO over depends on the generation
 * (`kdump-kho-active`: it does until the mm tree's fix).
 *
 * @module
 */

import { hex } from "../units.ts";
import type { Machine } from "../machine/machine.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import type { Handover } from "../kho/abi/kho_data.ts";
import type { AbiProfile } from "../kho/profiles.ts";
import { COLD_IMAGE_PHYS, DEFAULT_IMAGE_BYTES, type Kho } from "../kho/kho.ts";
import type { LiveUpdate } from "../luo/luo_core.ts";
import { type BootOptions, resolveBootConfig } from "./options.ts";

/** Pattern of the image segment copied into place at reboot. */
export const KEXEC_IMAGE_PATTERN = 0x1a2b3c4d;

/** The dying kernel as the kexec steps see it, and what they hand on. */
export interface KexecContext {
  /** The machine. */
  readonly machine: Machine;
  /** The dying kernel's log. */
  readonly log: KernelLog;
  /** The dying kernel's ABI profile. */
  readonly profile: AbiProfile;
  /** The dying kernel's KHO. */
  readonly kho: Kho;
  /** The dying kernel's Live Update Orchestrator. */
  readonly liveupdate: LiveUpdate;
  /** Options of the next boot. */
  readonly options: BootOptions;
  /** Size of the next kernel's image segment. */
  readonly imageBytes: number;
  /** The handover record (set by `kho_fill_kimage`; null without KHO). */
  handover: Handover | null;
  /** Where the next kernel's image goes. */
  imagePhys: number;
  /** Whether the image is a crash image (the next kernel is a kdump kernel). */
  readonly crash: boolean;
}

/** One step of the kexec path. */
export interface KexecStep {
  /** The kernel function it models. */
  readonly name: string;
  /** Runs the step. */
  readonly run: (ctx: KexecContext) => void;
}

/**
 * `liveupdate_reboot`: LUO's final serialization; its error aborts the kexec. A crash kexec
 * does not run it (`__crash_kexec` does not go through `kernel_kexec`).
 */
export function liveupdateReboot(ctx: KexecContext): void {
  if (ctx.crash) return;
  ctx.liveupdate.reboot();
}

/**
 * `kho_finalize` before kexec, if this generation needs it (`finalize` not "none"), it has not
 * run yet (or may run again) and `finalizeAtKexec` is not false.
 */
export function khoFinalizeAtKexec(ctx: KexecContext): void {
  const { kho, profile } = ctx;
  if (ctx.crash) return;
  if (kho.enabled && profile.finalize !== "none" && (ctx.options.finalizeAtKexec ?? true)) {
    if (!kho.out!.finalized || profile.finalize === "repeatable") {
      ctx.log.info("KHO", "finalizing before kexec");
      kho.finalize();
    }
  }
}

/**
 * `kho_fill_kimage`: the image and the scratch array placed in scratch, the handover filled.
 * For a crash image, generations with `kdump-kho-active` still fill it (segments outside
 * scratch); the mm tree's fix returns early (no handover).
 */
export function khoFillKimage(ctx: KexecContext): void {
  if (!ctx.kho.enabled) return;
  if (ctx.crash && !ctx.profile.bugs.includes("kdump-kho-active")) return;
  const filled = ctx.kho.fillKimage({
    imageBytes: ctx.imageBytes,
    mem: ctx.machine.mem,
    crash: ctx.crash,
  });
  ctx.handover = filled.handover;
  ctx.imagePhys = filled.imagePhys;
}

/** `machine_kexec`: the image segment is copied into place at reboot. */
export function machineKexec(ctx: KexecContext): void {
  ctx.machine.mem.fill(ctx.imagePhys, ctx.imageBytes, { pattern: KEXEC_IMAGE_PATTERN });
  ctx.log.info(
    "",
    `kexec${ctx.crash ? " (crash image)" : ""}: ${
      ctx.handover ? `KHO handover FDT ${hex(ctx.handover.fdtPhys)}` : "no KHO"
    }`,
  );
}

/** The kexec path, in the kernel's order. */
export const KEXEC_STEPS: readonly KexecStep[] = [
  { name: "liveupdate_reboot", run: liveupdateReboot },
  { name: "kho_finalize", run: khoFinalizeAtKexec },
  { name: "kho_fill_kimage", run: khoFillKimage },
  { name: "machine_kexec", run: machineKexec },
];

/** Runs the kexec steps for the dying kernel; returns the context with the handoff filled. */
export function kernelKexec(
  dying: Omit<KexecContext, "handover" | "imagePhys" | "imageBytes" | "crash">,
  steps: readonly KexecStep[] = KEXEC_STEPS,
): KexecContext {
  const ctx: KexecContext = {
    ...dying,
    crash: resolveBootConfig(dying.options.config).crashKernel,
    imageBytes: dying.options.imageBytes ?? DEFAULT_IMAGE_BYTES,
    handover: null,
    imagePhys: COLD_IMAGE_PHYS,
  };
  for (const step of steps) step.run(ctx);
  return ctx;
}
