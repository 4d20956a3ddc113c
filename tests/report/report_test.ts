import assert from "node:assert/strict";
import { ManualClock, wallClock } from "../../lib/rng.ts";
import { demoReport, writeReport } from "../../lib/report/report.ts";
import { rowsFromCsv } from "../../lib/scenario/export.ts";
import { codeRevision, versions } from "../../lib/report/provenance.ts";
import { requireTool } from "../support/system_tools.ts";
import { HeadlessChromium } from "./cdp.ts";

/** Where tests leave their artefacts (git-ignored). */
const OUT_DIR = new URL("../../.out/tests/report/", import.meta.url).pathname;

/** A small host so the demo report is quick in tests (same code path as `deno task demo`). */
const SMALL_DEMO = {
  ramBytes: "48G",
  guestFolios: 32,
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
  for (const name of ["metadata", "walk_time", "walk_cost", "buddyinfo", "radix_levels"]) {
    assert.match(html, new RegExp(`data-chart="${name}"><(svg|figure)`), name);
  }
  assert.match(html, /data-chart="compat_matrix"/);
  assert.ok(html.includes(r.meta.command) && html.includes(r.meta.revision));
  assert.ok(html.includes(`Deno ${Deno.version.deno}`.replace("Deno", "deno")));
  const data = JSON.parse(await Deno.readTextFile(`${outDir}/data.json`));
  assert.equal(data.meta.seed, 7);
  assert.deepEqual(data.meta.profiles, ["kho-v1-6.19", "kho-v4"]);
  assert.equal(data.rows.length, 2);
  assert.equal(data.matrix.length, 4);
  const rows = rowsFromCsv(await Deno.readTextFile(`${outDir}/rows.csv`));
  assert.deepEqual(rows.map((x) => x.handoverBytes), r.rows.map((x) => x.handoverBytes));
  assert.equal(rows[1].profile, "kho-v4");
  assert.ok((await Deno.readTextFile(`${outDir}/radix_levels.csv`)).startsWith("level,"));
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

Deno.test("demo report in headless Chromium: no console errors, every chart drawn", async () => {
  if (!requireTool("chromium")) return;
  const outDir = `${OUT_DIR}demo`;
  const r = await demoReport({ outDir, params: SMALL_DEMO, progress: false, clock: wallClock });
  assert.ok(r.charts.size >= 6);
  const browser = await HeadlessChromium.launch();
  try {
    const errors: string[] = [];
    const collect = () => {
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
    };
    await browser.send("Page.enable");
    await browser.send("Runtime.enable");
    await browser.send("Log.enable");
    const loaded = browser.waitFor("Page.loadEventFired");
    await browser.send("Page.navigate", { url: `file://${outDir}/index.html` });
    await loaded;
    const sizes = await browser.evaluate<{ name: string; w: number; h: number }[]>(`
      [...document.querySelectorAll(".kholab-chart")].map((d) => {
        const svgs = [...d.querySelectorAll("svg")];
        const main = svgs[svgs.length - 1];
        const b = main ? main.getBoundingClientRect() : { width: 0, height: 0 };
        return { name: d.dataset.chart, w: b.width, h: b.height,
                 marks: main ? main.querySelectorAll("path,rect,circle,line,text").length : 0 };
      })`);
    assert.deepEqual(sizes.map((s) => s.name).sort(), [...r.charts.keys()].sort());
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
    collect();
    assert.deepEqual(errors, [], "console errors");
  } finally {
    await browser.close();
  }
});
