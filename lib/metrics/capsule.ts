/**
 * What a run hands to its timed replays (`./replay.ts`): a {@link TimingCapsule}, plain data
 * and typed arrays that can cross to another thread (transferable, {@link capsuleBuffers}).
 *
 * A scenario run records, without reading any clock,
 *
 * - the **tracker operations** of the first kernel from the start of its preserve calls to
 *   the end of `kho_finalize` ({@link recordTrackerOps}): every block add, typed add and
 *   delete that completed, in call order, with marks where the preserve calls and the
 *   finalize began and ended, and the blocks the tracker held before;
 * - the **handed-over bytes** at the instant the successor starts ({@link snapshotHandover},
 *   from `Kernel.kexec`'s `onHandoff`): every page of the tracker, the root FDT, the scratch
 *   array and the sub-trees, at their physical addresses, with the handoff record and the
 *   successor's boot options;
 * - what the run saw, to check each replay against: the tracker counters of the preserve
 *   and finalize regions, the counting walk over the live bytes, the successor's verdict and
 *   reservation walk.
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import type { BootHandoff, BootOptions } from "../boot/options.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { RamRange } from "../machine/topology.ts";
import type { TrackerKind } from "../kho/profiles.ts";
import type { TrackerCounterValues } from "../kho/trackers/counters.ts";
import type { KhoserEra } from "../kho/trackers/khoser.ts";
import type { OutgoingTracker } from "../kho/trackers/tracker.ts";
import type { Clock } from "../rng.ts";
import { PAGE_SIZE } from "../units.ts";
import { replayWalk, uncharged } from "./collect.ts";

/** The run reads no clock: the reference walk is not timed. */
const NO_CLOCK: Clock = { nowMs: () => 0 };

/** Tracker operation codes of a {@link TrackerOps} log. */
export const TRACKER_OP = Object.freeze({
  /** `add(pfn, order)`. */
  add: 0,
  /** `del(pfn, order)`. */
  del: 1,
  /** `addTyped(pfn, order, 0)` (page-type RFC, CONTIG). */
  addTyped0: 2,
  /** `addTyped(pfn, order, 1)` (page-type RFC, SPLIT). */
  addTyped1: 3,
});

/** Tracker operations in call order: one entry per completed call. */
export interface TrackerOps {
  /** Page frame numbers. */
  readonly pfns: Float64Array;
  /** Block orders. */
  readonly orders: Uint8Array;
  /** {@link TRACKER_OP} codes. */
  readonly ops: Uint8Array;
}

/** What the tracker replay (`preserveMs`, `finalizeMs`) needs. */
export interface TrackerCapsule {
  /** Tracker kind of the profile. */
  readonly kind: TrackerKind;
  /** Size of the physical address space (the replay's memory). */
  readonly memBytes: number;
  /** Blocks in the tracker when the preserve calls began (added first, untimed). */
  readonly before: TrackerOps;
  /** Operations from the first preserve call to the end of finalize. */
  readonly ops: TrackerOps;
  /** End of the preserve calls in {@link ops} (the timed `preserveMs` region is `[0, end)`). */
  readonly preserveEnd: number;
  /** Where `kho_finalize` began in {@link ops} (= `finalizeEnd` when it made no operation). */
  readonly finalizeStart: number;
  /** Where `kho_finalize` ended in {@link ops}. */
  readonly finalizeEnd: number;
  /** The serialization `kho_finalize` ran (`kho_mem_serialize` era), or null: none ran. */
  readonly serializeEra: KhoserEra | null;
  /** Tracker counters the run charged in the preserve calls. */
  readonly preserveCounters: TrackerCounterValues;
  /** Tracker counters the run charged in `kho_finalize`, or null. */
  readonly finalizeCounters: TrackerCounterValues | null;
}

/** A counting walk's result, to compare a replay with. */
export interface CountedWalk {
  /** Whether it completed. */
  readonly ok: boolean;
  /** Blocks reported. */
  readonly blocks: number;
  /** Its cost counters. */
  readonly counters: TrackerCounterValues;
}

/** What the successor's boot decided, to compare a replayed boot with. */
export interface BootOutcome {
  /** `ok`: kho_populate accepted and the walk ran; `refused`: it did not; `failed`: no boot. */
  readonly verdict: "ok" | "refused" | "failed";
  /** The reservation walk of a KHO boot: completed, blocks, bytes. */
  readonly retrieve:
    | { readonly ok: boolean; readonly blocks: number; readonly bytes: number }
    | null;
}

