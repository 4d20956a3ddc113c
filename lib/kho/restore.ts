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

import { FdtError, KernelBug, KhoError } from "../errors.ts";
import { KernelOops } from "../kernel/oops.ts";
import type { Clock } from "../rng.ts";
import { KernelLog } from "../kernel/dmesg.ts";
import type { Memblock } from "../kernel/memblock.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { Topology } from "../machine/topology.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import type { Handover } from "./abi/kho_data.ts";
import type { AbiProfile } from "./profiles.ts";
import type { KhoOutHost } from "./preserve.ts";
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
import { hexU64 } from "./trackers/kernel_walk.ts";
import {
  batchedWalkAvailable,
  trackerFormat,
  walkIncoming,
  walkIncomingBatched,
} from "./trackers/registry.ts";

/** Largest physical address a JavaScript number holds exactly, as a u64. */
const MAX_SAFE_PHYS = BigInt(Number.MAX_SAFE_INTEGER);

/** `KHO_PAGE_MAGIC` ("KHOP"), stored in the high half of `page->private`. */
export const KHO_PAGE_MAGIC = 0x4b484f50;

/** What the incoming KHO needs from its kernel. */
export interface KhoInHost extends Omit<KhoOutHost, "buddy"> {
  /** memblock of this boot. */
  readonly memblock: Memblock;
}

/** Outcome of `kho_populate`. */
export type PopulateResult =
  | { ok: true; fdt: Uint8Array; scratch: ScratchArea[]; mapPhys: number }
  | {
    ok: false;
    reason: string;
    /** In strict mode, the extra check (one the kernel does not make) that refused it. */
    strictCheck?: string;
  };

/** `NR_FIX_BTMAPS`: pages one `early_memremap` slot maps (mm/early_ioremap.c). */
export const NR_FIX_BTMAPS = 64;

/**
 * Whether `early_memremap(phys, size)` maps: not for size 0, a wrapping range, or more than
 * {@link NR_FIX_BTMAPS} pages counted from the page of `phys` (each WARNs and gives NULL).
 */
export function earlyMemremapMaps(phys: number, size: number): boolean {
  if (!(size > 0) || !Number.isSafeInteger(phys) || phys < 0 || !Number.isSafeInteger(size)) {
    return false;
  }
  const first = Math.floor(phys / PAGE_SIZE);
  const last = Math.floor((phys + size - 1) / PAGE_SIZE);
  return last - first + 1 <= NR_FIX_BTMAPS;
}

/**
 * Reads physical memory as an early mapping does: RAM as it is, and addresses that are not
 * RAM (nothing answers there) as all-ones bytes.
 */
function readMapped(
  mem: PhysicalMemory,
  topology: Topology,
  phys: number,
  size: number,
): Uint8Array {
  if (topology.isRam(phys, size)) return mem.readBytes(phys, size);
  const out = new Uint8Array(size).fill(0xff);
  for (let off = 0; off < size;) {
    const p = phys + off;
    const n = Math.min(PAGE_SIZE - (p % PAGE_SIZE), size - off);
    if (topology.isRam(p, n)) out.set(mem.readBytes(p, n), off);
    off += n;
  }
  return out;
}

/**
 * `kho_populate`'s checks, without changing any state. The kernel's (S-7.1c, S-6.19c,
 * S-6.16c): the FDT maps (`early_memremap`: size 1 byte … 64 pages), its header is valid
 * (`fdt_check_header`), its `compatible` is exactly the profile's, the memory map property is
 * 8 bytes and not 0 (6.19 on; 6.16 reads it only in the walk), and the scratch array maps —
 * then `scratch_len / 16` areas (truncated) are accepted whatever they say. The FDT is read
 * through the pages that map covers; memory that is not RAM reads as all-ones.
 *
 * With `strict` (kholab's hardened successor), today's extra checks run too and a failure
 * names its check in `strictCheck`: the FDT inside RAM and no longer than `fdt_len`; the
 * array 16 × (1…64) bytes inside RAM; every area page-aligned RAM, disjoint from the others,
 * the FDT page and `forbidden` ranges (kernel memory); at least one non-empty area. The caller
 * logs "disabling KHO revival" with the reason on failure.
 */
