/**
 * Taking the blocks of a host's pfn list (`./pfn_list.ts`) as the first kernel's own memory,
 * so that they can be preserved as given: every block becomes `2^order` allocated pages at
 * exactly its pfn (`alloc_contig_range`), filled and preserved by whoever imports it.
 *
 * On a real host those pages were allocated by their owners while the kernel ran; the kernel's
 * own memory (its image, the memmap, the scratch areas, KHO's metadata) was elsewhere. A
 * simulated first kernel would put its own memory anywhere, so the import holds the list's
 * ranges from the start of boot ({@link heldRangesOf}, `BootOptions.heldRanges`): the first
 * kernel allocates around them, and {@link claimPfnBlocks} takes them right after boot. What
 * cannot move is checked first ({@link fixedConflicts}): the low 1 MiB the firmware keeps and
 * the kernel image at its load address. A list imported into a kernel that already runs takes
 * its blocks from the free lists, and a block the kernel uses is a diagnostic at its line.
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import type { Diagnostic } from "../diagnostics.ts";
import { allocContigRange, freeContigRange } from "../kernel/gigantic.ts";
import { COLD_IMAGE_PHYS, DEFAULT_IMAGE_BYTES, LOW_RESERVED_BYTES } from "../kho/kho.ts";
import type { Topology } from "../machine/topology.ts";
import { formatSize, hex, PAGE_SIZE, PAGES_PER_SECTION } from "../units.ts";
import { type BlockProblem, type PfnList, pfnListDiagnosticsAt } from "./pfn_list.ts";

/** A physical range `[start, start + size)`. */
export interface PhysRange {
  /** First byte. */
  readonly start: number;
  /** Bytes. */
  readonly size: number;
}

/** The list's blocks as sorted, merged physical ranges (touching blocks become one range). */
export function heldRangesOf(list: PfnList): PhysRange[] {
  const idx = Array.from(list.pfns.keys()).sort((a, b) => list.pfns[a] - list.pfns[b]);
  const out: { start: number; size: number }[] = [];
  for (const i of idx) {
    const start = list.pfns[i] * PAGE_SIZE, size = 2 ** list.orders[i] * PAGE_SIZE;
    const last = out[out.length - 1];
    if (last && start <= last.start + last.size) {
      last.size = Math.max(last.size, start + size - last.start);
    } else out.push({ start, size });
  }
  return out;
}

/**
 * Blocks that overlap what a cold-booted kernel keeps at fixed addresses: the first 1 MiB
 * (firmware, real-mode trampolines) and the kernel image at its load address (x86
 * `LOAD_PHYSICAL_ADDR`, 16 MiB).
 */
export function fixedConflicts(list: PfnList, imageBytes = DEFAULT_IMAGE_BYTES): Diagnostic[] {
  const fixed = [
    { start: 0, end: LOW_RESERVED_BYTES, what: "the first 1 MiB, which the firmware keeps" },
    {
      start: COLD_IMAGE_PHYS,
      end: COLD_IMAGE_PHYS + imageBytes,
      what: `the simulated kernel's image [${hex(COLD_IMAGE_PHYS)}, ${
        hex(COLD_IMAGE_PHYS + imageBytes)
      })`,
    },
  ];
  const out: BlockProblem[] = [];
  for (let i = 0; i < list.pfns.length; i++) {
    const start = list.pfns[i] * PAGE_SIZE, end = start + 2 ** list.orders[i] * PAGE_SIZE;
    const f = fixed.find((r) => start < r.end && r.start < end);
    if (f) {
      out.push({ i, field: 0, message: `block [${hex(start)}, ${hex(end)}) overlaps ${f.what}` });
    }
  }
  return pfnListDiagnosticsAt(list, out);
}

/**
 * Hands held ranges to the page allocator (as `memblock_free_late` does with memory reserved
 * at boot), so {@link claimPfnBlocks} can take them.
 */
export function releaseHeldRanges(kernel: Kernel, ranges: readonly PhysRange[]): void {
  const t: Topology = kernel.machine.topology;
  for (const r of ranges) {
    let pfn = r.start / PAGE_SIZE;
    const end = (r.start + r.size) / PAGE_SIZE;
    while (pfn < end) {
      // Nodes are section-aligned: extend section by section while the node stays the same.
      const nid = t.nidOfPfn(pfn);
      let stop = pfn;
      do {
        stop = Math.min(end, (Math.floor(stop / PAGES_PER_SECTION) + 1) * PAGES_PER_SECTION);
      } while (stop < end && t.nidOfPfn(stop) === nid);
      kernel.buddy.freeBootRange(pfn, stop, nid);
      pfn = stop;
    }
  }
}

/**
 * Takes every block out of the page allocator (`alloc_contig_range`: `2^order` pages with
 * refcount 1), all or nothing. A block inside a scratch area of this kernel, or not free, is
 * a diagnostic at its line; then the blocks already taken go back and the diagnostics are
 * returned (empty on success).
 */
export function claimPfnBlocks(kernel: Kernel, list: PfnList): Diagnostic[] {
  const scratch = kernel.boot.scratch.filter((a) => a.size > 0);
  const taken: number[] = [];
  const diags: BlockProblem[] = [];
  for (let i = 0; i < list.pfns.length; i++) {
    const pfn = list.pfns[i], pages = 2 ** list.orders[i];
    const start = pfn * PAGE_SIZE, end = start + pages * PAGE_SIZE;
    const k = scratch.findIndex((a) => start < a.addr + a.size && a.addr < end);
    if (k >= 0) {
      const a = scratch[k];
      diags.push({
        i,
        field: 0,
        message:
          `block [${hex(start)}, ${hex(end)}) lies in scratch area ${
            kernel.boot.scratch.indexOf(a)
          } [${hex(a.addr)}, ${hex(a.addr + a.size)}) of the running kernel: ` +
          "preserved memory is never in scratch (kho-facts §9.2)",
      });
      continue;
    }
    if (allocContigRange(kernel.buddy, pfn, pfn + pages, { site: "kholab_pfn_import" })) {
      taken.push(i);
    } else {
      diags.push({
        i,
        field: 0,
        message: `block [${hex(start)}, ${hex(end)}) (${formatSize(pages * PAGE_SIZE)}) ` +
          "is not free in the running kernel (it uses part of it)",
      });
    }
  }
  if (diags.length > 0) {
    for (const i of taken) {
      freeContigRange(kernel.buddy, list.pfns[i], list.pfns[i] + 2 ** list.orders[i]);
    }
  }
  return pfnListDiagnosticsAt(list, diags);
}
