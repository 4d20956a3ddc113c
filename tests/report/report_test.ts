import assert from "node:assert/strict";
import { rowOutcomes } from "../../lib/metrics/outcomes.ts";
import { ManualClock, wallClock } from "../../lib/rng.ts";
import { demoReport, writeReport } from "../../lib/report/report.ts";
import { rowsFromCsv } from "../../lib/scenario/export.ts";
import { outcomeProblems, type Outcomes, totalOutcomes } from "../../lib/metrics/outcomes.ts";
import { codeRevision, versions } from "../../lib/report/provenance.ts";
import { requireTool } from "../support/system_tools.ts";
import { HeadlessChromium } from "./cdp.ts";
import { layoutCheck, type LayoutReport } from "./layout_check.ts";
import * as Plot from "@observablehq/plot";
import { Chart, escapeHtml } from "../../lib/plot/chart.ts";
import { getProfile, hasGuestMemory } from "../../lib/kho/profiles.ts";
import { availableProfiles } from "../../lib/scenario/run.ts";
import { profileColor } from "../../lib/plot/palette.ts";
import { renderReportHtml } from "../../lib/report/html.ts";
import { FIGURES } from "../plot/standard_figures.ts";
import { PROFILE_ROWS } from "../plot/fixtures.ts";

/** Where tests leave their artefacts (git-ignored). */
const OUT_DIR = new URL("../../.out/tests/report/", import.meta.url).pathname;

/** A small host so the demo report is quick in tests (same code path as `deno task demo`). */
const SMALL_DEMO = {
  ramBytes: "48G",
  guestBytes: "32G",
  poolBytes: "1G",
  iommuPages: 4096,
  vmallocBuffers: 2,
  dmaBlocks: 4,
  poison: 0,
};

