/**
 * Error classes of kholab and the policy that picks one. Each failure says whose it is — the
 * simulated kernel's verdict, the caller's misuse of the simulator, a broken kernel invariant,
 * a panic, a lockup — so code catches exactly the kind it handles and nothing else.
 *
 * - {@link KhoError}: what the kernel returns — an errno (`-EINVAL`, `-ENOMEM`, …) of a kernel
 *   call, with its name and number (subclasses add detail: `TrackerCorruptionError` below,
 *   `KhoSubtreeLeakError` for the raw libfdt code 6.16's `kho_add_subtree` passed through).
 * - `RangeError` (and {@link PhysRangeError} for addresses): misuse of the simulator's API — an
 *   argument outside its domain, a call in a state the API does not allow (a kernel object used
 *   after kexec replaced it). One exception, asked for by issue 18 §6: the KHO facade's
 *   preserve, unpreserve and restore calls answer a pfn, page count, address or size no C
 *   caller can pass (NaN, ±Infinity, a fraction, a negative number, past 2^52 pages) with
 *   `KhoError` EINVAL (`lib/kho/kho.ts`).
 * - {@link KernelBug}: a `BUG_ON`/`VM_BUG_ON`-style invariant of the simulated kernel does not
 *   hold — the caller, playing kernel code, broke a rule the kernel asserts instead of checking.
 * - `KernelPanic` (`lib/kernel/panic.ts`): `panic()`; the simulated kernel stops, with its log.
 *   `KernelOops` (`lib/kernel/oops.ts`) is the panic after an oops: a page fault on an address
 *   that is not RAM (a wild pointer read from handed-over bytes).
 * - `KhoHangError` (`lib/kho/trackers/xarray.ts`): a detected lockup — a kernel loop that
 *   would never end; no errno, since the call never returns. `LuoBlockedError`
 *   (`lib/luo/luo_internal.ts`) is its user-task counterpart: a task that would block forever
 *   on a lock the kernel never releases.
 * - {@link FdtError}: a libfdt error (`-FDT_ERR_*`).
 * - `TrackerCorruptionError` (`lib/kho/trackers/corruption.ts`): a successor's tracker walk
 *   (radix tree, xarray memory map, order table) aborted by corrupted handover bytes; a
 *   `KhoError` EINVAL carrying the named reason and the partial walk.
 * - `SyntaxError` (and the script errors of `lib/dsl/errors.ts`): text that does not parse —
 *   sizes, counts, CSV, command-line arguments, scripts.
 *
 * Rules:
 * - The kernel's verdict on bad input is never a JavaScript exception: corrupted handover bytes
 *   end in a named reason and a cold boot, a `KernelPanic` or a `KhoHangError`, never a
 *   `RangeError` from simulated memory.
 * - A WARN is a line in the kernel's log, not an error; a kernel call that WARNs and goes on
 *   returns normally.
 * - Kernel code that finds handed-over bytes it cannot use and drops them leaves a line in the
 *   kernel log: the kernel's own message where it prints one, else kholab's note
 *   (`KernelLog.note`, marked as not the kernel's).
 * - Code that records verdicts (the scenario harness, the fuzzers) tells them from kholab's own
 *   exceptions with `kernelVerdict` (`lib/boot/verdict.ts`) and lets the latter through.
 * - A plain `Error` is left only for the host (a big-endian host, a worker that died, a chart
 *   library that drew nothing) and for kholab's own consistency checks, whose messages start
 *   with `internal:` — reaching one is a bug in kholab, not in the simulated kernel.
 *
 * @module
 */

/** Kernel errno values (asm-generic numbering) used by KHO and its neighbours. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ERANGE: 34,
  ENODATA: 61,
  EOPNOTSUPP: 95,
  EADDRNOTAVAIL: 99,
} as const;

/** The name of a kernel errno, e.g. `"EINVAL"`. */
export type ErrnoName = keyof typeof ERRNO;

