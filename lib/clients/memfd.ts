/**
 * memfd-style guest memory preserved across kexec, modelled on LUO's memfd file handler
 * (`mm/memfd_luo.c`, kho-facts §10): a file is a set of folios (4 KiB, or 1 GiB gigantic
 * folios for guest RAM); preserving it preserves every folio, writes a
 * `memfd_luo_folio_ser` array in vmalloc memory (preserved with `kho_preserve_vmalloc`) and
 * a 40-byte `memfd_luo_ser` from `kho_alloc_preserve`, and lists the file by name in
 * kholab's session table (sub-tree `"kholab-memfd"`, layout in `./memfd_table.ts`; the
 * kernel's `memfd_luo_ser` and folio records in `../kho/abi/memfd.ts`).
 * The successor finds a file by name and restores it folio by folio.
 *
 * Modelling choices: the file's folios are allocated when the file is created (as if
 * `memfd_pin_folios` had populated and pinned it), with GFP_KERNEL / `alloc_gigantic_folio`
 * so they never sit in scratch (pinning migrates out of CMA); LUO sessions, tokens and the
 * freeze step are not modelled.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { allocGigantic, freeGigantic } from "../kernel/gigantic.ts";
import type { Kernel } from "../boot/kernel.ts";
import type { FillSpec } from "../machine/physmem.ts";
import {
  decodeFolioSer,
  encodeFolioSer,
  MEMFD_LUO_FOLIO_DIRTY,
  MEMFD_LUO_FOLIO_SER_SIZE,
  MEMFD_LUO_FOLIO_UPTODATE,
  MEMFD_LUO_SER_SIZE,
  readMemfdLuoSer,
  writeMemfdLuoSer,
} from "../kho/abi/memfd.ts";
import {
  encodeMemfdTable,
  MEMFD_NAME_MAX,
  MEMFD_TABLE_NAME,
  memfdTableBytes,
  type MemfdTableEntry,
  readMemfdTable,
} from "./memfd_table.ts";
import { KhoVmalloc } from "../kho/abi/kexec_handover.ts";
import { preserveVmalloc, restoreVmalloc, unpreserveVmalloc } from "../kho/vmalloc.ts";
import { hex, MAX_PAGE_ORDER, PAGE_SIZE } from "../units.ts";

/** Fault-injection site of a file's folios. */
export const MEMFD_FOLIO_SITE = "memfd_folio";
/** Fault-injection site of the folio-record array (`vcalloc`). */
export const MEMFD_SER_ARRAY_SITE = "memfd_luo_folios";

const MASK64 = (1n << 64n) - 1n;

/** One folio of a file. */
export interface MemfdFolio {
  /** Head page frame. */
  pfn: number;
  /** Page-cache index (in pages). */
  index: number;
  /** MEMFD_LUO_FOLIO_* flags. */
  flags: number;
}

/** Options of {@link memfdCreate}. */
export interface MemfdCreateOptions {
  /** Folio order: 0 (4 KiB) or 18 (1 GiB). Default 0. */
  folioOrder?: number;
  /** Preferred node. Default: the first with memory, then the others. */
  nid?: number;
}

/**
 * A memfd-style file of one kernel: its folios in index order and byte access to them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { memfdCreate, preserveMemfd, restoreMemfd } from "./memfd.ts";
 * const k1 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }));
 * const f = memfdCreate(k1, "guest0", 64 * 4096);
 * f.fill(0, f.size, { pattern: 42 });
 * const hash = f.hash64();
 * preserveMemfd(k1, f);
 * const k2 = k1.kexec();
 * assert.equal(restoreMemfd(k2, "guest0").hash64(), hash);
 * ```
 */
export class MemfdFile {
  /** The kernel the file lives in. */
  readonly kernel: Kernel;
  /** File name (the key after kexec). */
  readonly name: string;
  /** Size in bytes (`i_size`). */
  readonly size: number;
  /** Order of every folio. */
  readonly folioOrder: number;
  /** The folios, by index. */
  readonly folios: MemfdFolio[];
  /** File position. */
  pos = 0;

  /** Wraps folios already allocated (see {@link memfdCreate}, {@link restoreMemfd}). */
  constructor(
    init: { kernel: Kernel; name: string; size: number; folioOrder: number; folios: MemfdFolio[] },
  ) {
    this.kernel = init.kernel;
    this.name = init.name;
    this.size = init.size;
    this.folioOrder = init.folioOrder;
    this.folios = init.folios;
  }

  /** Bytes per folio. */
  get folioBytes(): number {
    return PAGE_SIZE * 2 ** this.folioOrder;
  }

