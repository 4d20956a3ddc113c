/**
 * The one incoming adapter: what turns a bytes-only walk function of an encoding (radix tree,
 * khoser chunk list, order table, a user design's) into the successor's
 * {@link IncomingTracker}, with the contract's rules in one place — `walk` throws the one
 * {@link TrackerCorruptionError} on a structural error, `walkChecked` returns the outcome,
 * the batched forms exist only where the encoding has a native batched walk — and the
 * engine's side of the same rules for readers that only implement `walk`
 * ({@link checkedWalk}).
 *
 * @module
 */

import { TrackerCorruptionError, type TrackerStructure } from "./corruption.ts";
import type { TrackerCounters } from "./counters.ts";
import type { IncomingTracker, WalkBatchCallback, WalkCallback } from "./tracker.ts";
import type { WalkOutcome } from "./walk_guard.ts";

/** A walk of handed-over bytes that never throws for corruption: its outcome. */
export type CheckedWalk<C> = (cb: C) => Readonly<WalkOutcome<string>>;

/** What {@link incomingTracker} adapts. */
export interface IncomingWalks {
  /** Encoding name (the format's kind). */
  readonly kind: string;
  /** The structure, as {@link TrackerCorruptionError} names it. */
  readonly structure: TrackerStructure;
  /** Counters every walk charges. */
  readonly counters: TrackerCounters;
  /** The per-block walk. */
  readonly walk: CheckedWalk<WalkCallback>;
  /** The native batched walk, if the encoding has one. */
  readonly walkBatched?: CheckedWalk<WalkBatchCallback>;
}

/** Throws the corruption error of a failed outcome; returns the stopping result otherwise. */
function stoppedOrThrow(structure: TrackerStructure, r: Readonly<WalkOutcome<string>>): number {
  if (!r.ok) throw new TrackerCorruptionError(structure, r);
  return r.stopped;
}

/**
 * The successor's reader of one encoding from its checked walks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { incomingTracker } from "./incoming.ts";
 * import { TrackerCounters } from "./counters.ts";
 * import { TrackerCorruptionError } from "./corruption.ts";
 * const t = incomingTracker({
 *   kind: "demo", structure: "demo list", counters: new TrackerCounters(),
 *   walk: () => ({ ok: false, error: "root-null", detail: "0", stopped: 0, blocks: 0, rejected: 0 }),
 * });
 * assert.equal(t.walkBatched, undefined); // no native batched walk
 * assert.throws(() => t.walk(() => 0), (e) => e instanceof TrackerCorruptionError &&
 *   e.message === "EINVAL: corrupted KHO demo list: root-null: 0");
 * ```
 */
export function incomingTracker(w: IncomingWalks): IncomingTracker {
  const batched = w.walkBatched;
  return {
    kind: w.kind,
    counters: w.counters,
    walk: (cb) => stoppedOrThrow(w.structure, w.walk(cb)),
    walkChecked: w.walk,
    ...(batched === undefined ? {} : {
      walkBatched: (cb: WalkBatchCallback) => stoppedOrThrow(w.structure, batched(cb)),
      walkBatchedChecked: batched,
    }),
  };
}

/**
 * Walks `t` and returns its outcome: `walkChecked` where the reader has it, else `walk` with
 * the blocks counted here and its {@link TrackerCorruptionError} turned into the outcome it
 * carries. Any other exception propagates (a reader's bug, not corrupted bytes).
 */
export function checkedWalk(t: IncomingTracker, cb: WalkCallback): Readonly<WalkOutcome<string>> {
  if (t.walkChecked) return t.walkChecked(cb);
  let blocks = 0;
  const counted = ((phys: number, order: number, type?: number) => {
    blocks++;
    return (cb as (p: number, o: number, t?: number) => number)(phys, order, type);
  }) as WalkCallback;
  try {
    const stopped = t.walk(counted);
    return { ok: true, stopped, blocks, rejected: 0 };
  } catch (e) {
    if (e instanceof TrackerCorruptionError) return e.result;
    throw e;
  }
}

/**
 * {@link checkedWalk} delivering batches: the reader's native batched walk where it has one,
 * else its per-block walk delivered in batches of one.
 */
export function checkedWalkBatched(
  t: IncomingTracker,
  cb: WalkBatchCallback,
): Readonly<WalkOutcome<string>> {
  if (t.walkBatchedChecked) return t.walkBatchedChecked(cb);
  const one = new Float64Array(1);
  return checkedWalk(t, (phys, order) => {
    one[0] = phys;
    return cb(one, 1, order);
  });
}
