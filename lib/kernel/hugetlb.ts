/**
 * HugeTLB pools (`mm/hugetlb.c`): one {@link Hstate} per huge page size, each a pool of
 * folios that hugetlbfs files (and `MFD_HUGETLB` memfds) take their pages from. Pool pages
 * are held by the pool, not by the buddy allocator.
 *
 * The boot modelled (x86_64: 2 MiB and 1 GiB hstates):
 * - the hstates: the command line's (`__setup` handlers, in order), then the 1 GiB one (x86's
 *   `gigantic_pages_init`: a CPU with gbpages is assumed), then the default one (2 MiB unless
 *   `default_hugepagesz=`); `hugepagesz=SIZE` registers an hstate,
 *   `hugepages=N` (or `hugepages=NID:N,NID:N`) sizes the hstate named just before it — or the
 *   default one when no `hugepagesz=` came first — and `default_hugepagesz=SIZE` names the
 *   default (2 MiB otherwise); `hugetlb_free_vmemmap=on|off` switches HVO
 *   (`./vmemmap.ts`; off by default: Kconfig `HUGETLB_PAGE_OPTIMIZE_VMEMMAP_DEFAULT_ON`
 *   defaults to n — what a distribution sets is its choice); `hugetlb_cma=SIZE` reserves CMA
 *   for gigantic pages, shared out over the nodes;
 * - {@link Hugetlb.bootmemAlloc} (`hugetlb_bootmem_alloc`, before the buddy allocator
 *   exists): every gigantic page (order > MAX_PAGE_ORDER) comes from memblock, 1 GiB aligned,
 *   node by node in turn (`memblock_alloc_try_nid_raw`, falling back to any node); what cannot
 *   be had is reported ("Only allocated N hugepages"). A caller may say how many pages of an
 *   hstate are already there (the HugeTLB live update RFC's `hstate_liveupdate_pages`): only
 *   the remainder is allocated;
 * - {@link Hugetlb.init} (`hugetlb_init`, a subsys_initcall): the boot-memory folios are
 *   prepared (compound, refcount 0 in the free list), HVO'd and counted; 2 MiB pools come from
 *   the buddy allocator; each size is reported ("registered … pre-allocated N pages").
 *
 * Run time: {@link Hugetlb.allocFolio} dequeues a free folio (`alloc_hugetlb_folio`; the
 * preferred node first), {@link Hugetlb.freeFolio} puts it back (`free_huge_folio`: the pool
 * keeps it), {@link Hugetlb.addFolios} accounts folios that arrive from elsewhere
 * (`account_new_hugetlb_folio`, HVO first — a live update's retrieve) and
 * {@link Hugetlb.growPool} is `nr_hugepages` growing (gigantic pages from the hugetlb CMA
 * areas, else `alloc_contig_pages`). kholab does not shrink pools (that would re-populate the
 * vmemmap HVO freed), nor model surplus pages, reservations or cgroups.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Topology } from "../machine/topology.ts";
import { GiB, MAX_PAGE_ORDER, MiB, PAGE_SIZE, PAGEBLOCK_NR_PAGES, PUD_ORDER } from "../units.ts";
import type { BuddyAllocator } from "./buddy.ts";
import { cmdlineWords, kstrtobool, memparse } from "./cmdline.ts";
import type { KernelLog } from "./dmesg.ts";
import type { FaultInjector } from "./faults.ts";
import { allocContigRange, allocGigantic, prepGiganticFolio } from "./gigantic.ts";
import { type Gfp, GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import type { Memblock } from "./memblock.ts";
import type { Memmap } from "./memmap.ts";
import { hugetlbVmemmapOptimizableBytes } from "./vmemmap.ts";

/** HUGETLB_PAGE_ORDER on x86_64: the 2 MiB hstate. */
export const HPAGE_PMD_ORDER = 9;
/** Huge page orders x86_64 supports (`arch_hugetlb_valid_size`: PMD and PUD with gbpages). */
export const HUGETLB_ORDERS: readonly number[] = [HPAGE_PMD_ORDER, PUD_ORDER];
/**
 * `htlb_alloc_mask` of a 2 MiB hstate on x86_64 (movable: hugepage migration is supported)
 * with `__GFP_RETRY_MAYFAIL | __GFP_NOWARN`.
 */
