/**
 * One kernel boot on a {@link Machine}: memblock → (KHO revival) → buddy allocator, struct
 * pages, vmalloc, the kernel log, and KHO. `kexec()` ends this kernel and boots the next one,
 * which receives nothing but physical memory and the 32-byte handover record.
 *
 * @module
 */

import type { Machine } from "../machine/machine.ts";
import { hex, PAGE_SIZE, PAGEBLOCK_NR_PAGES } from "../units.ts";
import type { Handover } from "../kho/abi/kho_data.ts";
import {
  type AbiProfile,
  CURRENT_PROFILE,
  getProfile,
  type ProfileName,
} from "../kho/abi/profiles.ts";
import type { ScratchArea } from "../kho/abi/scratch.ts";
import { COLD_IMAGE_PHYS, DEFAULT_IMAGE_BYTES, Kho, LOW_RESERVED_BYTES } from "../kho/kho.ts";
import { KhoIn, type RetrieveStats, validateHandover } from "../kho/restore.ts";
import {
  DEFAULT_SCRATCH_SCALE,
  parseKhoScratch,
  reserveScratch,
  type ScratchSizing,
} from "../kho/scratch.ts";
import { BuddyAllocator } from "./buddy.ts";
import { type KernelParams, parseCmdline } from "./cmdline.ts";
import { KernelLog } from "./dmesg.ts";
import { FaultInjector, type FaultOptions } from "./faults.ts";
import { MIGRATE_CMA } from "./gfp.ts";
import { Memblock, MemblockFlags } from "./memblock.ts";
import { Memmap } from "./memmap.ts";
import { Vmalloc } from "./vmalloc.ts";

/**
 * The kernel could not boot (for example: a KHO boot whose scratch areas cannot hold the
 * successor's early allocations). Carries the boot's log up to the panic.
 */
export class KernelPanic extends Error {
  /** The dead kernel's log. */
  readonly log: KernelLog;
  /** Creates the panic with its reason. */
  constructor(reason: string, log: KernelLog) {
    super(`Kernel panic - not syncing: ${reason}`);
    this.name = "KernelPanic";
    this.log = log;
    log.error("", this.message);
  }
}

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

