/**
 * memfd files (`memfd_create(2)`): an anonymous shmem file — or, with `MFD_HUGETLB`, a
 * hugetlbfs file — whose page cache is a set of folios indexed by page offset. This is what
 * a VMM keeps guest memory in and what LUO's memfd handler (`./memfd_luo.ts`) preserves.
 *
 * The shmem behaviour modelled (mm/shmem.c, mm/memfd.c; luo-hugetlb-facts §3):
 * - folios are allocated on first touch (write, fallocate), movable (`GFP_HIGHUSER_MOVABLE`:
 *   they may land in CMA pageblocks, i.e. in KHO scratch), of the file's THP order (0..9,
 *   PMD order on x86_64, as `shmem_enabled` with that mTHP size would give; order 0 where a
 *   larger folio does not fit or cannot be had). A shmem folio is never larger than order 9;
 *   1 GiB folios exist only in hugetlbfs files (`MFD_HUGETLB | MFD_HUGE_1GB`);
 * - a written folio is uptodate and dirty (the parts not written are zeroed first); a
 *   fallocated folio is *not* uptodate and reads as zeros until written; a hole reads as zeros;
 * - seals (`F_ADD_SEALS`): a file made without `MFD_ALLOW_SEALING` starts with `F_SEAL_SEAL`;
 *   SHRINK/GROW/WRITE/FUTURE_WRITE refuse the matching changes with EPERM;
 * - `shmem_freeze` (set while LUO holds the file): the size can no longer change. The errno a
 *   truncate or growing write then gets is **[UNVERIFIED]**; kholab returns EPERM;
 * - `memfd_pin_folios` over the whole file: holes are allocated (zeroed, uptodate), folios in
 *   CMA pageblocks are migrated out first (a long-term pin never stays in CMA), every folio is
 *   pinned.
 *
 * Every operation is all or nothing: a failed one frees what it allocated. Only the folios'
 * bytes in physical memory cross a kexec; the successor's handler builds a new file.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import { type Gfp, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, MIGRATE_CMA } from "../kernel/gfp.ts";
import type { FillSpec } from "../machine/physmem.ts";
import {
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  MEMFD_LUO_ALL_SEALS,
} from "../kho/abi/memfd.ts";
import { formatSize, GiB, HUGETLB_PAGE_ORDER, MiB, PAGE_SIZE, PUD_ORDER } from "../units.ts";

/** Fault-injection site of a shmem folio allocation. */
export const SHMEM_FOLIO_SITE = "shmem_alloc_folio";
/** Fault-injection site of a hugetlb folio allocation. */
export const HUGETLB_FOLIO_SITE = "alloc_hugetlb_folio";
/** Fault-injection site of a long-term pin's migration target (a folio leaving CMA). */
export const PIN_MIGRATE_SITE = "migrate_longterm_unpinnable";

/** `MFD_NAME_MAX_LEN`: NAME_MAX − strlen("memfd:") = 249 bytes. */
export const MFD_NAME_MAX_LEN = 249;
/** Largest shmem folio order: PMD order (9 on x86_64). */
export const SHMEM_MAX_FOLIO_ORDER: number = HUGETLB_PAGE_ORDER;

const MASK64 = (1n << 64n) - 1n;

/** One folio of a file's page cache. */
export interface ShmemFolio {
  /** Head page frame. */
  pfn: number;
  /** Page-cache index of the head (a multiple of 2^order). */
  readonly index: number;
  /** Folio order. */
  readonly order: number;
  /** PG_uptodate: the bytes are the file's content (else the folio reads as zeros). */
  uptodate: boolean;
  /** PG_dirty. */
  dirty: boolean;
  /** Long-term pins (`memfd_pin_folios`). */
  pins: number;
}

