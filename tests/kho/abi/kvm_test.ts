/**
 * The KVM / guest_memfd LUO ABI (lib/kho/abi/kvm.ts) against models written from
 * luo-hugetlb-facts §4.4: every field at its offset, little endian, `__packed`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeGuestMemfdFolioSer,
  decodeGuestMemfdLuoSer,
  decodeKvmLuoSer,
  encodeGuestMemfdFolioSer,
  encodeGuestMemfdLuoSer,
  encodeKvmLuoSer,
  GUEST_MEMFD_LUO_FH_COMPATIBLE,
  GUEST_MEMFD_LUO_FLAG_INIT_SHARED,
  GUEST_MEMFD_LUO_FLAG_MMAP,
  GUEST_MEMFD_LUO_FOLIO_SER_SIZE,
  GUEST_MEMFD_LUO_FOLIO_UPTODATE,
  GUEST_MEMFD_LUO_SER_LAYOUT,
  GUEST_MEMFD_LUO_SUPPORTED_FLAGS,
  KVM_LUO_FH_COMPATIBLE,
  KVM_LUO_SER_LAYOUT,
} from "../../../lib/kho/abi/kvm.ts";
import { KhoVmalloc } from "../../../lib/kho/abi/kexec_handover.ts";

/** u64 little endian, from a BigInt (the model's only integer type). */
function le64(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}

/** The model of `struct kho_vmalloc` (natural layout, 16 bytes): u64, u32, u16, u16. */
function vmallocModel(first: bigint, totalPages: number, flags: number, order: number): number[] {
  return [
    ...le64(first),
    ...le64(BigInt(totalPages)).slice(0, 4),
    flags & 0xff,
    flags >> 8,
    order & 0xff,
    order >> 8,
  ];
}

Deno.test("constants: compatibles, flag bits and sizes as the facts give them", () => {
  assert.equal(GUEST_MEMFD_LUO_FH_COMPATIBLE, "guest_memfd_luo_v1");
  assert.equal(KVM_LUO_FH_COMPATIBLE, "kvm_vm_luo_v1");
  assert.equal(GUEST_MEMFD_LUO_FOLIO_UPTODATE, 1 << 0);
  assert.equal(GUEST_MEMFD_LUO_FLAG_MMAP, 1 << 0);
  assert.equal(GUEST_MEMFD_LUO_FLAG_INIT_SHARED, 1 << 1);
  assert.equal(GUEST_MEMFD_LUO_SUPPORTED_FLAGS, 3);
  assert.equal(GUEST_MEMFD_LUO_SER_LAYOUT.size, 48);
  assert.equal(GUEST_MEMFD_LUO_FOLIO_SER_SIZE, 16);
  assert.equal(KVM_LUO_SER_LAYOUT.size, 8);
  // the compatibles fit the 48-byte luo_file_ser field with their NUL
  assert.ok(GUEST_MEMFD_LUO_FH_COMPATIBLE.length + 1 <= 48);
});

Deno.test("guest_memfd_luo_ser: size @0, flags @8, nr_folios @16, vm_token @24, kho_vmalloc @32", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: (1n << 53n) - 1n }),
      fc.integer({ min: 0, max: 3 }),
      fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.bigInt({ min: 0n, max: (1n << 41n) - 1n }).map((x) => x * 4096n),
      fc.integer({ min: 0, max: 0xffffffff }),
      (size, flags, nr, token, first, pages) => {
        const folios = new KhoVmalloc({
          first: Number(first),
          totalPages: pages,
          flags: 1,
          order: 0,
        });
        const s = {
          size: Number(size),
          flags,
          nrFolios: Number(nr),
          vmToken: token,
          folios,
        };
        const model = [
          ...le64(size),
          ...le64(BigInt(flags)),
          ...le64(nr),
          ...le64(token),
          ...vmallocModel(first, pages, 1, 0),
        ];
        const bytes = encodeGuestMemfdLuoSer(s);
        assert.deepEqual([...bytes], model);
        assert.deepEqual(decodeGuestMemfdLuoSer(bytes), s);
      },
    ),
  );
  assert.throws(
    () =>
      encodeGuestMemfdLuoSer({
        size: 1,
        flags: 0,
        nrFolios: 0,
        vmToken: 1n << 64n,
        folios: new KhoVmalloc({ first: 0, totalPages: 0, flags: 0, order: 0 }),
      }),
    RangeError,
  );
  assert.throws(() => decodeGuestMemfdLuoSer(new Uint8Array(47)), RangeError);
});

Deno.test("guest_memfd_luo_folio_ser: pfn in bits 0..51, flags in bits 52..63 of word 0, index in word 1", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }),
      fc.integer({ min: 0, max: 0xfff }),
      fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
      (pfn, flags, index) => {
        const r = { pfn: Number(pfn), flags, index: Number(index) };
        const model = [...le64(pfn | (BigInt(flags) << 52n)), ...le64(index)];
        const b = encodeGuestMemfdFolioSer(r);
        assert.deepEqual([...b], model);
        assert.deepEqual(decodeGuestMemfdFolioSer(b), r);
      },
    ),
  );
  // UPTODATE on pfn 0x12345: bit 52 is bit 4 of byte 6
  const b = encodeGuestMemfdFolioSer({
    pfn: 0x12345,
    flags: GUEST_MEMFD_LUO_FOLIO_UPTODATE,
    index: 7,
  });
  assert.deepEqual([...b.subarray(0, 8)], [0x45, 0x23, 0x01, 0, 0, 0, 0x10, 0]);
});

Deno.test("kvm_luo_ser: u64 type @0, 8 bytes", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (type) => {
      assert.deepEqual([...encodeKvmLuoSer({ type })], le64(type));
      assert.equal(decodeKvmLuoSer(encodeKvmLuoSer({ type })).type, type);
    }),
  );
  assert.throws(() => encodeKvmLuoSer({ type: -1n }), RangeError);
});
