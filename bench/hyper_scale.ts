/**
 * Scale run of the KHO engine: a 1 TiB guest area of 1008 × 1 GiB folios plus 1 Mi random
 * order-0 pages preserved inside a 16 GiB hypervisor pool; kexec; everything restored and
 * verified by content hash.
 *
 *   deno run -A bench/hyper_scale.ts [--giant 1008] [--pages 1048576] [--pool-gib 16] [--seed 1]
 *
 * The machine has 1 TiB of RAM for guests and pool plus 8 GiB for the kernel, and struct
 * pages are not charged to memblock (memmapBytesPerPage 0): a real 1 TiB host cannot give
 * 1008 GiB to guests and also hold 16 GiB of struct pages and 200 % scratch. Prints one JSON
 * line with the phase times and the peak RSS.
 */
import { parseArgs } from "node:util";
import { allocContigRange, allocGigantic } from "../lib/kernel/gigantic.ts";
import { Kernel } from "../lib/boot/kernel.ts";
import { Machine } from "../lib/machine/machine.ts";
import { Rng } from "../lib/rng.ts";
import { GiB, PAGE_SIZE } from "../lib/units.ts";

const { values } = parseArgs({
  options: {
    giant: { type: "string", default: "1008" },
    pages: { type: "string", default: "1048576" },
    "pool-gib": { type: "string", default: "16" },
    seed: { type: "string", default: "1" },
  },
});
const giantCount = Number(values.giant), pageCount = Number(values.pages);
const poolPages = Number(values["pool-gib"]) * GiB / PAGE_SIZE;
const rng = new Rng(Number(values.seed));
let peakRss = 0;
const sample = () => (peakRss = Math.max(peakRss, Deno.memoryUsage().rss));
const times: Record<string, number> = {};
const phase = <T>(name: string, fn: () => T): T => {
  const t0 = performance.now();
  const v = fn();
  times[name] = Math.round(performance.now() - t0);
  sample();
  return v;
};

const machine = new Machine({ ramBytes: 1024 * GiB + 8 * GiB, nodes: 2 });
const mem = machine.mem;
const k1 = phase("coldBootMs", () => Kernel.coldBoot(machine, { memmapBytesPerPage: 0 }));
const { giants, pages, giantHash, pageHash } = phase("populateMs", () => {
  const pool = k1.buddy.findFreeRange(0, Math.log2(poolPages));
  if (pool === null || !allocContigRange(k1.buddy, pool, pool + poolPages)) {
    throw new Error("no pool");
  }
  const giants: number[] = [];
  for (let i = 0; i < giantCount; i++) {
    const pfn = allocGigantic(k1.buddy, 18, i % 2) ?? allocGigantic(k1.buddy, 18, (i + 1) % 2);
    if (pfn === null) throw new Error(`only ${i} gigantic folios`);
    mem.fill(pfn * PAGE_SIZE, GiB, { pattern: rng.u32() });
    giants.push(pfn);
  }
  const chosen = new Set<number>();
  while (chosen.size < pageCount) chosen.add(pool + rng.int(poolPages));
  const pages = Float64Array.from(chosen).sort();
  for (const pfn of pages) mem.fill(pfn * PAGE_SIZE, PAGE_SIZE, { pattern: pfn });
  return {
    giants,
    pages,
    giantHash: giants.map((p) => mem.hash64(p * PAGE_SIZE, GiB)),
    pageHash: mem.hash64(0, 0) +
      [...pages].reduce((s, p) => s + mem.hash64(p * PAGE_SIZE, PAGE_SIZE), 0n),
  };
});
phase("preserveMs", () => {
  for (const pfn of giants) k1.kho.preserveFolio(pfn);
  for (const pfn of pages) k1.kho.preserveFolio(pfn);
});
const trackerPages = k1.kho.out!.tracker.metadataPages();
const k2 = phase("kexecAndBootMs", () => k1.kexec({ memmapBytesPerPage: 0 }));
const ok = phase("restoreVerifyMs", () => {
  let ok = k2.kho.isKhoBoot;
  giants.forEach((pfn, i) => {
    ok &&= k2.kho.restoreFolio(pfn * PAGE_SIZE) === pfn &&
      mem.hash64(pfn * PAGE_SIZE, GiB) === giantHash[i];
  });
  let sum = 0n;
  for (const pfn of pages) {
    ok &&= k2.kho.restoreFolio(pfn * PAGE_SIZE) === pfn;
    sum += mem.hash64(pfn * PAGE_SIZE, PAGE_SIZE);
  }
  return ok && sum === pageHash;
});
console.log(JSON.stringify({
  giantFolios: giants.length,
  pages: pages.length,
  trackerPages,
  walkBlocks: k2.boot.retrieve?.blocks,
  walkCacheLines: k2.boot.retrieve?.counters.cacheLinesRead,
  ...times,
  totalMs: Object.values(times).reduce((a, b) => a + b, 0),
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  verified: ok,
}));
if (!ok) Deno.exit(1);
