/**
 * The memory map: `struct page` state of one boot, kept sparse.
 *
 * A real kernel has one 64-byte `struct page` per 4 KiB frame (1.56 % of RAM). kholab
 * keeps only the fields KHO and the buddy allocator look at — refcount, `page->private`,
 * a few flags and the compound order — and stores them lazily: a record per memory section
 * (128 MiB) that has any state, and inside it a chunk per pageblock (512 pages) that has a
 * page with non-default state — up to 64 pages recorded one by one (16 bytes each), or typed
 * arrays once more pages of the pageblock have state (a whole pageblock allocated at once
 * shares one read-only refcount array). An untouched page reads as refcount 0,
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

/**
 * Pages a chunk records one by one (packed, sorted by page) before it becomes dense typed
 * arrays: at 64 pages the records take 1 KiB, a dense chunk 7.5 KiB.
 */
const PACKED_MAX = 64;
/**
 * u32 words of one packed record: `page | order << 9 | flags << 16` (page < 512, order
 * < 128, flags 16 bits as a dense chunk's `Uint16Array` keeps them), refcount (an int32 as
 * the dense `Int32Array` keeps it), `page->private` low and high halves.
 */
const REC_WORDS = 4;
const PAGE_MASK = CHUNK_PAGES - 1;
const ORDER_SHIFT = 9;
const ORDER_MASK = 0x7f << ORDER_SHIFT;
const FLAGS_SHIFT = 16;
/** Capacity (records) of a chunk's first record array: 64 bytes, kept in V8's heap. */
const FIRST_CAPACITY = 4;
/** Approximate JS heap cost of a chunk object, and of a record array besides its bytes. */
const CHUNK_OBJECT_BYTES = 120;
const RECORDS_OVERHEAD_BYTES = 96;

/** A refcount part in which every page has the same count, by count: shared, never written. */
const UNIFORM_I32 = new Map<number, Int32Array>([[0, ZERO_I32]]);

function uniformRefcount(n: number): Int32Array {
  let a = UNIFORM_I32.get(n);
  if (a === undefined) {
    a = new Int32Array(CHUNK_PAGES).fill(n);
    UNIFORM_I32.set(n, a);
  }
  return a;
}

/**
 * The struct page fields of one pageblock (512 pages), in one of two representations.
 *
 * **Packed** (a new chunk): the pages with state as records sorted by page — the first one
 * in the object's own fields, so that a 2 MiB folio's head costs one small object; from the
 * second on in one `Uint32Array` of {@link REC_WORDS} words per record, grown by doubling up
 * to {@link PACKED_MAX} records. A chunk of a 512 GiB pool with 16 preserved pages among 512
 * takes some 0.5 KiB instead of 7.5 KiB. Records are looked up by binary search (slots:
 * {@link find}, {@link slotFor}) and read and written through the slot accessors.
 *
 * **Dense**: typed arrays indexed by page, in two parts — `page->private` (4 KiB) and the
 * other fields (3.5 KiB) — each a shared read-only array until a page is written there
 * ({@link ownPriv}, {@link ownState}); a refcount part whose pages all have one count (a
 * whole pageblock allocated: `setPageCountRange`) is a shared uniform array too. The first
 * write that needs more than {@link PACKED_MAX} records makes a chunk dense ({@link densify});
 * it never goes back.
 */
class PageBlockState {
  #dense = false;
  /** Packed: records held. */
  #n = 0;
  /** Packed: records 0..n−1 once there were two (null: the first is in the fields below). */
  #recs: Uint32Array | null = null;
  #meta0 = 0;
  #rc0 = 0;
  #lo0 = 0;
  #hi0 = 0;
  readonly #pools: MemmapPools;
  #ownsPriv = false;
  #ownsState = false;
  /** Whether a page of the chunk may have PG_head (set once it could, never cleared). */
  mayHaveHead = false;
  // Dense: two parts, each a shared read-only array until owned (ownPriv / ownState).
  refcount: Int32Array = ZERO_I32;
  privLo: Uint32Array = ZERO_U32;
  privHi: Uint32Array = ZERO_U32;
  flags: Uint16Array = ZERO_U16;
  order: Uint8Array = ZERO_U8;

