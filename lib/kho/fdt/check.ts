/**
 * `fdt_check_full` of libfdt 1.6.1 (Debian bookworm's build): the strict structural gate.
 * Header (magic, versions, block bounds), buffer size against `totalsize`, the reservation
 * map, then a walk of every token checking nesting, a single nameless root, the final
 * FDT_END, property name offsets and property lengths.
 *
 * Differences from the C code, only on inputs that crash or hang it: a root node whose name
 * cannot be read (pre-v16 blobs without a '/') and a property length that wraps the walk back
 * onto itself both give FDT_ERR_BADSTRUCTURE here.
 *
 * @module
 */

import type { FdtErrName } from "../../errors.ts";
import {
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_NOP,
  FDT_PROP,
  FDT_V1_SIZE,
  getHeader,
} from "./format.ts";
import {
  check,
  checkHeader,
  ERR,
  errName,
  getName,
  getpropByOffset,
  headerSize,
  type NextOffset,
  nextTag,
  numMemRsv,
} from "./ro.ts";

/** `fdt_check_full(blob, blob.length)` as a libfdt return value: 0 or a negative error. */
export function checkFullErrno(blob: Uint8Array): number {
  const bufsize = blob.length;
  if (bufsize < FDT_V1_SIZE) return ERR.TRUNCATED;
  if (bufsize < headerSize(blob)) return ERR.TRUNCATED;
  const herr = checkHeader(blob);
  if (herr !== 0) return herr;
  if (bufsize < getHeader(blob, "totalsize")) return ERR.TRUNCATED;
  const nrsv = numMemRsv(blob);
  if (nrsv < 0) return nrsv;

  const o: NextOffset = { next: 0 };
  let depth = 0;
  let expectEnd = false;
  for (;;) {
    const offset = o.next;
    const tag = nextTag(blob, offset, o);
    if (o.next < 0) return o.next;
    /* If we see two root nodes, something is wrong */
    if (expectEnd && tag !== FDT_END) return ERR.BADSTRUCTURE;
    switch (tag) {
      case FDT_NOP:
        break;
      case FDT_END:
        return depth !== 0 ? ERR.BADSTRUCTURE : 0;
      case FDT_BEGIN_NODE:
        depth++;
        if (depth === 1) {
          /* The root node must have an empty name */
          const name = getName(blob, offset);
          if (name.err < 0 || name.len !== 0) return ERR.BADSTRUCTURE;
        }
        break;
      case FDT_END_NODE:
        if (depth === 0) return ERR.BADSTRUCTURE;
        depth--;
        if (depth === 0) expectEnd = true;
        break;
      case FDT_PROP: {
        const r = getpropByOffset(blob, offset);
        if (typeof r === "number") return r;
        break;
      }
      default:
        return ERR.INTERNAL;
    }
  }
}

/**
 * `fdt_check_full`: throws the FdtError libfdt would report (FDT_ERR_TRUNCATED,
 * FDT_ERR_BADMAGIC, FDT_ERR_BADVERSION, FDT_ERR_BADSTRUCTURE, FDT_ERR_BADOFFSET, …).
 */
export function checkFull(blob: Uint8Array): void {
  check(checkFullErrno(blob), "fdt_check_full");
}

/** The verdict as `fdt_oracle.py check` prints it: `"OK"` or the FDT_ERR_* name. */
export function checkFullVerdict(blob: Uint8Array): "OK" | FdtErrName {
  const r = checkFullErrno(blob);
  return r === 0 ? "OK" : errName(r);
}
