/**
 * Where the engine's ns per preserved page go: the tracker workloads of `tools/bench_ratios.ts`
 * (`lib/metrics/kho_ref_workload.ts`: pfn_i = (i × 0x9E3779B1) mod span, the same machine shapes
 * and boot options) with the order-0 preserve loop timed at each layer of the call —
 *
 * | layer      | the loop calls                                                              |
 * | ---------- | --------------------------------------------------------------------------- |
 * | `bitset`   | a JavaScript floor: sets bit `pfn` of one flat `Uint32Array` (no tree)      |
 * | `tracker`  | `kho.out.tracker.add(pfn, 0)`                                               |
 * | `outPage`  | `kho.out.preservePage(pfn[, true])` (the facade's fast path goes there)     |
 * | `out`      | `kho.out.preservePages(pfn, 1)`, 6.16: `kho.out.preservePhys(pfn << 12, 4096)` |
 * | `facade`   | `kho.preservePages(pfn, 1)`, 6.16: `kho.preservePhys(pfn << 12, 4096)` (= the bench) |
 *
 * — and the successor's batched walk of the handed-over bytes (`walkIncomingBatched`, as the
 * bench's walk) with a callback that only counts (`walkCount`), with the bench's checksum
 * callback (`walkSum`, without its skip of KHO's own blocks and its carry), and a JavaScript floor that sums
 * the set bits of the flat bitmap (`walkFloor`). Each preserve sample runs on a freshly booted
 * kernel (the boot untimed), so that each loop allocates the tracker's nodes or bitmaps as the
 * bench's does; the layers take turns within each round, `--warmup` untimed rounds first, then
 * `--reps` timed ones. Figures: ns per order-0 page, median (min–max) over the timed rounds.
 * hyper's 1008 order-18 blocks are not in the loop (they are 0.1 % of its items). The wall
 * clock is `performance.now()`; the machine is what it is (note the load average).
 *
 *   deno run -A bench/preserve_layers.ts [--workload all|radix|xarray512|xarray4k|hyper]
 *     [--warmup 3] [--reps 7] [--layers bitset,tracker,outPage,out,facade,walkFloor,…] [--json]
 *
 * `--layers` picks the loops (any walk name runs all three walks); one layer alone is what a
 * CPU profile of one call path needs:
 *
 *   perf record -F 4000 -g -o .out/prof/radix.data -- npx -y deno@2.9.6 run -A \
 *     --v8-flags=--perf-basic-prof bench/preserve_layers.ts --workload radix --layers facade \
 *     --reps 20
 *
 * With `all` (the default) each workload runs in a fresh process, as `bench_ratios` runs them
 * (one tracker class per process: the call sites stay monomorphic).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Kernel } from "../lib/boot/kernel.ts";
import { Machine } from "../lib/machine/machine.ts";
import { GiB, PAGE_SIZE } from "../lib/units.ts";
import type { ProfileName } from "../lib/kho/profiles.ts";
import { FdtReader } from "../lib/kho/fdt/reader.ts";
import { decodeKhoFdtU64, KHO_FDT_SIZE } from "../lib/kho/abi/kexec_handover.ts";
import { TrackerCounters, walkIncomingBatched } from "../lib/kho/trackers/registry.ts";

interface Spec {
  profile: ProfileName;
  pages: number;
  span: number;
  giant: number;
  phys: boolean;
}

/** `tools/bench_ratios.ts`'s workloads. */
const SPECS: Record<string, Spec> = {
  radix: { profile: "kho-v4", pages: 2 ** 20, span: 2 ** 22, giant: 0, phys: false },
  xarray512: { profile: "kho-v1-6.16", pages: 2 ** 22, span: 2 ** 22, giant: 0, phys: true },
  xarray4k: { profile: "kho-v1-6.19", pages: 2 ** 22, span: 2 ** 22, giant: 0, phys: false },
  hyper: { profile: "kho-v4", pages: 2 ** 20, span: 2 ** 22, giant: 1008, phys: false },
};

const LAYERS = ["bitset", "tracker", "outPage", "out", "facade"] as const;
type Layer = typeof LAYERS[number];
const WALKS = ["walkFloor", "walkCount", "walkSum"] as const;

