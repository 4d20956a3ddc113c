import assert from "node:assert/strict";
import type { MetricsRow } from "../../lib/metrics/metrics.ts";
import { Chart } from "../../lib/plot/chart.ts";
import {
  buddyinfoRows,
  byOrderRows,
  compatMatrixFigure,
  densitySweepFigure,
  metadataBarsFigure,
  metadataFigure,
  namedBarsFigure,
  orderShareRows,
  radixOccupancyFigure,
  sweepFigure,
  sweepNumber,
  timingFigure,
  walkCostFigure,
  walkTimeFigure,
} from "../../lib/plot/figures.ts";
import { assertGolden, normalizeSvg } from "./golden.ts";
import { FIGURES } from "./standard_figures.ts";
import { PROFILE_COLORS, profileColor } from "../../lib/plot/palette.ts";
import {
  BUDDY_AFTER,
  DENSITY_ROWS,
  LEVEL_ROWS,
  MATRIX_CELLS,
  PROFILE_ROWS,
  SCRIPT_ROWS,
} from "./fixtures.ts";

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

/** The texts of the tick labels of an SVG (of one axis: `x`, `y`, `fx`, `fy`). */
function tickLabels(svg: string, axis = "[a-z]+"): string[] {
  return [
    ...svg.matchAll(new RegExp(`aria-label="${axis}-axis tick label"[^>]*>([\\s\\S]*?)</g>`, "g")),
  ]
    .flatMap((m) =>
      [...m[1].matchAll(/<text[^>]*?(?:\/>|>([^<]*)<\/text>)/g)].map((t) => t[1] ?? "")
    );
}

Deno.test("every figure: a caption with its unit, binary prefixes, no SI k/m, % for percent", () => {
  for (const [name, make] of FIGURES) {
    const c = make();
    assert.match(c.caption, /\(.+\)$/, `${name}: caption ends with its units in brackets`);
    assert.match(c.toHtml(), /^<figure class="kholab-chart" data-chart="[^"]+"><figcaption>/);
    const labels = tickLabels(c.toSvg());
    assert.ok(labels.length > 0, name);
    for (const l of labels) {
      if (!name.startsWith("host_ladder")) assert.notEqual(l, "", `${name}: a blank tick label`);
      assert.doesNotMatch(l, /^[\d.,−-]+\s?[kmMGTµ]$/, `${name}: SI-prefixed tick "${l}"`);
      assert.doesNotMatch(l, /\d\s?(kB|MB|GB|KB)$/, `${name}: decimal byte unit "${l}"`);
    }
  }
  const bytes = tickLabels(new Chart(metadataFigure(DENSITY_ROWS)).toSvg(), "y");
  assert.ok(bytes.every((l) => /^\d+ (B|KiB|MiB|GiB)$/.test(l)), bytes.join(", "));
  const pct = tickLabels(new Chart(radixOccupancyFigure(LEVEL_ROWS)).toSvg(), "y");
  assert.ok(pct.filter((l) => l.endsWith(" %")).length === 6, pct.join(", "));
});

Deno.test("a profile has the palette's colour in every figure, unknown names too", () => {
  const rows = [...PROFILE_ROWS, { ...PROFILE_ROWS[3], profile: "my-design" }];
  const figures = [
    metadataBarsFigure(rows),
    walkTimeFigure(rows),
    walkCostFigure(rows),
    metadataFigure(DENSITY_ROWS),
    densitySweepFigure(DENSITY_ROWS),
  ];
  const seen = new Map<string, Set<string>>();
  for (const f of figures) {
    const svg = new Chart(f).toSvg();
    for (
      const m of svg.matchAll(/<(rect|path)[^>]*?(fill|stroke)="([^"]+)"[^>]*><title>([^<:]+)/g)
    ) {
      const [, , , color, who] = m;
      if (!seen.has(who)) seen.set(who, new Set());
      seen.get(who)!.add(color);
    }
  }
  for (const p of [...PROFILE_ROWS.map((r) => String(r.profile)), "my-design"]) {
    assert.deepEqual([...seen.get(p) ?? []], [profileColor(p)], p);
  }
  assert.equal(profileColor("kho-v4"), PROFILE_COLORS["kho-v4"]);
  assert.notEqual(profileColor("my-design"), profileColor("my-design2"));
});

Deno.test("one value per profile is a bar, and the floor a labelled rule", () => {
  const svg = new Chart(metadataBarsFigure(PROFILE_ROWS)).toSvg();
  assert.equal((svg.match(/<rect /g) ?? []).length, PROFILE_ROWS.length);
  assert.doesNotMatch(svg, /<circle/);
  assert.match(svg, /<g stroke-dasharray="4,3" stroke="black" aria-label="rule">/);
  assert.match(svg, />information floor 415 KiB</);
  const none = new Chart(metadataBarsFigure(PROFILE_ROWS.map((r) => ({ ...r, floorBytes: 0 }))));
  assert.match(none.caption, /0 here: the scenario draws nothing at random/);
  assert.doesNotMatch(none.toSvg(), /information floor/);
});

