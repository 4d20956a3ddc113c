/**
 * The machine's memory map: RAM ranges with holes, NUMA nodes, 128 MiB sections.
 *
 * @module
 */

import { GiB, hex, MAX_PHYS_BYTES, PAGE_SIZE, PAGES_PER_SECTION, SECTION_SIZE } from "../units.ts";

/** A contiguous range of RAM on one NUMA node, in bytes: `[start, end)`. */
export interface RamRange {
  /** First byte. */
  readonly start: number;
  /** One past the last byte. */
  readonly end: number;
  /** NUMA node. */
  readonly nid: number;
}

/** How to lay out a machine's RAM. */
export interface TopologyOptions {
  /** Total RAM in bytes (a multiple of 128 MiB). */
  ramBytes: number;
  /** NUMA nodes; RAM is split evenly at section boundaries. Default 1. */
  nodes?: number;
  /**
   * `"flat"`: RAM from physical address 0 (default). `"x86"`: a 1 GiB MMIO hole at
   * [3 GiB, 4 GiB), with the RAM it displaces placed above 4 GiB.
   */
  layout?: "flat" | "x86";
  /** Explicit RAM ranges instead of a layout (each section-aligned, sorted, disjoint). */
  ranges?: RamRange[];
}

/**
 * RAM ranges and NUMA nodes of a machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Topology } from "./topology.ts";
 * const t = new Topology({ ramBytes: 2 ** 40, nodes: 2 });
 * assert.equal(t.nidOfPfn(0), 0);
 * assert.equal(t.nidOfPfn(2 ** 28 - 1), 1);
 * ```
 */
export class Topology {
  /** RAM ranges, sorted by address. */
  readonly ranges: readonly RamRange[];
  /** Number of NUMA nodes (some may have no memory). */
  readonly nodes: number;
  /** End of the highest RAM range (the physical address space size). */
  readonly endBytes: number;
  /** Total RAM in bytes. */
  readonly ramBytes: number;
  readonly #sectionNid: Int8Array;

  /** Builds a topology; throws RangeError on an impossible layout. */
  constructor(options: TopologyOptions) {
    const nodes = options.nodes ?? 1;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) {
      throw new RangeError(`nodes=${nodes}: 1..64`);
    }
    const ranges = options.ranges
      ? [...options.ranges]
      : Topology.#layout(options.ramBytes, nodes, options.layout ?? "flat");
    let prevEnd = 0;
    for (const r of ranges) {
      if (r.start % SECTION_SIZE !== 0 || r.end % SECTION_SIZE !== 0 || r.end <= r.start) {
        throw new RangeError(`RAM range [${hex(r.start)}, ${hex(r.end)}) is not section-aligned`);
      }
      if (r.start < prevEnd) {
        throw new RangeError(`RAM ranges overlap or are unsorted at ${hex(r.start)}`);
      }
      if (r.nid < 0 || r.nid >= nodes) {
        throw new RangeError(`RAM range on node ${r.nid} of ${nodes}`);
      }
      prevEnd = r.end;
    }
    if (ranges.length === 0) throw new RangeError("a machine needs some RAM");
    if (prevEnd > MAX_PHYS_BYTES) {
      throw new RangeError(`RAM ends at ${hex(prevEnd)}, beyond 64 TiB`);
    }
    this.ranges = ranges;
    this.nodes = nodes;
    this.endBytes = prevEnd;
    this.ramBytes = ranges.reduce((s, r) => s + r.end - r.start, 0);
    this.#sectionNid = new Int8Array(prevEnd / SECTION_SIZE).fill(-1);
    for (const r of ranges) {
      this.#sectionNid.fill(r.nid, r.start / SECTION_SIZE, r.end / SECTION_SIZE);
    }
  }

  static #layout(ramBytes: number, nodes: number, layout: "flat" | "x86"): RamRange[] {
    if (!Number.isSafeInteger(ramBytes) || ramBytes <= 0 || ramBytes % SECTION_SIZE !== 0) {
      throw new RangeError(`RAM size ${ramBytes} is not a positive multiple of 128 MiB`);
    }
    const sections = ramBytes / SECTION_SIZE;
    if (sections < nodes) {
      throw new RangeError(`${nodes} nodes need at least ${nodes} sections of RAM`);
    }
    // Physical spans: flat = [0, ram); x86 = [0, 3G) + [4G, ram + 1G).
    const spans: [number, number][] = layout === "x86" && ramBytes > 3 * GiB
      ? [[0, 3 * GiB], [4 * GiB, ramBytes + GiB]]
      : [[0, ramBytes]];
    const out: RamRange[] = [];
    let assigned = 0;
    for (let nid = 0; nid < nodes; nid++) {
      const want = Math.floor(sections * (nid + 1) / nodes) - Math.floor(sections * nid / nodes);
      let left = want * SECTION_SIZE;
      for (const span of spans) {
        while (left > 0 && span[0] < span[1]) {
          const take = Math.min(left, span[1] - span[0]);
          out.push({ start: span[0], end: span[0] + take, nid });
          span[0] += take;
          left -= take;
        }
      }
      assigned += want;
    }
    if (assigned !== sections) throw new Error("internal: section split");
    return out;
  }

  /** NUMA node of a page frame, or -1 in a hole. */
  nidOfPfn(pfn: number): number {
    const s = Math.floor(pfn / PAGES_PER_SECTION);
    return s < this.#sectionNid.length ? this.#sectionNid[s] : -1;
  }

  /** NUMA node of a physical address, or -1 in a hole. */
  nidOfPhys(phys: number): number {
    return this.nidOfPfn(Math.floor(phys / PAGE_SIZE));
  }

  /**
   * End of the run of contiguous RAM that holds `phys` (adjacent ranges join), or `phys`
   * itself when `phys` is not RAM: how far a kernel reading on from `phys` gets before it
   * faults.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Topology } from "./topology.ts";
   * const t = new Topology({ ramBytes: 2 ** 31, nodes: 2 });
   * assert.equal(t.ramRunEnd(0x1000), 2 ** 31); // the two nodes' ranges touch
   * assert.equal(t.ramRunEnd(2 ** 32), 2 ** 32);
   * ```
   */
  ramRunEnd(phys: number): number {
    let end = -1;
    for (const r of this.ranges) {
      if (end < 0) {
        if (phys >= r.start && phys < r.end) end = r.end;
      } else if (r.start === end) end = r.end;
      else break;
    }
    return end < 0 ? phys : end;
  }

  /** Whether `[phys, phys + size)` is entirely RAM. */
  isRam(phys: number, size: number): boolean {
    if (!Number.isSafeInteger(phys) || phys < 0 || size < 0 || phys + size > this.endBytes) {
      return false;
    }
    for (const r of this.ranges) {
      if (phys >= r.start && phys + size <= r.end) return true;
    }
    // may still span two adjacent ranges
    let p = phys;
    const end = phys + size;
    for (const r of this.ranges) {
      if (p >= r.start && p < r.end) p = r.end;
      if (p >= end) return true;
    }
    return false;
  }

  /** RAM bytes on node `nid`. */
  nodeBytes(nid: number): number {
    return this.ranges.filter((r) => r.nid === nid).reduce((s, r) => s + r.end - r.start, 0);
  }

  /** Nodes that have memory, ascending (node_states[N_MEMORY]). */
  nodesWithMemory(): number[] {
    return [...new Set(this.ranges.map((r) => r.nid))].sort((a, b) => a - b);
  }
}
