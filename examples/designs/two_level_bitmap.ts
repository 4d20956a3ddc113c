/**
 * A design that is in no kernel: per-order bitmaps behind a 1 GiB-granular summary, in the
 * spirit of extended scratch (kho-facts §9.6: a digest of the preserved blocks keyed by
 * 1 GiB block) — tracker kind `two-level-bitmap`, profile `two-level-bitmap` (kho-v4 with
 * this tracker and the compatible `kho-v4-two-level-bitmap`).
 *
 * The summary is a two-level table indexed by GiB number; each GiB with anything preserved
 * has an entry, and a whole 1 GiB block (order 18, a guest's gigantic folio) is a flag in
 * that entry — no page at all. Smaller blocks live in per-order bitmaps of their GiB: the
 * small ones (orders 5..17) embedded in one "GiB page", the large ones (orders 0..4) in
 * bitmap pages it points to. So 1 TiB of 1 GiB folios costs 3 pages, and 16 GiB of dense
 * order-0 pages 16 GiB pages + 128 bitmap pages + 2.
 *
 * Byte layout (4 KiB pages, little-endian u64 pointers; the successor reads nothing else):
 *
 * ```
 * root page (level 1)   u64 dir[512]      dir[i]: directory of GiBs 512 i .. 512 i + 511, 0 = none
 * directory (level 2)   u64 gib[512]      gib[g % 512]: GiB page address | bit 0; 0 = nothing
 *                                           bit 0 set: the whole GiB is one order-18 block
 *                                           address 0 with bit 0: only that block
 * GiB page              0x000 u64 sub[16] bitmap pages: order 0 → sub[0..7] (128 MiB each),
 *                                           order 1 → sub[8..11], order 2 → sub[12..13],
 *                                           order 3 → sub[14], order 4 → sub[15] (first 2 KiB)
 *                       0x080 ..  0x8a0   embedded bitmaps of orders 5..17 ({@link EMBEDDED})
 * bitmap                Linux bitmap: bit b of order o in the GiB at G is the block
 *                       G + b · 2^(12 + o) bytes (b < 2^(18 - o); for a sub page k, b counts
 *                       from k · 32768)
 * ```
 *
 * Blocks of order 18 must be GiB-aligned (they are, by alignment); physical addresses stop
 * at 2^48 (256 TiB, 512 × 512 GiBs); orders above 18 are refused (EINVAL): a block larger
 * than the summary's granule has no place in it.
 *
 * Outgoing: an add allocates what its path lacks — directory, GiB page, bitmap page — all
 * before linking anything, so ENOMEM frees them and leaves the bytes exactly as before. A
 * delete clears the bit (or the flag) and frees nothing, as the kernel's radix tree.
 *
 * Incoming (bytes only): root, directory entries, GiB pages and bitmap pages are followed
 * only when aligned, RAM and not read before (the tree readers' named reasons: `cycle`,
 * `shared-node`, `entry-unaligned`, `entry-outside-ram`, …); blocks not entirely RAM are
 * rejected and skipped; padding bits of the embedded bitmaps are ignored. The walk goes GiB
 * by GiB, the whole-GiB block first, then orders 0..17 (`unspecified` as a walk order); it
 * has a batched form.
 *
 * @module
 */

import {
  type BlockCallback,
  cacheLinesSpanned,
  defineProfile,
  defineTracker,
  incomingTracker,
  type KernelLog,
  KhoError,
  type MetadataPageAllocator,
  PAGE_SIZE,
  type PhysicalMemory,
  TrackerCorruptionError,
  TrackerCounters,
  type TrackerFormat,
  type TrackerHost,
  TREE_CHILD_REASONS,
  type TreeWalkErrorReason,
  type WalkBatchCallback,
  type WalkCallback,
  WalkGuard,
  type WalkOutcome,
} from "../../mod.ts";

/** The largest order: a whole GiB. */
const GIB_ORDER = 18;
/** Blocks start below 2^48 bytes: pfns below 2^36. */
const PFN_LIMIT = 2 ** 36;
const TWO32 = 2 ** 32;
/** Bits per bitmap page. */
const PAGE_BITS = PAGE_SIZE * 8;

