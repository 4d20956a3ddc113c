/**
 * Diagnostics that name a place in a text: `file:LINE:COL: message`, then the source line and
 * a caret under the offending token. The command language's errors (`lib/dsl/errors.ts`) and
 * the readers of other text inputs (a host's pfn list, `lib/scenario/pfn_list.ts`) use the
 * same format, so every bad input reads the same way:
 *
 * ```text
 * host.txt:3:7: order 19 out of range 0..18
 *    3 | 0x4000 19 0
 *      |        ^^
 * ```
 *
 * @module
 */

/** A place in a text: 1-based line and column, and the length of the token. */
export interface Span {
  /** 1-based line. */
  line: number;
  /** 1-based column (in UTF-16 code units). */
  col: number;
  /** Length of the offending token (at least 1 for the caret). */
  len: number;
}

/** One diagnostic: what is wrong, and where. */
export interface Diagnostic {
  /** Where. */
  readonly span: Span;
  /** What (without the place). */
  readonly message: string;
}

/** Longest source line a snippet shows whole; longer lines show a window around the caret. */
export const SNIPPET_MAX_COLUMNS = 160;

/** Longest message a diagnostic prints (a longer one is cut with `…`). */
const MESSAGE_MAX = 2000;

// deno-lint-ignore no-control-regex -- the control characters are what it finds
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text with every control character (C0 but tab and newline, DEL, C1, line separators and
 * bidirectional overrides) written as `\xNN` / `\uNNNN`, so that a diagnostic about a binary
 * file never sends control bytes to a terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeControl } from "./diagnostics.ts";
 * assert.equal(escapeControl("a\x1b[2Jb\tc"), "a\\x1b[2Jb\tc");
 * ```
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, escapeChar);
}

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16)}`;
}

/**
 * Formats `file:line:col: message` followed by the source line and a caret line. Control
 * characters are escaped and a very long message is cut, so any input — a binary file given
 * as a script — gives a printable diagnostic of bounded size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDiagnostic } from "./diagnostics.ts";
 * const text = formatDiagnostic({
 *   file: "a.txt", span: { line: 2, col: 3, len: 2 }, message: "bad", source: "x\nabcd",
 * });
 * assert.equal(text, "a.txt:2:3: bad\n   2 | abcd\n     |   ^^");
 * ```
 */
export function formatDiagnostic(
  d: { file: string; span: Span; message: string; source?: string },
): string {
  const { file, span } = d;
  const message = d.message.length > MESSAGE_MAX
    ? d.message.slice(0, MESSAGE_MAX) + "…"
    : d.message;
  const head = escapeControl(`${file}:${span.line}:${span.col}: ${message}`);
  const snippet = snippetFor(d.source, span);
  return snippet ? `${head}\n${snippet}` : head;
}

/** The source line of `span` with a caret line under the token, or "" without source. */
export function snippetFor(source: string | undefined, span: Span): string {
  if (source === undefined) return "";
  return snippetOfLine(lineOf(source, span.line), span);
}

/**
 * The caret snippet of `span` for the text of its line. Tabs print as blanks and control
 * characters escaped (the caret follows what is printed); a line longer than
 * {@link SNIPPET_MAX_COLUMNS} shows a window around the token, cut with `…`.
 */
export function snippetOfLine(lineText: string, span: Span): string {
  const line = lineText.replace(/\r$/, "");
  const at = Math.max(0, span.col - 1);
  const len = Math.max(1, Math.min(span.len, Math.max(1, line.length - at)));
  let from = 0, to = line.length;
  if (line.length > SNIPPET_MAX_COLUMNS) {
    from = Math.max(0, Math.min(at - SNIPPET_MAX_COLUMNS / 2, line.length - SNIPPET_MAX_COLUMNS));
    to = Math.min(line.length, from + SNIPPET_MAX_COLUMNS);
  }
  let text = from > 0 ? "…" : "";
  let caretStart = -1, caretEnd = -1;
  for (let i = from; i <= to; i++) {
    if (i === at) caretStart = text.length;
    if (i === at + len) caretEnd = text.length;
    if (i === to) break;
    const c = line[i];
    text += c === "\t" ? " " : c.replace(CONTROL, escapeChar);
  }
  if (caretStart < 0) caretStart = text.length + Math.max(0, at - to);
  if (caretEnd < 0) caretEnd = text.length;
  if (to < line.length) text += "…";
  const num = String(span.line);
  const gutter = " ".repeat(Math.max(4, num.length + 1));
  const pad = gutter.slice(num.length) + num;
  return `${pad} | ${text}\n${gutter} | ${" ".repeat(caretStart)}${
    "^".repeat(Math.max(1, caretEnd - caretStart))
  }`;
}

/** Line `n` (1-based) of `source`, without splitting the whole text. */
function lineOf(source: string, n: number): string {
  let start = 0;
  for (let i = 1; i < n; i++) {
    const nl = source.indexOf("\n", start);
    if (nl < 0) return "";
    start = nl + 1;
  }
  const end = source.indexOf("\n", start);
  return source.slice(start, end < 0 ? source.length : end);
}

/**
 * Every diagnostic of one input, formatted, at most `max` of them (in source order) followed
 * by `… and K more` when there are more: a file with a million bad lines prints a screenful.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDiagnostics } from "./diagnostics.ts";
 * const diags = [1, 2, 3].map((line) => ({ span: { line, col: 1, len: 1 }, message: "bad" }));
 * const text = formatDiagnostics(diags, { file: "f", source: "a\nb\nc", max: 2 });
 * assert.match(text, /^f:1:1: bad\n/);
 * assert.ok(text.endsWith("… and 1 more"));
 * ```
 */
export function formatDiagnostics(
  diagnostics: readonly Diagnostic[],
  options: { file: string; source?: string; max?: number },
): string {
  const max = options.max ?? 20;
  const shown = diagnostics.slice(0, max).map((d) =>
    formatDiagnostic({
      file: options.file,
      span: d.span,
      message: d.message,
      source: options.source,
    })
  );
  const more = diagnostics.length - shown.length;
  if (more > 0) shown.push(`… and ${more} more`);
  return shown.join("\n");
}
