/**
 * Where a scenario run's memory goes: the process's memory at each phase boundary of one run
 * (`Deno.memoryUsage()`: resident set, V8 heap in use, `external` — typed arrays' buffers —,
 * and `VmHWM`, the peak resident set so far, from /proc/self/status), and the size of the
 * structures that grow with the scenario, for the first kernel (just before kexec) and the
 * successor (after the restore): the memmap's pageblock chunks by representation
 * (`Memmap.census`), the buddy allocator's free-block index, memblock's region arrays and the
 * simulated memory's store (their `stats()` estimates, not measurements).
 *
 *   deno run -A --v8-flags=--max-old-space-size=16384 bench/memory_phases.ts [--case 32T|1T]
 *     [--gc]   (with --v8-flags=--expose-gc: a full collection before each sample, so that
 *               heap and external count live bytes only; the peak is then not the plain run's)
 *
 * The cases are `bench/end_to_end.ts`'s (32T: `ladder` hostBytes=32T iommuPagesPerTiB=131072,
 * kho-v4; 1T: `hypervisor`, rfc-2025-12-hugetlb), run once with no timed replays (repeat 0).
 * Prints a table per phase and one JSON line (`--json` for the JSON line alone).
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Clock } from "../lib/rng.ts";
import type { Kernel } from "../lib/boot/kernel.ts";
import { runUntimed } from "../lib/scenario/run.ts";
import type { ProfileName } from "../lib/kho/profiles.ts";

const CASES = {
  "1T": { scenario: "hypervisor", profile: "rfc-2025-12-hugetlb", params: {} },
  "32T": {
    scenario: "ladder",
    profile: "kho-v4",
    params: { hostBytes: "32T", iommuPagesPerTiB: 131072 },
  },
} as const;

const { values } = parseArgs({
  options: {
    case: { type: "string", default: "32T" },
    gc: { type: "boolean" },
    json: { type: "boolean" },
  },
});
const c = CASES[values.case as keyof typeof CASES];
if (!c) throw new Error("--case 1T|32T");
const gc = (globalThis as { gc?: () => void }).gc;
if (values.gc && gc === undefined) throw new Error("--gc needs --v8-flags=--expose-gc");

const MiB = 2 ** 20;
const mib = (b: number) => Math.round(b / MiB);

/** VmHWM (peak resident set so far) in bytes. */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m === null ? 0 : Number(m[1]) * 1024;
}

interface Sample {
  label: string;
  ms: number;
  rssMiB: number;
  peakMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
}

const samples: Sample[] = [];
const t0 = performance.now();
function sample(label: string): void {
  if (values.gc) gc!();
  const u = Deno.memoryUsage();
  samples.push({
    label,
    ms: Math.round(performance.now() - t0),
    rssMiB: mib(u.rss),
    peakMiB: mib(peakRss()),
    heapUsedMiB: mib(u.heapUsed),
    externalMiB: mib(u.external),
  });
}

// runUntimed's clock reads, in order (kho-v4 and the HugeTLB RFC have no finalize): build
// start and end, preserve start and end; after the beforeKexec hook: kexec start, the
// successor booted, restore start and end.
const BEFORE = ["start", "built", "preserve start", "preserved", "finalize start", "finalized"];
const AFTER = ["kexec start", "successor booted", "restore start", "restored"];
let hooked = false, reads = 0;
const clock: Clock = {
  nowMs() {
    const labels = hooked ? AFTER : BEFORE;
    sample(labels[reads++] ?? `read ${reads}`);
    return performance.now();
  },
};

/** The structures' own size estimates, in MiB. */
function structures(k: Kernel) {
  const mm = k.memmap.stats();
  const census = k.memmap.census();
  const buddy = k.buddy.stats();
  return {
    memmapMiB: mib(mm.approxBytes),
    memmapChunks: mm.chunks,
    census,
    buddyMiB: mib(buddy.approxBytes),
    buddySmallFreeBlocks: buddy.smallFreeBlocks,
    buddyPartialPageblocks: buddy.partialPageblocks,
    memblockMiB: mib(k.memblock.footprintBytes),
  };
}

let first: ReturnType<typeof structures> | null = null;
const run = runUntimed({
  scenario: c.scenario,
  profile: c.profile as ProfileName,
  params: c.params,
  capture: false,
  phaseClock: clock,
  beforeKexec: ({ kernel }) => {
    sample("before kexec");
    first = structures(kernel);
    hooked = true;
    reads = 0;
  },
});
const successor = run.successor === null ? null : structures(run.successor);
const store = run.instance.machine.mem.stats();
sample("end");

const result = {
  case: values.case,
  profile: c.profile,
  status: run.row.status,
  preservedBlocks: run.row.preservedBlocks,
  gc: values.gc ?? false,
  samples,
  firstKernel: first,
  successor,
  physmem: { ...store, storeMiB: mib(store.storeBytes) },
};
if (!values.json) {
  console.log(
    "phase".padEnd(18) + "ms".padStart(7) + "rss".padStart(7) + "peak".padStart(7) +
      "heap".padStart(7) + "extern".padStart(8) + "   (MiB)",
  );
  for (const s of samples) {
    console.log(
      s.label.padEnd(18) + String(s.ms).padStart(7) + String(s.rssMiB).padStart(7) +
        String(s.peakMiB).padStart(7) + String(s.heapUsedMiB).padStart(7) +
        String(s.externalMiB).padStart(8),
    );
  }
}
console.log(JSON.stringify(result));
