/**
 * `deno task notebooks:html`: executes every notebook of `notebooks/` top to bottom on the
 * Deno kernel (a project-local kernelspec from `kernelspec.ts`, Debian's nbclient through
 * `run_notebooks.py`) and writes each executed notebook as a self-contained HTML page into
 * `docs/notebooks/NAME.html` with nbconvert's HTML exporter, so the notebooks can be read
 * without running anything. Needs `python3-nbclient` and `jupyter-nbconvert` (Debian).
 *
 * Usage: `deno run -A tools/notebooks_html.ts [NAME …]` (default: every notebook).
 * Exits 1 when a notebook fails (its page is still written, with the error in it).
 *
 * @module
 */

import { KERNEL_NAME, writeKernelspec } from "./kernelspec.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const OUT_DIR = `${ROOT}docs/notebooks`;

/** Runs a command with inherited output; returns whether it succeeded. */
async function run(cmd: string, args: string[], env: Record<string, string>): Promise<boolean> {
  const r = await new Deno.Command(cmd, { args, env, stdout: "inherit", stderr: "inherit" })
    .output();
  return r.success;
}

/**
 * The page without the `<script src="file:///usr/share/javascript/…">` tags Debian's
 * nbconvert adds (require.js, MathJax: paths on the machine that wrote the page, and the
 * notebooks' outputs need no script).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withoutLocalScripts } from "./notebooks_html.ts";
 * const page = '<head><script src="file:///usr/share/javascript/requirejs/require.min.js"></script></head>';
 * assert.equal(withoutLocalScripts(page), "<head></head>");
 * ```
 */
export function withoutLocalScripts(html: string): string {
  return html.replace(/<script[^>]*\ssrc="file:\/\/[^"]*"[^>]*>\s*<\/script>/g, "");
}

/** Executes `names` (default: every notebook) and writes their HTML; returns the exit code. */
export async function notebooksHtml(names?: readonly string[]): Promise<number> {
  const all = [...Deno.readDirSync(`${ROOT}notebooks`)].map((e) => e.name)
    .filter((n) => n.endsWith(".ipynb")).map((n) => n.slice(0, -6)).sort();
  const chosen = names && names.length > 0 ? [...names] : all;
  const unknown = chosen.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`notebooks:html: no notebook ${unknown.join(", ")} (have: ${all.join(", ")})`);
    return 2;
  }
  const tmp = await Deno.makeTempDir({ prefix: "kholab-notebooks-" });
  try {
    const env = { JUPYTER_PATH: await writeKernelspec(`${tmp}/jupyter`), NO_COLOR: "1" };
    const executed = chosen.map((n) => `${tmp}/${n}.ipynb`);
    const ok = await run("/usr/bin/python3", [
      `${ROOT}tools/run_notebooks.py`,
      "--kernel",
      KERNEL_NAME,
      "--timeout",
      "300",
      ...chosen.flatMap((n, i) => [`${ROOT}notebooks/${n}.ipynb`, executed[i]]),
    ], env);
    await Deno.mkdir(OUT_DIR, { recursive: true });
    const converted = await run("jupyter", [
      "nbconvert",
      "--to",
      "html",
      "--output-dir",
      OUT_DIR,
      ...executed,
    ], { ...env, PYTHONWARNINGS: "ignore" });
    for (const n of chosen) {
      const file = `${OUT_DIR}/${n}.html`;
      await Deno.writeTextFile(file, withoutLocalScripts(await Deno.readTextFile(file)));
    }
    return ok && converted ? 0 : 1;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await notebooksHtml(Deno.args));
