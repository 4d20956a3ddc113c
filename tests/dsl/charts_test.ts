import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { ScriptRuntimeError, ScriptSyntaxErrors } from "../../lib/dsl/errors.ts";
import { checkScript, runScript } from "../../lib/dsl/run.ts";
import { Session, type Shown } from "../../lib/dsl/session.ts";
import { CHART_KINDS, rowNames } from "../../lib/dsl/charts.ts";
import { profileColor } from "../../lib/plot/palette.ts";

const clock = new ManualClock();

/** Two generations × two pool sizes: preserve, measure, kexec, restore, measure. */
const SWEEP = `seed 3
sweep p in [kho-v1-6.19, kho-v4] {
  sweep pool in [64M, 1G] {
    machine ram=2G
    profile $p
    iommu = pages count=2Ki within=$pool fill=random
    bufs = folios order=9 count=4
    preserve iommu bufs
    measure label=before by_order
    kexec
    restore iommu bufs
    measure label=after
  }
}
`;

function run(text: string): Session {
  const s = new Session({ clock });
  new Evaluator(s).runText(text);
  return s;
}

Deno.test("chart KIND: each kind draws the measured rows it needs and is kept in order", () => {
  const shown: Shown[] = [];
  const s = new Session({ clock });
  s.listen({ show: (x) => void shown.push(x) });
  new Evaluator(s).runText(
    SWEEP + "chart metadata\nchart walk\nchart by-order\nchart buddyinfo rows=before\n" +
      'chart sweep x=pool title="Handover against the pool"\nchart sweep y=walk.cachelines ' +
      "name=lines",
  );
  assert.deepEqual(s.charts.map((c) => c.kind), [
    "metadata",
    "walk",
    "by-order",
    "buddyinfo",
    "sweep",
    "sweep",
  ]);
  assert.deepEqual(s.charts.map((c) => c.name), [
    "chart1-metadata",
    "chart2-walk",
    "chart3-by-order",
    "chart4-buddyinfo",
    "chart5-sweep",
    "lines",
  ]);
  // metadata and by-order draw the rows measured before kexec, walk those after.
  const before = [0, 2, 4, 6], after = [1, 3, 5, 7];
  assert.deepEqual(s.charts[0].rows, before);
  assert.deepEqual(s.charts[1].rows, after);
  assert.deepEqual(s.charts[2].rows, before);
  assert.deepEqual(s.charts[3].rows, before);
  // The sweep of a handover metric takes the rows before kexec; of a walk metric those after.
  assert.deepEqual(s.charts[4].rows, before);
  assert.deepEqual(s.charts[5].rows, after);
  assert.deepEqual(s.charts[4].options, { title: "Handover against the pool", x: "pool" });
  for (const c of s.charts) assert.match(c.chart.caption, /\(.+\)$/, c.name);
  assert.match(s.charts[4].chart.caption, /^Handover against the pool \(KiB\)$/);
  // Rows are named by what tells them apart; sizes with a binary unit.
  assert.match(s.charts[0].chart.toHtml(), /kho-v1-6\.19 · pool=64 MiB/);
  // Shown at once: the text table of what is drawn, the chart for notebooks.
  assert.equal(shown.length, 6);
  assert.deepEqual(shown.map((x) => x.recorded), s.charts.map((c) => c.name));
  assert.match(shown[0].text, /^chart chart1-metadata: Metadata the successor reads/);
  assert.match(shown[0].text, /kho-v4 · pool=1 GiB\s+kho-v4\s+\d+\s+2052/);
  assert.equal(shown[0].html, s.charts[0].chart.toHtml());
  // One colour per profile, the palette's.
  for (const p of ["kho-v1-6.19", "kho-v4"]) {
    assert.match(s.charts[0].chart.toSvg(), new RegExp(`fill="${profileColor(p)}"`));
  }
});

Deno.test("chart sweep: x is a swept variable; two rows at one point need rows=", () => {
  const s = run(SWEEP);
  const err = (text: string) => {
    try {
      new Evaluator(s).runText(text);
    } catch (e) {
      assert.ok(e instanceof ScriptRuntimeError, String(e));
      return e.message;
    }
    assert.fail(`no error: ${text}`);
  };
  assert.match(err("chart sweep x=p"), /no measured row has a number for p/);
  assert.match(err("chart sweep x=n"), /x=n is not a swept variable .*swept: p, pool/);
  assert.match(
    err("chart sweep y=mem.free"),
    /two rows for kernel.profile = kho-v1-6.19 at pool = 67108864 \(labels before, after\): choose one with rows=LABEL/,
  );
  assert.match(err("chart sweep y=nosuch"), /y=nosuch: not a metric/);
  assert.match(
    err("chart walk rows=nosuch"),
    /no measured row labelled "nosuch" \(rows: before, after\)/,
  );
  assert.match(err("chart walk rows=before"), /row "before": no measured row after a walk/);
  assert.match(err("chart metadata name=a\nchart walk name=a"), /EEXIST: a chart named "a" exists/);
  // A failed chart leaves nothing behind (the one before it in that run stays).
  assert.deepEqual(s.charts.map((c) => c.name), ["a"]);
  const ok = run(SWEEP + "chart sweep y=mem.free rows=after series=p");
  assert.deepEqual(ok.charts[0].rows, [1, 3, 5, 7]);
});

Deno.test("chart: kinds without their data say what to measure; sweep options only on sweep", () => {
  const fails = (text: string, re: RegExp) => {
    const r = runScript(text, { clock });
    assert.equal(r.exitCode, 2, r.output);
    assert.match(r.results.error!.message, re);
    assert.equal(r.session.charts.length, 0);
  };
  fails("chart metadata", /chart metadata: no measured rows yet \(measure label=…\)/);
  fails("machine ram=1G\nmeasure\nchart walk", /no measured row after a walk that found blocks/);
  fails("machine ram=1G\nmeasure\nchart metadata", /no measured row with preserved objects/);
  fails(
    "machine ram=1G\nb = pages count=8\npreserve b\nmeasure\nchart by-order",
    /no measured row has per-order costs \(measure by_order/,
  );
  fails("machine ram=1G\nmeasure\nchart sweep", /no measured row under a numeric sweep/);
  // x=, y= and series= are for chart sweep: check finds them at the option.
  const c = checkScript("chart walk x=n y=walk.blocks");
  assert.equal(c.ok, false);
  assert.match(c.message, /1:12: x= is for chart sweep/);
  assert.match(c.message, /1:16: y= is for chart sweep/);
  assert.match(checkScript("chart pie").message, /pie/);
  assert.throws(() => run("chart walk x=n"), ScriptSyntaxErrors);
  assert.deepEqual([...CHART_KINDS], ["metadata", "walk", "by-order", "buddyinfo", "sweep"]);
});

Deno.test("rowNames: profile, label and swept values that differ; sizes with a unit", () => {
  const row = (label: string, params: Record<string, string | number>, profile: string) => ({
    label,
    params,
    metrics: { "kernel.profile": profile },
  });
  assert.deepEqual(
    rowNames(
      [row("a", { pool: 2 ** 26 }, "kho-v4"), row("b", { pool: 2 ** 30 }, "kho-v4")],
      new Set(["pool"]),
    ),
    ["a · pool=64 MiB", "b · pool=1 GiB"],
  );
  assert.deepEqual(rowNames([row("x", {}, "kho-v4")]), ["x"]);
  assert.deepEqual(rowNames([row("x", {}, ""), row("x", {}, "kho-v4")]), ["no kernel", "kho-v4"]);
});