export function validateHandover(
  options: {
    mem: PhysicalMemory;
    topology: Topology;
    profile: AbiProfile;
    handover: Handover;
    forbidden?: ScratchArea[];
    /** kholab's strict checks on top of the kernel's. Default false. */
    strict?: boolean;
  },
): PopulateResult {
  const { mem, topology, profile, handover: h } = options;
  const strict = options.strict ?? false;
  const extra = (check: string, reason: string): PopulateResult => ({
    ok: false,
    reason,
    strictCheck: check,
  });
  const fdtError = (e: unknown) => `invalid FDT: ${e instanceof FdtError ? e.code : String(e)}`;
  if (strict) {
    const fdtLen = Math.min(h.fdtLen, KHO_FDT_SIZE);
    if (!Number.isSafeInteger(h.fdtPhys) || fdtLen <= 0 || !topology.isRam(h.fdtPhys, fdtLen)) {
      return extra("FDT inside RAM", `FDT at ${hex(h.fdtPhys)}+${hex(h.fdtLen)} is not in RAM`);
    }
    try {
      if (new FdtReader(mem.readBytes(h.fdtPhys, fdtLen)).header("totalsize") > fdtLen) {
        throw new FdtError("FDT_ERR_TRUNCATED", "totalsize beyond the FDT buffer");
      }
    } catch (e) {
      if (e instanceof FdtError && e.code === "FDT_ERR_TRUNCATED") {
        return extra("FDT within fdt_len", fdtError(e));
      }
      // anything else is the kernel's own verdict below
    }
  }
  // early_memremap(fdt_phys, fdt_len), then the FDT through the pages it maps.
  if (!earlyMemremapMaps(h.fdtPhys, h.fdtLen)) {
    return { ok: false, reason: `failed to memremap FDT (${hex(h.fdtPhys)}+${hex(h.fdtLen)})` };
  }
  const window = Math.ceil((h.fdtPhys + h.fdtLen) / PAGE_SIZE) * PAGE_SIZE - h.fdtPhys;
  const fdt = readMapped(mem, topology, h.fdtPhys, window);
  let rd: FdtReader;
  try {
    rd = new FdtReader(fdt);
  } catch (e) {
    return { ok: false, reason: fdtError(e) };
  }
  let compatOk: boolean;
  try {
    compatOk = rd.nodeCheckCompatible(0, profile.compat) === 0;
  } catch (e) {
    return { ok: false, reason: fdtError(e) };
  }
  if (!compatOk) {
    let found = "";
    try {
      found = rd.getString(0, "compatible") ?? "";
    } catch { /* reported below */ }
    return { ok: false, reason: `compat "${found}" does not match "${profile.compat}"` };
  }
  let mapPhys = 0;
  try {
    const map = decodeKhoFdtU64(rd.getprop(0, profile.memoryMapProp));
    if (map !== null) mapPhys = map;
    else if (profile.populateChecksMap) {
      return { ok: false, reason: `${profile.memoryMapProp} missing or not 8 bytes` };
    }
  } catch (e) {
    if (profile.populateChecksMap) return { ok: false, reason: fdtError(e) };
  }
  if (mapPhys === 0 && profile.populateChecksMap) {
    return { ok: false, reason: `${profile.memoryMapProp} is 0` };
  }
  if (strict) {
    if (
      h.scratchLen === 0 || h.scratchLen % KHO_SCRATCH_ENTRY_SIZE !== 0 ||
      h.scratchLen > 64 * KHO_SCRATCH_ENTRY_SIZE
    ) {
      return extra(
        "scratch array of 1..64 whole areas",
        `scratch array length ${h.scratchLen} is not 16 × areas`,
      );
    }
    if (!topology.isRam(h.scratchPhys, h.scratchLen)) {
      return extra(
        "scratch array inside RAM",
        `scratch array at ${hex(h.scratchPhys)} is not in RAM`,
      );
    }
  }
  // early_memremap(scratch_phys, scratch_len); scratch_cnt = scratch_len / 16.
  if (!earlyMemremapMaps(h.scratchPhys, h.scratchLen)) {
    return {
      ok: false,
      reason: `failed to memremap scratch (phys=${hex(h.scratchPhys)}, len=${h.scratchLen})`,
    };
  }
  const count = Math.floor(h.scratchLen / KHO_SCRATCH_ENTRY_SIZE);
  const scratch = decodeScratchArray(
    readMapped(mem, topology, h.scratchPhys, count * KHO_SCRATCH_ENTRY_SIZE),
  );
  if (strict) {
    const forbidden = [
      { addr: h.fdtPhys, size: PAGE_SIZE, what: "the KHO FDT" },
      ...(options.forbidden ?? []).map((f) => ({ ...f, what: "kernel memory" })),
    ];
    for (let i = 0; i < scratch.length; i++) {
      const a = scratch[i];
      if (a.size === 0) continue;
      if (
        a.addr % PAGE_SIZE !== 0 || a.size % PAGE_SIZE !== 0 || !topology.isRam(a.addr, a.size)
      ) {
        return extra(
          "scratch areas of page-aligned RAM",
          `scratch area ${i} ${hex(a.addr)}+${hex(a.size)} is not page-aligned RAM`,
        );
      }
      for (let j = 0; j < i; j++) {
        const b = scratch[j];
        if (b.size > 0 && a.addr < b.addr + b.size && b.addr < a.addr + a.size) {
          return extra("disjoint scratch areas", `scratch areas ${j} and ${i} overlap`);
        }
      }
      for (const f of forbidden) {
        if (a.addr < f.addr + f.size && f.addr < a.addr + a.size) {
          return extra(
            "scratch clear of the FDT and kernel memory",
            `scratch area ${i} overlaps ${f.what} at ${hex(f.addr)}`,
          );
        }
      }
    }
    if (!scratch.some((a) => a.size > 0)) {
      return extra("a non-empty scratch area", "no scratch area");
    }
  }
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
  /** Entries rejected (memory outside RAM; strict mode only). */
  rejected: number;
  /** Cost counters of the walk. */
  counters: TrackerCounters;
  /**
   * `init_deferred_page` calls (`kho_get_preserved_page`, CONFIG_DEFERRED_STRUCT_PAGE_INIT): one
   * per page of every preserved block, each initialising one struct page; 0 without it.
   */
  deferredInitPages: number;
  /** Wall-clock milliseconds of the walk (reserve, stamp, deferred init), when timed. */
  reserveMs?: number;
  /**
   * Whether the kernel's own walk was replayed on the bytes (the validating reader met an
   * anomaly and the boot is not strict).
   */
  kernelReplay: boolean;
  /** In strict mode, the extra check that aborted the walk or rejected blocks. */
  strictCheck?: string;
}

