import assert from "node:assert/strict";
import { Rng } from "../../lib/rng.ts";
import {
  clusteredDraw,
  inScratch,
  randomPageCandidates,
  sampleClustered,
  sampleDistinct,
} from "../../lib/scenario/placement.ts";
import {
  buildScenario,
  getScenario,
  hypervisorMachine,
  LADDER_HOST_BYTES,
  ladderHypervisorParams,
  resolveParams,
  SCENARIO_NAMES,
} from "../../lib/scenario/scenarios.ts";
import { GiB, parseSize, TiB } from "../../lib/units.ts";
import type { MemfdFile } from "../../lib/clients/memfd.ts";

Deno.test("every scenario resolves its defaults; the hypervisor default is the issue's", () => {
  for (const name of SCENARIO_NAMES) {
    const spec = getScenario(name);
    const p = resolveParams(name);
    for (const ps of spec.params) assert.equal(p[ps.name], ps.default, `${name}.${ps.name}`);
  }
  const h = resolveParams("hypervisor");
  assert.equal(h.ramBytes, TiB);
  assert.equal(h.nodes, 2);
  assert.equal(h.guestBytes, 1008 * GiB);
  assert.equal(h.guestFolio, GiB, "1 GiB guest folios: hugetlbfs memfds");
  assert.equal(h.guestClient, "memfd");
  assert.equal(h.hvo, 1, "hugetlb_free_vmemmap=on (the Kconfig default is off)");
  assert.equal(h.poolBytes, 16 * GiB);
  assert.equal(h.iommuPages, 2 ** 20);
  assert.equal(h.memmapBytesPerPage, 64);
  // 1008 GiB of guests + 16 GiB pool fill the RAM; the kernel lives in the headroom, and the
  // machine adds its struct pages and the scratch that must hold the successor's.
  assert.equal((h.guestBytes as number) + (h.poolBytes as number), h.ramBytes);
  const m = hypervisorMachine(h);
  const memmap = m.machineBytes / 64;
  const [lowmem, global, pernode] = m.scratch.split(",").map((x) => parseSize(x));
  assert.deepEqual([lowmem, global], [64 * 2 ** 20, 512 * 2 ** 20]);
  assert.ok(pernode >= memmap / 2 + 256 * 2 ** 20, "a node's scratch holds its memmap");
  assert.ok(pernode < memmap / 2 + 258 * 2 ** 20);
  assert.equal(m.machineBytes % (2 * 2 ** 27), 0, "whole sections per node");
  const over = m.machineBytes - TiB - (h.headroomBytes as number);
  assert.ok(over >= memmap + lowmem + global + 2 * pernode, "memmap and scratch on top");
  assert.ok(over < memmap + lowmem + global + 2 * pernode + 256 * 2 ** 20);
  // Without struct pages charged the machine is RAM + headroom, as before.
  const bare = hypervisorMachine(resolveParams("hypervisor", { memmapBytesPerPage: 0 }));
  assert.deepEqual(bare, { machineBytes: TiB + 8 * GiB, scratch: "64M,512M,256M" });
});

Deno.test("parameters parse from text and reject unknown names and values", () => {
  const p = resolveParams("hypervisor", { ramBytes: "64G", iommuPages: "4Ki", vms: "3" });
  assert.equal(p.ramBytes, 64 * GiB);
  assert.equal(p.iommuPages, 4096);
  assert.equal(p.vms, 3);
  assert.throws(() => resolveParams("hypervisor", { nope: 1 }), /no parameter "nope"/);
  assert.throws(() => resolveParams("hypervisor", { iommuPlacement: "diagonal" }), RangeError);
  assert.throws(() => resolveParams("hypervisor", { ramBytes: "lots" }), SyntaxError);
  assert.throws(() => getScenario("nope"), RangeError);
});

Deno.test("the ladder covers 512 GiB … 32 TiB and scales the hypervisor", () => {
  assert.deepEqual(LADDER_HOST_BYTES.map((b) => b / GiB), [
    512,
    1024,
    2048,
    6144,
    12288,
    24576,
    32768,
  ]);
  const p = ladderHypervisorParams(resolveParams("ladder", { hostBytes: "32T" }));
  assert.equal(p.nodes, 8);
  assert.equal(p.poolBytes, 512 * GiB);
  assert.equal(p.guestBytes, (32768 - 512) * GiB);
  assert.deepEqual(
    [p.guestFolio, p.guestClient],
    [GiB, "folio"],
    "1 GiB folios, preserved directly",
  );
  assert.equal(p.iommuPages, 32 * 65536);
  const small = ladderHypervisorParams(resolveParams("ladder", { hostBytes: "512G" }));
  assert.equal(small.nodes, 2);
  assert.equal(small.poolBytes, 8 * GiB);
});

Deno.test("placement samplers: distinct, sorted, seeded; clusters are full", () => {
  const a = sampleDistinct(new Rng(9), 1000, 700); // complement path
  const b = sampleDistinct(new Rng(9), 1000, 700);
  assert.deepEqual(a, b);
  assert.equal(new Set(a).size, 700);
  assert.ok(a.every((x, i) => x >= 0 && x < 1000 && (i === 0 || x > a[i - 1])));
  assert.equal(sampleDistinct(new Rng(1), 10, 20).length, 10);
  const c = sampleClustered(new Rng(2), 1024, 130, 64);
  assert.equal(c.length, 130);
  const clusters = new Set([...c].map((x) => Math.floor(x / 64)));
  assert.equal(clusters.size, 3);
  assert.ok(c.every((x, i) => i === 0 || x > c[i - 1]));
});

