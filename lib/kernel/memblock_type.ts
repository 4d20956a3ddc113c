/**
 * `struct memblock_type`: one sorted, disjoint, maximally merged list of memblock regions
 * (`memory` or `reserved`), with the kernel's add / remove / set-flag semantics.
 *
 * The kernel keeps a flat array and `memmove`s on every insertion, which is quadratic for the
 * million scattered reservations of a KHO boot. Here the list is a chunked sorted list: an
 * array of chunks of at most `regionsPerChunk` regions each, every chunk a set of parallel
 * typed arrays (base, end, flags, nid). Lookups binary-search the chunks, then the chunk;
 * an edit rewrites only the window of regions it touches.
 *
 * @module
 */

/** One memblock region: `[base, base + size)` with its flags and node. */
export interface MemblockRegion {
  /** First byte. */
  readonly base: number;
  /** Length in bytes. */
  readonly size: number;
  /** `MEMBLOCK_*` flag bits. */
  readonly flags: number;
  /** NUMA node, or -1 (NUMA_NO_NODE). */
  readonly nid: number;
}

/** Largest representable physical address (PHYS_ADDR_MAX for plain numbers). */
export const PHYS_ADDR_MAX: number = Number.MAX_SAFE_INTEGER;

/** Default number of regions per chunk. */
export const DEFAULT_REGIONS_PER_CHUNK = 512;

/** Bytes of a {@link RegionBuf} of `capacity` regions, rounded up to 8. */
function regionBufBytes(capacity: number): number {
  return Math.ceil(capacity * 19 / 8) * 8;
}

/** Chunks a {@link ChunkBuilder} carves from one buffer. */
const CHUNKS_PER_SLAB = 64;

/** Parallel typed arrays of regions (a chunk of the list, or a scratch window). */
class RegionBuf {
  n = 0;
  base: Float64Array;
  end: Float64Array;
  /** `enum memblock_flags` (u16: the in-flight flags reach bit 8). */
  flags: Uint16Array;
  nid: Int8Array;

  /**
   * Regions for `capacity` entries: in a buffer of their own, or at `offset` (a multiple of 8)
   * of `buf`, which has {@link regionBufBytes} bytes there.
   */
  constructor(capacity: number, buf?: ArrayBuffer, offset = 0) {
    // one allocation for the four arrays (8 + 8 + 2 + 1 bytes a region)
    buf ??= new ArrayBuffer(regionBufBytes(capacity));
    this.base = new Float64Array(buf, offset, capacity);
    this.end = new Float64Array(buf, offset + capacity * 8, capacity);
    this.flags = new Uint16Array(buf, offset + capacity * 16, capacity);
    this.nid = new Int8Array(buf, offset + capacity * 18, capacity);
  }

  get capacity(): number {
    return this.base.length;
  }

  push(base: number, end: number, flags: number, nid: number): void {
    if (this.n === this.base.length) this.#grow(this.n * 2 + 8);
    const i = this.n++;
    this.base[i] = base;
    this.end[i] = end;
    this.flags[i] = flags;
    this.nid[i] = nid;
  }

  /** Appends a region, merging it into the last one when contiguous and compatible. */
  pushMerging(base: number, end: number, flags: number, nid: number): void {
    const j = this.n - 1;
    if (j >= 0 && this.end[j] === base && this.flags[j] === flags && this.nid[j] === nid) {
      this.end[j] = end;
    } else {
      this.push(base, end, flags, nid);
    }
  }

  #grow(capacity: number): void {
    const b = new RegionBuf(capacity);
    b.base.set(this.base);
    b.end.set(this.end);
    b.flags.set(this.flags);
    b.nid.set(this.nid);
    this.base = b.base;
    this.end = b.end;
    this.flags = b.flags;
    this.nid = b.nid;
  }
}

/**
 * Builds a list of chunks from regions given in ascending order, merging each with the last
 * when contiguous and compatible (as `pushMerging`), chunks filled to `fill` regions.
 */
