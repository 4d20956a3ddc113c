/**
 * A metadata page allocator over a region of simulated memory, for the conformance suite and
 * tests: bump allocation with a LIFO free list, pages zeroed on allocation (and by default
 * on free, as `init_on_free=1`), double and foreign frees refused, every page in use known —
 * so that a leak, a double free or a page kept after a rollback shows up by address.
 *
 * @module
 */

import { FaultInjector } from "../kernel/faults.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { MetadataPageAllocator } from "../kho/trackers/tracker.ts";
import { PAGE_SIZE } from "../units.ts";

/** Options of {@link PagePool}. */
export interface PagePoolOptions {
  /** Memory the pages live in. */
  mem: PhysicalMemory;
  /** First byte of the pool (page aligned). */
  basePhys: number;
  /** Pages in the pool. */
  pages: number;
  /** Zero pages when they are freed (the kernel's `init_on_free=1`). Default true. */
  initOnFree?: boolean;
}

/**
 * A page pool. `allocZeroedPage` returns null when the pool is exhausted or when
 * {@link PagePool.failAt} names this allocation (1-based, counted over the pool's life).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PagePool } from "./page_pool.ts";
 * import { PhysicalMemory } from "../machine/physmem.ts";
 * const pool = new PagePool({ mem: new PhysicalMemory(2 ** 24), basePhys: 2 ** 20, pages: 4 });
 * pool.failAt = 2;
 * const a = pool.allocZeroedPage("x")!;
 * assert.equal(pool.allocZeroedPage("x"), null); // the second allocation fails
 * pool.freePage(a);
 * assert.throws(() => pool.freePage(a), /not allocated from the pool/);
 * assert.equal(pool.allocations, 2);
 * ```
 */
export class PagePool implements MetadataPageAllocator {
  /** Memory the pages live in. */
  readonly mem: PhysicalMemory;
  /** First byte of the pool. */
  readonly basePhys: number;
  /** Pages in the pool. */
  readonly pages: number;
  /** Whether freed pages are zeroed. */
  readonly initOnFree: boolean;
  /** Pages currently handed out. */
  readonly inUse: Set<number> = new Set();
  /** Allocation calls, by site. */
  readonly sites: Map<string, number> = new Map();
  /** Allocation calls so far (failed ones included). */
  allocations = 0;
  /** The allocation (1-based) that fails, or null. */
  failAt: number | null = null;
  #next = 0;
  readonly #free: number[] = [];

  /** An empty pool over `[basePhys, basePhys + pages × 4 KiB)`. */
  constructor(o: PagePoolOptions) {
    this.mem = o.mem;
    this.basePhys = o.basePhys;
    this.pages = o.pages;
    this.initOnFree = o.initOnFree ?? true;
  }

  /** A zeroed page, or null (exhausted, or the armed failure). */
  allocZeroedPage(site: string): number | null {
    this.sites.set(site, (this.sites.get(site) ?? 0) + 1);
    if (++this.allocations === this.failAt) return null;
    let phys = this.#free.pop();
    if (phys === undefined) {
      if (this.#next === this.pages) return null;
      phys = this.basePhys + this.#next++ * PAGE_SIZE;
    }
    this.mem.zero(phys, PAGE_SIZE);
    this.inUse.add(phys);
    return phys;
  }

  /** Returns a page; a page not in use (a double or foreign free) is a RangeError naming it. */
  freePage(phys: number): void {
    if (!this.inUse.delete(phys)) {
      throw new RangeError(`free of page 0x${phys.toString(16)} not allocated from the pool`);
    }
    if (this.initOnFree) this.mem.zero(phys, PAGE_SIZE);
    this.#free.push(phys);
  }

  /** Sorted in-use pages, for before/after comparisons. */
  inUseSorted(): number[] {
    return [...this.inUse].sort((a, b) => a - b);
  }
}

/** Wraps an allocator so that allocations fail as a {@link FaultInjector} decides. */
export class FaultyAllocator implements MetadataPageAllocator {
  /** The injector deciding which allocation fails. */
  readonly faults: FaultInjector = new FaultInjector();
  /** Wraps `inner`. */
  constructor(readonly inner: MetadataPageAllocator) {}

  /** `inner`'s page, unless the injector fails this call. */
  allocZeroedPage(site: string): number | null {
    if (this.faults.shouldFail(site)) return null;
    return this.inner.allocZeroedPage(site);
  }

  /** Returns a page to `inner`. */
  freePage(phys: number): void {
    this.inner.freePage(phys);
  }
}
