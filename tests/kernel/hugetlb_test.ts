/**
 * HugeTLB pools (lib/kernel/hugetlb.ts): the boot parameters in order, gigantic pages from
 * memblock at boot and where they cannot come from, 2 MiB pools from the buddy allocator, HVO,
 * hugetlb CMA, and "kho: disable scratch-only earlier in boot" reproduced (luo-hugetlb-facts
 * §4.2: 6 × 1 GiB asked on a 7 GiB machine → 4 on a normal boot, 0 on a KHO boot before the
 * patch, 4 after).
 */

import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { parseHugetlbParams, stringGetSize } from "../../lib/kernel/hugetlb.ts";
import { MIGRATE_CMA } from "../../lib/kernel/gfp.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";

Deno.test("hugepagesz= names the hstate the next hugepages= sizes; the default hstate otherwise", () => {
  const p = parseHugetlbParams("hugepages=3 default_hugepagesz=1G hugetlb_free_vmemmap=on");
  // hugepages=3 before any hugepagesz= goes to the default hstate (default_hugepagesz=1G).
  assert.deepEqual(p.defaultOrder, 18);
  assert.deepEqual(p.sizes.map((s) => [s.order, s.pages]), [[18, 3]]);
  assert.equal(p.hvo, true);
  const q = parseHugetlbParams("hugepagesz=1G hugepages=0:2,1:5 hugepagesz=2M hugepages=8");
  assert.deepEqual(q.sizes.map((s) => [s.order, s.pages]), [[18, 7], [9, 8]]);
  assert.deepEqual([...q.sizes[0].perNode!], [[0, 2], [1, 5]]);
  assert.equal(q.defaultOrder, 9);
  const bad = parseHugetlbParams(
    "hugepagesz=4M hugepages=2 hugepagesz=1G hugepagesz=1G hugepages=x hugetlb_free_vmemmap=maybe",
  );
  assert.deepEqual(bad.errors, [
    "HugeTLB: unsupported hugepagesz=4M",
    "HugeTLB: hugepages=2 does not follow a valid hugepagesz, ignoring",
    "HugeTLB: hugepagesz=1G specified twice, ignoring",
    "HugeTLB: Invalid hugepages parameter x",
    "hugetlb_free_vmemmap=maybe: not a boolean",
  ]);
  assert.equal(parseHugetlbParams("").hvo, false, "HVO off by default (Kconfig default n)");
  assert.equal(stringGetSize(2 * 2 ** 20), "2.00 MiB");
});

Deno.test("gigantic pages come from memblock at boot, node by node; 2 MiB pages from the buddy allocator at hugetlb_init", () => {
  const m = new Machine({ ramBytes: 16 * GiB, nodes: 2 });
  const k = Kernel.coldBoot(m, {
    cmdline: "kho_scratch=64M,256M,256M hugepagesz=1G hugepages=6 hugepagesz=2M hugepages=10",
  });
  const g = k.hugetlb.hstate(18)!;
  const s = k.hugetlb.hstate(9)!;
  assert.deepEqual(g.nrHugePagesNode, [3, 3], "round robin over the nodes");
  assert.deepEqual(s.nrHugePagesNode, [5, 5]);
  assert.equal(k.hugetlb.defaultHstate, s);
  // Pool pages are held by the pool: memblock keeps the gigantic ones reserved, and none is free
  // in the buddy allocator.
  const heads: number[] = [];
  for (let nid = 0; nid < 2; nid++) {
    for (let i = 0; i < 3; i++) heads.push(k.hugetlb.allocFolio(18, nid)!);
  }
  for (const pfn of heads) {
    assert.equal(pfn % 2 ** 18, 0, "1 GiB aligned");
    assert.ok(k.memblock.isReserved(pfn * PAGE_SIZE));
    assert.equal(k.buddy.isFree(pfn), false);
    assert.equal(k.memmap.compoundOrder(pfn), 18);
  }
  assert.equal(k.hugetlb.allocFolio(18), null, "no surplus pages");
  k.hugetlb.freeFolio(heads[0], 18);
  assert.equal(g.freeHugePages, 1);
  // Per-node requests are exact; what a node cannot give is reported.
  const k2 = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 2 }), {
    cmdline: "kho_scratch=64M,256M,256M hugepagesz=1G hugepages=0:9,1:2",
  });
  assert.deepEqual(k2.hugetlb.hstate(18)!.nrHugePagesNode, [6, 2]);
  assert.match(
    k2.log.text(),
    /HugeTLB: allocating 9 of page size 1.00 GiB failed node0. {2}Only allocated 6 hugepages./,
  );
});

