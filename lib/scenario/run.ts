/**
 * Runs one scenario for one profile and returns its {@link MetricsRow}: build, preserve, write
 * the scenario manifest (the harness's own handover, `./manifest.ts`), finalize where the
 * generation has one, measure the outgoing state, kexec, measure the successor, read the
 * manifest from the successor's memory and restore and verify every section of it.
 *
 * The run itself reads no clock ({@link runUntimed}): its row is deterministic. What the
 * wall-clock figures need — the tracker operations of the preserve calls and of finalize, the
 * handed-over bytes at the instant the successor starts — is recorded in a
 * {@link TimingCapsule}, and {@link runScenario} then replays each timed region after warm-up,
 * `repeat` times (`lib/metrics/replay.ts`); a sweep does the replays one point at a time once
 * no point runs (`./sweep.ts`). The row carries each timing as its median and `NAME.n`,
 * `NAME.median`, `NAME.min`, `NAME.max` (`lib/metrics/timing.ts`).
 *
 * The successor knows only bytes: after kexec nothing of the first kernel's workload objects
 * is consulted; what to restore and the content hashes to compare come from the manifest (and
 * memfd files from LUO, by session name and token). Every attempted object ends in one outcome
 * (`lib/metrics/outcomes.ts`), tallied in the successor from what it finds
 * (`./restore_outcome.ts`): restored, unsupported (the generation lacks the API or capability,
 * with the reason), failedRestore, corrupted or lost — each with its reason — and the row
 * carries them per kind (`outcomes.KIND.*`). The only thing the harness carries across is its
 * own summary of what it attempted per section, for when no section reaches the successor: a
 * refused handover (every preserved object `refused`, with the successor's logged reason), an
 * unreadable manifest or a successor that did not boot (`lost`, saying so). The manifest's
 * blocks are preserved memory and appear in the outgoing metrics; `manifestBlocks` and
 * `manifestBytes` report them.
 *
 * A run never throws for what the kernel does: errno values, refused handovers and kernel
 * panics end up in `status` and `errors`.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { KernelPanic } from "../kernel/panic.ts";
import type { Kernel } from "../boot/kernel.ts";
import { getProfile, type ProfileName, profileNames } from "../kho/profiles.ts";
import { trackerAvailable } from "../kho/trackers/registry.ts";
import {
  collectOutgoing,
  collectSuccessor,
  costMetrics,
  type DrawnDomain,
} from "../metrics/collect.ts";
import {
  bootOutcome,
  type HandoverCapsule,
  recordTrackerOps,
  snapshotHandover,
  type TimingCapsule,
  type TrackerCapsule,
} from "../metrics/capsule.ts";
import { replayTimings } from "../metrics/replay.ts";
import { timingColumns } from "../metrics/timing.ts";
import type { KhoserEra } from "../kho/trackers/khoser.ts";
import type { AbiProfile } from "../kho/profiles.ts";
import { blocksByOrder, costByOrder } from "../metrics/by_order.ts";
import {
  measureStructPageCosts,
  structPageMetrics,
  structPageTimes,
} from "../metrics/struct_pages.ts";
import type { ManifestSection } from "./manifest_abi.ts";
import { PAGE_SIZE } from "../units.ts";
import { formatByOrder, type MetricsRow } from "../metrics/metrics.ts";
import type { Clock } from "../rng.ts";
import {
  type ManifestWriteResult,
  readScenarioManifest,
  writeScenarioManifest,
} from "./manifest.ts";
import { buildScenario, type ParamValue, type ScenarioInstance } from "./scenarios.ts";
import { restoreSection, type Tally } from "./workloads.ts";
import { outcomeColumns } from "../metrics/outcomes.ts";
import {
  type AttemptedSection,
  attemptedSections,
  failureText,
  settleUnread,
} from "./restore_outcome.ts";

/** Timed samples per region when a caller does not say (reports, the demo, `compare`). */
export const DEFAULT_REPEAT = 5;

