/**
 * The client of tools/fuzz/libfdt_oracle.py: Debian's libfdt 1.6.1 (python3-libfdt) in one
 * long-lived `/usr/bin/python3` process, asked in batches over a binary pipe. Each answer is
 * libfdt's own verdict, or HANG / CRASH where libfdt loops forever or dies on the input (the
 * Python side runs every batch in a forked worker and restarts it after such an input).
 *
 * @module
 */

import { errName } from "../../lib/kho/fdt/ro.ts";

/** Code of an input on which libfdt did not answer within the time limit. */
export const HANG = 0xfe;
/** Code of an input on which libfdt's process died. */
export const CRASH = 0xff;

/** Path of the Python side. */
export const ORACLE_SCRIPT = new URL("./libfdt_oracle.py", import.meta.url).pathname;

/** A verdict code (0, 1..19 for -FDT_ERR_*, HANG, CRASH) as `fdt_oracle.py check` names it. */
export function verdictName(code: number): string {
  if (code === 0) return "OK";
  if (code === HANG) return "HANG";
  if (code === CRASH) return "CRASH";
  return errName(-code);
}

/** Why libfdt cannot be asked here (null when it can): `/usr/bin/python3 -c "import libfdt"`. */
export function libfdtUnavailable(): string | null {
  try {
    const out = new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import libfdt"],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (out.success) return null;
    const msg = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
    return `python3-libfdt: '/usr/bin/python3 -c "import libfdt"' failed: ${msg}`;
  } catch (e) {
    return `python3-libfdt: /usr/bin/python3 not runnable (${(e as Error).message})`;
  }
}

/** Reads exact byte counts from a stream. */
class ExactReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (this.#pos === this.#buf.length) {
        const { value, done } = await this.#reader.read();
        if (done) throw new Error("libfdt oracle: unexpected end of output");
        this.#buf = value;
        this.#pos = 0;
      }
      const take = Math.min(n - got, this.#buf.length - this.#pos);
      out.set(this.#buf.subarray(this.#pos, this.#pos + take), got);
      this.#pos += take;
      got += take;
    }
    return out;
  }

  release(): void {
    this.#reader.releaseLock();
  }
}

function request(kind: "C" | "E" | "F" | "I", items: readonly Uint8Array[]): Uint8Array {
  let size = 5;
  for (const it of items) size += 4 + it.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = kind.charCodeAt(0);
  dv.setUint32(1, items.length);
  let p = 5;
  for (const it of items) {
    dv.setUint32(p, it.length);
    out.set(it, p + 4);
    p += 4 + it.length;
  }
  return out;
}

/** A running libfdt oracle. */
export class LibfdtOracle {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ExactReader;
  #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reader = new ExactReader(child.stdout);
    this.#stderr = new Response(child.stderr).text();
  }

  /** Starts the Python process (check {@link libfdtUnavailable} first). */
  static start(): LibfdtOracle {
    const child = new Deno.Command("/usr/bin/python3", {
      args: [ORACLE_SCRIPT],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new LibfdtOracle(child);
  }

  /** `fdt_check_full(blob, blob.length)` codes, one per blob (see {@link verdictName}). */
  async check(blobs: readonly Uint8Array[]): Promise<Uint8Array> {
    await this.#send(request("C", blobs));
    return await this.#reader.read(blobs.length);
  }

  /**
   * The edit-script records of libfdt_oracle.py (tools/fuzz/fdt_edits.ts builds the same on
   * kholab's side), one per blob, buffers as crc32 digests; a one-byte record is HANG or
   * CRASH. `"full"`: whole buffers instead of digests; `"isolated"`: digests, each blob in a
   * worker of its own (for blobs on which libfdt may corrupt its memory).
   */
  async edit(
    blobs: readonly Uint8Array[],
    mode: "digest" | "full" | "isolated" = "digest",
  ): Promise<Uint8Array[]> {
    await this.#send(request(mode === "full" ? "F" : mode === "isolated" ? "I" : "E", blobs));
    const out: Uint8Array[] = [];
    for (let i = 0; i < blobs.length; i++) {
      const n = new DataView((await this.#reader.read(4)).buffer).getUint32(0);
      out.push(await this.#reader.read(n));
    }
    return out;
  }

  async #send(bytes: Uint8Array): Promise<void> {
    try {
      await this.#writer.write(bytes);
    } catch (e) {
      throw new Error(`libfdt oracle died: ${await this.#stderr}`, { cause: e });
    }
  }

  /** Ends the Python process. */
  async close(): Promise<void> {
    try {
      await this.#writer.write(new Uint8Array([0x51])); // 'Q'
      await this.#writer.close();
    } catch { /* already gone */ }
    this.#reader.release();
    await this.#child.stdout.cancel().catch(() => {});
    await this.#child.status;
    await this.#stderr.catch(() => "");
  }
}
