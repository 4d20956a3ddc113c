/**
 * The successor boot's cost per preserved block, from 64 Ki to 4 Mi blocks (issue 19: ≤ 200 ns
 * per block at 1 Mi, growing linearly). For each size N a kho-v4 kernel preserves N order-0
 * pages, `pfn_i = (i × 0x9E3779B1) mod 4N` (bench-ref's pfns at its density: a quarter of the
 * span), on a machine of the span plus 8 GiB, and hands over; then the successor boots from the
 * handed-over bytes (`Kernel.bootFrom`: memblock, `kho_mem_retrieve`'s walk, reserve and stamp,
 * `memblock_free_all` of the rest into the buddy allocator, KHO's outgoing state) `--warmup`
 * times untimed and `--runs` times timed. Every boot is checked (a KHO boot that reserved all N
 * blocks). Prints one line per size: wall ms median (min–max), ns per block, the process's
 * CPU ns per block (user + system, V8's helper threads included: less sensitive to other
 * processes on the cores), and memblock's reserved regions after the boot — the walk's
 * blocks merge where they touch, and `memblock_free_all` frees one range between two regions,
 * so the work grows with the regions: at this density the first 2 Mi pfns of a span of 8 Mi
 * pages touch often, those of 16 Mi pages never.
 *
 *   deno run -A tools/boot_curve.ts [--from 64Ki] [--to 4Mi] [--runs 5] [--warmup 2] [--json]
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { Kernel } from "../lib/boot/kernel.ts";
import { Machine } from "../lib/machine/machine.ts";
import { GiB, PAGE_SIZE } from "../lib/units.ts";

const { values } = parseArgs({
  options: {
    from: { type: "string", default: "64Ki" },
    to: { type: "string", default: "4Mi" },
    runs: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    json: { type: "boolean" },
  },
});

function count(text: string): number {
  const m = /^(\d+)(Ki|Mi)?$/.exec(text);
  if (!m) throw new Error(`not a count: ${text} (e.g. 64Ki, 4Mi)`);
  return Number(m[1]) * (m[2] === "Ki" ? 2 ** 10 : m[2] === "Mi" ? 2 ** 20 : 1);
}

const from = count(values.from!);
const to = count(values.to!);
const runs = Number(values.runs);
const warmup = Number(values.warmup);
if (!(from > 0 && to >= from && runs >= 1 && warmup >= 0)) throw new Error("bad arguments");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function label(n: number): string {
  return n >= 2 ** 20 ? `${n / 2 ** 20} Mi` : `${n / 2 ** 10} Ki`;
}

interface Point {
  blocks: number;
  spanPages: number;
  bootMs: { median: number; min: number; max: number; n: number };
  nsPerBlock: number;
  cpuNsPerBlock: number;
  /** memblock's reserved regions after the boot: the ranges around which the rest was freed. */
  reservedRegions: number;
}

const points: Point[] = [];
for (let n = from; n <= to; n *= 2) {
  const span = 4 * n;
  const machine = new Machine({
    ramBytes: Math.ceil((span * PAGE_SIZE + 8 * GiB) / GiB) * GiB,
    nodes: 1,
  });
  const options = { profile: "kho-v4", poison: false, memmapBytesPerPage: 0 } as const;
  const k1 = Kernel.coldBoot(machine, { ...options, cmdline: "kho_scratch=0,1G,256M" });
  const mask = BigInt(span - 1);
  for (let i = 0; i < n; i++) k1.kho.preservePages(Number((BigInt(i) * 0x9E3779B1n) & mask), 1);
  const filled = k1.kho.fillKimage({ imageBytes: 64 << 20, mem: machine.mem });
  const handoff = { handover: filled.handover, imagePhys: filled.imagePhys, bootIndex: 1 };
  const wall: number[] = [];
  const cpu: number[] = [];
  let regions = 0;
  for (let r = 0; r < warmup + runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const k2 = Kernel.bootFrom(machine, handoff, options);
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const blocks = k2.boot.retrieve?.blocks ?? 0;
    if (!k2.kho.isKhoBoot || blocks < n) {
      throw new Error(`successor of ${n} blocks: KHO boot ${k2.kho.isKhoBoot}, ${blocks} blocks`);
    }
    regions = k2.memblock.reservedCount;
    if (r >= warmup) {
      wall.push(ms);
      cpu.push((c.user + c.system) / 1000);
    }
  }
  const p: Point = {
    blocks: n,
    spanPages: span,
    bootMs: {
      median: +median(wall).toFixed(1),
      min: +Math.min(...wall).toFixed(1),
      max: +Math.max(...wall).toFixed(1),
      n: wall.length,
    },
    nsPerBlock: Math.round(median(wall) * 1e6 / n),
    cpuNsPerBlock: Math.round(median(cpu) * 1e6 / n),
    reservedRegions: regions,
  };
  points.push(p);
  if (!values.json) {
    console.log(
      `${
        label(n).padStart(6)
      } blocks: boot ${p.bootMs.median} ms (${p.bootMs.min}–${p.bootMs.max})` +
        `, ${p.nsPerBlock} ns/block, cpu ${p.cpuNsPerBlock} ns/block; ` +
        `${p.reservedRegions} reserved regions`,
    );
  }
}
if (values.json) console.log(JSON.stringify(points, null, 2));
