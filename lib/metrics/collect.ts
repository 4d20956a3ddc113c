/**
 * Collecting a {@link MetricsRow}: from the first kernel at kexec time (what is preserved,
 * what the tracker owns, what the successor will have to read), from cost-counter
 * differences around the preserve and finalize regions, and from the successor after its
 * boot (its walk, memblock, scratch and free memory).
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import { KernelLog } from "../kernel/dmesg.ts";
import type { Topology } from "../machine/topology.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { TrackerKind } from "../kho/profiles.ts";
import type { Clock } from "../rng.ts";
import { PAGE_SIZE } from "../units.ts";
import type { TrackerCounters, TrackerCounterValues } from "../kho/trackers/counters.ts";
import { TrackerCounters as Counters } from "../kho/trackers/counters.ts";
import { walkIncoming } from "../kho/trackers/registry.ts";
import type { OutgoingTracker } from "../kho/trackers/tracker.ts";
import { formableBlocks, freeBlocksByOrder, freeBytesOf } from "./buddy_stats.ts";
import {
  describeDomainFloor,
  type DomainObservation,
  type PlacementDomain,
  placementFloor,
  preservationFloor,
} from "./floor.ts";
import { formatByOrder, type MetricsRow } from "./metrics.ts";

/**
 * Runs `fn` without charging `counters`: the values are restored afterwards (for
 * measurement-only walks of an outgoing tracker).
 */
export function uncharged<T>(counters: TrackerCounters, fn: () => T): T {
  const before = counters.snapshot();
  try {
    return fn();
  } finally {
    Object.assign(counters, before);
  }
}

/**
 * Counter differences as row metrics `<prefix>PagesTouched`, `…CacheLines`,
 * `…EntriesVisited`, `…BitmapWords`, `…CacheLinesWritten`, and for the preserves
 * `preserveNodesAllocated` (serialization allocates chunk pages, never nodes).
 */
export function costMetrics(
  prefix: "preserve" | "serialize",
  v: TrackerCounterValues,
): MetricsRow {
  const row: MetricsRow = {
    [`${prefix}PagesTouched`]: v.pagesTouched,
    [`${prefix}CacheLines`]: v.cacheLinesRead,
    [`${prefix}EntriesVisited`]: v.entriesVisited,
    [`${prefix}BitmapWords`]: v.bitmapWordsScanned,
    [`${prefix}CacheLinesWritten`]: v.cacheLinesWritten,
  };
  if (prefix === "preserve") row.preserveNodesAllocated = v.nodesAllocated;
  return row;
}

/** The preserved blocks of an outgoing tracker by order (walked without charging it). */
export function preservedByOrder(tracker: OutgoingTracker): Map<number, number> {
  return preservedCensus(tracker, []).byOrder;
}

/** A physical range of blocks of one order. */
export interface OrderRange {
  /** Block order. */
  readonly order: number;
  /** First byte. */
  readonly startBytes: number;
  /** End (exclusive). */
  readonly endBytes: number;
}

/**
 * One uncharged walk of an outgoing tracker: its blocks by order and, for each of `ranges`,
 * the blocks of the range's order starting inside it.
 */
export function preservedCensus(
  tracker: OutgoingTracker,
  ranges: readonly OrderRange[],
): { byOrder: Map<number, number>; inRanges: number[] } {
  const byOrder = new Map<number, number>();
  const inRanges = ranges.map(() => 0);
  uncharged(tracker.counters, () =>
    tracker.walk((phys, order) => {
      byOrder.set(order, (byOrder.get(order) ?? 0) + 1);
      for (let i = 0; i < ranges.length; i++) {
        const r = ranges[i];
        if (order === r.order && phys >= r.startBytes && phys < r.endBytes) inRanges[i]++;
      }
      return 0;
    }));
  return { byOrder, inRanges };
}

/** Serialized chunk pages of a tracker that has a serialized form (xarray era), else 0. */
function serializedPages(tracker: OutgoingTracker): number {
  return tracker.serializedPagesPhys?.().length ?? 0;
}

