/**
 * The built-in demo: a 1 TiB, 2-node host whose guests sit in 1 GiB folios, with scattered
 * order-0 hypervisor pages, kexec'd once with KHO; everything is restored and verified, and
 * a summary is returned.
 *
 * @module
 */

import { allocContigRange, allocGigantic } from "../kernel/gigantic.ts";
import { Kernel } from "../kernel/kernel.ts";
import { Machine } from "../machine/machine.ts";
import { type Clock, Rng, wallClock } from "../rng.ts";
import { formatSize, GiB, PAGE_SIZE, TiB } from "../units.ts";

/** Demo parameters. */
export interface DemoOptions {
  /** RAM in bytes. Default 1 TiB. */
  ramBytes?: number;
  /** NUMA nodes. Default 2. */
  nodes?: number;
  /** 1 GiB guest folios. Default 64. */
  giantFolios?: number;
  /** Preserved order-0 pages scattered over the pool. Default 65536. */
  pages?: number;
  /** Size of the pool the order-0 pages are drawn from. Default 16 GiB. */
  poolBytes?: number;
  /** Seed. Default 42. */
  seed?: number;
  /** Clock for the wall-time figures. */
  clock?: Clock;
}

/** One line of the demo summary. */
export interface DemoRow {
  /** What was measured. */
  metric: string;
  /** Its value, formatted. */
  value: string;
}

/**
 * Runs the demo and returns its summary rows.
 *
 * @example
 * ```ts
 * import { runDemo } from "./demo.ts";
 * const rows = runDemo({ ramBytes: 2 ** 36, giantFolios: 4, pages: 1000, poolBytes: 2 ** 30 });
 * console.assert(rows.find((r) => r.metric === "verified")!.value === "yes");
 * ```
 */
export function runDemo(options: DemoOptions = {}): DemoRow[] {
  const clock = options.clock ?? wallClock;
  const ramBytes = options.ramBytes ?? TiB;
  const nodes = options.nodes ?? 2;
  const giantCount = options.giantFolios ?? 64;
  const pageCount = options.pages ?? 65536;
  const poolBytes = options.poolBytes ?? 16 * GiB;
  const rng = new Rng(options.seed ?? 42);
  const t0 = clock.nowMs();
  const machine = new Machine({ ramBytes, nodes });
  const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on" });
  const bootMs = clock.nowMs() - t0;
  const mem = machine.mem;

  // Guest memory: 1 GiB folios, filled with seeded content.
  const giants: number[] = [];
  for (let i = 0; i < giantCount; i++) {
    const pfn = allocGigantic(k1.buddy, 18, i % nodes);
    if (pfn === null) break;
    mem.fill(pfn * PAGE_SIZE, GiB, { pattern: rng.u32() });
    giants.push(pfn);
  }
  // A hypervisor pool: one contiguous allocation, of which random pages are preserved.
  const poolPages = poolBytes / PAGE_SIZE;
  const pool = k1.buddy.findFreeRange(0, Math.log2(poolPages));
  if (pool === null || !allocContigRange(k1.buddy, pool, pool + poolPages)) {
    throw new Error(`no ${formatSize(poolBytes)} pool free`);
  }
  const chosen = new Set<number>();
  while (chosen.size < Math.min(pageCount, poolPages)) chosen.add(pool + rng.int(poolPages));
  const pages = [...chosen];
  for (const pfn of pages) mem.fill(pfn * PAGE_SIZE, PAGE_SIZE, { pattern: pfn });
  const hashBefore = giants.map((p) => mem.hash64(p * PAGE_SIZE, GiB));
  const pageHashes = pages.map((p) => mem.hash64(p * PAGE_SIZE, PAGE_SIZE));

  const t1 = clock.nowMs();
  for (const pfn of giants) k1.kho.preserveFolio(pfn);
  for (const pfn of pages) k1.kho.preservePages(pfn, 1);
  const preserveMs = clock.nowMs() - t1;
  const tracker = k1.kho.out!.tracker;
  const trackerPages = tracker.metadataPages();

  const t2 = clock.nowMs();
  const k2 = k1.kexec();
  const successorBootMs = clock.nowMs() - t2;

  const t3 = clock.nowMs();
  let ok = k2.kho.isKhoBoot;
  giants.forEach((pfn, i) => {
    ok &&= k2.kho.restoreFolio(pfn * PAGE_SIZE) === pfn &&
      mem.hash64(pfn * PAGE_SIZE, GiB) === hashBefore[i];
  });
  pages.forEach((pfn, i) => {
    ok &&= k2.kho.restorePages(pfn * PAGE_SIZE, 1) === pfn &&
      mem.hash64(pfn * PAGE_SIZE, PAGE_SIZE) === pageHashes[i];
  });
  const restoreMs = clock.nowMs() - t3;
  const walk = k2.boot.retrieve;
  const free = k2.freeByOrder();
  return [
    { metric: "machine", value: `${formatSize(ramBytes)}, ${nodes} nodes` },
    { metric: "profile", value: k2.profile.name },
    { metric: "guest folios (1 GiB)", value: String(giants.length) },
    { metric: "preserved order-0 pages", value: String(pages.length) },
    { metric: "tracker pages", value: `${trackerPages} (${formatSize(trackerPages * PAGE_SIZE)})` },
    { metric: "scratch", value: formatSize(k2.boot.scratch.reduce((s, a) => s + a.size, 0)) },
    { metric: "successor walk: blocks", value: String(walk?.blocks ?? 0) },
    { metric: "successor walk: cache lines", value: String(walk?.counters.cacheLinesRead ?? 0) },
    { metric: "cold boot ms", value: bootMs.toFixed(1) },
    { metric: "preserve ms", value: preserveMs.toFixed(1) },
    { metric: "kexec + successor boot ms", value: successorBootMs.toFixed(1) },
    { metric: "restore + verify ms", value: restoreMs.toFixed(1) },
    { metric: "free 4 MiB blocks after boot", value: String(free[10]) },
    { metric: "verified", value: ok ? "yes" : "NO" },
  ];
}
