/**
 * The FDT tests' corpus: the golden vectors of fdt-facts §7 (built with the kernel's call
 * sequences; golden_test.ts pins their sha256 digests and compares them with fdt_oracle.py)
 * and the blobs of libfdt_replay_test.ts's generated cases (byte-identical to libfdt there).
 * The FDT fuzz target (tools/fuzz/fdt.ts) seeds from it.
 *
 * @module
 */

import { FdtEditor } from "../../../lib/kho/fdt/editor.ts";
import { le32, le64 } from "../../../lib/kho/fdt/format.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";
import { fromHex, makeReplayCases, runOurs } from "./replay_support.ts";

/** The kernel's page: the buffer size of every KHO FDT. */
export const PAGE = 4096;

/** fdt_oracle.py root_rw: SW setup, then per sub-tree open_into + add_subnode + setprop + pack. */
export function rootRw(
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
export function rootSw(subtrees: [string, number][], memMap: number): Uint8Array {
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

/** fdt_oracle.py memblock_sub (fdt-facts §6.5). */
export function memblockSub(regions: [string, number, number][]): Uint8Array {
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

/** fdt_oracle.py test_kho_sub with the golden arguments (fdt-facts §6.6). */
export function testKhoSub(): Uint8Array {
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

/** The golden root's sub-trees (fdt-facts §7.1). */
export const SUBTREES: [string, number][] = [["memblock", 0x117150000], ["kho_test", 0x2000a000]];
/** The golden root's memory map (fdt-facts §7.1). */
export const MAP = 0x116be4000;

/** The golden vectors of fdt-facts §7, with their sizes and sha256 digests. */
export const GOLDEN: Record<string, { build: () => Uint8Array; size: number; sha256: string }> = {
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

/**
 * Every blob of the corpus: the golden vectors, then each distinct snapshot of the replay
 * cases (SW builds, misordered loads, RW edits; the first `totalsize` bytes, or the whole
 * buffer when the header names more). Deterministic.
 */
export function fdtCorpus(): Uint8Array[] {
  const out = Object.values(GOLDEN).map((g) => g.build());
  const seen = new Set<string>();
  for (const ops of makeReplayCases()) {
    for (const snap of runOurs(ops).snapshots) {
      if (seen.has(snap.buf)) continue; // identical snapshots once
      seen.add(snap.buf);
      const buf = fromHex(snap.buf);
      out.push(
        snap.totalsize > 0 && snap.totalsize <= buf.length ? buf.slice(0, snap.totalsize) : buf,
      );
    }
  }
  return out;
}