Deno.test("writeReport: self-contained page, data.json and CSVs that agree", async () => {
  const outDir = await Deno.makeTempDir();
  const r = await writeReport({
    clock: new ManualClock(),
    scenario: "uniform",
    params: { ramBytes: "2G", pages: 300 },
    profiles: ["kho-v1-6.19", "kho-v4"],
    seed: 7,
    outDir,
    workers: 0,
    progress: false,
  });
  const html = await Deno.readTextFile(`${outDir}/index.html`);
  assert.doesNotMatch(html, /<script|<link |src="http/, "no scripts or external resources");
  for (
    const name of [
      "metadata_bars",
      "walk_cost",
      "order_share",
      "preserve_time",
      "finalize_time",
      "walk_time",
      "reserve_time",
      "buddyinfo-kho-v1-6.19",
      "buddyinfo-kho-v4",
      "radix_levels-kho-v4",
    ]
  ) {
    assert.match(
      html,
      new RegExp(`<figure class="kholab-chart" data-chart="${name}"><figcaption>[^<]+\\)`),
      name,
    );
  }
  assert.doesNotMatch(html, /data-chart="radix_levels-kho-v1-6.19"/, "no radix tree in 6.19");
  assert.match(html, /<details open><summary>kho-v1-6\.19<\/summary>/);
  assert.match(html, /<details><summary>kho-v4<\/summary>/);
  assert.doesNotMatch(html, /data-chart="metadata"/, "no scatter of one point per profile");
  assert.match(html, /data-chart="compat_matrix"/);
  assert.ok(html.includes(r.meta.command) && html.includes(r.meta.revision));
  assert.ok(html.includes(`Deno ${Deno.version.deno}`.replace("Deno", "deno")));
  const data = JSON.parse(await Deno.readTextFile(`${outDir}/data.json`));
  assert.equal(data.meta.seed, 7);
  assert.deepEqual(data.meta.profiles, ["kho-v1-6.19", "kho-v4"]);
  assert.equal(data.rows.length, 2);
  assert.equal(data.matrix.length, 4);
  // Timings nested in data.json, flat in rows.csv; how they were measured in the meta.
  assert.deepEqual(data.rows[0].timings.walkMs, { n: 5, median: 0, min: 0, max: 0 });
  assert.equal(data.meta.timing.repeat, 5);
  assert.match(html, /median \(min–max\) in ms of 5 isolated repeats after warm-up/);
  assert.match(html, /the deterministic counters above are the comparison to rely on/);
  const rows = rowsFromCsv(await Deno.readTextFile(`${outDir}/rows.csv`));
  assert.deepEqual(rows.map((x) => x.handoverBytes), r.rows.map((x) => x.handoverBytes));
  assert.deepEqual(rows.map((x) => x["walkMs.n"]), [5, 5]);
  assert.equal(rows[1].profile, "kho-v4");
  assert.ok((await Deno.readTextFile(`${outDir}/radix_levels.csv`)).startsWith("profile,level,"));
  assert.deepEqual(data.inspections.map((v: { profile: string }) => v.profile), [
    "kho-v1-6.19",
    "kho-v4",
  ]);
  assert.match(r.summary, /^profile/);
  await Deno.remove(outDir, { recursive: true });
});

Deno.test("writeReport: deterministic metrics do not depend on the run", async () => {
  const run = async () => {
    const outDir = await Deno.makeTempDir();
    const r = await writeReport({
      clock: new ManualClock(),
      scenario: "uniform",
      params: { ramBytes: "1G", pages: 100 },
      profiles: ["kho-v4"],
      outDir,
      workers: 0,
      matrix: false,
      progress: false,
    });
    await Deno.remove(outDir, { recursive: true });
    return { walk: r.rows[0].walkCacheLines, levels: r.inspection!.radix!.levels };
  };
  assert.deepEqual(await run(), await run());
});

Deno.test("provenance: revision and versions", () => {
  assert.match(codeRevision(), /^([0-9a-f]{40}(\+dirty)?|unknown)$/);
  const v = versions();
  assert.equal(v.deno, Deno.version.deno);
  assert.equal(v.plot, "0.6.17");
});

/** Loads `file` in `browser` and returns the console errors seen. */
async function load(browser: HeadlessChromium, file: string): Promise<string[]> {
  await browser.send("Page.enable");
  await browser.send("Runtime.enable");
  await browser.send("Log.enable");
  const loaded = browser.waitFor("Page.loadEventFired");
  await browser.send("Page.navigate", { url: `file://${file}` });
  await loaded;
  const errors: string[] = [];
  for (const e of browser.events) {
    if (e.method === "Runtime.exceptionThrown") errors.push(JSON.stringify(e.params));
    if (
      e.method === "Runtime.consoleAPICalled" &&
      ["error", "assert"].includes(String(e.params.type))
    ) errors.push(JSON.stringify(e.params));
    if (
      e.method === "Log.entryAdded" &&
      (e.params.entry as { level: string }).level === "error"
    ) errors.push(JSON.stringify(e.params));
  }
  return errors;
}

Deno.test("the demo loses nothing: every generation that cannot preserve the 1 GiB guests says so, with its reason, in the rows and on the page", async () => {
  const outDir = `${OUT_DIR}demo-unsupported`;
  const r = await demoReport({
    outDir,
    params: SMALL_DEMO,
    progress: false,
    clock: new ManualClock(),
    repeat: 1,
    workers: 0,
  });
  assert.deepEqual(r.rows.map((x) => x.profile), availableProfiles(), "every generation");
  const page = await Deno.readTextFile(`${outDir}/index.html`);
  assert.match(page, /no hugetlb preservation/); // the reasons under the Outcomes table
  for (const row of r.rows) {
    const p = String(row.profile);
    assert.equal(row.lostObjects, 0, `${p}: nothing lost`);
    if (hasGuestMemory(getProfile(p), "hugetlb")) {
      assert.equal(row.status, "ok", `${p}: ${row.errors}`);
      continue;
    }
    assert.equal(row.status, "unsupported", p);
    // the guests' memfds: unsupported, with the generation's reason, on the page too
    const memfd = rowOutcomes(row).memfd;
    assert.ok(memfd.unsupported > 0, p);
    const reason = memfd.reasons.find((x) => /no hugetlb preservation — /.test(x));
    assert.ok(reason !== undefined, `${p}: ${memfd.reasons}`);
    assert.ok(page.includes(escapeHtml(reason)), `${p}: its reason on the page`);
  }
});

Deno.test("demo report in headless Chromium: every chart drawn, captioned, legible, coloured", async () => {
  if (!requireTool("chromium")) return;
  const outDir = `${OUT_DIR}demo`;
  const r = await demoReport({ outDir, params: SMALL_DEMO, progress: false, clock: wallClock });
  assert.ok(r.charts.size >= 6);
  const browser = await HeadlessChromium.launch();
  try {
    const errors = await load(browser, `${outDir}/index.html`);
    const layout = await browser.evaluate<LayoutReport>(layoutCheck(r.meta.profiles));
    assert.deepEqual(layout.charts.sort(), [...r.charts.keys()].sort());
    assert.deepEqual(layout.problems, [], "layout problems");
    // One colour per profile, the palette's, in every chart that colours by profile.
    assert.deepEqual(Object.keys(layout.colors).sort(), [...r.meta.profiles].sort());
    for (const [p, cs] of Object.entries(layout.colors)) assert.deepEqual(cs, [profileColor(p)], p);
    const sizes = await browser.evaluate<{ name: string; w: number; h: number }[]>(`
      [...document.querySelectorAll(".kholab-chart")].map((d) => {
        const svgs = [...d.querySelectorAll("svg")];
        const main = svgs[svgs.length - 1];
        const b = main ? main.getBoundingClientRect() : { width: 0, height: 0 };
        return { name: d.dataset.chart, w: b.width, h: b.height };
      })`);
    for (const s of sizes) assert.ok(s.w > 0 && s.h > 0, `chart ${s.name} has size ${s.w}x${s.h}`);
    const { contentSize } = await browser.send("Page.getLayoutMetrics") as {
      contentSize: { width: number; height: number };
    };
    const shot = await browser.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: contentSize.width, height: contentSize.height, scale: 1 },
    }) as { data: string };
    const png = Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0));
    assert.deepEqual([...png.slice(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
    await Deno.writeFile(`${OUT_DIR}demo.png`, png);
    // The demo's data.json: the floor is a floor; every timing has n ≥ 5 samples with
    // median, min and max (the acceptance), measured on the wall clock.
    const data = JSON.parse(await Deno.readTextFile(`${outDir}/data.json`));
    assert.ok(data.meta.timing.repeat >= 5);
    for (const row of data.rows) {
      assert.ok(row.floorBytes <= row.handoverBytes, `${row.profile}: ${row.floorDomains}`);
      const names = Object.keys(row.timings ?? {});
      for (const n of ["preserveMs", "walkMs", "populateMs", "reserveMs"]) {
        assert.ok(names.includes(n), `${row.profile}: no ${n}`);
      }
      for (const [name, t] of Object.entries(row.timings) as [string, Record<string, number>][]) {
        assert.ok(t.n >= 5, `${row.profile} ${name}: n = ${t.n}`);
        for (const k of ["median", "min", "max"]) {
          assert.ok(Number.isFinite(t[k]) && t[k] >= 0, `${row.profile} ${name}.${k}`);
        }
        assert.ok(t.min <= t.median && t.median <= t.max, `${row.profile} ${name}`);
        assert.equal(row[name], t.median, `${row.profile}: ${name} is the median`);
      }
      assert.doesNotMatch(row.errors, /timing:/, `${row.profile}: a replay disagreed`);
      assertOutcomesExplained(row);
    }
    assert.deepEqual(errors, [], "console errors");
  } finally {
    await browser.close();
  }
});