/**
 * A kernel call failed with an errno, as the kernel would return `-EINVAL` etc.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KhoError } from "./errors.ts";
 * const e = new KhoError("EINVAL", "folio at 0x1000 overlaps scratch area 1");
 * assert.equal(e.errno, 22);
 * assert.equal(e.message, "EINVAL: folio at 0x1000 overlaps scratch area 1");
 * ```
 */
export class KhoError extends Error {
  /** The errno name, e.g. `"ENOMEM"`. */
  readonly code: ErrnoName;
  /** The positive errno number, e.g. 12 for ENOMEM. */
  readonly errno: number;
  /** Creates an error whose message is `CODE: detail`. */
  constructor(code: ErrnoName, detail: string, options?: ErrorOptions) {
    super(`${code}: ${detail}`, options);
    this.name = "KhoError";
    this.code = code;
    this.errno = ERRNO[code];
  }
}

/** libfdt error numbers (libfdt 1.6.1); functions return the negative value. */
export const FDT_ERR = {
  FDT_ERR_NOTFOUND: 1,
  FDT_ERR_EXISTS: 2,
  FDT_ERR_NOSPACE: 3,
  FDT_ERR_BADOFFSET: 4,
  FDT_ERR_BADPATH: 5,
  FDT_ERR_BADPHANDLE: 6,
  FDT_ERR_BADSTATE: 7,
  FDT_ERR_TRUNCATED: 8,
  FDT_ERR_BADMAGIC: 9,
  FDT_ERR_BADVERSION: 10,
  FDT_ERR_BADSTRUCTURE: 11,
  FDT_ERR_BADLAYOUT: 12,
  FDT_ERR_INTERNAL: 13,
  FDT_ERR_BADNCELLS: 14,
  FDT_ERR_BADVALUE: 15,
  FDT_ERR_BADOVERLAY: 16,
  FDT_ERR_NOPHANDLES: 17,
  FDT_ERR_BADFLAGS: 18,
  FDT_ERR_ALIGNMENT: 19,
} as const;

/** The name of a libfdt error, e.g. `"FDT_ERR_BADMAGIC"`. */
export type FdtErrName = keyof typeof FDT_ERR;

/**
 * A flattened-device-tree operation failed the way libfdt fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FdtError } from "./errors.ts";
 * const e = new FdtError("FDT_ERR_BADMAGIC", "magic 0xd00dfeee");
 * assert.equal(e.fdtErrno, -9);
 * ```
 */
export class FdtError extends Error {
  /** The libfdt error name. */
  readonly code: FdtErrName;
  /** The negative libfdt return value, e.g. -9 for FDT_ERR_BADMAGIC. */
  readonly fdtErrno: number;
  /** Creates an error whose message is `FDT_ERR_X: detail` (or just the name). */
  constructor(code: FdtErrName, detail?: string, options?: ErrorOptions) {
    super(detail ? `${code}: ${detail}` : code, options);
    this.name = "FdtError";
    this.code = code;
    this.fdtErrno = -FDT_ERR[code];
  }
}

/** A physical address or size argument is outside the simulated machine. */
export class PhysRangeError extends RangeError {
  /** Creates the error for the access `[phys, phys + size)`. */
  constructor(phys: number, size: number, detail = "outside physical memory") {
    super(`access [0x${phys.toString(16)}, +0x${size.toString(16)}) ${detail}`);
    this.name = "PhysRangeError";
  }
}

/**
 * A `BUG_ON`/`VM_BUG_ON`-style invariant of the simulated kernel does not hold: the kernel
 * would stop with "kernel BUG at …". The caller (playing kernel code through the API) broke
 * a rule the kernel asserts rather than checks — for example splitting a compound page, or
 * using a subsystem before the boot phase that builds it. Not a {@link KhoError}: there is no
 * errno, the call never returns in the kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KernelBug } from "./errors.ts";
 * const e = new KernelBug("VM_BUG_ON_PAGE(PageCompound(page)) at pfn 512");
 * assert.equal(e.name, "KernelBug");
 * assert.ok(!(e instanceof RangeError));
 * ```
 */
export class KernelBug extends Error {
  /** Creates the error; `message` names the kernel's assertion. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KernelBug";
  }
}
