/**
 * The struct-page cost of bringing preserved memory back — the figures no design argument
 * counted (luo-hugetlb-facts §4.5, §5.2): a preserved 1 GiB folio is one bit in the radix
 * tree, but the successor maps 16 MiB of struct pages for it at boot, writes each of its
 * 262,144 struct pages twice when it is restored (`kho_init_folio`, then
 * `prep_compound_page`), and — with HVO — frees 4095 of its 4096 vmemmap pages again.
 *
 * {@link structPageMetrics} reads the successor's counters (`kernel.memmap.vmemmap`, counted
 * in bulk where the kernel writes); {@link structPageTimes} turns them into per-phase times:
 * each count times what one struct page costs on this machine, measured by
 * {@link measureStructPageCosts} — the kernel's stores, looped over a real 16 MiB buffer of
 * 64-byte struct pages (one 1 GiB folio's vmemmap) after warm-up, `repeat` samples, reported
 * as median, min and max. These are estimates of the kernel's loops on this machine's memory,
 * not kholab's own simulation time (which charges the counts arithmetically); the tracker walk
 * and the memblock reservations are measured directly (`walkMs`, `reserveMs`).
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import { vmemmapFoldSource } from "../boot/vmemmap_fold.ts";
import type { Clock } from "../rng.ts";
import { PAGE_SIZE } from "../units.ts";
import type { MetricsRow } from "./metrics.ts";
import { type TimingStats, timingStats } from "./timing.ts";

/** Struct pages in one 1 GiB folio's vmemmap (the measured buffer). */
export const STRUCT_PAGES_PER_FOLIO = 262_144;
/** u64 words of a 64-byte struct page. */
const WORDS = 8;

/**
 * The statistics of one measured figure: `n` samples, their median, minimum and maximum — the
 * timing statistics of `./timing.ts` (`NAME.n` … `NAME.max` in a row).
 */
export type SampleStats = TimingStats;

/**
 * What one unit of each struct-page loop costs on this machine, in nanoseconds:
 * - `init` — `__init_single_page` (memmap init, `init_deferred_page`): the 64 bytes zeroed
 *   and the fields set, eight u64 stores;
 * - `refcount` — `kho_init_folio` on a tail: `set_page_count(page + i, 0)`, one store;
 * - `compound` — `prep_compound_tail`: `compound_head` and `mapping`, two stores;
 * - `hvoPage` — HVO per vmemmap page freed: its PTE remapped to the page kept and the page put
 *   on the free list, two stores (the TLB flush and the buddy's merging are not in it).
 */
export interface StructPageCosts {
  /** ns per struct page of `__init_single_page`. */
  readonly init: SampleStats;
  /** ns per tail of `kho_init_folio`'s `set_page_count`. */
  readonly refcount: SampleStats;
  /** ns per tail of `prep_compound_tail`. */
  readonly compound: SampleStats;
  /** ns per vmemmap page HVO frees. */
  readonly hvoPage: SampleStats;
}

/**
 * Measures {@link StructPageCosts} with `clock`: each loop over one folio's 16 MiB of struct
 * pages (HVO: its 4095 vmemmap pages), `warmup` untimed runs then `repeat` timed ones.
 */
export function measureStructPageCosts(
  clock: Clock,
  options: { repeat?: number; warmup?: number } = {},
): StructPageCosts {
  const repeat = options.repeat ?? 5;
  const warmup = options.warmup ?? 2;
  if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError(`repeat ${repeat}`);
  // 8-byte stores as the kernel's u64 stores (Float64Array: no BigInt boxing in the loop).
  const vmemmap = new Float64Array(STRUCT_PAGES_PER_FOLIO * WORDS);
  const refcounts = new Uint32Array(vmemmap.buffer);
  const hvoPages = STRUCT_PAGES_PER_FOLIO * 64 / PAGE_SIZE - 1;
  const ptes = new Float64Array(hvoPages + 1);
  const head = 0x4000000;
  const loops: Record<keyof StructPageCosts, [() => void, number]> = {
    init: [() => {
      for (let p = 0; p < STRUCT_PAGES_PER_FOLIO; p++) {
        const w = p * WORDS;
        vmemmap[w] = 0x17ffffc0000; // flags: zone, node, section
        vmemmap[w + 1] = w + 1; // lru: an empty list points to itself
        vmemmap[w + 2] = w + 1;
        vmemmap[w + 3] = 0; // mapping
        vmemmap[w + 4] = 0; // index
        vmemmap[w + 5] = 0; // private
        vmemmap[w + 6] = -1; // _mapcount −1, _refcount 1
        vmemmap[w + 7] = 0; // memcg_data
      }
    }, STRUCT_PAGES_PER_FOLIO],
    refcount: [() => {
      for (let p = 1; p < STRUCT_PAGES_PER_FOLIO; p++) refcounts[p * 16 + 13] = 0;
    }, STRUCT_PAGES_PER_FOLIO - 1],
    compound: [() => {
      for (let p = 1; p < STRUCT_PAGES_PER_FOLIO; p++) {
        const w = p * WORDS;
        vmemmap[w + 1] = head + 1; // compound_head
        vmemmap[w + 3] = 0x400; // TAIL_MAPPING
      }
    }, STRUCT_PAGES_PER_FOLIO - 1],
    hvoPage: [() => {
      for (let i = 1; i <= hvoPages; i++) {
        ptes[i] = ptes[0]; // remapped to the page kept
        vmemmap[i * WORDS * 64 + 1] = i - 1; // onto the free list
      }
    }, hvoPages],
  };
  const out: Partial<Record<keyof StructPageCosts, SampleStats>> = {};
  for (
    const [name, [loop, units]] of Object.entries(loops) as [
      keyof StructPageCosts,
      [() => void, number],
    ][]
  ) {
    for (let i = 0; i < warmup; i++) loop();
    const ns: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const t0 = clock.nowMs();
      loop();
      ns.push((clock.nowMs() - t0) * 1e6 / units);
    }
    out[name] = timingStats(ns);
  }
  return out as StructPageCosts;
}

