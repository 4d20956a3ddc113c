/**
 * File-lifecycle-bound objects (`kernel/liveupdate/luo_flb.c`, 7.0 on): global state shared by
 * several preserved files (IOMMU core state, PCI, a HugeTLB pool), preserved when the first
 * dependent file is preserved and finished when the last dependent file is finished in the
 * successor. Their handover is one page: `luo_flb_header_ser { pgcnt = 1, count }` and up to
 * 63 `luo_flb_ser { name[48], data, count }` (luo-hugetlb-facts §2.6).
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import {
  cstr,
  flbSerPhys,
  LUO_FDT_FLB_COMPATIBLE,
  LUO_FDT_SESSION_COMPATIBLE,
  LUO_FDT_SIZE,
  LUO_FLB_HEADER_SER_LAYOUT,
  LUO_FLB_MAX,
  LUO_FLB_PGCNT,
  LUO_KHO_ENTRY_NAME,
  LUO_SER_LAYOUT,
  parseLuoFdt,
  readFlbSer,
  readLuoSer,
  writeFlbSer,
} from "../kho/abi/luo.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import { PAGE_SIZE } from "../units.ts";
import type { LiveUpdateFileHandler } from "./file_handler.ts";
import { type LuoHost, requireRam } from "./luo_internal.ts";

/** Arguments of the FLB callbacks (`struct liveupdate_flb_op_args`). */
export interface FlbOpArgs {
  /** The FLB. */
  readonly flb: LiveUpdateFlb;
  /** The u64 handed over (preserve sets it; retrieve reads it). */
  data: number;
  /** The live object (preserve and retrieve set it). */
  obj: unknown;
}

/** `struct liveupdate_flb`: a compatible and four required callbacks. */
export interface LiveUpdateFlb {
  /** Compatible, at most 47 bytes (longer ones are cut by strscpy in the handover). */
  readonly compatible: string;
  /** Saves the shared state; sets `args.data` and `args.obj`. Throws a KhoError to refuse. */
  preserve(args: FlbOpArgs): void;
  /** Undoes preserve (the last dependent file was unpreserved). */
  unpreserve(args: FlbOpArgs): void;
  /** Rebuilds `args.obj` from `args.data` in the successor. Throws a KhoError on failure. */
  retrieve(args: FlbOpArgs): void;
  /** Releases the object after the last dependent file is finished. */
  finish(args: FlbOpArgs): void;
}

interface FlbPrivate {
  users: number;
  outgoing: { count: number; data: number; obj: unknown };
  incoming: { count: bigint; data: number; obj: unknown; retrieved: boolean; finished: boolean };
}

/** Kernel-side FLB state of one boot (`luo_flb_global` and the per-FLB private data). */
export class LuoFlbGlobal {
  readonly #host: LuoHost;
  readonly #list: LiveUpdateFlb[] = [];
  readonly #priv = new Map<LiveUpdateFlb, FlbPrivate>();
  readonly #links = new Map<LiveUpdateFileHandler, LiveUpdateFlb[]>();
  /** Physical address of the outgoing FLB page, 0 before setup. */
  outgoingPa = 0;
  #incomingPa = 0;
  #incomingActive = false;

  /** Creates the empty registry. */
  constructor(host: LuoHost) {
    this.#host = host;
  }

  /** Registered FLBs, in registration order. */
  get registered(): readonly LiveUpdateFlb[] {
    return this.#list;
  }

  /** Whether an incoming FLB page was handed over. */
  get incomingActive(): boolean {
    return this.#incomingActive;
  }

