/**
 * Objects of the kholab language, built directly on the engine: folios (gigantic ones
 * through `alloc_gigantic_folio`), page blocks (optionally scattered over a pool, or
 * split), vmalloc areas, memfd-like files and reserve_mem-like ranges. Each object is a list
 * of blocks (physical address, pages) preserved either as folios or as page ranges, and a
 * content hash taken at creation. An object lives in one kernel only: after kexec the
 * interpreter rebuilds it from the object table ({@link readObjectTable}).
 *
 * Every operation is all or nothing: a failed creation frees what it allocated, a failed
 * preserve unpreserves what it preserved.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { allocContigRange, allocGigantic, freeContigRange } from "../kernel/gigantic.ts";
import type { Kernel } from "../boot/kernel.ts";
import { MAX_FOLIO_ORDER } from "../kernel/memmap.ts";
import { VM_ALLOW_HUGE_VMAP } from "../kernel/vmalloc.ts";
import type { Rng } from "../rng.ts";
import { getOrder, ilog2, MAX_PAGE_ORDER, PAGE_SIZE } from "../units.ts";
import {
  OBJ_FLAG_HUGE,
  OBJ_FLAG_SPLIT,
  OBJ_FLAG_SUBTREE,
  OBJECT_NAME_MAX,
  type ObjectRecord,
} from "./object_table.ts";
import type { FillSpecDsl } from "./values.ts";

/** Where an object is in its life. */
export type ObjectState = "allocated" | "preserved" | "incoming" | "restored";

/**
 * One named object of the running kernel.
 *
 * @example
 * ```ts
 * import { Kernel } from "../boot/kernel.ts";
 * import { Machine } from "../machine/machine.ts";
 * import { Rng } from "../rng.ts";
 * import { createObject } from "./objects.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 31 }), { memmapBytesPerPage: 0 });
 * const o = createObject(k, new Rng(1), { name: "bufs", kind: "folios", opts: { order: 2, count: 3 } });
 * console.assert(o.blocks() === 3 && o.totalPages() === 12);
 * ```
 */
export class DslObject {
  /** Name. */
  readonly name: string;
  /** Kind (`folios`, `pages`, `vmalloc`, `memfd`, `reserve_mem`, `subtree`). */
  readonly kind: string;
  /** Preserved as folios (`kho_preserve_folio`) or page ranges (`kho_preserve_pages`). */
  readonly unit: "folio" | "pages";
  /** Physical address of each block. */
  readonly phys: number[];
  /** Pages of each block. */
  readonly pages: number[];
  /** OBJ_FLAG_* bits. */
  flags: number;
  /** Content hash. */
  readonly hash: bigint;
  /** Bytes. */
  readonly bytes: number;
  /** Page order of the blocks (vmalloc's area order). */
  readonly order: number;
  /** Life state. */
  state: ObjectState;
  /** Extra pages owned but not preserved (a `within=` pool): [pfn, order] blocks. */
  pool: [number, number][] = [];
  /** vmalloc address in this kernel, or null. */
  vaddr: number | null = null;
  /** Blocks whose restore failed (by index). */
  failed: Set<number> = new Set();
  /** Result of the last `verify` (null: never verified). */
  verified: boolean | null = null;

  /** Creates an object record. */
  constructor(init: {
    name: string;
    kind: string;
    unit: "folio" | "pages";
    phys: number[];
    pages: number[];
    flags?: number;
    hash: bigint;
    bytes: number;
    order?: number;
    state: ObjectState;
  }) {
    this.name = init.name;
    this.kind = init.kind;
    this.unit = init.unit;
    this.phys = init.phys;
    this.pages = init.pages;
    this.flags = init.flags ?? 0;
    this.hash = init.hash;
    this.bytes = init.bytes;
    this.order = init.order ?? 0;
    this.state = init.state;
  }

  /** Number of blocks. */
  blocks(): number {
    return this.phys.length;
  }

  /** Pages in all blocks. */
  totalPages(): number {
    let n = 0;
    for (const p of this.pages) n += p;
    return n;
  }

