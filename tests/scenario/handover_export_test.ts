import assert from "node:assert/strict";
import fc from "fast-check";
import { Kernel } from "../../lib/boot/kernel.ts";
import { PROFILE_NAMES } from "../../lib/kho/profiles.ts";
import { Machine } from "../../lib/machine/machine.ts";
import {
  collectHandoverExport,
  EXPORT_FILES,
  exportScenarioHandover,
  type HandoverExport,
  writeHandoverExport,
} from "../../lib/scenario/handover_export.ts";
import {
  type HandoverFolder,
  inspectHandover,
  inspectionText,
  readHandoverFolder,
} from "../../lib/scenario/handover_inspect.ts";
import { decodeKhoData, encodeKhoData } from "../../lib/kho/abi/kho_data.ts";
import { KhoError } from "../../lib/errors.ts";
import { requireTool } from "../support/system_tools.ts";

/** The small hypervisor of the CLI tests: guests via memfd, IOMMU pages, vmalloc, DMA. */
const SMALL = {
  ramBytes: "4G",
  headroomBytes: "4G",
  nodes: 1,
  guestBytes: "4M",
  guestFolio: "2M",
  poolBytes: "128M",
  iommuPages: 500,
};

const exports = new Map<string, HandoverExport>(
  PROFILE_NAMES.map((
    p,
  ) => [p, exportScenarioHandover({ scenario: "hypervisor", profile: p, params: SMALL })]),
);

function withDir<T>(fn: (dir: string) => T): T {
  const dir = Deno.makeTempDirSync();
  try {
    return fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The export with one file replaced. */
function withFile(exp: HandoverFolder, path: string, bytes: Uint8Array): HandoverFolder {
  return { meta: exp.meta, files: new Map([...exp.files, [path, bytes]]) };
}

for (const profile of PROFILE_NAMES) {
  Deno.test(`export → inspect (${profile}): the folder holds everything the successor reads`, () => {
    const exp = exports.get(profile)!;
    withDir((dir) => {
      const written = writeHandoverExport(dir, exp);
      assert.ok(written.includes("kho/out/fdt") && written.includes("kho/out/scratch_phys"));
      const back = readHandoverFolder(dir);
      assert.deepEqual(back.meta, exp.meta);
      assert.deepEqual([...back.files.keys()].sort(), [...exp.files.keys()].sort());
      const ins = inspectHandover(back);
      assert.ok(ins.populate.ok, ins.populate.ok ? "" : ins.populate.reason);
      assert.ok(ins.retrieve?.ok, ins.retrieve?.error ?? "no walk");
      // The walk over nothing but the exported bytes finds what the first kernel's walk found.
      assert.equal(ins.retrieve!.blocks, exp.meta.tracker.walk.blocks);
      assert.ok(ins.retrieve!.blocks > 0);
      assert.deepEqual(ins.subtrees.map((t) => t.name), exp.meta.subtrees.map((t) => t.name));
      assert.ok(ins.subtrees.every((t) => t.error === null));
      assert.equal(ins.source, "export");
      assert.equal(ins.fdt.check, "OK");
      const text = inspectionText(ins, dir);
      assert.match(text, /kho_populate: accepted/);
      assert.match(text, /kho_mem_retrieve: \d+ blocks/);
    });
  });
}

Deno.test("export: every exported FDT decodes with dtc -I dtb", () => {
  if (!requireTool("dtc")) return;
  withDir((dir) => {
    let fdts = 0;
    for (const [profile, exp] of exports) {
      writeHandoverExport(`${dir}/${profile}`, exp);
      for (const [path, bytes] of exp.files) {
        if (!path.startsWith("kho/out/") || bytes.length < 4) continue;
        if (new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) !== 0xd00dfeed) continue;
        const out = new Deno.Command("dtc", {
          args: ["-I", "dtb", "-O", "dts", `${dir}/${profile}/${path}`],
          stdout: "piped",
          stderr: "piped",
        }).outputSync();
        const err = new TextDecoder().decode(out.stderr);
        assert.ok(out.success, `${profile} ${path}: ${err}`);
        const dts = new TextDecoder().decode(out.stdout);
        assert.match(dts, /^\/dts-v1\/;/m, `${profile} ${path}`);
        if (path === "kho/out/fdt") {
          assert.match(dts, /compatible = "(kho-v\d|kho-v1|kho-v4-page-type[^"]*)"/);
        }
        fdts++;
      }
    }
    assert.ok(fdts >= 2 * exports.size, `${fdts} FDTs`);
  });
});

