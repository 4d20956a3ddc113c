import assert from "node:assert/strict";
import {
  encodeKexecMetadata,
  KEXEC_METADATA_LAYOUT,
  readKexecMetadata,
} from "../../../lib/kho/abi/kexec_metadata.ts";

Deno.test("kexec-metadata is 73 packed little-endian bytes", () => {
  const b = encodeKexecMetadata({ version: 1, previousRelease: "7.2.0", kexecCount: 0x01020304 });
  assert.equal(b.length, 73);
  assert.equal(KEXEC_METADATA_LAYOUT.kexecCount, 69);
  assert.deepEqual([...b.subarray(0, 4)], [1, 0, 0, 0]);
  assert.deepEqual([...b.subarray(69)], [4, 3, 2, 1]);
  assert.equal(new TextDecoder().decode(b.subarray(4, 9)), "7.2.0");
  assert.equal(b[9], 0);
});

Deno.test("kho_init's acceptance checks", () => {
  const good = encodeKexecMetadata({ version: 1, previousRelease: "x", kexecCount: 5 });
  assert.deepEqual(readKexecMetadata(good), {
    ok: true,
    value: { version: 1, previousRelease: "x", kexecCount: 5 },
  });
  assert.equal(readKexecMetadata(good.subarray(0, 3)).ok, false);
  assert.equal(readKexecMetadata(good.subarray(0, 72)).ok, false);
  const v2 = good.slice();
  v2[0] = 2;
  const r = readKexecMetadata(v2);
  assert.ok(!r.ok && /version 2/.test(r.reason));
});
