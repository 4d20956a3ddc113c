/**
 * The incoming side of KHO (`kho_in`): validating a handover (`kho_populate`), reserving and
 * stamping every preserved block from the tracker bytes (`kho_mem_retrieve`), and the restore
 * API (`kho_restore_folio`, `kho_restore_pages`, `kho_retrieve_subtree`, …).
 *
 * The successor knows only bytes: everything here is read from simulated physical memory,
 * starting from the addresses in the 32-byte handover record.
 *
 * @module
 */

import { FdtError, KhoError } from "../errors.ts";
import type { KernelLog } from "../kernel/dmesg.ts";
import type { Memblock } from "../kernel/memblock.ts";
import type { Memmap } from "../kernel/memmap.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { Topology } from "../machine/topology.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import type { Handover } from "./abi/kho_data.ts";
import type { AbiProfile } from "./profiles.ts";
import {
  decodeScratchArray,
  KHO_SCRATCH_ENTRY_SIZE,
  type ScratchArea,
} from "./abi/asm_generic_kexec_handover.ts";
import {
  decodeKhoFdtU64,
  KHO_FDT_SIZE,
  KHO_SUB_TREE_SIZE_PROP_NAME,
} from "./abi/kexec_handover.ts";
import { FdtReader } from "./fdt/reader.ts";
import { splitPages } from "./page_split.ts";
import { TrackerCounters } from "./trackers/counters.ts";
import { batchedWalkAvailable, walkIncoming, walkIncomingBatched } from "./trackers/registry.ts";

/** `KHO_PAGE_MAGIC` ("KHOP"), stored in the high half of `page->private`. */
export const KHO_PAGE_MAGIC = 0x4b484f50;

/** What the incoming KHO needs from its kernel. */
export interface KhoInHost {
  /** Physical memory. */
  readonly mem: PhysicalMemory;
  /** RAM layout and nodes. */
  readonly topology: Topology;
  /** memblock of this boot. */
  readonly memblock: Memblock;
  /** struct pages of this boot. */
  readonly memmap: Memmap;
  /** The kernel log. */
  readonly log: KernelLog;
}

/** Outcome of `kho_populate`. */
export type PopulateResult =
  | { ok: true; fdt: Uint8Array; scratch: ScratchArea[]; mapPhys: number }
  | { ok: false; reason: string };

/**
 * `kho_populate`: validates the handover (FDT header, exact compat, non-zero memory map, a
 * sane scratch array inside RAM, not overlapping each other, the FDT page, or `forbidden`
 * ranges already reserved for the kernel) without changing any state. The caller logs
 * "disabling KHO revival" with the reason on failure.
 */