/** Options of {@link memfdCreate}. */
export interface MemfdCreateOptions {
  /** `MFD_ALLOW_SEALING`: start without `F_SEAL_SEAL`. Default false. */
  allowSealing?: boolean;
  /**
   * `MFD_HUGETLB` with `MFD_HUGE_2MB` or `MFD_HUGE_1GB`: the huge page size in bytes (2M or
   * 1G). The file is then a hugetlbfs file, not shmem.
   */
  hugetlb?: number;
  /**
   * Largest folio order shmem allocates for this file (0..9; the THP/mTHP policy). Default 0.
   * Ignored for hugetlb files.
   */
  folioOrder?: number;
  /** Preferred NUMA node of the folios. Default: the allocator's. */
  nid?: number;
}

/**
 * A memfd: its size, position, seals and page cache.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { memfdCreate } from "./memfd.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }));
 * const f = memfdCreate(k, "guest", { folioOrder: 9 });
 * f.fallocate(0, 4 << 20); // two 2 MiB folios, not uptodate: they read as zeros
 * f.write(4096, new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode(f.read(4096, 5)), "hello");
 * assert.deepEqual(f.folios().map((x) => [x.order, x.uptodate]), [[9, true], [9, false]]);
 * ```
 */
export class MemfdFile {
  /** The kernel the file lives in. */
  readonly kernel: Kernel;
  /** The name given to `memfd_create` (shown as `memfd:<name>`). */
  readonly name: string;
  /** Whether this is a hugetlbfs file (`MFD_HUGETLB`), not shmem. */
  readonly hugetlb: boolean;
  /** Largest folio order (shmem), or the huge page order (hugetlb). */
  readonly folioOrder: number;
  /** Preferred node of new folios. */
  readonly nid: number | undefined;
  /** The mapping's gfp mask for new non-hugetlb folios (shmem: `GFP_HIGHUSER_MOVABLE`). */
  readonly gfp: Gfp;
  /** File position (`f_pos`). */
  pos = 0;
  /** `i_nlink`: 0 for a memfd (LUO's memfd handler accepts only unlinked shmem files). */
  readonly nlink = 0;
  #size = 0;
  #seals: number;
  #frozen = false;
  #refs = 1;
  #alloced = 0;
  readonly #folios = new Map<number, ShmemFolio>();
  /** Folio orders present (a file has one or two), largest first. */
  readonly #orders: number[] = [];
  #sorted: ShmemFolio[] | null = [];

  /**
   * Use {@link memfdCreate}; the memfd handler's retrieve builds files this way too, and
   * guest_memfd (`./guest_memfd.ts`) keeps its page cache in one, with an unmovable `gfp`.
   */
  constructor(
    kernel: Kernel,
    name: string,
    opts: {
      allowSealing: boolean;
      hugetlbOrder: number | null;
      folioOrder: number;
      nid?: number;
      gfp?: Gfp;
    },
  ) {
    this.kernel = kernel;
    this.name = name;
    this.hugetlb = opts.hugetlbOrder !== null;
    this.folioOrder = opts.hugetlbOrder ?? opts.folioOrder;
    this.nid = opts.nid;
    this.gfp = opts.gfp ?? GFP_HIGHUSER_MOVABLE;
    this.#seals = opts.allowSealing ? 0 : F_SEAL_SEAL;
  }

  /** `i_size` in bytes. */
  get size(): number {
    return this.#size;
  }

  /** The seals (`F_GET_SEALS`). */
  get seals(): number {
    return this.#seals;
  }

  /** Whether `shmem_freeze` holds the size (the file is preserved by LUO). */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Pages charged to the inode (`info->alloced`; `st_blocks` is 8 × this). */
  get allocedPages(): number {
    return this.#alloced;
  }

  /** Whether the last reference is gone (the folios were freed). */
  get released(): boolean {
    return this.#refs === 0;
  }

  /** The folios in index order. */
  folios(): readonly ShmemFolio[] {
    if (this.#sorted === null) {
      this.#sorted = [...this.#folios.values()].sort((a, b) => a.index - b.index);
    }
    return this.#sorted;
  }

  /** The folio holding page `index`, or null (a hole). */
  folioAt(index: number): ShmemFolio | null {
    for (const o of this.#orders) {
      const f = this.#folios.get(index - (index % 2 ** o));
      if (f !== undefined && f.order === o) return f;
    }
    return null;
  }

