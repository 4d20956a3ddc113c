import assert from "node:assert/strict";
import { radixBytesByOrder, radixOccupancy } from "../../lib/plot/radix_occupancy.ts";
import { buildScenario } from "../../lib/scenario/scenarios.ts";
import { PhysicalMemory } from "../../lib/machine/physmem.ts";

Deno.test("radix occupancy read from bytes agrees with the live tree", () => {
  const inst = buildScenario("uniform", {
    profile: "kho-v4",
    params: { ramBytes: "2G", pages: 300 },
    seed: 3,
  });
  const k1 = inst.kernel;
  for (const w of inst.workloads) w.preserve(k1, inst.tally);
  const t = k1.kho.out!.tracker;
  let blocks = 0;
  t.walk(() => (blocks++, 0));
  const occ = radixOccupancy(inst.machine.mem, t.handoverRoot());
  assert.equal(occ.pages, t.metadataPages());
  assert.deepEqual(occ.levels.map((l) => l.level), ["L5", "L4", "L3", "L2", "L1", "leaf"]);
  const leaf = occ.levels[5];
  assert.equal(leaf.used, blocks);
  assert.equal(leaf.slots, leaf.nodes * 32768);
  // every table's used entries are the next level's pages
  for (let i = 0; i < 5; i++) assert.equal(occ.levels[i].used, occ.levels[i + 1].nodes);
  assert.equal(occ.pagesByOrder.reduce((s, p) => s + p.pages, 0), occ.pages);
  assert.ok(occ.pagesByOrder.some((p) => p.order === 0 && p.pages >= leaf.nodes));
  const bytes = radixBytesByOrder(occ, "kho-v4");
  assert.equal(bytes.reduce((s, b) => s + b.value, 0), occ.pages * 4096);
});

Deno.test("radix occupancy: hand-made tree, order attribution and shared nodes", () => {
  const mem = new PhysicalMemory(2 ** 24);
  // root 0x1000 -> L4 0x2000 (entry 0) -> L3 0x3000 -> L2 0x4000 -> L1 0x5000 -> leaf 0x6000
  const chain = [0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000];
  for (let i = 0; i < 4; i++) mem.writeU64(chain[i], chain[i + 1]);
  // L1 entry 1: keys 2^15.. (order 37) in leaf 0x6000
  mem.writeU64(0x5000 + 8, 0x6000);
  mem.writeU64(0x6000, 0b1011);
  const occ = radixOccupancy(mem, 0x1000);
  assert.deepEqual(occ.levels.map((l) => [l.nodes, l.used]), [
    [1, 1],
    [1, 1],
    [1, 1],
    [1, 1],
    [1, 1],
    [1, 3],
  ]);
  assert.deepEqual(occ.pagesByOrder, [{ order: 37, pages: 1 }, { order: "shared", pages: 5 }]);
});
