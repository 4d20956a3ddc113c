/**
 * The state of one boot while its phases run (`./start_kernel.ts`): what every phase reads
 * (machine, options, handoff, log, command line, profile) and what the phases build, in
 * order (memblock and the memmap first; the buddy allocator at `free_area_init`; vmalloc at
 * `vmalloc_init`; KHO at `kho_init`). A subsystem read before the phase that builds it, or
 * built twice, is a bug in the phase table: a `KernelBug`, as the kernel's init order is an
 * invariant it assumes rather than checks.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import type { Machine } from "../machine/machine.ts";
import type { BuddyAllocator } from "../kernel/buddy.ts";
import type { Hugetlb } from "../kernel/hugetlb.ts";
import { type KernelParams, parseCmdline } from "../kernel/cmdline.ts";
import { KernelLog } from "../kernel/dmesg.ts";
import { FaultInjector } from "../kernel/faults.ts";
import { Memblock } from "../kernel/memblock.ts";
import { Memmap } from "../kernel/memmap.ts";
import type { Vmalloc } from "../kernel/vmalloc.ts";
import { type AbiProfile, CURRENT_PROFILE, getProfile, kernelRelease } from "../kho/profiles.ts";
import type { ScratchArea } from "../kho/abi/asm_generic_kexec_handover.ts";
import { DEFAULT_IMAGE_BYTES, type Kho } from "../kho/kho.ts";
import type { KhoIn, RetrieveStats } from "../kho/restore.ts";
import type { ExtScratchReport } from "../kho/ext_scratch.ts";
import type { LiveUpdate } from "../luo/luo_core.ts";
import {
  type BootHandoff,
  type BootOptions,
  describeBootConfig,
  resolveBootConfig,
  type ResolvedBootConfig,
} from "./options.ts";
import { newReserveMemState, type ReserveMemState } from "./reserve_mem.ts";

/** A handover that `kho_populate` accepted. */
export interface PopulatedHandover {
  /** The incoming root FDT's bytes. */
  readonly fdt: Uint8Array;
  /** The inherited scratch areas. */
  readonly scratch: ScratchArea[];
  /** Root of the incoming tracker. */
  readonly mapPhys: number;
}

/** One boot in progress. */
export class BootContext {
  /** The machine (survives kexec). */
  readonly machine: Machine;
  /** How this kernel boots. */
  readonly options: BootOptions;
  /** What the previous kernel passed on. */
  readonly handoff: BootHandoff;
  /** This boot's log. */
  readonly log: KernelLog = new KernelLog();
  /** This boot's fault injection. */
  readonly faults: FaultInjector = new FaultInjector();
  /** Parsed command line. */
  readonly params: KernelParams;
  /** ABI profile. */
  readonly profile: AbiProfile;
  /** `uname -r`. */
  readonly release: string;
  /** Size of the kernel image segment. */
  readonly imageBytes: number;
  /** Whether memory handed to the allocator is poisoned. */
  readonly poison: boolean;
  /** Build configuration and kind of kernel. */
  readonly config: ResolvedBootConfig;
  /** Boot-time allocator. */
  readonly memblock: Memblock;
  /** struct pages (and their vmemmap, `sizeof(struct page)` = `memmapBytesPerPage` or 64). */
  readonly memmap: Memmap;

  /** `kho_populate`'s verdict: the accepted handover, or null (cold boot or refused). */
  populated: PopulatedHandover | null = null;
  /** Why a handover was refused (`kho_populate`). */
  revivalRefused: string | undefined = undefined;
  /** In strict mode, the extra check that refused the handover or aborted the walk. */
  strictCheck: string | undefined = undefined;
  /** Whether KHO is still enabled (`kho=`; cleared when scratch cannot be reserved). */
  khoEnabled: boolean;
  /** Scratch areas: inherited (`kho_populate`) or reserved (`kho_reserve_scratch`). */
  scratch: ScratchArea[] = [];
  /** The incoming KHO state (`kho_populate`, KHO boot only). */
  incoming: KhoIn | null = null;
  /** `reserve_mem=` regions (`reserve_mem`, `reserve_mem_init`). */
  readonly reserveMem: ReserveMemState = newReserveMemState();
  /** The tracker walk (`kho_memory_init`, KHO boot only). */
  retrieve: RetrieveStats | undefined = undefined;
  /** What `kho_extend_scratch` did (profiles with extended scratch, on a KHO boot). */
  extScratch: ExtScratchReport | undefined = undefined;
  /** Pages `memblock_free_all` handed to the buddy allocator. */
  freedPages = 0;