/** Options of {@link KhoIn.memRetrieve}: the boot's configuration. */
export interface MemRetrieveOptions {
  /** CONFIG_DEFERRED_STRUCT_PAGE_INIT (`kho_get_preserved_page`). Default false. */
  deferredStructPageInit?: boolean;
  /** kholab's strict walk (abort on structural errors, skip blocks outside RAM). Default false. */
  strict?: boolean;
  /** Clock for {@link RetrieveStats.reserveMs}. */
  clock?: Clock;
}

/**
 * Bytes `memblock_reserve` gets for a block of `order` (an `unsigned int`): `1 << (order +
 * PAGE_SHIFT)` computed in `int` with `intBug` (x86 masks the shift count to 5 bits; bit 31
 * is INT_MIN, sign-extended), else `1UL << …` (6-bit mask). In `int`, as every generation's
 * successor computes it (`int-size-overflow`): exact up to order 18; order 19 gives
 * 0xffffffff80000000 (reserving to the end of memory); larger orders shift modulo 32 (x86
 * `shl`), so order 20 reserves 1 byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reserveSizeBytes } from "./restore.ts";
 * assert.equal(reserveSizeBytes(18, true), 2 ** 30);
 * assert.equal(reserveSizeBytes(19, true), 2 ** 64 - 2 ** 31);
 * assert.equal(reserveSizeBytes(20, true), 1);
 * ```
 */
export function reserveSizeBytes(order: number, intBug: boolean): number {
  const shift = (order + 12) >>> 0;
  if (intBug) {
    const k = shift % 32;
    return k === 31 ? 2 ** 64 - 2 ** 31 : 2 ** k;
  }
  return 2 ** (shift % 64);
}