/** What to run (see {@link runUntimed} for the deterministic part). */
export interface RunOptions {
  /** Scenario name. */
  scenario: string;
  /** Profile of both kernels. */
  profile: ProfileName;
  /** Parameters (values or text), over the scenario's defaults. */
  params?: Readonly<Record<string, ParamValue>>;
  /** Seed. Default 1. */
  seed?: number;
  /**
   * Clock of the timed replays and of {@link RunResult.phaseMs} (required: the outermost
   * caller hands in `wallClock`, a test a `ManualClock`).
   */
  clock: Clock;
  /**
   * Timed samples of each wall-clock region, after warm-up. Default {@link DEFAULT_REPEAT};
   * 0 measures nothing (the row has no wall-clock figures).
   */
  repeat?: number;
  /** Untimed replays of each region before the timed ones. Default `DEFAULT_WARMUP` (3). */
  warmup?: number;
  /**
   * Called just before kexec, after the outgoing state was measured: the place to corrupt
   * memory (e.g. a manifest chunk) or to check that the successor needs nothing of the
   * first kernel's objects.
   */
  beforeKexec?: (context: BeforeKexecContext) => void;
}

/** What {@link runUntimed} takes: {@link RunOptions} without the replays. */
export interface UntimedRunOptions
  extends Pick<RunOptions, "scenario" | "profile" | "params" | "seed" | "beforeKexec"> {
  /** Record what the timed replays need (default true). */
  capture?: boolean;
  /** A clock for {@link RunResult.phaseMs}; without one no clock is read. */
  phaseClock?: Clock;
}

/** What {@link RunOptions.beforeKexec} sees. */
export interface BeforeKexecContext {
  /** The first kernel, about to kexec. */
  kernel: Kernel;
  /** The built scenario. */
  instance: ScenarioInstance;
  /** Where the manifest was written, or null when writing it failed. */
  manifest: ManifestWriteResult | null;
}

/**
 * Wall-clock milliseconds of one run's phases, one sample each, for benchmarks that run one
 * scenario alone (`bench/`): never in a row. `bootMs` is the kexec and the whole successor
 * boot; the recording for the replays is inside the phases it serves.
 */
export interface RunPhases {
  /** Building the scenario: machine, cold boot, allocations. */
  buildMs: number;
  /** Every preserve call of the scenario, clients included. */
  preserveMs: number;
  /** `kho_finalize` (0 where the profile has none). */
  finalizeMs: number;
  /** kexec and the successor's whole boot. */
  bootMs: number;
  /** Restores and content verification in the successor. */
  restoreMs: number;
}

/** A run's row and, for inspection, the kernels it used. */
export interface RunResult {
  /** The metrics. */
  row: MetricsRow;
  /** The built scenario (its first kernel is dead after kexec). */
  instance: ScenarioInstance;
  /** The successor, when kexec booted one. */
  successor: Kernel | null;
  /** This run's phases on the clock (single samples; see {@link RunPhases}). */
  phaseMs: RunPhases;
}

/** What {@link runUntimed} returns: the deterministic row and what the replays need. */
export interface UntimedRunResult extends RunResult {
  /** The recording for {@link replayTimings} (empty when `capture` was false). */
  capsule: TimingCapsule;
}

/** Profiles whose tracker kholab implements in both directions, in profile-table order. */
export function availableProfiles(): ProfileName[] {
  return profileNames().filter((p) => trackerAvailable(getProfile(p).tracker));
}