const POOL_GFP: Gfp = Object.freeze({ ...GFP_HIGHUSER_MOVABLE, noWarn: true });
/** The same with `__GFP_THISNODE` (`alloc_pool_huge_folio` for one node). */
const POOL_GFP_THISNODE: Gfp = Object.freeze({ ...POOL_GFP, exactNode: true });
/** Fault-injection site of a boot-time gigantic page (`memblock_alloc_try_nid_raw`). */
export const HUGETLB_BOOTMEM_SITE = "alloc_bootmem_huge_page";
/** Fault-injection site of a pool page from the buddy allocator (`alloc_pool_huge_folio`). */
export const HUGETLB_POOL_SITE = "alloc_pool_huge_folio";

/**
 * `string_get_size(size, 1, STRING_UNITS_2)`: three significant digits and a binary unit, as
 * the HugeTLB messages print a page size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stringGetSize } from "./hugetlb.ts";
 * assert.equal(stringGetSize(2 ** 30), "1.00 GiB");
 * assert.equal(stringGetSize(2 ** 21), "2.00 MiB");
 * assert.equal(stringGetSize(16380 * 1024), "16.0 MiB");
 * ```
 */
export function stringGetSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${bytes} B`;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${units[i]}`;
}

/** What the command line asks of the HugeTLB pools. */
export interface HugetlbParams {
  /** Hstates in registration order (`hugepagesz=` order, then the default if not named). */
  readonly sizes: readonly {
    readonly order: number;
    /** `hugepages=` for it: total pages, or per node (`nid → pages`). */
    readonly pages: number;
    readonly perNode: ReadonlyMap<number, number> | null;
  }[];
  /** The default hstate's order (`default_hugepagesz=`, else 2 MiB). */
  readonly defaultOrder: number;
  /** `hugetlb_free_vmemmap=`: HVO on (default off, Kconfig's default). */
  readonly hvo: boolean;
  /** `hugetlb_cma=`: bytes of CMA for gigantic pages (0: none). */
  readonly cmaBytes: number;
  /** Parameters the kernel rejects or ignores, with its message. */
  readonly errors: readonly string[];
}

function sizeOrder(text: string): number | null {
  const { value, end } = memparse(text, 0);
  if (end !== text.length || value === 0) return null;
  const order = Math.log2(value / PAGE_SIZE);
  return HUGETLB_ORDERS.includes(order) ? order : null;
}

function parsePages(text: string): { pages: number; perNode: Map<number, number> | null } | null {
  if (/^\d+$/.test(text)) return { pages: Number(text), perNode: null };
  const perNode = new Map<number, number>();
  let pages = 0;
  for (const part of text.split(",")) {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) return null;
    perNode.set(Number(m[1]), Number(m[2]));
    pages += Number(m[2]);
  }
  return { pages, perNode };
}

/**
 * Reads the HugeTLB parameters from a command line, in order (`hugepagesz=` applies to the
 * `hugepages=` after it). Messages follow mm/hugetlb.c (wording **[UNVERIFIED]** in detail).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHugetlbParams } from "./hugetlb.ts";
 * const p = parseHugetlbParams("hugepagesz=1G hugepages=90 hugetlb_free_vmemmap=on");
 * assert.deepEqual(p.sizes.map((s) => [s.order, s.pages]), [[18, 90], [9, 0]]); // 2 MiB: default
 * assert.equal(p.hvo, true);
 * const q = parseHugetlbParams("hugepages=0:3,1:4"); // the default hstate: 2 MiB
 * assert.deepEqual(q.sizes.map((s) => [s.order, s.pages]), [[18, 0], [9, 7]]);
 * ```
 */
