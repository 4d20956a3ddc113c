/**
 * KHO scratch areas: memory the next kernel boots from. Sizing (`kho_scratch=`), the cold
 * boot's reservation (`kho_reserve_scratch`), the overlap check of the preserve calls and
 * the placement of kexec segments inside scratch (`kho_locate_mem_hole`).
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import { type Memblock, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE } from "../kernel/memblock.ts";
import type { Topology } from "../machine/topology.ts";
import { kstrtouint, memparse } from "../kernel/cmdline.ts";
import { CMA_MIN_ALIGNMENT_BYTES, hex, PAGE_SIZE, roundUp } from "../units.ts";
import type { ScratchArea } from "./abi/asm_generic_kexec_handover.ts";

/** `ARCH_LOW_ADDRESS_LIMIT` (generic default 0xffffffff, passed as an inclusive-ish end). */
export const ARCH_LOW_ADDRESS_LIMIT = 0xffffffff;

/** Default `scratch_scale`: 200 % of memblock-reserved kernel memory. */
export const DEFAULT_SCRATCH_SCALE = 200;

/** A parsed `kho_scratch=` value. */
export type ScratchSizing =
  | { readonly scale: number }
  | {
    readonly scale: 0;
    readonly lowmem: number;
    readonly global: number;
    readonly pernode: number;
  };

/** How a generation parses `kho_scratch=` sizes. */
export interface ScratchParseRules {
  /**
   * 6.16 (S-6.16c): every size must be non-zero and trailing text is ignored; later kernels
   * require a non-zero sum and the whole string consumed.
   */
  sizesNonZero?: boolean;
}

/**
 * Parses `kho_scratch=N%` or `kho_scratch=lowmem,global,pernode` as `kho_parse_scratch_size`
 * does: `N%` of at most 10 characters before the `%`, parsed with `kstrtouint` (so `+50%` is
 * accepted; above 2^32 − 1 is ERANGE); sizes with `memparse` (K/M/G… suffixes), each followed
 * by a comma, with the generation's rules ({@link ScratchParseRules}). Throws KhoError EINVAL
 * (or ERANGE) otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseKhoScratch } from "./scratch.ts";
 * assert.equal(parseKhoScratch("150%").scale, 150);
 * assert.equal(parseKhoScratch("+50%").scale, 50);
 * assert.deepEqual(parseKhoScratch("0,512M,256M"), {
 *   scale: 0, lowmem: 0, global: 512 * 2 ** 20, pernode: 256 * 2 ** 20,
 * });
 * assert.throws(() => parseKhoScratch("0,512M,256M", { sizesNonZero: true }), /EINVAL/);
 * ```
 */
export function parseKhoScratch(value: string, rules: ScratchParseRules = {}): ScratchSizing {
  if (value.length === 0) throw new KhoError("EINVAL", "kho_scratch= is empty");
  if (value.endsWith("%")) {
    if (value.length > 11) throw new KhoError("EINVAL", `kho_scratch=${value}: scale too long`);
    const scale = kstrtouint(value.slice(0, -1));
    if (typeof scale !== "number") {
      throw new KhoError(scale, `kho_scratch=${value}: kstrtouint gives ${scale}`);
    }
    return { scale };
  }
  const sizes: number[] = [];
  let p = 0;
  for (let i = 0; i < 3; i++) {
    if (i > 0) {
      if (value[p] !== ",") {
        throw new KhoError("EINVAL", `kho_scratch=${value}: expected N% or lowmem,global,pernode`);
      }
      p++;
    }
    const { value: v, end } = memparse(value, p);
    if (end === 0) {
      throw new KhoError("EINVAL", `kho_scratch=${value}: expected N% or lowmem,global,pernode`);
    }
    if (end === p || (rules.sizesNonZero && v === 0)) {
      throw new KhoError("EINVAL", `kho_scratch=${value}: bad size at "${value.slice(p)}"`);
    }
    sizes.push(v);
    p = end;
  }
  if (!rules.sizesNonZero) {
    if (sizes[0] + sizes[1] + sizes[2] === 0) {
      throw new KhoError("EINVAL", `kho_scratch=${value}: all sizes are 0`);
    }
    if (p !== value.length) {
      throw new KhoError("EINVAL", `kho_scratch=${value}: trailing "${value.slice(p)}"`);
    }
  }
  return { scale: 0, lowmem: sizes[0], global: sizes[1], pernode: sizes[2] };
}

