import assert from "node:assert/strict";
import fc from "fast-check";
import { KhoVmalloc } from "../../../lib/kho/abi/kexec_handover.ts";
import {
  decodeFolioSer,
  encodeFolioSer,
  MEMFD_LUO_FH_COMPATIBLE,
  MEMFD_LUO_FOLIO_DIRTY,
  MEMFD_LUO_FOLIO_PFN_BITS,
  MEMFD_LUO_FOLIO_SER_LAYOUT,
  MEMFD_LUO_FOLIO_SER_SIZE,
  MEMFD_LUO_FOLIO_UPTODATE,
  MEMFD_LUO_SER_LAYOUT,
  MEMFD_LUO_SER_SIZE,
  readMemfdLuoSer,
  writeMemfdLuoSer,
} from "../../../lib/kho/abi/memfd.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";

Deno.test("memfd_luo_folio_ser: 16 packed bytes, pfn:52 | flags:12, then index (kho-facts §10)", () => {
  assert.equal(MEMFD_LUO_FOLIO_SER_SIZE, 16);
  assert.deepEqual({ ...MEMFD_LUO_FOLIO_SER_LAYOUT }, { pfnFlags: 0, index: 8 });
  assert.equal(MEMFD_LUO_FOLIO_PFN_BITS, 52);
  assert.deepEqual([MEMFD_LUO_FOLIO_DIRTY, MEMFD_LUO_FOLIO_UPTODATE], [1, 2]);
  assert.equal(MEMFD_LUO_FH_COMPATIBLE, "memfd-v1");
  const b = encodeFolioSer({ pfn: 0xf_ffff_ffff_ffff, flags: 0xabc, index: 0x1_0000_0002 });
  const w0 = new DataView(b.buffer).getBigUint64(0, true);
  assert.equal(w0 & ((1n << 52n) - 1n), 0xf_ffff_ffff_ffffn); // pfn in bits 0..51
  assert.equal(w0 >> 52n, 0xabcn); // flags in bits 52..63
  assert.deepEqual([...b.subarray(8)], [2, 0, 0, 0, 1, 0, 0, 0]);
  assert.throws(() => encodeFolioSer({ pfn: 2 ** 52, flags: 0, index: 0 }), RangeError);
  assert.throws(() => encodeFolioSer({ pfn: 0, flags: 4096, index: 0 }), RangeError);
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 2 ** 52 - 1 }),
    fc.integer({ min: 0, max: 4095 }),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    (pfn, flags, index) => {
      assert.deepEqual(decodeFolioSer(encodeFolioSer({ pfn, flags, index })), {
        pfn,
        flags,
        index,
      });
    },
  ));
});

Deno.test("memfd_luo_ser: pos, size, nr_folios, struct kho_vmalloc folios = 40 bytes", () => {
  assert.equal(MEMFD_LUO_SER_SIZE, 40);
  assert.deepEqual({ ...MEMFD_LUO_SER_LAYOUT }, { pos: 0, size: 8, nrFolios: 16, folios: 24 });
  assert.equal(MEMFD_LUO_SER_LAYOUT.folios + 16, MEMFD_LUO_SER_SIZE); // kho_vmalloc is 16
  const mem = new PhysicalMemory(2 ** 24);
  const ser = {
    pos: 7,
    size: 2 ** 33,
    nrFolios: 8,
    folios: new KhoVmalloc({ first: 0x5000, totalPages: 1, flags: 1, order: 0 }),
  };
  writeMemfdLuoSer(mem, 0x1000, ser);
  assert.deepEqual(readMemfdLuoSer(mem, 0x1000), ser);
  assert.equal(mem.readU64(0x1000 + 8), 2 ** 33);
  assert.equal(mem.readU64(0x1000 + 24), 0x5000); // folios.first
});
