/**
 * Extended scratch (`kho_extend_scratch`, "[PATCH 10/12] kho: extended scratch" of "kho: make
 * boot time huge page allocation work nicely with KHO", Pratyush Yadav, v1 2026-04-29; also
 * "[RFC PATCH 10/20]" of Jork Loeser's Hyper-V series; kho-facts §9.6, §12, luo-hugetlb-facts
 * §4.1, §5.1). Profile `rfc-2026-ext-scratch`.
 *
 * Scratch is sized by a heuristic in the first kernel and may run short; gigantic HugeTLB pages
 * are allocated from memblock, i.e. from scratch on a KHO boot, and could not be preserved from
 * there. So at boot (from `mm_core_init_early`, before the boot-time huge page allocation)
 * the successor:
 *
 * 1. walks the incoming radix tree once, with the table callback of the same series: every
 *    preserved block `[phys, phys + 2^(order+12))` adds the key `start >> KHO_EXT_SHIFT` of each
 *    1 GiB block it starts in (`kho_radix_add_key`, one call per 1 GiB step), and every page of
 *    the tree itself — root, tables, leaves, which are not preserved but must stay untouched
 *    until the tree is parsed — adds `phys >> KHO_EXT_SHIFT`. The keys go into a **second
 *    radix tree** ("digested"), raw keys (no order bit), its pages from memblock;
 * 2. walks that tree in ascending key order and marks every gap between busy 1 GiB blocks
 *    `MEMBLOCK_KHO_SCRATCH_EXT` (`memblock_mark_kho_scratch_ext(prev_end, start - prev_end)`),
 *    then from the last busy block to `memblock_end_of_DRAM()`;
 * 3. destroys the second tree (its pages back to memblock).
 *
 * Below 32 TiB every key fits one leaf: the second tree is 6 pages (root, four tables, one
 * leaf; "a single bitmap with 4k pages can track up to 32 TiB"). An error (ENOMEM from the
 * second tree) is logged as "Failed to extend scratch: %pe" and the boot goes on; marks already
 * made stay.
 *
 * kholab walks the tree's bytes with its validating reader (table callback included). Where it
 * meets an anomaly, the kernel's own walk is replayed on the bytes (`./trackers/kernel_walk.ts`:
 * a page that is not RAM is an oops at the walk; the kernel checks nothing), unless the boot is
 * strict, which gives the extended scratch up with the reason. A busy key at or above 2^53
 * bytes (a corrupt key only) is left out: no memory lies there, and the gaps marked below it
 * are the same.
 *
 * @module
 */

import { type ErrnoName, KhoError } from "../errors.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import { KernelOops } from "../kernel/oops.ts";
import type { Memblock } from "../kernel/memblock.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { Topology } from "../machine/topology.ts";
import type { Clock } from "../rng.ts";
import { hex, PAGE_SHIFT, PAGE_SIZE } from "../units.ts";
import { TrackerCounters, type TrackerCounterValues } from "./trackers/counters.ts";
import { kernelWalkRadix, KhoWalkHangError } from "./trackers/kernel_walk.ts";
import { RadixTree, walkRadixTreeBatched } from "./trackers/radix.ts";
import {
  type DecodedTypedKey,
  ONE_HOT_CODEC,
  type RadixKeyCodec,
} from "./trackers/radix_codecs.ts";
import type { MetadataPageAllocator } from "./trackers/tracker.ts";

/** `KHO_EXT_SHIFT`: the second tree's keys are 1 GiB blocks (`phys >> 30`). */
export const KHO_EXT_SHIFT = 30;
/** Bytes of one busy block. */
export const KHO_EXT_BLOCK_BYTES: number = 2 ** KHO_EXT_SHIFT;
/** Page order of one busy block (18), what the second tree's walk reports. */
const EXT_ORDER = KHO_EXT_SHIFT - PAGE_SHIFT;
/** Keys of addresses below 2^53: what a JavaScript number holds exactly. */
const KEY_LIMIT = 2 ** (53 - KHO_EXT_SHIFT);
/**
 * 1 GiB steps of one corrupt block after which the kernel's loop counts as a lockup (a block of
 * order 52 would take 2^34 steps).
 */
export const EXT_WALK_STEP_LIMIT: number = 4 * 1024 * 1024;

const TWO32 = 4294967296;

/**
 * The second tree's keys: a raw 1 GiB block index, `phys >> KHO_EXT_SHIFT` (the generalized
 * `kho_radix_add_key` takes the key as given: no order bit). Encoded from `(pfn, order)` as the
 * block `pfn` lies in, whatever the order; decoded as the block's address, order 18.
 */