export function validateHandover(
  options: {
    mem: PhysicalMemory;
    topology: Topology;
    profile: AbiProfile;
    handover: Handover;
    forbidden?: ScratchArea[];
  },
): PopulateResult {
  const { mem, topology, profile, handover: h } = options;
  if (h.fdtPhys === 0) return { ok: false, reason: "no KHO FDT" };
  const fdtLen = Math.min(h.fdtLen, KHO_FDT_SIZE);
  if (!Number.isSafeInteger(h.fdtPhys) || fdtLen <= 0 || !topology.isRam(h.fdtPhys, fdtLen)) {
    return { ok: false, reason: `FDT at ${hex(h.fdtPhys)}+${hex(h.fdtLen)} is not in RAM` };
  }
  const fdt = mem.readBytes(h.fdtPhys, fdtLen);
  let rd: FdtReader;
  try {
    rd = new FdtReader(fdt);
    if (rd.header("totalsize") > fdtLen) {
      throw new FdtError("FDT_ERR_TRUNCATED", "totalsize beyond the FDT buffer");
    }
  } catch (e) {
    return { ok: false, reason: `invalid FDT: ${e instanceof FdtError ? e.code : String(e)}` };
  }
  let compatOk: boolean;
  try {
    compatOk = rd.nodeCheckCompatible(0, profile.compat) === 0;
  } catch (e) {
    return { ok: false, reason: `invalid FDT: ${e instanceof FdtError ? e.code : String(e)}` };
  }
  if (!compatOk) {
    let found = "";
    try {
      found = rd.getString(0, "compatible") ?? "";
    } catch { /* reported below */ }
    return { ok: false, reason: `compat "${found}" does not match "${profile.compat}"` };
  }
  let mapPhys: number;
  try {
    const map = decodeKhoFdtU64(rd.getprop(0, profile.memoryMapProp));
    if (map === null) {
      return { ok: false, reason: `${profile.memoryMapProp} missing or not 8 bytes` };
    }
    mapPhys = map;
  } catch (e) {
    return { ok: false, reason: `invalid FDT: ${e instanceof FdtError ? e.code : String(e)}` };
  }
  if (mapPhys === 0) return { ok: false, reason: `${profile.memoryMapProp} is 0` };
  if (
    h.scratchLen === 0 || h.scratchLen % KHO_SCRATCH_ENTRY_SIZE !== 0 ||
    h.scratchLen > 64 * KHO_SCRATCH_ENTRY_SIZE
  ) {
    return { ok: false, reason: `scratch array length ${h.scratchLen} is not 16 × areas` };
  }
  if (!topology.isRam(h.scratchPhys, h.scratchLen)) {
    return { ok: false, reason: `scratch array at ${hex(h.scratchPhys)} is not in RAM` };
  }
  const scratch = decodeScratchArray(mem.readBytes(h.scratchPhys, h.scratchLen));
  const forbidden = [
    { addr: h.fdtPhys, size: PAGE_SIZE, what: "the KHO FDT" },
    ...(options.forbidden ?? []).map((f) => ({ ...f, what: "kernel memory" })),
  ];
  for (let i = 0; i < scratch.length; i++) {
    const a = scratch[i];
    if (a.size === 0) continue;
    if (a.addr % PAGE_SIZE !== 0 || a.size % PAGE_SIZE !== 0 || !topology.isRam(a.addr, a.size)) {
      return {
        ok: false,
        reason: `scratch area ${i} ${hex(a.addr)}+${hex(a.size)} is not page-aligned RAM`,
      };
    }
    for (let j = 0; j < i; j++) {
      const b = scratch[j];
      if (b.size > 0 && a.addr < b.addr + b.size && b.addr < a.addr + a.size) {
        return { ok: false, reason: `scratch areas ${j} and ${i} overlap` };
      }
    }
    for (const f of forbidden) {
      if (a.addr < f.addr + f.size && f.addr < a.addr + a.size) {
        return { ok: false, reason: `scratch area ${i} overlaps ${f.what} at ${hex(f.addr)}` };
      }
    }
  }
  if (!scratch.some((a) => a.size > 0)) return { ok: false, reason: "no scratch area" };
  return { ok: true, fdt, scratch, mapPhys };
}

/** Figures of the successor's tracker walk. */
export interface RetrieveStats {
  /** Whether the walk completed (false: structural corruption, KHO revival off). */
  ok: boolean;
  /** The named reason when `ok` is false. */
  error?: string;
  /** Preserved blocks reserved and stamped. */
  blocks: number;
  /** Bytes reserved. */
  bytes: number;
  /** Entries rejected (memory outside RAM). */
  rejected: number;
  /** Cost counters of the walk. */
  counters: TrackerCounters;
}

/**
 * The incoming KHO state of one kernel (`kho_in`).
 */
export class KhoIn {
  /** The profile this kernel reads. */
  readonly profile: AbiProfile;
  /** Physical address of the incoming root FDT (0 once retrieval failed). */
  fdtPhys: number;
  /** Scratch areas inherited from the previous kernel (reused for the next kexec). */
  readonly scratch: readonly ScratchArea[];
  /** Root of the incoming tracker. */
  readonly mapPhys: number;
  /** Pages handed back to the allocator's accounting by restores (adjust_managed_page_count). */
  managedPages = 0;
  readonly #host: KhoInHost;

  /** Wraps a validated handover. */
  constructor(
    host: KhoInHost,
    profile: AbiProfile,
    fdtPhys: number,
    populated: { scratch: ScratchArea[]; mapPhys: number },
  ) {
    this.#host = host;
    this.profile = profile;
    this.fdtPhys = fdtPhys;
    this.scratch = populated.scratch;
    this.mapPhys = populated.mapPhys;
  }

  /** `is_kho_boot()`. */
  get isKhoBoot(): boolean {
    return this.fdtPhys !== 0;
  }

