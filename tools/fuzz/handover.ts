/**
 * The `handover` fuzz target: a base handover of every profile of the default set (on a few
 * small machines: `./handover_base.ts`) with a few of its bytes changed, then the successor
 * booted and every client restore path driven (`./handover_drive.ts`).
 *
 * An input is bytes: the base (byte 0, modulo the number of bases), the drive mode (byte 1:
 * bit 0 finishes memfd sessions without retrieving; bit 1 also runs `kholab inspect` on the
 * export of the mutated handover), then mutation records of 12 bytes each
 * (a partial record is ignored, so delta debugging can cut anywhere):
 *
 * ```
 * u8  label   which kind of range: a structure or client step the successor reads, modulo
 *             the base's labels (root-fdt, scratch-array, tracker, sub:<name>, luo, …)
 * u16 range   which range of that label (modulo their number)
 * u8  op      what to do (modulo 16, weighted: bit flips, byte sets, u64 and u32 fields set to
 *             boundary values, a pointer aimed at itself or at another structure, zeroed runs)
 * u32 pos     where in the range (for field ops: which non-zero word)
 * u32 val     the value selector
 * ```
 *
 * Seeds are the unchanged bases (the tests' scenario objects on each profile); an input adds
 * 1–4 records. A finding is an exception that is not a kernel verdict, a corruption a client
 * detected without logging it, a hang past the time bound, or memory past the bound.
 *
 * @module
 */

import { Machine } from "../../lib/machine/machine.ts";
import { EXPORT_FILES, type TrackerIndex } from "../../lib/scenario/handover_export.ts";
import {
  type HandoverFolder,
  inspectHandover,
  inspectionText,
} from "../../lib/scenario/handover_inspect.ts";
import type { PhysicalMemory } from "../../lib/machine/physmem.ts";
import type { Rng } from "../../lib/rng.ts";
import { PAGE_SIZE } from "../../lib/units.ts";
import {
  BASE_KEYS,
  buildBase,
  type HandoverBase,
  knownStructures,
  labelRanges,
  rangeRecordingMemory,
  type ReadRange,
} from "./handover_base.ts";
import { type DriveOutcome, driveSuccessor } from "./handover_drive.ts";
import type { FuzzStats, FuzzTarget } from "./target.ts";

/** Bytes of one mutation record. */
export const RECORD_BYTES = 12;
/** Largest input: the header and 16 records. */
export const HANDOVER_MAX_INPUT_BYTES = 2 + 16 * RECORD_BYTES;

/** What one input did. */
export interface HandoverObservation {
  /** The base, `profile/variant`. */
  base: string;
  /** The boot's outcome. */
  boot: string;
  /** The client steps' results. */
  steps: string[];
}

// ------------------------------------------------------------------ bases (lazy, per process)

const bases = new Map<number, HandoverBase>();

/** The base of index `i` (modulo the number of bases), built and recorded on first use. */
export function baseAt(i: number): HandoverBase {
  const idx = i % BASE_KEYS.length;
  let b = bases.get(idx);
  if (b === undefined) {
    const key = BASE_KEYS[idx];
    b = buildBase(key.profile, key.variant);
    recordRanges(b);
    bases.set(idx, b);
  }
  return b;
}

/** A machine on a fresh copy of the base's memory. */
export function machineOf(base: HandoverBase, mem: PhysicalMemory = base.mem.clone()): Machine {
  return Object.assign(Object.create(Machine.prototype), { topology: base.topology, mem });
}

/**
 * Fills `base.ranges`: runs the successor once over an unchanged copy through a recording
 * view of memory (both drive modes), then names the ranges by structure.
 */
function recordRanges(base: HandoverBase): void {
  const read: ReadRange[] = [];
  for (const mode of [0, 1]) {
    let label = "boot";
    const mem = rangeRecordingMemory(base.mem.clone(), (phys, len) => {
      if (len > 0 && base.topology.isRam(phys, Math.min(len, PAGE_SIZE))) {
        read.push({ label, phys, len: Math.min(len, 1 << 20) });
      }
    });
    driveSuccessor({ base, machine: machineOf(base, mem), mode, step: (l) => (label = l) });
  }
  base.ranges = labelRanges(read, knownStructures(base));
  base.labels = [...new Set(base.ranges.map((r) => r.label))].sort();
}

// ------------------------------------------------------------------ mutations

/** The 16 op slots, weighted towards field edits. */
const OPS = [
  "bitflip",
  "bitflip",
  "byte",
  "u64-field",
  "u64-field",
  "u64-field",
  "u64-any",
  "u32-field",
  "u32-field",
  "field-bitflip",
  "field-bitflip",
  "zero-run",
  "pointer",
  "pointer",
  "u64-field",
  "bitflip",
] as const;

