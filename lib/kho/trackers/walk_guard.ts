/**
 * The validation every successor-side tracker walk shares: the policy that turns corrupted
 * handover bytes into a named reason instead of an exception or a hang. A walk reads page
 * words through {@link WalkGuard.words}, follows child pointers only through
 * {@link WalkGuard.child} (page-aligned, RAM, never a page already visited — so every page is
 * read at most once and a cycle ends the walk), aborts with {@link WalkGuard.fail} and skips
 * bad blocks with {@link WalkGuard.reject} (logged up to a limit). The bitmaps the readers end
 * in (radix leaves, khoser bitmaps, order-table bitmap tables) are scanned by one loop,
 * {@link WalkGuard.scanBitmap}, per block or a bitmap at a time.
 *
 * @module
 */

import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SIZE } from "../../units.ts";
import type { TrackerCounters } from "./counters.ts";

const TWO32 = 2 ** 32;
const ZERO_PAGE = new Uint32Array(PAGE_SIZE / 4);

/** `hi:lo` as hex without `0x` (for messages about raw u64 values). */
export function hexU64(lo: number, hi: number): string {
  return hi === 0 ? lo.toString(16) : hi.toString(16) + (lo >>> 0).toString(16).padStart(8, "0");
}

/** What a guard needs from a reader's options, and the counters the reader charges. */
export interface WalkGuardOptions {
  /** Physical memory as the successor sees it. */
  mem: PhysicalMemory;
  /** Whether `[phys, phys + size)` is entirely RAM (default: inside `mem`). */
  isRam?: (phys: number, size: number) => boolean;
  /** Log for errors and rejected blocks. */
  log?: KernelLog;
  /** Rejected blocks logged individually before one "not logged" line (default 8). */
  rejectLogLimit?: number;
  /** Counters to charge (default: a fresh set). */
  counters?: TrackerCounters;
}

/** The reasons {@link WalkGuard.child} reports, in the reader's own vocabulary. */
export interface ChildReasons<R extends string> {
  /** The entry is not page aligned. */
  unaligned: R;
  /** The entry points outside RAM. */
  outside: R;
  /** The entry points to a page on the current path. */
  cycle: R;
  /** The entry points to a page visited elsewhere in this walk. */
  shared: R;
}

/**
 * The abort reasons every table-shaped reader shares (the radix tree, RFC v1's order table):
 * a root that is 0, unaligned or not RAM, an entry that is unaligned or points outside RAM,
 * an entry leading back to a page on the current path (`cycle`) or to one already visited
 * elsewhere in the walk (`shared-node`).
 */
export type TreeWalkErrorReason =
  /** The root address is 0. */
  | "root-null"
  /** The root address is not page aligned. */
  | "root-unaligned"
  /** The root page is not RAM. */
  | "root-outside-ram"
  /** A table entry is not page aligned. */
  | "entry-unaligned"
  /** A table entry points to a page that is not RAM. */
  | "entry-outside-ram"
  /** A table entry points to a page on the current path (itself or an ancestor). */
  | "cycle"
  /** A table entry points to a page already visited elsewhere in this walk. */
  | "shared-node";

/** {@link WalkGuard.child}'s reasons in the words of {@link TreeWalkErrorReason}. */
export const TREE_CHILD_REASONS: ChildReasons<TreeWalkErrorReason> = {
  unaligned: "entry-unaligned",
  outside: "entry-outside-ram",
  cycle: "cycle",
  shared: "shared-node",
};

/** What every bytes-only walk reports (each reader adds its own visit counts). */
export interface WalkOutcome<R extends string> {
  /** False when a structural error aborted the walk. */
  ok: boolean;
  /** The structural error, when `ok` is false. */
  error?: R;
  /** Human-readable detail of the error. */
  detail?: string;
  /** The non-zero callback result that stopped the walk, or 0. */
  stopped: number;
  /** Callbacks made (blocks delivered). */
  blocks: number;
  /** Blocks rejected and skipped. */
  rejected: number;
}

/** A per-block walk callback with the block's page type (0 where the encoding has none). */
export type BlockCallback = (phys: number, order: number, type: number) => number;

/** One shared batch buffer per size; a walk started inside a batch callback gets its own. */
const batchBuffers = new Map<number, Float64Array | null>();

