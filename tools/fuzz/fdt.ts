/**
 * The `fdt` fuzz target: mutated device-tree blobs from the FDT tests' corpus
 * (tests/kho/fdt/corpus.ts: the golden vectors and the libfdt replay cases' blobs) run
 * through kholab's `fdt_check_full`, every reader entry point and the editor's scripts, and
 * are compared with Debian's libfdt 1.6.1 (tools/fuzz/libfdt_oracle.py): the check verdict of
 * every blob, and for every blob libfdt accepts, the results and resulting buffers of the
 * edit scripts (tools/fuzz/fdt_edits.ts).
 *
 * Documented differences, not findings: where libfdt hangs or crashes and kholab's
 * {@link checkFullOutcome} says so (`fault`), see lib/kho/fdt/check.ts.
 *
 * Mutations (1–4 per input, weighted): bit flips, byte and word sets, header fields set to
 * boundary values, structure tokens, property lengths (half of them 0xfffffff0…0xffffffff,
 * the rest boundary values), NOP tokens written over a property's name offset or value (so a
 * wrapped length can lead to a valid blob), name offsets, reservation entries, truncation,
 * extension, deletion and duplication of ranges, and splices from another corpus blob.
 *
 * @module
 */

import { FdtError } from "../../lib/errors.ts";
import { checkFullOutcome, type LibfdtFault } from "../../lib/kho/fdt/check.ts";
import { toDts } from "../../lib/kho/fdt/dts.ts";
import { FdtReader } from "../../lib/kho/fdt/reader.ts";
import { errName } from "../../lib/kho/fdt/ro.ts";
import type { Rng } from "../../lib/rng.ts";
import { fdtCorpus } from "../../tests/kho/fdt/corpus.ts";
import { crc32 } from "./crc32.ts";
import { diffRecords, editRecord, hasFault } from "./fdt_edits.ts";
import { CRASH, HANG, LibfdtOracle, libfdtUnavailable, verdictName } from "./libfdt_oracle.ts";
import type { FuzzOracle, FuzzStats, FuzzTarget } from "./target.ts";

/** What kholab says about one blob. */
export interface FdtObservation {
  /** checkFullErrno: 0 or -FDT_ERR_*. */
  err: number;
  /** Where libfdt 1.6.1 would hang or crash instead (documented). */
  fault: LibfdtFault;
  /** The edit scripts' record (crc32 digests) when the blob checks OK, else null. */
  edits: Uint8Array | null;
  /** Reader calls that returned normally. */
  reads: number;
}

/** Largest input: 64 KiB (the corpus' largest blob is 8 KiB). */
export const FDT_MAX_INPUT_BYTES = 64 * 1024;

const HEADER_FIELDS = [4, 8, 12, 16, 20, 24, 28, 32, 36];
const NAMES = ["compatible", "fdt", "preserved-data", "start", "size", "nope", ""];
const PATHS = ["/", "/memblock", "/kho_test", "/n1", "/a/b", "alias", "/LUO/luo-session", "//"];

function be32(b: Uint8Array, off: number): number {
  return off >= 0 && off + 4 <= b.length
    ? ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0
    : 0;
}

function set32(b: Uint8Array, off: number, v: number): void {
  if (off < 0 || off + 4 > b.length) return;
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** Offsets of the words of the structure block that read as FDT_PROP (candidates). */
function propOffsets(b: Uint8Array): number[] {
  const st = be32(b, 8), size = be32(b, 36);
  const end = Math.min(b.length - 12, st + size);
  const out: number[] = [];
  for (let p = st; p < end && out.length < 256; p += 4) if (be32(b, p) === 3) out.push(p);
  return out;
}

function boundary(rng: Rng, old: number, len: number): number {
  switch (rng.int(10)) {
    case 0:
      return 0;
    case 1:
      return 0xffffffff;
    case 2:
      return rng.pick([0x7fffffff, 0x80000000, 0x7ffffff0, 0xfffffff0 + rng.int(16)]);
    case 3:
      return len + rng.range(-8, 8);
    case 4:
      return rng.pick([28, 36, 40, 48, 56, 64]);
    case 5:
      return rng.u32();
    case 6:
      return (old * 2) >>> 0;
    default:
      return (old + rng.range(-9, 9)) >>> 0;
  }
}

function insert(b: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + bytes.length);
  out.set(b.subarray(0, at));
  out.set(bytes, at);
  out.set(b.subarray(at), at + bytes.length);
  return out;
}

