import assert from "node:assert/strict";
import { loadDesign } from "../../lib/design/load.ts";
import { scriptDesigns } from "../../lib/dsl/designs.ts";
import { runScript } from "../../lib/dsl/run.ts";
import { session } from "../../lib/dsl/tag.ts";
import { ManualClock } from "../../lib/rng.ts";

const EXTENT_LIST = new URL("../../examples/designs/extent_list.ts", import.meta.url);

Deno.test("design FILE: a script names a design module, then its profile", async () => {
  const kho = session({ seed: 1, clock: new ManualClock() });
  const before = kho.run("design ../../examples/designs/extent_list.ts");
  // not imported yet (notebook cells run synchronously): the error says what to do
  assert.match(before.error?.message ?? "", /ENOENT: design .* is not loaded: .*await loadDesign/);
  await loadDesign(EXTENT_LIST);
  const cell = kho.run(
    `design ${EXTENT_LIST.pathname}
machine ram=1G
profile extent-list
g = folios order=9 count=4
preserve g
kexec
restore g
verify g`,
  );
  assert.equal(cell.error, null, String(cell.error?.message));
  assert.ok(cell.output.includes(
    "design " + EXTENT_LIST.pathname +
      ": trackers extent-list; profiles extent-list",
  ));
  assert.equal(kho.value("kernel.profile"), "extent-list");
  assert.equal(kho.value("verify.ok"), 1);
  // an unknown profile still says which ones exist, the design's among them
  const bad = kho.run("profile extent-lists");
  assert.match(bad.error?.message ?? "", /did you mean "extent-list"/);
});

Deno.test("scriptDesigns: design statements in blocks and includes, relative to the script", () => {
  const files: Record<string, string> = { "dir/inc.kho": "design d2.ts\n" };
  const urls = scriptDesigns("repeat 2 {\n  design d1.ts\n}\ninclude inc.kho\ndesign d1.ts", {
    file: "dir/main.kho",
    readFile: (p) => files[p],
  });
  assert.deepEqual(urls.map((u) => u.slice(u.indexOf("/dir/"))), ["/dir/d1.ts", "/dir/d2.ts"]);
  // runScript itself does not import: a script run without its designs loaded fails clearly
  const r = runScript("design nowhere.ts", { file: "x.kho", clock: new ManualClock() });
  assert.equal(r.exitCode, 2);
  assert.match(r.output, /x\.kho:1:1: .*design nowhere\.ts is not loaded/);
});
