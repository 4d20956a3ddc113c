/** toDts: dtc-style value guessing and formatting, compared with `dtc -I dtb -O dts`. */

import assert from "node:assert/strict";
import { formatPropertyValue, guessValueKind, toDts } from "../../../lib/kho/fdt/dts.ts";
import { le64 } from "../../../lib/kho/fdt/format.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";
import { requireTool } from "../../support/system_tools.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("dts: value kinds and formatting", () => {
  assert.equal(formatPropertyValue(new Uint8Array(0)), ";");
  assert.equal(formatPropertyValue(enc("kho-v1\0")), ' = "kho-v1";');
  assert.equal(formatPropertyValue(enc("a\0bc\0")), ' = "a\\0bc";');
  assert.equal(formatPropertyValue(enc('q"\\\t\0')), ' = "q\\"\\\\\\t";');
  assert.equal(formatPropertyValue(le64(0x116be4000)), " = <0x40be16 0x1000000>;");
  assert.equal(formatPropertyValue(new Uint8Array([0, 0, 0, 0])), " = <0x00>;");
  assert.equal(formatPropertyValue(new Uint8Array([1, 2, 0xab])), " = [01 02 ab];");
  assert.equal(guessValueKind(enc("\0")), "bytes", "more NULs than characters");
  assert.equal(guessValueKind(enc("ab\0\0")), "string");
  assert.equal(guessValueKind(enc("a\0\0\0")), "cells");
  assert.equal(guessValueKind(enc("abc")), "bytes", "no terminating NUL");
});

function sample(): Uint8Array {
  const w = FdtWriter.create(4096);
  w.addReservemapEntry(0x1000, 0x2000);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "kho-v1");
  w.property("list", enc("one\0two\0\0three\0"));
  w.property("escapes", enc('tab\there "q" back\\slash\x07\0'));
  w.property("empty", new Uint8Array(0));
  w.property("nul", enc("\0"));
  w.property("bytes", new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01]));
  w.property("u64", le64(0x117150000));
  w.property("high", new Uint8Array([0x80, 0x41, 0x42, 0]));
  w.beginNode("memblock");
  w.beginNode("n1@46bc00000");
  w.property("start", le64(0x46bc00000));
  w.endNode();
  w.endNode();
  w.beginNode("kho_test");
  w.endNode();
  w.endNode();
  return w.finish();
}

Deno.test("dts: tree layout", () => {
  const text = toDts(sample());
  assert.ok(
    text.startsWith("/dts-v1/;\n\n/memreserve/\t0x0000000000001000 0x0000000000002000;\n/ {\n"),
  );
  assert.ok(text.includes("\n\tempty;\n"));
  assert.ok(
    text.includes("\n\n\tmemblock {\n\n\t\tn1@46bc00000 {\n\t\t\tstart = <0xc06b 0x4000000>;\n"),
  );
  assert.ok(text.endsWith("\tkho_test {\n\t};\n};\n"));
});

Deno.test("dts: identical to dtc -I dtb -O dts", async () => {
  if (!requireTool("dtc")) return;
  const dir = await Deno.makeTempDir({ prefix: "kholab-dts-" });
  try {
    const blob = sample();
    await Deno.writeFile(`${dir}/s.dtb`, blob);
    const out = await new Deno.Command("dtc", {
      args: ["-q", "-I", "dtb", "-O", "dts", `${dir}/s.dtb`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(toDts(blob), new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
