/**
 * The registry of seeded scenario builders: `hypervisor`, `test_kho`, `dense`, `uniform`,
 * `clustered` and the host `ladder`. Each has typed parameters with defaults (settable from
 * TypeScript or as text from a command line) and builds a machine and a cold-booted first
 * kernel for a profile, allocates and fills the memory to preserve, and returns the objects
 * it created as {@link Workload}s that `run.ts` preserves, carries across kexec and verifies.
 *
 * Machine sizing of `hypervisor` (and `ladder`): the machine has `ramBytes` of RAM for guests
 * and the hypervisor pool **plus `headroomBytes`** (default 8 GiB) for the kernel image, the
 * scratch areas and allocations; struct pages are not charged to memblock
 * (`memmapBytesPerPage` 0) and scratch is explicit (`kho_scratch=64M,512M,256M`), because a
 * real 1 TiB host cannot give 1008 GiB to guests and also hold 16 GiB of struct pages and a
 * 200 % scratch (see `bench/hyper_scale.ts`).
 *
 * @module
 */

import { memfdCreate, type MemfdFile } from "../clients/memfd.ts";
import { KhoError } from "../errors.ts";
import { allocContigRange, allocGigantic } from "../kernel/gigantic.ts";
import { type BootConfig, type BootOptions, Kernel } from "../boot/kernel.ts";
import { Machine } from "../machine/machine.ts";
import type { ProfileName } from "../kho/profiles.ts";
import { deriveSeed, Rng } from "../rng.ts";
import { formatSize, GiB, PAGE_SIZE, parseCount, parseSize, TiB } from "../units.ts";
import type { PlacementDomain } from "../metrics/floor.ts";
import {
  allocRandomPages,
  clusteredDraw,
  randomPageCandidates,
  sampleClustered,
  sampleDistinct,
} from "./placement.ts";
import {
  FolioSet,
  MemfdSet,
  RangeSet,
  Tally,
  TestKhoWorkload,
  VmallocSet,
  type Workload,
} from "./workloads.ts";

// Types of the manifest API, public through this module (mod.ts re-exports it whole). The run's
// types (`BeforeKexecContext`, …) are exported from `./run.ts`, which imports this module.
export type {
  BlobRecord,
  FolioSection,
  ManifestSection,
  MemfdRecord,
  MemfdSection,
  RangeSection,
  ReserveMemSection,
  SectionBase,
  SubtreeSection,
  TestKhoSection,
  VmallocSection,
} from "./manifest_abi.ts";
export type { KhoVmalloc, KhoVmallocFields } from "../kho/abi/kexec_handover.ts";
export type { ManifestReadResult, ManifestWriteResult } from "./manifest.ts";

/** A parameter value: a number (sizes in bytes, counts) or a string (enums, text). */
export type ParamValue = number | string;

/** Resolved parameters of a scenario: every parameter with a value. */
export type ScenarioParams = Record<string, ParamValue>;

/** How a parameter is written as text: `size` (`16G`), `count` (`1Mi`), `int`, `enum`, `string`. */
export type ParamType = "size" | "count" | "int" | "enum" | "string";

/** One typed scenario parameter. */
export interface ParamSpec {
  /** Name (camelCase, unit last). */
  readonly name: string;
  /** Text syntax. */
  readonly type: ParamType;
  /** Default value. */
  readonly default: ParamValue;
  /** One line of documentation. */
  readonly doc: string;
  /** Allowed values of an `enum`. */
  readonly choices?: readonly string[];
  /** Smallest value of a number. */
  readonly min?: number;
  /** Largest value of a number. */
  readonly max?: number;
  /** A number must be a multiple of this (machine sizes: 128 MiB sections). */
  readonly multipleOf?: number;
}

/** Bounds of a numeric parameter. */
export interface ParamBounds {
  /** Smallest value. */
  readonly min?: number;
  /** Largest value. */
  readonly max?: number;
  /** The value must be a multiple of this. */
  readonly multipleOf?: number;
}

/** Names of the scenario builders. */
export const SCENARIO_NAMES = [
  "hypervisor",
  "test_kho",
  "dense",
  "uniform",
  "clustered",
  "ladder",
] as const;

/** A scenario name. */
export type ScenarioName = typeof SCENARIO_NAMES[number];

