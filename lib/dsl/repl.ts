/**
 * The interactive kholab session (one {@link Session}, as a script or a notebook uses): a
 * prompt with help, Tab completion (commands, options,
 * object names, profiles), persistent history (`$KHOLAB_HISTORY`, else
 * `$HOME/.kholab_history`), multi-line blocks (`repeat` / `sweep` continue until their
 * braces close), and errors that never end the session. Ctrl-C as in a shell: while typing it
 * drops the line (and the block being typed); while a command runs it stops it between two
 * steps — the statement in progress rolled back, the session and everything before kept
 * (`./interrupt_worker.ts` turns the SIGINT into a flag the evaluator reads). Ctrl-D on an
 * empty line ends the session. When stdin is not a terminal the input is run as a script
 * (exit code as {@link runScript}).
 *
 *   deno run -A lib/dsl/repl.ts
 *
 * @module
 */

import { DesignError } from "../design/load.ts";
import { loadScriptDesigns } from "./designs.ts";
import { complete } from "./complete.ts";
import { escapeControl, isScriptError } from "./errors.ts";
import { Evaluator } from "./evaluator.ts";
import { LineEditor, type RawInput } from "./lineedit.ts";
import { runScript } from "./run.ts";
import type { Clock } from "../rng.ts";
import { Session } from "./session.ts";

/** Options of {@link repl}. */
export interface ReplOptions {
  /** History file; default `$KHOLAB_HISTORY`, else `$HOME/.kholab_history`. */
  historyFile?: string | null;
  /** Initial seed. */
  seed?: number;
  /** Terminal input (default Deno.stdin). */
  input?: RawInput & { isTerminal(): boolean; readable?: ReadableStream<Uint8Array> };
  /** Output (default Deno.stdout). */
  write?: (text: string) => void;
  /** Clock for wall-clock metrics (`cli.ts` passes `wallClock`). */
  clock: Clock;
  /**
   * Whether Ctrl-C (SIGINT) stops a running command; default true. Off, SIGINT ends the
   * process as usual.
   */
  interruptible?: boolean;
  /** Steps one entry (or the piped script) may take. Default 10 million. */
  maxSteps?: number;
  /** Host memory the session may take (see `SessionOptions.maxMemoryBytes`). */
  maxMemoryBytes?: number;
}

/** A SIGINT watcher: the shared word it counts in, and how to stop it. */
interface InterruptWatch {
  /** Whether a SIGINT came since the last reset. */
  pending(): boolean;
  /** Forgets earlier SIGINTs (before a command runs). */
  reset(): void;
  /** Stops the worker. */
  stop(): void;
}

/** Starts the worker that counts SIGINTs (`./interrupt_worker.ts`). */
async function watchInterrupts(): Promise<InterruptWatch> {
  const sab = new SharedArrayBuffer(4);
  const word = new Int32Array(sab);
  const worker = new Worker(new URL("./interrupt_worker.ts", import.meta.url).href, {
    type: "module",
  });
  await new Promise<void>((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`interrupt watcher: ${e.message}`));
    };
    worker.postMessage(sab);
  });
  return {
    pending: () => Atomics.load(word, 0) !== 0,
    reset: () => void Atomics.store(word, 0, 0),
    stop: () => worker.terminate(),
  };
}

const HISTORY_MAX = 1000;

/** Open `{` / `[` not yet closed in text (strings and comments skipped). */
export function openBrackets(text: string): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote || c === "\n") quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return depth;
}

function defaultHistoryFile(): string | null {
  try {
    const env = Deno.env.get("KHOLAB_HISTORY");
    if (env) return env;
    const home = Deno.env.get("HOME");
    return home ? `${home}/.kholab_history` : null;
  } catch {
    return null;
  }
}