  /**
   * `kho_mem_retrieve`: walks the tracker from its bytes, `memblock_reserve` +
   * `memblock_reserved_mark_noinit` for each block and the `page->private` stamp on its first
   * page. A structural error turns `is_kho_boot()` false; blocks already reserved stay so.
   */
  memRetrieve(): RetrieveStats {
    const h = this.#host;
    const counters = new TrackerCounters();
    const intBug = this.profile.bugs.includes("int-size-overflow");
    let bytes = 0;
    const take = (phys: number, order: number, type: number): void => {
      const sz = intBug ? intShiftSize(order) : 2 ** (order + 12);
      const size = Math.min(sz, h.topology.endBytes - phys);
      h.memblock.reserve(phys, size);
      h.memblock.reservedMarkNoinit(phys, size);
      const pfn = phys / PAGE_SIZE;
      // union kho_page_info: {order:31, type:1 (page-type RFC)} | magic << 32.
      if (this.profile.pageMagic) {
        h.memmap.setPrivate(pfn, (order | (type << 31)) >>> 0, KHO_PAGE_MAGIC);
      } else h.memmap.setPrivate(pfn, order, 0);
      bytes += size;
    };
    const walkOptions = {
      mem: h.mem,
      rootPhys: this.mapPhys,
      isRam: (p: number, s: number) => h.topology.isRam(p, s),
      log: h.log,
      counters,
    };
    // Blocks a leaf (bitmap) at a time where the encoding has no per-block page type.
    const r = batchedWalkAvailable(this.profile.tracker)
      ? walkIncomingBatched(this.profile.tracker, walkOptions, (phys, n, order) => {
        for (let i = 0; i < n; i++) take(phys[i], order, 0);
        return 0;
      })
      : walkIncoming(this.profile.tracker, walkOptions, (phys, order, type = 0) => {
        take(phys, order, type);
        return 0;
      });
    if (!r.ok) {
      h.log.error(
        "KHO",
        `failed to walk preserved memory: ${r.error} (${r.detail ?? ""}); disabling KHO revival`,
      );
      this.fdtPhys = 0;
    } else if (this.profile.restoresOwnFdt) {
      this.restoreFolio(this.fdtPhys);
    }
    return { ok: r.ok, error: r.error, blocks: r.blocks, bytes, rejected: r.rejected, counters };
  }