/** Bitmap pages of orders 0..4 in a GiB page: first `sub` index and count. */
const SUB_FIRST = [0, 8, 12, 14, 15];
const SUB_COUNT = [8, 4, 2, 1, 1];

/**
 * Byte offsets in the GiB page of the embedded bitmaps of orders 5..17 (index = order; each
 * at least 8 bytes, the padding bits unused).
 */
export const EMBEDDED: readonly number[] = (() => {
  const out: number[] = [];
  let off = 16 * 8;
  for (let o = 5; o <= 17; o++) {
    out[o] = off;
    off += Math.max(8, 2 ** (GIB_ORDER - o) / 8);
  }
  return out;
})();

/** Blocks of `order` in one GiB. */
const perGib = (order: number) => 2 ** (GIB_ORDER - order);

/** Options of {@link walkTwoLevelBitmap}. */
export interface TwoLevelReaderOptions {
  /** Physical memory as the successor sees it. */
  mem: PhysicalMemory;
  /** The root page. */
  rootPhys: number;
  /** RAM check (default: inside `mem`). */
  isRam?: (phys: number, size: number) => boolean;
  /** Log. */
  log?: KernelLog;
  /** Counters. */
  counters?: TrackerCounters;
  /** Reject blocks not entirely RAM (default true; the outgoing walk reports every block). */
  checkBlocks?: boolean;
}

class Reader extends WalkGuard<TreeWalkErrorReason> {
  readonly checkBlocks: boolean;
  constructor(o: TwoLevelReaderOptions, c: TrackerCounters) {
    super(o, c, "two-level bitmap", "two-level bitmap: ");
    this.checkBlocks = o.checkBlocks ?? true;
  }

  /** A table of 512 pointers: `visit(index, lo, hi)` for each non-zero entry; false to end. */
  table(phys: number, visit: (i: number, lo: number, hi: number) => boolean): boolean {
    const w = this.words(phys / PAGE_SIZE);
    this.path.push(phys);
    let i = 0, followed = 0, go = true;
    for (; i < 512 && go; i++) {
      const lo = w[2 * i], hi = w[2 * i + 1];
      if ((lo | hi) === 0) continue;
      followed++;
      go = visit(i, lo, hi);
    }
    this.tableDone(i, followed);
    return go;
  }

  /** One block delivered alone (the whole-GiB block, the smallest embedded bitmaps). */
  one(phys: number, order: number): boolean {
    const bytes = 2 ** (order + 12);
    if (this.checkBlocks && !this.blockOk(phys, bytes, order)) return true;
    this.blocks++;
    this.c.callbacks++;
    const r = this.cb(phys, order, 0);
    if (r) this.stopped = r;
    return r === 0;
  }

  /** The bitmap of `order` in `w` from u32 `off`, `bits` long, whose bit 0 is `start`. */
  bitmap(w: Uint32Array, off: number, bits: number, start: number, order: number): boolean {
    const bytes = 2 ** (order + 12);
    if (bits >= 32) {
      const allOk = !this.checkBlocks || this.ram(start, bits * bytes);
      return this.scanBitmap(w, off, bits / 32, start, bytes, order, 0, allOk);
    }
    const x = w[off] & ((1 << bits) - 1); // the padding bits are not blocks
    for (let b = 0; b < bits; b++) {
      if ((x >>> b) & 1 && !this.one(start + b * bytes, order)) return false;
    }
    return true;
  }

