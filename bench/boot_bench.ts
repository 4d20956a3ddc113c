/**
 * Cold boot (memblock → buddy allocator, KHO scratch reserved and released) of real-sized
 * machines. Run: `deno task bench bench/boot_bench.ts`. For heap figures run
 * `deno run --v8-flags=--expose-gc bench/boot_heap.ts`.
 */
import { Kernel } from "../lib/boot/kernel.ts";
import { Machine } from "../lib/machine/machine.ts";
import { TiB } from "../lib/units.ts";

Deno.bench("cold boot 1 TiB, 2 nodes", { group: "boot" }, () => {
  Kernel.coldBoot(new Machine({ ramBytes: TiB, nodes: 2 }));
});

Deno.bench("cold boot 32 TiB, 8 nodes", { group: "boot" }, () => {
  Kernel.coldBoot(new Machine({ ramBytes: 32 * TiB, nodes: 8 }));
});