  // ---------------------------------------------------------------- user operations

  /**
   * `ftruncate(fd, size)`: EINVAL for a negative size (or one not a multiple of the huge page
   * size of a hugetlb file); EPERM when a seal or `shmem_freeze` forbids the change.
   * Shrinking frees the folios past the end and zeroes the tail of a straddling one.
   */
  ftruncate(size: number): void {
    this.#alive();
    if (!Number.isSafeInteger(size) || size < 0) throw new KhoError("EINVAL", `size ${size}`);
    if (this.hugetlb && size % this.#folioBytes(this.folioOrder) !== 0) {
      throw new KhoError("EINVAL", `hugetlbfs size ${size}: not a multiple of the huge page`);
    }
    if (size === this.#size) return;
    this.#checkResize(size, "ftruncate");
    if (size < this.#size) this.#truncate(size);
    this.#size = size;
  }

  /**
   * `fallocate(fd, 0 | FALLOC_FL_KEEP_SIZE, offset, len)`: allocates the folios of the range
   * (not uptodate: they read as zeros) and grows `i_size` unless `keepSize`. EINVAL for a bad
   * range; EPERM for a growth a seal or the freeze forbids; ENOMEM (nothing allocated) when a
   * folio cannot be had.
   */
  fallocate(offset: number, len: number, opts: { keepSize?: boolean } = {}): void {
    this.#alive();
    this.#checkRange(offset, len);
    const end = offset + len;
    if (!opts.keepSize && end > this.#size) this.#checkResize(end, "fallocate");
    this.#populate(offset, end, false);
    if (!opts.keepSize && end > this.#size) this.#size = end;
  }

  /**
   * `pwrite(fd, bytes, offset)`: EPERM under F_SEAL_WRITE/F_SEAL_FUTURE_WRITE, or for a growth
   * a seal or the freeze forbids; ENOMEM (nothing changed) when a folio cannot be had.
   */
  write(offset: number, bytes: Uint8Array): void {
    this.#writeRange(offset, bytes.length, (phys, n, at) => {
      this.kernel.machine.mem.writeBytes(phys, bytes.subarray(at - offset, at - offset + n));
    });
  }

  /**
   * Fills `[offset, offset + len)` with a uniform byte or a seeded pattern (the pattern is
   * generated per physical page, as `PhysicalMemory.fill` does), like {@link MemfdFile.write}.
   * Whole pages become content descriptors, so filling a 1 TiB guest stays cheap.
   */
  fill(offset: number, len: number, spec: FillSpec): void {
    const mem = this.kernel.machine.mem;
    const pages: [number, number][] = [];
    this.#writeRange(offset, len, (phys, n) => {
      const a = Math.ceil(phys / PAGE_SIZE), b = Math.floor((phys + n) / PAGE_SIZE);
      if (a >= b) return mem.fill(phys, n, spec);
      if (phys < a * PAGE_SIZE) mem.fill(phys, a * PAGE_SIZE - phys, spec);
      if (b * PAGE_SIZE < phys + n) mem.fill(b * PAGE_SIZE, phys + n - b * PAGE_SIZE, spec);
      const last = pages.at(-1);
      if (last !== undefined && last[1] === a) last[1] = b;
      else pages.push([a, b]);
    });
    pages.sort((x, y) => x[0] - y[0]);
    mem.fillPageRanges(pages, spec);
  }

  /**
   * `pread(fd, len, offset)`: the bytes up to `i_size` (a short read past it); holes and
   * folios that are not uptodate read as zeros.
   */
  read(offset: number, len: number): Uint8Array {
    this.#alive();
    this.#checkRange(offset, len);
    const n = Math.max(0, Math.min(len, this.#size - offset));
    const out = new Uint8Array(n);
    const mem = this.kernel.machine.mem;
    this.#pieces(offset, offset + n, (f, phys, m, at) => {
      if (f !== null && f.uptodate) out.set(mem.readBytes(phys, m), at - offset);
    });
    return out;
  }

