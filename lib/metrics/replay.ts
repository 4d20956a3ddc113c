/**
 * Timed replays: the wall-clock figures of a run, measured after the run on what it recorded
 * (a {@link TimingCapsule}), each region `warmup` times untimed and then `repeat` times timed,
 * in the calling thread. A sweep calls this one point at a time once no sweep point runs
 * (`lib/scenario/sweep.ts`), so a timed region never shares the cores with other work of the
 * sweep. The regions ({@link TIMED_REGIONS}):
 *
 * - `preserveMs` — the outgoing tracker's share of the scenario's preserve calls: the
 *   recorded operations of those calls replayed, in call order, on an empty tracker of the
 *   profile's kind that first gets (untimed) the blocks it held before. Its metadata pages come
 *   from a page pool over a fresh memory rather than the buddy allocator. The KHO API checks and
 *   the clients' own work (memfd, LUO, vmalloc descriptors) are not in the region.
 * - `finalizeMs` — `kho_mem_serialize`, the tracker's serialization into khoser chunk pages,
 *   on that replayed tracker after the operations up to finalize (untimed); the root FDT and the
 *   FINALIZE notifiers are not in the region. Only where the profile finalizes.
 * - `walkMs` — the successor's tracker walk with a callback that only counts, over a machine
 *   holding the handed-over pages (copied when the successor started, at their addresses).
 * - `populateMs` — the successor's `kho_populate` (handover validation, scratch into memblock)
 *   and `reserveMs` — its `kho_mem_retrieve` (walk, `memblock_reserve`, the `page->private`
 *   stamp): the successor's boot phases up to `kho_memory_init` replayed on such a machine from
 *   the same handoff and boot options. `reserveMs` only on a KHO boot.
 *
 * Each replay is checked against what the run saw: the tracker counters of the region, the
 * counting walk over the live bytes, the successor's verdict and reservation walk. A replay
 * that disagrees yields no timing and a problem (`timing:…`) instead.
 *
 * @module
 */

import { BOOT_PHASES } from "../boot/phases.ts";
import { BootContext } from "../boot/context.ts";
import { KernelLog } from "../kernel/dmesg.ts";
import { Machine } from "../machine/machine.ts";
import { PhysicalMemory } from "../machine/physmem.ts";
import type { Clock } from "../rng.ts";
import { PAGE_SIZE } from "../units.ts";
import type { TrackerCounterValues } from "../kho/trackers/counters.ts";
import { createTracker } from "../kho/trackers/registry.ts";
import type { MetadataPageAllocator, OutgoingTracker } from "../kho/trackers/tracker.ts";
import type { XarrayTracker } from "../kho/trackers/xarray.ts";
import type { KhoPageType } from "../kho/abi/rfc_page_type.ts";
import {
  type BootOutcome,
  type CountedWalk,
  type HandoverCapsule,
  type TimingCapsule,
  TRACKER_OP,
  type TrackerCapsule,
  type TrackerOps,
} from "./capsule.ts";
import { replayWalk } from "./collect.ts";
import { type Timings, timingStats } from "./timing.ts";

/** The timed regions, in row order. */
export const TIMED_REGIONS: readonly string[] = [
  "preserveMs",
  "finalizeMs",
  "walkMs",
  "populateMs",
  "reserveMs",
];

/**
 * Untimed runs of each region before the timed ones, per point. Three: with one, the first
 * point of a tracker kind ran its walk still cold (kho-v2, v3 and v4 walk identical bytes; in a
 * 1 TiB comparison their walk medians read 10.0, 3.5 and 3.5 ms with one warm-up run and 3.6,
 * 3.6 and 3.7 ms with three).
 */
export const DEFAULT_WARMUP = 3;

/**
 * The warm-up of a region stops early once its runs took this long (ms on the replay's
 * clock): a region of a second (the 1 TiB host's `kho_mem_retrieve`) is warm after one run,
 * and two more would add seconds per point.
 */
export const DEFAULT_WARMUP_MS = 250;

/** Options of {@link replayTimings}. */
export interface ReplayOptions {
  /** The clock the timed regions read (the wall clock from an entry point; a test's clock). */
  clock: Clock;
  /** Timed samples per region (≥ 1). */
  repeat: number;
  /** Untimed runs of each region first (JIT and caches warm). Default {@link DEFAULT_WARMUP}. */
  warmup?: number;
  /**
   * The warm-up stops early once its runs took this many ms (at least one run). Default
   * {@link DEFAULT_WARMUP_MS}.
   */
  warmupMs?: number;
}