/** A built scenario: the machine, the first kernel and what it will preserve. */
export interface ScenarioInstance {
  /** Scenario name. */
  readonly scenario: ScenarioName;
  /** Profile of the kernels. */
  readonly profile: ProfileName;
  /** Resolved parameters. */
  readonly params: ScenarioParams;
  /** Seed it was built from. */
  readonly seed: number;
  /** The machine. */
  readonly machine: Machine;
  /** The cold-booted first kernel. */
  readonly kernel: Kernel;
  /** Boot options of the successor (passed to `kexec`). */
  readonly bootOptions: BootOptions;
  /** The groups of objects to preserve. */
  readonly workloads: readonly Workload[];
  /** Errors met while building (e.g. memory too short for every guest folio). */
  readonly tally: Tally;
  /**
   * Where the scenario drew preserved blocks at random, as data: the domains the
   * information floor counts (`lib/metrics/floor.ts`). Blocks placed by the allocator or
   * fixed by a parameter have none.
   */
  readonly domains: readonly PlacementDomain[];
}

/** A scenario builder with its parameters. */
export interface ScenarioSpec {
  /** Name. */
  readonly name: ScenarioName;
  /** One line of documentation. */
  readonly summary: string;
  /** Parameters, with defaults. */
  readonly params: readonly ParamSpec[];
  /** Builds the scenario for a profile from resolved parameters and a seed. */
  build(profile: ProfileName, params: ScenarioParams, seed: number): ScenarioInstance;
  /** Bytes of the machine the scenario powers on for resolved parameters. */
  machineBytes(params: ScenarioParams): number;
}

const p = (
  name: string,
  type: ParamType,
  dflt: ParamValue,
  doc: string,
  choicesOrBounds?: readonly string[] | ParamBounds,
): ParamSpec =>
  Object.freeze({
    name,
    type,
    default: dflt,
    doc,
    ...(Array.isArray(choicesOrBounds)
      ? { choices: choicesOrBounds as readonly string[] }
      : choicesOrBounds as ParamBounds | undefined),
  });

/** Largest simulated machine: 64 TiB (the physical memory's limit). */
const MACHINE_MAX_BYTES = 64 * TiB;
const SECTION = 128 * 1024 * 1024;
const RAM: ParamBounds = { min: 256 * 1024 * 1024, max: MACHINE_MAX_BYTES, multipleOf: SECTION };
const NODES: ParamBounds = { min: 1, max: 64 };
const ORDER: ParamBounds = { min: 0, max: 18 };
const ZERO_ONE: ParamBounds = { min: 0, max: 1 };
const MEMMAP: ParamBounds = { min: 0, max: 256 };
/** Host sizes of the ladder (kho-facts §18.1): 512 GiB, 1, 2, 6, 12, 24, 32 TiB. */
export const LADDER_HOST_BYTES: readonly number[] = [
  512 * GiB,
  TiB,
  2 * TiB,
  6 * TiB,
  12 * TiB,
  24 * TiB,
  32 * TiB,
];

/**
 * The kernel configuration of both kernels (`BootOptions.config`), 0 or 1 each: every scenario
 * has them. A kdump kernel is not a scenario parameter (a crash kexec hands nothing over once
 * KHO is fixed).
 */
const CONFIG_PARAMS: readonly ParamSpec[] = [
  p(
    "khoDebug",
    "int",
    0,
    "CONFIG_KEXEC_HANDOVER_DEBUG: kho_scratch_overlap checks (0/1)",
    ZERO_ONE,
  ),
  p(
    "deferredStructPageInit",
    "int",
    0,
    "CONFIG_DEFERRED_STRUCT_PAGE_INIT (0/1; needs a profile with kho_get_preserved_page)",
    ZERO_ONE,
  ),
  p(
    "strict",
    "int",
    0,
    "kholab's strict handover checks instead of the kernel's verdict (0/1)",
    ZERO_ONE,
  ),
];

