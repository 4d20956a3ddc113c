import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { runScript } from "../../lib/dsl/run.ts";
import { escapeHtml } from "../../lib/plot/chart.ts";
import { profileColor } from "../../lib/plot/palette.ts";
import { type ScriptReportResult, writeScriptReport } from "../../lib/report/script_report.ts";
import { parseCsv } from "../../lib/scenario/export.ts";
import { requireTool } from "../support/system_tools.ts";
import { HeadlessChromium } from "./cdp.ts";
import { layoutCheck, type LayoutReport } from "./layout_check.ts";

/** Where tests leave their artefacts (git-ignored). */
const OUT_DIR = new URL("../../.out/tests/script_report/", import.meta.url).pathname;
const EXAMPLE = "examples/hypervisor-small.kho";
const ROOT = new URL("../../", import.meta.url).pathname;
const readFile = (p: string) => Deno.readTextFileSync(`${ROOT}${p}`);

/** The example's report, written once for the tests that read it. */
let example: Promise<ScriptReportResult> | null = null;
function exampleReport(): Promise<ScriptReportResult> {
  example ??= (async () => {
    await Deno.remove(`${OUT_DIR}example`, { recursive: true }).catch(() => {});
    return writeScriptReport({
      file: EXAMPLE,
      text: readFile(EXAMPLE),
      readFile,
      outDir: `${OUT_DIR}example`,
      clock: new ManualClock(),
    });
  })();
  return example;
}

Deno.test("report from examples/hypervisor-small.kho: files, charts, every sweep point, the script", async () => {
  const r = await exampleReport();
  const dir = `${OUT_DIR}example`;
  assert.equal(r.exitCode, 0, r.output);
  assert.deepEqual(r.files.map((f) => f.slice(dir.length + 1)), [
    "index.html",
    "data.json",
    "rows.csv",
    "expects.csv",
    "script.kho",
  ]);
  const html = await Deno.readTextFile(`${dir}/index.html`);
  assert.doesNotMatch(html, /<script|<link |src="http/, "self-contained");
  // At least two charts from the script's rows, each a figure with its caption, in order.
  assert.ok(r.charts.length >= 2);
  assert.deepEqual(r.charts.map((c) => c.kind), [
    "metadata",
    "walk",
    "sweep",
    "sweep",
    "by-order",
    "buddyinfo",
  ]);
  const figures = [
    ...html.matchAll(
      /<figure class="kholab-chart" data-chart="([^"]+)"><figcaption>[^<]+\)<\/figcaption>/g,
    ),
  ]
    .map((m) => m[1]);
  assert.deepEqual(figures, r.charts.map((c) => c.name));
  assert.deepEqual(r.pageCharts, figures);
  // The script, embedded for reproduction, with the command that reruns it.
  const text = readFile(EXAMPLE);
  assert.ok(html.includes(escapeHtml(text)), "the script text on the page");
  assert.equal(await Deno.readTextFile(`${dir}/script.kho`), text);
  assert.ok(html.includes(escapeHtml(r.meta!.command)));
  assert.match(
    r.meta!.command,
    /^deno task kholab report examples\/hypervisor-small\.kho --seed 42 /,
  );
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  assert.equal(
    r.meta!.scriptSha256,
    [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
  );
  assert.ok(html.includes(r.meta!.scriptSha256) && html.includes(r.meta!.revision));
  // data.json: the rows are the script's measure rows, exactly as a run of it records them.
  const data = JSON.parse(await Deno.readTextFile(`${dir}/data.json`));
  const again = runScript(text, { file: EXAMPLE, readFile, clock: new ManualClock() });
  assert.equal(again.exitCode, 0);
  assert.deepEqual(data.rows, JSON.parse(JSON.stringify(again.results.measurements)));
  assert.equal(data.script.text, text);
  assert.deepEqual(data.meta.swept, ["p", "pool"]);
  assert.deepEqual(data.meta.expects, { passed: again.results.expects.length, failed: 0 });
  assert.deepEqual(data.charts.map((c: { name: string }) => c.name), r.charts.map((c) => c.name));
  // A report over a sweep shows every point: 3 generations × 3 pools, in the table, the CSV
  // and the charts that draw them.
  const points = new Set(
    data.rows.filter((x: { label: string }) => x.label === "before-kexec")
      .map((x: { params: { p: string; pool: number } }) => `${x.params.p}@${x.params.pool}`),
  );
  assert.equal(points.size, 9);
  const metadata = data.charts.find((c: { kind: string }) => c.kind === "metadata");
  assert.equal(metadata.rows.length, 9);
  for (const i of metadata.rows) assert.equal(data.rows[i].label, "before-kexec");
  const sweep = data.charts.find((c: { kind: string }) => c.kind === "sweep");
  assert.deepEqual(sweep.options.x, "pool");
  assert.equal(sweep.rows.length, 9);
  for (const pool of ["128 MiB", "512 MiB", "2 GiB"]) {
    assert.match(html, new RegExp(`<td>${pool}</td>`), `pool ${pool} in the table`);
  }
  const csv = parseCsv(await Deno.readTextFile(`${dir}/rows.csv`));
  assert.deepEqual(csv[0].slice(0, 3), ["label", "p", "pool"]);
  assert.equal(csv.length, data.rows.length + 1);
  assert.deepEqual(csv[1].slice(0, 3), ["before-kexec", "kho-v1-6.19", String(128 * 2 ** 20)]);
  const expects = parseCsv(await Deno.readTextFile(`${dir}/expects.csv`));
  assert.deepEqual(expects[0], ["where", "expect", "result", "values"]);
  assert.equal(expects.length, again.results.expects.length + 1);
  assert.match(html, /All \d+ expectations held\./);
});

