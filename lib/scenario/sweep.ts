/**
 * Sweeps: one scenario parameter over a list of values, crossed with profiles, one
 * {@link MetricsRow} per (value, profile). The point order is fixed (values outer, profiles
 * inner) and every point's seed is derived from the sweep seed and the value's index, so the
 * rows are the same for any worker count (apart from the wall-clock figures) and every profile
 * of a point sees exactly the same placements.
 *
 * A sweep runs in two stages, so that no wall-clock figure is measured while other sweep
 * points run on the same cores:
 *
 * 1. **Runs**, in parallel on Deno workers (`sweep_worker.ts`): each point's deterministic run
 *    (`runUntimed`), which reads no clock, and the recording its timed replays need (a
 *    `TimingCapsule`, transferred back with the row). Each point gets a fresh worker, so that
 *    what a finished run left on its heap goes with its worker (a 1 TiB run leaves hundreds of
 *    MiB for the collector). A worker is a thread with its own
 *    tables: the design modules that define the sweep's profiles (`lib/design/load.ts`)
 *    travel with each point as URLs and the worker imports them before running it.
 * 2. **Timed replays**, in this thread, one point at a time in point order, once no point is
 *    running: each timed region `repeat` times after `warmup` (`lib/metrics/replay.ts`).
 *
 * When the recordings held exceed `maxPendingBytes`, or `maxPendingPoints` points wait for
 * their replays, no new point starts; once the running ones are done their replays run, then
 * the sweep goes on. Without timed regions (`repeat: 0`) a row is complete as its run ends.
 *
 * `indices` runs part of a sweep (a shard: `./shard.ts`): the points keep their index, seed and
 * parameters, so each row is the one the whole sweep would give.
 *
 * @module
 */

import { getProfile, type ProfileName } from "../kho/profiles.ts";
import { capsuleBytes, type TimingCapsule } from "../metrics/capsule.ts";
import type { MetricsRow } from "../metrics/metrics.ts";
import { designModules } from "../design/load.ts";
import { DEFAULT_WARMUP } from "../metrics/replay.ts";
import type { Clock } from "../rng.ts";
import { availableProfiles, DEFAULT_REPEAT, runUntimed, withTimings } from "./run.ts";
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
   * Deno workers for the runs. Default `navigator.hardwareConcurrency`; 0 runs every point in
   * this thread (no workers).
   */
  workers?: number;
  /** Timed samples per region and point (default `DEFAULT_REPEAT`; 0: no wall-clock figures). */
  repeat?: number;
  /** Untimed replays of each region first. Default `DEFAULT_WARMUP` (3). */
  warmup?: number;
  /** Bytes of recordings held before the sweep stops to replay them. Default 512 MiB. */
  maxPendingBytes?: number;
  /**
   * Points whose rows may wait for their timed replays before the sweep stops to replay them
   * (a shard keeps it small, so that an interrupted shard loses few rows). Default: no limit.
   */
  maxPendingPoints?: number;
  /**
   * The row indices to run, a subset of the points (a shard, or the points a shard has not
   * done yet); default every point. Rows come back for these only, in index order.
   */
  indices?: readonly number[];
  /**
   * Called as each row is complete (timings included): `done` of `total` points run by this
   * call, `index` the row's index in the sweep. With timings, in point order within a batch of
   * replays; without (`repeat: 0`), as each run ends.
   */
  onRow?: (row: MetricsRow, done: number, total: number, index: number) => void;
  /** Called as points start and end their run and their timed replays (progress, tests). */
  onEvent?: (event: SweepEvent) => void;
  /**
   * Host memory the sweep may take at once (`--max-memory`): the points running together
   * (one per worker) must fit it by their estimates (`./scenario_memory.ts`), checked before
   * anything runs. Absent: each point must fit half of V8's heap limit (its isolate's).
   */
  maxMemoryBytes?: number;
  /** Clock of the timed replays (this thread's; `wallClock` from an entry point). */
  clock: Clock;
  /**
   * Untimed work to do once every point is timed, on the sweep's workers (in this thread
   * without workers): each job is handed to the `runAfterJob(job)` export of `module` (a
   * module URL; the job and its result are structured-cloned) in a worker of its own (its heap
   * freed with it), results in job order. A report inspects its kexecs this way, two at a time
   * on two cores.
   */
  afterJobs?: AfterJobs;
}

/** Jobs run after a sweep's points ({@link SweepOptions.afterJobs}). */
export interface AfterJobs {
  /** URL of a module exporting `runAfterJob(job: unknown): unknown`. */
  readonly module: string;
  /** The jobs, in order. */
  readonly jobs: readonly unknown[];
  /** Receives each result as it arrives. */
  readonly onResult: (index: number, result: unknown) => void;
}

/** A module of after-jobs: `runAfterJob`. */
interface AfterJobModule {
  runAfterJob(job: unknown): unknown;
}

