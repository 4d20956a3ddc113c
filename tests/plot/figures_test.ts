import assert from "node:assert/strict";
import { Chart } from "../../lib/plot/chart.ts";
import {
  buddyinfoFigure,
  buddyinfoRows,
  byOrderRows,
  compatMatrixFigure,
  densitySweepFigure,
  hostLadderFigure,
  metadataBarsFigure,
  metadataByOrderFigure,
  metadataFigure,
  radixOccupancyFigure,
  sweepNumber,
  walkCostFigure,
  walkTimeFigure,
} from "../../lib/plot/figures.ts";
import { assertGolden, normalizeSvg } from "./golden.ts";
import {
  BUDDY_AFTER,
  BUDDY_BEFORE,
  DENSITY_ROWS,
  LADDER_ROWS,
  LEVEL_ROWS,
  MATRIX_CELLS,
  PROFILE_ROWS,
} from "./fixtures.ts";

const FIGURES: [string, () => Chart][] = [
  ["metadata", () => new Chart(metadataFigure(DENSITY_ROWS), "metadata")],
  ["metadata_bars", () => new Chart(metadataBarsFigure(PROFILE_ROWS), "metadata_bars")],
  ["walk_time", () => new Chart(walkTimeFigure(PROFILE_ROWS), "walk_time")],
  ["walk_cost", () => new Chart(walkCostFigure(PROFILE_ROWS), "walk_cost")],
  [
    "metadata_by_order",
    () =>
      new Chart(
        metadataByOrderFigure(byOrderRows(PROFILE_ROWS, "preservedBytesByOrder")),
        "metadata_by_order",
      ),
  ],
  ["density_sweep", () => new Chart(densitySweepFigure(DENSITY_ROWS), "density_sweep")],
  [
    "host_ladder",
    () => new Chart(hostLadderFigure(LADDER_ROWS, { y: "walkCacheLines" }), "host_ladder"),
  ],
  ["compat_matrix", () => new Chart(compatMatrixFigure(MATRIX_CELLS), "compat_matrix")],
  [
    "buddyinfo",
    () =>
      new Chart(
        buddyinfoFigure(
          buddyinfoRows({ "before kexec": BUDDY_BEFORE, "after kexec": BUDDY_AFTER }),
        ),
        "buddyinfo",
      ),
  ],
  ["radix_levels", () => new Chart(radixOccupancyFigure(LEVEL_ROWS), "radix_levels")],
];

for (const [name, make] of FIGURES) {
  Deno.test(`figure ${name} matches its golden SVG`, async () => {
    const c = make();
    const svg = c.toSvg();
    assert.match(svg, /^<svg[^>]* xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    await assertGolden(`${name}.svg.golden`, svg);
  });
}

Deno.test("rendering twice gives the same normalised SVG (ids renumbered)", () => {
  const a = normalizeSvg(new Chart(metadataFigure(DENSITY_ROWS)).toSvg());
  const b = normalizeSvg(new Chart(metadataFigure(DENSITY_ROWS)).toSvg());
  assert.equal(a, b);
});

Deno.test("metadata figure: one line per encoding plus the floor, log-log", () => {
  const opts = metadataFigure(DENSITY_ROWS);
  assert.equal((opts.x as { type: string }).type, "log");
  assert.equal((opts.y as { type: string }).type, "log");
  const svg = new Chart(opts).toSvg();
  // floor + two encodings
  assert.equal((svg.match(/<path /g) ?? []).length >= 3, true);
  assert.match(svg, /information floor/);
});

Deno.test("error rows are left out of the figures", () => {
  const rows = [...PROFILE_ROWS, { ...PROFILE_ROWS[0], profile: "broken", status: "error" }];
  const html = new Chart(walkTimeFigure(rows)).toHtml();
  assert.doesNotMatch(html, /broken/);
  assert.match(html, /kho-v4/);
});

Deno.test("compatibility matrix: one cell per pair, ordinal verdict colours", () => {
  const svg = new Chart(compatMatrixFigure(MATRIX_CELLS)).toSvg();
  assert.equal((svg.match(/<rect /g) ?? []).length, 9);
  assert.match(svg, /fill="#d62728"/); // corrupt
  assert.match(svg, /fill="#2ca02c"/); // ok
});

Deno.test("buddyinfoRows sums nodes and parses freeBlocksByOrder strings", () => {
  const rows = buddyinfoRows({ a: BUDDY_AFTER, b: "0:5 10:7" });
  assert.equal(rows.find((r) => r.phase === "a" && r.order === 0)!.blocks, 787060);
  assert.equal(rows.find((r) => r.phase === "b" && r.order === 10)!.blocks, 7);
  assert.equal(rows.find((r) => r.phase === "b" && r.order === 3)!.blocks, 0);
  assert.equal(rows.length, 22);
});

Deno.test("byOrderRows and sweepNumber", () => {
  const rows = byOrderRows(PROFILE_ROWS.slice(0, 1), "preservedBytesByOrder");
  assert.deepEqual(rows.map((r) => r.order), [0, 9, 18]);
  assert.equal(sweepNumber("16G"), 16 * 2 ** 30);
  assert.equal(sweepNumber("1Mi"), 2 ** 20);
  assert.equal(sweepNumber("4096"), 4096);
});

Deno.test("a chart displays itself as a text/html bundle", () => {
  const c = new Chart(walkTimeFigure(PROFILE_ROWS), "walk");
  const bundle = (c as unknown as Record<symbol, () => Record<string, string>>)[
    Symbol.for("Jupyter.display")
  ]();
  assert.match(bundle["text/html"], /^<div class="kholab-chart" data-chart="walk">/);
  assert.match(bundle["text/html"], /<svg/);
  assert.equal(bundle["text/plain"], "[chart walk]");
});
