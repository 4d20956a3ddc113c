/**
 * A design that is in no kernel: preserved memory as a sorted list of extents — records
 * `(pfn, order, run length)` in a chain of pages — registered as tracker kind `extent-list`
 * and profile `extent-list` (kho-v4 with this tracker and the compatible
 * `kho-v4-extent-list`). A run of consecutive blocks of one order costs one 16-byte record,
 * so large contiguous preservations (guest memory in 1 GiB folios) cost almost nothing,
 * while scattered pages cost 16 bytes each (the radix tree: one bit, plus its tables).
 *
 * Byte layout (4 KiB pages, little-endian; the successor reads nothing else):
 *
 * ```
 * page header (16 bytes)
 *   0x000  u64 next    physical address of the next page, 0 = last
 *   0x008  u32 count   records used in this page, 0..255
 *   0x00c  u32 magic   0x4c545845 ("EXTL")
 * record i (16 bytes, at 0x010 + 16 i, i < 255)
 *   0x0    u64 pfn     first page frame of the run (aligned to 2^order)
 *   0x8    u32 run     blocks in the run, ≥ 1: pfn + k·2^order for k < run
 *   0xc    u32 order   order of every block of the run, 0..52
 * ```
 *
 * Records are sorted by `(order, pfn)` across the whole chain, and the runs of one order
 * neither overlap nor touch (touching runs are merged): so the runs of one order are
 * contiguous and a lookup is a binary search. The handed-over root is the first page (it is
 * allocated when the tracker is created and never moves); the walk goes page by page in
 * list order — by order, then address (`order-asc`).
 *
 * Outgoing: the tracker keeps the pages in chain order and the first key of each page in
 * JavaScript (to binary-search pages); records live only in the pages' bytes. An add extends
 * a run it touches or inserts a record; a full page splits in two (one page allocated —
 * before anything changes, so ENOMEM leaves the list exactly as it was). A delete shortens a
 * run or splits it (a split in a full page needs a page: without one the block stays
 * preserved and the log WARNs, as a void `kho_unpreserve_*` cannot fail); a page emptied is
 * freed (the first page's place is taken by the next page's records).
 *
 * Incoming (bytes only): the walk checks the root and every `next` pointer (aligned, RAM,
 * never a page already read — a cycle ends the walk), each page's magic and count, and each
 * record (order ≤ 52, run ≥ 1, aligned pfn, sorted after the previous run); a violation
 * aborts with a named reason (`bad-magic`, `count-too-large`, `bad-record`, `unsorted`, and
 * the tree readers' root and pointer reasons). Blocks not entirely RAM are rejected and
 * skipped.
 *
 * Load it with `--design examples/designs/extent_list.ts` (command line), `design
 * examples/designs/extent_list.ts` (scripts) or `await loadDesign(…)` (TypeScript).
 *
 * @module
 */

import {
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
  type WalkCallback,
  WalkGuard,
  type WalkOutcome,
} from "../../mod.ts";

/** The page magic, "EXTL" in little-endian bytes. */
export const EXTENT_MAGIC = 0x4c545845;
/** Records per page: (4096 - 16) / 16. */
export const EXTENTS_PER_PAGE = 255;
/** Longest run of one record. */
const RUN_MAX = 0xffffffff;
/** Largest order and the pfn bound (blocks below 2^53 bytes). */
const MAX_ORDER = 52;
const PFN_LIMIT = 2 ** 41;
const TWO32 = 2 ** 32;
/** u32 indices in a page: header, then record i's fields at REC + 4 i. */
const NEXT = 0, COUNT = 2, MAGIC = 3, REC = 4;

/** Why a walk of extent-list bytes was aborted. */
export type ExtentListWalkError =
  | TreeWalkErrorReason
  /** A page's magic is not "EXTL". */
  | "bad-magic"
  /** A page's count exceeds 255. */
  | "count-too-large"
  /** A record's order is above 52, its run is 0, or its pfn is unaligned or too large. */
  | "bad-record"
  /** A record does not sort after the previous run. */
  | "unsorted";

/** `(order, pfn)` as one sortable number (exact: below 2^48). */
const keyOf = (order: number, pfn: number) => order * 2 ** 42 + pfn;

