/**
 * kholab's side of libfdt_oracle.py's edit scripts: the same operations, in the same order,
 * on {@link FdtEditor}, encoded as the same record, so that a blob's record can be compared
 * byte for byte with libfdt's (per-operation results and the whole buffer after each script).
 * The scripts are documented in tools/fuzz/libfdt_oracle.py.
 *
 * An operation during which kholab took a path where libfdt itself loops forever or goes
 * past its buffer ({@link libfdtFaults}) is recorded as {@link FAULT}: libfdt's result there,
 * and everything after it in that script, is not comparable.
 *
 * @module
 */

import { FdtError } from "../../lib/errors.ts";
import { FdtEditor } from "../../lib/kho/fdt/editor.ts";
import { libfdtFaults, nextNode } from "../../lib/kho/fdt/ro.ts";
import { crc32 } from "./crc32.ts";

/** Property names the scripts touch (libfdt_oracle.py NAMES). */
export const NAMES = ["compatible", "fdt", "preserved-memory-map", "start", "size", "magic"];
/** Nodes per script (NODES). */
export const NODES = 3;
/** The scripts, in order (SCRIPTS). */
export const SCRIPTS = "DNPIAXY";
const VALUE = new Uint8Array([1, 2, 3, 4, 5]);
const U32 = new Uint8Array([0x11, 0x22, 0x33, 0x44]); // fdt_setprop_inplace_u32(0x11223344)
const EXTRA = 64;
/** The code of an operation that took a documented-difference path (no libfdt code is 0xfd). */
export const FAULT = 0xfd;

const faultCount = () => libfdtFaults.hang + libfdtFaults.overrun;

function nodeAt(buf: Uint8Array, n: number): number {
  let off = 0;
  const d = { depth: 0 };
  for (let i = 0; i < n; i++) {
    off = nextNode(buf, off, d);
    if (off < 0) return off;
  }
  return off;
}

/**
 * 0 or -err of one editor call, or FAULT; anything but an FdtError propagates (a finding).
 * `before` is the fault count before the call's node lookup.
 */
function code(f: () => unknown, before = faultCount()): number {
  let r: number;
  try {
    f();
    r = 0;
  } catch (e) {
    if (!(e instanceof FdtError)) throw e;
    r = -e.fdtErrno;
  }
  return faultCount() !== before ? FAULT : r;
}

function runScript(blob: Uint8Array, letter: string, full: boolean): Uint8Array {
  const buf = new Uint8Array(blob.length + EXTRA);
  buf.set(blob);
  const ed = FdtEditor.wrap(buf);
  const res = [code(() => ed.openInto(buf.length))];
  if ("DNPI".includes(letter)) {
    for (let n = 0; n < NODES; n++) {
      for (const name of NAMES) {
        const before = faultCount();
        const node = nodeAt(buf, n);
        if (letter === "D") res.push(code(() => ed.delprop(node, name), before));
        else if (letter === "N") res.push(code(() => ed.nopProperty(node, name), before));
        else if (letter === "P") res.push(code(() => ed.setprop(node, name, VALUE), before));
        else res.push(code(() => ed.setpropInplace(node, name, U32), before));
      }
    }
  } else if (letter === "A") {
    for (let n = 0; n < NODES; n++) {
      const before = faultCount();
      res.push(code(() => ed.addSubnode(nodeAt(buf, n), "kho"), before));
    }
  } else {
    for (let n = NODES - 1; n >= 0; n--) {
      const before = faultCount();
      const node = nodeAt(buf, n);
      res.push(code(() => letter === "X" ? ed.delNode(node) : ed.nopNode(node), before));
    }
  }
  res.push(code(() => ed.pack()));
  const tail = full ? buf : new Uint8Array(4);
  if (!full) new DataView(tail.buffer).setUint32(0, crc32(buf));
  const out = new Uint8Array(2 + res.length + 4 + tail.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, res.length);
  out.set(res, 2);
  dv.setUint32(2 + res.length, buf.length);
  out.set(tail, 6 + res.length);
  return out;
}

/** Whether a record (ours, digest form) has an operation that took a documented path. */
export function hasFault(record: Uint8Array): boolean {
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  for (let p = 0; p + 2 <= record.length;) {
    const n = dv.getUint16(p);
    if (record.subarray(p + 2, p + 2 + n).includes(FAULT)) return true;
    p += 6 + n + 4;
  }
  return false;
}

/**
 * The record of all scripts on `blob`, as libfdt_oracle.py's `edit` builds it: buffers as
 * crc32 digests, or whole with `full` (its 'F' request).
 */
export function editRecord(blob: Uint8Array, full = false): Uint8Array {
  const parts = [...SCRIPTS].map((s) => runScript(blob, s, full));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A readable account of the first difference between two records of the same kind (both
 * digests or both full), or null if they are equal.
 */
export function diffRecords(ours: Uint8Array, theirs: Uint8Array, full = false): string | null {
  const parse = (r: Uint8Array) => {
    const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    const out: { res: number[]; buf: Uint8Array }[] = [];
    let p = 0;
    while (p + 2 <= r.length) {
      const n = dv.getUint16(p);
      const res = [...r.subarray(p + 2, p + 2 + n)];
      const len = p + 6 + n <= r.length ? dv.getUint32(p + 2 + n) : 0;
      const tail = full ? len : 4;
      out.push({ res, buf: r.subarray(p + 6 + n, p + 6 + n + tail) });
      p += 6 + n + tail;
    }
    return out;
  };
  const a = parse(ours), b = parse(theirs);
  for (let s = 0; s < Math.max(a.length, b.length); s++) {
    const letter = SCRIPTS[s] ?? "?";
    if (!a[s] || !b[s]) return `script ${letter}: missing`;
    let fault = false;
    for (let i = 0; i < Math.max(a[s].res.length, b[s].res.length); i++) {
      if (a[s].res[i] === FAULT) {
        fault = true; // libfdt hangs or overruns here: nothing after it is comparable
        break;
      }
      if (a[s].res[i] !== b[s].res[i]) {
        return `script ${letter} op ${i}: kholab ${a[s].res[i]}, libfdt ${b[s].res[i]} (-err)`;
      }
    }
    if (fault) continue;
    const x = a[s].buf, y = b[s].buf;
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      if (x[i] !== y[i]) {
        return full
          ? `script ${letter}: buffers differ from byte ${i}`
          : `script ${letter}: buffer digests differ`;
      }
    }
  }
  return null;
}
