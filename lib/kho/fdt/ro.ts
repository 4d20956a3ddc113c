/**
 * libfdt's read-only primitives (`fdt.c` and `fdt_ro.c` of libfdt 1.6.1) over a plain byte
 * array: header probes, `fdt_offset_ptr`, `fdt_next_tag`, node and property iteration, string
 * lookup. They return libfdt's negative error numbers like the C code, so that the editor and
 * the checker can reproduce libfdt's decisions exactly; the public classes turn them into
 * {@link FdtError}s.
 *
 * Every access is bounded by the array as well as by the header, so that a blob shorter than
 * its `totalsize` reads as if the missing bytes were unmapped (never a RangeError).
 *
 * @module
 */

import { FDT_ERR, type FdtErrName, FdtError } from "../../errors.ts";
import {
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_FIRST_SUPPORTED_VERSION,
  FDT_LAST_SUPPORTED_VERSION,
  FDT_MAGIC,
  FDT_NOP,
  FDT_PROP,
  FDT_RSV_ENTRY_SIZE,
  FDT_SW_MAGIC,
  FDT_TAGSIZE,
  getHeader,
  headerSizeForVersion,
  readBe32,
  readBe64,
} from "./format.ts";

/** libfdt error numbers as the C functions return them (negative). */
export const ERR = {
  NOTFOUND: -FDT_ERR.FDT_ERR_NOTFOUND,
  EXISTS: -FDT_ERR.FDT_ERR_EXISTS,
  NOSPACE: -FDT_ERR.FDT_ERR_NOSPACE,
  BADOFFSET: -FDT_ERR.FDT_ERR_BADOFFSET,
  BADPATH: -FDT_ERR.FDT_ERR_BADPATH,
  BADSTATE: -FDT_ERR.FDT_ERR_BADSTATE,
  TRUNCATED: -FDT_ERR.FDT_ERR_TRUNCATED,
  BADMAGIC: -FDT_ERR.FDT_ERR_BADMAGIC,
  BADVERSION: -FDT_ERR.FDT_ERR_BADVERSION,
  BADSTRUCTURE: -FDT_ERR.FDT_ERR_BADSTRUCTURE,
  BADLAYOUT: -FDT_ERR.FDT_ERR_BADLAYOUT,
  INTERNAL: -FDT_ERR.FDT_ERR_INTERNAL,
  BADVALUE: -FDT_ERR.FDT_ERR_BADVALUE,
} as const;

const INT_MAX = 0x7fffffff;

/**
 * How often kholab took a path where libfdt 1.6.1 itself does not behave: it loops forever
 * (`hang`, see {@link stuckAt}) or reads or writes past the end of its buffer (`overrun`:
 * undefined behaviour in C; kholab treats the missing bytes as unmapped or reports
 * FDT_ERR_TRUNCATED and changes nothing). Diagnostics for the fuzzer and the tests, which
 * compare with libfdt only where neither happened; no result depends on them.
 */
export const libfdtFaults: { hang: number; overrun: number } = { hang: 0, overrun: 0 };

/** Counts an overrun (see {@link libfdtFaults}) and returns `value`. */
export function overrun<T>(value: T): T {
  libfdtFaults.overrun++;
  return value;
}

const NAME_BY_ERRNO = new Map<number, FdtErrName>(
  (Object.entries(FDT_ERR) as [FdtErrName, number][]).map(([k, v]) => [-v, k]),
);

/** The libfdt name of a negative error number (`fdt_strerror`). */
export function errName(err: number): FdtErrName {
  return NAME_BY_ERRNO.get(err) ?? "FDT_ERR_INTERNAL";
}

/** An FdtError for a negative libfdt error number. */
export function fdtError(err: number, detail?: string): FdtError {
  return new FdtError(errName(err), detail);
}

/** Throws the FdtError for `err` if it is negative, else returns it. */
export function check(err: number, detail?: string): number {
  if (err < 0) throw fdtError(err, detail);
  return err;
}

/** Out-parameter of {@link nextTag}: the offset of the following tag, or a negative error. */
export interface NextOffset {
  /** Offset of the next tag (structure-block relative) or a negative error. */
  next: number;
}

