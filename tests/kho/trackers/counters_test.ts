import assert from "node:assert/strict";
import {
  cacheLinesSpanned,
  settleOnAccess,
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

Deno.test("settleOnAccess: every read, write, snapshot, reset and restore sees the pending charges first", () => {
  const c = new TrackerCounters();
  c.nodesAllocated = 4; // kept: the raw counters start from the values already there
  let a = 0, b = 0;
  const raw = settleOnAccess(c, () => {
    raw.entriesVisited += a;
    a = 0;
  });
  assert.equal(
    settleOnAccess(c, () => {
      raw.pagesTouched += b;
      b = 0;
    }),
    raw,
    "one raw object per counters object",
  );
  assert.equal(c.nodesAllocated, 4);
  a = 5;
  b = 7;
  assert.equal(c.callbacks, 0); // any counter settles both
  assert.equal(a + b, 0);
  assert.deepEqual([c.entriesVisited, c.pagesTouched], [5, 7]);
  const saved = c.snapshot();
  a = 100; // charged inside an uncharged region, then the counters are put back
  Object.assign(c, saved);
  assert.equal(c.entriesVisited, 5);
  b = 1;
  c.cacheLinesRead = 9; // a write settles first too
  assert.equal(b, 0);
  assert.equal(c.pagesTouched, 8);
  raw.cacheLinesWritten += 2; // a direct charge needs no settling
  assert.equal(c.cacheLinesWritten, 2);
  a = 2;
  assert.deepEqual(JSON.parse(JSON.stringify(c)).entriesVisited, 7);
  a = 3;
  c.reset();
  for (const k of TRACKER_COUNTER_NAMES) assert.equal(c[k], 0, k);
  assert.equal(a, 0);
});
