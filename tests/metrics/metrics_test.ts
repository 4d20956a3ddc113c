import assert from "node:assert/strict";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../lib/machine/physmem.ts";
import { PagePool } from "../../lib/design/page_pool.ts";
import { khoTableLevel } from "../../lib/kho/abi/rfc_order_table.ts";
import type { OutgoingTracker } from "../../lib/kho/trackers/tracker.ts";
import { RadixTree } from "../../lib/kho/trackers/radix.ts";
import { OrderTableTracker } from "../../lib/kho/trackers/order_table.ts";
import { XarrayTracker } from "../../lib/kho/trackers/xarray.ts";
import {
  COST_MODEL,
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

// ---------------------------------------------------------------- the cost model

/** A fresh tracker of each kind over a 1 TiB sparse memory. */
function trackers() {
  const mem = new PhysicalMemory(2 ** 40);
  const alloc = new PagePool({ mem, basePhys: 2 ** 39, pages: 1 << 16 });
  const log = new KernelLog();
  return {
    radix: RadixTree.create({ mem, alloc, log }),
    orderTable: OrderTableTracker.create({ mem, alloc, log }),
    xarray4k: new XarrayTracker({ mem, alloc, log, bitmapBytes: 4096 }),
    xarray512: new XarrayTracker({ mem, alloc, log, bitmapBytes: 512 }),
  };
}

/** [entries, lines, pages] an add of a block whose path exists charges. */
function addCost(t: OutgoingTracker, pfn: number, order: number): number[] {
  t.add(pfn, order); // build the path
  const s = t.counters.snapshot();
  t.add(pfn + 2 ** order, order);
  const d = t.counters.since(s);
  assert.equal(d.cacheLinesWritten, 1, `${t.kind}: the bit`);
  return [d.entriesVisited, d.cacheLinesRead, d.pagesTouched];
}

Deno.test("the cost model's per-encoding table holds for the trackers", () => {
  const text = COST_MODEL.join("\n");
  assert.match(text, /\| radix tree \| 5 \| 6 \| 6 \|/);
  assert.match(text, /\| order table \| L \| L \+ 1 \| L \+ 1 \|/);
  assert.match(
    text,
    /\| xarray \| h_o \+ 1 \+ h_b \| h_o \+ x\(order\) \+ 1 \+ h_b \+ x\(index\) \+ 1 \| h_o \+ h_b \+ 2 \|/,
  );
  for (const order of [0, 9, 10, 18]) {
    const t = trackers();
    assert.deepEqual(addCost(t.radix, 2 ** 20, order), [5, 6, 6], `radix order ${order}`);
    const L = khoTableLevel(order);
    assert.deepEqual(addCost(t.orderTable, 2 ** 20, order), [L, L + 1, L + 1], `order ${order}`);
  }
  // xarray: order 0 alone, index 0 → h_o 0, h_b 0; then index 39 with order 9 present →
  // h_o 1, x(0) 0, h_b 1, x(39) 1; then order 9 (x(9) = 1), index 0 of a one-entry phys_bits
  const { xarray4k: x } = trackers();
  assert.deepEqual(addCost(x, 0, 0), [1, 2, 2]);
  x.add(0x200, 9);
  assert.deepEqual(addCost(x, 39 * 32768, 0), [3, 1 + 0 + 1 + 1 + 1 + 1, 4]);
  assert.deepEqual(addCost(x, 0x400, 9), [2, 1 + 1 + 1 + 0 + 1, 3]);
});

Deno.test("the cost model's worked figure: the 1 GiB band of review-questions", () => {
  const text = COST_MODEL.join(" ");
  assert.match(text, /costs per page 6 lines on the radix tree/);
  assert.match(text, /4 on 6\.18\/6\.19's xarray/);
  assert.match(text, /about 6 on 6\.16's/);
  assert.match(text, /the `orders` node adds one or two lines/);
  const per = (t: OutgoingTracker, others: boolean) => {
    if (others) t.add(0x200, 9); // a block of another order: `orders` gets its node
    const s = t.counters.snapshot();
    for (let i = 0; i < 2 ** 18; i++) t.add(0x100000 + i, 0);
    return t.counters.since(s).cacheLinesRead / 2 ** 18;
  };
  let t = trackers();
  assert.equal(per(t.radix, false), 6);
  assert.equal(per(t.xarray4k, false), 4);
  assert.equal(Math.round(per(t.xarray512, false)), 6);
  t = trackers();
  assert.equal(per(t.radix, true), 6);
  assert.equal(per(t.xarray4k, true), 5);
  assert.equal(Math.round(per(t.xarray512, true)), 7);
});