Deno.test("export: debugfs files as the kernel prints them, per generation", () => {
  const v4 = exports.get("kho-v4")!;
  const text = (exp: HandoverExport, p: string) => new TextDecoder().decode(exp.files.get(p));
  assert.match(text(v4, "kho/out/scratch_phys"), /^(0x[0-9a-f]+\n)+$/);
  assert.equal(
    text(v4, "kho/out/scratch_phys").split("\n").length,
    text(v4, "kho/out/scratch_len").split("\n").length,
  );
  assert.ok(!v4.files.has("kho/out/finalize"));
  assert.equal(text(exports.get("kho-v1-6.19")!, "kho/out/finalize"), "1\n");
  assert.equal(text(exports.get("kho-v1-6.16")!, "kho/out/finalize"), "1\n");
  // kho-v3 on: sub_fdts/NAME is blob-size bytes; before: the blob's fdt_totalsize.
  for (const t of v4.meta.subtrees) {
    assert.equal(v4.files.get(t.file!)!.length, t.blobSize);
  }
  const v2 = exports.get("kho-v2")!;
  const scen = v2.files.get("kho/out/sub_fdts/kholab-scenario")!;
  assert.equal(scen.length, new DataView(scen.buffer, scen.byteOffset).getUint32(4));
  assert.ok(v4.meta.notes.some((n) => /kho_init created the file/.test(n)));
  // The record and the array it points to.
  const rec = decodeKhoData(v4.files.get(EXPORT_FILES.khoData)!);
  assert.equal(rec.scratchLen, v4.files.get(EXPORT_FILES.scratch)!.length);
  assert.equal(v4.meta.recordFilled, true);
});

Deno.test("export from a running kernel equals what its successor walks", () => {
  for (const profile of PROFILE_NAMES.filter((p) => p !== "rfc-v1-order-table")) {
    const k1 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile });
    for (const o of [0, 3, 9]) k1.kho.preserveFolio(k1.buddy.folioAlloc(o)!);
    if (k1.profile.finalize !== "none") k1.kho.finalize();
    const exp = collectHandoverExport(k1);
    assert.equal(exp.meta.recordFilled, false);
    const ins = inspectHandover(exp);
    const k2 = k1.kexec();
    assert.ok(k2.kho.isKhoBoot, profile);
    assert.equal(ins.retrieve?.blocks, k2.boot.retrieve?.blocks, profile);
    assert.deepEqual(ins.subtrees.map((t) => t.name), k2.kho.incoming!.subtreeNames(), profile);
  }
  // Before the root FDT exists, the export says why.
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 31 }), { profile: "kho-v1-6.16" });
  assert.throws(
    () => collectHandoverExport(k),
    (e: unknown) => e instanceof KhoError && e.code === "ENOENT" && /at finalize/.test(e.message),
  );
  const rfc = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 31 }), {
    profile: "rfc-v1-order-table",
  });
  assert.throws(() => collectHandoverExport(rfc), /kho_commit_fdt/);
});

Deno.test("inspect: corrupted exports get the kernel's verdict, never an exception", () => {
  const exp = exports.get("kho-v4")!;
  const fdt = exp.files.get("kho/out/fdt")!;
  const magic = fdt.slice();
  magic[1] ^= 0xff;
  const r1 = inspectHandover(withFile(exp, "kho/out/fdt", magic));
  assert.ok(!r1.populate.ok && /FDT_ERR_BADMAGIC/.test(r1.populate.reason));
  assert.match(r1.log.join("\n"), /disabling KHO revival/);
  assert.equal(r1.retrieve, null);
  const r2 = inspectHandover(withFile(exp, "kho/out/fdt", fdt.subarray(0, 40)));
  assert.ok(!r2.populate.ok && /invalid FDT/.test(r2.populate.reason));
  const compat = fdt.slice();
  const at = new TextDecoder("latin1").decode(compat).indexOf("kho-v4");
  compat[at + 5] = "9".charCodeAt(0);
  const r3 = inspectHandover(withFile(exp, "kho/out/fdt", compat));
  assert.ok(!r3.populate.ok && /does not match "kho-v4"/.test(r3.populate.reason));
  // The record's FDT address outside RAM: nothing placed there; the kernel maps it and reads
  // all-ones (no magic); the strict successor names the check.
  const rec = decodeKhoData(exp.files.get(EXPORT_FILES.khoData)!);
  const far = withFile(exp, EXPORT_FILES.khoData, encodeKhoData({ ...rec, fdtPhys: 2 ** 45 }));
  const r4 = inspectHandover(far);
  assert.ok(!r4.populate.ok && /invalid FDT: FDT_ERR_BADMAGIC/.test(r4.populate.reason));
  const r4s = inspectHandover(far, { strict: true });
  assert.ok(!r4s.populate.ok && r4s.populate.strictCheck === "FDT inside RAM");
  // Empty scratch areas: the kernel checks none of them; the strict successor refuses.
  const empty = withFile(exp, EXPORT_FILES.scratch, new Uint8Array(48));
  assert.ok(inspectHandover(empty).populate.ok);
  const r5 = inspectHandover(empty, { strict: true });
  assert.ok(!r5.populate.ok && /no scratch area/.test(r5.populate.reason));
  // A tracker page pointing outside RAM: the walk aborts with its named reason.
  for (const profile of PROFILE_NAMES) {
    const e = exports.get(profile)!;
    const bin = e.files.get(EXPORT_FILES.tracker)!.slice();
    const index = JSON.parse(new TextDecoder().decode(e.files.get(EXPORT_FILES.trackerIndex)));
    const root = index.pages.find((x: { phys: string }) => x.phys === e.meta.tracker.root);
    const words = new BigUint64Array(bin.buffer, root.offset, 512);
    for (let i = 0; i < 512; i++) if (words[i] !== 0n) words[i] = 0x1fff_ffff_f000n;
    const bad = withFile(e, EXPORT_FILES.tracker, bin);
    const r = inspectHandover(bad);
    assert.ok(r.populate.ok, profile);
    // The kernel's verdict: its walk follows the pointers and faults, or an aborted walk.
    if (r.panic !== null) assert.match(r.panic, /Kernel panic|lockup|hang/i, profile);
    else assert.ok(r.retrieve !== null && !r.retrieve.ok, profile);
    assert.match(r.log.join("\n"), /KHO/, profile);
    // The strict successor aborts its walk with the reader's named reason instead.
    const st = inspectHandover(bad, { strict: true });
    assert.ok(st.panic === null && st.retrieve !== null && !st.retrieve.ok, profile);
    assert.ok(st.retrieve.error !== null, profile);
  }
});

