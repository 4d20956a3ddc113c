/**
 * The Live Update Orchestrator of one kernel (`kernel/liveupdate/luo_core.c`): the
 * `liveupdate=` boot switch, the successor's early start-up from the `"LUO"` KHO sub-blob, the
 * outgoing state for the next update, `liveupdate_reboot` at kexec, and `/dev/liveupdate`
 * (luo-hugetlb-facts §2.1–§2.6).
 *
 * Boot order as in the kernel (the boot phases of `lib/boot/phases.ts` call these):
 * {@link LiveUpdate.earlyInit} is the `early_initcall` (`liveupdate_early_init`: incoming LUO
 * state checked and the session chain restored — any failure panics, `luo_restore_fail`),
 * {@link LiveUpdate.lateInit} the `late_initcall`s (outgoing state with `liveupdate_num + 1`,
 * then the misc device), {@link LiveUpdate.reboot} the first step of the kexec path. File
 * handlers and FLBs register after the early initcall (module init, or a module loaded later).
 *
 * @module
 */

import { type ErrnoName, KhoError } from "../errors.ts";
import { KernelPanic } from "../kernel/panic.ts";
import {
  buildLuoFdt,
  encodeLuoSer,
  fdtTotalsize,
  LUO_FDT_SIZE,
  LUO_KHO_ENTRY_NAME,
  LUO_SER_LAYOUT,
  nextLiveupdateNum,
  parseLuoFdt,
  readLuoSer,
} from "../kho/abi/luo.ts";
import type { LuoGeneration } from "../kho/profiles.ts";
import { kstrtobool } from "../kernel/cmdline.ts";
import { LiveUpdateDevice, type LiveUpdateFd } from "./device.ts";
import { type LiveUpdateFileHandler, LuoFileGlobal } from "./luo_file.ts";
import { type LiveUpdateFlb, LuoFlbGlobal } from "./luo_flb.ts";
import { errnoOf, type LuoHost, pe, requireRam } from "./luo_internal.ts";
import { readPhysFdtBytes } from "../kho/phys_fdt.ts";
import { LuoSessionGlobal } from "./luo_session.ts";

/** The panic text of `luo_restore_fail` in `liveupdate_early_init`. */
export function luoRestoreFailMessage(code: ErrnoName): string {
  return `The incoming tree failed to initialize properly [${pe(code)}], ` +
    `disabling live update`;
}

/**
 * `luo_global` and the parts it owns, for one boot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
 * const k1 = Kernel.coldBoot(machine, { cmdline: "liveupdate=on" });
 * const dev = k1.liveupdate.open(); // /dev/liveupdate
 * dev.createSession("vm-1");
 * const k2 = k1.kexec(); // liveupdate_reboot serializes the session
 * assert.equal(k2.liveupdate.liveupdateNum, 1);
 * assert.equal(k2.liveupdate.open().retrieveSession("vm-1").state, "retrieved");
 * ```
 */
export class LiveUpdate {
  /** The generation's LUO, or null when the kernel has none. */
  readonly gen: LuoGeneration | null;
  /** `liveupdate_num` read from the previous kernel (0 on a cold boot). */
  liveupdateNum = 0;
  /** Session lists (null without LUO). */
  readonly sessions: LuoSessionGlobal | null;
  /** File handler registry (null without LUO). */
  readonly files: LuoFileGlobal | null;
  /** FLB registry (null without FLB). */
  readonly flb: LuoFlbGlobal | null;
  readonly #host: LuoHost;
  #enabled: boolean;
  #outgoingPa = 0;
  #device: LiveUpdateDevice | null = null;

  private constructor(host: LuoHost, enabled: boolean) {
    this.#host = host;
    this.gen = host.profile.luo;
    this.#enabled = enabled && this.gen !== null;
    if (this.gen) {
      this.flb = this.gen.flb ? new LuoFlbGlobal(host) : null;
      this.files = new LuoFileGlobal(host, this.gen, this.flb);
      this.sessions = new LuoSessionGlobal(host, this.gen, this.files);
    } else {
      this.flb = null;
      this.files = null;
      this.sessions = null;
    }
  }