  #buddy: BuddyAllocator | null = null;
  #hugetlb: Hugetlb | null = null;
  #vmalloc: Vmalloc | null = null;
  #kho: Kho | null = null;
  #liveupdate: LiveUpdate | null = null;

  /** Starts a boot: the banner, the command line, fault injection and an empty memblock. */
  constructor(machine: Machine, options: BootOptions, handoff: BootHandoff) {
    this.machine = machine;
    this.options = options;
    this.handoff = handoff;
    this.params = parseCmdline(options.cmdline ?? "");
    this.profile = typeof options.profile === "object"
      ? options.profile
      : getProfile(options.profile ?? CURRENT_PROFILE);
    this.release = options.release ?? kernelRelease(this.profile);
    this.imageBytes = options.imageBytes ?? DEFAULT_IMAGE_BYTES;
    this.poison = options.poison ?? true;
    this.config = resolveBootConfig(options.config);
    const structPageBytes = options.memmapBytesPerPage ?? 64;
    this.memmap = new Memmap({ structPageBytes: structPageBytes > 0 ? structPageBytes : 64 });
    if (this.config.deferredStructPageInit && !this.profile.deferredStructPageInit) {
      throw new RangeError(
        `CONFIG_DEFERRED_STRUCT_PAGE_INIT is unsupported by ${this.profile.name} ` +
          `(${this.profile.kernel}), because KHO stamps struct pages that deferred init has not ` +
          `initialised yet: 6.17 forbade the combination (8b66ed2c3f42) and only the fix ` +
          `"kho-deferred-struct-page-init" (kho_get_preserved_page, linux-mm) lifts it — ` +
          `use kho-v4+fixes`,
      );
    }
    this.khoEnabled = this.params.kho ?? true;
    const log = this.log;
    log.info(
      "",
      `Linux version ${this.release} (kholab, profile ${this.profile.name}) boot #${handoff.bootIndex}`,
    );
    log.info("", `Command line: ${this.params.raw}`);
    const on = describeBootConfig(this.config);
    if (on) log.info("", `kholab config: ${on}`);
    for (const e of this.params.errors) log.warning("", `bad parameter: ${e}`);
    if (options.faults) this.faults.arm(options.faults);
    this.memblock = new Memblock({ topology: machine.topology, log, faults: this.faults });
  }

  /** Boots on this machine so far (0 = power-on). */
  get bootIndex(): number {
    return this.handoff.bootIndex;
  }

  /** Where this kernel's image lies. */
  get imagePhys(): number {
    return this.handoff.imagePhys;
  }

  /** The page allocator (from `free_area_init` on). */
  get buddy(): BuddyAllocator {
    return this.#built(this.#buddy, "buddy", "free_area_init");
  }
  set buddy(b: BuddyAllocator) {
    this.#buddy = this.#once(this.#buddy, b, "buddy");
  }

  /** The HugeTLB pools (from `hugetlb_bootmem_alloc` on; filled by `hugetlb_init`). */
  get hugetlb(): Hugetlb {
    return this.#built(this.#hugetlb, "hugetlb", "hugetlb_bootmem_alloc");
  }
  set hugetlb(h: Hugetlb) {
    this.#hugetlb = this.#once(this.#hugetlb, h, "hugetlb");
  }

  /** vmalloc (from `vmalloc_init` on). */
  get vmalloc(): Vmalloc {
    return this.#built(this.#vmalloc, "vmalloc", "vmalloc_init");
  }
  set vmalloc(v: Vmalloc) {
    this.#vmalloc = this.#once(this.#vmalloc, v, "vmalloc");
  }

  /** KHO (from `kho_init` on). */
  get kho(): Kho {
    return this.#built(this.#kho, "kho", "kho_init");
  }
  set kho(k: Kho) {
    this.#kho = this.#once(this.#kho, k, "kho");
  }

  /** The Live Update Orchestrator (from `liveupdate_early_init` on). */
  get liveupdate(): LiveUpdate {
    return this.#built(this.#liveupdate, "liveupdate", "liveupdate_early_init");
  }
  set liveupdate(l: LiveUpdate) {
    this.#liveupdate = this.#once(this.#liveupdate, l, "liveupdate");
  }

  #built<T>(value: T | null, what: string, phase: string): T {
    if (value === null) throw new KernelBug(`boot phase order: ${what} used before ${phase}`);
    return value;
  }

  #once<T>(old: T | null, value: T, what: string): T {
    if (old !== null) throw new KernelBug(`boot phase order: ${what} built twice`);
    return value;
  }
}