Deno.test("per-order shares: percent of the per-order sum, per measure", () => {
  const shares = orderShareRows(PROFILE_ROWS.slice(3));
  const bytes = shares.filter((s) => s.measure === "metadata bytes");
  assert.deepEqual(bytes.map((s) => s.order), [0, 9, 18]);
  assert.ok(Math.abs(bytes.reduce((a, s) => a + s.percent, 0) - 100) < 1e-9);
  assert.equal(bytes[0].value, 548864);
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

Deno.test("a timing is a bar at its median with a rule from its min to its max", () => {
  const opts = timingFigure(PROFILE_ROWS, "walkMs", { title: "Walk" });
  assert.equal(
    opts.caption,
    "Walk (ms on the machine that ran it; median of n = 5 isolated repeats after warm-up, " +
      "bars min–max)",
  );
  const svg = new Chart(opts).toSvg();
  assert.equal((svg.match(/<rect /g) ?? []).length, PROFILE_ROWS.length);
  assert.match(svg, /<title>kho-v4: median 53.5 ms \(min 49, max 60.2, n = 5\)<\/title>/);
  // One min–max rule and two end ticks per profile, in black, untitled.
  assert.match(svg, /<g [^>]*stroke="black" aria-label="rule">(<line [^>]*\/>){4}<\/g>/);
  assert.equal((svg.match(/aria-label="tick"/g) ?? []).length, 2);
  // A row without the timing is left out; a lone number is one sample.
  const some: MetricsRow[] = [
    { ...PROFILE_ROWS[0] },
    { profile: "kho-v4", status: "ok", finalizeMs: 3 },
    { profile: "kho-v2", status: "ok" },
  ];
  const f = timingFigure(some, "finalizeMs");
  assert.deepEqual((f.y as { domain: string[] }).domain, ["kho-v4"]);
  assert.match(String(f.caption), /median of n = 1 isolated/);
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
  assert.match(bundle["text/html"], /^<figure class="kholab-chart" data-chart="walk"><figcaption>/);
  assert.match(bundle["text/html"], /<svg/);
  assert.match(bundle["text/plain"], /^\[chart walk: Successor's tracker walk, wall clock \(ms/);
});

Deno.test("a script's rows: named bars and walk panels in their profile's colour", () => {
  const bars = SCRIPT_ROWS.map((r) => ({
    name: String(r.name),
    profile: String(r.profile),
    value: Number(r.handoverBytes),
  }));
  const meta = namedBarsFigure(bars, { title: "Metadata", label: "handover.bytes", bytes: true });
  assert.equal(meta.caption, "Metadata (KiB per measured row; colour: its profile)");
  const svg = new Chart(meta).toSvg();
  assert.equal((svg.match(/<rect /g) ?? []).length, SCRIPT_ROWS.length);
  assert.match(svg, /<title>kho-v3: kho-v3 · pool=2 GiB: 164 KiB<\/title>/);
  assert.deepEqual(tickLabels(svg, "y"), bars.map((b) => b.name));
  const counts = namedBarsFigure(bars.slice(0, 1), { title: "Count", label: "blocks" });
  assert.equal(counts.caption, "Count (count per measured row; colour: its profile)");
  // The walk counters: a bar per named row (y), coloured by its profile.
  const walk = walkCostFigure(SCRIPT_ROWS, undefined, "Walk", { by: "name" });
  assert.deepEqual((walk.y as { domain: string[] }).domain, bars.map((b) => b.name));
  const colors = new Map<string, Set<string>>();
  for (const f of [meta, walk]) {
    for (const m of new Chart(f).toSvg().matchAll(/fill="([^"]+)"[^>]*><title>([^<:]+):/g)) {
      colors.set(m[2], (colors.get(m[2]) ?? new Set()).add(m[1]));
    }
  }
  assert.deepEqual([...colors.keys()].sort(), ["kho-v1-6.19", "kho-v3", "kho-v4"]);
  for (const [p, cs] of colors) assert.deepEqual([...cs], [profileColor(p)], p);
});

Deno.test("sweep figure: bytes on a linear axis in a binary unit from 0; swept sizes on log 2", () => {
  const f = sweepFigure(SCRIPT_ROWS, { y: "handoverBytes", logY: false, xBytes: true });
  assert.equal(f.caption, "handoverBytes along pool (KiB)");
  assert.equal((f.y as { zero?: boolean }).zero, true);
  const svg = new Chart(f).toSvg();
  assert.deepEqual(tickLabels(svg, "x"), ["128 MiB", "256 MiB", "512 MiB", "1 GiB", "2 GiB"]);
  assert.deepEqual(tickLabels(svg, "y").slice(0, 3), ["0", "20", "40"]);
  // Counts keep the plain axis; a log y of bytes keeps its power-of-two ticks.
  const logY = sweepFigure(SCRIPT_ROWS, { y: "handoverBytes", xBytes: true });
  assert.ok(tickLabels(new Chart(logY).toSvg(), "y").every((l) => /^\d+ KiB$/.test(l)));
  const lines = sweepFigure(SCRIPT_ROWS, { y: "walkCacheLines", logY: false, logX: false });
  assert.equal(lines.caption, "walkCacheLines along pool (count)");
});