  /** The record written to the object table. */
  record(): ObjectRecord {
    return {
      name: this.name,
      kind: this.kind,
      unit: this.unit,
      flags: this.flags,
      phys: this.phys,
      pages: this.pages,
      hash: this.hash,
      bytes: this.bytes,
      order: this.order,
    };
  }

  /** Rebuilds an incoming object from its table record. */
  static fromRecord(r: ObjectRecord): DslObject {
    return new DslObject({ ...r, state: "incoming" });
  }
}

/** What to create. */
export interface CreateRequest {
  /** Object name. */
  name: string;
  /** Object kind. */
  kind: string;
  /** Converted options of the kind (see the command table). */
  opts: Record<string, unknown>;
}

const HASH_MUL = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** Content hash of blocks, in order (a chain over `hash64` of each block). */
export function contentHash(
  kernel: Kernel,
  phys: readonly number[],
  pages: readonly number[],
): bigint {
  const mem = kernel.machine.mem;
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < phys.length; i++) {
    h = ((h ^ mem.hash64(phys[i], pages[i] * PAGE_SIZE)) * HASH_MUL) & MASK64;
  }
  return h;
}

function fillBlocks(
  kernel: Kernel,
  rng: Rng,
  fill: FillSpecDsl,
  phys: readonly number[],
  pages: readonly number[],
): void {
  const mem = kernel.machine.mem;
  for (let i = 0; i < phys.length; i++) {
    const len = pages[i] * PAGE_SIZE;
    switch (fill.kind) {
      case "random":
        mem.fill(phys[i], len, { pattern: rng.u32() });
        break;
      case "zero":
        mem.fill(phys[i], len, { byte: 0 });
        break;
      case "byte":
        mem.fill(phys[i], len, { byte: fill.value });
        break;
      case "pattern":
        mem.fill(phys[i], len, { pattern: fill.value });
        break;
      case "none":
        break;
    }
  }
}

function noMemory(what: string): never {
  throw new KhoError("ENOMEM", what);
}

function int(v: unknown, def: number): number {
  return v === undefined ? def : v as number;
}

/**
 * Allocates, fills and hashes a new object (state "allocated"). Throws KhoError (ENOMEM,
 * EINVAL) with nothing left allocated.
 */
