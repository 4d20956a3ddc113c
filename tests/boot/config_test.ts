/**
 * The per-boot kernel configuration (`BootOptions.config`): CONFIG_KEXEC_HANDOVER_DEBUG,
 * CONFIG_DEFERRED_STRUCT_PAGE_INIT, a kdump kernel, kholab's strict checks.
 */
import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { describeBootConfig, resolveBootConfig } from "../../lib/boot/options.ts";
import { allocGigantic } from "../../lib/kernel/gigantic.ts";
import { COLD_IMAGE_PHYS } from "../../lib/kho/kho.ts";
import { Machine } from "../../lib/machine/machine.ts";
import type { Clock } from "../../lib/rng.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";

const machine = () => new Machine({ ramBytes: 8 * GiB, nodes: 2 });

Deno.test("config: every switch off by default, repeated in the boot report and the log", () => {
  const k = Kernel.coldBoot(machine());
  assert.deepEqual(k.boot.config, {
    khoDebug: false,
    deferredStructPageInit: false,
    crashKernel: false,
    strict: false,
  });
  assert.equal(k.boot.verdict, "kernel");
  assert.equal(k.log.grep("kholab config").length, 0);
  const on = resolveBootConfig({ khoDebug: true, strict: true });
  assert.equal(describeBootConfig(on), "CONFIG_KEXEC_HANDOVER_DEBUG=y strict");
  const k2 = Kernel.coldBoot(machine(), { config: { khoDebug: true, strict: true } });
  assert.equal(k2.boot.verdict, "strict");
  assert.equal(k2.log.grep("kholab config: CONFIG_KEXEC_HANDOVER_DEBUG=y strict").length, 1);
  // kexec keeps the configuration unless the next boot's options say otherwise
  assert.deepEqual(k2.kexec().boot.config, k2.boot.config);
});

Deno.test("CONFIG_DEFERRED_STRUCT_PAGE_INIT: refused where KHO forbids it; with kho_get_preserved_page every page of every block is initialised, counted", () => {
  // Released kernels forbid the combination (8b66ed2c3f42); the fix lifts it (kho-facts §5.2).
  assert.throws(
    () => Kernel.coldBoot(machine(), { config: { deferredStructPageInit: true } }),
    (e: Error) =>
      e instanceof RangeError && /unsupported by kho-v4 \(7\.2-rc1\)/.test(e.message) &&
      /8b66ed2c3f42/.test(e.message),
  );
  let t = 0;
  const clock: Clock = { nowMs: () => t++ };
  for (const deferred of [false, true]) {
    const k1 = Kernel.coldBoot(machine(), {
      profile: "kho-v4+fixes",
      config: { deferredStructPageInit: deferred },
      clock,
    });
    const giant = allocGigantic(k1.buddy, 18, 1)!;
    k1.kho.preserveFolio(giant);
    const f9 = k1.buddy.folioAlloc(9)!;
    k1.kho.preserveFolio(f9);
    let pages = 0;
    k1.kho.out!.tracker.walk((_phys, order) => (pages += 2 ** order, 0));
    assert.ok(pages >= 2 ** 18 + 2 ** 9 + 2); // plus KHO's own root FDT and kexec-metadata
    const k2 = k1.kexec();
    const r = k2.boot.retrieve!;
    // kho_get_preserved_page: one init_deferred_page per page of each block, else none
    assert.equal(r.deferredInitPages, deferred ? pages : 0);
    assert.ok(r.reserveMs! > 0, "the walk is timed on the clock handed in");
    assert.equal(k2.kho.restoreFolio(giant * PAGE_SIZE), giant);
  }
});

Deno.test("crash (kdump) kernel: kho-v4 keeps KHO in the kdump kernel and hands the crashed kernel's KHO to the crash image; the mm-tree fix disables both", () => {
  for (const profile of ["kho-v4", "kho-v4+fixes"] as const) {
    const fixed = profile === "kho-v4+fixes";
    // A kdump kernel booted without a handover: kho_memory_init.
    const kd = Kernel.coldBoot(machine(), { profile, config: { crashKernel: true } });
    assert.equal(kd.kho.enabled, !fixed, profile);
    assert.equal(kd.log.grep("KHO: disabled in the kdump kernel").length, fixed ? 1 : 0);
    assert.equal(kd.boot.scratch.length > 0, !fixed);
    // A crash kexec from a KHO kernel: no liveupdate_reboot, no finalize; kho_fill_kimage.
    const k1 = Kernel.coldBoot(machine(), { profile, cmdline: "liveupdate=on" });
    k1.liveupdate.open().createSession("s");
    const pfn = k1.buddy.folioAlloc(3)!;
    k1.kho.preserveFolio(pfn);
    const k2 = k1.kexec({ config: { crashKernel: true } });
    assert.equal(k1.log.grep("kexec (crash image)").length, 1);
    assert.equal(k2.imagePhys, COLD_IMAGE_PHYS, "kho_locate_mem_hole does not place crash images");
    assert.equal(k2.boot.config.crashKernel, true);
    if (fixed) {
      assert.equal(k2.kho.isKhoBoot, false);
      assert.equal(k2.kho.enabled, false);
      assert.equal(k2.log.grep("KHO: disabled in the kdump kernel").length, 1);
    } else {
      // kdump-kho-active: the kdump kernel revives the crashed kernel's preserved memory.
      assert.equal(k2.kho.isKhoBoot, true);
      assert.equal(k2.kho.restoreFolio(pfn * PAGE_SIZE), pfn);
      // liveupdate_reboot did not run: the session was never serialized, so LUO finds none.
      assert.throws(() => k2.liveupdate.open().retrieveSession("s"));
    }
  }
});

Deno.test("strict: a hardened successor refuses what the kernel accepts, and says which check", () => {
  for (const strict of [false, true]) {
    const m = machine();
    const k1 = Kernel.coldBoot(m, { config: { strict } });
    const filled = k1.kho.fillKimage({ imageBytes: 64 << 20, mem: m.mem });
    // scratch_len 24: one area and 8 stray bytes; kho_populate takes 24 / 16 = 1 area
    const k2 = Kernel.bootFrom(
      m,
      {
        handover: { ...filled.handover, scratchLen: 24 },
        imagePhys: filled.imagePhys,
        bootIndex: 1,
      },
      { config: { strict } },
    );
    assert.equal(k2.boot.verdict, strict ? "strict" : "kernel");
    assert.equal(k2.kho.isKhoBoot, !strict);
    assert.equal(k2.boot.strictCheck, strict ? "scratch array of 1..64 whole areas" : undefined);
    if (!strict) assert.deepEqual(k2.boot.scratch, [k1.boot.scratch[0]]);
  }
});