  /** Calls `fn(phys, n, fileOffset)` for each physically contiguous piece of a range. */
  #pieces(offset: number, len: number, fn: (phys: number, n: number, off: number) => void) {
    if (!(offset >= 0 && len >= 0 && offset + len <= this.folios.length * this.folioBytes)) {
      throw new RangeError(`memfd ${this.name}: [${offset}, +${len}) outside the file`);
    }
    const fb = this.folioBytes;
    let off = offset;
    while (off < offset + len) {
      const i = Math.floor(off / fb);
      const inFolio = off - i * fb;
      const n = Math.min(fb - inFolio, offset + len - off);
      fn(this.folios[i].pfn * PAGE_SIZE + inFolio, n, off);
      off += n;
    }
  }

  /** Fills a byte range with a uniform byte or a seeded pattern; marks the folios dirty. */
  fill(offset: number, len: number, spec: FillSpec): void {
    const mem = this.kernel.machine.mem;
    this.#pieces(offset, len, (phys, n, off) => {
      mem.fill(phys, n, spec);
      this.folios[Math.floor(off / this.folioBytes)].flags |= MEMFD_LUO_FOLIO_DIRTY;
    });
  }

  /** Writes bytes at a file offset; marks the folios dirty. */
  writeBytes(offset: number, bytes: Uint8Array): void {
    const mem = this.kernel.machine.mem;
    this.#pieces(offset, bytes.length, (phys, n, off) => {
      mem.writeBytes(phys, bytes.subarray(off - offset, off - offset + n));
      this.folios[Math.floor(off / this.folioBytes)].flags |= MEMFD_LUO_FOLIO_DIRTY;
    });
  }

  /** Reads bytes at a file offset. */
  readBytes(offset: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    const mem = this.kernel.machine.mem;
    this.#pieces(offset, len, (phys, n, off) => out.set(mem.readBytes(phys, n), off - offset));
    return out;
  }

  /** Content hash: each folio's physical-memory hash64 chained in index order. */
  hash64(): bigint {
    const mem = this.kernel.machine.mem;
    let h = 0xcbf29ce484222325n;
    for (const f of this.folios) {
      const fh = mem.hash64(f.pfn * PAGE_SIZE, this.folioBytes);
      h = ((h ^ fh) * 0x100000001b3n + BigInt(f.index)) & MASK64;
    }
    return h;
  }
}

function allocFolio(kernel: Kernel, order: number, nid: number | undefined): number | null {
  if (order <= MAX_PAGE_ORDER) {
    return kernel.buddy.folioAlloc(order, { nid, site: MEMFD_FOLIO_SITE });
  }
  return allocGigantic(kernel.buddy, order, nid ?? 0, { site: MEMFD_FOLIO_SITE });
}

function putFolio(kernel: Kernel, pfn: number, order: number): void {
  if (order <= MAX_PAGE_ORDER) kernel.buddy.folioPut(pfn);
  else freeGigantic(kernel.buddy, pfn, order);
}

/**
 * Creates a file of `sizeBytes` (rounded up to whole folios) and allocates all its folios
 * (uptodate, clean, content as the allocator left it). Throws ENOMEM, with nothing left
 * allocated, when a folio cannot be had.
 */
export function memfdCreate(
  kernel: Kernel,
  name: string,
  sizeBytes: number,
  opts: MemfdCreateOptions = {},
): MemfdFile {
  const order = opts.folioOrder ?? 0;
  const nameBytes = new TextEncoder().encode(name).length;
  if (nameBytes === 0 || nameBytes > MEMFD_NAME_MAX) {
    throw new KhoError("EINVAL", `memfd name "${name}": 1..${MEMFD_NAME_MAX} bytes`);
  }
  const fb = PAGE_SIZE * 2 ** order;
  const n = Math.ceil(sizeBytes / fb);
  const folios: MemfdFolio[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const pfn = allocFolio(kernel, order, opts.nid);
      if (pfn === null) {
        throw new KhoError("ENOMEM", `memfd ${name}: no order-${order} folio for index ${i}`);
      }
      try {
        folios.push({ pfn, index: i * 2 ** order, flags: MEMFD_LUO_FOLIO_UPTODATE });
      } catch (e) {
        putFolio(kernel, pfn, order);
        throw e;
      }
    }
    return new MemfdFile({ kernel, name, size: sizeBytes, folioOrder: order, folios });
  } catch (e) {
    // Any failure (ENOMEM, or an exception of the host): the folios allocated go back.
    for (const f of folios) putFolio(kernel, f.pfn, order);
    throw e;
  }
}

/** Frees a file's folios (close of the last reference); it must not be preserved. */
export function memfdClose(file: MemfdFile): void {
  if (outgoing(file.kernel).files.has(file)) {
    throw new KhoError("EBUSY", `memfd ${file.name} is preserved`);
  }
  for (const f of file.folios) putFolio(file.kernel, f.pfn, file.folioOrder);
  file.folios.length = 0;
}