/** The handed-over bytes and what the successor starts from. */
export interface HandoverCapsule {
  /** Tracker kind the successor reads. */
  readonly kind: TrackerKind;
  /** RAM ranges and node count of the machine. */
  readonly ranges: readonly RamRange[];
  /** NUMA nodes. */
  readonly nodes: number;
  /** Page frame numbers of the copied pages, ascending. */
  readonly pfns: Float64Array;
  /** Their bytes, 4096 per page, in the same order. */
  readonly bytes: Uint8Array;
  /** Where the successor's tracker walk starts (0: nothing to walk). */
  readonly mapPhys: number;
  /** The handoff the successor booted from. */
  readonly handoff: BootHandoff;
  /** The successor's boot options, without functions (clock, hooks) and fault injection. */
  readonly bootOptions: BootOptions;
  /** The counting walk over the live bytes at the same instant. */
  readonly walk: CountedWalk | null;
  /** The successor's verdict (set after its boot). */
  boot: BootOutcome | null;
}

/** Everything the timed replays of one run need. */
export interface TimingCapsule {
  /** The tracker replay, or null when the run never reached its preserve calls. */
  tracker: TrackerCapsule | null;
  /** The handed-over bytes, or null when the run never reached kexec. */
  handover: HandoverCapsule | null;
}

/** A growable log of tracker operations. */
class OpLog {
  #pfns = new Float64Array(1024);
  #orders = new Uint8Array(1024);
  #ops = new Uint8Array(1024);
  length = 0;
  /** Whether an order did not fit in a byte (the log is then unusable). */
  overflow = false;

  push(pfn: number, order: number, op: number): void {
    if (this.length === this.#pfns.length) {
      const grow = <T extends Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.#pfns = grow(this.#pfns, (n) => new Float64Array(n));
      this.#orders = grow(this.#orders, (n) => new Uint8Array(n));
      this.#ops = grow(this.#ops, (n) => new Uint8Array(n));
    }
    if (!(order >= 0 && order <= 255 && Number.isInteger(order))) this.overflow = true;
    this.#pfns[this.length] = pfn;
    this.#orders[this.length] = order;
    this.#ops[this.length++] = op;
  }

  /** The operations as exactly sized arrays (each with a buffer of its own). */
  take(): TrackerOps {
    return {
      pfns: this.#pfns.slice(0, this.length),
      orders: this.#orders.slice(0, this.length),
      ops: this.#ops.slice(0, this.length),
    };
  }
}

/** A recording of an outgoing tracker's operations, started by {@link recordTrackerOps}. */
export interface TrackerRecording {
  /** Operations recorded so far. */
  readonly length: number;
  /** Stops recording (the tracker's own methods again) and returns the log. */
  stop(): { before: TrackerOps; ops: TrackerOps } | null;
}

type Method = (...args: number[]) => void;

/**
 * Starts recording `tracker`'s operations: its blocks now (an uncharged walk), then every
 * `add`, `addTyped` (page-type RFC trackers) and `del` that completes, in call order. The
 * tracker's methods are wrapped on the instance until {@link TrackerRecording.stop}; what the
 * tracker does is unchanged. `stop` returns null when an order did not fit the log.
 */
export function recordTrackerOps(tracker: OutgoingTracker): TrackerRecording {
  const before = new OpLog();
  uncharged(tracker.counters, () =>
    tracker.walk((phys, order) => {
      before.push(phys / PAGE_SIZE, order, TRACKER_OP.add);
      return 0;
    }));
  const log = new OpLog();
  const t = tracker as unknown as Record<string, Method>;
  const own = ["add", "addTyped", "del"].filter((m) => Object.hasOwn(t, m));
  if (own.length > 0) throw new RangeError("recordTrackerOps: the tracker is already recorded");
  const original = { add: t.add, addTyped: t.addTyped, del: t.del };
  // The innermost call is recorded: a tree whose add() is addTyped(…, CONTIG) (a typed codec)
  // records the addTyped, which is what the replay of add() does again.
  let pushed = 0;
  const wrap = (m: "add" | "addTyped" | "del", op: (type: number) => number) => {
    t[m] = (pfn, order, type) => {
      const inner = pushed;
      original[m].call(tracker, pfn, order, type);
      if (pushed === inner) {
        log.push(pfn, order, op(type));
        pushed++;
      }
    };
  };
  wrap("add", () => TRACKER_OP.add);
  if (typeof original.addTyped === "function") {
    wrap("addTyped", (type) => type ? TRACKER_OP.addTyped1 : TRACKER_OP.addTyped0);
  }
  wrap("del", () => TRACKER_OP.del);
  let stopped = false;
  return {
    get length() {
      return log.length;
    },
    stop() {
      if (!stopped) {
        stopped = true;
        for (const m of ["add", "addTyped", "del"]) delete t[m];
      }
      return before.overflow || log.overflow ? null : { before: before.take(), ops: log.take() };
    },
  };
}

