/**
 * KHO serialization blocks (Linux 7.2, `kernel/liveupdate/kho_block.c`): a growable set of
 * preserved pages, chained by physical address, that holds fixed-size entries across kexec.
 * LUO keeps its sessions (80-byte entries, 51 per block) and each session's files (64-byte
 * entries, 63 per block) in such sets.
 *
 * The outgoing kernel grows the set ahead of need (`kho_block_set_grow`, one
 * `kho_alloc_preserve(PAGE_SIZE)` per block), writes entries at reboot through an iterator that
 * rewrites the block's header count on every reservation, and shrinks it from the tail. The
 * successor rebuilds the set from the bytes alone (`kho_block_set_restore`): Floyd's cycle
 * check over at most 10000 iterations, then a walk that requires `1 ≤ count ≤ count_per_block`
 * in every header and at most {@link KHO_MAX_BLOCKS} blocks. On failure it gives back every
 * block it took and every block after the failing one to the page allocator.
 *
 * The list nodes (`struct kho_block`) are ordinary slab memory in the kernel: here a JavaScript
 * array of header addresses, lost at kexec like the kernel's. Only the pages cross.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { FaultInjector } from "../kernel/faults.ts";
import { KernelOops } from "../kernel/oops.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import { hex } from "../units.ts";
import {
  blockEntryPhys,
  countPerBlock,
  KHO_BLOCK_ENTRIES_BYTES,
  KHO_BLOCK_HEADER_LAYOUT,
  KHO_BLOCK_SIZE,
  KHO_MAX_BLOCKS,
  readBlockCount,
  readBlockHeader,
  readBlockNext,
  u64Decimal,
  writeBlockCount,
  writeBlockNext,
} from "./abi/block.ts";
import type { Kho } from "./kho.ts";
import type { KernelWalkHost } from "./trackers/tracker.ts";

/** Allocation site of a `struct kho_block` list node (`kzalloc_obj`). */
export const KHO_BLOCK_NODE_SITE = "kzalloc:kho_block";

/** What a block set needs from its kernel. */
export interface KhoBlockHost extends KernelWalkHost {
  /** `kho_alloc_preserve`, `kho_unpreserve_free`, `kho_restore_free`. */
  readonly kho: Pick<Kho, "allocPreserve" | "unpreserveFree" | "restoreFree">;
  /** Slab allocation failures (the list nodes). */
  readonly faults: FaultInjector;
}

/**
 * `struct kho_block_set`: one chain of blocks of `entrySize`-byte entries, outgoing (grown and
 * written by this kernel) or incoming (restored from the previous kernel's bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { KhoBlockSet } from "./block.ts";
 * const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
 * const k1 = Kernel.coldBoot(machine);
 * const host = (k: Kernel) => ({
 *   mem: machine.mem, isRam: (p: number, n: number) => machine.topology.isRam(p, n),
 *   kho: k.kho, log: k.log, faults: k.faults,
 * });
 * const out = new KhoBlockSet(host(k1), 80); // 51 entries per block
 * out.grow(52);
 * const it = out.iterator();
 * for (let i = 0; i < 52; i++) machine.mem.writeU64(it.reserveEntry()!, i);
 * const head = out.headPa;
 * k1.kho.addSubtree("demo", head, 4096);
 * const k2 = k1.kexec();
 * const inc = new KhoBlockSet(host(k2), 80);
 * inc.restore(k2.kho.retrieveSubtree("demo").phys);
 * assert.equal(inc.nblocks, 2);
 * const rd = inc.iterator();
 * let n = 0;
 * for (let e = rd.readEntry(); e !== null; e = rd.readEntry()) assert.equal(machine.mem.readU64(e), n++);
 * assert.equal(n, 52);
 * ```
 */
export class KhoBlockSet {
  /** Bytes of one entry. */
  readonly entrySize: number;
  /** ⌊4080 / entrySize⌋ entries per block. */
  readonly countPerBlock: number;
  readonly #host: KhoBlockHost;
  /** Header addresses of the blocks, in chain order (the kernel's `blocks` list). */
  readonly #blocks: number[] = [];
  #headPa = 0;
  #incoming = false;

  /** `kho_block_set_init(bs, entry_size)`: WARNs when no entry fits in a block. */
  constructor(host: KhoBlockHost, entrySize: number) {
    this.#host = host;
    this.entrySize = entrySize;
    this.countPerBlock = countPerBlock(entrySize);
    if (this.countPerBlock === 0) {
      host.log.warnOnOnce("kho_block_set_init", `entry size ${entrySize} > 4080`);
    }
  }

  /** `bs->nblocks`. */
  get nblocks(): number {
    return this.#blocks.length;
  }

  /** `kho_block_set_head_pa`: physical address of the first header, 0 when empty. */
  get headPa(): number {
    return this.#headPa;
  }

