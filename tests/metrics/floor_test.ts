import assert from "node:assert/strict";
import fc from "fast-check";
import {
  alignedPlaces,
  describeDomainFloor,
  lnGamma,
  log2Binomial,
  placementFloor,
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

/** Every k-subset of [0, m), as arrays. */
function* subsets(m: number, k: number, from = 0, acc: number[] = []): Generator<number[]> {
  if (acc.length === k) {
    yield [...acc];
    return;
  }
  for (let i = from; i <= m - (k - acc.length); i++) {
    acc.push(i);
    yield* subsets(m, k, i + 1, acc);
    acc.pop();
  }
}

const domain = (places: number, chosen: number) => ({
  workload: "w",
  order: 0,
  nid: 0,
  startBytes: 0,
  endBytes: places * 4096,
  unitPages: 1,
  places,
  chosen,
  blocks: chosen,
  what: "a test domain",
});

Deno.test("placementFloor is at most log2 of the preserved sets an encoding must tell apart", () => {
  // Draw N of M places; then an "allocator" puts X more preserved blocks into the domain as a
  // function of the draw (lowest free places, highest free places, or every other free one).
  // The successor sees only P = drawn ∪ others: any encoding needs log2 #{distinct P} bits
  // in the worst case, and the floor must not claim more.
  const allocators: [string, (free: number[], x: number) => number[]][] = [
    ["lowest", (free, x) => free.slice(0, x)],
    ["highest", (free, x) => free.slice(free.length - x)],
    ["every other", (free, x) => free.filter((_, i) => i % 2 === 0).slice(0, x)],
  ];
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 12 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 2 }),
      (m, n0, x0, a) => {
        const n = Math.min(n0, m - 1);
        const x = Math.min(x0, Math.floor((m - n) / 2));
        const seen = new Set<string>();
        for (const s of subsets(m, n)) {
          const taken = new Set(s);
          const free = [...Array(m).keys()].filter((i) => !taken.has(i));
          const others = allocators[a][1](free, x);
          seen.add([...s, ...others].sort((p, q) => p - q).join(","));
        }
        const f = placementFloor([{ domain: domain(m, n), preserved: n, others: x }]);
        assert.ok(
          f.bits <= Math.log2(seen.size) + 1e-9,
          `${allocators[a][0]} M=${m} N=${n} X=${x}: floor ${f.bits} > log2 ${seen.size}`,
        );
        if (x === 0) close(f.bits, Math.log2(seen.size), 1e-9); // tight without others
      },
    ),
    { seed: 17, numRuns: 300 },
  );
});

Deno.test("placementFloor: domains add, per order; a domain with a lost block counts 0", () => {
  const a = { domain: { ...domain(4096, 64), order: 0 }, preserved: 64, others: 0 };
  const b = { domain: { ...domain(512, 8), order: 9, unitPages: 512 }, preserved: 8, others: 1 };
  const f = placementFloor([a, b]);
  close(f.bits, log2Binomial(4096, 64) + log2Binomial(512, 8) - log2Binomial(9, 1), 1e-9);
  close(f.bitsByOrder.get(0)!, log2Binomial(4096, 64), 1e-9);
  assert.equal(f.blocks, 72);
  const lost = placementFloor([{ ...a, preserved: 63 }, b]);
  assert.equal(lost.domains[0].bits, 0);
  assert.match(lost.domains[0].excluded!, /1 of its 64 drawn blocks were not preserved/);
  assert.equal(lost.blocks, 8);
  assert.match(
    describeDomainFloor(f.domains[1]),
    /^w: 8 of 512 clusters of 512 order-9 pages, a test domain \[0x0, 0x200000\) on node 0, 1 other block there: [\d.]+ bits$/,
  );
  // Everything drawn, or nothing: no information.
  assert.equal(placementFloor([{ ...a, domain: domain(64, 64) }]).bits, 0);
});
