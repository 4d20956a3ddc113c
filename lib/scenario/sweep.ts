/**
 * Sweeps: one scenario parameter over a list of values, crossed with profiles, one
 * {@link MetricsRow} per (value, profile). Points run in parallel on Deno workers
 * (`sweep_worker.ts`); the point order is fixed (values outer, profiles inner) and every
 * point's seed is derived from the sweep seed and the value's index, so the rows are the
 * same for any worker count (apart from the wall-clock metrics) and every profile of a point
 * sees exactly the same placements.
 *
 * @module
 */

import { getProfile, type ProfileName } from "../kho/profiles.ts";
import type { MetricsRow } from "../metrics/metrics.ts";
import { type Clock, wallClock } from "../rng.ts";
import { availableProfiles, runScenario } from "./run.ts";
import { getScenario, type ParamValue, pointSeed, resolveParams } from "./scenarios.ts";
import { defaultMemoryBudget, estimate, MemoryBudget } from "../machine/host_memory.ts";
import { scenarioMemory } from "./scenario_memory.ts";

/** What to sweep. */
export interface SweepOptions {
  /** Scenario name. */
  scenario: string;
  /** Parameters common to every point (values or text). */
  params?: Readonly<Record<string, ParamValue>>;
  /** The swept parameter; absent: a single point with `params`. */
  param?: string;
  /** Its values (values or text), in order. */
  values?: readonly ParamValue[];
  /** Profiles, in order. Default: every profile whose tracker is available. */
  profiles?: readonly ProfileName[];
  /** Sweep seed. Default 1. */
  seed?: number;
  /**
   * Deno workers. Default `navigator.hardwareConcurrency`; 0 runs every point in this thread
   * (no workers).
   */
  workers?: number;
  /** Called as each row arrives (in completion order). */
  onRow?: (row: MetricsRow, done: number, total: number) => void;
  /**
   * Host memory the sweep may take at once (`--max-memory`): the points running together
   * (one per worker) must fit it by their estimates (`./scenario_memory.ts`), checked before
   * anything runs. Absent: each point must fit half of V8's heap limit (its isolate's).
   */
  maxMemoryBytes?: number;
  /**
   * Clock for the wall-clock metrics. A point on a worker reads that worker's `wallClock`
   * (a clock object cannot cross to a worker), so with workers the clock must be `wallClock`;
   * any other clock (a `ManualClock`) needs `workers: 0`.
   */
  clock: Clock;
}

/** One point of a sweep: a parameter value and a profile. */
export interface SweepPoint {
  /** Row index (the result order). */
  index: number;
  /** Index of the parameter value (the seed is derived from it). */
  pointIndex: number;
  /** Scenario. */
  scenario: string;
  /** Profile. */
  profile: ProfileName;
  /** Parameters of the point. */
  params: Record<string, ParamValue>;
  /** Seed of the point. */
  seed: number;
  /** Swept parameter name, or "". */
  sweepParam: string;
  /** The value at this point as text, or "". */
  sweepValue: string;
}

/**
 * The points of a sweep, in result order: values outer, profiles inner. Every point's
 * parameters are checked first (`resolveParams`): an unknown parameter or a bad value throws
 * (RangeError, SyntaxError) naming the value, before anything runs.
 */
export function sweepPoints(options: Omit<SweepOptions, "clock">): SweepPoint[] {
  getScenario(options.scenario);
  const profiles = (options.profiles ?? availableProfiles()).map((p) => getProfile(p).name);
  const values: (ParamValue | undefined)[] = options.param === undefined
    ? [undefined]
    : [...(options.values ?? [])];
  const seed = options.seed ?? 1;
  const out: SweepPoint[] = [];
  values.forEach((v, pointIndex) => {
    const params: Record<string, ParamValue> = { ...options.params };
    if (options.param !== undefined && v !== undefined) params[options.param] = v;
    try {
      resolveParams(options.scenario, params);
    } catch (e) {
      if (options.param === undefined || v === undefined) throw e;
      const err = e as Error;
      const at = `--values ${options.param}=${v}: `;
      throw err instanceof SyntaxError ? new SyntaxError(at + err.message) : new RangeError(
        at + err.message,
      );
    }
    for (const profile of profiles) {
      out.push({
        index: out.length,
        pointIndex,
        scenario: options.scenario,
        profile,
        params: { ...params },
        seed: pointSeed(seed, pointIndex),
        sweepParam: options.param ?? "",
        sweepValue: v === undefined ? "" : String(v),
      });
    }
  });
  return out;
}