const HYPERVISOR_PARAMS: readonly ParamSpec[] = [
  p("ramBytes", "size", TiB, "RAM for guests and the pool (the machine adds headroomBytes)", RAM),
  p("headroomBytes", "size", 8 * GiB, "extra RAM for the kernel, scratch and allocations", {
    max: MACHINE_MAX_BYTES,
    multipleOf: SECTION,
  }),
  p("nodes", "int", 2, "NUMA nodes", NODES),
  p("guestFolios", "count", 1008, "1 GiB guest folios in total"),
  p("vms", "int", 8, "guest memory files (the folios are shared out evenly)", { min: 1 }),
  p("guestClient", "enum", "memfd", "how guest memory is preserved", ["memfd", "folio"]),
  p("poolBytes", "size", 16 * GiB, "hypervisor pool holding the IOMMU page-table pages"),
  p("iommuPages", "count", 1048576, "preserved order-0 pages in the pool"),
  p("iommuEveryBytes", "size", 0, "density instead of a count: one page per this many bytes"),
  p("iommuPlacement", "enum", "uniform", "placement in the pool", ["uniform", "clustered"]),
  p("iommuClusterPages", "int", 64, "pages per cluster when clustered", { min: 1 }),
  p("vmallocBuffers", "int", 8, "vmalloc buffers preserved with kho_preserve_vmalloc", { min: 0 }),
  p("vmallocBytes", "size", 1024 * 1024, "bytes per vmalloc buffer"),
  p("dmaBlocks", "int", 16, "DMA-style high-order blocks (kho_preserve_pages)", { min: 0 }),
  p("dmaOrder", "int", 9, "order of each DMA block", { min: 0, max: 10 }),
  p("scratch", "string", "64M,512M,256M", "kho_scratch= (lowmem,global,pernode or N%)"),
  p("memmapBytesPerPage", "int", 0, "struct page bytes charged to memblock", MEMMAP),
  p("poison", "int", 1, "poison memory handed to the allocator (0/1)", ZERO_ONE),
  ...CONFIG_PARAMS,
];

const SMALL_COMMON: readonly ParamSpec[] = [
  p("memmapBytesPerPage", "int", 64, "struct page bytes charged to memblock", MEMMAP),
  p("scratch", "string", "", "kho_scratch= (empty: the kernel default)"),
  p("poison", "int", 1, "poison memory handed to the allocator (0/1)", ZERO_ONE),
  ...CONFIG_PARAMS,
];