  /**
   * `early_param("liveupdate")` and the `early_initcall` `liveupdate_early_init`. With KHO off:
   * "Disabling liveupdate because KHO is disabled". Otherwise, whether or not `liveupdate=` is
   * on, an incoming `"LUO"` blob is checked and its session chain restored; any failure
   * disables LUO and panics (`luo_restore_fail`) with a {@link KernelPanic}.
   */
  static earlyInit(host: LuoHost, options: { liveupdate?: string } = {}): LiveUpdate {
    const param = options.liveupdate === undefined ? null : kstrtobool(options.liveupdate);
    if (options.liveupdate !== undefined && param === null) {
      host.log.warning("", `liveupdate=${options.liveupdate}: not a boolean`);
    }
    const lu = new LiveUpdate(host, param ?? false);
    if (lu.gen === null) return lu;
    if (!host.kho.enabled) {
      if (lu.#enabled) host.log.warning("luo", "Disabling liveupdate because KHO is disabled");
      lu.#enabled = false;
      return lu;
    }
    try {
      lu.#earlyStartup();
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
      lu.#enabled = false;
      throw new KernelPanic(luoRestoreFailMessage(e.code), host.log);
    }
    return lu;
  }

  /** `liveupdate_enabled()`. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Physical address of the outgoing `"LUO"` blob (0 before {@link LiveUpdate.lateInit}). */
  get outgoingPa(): number {
    return this.#outgoingPa;
  }

  /** `/dev/liveupdate`, or null when it is not registered (LUO disabled). */
  get device(): LiveUpdateDevice | null {
    return this.#device;
  }

  /**
   * The `late_initcall`s: `luo_late_startup` / `luo_state_setup` builds the outgoing state
   * (6.19–7.1: the luo-v1 FDT with its session block and FLB page; 7.2: the 32-byte `luo_ser`
   * and the FLB page) carrying `liveupdate_num + 1` and adds it as the `"LUO"` sub-tree; a
   * failure is logged and disables LUO. Then `liveupdate_ioctl_init` registers the device.
   */
  lateInit(): void {
    if (!this.#enabled) return;
    try {
      if (this.gen!.blob === "fdt") this.#fdtSetup();
      else this.#stateSetup();
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
      this.#enabled = false;
    }
    if (this.#enabled) {
      this.#device = new LiveUpdateDevice({
        sessions: this.sessions!,
        hasGetName: this.gen!.blob === "luo-ser",
      });
    }
  }

  /** `open("/dev/liveupdate")`: ENOENT when the device does not exist. */
  open(): LiveUpdateFd {
    if (this.#device === null) {
      throw new KhoError("ENOENT", `/dev/liveupdate does not exist (${this.#why()})`);
    }
    return this.#device.open();
  }

