/**
 * The end-to-end targets of issue #9: one scenario run (boot, build, preserve, kexec, the
 * successor's walk and boot, restore of everything, content verification), timed, with the
 * peak RSS sampled at every phase boundary of the run's clock.
 *
 *   deno run -A --v8-flags=--max-old-space-size=16384 bench/end_to_end.ts [--case 1T|32T]
 *     [--profile NAME]   (default: rfc-2025-12-hugetlb for 1T, kho-v4 for 32T)
 *
 * `1T`: the default `hypervisor` scenario (1 TiB: 1008 GiB of guests in 8 hugetlbfs memfds of
 * 1 GiB pages — preserved through LUO on the HugeTLB RFC, unsupported on releases —, 1 Mi
 * IOMMU pages in a 16 GiB pool, vmalloc buffers, DMA blocks); target ≤ 10 s and ≤ 1.5 GiB. `32T`: the `ladder` rung of 32 TiB with 4 Mi IOMMU pages (32,256 × 1 GiB guest
 * folios, 512 GiB pool); target ≤ 60 s and ≤ 6 GiB.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Clock } from "../lib/rng.ts";
import { runScenario } from "../lib/scenario/run.ts";
import type { ProfileName } from "../lib/kho/profiles.ts";

const CASES = {
  // The guests cross only where 1 GiB hugetlbfs pages can: the HugeTLB RFC's profile.
  "1T": {
    scenario: "hypervisor",
    profile: "rfc-2025-12-hugetlb",
    params: {},
    targetMs: 10_000,
    targetRssMiB: 1536,
  },
  "32T": {
    scenario: "ladder",
    profile: "kho-v4",
    params: { hostBytes: "32T", iommuPagesPerTiB: 131072 },
    targetMs: 60_000,
    targetRssMiB: 6144,
  },
} as const;

const { values } = parseArgs({
  options: { case: { type: "string", default: "1T" }, profile: { type: "string" } },
});
const c = CASES[values.case as keyof typeof CASES];
if (!c) throw new Error(`--case 1T|32T`);
let peakRss = 0;
const clock: Clock = {
  nowMs() {
    peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
    return performance.now();
  },
};
const t0 = clock.nowMs();
// repeat: 0: the phases of this one run are the figures (RunResult.phaseMs), no replays.
const profile = (values.profile ?? c.profile) as ProfileName;
const { row, phaseMs } = runScenario({
  scenario: c.scenario,
  profile,
  params: c.params,
  clock,
  repeat: 0,
});
const totalMs = clock.nowMs() - t0;
const peakRssMiB = Math.round(peakRss / 2 ** 20);
console.log(JSON.stringify({
  case: values.case,
  profile,
  status: row.status,
  preservedBlocks: row.preservedBlocks,
  restoredBlocks: row.restoredBlocks,
  lostObjects: row.lostObjects,
  buildMs: Math.round(phaseMs.buildMs),
  preserveMs: Math.round(phaseMs.preserveMs),
  bootMs: Math.round(phaseMs.bootMs),
  restoreMs: Math.round(phaseMs.restoreMs),
  totalMs: Math.round(totalMs),
  peakRssMiB,
  timeOk: totalMs <= c.targetMs,
  rssOk: peakRssMiB <= c.targetRssMiB,
}));