  /** The GiB page at `phys` of GiB number `g`. */
  gib(phys: number, g: number): boolean {
    const w = this.words(phys / PAGE_SIZE);
    this.c.pagesTouched++;
    this.path.push(phys);
    const base = g * 2 ** 30;
    let go = true;
    for (let order = 0; order <= 4 && go; order++) {
      const pageBlocks = Math.min(PAGE_BITS, perGib(order));
      for (let k = 0; k < SUB_COUNT[order] && go; k++) {
        const s = SUB_FIRST[order] + k;
        const lo = w[2 * s], hi = w[2 * s + 1];
        this.c.entriesVisited++;
        if ((lo | hi) === 0) continue;
        const where = () => `sub[${s}] of GiB page 0x${phys.toString(16)}`;
        const bm = this.child(lo, hi, where, TREE_CHILD_REASONS);
        if (bm < 0) return false;
        this.c.entriesFollowed++;
        this.c.pagesTouched++;
        const start = base + k * PAGE_BITS * 2 ** (order + 12);
        go = this.bitmap(this.words(bm / PAGE_SIZE), 0, pageBlocks, start, order);
      }
    }
    const lines = this.c.cacheLinesRead;
    for (let order = 5; order <= 17 && go; order++) {
      go = this.bitmap(w, EMBEDDED[order] / 4, perGib(order), base, order);
    }
    // the GiB page's lines once (the cost model's distinct lines): its sub[] pointers and
    // the embedded bitmaps, which share lines with each other
    this.c.cacheLinesRead = lines + cacheLinesSpanned(0, EMBEDDED[17] + 8);
    this.path.pop();
    return go;
  }

  /** The whole walk from a checked root. */
  walk(root: number): void {
    this.table(root, (i, lo, hi) => {
      const where = () => `dir[${i}] of root 0x${root.toString(16)}`;
      const dir = this.child(lo, hi, where, TREE_CHILD_REASONS);
      if (dir < 0) return false;
      return this.table(dir, (e, elo, ehi) => {
        const g = i * 512 + e;
        if ((elo & 1) !== 0 && !this.one(g * 2 ** 30, GIB_ORDER)) return false;
        const plo = (elo & ~1) >>> 0;
        if ((plo | ehi) === 0) return true;
        const at = () => `gib[${e}] of directory 0x${dir.toString(16)}`;
        const page = this.child(plo, ehi, at, TREE_CHILD_REASONS);
        return page >= 0 && this.gib(page, g);
      });
    });
  }
}

function run(
  o: TwoLevelReaderOptions,
  cb: WalkCallback | null,
  batchCb: WalkBatchCallback | null,
): WalkOutcome<TreeWalkErrorReason> {
  const r = new Reader(o, o.counters ?? new TrackerCounters());
  if (r.treeRoot(o.rootPhys, "root", "the two-level bitmap root is 0")) {
    r.run(cb as BlockCallback | null, batchCb, PAGE_BITS, () => r.walk(o.rootPhys));
  }
  return r.outcome("two-level bitmap", {});
}

/** Walks two-level-bitmap bytes from `o.rootPhys`; never throws for corrupted bytes. */
export function walkTwoLevelBitmap(
  o: TwoLevelReaderOptions,
  cb: WalkCallback,
): WalkOutcome<TreeWalkErrorReason> {
  return run(o, cb, null);
}

/** {@link walkTwoLevelBitmap} a bitmap's blocks at a time. */
export function walkTwoLevelBitmapBatched(
  o: TwoLevelReaderOptions,
  cb: WalkBatchCallback,
): WalkOutcome<TreeWalkErrorReason> {
  return run(o, null, cb);
}

/** A page the outgoing side owns: address and words. */
interface Page {
  readonly phys: number;
  readonly w: Uint32Array;
}

/** A GiB page and its bitmap pages. */
interface GibPage extends Page {
  readonly sub: (Page | null)[];
}

/** The outgoing two-level bitmap (see the module documentation). */
export class TwoLevelBitmap {
  /** Encoding name. */
  readonly kind = "two-level-bitmap";
  /** Cost counters. */
  readonly counters: TrackerCounters = new TrackerCounters();
  readonly #mem: PhysicalMemory;
  readonly #alloc: MetadataPageAllocator;
  readonly #log: KernelLog;
  #root: Page | null;
  readonly #dirs: (Page | null)[] = new Array(512).fill(null);
  readonly #gibs = new Map<number, GibPage>();
  readonly #owned = new Set<number>();

