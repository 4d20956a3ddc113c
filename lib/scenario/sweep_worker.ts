/**
 * The Deno worker of {@link runSweep}: receives a {@link SweepPoint}, runs it and posts
 * `{ index, row }` back. A worker is an entry point of its own thread: it hands its points
 * the wall clock (`runSweep` only uses workers when its caller passed `wallClock`).
 *
 * @module
 */

import { wallClock } from "../rng.ts";
import { runPoint, type SweepPoint } from "./sweep.ts";

/** The worker's global scope (a dedicated worker). */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<SweepPoint>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = (e: MessageEvent<SweepPoint>) => {
  const point = e.data;
  scope.postMessage({ index: point.index, row: runPoint(point, wallClock) });
};
