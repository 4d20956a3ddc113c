/** FdtEditor (fdt_rw.c / fdt_wip.c) unit tests: placement, strings, errors, pack, NOSPACE. */

import assert from "node:assert/strict";
import { FdtError } from "../../../lib/errors.ts";
import { checkFullVerdict } from "../../../lib/kho/fdt/check.ts";
import { FdtEditor } from "../../../lib/kho/fdt/editor.ts";
import { FDT_NOP, getHeader, le64, readBe32, setHeader } from "../../../lib/kho/fdt/format.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { libfdtFaults } from "../../../lib/kho/fdt/ro.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";

const isFdt = (code: string) => (e: unknown) => e instanceof FdtError && e.code === code;

function baseRoot(): Uint8Array {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "kho-v1");
  w.property("preserved-memory-map", le64(0));
  w.beginNode("old");
  w.property("fdt", le64(1));
  w.endNode();
  w.endNode();
  return w.finish();
}

function strings(ed: FdtEditor): string {
  const b = ed.blob();
  const off = getHeader(b, "offDtStrings");
  return new TextDecoder().decode(b.subarray(off, off + getHeader(b, "sizeDtStrings")));
}

Deno.test("editor: addSubnode goes after the parent's properties, before older children", () => {
  const ed = FdtEditor.openInto(baseRoot(), 4096);
  const a = ed.addSubnode(0, "a");
  const b = ed.addSubnode(0, "b");
  const r = ed.reader();
  assert.deepEqual(r.subnodes(0).map((o) => r.getName(o)), ["b", "a", "old"]);
  assert.equal(b, a, "each new node lands at the same place, after the properties");
  assert.throws(() => ed.addSubnode(0, "a"), isFdt("FDT_ERR_EXISTS"));
  assert.throws(() => ed.addSubnode(0, "old"), isFdt("FDT_ERR_EXISTS"));
  assert.throws(() => ed.addSubnode(3, "x"), isFdt("FDT_ERR_BADOFFSET"));
  ed.addSubnode(ed.pathOffset("/a"), "deep");
  assert.equal(ed.reader().pathOffset("/a/deep") > 0, true);
});

Deno.test("editor: setprop inserts new properties first, resizes existing in place", () => {
  const ed = FdtEditor.openInto(baseRoot(), 4096);
  ed.setprop(0, "newprop", new Uint8Array([1, 2, 3]));
  ed.setprop(0, "compatible", new TextEncoder().encode("kho-v2-longer\0"));
  const r = ed.reader();
  assert.deepEqual(r.properties(0).map((p) => p.name), [
    "newprop",
    "compatible",
    "preserved-memory-map",
  ]);
  assert.equal(r.getString(0, "compatible"), "kho-v2-longer");
  assert.deepEqual(r.getprop(0, "newprop"), new Uint8Array([1, 2, 3]));
  // New names are appended (forward order); suffixes of existing names are shared.
  ed.setprop(0, "ory-map", le64(5));
  assert.equal(strings(ed), "fdt\0preserved-memory-map\0compatible\0newprop\0");
  assert.equal(ed.reader().getU64Le(0, "ory-map"), 5);
  assert.equal(checkFullVerdict(ed.blob()), "OK");
});

Deno.test("editor: setpropInplace, delprop, delNode, nop", () => {
  const ed = FdtEditor.openInto(baseRoot(), 4096);
  ed.setpropInplace(0, "preserved-memory-map", le64(0x116be4000));
  assert.equal(ed.reader().getU64Le(0, "preserved-memory-map"), 0x116be4000);
  assert.throws(
    () => ed.setpropInplace(0, "preserved-memory-map", new Uint8Array(4)),
    isFdt("FDT_ERR_NOSPACE"),
  );
  assert.throws(() => ed.setpropInplace(0, "nope", new Uint8Array(4)), isFdt("FDT_ERR_NOTFOUND"));
  assert.throws(() => ed.delprop(0, "nope"), isFdt("FDT_ERR_NOTFOUND"));
  ed.delprop(0, "compatible");
  assert.equal(ed.reader().getprop(0, "compatible"), null);
  const old = ed.pathOffset("/old");
  ed.delNode(old);
  assert.throws(() => ed.pathOffset("/old"), isFdt("FDT_ERR_NOTFOUND"));
  const n = ed.addSubnode(0, "n");
  ed.setprop(n, "x", le64(1));
  ed.nopProperty(n, "x");
  assert.equal(readBe32(ed.blob(), getHeader(ed.blob(), "offDtStruct") + n + 8), FDT_NOP);
  assert.equal(ed.reader().getprop(n, "x"), null);
  ed.nopNode(ed.pathOffset("/n"));
  assert.deepEqual(ed.reader().subnodes(0), []);
  assert.equal(checkFullVerdict(ed.blob()), "OK");
});

Deno.test("editor: pack puts the rsvmap at 40 and keeps stale bytes past the end", () => {
  const src = baseRoot();
  const ed = FdtEditor.openInto(src, 4096);
  assert.equal(ed.totalsize, 4096);
  ed.pack();
  assert.equal(getHeader(ed.blob(), "offMemRsvmap"), 40);
  assert.equal(getHeader(ed.blob(), "offDtStruct"), 56);
  assert.equal(ed.totalsize, src.length - 8);
  const whole = ed.buffer();
  assert.equal(whole.length, 4096);
  // The last 8 bytes of the old strings block are still there, past the new end.
  assert.deepEqual(whole.subarray(ed.totalsize, src.length), src.subarray(src.length - 8));
  assert.deepEqual(new FdtReader(ed.blob()).properties(0).length, 2);
});

