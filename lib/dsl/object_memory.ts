/**
 * The memory of the language's objects: allocating and filling a new object (folios, page
 * blocks, a vmalloc area, a memfd file, a reserve_mem-like range, a KHO sub-tree blob),
 * splitting page blocks, and freeing an object in whatever state it is (allocated here, or
 * restored from the previous kernel — with the allocator calls its restore calls for).
 *
 * Every operation is all or nothing: a failed creation frees what it allocated, whatever
 * the failure (the kernel's errno, an interrupt from `CreateRequest.tick`, an exception).
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import { memfdCreate, type MemfdFile, SHMEM_MAX_FOLIO_ORDER } from "../clients/memfd.ts";
import { KhoError } from "../errors.ts";
import { allocContigRange, allocGigantic, freeContigRange } from "../kernel/gigantic.ts";
import { MAX_FOLIO_ORDER } from "../kernel/memmap.ts";
import { VM_ALLOW_HUGE_VMAP } from "../kernel/vmalloc.ts";
import { splitPages } from "../kho/page_split.ts";
import type { FillSpec } from "../machine/physmem.ts";
import type { Rng } from "../rng.ts";
import { formatSize, getOrder, ilog2, MAX_PAGE_ORDER, PAGE_SIZE, PUD_ORDER } from "../units.ts";
import { DslObject, OBJECT_NAME_MAX, type ObjectKind } from "./objects.ts";
import type { FillSpecDsl } from "./values.ts";

/** What to create. */
export interface CreateRequest {
  /** Object name. */
  name: string;
  /** Object kind. */
  kind: string;
  /** Converted options of the kind (see the command table). */
  opts: Record<string, unknown>;
  /**
   * Called every {@link TICK_BLOCKS} blocks while allocating (the session's interrupt
   * check): what it throws ends the creation, everything allocated freed.
   */
  tick?: () => void;
}

/** Blocks allocated between two calls of {@link CreateRequest.tick}. */
export const TICK_BLOCKS = 4096;

/** `PhysicalMemory.hash64` of each block. */
export function blockHashes(
  kernel: Kernel,
  phys: readonly number[],
  pages: readonly number[],
): bigint[] {
  const mem = kernel.machine.mem;
  return phys.map((p, i) => mem.hash64(p, pages[i] * PAGE_SIZE));
}

/**
 * Writes a memfd's content through the file (one seeded pattern per folio for `random`), so
 * its folios are uptodate and dirty; `none` leaves them fallocated (they read as zeros).
 */
export function fillFile(file: MemfdFile, rng: Rng, fill: FillSpecDsl): void {
  if (fill.kind === "none") return;
  if (fill.kind !== "random") return file.fill(0, file.size, contentOf(fill, rng)!);
  for (const f of file.folios()) {
    const at = f.index * PAGE_SIZE;
    const len = Math.min(PAGE_SIZE * 2 ** f.order, file.size - at);
    if (len > 0) file.fill(at, len, contentOf(fill, rng)!);
  }
}

/** Fills each block as `fill` says (one seeded pattern per block for `random`). */
export function fillBlocks(
  kernel: Kernel,
  rng: Rng,
  fill: FillSpecDsl,
  phys: readonly number[],
  pages: readonly number[],
): void {
  const mem = kernel.machine.mem;
  for (let i = 0; i < phys.length; i++) {
    const content = contentOf(fill, rng);
    if (content !== null) mem.fill(phys[i], pages[i] * PAGE_SIZE, content);
  }
}

/** The content `fill` writes into one block or file (`random`: a fresh seeded pattern). */
function contentOf(fill: FillSpecDsl, rng: Rng): FillSpec | null {
  return fill.kind === "random"
    ? { pattern: rng.u32() }
    : fill.kind === "zero"
    ? { byte: 0 }
    : fill.kind === "byte"
    ? { byte: fill.value }
    : fill.kind === "pattern"
    ? { pattern: fill.value }
    : null;
}

function noMemory(what: string): never {
  throw new KhoError("ENOMEM", what);
}

function int(v: unknown, def: number): number {
  return v === undefined ? def : v as number;
}

/** Checks an object name against the manifest's limit. */
export function checkObjectName(name: string): void {
  if (new TextEncoder().encode(name).length > OBJECT_NAME_MAX) {
    throw new KhoError("EINVAL", `object name longer than ${OBJECT_NAME_MAX} bytes`);
  }
}

/**
 * Allocates, fills and hashes a new object (state "allocated"). Throws KhoError (ENOMEM,
 * EINVAL) with nothing left allocated.
 */
