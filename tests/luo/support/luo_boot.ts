/**
 * Test support for LUO: boots a kernel with `liveupdate=on` and registers a small file handler
 * after boot (like a module load); kexec runs `liveupdate_reboot`. The handler's "page file"
 * holds one preserved page: LUO tested on its own (the memfd handler, `lib/clients/memfd_luo.ts`,
 * has its tests under `tests/clients/`).
 *
 * @module
 */

import { KhoError } from "../../../lib/errors.ts";
import { Kernel } from "../../../lib/boot/kernel.ts";
import type { AbiProfile, ProfileName } from "../../../lib/kho/profiles.ts";
import type { FileOpArgs, LiveUpdateFileHandler, LuoFile } from "../../../lib/luo/luo_file.ts";
import type { LiveUpdate } from "../../../lib/luo/luo_core.ts";
import type { LuoHost } from "../../../lib/luo/luo_internal.ts";
import { Machine } from "../../../lib/machine/machine.ts";
import { GiB, PAGE_SIZE } from "../../../lib/units.ts";

/** The LUO host of a kernel. */
export function luoHost(k: Kernel): LuoHost {
  const { mem, topology } = k.machine;
  return {
    mem,
    isRam: (p: number, n: number) => topology.isRam(p, n),
    kho: k.kho,
    log: k.log,
    faults: k.faults,
    profile: k.profile,
  };
}

/** A file of the first kernel whose content is one page. */
export class PageFile {
  constructor(readonly kernel: Kernel, readonly pfn: number) {}

  /** A new page file holding `text` (NUL-padded page). */
  static create(kernel: Kernel, text: string): PageFile {
    const pfn = kernel.buddy.folioAlloc(0)!;
    const page = new Uint8Array(PAGE_SIZE);
    page.set(new TextEncoder().encode(text));
    kernel.machine.mem.writeBytes(pfn * PAGE_SIZE, page);
    return new PageFile(kernel, pfn);
  }

  /** The content up to the first NUL. */
  text(): string {
    const b = this.kernel.machine.mem.readBytes(this.pfn * PAGE_SIZE, PAGE_SIZE);
    const nul = b.indexOf(0);
    return new TextDecoder().decode(b.subarray(0, nul < 0 ? PAGE_SIZE : nul));
  }
}

/** Counts of handler calls, for tests. */
export interface HandlerCalls {
  preserve: number;
  unpreserve: number;
  freeze: number;
  unfreeze: number;
  retrieve: number;
  finish: number;
}

/**
 * The page-file handler: preserve = `kho_preserve_folio` of the page, serialized data = its
 * physical address; retrieve = `kho_restore_folio`; finish without retrieve puts the folio.
 * `failFreeze`/`failRetrieve` make those callbacks fail for chosen files.
 */
export class PageFileHandler implements LiveUpdateFileHandler {
  readonly calls: HandlerCalls = {
    preserve: 0,
    unpreserve: 0,
    freeze: 0,
    unfreeze: 0,
    retrieve: 0,
    finish: 0,
  };
  failFreeze: (f: PageFile) => boolean = () => false;
  failRetrieve: (data: number) => boolean = () => false;
  busy = false;

  constructor(readonly kernel: Kernel, readonly compatible = "kholab-page-v1") {}

  canPreserve(file: LuoFile): boolean {
    return file instanceof PageFile && file.kernel === this.kernel;
  }
  preserve(args: FileOpArgs): void {
    const f = args.file as PageFile;
    this.kernel.kho.preserveFolio(f.pfn);
    args.serializedData = f.pfn * PAGE_SIZE;
    this.calls.preserve++;
  }
  unpreserve(args: FileOpArgs): void {
    this.kernel.kho.unpreserveFolio((args.file as PageFile).pfn);
    this.calls.unpreserve++;
  }
  freeze(args: FileOpArgs): void {
    this.calls.freeze++;
    if (this.failFreeze(args.file as PageFile)) throw new KhoError("EAGAIN", "freeze refused");
  }
  unfreeze(_args: FileOpArgs): void {
    this.calls.unfreeze++;
  }
  retrieve(args: FileOpArgs): void {
    this.calls.retrieve++;
    if (this.failRetrieve(args.serializedData)) throw new KhoError("EIO", "retrieve refused");
    const pfn = this.kernel.kho.restoreFolio(args.serializedData);
    if (pfn === null) throw new KhoError("EINVAL", "page not preserved");
    args.file = new PageFile(this.kernel, pfn);
  }
  canFinish(_args: FileOpArgs): boolean {
    return !this.busy;
  }
  finish(args: FileOpArgs): void {
    this.calls.finish++;
    if (args.retrieveStatus === 1) return;
    const pfn = this.kernel.kho.restoreFolio(args.serializedData);
    if (pfn !== null) this.kernel.buddy.folioPut(pfn);
  }
}

/** A booted kernel with its orchestrator and page-file handler. */
export interface LuoBoot {
  k: Kernel;
  lu: LiveUpdate;
  fh: PageFileHandler;
}

/** Options of {@link luoColdBoot} and {@link luoKexec}. */
export interface LuoBootOptions {
  profile?: ProfileName | AbiProfile;
  /** Kernel command line; default "liveupdate=on". */
  cmdline?: string;
  /** Register the page-file handler after boot, like a module load (default true). */
  handler?: boolean;
}

function withHandler(k: Kernel, o: LuoBootOptions): LuoBoot {
  const fh = new PageFileHandler(k);
  if ((o.handler ?? true) && k.liveupdate.enabled) k.liveupdate.registerFileHandler(fh);
  return { k, lu: k.liveupdate, fh };
}

/** Cold boot on `machine` with LUO (the boot runs LUO's initcalls). */
export function luoColdBoot(machine: Machine, o: LuoBootOptions = {}): LuoBoot {
  const k = Kernel.coldBoot(machine, {
    profile: o.profile ?? "kho-v4",
    cmdline: o.cmdline ?? "liveupdate=on",
  });
  return withHandler(k, o);
}

/** `reboot(LINUX_REBOOT_CMD_KEXEC)` (liveupdate_reboot first), then the successor. */
export function luoKexec(b: LuoBoot, o: LuoBootOptions = {}): LuoBoot {
  const k = b.k.kexec({
    ...(o.profile ? { profile: o.profile } : {}),
    ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
  });
  return withHandler(k, o);
}

/** A 4 GiB, one-node machine. */
export function luoMachine(gib = 4): Machine {
  return new Machine({ ramBytes: gib * GiB, nodes: 1 });
}

/**
 * The kexec path by hand, to corrupt the handover between `liveupdate_reboot` and the
 * successor's boot: reboot, `corrupt()`, `kho_fill_kimage`, then the successor boots from the
 * handover (it may panic).
 */
export function luoKexecCorrupted(
  b: LuoBoot,
  corrupt: () => void,
  o: LuoBootOptions = {},
): LuoBoot {
  b.lu.reboot();
  corrupt();
  const filled = b.k.kho.fillKimage({ imageBytes: 64 << 20, mem: b.k.machine.mem });
  const k = Kernel.bootFrom(
    b.k.machine,
    { handover: filled.handover, imagePhys: filled.imagePhys, bootIndex: b.k.bootIndex + 1 },
    { profile: o.profile ?? b.k.profile.name, cmdline: o.cmdline ?? b.k.params.raw },
  );
  return withHandler(k, o);
}