function mutateOnce(rng: Rng, b: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  const k = rng.int(100);
  const word = () => 4 * rng.int(Math.max(1, b.length >>> 2));
  if (k < 8 && b.length) {
    b[rng.int(b.length)] ^= 1 << rng.int(8);
  } else if (k < 14 && b.length) {
    b[rng.int(b.length)] = rng.pick([0, 0xff, 1, 2, 3, 4, 9, 0x2f, 0x40, rng.int(256)]);
  } else if (k < 18) {
    set32(b, word(), rng.pick([0, 1, 2, 3, 4, 9, 0xffffffff, rng.u32()]));
  } else if (k < 30) {
    const f = rng.pick(HEADER_FIELDS);
    const old = be32(b, f);
    const v = f === 20 || f === 24
      ? rng.pick([0, 1, 2, 3, 15, 16, 17, 18, old, rng.u32()])
      : boundary(rng, old, b.length);
    set32(b, f, v >>> 0);
  } else if (k < 38) {
    const st = be32(b, 8), size = be32(b, 36);
    if (size >= 4) {
      const at = st + 4 * rng.int(Math.min(size, b.length) >>> 2);
      set32(b, at, rng.pick([0, 1, 2, 3, 4, 5, 9, 0xffffffff, rng.u32()]));
    }
  } else if (k < 54) {
    const props = propOffsets(b);
    if (props.length) {
      const p = rng.pick(props);
      const old = be32(b, p + 4);
      const v = rng.chance(0.5) ? 0xfffffff0 + rng.int(16) : boundary(rng, old, b.length);
      set32(b, p + 4, v >>> 0);
    }
  } else if (k < 60) {
    // NOPs over a property's name offset and/or value words: a wrapped length then walks on.
    const props = propOffsets(b);
    if (props.length) {
      const p = rng.pick(props);
      const from = rng.chance(0.3) ? p + 8 : p + 12;
      const words = 1 + rng.int(4);
      for (let w = 0; w < words; w++) set32(b, from + 4 * w, 4);
    }
  } else if (k < 66) {
    const props = propOffsets(b);
    if (props.length) {
      const p = rng.pick(props);
      const ss = be32(b, 32);
      set32(
        b,
        p + 8,
        rng.pick([rng.int(ss + 3), ss, ss - 1, 0x7fffffff, 0xfffffffc, rng.u32()]) >>> 0,
      );
    }
  } else if (k < 69) {
    const at = be32(b, 16) + 16 * rng.int(3) + 4 * rng.int(4);
    set32(b, at, rng.pick([0, 1, 0xffffffff, rng.u32()]));
  } else if (k < 75) {
    b = b.slice(0, rng.int(b.length + 1));
  } else if (k < 79) {
    const extra = rng.chance(0.5)
      ? new Uint8Array(rng.int(65))
      : rng.fillBytes(new Uint8Array(rng.int(65)));
    b = insert(b, b.length, extra);
  } else if (k < 85 && b.length >= 8) {
    const from = rng.chance(0.7) ? word() : rng.int(b.length);
    const n = Math.min(b.length - from, rng.chance(0.7) ? 4 * (1 + rng.int(8)) : 1 + rng.int(16));
    const out = new Uint8Array(b.length - n);
    out.set(b.subarray(0, from));
    out.set(b.subarray(from + n), from);
    b = out;
  } else if (k < 90 && b.length >= 8) {
    const from = word();
    const chunk = b.slice(from, from + 4 * (1 + rng.int(8)));
    b = insert(b, rng.chance(0.7) ? word() : rng.int(b.length + 1), chunk);
  } else {
    const other = rng.pick(corpus);
    if (other.length) {
      const from = rng.int(other.length);
      const chunk = other.slice(from, from + 1 + rng.int(64));
      const at = rng.int(b.length + 1);
      if (rng.chance(0.5)) b = insert(b, at, chunk);
      else {
        const end = Math.min(b.length, at + chunk.length);
        b.set(chunk.subarray(0, end - at), at);
      }
    }
  }
  return b;
}

function mutate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
  let b: Uint8Array = rng.pick(corpus).slice();
  const n = rng.pick([1, 1, 1, 2, 2, 3, 4]);
  for (let i = 0; i < n; i++) b = mutateOnce(rng, b, corpus);
  return b.length > FDT_MAX_INPUT_BYTES ? b.slice(0, FDT_MAX_INPUT_BYTES) : b;
}

/** Every reader entry point on `blob`; FdtError is an answer, anything else propagates. */
function read(blob: Uint8Array): number {
  let ok = 0;
  const attempt = (f: () => unknown) => {
    try {
      f();
      ok++;
    } catch (e) {
      if (!(e instanceof FdtError)) throw e;
    }
  };
  let r: FdtReader;
  try {
    r = new FdtReader(blob);
  } catch (e) {
    if (e instanceof FdtError) return 0;
    throw e;
  }
  let nodes = 0;
  const walk = (off: number, depth: number) => {
    if (++nodes > 2048) return;
    attempt(() => r.getName(off));
    attempt(() => r.properties(off));
    for (const name of NAMES) attempt(() => r.getprop(off, name));
    attempt(() => r.getString(off, "compatible"));
    attempt(() => r.getU64Le(off, "fdt"));
    attempt(() => r.nodeCheckCompatible(off, "kho-v1"));
    let children: number[] = [];
    attempt(() => (children = r.subnodes(off)));
    if (depth < 32) { for (const c of children) walk(c, depth + 1); }
  };
  walk(0, 0);
  for (const p of PATHS) attempt(() => r.pathOffset(p));
  attempt(() => r.subnodeOffset(0, "memblock"));
  attempt(() => r.reservations());
  attempt(() => toDts(blob));
  return ok;
}

