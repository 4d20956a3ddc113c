import assert from "node:assert/strict";
import {
  deterministicPart,
  formatByOrder,
  isWallClock,
  METRIC_NAMES,
  metricDef,
  METRICS,
  parseByOrder,
  renderMetricsDoc,
} from "../../lib/metrics/metrics.ts";

/** Words of a Markdown text, ignoring layout (table padding, rewrapped paragraphs). */
function words(md: string): string[] {
  return md.replace(/:?-{3,}:?/g, "---").split(/[\s|]+/).filter((w) => w !== "");
}

Deno.test("docs/metrics.md is the rendered catalogue (up to deno fmt layout)", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/metrics.md", import.meta.url));
  assert.deepEqual(words(doc), words(renderMetricsDoc()), "regenerate docs/metrics.md");
  for (const m of METRICS) assert.match(doc, new RegExp(`\\| \`${m.name}\` +\\|`), m.name);
  const documented = [...doc.matchAll(/^\| `(\w+)` /gm)].map((x) => x[1]);
  assert.deepEqual(documented, [...METRIC_NAMES]);
});

Deno.test("metric names are unique camelCase, wall-clock ones end in Ms", () => {
  assert.equal(new Set(METRIC_NAMES).size, METRIC_NAMES.length);
  for (const m of METRICS) {
    assert.match(m.name, /^[a-z][A-Za-z0-9]*$/, m.name);
    if (m.kind === "wallclock") assert.ok(m.name.endsWith("Ms") && m.unit === "ms", m.name);
    if (m.unit === "bytes") assert.match(m.name, /Bytes(ByOrder)?$/, m.name);
    if (m.type === "byOrder") assert.ok(m.name.endsWith("ByOrder"), m.name);
  }
  assert.equal(metricDef("walkCacheLines")?.kind, "deterministic");
  assert.equal(metricDef("nope"), undefined);
});

Deno.test("deterministicPart drops exactly the wall-clock metrics and their statistics", () => {
  const row = {
    profile: "kho-v4",
    walkCacheLines: 64,
    walkMs: 1.5,
    "walkMs.n": 5,
    "walkMs.median": 1.5,
    "walkMs.min": 1,
    "walkMs.max": 9,
    "reserveMs.max": 3,
    "walkCacheLines.max": 2, // not a timing: a deterministic metric has no statistics
    extra: 1,
  };
  assert.deepEqual(deterministicPart(row), {
    profile: "kho-v4",
    walkCacheLines: 64,
    "walkCacheLines.max": 2,
    extra: 1,
  });
  assert.ok(isWallClock("preserveMs") && !isWallClock("preservedBlocks"));
  assert.ok(isWallClock("walkMs.min") && !isWallClock("walkMs.mean") && !isWallClock("bootMs"));
});

Deno.test("per-order values round-trip and omit zeros", () => {
  assert.equal(formatByOrder([3, 0, 0, 1]), "0:3 3:1");
  assert.equal(formatByOrder(new Map([[18, 1008], [0, 1048576]])), "0:1048576 18:1008");
  assert.deepEqual([...parseByOrder("0:1048576 18:1008")], [[0, 1048576], [18, 1008]]);
  assert.deepEqual([...parseByOrder("9:2.5")], [[9, 2.5]]);
  assert.equal(parseByOrder("").size, 0);
  assert.throws(() => parseByOrder("x:1"), SyntaxError);
});
