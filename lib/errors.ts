/**
 * Error classes of kholab, one per kind of failure, each a subclass of a built-in error.
 *
 * - {@link KhoError} carries a kernel errno name (`EINVAL`, `ENOMEM`, …) and its number.
 * - {@link FdtError} carries a libfdt error name (`FDT_ERR_BADMAGIC`, …) and its number.
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
 * import { KhoError } from "./errors.ts";
 * const e = new KhoError("EINVAL", "folio at 0x1000 overlaps scratch area 1");
 * console.assert(e.errno === 22 && e.message.startsWith("EINVAL: "));
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
 * import { FdtError } from "./errors.ts";
 * const e = new FdtError("FDT_ERR_BADMAGIC", "magic 0xd00dfeee");
 * console.assert(e.fdtErrno === -9);
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
