import assert from "node:assert/strict";
import { ResultTable, table } from "../../lib/plot/table.ts";
import { formatBytes } from "../../lib/scenario/compare.ts";

const ROWS = [
  { profile: "kho-v4", handoverBytes: 585728, status: "ok" },
  { profile: "x<y>", handoverBytes: 1024, status: "lost" },
];

Deno.test("ResultTable renders HTML with escaping, formatters and right-aligned numbers", () => {
  const t = new ResultTable(ROWS, [
    "profile",
    { header: "handover", metric: "handoverBytes", format: formatBytes },
  ], "a & b");
  const html = t.toHtml();
  assert.match(html, /<caption>a &amp; b<\/caption>/);
  assert.match(html, /<th>handover<\/th>/);
  assert.match(html, /<td style="text-align:right">572 KiB<\/td>/);
  assert.match(html, /<td>x&lt;y&gt;<\/td>/);
  assert.doesNotMatch(html, /status/);
});

Deno.test("ResultTable text and display bundle; default columns from the first row", () => {
  const t = table(ROWS);
  assert.deepEqual(t.columns.map((c) => c.metric), ["profile", "handoverBytes", "status"]);
  const bundle = (t as unknown as Record<symbol, () => Record<string, string>>)[
    Symbol.for("Jupyter.display")
  ]();
  assert.equal(bundle["text/plain"], t.toText());
  assert.match(bundle["text/plain"], /^profile\s+handoverBytes\s+status\n/);
  assert.match(bundle["text/html"], /^<table class="kholab-table">/);
  assert.match(new ResultTable([{ a: 1 }], ["a", "b"]).toText(), /1\s+-/);
});
