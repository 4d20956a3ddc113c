/**
 * Reading an input file kholab did not write (a host's pfn list, an exported handover),
 * bounded before any work: only a regular file (not a directory, FIFO or device: `/dev/zero`
 * never ends), at most `maxBytes` read (checked on the size and again while reading, so a file
 * that grows does not get past the cap), and a gzip stream (recognised by its magic bytes
 * `1f 8b`, RFC 1952) decompressed to at most `maxTextBytes`. Synchronous, so the command
 * language, which runs statements synchronously, can use it: `node:zlib`'s `gunzipSync` with
 * `maxOutputLength` stops a decompression bomb at the cap instead of after it.
 *
 * @module
 */

import { gunzipSync } from "node:zlib";
import type { ErrnoName } from "../errors.ts";
import { formatSize, MiB } from "../units.ts";

/** Caps of {@link readInputFile}. */
export interface InputLimits {
  /** Most bytes read from the file. */
  readonly maxBytes: number;
  /** Most bytes after gzip decompression. */
  readonly maxTextBytes: number;
}

/** Caps for a host's pfn list: 256 MiB on disk, 256 MiB of text (about 10 M lines). */
export const PFN_LIST_LIMITS: InputLimits = { maxBytes: 256 * MiB, maxTextBytes: 256 * MiB };

/** An input file that cannot be read: its errno name and why. */
export class InputFileError extends Error {
  /**
   * `ENOENT` (missing), `EACCES` (not permitted), `EINVAL` (not a regular file, a bad gzip
   * stream), `EFBIG` (too big).
   */
  readonly code: ErrnoName;
  /** The path as given. */
  readonly path: string;
  /** Creates the error: `PATH: reason`. */
  constructor(code: ErrnoName, path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = "InputFileError";
    this.code = code;
    this.path = path;
  }
}

/** What {@link readInputFile} read. */
export interface InputFile {
  /** The bytes (decompressed when the file was gzip). */
  readonly bytes: Uint8Array;
  /** Whether the file was a gzip stream. */
  readonly gzip: boolean;
}

/** Whether `bytes` start with the gzip magic `1f 8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Reads a regular file, at most `limits.maxBytes` of it, gunzipping a gzip stream to at most
 * `limits.maxTextBytes` (unless `gunzip` is false: binary files are taken as they are).
 * Throws {@link InputFileError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { InputFileError, readInputFile } from "./input_file.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, gzipSync(new TextEncoder().encode("0x200 9\n")));
 * const f = readInputFile(path, { maxBytes: 1024, maxTextBytes: 1024 });
 * assert.ok(f.gzip && new TextDecoder().decode(f.bytes) === "0x200 9\n");
 * assert.throws(() => readInputFile(path, { maxBytes: 4, maxTextBytes: 1024 }), InputFileError);
 * assert.throws(() => readInputFile("/dev/zero", { maxBytes: 4, maxTextBytes: 4 }), /not a regular file/);
 * Deno.removeSync(path);
 * ```
 */
export function readInputFile(
  path: string,
  limits: InputLimits,
  options: { gunzip?: boolean } = {},
): InputFile {
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(path);
  } catch (e) {
    throw hostError(path, e);
  }
  if (!stat.isFile) {
    const what = stat.isDirectory ? "a directory" : "not a regular file";
    throw new InputFileError("EINVAL", path, `${what} (only regular files are read)`);
  }
  const tooBig = () =>
    new InputFileError("EFBIG", path, `larger than ${formatSize(limits.maxBytes)}`);
  if (stat.size > limits.maxBytes) throw tooBig();
  const raw = readAtMost(path, limits.maxBytes, tooBig);
  if (options.gunzip === false || !isGzip(raw)) return { bytes: raw, gzip: false };
  try {
    const out = gunzipSync(raw, { maxOutputLength: limits.maxTextBytes });
    return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), gzip: true };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") {
      throw new InputFileError(
        "EFBIG",
        path,
        `gzip stream decompresses to more than ${formatSize(limits.maxTextBytes)}`,
      );
    }
    throw new InputFileError("EINVAL", path, `not a valid gzip stream: ${(e as Error).message}`);
  }
}

/**
 * The errno name of a failed file-system call of the host (Deno's error classes), or null for
 * anything else: `ENOENT`, `EACCES` (not permitted, or not granted to this process), `EEXIST`,
 * `EISDIR`, `ENOTDIR`, `EIO` (another I/O error).
 */
export function hostFsErrno(e: unknown): string | null {
  const E = Deno.errors;
  if (e instanceof E.NotFound) return "ENOENT";
  if (e instanceof E.PermissionDenied || e instanceof E.NotCapable) return "EACCES";
  if (e instanceof E.AlreadyExists) return "EEXIST";
  if (e instanceof E.IsADirectory) return "EISDIR";
  if (e instanceof E.NotADirectory) return "ENOTDIR";
  if (
    e instanceof E.BadResource || e instanceof E.Busy || e instanceof E.FilesystemLoop ||
    e instanceof E.WriteZero || e instanceof E.UnexpectedEof || e instanceof E.InvalidData
  ) return "EIO";
  return null;
}

/** The error of a failed file-system call: missing, not permitted, or anything else. */
function hostError(path: string, e: unknown): InputFileError {
  if (e instanceof Deno.errors.NotFound) return new InputFileError("ENOENT", path, "no such file");
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return new InputFileError("EACCES", path, `permission denied (${(e as Error).message})`);
  }
  return new InputFileError("EINVAL", path, (e as Error)?.message ?? String(e));
}

/** Reads at most `max` bytes; `tooBig()` is thrown when the file holds more. */
function readAtMost(path: string, max: number, tooBig: () => Error): Uint8Array {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw hostError(path, e);
  }
  using _ = file;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(Math.min(max + 1, 1 * MiB));
  for (;;) {
    const n = file.readSync(buf);
    if (n === null || n === 0) break;
    total += n;
    if (total > max) throw tooBig();
    chunks.push(buf.slice(0, n));
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
