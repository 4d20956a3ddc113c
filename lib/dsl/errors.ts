/**
 * Errors of the kholab command language. Every diagnostic names its place as
 * `file.kho:LINE:COL: message`, followed by the source line and a caret under the offending
 * token:
 *
 * ```text
 * demo.kho:3:15: unknown option "cout" for pages (did you mean "count"?)
 *    3 | iommu = pages cout=1Mi
 *      |               ^^^^
 * ```
 *
 * - {@link ScriptSyntaxError} (a `SyntaxError`): one syntax or validation error.
 * - {@link ScriptSyntaxErrors} (an `AggregateError`): every syntax error of a script at once.
 * - {@link ScriptRuntimeError} (an `Error`): a command failed while running; names the
 *   command and, when the kernel refused, its errno.
 *
 * @module
 */

import { escapeControl, formatDiagnostic, snippetFor, type Span } from "../diagnostics.ts";
import { KhoError } from "../errors.ts";

// The place and caret format is shared with every text input kholab reads (`lib/diagnostics.ts`).
export { escapeControl, formatDiagnostic, snippetFor, type Span };

/**
 * A token of the script quoted for a message: JSON-quoted, cut to `max` characters with `…`
 * (a 1 MB word makes a one-line message), control characters escaped.
 */
export function quoteToken(text: string, max = 40): string {
  const cut = text.length > max ? text.slice(0, max) + "…" : text;
  return escapeControl(JSON.stringify(cut));
}

/**
 * One syntax or validation error of a script, found before anything runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ScriptSyntaxError } from "./errors.ts";
 * const e = new ScriptSyntaxError("unknown command \"kexc\"", {
 *   file: "a.kho", span: { line: 1, col: 1, len: 4 }, source: "kexc",
 * });
 * assert.match(e.message, /^a\.kho:1:1: unknown command "kexc"/);
 * ```
 */
export class ScriptSyntaxError extends SyntaxError {
  /** The script's name as given (`<stdin>`, `<repl>` or a path). */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Length of the offending token. */
  readonly length: number;
  /** The message without the place (`unknown command "kexc"`). */
  readonly reason: string;
  /** The source line and the caret line. */
  readonly snippet: string;

  /** Creates the error; its message is the full diagnostic. */
  constructor(reason: string, at: { file: string; span: Span; source?: string }) {
    super(formatDiagnostic({ ...at, message: reason }));
    this.name = "ScriptSyntaxError";
    this.file = at.file;
    this.line = at.span.line;
    this.column = at.span.col;
    this.length = at.span.len;
    this.reason = reason;
    this.snippet = snippetFor(at.source, at.span);
  }
}

/**
 * Every syntax error of a script (a script is checked as a whole before it runs). A script
 * with very many errors lists the first ones (`errors`) and counts the rest (`more`).
 */
export class ScriptSyntaxErrors extends AggregateError {
  /** The errors reported in full, in source order. */
  override readonly errors: ScriptSyntaxError[];
  /** Further errors found but not reported (after the parser's limit). */
  readonly more: number;
  /** Wraps the list; the message lists every diagnostic, "… and K more", and a count. */
  constructor(errors: ScriptSyntaxError[], more = 0) {
    const n = errors.length + more;
    super(
      errors,
      `${errors.map((e) => e.message).join("\n\n")}${more ? `\n\n… and ${more} more` : ""}` +
        `\n\n${n} syntax error${n === 1 ? "" : "s"}`,
    );
    this.name = "ScriptSyntaxErrors";
    this.errors = errors;
    this.more = more;
  }
}

/**
 * A command failed while running: `file.kho:7:1: preserve: EINVAL: folio at 0x… overlaps
 * scratch area 1`. The session's state is as before the command. `code` is the kernel's
 * errno only when the kernel refused (a `KhoError`); a failure of kholab itself (a
 * simulator `RangeError`, a `TypeError`, a stack overflow) is `internal`, with no errno.
 */
export class ScriptRuntimeError extends Error {
  /** The script's name. */
  readonly file: string;
  /** 1-based line of the failing statement. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The command (`preserve`, `kexec`, `=` forms give the object kind). */
  readonly command: string;
  /** The kernel's errno name, when the kernel refused (`EINVAL`, `ENOMEM`, …). */
  readonly code: string | null;
  /** The message without the place. */
  readonly reason: string;
  /** The source line and the caret line. */
  readonly snippet: string;
  /** A failure of kholab itself, not of the script or the kernel. */
  readonly internal: boolean;

