/**
 * One kernel boot on a {@link Machine}: memblock → (KHO revival) → buddy allocator, struct
 * pages, vmalloc, the kernel log, and KHO, built by the boot phases of `./phases.ts`.
 * `kexec()` ends this kernel and boots the next one (`./kexec.ts`), which receives nothing
 * but physical memory and the 32-byte handover record.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Machine } from "../machine/machine.ts";
import type { BuddyAllocator } from "../kernel/buddy.ts";
import type { KernelParams } from "../kernel/cmdline.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import type { FaultInjector } from "../kernel/faults.ts";
import type { Hugetlb } from "../kernel/hugetlb.ts";
import type { Memblock } from "../kernel/memblock.ts";
import type { Memmap } from "../kernel/memmap.ts";
import type { Vmalloc } from "../kernel/vmalloc.ts";
import type { AbiProfile } from "../kho/profiles.ts";
import { COLD_IMAGE_PHYS, type Kho } from "../kho/kho.ts";
import type { LiveUpdate } from "../luo/luo_core.ts";
import { BootContext } from "./context.ts";
import { kernelKexec } from "./kexec.ts";
import type { BootHandoff, BootOptions, BootReport } from "./options.ts";
import { startKernel } from "./phases.ts";
import type { ReserveMemState } from "./reserve_mem.ts";

export { KernelPanic } from "../kernel/panic.ts";
export { POISON_SEED } from "./options.ts";
export type {
  BootConfig,
  BootHandoff,
  BootOptions,
  BootReport,
  ResolvedBootConfig,
} from "./options.ts";

/** Observers of one {@link Kernel.kexec} (not inherited by the next kernel). */
export interface KexecHooks {
  /** Called with the handoff once the kexec path has run, before the next kernel boots. */
  onHandoff?: (handoff: Readonly<BootHandoff>) => void;
}

/**
 * Kernel code above the boot layer that a booted kernel runs, as `do_initcalls` runs a
 * built-in's initcall or `insmod` a module's init: e.g. `memfd_luo_init`, which registers the
 * memfd LUO file handler (`lib/clients/memfd_luo.ts`). It runs once the boot is complete —
 * before anything can open `/dev/liveupdate`, whose first open deserializes the incoming
 * files and needs their handlers. A module keeps its state per kernel: `init` is called
 * again, with the new kernel, after every kexec.
 */
export interface KernelModule {
  /** The module (or initcall) name, as in the log. */
  readonly name: string;
  /** Its init function; a {@link KhoError} is its `-errno` return. */
  init(kernel: Kernel): void;
}

/** {@link BootOptions} and the modules the kernel runs once booted. */
export interface KernelOptions extends BootOptions {
  /**
   * Modules (or built-in initcalls above the boot layer) run after boot, in order; a kexec
   * passes them on with the other options unless the next boot's options replace them.
   */
  modules?: readonly KernelModule[];
}

/**
 * A booted kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "./kernel.ts";
 * const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
 * const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on" });
 * const pfn = k1.buddy.folioAlloc(2)!;
 * machine.mem.fill(pfn * 4096, 4 * 4096, { pattern: 1 });
 * k1.kho.preserveFolio(pfn);
 * const k2 = k1.kexec();
 * assert.ok(k2.kho.isKhoBoot && k2.kho.restoreFolio(pfn * 4096) === pfn);
 * ```
 */
export class Kernel {
  /** The machine (survives kexec). */
  readonly machine: Machine;
  /** This boot's log. */
  readonly log: KernelLog;
  /** This boot's fault injection. */
  readonly faults: FaultInjector;
  /** Parsed command line. */
  readonly params: KernelParams;
  /** ABI profile. */
  readonly profile: AbiProfile;
  /** `uname -r`. */
  readonly release: string;
  /** Boot-time allocator. */
  readonly memblock: Memblock;
  /** struct pages. */
  readonly memmap: Memmap;
  /** The page allocator. */
  readonly buddy: BuddyAllocator;
  /** The HugeTLB pools (`hugepagesz=`, `hugepages=`, …). */
  readonly hugetlb: Hugetlb;
  /** vmalloc. */
  readonly vmalloc: Vmalloc;
  /** KHO of this kernel. */
  readonly kho: Kho;
  /**
   * The Live Update Orchestrator (6.19 on; `liveupdate=on` enables it): `/dev/liveupdate`
   * through {@link LiveUpdate.open}, file handlers through
   * {@link LiveUpdate.registerFileHandler}.
   */
  readonly liveupdate: LiveUpdate;
  /** Boots on this machine so far (0 = power-on). */
  readonly bootIndex: number;
  /** Where this kernel's image lies. */
  readonly imagePhys: number;
  /** What happened at boot. */
  readonly boot: BootReport;
  /** `reserve_mem=` regions of this kernel (revived or new) and their KHO hand-over. */
  readonly reserveMem: ReserveMemState;
  readonly #options: KernelOptions;
  readonly #modules: string[] = [];
  #dead = false;

