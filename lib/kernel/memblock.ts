/**
 * memblock, the boot-time memory allocator (mm/memblock.c), as far as KHO needs it: the
 * `memory` and `reserved` region lists, flags (NOMAP, RSRV_NOINIT, RSRV_KERN, KHO_SCRATCH…),
 * top-down / bottom-up allocation per node, scratch-only mode for a KHO boot,
 * `memblock_reserved_kern_size` for scratch sizing, and `memblock_free_all`; and what the
 * series "kho: make boot time huge page allocation work nicely with KHO" adds
 * (luo-hugetlb-facts §4.1, §5.1; profile `rfc-2026-ext-scratch`): `MEMBLOCK_KHO_SCRATCH_EXT`
 * memory, allocatable in scratch-only mode as well, `memblock_alloc_nid_user` for user memory
 * (HugeTLB boot pages: never from scratch) and `memblock_reserved_hugetlb_size`.
 *
 * The region lists are chunked ({@link MemblockType}), so the million scattered
 * `memblock_reserve` calls of a KHO walk stay near O(n log n).
 *
 * @module
 */

import type { Topology } from "../machine/topology.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import type { KernelLog } from "./dmesg.ts";
import type { FaultInjector } from "./faults.ts";
import { type MemblockRegion, MemblockType, PHYS_ADDR_MAX } from "./memblock_type.ts";

export { type MemblockRegion, PHYS_ADDR_MAX };

/** Memblock region flags (`enum memblock_flags`, kernel values). */
export const MemblockFlags = {
  /** No special request. */
  NONE: 0x0,
  /** Hotpluggable region. */
  HOTPLUG: 0x1,
  /** Mirrored region. */
  MIRROR: 0x2,
  /** Not added to the kernel's direct mapping. */
  NOMAP: 0x4,
  /** Memory region always detected and added via a driver. */
  DRIVER_MANAGED: 0x8,
  /** Reserved: struct pages are not initialized (KHO-preserved memory). */
  RSRV_NOINIT: 0x10,
  /** Reserved: allocated by the kernel itself (counted for scratch sizing). */
  RSRV_KERN: 0x20,
  /** Memory: KHO scratch, the only memory allocatable in scratch-only mode. */
  KHO_SCRATCH: 0x40,
  /**
   * Memory: extended KHO scratch, found at boot in the gaps between preserved 1 GiB blocks and
   * never passed on ("memblock: introduce MEMBLOCK_KHO_SCRATCH_EXT", 2026-04-29; kho-facts §9.6).
   */
  KHO_SCRATCH_EXT: 0x80,
  /**
   * Reserved: a HugeTLB boot-time page (the later revision's `memblock_reserved_hugetlb_size`,
   * luo-hugetlb-facts §5.1). The flag's name and value are kholab's: the revision was only seen
   * in revlists **[UNVERIFIED]**.
   */
  RSRV_HUGETLB: 0x100,
} as const;

/** No particular NUMA node. */
export const NUMA_NO_NODE: number = -1;
/** `end` value meaning "up to memblock.current_limit" (0 in the kernel). */
export const MEMBLOCK_ALLOC_ACCESSIBLE = 0;
/** `end` value meaning "anywhere" (PHYS_ADDR_MAX). */
export const MEMBLOCK_ALLOC_ANYWHERE: number = PHYS_ADDR_MAX;
/** Alignment used when a caller passes 0 (x86_64 L1 cache line). */
export const SMP_CACHE_BYTES = 64;

const FLAG_NAMES = [
  "HOTPLUG",
  "MIRROR",
  "NOMAP",
  "DRV_MNG",
  "RSV_NIT",
  "RSV_KERN",
  "KHO_SCRATCH",
  "KHO_SCRATCH_EXT",
  "RSV_HUGETLB",
];
const F = MemblockFlags;

/** What a {@link Memblock} needs from its machine and boot. */
export interface MemblockOptions {
  /** RAM ranges and nodes (for the node of reservations and of added memory). */
  topology: Topology;
  /** The boot's kernel log (WARNs). */
  log: KernelLog;
  /** Fault injection, asked once per allocation attempt (site `"memblock_alloc"`). */
  faults: FaultInjector;
  /** Tuning: regions per chunk of the region lists (default 512). */
  regionsPerChunk?: number;
}

