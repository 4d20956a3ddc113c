/**
 * The registry of seeded scenario builders: `hypervisor`, `test_kho`, `dense`, `uniform`,
 * `clustered` and the host `ladder`. Each has typed parameters with defaults (settable from
 * TypeScript or as text from a command line) and builds a machine and a cold-booted first
 * kernel for a profile, allocates and fills the memory to preserve, and returns the objects
 * it created as {@link Workload}s that `run.ts` preserves, carries across kexec and verifies.
 *
 * Machine sizing of `hypervisor` (and `ladder`), {@link hypervisorMachine}: `ramBytes` of RAM
 * for guests and the hypervisor pool **plus `headroomBytes`** (default 8 GiB) for the kernel
 * image, the scratch areas and allocations, **plus the struct pages** (`memmapBytesPerPage`,
 * default 64, charged to memblock per node at boot): the first kernel's memmap at the top of
 * each node, and scratch big enough for the successor's (on a KHO boot `sparse_init` runs
 * while memblock allocates from scratch only). `scratch=auto` (the default) is
 * `kho_scratch=64M,512M,P` with `P` a node's memmap + 256 MiB: a 1 TiB host needs about 16 GiB
 * of scratch for struct pages alone — a 200 % scale cannot be used, because the boot-time
 * 1 GiB pages are RSRV_KERN memblock allocations it would double. The hypervisor pool is held
 * from the first instant of the cold boot (`BootOptions.heldRanges`: naturally aligned in node
 * 0) and taken right after it, so that the boot-time HugeTLB pool, the memmap and scratch land
 * elsewhere.
 *
 * Guest memory (`guestClient`): `memfd` — one memory file per VM preserved through LUO, as a
 * VMM does (the kernels boot with `liveupdate=on` and the memfd and HugeTLB handler modules).
 * `guestFolio` 1 GiB (the default) makes hugetlbfs memfds (`MFD_HUGETLB | MFD_HUGE_1GB`) whose
 * pages come from a boot-time pool (`hugepagesz=1G hugepages=N`, HVO with `hvo=1`:
 * `hugetlb_free_vmemmap=on`); ≤ 2 MiB makes shmem memfds (2 MiB: THP folios of order 9, the
 * largest shmem has). Which files a generation can preserve is the profile's capability
 * (`guestMemory`, `lib/kho/profiles.ts`): 1 GiB guests need `hugetlb` (the HugeTLB live update
 * RFC, profile `rfc-2025-12-hugetlb`) — every other generation reports them *unsupported: no
 * hugetlb preservation*, never lost; shmem memfds need LUO's memfd handler (6.19 on).
 * `folio` — the guest folios preserved directly with `kho_preserve_folio`, as an in-kernel
 * client could (any order up to 1 GiB from the buddy allocator at run time, every generation):
 * the tracker-scaling view.
 *
 * @module
 */

