/**
 * Named objects of the kholab language: folios (gigantic ones through
 * `alloc_gigantic_folio`), page blocks (optionally scattered over a pool, or split), vmalloc
 * areas, memfd files, reserve_mem-like ranges, KHO sub-tree blobs, the blocks of a real host's
 * pfn list (`./object_pfns.ts`) and the kernel's own `reserve_mem=` regions. An object lives in one kernel: at kexec its name, blocks and
 * content hashes go into the manifest (`./handover.ts`) and the successor rebuilds it from
 * there as "incoming" — no JavaScript object crosses.
 *
 * Memory (`./object_memory.ts`) and KHO operations (`./object_kho.ts`) on objects live in
 * their own modules; this one holds the object itself and what scripts read of it.
 *
 * @module
 */

import type { MemfdFile } from "../clients/memfd.ts";
import type { LuoSessionFd } from "../luo/device.ts";
import type { KhoVmalloc } from "../kho/abi/kexec_handover.ts";
import { SCENARIO_SECTION_NAME_MAX } from "../scenario/manifest_abi.ts";
import type { Outcome } from "../metrics/outcomes.ts";
import { formatSize, PAGE_SIZE } from "../units.ts";
import { CommandError, didYouMean, type Span, SpannedError } from "./errors.ts";

/** Where an object is in its life (`reserved`: a `reserve_mem=` region the kernel owns). */
export type ObjectState = "allocated" | "preserved" | "incoming" | "restored" | "reserved";

/** The kinds of object. */
export type ObjectKind =
  | "folios"
  | "pages"
  | "vmalloc"
  | "memfd"
  | "reserve_mem"
  | "subtree"
  | "pfns";

/** The token of a memfd object in its LUO session (the session is named like the object). */
export const MEMFD_OBJECT_TOKEN = 1n;

/** Longest object name in bytes (a manifest section name). */
export const OBJECT_NAME_MAX: number = SCENARIO_SECTION_NAME_MAX;

const HASH_MUL = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;
const HASH_SEED = 0xcbf29ce484222325n;

/** The chain of per-block hashes into one object hash (FNV-style, in block order). */
export function chainHashes(hashes: readonly bigint[]): bigint {
  let h = HASH_SEED;
  for (const x of hashes) h = ((h ^ x) * HASH_MUL) & MASK64;
  return h;
}

/** What an object is made of when it is created or rebuilt. */
export interface ObjectInit {
  /** Name. */
  name: string;
  /** Kind. */
  kind: ObjectKind;
  /** Life state. */
  state: ObjectState;
  /** Physical address of each block. */
  phys?: number[];
  /** Pages of each block. */
  pages?: number[];
  /** Content hashes: one per block (folios, pages, reserve_mem) or one for the object. */
  hashes: bigint[];
  /** Bytes. */
  bytes: number;
  /** Page order of the blocks (vmalloc's area order, pages' block order). */
  order?: number;
  /** Blocks the first kernel meant to hand over but could not (counted as failed). */
  missing?: number;
  /** Why the first kernel could not hand those over (its preserve's errno), when it said. */
  missingReason?: string;
  /** Built from the manifest of the previous kernel (or a region it handed over). */
  handedOver?: boolean;
}

/**
 * One named object of the running kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Kernel } from "../boot/kernel.ts";
 * import { Machine } from "../machine/machine.ts";
 * import { Rng } from "../rng.ts";
 * import { createObject } from "./object_memory.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 31 }), { memmapBytesPerPage: 0 });
 * const o = createObject(k, new Rng(1), { name: "bufs", kind: "folios", opts: { order: 2, count: 3 } });
 * assert.ok(o.blocks() === 3 && o.totalPages() === 12 && o.hashes.length === 3);
 * ```
 */