/** Loads `file` in `browser` and returns the console errors seen. */
async function load(browser: HeadlessChromium, file: string): Promise<string[]> {
  await browser.send("Page.enable");
  await browser.send("Runtime.enable");
  const loaded = browser.waitFor("Page.loadEventFired");
  await browser.send("Page.navigate", { url: `file://${file}` });
  await loaded;
  return browser.events.filter((e) => e.method === "Runtime.exceptionThrown")
    .map((e) => JSON.stringify(e.params));
}

Deno.test("the script report in headless Chromium: every chart drawn, captioned, legible, coloured", async () => {
  if (!requireTool("chromium")) return;
  const r = await exampleReport();
  const browser = await HeadlessChromium.launch();
  try {
    const errors = await load(browser, `${OUT_DIR}example/index.html`);
    const profiles = ["kho-v1-6.19", "kho-v3", "kho-v4"];
    const layout = await browser.evaluate<LayoutReport>(layoutCheck(profiles));
    assert.deepEqual(layout.charts, r.pageCharts);
    assert.ok(layout.charts.length >= 2);
    assert.deepEqual(layout.problems, [], "layout problems");
    assert.deepEqual(Object.keys(layout.colors).sort(), profiles);
    for (const [p, cs] of Object.entries(layout.colors)) assert.deepEqual(cs, [profileColor(p)], p);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

Deno.test("a script that fails writes nothing; a failed expect is written and said", async () => {
  const clock = new ManualClock();
  for (
    const [text, re] of [
      ["machine ram=1G\nmeasure\nchart pie\n", /^bad\.kho:3:7: "pie" is not one of metadata, /],
      ["machine ram=1G\npreserve nothing\n", /^bad\.kho:2:10: preserve: ENOENT/],
      ["machine ram=1G\nmeasure\nchart walk\n", /no measured row after a walk/],
    ] as const
  ) {
    const outDir = `${OUT_DIR}bad`;
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
    const r = await writeScriptReport({ file: "bad.kho", text, outDir, clock });
    assert.equal(r.exitCode, 2);
    assert.match(r.error!.message, re);
    assert.deepEqual(r.files, []);
    assert.equal(r.meta, null);
    await assert.rejects(() => Deno.stat(outDir), Deno.errors.NotFound, "nothing written");
  }
  const outDir = await Deno.makeTempDir();
  const r = await writeScriptReport({
    file: "fails.kho",
    text:
      "machine ram=1G\nb = pages count=4\npreserve b\nmeasure label=m\nexpect preserved.blocks == 5\n",
    outDir,
    clock,
  });
  assert.equal(r.exitCode, 1);
  assert.deepEqual(r.meta!.expects, { passed: 0, failed: 1 });
  const html = await Deno.readTextFile(`${outDir}/index.html`);
  assert.match(html, /1 of 1 expectations failed\./);
  assert.match(html, /preserved\.blocks = 4/);
  assert.match(
    await Deno.readTextFile(`${outDir}/expects.csv`),
    /^fails\.kho:5,preserved\.blocks == 5,FAILED,/m,
  );
  await Deno.remove(outDir, { recursive: true });
});

Deno.test("a script's includes are embedded and written beside it; --set variables recorded", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/part.kho`, "b = pages count=$n\npreserve b\nmeasure label=m\n");
  await Deno.writeTextFile(`${dir}/main.kho`, "machine ram=1G\ninclude part.kho\n");
  const r = await writeScriptReport({
    file: `${dir}/main.kho`,
    outDir: `${dir}/out`,
    vars: { n: 8 },
    seed: 5,
    clock: new ManualClock(),
  });
  assert.equal(r.exitCode, 0, r.output);
  assert.equal(r.rows[0].metrics["preserved.blocks"], 8);
  assert.deepEqual(r.files.map((f) => f.slice(dir.length + 5)), [
    "index.html",
    "data.json",
    "rows.csv",
    "expects.csv",
    "script.kho",
    "includes/1-part.kho",
  ]);
  const data = JSON.parse(await Deno.readTextFile(`${dir}/out/data.json`));
  assert.deepEqual(data.script.includes, [{
    file: `${dir}/part.kho`,
    text: "b = pages count=$n\npreserve b\nmeasure label=m\n",
  }]);
  assert.deepEqual([data.meta.seed, data.meta.vars], [5, { n: 8 }]);
  const html = await Deno.readTextFile(`${dir}/out/index.html`);
  assert.match(html, /included: [^<]*part\.kho/);
  assert.match(html, /<dt>variables<\/dt><dd>n=8<\/dd>/);
  assert.match(html, /1 row, one per measure statement run\./);
  await Deno.remove(dir, { recursive: true });
});