  /**
   * `liveupdate_register_flb(fh, flb)` after the enabled check: EINVAL (WARN) for a missing
   * callback or an unregistered handler, EBUSY when `quiesce` says sessions exist, EEXIST when
   * already linked to `fh` or when another FLB has the same compatible, ENOSPC for a 64th FLB.
   */
  register(
    fh: LiveUpdateFileHandler,
    flb: LiveUpdateFlb,
    o: { handlerRegistered: boolean; quiesce: () => boolean },
  ): void {
    const log = this.#host.log;
    for (const op of ["preserve", "unpreserve", "retrieve", "finish"] as const) {
      if (typeof flb[op] !== "function") {
        log.warn("liveupdate_register_flb", `missing ${op}`);
        throw new KhoError("EINVAL", `liveupdate_register_flb: ${flb.compatible} has no ${op}`);
      }
    }
    if (!o.handlerRegistered) {
      log.warn("liveupdate_register_flb", "file handler not registered");
      throw new KhoError("EINVAL", `liveupdate_register_flb: ${fh.compatible} not registered`);
    }
    if (this.#host.faults.shouldFail("kzalloc:luo_flb_link")) {
      throw new KhoError("ENOMEM", "liveupdate_register_flb: kzalloc");
    }
    if (!o.quiesce()) throw new KhoError("EBUSY", "liveupdate_register_flb: sessions exist");
    const links = this.#links.get(fh) ?? [];
    if (links.includes(flb)) {
      throw new KhoError("EEXIST", `liveupdate_register_flb: ${flb.compatible} already linked`);
    }
    let priv = this.#priv.get(flb);
    if (!priv || priv.users === 0) {
      if (this.#list.length === LUO_FLB_MAX) {
        throw new KhoError("ENOSPC", `liveupdate_register_flb: ${LUO_FLB_MAX} FLBs registered`);
      }
      if (this.#list.some((g) => g.compatible === flb.compatible)) {
        throw new KhoError("EEXIST", `liveupdate_register_flb: compatible ${flb.compatible}`);
      }
      priv = {
        users: 0,
        outgoing: { count: 0, data: 0, obj: null },
        incoming: { count: 0n, data: 0, obj: null, retrieved: false, finished: false },
      };
      this.#priv.set(flb, priv);
      this.#list.push(flb);
    }
    priv.users++;
    links.push(flb);
    this.#links.set(fh, links);
  }

  /** `liveupdate_unregister_flb`: ENOENT when not linked to `fh`, EBUSY when not quiescent. */
  unregister(fh: LiveUpdateFileHandler, flb: LiveUpdateFlb, quiesce: () => boolean): void {
    if (!quiesce()) throw new KhoError("EBUSY", "liveupdate_unregister_flb: sessions exist");
    const links = this.#links.get(fh) ?? [];
    const i = links.indexOf(flb);
    if (i < 0) throw new KhoError("ENOENT", `liveupdate_unregister_flb: ${flb.compatible}`);
    links.splice(i, 1);
    const priv = this.#priv.get(flb)!;
    if (--priv.users === 0) this.#list.splice(this.#list.indexOf(flb), 1);
  }

