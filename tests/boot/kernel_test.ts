import assert from "node:assert/strict";
import { Kernel, type KernelModule } from "../../lib/boot/kernel.ts";
import { KhoError } from "../../lib/errors.ts";
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

Deno.test("uname -r as the kernel's Makefile builds it, recorded for the successor", () => {
  const m = new Machine({ ramBytes: 4 * GiB, nodes: 1 });
  const k1 = Kernel.coldBoot(m, { cmdline: "kho=on", profile: "kho-v4", poison: false });
  assert.equal(k1.release, "7.2.0-rc1-kholab");
  assert.match(k1.log.text(), /Linux version 7\.2\.0-rc1-kholab \(kholab, profile kho-v4\)/);
  const k2 = k1.kexec({ cmdline: "kho=on", profile: "kho-v4", release: "7.2.0-rc2-kholab" });
  assert.equal(k2.kho.previousRelease, "7.2.0-rc1-kholab"); // read from kexec-metadata
  const v3 = Kernel.coldBoot(new Machine({ ramBytes: GiB }), { profile: "kho-v3", poison: false });
  assert.equal(v3.release, "7.1.0-kholab");
});

Deno.test("held ranges: reserved before any boot-time allocation, never freed, not passed on", () => {
  // The 4 MiB right where the first kernel's KHO metadata would go, and the top 256 MiB where
  // scratch would go: both held.
  const held = [
    { start: 4 * 2 ** 20, size: 4 * 2 ** 20 },
    { start: 4 * GiB - 2 ** 28, size: 2 ** 28 },
  ];
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), { heldRanges: held });
  const inHeld = (phys: number) => held.some((r) => phys >= r.start && phys < r.start + r.size);
  for (const r of held) {
    for (let p = r.start; p < r.start + r.size; p += 2 ** 20) assert.ok(!k1.buddy.isFree(p / 4096));
  }
  assert.ok(
    k1.boot.scratch.every((a) => a.size === 0 || (!inHeld(a.addr) && !inHeld(a.addr + a.size - 1))),
  );
  const out = k1.kho.out!;
  assert.ok(!inHeld(out.root.phys));
  assert.ok(out.tracker.ownedPagesPhys().every((p) => !inHeld(p)));
  assert.ok(k1.memblock.reservedRegions().some((r) => r.base === held[0].start));
  // kexec does not hold them again: the successor frees them like any other memory.
  const k2 = k1.kexec();
  assert.ok(k2.kho.isKhoBoot);
  const same = (r: { base: number; size: number }) =>
    held.some((h) => r.base === h.start && r.size === h.size);
  assert.ok(k1.memblock.reservedRegions().some(same));
  assert.ok(!k2.memblock.reservedRegions().some(same));
});

Deno.test("modules run once the boot is complete, again with each successor; an init error is thrown by loadModule and skipped at boot", () => {
  const seen: string[] = [];
  const mod: KernelModule = {
    name: "probe_init",
    init: (k) => void seen.push(`${k.bootIndex}:${k.liveupdate.enabled}`),
  };
  const failing: KernelModule = {
    name: "fail_init",
    init: () => {
      throw new KhoError("ENODEV", "no device");
    },
  };
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 31, nodes: 1 }), {
    cmdline: "liveupdate=on",
    modules: [failing, mod],
  });
  assert.deepEqual(k1.modules, ["probe_init"]);
  const k2 = k1.kexec();
  assert.deepEqual(seen, ["0:true", "1:true"]);
  assert.deepEqual(k2.modules, ["probe_init"]);
  assert.throws(() => k2.loadModule(failing), (e) => e instanceof KhoError && e.code === "ENODEV");
  k2.kexec({ modules: [] });
  assert.equal(seen.length, 2, "the next boot's options replace the modules");
  assert.throws(() => k1.loadModule(mod), RangeError, "a dead kernel runs nothing");
});
