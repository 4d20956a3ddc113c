/**
 * A handed-over FDT blob read the way kernel code reads one: `phys_to_virt(phys)` and libfdt
 * over it. libfdt trusts the header's `totalsize` and reads wherever the header's offsets
 * lead inside it; nothing bounds the blob to the page it was written in. So kholab gives the
 * reader the bytes from `phys` up to `totalsize` — cut where RAM ends — and where libfdt
 * reads past the bytes it has because RAM ended there, the kernel would have faulted: a
 * {@link KernelOops} naming the function and the structure. A blob whose header is not RAM
 * faults the same way.
 *
 * With `strict` (kholab's hardened successor) an address outside RAM fails the call with
 * `KhoError` EFAULT (logged) instead of the oops.
 *
 * Bound: at most {@link PHYS_FDT_WINDOW_BYTES} are read; a corrupt blob that sends libfdt
 * further (a `totalsize` and offsets of more than 1 MiB, in RAM) reads as truncated there.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { KernelOops } from "../kernel/oops.ts";
import { hex } from "../units.ts";
import { readBe32 } from "./fdt/format.ts";
import { FdtReader } from "./fdt/reader.ts";
import { libfdtFaults } from "./fdt/ro.ts";
import type { KernelWalkHost } from "./trackers/tracker.ts";

/** Most bytes of a blob kholab reads (the kernel is bounded only by `totalsize` < 2^31). */
export const PHYS_FDT_WINDOW_BYTES: number = 1 << 20;

/** Bytes of an FDT header (version 17). */
const FDT_HEADER_BYTES = 40;

/** What reading a blob needs of its kernel: what the kernel's tracker walk needs. */
export type PhysFdtHost = KernelWalkHost;

/** The longest `n ≤ want` with `[phys, phys + n)` all RAM (`phys` itself is RAM). */
function ramBytesFrom(host: PhysFdtHost, phys: number, want: number): number {
  if (host.isRam(phys, want)) return want;
  let lo = 1, hi = want; // isRam(phys, lo) holds, isRam(phys, hi) does not
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (host.isRam(phys, mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Where the read happens, for the oops. */
export interface PhysFdtSite {
  /** The kernel function reading (`reserve_mem_kho_revive`). */
  readonly fn: string;
  /** What it reads (`memblock sub-FDT`). */
  readonly structure: string;
  /** kholab's strict successor: EFAULT instead of the oops. Default false. */
  readonly strict?: boolean;
}

function fault(host: PhysFdtHost, address: number, at: PhysFdtSite): never {
  if (at.strict) {
    host.log.error("KHO", `${at.fn}: ${at.structure} at ${hex(address)} is not RAM (strict check)`);
    throw new KhoError("EFAULT", `${at.fn}: ${at.structure} at ${hex(address)} is not RAM`);
  }
  host.log.error("KHO", `${at.fn}: ${at.structure} at ${hex(address)} is not RAM`);
  throw new KernelOops({ address, fn: at.fn, structure: at.structure }, host.log);
}

/**
 * Runs `use` on the FDT at `phys` read as the kernel reads it (see the module doc). libfdt
 * errors (`FdtError`, from the header check or from `use`) propagate for the caller to turn
 * into its errno, as kernel code turns a negative libfdt return into one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KernelLog } from "../kernel/dmesg.ts";
 * import { KernelOops } from "../kernel/oops.ts";
 * import { Machine } from "../machine/machine.ts";
 * import { FdtWriter } from "./fdt/writer.ts";
 * import { readPhysFdt } from "./phys_fdt.ts";
 * const m = new Machine({ ramBytes: 2 ** 28 });
 * const w = FdtWriter.create(4096);
 * w.finishReservemap();
 * w.beginNode("");
 * w.propertyString("compatible", "memblock-v1");
 * w.endNode();
 * m.mem.writeBytes(0x100000, w.finish());
 * const host = { mem: m.mem, isRam: (p: number, n: number) => m.topology.isRam(p, n), log: new KernelLog() };
 * const at = { fn: "reserve_mem_kho_revive", structure: "memblock sub-FDT" };
 * assert.equal(readPhysFdt(host, 0x100000, at, (rd) => rd.nodeCheckCompatible(0, "memblock-v1")), 0);
 * assert.throws(() => readPhysFdt(host, 2 ** 40, at, () => 0), KernelOops);
 * ```
 */
export function readPhysFdt<T>(
  host: PhysFdtHost,
  phys: number,
  at: PhysFdtSite,
  use: (rd: FdtReader) => T,
): T {
  return readPhysFdtBytes(host, phys, at, (bytes) => use(new FdtReader(bytes)));
}

/**
 * {@link readPhysFdt} for a parser that takes the blob's bytes (the bytes from `phys` up to
 * `totalsize`, cut where RAM ends) and builds its own reader.
 */
export function readPhysFdtBytes<T>(
  host: PhysFdtHost,
  phys: number,
  at: PhysFdtSite,
  use: (bytes: Uint8Array) => T,
): T {
  const { mem } = host;
  if (!Number.isSafeInteger(phys) || !host.isRam(phys, 8)) fault(host, phys, at);
  const totalsize = readBe32(mem.readBytes(phys, 8), 4);
  const want = Math.min(Math.max(totalsize, FDT_HEADER_BYTES), PHYS_FDT_WINDOW_BYTES);
  const window = ramBytesFrom(host, phys, want);
  if (window < FDT_HEADER_BYTES) fault(host, phys + window, at);
  const before = libfdtFaults.overrun;
  let result: T | undefined;
  let error: unknown = null;
  try {
    result = use(mem.readBytes(phys, window));
  } catch (e) {
    error = e;
  }
  // libfdt read past the bytes we had, and they ended because RAM did: the kernel faulted.
  if (window < want && libfdtFaults.overrun > before) fault(host, phys + window, at);
  if (error !== null) throw error;
  return result as T;
}