/** Every scenario builder, by name. */
export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioSpec>> = {
  hypervisor: {
    name: "hypervisor",
    summary: "a virtualisation host: 1 GiB guest folios via memfd, IOMMU pages in a pool, " +
      "vmalloc buffers, DMA blocks",
    params: HYPERVISOR_PARAMS,
    build: buildHypervisor,
    machineBytes: (ps) => num(ps, "ramBytes") + num(ps, "headroomBytes"),
  },
  test_kho: {
    name: "test_kho",
    summary: "lib/test_kho.c: random-order folios and their vmalloc'd list",
    params: [
      p("ramBytes", "size", 4 * GiB, "RAM", RAM),
      p("nodes", "int", 1, "NUMA nodes", NODES),
      p("maxMemBytes", "size", 8 * 1024 * 1024, "the module's max_mem"),
      ...SMALL_COMMON,
    ],
    build: buildTestKho,
    machineBytes: (ps) => num(ps, "ramBytes"),
  },
  dense: {
    name: "dense",
    summary: "a band of RAM fully preserved in blocks of one order (default: order-0 pages)",
    params: [
      p("ramBytes", "size", 32 * GiB, "RAM", RAM),
      p("nodes", "int", 1, "NUMA nodes", NODES),
      p("bandStartBytes", "size", 4 * GiB, "first byte of the band"),
      p("bandBytes", "size", 16 * GiB, "size of the band"),
      p("bandOrder", "int", 0, "order of each preserved block", ORDER),
      ...SMALL_COMMON,
    ],
    build: buildDense,
    machineBytes: (ps) => num(ps, "ramBytes"),
  },
  uniform: {
    name: "uniform",
    summary: "order-0 pages at uniformly random free places over all RAM",
    params: [
      p("ramBytes", "size", 16 * GiB, "RAM", RAM),
      p("nodes", "int", 2, "NUMA nodes", NODES),
      p("pages", "count", 65536, "preserved pages"),
      ...SMALL_COMMON,
    ],
    build: buildUniform,
    machineBytes: (ps) => num(ps, "ramBytes"),
  },
  clustered: {
    name: "clustered",
    summary: "order-0 pages at random inside one window per NUMA node",
    params: [
      p("ramBytes", "size", 16 * GiB, "RAM", RAM),
      p("nodes", "int", 2, "NUMA nodes", NODES),
      p("pages", "count", 65536, "preserved pages (shared out over the nodes)"),
      p("windowBytes", "size", GiB, "size of each node's window"),
      ...SMALL_COMMON,
    ],
    build: buildClustered,
    machineBytes: (ps) => num(ps, "ramBytes"),
  },
  ladder: {
    name: "ladder",
    summary: "the hypervisor scenario scaled to a host size (512 GiB … 32 TiB)",
    params: [
      p("hostBytes", "size", TiB, "host RAM (guests + pool; headroom is added)", {
        min: GiB,
        max: 56 * TiB,
        multipleOf: SECTION,
      }),
      p("nodes", "int", 0, "NUMA nodes (0: 2 up to 2 TiB, 4 up to 12 TiB, else 8)", {
        min: 0,
        max: 64,
      }),
      p("poolBytesPerTiB", "size", 16 * GiB, "hypervisor pool per TiB of host"),
      p(
        "iommuPagesPerTiB",
        "count",
        65536,
        "preserved order-0 pages per TiB of host (between 2 MiB IOPTEs, ~1 Ki/TiB, and 4 KiB " +
          "IOPTEs, ~512 Ki/TiB; denser uniform placement at 32 TiB exceeds the simulated " +
          "buddy allocator's 2^24 free blocks)",
      ),
      p("iommuPlacement", "enum", "uniform", "placement in the pool", ["uniform", "clustered"]),
      p("guestClient", "enum", "memfd", "how guest memory is preserved", ["memfd", "folio"]),
      p("poison", "int", 1, "poison memory handed to the allocator (0/1)", ZERO_ONE),
      ...CONFIG_PARAMS,
    ],
    build: buildLadder,
    machineBytes: (ps) => {
      const h = ladderHypervisorParams(ps);
      return num(h, "ramBytes") + num(h, "headroomBytes");
    },
  },
};

/** The builder of a scenario. Throws RangeError for an unknown name. */
export function getScenario(name: string): ScenarioSpec {
  const s = (SCENARIOS as Record<string, ScenarioSpec>)[name];
  if (!s) throw new RangeError(`unknown scenario "${name}" (known: ${SCENARIO_NAMES.join(", ")})`);
  return s;
}

/** Parses a parameter value written as text (`16G`, `1Mi`, `uniform`). */
export function parseParam(spec: ParamSpec, text: string): ParamValue {
  switch (spec.type) {
    case "size":
      return parseSize(text);
    case "count":
      return parseCount(text);
    case "int": {
      const n = Number(text);
      if (!Number.isSafeInteger(n)) throw new SyntaxError(`${spec.name}: not an integer: ${text}`);
      return n;
    }
    case "enum":
      if (!spec.choices!.includes(text)) {
        throw new RangeError(`${spec.name}: "${text}" is not one of ${spec.choices!.join(", ")}`);
      }
      return text;
    case "string":
      return text;
  }
}

/**
 * Every parameter of `scenario` with a value: the defaults overridden by `given` (values, or
 * text that is parsed). Throws RangeError for an unknown parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveParams } from "./scenarios.ts";
 * const p = resolveParams("hypervisor", { ramBytes: "64G", guestFolios: 40 });
 * assert.equal(p.ramBytes, 64 * 2 ** 30);
 * assert.equal(p.nodes, 2);
 * ```
 */