const U64 = (1n << 64n) - 1n;

/** Non-zero u64 words (8-aligned addresses) of a range. */
function nonZeroWords(mem: PhysicalMemory, r: ReadRange, width: 4 | 8): number[] {
  const out: number[] = [];
  const first = Math.ceil(r.phys / width) * width;
  const end = Math.min(r.phys + r.len, first + 64 * 1024);
  const bytes = mem.readBytes(first, Math.max(0, end - first));
  const dv = new DataView(bytes.buffer);
  for (let o = 0; o + width <= bytes.length; o += width) {
    const v = width === 8 ? dv.getBigUint64(o, true) : BigInt(dv.getUint32(o, true));
    if (v !== 0n) out.push(first + o);
  }
  return out;
}

function anyWord(r: ReadRange, pos: number, width: 4 | 8): number {
  const first = Math.ceil(r.phys / width) * width;
  const n = Math.max(1, Math.floor((r.phys + r.len - first) / width));
  return first + (pos % n) * width;
}

/** A u64 worth trying in place of `old` at `at` (pointers, counts, boundaries). */
function interesting64(
  base: HandoverBase,
  old: bigint,
  at: number,
  range: ReadRange,
  val: number,
): bigint {
  const end = BigInt(base.topology.endBytes);
  const k = (val >>> 4) % 64;
  switch (val & 15) {
    case 0:
      return 0n;
    case 1:
      return U64;
    case 2:
      return (old + 1n) & U64;
    case 3:
      return (old - 1n) & U64;
    case 4:
      return (old + BigInt(PAGE_SIZE)) & U64;
    case 5:
      return old ^ (1n << BigInt(k));
    case 6:
      return BigInt(range.phys); // a pointer back at its own structure
    case 7:
      return end;
    case 8:
      return end - 8n;
    case 9:
      return 1n << 63n;
    case 10:
      return BigInt(at & ~(PAGE_SIZE - 1));
    case 11:
      return (old + 8n) & U64;
    case 12:
      return [2n, 63n, 64n, 512n, 10000n, 20001n, 1n << 32n, (1n << 32n) + 1n][k % 8];
    case 13:
      return (old << 1n) & U64;
    case 14:
      return end + (1n << BigInt(30 + (k % 20)));
    default:
      return (old + 4n) & U64;
  }
}

function interesting32(old: number, val: number): number {
  const k = (val >>> 4) % 32;
  return [
    0,
    0xffffffff,
    1,
    old + 1,
    old - 1,
    0x80000000,
    63,
    64,
    511,
    512,
    old * 2,
    0x7fffffff,
    old ^ (1 << k),
    old + 0x10000,
    4096,
    k,
  ][val & 15] >>> 0;
}

/** Applies one record to `mem`; returns false when it does nothing (no ranges). */
function applyRecord(
  base: HandoverBase,
  mem: PhysicalMemory,
  rec: DataView,
  off: number,
): void {
  if (base.labels.length === 0) return;
  const label = base.labels[rec.getUint8(off) % base.labels.length];
  const ranges = base.ranges.filter((r) => r.label === label);
  const r = ranges[rec.getUint16(off + 1, true) % ranges.length];
  const op = OPS[rec.getUint8(off + 3) % OPS.length];
  const pos = rec.getUint32(off + 4, true);
  const val = rec.getUint32(off + 8, true);
  const byteAt = r.phys + (pos % r.len);
  switch (op) {
    case "bitflip":
      mem.writeU8(byteAt, mem.readU8(byteAt) ^ (1 << (val & 7)));
      return;
    case "byte":
      mem.writeU8(byteAt, val & 0xff);
      return;
    case "zero-run":
      mem.zero(byteAt, Math.min(1 + (val % 64), r.phys + r.len - byteAt));
      return;
    case "u32-field": {
      const nz = nonZeroWords(mem, r, 4);
      const at = nz.length > 0 ? nz[pos % nz.length] : anyWord(r, pos, 4);
      mem.writeU32(at, interesting32(mem.readU32(at), val));
      return;
    }
    default: {
      const nz = op === "u64-any" ? [] : nonZeroWords(mem, r, 8);
      const at = nz.length > 0 ? nz[pos % nz.length] : anyWord(r, pos, 8);
      if (at + 8 > base.topology.endBytes) return;
      const old = mem.readU64Big(at);
      let v: bigint;
      if (op === "field-bitflip") v = old ^ (1n << BigInt(val % 64));
      else if (op === "pointer") {
        const other = base.ranges[val % base.ranges.length];
        v = BigInt(other.phys + ((val >>> 16) % 4) * 8);
      } else v = interesting64(base, old, at, r, val);
      mem.writeU64Big(at, v);
    }
  }
}