/**
 * Runs a scenario for a profile and returns the row (see `docs/metrics.md`) with its
 * timings: the deterministic run ({@link runUntimed}), then each timed region replayed
 * `repeat` times after `warmup` ({@link withTimings}), in this thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runScenario } from "./run.ts";
 * import { ManualClock } from "../rng.ts";
 * const { row } = runScenario({
 *   scenario: "uniform", profile: "kho-v4", params: { ramBytes: "2G", pages: 100 },
 *   clock: new ManualClock(), // every sample reads 0: the row is deterministic
 * });
 * assert.ok(row.status === "ok" && row.lostObjects === 0);
 * assert.equal(row["outcomes.folio.restored"], 100); // every page restored and verified
 * assert.equal(row["walkMs.n"], 5); // five samples of the successor's walk, after warm-up
 * assert.equal(row.walkMs, 0); // their median
 * ```
 */
export function runScenario(options: RunOptions): RunResult {
  const repeat = options.repeat ?? DEFAULT_REPEAT;
  if (!Number.isSafeInteger(repeat) || repeat < 0) {
    throw new RangeError(`repeat=${repeat}: a whole number of timed samples (0: none)`);
  }
  const run = runUntimed({
    scenario: options.scenario,
    profile: options.profile,
    params: options.params,
    seed: options.seed,
    capture: repeat > 0,
    phaseClock: options.clock,
    beforeKexec: options.beforeKexec,
  });
  const row = repeat > 0
    ? withTimings(run.row, run.capsule, { clock: options.clock, repeat, warmup: options.warmup })
    : run.row;
  return { row, instance: run.instance, successor: run.successor, phaseMs: run.phaseMs };
}

/**
 * `row` with the timings of `capsule` ({@link replayTimings}): each region's median under its
 * name and its `n`, `median`, `min`, `max`, and the struct-page estimates of a row that reached
 * the successor (`structPageTimes`, unit costs measured `repeat` times); a replay that disagreed with the run adds its
 * problem to `errors` (`timing:REGION: …`) and no timing.
 */
export function withTimings(
  row: MetricsRow,
  capsule: TimingCapsule,
  options: { clock: Clock; repeat: number; warmup?: number },
): MetricsRow {
  const r = replayTimings(capsule, options);
  const errors = [row.errors, ...r.problems].filter((e) => e).join("; ");
  // The successor's struct-page work, estimated from its counts and unit costs measured now.
  const structPages = row.memmapInitStructPages === undefined
    ? {}
    : structPageTimes(row, measureStructPageCosts(options.clock, { repeat: options.repeat }));
  return {
    ...row,
    ...(r.problems.length > 0 ? { errors } : {}),
    ...timingColumns(r.timings),
    ...structPages,
  };
}

/** The `kho_mem_serialize` era of `kho_finalize` in `profile` (as `KhoOut.finalize` runs it). */
function serializeEra(profile: AbiProfile): KhoserEra | null {
  if (profile.finalize === "none") return null;
  if (profile.finalize === "repeatable") return "6.19";
  return profile.kernel === "6.16" ? "6.16" : "6.18";
}

/**
 * The deterministic part of a run: build, preserve, manifest, finalize, kexec, restore,
 * verify — the row without wall-clock figures — and, with `capture`, the
 * {@link TimingCapsule} the replays need. Reads no clock unless given `phaseClock`.
 */