export function createObject(kernel: Kernel, rng: Rng, req: CreateRequest): DslObject {
  const { name, opts } = req;
  const kind = req.kind as ObjectKind;
  checkObjectName(name);
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
  let order = 0;
  let split = false;
  let huge = false;
  const pool: [number, number][] = [];
  let vaddr: number | null = null;
  let file: ReturnType<typeof memfdCreate> | null = null;
  const tick = (i: number) => {
    if (i % TICK_BLOCKS === TICK_BLOCKS - 1) req.tick?.();
  };
  const need = (n: number) => {
    if (n > b.nrFreePages()) noMemory(`${n} pages wanted, ${b.nrFreePages()} free`);
  };
  try {
    switch (kind) {
      case "folios": {
        const o = int(opts.order, 0);
        const count = int(opts.count, 1);
        if (!Number.isInteger(o) || o < 0 || o > MAX_FOLIO_ORDER) {
          throw new KhoError("EINVAL", `folio order ${o}: 0..${MAX_FOLIO_ORDER}`);
        }
        need(count * 2 ** o);
        for (let i = 0; i < count; i++) {
          tick(i);
          const pfn = o > MAX_PAGE_ORDER
            ? allocGigantic(b, o, nid ?? i % nodes)
            : b.folioAlloc(o, { nid });
          if (pfn === null) noMemory(`folio ${i + 1} of ${count} (order ${o})`);
          cleanup.push(() => b.folioPut(pfn));
          phys.push(pfn * PAGE_SIZE);
          pages.push(2 ** o);
        }
        order = o;
        break;
      }
      case "memfd": {
        // memfd_create + fallocate: a shmem file (THP folios up to PMD order), or with
        // folio=1G a hugetlbfs file (MFD_HUGETLB | MFD_HUGE_1GB) whose pages come from the
        // 1 GiB pool, grown first as an administrator does (nr_hugepages) when it lacks them.
        const size = opts.size as number;
        const folio = int(opts.folio, PAGE_SIZE);
        if (folio < PAGE_SIZE || 2 ** ilog2(folio) !== folio) {
          throw new KhoError("EINVAL", `folio=${folio}: a power of two ≥ 4K`);
        }
        if (size === 0) throw new KhoError("EINVAL", "size=0");
        order = ilog2(folio / PAGE_SIZE);
        const hugetlb = order === PUD_ORDER;
        if (!hugetlb && order > SHMEM_MAX_FOLIO_ORDER) {
          throw new KhoError(
            "EINVAL",
            `folio=${formatSize(folio)}: a shmem memfd's folios are at most 2M (PMD order); ` +
              `folio=1G makes a hugetlb memfd`,
          );
        }
        need(Math.ceil(size / folio) * 2 ** order);
        if (hugetlb) {
          const h = kernel.hugetlb.hstate(order)!;
          const want = Math.ceil(size / folio) - h.freeHugePages;
          if (want > 0 && kernel.hugetlb.growPool(order, h.nrHugePages + want) < h.nrHugePages) {
            noMemory(`1 GiB pool: ${want} more pages`);
          }
        }
        const f = memfdCreate(
          kernel,
          name,
          hugetlb ? { hugetlb: folio, nid } : {
            folioOrder: order,
            nid,
          },
        );
        cleanup.push(() => f.close());
        f.fallocate(0, hugetlb ? Math.ceil(size / folio) * folio : size);
        for (const x of f.folios()) {
          phys.push(x.pfn * PAGE_SIZE);
          pages.push(2 ** x.order);
        }
        file = f;
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
            tick(i);
            const pfn = b.allocPages(MAX_PAGE_ORDER, { nid, site: "pages_pool" });
            if (pfn === null) noMemory(`pool block ${i + 1} of ${poolPages / 1024}`);
            cleanup.push(() => b.freePages(pfn, MAX_PAGE_ORDER));
            pool.push([pfn, MAX_PAGE_ORDER]);
          }
          for (const k of choose(rng, poolPages, count)) {
            phys.push((pool[Math.floor(k / 1024)][0] + (k % 1024)) * PAGE_SIZE);
            pages.push(1);
          }
          phys.sort((x, y) => x - y);
        } else {
          need(count * 2 ** order);
          for (let i = 0; i < count; i++) {
            tick(i);
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
            split = true;
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
        huge = (area.flags & VM_ALLOW_HUGE_VMAP) !== 0;
        split = true;
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
        split = true;
        break;
      }
      default:
        throw new KhoError("EINVAL", `unknown object kind ${kind}`);
    }
    if (file !== null) fillFile(file, rng, fill);
    else fillBlocks(kernel, rng, fill, phys, pages);
    let hashes: bigint[];
    if (file !== null) {
      hashes = [file.hash64()];
    } else if (vaddr !== null) {
      hashes = [kernel.vmalloc.hash64(vaddr, pages.reduce((s, p) => s + p, 0) * PAGE_SIZE)];
    } else hashes = blockHashes(kernel, phys, pages);
    const obj = new DslObject({
      name,
      kind,
      state: "allocated",
      phys,
      pages,
      hashes,
      bytes: file?.size ?? pages.reduce((s, p) => s + p * PAGE_SIZE, 0),
      order,
    });
    obj.split = split;
    obj.huge = huge;
    obj.pool = pool;
    obj.vaddr = vaddr;
    obj.file = file;
    return obj;
  } catch (e) {
    // Any failure — the kernel's ENOMEM, an interrupt, an exception of the host — frees
    // everything allocated so far, last first.
    for (let i = cleanup.length - 1; i >= 0; i--) cleanup[i]();
    throw e;
  }
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
 * A sub-tree object: a preserved blob from `kho_alloc_preserve(size)` (6.19 on; EOPNOTSUPP
 * naming the API before), filled, and named in the root FDT (`kho_add_subtree`). Rolls back
 * on failure.
 */
export function createSubtree(
  kernel: Kernel,
  rng: Rng,
  req: { name: string; size: number; fill: FillSpecDsl },
): DslObject {
  checkObjectName(req.name);
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
    state: "preserved",
    phys: [phys],
    pages: [pages],
    hashes: [kernel.machine.mem.hash64(phys, req.size)],
    bytes: req.size,
  });
}