class ChunkBuilder {
  readonly chunks: RegionBuf[] = [];
  count = 0;
  total = 0;
  #cur: RegionBuf;
  readonly #cap: number;
  readonly #fill: number;
  // the last region, not yet stored (pe < 0: none)
  #pb = -1;
  #pe = -1;
  #pf = 0;
  #pn = 0;

  #slab: ArrayBuffer | null = null;
  #slabUsed = 0;

  constructor(cap: number) {
    this.#cap = cap;
    this.#fill = Math.max(1, (cap * 3) >> 2);
    this.#cur = this.#newChunk();
  }

  /** A chunk carved from the current slab (one allocation per 64 chunks). */
  #newChunk(): RegionBuf {
    if (this.#slab === null || this.#slabUsed === CHUNKS_PER_SLAB) {
      this.#slab = new ArrayBuffer(regionBufBytes(this.#cap) * CHUNKS_PER_SLAB);
      this.#slabUsed = 0;
    }
    return new RegionBuf(this.#cap, this.#slab, regionBufBytes(this.#cap) * this.#slabUsed++);
  }

  push(b: number, e: number, f: number, nd: number): void {
    if (this.#pe === b && this.#pf === f && this.#pn === nd) {
      this.#pe = e;
      return;
    }
    this.#store();
    this.#pb = b;
    this.#pe = e;
    this.#pf = f;
    this.#pn = nd;
  }

  #store(): void {
    if (this.#pe < 0) return;
    let cur = this.#cur;
    if (cur.n === this.#fill) {
      this.chunks.push(cur);
      cur = this.#cur = this.#newChunk();
    }
    const i = cur.n++;
    cur.base[i] = this.#pb;
    cur.end[i] = this.#pe;
    cur.flags[i] = this.#pf;
    cur.nid[i] = this.#pn;
    this.count++;
    this.total += this.#pe - this.#pb;
  }

  /** The chunks (at least one, maybe empty). */
  finish(): RegionBuf[] {
    this.#store();
    this.#pe = -1;
    if (this.#cur.n > 0 || this.chunks.length === 0) this.chunks.push(this.#cur);
    return this.chunks;
  }
}

/** Moves entries `[from, n)` of a chunk to start at `to` (memmove on the four arrays). */
function shift(c: RegionBuf, to: number, from: number): void {
  if (to === from || from === c.n) return;
  c.base.copyWithin(to, from, c.n);
  c.end.copyWithin(to, from, c.n);
  c.flags.copyWithin(to, from, c.n);
  c.nid.copyWithin(to, from, c.n);
}

/**
 * A position in a {@link MemblockType}: region `i` of chunk `ci`. Moves with
 * {@link Cursor.next} / {@link Cursor.prev}; invalid once it has left the list. A cursor is
 * a snapshot position: do not keep it across edits of the list.
 */
export class Cursor {
  readonly #chunks: readonly RegionBuf[];
  #ci: number;
  #i: number;

  /** @internal Use {@link MemblockType.seekEndAbove} / {@link MemblockType.seekBaseBelow}. */
  constructor(chunks: readonly RegionBuf[], ci: number, i: number) {
    this.#chunks = chunks;
    this.#ci = ci;
    this.#i = i;
  }

  /** Whether the cursor points at a region. */
  get valid(): boolean {
    return this.#ci >= 0 && this.#ci < this.#chunks.length &&
      this.#i >= 0 && this.#i < this.#chunks[this.#ci].n;
  }

  /** Base of the current region. */
  get base(): number {
    return this.#chunks[this.#ci].base[this.#i];
  }

  /** End (exclusive) of the current region. */
  get end(): number {
    return this.#chunks[this.#ci].end[this.#i];
  }

  /** Flags of the current region. */
  get flags(): number {
    return this.#chunks[this.#ci].flags[this.#i];
  }

  /** Node of the current region. */
  get nid(): number {
    return this.#chunks[this.#ci].nid[this.#i];
  }

