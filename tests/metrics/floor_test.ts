import assert from "node:assert/strict";
import fc from "fast-check";
import {
  alignedPlaces,
  lnGamma,
  log2Binomial,
  preservationFloor,
} from "../../lib/metrics/floor.ts";
import { GiB } from "../../lib/units.ts";

const close = (a: number, b: number, eps: number) =>
  assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

Deno.test("log2Binomial is exact on small cases", () => {
  assert.equal(log2Binomial(5, 0), 0);
  assert.equal(log2Binomial(5, 5), 0);
  close(log2Binomial(10, 3), Math.log2(120), 1e-12);
  close(log2Binomial(64, 32), Math.log2(1832624140942590534), 1e-12);
  close(log2Binomial(2, 1), 1, 1e-15);
  assert.throws(() => log2Binomial(3, 4), RangeError);
  assert.throws(() => log2Binomial(-1, 0), RangeError);
});

Deno.test("log2Binomial: symmetry and Pascal's rule", () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 2000 }), fc.integer({ min: 1, max: 1999 }), (m, k) => {
      const n = Math.min(k, m - 1);
      close(log2Binomial(m, n), log2Binomial(m, m - n), 1e-12);
      // C(m, n) = C(m-1, n-1) + C(m-1, n)
      const a = log2Binomial(m - 1, n - 1), b = log2Binomial(m - 1, n);
      const mx = Math.max(a, b);
      close(log2Binomial(m, n), mx + Math.log2(2 ** (a - mx) + 2 ** (b - mx)), 1e-9);
    }),
    { seed: 7, numRuns: 200 },
  );
});

Deno.test("the lnGamma branch agrees with the exact sum", () => {
  close(lnGamma(1), 0, 1e-13);
  close(lnGamma(5), Math.log(24), 1e-13);
  close(lnGamma(21), 42.335616460753485, 1e-13); // ln 20!
  // k just above the exact threshold against k just below, through the ratio rule.
  const m = 2 ** 28, k = 2 ** 20;
  const exact = log2Binomial(m, k);
  const big = log2Binomial(m, k + 1); // lnGamma branch
  close(big - exact, Math.log2((m - k) / (k + 1)), 1e-6);
});

Deno.test("aligned places and the floor of a preserved set", () => {
  const ranges = [{ start: 0, end: 4 * GiB, nid: 0 }];
  assert.equal(alignedPlaces(ranges, 0), 2 ** 20);
  assert.equal(alignedPlaces(ranges, 18), 4);
  assert.equal(alignedPlaces([{ start: 2 ** 21, end: 2 ** 31, nid: 0 }], 18), 1);
  const f = preservationFloor(ranges, new Map([[18, 2], [0, 0]]));
  close(f.bits, Math.log2(6), 1e-12);
  assert.deepEqual([...f.bitsByOrder.keys()], [18]);
  // Everything preserved, or nothing: no information.
  assert.equal(preservationFloor(ranges, new Map([[18, 4]])).bits, 0);
});