/**
 * Runs one point with `clock`; never throws (an exception becomes a row with status `error`).
 */
export function runPoint(point: SweepPoint, clock: Clock): MetricsRow {
  const head: MetricsRow = {
    pointIndex: point.pointIndex,
    sweepParam: point.sweepParam,
    sweepValue: point.sweepValue,
  };
  try {
    const { row } = runScenario({
      scenario: point.scenario,
      profile: point.profile,
      params: point.params,
      seed: point.seed,
      clock,
    });
    return { ...head, ...row };
  } catch (e) {
    return {
      scenario: point.scenario,
      profile: point.profile,
      tracker: getProfile(point.profile).tracker,
      seed: point.seed,
      ...head,
      params: JSON.stringify(point.params),
      status: "error",
      errors: `run:${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
    };
  }
}

/**
 * Refuses a sweep whose points do not fit the memory budget: with `budgetBytes`, the
 * `workers` points running together (the largest estimates) plus what this thread uses; without,
 * each point against the default budget of its isolate. Throws `HostMemoryError` naming the
 * largest point and its estimate.
 */
export function checkSweepMemory(
  points: readonly SweepPoint[],
  workers: number,
  budgetBytes?: number,
): void {
  if (points.length === 0) return;
  const sized = points.map((p) => ({ p, e: scenarioMemory(p.scenario, p.params) }));
  sized.sort((a, b) => b.e.bytes - a.e.bytes);
  const top = sized[0];
  const what = `${top.p.scenario} (${top.p.profile}${
    top.p.sweepParam ? `, ${top.p.sweepParam}=${top.p.sweepValue}` : ""
  })`;
  if (budgetBytes === undefined) {
    new MemoryBudget(defaultMemoryBudget(), () => 0).check(`scenario ${what}`, top.e);
    return;
  }
  const together = Math.max(1, workers);
  const sum = sized.slice(0, together).reduce((s, x) => s + x.e.bytes, 0);
  const e = together === 1 ? top.e : estimate(
    sum,
    `${together} points at once on workers, the largest ${top.e.detail}`,
  );
  new MemoryBudget(budgetBytes).check(`scenario ${what}`, e);
}

/** Default worker count: the machine's cores. */
export function defaultWorkers(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/**
 * Runs a sweep and returns its rows in point order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runSweep } from "./sweep.ts";
 * import { ManualClock } from "../rng.ts";
 * const rows = await runSweep({
 *   scenario: "uniform", params: { ramBytes: "2G" }, param: "pages", values: [10, 100],
 *   profiles: ["kho-v4"], workers: 0, clock: new ManualClock(),
 * });
 * assert.equal(rows.length, 2);
 * assert.equal(rows[1].sweepValue, "100");
 * ```
 */
export async function runSweep(options: SweepOptions): Promise<MetricsRow[]> {
  const points = sweepPoints(options);
  const rows: MetricsRow[] = new Array(points.length);
  const workers = Math.min(options.workers ?? defaultWorkers(), points.length);
  checkSweepMemory(points, workers, options.maxMemoryBytes);
  if (workers > 0 && options.clock !== wallClock) {
    throw new RangeError("runSweep: points on workers read the wall clock; use workers: 0");
  }
  let done = 0;
  const deliver = (i: number, row: MetricsRow) => {
    rows[i] = row;
    done++;
    options.onRow?.(row, done, points.length);
  };
  if (workers <= 0) {
    for (const pt of points) deliver(pt.index, runPoint(pt, options.clock));
    return rows;
  }
  let next = 0;
  const url = new URL("./sweep_worker.ts", import.meta.url).href;
  const lanes = Array.from({ length: workers }, () =>
    new Promise<void>((resolve, reject) => {
      const w = new Worker(url, { type: "module" });
      const feed = () => {
        if (next >= points.length) {
          w.terminate();
          resolve();
          return;
        }
        w.postMessage(points[next++]);
      };
      w.onmessage = (e: MessageEvent<{ index: number; row: MetricsRow }>) => {
        deliver(e.data.index, e.data.row);
        feed();
      };
      w.onerror = (e) => {
        e.preventDefault();
        w.terminate();
        reject(new Error(`sweep worker failed: ${e.message}`));
      };
      feed();
    }));
  await Promise.all(lanes);
  return rows;
}