  /** Advances to the next region (may become invalid). */
  next(): void {
    if (++this.#i >= this.#chunks[this.#ci].n && this.#ci < this.#chunks.length - 1) {
      this.#ci++;
      this.#i = 0;
    }
  }

  /** Steps back to the previous region (may become invalid). */
  prev(): void {
    if (--this.#i < 0 && this.#ci > 0) {
      this.#ci--;
      this.#i = this.#chunks[this.#ci].n - 1;
    }
  }
}

/**
 * A sorted list of memblock regions with the kernel's editing rules.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemblockType } from "./memblock_type.ts";
 * const t = new MemblockType("reserved");
 * t.addRange(0x1000, 0x1000, 0, 0);
 * t.addRange(0x2000, 0x1000, 0, 0); // adjacent, same flags and node: merged
 * assert.equal(t.count, 1);
 * assert.equal(t.totalSize, 0x2000);
 * ```
 */
export class MemblockType {
  /** `"memory"` or `"reserved"` (as in debugfs). */
  readonly name: string;
  /** Number of regions (`type->cnt`). */
  count = 0;
  /** Sum of region sizes (`type->total_size`). */
  totalSize = 0;
  readonly #cap: number;
  readonly #chunks: RegionBuf[];
  // Scratch buffers for one edit: the window of old regions and its replacement.
  readonly #win = new RegionBuf(64);
  readonly #out = new RegionBuf(64);
  // Result of #seek.
  #pc = 0;
  #pi = 0;

  /** Creates an empty list; `regionsPerChunk` (≥ 2) tunes the chunk size. */
  constructor(name: string, regionsPerChunk = DEFAULT_REGIONS_PER_CHUNK) {
    if (!Number.isInteger(regionsPerChunk) || regionsPerChunk < 2) {
      throw new RangeError(`regionsPerChunk=${regionsPerChunk}: an integer ≥ 2`);
    }
    this.name = name;
    this.#cap = regionsPerChunk;
    this.#chunks = [new RegionBuf(regionsPerChunk)];
  }

  /** Number of chunks (for tests and memory estimates). */
  get chunkCount(): number {
    return this.#chunks.length;
  }

