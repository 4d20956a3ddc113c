/**
 * Fixed rows for the figure golden tests: shaped like real runs (values from a 1 TiB
 * hypervisor comparison and small sweeps), never computed, so goldens do not move when the
 * simulation changes.
 *
 * @module
 */

import { log2Binomial } from "../../lib/metrics/floor.ts";
import type { MetricsRow } from "../../lib/metrics/metrics.ts";
import type { MatrixCell } from "../../lib/plot/figures.ts";

const trackers: [string, string][] = [
  ["kho-v1-6.16", "xarray-512"],
  ["kho-v1-6.19", "xarray-4k"],
  ["rfc-v1-order-table", "order-table"],
  ["kho-v4", "radix"],
];

/** One row per profile, as from the default hypervisor comparison. */
export const PROFILE_ROWS: MetricsRow[] = trackers.map(([profile, tracker], i) => ({
  scenario: "hypervisor",
  profile,
  tracker,
  status: i === 3 ? "ok" : "lost",
  preservedBlocks: 1051683 - i,
  handoverBytes: [555008, 548864, 585728, 585728][i],
  // ceil(log2 C(4 Mi, 1 Mi) / 8): 1 Mi IOMMU pages drawn among the 4 Mi pages of the 16 GiB
  // pool (lib/metrics/floor.ts); the guest folios, placed by the allocator, add nothing.
  floorBytes: 425342,
  // wall clock: medians of 5 timed replays, with their spread (lib/metrics/timing.ts)
  walkMs: [7.5, 12.6, 32.0, 53.5][i],
  "walkMs.n": 5,
  "walkMs.median": [7.5, 12.6, 32.0, 53.5][i],
  "walkMs.min": [6.9, 11.8, 30.2, 49.0][i],
  "walkMs.max": [9.8, 18.4, 41.3, 60.2][i],
  reserveMs: [812.4, 790.1, 655.0, 701.7][i],
  "reserveMs.n": 5,
  "reserveMs.median": [812.4, 790.1, 655.0, 701.7][i],
  "reserveMs.min": [760.9, 744.0, 610.3, 688.2][i],
  "reserveMs.max": [1022.5, 901.6, 700.8, 955.0][i],
  walkPagesTouched: [136, 134, 148, 143][i],
  walkCacheLines: [8476, 8419, 9410, 9152][i],
  walkEntriesVisited: [1027, 131, 8714, 6144][i],
  walkBitmapWords: [65728, 67072, 66560, 67072][i],
  preservedBytesByOrder: "0:4303499264 9:33554432 18:1082331758592",
  // each order's blocks alone (lib/metrics/by_order.ts), from the 1 TiB comparison
  handoverBytesByOrder: [
    "0:545280 3:4608 9:4608 18:4608",
    "0:532480 9:8192 18:8192",
    "0:552960 3:24576 9:24576",
    "0:548864 9:24576 18:24576",
  ][i],
  walkCacheLinesByOrder: [
    "0:8458 3:9 9:9 18:9",
    "0:8289 9:65 18:65",
    "0:9154 3:898 9:898",
    "0:8576 9:384 18:384",
  ][i],
  freeBlocksByOrder: "0:787060 1:515606 2:226691 3:47125 4:2710 5:17 6:4 7:2 8:4 9:8 10:2016",
}));

/** A density sweep: pages preserved in a 16 GiB pool, two encodings. */
export const DENSITY_ROWS: MetricsRow[] = [1024, 16384, 262144, 1048576].flatMap((pages, i) =>
  [["kho-v1-6.19", "xarray-4k", 8], ["kho-v4", "radix", 9]].map(([profile, tracker, k]) => ({
    profile: profile as string,
    tracker: tracker as string,
    status: "ok",
    sweepParam: "iommuPages",
    sweepValue: String(pages),
    preservedBlocks: pages,
    handoverBytes: 4096 * (4 + (k as number) * 2 ** i * 3),
    // the floor of drawing `pages` among the 4 Mi pages of 16 GiB (lib/metrics/floor.ts)
    floorBytes: Math.ceil(log2Binomial(4194304, pages) / 8),
  }))
);

