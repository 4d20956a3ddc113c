/**
 * The Deno worker of `runSweep` (`./sweep.ts`): receives a {@link SweepPoint}, imports the
 * design modules it names, runs its deterministic part (no clock is read here) and posts its
 * row and the recording of its timed regions back, the recording's buffers transferred. The
 * timed replays run in the sweep's own thread. A design that fails to load gives the point an
 * error row.
 *
 * @module
 */

import { loadDesign } from "../design/load.ts";
import { capsuleBuffers } from "../metrics/capsule.ts";
import { runPointUntimed, type SweepPoint } from "./sweep.ts";

/** The worker's global scope (a dedicated worker). */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<{ point: SweepPoint; capture: boolean }>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

scope.onmessage = async (e) => {
  const point = e.data.point;
  try {
    for (const url of point.designs ?? []) await loadDesign(url);
  } catch (err) {
    scope.postMessage({
      index: point.index,
      row: {
        scenario: point.scenario,
        profile: point.profile,
        pointIndex: point.pointIndex,
        sweepParam: point.sweepParam,
        sweepValue: point.sweepValue,
        seed: point.seed,
        params: JSON.stringify(point.params),
        status: "error",
        errors: `design:${err instanceof Error ? err.message : String(err)}`,
      },
      capsule: { tracker: null, handover: null },
    }, []);
    return;
  }
  const r = runPointUntimed(point, e.data.capture);
  scope.postMessage(r, capsuleBuffers(r.capsule));
};
