/**
 * The memblock `reserve_mem` sub-FDT (`include/linux/kho/abi/memblock.h`, `mm/memblock.c`
 * `prepare_kho_fdt`; kho-facts §8.3, fdt-facts §6.5): a one-page sequential-write FDT with
 * root `compatible = "memblock-v1"` and one child per `reserve_mem=` region, named by the
 * user, with `compatible = "reserve-mem-v1"`, `start` and `size` as raw (little-endian) u64.
 * The writer (`prepare_kho_fdt`) is {@link buildMemblockFdt}; the successor's reader
 * (`reserve_mem_kho_revive`) is {@link readMemblockRegion}.
 *
 * @module
 */

import { FdtReader, FdtWriter } from "../fdt/mod.ts";
import { PAGE_SIZE } from "../../units.ts";
import { decodeKhoFdtU64, encodeKhoFdtU64 } from "./kexec_handover.ts";

/** KHO sub-tree name (`MEMBLOCK_KHO_FDT`). */
export const MEMBLOCK_KHO_FDT = "memblock";
/** Root compatible (`MEMBLOCK_KHO_NODE_COMPATIBLE`). */
export const MEMBLOCK_KHO_NODE_COMPATIBLE = "memblock-v1";
/** Region compatible (`RESERVE_MEM_KHO_NODE_COMPATIBLE`). */
export const RESERVE_MEM_KHO_NODE_COMPATIBLE = "reserve-mem-v1";
/** Region property: u64 physical start (spelled literally in `mm/memblock.c`). */
export const RESERVE_MEM_KHO_START_PROP = "start";
/** Region property: u64 size in bytes (spelled literally in `mm/memblock.c`). */
export const RESERVE_MEM_KHO_SIZE_PROP = "size";

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
 * import assert from "node:assert/strict";
 * import { buildMemblockFdt } from "./memblock.ts";
 * const blob = buildMemblockFdt([
 *   { name: "n1", start: 0x46bc00000, size: 0x4000000 },
 *   { name: "n2", start: 0x467c00000, size: 0x4000000 },
 * ]);
 * assert.equal(blob.length, 286); // the golden vector of fdt-facts §7.4
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
    w.property(RESERVE_MEM_KHO_START_PROP, encodeKhoFdtU64(r.start));
    w.property(RESERVE_MEM_KHO_SIZE_PROP, encodeKhoFdtU64(r.size));
    w.endNode();
  }
  w.endNode();
  return w.finish();
}

/**
 * `reserve_mem_kho_revive`'s reading of the sub-FDT: region `name` when the root is
 * `memblock-v1` and the child `name` is `reserve-mem-v1` with `start` and `size` of exactly
 * 8 bytes; otherwise null. A missing child or a malformed blob throws the reader's
 * `FdtError` (the kernel's libfdt error). The alignment and size checks against the
 * command line are the caller's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FdtReader } from "../fdt/mod.ts";
 * import { buildMemblockFdt, readMemblockRegion } from "./memblock.ts";
 * const blob = buildMemblockFdt([{ name: "trace", start: 0x46bc00000, size: 0x800000 }]);
 * const r = readMemblockRegion(new FdtReader(blob), "trace");
 * assert.deepEqual(r, { name: "trace", start: 0x46bc00000, size: 0x800000 });
 * ```
 */
export function readMemblockRegion(rd: FdtReader, name: string): MemblockFdtRegion | null {
  if (rd.nodeCheckCompatible(0, MEMBLOCK_KHO_NODE_COMPATIBLE) !== 0) return null;
  const off = rd.subnodeOffset(0, name);
  if (rd.nodeCheckCompatible(off, RESERVE_MEM_KHO_NODE_COMPATIBLE) !== 0) return null;
  const start = decodeKhoFdtU64(rd.getprop(off, RESERVE_MEM_KHO_START_PROP));
  const size = decodeKhoFdtU64(rd.getprop(off, RESERVE_MEM_KHO_SIZE_PROP));
  if (start === null || size === null) return null;
  return { name, start, size };
}

/**
 * Every region of a memblock sub-FDT, in blob order (the children {@link readMemblockRegion}
 * accepts); null when the root is not `memblock-v1`. Throws `FdtError` for a malformed blob.
 */
export function parseMemblockFdt(bytes: Uint8Array): MemblockFdtRegion[] | null {
  const rd = new FdtReader(bytes);
  if (rd.nodeCheckCompatible(0, MEMBLOCK_KHO_NODE_COMPATIBLE) !== 0) return null;
  const out: MemblockFdtRegion[] = [];
  for (const off of rd.subnodes(0)) {
    const r = readMemblockRegion(rd, rd.getName(off));
    if (r !== null) out.push(r);
  }
  return out;
}
