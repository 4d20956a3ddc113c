/**
 * The table of tracker formats: every encoding kholab knows, by kind — how the first kernel's
 * tracker is created, how the successor reads the bytes (per block and, where the encoding
 * has one, batched), what it can do (`TrackerCapabilities`). The built-in kinds are
 * {@link BUILTIN_TRACKER_FORMATS}; a user's design joins the table through
 * {@link registerTrackerFormat} (`defineTracker` in `lib/design/`). Creating a tracker,
 * walking handed-over bytes and asking whether a kind exists are lookups in this table.
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import type { TrackerKind } from "../profiles.ts";
import { TrackerCounters } from "./counters.ts";
import { checkedWalk, checkedWalkBatched, incomingTracker } from "./incoming.ts";
import { kernelWalkKhoser, kernelWalkRadix } from "./kernel_walk.ts";
import { KHOSER_MAX_ORDER, walkKhoserChunks, walkKhoserChunksBatched } from "./khoser.ts";
import { OrderTableTracker, walkOrderTable } from "./order_table.ts";
import { RadixTree, walkRadixTree, walkRadixTreeBatched } from "./radix.ts";
import {
  JGG_CODEC,
  ONE_HOT_CODEC,
  type RadixKeyCodec,
  TYPED_CODEC,
  TYPED_FIXED_CODEC,
} from "./radix_codecs.ts";
import type {
  IncomingTrackerOptions,
  OutgoingTracker,
  TrackerFormat,
  TrackerHost,
  WalkBatchCallback,
  WalkCallback,
} from "./tracker.ts";
import { XarrayTracker } from "./xarray.ts";
import type { XarrayBitmapBytes } from "./khoser.ts";
import type { WalkOutcome } from "./walk_guard.ts";

export type { TrackerHost } from "./tracker.ts";

/** The reader options every built-in reader takes, from the format's arguments. */
function readerOptions(mem: PhysicalMemory, rootPhys: number, o: IncomingTrackerOptions) {
  return { mem, rootPhys, isRam: o.isRam, log: o.log, counters: o.counters };
}

function xarrayFormat(bitmapBytes: XarrayBitmapBytes): TrackerFormat {
  const kind = bitmapBytes === 512 ? "xarray-512" : "xarray-4k";
  return {
    kind,
    summary: bitmapBytes === 512
      ? "6.16's xarray of 512-byte bitmaps per order, serialized into khoser_mem_chunk lists"
      : "6.18/6.19's xarray of 4 KiB bitmaps per order, serialized into khoser_mem_chunk lists",
    capabilities: {
      maxOrder: KHOSER_MAX_ORDER,
      pageType: false,
      rollback: "exact",
      walkOrder: "order-asc",
      batchedWalk: true,
    },
    create: (h) => new XarrayTracker({ ...h, bitmapBytes }),
    incoming(mem, rootPhys, o = {}) {
      const counters = o.counters ?? new TrackerCounters();
      const options = {
        mem,
        firstChunkPhys: rootPhys,
        bitmapBytes,
        isRam: o.isRam,
        log: o.log,
        counters,
      };
      return incomingTracker({
        kind,
        structure: "memory map",
        counters,
        walk: (cb) => walkKhoserChunks(options, cb),
        walkBatched: (cb) => walkKhoserChunksBatched(options, cb),
      });
    },
    serialize: (t) => (t as XarrayTracker).serialize({ era: "6.19" }),
    kernelReplay: {
      fn: "deserialize_bitmap",
      walk: (host, rootPhys, cb) => kernelWalkKhoser(host, rootPhys, bitmapBytes, cb),
    },
  };
}

const ORDER_TABLE: TrackerFormat = {
  kind: "order-table",
  summary: "RFC v1 (2025-09): per-order page tables of 32768-bit bitmaps, slots for orders 0..9",
  capabilities: {
    maxOrder: 9,
    pageType: false,
    rollback: "none",
    walkOrder: "order-asc",
    batchedWalk: false,
  },
  create: (h) => OrderTableTracker.create({ mem: h.mem, alloc: h.alloc, log: h.log }),
  incoming(mem, rootPhys, o = {}) {
    const counters = o.counters ?? new TrackerCounters();
    const options = { ...readerOptions(mem, rootPhys, o), counters };
    return incomingTracker({
      kind: "order-table",
      structure: "order table",
      counters,
      walk: (cb) => walkOrderTable(options, cb),
    });
  },
};

/**
 * A radix tree of one key codec: the one core of `radix.ts`. The kernel's walk is replayed
 * for the kernel's keys and the page-type RFC's (a kernel or a posted patch has it); not for
 * the `order << 51` keys of a review, which no kernel walks.
 */
