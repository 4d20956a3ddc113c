/**
 * The buddy allocator's free blocks below MAX_PAGE_ORDER — what the kernel keeps in
 * `struct free_area` (the free lists, `nr_free`) and finds through `PageBuddy()` and
 * `buddy_order()` in struct page — as struct-of-arrays, with no JavaScript object per block:
 *
 * - a **slot** per free block: head pfn, order, migrate type, node, list, and the `prev` /
 *   `next` links of its free list (LIFO: the kernel adds to and takes from the list head),
 *   all in typed arrays; freed slots are reused;
 * - a **record per partly free pageblock** (one holding a head), found through a hash table
 *   in typed arrays ({@link IntHash}: a 32 TiB host with millions of preserved pages leaves
 *   more free blocks than a JavaScript `Map` holds): its free pages, a 512-bit bitmap of block
 *   heads — "is any free block head in `[start, end)`" costs a few word tests, "is there a head
 *   at `pfn`" one — and the slots of its heads: up to 16 listed in the record, beyond that a
 *   512-entry map. Lookups of one pageblock stay in a few cache lines (a boot frees memory in
 *   ascending order; the allocator splits and merges inside a pageblock);
 * - the partly free pageblocks in a two-level bitmap over the pageblock index, so those of a
 *   range are found in ascending order without a sort.
 *
 * @module
 */

import { PAGEBLOCK_NR_PAGES } from "../units.ts";

const WORDS = PAGEBLOCK_NR_PAGES / 32;
const EMPTY = -1;

/** `k mod 2^32` and `floor(k / 2^32)` of a non-negative integer, hashed to 32 bits. */
function hash32(k: number): number {
  const lo = k >>> 0;
  const hi = (k / 4294967296) >>> 0;
  return Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1);
}

/**
 * A hash table from non-negative integers (below 2^53) to non-negative int32 values, in typed
 * arrays: open addressing with linear probing (Fibonacci hashing on the top bits, so that
 * aligned keys spread), backward-shift deletion, doubled at half load.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IntHash } from "./buddy_free_index.ts";
 * const h = new IntHash();
 * h.set(2 ** 40, 7);
 * assert.equal(h.get(2 ** 40), 7);
 * assert.equal(h.get(3), -1);
 * assert.ok(h.delete(2 ** 40));
 * assert.equal(h.size, 0);
 * ```
 */
export class IntHash {
  #keys: Float64Array;
  #vals: Int32Array;
  #shift: number;
  #mask: number;
  #size = 0;

  /** An empty table with room for `capacity` keys before it grows. */
  constructor(capacity = 16) {
    let bits = 4;
    while (2 ** bits < capacity * 2) bits++;
    this.#keys = new Float64Array(2 ** bits).fill(EMPTY);
    this.#vals = new Int32Array(2 ** bits);
    this.#shift = 32 - bits;
    this.#mask = 2 ** bits - 1;
  }

  /** Keys held. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the table's arrays. */
  get byteLength(): number {
    return this.#keys.byteLength + this.#vals.byteLength;
  }

  /** The value of `key`, or -1. */
  get(key: number): number {
    const keys = this.#keys;
    const mask = this.#mask;
    let i = hash32(key) >>> this.#shift;
    for (;;) {
      const k = keys[i];
      if (k === key) return this.#vals[i];
      if (k === EMPTY) return -1;
      i = (i + 1) & mask;
    }
  }

  /** Sets the value of `key` (≥ 0). */
  set(key: number, value: number): void {
    const keys = this.#keys;
    const mask = this.#mask;
    let i = hash32(key) >>> this.#shift;
    for (;;) {
      const k = keys[i];
      if (k === key) {
        this.#vals[i] = value;
        return;
      }
      if (k === EMPTY) break;
      i = (i + 1) & mask;
    }
    keys[i] = key;
    this.#vals[i] = value;
    if (++this.#size * 2 > keys.length) this.#grow();
  }

  /** Removes `key`; false when it was not there. */
  delete(key: number): boolean {
    const keys = this.#keys;
    const vals = this.#vals;
    const mask = this.#mask;
    const shift = this.#shift;
    let i = hash32(key) >>> shift;
    for (;;) {
      const k = keys[i];
      if (k === key) break;
      if (k === EMPTY) return false;
      i = (i + 1) & mask;
    }
    // Backward shift: move later members of the probe run into the hole.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j];
      if (k === EMPTY) break;
      const home = hash32(k) >>> shift;
      // k may move to the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = k;
        vals[i] = vals[j];
        i = j;
      }
    }
    keys[i] = EMPTY;
    this.#size--;
    return true;
  }

  /** Removes every key. */
  clear(): void {
    this.#keys.fill(EMPTY);
    this.#size = 0;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldVals = this.#vals;
    const n = oldKeys.length * 2;
    this.#keys = new Float64Array(n).fill(EMPTY);
    this.#vals = new Int32Array(n);
    this.#shift--;
    this.#mask = n - 1;
    this.#size = 0;
    for (let i = 0; i < oldKeys.length; i++) {
      if (oldKeys[i] !== EMPTY) this.set(oldKeys[i], oldVals[i]);
    }
  }
}

