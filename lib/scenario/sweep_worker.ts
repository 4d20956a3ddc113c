/**
 * The Deno worker of {@link runSweep}: receives a {@link SweepPoint}, runs it and posts
 * `{ index, row }` back.
 *
 * @module
 */

import { runPoint, type SweepPoint } from "./sweep.ts";

/** The worker's global scope (a dedicated worker). */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<SweepPoint>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = (e: MessageEvent<SweepPoint>) => {
  const point = e.data;
  scope.postMessage({ index: point.index, row: runPoint(point) });
};
