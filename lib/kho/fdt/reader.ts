/**
 * Read access to a device tree blob with libfdt's semantics (`fdt_ro.c`): node lookup by path
 * or name, property values, `fdt_node_check_compatible`, and KHO's little-endian u64 helper.
 * Every malformed input yields an {@link FdtError} with the libfdt error name.
 *
 * @module
 */

import { FdtError } from "../../errors.ts";
import { encodeName, getHeader, type HeaderField, readLe64 } from "./format.ts";
import {
  check,
  checkNodeOffset,
  ERR,
  fdtError,
  firstPropertyOffset,
  getMemRsv,
  getName,
  getpropByOffset,
  getProperty,
  nextNode,
  nextPropertyOffset,
  numMemRsv,
  pathOffset,
  requireHeader,
  stringlistContains,
  subnodeOffset,
} from "./ro.ts";

/** A property as listed by {@link FdtReader.properties}. */
export interface FdtProperty {
  /** Structure offset of the property record. */
  offset: number;
  /** Property name. */
  name: string;
  /** Value bytes (a view into the blob). */
  value: Uint8Array;
}

/** A memory reservation entry. */
export interface FdtReserveEntry {
  /** Start address. */
  address: number;
  /** Size in bytes. */
  size: number;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * libfdt's return of a reader call as the C function gives it, e.g. to print: its value (0,
 * 1 for no match, an offset), or `-FDT_ERR_*` where the reader throws an {@link FdtError}.
 */
export function libfdtRet(f: () => number): number {
  try {
    return f();
  } catch (e) {
    if (e instanceof FdtError) return e.fdtErrno;
    throw e;
  }
}

/**
 * Reads a device tree blob. The constructor runs `fdt_check_header`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FdtWriter } from "./writer.ts";
 * import { FdtReader } from "./reader.ts";
 * import { le64 } from "./format.ts";
 * const w = FdtWriter.create(4096);
 * w.finishReservemap();
 * w.beginNode("");
 * w.propertyString("compatible", "kho-v1");
 * w.beginNode("memblock");
 * w.property("fdt", le64(0x117150000));
 * w.endNode();
 * w.endNode();
 * const r = new FdtReader(w.finish());
 * assert.equal(r.nodeCheckCompatible(0, "kho-v1"), 0);
 * assert.equal(r.getU64Le(r.pathOffset("/memblock"), "fdt"), 0x117150000);
 * ```
 */
export class FdtReader {
  /** The blob (not copied). */
  readonly blob: Uint8Array;

  /** Wraps `blob` after `fdt_check_header` (BADMAGIC, BADVERSION, TRUNCATED…). */
  constructor(blob: Uint8Array) {
    requireHeader(blob);
    this.blob = blob;
  }

  /** A header field, e.g. `header("totalsize")`. */
  header(field: HeaderField): number {
    return getHeader(this.blob, field);
  }

  /** The memory reservation entries (without the terminator). */
  reservations(): FdtReserveEntry[] {
    const n = check(numMemRsv(this.blob));
    const out: FdtReserveEntry[] = [];
    for (let i = 0; i < n; i++) {
      const e = getMemRsv(this.blob, i);
      if (typeof e === "number") throw fdtError(e);
      out.push(e);
    }
    return out;
  }

  /** `fdt_path_offset(path)`: FDT_ERR_NOTFOUND if absent, BADPATH for a missing alias. */
  pathOffset(path: string): number {
    return check(pathOffset(this.blob, encodeName(path)), path);
  }

  /** `fdt_subnode_offset(parent, name)` ("name" also matches "name@unit"). */
  subnodeOffset(parentOffset: number, name: string): number {
    return check(subnodeOffset(this.blob, parentOffset, encodeName(name)), name);
  }

  /**
   * Offsets of the direct children of a node, in blob order. Unlike `fdt_first_subnode`, which
   * folds every failure into NOTFOUND, a bad offset or a broken structure throws.
   */
  subnodes(offset: number): number[] {
    check(checkNodeOffset(this.blob, offset));
    const out: number[] = [];
    const d = { depth: 0 };
    let off = offset;
    for (;;) {
      off = nextNode(this.blob, off, d);
      if (d.depth < 0) break; /* left the node */
      if (off < 0) {
        if (off === ERR.NOTFOUND) break; /* the structure ended: libfdt stops quietly */
        throw fdtError(off);
      }
      if (d.depth === 1) out.push(off);
    }
    return out;
  }