/** What the first kernel hands over, measured at kexec time. */
export interface OutgoingSnapshot {
  /** Metrics of the preserved set and the tracker. */
  row: MetricsRow;
  /** Blocks per order. */
  byOrder: Map<number, number>;
  /** Physical address the successor starts its walk from (0 when none). */
  mapPhys: number;
}

/** A scenario's placement domain and how many of its drawn blocks were preserved. */
export interface DrawnDomain {
  /** The domain the scenario states. */
  readonly domain: PlacementDomain;
  /** Its drawn blocks whose preserve succeeded. */
  readonly preserved: number;
}

/**
 * Measures the first kernel's outgoing KHO state (call after preserve and finalize, before
 * kexec): preserved blocks and bytes by order, live and serialized tracker size, handover
 * bytes, metadata allocations and the information floors (of the scenario's placement
 * `domains`, and uniform over RAM).
 */
export function collectOutgoing(
  kernel: Kernel,
  domains: readonly DrawnDomain[] = [],
): OutgoingSnapshot {
  const out = kernel.kho.out;
  if (out === null) return { row: {}, byOrder: new Map(), mapPhys: 0 };
  const tracker = out.tracker;
  const { byOrder, inRanges } = preservedCensus(tracker, domains.map((d) => d.domain));
  const observations: DomainObservation[] = domains.map((d, i) => ({
    domain: d.domain,
    preserved: d.preserved,
    others: Math.max(0, inRanges[i] - d.preserved),
  }));
  let blocks = 0, bytes = 0;
  const bytesByOrder = new Map<number, number>();
  for (const [o, n] of byOrder) {
    blocks += n;
    bytes += n * 2 ** o * PAGE_SIZE;
    bytesByOrder.set(o, n * 2 ** o * PAGE_SIZE);
  }
  const livePages = tracker.metadataPages();
  const liveBytes = tracker.metadataBytes();
  const serPages = serializedPages(tracker);
  const handoverBytes = liveBytes + serPages * PAGE_SIZE;
  const stateless = kernel.profile.finalize === "none";
  const luo = kernel.liveupdate.stats();
  return {
    row: {
      luoSessions: luo.sessions,
      luoFiles: luo.files,
      luoMetadataPages: luo.metadataPages,
      preservedBlocks: blocks,
      preservedBytes: bytes,
      preservedBlocksByOrder: formatByOrder(byOrder),
      preservedBytesByOrder: formatByOrder(bytesByOrder),
      trackerLivePages: livePages,
      trackerLiveBytes: liveBytes,
      trackerSerializedPages: serPages,
      trackerSerializedBytes: serPages * PAGE_SIZE,
      handoverBytes,
      metadataAllocs: tracker.counters.pagesAllocated,
      metadataFrees: tracker.counters.pagesFreed,
      ...floorMetrics({
        topology: kernel.machine.topology,
        byOrder,
        observations,
        handoverBytes,
      }),
    },
    byOrder,
    mapPhys: stateless ? tracker.handoverRoot() : out.serializedRoot,
  };
}

/**
 * The floor metrics: `floorBits`, `floorBytes`, `floorBitsByOrder`, `floorBlocks` and
 * `floorDomains` of the placement domains ({@link placementFloor}), `handoverFloorRatio`,
 * and `floorUniformRamBytes` (the uniform-over-RAM bound of every preserved block).
 */
export function floorMetrics(input: {
  topology: Topology;
  byOrder: ReadonlyMap<number, number>;
  observations: readonly DomainObservation[];
  handoverBytes: number;
}): MetricsRow {
  const f = placementFloor(input.observations);
  const floorBytes = Math.ceil(f.bits / 8);
  const rounded = new Map([...f.bitsByOrder].map(([o, b]) => [o, Math.round(b * 100) / 100]));
  const uniform = preservationFloor(input.topology.ranges, input.byOrder);
  return {
    floorBits: Math.round(f.bits * 100) / 100,
    floorBytes,
    floorBitsByOrder: formatByOrder(rounded),
    floorBlocks: f.blocks,
    floorDomains: f.domains.length === 0
      ? "none: the scenario draws no placement at random"
      : f.domains.map(describeDomainFloor).join("; "),
    handoverFloorRatio: floorBytes === 0
      ? 0
      : Math.round(input.handoverBytes / floorBytes * 1000) / 1000,
    floorUniformRamBytes: Math.ceil(uniform.bits / 8),
  };
}

