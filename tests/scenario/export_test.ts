import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import fc from "fast-check";
import {
  parseCsv,
  rowColumns,
  rowJson,
  rowsFromCsv,
  rowsFromJson,
  rowsToCsv,
  rowsToJson,
} from "../../lib/scenario/export.ts";
import { runScenario } from "../../lib/scenario/run.ts";
import type { MetricsRow } from "../../lib/metrics/metrics.ts";

/** The struct-page time estimates every row that reached the successor carries. */
const STRUCT_PAGE_ESTIMATES = ["memmapInitMs", "deferredInitMs", "restoreStructPagesMs", "hvoMs"];

/** Runs here read a manual clock: every wall-clock metric is 0. */
const CLOCK = new ManualClock();

Deno.test("real rows round-trip through JSON and CSV", () => {
  const rows = ["kho-v4", "kho-v1-6.19"].map((profile) =>
    runScenario({
      clock: CLOCK,
      scenario: "uniform",
      profile: profile as "kho-v4",
      params: { ramBytes: "2G", pages: 40 },
    }).row
  );
  assert.deepEqual(rowsFromJson(rowsToJson(rows)), rows);
  assert.deepEqual(rowsFromCsv(rowsToCsv(rows)), rows);
  const cols = rowColumns(rows);
  assert.equal(cols[0], "scenario");
  assert.ok(cols.indexOf("walkCacheLines") < cols.indexOf("walkMs"));
  assert.ok(rowsToCsv(rows).split("\n")[1].includes('"{""ramBytes"":'));
  // CSV: each timing's median column, then its statistics, in the catalogue's place.
  const at = cols.indexOf("walkMs");
  assert.deepEqual(cols.slice(at, at + 5), [
    "walkMs",
    "walkMs.n",
    "walkMs.median",
    "walkMs.min",
    "walkMs.max",
  ]);
  // the last: the struct-page estimates (counts × unit costs measured with the replays)
  assert.equal(cols.at(-1), "hvoMs.max");
  // JSON: the statistics nested under timings, the median kept under its name.
  const json = JSON.parse(rowsToJson(rows));
  assert.deepEqual(json[0].timings.walkMs, { n: 5, median: 0, min: 0, max: 0 });
  assert.equal(json[0].walkMs, 0);
  assert.ok(!("walkMs.n" in json[0]));
  assert.deepEqual(Object.keys(json[0].timings), [
    "preserveMs",
    "walkMs",
    "populateMs",
    "reserveMs",
    ...STRUCT_PAGE_ESTIMATES,
  ]);
  assert.deepEqual(Object.keys(json[1].timings), [
    "preserveMs",
    "finalizeMs",
    "walkMs",
    "populateMs",
    "reserveMs",
    ...STRUCT_PAGE_ESTIMATES,
  ]);
  assert.deepEqual(rowJson(rows[1]), json[1]);
});

Deno.test("CSV quoting: commas, quotes, newlines, spaces, missing values", () => {
  const rows: MetricsRow[] = [
    { profile: "a,b", errors: 'say "hi"\nthen', walkCacheLines: 64, custom: " x" },
    { profile: "p", errors: "", walkMs: 1.25, custom: "3" },
  ];
  const back = rowsFromCsv(rowsToCsv(rows));
  assert.deepEqual(back[0], rows[0]);
  assert.deepEqual(back[1], { profile: "p", errors: "", walkMs: 1.25, custom: 3 });
  assert.deepEqual(parseCsv('a,"b\r\nc"\r\n1,2\n'), [["a", "b\r\nc"], ["1", "2"]]);
  assert.throws(() => parseCsv('"open'), SyntaxError);
  assert.throws(() => rowsFromCsv("a,b\n1\n"), SyntaxError);
  assert.throws(() => rowsFromJson("{}"), SyntaxError);
});

Deno.test("property: arbitrary catalogue rows round-trip through CSV", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          profile: fc.string(),
          errors: fc.string(),
          walkCacheLines: fc.oneof(
            fc.integer(),
            fc.double({ noNaN: true, noDefaultInfinity: true }),
          ),
          walkMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
        }),
        { minLength: 1, maxLength: 5 },
      ),
      (rows) => {
        assert.deepEqual(
          rowsFromCsv(rowsToCsv(rows)),
          rows.map((r) => ({
            ...r,
            walkCacheLines: r.walkCacheLines === 0 ? 0 : r.walkCacheLines, // -0 prints as 0
          })),
        );
        const timed = rows.map((r) => ({
          ...r,
          "walkMs.n": 5,
          "walkMs.median": r.walkMs,
          "walkMs.min": r.walkMs / 2,
          "walkMs.max": r.walkMs * 2,
        }));
        assert.deepEqual(rowsFromJson(rowsToJson(timed)), timed);
      },
    ),
    { seed: 11, numRuns: 150 },
  );
});
