import assert from "node:assert/strict";
import { FdtError } from "../../../lib/errors.ts";
import {
  buildMemblockFdt,
  MEMBLOCK_KHO_FDT,
  MEMBLOCK_KHO_NODE_COMPATIBLE,
  parseMemblockFdt,
  readMemblockRegion,
  RESERVE_MEM_KHO_NODE_COMPATIBLE,
  RESERVE_MEM_KHO_SIZE_PROP,
  RESERVE_MEM_KHO_START_PROP,
} from "../../../lib/kho/abi/memblock.ts";
import { FdtReader, FdtWriter, le32, le64 } from "../../../lib/kho/fdt/mod.ts";

const GOLDEN = [
  { name: "n1", start: 0x46bc00000, size: 0x4000000 },
  { name: "n2", start: 0x467c00000, size: 0x4000000 },
];

Deno.test("memblock ABI names (include/linux/kho/abi/memblock.h, kho-facts §8.3)", () => {
  assert.equal(MEMBLOCK_KHO_FDT, "memblock");
  assert.equal(MEMBLOCK_KHO_NODE_COMPATIBLE, "memblock-v1");
  assert.equal(RESERVE_MEM_KHO_NODE_COMPATIBLE, "reserve-mem-v1");
  assert.deepEqual([RESERVE_MEM_KHO_START_PROP, RESERVE_MEM_KHO_SIZE_PROP], ["start", "size"]);
});

Deno.test("memblock sub-FDT: the golden vector (fdt-facts §7.4) parses back", () => {
  const blob = buildMemblockFdt(GOLDEN);
  assert.equal(blob.length, 286);
  assert.deepEqual(parseMemblockFdt(blob), GOLDEN);
  // start = 0x46bc00000 as native (little-endian) u64 bytes, not device-tree cells
  const rd = new FdtReader(blob);
  const start = rd.getprop(rd.subnodeOffset(0, "n1"), "start")!;
  assert.deepEqual([...start], [0x00, 0x00, 0xc0, 0x6b, 0x04, 0, 0, 0]);
  assert.deepEqual(readMemblockRegion(rd, "n2"), GOLDEN[1]);
});

/** A memblock-like FDT with the given root compat and one child `r`. */
function blobWith(
  rootCompat: string,
  child: { compat: string; start: Uint8Array; size: Uint8Array | null },
): Uint8Array {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", rootCompat);
  w.beginNode("r");
  w.propertyString("compatible", child.compat);
  w.property("start", child.start);
  if (child.size !== null) w.property("size", child.size);
  w.endNode();
  w.beginNode("other");
  w.propertyString("compatible", "something-else");
  w.endNode();
  w.endNode();
  return w.finish();
}

Deno.test("memblock sub-FDT: what reserve_mem_kho_revive rejects", () => {
  const good = { compat: "reserve-mem-v1", start: le64(0x1000000), size: le64(0x200000) };
  const rd = (b: Uint8Array) => new FdtReader(b);
  assert.deepEqual(readMemblockRegion(rd(blobWith("memblock-v1", good)), "r"), {
    name: "r",
    start: 0x1000000,
    size: 0x200000,
  });
  assert.equal(readMemblockRegion(rd(blobWith("memblock-v2", good)), "r"), null);
  assert.equal(
    readMemblockRegion(rd(blobWith("memblock-v1", { ...good, compat: "x" })), "r"),
    null,
  );
  const shortStart = { ...good, start: le32(0x1000000) };
  assert.equal(readMemblockRegion(rd(blobWith("memblock-v1", shortStart)), "r"), null);
  assert.equal(readMemblockRegion(rd(blobWith("memblock-v1", { ...good, size: null })), "r"), null);
  assert.throws(() => readMemblockRegion(rd(blobWith("memblock-v1", good)), "nope"), FdtError);
  // the whole-blob parse keeps the accepted children only, and refuses a foreign root
  assert.deepEqual(parseMemblockFdt(blobWith("memblock-v1", good))?.map((r) => r.name), ["r"]);
  assert.equal(parseMemblockFdt(blobWith("memblock-v2", good)), null);
});