export function createObject(kernel: Kernel, rng: Rng, req: CreateRequest): DslObject {
  const { name, kind, opts } = req;
  if (new TextEncoder().encode(name).length > OBJECT_NAME_MAX) {
    throw new KhoError("EINVAL", `object name longer than ${OBJECT_NAME_MAX} bytes`);
  }
  const fill = (opts.fill as FillSpecDsl | undefined) ?? { kind: "random" };
  const b = kernel.buddy;
  const nodes = kernel.machine.topology.nodes;
  const nid = opts.node as number | undefined;
  if (nid !== undefined && (nid < 0 || nid >= nodes)) {
    throw new KhoError("EINVAL", `node=${nid}: the machine has ${nodes} node(s)`);
  }
  const phys: number[] = [];
  const pages: number[] = [];
  const cleanup: (() => void)[] = [];
  let unit: "folio" | "pages" = "pages";
  let flags = 0;
  let order = 0;
  const pool: [number, number][] = [];
  let vaddr: number | null = null;
  const need = (n: number) => {
    if (n > b.nrFreePages()) {
      noMemory(`${n} pages wanted, ${b.nrFreePages()} free`);
    }
  };
  const allocFolios = (o: number, count: number) => {
    if (!Number.isInteger(o) || o < 0 || o > MAX_FOLIO_ORDER) {
      throw new KhoError("EINVAL", `folio order ${o}: 0..${MAX_FOLIO_ORDER}`);
    }
    need(count * 2 ** o);
    unit = "folio";
    for (let i = 0; i < count; i++) {
      const pfn = o > MAX_PAGE_ORDER
        ? allocGigantic(b, o, nid ?? i % nodes)
        : b.folioAlloc(o, { nid });
      if (pfn === null) noMemory(`folio ${i + 1} of ${count} (order ${o})`);
      cleanup.push(() => b.folioPut(pfn));
      phys.push(pfn * PAGE_SIZE);
      pages.push(2 ** o);
    }
  };
  try {
    switch (kind) {
      case "folios":
        allocFolios(int(opts.order, 0), int(opts.count, 1));
        break;
      case "memfd": {
        const size = opts.size as number;
        const folio = int(opts.folio, PAGE_SIZE);
        if (folio < PAGE_SIZE || 2 ** ilog2(folio) !== folio) {
          throw new KhoError("EINVAL", `folio=${folio}: a power of two ≥ 4K`);
        }
        if (size === 0) throw new KhoError("EINVAL", "size=0");
        allocFolios(ilog2(folio / PAGE_SIZE), Math.ceil(size / folio));
        break;
      }
      case "pages": {
        const count = int(opts.count, 1);
        order = int(opts.order, 0);
        if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) {
          throw new KhoError("EINVAL", `order=${order}: 0..${MAX_PAGE_ORDER}`);
        }
        if (opts.within !== undefined) {
          if (order !== 0) throw new KhoError("EINVAL", "within= scatters order-0 pages (order=0)");
          const poolPages = Math.ceil((opts.within as number) / PAGE_SIZE / 1024) * 1024;
          if (count > poolPages) {
            throw new KhoError(
              "EINVAL",
              `count=${count} pages do not fit within ${poolPages} pages`,
            );
          }
          need(poolPages);
          for (let i = 0; i < poolPages / 1024; i++) {
            const pfn = b.allocPages(MAX_PAGE_ORDER, { nid, site: "pages_pool" });
            if (pfn === null) noMemory(`pool block ${i + 1} of ${poolPages / 1024}`);
            cleanup.push(() => b.freePages(pfn, MAX_PAGE_ORDER));
            pool.push([pfn, MAX_PAGE_ORDER]);
          }
          const pick = choose(rng, poolPages, count);
          for (const k of pick) {
            phys.push((pool[Math.floor(k / 1024)][0] + (k % 1024)) * PAGE_SIZE);
            pages.push(1);
          }
          phys.sort((x, y) => x - y);
        } else {
          need(count * 2 ** order);
          for (let i = 0; i < count; i++) {
            const pfn = b.allocPages(order, { nid });
            if (pfn === null) noMemory(`block ${i + 1} of ${count} (order ${order})`);
            cleanup.push(() => b.freePages(pfn, order));
            phys.push(pfn * PAGE_SIZE);
            pages.push(2 ** order);
          }
          if (opts.split === true) {
            for (const p of phys) kernel.memmap.splitPage(p / PAGE_SIZE, order);
            cleanup.length = 0;
            for (let i = 0; i < phys.length; i++) {
              const p0 = phys[i] / PAGE_SIZE;
              cleanup.push(() => {
                for (let k = 0; k < pages[i]; k++) b.freePage(p0 + k);
              });
            }
            flags |= OBJ_FLAG_SPLIT;
          }
        }
        break;
      }
      case "vmalloc": {
        const size = opts.size as number;
        need(Math.ceil(size / PAGE_SIZE));
        const addr = kernel.vmalloc.vmalloc(size, { hugeVmap: opts.huge === true, nid });
        if (addr === null) noMemory(`vmalloc(${size})`);
        cleanup.push(() => kernel.vmalloc.vfree(addr));
        const area = kernel.vmalloc.findVmArea(addr)!;
        order = area.pageOrder;
        const step = 2 ** order;
        for (let i = 0; i < area.nrPages; i += step) {
          phys.push(area.pages[i] * PAGE_SIZE);
          pages.push(step);
        }
        if (area.flags & VM_ALLOW_HUGE_VMAP) flags |= OBJ_FLAG_HUGE;
        flags |= OBJ_FLAG_SPLIT;
        vaddr = addr;
        break;
      }
      case "reserve_mem": {
        const size = opts.size as number;
        const align = int(opts.align, PAGE_SIZE);
        if (size === 0 || align === 0 || 2 ** ilog2(align) !== align) {
          throw new KhoError("EINVAL", `size ${size}, align ${align}: a size and a power of two`);
        }
        const n = Math.ceil(size / PAGE_SIZE);
        need(n);
        const o = getOrder(Math.max(size, align));
        let start: number | null = null;
        for (let k = 0; k < nodes && start === null; k++) {
          start = b.findFreeRange(((nid ?? 0) + k) % nodes, o);
        }
        if (start === null || !allocContigRange(b, start, start + n, { site: "reserve_mem" })) {
          noMemory(`no free ${size}-byte range aligned to ${align}`);
        }
        const s = start;
        cleanup.push(() => freeContigRange(b, s, s + n));
        phys.push(s * PAGE_SIZE);
        pages.push(n);
        flags |= OBJ_FLAG_SPLIT;
        break;
      }
      default:
        throw new KhoError("EINVAL", `unknown object kind ${kind}`);
    }
  } catch (e) {
    for (let i = cleanup.length - 1; i >= 0; i--) cleanup[i]();
    throw e;
  }
  fillBlocks(kernel, rng, fill, phys, pages);
  const obj = new DslObject({
    name,
    kind,
    unit,
    phys,
    pages,
    flags,
    hash: contentHash(kernel, phys, pages),
    bytes: pages.reduce((s, p) => s + p * PAGE_SIZE, 0),
    order,
    state: "allocated",
  });
  obj.pool = pool;
  obj.vaddr = vaddr;
  return obj;
}

