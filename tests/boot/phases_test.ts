import assert from "node:assert/strict";
import { BootContext } from "../../lib/boot/context.ts";
import { KernelBug } from "../../lib/errors.ts";
import { BOOT_PHASES, type BootPhase, startKernel } from "../../lib/boot/phases.ts";
import { COLD_IMAGE_PHYS } from "../../lib/kho/kho.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB } from "../../lib/units.ts";

const cold = { handover: null, imagePhys: COLD_IMAGE_PHYS, bootIndex: 0 };

Deno.test("boot phases: the kernel's init order, each named after its kernel function", () => {
  assert.deepEqual(BOOT_PHASES.map((p) => p.name), [
    "e820__memblock_setup",
    "kho_populate",
    "memblock_reserve_kern",
    "reserve_mem",
    "sparse_init",
    // mm_core_init_early: extended scratch before the boot-time huge pages (kho-facts §9.6)
    "kho_extend_scratch",
    "hugetlb_bootmem_alloc",
    "kho_reserve_scratch",
    "free_area_init",
    "kho_memory_init",
    "memblock_free_all",
    "vmalloc_init",
    "kho_init",
    "liveupdate_early_init",
    "hugetlb_init",
    "luo_late_startup",
    "reserve_mem_init",
  ]);
});

Deno.test("boot phases: a phase inserted into the table runs at its place and sees the state so far", () => {
  const seen: string[] = [];
  const probe = (name: string): BootPhase => ({
    name,
    run: (ctx) => {
      seen.push(`${name}: freed ${ctx.freedPages}, scratch ${ctx.scratch.length}`);
      assert.throws(() => ctx.kho, /kho used before kho_init/);
    },
  });
  const at = BOOT_PHASES.findIndex((p) => p.name === "memblock_free_all");
  const phases = [
    ...BOOT_PHASES.slice(0, at),
    probe("before_free_all"),
    BOOT_PHASES[at],
    probe("after_free_all"),
    ...BOOT_PHASES.slice(at + 1),
  ];
  const ctx = startKernel(
    new BootContext(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), { poison: false }, cold),
    phases,
  );
  assert.equal(seen.length, 2);
  assert.ok(ctx.freedPages > 0 && ctx.scratch.length === 3);
  assert.equal(seen[0], "before_free_all: freed 0, scratch 3");
  assert.equal(seen[1], `after_free_all: freed ${ctx.freedPages}, scratch 3`);
  assert.ok(ctx.kho.enabled);
});

Deno.test("boot context: a subsystem used before the phase that builds it, or built twice, is a KernelBug", () => {
  const ctx = new BootContext(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), {}, cold);
  const bug = (re: RegExp) => (e: unknown) => e instanceof KernelBug && re.test(e.message);
  assert.throws(() => ctx.buddy, bug(/^boot phase order: buddy used before free_area_init$/));
  assert.throws(() => ctx.vmalloc, bug(/vmalloc used before vmalloc_init/));
  const freeAreaInit = BOOT_PHASES.find((p) => p.name === "free_area_init")!;
  freeAreaInit.run(ctx);
  assert.ok(ctx.buddy);
  assert.throws(() => freeAreaInit.run(ctx), bug(/buddy built twice/));
});

Deno.test("boot phases: kho=off skips scratch and KHO; the log ends with the boot summary", () => {
  const ctx = startKernel(
    new BootContext(
      new Machine({ ramBytes: 4 * GiB, nodes: 1 }),
      { cmdline: "kho=off", poison: false },
      cold,
    ),
  );
  assert.equal(ctx.scratch.length, 0);
  assert.equal(ctx.kho.enabled, false);
  assert.match(ctx.log.entries().at(-1)!.text, /^boot #0 done: \d+ pages freed, KHO off$/);
});
