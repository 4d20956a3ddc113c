/**
 * Test support: replays FDT operation sequences through kholab's writer/editor and, in one
 * batch, through libfdt via tools/libfdt_replay.py, so tests can compare the bytes.
 *
 * @module
 */

import { FdtError } from "../../../lib/errors.ts";
import { FdtEditor } from "../../../lib/kho/fdt/editor.ts";
import { checkFullVerdict } from "../../../lib/kho/fdt/check.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { FdtWriter, type PlaceholderHandle } from "../../../lib/kho/fdt/writer.ts";
import { Rng } from "../../../lib/rng.ts";

/** One replayable operation (see tools/libfdt_replay.py for the meaning). */
export type Op =
  | ["create", number, boolean]
  | ["add_reservemap_entry", number, number]
  | ["finish_reservemap"]
  | ["begin_node", string]
  | ["end_node"]
  | ["property", string, string]
  | ["placeholder", string, number]
  | ["fill", number, string]
  | ["finish"]
  | ["open_into", number]
  | ["open_into_new", number]
  | ["add_subnode", string, string]
  | ["setprop", string, string, string]
  | ["setprop_inplace", string, string, string]
  | ["delprop", string, string]
  | ["del_node", string]
  | ["nop_property", string, string]
  | ["nop_node", string]
  | ["pack"]
  | ["snapshot"]
  | ["load", string, number];

/** A case for the replay script. */
export type ReplayCase = { ops: Op[] } | { check: string };

/** The outcome of an ops case (same shape from both sides). */
export interface OpsResult {
  /** 0 or the FDT_ERR_* name, per op. */
  results: (0 | string)[];
  /** Hex of the whole buffer. */
  buf: string;
  /** Header totalsize at the end. */
  totalsize: number;
  /** Buffers captured by "snapshot" ops. */
  snapshots: { buf: string; totalsize: number }[];
  /** fdt_check_full verdict of the final blob. */
  check: string;
}

/** Hex of bytes. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of hex. */
export function fromHex(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Our side of the replay: the same operations on FdtWriter / FdtEditor. */
export class OurReplay {
  writer: FdtWriter | null = null;
  editor: FdtEditor | null = null;
  placeholders: (PlaceholderHandle | null)[] = [];
  snapshots: { buf: string; totalsize: number }[] = [];

  /** The whole current buffer. */
  buffer(): Uint8Array {
    if (this.editor) return this.editor.buffer();
    if (this.writer) return this.writer.finishBuffer();
    return new Uint8Array(0);
  }

  /** Node paths of the current tree (for generators); ["/"] if unreadable. */
  paths(): string[] {
    if (!this.editor) return ["/"];
    try {
      const r = this.editor.reader();
      const out: string[] = [];
      const walk = (off: number, path: string) => {
        out.push(path);
        for (const c of r.subnodes(off)) {
          walk(c, (path === "/" ? "/" : path + "/") + r.getName(c));
        }
      };
      walk(0, "/");
      return out;
    } catch {
      return ["/"];
    }
  }

  /** Properties (name, length) of the node at `path`, or []. */
  props(path: string): { name: string; len: number }[] {
    if (!this.editor) return [];
    try {
      const r = this.editor.reader();
      return r.properties(r.pathOffset(path)).map((p) => ({ name: p.name, len: p.value.length }));
    } catch {
      return [];
    }
  }

  /** Applies one op; returns 0 or the FdtError code. */
  apply(op: Op): 0 | string {
    try {
      this.#apply(op);
      return 0;
    } catch (e) {
      if (e instanceof FdtError) return e.code;
      throw e;
    }
  }

  #apply(op: Op): void {
    const w = () => {
      if (!this.writer) throw new Error("no writer");
      return this.writer;
    };
    const ed = () => {
      if (!this.editor) throw new Error("no editor");
      return this.editor;
    };
    switch (op[0]) {
      case "create":
        this.writer = FdtWriter.create(op[1], { grow: op[2] });
        return;
      case "add_reservemap_entry":
        return w().addReservemapEntry(op[1], op[2]);
      case "finish_reservemap":
        return w().finishReservemap();
      case "begin_node":
        return w().beginNode(op[1]);
      case "end_node":
        return w().endNode();
      case "property":
        return w().property(op[1], fromHex(op[2]));
      case "placeholder": {
        this.placeholders.push(null);
        const h = w().propertyPlaceholder(op[1], op[2]);
        this.placeholders[this.placeholders.length - 1] = h;
        return;
      }
      case "fill": {
        const h = this.placeholders[op[1]];
        if (h) w().fillPlaceholder(h, fromHex(op[2])); // a failed placeholder has nothing to fill
        return;
      }
      case "load": {
        const buf = new Uint8Array(Math.max(op[2], op[1].length / 2));
        buf.set(fromHex(op[1]));
        this.editor = FdtEditor.wrap(buf);
        return;
      }
      case "finish":
        w().finish();
        this.editor = FdtEditor.wrap(w().finishBuffer());
        return;
      case "open_into":
        return ed().openInto(op[1]);
      case "open_into_new":
        this.editor = FdtEditor.openInto(ed().buffer(), op[1]);
        return;
      case "pack":
        return ed().pack();
      case "snapshot": {
        const b = this.buffer();
        this.snapshots.push({ buf: toHex(b), totalsize: totalsizeOf(b) });
        return;
      }
      case "add_subnode":
        ed().addSubnode(ed().pathOffset(op[1]), op[2]);
        return;
      case "setprop":
        return ed().setprop(ed().pathOffset(op[1]), op[2], fromHex(op[3]));
      case "setprop_inplace":
        return ed().setpropInplace(ed().pathOffset(op[1]), op[2], fromHex(op[3]));
      case "delprop":
        return ed().delprop(ed().pathOffset(op[1]), op[2]);
      case "del_node":
        return ed().delNode(ed().pathOffset(op[1]));
      case "nop_property":
        return ed().nopProperty(ed().pathOffset(op[1]), op[2]);
      case "nop_node":
        return ed().nopNode(ed().pathOffset(op[1]));
    }
  }

  /** The result in the replay script's shape. */
  result(results: (0 | string)[]): OpsResult {
    const buf = this.buffer();
    const ts = totalsizeOf(buf);
    return {
      results,
      buf: toHex(buf),
      totalsize: ts,
      snapshots: this.snapshots,
      check: ts <= buf.length ? checkFullVerdict(buf.slice(0, ts)) : "TRUNCATED",
    };
  }
}