Deno.test("editor: a 4096-byte buffer fills up with FDT_ERR_NOSPACE", () => {
  const ed = FdtEditor.openInto(baseRoot(), 4096);
  let added = 0;
  assert.throws(() => {
    for (let i = 0; i < 1000; i++) {
      const off = ed.addSubnode(0, `subtree-${i}`);
      added++;
      ed.setprop(off, "preserved-data", le64(i * 4096));
      ed.setprop(off, "blob-size", le64(73));
    }
  }, isFdt("FDT_ERR_NOSPACE"));
  assert.ok(added > 50 && added < 100, `${added} sub-nodes`);
  ed.pack();
  assert.ok(ed.totalsize <= 4096);
  assert.equal(checkFullVerdict(ed.blob()), "OK");
  assert.throws(() => FdtEditor.openInto(ed.blob(), ed.totalsize - 1), isFdt("FDT_ERR_NOSPACE"));
});

Deno.test("editor: a finished SW blob edits in place; NOSPACE until opened into more room", () => {
  const ed = FdtEditor.wrap(baseRoot());
  ed.setprop(0, "preserved-memory-map", le64(9)); // same length: in place
  assert.throws(() => ed.setprop(0, "new", le64(1)), isFdt("FDT_ERR_NOSPACE"));
  assert.equal(ed.reader().getprop(0, "new"), null, "the failed name was rolled back");
  ed.openInto(8192);
  assert.equal(ed.capacity, 8192);
  ed.setprop(0, "new", le64(1));
  assert.equal(ed.reader().getU64Le(0, "new"), 1);
});

Deno.test("editor: libfdt probe errors (BADLAYOUT, BADVERSION, BADMAGIC)", () => {
  const blob = baseRoot();
  const misordered = blob.slice();
  setHeader(misordered, "offDtStrings", getHeader(blob, "offDtStruct")); // strings inside struct
  assert.throws(() => FdtEditor.wrap(misordered).addSubnode(0, "x"), isFdt("FDT_ERR_BADLAYOUT"));
  const v16 = blob.slice();
  setHeader(v16, "version", 16);
  assert.throws(() => FdtEditor.wrap(v16).setprop(0, "x", le64(1)), isFdt("FDT_ERR_BADVERSION"));
  const opened = FdtEditor.openInto(v16, 4096); // open_into upgrades to v17
  opened.setprop(0, "x", le64(1));
  assert.equal(getHeader(opened.blob(), "version"), 17);
  const bad = blob.slice();
  setHeader(bad, "magic", 0x12345678);
  assert.throws(() => FdtEditor.openInto(bad, 4096), isFdt("FDT_ERR_BADMAGIC"));
  assert.throws(() => FdtEditor.openInto(blob.slice(0, 60), 4096), isFdt("FDT_ERR_TRUNCATED"));
});

function hexBytes(h: string, size: number): Uint8Array {
  const clean = h.replace(/\s+/g, "");
  const out = new Uint8Array(size);
  for (let i = 0; i < clean.length / 2; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

Deno.test("editor: pack that would copy past the buffer is TRUNCATED and changes nothing", () => {
  // Fuzz finding (deno task fuzz --target fdt, seed 1, minimized): the strings block ends past
  // the 133-byte buffer once the 2-entry map is packed; the destination was not bounds-checked
  // and Uint8Array.set threw RangeError. libfdt writes 8 bytes past its buffer there.
  const buf = hexBytes(
    `d00dfeed 00000085 00000040 00000074 00000030 00000011 00000000 00000000
     00000011 00000034 00000000 00000000 00000000 00000000 00000000 0000006d
     00000000 00`,
    133,
  );
  const before = buf.slice();
  const faults = libfdtFaults.overrun;
  assert.throws(() => FdtEditor.wrap(buf).pack(), isFdt("FDT_ERR_TRUNCATED"));
  assert.deepEqual(buf, before);
  assert.ok(libfdtFaults.overrun > faults, "counted as a libfdt overrun");
});

Deno.test("editor: pack of an unterminated reservation map (libfdt writes before its buffer)", () => {
  // Fuzz finding (seed 2): libfdt 1.6.1's fdt_pack does not check fdt_num_mem_rsv; its error
  // -8 makes (-8 + 1) * 16 = -112 bytes of map, and the structure block is copied to offset
  // -72. The Python oracle's worker died later of the corrupted heap.
  const w = FdtWriter.create(4096);
  w.addReservemapEntry(0x1000, 0x2000);
  w.finishReservemap();
  w.beginNode("");
  w.endNode();
  const blob = w.finish();
  const rsv = getHeader(blob, "offMemRsvmap");
  blob[rsv + 31] = 1; // the terminator's size is no longer 0: the map runs on to totalsize
  const ed = FdtEditor.wrap(blob.slice());
  const faults = libfdtFaults.overrun;
  assert.throws(() => ed.pack(), isFdt("FDT_ERR_TRUNCATED"));
  assert.ok(libfdtFaults.overrun > faults, "counted as a libfdt overrun");
});