/** Arguments of {@link Memblock.reserve}. */
export interface ReserveOptions {
  /** Node recorded on the new region; default: the node the range lies in, else -1. */
  nid?: number;
  /** Flags of the new region (default NONE). */
  flags?: number;
}

/** Arguments of {@link Memblock.allocRange} (memblock_alloc_range_nid). */
export interface AllocRangeOptions {
  /** Bytes to allocate (> 0). */
  size: number;
  /** Alignment in bytes (0 → SMP_CACHE_BYTES, as the kernel does after a dump_stack). */
  align: number;
  /** Lowest acceptable address (default 0; the first page is never returned). */
  start?: number;
  /** Upper bound, exclusive (default MEMBLOCK_ALLOC_ACCESSIBLE = current limit). */
  end?: number;
  /** Preferred node (default NUMA_NO_NODE). */
  nid?: number;
  /** Fail instead of falling back to other nodes. */
  exactNid?: boolean;
}

/** Arguments of {@link Memblock.allocNidUser} (`memblock_alloc_nid_user`): no range. */
export type AllocUserOptions = Omit<AllocRangeOptions, "start" | "end">;

/** Arguments of {@link Memblock.allocTryNid} / {@link Memblock.allocExactNid}. */
export interface AllocNidOptions extends Pick<AllocRangeOptions, "size" | "align" | "nid"> {
  /** Lower bound, retried as 0 when nothing fits above it (default 0). */
  minAddr?: number;
  /** Upper bound (default MEMBLOCK_ALLOC_ACCESSIBLE). */
  maxAddr?: number;
}

/** Receives one free pfn range `[startPfn, endPfn)` from {@link Memblock.freeAll}. */
export type FreeRangeFn = (startPfn: number, endPfn: number, nid: number) => void;
/** Receives one reserved pfn range from {@link Memblock.freeAll}, with its region flags. */
export type ReservedRangeFn = (
  startPfn: number,
  endPfn: number,
  nid: number,
  flags: number,
) => void;

/**
 * The indices `0..n-1` ordered by `key` (ties by index): a natural merge sort, O(n log r) for
 * input made of r ascending runs — a tracker walk delivers one run per order.
 */
function sortedOrder(key: Float64Array, n: number): Uint32Array {
  let a = new Uint32Array(n);
  let b = new Uint32Array(n);
  const starts: number[] = [];
  for (let i = 0; i < n; i++) {
    a[i] = i;
    if (i === 0 || key[i] < key[i - 1]) starts.push(i);
  }
  starts.push(n);
  let runs = starts;
  while (runs.length > 2) {
    const next: number[] = [];
    for (let r = 0; r + 1 < runs.length; r += 2) {
      const lo = runs[r], mid = runs[r + 1], hi = r + 2 < runs.length ? runs[r + 2] : mid;
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        // a[i] < a[j] as indices within runs: equal keys keep the earlier index first
        b[k++] = key[a[j]] < key[a[i]] ? a[j++] : a[i++];
      }
      while (i < mid) b[k++] = a[i++];
      while (j < hi) b[k++] = a[j++];
      next.push(lo);
    }
    next.push(n);
    runs = next;
    const t = a;
    a = b;
    b = t;
  }
  return a;
}

function checkRange(what: string, base: number, size: number): void {
  if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`${what}: bad range base=${base} size=${size}`);
  }
}

/**
 * One boot's memblock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Topology } from "../machine/topology.ts";
 * import { KernelLog } from "./dmesg.ts";
 * import { FaultInjector } from "./faults.ts";
 * import { Memblock, MemblockFlags } from "./memblock.ts";
 * const topology = new Topology({ ramBytes: 2 ** 30 });
 * const mb = new Memblock({ topology, log: new KernelLog(), faults: new FaultInjector() });
 * mb.addTopologyRam();
 * const phys = mb.physAlloc(4096, 4096); // top-down: the last page of RAM
 * assert.equal(phys, 2 ** 30 - 4096);
 * assert.equal(mb.reservedRegions()[0].flags, MemblockFlags.RSRV_KERN);
 * ```
 */