  /**
   * `fcntl(F_ADD_SEALS)`: EINVAL for bits beyond the known seals, EPERM once `F_SEAL_SEAL` is
   * set.
   */
  addSeals(seals: number): void {
    this.#alive();
    if (!Number.isInteger(seals) || seals < 0 || (seals & ~MEMFD_LUO_ALL_SEALS) !== 0) {
      throw new KhoError("EINVAL", `F_ADD_SEALS ${seals}: unknown seal bits`);
    }
    if (this.#seals & F_SEAL_SEAL) throw new KhoError("EPERM", "F_ADD_SEALS: F_SEAL_SEAL is set");
    this.#seals |= seals;
  }

  /**
   * A 64-bit hash of the page cache: per folio in index order its index, order and — when
   * uptodate — the physical memory's `hash64` of its bytes (content at those physical pages:
   * the same folios after kexec hash the same). `i_size` is mixed in.
   */
  hash64(): bigint {
    const mem = this.kernel.machine.mem;
    let h = (0xcbf29ce484222325n ^ BigInt(this.#size)) & MASK64;
    for (const f of this.folios()) {
      const c = f.uptodate ? mem.hash64(f.pfn * PAGE_SIZE, this.#folioBytes(f.order)) : 0n;
      h = ((h ^ c) * 0x100000001b3n + BigInt(f.index * 64 + f.order)) & MASK64;
    }
    return h;
  }

  /**
   * `close(fd)`: drops the caller's reference; the last one frees the page cache (a file LUO
   * preserved keeps LUO's reference until it is unpreserved).
   */
  close(): void {
    this.#alive();
    this.put();
  }

  // ---------------------------------------------------------------- kernel side

  /** `get_file`: another reference (LUO's while the file is preserved). */
  get(): void {
    if (this.#refs === 0) throw new RangeError(`memfd ${this.name}: get on a released file`);
    this.#refs++;
  }

  /** `fput`: drops a reference; the last one frees every folio. */
  put(): void {
    if (this.#refs === 0) throw new RangeError(`memfd ${this.name}: put on a released file`);
    if (--this.#refs > 0) return;
    for (const f of this.folios()) this.#freeFolio(f);
    this.#folios.clear();
    this.#sorted = [];
  }

  /** `shmem_freeze(inode, freeze)`: while set, the size cannot change. */
  freeze(on: boolean): void {
    this.#frozen = on;
  }

  /**
   * `memfd_pin_folios(file, 0, size - 1, …)`: allocates every hole of `[0, i_size)` (zeroed,
   * uptodate), migrates folios out of CMA pageblocks (KHO scratch) into ordinary memory, and
   * pins every folio; returns them in index order. ENOMEM when a hole or a migration target
   * cannot be had: the pins taken are dropped (holes filled and folios migrated stay, as in
   * the kernel).
   */
  pinFolios(): ShmemFolio[] {
    this.#alive();
    if (this.#size === 0) return [];
    this.#populate(0, this.#size, true);
    const pinned: ShmemFolio[] = [];
    try {
      for (const f of this.folios()) {
        if (this.kernel.buddy.getPageblockMigratetype(f.pfn) === MIGRATE_CMA) this.#migrate(f);
        f.pins++;
        pinned.push(f);
      }
    } catch (e) {
      for (const f of pinned) f.pins--;
      throw e;
    }
    return pinned;
  }

  /** `unpin_folio`. */
  unpinFolio(f: ShmemFolio): void {
    if (f.pins <= 0) this.kernel.log.warn("unpin_folio", `folio ${f.pfn} is not pinned`);
    else f.pins--;
  }

  /**
   * `shmem_add_to_page_cache` of a folio this kernel owns (the memfd handler's retrieve):
   * EEXIST when its index range is already populated.
   */
  addFolio(f: ShmemFolio): void {
    if (!this.#rangeFree(f.index, 2 ** f.order)) {
      throw new KhoError("EEXIST", `page cache index ${f.index} (order ${f.order}) is populated`);
    }
    this.#insert(f);
  }

  /** `shmem_inode_acct_blocks` + `shmem_recalc_inode`: charges `pages` to the inode. */
  acctPages(pages: number): void {
    this.#alloced += pages;
  }

  /** `i_size_write`: sets the size without the checks of `ftruncate` (retrieve). */
  setSize(size: number): void {
    this.#size = size;
  }

  // ---------------------------------------------------------------- internals

  #alive(): void {
    this.kernel.assertAlive();
    if (this.#refs === 0) throw new KhoError("EBADF", `memfd ${this.name} is closed`);
  }

  #folioBytes(order: number): number {
    return PAGE_SIZE * 2 ** order;
  }

  #checkRange(offset: number, len: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0) {
      throw new KhoError("EINVAL", `range ${offset}+${len}`);
    }
  }

  #checkResize(size: number, what: string): void {
    const grow = size > this.#size;
    if (this.#frozen) {
      throw new KhoError("EPERM", `${what}: memfd ${this.name} is frozen by LUO`);
    }
    if (grow && this.#seals & F_SEAL_GROW) throw new KhoError("EPERM", `${what}: F_SEAL_GROW`);
    if (!grow && this.#seals & F_SEAL_SHRINK) {
      throw new KhoError("EPERM", `${what}: F_SEAL_SHRINK`);
    }
  }

  #writeRange(offset: number, len: number, put: (phys: number, n: number, at: number) => void) {
    this.#alive();
    this.#checkRange(offset, len);
    if (this.#seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) {
      throw new KhoError("EPERM", `write: memfd ${this.name} is write-sealed`);
    }
    const end = offset + len;
    if (end > this.#size) this.#checkResize(end, "write");
    if (len === 0) return;
    this.#populate(offset, end, false);
    const mem = this.kernel.machine.mem;
    this.#pieces(offset, end, (f, phys, n, at) => {
      const folio = f!;
      if (!folio.uptodate) {
        // shmem_write_end: a folio not yet uptodate gets the parts not written zeroed.
        const start = folio.pfn * PAGE_SIZE;
        const fOff = folio.index * PAGE_SIZE;
        const fEnd = fOff + this.#folioBytes(folio.order);
        const a = Math.max(offset, fOff), b = Math.min(end, fEnd);
        if (a > fOff) mem.zero(start, a - fOff);
        if (b < fEnd) mem.zero(start + (b - fOff), fEnd - b);
        folio.uptodate = true;
      }
      folio.dirty = true;
      put(phys, n, at);
    });
    if (end > this.#size) this.#size = end;
  }

  /** Calls `fn(folio, phys, n, fileOffset)` for each piece of `[a, b)` within one folio. */
  #pieces(
    a: number,
    b: number,
    fn: (f: ShmemFolio | null, phys: number, n: number, at: number) => void,
  ): void {
    let at = a;
    while (at < b) {
      const index = Math.floor(at / PAGE_SIZE);
      const f = this.folioAt(index);
      const fOff = f === null ? index * PAGE_SIZE : f.index * PAGE_SIZE;
      const fEnd = fOff + (f === null ? PAGE_SIZE : this.#folioBytes(f.order));
      const n = Math.min(fEnd, b) - at;
      fn(f, f === null ? 0 : f.pfn * PAGE_SIZE + (at - fOff), n, at);
      at += n;
    }
  }

  /**
   * Allocates a folio for every hole of `[a, b)`: the file's order where the aligned range is
   * free of folios (and, for hugetlb, always that order), else order 0. `uptodate` (with the
   * folio zeroed) for the pin's `SGP_CACHE` reads; not uptodate for writes and fallocate. On
   * ENOMEM every folio allocated by this call is freed.
   */
  #populate(a: number, b: number, uptodate: boolean): void {
    const start = Math.floor(a / PAGE_SIZE);
    const end = Math.ceil(b / PAGE_SIZE);
    const gaps = this.#holes(start, end);
    if (gaps.length === 0) return;
    const added: ShmemFolio[] = [];
    try {
      for (const [g0, g1] of gaps) this.#populateGap(g0, g1, uptodate, added);
    } catch (e) {
      for (const f of added) {
        this.#remove(f);
        this.#freeFolio(f);
      }
      throw e;
    }
  }

  /** The page ranges of `[start, end)` no folio covers (a binary search in the sorted folios). */
  #holes(start: number, end: number): [number, number][] {
    const folios = this.folios();
    let lo = 0, hi = folios.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const f = folios[mid];
      if (f.index + 2 ** f.order <= start) lo = mid + 1;
      else hi = mid;
    }
    const gaps: [number, number][] = [];
    let cursor = start;
    for (let k = lo; k < folios.length && cursor < end; k++) {
      const f = folios[k];
      if (f.index >= end) break;
      if (f.index > cursor) gaps.push([cursor, f.index]);
      cursor = Math.max(cursor, f.index + 2 ** f.order);
    }
    if (cursor < end) gaps.push([cursor, end]);
    return gaps;
  }

  #populateGap(from: number, end: number, uptodate: boolean, added: ShmemFolio[]): void {
    let index = from;
    while (index < end) {
      const have = this.folioAt(index);
      if (have !== null) {
        index = have.index + 2 ** have.order;
        continue;
      }
      const f = this.#allocFolio(index);
      if (uptodate) {
        this.kernel.machine.mem.zero(f.pfn * PAGE_SIZE, this.#folioBytes(f.order));
        f.uptodate = true;
      }
      this.#insert(f);
      added.push(f);
      index = f.index + 2 ** f.order;
    }
  }

  #allocFolio(index: number): ShmemFolio {
    const k = this.kernel;
    if (this.hugetlb) {
      const order = this.folioOrder;
      const head = index - (index % 2 ** order);
      if (k.faults.shouldFail(HUGETLB_FOLIO_SITE)) {
        throw new KhoError("ENOMEM", `hugetlb: ${HUGETLB_FOLIO_SITE} failed (injected)`);
      }
      const pfn = k.hugetlb.allocFolio(order, this.nid ?? 0);
      if (pfn === null) {
        throw new KhoError(
          "ENOSPC",
          `hugetlb: no free ${formatSize(this.#folioBytes(order))} page in the pool ` +
            `(hugepagesz=${formatSize(this.#folioBytes(order)).replace(" ", "")} hugepages=N)`,
        );
      }
      this.#alloced += 2 ** order;
      return { pfn, index: head, order, uptodate: false, dirty: false, pins: 0 };
    }
    let order = this.folioOrder;
    const head = index - (index % 2 ** order);
    if (order > 0 && !this.#rangeFree(head, 2 ** order)) order = 0;
    let pfn: number | null = null;
    if (order > 0) {
      pfn = k.buddy.folioAlloc(order, {
        gfp: { ...this.gfp, noWarn: true },
        nid: this.nid,
        site: SHMEM_FOLIO_SITE,
      });
      if (pfn === null) order = 0;
    }
    if (pfn === null) {
      pfn = k.buddy.folioAlloc(0, {
        gfp: this.gfp,
        nid: this.nid,
        site: SHMEM_FOLIO_SITE,
      });
    }
    if (pfn === null) throw new KhoError("ENOMEM", `shmem: no folio for index ${index}`);
    this.#alloced += 2 ** order;
    return {
      pfn,
      index: order > 0 ? head : index,
      order,
      uptodate: false,
      dirty: false,
      pins: 0,
    };
  }

  /** Whether no folio overlaps `[head, head + n)` (probing only the orders present). */
  #rangeFree(head: number, n: number): boolean {
    for (const o of this.#orders) {
      const step = 2 ** o;
      const from = head - (head % step);
      for (let i = from; i < head + n; i += step) {
        const f = this.#folios.get(i);
        if (f !== undefined && f.order === o) return false;
      }
    }
    return true;
  }