import { memfdCreate, type MemfdFile } from "../clients/memfd.ts";
import { MEMFD_LUO_MODULE } from "../clients/memfd_luo.ts";
import { HUGETLB_LUO_MODULE } from "../clients/hugetlb_luo.ts";
import { releaseHeldRanges } from "./pfn_claim.ts";
import { KhoError } from "../errors.ts";
import { allocContigRange, allocGigantic } from "../kernel/gigantic.ts";
import { type BootConfig, Kernel, type KernelOptions } from "../boot/kernel.ts";
import { Machine } from "../machine/machine.ts";
import { Topology } from "../machine/topology.ts";
import type { ProfileName } from "../kho/profiles.ts";
import { deriveSeed, Rng } from "../rng.ts";
import {
  formatSize,
  GiB,
  ilog2,
  MAX_PAGE_ORDER,
  MiB,
  PAGE_SIZE,
  parseCount,
  parseSize,
  PUD_ORDER,
  SECTION_SIZE,
  TiB,
} from "../units.ts";
import { COLD_IMAGE_PHYS, DEFAULT_IMAGE_BYTES } from "../kho/kho.ts";
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
  readonly bootOptions: KernelOptions;
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
  p("guestBytes", "size", 1008 * GiB, "guest memory in total", { max: MACHINE_MAX_BYTES }),
  p(
    "guestFolio",
    "size",
    GiB,
    "guest folio size: 1G (hugetlbfs memfds from the boot-time pool), or 4K..2M (shmem memfds)",
    { min: 4096, max: GiB },
  ),
  p(
    "hvo",
    "int",
    1,
    "hugetlb_free_vmemmap=on (1) / off (0): HVO of the HugeTLB pool (the kernel's Kconfig " +
      "default is off; a host of 1 GiB guests turns it on — kholab's assumption)",
    ZERO_ONE,
  ),
  p("vms", "int", 8, "guests, one memory file each (the memory is shared out in folios)", {
    min: 1,
  }),
  p(
    "guestClient",
    "enum",
    "memfd",
    "memfd: one memfd per guest through LUO; folio: kho_preserve_folio of each guest folio",
    ["memfd", "folio"],
  ),
  p("poolBytes", "size", 16 * GiB, "hypervisor pool holding the IOMMU page-table pages"),
  p("iommuPages", "count", 1048576, "preserved order-0 pages in the pool"),
  p("iommuEveryBytes", "size", 0, "density instead of a count: one page per this many bytes"),
  p("iommuPlacement", "enum", "uniform", "placement in the pool", ["uniform", "clustered"]),
  p("iommuClusterPages", "int", 64, "pages per cluster when clustered", { min: 1 }),
  p("vmallocBuffers", "int", 8, "vmalloc buffers preserved with kho_preserve_vmalloc", { min: 0 }),
  p("vmallocBytes", "size", 1024 * 1024, "bytes per vmalloc buffer"),
  p("dmaBlocks", "int", 16, "DMA-style high-order blocks (kho_preserve_pages)", { min: 0 }),
  p("dmaOrder", "int", 9, "order of each DMA block", { min: 0, max: 10 }),
  p(
    "scratch",
    "string",
    "auto",
    "kho_scratch= (lowmem,global,pernode or N%); auto: 64M,512M and per node its memmap + 256M",
  ),
  p(
    "memmapBytesPerPage",
    "int",
    64,
    "struct page bytes charged to memblock (the machine grows by them; 0: counted only)",
    MEMMAP,
  ),
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
    summary: "a virtualisation host: guest memfds through LUO (1 GiB hugetlbfs pages where the " +
      "profile can preserve them), IOMMU pages in a pool, vmalloc buffers, DMA blocks",
    params: HYPERVISOR_PARAMS,
    build: buildHypervisor,
    machineBytes: (ps) => num(ps, "ramBytes") + num(ps, "headroomBytes"),
  },
  test_kho: smallScenario(
    "test_kho",
    "lib/test_kho.c: random-order folios and their vmalloc'd list",
    { ramBytes: 4 * GiB, nodes: 1 },
    [p("maxMemBytes", "size", 8 * 1024 * 1024, "the module's max_mem")],
    buildTestKho,
  ),
  dense: smallScenario(
    "dense",
    "a band of RAM fully preserved in blocks of one order (default: order-0 pages)",
    { ramBytes: 32 * GiB, nodes: 1 },
    [
      p("bandStartBytes", "size", 4 * GiB, "first byte of the band"),
      p("bandBytes", "size", 16 * GiB, "size of the band"),
      p("bandOrder", "int", 0, "order of each preserved block", ORDER),
    ],
    buildDense,
  ),
  uniform: smallScenario(
    "uniform",
    "order-0 pages at uniformly random free places over all RAM",
    { ramBytes: 16 * GiB, nodes: 2 },
    [p("pages", "count", 65536, "preserved pages")],
    buildUniform,
  ),
  clustered: smallScenario(
    "clustered",
    "order-0 pages at random inside one window per NUMA node",
    { ramBytes: 16 * GiB, nodes: 2 },
    [
      p("pages", "count", 65536, "preserved pages (shared out over the nodes)"),
      p("windowBytes", "size", GiB, "size of each node's window"),
    ],
    buildClustered,
  ),
  ladder: {
    name: "ladder",
    summary: "the hypervisor scenario scaled to a host size (512 GiB … 32 TiB); 1 GiB guest " +
      "folios preserved directly",
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
      p("guestFolio", "size", GiB, "guest folio size (as the hypervisor's guestFolio)", {
        min: 4096,
        max: GiB,
      }),
      p(
        "guestClient",
        "enum",
        "folio",
        "folio: kho_preserve_folio of each guest folio; memfd: through LUO (as hypervisor)",
        ["memfd", "folio"],
      ),
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
 * const p = resolveParams("hypervisor", { ramBytes: "64G", guestBytes: "40G" });
 * assert.equal(p.ramBytes, 64 * 2 ** 30);
 * assert.equal(p.guestFolio, 2 ** 30); // the default: 1 GiB hugetlbfs pages
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
  opts: {
    liveupdate?: boolean;
    scratch?: string;
    extraCmdline?: readonly string[];
    heldRanges?: readonly { start: number; size: number }[];
  } = {},
): Booted {
  const machine = new Machine({ ramBytes: machineBytes, nodes: num(ps, "nodes") });
  const scratch = opts.scratch ?? str(ps, "scratch");
  const cmdline = [
    "kho=on",
    ...(scratch ? [`kho_scratch=${scratch}`] : []),
    ...(opts.liveupdate ? ["liveupdate=on"] : []),
    ...(opts.extraCmdline ?? []),
  ].join(" ");
  const bootOptions: KernelOptions = {
    cmdline,
    profile,
    memmapBytesPerPage: num(ps, "memmapBytesPerPage"),
    poison: num(ps, "poison") !== 0,
    config: bootConfigOf(ps),
    ...(opts.liveupdate ? { modules: [MEMFD_LUO_MODULE, HUGETLB_LUO_MODULE] } : {}),
  };
  const kernel = Kernel.coldBoot(machine, { ...bootOptions, heldRanges: opts.heldRanges });
  return { machine, kernel, bootOptions };
}

