/** FdtWriter (fdt_sw.c) unit tests: layout, string de-duplication, states, NOSPACE, growth. */

import assert from "node:assert/strict";
import { FdtError } from "../../../lib/errors.ts";
import { checkFullVerdict } from "../../../lib/kho/fdt/check.ts";
import { getHeader, le64, readBe32 } from "../../../lib/kho/fdt/format.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";

const isFdt = (code: string) => (e: unknown) => e instanceof FdtError && e.code === code;

function stringsOf(blob: Uint8Array): string {
  const off = getHeader(blob, "offDtStrings");
  return new TextDecoder().decode(blob.subarray(off, off + getHeader(blob, "sizeDtStrings")));
}

function build(w: FdtWriter): Uint8Array {
  w.finishReservemap();
  w.beginNode("");
  w.property("preserved-memory-map", le64(1));
  w.property("map", le64(2));
  w.property("memory-map", le64(3));
  w.propertyString("compatible", "kho-v1");
  w.beginNode("child");
  w.property("fdt", le64(4));
  w.endNode();
  w.endNode();
  return w.finish();
}

Deno.test("writer: SW layout and suffix-shared names in reverse order of first use", () => {
  const blob = build(FdtWriter.create(4096));
  assert.equal(getHeader(blob, "offMemRsvmap"), 0x30);
  assert.equal(getHeader(blob, "offDtStruct"), 0x40);
  assert.equal(getHeader(blob, "version"), 17);
  assert.equal(getHeader(blob, "lastCompVersion"), 16);
  assert.equal(stringsOf(blob), "fdt\0compatible\0preserved-memory-map\0");
  const r = new FdtReader(blob);
  // "map" and "memory-map" share the bytes of "preserved-memory-map".
  const nameoff = (p: number) => readBe32(blob, 0x40 + r.properties(0)[p].offset + 8);
  assert.equal(nameoff(0), 15); // preserved-memory-map after "fdt\0compatible\0"
  assert.equal(nameoff(1), 15 + 17); // map
  assert.equal(nameoff(2), 15 + 10); // memory-map
  assert.equal(r.getU64Le(0, "memory-map"), 3);
  assert.equal(checkFullVerdict(blob), "OK");
});

Deno.test("writer: fdt-facts §2 example, strings block is exactly preserved-memory-map", () => {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.property("preserved-memory-map", le64(0));
  w.property("map", le64(0));
  w.property("memory-map", le64(0));
  w.endNode();
  const blob = w.finish();
  assert.equal(getHeader(blob, "sizeDtStrings"), 21);
  assert.equal(stringsOf(blob), "preserved-memory-map\0");
});

Deno.test("writer: finish leaves the old string copy past totalsize", () => {
  const w = FdtWriter.create(512);
  const blob = build(w);
  const whole = w.finishBuffer();
  assert.equal(whole.length, 512);
  assert.deepEqual(whole.subarray(0, blob.length), blob);
  const size = getHeader(blob, "sizeDtStrings");
  assert.equal(
    new TextDecoder().decode(whole.subarray(512 - size)),
    "fdt\0compatible\0preserved-memory-map\0",
  );
});

Deno.test("writer: layout does not depend on the buffer size; grow mode matches", () => {
  const big = build(FdtWriter.create(1 << 16));
  assert.deepEqual(build(FdtWriter.create(4096)), big);
  const g = FdtWriter.create(64, { grow: true, growStepBytes: 16 });
  assert.deepEqual(build(g), big);
  assert.ok(g.bufsize > 64);
});

Deno.test("writer: a fixed buffer runs out with FDT_ERR_NOSPACE", () => {
  assert.throws(() => FdtWriter.create(47), isFdt("FDT_ERR_NOSPACE"));
  const w = FdtWriter.create(128);
  w.finishReservemap();
  w.beginNode("");
  assert.throws(() => {
    for (let i = 0; i < 20; i++) w.property(`p${i}`, new Uint8Array(8));
  }, isFdt("FDT_ERR_NOSPACE"));
  // The failed property rolled its name back: the tree can still be finished.
  w.endNode();
  assert.equal(checkFullVerdict(w.finish()), "OK");
});

Deno.test("writer: state errors are FDT_ERR_BADSTATE", () => {
  const w = FdtWriter.create(4096);
  assert.throws(() => w.beginNode(""), isFdt("FDT_ERR_BADSTATE"));
  assert.throws(() => w.finish(), isFdt("FDT_ERR_BADSTATE"));
  w.addReservemapEntry(0x1000, 0x2000);
  w.finishReservemap();
  assert.throws(() => w.addReservemapEntry(1, 2), isFdt("FDT_ERR_BADSTATE"));
  w.beginNode("");
  w.endNode();
  const blob = w.finish();
  assert.deepEqual(new FdtReader(blob).reservations(), [{ address: 0x1000, size: 0x2000 }]);
  assert.throws(() => w.property("x", new Uint8Array(1)), isFdt("FDT_ERR_BADSTATE"));
  assert.throws(() => w.finish(), isFdt("FDT_ERR_BADSTATE"));
});

Deno.test("writer: placeholders are filled later", () => {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  const h = w.propertyPlaceholder("preserved-memory-map", 8);
  w.propertyLe64("other", 7);
  w.endNode();
  assert.throws(() => w.fillPlaceholder(h, new Uint8Array(4)), RangeError);
  w.fillPlaceholder(h, le64(0x116be4000));
  const r = new FdtReader(w.finish());
  assert.equal(r.getU64Le(0, "preserved-memory-map"), 0x116be4000);
  assert.equal(r.getU64Le(0, "other"), 7);
});