export function parseHugetlbParams(cmdline: string): HugetlbParams {
  const errors: string[] = [];
  const sizes: { order: number; pages: number; perNode: Map<number, number> | null }[] = [];
  let defaultOrder = HPAGE_PMD_ORDER;
  let hvo = false;
  let cmaBytes = 0;
  let current: number | null = null; // order of the last valid hugepagesz=
  let lastValid = true;
  let defaultPages: { pages: number; perNode: Map<number, number> | null } | null = null;
  const sizeFor = (order: number) => {
    let s = sizes.find((x) => x.order === order);
    if (s === undefined) {
      s = { order, pages: 0, perNode: null };
      sizes.push(s);
    }
    return s;
  };
  const words = cmdlineWords(cmdline);
  for (const [key, value] of words) {
    if (key === "default_hugepagesz") {
      const o = sizeOrder(value);
      if (o === null) errors.push(`HugeTLB: unsupported default_hugepagesz=${value}`);
      else defaultOrder = o;
    }
  }
  const pagesSet = new Set<number | "default">();
  for (const [key, value] of words) {
    switch (key) {
      case "hugepagesz": {
        const o = sizeOrder(value);
        if (o === null) {
          errors.push(`HugeTLB: unsupported hugepagesz=${value}`);
          lastValid = false;
          break;
        }
        lastValid = true;
        if (sizes.some((x) => x.order === o)) {
          errors.push(`HugeTLB: hugepagesz=${value} specified twice, ignoring`);
          current = o;
          break;
        }
        sizeFor(o);
        current = o;
        break;
      }
      case "hugepages": {
        if (!lastValid) {
          errors.push(`HugeTLB: hugepages=${value} does not follow a valid hugepagesz, ignoring`);
          lastValid = true;
          break;
        }
        const target = current ?? "default";
        if (pagesSet.has(target)) {
          errors.push(
            `HugeTLB: hugepages= specified twice without interleaving hugepagesz=, ignoring`,
          );
          break;
        }
        const p = parsePages(value);
        if (p === null) {
          errors.push(`HugeTLB: Invalid hugepages parameter ${value}`);
          break;
        }
        pagesSet.add(target);
        if (current === null) defaultPages = p;
        else Object.assign(sizeFor(current), p);
        break;
      }
      case "hugetlb_free_vmemmap": {
        const b = kstrtobool(value);
        if (b === null) errors.push(`hugetlb_free_vmemmap=${value}: not a boolean`);
        else hvo = b;
        break;
      }
      case "hugetlb_cma": {
        const { value: v, end } = memparse(value, 0);
        if (end !== value.length) errors.push(`hugetlb_cma: invalid parameter ${value}`);
        else cmaBytes = v;
        break;
      }
    }
  }
  // x86's gigantic_pages_init (an arch_initcall) registers the 1 GiB hstate on a CPU with
  // gbpages, then hugetlb_init the default one: after the command line's, in that order.
  sizeFor(PUD_ORDER);
  const dflt = sizeFor(defaultOrder);
  if (defaultPages !== null) Object.assign(dflt, defaultPages);
  return { sizes, defaultOrder, hvo, cmaBytes, errors };
}

/** One huge page size and its pool (`struct hstate`). */
export class Hstate {
  /** Page order (9: 2 MiB, 18: 1 GiB). */
  readonly order: number;
  /** `max_huge_pages`: what the command line (or `nr_hugepages`) asks for. */
  maxHugePages: number;
  /** Per-node request (`hugepages=NID:N,…`), or null. */
  readonly perNode: ReadonlyMap<number, number> | null;
  /** Folios in the pool (free and in use), per node. */
  readonly nrHugePagesNode: number[];
  /** Free folios, per node (head pfns; the last freed is dequeued first). */
  readonly #free: number[][];
  /** Folios in use (head pfns). */
  readonly #inUse = new Set<number>();
  /** Boot-memory folios not yet gathered (`huge_boot_pages`). */
  readonly bootmem: number[] = [];

  /** An empty pool. */
  constructor(
    order: number,
    nodes: number,
    request: { pages: number; perNode: ReadonlyMap<number, number> | null },
  ) {
    this.order = order;
    this.maxHugePages = request.pages;
    this.perNode = request.perNode;
    this.nrHugePagesNode = new Array(nodes).fill(0);
    this.#free = Array.from({ length: nodes }, () => []);
  }