/**
 * Fills each page with content seeded by its pfn and the scenario seed (the pattern of seed
 * `pageSeed(seed, pfn)`): one content descriptor for all of them.
 */
function fillPages(kernel: Kernel, pfns: Float64Array, seed: number): void {
  const mem = kernel.machine.mem;
  const spec = { pagePattern: seed >>> 0 };
  for (const pfn of pfns) mem.fill(pfn * PAGE_SIZE, PAGE_SIZE, spec);
}

/** A scenario's machine, its cold-booted first kernel and the successor's boot options. */
type Booted = { machine: Machine; kernel: Kernel; bootOptions: KernelOptions };

/** What a small scenario's builder adds to its booted machine. */
interface SmallBuild {
  workloads: Workload[];
  tally?: Tally;
  domains?: PlacementDomain[];
}

/**
 * A small scenario: a machine of `ramBytes` on `nodes` NUMA nodes (the defaults of its first
 * two parameters), then its own parameters and the common ones; `make` fills the booted
 * machine with what it preserves.
 */
function smallScenario(
  name: ScenarioName,
  summary: string,
  machine: { ramBytes: number; nodes: number },
  own: readonly ParamSpec[],
  make: (booted: Booted, ps: ScenarioParams, seed: number) => SmallBuild,
): ScenarioSpec {
  return {
    name,
    summary,
    params: [
      p("ramBytes", "size", machine.ramBytes, "RAM", RAM),
      p("nodes", "int", machine.nodes, "NUMA nodes", NODES),
      ...own,
      ...SMALL_COMMON,
    ],
    build: (profile, ps, seed) => {
      const booted = boot(profile, ps, num(ps, "ramBytes"));
      const { workloads, tally = new Tally(), domains = [] } = make(booted, ps, seed);
      return { scenario: name, profile, params: ps, seed, ...booted, workloads, tally, domains };
    },
    machineBytes: (ps) => num(ps, "ramBytes"),
  };
}

// ------------------------------------------------------------------ hypervisor

/** Bytes of struct pages (`perPage` each) of `bytes` of RAM, page-rounded as `sparse_init`. */
function memmapBytes(bytes: number, perPage: number): number {
  return Math.ceil(bytes / PAGE_SIZE * perPage / PAGE_SIZE) * PAGE_SIZE;
}

/**
 * The machine of a hypervisor scenario and its `kho_scratch=`: `ramBytes + headroomBytes`,
 * plus, when struct pages are charged (`memmapBytesPerPage` > 0), the first kernel's memmap
 * and the scratch that holds the successor's (explicit `lowmem,global,pernode` sizes count;
 * `N%` adds nothing). `scratch=auto` is `64M,512M,P`, `P` = a node's memmap + 256 MiB rounded
 * up to 2 MiB. The size is a whole number of sections per node.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hypervisorMachine, resolveParams } from "./scenarios.ts";
 * const m = hypervisorMachine(resolveParams("hypervisor"));
 * // 1 TiB + 8 GiB, its 16.7 GiB of struct pages, and 17.7 GiB of scratch that can hold them again:
 * // a node (533 GiB) has 8532 MiB of struct pages, + 256 MiB.
 * assert.equal(m.scratch, "64M,512M,8788M");
 * assert.ok(m.machineBytes > 1066 * 2 ** 30 && m.machineBytes < 1068 * 2 ** 30);
 * ```
 */