/**
 * A stage of one sweep point: its run started (`run-start`, handed to a worker or started in
 * this thread) or ended (`run-end`, its row and recording received); its timed replays started
 * or ended (`time-start`, `time-end`; none with `repeat: 0`).
 */
export interface SweepEvent {
  /** What happened. */
  readonly type: "run-start" | "run-end" | "time-start" | "time-end";
  /** Index of the point (its row). */
  readonly index: number;
  /** Points this call runs (the sweep's, or those of `indices`). */
  readonly total: number;
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
  /** Design modules (URLs) a worker loads before running the point (none for built-ins). */
  designs?: readonly string[];
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

/** What a worker posts back for an after-job. */
export interface AfterJobResult {
  /** The job's index. */
  afterIndex: number;
  /** Its result. */
  result?: unknown;
  /** The message of the exception it threw, if it did. */
  error?: string;
}

/** A point's deterministic row and the recording of its timed regions. */
export interface UntimedPoint {
  /** Row index. */
  index: number;
  /** The row without wall-clock figures. */
  row: MetricsRow;
  /** What the timed replays need. */
  capsule: TimingCapsule;
}

/**
 * Runs one point's deterministic part (no clock is read); never throws (an exception becomes
 * a row with status `error`). `capture`: record what the timed replays need.
 */
export function runPointUntimed(point: SweepPoint, capture: boolean): UntimedPoint {
  const head: MetricsRow = {
    pointIndex: point.pointIndex,
    sweepParam: point.sweepParam,
    sweepValue: point.sweepValue,
  };
  try {
    const { row, capsule } = runUntimed({
      scenario: point.scenario,
      profile: point.profile,
      params: point.params,
      seed: point.seed,
      capture,
    });
    return { index: point.index, row: { ...head, ...row }, capsule };
  } catch (e) {
    const errors = `run:${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    return errorPoint(point, errors, getProfile(point.profile).tracker);
  }
}

/**
 * The row of a point that did not run (`errors` says why): what identifies it, status `error`
 * (its profile's `tracker` when known).
 */
export function errorPoint(point: SweepPoint, errors: string, tracker?: string): UntimedPoint {
  return {
    index: point.index,
    row: {
      scenario: point.scenario,
      profile: point.profile,
      ...(tracker === undefined ? {} : { tracker }),
      seed: point.seed,
      pointIndex: point.pointIndex,
      sweepParam: point.sweepParam,
      sweepValue: point.sweepValue,
      params: JSON.stringify(point.params),
      status: "error",
      errors,
    },
    capsule: { tracker: null, handover: null },
  };
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

/** A whole number ≥ `min`, or a RangeError naming the option. */
function count(name: string, v: number | undefined, fallback: number, min: number): number {
  const n = v ?? fallback;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`runSweep: ${name}=${v} is not a whole number ≥ ${min}`);
  }
  return n;
}

/**
 * Runs a sweep and returns its rows in point order (see the module doc for its two stages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runSweep } from "./sweep.ts";
 * import { ManualClock } from "../rng.ts";
 * const rows = await runSweep({
 *   scenario: "uniform", params: { ramBytes: "2G" }, param: "pages", values: [10, 100],
 *   profiles: ["kho-v4"], workers: 0, clock: new ManualClock(), repeat: 3,
 * });
 * assert.equal(rows.length, 2);
 * assert.equal(rows[1].sweepValue, "100");
 * assert.equal(rows[1]["walkMs.n"], 3);
 * ```
 */
export async function runSweep(options: SweepOptions): Promise<MetricsRow[]> {
  const all = sweepPoints(options);
  const points = options.indices === undefined ? all : selectPoints(all, options.indices);
  const total = points.length;
  const repeat = count("repeat", options.repeat, DEFAULT_REPEAT, 0);
  const warmup = count("warmup", options.warmup, DEFAULT_WARMUP, 0);
  const budget = count("maxPendingBytes", options.maxPendingBytes, 512 * 2 ** 20, 0);
  const maxPending = options.maxPendingPoints === undefined
    ? Infinity
    : count("maxPendingPoints", options.maxPendingPoints, 0, 1);
  const workers = Math.min(count("workers", options.workers, defaultWorkers(), 0), total);
  const capture = repeat > 0;
  const emit = (type: SweepEvent["type"], index: number) =>
    options.onEvent?.({ type, index, total });
  const rows = new Map<number, MetricsRow>();
  let pending: UntimedPoint[] = [];
  let pendingBytes = 0;
  checkSweepMemory(points, workers, options.maxMemoryBytes);
  let done = 0;
  const finish = (index: number, row: MetricsRow) => {
    rows.set(index, row);
    options.onRow?.(row, ++done, total, index);
  };
  const inOrder = () => points.map((p) => rows.get(p.index)!);
  const received = (p: UntimedPoint) => {
    emit("run-end", p.index);
    if (!capture) return finish(p.index, p.row); // nothing to time: the row is complete
    pending.push(p);
    pendingBytes += capsuleBytes(p.capsule);
  };
  const mustReplay = () => pendingBytes > budget || pending.length >= maxPending;
  // Only called when no point runs: the timed regions have the cores to themselves.
  const replayPending = () => {
    const batch = pending.sort((a, b) => a.index - b.index);
    pending = [];
    pendingBytes = 0;
    for (const p of batch) {
      emit("time-start", p.index);
      const row = capture
        ? withTimings(p.row, p.capsule, { clock: options.clock, repeat, warmup })
        : p.row;
      emit("time-end", p.index);
      finish(p.index, row);
    }
  };
  const after = options.afterJobs;
  if (workers <= 0) {
    for (const pt of points) {
      emit("run-start", pt.index);
      received(runPointUntimed(pt, capture));
      if (mustReplay()) replayPending();
    }
    replayPending();
    if (after !== undefined && after.jobs.length > 0) {
      const m = await import(after.module) as AfterJobModule;
      after.jobs.forEach((job, i) => after.onResult(i, m.runAfterJob(job)));
    }
    return inOrder();
  }
  // the modules defining the sweep's design profiles, for the workers to load (RangeError for a
  // design defined in this thread without a module file: it cannot reach a worker)
  const designs = designModules([...new Set(points.map((p) => p.profile))]);
  for (const p of points) p.designs = designs;
  const url = new URL("./sweep_worker.ts", import.meta.url).href;
  const afterTotal = after?.jobs.length ?? 0;
  let pool = Array.from({ length: workers }, () => new Worker(url, { type: "module" }));
  let idle = [...pool];
  let next = 0;
  let running = 0;
  let nextAfter = -1; // -1: the points' stage
  let afterDone = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const pump = () => {
        if (nextAfter >= 0) {
          // after-jobs: every point is timed, nothing else runs
          while (idle.length > 0 && nextAfter < afterTotal) {
            const i = nextAfter++;
            idle.pop()!.postMessage({
              afterJob: { module: after!.module, job: after!.jobs[i], index: i },
            });
          }
          if (afterDone === afterTotal) resolve();
          return;
        }
        while (
          idle.length > 0 && next < total && pendingBytes <= budget &&
          pending.length + running < maxPending
        ) {
          const pt = points[next++];
          running++;
          emit("run-start", pt.index);
          idle.pop()!.postMessage({ point: pt, capture });
        }
        if (running > 0) return;
        if (next >= total) {
          // the timed replays with no worker alive (their heaps freed), then the after-jobs
          // on a fresh pool
          for (const w of pool) w.terminate();
          replayPending();
          if (afterTotal === 0) return resolve();
          pool = Array.from({ length: Math.min(workers, afterTotal) }, () => spawn());
          idle = [...pool];
          nextAfter = 0;
          pump();
        } else {
          replayPending(); // over budget, nothing running
          pump();
        }
      };
      const spawn = () => {
        const w = new Worker(url, { type: "module" });
        listen(w);
        return w;
      };
      /** A fresh worker in `w`'s place: a finished run's or job's heap goes with its worker. */
      const replace = (w: Worker) => {
        w.terminate();
        const fresh = spawn();
        pool = pool.map((x) => x === w ? fresh : x);
        idle.push(fresh);
      };
      const listen = (w: Worker) => {
        w.onmessage = (e: MessageEvent<UntimedPoint | AfterJobResult>) => {
          if ("afterIndex" in e.data) {
            const r = e.data;
            if (nextAfter < afterTotal) replace(w);
            else w.terminate();
            try {
              if (r.error !== undefined) throw new Error(r.error);
              after!.onResult(r.afterIndex, r.result);
              afterDone++;
              pump();
            } catch (err) {
              reject(err);
            }
            return;
          }
          running--;
          received(e.data);
          replace(w);
          try {
            pump();
          } catch (err) {
            reject(err);
          }
        };
        w.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`sweep worker failed: ${e.message}`));
        };
      };
      for (const w of pool) listen(w);
      pump();
    });
  } finally {
    for (const w of pool) w.terminate();
  }
  return inOrder();
}

/** The points at `indices` (each a row index of the sweep, once), in index order. */
function selectPoints(points: readonly SweepPoint[], indices: readonly number[]): SweepPoint[] {
  const seen = new Set<number>();
  for (const i of indices) {
    if (!Number.isSafeInteger(i) || i < 0 || i >= points.length) {
      throw new RangeError(
        `runSweep: index ${i} is not a point of this sweep (0..${points.length - 1})`,
      );
    }
    if (seen.has(i)) throw new RangeError(`runSweep: index ${i} given twice`);
    seen.add(i);
  }
  return points.filter((p) => seen.has(p.index));
}
