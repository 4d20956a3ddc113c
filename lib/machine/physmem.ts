/**
 * Simulated physical memory: what survives a kexec.
 *
 * Memory is sparse. Each 128 MiB section that was ever written has a record; inside it a
 * page is either *materialized* (4096 real bytes) or described by a *content descriptor*:
 * zero, a uniform byte, or a seeded pseudo-random pattern. Filling 1 TiB with random
 * content therefore stores one descriptor per section, and a page gets real bytes only
 * when something writes part of it. Untouched memory reads as whatever was last written,
 * zero at power-on.
 *
 * All multi-byte accesses are little-endian, as x86_64 kernels write them.
 *
 * @module
 */

import { PhysRangeError } from "../errors.ts";
import { PAGE_SIZE, PAGES_PER_SECTION } from "../units.ts";

const WORDS_PER_PAGE = PAGE_SIZE / 4;
const MASK64 = (1n << 64n) - 1n;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("kholab needs a little-endian host");
}

/**
 * How a range of memory is filled: a uniform byte, a seeded pseudo-random pattern, or
 * (`pagePattern`) every page its own seeded pattern — page `pfn` reads as the pattern of seed
 * {@link pageSeed}`(seed, pfn)` would there, one descriptor for any number of pages.
 */
export type FillSpec =
  | { readonly byte: number }
  | { readonly pattern: number }
  | { readonly pagePattern: number };

/**
 * The pattern seed of page `pfn` under `{ pagePattern: seed }`:
 * `(pfn × 0x9E3779B1 mod 2^32) XOR seed`, the low 32 bits of the pfn taken.
 */
export function pageSeed(seed: number, pfn: number): number {
  return (Math.imul(pfn | 0, 0x9e3779b1) ^ seed) >>> 0;
}

/**
 * A content descriptor: zero, a uniform byte, a pattern of (seed, shift), or a pattern whose
 * seed is the page's own ({@link pageSeed}).
 */
interface Descriptor {
  readonly id: number;
  /** "byte" for uniform pages, "pattern" for seeded pseudo-random pages, "page" for per-page seeds. */
  readonly kind: "byte" | "pattern" | "page";
  /** The byte value, or the pattern seed (u32). */
  readonly value: number;
  /** Pattern only: page content at pfn is generated for position pfn - shiftPages. */
  readonly shiftPages: number;
  /** Whether the identity lanes are computed (not for "page": each page has its own). */
  idSet: boolean;
  /** 64-bit content identity used by {@link PhysicalMemory.hash64}: low and high u32. */
  idLo: number;
  idHi: number;
}

/**
 * A 64-bit sum modulo 2^64 in two u32 lanes, with `id × m` terms (`m` a non-negative
 * integer below 2^53): {@link PhysicalMemory.hash64}'s arithmetic without BigInt.
 */
class Sum64 {
  lo = 0;
  hi = 0;

  /** Adds `(idHi:idLo) × m` modulo 2^64. */
  addMul(idLo: number, idHi: number, m: number): void {
    const mLo = m >>> 0;
    const mHi = (m - mLo) / 4294967296;
    // idLo × mLo exactly, from 16-bit halves
    const a0 = idLo & 0xffff, a1 = idLo >>> 16, b0 = mLo & 0xffff, b1 = mLo >>> 16;
    const mid = a0 * b1 + a1 * b0; // < 2^33
    const low = a0 * b0 + (mid % 65536) * 65536; // < 2^33
    const pLo = low >>> 0;
    const pHi = a1 * b1 + Math.floor(mid / 65536) + Math.floor(low / 4294967296);
    const cross = Math.imul(idLo, mHi) + Math.imul(idHi, mLo);
    const lo = this.lo + pLo;
    this.lo = lo >>> 0;
    this.hi = (this.hi + pHi + cross + (lo >= 4294967296 ? 1 : 0)) >>> 0;
  }

  /** Subtracts `(idHi:idLo) × m` modulo 2^64. */
  subMul(idLo: number, idHi: number, m: number): void {
    // −id = ~id + 1
    const nLo = (~idLo + 1) >>> 0;
    const nHi = (~idHi + (nLo === 0 ? 1 : 0)) >>> 0;
    this.addMul(nLo, nHi, m);
  }

