import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB } from "../../lib/units.ts";

Deno.test("kexec: the old kernel is gone — its struct pages and free lists are discarded", () => {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), { poison: false });
  const pfn = k1.buddy.folioAlloc(3)!;
  k1.kho.preserveFolio(pfn);
  assert.ok(k1.memmap.stats().chunks > 0);
  assert.ok(k1.buddy.stats().runs > 0);
  const k2 = k1.kexec();
  assert.ok(k1.dead && !k2.dead);
  assert.equal(k1.memmap.stats().chunks, 0);
  assert.equal(k1.buddy.stats().runs, 0);
  assert.equal(k1.buddy.stats().smallFreeBlocks, 0);
  assert.throws(() => k1.kexec(), /replaced by kexec/);
  // the successor has its own state, rebuilt from the handover
  assert.ok(k2.kho.isKhoBoot);
  assert.equal(k2.kho.restoreFolio(pfn * 4096), pfn);
  assert.equal(k2.memmap.folioOrder(pfn), 3);
});
