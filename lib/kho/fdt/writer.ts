/**
 * libfdt's sequential-write API (`fdt_sw.c`, libfdt 1.6.1) byte for byte: the structure block
 * grows upward from the reservation map, the strings table grows downward from the end of the
 * buffer with suffix-sharing de-duplication, and {@link FdtWriter.finish} moves the strings
 * down behind the structure without clearing their old copy.
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
  FDT_PROP,
  FDT_RSV_ENTRY_SIZE,
  FDT_SW_MAGIC,
  FDT_TAGSIZE,
  getHeader,
  le64,
  readBe32,
  setHeader,
  SW_RSVMAP_OFFSET,
  tagAlign,
  writeBe32,
  writeBe64,
} from "./format.ts";
import { ERR, fdtError, type NextOffset, nextTag } from "./ro.ts";

/** Options of {@link FdtWriter.create}. */
export interface FdtWriterOptions {
  /**
   * Grow the buffer when full, like pylibfdt's `FdtSw` (which calls `fdt_resize` to
   * `size + growStepBytes` and retries). Default false: a full buffer throws
   * `FDT_ERR_NOSPACE`, as the kernel's `fdt_create(buf, PAGE_SIZE)` does.
   */
  grow?: boolean;
  /** Growth step in bytes (pylibfdt's `FdtSw.INC_SIZE` = 1024). */
  growStepBytes?: number;
}

/** A property value reserved by {@link FdtWriter.propertyPlaceholder}, filled later. */
export interface PlaceholderHandle {
  /** Absolute offset of the value in the writer's buffer (unchanged by finish). */
  readonly valueOffset: number;
  /** Value length in bytes. */
  readonly len: number;
}

/**
 * A device tree being written sequentially (`fdt_create` … `fdt_finish`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FdtWriter } from "./writer.ts";
 * import { le64 } from "./format.ts";
 * const w = FdtWriter.create(4096);
 * w.finishReservemap();
 * w.beginNode("");
 * w.propertyString("compatible", "kho-v1");
 * w.property("preserved-memory-map", le64(0));
 * w.endNode();
 * const blob = w.finish(); // exactly totalsize bytes
 * assert.equal(blob.length, 152); // 48 header + 16 rsvmap + 56 struct + 32 strings
 * ```
 */
export class FdtWriter {
  #buf: Uint8Array;
  readonly #grow: boolean;
  readonly #step: number;