const { values } = parseArgs({
  options: {
    workload: { type: "string", default: "all" },
    warmup: { type: "string", default: "3" },
    reps: { type: "string", default: "7" },
    layers: { type: "string", default: [...LAYERS, ...WALKS].join(",") },
    json: { type: "boolean" },
  },
});
const warmup = Number(values.warmup), reps = Number(values.reps);
if (!(Number.isInteger(warmup) && warmup >= 0 && Number.isInteger(reps) && reps >= 1)) {
  throw new RangeError("--warmup 0, 1, …; --reps 1, 2, …");
}
const chosen = values.layers!.split(",");
const known: readonly string[] = [...LAYERS, ...WALKS];
if (chosen.some((l) => !known.includes(l))) throw new RangeError(`--layers ${known.join(",")}`);
const layers = LAYERS.filter((l) => chosen.includes(l));
const walks = WALKS.some((w) => chosen.includes(w));

/** One workload's figures: ns per page, every timed sample per layer. */
interface Figures {
  workload: string;
  profile: string;
  pages: number;
  samples: Record<string, number[]>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A kernel booted as the bench boots it. */
function boot(s: Spec): Kernel {
  const ramBytes = Math.ceil((s.span * PAGE_SIZE + s.giant * GiB + 8 * GiB) / GiB) * GiB;
  return Kernel.coldBoot(new Machine({ ramBytes, nodes: 1 }), {
    profile: s.profile,
    poison: false,
    memmapBytesPerPage: 0,
    cmdline: "kho_scratch=0,1G,256M",
  });
}

// One small function per layer: each is optimised on its own, as the bench's loop is.
function loopBitset(bits: Uint32Array, pfns: Float64Array): void {
  for (let i = 0; i < pfns.length; i++) {
    const p = pfns[i];
    bits[p >>> 5] |= 1 << (p & 31);
  }
}
function loopTracker(k: Kernel, pfns: Float64Array): void {
  const t = k.kho.out!.tracker;
  for (let i = 0; i < pfns.length; i++) t.add(pfns[i], 0);
}
function loopOutPage(k: Kernel, pfns: Float64Array, phys: boolean): void {
  const out = k.kho.out!;
  for (let i = 0; i < pfns.length; i++) out.preservePage(pfns[i], phys);
}
function loopOutPages(k: Kernel, pfns: Float64Array): void {
  const out = k.kho.out!;
  for (let i = 0; i < pfns.length; i++) out.preservePages(pfns[i], 1);
}
function loopOutPhys(k: Kernel, pfns: Float64Array): void {
  const out = k.kho.out!;
  for (let i = 0; i < pfns.length; i++) out.preservePhys(pfns[i] * PAGE_SIZE, PAGE_SIZE);
}
function loopFacadePages(k: Kernel, pfns: Float64Array): void {
  const kho = k.kho;
  for (let i = 0; i < pfns.length; i++) kho.preservePages(pfns[i], 1);
}
function loopFacadePhys(k: Kernel, pfns: Float64Array): void {
  const kho = k.kho;
  for (let i = 0; i < pfns.length; i++) kho.preservePhys(pfns[i] * PAGE_SIZE, PAGE_SIZE);
}

/** Times one layer's loop on a fresh kernel (or bitmap); ns per page. */
function timeLayer(s: Spec, layer: Layer, pfns: Float64Array): number {
  if (layer === "bitset") {
    const bits = new Uint32Array(s.span / 32);
    const t0 = performance.now();
    loopBitset(bits, pfns);
    return (performance.now() - t0) * 1e6 / pfns.length;
  }
  const k = boot(s);
  const t0 = performance.now();
  if (layer === "tracker") loopTracker(k, pfns);
  else if (layer === "outPage") loopOutPage(k, pfns, s.phys);
  else if (layer === "out") s.phys ? loopOutPhys(k, pfns) : loopOutPages(k, pfns);
  else s.phys ? loopFacadePhys(k, pfns) : loopFacadePages(k, pfns);
  const ns = (performance.now() - t0) * 1e6 / pfns.length;
  return ns;
}

/** The checksum's two double accumulators (lib/metrics/kho_ref_workload.ts keeps them so). */
const ACC = new Float64Array(2);

/** The successor's batched walk of one handover, three ways; ns per page of each. */
function timeWalks(s: Spec, pfns: Float64Array, rounds: number, out: Record<string, number[]>) {
  const k = boot(s);
  s.phys ? loopFacadePhys(k, pfns) : loopFacadePages(k, pfns);
  for (let g = 0; g < s.giant; g++) k.kho.preservePages(s.span + g * 2 ** 18, 2 ** 18);
  if (k.profile.finalize !== "none") k.kho.finalize();
  const filled = k.kho.fillKimage({ imageBytes: 64 << 20, mem: k.machine.mem });
  const fdt = new FdtReader(k.machine.mem.readBytes(filled.handover.fdtPhys, KHO_FDT_SIZE));
  const root = decodeKhoFdtU64(fdt.getprop(0, k.profile.memoryMapProp))!;
  const options = {
    mem: k.machine.mem,
    rootPhys: root,
    isRam: (p: number, n: number) => k.machine.topology.isRam(p, n),
    log: k.log,
    counters: new TrackerCounters(),
  };
  const items = s.pages + s.giant;
  const bits = new Uint32Array(s.span / 32);
  loopBitset(bits, pfns);
  let blocks = 0, lo = 0, hi = 0, floor = 0;
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    floor = walkFloor(bits);
    const nsFloor = (performance.now() - t0) * 1e6 / items;
    t0 = performance.now();
    blocks = 0;
    walkIncomingBatched(k.profile.tracker, options, (_phys, count) => {
      blocks += count;
      return 0;
    });
    const nsCount = (performance.now() - t0) * 1e6 / items;
    t0 = performance.now();
    ACC[0] = -0; // as the bench: doubles in a typed array, not in the closure's context
    ACC[1] = -0;
    walkIncomingBatched(k.profile.tracker, options, (phys, count, order) => {
      let lo = ACC[0], hi = ACC[1];
      for (let i = 0; i < count; i++) {
        const p = phys[i];
        lo += ((p >>> 0) ^ order) >>> 0;
        hi += Math.floor(p / 4294967296);
      }
      ACC[0] = lo;
      ACC[1] = hi;
      return 0;
    });
    lo = ACC[0];
    hi = ACC[1];
    const nsSum = (performance.now() - t0) * 1e6 / items;
    if (r >= rounds - reps) {
      out.walkFloor.push(nsFloor);
      out.walkCount.push(nsCount);
      out.walkSum.push(nsSum);
    }
  }
  if (blocks < items || floor !== s.pages) {
    throw new Error(`internal: walked ${blocks} blocks, floor ${floor}, of ${items}`);
  }
  return { lo, hi };
}

