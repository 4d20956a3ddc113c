import assert from "node:assert/strict";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { Session } from "../../lib/dsl/session.ts";
import { unsetNote } from "../../lib/dsl/show.ts";
import { ManualClock } from "../../lib/rng.ts";

const clock = new ManualClock();

/** A session and its evaluator. */
class Rt extends Session {
  readonly ev: Evaluator = new Evaluator(this);
}

function run(rt: Rt, text: string): string {
  const from = rt.output.length;
  rt.ev.runText(text, "t.kho");
  return rt.output.slice(from).join("\n");
}

Deno.test("an empty folio object prints no NaN", () => {
  const rt = new Rt({ clock });
  const out = run(rt, "machine ram=1G\na = folios order=3 count=0\nshow objects");
  assert.match(out, /^a: folios, 0 folios, 0 B, allocated$/m);
  assert.doesNotMatch(out, /NaN/);
  assert.match(out, /^a +folios +allocated +0 +0 +0 B +-$/m, "no first address");
});

Deno.test("show metrics lists set metrics and names the unset ones once", () => {
  const rt = new Rt({ clock });
  const before = run(rt, "machine ram=1G\nshow metrics");
  assert.doesNotMatch(before, /^scenario\./m);
  assert.match(before, /^not set yet \(0 in expect and measure\): .*scenario\.\* \(\d+, set by/m);
  const after = run(
    rt,
    "scenario uniform ramBytes=1G pages=16 memmapBytesPerPage=0\nshow metrics",
  );
  assert.match(after, /^scenario\.preservedBlocks +\d+ /m);
  assert.doesNotMatch(after, /scenario\.\*/);
  assert.match(after, /^scenario\.params +\{.{30}… /m, "long values are cut");
  // Timings: the median and its statistics; kho-v4 has no finalize, so no finalize timing.
  assert.match(after, /^scenario\.walkMs\.n +5 +timed samples of scenario\.walkMs/m);
  assert.match(after, /^scenario\.walkMs\.max +0 +max of the timed samples/m);
  assert.match(after, /not set yet .*scenario\.finalizeMs \(\.n \.median \.min \.max\)/);
  assert.equal(
    unsetNote(["a.x", "b.1", "b.2", "b.3", "b.4"]),
    "not set yet (0 in expect " +
      "and measure): a.x, b.* (4)",
  );
  assert.equal(
    unsetNote(["b.1", "b.2", "b.tMs", "b.tMs.n", "b.tMs.median", "b.tMs.max"], ["b.0"]),
    "not set yet (0 in expect and measure): b.1, b.2, b.tMs (.n .median .max)",
  );
});

Deno.test("measured wall-clock metrics show their spread in show table and show chart", () => {
  const rt = new Rt({ clock });
  const shown: string[] = [];
  rt.listen({ show: (s) => shown.push(s.html ?? "") });
  const out = run(
    rt,
    "scenario uniform profile=kho-v1-6.19 ramBytes=1G pages=16 repeat=3\nmeasure label=a\n" +
      "show table columns=scenario.walkMs,scenario.finalizeMs,scenario.walkCacheLines\n" +
      "show chart columns=scenario.walkMs,scenario.walkCacheLines",
  );
  assert.match(out, /^a +0\.000 \(0\.000–0\.000\), n=3 +0\.000 \(0\.000–0\.000\), n=3 +\d+$/m);
  assert.equal(rt.rows[0].metrics["scenario.walkMs.n"], 3);
  const chart = shown.at(-1)!;
  assert.match(chart, /wall clock: median of n timed samples, rules min–max/);
  // repeat=0: no wall-clock figures at all (an unset metric reads 0 in a measured row).
  const none = run(rt, "scenario uniform ramBytes=1G pages=16 repeat=0\nshow metrics");
  assert.match(none, /not set yet .*scenario\.walkMs \(\.n \.median \.min \.max\)/);
});

Deno.test("show fdt decodes KHO's native-endian u64 properties, sub-trees included", () => {
  const rt = new Rt({ clock });
  const out = run(
    rt,
    "machine ram=2G\na = folios order=0 count=2\npreserve a\nkexec\nshow fdt subtrees",
  );
  const mapPhys = rt.kernel!.kho.incoming!.fdt().getU64Le(0, "preserved-memory-map")!;
  // dtc's big-endian cells stay as they are, the value follows as a comment.
  assert.match(
    out,
    new RegExp(
      `preserved-memory-map = <0x[0-9a-f]+ 0x00>;\\t// u64 LE 0x${mapPhys.toString(16)}\\n`,
    ),
  );
  assert.match(out, /\t\tblob-size = <0x49000000 0x00>;\t\/\/ u64 LE 73 B\n/);
  assert.match(out, /\t\tpreserved-data = <[^>]+>;\t\/\/ u64 LE 0x[0-9a-f]+\n/);
  assert.match(out, /\/\/ incoming sub-tree "kexec-metadata" at 0x[0-9a-f]+: 73 bytes, not an FDT/);
  assert.match(out, /^\/\/ outgoing root FDT at 0x[0-9a-f]+$/m);
});

Deno.test("a sweep's rows record each swept variable; show table has a column per one", () => {
  const rt = new Rt({ clock });
  const out = run(
    rt,
    `machine ram=1G
measure label=start
sweep p in [kho-v3, kho-v4] {
  sweep pool in [64M, 128M] {
    measure label=point
  }
  measure label=after-pools
}
measure label=end
show table columns=objects.count`,
  );
  assert.deepEqual(rt.rows.map((r) => r.params), [
    {},
    { p: "kho-v3", pool: 64 * 2 ** 20 },
    { p: "kho-v3", pool: 128 * 2 ** 20 },
    { p: "kho-v3" },
    { p: "kho-v4", pool: 64 * 2 ** 20 },
    { p: "kho-v4", pool: 128 * 2 ** 20 },
    { p: "kho-v4" },
    {},
  ]);
  assert.deepEqual(rt.sweeps, [], "no sweep binding outlives its block");
  const lines = out.split("\n");
  assert.match(lines[0], /^label +p +pool +objects\.count$/);
  assert.match(lines[2], /^start +- +- +0$/);
  assert.match(lines[3], /^point +kho-v3 +64 MiB +0$/, "a size variable with its unit");
  assert.match(lines[5], /^after-pools +kho-v3 +- +0$/);
  // show chart: a group of bars per row, named by its label and swept values.
  let html = "";
  rt.listen({ show: (x) => void (html = x.html ?? "") });
  run(rt, "show chart columns=objects.count");
  for (const p of ["kho-v3", "kho-v4"]) {
    for (const pool of ["64 MiB", "128 MiB"]) {
      assert.ok(html.includes(`>point p=${p} pool=${pool}<`));
    }
  }
  // A variable swept over counts stays a number; a failed sweep body unbinds its variable.
  const counts = run(rt, "sweep n in [4Ki, 16Ki] {\n  measure label=c\n}\nshow table columns=x");
  assert.match(counts, /^c +- +- +4096 +-$/m);
  assert.throws(
    () => run(rt, "sweep q in [1, 2] {\n  sweep r in [3] {\n    preserve nosuch\n  }\n}"),
    /ENOENT/,
  );
  assert.deepEqual(rt.sweeps, []);
});
