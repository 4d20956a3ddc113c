/**
 * Golden vectors of fdt-facts §7 rebuilt with FdtWriter + FdtEditor using the kernel's (and
 * fdt_oracle.py's) call sequences: hard-coded sha256 digests, and byte comparison with the
 * oracle's output when python3-libfdt is present.
 */

import assert from "node:assert/strict";
import { FdtEditor } from "../../../lib/kho/fdt/editor.ts";
import { checkFullVerdict } from "../../../lib/kho/fdt/check.ts";
import { le32, le64 } from "../../../lib/kho/fdt/format.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";
import { FDT_ORACLE, requireTool } from "../../support/system_tools.ts";

const PAGE = 4096;

/** fdt_oracle.py root_rw: SW setup, then per sub-tree open_into + add_subnode + setprop + pack. */
function rootRw(
  subtrees: [string, number][],
  memMap: number,
  compat = "kho-v1",
  propName = "fdt",
  blobSizes: Record<string, number> = {},
): Uint8Array {
  const w = FdtWriter.create(PAGE);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", compat);
  w.property("preserved-memory-map", le64(0));
  w.endNode();
  const blob = w.finish();
  const ed = FdtEditor.openInto(blob, blob.length); // pylibfdt: Fdt(sw.as_fdt())
  for (const [name, phys] of subtrees) {
    ed.openInto(PAGE);
    const off = ed.addSubnode(0, name);
    ed.setprop(off, propName, le64(phys));
    if (name in blobSizes) ed.setprop(off, "blob-size", le64(blobSizes[name]));
    ed.pack();
  }
  ed.setprop(0, "preserved-memory-map", le64(memMap));
  return ed.blob();
}

/** fdt_oracle.py root_sw: the 6.16 one-pass build, memory map via a placeholder. */
function rootSw(subtrees: [string, number][], memMap: number): Uint8Array {
  const w = FdtWriter.create(PAGE);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "kho-v1");
  const map = w.propertyPlaceholder("preserved-memory-map", 8);
  for (const [name, phys] of subtrees) {
    w.beginNode(name);
    w.property("fdt", le64(phys));
    w.endNode();
  }
  w.endNode();
  w.fillPlaceholder(map, le64(memMap));
  return w.finish();
}

function memblockSub(regions: [string, number, number][]): Uint8Array {
  const w = FdtWriter.create(PAGE);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "memblock-v1");
  for (const [name, start, size] of regions) {
    w.beginNode(name);
    w.propertyString("compatible", "reserve-mem-v1");
    w.property("start", le64(start));
    w.property("size", le64(size));
    w.endNode();
  }
  w.endNode();
  return w.finish();
}

function testKhoSub(): Uint8Array {
  const w = FdtWriter.create(PAGE);
  w.finishReservemap();
  w.beginNode("");
  w.property("compatible", new TextEncoder().encode("kho-test-v1\0"));
  w.property("magic", le32(0x4b484f21));
  w.beginNode("data");
  w.property("nr_folios", le32(37));
  const info = new Uint8Array(16); // struct kho_vmalloc {u64 first; u32 total_pages; u16 flags; u16 order}
  const dv = new DataView(info.buffer);
  dv.setUint32(0, 0x10203000, true);
  dv.setUint32(8, 2, true);
  dv.setUint16(12, 1, true);
  dv.setUint16(14, 0, true);
  w.property("folios_info", info);
  w.property("csum", le32(0xdeadbeef));
  w.endNode();
  w.endNode();
  return w.finish();
}

const SUBTREES: [string, number][] = [["memblock", 0x117150000], ["kho_test", 0x2000a000]];
const MAP = 0x116be4000;

const GOLDEN: Record<string, { build: () => Uint8Array; size: number; sha256: string }> = {
  root_rw: {
    build: () => rootRw(SUBTREES, MAP),
    size: 228,
    sha256: "6ed2c23e8d4e40fa344485f15329dd4e9b8adb6380b25a3b98c3f77f2d15b7ae",
  },
  root_sw: {
    build: () => rootSw(SUBTREES, MAP),
    size: 236,
    sha256: "e9986d52422efd8123ebcf4b70d667d09c0f2eb606c4d11d587caf71a3b4260f",
  },
  memblock: {
    build: () => memblockSub([["n1", 0x46bc00000, 0x4000000], ["n2", 0x467c00000, 0x4000000]]),
    size: 286,
    sha256: "70f2ebc10f88b32f5a0b92dcff193511a218faf3c4803c812d53346a3378f257",
  },
  kho_test: {
    build: testKhoSub,
    size: 240,
    sha256: "0ce01c9480929d12828cda2887862b984795979f060491e053c6033d7cfd8690",
  },
  kho_v4_a: {
    build: () => rootRw([], 0x123456000, "kho-v4", "preserved-data"),
    size: 152,
    sha256: "51407622881cb729859b533b648351011e17155eb9767ec71b6ede8ed9ba1f1c",
  },
  kho_v4_b: {
    build: () =>
      rootRw([["kexec-metadata", 0x1000]], 0x123456000, "kho-v4", "preserved-data", {
        "kexec-metadata": 73,
      }),
    size: 233,
    sha256: "1121f2e7d18c1a58dd6dec6d0dcf887c1ea6d7e6ed442aebf1625b81586349cc",
  },
};

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
