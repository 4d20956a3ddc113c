/**
 * A tiny KHO client for engine tests: it preserves folios, page ranges and data blobs and
 * records them in a preserved "manifest" sub-blob, so that after kexec the successor finds
 * them from bytes alone (no JavaScript object crosses the kexec).
 *
 * Manifest layout (little-endian): u64 magic, u64 count, then count × 24-byte records
 * {u64 phys; u32 kind (0 folio, 1 pages, 2 blob); u32 arg (order, page count, or byte size);
 * u64 content hash}. Blobs are also sub-trees named `blob-<index>`.
 *
 * @module
 */

import type { Kernel } from "../../../lib/boot/kernel.ts";
import { PAGE_SIZE } from "../../../lib/units.ts";

/** Sub-tree name of the manifest. */
export const MANIFEST = "kholab-manifest";
const MAGIC = 0x4b484f4c41424d46n;

/** One preserved object. */
export interface TestObject {
  /** folio: head phys; pages: first phys; blob: blob phys. */
  phys: number;
  /** What it is. */
  kind: "folio" | "pages" | "blob";
  /** folio: order; pages: page count; blob: byte size. */
  arg: number;
  /** Content hash (hash64 over the object's bytes). */
  hash: bigint;
}

const KINDS = ["folio", "pages", "blob"] as const;

/** Bytes covered by an object. */
export function objectBytes(_k: Kernel, o: TestObject): number {
  if (o.kind === "folio") return 2 ** o.arg * PAGE_SIZE;
  if (o.kind === "pages") return o.arg * PAGE_SIZE;
  return o.arg;
}

/** Writes the manifest into a preserved allocation and adds it as a sub-tree. Returns its phys. */
export function writeManifest(k: Kernel, objects: TestObject[]): number {
  const size = 16 + 24 * objects.length;
  const phys = k.kho.allocPreserve(size);
  const mem = k.machine.mem;
  mem.writeU64Big(phys, MAGIC);
  mem.writeU64(phys + 8, objects.length);
  objects.forEach((o, i) => {
    const r = phys + 16 + 24 * i;
    mem.writeU64(r, o.phys);
    mem.writeU32(r + 8, KINDS.indexOf(o.kind));
    mem.writeU32(r + 12, o.arg);
    mem.writeU64Big(r + 16, o.hash);
  });
  k.kho.addSubtree(MANIFEST, phys, size);
  return phys;
}

/** Reads the manifest of the previous kernel from bytes. */
export function readManifest(k: Kernel): { phys: number; objects: TestObject[] } {
  const { phys } = k.kho.retrieveSubtree(MANIFEST);
  const mem = k.machine.mem;
  if (mem.readU64Big(phys) !== MAGIC) throw new Error("manifest magic mismatch");
  const count = mem.readU64(phys + 8);
  const objects: TestObject[] = [];
  for (let i = 0; i < count; i++) {
    const r = phys + 16 + 24 * i;
    objects.push({
      phys: mem.readU64(r),
      kind: KINDS[mem.readU32(r + 8)],
      arg: mem.readU32(r + 12),
      hash: mem.readU64Big(r + 16),
    });
  }
  return { phys, objects };
}

/** Preserves an object in kernel `k` (folio, page range, or blob + its sub-tree). */
export function preserveObject(k: Kernel, o: TestObject, index: number): void {
  const pfn = o.phys / PAGE_SIZE;
  if (o.kind === "folio") k.kho.preserveFolio(pfn);
  else if (o.kind === "pages") k.kho.preservePages(pfn, o.arg);
  else {
    k.kho.preserveFolio(pfn);
    k.kho.addSubtree(`blob-${index}`, o.phys, o.arg);
  }
}

/**
 * Restores an object in the successor and checks its content. Returns an error message, or
 * null when the object came back intact.
 */
export function restoreObject(k: Kernel, o: TestObject): string | null {
  const got = o.kind === "pages" ? k.kho.restorePages(o.phys, o.arg) : k.kho.restoreFolio(o.phys);
  if (got === null) return `${o.kind} at 0x${o.phys.toString(16)} did not restore`;
  if (o.kind === "folio" && k.memmap.folioOrder(got) !== o.arg) {
    return `folio order ${k.memmap.folioOrder(got)} != ${o.arg}`;
  }
  const h = k.machine.mem.hash64(o.phys, objectBytes(k, o));
  return h === o.hash ? null : `${o.kind} at 0x${o.phys.toString(16)}: content changed`;
}