/** `fdt_version`, `fdt_totalsize`, … shortcuts. */
const version = (b: Uint8Array) => getHeader(b, "version");
const totalsize = (b: Uint8Array) => getHeader(b, "totalsize");
const offDtStruct = (b: Uint8Array) => getHeader(b, "offDtStruct");

/** `fdt_header_size(fdt)`. */
export function headerSize(b: Uint8Array): number {
  return headerSizeForVersion(version(b));
}

/** `fdt_ro_probe_`: minimal header sanity; returns totalsize or a negative error. */
export function roProbe(b: Uint8Array): number {
  const magic = getHeader(b, "magic");
  if (magic === FDT_MAGIC) {
    if (version(b) < FDT_FIRST_SUPPORTED_VERSION) return ERR.BADVERSION;
    if (getHeader(b, "lastCompVersion") > FDT_LAST_SUPPORTED_VERSION) return ERR.BADVERSION;
  } else if (magic === FDT_SW_MAGIC) {
    if (getHeader(b, "sizeDtStruct") === 0) return ERR.BADSTATE;
  } else {
    return ERR.BADMAGIC;
  }
  const ts = totalsize(b);
  return ts < INT_MAX ? ts : ERR.TRUNCATED;
}

function checkOff(hdrsize: number, ts: number, off: number): boolean {
  return off >= hdrsize && off <= ts;
}

function checkBlock(hdrsize: number, ts: number, base: number, size: number): boolean {
  if (!checkOff(hdrsize, ts, base)) return false;
  const end = base + size;
  if (end >= 2 ** 32) return false; /* overflow */
  return checkOff(hdrsize, ts, end);
}

/** `fdt_check_header` (libfdt 1.6.1): magic, versions, block bounds within totalsize. */
export function checkHeader(b: Uint8Array): number {
  if (getHeader(b, "magic") !== FDT_MAGIC) return ERR.BADMAGIC;
  const v = version(b);
  const lcv = getHeader(b, "lastCompVersion");
  if (v < FDT_FIRST_SUPPORTED_VERSION || lcv > FDT_LAST_SUPPORTED_VERSION) return ERR.BADVERSION;
  if (v < lcv) return ERR.BADVERSION;
  const hdrsize = headerSizeForVersion(v);
  const ts = totalsize(b);
  if (ts < hdrsize || ts > INT_MAX) return ERR.TRUNCATED;
  if (!checkOff(hdrsize, ts, getHeader(b, "offMemRsvmap"))) return ERR.TRUNCATED;
  if (v < 17) {
    if (!checkOff(hdrsize, ts, offDtStruct(b))) return ERR.TRUNCATED;
  } else if (!checkBlock(hdrsize, ts, offDtStruct(b), getHeader(b, "sizeDtStruct"))) {
    return ERR.TRUNCATED;
  }
  if (!checkBlock(hdrsize, ts, getHeader(b, "offDtStrings"), getHeader(b, "sizeDtStrings"))) {
    return ERR.TRUNCATED;
  }
  return 0;
}

/**
 * `fdt_offset_ptr(fdt, offset, len)`: the absolute byte offset of `len` bytes at
 * structure-block offset `offset`, or -1 (NULL) when out of bounds.
 */
export function offsetPtr(b: Uint8Array, offset: number, len: number): number {
  if (offset < 0) return -1;
  const ulen = len >>> 0;
  const uoffset = offset >>> 0;
  const absoffset = (offset + offDtStruct(b)) >>> 0;
  if (absoffset < uoffset) return -1;
  const absEnd = absoffset + ulen;
  if (absEnd >= 2 ** 32 || absEnd > totalsize(b)) return -1;
  if (version(b) >= 0x11) {
    if (uoffset + ulen >= 2 ** 32 || uoffset + ulen > getHeader(b, "sizeDtStruct")) return -1;
  }
  if (absEnd > b.length) return overrun(-1); /* beyond the bytes we actually have */
  return absoffset;
}

/**
 * `fdt_next_tag`: the tag at structure offset `startoffset`; `out.next` receives the next
 * tag's offset, or `-FDT_ERR_TRUNCATED` / `-FDT_ERR_BADSTRUCTURE` with tag `FDT_END`.
 *
 * Exactly libfdt 1.6.1's arithmetic: the property length is added to the C `int` offset and
 * wraps modulo 2^32, so a length of 0xfffffff4…0xffffffff moves the walk 0…11 bytes on from
 * the tag (into the record's own length, name offset or value); 0xfffffff4 (and, before v16,
 * 0xfffffff0 at an offset ≡ 4 mod 8) gives `out.next === startoffset`: see {@link stuckAt}.
 */
