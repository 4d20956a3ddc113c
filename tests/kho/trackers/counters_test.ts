import assert from "node:assert/strict";
import {
  cacheLinesSpanned,
  TRACKER_COUNTER_NAMES,
  TrackerCounters,
} from "../../../lib/kho/trackers/counters.ts";

Deno.test("snapshot, since, add and reset", () => {
  const c = new TrackerCounters();
  c.pagesAllocated = 3;
  const s = c.snapshot();
  assert.ok(Object.isFrozen(s));
  c.pagesAllocated += 2;
  c.cacheLinesRead += 64;
  const d = c.since(s);
  assert.equal(d.pagesAllocated, 2);
  assert.equal(d.cacheLinesRead, 64);
  assert.equal(d.callbacks, 0);
  c.add(d);
  assert.equal(c.pagesAllocated, 7);
  c.reset();
  for (const k of TRACKER_COUNTER_NAMES) assert.equal(c[k], 0, k);
  // the two of the cost model's writes and slab nodes come last (stable CSV columns)
  assert.deepEqual(TRACKER_COUNTER_NAMES.slice(-2), ["nodesAllocated", "cacheLinesWritten"]);
  assert.equal(TRACKER_COUNTER_NAMES.length, 11);
  assert.deepEqual(Object.keys(c.snapshot()), [...TRACKER_COUNTER_NAMES]);
});

Deno.test("cacheLinesSpanned counts distinct 64-byte lines", () => {
  assert.equal(cacheLinesSpanned(0, 0), 0);
  assert.equal(cacheLinesSpanned(0, 8), 1);
  assert.equal(cacheLinesSpanned(56, 8), 1);
  assert.equal(cacheLinesSpanned(60, 8), 2);
  assert.equal(cacheLinesSpanned(0, 4096), 64);
  assert.equal(cacheLinesSpanned(8, 4096), 65);
});
