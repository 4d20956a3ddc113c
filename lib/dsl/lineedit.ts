/**
 * A small line editor on a raw-mode terminal, with ANSI escapes: insert and delete,
 * cursor movement (←/→, Home/End, Ctrl-A/E), Ctrl-U/K/W, history (↑/↓), Tab completion
 * (a unique match is inserted, several are listed), Ctrl-C cancels the line (`cancelled` tells
 * the caller, who may drop more: the REPL drops the block being typed) and Ctrl-D on an empty
 * line ends input.
 *
 * @module
 */

import { commonPrefix, type Completion } from "./complete.ts";

/** The rest of an escape sequence after ESC: CSI `[…X`, SS3 `OX`, or one character. */
const ESCAPE = /^(\[[0-9;]*[A-Za-z~]|O[A-Za-z]|[^[O])/;

/** A raw-capable byte source (Deno.stdin fits). */
export interface RawInput {
  /** Reads bytes; null at end of input. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Switches raw mode. */
  setRaw(mode: boolean): void;
}

/** Options of a {@link LineEditor}. */
export interface LineEditorOptions {
  /** The terminal input. */
  input: RawInput;
  /** Writes text to the terminal. */
  write: (text: string) => void;
  /** History, oldest first (the editor appends to it). */
  history: string[];
  /** Completion for the text before the cursor. */
  complete?: (before: string) => Completion;
}

/**
 * Reads lines from a raw terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineEditor } from "./lineedit.ts";
 * // Keys as a terminal sends them: ↑ and Enter, a typo fixed with Backspace, then end of input.
 * const keys = new TextEncoder().encode("\x1b[A\rkexx\x7fec\r");
 * let sent = false;
 * const input = { // Deno.stdin in the REPL
 *   read: (buf: Uint8Array) => {
 *     if (sent) return Promise.resolve(null);
 *     sent = true;
 *     buf.set(keys);
 *     return Promise.resolve(keys.length);
 *   },
 *   setRaw: () => {},
 * };
 * const ed = new LineEditor({ input, write: () => {}, history: ["machine ram=4G"] });
 * assert.equal(await ed.readLine("> "), "machine ram=4G"); // recalled from history
 * assert.equal(await ed.readLine("> "), "kexec");
 * assert.equal(await ed.readLine("> "), null);
 * ```
 */
export class LineEditor {
  readonly #o: LineEditorOptions;
  readonly #decoder = new TextDecoder();
  #pending = "";
  #eof = false;
  #cancelled = false;

  /** Whether the last {@link readLine} ended with Ctrl-C (it returned ""). */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Creates an editor. */
  constructor(options: LineEditorOptions) {
    this.#o = options;
  }

  async #more(): Promise<boolean> {
    if (this.#eof) return false;
    const buf = new Uint8Array(256);
    const n = await this.#o.input.read(buf);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#pending += this.#decoder.decode(buf.subarray(0, n), { stream: true });
    return true;
  }

  /** The next key (a character or an escape sequence), or null at end of input. */
  async #key(): Promise<string | null> {
    while (this.#pending === "") if (!(await this.#more())) return null;
    if (this.#pending[0] !== "\x1b") {
      const c = String.fromCodePoint(this.#pending.codePointAt(0)!);
      this.#pending = this.#pending.slice(c.length);
      return c;
    }
    for (;;) {
      const m = ESCAPE.exec(this.#pending.slice(1));
      if (m) {
        this.#pending = this.#pending.slice(1 + m[0].length);
        return "\x1b" + m[0];
      }
      if (this.#pending.length > 8 || !(await this.#more())) {
        this.#pending = this.#pending.slice(1);
        return "\x1b";
      }
    }
  }

  /** Reads one line; null at end of input (Ctrl-D on an empty line). */
  async readLine(prompt: string): Promise<string | null> {
    const { write, history } = this.#o;
    let buf = "";
    let cur = 0;
    let hist = history.length;
    let saved = "";
    this.#cancelled = false;
    const redraw = () => {
      write(`\r${prompt}${buf}\x1b[K`);
      if (cur < buf.length) write(`\x1b[${buf.length - cur}D`);
    };
    this.#o.input.setRaw(true);
    try {
      write(prompt);
      for (;;) {
        const k = await this.#key();
        if (k === null) {
          write("\r\n");
          return buf === "" ? null : buf;
        }
        switch (k) {
          case "\r":
          case "\n":
            write("\r\n");
            return buf;
          case "\x04": // Ctrl-D
            if (buf === "") {
              write("\r\n");
              return null;
            }
            if (cur < buf.length) buf = buf.slice(0, cur) + buf.slice(cur + 1);
            break;
          case "\x03": // Ctrl-C
            write("^C\r\n");
            this.#cancelled = true;
            return "";
          case "\x7f":
          case "\b":
            if (cur > 0) {
              buf = buf.slice(0, cur - 1) + buf.slice(cur);
              cur--;
            }
            break;
          case "\x1b[3~":
            buf = buf.slice(0, cur) + buf.slice(cur + 1);
            break;
          case "\x1b[D":
          case "\x02":
            cur = Math.max(0, cur - 1);
            break;
          case "\x1b[C":
          case "\x06":
            cur = Math.min(buf.length, cur + 1);
            break;
          case "\x1b[H":
          case "\x1bOH":
          case "\x1b[1~":
          case "\x01":
            cur = 0;
            break;
          case "\x1b[F":
          case "\x1bOF":
          case "\x1b[4~":
          case "\x05":
            cur = buf.length;
            break;
          case "\x15": // Ctrl-U
            buf = buf.slice(cur);
            cur = 0;
            break;
          case "\x0b": // Ctrl-K
            buf = buf.slice(0, cur);
            break;
          case "\x17": { // Ctrl-W
            const left = buf.slice(0, cur).replace(/\S*\s*$/, "");
            buf = left + buf.slice(cur);
            cur = left.length;
            break;
          }
          case "\x1b[A":
          case "\x10":
            if (hist > 0) {
              if (hist === history.length) saved = buf;
              buf = history[--hist];
              cur = buf.length;
            }
            break;
          case "\x1b[B":
          case "\x0e":
            if (hist < history.length) {
              hist++;
              buf = hist === history.length ? saved : history[hist];
              cur = buf.length;
            }
            break;
          case "\t": {
            if (!this.#o.complete) break;
            const c = this.#o.complete(buf.slice(0, cur));
            const typed = buf.slice(c.start, cur);
            let insert = "";
            if (c.candidates.length === 1) {
              insert = c.candidates[0].slice(typed.length);
              if (!insert.endsWith("=")) insert += " ";
            } else if (c.candidates.length > 1) {
              insert = commonPrefix(c.candidates).slice(typed.length);
              if (insert === "") {
                write(`\r\n${c.candidates.join("  ")}\r\n`);
              }
            }
            buf = buf.slice(0, cur) + insert + buf.slice(cur);
            cur += insert.length;
            break;
          }
          default:
            if (k.length >= 1 && k >= " " && !k.startsWith("\x1b")) {
              buf = buf.slice(0, cur) + k + buf.slice(cur);
              cur += k.length;
            }
        }
        redraw();
      }
    } finally {
      this.#o.input.setRaw(false);
    }
  }
}