/** Options of {@link walkExtentList}. */
export interface ExtentListReaderOptions {
  /** Physical memory as the successor sees it. */
  mem: PhysicalMemory;
  /** The first page. */
  rootPhys: number;
  /** RAM check (default: inside `mem`). */
  isRam?: (phys: number, size: number) => boolean;
  /** Log. */
  log?: KernelLog;
  /** Counters. */
  counters?: TrackerCounters;
  /** Reject blocks that are not RAM (default true; the outgoing walk reports every block). */
  checkBlocks?: boolean;
}

/**
 * Walks extent-list bytes from `rootPhys`, `cb(phys, order)` for every valid block in list
 * order; never throws for corrupted bytes (see the module's validation).
 */
export function walkExtentList(
  o: ExtentListReaderOptions,
  cb: WalkCallback,
): WalkOutcome<ExtentListWalkError> {
  const c = o.counters ?? new TrackerCounters();
  const g = new WalkGuard<ExtentListWalkError>(o, c, "extent list", "extent list: ");
  const checkBlocks = o.checkBlocks ?? true;
  let page = o.rootPhys;
  if (!g.treeRoot(page, "root", "the extent list root is 0")) return g.outcome("extent list", {});
  let prevOrder = -1, prevEnd = 0;
  for (;;) {
    g.path.push(page); // a list: any page read again is a cycle
    const w = g.words(page / PAGE_SIZE);
    c.pagesTouched++;
    const where = `page 0x${page.toString(16)}`;
    if (w[MAGIC] !== EXTENT_MAGIC) {
      g.fail("bad-magic", `${where} magic 0x${w[MAGIC].toString(16)}`);
      break;
    }
    const count = w[COUNT];
    if (count > EXTENTS_PER_PAGE) {
      g.fail("count-too-large", `${where} count ${count}`);
      break;
    }
    let i = 0, go = true;
    for (; i < count && go; i++) {
      const r = REC + 4 * i;
      const pfn = w[r + 1] * TWO32 + w[r];
      const run = w[r + 2], order = w[r + 3];
      const size = 2 ** order;
      if (order > MAX_ORDER || run === 0 || pfn >= PFN_LIMIT || pfn % size !== 0) {
        go = g.fail(
          "bad-record",
          `${where} record ${i}: pfn 0x${pfn.toString(16)} ` +
            `order ${order} run ${run}`,
        );
        break;
      }
      if (order < prevOrder || order === prevOrder && pfn <= prevEnd) {
        go = g.fail("unsorted", `${where} record ${i} (order ${order}, pfn 0x${pfn.toString(16)})`);
        break;
      }
      prevOrder = order;
      prevEnd = pfn + run * size;
      const bytes = size * PAGE_SIZE;
      const allRam = !checkBlocks || g.ram(pfn * PAGE_SIZE, run * bytes);
      for (let k = 0; k < run; k++) {
        const phys = (pfn + k * size) * PAGE_SIZE;
        if (!allRam && !g.blockOk(phys, bytes, order)) continue;
        g.blocks++;
        c.callbacks++;
        const stop = cb(phys, order);
        if (stop) {
          g.stopped = stop;
          go = false;
          break;
        }
      }
    }
    c.entriesVisited += i;
    c.cacheLinesRead += Math.ceil((16 + 16 * i) / 64);
    if (!go) break;
    const lo = w[NEXT], hi = w[NEXT + 1];
    if ((lo | hi) === 0) break;
    const next = g.child(lo, hi, () => `next of ${where}`, TREE_CHILD_REASONS);
    if (next < 0) break;
    c.entriesFollowed++;
    page = next;
  }
  return g.outcome("extent list", {});
}

/** One page of the chain, as the outgoing tracker keeps it. */
interface Page {
  readonly phys: number;
  readonly w: Uint32Array;
}

/** The outgoing extent list (see the module documentation). */
export class ExtentList {
  /** Encoding name. */
  readonly kind = "extent-list";
  /** Cost counters. */
  readonly counters: TrackerCounters = new TrackerCounters();
  readonly #mem: PhysicalMemory;
  readonly #alloc: MetadataPageAllocator;
  readonly #log: KernelLog;
  /** Pages in chain order; `#first[p]` is page p's first key (Infinity when empty). */
  readonly #pages: Page[] = [];
  readonly #first: number[] = [];