  /**
   * A long-term pin's migration out of CMA: a new folio (not movable; for a hugetlb file
   * another page of the pool outside CMA), the bytes copied.
   */
  #migrate(f: ShmemFolio): void {
    const k = this.kernel;
    let pfn: number | null = null;
    if (this.hugetlb) {
      if (!k.faults.shouldFail(PIN_MIGRATE_SITE)) pfn = k.hugetlb.allocFolio(f.order, this.nid);
      if (pfn !== null && k.buddy.getPageblockMigratetype(pfn) === MIGRATE_CMA) {
        k.hugetlb.freeFolio(pfn, f.order);
        pfn = null;
      }
    } else {
      pfn = k.buddy.folioAlloc(f.order, { gfp: GFP_KERNEL, nid: this.nid, site: PIN_MIGRATE_SITE });
    }
    if (pfn === null) {
      throw new KhoError("ENOMEM", `memfd_pin_folios: folio ${f.pfn} cannot leave CMA`);
    }
    k.machine.mem.copy(pfn * PAGE_SIZE, f.pfn * PAGE_SIZE, this.#folioBytes(f.order));
    if (this.hugetlb) k.hugetlb.freeFolio(f.pfn, f.order);
    else k.buddy.folioPut(f.pfn);
    f.pfn = pfn;
  }

