import assert from "node:assert/strict";
import { FaultInjector } from "../../lib/kernel/faults.ts";

Deno.test("nth failure is injected exactly once", () => {
  const f = new FaultInjector();
  f.arm({ nth: 3 });
  const r = Array.from({ length: 6 }, () => f.shouldFail("a"));
  assert.deepEqual(r, [false, false, true, false, false, false]);
  assert.equal(f.injected, 1);
});

Deno.test("site filters and seeded probabilities are reproducible", () => {
  const run = () => {
    const f = new FaultInjector();
    f.arm({ probability: 0.5, seed: 9, sites: ["radix"] });
    return Array.from(
      { length: 40 },
      (_, i) => f.shouldFail(i % 2 ? "kho_radix_node" : "memblock_alloc"),
    );
  };
  const a = run();
  assert.deepEqual(run(), a);
  assert.ok(a.every((v, i) => i % 2 === 1 || !v), "unmatched sites never fail");
  assert.ok(a.some((v) => v));
  const f = new FaultInjector();
  f.arm({ probability: 1, times: 2 });
  assert.deepEqual([f.shouldFail("x"), f.shouldFail("x"), f.shouldFail("x")], [true, true, false]);
  assert.throws(() => f.arm({ nth: 0 }), RangeError);
  assert.equal(f.sites.get("x"), 3);
});
