/**
 * Renders a blob as device-tree source the way `dtc -I dtb -O dts` (dtc 1.6.1) prints it:
 * printable NUL-terminated values as strings (inner NULs as `\\0`), other lengths divisible by 4 as big-endian
 * 32-bit cells `<0x..>`, everything else as bytes `[..]`. Used by the `fdt dump` command.
 *
 * @module
 */

import { readBe32 } from "./format.ts";
import { FdtReader } from "./reader.ts";

function isprint(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** dtc's `isstring`: printable, NUL, or one of `\a\b\t\n\v\f\r`. */
function isstring(c: number): boolean {
  return isprint(c) || c === 0 || (c >= 0x07 && c <= 0x0d);
}

/** How dtc prints a value: string(s), 32-bit cells or bytes. */
export type ValueKind = "string" | "cells" | "bytes";

/** dtc's `guess_value_type` for a property read from a blob (no labels, no markers). */
export function guessValueKind(v: Uint8Array): ValueKind {
  const len = v.length;
  let nnotstring = 0;
  let nnul = 0;
  for (const c of v) {
    if (!isstring(c)) nnotstring++;
    if (c === 0) nnul++;
  }
  if (len > 0 && v[len - 1] === 0 && nnotstring === 0 && nnul <= len - nnul) return "string";
  if (len % 4 === 0) return "cells";
  return "bytes";
}

const ESCAPES: Record<number, string> = {
  0x07: "\\a",
  0x08: "\\b",
  0x09: "\\t",
  0x0a: "\\n",
  0x0b: "\\v",
  0x0c: "\\f",
  0x0d: "\\r",
  0x5c: "\\\\",
  0x22: '\\"',
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** The text dtc prints after a property name: `;`, or ` = <value>;`. */
export function formatPropertyValue(v: Uint8Array): string {
  if (v.length === 0) return ";";
  const kind = guessValueKind(v);
  if (kind === "string") {
    let s = '"';
    for (let i = 0; i < v.length - 1; i++) {
      const c = v[i];
      if (c === 0) s += "\\0"; // dtc 1.6.1 prints string lists read from a blob this way
      else if (ESCAPES[c] !== undefined) s += ESCAPES[c];
      else if (isprint(c)) s += String.fromCharCode(c);
      else s += `\\x${hex(c, 2)}`;
    }
    return ` = ${s}";`;
  }
  if (kind === "cells") {
    const cells: string[] = [];
    for (let i = 0; i < v.length; i += 4) cells.push(`0x${hex(readBe32(v, i), 2)}`);
    return ` = <${cells.join(" ")}>;`;
  }
  return ` = [${Array.from(v, (b) => hex(b, 2)).join(" ")}];`;
}

/** Options of {@link toDts}. */
export interface DtsOptions {
  /**
   * A comment for a property (name and raw value), printed as `\t// text` after dtc's own
   * line, or null for none. Without it the output is exactly dtc's.
   */
  annotate?: (name: string, value: Uint8Array) => string | null;
}

/**
 * The dts text of a blob, as `dtc -I dtb -O dts` prints it (tabs for indentation, a blank line
 * before each child node), optionally with a comment per property (`options.annotate`).
 * Throws FdtError for a malformed blob.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FdtWriter } from "./writer.ts";
 * import { toDts } from "./dts.ts";
 * const w = FdtWriter.create(4096);
 * w.finishReservemap();
 * w.beginNode("");
 * w.propertyString("compatible", "kho-v1");
 * w.endNode();
 * assert.equal(toDts(w.finish()), '/dts-v1/;\n\n/ {\n\tcompatible = "kho-v1";\n};\n');
 * ```
 */
export function toDts(blob: Uint8Array, options: DtsOptions = {}): string {
  const r = new FdtReader(blob);
  const annotate = options.annotate;
  let out = "/dts-v1/;\n\n";
  for (const e of r.reservations()) {
    out += `/memreserve/\t0x${hex(e.address, 16)} 0x${hex(e.size, 16)};\n`;
  }
  const node = (offset: number, level: number) => {
    const tabs = "\t".repeat(level);
    const name = r.getName(offset);
    out += `${tabs}${name ? name : "/"} {\n`;
    for (const p of r.properties(offset)) {
      const note = annotate?.(p.name, p.value) ?? null;
      out += `${tabs}\t${p.name}${formatPropertyValue(p.value)}${note ? `\t// ${note}` : ""}\n`;
    }
    for (const child of r.subnodes(offset)) {
      out += "\n";
      node(child, level + 1);
    }
    out += `${tabs}};\n`;
  };
  node(r.pathOffset("/"), 0);
  return out;
}
