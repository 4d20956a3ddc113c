/**
 * The `kho_test` sub-FDT of `lib/test_kho.c` (fdt-facts §6.6): one sequential-write FDT
 * with `compatible = "kho-test-v1\0"` (written with `fdt_property`, NUL included), `magic`
 * (u32, native order) and a child `data` holding `nr_folios` (u32), `folios_info` (the
 * 16-byte `struct kho_vmalloc` of the vmalloc'd `phys | order` array) and `csum` (u32
 * `__wsum`). Built here with the kernel's call sequence so the bytes match libfdt's.
 *
 * @module
 */

import { cstring, FdtWriter, le32 } from "../fdt/mod.ts";
import type { KhoVmalloc } from "./kexec_handover.ts";

/** `KHO_TEST_MAGIC` ("KHO!"). */
export const KHO_TEST_MAGIC = 0x4b484f21;
/** Sub-tree name (`KHO_TEST_FDT`). */
export const KHO_TEST_FDT = "kho_test";
/** `KHO_TEST_COMPAT`. */
export const KHO_TEST_COMPAT = "kho-test-v1";

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
 * import { KhoVmalloc } from "./kexec_handover.ts";
 * import { buildTestKhoFdt } from "./test_kho.ts";
 * const blob = buildTestKhoFdt({
 *   nrFolios: 37,
 *   foliosInfo: new KhoVmalloc({ first: 0x10203000, totalPages: 2, flags: 1, order: 0 }),
 *   csum: 0xdeadbeef,
 * }, 4096);
 * console.assert(blob.length === 240); // the golden vector of fdt-facts §7.5
 * ```
 */
export function buildTestKhoFdt(fields: TestKhoFdtFields, bufsize: number): Uint8Array {
  const w = FdtWriter.create(bufsize);
  w.finishReservemap();
  w.beginNode("");
  w.property("compatible", cstring(KHO_TEST_COMPAT));
  w.property("magic", le32(KHO_TEST_MAGIC));
  w.beginNode("data");
  w.property("nr_folios", le32(fields.nrFolios));
  w.property("folios_info", fields.foliosInfo.encode());
  w.property("csum", le32(fields.csum));
  w.endNode();
  w.endNode();
  return w.finish();
}