export function resolveParams(
  scenario: string,
  given: Readonly<Record<string, ParamValue>> = {},
): ScenarioParams {
  const spec = getScenario(scenario);
  const out: ScenarioParams = {};
  for (const ps of spec.params) out[ps.name] = ps.default;
  for (const [k, v] of Object.entries(given)) {
    const ps = spec.params.find((x) => x.name === k);
    if (!ps) {
      throw new RangeError(
        `scenario ${scenario} has no parameter "${k}" (has: ${
          spec.params.map((x) => x.name).join(", ")
        })`,
      );
    }
    out[k] = typeof v === "string" && ps.type !== "string" && ps.type !== "enum"
      ? parseParam(ps, v)
      : v;
    if (ps.type === "enum") parseParam(ps, String(v));
    checkParamValue(ps, out[k]);
  }
  const machine = spec.machineBytes(out);
  const nodes = num(out, "nodes") || 1;
  if (machine > MACHINE_MAX_BYTES) {
    throw new RangeError(
      `scenario ${scenario}: a machine of ${formatSize(machine)} is larger than 64 TiB`,
    );
  }
  if (machine < nodes * SECTION) {
    throw new RangeError(
      `scenario ${scenario}: ${nodes} nodes need at least ${nodes * 128} MiB of RAM, ` +
        `the machine has ${formatSize(machine)}`,
    );
  }
  return out;
}

/**
 * Checks a parameter's value against its type and bounds; throws RangeError naming it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkParamValue, getScenario } from "./scenarios.ts";
 * const nodes = getScenario("uniform").params.find((p) => p.name === "nodes")!;
 * assert.throws(() => checkParamValue(nodes, 1.5), /nodes=1\.5: not an integer/);
 * assert.throws(() => checkParamValue(nodes, 65), /nodes=65: at most 64/);
 * ```
 */
export function checkParamValue(spec: ParamSpec, value: ParamValue): void {
  if (spec.type === "enum" || spec.type === "string") {
    if (typeof value !== "string") {
      throw new RangeError(`${spec.name}=${value}: expected text`);
    }
    if (spec.type === "enum") parseParam(spec, value);
    return;
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new RangeError(`${spec.name}=${value}: not an integer`);
  }
  if (spec.min !== undefined && value < spec.min) {
    throw new RangeError(`${spec.name}=${value}: at least ${paramText(spec, spec.min)}`);
  }
  if (spec.min === undefined && value < 0) {
    throw new RangeError(`${spec.name}=${value}: not negative`);
  }
  if (spec.max !== undefined && value > spec.max) {
    throw new RangeError(`${spec.name}=${value}: at most ${paramText(spec, spec.max)}`);
  }
  if (spec.multipleOf !== undefined && value % spec.multipleOf !== 0) {
    throw new RangeError(
      `${spec.name}=${value}: a multiple of ${paramText(spec, spec.multipleOf)}`,
    );
  }
}

function paramText(spec: ParamSpec, v: number): string {
  return spec.type === "size" ? formatSize(v) : String(v);
}

/** Builds a scenario for a profile (parameters as for {@link resolveParams}). */
export function buildScenario(
  scenario: string,
  options: { profile: ProfileName; params?: Readonly<Record<string, ParamValue>>; seed?: number },
): ScenarioInstance {
  const spec = getScenario(scenario);
  return spec.build(options.profile, resolveParams(scenario, options.params), options.seed ?? 1);
}

// ------------------------------------------------------------------ helpers

const num = (ps: ScenarioParams, k: string) => ps[k] as number;

/** The kernel configuration of a scenario's kernels from its 0/1 parameters. */
export function bootConfigOf(ps: ScenarioParams): BootConfig {
  return {
    khoDebug: num(ps, "khoDebug") !== 0,
    deferredStructPageInit: num(ps, "deferredStructPageInit") !== 0,
    strict: num(ps, "strict") !== 0,
  };
}
const str = (ps: ScenarioParams, k: string) => ps[k] as string;

function boot(
  profile: ProfileName,
  ps: ScenarioParams,
  machineBytes: number,
): { machine: Machine; kernel: Kernel; bootOptions: BootOptions } {
  const machine = new Machine({ ramBytes: machineBytes, nodes: num(ps, "nodes") });
  const scratch = str(ps, "scratch");
  const bootOptions: BootOptions = {
    cmdline: scratch ? `kho=on kho_scratch=${scratch}` : "kho=on",
    profile,
    memmapBytesPerPage: num(ps, "memmapBytesPerPage"),
    poison: num(ps, "poison") !== 0,
    config: bootConfigOf(ps),
  };
  return { machine, kernel: Kernel.coldBoot(machine, bootOptions), bootOptions };
}