  /**
   * `liveupdate_reboot()` on the kexec reboot path: serialize the sessions and their files, then
   * the FLBs; 6.19 then runs `kho_finalize` (its error becomes EAGAIN). A serialization error
   * is thrown and the kexec must not happen. Nothing to do when LUO is disabled.
   */
  reboot(): void {
    if (!this.#enabled) return;
    const { mem } = this.#host;
    this.sessions!.serialize((pa) => {
      if (this.gen!.blob === "luo-ser") {
        mem.writeU64(this.#outgoingPa + LUO_SER_LAYOUT.sessionsPa, pa);
      }
    });
    this.flb?.serialize();
    if (this.gen!.finalizeAtReboot) {
      try {
        this.#host.kho.finalize();
      } catch (e) {
        this.#host.log.error("luo", `kho_finalize failed ${(e as Error).message}`);
        throw new KhoError("EAGAIN", "liveupdate_reboot: kho_finalize failed", { cause: e });
      }
    }
  }

  /**
   * `liveupdate_register_file_handler(fh)`: EOPNOTSUPP when LUO is disabled; see
   * {@link LuoFileGlobal.register} for the rest.
   */
  registerFileHandler(fh: LiveUpdateFileHandler): void {
    this.#requireEnabled("liveupdate_register_file_handler");
    this.files!.register(fh);
  }

  /** `liveupdate_unregister_file_handler(fh)`. */
  unregisterFileHandler(fh: LiveUpdateFileHandler): void {
    this.#requireEnabled("liveupdate_unregister_file_handler");
    this.files!.unregister(fh);
  }

  /**
   * `liveupdate_register_flb(fh, flb)`: EOPNOTSUPP when LUO is disabled or the generation has
   * no FLB; see {@link LuoFlbGlobal.register}.
   */
  registerFlb(fh: LiveUpdateFileHandler, flb: LiveUpdateFlb): void {
    this.#requireEnabled("liveupdate_register_flb");
    const reg = this.#flbOrThrow("liveupdate_register_flb");
    reg.register(fh, flb, {
      handlerRegistered: this.files!.isRegistered(fh),
      quiesce: () => this.gen!.store === "kho-block" || this.sessions!.quiesced,
    });
  }

  /** `liveupdate_unregister_flb(fh, flb)`. */
  unregisterFlb(fh: LiveUpdateFileHandler, flb: LiveUpdateFlb): void {
    this.#requireEnabled("liveupdate_unregister_flb");
    this.#flbOrThrow("liveupdate_unregister_flb").unregister(
      fh,
      flb,
      () => this.gen!.store === "kho-block" || this.sessions!.quiesced,
    );
  }

  /** `liveupdate_flb_get_incoming(flb)`: ENODATA/ENOENT/EINVAL per `luo_flb_retrieve_one`. */
  flbGetIncoming(flb: LiveUpdateFlb): unknown {
    this.#requireEnabled("liveupdate_flb_get_incoming");
    return this.#flbOrThrow("liveupdate_flb_get_incoming").getIncoming(flb);
  }

  /** `liveupdate_flb_get_outgoing(flb)`. */
  flbGetOutgoing(flb: LiveUpdateFlb): unknown {
    this.#requireEnabled("liveupdate_flb_get_outgoing");
    return this.#flbOrThrow("liveupdate_flb_get_outgoing").getOutgoing(flb);
  }

  /** What LUO holds in preserved memory now (outgoing side), for metrics. */
  stats(): LuoStats {
    const s = this.sessions;
    const sessionBlocks = s?.outgoingBlocks?.nblocks ?? 0;
    let fileBlocks = 0;
    let files = 0;
    let fileArrays = 0;
    for (const x of s?.outgoing ?? []) {
      files += x.files.count;
      fileBlocks += x.files.blockSet?.nblocks ?? 0;
      if (x.files.filesPa !== 0) fileArrays++;
    }
    const fdtEra = this.gen?.blob === "fdt";
    const pages = !this.#enabled || this.#outgoingPa === 0 ? 0 : 1 + // the FDT or luo_ser page
      (this.flb ? 1 : 0) +
      (fdtEra ? 16 + 2 * fileArrays : sessionBlocks + fileBlocks);
    return {
      sessions: s?.outgoing.length ?? 0,
      files,
      sessionBlocks,
      fileBlocks,
      metadataPages: pages,
    };
  }

  #why(): string {
    if (this.gen === null) {
      return `${this.#host.profile.name} (${this.#host.profile.kernel}) has no Live Update ` +
        `Orchestrator: it arrived in 6.19`;
    }
    return "live update is disabled (liveupdate=on, KHO on, and a successful LUO setup needed)";
  }

  #requireEnabled(fn: string): void {
    if (!this.#enabled) throw new KhoError("EOPNOTSUPP", `${fn}: ${this.#why()}`);
  }

