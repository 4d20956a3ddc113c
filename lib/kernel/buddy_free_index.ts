/**
 * The buddy allocator's index of free blocks below MAX_PAGE_ORDER by head pfn — what the
 * kernel finds through `PageBuddy()` and `buddy_order()` in struct page. Two parts:
 *
 * - the blocks, in maps sharded by pageblock (a JavaScript Map holds fewer than 2^24
 *   entries; a 32 TiB host with millions of preserved pages leaves more free blocks than
 *   that between them);
 * - per partly free pageblock, a 512-bit bitmap of block heads, so "is any free block head
 *   in `[start, end)`" costs a few word tests instead of a lookup per page (the double-free
 *   check of every range `memblock_free_all` hands over).
 *
 * @module
 */

import { PAGEBLOCK_NR_PAGES } from "../units.ts";

const SHARDS = 64;
const WORDS = PAGEBLOCK_NR_PAGES / 32;

function shardOf(pfn: number): number {
  // pageblock index modulo 64 (`>>>` wraps above 2^32: still a function of pfn)
  return (pfn >>> 9) & (SHARDS - 1);
}

/**
 * Free blocks by head pfn, with a head bitmap per pageblock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FreeBlockIndex } from "./buddy_free_index.ts";
 * const idx = new FreeBlockIndex<string>();
 * idx.set(1000, "order-3 block");
 * assert.equal(idx.get(1000), "order-3 block");
 * assert.equal(idx.size, 1);
 * assert.equal(idx.firstHeadIn(990, 1010), 1000);
 * assert.equal(idx.firstHeadIn(1001, 2000), null);
 * ```
 */
export class FreeBlockIndex<T> {
  readonly #shards: Map<number, T>[] = Array.from({ length: SHARDS }, () => new Map());
  readonly #heads = new Map<number, Uint32Array>();
  #size = 0;

  /** Blocks indexed. */
  get size(): number {
    return this.#size;
  }

  /** Pageblocks holding at least one block head. */
  get pageblocks(): number {
    return this.#heads.size;
  }

  /** The block whose head is `pfn`. */
  get(pfn: number): T | undefined {
    return this.#shards[shardOf(pfn)].get(pfn);
  }

  /** Whether a block has its head at `pfn`. */
  has(pfn: number): boolean {
    return this.#shards[shardOf(pfn)].has(pfn);
  }

  /** Records the block whose head is `pfn`. */
  set(pfn: number, block: T): void {
    const shard = this.#shards[shardOf(pfn)];
    if (!shard.has(pfn)) {
      this.#size++;
      const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
      let bm = this.#heads.get(pb);
      if (bm === undefined) {
        bm = new Uint32Array(WORDS);
        this.#heads.set(pb, bm);
      }
      const off = pfn - pb * PAGEBLOCK_NR_PAGES;
      bm[off >>> 5] |= 1 << (off & 31);
    }
    shard.set(pfn, block);
  }

  /** Forgets the block whose head is `pfn`; false when there was none. */
  delete(pfn: number): boolean {
    if (!this.#shards[shardOf(pfn)].delete(pfn)) return false;
    this.#size--;
    const pb = Math.floor(pfn / PAGEBLOCK_NR_PAGES);
    const bm = this.#heads.get(pb)!;
    const off = pfn - pb * PAGEBLOCK_NR_PAGES;
    bm[off >>> 5] &= ~(1 << (off & 31));
    if (bm[off >>> 5] === 0 && bm.every((w) => w === 0)) this.#heads.delete(pb);
    return true;
  }

  /** Every block, shard by shard. */
  *values(): Generator<T> {
    for (const s of this.#shards) yield* s.values();
  }

  /**
   * The lowest block head in `[start, end)`, or null: a bitmap scan of the pageblocks the
   * range covers (one map lookup and at most 16 word tests each), or of the partly free
   * pageblocks when there are fewer of those.
   */
  firstHeadIn(start: number, end: number): number | null {
    if (end <= start) return null;
    const pbFirst = Math.floor(start / PAGEBLOCK_NR_PAGES);
    const pbLast = Math.floor((end - 1) / PAGEBLOCK_NR_PAGES);
    if (pbLast - pbFirst >= this.#heads.size) {
      let best: number | null = null;
      for (const [pb, bm] of this.#heads) {
        if (pb < pbFirst || pb > pbLast || (best !== null && pb * PAGEBLOCK_NR_PAGES > best)) {
          continue;
        }
        const h = scan(bm, pb, start, end);
        if (h !== null && (best === null || h < best)) best = h;
      }
      return best;
    }
    for (let pb = pbFirst; pb <= pbLast; pb++) {
      const bm = this.#heads.get(pb);
      if (bm === undefined) continue;
      const h = scan(bm, pb, start, end);
      if (h !== null) return h;
    }
    return null;
  }
}

/** The lowest head set in pageblock `pb`'s bitmap inside `[start, end)`, or null. */
function scan(bm: Uint32Array, pb: number, start: number, end: number): number | null {
  const base = pb * PAGEBLOCK_NR_PAGES;
  const lo = Math.max(start, base) - base;
  const hi = Math.min(end, base + PAGEBLOCK_NR_PAGES) - base; // exclusive, > lo
  const wLast = (hi - 1) >>> 5;
  for (let w = lo >>> 5; w <= wLast; w++) {
    let x = bm[w];
    if (w === lo >>> 5) x &= -1 << (lo & 31);
    if (w === wLast && (hi & 31) !== 0) x &= (1 << (hi & 31)) - 1;
    if (x !== 0) return base + w * 32 + (31 - Math.clz32(x & -x));
  }
  return null;
}