export function hypervisorMachine(ps: ScenarioParams): { machineBytes: number; scratch: string } {
  const nodes = num(ps, "nodes");
  const perPage = num(ps, "memmapBytesPerPage");
  const base = num(ps, "ramBytes") + num(ps, "headroomBytes");
  const given = str(ps, "scratch");
  const auto = given === "auto";
  const unit = nodes * SECTION_SIZE;
  const round = (b: number) => Math.ceil(b / unit) * unit;
  const pernodeOf = (m: number) =>
    Math.ceil((memmapBytes(m / nodes, perPage) + 256 * MiB) / (2 * MiB)) * 2 * MiB;
  const scratchOf = (m: number): number => {
    if (auto) return 64 * MiB + 512 * MiB + nodes * pernodeOf(m);
    const parts = given.split(",");
    if (parts.length !== 3) return 0;
    const [lo, gl, pn] = parts.map((x) => parseSize(x));
    return lo + gl + nodes * pn;
  };
  let m = round(base);
  if (perPage > 0) {
    for (let i = 0; i < 8; i++) {
      m = round(base + nodes * memmapBytes(m / nodes, perPage) + scratchOf(m));
    }
  }
  const scratch = !auto ? given : perPage > 0 ? `64M,512M,${pernodeOf(m) / MiB}M` : "64M,512M,256M";
  return { machineBytes: m, scratch };
}

/**
 * Where the hypervisor pool goes: `pages` naturally aligned (to the power of two above) in node
 * 0 above the cold kernel's image, or null when node 0 cannot hold it.
 */
function poolRange(topology: Topology, pages: number): { start: number; size: number } | null {
  const alignBytes = 2 ** Math.ceil(Math.log2(pages)) * PAGE_SIZE;
  const low = COLD_IMAGE_PHYS + DEFAULT_IMAGE_BYTES;
  const size = pages * PAGE_SIZE;
  for (const r of topology.ranges) {
    if (r.nid !== 0) continue;
    const start = Math.ceil(Math.max(r.start, low) / alignBytes) * alignBytes;
    if (start + size <= r.end) return { start, size };
  }
  return null;
}

/**
 * `hugepages=NID:N,…` for `total` 1 GiB pages, as an operator sizes it: each node keeps room
 * for its memmap, its scratch (`kho_scratch=`'s pernode, reserved after the boot-time pool,
 * in one piece) and — node 0 — the held pool, the global scratch and the memory below 4 GiB
 * (the kernel and the lowmem scratch split it); 1 GiB more per node for what does not align. The nodes are filled in order; null when the
 * machine cannot hold `total`.
 */
function hugepagesPerNode(
  topology: Topology,
  ps: ScenarioParams,
  scratch: string,
  poolBytes: number,
  total: number,
): string | null {
  const parts = scratch.split(",");
  const [lowmem, global, pernode] = parts.length === 3 ? parts.map((x) => parseSize(x)) : [0, 0, 0];
  const perPage = num(ps, "memmapBytesPerPage");
  let left = total;
  const out: string[] = [];
  for (const nid of topology.nodesWithMemory()) {
    const bytes = topology.nodeBytes(nid);
    let avail = bytes - memmapBytes(bytes, perPage) - pernode - GiB;
    if (nid === 0) avail -= poolBytes + lowmem + global + 4 * GiB;
    const n = Math.min(left, Math.max(0, Math.floor(avail / GiB)));
    if (n > 0) out.push(`${nid}:${n}`);
    left -= n;
  }
  return left > 0 ? null : out.join(",");
}

