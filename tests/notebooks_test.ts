/**
 * Executes every notebook in `notebooks/` with a real Jupyter client (Debian's nbclient via
 * `tools/run_notebooks.py`, which keeps late outputs) against the Deno kernel through a
 * project-local kernelspec, then checks the executed notebook: every code cell ran without an
 * error output, every cell tagged `chart` shows an HTML chart (a `<figure>` whose caption
 * names its units) with an `<svg>`, every cell tagged `table` an HTML table. Executed
 * notebooks are left in `.out/notebooks/`. The executed pages in `docs/notebooks/` (written by
 * `deno task notebooks:html`) are checked the same way.
 */
import assert from "node:assert/strict";
import { writeKernelspec } from "../tools/kernelspec.ts";
import { requireTool } from "./support/system_tools.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const OUT = `${ROOT}.out/notebooks/`;

/** Every notebook and the number of charts it must show. */
const NOTEBOOKS: [string, number][] = [
  ["hypervisor-1tib", 5],
  ["encodings-sweep", 4],
  ["review-questions", 5],
  ["test-kho-and-chains", 2],
  ["language-tour", 2],
  ["design-your-own", 4],
  ["extended-scratch", 1],
];

interface Cell {
  cell_type: string;
  metadata: { tags?: string[] };
  source: string | string[];
  outputs?: { output_type: string; data?: Record<string, string | string[]>; ename?: string }[];
}

const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join("") : v ?? "");

Deno.test("every notebook file is listed here and uses the Deno kernel", async () => {
  const files = [...Deno.readDirSync(`${ROOT}notebooks`)].map((e) => e.name)
    .filter((n) => n.endsWith(".ipynb")).map((n) => n.slice(0, -6)).sort();
  assert.deepEqual(files, NOTEBOOKS.map(([n]) => n).sort());
  for (const [name] of NOTEBOOKS) {
    const nb = JSON.parse(await Deno.readTextFile(`${ROOT}notebooks/${name}.ipynb`));
    assert.equal(nb.metadata.kernelspec.language, "typescript", name);
    for (const c of nb.cells as Cell[]) {
      if (c.cell_type === "code") {
        assert.deepEqual(c.outputs, [], `${name}: stored without outputs`);
      }
    }
  }
});

for (const [name, charts] of NOTEBOOKS) {
  Deno.test(`notebook ${name} runs top to bottom with every chart`, async () => {
    if (!requireTool("jupyter")) return;
    const jupyterPath = await Deno.makeTempDir({ prefix: "kholab-kernelspec-" });
    await writeKernelspec(jupyterPath, Deno.execPath());
    await Deno.mkdir(OUT, { recursive: true });
    const out = `${OUT}${name}.ipynb`;
    const r = await new Deno.Command("/usr/bin/python3", {
      args: [
        `${ROOT}tools/run_notebooks.py`,
        "--kernel",
        "kholab-deno",
        "--timeout",
        // Per cell: hypervisor-1tib's comparison runs the 1 TiB host (516,096 guest folios in
        // memfds through LUO or hugetlbfs) for 14 profiles, ~4.5 min alone, then replays each
        // profile's timed regions alone (5 samples after warm-up, ~1 min: kho_mem_retrieve of
        // 1.5 M blocks is ~1 s a sample); more beside the whole suite.
        "900",
        `${ROOT}notebooks/${name}.ipynb`,
        out,
      ],
      env: { JUPYTER_PATH: jupyterPath, NO_COLOR: "1", PYTHONWARNINGS: "ignore" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(jupyterPath, { recursive: true });
    const log = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert.ok(r.success, `notebook ${name} failed:\n${log}`);
    const nb = JSON.parse(await Deno.readTextFile(out));
    let shown = 0;
    for (const [i, c] of (nb.cells as Cell[]).entries()) {
      if (c.cell_type !== "code") continue;
      const outs = c.outputs ?? [];
      const where = `${name} cell ${i}: ${text(c.source).split("\n")[0]}`;
      assert.ok(!outs.some((o) => o.output_type === "error"), `${where} has an error output`);
      const tags = c.metadata.tags ?? [];
      if (tags.includes("chart")) {
        const html = outs.map((o) => text(o.data?.["text/html"])).join("");
        assert.match(
          html,
          /<figure class="kholab-chart"[^>]*><figcaption>[^<]+\)<\/figcaption>[\s\S]*<svg/,
          `${where}: no chart with a caption that ends in its units`,
        );
        shown++;
      }
      if (tags.includes("table")) {
        const html = outs.map((o) => text(o.data?.["text/html"])).join("");
        assert.match(html, /<table class="kholab-table">/, `${where}: no table`);
      }
    }
    assert.equal(shown, charts, `${name}: charts shown`);
  });
}

Deno.test("docs/notebooks holds an executed page of every notebook, charts and all", async () => {
  const pages = [...Deno.readDirSync(`${ROOT}docs/notebooks`)].map((e) => e.name).sort();
  assert.deepEqual(
    pages,
    NOTEBOOKS.map(([n]) => `${n}.html`).sort(),
    "run deno task notebooks:html",
  );
  for (const [name, charts] of NOTEBOOKS) {
    const html = await Deno.readTextFile(`${ROOT}docs/notebooks/${name}.html`);
    const figures = html.match(
      /<figure class="kholab-chart"[^>]*><figcaption>[^<]+\)<\/figcaption>/g,
    );
    assert.equal(figures?.length ?? 0, charts, `${name}: charts with captions`);
    assert.doesNotMatch(
      html,
      /data-mime-type="application\/vnd\.jupyter\.stderr"|AssertionError|Uncaught /,
      name,
    );
    assert.doesNotMatch(html, /<script[^>]*src="file:/, `${name}: no local script paths`);
    const nb = JSON.parse(await Deno.readTextFile(`${ROOT}notebooks/${name}.ipynb`));
    const code = (nb.cells as Cell[]).filter((c) => c.cell_type === "code").length;
    const prompts = html.match(/jp-InputPrompt[^>]*>In&nbsp;\[\d+\]:/g)?.length ?? 0;
    assert.equal(prompts, code, `${name}: every code cell executed`);
  }
});