/** Result of {@link replayWalk}. */
export interface WalkReplay {
  /** Wall-clock milliseconds of the walk. */
  ms: number;
  /** Whether it completed. */
  ok: boolean;
  /** Blocks reported. */
  blocks: number;
  /** Its cost counters (equal to the successor's walk counters). */
  counters: TrackerCounterValues;
}

/** What {@link replayWalk} walks: a tracker kind and a machine (a {@link Kernel} is one). */
export interface WalkSource {
  /** The successor's profile (its tracker kind). */
  readonly profile: { readonly tracker: TrackerKind };
  /** The machine holding the handed-over bytes. */
  readonly machine: { readonly mem: PhysicalMemory; readonly topology: Topology };
}

/**
 * Replays the successor's tracker walk on the handed-over bytes with a callback that only
 * counts, timed with `clock`: the walk reads nothing but memory from `mapPhys`, so this is the
 * successor's walk without its memblock work.
 */
export function replayWalk(kernel: WalkSource, mapPhys: number, clock: Clock): WalkReplay {
  const counters = new Counters();
  const topology = kernel.machine.topology;
  let blocks = 0;
  const t0 = clock.nowMs();
  const r = walkIncoming(kernel.profile.tracker, {
    mem: kernel.machine.mem,
    rootPhys: mapPhys,
    isRam: (p, s) => topology.isRam(p, s),
    log: new KernelLog(),
    counters,
  }, () => {
    blocks++;
    return 0;
  });
  const ms = clock.nowMs() - t0;
  return { ms, ok: r.ok, blocks, counters: counters.snapshot() };
}

/**
 * Measures the successor after its boot (before any restore): its tracker walk, memblock
 * reservations, scratch use and free memory.
 */
export function collectSuccessor(k2: Kernel): MetricsRow {
  const r = k2.boot.retrieve;
  const c = r?.counters;
  const scratch = k2.boot.scratch.filter((a) => a.size > 0);
  let scratchUsed = 0;
  if (scratch.length > 0) {
    for (const reg of k2.memblock.reservedRegions()) {
      for (const a of scratch) {
        const lo = Math.max(reg.base, a.addr);
        const hi = Math.min(reg.base + reg.size, a.addr + a.size);
        if (hi > lo) scratchUsed += hi - lo;
      }
    }
  }
  const free = freeBlocksByOrder(k2.buddy);
  return {
    walkOk: r?.ok ? 1 : 0,
    walkBlocks: r?.blocks ?? 0,
    walkBytes: r?.bytes ?? 0,
    walkRejected: r?.rejected ?? 0,
    walkPagesTouched: c?.pagesTouched ?? 0,
    walkCacheLines: c?.cacheLinesRead ?? 0,
    walkBitmapWords: c?.bitmapWordsScanned ?? 0,
    walkEntriesVisited: c?.entriesVisited ?? 0,
    walkEntriesFollowed: c?.entriesFollowed ?? 0,
    walkDeferredInitPages: r?.deferredInitPages ?? 0,
    walkKernelReplay: r?.kernelReplay ? 1 : 0,
    memblockReserveCalls: k2.memblock.reserveCalls,
    walkStructPagesWritten: r?.blocks ?? 0,
    scratchAreas: scratch.length,
    scratchBytes: scratch.reduce((s, a) => s + a.size, 0),
    scratchUsedBytes: scratchUsed,
    freeBytes: freeBytesOf(free),
    freeBlocksByOrder: formatByOrder(free),
    free2MiBBlocks: formableBlocks(k2.buddy, 9),
    free1GiBBlocks: formableBlocks(k2.buddy, 18),
  };
}
