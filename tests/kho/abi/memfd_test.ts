/**
 * The memfd LUO ABI (`include/linux/kho/abi/memfd.h`) against models written here from
 * luo-hugetlb-facts §3.1: little-endian `__packed` structs, the GCC bitfield `pfn:52 flags:12`
 * in one u64, memfd-v1's 40-byte and memfd-v2's 48-byte `memfd_luo_ser`.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeFolioSer,
  decodeMemfdLuoSer,
  encodeFolioSer,
  encodeMemfdLuoSer,
  F_SEAL_EXEC,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  MEMFD_LUO_ALL_SEALS,
  MEMFD_LUO_FH_COMPATIBLE_V1,
  MEMFD_LUO_FH_COMPATIBLE_V2,
  MEMFD_LUO_FOLIO_DIRTY,
  MEMFD_LUO_FOLIO_SER_SIZE,
  MEMFD_LUO_FOLIO_UPTODATE,
  MEMFD_LUO_SER_V1_LAYOUT,
  MEMFD_LUO_SER_V2_LAYOUT,
} from "../../../lib/kho/abi/memfd.ts";
import { KhoVmalloc } from "../../../lib/kho/abi/kexec_handover.ts";

/** A u64 as 8 little-endian bytes. */
function le64(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}
function le32(v: number): number[] {
  return Array.from({ length: 4 }, (_, i) => (v >>> (8 * i)) & 0xff);
}
function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

/** Model of `struct memfd_luo_folio_ser`: word 0 = pfn | flags << 52, word 1 = index. */
function modelFolioSer(pfn: bigint, flags: bigint, index: bigint): number[] {
  return [...le64(pfn | (flags << 52n)), ...le64(index)];
}

/** Model of `struct kho_vmalloc`: u64 first, u32 total_pages, u16 flags, u16 order. */
function modelVmalloc(first: bigint, total: number, flags: number, order: number): number[] {
  return [...le64(first), ...le32(total), ...le16(flags), ...le16(order)];
}

Deno.test("memfd ABI constants: flags, seals, sizes and offsets (luo-hugetlb-facts §3.1)", () => {
  assert.equal(MEMFD_LUO_FOLIO_DIRTY, 1);
  assert.equal(MEMFD_LUO_FOLIO_UPTODATE, 2);
  assert.equal(MEMFD_LUO_FOLIO_SER_SIZE, 16);
  assert.deepEqual(
    [F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE, F_SEAL_EXEC],
    [0x1, 0x2, 0x4, 0x8, 0x10, 0x20],
  );
  assert.equal(MEMFD_LUO_ALL_SEALS, 0x3f);
  assert.deepEqual([MEMFD_LUO_FH_COMPATIBLE_V1, MEMFD_LUO_FH_COMPATIBLE_V2], [
    "memfd-v1",
    "memfd-v2",
  ]);
  assert.deepEqual(
    [
      MEMFD_LUO_SER_V1_LAYOUT.size,
      MEMFD_LUO_SER_V1_LAYOUT.nrFolios,
      MEMFD_LUO_SER_V1_LAYOUT.folios,
    ],
    [40, 16, 24],
  );
  assert.deepEqual(
    [
      MEMFD_LUO_SER_V2_LAYOUT.size,
      MEMFD_LUO_SER_V2_LAYOUT.seals,
      MEMFD_LUO_SER_V2_LAYOUT.flags,
      MEMFD_LUO_SER_V2_LAYOUT.nrFolios,
      MEMFD_LUO_SER_V2_LAYOUT.folios,
    ],
    [48, 16, 20, 24, 32],
  );
});

Deno.test("memfd_luo_folio_ser is byte-exact against the bitfield model", () => {
  assert.deepEqual(
    [...encodeFolioSer({ pfn: 0x12345, flags: 2, index: 7 })],
    modelFolioSer(0x12345n, 2n, 7n),
  );
  // The widest values: pfn 2^52 - 1 fills bytes 0..6 up to bit 51; flags 0xfff the top 12 bits.
  assert.deepEqual(
    [...encodeFolioSer({ pfn: 2 ** 52 - 1, flags: 0xfff, index: 2 ** 53 - 1 })],
    modelFolioSer((1n << 52n) - 1n, 0xfffn, (1n << 53n) - 1n),
  );
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }),
    fc.integer({ min: 0, max: 0xfff }),
    fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
    (pfn, flags, index) => {
      const r = { pfn: Number(pfn), flags, index: Number(index) };
      const b = encodeFolioSer(r);
      assert.deepEqual([...b], modelFolioSer(pfn, BigInt(flags), index));
      assert.deepEqual(decodeFolioSer(b), r);
    },
  ));
  assert.throws(() => encodeFolioSer({ pfn: 2 ** 52, flags: 0, index: 0 }), RangeError);
  assert.throws(() => encodeFolioSer({ pfn: 1, flags: 0x1000, index: 0 }), RangeError);
});

Deno.test("memfd_luo_ser memfd-v1 (40 bytes) and memfd-v2 (48 bytes, seals) are byte-exact", () => {
  const desc = new KhoVmalloc({ first: 0x1_2345_6000, totalPages: 3, flags: 1, order: 0 });
  const v = modelVmalloc(0x1_2345_6000n, 3, 1, 0);
  const s = { pos: 0x1234, size: 3 * 4096 + 5, seals: 0, flags: 0, nrFolios: 4, folios: desc };
  const v1 = encodeMemfdLuoSer("memfd-v1", s);
  assert.deepEqual([...v1], [...le64(0x1234n), ...le64(3n * 4096n + 5n), ...le64(4n), ...v]);
  assert.deepEqual(decodeMemfdLuoSer("memfd-v1", v1), s);
  const s2 = { ...s, seals: F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_EXEC };
  const v2 = encodeMemfdLuoSer("memfd-v2", s2);
  assert.deepEqual([...v2], [
    ...le64(0x1234n),
    ...le64(3n * 4096n + 5n),
    ...le32(0x29),
    ...le32(0),
    ...le64(4n),
    ...v,
  ]);
  assert.deepEqual(decodeMemfdLuoSer("memfd-v2", v2), s2);
  // memfd-v1 has nowhere to put seals.
  assert.throws(() => encodeMemfdLuoSer("memfd-v1", s2), RangeError);
  assert.throws(() => decodeMemfdLuoSer("memfd-v2", v1), RangeError);
});