  private constructor(machine: Machine, options: KernelOptions, handoff: BootHandoff) {
    const ctx = startKernel(new BootContext(machine, options, handoff));
    this.machine = machine;
    this.#options = options;
    this.bootIndex = ctx.bootIndex;
    this.imagePhys = ctx.imagePhys;
    this.log = ctx.log;
    this.faults = ctx.faults;
    this.params = ctx.params;
    this.profile = ctx.profile;
    this.release = ctx.release;
    this.memblock = ctx.memblock;
    this.memmap = ctx.memmap;
    this.buddy = ctx.buddy;
    this.hugetlb = ctx.hugetlb;
    this.vmalloc = ctx.vmalloc;
    this.kho = ctx.kho;
    this.liveupdate = ctx.liveupdate;
    this.reserveMem = ctx.reserveMem;
    this.boot = {
      config: ctx.config,
      verdict: ctx.config.strict ? "strict" : "kernel",
      khoBoot: ctx.kho.isKhoBoot,
      revivalRefused: ctx.revivalRefused,
      strictCheck: ctx.strictCheck,
      retrieve: ctx.retrieve,
      extScratch: ctx.extScratch,
      freedPages: ctx.freedPages,
      poisoned: ctx.poison,
      scratch: [...ctx.scratch],
    };
    for (const m of options.modules ?? []) {
      try {
        this.loadModule(m);
      } catch (e) {
        if (!(e instanceof KhoError)) throw e;
      }
    }
  }

  /**
   * Runs a module's init on this kernel (`insmod`). Its error is thrown and the module is not
   * loaded; the boot runs {@link KernelOptions.modules} this way and goes on after an error,
   * as `do_initcalls` does (the module logs its own message).
   */
  loadModule(module: KernelModule): void {
    this.assertAlive();
    module.init(this);
    this.#modules.push(module.name);
  }

  /** Names of the modules loaded, in order. */
  get modules(): readonly string[] {
    return this.#modules;
  }

  /** Powers on and boots the first kernel. */
  static coldBoot(machine: Machine, options: KernelOptions = {}): Kernel {
    return new Kernel(machine, options, {
      handover: null,
      imagePhys: COLD_IMAGE_PHYS,
      bootIndex: 0,
    });
  }

  /**
   * Boots a kernel on a machine from raw handoff data (what real hardware would pass); used
   * by {@link Kernel.kexec} and by tests that forge corrupted handovers.
   */
  static bootFrom(machine: Machine, handoff: BootHandoff, options: KernelOptions = {}): Kernel {
    return new Kernel(machine, options, handoff);
  }

  /** Whether this kernel has been replaced by kexec. */
  get dead(): boolean {
    return this.#dead;
  }

  /** Throws a RangeError (misuse of the API) if this kernel was replaced by kexec. */
  assertAlive(): void {
    if (this.#dead) {
      throw new RangeError(`kernel boot #${this.bootIndex} is gone: it was replaced by kexec`);
    }
  }

  /**
   * kexec into the next kernel: with KHO, `kho_fill_kimage` places the image and scratch array
   * in scratch and passes the handover; without, the next kernel boots cold. This kernel is
   * discarded; only the machine's memory and the handover reach the successor.
   *
   * `hooks.onHandoff` sees the machine at the instant the next kernel starts: the kexec path
   * has run and the handoff is what the next boot receives (a measurement harness copies the
   * handed-over bytes there, `lib/metrics/replay.ts`). It must not change anything.
   */
  kexec(next: KernelOptions = {}, hooks: KexecHooks = {}): Kernel {
    this.assertAlive();
    const options: KernelOptions = {
      ...this.#options,
      faults: undefined,
      heldRanges: undefined,
      ...next,
    };
    const { handover, imagePhys } = kernelKexec({
      machine: this.machine,
      log: this.log,
      profile: this.profile,
      kho: this.kho,
      liveupdate: this.liveupdate,
      options,
    });
    this.#dead = true;
    // The old kernel's struct pages and free lists do not survive the reboot.
    this.buddy.discard();
    this.memmap.discard();
    const handoff: BootHandoff = { handover, imagePhys, bootIndex: this.bootIndex + 1 };
    hooks.onHandoff?.(Object.freeze({ ...handoff }));
    return new Kernel(this.machine, options, handoff);
  }

  /** Free memory by order, all nodes summed (like the columns of /proc/buddyinfo). */
  freeByOrder(): number[] {
    const out = new Array(11).fill(0);
    for (const node of this.buddy.buddyinfo()) node.forEach((c, i) => (out[i] += c));
    return out;
  }
}
