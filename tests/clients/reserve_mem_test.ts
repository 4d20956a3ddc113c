import assert from "node:assert/strict";
import type { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { buildMemblockFdt, MEMBLOCK_KHO_FDT } from "../../lib/kho/abi/memblock.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import {
  RESERVE_MEM_FDT_SITE,
  reservedMem,
  reserveMemInit,
  reserveMemPrepareKho,
  reserveMemUnprepareKho,
} from "../../lib/clients/reserve_mem.ts";
import { oracleBlobs } from "../support/fdt_oracle.ts";
import { requireTool } from "../support/system_tools.ts";

const CMDLINE = "kho=on reserve_mem=64M:4K:trace reserve_mem=3M:2M:oops reserve_mem=100K:4K:tiny";

function boot(cmdline = CMDLINE): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 2 }), { cmdline });
}

function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out.sort();
}

function subFdt(k: Kernel): Uint8Array {
  const t = k.kho.out!.subtrees().find((s) => s.name === MEMBLOCK_KHO_FDT)!;
  return k.machine.mem.readBytes(t.phys, t.size);
}

Deno.test("reserve_mem: fresh regions are aligned, disjoint, allocated, and published", () => {
  const k = boot();
  const r = reserveMemInit(k);
  assert.deepEqual(r.failed, []);
  assert.equal(r.khoError, undefined);
  assert.deepEqual(r.regions.map((x) => [x.name, x.size, x.revived]), [
    ["trace", 64 * MiB, false],
    ["oops", 3 * MiB, false],
    ["tiny", 100 * 1024, false],
  ]);
  assert.equal(r.regions[1].start % (2 * MiB), 0);
  const spans = r.regions.map((x) => [x.start, x.start + x.size]).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i - 1][1] <= spans[i][0]);
  for (const x of r.regions) {
    assert.ok(!k.buddy.isFree(x.start / PAGE_SIZE));
    assert.ok(!k.buddy.isFree((x.start + x.size - 1) / PAGE_SIZE | 0));
  }
  assert.deepEqual(subFdt(k), buildMemblockFdt(r.regions));
  // Each region is preserved as size >> PAGE_SHIFT pages (100K → 25 pages).
  const set = preservedSet(k);
  assert.ok(set.includes(`${r.regions[0].start}/14`), "64 MiB aligned to 4 MiB+ is one block");
  assert.deepEqual(reservedMem(k), r.regions);
});

Deno.test("reserve_mem: regions are revived with their content across 3 chained kexecs", () => {
  let k = boot();
  const first = reserveMemInit(k).regions;
  const mem = k.machine.mem;
  first.forEach((r, i) => mem.fill(r.start, r.size, { pattern: 100 + i }));
  const hashes = first.map((r) => mem.hash64(r.start, r.size));
  for (let step = 1; step <= 3; step++) {
    k = k.kexec();
    const now = reserveMemInit(k).regions;
    assert.deepEqual(
      now.map((r) => [r.name, r.start, r.size, r.revived]),
      first.map((r) => [r.name, r.start, r.size, true]),
      `step ${step}`,
    );
    assert.deepEqual(now.map((r) => mem.hash64(r.start, r.size)), hashes, `step ${step}`);
    assert.equal(k.log.grep("Revived memory reservation").length, 3);
    for (const r of now) assert.ok(k.memblock.isRegionReserved(r.start, r.size));
  }
});

Deno.test("reserve_mem: a different size, a stricter alignment or a new name allocates afresh", () => {
  const k1 = boot();
  const [trace, oops] = reserveMemInit(k1).regions;
  k1.machine.mem.fill(trace.start, trace.size, { byte: 0x77 });
  const alignOops = oops.start % (1 << 30) === 0 ? "2G" : "1G";
  const k2 = k1.kexec({
    cmdline:
      `kho=on reserve_mem=32M:4K:trace reserve_mem=3M:${alignOops}:oops reserve_mem=1M:4K:new`,
  });
  const now = reserveMemInit(k2).regions;
  assert.deepEqual(now.map((r) => r.revived), [false, false, false]);
  assert.equal(k2.log.grep("has wrong size").length, 1);
  assert.equal(k2.log.grep("has wrong alignment").length, 1);
  assert.notEqual(now[0].start, trace.start);
  // The old range was still preserved, so it stays reserved (nobody restores it).
  assert.ok(k2.memblock.isRegionReserved(trace.start, trace.size));
});

