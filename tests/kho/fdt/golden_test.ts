/**
 * Golden vectors of fdt-facts §7 rebuilt with FdtWriter + FdtEditor using the kernel's (and
 * fdt_oracle.py's) call sequences: hard-coded sha256 digests, and byte comparison with the
 * oracle's output when python3-libfdt is present.
 */

import assert from "node:assert/strict";
import { FdtEditor } from "../../../lib/kho/fdt/editor.ts";
import { checkFullVerdict } from "../../../lib/kho/fdt/check.ts";
import { le64 } from "../../../lib/kho/fdt/format.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";
import { FDT_ORACLE, requireTool } from "../../support/system_tools.ts";
import { GOLDEN, MAP, PAGE, SUBTREES } from "./corpus.ts";

async function sha256(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(b)));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

for (const [name, g] of Object.entries(GOLDEN)) {
  Deno.test(`golden ${name}: size and sha256 (fdt-facts §7)`, async () => {
    const blob = g.build();
    assert.equal(blob.length, g.size);
    assert.equal(await sha256(blob), g.sha256);
    assert.equal(checkFullVerdict(blob), "OK");
  });
}

Deno.test("golden root_rw: layout details of fdt-facts §7.2", () => {
  const blob = GOLDEN.root_rw.build();
  const r = new FdtReader(blob);
  assert.equal(r.header("offMemRsvmap"), 0x28);
  assert.equal(r.header("offDtStruct"), 0x38);
  assert.equal(r.header("offDtStrings"), 0xc0);
  assert.deepEqual(r.subnodes(0), [48, 88]); // the sub-node added last comes first
  assert.equal(r.getName(48), "kho_test");
  assert.equal(r.getU64Le(r.pathOffset("/memblock"), "fdt"), 0x117150000);
  assert.equal(r.getU64Le(0, "preserved-memory-map"), MAP);
  assert.equal(
    new TextDecoder().decode(blob.subarray(0xc0)),
    "preserved-memory-map\0compatible\0fdt\0",
  );
});

Deno.test("golden kho-v4 b: blob-size precedes preserved-data (newest property first)", () => {
  const r = new FdtReader(GOLDEN.kho_v4_b.build());
  const off = r.pathOffset("/kexec-metadata");
  assert.deepEqual(r.properties(off).map((p) => p.name), ["blob-size", "preserved-data"]);
  assert.equal(r.getU64Le(off, "blob-size"), 73);
});

Deno.test("golden vectors: byte-identical to fdt_oracle.py", async () => {
  if (!requireTool("libfdt", "oracle")) return;
  const dir = await Deno.makeTempDir({ prefix: "kholab-golden-" });
  try {
    const run = async (args: string[]) => {
      const out = await new Deno.Command("/usr/bin/python3", { args: [FDT_ORACLE, ...args] })
        .output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    };
    await run(["vectors", dir]);
    const v4 = ["root-rw", "--compat", "kho-v4", "--map", "0x123456000", "--prop-name"];
    await run([...v4, "preserved-data", `${dir}/kho_v4_a.dtb`]);
    await run([
      ...v4,
      "preserved-data",
      "--subtree",
      "kexec-metadata=0x1000",
      "--blob-size",
      "kexec-metadata=73",
      `${dir}/kho_v4_b.dtb`,
    ]);
    for (const [name, g] of Object.entries(GOLDEN)) {
      assert.deepEqual(g.build(), await Deno.readFile(`${dir}/${name}.dtb`), name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kernel flow in one PAGE_SIZE buffer: same blob as pylibfdt's flow", () => {
  // The kernel edits its root page in place (fdt_open_into(root, root, PAGE_SIZE)); the stale
  // bytes differ from pylibfdt's fresh buffers but the blob must not.
  const w = FdtWriter.create(PAGE);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "kho-v1");
  w.property("preserved-memory-map", le64(0));
  w.endNode();
  w.finish();
  const page = w.finishBuffer();
  const ed = FdtEditor.wrap(page);
  for (const [name, phys] of SUBTREES) {
    ed.openInto(PAGE);
    ed.setprop(ed.addSubnode(0, name), "fdt", le64(phys));
    ed.pack();
  }
  ed.setpropInplace(0, "preserved-memory-map", le64(MAP));
  assert.deepEqual(ed.blob(), GOLDEN.root_rw.build());
  assert.equal(ed.capacity, PAGE);
  assert.equal(page[4], 0, "the wrapped page itself was edited"); // totalsize 228 = 0x000000e4
  assert.equal(page[7], 0xe4);
});