export function runUntimed(options: UntimedRunOptions): UntimedRunResult {
  const clock = options.phaseClock;
  const now = () => clock?.nowMs() ?? 0;
  const capture = options.capture ?? true;
  const seed = options.seed ?? 1;
  const profile = getProfile(options.profile);
  const phaseMs: RunPhases = { buildMs: 0, preserveMs: 0, finalizeMs: 0, bootMs: 0, restoreMs: 0 };
  const capsule: TimingCapsule = { tracker: null, handover: null };
  const t0 = now();
  const inst = buildScenario(options.scenario, {
    profile: profile.name,
    params: options.params,
    seed,
  });
  phaseMs.buildMs = now() - t0;
  const { kernel: k1, tally } = inst;
  const row: MetricsRow = {
    scenario: inst.scenario,
    profile: profile.name,
    tracker: profile.tracker,
    seed,
    params: JSON.stringify(inst.params),
  };
  const result = (status: string, successor: Kernel | null): UntimedRunResult => ({
    row: finish(row, status, tally),
    instance: inst,
    successor,
    phaseMs,
    capsule,
  });
  const out = k1.kho.out;
  if (out === null) {
    tally.error("kho", new Error("KHO disabled in the first kernel"));
    return result("error", null);
  }

  // Preserve (the tracker's operations recorded for the preserveMs replay).
  const c = out.tracker.counters;
  const recording = capture ? recordTrackerOps(out.tracker) : null;
  const before = c.snapshot();
  const tp = now();
  const sections = inst.workloads.map((w) => w.preserve(k1, tally));
  phaseMs.preserveMs = now() - tp;
  const preserveCost = c.since(before);
  const preserveEnd = recording?.length ?? 0;

  // The harness's handover (outside the preserve region and its counters).
  let manifest: ManifestWriteResult | null = null;
  try {
    manifest = writeScenarioManifest(k1, sections);
  } catch (e) {
    tally.error("manifest", e);
  }
  // The harness's own summary of what it attempted, for when no section reaches the successor.
  const attempted = attemptedSections(sections);

  // Finalize (generations that have one).
  const beforeSer = c.snapshot();
  const finalizeStart = recording?.length ?? 0;
  let finalized = profile.finalize === "none";
  if (!finalized) {
    const tf = now();
    try {
      k1.kho.finalize();
      finalized = true;
    } catch (e) {
      tally.error("finalize", e);
    }
    phaseMs.finalizeMs = now() - tf;
  }
  const serCost = c.since(beforeSer);
  if (recording !== null) {
    const finalizeEnd = recording.length;
    const log = recording.stop();
    const era = finalized ? serializeEra(profile) : null;
    if (log !== null) {
      capsule.tracker = {
        kind: profile.tracker,
        memBytes: k1.machine.mem.sizeBytes,
        before: log.before,
        ops: log.ops,
        preserveEnd,
        finalizeStart,
        finalizeEnd,
        serializeEra: era,
        preserveCounters: preserveCost,
        finalizeCounters: era === null ? null : serCost,
      } satisfies TrackerCapsule;
    }
  }

  // At kexec time.
  const outgoing = collectOutgoing(k1, drawnDomains(inst, sections));
  const byOrder = costByOrder(k1.profile.tracker, blocksByOrder(out.tracker));
  Object.assign(row, {
    preserveCalls: tally.preserveCalls,
    preserveFailures: tally.preserveFailures,
    ...outgoing.row,
    manifestBlocks: manifest?.blocks ?? 0,
    manifestBytes: manifest?.bytes ?? 0,
    ...costMetrics("preserve", preserveCost),
    preserveCacheLinesPerBlock: outgoing.row.preservedBlocks
      ? Math.round(preserveCost.cacheLinesRead / (outgoing.row.preservedBlocks as number) * 1000) /
        1000
      : 0,
    ...costMetrics("serialize", serCost),
    handoverBytesByOrder: formatByOrder(
      new Map([...byOrder].map(([o, c]) => [o, c.handoverBytes])),
    ),
    walkCacheLinesByOrder: formatByOrder(
      new Map([...byOrder].map(([o, c]) => [o, c.walkCacheLines])),
    ),
  });

  options.beforeKexec?.({ kernel: k1, instance: inst, manifest });

  // kexec and the successor's boot; the handed-over bytes copied as the successor starts.
  let k2: Kernel;
  const next = { ...inst.bootOptions, finalizeAtKexec: !finalized };
  const taken: { handover: HandoverCapsule | null } = { handover: null };
  let handoffMs = 0;
  const tb = now();
  try {
    k2 = k1.kexec(next, {
      onHandoff: capture
        ? (handoff) => {
          const th = now();
          taken.handover = snapshotHandover(k1, { handoff, bootOptions: next });
          handoffMs = now() - th;
        }
        : undefined,
    });
  } catch (e) {
    tally.error("kexec", e instanceof KernelPanic ? new Error("KernelPanic") : e);
    settleUnread(
      tally.outcomes,
      attempted,
      "lost",
      `the successor did not boot: ${failureText(e).slice(0, 200)}`,
    );
    phaseMs.bootMs = now() - tb - handoffMs;
    capsule.handover = taken.handover && { ...taken.handover, boot: bootOutcome(null) };
    return result("error", null);
  }
  phaseMs.bootMs = now() - tb - handoffMs;
  capsule.handover = taken.handover && { ...taken.handover, boot: bootOutcome(k2) };
  Object.assign(row, collectSuccessor(k2));

  // Restore and verify, from the manifest's bytes only.
  const tr = now();
  if (k2.kho.isKhoBoot) restoreScenario(k2, tally, { attempted });
  else {
    const why = k2.boot.revivalRefused ?? "no KHO boot";
    tally.error("boot", new Error(why));
    settleUnread(
      tally.outcomes,
      attempted,
      "refused",
      `the successor refused the handover: ${why}`,
    );
  }
  phaseMs.restoreMs = now() - tr;
  // The struct-page cost of bringing it back (counts; the per-phase estimates are timings,
  // taken with the replays: withTimings).
  Object.assign(row, structPageMetrics(k2));
  const o = tally.outcomes;
  const status = !k2.kho.isKhoBoot
    ? "refused"
    : o.total("lost") + o.total("failedRestore") + o.total("corrupted") > 0 ||
        tally.preserveFailures > 0
    ? "lost"
    : o.total("unsupported") > 0
    ? "unsupported"
    : "ok";
  return result(status, k2);
}

