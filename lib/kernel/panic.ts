/**
 * `panic()`: the kernel cannot go on. Usable from every layer at or above the kernel's mm
 * (memblock, KHO, LUO, the boot sequence); the panic carries the dead boot's log.
 *
 * @module
 */

import type { KernelLog } from "./dmesg.ts";

/**
 * The kernel could not boot (for example: a KHO boot whose scratch areas cannot hold the
 * successor's early allocations). Carries the boot's log up to the panic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KernelLog } from "./dmesg.ts";
 * import { KernelPanic } from "./panic.ts";
 * const log = new KernelLog();
 * const p = new KernelPanic("out of scratch", log);
 * assert.equal(p.message, "Kernel panic - not syncing: out of scratch");
 * assert.equal(log.entries().at(-1)!.text, p.message);
 * ```
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