  /** The sum as a bigint. */
  value(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

/**
 * Owners of frames and sections: a {@link PhysicalMemory} writes in place only what it owns;
 * what a clone shares with its original (owned by neither once cloned) is copied on write.
 */
let nextOwner = 1;

/** A materialized page: its bytes and a word view of the same buffer. */
class PageFrame {
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  /** The memory that may write it in place. */
  readonly owner: number;
  constructor(owner: number, u8?: Uint8Array) {
    this.owner = owner;
    this.u8 = u8 ?? new Uint8Array(PAGE_SIZE);
    this.u32 = new Uint32Array(this.u8.buffer, this.u8.byteOffset, WORDS_PER_PAGE);
  }
}

/** Entries a section keeps in a `Map` before it takes a dense array of descriptor ids. */
const DENSE_AT = 4096;
/** Dense ids: no entry (the section's base), and a materialized frame (in `frames`). */
const ABSENT = -1;
const FRAME = -2;

/**
 * The pages of one section that differ from its base, by offset: a `Map` while they are few,
 * then (from {@link DENSE_AT} entries) a dense array of descriptor ids beside a `Map` of the
 * materialized frames — a section of a million scattered filled pages costs an array store
 * per page, not a `Map` entry.
 */
class SectionPages {
  #map: Map<number, PageFrame | number> | null = new Map();
  #ids: Int32Array | null = null;
  #frames: Map<number, PageFrame> | null = null;
  #size = 0;

  /** Entries. */
  get size(): number {
    return this.#map !== null ? this.#map.size : this.#size;
  }

  get(off: number): PageFrame | number | undefined {
    if (this.#map !== null) return this.#map.get(off);
    const id = this.#ids![off];
    return id >= 0 ? id : id === ABSENT ? undefined : this.#frames!.get(off);
  }

  set(off: number, e: PageFrame | number): void {
    const map = this.#map;
    if (map !== null) {
      map.set(off, e);
      if (map.size >= DENSE_AT) this.#densify();
      return;
    }
    const ids = this.#ids!;
    const old = ids[off];
    if (old === ABSENT) this.#size++;
    else if (old === FRAME && typeof e === "number") this.#frames!.delete(off);
    if (typeof e === "number") ids[off] = e;
    else {
      ids[off] = FRAME;
      this.#frames!.set(off, e);
    }
  }

  delete(off: number): void {
    if (this.#map !== null) {
      this.#map.delete(off);
      return;
    }
    const ids = this.#ids!;
    const old = ids[off];
    if (old === ABSENT) return;
    if (old === FRAME) this.#frames!.delete(off);
    ids[off] = ABSENT;
    this.#size--;
  }

  clear(): void {
    this.#map = new Map();
    this.#ids = null;
    this.#frames = null;
    this.#size = 0;
  }

  /**
   * Offsets `[a, b)` all hold descriptor `desc`, or (when `desc` is the section's `base`) no
   * entry: as `set` / `delete` of each, a long range in the dense array directly.
   */
  fillRange(a: number, b: number, desc: number, base: number): void {
    if (this.#map !== null && this.#map.size + (b - a) >= DENSE_AT && desc !== base) {
      this.#densify();
    }
    if (this.#map !== null) {
      for (let off = a; off < b; off++) {
        if (desc === base) this.#map.delete(off);
        else this.set(off, desc);
      }
      return;
    }
    const ids = this.#ids!;
    const v = desc === base ? ABSENT : desc;
    for (let off = a; off < b; off++) {
      const old = ids[off];
      if (old === FRAME) this.#frames!.delete(off);
      if (old === ABSENT) {
        if (v !== ABSENT) this.#size++;
      } else if (v === ABSENT) this.#size--;
      ids[off] = v;
    }
  }

  /** Calls `fn` for every entry (any order). */
  forEach(fn: (e: PageFrame | number, off: number) => void): void {
    if (this.#map !== null) {
      this.#map.forEach(fn);
      return;
    }
    const ids = this.#ids!;
    for (let off = 0; off < ids.length; off++) {
      const id = ids[off];
      if (id >= 0) fn(id, off);
      else if (id === FRAME) fn(this.#frames!.get(off)!, off);
    }
  }

  /** An independent copy (the frames themselves shared). */
  copy(): SectionPages {
    const out = new SectionPages();
    if (this.#map !== null) out.#map = new Map(this.#map);
    else {
      out.#map = null;
      out.#ids = this.#ids!.slice();
      out.#frames = new Map(this.#frames!);
      out.#size = this.#size;
    }
    return out;
  }

  #densify(): void {
    const ids = new Int32Array(PAGES_PER_SECTION).fill(ABSENT);
    const frames = new Map<number, PageFrame>();
    for (const [off, e] of this.#map!) {
      if (typeof e === "number") ids[off] = e;
      else {
        ids[off] = FRAME;
        frames.set(off, e);
      }
    }
    this.#size = this.#map!.size;
    this.#map = null;
    this.#ids = ids;
    this.#frames = frames;
  }
}

/** One 128 MiB section: a base descriptor and the pages that differ from it. */
class Section {
  base = 0;
  /** The memory that may change it in place. */
  readonly owner: number;
  readonly pages: SectionPages;
  constructor(owner: number, pages?: SectionPages) {
    this.owner = owner;
    this.pages = pages ?? new SectionPages();
  }
}

/** Memory-use figures of a {@link PhysicalMemory}. */
export interface PhysMemStats {
  /** Sections with a record (ever written). */
  sections: number;
  /** Pages holding real bytes. */
  materializedPages: number;
  /** Pages described by a descriptor that differs from their section's base. */
  descriptorPages: number;
  /** Distinct content descriptors. */
  descriptors: number;
  /** Approximate JavaScript heap used by the page store, in bytes. */
  storeBytes: number;
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Generates the pattern content of one page into `out`. */
function generatePattern(seed: number, position: number, out: Uint32Array): void {
  let s = mix32(
    seed ^ mix32((position >>> 0) ^ 0x5bd1e995) ^
      mix32(Math.floor(position / 2 ** 32) + 0x68e31da4),
  );
  for (let i = 0; i < WORDS_PER_PAGE; i++) {
    s = (s + 0x9e3779b9) | 0;
    out[i] = mix32(s);
  }
}

/** Lanes of the last {@link bytesIdentity}. */
let bytesIdLo = 0;
let bytesIdHi = 0;

/** A 64-bit hash of a page's bytes, into {@link bytesIdLo} / {@link bytesIdHi}. */
function bytesIdentity(words: Uint32Array): void {
  let a = 0x811c9dc5, b = 0x01000193;
  for (let i = 0; i < WORDS_PER_PAGE; i++) {
    const w = words[i];
    a = Math.imul(a ^ w, 0x01000193);
    b = Math.imul(b ^ (w + i), 0x5bd1e995) ^ (b >>> 13);
  }
  bytesIdHi = mix32(a) >>> 0;
  bytesIdLo = mix32(b ^ a) >>> 0;
}

/** Lanes of the last `#entryIdentity`. */
let entryIdLo = 0;
let entryIdHi = 0;

/** Lanes of the last {@link patternIdentity}. */
let patIdLo = 0;
let patIdHi = 0;

/** The identity of the pattern `(seed, shiftPages)`, into {@link patIdLo} / {@link patIdHi}. */
function patternIdentity(value: number, shiftPages: number): void {
  // (mix32(v ^ 0xa5a5a5a5) << 32 | mix32(v + shift × 0x9e37)) ^ (⌊shift / 2^32⌋ << 17), | 1
  const t = Math.floor(shiftPages / 2 ** 32) * 131072;
  patIdHi = (mix32(value ^ 0xa5a5a5a5) ^ Math.floor(t / 4294967296)) >>> 0;
  patIdLo = ((mix32(value + shiftPages * 0x9e37) ^ t) | 1) >>> 0;
}

/**
 * Sparse, byte-addressable simulated physical memory of up to 64 TiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PhysicalMemory } from "./physmem.ts";
 * const mem = new PhysicalMemory(2 ** 40); // 1 TiB, costs nothing until written
 * mem.writeU64(0x1000, 0x123456789);
 * assert.equal(mem.readU64(0x1000), 0x123456789);
 * mem.fill(0, 2 ** 30, { pattern: 7 }); // 1 GiB of seeded random content
 * assert.equal(mem.stats().materializedPages, 0);
 * ```
 */
export class PhysicalMemory {
  /** Size of the physical address space in bytes. */
  readonly sizeBytes: number;
  readonly #sections = new Map<number, Section>();
  readonly #descriptors: Descriptor[] = [];
  readonly #descriptorIndex = new Map<string, number>();
  readonly #byteIds = new Map<number, number>();
  readonly #patternIds = new Map<number, number>();
  readonly #pageIds = new Map<number, number>();
  readonly #scratch = new PageFrame(0);
  readonly #sum = new Sum64();
  /** This memory's owner id (a new one after each clone: shared parts are copied on write). */
  #owner = nextOwner++;

  /** Creates zeroed memory of `sizeBytes` (a multiple of the page size). */
  constructor(sizeBytes: number) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_SIZE !== 0) {
      throw new RangeError(`physical memory size ${sizeBytes} is not a positive number of pages`);
    }
    this.sizeBytes = sizeBytes;
    this.#intern("byte", 0, 0);
  }

  /** Number of page frames. */
  get pages(): number {
    return this.sizeBytes / PAGE_SIZE;
  }

  // ---------------------------------------------------------------- descriptors

  #intern(kind: "byte" | "pattern" | "page", value: number, shiftPages: number): number {
    // Fast paths: bytes, per-page patterns and unshifted patterns are keyed by number;
    // shifted patterns (made by page copies) by string. Identities are computed when first
    // hashed.
    const index = kind === "byte"
      ? this.#byteIds
      : kind === "page"
      ? this.#pageIds
      : shiftPages === 0
      ? this.#patternIds
      : null;
    const key = index === null ? `${kind}:${value}:${shiftPages}` : "";
    const found = index !== null ? index.get(value) : this.#descriptorIndex.get(key);
    if (found !== undefined) return found;
    const id = this.#descriptors.length;
    this.#descriptors.push({ id, kind, value, shiftPages, idSet: false, idLo: 0, idHi: 0 });
    if (index !== null) index.set(value, id);
    else this.#descriptorIndex.set(key, id);
    return id;
  }

  /** Sets the identity lanes of descriptor `d` (not a "page" one). */
  #computeIdentity(d: Descriptor): void {
    if (d.kind === "byte") {
      const u8 = new Uint8Array(PAGE_SIZE).fill(d.value);
      bytesIdentity(new Uint32Array(u8.buffer));
      d.idLo = bytesIdLo;
      d.idHi = bytesIdHi;
    } else {
      patternIdentity(d.value, d.shiftPages);
      d.idLo = patIdLo;
      d.idHi = patIdHi;
    }
    d.idSet = true;
  }

  #descriptorFor(spec: FillSpec): number {
    if ("byte" in spec) {
      if (!Number.isInteger(spec.byte) || spec.byte < 0 || spec.byte > 255) {
        throw new RangeError(`fill byte ${spec.byte} is not 0..255`);
      }
      return this.#intern("byte", spec.byte, 0);
    }
    if ("pattern" in spec) return this.#intern("pattern", spec.pattern >>> 0, 0);
    return this.#intern("page", spec.pagePattern >>> 0, 0);
  }