  private constructor(bufsize: number, options: FdtWriterOptions) {
    this.#grow = options.grow ?? false;
    this.#step = options.growStepBytes ?? 1024;
    if (!Number.isSafeInteger(bufsize) || bufsize < SW_RSVMAP_OFFSET) {
      throw new FdtError("FDT_ERR_NOSPACE", `fdt_create: buffer of ${bufsize} bytes`);
    }
    if (!(this.#step > 0)) throw new RangeError(`growStepBytes ${this.#step}`);
    // fdt_create_with_flags(buf, bufsize, 0): memset, SW magic, flags in last_comp_version.
    this.#buf = new Uint8Array(bufsize);
    setHeader(this.#buf, "magic", FDT_SW_MAGIC);
    setHeader(this.#buf, "version", FDT_LAST_SUPPORTED_VERSION);
    setHeader(this.#buf, "lastCompVersion", 0);
    setHeader(this.#buf, "totalsize", bufsize);
    setHeader(this.#buf, "offMemRsvmap", SW_RSVMAP_OFFSET);
    setHeader(this.#buf, "offDtStruct", SW_RSVMAP_OFFSET);
    setHeader(this.#buf, "offDtStrings", 0);
  }

  /** `fdt_create(buf, bufsize)`: a zeroed buffer of `bufsize` bytes (at least 48). */
  static create(bufsize: number, options: FdtWriterOptions = {}): FdtWriter {
    return new FdtWriter(bufsize, options);
  }

  /** Current buffer size (`totalsize` while writing). */
  get bufsize(): number {
    return this.#buf.length;
  }

  /** `fdt_add_reservemap_entry(addr, size)`. */
  addReservemapEntry(address: number, size: number): void {
    this.#retry(() => this.#addReservemapEntry(address, size));
  }

  /** `fdt_finish_reservemap()`: terminator entry; enters the "struct" state. */
  finishReservemap(): void {
    this.#retry(() => {
      const err = this.#addReservemapEntry(0, 0);
      if (err) return err;
      setHeader(this.#buf, "offDtStrings", getHeader(this.#buf, "totalsize"));
      return 0;
    });
  }

  /** `fdt_begin_node(name)`. */
  beginNode(name: string): void {
    const n = encodeName(name);
    this.#retry(() => {
      const err = this.#probeStruct();
      if (err) return err;
      const nh = this.#grabSpace(FDT_TAGSIZE + tagAlign(n.length + 1));
      if (nh < 0) return ERR.NOSPACE;
      writeBe32(this.#buf, nh, FDT_BEGIN_NODE);
      this.#buf.set(n, nh + FDT_TAGSIZE);
      this.#buf[nh + FDT_TAGSIZE + n.length] = 0;
      return 0;
    });
  }

  /** `fdt_end_node()`. */
  endNode(): void {
    this.#retry(() => {
      const err = this.#probeStruct();
      if (err) return err;
      const en = this.#grabSpace(FDT_TAGSIZE);
      if (en < 0) return ERR.NOSPACE;
      writeBe32(this.#buf, en, FDT_END_NODE);
      return 0;
    });
  }

  /** `fdt_property(name, val, len)`: the bytes are stored as given. */
  property(name: string, value: Uint8Array): void {
    const h = this.propertyPlaceholder(name, value.length);
    this.#buf.set(value, h.valueOffset);
  }

  /** `fdt_property_string(name, s)`: `s` plus its NUL. */
  propertyString(name: string, value: string): void {
    this.property(name, cstring(value));
  }

  /** KHO's raw u64 property (`fdt_property(fdt, name, &u64, 8)` on a little-endian CPU). */
  propertyLe64(name: string, value: number): void {
    this.property(name, le64(value));
  }

  /**
   * `fdt_property_placeholder(name, len, &valp)`: reserves the record; fill the value with
   * {@link FdtWriter.fillPlaceholder} before {@link FdtWriter.finish}.
   */
  propertyPlaceholder(name: string, len: number): PlaceholderHandle {
    if (!Number.isSafeInteger(len) || len < 0) throw new RangeError(`property length ${len}`);
    const n = encodeName(name);
    let valueOffset = -1;
    this.#retry(() => {
      const err = this.#probeStruct();
      if (err) return err;
      const found = this.#findAddString(n);
      if (found.nameoff === 0) return ERR.NOSPACE;
      const prop = this.#grabSpace(12 + tagAlign(len));
      if (prop < 0) {
        if (found.allocated) {
          setHeader(
            this.#buf,
            "sizeDtStrings",
            getHeader(this.#buf, "sizeDtStrings") - n.length - 1,
          );
        }
        return ERR.NOSPACE;
      }
      writeBe32(this.#buf, prop, FDT_PROP);
      writeBe32(this.#buf, prop + 8, found.nameoff);
      writeBe32(this.#buf, prop + 4, len);
      valueOffset = prop + 12;
      return 0;
    });
    return { valueOffset, len };
  }

  /** Writes a placeholder's value (the caller's `memcpy(valp, …)`). */
  fillPlaceholder(handle: PlaceholderHandle, value: Uint8Array): void {
    if (value.length !== handle.len) {
      throw new RangeError(`placeholder of ${handle.len} bytes filled with ${value.length}`);
    }
    this.#buf.set(value, handle.valueOffset);
  }

  /**
   * `fdt_finish()`: appends FDT_END, moves the strings behind the structure, fixes the name
   * offsets and the header. Returns a copy of the blob (exactly `totalsize` bytes).
   */
  finish(): Uint8Array {
    this.#retry(() => this.#finish());
    return this.#buf.slice(0, getHeader(this.#buf, "totalsize"));
  }

  /** A copy of the whole buffer, including the stale bytes past `totalsize`. */
  finishBuffer(): Uint8Array {
    return this.#buf.slice();
  }

  // ---- internals, mirroring fdt_sw.c ----

  #retry(op: () => number): void {
    for (;;) {
      const err = op();
      if (err === 0) return;
      if (err === ERR.NOSPACE && this.#grow) {
        this.#resize(this.#buf.length + this.#step);
        continue;
      }
      throw fdtError(err);
    }
  }

  /** `fdt_resize(fdt, newbuf, bufsize)` into a fresh zeroed buffer. */
  #resize(bufsize: number): void {
    const old = this.#buf;
    const err = this.#probe();
    if (err) throw fdtError(err);
    const headsize = getHeader(old, "offDtStruct") + getHeader(old, "sizeDtStruct");
    const tailsize = getHeader(old, "sizeDtStrings");
    const ts = getHeader(old, "totalsize");
    const buf = new Uint8Array(bufsize);
    buf.set(old.subarray(0, headsize), 0);
    buf.set(old.subarray(ts - tailsize, ts), bufsize - tailsize);
    setHeader(buf, "totalsize", bufsize);
    if (getHeader(buf, "offDtStrings")) setHeader(buf, "offDtStrings", bufsize);
    this.#buf = buf;
  }

  #probe(): number {
    const magic = getHeader(this.#buf, "magic");
    if (magic === FDT_MAGIC) return ERR.BADSTATE;
    if (magic !== FDT_SW_MAGIC) return ERR.BADMAGIC;
    return 0;
  }

  #probeMemrsv(): number {
    const err = this.#probe();
    if (err) return err;
    return getHeader(this.#buf, "offDtStrings") !== 0 ? ERR.BADSTATE : 0;
  }

  #probeStruct(): number {
    const err = this.#probe();
    if (err) return err;
    const b = this.#buf;
    return getHeader(b, "offDtStrings") !== getHeader(b, "totalsize") ? ERR.BADSTATE : 0;
  }

  #addReservemapEntry(address: number, size: number): number {
    const err = this.#probeMemrsv();
    if (err) return err;
    const offset = getHeader(this.#buf, "offDtStruct");
    if (offset + FDT_RSV_ENTRY_SIZE > getHeader(this.#buf, "totalsize")) return ERR.NOSPACE;
    writeBe64(this.#buf, offset, address);
    writeBe64(this.#buf, offset + 8, size);
    setHeader(this.#buf, "offDtStruct", offset + FDT_RSV_ENTRY_SIZE);
    return 0;
  }

  /** `fdt_grab_space_`: absolute offset of `len` new structure bytes, or -1. */
  #grabSpace(len: number): number {
    const b = this.#buf;
    const offset = getHeader(b, "sizeDtStruct");
    const spaceleft = getHeader(b, "totalsize") - getHeader(b, "offDtStruct") -
      getHeader(b, "sizeDtStrings");
    if (offset + len > spaceleft) return -1;
    setHeader(b, "sizeDtStruct", offset + len);
    return getHeader(b, "offDtStruct") + offset;
  }

  /** `fdt_find_add_string_`: negative offset from the end of the buffer; 0 = no room. */
  #findAddString(s: Uint8Array): { nameoff: number; allocated: boolean } {
    const b = this.#buf;
    const ts = getHeader(b, "totalsize");
    const strtabsize = getHeader(b, "sizeDtStrings");
    const start = ts - strtabsize;
    const p = findString(b, start, strtabsize, s);
    if (p >= 0) return { nameoff: p - ts, allocated: false };
    // fdt_add_string_
    const len = s.length + 1;
    const structTop = getHeader(b, "offDtStruct") + getHeader(b, "sizeDtStruct");
    if (ts - strtabsize - len < structTop) return { nameoff: 0, allocated: true };
    const at = ts - strtabsize - len;
    b.set(s, at);
    b[at + s.length] = 0;
    setHeader(b, "sizeDtStrings", strtabsize + len);
    return { nameoff: -strtabsize - len, allocated: true };
  }

  #finish(): number {
    const err = this.#probeStruct();
    if (err) return err;
    const b = this.#buf;
    const end = this.#grabSpace(FDT_TAGSIZE);
    if (end < 0) return ERR.NOSPACE;
    writeBe32(b, end, FDT_END);
    // Relocate the string table (the old copy stays behind).
    const sizeStrings = getHeader(b, "sizeDtStrings");
    const oldstroffset = getHeader(b, "totalsize") - sizeStrings;
    const newstroffset = getHeader(b, "offDtStruct") + getHeader(b, "sizeDtStruct");
    b.copyWithin(newstroffset, oldstroffset, oldstroffset + sizeStrings);
    setHeader(b, "offDtStrings", newstroffset);
    // Walk the structure, correcting string offsets.
    const o: NextOffset = { next: 0 };
    let offset = 0;
    let tag: number;
    const base = getHeader(b, "offDtStruct");
    while ((tag = nextTag(b, offset, o)) !== FDT_END) {
      if (tag === FDT_PROP) {
        const at = base + offset + 8;
        const nameoff = readBe32(b, at) | 0;
        writeBe32(b, at, nameoff + sizeStrings);
      }
      offset = o.next;
    }
    if (o.next < 0) return o.next;
    setHeader(b, "totalsize", newstroffset + sizeStrings);
    setHeader(b, "lastCompVersion", FDT_LAST_COMPATIBLE_VERSION);
    setHeader(b, "magic", FDT_MAGIC);
    return 0;
  }
}

/**
 * `fdt_find_string_`: the first position in `b[start, start+size)` where `s` plus NUL occurs
 * (any byte position, so suffixes of existing names are shared), or -1.
 */
export function findString(b: Uint8Array, start: number, size: number, s: Uint8Array): number {
  const len = s.length + 1;
  const last = start + size - len;
  const first = s.length > 0 ? s[0] : 0;
  outer: for (let p = start; p <= last; p++) {
    if (b[p] !== first) continue;
    for (let i = 1; i < s.length; i++) if (b[p + i] !== s[i]) continue outer;
    if (b[p + s.length] === 0) return p;
  }
  return -1;
}