  /** `hugepages-2048kB`, `hugepages-1048576kB` (the sysfs directory). */
  get name(): string {
    return `hugepages-${2 ** this.order * PAGE_SIZE / 1024}kB`;
  }

  /** Bytes per huge page. */
  get pageBytes(): number {
    return 2 ** this.order * PAGE_SIZE;
  }

  /** Pages per huge page. */
  get pagesPerHugePage(): number {
    return 2 ** this.order;
  }

  /** Whether pages of this size come from memblock at boot (order > MAX_PAGE_ORDER). */
  get gigantic(): boolean {
    return this.order > MAX_PAGE_ORDER;
  }

  /** `nr_hugepages`. */
  get nrHugePages(): number {
    return this.nrHugePagesNode.reduce((a, b) => a + b, 0);
  }

  /** `free_hugepages`. */
  get freeHugePages(): number {
    return this.#free.reduce((a, l) => a + l.length, 0);
  }

  /** Free folios of node `nid`. */
  freeOnNode(nid: number): number {
    return this.#free[nid]?.length ?? 0;
  }

  /** Whether `pfn` heads a folio of this pool in use. */
  inUse(pfn: number): boolean {
    return this.#inUse.has(pfn);
  }

  /** Puts a folio of this pool on its node's free list. */
  enqueue(pfn: number, nid: number): void {
    this.#free[nid].push(pfn);
  }

  /** Takes a free folio, from `nid` first (then the other nodes unless `exact`); or null. */
  dequeue(nid: number, exact: boolean): number | null {
    const nodes = this.#free.length;
    for (let k = 0; k < (exact ? 1 : nodes); k++) {
      const list = this.#free[(nid + k) % nodes];
      const pfn = list.pop();
      if (pfn !== undefined) {
        this.#inUse.add(pfn);
        return pfn;
      }
    }
    return null;
  }

  /** Marks a folio in use (one that joined the pool in use: a retrieved folio). */
  markInUse(pfn: number): void {
    this.#inUse.add(pfn);
  }

  /** Clears a folio's in-use mark; false when it was not in use. */
  release(pfn: number): boolean {
    return this.#inUse.delete(pfn);
  }
}

/** What the pools need of the kernel. */
export interface HugetlbHost {
  /** RAM layout. */
  readonly topology: Topology;
  /** struct pages and the vmemmap. */
  readonly memmap: Memmap;
  /** The boot's log. */
  readonly log: KernelLog;
  /** Fault injection. */
  readonly faults: FaultInjector;
}

/** A hugetlb CMA area (one per node). */
export interface HugetlbCmaArea {
  /** Node. */
  readonly nid: number;
  /** First byte (1 GiB aligned). */
  readonly base: number;
  /** Bytes. */
  readonly size: number;
}

/**
 * The HugeTLB pools of one kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 8 * 2 ** 30 }), {
 *   cmdline: "hugepagesz=1G hugepages=4 hugetlb_free_vmemmap=on",
 * });
 * const h = k.hugetlb.hstate(18)!;
 * assert.equal(h.nrHugePages, 4); // from memblock at boot: the pool holds them, not the buddy
 * assert.match(k.log.text(), /HugeTLB: registered 1.00 GiB page size, pre-allocated 4 pages/);
 * assert.equal(k.memmap.vmemmap.hvoFreedBytes, 4 * 4095 * 4096); // HVO: 4095 of 4096 pages each
 * ```
 */
export class Hugetlb {
  /** The hstates, in registration order (`for_each_hstate`). */
  readonly hstates: readonly Hstate[];
  /** The default hstate (`default_hstate`). */
  readonly defaultHstate: Hstate;
  /** HVO (`hugetlb_free_vmemmap`). */
  readonly hvo: boolean;
  /** `hugetlb_cma=` bytes asked. */
  readonly cmaBytes: number;
  /** The hugetlb CMA areas reserved (none when disabled or not asked). */
  readonly cmaAreas: HugetlbCmaArea[] = [];
  readonly #host: HugetlbHost;
  #buddy: BuddyAllocator | null = null;

