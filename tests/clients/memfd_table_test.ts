import assert from "node:assert/strict";
import {
  encodeMemfdTable,
  MEMFD_NAME_MAX,
  MEMFD_TABLE_ENTRY_SIZE,
  MEMFD_TABLE_HEADER_SIZE,
  MEMFD_TABLE_LAYOUT,
  MEMFD_TABLE_MAGIC,
  memfdTableBytes,
  readMemfdTable,
} from "../../lib/clients/memfd_table.ts";
import { PhysicalMemory } from "../../lib/machine/physmem.ts";

Deno.test("kholab memfd table: header 16 B, entries 80 B (name[64], ser, compat[8])", () => {
  assert.equal(MEMFD_TABLE_HEADER_SIZE, 16);
  assert.equal(MEMFD_TABLE_ENTRY_SIZE, 80);
  assert.equal(MEMFD_TABLE_LAYOUT.compat + 8, MEMFD_TABLE_ENTRY_SIZE);
  assert.equal(MEMFD_NAME_MAX + 1, MEMFD_TABLE_LAYOUT.nameBytes);
  assert.equal(memfdTableBytes(3), 16 + 3 * 80);
  const t = encodeMemfdTable([{ name: "guest", ser: 0x1_2345_6000 }]);
  const dv = new DataView(t.buffer);
  assert.equal(dv.getBigUint64(0, true), MEMFD_TABLE_MAGIC);
  assert.equal(new TextDecoder().decode(t.subarray(0, 8)), "KHLMEMFD");
  assert.equal(dv.getUint32(12, true), 1);
  assert.equal(dv.getUint32(16 + 64, true), 0x23456000);
  assert.equal(new TextDecoder().decode(t.subarray(16 + 72, 16 + 80)), "memfd-v1");
});

Deno.test("kholab memfd table: round trip through memory; corrupt tables read as null", () => {
  const mem = new PhysicalMemory(2 ** 24);
  const entries = [{ name: "a", ser: 0x1000 }, { name: "x".repeat(63), ser: 2 ** 40 }];
  const t = encodeMemfdTable(entries);
  mem.writeBytes(0x2000, t);
  assert.deepEqual(readMemfdTable(mem, 0x2000, t.length), entries);
  assert.equal(readMemfdTable(mem, 0x2000, t.length - 1), null); // count beyond the blob
  mem.writeU8(0x2000 + 16 + 72, 0x4e); // "Nemfd-v1": not this handler's compat
  assert.equal(readMemfdTable(mem, 0x2000, t.length), null);
  mem.writeU8(0x2000, 0);
  assert.equal(readMemfdTable(mem, 0x2000, t.length), null);
});