/** A host ladder: 512 GiB … 32 TiB (sweep values in bytes). */
export const LADDER_ROWS: MetricsRow[] = [0.5, 1, 2, 6, 12, 24, 32].flatMap((tib, i) =>
  [["kho-v1-6.19", "xarray-4k"], ["kho-v4", "radix"]].map(([profile, tracker], j) => ({
    profile,
    tracker,
    status: "ok",
    sweepParam: "hostBytes",
    sweepValue: String(tib * 2 ** 40),
    handoverBytes: 4096 * (10 + 20 * i + 7 * j),
    walkCacheLines: 500 + 400 * i + 90 * j,
  }))
);

/** A 3×3 compatibility matrix. */
export const MATRIX_CELLS: MatrixCell[] = [
  ["kho-v1-6.19", "kho-v1-6.19", "ok"],
  ["kho-v1-6.19", "kho-v2", "refused"],
  ["kho-v1-6.19", "kho-v4", "refused"],
  ["kho-v2", "kho-v1-6.19", "refused"],
  ["kho-v2", "kho-v2", "ok"],
  ["kho-v2", "kho-v4", "corrupt"],
  ["kho-v4", "kho-v1-6.19", "refused"],
  ["kho-v4", "kho-v2", "refused"],
  ["kho-v4", "kho-v4", "ok"],
].map(([from, to, verdict]) => ({ from, to, verdict }));

/** Buddyinfo of one node before kexec and the sum of two nodes after. */
export const BUDDY_BEFORE: number[] = [12, 8, 5, 3, 2, 1, 0, 1, 3, 7, 2016];
/** Per node, after kexec. */
export const BUDDY_AFTER: number[][] = [
  [400000, 250000, 110000, 20000, 1300, 9, 2, 1, 2, 4, 1000],
  [387060, 265606, 116691, 27125, 1410, 8, 2, 1, 2, 4, 1016],
];

/** Radix levels of a tree with one leaf per order in use. */
export const LEVEL_ROWS = [
  { level: "L5", nodes: 1, used: 1, slots: 512 },
  { level: "L4", nodes: 1, used: 2, slots: 512 },
  { level: "L3", nodes: 2, used: 3, slots: 1024 },
  { level: "L2", nodes: 3, used: 3, slots: 1536 },
  { level: "L1", nodes: 3, used: 131, slots: 1536 },
  { level: "leaf", nodes: 131, used: 1051683, slots: 131 * 32768 },
];

/**
 * A script's measured rows as `chart` draws them (`lib/dsl/charts.ts`): three generations
 * across three IOMMU pool sizes, each named by profile and pool and coloured by profile
 * (values from examples/hypervisor-small.kho).
 */
export const SCRIPT_ROWS: MetricsRow[] = (["kho-v1-6.19", "kho-v3", "kho-v4"] as const).flatMap(
  (profile, i) =>
    [128, 512, 2048].map((poolMiB, j) => ({
      name: `${profile} · pool=${poolMiB >= 1024 ? `${poolMiB / 1024} GiB` : `${poolMiB} MiB`}`,
      profile,
      sweepParam: "pool",
      sweepValue: poolMiB * 2 ** 20,
      handoverBytes: [[49152, 61440, 110592], [106496, 118784, 167936], [69632, 81920, 131072]][
        i
      ][j],
      walkPagesTouched: [[14, 17, 29], [30, 33, 45], [21, 24, 36]][i][j],
      walkCacheLines: [[518, 711, 1482], [1920, 2112, 2880], [1344, 1536, 2304]][i][j],
      walkEntriesVisited: [[8, 11, 23], [11264, 11264, 11264], [7680, 7680, 7680]][i][j],
      walkBitmapWords: [[4096, 5632, 11776], [4096, 5632, 11776], [3072, 4608, 10752]][i][j],
    })),
);