Deno.test("inspect: random byte flips in the kernel's files never throw", () => {
  const exp = exports.get("kho-v1-6.19")!;
  const paths = ["kho/out/fdt", EXPORT_FILES.tracker, EXPORT_FILES.scratch, EXPORT_FILES.khoData];
  fc.assert(
    fc.property(
      fc.constantFrom(...paths),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (p, at, x) => {
        const bytes = exp.files.get(p)!.slice();
        bytes[at % bytes.length] ^= x;
        const r = inspectHandover(withFile(exp, p, bytes));
        assert.ok(r.populate.ok || r.populate.reason.length > 0);
      },
    ),
    { seed: 20260714, numRuns: 150 },
  );
});

Deno.test("inspect: kholab's own files are checked as input; bad ones are errors, not verdicts", () => {
  const exp = exports.get("kho-v4")!;
  const enc = new TextEncoder();
  assert.throws(
    () => inspectHandover(withFile(exp, EXPORT_FILES.trackerIndex, enc.encode("{"))),
    SyntaxError,
  );
  const index = JSON.parse(new TextDecoder().decode(exp.files.get(EXPORT_FILES.trackerIndex)));
  index.pages[0].offset = 1 << 30;
  assert.throws(
    () =>
      inspectHandover(withFile(exp, EXPORT_FILES.trackerIndex, enc.encode(JSON.stringify(index)))),
    /outside kholab\/tracker.bin/,
  );
  assert.throws(
    () => inspectHandover(withFile(exp, EXPORT_FILES.khoData, new Uint8Array(31))),
    /31 bytes/,
  );
  withDir((dir) => {
    assert.throws(() => readHandoverFolder(`${dir}/none`), /no such directory/);
    assert.throws(() => readHandoverFolder(dir), /not a handover export/);
    Deno.mkdirSync(`${dir}/kholab`);
    Deno.writeTextFileSync(`${dir}/kholab/handover.json`, '{"format":"other"}');
    assert.throws(() => readHandoverFolder(dir), /not a kholab-handover-export-v1 file/);
  });
});

Deno.test("inspect: a plain copy of kho/out (no kholab/) is read as far as debugfs allows", () => {
  const exp = exports.get("kho-v3")!;
  withDir((dir) => {
    writeHandoverExport(dir, exp);
    Deno.removeSync(`${dir}/kholab`, { recursive: true });
    const ins = inspectHandover(readHandoverFolder(dir));
    assert.equal(ins.source, "debugfs");
    assert.equal(ins.profile, "kho-v3");
    assert.equal(ins.profileFrom, "compat");
    assert.ok(ins.populate.ok, ins.populate.ok ? "" : ins.populate.reason);
    assert.equal(ins.retrieve, null);
    assert.match(ins.walkSkipped ?? "", /does not show the tracker/);
    const meta = ins.subtrees.find((t) => t.name === "kexec-metadata")!;
    assert.match(meta.decoded, /kexec-metadata v1: previous release "7.1.0-kholab", kexec count 1/);
    const scen = ins.subtrees.find((t) => t.name === "kholab-scenario")!;
    assert.match(scen.decoded, /compatible = "kholab-scenario-v1"/);
    // kho-v1 is shared by four generations: the copy is read as 6.19 unless told.
    const old = exports.get("kho-v1-6.18")!;
    writeHandoverExport(`${dir}/old`, old);
    Deno.removeSync(`${dir}/old/kholab`, { recursive: true });
    const guess = inspectHandover(readHandoverFolder(`${dir}/old`));
    assert.equal(guess.profile, "kho-v1-6.19");
    assert.ok(guess.notes.some((n) => /shared by 6.16 – 6.19/.test(n)));
    assert.equal(
      inspectHandover(readHandoverFolder(`${dir}/old`), { profile: "kho-v1-6.18" }).profileFrom,
      "option",
    );
  });
});
