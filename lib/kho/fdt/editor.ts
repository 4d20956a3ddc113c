/**
 * libfdt's read-write API (`fdt_rw.c` and `fdt_wip.c`, libfdt 1.6.1) byte for byte, on a
 * buffer the editor owns (or shares, see {@link FdtEditor.wrap}): `fdt_open_into`,
 * `fdt_add_subnode`, `fdt_setprop`, `fdt_delprop`, `fdt_del_node`, `fdt_pack`, and the
 * in-place `fdt_setprop_inplace` / `fdt_nop_property` / `fdt_nop_node`.
 *
 * Offsets are structure-block offsets, as libfdt's `nodeoffset`. Bytes the C code leaves
 * behind (past `totalsize`, value padding after a resize) are left behind here too, so
 * {@link FdtEditor.buffer} matches libfdt's whole buffer. Lengths and sizes follow the C
 * types: a property length read back is an `int` (0xfffffffc is -4: `fdt_delprop` then
 * removes 8 bytes, `fdt_nop_property` covers 8), sums of header fields are `unsigned int`s
 * that wrap.
 *
 * Differences from libfdt 1.6.1, only where it hangs or crashes (tests/kho/fdt/
 * length_wrap_test.ts pins them):
 * - a walk that reaches a property whose length wraps onto its own tag (0xfffffff4) loops
 *   forever in libfdt (`fdt_add_subnode`, `fdt_del_node`, `fdt_nop_node`, a property lookup
 *   that does not match that property's name, `fdt_open_into` of a v16 blob); here
 *   FDT_ERR_BADSTRUCTURE, the verdict libfdt ≥ 1.7.0 gives such a length;
 * - `fdt_open_into` / `fdt_pack` of a blob whose reservation map is not terminated count it as
 *   -112 bytes in libfdt, which then copies blocks to negative offsets or copies (size_t)-112
 *   bytes (memory corruption); here FDT_ERR_TRUNCATED, as for every copy or write that would
 *   go past the buffer (C has no bound there). `libfdtFaults` (ro.ts) counts these paths.
 *
 * @module
 */

import { FdtError } from "../../errors.ts";
import {
  cstring,
  encodeName,
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_LAST_COMPATIBLE_VERSION,
  FDT_LAST_SUPPORTED_VERSION,
  FDT_MAGIC,
  FDT_NOP,
  FDT_PROP,
  FDT_RSV_ENTRY_SIZE,
  FDT_TAGSIZE,
  FDT_V17_SIZE,
  getHeader,
  le64,
  RW_RSVMAP_OFFSET,
  setHeader,
  tagAlign,
  tagAlignInt,
  writeBe32,
} from "./format.ts";
import {
  check,
  checkNodeOffset,
  ERR,
  fdtError,
  getProperty,
  HANG_VERDICT,
  type NextOffset,
  nextTag,
  nodeEndOffset,
  numMemRsv,
  overrun,
  pathOffset,
  roProbe,
  stuckAt,
  subnodeOffset,
} from "./ro.ts";
import { FdtReader } from "./reader.ts";
import { findString } from "./writer.ts";

/** `fdt_blocks_misordered_` (C unsigned arithmetic). */
function blocksMisordered(b: Uint8Array, memRsvSize: number, structSize: number): boolean {
  const rsv = getHeader(b, "offMemRsvmap");
  const st = getHeader(b, "offDtStruct");
  const str = getHeader(b, "offDtStrings");
  return rsv < RW_RSVMAP_OFFSET ||
    st < ((rsv + memRsvSize) >>> 0) ||
    str < ((st + structSize) >>> 0) ||
    getHeader(b, "totalsize") < ((str + getHeader(b, "sizeDtStrings")) >>> 0);
}

/** Throws TRUNCATED unless `[off, off+len)` lies inside `b` (guards what C would overrun). */
function requireRange(b: Uint8Array, off: number, len: number): void {
  if (off < 0 || len < 0 || off + len > b.length) {
    overrun(0);
    throw new FdtError("FDT_ERR_TRUNCATED", `bytes [${off}, +${len}) past a ${b.length}-byte blob`);
  }
}

