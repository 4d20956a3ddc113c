/**
 * kholab's side of libfdt_oracle.py's edit scripts: the same operations, in the same order,
 * on {@link FdtEditor}, encoded as the same record, so that a blob's record can be compared
 * byte for byte with libfdt's (per-operation results and the whole buffer after each script).
 * The scripts are documented in tools/fuzz/libfdt_oracle.py.
 *
 * @module
 */

import { FdtError } from "../../lib/errors.ts";
import { FdtEditor } from "../../lib/kho/fdt/editor.ts";
import { nextNode } from "../../lib/kho/fdt/ro.ts";

/** Property names the scripts touch (libfdt_oracle.py NAMES). */
export const NAMES = ["compatible", "fdt", "preserved-memory-map", "start", "size", "magic"];
/** Nodes per script (NODES). */
export const NODES = 3;
/** The scripts, in order (SCRIPTS). */
export const SCRIPTS = "DNPIAXY";
const VALUE = new Uint8Array([1, 2, 3, 4, 5]);
const U32 = new Uint8Array([0x11, 0x22, 0x33, 0x44]); // fdt_setprop_inplace_u32(0x11223344)
const EXTRA = 64;

function nodeAt(buf: Uint8Array, n: number): number {
  let off = 0;
  const d = { depth: 0 };
  for (let i = 0; i < n; i++) {
    off = nextNode(buf, off, d);
    if (off < 0) return off;
  }
  return off;
}

/** 0 or -err of one editor call; anything but an FdtError propagates (a finding). */
function code(f: () => unknown): number {
  try {
    f();
    return 0;
  } catch (e) {
    if (e instanceof FdtError) return -e.fdtErrno;
    throw e;
  }
}

function runScript(blob: Uint8Array, letter: string): Uint8Array {
  const buf = new Uint8Array(blob.length + EXTRA);
  buf.set(blob);
  const ed = FdtEditor.wrap(buf);
  const res = [code(() => ed.openInto(buf.length))];
  if ("DNPI".includes(letter)) {
    for (let n = 0; n < NODES; n++) {
      for (const name of NAMES) {
        const node = nodeAt(buf, n);
        if (letter === "D") res.push(code(() => ed.delprop(node, name)));
        else if (letter === "N") res.push(code(() => ed.nopProperty(node, name)));
        else if (letter === "P") res.push(code(() => ed.setprop(node, name, VALUE)));
        else res.push(code(() => ed.setpropInplace(node, name, U32)));
      }
    }
  } else if (letter === "A") {
    for (let n = 0; n < NODES; n++) {
      res.push(code(() => ed.addSubnode(nodeAt(buf, n), "kho")));
    }
  } else {
    for (let n = NODES - 1; n >= 0; n--) {
      const node = nodeAt(buf, n);
      res.push(code(() => letter === "X" ? ed.delNode(node) : ed.nopNode(node)));
    }
  }
  res.push(code(() => ed.pack()));
  const whole = ed.buffer();
  const out = new Uint8Array(2 + res.length + 4 + whole.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, res.length);
  out.set(res, 2);
  dv.setUint32(2 + res.length, whole.length);
  out.set(whole, 6 + res.length);
  return out;
}

/** The record of all scripts on `blob`, as libfdt_oracle.py's `edit` builds it. */
export function editRecord(blob: Uint8Array): Uint8Array {
  const parts = [...SCRIPTS].map((s) => runScript(blob, s));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A readable account of the first difference between two records, or null if equal. */
export function diffRecords(ours: Uint8Array, theirs: Uint8Array): string | null {
  const parse = (r: Uint8Array) => {
    const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    const out: { res: number[]; buf: Uint8Array }[] = [];
    let p = 0;
    while (p < r.length) {
      const n = dv.getUint16(p);
      const res = [...r.subarray(p + 2, p + 2 + n)];
      const len = dv.getUint32(p + 2 + n);
      out.push({ res, buf: r.subarray(p + 6 + n, p + 6 + n + len) });
      p += 6 + n + len;
    }
    return out;
  };
  const a = parse(ours), b = parse(theirs);
  for (let s = 0; s < Math.max(a.length, b.length); s++) {
    const letter = SCRIPTS[s] ?? "?";
    if (!a[s] || !b[s]) return `script ${letter}: missing`;
    for (let i = 0; i < Math.max(a[s].res.length, b[s].res.length); i++) {
      if (a[s].res[i] !== b[s].res[i]) {
        return `script ${letter} op ${i}: kholab ${a[s].res[i]}, libfdt ${b[s].res[i]} (-err)`;
      }
    }
    const x = a[s].buf, y = b[s].buf;
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      if (x[i] !== y[i]) return `script ${letter}: buffers differ from byte ${i}`;
    }
  }
  return null;
}