Deno.test("builders are deterministic for a seed and create what they say", () => {
  const build = (seed: number) =>
    buildScenario("uniform", { profile: "kho-v4", params: { ramBytes: "2G", pages: 300 }, seed });
  const x = build(4), y = build(4), z = build(5);
  const pfns = (s: typeof x) => [...(s.workloads[0] as unknown as { pfns: Float64Array }).pfns];
  assert.equal(pfns(x).length, 300);
  assert.deepEqual(pfns(x), pfns(y));
  assert.notDeepEqual(pfns(x), pfns(z));
  const h = buildScenario("hypervisor", {
    profile: "kho-v4",
    params: {
      ramBytes: "4G",
      headroomBytes: "4G",
      nodes: 1,
      guestBytes: "4M",
      guestFolio: "2M",
      poolBytes: "256M",
      iommuPages: 1000,
      iommuPlacement: "clustered",
    },
  });
  assert.deepEqual(h.workloads.map((w) => w.name), ["iommu", "guests", "vmalloc", "dma"]);
  // Guests: one shmem memfd per VM (2 here, of one 2 MiB folio each), booted for LUO.
  const guests = h.workloads[1] as unknown as { files: MemfdFile[] };
  assert.deepEqual(guests.files.map((f) => [f.name, f.size, f.folios()[0].order]), [
    ["vm0", 2 * 2 ** 20, 9],
    ["vm1", 2 * 2 ** 20, 9],
  ]);
  assert.match(String(h.bootOptions.cmdline), /liveupdate=on/);
  assert.doesNotMatch(String(h.bootOptions.cmdline), /hugepages=/, "no 1 GiB guests, no pool");
  assert.deepEqual(h.kernel.modules, ["memfd_luo_init", "hugetlb_luo_init"]);
  assert.equal(h.tally.errorText(), "");
  assert.equal(h.machine.topology.ramBytes, hypervisorMachine(h.params).machineBytes);
  assert.ok(h.machine.topology.ramBytes > 9 * GiB, "8 GiB + 128 MiB of memmap + scratch");
});

Deno.test("scenarios state where they drew at random; the domain is what the draw could pick", () => {
  const h = buildScenario("hypervisor", {
    profile: "kho-v4",
    params: {
      ramBytes: "4G",
      headroomBytes: "4G",
      nodes: 1,
      guestBytes: "4M",
      guestFolio: "2M",
      poolBytes: "256M",
    },
  });
  assert.equal(h.domains.length, 1, "the pool only: guests, vmalloc and DMA are the allocator's");
  const [pool] = h.domains;
  assert.deepEqual(
    { ...pool, startBytes: 0, endBytes: pool.endBytes - pool.startBytes },
    {
      workload: "iommu",
      order: 0,
      nid: 0,
      startBytes: 0,
      endBytes: 256 * 2 ** 20,
      unitPages: 1,
      places: 65536,
      chosen: 65536, // iommuPages (1 Mi) clamped to the pool
      blocks: 65536,
      what: "the 256 MiB hypervisor pool",
    },
  );
  const hc = buildScenario("hypervisor", {
    profile: "kho-v4",
    params: {
      ramBytes: "4G",
      headroomBytes: "4G",
      nodes: 1,
      guestBytes: "4M",
      guestFolio: "2M",
      poolBytes: "256M",
      iommuPages: 1000,
      iommuPlacement: "clustered",
    },
  });
  assert.deepEqual(
    [hc.domains[0].unitPages, hc.domains[0].places, hc.domains[0].chosen, hc.domains[0].blocks],
    [64, 1024, 16, 1000],
  );
  assert.deepEqual(clusteredDraw(65536, 1000, 64), { unitPages: 64, places: 1024, chosen: 16 });
  for (const name of ["dense", "test_kho"]) {
    assert.deepEqual(buildScenario(name, { profile: "kho-v4" }).domains, [], name);
  }
  const c = buildScenario("clustered", {
    profile: "kho-v4",
    params: { ramBytes: "4G", pages: 1000, windowBytes: "64M" },
  });
  assert.deepEqual(c.domains.map((d) => [d.nid, d.chosen, d.endBytes - d.startBytes]), [
    [0, 500, 64 * 2 ** 20],
    [1, 500, 64 * 2 ** 20],
  ]);
});

Deno.test("randomPageCandidates counts exactly the pages allocRandomPages may pick", () => {
  const u = buildScenario("uniform", {
    profile: "kho-v4",
    params: { ramBytes: "512M", pages: 0 },
  });
  const k = u.kernel;
  for (const range of [{ startPfn: 0, endPfn: 131072 }, { startPfn: 1000, endPfn: 70001 }]) {
    let brute = 0;
    for (let pfn = range.startPfn; pfn < range.endPfn; pfn++) {
      const phys = pfn * 4096;
      if (k.buddy.isFree(pfn) && !inScratch(k, phys, 4096)) brute++;
    }
    assert.equal(randomPageCandidates(k, range), brute, JSON.stringify(range));
    assert.ok(brute > 0 && brute < range.endPfn - range.startPfn);
  }
  assert.equal(u.domains[0].places, randomPageCandidates(k, { startPfn: 0, endPfn: 131072 }));
});