export function nextTag(b: Uint8Array, startoffset: number, out: NextOffset): number {
  let offset = startoffset;
  out.next = ERR.TRUNCATED;
  const tagp = offsetPtr(b, offset, FDT_TAGSIZE);
  if (tagp < 0) return FDT_END; /* premature end */
  const tag = readBe32(b, tagp);
  offset += FDT_TAGSIZE;

  out.next = ERR.BADSTRUCTURE;
  switch (tag) {
    case FDT_BEGIN_NODE:
      /* skip name */
      for (;;) {
        const p = offsetPtr(b, offset++, 1);
        if (p < 0) return FDT_END; /* premature end */
        if (b[p] === 0) break;
      }
      break;
    case FDT_PROP: {
      const lenp = offsetPtr(b, offset, 4);
      if (lenp < 0) return FDT_END; /* premature end */
      const len = readBe32(b, lenp);
      /* skip-name offset, length and value (C int arithmetic) */
      offset = (offset + 8 + len) | 0;
      if (version(b) < 0x10 && len >= 8 && ((offset - len) >>> 0) % 8 !== 0) {
        offset = (offset + 4) | 0;
      }
      break;
    }
    case FDT_END:
    case FDT_END_NODE:
    case FDT_NOP:
      break;
    default:
      return FDT_END;
  }
  if (offsetPtr(b, startoffset, (offset - startoffset) | 0) < 0) return FDT_END;
  out.next = (offset + 3) & ~3;
  return tag;
}

/**
 * True when {@link nextTag} returned a tag whose successor is the tag itself: a property whose
 * length wraps the offset back onto its own tag (0xfffffff4). Every libfdt 1.6.1 loop that
 * walks tags then repeats forever; kholab's loops check this and give
 * {@link HANG_VERDICT} instead, the verdict libfdt ≥ 1.7.0 gives such a length (dtc commit
 * 73590342 "prevent integer overflow in fdt_next_tag").
 */
export function stuckAt(offset: number, out: NextOffset): boolean {
  if (out.next !== offset) return false;
  libfdtFaults.hang++;
  return true;
}

/** What kholab returns where libfdt 1.6.1 would loop forever: FDT_ERR_BADSTRUCTURE. */
export const HANG_VERDICT: number = -FDT_ERR.FDT_ERR_BADSTRUCTURE;

/** `fdt_check_node_offset_`: offset past the BEGIN_NODE tag and name, or BADOFFSET. */
export function checkNodeOffset(b: Uint8Array, offset: number): number {
  if (offset < 0 || offset % FDT_TAGSIZE) return ERR.BADOFFSET;
  const o: NextOffset = { next: 0 };
  if (nextTag(b, offset, o) !== FDT_BEGIN_NODE) return ERR.BADOFFSET;
  return o.next;
}

/** `fdt_check_prop_offset_`: offset past the property, or BADOFFSET. */
export function checkPropOffset(b: Uint8Array, offset: number): number {
  if (offset < 0 || offset % FDT_TAGSIZE) return ERR.BADOFFSET;
  const o: NextOffset = { next: 0 };
  if (nextTag(b, offset, o) !== FDT_PROP) return ERR.BADOFFSET;
  return o.next;
}

/** Depth tracker for {@link nextNode} (`int *depth`, or null when the caller passes NULL). */
export interface Depth {
  /** Current depth relative to the start node. */
  depth: number;
}

/** `fdt_next_node`: the next node in document order, updating `depth`. */
export function nextNode(b: Uint8Array, offset: number, depth: Depth | null): number {
  const o: NextOffset = { next: 0 };
  if (offset >= 0) {
    o.next = checkNodeOffset(b, offset);
    if (o.next < 0) return o.next;
  }
  let tag: number;
  do {
    offset = o.next;
    tag = nextTag(b, offset, o);
    switch (tag) {
      case FDT_PROP:
        if (stuckAt(offset, o)) return HANG_VERDICT; /* libfdt 1.6.1 loops forever */
        break;
      case FDT_NOP:
        break;
      case FDT_BEGIN_NODE:
        if (depth) depth.depth++;
        break;
      case FDT_END_NODE:
        if (depth && --depth.depth < 0) return o.next;
        break;
      case FDT_END:
        if (o.next >= 0 || (o.next === ERR.TRUNCATED && !depth)) return ERR.NOTFOUND;
        return o.next;
    }
  } while (tag !== FDT_BEGIN_NODE);
  return offset;
}