/** Shared state and checks of a bytes-only tracker walk; `R` names its abort reasons. */
export class WalkGuard<R extends string> {
  /** The memory being read. */
  readonly mem: PhysicalMemory;
  /** Size of physical memory. */
  readonly memBytes: number;
  /** RAM check. */
  readonly isRam: (phys: number, size: number) => boolean;
  /** Log, if any. */
  readonly log: KernelLog | undefined;
  /** Counters charged by the walk. */
  readonly c: TrackerCounters;
  /** Rejected blocks logged individually. */
  readonly rejectLogLimit: number;
  /** Pages already read (each page is read at most once). */
  readonly visited: Set<number> = new Set();
  /** Table pages on the current path (to tell a cycle from a shared node). */
  readonly path: number[] = [];
  /** The abort reason, once the walk failed. */
  error: R | undefined;
  /** Detail of the abort reason. */
  detail = "";
  /** The non-zero callback result that stopped the walk. */
  stopped = 0;
  /** Blocks reported to the callback. */
  blocks = 0;
  /** Blocks rejected and skipped. */
  rejected = 0;
  /** The per-block callback (in batch mode: a batch of one). */
  cb: BlockCallback = () => 0;
  /**
   * Batch mode: blocks of one bitmap are delivered together through this callback (a
   * `WalkBatchCallback` of `tracker.ts`, spelled out: that module imports this one).
   */
  batchCb: ((phys: Float64Array, count: number, order: number) => number) | null = null;
  /** The batch buffer, while a batched walk runs. */
  batchBuf: Float64Array | null = null;
  readonly #what: string;
  readonly #rejectPrefix: string;

  /**
   * `what` names the structure in abort messages (`"radix tree"` → "radix tree walk aborted:
   * …"); `rejectPrefix` starts rejected-block lines (`"radix: "`).
   */
  constructor(o: WalkGuardOptions, counters: TrackerCounters, what: string, rejectPrefix: string) {
    this.mem = o.mem;
    this.memBytes = o.mem.sizeBytes;
    this.isRam = o.isRam ?? ((p, s) => o.mem.contains(p, s));
    this.log = o.log;
    this.c = counters;
    this.rejectLogLimit = o.rejectLogLimit ?? 8;
    this.#what = what;
    this.#rejectPrefix = rejectPrefix;
  }

  /**
   * Runs `walk` with the callbacks of the walk: per block (`cb`) or batched (`batchCb`, with
   * batches of up to `bits` blocks in a shared buffer; blocks the reader delivers one by one
   * go out as batches of one).
   */
  run<T>(
    cb: BlockCallback | null,
    batchCb: ((phys: Float64Array, count: number, order: number) => number) | null,
    bits: number,
    walk: () => T,
  ): T {
    this.batchCb = batchCb;
    if (batchCb === null) {
      this.cb = cb!;
      return walk();
    }
    const shared = batchBuffers.has(bits) ? batchBuffers.get(bits)! : new Float64Array(bits);
    const buf = shared ?? new Float64Array(bits);
    batchBuffers.set(bits, null);
    this.batchBuf = buf;
    this.cb = (phys, order) => {
      buf[0] = phys;
      return batchCb(buf, 1, order);
    };
    try {
      return walk();
    } finally {
      if (shared !== null) batchBuffers.set(bits, shared);
      this.batchBuf = null;
    }
  }

  /**
   * Validates a tree's root address (`what` names it in the message: `"root"`, `"order
   * table"`): false after {@link fail} with `root-null`, `root-outside-ram` or
   * `root-unaligned`; else the root is marked visited.
   */
  treeRoot(root: number, what: string, nullDetail: string): boolean {
    // R includes the tree reasons wherever a tree reader calls this
    const fail = (reason: TreeWalkErrorReason, detail: string) =>
      this.fail(reason as unknown as R, detail);
    if (root === 0) return fail("root-null", nullDetail);
    if (!Number.isSafeInteger(root) || root < 0) return fail("root-outside-ram", `${what} ${root}`);
    const at = `${what} 0x${root.toString(16)}`;
    if (root % PAGE_SIZE !== 0) return fail("root-unaligned", at);
    if (!this.ram(root, PAGE_SIZE)) return fail("root-outside-ram", at);
    this.visited.add(root);
    return true;
  }

  /** Charges a table scan that read `seen` entries and followed `followed`, and leaves it. */
  tableDone(seen: number, followed: number): void {
    this.c.entriesVisited += seen;
    this.c.entriesFollowed += followed;
    this.c.cacheLinesRead += Math.ceil(seen / 8);
    this.c.pagesTouched++;
    this.path.pop();
  }

  /**
   * Whether a block of a bitmap not known to be all valid may be delivered: it must be RAM
   * (readers add their own rules). A bad block is rejected (counted, logged).
   */
  blockOk(phys: number, blockBytes: number, order: number): boolean {
    if (this.ram(phys, blockBytes)) return true;
    this.reject(phys, order, "not entirely RAM");
    return false;
  }

