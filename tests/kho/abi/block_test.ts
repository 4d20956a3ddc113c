import assert from "node:assert/strict";
import {
  blockEntryPhys,
  countPerBlock,
  KHO_BLOCK_HEADER_LAYOUT,
  KHO_MAX_BLOCKS,
  readBlockHeader,
  u64Decimal,
  writeBlockCount,
  writeBlockNext,
} from "../../../lib/kho/abi/block.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";

Deno.test("block ABI: the capacities of luo-hugetlb-facts §1.4", () => {
  // entry size → per block, slack bytes, max entries in 10000 blocks
  const table: [number, number, number, number][] = [
    [80, 51, 0, 510_000],
    [64, 63, 48, 630_000],
    [32, 127, 16, 1_270_000],
  ];
  for (const [size, per, slack, max] of table) {
    assert.equal(countPerBlock(size), per);
    assert.equal(4096 - 16 - per * size, slack);
    assert.equal(per * KHO_MAX_BLOCKS, max);
  }
  assert.equal(countPerBlock(4080), 1);
  assert.equal(countPerBlock(4081), 0);
  assert.throws(() => countPerBlock(0), RangeError);
});

Deno.test("block ABI: header {next, count} little-endian at byte 0, entries from byte 16", () => {
  const mem = new PhysicalMemory(1 << 20);
  writeBlockNext(mem, 0x3000, 0x1_2345_6000);
  writeBlockCount(mem, 0x3000, 51);
  assert.deepEqual(
    [...mem.readBytes(0x3000, 16)],
    [0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0, 51, 0, 0, 0, 0, 0, 0, 0],
  );
  assert.deepEqual(KHO_BLOCK_HEADER_LAYOUT, { next: 0, count: 8, size: 16 });
  assert.equal(blockEntryPhys(0x3000, 80, 50), 0x3000 + 16 + 4000);
  mem.writeBytes(0x3008, new Uint8Array([5, 0, 0, 0, 1, 0, 0, 0]));
  const h = readBlockHeader(mem, 0x3000);
  assert.deepEqual(h, { next: 0x1_2345_6000, countLo: 5, countHi: 1 });
  assert.equal(u64Decimal(h.countLo, h.countHi), "4294967301");
});
