import assert from "node:assert/strict";
import {
  decodeKhoData,
  encodeKhoData,
  KHO_DATA_LAYOUT,
  KHO_DATA_SIZE,
  SETUP_KEXEC_KHO,
} from "../../../lib/kho/abi/kho_data.ts";

Deno.test("kho_data round-trips 64-bit addresses little-endian", () => {
  const h = { fdtPhys: 0x1_2345_6000, fdtLen: 4096, scratchPhys: 0x7f_ffff_0000, scratchLen: 64 };
  const b = encodeKhoData(h);
  assert.equal(b.length, 32);
  assert.deepEqual([...b.subarray(0, 8)], [0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0]);
  assert.deepEqual(decodeKhoData(b), h);
  assert.throws(() => decodeKhoData(b.subarray(0, 31)), RangeError);
  assert.throws(() => encodeKhoData({ ...h, fdtLen: -1 }), RangeError);
});

Deno.test("struct kho_data: four packed u64 at 0, 8, 16, 24; SETUP_KEXEC_KHO = 10 (kho-facts §9.4)", () => {
  assert.equal(KHO_DATA_SIZE, 32);
  assert.equal(SETUP_KEXEC_KHO, 10);
  assert.deepEqual({ ...KHO_DATA_LAYOUT }, {
    fdtAddr: 0,
    fdtSize: 8,
    scratchAddr: 16,
    scratchSize: 24,
  });
  const b = encodeKhoData({ fdtPhys: 1, fdtLen: 2, scratchPhys: 3, scratchLen: 4 });
  assert.deepEqual([b[0], b[8], b[16], b[24]], [1, 2, 3, 4]);
});
