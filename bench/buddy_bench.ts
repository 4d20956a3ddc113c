/**
 * Buddy allocator benchmarks: booting (memblock_free_all over all RAM) a 1 TiB 2-node and a
 * 32 TiB 8-node machine, and 1 Mi order-0 allocations and frees on the 1 TiB machine.
 *
 * @module
 */

import { BuddyAllocator } from "../lib/kernel/buddy.ts";
import { Topology } from "../lib/machine/topology.ts";
import { PAGE_SIZE, TiB } from "../lib/units.ts";

function boot(topology: Topology): BuddyAllocator {
  const buddy = new BuddyAllocator({ topology });
  for (const r of topology.ranges) {
    buddy.freeBootRange(r.start / PAGE_SIZE, r.end / PAGE_SIZE, r.nid);
  }
  return buddy;
}

const oneTiB = new Topology({ ramBytes: TiB, nodes: 2 });
const oneTiBx86 = new Topology({ ramBytes: TiB, nodes: 2, layout: "x86" });
const big = new Topology({ ramBytes: 32 * TiB, nodes: 8 });

Deno.bench("boot: free all RAM of a 1 TiB 2-node machine", { group: "boot" }, () => {
  boot(oneTiB);
});

Deno.bench("boot: free all RAM of a 1 TiB 2-node x86 layout", { group: "boot" }, () => {
  boot(oneTiBx86);
});

Deno.bench("boot: free all RAM of a 32 TiB 8-node machine", { group: "boot" }, () => {
  boot(big);
});

Deno.bench("boot: 1 TiB freed in 4096 memblock-like ranges", { group: "boot" }, () => {
  const buddy = new BuddyAllocator({ topology: oneTiB });
  const pages = 2 ** 28 / 4096;
  for (let i = 0; i < 4096; i++) {
    // leave a 3-page hole at the start of each range, as scattered reservations would
    const s = i * pages + 3;
    buddy.freeBootRange(s, (i + 1) * pages, oneTiB.nidOfPfn(s));
  }
});

Deno.bench("1 Mi order-0 allocations then frees (1 TiB)", { group: "order0" }, (b) => {
  const buddy = boot(oneTiB);
  const n = 2 ** 20;
  const pfns = new Float64Array(n);
  b.start();
  for (let i = 0; i < n; i++) pfns[i] = buddy.allocPages(0)!;
  for (let i = 0; i < n; i++) buddy.freePages(pfns[i], 0);
  b.end();
  if (buddy.nrFreePages() !== 2 ** 28) throw new Error("lost pages");
});

Deno.bench("1 Mi order-0 allocations, freed in reverse (1 TiB)", { group: "order0" }, (b) => {
  const buddy = boot(oneTiB);
  const n = 2 ** 20;
  const pfns = new Float64Array(n);
  b.start();
  for (let i = 0; i < n; i++) pfns[i] = buddy.allocPages(0)!;
  for (let i = n - 1; i >= 0; i--) buddy.freePages(pfns[i], 0);
  b.end();
});