/** The set bits of the flat bitmap, word by word (a walk's floor in JavaScript). */
function walkFloor(bits: Uint32Array): number {
  let n = 0;
  for (let w = 0; w < bits.length; w++) {
    let x = bits[w];
    while (x !== 0) {
      x &= x - 1;
      n++;
    }
  }
  return n;
}

function runOne(name: string): Figures {
  const s = SPECS[name];
  if (s === undefined) throw new RangeError(`--workload ${Object.keys(SPECS).join("|")}|all`);
  const pfns = new Float64Array(s.pages);
  for (let i = 0; i < s.pages; i++) {
    pfns[i] = Number((BigInt(i) * 0x9E3779B1n) & BigInt(s.span - 1));
  }
  const samples: Record<string, number[]> = {};
  for (const l of layers) samples[l] = [];
  for (const w of walks ? WALKS : []) samples[w] = [];
  for (let r = 0; r < warmup + reps; r++) {
    for (const layer of layers) {
      const ns = timeLayer(s, layer, pfns);
      if (r >= warmup) samples[layer].push(ns);
    }
  }
  if (walks) timeWalks(s, pfns, warmup + reps, samples);
  return { workload: name, profile: s.profile, pages: s.pages, samples };
}

const fmt = (x: number) => x.toFixed(2);
function summary(f: Figures): Record<string, string> {
  const row: Record<string, string> = {};
  for (const [k, xs] of Object.entries(f.samples)) {
    row[k] = `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  }
  return row;
}

if (values.workload !== "all") {
  const f = runOne(values.workload!);
  console.log(JSON.stringify({ ...f, median: summary(f) }));
} else {
  const all: Figures[] = [];
  for (const name of Object.keys(SPECS)) {
    const p = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--workload",
        name,
        "--warmup",
        String(warmup),
        "--reps",
        String(reps),
        "--layers",
        values.layers!,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!p.success) throw new Error(`${name}: child failed`);
    const text = new TextDecoder().decode(p.stdout).trim().split("\n").at(-1)!;
    all.push(JSON.parse(text));
  }
  if (values.json) console.log(JSON.stringify(all));
  else {
    const cols = Object.keys(all[0].samples);
    console.log(
      `ns per order-0 page, median (min–max) of ${reps} rounds after ${warmup}; load ` +
        Deno.loadavg().map((x) => x.toFixed(2)).join(" "),
    );
    console.log(["workload", ...cols].join(" | "));
    for (const f of all) {
      const row = summary(f);
      console.log([f.workload, ...cols.map((c) => row[c])].join(" | "));
    }
  }
}
