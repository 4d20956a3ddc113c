import assert from "node:assert/strict";
import { FdtError } from "../../../lib/errors.ts";
import { KhoVmalloc } from "../../../lib/kho/abi/kexec_handover.ts";
import {
  buildTestKhoFdt,
  decodeTestKhoFolioInfo,
  encodeTestKhoFolioInfo,
  KHO_TEST_COMPAT,
  KHO_TEST_CSUM_PROP,
  KHO_TEST_DATA_NODE,
  KHO_TEST_FDT,
  KHO_TEST_FOLIO_INFO_SIZE,
  KHO_TEST_FOLIOS_INFO_PROP,
  KHO_TEST_MAGIC,
  KHO_TEST_MAGIC_PROP,
  KHO_TEST_NR_FOLIOS_PROP,
  parseTestKhoFdt,
} from "../../../lib/kho/abi/test_kho.ts";
import { cstring, FdtReader, FdtWriter, le32 } from "../../../lib/kho/fdt/mod.ts";

const INFO = new KhoVmalloc({ first: 0x10203000, totalPages: 2, flags: 1, order: 0 });

Deno.test("kho_test names (lib/test_kho.c, fdt-facts §6.6)", () => {
  assert.equal(KHO_TEST_FDT, "kho_test");
  assert.equal(KHO_TEST_COMPAT, "kho-test-v1");
  assert.equal(KHO_TEST_MAGIC, 0x4b484f21); // "KHO!"
  assert.deepEqual(
    [
      KHO_TEST_MAGIC_PROP,
      KHO_TEST_DATA_NODE,
      KHO_TEST_NR_FOLIOS_PROP,
      KHO_TEST_FOLIOS_INFO_PROP,
      KHO_TEST_CSUM_PROP,
    ],
    ["magic", "data", "nr_folios", "folios_info", "csum"],
  );
  assert.equal(KHO_TEST_FOLIO_INFO_SIZE, 8);
});

Deno.test("kho_test sub-FDT: the golden vector (fdt-facts §7.5) parses back", () => {
  const blob = buildTestKhoFdt({ nrFolios: 37, foliosInfo: INFO, csum: 0xdeadbeef }, 4096);
  assert.equal(blob.length, 240);
  const r = parseTestKhoFdt(new FdtReader(blob));
  assert.ok(r.ok);
  assert.equal(r.fields.nrFolios, 37);
  assert.equal(r.fields.csum, 0xdeadbeef);
  assert.deepEqual(r.fields.foliosInfo, INFO);
});

/** A kho_test-like FDT with selected parts changed. */
function variant(o: {
  compat?: Uint8Array;
  magic?: Uint8Array | null;
  data?: boolean;
  nr?: Uint8Array | null;
  info?: Uint8Array | null;
}): Uint8Array {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.property("compatible", o.compat ?? cstring("kho-test-v1"));
  if (o.magic !== null) w.property("magic", o.magic ?? le32(KHO_TEST_MAGIC));
  if (o.data !== false) {
    w.beginNode("data");
    if (o.nr !== null) w.property("nr_folios", o.nr ?? le32(1));
    if (o.info !== null) w.property("folios_info", o.info ?? INFO.encode());
    w.property("csum", le32(5));
    w.endNode();
  }
  w.endNode();
  return w.finish();
}

Deno.test("kho_test sub-FDT: kho_test_restore's rejections, with their reasons", () => {
  const parse = (b: Uint8Array) => parseTestKhoFdt(new FdtReader(b));
  assert.ok(parse(variant({})).ok);
  const reason = (b: Uint8Array) => {
    const r = parse(b);
    return r.ok ? "ok" : r.reason;
  };
  assert.equal(reason(variant({ compat: cstring("kho-test-v2") })), "not kho-test-v1");
  assert.equal(reason(variant({ magic: null })), "magic missing");
  assert.equal(reason(variant({ magic: new Uint8Array(8) })), "magic missing");
  assert.equal(reason(variant({ magic: le32(0x12345678) })), "magic 0x12345678");
  assert.equal(reason(variant({ nr: null })), "nr_folios missing");
  assert.equal(reason(variant({ info: INFO.encode().subarray(0, 8) })), "folios_info missing");
  assert.throws(() => parse(variant({ data: false })), FdtError);
});

Deno.test("folios_info entries: phys | order, split back from the u32 halves", () => {
  for (const [phys, order] of [[0x1000, 0], [0x1_2340_0000, 9], [0x7f_c000_0000, 18]]) {
    const v = encodeTestKhoFolioInfo(phys, order);
    assert.equal(v % 4096, order);
    assert.deepEqual(decodeTestKhoFolioInfo(v % 2 ** 32, Math.floor(v / 2 ** 32)), {
      phys,
      order,
    });
  }
});