  #flbOrThrow(fn: string): LuoFlbGlobal {
    if (this.flb === null) {
      throw new KhoError("EOPNOTSUPP", `${fn}: ${this.#host.profile.name} has no FLB (7.0 on)`);
    }
    return this.flb;
  }

  /** `luo_early_startup`: throws the KhoError that makes the caller panic. */
  #earlyStartup(): void {
    const host = this.#host;
    const { log, kho, mem } = host;
    let sub: { phys: number; size?: number };
    try {
      sub = kho.retrieveSubtree(LUO_KHO_ENTRY_NAME);
    } catch (e) {
      const code = errnoOf(e);
      if (code === "ENOENT") return; // not a live update
      log.error("luo", `failed to retrieve FDT '${LUO_KHO_ENTRY_NAME}' from KHO: ${pe(code)}`);
      throw e;
    }
    const fail = (r: { code: "EINVAL" | "ENOENT"; message: string }): never => {
      log.error("luo", r.message);
      throw new KhoError(r.code, r.message);
    };
    const start = (liveupdateNum: number, sessionsPa: number, flbsPa: number) => {
      this.liveupdateNum = liveupdateNum;
      log.info("luo", `Retrieved live update data, liveupdate number: ${liveupdateNum}`);
      this.sessions!.setupIncoming(sessionsPa);
      this.flb?.setupIncoming(flbsPa);
    };
    if (this.gen!.blob === "fdt") {
      // phys_to_virt(fdt_phys) and libfdt over it: an oops where it reads outside RAM.
      const r = readPhysFdtBytes(
        host,
        sub.phys,
        { fn: "luo_early_startup", structure: "LUO FDT" },
        (bytes) =>
          parseLuoFdt(bytes, {
            sessionCompat: this.gen!.sessionCompat!,
            flbCompat: this.gen!.flbCompat,
          }),
      );
      if (!r.ok) return fail(r);
      return start(r.value.liveupdateNum, r.value.sessionHeaderPa, r.value.flb?.headerPa ?? 0);
    }
    const size = sub.size ?? LUO_SER_LAYOUT.size;
    if (size < LUO_SER_LAYOUT.size) {
      return fail({ code: "EINVAL", message: `LUO blob of ${size} bytes is too small` });
    }
    requireRam(host, sub.phys, LUO_SER_LAYOUT.size, "luo_early_startup");
    const r = readLuoSer(mem.readBytes(sub.phys, LUO_SER_LAYOUT.size));
    if (!r.ok) return fail(r);
    start(r.value.liveupdateNum, r.value.sessionsPa, r.value.flbsPa);
    kho.restoreFree(sub.phys);
  }

  /** 6.19–7.1 `luo_fdt_setup`. */
  #fdtSetup(): void {
    const { kho, mem, log } = this.#host;
    let fdt: number;
    try {
      fdt = kho.allocPreserve(LUO_FDT_SIZE);
    } catch (e) {
      log.error("luo", "failed to allocate/preserve FDT memory");
      throw e;
    }
    try {
      const sessionHeaderPa = this.sessions!.setupOutgoing();
      let flb = null;
      if (this.flb) {
        flb = { compat: this.gen!.flbCompat!, headerPa: this.flb.setupOutgoing() };
      }
      const page = buildLuoFdt({
        liveupdateNum: nextLiveupdateNum(this.liveupdateNum),
        sessionCompat: this.gen!.sessionCompat!,
        sessionHeaderPa,
        flb,
      });
      mem.writeBytes(fdt, page);
      kho.addSubtree(LUO_KHO_ENTRY_NAME, fdt, fdtTotalsize(page));
      this.#outgoingPa = fdt;
    } catch (e) {
      kho.unpreserveFree(fdt);
      log.error("luo", `failed to prepare LUO FDT: ${-(e instanceof KhoError ? e.errno : 1)}`);
      throw e;
    }
  }

  /** 7.2 `luo_state_setup`. */
  #stateSetup(): void {
    const { kho, mem, log } = this.#host;
    let ser = 0;
    try {
      ser = kho.allocPreserve(LUO_SER_LAYOUT.size);
      this.sessions!.setupOutgoing();
      const flbsPa = this.flb!.setupOutgoing();
      mem.writeBytes(
        ser,
        encodeLuoSer({
          liveupdateNum: nextLiveupdateNum(this.liveupdateNum),
          sessionsPa: 0,
          flbsPa,
        }),
      );
      kho.addSubtree(LUO_KHO_ENTRY_NAME, ser, LUO_SER_LAYOUT.size);
      this.#outgoingPa = ser;
    } catch (e) {
      kho.unpreserveFree(ser);
      log.error(
        "luo",
        `failed to prepare LUO state: ${-(e instanceof KhoError ? e.errno : 1)}`,
      );
      throw e;
    }
  }
}

/** LUO's outgoing footprint. */
export interface LuoStats {
  /** Outgoing sessions. */
  sessions: number;
  /** Files preserved in them. */
  files: number;
  /** 7.2: blocks of the session chain. */
  sessionBlocks: number;
  /** 7.2: blocks of all file chains. */
  fileBlocks: number;
  /**
   * Preserved pages of LUO metadata: the blob page, the FLB page, and the session and file
   * blocks (6.19–7.1: 16 pages of sessions, 2 per session with files).
   */
  metadataPages: number;
}
