/**
 * The outgoing side of KHO (`kho_out`): the preserved-memory tracker, the root FDT, and the
 * preserve / unpreserve / sub-tree API that kernel code calls before a kexec.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { BuddyAllocator } from "../kernel/buddy.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import { GFP_KERNEL } from "../kernel/gfp.ts";
import type { Memmap } from "../kernel/memmap.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { Topology } from "../machine/topology.ts";
import { getOrder, hex, MAX_PAGE_ORDER, PAGE_SIZE } from "../units.ts";
import type { AbiProfile } from "./abi/profiles.ts";
import type { ScratchArea } from "./abi/scratch.ts";
import { splitPages } from "./page_split.ts";
import { RootFdt } from "./root_fdt.ts";
import { scratchOverlap } from "./scratch.ts";
import type { MetadataPageAllocator, OutgoingTracker } from "./trackers/tracker.ts";
import { RadixTree } from "./trackers/radix.ts";

/** What the outgoing KHO needs from its kernel. */
export interface KhoOutHost {
  /** Physical memory. */
  readonly mem: PhysicalMemory;
  /** RAM layout and nodes. */
  readonly topology: Topology;
  /** struct pages of this boot. */
  readonly memmap: Memmap;
  /** The page allocator. */
  readonly buddy: BuddyAllocator;
  /** The kernel log. */
  readonly log: KernelLog;
}

/** A sub-tree registered by `addSubtree`, as the outgoing kernel knows it. */
export interface OutgoingSubtree {
  /** Node name. */
  readonly name: string;
  /** Physical address of the blob. */
  readonly phys: number;
  /** Blob size in bytes. */
  readonly size: number;
}

/**
 * The outgoing KHO state of one kernel (`kho_out`).
 *
 * Preserve calls throw {@link KhoError} with the kernel's errno; the tracker, root FDT and
 * page allocator are left exactly as before a failed call.
 */
export class KhoOut {
  /** The ABI profile this kernel writes. */
  readonly profile: AbiProfile;
  /** The preserved-memory tracker. */
  readonly tracker: OutgoingTracker;
  /** The root FDT page. */
  readonly root: RootFdt;
  /** Scratch areas handed to the next kernel. */
  readonly scratch: readonly ScratchArea[];
  readonly #host: KhoOutHost;
  readonly #subtrees: OutgoingSubtree[] = [];

  private constructor(
    host: KhoOutHost,
    profile: AbiProfile,
    tracker: OutgoingTracker,
    root: RootFdt,
    scratch: readonly ScratchArea[],
  ) {
    this.#host = host;
    this.profile = profile;
    this.tracker = tracker;
    this.root = root;
    this.scratch = scratch;
  }

  /**
   * `kho_init` (outgoing part): allocates the tracker root, then the root FDT with
   * `kho_alloc_preserve(PAGE_SIZE)` (the FDT page preserves itself) and writes it.
   * Throws ENOMEM when an allocation fails (nothing is left allocated).
   */
  static init(host: KhoOutHost, profile: AbiProfile, scratch: readonly ScratchArea[]): KhoOut {
    const alloc = metadataAllocator(host);
    const tree = RadixTree.create({ mem: host.mem, alloc, log: host.log });
    const self = new KhoOut(host, profile, tree, null as unknown as RootFdt, scratch);
    let fdtPhys: number;
    try {
      fdtPhys = self.allocPreserve(PAGE_SIZE, "kho_out_fdt");
    } catch (e) {
      tree.destroy();
      throw e;
    }
    const root = RootFdt.setup({
      mem: host.mem,
      phys: fdtPhys,
      profile,
      mapPhys: tree.handoverRoot(),
    });
    (self as { root: RootFdt }).root = root;
    return self;
  }

  /** Sub-trees added and not removed, in call order. */
  subtrees(): readonly OutgoingSubtree[] {
    return this.#subtrees;
  }

