/**
 * The memory map: `struct page` state of one boot, kept sparse.
 *
 * A real kernel has one 64-byte `struct page` per 4 KiB frame (1.56 % of RAM). kholab
 * keeps only the fields KHO and the buddy allocator look at — refcount, `page->private`,
 * a few flags and the compound order — and stores them lazily: a record per memory section
 * (128 MiB) that has any state, and inside it a chunk per pageblock (512 pages) that has a
 * page with non-default state — a few pages recorded one by one, or typed arrays once more
 * than eight pages of the pageblock have state. An untouched page reads as refcount 0,
 * private 0, no flags, not compound. A compound page (folio) is represented by its head
 * alone (`PG_head` + order); tails are found by probing ({@link Memmap.compoundHead}), so a
 * 1 GiB folio costs one chunk, not 262144 page records.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import { PAGES_PER_SECTION, PUD_ORDER } from "../units.ts";
import { STRUCT_PAGE_BYTES, Vmemmap } from "./vmemmap.ts";

/** PG_reserved: the page is not managed by the buddy allocator (memblock-reserved). */
export const PG_RESERVED = 1 << 0;
/** PG_head: the page is the head of a compound page (folio); the order is stored with it. */
export const PG_HEAD = 1 << 1;
/**
 * PG_buddy (a page type in the kernel): the page heads a free buddy block. kholab's buddy
 * allocator keeps its free blocks in its own structures and does not write this flag; it
 * exists for callers that want to mark pages explicitly.
 */
export const PG_BUDDY = 1 << 2;
/**
 * "noinit": the struct page was not initialised by memmap_init (memblock
 * `MEMBLOCK_RSRV_NOINIT`, used for KHO-preserved memory).
 */
export const PG_NOINIT = 1 << 3;

/** Largest compound order {@link Memmap.compoundHead} probes for: PUD_ORDER (1 GiB). */
export const MAX_FOLIO_ORDER: number = PUD_ORDER;

const CHUNK_PAGES = 512;
const CHUNK_ORDER = 9;
/** Bytes of a page frame (PAGE_SIZE; memmap works in pfns otherwise). */
const PAGE_BYTES = 4096;
/** Compound orders that span whole sections (2^15 pages = 128 MiB). */
const BIG_ORDER = 15;
const CHUNKS_PER_SECTION = PAGES_PER_SECTION / CHUNK_PAGES;
/** Bytes of a dense chunk's `page->private` halves (privLo, privHi). */
const PRIV_BYTES = CHUNK_PAGES * (4 + 4);
/** Bytes of a dense chunk's other fields (refcount, flags, order). */
const STATE_BYTES = CHUNK_PAGES * (4 + 2 + 1);
/** Approximate fixed JS heap cost of one chunk object and its views (per part). */
const CHUNK_OVERHEAD_BYTES = 64;
const PART_OVERHEAD_BYTES = 3 * 96;
// What a dense chunk's part reads as before it is written: shared, never written.
const ZERO_I32 = new Int32Array(CHUNK_PAGES);
const ZERO_U32 = new Uint32Array(CHUNK_PAGES);
const ZERO_U16 = new Uint16Array(CHUNK_PAGES);
const ZERO_U8 = new Uint8Array(CHUNK_PAGES);
const SECTION_OVERHEAD_BYTES = CHUNKS_PER_SECTION * 8 + 96;

/** Pages a sparse chunk records one by one before it becomes dense typed arrays. */
const SPARSE_MAX = 8;
/** Approximate JS heap cost of a sparse chunk, and of each page it records. */
const SPARSE_BYTES = 120;
const SPARSE_ENTRY_BYTES = 64;

/** Dense chunk parts carved from one buffer (one allocation per 64 pageblocks). */
const CHUNKS_PER_SLAB = 64;

/**
 * Buffers of one dense chunk part (`bytes` each) for one memmap: carved from slabs, and those
 * of dropped chunks reused (zeroed) before a new slab is taken.
 */
class DensePool {
  readonly #bytes: number;
  #slab: ArrayBuffer | null = null;
  #used = 0;
  readonly #freeBufs: ArrayBuffer[] = [];
  readonly #freeOffs: number[] = [];

  constructor(bytes: number) {
    this.#bytes = bytes;
  }