  /** `bs->incoming`: set by {@link KhoBlockSet.restore}. */
  get incoming(): boolean {
    return this.#incoming;
  }

  /** `kho_block_set_is_empty`. */
  get isEmpty(): boolean {
    return this.#blocks.length === 0;
  }

  /** Header addresses of the blocks, first to last. */
  blocks(): readonly number[] {
    return this.#blocks;
  }

  /**
   * `kho_block_set_grow(bs, count)`: adds blocks until `count` entries fit. EINVAL (with a
   * WARN) on an incoming set; otherwise the error of the first block that fails (ENOMEM, the
   * `kho_alloc_preserve` error — EINVAL when KHO is off —, ENOSPC beyond 10000 blocks), after
   * removing every block this call added.
   */
  grow(count: number): void {
    checkCount(count);
    if (this.#incoming) {
      this.#host.log.warnOnOnce("kho_block_set_grow", "incoming block set");
      throw new KhoError("EINVAL", "kho_block_set_grow: incoming block set");
    }
    const orig = this.#blocks.length;
    try {
      while (count > this.#blocks.length * this.countPerBlock) this.#growOne();
    } catch (e) {
      while (this.#blocks.length > orig) this.#shrinkOne();
      throw e;
    }
  }

  /**
   * `kho_block_set_shrink(bs, count)`: removes tail blocks while `count` entries fit in the
   * blocks before them. Callers remove entries in reverse insertion order.
   */
  shrink(count: number): void {
    checkCount(count);
    while (
      this.#blocks.length > 0 && count <= (this.#blocks.length - 1) * this.countPerBlock
    ) this.#shrinkOne();
  }

  /**
   * `kho_block_set_restore(bs, head_pa)`: marks the set incoming and rebuilds it from the chain
   * at `headPa` (0: an empty set). EINVAL for a cycle or a chain Floyd's check gives up on
   * (more than 20000 blocks), EINVAL for a header count of 0 or above `countPerBlock`, ENOSPC
   * for the 10001st block. On a count or ENOSPC failure every block already taken and every
   * block from the failing one to the end of the chain is given back (`kho_restore_free`); a
   * cycle frees nothing. A `next` outside RAM faults ({@link KernelOops}).
   */
  restore(headPa: number): void {
    this.#incoming = true;
    if (headPa === 0) return;
    this.#headPa = headPa;
    if (this.#isCyclic()) {
      this.#headPa = 0;
      throw new KhoError("EINVAL", "kho_block_set_restore: block set is corrupted");
    }
    const { mem, log } = this.#host;
    let nextPa = headPa;
    let err: KhoError;
    for (;;) {
      if (nextPa === 0) return;
      this.#ram(nextPa, KHO_BLOCK_HEADER_LAYOUT.size, "kho_block_set_restore");
      const h = readBlockHeader(mem, nextPa);
      if (h.countHi !== 0 || h.countLo === 0 || h.countLo > this.countPerBlock) {
        const count = u64Decimal(h.countLo, h.countHi);
        log.warning("kho_block", `Block contains invalid entry count: ${count}`);
        err = new KhoError("EINVAL", `kho_block_set_restore: block ${hex(nextPa)} count ${count}`);
        break;
      }
      try {
        this.#add(nextPa);
      } catch (e) {
        err = e as KhoError;
        break;
      }
      nextPa = h.next;
    }
    this.destroy();
    while (nextPa !== 0) {
      this.#ram(nextPa, 8, "kho_block_set_restore");
      const following = readBlockNext(mem, nextPa);
      this.#host.kho.restoreFree(nextPa);
      nextPa = following;
    }
    throw err;
  }

  /**
   * `kho_block_set_destroy`: frees every block (`kho_restore_free` when incoming, else
   * `kho_unpreserve_free`), in chain order.
   */
  destroy(): void {
    for (const b of this.#blocks) this.#freeSer(b);
    this.#blocks.length = 0;
    this.#headPa = 0;
  }

  /** `kho_block_set_clear`: every header count to 0 and every entry area zeroed; blocks kept. */
  clear(): void {
    const mem = this.#host.mem;
    for (const b of this.#blocks) {
      writeBlockCount(mem, b, 0);
      mem.zero(b + KHO_BLOCK_HEADER_LAYOUT.size, KHO_BLOCK_ENTRIES_BYTES);
    }
  }

  /** `kho_block_set_it_init`: an iterator at the first entry of the first block. */
  iterator(): KhoBlockSetIt {
    return new KhoBlockSetIt(this, this.#host.mem, this.#blocks);
  }

  #growOne(): void {
    const ser = this.#host.kho.allocPreserve(KHO_BLOCK_SIZE);
    try {
      this.#add(ser);
    } catch (e) {
      this.#freeSer(ser);
      throw e;
    }
  }

  /** `kho_block_add`. */
  #add(ser: number): void {
    if (this.#blocks.length >= KHO_MAX_BLOCKS) {
      throw new KhoError("ENOSPC", `kho_block_add: ${KHO_MAX_BLOCKS} blocks`);
    }
    if (this.#host.faults.shouldFail(KHO_BLOCK_NODE_SITE)) {
      throw new KhoError("ENOMEM", "kho_block_add: kzalloc");
    }
    const last = this.#blocks.at(-1);
    this.#blocks.push(ser);
    if (last !== undefined) writeBlockNext(this.#host.mem, last, ser);
    else this.#headPa = ser;
  }

  /** `kho_block_set_shrink_one`. */
  #shrinkOne(): void {
    const last = this.#blocks.pop();
    if (last === undefined) return;
    this.#freeSer(last);
    const newLast = this.#blocks.at(-1);
    if (newLast !== undefined) writeBlockNext(this.#host.mem, newLast, 0);
    else this.#headPa = 0;
  }

  #freeSer(ser: number): void {
    if (this.#incoming) this.#host.kho.restoreFree(ser);
    else this.#host.kho.unpreserveFree(ser);
  }

  /** `kho_block_set_is_cyclic`: Floyd, giving up after KHO_MAX_BLOCKS iterations. */
  #isCyclic(): boolean {
    const fn = "kho_block_set_is_cyclic";
    let fast = this.#headPa;
    let slow = fast;
    let count = 0;
    for (;;) {
      if (count++ >= KHO_MAX_BLOCKS) break;
      const n1 = this.#next(fast, fn);
      if (n1 === 0) return false;
      fast = n1;
      const n2 = this.#next(fast, fn);
      if (n2 === 0) return false;
      fast = n2;
      slow = this.#next(slow, fn);
      if (slow === fast) break;
    }
    this.#host.log.error("kho_block", "Block set is corrupted");
    return true;
  }

  #next(phys: number, fn: string): number {
    this.#ram(phys, 8, fn);
    return readBlockNext(this.#host.mem, phys);
  }

  #ram(phys: number, size: number, fn: string): void {
    if (!this.#host.isRam(phys, size)) {
      throw new KernelOops({ address: phys, fn }, this.#host.log);
    }
  }
}

/**
 * `struct kho_block_set_it`: a cursor over a set's entries. Entries are returned as physical
 * addresses; the caller reads or writes them with its own layout.
 */
export class KhoBlockSetIt {
  readonly #bs: KhoBlockSet;
  readonly #mem: PhysicalMemory;
  readonly #blocks: readonly number[];
  /** Index of the current block in the list, -1 when the set has none. */
  #block: number;
  #i = 0;

  /** `kho_block_set_it_init`. */
  constructor(bs: KhoBlockSet, mem: PhysicalMemory, blocks: readonly number[]) {
    this.#bs = bs;
    this.#mem = mem;
    this.#blocks = blocks;
    this.#block = blocks.length > 0 ? 0 : -1;
  }

  /**
   * `kho_block_set_it_reserve_entry`: the next free slot, moving to the next block when this
   * one is full; null when the set has no block or its last block is full. Rewrites the
   * block's header `count` to the number of slots reserved in it so far.
   */
  reserveEntry(): number | null {
    if (this.#block < 0) return null;
    if (this.#i === this.#bs.countPerBlock) {
      if (this.#block === this.#blocks.length - 1) return null;
      this.#block++;
      this.#i = 0;
    }
    const b = this.#blocks[this.#block];
    const entry = blockEntryPhys(b, this.#bs.entrySize, this.#i++);
    writeBlockCount(this.#mem, b, this.#i);
    return entry;
  }

  /**
   * `kho_block_set_it_read_entry`: the next written entry (up to each header's `count`), or
   * null after the last.
   */
  readEntry(): number | null {
    if (this.#block < 0) return null;
    if (this.#i === readBlockCount(this.#mem, this.#blocks[this.#block])) {
      if (this.#block === this.#blocks.length - 1) return null;
      this.#block++;
      this.#i = 0;
    }
    return blockEntryPhys(this.#blocks[this.#block], this.#bs.entrySize, this.#i++);
  }

  /**
   * `kho_block_set_it_prev`: steps back one slot (to the last slot of the previous block from
   * the start of one); null at the very beginning. The header count is not decremented.
   */
  prev(): number | null {
    if (this.#block < 0) return null;
    if (this.#i === 0) {
      if (this.#block === 0) return null;
      this.#block--;
      this.#i = this.#bs.countPerBlock;
    }
    return blockEntryPhys(this.#blocks[this.#block], this.#bs.entrySize, --this.#i);
  }
}

function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`kho_block count ${count}: a non-negative integer`);
  }
}
