/**
 * A registry of named preserved objects — folios, page ranges, vmalloc areas, memfd files —
 * for scenarios and the command language: {@link preserveObjects} preserves them and writes
 * a named-object table (sub-tree `"kholab-objects"`, layout in `../kho/abi/objects.ts`)
 * with each object's content hash; after kexec {@link restoreObject} /
 * {@link restoreObjects} find them by name from bytes alone, restore them and say whether
 * the content is intact.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import {
  decodeObjectsTable,
  encodeObjectsTable,
  OBJECT_NAME_MAX,
  type ObjectKind,
  type ObjectRecord,
  OBJECTS_TABLE_NAME,
  objectsTableBytes,
} from "../kho/abi/objects.ts";
import { KhoVmalloc } from "../kho/abi/vmalloc.ts";
import { preserveVmalloc, restoreVmalloc, unpreserveVmalloc } from "../kho/vmalloc.ts";
import { PAGE_SIZE } from "../units.ts";
import { type MemfdFile, preserveMemfd, restoreMemfd, unpreserveMemfd } from "./memfd.ts";

/** An object to preserve. */
export type ObjectSpec =
  | { kind: "folio"; name: string; pfn: number }
  | { kind: "pages"; name: string; pfn: number; nrPages: number }
  | { kind: "vmalloc"; name: string; addr: number }
  | { kind: "memfd"; name: string; file: MemfdFile };

/** An object restored in the successor. */
export interface RestoredObject {
  /** Its name. */
  name: string;
  /** Its kind. */
  kind: ObjectKind;
  /** The table entry it came from. */
  record: ObjectRecord;
  /** folio, pages: first pfn; vmalloc: the new vmalloc address; memfd: 0. */
  handle: number;
  /** The memfd file (memfd only). */
  file?: MemfdFile;
  /** Content hash now. */
  hash: bigint;
  /** Whether the content hash equals the recorded one. */
  intact: boolean;
}

const ZERO_VM = new KhoVmalloc({ first: 0, totalPages: 0, flags: 0, order: 0 });

interface Out {
  records: ObjectRecord[];
  undo: Map<string, () => void>;
  table: number;
}

const outState = new WeakMap<Kernel, Out>();

function outOf(kernel: Kernel): Out {
  let s = outState.get(kernel);
  if (s === undefined) {
    s = { records: [], undo: new Map(), table: 0 };
    outState.set(kernel, s);
  }
  return s;
}

/** The content hash of an object as the registry computes it (both sides of a kexec). */
function hashOf(
  kernel: Kernel,
  kind: ObjectKind,
  where: { phys: number; bytes: number; addr?: number; file?: MemfdFile },
): bigint {
  if (kind === "memfd") return where.file!.hash64();
  if (kind === "vmalloc") return kernel.vmalloc.hash64(where.addr!, where.bytes);
  return kernel.machine.mem.hash64(where.phys, where.bytes);
}

/** Preserves one object; returns its record and how to undo it. */
function preserveOne(kernel: Kernel, o: ObjectSpec): { record: ObjectRecord; undo: () => void } {
  const kho = kernel.kho;
  const base = { name: o.name, kind: o.kind, order: 0, phys: 0, count: 0, vm: ZERO_VM };
  switch (o.kind) {
    case "folio": {
      if (kernel.memmap.isTail(o.pfn)) throw new KhoError("EINVAL", `${o.name}: tail page`);
      const order = kernel.memmap.folioOrder(o.pfn);
      const phys = o.pfn * PAGE_SIZE;
      const hash = hashOf(kernel, "folio", { phys, bytes: PAGE_SIZE * 2 ** order });
      kho.preserveFolio(o.pfn);
      return {
        record: { ...base, order, phys, hash },
        undo: () => kho.unpreserveFolio(o.pfn),
      };
    }
    case "pages": {
      const phys = o.pfn * PAGE_SIZE;
      const hash = hashOf(kernel, "pages", { phys, bytes: o.nrPages * PAGE_SIZE });
      kho.preservePages(o.pfn, o.nrPages);
      return {
        record: { ...base, phys, count: o.nrPages, hash },
        undo: () => kho.unpreservePages(o.pfn, o.nrPages),
      };
    }
    case "vmalloc": {
      const area = kernel.vmalloc.findVmArea(o.addr);
      if (area === null) throw new KhoError("EINVAL", `${o.name}: no vmalloc area`);
      const hash = hashOf(kernel, "vmalloc", { phys: 0, bytes: area.size, addr: area.addr });
      const vm = preserveVmalloc(kernel, area.addr);
      return {
        record: { ...base, count: area.size, vm, hash },
        undo: () => unpreserveVmalloc(kernel, vm),
      };
    }
    case "memfd": {
      if (o.file.name !== o.name) {
        throw new KhoError("EINVAL", `memfd object ${o.name} must carry the file's name`);
      }
      const hash = o.file.hash64();
      preserveMemfd(kernel, o.file);
      return {
        record: { ...base, count: o.file.size, hash },
        undo: () => unpreserveMemfd(kernel, o.file),
      };
    }
  }
}

