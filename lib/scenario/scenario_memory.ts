/**
 * Host memory a scenario run is estimated to need (`../machine/host_memory.ts`'s model,
 * calibrated on whole runs): its own machine booted twice (the first kernel and the
 * successor) plus the walk replayed for the metrics, and per preserved block what the build,
 * the preserve, the manifest, the kexec, the restore and the verification keep. Runs of
 * `uniform` and `clustered` cost more per page than the hypervisor's pool pages: their pages
 * are taken one by one out of free memory (each splits the buddy allocator's free blocks
 * around it) and spread over every struct-page chunk.
 *
 * Calibration (`tools/memory_model.ts`, peak RSS growth of one run, Deno 2.9.6): uniform
 * 16 GiB with 64 Ki / 256 Ki pages 278 / 583 MiB (1.66 KiB per page); clustered 256 Ki pages
 * 297 MiB; dense with a 4 / 16 GiB band of order-0 blocks 190 / 466 MiB (92 B per block);
 * hypervisor 256 GiB / 1 TiB (the default) 435 / 945 MiB (0.7 KiB per IOMMU page).
 *
 * @module
 */

import {
  bootBytes,
  estimate,
  HOST_BYTES,
  type MemoryEstimate,
  sumEstimates,
  term,
} from "../machine/host_memory.ts";
import { PAGE_SIZE } from "../units.ts";
import {
  getScenario,
  ladderHypervisorParams,
  type ParamValue,
  resolveParams,
  type ScenarioParams,
} from "./scenarios.ts";

/** Bytes per page of `uniform` (taken singly out of all free memory). */
export const SCATTERED_PAGE_BYTES = 1800;

/** Bytes per page of `clustered` (taken singly inside one window per node). */
export const CLUSTERED_PAGE_BYTES = 1000;

/** Bytes per block of `dense`'s band (one contiguous range, recorded in typed arrays). */
export const BAND_BLOCK_BYTES = 100;

/** Bytes per preserved page placed in an allocated pool (`hypervisor`'s IOMMU pages). */
export const POOL_PAGE_BYTES = 800;

/** Fixed cost of a run: the harness, the metrics, the report row. */
const RUN_BASE_BYTES = 96 * 2 ** 20;

const n = (ps: ScenarioParams, k: string) => Number(ps[k] ?? 0);

/**
 * The estimate of one run of `scenario` with `params` (values or text over the defaults).
 * Throws as `resolveParams` does for bad parameters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scenarioMemory } from "./scenario_memory.ts";
 * const small = scenarioMemory("uniform", { ramBytes: "2G", pages: 100 });
 * const big = scenarioMemory("uniform", { ramBytes: "64T", pages: "64Mi" });
 * assert.ok(small.bytes < 200 * 2 ** 20 && big.bytes > 100 * 2 ** 30);
 * assert.match(big.detail, /64Mi scattered pages × 1800 B/);
 * ```
 */
export function scenarioMemory(
  scenario: string,
  params: Readonly<Record<string, ParamValue>> = {},
): MemoryEstimate {
  const spec = getScenario(scenario);
  const ps = resolveParams(scenario, params);
  const machine = spec.machineBytes(ps);
  const boot = bootBytes(machine);
  const base = sumEstimates(
    estimate(RUN_BASE_BYTES, "96 MiB per run"),
    estimate(4 * boot.bytes, `4 × ${boot.detail}`),
  );
  switch (spec.name) {
    case "uniform":
      return sumEstimates(base, term(n(ps, "pages"), SCATTERED_PAGE_BYTES, "scattered pages"));
    case "clustered":
      return sumEstimates(base, term(n(ps, "pages"), CLUSTERED_PAGE_BYTES, "clustered pages"));
    case "dense": {
      const per = 2 ** n(ps, "bandOrder");
      // A band beyond the machine's RAM is refused by the allocator (nothing is built).
      const room = Math.max(0, n(ps, "ramBytes") - n(ps, "bandStartBytes"));
      const bytes = Math.min(n(ps, "bandBytes"), room);
      const pages = Math.floor(bytes / PAGE_SIZE / per) * per;
      return sumEstimates(
        base,
        term(pages, HOST_BYTES.page, "band pages"),
        term(pages / per, BAND_BLOCK_BYTES, "band blocks"),
      );
    }
    case "test_kho":
      return sumEstimates(
        base,
        term(Math.ceil(n(ps, "maxMemBytes") / PAGE_SIZE), POOL_PAGE_BYTES, "test_kho pages"),
      );
    case "hypervisor":
    case "ladder":
      return sumEstimates(
        base,
        hypervisorParts(spec.name === "ladder" ? ladderHypervisorParams(ps) : ps),
      );
  }
}

function hypervisorParts(ps: ScenarioParams): MemoryEstimate {
  const poolPages = Math.floor(n(ps, "poolBytes") / PAGE_SIZE);
  const every = n(ps, "iommuEveryBytes");
  const iommu = Math.min(
    poolPages,
    every > 0 ? Math.floor(n(ps, "poolBytes") / every) : n(ps, "iommuPages"),
  );
  const vmallocPages = n(ps, "vmallocBuffers") * Math.ceil(n(ps, "vmallocBytes") / PAGE_SIZE);
  const dmaPages = n(ps, "dmaBlocks") * 2 ** n(ps, "dmaOrder");
  const perBlock = HOST_BYTES.preservedBlock + HOST_BYTES.restoredBlock;
  return sumEstimates(
    term(poolPages, HOST_BYTES.page, "pool pages"),
    term(iommu, POOL_PAGE_BYTES, "IOMMU pages"),
    term(
      Math.ceil(n(ps, "guestBytes") / n(ps, "guestFolio")),
      perBlock + HOST_BYTES.memfdFolio,
      "guest folios",
    ),
    term(vmallocPages, HOST_BYTES.block + HOST_BYTES.vmallocPage + perBlock, "vmalloc pages"),
    term(dmaPages, HOST_BYTES.page, "DMA pages"),
  );
}