/** Result of {@link getName}: absolute position and length of a node name, or an error. */
export interface NameRef {
  /** Absolute offset of the first name byte (valid when err is 0). */
  pos: number;
  /** Length without the NUL. */
  len: number;
  /** 0 or a negative libfdt error. */
  err: number;
}

/** `fdt_get_name`: where a node's name is. */
export function getName(b: Uint8Array, nodeoffset: number): NameRef {
  let err = roProbe(b);
  if (err >= 0) err = checkNodeOffset(b, nodeoffset);
  if (err < 0) return { pos: -1, len: 0, err };
  let pos = offDtStruct(b) + nodeoffset + FDT_TAGSIZE;
  let end = pos;
  while (b[end] !== 0) end++; /* bounded: nextTag found the NUL */
  if (version(b) < 0x10) {
    /* old versions store full paths: give only the leaf */
    let slash = -1;
    for (let i = pos; i < end; i++) if (b[i] === 0x2f) slash = i;
    if (slash < 0) return { pos: -1, len: 0, err: ERR.BADSTRUCTURE };
    pos = slash + 1;
  }
  return { pos, len: end - pos, err: 0 };
}

/** Result of {@link getString}. */
export interface StringRef {
  /** Absolute offset of the string (valid when err is 0). */
  pos: number;
  /** Length without the NUL. */
  len: number;
  /** 0 or a negative libfdt error. */
  err: number;
}

/** `fdt_get_string`: a NUL-terminated string of the strings block, bounds-checked. */
export function getString(b: Uint8Array, stroffset: number): StringRef {
  const ts = roProbe(b);
  if (ts < 0) return { pos: -1, len: 0, err: ts };
  const fail = (err: number) => ({ pos: -1, len: 0, err });
  const absoffset = (stroffset + getHeader(b, "offDtStrings")) >>> 0;
  if (absoffset >= ts) return fail(ERR.BADOFFSET);
  let len = ts - absoffset;
  const magic = getHeader(b, "magic");
  const sizeStrings = getHeader(b, "sizeDtStrings");
  if (magic === FDT_MAGIC) {
    if (stroffset < 0) return fail(ERR.BADOFFSET);
    if (version(b) >= 17) {
      if (stroffset >>> 0 >= sizeStrings) return fail(ERR.BADOFFSET);
      if (sizeStrings - stroffset < len) len = sizeStrings - stroffset;
    }
  } else if (magic === FDT_SW_MAGIC) {
    if (stroffset >= 0 || stroffset < -sizeStrings) return fail(ERR.BADOFFSET);
    if (-stroffset < len) len = -stroffset;
  } else {
    return fail(ERR.INTERNAL);
  }
  const lim = Math.min(absoffset + len, b.length);
  for (let i = absoffset; i < lim; i++) {
    if (b[i] === 0) return { pos: absoffset, len: i - absoffset, err: 0 };
  }
  if (lim < absoffset + len) overrun(0); /* memchr would go on past our bytes */
  return fail(ERR.TRUNCATED); /* missing terminating NUL */
}

function bytesEqual(b: Uint8Array, pos: number, s: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[pos + i] !== s[i]) return false;
  return true;
}

function stringEq(b: Uint8Array, stroffset: number, s: Uint8Array): boolean {
  const r = getString(b, stroffset);
  return r.err === 0 && r.len === s.length && bytesEqual(b, r.pos, s, s.length);
}

function nodenameEq(b: Uint8Array, offset: number, s: Uint8Array): boolean {
  const r = getName(b, offset);
  const len = s.length;
  if (r.err < 0 || r.len < len) return false;
  if (!bytesEqual(b, r.pos, s, len)) return false;
  if (b[r.pos + len] === 0) return true;
  return !s.includes(0x40) && b[r.pos + len] === 0x40; /* "name" matches "name@unit" */
}

