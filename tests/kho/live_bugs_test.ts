/**
 * The live bugs of the newest KHO code (luo-hugetlb-facts §6), each shown in kho-v4 (the
 * kernel as released) and absent in kho-v4+fixes (the posted, mm-tree and kholab fixes).
 */
import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { allocContigRange } from "../../lib/kernel/gigantic.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import { getProfile, KHO_FIXES, PROFILES, withFixes } from "../../lib/kho/profiles.ts";
import { KHO_PAGE_MAGIC } from "../../lib/kho/restore.ts";
import { preserveVmalloc, VMALLOC_CHUNK_SITE } from "../../lib/kho/vmalloc.ts";
import type { KhoError } from "../../lib/errors.ts";

const VARIANTS = ["kho-v4", "kho-v4+fixes"] as const;

Deno.test("kho-v4+fixes: the base's compat and ABI, every fix named with its source, no live bug left", () => {
  const base = PROFILES["kho-v4"], fixed = PROFILES["kho-v4+fixes"];
  assert.equal(fixed.base, "kho-v4");
  assert.equal(base.base, null);
  assert.deepEqual(base.fixes, []);
  // A fix does not change what crosses kexec.
  for (
    const k of ["compat", "memoryMapProp", "subtreeProp", "blobSize", "tracker", "luo"] as const
  ) {
    assert.deepEqual(fixed[k], base[k], k);
  }
  assert.deepEqual(fixed.bugs, []);
  assert.deepEqual(
    [...base.bugs].sort(),
    [
      "int-size-overflow",
      "kdump-kho-active",
      "luo-dup-session-empty-block",
      "memfd-acct-one-block",
      "memfd-retrieve-lost-errno",
      "numa-restore-mismatch",
      "numa-unpreserve-mismatch",
      "subtree-setprop-leak",
      "vmalloc-unwind-unset-order",
    ],
  );
  for (const f of fixed.fixes) {
    assert.ok(f.source.length > 0 && f.summary.length > 0, f.name);
    if (f.status === "kholab") assert.match(f.source, /kholab's fix/, f.name);
  }
  assert.match(KHO_FIXES["kho-unpreserve-numa-order"].source, /20260519133332\.2498092-1-pratyush/);
  assert.match(KHO_FIXES["kho-add-subtree-cleanup"].source, /65660710/);
  assert.equal(fixed.deferredStructPageInit, true);
  // kho-v3 runs the same KHO core (S-7.1c): the same KHO bugs, without 7.2's LUO one.
  assert.deepEqual(
    [...getProfile("kho-v3").bugs].sort(),
    base.bugs.filter((b) => b !== "luo-dup-session-empty-block").sort(),
  );
  // A fix of a bug the base does not carry is refused.
  assert.throws(
    () => withFixes(getProfile("kho-v2"), "x", [KHO_FIXES["kho-restore-numa-order"]]),
    /kho-v2 does not carry/,
  );
});

/** 8 GiB: node 1 is [1.5, 3) GiB, node 0 the rest; [1, 2) GiB is free and crosses 1.5 GiB. */
function numaMachine(): Machine {
  const G = GiB;
  return new Machine({
    ramBytes: 8 * G,
    nodes: 2,
    ranges: [
      { start: 0, end: 1.5 * G, nid: 0 },
      { start: 1.5 * G, end: 3 * G, nid: 1 },
      { start: 3 * G, end: 8 * G, nid: 0 },
    ],
  });
}

Deno.test("live bug numa-restore-mismatch (kho_restore_pages, luo-hugetlb-facts §6.1): kho-v4 restores the first block and returns success; kho-v4+fixes restores both", () => {
  // [0x40000, 0x80000) with a node boundary at 0x60000: kho_preserve_pages cuts it into two
  // order-17 blocks; kho_restore_pages computes order 18 at 0x40000, kho_restore_page
  // initialises the 2^17 pages its stamp says, and the loop advances by 2^18.
  for (const profile of VARIANTS) {
    const k1 = Kernel.coldBoot(numaMachine(), { profile });
    assert.equal(k1.machine.topology.nidOfPfn(0x5ffff), 0);
    assert.equal(k1.machine.topology.nidOfPfn(0x60000), 1);
    assert.ok(allocContigRange(k1.buddy, 0x40000, 0x80000));
    k1.machine.mem.fill(0x40000 * PAGE_SIZE, GiB, { pattern: 0x5a });
    k1.kho.preservePages(0x40000, 0x40000);
    assert.ok(k1.kho.out!.isPreserved(0x40000, 17) && k1.kho.out!.isPreserved(0x60000, 17));
    const k2 = k1.kexec();
    const managed = k2.kho.incoming!.managedPages;
    assert.equal(k2.kho.restorePages(0x40000 * PAGE_SIZE, 0x40000), 0x40000, profile);
    const [lo, hi] = k2.memmap.getPrivateParts(0x60000);
    if (profile === "kho-v4") {
      assert.equal(k2.kho.incoming!.managedPages - managed, 2 ** 17);
      assert.deepEqual([lo, hi], [17, KHO_PAGE_MAGIC], "the second block is still stamped");
      assert.equal(k2.memmap.pageCount(0x60000), 0);
      assert.equal(k2.memmap.pageCount(0x5ffff), 1);
    } else {
      assert.equal(k2.kho.incoming!.managedPages - managed, 2 ** 18);
      assert.deepEqual([lo, hi], [0, 0]);
      assert.equal(k2.memmap.pageCount(0x60000), 1);
    }
  }
});

Deno.test("live bug numa-unpreserve-mismatch (__kho_unpreserve, kho-facts §5.1): kho-v4 deletes the wrong blocks; the 2026-05-19 fix deletes what preserve added", () => {
  for (const profile of VARIANTS) {
    const k = Kernel.coldBoot(numaMachine(), { profile });
    assert.ok(allocContigRange(k.buddy, 0x40000, 0x80000));
    k.kho.preservePages(0x40000, 0x40000);
    k.kho.unpreservePages(0x40000, 0x40000);
    const left = k.kho.out!.isPreserved(0x40000, 17) && k.kho.out!.isPreserved(0x60000, 17);
    assert.equal(left, profile === "kho-v4", profile);
    // kho_radix_del_page finds no (0x40000, 18) key: a WARN on kho-v4 only.
    assert.equal(k.log.warnings("kho_radix_del_page").length > 0, profile === "kho-v4");
  }
});

Deno.test("live bug int-size-overflow (kho_preserved_memory_reserve, luo-hugetlb-facts §6.2): order 19 reserves to the end of memory, order 20 one byte; 1UL << … reserves the block", () => {
  for (const profile of VARIANTS) {
    for (const [order, startPfn] of [[19, 0x180000], [20, 0x100000]] as const) {
      // 16 GiB, one node: [6, 8) GiB is an order-19 block, [4, 8) GiB an order-20 one.
      const k1 = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 1 }), { profile });
      const n = 2 ** order;
      assert.ok(allocContigRange(k1.buddy, startPfn, startPfn + n), `${profile} order ${order}`);
      const phys = startPfn * PAGE_SIZE;
      k1.machine.mem.fill(phys, n * PAGE_SIZE, { pattern: 0x77 });
      const hash = k1.machine.mem.hash64(phys, n * PAGE_SIZE);
      k1.kho.preservePages(startPfn, n); // kho_preserve_pages does not cap the order
      assert.ok(k1.kho.out!.isPreserved(startPfn, order));
      const k2 = k1.kexec();
      const end = k2.machine.topology.endBytes;
      const reserved = (at: number) => k2.memblock.isReserved(at);
      // 12 GiB lies above both blocks and is reserved by nothing else.
      assert.equal(reserved(12 * GiB), profile === "kho-v4" && order === 19, `${profile} ${order}`);
      if (profile === "kho-v4+fixes") {
        assert.ok(reserved(phys + n * PAGE_SIZE - 1) && !reserved(phys + n * PAGE_SIZE));
        assert.equal(k2.kho.restorePages(phys, n), startPfn);
        assert.equal(k2.machine.mem.hash64(phys, n * PAGE_SIZE), hash);
      } else if (order === 19) {
        // INT_MIN sign-extended: memblock_reserve caps it at the end of memory.
        assert.ok(reserved(phys + n * PAGE_SIZE) && reserved(end - 1), "reserved to the end");
        assert.equal(k2.boot.retrieve!.bytes >= end - phys, true);
        assert.equal(k2.kho.restorePages(phys, n), startPfn);
        assert.equal(k2.machine.mem.hash64(phys, n * PAGE_SIZE), hash);
      } else {
        // 1 << 32 in int: x86 shifts by 32 mod 32 = 0, one byte; the rest of the block was
        // handed to the page allocator and poisoned.
        assert.ok(reserved(phys) && !reserved(phys + PAGE_SIZE));
        assert.notEqual(k2.machine.mem.readU8(phys + MiB), 0x77);
        assert.notEqual(k2.machine.mem.hash64(phys, n * PAGE_SIZE), hash);
      }
    }
  }
});

Deno.test("live bug vmalloc-unwind-unset-order (kho_preserve_vmalloc, luo-hugetlb-facts §6.3): kho-v4 leaves the order-9 blocks preserved after a failure; kho-v4+fixes unwinds them", () => {
  for (const profile of VARIANTS) {
    const k = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), { profile });
    const addr = k.vmalloc.vmalloc(600 * 2 * MiB, { hugeVmap: true })!;
    const before = new Set<string>();
    k.kho.out!.tracker.walk((phys, order) => (before.add(`${phys}/${order}`), 0));
    // The second chunk page fails: 511 huge blocks are preserved by then.
    k.faults.arm({ nth: 2, sites: [VMALLOC_CHUNK_SITE] });
    assert.throws(() => preserveVmalloc(k, addr), (e: KhoError) => e.code === "ENOMEM");
    k.faults.disarm();
    const leaked: string[] = [];
    k.kho.out!.tracker.walk((phys, order) => {
      if (!before.has(`${phys}/${order}`)) leaked.push(`${phys}/${order}`);
      return 0;
    });
    assert.equal(leaked.length, profile === "kho-v4" ? 511 : 0, profile);
    if (profile === "kho-v4") assert.ok(leaked.every((s) => s.endsWith("/9")));
  }
});
