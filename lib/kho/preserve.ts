/**
 * The outgoing side of KHO (`kho_out`): the preserved-memory tracker, the root FDT, the
 * preserve / unpreserve / sub-tree API that kernel code calls before a kexec, and — for the
 * generations that had one — the finalize/abort state machine with its notifier chain.
 *
 * @module
 */

import { FdtError, KhoError } from "../errors.ts";
import type { BuddyAllocator } from "../kernel/buddy.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import { GFP_KERNEL } from "../kernel/gfp.ts";
import type { Memmap } from "../kernel/memmap.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { Topology } from "../machine/topology.ts";
import { getOrder, hex, MAX_PAGE_ORDER, PAGE_SIZE } from "../units.ts";
import type { AbiProfile } from "./profiles.ts";
import type { ScratchArea } from "./abi/asm_generic_kexec_handover.ts";
import { FdtReader } from "./fdt/reader.ts";
import { splitOrderAt, splitPages } from "./page_split.ts";
import { KHO_FDT_SIZE } from "./abi/kexec_handover.ts";
import { RootFdt } from "./root_fdt.ts";
import { FinalizeRootBuilder, type KhoSerialization, OpenRootFdt } from "./root_fdt_sw.ts";
import { scratchOverlap } from "./scratch.ts";
import { trackerFormat } from "./trackers/registry.ts";
import type { MetadataPageAllocator, OutgoingTracker } from "./trackers/tracker.ts";
import { XarrayTracker } from "./trackers/xarray.ts";
import { khoPageType, khoSplitPreservedPages, type TypedTracker } from "./trackers/radix_codecs.ts";

/**
 * `kho_alloc_preserve(size)`'s checks and allocation: EINVAL for size 0, E2BIG above
 * MAX_PAGE_ORDER, ENOMEM when no folio of `get_order(size)` can be allocated. The folio's pfn
 * and order.
 */
export function allocPreserveFolio(
  buddy: BuddyAllocator,
  size: number,
  site: string,
): [pfn: number, order: number] {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new KhoError("EINVAL", `kho_alloc_preserve(${size})`);
  }
  const order = getOrder(size);
  if (order > MAX_PAGE_ORDER) {
    throw new KhoError("E2BIG", `kho_alloc_preserve(${size}): order ${order}`);
  }
  const pfn = buddy.folioAlloc(order, { gfp: { ...GFP_KERNEL, zero: true }, site });
  if (pfn === null) {
    throw new KhoError("ENOMEM", `kho_alloc_preserve(${size}): no order-${order} folio`);
  }
  return [pfn, order];
}

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

/** `enum kho_event`. */
export type KhoEvent = "finalize" | "abort";

/**
 * A KHO notifier (6.16–6.18): called with FINALIZE (the serialization is open for
 * sub-trees) or ABORT. Returns 0 (NOTIFY_DONE) or a negative errno (NOTIFY_BAD).
 */
export type KhoNotifier = (event: KhoEvent, ser: KhoSerialization | null) => number;

/** A view of the root FDT whatever its construction style. */
export interface OutgoingRootView {
  /** Physical address of the FDT page. */
  readonly phys: number;
  /** The current blob (empty until a sequential-write root is finished). */
  bytes(): Uint8Array;
}

/** The page of a finalize-built root: empty until finalize writes it. */
class FinalizedRootView implements OutgoingRootView {
  constructor(
    readonly phys: number,
    readonly mem: PhysicalMemory,
    readonly isWritten: () => boolean,
  ) {}
  bytes(): Uint8Array {
    if (!this.isWritten()) return new Uint8Array(0);
    const page = this.mem.readBytes(this.phys, KHO_FDT_SIZE);
    return page.slice(0, new FdtReader(page).header("totalsize"));
  }
}

/**
 * The outgoing KHO state of one kernel (`kho_out`).
 *
 * Preserve calls throw {@link KhoError} with the kernel's errno; the tracker, root FDT and
 * page allocator are left as before a failed call (except empty table pages the radix tree
 * keeps, as the kernel does).
 */