// ------------------------------------------------------------------ outgoing

interface Preserved {
  ser: number;
  folios: KhoVmalloc;
  array: number | null;
}

interface Outgoing {
  files: Map<MemfdFile, Preserved>;
  table: number;
}

const outgoingState = new WeakMap<Kernel, Outgoing>();

function outgoing(kernel: Kernel): Outgoing {
  let s = outgoingState.get(kernel);
  if (s === undefined) {
    s = { files: new Map(), table: 0 };
    outgoingState.set(kernel, s);
  }
  return s;
}

/**
 * Rewrites the session table for `files` (a new preserved block, swapped into the root
 * FDT); on failure the old table stays in place and the error is thrown.
 */
function publishTable(kernel: Kernel, files: readonly [MemfdFile, Preserved][]): void {
  const st = outgoing(kernel);
  const kho = kernel.kho;
  const old = st.table;
  if (files.length === 0) {
    if (old !== 0) {
      kho.removeSubtree(old);
      kho.unpreserveFree(old);
      st.table = 0;
    }
    return;
  }
  const entries: MemfdTableEntry[] = files.map(([f, p]) => ({ name: f.name, ser: p.ser }));
  const bytes = encodeMemfdTable(entries);
  const phys = kho.allocPreserve(memfdTableBytes(entries.length));
  kernel.machine.mem.writeBytes(phys, bytes);
  if (old !== 0) kho.removeSubtree(old);
  try {
    kho.addSubtree(MEMFD_TABLE_NAME, phys, bytes.length);
  } catch (e) {
    if (old !== 0) {
      const oldSize = memfdTableBytes(readMemfdTable(kernel.machine.mem, old, 2 ** 20)!.length);
      kho.addSubtree(MEMFD_TABLE_NAME, old, oldSize);
    }
    kho.unpreserveFree(phys);
    throw e;
  }
  if (old !== 0) kho.unpreserveFree(old);
  st.table = phys;
}

/**
 * `memfd_luo_preserve`: `kho_alloc_preserve` of the `memfd_luo_ser`, a vmalloc'd array of
 * folio records, `kho_preserve_folio` of every folio, `kho_preserve_vmalloc` of the array,
 * then the session table. EBUSY if the file is already preserved; otherwise the errno of the
 * failing step, with everything undone. Returns the physical address of the
 * `memfd_luo_ser`.
 */
export function preserveMemfd(kernel: Kernel, file: MemfdFile): number {
  if (file.kernel !== kernel) throw new KhoError("EINVAL", `memfd ${file.name}: other kernel`);
  const st = outgoing(kernel);
  if (st.files.has(file)) throw new KhoError("EBUSY", `memfd ${file.name} is already preserved`);
  if ([...st.files.keys()].some((f) => f.name === file.name)) {
    throw new KhoError("EEXIST", `a preserved memfd is already named ${file.name}`);
  }
  const kho = kernel.kho;
  const mem = kernel.machine.mem;
  const undo: (() => void)[] = [];
  try {
    const ser = kho.allocPreserve(MEMFD_LUO_SER_SIZE);
    undo.push(() => kho.unpreserveFree(ser));
    const nr = file.folios.length;
    let desc = new KhoVmalloc({ first: 0, totalPages: 0, flags: 0, order: 0 });
    let array: number | null = null;
    if (nr > 0) {
      array = kernel.vmalloc.vzalloc(nr * MEMFD_LUO_FOLIO_SER_SIZE, {
        site: MEMFD_SER_ARRAY_SITE,
      });
      if (array === null) throw new KhoError("ENOMEM", "memfd_luo: vcalloc failed");
      const a = array;
      undo.push(() => kernel.vmalloc.vfree(a));
      file.folios.forEach((f, i) => {
        kho.preserveFolio(f.pfn);
        undo.push(() => kho.unpreserveFolio(f.pfn));
        kernel.vmalloc.writeBytes(a + i * MEMFD_LUO_FOLIO_SER_SIZE, encodeFolioSer(f));
      });
      desc = preserveVmalloc(kernel, a);
      const d = desc;
      undo.push(() => unpreserveVmalloc(kernel, d));
    }
    writeMemfdLuoSer(mem, ser, { pos: file.pos, size: file.size, nrFolios: nr, folios: desc });
    const p: Preserved = { ser, folios: desc, array };
    publishTable(kernel, [...st.files, [file, p]]);
    st.files.set(file, p);
    return ser;
  } catch (e) {
    while (undo.length > 0) undo.pop()!();
    throw e;
  }
}

