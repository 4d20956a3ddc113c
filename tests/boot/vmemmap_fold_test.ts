/**
 * Folded vmemmap at boot (lib/boot/vmemmap_fold.ts): a profile's fold source is asked at
 * sparse_init of a KHO boot only, its folds take no memmap buffer and no memmap_init, the boot
 * refuses folds no design could mean (a KernelBug) and panics after the walk when a folded
 * folio is not preserved. The folded-vmemmap design's own checks are in
 * tests/design/folded_vmemmap_test.ts.
 */

import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { registerVmemmapFoldSource, vmemmapFoldSource } from "../../lib/boot/vmemmap_fold.ts";
import type { VmemmapFold } from "../../lib/kernel/vmemmap.ts";
import { KernelBug } from "../../lib/errors.ts";
import { KernelPanic } from "../../lib/kernel/panic.ts";
import { defineProfile } from "../../lib/design/define.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { allocGigantic } from "../../lib/kernel/gigantic.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";

const PROFILE = "fold-source-test";
defineProfile({ name: PROFILE, base: "kho-v4" });

/** A fold source that folds `folds()` and counts its calls. */
function source(folds: () => VmemmapFold[]) {
  const calls: boolean[] = [];
  registerVmemmapFoldSource(PROFILE, {
    name: "test-folds",
    foldsAtBoot: (view) => (calls.push(view.hvo), folds()),
  });
  return calls;
}

/** A first kernel with one preserved 1 GiB folio and one preserved page. */
function firstKernel(): { k1: Kernel; pfn: number; page: number } {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    profile: PROFILE,
    cmdline: "kho=on kho_scratch=64M,256M,256M hugetlb_free_vmemmap=on",
  });
  const pfn = allocGigantic(k1.buddy, 18, 0)!;
  k1.kho.preserveFolio(pfn);
  const page = k1.buddy.allocPages(0)!;
  k1.kho.preservePages(page, 1);
  return { k1, pfn, page: page * PAGE_SIZE };
}

Deno.test("the fold source is asked on a KHO boot only; its folios take no memmap and no memmap_init", () => {
  const { k1, pfn, page } = firstKernel();
  const calls = source(() => [{ headPfn: pfn, order: 18, pagePhys: page }]);
  assert.equal(vmemmapFoldSource(PROFILE)?.name, "test-folds");
  assert.deepEqual(calls, [], "not on the cold boot");
  const k2 = k1.kexec();
  assert.deepEqual(calls, [true], "once, at sparse_init, with hugetlb_free_vmemmap=on");
  const v = k2.memmap.vmemmap;
  assert.equal(v.populatedBytes, 8 * GiB / 64 - 16 * 2 ** 20 + 4096);
  assert.equal(v.writes("memmapInit"), 8 * GiB / PAGE_SIZE - 2 ** 18);
  assert.match(
    k2.log.text(),
    /sparse_init: vmemmap of 1 preserved folios mapped folded \(test-folds\)/,
  );
  // kho_restore_folio of the folded folio writes the page's 64 struct pages.
  const before = v.writes("restore") + v.writes("compound");
  assert.equal(k2.kho.restoreFolio(pfn * PAGE_SIZE), pfn);
  assert.equal(v.writes("restore") + v.writes("compound") - before, 64);
  registerVmemmapFoldSource(PROFILE, null);
  assert.equal(vmemmapFoldSource(PROFILE), null);
});

Deno.test("folds no design could mean are a KernelBug; a folded folio the walk did not reserve is a panic", () => {
  const bad: VmemmapFold[][] = [
    [{ headPfn: 5 * 2 ** 18 + 2 ** 15, order: 18, pagePhys: 0 }], // unaligned
    [{ headPfn: 9 * 2 ** 18, order: 18, pagePhys: 4096 }], // beyond RAM
    [{ headPfn: 5 * 2 ** 18, order: 18, pagePhys: 5 * GiB + 4096 }], // page inside
    [
      { headPfn: 5 * 2 ** 18, order: 18, pagePhys: 4096 },
      { headPfn: 5 * 2 ** 18, order: 18, pagePhys: 8192 },
    ], // twice
  ];
  for (const folds of bad) {
    const { k1 } = firstKernel();
    source(() => folds);
    assert.throws(() => k1.kexec(), KernelBug, JSON.stringify(folds));
  }
  // The folio at 6 GiB was never preserved; nor was the page.
  const { k1, page } = firstKernel();
  source(() => [{ headPfn: 6 * 2 ** 18, order: 18, pagePhys: page }]);
  assert.throws(
    () => k1.kexec(),
    (e) =>
      e instanceof KernelPanic && /folio 0x180000000 .* is not preserved memory/.test(e.message),
  );
  registerVmemmapFoldSource(PROFILE, null);
});