  /** Creates the error; its message is the full diagnostic. */
  constructor(
    reason: string,
    at: {
      file: string;
      span: Span;
      command: string;
      code?: string | null;
      source?: string;
      cause?: unknown;
      internal?: boolean;
    },
  ) {
    super(formatDiagnostic({ ...at, message: `${at.command}: ${reason}` }), { cause: at.cause });
    this.name = "ScriptRuntimeError";
    this.file = at.file;
    this.line = at.span.line;
    this.column = at.span.col;
    this.command = at.command;
    this.code = at.code ?? null;
    this.reason = reason;
    this.snippet = snippetFor(at.source, at.span);
    this.internal = at.internal ?? false;
  }
}

/** Why a run was stopped: it used up its step budget, or it was interrupted (Ctrl-C). */
export type StopReason = "steps" | "interrupted";

/**
 * A request to stop the run, raised by the session between steps (or by a long command
 * between its units of work); the evaluator rolls back the command in progress and turns it
 * into a {@link ScriptStopError} at the statement.
 */
export class RunStop extends Error {
  /** Why. */
  readonly reason: StopReason;
  /** Creates the request; `message` says what stopped and how to raise the limit. */
  constructor(reason: StopReason, message: string) {
    super(message);
    this.name = "RunStop";
    this.reason = reason;
  }
}

/**
 * A run stopped before its end: its step budget ran out or it was interrupted. Not a failure
 * of the command (that was rolled back): `try` does not catch it, the run ends.
 */
export class ScriptStopError extends ScriptRuntimeError {
  /** Why the run stopped. */
  readonly stop: StopReason;
  /** Creates the error at a statement. */
  constructor(
    stop: StopReason,
    reason: string,
    at: { file: string; span: Span; command: string; source?: string; cause?: unknown },
  ) {
    super(reason, at);
    this.name = "ScriptStopError";
    this.stop = stop;
  }
}

/** The kernel's error `e` (same errno) with a note on what it did to the script's objects. */
export function withNote(e: KhoError, note: string): KhoError {
  return new KhoError(e.code, `${e.message.replace(/^[A-Z0-9]+: /, "")}; ${note}`, { cause: e });
}

/**
 * A failure inside a command handler before the place is known; the evaluator turns it
 * into a {@link ScriptRuntimeError} at the statement. `code` is an errno name.
 */
export class CommandError extends Error {
  /** errno name (`EINVAL`, `ENOENT`, …) or null for a plain language error. */
  readonly code: string | null;
  /** The argument at fault (an object name), to put the caret under it. */
  readonly token: string | null;
  /** Creates the error with message `CODE: detail` (or just detail without a code). */
  constructor(code: string | null, detail: string, token: string | null = null) {
    super(code ? `${code}: ${detail}` : detail);
    this.name = "CommandError";
    this.code = code;
    this.token = token;
  }
}

/**
 * An error that carries its own place (a value or a name in an expression); the evaluator
 * puts the caret there instead of under the statement.
 */
export class SpannedError extends Error {
  /** errno name or null. */
  readonly code: string | null;
  /** Where in the script. */
  readonly span: Span;
  /** Creates the error. */
  constructor(code: string | null, message: string, span: Span) {
    super(message);
    this.name = "SpannedError";
    this.code = code;
    this.span = span;
  }
}

/** Whether `e` is one of the language's own errors. */
export function isScriptError(
  e: unknown,
): e is ScriptSyntaxError | ScriptSyntaxErrors | ScriptRuntimeError {
  return e instanceof ScriptSyntaxError || e instanceof ScriptSyntaxErrors ||
    e instanceof ScriptRuntimeError;
}

/** Edit distance (Levenshtein), for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** Longest word {@link didYouMean} compares (the edit distance costs its length squared). */
const DID_YOU_MEAN_MAX = 64;

/** ` (did you mean "x"?)` for the closest candidate within a small distance, else "". */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  if (word.length > DID_YOU_MEAN_MAX) return "";
  let best: string | null = null;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = c.startsWith(w) && w.length >= 2 ? 0.5 : editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3) + 1));
  return best !== null && bestD <= limit ? ` (did you mean "${best}"?)` : "";
}