  /** An empty (packed) chunk whose dense buffers come from `pools`. */
  constructor(pools: MemmapPools) {
    this.#pools = pools;
  }

  /** Whether the chunk is typed arrays indexed by page (else packed records). */
  get dense(): boolean {
    return this.#dense;
  }

  /** Packed: records held. */
  get count(): number {
    return this.#n;
  }

  // ---------------------------------------------------------------- packed records

  #meta(s: number): number {
    const r = this.#recs;
    return r === null ? this.#meta0 : r[s * REC_WORDS];
  }

  #setMeta(s: number, m: number): void {
    const r = this.#recs;
    if (r === null) this.#meta0 = m >>> 0;
    else r[s * REC_WORDS] = m;
  }

  /** Packed: the page (index in the pageblock) of record `s`. */
  pageOf(s: number): number {
    return this.#meta(s) & PAGE_MASK;
  }

  /** Packed: refcount of record `s`. */
  rcOf(s: number): number {
    const r = this.#recs;
    return r === null ? this.#rc0 : r[s * REC_WORDS + 1] | 0;
  }

  /** Packed: sets the refcount of record `s` (kept as an int32, as the dense array does). */
  setRc(s: number, v: number): void {
    const r = this.#recs;
    if (r === null) this.#rc0 = v | 0;
    else r[s * REC_WORDS + 1] = v;
  }

  /** Packed: `page->private` low half of record `s`. */
  loOf(s: number): number {
    const r = this.#recs;
    return r === null ? this.#lo0 : r[s * REC_WORDS + 2];
  }

  /** Packed: `page->private` high half of record `s`. */
  hiOf(s: number): number {
    const r = this.#recs;
    return r === null ? this.#hi0 : r[s * REC_WORDS + 3];
  }

  /** Packed: sets `page->private` of record `s` (u32 halves). */
  setPriv(s: number, lo: number, hi: number): void {
    const r = this.#recs;
    if (r === null) {
      this.#lo0 = lo >>> 0;
      this.#hi0 = hi >>> 0;
    } else {
      r[s * REC_WORDS + 2] = lo;
      r[s * REC_WORDS + 3] = hi;
    }
  }

  /** Packed: PG_* bits of record `s`. */
  flOf(s: number): number {
    return this.#meta(s) >>> FLAGS_SHIFT;
  }

  /** Packed: sets the PG_* bits of record `s` (16 bits, as the dense array keeps them). */
  setFl(s: number, v: number): void {
    this.#setMeta(s, (this.#meta(s) & 0xffff) | ((v & 0xffff) << FLAGS_SHIFT));
  }

  /** Packed: compound order of record `s`. */
  ordOf(s: number): number {
    return (this.#meta(s) & ORDER_MASK) >>> ORDER_SHIFT;
  }

  /** Packed: sets the compound order of record `s` (< 128). */
  setOrd(s: number, v: number): void {
    this.#setMeta(s, (this.#meta(s) & ~ORDER_MASK) | ((v << ORDER_SHIFT) & ORDER_MASK));
  }

  /** Packed: whether every field of record `s` is 0. */
  #zero(s: number): boolean {
    return (this.#meta(s) & ~PAGE_MASK) === 0 && this.rcOf(s) === 0 && this.loOf(s) === 0 &&
      this.hiOf(s) === 0;
  }

  /** Packed: the first slot whose page is ≥ `i` (`count` if none). */
  lowerBound(i: number): number {
    const n = this.#n;
    const r = this.#recs;
    if (r === null) return n === 1 && (this.#meta0 & PAGE_MASK) < i ? 1 : 0;
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((r[mid * REC_WORDS] & PAGE_MASK) < i) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Packed: the slot of page `i`, or −1 when it has no record. */
  find(i: number): number {
    const n = this.#n;
    if (n === 0) return -1;
    const r = this.#recs;
    if (r === null) return (this.#meta0 & PAGE_MASK) === i ? 0 : -1;
    // ascending writes (the boot's stamps) find or pass the last record first
    const last = r[(n - 1) * REC_WORDS] & PAGE_MASK;
    if (last <= i) return last === i ? n - 1 : -1;
    const s = this.lowerBound(i);
    return (r[s * REC_WORDS] & PAGE_MASK) === i ? s : -1;
  }

  /**
   * Packed: the slot of page `i`, a zero record inserted if it had none; −1 when the chunk
   * had no room and became dense (the caller writes the dense arrays then).
   */
  slotFor(i: number): number {
    const found = this.find(i);
    if (found >= 0) return found;
    const n = this.#n;
    if (n === 0) {
      this.#meta0 = i;
      this.#n = 1;
      return 0;
    }
    if (n >= PACKED_MAX) {
      this.densify();
      return -1;
    }
    let r = this.#recs;
    if (r === null) {
      r = new Uint32Array(FIRST_CAPACITY * REC_WORDS);
      r[0] = this.#meta0;
      r[1] = this.#rc0;
      r[2] = this.#lo0;
      r[3] = this.#hi0;
      this.#recs = r;
      this.#meta0 =
        this.#rc0 =
        this.#lo0 =
        this.#hi0 =
          0;
    } else if (n * REC_WORDS === r.length) {
      const grown = new Uint32Array(Math.min(2 * n, PACKED_MAX) * REC_WORDS);
      grown.set(r);
      this.#recs = r = grown;
    }
    const s = this.lowerBound(i);
    if (s < n) r.copyWithin((s + 1) * REC_WORDS, s * REC_WORDS, n * REC_WORDS);
    const w = s * REC_WORDS;
    r[w] = i;
    r[w + 1] = 0;
    r[w + 2] = 0;
    r[w + 3] = 0;
    this.#n = n + 1;
    return s;
  }

  /** Makes the chunk dense when a write is about to add `n` records (beyond packed room). */
  reserve(n: number): void {
    if (!this.#dense && this.#n + n > PACKED_MAX) this.densify();
  }

  /**
   * Turns the chunk into typed arrays (the records copied in): the `page->private` part and
   * the other fields' part are owned only when a page has a value there.
   */
  densify(): void {
    if (this.#dense) return;
    for (let s = 0; s < this.#n; s++) {
      const i = this.pageOf(s);
      const lo = this.loOf(s), hi = this.hiOf(s);
      if (lo !== 0 || hi !== 0) {
        this.ownPriv();
        this.privLo[i] = lo;
        this.privHi[i] = hi;
      }
      const rc = this.rcOf(s), fl = this.flOf(s), ord = this.ordOf(s);
      if (rc !== 0 || fl !== 0 || ord !== 0) {
        this.ownState();
        this.refcount[i] = rc;
        this.flags[i] = fl;
        this.order[i] = ord;
      }
    }
    this.#dense = true;
    this.#recs = null;
    this.#n = 0;
    this.#meta0 =
      this.#rc0 =
      this.#lo0 =
      this.#hi0 =
        0;
  }

  // ---------------------------------------------------------------- dense parts

  /** Whether the dense chunk has its own refcount / flags / order arrays. */
  get ownsState(): boolean {
    return this.#ownsState;
  }

  /** Whether the dense chunk has its own `page->private` arrays. */
  get ownsPriv(): boolean {
    return this.#ownsPriv;
  }

  /** Whether the dense chunk's refcount / flags / order are all 0 without a look at them. */
  get stateZero(): boolean {
    return !this.#ownsState && this.refcount === ZERO_I32;
  }

  /** Gives the dense chunk its own `page->private` arrays (before writing them). */
  ownPriv(): void {
    if (this.#ownsPriv) return;
    const [buf, at] = this.#pools.priv.take();
    this.privLo = new Uint32Array(buf, at, CHUNK_PAGES);
    this.privHi = new Uint32Array(buf, at + CHUNK_PAGES * 4, CHUNK_PAGES);
    this.#ownsPriv = true;
  }

  /**
   * Gives the dense chunk its own refcount, flags and order arrays (before writing them), a
   * shared uniform refcount copied in.
   */
  ownState(): void {
    if (this.#ownsState) return;
    const [buf, at] = this.#pools.state.take();
    const shared = this.refcount;
    this.refcount = new Int32Array(buf, at, CHUNK_PAGES);
    if (shared !== ZERO_I32) this.refcount.set(shared);
    this.flags = new Uint16Array(buf, at + CHUNK_PAGES * 4, CHUNK_PAGES);
    this.order = new Uint8Array(buf, at + CHUNK_PAGES * 6, CHUNK_PAGES);
    this.#ownsState = true;
  }

  /**
   * Dense: every page's refcount `n`, flags and order 0 — the shared uniform part, without a
   * buffer of its own — when the chunk's state is shared (nothing but a uniform refcount).
   * Returns false (nothing done) when the chunk owns its state.
   */
  setUniformRefcount(n: number): boolean {
    if (this.#ownsState) return false;
    this.refcount = uniformRefcount(n);
    return true;
  }

  /** Hands a dense chunk's buffers back to its pool (the chunk is being dropped). */
  release(): void {
    if (this.#ownsPriv) {
      this.#pools.priv.give(this.privLo.buffer as ArrayBuffer, this.privLo.byteOffset);
    }
    if (this.#ownsState) {
      this.#pools.state.give(this.refcount.buffer as ArrayBuffer, this.refcount.byteOffset);
    }
  }

  // ---------------------------------------------------------------- whole chunk

  /** Pages with any non-default field. */
  usedPages(): number {
    let n = 0;
    if (!this.#dense) {
      for (let s = 0; s < this.#n; s++) if (!this.#zero(s)) n++;
      return n;
    }
    for (let i = 0; i < CHUNK_PAGES; i++) {
      if (
        this.refcount[i] !== 0 || this.privLo[i] !== 0 || this.privHi[i] !== 0 ||
        this.flags[i] !== 0 || this.order[i] !== 0
      ) n++;
    }
    return n;
  }

  /** Whether every page of the chunk is in the default state. */
  isDefault(): boolean {
    if (!this.#dense) {
      for (let s = 0; s < this.#n; s++) if (!this.#zero(s)) return false;
      return true;
    }
    return this.usedPages() === 0;
  }

  /** Approximate JS heap bytes. */
  approxBytes(): number {
    if (!this.#dense) {
      const r = this.#recs;
      return CHUNK_OBJECT_BYTES + (r === null ? 0 : r.byteLength + RECORDS_OVERHEAD_BYTES);
    }
    return CHUNK_OVERHEAD_BYTES +
      (this.#ownsPriv ? PRIV_BYTES + PART_OVERHEAD_BYTES : 0) +
      (this.#ownsState ? STATE_BYTES + PART_OVERHEAD_BYTES : 0);
  }
}

const RESET_MASK = ~(PG_RESERVED | PG_HEAD | PG_NOINIT | PG_BUDDY);

/** {@link Memmap.resetRange} on pages `[lo, hi)` of one chunk. */
function resetChunk(c: PageBlockState, lo: number, hi: number): void {
  if (!c.dense) {
    for (let s = c.lowerBound(lo); s < c.count && c.pageOf(s) < hi; s++) {
      c.setRc(s, 0);
      c.setOrd(s, 0);
      c.setFl(s, c.flOf(s) & RESET_MASK);
    }
    return;
  }
  if (c.stateZero) return; // all zero already
  if (!c.ownsState) {
    // a shared uniform refcount, flags and order 0
    if (lo === 0 && hi === CHUNK_PAGES) return void c.setUniformRefcount(0);
    c.ownState();
  }
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
  /** Chunks recording up to 64 pages one by one (packed records, 16 bytes each). */
  packedChunks: number;
  /** Pages recorded by the packed chunks. */
  packedPages: number;
  /** Chunks of typed arrays (512 pages each). */
  denseChunks: number;
  /** Dense chunks with their own `page->private` arrays (4 KiB each). */
  privParts: number;
  /** Dense chunks with their own refcount, flags and order arrays (3.5 KiB each). */
  stateParts: number;
  /**
   * Dense chunks whose pages all have one refcount and no flags, without arrays of their own
   * (a shared uniform refcount part).
   */
  uniformParts: number;
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
    if (c.dense) return c.refcount[i];
    const s = c.find(i);
    return s < 0 ? 0 : c.rcOf(s);
  }

  /** set_page_count(). */
  setPageCount(pfn: number, n: number): void {
    const c = n === 0 ? this.#chunk(pfn) : this.#chunkForWrite(pfn);
    if (c === undefined) return;
    const i = pfn % CHUNK_PAGES;
    if (!c.dense) {
      const s = n === 0 ? c.find(i) : c.slotFor(i);
      if (s >= 0) return c.setRc(s, n);
      if (!c.dense) return; // setting 0 on a page never recorded
    }
    if (c.refcount[i] === n) return; // no write: a shared part stays shared
    c.ownState();
    c.refcount[i] = n;
  }

  /** Sets the refcount of `nrPages` pages from `pfn`; setting 0 creates no chunks. */
  setPageCountRange(pfn: number, nrPages: number, n: number): void {
    if (n === 0) {
      this.#forEachChunk(pfn, pfn + nrPages, (c, _b, lo, hi) => {
        if (!c.dense) {
          for (let s = c.lowerBound(lo); s < c.count && c.pageOf(s) < hi; s++) c.setRc(s, 0);
        } else if (c.refcount !== ZERO_I32) {
          if (!c.ownsState && lo === 0 && hi === CHUNK_PAGES) c.setUniformRefcount(0);
          else {
            c.ownState();
            c.refcount.fill(0, lo, hi);
          }
        }
      });
      return;
    }
    this.#forEachChunkForWrite(pfn, pfn + nrPages, (c, lo, hi) => {
      c.reserve(hi - lo);
      if (c.dense) {
        // a whole pageblock with nothing else in it: one shared array for all its counts
        if (lo === 0 && hi === CHUNK_PAGES && c.setUniformRefcount(n)) return;
        c.ownState();
        c.refcount.fill(n, lo, hi);
      } else for (let i = lo; i < hi; i++) c.setRc(c.slotFor(i), n);
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
    if (!c.dense) {
      const s = c.slotFor(i);
      if (s >= 0) {
        c.setRc(s, c.rcOf(s) + d);
        return c.rcOf(s);
      }
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
    if (!c.dense) {
      const s = c.find(i);
      return s < 0 ? [0, 0] : [c.loOf(s), c.hiOf(s)];
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
    if (!c.dense) {
      const s = zero ? c.find(i) : c.slotFor(i);
      if (s >= 0) return c.setPriv(s, lo >>> 0, hi >>> 0);
      if (!c.dense) return;
    }
    if (zero && !c.ownsPriv) return; // reads as 0 already
    c.ownPriv();
    c.privLo[i] = lo >>> 0;
    c.privHi[i] = hi >>> 0;
  }

  /**
   * `set_page_private(phys_to_page(phys[i]), hi:lo)` for `i < n` (one value for all): the
   * stamp KHO's walk leaves on every preserved block, a leaf's blocks at a time. A batch's
   * run of pages in one pageblock that would not fit in packed records makes it dense first
   * (a walk's batch is ascending: all its pages in a pageblock come in one run).
   */
  setPrivateOfPhys(phys: Float64Array, n: number, lo: number, hi: number): void {
    lo >>>= 0;
    hi >>>= 0;
    if (lo === 0 && hi === 0) {
      for (let i = 0; i < n; i++) this.setPrivate(Math.floor(phys[i] / PAGE_BYTES), 0, 0);
      return;
    }
    let prev: PageBlockState | undefined = undefined;
    for (let i = 0; i < n; i++) {
      const pfn = Math.floor(phys[i] / PAGE_BYTES);
      const c = this.#chunkForWrite(pfn);
      const k = pfn % CHUNK_PAGES;
      if (!c.dense) {
        if (c !== prev) {
          const end = (pfn - k + CHUNK_PAGES) * PAGE_BYTES;
          let j = i + 1;
          while (j < n && phys[j] < end && phys[j] >= phys[j - 1]) j++;
          c.reserve(j - i);
        }
        prev = c;
        const s = c.dense ? -1 : c.slotFor(k);
        if (s >= 0) {
          c.setPriv(s, lo, hi);
          continue;
        }
      }
      prev = c;
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
    if (c.dense) return c.flags[i];
    const s = c.find(i);
    return s < 0 ? 0 : c.flOf(s);
  }

  /** Sets a PG_* bit. */
  setFlag(pfn: number, flag: number): void {
    const c = this.#chunkForWrite(pfn);
    if (flag & PG_HEAD) c.mayHaveHead = true;
    const i = pfn % CHUNK_PAGES;
    if (!c.dense) {
      const s = c.slotFor(i);
      if (s >= 0) return c.setFl(s, c.flOf(s) | flag);
    }
    c.ownState();
    c.flags[i] |= flag;
  }

  /** Clears a PG_* bit. */
  clearFlag(pfn: number, flag: number): void {
    const c = this.#chunk(pfn);
    if (c === undefined) return;
    const i = pfn % CHUNK_PAGES;
    if (!c.dense) {
      const s = c.find(i);
      if (s >= 0) c.setFl(s, c.flOf(s) & ~flag);
    } else if (c.ownsState) c.flags[i] &= ~flag;
  }

  /** Sets a PG_* bit on `nrPages` pages from `pfn`. */
  setFlagRange(pfn: number, nrPages: number, flag: number): void {
    this.#forEachChunkForWrite(pfn, pfn + nrPages, (c, lo, hi) => {
      if (flag & PG_HEAD) c.mayHaveHead = true;
      c.reserve(hi - lo);
      if (c.dense) {
        c.ownState();
        for (let i = lo; i < hi; i++) c.flags[i] |= flag;
      } else {
        for (let i = lo; i < hi; i++) {
          const s = c.slotFor(i);
          c.setFl(s, c.flOf(s) | flag);
        }
      }
    });
  }

  /** Clears a PG_* bit on `nrPages` pages from `pfn` (creates no chunks). */
  clearFlagRange(pfn: number, nrPages: number, flag: number): void {
    this.#forEachChunk(pfn, pfn + nrPages, (c, _b, lo, hi) => {
      if (c.dense) {
        if (c.ownsState) { for (let i = lo; i < hi; i++) c.flags[i] &= ~flag; }
      } else {
        for (let s = c.lowerBound(lo); s < c.count && c.pageOf(s) < hi; s++) {
          c.setFl(s, c.flOf(s) & ~flag);
        }
      }
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
    const s = c.dense ? -1 : c.slotFor(i);
    if (s >= 0) {
      c.setFl(s, c.flOf(s) | PG_HEAD);
      c.setOrd(s, order);
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
    if (!c.dense) {
      const s = c.find(i);
      return s >= 0 && (c.flOf(s) & PG_HEAD) !== 0 ? c.ordOf(s) : 0;
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
    if (!c.dense) {
      const s = c.find(i);
      if (s >= 0) {
        c.setFl(s, c.flOf(s) & ~PG_HEAD);
        c.setOrd(s, 0);
      }
      return;
    }
    if (!c.ownsState) return; // flags and order are 0
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
      if (!c.dense) {
        // the pages first: `visit` may write the chunk (records move, or it becomes dense)
        const pages: number[] = [];
        for (let s = c.lowerBound(lo); s < c.count && c.pageOf(s) < hi; s++) {
          pages.push(c.pageOf(s));
        }
        for (const i of pages) {
          let rc: number, fl: number;
          if (c.dense) [rc, fl] = [c.refcount[i], c.flags[i]];
          else {
            const s = c.find(i);
            [rc, fl] = s < 0 ? [0, 0] : [c.rcOf(s), c.flOf(s)];
          }
          if ((rc !== 0 || fl !== 0) && visit(base + i, rc, fl) === false) return false;
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
      packedChunks: 0,
      packedPages: 0,
      denseChunks: 0,
      privParts: 0,
      stateParts: 0,
      uniformParts: 0,
      densePagesLog2: new Array(CHUNK_ORDER + 1).fill(0),
    };
    for (const sec of this.#sections.values()) {
      for (const chunk of sec.chunks) {
        if (chunk === undefined) continue;
        if (!chunk.dense) {
          c.packedChunks++;
          c.packedPages += chunk.count;
          continue;
        }
        c.denseChunks++;
        if (chunk.ownsPriv) c.privParts++;
        if (chunk.ownsState) c.stateParts++;
        else if (!chunk.stateZero) c.uniformParts++;
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