/** Reads the big-endian `totalsize` of an FDT at `phys`, or 0 when no FDT starts there. */
function fdtTotalSize(mem: PhysicalMemory, phys: number): number {
  if (!mem.contains(phys, 8)) return 0;
  const b = mem.readBytes(phys, 8);
  const be = (i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
  return be(0) === 0xd00dfeed ? be(4) : 0;
}

/** The pages of `[phys, phys + size)` into `out` (nothing outside memory). */
function addPages(out: Set<number>, mem: PhysicalMemory, phys: number, size: number): void {
  if (!(size > 0) || !Number.isSafeInteger(phys) || phys < 0) return;
  const end = Math.min(phys + size, mem.sizeBytes);
  for (let p = Math.floor(phys / PAGE_SIZE) * PAGE_SIZE; p < end; p += PAGE_SIZE) {
    out.add(p / PAGE_SIZE);
  }
}

/**
 * Boot options without functions, fault injection and the modules a kernel runs once booted
 * (what a replay of the early boot reuses; plain data that crosses to another thread).
 */
function plainBootOptions(options: BootOptions): BootOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (typeof v !== "function" && !["clock", "faults", "modules"].includes(k)) out[k] = v;
  }
  return out as BootOptions;
}

/**
 * Copies what the successor reads at its start, at the instant it starts (call it from
 * `Kernel.kexec`'s `onHandoff`): every page of `kernel`'s outgoing tracker (live and
 * serialized), of the root FDT, of the scratch array and of each sub-tree; and the counting
 * walk of those bytes (uncharged, untimed), to check the replays against. The walk starts
 * where the root FDT points now: the live tracker's root, or the serialized list of the last
 * `kho_finalize` (6.19 finalizes again in `liveupdate_reboot`, with a new list).
 */
export function snapshotHandover(
  kernel: Kernel,
  options: { handoff: BootHandoff; bootOptions: BootOptions },
): HandoverCapsule {
  const mem = kernel.machine.mem;
  const topology = kernel.machine.topology;
  const pages = new Set<number>();
  const out = kernel.kho.out;
  const mapPhys = out === null
    ? 0
    : kernel.profile.finalize === "none"
    ? out.tracker.handoverRoot()
    : out.serializedRoot;
  if (out !== null) {
    const t = out.tracker;
    for (const p of t.ownedPagesPhys()) addPages(pages, mem, p, PAGE_SIZE);
    for (const p of t.serializedPagesPhys?.() ?? []) addPages(pages, mem, p, PAGE_SIZE);
    for (const s of out.subtrees()) {
      addPages(pages, mem, s.phys, s.size > 0 ? s.size : fdtTotalSize(mem, s.phys) || PAGE_SIZE);
    }
  }
  const h = options.handoff.handover;
  if (h !== null) {
    addPages(pages, mem, h.fdtPhys, h.fdtLen);
    addPages(pages, mem, h.scratchPhys, h.scratchLen);
  }
  const pfns = Float64Array.from([...pages].sort((a, b) => a - b));
  const bytes = new Uint8Array(pfns.length * PAGE_SIZE);
  pfns.forEach((pfn, i) => bytes.set(mem.readBytes(pfn * PAGE_SIZE, PAGE_SIZE), i * PAGE_SIZE));
  let walk: CountedWalk | null = null;
  if (mapPhys !== 0) {
    const r = replayWalk(kernel, mapPhys, NO_CLOCK);
    walk = { ok: r.ok, blocks: r.blocks, counters: r.counters };
  }
  return {
    kind: kernel.profile.tracker,
    ranges: topology.ranges.map((r) => ({ ...r })),
    nodes: topology.nodes,
    pfns,
    bytes,
    mapPhys,
    handoff: structuredClone(options.handoff),
    bootOptions: plainBootOptions(options.bootOptions),
    walk,
    boot: null,
  };
}

/** The successor's verdict on the handover, for {@link HandoverCapsule.boot}. */
export function bootOutcome(successor: Kernel | null): BootOutcome {
  if (successor === null) return { verdict: "failed", retrieve: null };
  // kho_memory_init walks exactly when kho_populate accepted the handover.
  const r = successor.boot.retrieve;
  return {
    verdict: r !== undefined ? "ok" : "refused",
    retrieve: r ? { ok: r.ok, blocks: r.blocks, bytes: r.bytes } : null,
  };
}

/** The buffers of a capsule, for `postMessage`'s transfer list. */
export function capsuleBuffers(capsule: TimingCapsule): ArrayBuffer[] {
  const arrays: ArrayBufferView[] = [];
  const t = capsule.tracker;
  if (t) {
    for (const o of [t.before, t.ops]) arrays.push(o.pfns, o.orders, o.ops);
  }
  const h = capsule.handover;
  if (h) arrays.push(h.pfns, h.bytes);
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

/** Bytes a capsule holds (its typed arrays). */
export function capsuleBytes(capsule: TimingCapsule): number {
  return capsuleBuffers(capsule).reduce((n, b) => n + b.byteLength, 0);
}
