/**
 * Free memory of a booted kernel as the metrics see it: free blocks by order (the columns of
 * /proc/buddyinfo summed over nodes) and how many naturally aligned 2 MiB and 1 GiB blocks
 * could still be formed from free memory.
 *
 * @module
 */

import type { BuddyAllocator } from "../kernel/buddy.ts";
import { MIGRATE_TYPES } from "../kernel/gfp.ts";
import { MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_SIZE } from "../units.ts";

/** Free blocks per order 0..10, all nodes and migrate types summed. */
export function freeBlocksByOrder(buddy: BuddyAllocator): number[] {
  const out = new Array<number>(NR_PAGE_ORDERS).fill(0);
  for (const node of buddy.buddyinfo()) node.forEach((c, o) => (out[o] += c));
  return out;
}

/** Free bytes from per-order block counts. */
export function freeBytesOf(byOrder: readonly number[]): number {
  return byOrder.reduce((s, c, o) => s + c * 2 ** o * PAGE_SIZE, 0);
}

/**
 * Naturally aligned, entirely free blocks of `2^order` pages that can be formed: for orders up
 * to MAX_PAGE_ORDER from the free lists (every free aligned block of that size is inside one
 * free buddy block); above it by merging the max-order free runs of every node and migrate
 * type (CMA included) and counting aligned windows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Topology } from "../machine/topology.ts";
 * import { BuddyAllocator } from "../kernel/buddy.ts";
 * import { formableBlocks } from "./buddy_stats.ts";
 * const buddy = new BuddyAllocator({ topology: new Topology({ ramBytes: 2 ** 31 }) });
 * buddy.freeBootRange(0, 2 ** 19, 0);                 // 2 GiB free
 * assert.equal(formableBlocks(buddy, 18), 2);
 * assert.equal(formableBlocks(buddy, 9), 1024);
 * ```
 */
export function formableBlocks(buddy: BuddyAllocator, order: number): number {
  if (order <= MAX_PAGE_ORDER) {
    const counts = freeBlocksByOrder(buddy);
    let n = 0;
    for (let o = order; o <= MAX_PAGE_ORDER; o++) n += counts[o] * 2 ** (o - order);
    return n;
  }
  const runs: [number, number][] = [];
  const nodes = buddy.buddyinfo().length;
  for (let nid = 0; nid < nodes; nid++) {
    for (let mt = 0; mt < MIGRATE_TYPES; mt++) runs.push(...buddy.freeRuns(nid, mt));
  }
  runs.sort((a, b) => a[0] - b[0]);
  const size = 2 ** order;
  let n = 0;
  let i = 0;
  while (i < runs.length) {
    const s = runs[i][0];
    let e = runs[i][1];
    i++;
    while (i < runs.length && runs[i][0] <= e) e = Math.max(e, runs[i++][1]);
    const first = Math.ceil(s / size);
    const last = Math.floor(e / size);
    if (last > first) n += last - first;
  }
  return n;
}