/** Writes the table for `records` and swaps it into the root FDT (old one kept on failure). */
function publish(kernel: Kernel, records: readonly ObjectRecord[]): void {
  const s = outOf(kernel);
  const kho = kernel.kho;
  const bytes = encodeObjectsTable(records);
  const phys = kho.allocPreserve(objectsTableBytes(records.length));
  kernel.machine.mem.writeBytes(phys, bytes);
  const old = s.table;
  if (old !== 0) kho.removeSubtree(old);
  try {
    kho.addSubtree(OBJECTS_TABLE_NAME, phys, bytes.length);
  } catch (e) {
    if (old !== 0) kho.addSubtree(OBJECTS_TABLE_NAME, old, objectsTableBytes(s.records.length));
    kho.unpreserveFree(phys);
    throw e;
  }
  if (old !== 0) kho.unpreserveFree(old);
  s.table = phys;
}

/**
 * Preserves `objects` (all or nothing) and records them, with their content hashes, in the
 * named-object table (added to what earlier calls in this kernel recorded). EEXIST for a
 * duplicate name, EINVAL for a bad name or object, otherwise the errno of the failing
 * preserve; on failure nothing stays preserved. Returns the table entries written.
 *
 * @example
 * ```ts
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { preserveObjects, restoreObject } from "./objects.ts";
 * const k1 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }));
 * const pfn = k1.buddy.folioAlloc(3)!;
 * k1.machine.mem.fill(pfn * 4096, 8 * 4096, { pattern: 9 });
 * preserveObjects(k1, [{ kind: "folio", name: "state", pfn }]);
 * const k2 = k1.kexec();
 * console.assert(restoreObject(k2, "state").intact);
 * ```
 */
export function preserveObjects(kernel: Kernel, objects: readonly ObjectSpec[]): ObjectRecord[] {
  const s = outOf(kernel);
  const names = new Set(s.records.map((r) => r.name));
  for (const o of objects) {
    const len = new TextEncoder().encode(o.name).length;
    if (len === 0 || len > OBJECT_NAME_MAX) {
      throw new KhoError("EINVAL", `object name "${o.name}": 1..${OBJECT_NAME_MAX} bytes`);
    }
    if (names.has(o.name)) throw new KhoError("EEXIST", `object ${o.name} already recorded`);
    names.add(o.name);
  }
  const done: { record: ObjectRecord; undo: () => void }[] = [];
  try {
    for (const o of objects) done.push(preserveOne(kernel, o));
    publish(kernel, [...s.records, ...done.map((d) => d.record)]);
  } catch (e) {
    while (done.length > 0) done.pop()!.undo();
    throw e;
  }
  for (const d of done) {
    s.records.push(d.record);
    s.undo.set(d.record.name, d.undo);
  }
  return done.map((d) => d.record);
}

/** Unpreserves a recorded object and drops it from the table. ENOENT for an unknown name. */
export function unpreserveObject(kernel: Kernel, name: string): void {
  const s = outOf(kernel);
  const i = s.records.findIndex((r) => r.name === name);
  if (i < 0) throw new KhoError("ENOENT", `no object ${name}`);
  const rest = s.records.filter((_, j) => j !== i);
  if (rest.length > 0) publish(kernel, rest);
  else if (s.table !== 0) {
    kernel.kho.removeSubtree(s.table);
    kernel.kho.unpreserveFree(s.table);
    s.table = 0;
  }
  s.undo.get(name)!();
  s.undo.delete(name);
  s.records = rest;
}

/** The objects this kernel has recorded for the next one. */
export function preservedObjects(kernel: Kernel): readonly ObjectRecord[] {
  return outOf(kernel).records;
}