/** What {@link replayTimings} measured. */
export interface ReplayResult {
  /** Timings per region measured (regions the run did not reach are absent). */
  timings: Timings;
  /** Replays that disagreed with the run (`timing:REGION: …`); those regions are absent. */
  problems: string[];
}

/** A page pool over fresh memory: `get_zeroed_page` / `free_page` for a replayed tracker. */
function pagePool(mem: PhysicalMemory): MetadataPageAllocator {
  const free: number[] = [];
  let next = 16 * PAGE_SIZE; // physical address 0 stays unused (a null pointer)
  return {
    allocZeroedPage(): number | null {
      let phys = free.pop();
      if (phys === undefined) {
        if (next + PAGE_SIZE > mem.sizeBytes) return null;
        phys = next;
        next += PAGE_SIZE;
      }
      mem.zero(phys, PAGE_SIZE);
      return phys;
    },
    freePage(phys: number): void {
      free.push(phys);
    },
  };
}

type TypedTracker = OutgoingTracker & {
  addTyped(pfn: number, order: number, type: KhoPageType): void;
};

/** Replays `ops[from, to)` on `tracker`. */
function apply(tracker: OutgoingTracker, ops: TrackerOps, from: number, to: number): void {
  const { pfns, orders, ops: codes } = ops;
  for (let i = from; i < to; i++) {
    switch (codes[i]) {
      case TRACKER_OP.add:
        tracker.add(pfns[i], orders[i]);
        break;
      case TRACKER_OP.del:
        tracker.del(pfns[i], orders[i]);
        break;
      default:
        (tracker as TypedTracker).addTyped(
          pfns[i],
          orders[i],
          (codes[i] === TRACKER_OP.addTyped1 ? 1 : 0) as KhoPageType,
        );
    }
  }
}

/** One replay of the tracker's preserve calls and finalize serialization. */
function trackerPass(c: TrackerCapsule, clock: Clock): {
  preserveMs: number;
  preserve: TrackerCounterValues;
  finalizeMs: number | null;
  finalize: TrackerCounterValues | null;
} {
  const mem = new PhysicalMemory(c.memBytes);
  const alloc = pagePool(mem);
  const tracker = createTracker(c.kind, { mem, alloc, log: new KernelLog() });
  apply(tracker, c.before, 0, c.before.pfns.length);
  const b0 = tracker.counters.snapshot();
  const t0 = clock.nowMs();
  apply(tracker, c.ops, 0, c.preserveEnd);
  const preserveMs = clock.nowMs() - t0;
  const preserve = tracker.counters.since(b0);
  apply(tracker, c.ops, c.preserveEnd, c.finalizeStart);
  if (c.serializeEra === null) return { preserveMs, preserve, finalizeMs: null, finalize: null };
  const b1 = tracker.counters.snapshot();
  apply(tracker, c.ops, c.finalizeStart, c.finalizeEnd);
  const t1 = clock.nowMs();
  (tracker as XarrayTracker).serialize({ era: c.serializeEra, alloc });
  const finalizeMs = clock.nowMs() - t1;
  return { preserveMs, preserve, finalizeMs, finalize: tracker.counters.since(b1) };
}

/** A machine of the run's topology holding only the handed-over pages. */
function replayMachine(h: HandoverCapsule): Machine {
  const ranges = h.ranges.map((r) => ({ ...r }));
  const machine = new Machine({
    ramBytes: ranges.reduce((s, r) => s + r.end - r.start, 0),
    nodes: h.nodes,
    ranges,
  });
  for (let i = 0; i < h.pfns.length; i++) {
    machine.mem.writeBytes(
      h.pfns[i] * PAGE_SIZE,
      h.bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE),
    );
  }
  return machine;
}

/** One timed counting walk over `machine` (the successor's walk without its reservations). */
function walkPass(
  h: HandoverCapsule,
  machine: Machine,
  clock: Clock,
): CountedWalk & { ms: number } {
  const r = replayWalk({ profile: { tracker: h.kind }, machine }, h.mapPhys, clock);
  return { ms: r.ms, ok: r.ok, blocks: r.blocks, counters: r.counters };
}

/** The successor's boot phases up to and including `kho_memory_init`. */
const EARLY_PHASES = BOOT_PHASES.slice(
  0,
  BOOT_PHASES.findIndex((p) => p.name === "kho_memory_init") + 1,
);