  #insert(f: ShmemFolio): void {
    this.#folios.set(f.index, f);
    if (!this.#orders.includes(f.order)) {
      this.#orders.push(f.order);
      this.#orders.sort((a, b) => b - a);
    }
    this.#sorted = null;
  }

  #remove(f: ShmemFolio): void {
    this.#folios.delete(f.index);
    this.#sorted = null;
  }

  #freeFolio(f: ShmemFolio): void {
    const k = this.kernel;
    if (this.hugetlb) k.hugetlb.freeFolio(f.pfn, f.order);
    else k.buddy.folioPut(f.pfn);
    this.#alloced -= Math.min(this.#alloced, 2 ** f.order);
  }

  #truncate(size: number): void {
    const mem = this.kernel.machine.mem;
    for (const f of [...this.folios()]) {
      const fOff = f.index * PAGE_SIZE;
      const fEnd = fOff + this.#folioBytes(f.order);
      if (fOff >= Math.ceil(size / PAGE_SIZE) * PAGE_SIZE) {
        this.#remove(f);
        this.#freeFolio(f);
      } else if (fEnd > size && f.uptodate) {
        mem.zero(f.pfn * PAGE_SIZE + (size - fOff), fEnd - size);
      }
    }
  }
}

/** The order of a 2 MiB or 1 GiB huge page, null for none; EINVAL (`<what> <bytes>`) else. */
export function hugePageOrder(bytes: number | undefined, what: string): number | null {
  if (bytes === undefined) return null;
  if (bytes === 2 * MiB) return HUGETLB_PAGE_ORDER;
  if (bytes === GiB) return PUD_ORDER;
  throw new KhoError("EINVAL", `${what} ${bytes}`);
}

