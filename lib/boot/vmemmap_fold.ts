/**
 * Folded vmemmap at boot — the hook a design uses to map preserved folios' struct pages folded
 * from the start (`../kernel/vmemmap.ts`, {@link VmemmapFold}). No kernel has it: a KHO boot
 * populates the vmemmap of all RAM in `sparse_init`, and HVO is re-applied to a retrieved
 * HugeTLB folio only after its 2^order struct pages were written twice (luo-hugetlb-facts §4.5).
 *
 * A profile whose design registers a {@link VmemmapFoldSource} (through `defineProfile`'s
 * `hugetlbVmemmap`) is asked at `sparse_init` of a KHO boot which folios to fold; it reads
 * only the handed-over bytes ({@link VmemmapFoldView}). The boot then:
 * - maps each folded folio's vmemmap onto its page instead of populating its sections (its
 *   16 MiB per 1 GiB folio never comes from memblock);
 * - leaves its struct pages out of `memmap_init` and of `init_deferred_page` (they alias the
 *   page's 64);
 * - after the tracker walk, panics when a folded folio is not a preserved block of its order
 *   or its page not a preserved page: the allocator would reuse memory whose struct pages
 *   alias another's (kholab's verdict for such a design; no kernel has one).
 *
 * @module
 */

import type { KernelLog } from "../kernel/dmesg.ts";
import type { VmemmapFold } from "../kernel/vmemmap.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { ScratchArea } from "../kho/abi/asm_generic_kexec_handover.ts";

/** What a fold source sees at `sparse_init` of a KHO boot: bytes and this boot's settings. */
export interface VmemmapFoldView {
  /** Physical memory as this kernel sees it. */
  readonly mem: PhysicalMemory;
  /** This boot's log. */
  readonly log: KernelLog;
  /** Whether `[phys, phys + size)` is RAM. */
  isRam(phys: number, size: number): boolean;
  /** `sizeof(struct page)` of this kernel. */
  readonly structPageBytes: number;
  /** `hugetlb_free_vmemmap=` of this boot's command line (HVO on). */
  readonly hvo: boolean;
  /** The scratch areas this boot allocates from (its own memmap lands there). */
  readonly scratch: readonly ScratchArea[];
  /**
   * A sub-tree of the incoming KHO FDT (`kho_retrieve_subtree`): where its blob lies, or null
   * when there is none.
   */
  subtree(name: string): { phys: number; size?: number } | null;
  /**
   * An object that stands for this boot and no other (the kernel's struct pages), for a
   * design that keeps what it read here until its successor-side restore runs.
   */
  readonly bootKey: object;
}

/** A design's boot-time side: the folios to fold. */
export interface VmemmapFoldSource {
  /** Short name, for the log. */
  readonly name: string;
  /**
   * The folios this KHO boot maps folded (checked by the boot: whole sections, aligned, no
   * overlap); an empty list for none. Reads only `view`.
   */
  foldsAtBoot(view: VmemmapFoldView): readonly VmemmapFold[];
}

const SOURCES = new Map<string, VmemmapFoldSource>();

/**
 * Registers (or with null removes) the fold source of profile `profile` (called by
 * `registerHugetlbVmemmap`, which `defineProfile` calls).
 */
export function registerVmemmapFoldSource(
  profile: string,
  source: VmemmapFoldSource | null,
): void {
  if (source === null) SOURCES.delete(profile);
  else SOURCES.set(profile, source);
}

/**
 * The fold source of `profile`, or null (every built-in profile).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vmemmapFoldSource } from "./vmemmap_fold.ts";
 * assert.equal(vmemmapFoldSource("rfc-2025-12-hugetlb"), null); // the RFC rebuilds
 * ```
 */
export function vmemmapFoldSource(profile: string): VmemmapFoldSource | null {
  return SOURCES.get(profile) ?? null;
}