/** One replay of the successor's early boot: `kho_populate` timed, `kho_mem_retrieve` timed. */
function bootPass(h: HandoverCapsule, clock: Clock): {
  populateMs: number;
  reserveMs: number | null;
  outcome: BootOutcome;
} {
  const ctx = new BootContext(replayMachine(h), { ...h.bootOptions, clock }, h.handoff);
  let populateMs = 0;
  try {
    for (const phase of EARLY_PHASES) {
      if (phase.name !== "kho_populate") phase.run(ctx);
      else {
        const t0 = clock.nowMs();
        phase.run(ctx);
        populateMs = clock.nowMs() - t0;
      }
    }
  } catch {
    return { populateMs, reserveMs: null, outcome: { verdict: "failed", retrieve: null } };
  }
  const r = ctx.retrieve;
  return {
    populateMs,
    reserveMs: r?.reserveMs ?? null,
    outcome: {
      verdict: r !== undefined ? "ok" : "refused",
      retrieve: r ? { ok: r.ok, blocks: r.blocks, bytes: r.bytes } : null,
    },
  };
}

/** `""` when equal, else a short account of the first difference. */
function differs(what: string, seen: unknown, expected: unknown): string {
  const a = JSON.stringify(seen), b = JSON.stringify(expected);
  return a === b ? "" : `${what}: replay ${a}, run ${b}`;
}

/**
 * Runs `warmup` untimed (fewer once they took `warmupMs`) and `repeat` timed passes of each
 * region of `capsule` (tracker, walk, early boot) with `options.clock`; returns the timings
 * and the problems.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replayTimings } from "./replay.ts";
 * import { ManualClock } from "../rng.ts";
 * const r = replayTimings({ tracker: null, handover: null }, {
 *   clock: new ManualClock(), repeat: 5,
 * });
 * assert.deepEqual(r, { timings: {}, problems: [] }); // nothing recorded, nothing timed
 * ```
 */
export function replayTimings(capsule: TimingCapsule, options: ReplayOptions): ReplayResult {
  const { clock, repeat } = options;
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new RangeError(`repeat=${repeat}: a whole number of samples, at least 1`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new RangeError(`warmup=${warmup}: a whole number, at least 0`);
  }
  if (!(options.warmupMs === undefined || options.warmupMs >= 0)) {
    throw new RangeError(`warmupMs=${options.warmupMs}: at least 0`);
  }
  const warmupMs = options.warmupMs ?? DEFAULT_WARMUP_MS;
  const samples: Record<string, number[]> = {};
  const problems: string[] = [];
  const add = (name: string, ms: number) => (samples[name] ??= []).push(ms);
  // `warmup` untimed runs (fewer once they took `warmupMs`), then `repeat` timed ones.
  const passes = (fn: (timed: boolean) => boolean) => {
    const t0 = warmup > 0 ? clock.nowMs() : 0;
    for (let i = 0; i < warmup; i++) {
      if (!fn(false)) return;
      if (clock.nowMs() - t0 >= warmupMs) break;
    }
    for (let i = 0; i < repeat; i++) if (!fn(true)) return;
  };

  const t = capsule.tracker;
  if (t !== null) {
    passes((timed) => {
      const p = trackerPass(t, clock);
      const bad = differs("preserve counters", p.preserve, t.preserveCounters);
      if (bad) return problems.push(`timing:preserveMs: ${bad}`), false;
      const badF = differs("finalize counters", p.finalize, t.finalizeCounters);
      if (badF) return problems.push(`timing:finalizeMs: ${badF}`), false;
      if (timed) {
        add("preserveMs", p.preserveMs);
        if (p.finalizeMs !== null) add("finalizeMs", p.finalizeMs);
      }
      return true;
    });
  }

  const h = capsule.handover;
  if (h !== null && h.mapPhys !== 0 && h.walk !== null) {
    const machine = replayMachine(h);
    passes((timed) => {
      const { ms, ...seen } = walkPass(h, machine, clock);
      const bad = differs("walk", seen, h.walk);
      if (bad) return problems.push(`timing:walkMs: ${bad}`), false;
      if (timed) add("walkMs", ms);
      return true;
    });
  }
  if (h !== null && h.handoff.handover !== null && h.boot !== null) {
    const expected = h.boot;
    passes((timed) => {
      const b = bootPass(h, clock);
      const bad = differs("boot", b.outcome, expected);
      if (bad) return problems.push(`timing:populateMs: ${bad}`), false;
      if (timed) {
        add("populateMs", b.populateMs);
        if (b.reserveMs !== null) add("reserveMs", b.reserveMs);
      }
      return true;
    });
  }

  const timings: Timings = {};
  for (const name of TIMED_REGIONS) {
    // A region dropped after some samples (a problem) is absent, not short.
    const s = samples[name];
    if (s !== undefined && s.length === repeat) timings[name] = timingStats(s);
  }
  return { timings, problems };
}
