/**
 * The host ladder (512 GiB … 32 TiB) for one profile, one rung at a time in this process:
 * prints one JSON line per rung with the deterministic figures, the phase times, and the
 * peak heap and RSS sampled at every phase boundary (the run's clock samples them).
 *
 *   deno run -A --v8-flags=--max-old-space-size=16384 bench/ladder.ts \
 *     [--profile kho-v4] [--hosts 512G,1T,…,32T] [name=value …]
 *
 * Measured on a 2-core machine (kho-v4): 512 GiB 1.3 s / 156 MiB heap; 1 TiB 1.8 s / 271 MiB
 * (256 Ki pages/TiB); 32 TiB with the default 64 Ki pages/TiB (2.1 M preserved blocks): 78 s
 * total (successor boot 62 s, walk 72 ms), peak heap 3.2 GiB, max RSS 7.9 GiB.
 */
import { parseArgs } from "node:util";
import { runUntimed, withTimings } from "../lib/scenario/run.ts";
import type { Clock } from "../lib/rng.ts";
import { LADDER_HOST_BYTES } from "../lib/scenario/scenarios.ts";
import { formatSize } from "../lib/units.ts";

const { values, positionals } = parseArgs({
  options: { profile: { type: "string", default: "kho-v4" }, hosts: { type: "string" } },
  allowPositionals: true,
});
const extra = Object.fromEntries(positionals.map((a) => a.split("=", 2) as [string, string]));
const hosts = values.hosts?.split(",") ??
  LADDER_HOST_BYTES.map((b) => formatSize(b).replace(" ", ""));
let peakHeap = 0, peakRss = 0;
const sampling: Clock = {
  nowMs() {
    const m = Deno.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
    return performance.now();
  },
};
for (const host of hosts) {
  peakHeap = peakRss = 0;
  const t0 = performance.now();
  const run = runUntimed({
    scenario: "ladder",
    profile: values.profile as "kho-v4",
    params: { hostBytes: host, ...extra },
    phaseClock: sampling,
  });
  sampling.nowMs();
  const totalMs = performance.now() - t0;
  const { phaseMs } = run;
  // The walk: median of 3 timed replays over the handed-over bytes (after the run).
  const row = withTimings(run.row, run.capsule, { clock: sampling, repeat: 3 });
  console.log(JSON.stringify({
    host,
    profile: row.profile,
    status: row.status,
    errors: row.errors,
    preservedBlocks: row.preservedBlocks,
    trackerLivePages: row.trackerLivePages,
    handoverBytes: row.handoverBytes,
    floorBytes: row.floorBytes,
    walkCacheLines: row.walkCacheLines,
    lostObjects: row.lostObjects,
    free1GiBBlocks: row.free1GiBBlocks,
    buildMs: Math.round(phaseMs.buildMs),
    preserveMs: Math.round(phaseMs.preserveMs),
    walkMs: Math.round(row.walkMs as number),
    bootMs: Math.round(phaseMs.bootMs),
    restoreMs: Math.round(phaseMs.restoreMs),
    totalMs: Math.round(totalMs),
    peakHeapMiB: Math.round(peakHeap / 2 ** 20),
    peakRssMiB: Math.round(peakRss / 2 ** 20),
  }));
}