function totalsizeOf(b: Uint8Array): number {
  return b.length >= 8 ? new DataView(b.buffer, b.byteOffset).getUint32(4) : 0;
}

/** Runs ops on our side. */
export function runOurs(ops: Op[]): OpsResult {
  const r = new OurReplay();
  const results = ops.map((op) => r.apply(op));
  return r.result(results);
}

/** Path of the replay script. */
export const REPLAY_SCRIPT = new URL("../../../tools/libfdt_replay.py", import.meta.url).pathname;

/** Runs cases through libfdt in one /usr/bin/python3 process. */
export async function runLibfdt(cases: ReplayCase[]): Promise<unknown[]> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: [REPLAY_SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(cases)));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`libfdt_replay.py failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const PROP_NAMES = [
  "compatible",
  "preserved-memory-map",
  "memory-map",
  "map",
  "ory-map",
  "fdt",
  "preserved-data",
  "data",
  "blob-size",
  "size",
  "start",
  "reg",
  "a",
  "ab",
  "b",
  "status",
  "magic",
  "csum",
  "nr_folios",
  "folios_info",
  "x,y-z",
];
const NODE_NAMES = [
  "memblock",
  "kho_test",
  "LUO",
  "n1",
  "n2",
  "data",
  "kexec-metadata",
  "a",
  "b",
  "node@1000",
  "cpu@0",
  "luo-session",
  "reserve_mem",
];

function randomValue(rng: Rng): string {
  const k = rng.int(6);
  if (k === 0) return toHex(new TextEncoder().encode(rng.pick(["kho-v1", "okay", "a", ""]) + "\0"));
  if (k === 1) return toHex(rng.fillBytes(new Uint8Array(8)));
  if (k === 2) return toHex(rng.fillBytes(new Uint8Array(4)));
  if (k === 3) return "";
  return toHex(rng.fillBytes(new Uint8Array(rng.int(rng.chance(0.2) ? 130 : 66))));
}

/** A random SW build (unique names per node), then RW edits chosen against our own state. */
export function generateCase(rng: Rng): Op[] {
  const ops: Op[] = [];
  const grow = rng.chance(0.2);
  const size = grow ? rng.pick([64, 128, 300]) : rng.pick([512, 1024, 4096, 4096, 4096]);
  ops.push(["create", size, grow]);
  for (let i = rng.chance(0.15) ? rng.int(3) + 1 : 0; i > 0; i--) {
    ops.push(["add_reservemap_entry", rng.int(2 ** 40), rng.int(2 ** 30) + 1]);
  }
  ops.push(["finish_reservemap"]);
  let placeholders = 0;
  const fills: Op[] = [];
  const node = (name: string, depth: number) => {
    ops.push(["begin_node", name]);
    const props = rng.shuffle([...PROP_NAMES]).slice(0, rng.int(5));
    for (const p of props) {
      if (rng.chance(0.15)) {
        const len = rng.pick([4, 8, 12, 16]);
        ops.push(["placeholder", p, len]);
        fills.push(["fill", placeholders++, toHex(rng.fillBytes(new Uint8Array(len)))]);
      } else {
        ops.push(["property", p, randomValue(rng)]);
      }
    }
    if (depth < 3) {
      for (const c of rng.shuffle([...NODE_NAMES]).slice(0, rng.int(depth === 0 ? 4 : 3))) {
        node(c, depth + 1);
      }
    }
    ops.push(["end_node"]);
  };
  node("", 0);
  ops.push(...fills);
  ops.push(["finish"]);
  ops.push(["snapshot"]);
  return ops;
}

/**
 * A blob whose blocks are out of order (strings before structure, gaps between), built from a
 * finished in-order blob: fdt_open_into must repack it.
 */
export function misorder(blob: Uint8Array, rng: Rng): Uint8Array {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const rsvOff = dv.getUint32(16), stOff = dv.getUint32(8), strOff = dv.getUint32(12);
  const stSize = dv.getUint32(36), strSize = dv.getUint32(32);
  const rsvSize = stOff - rsvOff;
  const gap = () => rng.int(3) * 8;
  const newRsv = 40 + gap();
  const newStr = newRsv + rsvSize + gap();
  const newSt = Math.ceil((newStr + strSize) / 4) * 4 + gap();
  const total = newSt + stSize + gap();
  const out = rng.fillBytes(new Uint8Array(total)); // junk in the gaps
  out.set(blob.subarray(0, 40));
  out.set(blob.subarray(rsvOff, rsvOff + rsvSize), newRsv);
  out.set(blob.subarray(strOff, strOff + strSize), newStr);
  out.set(blob.subarray(stOff, stOff + stSize), newSt);
  const o = new DataView(out.buffer);
  o.setUint32(4, total);
  o.setUint32(8, newSt);
  o.setUint32(12, newStr);
  o.setUint32(16, newRsv);
  o.setUint32(28, rng.u32()); // boot_cpuid_phys is carried over by the repack
  return out;
}

/** Appends random RW edits, choosing paths and names from our own current state. */
export function generateEdits(rng: Rng, ops: Op[]): Op[] {
  const ours = new OurReplay();
  for (const op of ops) ours.apply(op);
  const out = [...ops];
  const push = (op: Op) => {
    out.push(op);
    ours.apply(op);
  };
  if (ours.editor === null) return out;
  if (rng.chance(0.8)) {
    push([rng.chance(0.8) ? "open_into" : "open_into_new", rng.pick([4096, 8192])]);
  }
  const n = rng.int(12) + 1;
  for (let i = 0; i < n; i++) {
    const paths = ours.paths();
    const path = rng.pick(paths);
    const props = ours.props(path);
    const k = rng.int(20);
    if (k < 3) push(["open_into", rng.pick([4096, 4096, 2048, 1024, 512])]);
    else if (k < 4) push(["open_into_new", rng.pick([4096, 8192, 600])]);
    else if (k < 8) push(["add_subnode", path, rng.pick(NODE_NAMES)]);
    else if (k < 12) {
      const name = props.length && rng.chance(0.4) ? rng.pick(props).name : rng.pick(PROP_NAMES);
      push(["setprop", path, name, randomValue(rng)]);
    } else if (k < 13 && props.some((p) => p.len === 4 || p.len === 8)) {
      const p = rng.pick(props.filter((p) => p.len === 4 || p.len === 8));
      push(["setprop_inplace", path, p.name, toHex(rng.fillBytes(new Uint8Array(p.len)))]);
    } else if (k < 15) {
      const name = props.length && rng.chance(0.8) ? rng.pick(props).name : rng.pick(PROP_NAMES);
      push(["delprop", path, name]);
    } else if (k < 16 && path !== "/") push(["del_node", path]);
    else if (k < 17 && props.length) push(["nop_property", path, rng.pick(props).name]);
    else if (k < 18 && path !== "/" && rng.chance(0.3)) push(["nop_node", path]);
    else push(["pack"]);
    if (rng.chance(0.15)) push(["snapshot"]);
  }
  if (rng.chance(0.7)) push(["pack"]);
  push(["snapshot"]);
  return out;
}

/** Reads a blob's dts through our reader (throws on malformed input). */
export function readerOk(blob: Uint8Array): FdtReader {
  return new FdtReader(blob);
}

/** How many cases {@link makeReplayCases} generates. */
export const REPLAY_CASES = 240;

/**
 * The generated cases of libfdt_replay_test.ts (seed 0x5eed_fd7): SW builds followed by RW
 * edits, every eighth one a misordered blob loaded and edited.
 */
export function makeReplayCases(): Op[][] {
  const rng = new Rng(0x5eed_fd7);
  const out: Op[][] = [];
  for (let i = 0; i < REPLAY_CASES; i++) {
    const r = rng.fork(`case${i}`);
    const sw = generateCase(r);
    if (i % 8 === 7) {
      // Out-of-order blocks: fdt_open_into has to repack (in place or into a new buffer).
      const built = runOurs(sw);
      if (built.check === "OK") {
        const blob = misorder(fromHex(built.buf).slice(0, built.totalsize), r);
        const size = r.pick([blob.length, blob.length + 64, 4096]);
        out.push(generateEdits(r, [["load", toHex(blob), size], ["snapshot"]]));
        continue;
      }
    }
    out.push(generateEdits(r, sw));
  }
  return out;
}
