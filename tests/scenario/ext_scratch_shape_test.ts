/**
 * The published shape of extended scratch (lib/scenario/ext_scratch_shape.ts; kho-facts §12):
 * the two published cases rebuilt on a 64 GiB machine, their deterministic counters (blocks
 * digested = the published `nr_preservations`, radix nodes near the published ones, one
 * `kho_radix_add_key` per block and per tree page, a 6-page second tree) and what a timed run
 * returns. No timing target here: times are the notebook's and the bench's.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import {
  EXT_SCRATCH_PUBLISHED,
  extScratchOrdersFor,
  runExtScratchShape,
} from "../../lib/scenario/ext_scratch_shape.ts";
import { KHO_EXT_BLOCK_BYTES } from "../../lib/kho/ext_scratch.ts";

Deno.test("both published cases: the preserved set as published, counters of the same shape", () => {
  // Our radix node counts: the buddy allocator's placement of the same blocks on a 64 GiB
  // machine (published: 47 and 69; the leaves of the order-0 pages dominate the second case).
  const ours = [44, 60];
  EXT_SCRATCH_PUBLISHED.forEach((c, i) => {
    const r = runExtScratchShape({ perOrder: c.perOrder });
    assert.equal(r.preservations, c.preservations, c.label);
    assert.equal(r.memPreservedBytes >= c.memPreservedBytes - 2 * 4096, true);
    const rep = r.report;
    assert.equal(rep.blocksDigested, c.preservations);
    assert.equal(rep.walk.callbacks, c.preservations);
    assert.equal(rep.radixNodes, ours[i], c.label);
    assert.ok(Math.abs(rep.radixNodes - c.radixNodes) / c.radixNodes < 0.2, c.label);
    // No block reaches 1 GiB: one add per block, one per tree page.
    assert.equal(rep.extKeyAdds, c.preservations + rep.radixNodes);
    assert.equal(rep.extTreePages, 6);
    assert.equal(rep.walk.pagesTouched, rep.radixNodes);
    // Recovered: everything but the busy GiBs (no HugeTLB pool here, unlike the guest's 50 GiB).
    const ram = 64 * 2 ** 30;
    assert.equal(rep.recoveredBytes, ram - rep.busyBlocks.length * KHO_EXT_BLOCK_BYTES);
    assert.ok(rep.recoveredBytes > c.recoveredBytes, "more than the guest with its pool");
    assert.deepEqual(r.extendUs, [], "no clock: no timing");
  });
});

Deno.test("timed re-runs: as many samples as asked, median between the extremes, the counters of the boot", () => {
  const r = runExtScratchShape({
    perOrder: extScratchOrdersFor(700),
    ramBytes: 8 * 2 ** 30,
    clock: new ManualClock(),
    runs: 3,
    warmup: 1,
  });
  assert.deepEqual(r.extendUs, [0, 0, 0]);
  assert.equal(r.extendUsMedian, 0);
  assert.ok(r.extendUsMin <= r.extendUsMedian && r.extendUsMedian <= r.extendUsMax);
  assert.deepEqual(extScratchOrdersFor(557), EXT_SCRATCH_PUBLISHED[0].perOrder);
  assert.throws(() => extScratchOrdersFor(24), RangeError);
});
