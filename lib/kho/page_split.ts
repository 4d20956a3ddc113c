/**
 * How `kho_preserve_pages`, `kho_unpreserve_pages` and `kho_restore_pages` split a pfn range
 * into naturally aligned blocks: `order = min(ctz(pfn), ilog2(end - pfn))`, and from Linux 7.1
 * on (preserve side) never letting a block span two NUMA nodes.
 *
 * @module
 */

import { ctz, ilog2 } from "../units.ts";

/** One block of a split: `2^order` pages at `pfn`. */
export interface PageBlock {
  /** First page frame. */
  pfn: number;
  /** Block order. */
  order: number;
}

/**
 * Order of the block a split of `[…, end)` puts at `pfn`: `min(ctz(pfn), ilog2(end - pfn))`,
 * shrunk while its first and last pages are on different nodes when `nidOf` is given. Lets
 * hot paths walk a split without building it: `for (p = start; p < end; p += 2 ** order)`.
 */
export function splitOrderAt(pfn: number, end: number, nidOf?: (pfn: number) => number): number {
  let order = Math.min(ctz(pfn), ilog2(end - pfn));
  if (nidOf) {
    while (order > 0 && nidOf(pfn) !== nidOf(pfn + 2 ** order - 1)) order--;
  }
  return order;
}

/**
 * Splits `[pfn, pfn + nrPages)` into blocks. With `nidOf`, a block is shrunk while its first
 * and last pages are on different nodes (the 7.1 NUMA rule).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitPages } from "./page_split.ts";
 * const b = splitPages(3, 13);
 * assert.deepEqual(b, [{ pfn: 3, order: 0 }, { pfn: 4, order: 2 }, { pfn: 8, order: 3 }]);
 * ```
 */
export function splitPages(
  pfn: number,
  nrPages: number,
  nidOf?: (pfn: number) => number,
): PageBlock[] {
  const out: PageBlock[] = [];
  const end = pfn + nrPages;
  while (pfn < end) {
    const order = splitOrderAt(pfn, end, nidOf);
    out.push({ pfn, order });
    pfn += 2 ** order;
  }
  return out;
}
