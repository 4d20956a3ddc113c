/**
 * KHO serialization blocks (Linux 7.2, `include/linux/kho/abi/block.h`): a chain of preserved
 * pages, each starting with a 16-byte `struct kho_block_header_ser { u64 next; u64 count; }
 * __packed` followed by `count` raw entries of the user's fixed size. `next` is the physical
 * address of the next block's header (0 for the last). Native (little) endian. The one home of
 * this layout: {@link KhoBlockSet} (writer and reader) uses nothing else.
 *
 * The block ABI has no compat string of its own: it is versioned by the root FDT's
 * `kho-v4` (the same patch bumped `kho-v3` → `kho-v4`).
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SIZE } from "../../units.ts";

/** `KHO_BLOCK_SIZE` = `PAGE_SIZE`: one block is one order-0 page. */
export const KHO_BLOCK_SIZE: number = PAGE_SIZE;

/** `KHO_MAX_BLOCKS` (kho_block.c): at most 10000 blocks per set ("about 40MB"). */
export const KHO_MAX_BLOCKS = 10000;

/** Byte offsets and size of `struct kho_block_header_ser`. */
export const KHO_BLOCK_HEADER_LAYOUT = { next: 0, count: 8, size: 16 } as const;

/** Bytes of a block available for entries: 4096 − 16 = 4080. */
export const KHO_BLOCK_ENTRIES_BYTES = KHO_BLOCK_SIZE - KHO_BLOCK_HEADER_LAYOUT.size;

/**
 * `count_per_block = (KHO_BLOCK_SIZE - sizeof(header)) / entry_size`, i.e. ⌊4080 / size⌋:
 * 51 sessions of 80 bytes, 63 files of 64 bytes, 127 entries of 32 bytes; 0 above 4080.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countPerBlock } from "./block.ts";
 * assert.deepEqual([80, 64, 32, 4081].map(countPerBlock), [51, 63, 127, 0]);
 * ```
 */
export function countPerBlock(entrySize: number): number {
  if (!Number.isSafeInteger(entrySize) || entrySize <= 0) {
    throw new RangeError(`kho_block entry size ${entrySize}: a positive integer`);
  }
  return Math.floor(KHO_BLOCK_ENTRIES_BYTES / entrySize);
}

/** Physical address of entry `i` of the block whose header is at `blockPhys`. */
export function blockEntryPhys(blockPhys: number, entrySize: number, i: number): number {
  return blockPhys + KHO_BLOCK_HEADER_LAYOUT.size + i * entrySize;
}

/** A block header as read from memory; `count` keeps all 64 bits as `[lo, hi]`. */
export interface KhoBlockHeader {
  /** `next`, exact below 2^53 (larger values lie beyond any RAM). */
  next: number;
  /** Low 32 bits of `count`. */
  countLo: number;
  /** High 32 bits of `count`. */
  countHi: number;
}

/** Reads the header at `phys` (the caller checks that the 16 bytes are RAM). */
export function readBlockHeader(mem: PhysicalMemory, phys: number): KhoBlockHeader {
  const L = KHO_BLOCK_HEADER_LAYOUT;
  const [countLo, countHi] = mem.readU64Parts(phys + L.count);
  return { next: mem.readU64(phys + L.next), countLo, countHi };
}

/** Reads only `next` of the header at `phys`. */
export function readBlockNext(mem: PhysicalMemory, phys: number): number {
  return mem.readU64(phys + KHO_BLOCK_HEADER_LAYOUT.next);
}

/** Writes `next` of the header at `phys`. */
export function writeBlockNext(mem: PhysicalMemory, phys: number, next: number): void {
  mem.writeU64(phys + KHO_BLOCK_HEADER_LAYOUT.next, next);
}

/** Reads `count` of the header at `phys` (exact below 2^53). */
export function readBlockCount(mem: PhysicalMemory, phys: number): number {
  return mem.readU64(phys + KHO_BLOCK_HEADER_LAYOUT.count);
}

/** Writes `count` of the header at `phys`. */
export function writeBlockCount(mem: PhysicalMemory, phys: number, count: number): void {
  mem.writeU64(phys + KHO_BLOCK_HEADER_LAYOUT.count, count);
}

/** The decimal value of a `[lo, hi]` u64, as `%llu` prints it. */
export function u64Decimal(lo: number, hi: number): string {
  return hi === 0 ? String(lo >>> 0) : ((BigInt(hi) << 32n) | BigInt(lo >>> 0)).toString();
}