/**
 * Runs one blob: the check, the reader, and the edit scripts — on every blob libfdt should
 * accept (compared), and on one in eight of the others, chosen by content, to exercise the
 * editor's error paths (the scripts cost ~150 editor calls; on every blob they would
 * dominate the run).
 */
function execute(blob: Uint8Array): FdtObservation {
  const { err, fault } = checkFullOutcome(blob);
  const reads = read(blob);
  const valid = err === 0 && fault === null;
  if (!valid && (crc32(blob) & 7) !== 0) return { err, fault, edits: null, reads };
  const edits = editRecord(blob);
  return { err, fault, edits: valid ? edits : null, reads };
}

class FdtOracle implements FuzzOracle<FdtObservation> {
  readonly name = "libfdt 1.6.1 (python3-libfdt): fdt_check_full, and edit scripts on valid blobs";
  readonly #libfdt = LibfdtOracle.start();

  async judge(
    inputs: readonly Uint8Array[],
    obs: readonly FdtObservation[],
  ): Promise<(string | null)[]> {
    const codes = await this.#libfdt.check(inputs);
    const out: (string | null)[] = [];
    const valid: number[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const t = codes[i], o = obs[i];
      const ours = o.err === 0 ? "OK" : errName(o.err);
      if (t === HANG || t === CRASH) {
        const want = t === HANG ? "hang" : "crash";
        out.push(
          o.fault === want ? null : `libfdt ${verdictName(t)}, kholab ${ours} (fault ${o.fault})`,
        );
      } else if (o.fault !== null) {
        out.push(`check: libfdt ${verdictName(t)}, kholab ${ours} marked ${o.fault}`);
      } else if (o.err !== (t === 0 ? 0 : -t)) {
        out.push(`check: libfdt ${verdictName(t)}, kholab ${ours}`);
      } else {
        out.push(null);
        if (t === 0) valid.push(i);
      }
    }
    // Where kholab met a libfdt overrun, libfdt may have corrupted its memory: those blobs
    // run in oracle workers of their own, so that no other blob's result depends on them.
    const clean = valid.filter((i) => !hasFault(obs[i].edits!));
    const faulty = valid.filter((i) => hasFault(obs[i].edits!));
    const records = new Map<number, Uint8Array>();
    for (const [group, mode] of [[clean, "digest"], [faulty, "isolated"]] as const) {
      if (group.length === 0) continue;
      const got = await this.#libfdt.edit(group.map((i) => inputs[i]), mode);
      group.forEach((i, j) => records.set(i, got[j]));
    }
    for (const i of valid) {
      const theirs = records.get(i)!;
      if (theirs.length === 1) {
        // libfdt hung or died somewhere in the scripts: documented if kholab met a fault.
        if (!hasFault(obs[i].edits!)) {
          out[i] = `edits: libfdt ${verdictName(theirs[0])}, kholab met no hang or overrun`;
        }
        continue;
      }
      const d = diffRecords(obs[i].edits!, theirs);
      if (d !== null) {
        // Say where: the whole buffers, from both sides.
        const [full] = await this.#libfdt.edit([inputs[i]], "full");
        out[i] = `edits: ${diffRecords(editRecord(inputs[i], true), full, true) ?? d}`;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#libfdt.close();
  }
}

/** The `fdt` target. */
export const target: FuzzTarget<FdtObservation> = {
  name: "fdt",
  description: "mutated FDT blobs: fdt_check_full, reader and editor against libfdt 1.6.1",
  maxInputBytes: FDT_MAX_INPUT_BYTES,
  corpus: fdtCorpus,
  generate: mutate,
  execute,
  oracle(): FuzzOracle<FdtObservation> | string {
    return libfdtUnavailable() ?? new FdtOracle();
  },
  stats(): FuzzStats<FdtObservation> {
    const counts = new Map<string, number>();
    let hangs = 0, crashes = 0, edited = 0, editFaults = 0;
    return {
      add(o: FdtObservation): void {
        const v = o.err === 0 ? "OK" : errName(o.err).replace("FDT_ERR_", "");
        counts.set(v, (counts.get(v) ?? 0) + 1);
        if (o.fault === "hang") hangs++;
        if (o.fault === "crash") crashes++;
        if (o.edits) {
          edited++;
          if (hasFault(o.edits)) editFaults++;
        }
      },
      toString(): string {
        const hist = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
        return `kholab verdicts: ${hist.join(", ")}\n` +
          `documented: libfdt's check hangs on ${hangs}, crashes on ${crashes}; ` +
          `edit scripts on ${edited} valid blobs, ${editFaults} of them meeting a libfdt hang ` +
          `or overrun (compared up to it)`;
      },
    };
  },
};