/** `count` distinct indices out of [0, n), seeded. */
function choose(rng: Rng, n: number, count: number): number[] {
  if (count * 2 <= n) {
    const set = new Set<number>();
    while (set.size < count) set.add(rng.int(n));
    return [...set];
  }
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(n - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, count);
}

/**
 * A sub-tree object: a preserved blob from `kho_alloc_preserve(size)`, filled, and named in
 * the root FDT (`kho_add_subtree`). Rolls back on failure.
 */
export function createSubtree(
  kernel: Kernel,
  rng: Rng,
  req: { name: string; size: number; fill: FillSpecDsl },
): DslObject {
  if (req.size <= 0 || req.size > 2 ** MAX_PAGE_ORDER * PAGE_SIZE) {
    throw new KhoError("EINVAL", `sub-tree size ${req.size}: 1..4M`);
  }
  const phys = kernel.kho.allocPreserve(req.size);
  const pages = 2 ** getOrder(req.size);
  try {
    fillBlocks(kernel, rng, req.fill, [phys], [pages]);
    kernel.kho.addSubtree(req.name, phys, req.size);
  } catch (e) {
    kernel.kho.unpreserveFree(phys);
    throw e;
  }
  return new DslObject({
    name: req.name,
    kind: "subtree",
    unit: "folio",
    phys: [phys],
    pages: [pages],
    flags: OBJ_FLAG_SUBTREE,
    hash: contentHash(kernel, [phys], [pages]),
    bytes: req.size,
    state: "preserved",
  });
}

/** Removes a sub-tree object made by {@link createSubtree} in this kernel and frees its blob. */
export function removeSubtree(kernel: Kernel, obj: DslObject): void {
  kernel.kho.removeSubtree(obj.phys[0]);
  kernel.kho.unpreserveFree(obj.phys[0]);
}

function preserveBlock(kernel: Kernel, obj: DslObject, i: number): void {
  const pfn = obj.phys[i] / PAGE_SIZE;
  if (obj.unit === "folio") kernel.kho.preserveFolio(pfn);
  else kernel.kho.preservePages(pfn, obj.pages[i]);
}

function unpreserveBlock(kernel: Kernel, obj: DslObject, i: number): void {
  const pfn = obj.phys[i] / PAGE_SIZE;
  if (obj.unit === "folio") kernel.kho.unpreserveFolio(pfn);
  else kernel.kho.unpreservePages(pfn, obj.pages[i]);
}