  /** Whether `fh` has FLBs linked (unregistering the handler is then refused). */
  hasLinks(fh: LiveUpdateFileHandler): boolean {
    return (this.#links.get(fh)?.length ?? 0) > 0;
  }

  /**
   * `luo_flb_file_preserve(fh)`: counts one more dependent file on each FLB of `fh`, calling
   * `preserve` on the first; a failure undoes the FLBs already counted, in reverse.
   */
  filePreserve(fh: LiveUpdateFileHandler): void {
    const links = this.#links.get(fh) ?? [];
    for (let i = 0; i < links.length; i++) {
      try {
        this.#preserveOne(links[i]);
      } catch (e) {
        for (let j = i - 1; j >= 0; j--) this.#unpreserveOne(links[j]);
        throw e;
      }
    }
  }

  /** `luo_flb_file_unpreserve(fh)`: one fewer dependent file, in reverse link order. */
  fileUnpreserve(fh: LiveUpdateFileHandler): void {
    const links = this.#links.get(fh) ?? [];
    for (let i = links.length - 1; i >= 0; i--) this.#unpreserveOne(links[i]);
  }

  /**
   * `luo_flb_file_finish(fh)`: in the successor, decrements each FLB's incoming count (the
   * serialized count, set when the FLB is retrieved; a never-retrieved FLB starts from 0 and
   * wraps to 2^64 − 1, as the u64 does, so it is never finished) and finishes it at 0.
   */
  fileFinish(fh: LiveUpdateFileHandler): void {
    const links = this.#links.get(fh) ?? [];
    for (let i = links.length - 1; i >= 0; i--) {
      const flb = links[i];
      const priv = this.#priv.get(flb)!;
      priv.incoming.count = BigInt.asUintN(64, priv.incoming.count - 1n);
      if (priv.incoming.count !== 0n) continue;
      if (!priv.incoming.retrieved) {
        try {
          this.#retrieveOne(flb);
        } catch (e) {
          this.#host.log.warn("luo_flb_file_finish_one", (e as Error).message);
          continue;
        }
      }
      flb.finish({ flb, data: priv.incoming.data, obj: priv.incoming.obj });
      priv.incoming.data = 0;
      priv.incoming.obj = null;
      priv.incoming.finished = true;
    }
  }

  /** `liveupdate_flb_get_incoming(flb)`: the successor's object, retrieved on first use. */
  getIncoming(flb: LiveUpdateFlb): unknown {
    const priv = this.#priv.get(flb);
    if (!priv || priv.incoming.obj === null) this.#retrieveOne(flb);
    return this.#priv.get(flb)!.incoming.obj;
  }

  /** `liveupdate_flb_get_outgoing(flb)`: the object `preserve` created, or null. */
  getOutgoing(flb: LiveUpdateFlb): unknown {
    return this.#priv.get(flb)?.outgoing.obj ?? null;
  }

  /** Outgoing dependent-file count of an FLB (0 when unregistered). */
  outgoingCount(flb: LiveUpdateFlb): number {
    return this.#priv.get(flb)?.outgoing.count ?? 0;
  }

  /**
   * `luo_flb_setup_outgoing`: a preserved page with `pgcnt = 1`; returns its address (the
   * `kho_alloc_preserve` error is thrown).
   */
  setupOutgoing(): number {
    const pa = this.#host.kho.allocPreserve(LUO_FLB_PGCNT * PAGE_SIZE);
    this.#host.mem.writeU64(pa + LUO_FLB_HEADER_SER_LAYOUT.pgcnt, LUO_FLB_PGCNT);
    this.outgoingPa = pa;
    return pa;
  }

  /** `luo_flb_setup_incoming`: records the page (0: none), without checks, as mainline does. */
  setupIncoming(headerPa: number): void {
    if (headerPa === 0) return;
    this.#incomingPa = headerPa;
    this.#incomingActive = true;
  }

  /**
   * `luo_flb_serialize` (at reboot, after the sessions): one entry per FLB with outgoing
   * dependent files, in registration order, then the header count. Cannot fail.
   */
  serialize(): void {
    const { mem } = this.#host;
    let i = 0;
    for (const flb of this.#list) {
      const p = this.#priv.get(flb)!;
      if (p.outgoing.count > 0) {
        writeFlbSer(mem, this.outgoingPa, i++, {
          name: new TextEncoder().encode(flb.compatible),
          data: p.outgoing.data,
          count: p.outgoing.count,
        });
      }
    }
    mem.writeU64(this.outgoingPa + LUO_FLB_HEADER_SER_LAYOUT.count, i);
  }

  #preserveOne(flb: LiveUpdateFlb): void {
    const p = this.#priv.get(flb)!;
    if (p.outgoing.count === 0) {
      const args: FlbOpArgs = { flb, data: 0, obj: null };
      flb.preserve(args);
      p.outgoing.data = args.data;
      p.outgoing.obj = args.obj;
    }
    p.outgoing.count++;
  }

