/**
 * Golden SVG files for charts, normalised as Observable Plot's own tests do: the
 * `plot-xxxxxx` class hash replaced, ids (clip paths, markers, patterns) renumbered in order
 * of appearance, and decimals rounded to two places. `KHOLAB_UPDATE_GOLDEN=1` rewrites the
 * files instead of comparing.
 *
 * @module
 */

import assert from "node:assert/strict";

/** The folder of the golden files. */
export const GOLDEN_DIR = new URL("./__golden__/", import.meta.url);

/** Normalises an SVG/HTML string for comparison. */
export function normalizeSvg(text: string): string {
  let s = text.replace(/plot-[0-9a-f]{6}(?![0-9a-z-])/g, "plot");
  const ids = new Map<string, string>();
  for (const m of s.matchAll(/\bid="([^"]+)"/g)) {
    if (!ids.has(m[1])) ids.set(m[1], `id-${ids.size + 1}`);
  }
  s = s.replace(/\bid="([^"]+)"/g, (_, id) => `id="${ids.get(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (all, id) => ids.has(id) ? `url(#${ids.get(id)})` : all)
    .replace(/href="#([^"]+)"/g, (all, id) => ids.has(id) ? `href="#${ids.get(id)}"` : all);
  s = s.replace(/-?\d+\.\d+(?:e[-+]?\d+)?/gi, (x) => {
    const r = Math.round(Number(x) * 100) / 100;
    return String(Object.is(r, -0) ? 0 : r);
  });
  return s.replace(/></g, ">\n<") + "\n";
}

/** Compares (or with KHOLAB_UPDATE_GOLDEN=1 writes) `name` against the normalised `svg`. */
export async function assertGolden(name: string, svg: string): Promise<void> {
  const url = new URL(name, GOLDEN_DIR);
  const actual = normalizeSvg(svg);
  if (Deno.env.get("KHOLAB_UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(url, actual);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(url);
  } catch {
    throw new Error(`golden ${name} missing: run with KHOLAB_UPDATE_GOLDEN=1 to create it`);
  }
  assert.equal(actual, expected, `chart differs from golden ${name}`);
}
