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

/**
 * Formats `file:line:col: message` followed by the source line and a caret line.
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
  const { file, span, message } = d;
  const head = `${file}:${span.line}:${span.col}: ${message}`;
  const snippet = snippetFor(d.source, span);
  return snippet ? `${head}\n${snippet}` : head;
}

/** The source line of `span` with a caret line under the token, or "" without source. */
export function snippetFor(source: string | undefined, span: Span): string {
  if (source === undefined) return "";
  return snippetOfLine(lineOf(source, span.line), span);
}

/** The caret snippet of `span` for the text of its line. */
export function snippetOfLine(lineText: string, span: Span): string {
  const text = lineText.replace(/\r$/, "").replaceAll("\t", " ");
  const num = String(span.line);
  const gutter = " ".repeat(Math.max(4, num.length + 1));
  const pad = gutter.slice(num.length) + num;
  const caretLen = Math.max(1, Math.min(span.len, Math.max(1, text.length - span.col + 1)));
  return `${pad} | ${text}\n${gutter} | ${" ".repeat(Math.max(0, span.col - 1))}${
    "^".repeat(caretLen)
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