/** Fills each page with content seeded by its pfn and the scenario seed. */
function fillPages(kernel: Kernel, pfns: Float64Array, seed: number): void {
  const mem = kernel.machine.mem;
  for (const pfn of pfns) {
    mem.fill(pfn * PAGE_SIZE, PAGE_SIZE, {
      pattern: (Math.imul(pfn | 0, 0x9e3779b1) ^ seed) >>> 0,
    });
  }
}

function instance(
  scenario: ScenarioName,
  profile: ProfileName,
  params: ScenarioParams,
  seed: number,
  booted: { machine: Machine; kernel: Kernel; bootOptions: BootOptions },
  workloads: Workload[],
  tally: Tally,
  domains: PlacementDomain[] = [],
): ScenarioInstance {
  return { scenario, profile, params, seed, ...booted, workloads, tally, domains };
}

// ------------------------------------------------------------------ hypervisor

function buildHypervisor(
  profile: ProfileName,
  ps: ScenarioParams,
  seed: number,
  scenario: ScenarioName = "hypervisor",
): ScenarioInstance {
  const tally = new Tally();
  const rng = new Rng(seed);
  const booted = boot(profile, ps, num(ps, "ramBytes") + num(ps, "headroomBytes"));
  const k1 = booted.kernel;
  const mem = booted.machine.mem;
  const workloads: Workload[] = [];
  const domains: PlacementDomain[] = [];

  // The pool first: one naturally aligned contiguous allocation.
  const poolPages = Math.floor(num(ps, "poolBytes") / PAGE_SIZE);
  if (poolPages > 0) {
    const order = Math.ceil(Math.log2(poolPages));
    let pool: number | null = null;
    let poolNid = -1;
    for (let nid = 0; nid < booted.machine.topology.nodes && pool === null; nid++) {
      pool = k1.buddy.findFreeRange(nid, order);
      poolNid = nid;
    }
    if (pool === null || !allocContigRange(k1.buddy, pool, pool + poolPages)) {
      tally.error("pool", new KhoError("ENOMEM", "no pool"));
    } else {
      const every = num(ps, "iommuEveryBytes");
      const count = Math.min(
        poolPages,
        every > 0 ? Math.floor(num(ps, "poolBytes") / every) : num(ps, "iommuPages"),
      );
      const r = rng.fork("iommu");
      const clustered = str(ps, "iommuPlacement") === "clustered";
      const offsets = clustered
        ? sampleClustered(r, poolPages, count, num(ps, "iommuClusterPages"))
        : sampleDistinct(r, poolPages, count);
      const pfns = offsets.map((o) => o + pool!);
      fillPages(k1, pfns, seed);
      workloads.push(new FolioSet("iommu", k1, pfns, 0));
      const draw = clustered
        ? clusteredDraw(poolPages, count, num(ps, "iommuClusterPages"))
        : { unitPages: 1, places: poolPages, chosen: pfns.length };
      domains.push({
        workload: "iommu",
        order: 0,
        nid: poolNid,
        startBytes: pool * PAGE_SIZE,
        endBytes: (pool + poolPages) * PAGE_SIZE,
        ...draw,
        blocks: pfns.length,
        what: `the ${formatSize(poolPages * PAGE_SIZE)} hypervisor pool`,
      });
    }
  }

  // Guest memory: 1 GiB folios, in memfd files (or plain folios).
  const total = num(ps, "guestFolios");
  const vms = Math.max(1, num(ps, "vms"));
  const nodes = booted.machine.topology.nodes;
  const gr = rng.fork("guests");
  if (str(ps, "guestClient") === "memfd") {
    const files: MemfdFile[] = [];
    for (let v = 0; v < vms; v++) {
      const n = Math.floor(total / vms) + (v < total % vms ? 1 : 0);
      if (n === 0) continue;
      try {
        const f = memfdCreate(k1, `vm${v}`, n * GiB, { folioOrder: 18, nid: v % nodes });
        for (const fo of f.folios) mem.fill(fo.pfn * PAGE_SIZE, GiB, { pattern: gr.u32() });
        files.push(f);
      } catch (e) {
        tally.error("guests", e);
        break;
      }
    }
    if (files.length > 0) workloads.push(new MemfdSet("guests", k1, files));
  } else {
    const pfns: number[] = [];
    for (let i = 0; i < total; i++) {
      const pfn = allocGigantic(k1.buddy, 18, i % nodes);
      if (pfn === null) {
        tally.error("guests", new KhoError("ENOMEM", "no 1 GiB folio"));
        break;
      }
      mem.fill(pfn * PAGE_SIZE, GiB, { pattern: gr.u32() });
      pfns.push(pfn);
    }
    workloads.push(new FolioSet("guests", k1, Float64Array.from(pfns), 18));
  }

  // vmalloc buffers.
  const vr = rng.fork("vmalloc");
  const vbytes = num(ps, "vmallocBytes");
  const addrs: number[] = [];
  for (let i = 0; i < num(ps, "vmallocBuffers"); i++) {
    const a = k1.vmalloc.vmalloc(vbytes);
    if (a === null) {
      tally.error("vmalloc", new KhoError("ENOMEM", "vmalloc"));
      break;
    }
    k1.vmalloc.fill(a, vbytes, { pattern: vr.u32() });
    addrs.push(a);
  }
  if (addrs.length > 0) workloads.push(new VmallocSet("vmalloc", k1, addrs, vbytes));

  // DMA-style high-order blocks.
  const dorder = num(ps, "dmaOrder");
  const dr = rng.fork("dma");
  const starts: number[] = [];
  for (let i = 0; i < num(ps, "dmaBlocks"); i++) {
    const pfn = k1.buddy.allocPages(dorder);
    if (pfn === null) {
      tally.error("dma", new KhoError("ENOMEM", "dma block"));
      break;
    }
    mem.fill(pfn * PAGE_SIZE, 2 ** dorder * PAGE_SIZE, { pattern: dr.u32() });
    starts.push(pfn);
  }
  starts.sort((a, b) => a - b);
  if (starts.length > 0) {
    workloads.push(new RangeSet("dma", k1, Float64Array.from(starts), 2 ** dorder));
  }
  return instance(scenario, profile, ps, seed, booted, workloads, tally, domains);
}

