/**
 * Reading a script a user names (`kholab run FILE`, `include FILE`) bounded before any byte
 * is read, with the project's input reader (`../scenario/input_file.ts`): a regular file only
 * (a directory, FIFO or device such as `/dev/zero` is refused before it is opened), at most
 * {@link MAX_SCRIPT_BYTES}. Failures are `InputFileError`s naming the path and the reason.
 *
 * @module
 */

import { readInputFile } from "../scenario/input_file.ts";
import { MiB } from "../units.ts";

/** Largest script (and included file) read: 4 MiB. */
export const MAX_SCRIPT_BYTES: number = 4 * MiB;

/**
 * The text of a script file (UTF-8; bytes that are not UTF-8 read as U+FFFD, a byte-order
 * mark is dropped). Throws `InputFileError` for a missing or unreadable path, a directory, a
 * device, FIFO or socket, and a file larger than `maxBytes` (default {@link MAX_SCRIPT_BYTES}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readScriptFile } from "./source_file.ts";
 * assert.throws(() => readScriptFile("/dev/zero"), /not a regular file/);
 * const dir = Deno.makeTempDirSync();
 * assert.throws(() => readScriptFile(dir), /a directory/);
 * Deno.writeTextFileSync(`${dir}/a.kho`, "\uFEFFkexec\n");
 * assert.equal(readScriptFile(`${dir}/a.kho`), "kexec\n");
 * assert.throws(() => readScriptFile(`${dir}/a.kho`, { maxBytes: 4 }), /larger than 4 B/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function readScriptFile(path: string, options: { maxBytes?: number } = {}): string {
  const maxBytes = options.maxBytes ?? MAX_SCRIPT_BYTES;
  const { bytes } = readInputFile(path, { maxBytes, maxTextBytes: maxBytes }, { gunzip: false });
  return new TextDecoder().decode(bytes);
}

/** `path` as written, resolved against the folder of the script it appears in (as `include`). */
export function resolveScriptPath(path: string, script: string | undefined): string {
  if (path.startsWith("/") || script === undefined || !script.includes("/")) return path;
  return script.slice(0, script.lastIndexOf("/") + 1) + path;
}