  #checkScratch(callsite: string, what: string, phys: number, size: number): void {
    const i = scratchOverlap(this.scratch, phys, size);
    if (i >= 0) {
      this.#host.log.warn(callsite, `${what} at ${hex(phys)} overlaps scratch area ${i}`);
      throw new KhoError("EINVAL", `${what} at ${hex(phys)} overlaps scratch area ${i}`);
    }
  }

  #folioOrder(pfn: number, callsite: string): number {
    const mm = this.#host.memmap;
    if (mm.isTail(pfn)) {
      throw new KhoError("EINVAL", `${callsite}: pfn ${hex(pfn)} is a tail page, not a folio`);
    }
    return mm.folioOrder(pfn);
  }

  /** `kho_preserve_folio`: preserves the folio whose head is at `pfn`. */
  preserveFolio(pfn: number): void {
    const order = this.#folioOrder(pfn, "kho_preserve_folio");
    this.#checkScratch("kho_preserve_folio", "folio", pfn * PAGE_SIZE, 2 ** order * PAGE_SIZE);
    this.tracker.add(pfn, order);
  }

  /** `kho_unpreserve_folio`: must mirror an earlier preserve exactly. */
  unpreserveFolio(pfn: number): void {
    this.tracker.del(pfn, this.#folioOrder(pfn, "kho_unpreserve_folio"));
  }

  #nidOf = (pfn: number) => this.#host.topology.nidOfPfn(pfn);

  /**
   * `kho_preserve_pages`: splits `[pfn, pfn + nrPages)` into aligned blocks (never spanning
   * two nodes from 7.1 on) and preserves each; on failure the blocks already added are
   * removed again (`__kho_unpreserve(start, failed_pfn)`).
   */
  preservePages(pfn: number, nrPages: number): void {
    if (!Number.isSafeInteger(nrPages) || nrPages <= 0) {
      throw new KhoError("EINVAL", `nr_pages ${nrPages}`);
    }
    this.#checkScratch("kho_preserve_pages", "pages", pfn * PAGE_SIZE, nrPages * PAGE_SIZE);
    const blocks = splitPages(pfn, nrPages, this.profile.numaAwarePages ? this.#nidOf : undefined);
    for (let i = 0; i < blocks.length; i++) {
      try {
        this.tracker.add(blocks[i].pfn, blocks[i].order);
      } catch (e) {
        this.#unpreserveRange(pfn, blocks[i].pfn);
        throw e;
      }
    }
  }

  /** `__kho_unpreserve(start, end)`: deletes the split of the range (plain or NUMA-aware). */
  #unpreserveRange(start: number, end: number): void {
    for (const b of splitPages(start, end - start, this.#unpreserveNid())) {
      this.tracker.del(b.pfn, b.order);
    }
  }

  #unpreserveNid(): ((pfn: number) => number) | undefined {
    if (!this.profile.numaAwarePages || this.profile.bugs.includes("numa-unpreserve-mismatch")) {
      return undefined;
    }
    return this.#nidOf;
  }

  /** `kho_unpreserve_pages`: must be called with the same range as the preserve. */
  unpreservePages(pfn: number, nrPages: number): void {
    this.#unpreserveRange(pfn, pfn + nrPages);
  }

  /**
   * `kho_alloc_preserve(size)`: a zeroed folio of `get_order(size)`, already preserved; returns
   * its physical address. EINVAL for size 0, E2BIG above MAX_PAGE_ORDER, ENOMEM when the folio
   * cannot be allocated, or the preserve error (the folio is freed first).
   */
  allocPreserve(size: number, site = "kho_alloc_preserve"): number {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new KhoError("EINVAL", `kho_alloc_preserve(${size})`);
    }
    const order = getOrder(size);
    if (order > MAX_PAGE_ORDER) {
      throw new KhoError("E2BIG", `kho_alloc_preserve(${size}): order ${order}`);
    }
    const h = this.#host;
    const pfn = h.buddy.folioAlloc(order, { gfp: { ...GFP_KERNEL, zero: true }, site });
    if (pfn === null) {
      throw new KhoError("ENOMEM", `kho_alloc_preserve(${size}): no order-${order} folio`);
    }
    h.mem.zero(pfn * PAGE_SIZE, 2 ** order * PAGE_SIZE);
    try {
      this.preserveFolio(pfn);
    } catch (e) {
      h.buddy.folioPut(pfn);
      throw e;
    }
    return pfn * PAGE_SIZE;
  }

  /** `kho_unpreserve_free(mem)`: accepts 0 (NULL). */
  unpreserveFree(phys: number): void {
    if (phys === 0) return;
    const pfn = Math.floor(phys / PAGE_SIZE);
    const head = this.#host.memmap.compoundHead(pfn);
    this.unpreserveFolio(head);
    this.#host.buddy.folioPut(head);
  }

  /**
   * `kho_add_subtree(name, blob, size)`: EEXIST for a duplicate name, ENOMEM when the root
   * FDT is full.
   */
  addSubtree(name: string, blobPhys: number, size: number): void {
    this.root.addSubtree(name, blobPhys, size);
    this.#subtrees.push({ name, phys: blobPhys, size });
  }

  /** `kho_remove_subtree(blob)`: silently ignores an unknown blob. */
  removeSubtree(blobPhys: number): void {
    if (this.root.removeSubtree(blobPhys)) {
      const i = this.#subtrees.findIndex((s) => s.phys === blobPhys);
      if (i >= 0) this.#subtrees.splice(i, 1);
    }
  }

  /** Whether the block `(pfn, order)` is recorded in the tracker. */
  isPreserved(pfn: number, order: number): boolean {
    let found = false;
    this.tracker.walk((phys, o) => {
      if (phys === pfn * PAGE_SIZE && o === order) {
        found = true;
        return 1;
      }
      return 0;
    });
    return found;
  }
}

/** The kernel's `get_zeroed_page(GFP_KERNEL)` / `free_page` as a tracker page source. */
export function metadataAllocator(host: KhoOutHost): MetadataPageAllocator {
  return {
    allocZeroedPage(site: string): number | null {
      const pfn = host.buddy.allocPages(0, { gfp: GFP_KERNEL, site });
      if (pfn === null) return null;
      host.mem.zero(pfn * PAGE_SIZE, PAGE_SIZE);
      return pfn * PAGE_SIZE;
    },
    freePage(phys: number): void {
      host.buddy.freePages(phys / PAGE_SIZE, 0);
    },
  };
}