/** Nodes of a ladder host: 2 up to 2 TiB, 4 up to 12 TiB, 8 above. */
export function ladderNodes(hostBytes: number): number {
  return hostBytes <= 2 * TiB ? 2 : hostBytes <= 12 * TiB ? 4 : 8;
}

/** The hypervisor parameters of a ladder rung. */
export function ladderHypervisorParams(ps: ScenarioParams): ScenarioParams {
  const host = num(ps, "hostBytes");
  const tib = host / TiB;
  const nodes = num(ps, "nodes") || ladderNodes(host);
  const poolBytes = Math.max(
    4 * 1024 * 1024,
    Math.round(num(ps, "poolBytesPerTiB") * tib / (4 * 1024 * 1024)) * 4 * 1024 * 1024,
  );
  return resolveParams("hypervisor", {
    ramBytes: host,
    headroomBytes: 8 * GiB + nodes * GiB,
    nodes,
    guestFolios: Math.floor((host - poolBytes) / GiB),
    vms: Math.max(8, Math.ceil(tib) * 4),
    guestClient: str(ps, "guestClient"),
    poolBytes,
    iommuPages: Math.round(num(ps, "iommuPagesPerTiB") * tib),
    iommuPlacement: str(ps, "iommuPlacement"),
    poison: num(ps, "poison"),
    khoDebug: num(ps, "khoDebug"),
    deferredStructPageInit: num(ps, "deferredStructPageInit"),
    strict: num(ps, "strict"),
  });
}

function buildLadder(profile: ProfileName, ps: ScenarioParams, seed: number): ScenarioInstance {
  const inst = buildHypervisor(profile, ladderHypervisorParams(ps), seed, "ladder");
  return { ...inst, params: ps };
}

// ------------------------------------------------------------------ small scenarios

function buildTestKho(profile: ProfileName, ps: ScenarioParams, seed: number): ScenarioInstance {
  const booted = boot(profile, ps, num(ps, "ramBytes"));
  return instance(
    "test_kho",
    profile,
    ps,
    seed,
    booted,
    [new TestKhoWorkload(num(ps, "maxMemBytes"), seed)],
    new Tally(),
  );
}

