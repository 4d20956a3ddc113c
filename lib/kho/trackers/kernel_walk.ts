/**
 * The successor's tracker walk as the kernel does it — no validation at all — for the
 * kernel's own verdict on corrupted handover bytes (`BootConfig.strict` off).
 *
 * The validating readers (`radix.ts`, `khoser.ts`, …) stop at the first anomaly with a named
 * reason: what a hardened kernel could check. The kernel checks none of it. It follows every
 * pointer with `phys_to_virt`, walks a radix tree to its fixed depth whatever the entries say,
 * follows the `khoser_mem_chunk` list while `next` is not 0, and hands every set bit to
 * `kho_preserved_memory_reserve` / `deserialize_bitmap`, whose `phys_to_page()->private` store
 * faults when the block has no struct page. This module replays exactly that on the bytes:
 *
 * - a read of a page that is not RAM is a {@link KernelOops} naming the address, the function
 *   and the structure (`BUG: unable to handle page fault`; early boot, so the kernel dies);
 * - a `khoser_mem_chunk` list that comes back to a chunk already read loops forever in
 *   `kho_mem_deserialize`: a {@link KhoWalkHangError};
 * - a radix tree whose entries point back up (a cycle) or at shared pages is walked again at
 *   the lower level — the kernel's walk is bounded by its depth and never notices; only when
 *   the re-walks exceed {@link KERNEL_WALK_PAGE_READS} page reads (the kernel would spend hours
 *   there) is it reported as a {@link KhoWalkHangError};
 * - keys and addresses use the kernel's 64-bit arithmetic (`fls64`, `key << (PAGE_SHIFT +
 *   order)` with the order an `unsigned int` and the shift count masked by x86 to 6 bits), so a
 *   corrupt key decodes to what the kernel would compute.
 *
 * The replay is the slow path: the successor first runs the validating reader (fast, with the
 * cost counters) and replays the kernel's walk only when that reader met an anomaly. Which
 * replay a tracker format has is in the table of formats (`TrackerFormat.kernelReplay` in
 * `registry.ts`); a format without one (RFC v1's order table, a user's design) keeps its
 * reader's verdict.
 *
 * @module
 */

import type { KernelLog } from "../../kernel/dmesg.ts";
import { KernelOops } from "../../kernel/oops.ts";
import type { DecodedTypedKey, RadixKeyCodec } from "./radix_codecs.ts";
import type { KernelBlockCallback, KernelWalkHost, KernelWalkResult } from "./tracker.ts";

export type { KernelBlockCallback, KernelWalkHost, KernelWalkResult };
import { KhoHangError } from "./xarray.ts";

/** u64 mask. */
const MASK64 = (1n << 64n) - 1n;
/** Largest physical address a JavaScript number holds exactly. */
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Page reads after which a radix replay that keeps revisiting tables is reported as a hang
 * (4 Mi reads = 16 GiB of tables; a real tree of a 64 TiB machine has under 2^20 pages).
 */
export const KERNEL_WALK_PAGE_READS = 4 * 1024 * 1024;

/**
 * `khoser_mem_bitmap_ptr` elements after which a chunk list replay is reported as a hang (a
 * corrupt `num_elms` of up to 2^32 with readable memory behind it).
 */
export const KERNEL_WALK_ELEMENTS = 4 * 1024 * 1024;

/**
 * A loop of the kernel's walk over handed-over bytes that would not end: a cycle in a list,
 * or re-walks without bound. A {@link KhoHangError} (no errno: the call never returns) that
 * names the function, the structure and the address where the loop closes.
 */
export class KhoWalkHangError extends KhoHangError {
  /** The kernel function that loops. */
  readonly fn: string;
  /** The structure it loops over. */
  readonly structure: string;
  /** The physical address where the loop closes (inexact beyond 2^53). */
  readonly address: number;
  /** Logs the lockup and builds the error. */
  constructor(
    at: { fn: string; structure: string; address: bigint; detail: string },
    log: KernelLog,
  ) {
    const address = Number(at.address);
    super(Math.floor(address / 4096), 0, 0);
    this.message = `soft lockup: ${at.fn} loops over the ${at.structure} at ${
      hexU64(at.address)
    } (${at.detail})`;
    this.fn = at.fn;
    this.structure = at.structure;
    this.address = address;
    log.error("", `watchdog: BUG: soft lockup - ${this.message}`);
  }
}

