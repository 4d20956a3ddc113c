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
import { outcomeColumns, OutcomeTally } from "../../lib/metrics/outcomes.ts";

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
  // Outcomes: flat columns per kind in the catalogue's place, nested in JSON.
  const o = cols.indexOf("outcomes.folio.attempted");
  assert.equal(cols[o - 1], "corruptedObjects");
  assert.deepEqual(cols.slice(o, o + 8), [
    "outcomes.folio.attempted",
    "outcomes.folio.restored",
    "outcomes.folio.unsupported",
    "outcomes.folio.refused",
    "outcomes.folio.failedRestore",
    "outcomes.folio.corrupted",
    "outcomes.folio.lost",
    "outcomes.folio.reasons",
  ]);
  assert.deepEqual(json[0].outcomes, {
    folio: {
      attempted: 40,
      restored: 40,
      unsupported: 0,
      refused: 0,
      failedRestore: 0,
      corrupted: 0,
      lost: 0,
      reasons: [],
    },
  });
  assert.ok(!Object.keys(json[0]).some((k) => k.startsWith("outcomes.")));
});

Deno.test("outcome reasons round-trip through CSV and JSON, commas and quotes included", () => {
  const t = new OutcomeTally();
  t.add("folio", "guests", "restored", undefined, 3);
  t.add(
    "folio",
    "guests",
    "failedRestore",
    'kho_restore_folio returned NULL; log: "order 18 > 10"',
  );
  t.add("memfd", "vms", "unsupported", "no LUO, no memfd, no sessions", 2);
  const row: MetricsRow = { profile: "kho-v1-6.18", ...outcomeColumns(t.outcomes()) };
  assert.deepEqual(rowsFromCsv(rowsToCsv([row])), [row]);
  assert.deepEqual(rowsFromJson(rowsToJson([row])), [row]);
  const json = JSON.parse(rowsToJson([row]))[0];
  assert.deepEqual(json.outcomes.memfd.reasons, [
    "vms: 2 unsupported — no LUO, no memfd, no sessions",
  ]);
  assert.equal(json.outcomes.folio.failedRestore, 1);
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