  /**
   * Scans the bitmap `w[off .. off + n32)` (u32 words of a Linux bitmap), whose bit b is the
   * block `start + b × blockBytes` of `order` and `type`, delivering its blocks per block or,
   * in batch mode, in one call; `allOk` says every block of the bitmap is valid (else each
   * goes through {@link blockOk}). Charges the blocks, callbacks, u64 words scanned and their
   * cache lines (the whole bitmap, or up to the word where a callback stopped the walk).
   * Returns false when a callback stopped the walk.
   */
  scanBitmap(
    w: Uint32Array,
    off: number,
    n32: number,
    start: number,
    blockBytes: number,
    order: number,
    type: number,
    allOk: boolean,
  ): boolean {
    if (this.batchCb !== null) {
      return this.#deliverBitmap(w, off, n32, start, blockBytes, order, allOk);
    }
    if (!allOk) return this.#scanChecked(w, off, n32, start, blockBytes, order, type);
    const u = scanAll(w, off, n32, start, blockBytes, order, type, this.cb);
    this.blocks += scanCalls;
    this.c.callbacks += scanCalls;
    if (u < n32) this.stopped = scanStopped;
    return this.scanned(u, n32);
  }

  /** Batch mode of {@link scanBitmap}: the bitmap's valid blocks in one call. */
  #deliverBitmap(
    w: Uint32Array,
    off: number,
    n32: number,
    start: number,
    blockBytes: number,
    order: number,
    allOk: boolean,
  ): boolean {
    const buf = this.batchBuf!;
    const n = this.#gatherValid(w, off, n32, start, blockBytes, order, allOk, buf);
    let u = n32;
    if (n > 0) {
      this.blocks += n;
      this.c.callbacks += n;
      const r = this.batchCb!(buf, n, order);
      if (r) {
        this.stopped = r;
        u = n32 - 1; // the whole bitmap was scanned before the delivery
      }
    }
    return this.scanned(u, n32);
  }

  /**
   * {@link scanBitmap} per block for a bitmap not known to be all valid (a cold path: holes,
   * corrupted bytes): its valid blocks gathered first, then delivered one by one.
   */
  #scanChecked(
    w: Uint32Array,
    off: number,
    n32: number,
    start: number,
    blockBytes: number,
    order: number,
    type: number,
  ): boolean {
    const buf = new Float64Array(n32 * 32);
    const n = this.#gatherValid(w, off, n32, start, blockBytes, order, false, buf);
    const cb = this.cb;
    let i = 0, stopped = 0;
    for (; i < n && !stopped; i++) stopped = cb(buf[i], order, type);
    this.blocks += i;
    this.c.callbacks += i;
    if (!stopped) return this.scanned(n32, n32);
    this.stopped = stopped;
    return this.scanned(Math.floor((buf[i - 1] - start) / blockBytes / 32), n32);
  }

  /**
   * The valid blocks of a bitmap into `buf`: every set bit ({@link gatherAll}), then — unless
   * `allOk` — those {@link blockOk} refuses dropped (rejected in address order). Their number.
   */
  #gatherValid(
    w: Uint32Array,
    off: number,
    n32: number,
    start: number,
    blockBytes: number,
    order: number,
    allOk: boolean,
    buf: Float64Array,
  ): number {
    const n = gatherAll(w, off, n32, start, blockBytes, buf);
    if (allOk) return n;
    let m = 0;
    for (let i = 0; i < n; i++) if (this.blockOk(buf[i], blockBytes, order)) buf[m++] = buf[i];
    return m;
  }

  /** Charges the u64 words read up to u32 word `u` of a bitmap (`n32`: all) and their lines. */
  scanned(u: number, n32: number): boolean {
    const go = u === n32;
    const words64 = go ? n32 >>> 1 : (u >>> 1) + 1;
    this.c.bitmapWordsScanned += words64;
    this.c.cacheLinesRead += Math.ceil(words64 / 8);
    return go;
  }

  /**
   * The walk's outcome with the reader's own figures `extra`; logs the number of rejected
   * blocks first (`"<label>: rejected N preserved blocks"`).
   */
  outcome<X extends object>(label: string, extra: X): WalkOutcome<R> & X {
    if (this.rejected > 0) {
      this.log?.warning("KHO", `${label}: rejected ${this.rejected} preserved blocks`);
    }
    const base = { stopped: this.stopped, blocks: this.blocks, rejected: this.rejected, ...extra };
    return this.error === undefined
      ? { ok: true, ...base }
      : { ok: false, error: this.error, detail: this.detail, ...base };
  }

  /** Whether `[phys, phys + size)` is inside memory and RAM. */
  ram(phys: number, size: number): boolean {
    return phys >= 0 && phys + size <= this.memBytes && Number.isSafeInteger(phys + size) &&
      this.isRam(phys, size);
  }

  /** Aborts the walk with a named reason (logged); returns false for `go = this.fail(…)`. */
  fail(reason: R, detail: string): false {
    this.error = reason;
    this.detail = detail;
    this.log?.error("KHO", `${this.#what} walk aborted: ${reason}: ${detail}`);
    return false;
  }

  /** Word view of page `pfn`, stable across later reads (descriptor pages are copied). */
  words(pfn: number): Uint32Array {
    const m = this.mem.materializedPage(pfn);
    if (m !== null) return m;
    return this.mem.isZeroPage(pfn) ? ZERO_PAGE : this.mem.pageView(pfn).slice();
  }

  /** Skips a preserved block that cannot be honoured, logging the first few. */
  reject(phys: number, order: number, why: string): void {
    this.rejected++;
    if (this.log === undefined) return;
    if (this.rejected <= this.rejectLogLimit) {
      this.log.error(
        "KHO",
        `${this.#rejectPrefix}rejecting preserved block 0x${
          phys.toString(16)
        } order ${order}: ${why}`,
      );
    } else if (this.rejected === this.rejectLogLimit + 1) {
      this.log.error("KHO", `${this.#rejectPrefix}further rejected blocks not logged`);
    }
  }

  /**
   * Validates the table entry `(lo, hi)` as a pointer to a child page and marks it visited.
   * Returns the child's address, or -1 after {@link WalkGuard.fail} (`where` describes the
   * entry; it is only called to build the message).
   */
  child(lo: number, hi: number, where: () => string, reasons: ChildReasons<R>): number {
    if ((lo & (PAGE_SIZE - 1)) !== 0) {
      return this.fail(reasons.unaligned, `${where()} = 0x${hexU64(lo, hi)}`), -1;
    }
    const phys = hi * TWO32 + lo;
    if (hi >= 2 ** 21 || !this.ram(phys, PAGE_SIZE)) {
      return this.fail(reasons.outside, `${where()} = 0x${hexU64(lo, hi)}`), -1;
    }
    if (this.visited.has(phys)) {
      const cyc = this.path.includes(phys);
      return this.fail(cyc ? reasons.cycle : reasons.shared, `${where()} = 0x${phys.toString(16)}`),
        -1;
    }
    this.visited.add(phys);
    return phys;
  }
}