/**
 * `fdt_mem_rsv`: absolute offset of reservation entry n, or -1. The limit
 * `totalsize - sizeof(struct fdt_reserve_entry)` is a 64-bit `size_t` in C, so a totalsize
 * below 16 sets no limit at all (only `fdt_open_into` gets that far with one); entries past
 * the bytes we have read as unmapped (-1) where the C code would read past its buffer.
 */
function memRsv(b: Uint8Array, n: number): number {
  const rsv = getHeader(b, "offMemRsvmap");
  const absoffset = (rsv + n * FDT_RSV_ENTRY_SIZE) >>> 0;
  if (absoffset < rsv) return -1;
  const ts = totalsize(b);
  if (ts >= FDT_RSV_ENTRY_SIZE && absoffset > ts - FDT_RSV_ENTRY_SIZE) return -1;
  if (absoffset + FDT_RSV_ENTRY_SIZE > b.length) return overrun(-1);
  return absoffset;
}

/** `fdt_num_mem_rsv`: number of reservation entries before the terminator, or TRUNCATED. */
export function numMemRsv(b: Uint8Array): number {
  for (let i = 0;; i++) {
    const re = memRsv(b, i);
    if (re < 0) return ERR.TRUNCATED;
    if (readBe32(b, re + 8) === 0 && readBe32(b, re + 12) === 0) return i;
  }
}

/** `fdt_get_mem_rsv`: entry n as {address, size}, or a negative error. */
export function getMemRsv(b: Uint8Array, n: number): { address: number; size: number } | number {
  const p = roProbe(b);
  if (p < 0) return p;
  const re = memRsv(b, n);
  if (re < 0) return ERR.BADOFFSET;
  return { address: readBe64(b, re), size: readBe64(b, re + 8) };
}

function nextprop(b: Uint8Array, offset: number): number {
  const o: NextOffset = { next: 0 };
  let tag: number;
  do {
    tag = nextTag(b, offset, o);
    switch (tag) {
      case FDT_END:
        return o.next >= 0 ? ERR.BADSTRUCTURE : o.next;
      case FDT_PROP:
        return offset;
    }
    offset = o.next;
  } while (tag === FDT_NOP);
  return ERR.NOTFOUND;
}

/** `fdt_first_property_offset`. */
export function firstPropertyOffset(b: Uint8Array, nodeoffset: number): number {
  const offset = checkNodeOffset(b, nodeoffset);
  if (offset < 0) return offset;
  return nextprop(b, offset);
}

/** `fdt_next_property_offset`. */
export function nextPropertyOffset(b: Uint8Array, offset: number): number {
  const o = checkPropOffset(b, offset);
  if (o < 0) return o;
  return nextprop(b, o);
}

/** A property record located in a blob. */
export interface PropRef {
  /** Structure offset of the FDT_PROP tag. */
  offset: number;
  /** Absolute offset of the record (tag). */
  abs: number;
  /** Value length (the `len` field). */
  len: number;
  /** Absolute offset of the value (after any pre-v16 realignment). */
  data: number;
  /** The `nameoff` field. */
  nameoff: number;
}

/** `fdt_get_property_by_offset_` (no version check); a PropRef or a negative error. */
export function propertyByOffset(b: Uint8Array, offset: number): PropRef | number {
  const err = checkPropOffset(b, offset);
  if (err < 0) return err;
  const abs = offDtStruct(b) + offset;
  return {
    offset,
    abs,
    len: readBe32(b, abs + 4),
    data: abs + 12,
    nameoff: readBe32(b, abs + 8) | 0,
  };
}

/**
 * `fdt_get_property_namelen_` + getprop realignment; a PropRef or a negative error. A property
 * whose length wraps onto its own tag is found if it has the name asked for (as in libfdt);
 * otherwise libfdt 1.6.1 would step onto it forever: {@link HANG_VERDICT}.
 */
export function getProperty(b: Uint8Array, nodeoffset: number, name: Uint8Array): PropRef | number {
  let offset = firstPropertyOffset(b, nodeoffset);
  while (offset >= 0) {
    const prop = propertyByOffset(b, offset);
    if (typeof prop === "number") {
      offset = ERR.INTERNAL;
      break;
    }
    if (stringEq(b, prop.nameoff, name)) {
      if (version(b) < 0x10 && (offset + 12) % 8 && prop.len >= 8) prop.data += 4;
      return prop;
    }
    const next = nextPropertyOffset(b, offset);
    if (next === offset) return HANG_VERDICT; /* libfdt 1.6.1 loops forever */
    offset = next;
  }
  return offset;
}