// ------------------------------------------------------------------ successor

interface In {
  table: number;
  records: ObjectRecord[];
  restored: Set<string>;
}

const inState = new WeakMap<Kernel, In | null>();

function inOf(kernel: Kernel): In | null {
  if (inState.has(kernel)) return inState.get(kernel)!;
  let st: In | null = null;
  if (kernel.kho.isKhoBoot) {
    try {
      const { phys, size } = kernel.kho.retrieveSubtree(OBJECTS_TABLE_NAME);
      const mem = kernel.machine.mem;
      const n = new DataView(mem.readBytes(phys, 16).buffer).getUint32(12, true);
      const len = Math.min(size ?? objectsTableBytes(n), objectsTableBytes(n));
      const records = decodeObjectsTable(mem.readBytes(phys, len));
      if (records === null) kernel.log.warning("objects", "invalid object table");
      else st = { table: phys, records, restored: new Set() };
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
    }
  }
  inState.set(kernel, st);
  return st;
}

/** The previous kernel's object table, read from bytes (nothing restored). */
export function incomingObjects(kernel: Kernel): readonly ObjectRecord[] {
  return inOf(kernel)?.records ?? [];
}

/**
 * Restores the object `name` of the previous kernel (restoreFolio / restorePages /
 * restoreVmalloc / the memfd client) and checks its content hash. ENOENT for an unknown
 * or already restored name; EINVAL when the restore itself fails.
 */
export function restoreObject(kernel: Kernel, name: string): RestoredObject {
  const st = inOf(kernel);
  const r = st?.records.find((x) => x.name === name);
  if (st === null || r === undefined || st.restored.has(name)) {
    throw new KhoError("ENOENT", `no incoming object ${name}`);
  }
  st.restored.add(name);
  const kho = kernel.kho;
  const fail = (what: string): never => {
    throw new KhoError("EINVAL", `object ${name}: ${what} did not restore`);
  };
  let handle = 0;
  let file: MemfdFile | undefined;
  let hash: bigint;
  switch (r.kind) {
    case "folio": {
      handle = kho.restoreFolio(r.phys) ?? fail("folio");
      if (kernel.memmap.folioOrder(handle) !== r.order) fail(`order-${r.order} folio`);
      hash = hashOf(kernel, "folio", { phys: r.phys, bytes: PAGE_SIZE * 2 ** r.order });
      break;
    }
    case "pages":
      handle = kho.restorePages(r.phys, r.count) ?? fail("page range");
      hash = hashOf(kernel, "pages", { phys: r.phys, bytes: r.count * PAGE_SIZE });
      break;
    case "vmalloc":
      handle = restoreVmalloc(kernel, r.vm) ?? fail("vmalloc area");
      hash = hashOf(kernel, "vmalloc", { phys: 0, bytes: r.count, addr: handle });
      break;
    case "memfd":
      file = restoreMemfd(kernel, name);
      hash = file.hash64();
      break;
  }
  return { name, kind: r.kind, record: r, handle, file, hash, intact: hash === r.hash };
}

/**
 * Restores every object not restored yet (failures come back as `intact: false` with
 * `handle` 0) and frees the table. Returns them in table order.
 */
export function restoreObjects(kernel: Kernel): RestoredObject[] {
  const st = inOf(kernel);
  if (st === null) return [];
  const out: RestoredObject[] = [];
  for (const r of st.records) {
    if (st.restored.has(r.name)) continue;
    try {
      out.push(restoreObject(kernel, r.name));
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
      kernel.log.warning("objects", e.message);
      out.push({ name: r.name, kind: r.kind, record: r, handle: 0, hash: 0n, intact: false });
    }
  }
  kernel.kho.restoreFree(st.table);
  inState.set(kernel, null);
  return out;
}

/** The spec that preserves a restored object again (for chains of kexecs). */
export function respec(o: RestoredObject): ObjectSpec {
  switch (o.kind) {
    case "folio":
      return { kind: "folio", name: o.name, pfn: o.handle };
    case "pages":
      return { kind: "pages", name: o.name, pfn: o.handle, nrPages: o.record.count };
    case "vmalloc":
      return { kind: "vmalloc", name: o.name, addr: o.handle };
    case "memfd":
      return { kind: "memfd", name: o.name, file: o.file! };
  }
}
