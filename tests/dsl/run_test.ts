import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";

/** Scripts here read a manual clock: every wall-clock metric is 0. */
const clock = new ManualClock();
import fc from "fast-check";
import { checkScript, runScript } from "../../lib/dsl/run.ts";
import { getProfile, PROFILE_NAMES } from "../../lib/kho/profiles.ts";

const dir = new URL("../../examples/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));

// hypervisor.kho (1 TiB, ~10 s) is the brief's scenario at full scale; it is run by hand,
// hypervisor-small.kho is the same host scaled down to 6 GiB, swept over three generations and
// three IOMMU pool sizes, with the charts of its report (tests/report/script_report_test.ts).
const RUN = [
  "quickstart.kho",
  "hypervisor-small.kho",
  "chain.kho",
  "faults.kho",
  "profiles.kho",
  "scenarios.kho",
  "named-objects-all.kho",
  "reserve-mem.kho",
];

const readFile = (p: string) => Deno.readTextFileSync(new URL(`../../${p}`, import.meta.url));

for (const name of RUN) {
  Deno.test(`examples/${name} runs with every expect passing`, () => {
    const r = runScript(read(name), { file: `examples/${name}`, readFile, clock });
    assert.equal(r.exitCode, 0, r.output);
    assert.ok(r.results.expects.length > 0);
    assert.ok(r.results.expects.every((e) => e.ok));
  });
}

for (const p of PROFILE_NAMES) {
  Deno.test(`examples/named-objects.kho: named objects cross kexec in ${p}`, () => {
    const r = runScript(read("named-objects.kho"), {
      file: "examples/named-objects.kho",
      vars: { p },
      clock,
    });
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(r.results.expects.length, 6);
    // Folios and page blocks everywhere; vmalloc where the generation has the API, a memfd
    // through LUO where it has LUO (6.19 on), and otherwise an error that says why.
    const lacks = (api: string) => r.output.includes(`${api} does not exist in ${p} (`);
    const vm = r.results.metrics["api.kho_preserve_vmalloc"] === 1;
    const memfd = getProfile(p).luo !== null;
    assert.equal(lacks("kho_preserve_vmalloc"), !vm, r.output);
    assert.equal(
      r.output.includes(`memfd m: ${p} (${getProfile(p).kernel}) has no Live Update Orchestrator`),
      !memfd,
      r.output,
    );
    assert.equal(r.results.metrics["verify.ok"], 5 + Number(vm) + Number(memfd));
  });
}

Deno.test("examples/named-objects-all.kho sweeps exactly the profiles kholab implements", () => {
  const m = /sweep p in \[([^\]]*)\]/.exec(read("named-objects-all.kho"))!;
  assert.deepEqual(m[1].split(",").map((x) => x.trim()), [...PROFILE_NAMES]);
});

Deno.test("examples/hypervisor.kho checks clean", () => {
  const c = checkScript(read("hypervisor.kho"));
  assert.ok(c.ok, c.message);
});

Deno.test("exit codes: 0 ok, 1 expect failed, 2 syntax or runtime error", () => {
  assert.equal(runScript("expect 1 == 1", { clock }).exitCode, 0);
  const failed = runScript("expect 1 == 2\nexpect 2 == 2", { file: "e.kho", clock });
  assert.equal(failed.exitCode, 1);
  assert.match(failed.output, /^e\.kho:1:1: expect failed: 1 == 2$/m);
  assert.equal(failed.results.expects.length, 2);
  assert.equal(runScript("kexc", { clock }).exitCode, 2);
  assert.equal(runScript("machine ram=1G\npreserve x", { clock }).exitCode, 2);
});

Deno.test("json output carries results", () => {
  const r = runScript("machine ram=1G\nmeasure label=a\nexpect kexec.count == 0", {
    json: true,
    clock,
  });
  const j = JSON.parse(r.output);
  assert.equal(j.exitCode, 0);
  assert.equal(j.measurements[0].label, "a");
  assert.equal(j.expects[0].ok, true);
});

Deno.test("checkScript reports every error, includes too", () => {
  const files: Record<string, string> = { "dir/inc.kho": "kexc\n" };
  const c = checkScript("include inc.kho\nshow tabel", {
    file: "dir/main.kho",
    readFile: (p) => {
      if (!(p in files)) throw new Error("no file");
      return files[p];
    },
  });
  assert.equal(c.ok, false);
  assert.deepEqual(c.errors.map((e) => `${e.file}:${e.line}`), ["dir/main.kho:2", "dir/inc.kho:1"]);
  const r = runScript("include inc.kho\nexpect kexec.count == 1", {
    clock,
    file: "dir/main.kho",
    readFile: () => "machine ram=1G\nkexec",
  });
  assert.equal(r.exitCode, 0, r.output);
});

const SMALL = ["quickstart.kho", "chain.kho", "faults.kho"].map(read);
const NO_DIGITS = [..."{}[]()=\"'$#;\n =+-!<>&|.,xKGMi"];

Deno.test("property: mutated scripts run to the language's own errors only", () => {
  const mutated = fc.tuple(
    fc.constantFrom(...SMALL),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 10 }), fc.constantFrom(...NO_DIGITS), fc.boolean()), {
      minLength: 1,
      maxLength: 4,
    }),
  ).map(([text, edits]) => {
    let t = text;
    for (const [at, len, ins, del] of edits) {
      const i = at % (t.length + 1);
      t = del ? t.slice(0, i) + t.slice(i + len) : t.slice(0, i) + ins + t.slice(i);
    }
    return t;
  });
  fc.assert(
    fc.property(mutated, (text) => {
      const r = runScript(text, { file: "m.kho", maxRamBytes: 2 ** 33, clock });
      assert.ok([0, 1, 2].includes(r.exitCode));
      if (r.exitCode === 2) {
        assert.match(r.results.error!.message, /^m\.kho:\d+:\d+: /);
        assert.notEqual(r.results.error!.kind, "internal", r.results.error!.message);
      }
    }),
    { seed: 4242, numRuns: 40 },
  );
});