  /** A tracker with its root page from `host.alloc`; ENOMEM when there is none. */
  constructor(host: TrackerHost) {
    this.#mem = host.mem;
    this.#alloc = host.alloc;
    this.#log = host.log;
    const root = this.#page();
    if (root === null) throw new KhoError("ENOMEM", "no page for the two-level bitmap root");
    this.#root = root;
  }

  #page(): Page | null {
    const phys = this.#alloc.allocZeroedPage("two_level_bitmap");
    if (phys === null) {
      this.counters.allocFailures++;
      return null;
    }
    this.counters.pagesAllocated++;
    this.#owned.add(phys);
    return { phys, w: this.#mem.writablePage(phys / PAGE_SIZE) };
  }

  #free(p: Page): void {
    this.#owned.delete(p.phys);
    this.#alloc.freePage(p.phys);
    this.counters.pagesFreed++;
  }

  #check(pfn: number, order: number): number {
    if (
      !(Number.isInteger(order) && order >= 0 && order <= GIB_ORDER) ||
      !(Number.isInteger(pfn) && pfn >= 0 && pfn < PFN_LIMIT)
    ) {
      throw new KhoError("EINVAL", `invalid block pfn ${pfn} order ${order}`);
    }
    if (this.#root === null) throw new KhoError("EINVAL", "the two-level bitmap was destroyed");
    return Math.floor(pfn / 2 ** order) * 2 ** order;
  }

  /** Where block `start` of `order` lives: the words and bit, given its GiB page. */
  #bit(gib: GibPage, start: number, order: number): [Uint32Array | null, number] {
    const b = (start % 2 ** GIB_ORDER) / 2 ** order;
    if (order >= 5) return [gib.w, EMBEDDED[order] * 8 + b];
    const page = gib.sub[SUB_FIRST[order] + Math.floor(b / PAGE_BITS)];
    return [page?.w ?? null, b % PAGE_BITS];
  }

  /** Records `(pfn, order)`; ENOMEM leaves the bytes exactly as they were. */
  add(pfn: number, order: number): void {
    const start = this.#check(pfn, order);
    const g = Math.floor(start / 2 ** GIB_ORDER), i = g >>> 9, e = g & 511;
    const c = this.counters;
    c.entriesVisited += 2;
    c.cacheLinesRead += 3;
    c.pagesTouched += 3;
    // allocate everything the path lacks first
    const fresh: Page[] = [];
    const get = () => {
      const p = this.#page();
      if (p === null) {
        for (const f of fresh) this.#free(f);
        throw new KhoError(
          "ENOMEM",
          `no page for pfn 0x${start.toString(16)} order ${order} in the two-level bitmap`,
        );
      }
      fresh.push(p);
      return p;
    };
    const dir = this.#dirs[i] ?? get();
    let gib = order < GIB_ORDER ? this.#gibs.get(g) : undefined;
    const newGib = order < GIB_ORDER && gib === undefined ? get() : null;
    const subIndex = order <= 4
      ? SUB_FIRST[order] + Math.floor((start % 2 ** GIB_ORDER) / 2 ** order / PAGE_BITS)
      : -1;
    const newSub = subIndex >= 0 && (gib?.sub[subIndex] ?? null) === null ? get() : null;
    // then link: root → directory → GiB page → bitmap page
    const rootW = this.#root!.w;
    // the cost model's writes: one line per pointer stored, and the bit's line
    c.cacheLinesWritten += 1 + fresh.length;
    if (this.#dirs[i] === null) {
      this.#dirs[i] = dir;
      rootW[2 * i] = dir.phys >>> 0;
      rootW[2 * i + 1] = Math.floor(dir.phys / TWO32);
    }
    if (order === GIB_ORDER) {
      dir.w[2 * e] |= 1;
      return;
    }
    if (newGib !== null) {
      gib = { ...newGib, sub: new Array(16).fill(null) };
      this.#gibs.set(g, gib);
      dir.w[2 * e] = ((newGib.phys >>> 0) | (dir.w[2 * e] & 1)) >>> 0;
      dir.w[2 * e + 1] = Math.floor(newGib.phys / TWO32);
    }
    if (newSub !== null) {
      gib!.sub[subIndex] = newSub;
      gib!.w[2 * subIndex] = newSub.phys >>> 0;
      gib!.w[2 * subIndex + 1] = Math.floor(newSub.phys / TWO32);
    }
    const [w, bit] = this.#bit(gib!, start, order);
    w![bit >>> 5] |= 1 << (bit & 31);
  }

  /** Forgets `(pfn, order)`; a missing path WARNs; nothing is freed. */
  del(pfn: number, order: number): void {
    const start = this.#check(pfn, order);
    const g = Math.floor(start / 2 ** GIB_ORDER);
    const dir = this.#dirs[g >>> 9];
    const gib = this.#gibs.get(g);
    const c = this.counters; // the same path as an add
    c.entriesVisited += 2;
    c.cacheLinesRead += 3;
    c.pagesTouched += 3;
    if (order === GIB_ORDER && dir !== null) {
      dir.w[2 * (g & 511)] &= ~1;
      c.cacheLinesWritten++;
      return;
    }
    const [w, bit] = gib === undefined ? [null, 0] : this.#bit(gib, start, order);
    if (w === null) {
      this.#log.warn(
        "two_level_bitmap_del",
        `no path for pfn 0x${start.toString(16)} order ${order}`,
      );
      return;
    }
    w[bit >>> 5] &= ~(1 << (bit & 31));
    c.cacheLinesWritten++;
  }

  /** Every block, read from the bytes. */
  walk(cb: WalkCallback): number {
    const r = walkTwoLevelBitmap({
      mem: this.#mem,
      rootPhys: this.handoverRoot(),
      counters: this.counters,
      checkBlocks: false,
    }, cb);
    if (!r.ok) throw new TrackerCorruptionError("two-level bitmap", r);
    return r.stopped;
  }

  /** The root page. */
  handoverRoot(): number {
    return this.#root?.phys ?? 0;
  }
  /** Pages owned. */
  metadataPages(): number {
    return this.#owned.size;
  }
  /** Their bytes. */
  metadataBytes(): number {
    return this.#owned.size * PAGE_SIZE;
  }
  /** Their addresses, ascending. */
  ownedPagesPhys(): number[] {
    return [...this.#owned].sort((a, b) => a - b);
  }
  /** Frees every page. */
  destroy(): void {
    for (const phys of [...this.#owned]) this.#free({ phys, w: new Uint32Array(0) });
    this.#gibs.clear();
    this.#dirs.fill(null);
    this.#root = null;
  }
}

/** The tracker format. */
export const TWO_LEVEL_BITMAP: TrackerFormat = defineTracker({
  kind: "two-level-bitmap",
  summary: "per-order bitmaps of each GiB behind a 1 GiB-granular summary (a design)",
  capabilities: {
    maxOrder: GIB_ORDER,
    pageType: false,
    rollback: "exact",
    walkOrder: "unspecified",
    batchedWalk: true,
  },
  create: (host) => new TwoLevelBitmap(host),
  incoming(mem, rootPhys, o = {}) {
    const counters = o.counters ?? new TrackerCounters();
    const options = { mem, rootPhys, isRam: o.isRam, log: o.log, counters };
    return incomingTracker({
      kind: "two-level-bitmap",
      structure: "two-level bitmap",
      counters,
      walk: (cb) => walkTwoLevelBitmap(options, cb),
      walkBatched: (cb) => walkTwoLevelBitmapBatched(options, cb),
    });
  },
});

/** The profile: kho-v4 with the two-level bitmap, under a compatible string of its own. */
export const TWO_LEVEL_BITMAP_PROFILE = defineProfile({
  name: "two-level-bitmap",
  base: "kho-v4",
  compat: "kho-v4-two-level-bitmap",
  tracker: TWO_LEVEL_BITMAP,
  summary: "kho-v4 with per-order bitmaps of each GiB behind a 1 GiB-granular summary",
});
