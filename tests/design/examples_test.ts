/**
 * The example designs (examples/designs/): both real trackers pass the conformance suite, both
 * broken ones fail it with their named reason, a design of profiles only (folded-vmemmap) is
 * checked on the tracker its profile uses, and a design kept in a file outside the repository
 * runs end to end through every entry point in a fresh process — compare (on a worker),
 * matrix, report and a script — as from a fresh clone.
 */
import assert from "node:assert/strict";
import { conformanceTable, runConformance } from "../../lib/design/conformance.ts";
import { loadDesign } from "../../lib/design/load.ts";
import { runSweep } from "../../lib/scenario/sweep.ts";
import { wallClock } from "../../lib/rng.ts";

const ROOT = new URL("../../", import.meta.url);
const design = (name: string) => new URL(`examples/designs/${name}.ts`, ROOT).href;

for (
  const [file, kind] of [["extent_list", "extent-list"], ["two_level_bitmap", "two-level-bitmap"]]
) {
  Deno.test(`example design ${kind}: conformant, its profile registered`, async () => {
    const d = await loadDesign(design(file));
    assert.deepEqual(d.trackers, [kind]);
    assert.deepEqual(d.profiles, [kind]);
    const r = runConformance(kind);
    assert.ok(r.ok, conformanceTable([r]));
  });
}

Deno.test("broken example designs fail the suite with their named reason", async () => {
  await loadDesign(design("broken_leaky_rollback"));
  const leaky = runConformance("broken-leaky-rollback", { checks: ["enomem-rollback"] });
  assert.equal(leaky.ok, false);
  assert.equal(leaky.checks[0].reason, "rollback-leak", leaky.checks[0].detail);
  await loadDesign(design("broken_js_state"));
  const js = runConformance("broken-js-state", { checks: ["add-walk", "bytes-only"] });
  assert.deepEqual(js.checks.map((c) => [c.name, c.reason]), [
    ["add-walk", null],
    ["bytes-only", "reads-javascript-state"],
  ]);
});

Deno.test("design profiles sweep on workers: each worker imports the design files", async () => {
  await loadDesign(design("extent_list"));
  await loadDesign(design("two_level_bitmap"));
  const rows = await runSweep({
    scenario: "uniform",
    params: { ramBytes: "1G", poison: 0 },
    param: "pages",
    values: [64, 512],
    profiles: ["kho-v4", "extent-list", "two-level-bitmap"],
    workers: 2,
    clock: wallClock,
  });
  assert.deepEqual(rows.map((r) => `${r.profile}:${r.status}`), [
    "kho-v4:ok",
    "extent-list:ok",
    "two-level-bitmap:ok",
    "kho-v4:ok",
    "extent-list:ok",
    "two-level-bitmap:ok",
  ]);
  for (const r of rows) assert.equal(r.lostObjects, 0, `${r.profile}`);
});

/** `kholab ARGS…` in a fresh process, from the repository. */
async function kholab(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL("cli.ts", ROOT).pathname, ...args],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("a design in a file outside the repository: compare, matrix, report and a script", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kholab-outside-" });
  // the extent list, renamed, importing kholab by its absolute URL
  const text = (await Deno.readTextFile(new URL("examples/designs/extent_list.ts", ROOT)))
    .replaceAll('"../../mod.ts"', JSON.stringify(new URL("mod.ts", ROOT).href))
    .replaceAll('"extent-list"', '"outside-extents"')
    .replaceAll('"kho-v4-extent-list"', '"kho-v4-outside"');
  const file = `${dir}/my_design.ts`;
  await Deno.writeTextFile(file, text);
  const small = ["ramBytes=4G", "headroomBytes=4G", "nodes=1", "guestBytes=4M", "poolBytes=128M"];

  const cmp = await kholab(
    "compare",
    "hypervisor",
    "--design",
    file,
    "--profiles",
    "kho-v4,outside-extents",
    "--workers",
    "1",
    "--format",
    "json",
    ...small,
    "iommuPages=500",
  );
  assert.equal(cmp.code, 0, cmp.err);
  const rows = JSON.parse(cmp.out) as Record<string, unknown>[];
  assert.deepEqual(rows.map((r) => [r.profile, r.tracker, r.status]), [
    ["kho-v4", "radix", "ok"],
    ["outside-extents", "outside-extents", "ok"],
  ]);

  const mx = await kholab("matrix", "--design", file, "--profiles", "kho-v4,outside-extents");
  assert.equal(mx.code, 0, mx.err);
  assert.match(mx.out, /outside-extents\s+refused\s+ok/);
  assert.match(mx.out, /compat "kho-v4-outside" does not match "kho-v4"/);

  const out = `${dir}/report`;
  const rep = await kholab(
    "report",
    "--scenario",
    "uniform",
    "--design",
    file,
    "--profiles",
    "kho-v4,outside-extents",
    "--workers",
    "0",
    "--no-matrix",
    "--out",
    out,
    "ramBytes=1G",
    "pages=300",
  );
  assert.equal(rep.code, 0, rep.err);
  const data = JSON.parse(await Deno.readTextFile(`${out}/data.json`));
  assert.deepEqual(data.rows.map((r: { profile: string }) => r.profile), [
    "kho-v4",
    "outside-extents",
  ]);
  assert.match(data.meta.command, new RegExp(`--design ${file}`));

  const script = `${dir}/use.kho`;
  await Deno.writeTextFile(
    script,
    "design my_design.ts\nmachine ram=1G\nprofile outside-extents\n" +
      "g = folios order=9 count=8\np = pages count=100\npreserve g p\nkexec\nrestore\nverify\n" +
      'expect kernel.profile == "outside-extents" && verify.failed == 0 && verify.ok == 2\n',
  );
  const run = await kholab("run", script);
  assert.equal(run.code, 0, run.out + run.err);
  assert.match(run.out, /design my_design\.ts: trackers outside-extents; profiles outside-extents/);
  const check = await kholab("check", script);
  assert.equal(check.code, 0, check.out + check.err);

  const conf = await kholab("conformance", file);
  assert.equal(conf.code, 0, conf.out + conf.err);
  assert.match(conf.out, /outside-extents: 17 of 17 checks pass/);
  const missing = await kholab("compare", "--design", `${dir}/none.ts`);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /^kholab compare: design .*none\.ts: no such file$/m);
});

Deno.test("kholab conformance: the broken design exits 1 with its reason", async () => {
  const r = await kholab(
    "conformance",
    new URL("examples/designs/broken_leaky_rollback.ts", ROOT).pathname,
  );
  assert.equal(r.code, 1);
  assert.match(r.out, /broken-leaky-rollback\s+enomem-rollback\s+FAIL\s+rollback-leak/);
  assert.match(r.out, /NOT CONFORMANT/);
});

Deno.test("kholab conformance of a design of profiles only (folded-vmemmap): the contract of the tracker its profile hands over", async () => {
  const d = await loadDesign(design("folded_vmemmap"));
  assert.deepEqual([d.trackers, d.profiles], [[], ["folded-vmemmap"]]);
  const r = await kholab(
    "conformance",
    new URL("examples/designs/folded_vmemmap.ts", ROOT).pathname,
  );
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^radix: 17 of 17 checks pass$/m);
});