/** Callbacks made by the last {@link scanAll}, and the result that stopped it. */
let scanCalls = 0;
let scanStopped = 0;

/**
 * The hot loop of a bitmap whose blocks are all valid: `cb(phys, order, type)` for every set
 * bit of `w[off .. off + n32)`. Returns the u32 word index where a callback stopped the scan,
 * or `n32` when it completed (callbacks in `scanCalls`, the stopping result in
 * `scanStopped`). A free function, so that every reader shares one monomorphic loop.
 */
function scanAll(
  w: Uint32Array,
  off: number,
  n32: number,
  start: number,
  blockBytes: number,
  order: number,
  type: number,
  cb: BlockCallback,
): number {
  let calls = 0;
  for (let u = 0; u < n32; u++) {
    let x = w[off + u] | 0;
    if (x === 0) continue;
    const wordBase = start + u * 32 * blockBytes;
    do {
      const t = x & -x;
      x ^= t;
      calls++;
      const r = cb(wordBase + (31 - Math.clz32(t)) * blockBytes, order, type);
      if (r) {
        scanCalls = calls;
        scanStopped = r;
        return u;
      }
    } while (x !== 0);
  }
  scanCalls = calls;
  return n32;
}

/**
 * The batch loop of a bitmap whose blocks are all valid: the addresses of its set bits into
 * `buf` (a full word — dense preservation — as 32 consecutive blocks). Returns their number.
 */
function gatherAll(
  w: Uint32Array,
  off: number,
  n32: number,
  start: number,
  blockBytes: number,
  buf: Float64Array,
): number {
  let n = 0;
  for (let u = 0; u < n32; u++) {
    let x = w[off + u] | 0;
    if (x === 0) continue;
    const wordBase = start + u * 32 * blockBytes;
    if (x === -1) {
      for (let b = 0; b < 32; b++) buf[n++] = wordBase + b * blockBytes;
      continue;
    }
    do {
      const t = x & -x;
      x ^= t;
      buf[n++] = wordBase + (31 - Math.clz32(t)) * blockBytes;
    } while (x !== 0);
  }
  return n;
}