/**
 * `fdt_packblocks_(old, new, …)`: rsvmap at 40, structure and strings right behind. `oldB` and
 * `newB` are views whose index 0 is the blob start; they may share memory (memmove semantics).
 * All three copies are bounds-checked before the first one (FDT_ERR_TRUNCATED, nothing
 * changed) where C would read or write past its buffer.
 */
function packBlocks(
  oldB: Uint8Array,
  newB: Uint8Array,
  memRsvSize: number,
  structSize: number,
  stringsSize: number,
): void {
  const memRsvOff = RW_RSVMAP_OFFSET;
  const structOff = memRsvOff + memRsvSize;
  const stringsOff = structOff + structSize;
  const moves: [number, number, number][] = [
    [memRsvOff, getHeader(oldB, "offMemRsvmap"), memRsvSize],
    [structOff, getHeader(oldB, "offDtStruct"), structSize],
    [stringsOff, getHeader(oldB, "offDtStrings"), stringsSize],
  ];
  for (const [to, from, n] of moves) {
    requireRange(oldB, from, n);
    requireRange(newB, to, n);
  }
  const move = ([to, from, n]: [number, number, number]) => {
    newB.set(oldB.subarray(from, from + n), to); // set() on one buffer behaves as memmove
  };
  move(moves[0]);
  setHeader(newB, "offMemRsvmap", memRsvOff);
  move(moves[1]);
  setHeader(newB, "offDtStruct", structOff);
  setHeader(newB, "sizeDtStruct", structSize);
  move(moves[2]);
  setHeader(newB, "offDtStrings", stringsOff);
  setHeader(newB, "sizeDtStrings", getHeader(oldB, "sizeDtStrings"));
}

/**
 * A device tree edited in place with libfdt's read-write functions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FdtWriter } from "./writer.ts";
 * import { FdtEditor } from "./editor.ts";
 * import { le64 } from "./format.ts";
 * const w = FdtWriter.create(4096);
 * w.finishReservemap();
 * w.beginNode("");
 * w.propertyString("compatible", "kho-v1");
 * w.endNode();
 * w.finish();
 * const ed = FdtEditor.wrap(w.finishBuffer()); // the kernel's page, stale bytes and all
 * ed.openInto(4096);                          // fdt_open_into(root, root, PAGE_SIZE)
 * const off = ed.addSubnode(0, "memblock");
 * ed.setprop(off, "fdt", le64(0x117150000));
 * ed.pack();
 * assert.equal(ed.blob().length, ed.totalsize);
 * ```
 */
export class FdtEditor {
  #buf: Uint8Array;

  private constructor(buf: Uint8Array) {
    this.#buf = buf;
  }

  /**
   * `fdt_open_into(blob, buf, bufsize)` with a separate, zeroed buffer of `bufsize` bytes (as
   * pylibfdt's `Fdt.resize`). The result has `totalsize = bufsize`.
   */
  static openInto(blob: Uint8Array, bufsize: number): FdtEditor {
    if (!Number.isSafeInteger(bufsize) || bufsize < 0) {
      throw new FdtError("FDT_ERR_NOSPACE", `buffer of ${bufsize} bytes`);
    }
    const ed = new FdtEditor(new Uint8Array(bufsize));
    ed.#openInto(blob, bufsize, false);
    return ed;
  }

  /**
   * Edits `buffer` itself (no copy): the caller's memory is the blob, as the kernel edits
   * its root page. Call {@link FdtEditor.openInto} (in place) or edit a finished blob directly.
   */
  static wrap(buffer: Uint8Array): FdtEditor {
    return new FdtEditor(buffer);
  }

