/**
 * Micro-benchmarks of the engine's hot paths (issue #9): radix key encoding, table lookups
 * in simulated memory, leaf bitmap scans, the one-page preserve through the kernel API, page
 * allocation, free-block range queries and root-FDT edits. Run with `deno task bench`.
 *
 * @module
 */

import { Kernel } from "../lib/boot/kernel.ts";
import { FreeBlockIndex } from "../lib/kernel/buddy_free_index.ts";
import { Machine } from "../lib/machine/machine.ts";
import { PhysicalMemory } from "../lib/machine/physmem.ts";
import { FdtEditor } from "../lib/kho/fdt/editor.ts";
import { FdtWriter } from "../lib/kho/fdt/writer.ts";
import { pfnKey, tableIndex } from "../lib/kho/trackers/radix_key.ts";
import { walkRadixTreeBatched } from "../lib/kho/trackers/radix.ts";
import { GiB } from "../lib/units.ts";

const N = 1 << 16;
const PFNS = new Float64Array(N);
for (let i = 0; i < N; i++) PFNS[i] = (Math.imul(i, 0x9e3779b1) >>> 0) % 2 ** 22;

let sink = 0;

Deno.bench("radix key: pfnKey + six table indices, 64 Ki keys", { group: "key" }, () => {
  let s = 0;
  for (let i = 0; i < N; i++) {
    const key = pfnKey(PFNS[i], i & 15);
    for (let level = 5; level >= 1; level--) s += tableIndex(key, level);
  }
  sink += s;
});

const mem = new PhysicalMemory(GiB);
for (let p = 0; p < 64; p++) {
  for (let e = 0; e < 512; e += 7) mem.writeU64((p + 1) * 4096 + e * 8, (e + 1) * 4096);
}
Deno.bench("simulated memory: 64 table pages × 512 u64 entries read", { group: "mem" }, () => {
  let s = 0;
  for (let p = 0; p < 64; p++) {
    for (let e = 0; e < 512; e++) s += mem.readU64((p + 1) * 4096 + e * 8);
  }
  sink += s;
});

// One kernel with 64 Ki preserved pages in 256 MiB: its handed-over tree for the scans.
const k = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), {
  poison: false,
  memmapBytesPerPage: 0,
});
for (let i = 0; i < N; i++) k.kho.preservePages(2 ** 18 + (PFNS[i] % 2 ** 16), 1);
const root = k.kho.out!.tracker.handoverRoot();
Deno.bench("leaf bitmap scan: batched walk of 64 Ki pages (2 leaves)", { group: "scan" }, () => {
  walkRadixTreeBatched({ mem: k.machine.mem, rootPhys: root }, (_, n) => {
    sink += n;
    return 0;
  });
});

Deno.bench("kho_preserve_pages: 64 Ki single pages (present: no-op adds)", {
  group: "preserve",
}, () => {
  for (let i = 0; i < N; i++) k.kho.preservePages(2 ** 18 + (PFNS[i] % 2 ** 16), 1);
});

Deno.bench("alloc_pages + free: 64 Ki order-0 pages", { group: "alloc" }, () => {
  const got = new Float64Array(N);
  for (let i = 0; i < N; i++) got[i] = k.buddy.allocPages(0)!;
  for (let i = 0; i < N; i++) k.buddy.freePages(got[i], 0);
});

const idx = new FreeBlockIndex(1);
for (let i = 0; i < N; i += 3) if (idx.find(PFNS[i]) < 0) idx.add(PFNS[i], 0, 0, 0, 0);
Deno.bench("free-block range query: 64 Ki firstHeadIn over 32-page ranges", {
  group: "alloc",
}, () => {
  let s = 0;
  for (let i = 0; i < N; i++) s += idx.firstHeadIn(PFNS[i], PFNS[i] + 32) ?? 0;
  sink += s;
});

// Content hashes of single pages each filled with its own seeded pattern (a scenario's IOMMU
// pages): one descriptor, hashes in two u32 lanes.
const content = new PhysicalMemory(32 * GiB);
for (let i = 0; i < N; i++) content.fill(PFNS[i] * 4096, 4096, { pagePattern: 7 });
const lanes = new Uint32Array(2);
Deno.bench("content hash: 64 Ki single pages of per-page patterns (hash64Lanes)", {
  group: "mem",
}, () => {
  let s = 0;
  for (let i = 0; i < N; i++) {
    content.hash64Lanes(PFNS[i] * 4096, 4096, lanes, 0);
    s ^= lanes[0];
  }
  sink += s;
});

function rootFdt(): Uint8Array {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "kho-v3");
  w.property("preserved-memory-map", new Uint8Array(8));
  w.endNode();
  return w.finish();
}
const blob = rootFdt();
Deno.bench("root FDT edit: open, add 16 sub-nodes with a u64 property each", {
  group: "fdt",
}, () => {
  const ed = FdtEditor.openInto(blob, 4096);
  for (let i = 0; i < 16; i++) {
    const off = ed.addSubnode(0, `client-${i}`);
    ed.setprop(off, "preserved-data", new Uint8Array(8).fill(i));
  }
  sink += ed.blob().length;
});

addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink); // keep the results alive
});