Deno.test("reserve_mem: kho=off allocates but publishes nothing; no regions, no sub-tree", () => {
  const off = boot("kho=off reserve_mem=8M:4K:a");
  const r = reserveMemInit(off);
  assert.equal(r.regions.length, 1);
  assert.equal(off.kho.out, null);
  const none = boot("kho=on");
  assert.equal(reserveMemInit(none).regions.length, 0);
  assert.ok(!none.kho.out!.subtrees().some((s) => s.name === MEMBLOCK_KHO_FDT));
});

Deno.test("reserve_mem: the sub-FDT is byte-identical to fdt_oracle.py memblock", async () => {
  const kernels = [
    boot(),
    boot("reserve_mem=4K:4K:a"),
    boot("reserve_mem=1G:1G:huge reserve_mem=12K:4K:b reserve_mem=5M:1M:c-with-a-longer-name"),
  ];
  const regionSets = kernels.map((k) => reserveMemInit(k).regions);
  const golden = [
    { name: "n1", start: 0x46bc00000, size: 0x4000000 },
    { name: "n2", start: 0x467c00000, size: 0x4000000 },
  ];
  assert.equal(buildMemblockFdt(golden).length, 286);
  if (!requireTool("libfdt", "oracle")) return;
  const want = await oracleBlobs([
    ...regionSets.map((rs) => ({
      memblock_sub: {
        regions: rs.map((r) => [r.name, r.start, r.size] as [string, number, number]),
      },
    })),
    {
      memblock_sub: {
        regions: golden.map((r) => [r.name, r.start, r.size] as [string, number, number]),
      },
    },
  ]);
  kernels.forEach((k, i) => assert.deepEqual(subFdt(k), want[i], `kernel ${i}`));
  assert.deepEqual(buildMemblockFdt(golden), want[kernels.length]);
});

Deno.test("reserve_mem: fault injection at every allocation point of prepare_kho_fdt", () => {
  let points = 0;
  const sites = new Set<string>();
  for (let nth = 1;; nth++) {
    const k = boot();
    const set = preservedSet(k);
    const fdt = k.kho.out!.root.bytes();
    const owned = k.kho.out!.tracker.ownedPagesPhys();
    const free = k.buddy.nrFreePages();
    const calls = new Map(k.faults.sites);
    k.faults.arm({ nth, sites: [RESERVE_MEM_FDT_SITE, "kho_radix_node"] });
    const r = reserveMemInit(k);
    k.faults.disarm();
    const regionPages = r.regions.reduce((a, x) => a + Math.ceil(x.size / PAGE_SIZE), 0);
    assert.equal(r.regions.length, 3);
    if (r.khoError === undefined) {
      assert.ok(reserveMemInit(k.kexec()).regions.every((x) => x.revived));
      break;
    }
    points++;
    for (const [site, c] of k.faults.sites) if (c !== calls.get(site)) sites.add(site);
    assert.equal(r.khoError, "ENOMEM", `nth=${nth}`);
    assert.equal(k.log.grep("failed to prepare memblock FDT for KHO").length, 1);
    assert.deepEqual(preservedSet(k), set, `nth=${nth}`);
    assert.deepEqual(k.kho.out!.root.bytes(), fdt, `nth=${nth}`);
    const kept = k.kho.out!.tracker.ownedPagesPhys().filter((p) => !owned.includes(p));
    assert.equal(free - k.buddy.nrFreePages(), regionPages + kept.length, `nth=${nth}: leak`);
    // Without a published sub-tree the successor allocates afresh.
    assert.ok(reserveMemInit(k.kexec()).regions.every((x) => !x.revived));
  }
  assert.ok(sites.has(RESERVE_MEM_FDT_SITE) && sites.has("kho_radix_node"), [...sites].join());
  assert.ok(points >= 3, `${points} points`);
});

Deno.test("reserve_mem: prepare and unprepare are inverse; preparing twice is EBUSY", () => {
  const k = boot();
  const set = preservedSet(k);
  reserveMemInit(k);
  assert.throws(() => reserveMemPrepareKho(k), (e: KhoError) => e.code === "EBUSY");
  reserveMemUnprepareKho(k);
  assert.deepEqual(preservedSet(k), set);
  reserveMemPrepareKho(k);
  assert.ok(reserveMemInit(k.kexec()).regions.every((x) => x.revived));
});
