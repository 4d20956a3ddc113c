/**
 * The pages a successor's tracker walk reads: the handed-over tracker as the next kernel sees
 * it — radix table and leaf pages, the xarray era's `khoser_mem_chunk` list and the bitmaps it
 * points to, RFC v1's order table and its tables — whatever the encoding, found by running the
 * profile's incoming walker over a view of memory that notes every page read. An export of the
 * handover (`lib/scenario/handover_export.ts`) writes exactly these pages; an inspection
 * places them back and walks them again.
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SIZE } from "../../units.ts";
import type { TrackerKind } from "../profiles.ts";
import { type IncomingWalkOptions, type IncomingWalkResult, walkIncoming } from "./registry.ts";

/** Methods of {@link PhysicalMemory} that read a page frame number. */
const PFN_READS = new Set(["materializedPage", "isZeroPage", "pageView"]);
/** Methods that read `len` bytes at a physical address (`len` 8 when not given). */
const PHYS_READS: Record<string, number> = {
  readU8: 1,
  readU16: 2,
  readU32: 4,
  readU64: 8,
  readU64Parts: 8,
  readU64Big: 8,
  readBytes: 0,
};

/**
 * A view of `mem` that adds the page frame numbers of every page read through it to `pages`;
 * writes and everything else pass through unchanged.
 */
export function recordingMemory(mem: PhysicalMemory, pages: Set<number>): PhysicalMemory {
  return new Proxy(mem, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      if (PFN_READS.has(prop)) {
        return (pfn: number, ...rest: unknown[]) => {
          pages.add(pfn);
          return value.call(target, pfn, ...rest);
        };
      }
      if (prop in PHYS_READS) {
        const width = PHYS_READS[prop];
        return (phys: number, len?: number, ...rest: unknown[]) => {
          const n = width || (len as number);
          if (n > 0 && Number.isSafeInteger(phys) && phys >= 0) {
            const last = Math.floor((phys + n - 1) / PAGE_SIZE);
            for (let p = Math.floor(phys / PAGE_SIZE); p <= last; p++) pages.add(p);
          }
          return value.call(target, phys, len, ...rest);
        };
      }
      return value.bind(target);
    },
  });
}

/** What {@link trackerPagesRead} found. */
export interface TrackerPages {
  /** Physical addresses of the pages the walk read, ascending. */
  readonly pages: number[];
  /** The walk's result. */
  readonly walk: IncomingWalkResult;
}

/**
 * Runs the incoming walker of `kind` from `options.rootPhys` and returns the pages it read and
 * its result. Never throws for corrupted bytes (as {@link walkIncoming}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Kernel } from "../../boot/kernel.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * import { Machine } from "../../machine/machine.ts";
 * import { TrackerCounters } from "./counters.ts";
 * import { trackerPagesRead } from "./pages_read.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile: "kho-v4" });
 * k.kho.preserveFolio(k.buddy.folioAlloc(9)!);
 * const t = k.kho.out!.tracker;
 * const r = trackerPagesRead("radix", {
 *   mem: k.machine.mem, rootPhys: t.handoverRoot(), isRam: () => true,
 *   log: new KernelLog(), counters: new TrackerCounters(),
 * });
 * assert.ok(r.walk.ok);
 * assert.deepEqual(r.pages, t.ownedPagesPhys()); // the walk reads exactly the tree's pages
 * ```
 */
export function trackerPagesRead(kind: TrackerKind, options: IncomingWalkOptions): TrackerPages {
  const seen = new Set<number>();
  const walk = walkIncoming(kind, { ...options, mem: recordingMemory(options.mem, seen) }, () => 0);
  const pages = [...seen].sort((a, b) => a - b).map((pfn) => pfn * PAGE_SIZE);
  return { pages, walk };
}