export class Memblock {
  /** The machine's RAM layout. */
  readonly topology: Topology;
  /** The boot's log. */
  readonly log: KernelLog;
  /** Fault injection for allocations. */
  readonly faults: FaultInjector;
  /** memblock_bottom_up(): allocate from low addresses up instead of top-down. */
  bottomUp = false;
  /** memblock.current_limit: what MEMBLOCK_ALLOC_ACCESSIBLE means (default anywhere). */
  currentLimit: number = MEMBLOCK_ALLOC_ANYWHERE;
  /** Number of {@link Memblock.reserve} calls (the KHO walk's cost counter). */
  reserveCalls = 0;
  /** Number of allocation attempts (one per allocRange / physAlloc / alloc*Nid call). */
  allocCalls = 0;
  /** Number of allocation attempts that returned 0. */
  allocFailures = 0;
  readonly #memory: MemblockType;
  readonly #reserved: MemblockType;
  #scratchOnly = false;
  // reserveNoinitBatch's sorted ranges, kept for the next batch
  #batchBase = new Float64Array(0);
  #batchEnd = new Float64Array(0);
  #batchNid = new Int16Array(0);
  #freed = false;

  /** Creates an empty memblock (no memory until {@link Memblock.add}). */
  constructor(options: MemblockOptions) {
    this.topology = options.topology;
    this.log = options.log;
    this.faults = options.faults;
    this.#memory = new MemblockType("memory", options.regionsPerChunk);
    this.#reserved = new MemblockType("reserved", options.regionsPerChunk);
  }

  // ---- memory ------------------------------------------------------------------------

  /**
   * memblock_add_node: adds `[base, base + size)` to memory on `nid`. Without `nid`, the
   * range is split along the topology's RAM ranges and each part gets its node (parts in
   * holes get NUMA_NO_NODE), as after the kernel's `memblock_set_node`.
   */
  add(base: number, size: number, nid?: number): void {
    checkRange("memblock_add", base, size);
    if (nid !== undefined) {
      this.#addMemory(base, size, nid, F.NONE);
      return;
    }
    const end = base + size;
    let cur = base;
    for (const r of this.topology.ranges) {
      if (r.end <= cur) continue;
      if (r.start >= end) break;
      if (r.start > cur) this.#addMemory(cur, r.start - cur, NUMA_NO_NODE, F.NONE);
      const e = Math.min(r.end, end);
      this.#addMemory(Math.max(cur, r.start), e - Math.max(cur, r.start), r.nid, F.NONE);
      cur = e;
    }
    if (cur < end) this.#addMemory(cur, end - cur, NUMA_NO_NODE, F.NONE);
  }

  /** Adds every RAM range of the topology with its node (e820__memblock_setup + NUMA init). */
  addTopologyRam(): void {
    for (const r of this.topology.ranges) this.add(r.start, r.end - r.start, r.nid);
  }

