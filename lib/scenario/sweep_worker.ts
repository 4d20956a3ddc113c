/**
 * The Deno worker of `runSweep` (`./sweep.ts`): receives a {@link SweepPoint}, runs its
 * deterministic part (no clock is read here) and posts its row and the recording of its timed
 * regions back, the recording's buffers transferred. The timed replays run in the sweep's own
 * thread.
 *
 * @module
 */

import { capsuleBuffers } from "../metrics/capsule.ts";
import { runPointUntimed, type SweepPoint } from "./sweep.ts";

/** The worker's global scope (a dedicated worker). */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<{ point: SweepPoint; capture: boolean }>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

scope.onmessage = (e) => {
  const r = runPointUntimed(e.data.point, e.data.capture);
  scope.postMessage(r, capsuleBuffers(r.capsule));
};
