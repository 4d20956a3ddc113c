/**
 * vmalloc: virtually contiguous kernel memory backed by pages from the buddy allocator
 * (mm/vmalloc.c), with the `vm_struct` fields KHO's vmalloc preservation reads — `pages`,
 * `nr_pages`, `flags`, the page order — and byte access through the page array.
 *
 * Virtual addresses are synthetic: areas are placed first-fit in
 * `[VMALLOC_START_SIM, VMALLOC_END_SIM)` (2^52 upwards, 32 TiB like x86_64's 4-level
 * vmalloc space; exact JavaScript numbers), page-aligned (2 MiB-aligned for huge
 * mappings), and each area is followed by one unmapped guard page (the kernel's
 * `vm_struct.size` includes it unless VM_NO_GUARD; here `size` excludes it).
 *
 * @module
 */

import type { FillSpec, PhysicalMemory } from "../machine/physmem.ts";
import { HUGETLB_PAGE_ORDER, PAGE_SHIFT, PAGE_SIZE } from "../units.ts";
import type { BuddyAllocator } from "./buddy.ts";
import type { KernelLog } from "./dmesg.ts";
import type { FaultInjector } from "./faults.ts";
import { type Gfp, GFP_KERNEL, gfpName } from "./gfp.ts";
import type { Memmap } from "./memmap.ts";

// vm_struct flags, include/linux/vmalloc.h (values stable since v5.x; VM_ALLOW_HUGE_VMAP
// since v5.18, VM_SPARSE since v6.9).
/** VM_IOREMAP: ioremap() and friends. */
export const VM_IOREMAP = 0x00000001;
/** VM_ALLOC: vmalloc(). */
export const VM_ALLOC = 0x00000002;
/** VM_MAP: vmap()ed pages. */
export const VM_MAP = 0x00000004;
/** VM_USERMAP: suitable for remap_vmalloc_range. */
export const VM_USERMAP = 0x00000008;
/** VM_DMA_COHERENT: dma_alloc_coherent. */
export const VM_DMA_COHERENT = 0x00000010;
/** VM_UNINITIALIZED: vm_struct is not fully initialized. */
export const VM_UNINITIALIZED = 0x00000020;
/** VM_NO_GUARD: don't add a guard page. */
export const VM_NO_GUARD = 0x00000040;
/** VM_KASAN: has allocated KASAN shadow memory. */
export const VM_KASAN = 0x00000080;
/** VM_FLUSH_RESET_PERMS: reset direct map and flush TLB on unmap. */
export const VM_FLUSH_RESET_PERMS = 0x00000100;
/** VM_MAP_PUT_PAGES: put pages and free the array in vfree. */
export const VM_MAP_PUT_PAGES = 0x00000200;
/** VM_ALLOW_HUGE_VMAP: allow huge (PMD) mappings (vmalloc_huge). */
export const VM_ALLOW_HUGE_VMAP = 0x00000400;
/** VM_DEFER_KMEMLEAK: defer kmemleak object creation. */
export const VM_DEFER_KMEMLEAK = 0x00000800;
/** VM_SPARSE: sparse vm_area, not all pages are present. */
export const VM_SPARSE = 0x00001000;

/** First address of the simulated vmalloc space. */
export const VMALLOC_START_SIM = 2 ** 52;
/** Size of the simulated vmalloc space (32 TiB). */
export const VMALLOC_SIZE_SIM = 2 ** 45;
/** End (exclusive) of the simulated vmalloc space. */
export const VMALLOC_END_SIM: number = VMALLOC_START_SIM + VMALLOC_SIZE_SIM;
/** PMD_SIZE: 2 MiB. */
export const PMD_SIZE: number = PAGE_SIZE * 2 ** HUGETLB_PAGE_ORDER;

/** A vmalloc area (`struct vm_struct`). */
export interface VmArea {
  /** First virtual address. */
  readonly addr: number;
  /** Mapped size in bytes (without the guard page). */
  readonly size: number;
  /** VM_* flags. */
  flags: number;
  /** Page frame of each mapped page (`vm->pages`). */
  pages: number[];
  /** Number of mapped pages (`vm->nr_pages`). */
  nrPages: number;
  /** get_vm_area_page_order(): 0, or 9 for PMD-mapped areas. */
  pageOrder: number;
  /** Requested node, or -1 (NUMA_NO_NODE). */
  nid: number;
}

