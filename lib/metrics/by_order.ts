/**
 * An encoding's cost per block order: for each order of a preserved set, a tracker of the
 * same kind holding **only that order's blocks** is built in a memory of its own, serialized
 * where the kind has a serialized form, and walked as the successor walks it. Its handover
 * bytes and walk counters are what the encoding needs for those blocks alone — the answer
 * to "how much of the metadata and of the walk goes to the 1 GiB folios, how much to the
 * 4 KiB pages". The upper levels a real tracker shares between orders (a radix root, an
 * order table) are counted once per order here, so the per-order figures add up to a little
 * more than the whole; shares are taken of their sum.
 *
 * @module
 */

import { KernelLog } from "../kernel/dmesg.ts";
import { PhysicalMemory } from "../machine/physmem.ts";
import { PAGE_SIZE } from "../units.ts";
import type { TrackerKind } from "../kho/profiles.ts";
import { TrackerCounters } from "../kho/trackers/counters.ts";
import { trackerFormat, walkIncoming } from "../kho/trackers/registry.ts";
import type { MetadataPageAllocator, OutgoingTracker } from "../kho/trackers/tracker.ts";
import { uncharged } from "./collect.ts";

/** What one order's blocks cost alone. */
export interface OrderCost {
  /** Handover bytes (live structure plus serialized chunk pages), as `handoverBytes`. */
  handoverBytes: number;
  /** 64-byte lines the successor's walk reads, as `walkCacheLines`. */
  walkCacheLines: number;
}

/** Where the metadata pages of the measuring trackers go (above any simulated RAM). */
const META_BASE = 2 ** 46;
const META_BYTES = 2 ** 40;

/** Bump allocation in a memory of its own. */
class BumpPages implements MetadataPageAllocator {
  #next = META_BASE;
  constructor(readonly mem: PhysicalMemory) {}
  allocZeroedPage(): number | null {
    if (this.#next + PAGE_SIZE > META_BASE + META_BYTES) return null;
    const phys = this.#next;
    this.#next += PAGE_SIZE;
    this.mem.zero(phys, PAGE_SIZE);
    return phys;
  }
  freePage(): void {}
}

/**
 * The cost of each order's blocks alone in encoding `kind` (see the module doc). `blocks`
 * maps an order to the physical addresses of its blocks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { costByOrder } from "./by_order.ts";
 * const c = costByOrder("radix", new Map([[0, [0x1000, 0x3000]], [18, [2 ** 30]]]));
 * assert.equal(c.get(0)!.handoverBytes, 6 * 4096); // root, 4 tables, one leaf
 * assert.equal(c.get(18)!.handoverBytes, 6 * 4096);
 * ```
 */
export function costByOrder(
  kind: TrackerKind,
  blocks: ReadonlyMap<number, ArrayLike<number>>,
): Map<number, OrderCost> {
  const out = new Map<number, OrderCost>();
  for (const order of [...blocks.keys()].sort((a, b) => a - b)) {
    const list = blocks.get(order)!;
    if (list.length === 0) continue;
    const mem = new PhysicalMemory(META_BASE + META_BYTES);
    const log = new KernelLog();
    const format = trackerFormat(kind);
    const tracker = format.create({ mem, alloc: new BumpPages(mem), log });
    for (let i = 0; i < list.length; i++) tracker.add(list[i] / PAGE_SIZE, order);
    const root = format.serialize?.(tracker) ?? tracker.handoverRoot();
    const serializedPages = tracker.serializedPagesPhys?.().length ?? 0;
    const counters = new TrackerCounters();
    walkIncoming(kind, { mem, rootPhys: root, isRam: () => true, log, counters }, () => 0);
    out.set(order, {
      handoverBytes: tracker.metadataBytes() + serializedPages * PAGE_SIZE,
      walkCacheLines: counters.cacheLinesRead,
    });
  }
  return out;
}

/** The physical addresses of an outgoing tracker's blocks, by order (walked uncharged). */
export function blocksByOrder(tracker: OutgoingTracker): Map<number, number[]> {
  const out = new Map<number, number[]>();
  uncharged(tracker.counters, () =>
    tracker.walk((phys, order) => {
      let list = out.get(order);
      if (list === undefined) out.set(order, list = []);
      list.push(phys);
      return 0;
    }));
  return out;
}
