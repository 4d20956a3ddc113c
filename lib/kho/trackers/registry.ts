/**
 * Which tracker implements which {@link TrackerKind}: the outgoing tracker a kernel builds
 * and the walker its successor uses to read the handed-over bytes.
 *
 * @module
 */

import type { KernelLog } from "../../kernel/dmesg.ts";
import type { PhysicalMemory } from "../../machine/physmem.ts";
import type { TrackerKind } from "../profiles.ts";
import { TrackerCounters } from "./counters.ts";
import { type ScratchCheck, walkKhoserChunks, walkKhoserChunksBatched } from "./khoser.ts";
import { RadixTree, walkRadixTree, walkRadixTreeBatched } from "./radix.ts";
import type {
  MetadataPageAllocator,
  OutgoingTracker,
  WalkBatchCallback,
  WalkCallback,
} from "./tracker.ts";
import { XarrayTracker } from "./xarray.ts";
import { OrderTableTracker, walkOrderTable } from "./order_table.ts";
import {
  RadixVariantTree,
  TYPED_CODEC,
  TYPED_FIXED_CODEC,
  walkRadixVariant,
} from "./radix_variants.ts";

/** What an outgoing tracker is built from. */
export interface TrackerHost {
  /** Physical memory. */
  mem: PhysicalMemory;
  /** Metadata page source. */
  alloc: MetadataPageAllocator;
  /** Kernel log. */
  log: KernelLog;
  /** 6.18/6.19's debug check of metadata pages against scratch (index of the area, or -1). */
  scratchCheck?: ScratchCheck;
}

/**
 * Builds the outgoing tracker of `kind`. Throws KhoError ENOMEM when its root cannot be
 * allocated.
 */
export function createTracker(kind: TrackerKind, host: TrackerHost): OutgoingTracker {
  switch (kind) {
    case "radix":
      return RadixTree.create({ mem: host.mem, alloc: host.alloc, log: host.log });
    case "xarray-512":
    case "xarray-4k":
      return new XarrayTracker({
        mem: host.mem,
        alloc: host.alloc,
        log: host.log,
        bitmapBytes: kind === "xarray-512" ? 512 : 4096,
        scratchCheck: host.scratchCheck,
      });
    case "order-table":
      return OrderTableTracker.create({ mem: host.mem, alloc: host.alloc, log: host.log });
    case "radix-typed":
    case "radix-typed-fixed":
      return RadixVariantTree.create({
        codec: kind === "radix-typed" ? TYPED_CODEC : TYPED_FIXED_CODEC,
        mem: host.mem,
        alloc: host.alloc,
        log: host.log,
      });
  }
}

/** Whether kholab implements tracker `kind` (both directions). */
export function trackerAvailable(kind: TrackerKind): boolean {
  return ["radix", "xarray-512", "xarray-4k", "order-table", "radix-typed", "radix-typed-fixed"]
    .includes(kind);
}

/** What the successor's walk found. */
export interface IncomingWalkResult {
  /** False when a structural error aborted the walk. */
  ok: boolean;
  /** Named reason of the structural error. */
  error?: string;
  /** Detail of the error. */
  detail?: string;
  /** Blocks reported to the callback. */
  blocks: number;
  /** Entries rejected and skipped (memory outside RAM, …). */
  rejected: number;
}

/** Options of {@link walkIncoming}. */
export interface IncomingWalkOptions {
  /** Physical memory as the successor sees it. */
  mem: PhysicalMemory;
  /** The memory-map property's value. */
  rootPhys: number;
  /** RAM check. */
  isRam: (phys: number, size: number) => boolean;
  /** Log. */
  log: KernelLog;
  /** Counters to charge. */
  counters: TrackerCounters;
}

/**
 * Walks handed-over tracker bytes of `kind` from `rootPhys`; never throws for corrupted
 * bytes. A successor built for one kind reads the bytes as that kind, whatever wrote them.
 */
export function walkIncoming(
  kind: TrackerKind,
  options: IncomingWalkOptions,
  cb: WalkCallback,
): IncomingWalkResult {
  switch (kind) {
    case "radix": {
      const r = walkRadixTree({ ...options }, cb);
      return { ok: r.ok, error: r.error, detail: r.detail, blocks: r.blocks, rejected: r.rejected };
    }
    case "xarray-512":
    case "xarray-4k": {
      const r = walkKhoserChunks({
        mem: options.mem,
        firstChunkPhys: options.rootPhys,
        bitmapBytes: kind === "xarray-512" ? 512 : 4096,
        isRam: options.isRam,
        log: options.log,
        counters: options.counters,
      }, cb);
      return { ok: r.ok, error: r.error, detail: r.detail, blocks: r.blocks, rejected: r.rejected };
    }
    case "order-table": {
      const r = walkOrderTable({ ...options }, cb);
      return { ok: r.ok, error: r.error, detail: r.detail, blocks: r.blocks, rejected: r.rejected };
    }
    case "radix-typed":
    case "radix-typed-fixed": {
      const codec = kind === "radix-typed" ? TYPED_CODEC : TYPED_FIXED_CODEC;
      const r = walkRadixVariant({ ...options, codec }, cb);
      return { ok: r.ok, error: r.error, detail: r.detail, blocks: r.blocks, rejected: r.rejected };
    }
  }
}

/** Whether {@link walkIncomingBatched} reads `kind` natively (blocks carry no page type). */
export function batchedWalkAvailable(kind: TrackerKind): boolean {
  return kind === "radix" || kind === "xarray-512" || kind === "xarray-4k";
}

/**
 * {@link walkIncoming} delivering the blocks of one leaf or bitmap per call: `cb(phys, count,
 * order)` with the addresses in a buffer valid only during the call. Same blocks, order,
 * validation, counters and stop rule as the per-block walk; a JavaScript consumer that loops
 * over the batch avoids a function call (and a boxed address) per block. Native for the
 * kinds of {@link batchedWalkAvailable}; the others are walked block by block and delivered
 * in batches of one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walkIncomingBatched, TrackerCounters } from "./registry.ts";
 * import { PhysicalMemory } from "../../machine/physmem.ts";
 * import { KernelLog } from "../../kernel/dmesg.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * const r = walkIncomingBatched("radix", {
 *   mem, rootPhys: 0, isRam: () => true, log: new KernelLog(), counters: new TrackerCounters(),
 * }, () => 0);
 * assert.ok(!r.ok);
 * assert.equal(r.error, "root-null");
 * ```
 */
export function walkIncomingBatched(
  kind: TrackerKind,
  options: IncomingWalkOptions,
  cb: WalkBatchCallback,
): IncomingWalkResult {
  let r;
  switch (kind) {
    case "radix":
      r = walkRadixTreeBatched({ ...options }, cb);
      break;
    case "xarray-512":
    case "xarray-4k":
      r = walkKhoserChunksBatched({
        mem: options.mem,
        firstChunkPhys: options.rootPhys,
        bitmapBytes: kind === "xarray-512" ? 512 : 4096,
        isRam: options.isRam,
        log: options.log,
        counters: options.counters,
      }, cb);
      break;
    default: {
      const one = new Float64Array(1);
      return walkIncoming(kind, options, (phys, order) => {
        one[0] = phys;
        return cb(one, 1, order);
      });
    }
  }
  return { ok: r.ok, error: r.error, detail: r.detail, blocks: r.blocks, rejected: r.rejected };
}

export { TrackerCounters };
