import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { session } from "../../lib/dsl/tag.ts";

const clock = new ManualClock();

const display = (r: object) =>
  (r as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]();

Deno.test("a session keeps its state across cells: build, preserve, kexec, restore", () => {
  const kho = session({ seed: 3, clock });
  const c1 = kho`machine ram=2G nodes=2
    guest = folios order=9 count=4
    ring = pages order=2 count=8`;
  assert.ok(c1.ok, c1.toString());
  assert.equal(kho.session.objects.size, 2);
  assert.ok(kho`preserve guest ring`.ok);
  const order = 9;
  const c3 = kho`kexec
    restore
    verify guest ring
    expect guest.restored && ring.restored && guest.order == ${order}`;
  assert.ok(c3.ok, c3.toString());
  assert.equal(c3.exitCode, 0);
  assert.equal(kho.session.stats.kexecs, 1);
  assert.equal(kho.value("verify.ok"), 2);
  assert.equal(c3.expects.length, 1);
  assert.match(c3.output.join("\n"), /kexec: boot #1 \(kho-v4\), KHO boot, 2 incoming object/);
});

Deno.test("a cell's error shows FILE:LINE:COL with a caret, rolls back, and the session goes on", () => {
  const kho = session({ clock });
  kho`machine ram=1G
b = folios order=1`;
  const bad = kho`let x = 1
preserve b nothing`;
  assert.equal(bad.ok, false);
  assert.equal(bad.exitCode, 2);
  assert.match(bad.error!.message, /^<cell 2>:2:12: preserve: ENOENT: no object "nothing"/);
  assert.ok(bad.error!.message.endsWith("\n   2 | preserve b nothing\n     |            ^^^^^^^"));
  assert.equal(kho.session.objects.get("b")!.state, "allocated", "rolled back");
  assert.equal(kho.value("x"), 1, "statements before the failing one stay done");
  assert.throws(() => bad.orThrow(), /no object "nothing"/);
  const html = display(bad)["text/html"];
  assert.match(html, /<pre class="kholab-error"[^>]*>&lt;cell 2&gt;:2:12: preserve: ENOENT/);
  assert.ok(kho`preserve b`.ok, "the session goes on");
  const syntax = kho.run("kexc", { file: "x.kho" });
  assert.match(syntax.error!.message, /^x\.kho:1:1: unknown command "kexc"/);
});

Deno.test("tables and charts display as HTML; text stays text", () => {
  const kho = session({ clock });
  kho`machine ram=1G
a = pages count=16 within=64M
measure label=before
preserve a
kexec
restore
measure label=after`;
  const t = kho`show table columns=walk.blocks,restore.ok`;
  assert.deepEqual(t.parts.map((p) => p.kind), ["html"]);
  const bundle = display(t);
  assert.match(bundle["text/html"], /^<table class="kholab-table">/);
  assert.match(bundle["text/html"], /<td>after<\/td><td>\d+<\/td><td>16<\/td>/);
  assert.match(bundle["text/plain"], /^label +walk\.blocks +restore\.ok$/m);
  const c = kho`show chart columns=walk.blocks,restore.ok`;
  assert.match(
    display(c)["text/html"],
    /<figure class="kholab-chart"[^>]*><figcaption>[^<]+\)<\/figcaption>[\s\S]*<svg/,
  );
  const mixed = kho`show config
show objects
expect a.restored`;
  assert.deepEqual(mixed.parts.map((p) => p.kind), ["text", "html"]);
  assert.match(display(mixed)["text/html"], /^<pre class="kholab-output">seed 42\n/);
  assert.equal(mixed.rows.length, 0);
  assert.equal(t.rows.length, 0);
});
