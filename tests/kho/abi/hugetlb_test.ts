/**
 * The HugeTLB live update RFC's ABI (`include/linux/kho/abi/hugetlb.h`) against models written
 * here from luo-hugetlb-facts §4.3: `hugetlb_hstate_ser` 9 bytes (u64 nr_pages, u8 order),
 * `hugetlb_ser` 37 bytes (4 entries then u8 nr_hstates), `hugemfd_folio_ser` 16 bytes
 * (pfn:52 reserved:12, index), `hugemfd_ser` 41 bytes (size, pos — size first —, nr_folios,
 * kho_vmalloc, u8 order); all little-endian and `__packed`.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeHugemfdSer,
  decodeHugetlbSer,
  encodeHugemfdSer,
  encodeHugetlbSer,
  getHugemfdFolioSer,
  HUGE_MEMFD_COMPATIBLE,
  HUGEMFD_FOLIO_SER_SIZE,
  HUGEMFD_SER_LAYOUT,
  HUGETLB_FLB_COMPATIBLE,
  HUGETLB_SER_LAYOUT,
  HUGETLB_SER_MAX_HSTATES,
  putHugemfdFolioSer,
} from "../../../lib/kho/abi/hugetlb.ts";
import { KhoVmalloc } from "../../../lib/kho/abi/kexec_handover.ts";

function le64(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}
function le32(v: number): number[] {
  return Array.from({ length: 4 }, (_, i) => (v >>> (8 * i)) & 0xff);
}
function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

/** Model of `struct hugetlb_ser`: 4 × {u64 nr_pages; u8 order}, u8 nr_hstates. */
function modelHugetlbSer(entries: [bigint, number][]): number[] {
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [n, o] = entries[i] ?? [0n, 0];
    out.push(...le64(n), o);
  }
  out.push(entries.length);
  return out;
}

/** Model of `struct kho_vmalloc`: u64 first, u32 total_pages, u16 flags, u16 order. */
function modelVmalloc(first: bigint, total: number, flags: number, order: number): number[] {
  return [...le64(first), ...le32(total), ...le16(flags), ...le16(order)];
}

/** Model of `struct hugemfd_ser`. */
function modelHugemfdSer(
  size: bigint,
  pos: bigint,
  nr: bigint,
  vm: [bigint, number, number, number],
  order: number,
): number[] {
  return [...le64(size), ...le64(pos), ...le64(nr), ...modelVmalloc(...vm), order];
}

Deno.test("HugeTLB ABI constants (luo-hugetlb-facts §4.3)", () => {
  assert.equal(HUGETLB_FLB_COMPATIBLE, "hugetlb-v1");
  assert.equal(HUGE_MEMFD_COMPATIBLE, "huge-memfd-v1");
  assert.equal(HUGETLB_SER_MAX_HSTATES, 4);
  assert.equal(HUGETLB_SER_LAYOUT.size, 37);
  assert.equal(HUGETLB_SER_LAYOUT.nrHstates, 36);
  assert.equal(HUGEMFD_FOLIO_SER_SIZE, 16);
  assert.deepEqual(
    [
      HUGEMFD_SER_LAYOUT.size,
      HUGEMFD_SER_LAYOUT.pos,
      HUGEMFD_SER_LAYOUT.nrFolios,
      HUGEMFD_SER_LAYOUT.folios,
      HUGEMFD_SER_LAYOUT.order,
      HUGEMFD_SER_LAYOUT.bytes,
    ],
    [0, 8, 16, 24, 40, 41],
  );
});

Deno.test("hugetlb_ser: byte-exact against the model, every entry count 0..4", () => {
  fc.assert(fc.property(
    fc.array(
      fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), fc.integer({ min: 0, max: 255 })),
      { maxLength: 4 },
    ),
    (entries) => {
      const bytes = encodeHugetlbSer({
        hstates: entries.map(([n, o]) => ({ nrPages: Number(n), order: o })),
      });
      assert.deepEqual([...bytes], modelHugetlbSer(entries));
      assert.deepEqual(
        decodeHugetlbSer(bytes).hstates.map((h) => [BigInt(h.nrPages), h.order]),
        entries,
      );
    },
  ));
  assert.throws(
    () => encodeHugetlbSer({ hstates: Array(5).fill({ nrPages: 0, order: 9 }) }),
    RangeError,
  );
  // The cover letter's successor: 5 preserved 1 GiB pages, the 2 MiB hstate registered too.
  const b = encodeHugetlbSer({ hstates: [{ nrPages: 5, order: 18 }, { nrPages: 0, order: 9 }] });
  assert.deepEqual([...b], modelHugetlbSer([[5n, 18], [0n, 9]]));
  // A corrupt nr_hstates beyond 4 reads only the 4 entries the array has.
  const bad = new Uint8Array(b);
  bad[36] = 200;
  assert.equal(decodeHugetlbSer(bad).hstates.length, 4);
});

Deno.test("hugemfd_folio_ser and hugemfd_ser: byte-exact against the model", () => {
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 2n ** 52n - 1n }),
    fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
    (pfn, index) => {
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      putHugemfdFolioSer(dv, 0, { pfn: Number(pfn), index: Number(index) });
      assert.deepEqual([...b], [...le64(pfn), ...le64(index)], "reserved:12 written 0");
      assert.deepEqual(getHugemfdFolioSer(dv, 0), { pfn: Number(pfn), index: Number(index) });
      // The reserved bits are not part of the pfn.
      b[7] |= 0xf0;
      assert.equal(getHugemfdFolioSer(dv, 0).pfn, Number(pfn));
    },
  ));
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
    fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
    fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
    fc.bigInt({ min: 0n, max: 2n ** 52n }),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    fc.integer({ min: 0, max: 0xffff }),
    fc.integer({ min: 0, max: 0xffff }),
    fc.integer({ min: 0, max: 255 }),
    (size, pos, nr, first, total, flags, vorder, order) => {
      const folios = new KhoVmalloc({
        first: Number(first),
        totalPages: total,
        flags,
        order: vorder,
      });
      const s = { size: Number(size), pos: Number(pos), nrFolios: Number(nr), folios, order };
      const bytes = encodeHugemfdSer(s);
      assert.deepEqual(
        [...bytes],
        modelHugemfdSer(size, pos, nr, [first, total, flags, vorder], order),
      );
      assert.deepEqual(decodeHugemfdSer(bytes), s);
    },
  ));
});