  /** The pools the command line asks for (nothing allocated yet); the parse errors are logged. */
  constructor(host: HugetlbHost, cmdline: string) {
    this.#host = host;
    const p = parseHugetlbParams(cmdline);
    for (const e of p.errors) host.log.warning("", e);
    const nodes = host.topology.nodes;
    this.hstates = p.sizes.map((s) => new Hstate(s.order, nodes, s));
    this.defaultHstate = this.hstates.find((h) => h.order === p.defaultOrder)!;
    const sps = host.memmap.vmemmap.structPageBytes;
    if (p.hvo && hugetlbVmemmapOptimizableBytes(PUD_ORDER, sps) === 0) {
      host.log.warning(
        "HugeTLB",
        'cannot optimize vmemmap pages because "struct page" crosses page boundaries',
      );
      this.hvo = false;
    } else this.hvo = p.hvo;
    this.cmaBytes = p.cmaBytes;
  }

  /** The hstate of `order`, or null. */
  hstate(order: number): Hstate | null {
    return this.hstates.find((h) => h.order === order) ?? null;
  }

  /**
   * `hugetlb_cma_reserve(PUD_ORDER)`: `hugetlb_cma=` shared out over the nodes with memory,
   * each share rounded up to 1 GiB and reserved from memblock, 1 GiB aligned ("hugetlb_cma:
   * reserved N MiB on node M"). `disabled` names why it is skipped instead (logged).
   */
  cmaReserve(memblock: Memblock, disabled?: string): void {
    if (this.cmaBytes === 0) return;
    const log = this.#host.log;
    if (disabled !== undefined) {
      log.info("hugetlb_cma", disabled);
      return;
    }
    const nodes = this.#host.topology.nodesWithMemory();
    const per = Math.ceil(this.cmaBytes / nodes.length / GiB) * GiB;
    for (const nid of nodes) {
      const base = memblock.allocExactNid({ size: per, align: GiB, nid });
      if (base === 0) {
        log.warning("hugetlb_cma", `reservation failed: err -12, node ${nid}`);
        continue;
      }
      this.cmaAreas.push({ nid, base, size: per });
      log.info("hugetlb_cma", `reserved ${per / MiB} MiB on node ${nid}`);
    }
  }

  /**
   * `hugetlb_bootmem_alloc`: the gigantic pages of every hstate from memblock, 1 GiB aligned:
   * per node as asked, or node by node in turn. `preserved(order)` is how many pages of that
   * hstate are already there (a live update's preserved folios): only `max - preserved` are
   * allocated (taken off per-node requests in node order, an assumption). Returns the pages
   * allocated per order.
   */
  bootmemAlloc(
    memblock: Memblock,
    preserved: (order: number) => number = () => 0,
  ): Map<number, number> {
    const out = new Map<number, number>();
    const { topology, faults } = this.#host;
    const nodes = topology.nodesWithMemory();
    for (const h of this.hstates) {
      if (!h.gigantic) continue;
      const already = Math.min(preserved(h.order), h.maxHugePages);
      const want = h.maxHugePages - already;
      let got = 0;
      const alloc = (nid: number, exact: boolean): boolean => {
        if (faults.shouldFail(HUGETLB_BOOTMEM_SITE)) return false;
        const opts = { size: h.pageBytes, align: h.pageBytes, nid };
        const phys = exact ? memblock.allocExactNid(opts) : memblock.allocTryNid(opts);
        if (phys === 0) return false;
        h.bootmem.push(phys / PAGE_SIZE);
        got++;
        return true;
      };
      if (h.perNode !== null) {
        // The pages already there are taken off the nodes' requests in node order (how the
        // RFC treats node-specific requests is not known: kholab's assumption).
        let skip = already;
        for (const [nid, asked] of h.perNode) {
          const n = asked - Math.min(asked, skip);
          skip -= asked - n;
          let i = 0;
          for (; i < n && alloc(nid, true); i++);
          if (i < n) this.#reportShort(h, n, i, nid);
        }
      } else {
        let next = 0;
        while (got < want) {
          let ok = false;
          for (let k = 0; k < nodes.length && !ok; k++) {
            ok = alloc(nodes[(next + k) % nodes.length], false);
            if (ok) next = (next + k + 1) % nodes.length;
          }
          if (!ok) break;
        }
        if (got < want) this.#reportShort(h, want, got, null);
      }
      out.set(h.order, got);
    }
    return out;
  }

