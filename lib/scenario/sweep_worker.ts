/**
 * The Deno worker of {@link runSweep}: receives a {@link SweepPoint}, runs it and posts
 * `{ index, row }` back. A worker is an entry point of its own thread: it hands its points
 * the wall clock (`runSweep` only uses workers when its caller passed `wallClock`), and it
 * imports the design modules a point names before running it (a design that fails to load
 * gives the point an error row).
 *
 * @module
 */

import { loadDesign } from "../design/load.ts";
import { wallClock } from "../rng.ts";
import { runPoint, type SweepPoint } from "./sweep.ts";

/** The worker's global scope (a dedicated worker). */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<SweepPoint>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (e: MessageEvent<SweepPoint>) => {
  const point = e.data;
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
    });
    return;
  }
  scope.postMessage({ index: point.index, row: runPoint(point, wallClock) });
};
