/**
 * The simulated machine: what survives a kexec. Its physical memory and memory map
 * outlive every kernel that boots on it.
 *
 * @module
 */

import { PhysicalMemory } from "./physmem.ts";
import { Topology, type TopologyOptions } from "./topology.ts";

/**
 * A machine: RAM topology plus physical memory. Kernels come and go; the machine stays.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "./machine.ts";
 * const m = new Machine({ ramBytes: 2 ** 35, nodes: 2 });
 * assert.equal(m.topology.nodesWithMemory().length, 2);
 * ```
 */
export class Machine {
  /** RAM ranges and NUMA nodes. */
  readonly topology: Topology;
  /** Physical memory, spanning [0, topology.endBytes). */
  readonly mem: PhysicalMemory;

  /** Powers on a machine with zeroed memory. */
  constructor(options: TopologyOptions) {
    this.topology = new Topology(options);
    this.mem = new PhysicalMemory(this.topology.endBytes);
  }
}