export class DslObject {
  /** Name. */
  readonly name: string;
  /** Kind. */
  readonly kind: ObjectKind;
  /** Life state. */
  state: ObjectState;
  /** Physical address of each block (vmalloc: its page blocks once mapped; memfd: folios). */
  phys: number[];
  /** Pages of each block. */
  pages: number[];
  /** Content hashes: per block (folios, pages, reserve_mem) or one (the others). */
  readonly hashes: bigint[];
  /** Bytes. */
  bytes: number;
  /** Page order of the blocks. */
  order: number;
  /** The blocks were split into order-0 pages (`split_page`). */
  split = false;
  /** vmalloc area with VM_ALLOW_HUGE_VMAP. */
  huge = false;
  /** Extra pages owned but not preserved (a `within=` pool): [pfn, order] blocks. */
  pool: [number, number][] = [];
  /** vmalloc address in this kernel, or null. */
  vaddr: number | null = null;
  /** The memfd file in this kernel, or null. */
  file: MemfdFile | null = null;
  /** The vmalloc descriptor (preserved here, or handed over). */
  vm: KhoVmalloc | null = null;
  /** memfd: folios the first kernel recorded (before the file is restored). */
  nrFolios = 0;
  /** memfd: the LUO session holding the file in this kernel (open while preserved). */
  luoSession: LuoSessionFd | null = null;
  /** memfd, incoming: the LUO session name and token the previous kernel preserved it under. */
  luoRef: { session: string; token: bigint } | null = null;
  /** The memory came back from the previous kernel (`restore`), not from an allocation here. */
  restoredHere = false;
  /** How restored page blocks were given back (6.16, RFC v1: folios of the split). */
  restoredAs: "pages" | "folios" = "pages";
  /** reserve_mem region: revived from the previous kernel. */
  revived = false;
  /** Blocks whose restore failed, or that could not be preserved (by index). */
  failed: Set<number> = new Set();
  /** Blocks the first kernel could not hand over. */
  missing: number;
  /** Why the first kernel could not hand them over, when it said. */
  missingReason: string | null;
  /** Why blocks of this object failed to preserve here (handed over as the section's reason). */
  failReason: string | null = null;
  /** Result of the last `verify` (null: never verified). */
  verified: boolean | null = null;
  /** The object came from the previous kernel's handover (its outcome is shown by `show outcomes`). */
  readonly handedOver: boolean;
  /**
   * The outcome `restore` decided — `lost` (the walk did not keep a block, or the first kernel
   * could not hand it over) or `failedRestore` — with its reason; null while undecided (then
   * `verify` decides between restored and corrupted).
   */
  verdict: { outcome: Outcome; reason?: string } | null = null;

  /** Creates an object record. */
  constructor(init: ObjectInit) {
    this.name = init.name;
    this.kind = init.kind;
    this.state = init.state;
    this.phys = init.phys ?? [];
    this.pages = init.pages ?? [];
    this.hashes = init.hashes;
    this.bytes = init.bytes;
    this.order = init.order ?? 0;
    this.missing = init.missing ?? 0;
    this.missingReason = init.missingReason ?? null;
    this.handedOver = init.handedOver ?? false;
  }

  /** Preserved as folios (`kho_preserve_folio`) rather than page ranges. */
  get unit(): "folio" | "pages" {
    return this.kind === "folios" || this.kind === "subtree" || this.kind === "memfd"
      ? "folio"
      : "pages";
  }

  /** The object's content hash (the chain of its hashes). */
  get hash(): bigint {
    return chainHashes(this.hashes);
  }

  /** Number of blocks. */
  blocks(): number {
    if (this.phys.length > 0) return this.phys.length;
    if (this.vm !== null) return Math.ceil(this.vm.totalPages / 2 ** this.vm.order);
    return this.nrFolios;
  }

  /** Pages in all blocks. */
  totalPages(): number {
    if (this.phys.length === 0 && this.vm !== null) return this.vm.totalPages;
    let n = 0;
    for (const p of this.pages) n += p;
    return n;
  }

  /** Blocks that failed or were not handed over. */
  failedBlocks(): number {
    return this.failed.size + this.missing;
  }
}

/** The properties of objects in expressions (`guest.folios`) and their values. */
const PROPERTIES: Readonly<Record<string, (o: DslObject) => number>> = {
  blocks: (o) => o.blocks(),
  folios: (o) => o.unit === "folio" ? o.blocks() : 0,
  pages: (o) => o.totalPages(),
  bytes: (o) => o.bytes,
  order: (o) => o.unit === "folio" && o.pages.length ? Math.log2(o.pages[0]) : o.order,
  preserved: (o) => o.state === "preserved" ? 1 : 0,
  incoming: (o) => o.state === "incoming" ? 1 : 0,
  restored: (o) => o.state === "restored" ? 1 : 0,
  failed: (o) => o.failedBlocks(),
  verified: (o) => o.verified === true ? 1 : 0,
  phys: (o) => o.phys[0] ?? 0,
  revived: (o) => o.revived ? 1 : 0,
};

/** Properties of objects in expressions (`guest.folios`). */
export const OBJECT_PROPERTIES: readonly string[] = Object.keys(PROPERTIES);

/** The value of `obj.prop`. */
export function objectProperty(obj: DslObject, prop: string, span?: Span): number {
  if (Object.hasOwn(PROPERTIES, prop)) return PROPERTIES[prop](obj);
  const msg = `object ${obj.name} has no property "${prop}"${didYouMean(prop, OBJECT_PROPERTIES)}`;
  if (span) throw new SpannedError(null, msg, span);
  throw new CommandError(null, msg);
}

/** One-line description of an object. */
export function describe(o: DslObject): string {
  const blocks = o.unit !== "folio"
    ? `${o.blocks()} block(s), ${o.totalPages()} page(s)`
    : o.blocks() === 0
    ? "0 folios"
    : `${o.blocks()} folio(s) of ${formatSize(o.pages[0] * PAGE_SIZE)}`;
  return `${o.kind}, ${blocks}, ${formatSize(o.bytes)}, ${o.state}`;
}