  #addMemory(base: number, size: number, nid: number, flags: number): void {
    const warns = this.#memory.addRange(base, size, nid, flags);
    for (let i = 0; i < warns; i++) this.log.warn("memblock_add_range", "flags mismatch");
  }

  /** memblock_remove: removes `[base, base + size)` from memory. */
  remove(base: number, size: number): void {
    checkRange("memblock_remove", base, size);
    this.#memory.removeRange(base, size);
  }

  /** memblock_mark_kho_scratch: flags the memory inside the range as KHO scratch. */
  markKhoScratch(base: number, size: number): void {
    checkRange("memblock_mark_kho_scratch", base, size);
    this.#memory.setClrFlag(base, size, true, F.KHO_SCRATCH);
  }

  /**
   * memblock_mark_kho_scratch_ext: flags the memory inside the range as extended KHO scratch
   * (holes inside the range are left alone).
   */
  markKhoScratchExt(base: number, size: number): void {
    checkRange("memblock_mark_kho_scratch_ext", base, size);
    this.#memory.setClrFlag(base, size, true, F.KHO_SCRATCH_EXT);
  }

  /** memblock_clear_kho_scratch: clears the KHO scratch flag inside the range. */
  clearKhoScratch(base: number, size: number): void {
    checkRange("memblock_clear_kho_scratch", base, size);
    this.#memory.setClrFlag(base, size, false, F.KHO_SCRATCH);
  }

  /** memblock_mark_nomap: memory inside the range is never allocated nor freed to buddy. */
  markNomap(base: number, size: number): void {
    checkRange("memblock_mark_nomap", base, size);
    this.#memory.setClrFlag(base, size, true, F.NOMAP);
  }

  /** memblock_clear_nomap. */
  clearNomap(base: number, size: number): void {
    checkRange("memblock_clear_nomap", base, size);
    this.#memory.setClrFlag(base, size, false, F.NOMAP);
  }

  // ---- reserved ----------------------------------------------------------------------

  /**
   * memblock_reserve: adds `[base, base + size)` to the reserved list. Already reserved
   * parts keep their flags and node. Never fails (the lists grow without a limit).
   */
  reserve(base: number, size: number, opts?: ReserveOptions): void {
    checkRange("memblock_reserve", base, size);
    this.reserveCalls++;
    const nid = opts?.nid;
    this.#reserve(base, size, nid, opts?.flags ?? F.NONE);
  }

  #reserve(base: number, size: number, nid: number | undefined, flags: number): void {
    if (size === 0) return;
    const n = nid !== undefined && nid >= 0 ? nid : this.#nidOfRange(base, base + size);
    const warns = this.#reserved.addRange(base, size, n, flags);
    for (let i = 0; i < warns; i++) this.log.warn("memblock_add_range", "flags mismatch");
  }

  /** The node all RAM inside `[base, end)` belongs to, or NUMA_NO_NODE. */
  #nidOfRange(base: number, end: number): number {
    const rs = this.topology.ranges;
    let lo = 0;
    let hi = rs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rs[mid].end > base) hi = mid;
      else lo = mid + 1;
    }
    let nid = NUMA_NO_NODE;
    for (let j = lo; j < rs.length && rs[j].start < end; j++) {
      if (nid === NUMA_NO_NODE) nid = rs[j].nid;
      else if (rs[j].nid !== nid) return NUMA_NO_NODE;
    }
    return nid;
  }

  /** memblock_phys_free: removes `[base, base + size)` from the reserved list. */
  free(base: number, size: number): void {
    checkRange("memblock_phys_free", base, size);
    this.#reserved.removeRange(base, size);
  }

  /** memblock_is_region_reserved: whether any byte of the range is reserved. */
  isRegionReserved(base: number, size: number): boolean {
    return this.#reserved.overlaps(base, size);
  }

  /** memblock_is_reserved: whether the byte at `addr` is reserved. */
  isReserved(addr: number): boolean {
    return this.#reserved.overlaps(addr, 1);
  }

  /** memblock_is_memory: whether the byte at `addr` is memory. */
  isMemory(addr: number): boolean {
    return this.#memory.overlaps(addr, 1);
  }

  /** memblock_reserved_mark_noinit: sets RSRV_NOINIT on the reserved regions in the range. */
  reservedMarkNoinit(base: number, size: number): void {
    checkRange("memblock_reserved_mark_noinit", base, size);
    this.#reserved.setClrFlag(base, size, true, F.RSRV_NOINIT);
  }

  /**
   * `memblock_reserve(base[i], size[i])` + `memblock_reserved_mark_noinit(base[i], size[i])`
   * for `i < n`, in that order — KHO's walk reserving every preserved block — with the result
   * and the counters of the calls one by one. Sorted, disjoint ranges (the walk's, after a
   * sort when it delivered them out of order) are merged into the reserved list in one pass
   * when there are enough of them; overlapping ranges, bad ones (which throw where the single
   * call throws) and a few ranges against a long list take the calls one by one.
   */
  reserveNoinitBatch(base: Float64Array, size: Float64Array, n: number): void {
    let sorted = true;
    let prevEnd = 0;
    for (let i = 0; i < n; i++) {
      const b = base[i], sz = size[i];
      if (!(b >= 0 && sz >= 0 && Number.isSafeInteger(b) && Number.isSafeInteger(sz))) {
        // the calls one by one: this one throws where the single call throws
        for (let x = 0; x < n; x++) this.#reserveNoinitOne(base[x], size[x]);
        return;
      }
      if (sz > 0) {
        if (b < prevEnd) sorted = false;
        prevEnd = b + sz;
      }
    }
    if (n * 64 < this.#reserved.count) {
      for (let i = 0; i < n; i++) this.#reserveNoinitOne(base[i], size[i]);
      return;
    }
    let order: Uint32Array | null = null;
    if (!sorted) {
      // disjoint ranges out of order give the same result sorted; overlapping ones do not
      order = sortedOrder(base, n);
      let end = 0;
      for (let k = 0; k < n; k++) {
        const i = order[k];
        if (size[i] === 0) continue;
        if (base[i] < end) {
          for (let x = 0; x < n; x++) this.#reserveNoinitOne(base[x], size[x]);
          return;
        }
        end = base[i] + size[i];
      }
    }
    // the ranges ascending, clamped as memblock_add_range clamps them, with their nodes
    if (this.#batchEnd.length < n) {
      const cap = Math.max(n, 2 * this.#batchEnd.length);
      this.#batchBase = new Float64Array(cap);
      this.#batchEnd = new Float64Array(cap);
      this.#batchNid = new Int16Array(cap);
    }
    const bs = order === null ? base : this.#batchBase;
    const es = this.#batchEnd;
    const nids = this.#batchNid;
    const ranges = this.topology.ranges;
    // the RAM range holding the last base: ascending bases move it forward only
    let ri = 0;
    for (let k = 0; k < n; k++) {
      const i = order === null ? k : order[k];
      const b = base[i];
      const sz = size[i];
      if (order !== null) bs[k] = b;
      es[k] = b + Math.min(sz, PHYS_ADDR_MAX - b);
      while (ri < ranges.length && ranges[ri].end <= b) ri++;
      // inside one RAM range: its node; else the general rule
      nids[k] = ri < ranges.length && ranges[ri].start <= b && b + sz <= ranges[ri].end
        ? ranges[ri].nid
        : this.#nidOfRange(b, b + sz);
    }
    this.reserveCalls += n;
    this.#reserved.addRangesSetFlag(bs, es, nids, n, F.RSRV_NOINIT);
  }

  #reserveNoinitOne(base: number, size: number): void {
    this.reserve(base, size);
    this.reservedMarkNoinit(base, size);
  }

  // ---- scratch-only mode -------------------------------------------------------------

  /** memblock_set_kho_scratch_only: allocate only from KHO_SCRATCH memory from now on. */
  setKhoScratchOnly(): void {
    this.#scratchOnly = true;
  }

  /** memblock_clear_kho_scratch_only: allocate from any memory again. */
  clearKhoScratchOnly(): void {
    this.#scratchOnly = false;
  }

  /** Whether allocations are restricted to KHO scratch memory. */
  get khoScratchOnly(): boolean {
    return this.#scratchOnly;
  }

  // ---- allocation --------------------------------------------------------------------

  /**
   * memblock_alloc_range_nid: finds `size` bytes aligned to `align` in `[start, end)`, on
   * `nid` if given (falling back to any node unless `exactNid`), reserves them with
   * RSRV_KERN and returns the address, or 0 when nothing fits or a fault is injected. Size 0
   * is no error: the address is found (the top of a free range, top-down) and nothing is
   * reserved.
   */
  allocRange(opts: AllocRangeOptions): number {
    if (!this.#allocBegin()) return 0;
    return this.#allocEnd(
      this.#allocRangeNid(
        opts.size,
        opts.align,
        opts.start ?? 0,
        opts.end ?? MEMBLOCK_ALLOC_ACCESSIBLE,
        opts.nid ?? NUMA_NO_NODE,
        opts.exactNid ?? false,
      ),
    );
  }

  /**
   * memblock_alloc_nid_user (v1 of "kho: make boot time huge page allocation work nicely with
   * KHO", 2026-04-29): boot memory for user space — HugeTLB boot-time pages — anywhere below
   * the current limit, on `nid` (falling back unless `exactNid`). In scratch-only mode only
   * `KHO_SCRATCH_EXT` memory qualifies: "user memory might be preserved and thus can not be in
   * scratch". The reservation is flagged RSRV_KERN | RSRV_HUGETLB, so that scratch sizing can
   * leave it out (`memblock_reserved_hugetlb_size`; v1 cleared RSRV_KERN instead, to the same
   * effect). Returns the address, or 0 when nothing fits or a fault is injected.
   */
  allocNidUser(opts: AllocUserOptions): number {
    if (!this.#allocBegin()) return 0;
    return this.#allocEnd(
      this.#allocRangeNid(
        opts.size,
        opts.align,
        0,
        MEMBLOCK_ALLOC_ACCESSIBLE,
        opts.nid ?? NUMA_NO_NODE,
        opts.exactNid ?? false,
        true,
      ),
    );
  }

  /** memblock_phys_alloc: anywhere below the current limit, any node; 0 on failure. */
  physAlloc(size: number, align: number): number {
    return this.allocRange({ size, align });
  }

  /** memblock_phys_alloc_range: inside `[start, end)`, any node; 0 on failure. */
  physAllocRange(size: number, align: number, start: number, end: number): number {
    return this.allocRange({ size, align, start, end });
  }

  /**
   * memblock_alloc_try_nid_raw (memblock_alloc_internal): like {@link Memblock.allocRange}
   * with fallback to other nodes, and a retry without `minAddr`. No zeroing here.
   */
  allocTryNid(opts: AllocNidOptions): number {
    return this.#allocInternal(opts, false);
  }

  /** memblock_alloc_exact_nid_raw: as {@link Memblock.allocTryNid} but never off `nid`. */
  allocExactNid(opts: AllocNidOptions): number {
    return this.#allocInternal(opts, true);
  }

  #allocInternal(opts: AllocNidOptions, exact: boolean): number {
    if (!this.#allocBegin()) return 0;
    const minAddr = opts.minAddr ?? 0;
    let maxAddr = opts.maxAddr ?? MEMBLOCK_ALLOC_ACCESSIBLE;
    if (maxAddr > this.currentLimit) maxAddr = this.currentLimit;
    const nid = opts.nid ?? NUMA_NO_NODE;
    let found = this.#allocRangeNid(opts.size, opts.align, minAddr, maxAddr, nid, exact);
    if (found === 0 && minAddr !== 0) {
      found = this.#allocRangeNid(opts.size, opts.align, 0, maxAddr, nid, exact);
    }
    return this.#allocEnd(found);
  }

  /** Counts the attempt and asks the fault injector; false = injected failure. */
  #allocBegin(): boolean {
    this.allocCalls++;
    if (this.faults.shouldFail("memblock_alloc")) {
      this.allocFailures++;
      return false;
    }
    return true;
  }

  #allocEnd(found: number): number {
    if (found === 0) this.allocFailures++;
    return found;
  }

  #allocRangeNid(
    size: number,
    align: number,
    start: number,
    end: number,
    nid: number,
    exact: boolean,
    user = false,
  ): number {
    if (!Number.isSafeInteger(size) || size < 0) return 0;
    if (!Number.isSafeInteger(align) || align < 0) {
      throw new RangeError(`memblock_alloc: bad align ${align}`);
    }
    if (align === 0) {
      this.log.warning("memblock", `memblock_alloc_range_nid: zero alignment, using 64`);
      align = SMP_CACHE_BYTES;
    }
    // Size 0 finds an address like any other request; memblock_reserve(found, 0) adds nothing.
    const rsrv = user ? F.RSRV_KERN | F.RSRV_HUGETLB : F.RSRV_KERN;
    let found = this.#findInRange(size, align, start, end, nid, user);
    if (found !== 0) {
      if (size > 0) this.#reserve(found, size, nid, rsrv);
      return found;
    }
    if (nid >= 0 && !exact) {
      found = this.#findInRange(size, align, start, end, NUMA_NO_NODE, user);
      if (found !== 0) {
        if (size > 0) this.#reserve(found, size, NUMA_NO_NODE, rsrv);
        return found;
      }
    }
    return 0;
  }

  /** memblock_find_in_range_node: a free, eligible, aligned range, or 0. */
  #findInRange(
    size: number,
    align: number,
    start: number,
    end: number,
    nid: number,
    user: boolean,
  ): number {
    if (end === MEMBLOCK_ALLOC_ACCESSIBLE) end = this.currentLimit;
    start = Math.max(start, PAGE_SIZE); // avoid allocating the first page
    end = Math.max(start, end);
    // choose_memblock_flags(user): in scratch-only mode, KHO_SCRATCH (kernel memory only) or
    // KHO_SCRATCH_EXT; otherwise any memory.
    const need = !this.#scratchOnly
      ? 0
      : user
      ? F.KHO_SCRATCH_EXT
      : F.KHO_SCRATCH | F.KHO_SCRATCH_EXT;
    return this.bottomUp
      ? this.#findBottomUp(size, align, start, end, nid, need)
      : this.#findTopDown(size, align, start, end, nid, need);
  }

  /** should_skip_region for memory regions, inverted (`need`: a region must have one of these). */
  #eligible(flags: number, mnid: number, nid: number, need: number): boolean {
    if (nid >= 0 && mnid !== nid) return false;
    if (flags & (F.NOMAP | F.DRIVER_MANAGED)) return false;
    if (need !== 0 && !(flags & need)) return false;
    return true;
  }

  #findTopDown(
    size: number,
    align: number,
    start: number,
    end: number,
    nid: number,
    need: number,
  ): number {
    for (const m = this.#memory.seekBaseBelow(end); m.valid; m.prev()) {
      if (m.end <= start) break;
      if (!this.#eligible(m.flags, m.nid, nid, need)) continue;
      const lo = Math.max(m.base, start);
      const hi = Math.min(m.end, end);
      if (lo >= hi) continue;
      // free gaps of [lo, hi), highest first
      let top = hi;
      const r = this.#reserved.seekBaseBelow(hi);
      for (;;) {
        const below = !r.valid || r.end <= lo;
        const gapLo = below ? lo : Math.max(r.end, lo);
        if (gapLo < top && top >= size) {
          const cand = Math.floor((top - size) / align) * align;
          if (cand >= gapLo) return cand;
        }
        if (below) break;
        top = r.base;
        if (top <= lo) break;
        r.prev();
      }
    }
    return 0;
  }

  #findBottomUp(
    size: number,
    align: number,
    start: number,
    end: number,
    nid: number,
    need: number,
  ): number {
    for (const m = this.#memory.seekEndAbove(start); m.valid; m.next()) {
      if (m.base >= end) break;
      if (!this.#eligible(m.flags, m.nid, nid, need)) continue;
      const lo = Math.max(m.base, start);
      const hi = Math.min(m.end, end);
      if (lo >= hi) continue;
      let cur = lo;
      const r = this.#reserved.seekEndAbove(lo);
      for (;;) {
        const above = !r.valid || r.base >= hi;
        const gapHi = above ? hi : r.base;
        if (gapHi > cur) {
          const cand = Math.ceil(cur / align) * align;
          if (cand < gapHi && gapHi - cand >= size) return cand;
        }
        if (above) break;
        cur = Math.max(cur, r.end);
        if (cur >= hi) break;
        r.next();
      }
    }
    return 0;
  }

  // ---- queries -----------------------------------------------------------------------

  /**
   * memblock_reserved_kern_size: bytes of RSRV_KERN reservations below `limit` (a region
   * crossing `limit` counts up to it) on `nid`, or on any node for NUMA_NO_NODE.
   */
  reservedKernSize(limit: number, nid: number): number {
    return this.#reservedFlagSize(limit, nid, F.RSRV_KERN);
  }

  /**
   * memblock_reserved_hugetlb_size: bytes of RSRV_HUGETLB reservations below `limit`, as
   * {@link Memblock.reservedKernSize} counts them (the later revision of the boot-time huge
   * page series; luo-hugetlb-facts §5.1).
   */
  reservedHugetlbSize(limit: number, nid: number): number {
    return this.#reservedFlagSize(limit, nid, F.RSRV_HUGETLB);
  }

  #reservedFlagSize(limit: number, nid: number, flag: number): number {
    let total = 0;
    for (const r = this.#reserved.first(); r.valid; r.next()) {
      const base = r.base;
      if (base > limit) break;
      const size = r.end > limit ? limit - base : r.end - base;
      if ((nid < 0 || r.nid === nid) && (r.flags & flag)) total += size;
    }
    return total;
  }

  /** memblock_phys_mem_size: bytes of memory. */
  physMemSize(): number {
    return this.#memory.totalSize;
  }

  /** memblock_start_of_DRAM: base of the first memory region (0 when empty). */
  startOfDram(): number {
    const c = this.#memory.first();
    return c.valid ? c.base : 0;
  }

  /** memblock_end_of_DRAM: end of the last memory region (0 when empty). */
  endOfDram(): number {
    const c = this.#memory.last();
    return c.valid ? c.end : 0;
  }

  /** memblock.reserved.total_size: bytes reserved. */
  totalReservedBytes(): number {
    return this.#reserved.totalSize;
  }

  /** memblock.memory.cnt. */
  get memoryCount(): number {
    return this.#memory.count;
  }

  /** memblock.reserved.cnt. */
  get reservedCount(): number {
    return this.#reserved.count;
  }

  /** Snapshot of the memory regions, ascending. */
  memoryRegions(): MemblockRegion[] {
    return this.#memory.snapshot();
  }

  /** Snapshot of the reserved regions, ascending. */
  reservedRegions(): MemblockRegion[] {
    return this.#reserved.snapshot();
  }

  /** The reserved region containing `addr`, or null. */
  findReserved(addr: number): MemblockRegion | null {
    return this.#reserved.find(addr);
  }

  /** The memory region containing `addr`, or null. */
  findMemory(addr: number): MemblockRegion | null {
    return this.#memory.find(addr);
  }

  /** Approximate bytes held by both region lists. */
  get footprintBytes(): number {
    return this.#memory.footprintBytes + this.#reserved.footprintBytes;
  }

  // ---- end of boot -------------------------------------------------------------------

  /**
   * memblock_free_all. First `memmap_init_reserved_pages`: every NOMAP memory region and
   * every reserved region, page-rounded outward, goes to `onReserved` with its flags (mark
   * the pages PageReserved unless RSRV_NOINIT). Then every free range — memory (not NOMAP,
   * not DRIVER_MANAGED) minus reserved, per memory region, page-rounded inward — goes to
   * `onFree` in ascending order. Returns the number of pages freed. A second call WARNs and
   * frees nothing.
   */
  freeAll(onFree: FreeRangeFn, onReserved?: ReservedRangeFn): number {
    if (this.#freed) {
      this.log.warnOnOnce("memblock_free_all", "memblock already released");
      return 0;
    }
    this.#freed = true;
    const nidAt = (nid: number, pfn: number) => nid >= 0 ? nid : this.topology.nidOfPfn(pfn);
    if (onReserved) {
      for (const m = this.#memory.first(); m.valid; m.next()) {
        if (!(m.flags & F.NOMAP)) continue;
        const sp = Math.floor(m.base / PAGE_SIZE);
        onReserved(sp, Math.ceil(m.end / PAGE_SIZE), nidAt(m.nid, sp), m.flags);
      }
      for (const r = this.#reserved.first(); r.valid; r.next()) {
        const sp = Math.floor(r.base / PAGE_SIZE);
        onReserved(sp, Math.ceil(r.end / PAGE_SIZE), nidAt(r.nid, sp), r.flags);
      }
    }
    let pages = 0;
    const freeRange = (start: number, end: number, nid: number) => {
      const sp = Math.ceil(start / PAGE_SIZE);
      const ep = Math.floor(end / PAGE_SIZE);
      if (sp >= ep) return;
      onFree(sp, ep, nidAt(nid, sp));
      pages += ep - sp;
    };
    for (const m = this.#memory.first(); m.valid; m.next()) {
      if (m.flags & (F.NOMAP | F.DRIVER_MANAGED)) continue;
      const mEnd = m.end;
      let cur = m.base;
      const r = this.#reserved.seekEndAbove(cur);
      for (;;) {
        const above = !r.valid || r.base >= mEnd;
        const gapHi = above ? mEnd : r.base;
        if (gapHi > cur) freeRange(cur, gapHi, m.nid);
        if (above) break;
        cur = Math.max(cur, r.end);
        if (cur >= mEnd) break;
        r.next();
      }
    }
    return pages;
  }

  /** Text of /sys/kernel/debug/memblock/{memory,reserved}. */
  dump(type: "memory" | "reserved"): string {
    const list = type === "memory" ? this.#memory : this.#reserved;
    const lines: string[] = [];
    let i = 0;
    for (const r of list) {
      const addr = (n: number) => "0x" + n.toString(16).padStart(16, "0");
      const nid = r.nid >= 0 ? String(r.nid).padStart(4) : "   x";
      let flag = "NONE";
      if (r.flags) {
        const bit = FLAG_NAMES.findIndex((_, j) => (r.flags & (1 << j)) !== 0);
        flag = bit >= 0 ? FLAG_NAMES[bit] : "UNKNOWN";
      }
      lines.push(
        `${String(i++).padStart(4)}: ${addr(r.base)}..${addr(r.base + r.size - 1)} ${nid} ${flag}`,
      );
    }
    return lines.map((l) => l + "\n").join("");
  }

  /** One-line summary for logs: counts and sizes. */
  toString(): string {
    return `memblock: memory ${this.memoryCount} regions ${hex(this.physMemSize())} bytes, ` +
      `reserved ${this.reservedCount} regions ${hex(this.totalReservedBytes())} bytes`;
  }
}