  #render(descId: number, pfn: number, out: PageFrame): void {
    const d = this.#descriptors[descId];
    if (d.kind === "byte") out.u8.fill(d.value);
    else if (d.kind === "page") generatePattern(pageSeed(d.value, pfn), pfn, out.u32);
    else generatePattern(d.value, pfn - d.shiftPages, out.u32);
  }

  // ---------------------------------------------------------------- page lookup

  #check(phys: number, size: number): void {
    if (
      !(phys >= 0) || !(size >= 0) || phys + size > this.sizeBytes || !Number.isSafeInteger(phys)
    ) {
      throw new PhysRangeError(phys, size);
    }
  }

  /** Whether `[phys, phys + size)` lies inside physical memory. */
  contains(phys: number, size = 1): boolean {
    return Number.isSafeInteger(phys) && phys >= 0 && size >= 0 && phys + size <= this.sizeBytes;
  }

  #entry(pfn: number): PageFrame | number {
    const sec = this.#sections.get(Math.floor(pfn / PAGES_PER_SECTION));
    if (sec === undefined) return 0;
    const e = sec.pages.get(pfn % PAGES_PER_SECTION);
    return e === undefined ? sec.base : e;
  }

  /** The section of `pfn` for writing: created, or copied when shared with a clone. */
  #section(pfn: number): Section {
    return this.#writableSection(Math.floor(pfn / PAGES_PER_SECTION));
  }

  #writableSection(idx: number): Section {
    let sec = this.#sections.get(idx);
    if (sec === undefined) {
      sec = new Section(this.#owner);
      this.#sections.set(idx, sec);
    } else if (sec.owner !== this.#owner) {
      const copy = new Section(this.#owner, sec.pages.copy());
      copy.base = sec.base;
      this.#sections.set(idx, copy);
      sec = copy;
    }
    return sec;
  }

  /**
   * The bytes of page `pfn` for reading, or null when the page is a descriptor page
   * (then read through {@link readBytes} or {@link pageView}).
   */
  materializedPage(pfn: number): Uint32Array | null {
    const e = this.#entry(pfn);
    return typeof e === "number" ? null : e.u32;
  }

  /**
   * A read-only word view of page `pfn` valid until the next call: the page's own bytes,
   * or its descriptor content rendered into a scratch buffer.
   */
  pageView(pfn: number): Uint32Array {
    const e = this.#entry(pfn);
    if (typeof e !== "number") return e.u32;
    if (e === 0) {
      this.#scratch.u32.fill(0);
    } else {
      this.#render(e, pfn, this.#scratch);
    }
    return this.#scratch.u32;
  }

  /** Whether page `pfn` reads as all zero bytes. */
  isZeroPage(pfn: number): boolean {
    const e = this.#entry(pfn);
    if (typeof e === "number") return e === 0;
    const w = e.u32;
    for (let i = 0; i < WORDS_PER_PAGE; i++) if (w[i] !== 0) return false;
    return true;
  }

  /** The writable word view of page `pfn`, giving it real bytes first if needed. */
  writablePage(pfn: number): Uint32Array {
    return this.#frameForWrite(pfn).u32;
  }

  #frameForWrite(pfn: number): PageFrame {
    if (!(pfn >= 0 && pfn < this.pages)) throw new PhysRangeError(pfn * PAGE_SIZE, PAGE_SIZE);
    const sec = this.#section(pfn);
    const off = pfn % PAGES_PER_SECTION;
    const e = sec.pages.get(off) ?? sec.base;
    if (typeof e !== "number") {
      if (e.owner === this.#owner) return e;
      const mine = new PageFrame(this.#owner, e.u8.slice()); // shared with a clone
      sec.pages.set(off, mine);
      return mine;
    }
    const frame = new PageFrame(this.#owner);
    if (e !== 0) this.#render(e, pfn, frame);
    sec.pages.set(off, frame);
    return frame;
  }

  #setPageDescriptor(pfn: number, desc: number): void {
    const idx = Math.floor(pfn / PAGES_PER_SECTION);
    const off = pfn % PAGES_PER_SECTION;
    if (desc === 0 && !this.#sections.has(idx)) return;
    const sec = this.#writableSection(idx);
    if (desc === sec.base) {
      sec.pages.delete(off);
      if (desc === 0 && sec.pages.size === 0) this.#sections.delete(idx);
    } else sec.pages.set(off, desc);
  }

  #fillPages(firstPfn: number, endPfn: number, desc: number): void {
    let pfn = firstPfn;
    while (pfn < endPfn) {
      const idx = Math.floor(pfn / PAGES_PER_SECTION);
      const secStart = idx * PAGES_PER_SECTION;
      const secEnd = secStart + PAGES_PER_SECTION;
      if (pfn === secStart && endPfn >= secEnd) {
        if (desc === 0) this.#sections.delete(idx);
        else {
          const sec = this.#section(pfn);
          sec.base = desc;
          sec.pages.clear();
        }
        pfn = secEnd;
        continue;
      }
      const stop = Math.min(endPfn, secEnd);
      if (stop - pfn < 8) {
        for (; pfn < stop; pfn++) this.#setPageDescriptor(pfn, desc);
        continue;
      }
      // as #setPageDescriptor on each page of [pfn, stop)
      if (desc === 0 && !this.#sections.has(idx)) {
        pfn = stop;
        continue;
      }
      const sec = this.#writableSection(idx);
      sec.pages.fillRange(pfn - secStart, stop - secStart, desc, sec.base);
      if (desc === 0 && sec.base === 0 && sec.pages.size === 0) this.#sections.delete(idx);
      pfn = stop;
    }
  }

  // ---------------------------------------------------------------- scalar access

  /** Reads a byte. */
  readU8(phys: number): number {
    this.#check(phys, 1);
    const pfn = Math.floor(phys / PAGE_SIZE);
    const e = this.#entry(pfn);
    if (typeof e !== "number") return e.u8[phys % PAGE_SIZE];
    if (e === 0) return 0;
    return new Uint8Array(this.pageView(pfn).buffer)[phys % PAGE_SIZE];
  }

  /** Reads a little-endian u16. */
  readU16(phys: number): number {
    return this.readU8(phys) | (this.readU8(phys + 1) << 8);
  }

  /** Reads a little-endian u32. */
  readU32(phys: number): number {
    this.#check(phys, 4);
    const off = phys % PAGE_SIZE;
    if ((off & 3) === 0) {
      const pfn = Math.floor(phys / PAGE_SIZE);
      const e = this.#entry(pfn);
      if (typeof e !== "number") return e.u32[off >>> 2];
      if (e === 0) return 0;
      return this.pageView(pfn)[off >>> 2];
    }
    return (this.readU8(phys) | (this.readU8(phys + 1) << 8) | (this.readU8(phys + 2) << 16) |
      (this.readU8(phys + 3) << 24)) >>> 0;
  }

  /** Reads a little-endian u64 as its two 32-bit halves `[lo, hi]`. */
  readU64Parts(phys: number): [number, number] {
    return [this.readU32(phys), this.readU32(phys + 4)];
  }

  /**
   * Reads a little-endian u64 as a number. Exact below 2^53; larger values are rounded,
   * so use {@link readU64Parts} or {@link readU64Big} where all 64 bits matter.
   */
  readU64(phys: number): number {
    return this.readU32(phys + 4) * 2 ** 32 + this.readU32(phys);
  }

  /** Reads a little-endian u64 exactly as a bigint. */
  readU64Big(phys: number): bigint {
    return (BigInt(this.readU32(phys + 4)) << 32n) | BigInt(this.readU32(phys));
  }

  /** Writes a byte. */
  writeU8(phys: number, value: number): void {
    this.#check(phys, 1);
    this.#frameForWrite(Math.floor(phys / PAGE_SIZE)).u8[phys % PAGE_SIZE] = value;
  }

  /** Writes a little-endian u16. */
  writeU16(phys: number, value: number): void {
    this.writeU8(phys, value & 0xff);
    this.writeU8(phys + 1, (value >>> 8) & 0xff);
  }

  /** Writes a little-endian u32. */
  writeU32(phys: number, value: number): void {
    this.#check(phys, 4);
    const off = phys % PAGE_SIZE;
    if ((off & 3) === 0) {
      this.#frameForWrite(Math.floor(phys / PAGE_SIZE)).u32[off >>> 2] = value >>> 0;
      return;
    }
    for (let i = 0; i < 4; i++) this.writeU8(phys + i, (value >>> (8 * i)) & 0xff);
  }

  /** Writes a little-endian u64 given as two 32-bit halves. */
  writeU64Parts(phys: number, lo: number, hi: number): void {
    this.#check(phys, 8);
    this.writeU32(phys, lo);
    this.writeU32(phys + 4, hi);
  }

  /** Writes a little-endian u64 from a non-negative safe integer. */
  writeU64(phys: number, value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`u64 value ${value} is not a non-negative safe integer`);
    }
    this.writeU64Parts(phys, value >>> 0, Math.floor(value / 2 ** 32));
  }

  /** Writes a little-endian u64 from a bigint (taken modulo 2^64). */
  writeU64Big(phys: number, value: bigint): void {
    const v = value & MASK64;
    this.writeU64Parts(phys, Number(v & 0xffffffffn), Number(v >> 32n));
  }

  // ---------------------------------------------------------------- bulk access

  /** Copies `len` bytes starting at `phys` into a new array. */
  readBytes(phys: number, len: number): Uint8Array {
    this.#check(phys, len);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const p = phys + done;
      const pfn = Math.floor(p / PAGE_SIZE);
      const off = p % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - done);
      const e = this.#entry(pfn);
      if (e !== 0) {
        const view = typeof e === "number" ? this.pageView(pfn) : e.u32;
        out.set(new Uint8Array(view.buffer, view.byteOffset + off, n), done);
      }
      done += n;
    }
    return out;
  }

  /** Writes `bytes` starting at `phys`. */
  writeBytes(phys: number, bytes: Uint8Array): void {
    this.#check(phys, bytes.length);
    let done = 0;
    while (done < bytes.length) {
      const p = phys + done;
      const pfn = Math.floor(p / PAGE_SIZE);
      const off = p % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, bytes.length - done);
      if (off === 0 && n === PAGE_SIZE) {
        const sec = this.#section(pfn);
        sec.pages.set(
          pfn % PAGES_PER_SECTION,
          new PageFrame(this.#owner, bytes.slice(done, done + n)),
        );
      } else {
        this.#frameForWrite(pfn).u8.set(bytes.subarray(done, done + n), off);
      }
      done += n;
    }
  }

  /**
   * Fills `[phys, phys + len)` with a uniform byte or a seeded pseudo-random pattern.
   * Whole pages become descriptors (no bytes stored); partial pages get real bytes.
   */
  fill(phys: number, len: number, spec: FillSpec): void {
    this.#check(phys, len);
    const desc = this.#descriptorFor(spec);
    const end = phys + len;
    const firstFull = Math.ceil(phys / PAGE_SIZE);
    const endFull = Math.floor(end / PAGE_SIZE);
    if (firstFull >= endFull) {
      const pageEnd = Math.min(end, (Math.floor(phys / PAGE_SIZE) + 1) * PAGE_SIZE);
      this.#fillPartial(phys, pageEnd, desc);
      this.#fillPartial(pageEnd, end, desc);
      return;
    }
    this.#fillPartial(phys, firstFull * PAGE_SIZE, desc);
    this.#fillPages(firstFull, endFull, desc);
    this.#fillPartial(endFull * PAGE_SIZE, end, desc);
  }

  /**
   * Fills many whole-page ranges `[startPfn, endPfn)` (sorted, disjoint) with one spec. A
   * section mostly covered by the ranges is rebased onto the new content, and only the pages
   * the ranges leave out are recorded individually, so poisoning the free memory around a
   * million scattered preserved pages costs work proportional to those pages.
   */
  fillPageRanges(ranges: readonly (readonly [number, number])[], spec: FillSpec): void {
    const desc = this.#descriptorFor(spec);
    for (const [a, b] of ranges) {
      if (!(a >= 0 && b <= this.pages && a <= b)) {
        throw new PhysRangeError(a * PAGE_SIZE, (b - a) * PAGE_SIZE);
      }
    }
    let i = 0;
    let carry = -1; // start of the remainder of ranges[i] when it crossed a section end
    while (i < ranges.length) {
      const first = carry >= 0 ? carry : ranges[i][0];
      const sec = Math.floor(first / PAGES_PER_SECTION);
      const secStart = sec * PAGES_PER_SECTION, secEnd = secStart + PAGES_PER_SECTION;
      const pieces: [number, number][] = [];
      let covered = 0;
      carry = -1;
      while (i < ranges.length) {
        const a = Math.max(pieces.length === 0 ? first : ranges[i][0], secStart);
        if (a >= secEnd) break;
        const b = Math.min(ranges[i][1], secEnd);
        if (a < b) {
          pieces.push([a, b]);
          covered += b - a;
        }
        if (ranges[i][1] > secEnd) {
          carry = secEnd;
          break;
        }
        i++;
      }
      if (covered * 2 >= PAGES_PER_SECTION) this.#rebase(sec, pieces, desc);
      else for (const [a, b] of pieces) this.#fillPages(a, b, desc);
    }
  }

  /** Makes `desc` the base of section `sec`, keeping the content of pages outside `pieces`. */
  #rebase(sec: number, pieces: readonly [number, number][], desc: number): void {
    const secStart = sec * PAGES_PER_SECTION;
    const old = this.#sections.get(sec);
    const oldBase = old?.base ?? 0;
    const fresh = new Section(this.#owner);
    fresh.base = desc;
    let cursor = secStart;
    const keep = (a: number, b: number) => {
      for (let pfn = a; pfn < b; pfn++) {
        const e = old?.pages.get(pfn - secStart) ?? oldBase;
        if (e !== desc) fresh.pages.set(pfn - secStart, e);
      }
    };
    for (const [a, b] of pieces) {
      keep(cursor, a);
      cursor = b;
    }
    keep(cursor, secStart + PAGES_PER_SECTION);
    if (desc === 0 && fresh.pages.size === 0) this.#sections.delete(sec);
    else this.#sections.set(sec, fresh);
  }

  #fillPartial(start: number, end: number, desc: number): void {
    if (start >= end) return;
    const pfn = Math.floor(start / PAGE_SIZE);
    const src = new PageFrame(0);
    this.#render(desc, pfn, src);
    const frame = this.#frameForWrite(pfn);
    const off = start % PAGE_SIZE;
    frame.u8.set(src.u8.subarray(off, off + (end - start)), off);
  }

  /** Zeroes `[phys, phys + len)`. */
  zero(phys: number, len: number): void {
    this.fill(phys, len, { byte: 0 });
  }

  /**
   * Copies `len` bytes from `src` to `dst` (memmove semantics). Whole descriptor pages are
   * copied as descriptors, so copying a large pattern-filled range stays cheap.
   */
  copy(dst: number, src: number, len: number): void {
    this.#check(src, len);
    this.#check(dst, len);
    if (len === 0 || dst === src) return;
    if (dst % PAGE_SIZE === 0 && src % PAGE_SIZE === 0) {
      const pages = Math.floor(len / PAGE_SIZE);
      const dPfn = dst / PAGE_SIZE, sPfn = src / PAGE_SIZE;
      const order = dst > src ? Array.from({ length: pages }, (_, i) => pages - 1 - i) : null;
      for (let k = 0; k < pages; k++) {
        const i = order ? order[k] : k;
        const e = this.#entry(sPfn + i);
        if (typeof e === "number") {
          const d = this.#descriptors[e];
          const id = d.kind === "byte"
            ? e
            : d.kind === "page"
            ? this.#intern("pattern", pageSeed(d.value, sPfn + i), dPfn - sPfn)
            : this.#intern("pattern", d.value, d.shiftPages + (dPfn - sPfn));
          this.#setPageDescriptor(dPfn + i, id);
        } else {
          const sec = this.#section(dPfn + i);
          sec.pages.set(
            (dPfn + i) % PAGES_PER_SECTION,
            new PageFrame(this.#owner, e.u8.slice()),
          );
        }
      }
      const rest = len - pages * PAGE_SIZE;
      if (rest > 0) {
        this.writeBytes(dst + pages * PAGE_SIZE, this.readBytes(src + pages * PAGE_SIZE, rest));
      }
      return;
    }
    this.writeBytes(dst, this.readBytes(src, len));
  }

  // ---------------------------------------------------------------- checksums

  /**
   * `csum_partial`-style checksum (lib/checksum.c, generic little-endian): the 16-bit
   * ones'-complement sum of the bytes, added with end-around carry into the running
   * 32-bit `sum`.
   */
  csumPartial(phys: number, len: number, sum = 0): number {
    this.#check(phys, len);
    let acc = 0;
    let odd = (phys & 1) === 1;
    let done = 0;
    const startOdd = odd;
    while (done < len) {
      const p = phys + done;
      const pfn = Math.floor(p / PAGE_SIZE);
      const off = p % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - done);
      const e = this.#entry(pfn);
      if (e === 0) {
        if (n % 2 === 1) odd = !odd;
      } else {
        const view = typeof e === "number" ? this.pageView(pfn) : e.u32;
        const bytes = new Uint8Array(view.buffer, view.byteOffset + off, n);
        for (let i = 0; i < n; i++) {
          acc += odd ? bytes[i] << 8 : bytes[i];
          odd = !odd;
        }
        acc = (acc % 0x10000) + Math.floor(acc / 0x10000);
      }
      done += n;
    }
    while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
    // do_csum() on an odd start address swaps the bytes of the folded result.
    let result = startOdd ? ((acc & 0xff) << 8) | (acc >>> 8) : acc;
    result = (result + (sum >>> 0)) >>> 0;
    if ((sum >>> 0) > result) result = (result + 1) >>> 0;
    return result;
  }

  /**
   * A 64-bit content hash of `[phys, phys + len)`: each page contributes its content
   * identity weighted by its position. Uniform stretches are summed in closed form, so
   * hashing a 1 TiB pattern-filled guest costs one step per section. Identical bytes reached
   * through different histories (a pattern page later rewritten with the same bytes) may
   * hash differently; any change made through this memory's write paths changes the hash.
   */
  hash64(phys: number, len: number): bigint {
    return this.#hash(phys, len).value();
  }

  /**
   * {@link hash64} of `[phys, phys + len)` as two u32 words — low at `out[at]`, high at
   * `out[at + 1]` (a `Uint32Array` view of a `BigUint64Array` on this little-endian host): no
   * BigInt made.
   */
  hash64Lanes(phys: number, len: number, out: Uint32Array, at: number): void {
    const sum = this.#hash(phys, len);
    out[at] = sum.lo;
    out[at + 1] = sum.hi;
  }

  #hash(phys: number, len: number): Sum64 {
    this.#check(phys, len);
    const sum = this.#sum;
    sum.lo = sum.hi = 0;
    const end = phys + len;
    let p = phys;
    while (p < end) {
      const pfn = Math.floor(p / PAGE_SIZE);
      const off = p % PAGE_SIZE;
      if (off !== 0 || end - p < PAGE_SIZE) {
        const n = Math.min(PAGE_SIZE - off, end - p);
        const bytes = this.readBytes(p, n);
        const padded = new Uint8Array(PAGE_SIZE);
        padded.set(bytes, off);
        bytesIdentity(new Uint32Array(padded.buffer));
        sum.addMul((bytesIdLo ^ n) >>> 0, bytesIdHi, 2 * pfn + 1);
        p += n;
        continue;
      }
      const endPfn = Math.floor(end / PAGE_SIZE);
      const secIdx = Math.floor(pfn / PAGES_PER_SECTION);
      const secEnd = Math.min(endPfn, (secIdx + 1) * PAGES_PER_SECTION);
      this.#hashPages(pfn, secEnd, sum);
      p = secEnd * PAGE_SIZE;
    }
    return sum;
  }

  /** Adds the hash of whole pages [a, b) within one section to `sum`. */
  #hashPages(a: number, b: number, sum: Sum64): void {
    const sec = this.#sections.get(Math.floor(a / PAGES_PER_SECTION));
    const base = sec?.base ?? 0;
    const secStart = Math.floor(a / PAGES_PER_SECTION) * PAGES_PER_SECTION;
    const bd = this.#descriptors[base];
    if (bd.kind === "page" || (b - a <= 16 && sec !== undefined)) {
      // a per-page base, or a few pages: page by page
      for (let pfn = a; pfn < b; pfn++) {
        const e = sec!.pages.get(pfn - secStart) ?? base;
        this.#entryIdentity(e, pfn);
        sum.addMul(entryIdLo, entryIdHi, 2 * pfn + 1);
      }
      return;
    }
    if (!bd.idSet) this.#computeIdentity(bd);
    const baseLo = bd.idLo, baseHi = bd.idHi;
    // Σ_{p=a}^{b-1} (2p + 1) = b² − a² = (b − a)(b + a), exact: b − a ≤ 2^15, b + a < 2^37
    sum.addMul(baseLo, baseHi, (b - a) * (b + a));
    if (sec === undefined || sec.pages.size === 0) return;
    const visit = (e: PageFrame | number, pfn: number) => {
      this.#entryIdentity(e, pfn);
      sum.addMul(entryIdLo, entryIdHi, 2 * pfn + 1);
      sum.subMul(baseLo, baseHi, 2 * pfn + 1);
    };
    if (sec.pages.size <= b - a) {
      sec.pages.forEach((e, off) => {
        const pfn = secStart + off;
        if (pfn >= a && pfn < b) visit(e, pfn);
      });
    } else {
      for (let pfn = a; pfn < b; pfn++) {
        const e = sec.pages.get(pfn - secStart);
        if (e !== undefined) visit(e, pfn);
      }
    }
  }

  /** The identity of page `pfn` holding `e`, into {@link entryIdLo} / {@link entryIdHi}. */
  #entryIdentity(e: PageFrame | number, pfn: number): void {
    if (typeof e !== "number") {
      bytesIdentity(e.u32);
      entryIdLo = bytesIdLo;
      entryIdHi = bytesIdHi;
      return;
    }
    const d = this.#descriptors[e];
    if (d.kind === "page") {
      patternIdentity(pageSeed(d.value, pfn), 0);
      entryIdLo = patIdLo;
      entryIdHi = patIdHi;
      return;
    }
    if (!d.idSet) this.#computeIdentity(d);
    entryIdLo = d.idLo;
    entryIdHi = d.idHi;
  }

  // ---------------------------------------------------------------- copies

  /**
   * An independent copy of this memory (same size, same bytes), copy-on-write: both share
   * every section record and materialized page, and each copies a section or a page the
   * first time it writes there, so neither sees the other's writes. Costs one entry per
   * section; for fuzzers and tests that run many successors from one handed-over state.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { PhysicalMemory } from "./physmem.ts";
   * const mem = new PhysicalMemory(2 ** 30);
   * mem.writeU64(0x1000, 7);
   * mem.fill(0x200000, 0x200000, { pattern: 3 });
   * const copy = mem.clone();
   * copy.writeU64(0x1000, 8);
   * assert.equal(mem.readU64(0x1000), 7);
   * assert.equal(copy.readU64(0x1000), 8);
   * assert.equal(copy.hash64(0x200000, 0x200000), mem.hash64(0x200000, 0x200000));
   * ```
   */
  clone(): PhysicalMemory {
    const out = new PhysicalMemory(this.sizeBytes);
    for (let i = out.#descriptors.length; i < this.#descriptors.length; i++) {
      const d = this.#descriptors[i];
      out.#intern(d.kind, d.value, d.shiftPages);
    }
    // Both share every section and frame from now on; each copies what it writes.
    for (const [idx, sec] of this.#sections) out.#sections.set(idx, sec);
    this.#owner = nextOwner++;
    return out;
  }

  // ---------------------------------------------------------------- inspection

  /** Memory-use figures, for tests and benchmarks of sparseness. */
  stats(): PhysMemStats {
    let materialized = 0, described = 0;
    for (const sec of this.#sections.values()) {
      sec.pages.forEach((e) => {
        if (typeof e === "number") described++;
        else materialized++;
      });
    }
    return {
      sections: this.#sections.size,
      materializedPages: materialized,
      descriptorPages: described,
      descriptors: this.#descriptors.length,
      storeBytes: materialized * (PAGE_SIZE + 160) + described * 40 + this.#sections.size * 120,
    };
  }

  /**
   * A compact image of the whole memory (one line per non-zero page: pfn and content
   * identity), for tests that compare memory before and after an operation.
   */
  image(): Map<number, string> {
    const out = new Map<number, string>();
    for (const [idx, sec] of this.#sections) {
      const start = idx * PAGES_PER_SECTION;
      if (sec.base !== 0) out.set(-1 - idx, `base:${sec.base}`);
      sec.pages.forEach((e, off) => {
        if (typeof e === "number") out.set(start + off, `d:${e}`);
        else {
          bytesIdentity(e.u32);
          out.set(start + off, ((BigInt(bytesIdHi) << 32n) | BigInt(bytesIdLo)).toString(16));
        }
      });
    }
    return out;
  }
}
