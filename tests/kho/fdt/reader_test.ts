/** FdtReader unit tests: lookup, values, compatible lists, KHO u64, errors. */

import assert from "node:assert/strict";
import { FdtError } from "../../../lib/errors.ts";
import { le32, le64 } from "../../../lib/kho/fdt/format.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";

const isFdt = (code: string) => (e: unknown) => e instanceof FdtError && e.code === code;

function sample(): Uint8Array {
  const w = FdtWriter.create(4096);
  w.addReservemapEntry(0x100000, 0x4000);
  w.finishReservemap();
  w.beginNode("");
  w.property("compatible", new TextEncoder().encode("vendor,board\0kho-v1\0"));
  w.beginNode("memblock");
  w.propertyString("compatible", "memblock-v1");
  w.beginNode("n1");
  w.property("start", le64(0x46bc00000));
  w.property("size", le32(4));
  w.endNode();
  w.endNode();
  w.beginNode("cpu@0");
  w.endNode();
  w.beginNode("aliases");
  w.propertyString("mb", "/memblock");
  w.endNode();
  w.endNode();
  return w.finish();
}

Deno.test("reader: paths, sub-nodes, names, unit addresses, aliases", () => {
  const r = new FdtReader(sample());
  assert.equal(r.pathOffset("/"), 0);
  const mb = r.pathOffset("/memblock");
  assert.equal(r.getName(mb), "memblock");
  assert.equal(r.getName(0), "");
  assert.equal(r.subnodeOffset(mb, "n1"), r.pathOffset("/memblock/n1"));
  assert.equal(r.pathOffset("//memblock//n1/"), r.pathOffset("/memblock/n1"));
  assert.equal(r.subnodeOffset(0, "cpu"), r.pathOffset("/cpu@0"), '"cpu" matches "cpu@0"');
  assert.equal(r.pathOffset("mb/n1"), r.pathOffset("/memblock/n1"));
  assert.deepEqual(r.subnodes(0).map((o) => r.getName(o)), ["memblock", "cpu@0", "aliases"]);
  assert.deepEqual(r.subnodes(r.pathOffset("/cpu@0")), []);
  assert.throws(() => r.pathOffset("/missing"), isFdt("FDT_ERR_NOTFOUND"));
  assert.throws(() => r.pathOffset("nosuchalias"), isFdt("FDT_ERR_BADPATH"));
  assert.throws(() => r.getName(4), isFdt("FDT_ERR_BADOFFSET"));
  assert.throws(() => r.getName(-1), isFdt("FDT_ERR_BADOFFSET"));
  assert.throws(() => r.subnodes(2), isFdt("FDT_ERR_BADOFFSET"));
  assert.deepEqual(r.reservations(), [{ address: 0x100000, size: 0x4000 }]);
});

Deno.test("reader: properties, getprop, KHO little-endian u64", () => {
  const r = new FdtReader(sample());
  const n1 = r.pathOffset("/memblock/n1");
  assert.deepEqual(r.properties(n1).map((p) => [p.name, p.value.length]), [["start", 8], [
    "size",
    4,
  ]]);
  assert.equal(r.getU64Le(n1, "start"), 0x46bc00000);
  assert.equal(r.getU64Le(n1, "missing"), null);
  assert.throws(() => r.getU64Le(n1, "size"), isFdt("FDT_ERR_BADVALUE"));
  assert.equal(r.getprop(n1, "nope"), null);
  assert.throws(() => r.getpropOrThrow(n1, "nope"), isFdt("FDT_ERR_NOTFOUND"));
  assert.throws(() => r.getprop(3, "start"), isFdt("FDT_ERR_BADOFFSET"));
  assert.equal(r.getString(r.pathOffset("/memblock"), "compatible"), "memblock-v1");
  assert.throws(() => r.getString(n1, "start"), isFdt("FDT_ERR_BADVALUE"));
  assert.equal(r.header("totalsize"), r.blob.length);
});

Deno.test("reader: nodeCheckCompatible follows libfdt (stringlist, 0/1/NOTFOUND)", () => {
  const r = new FdtReader(sample());
  assert.equal(r.nodeCheckCompatible(0, "kho-v1"), 0);
  assert.equal(r.nodeCheckCompatible(0, "vendor,board"), 0);
  assert.equal(r.nodeCheckCompatible(0, "kho-v"), 1, "exact match, not prefix");
  assert.equal(r.nodeCheckCompatible(0, "board"), 1, "not a suffix either");
  assert.equal(r.nodeCheckCompatible(r.pathOffset("/memblock"), "kho-v1"), 1);
  assert.throws(
    () => r.nodeCheckCompatible(r.pathOffset("/cpu@0"), "x"),
    isFdt("FDT_ERR_NOTFOUND"),
  );
});

Deno.test("reader: header checks in the constructor", () => {
  const good = sample();
  const withField = (off: number, v: number) => {
    const b = good.slice();
    new DataView(b.buffer).setUint32(off, v);
    return b;
  };
  assert.throws(() => new FdtReader(new Uint8Array(10)), isFdt("FDT_ERR_TRUNCATED"));
  assert.throws(() => new FdtReader(withField(0, 0xd00dfeee)), isFdt("FDT_ERR_BADMAGIC"));
  assert.throws(() => new FdtReader(withField(20, 1)), isFdt("FDT_ERR_BADVERSION"));
  assert.throws(() => new FdtReader(withField(24, 18)), isFdt("FDT_ERR_BADVERSION"));
  assert.throws(() => new FdtReader(withField(4, 20)), isFdt("FDT_ERR_TRUNCATED"));
  assert.throws(() => new FdtReader(withField(8, 0x7fff0000)), isFdt("FDT_ERR_TRUNCATED"));
  // A too-large totalsize passes the header check; reads stay within the bytes given.
  const r = new FdtReader(withField(4, 0x100000));
  assert.equal(r.getU64Le(r.pathOffset("/memblock/n1"), "start"), 0x46bc00000);
  // Cut inside the first property (the structure starts at 0x50 after one reservation).
  const cut = new FdtReader(withField(4, 0x100000).slice(0, 0x70));
  assert.throws(() => cut.subnodes(0), isFdt("FDT_ERR_BADSTRUCTURE"));
  assert.throws(() => cut.properties(0), isFdt("FDT_ERR_BADSTRUCTURE"));
  // Cut before the structure block: the root offset itself is bad.
  const cut2 = new FdtReader(withField(4, 0x100000).slice(0, 0x50));
  assert.throws(() => cut2.subnodes(0), isFdt("FDT_ERR_BADOFFSET"));
});