/**
 * The scenario's placement domains with how many of each domain's drawn blocks were
 * preserved: the pfns of the workload's folio section inside the domain's range.
 */
export function drawnDomains(
  inst: ScenarioInstance,
  sections: readonly ManifestSection[],
): DrawnDomain[] {
  return inst.domains.map((domain) => {
    const s = sections.find((x) => x.name === domain.workload);
    let preserved = 0;
    if (s !== undefined && s.kind === "folio") {
      for (const pfn of s.pfns) {
        const phys = pfn * PAGE_SIZE;
        if (phys >= domain.startBytes && phys < domain.endBytes) preserved++;
      }
    }
    return { domain, preserved };
  });
}

/**
 * The successor's side of a run: reads the scenario manifest from `kernel`'s memory and
 * restores and verifies every section ({@link restoreSection}), each object's outcome in
 * `tally.outcomes`. When the manifest cannot be read, the error is tallied as
 * `manifest:ERRNO` and the harness's `attempted` sections are settled as lost, naming the
 * reason ({@link settleUnread}).
 */
export function restoreScenario(
  kernel: Kernel,
  tally: Tally,
  options: { attempted: readonly AttemptedSection[] },
): void {
  const m = readScenarioManifest(kernel);
  if (!m.ok) {
    tally.error("manifest", new KhoError(m.errno, m.reason));
    settleUnread(
      tally.outcomes,
      options.attempted,
      "lost",
      `the successor could not read the manifest naming it (${m.errno}: ${m.reason})`,
    );
    return;
  }
  for (const s of m.sections) restoreSection(kernel, s, tally);
}

function finish(row: MetricsRow, status: string, t: Tally): MetricsRow {
  const o = t.outcomes;
  return {
    ...row,
    status,
    errors: t.errorText(),
    unsupported: t.unsupportedText(),
    unsupportedObjects: t.unsupportedObjects,
    restoredBlocks: t.restoredBlocks,
    restoreFailures: t.restoreFailures,
    lostObjects: t.lostObjects,
    attemptedObjects: o.total("attempted"),
    restoredObjects: o.total("restored"),
    refusedObjects: o.total("refused"),
    corruptedObjects: o.total("corrupted"),
    ...outcomeColumns(o.outcomes()),
  };
}
