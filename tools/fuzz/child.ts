/**
 * The fuzz child process: `deno run tools/fuzz/child.ts TARGET MAX_HEAP_BYTES`. It loads the
 * target, prints `ready`, then reads inputs from stdin (each a big-endian u32 length and the
 * bytes) and answers each with one line of JSON on stdout: `{"ok":true,"obs":…,"ms":…}` or
 * `{"ok":false,"error":…,"ms":…}`. A line per input lets the harness see which input is
 * running; when one runs past the time bound the harness kills the process (a Worker busy in
 * a loop cannot be stopped: Deno 2.9's `terminate()` leaves it spinning).
 *
 * Every 32 inputs, and after any input slower than 50 ms, it compares its V8 heap with the
 * bound; past it, it answers `{"memory":BYTES}` for that input and exits.
 *
 * @module
 */

import { loadTarget } from "./targets.ts";

/** One answer line. */
export type ChildAnswer =
  | { ok: true; obs: unknown; ms: number }
  | { ok: false; error: string; ms: number }
  | { memory: number; ms: number };

/** JSON replacer: byte arrays travel as hex. */
export function encodeValue(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) {
    let h = "";
    for (const b of value) h += b.toString(16).padStart(2, "0");
    return { $u8: h };
  }
  return value;
}

/** JSON reviver for {@link encodeValue}. */
export function decodeValue(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === "object" && "$u8" in value) {
    const h = (value as { $u8: string }).$u8;
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  return value;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}\n${e.stack ?? ""}`;
  return `thrown ${typeof e}: ${String(e)}`;
}

async function readExact(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  state: { buf: Uint8Array; pos: number },
  n: number,
): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    if (state.pos === state.buf.length) {
      const { value, done } = await reader.read();
      if (done) return null;
      state.buf = value;
      state.pos = 0;
    }
    const take = Math.min(n - got, state.buf.length - state.pos);
    out.set(state.buf.subarray(state.pos, state.pos + take), got);
    state.pos += take;
    got += take;
  }
  return out;
}

async function main(): Promise<void> {
  const [name, maxHeap] = Deno.args;
  const target = await loadTarget(name);
  const maxHeapBytes = Number(maxHeap);
  const enc = new TextEncoder();
  const write = (s: string) => {
    const b = enc.encode(s + "\n");
    for (let off = 0; off < b.length;) off += Deno.stdout.writeSync(b.subarray(off));
  };
  write("ready");
  const reader = Deno.stdin.readable.getReader();
  const state = { buf: new Uint8Array(0), pos: 0 };
  for (let i = 1;; i++) {
    const len = await readExact(reader, state, 4);
    if (len === null) return;
    const n = new DataView(len.buffer).getUint32(0);
    const input = await readExact(reader, state, n);
    if (input === null) return;
    const t0 = performance.now();
    let answer: ChildAnswer;
    try {
      const obs = await target.execute(input);
      answer = { ok: true, obs, ms: performance.now() - t0 };
    } catch (err) {
      answer = { ok: false, error: describe(err), ms: performance.now() - t0 };
    }
    if (i % 32 === 0 || answer.ms > 50) {
      const heap = Deno.memoryUsage().heapUsed;
      if (heap > maxHeapBytes) {
        write(JSON.stringify({ memory: heap, ms: answer.ms }));
        Deno.exit(0);
      }
    }
    write(JSON.stringify(answer, encodeValue));
  }
}

if (import.meta.main) await main();
