import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { runScript } from "../../lib/dsl/run.ts";
import { inspectHandover, readHandoverFolder } from "../../lib/scenario/handover_inspect.ts";

const clock = new ManualClock();

Deno.test("export DIR in a script: the outgoing handover beside the script, inspectable", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const script = [
      "machine ram=2G",
      "profile kho-v4",
      "a = folios order=9 count=3",
      "preserve a",
      "subtree notes size=8K",
      "export out",
      "kexec",
      "restore a",
      "verify a",
      "expect verify.failed == 0",
    ].join("\n");
    const r = runScript(script, { file: `${dir}/x.kho`, clock });
    assert.equal(r.exitCode, 0, r.output);
    // The language's kernels run LUO (liveupdate=on): its "LUO" sub-tree is the third.
    assert.match(r.output, /export .*\/out: 11 files; root FDT \d+ bytes, 3 sub-tree\(s\)/);
    assert.match(r.output, /export: note: a real kho-v4 kernel gives kho\/out\/fdt/);
    const folder = readHandoverFolder(`${dir}/out`);
    assert.equal(folder.files.get("kho/out/sub_fdts/notes")!.length, 8192);
    const ins = inspectHandover(folder);
    assert.ok(ins.populate.ok && ins.retrieve?.ok);
    // Three folios, the root FDT, kexec-metadata, the sub-tree's blob, LUO's luo_ser and FLB
    // pages; the manifest comes only at kexec.
    assert.equal(ins.retrieve!.blocks, 8);
    assert.deepEqual(ins.subtrees.map((t) => t.name).sort(), ["LUO", "kexec-metadata", "notes"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("export before the generation has a root FDT: ENOENT, with what to do", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const r = runScript(
      "machine ram=1G\nprofile kho-v1-6.18\na = folios order=0\npreserve a\nexport out",
      { file: `${dir}/x.kho`, clock },
    );
    assert.equal(r.exitCode, 2);
    assert.equal(r.results.error?.code, "ENOENT");
    assert.match(
      r.results.error!.message,
      /x\.kho:5:1: export: ENOENT: kho-v1-6\.18 builds its root FDT at finalize/,
    );
    const after = runScript(
      "machine ram=1G\nprofile kho-v1-6.18\na = folios order=0\npreserve a\nfinalize\nexport out",
      { file: `${dir}/x.kho`, clock },
    );
    assert.equal(after.exitCode, 0, after.output);
    assert.ok(inspectHandover(readHandoverFolder(`${dir}/out`)).retrieve?.ok);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