/** `memfd_luo_unpreserve`: the inverse of {@link preserveMemfd} (folios stay in the file). */
export function unpreserveMemfd(kernel: Kernel, file: MemfdFile): void {
  const st = outgoing(kernel);
  const p = st.files.get(file);
  if (p === undefined) throw new KhoError("ENOENT", `memfd ${file.name} is not preserved`);
  publishTable(kernel, [...st.files].filter(([f]) => f !== file));
  st.files.delete(file);
  const kho = kernel.kho;
  if (p.array !== null) {
    unpreserveVmalloc(kernel, p.folios);
    for (const f of file.folios) kho.unpreserveFolio(f.pfn);
    kernel.vmalloc.vfree(p.array);
  }
  kho.unpreserveFree(p.ser);
}

/** Files this kernel has preserved, by name. */
export function preservedMemfds(kernel: Kernel): string[] {
  return [...outgoing(kernel).files.keys()].map((f) => f.name);
}

// ------------------------------------------------------------------ incoming

interface Incoming {
  table: number;
  entries: MemfdTableEntry[];
  retrieved: Set<string>;
}

const incomingState = new WeakMap<Kernel, Incoming | null>();

function incoming(kernel: Kernel): Incoming | null {
  if (incomingState.has(kernel)) return incomingState.get(kernel)!;
  let st: Incoming | null = null;
  if (kernel.kho.isKhoBoot) {
    try {
      const { phys, size } = kernel.kho.retrieveSubtree(MEMFD_TABLE_NAME);
      const entries = readMemfdTable(kernel.machine.mem, phys, size ?? PAGE_SIZE * 1024);
      if (entries === null) kernel.log.warning("memfd", "invalid memfd session table");
      else st = { table: phys, entries, retrieved: new Set() };
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
    }
  }
  incomingState.set(kernel, st);
  return st;
}

/** Names of the files the previous kernel preserved and this one has not retrieved yet. */
export function incomingMemfds(kernel: Kernel): string[] {
  const st = incoming(kernel);
  return st === null ? [] : st.entries.map((e) => e.name).filter((n) => !st.retrieved.has(n));
}

/**
 * `memfd_luo_retrieve` in the successor: finds `name` in the session table, reads its
 * `memfd_luo_ser`, restores the folio-record array (`kho_restore_vmalloc`), restores each
 * folio (`kho_restore_folio`), frees the array and the `memfd_luo_ser`, and returns the
 * file. ENOENT for an unknown or already retrieved name; EINVAL when a restore fails
 * (folios restored so far stay with the caller's kernel, as in the kernel).
 */
export function restoreMemfd(kernel: Kernel, name: string): MemfdFile {
  const st = incoming(kernel);
  const e = st?.entries.find((x) => x.name === name);
  if (st === null || e === undefined || st.retrieved.has(name)) {
    throw new KhoError("ENOENT", `no preserved memfd named ${name}`);
  }
  st.retrieved.add(name);
  const mem = kernel.machine.mem;
  const ser = readMemfdLuoSer(mem, e.ser);
  const folios: MemfdFolio[] = [];
  let order = 0;
  if (ser.nrFolios > 0) {
    const array = restoreVmalloc(kernel, ser.folios);
    if (array === null) throw new KhoError("EINVAL", `memfd ${name}: folio array did not restore`);
    const bytes = kernel.vmalloc.readBytes(array, ser.nrFolios * MEMFD_LUO_FOLIO_SER_SIZE);
    kernel.vmalloc.vfree(array);
    for (let i = 0; i < ser.nrFolios; i++) {
      const r = decodeFolioSer(bytes, i * MEMFD_LUO_FOLIO_SER_SIZE);
      const pfn = kernel.kho.restoreFolio(r.pfn * PAGE_SIZE);
      if (pfn === null) {
        throw new KhoError("EINVAL", `memfd ${name}: folio ${i} at ${hex(r.pfn * PAGE_SIZE)}`);
      }
      order = kernel.memmap.folioOrder(pfn);
      folios.push({ pfn, index: r.index, flags: r.flags });
    }
  }
  kernel.kho.restoreFree(e.ser);
  const file = new MemfdFile({ kernel, name, size: ser.size, folioOrder: order, folios });
  file.pos = ser.pos;
  return file;
}

/**
 * LUO `finish`: files nobody retrieved are restored and dropped (their folios go back to
 * the allocator), and the session table is freed. Returns the names dropped.
 */
export function memfdFinish(kernel: Kernel): string[] {
  const st = incoming(kernel);
  if (st === null) return [];
  const dropped = incomingMemfds(kernel);
  for (const name of dropped) {
    try {
      memfdClose(restoreMemfd(kernel, name));
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
      kernel.log.warning("memfd", `finish: ${name}: ${e.message}`);
    }
  }
  kernel.kho.restoreFree(st.table);
  incomingState.set(kernel, null);
  return dropped;
}