  /** A list with its first page from `host.alloc`; ENOMEM when there is none. */
  constructor(host: TrackerHost) {
    this.#mem = host.mem;
    this.#alloc = host.alloc;
    this.#log = host.log;
    const head = this.#newPage();
    if (head === null) throw new KhoError("ENOMEM", "no page for the extent list");
    this.#pages.push(head);
    this.#first.push(Infinity);
  }

  #newPage(): Page | null {
    const phys = this.#alloc.allocZeroedPage("extent_list_page");
    if (phys === null) {
      this.counters.allocFailures++;
      return null;
    }
    this.counters.pagesAllocated++;
    const w = this.#mem.writablePage(phys / PAGE_SIZE);
    w[MAGIC] = EXTENT_MAGIC;
    return { phys, w };
  }

  #free(page: Page): void {
    this.#alloc.freePage(page.phys);
    this.counters.pagesFreed++;
  }

  // ---- records, by (page index, record index)
  #pfn(p: number, i: number): number {
    const w = this.#pages[p].w;
    return w[REC + 4 * i + 1] * TWO32 + w[REC + 4 * i];
  }
  #run(p: number, i: number): number {
    return this.#pages[p].w[REC + 4 * i + 2];
  }
  #order(p: number, i: number): number {
    return this.#pages[p].w[REC + 4 * i + 3];
  }
  #count(p: number): number {
    return this.#pages[p].w[COUNT];
  }
  #write(p: number, i: number, pfn: number, run: number, order: number): void {
    this.counters.cacheLinesWritten++; // a 16-byte record, inside one line
    const w = this.#pages[p].w, r = REC + 4 * i;
    w[r] = pfn >>> 0;
    w[r + 1] = Math.floor(pfn / TWO32);
    w[r + 2] = run;
    w[r + 3] = order;
    if (i === 0) this.#first[p] = keyOf(order, pfn);
  }

  /** The last record whose key is ≤ `key`, as [page, index] (index -1: none in page 0). */
  #locate(key: number): [number, number] {
    let lo = 0, hi = this.#pages.length - 1;
    while (lo < hi) { // the last page whose first key is ≤ key (page 0 otherwise)
      const mid = (lo + hi + 1) >>> 1;
      if (this.#first[mid] <= key) lo = mid;
      else hi = mid - 1;
    }
    const p = lo;
    let a = 0, b = this.#count(p) - 1, i = -1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      if (keyOf(this.#order(p, mid), this.#pfn(p, mid)) <= key) {
        i = mid;
        a = mid + 1;
      } else b = mid - 1;
    }
    this.counters.entriesVisited += 1 + Math.ceil(Math.log2(this.#pages.length + 1));
    this.counters.cacheLinesRead += 1 + Math.ceil(Math.log2(this.#count(p) + 1));
    this.counters.pagesTouched++;
    return [p, i];
  }

  /** The position after `(p, i)`, or null at the end. */
  #after(p: number, i: number): [number, number] | null {
    if (i + 1 < this.#count(p)) return [p, i + 1];
    return p + 1 < this.#pages.length ? [p + 1, 0] : null;
  }

  /** Makes room at `(p, j)` (splitting a full page); false on ENOMEM, with nothing changed. */
  #open(p: number, j: number): [number, number] | null {
    if (this.#count(p) === EXTENTS_PER_PAGE) {
      const q = this.#newPage();
      if (q === null) return null;
      const P = this.#pages[p];
      const half = EXTENTS_PER_PAGE >>> 1, moved = EXTENTS_PER_PAGE - half;
      q.w.set(P.w.subarray(REC + 4 * half, REC + 4 * EXTENTS_PER_PAGE), REC);
      q.w[COUNT] = moved;
      q.w[NEXT] = P.w[NEXT];
      q.w[NEXT + 1] = P.w[NEXT + 1];
      P.w.fill(0, REC + 4 * half, REC + 4 * EXTENTS_PER_PAGE);
      P.w[COUNT] = half;
      P.w[NEXT] = q.phys >>> 0;
      P.w[NEXT + 1] = Math.floor(q.phys / TWO32);
      // the new page's header and records, the old page's header and cleared records
      this.counters.cacheLinesWritten += cacheLinesSpanned(0, 16 * (1 + moved)) + 1 +
        cacheLinesSpanned(16 * (1 + half), 16 * moved);
      this.#pages.splice(p + 1, 0, q);
      this.#first.splice(p + 1, 0, 0);
      this.#first[p + 1] = keyOf(this.#order(p + 1, 0), this.#pfn(p + 1, 0));
      if (j > half) [p, j] = [p + 1, j - half];
    }
    const w = this.#pages[p].w, n = w[COUNT];
    w.copyWithin(REC + 4 * (j + 1), REC + 4 * j, REC + 4 * n);
    w[COUNT] = n + 1;
    // the header (count) and the records shifted up by one
    this.counters.cacheLinesWritten += 1 + cacheLinesSpanned(16 * (2 + j), 16 * (n - j));
    return [p, j];
  }

  /** Removes record `(p, i)`; an emptied page is freed (page 0 takes page 1's records). */
  #remove(p: number, i: number): void {
    const w = this.#pages[p].w, n = w[COUNT];
    w.copyWithin(REC + 4 * i, REC + 4 * (i + 1), REC + 4 * n);
    w.fill(0, REC + 4 * (n - 1), REC + 4 * n);
    w[COUNT] = n - 1;
    // the header (count) and the records shifted down by one
    this.counters.cacheLinesWritten += 1 + cacheLinesSpanned(16 * (1 + i), 16 * (n - i));
    if (n - 1 > 0) {
      if (i === 0) this.#first[p] = keyOf(this.#order(p, 0), this.#pfn(p, 0));
      return;
    }
    if (p === 0) {
      if (this.#pages.length === 1) {
        this.#first[0] = Infinity;
        return;
      }
      const next = this.#pages[1];
      w.set(next.w.subarray(0, REC + 4 * EXTENTS_PER_PAGE), 0); // header (next, count) + records
      this.counters.cacheLinesWritten += 64;
      this.#pages.splice(1, 1);
      this.#first.splice(1, 1);
      this.#first[0] = keyOf(this.#order(0, 0), this.#pfn(0, 0));
      this.#free(next);
      return;
    }
    const prev = this.#pages[p - 1].w;
    prev[NEXT] = w[NEXT];
    prev[NEXT + 1] = w[NEXT + 1];
    this.counters.cacheLinesWritten++;
    const [gone] = this.#pages.splice(p, 1);
    this.#first.splice(p, 1);
    this.#free(gone);
  }

  #checkArgs(pfn: number, order: number): void {
    if (
      !(Number.isInteger(order) && order >= 0 && order <= MAX_ORDER) ||
      !(Number.isInteger(pfn) && pfn >= 0 && pfn < PFN_LIMIT)
    ) {
      throw new KhoError("EINVAL", `invalid block pfn ${pfn} order ${order}`);
    }
  }

  /** Records `(pfn, order)` (low `order` bits dropped); ENOMEM leaves the list unchanged. */
  add(pfn: number, order: number): void {
    this.#checkArgs(pfn, order);
    const size = 2 ** order;
    const start = Math.floor(pfn / size) * size;
    const [p, i] = this.#locate(keyOf(order, start));
    if (i >= 0 && this.#order(p, i) === order) {
      const end = this.#pfn(p, i) + this.#run(p, i) * size;
      if (start < end) return; // already preserved
      if (start === end && this.#run(p, i) < RUN_MAX) {
        const next = this.#after(p, i);
        let run = this.#run(p, i) + 1;
        if (
          next !== null && this.#order(...next) === order &&
          this.#pfn(...next) === start + size && run + this.#run(...next) <= RUN_MAX
        ) {
          run += this.#run(...next);
          this.#write(p, i, this.#pfn(p, i), run, order);
          this.#remove(...next);
        } else this.#write(p, i, this.#pfn(p, i), run, order);
        return;
      }
    }
    const next = i >= 0
      ? this.#after(p, i)
      : (this.#count(p) > 0 ? [p, 0] as [number, number] : null);
    if (
      next !== null && this.#order(...next) === order && this.#pfn(...next) === start + size &&
      this.#run(...next) < RUN_MAX
    ) {
      this.#write(next[0], next[1], start, this.#run(...next) + 1, order);
      return;
    }
    const at = this.#open(p, i + 1);
    if (at === null) {
      throw new KhoError("ENOMEM", `no page for extent pfn 0x${start.toString(16)} order ${order}`);
    }
    this.#write(at[0], at[1], start, 1, order);
  }

  /** Forgets `(pfn, order)`; a block not preserved WARNs. */
  del(pfn: number, order: number): void {
    this.#checkArgs(pfn, order);
    const size = 2 ** order;
    const start = Math.floor(pfn / size) * size;
    const [p, i] = this.#locate(keyOf(order, start));
    const first = i >= 0 ? this.#pfn(p, i) : 0, run = i >= 0 ? this.#run(p, i) : 0;
    if (i < 0 || this.#order(p, i) !== order || start >= first + run * size) {
      this.#log.warn("extent_list_del", `pfn 0x${start.toString(16)} order ${order} not preserved`);
      return;
    }
    const k = (start - first) / size;
    if (run === 1) this.#remove(p, i);
    else if (k === 0) this.#write(p, i, first + size, run - 1, order);
    else if (k === run - 1) this.#write(p, i, first, run - 1, order);
    else {
      const at = this.#open(p, i + 1); // the tail becomes a record of its own
      if (at === null) {
        this.#log.warn("extent_list_del", `no page to split the run at 0x${start.toString(16)}`);
        return;
      }
      this.#write(at[0], at[1], start + size, run - k - 1, order);
      const [hp, hi] = at[1] > 0 ? [at[0], at[1] - 1] : [at[0] - 1, this.#count(at[0] - 1) - 1];
      this.#write(hp, hi, first, k, order);
    }
  }

  /** Every block, in list order, read from the bytes. */
  walk(cb: WalkCallback): number {
    const r = walkExtentList({
      mem: this.#mem,
      rootPhys: this.handoverRoot(),
      counters: this.counters,
      checkBlocks: false,
    }, cb);
    if (!r.ok) throw new TrackerCorruptionError("extent list", r);
    return r.stopped;
  }

  /** The first page. */
  handoverRoot(): number {
    return this.#pages.length ? this.#pages[0].phys : 0;
  }
  /** Pages in the chain. */
  metadataPages(): number {
    return this.#pages.length;
  }
  /** Bytes of those pages. */
  metadataBytes(): number {
    return this.#pages.length * PAGE_SIZE;
  }
  /** Their addresses, ascending. */
  ownedPagesPhys(): number[] {
    return this.#pages.map((p) => p.phys).sort((a, b) => a - b);
  }
  /** Frees every page. */
  destroy(): void {
    for (const p of this.#pages) this.#free(p);
    this.#pages.length = 0;
    this.#first.length = 0;
  }
}

/** The tracker format. */
export const EXTENT_LIST: TrackerFormat = defineTracker({
  kind: "extent-list",
  summary: "sorted (pfn, order, run length) records in a chain of pages (a design)",
  capabilities: {
    maxOrder: MAX_ORDER,
    pageType: false,
    rollback: "exact",
    walkOrder: "order-asc",
    batchedWalk: false,
  },
  create: (host) => new ExtentList(host),
  incoming(mem, rootPhys, o = {}) {
    const counters = o.counters ?? new TrackerCounters();
    return incomingTracker({
      kind: "extent-list",
      structure: "extent list",
      counters,
      walk: (cb) => walkExtentList({ mem, rootPhys, isRam: o.isRam, log: o.log, counters }, cb),
    });
  },
});

/** The profile: kho-v4 with the extent list, under a compatible string of its own. */
export const EXTENT_LIST_PROFILE = defineProfile({
  name: "extent-list",
  base: "kho-v4",
  compat: "kho-v4-extent-list",
  tracker: EXTENT_LIST,
  summary: "kho-v4 with preserved memory as sorted extents (pfn, order, run) in chained pages",
});