/** `fdt_getprop_by_offset` with the name: validates the name offset too. */
export function getpropByOffset(
  b: Uint8Array,
  offset: number,
): { prop: PropRef; name: StringRef } | number {
  const prop = propertyByOffset(b, offset);
  if (typeof prop === "number") return prop;
  const name = getString(b, prop.nameoff);
  if (name.err < 0) return name.err;
  if (version(b) < 0x10 && (offset + 12) % 8 && prop.len >= 8) prop.data += 4;
  return { prop, name };
}

/** `fdt_subnode_offset_namelen`. */
export function subnodeOffset(b: Uint8Array, offset: number, name: Uint8Array): number {
  const p = roProbe(b);
  if (p < 0) return p;
  const d = { depth: 0 };
  for (; offset >= 0 && d.depth >= 0; offset = nextNode(b, offset, d)) {
    if (d.depth === 1 && nodenameEq(b, offset, name)) return offset;
  }
  if (d.depth < 0) return ERR.NOTFOUND;
  return offset; /* error */
}

/** `fdt_path_offset` (aliases resolved through `/aliases`). */
export function pathOffset(b: Uint8Array, path: Uint8Array, depthLeft = 8): number {
  const p0 = roProbe(b);
  if (p0 < 0) return p0;
  const end = path.length;
  let p = 0;
  let offset = 0;
  if (path[0] !== 0x2f) {
    let q = path.indexOf(0x2f);
    if (q < 0) q = end;
    const aliases = depthLeft > 0 ? pathOffset(b, encodeAscii("/aliases"), depthLeft - 1) : -1;
    if (aliases < 0) return ERR.BADPATH;
    const alias = getProperty(b, aliases, path.subarray(0, q));
    if (typeof alias === "number") return ERR.BADPATH;
    let z = alias.data;
    while (z < b.length && b[z] !== 0) z++;
    offset = pathOffset(b, b.subarray(alias.data, z), depthLeft - 1);
    p = q;
  }
  while (p < end) {
    while (path[p] === 0x2f) {
      p++;
      if (p === end) return offset;
    }
    let q = path.indexOf(0x2f, p);
    if (q < 0) q = end;
    offset = subnodeOffset(b, offset, path.subarray(p, q));
    if (offset < 0) return offset;
    p = q;
  }
  return offset;
}

/** `fdt_node_end_offset_`: offset just past a node's END_NODE, or a negative error. */
export function nodeEndOffset(b: Uint8Array, offset: number): number {
  const d = { depth: 0 };
  while (offset >= 0 && d.depth >= 0) offset = nextNode(b, offset, d);
  return offset;
}

/**
 * `fdt_stringlist_contains` on the `listlen` bytes at absolute `pos` of `b`. Like the C code it
 * compares `strlen(str) + 1` bytes, so it may look at the byte just after the list.
 */
export function stringlistContains(
  b: Uint8Array,
  pos: number,
  listlen: number,
  str: Uint8Array,
): boolean {
  const len = str.length;
  while (listlen >= len) {
    let eq = pos + len < b.length && b[pos + len] === 0;
    for (let i = 0; eq && i < len; i++) if (b[pos + i] !== str[i]) eq = false;
    if (eq) return true;
    let nul = -1;
    for (let i = 0; i < listlen; i++) {
      if (b[pos + i] === 0) {
        nul = i;
        break;
      }
    }
    if (nul < 0) return false; /* malformed strlist */
    listlen -= nul + 1;
    pos += nul + 1;
  }
  return false;
}

/** ASCII/UTF-8 bytes of a string. */
export function encodeAscii(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Throws the FdtError for a failed header probe. */
export function requireHeader(b: Uint8Array): void {
  if (b.length < 28) throw new FdtError("FDT_ERR_TRUNCATED", `blob of ${b.length} bytes`);
  check(checkHeader(b));
  if (b.length < headerSize(b)) throw new FdtError("FDT_ERR_TRUNCATED", "short header");
}
