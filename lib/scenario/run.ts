/**
 * Runs one scenario for one profile and returns its {@link MetricsRow}: build, preserve
 * (counters and clock around the region), write the scenario manifest (the harness's own
 * handover, `./manifest.ts`), finalize where the generation has one, measure the outgoing
 * state, replay the successor's walk on the handed-over bytes (for `walkMs`), kexec, measure
 * the successor, read the manifest from the successor's memory and restore and verify every
 * section of it.
 *
 * The successor knows only bytes: after kexec nothing of the first kernel's workload objects
 * is consulted; what to restore and the content hashes to compare come from the manifest (and
 * memfd files from LUO, by session name and token). The only figure the harness carries is
 * the count of objects the generation could preserve, for its own accounting when the
 * successor cannot read the manifest (every one is then lost). Objects a generation cannot
 * preserve at all are `unsupported` (with the reason), never lost. The manifest's blocks are preserved memory and appear in the outgoing metrics;
 * `manifestBlocks` and `manifestBytes` report them.
 *
 * A run never throws for what the kernel does: errno values, refused handovers and kernel
 * panics end up in `status` and `errors`.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { KernelPanic } from "../kernel/panic.ts";
import type { Kernel } from "../boot/kernel.ts";
import { getProfile, PROFILE_NAMES, type ProfileName } from "../kho/profiles.ts";
import { trackerAvailable } from "../kho/trackers/registry.ts";
import {
  collectOutgoing,
  collectSuccessor,
  costMetrics,
  type DrawnDomain,
  replayWalk,
} from "../metrics/collect.ts";
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

/** What to run. */
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
   * Clock for the wall-clock metrics (required: the outermost caller hands in `wallClock`, a
   * test a `ManualClock`).
   */
  clock: Clock;
  /**
   * Called just before kexec, after the outgoing state was measured: the place to corrupt
   * memory (e.g. a manifest chunk) or to check that the successor needs nothing of the
   * first kernel's objects. Not timed.
   */
  beforeKexec?: (context: BeforeKexecContext) => void;
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

/** A run's row and, for inspection, the kernels it used. */
export interface RunResult {
  /** The metrics. */
  row: MetricsRow;
  /** The built scenario (its first kernel is dead after kexec). */
  instance: ScenarioInstance;
  /** The successor, when kexec booted one. */
  successor: Kernel | null;
}

/** Profiles whose tracker kholab implements in both directions, in profile-table order. */
export function availableProfiles(): ProfileName[] {
  return PROFILE_NAMES.filter((p) => trackerAvailable(getProfile(p).tracker));
}

/**
 * Runs a scenario for a profile and returns the row (see `docs/metrics.md`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runScenario } from "./run.ts";
 * import { ManualClock } from "../rng.ts";
 * const { row } = runScenario({
 *   scenario: "uniform", profile: "kho-v4", params: { ramBytes: "2G", pages: 100 },
 *   clock: new ManualClock(), // wall-clock metrics read 0: the row is deterministic
 * });
 * assert.ok(row.status === "ok" && row.lostObjects === 0 && row.walkMs === 0);
 * ```
 */