Deno.test("kho: disable scratch-only earlier in boot — 6 × 1 GiB on a 7 GiB machine: 4 on a normal boot, 0 on a KHO boot before the patch, 4 after", () => {
  // A 7 GiB machine of two nodes (3.5 GiB each). A normal boot gets 4 of 6: [0, 1 GiB) holds the
  // kernel and the low reservations, [3, 4 GiB) straddles the node boundary (memblock hands out
  // a range of one node only) and holds node 0's memmap, [6, 7 GiB) node 1's memmap.
  const got: Record<string, [number, number]> = {};
  for (const profile of ["kho-v4", "rfc-2025-12-hugetlb"] as const) {
    const k1 = Kernel.coldBoot(new Machine({ ramBytes: 7 * GiB, nodes: 2 }), {
      profile,
      cmdline: "kho=on kho_scratch=64M,256M,256M hugepagesz=1G hugepages=6",
    });
    const k2 = k1.kexec();
    assert.ok(k2.kho.isKhoBoot);
    got[profile] = [k1.hugetlb.hstate(18)!.nrHugePages, k2.hugetlb.hstate(18)!.nrHugePages];
    assert.match(
      k2.log.text(),
      new RegExp(
        `allocating 6 of page size 1.00 GiB failed.  Only allocated ${got[profile][1]} hugepages`,
      ),
    );
  }
  // Before the patch the KHO boot allocates while memblock is scratch-only: scratch areas of
  // 64 MiB to 256 MiB hold no 1 GiB page. With it, kho_memory_init (the tracker walk) runs
  // first and scratch-only ends: the same 4 pages as a normal boot.
  assert.deepEqual(got, { "kho-v4": [4, 0], "rfc-2025-12-hugetlb": [4, 4] });
});

Deno.test("gigantic pages are RSRV_KERN: the default scratch scale (200 % of them) cannot be reserved and KHO is disabled", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    cmdline: "kho=on hugepagesz=1G hugepages=4",
  });
  assert.equal(k.kho.enabled, false);
  assert.match(k.log.text(), /Failed to reserve scratch area .*disabling kexec handover/);
  const sized = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    cmdline: "kho=on kho_scratch=64M,256M,256M hugepagesz=1G hugepages=4",
  });
  assert.equal(sized.kho.enabled, true);
});

Deno.test("HVO: each pool folio keeps one vmemmap page; the others go to the buddy allocator, or are only counted when the memmap is not charged", () => {
  const cmd = "kho_scratch=64M,256M,256M hugepagesz=1G hugepages=3 hugepagesz=2M hugepages=4";
  const off = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), { cmdline: cmd });
  const on = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    cmdline: `${cmd} hugetlb_free_vmemmap=on`,
  });
  const v = on.memmap.vmemmap;
  assert.equal(off.memmap.vmemmap.hvoFreedBytes, 0);
  assert.equal(v.hvoFolios, 7);
  assert.equal(v.hvoFreedBytes, (3 * 4095 + 4 * 7) * PAGE_SIZE);
  assert.equal(v.populatedBytes, 8 * GiB / 64, "64 bytes of struct page per 4 KiB page");
  assert.equal(v.mappedBytes, v.populatedBytes - v.hvoFreedBytes);
  // The freed vmemmap pages are free memory (2 MiB pages come from the buddy allocator, so the
  // difference is the freed vmemmap alone).
  assert.equal(on.buddy.nrFreePages() - off.buddy.nrFreePages(), 3 * 4095 + 4 * 7);
  assert.match(on.log.text(), /HugeTLB: 16380 KiB vmemmap can be freed for a 1.00 GiB page/);
  assert.match(on.log.text(), /HugeTLB: 28 KiB vmemmap can be freed for a 2.00 MiB page/);
  // Not charged to memblock: the bytes are counted, nothing is freed.
  const bare = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    cmdline: `${cmd} hugetlb_free_vmemmap=on`,
    memmapBytesPerPage: 0,
  });
  assert.equal(bare.memmap.vmemmap.hvoFreedBytes, v.hvoFreedBytes);
  // A struct page that is not a power of two cannot be optimized.
  const odd = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    cmdline: `${cmd} hugetlb_free_vmemmap=on`,
    memmapBytesPerPage: 56,
  });
  assert.equal(odd.hugetlb.hvo, false);
  assert.match(odd.log.text(), /struct page" crosses page boundaries/);
});

Deno.test("hugetlb_cma= reserves CMA per node; a growing pool takes gigantic pages from it first", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 2 }), {
    cmdline: "kho_scratch=64M,256M,256M hugepagesz=1G hugepages=0 hugetlb_cma=4G",
  });
  assert.deepEqual(k.hugetlb.cmaAreas.map((a) => [a.nid, a.size]), [[0, 2 * GiB], [1, 2 * GiB]]);
  const a = k.hugetlb.cmaAreas[0];
  assert.equal(k.buddy.getPageblockMigratetype(a.base / PAGE_SIZE), MIGRATE_CMA);
  assert.equal(k.hugetlb.growPool(18, 3), 3);
  const h = k.hugetlb.hstate(18)!;
  const pfns = [h.dequeue(0, false)!, h.dequeue(0, false)!, h.dequeue(0, false)!];
  const inCma = pfns.filter((p) =>
    k.hugetlb.cmaAreas.some((c) => p * PAGE_SIZE >= c.base && p * PAGE_SIZE < c.base + c.size)
  );
  assert.equal(inCma.length, 3);
});