export const KHO_EXT_CODEC: RadixKeyCodec = {
  kind: "kho-ext",
  maxOrder: 63,
  typed: false,
  oneHotOrder: false,
  encode(pfn, _order, _type, out) {
    const key = Math.floor(pfn / 2 ** EXT_ORDER);
    out[0] = key >>> 0;
    out[1] = Math.floor(key / TWO32);
  },
  decode(lo, hi, out: DecodedTypedKey) {
    out.phys = ((hi >>> 0) * TWO32 + (lo >>> 0)) * KHO_EXT_BLOCK_BYTES;
    out.order = EXT_ORDER;
    out.type = 0;
    return true;
  },
  // Keys of addresses below 2^53 stay below 2^23: root entry 0 only.
  rootIndexValid: (i) => i === 0,
  uniformLeaf: () => true,
};

/** What {@link khoExtendScratch} needs from the booting kernel. */
export interface ExtScratchHost {
  /** Physical memory. */
  mem: PhysicalMemory;
  /** RAM layout (the validating reader's RAM check). */
  topology: Topology;
  /** The boot's memblock, in scratch-only mode. */
  memblock: Memblock;
  /** The boot's log. */
  log: KernelLog;
  /** Physical address of the incoming radix tree's root (`preserved-memory-map`). */
  mapPhys: number;
}

/** Options of {@link khoExtendScratch}. */
export interface ExtScratchOptions {
  /** kholab's strict successor: an anomaly gives the extended scratch up instead of a replay. */
  strict?: boolean;
  /** Clock for {@link ExtScratchReport.extendUs} (wall clock around the whole function). */
  clock?: Clock;
}

/** One page of the second tree, as it was before `kho_radix_destroy_tree`. */
export interface ExtTreePage {
  /** Physical address. */
  phys: number;
  /** Its 4096 bytes. */
  bytes: Uint8Array;
}

/** What `kho_extend_scratch` did on one boot. */
export interface ExtScratchReport {
  /** The errno of "Failed to extend scratch", or null. */
  error: ErrnoName | null;
  /** Busy 1 GiB blocks (their keys, ascending): preserved memory or tree pages in them. */
  busyBlocks: number[];
  /** The ranges marked `MEMBLOCK_KHO_SCRATCH_EXT`, ascending. */
  areas: { base: number; size: number }[];
  /** Bytes of memblock memory inside the marked ranges (holes are not memory). */
  recoveredBytes: number;
  /** Pages of the incoming tree walked: tables (root included) and leaves. */
  radixNodes: number;
  /** Preserved blocks digested (walk callbacks). */
  blocksDigested: number;
  /** `kho_radix_add_key` calls on the second tree (one per 1 GiB step and per tree page). */
  extKeyAdds: number;
  /** Pages of the second tree at its largest. */
  extTreePages: number;
  /** Cost counters of the incoming walk (pages touched, entries, bitmap words, lines). */
  walk: TrackerCounterValues;
  /** Cost counters of the second tree (its adds and its walk). */
  ext: TrackerCounterValues;
  /** Whether the kernel's own walk was replayed on the bytes (an anomaly, not strict). */
  kernelReplay: boolean;
  /** In strict mode, why the extended scratch was given up. */
  strictCheck?: string;
  /** The second tree's pages as they were before it was destroyed (root first). */
  tree: { rootPhys: number; pages: ExtTreePage[] };
  /**
   * Wall-clock microseconds of the whole function (the kernel's "time taken"), when a clock
   * was given; kholab's copy of the second tree for {@link ExtScratchReport.tree} is left out.
   */
  extendUs?: number;
}

/**
 * memblock pages for the second tree ("kho: allow early-boot usage of the KHO radix tree").
 * kho_populate added every handed-over scratch area to memblock unchecked, so in scratch-only
 * mode a page may come from an area that is not RAM: memblock_alloc's memset there is the
 * kernel's oops.
 */
function memblockPages(host: ExtScratchHost): MetadataPageAllocator {
  const { mem, memblock, topology, log } = host;
  return {
    allocZeroedPage(): number | null {
      const phys = memblock.allocRange({ size: PAGE_SIZE, align: PAGE_SIZE });
      if (phys === 0) return null;
      if (!topology.isRam(phys, PAGE_SIZE)) {
        log.error("KHO", `kho_extend_scratch: memblock page ${hex(phys)} is not RAM`);
        throw new KernelOops({ address: phys, fn: "memblock_alloc_try_nid" }, log);
      }
      mem.zero(phys, PAGE_SIZE); // memblock_alloc zeroes
      return phys;
    },
    freePage(phys: number): void {
      memblock.free(phys, PAGE_SIZE);
    },
  };
}