/**
 * A set of non-negative integers as a two-level bitmap (a summary bit per 32-bit word), grown
 * on demand: ascending "next member ≥ x" without a sort.
 */
class IndexBitmap {
  #l0 = new Uint32Array(32);
  #l1 = new Uint32Array(1);

  add(x: number): void {
    const w = Math.floor(x / 32);
    if (w >= this.#l0.length) this.#grow(w + 1);
    this.#l0[w] |= 1 << (x & 31);
    this.#l1[w >>> 5] |= 1 << (w & 31);
  }

  remove(x: number): void {
    const w = Math.floor(x / 32);
    const v = (this.#l0[w] &= ~(1 << (x & 31)));
    if (v === 0) this.#l1[w >>> 5] &= ~(1 << (w & 31));
  }

  /** The smallest member ≥ x, or -1. */
  next(x: number): number {
    const l0 = this.#l0;
    let w = Math.floor(x / 32);
    if (w >= l0.length) return -1;
    const first = l0[w] & (-1 << (x & 31));
    if (first !== 0) return w * 32 + (31 - Math.clz32(first & -first));
    const l1 = this.#l1;
    w++;
    let s = w >>> 5;
    if (s >= l1.length) return -1;
    let bits = l1[s] & (-1 << (w & 31));
    for (;;) {
      if (bits !== 0) {
        const wi = s * 32 + (31 - Math.clz32(bits & -bits));
        const v = l0[wi];
        return wi * 32 + (31 - Math.clz32(v & -v));
      }
      if (++s >= l1.length) return -1;
      bits = l1[s];
    }
  }

  clear(): void {
    this.#l0 = new Uint32Array(32);
    this.#l1 = new Uint32Array(1);
  }

  get byteLength(): number {
    return this.#l0.byteLength + this.#l1.byteLength;
  }

  #grow(words: number): void {
    let n = this.#l0.length;
    while (n < words) n *= 2;
    const l0 = new Uint32Array(n);
    l0.set(this.#l0);
    const l1 = new Uint32Array(Math.ceil(n / 32));
    l1.set(this.#l1);
    this.#l0 = l0;
    this.#l1 = l1;
  }
}

/** Head slots a pageblock record lists before it takes a 512-entry map. */
const INLINE = 16;

/**
 * The free blocks of order < MAX_PAGE_ORDER of one allocator: slots on LIFO lists (one per
 * node × migrate type × order, numbered by the caller), found by head pfn through a record per
 * partly free pageblock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FreeBlockIndex } from "./buddy_free_index.ts";
 * const idx = new FreeBlockIndex(4);
 * const s = idx.add(1000, 3, 1, 0, 2); // pfn 1000, order 3, type 1, node 0, list 2
 * assert.equal(idx.find(1000), s);
 * assert.equal(idx.order[s], 3);
 * assert.equal(idx.head(2), s);
 * assert.equal(idx.size, 1);
 * assert.equal(idx.firstHeadIn(990, 1010), 1000);
 * assert.equal(idx.firstHeadIn(1001, 2000), null);
 * assert.equal(idx.blockContaining(1007), s);
 * idx.remove(s);
 * assert.equal(idx.head(2), -1);
 * ```
 */
export class FreeBlockIndex {
  /** Head pfn of each slot (-1: slot unused). */
  pfn: Float64Array;
  /** Order of each slot. */
  order: Uint8Array;
  /** Migrate type of each slot. */
  mt: Uint8Array;
  /** Node of each slot. */
  nid: Int16Array;
  /** Free list of each slot. */
  list: Int32Array;
  /** Previous slot on the list (toward the head), or -1. */
  prev: Int32Array;
  /** Next slot on the list, or -1. */
  next: Int32Array;
  readonly #heads: Int32Array;
  readonly #counts: Float64Array;
  #used = 0;
  #unused = -1;
  #top = 0;
  // partly free pageblocks: pb → record r
  readonly #byPb = new IntHash(64);
  #lastPb = -1;
  #lastR = -1;
  /** Free pages in the pageblock's blocks. */
  #pbFree = new Int32Array(16);
  /** Heads in the pageblock. */
  #pbHeads = new Int32Array(16);
  /** 16 words of head bits per record. */
  #pbBits = new Uint32Array(16 * WORDS);
  /** Up to INLINE (offset, slot) pairs per record, unordered. */
  #pbOff = new Uint16Array(16 * INLINE);
  #pbSlot = new Int32Array(16 * INLINE);
  /** The record's 512-entry map in #maps (its index), or -1 while the pairs suffice. */
  #pbMap = new Int32Array(16).fill(-1);
  #pbUnused: number[] = [];
  #pbTop = 0;
  #maps = new Int32Array(0);
  #mapUnused: number[] = [];
  #mapTop = 0;
  readonly #partial = new IndexBitmap();

  /** An empty index for `lists` free lists. */
  constructor(lists: number) {
    this.#heads = new Int32Array(lists).fill(-1);
    this.#counts = new Float64Array(lists);
    const cap = 64;
    this.pfn = new Float64Array(cap);
    this.order = new Uint8Array(cap);
    this.mt = new Uint8Array(cap);
    this.nid = new Int16Array(cap);
    this.list = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
  }

  /** Blocks indexed. */
  get size(): number {
    return this.#used;
  }

  /** Pageblocks holding at least one block head. */
  get pageblocks(): number {
    return this.#byPb.size;
  }

  /** Approximate bytes of the index's arrays. */
  get byteLength(): number {
    return this.pfn.length * 28 + this.#byPb.byteLength + this.#pbFree.length * 148 +
      this.#maps.byteLength + this.#partial.byteLength + this.#heads.byteLength +
      this.#counts.byteLength;
  }

  /** The record of pageblock `pb`, or -1. */
  #record(pb: number): number {
    if (pb === this.#lastPb) return this.#lastR;
    const r = this.#byPb.get(pb);
    if (r >= 0) {
      this.#lastPb = pb;
      this.#lastR = r;
    }
    return r;
  }

  /** The slot of head `off` in record `r` (its bit is set). */
  #slotAt(r: number, off: number): number {
    const m = this.#pbMap[r];
    if (m >= 0) return this.#maps[m * PAGEBLOCK_NR_PAGES + off];
    const offs = this.#pbOff;
    const base = r * INLINE;
    for (let j = base, end = base + this.#pbHeads[r]; j < end; j++) {
      if (offs[j] === off) return this.#pbSlot[j];
    }
    return -1;
  }

  /** The slot of the block whose head is `pfn`, or -1. */
  find(pfn: number): number {
    const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    const r = this.#record(pb);
    if (r < 0) return -1;
    const off = pfn - pb * PAGEBLOCK_NR_PAGES;
    if ((this.#pbBits[r * WORDS + (off >>> 5)] & (1 << (off & 31))) === 0) return -1;
    return this.#slotAt(r, off);
  }

  /** The first slot of list `li` (its head), or -1. */
  head(li: number): number {
    return this.#heads[li];
  }

  /** Blocks on list `li` (`nr_free` of one list). */
  count(li: number): number {
    return this.#counts[li];
  }

  /** Free pages in blocks whose head lies in pageblock `pb`. */
  pageblockFreePages(pb: number): number {
    const r = this.#record(pb);
    return r < 0 ? 0 : this.#pbFree[r];
  }

  /** Whether pageblock `pb` holds a block head. */
  hasPageblock(pb: number): boolean {
    return this.#record(pb) >= 0;
  }

  /** Puts a block at the head of list `li` and indexes it; returns its slot. */
  add(pfn: number, order: number, mt: number, nid: number, li: number): number {
    let s = this.#unused;
    if (s >= 0) this.#unused = this.next[s];
    else {
      if (this.#top === this.pfn.length) this.#growSlots();
      s = this.#top++;
    }
    this.#used++;
    this.pfn[s] = pfn;
    this.order[s] = order;
    this.mt[s] = mt;
    this.nid[s] = nid;
    this.list[s] = li;
    const head = this.#heads[li];
    this.prev[s] = -1;
    this.next[s] = head;
    if (head >= 0) this.prev[head] = s;
    this.#heads[li] = s;
    this.#counts[li]++;
    // the pageblock's record
    const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    let r = this.#record(pb);
    if (r < 0) {
      r = this.#newPb();
      this.#byPb.set(pb, r);
      this.#partial.add(pb);
      this.#lastPb = pb;
      this.#lastR = r;
    }
    const off = pfn - pb * PAGEBLOCK_NR_PAGES;
    this.#pbFree[r] += 1 << order;
    this.#pbBits[r * WORDS + (off >>> 5)] |= 1 << (off & 31);
    const n = this.#pbHeads[r]++;
    let m = this.#pbMap[r];
    if (m < 0 && n === INLINE) m = this.#toMap(r);
    if (m >= 0) this.#maps[m * PAGEBLOCK_NR_PAGES + off] = s;
    else {
      this.#pbOff[r * INLINE + n] = off;
      this.#pbSlot[r * INLINE + n] = s;
    }
    return s;
  }

  /** Takes the block in slot `s` off its list and out of the index. */
  remove(s: number): void {
    const li = this.list[s];
    const p = this.prev[s], n = this.next[s];
    if (p >= 0) this.next[p] = n;
    else this.#heads[li] = n;
    if (n >= 0) this.prev[n] = p;
    this.#counts[li]--;
    const pfn = this.pfn[s];
    const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    const r = this.#record(pb);
    const off = pfn - pb * PAGEBLOCK_NR_PAGES;
    this.#pbFree[r] -= 1 << this.order[s];
    this.#pbBits[r * WORDS + (off >>> 5)] &= ~(1 << (off & 31));
    const left = --this.#pbHeads[r];
    const m = this.#pbMap[r];
    if (m < 0) {
      // swap the last pair into this one's place
      const base = r * INLINE;
      let j = base;
      while (this.#pbOff[j] !== off) j++;
      this.#pbOff[j] = this.#pbOff[base + left];
      this.#pbSlot[j] = this.#pbSlot[base + left];
    }
    if (left === 0) {
      this.#byPb.delete(pb);
      this.#partial.remove(pb);
      if (m >= 0) {
        this.#mapUnused.push(m);
        this.#pbMap[r] = -1;
      }
      this.#pbUnused.push(r);
      this.#lastPb = -1;
    }
    this.pfn[s] = -1;
    this.next[s] = this.#unused;
    this.#unused = s;
    this.#used--;
  }

  /** Drops every block. */
  clear(): void {
    this.#heads.fill(-1);
    this.#counts.fill(0);
    this.pfn.fill(-1, 0, this.#top);
    this.#used = 0;
    this.#unused = -1;
    this.#top = 0;
    this.#byPb.clear();
    this.#lastPb = -1;
    this.#pbFree.fill(0);
    this.#pbHeads.fill(0);
    this.#pbBits.fill(0);
    this.#pbMap.fill(-1);
    this.#pbUnused = [];
    this.#pbTop = 0;
    this.#maps = new Int32Array(0);
    this.#mapUnused = [];
    this.#mapTop = 0;
    this.#partial.clear();
  }

  /** Every slot in use, in slot order. */
  *slots(): Generator<number> {
    for (let s = 0; s < this.#top; s++) if (this.pfn[s] >= 0) yield s;
  }

  /** The lowest pageblock ≥ `pb` holding a block head, or -1. */
  nextPageblock(pb: number): number {
    return this.#partial.next(pb);
  }

  /**
   * The lowest block head in `[start, end)`, or null: a bitmap scan of the partly free
   * pageblocks the range covers, in ascending order.
   */
  firstHeadIn(start: number, end: number): number | null {
    if (end <= start) return null;
    const pbLast = Math.floor((end - 1) / PAGEBLOCK_NR_PAGES);
    let pb = Math.floor(start / PAGEBLOCK_NR_PAGES);
    // the first pageblock is probed directly (the common case: a range inside one)
    if (pb === pbLast) {
      const r = this.#record(pb);
      return r < 0 ? null : this.#scan(r, pb, start, end);
    }
    for (pb = this.#partial.next(pb); pb >= 0 && pb <= pbLast; pb = this.#partial.next(pb + 1)) {
      const h = this.#scan(this.#record(pb), pb, start, end);
      if (h !== null) return h;
    }
    return null;
  }

  /**
   * The slot of the free block containing `pfn`, or -1: blocks are disjoint and lie inside
   * one pageblock, so only the nearest head at or below `pfn` can be it (one bitmap scan
   * down, one lookup).
   */
  blockContaining(pfn: number): number {
    const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    const r = this.#record(pb);
    if (r < 0) return -1;
    const bits = this.#pbBits;
    const base = pb * PAGEBLOCK_NR_PAGES;
    const off = pfn - base;
    const w0 = r * WORDS;
    let w = off >>> 5;
    // bits 0..(off & 31) of the first word
    let x = bits[w0 + w] & (0xffffffff >>> (31 - (off & 31)));
    while (x === 0) {
      if (--w < 0) return -1;
      x = bits[w0 + w];
    }
    const h = w * 32 + (31 - Math.clz32(x));
    const s = this.#slotAt(r, h);
    return base + h + (1 << this.order[s]) > pfn ? s : -1;
  }

  /** The lowest head set in record `r` (pageblock `pb`) inside `[start, end)`, or null. */
  #scan(r: number, pb: number, start: number, end: number): number | null {
    const bits = this.#pbBits;
    const base = pb * PAGEBLOCK_NR_PAGES;
    const lo = Math.max(start, base) - base;
    const hi = Math.min(end, base + PAGEBLOCK_NR_PAGES) - base; // exclusive, > lo
    const wLast = (hi - 1) >>> 5;
    const w0 = r * WORDS;
    for (let w = lo >>> 5; w <= wLast; w++) {
      let x = bits[w0 + w];
      if (w === lo >>> 5) x &= -1 << (lo & 31);
      if (w === wLast && (hi & 31) !== 0) x &= (1 << (hi & 31)) - 1;
      if (x !== 0) return base + w * 32 + (31 - Math.clz32(x & -x));
    }
    return null;
  }

  /** Moves record `r`'s pairs into a 512-entry map; returns the map. */
  #toMap(r: number): number {
    let m = this.#mapUnused.pop();
    if (m === undefined) {
      m = this.#mapTop++;
      if (this.#mapTop * PAGEBLOCK_NR_PAGES > this.#maps.length) {
        const maps = new Int32Array(
          Math.max(4, Math.ceil(this.#mapTop * 1.5)) * PAGEBLOCK_NR_PAGES,
        );
        maps.set(this.#maps);
        this.#maps = maps;
      }
    }
    const base = r * INLINE;
    const at = m * PAGEBLOCK_NR_PAGES;
    for (let j = 0; j < INLINE; j++) {
      this.#maps[at + this.#pbOff[base + j]] = this.#pbSlot[base + j];
    }
    this.#pbMap[r] = m;
    return m;
  }

  #newPb(): number {
    const r = this.#pbUnused.pop();
    if (r !== undefined) return r;
    if (this.#pbTop === this.#pbFree.length) {
      const n = Math.ceil(this.#pbFree.length * 1.5);
      const grow = <T extends Int32Array | Uint32Array | Uint16Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.#pbFree = grow(this.#pbFree, new Int32Array(n));
      this.#pbHeads = grow(this.#pbHeads, new Int32Array(n));
      this.#pbBits = grow(this.#pbBits, new Uint32Array(n * WORDS));
      this.#pbOff = grow(this.#pbOff, new Uint16Array(n * INLINE));
      this.#pbSlot = grow(this.#pbSlot, new Int32Array(n * INLINE));
      const map = new Int32Array(n).fill(-1);
      map.set(this.#pbMap);
      this.#pbMap = map;
    }
    return this.#pbTop++;
  }

  #growSlots(): void {
    // ×1.5: a boot's free blocks arrive all at once; less slack than doubling
    const n = Math.ceil(this.pfn.length * 1.5);
    const grow = <T extends Float64Array | Uint8Array | Int16Array | Int32Array>(
      a: T,
      b: T,
    ): T => {
      b.set(a);
      return b;
    };
    this.pfn = grow(this.pfn, new Float64Array(n));
    this.order = grow(this.order, new Uint8Array(n));
    this.mt = grow(this.mt, new Uint8Array(n));
    this.nid = grow(this.nid, new Int16Array(n));
    this.list = grow(this.list, new Int32Array(n));
    this.prev = grow(this.prev, new Int32Array(n));
    this.next = grow(this.next, new Int32Array(n));
  }
}