/** Applies every whole record of `input` (after the 2-byte header) to `mem`. */
export function applyMutations(base: HandoverBase, mem: PhysicalMemory, input: Uint8Array): void {
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  for (let off = 2; off + RECORD_BYTES <= input.length; off += RECORD_BYTES) {
    applyRecord(base, mem, dv, off);
  }
}

/**
 * The base's export with every file that holds handed-over bytes read again from `mem` (the
 * root FDT, the sub-tree blobs, the tracker pages, the scratch array): what `kholab export
 * --handover` would write of the mutated handover.
 */
export function exportOfMemory(base: HandoverBase, mem: PhysicalMemory): HandoverFolder | null {
  const exp = base.exported;
  if (exp === null) return null;
  const files = new Map(exp.files);
  const at = (hexText: string) => Number.parseInt(hexText.slice(2), 16);
  const reread = (path: string, phys: number) => {
    const old = files.get(path);
    if (old !== undefined && mem.contains(phys, old.length)) {
      files.set(path, mem.readBytes(phys, old.length));
    }
  };
  reread("kho/out/fdt", at(exp.meta.handover.fdtPhys));
  reread(EXPORT_FILES.scratch, at(exp.meta.handover.scratchPhys));
  for (const t of exp.meta.subtrees) if (t.file) reread(t.file, at(t.phys));
  const bin = files.get(EXPORT_FILES.tracker);
  const ix = files.get(EXPORT_FILES.trackerIndex);
  if (bin && ix) {
    const out = bin.slice();
    const index = JSON.parse(new TextDecoder().decode(ix)) as TrackerIndex;
    for (const p of index.pages) out.set(mem.readBytes(at(p.phys), PAGE_SIZE), p.offset);
    files.set(EXPORT_FILES.tracker, out);
  }
  return { meta: exp.meta, files };
}

/**
 * Runs one input: a copy of its base, the mutations, the successor's drive; with mode bit 1
 * also `kholab inspect` of the mutated handover's export (it must never throw).
 */
export function runHandoverInput(input: Uint8Array): HandoverObservation {
  const base = baseAt(input[0] ?? 0);
  const mem = base.mem.clone();
  applyMutations(base, mem, input);
  const mode = input[1] ?? 0;
  const steps: string[] = [];
  if (mode & 2) {
    const folder = exportOfMemory(base, mem);
    if (folder !== null) {
      const ins = inspectHandover(folder, { strict: base.variant.strict });
      inspectionText(ins, "fuzz");
      steps.push(
        `inspect:${
          ins.panic ? "panic" : !ins.populate.ok ? "refused" : ins.retrieve?.ok ? "ok" : "walk"
        }`,
      );
    }
  }
  const o: DriveOutcome = driveSuccessor({ base, machine: machineOf(base, mem), mode });
  return { base: base.name, boot: o.boot, steps: [...steps, ...o.steps] };
}

// ------------------------------------------------------------------ statistics

class HandoverStats implements FuzzStats<HandoverObservation> {
  readonly #boot = new Map<string, number>();
  readonly #steps = new Map<string, number>();

  add(o: HandoverObservation): void {
    this.#boot.set(o.boot, (this.#boot.get(o.boot) ?? 0) + 1);
    for (const s of new Set(o.steps)) this.#steps.set(s, (this.#steps.get(s) ?? 0) + 1);
  }

  toString(): string {
    const line = (m: Map<string, number>) =>
      [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
    const steps = [...this.#steps].sort((a, b) => a[0].localeCompare(b[0]))
      .map(([k, n]) => `${k} ${n}`);
    const rows: string[] = [];
    for (let i = 0; i < steps.length; i += 8) rows.push("  " + steps.slice(i, i + 8).join(", "));
    return [`boot: ${line(this.#boot)}`, "client steps (inputs):", ...rows].join("\n");
  }
}

// ------------------------------------------------------------------ the target

/** The `handover` target. */
export const target: FuzzTarget<HandoverObservation> = {
  name: "handover",
  description: "mutated handovers of every profile: the successor's boot and every client " +
    "restore path (test_kho, reserve_mem, LUO and memfd, the manifest, vmalloc, kexec again)",
  maxInputBytes: HANDOVER_MAX_INPUT_BYTES,
  corpus(): Uint8Array[] {
    return BASE_KEYS.map((_, i) => new Uint8Array([i, 0]));
  },
  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
    const seed = rng.pick(corpus);
    const n = 1 + (rng.chance(0.5) ? 0 : rng.int(4));
    const out = new Uint8Array(2 + n * RECORD_BYTES);
    out.set(seed.subarray(0, 2));
    out[1] = rng.int(4);
    rng.fillBytes(out.subarray(2));
    return out;
  },
  execute(input: Uint8Array): HandoverObservation {
    return runHandoverInput(input);
  },
  stats: () => new HandoverStats(),
};