/**
 * `kho_extend_scratch()` on a KHO boot: digests the incoming radix tree into a second one keyed
 * by 1 GiB block and marks every gap `MEMBLOCK_KHO_SCRATCH_EXT`. Returns what it did (the
 * second tree's bytes included). May throw the kernel's verdict on a corrupt tree
 * (`KernelOops`, `KhoWalkHangError`) when it replays the kernel's walk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * const k1 = Kernel.coldBoot(new Machine({ ramBytes: 8 * 2 ** 30, nodes: 1 }), {
 *   profile: "rfc-2026-ext-scratch",
 * });
 * k1.kho.preserveFolio(k1.buddy.folioAlloc(9)!);
 * const k2 = k1.kexec(); // kho_extend_scratch runs in the successor's boot
 * const r = k2.boot.extScratch!;
 * assert.equal(r.error, null);
 * assert.equal(r.extTreePages, 6); // root, four tables, one leaf: below 32 TiB
 * assert.ok(r.busyBlocks.length >= 1 && r.recoveredBytes > 0);
 * ```
 */
export function khoExtendScratch(
  host: ExtScratchHost,
  options: ExtScratchOptions = {},
): ExtScratchReport {
  const t0 = options.clock?.nowMs();
  const { mem, log } = host;
  const alloc = memblockPages(host);
  const walkCounters = new TrackerCounters();
  const extCounters = new TrackerCounters();
  const report: ExtScratchReport = {
    error: null,
    busyBlocks: [],
    areas: [],
    recoveredBytes: 0,
    radixNodes: 0,
    blocksDigested: 0,
    extKeyAdds: 0,
    extTreePages: 0,
    walk: walkCounters.snapshot(),
    ext: extCounters.snapshot(),
    kernelReplay: false,
    tree: { rootPhys: 0, pages: [] },
  };
  let inspectMs = 0; // the tree's snapshot: kholab's, not the kernel's work
  const finish = (): ExtScratchReport => {
    report.walk = walkCounters.snapshot();
    report.ext = extCounters.snapshot();
    if (t0 !== undefined) report.extendUs = (options.clock!.nowMs() - t0 - inspectMs) * 1000;
    return report;
  };
  const fail = (e: unknown): ExtScratchReport => {
    if (!(e instanceof KhoError)) throw e;
    report.error = e.code;
    log.error("KHO", `Failed to extend scratch: -${e.code}`);
    return finish();
  };

  // kho_radix_init_tree(&radix, NULL): the root from memblock.
  const newTree = () =>
    RadixTree.create({ codec: KHO_EXT_CODEC, mem, alloc, log, counters: extCounters });
  let tree: RadixTree;
  try {
    tree = newTree();
  } catch (e) {
    return fail(e);
  }
  try {
    const addKey = (key: number): void => {
      report.extKeyAdds++;
      if (key >= KEY_LIMIT) return; // beyond every byte of memory (a corrupt key only)
      tree.add(key * 2 ** EXT_ORDER, EXT_ORDER);
      if (tree.metadataPages() > report.extTreePages) report.extTreePages = tree.metadataPages();
    };
    report.extTreePages = tree.metadataPages();
    const digest = digestValidated(host, walkCounters, addKey, report);
    if (digest !== "ok") {
      if (options.strict) {
        report.strictCheck = `tracker walk: ${digest}`;
        log.error("KHO", `extended scratch: the tracker walk failed (${digest}); not extended`);
        tree.destroy();
        return finish();
      }
      // The kernel's own walk, from the start, into a fresh second tree.
      tree.destroy();
      tree = newTree();
      report.extKeyAdds = 0;
      report.kernelReplay = true;
      digestKernel(host, addKey, report);
    }
    markGaps(host, tree, report);
    const s0 = options.clock?.nowMs();
    report.tree = {
      rootPhys: tree.handoverRoot(),
      pages: [
        tree.handoverRoot(),
        ...tree.ownedPagesPhys().filter((p) => p !== tree.handoverRoot()),
      ].map((phys) => ({ phys, bytes: mem.readBytes(phys, PAGE_SIZE) })),
    };
    if (s0 !== undefined) inspectMs = options.clock!.nowMs() - s0;
    tree.destroy();
    return finish();
  } catch (e) {
    tree.destroy();
    return fail(e);
  }
}

