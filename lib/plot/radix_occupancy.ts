/**
 * Occupancy of a KHO radix tree read from its bytes: per level, the pages and the used
 * slots (non-zero table entries; set bits in leaves), and the tree's pages attributed to the
 * block order their keys encode. Every key of a node whose key prefix is non-zero has the
 * same highest bit, hence the same order (`order = 53 - fls64(key)`); the nodes on the path
 * of prefix 0 (the root and the leftmost tables) hold keys of several orders and are counted
 * as `shared`.
 *
 * @module
 */

import { hweight32, PAGE_SIZE } from "../units.ts";
import { decodeKey } from "../kho/trackers/radix_key.ts";
import {
  KHO_BITMAP_SIZE_LOG2,
  KHO_TABLE_ENTRIES,
  KHO_TABLE_SIZE_LOG2,
  KHO_TREE_MAX_DEPTH,
} from "../kho/abi/kexec_handover.ts";
import type { ByOrderRow, LevelRow } from "./figures.ts";

/** The memory reads {@link radixOccupancy} needs (a `PhysicalMemory` has them). */
export interface WordReader {
  /** Reads the little-endian u32 at `phys`. */
  readU32(phys: number): number;
  /** Whether `[phys, phys + size)` is inside memory. */
  contains(phys: number, size?: number): boolean;
}

/** What {@link radixOccupancy} found. */
export interface RadixOccupancy {
  /** Root (`L5`) first, leaves (`leaf`) last. */
  levels: LevelRow[];
  /** Tree pages per order (`shared` for mixed nodes), ascending order, `shared` last. */
  pagesByOrder: { order: number | "shared"; pages: number }[];
  /** All pages of the tree. */
  pages: number;
}

/**
 * Reads the radix tree rooted at `rootPhys` (a page address) and counts its occupancy. The
 * walk follows page-aligned entries inside `mem` once each; it does not validate further
 * (use the tracker's own walk for that).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { radixOccupancy } from "./radix_occupancy.ts";
 * import { PhysicalMemory } from "../machine/physmem.ts";
 * const mem = new PhysicalMemory(2 ** 30);
 * const occ = radixOccupancy(mem, 0x1000); // an empty root page
 * assert.equal(occ.pages, 1);
 * assert.equal(occ.levels[0].used, 0);
 * ```
 */
export function radixOccupancy(mem: WordReader, rootPhys: number): RadixOccupancy {
  const top = KHO_TREE_MAX_DEPTH - 1;
  const levels: LevelRow[] = [];
  for (let l = top; l >= 1; l--) levels.push({ level: `L${l}`, nodes: 0, used: 0, slots: 0 });
  levels.push({ level: "leaf", nodes: 0, used: 0, slots: 0 });
  const byOrder = new Map<number | "shared", number>();
  const seen = new Set<number>();
  const attribute = (prefix: number) => {
    const key: number | "shared" = prefix > 0 && prefix < 2 ** 53
      ? decodeKey(prefix).order
      : "shared";
    byOrder.set(key, (byOrder.get(key) ?? 0) + 1);
  };
  const visit = (phys: number, level: number, prefix: number) => {
    seen.add(phys);
    attribute(prefix);
    if (level === 0) {
      const row = levels[top];
      row.nodes++;
      row.slots += PAGE_SIZE * 8;
      for (let off = 0; off < PAGE_SIZE; off += 4) row.used += hweight32(mem.readU32(phys + off));
      return;
    }
    const row = levels[top - level];
    row.nodes++;
    row.slots += KHO_TABLE_ENTRIES;
    const unit = 2 ** ((level - 1) * KHO_TABLE_SIZE_LOG2 + KHO_BITMAP_SIZE_LOG2);
    for (let i = 0; i < KHO_TABLE_ENTRIES; i++) {
      const lo = mem.readU32(phys + 8 * i), hi = mem.readU32(phys + 8 * i + 4);
      if ((lo | hi) === 0) continue;
      row.used++;
      const child = hi * 2 ** 32 + lo;
      if (child % PAGE_SIZE !== 0 || !mem.contains(child, PAGE_SIZE) || seen.has(child)) continue;
      visit(child, level - 1, prefix + i * unit);
    }
  };
  visit(rootPhys, top, 0);
  const pagesByOrder = [...byOrder].map(([order, pages]) => ({ order, pages })).sort((a, b) =>
    a.order === "shared" ? 1 : b.order === "shared" ? -1 : a.order - b.order
  );
  return { levels, pagesByOrder, pages: seen.size };
}

/** Tree bytes by order as {@link ByOrderRow}s for `metadataByOrderFigure` (series `profile`). */
export function radixBytesByOrder(occ: RadixOccupancy, profile: string): ByOrderRow[] {
  return occ.pagesByOrder.map((p) => ({ profile, order: p.order, value: p.pages * PAGE_SIZE }));
}
