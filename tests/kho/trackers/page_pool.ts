/**
 * Test support: simple {@link MetadataPageAllocator}s over a region of a PhysicalMemory.
 *
 * @module
 */

import { FaultInjector } from "../../../lib/kernel/faults.ts";
import type { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import type { MetadataPageAllocator } from "../../../lib/kho/trackers/tracker.ts";
import { PAGE_SIZE } from "../../../lib/units.ts";

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
 * A page pool: bump allocation with a LIFO free list, zeroing on allocation (and by
 * default on free), throwing on double or foreign frees so that tests catch them.
 */
export class PagePool implements MetadataPageAllocator {
  readonly mem: PhysicalMemory;
  readonly basePhys: number;
  readonly pages: number;
  readonly initOnFree: boolean;
  #next = 0;
  readonly #free: number[] = [];
  /** Pages currently handed out. */
  readonly inUse = new Set<number>();
  /** Allocation calls, by site. */
  readonly sites = new Map<string, number>();

  constructor(o: PagePoolOptions) {
    this.mem = o.mem;
    this.basePhys = o.basePhys;
    this.pages = o.pages;
    this.initOnFree = o.initOnFree ?? true;
  }

  allocZeroedPage(site: string): number | null {
    this.sites.set(site, (this.sites.get(site) ?? 0) + 1);
    let phys = this.#free.pop();
    if (phys === undefined) {
      if (this.#next === this.pages) return null;
      phys = this.basePhys + this.#next++ * PAGE_SIZE;
    }
    this.mem.zero(phys, PAGE_SIZE);
    this.inUse.add(phys);
    return phys;
  }

  freePage(phys: number): void {
    if (!this.inUse.delete(phys)) {
      throw new Error(`free of page 0x${phys.toString(16)} not allocated from the pool`);
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
  readonly faults = new FaultInjector();
  constructor(readonly inner: MetadataPageAllocator) {}

  allocZeroedPage(site: string): number | null {
    if (this.faults.shouldFail(site)) return null;
    return this.inner.allocZeroedPage(site);
  }

  freePage(phys: number): void {
    this.inner.freePage(phys);
  }
}
