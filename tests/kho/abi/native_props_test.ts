import assert from "node:assert/strict";
import { buildMemblockFdt } from "../../../lib/kho/abi/memblock.ts";
import { NATIVE_PROPERTIES, nativePropertyNote } from "../../../lib/kho/abi/native_props.ts";
import { le32, le64 } from "../../../lib/kho/fdt/format.ts";
import { toDts } from "../../../lib/kho/fdt/dts.ts";

Deno.test("the memblock sub-FDT of the kernel's documentation, decoded", () => {
  // fdt-facts §5: the documentation's cells and the little-endian values behind them.
  const blob = buildMemblockFdt([{ name: "n1", start: 0x46bc00000, size: 0x4000000 }]);
  const plain = toDts(blob);
  const noted = toDts(blob, { annotate: nativePropertyNote });
  assert.match(plain, /\t\tstart = <0xc06b 0x4000000>;\n\t\tsize = <0x04 0x00>;\n/);
  assert.match(
    noted,
    /\t\tstart = <0xc06b 0x4000000>;\t\/\/ u64 LE 0x46bc00000\n\t\tsize = <0x04 0x00>;\t\/\/ u64 LE 64 MiB\n/,
  );
  assert.equal(noted.replace(/\t\/\/ [^\n]*/g, ""), plain, "only comments are added");
});

Deno.test("nativePropertyNote: widths, kinds and values beyond 2^53", () => {
  assert.equal(nativePropertyNote("preserved-data", le64(0x116be4000)), "u64 LE 0x116be4000");
  assert.equal(nativePropertyNote("nr_folios", le32(12)), "u32 LE 12");
  assert.equal(nativePropertyNote("magic", le32(0x4b484f21)), "u32 LE 0x4b484f21");
  assert.equal(nativePropertyNote("preserved-data", le32(1)), null, "wrong length");
  assert.equal(nativePropertyNote("toString", le64(1)), null, "no prototype lookups");
  const big = new Uint8Array(8).fill(0xff);
  assert.equal(nativePropertyNote("blob-size", big), "u64 LE 18446744073709551615 B");
  assert.equal(nativePropertyNote("fdt", big), "u64 LE 0xffffffffffffffff");
  for (const [name, spec] of Object.entries(NATIVE_PROPERTIES)) {
    assert.ok(nativePropertyNote(name, new Uint8Array(spec.bytes)) !== null, name);
  }
});
