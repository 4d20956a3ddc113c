/**
 * Scratch sizing (lib/kho/scratch.ts; kho-facts §9.2): 200 % of the kernel's memblock
 * reservations, and with the boot-time huge page series' later revision the HugeTLB boot pages
 * left out (`memblock_reserved_hugetlb_size`, luo-hugetlb-facts §5.1).
 */
import assert from "node:assert/strict";
import { Topology } from "../../lib/machine/topology.ts";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { FaultInjector } from "../../lib/kernel/faults.ts";
import { Memblock } from "../../lib/kernel/memblock.ts";
import { planScratch, reserveScratch } from "../../lib/kho/scratch.ts";
import { GiB, MiB } from "../../lib/units.ts";

function make(nodes = 2) {
  const topology = new Topology({ ramBytes: 32 * GiB, nodes });
  const log = new KernelLog();
  const mb = new Memblock({ topology, log, faults: new FaultInjector() });
  mb.addTopologyRam();
  return { topology, log, mb };
}

Deno.test("scratch sizing without HugeTLB memory: kern − hugetlb, per node too; the areas follow", () => {
  const { topology, log, mb } = make();
  mb.allocRange({ size: 96 * MiB, align: MiB, nid: 0 }); // kernel memory on node 0
  mb.allocRange({ size: 32 * MiB, align: MiB, nid: 1 }); // and on node 1
  for (const nid of [0, 1]) { // two 1 GiB HugeTLB boot pages per node
    for (let i = 0; i < 2; i++) mb.allocNidUser({ size: GiB, align: GiB, nid, exactNid: true });
  }
  assert.equal(mb.reservedHugetlbSize(Number.MAX_SAFE_INTEGER, -1), 4 * GiB);
  assert.equal(mb.reservedHugetlbSize(Number.MAX_SAFE_INTEGER, 1), 2 * GiB);
  const all = planScratch({ scale: 200 }, mb, topology);
  const lean = planScratch({ scale: 200 }, mb, topology, "memory", { excludeHugetlb: true });
  assert.equal(all.lowmem + all.global, 2 * (4 * GiB + 128 * MiB));
  assert.equal(lean.lowmem + lean.global, 256 * MiB);
  assert.deepEqual(lean.pernode, [{ nid: 0, size: 192 * MiB }, { nid: 1, size: 64 * MiB }]);
  assert.deepEqual(all.pernode.map((p) => p.size), [
    2 * (2 * GiB + 96 * MiB),
    2 * (2 * GiB + 32 * MiB),
  ]);
  const r = reserveScratch({
    memblock: mb,
    topology,
    log,
    sizing: { scale: 200 },
    excludeHugetlb: true,
  })!;
  assert.deepEqual(r.areas.map((a) => a.size), [lean.lowmem, lean.global, 192 * MiB, 64 * MiB]);
});

Deno.test("explicit kho_scratch= sizes ignore the rule", () => {
  const { topology, mb } = make(1);
  mb.allocNidUser({ size: GiB, align: GiB });
  const sizing = { scale: 0 as const, lowmem: 16 * MiB, global: 64 * MiB, pernode: 32 * MiB };
  assert.deepEqual(
    planScratch(sizing, mb, topology, "memory", { excludeHugetlb: true }),
    planScratch(sizing, mb, topology),
  );
});