/**
 * The acceptance for a row of data.json: per kind, the outcomes add up to `attempted`
 * and every count but `restored` has its reasons; the row's totals are their sums.
 */
function assertOutcomesExplained(row: Record<string, unknown>): void {
  const outcomes = row.outcomes as Outcomes;
  assert.ok(outcomes && Object.keys(outcomes).length > 0, `${row.profile}: no outcomes`);
  for (const [kind, k] of Object.entries(outcomes)) {
    assert.deepEqual(outcomeProblems(kind, k), [], `${row.profile} ${kind}`);
  }
  const total = totalOutcomes(outcomes);
  assert.deepEqual(
    [row.attemptedObjects, row.lostObjects, row.restoreFailures, row.unsupportedObjects],
    [total.attempted, total.lost, total.failedRestore, total.unsupported],
    `${row.profile}`,
  );
}

Deno.test("demo data.json: every row's outcomes add up per kind, every non-restored count has its reason", async () => {
  const outDir = await Deno.makeTempDir();
  // 1 GiB guests as plain folios: restored, failedRestore (order 18 > 10), lost (the order
  // table) and unsupported (no kho_preserve_vmalloc) in one report.
  await demoReport({
    outDir,
    params: { ...SMALL_DEMO, guestClient: "folio" },
    profiles: ["kho-v1-6.16", "kho-v1-6.18", "rfc-v1-order-table", "kho-v4"],
    repeat: 1,
    workers: 0,
    progress: false,
    clock: new ManualClock(),
  });
  const data = JSON.parse(await Deno.readTextFile(`${outDir}/data.json`));
  for (const row of data.rows) assertOutcomesExplained(row);
  const by = Object.fromEntries(
    data.rows.map((r: { profile: string; outcomes: Outcomes }) => [r.profile, r.outcomes]),
  );
  assert.deepEqual(
    ["kho-v1-6.16", "kho-v1-6.18", "rfc-v1-order-table", "kho-v4"].map((p) => [
      by[p].folio.failedRestore,
      by[p].folio.lost,
      by[p].vmalloc.unsupported,
    ]),
    [[32, 0, 2], [32, 0, 0], [0, 32, 2], [0, 0, 0]],
  );
  assert.match(by["rfc-v1-order-table"].folio.reasons[0], /survived only because freed memory/);
  // rows.csv keeps them flat; the page shows the reasons next to the counts.
  const csv = rowsFromCsv(await Deno.readTextFile(`${outDir}/rows.csv`));
  assert.equal(csv[1]["outcomes.folio.failedRestore"], 32);
  const html = await Deno.readTextFile(`${outDir}/index.html`);
  assert.match(html, /<caption>Outcomes: what became of every object/);
  assert.match(html, /order 18 &gt; 10/);
  await Deno.remove(outDir, { recursive: true });
});