/** Sizes of the areas a cold boot reserves, before allocation. */
export interface ScratchPlan {
  /** Area [0], below 4 GiB. */
  lowmem: number;
  /** Area [1], anywhere. */
  global: number;
  /** One per node with memory, areas [2..]. */
  pernode: { nid: number; size: number }[];
}

/**
 * `scratch_size_update` + `scratch_size_node`: sizes from the reserved kernel memory, one
 * per-node area for each node with memory (7.0 on) or each online node (6.16–6.19,
 * `num_online_nodes() + 2`: a memoryless node gets a size too, 0 when scaled). With
 * `excludeHugetlb` ("kho: exclude hugetlb memory from scratch size calculation", the later
 * revision of the boot-time huge page series; luo-hugetlb-facts §5.1) the scaled base is
 * `memblock_reserved_kern_size() - memblock_reserved_hugetlb_size()`: HugeTLB boot pages are
 * never allocated from scratch, so they do not size it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Topology } from "../machine/topology.ts";
 * import { KernelLog } from "../kernel/dmesg.ts";
 * import { FaultInjector } from "../kernel/faults.ts";
 * import { Memblock } from "../kernel/memblock.ts";
 * import { planScratch } from "./scratch.ts";
 * const topology = new Topology({ ramBytes: 2 ** 34 });
 * const mb = new Memblock({ topology, log: new KernelLog(), faults: new FaultInjector() });
 * mb.addTopologyRam();
 * mb.physAlloc(64 << 20, 4096); // 64 MiB of kernel memory
 * mb.allocNidUser({ size: 2 ** 30, align: 2 ** 30 }); // a 1 GiB HugeTLB boot page
 * const all = planScratch({ scale: 200 }, mb, topology);
 * const lean = planScratch({ scale: 200 }, mb, topology, "memory", { excludeHugetlb: true });
 * assert.equal(all.lowmem + all.global, 2 * (2 ** 30 + (64 << 20)));
 * assert.equal(lean.lowmem + lean.global, 128 << 20);
 * ```
 */
export function planScratch(
  sizing: ScratchSizing,
  memblock: Memblock,
  topology: Topology,
  nodes: "online" | "memory" = "memory",
  rules: { excludeHugetlb?: boolean } = {},
): ScratchPlan {
  const align = CMA_MIN_ALIGNMENT_BYTES;
  const nids = nodes === "online"
    ? Array.from({ length: topology.nodes }, (_, i) => i)
    : topology.nodesWithMemory();
  if (sizing.scale === 0 && "lowmem" in sizing) {
    return {
      lowmem: sizing.lowmem,
      global: sizing.global,
      pernode: nids.map((nid) => ({ nid, size: roundUp(sizing.pernode, align) })),
    };
  }
  const scale = sizing.scale;
  const base = (limit: number, nid: number) =>
    memblock.reservedKernSize(limit, nid) -
    (rules.excludeHugetlb ? memblock.reservedHugetlbSize(limit, nid) : 0);
  const lowmem = roundUp(
    Math.floor(base(ARCH_LOW_ADDRESS_LIMIT, NUMA_NO_NODE) * scale / 100),
    align,
  );
  const all = Math.floor(base(Number.MAX_SAFE_INTEGER, NUMA_NO_NODE) * scale / 100);
  const global = roundUp(Math.max(0, all - lowmem), align);
  return {
    lowmem,
    global,
    pernode: nids.map((nid) => ({
      nid,
      size: roundUp(Math.floor(base(Number.MAX_SAFE_INTEGER, nid) * scale / 100), align),
    })),
  };
}

/**
 * `kho_reserve_scratch`: allocates the array and the areas with memblock and marks them
 * KHO_SCRATCH. Returns the areas, or null after logging "Failed to reserve scratch area,
 * disabling kexec handover" (everything allocated so far is freed again). An area of size 0
 * is still allocated — at the address memblock finds — and recorded there; on a node without
 * memory (6.16–6.19's online nodes) nothing is found and the reservation fails.
 */
