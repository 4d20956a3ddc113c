import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeScratchArray,
  encodeScratchArray,
  KHO_SCRATCH_ENTRY_SIZE,
  KHO_SCRATCH_LAYOUT,
} from "../../../lib/kho/abi/asm_generic_kexec_handover.ts";

Deno.test("struct kho_scratch: { phys_addr_t addr; phys_addr_t size; } = 16 bytes (kho-facts §9.1)", () => {
  assert.equal(KHO_SCRATCH_ENTRY_SIZE, 16);
  assert.deepEqual({ ...KHO_SCRATCH_LAYOUT }, { addr: 0, size: 8 });
  const b = encodeScratchArray([
    { addr: 0x1_0000_0000, size: 0x200000 },
    { addr: 0x4000_0000, size: 0x1_0000_0000 },
  ]);
  assert.equal(b.length, 32);
  assert.deepEqual([...b.subarray(0, 16)], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0]);
  assert.deepEqual([...b.subarray(16, 32)], [0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
});

Deno.test("scratch array round trip; a length not a multiple of 16 is refused", () => {
  const area = fc.record({
    addr: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    size: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  });
  fc.assert(fc.property(fc.array(area, { maxLength: 10 }), (areas) => {
    const plain = areas.map((a) => ({ addr: a.addr, size: a.size })); // fast-check: null proto
    assert.deepEqual(decodeScratchArray(encodeScratchArray(plain)), plain);
  }));
  assert.throws(() => decodeScratchArray(new Uint8Array(24)), RangeError);
});
