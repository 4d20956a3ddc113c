import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatTiming,
  parseTimingStatKey,
  rowTimings,
  timingColumns,
  timingStatKey,
  timingStats,
} from "../../lib/metrics/timing.ts";

Deno.test("timing statistics: median of odd and even n, min, max, rounding", () => {
  assert.deepEqual(timingStats([7]), { n: 1, median: 7, min: 7, max: 7 });
  assert.deepEqual(timingStats([3, 9, 1, 5, 7]), { n: 5, median: 5, min: 1, max: 9 });
  // Even n: the mean of the two middle samples, whatever the input order.
  assert.deepEqual(timingStats([10, 2, 8, 4]), { n: 4, median: 6, min: 2, max: 10 });
  assert.deepEqual(timingStats([1, 2]), { n: 2, median: 1.5, min: 1, max: 2 });
  // Milliseconds to 0.001.
  assert.deepEqual(timingStats([0.12345, 0.5, 0.98765]), {
    n: 3,
    median: 0.5,
    min: 0.123,
    max: 0.988,
  });
  assert.throws(() => timingStats([]), RangeError);
  assert.throws(() => timingStats([1, NaN]), RangeError);
  assert.throws(() => timingStats([Infinity]), RangeError);
});

Deno.test("timing statistics: min ≤ median ≤ max, n samples, order does not matter", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1e5, noNaN: true }), { minLength: 1, maxLength: 40 }),
      (xs) => {
        const t = timingStats(xs);
        assert.equal(t.n, xs.length);
        assert.ok(t.min <= t.median && t.median <= t.max);
        assert.deepEqual(timingStats([...xs].reverse()), t);
        const below = xs.filter((x) => x < t.median - 1e-3).length;
        const above = xs.filter((x) => x > t.median + 1e-3).length;
        assert.ok(below <= xs.length / 2 && above <= xs.length / 2);
      },
    ),
  );
});

Deno.test("timings in a flat row: NAME is the median, NAME.n/.median/.min/.max, and back", () => {
  const timings = { preserveMs: timingStats([2, 4, 3]), walkMs: timingStats([1, 1, 5, 3]) };
  const cols = timingColumns(timings);
  assert.deepEqual(Object.keys(cols), [
    "preserveMs",
    "preserveMs.n",
    "preserveMs.median",
    "preserveMs.min",
    "preserveMs.max",
    "walkMs",
    "walkMs.n",
    "walkMs.median",
    "walkMs.min",
    "walkMs.max",
  ]);
  assert.equal(cols.walkMs, 2);
  assert.deepEqual(rowTimings({ profile: "kho-v4", status: "ok", ...cols }), timings);
  // A timing missing a statistic, or with a non-number, is not a timing.
  assert.deepEqual(rowTimings({ "walkMs.n": 5, "walkMs.min": 1, "walkMs.max": 2 }), {});
  assert.deepEqual(
    rowTimings({ "walkMs.n": 5, "walkMs.median": "x", "walkMs.min": 1, "walkMs.max": 2 }),
    {},
  );
  assert.equal(timingStatKey("reserveMs", "max"), "reserveMs.max");
  assert.deepEqual(parseTimingStatKey("reserveMs.max"), { name: "reserveMs", stat: "max" });
  assert.equal(parseTimingStatKey("reserveMs.mean"), null);
  assert.equal(parseTimingStatKey("scenario.walkMs.max"), null);
  assert.equal(parseTimingStatKey("walkMs"), null);
});

Deno.test("a timing as text keeps its spread", () => {
  assert.equal(formatTiming({ n: 5, median: 120.04, min: 99.5, max: 301 }), "120.0 (99.5–301.0)");
  assert.equal(formatTiming({ n: 5, median: 1.5, min: 1.25, max: 2 }), "1.50 (1.25–2.00)");
  assert.equal(formatTiming({ n: 5, median: 1.5, min: 1.25, max: 2 }, 0), "2 (1–2)");
});