/** Removes a sub-tree object made by {@link createSubtree} in this kernel and frees its blob. */
export function removeSubtree(kernel: Kernel, obj: DslObject): void {
  kernel.kho.removeSubtree(obj.phys[0]);
  kernel.kho.unpreserveFree(obj.phys[0]);
}

/** split_page on every block of an unsplit pages object. */
export function splitObject(kernel: Kernel, obj: DslObject): void {
  for (let i = 0; i < obj.phys.length; i++) {
    if (obj.pages[i] > 1) kernel.memmap.splitPage(obj.phys[i] / PAGE_SIZE, ilog2(obj.pages[i]));
  }
  obj.split = true;
}

/** `folio_put` where the folio has a reference (6.16 restores order > 0 folios without one). */
function putFolio(kernel: Kernel, pfn: number): void {
  if (kernel.memmap.pageCount(pfn) > 0) kernel.buddy.folioPut(pfn);
}

/** Gives back the pages of restored blocks: per page, or per folio of the split (6.16, RFC v1). */
function freeRestoredRange(kernel: Kernel, obj: DslObject, i: number): void {
  const pfn = obj.phys[i] / PAGE_SIZE;
  if (obj.restoredAs === "folios") {
    for (const blk of splitPages(pfn, obj.pages[i])) putFolio(kernel, blk.pfn);
  } else {
    for (let k = 0; k < obj.pages[i]; k++) kernel.buddy.freePage(pfn + k);
  }
}

/** Frees an object's memory (it must not be preserved, incoming or a kernel region). */
export function freeObject(kernel: Kernel, obj: DslObject): void {
  const b = kernel.buddy;
  const restored = obj.restoredHere;
  if (obj.vaddr !== null) {
    kernel.vmalloc.vfree(obj.vaddr);
    obj.vaddr = null;
  } else if (obj.file !== null) {
    obj.file.close();
    obj.file = null;
  } else if (obj.kind === "reserve_mem" && !restored) {
    const s = obj.phys[0] / PAGE_SIZE;
    freeContigRange(b, s, s + obj.pages[0]);
  } else if (obj.kind === "pfns" && !restored) {
    // Each block was taken with alloc_contig_range: give it back the same way.
    for (let i = 0; i < obj.phys.length; i++) {
      const s = obj.phys[i] / PAGE_SIZE;
      if (!obj.failed.has(i)) freeContigRange(b, s, s + obj.pages[i]);
    }
  } else {
    for (let i = 0; i < obj.phys.length; i++) {
      if (obj.failed.has(i)) continue;
      const pfn = obj.phys[i] / PAGE_SIZE;
      if (obj.unit === "folio") {
        if (restored) putFolio(kernel, pfn);
        else b.folioPut(pfn);
      } else if (restored) freeRestoredRange(kernel, obj, i);
      else if (obj.split) {
        for (let k = 0; k < obj.pages[i]; k++) b.freePage(pfn + k);
      } else if (obj.pool.length === 0) b.freePages(pfn, ilog2(obj.pages[i]));
    }
  }
  for (const [pfn, order] of obj.pool) b.freePages(pfn, order);
  obj.pool = [];
}
