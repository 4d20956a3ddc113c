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

Deno.bench("boot: 16 GiB freed around 1 Mi scattered preserved pages (memblock_free_all)", {
  group: "boot",
}, (b) => {
  // the ranges between bench-ref's pfns, (i × 0x9E3779B1) mod 2^22, as memblock hands them over
  const marks = new Uint8Array(2 ** 22);
  for (let i = 0; i < 2 ** 20; i++) marks[Math.imul(i, 0x9e3779b1) & (2 ** 22 - 1)] = 1;
  const buddy = new BuddyAllocator({ topology: oneTiB });
  b.start();
  let start = -1;
  for (let p = 0; p <= marks.length; p++) {
    const free = p < marks.length && marks[p] === 0;
    if (free && start < 0) start = p;
    else if (!free && start >= 0) {
      buddy.freeBootRange(start, p, 0);
      start = -1;
    }
  }
  b.end();
  if (buddy.nrFreePages() !== 2 ** 22 - 2 ** 20) throw new Error("lost pages");
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