/** `0x…` of a u64. */
export function hexU64(v: bigint): string {
  return "0x" + v.toString(16);
}

/**
 * Reads `size` bytes at the u64 `phys` as `fn` would through `phys_to_virt`: a
 * {@link KernelOops} when they are not RAM.
 */
export function kernelRead(
  host: KernelWalkHost,
  phys: bigint,
  size: number,
  at: { fn: string; structure: string },
): DataView {
  if (phys > SAFE || !host.isRam(Number(phys), size)) {
    host.log.error("KHO", `${at.fn}: ${at.structure} at ${hexU64(phys)} is not RAM`);
    throw new KernelOops({ address: Number(phys), fn: at.fn }, host.log);
  }
  const b = host.mem.readBytes(Number(phys), size);
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** `fls64`: the 1-based index of the highest set bit, 0 for 0. */
function fls64(key: bigint): number {
  return key === 0n ? 0 : key.toString(2).length;
}

/**
 * `kho_radix_decode_key` with the kernel's arithmetic: `order = KHO_ORDER_0_LOG2 - fls64(key)
 * + 1` as an `unsigned int`, `phys = key << (PAGE_SHIFT + order)` as a 64-bit shift whose count
 * x86 masks to 6 bits. Exact for valid keys; for corrupt ones, what the kernel computes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelDecodeRadixKey } from "./kernel_walk.ts";
 * // order 9, pfn 0x200: h = 1 << 43, l = 0x200 >> 9
 * assert.deepEqual(kernelDecodeRadixKey((1n << 43n) | 1n), { phys: 0x200000n, order: 9 });
 * // key bits above 52: a "negative" order, wrapped
 * assert.equal(kernelDecodeRadixKey(1n << 55n).order, 2 ** 32 - 3);
 * ```
 */
export function kernelDecodeRadixKey(key: bigint): { phys: bigint; order: number } {
  const order = (52 - fls64(key) + 1) >>> 0;
  const shift = ((12 + order) >>> 0) % 64;
  return { phys: (key << BigInt(shift)) & MASK64, order };
}

/**
 * `kho_radix_walk_tree` from `rootPhys`, as S-7.1c does it: levels 5..1 of 512-entry tables,
 * every non-zero entry followed, leaves scanned bit by bit, keys decoded with
 * {@link kernelDecodeRadixKey} (the page-type RFCs: their codec where the key is valid).
 * Throws {@link KernelOops} on a read that is not RAM and {@link KhoWalkHangError} past
 * {@link KERNEL_WALK_PAGE_READS}; exceptions of `cb` propagate. `onTable` is the 2026 series'
 * table callback: each page of the tree (tables and leaves) before it is read.
 */
export function kernelWalkRadix(
  host: KernelWalkHost,
  keys: RadixKeyCodec,
  rootPhys: number,
  cb: KernelBlockCallback,
  onTable?: (phys: bigint) => void,
): KernelWalkResult {
  const codec = keys.typed ? keys : null;
  const d: DecodedTypedKey = { phys: 0, order: 0, type: 0 };
  let reads = 0, blocks = 0;
  const count = (phys: bigint) => {
    if (++reads > KERNEL_WALK_PAGE_READS) {
      throw new KhoWalkHangError({
        fn: "kho_radix_walk_tree",
        structure: "radix tree",
        address: phys,
        detail: `more than ${KERNEL_WALK_PAGE_READS} page reads: entries point back at tables ` +
          "already walked, and the depth-bounded walk re-walks them without end",
      }, host.log);
    }
  };
  const leaf = (phys: bigint, key: bigint) => {
    count(phys);
    onTable?.(phys);
    const v = kernelRead(host, phys, 4096, { fn: "kho_radix_walk_leaf", structure: "radix leaf" });
    for (let w = 0; w < 1024; w++) {
      let x = v.getUint32(4 * w, true);
      while (x !== 0) {
        const t = x & -x;
        x ^= t;
        const bit = w * 32 + 31 - Math.clz32(t);
        const k = key | BigInt(bit);
        blocks++;
        if (codec !== null) {
          const lo = Number(k & 0xffffffffn), hi = Number(k >> 32n);
          if (codec.decode(lo, hi, d)) {
            cb(BigInt(d.phys), d.order, d.type);
            continue;
          }
        }
        const { phys: pa, order } = kernelDecodeRadixKey(k);
        cb(pa, order, 0);
      }
    }
  };
  const table = (phys: bigint, level: number, start: bigint): void => {
    count(phys);
    onTable?.(phys);
    const v = kernelRead(host, phys, 4096, {
      fn: "__kho_radix_walk_tree",
      structure: `level-${level} radix table`,
    });
    const shift = BigInt((level - 1) * 9 + 15);
    for (let i = 0; i < 512; i++) {
      const entry = v.getBigUint64(8 * i, true);
      if (entry === 0n) continue;
      const key = start | (BigInt(i) << shift);
      if (level === 1) leaf(entry, key);
      else table(entry, level - 1, key);
    }
  };
  table(BigInt(rootPhys), 5, 0n);
  return { blocks, reads };
}

/**
 * `kho_mem_deserialize` + `deserialize_bitmap` (6.16–6.19) from the first chunk: while `next`
 * is not 0, `num_elms` elements of `{phys_start, bitmap}` after the 16-byte header, each
 * bitmap's set bits handed over as `phys_start + (bit << (order + PAGE_SHIFT))`. A NULL bitmap
 * is a NULL dereference; a chunk read again means the list loops ({@link KhoWalkHangError}).
 */
export function kernelWalkKhoser(
  host: KernelWalkHost,
  firstChunkPhys: number,
  bitmapBytes: number,
  cb: KernelBlockCallback,
): KernelWalkResult {
  const seen = new Set<bigint>();
  let chunk = BigInt(firstChunkPhys);
  let reads = 0, blocks = 0;
  while (chunk !== 0n) {
    if (seen.has(chunk)) {
      throw new KhoWalkHangError({
        fn: "kho_mem_deserialize",
        structure: "khoser_mem_chunk list",
        address: chunk,
        detail: "a chunk's next pointer leads back to a chunk already read; while (chunk) " +
          "never ends",
      }, host.log);
    }
    seen.add(chunk);
    const hdr = kernelRead(host, chunk, 16, {
      fn: "kho_mem_deserialize",
      structure: "khoser_mem_chunk",
    });
    reads++;
    const next = hdr.getBigUint64(0, true);
    const order = hdr.getUint32(8, true);
    const num = hdr.getUint32(12, true);
    const shift = BigInt(((order + 12) >>> 0) % 64);
    for (let i = 0; i < num; i++) {
      if (++reads > KERNEL_WALK_ELEMENTS) {
        throw new KhoWalkHangError({
          fn: "kho_mem_deserialize",
          structure: "khoser_mem_chunk",
          address: chunk,
          detail: `num_elms ${num}: more than ${KERNEL_WALK_ELEMENTS} elements read`,
        }, host.log);
      }
      const elm = kernelRead(host, chunk + 16n + 16n * BigInt(i), 16, {
        fn: "kho_mem_deserialize",
        structure: "khoser_mem_bitmap_ptr",
      });
      const physStart = elm.getBigUint64(0, true);
      const bitmap = elm.getBigUint64(8, true);
      if (bitmap === 0n) {
        // KHOSER_LOAD_PTR gives NULL; for_each_set_bit dereferences it.
        host.log.error("", "BUG: kernel NULL pointer dereference, address: 0x0");
        throw new KernelOops({ address: 0, fn: "deserialize_bitmap" }, host.log);
      }
      const bits = kernelRead(host, bitmap, bitmapBytes, {
        fn: "deserialize_bitmap",
        structure: "kho_mem_phys_bits bitmap",
      });
      for (let w = 0; w < bitmapBytes / 4; w++) {
        let x = bits.getUint32(4 * w, true);
        while (x !== 0) {
          const t = x & -x;
          x ^= t;
          const bit = BigInt(w * 32 + 31 - Math.clz32(t));
          blocks++;
          cb((physStart + (bit << shift)) & MASK64, order, 0);
        }
      }
    }
    chunk = next;
  }
  return { blocks, reads };
}