/** Preserves every block; on failure unpreserves the blocks done and rethrows. */
export function preserveObject(kernel: Kernel, obj: DslObject): void {
  for (let i = 0; i < obj.phys.length; i++) {
    if (obj.failed.has(i)) continue;
    try {
      preserveBlock(kernel, obj, i);
    } catch (e) {
      for (let k = i - 1; k >= 0; k--) if (!obj.failed.has(k)) unpreserveBlock(kernel, obj, k);
      throw e;
    }
  }
  obj.state = "preserved";
}

/** Unpreserves every block (state back to allocated). */
export function unpreserveObject(kernel: Kernel, obj: DslObject): void {
  for (let i = obj.phys.length - 1; i >= 0; i--) {
    if (!obj.failed.has(i)) unpreserveBlock(kernel, obj, i);
  }
  obj.state = "allocated";
}

/** split_page on every block of an unsplit pages object. */
export function splitObject(kernel: Kernel, obj: DslObject): void {
  for (let i = 0; i < obj.phys.length; i++) {
    if (obj.pages[i] > 1) kernel.memmap.splitPage(obj.phys[i] / PAGE_SIZE, ilog2(obj.pages[i]));
  }
  obj.flags |= OBJ_FLAG_SPLIT;
}

/** Frees an object's memory (it must not be preserved). */
export function freeObject(kernel: Kernel, obj: DslObject): void {
  const b = kernel.buddy;
  if (obj.vaddr !== null) {
    kernel.vmalloc.vfree(obj.vaddr);
  } else if (obj.kind === "reserve_mem" && obj.state === "allocated") {
    const s = obj.phys[0] / PAGE_SIZE;
    freeContigRange(b, s, s + obj.pages[0]);
  } else {
    for (let i = 0; i < obj.phys.length; i++) {
      if (obj.failed.has(i)) continue;
      const pfn = obj.phys[i] / PAGE_SIZE;
      if (obj.unit === "folio") b.folioPut(pfn);
      else if (obj.flags & OBJ_FLAG_SPLIT || obj.state === "restored") {
        for (let k = 0; k < obj.pages[i]; k++) b.freePage(pfn + k);
      } else if (obj.pool.length === 0) b.freePages(pfn, ilog2(obj.pages[i]));
    }
  }
  for (const [pfn, order] of obj.pool) b.freePages(pfn, order);
  obj.pool = [];
}

/**
 * Restores an incoming object (`kho_restore_folio` / `kho_restore_pages`; a vmalloc area is
 * mapped again). Returns the blocks restored and failed.
 */
export function restoreObject(kernel: Kernel, obj: DslObject): { ok: number; failed: number } {
  let ok = 0;
  const kho = kernel.kho;
  if (obj.flags & OBJ_FLAG_SUBTREE) {
    try {
      const r = kho.retrieveSubtree(obj.name);
      if (r.phys !== obj.phys[0]) obj.failed.add(0);
    } catch {
      obj.failed.add(0);
    }
  }
  for (let i = 0; i < obj.phys.length; i++) {
    if (obj.failed.has(i)) continue;
    const r = obj.unit === "folio"
      ? kho.restoreFolio(obj.phys[i])
      : kho.restorePages(obj.phys[i], obj.pages[i]);
    if (r === null) obj.failed.add(i);
    else ok++;
  }
  if (obj.kind === "vmalloc" && obj.failed.size === 0) {
    const pfns: number[] = [];
    for (let i = 0; i < obj.phys.length; i++) {
      for (let k = 0; k < obj.pages[i]; k++) pfns.push(obj.phys[i] / PAGE_SIZE + k);
    }
    obj.vaddr = kernel.vmalloc.vmapPages(
      pfns,
      obj.order,
      obj.flags & OBJ_FLAG_HUGE ? VM_ALLOW_HUGE_VMAP : 0,
    );
  }
  obj.state = "restored";
  return { ok, failed: obj.failed.size };
}

/** Whether the object's memory still hashes to its creation hash. */
export function verifyObject(kernel: Kernel, obj: DslObject): boolean {
  const ok = obj.failed.size === 0 && contentHash(kernel, obj.phys, obj.pages) === obj.hash;
  obj.verified = ok;
  return ok;
}
