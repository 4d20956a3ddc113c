/**
 * What the Live Update Orchestrator's parts share (`kernel/liveupdate/luo_internal.h`): the
 * services they need from their kernel, the blocked-task outcome of 7.2's frozen subsystem,
 * and small helpers for reading handed-over bytes the way the kernel does.
 *
 * @module
 */

import { type ErrnoName, KhoError } from "../errors.ts";
import { KernelOops } from "../kernel/oops.ts";
import type { AbiProfile } from "../kho/profiles.ts";
import type { KhoBlockHost } from "../kho/block.ts";
import type { Kho } from "../kho/kho.ts";

/** The services of one kernel that LUO uses. */
export interface LuoHost extends KhoBlockHost {
  /** KHO of this kernel (allocation helpers, sub-trees, finalize). */
  readonly kho: Kho;
  /** The kernel's ABI profile (its `luo` generation decides the formats). */
  readonly profile: AbiProfile;
}

/**
 * A user task would sleep forever: after a successful `liveupdate_reboot` (7.2) the session
 * subsystem's `luo_session_serialize_rwsem` stays write-locked ("held indefinitely to freeze
 * the subsystem"), so every later session operation blocks. kholab reports the blocked task
 * instead of hanging.
 */
export class LuoBlockedError extends Error {
  /** The operation that blocked. */
  readonly operation: string;
  /** Creates the report for `operation`. */
  constructor(operation: string) {
    super(
      `INFO: task blocked in ${operation}: luo_session_serialize_rwsem is held for write ` +
        `since liveupdate_reboot serialized the sessions`,
    );
    this.name = "LuoBlockedError";
    this.operation = operation;
  }
}

/** Throws the kernel's page fault oops if `[phys, phys + size)` is not RAM. */
export function requireRam(host: LuoHost, phys: number, size: number, fn: string): void {
  if (!host.isRam(phys, size)) throw new KernelOops({ address: phys, fn }, host.log);
}

/** `%pe` of an errno name: `-EINVAL`. */
export function pe(code: ErrnoName): string {
  return `-${code}`;
}

/** The errno name of a thrown kernel error, rethrowing anything else. */
export function errnoOf(e: unknown): ErrnoName {
  if (e instanceof KhoError) return e.code;
  throw e;
}