/**
 * The successor's struct-page figures after its restores (deterministic): what its
 * `sparse_init` mapped, what the preserved memory's struct pages are, what HVO gave back, and
 * the struct pages each phase wrote; `memmapFoldedFolios` only for a profile with a
 * folded-vmemmap design (`lib/boot/vmemmap_fold.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { structPageMetrics } from "./struct_pages.ts";
 * const k1 = Kernel.coldBoot(new Machine({ ramBytes: 4 * 2 ** 30 }), { cmdline: "kho=on" });
 * const pfn = k1.buddy.folioAlloc(9)!;
 * k1.kho.preserveFolio(pfn);
 * const k2 = k1.kexec();
 * k2.kho.restoreFolio(pfn * 4096);
 * const m = structPageMetrics(k2);
 * assert.equal(m.memmapBootBytes, 64 * 2 ** 20); // 64 bytes per page of 4 GiB
 * assert.equal(m.compoundStructPagesWritten, 512); // prep_compound_page: the 2 MiB folio's 512
 * ```
 */
export function structPageMetrics(k2: Kernel): MetricsRow {
  const v = k2.memmap.vmemmap;
  const walkBytes = k2.boot.retrieve?.bytes ?? 0;
  const preservedPages = Math.min(walkBytes, k2.machine.topology.ramBytes) / PAGE_SIZE;
  return {
    memmapBootBytes: v.populatedBytes,
    memmapPreservedBytes: preservedPages * v.structPageBytes,
    memmapAfterHvoBytes: v.mappedBytes,
    hvoFreedBytes: v.hvoFreedBytes,
    hvoFolios: v.hvoFolios,
    // Only where a design may fold (a fold source for the profile): 0 by construction elsewhere.
    ...(vmemmapFoldSource(k2.profile.name) !== null ? { memmapFoldedFolios: v.foldedFolios } : {}),
    memmapInitStructPages: v.writes("memmapInit"),
    restoreStructPagesWritten: v.writes("restore"),
    compoundStructPagesWritten: v.writes("compound"),
    structPageWrites: v.writes("deferredInit") + v.writes("stamp") + v.writes("restore") +
      v.writes("compound"),
    structPageCacheLines: v.cacheLines() -
      v.writes("memmapInit") * Math.ceil(v.structPageBytes / 64),
  };
}

/**
 * Per-phase times of the successor's struct-page work, estimated from a row's counts
 * ({@link structPageMetrics}, `walkDeferredInitPages`) and the measured unit costs: `NAME` (the
 * median) and `NAME.n`, `NAME.median`, `NAME.min`, `NAME.max` for `memmapInitMs`,
 * `deferredInitMs`, `restoreStructPagesMs` (the restore and compound writes) and `hvoMs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measureStructPageCosts, structPageTimes } from "./struct_pages.ts";
 * import { ManualClock } from "../rng.ts";
 * const costs = measureStructPageCosts(new ManualClock(), { repeat: 1, warmup: 0 });
 * const t = structPageTimes({ memmapInitStructPages: 10, hvoFreedBytes: 0 }, costs);
 * assert.deepEqual([t.memmapInitMs, t["memmapInitMs.n"]], [0, 1]); // a clock that never moves
 * ```
 */
export function structPageTimes(
  row: MetricsRow,
  costs: StructPageCosts,
): Record<string, number> {
  const n = (k: string) => (typeof row[k] === "number" ? row[k] as number : 0);
  const restore = n("restoreStructPagesWritten");
  const compound = n("compoundStructPagesWritten");
  const phases: Record<string, [SampleStats, number][]> = {
    memmapInitMs: [[costs.init, n("memmapInitStructPages")]],
    deferredInitMs: [[costs.init, n("walkDeferredInitPages")]],
    restoreStructPagesMs: [[costs.refcount, restore], [costs.compound, compound]],
    hvoMs: [[costs.hvoPage, n("hvoFreedBytes") / PAGE_SIZE]],
  };
  const out: Record<string, number> = {};
  const r = (x: number) => Math.round(x * 1000) / 1000;
  for (const [name, terms] of Object.entries(phases)) {
    const sum = (stat: "median" | "min" | "max") =>
      r(terms.reduce((s, [c, units]) => s + c[stat] * units / 1e6, 0));
    out[name] = sum("median");
    out[`${name}.n`] = Math.min(...terms.map(([c]) => c.n));
    out[`${name}.median`] = sum("median");
    out[`${name}.min`] = sum("min");
    out[`${name}.max`] = sum("max");
  }
  return out;
}
