import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { kernelKexec, KEXEC_STEPS, type KexecStep } from "../../lib/boot/kexec.ts";
import { COLD_IMAGE_PHYS } from "../../lib/kho/kho.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB } from "../../lib/units.ts";

Deno.test("kexec steps: liveupdate_reboot, finalize, kho_fill_kimage, machine_kexec, in the kernel's order", () => {
  assert.deepEqual(KEXEC_STEPS.map((s) => s.name), [
    "liveupdate_reboot",
    "kho_finalize",
    "kho_fill_kimage",
    "machine_kexec",
  ]);
});

Deno.test("kexec steps: with KHO the handover points into scratch; without, a cold image", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), { poison: false });
  const order: string[] = [];
  const trace = (s: KexecStep): KexecStep => ({
    name: s.name,
    run: (ctx) => {
      order.push(s.name);
      s.run(ctx);
    },
  });
  const ctx = kernelKexec(
    {
      machine: k.machine,
      log: k.log,
      profile: k.profile,
      kho: k.kho,
      liveupdate: k.liveupdate,
      options: {},
    },
    KEXEC_STEPS.map(trace),
  );
  assert.deepEqual(order, [
    "liveupdate_reboot",
    "kho_finalize",
    "kho_fill_kimage",
    "machine_kexec",
  ]);
  assert.ok(ctx.handover !== null);
  assert.ok(k.boot.scratch.some((a) => ctx.imagePhys >= a.addr && ctx.imagePhys < a.addr + a.size));
  assert.match(k.log.entries().at(-1)!.text, /^kexec: KHO handover FDT 0x/);

  const off = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), {
    cmdline: "kho=off",
    poison: false,
  });
  const c2 = kernelKexec({
    machine: off.machine,
    log: off.log,
    profile: off.profile,
    kho: off.kho,
    liveupdate: off.liveupdate,
    options: {},
  });
  assert.equal(c2.handover, null);
  assert.equal(c2.imagePhys, COLD_IMAGE_PHYS);
  assert.equal(off.log.entries().at(-1)!.text, "kexec: no KHO");
});
