/**
 * `fdt_check_full` of libfdt 1.6.1 (Debian bookworm's build): the strict structural gate.
 * Header (magic, versions, block bounds), buffer size against `totalsize`, the reservation
 * map, then a walk of every token checking nesting, a single nameless root, the final
 * FDT_END, property name offsets and property lengths.
 *
 * Property lengths follow the C arithmetic exactly, wrap-around included: a length of
 * 0xfffffff5…0xffffffff moves the walk 1…11 bytes on (into the record's own fields or value,
 * which are then read as tags), so such a blob may even pass, as it does with libfdt.
 *
 * Differences from the C code, only on inputs that crash or hang it (the fuzz target
 * `deno task fuzz --target fdt` skips exactly these, and tests/kho/fdt/check_test.ts pins
 * them):
 * - a root node whose name cannot be read (pre-v16 blobs without a '/'): libfdt dereferences
 *   NULL; here FDT_ERR_BADSTRUCTURE;
 * - a property whose length wraps the walk back onto its own tag (0xfffffff4; before v16 also
 *   0xfffffff0 or 0xfffffff4 depending on the alignment) and whose name offset is valid:
 *   libfdt loops forever; here FDT_ERR_BADSTRUCTURE, libfdt ≥ 1.7.0's verdict. With an invalid
 *   name offset libfdt reports the name's error first, and so does this function.
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
  HANG_VERDICT,
  headerSize,
  type NextOffset,
  nextTag,
  numMemRsv,
  stuckAt,
} from "./ro.ts";

/**
 * How libfdt 1.6.1's `fdt_check_full` fails to return on a blob: it loops forever (`"hang"`)
 * or dereferences NULL (`"crash"`); null when it returns a verdict, which is then exactly
 * {@link checkFullErrno}'s.
 */
export type LibfdtFault = "hang" | "crash" | null;

/** The outcome of {@link checkFullOutcome}. */
export interface CheckFullOutcome {
  /** 0 or the negative libfdt error kholab returns. */
  err: number;
  /** Where libfdt itself would not return (then `err` is kholab's documented verdict). */
  fault: LibfdtFault;
}

const ok = (err: number): CheckFullOutcome => ({ err, fault: null });

/**
 * `fdt_check_full(blob, blob.length)` with the documented differences marked: the verdict,
 * and whether libfdt 1.6.1 would hang or crash instead of returning it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFullOutcome } from "./check.ts";
 * import { FdtWriter } from "./writer.ts";
 * const w = FdtWriter.create(256);
 * w.finishReservemap();
 * w.beginNode("");
 * w.property("a", new Uint8Array(4));
 * w.endNode();
 * const blob = w.finish();
 * assert.deepEqual(checkFullOutcome(blob), { err: 0, fault: null });
 * new DataView(blob.buffer).setUint32(0x4c, 0xfffffff4); // the length wraps onto its own tag
 * assert.deepEqual(checkFullOutcome(blob), { err: -11, fault: "hang" });
 * ```
 */
export function checkFullOutcome(blob: Uint8Array): CheckFullOutcome {
  const bufsize = blob.length;
  if (bufsize < FDT_V1_SIZE) return ok(ERR.TRUNCATED);
  if (bufsize < headerSize(blob)) return ok(ERR.TRUNCATED);
  const herr = checkHeader(blob);
  if (herr !== 0) return ok(herr);
  if (bufsize < getHeader(blob, "totalsize")) return ok(ERR.TRUNCATED);
  const nrsv = numMemRsv(blob);
  if (nrsv < 0) return ok(nrsv);

  const o: NextOffset = { next: 0 };
  let depth = 0;
  let expectEnd = false;
  for (;;) {
    const offset = o.next;
    const tag = nextTag(blob, offset, o);
    if (o.next < 0) return ok(o.next);
    /* If we see two root nodes, something is wrong */
    if (expectEnd && tag !== FDT_END) return ok(ERR.BADSTRUCTURE);
    switch (tag) {
      case FDT_NOP:
        break;
      case FDT_END:
        return ok(depth !== 0 ? ERR.BADSTRUCTURE : 0);
      case FDT_BEGIN_NODE:
        depth++;
        if (depth === 1) {
          /* The root node must have an empty name */
          const name = getName(blob, offset);
          /* libfdt reads *name of a NULL name (pre-v16 blob without a '/') */
          if (name.err < 0) return { err: ERR.BADSTRUCTURE, fault: "crash" };
          if (name.len !== 0) return ok(ERR.BADSTRUCTURE);
        }
        break;
      case FDT_END_NODE:
        if (depth === 0) return ok(ERR.BADSTRUCTURE);
        depth--;
        if (depth === 0) expectEnd = true;
        break;
      case FDT_PROP: {
        const r = getpropByOffset(blob, offset);
        if (typeof r === "number") return ok(r);
        if (stuckAt(offset, o)) return { err: HANG_VERDICT, fault: "hang" }; /* loops forever */
        break;
      }
      default:
        return ok(ERR.INTERNAL);
    }
  }
}

/** `fdt_check_full(blob, blob.length)` as a libfdt return value: 0 or a negative error. */
export function checkFullErrno(blob: Uint8Array): number {
  return checkFullOutcome(blob).err;
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
