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
import { CMA_MIN_ALIGNMENT_BYTES, hex, PAGE_SIZE, parseSize, roundUp } from "../units.ts";
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

/**
 * Parses `kho_scratch=N%` or `kho_scratch=lowmem,global,pernode` (memparse suffixes) with the
 * kernel's rules: at most 10 digits before `%`; with sizes, the whole string must be consumed
 * and the sum must be non-zero. Throws KhoError EINVAL otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseKhoScratch } from "./scratch.ts";
 * assert.equal(parseKhoScratch("150%").scale, 150);
 * ```
 */
export function parseKhoScratch(value: string): ScratchSizing {
  const pct = /^(\d{1,10})%$/.exec(value);
  if (pct) {
    const scale = Number(pct[1]);
    if (scale > 0xffffffff) throw new KhoError("EINVAL", `kho_scratch=${value}: scale too large`);
    return { scale };
  }
  const parts = value.split(",");
  if (parts.length !== 3) {
    throw new KhoError("EINVAL", `kho_scratch=${value}: expected N% or lowmem,global,pernode`);
  }
  let sizes: number[];
  try {
    sizes = parts.map((p) => parseSize(p));
  } catch (e) {
    throw new KhoError("EINVAL", `kho_scratch=${value}: ${(e as Error).message}`);
  }
  if (sizes[0] + sizes[1] + sizes[2] === 0) {
    throw new KhoError("EINVAL", `kho_scratch=${value}: all sizes are 0`);
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
 * `scratch_size_update` + `scratch_size_node`: sizes from the reserved kernel memory.
 */
export function planScratch(
  sizing: ScratchSizing,
  memblock: Memblock,
  topology: Topology,
): ScratchPlan {
  const align = CMA_MIN_ALIGNMENT_BYTES;
  const nodes = topology.nodesWithMemory();
  if (sizing.scale === 0 && "lowmem" in sizing) {
    return {
      lowmem: sizing.lowmem,
      global: sizing.global,
      pernode: nodes.map((nid) => ({ nid, size: roundUp(sizing.pernode, align) })),
    };
  }
  const scale = sizing.scale;
  const lowmem = roundUp(
    Math.floor(memblock.reservedKernSize(ARCH_LOW_ADDRESS_LIMIT, NUMA_NO_NODE) * scale / 100),
    align,
  );
  const all = Math.floor(
    memblock.reservedKernSize(Number.MAX_SAFE_INTEGER, NUMA_NO_NODE) * scale / 100,
  );
  const global = roundUp(Math.max(0, all - lowmem), align);
  return {
    lowmem,
    global,
    pernode: nodes.map((nid) => ({
      nid,
      size: roundUp(
        Math.floor(memblock.reservedKernSize(Number.MAX_SAFE_INTEGER, nid) * scale / 100),
        align,
      ),
    })),
  };
}

/**
 * `kho_reserve_scratch`: allocates the array and the areas with memblock and marks them
 * KHO_SCRATCH. Returns the areas, or null after logging "Failed to reserve scratch area,
 * disabling kexec handover" (everything allocated so far is freed again).
 */
export function reserveScratch(
  options: { memblock: Memblock; topology: Topology; log: KernelLog; sizing: ScratchSizing },
): { areas: ScratchArea[]; arrayPhys: number } | null {
  const { memblock, topology, log } = options;
  const plan = planScratch(options.sizing, memblock, topology);
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
    if (size === 0) {
      areas.push({ addr: 0, size: 0 });
      return true;
    }
    const addr = alloc();
    if (addr === 0) return false;
    done.push({ addr, size });
    memblock.markKhoScratch(addr, size);
    areas.push({ addr, size });
    log.info("KHO", `scratch ${what}: ${hex(addr)}+${hex(size)}`);
    return true;
  };
  if (
    !take(
      "lowmem",
      plan.lowmem,
      () => memblock.physAllocRange(plan.lowmem, align, 0, ARCH_LOW_ADDRESS_LIMIT),
    )
  ) {
    return fail("lowmem");
  }
  if (!take("global", plan.global, () => memblock.physAlloc(plan.global, align))) {
    return fail("global");
  }
  for (const { nid, size } of plan.pernode) {
    const ok = take(
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
    );
    if (!ok) return fail(`node ${nid}`);
  }
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