/**
 * `memfd_create(name, flags)`: an empty file (size 0). EINVAL for a name longer than 249
 * bytes, a huge page size other than 2 MiB or 1 GiB, or a folio order outside 0..9 (a shmem
 * folio is at most PMD order).
 */
export function memfdCreate(
  kernel: Kernel,
  name: string,
  opts: MemfdCreateOptions = {},
): MemfdFile {
  kernel.assertAlive();
  if (new TextEncoder().encode(name).length > MFD_NAME_MAX_LEN) {
    throw new KhoError("EINVAL", `memfd name: at most ${MFD_NAME_MAX_LEN} bytes`);
  }
  const hugetlbOrder = hugePageOrder(opts.hugetlb, "MFD_HUGETLB: huge page size");
  const folioOrder = opts.folioOrder ?? 0;
  if (!Number.isInteger(folioOrder) || folioOrder < 0 || folioOrder > SHMEM_MAX_FOLIO_ORDER) {
    throw new KhoError(
      "EINVAL",
      `shmem folio order ${folioOrder}: 0..${SHMEM_MAX_FOLIO_ORDER} (PMD order)`,
    );
  }
  return new MemfdFile(kernel, name, {
    allowSealing: opts.allowSealing ?? false,
    hugetlbOrder,
    folioOrder,
    nid: opts.nid,
  });
}