  #unpreserveOne(flb: LiveUpdateFlb): void {
    const p = this.#priv.get(flb)!;
    if (--p.outgoing.count === 0) {
      flb.unpreserve({ flb, data: p.outgoing.data, obj: p.outgoing.obj });
      p.outgoing.data = 0;
      p.outgoing.obj = null;
    }
  }

  /** `luo_flb_retrieve_one`, with its checks in order. */
  #retrieveOne(flb: LiveUpdateFlb): void {
    const p = this.#priv.get(flb);
    if (!p) throw new KhoError("ENOENT", `FLB ${flb.compatible} is not registered`);
    if (p.incoming.finished) throw new KhoError("ENODATA", `FLB ${flb.compatible} finished`);
    if (p.incoming.retrieved) return;
    if (!this.#incomingActive) throw new KhoError("ENODATA", "no incoming FLB data");
    const pa = this.#incomingPa;
    requireRam(this.#host, pa, LUO_FLB_HEADER_SER_LAYOUT.size, "luo_flb_retrieve_one");
    const [lo, hi] = this.#host.mem.readU64Parts(pa + LUO_FLB_HEADER_SER_LAYOUT.count);
    if (hi !== 0 || lo > LUO_FLB_MAX) {
      throw new KhoError("EINVAL", `incoming FLB count ${hi ? "above 2^32" : lo} > ${LUO_FLB_MAX}`);
    }
    requireRam(this.#host, pa, flbSerPhys(0, lo), "luo_flb_retrieve_one");
    for (let i = 0; i < lo; i++) {
      const s = readFlbSer(this.#host.mem, pa, i);
      if (cstr(s.name) !== flb.compatible) continue;
      p.incoming.data = s.data;
      p.incoming.count = BigInt(s.count);
      const args: FlbOpArgs = { flb, data: s.data, obj: null };
      flb.retrieve(args);
      p.incoming.obj = args.obj;
      p.incoming.retrieved = true;
      return;
    }
    throw new KhoError("ENOENT", `FLB ${flb.compatible} not in the incoming data`);
  }
}

/** What {@link flbIncomingEarly} reads through: memory and the incoming KHO sub-trees. */
export interface FlbEarlyHost {
  /** Physical memory. */
  readonly mem: PhysicalMemory;
  /** Whether `[phys, phys + size)` is RAM. */
  isRam(phys: number, size: number): boolean;
  /** `kho_retrieve_subtree(name)` of the incoming handover (throws a KhoError). */
  retrieveSubtree(name: string): { phys: number; size?: number };
}

/**
 * `liveupdate_flb_incoming_early(flb, &data)` (HugeTLB RFC patch 4, "liveupdate: flb: allow
 * getting FLB data in early boot"; luo-hugetlb-facts §4.2): the `data` and `count` of the
 * incoming FLB named `compatible`, read from the bytes before LUO's early initcall — for the
 * boot-time HugeTLB pool, which must know how many pages a live update already brings.
 * Null when there is no incoming LUO state, no FLB of that name, or the bytes are not what the
 * generation writes (LUO's own early start-up then reports them, and panics).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PhysicalMemory } from "../machine/physmem.ts";
 * import { encodeLuoSer, writeFlbSer, LUO_FLB_HEADER_SER_LAYOUT } from "../kho/abi/luo.ts";
 * import { flbIncomingEarly } from "./luo_flb.ts";
 * const mem = new PhysicalMemory(2 ** 24);
 * mem.writeBytes(0x1000, encodeLuoSer({ liveupdateNum: 1, sessionsPa: 0, flbsPa: 0x2000 }));
 * writeFlbSer(mem, 0x2000, 0, { name: new TextEncoder().encode("hugetlb-v1"), data: 0x3000, count: 2 });
 * mem.writeU64(0x2000 + LUO_FLB_HEADER_SER_LAYOUT.count, 1);
 * const host = { mem, isRam: () => true, retrieveSubtree: () => ({ phys: 0x1000, size: 32 }) };
 * assert.deepEqual(flbIncomingEarly(host, "luo-ser", "hugetlb-v1"), { data: 0x3000, count: 2 });
 * assert.equal(flbIncomingEarly(host, "luo-ser", "pci-v2"), null);
 * ```
 */
export function flbIncomingEarly(
  host: FlbEarlyHost,
  blob: "fdt" | "luo-ser",
  compatible: string,
): { data: number; count: number } | null {
  let sub: { phys: number; size?: number };
  try {
    sub = host.retrieveSubtree(LUO_KHO_ENTRY_NAME);
  } catch (e) {
    if (e instanceof KhoError) return null;
    throw e;
  }
  let headerPa: number;
  if (blob === "luo-ser") {
    if (!host.isRam(sub.phys, LUO_SER_LAYOUT.size)) return null;
    const r = readLuoSer(host.mem.readBytes(sub.phys, LUO_SER_LAYOUT.size));
    if (!r.ok) return null;
    headerPa = r.value.flbsPa;
  } else {
    if (!host.isRam(sub.phys, LUO_FDT_SIZE)) return null;
    const r = parseLuoFdt(host.mem.readBytes(sub.phys, LUO_FDT_SIZE), {
      sessionCompat: LUO_FDT_SESSION_COMPATIBLE,
      flbCompat: LUO_FDT_FLB_COMPATIBLE,
    });
    if (!r.ok || !r.value.flb) return null;
    headerPa = r.value.flb.headerPa;
  }
  if (headerPa === 0 || !host.isRam(headerPa, LUO_FLB_HEADER_SER_LAYOUT.size)) return null;
  const [n, hi] = host.mem.readU64Parts(headerPa + LUO_FLB_HEADER_SER_LAYOUT.count);
  if (hi !== 0 || n > LUO_FLB_MAX || !host.isRam(headerPa, flbSerPhys(0, n))) {
    return null;
  }
  for (let i = 0; i < n; i++) {
    const s = readFlbSer(host.mem, headerPa, i);
    if (cstr(s.name) === compatible) return { data: s.data, count: s.count };
  }
  return null;
}