/**
 * A booted kernel.
 *
 * @example
 * ```ts
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "./kernel.ts";
 * const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
 * const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on" });
 * const pfn = k1.buddy.folioAlloc(2)!;
 * machine.mem.fill(pfn * 4096, 4 * 4096, { pattern: 1 });
 * k1.kho.preserveFolio(pfn);
 * const k2 = k1.kexec();
 * console.assert(k2.kho.isKhoBoot && k2.kho.restoreFolio(pfn * 4096) === pfn);
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
  /** vmalloc. */
  readonly vmalloc: Vmalloc;
  /** KHO of this kernel. */
  readonly kho: Kho;
  /** Boots on this machine so far (0 = power-on). */
  readonly bootIndex: number;
  /** Where this kernel's image lies. */
  readonly imagePhys: number;
  /** What happened at boot. */
  readonly boot: BootReport;
  readonly #options: BootOptions;
  #dead = false;

  private constructor(machine: Machine, options: BootOptions, handoff: BootHandoff) {
    this.machine = machine;
    this.#options = options;
    this.bootIndex = handoff.bootIndex;
    this.imagePhys = handoff.imagePhys;
    this.log = new KernelLog();
    this.faults = new FaultInjector();
    this.params = parseCmdline(options.cmdline ?? "");
    this.profile = typeof options.profile === "object"
      ? options.profile
      : getProfile(options.profile ?? CURRENT_PROFILE);
    this.release = options.release ?? `${this.profile.kernel}.0-kholab`;
    const { topology, mem } = machine;
    const log = this.log;
    log.info(
      "",
      `Linux version ${this.release} (kholab, profile ${this.profile.name}) boot #${this.bootIndex}`,
    );
    log.info("", `Command line: ${this.params.raw}`);
    for (const e of this.params.errors) log.warning("", `bad parameter: ${e}`);
    if (options.faults) this.faults.arm(options.faults);

    this.memblock = new Memblock({ topology, log, faults: this.faults });
    this.memmap = new Memmap();
    const mb = this.memblock;
    mb.addTopologyRam();
    mb.reserve(0, LOW_RESERVED_BYTES);
    const khoEnabled = this.params.kho ?? true;

    // kho_populate: validate the handover before anything else is allocated.
    let incomingPopulated: { fdt: Uint8Array; scratch: ScratchArea[]; mapPhys: number } | null =
      null;
    let revivalRefused: string | undefined;
    const imageBytes = options.imageBytes ?? DEFAULT_IMAGE_BYTES;
    if (handoff.handover) {
      const r = validateHandover({
        mem,
        topology,
        profile: this.profile,
        handover: handoff.handover,
        forbidden: [{ addr: 0, size: LOW_RESERVED_BYTES }],
      });
      if (!r.ok) {
        revivalRefused = r.reason;
        log.warning("KHO", `disabling KHO revival: ${r.reason}`);
      } else if (
        !r.scratch.some((a) =>
          this.imagePhys >= a.addr && this.imagePhys + imageBytes <= a.addr + a.size
        )
      ) {
        revivalRefused = `kernel image at ${hex(this.imagePhys)} is outside scratch`;
        log.warning("KHO", `disabling KHO revival: ${revivalRefused}`);
      } else {
        incomingPopulated = r;
        for (const a of r.scratch) {
          if (a.size === 0) continue;
          mb.add(a.addr, a.size);
          mb.markKhoScratch(a.addr, a.size);
        }
        mb.reserve(handoff.handover.scratchPhys, handoff.handover.scratchLen);
        mb.setKhoScratchOnly();
        log.info("KHO", `found kexec handover data (FDT ${hex(handoff.handover.fdtPhys)})`);
      }
    }
    mb.reserve(this.imagePhys, imageBytes, {
      nid: topology.nidOfPhys(this.imagePhys),
      flags: MemblockFlags.RSRV_KERN,
    });

    // sparse_init: struct pages come from memblock, per node.
    const memmapPerPage = options.memmapBytesPerPage ?? 64;
    if (memmapPerPage > 0) {
      for (const nid of topology.nodesWithMemory()) {
        const size = Math.ceil(topology.nodeBytes(nid) / PAGE_SIZE * memmapPerPage / PAGE_SIZE) *
          PAGE_SIZE;
        const phys = mb.allocRange({ size, align: PAGE_SIZE, nid });
        if (phys === 0) {
          throw new KernelPanic(
            `cannot allocate the memmap of node ${nid} (${hex(size)} bytes)`,
            log,
          );
        }
      }
    }

    // kho_reserve_scratch (cold boot only).
    let scratch: ScratchArea[] = incomingPopulated?.scratch ?? [];
    let khoOk = khoEnabled;
    if (khoEnabled && !incomingPopulated) {
      let sizing: ScratchSizing = { scale: DEFAULT_SCRATCH_SCALE };
      if (this.params.khoScratch !== undefined) {
        try {
          sizing = parseKhoScratch(this.params.khoScratch);
        } catch (e) {
          log.warning(
            "KHO",
            `kho_scratch=${this.params.khoScratch}: ${(e as Error).message}; using defaults`,
          );
        }
      }
      const r = reserveScratch({ memblock: mb, topology, log, sizing });
      if (r === null) khoOk = false;
      else scratch = r.areas;
    } else if (incomingPopulated && this.params.khoScratch !== undefined) {
      log.info("KHO", "kho_scratch= ignored on a KHO boot");
    }

    this.buddy = new BuddyAllocator({
      topology,
      memmap: this.memmap,
      log,
      faults: this.faults,
      mem,
    });

    // kho_memory_init: scratch pageblocks become CMA, then the tracker walk.
    let incoming: KhoIn | null = null;
    let retrieve: RetrieveStats | undefined;
    if (incomingPopulated && handoff.handover) {
      for (const a of scratch) {
        if (a.size > 0) {
          this.buddy.setPageblockMigratetypeRange(
            a.addr / PAGE_SIZE,
            (a.addr + a.size) / PAGE_SIZE,
            MIGRATE_CMA,
          );
        }
      }
      incoming = new KhoIn(
        { mem, topology, memblock: mb, memmap: this.memmap, log },
        this.profile,
        handoff.handover.fdtPhys,
        incomingPopulated,
      );
      retrieve = incoming.memRetrieve();
    }
    mb.clearKhoScratchOnly();

    // memblock_free_all: everything free goes to the buddy allocator (poisoned).
    const poison = options.poison ?? true;
    const freed: [number, number][] = [];
    const freedPages = mb.freeAll((startPfn, endPfn, nid) => {
      freed.push([startPfn, endPfn]);
      this.buddy.freeBootRange(startPfn, endPfn, nid);
    });
    if (poison) mem.fillPageRanges(freed, { pattern: POISON_SEED + this.bootIndex });

    // kho_init (cold boot): scratch areas are released to the allocator as CMA pageblocks.
    if (khoOk && !incomingPopulated) {
      for (const a of scratch) {
        if (poison && a.size > 0) {
          mem.fill(a.addr, a.size, { pattern: POISON_SEED + this.bootIndex });
        }
        for (
          let pfn = a.addr / PAGE_SIZE;
          pfn < (a.addr + a.size) / PAGE_SIZE;
          pfn += PAGEBLOCK_NR_PAGES
        ) {
          this.buddy.initCmaReservedPageblock(pfn);
        }
      }
    }
    this.vmalloc = new Vmalloc({
      buddy: this.buddy,
      memmap: this.memmap,
      mem,
      log,
      faults: this.faults,
    });
    this.kho = Kho.init({
      host: { mem, topology, memmap: this.memmap, buddy: this.buddy, log },
      profile: this.profile,
      enabled: khoOk,
      scratch,
      incoming,
      release: this.release,
    });
    this.boot = {
      khoBoot: this.kho.isKhoBoot,
      revivalRefused,
      retrieve,
      freedPages,
      scratch: [...scratch],
    };
    log.info(
      "",
      `boot #${this.bootIndex} done: ${freedPages} pages freed, KHO ${
        this.kho.enabled ? "on" : "off"
      }`,
    );
  }

  /** Powers on and boots the first kernel. */
  static coldBoot(machine: Machine, options: BootOptions = {}): Kernel {
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
  static bootFrom(machine: Machine, handoff: BootHandoff, options: BootOptions = {}): Kernel {
    return new Kernel(machine, options, handoff);
  }

  /** Whether this kernel has been replaced by kexec. */
  get dead(): boolean {
    return this.#dead;
  }

  /** Throws if this kernel was replaced by kexec (its objects are gone). */
  assertAlive(): void {
    if (this.#dead) {
      throw new Error(`kernel boot #${this.bootIndex} is gone: it was replaced by kexec`);
    }
  }

  /**
   * kexec into the next kernel: with KHO, `kho_fill_kimage` places the image and scratch array
   * in scratch and passes the handover; without, the next kernel boots cold. This kernel is
   * discarded; only the machine's memory and the handover reach the successor.
   */
  kexec(next: BootOptions = {}): Kernel {
    this.assertAlive();
    const options: BootOptions = { ...this.#options, faults: undefined, ...next };
    const imageBytes = options.imageBytes ?? DEFAULT_IMAGE_BYTES;
    let handover: Handover | null = null;
    let imagePhys = COLD_IMAGE_PHYS;
    if (this.kho.enabled && this.profile.finalize !== "none" && (options.finalizeAtKexec ?? true)) {
      if (!this.kho.out!.finalized || this.profile.finalize === "repeatable") {
        this.log.info("KHO", "finalizing before kexec");
        this.kho.finalize();
      }
    }
    if (this.kho.enabled) {
      const filled = this.kho.fillKimage({ imageBytes, mem: this.machine.mem });
      handover = filled.handover;
      imagePhys = filled.imagePhys;
    }
    // The image segment is copied into place at reboot.
    this.machine.mem.fill(imagePhys, imageBytes, { pattern: 0x1a2b3c4d });
    this.log.info(
      "",
      `kexec: ${handover ? `KHO handover FDT ${hex(handover.fdtPhys)}` : "no KHO"}`,
    );
    this.#dead = true;
    // The old kernel's struct pages and free lists do not survive the reboot.
    this.buddy.discard();
    this.memmap.discard();
    return new Kernel(this.machine, options, {
      handover,
      imagePhys,
      bootIndex: this.bootIndex + 1,
    });
  }

  /** Free memory by order, all nodes summed (like the columns of /proc/buddyinfo). */
  freeByOrder(): number[] {
    const out = new Array(11).fill(0);
    for (const node of this.buddy.buddyinfo()) node.forEach((c, i) => (out[i] += c));
    return out;
  }
}
