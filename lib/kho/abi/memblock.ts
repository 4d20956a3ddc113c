/**
 * The memblock `reserve_mem` sub-FDT (`include/linux/kho/abi/memblock.h`, `mm/memblock.c`
 * `prepare_kho_fdt`; kho-facts §8.3, fdt-facts §6.5): a one-page sequential-write FDT with
 * root `compatible = "memblock-v1"` and one child per `reserve_mem=` region, named by the
 * user, with `compatible = "reserve-mem-v1"`, `start` and `size` as raw (little-endian) u64.
 *
 * @module
 */

import { FdtWriter, le64 } from "../fdt/mod.ts";
import { PAGE_SIZE } from "../../units.ts";

/** KHO sub-tree name (`MEMBLOCK_KHO_FDT`). */
export const MEMBLOCK_KHO_FDT = "memblock";
/** Root compatible (`MEMBLOCK_KHO_NODE_COMPATIBLE`). */
export const MEMBLOCK_KHO_NODE_COMPATIBLE = "memblock-v1";
/** Region compatible (`RESERVE_MEM_KHO_NODE_COMPATIBLE`). */
export const RESERVE_MEM_KHO_NODE_COMPATIBLE = "reserve-mem-v1";

/** One region as the sub-FDT records it. */
export interface MemblockFdtRegion {
  /** Node name (the `reserve_mem=` name). */
  name: string;
  /** Physical start. */
  start: number;
  /** Size in bytes. */
  size: number;
}

/**
 * The sub-FDT bytes (exactly `fdt_totalsize`), built in a `PAGE_SIZE` buffer as
 * `prepare_kho_fdt` does. Throws `FdtError` FDT_ERR_NOSPACE when the regions do not fit
 * one page.
 *
 * @example
 * ```ts
 * import { buildMemblockFdt } from "./memblock.ts";
 * const blob = buildMemblockFdt([
 *   { name: "n1", start: 0x46bc00000, size: 0x4000000 },
 *   { name: "n2", start: 0x467c00000, size: 0x4000000 },
 * ]);
 * console.assert(blob.length === 286); // the golden vector of fdt-facts §7.4
 * ```
 */
export function buildMemblockFdt(regions: readonly MemblockFdtRegion[]): Uint8Array {
  const w = FdtWriter.create(PAGE_SIZE);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", MEMBLOCK_KHO_NODE_COMPATIBLE);
  for (const r of regions) {
    w.beginNode(r.name);
    w.propertyString("compatible", RESERVE_MEM_KHO_NODE_COMPATIBLE);
    w.property("start", le64(r.start));
    w.property("size", le64(r.size));
    w.endNode();
  }
  w.endNode();
  return w.finish();
}