/**
 * Runs the session; resolves to an exit code (0, or the script's code for piped input).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { repl } from "./repl.ts";
 * import { ManualClock } from "../rng.ts";
 * // Piped input (not a terminal) runs as a script; a terminal gets the prompt.
 * const script = new TextEncoder().encode("machine ram=1G\nb = pages count=4\npreserve b\n" +
 *   "kexec\nrestore b\nexpect restore.failed == 0\n");
 * let sent = false;
 * const input = { // default: Deno.stdin
 *   isTerminal: () => false,
 *   setRaw: () => {},
 *   read: (buf: Uint8Array) => {
 *     if (sent) return Promise.resolve(null);
 *     sent = true;
 *     buf.set(script);
 *     return Promise.resolve(script.length);
 *   },
 * };
 * assert.equal(await repl({ input, write: () => {}, clock: new ManualClock() }), 0);
 * ```
 */
export async function repl(options: ReplOptions): Promise<number> {
  const input = options.input ?? Deno.stdin;
  const enc = new TextEncoder();
  const write = options.write ?? ((s: string) => void Deno.stdout.writeSync(enc.encode(s)));
  if (!input.isTerminal()) {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await input.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    const script = new TextDecoder().decode(all);
    try {
      await loadScriptDesigns(script, { file: "<stdin>" });
    } catch (e) {
      write(`${(e as Error).message}\n`);
      return 2;
    }
    const r = runScript(script, {
      file: "<stdin>",
      seed: options.seed,
      onOutput: (l) => write(escapeControl(l) + "\n"),
      clock: options.clock,
      maxSteps: options.maxSteps,
      maxMemoryBytes: options.maxMemoryBytes,
    });
    if (r.results.error) write(r.results.error.message + "\n");
    return r.exitCode;
  }

  const historyFile = options.historyFile === undefined
    ? defaultHistoryFile()
    : options.historyFile;
  const history: string[] = [];
  if (historyFile) {
    try {
      history.push(
        ...Deno.readTextFileSync(historyFile).split("\n").filter(Boolean).slice(-HISTORY_MAX),
      );
    } catch {
      // no history yet
    }
  }
  const watch = options.interruptible === false ? null : await watchInterrupts();
  const session = new Session({
    file: "<repl>",
    seed: options.seed,
    onOutput: (l) => write(escapeControl(l) + "\n"),
    clock: options.clock,
    interrupted: watch ? watch.pending : undefined,
    maxSteps: options.maxSteps,
    maxMemoryBytes: options.maxMemoryBytes,
  });
  const ev = new Evaluator(session);
  const editor = new LineEditor({
    input,
    write,
    history,
    complete: (before) =>
      complete(before, {
        objects: [...session.objects.keys()],
        variables: [...session.vars.keys()],
        table: ev.table,
      }),
  });
  write(
    "kholab — the KHO laboratory. `help` lists commands, Tab completes, Ctrl-C cancels, " +
      "Ctrl-D quits.\n",
  );
  try {
    await readEvalLoop();
  } finally {
    watch?.stop();
  }
  return 0;

  async function readEvalLoop(): Promise<void> {
    let chunk = "";
    let n = 0;
    for (;;) {
      const line = await editor.readLine(chunk ? "...     " : "kholab> ");
      if (line === null) break;
      if (editor.cancelled) {
        chunk = ""; // Ctrl-C drops the line and the block being typed
        continue;
      }
      if (line.trim() !== "") {
        if (history[history.length - 1] !== line) {
          history.push(line);
          if (historyFile) {
            try {
              Deno.writeTextFileSync(historyFile, line + "\n", { append: true });
            } catch {
              // history is best effort
            }
          }
        }
      }
      chunk = chunk ? `${chunk}\n${line}` : line;
      if (openBrackets(chunk) > 0) continue;
      const text = chunk;
      chunk = "";
      if (text.trim() === "") continue;
      n++;
      watch?.reset();
      try {
        await loadScriptDesigns(text, { file: "<repl>", table: ev.table });
        ev.runText(text, `<repl:${n}>`);
      } catch (e) {
        if (isScriptError(e) || e instanceof DesignError) write((e as Error).message + "\n");
        else write(escapeControl(`internal error: ${(e as Error)?.stack ?? e}`) + "\n");
      }
    }
  }
}
