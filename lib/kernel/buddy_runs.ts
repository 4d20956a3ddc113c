/**
 * The buddy allocator's MAX_PAGE_ORDER free list, kept as sorted runs of consecutive free
 * max-order blocks: a freshly booted 32 TiB machine has 2^23 free 4 MiB blocks but only a
 * handful of runs, so boot costs O(runs), not O(blocks).
 *
 * @module
 */

/**
 * Sorted, disjoint, non-adjacent runs `[start, end)` of page frames, each a whole number of
 * blocks of `blockPages` pages (aligned to it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RunList } from "./buddy_runs.ts";
 * const runs = new RunList(1024);
 * runs.add(0, 4096);
 * runs.add(4096, 8192); // coalesces
 * assert.equal(runs.runCount, 1);
 * assert.equal(runs.blocks, 8);
 * assert.equal(runs.popFirstBlock(), 0);
 * ```
 */
export class RunList {
  /** Pages per block (1024 for order 10). */
  readonly blockPages: number;
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  #blocks = 0;

  /** Creates an empty list of blocks of `blockPages` pages. */
  constructor(blockPages: number) {
    this.blockPages = blockPages;
  }

  /** Number of free blocks in all runs. */
  get blocks(): number {
    return this.#blocks;
  }

  /** Number of runs. */
  get runCount(): number {
    return this.#starts.length;
  }

  /** Index of the first run whose start is > pfn. */
  #upper(pfn: number): number {
    const s = this.#starts;
    let lo = 0, hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= pfn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #check(start: number, end: number): void {
    const b = this.blockPages;
    if (start % b !== 0 || end % b !== 0 || end <= start) {
      throw new RangeError(`run [${start}, ${end}) is not a whole number of ${b}-page blocks`);
    }
  }

  /** Adds `[start, end)`, coalescing with neighbours; throws if it overlaps a run. */
  add(start: number, end: number): void {
    this.#check(start, end);
    const s = this.#starts, e = this.#ends;
    const i = this.#upper(start);
    const prev = i - 1;
    if ((prev >= 0 && e[prev] > start) || (i < s.length && s[i] < end)) {
      throw new RangeError(`run [${start}, ${end}) overlaps a free run`);
    }
    const joinPrev = prev >= 0 && e[prev] === start;
    const joinNext = i < s.length && s[i] === end;
    if (joinPrev && joinNext) {
      e[prev] = e[i];
      s.splice(i, 1);
      e.splice(i, 1);
    } else if (joinPrev) {
      e[prev] = end;
    } else if (joinNext) {
      s[i] = start;
    } else {
      s.splice(i, 0, start);
      e.splice(i, 0, end);
    }
    this.#blocks += (end - start) / this.blockPages;
  }

  /** Removes `[start, end)`, which must lie inside one run. */
  remove(start: number, end: number): void {
    this.#check(start, end);
    const s = this.#starts, e = this.#ends;
    const i = this.#upper(start) - 1;
    if (i < 0 || e[i] < end) throw new RangeError(`[${start}, ${end}) is not inside a free run`);
    const rs = s[i], re = e[i];
    if (rs === start && re === end) {
      s.splice(i, 1);
      e.splice(i, 1);
    } else if (rs === start) {
      s[i] = end;
    } else if (re === end) {
      e[i] = start;
    } else {
      e[i] = start;
      s.splice(i + 1, 0, end);
      e.splice(i + 1, 0, re);
    }
    this.#blocks -= (end - start) / this.blockPages;
  }

  /** The lowest free block's first pfn, or null. */
  first(): number | null {
    return this.#starts.length === 0 ? null : this.#starts[0];
  }

  /** Takes the lowest free block off the list; returns its first pfn or null. */
  popFirstBlock(): number | null {
    if (this.#starts.length === 0) return null;
    const pfn = this.#starts[0];
    this.#starts[0] = pfn + this.blockPages;
    if (this.#starts[0] === this.#ends[0]) {
      this.#starts.shift();
      this.#ends.shift();
    }
    this.#blocks--;
    return pfn;
  }

  /** The run containing `pfn` as `[start, end]`, or null. */
  runContaining(pfn: number): [number, number] | null {
    const i = this.#upper(pfn) - 1;
    return i >= 0 && this.#ends[i] > pfn ? [this.#starts[i], this.#ends[i]] : null;
  }

  /** Whether a run contains `pfn`. */
  contains(pfn: number): boolean {
    const i = this.#upper(pfn) - 1;
    return i >= 0 && this.#ends[i] > pfn;
  }

  /** Whether any run intersects `[start, end)`. */
  intersects(start: number, end: number): boolean {
    const i = this.#upper(start) - 1;
    if (i >= 0 && this.#ends[i] > start) return true;
    return i + 1 < this.#starts.length && this.#starts[i + 1] < end;
  }

  /** The runs intersecting `[start, end)` (all runs without arguments), ascending. */
  runs(start = 0, end = Infinity): [number, number][] {
    const out: [number, number][] = [];
    let i = Math.max(0, this.#upper(start) - 1);
    for (; i < this.#starts.length && this.#starts[i] < end; i++) {
      if (this.#ends[i] > start) out.push([this.#starts[i], this.#ends[i]]);
    }
    return out;
  }
}
