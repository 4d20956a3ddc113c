/**
 * Time and heap of cold boots: `deno run --v8-flags=--expose-gc bench/boot_heap.ts`.
 * Prints one JSON line per machine size: boot milliseconds and the JavaScript heap the
 * booted machine + kernel retain (heapUsed after a GC, minus the baseline).
 */
import { Kernel } from "../lib/boot/kernel.ts";
import { Machine } from "../lib/machine/machine.ts";
import { TiB } from "../lib/units.ts";

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
for (const [tib, nodes, poison] of [[1, 2, true], [32, 8, true], [32, 8, false]] as const) {
  gc();
  const base = Deno.memoryUsage().heapUsed;
  const t0 = performance.now();
  const machine = new Machine({ ramBytes: tib * TiB, nodes });
  const kernel = Kernel.coldBoot(machine, { poison });
  const bootMs = performance.now() - t0;
  gc();
  const heapBytes = Deno.memoryUsage().heapUsed - base;
  console.log(JSON.stringify({
    ram: `${tib} TiB`,
    nodes,
    poison,
    bootMs: Math.round(bootMs),
    heapMiB: +(heapBytes / 2 ** 20).toFixed(1),
    physSections: machine.mem.stats().sections,
    freePages: kernel.buddy.nrFreePages(),
  }));
}