/** Options of a {@link Vmalloc}. */
export interface VmallocOptions {
  /** The buddy allocator backing the areas. */
  buddy: BuddyAllocator;
  /** struct page state; the buddy allocator's by default. */
  memmap?: Memmap;
  /** Physical memory for byte access; the buddy allocator's by default. */
  mem?: PhysicalMemory;
  /** Kernel log; the buddy allocator's by default. */
  log?: KernelLog;
  /** Fault injection; the buddy allocator's by default (asked once per page allocation). */
  faults?: FaultInjector;
}

/** Options of one {@link Vmalloc.vmalloc} call. */
export interface VmallocCallOptions {
  /** Extra VM_* flags (VM_ALLOC is always set). */
  flags?: number;
  /** Node to allocate from (vmalloc_node); NUMA_NO_NODE by default. */
  nid?: number;
  /** vmalloc_huge(): adds VM_ALLOW_HUGE_VMAP. */
  hugeVmap?: boolean;
  /** Fault-injection site of the page allocations; "vmalloc" by default. */
  site?: string;
  /** GFP flags of the page allocations (e.g. `{ zero: true }` for vzalloc). */
  gfp?: Gfp;
}

/**
 * The vmalloc allocator of one boot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PhysicalMemory } from "../machine/physmem.ts";
 * import { Topology } from "../machine/topology.ts";
 * import { BuddyAllocator } from "./buddy.ts";
 * import { VM_ALLOW_HUGE_VMAP, Vmalloc } from "./vmalloc.ts";
 * const mem = new PhysicalMemory(2 ** 30);
 * const buddy = new BuddyAllocator({ topology: new Topology({ ramBytes: 2 ** 30 }), mem });
 * buddy.freeBootRange(0, 2 ** 18, 0);
 * const vm = new Vmalloc({ buddy });
 * const addr = vm.vmalloc(4 * 2 ** 20, { hugeVmap: true })!;
 * const area = vm.findVmArea(addr + 100)!;
 * assert.equal(area.pageOrder, 9);
 * assert.notEqual(area.flags & VM_ALLOW_HUGE_VMAP, 0);
 * vm.writeU64(addr + 8, 42);
 * assert.equal(vm.readU64(addr + 8), 42);
 * vm.vfree(addr);
 * ```
 */
export class Vmalloc {
  /** The backing buddy allocator. */
  readonly buddy: BuddyAllocator;
  /** struct page state. */
  readonly memmap: Memmap;
  /** Physical memory, or null (then byte access throws). */
  readonly mem: PhysicalMemory | null;
  /** Kernel log. */
  readonly log: KernelLog;
  /** Fault injection. */
  readonly faults: FaultInjector;
  readonly #areas: VmArea[] = [];

  /** Creates an empty vmalloc space. */
  constructor(options: VmallocOptions) {
    this.buddy = options.buddy;
    this.memmap = options.memmap ?? options.buddy.memmap;
    this.mem = options.mem ?? options.buddy.mem;
    this.log = options.log ?? options.buddy.log;
    this.faults = options.faults ?? options.buddy.faults;
  }

  // ------------------------------------------------------------------ address space