export function runScenario(options: RunOptions): RunResult {
  const clock = options.clock;
  const seed = options.seed ?? 1;
  const profile = getProfile(options.profile);
  const t0 = clock.nowMs();
  const inst = buildScenario(options.scenario, {
    profile: profile.name,
    params: options.params,
    seed,
  });
  const buildMs = clock.nowMs() - t0;
  const { kernel: k1, tally } = inst;
  const row: MetricsRow = {
    scenario: inst.scenario,
    profile: profile.name,
    tracker: profile.tracker,
    seed,
    params: JSON.stringify(inst.params),
  };
  const out = k1.kho.out;
  if (out === null) {
    tally.error("kho", new Error("KHO disabled in the first kernel"));
    return {
      row: finish(row, { status: "error", tally, buildMs }),
      instance: inst,
      successor: null,
    };
  }

  // Preserve.
  const c = out.tracker.counters;
  const before = c.snapshot();
  const tp = clock.nowMs();
  const sections = inst.workloads.map((w) => w.preserve(k1, tally));
  const preserveMs = clock.nowMs() - tp;
  const preserveCost = c.since(before);

  // The harness's handover (outside the timed region and the preserve counters).
  let manifest: ManifestWriteResult | null = null;
  try {
    manifest = writeScenarioManifest(k1, sections);
  } catch (e) {
    tally.error("manifest", e);
  }
  // What the successor could lose: every object but those the generation cannot preserve.
  const attempted = sections.reduce(
    (n, s) => n + s.attempted - (s.unsupported?.count ?? 0),
    0,
  );

  // Finalize (generations that have one).
  let finalizeMs = 0;
  const beforeSer = c.snapshot();
  let finalized = profile.finalize === "none";
  if (!finalized) {
    const tf = clock.nowMs();
    try {
      k1.kho.finalize();
      finalized = true;
    } catch (e) {
      tally.error("finalize", e);
    }
    finalizeMs = clock.nowMs() - tf;
  }
  const serCost = c.since(beforeSer);

  // At kexec time.
  const outgoing = collectOutgoing(k1, drawnDomains(inst, sections));
  const replay = outgoing.mapPhys !== 0 ? replayWalk(k1, outgoing.mapPhys, clock) : null;
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

  // kexec and the successor's boot.
  let k2: Kernel;
  const tb = clock.nowMs();
  try {
    k2 = k1.kexec({ ...inst.bootOptions, finalizeAtKexec: !finalized, clock });
  } catch (e) {
    tally.error("kexec", e instanceof KernelPanic ? new Error("KernelPanic") : e);
    return {
      row: finish(row, {
        status: "error",
        tally,
        buildMs,
        preserveMs,
        finalizeMs,
        walkMs: replay?.ms,
      }),
      instance: inst,
      successor: null,
    };
  }
  const bootMs = clock.nowMs() - tb;
  Object.assign(row, collectSuccessor(k2));

  // Restore and verify, from the manifest's bytes only.
  let restoreMs = 0;
  if (k2.kho.isKhoBoot) restoreMs = restoreScenario(k2, tally, { attempted, clock });
  else {
    tally.error("boot", new Error(k2.boot.revivalRefused ?? "no KHO boot"));
    tally.lostObjects += attempted;
  }
  // The struct-page cost of bringing it back: counts, then per-phase estimates.
  Object.assign(row, structPageMetrics(k2));
  Object.assign(row, structPageTimes(row, measureStructPageCosts(clock)));
  const status = !k2.kho.isKhoBoot
    ? "refused"
    : tally.lostObjects > 0 || tally.preserveFailures > 0
    ? "lost"
    : tally.unsupportedObjects > 0
    ? "unsupported"
    : "ok";
  return {
    row: finish(row, {
      status,
      tally,
      buildMs,
      preserveMs,
      finalizeMs,
      walkMs: replay?.ms ?? 0,
      bootMs,
      restoreMs,
    }),
    instance: inst,
    successor: k2,
  };
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
 * restores and verifies every section ({@link restoreSection}); returns the milliseconds of
 * the restores (the manifest read is not timed). When the manifest cannot be read, the
 * error is tallied as `manifest:ERRNO` and the `attempted` objects count as lost.
 */
export function restoreScenario(
  kernel: Kernel,
  tally: Tally,
  options: { attempted: number; clock: Clock },
): number {
  const clock = options.clock;
  const m = readScenarioManifest(kernel);
  if (!m.ok) {
    tally.error("manifest", new KhoError(m.errno, m.reason));
    tally.lostObjects += options.attempted;
    return 0;
  }
  const tr = clock.nowMs();
  for (const s of m.sections) restoreSection(kernel, s, tally);
  return clock.nowMs() - tr;
}

function finish(
  row: MetricsRow,
  f: {
    status: string;
    tally: ScenarioInstance["tally"];
    buildMs: number;
    preserveMs?: number;
    finalizeMs?: number;
    walkMs?: number;
    bootMs?: number;
    restoreMs?: number;
  },
): MetricsRow {
  const t = f.tally;
  const r3 = (x: number | undefined) => Math.round((x ?? 0) * 1000) / 1000;
  return {
    ...row,
    status: f.status,
    errors: t.errorText(),
    unsupported: t.unsupportedText(),
    unsupportedObjects: t.unsupportedObjects,
    restoredBlocks: t.restoredBlocks,
    restoreFailures: t.restoreFailures,
    lostObjects: t.lostObjects,
    buildMs: r3(f.buildMs),
    preserveMs: r3(f.preserveMs),
    finalizeMs: r3(f.finalizeMs),
    walkMs: r3(f.walkMs),
    bootMs: r3(f.bootMs),
    restoreMs: r3(f.restoreMs),
  };
}