  #reportShort(h: Hstate, asked: number, got: number, nid: number | null): void {
    const size = stringGetSize(h.pageBytes);
    this.#host.log.warning(
      "HugeTLB",
      nid === null
        ? `allocating ${asked} of page size ${size} failed.  Only allocated ${got} hugepages.`
        : `allocating ${asked} of page size ${size} failed node${nid}.  Only allocated ${got} hugepages.`,
    );
  }

  /**
   * `hugetlb_init`: the hugetlb CMA areas become CMA pageblocks; the boot-memory folios are
   * gathered (compound, refcount 0, HVO, counted, free); the 2 MiB pools are allocated from
   * the buddy allocator (`alloc_pool_huge_folio`, node by node); each hstate is reported.
   */
  init(buddy: BuddyAllocator): void {
    this.#buddy = buddy;
    const { memmap, topology, log, faults } = this.#host;
    for (const a of this.cmaAreas) {
      for (
        let pfn = a.base / PAGE_SIZE;
        pfn < (a.base + a.size) / PAGE_SIZE;
        pfn += PAGEBLOCK_NR_PAGES
      ) {
        buddy.initCmaReservedPageblock(pfn);
      }
    }
    for (const h of this.hstates) {
      if (h.gigantic) {
        // gather_bootmem_prealloc: prep, HVO (hugetlb_vmemmap_optimize_folios), account, free.
        for (const pfn of h.bootmem) {
          prepGiganticFolio(memmap, pfn, h.order);
          memmap.setPageCount(pfn, 0);
          this.#optimize(pfn, h.order);
          const nid = topology.nidOfPfn(pfn);
          h.nrHugePagesNode[nid]++;
          h.enqueue(pfn, nid);
        }
        h.bootmem.length = 0;
      } else if (h.maxHugePages > 0) {
        const nodes = topology.nodesWithMemory();
        const plan: [number, number][] = h.perNode !== null
          ? [...h.perNode]
          : nodes.map((nid, i) => [
            nid,
            Math.floor(h.maxHugePages / nodes.length) + (i < h.maxHugePages % nodes.length ? 1 : 0),
          ]);
        let got = 0;
        for (const [nid, n] of plan) {
          for (let i = 0; i < n; i++) {
            if (faults.shouldFail(HUGETLB_POOL_SITE)) break;
            const pfn = buddy.folioAlloc(h.order, { gfp: POOL_GFP_THISNODE, nid });
            if (pfn === null) break;
            memmap.setPageCount(pfn, 0);
            this.#optimize(pfn, h.order);
            h.nrHugePagesNode[nid]++;
            h.enqueue(pfn, nid);
            got++;
          }
        }
        if (got < h.maxHugePages) this.#reportShort(h, h.maxHugePages, got, null);
      }
    }
    for (const h of this.hstates) {
      const size = stringGetSize(h.pageBytes);
      log.info("HugeTLB", `registered ${size} page size, pre-allocated ${h.nrHugePages} pages`);
      const free = hugetlbVmemmapOptimizableBytes(h.order, memmap.vmemmap.structPageBytes);
      log.info("HugeTLB", `${free / 1024} KiB vmemmap can be freed for a ${size} page`);
    }
  }

  /**
   * HVO of one folio (`hugetlb_vmemmap_optimize_folio`): with `hugetlb_free_vmemmap=on`, the
   * folio keeps one vmemmap page and the rest go to the buddy allocator (when the vmemmap is
   * charged to memblock; otherwise only counted); a folded folio is skipped. Returns the bytes
   * freed.
   */
  #optimize(head: number, order: number): number {
    if (!this.hvo) return 0;
    const v = this.#host.memmap.vmemmap;
    // A folio whose vmemmap the boot mapped folded (a design's) is optimized already
    // (HPageVmemmapOptimized): nothing is left to free.
    if (v.foldOf(head)?.headPfn === head) return 0;
    const bytes = v.recordHvo(order);
    const r = v.hvoRange(head, order);
    if (r !== null && r.endPfn > r.startPfn && this.#buddy !== null) {
      this.#buddy.freeBootRange(r.startPfn, r.endPfn, this.#host.topology.nidOfPfn(r.startPfn));
    }
    return bytes;
  }

  /**
   * `alloc_hugetlb_folio`: a free folio of `order` for a file, from `nid` first (or null:
   * `-ENOSPC` for the file, no surplus pages here). Its refcount becomes 1.
   */
  allocFolio(order: number, nid = 0): number | null {
    const h = this.hstate(order);
    if (h === null) return null;
    const pfn = h.dequeue(nid, false);
    if (pfn !== null) this.#host.memmap.setPageCount(pfn, 1);
    return pfn;
  }

  /** `free_huge_folio`: back to its node's free list (the pool keeps it). */
  freeFolio(pfn: number, order: number): void {
    const h = this.hstate(order);
    if (h === null || !h.release(pfn)) {
      this.#host.log.warn(
        "free_huge_folio",
        `pfn 0x${pfn.toString(16)} is not a hugetlb folio in use`,
      );
      return;
    }
    this.#host.memmap.setPageCount(pfn, 0);
    h.enqueue(pfn, this.#host.topology.nidOfPfn(pfn));
  }

  /**
   * Folios of `order` that join the pool from outside it (`hugetlb_vmemmap_optimize_folios`
   * then `account_new_hugetlb_folio` per folio): HVO'd, counted in `nr_hugepages`, and either
   * in use (a retrieved file's pages, refcount 1) or free (`prep_and_add_allocated_folios`).
   * EINVAL when this kernel has no hstate of that order.
   */
  addFolios(pfns: readonly number[], order: number, inUse: boolean): void {
    const h = this.hstate(order);
    if (h === null) throw new KhoError("EINVAL", `no hstate of order ${order}`);
    const { memmap, topology } = this.#host;
    for (const pfn of pfns) this.#optimize(pfn, order);
    for (const pfn of pfns) {
      const nid = topology.nidOfPfn(pfn);
      h.nrHugePagesNode[nid]++;
      if (inUse) {
        memmap.setPageCount(pfn, 1);
        h.markInUse(pfn);
      } else {
        memmap.setPageCount(pfn, 0);
        h.enqueue(pfn, nid);
      }
    }
  }

  /**
   * `nr_hugepages` grown to `count` (never shrunk here): 2 MiB pages from the buddy allocator,
   * gigantic ones from the hugetlb CMA areas first, then `alloc_contig_pages`; each HVO'd and
   * freed into the pool. Returns the pool size reached.
   */
  growPool(order: number, count: number): number {
    const h = this.hstate(order);
    const buddy = this.#buddy;
    if (h === null || buddy === null) throw new KhoError("EINVAL", `no hstate of order ${order}`);
    const nodes = this.#host.topology.nodesWithMemory();
    let k = 0;
    while (h.nrHugePages < count) {
      const nid = nodes[k++ % nodes.length];
      let pfn: number | null = null;
      if (h.gigantic) {
        for (const a of this.cmaAreas) {
          for (
            let p = a.base / PAGE_SIZE;
            pfn === null && p < (a.base + a.size) / PAGE_SIZE;
            p += h.pagesPerHugePage
          ) {
            if (
              allocContigRange(buddy, p, p + h.pagesPerHugePage, {
                comp: true,
                site: "hugetlb_cma_alloc",
              })
            ) pfn = p;
          }
          if (pfn !== null) break;
        }
        pfn ??= allocGigantic(buddy, h.order, nid);
      } else {
        pfn = buddy.folioAlloc(h.order, { gfp: POOL_GFP, nid });
      }
      if (pfn === null) break;
      this.#host.memmap.setPageCount(pfn, 0);
      this.#optimize(pfn, h.order);
      const at = this.#host.topology.nidOfPfn(pfn);
      h.nrHugePagesNode[at]++;
      h.enqueue(pfn, at);
    }
    h.maxHugePages = Math.max(h.maxHugePages, h.nrHugePages);
    return h.nrHugePages;
  }
}