  /** `fdt_get_name(offset)`: the node's name ("" for the root). */
  getName(offset: number): string {
    const r = getName(this.blob, offset);
    check(r.err);
    return decoder.decode(this.blob.subarray(r.pos, r.pos + r.len));
  }

  /** `fdt_getprop(offset, name)`: the value bytes (a view), or null if there is none. */
  getprop(offset: number, name: string): Uint8Array | null {
    const p = getProperty(this.blob, offset, encodeName(name));
    if (typeof p === "number") {
      if (p === ERR.NOTFOUND) return null;
      throw fdtError(p, name);
    }
    return this.#value(p.data, p.len, name);
  }

  /** Like {@link FdtReader.getprop} but throws FDT_ERR_NOTFOUND when absent. */
  getpropOrThrow(offset: number, name: string): Uint8Array {
    const v = this.getprop(offset, name);
    if (v === null) throw new FdtError("FDT_ERR_NOTFOUND", name);
    return v;
  }

  /** A NUL-terminated string property, or null if absent; BADVALUE if not a string. */
  getString(offset: number, name: string): string | null {
    const v = this.getprop(offset, name);
    if (v === null) return null;
    const nul = v.indexOf(0);
    if (nul !== v.length - 1) throw new FdtError("FDT_ERR_BADVALUE", `${name} is not a string`);
    return decoder.decode(v.subarray(0, nul));
  }

  /**
   * KHO's native-endian u64 property: exactly 8 bytes, little-endian. Returns null if absent;
   * FDT_ERR_BADVALUE if the length is not 8.
   */
  getU64Le(offset: number, name: string): number | null {
    const v = this.getprop(offset, name);
    if (v === null) return null;
    if (v.length !== 8) throw new FdtError("FDT_ERR_BADVALUE", `${name}: ${v.length} bytes`);
    return readLe64(v);
  }

  /**
   * The properties of a node, in blob order. (A property whose length wraps onto its own tag,
   * where a libfdt loop over `fdt_next_property_offset` would spin, has a length of 2^31 or
   * more: reading its value fails first.)
   */
  properties(offset: number): FdtProperty[] {
    const out: FdtProperty[] = [];
    let off = firstPropertyOffset(this.blob, offset);
    while (off >= 0) {
      const r = getpropByOffset(this.blob, off);
      if (typeof r === "number") throw fdtError(r);
      out.push({
        offset: off,
        name: decoder.decode(this.blob.subarray(r.name.pos, r.name.pos + r.name.len)),
        value: this.#value(r.prop.data, r.prop.len, "property"),
      });
      off = nextPropertyOffset(this.blob, off);
    }
    if (off !== ERR.NOTFOUND) throw fdtError(off);
    return out;
  }

  /**
   * `fdt_node_check_compatible(offset, compat)`: 0 if the `compatible` string list contains
   * `compat`, 1 if not; FDT_ERR_NOTFOUND if the node has no `compatible` property.
   */
  nodeCheckCompatible(offset: number, compat: string): 0 | 1 {
    const p = getProperty(this.blob, offset, encodeName("compatible"));
    if (typeof p === "number") throw fdtError(p, "compatible");
    this.#value(p.data, p.len, "compatible");
    return stringlistContains(this.blob, p.data, p.len, encodeName(compat)) ? 0 : 1;
  }

  /**
   * The value bytes. A length of 2^31 or more is negative in libfdt's `int *lenp` and lies
   * past any blob: FDT_ERR_TRUNCATED, like every value that does not fit the bytes.
   */
  #value(data: number, len: number, name: string): Uint8Array {
    if (data + len > this.blob.length) {
      throw new FdtError("FDT_ERR_TRUNCATED", `${name}: value past the end of the blob`);
    }
    return this.blob.subarray(data, data + len);
  }
}