  /** The incoming root FDT bytes (read from memory each time, as the kernel maps it). */
  fdt(): FdtReader {
    return new FdtReader(this.#host.mem.readBytes(this.fdtPhys, KHO_FDT_SIZE));
  }

  /**
   * `kho_retrieve_subtree(name)`: ENOENT without an incoming FDT or without such a node;
   * EINVAL when the address property is missing or not 8 bytes, or (kho-v3 on) when
   * `blob-size` is missing or not 8 bytes.
   */
  retrieveSubtree(name: string): { phys: number; size?: number } {
    if (!this.isKhoBoot) throw new KhoError("ENOENT", "no incoming KHO FDT");
    let rd: FdtReader;
    let off: number;
    try {
      rd = this.fdt();
      off = rd.subnodeOffset(0, name);
    } catch (e) {
      if (e instanceof FdtError && e.code === "FDT_ERR_NOTFOUND") {
        throw new KhoError("ENOENT", `no sub-tree "${name}"`);
      }
      throw new KhoError("EINVAL", `incoming FDT: ${(e as Error).message}`);
    }
    const phys = decodeKhoFdtU64(rd.getprop(off, this.profile.subtreeProp));
    if (phys === null) {
      throw new KhoError(
        "EINVAL",
        `sub-tree "${name}": ${this.profile.subtreeProp} missing or not 8 bytes`,
      );
    }
    if (!this.profile.blobSize) return { phys };
    const size = decodeKhoFdtU64(rd.getprop(off, KHO_SUB_TREE_SIZE_PROP_NAME));
    if (size === null) {
      this.#host.log.warning("KHO", `sub-tree "${name}": blob-size missing or not 8 bytes`);
      throw new KhoError("EINVAL", `sub-tree "${name}": blob-size missing or not 8 bytes`);
    }
    return { phys, size };
  }

  /** Names of the incoming sub-trees. */
  subtreeNames(): string[] {
    if (!this.isKhoBoot) return [];
    const rd = this.fdt();
    return rd.subnodes(0).map((o) => rd.getName(o));
  }

  /**
   * `kho_restore_page`: the stamp check and re-initialisation of one preserved block.
   * Returns the order, or -1 (after a WARN_ON_ONCE where the kernel warns).
   */
  #restorePage(phys: number, isFolio: boolean): number {
    const h = this.#host;
    const pfn = Math.floor(phys / PAGE_SIZE);
    if (!h.topology.isRam(pfn * PAGE_SIZE, PAGE_SIZE)) return -1;
    const [lo, hi] = h.memmap.getPrivateParts(pfn);
    if (this.profile.restoreRules === "6.16") {
      // 6.16: page->private is the order, nothing checks that the page was preserved or not
      // already restored, and order > 0 gets only prep_compound_page (no refcounts).
      const order = lo;
      if (order > 0) h.memmap.prepCompoundPage(pfn, order);
      else {
        h.memmap.setPageCount(pfn, 1);
        this.managedPages += 1;
      }
      return order;
    }
    if (this.profile.pageMagic && hi !== KHO_PAGE_MAGIC) {
      h.log.warnOnOnce(
        "kho_restore_page",
        `pfn ${hex(pfn)}: no KHO magic (private ${hex(hi)}:${hex(lo)})`,
      );
      return -1;
    }
    const order = lo & 0x7fffffff;
    const split = lo >>> 31 === 1;
    if (isFolio && split) {
      h.log.warnOnOnce("kho_restore_page", `pfn ${hex(pfn)}: a SPLIT block restored as a folio`);
      return -1;
    }
    if (this.profile.maxRestoreOrder !== null && order > this.profile.maxRestoreOrder) {
      h.log.warnOnOnce(
        "kho_restore_page",
        `pfn ${hex(pfn)}: order ${order} > ${this.profile.maxRestoreOrder}`,
      );
      return -1;
    }
    h.memmap.setPrivate(pfn, 0, 0);
    const n = 2 ** order;
    if (isFolio) {
      h.memmap.setPageCount(pfn, 1);
      if (order > 0) {
        h.memmap.setPageCountRange(pfn + 1, n - 1, 0);
        h.memmap.prepCompoundPage(pfn, order);
      }
    } else if (
      this.profile.tracker === "radix-typed" || this.profile.tracker === "radix-typed-fixed"
    ) {
      // kho_restore_refcounts(): head 1; tails 1 for SPLIT blocks, 0 for CONTIG (unsplit).
      h.memmap.setPageCount(pfn, 1);
      if (n > 1) h.memmap.setPageCountRange(pfn + 1, n - 1, split ? 1 : 0);
    } else {
      // 6.18 restored each block as a compound page and then split_page()d it; 6.19 on
      // initialise every page with refcount 1 directly. The result is the same.
      h.memmap.setPageCountRange(pfn, n, 1);
    }
    this.managedPages += n;
    return order;
  }

  /** `kho_restore_folio(phys)`: the folio's head pfn, or null. */
  restoreFolio(phys: number): number | null {
    return this.#restorePage(phys, true) < 0 ? null : Math.floor(phys / PAGE_SIZE);
  }

  /**
   * `kho_restore_pages(phys, nr)`: restores each block of the split as order-0 pages with
   * refcount 1; returns the first pfn, or null when a block fails (blocks already restored
   * are not undone, as in the kernel).
   */
  restorePages(phys: number, nrPages: number): number | null {
    const pfn = Math.floor(phys / PAGE_SIZE);
    const nid =
      this.profile.numaAwarePages && !this.profile.bugs.includes("numa-unpreserve-mismatch")
        ? (p: number) => this.#host.topology.nidOfPfn(p)
        : undefined;
    for (const b of splitPages(pfn, nrPages, nid)) {
      const order = this.#restorePage(b.pfn * PAGE_SIZE, false);
      if (order < 0) return null;
    }
    return pfn;
  }
}

/**
 * The size `1 << (order + PAGE_SHIFT)` computed in a 32-bit `int` and widened to u64, as
 * S-7.0c/S-7.1c do: exact up to order 18; order 19 gives 0xffffffff80000000 (reserving to
 * the end of memory); larger orders shift modulo 32 (x86 `shl`).
 */
export function intShiftSize(order: number): number {
  const shift = order + 12;
  if (shift < 31) return 2 ** shift;
  if (shift === 31) return 2 ** 64 - 2 ** 31;
  return 2 ** (shift % 32) >= 2 ** 31 ? 2 ** 64 - 2 ** 31 : 2 ** (shift % 32);
}
