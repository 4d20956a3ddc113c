import assert from "node:assert/strict";
import { decodeKhoData, encodeKhoData } from "../../../lib/kho/abi/kho_data.ts";

Deno.test("kho_data round-trips 64-bit addresses little-endian", () => {
  const h = { fdtPhys: 0x1_2345_6000, fdtLen: 4096, scratchPhys: 0x7f_ffff_0000, scratchLen: 64 };
  const b = encodeKhoData(h);
  assert.equal(b.length, 32);
  assert.deepEqual([...b.subarray(0, 8)], [0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0]);
  assert.deepEqual(decodeKhoData(b), h);
  assert.throws(() => decodeKhoData(b.subarray(0, 31)), RangeError);
  assert.throws(() => encodeKhoData({ ...h, fdtLen: -1 }), RangeError);
});