  /** Index of the first area whose addr is > `addr`. */
  #upper(addr: number): number {
    const a = this.#areas;
    let lo = 0, hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid].addr <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** alloc_vmap_area(): first fit of `size` + guard at `align`; null when full. */
  #reserve(size: number, align: number, flags: number, nid: number, order: number): VmArea | null {
    const guard = (flags & VM_NO_GUARD) ? 0 : PAGE_SIZE;
    let cand = Math.ceil(VMALLOC_START_SIM / align) * align;
    let i = 0;
    for (; i < this.#areas.length; i++) {
      const a = this.#areas[i];
      if (cand + size + guard <= a.addr) break;
      const aGuard = (a.flags & VM_NO_GUARD) ? 0 : PAGE_SIZE;
      cand = Math.max(cand, Math.ceil((a.addr + a.size + aGuard) / align) * align);
    }
    if (cand + size + guard > VMALLOC_END_SIM) return null;
    const area: VmArea = { addr: cand, size, flags, pages: [], nrPages: 0, pageOrder: order, nid };
    this.#areas.splice(i, 0, area);
    return area;
  }

  #unlink(area: VmArea): void {
    const i = this.#areas.indexOf(area);
    if (i >= 0) this.#areas.splice(i, 1);
  }

  /** find_vm_area(): the area containing `addr` (any address inside it), or null. */
  findVmArea(addr: number): VmArea | null {
    const i = this.#upper(addr) - 1;
    if (i < 0) return null;
    const a = this.#areas[i];
    return addr < a.addr + a.size ? a : null;
  }

  /** All areas, by address. */
  areas(): readonly VmArea[] {
    return this.#areas;
  }

  // ------------------------------------------------------------------ allocation

  /**
   * vmalloc() / vmalloc_node() / vmalloc_huge() (`__vmalloc_node_range`): reserves an area
   * and fills it with pages. With VM_ALLOW_HUGE_VMAP, when the size per node (size divided
   * by the number of nodes for NUMA_NO_NODE, as the kernel does) is at least 2 MiB, the
   * size is rounded up to 2 MiB and memory comes as order-9 blocks, each split into
   * order-0 pages (split_page) so every page has refcount 1; if that fails the kernel falls
   * back to order-0 pages. Any failure frees what was allocated and returns null; an
   * exception (a page array beyond what the host can hold) frees it too, and is rethrown.
   */
  vmalloc(size: number, opts: VmallocCallOptions = {}): number | null {
    const gfp = opts.gfp ?? GFP_KERNEL;
    if (!Number.isSafeInteger(size) || size <= 0) {
      this.log.warnOnOnce("__vmalloc_node_range", `size ${size}`);
      return null;
    }
    const realSize = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    if (realSize / PAGE_SIZE > this.buddy.managedPages()) {
      this.#warnAlloc(gfp, `vmalloc error: size ${realSize}, exceeds total pages`);
      return null;
    }
    let flags = (opts.flags ?? 0) | VM_ALLOC;
    if (opts.hugeVmap) flags |= VM_ALLOW_HUGE_VMAP;
    const nid = opts.nid ?? -1;
    let order = 0;
    if (flags & VM_ALLOW_HUGE_VMAP) {
      const perNode = nid < 0 ? realSize / this.buddy.topology.nodes : realSize;
      if (perNode >= PMD_SIZE) order = HUGETLB_PAGE_ORDER;
    }
    for (;;) {
      const blockBytes = PAGE_SIZE * 2 ** order;
      const areaSize = Math.ceil(realSize / blockBytes) * blockBytes;
      const area = this.#reserve(
        areaSize,
        Math.max(PAGE_SIZE, blockBytes),
        flags | VM_UNINITIALIZED,
        nid,
        order,
      );
      if (area === null) {
        this.#warnAlloc(gfp, `vmalloc error: size ${realSize}, vm_struct allocation failed`);
        return null;
      }
      let ok: boolean;
      try {
        ok = this.#allocAreaPages(area, order, gfp, opts.site ?? "vmalloc");
      } catch (e) {
        // Any exception (not only a failed page allocation): nothing stays allocated.
        this.#freeArea(area);
        throw e;
      }
      if (ok) {
        area.flags &= ~VM_UNINITIALIZED;
        return area.addr;
      }
      if (order === 0) {
        this.#warnAlloc(
          gfp,
          `vmalloc error: size ${area.nrPages * PAGE_SIZE}, failed to allocate pages`,
        );
      }
      this.#freeArea(area);
      if (order === 0) return null;
      order = 0; // fall back to small pages
    }
  }

  /** vzalloc(): vmalloc with zeroed pages. */
  vzalloc(size: number, opts: VmallocCallOptions = {}): number | null {
    return this.vmalloc(size, { ...opts, gfp: { ...(opts.gfp ?? GFP_KERNEL), zero: true } });
  }

  /** vm_area_alloc_pages(); false if an allocation failed (pages so far stay in `area`). */
  #allocAreaPages(area: VmArea, order: number, gfp: Gfp, site: string): boolean {
    const total = area.size / PAGE_SIZE;
    const step = 2 ** order;
    const pageGfp: Gfp = { ...gfp, noWarn: true, comp: false };
    while (area.nrPages < total) {
      const pfn = this.buddy.allocPages(order, {
        gfp: pageGfp,
        nid: area.nid < 0 ? undefined : area.nid,
        site,
      });
      if (pfn === null) return false;
      try {
        if (order > 0) this.memmap.splitPage(pfn, order);
        for (let j = 0; j < step; j++) area.pages.push(pfn + j);
      } catch (e) {
        // The block is not in the area yet: give it back (split or not), then unwind.
        area.pages.length = area.nrPages;
        if (order > 0 && this.memmap.pageCount(pfn + 1) === 1) {
          for (let j = 0; j < step; j++) this.buddy.freePage(pfn + j);
        } else this.buddy.freePages(pfn, order);
        throw e;
      }
      area.nrPages += step;
    }
    return true;
  }

  #warnAlloc(gfp: Gfp, text: string): void {
    if (gfp.noWarn) return;
    this.log.warning(
      "",
      `${this.buddy.comm}: ${text}, mode:(${gfpName(gfp)}), nodemask=(null)`,
    );
  }

  /** Unmaps an area and frees its pages with __free_page. */
  #freeArea(area: VmArea): void {
    this.#unlink(area);
    const n = Math.min(area.nrPages, area.pages.length);
    for (let i = 0; i < n; i++) this.buddy.freePage(area.pages[i]);
    area.pages = [];
    area.nrPages = 0;
  }

  /**
   * vfree(): frees the area containing `addr` and each of its pages (__free_page, order
   * 0: huge areas were split). Warns and returns false for an address outside any area.
   */
  vfree(addr: number): boolean {
    const area = this.findVmArea(addr);
    if (area === null) {
      this.log.warn("vfree", `Trying to vfree() nonexistent vm area (0x${addr.toString(16)})`);
      return false;
    }
    this.#freeArea(area);
    return true;
  }

  /** vunmap(): removes the area containing `addr` without freeing its pages. */
  vunmap(addr: number): boolean {
    const area = this.findVmArea(addr);
    if (area === null) {
      this.log.warn("vunmap", `Trying to vunmap() nonexistent vm area (0x${addr.toString(16)})`);
      return false;
    }
    this.#unlink(area);
    return true;
  }

  /**
   * Maps existing pages as a new area, as kho_restore_vmalloc does with
   * `__get_vm_area_node(nr * PAGE_SIZE, align = 1 << (PAGE_SHIFT + order), …)` +
   * `vmap_pages_range()`: the area records `pages` and the page order, and vfree() frees
   * the pages. Takes no page references. Returns the address, or null when the vmalloc
   * space is full.
   */
  vmapPages(pfns: readonly number[], order: number, flags: number): number | null {
    if (pfns.length === 0) return null;
    if (!Number.isInteger(order) || order < 0 || pfns.length % 2 ** order !== 0) {
      throw new RangeError(`${pfns.length} pages cannot be mapped with page order ${order}`);
    }
    const size = pfns.length * PAGE_SIZE;
    const area = this.#reserve(
      size,
      2 ** (PAGE_SHIFT + order),
      flags | VM_UNINITIALIZED,
      -1,
      order,
    );
    if (area === null) {
      this.#warnAlloc(GFP_KERNEL, `vmalloc error: size ${size}, vm_struct allocation failed`);
      return null;
    }
    try {
      area.pages = [...pfns];
    } catch (e) {
      this.#unlink(area);
      throw e;
    }
    area.nrPages = pfns.length;
    area.flags &= ~VM_UNINITIALIZED;
    return area.addr;
  }

  // ------------------------------------------------------------------ byte access

  #memory(): PhysicalMemory {
    if (this.mem === null) throw new RangeError("vmalloc byte access needs physical memory");
    return this.mem;
  }

  /**
   * Splits `[addr, addr + len)` into physically contiguous pieces `[phys, n, vOffset]`
   * (consecutive pages with consecutive pfns are joined). Throws like an oops outside an
   * area.
   */
  #pieces(addr: number, len: number): [number, number, number][] {
    const area = this.findVmArea(addr);
    if (area === null || !(len >= 0) || addr + len > area.addr + area.size) {
      throw new RangeError(
        `BUG: unable to handle page fault for address: 0x${addr.toString(16)} (len ${len})`,
      );
    }
    const out: [number, number, number][] = [];
    let off = addr - area.addr;
    const end = off + len;
    while (off < end) {
      const idx = Math.floor(off / PAGE_SIZE);
      const inPage = off % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, end - off);
      const phys = area.pages[idx] * PAGE_SIZE + inPage;
      const last = out[out.length - 1];
      if (last !== undefined && last[0] + last[1] === phys) last[1] += n;
      else out.push([phys, n, off - (addr - area.addr)]);
      off += n;
    }
    return out;
  }

  /** Reads `len` bytes at a vmalloc address. */
  readBytes(addr: number, len: number): Uint8Array {
    const mem = this.#memory();
    const out = new Uint8Array(len);
    for (const [phys, n, v] of this.#pieces(addr, len)) out.set(mem.readBytes(phys, n), v);
    return out;
  }

  /** Writes bytes at a vmalloc address. */
  writeBytes(addr: number, bytes: Uint8Array): void {
    const mem = this.#memory();
    for (const [phys, n, v] of this.#pieces(addr, bytes.length)) {
      mem.writeBytes(phys, bytes.subarray(v, v + n));
    }
  }

  /** Reads a little-endian u32. */
  readU32(addr: number): number {
    const p = this.#pieces(addr, 4);
    if (p.length === 1) return this.#memory().readU32(p[0][0]);
    const b = this.readBytes(addr, 4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }

  /** Writes a little-endian u32. */
  writeU32(addr: number, value: number): void {
    const p = this.#pieces(addr, 4);
    if (p.length === 1) return this.#memory().writeU32(p[0][0], value);
    const v = value >>> 0;
    this.writeBytes(
      addr,
      new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]),
    );
  }

  /** Reads a little-endian u64 as its halves `[lo, hi]`. */
  readU64Parts(addr: number): [number, number] {
    return [this.readU32(addr), this.readU32(addr + 4)];
  }

  /** Reads a little-endian u64 as a number (exact below 2^53). */
  readU64(addr: number): number {
    const [lo, hi] = this.readU64Parts(addr);
    return hi * 2 ** 32 + lo;
  }

  /** Writes a little-endian u64 from two 32-bit halves. */
  writeU64Parts(addr: number, lo: number, hi: number): void {
    this.#pieces(addr, 8);
    this.writeU32(addr, lo);
    this.writeU32(addr + 4, hi);
  }

  /** Writes a little-endian u64 from a non-negative safe integer. */
  writeU64(addr: number, value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`u64 value ${value} is not a non-negative safe integer`);
    }
    this.writeU64Parts(addr, value >>> 0, Math.floor(value / 2 ** 32));
  }

  /** Fills a vmalloc range with a uniform byte or a seeded pattern (per physical piece). */
  fill(addr: number, len: number, spec: FillSpec): void {
    const mem = this.#memory();
    for (const [phys, n] of this.#pieces(addr, len)) mem.fill(phys, n, spec);
  }

  /** Zeroes a vmalloc range. */
  zero(addr: number, len: number): void {
    this.fill(addr, len, { byte: 0 });
  }

  /**
   * csum_partial() over a vmalloc range: the same value as csum_partial over the bytes
   * laid out contiguously at an address of the same parity.
   */
  csumPartial(addr: number, len: number, sum = 0): number {
    const mem = this.#memory();
    const pieces = this.#pieces(addr, len);
    const fold = (x: number) => {
      while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
      return x;
    };
    // Each piece's csum is relative to its own start; every piece after the first starts on
    // a page boundary (even), so only the first may be byte-swapped by an odd start.
    let first = 0, rest = 0;
    pieces.forEach(([phys, n], i) => {
      const c = mem.csumPartial(phys, n, 0);
      if (i === 0) first = c;
      else rest = fold(rest + c);
    });
    if (addr % 2 === 1) rest = ((rest & 0xff) << 8) | (rest >>> 8);
    let result = fold(first + rest);
    result = (result + (sum >>> 0)) >>> 0;
    if ((sum >>> 0) > result) result = (result + 1) >>> 0;
    return result;
  }

  /**
   * A 64-bit content hash of a vmalloc range: the physical memory's hash64 of each
   * physically contiguous piece, chained in virtual order (so it also changes when the
   * page array is reordered).
   */
  hash64(addr: number, len: number): bigint {
    const mem = this.#memory();
    const MASK = (1n << 64n) - 1n;
    let h = 0xcbf29ce484222325n;
    for (const [phys, n, v] of this.#pieces(addr, len)) {
      h = ((h ^ mem.hash64(phys, n)) * 0x100000001b3n + BigInt(v)) & MASK;
    }
    return h;
  }
}
