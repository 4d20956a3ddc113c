/**
 * The Deno worker of `runSweep` (`./sweep.ts`): receives a {@link SweepPoint}, imports the
 * design modules it names, runs its deterministic part (no clock is read here) and posts its
 * row and the recording of its timed regions back, the recording's buffers transferred. The
 * timed replays run in the sweep's own thread. A design that fails to load gives the point an
 * error row. Once every point is timed, it runs the sweep's after-jobs (`afterJobs`) the same
 * way: the module imported, the job run, its result posted back.
 *
 * @module
 */

import { loadDesign } from "../design/load.ts";
import { capsuleBuffers } from "../metrics/capsule.ts";
import { type AfterJobResult, errorPoint, runPointUntimed, type SweepPoint } from "./sweep.ts";

/** The worker's global scope (a dedicated worker). */
const scope = self as unknown as {
  onmessage:
    | ((e: MessageEvent<{ point: SweepPoint; capture: boolean } | AfterJobMessage>) => void)
    | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

/** An after-job (`SweepOptions.afterJobs`): the module to import, the job, its index. */
interface AfterJobMessage {
  afterJob: { module: string; job: unknown; index: number };
}

scope.onmessage = async (e) => {
  if ("afterJob" in e.data) {
    const { module, job, index } = e.data.afterJob;
    let out: AfterJobResult;
    try {
      const m = await import(module) as { runAfterJob(job: unknown): unknown };
      out = { afterIndex: index, result: await m.runAfterJob(job) };
    } catch (err) {
      out = { afterIndex: index, error: err instanceof Error ? err.message : String(err) };
    }
    scope.postMessage(out, []);
    return;
  }
  const point = e.data.point;
  try {
    for (const url of point.designs ?? []) await loadDesign(url);
  } catch (err) {
    const why = `design:${err instanceof Error ? err.message : String(err)}`;
    scope.postMessage(errorPoint(point, why), []);
    return;
  }
  const r = runPointUntimed(point, e.data.capture);
  scope.postMessage(r, capsuleBuffers(r.capsule));
};