function buildDense(profile: ProfileName, ps: ScenarioParams, seed: number): ScenarioInstance {
  const tally = new Tally();
  const booted = boot(profile, ps, num(ps, "ramBytes"));
  const k1 = booted.kernel;
  const start = Math.floor(num(ps, "bandStartBytes") / PAGE_SIZE);
  const order = num(ps, "bandOrder");
  const per = 2 ** order;
  const nr = Math.floor(num(ps, "bandBytes") / PAGE_SIZE / per) * per;
  const workloads: Workload[] = [];
  if (start % per !== 0 || nr === 0 || !allocContigRange(k1.buddy, start, start + nr)) {
    tally.error("band", new KhoError("EBUSY", "band not free or misaligned"));
  } else {
    booted.machine.mem.fill(start * PAGE_SIZE, nr * PAGE_SIZE, { pattern: seed >>> 0 });
    const starts = new Float64Array(nr / per);
    for (let i = 0; i < starts.length; i++) starts[i] = start + i * per;
    workloads.push(
      order === 0 ? new FolioSet("band", k1, starts, 0) : new RangeSet("band", k1, starts, per),
    );
  }
  return instance("dense", profile, ps, seed, booted, workloads, tally);
}

function buildUniform(profile: ProfileName, ps: ScenarioParams, seed: number): ScenarioInstance {
  const booted = boot(profile, ps, num(ps, "ramBytes"));
  const k1 = booted.kernel;
  const end = booted.machine.topology.endBytes / PAGE_SIZE;
  const range = { startPfn: 0, endPfn: end };
  const places = randomPageCandidates(k1, range);
  const pfns = allocRandomPages(k1, new Rng(seed).fork("uniform"), range, num(ps, "pages"));
  fillPages(k1, pfns, seed);
  const domain: PlacementDomain = {
    workload: "uniform",
    order: 0,
    nid: -1,
    startBytes: 0,
    endBytes: end * PAGE_SIZE,
    unitPages: 1,
    places,
    chosen: pfns.length,
    blocks: pfns.length,
    what: "the free pages of RAM outside scratch",
  };
  return instance(
    "uniform",
    profile,
    ps,
    seed,
    booted,
    [
      new FolioSet("uniform", k1, pfns, 0),
    ],
    new Tally(),
    [domain],
  );
}

function buildClustered(profile: ProfileName, ps: ScenarioParams, seed: number): ScenarioInstance {
  const booted = boot(profile, ps, num(ps, "ramBytes"));
  const k1 = booted.kernel;
  const topo = booted.machine.topology;
  const rng = new Rng(seed).fork("clustered");
  const windowPages = Math.floor(num(ps, "windowBytes") / PAGE_SIZE);
  const nodes = topo.nodesWithMemory();
  const all: number[] = [];
  const domains: PlacementDomain[] = [];
  nodes.forEach((nid, i) => {
    const share = Math.floor(num(ps, "pages") / nodes.length) +
      (i < num(ps, "pages") % nodes.length ? 1 : 0);
    const ranges = topo.ranges.filter((r) => r.nid === nid);
    const lo = ranges[0].start / PAGE_SIZE;
    const hi = ranges[ranges.length - 1].end / PAGE_SIZE;
    const w = Math.min(windowPages, hi - lo);
    const startPfn = lo + rng.int(Math.max(1, hi - lo - w + 1));
    const window = { startPfn, endPfn: startPfn + w };
    const places = randomPageCandidates(k1, window);
    const drawn = allocRandomPages(k1, rng, window, share);
    all.push(...drawn);
    domains.push({
      workload: "clustered",
      order: 0,
      nid,
      startBytes: startPfn * PAGE_SIZE,
      endBytes: (startPfn + w) * PAGE_SIZE,
      unitPages: 1,
      places,
      chosen: drawn.length,
      blocks: drawn.length,
      what: `a ${formatSize(w * PAGE_SIZE)} window (its free pages outside scratch)`,
    });
  });
  const pfns = Float64Array.from(all).sort();
  fillPages(k1, pfns, seed);
  return instance(
    "clustered",
    profile,
    ps,
    seed,
    booted,
    [
      new FolioSet("clustered", k1, pfns, 0),
    ],
    new Tally(),
    domains,
  );
}

/** A per-point seed from a sweep seed and a point index (stable, worker-independent). */
export function pointSeed(seed: number, pointIndex: number): number {
  return deriveSeed(seed, `point#${pointIndex}`);
}