export class KhoOut {
  /** The ABI profile this kernel writes. */
  readonly profile: AbiProfile;
  /** The preserved-memory tracker. */
  readonly tracker: OutgoingTracker;
  /** The root FDT page. */
  readonly root: OutgoingRootView;
  /** Scratch areas handed to the next kernel. */
  readonly scratch: readonly ScratchArea[];
  readonly #host: KhoOutHost;
  readonly #alloc: MetadataPageAllocator;
  readonly #subtrees: OutgoingSubtree[] = [];
  readonly #notifiers: KhoNotifier[] = [];
  #rw: RootFdt | null = null;
  #open: OpenRootFdt | null = null;
  #finalized = false;
  #rootWritten = false;
  /** CONFIG_KEXEC_HANDOVER_DEBUG and a generation that calls `kho_scratch_overlap()`. */
  readonly #debug: boolean;
  /** Precomputed for the preserve fast path. */
  readonly #notifierEra: boolean;
  /** The tracker when its keys carry a page type (the page-type RFC), else null. */
  readonly #typed: TypedTracker | null;
  readonly #scratchStart: Float64Array;
  readonly #scratchEnd: Float64Array;
  /** Lowest start and highest end of the scratch areas (no areas: an empty span). */
  readonly #scratchMin: number;
  readonly #scratchMax: number;
  #serializedFirst = 0;

  private constructor(
    host: KhoOutHost,
    profile: AbiProfile,
    tracker: OutgoingTracker,
    scratch: readonly ScratchArea[],
    debug: boolean,
  ) {
    this.#host = host;
    this.#debug = debug && profile.debugScratchCheck;
    this.#alloc = metadataAllocator(host);
    this.profile = profile;
    this.tracker = tracker;
    this.scratch = scratch;
    this.root = { phys: 0, bytes: () => new Uint8Array(0) };
    this.#notifierEra = profile.finalize === "notifier";
    this.#typed = trackerFormat(profile.tracker).capabilities.pageType
      ? tracker as TypedTracker
      : null;
    this.#scratchStart = Float64Array.from(scratch, (a) => a.addr);
    this.#scratchEnd = Float64Array.from(scratch, (a) => a.addr + a.size);
    this.#scratchMin = Math.min(Infinity, ...this.#scratchStart);
    this.#scratchMax = Math.max(-Infinity, ...this.#scratchEnd);
  }

