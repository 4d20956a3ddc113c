/**
 * How the language's objects cross kexec: each preserved object (and each `reserve_mem=`
 * region) becomes one section of the manifest (`lib/scenario/manifest_abi.ts`), named like the
 * object — folios a folio section, page blocks a range section, a vmalloc area a vmalloc
 * section, a memfd file a memfd section (the LUO session and token it crosses in), a sub-tree
 * blob a sub-tree section, a region a reserve_mem section, a host's pfn list a blocks section
 * (one order per block). The successor rebuilds "incoming" objects from the sections it reads
 * back: names, blocks and content hashes come from bytes alone.
 *
 * @module
 */

import type { ReservedMem } from "../boot/reserve_mem.ts";
import type { ManifestSection } from "../scenario/manifest_abi.ts";
import { getOrder, PAGE_SIZE } from "../units.ts";
import { DslObject, MEMFD_OBJECT_TOKEN } from "./objects.ts";

/** The manifest section of a preserved object or a region (blocks not preserved left out). */
export function sectionOf(o: DslObject): ManifestSection {
  const name = o.name;
  const kept = o.phys.map((_, i) => i).filter((i) => !o.failed.has(i));
  // Why the blocks left out failed to preserve (the successor reports them lost with it).
  const why = kept.length < o.phys.length && o.failReason ? { failedReason: o.failReason } : {};
  /** The blocks preserved, of all attempted. */
  const blocks = () => ({
    ...why,
    attempted: o.phys.length,
    pfns: Float64Array.from(kept, (i) => o.phys[i] / PAGE_SIZE),
    hashes: BigUint64Array.from(kept, (i) => o.hashes[i]),
  });
  switch (o.kind) {
    case "folios":
      return { kind: "folio", name, ...blocks(), order: Math.log2(o.pages[0] ?? 1) };
    case "vmalloc":
      return {
        kind: "vmalloc",
        name,
        attempted: 1,
        bytes: o.bytes,
        descs: o.vm ? [o.vm] : [],
        hashes: BigUint64Array.from(o.vm ? o.hashes : []),
      };
    case "memfd":
      // Found again the kernel's way: the LUO session named like the object, token 1.
      return {
        kind: "memfd",
        name,
        attempted: 1,
        files: o.luoSession === null ? [] : [{
          session: o.luoSession.name,
          token: MEMFD_OBJECT_TOKEN,
          nrFolios: o.file?.folios().length ?? o.nrFolios,
          hash: o.hashes[0],
        }],
      };
    case "subtree":
      return {
        kind: "subtree",
        name,
        attempted: 1,
        blob: { phys: o.phys[0], size: o.bytes, hash: o.hashes[0] },
      };
    case "pfns":
      return {
        kind: "blocks",
        name,
        ...blocks(),
        orders: Uint8Array.from(kept, (i) => Math.log2(o.pages[i])),
      };
    default:
      if (o.state === "reserved") {
        return {
          kind: "reserve_mem",
          name,
          attempted: 1,
          blob: { phys: o.phys[0], size: o.bytes, hash: o.hashes[0] },
        };
      }
      return { kind: "range", name, ...blocks(), nrPages: o.pages[0] ?? 1 };
  }
}

/**
 * The incoming object a section describes (null for a section that is not an object's:
 * test_kho, a region — regions are rebuilt from the kernel's own list, see
 * {@link regionObject}).
 */
export function objectOfSection(s: ManifestSection): DslObject | null {
  const base = {
    name: s.name,
    state: "incoming" as const,
    handedOver: true,
    ...(s.failedReason ? { missingReason: s.failedReason } : {}),
  };
  /** What the objects of folio, range and blocks sections share: their blocks. */
  const blocks = (b: { attempted: number; pfns: Float64Array; hashes: BigUint64Array }) => ({
    phys: Array.from(b.pfns, (p) => p * PAGE_SIZE),
    hashes: [...b.hashes],
    missing: b.attempted - b.pfns.length,
  });
  switch (s.kind) {
    case "folio":
      return new DslObject({
        ...base,
        ...blocks(s),
        kind: "folios",
        pages: Array.from(s.pfns, () => 2 ** s.order),
        bytes: s.pfns.length * 2 ** s.order * PAGE_SIZE,
        order: s.order,
      });
    case "range":
      return new DslObject({
        ...base,
        ...blocks(s),
        kind: "pages",
        pages: Array.from(s.pfns, () => s.nrPages),
        bytes: s.pfns.length * s.nrPages * PAGE_SIZE,
        order: Number.isInteger(Math.log2(s.nrPages)) ? Math.log2(s.nrPages) : 0,
      });
    case "vmalloc": {
      const o = new DslObject({
        ...base,
        kind: "vmalloc",
        hashes: [...s.hashes],
        bytes: s.bytes,
        order: s.descs[0]?.order ?? 0,
        missing: s.attempted - s.descs.length,
      });
      o.vm = s.descs[0] ?? null;
      return o;
    }
    case "memfd": {
      const f = s.files[0];
      const o = new DslObject({
        ...base,
        kind: "memfd",
        hashes: f ? [f.hash] : [],
        bytes: 0,
        missing: s.attempted - s.files.length,
      });
      o.nrFolios = f?.nrFolios ?? 0;
      o.luoRef = f ? { session: f.session, token: f.token } : null;
      return o;
    }
    case "blocks":
      return new DslObject({
        ...base,
        ...blocks(s),
        kind: "pfns",
        pages: Array.from(s.orders, (o) => 2 ** o),
        bytes: s.orders.reduce((sum, o) => sum + 2 ** o * PAGE_SIZE, 0),
        order: s.orders.reduce((m, o) => Math.max(m, o), 0),
      });
    case "subtree":
      if (s.blob === null) return null;
      return new DslObject({
        ...base,
        kind: "subtree",
        phys: [s.blob.phys],
        pages: [2 ** getOrder(s.blob.size)],
        hashes: [s.blob.hash],
        bytes: s.blob.size,
      });
    default:
      return null;
  }
}

/**
 * The object of a `reserve_mem=` region of this kernel (state "reserved"). Its hash is the one
 * the previous kernel handed over when the kernel revived the region where it was recorded;
 * a new region gets fresh content (`fill`, which returns its hash); a region revived without
 * a record (or moved) keeps its content as found (`hashNow`), and one revived elsewhere than
 * recorded counts as failed.
 */
export function regionObject(
  r: ReservedMem,
  handed: ManifestSection | undefined,
  io: { fill: () => bigint; hashNow: () => bigint },
): DslObject {
  const blob = handed?.kind === "reserve_mem" ? handed.blob : null;
  const same = r.revived && blob !== null && blob.phys === r.start && blob.size === r.size;
  const o = new DslObject({
    name: r.name,
    kind: "reserve_mem",
    state: "reserved",
    phys: [r.start],
    pages: [Math.ceil(r.size / PAGE_SIZE)],
    hashes: [same ? blob.hash : r.revived ? io.hashNow() : io.fill()],
    bytes: r.size,
    missing: blob !== null && !same ? 1 : 0,
    handedOver: blob !== null,
  });
  o.revived = r.revived;
  return o;
}