export function reserveScratch(
  options: {
    memblock: Memblock;
    topology: Topology;
    log: KernelLog;
    sizing: ScratchSizing;
    /** Per-node areas for `"memory"` nodes (default) or every `"online"` node (6.16–6.19). */
    nodes?: "online" | "memory";
    /** Leave HugeTLB boot pages out of the scaled sizes (see {@link planScratch}). */
    excludeHugetlb?: boolean;
  },
): { areas: ScratchArea[]; arrayPhys: number } | null {
  const { memblock, topology, log } = options;
  const plan = planScratch(options.sizing, memblock, topology, options.nodes, {
    excludeHugetlb: options.excludeHugetlb,
  });
  const align = CMA_MIN_ALIGNMENT_BYTES;
  const count = plan.pernode.length + 2;
  const done: ScratchArea[] = [];
  const fail = (what: string) => {
    for (const a of done) if (a.size > 0) memblock.free(a.addr, a.size);
    log.error("KHO", `Failed to reserve scratch area (${what}), disabling kexec handover`);
    return null;
  };
  const arrayPhys = memblock.physAlloc(count * 16, PAGE_SIZE);
  if (arrayPhys === 0) return fail("array");
  done.push({ addr: arrayPhys, size: count * 16 });
  const areas: ScratchArea[] = [];
  const take = (what: string, size: number, alloc: () => number): boolean => {
    // A size of 0 is allocated like any other: memblock finds an address and reserves
    // nothing, and that address is recorded (kho_reserve_scratch has no special case).
    const addr = alloc();
    if (addr === 0) return false;
    if (size > 0) {
      done.push({ addr, size });
      memblock.markKhoScratch(addr, size);
    }
    areas.push({ addr, size });
    log.info("KHO", `scratch ${what}: ${hex(addr)}+${hex(size)}`);
    return true;
  };
  const wanted: [what: string, size: number, alloc: () => number][] = [
    [
      "lowmem",
      plan.lowmem,
      () => memblock.physAllocRange(plan.lowmem, align, 0, ARCH_LOW_ADDRESS_LIMIT),
    ],
    ["global", plan.global, () => memblock.physAlloc(plan.global, align)],
    ...plan.pernode.map(({ nid, size }): [string, number, () => number] => [
      `node ${nid}`,
      size,
      () =>
        memblock.allocRange({
          size,
          align,
          start: 0,
          end: MEMBLOCK_ALLOC_ACCESSIBLE,
          nid,
          exactNid: true,
        }),
    ]),
  ];
  for (const [what, size, alloc] of wanted) if (!take(what, size, alloc)) return fail(what);
  return { areas, arrayPhys };
}

/** Index of the first scratch area overlapping `[phys, phys + size)`, or -1. */
export function scratchOverlap(areas: readonly ScratchArea[], phys: number, size: number): number {
  for (let i = 0; i < areas.length; i++) {
    const a = areas[i];
    if (phys < a.addr + a.size && phys + size > a.addr) return i;
  }
  return -1;
}

/** A kexec segment already placed (to avoid when placing another). */
export interface PlacedSegment {
  /** Physical start. */
  mem: number;
  /** Size in bytes. */
  memsz: number;
}

/**
 * `kho_locate_mem_hole` with kexec_file's top-down hole search: offers each scratch area in
 * order and places the segment at the highest aligned address inside it that does not
 * overlap an already placed segment. Throws KhoError EADDRNOTAVAIL when no area fits.
 */
export function locateMemHole(
  areas: readonly ScratchArea[],
  seg: { size: number; align: number },
  placed: readonly PlacedSegment[],
): number {
  for (const a of areas) {
    let top = Math.floor((a.addr + a.size - seg.size) / seg.align) * seg.align;
    while (top >= a.addr) {
      const clash = placed.find((p) => top < p.mem + p.memsz && top + seg.size > p.mem);
      if (!clash) return top;
      top = Math.floor((clash.mem - seg.size) / seg.align) * seg.align;
    }
  }
  throw new KhoError(
    "EADDRNOTAVAIL",
    `no scratch area holds a ${hex(seg.size)}-byte kexec segment`,
  );
}
