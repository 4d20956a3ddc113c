/**
 * The `kho_test` sub-FDT of `lib/test_kho.c` (fdt-facts §6.6): one sequential-write FDT
 * with `compatible = "kho-test-v1\0"` (written with `fdt_property`, NUL included), `magic`
 * (u32, native order) and a child `data` holding `nr_folios` (u32), `folios_info` (the
 * 16-byte `struct kho_vmalloc` of the vmalloc'd `phys | order` array) and `csum` (u32
 * `__wsum`). Built here with the kernel's call sequence so the bytes match libfdt's
 * ({@link buildTestKhoFdt}); `kho_test_restore` reads it with {@link parseTestKhoFdt}. Each
 * `folios_info` entry is the u64 `phys | order` of one folio ({@link encodeTestKhoFolioInfo}).
 *
 * @module
 */

import { cstring, type FdtReader, FdtWriter, le32, readLe32 } from "../fdt/mod.ts";
import { hex, PAGE_SIZE } from "../../units.ts";
import { KHO_VMALLOC_LAYOUT, KhoVmalloc } from "./kexec_handover.ts";

/** `KHO_TEST_MAGIC` ("KHO!"). */
export const KHO_TEST_MAGIC = 0x4b484f21;
/** Sub-tree name (`KHO_TEST_FDT`). */
export const KHO_TEST_FDT = "kho_test";
/** `KHO_TEST_COMPAT`. */
export const KHO_TEST_COMPAT = "kho-test-v1";
/** Root property: u32 `KHO_TEST_MAGIC`. */
export const KHO_TEST_MAGIC_PROP = "magic";
/** The child node holding the data. */
export const KHO_TEST_DATA_NODE = "data";
/** `/data` property: u32 number of folios. */
export const KHO_TEST_NR_FOLIOS_PROP = "nr_folios";
/** `/data` property: the 16-byte `struct kho_vmalloc` of the `folios_info` array. */
export const KHO_TEST_FOLIOS_INFO_PROP = "folios_info";
/** `/data` property: u32 `__wsum` over all folios. */
export const KHO_TEST_CSUM_PROP = "csum";
/** Size of one `folios_info` entry (u64 `phys | order`). */
export const KHO_TEST_FOLIO_INFO_SIZE = 8;

/** The values the sub-FDT carries. */
export interface TestKhoFdtFields {
  /** Number of folios. */
  nrFolios: number;
  /** Descriptor of the preserved `folios_info` vmalloc array. */
  foliosInfo: KhoVmalloc;
  /** Running `csum_partial` over all folios (u32). */
  csum: number;
}

/**
 * `kho_test_prepare_fdt`: the sub-FDT bytes (exactly `totalsize`), built in a buffer of
 * `bufsize` bytes (`nr_folios * 8 + PAGE_SIZE` in the module). Throws `FdtError`
 * FDT_ERR_NOSPACE when the buffer is too small.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KhoVmalloc } from "./kexec_handover.ts";
 * import { buildTestKhoFdt } from "./test_kho.ts";
 * const blob = buildTestKhoFdt({
 *   nrFolios: 37,
 *   foliosInfo: new KhoVmalloc({ first: 0x10203000, totalPages: 2, flags: 1, order: 0 }),
 *   csum: 0xdeadbeef,
 * }, 4096);
 * assert.equal(blob.length, 240); // the golden vector of fdt-facts §7.5
 * ```
 */
export function buildTestKhoFdt(fields: TestKhoFdtFields, bufsize: number): Uint8Array {
  const w = FdtWriter.create(bufsize);
  w.finishReservemap();
  w.beginNode("");
  w.property("compatible", cstring(KHO_TEST_COMPAT));
  w.property(KHO_TEST_MAGIC_PROP, le32(KHO_TEST_MAGIC));
  w.beginNode(KHO_TEST_DATA_NODE);
  w.property(KHO_TEST_NR_FOLIOS_PROP, le32(fields.nrFolios));
  w.property(KHO_TEST_FOLIOS_INFO_PROP, fields.foliosInfo.encode());
  w.property(KHO_TEST_CSUM_PROP, le32(fields.csum));
  w.endNode();
  w.endNode();
  return w.finish();
}

