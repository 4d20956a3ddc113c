/**
 * Runs a target's inputs in a child Deno process (tools/fuzz/child.ts) under a time bound per
 * input and a heap bound. The child answers input by input; when no answer comes within
 * `inputMs` the input is a hang, the process is killed and a fresh one carries on with the
 * rest of the batch; a heap past the bound (the child's own check, or V8's
 * `--max-old-space-size` at twice the bound) and a child that dies are findings too.
 *
 * @module
 */

import { type ChildAnswer, decodeValue } from "./child.ts";

/** The outcome of one input. */
export type RunResult =
  | { ok: true; obs: unknown; ms: number }
  | { ok: false; kind: "exception" | "hang" | "memory"; detail: string; ms: number };

/** Limits of a {@link ChildRunner}. */
export interface RunnerLimits {
  /** Time bound per input (ms): past it the input is a hang. */
  inputMs: number;
  /** The child's V8 heap bound (bytes). */
  maxHeapBytes: number;
  /** Deno permission flags of the child (default `--allow-read --allow-env`). */
  flags?: readonly string[];
}

const CHILD = new URL("./child.ts", import.meta.url);
const CONFIG = new URL("../../deno.json", import.meta.url);

interface Child {
  proc: Deno.ChildProcess;
  lines: ReadableStreamDefaultReader<string>;
  stderr: Promise<string>;
}

/** Splits a byte stream into lines. */
function lineStream(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, ctl) {
      rest += chunk;
      let i;
      while ((i = rest.indexOf("\n")) >= 0) {
        ctl.enqueue(rest.slice(0, i));
        rest = rest.slice(i + 1);
      }
    },
  });
}

function frame(inputs: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const it of inputs) size += 4 + it.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let p = 0;
  for (const it of inputs) {
    dv.setUint32(p, it.length);
    out.set(it, p + 4);
    p += 4 + it.length;
  }
  return out;
}

/** A child process executing one target's inputs. */
export class ChildRunner {
  readonly #target: string;
  readonly #limits: RunnerLimits;
  #child: Child | null = null;
  /** Child processes started (1 + restarts after hangs, memory findings and deaths). */
  started = 0;

  constructor(target: string, limits: RunnerLimits) {
    this.#target = target;
    this.#limits = limits;
  }

  async #start(): Promise<Child> {
    const heapMb = Math.ceil((2 * this.#limits.maxHeapBytes) / 2 ** 20);
    const proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        `--config=${CONFIG.pathname}`,
        ...(this.#limits.flags ?? ["--allow-read", "--allow-env"]),
        `--v8-flags=--max-old-space-size=${heapMb}`,
        CHILD.pathname,
        this.#target,
        String(this.#limits.maxHeapBytes),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.started++;
    const lines = proc.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineStream())
      .getReader();
    const stderr = new Response(proc.stderr).text().catch(() => "");
    const first = await lines.read();
    if (first.done || first.value !== "ready") {
      const err = await stderr;
      throw new Error(`fuzz child did not start: ${first.value ?? ""}${err}`);
    }
    this.#child = { proc, lines, stderr };
    return this.#child;
  }

  #kill(): void {
    const c = this.#child;
    this.#child = null;
    if (!c) return;
    try {
      c.proc.kill("SIGKILL");
    } catch { /* already gone */ }
    c.lines.cancel().catch(() => {});
    c.proc.stdin.abort().catch(() => {});
  }

  /** Executes the inputs in order; never throws for what an input does. */
  async run(inputs: readonly Uint8Array[]): Promise<RunResult[]> {
    const out: RunResult[] = [];
    while (out.length < inputs.length) {
      const c = this.#child ?? await this.#start();
      const part = inputs.slice(out.length);
      const writer = c.proc.stdin.getWriter();
      const writing = writer.write(frame(part)).catch(() => {}).finally(() => writer.releaseLock());
      for (let i = 0; i < part.length; i++) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), this.#limits.inputMs);
        });
        const got = await Promise.race([c.lines.read(), timeout]);
        clearTimeout(timer);
        if (got === "timeout") {
          out.push({
            ok: false,
            kind: "hang",
            detail: `no answer within ${this.#limits.inputMs} ms`,
            ms: this.#limits.inputMs,
          });
          this.#kill();
          break;
        }
        if (got.done) {
          this.#kill();
          const status = await c.proc.status;
          const err = (await c.stderr).trim().split("\n").slice(-3).join(" | ");
          const oom = /heap out of memory|Allocation failed/i.test(err);
          out.push({
            ok: false,
            kind: oom ? "memory" : "exception",
            detail: `child died (exit ${status.code}${status.signal ? `, ${status.signal}` : ""})` +
              (oom ? ": V8 heap out of memory" : `: ${err}`),
            ms: 0,
          });
          break;
        }
        const a = JSON.parse(got.value, decodeValue) as ChildAnswer;
        if ("memory" in a) {
          out.push({
            ok: false,
            kind: "memory",
            detail: `child heap ${(a.memory / 2 ** 20).toFixed(0)} MiB after this input ` +
              `(bound ${(this.#limits.maxHeapBytes / 2 ** 20).toFixed(0)} MiB)`,
            ms: a.ms,
          });
          this.#kill();
          break;
        }
        out.push(a.ok ? a : { ok: false, kind: "exception", detail: a.error, ms: a.ms });
      }
      await writing;
    }
    return out;
  }

  /** Ends the child. */
  close(): void {
    this.#kill();
  }
}