  /** A zeroed part buffer: `[buffer, byteOffset]`. */
  take(): [ArrayBuffer, number] {
    const buf = this.#freeBufs.pop();
    if (buf !== undefined) {
      const off = this.#freeOffs.pop()!;
      new Uint8Array(buf, off, this.#bytes).fill(0);
      return [buf, off];
    }
    if (this.#slab === null || this.#used === CHUNKS_PER_SLAB) {
      this.#slab = new ArrayBuffer(this.#bytes * CHUNKS_PER_SLAB);
      this.#used = 0;
    }
    return [this.#slab, this.#bytes * this.#used++];
  }

  /** Gives a dropped chunk's buffer back. */
  give(buf: ArrayBuffer, off: number): void {
    this.#freeBufs.push(buf);
    this.#freeOffs.push(off);
  }
}

/** The two part pools of one memmap. */
interface MemmapPools {
  readonly priv: DensePool;
  readonly state: DensePool;
}

function newPools(): MemmapPools {
  return { priv: new DensePool(PRIV_BYTES), state: new DensePool(STATE_BYTES) };
}

/** One page's fields while its chunk is sparse. */
interface PageRec {
  /** Index of the page in the pageblock. */
  readonly i: number;
  rc: number;
  lo: number;
  hi: number;
  fl: number;
  ord: number;
}

/**
 * The struct page fields of one pageblock (512 pages). A chunk starts *sparse*: up to
 * {@link SPARSE_MAX} pages recorded one by one — the chunk object is itself the record of
 * its first page, so a 2 MiB folio's head costs one small object, not 8 KiB of typed arrays
 * (nor a `Map`); the first write that needs more pages turns it into one buffer of typed
 * arrays. While sparse it offers the part of a `Map<number, PageRec>` the memmap uses, as
 * {@link PageBlockState.sparse}.
 */
class PageBlockState implements PageRec {
  /** First recorded page (−1: none yet) and its fields. */
  i = -1;
  rc = 0;
  lo = 0;
  hi = 0;
  fl = 0;
  ord = 0;
  #more: PageRec[] | null = null;
  #dense = false;
  readonly #pools: MemmapPools;
  /** Whether a page of the chunk may have PG_head (set once it could, never cleared). */
  mayHaveHead = false;
  // Dense: two parts, each the shared zero arrays until written (ownPriv / ownState).
  refcount: Int32Array = ZERO_I32;
  privLo: Uint32Array = ZERO_U32;
  privHi: Uint32Array = ZERO_U32;
  flags: Uint16Array = ZERO_U16;
  order: Uint8Array = ZERO_U8;

  /** An empty (sparse) chunk whose dense buffers come from `pools`. */
  constructor(pools: MemmapPools) {
    this.#pools = pools;
  }

  /** This chunk's sparse records, or null once dense. */
  get sparse(): PageBlockState | null {
    return this.#dense ? null : this;
  }

  /** Pages recorded (sparse). */
  get size(): number {
    return this.i < 0 ? 0 : 1 + (this.#more?.length ?? 0);
  }

  /** The record of page `i` (sparse), or undefined. */
  get(i: number): PageRec | undefined {
    if (this.i === i) return this;
    const m = this.#more;
    if (m !== null) { for (let k = 0; k < m.length; k++) if (m[k].i === i) return m[k]; }
    return undefined;
  }

  /** A new record for page `i` (sparse; the caller checked it is not there). */
  add(i: number): PageRec {
    if (this.i < 0) {
      this.i = i;
      return this;
    }
    const r: PageRec = { i, rc: 0, lo: 0, hi: 0, fl: 0, ord: 0 };
    (this.#more ??= []).push(r);
    return r;
  }

  /** The recorded pages (sparse). */
  values(): PageRec[] {
    const out: PageRec[] = this.i < 0 ? [] : [this];
    if (this.#more !== null) out.push(...this.#more);
    return out;
  }

  /** `[page, record]` of each recorded page (sparse). */
  *[Symbol.iterator](): IterableIterator<[number, PageRec]> {
    for (const r of this.values()) yield [r.i, r];
  }

  /** The recorded pages' indices (sparse). */
  keys(): number[] {
    return this.values().map((r) => r.i);
  }

  /**
   * Turns the chunk into typed arrays (the recorded pages copied in): the `page->private`
   * part and the other fields' part are allocated only when a page has a value there.
   */
  densify(): void {
    for (const r of this.values()) {
      if (r.lo !== 0 || r.hi !== 0) {
        this.ownPriv();
        this.privLo[r.i] = r.lo;
        this.privHi[r.i] = r.hi;
      }
      if (r.rc !== 0 || r.fl !== 0 || r.ord !== 0) {
        this.ownState();
        this.refcount[r.i] = r.rc;
        this.flags[r.i] = r.fl;
        this.order[r.i] = r.ord;
      }
    }
    this.#dense = true;
    this.#more = null;
    this.i = -1; // the chunk is no longer the record of its first page
  }

  /** Whether the dense chunk has its own refcount / flags / order arrays. */
  get ownsState(): boolean {
    return this.refcount !== ZERO_I32;
  }

  /** Whether the dense chunk has its own `page->private` arrays. */
  get ownsPriv(): boolean {
    return this.privLo !== ZERO_U32;
  }

  /** Gives the dense chunk its own `page->private` arrays (before writing them). */
  ownPriv(): void {
    if (this.privLo !== ZERO_U32) return;
    const [buf, at] = this.#pools.priv.take();
    this.privLo = new Uint32Array(buf, at, CHUNK_PAGES);
    this.privHi = new Uint32Array(buf, at + CHUNK_PAGES * 4, CHUNK_PAGES);
  }

  /** Gives the dense chunk its own refcount, flags and order arrays (before writing them). */
  ownState(): void {
    if (this.refcount !== ZERO_I32) return;
    const [buf, at] = this.#pools.state.take();
    this.refcount = new Int32Array(buf, at, CHUNK_PAGES);
    this.flags = new Uint16Array(buf, at + CHUNK_PAGES * 4, CHUNK_PAGES);
    this.order = new Uint8Array(buf, at + CHUNK_PAGES * 6, CHUNK_PAGES);
  }

  /** The record of page `i` of a sparse chunk, created if needed (may densify: null). */
  rec(i: number): PageRec | null {
    const r = this.get(i);
    if (r !== undefined) return r;
    if (this.size >= SPARSE_MAX) {
      this.densify();
      return null;
    }
    return this.add(i);
  }

  /** Makes the chunk dense when a write is about to touch `n` pages (beyond sparse room). */
  reserve(n: number): void {
    if (!this.#dense && this.size + n > SPARSE_MAX) this.densify();
  }

  /** Hands a dense chunk's buffer back to its pool (the chunk is being dropped). */
  release(): void {
    if (this.privLo !== ZERO_U32) {
      this.#pools.priv.give(this.privLo.buffer as ArrayBuffer, this.privLo.byteOffset);
    }
    if (this.refcount !== ZERO_I32) {
      this.#pools.state.give(this.refcount.buffer as ArrayBuffer, this.refcount.byteOffset);
    }
  }

  /** Whether every page of the chunk is in the default state. */
  isDefault(): boolean {
    if (!this.#dense) {
      for (const r of this.values()) {
        if (r.rc !== 0 || r.lo !== 0 || r.hi !== 0 || r.fl !== 0 || r.ord !== 0) return false;
      }
      return true;
    }
    for (let i = 0; i < CHUNK_PAGES; i++) {
      if (
        this.refcount[i] !== 0 || this.privLo[i] !== 0 || this.privHi[i] !== 0 ||
        this.flags[i] !== 0 || this.order[i] !== 0
      ) return false;
    }
    return true;
  }

  /** Pages of a dense chunk with any non-default field. */
  usedPages(): number {
    let n = 0;
    for (let i = 0; i < CHUNK_PAGES; i++) {
      if (
        this.refcount[i] !== 0 || this.privLo[i] !== 0 || this.privHi[i] !== 0 ||
        this.flags[i] !== 0 || this.order[i] !== 0
      ) n++;
    }
    return n;
  }

  /** Approximate JS heap bytes. */
  approxBytes(): number {
    return !this.#dense
      ? SPARSE_BYTES + Math.max(0, this.size - 1) * SPARSE_ENTRY_BYTES
      : CHUNK_OVERHEAD_BYTES +
        (this.privLo !== ZERO_U32 ? PRIV_BYTES + PART_OVERHEAD_BYTES : 0) +
        (this.refcount !== ZERO_I32 ? STATE_BYTES + PART_OVERHEAD_BYTES : 0);
  }
}

const RESET_MASK = ~(PG_RESERVED | PG_HEAD | PG_NOINIT | PG_BUDDY);

/** {@link Memmap.resetRange} on pages `[lo, hi)` of one chunk. */
function resetChunk(c: PageBlockState, lo: number, hi: number): void {
  if (c.sparse !== null) {
    for (const r of c.sparse.values()) {
      if (r.i < lo || r.i >= hi) continue;
      r.rc = 0;
      r.ord = 0;
      r.fl &= RESET_MASK;
    }
    return;
  }
  if (!c.ownsState) return; // all zero already
  if (hi - lo > 64) {
    c.refcount.fill(0, lo, hi);
    c.order.fill(0, lo, hi);
    const flags = c.flags;
    for (let i = lo; i < hi; i++) flags[i] &= RESET_MASK;
    return;
  }
  const { refcount, order, flags } = c;
  for (let i = lo; i < hi; i++) {
    refcount[i] = 0;
    order[i] = 0;
    flags[i] &= RESET_MASK;
  }
}

/** One memory section: its pageblock chunks, created on first use. */
class SectionState {
  readonly chunks: (PageBlockState | undefined)[] = new Array(CHUNKS_PER_SECTION);
  count = 0;
}

/**
 * How a {@link Memmap}'s pageblock chunks are stored ({@link Memmap.census}): what holds the
 * memory of a large memmap.
 */
export interface MemmapCensus {
  /** Chunks recording up to eight pages one by one. */
  sparseChunks: number;
  /** Pages recorded by the sparse chunks. */
  sparsePages: number;
  /** Chunks of typed arrays (512 pages each). */
  denseChunks: number;
  /** Dense chunks with their own `page->private` arrays (4 KiB each). */
  privParts: number;
  /** Dense chunks with their own refcount, flags and order arrays (3.5 KiB each). */
  stateParts: number;
  /**
   * Dense chunks by pages with any non-default field: entry `b` counts the chunks with
   * `2^(b-1) < pages ≤ 2^b` (entry 0: none), b = 0..9.
   */
  densePagesLog2: number[];
}

/** Memory-use figures of a {@link Memmap}. */
export interface MemmapStats {
  /** Sections with a record. */
  sections: number;
  /** Pageblock chunks allocated (512 pages each). */
  chunks: number;
  /** Approximate JavaScript heap used, in bytes. */
  approxBytes: number;
}

/**
 * Sparse `struct page` state for one boot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Memmap } from "./memmap.ts";
 * const mm = new Memmap();
 * mm.prepCompoundPage(0x40000, 18); // a 1 GiB folio: only its head is stored
 * assert.equal(mm.compoundHead(0x40000 + 12345), 0x40000);
 * mm.setPrivate(0x1000, 0x0000000a, 0x4b484f50);
 * assert.equal(mm.getPrivateBig(0x1000), 0x4b484f500000000an);
 * assert.equal(mm.stats().chunks, 2);
 * ```
 */
export class Memmap {
  /** Where the struct pages live, and what writing them costs (`./vmemmap.ts`). */
  readonly vmemmap: Vmemmap;
  readonly #sections = new Map<number, SectionState>();
  #pools = newPools();
  /** The chunk last looked up (consecutive calls mostly stay in one pageblock), by pageblock. */
  #lastPb = -1;
  #lastChunk: PageBlockState | undefined = undefined;
  #chunks = 0;
  /**
   * Heads of compound pages spanning whole sections (order ≥ 15), by section index, so that
   * compound_head() of a page inside a 1 GiB folio is one lookup. Entries may be stale after
   * the head is cleared; lookups re-check the head.
   */
  readonly #bigHeads = new Map<number, number>();
  /** The largest order < 15 ever given to prepCompoundPage (bounds compound_head probing). */
  #maxSmallOrder = 0;

  /** An empty memmap; `structPageBytes` is `sizeof(struct page)` (default 64). */
  constructor(options: { structPageBytes?: number } = {}) {
    this.vmemmap = new Vmemmap(options.structPageBytes ?? STRUCT_PAGE_BYTES);
  }

  /**
   * Drops every struct page record: the kernel was replaced by kexec and its memmap is
   * gone (the successor builds its own). Frees the JavaScript memory of a dead kernel that
   * is still referenced.
   */
  discard(): void {
    this.vmemmap.discard();
    this.#sections.clear();
    this.#pools = newPools();
    this.#lastPb = -1;
    this.#lastChunk = undefined;
    this.#bigHeads.clear();
    this.#chunks = 0;
    this.#maxSmallOrder = 0;
  }

  // ------------------------------------------------------------------ storage

  #chunk(pfn: number): PageBlockState | undefined {
    const pb = Math.floor(pfn / CHUNK_PAGES);
    if (pb === this.#lastPb) return this.#lastChunk;
    const sec = this.#sections.get(Math.floor(pb / CHUNKS_PER_SECTION));
    const c = sec === undefined ? undefined : sec.chunks[pb % CHUNKS_PER_SECTION];
    if (c !== undefined) {
      this.#lastPb = pb;
      this.#lastChunk = c;
    }
    return c;
  }

  #chunkForWrite(pfn: number): PageBlockState {
    if (!(pfn >= 0) || !Number.isSafeInteger(pfn)) throw new RangeError(`bad pfn ${pfn}`);
    const pb = Math.floor(pfn / CHUNK_PAGES);
    if (pb === this.#lastPb) return this.#lastChunk!;
    const si = Math.floor(pb / CHUNKS_PER_SECTION);
    let sec = this.#sections.get(si);
    if (sec === undefined) {
      sec = new SectionState();
      this.#sections.set(si, sec);
    }
    const ci = pb % CHUNKS_PER_SECTION;
    let chunk = sec.chunks[ci];
    if (chunk === undefined) {
      chunk = new PageBlockState(this.#pools);
      sec.chunks[ci] = chunk;
      sec.count++;
      this.#chunks++;
    }
    this.#lastPb = pb;
    this.#lastChunk = chunk;
    return chunk;
  }

  /**
   * Calls `visit` for each existing chunk overlapping `[startPfn, endPfn)`, in ascending
   * order, with the chunk's first pfn and the covered index range `[lo, hi)`.
   */
  #forEachChunk(
    startPfn: number,
    endPfn: number,
    visit: (chunk: PageBlockState, basePfn: number, lo: number, hi: number) => boolean | void,
  ): void {
    if (endPfn <= startPfn || this.#chunks === 0) return;
    const base0 = Math.floor(startPfn / CHUNK_PAGES) * CHUNK_PAGES;
    if (endPfn <= base0 + CHUNK_PAGES) {
      const chunk = this.#chunk(startPfn);
      if (chunk !== undefined) visit(chunk, base0, startPfn - base0, endPfn - base0);
      return;
    }
    const firstSec = Math.floor(startPfn / PAGES_PER_SECTION);
    const lastSec = Math.floor((endPfn - 1) / PAGES_PER_SECTION);
    let secs: number[];
    if (lastSec - firstSec + 1 > 2 * this.#sections.size) {
      secs = [...this.#sections.keys()].filter((s) => s >= firstSec && s <= lastSec);
      secs.sort((a, b) => a - b);
    } else {
      secs = [];
      for (let s = firstSec; s <= lastSec; s++) if (this.#sections.has(s)) secs.push(s);
    }
    for (const si of secs) {
      const sec = this.#sections.get(si)!;
      const secBase = si * PAGES_PER_SECTION;
      const c0 = Math.max(0, Math.floor((startPfn - secBase) / CHUNK_PAGES));
      const c1 = Math.min(CHUNKS_PER_SECTION - 1, Math.floor((endPfn - 1 - secBase) / CHUNK_PAGES));
      for (let ci = c0; ci <= c1; ci++) {
        const chunk = sec.chunks[ci];
        if (chunk === undefined) continue;
        const base = secBase + ci * CHUNK_PAGES;
        const lo = Math.max(0, startPfn - base);
        const hi = Math.min(CHUNK_PAGES, endPfn - base);
        if (visit(chunk, base, lo, hi) === false) return;
      }
    }
  }

  /** Calls `fn` for each chunk slice of `[startPfn, endPfn)`, creating chunks. */
  #forEachChunkForWrite(
    startPfn: number,
    endPfn: number,
    fn: (chunk: PageBlockState, lo: number, hi: number) => void,
  ): void {
    let pfn = startPfn;
    while (pfn < endPfn) {
      const base = Math.floor(pfn / CHUNK_PAGES) * CHUNK_PAGES;
      const hi = Math.min(CHUNK_PAGES, endPfn - base);
      fn(this.#chunkForWrite(pfn), pfn - base, hi);
      pfn = base + hi;
    }
  }

  // ------------------------------------------------------------------ refcount

  /** page_count(): the page's reference count (0 for an untouched page). */
  pageCount(pfn: number): number {
    const c = this.#chunk(pfn);
    if (c === undefined) return 0;
    const i = pfn % CHUNK_PAGES;
    return c.sparse === null ? c.refcount[i] : c.sparse.get(i)?.rc ?? 0;
  }

  /** set_page_count(). */
  setPageCount(pfn: number, n: number): void {
    const c = n === 0 ? this.#chunk(pfn) : this.#chunkForWrite(pfn);
    if (c === undefined) return;
    const i = pfn % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = n === 0 ? c.sparse.get(i) ?? null : c.rec(i);
      if (r !== null) return void (r.rc = n);
      if (c.sparse !== null) return; // setting 0 on a page never recorded
    }
    if (n === 0 && !c.ownsState) return;
    c.ownState();
    c.refcount[i] = n;
  }

  /** Sets the refcount of `nrPages` pages from `pfn`; setting 0 creates no chunks. */
  setPageCountRange(pfn: number, nrPages: number, n: number): void {
    if (n === 0) {
      this.#forEachChunk(pfn, pfn + nrPages, (c, _b, lo, hi) => {
        if (c.sparse === null) {
          if (c.ownsState) c.refcount.fill(0, lo, hi);
        } else for (const [i, r] of c.sparse) if (i >= lo && i < hi) r.rc = 0;
      });
      return;
    }
    this.#forEachChunkForWrite(pfn, pfn + nrPages, (c, lo, hi) => {
      c.reserve(hi - lo);
      if (c.sparse === null) {
        c.ownState();
        c.refcount.fill(n, lo, hi);
      } else for (let i = lo; i < hi; i++) c.rec(i)!.rc = n;
    });
  }

  /** page_ref_inc(); returns the new count. */
  pageRefInc(pfn: number): number {
    return this.#addRef(pfn, 1);
  }

  /** page_ref_dec(); returns the new count (may go negative: callers check). */
  pageRefDec(pfn: number): number {
    return this.#addRef(pfn, -1);
  }

  #addRef(pfn: number, d: number): number {
    const c = this.#chunkForWrite(pfn);
    const i = pfn % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = c.rec(i);
      if (r !== null) return (r.rc += d);
    }
    c.ownState();
    return (c.refcount[i] += d);
  }

  // ------------------------------------------------------------------ private

  /** page->private as its two 32-bit halves `[lo, hi]`. */
  getPrivateParts(pfn: number): [number, number] {
    const c = this.#chunk(pfn);
    if (c === undefined) return [0, 0];
    const i = pfn % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = c.sparse.get(i);
      return r === undefined ? [0, 0] : [r.lo, r.hi];
    }
    return [c.privLo[i], c.privHi[i]];
  }

  /** page->private as an exact bigint. */
  getPrivateBig(pfn: number): bigint {
    const [lo, hi] = this.getPrivateParts(pfn);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** page->private as a number (exact below 2^53). */
  getPrivate(pfn: number): number {
    const [lo, hi] = this.getPrivateParts(pfn);
    return hi * 2 ** 32 + lo;
  }

  /** set_page_private() from two 32-bit halves. */
  setPrivate(pfn: number, lo: number, hi = 0): void {
    const zero = lo === 0 && hi === 0;
    const c = zero ? this.#chunk(pfn) : this.#chunkForWrite(pfn);
    if (c === undefined) return;
    const i = pfn % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = zero ? c.sparse.get(i) ?? null : c.rec(i);
      if (r !== null) {
        r.lo = lo >>> 0;
        r.hi = hi >>> 0;
        return;
      }
      if (c.sparse !== null) return;
    }
    if (zero && !c.ownsPriv) return; // reads as 0 already
    c.ownPriv();
    c.privLo[i] = lo >>> 0;
    c.privHi[i] = hi >>> 0;
  }

  /**
   * `set_page_private(phys_to_page(phys[i]), hi:lo)` for `i < n` (one value for all): the
   * stamp KHO's walk leaves on every preserved block, a leaf's blocks at a time.
   */
  setPrivateOfPhys(phys: Float64Array, n: number, lo: number, hi: number): void {
    lo >>>= 0;
    hi >>>= 0;
    for (let i = 0; i < n; i++) {
      const pfn = Math.floor(phys[i] / PAGE_BYTES);
      if (lo === 0 && hi === 0) {
        this.setPrivate(pfn, 0, 0);
        continue;
      }
      const c = this.#chunkForWrite(pfn);
      const k = pfn % CHUNK_PAGES;
      if (c.sparse !== null) {
        const r = c.rec(k);
        if (r !== null) {
          r.lo = lo;
          r.hi = hi;
          continue;
        }
      }
      c.ownPriv();
      c.privLo[k] = lo;
      c.privHi[k] = hi;
    }
  }

  // ------------------------------------------------------------------ flags

  /** Whether `flag` (a PG_* bit) is set. */
  testFlag(pfn: number, flag: number): boolean {
    return (this.flags(pfn) & flag) !== 0;
  }

  /** All PG_* bits of a page. */
  flags(pfn: number): number {
    const c = this.#chunk(pfn);
    if (c === undefined) return 0;
    const i = pfn % CHUNK_PAGES;
    return c.sparse === null ? c.flags[i] : c.sparse.get(i)?.fl ?? 0;
  }

  /** Sets a PG_* bit. */
  setFlag(pfn: number, flag: number): void {
    const c = this.#chunkForWrite(pfn);
    if (flag & PG_HEAD) c.mayHaveHead = true;
    const i = pfn % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = c.rec(i);
      if (r !== null) return void (r.fl |= flag);
    }
    c.ownState();
    c.flags[i] |= flag;
  }