  /**
   * Positions #pc/#pi at the first region whose end is `> addr` (or `>= addr` when
   * `touching`), or at the end of the list.
   */
  #seek(addr: number, touching: boolean): void {
    const chunks = this.#chunks;
    let lo = 0;
    let hi = chunks.length - 1;
    // first chunk whose last region qualifies
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid];
      const e = c.end[c.n - 1];
      if (touching ? e >= addr : e > addr) hi = mid;
      else lo = mid + 1;
    }
    const c = chunks[lo];
    let a = 0;
    let b = c.n;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const e = c.end[mid];
      if (touching ? e >= addr : e > addr) b = mid;
      else a = mid + 1;
    }
    this.#pc = lo;
    this.#pi = a;
  }

  /** Cursor at the first region whose end is above `addr` (invalid if none). */
  seekEndAbove(addr: number): Cursor {
    this.#seek(addr, false);
    return new Cursor(this.#chunks, this.#pc, this.#pi);
  }

  /** Cursor at the last region whose base is below `addr` (invalid if none). */
  seekBaseBelow(addr: number): Cursor {
    // the first region with end ≥ addr is the last candidate with base < addr, or the one
    // after it
    this.#seek(addr, true);
    const cur = new Cursor(this.#chunks, this.#pc, this.#pi);
    if (!cur.valid || cur.base >= addr) cur.prev();
    return cur;
  }

  /** Cursor at the first region (invalid when empty). */
  first(): Cursor {
    return new Cursor(this.#chunks, 0, 0);
  }

  /** Cursor at the last region (invalid when empty). */
  last(): Cursor {
    const ci = this.#chunks.length - 1;
    return new Cursor(this.#chunks, ci, this.#chunks[ci].n - 1);
  }

  /** Whether any region overlaps `[base, base + size)` (memblock_overlaps_region). */
  overlaps(base: number, size: number): boolean {
    if (size <= 0) return false;
    this.#seek(base, false);
    const c = this.#chunks[this.#pc];
    if (this.#pi >= c.n) return false;
    return c.base[this.#pi] < base + size;
  }

  /** The region containing `addr`, or null. */
  find(addr: number): MemblockRegion | null {
    this.#seek(addr, false);
    const c = this.#chunks[this.#pc];
    const i = this.#pi;
    if (i >= c.n || c.base[i] > addr) return null;
    return { base: c.base[i], size: c.end[i] - c.base[i], flags: c.flags[i], nid: c.nid[i] };
  }

  /**
   * Collects into #win the regions from the current seek position while `base < end`
   * (`base <= end` when `touching`). Returns the number collected.
   */
  #collect(end: number, touching: boolean): number {
    const win = this.#win;
    win.n = 0;
    const chunks = this.#chunks;
    let ci = this.#pc;
    let i = this.#pi;
    let c = chunks[ci];
    for (;;) {
      if (i >= c.n) {
        if (ci + 1 >= chunks.length) break;
        c = chunks[++ci];
        i = 0;
        continue;
      }
      const b = c.base[i];
      if (touching ? b > end : b >= end) break;
      win.push(b, c.end[i], c.flags[i], c.nid[i]);
      i++;
    }
    return win.n;
  }

  /**
   * memblock_add_range: adds `[base, base + size)` with `nid` and `flags`. Parts already
   * covered keep their flags and node; new parts get the given ones; neighbours with equal
   * flags and node merge. Returns how many times the kernel would WARN (a new part inserted
   * below an overlapped region whose flags differ, for non-NONE `flags`).
   */
  addRange(base: number, size: number, nid: number, flags: number): number {
    size = Math.min(size, PHYS_ADDR_MAX - base);
    if (size <= 0) return 0;
    const end = base + size;
    this.#seek(base, true);
    const k = this.#collect(end, true);
    const win = this.#win;
    const out = this.#out;
    out.n = 0;
    let warns = 0;
    let cur = base;
    let oldBytes = 0;
    for (let j = 0; j < k; j++) {
      const wb = win.base[j];
      const we = win.end[j];
      oldBytes += we - wb;
      if (wb >= end) {
        if (cur < end) out.pushMerging(cur, end, flags, nid);
        cur = end;
      } else if (we > base) {
        // overlaps: insert the part below it
        if (wb > cur) {
          if (flags !== 0 && flags !== win.flags[j]) warns++;
          out.pushMerging(cur, wb, flags, nid);
        }
        cur = Math.max(cur, Math.min(we, end));
      }
      out.pushMerging(wb, we, win.flags[j], win.nid[j]);
    }
    if (cur < end) out.pushMerging(cur, end, flags, nid);
    this.#replace(k, out, oldBytes);
    return warns;
  }

  /** memblock_remove_range: removes `[base, base + size)`, splitting regions at its edges. */
  removeRange(base: number, size: number): void {
    size = Math.min(size, PHYS_ADDR_MAX - base);
    if (size <= 0) return;
    const end = base + size;
    this.#seek(base, false);
    const k = this.#collect(end, false);
    if (k === 0) return;
    const win = this.#win;
    const out = this.#out;
    out.n = 0;
    let oldBytes = 0;
    for (let j = 0; j < k; j++) {
      const wb = win.base[j];
      const we = win.end[j];
      oldBytes += we - wb;
      if (wb < base) out.push(wb, base, win.flags[j], win.nid[j]);
      if (we > end) out.push(end, we, win.flags[j], win.nid[j]);
    }
    this.#replace(k, out, oldBytes);
  }

  /**
   * memblock_setclr_flag: sets (`set`) or clears `flag` on the parts of regions inside
   * `[base, base + size)`, splitting at the edges, then merges compatible neighbours.
   */
  setClrFlag(base: number, size: number, set: boolean, flag: number): void {
    size = Math.min(size, PHYS_ADDR_MAX - base);
    if (size <= 0) return;
    const end = base + size;
    this.#seek(base, true);
    const k = this.#collect(end, true);
    const win = this.#win;
    const out = this.#out;
    out.n = 0;
    let changed = false;
    for (let j = 0; j < k; j++) {
      const wb = win.base[j];
      const we = win.end[j];
      const f = win.flags[j];
      const nid = win.nid[j];
      const nf = set ? f | flag : f & ~flag;
      if (we <= base || wb >= end || nf === f) {
        out.pushMerging(wb, we, f, nid);
        continue;
      }
      changed = true;
      if (wb < base) out.pushMerging(wb, base, f, nid);
      out.pushMerging(Math.max(wb, base), Math.min(we, end), nf, nid);
      if (we > end) out.pushMerging(end, we, f, nid);
    }
    if (!changed) return;
    this.#replace(k, out, 0, false);
  }

  /**
   * Many `addRange(base[i], end[i] - base[i], nid[i], NONE)` + `setClrFlag(…, true, flag)`
   * pairs at once — the reservations of a KHO walk (`memblock_reserve` +
   * `memblock_reserved_mark_noinit` per block) — in one merge pass over the list, O(regions +
   * n): new bytes get `flag` and their range's node, bytes already in the list keep their node
   * and gain `flag`, neighbours with equal flags and node merge, as the calls one by one would
   * leave it. The ranges must be sorted and disjoint (the caller checks: for ranges that
   * overlap, the order of the calls decides a byte's node); empty ones are skipped.
   */
  addRangesSetFlag(
    base: Float64Array,
    end: Float64Array,
    nid: Int16Array,
    n: number,
    flag: number,
  ): void {
    const out = new ChunkBuilder(this.#cap);
    const chunks = this.#chunks;
    let ci = 0, oi = 0;
    let c = chunks[0];
    // the current old region (ob..oe; ob advances as parts are emitted), or oe = -1
    let ob = -1, oe = -1, of = 0, on = 0;
    if (c.n > 0) {
      ob = c.base[0];
      oe = c.end[0];
      of = c.flags[0];
      on = c.nid[0];
      oi = 1;
    }
    let j = 0;
    while (j < n && end[j] <= base[j]) j++;
    let nb = j < n ? base[j] : 0;
    while (oe >= 0 || j < n) {
      let nextOld = false;
      if (j >= n) {
        out.push(ob, oe, of, on);
        nextOld = true;
      } else if (oe < 0 || end[j] <= ob) {
        out.push(nb, end[j], flag, nid[j]);
        while (++j < n && end[j] <= base[j]);
        if (j < n) nb = base[j];
      } else if (oe <= nb) {
        out.push(ob, oe, of, on);
        nextOld = true;
      } else {
        // overlap: the part below it, then the common part
        if (ob < nb) {
          out.push(ob, nb, of, on);
          ob = nb;
        } else if (nb < ob) {
          out.push(nb, ob, flag, nid[j]);
          nb = ob;
        }
        const e = Math.min(oe, end[j]);
        out.push(ob, e, of | flag, on);
        ob = nb = e;
        if (e === end[j]) {
          while (++j < n && end[j] <= base[j]);
          if (j < n) nb = base[j];
        }
        nextOld = e === oe;
      }
      if (nextOld) {
        while (oi >= c.n && ci + 1 < chunks.length) {
          c = chunks[++ci];
          oi = 0;
        }
        if (oi < c.n) {
          ob = c.base[oi];
          oe = c.end[oi];
          of = c.flags[oi];
          on = c.nid[oi];
          oi++;
        } else oe = -1;
      }
    }
    const fresh = out.finish();
    chunks.length = 0;
    for (const f of fresh) chunks.push(f);
    this.count = out.count;
    this.totalSize = out.total;
  }

  /**
   * Replaces the `k` regions at the seek position by the regions of `out`; `oldBytes` is the
   * size of the replaced regions (when `sizes` is true; setClrFlag keeps the total).
   */
  #replace(k: number, out: RegionBuf, oldBytes: number, sizes = true): void {
    if (sizes) {
      let newBytes = 0;
      for (let j = 0; j < out.n; j++) newBytes += out.end[j] - out.base[j];
      this.totalSize += newBytes - oldBytes;
    }
    this.count += out.n - k;
    const chunks = this.#chunks;
    const ci = this.#pc;
    const i = this.#pi;
    const c = chunks[ci];
    const cap = this.#cap;
    if (i + k <= c.n && c.n - k + out.n <= cap) {
      // fast path: the edit stays inside one chunk that has room
      shift(c, i + out.n, i + k);
      c.n += out.n - k;
      for (let j = 0; j < out.n; j++) {
        c.base[i + j] = out.base[j];
        c.end[i + j] = out.end[j];
        c.flags[i + j] = out.flags[j];
        c.nid[i + j] = out.nid[j];
      }
      if (c.n === 0 && chunks.length > 1) chunks.splice(ci, 1);
      return;
    }
    if (k === 0 && i === c.n && ci === chunks.length - 1 && out.n <= cap) {
      // append past a full last chunk: start a new chunk (ascending inserts stay dense)
      const nc = new RegionBuf(cap);
      for (let j = 0; j < out.n; j++) nc.push(out.base[j], out.end[j], out.flags[j], out.nid[j]);
      chunks.push(nc);
      return;
    }
    // general path: rebuild chunks ci..endC from prefix + out + suffix
    let endC = ci;
    let endPos = i;
    let rem = k;
    while (rem > 0) {
      const avail = chunks[endC].n - endPos;
      if (rem <= avail) {
        endPos += rem;
        rem = 0;
      } else {
        rem -= avail;
        endC++;
        endPos = 0;
      }
    }
    const all = new RegionBuf(i + out.n + (chunks[endC].n - endPos));
    for (let j = 0; j < i; j++) all.push(c.base[j], c.end[j], c.flags[j], c.nid[j]);
    for (let j = 0; j < out.n; j++) all.push(out.base[j], out.end[j], out.flags[j], out.nid[j]);
    const ec = chunks[endC];
    for (let j = endPos; j < ec.n; j++) all.push(ec.base[j], ec.end[j], ec.flags[j], ec.nid[j]);
    // refill to about three quarters, so that later inserts find room
    const fresh: RegionBuf[] = [];
    const parts = all.n <= cap ? 1 : Math.ceil(all.n / Math.max(1, (cap * 3) >> 2));
    for (let p = 0; p < parts; p++) {
      const nc = new RegionBuf(cap);
      const s = Math.floor(all.n * p / parts);
      const e = Math.floor(all.n * (p + 1) / parts);
      for (let j = s; j < e; j++) nc.push(all.base[j], all.end[j], all.flags[j], all.nid[j]);
      if (nc.n > 0) fresh.push(nc);
    }
    chunks.splice(ci, endC - ci + 1, ...fresh);
    if (chunks.length === 0) chunks.push(new RegionBuf(cap));
  }

  /** All regions, ascending, as a fresh array. */
  snapshot(): MemblockRegion[] {
    const out: MemblockRegion[] = [];
    for (const r of this) out.push(r);
    return out;
  }

  /** Iterates the regions in ascending order. */
  *[Symbol.iterator](): IterableIterator<MemblockRegion> {
    for (const c of this.#chunks) {
      for (let i = 0; i < c.n; i++) {
        yield { base: c.base[i], size: c.end[i] - c.base[i], flags: c.flags[i], nid: c.nid[i] };
      }
    }
  }

  /** Bytes used by the region arrays (capacity, not count). */
  get footprintBytes(): number {
    return this.#chunks.reduce((s, c) => s + c.capacity * 19, 0);
  }
}