/** The validating reader's digest; `"ok"` or the anomaly that calls for the kernel's walk. */
function digestValidated(
  host: ExtScratchHost,
  counters: TrackerCounters,
  addKey: (key: number) => void,
  report: ExtScratchReport,
): string {
  const r = walkRadixTreeBatched(
    {
      mem: host.mem,
      rootPhys: host.mapPhys,
      isRam: (p, s) => host.topology.isRam(p, s),
      counters,
      checkBlocks: false,
      onTable: (phys) => addKey(Math.floor(phys / KHO_EXT_BLOCK_BYTES)),
    },
    (phys, n, order) => {
      const size = 2 ** (order + PAGE_SHIFT);
      // A corrupt key of a huge order: the kernel's loop, replayed, is the verdict.
      if (size / KHO_EXT_BLOCK_BYTES > EXT_WALK_STEP_LIMIT) return 1;
      for (let i = 0; i < n; i++) {
        // kho_ext_walk_key: a key per 1 GiB step from the block's start
        for (let start = phys[i], end = start + size; start < end; start += KHO_EXT_BLOCK_BYTES) {
          addKey(Math.floor(start / KHO_EXT_BLOCK_BYTES));
        }
      }
      return 0;
    },
  );
  report.radixNodes = r.tablesVisited + r.leavesVisited;
  report.blocksDigested = r.blocks;
  if (!r.ok) return r.error!;
  if (r.stopped !== 0) return "a block of an order beyond memory";
  if (r.rejected > 0) return `${r.rejected} invalid keys`;
  return "ok";
}

/** The kernel's walk of the bytes (u64 arithmetic; a lockup past the step limit). */
function digestKernel(
  host: ExtScratchHost,
  addKey: (key: number) => void,
  report: ExtScratchReport,
): void {
  const MASK64 = (1n << 64n) - 1n;
  const BLOCK = BigInt(KHO_EXT_BLOCK_BYTES);
  let blocks = 0;
  const r = kernelWalkRadix(
    { mem: host.mem, isRam: (p, s) => host.topology.isRam(p, s), log: host.log },
    ONE_HOT_CODEC,
    host.mapPhys,
    (phys, order) => {
      blocks++;
      // end = start + (1UL << (order + PAGE_SHIFT)): a 64-bit shift masked to 6 bits on x86
      let start = phys;
      const end = (start + (1n << BigInt((order + PAGE_SHIFT) % 64))) & MASK64;
      for (let steps = 0; start < end; start += BLOCK) {
        if (++steps > EXT_WALK_STEP_LIMIT) {
          throw new KhoWalkHangError({
            fn: "kho_ext_walk_key",
            structure: "preserved block",
            address: phys,
            detail: `order ${order}: more than ${EXT_WALK_STEP_LIMIT} steps of 1 GiB`,
          }, host.log);
        }
        addKey(Number(start / BLOCK));
      }
    },
    (phys) => addKey(Number(phys / BLOCK)),
  );
  report.radixNodes = r.reads;
  report.blocksDigested = blocks;
}

/** `kho_ext_mark_scratch` over the second tree, then the tail to the end of DRAM. */
function markGaps(host: ExtScratchHost, tree: RadixTree, report: ExtScratchReport): void {
  const { memblock } = host;
  const mark = (base: number, size: number) => {
    memblock.markKhoScratchExt(base, size);
    report.areas.push({ base, size });
    report.recoveredBytes += memoryBytesIn(memblock, base, base + size);
  };
  let prevEnd = 0;
  tree.walk((start) => {
    report.busyBlocks.push(start / KHO_EXT_BLOCK_BYTES);
    if (start > prevEnd) mark(prevEnd, start - prevEnd);
    prevEnd = start + KHO_EXT_BLOCK_BYTES;
    return 0;
  });
  const endOfDram = memblock.endOfDram();
  if (prevEnd < endOfDram) mark(prevEnd, endOfDram - prevEnd);
}

/** Bytes of memblock memory inside `[a, b)`. */
function memoryBytesIn(memblock: Memblock, a: number, b: number): number {
  let n = 0;
  for (const r of memblock.memoryRegions()) {
    const lo = Math.max(a, r.base), hi = Math.min(b, r.base + r.size);
    if (hi > lo) n += hi - lo;
  }
  return n;
}