function radixFormat(codec: RadixKeyCodec, summary: string): TrackerFormat {
  return {
    ...(codec === JGG_CODEC ? {} : {
      kernelReplay: {
        fn: "kho_preserved_memory_reserve",
        walk: (host, rootPhys, cb) => kernelWalkRadix(host, codec, rootPhys, cb),
      },
    }),
    kind: codec.kind,
    summary,
    capabilities: {
      maxOrder: codec.maxOrder,
      pageType: codec.typed,
      rollback: "exact",
      walkOrder: codec === JGG_CODEC ? "order-asc" : "order-desc",
      // a batch carries no page type
      batchedWalk: !codec.typed,
    },
    create: (h) => RadixTree.create({ codec, mem: h.mem, alloc: h.alloc, log: h.log }),
    incoming(mem, rootPhys, o = {}) {
      const counters = o.counters ?? new TrackerCounters();
      const options = { ...readerOptions(mem, rootPhys, o), counters, codec };
      return incomingTracker({
        kind: codec.kind,
        structure: "radix tree",
        counters,
        walk: (cb) => walkRadixTree(options, cb),
        ...(codec.typed ? {} : { walkBatched: (cb) => walkRadixTreeBatched(options, cb) }),
      });
    },
  };
}

/** The built-in formats, in table order. */
export const BUILTIN_TRACKER_FORMATS: readonly TrackerFormat[] = [
  xarrayFormat(512),
  xarrayFormat(4096),
  ORDER_TABLE,
  radixFormat(
    ONE_HOT_CODEC,
    "the unified radix tree (kho-v2 on): one-hot order keys, 6 levels, 32768-bit leaves",
  ),
  radixFormat(
    TYPED_CODEC,
    "page-type RFC (2026-07) as posted: one-hot keys with CONTIG/SPLIT in key bit 63",
  ),
  radixFormat(
    TYPED_FIXED_CODEC,
    "page-type RFC with the type in key bit 53, inside the 60 indexed bits",
  ),
  radixFormat(
    JGG_CODEC,
    "radix keys (order << 51) | (phys >> (12 + order)) (review of RFC v1, 2025-09)",
  ),
];

const FORMATS = new Map<string, TrackerFormat>(BUILTIN_TRACKER_FORMATS.map((f) => [f.kind, f]));
const BUILTIN = new Set(FORMATS.keys());

/**
 * Adds a format to the table (or replaces a user format of the same kind). A built-in kind
 * cannot be replaced: RangeError. `defineTracker` (lib/design) validates the format first.
 */
export function registerTrackerFormat(format: TrackerFormat): void {
  if (BUILTIN.has(format.kind)) {
    throw new RangeError(`tracker kind "${format.kind}" is built in and cannot be redefined`);
  }
  FORMATS.set(format.kind, format);
}

/** Whether `kind` is one of kholab's own formats. */
export function isBuiltinTrackerKind(kind: string): boolean {
  return BUILTIN.has(kind);
}

/**
 * The format of `kind`; RangeError for an unknown kind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trackerFormat } from "./registry.ts";
 * assert.equal(trackerFormat("order-table").capabilities.maxOrder, 9);
 * assert.equal(trackerFormat("radix").capabilities.rollback, "exact");
 * ```
 */
export function trackerFormat(kind: TrackerKind): TrackerFormat {
  const f = FORMATS.get(kind);
  if (f === undefined) {
    throw new RangeError(`unknown tracker kind "${kind}" (known: ${trackerKinds().join(", ")})`);
  }
  return f;
}

/** Every kind in the table: the built-in ones first, then registered ones in order. */
export function trackerKinds(): string[] {
  return [...FORMATS.keys()];
}

/** Whether kholab implements tracker `kind` (both directions): it is in the table. */
export function trackerAvailable(kind: TrackerKind): boolean {
  return FORMATS.has(kind);
}

/**
 * Builds the outgoing tracker of `kind`. Throws KhoError ENOMEM when its root cannot be
 * allocated.
 */
export function createTracker(kind: TrackerKind, host: TrackerHost): OutgoingTracker {
  return trackerFormat(kind).create(host);
}

/** What the successor's walk found: its reader's outcome without the stop result. */
export type IncomingWalkResult = Omit<WalkOutcome<string>, "stopped">;

/** Options of {@link walkIncoming}: a reader's options, none left to its default. */
export interface IncomingWalkOptions extends Required<IncomingTrackerOptions> {
  /** Physical memory as the successor sees it. */
  mem: PhysicalMemory;
  /** The memory-map property's value. */
  rootPhys: number;
}

function reader(kind: TrackerKind, o: IncomingWalkOptions) {
  return trackerFormat(kind).incoming(o.mem, o.rootPhys, {
    isRam: o.isRam,
    log: o.log,
    counters: o.counters,
  });
}

function result(r: ReturnType<typeof checkedWalk>): IncomingWalkResult {
  return { ok: r.ok, error: r.error, detail: r.detail, blocks: r.blocks, rejected: r.rejected };
}

/**
 * Walks handed-over tracker bytes of `kind` from `rootPhys`; never throws for corrupted
 * bytes. A successor built for one kind reads the bytes as that kind, whatever wrote them.
 * Readers whose keys carry a page type pass it as the callback's third argument.
 */
export function walkIncoming(
  kind: TrackerKind,
  options: IncomingWalkOptions,
  cb: WalkCallback,
): IncomingWalkResult {
  return result(checkedWalk(reader(kind, options), cb));
}

/** Whether {@link walkIncomingBatched} reads `kind` natively (blocks carry no page type). */
export function batchedWalkAvailable(kind: TrackerKind): boolean {
  return trackerFormat(kind).capabilities.batchedWalk;
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
  return result(checkedWalkBatched(reader(kind, options), cb));
}

export { TrackerCounters };
