/**
 * What a failed command becomes: a {@link ScriptRuntimeError} at the statement (or at the
 * value or name that caused it), saying what the failure was.
 *
 * - The kernel refused (`KhoError`): its errno. A libfdt error the generation returned raw
 *   (`FdtError`): its name. The language's own errors (`CommandError`, a bad value): as
 *   written, with the errno they name.
 * - The simulated kernel panicked, oopsed, hit a `BUG_ON` or locked up (`KernelPanic`,
 *   `KernelOops`, `KernelBug`, a detected `KhoHangError`, a task blocked forever
 *   `LuoBlockedError`): the kernel's message, no errno.
 * - Anything else is a failure of kholab itself — a simulator `RangeError` (misuse of the
 *   simulator API), a `TypeError`, a stack overflow: an **internal error**, never an errno, so
 *   that a bug is never mistaken for the kernel's verdict. The command was rolled back.
 *
 * - The host-memory budget (`HostMemoryError`: refused up front on its estimate, or stopped
 *   as it went): its message, no errno — the machine may have the pages, the process cannot
 *   hold the structures. Not internal: the limit is the user's (`--max-memory`).
 * - A stop of the run (`RunStop`: the step budget ran out, Ctrl-C): a {@link ScriptStopError},
 *   after the command in progress was rolled back.
 *
 * When the rollback could not undo everything (a generation without the unpreserve call),
 * the diagnostic says what stays.
 *
 * @module
 */

import { KernelPanic } from "../boot/kernel.ts";
import { HostMemoryError } from "../machine/host_memory.ts";
import { FdtError, KernelBug, KhoError } from "../errors.ts";
import { KhoHangError } from "../kho/trackers/xarray.ts";
import { LuoBlockedError } from "../luo/luo_internal.ts";
import type { Stmt } from "./ast.ts";
import {
  CommandError,
  RunStop,
  ScriptRuntimeError,
  ScriptStopError,
  ScriptSyntaxErrors,
  type Span,
  SpannedError,
} from "./errors.ts";
import { ValueError } from "./values.ts";

/** Where a statement failed. */
export interface FailurePlace {
  /** Script name. */
  file: string;
  /** The script's text (for the caret line). */
  source: string;
  /** The statement. */
  stmt: Stmt;
  /** The command (`preserve`; an object kind for `NAME = KIND`). */
  command: string;
  /** Undo actions the generation could not perform (their reasons). */
  notUndone?: readonly string[];
}

/** The diagnostic of a thrown value (script errors pass through unchanged). */
export function toRuntimeError(
  e: unknown,
  at: FailurePlace,
): ScriptRuntimeError | ScriptSyntaxErrors {
  if (e instanceof ScriptRuntimeError || e instanceof ScriptSyntaxErrors) return e;
  const s = at.stmt;
  let span: Span = s.kind === "assign" ? s.kindSpan : s.span;
  if (e instanceof RunStop) {
    const undone = at.notUndone?.length ? `; not undone: ${at.notUndone.join("; ")}` : "";
    return new ScriptStopError(e.reason, e.message + undone, {
      file: at.file,
      span,
      command: at.command,
      source: at.source,
      cause: e,
    });
  }
  let code: string | null = null;
  let reason: string;
  let internal = false;
  if (e instanceof SpannedError) {
    span = e.span;
    reason = e.message;
    code = e.code;
  } else if (e instanceof CommandError || e instanceof KhoError || e instanceof FdtError) {
    code = e.code;
    reason = e.message;
    if (e instanceof CommandError && e.token !== null && "args" in s) {
      const arg = s.args.find((a) => a.kind !== "expr" && a.text === e.token);
      if (arg) span = arg.span;
    }
  } else if (e instanceof HostMemoryError) {
    reason = e.message;
  } else if (e instanceof KernelBug) {
    reason = `kernel BUG: ${e.message}`;
  } else if (
    e instanceof KernelPanic || e instanceof KhoHangError || e instanceof LuoBlockedError ||
    e instanceof ValueError
  ) {
    reason = e.message;
  } else {
    internal = true;
    const err = e instanceof Error ? e : new Error(String(e));
    reason = `internal error: ${err.name}: ${err.message} ` +
      "(a failure of kholab, not of the script; the command was rolled back)";
  }
  if (at.notUndone?.length) reason += `; not undone: ${at.notUndone.join("; ")}`;
  return new ScriptRuntimeError(reason, {
    file: at.file,
    span,
    command: at.command,
    code,
    source: at.source,
    cause: e,
    internal,
  });
}