/** {@link reserveSizeBytes} of orders 0..63, without and with `int-size-overflow`. */
const RESERVE_SIZE_LONG = Float64Array.from({ length: 64 }, (_, o) => reserveSizeBytes(o, false));
const RESERVE_SIZE_INT = Float64Array.from({ length: 64 }, (_, o) => reserveSizeBytes(o, true));

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
   * page (with CONFIG_DEFERRED_STRUCT_PAGE_INIT, `kho_get_preserved_page` first initialises
   * every page of the block: counted).
   *
   * The validating reader walks first. When it meets no anomaly, that walk is the kernel's.
   * When it does: in strict mode a structural error turns `is_kho_boot()` false (blocks already
   * reserved stay so) and blocks outside RAM are skipped; otherwise the kernel's own walk is
   * replayed on the bytes (`./trackers/kernel_walk.ts`), which may end in a {@link KernelOops}
   * (a pointer or a block's struct page outside RAM) or a lockup, thrown from here.
   */
  memRetrieve(options: MemRetrieveOptions = {}): RetrieveStats {
    const h = this.#host;
    const t0 = options.clock?.nowMs();
    const strict = options.strict ?? false;
    const deferred = options.deferredStructPageInit ?? false;
    const counters = new TrackerCounters();
    const intBug = this.profile.bugs.includes("int-size-overflow");
    let bytes = 0;
    let deferredInitPages = 0;
    const endBytes = h.topology.endBytes;
    const sizes = intBug ? RESERVE_SIZE_INT : RESERVE_SIZE_LONG;
    // memblock_reserve + memblock_reserved_mark_noinit of each block, handed to memblock in
    // batches (the same result, one merge pass); a range memblock refuses goes alone, where
    // the walk reached it.
    let pendBase = new Float64Array(1024);
    let pendSize = new Float64Array(1024);
    let pend = 0;
    const flush = (): void => {
      if (pend > 0) h.memblock.reserveNoinitBatch(pendBase, pendSize, pend);
      pend = 0;
    };
    const take = (phys: number, order: number, type: number): void => {
      // kho_get_preserved_page: init_deferred_page(pfn + i) for i < 1UL << order
      if (deferred) deferredInitPages += 2 ** (order % 64);
      const sz = order >= 0 && order < 64 && order % 1 === 0
        ? sizes[order]
        : reserveSizeBytes(order, intBug);
      const size = Math.min(sz, endBytes - phys);
      if (!(phys >= 0 && size >= 0 && Number.isSafeInteger(phys) && Number.isSafeInteger(size))) {
        flush();
        h.memblock.reserve(phys, size);
        h.memblock.reservedMarkNoinit(phys, size);
      } else {
        if (pend === pendBase.length) {
          const b = new Float64Array(pend * 2);
          b.set(pendBase);
          pendBase = b;
          const z = new Float64Array(pend * 2);
          z.set(pendSize);
          pendSize = z;
        }
        pendBase[pend] = phys;
        pendSize[pend++] = size;
      }
      // phys_to_page(phys): an address inside the page (a corrupt chunk's phys_start) stamps
      // the page that holds it.
      const pfn = Math.floor(phys / PAGE_SIZE);
      // union kho_page_info: {order:31, type:1 (page-type RFC)} | magic << 32.
      if (this.profile.pageMagic) {
        h.memmap.setPrivate(pfn, (order | (type << 31)) >>> 0, KHO_PAGE_MAGIC);
      } else h.memmap.setPrivate(pfn, order >>> 0, 0);
      bytes += size;
    };
    const walkOptions = {
      mem: h.mem,
      rootPhys: this.mapPhys,
      isRam: (p: number, s: number) => h.topology.isRam(p, s),
      // The kernel logs nothing of what only the validating reader notices.
      log: strict ? h.log : new KernelLog(),
      counters,
    };
    // A leaf's blocks (one order, no page type) at once: reserved in the batch, stamped
    // together; any block memblock would refuse sends the leaf through `take` one by one.
    const takeLeaf = (phys: Float64Array, n: number, order: number): void => {
      const sz = order >= 0 && order < 64 && order % 1 === 0 ? sizes[order] : -1;
      let ok = sz >= 0;
      for (let i = 0; i < n; i++) {
        const p = phys[i];
        // a page address inside RAM's span (integral: the walk's are multiples of pages)
        if (!(p >= 0 && p <= endBytes && Math.floor(p) === p)) {
          ok = false;
          break;
        }
      }
      if (!ok) {
        for (let i = 0; i < n; i++) take(phys[i], order, 0);
        return;
      }
      if (deferred) deferredInitPages += n * 2 ** order;
      if (pend + n > pendBase.length) {
        const cap = Math.max(pendBase.length * 2, pend + n);
        const b = new Float64Array(cap);
        b.set(pendBase);
        pendBase = b;
        const z = new Float64Array(cap);
        z.set(pendSize);
        pendSize = z;
      }
      // locals in the loop (the closure's variables live in its context)
      const pb = pendBase, ps = pendSize, at = pend;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const p = phys[i];
        const size = endBytes - p < sz ? endBytes - p : sz;
        pb[at + i] = p;
        ps[at + i] = size;
        sum += size;
      }
      pend = at + n;
      bytes += sum;
      h.memmap.setPrivateOfPhys(phys, n, order, this.profile.pageMagic ? KHO_PAGE_MAGIC : 0);
    };
    // Blocks a leaf (bitmap) at a time where the encoding has no per-block page type.
    let r;
    try {
      r = this.mapPhys === 0
        ? { ok: true, blocks: 0, rejected: 0 } as const // 6.16: no map, nothing to walk
        : batchedWalkAvailable(this.profile.tracker)
        ? walkIncomingBatched(this.profile.tracker, walkOptions, (phys, n, order) => {
          takeLeaf(phys, n, order);
          return 0;
        })
        : walkIncoming(this.profile.tracker, walkOptions, (phys, order, type = 0) => {
          take(phys, order, type);
          return 0;
        });
    } finally {
      flush();
    }
    const stats: RetrieveStats = {
      ok: r.ok,
      error: r.ok ? undefined : r.error,
      blocks: r.blocks,
      bytes,
      rejected: r.rejected,
      counters,
      deferredInitPages,
      kernelReplay: false,
    };
    if (!r.ok || r.rejected > 0) {
      if (strict) {
        if (!r.ok) {
          h.log.error(
            "KHO",
            `failed to walk preserved memory: ${r.error} (${
              r.ok ? "" : r.detail ?? ""
            }); disabling KHO revival`,
          );
          this.fdtPhys = 0;
          stats.strictCheck = `tracker walk: ${r.error}`;
        } else stats.strictCheck = "preserved blocks inside RAM";
      } else {
        bytes = 0;
        deferredInitPages = 0;
        let replayed;
        try {
          replayed = this.#kernelReplay(take, deferred);
        } finally {
          flush();
        }
        if (replayed !== null) {
          // The kernel's walk, from the start: its figures replace the reader's.
          Object.assign(stats, {
            ok: true,
            error: undefined,
            blocks: replayed.blocks,
            bytes,
            rejected: 0,
            deferredInitPages,
            kernelReplay: true,
          });
        } else if (!r.ok) {
          // No replay for this tracker (RFC v1's order table): the reader's verdict stands.
          h.log.error(
            "KHO",
            `failed to walk preserved memory: ${r.error}; disabling KHO revival`,
          );
          this.fdtPhys = 0;
        }
      }
    }
    if (stats.ok && this.isKhoBoot && this.profile.restoresOwnFdt) {
      this.restoreFolio(this.fdtPhys);
    }
    if (t0 !== undefined) stats.reserveMs = options.clock!.nowMs() - t0;
    return stats;
  }

  /**
   * The kernel's own walk of the incoming tracker, replayed after the validating reader met an
   * anomaly: every block it computes goes through `take`, after the checks the kernel does by
   * touching memory — the block's struct page must exist (`phys_to_page(phys)->private`), and
   * with deferred init every page of the block (`init_deferred_page`). Returns null for a
   * tracker without a replay.
   */
  #kernelReplay(
    take: (phys: number, order: number, type: number) => void,
    deferred: boolean,
  ): { blocks: number } | null {
    const h = this.#host;
    const replay = trackerFormat(this.profile.tracker).kernelReplay;
    if (replay === undefined) return null;
    const fn = replay.fn;
    const host = {
      mem: h.mem,
      isRam: (p: number, sz: number) => h.topology.isRam(p, sz),
      log: h.log,
    };
    const r = replay.walk(host, this.mapPhys, (phys, order, type) => {
      const page = phys > MAX_SAFE_PHYS ? -1 : Math.floor(Number(phys) / PAGE_SIZE) * PAGE_SIZE;
      if (page < 0 || !h.topology.isRam(page, PAGE_SIZE)) {
        h.log.error("KHO", `${fn}: block ${hexU64(phys)} order ${order} has no struct page`);
        throw new KernelOops({ address: Number(phys), fn, structure: "struct page" }, h.log);
      }
      const p = Number(phys);
      if (deferred) {
        const runEnd = h.topology.ramRunEnd(page);
        if (page + 2 ** (order % 64) * PAGE_SIZE > runEnd) {
          h.log.error(
            "KHO",
            `init_deferred_page: pfn ${hex(runEnd / PAGE_SIZE)} has no struct page`,
          );
          throw new KernelOops({ address: runEnd, fn: "kho_get_preserved_page" }, h.log);
        }
      }
      take(p, order, type);
    });
    return { blocks: r.blocks };
  }

  /** The incoming root FDT bytes (read from memory each time, as the kernel maps it). */
  fdt(): FdtReader {
    const mem = this.#host.mem;
    const len = Math.max(0, Math.min(KHO_FDT_SIZE, mem.sizeBytes - this.fdtPhys));
    return new FdtReader(mem.readBytes(this.fdtPhys, len));
  }

  /**
   * `kho_retrieve_subtree(name)`: ENOENT without an incoming FDT, or when
   * `fdt_subnode_offset` gives any negative value — no such node, or an FDT that has become
   * corrupt (libfdt's probe fails); EINVAL when the address property is missing or not 8
   * bytes, or (kho-v3 on) when `blob-size` is missing or not 8 bytes (with a warning). No
   * libfdt error escapes: the kernel folds them into these errnos (an ENOENT keeps libfdt's
   * error as its `cause`, so a caller can tell a corrupt FDT from a missing node).
   */
  retrieveSubtree(name: string): { phys: number; size?: number } {
    if (!this.isKhoBoot) throw new KhoError("ENOENT", "no incoming KHO FDT");
    let rd: FdtReader;
    let off: number;
    try {
      rd = this.fdt();
      off = rd.subnodeOffset(0, name);
    } catch (e) {
      if (!(e instanceof FdtError)) throw e;
      throw new KhoError(
        "ENOENT",
        e.code === "FDT_ERR_NOTFOUND"
          ? `no sub-tree "${name}"`
          : `sub-tree "${name}": fdt_subnode_offset: ${e.code}`,
        { cause: e },
      );
    }
    const prop = (pname: string): Uint8Array | null => {
      try {
        return rd.getprop(off, pname);
      } catch (e) {
        if (e instanceof FdtError) return null; // fdt_getprop gives NULL
        throw e;
      }
    };
    const phys = decodeKhoFdtU64(prop(this.profile.subtreeProp));
    if (phys === null) {
      throw new KhoError(
        "EINVAL",
        `sub-tree "${name}": ${this.profile.subtreeProp} missing or not 8 bytes`,
      );
    }
    if (!this.profile.blobSize) return { phys };
    const size = decodeKhoFdtU64(prop(KHO_SUB_TREE_SIZE_PROP_NAME));
    if (size === null) {
      this.#host.log.warning("KHO", `broken KHO subnode '${name}': missing or invalid blob-size`);
      throw new KhoError("EINVAL", `sub-tree "${name}": blob-size missing or not 8 bytes`);
    }
    return { phys, size };
  }

  /** Names of the incoming sub-trees (none when the FDT has become unreadable). */
  subtreeNames(): string[] {
    if (!this.isKhoBoot) return [];
    try {
      const rd = this.fdt();
      return rd.subnodes(0).map((o) => rd.getName(o));
    } catch (e) {
      if (e instanceof FdtError) return [];
      throw e;
    }
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
      if (
        order > 0 && this.profile.maxRestoreOrder !== null && order > this.profile.maxRestoreOrder
      ) {
        return -1; // kho_restore_folio: order > MAX_PAGE_ORDER → NULL, no warning (S-6.16c)
      }
      if (order > 0) {
        this.#checkBlock(pfn, order, true);
        h.memmap.prepCompoundPage(pfn, order);
        h.memmap.vmemmap.charge("compound", 2 ** order);
      } else {
        h.memmap.setPageCount(pfn, 1);
        h.memmap.vmemmap.charge("restore", 1);
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
    this.#checkBlock(pfn, order, isFolio);
    h.memmap.setPrivate(pfn, 0, 0);
    const n = 2 ** order;
    const v = h.memmap.vmemmap;
    const fold = isFolio ? v.foldOf(pfn) : null;
    if (fold !== null && fold.headPfn === pfn && fold.order === order) {
      // A folio whose vmemmap this boot mapped folded (a design's, `lib/boot/vmemmap_fold.ts`):
      // its 2^order struct pages are the 64 of one page. The head is initialised (refcount 1)
      // and prep_compound_page writes the 63 distinct tails; every other tail aliases them.
      v.charge("restore", 1);
      v.charge("compound", v.foldedStructPages - 1);
    } else {
      // kho_init_folio / kho_init_pages write every struct page of the block (head and
      // tails); prep_compound_page writes them all again. Counted in bulk
      // (luo-hugetlb-facts §4.5).
      v.charge("restore", n);
      if (isFolio && order > 0) v.charge("compound", n);
    }
    if (isFolio) {
      h.memmap.setPageCount(pfn, 1);
      if (order > 0) {
        h.memmap.setPageCountRange(pfn + 1, n - 1, 0);
        h.memmap.prepCompoundPage(pfn, order);
      }
    } else if (trackerFormat(this.profile.tracker).capabilities.pageType) {
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

  /**
   * What the kernel's restore does with a stamped order it trusts: it writes the struct page
   * of every page of the block (refcounts, compound tails) — a block reaching past RAM faults
   * on the first page without one ({@link KernelOops}); and `prep_compound_page` makes a folio
   * at any head — one not aligned to its order (a stamp from a corrupt `phys_start`) is freed
   * into the buddy allocator wrongly, the `VM_BUG_ON_PAGE` of `__free_one_page` with
   * CONFIG_DEBUG_VM; kholab's memmap holds compound pages at aligned heads only, so it stops
   * with that BUG ({@link KernelBug}) at the restore.
   */
  #checkBlock(pfn: number, order: number, isFolio: boolean): void {
    const h = this.#host;
    const n = 2 ** order;
    if (!h.topology.isRam(pfn * PAGE_SIZE, n * PAGE_SIZE)) {
      const end = h.topology.ramRunEnd(pfn * PAGE_SIZE);
      const fn = isFolio && order > 0 ? "prep_compound_page" : "kho_restore_page";
      h.log.error(
        "KHO",
        `${fn}: pfn ${hex(pfn)} order ${order}: pfn ${hex(end / PAGE_SIZE)} has no struct page`,
      );
      throw new KernelOops({ address: end, fn, structure: "struct page" }, h.log);
    }
    if (isFolio && order > 0 && pfn % n !== 0) {
      throw new KernelBug(
        `VM_BUG_ON_PAGE(pfn & ((1 << order) - 1)): kho_restore_folio made an order-${order} ` +
          `folio at pfn ${hex(pfn)}, not aligned to its order (freeing it corrupts the buddy ` +
          "allocator; kholab models compound pages at aligned heads only)",
      );
    }
  }

  /** `kho_restore_folio(phys)`: the folio's head pfn, or null. */
  restoreFolio(phys: number): number | null {
    return this.#restorePage(phys, true) < 0 ? null : Math.floor(phys / PAGE_SIZE);
  }

  /**
   * `kho_restore_pages(phys, nr)`: restores each block of the split as order-0 pages with
   * refcount 1; returns the first pfn, or null when a block fails (blocks already restored
   * are not undone, as in the kernel).
   *
   * Each block initialises the pages of its *stamped* order while the loop advances by the
   * *computed* one. With `numa-restore-mismatch` (7.1 on, luo-hugetlb-facts §6.1) the split
   * ignores the NUMA rule preserve applied, so where preserve cut a block at a node boundary
   * the computed order is larger: the first block is restored, the rest of the range is
   * skipped (still stamped, refcount 0), and the call returns success.
   */
  restorePages(phys: number, nrPages: number): number | null {
    const pfn = Math.floor(phys / PAGE_SIZE);
    const nid = this.profile.numaAwarePages && !this.profile.bugs.includes("numa-restore-mismatch")
      ? (p: number) => this.#host.topology.nidOfPfn(p)
      : undefined;
    for (const b of splitPages(pfn, nrPages, nid)) {
      const order = this.#restorePage(b.pfn * PAGE_SIZE, false);
      if (order < 0) return null;
    }
    return pfn;
  }
}
