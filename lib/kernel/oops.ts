/**
 * A kernel oops that kills the machine: code dereferenced a physical address that is not RAM
 * (a corrupt pointer read from handed-over bytes). The kernel prints the oops and dies with
 * "Fatal exception"; kholab stops the boot the same way, with a {@link KernelOops} (a
 * {@link KernelPanic}) that names the address and the function, never a JavaScript
 * `RangeError` from simulated memory.
 *
 * @module
 */

import { hex } from "../units.ts";
import type { KernelLog } from "./dmesg.ts";
import { KernelPanic } from "./panic.ts";

/**
 * `BUG: unable to handle page fault for address` followed by the panic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KernelLog } from "./dmesg.ts";
 * import { KernelOops } from "./oops.ts";
 * const e = new KernelOops(
 *   { address: 2 ** 45, fn: "kho_block_set_is_cyclic", structure: "kho_block header" },
 *   new KernelLog(),
 * );
 * assert.equal(e.address, 2 ** 45);
 * assert.match(e.message, /kho_block_set_is_cyclic.*0x200000000000: kho_block header/);
 * ```
 */
export class KernelOops extends KernelPanic {
  /** The faulting physical address. */
  readonly address: number;
  /** The function that faulted. */
  readonly fn: string;
  /** What it was accessing there (`"memfd_luo_ser"`, `"struct page"`), when named. */
  readonly structure?: string;
  /**
   * Logs the oops lines, then panics. `addressText` prints an address a number cannot hold
   * exactly (a kernel virtual address such as an `ERR_PTR`, `0xfffffffffffffff4`).
   */
  constructor(
    at: { address: number; fn: string; structure?: string; addressText?: string },
    log: KernelLog,
  ) {
    const where = at.addressText ?? hex(at.address);
    log.error("", `BUG: unable to handle page fault for address: ${where}`);
    log.error("", `RIP: ${at.fn}`);
    const what = at.structure ? `: ${at.structure}` : "";
    super(`Fatal exception in ${at.fn} (page fault at ${where}${what})`, log);
    this.address = at.address;
    this.fn = at.fn;
    if (at.structure) this.structure = at.structure;
  }
}
