/**
 * Which kind of kernel outcome a thrown value is: the simulated kernel's own verdict (an errno
 * return, a panic, an oops, a detected lockup, a `BUG`, a task blocked for good) — or not one,
 * i.e. a JavaScript exception that escaped kholab itself. Code that runs kernel paths on
 * handed-over bytes (the scenario harness's restores, the fuzzers) records the first kind and
 * lets the second through, so a bug in kholab is never mistaken for the kernel's answer
 * (`lib/errors.ts`, the error policy).
 *
 * @module
 */

import { KernelBug, KhoError } from "../errors.ts";
import { KernelOops } from "../kernel/oops.ts";
import { KernelPanic } from "../kernel/panic.ts";
import { KhoHangError } from "../kho/trackers/xarray.ts";
import { LuoBlockedError } from "../luo/luo_internal.ts";

/**
 * A kernel verdict: `errno` (a {@link KhoError}: the call returned `-errno`), `oops` (a
 * {@link KernelOops}: a page fault that killed the machine), `panic` (any other
 * {@link KernelPanic}), `hang` (a {@link KhoHangError}: a loop that never ends, reported as
 * the watchdog's soft lockup), `bug` (a {@link KernelBug}: a `BUG_ON` the kernel asserts) or
 * `blocked` (a {@link LuoBlockedError}: a task that sleeps forever).
 */
export type KernelVerdictKind = "errno" | "oops" | "panic" | "hang" | "bug" | "blocked";

/**
 * The kind of kernel verdict `e` is, or null when `e` is not one (a JavaScript exception of
 * kholab's own: a `RangeError`, a `TypeError`, an `internal:` error…).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KhoError } from "../errors.ts";
 * import { KernelLog } from "../kernel/dmesg.ts";
 * import { KernelOops } from "../kernel/oops.ts";
 * import { kernelVerdict } from "./verdict.ts";
 * assert.equal(kernelVerdict(new KhoError("EINVAL", "bad")), "errno");
 * assert.equal(kernelVerdict(new KernelOops({ address: 0, fn: "f" }, new KernelLog())), "oops");
 * assert.equal(kernelVerdict(new RangeError("Invalid array length")), null);
 * ```
 */
export function kernelVerdict(e: unknown): KernelVerdictKind | null {
  if (e instanceof KhoError) return "errno";
  if (e instanceof KernelOops) return "oops";
  if (e instanceof KernelPanic) return "panic";
  if (e instanceof KhoHangError) return "hang";
  if (e instanceof KernelBug) return "bug";
  if (e instanceof LuoBlockedError) return "blocked";
  return null;
}

/** Returns `e` when it is a kernel verdict ({@link kernelVerdict}); rethrows anything else. */
export function asKernelVerdict<E>(e: E): E {
  if (kernelVerdict(e) === null) throw e;
  return e;
}