  /** Clears a PG_* bit. */
  clearFlag(pfn: number, flag: number): void {
    const c = this.#chunk(pfn);
    if (c === undefined) return;
    const i = pfn % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = c.sparse.get(i);
      if (r !== undefined) r.fl &= ~flag;
    } else if (c.ownsState) c.flags[i] &= ~flag;
  }

  /** Sets a PG_* bit on `nrPages` pages from `pfn`. */
  setFlagRange(pfn: number, nrPages: number, flag: number): void {
    this.#forEachChunkForWrite(pfn, pfn + nrPages, (c, lo, hi) => {
      if (flag & PG_HEAD) c.mayHaveHead = true;
      c.reserve(hi - lo);
      if (c.sparse === null) {
        c.ownState();
        for (let i = lo; i < hi; i++) c.flags[i] |= flag;
      } else for (let i = lo; i < hi; i++) c.rec(i)!.fl |= flag;
    });
  }

  /** Clears a PG_* bit on `nrPages` pages from `pfn` (creates no chunks). */
  clearFlagRange(pfn: number, nrPages: number, flag: number): void {
    this.#forEachChunk(pfn, pfn + nrPages, (c, _b, lo, hi) => {
      if (c.sparse === null) {
        if (c.ownsState) { for (let i = lo; i < hi; i++) c.flags[i] &= ~flag; }
      } else for (const [i, r] of c.sparse) if (i >= lo && i < hi) r.fl &= ~flag;
    });
  }

  // ------------------------------------------------------------------ compound pages

  /**
   * prep_compound_page(): makes `[head, head + 2^order)` a compound page. Only the head is
   * written (PG_head and the order); tails are implicit.
   */
  prepCompoundPage(head: number, order: number): void {
    if (!Number.isInteger(order) || order < 1 || order > MAX_FOLIO_ORDER) {
      throw new RangeError(`compound order ${order}: 1..${MAX_FOLIO_ORDER}`);
    }
    if (head % 2 ** order !== 0) {
      throw new RangeError(`compound head ${head} is not aligned to order ${order}`);
    }
    const c = this.#chunkForWrite(head);
    c.mayHaveHead = true;
    const i = head % CHUNK_PAGES;
    const r = c.sparse !== null ? c.rec(i) : null;
    if (r !== null) {
      r.fl |= PG_HEAD;
      r.ord = order;
    } else {
      c.ownState();
      c.flags[i] |= PG_HEAD;
      c.order[i] = order;
    }
    if (order >= BIG_ORDER) {
      const first = head / PAGES_PER_SECTION;
      for (let s = 0; s < 2 ** (order - BIG_ORDER); s++) this.#bigHeads.set(first + s, head);
    } else if (order > this.#maxSmallOrder) this.#maxSmallOrder = order;
  }

  /** PageHead(). */
  isHead(pfn: number): boolean {
    return this.testFlag(pfn, PG_HEAD);
  }

  /** compound_order(): the order of a compound head, 0 for any other page. */
  compoundOrder(pfn: number): number {
    const c = this.#chunk(pfn);
    if (c === undefined) return 0;
    const i = pfn % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = c.sparse.get(i);
      return r !== undefined && (r.fl & PG_HEAD) !== 0 ? r.ord : 0;
    }
    return (c.flags[i] & PG_HEAD) !== 0 ? c.order[i] : 0;
  }

  /**
   * compound_head(): the head of the compound page containing `pfn`, or `pfn` itself when
   * it is not a tail. Probes the aligned candidates of orders 1..{@link MAX_FOLIO_ORDER}.
   */
  compoundHead(pfn: number): number {
    if (this.isHead(pfn)) return pfn;
    if (this.#bigHeads.size > 0) {
      const big = this.#bigHeads.get(Math.floor(pfn / PAGES_PER_SECTION));
      if (big !== undefined) {
        const order = this.compoundOrder(big);
        if (order >= BIG_ORDER && big <= pfn && big + 2 ** order > pfn) return big;
      }
    }
    let last = pfn;
    // Candidates of orders up to 9 lie in the page's own chunk (512 pages, 512-aligned):
    // none is a head unless that chunk ever had PG_head.
    const c = this.#chunk(pfn);
    const first = c !== undefined && c.mayHaveHead ? 1 : CHUNK_ORDER + 1;
    for (let o = first; o <= this.#maxSmallOrder; o++) {
      const size = 2 ** o;
      const cand = Math.floor(pfn / size) * size;
      if (cand === last) continue;
      last = cand;
      const order = this.compoundOrder(cand);
      if (order > 0 && cand + 2 ** order > pfn) return cand;
    }
    return pfn;
  }

  /** PageTail(). */
  isTail(pfn: number): boolean {
    return this.compoundHead(pfn) !== pfn;
  }

  /** folio_order(page_folio(pfn)): the order of the folio containing `pfn` (0 if none). */
  folioOrder(pfn: number): number {
    return this.compoundOrder(this.compoundHead(pfn));
  }

  /** Undoes {@link prepCompoundPage}: clears PG_head and the order of `head`. */
  clearCompound(head: number): void {
    const c = this.#chunk(head);
    if (c === undefined) return;
    const i = head % CHUNK_PAGES;
    if (c.sparse !== null) {
      const r = c.sparse.get(i);
      if (r !== undefined) {
        r.fl &= ~PG_HEAD;
        r.ord = 0;
      }
      return;
    }
    if (!c.ownsState) return;
    c.flags[i] &= ~PG_HEAD;
    c.order[i] = 0;
  }

  /**
   * split_page(): a non-compound high-order page becomes 2^order independent order-0 pages,
   * each with refcount 1 (the head keeps its count). Throws {@link KernelBug} (the kernel's
   * VM_BUG_ON_PAGE) on a compound page or a head with refcount 0.
   */
  splitPage(pfn: number, order: number): void {
    if (this.isHead(pfn)) throw new KernelBug(`VM_BUG_ON_PAGE(PageCompound(page)) at pfn ${pfn}`);
    if (this.pageCount(pfn) === 0) {
      throw new KernelBug(`VM_BUG_ON_PAGE(!page_count(page)) at pfn ${pfn}`);
    }
    if (order > 0) this.setPageCountRange(pfn + 1, 2 ** order - 1, 1);
  }

  // ------------------------------------------------------------------ ranges

  /**
   * Re-initialises the pages of a range as `__free_pages_core` does before handing them to
   * the buddy allocator: refcount 0, no PG_reserved / PG_head / PG_noinit, order 0.
   * `page->private` is left alone. Creates no chunks.
   */
  resetRange(pfn: number, nrPages: number): void {
    if (this.#chunks === 0 || !(nrPages > 0)) return;
    const base = Math.floor(pfn / CHUNK_PAGES) * CHUNK_PAGES;
    if (pfn + nrPages <= base + CHUNK_PAGES) {
      // inside one pageblock (most ranges a boot frees between preserved pages)
      const c = this.#chunk(pfn);
      if (c !== undefined) resetChunk(c, pfn - base, pfn + nrPages - base);
      return;
    }
    this.#forEachChunk(pfn, pfn + nrPages, (c, _b, lo, hi) => resetChunk(c, lo, hi));
  }

  /**
   * Visits, in ascending order, each page of `[startPfn, endPfn)` with a non-zero refcount
   * or any flag set (only chunks that exist are looked at). `visit` returns false to stop.
   */
  forEachBusyPage(
    startPfn: number,
    endPfn: number,
    visit: (pfn: number, refcount: number, flags: number) => boolean | void,
  ): void {
    this.#forEachChunk(startPfn, endPfn, (c, base, lo, hi) => {
      if (c.sparse !== null) {
        const idx = [...c.sparse.keys()].filter((i) => i >= lo && i < hi).sort((a, b) => a - b);
        for (const i of idx) {
          const r = c.sparse.get(i)!;
          if ((r.rc !== 0 || r.fl !== 0) && visit(base + i, r.rc, r.fl) === false) return false;
        }
        return;
      }
      for (let i = lo; i < hi; i++) {
        if (c.refcount[i] !== 0 || c.flags[i] !== 0) {
          if (visit(base + i, c.refcount[i], c.flags[i]) === false) return false;
        }
      }
    });
  }

  /** Drops the chunks lying entirely inside `[startPfn, endPfn)` whose pages are all default. */
  trim(startPfn: number, endPfn: number): void {
    // only whole pageblocks can go
    if (Math.ceil(startPfn / CHUNK_PAGES) >= Math.floor(endPfn / CHUNK_PAGES)) return;
    const drop: number[] = [];
    this.#forEachChunk(startPfn, endPfn, (c, base, lo, hi) => {
      if (lo === 0 && hi === CHUNK_PAGES && c.isDefault()) drop.push(base);
    });
    for (const base of drop) {
      const pb = base / CHUNK_PAGES;
      const si = Math.floor(pb / CHUNKS_PER_SECTION);
      const sec = this.#sections.get(si)!;
      sec.chunks[pb % CHUNKS_PER_SECTION]!.release();
      if (pb === this.#lastPb) {
        this.#lastPb = -1;
        this.#lastChunk = undefined;
      }
      sec.chunks[pb % CHUNKS_PER_SECTION] = undefined;
      sec.count--;
      this.#chunks--;
      if (sec.count === 0) this.#sections.delete(si);
    }
  }

  /** How the chunks are stored (a walk over every chunk: for benchmarks and tests). */
  census(): MemmapCensus {
    const c: MemmapCensus = {
      sparseChunks: 0,
      sparsePages: 0,
      denseChunks: 0,
      privParts: 0,
      stateParts: 0,
      densePagesLog2: new Array(CHUNK_ORDER + 1).fill(0),
    };
    for (const sec of this.#sections.values()) {
      for (const chunk of sec.chunks) {
        if (chunk === undefined) continue;
        if (chunk.sparse !== null) {
          c.sparseChunks++;
          c.sparsePages += chunk.sparse.size;
          continue;
        }
        c.denseChunks++;
        if (chunk.ownsPriv) c.privParts++;
        if (chunk.ownsState) c.stateParts++;
        const used = chunk.usedPages();
        c.densePagesLog2[used === 0 ? 0 : Math.ceil(Math.log2(used))]++;
      }
    }
    return c;
  }

  /** Memory-use figures. */
  stats(): MemmapStats {
    let bytes = this.#sections.size * SECTION_OVERHEAD_BYTES;
    for (const sec of this.#sections.values()) {
      for (const c of sec.chunks) if (c !== undefined) bytes += c.approxBytes();
    }
    return { sections: this.#sections.size, chunks: this.#chunks, approxBytes: bytes };
  }
}
