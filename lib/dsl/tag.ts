/**
 * A session you can talk to from TypeScript and from a notebook: {@link session} returns a
 * tagged template that runs script text in one {@link Session}, keeping its state across
 * calls as the REPL does — one cell builds the machine, the next preserves, the next kexecs.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { wallClock } from "../rng.ts";
 * import { session } from "./tag.ts";
 * const kho = session({ seed: 1, clock: wallClock });
 * kho`machine ram=4G
 *     guest = folios order=9 count=8`;
 * kho`preserve guest`;
 * kho`kexec
 *     restore guest
 *     verify guest`;
 * assert.equal(kho.session.stats.verifyOk, 1);
 * ```
 *
 * Each call returns a {@link CellResult}: what the cell printed, the tables and charts it
 * showed (`show table`, `show chart`, …), and its error. In a Deno Jupyter notebook the
 * result displays itself (`Symbol.for("Jupyter.display")`): the output as text, tables and
 * charts as HTML, an error as its diagnostic (`<cell 3>:2:10: preserve: ENOENT: …` with the
 * caret line). Errors do not throw — like the REPL, the session goes on (the failed command
 * was rolled back); `result.orThrow()` throws them.
 *
 * @module
 */

import { escapeHtml, JUPYTER_DISPLAY, type MimeBundle } from "../plot/chart.ts";
import {
  isScriptError,
  type ScriptRuntimeError,
  type ScriptSyntaxError,
  type ScriptSyntaxErrors,
} from "./errors.ts";
import { Evaluator } from "./evaluator.ts";
import { type ExpectResult, type MeasureRow, Session, type SessionOptions } from "./session.ts";
import type { CommandTable } from "./spec.ts";
import type { ScalarValue } from "./values.ts";

/** One part of a cell's output: lines of text, or a shown item with HTML. */
export type CellPart =
  | { readonly kind: "text"; readonly lines: string[] }
  | { readonly kind: "html"; readonly text: string; readonly html: string };

/** What one call of the tag (one cell) did. */
export class CellResult {
  /** The cell's name in diagnostics (`<cell 3>`). */
  readonly file: string;
  /** The text the cell printed, line by line (shown items as their text). */
  readonly output: string[] = [];
  /** The output in order: text runs and shown tables or charts. */
  readonly parts: CellPart[] = [];
  /** The cell's `expect`s. */
  readonly expects: ExpectResult[] = [];
  /** The rows the cell measured. */
  readonly rows: MeasureRow[] = [];
  /** The script error that stopped the cell, or null. */
  error: ScriptSyntaxErrors | ScriptSyntaxError | ScriptRuntimeError | null = null;

  /** An empty result for the cell `file`. */
  constructor(file: string) {
    this.file = file;
  }

  /** Whether the cell ran to its end with every expectation met. */
  get ok(): boolean {
    return this.error === null && this.expects.every((e) => e.ok);
  }

  /** 0 ok, 1 an `expect` failed, 2 a script error — as `kholab run`. */
  get exitCode(): 0 | 1 | 2 {
    return this.error !== null ? 2 : this.expects.every((e) => e.ok) ? 0 : 1;
  }

  /** Throws the cell's error, if any; returns the result otherwise. */
  orThrow(): this {
    if (this.error !== null) throw this.error;
    return this;
  }

  /** The output and the error, as a terminal would print them. */
  toString(): string {
    return [...this.output, ...(this.error ? [this.error.message] : [])].join("\n");
  }

  /** The MIME bundle a notebook displays: text, tables and charts, the error. */
  [JUPYTER_DISPLAY](): MimeBundle {
    const html = this.parts.map((p) =>
      p.kind === "html"
        ? p.html
        : `<pre class="kholab-output">${escapeHtml(p.lines.join("\n"))}</pre>`
    );
    if (this.error) {
      html.push(
        `<pre class="kholab-error" style="color:#b00020">${escapeHtml(this.error.message)}</pre>`,
      );
    }
    return { "text/plain": this.toString(), "text/html": html.join("\n") };
  }
}

/** Options of {@link session}. */
export interface SessionTagOptions extends Omit<SessionOptions, "file"> {
  /** Reads included files (default: Deno.readTextFileSync). */
  readFile?: (path: string) => string;
  /** The commands, object kinds and metrics. Default the language's. */
  table?: CommandTable;
}

/** A tagged template that runs script text in its session. */
export interface KhoTag {
  /** Runs the template's raw text (as typed; values interpolated as text) as the next cell. */
  (strings: TemplateStringsArray, ...values: unknown[]): CellResult;
  /** The session (machine, kernel, objects, counters, rows). */
  readonly session: Session;
  /** Runs script text as the next cell (`file` names it in diagnostics). */
  run(text: string, options?: { file?: string }): CellResult;
  /** The value of a name, as `expect` sees it (`restore.failed`, `guest.verified`). */
  value(name: string): ScalarValue;
}

/**
 * A new session and its tag function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../rng.ts";
 * import { session } from "./tag.ts";
 * const kho = session({ clock: new ManualClock() });
 * kho`machine ram=1G
 * b = pages count=4`;
 * kho`preserve b`;
 * const r = kho`kexec
 * restore b
 * verify b
 * expect verify.ok == 1`;
 * assert.ok(r.ok && kho.value("b.restored") === 1);
 * const bad = kho`preserve nothing`;
 * assert.match(bad.error!.message, /^<cell 4>:1:10: preserve: ENOENT/);
 * ```
 */
export function session(options: SessionTagOptions): KhoTag {
  const s = new Session({ ...options, file: "<kho>" });
  const ev = new Evaluator(s, { readFile: options.readFile, table: options.table });
  let n = 0;
  const run = (script: string, opts: { file?: string } = {}): CellResult => {
    const cell = new CellResult(opts.file ?? `<cell ${++n}>`);
    let text$: string[] | null = null;
    /** Text lines: into the text part being written, or a new one. */
    const text = (lines: string[]) => {
      if (text$ === null) cell.parts.push({ kind: "text", lines: text$ = [] });
      text$.push(...lines);
    };
    const stop = s.listen({
      line: (line) => {
        cell.output.push(line);
        text([line]);
      },
      show: (shown) => {
        cell.output.push(...shown.text.split("\n"));
        if (shown.html === undefined) text(shown.text.split("\n"));
        else {
          cell.parts.push({ kind: "html", text: shown.text, html: shown.html });
          text$ = null;
        }
      },
    });
    const expects0 = s.expects.length, rows0 = s.rows.length;
    try {
      ev.runText(script, cell.file);
    } catch (e) {
      if (!isScriptError(e)) throw e;
      cell.error = e;
    } finally {
      stop();
      cell.expects.push(...s.expects.slice(expects0));
      cell.rows.push(...s.rows.slice(rows0));
    }
    return cell;
  };
  const tag =
    ((strings: TemplateStringsArray, ...values: unknown[]) =>
      run(String.raw({ raw: strings }, ...values.map(String)))) as KhoTag;
  return Object.assign(tag, {
    session: s,
    run,
    value: (name: string) => ev.lookup(name),
  });
}