Deno.test("the layout check fails on overlapping and clipped labels and a missing caption", async () => {
  if (!requireTool("chromium")) return;
  const long = ["a-very-long-profile-name-one", "a-very-long-profile-name-two", "kho-v4"];
  const rows = long.map((profile, i) => ({ profile, handoverBytes: 1000 * (i + 1), walkMs: i }));
  const bad = [
    // x tick labels far too long for their room: they overlap
    new Chart({
      caption: "overlapping ticks (units)",
      width: 200,
      x: { domain: long, tickRotate: 0 },
      marks: [Plot.barY(rows, { x: "profile", y: "walkMs" })],
    }, "overlap"),
    // no left margin: the y tick labels are cut off by the SVG viewport
    new Chart({
      caption: "clipped ticks (units)",
      marginLeft: 0,
      y: { domain: long },
      marks: [Plot.barX(rows, { y: "profile", x: "walkMs" })],
    }, "clipped"),
    // a chart without a caption
    new Chart({ marks: [Plot.barX(rows, { y: "profile", x: "walkMs" })] }, "uncaptioned"),
    // a profile drawn in a colour that is not its own
    new Chart({
      caption: "wrong colour (units)",
      marginLeft: 160,
      marks: [Plot.barX(rows, { y: "profile", x: "walkMs", fill: "red", title: "profile" })],
    }, "colour"),
  ];
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/index.html`,
    renderReportHtml({
      title: "bad",
      summary: "",
      reproduce: {},
      sections: [{ title: "x", charts: bad }],
    }),
  );
  const browser = await HeadlessChromium.launch();
  try {
    await load(browser, `${dir}/index.html`);
    const layout = await browser.evaluate<LayoutReport>(layoutCheck(["kho-v4"]));
    const text = layout.problems.join("\n");
    assert.match(text, /^overlap: x-axis tick labels overlap: /m);
    assert.match(text, /^clipped: text clipped: "a-very-long-profile-name-one"/m);
    assert.match(text, /^uncaptioned: no caption$/m);
    assert.deepEqual(layout.colors["kho-v4"], ["red"]);
    assert.notEqual(profileColor("kho-v4"), "red");
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every standard figure, drawn from the plot fixtures, passes the layout check", async () => {
  if (!requireTool("chromium")) return;
  const charts = FIGURES.map(([name, make]) => {
    const c = make();
    return new Chart(c.options, name);
  });
  const dir = `${OUT_DIR}figures`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/index.html`,
    renderReportHtml({
      title: "figures",
      summary: "",
      reproduce: {},
      sections: [{ title: "all figures", charts }],
    }),
  );
  const browser = await HeadlessChromium.launch();
  try {
    const errors = await load(browser, `${dir}/index.html`);
    const profiles = [...new Set(PROFILE_ROWS.map((r) => String(r.profile)))];
    const layout = await browser.evaluate<LayoutReport>(layoutCheck(profiles));
    assert.deepEqual(layout.charts, FIGURES.map(([n]) => n));
    assert.deepEqual(layout.problems, [], "layout problems");
    for (const [p, cs] of Object.entries(layout.colors)) assert.deepEqual(cs, [profileColor(p)], p);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
