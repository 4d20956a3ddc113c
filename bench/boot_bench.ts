/**
 * Cold boot (memblock → buddy allocator, KHO scratch reserved and released) of real-sized
 * machines. Run: `deno task bench bench/boot_bench.ts`. For heap figures run
 * `deno run --v8-flags=--expose-gc bench/boot_heap.ts`.
 */
import { Kernel } from "../lib/boot/kernel.ts";
import { Machine } from "../lib/machine/machine.ts";
import { GiB, PAGE_SIZE, TiB } from "../lib/units.ts";

Deno.bench("cold boot 1 TiB, 2 nodes", { group: "boot" }, () => {
  Kernel.coldBoot(new Machine({ ramBytes: TiB, nodes: 2 }));
});

Deno.bench("cold boot 32 TiB, 8 nodes", { group: "boot" }, () => {
  Kernel.coldBoot(new Machine({ ramBytes: 32 * TiB, nodes: 8 }));
});

// A successor booting from a handover of 256 Ki order-0 pages (bench-ref's pfns in 4 GiB, kho-v4):
// memblock, kho_mem_retrieve (walk, reserve, stamp), memblock_free_all. tools/boot_curve.ts
// prints the cost per block from 64 Ki to 4 Mi blocks.
const SPAN = 2 ** 20;
const successorMachine = new Machine({ ramBytes: SPAN * PAGE_SIZE + 8 * GiB, nodes: 1 });
const OPTIONS = { profile: "kho-v4", poison: false, memmapBytesPerPage: 0 } as const;
const k1 = Kernel.coldBoot(successorMachine, { ...OPTIONS, cmdline: "kho_scratch=0,1G,256M" });
for (let i = 0; i < SPAN / 4; i++) k1.kho.preservePages(Math.imul(i, 0x9e3779b1) & (SPAN - 1), 1);
const filled = k1.kho.fillKimage({ imageBytes: 64 << 20, mem: successorMachine.mem });

Deno.bench("successor boot from 256 Ki preserved pages (kho-v4)", { group: "successor" }, () => {
  const k2 = Kernel.bootFrom(successorMachine, {
    handover: filled.handover,
    imagePhys: filled.imagePhys,
    bootIndex: 1,
  }, OPTIONS);
  if ((k2.boot.retrieve?.blocks ?? 0) < SPAN / 4) throw new Error("not a KHO boot of every block");
});