  /**
   * `kho_init` (outgoing part): the tracker, then the root FDT in the profile's style. Throws
   * ENOMEM when an allocation fails (nothing is left allocated). With `debug`
   * (CONFIG_KEXEC_HANDOVER_DEBUG) `kho_scratch_overlap()` does real work: preserving memory
   * inside scratch WARNs and fails with EINVAL, and 6.18/6.19 also refuse tracker pages there;
   * without it the check always answers false.
   */
  static init(
    host: KhoOutHost,
    profile: AbiProfile,
    scratch: readonly ScratchArea[],
    options: { debug?: boolean } = {},
  ): KhoOut {
    const alloc = metadataAllocator(host);
    const debug = options.debug ?? false;
    const scratchCheck = debug && profile.metadataScratchCheck
      ? (phys: number, size: number) => scratchOverlap(scratch, phys, size)
      : undefined;
    const tracker = trackerFormat(profile.tracker).create({
      mem: host.mem,
      alloc,
      log: host.log,
      scratchCheck,
    });
    const self = new KhoOut(host, profile, tracker, scratch, debug);
    try {
      if (profile.fdtStyle === "rw") {
        const phys = self.allocPreserve(PAGE_SIZE, "kho_out_fdt");
        self.#rw = RootFdt.setup({ mem: host.mem, phys, profile, mapPhys: tracker.handoverRoot() });
        (self as { root: OutgoingRootView }).root = self.#rw;
      } else {
        const pfn = host.buddy.allocPages(0, { gfp: GFP_KERNEL, site: "kho_out_fdt" });
        if (pfn === null) throw new KhoError("ENOMEM", "no page for the root FDT");
        const phys = pfn * PAGE_SIZE;
        if (profile.fdtStyle === "sw-open") {
          self.#open = new OpenRootFdt({
            mem: host.mem,
            phys,
            profile,
            mapPhys: tracker.handoverRoot(),
          });
          (self as { root: OutgoingRootView }).root = self.#open;
        } else {
          (self as { root: OutgoingRootView }).root = new FinalizedRootView(
            phys,
            host.mem,
            () => self.#rootWritten,
          );
        }
      }
    } catch (e) {
      destroyTracker(tracker);
      throw e;
    }
    return self;
  }

  /** Sub-trees added and not removed, in call order. */
  subtrees(): readonly OutgoingSubtree[] {
    return this.#subtrees;
  }

  /** Whether the notifier-era or 6.19 finalize has run (and not been aborted). */
  get finalized(): boolean {
    return this.#finalized;
  }

  /** `WARN_ON(kho_scratch_overlap(phys, size))` → EINVAL; false without the debug option. */
  #checkScratch(callsite: string, what: string, phys: number, size: number): void {
    if (!this.#debug || !this.#inScratch(phys, size)) return;
    const i = scratchOverlap(this.scratch, phys, size);
    if (i >= 0) {
      this.#host.log.warn(callsite, `${what} at ${hex(phys)} overlaps scratch area ${i}`);
      throw new KhoError("EINVAL", `${what} at ${hex(phys)} overlaps scratch area ${i}`);
    }
  }

  #checkBusy(callsite: string): void {
    if (this.#notifierEra && this.#finalized) {
      throw new KhoError("EBUSY", `${callsite}: KHO is finalized`);
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
    this.#checkBusy("kho_preserve_folio");
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
    // One page outside scratch on an open KHO (the common call): one block of order 0.
    if (nrPages === 1 && !this.#finalized && !this.#inScratch(pfn * PAGE_SIZE, PAGE_SIZE)) {
      this.#addBlock(pfn, 0);
      return;
    }
    this.#preservePagesChecked(pfn, nrPages);
  }

  /**
   * `kho_preserve_pages(pfn, 1)` for a pfn the caller has checked (an unsigned integer below
   * 2^32): on an open KHO, outside scratch, one order-0 block straight into the tracker;
   * anything else takes {@link preservePages}, or with `phys` 6.16's
   * {@link preservePhys}`(pfn << 12, 4096)`, the same call under its own name.
   */
  preservePage(pfn: number, phys = false): void {
    if (!this.#finalized && this.#typed === null && !this.#inScratch(pfn * PAGE_SIZE, PAGE_SIZE)) {
      this.tracker.add(pfn, 0);
      return;
    }
    if (phys) this.preservePhys(pfn * PAGE_SIZE, PAGE_SIZE);
    else this.preservePages(pfn, 1);
  }

  /** Whether `[phys, phys + size)` overlaps a scratch area. */
  #inScratch(phys: number, size: number): boolean {
    const last = phys + size;
    // outside the span of every area (the usual preserve): no loop
    if (phys >= this.#scratchMax || last <= this.#scratchMin) return false;
    const starts = this.#scratchStart, ends = this.#scratchEnd;
    for (let j = 0; j < starts.length; j++) {
      if (phys < ends[j] && last > starts[j]) return true;
    }
    return false;
  }

  #preservePagesChecked(pfn: number, nrPages: number): void {
    this.#checkBusy("kho_preserve_pages");
    if (!Number.isSafeInteger(nrPages) || nrPages < 0) {
      throw new KhoError("EINVAL", `nr_pages ${nrPages}`);
    }
    // kho_preserve_pages(page, 0): the split loop never runs; 0 (6.16's kho_preserve_phys too).
    if (nrPages === 0) return;
    this.#checkScratch("kho_preserve_pages", "pages", pfn * PAGE_SIZE, nrPages * PAGE_SIZE);
    const nidOf = this.profile.numaAwarePages ? this.#nidOf : undefined;
    const end = pfn + nrPages;
    let p = pfn;
    try {
      while (p < end) {
        const order = splitOrderAt(p, end, nidOf);
        this.#addBlock(p, order);
        p += 2 ** order;
      }
    } catch (e) {
      this.#unpreserveRange(pfn, p);
      throw e;
    }
  }

  /** Adds one block; the page-type RFC records CONTIG/SPLIT from the second page's refcount. */
  #addBlock(pfn: number, order: number): void {
    const typed = this.#typed;
    if (typed !== null) {
      const mm = this.#host.memmap;
      typed.addTyped(pfn, order, khoPageType(order, order > 0 ? mm.pageCount(pfn + 1) : 0));
    } else this.tracker.add(pfn, order);
  }

  /**
   * `kho_split_preserved_pages(pfn, order)` (page-type RFC): re-records a preserved CONTIG
   * block as SPLIT, after its owner split it.
   */
  splitPreservedPages(pfn: number, order: number): void {
    if (this.#typed === null) {
      throw new KhoError(
        "EOPNOTSUPP",
        `kho_split_preserved_pages does not exist in ${this.profile.name}`,
      );
    }
    khoSplitPreservedPages(this.#typed, pfn, order);
  }

  /**
   * 6.16's `kho_preserve_phys(phys, size)`: EBUSY once finalized, EINVAL unless both are
   * page-aligned; same split and rollback as `kho_preserve_pages`. Size 0 preserves nothing
   * and returns 0 (S-6.16c: the loop never runs).
   */
  preservePhys(phys: number, size: number): void {
    this.#checkBusy("kho_preserve_phys");
    const pfn = phys / PAGE_SIZE, nrPages = size / PAGE_SIZE; // exact: PAGE_SIZE is 2^12
    if (Math.floor(pfn) !== pfn || Math.floor(nrPages) !== nrPages || size < 0) {
      throw new KhoError(
        "EINVAL",
        `kho_preserve_phys(${hex(phys)}, ${hex(size)}): not page aligned`,
      );
    }
    this.preservePages(pfn, nrPages);
  }

  /**
   * `__kho_unpreserve(start, end)`: deletes the split of the range. On the xarray tracker
   * with the `unpreserve-hang` bug, a missing order or bitmap loops forever in the kernel;
   * here the lockup is detected and thrown as a `KhoHangError`.
   */
  #unpreserveRange(start: number, end: number): void {
    if (end <= start) return;
    if (this.tracker instanceof XarrayTracker) {
      this.tracker.unpreserveRange(start, end, {
        bug6_16: this.profile.bugs.includes("unpreserve-hang"),
      });
      return;
    }
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

  /** `__kho_unpreserve` on a physical range (the 6.16 internal, exposed to show its bug). */
  unpreservePhys(phys: number, size: number): void {
    this.#unpreserveRange(phys / PAGE_SIZE, (phys + size) / PAGE_SIZE);
  }

  /**
   * `kho_alloc_preserve(size)`: a zeroed folio of `get_order(size)`, already preserved; returns
   * its physical address. EINVAL for size 0, E2BIG above MAX_PAGE_ORDER, ENOMEM when the folio
   * cannot be allocated, or the preserve error (the folio is freed first).
   */
  allocPreserve(size: number, site = "kho_alloc_preserve"): number {
    const h = this.#host;
    const [pfn, order] = allocPreserveFolio(h.buddy, size, site);
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
   * `kho_add_subtree`: in the read-write style (6.19 on) EEXIST for a duplicate name and
   * ENOMEM when the root FDT is full; in RFC v1's open tree the node is appended; in the
   * notifier era it is only allowed inside a FINALIZE notifier (EINVAL otherwise — use
   * {@link KhoOut.registerNotifier}).
   */
  addSubtree(name: string, blobPhys: number, size: number): void {
    if (this.#rw) this.#rw.addSubtree(name, blobPhys, size);
    else if (this.#open) this.#open.addSubtree(name, blobPhys);
    else {throw new KhoError(
        "EINVAL",
        `kho_add_subtree("${name}"): only inside a KHO FINALIZE notifier`,
      );}
    this.#subtrees.push({ name, phys: blobPhys, size });
  }

  /** `kho_remove_subtree(blob)`: silently ignores an unknown blob. */
  removeSubtree(blobPhys: number): void {
    if (this.#rw?.removeSubtree(blobPhys)) {
      const i = this.#subtrees.findIndex((s) => s.phys === blobPhys);
      if (i >= 0) this.#subtrees.splice(i, 1);
    }
  }

  /** `register_kho_notifier` (6.16–6.18). */
  registerNotifier(fn: KhoNotifier): void {
    this.#notifiers.push(fn);
  }

  /** `unregister_kho_notifier`. */
  unregisterNotifier(fn: KhoNotifier): void {
    const i = this.#notifiers.indexOf(fn);
    if (i >= 0) this.#notifiers.splice(i, 1);
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

  /**
   * `kho_finalize`. Notifier era (6.16, 6.18): EEXIST when already finalized; builds the
   * root FDT in one pass (preserving its own page, running the FINALIZE notifiers,
   * serializing the tracker); any failure aborts and is returned. 6.19: serializes again,
   * frees the previous list and rewrites the map in place. Stateless profiles: EOPNOTSUPP.
   */
  finalize(): void {
    const style = this.profile.finalize;
    if (style === "none") throw new KhoError("EOPNOTSUPP", `${this.profile.name} has no finalize`);
    if (style === "repeatable") {
      const tracker = this.tracker as XarrayTracker;
      const first = tracker.serialize({ era: "6.19", alloc: this.#alloc });
      this.#rw!.setMemoryMap(first);
      this.#serializedFirst = first;
      this.#finalized = true;
      return;
    }
    if (this.#finalized) throw new KhoError("EEXIST", "KHO is already finalized");
    try {
      this.#finalizeOnce();
      this.#finalized = true;
    } catch (e) {
      this.#abortInternal();
      throw e;
    }
  }

  #finalizeOnce(): void {
    const h = this.#host;
    const builder = new FinalizeRootBuilder(this.profile);
    const fdtPfn = this.root.phys / PAGE_SIZE;
    this.tracker.add(fdtPfn, 0); // kho_preserve_folio(fdt page)
    for (const fn of this.#notifiers) {
      let rc: number;
      try {
        rc = fn("finalize", builder);
      } catch (e) {
        if (e instanceof FdtError) rc = -12;
        else throw e;
      }
      if (rc !== 0) throw new KhoError("ENOMEM", `a FINALIZE notifier failed (${rc})`);
    }
    const era = this.profile.kernel === "6.16" ? "6.16" : "6.18";
    const first = (this.tracker as XarrayTracker).serialize({ era, alloc: this.#alloc });
    this.#serializedFirst = first;
    builder.finish(h.mem, this.root.phys, first);
    this.#subtrees.length = 0;
    for (const s of builder.subtrees) this.#subtrees.push({ ...s, size: 0 });
    this.#rootWritten = true;
  }

  /**
   * `kho_abort` (notifier era): ENOENT when not finalized; otherwise destroys every
   * preservation and the serialized list, then runs the ABORT notifiers. 6.19: EINVAL (the
   * debugfs write of 0); stateless profiles: EOPNOTSUPP.
   */
  abort(): void {
    if (this.profile.finalize === "none") {
      throw new KhoError("EOPNOTSUPP", `${this.profile.name} has no abort`);
    }
    if (this.profile.finalize === "repeatable") {
      throw new KhoError("EINVAL", "abort no longer exists in 6.19");
    }
    if (!this.#finalized) throw new KhoError("ENOENT", "KHO is not finalized");
    this.#abortInternal();
  }

  #abortInternal(): void {
    const t = this.tracker as XarrayTracker;
    t.freeSerialized();
    t.destroy();
    this.#serializedFirst = 0;
    this.#rootWritten = false;
    this.#finalized = false;
    this.#subtrees.length = 0;
    for (const fn of this.#notifiers) fn("abort", null);
  }

  /** Physical address of the serialized chunk list (0 if none). */
  get serializedRoot(): number {
    return this.#serializedFirst;
  }

  /**
   * What kexec needs: RFC v1 commits its open FDT (`kho_commit_fdt`) and preserves the FDT
   * page (`kho_preserve_phys` in `kho_fill_kimage`). Returns the root FDT address.
   */
  prepareKexec(): number {
    if (this.#open) {
      this.#open.commit();
      if (!this.isPreserved(this.#open.phys / PAGE_SIZE, 0)) {
        this.preservePages(this.#open.phys / PAGE_SIZE, 1);
      }
    }
    return this.root.phys;
  }
}

/** Frees a tracker's pages after a failed init. */
function destroyTracker(t: OutgoingTracker): void {
  t.destroy?.();
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