function buildHypervisor(
  profile: ProfileName,
  ps: ScenarioParams,
  seed: number,
  scenario: ScenarioName = "hypervisor",
): ScenarioInstance {
  const tally = new Tally();
  const rng = new Rng(seed);
  const memfd = str(ps, "guestClient") === "memfd";
  const folioBytes = num(ps, "guestFolio");
  const folioOrder = guestFolioOrder(folioBytes, memfd);
  const total = Math.floor(num(ps, "guestBytes") / folioBytes);
  const hugetlb = memfd && folioOrder === PUD_ORDER;
  const sizing = hypervisorMachine(ps);
  // The pool's place is fixed before the boot and held from its first instant.
  const poolPages = Math.floor(num(ps, "poolBytes") / PAGE_SIZE);
  const topology = new Topology({ ramBytes: sizing.machineBytes, nodes: num(ps, "nodes") });
  const held = poolPages > 0 ? poolRange(topology, poolPages) : null;
  const perNode = hugetlb
    ? hugepagesPerNode(topology, ps, sizing.scratch, held?.size ?? 0, total) ?? String(total)
    : "";
  const booted = boot(profile, ps, sizing.machineBytes, {
    liveupdate: memfd,
    scratch: sizing.scratch,
    extraCmdline: [
      ...(hugetlb ? [`hugepagesz=1G hugepages=${perNode}`] : []),
      `hugetlb_free_vmemmap=${num(ps, "hvo") !== 0 ? "on" : "off"}`,
    ],
    heldRanges: held === null ? [] : [held],
  });
  const k1 = booted.kernel;
  const mem = booted.machine.mem;
  const workloads: Workload[] = [];
  const domains: PlacementDomain[] = [];

  // The pool first: the held range, one contiguous allocation.
  if (poolPages > 0) {
    const pool = held === null ? null : held.start / PAGE_SIZE;
    if (pool !== null) releaseHeldRanges(k1, [held!]);
    if (pool === null || !allocContigRange(k1.buddy, pool, pool + poolPages)) {
      tally.error("pool", new KhoError("ENOMEM", "no pool"));
    } else {
      const poolNid = booted.machine.topology.nidOfPfn(pool);
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

  // Guest memory: one memfd per guest (preserved through LUO), or plain folios.
  const vms = Math.max(1, num(ps, "vms"));
  const nodes = booted.machine.topology.nodes;
  const gr = rng.fork("guests");
  if (memfd) {
    const files: MemfdFile[] = [];
    for (let v = 0; v < vms; v++) {
      const n = Math.floor(total / vms) + (v < total % vms ? 1 : 0);
      if (n === 0) continue;
      const f = memfdCreate(
        k1,
        `vm${v}`,
        folioOrder > MAX_PAGE_ORDER
          ? { hugetlb: folioBytes, nid: v % nodes }
          : { folioOrder, nid: v % nodes },
      );
      try {
        f.fill(0, n * folioBytes, { pattern: gr.u32() });
        files.push(f);
      } catch (e) {
        f.close();
        tally.error("guests", e);
        break;
      }
    }
    if (files.length > 0) workloads.push(new MemfdSet("guests", files));
  } else {
    const pfns: number[] = [];
    for (let i = 0; i < total; i++) {
      const pfn = folioOrder > MAX_PAGE_ORDER
        ? allocGigantic(k1.buddy, folioOrder, i % nodes)
        : k1.buddy.folioAlloc(folioOrder, { nid: i % nodes });
      if (pfn === null) {
        tally.error("guests", new KhoError("ENOMEM", `no ${folioBytes}-byte guest folio`));
        break;
      }
      mem.fill(pfn * PAGE_SIZE, folioBytes, { pattern: gr.u32() });
      pfns.push(pfn);
    }
    if (pfns.length > 0) {
      workloads.push(new FolioSet("guests", k1, Float64Array.from(pfns), folioOrder));
    }
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
  return { scenario, profile, params: ps, seed, ...booted, workloads, tally, domains };
}

/**
 * The order of a guest folio size: a power of two from 4 KiB to 2 MiB (shmem memfd folios are
 * at most PMD order, 9), or 1 GiB (a hugetlb memfd, or a gigantic folio). RangeError else.
 */
export function guestFolioOrder(bytes: number, memfd: boolean): number {
  const order = bytes >= PAGE_SIZE && 2 ** ilog2(bytes) === bytes ? ilog2(bytes / PAGE_SIZE) : -1;
  if (order >= 0 && (order <= 9 || order === 18 || (!memfd && order <= MAX_PAGE_ORDER))) {
    return order;
  }
  throw new RangeError(
    `guestFolio ${bytes}: 4K..2M (a shmem memfd's folios are at most order 9) or 1G` +
      (memfd ? "" : " (or up to 4M for plain folios)"),
  );
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
    guestBytes: Math.floor((host - poolBytes) / GiB) * GiB,
    guestFolio: num(ps, "guestFolio"),
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

function buildTestKho(_: Booted, ps: ScenarioParams, seed: number): SmallBuild {
  return { workloads: [new TestKhoWorkload(num(ps, "maxMemBytes"), seed)] };
}

function buildDense(booted: Booted, ps: ScenarioParams, seed: number): SmallBuild {
  const tally = new Tally();
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
  return { workloads, tally };
}

function buildUniform(booted: Booted, ps: ScenarioParams, seed: number): SmallBuild {
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
  return { workloads: [new FolioSet("uniform", k1, pfns, 0)], domains: [domain] };
}

function buildClustered(booted: Booted, ps: ScenarioParams, seed: number): SmallBuild {
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
  return { workloads: [new FolioSet("clustered", k1, pfns, 0)], domains };
}

/** A per-point seed from a sweep seed and a point index (stable, worker-independent). */
export function pointSeed(seed: number, pointIndex: number): number {
  return deriveSeed(seed, `point#${pointIndex}`);
}