/** The sub-FDT's values, or why `kho_test_restore` rejects it (it then returns -EINVAL). */
export type TestKhoFdtParse = { ok: true; fields: TestKhoFdtFields } | {
  ok: false;
  reason: string;
};

/**
 * `kho_test_restore`'s checks of the sub-FDT: the root compatible, `magic` (4 bytes, equal to
 * `KHO_TEST_MAGIC`), then `/data` with `nr_folios` and `csum` of 4 bytes and `folios_info` of
 * 16. A malformed blob or a missing `/data` throws the reader's `FdtError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FdtReader } from "../fdt/mod.ts";
 * import { KhoVmalloc } from "./kexec_handover.ts";
 * import { buildTestKhoFdt, parseTestKhoFdt } from "./test_kho.ts";
 * const foliosInfo = new KhoVmalloc({ first: 0x10203000, totalPages: 2, flags: 1, order: 0 });
 * const blob = buildTestKhoFdt({ nrFolios: 37, foliosInfo, csum: 0xdeadbeef }, 4096);
 * const r = parseTestKhoFdt(new FdtReader(blob));
 * assert.ok(r.ok);
 * assert.equal(r.fields.nrFolios, 37);
 * assert.equal(r.fields.foliosInfo.first, 0x10203000);
 * ```
 */
export function parseTestKhoFdt(rd: FdtReader): TestKhoFdtParse {
  const bad = (reason: string): TestKhoFdtParse => ({ ok: false, reason });
  if (rd.nodeCheckCompatible(0, KHO_TEST_COMPAT) !== 0) return bad("not kho-test-v1");
  const magic = rd.getprop(0, KHO_TEST_MAGIC_PROP);
  if (magic === null || magic.length !== 4) return bad("magic missing");
  if (readLe32(magic) !== KHO_TEST_MAGIC) return bad(`magic ${hex(readLe32(magic))}`);
  const node = rd.pathOffset(`/${KHO_TEST_DATA_NODE}`);
  const nr = rd.getprop(node, KHO_TEST_NR_FOLIOS_PROP);
  if (nr === null || nr.length !== 4) return bad("nr_folios missing");
  const cs = rd.getprop(node, KHO_TEST_CSUM_PROP);
  if (cs === null || cs.length !== 4) return bad("csum missing");
  const fi = rd.getprop(node, KHO_TEST_FOLIOS_INFO_PROP);
  if (fi === null || fi.length !== KHO_VMALLOC_LAYOUT.size) return bad("folios_info missing");
  return {
    ok: true,
    fields: { nrFolios: readLe32(nr), csum: readLe32(cs), foliosInfo: KhoVmalloc.decode(fi) },
  };
}

/** A `folios_info` entry: `virt_to_phys(folio_address(folio)) | order`. */
export function encodeTestKhoFolioInfo(phys: number, order: number): number {
  return phys + order;
}

/**
 * Splits a `folios_info` entry read as u32 halves into the folio's address and order (the
 * low `PAGE_SHIFT` bits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTestKhoFolioInfo, encodeTestKhoFolioInfo } from "./test_kho.ts";
 * const v = encodeTestKhoFolioInfo(0x1_2340_0000, 9);
 * assert.deepEqual(decodeTestKhoFolioInfo(v % 2 ** 32, Math.floor(v / 2 ** 32)), {
 *   phys: 0x1_2340_0000,
 *   order: 9,
 * });
 * ```
 */
export function decodeTestKhoFolioInfo(lo: number, hi: number): { phys: number; order: number } {
  const order = lo & (PAGE_SIZE - 1);
  return { phys: hi * 2 ** 32 + (lo - order), order };
}