  /**
   * In-place `fdt_open_into(fdt, fdt, bufsize)`. If `bufsize` exceeds the buffer, the editor
   * moves to a larger zero-extended copy first (it then no longer shares the wrapped memory).
   */
  openInto(bufsize: number): void {
    if (!Number.isSafeInteger(bufsize) || bufsize < 0) {
      throw new FdtError("FDT_ERR_NOSPACE", `buffer of ${bufsize} bytes`);
    }
    if (bufsize > this.#buf.length) {
      const bigger = new Uint8Array(bufsize);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    this.#openInto(this.#buf, bufsize, true);
  }

  /** Current `totalsize` from the header. */
  get totalsize(): number {
    return getHeader(this.#buf, "totalsize");
  }

  /** Size of the underlying buffer (capacity). */
  get capacity(): number {
    return this.#buf.length;
  }

  /** A copy of the blob: the first `totalsize` bytes. */
  blob(): Uint8Array {
    return this.#buf.slice(0, Math.min(this.totalsize, this.#buf.length));
  }

  /** A copy of the whole buffer, bytes past `totalsize` included. */
  buffer(): Uint8Array {
    return this.#buf.slice();
  }

  /** A reader over the current bytes (no copy: valid until the next edit). */
  reader(): FdtReader {
    return new FdtReader(this.#buf.subarray(0, Math.min(this.totalsize, this.#buf.length)));
  }

  /** `fdt_path_offset(path)`. */
  pathOffset(path: string): number {
    return check(pathOffset(this.#buf, encodeName(path)), path);
  }

  /** `fdt_subnode_offset(parent, name)`. */
  subnodeOffset(parentOffset: number, name: string): number {
    return check(subnodeOffset(this.#buf, parentOffset, encodeName(name)), name);
  }

  /**
   * `fdt_add_subnode(parent, name)`: inserted right after the parent's properties (before its
   * existing children). Returns the new node's offset; FDT_ERR_EXISTS if the name is taken.
   */
  addSubnode(parentOffset: number, name: string): number {
    const b = this.#buf;
    this.#rwProbe();
    const n = encodeName(name);
    let offset = subnodeOffset(b, parentOffset, n);
    if (offset >= 0) throw new FdtError("FDT_ERR_EXISTS", name);
    if (offset !== ERR.NOTFOUND) throw fdtError(offset, name);
    // Place the new node after the parent's properties.
    const o: NextOffset = { next: 0 };
    let tag = nextTag(b, parentOffset, o);
    if (tag !== FDT_BEGIN_NODE) throw new FdtError("FDT_ERR_INTERNAL", "parent is not a node");
    do {
      offset = o.next;
      tag = nextTag(b, offset, o);
      if (tag === FDT_PROP && stuckAt(offset, o)) throw fdtError(HANG_VERDICT, "property loop");
    } while (tag === FDT_PROP || tag === FDT_NOP);
    const nh = getHeader(b, "offDtStruct") + offset;
    const namelen = tagAlign(n.length + 1);
    const nodelen = FDT_TAGSIZE + namelen + FDT_TAGSIZE;
    check(this.#spliceStruct(nh, 0, nodelen));
    writeBe32(b, nh, FDT_BEGIN_NODE);
    b.fill(0, nh + FDT_TAGSIZE, nh + FDT_TAGSIZE + namelen);
    b.set(n, nh + FDT_TAGSIZE);
    writeBe32(b, nh + nodelen - FDT_TAGSIZE, FDT_END_NODE);
    return offset;
  }

  /**
   * `fdt_setprop(node, name, value)`: an existing property is resized in place; a new one is
   * spliced in right after the node's name, its name appended to the strings block.
   */
  setprop(nodeOffset: number, name: string, value: Uint8Array): void {
    const data = this.#setpropPlaceholder(nodeOffset, encodeName(name), value.length);
    if (value.length) this.#buf.set(value, data);
  }

  /** `fdt_setprop_string(node, name, s)`: `s` plus its NUL. */
  setpropString(nodeOffset: number, name: string, value: string): void {
    this.setprop(nodeOffset, name, cstring(value));
  }

  /** KHO's raw u64 property (`fdt_setprop(fdt, off, name, &u64, 8)` on little-endian). */
  setpropLe64(nodeOffset: number, name: string, value: number): void {
    this.setprop(nodeOffset, name, le64(value));
  }

  /**
   * `fdt_setprop_placeholder(node, name, len, &data)`: returns the absolute buffer offset of
   * the value for the caller to fill (see {@link FdtEditor.writeBytes}).
   */
  setpropPlaceholder(nodeOffset: number, name: string, len: number): number {
    return this.#setpropPlaceholder(nodeOffset, encodeName(name), len);
  }

  /** Writes raw bytes at an absolute buffer offset (fills a placeholder). */
  writeBytes(absOffset: number, bytes: Uint8Array): void {
    requireRange(this.#buf, absOffset, bytes.length);
    this.#buf.set(bytes, absOffset);
  }

  /** `fdt_setprop_inplace(node, name, value)`: same length only, else FDT_ERR_NOSPACE. */
  setpropInplace(nodeOffset: number, name: string, value: Uint8Array): void {
    const prop = getProperty(this.#buf, nodeOffset, encodeName(name));
    if (typeof prop === "number") throw fdtError(prop, name);
    if (prop.len !== value.length) {
      throw new FdtError("FDT_ERR_NOSPACE", `${name}: ${prop.len} bytes, not ${value.length}`);
    }
    requireRange(this.#buf, prop.data, value.length);
    this.#buf.set(value, prop.data);
  }

  /**
   * `fdt_delprop(node, name)`: the record is spliced out; FDT_ERR_NOTFOUND if absent. The
   * record's size is `12 + FDT_TAGALIGN(len)` in C `int`s: a length of 0xfffffff4…0xffffffff
   * removes 0…12 bytes, as libfdt does.
   */
  delprop(nodeOffset: number, name: string): void {
    this.#rwProbe();
    const prop = getProperty(this.#buf, nodeOffset, encodeName(name));
    if (typeof prop === "number") throw fdtError(prop, name);
    check(this.#spliceStruct(prop.abs, (12 + tagAlignInt(prop.len)) | 0, 0));
  }

  /** `fdt_del_node(node)`: the node and its sub-tree are spliced out. */
  delNode(nodeOffset: number): void {
    this.#rwProbe();
    const end = check(nodeEndOffset(this.#buf, nodeOffset));
    const abs = getHeader(this.#buf, "offDtStruct") + nodeOffset;
    check(this.#spliceStruct(abs, end - nodeOffset, 0));
  }

  /**
   * `fdt_nop_property(node, name)`: the record is overwritten with FDT_NOP tags: `len + 12`
   * bytes, truncated to a C `int` (a length of 0xfffffff4…0xffffffff covers 0…11 bytes).
   */
  nopProperty(nodeOffset: number, name: string): void {
    const prop = getProperty(this.#buf, nodeOffset, encodeName(name));
    if (typeof prop === "number") throw fdtError(prop, name);
    this.#nopRegion(prop.abs, (prop.len + 12) | 0);
  }

  /** `fdt_nop_node(node)`: the node and its sub-tree are overwritten with FDT_NOP tags. */
  nopNode(nodeOffset: number): void {
    const end = check(nodeEndOffset(this.#buf, nodeOffset));
    this.#nopRegion(getHeader(this.#buf, "offDtStruct") + nodeOffset, end - nodeOffset);
  }

  /**
   * `fdt_pack()`: rsvmap at 40, structure and strings right behind, `totalsize` = end of the
   * strings. Bytes past the new end keep their old values.
   */
  pack(): void {
    this.#rwProbe();
    const b = this.#buf;
    const n = numMemRsv(b);
    if (n < 0) {
      // libfdt 1.6.1 does not check: it packs (-FDT_ERR_TRUNCATED + 1) * 16 = -112 bytes of
      // map, i.e. moves the structure block to offset -72, before its buffer.
      throw overrun(fdtError(n, "unterminated reservation map"));
    }
    packBlocks(
      b,
      b,
      (n + 1) * FDT_RSV_ENTRY_SIZE,
      getHeader(b, "sizeDtStruct"),
      getHeader(b, "sizeDtStrings"),
    );
    setHeader(b, "totalsize", this.#dataSize());
  }

  // ---- internals, mirroring fdt_rw.c ----

  #openInto(src: Uint8Array, bufsize: number, inPlace: boolean): void {
    const dst = this.#buf;
    check(roProbe(src));
    // libfdt 1.6.1 does not check fdt_num_mem_rsv here: an unterminated map counts
    // (-FDT_ERR_TRUNCATED + 1) * 16 = -112 bytes. A map at offset 112 or more then still looks
    // in order and the blob is moved as is; otherwise libfdt repacks with a memmove of
    // (size_t)-112 bytes and corrupts memory, where packBlocks reports FDT_ERR_TRUNCATED.
    const memRsvSize = ((numMemRsv(src) + 1) * FDT_RSV_ENTRY_SIZE) | 0;
    const version = getHeader(src, "version");
    let structSize: number;
    if (version >= 17) {
      structSize = getHeader(src, "sizeDtStruct") | 0; /* C int */
    } else if (version === 16) {
      const o: NextOffset = { next: 0 };
      structSize = 0;
      while (nextTag(src, structSize, o) !== FDT_END) {
        if (stuckAt(structSize, o)) throw fdtError(HANG_VERDICT, "property loop");
        structSize = o.next;
      }
      structSize = o.next;
      check(structSize);
    } else {
      throw new FdtError("FDT_ERR_BADVERSION", `version ${version}`);
    }
    const srcTotal = getHeader(src, "totalsize");
    if (!blocksMisordered(src, memRsvSize, structSize)) {
      // fdt_move(fdt, buf, bufsize)
      if (srcTotal > bufsize) throw new FdtError("FDT_ERR_NOSPACE", `${srcTotal} > ${bufsize}`);
      if (!inPlace) {
        requireRange(src, 0, srcTotal);
        dst.set(src.subarray(0, srcTotal), 0);
      }
      setHeader(dst, "version", 17);
      setHeader(dst, "sizeDtStruct", structSize);
      setHeader(dst, "totalsize", bufsize);
      return;
    }
    // Need to reorder.
    const stringsSize = getHeader(src, "sizeDtStrings") | 0;
    const newsize = (RW_RSVMAP_OFFSET + memRsvSize + structSize + stringsSize) | 0;
    if (bufsize < newsize) throw new FdtError("FDT_ERR_NOSPACE", `${newsize} > ${bufsize}`);
    let tmp = 0;
    if (inPlace) {
      // The packed copy would overlap the old tree: build it right after the old tree.
      tmp = srcTotal;
      if (tmp + newsize > bufsize) throw new FdtError("FDT_ERR_NOSPACE", "no room to reorder");
    }
    packBlocks(src, dst.subarray(tmp), memRsvSize, structSize, stringsSize);
    dst.copyWithin(0, tmp, tmp + newsize);
    setHeader(dst, "magic", FDT_MAGIC);
    setHeader(dst, "totalsize", bufsize);
    setHeader(dst, "version", FDT_LAST_SUPPORTED_VERSION);
    setHeader(dst, "lastCompVersion", FDT_LAST_COMPATIBLE_VERSION);
    setHeader(dst, "bootCpuidPhys", getHeader(src, "bootCpuidPhys"));
  }

  /** `fdt_rw_probe_`. */
  #rwProbe(): void {
    const b = this.#buf;
    if (b.length < FDT_V17_SIZE) {
      throw overrun(new FdtError("FDT_ERR_TRUNCATED", "buffer too small"));
    }
    check(roProbe(b));
    if (getHeader(b, "version") < 17) throw new FdtError("FDT_ERR_BADVERSION");
    if (blocksMisordered(b, FDT_RSV_ENTRY_SIZE, getHeader(b, "sizeDtStruct"))) {
      throw new FdtError("FDT_ERR_BADLAYOUT");
    }
    if (getHeader(b, "totalsize") > b.length) {
      const detail = `totalsize ${this.totalsize} > buffer ${b.length}`;
      throw overrun(new FdtError("FDT_ERR_TRUNCATED", detail));
    }
    if (getHeader(b, "version") > FDT_LAST_SUPPORTED_VERSION) {
      setHeader(b, "version", FDT_LAST_SUPPORTED_VERSION);
    }
  }

  /** `fdt_data_size_`: end of the strings block, an `unsigned int` sum (wraps). */
  #dataSize(): number {
    return (getHeader(this.#buf, "offDtStrings") + getHeader(this.#buf, "sizeDtStrings")) >>> 0;
  }

  /**
   * `fdt_splice_`: memmove the data tail so `oldlen` bytes at `p` become `newlen` (C `int`s;
   * the data size and the room check are `unsigned int` sums that wrap).
   */
  #splice(p: number, oldlen: number, newlen: number): number {
    const dsize = this.#dataSize();
    if (oldlen < 0 || p + oldlen > dsize) return ERR.BADOFFSET;
    if (p < 0 || ((dsize + newlen) >>> 0) < oldlen) return ERR.BADOFFSET;
    if (((dsize - oldlen + newlen) >>> 0) > this.totalsize) return ERR.NOSPACE;
    const b = this.#buf;
    requireRange(b, p + oldlen, dsize - p - oldlen); // what C would read past its buffer
    requireRange(b, p + newlen, dsize - p - oldlen); // …or write past it
    b.copyWithin(p + newlen, p + oldlen, dsize);
    return 0;
  }

  #spliceStruct(p: number, oldlen: number, newlen: number): number {
    const err = this.#splice(p, oldlen, newlen);
    if (err) return err;
    const b = this.#buf;
    const delta = newlen - oldlen;
    setHeader(b, "sizeDtStruct", getHeader(b, "sizeDtStruct") + delta);
    setHeader(b, "offDtStrings", getHeader(b, "offDtStrings") + delta);
    return 0;
  }

  /** `fdt_find_add_string_` (read-write flavour: new names are appended). */
  #findAddString(s: Uint8Array): { off: number; allocated: boolean } {
    const b = this.#buf;
    const strtab = getHeader(b, "offDtStrings");
    const size = getHeader(b, "sizeDtStrings");
    // fdt_find_string_ takes the size as an int (≥ 2^31: nothing to search); the search stops
    // at the end of the buffer, where C would read past it.
    if ((size | 0) > b.length - strtab) overrun(0);
    const p = findString(b, strtab, Math.min(size | 0, b.length - strtab), s);
    if (p >= 0) return { off: p - strtab, allocated: false };
    const at = strtab + size;
    const err = this.#splice(at, 0, s.length + 1);
    if (err) return { off: err, allocated: false };
    setHeader(b, "sizeDtStrings", size + s.length + 1);
    b.set(s, at);
    b[at + s.length] = 0;
    return { off: at - strtab, allocated: true };
  }

  #setpropPlaceholder(nodeOffset: number, name: Uint8Array, len: number): number {
    if (!Number.isSafeInteger(len) || len < 0 || len > 0x7fffffff) {
      throw new RangeError(`property length ${len}`);
    }
    this.#rwProbe();
    const b = this.#buf;
    // fdt_resize_property_
    const prop = getProperty(b, nodeOffset, name);
    if (typeof prop !== "number") {
      check(this.#spliceStruct(prop.data, tagAlignInt(prop.len), tagAlign(len)));
      writeBe32(b, prop.abs + 4, len);
      return prop.data;
    }
    if (prop !== ERR.NOTFOUND) throw fdtError(prop);
    // fdt_add_property_
    const nextoffset = check(checkNodeOffset(b, nodeOffset));
    const str = this.#findAddString(name);
    check(str.off);
    const at = getHeader(b, "offDtStruct") + nextoffset;
    const err = this.#spliceStruct(at, 0, 12 + tagAlign(len));
    if (err) {
      if (str.allocated) {
        setHeader(b, "sizeDtStrings", getHeader(b, "sizeDtStrings") - name.length - 1);
      }
      throw fdtError(err);
    }
    writeBe32(b, at, FDT_PROP);
    writeBe32(b, at + 8, str.off);
    writeBe32(b, at + 4, len);
    return at + 12;
  }

  /** `fdt_nop_region_`: whole 32-bit words from `start` while below `start + len`. */
  #nopRegion(start: number, len: number): void {
    const b = this.#buf;
    if (len <= 0) return;
    requireRange(b, start, Math.ceil(len / 4) * 4); // all or nothing (C would write past it)
    for (let p = start; p < start + len; p += 4) writeBe32(b, p, FDT_NOP);
  }
}
