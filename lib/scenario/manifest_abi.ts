/**
 * The manifest: kholab's one way to find its objects after kexec, used by the scenario
 * harness, the command language (one section per named object) and the tests. After the
 * objects were preserved in the first kernel, `./manifest.ts` writes what the successor needs
 * to find and verify them (pfns, orders, vmalloc descriptors, the LUO session names and
 * tokens of memfd files, sub-tree blobs, content hashes taken when the objects were built, how
 * many objects the generation could not preserve at all, with the reason, and why the preserve
 * of the others that are not recorded failed) into preserved
 * memory; the successor finds it through the KHO sub-tree `"kholab-scenario"` and restores
 * every object from these bytes alone. Every layout of the manifest is here, shared by writer
 * and reader (little-endian). It is kholab's own format, so it lives next to its owner
 * (`lib/scenario/`), not with the kernel's ABI in `lib/kho/abi/`.
 *
 * The sub-tree blob is a small FDT (sub-trees of the kho-v1 era are FDTs, property `fdt`),
 * one preserved order-0 folio:
 * ```
 * / {
 *   compatible = "kholab-scenario-v1";
 *   first-chunk = <u64>;            // phys of chunk 0
 *   nr-chunks = <u32>;              // chunks in the chain
 *   payload-bytes = <u64>;          // bytes of the stream below, all chunks together
 * };
 * ```
 * The stream is cut into a chain of preserved folios of order ≤ 9 (RFC v1's order table
 * loses higher orders; on fragmented memory the writer falls back to smaller orders), each
 * starting with a header:
 * ```
 * struct kholab_scenario_chunk {     // 32-byte header at the start of each chunk folio
 *   u64 magic;                       //  0: "KHSCCHK1" read as a little-endian u64
 *   u64 next;                        //  8: phys of the next chunk, 0 at the end
 *   u32 seq;                         // 16: index in the chain, from 0
 *   u32 order;                       // 20: folio order of this chunk (≤ 9)
 *   u32 used;                        // 24: stream bytes in this chunk
 *   u32 reserved;                    // 28: 0
 *   u8  payload[used];               // 32: the next `used` bytes of the stream
 * };
 * struct kholab_scenario_manifest {  // the stream: 24-byte header, then the sections
 *   u64 magic;                       //  0: "KHSCMAN1" read as a little-endian u64
 *   u32 version;                     //  8: 3
 *   u32 nr_sections;                 // 12
 *   u64 payload_bytes;               // 16: bytes of the whole stream, this header included
 *   struct kholab_scenario_section { // one per workload (or named object), in preserve order
 *     char name[32];                 //  0: NUL-padded, 1..31 bytes of UTF-8
 *     u32 kind;                      // 32: 1 folio, 2 range, 3 vmalloc, 4 memfd, 5 test_kho,
 *                                    //     6 subtree, 7 reserve_mem, 8 blocks
 *     u32 record_size;               // 36: 16, 16, 24, 88, 0, 24, 24, 24 by kind
 *     u32 attempted;                 // 40: objects the workload tried to preserve
 *     u32 count;                     // 44: records (objects preserved successfully)
 *     u64 param;                     // 48: folio order, range nr_pages, vmalloc bytes, else 0
 *     u32 unsupported;               // 56: objects this generation cannot preserve (not lost)
 *     u32 reason_bytes;              // 60: UTF-8 bytes of why (0 iff unsupported is 0)
 *     u32 failed_reason_bytes;       // 64: UTF-8 bytes of why the preserve of the
 *                                    //     attempted − count − unsupported others failed
 *                                    //     (0 when none failed; may be 0 when some did)
 *     u32 reserved;                  // 68: 0
 *     u8  reason[ALIGN(reason_bytes, 8)];  // 72: NUL-padded to 8 bytes
 *     u8  failed_reason[ALIGN(failed_reason_bytes, 8)];  // NUL-padded to 8 bytes
 *     u8  records[count * record_size];
 *   } sections[nr_sections];
 * };
 * folio, range record (16):  u64 pfn;  u64 hash;
 * vmalloc record (24):       struct kho_vmalloc desc;  u64 hash;
 * memfd record (88):         char session[64] (the LUO session name, NUL-padded);
 *                            u64 token;  u64 nr_folios;  u64 hash;
 * test_kho:                  no record; count 1 when the module saved its data
 * subtree, reserve_mem (24): u64 phys;  u64 size;  u64 hash;   (count ≤ 1: the KHO sub-tree,
 *                            or the kernel's `reserve_mem=` region, named like the section:
 *                            `size` bytes at `phys`; the kernel revives a region itself)
 * blocks record (24):        u64 pfn;  u64 order;  u64 hash;   (blocks of any order each, as a
 *                            host's pfn list gives them: `2^order` pages at `pfn`)
 * ```
 * A memfd file is found the kernel's own way: `/dev/liveupdate` → `RETRIEVE_SESSION(session)` →
 * `RETRIEVE_FD(token)`. Hashes are `PhysicalMemory.hash64` of the object's bytes
 * (`MemfdFile.hash64` for a file, taken once it was preserved — pinning may move folios out of
 * scratch —, `Vmalloc.hash64` for a buffer, the `size` bytes of a sub-tree blob or a region)
 * when the objects were built.
 *
 * @module
 */

import { cstring, FdtReader, FdtWriter, le32, le64 } from "../kho/fdt/mod.ts";
import { PAGE_SIZE } from "../units.ts";
import { KHO_VMALLOC_LAYOUT, KhoVmalloc } from "../kho/abi/kexec_handover.ts";

/** Sub-tree name of the manifest. */
export const SCENARIO_MANIFEST_NAME = "kholab-scenario";
/** `compatible` of the manifest's root FDT. */
export const SCENARIO_MANIFEST_COMPAT = "kholab-scenario-v1";
/**
 * Stream version (2: unsupported objects and their reason, memfd records name LUO sessions; 3:
 * why the preserve of the objects without a record failed).
 */
export const SCENARIO_MANIFEST_VERSION = 3;
/** Size of the root FDT buffer (one page). */
export const SCENARIO_ROOT_FDT_BYTES: number = PAGE_SIZE;

function asciiMagic(s: string): bigint {
  let v = 0n;
  for (let i = s.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(s.charCodeAt(i));
  return v;
}

/** Chunk magic, "KHSCCHK1" read as a little-endian u64. */
export const SCENARIO_CHUNK_MAGIC: bigint = asciiMagic("KHSCCHK1");
/** Stream magic, "KHSCMAN1" read as a little-endian u64. */
export const SCENARIO_STREAM_MAGIC: bigint = asciiMagic("KHSCMAN1");
/** Size of `struct kholab_scenario_chunk`'s header. */
export const SCENARIO_CHUNK_HEADER_SIZE = 32;
/** Size of the stream header. */
export const SCENARIO_STREAM_HEADER_SIZE = 24;
/** Size of a section header (the reason bytes follow it). */
export const SCENARIO_SECTION_HEADER_SIZE = 72;
/** Longest reason (of unsupported objects, of failed preserves), in bytes. */
export const SCENARIO_REASON_MAX = 1024;
/** Longest section name in bytes. */
export const SCENARIO_SECTION_NAME_MAX = 31;
/** Longest LUO session name in a memfd record (`LIVEUPDATE_SESSION_NAME_LENGTH` − 1). */
export const SCENARIO_MEMFD_NAME_MAX = 63;
/** Largest chunk order (RFC v1's order table has slots for 0..9 only). */
export const SCENARIO_CHUNK_MAX_ORDER = 9;
/** Most chunks a reader accepts (65536 order-9 chunks: 128 GiB of manifest). */
export const SCENARIO_MAX_CHUNKS = 65536;

/** Section kinds and their codes. */
export const SECTION_KINDS = {
  folio: 1,
  range: 2,
  vmalloc: 3,
  memfd: 4,
  test_kho: 5,
  subtree: 6,
  reserve_mem: 7,
  blocks: 8,
} as const;
/** A section kind. */
export type SectionKind = keyof typeof SECTION_KINDS;
/** Record size of each kind. */
export const SECTION_RECORD_SIZES: Readonly<Record<SectionKind, number>> = {
  folio: 16,
  range: 16,
  vmalloc: KHO_VMALLOC_LAYOUT.size + 8,
  memfd: SCENARIO_MEMFD_NAME_MAX + 1 + 24,
  test_kho: 0,
  subtree: 24,
  reserve_mem: 24,
  blocks: 24,
};

/** Largest sub-tree blob a record may declare (1 GiB: one folio of order 18). */
export const SCENARIO_SUBTREE_MAX_BYTES = 2 ** 30;
/** Largest `reserve_mem=` region a record may declare (16 TiB). */
export const SCENARIO_REGION_MAX_BYTES = 2 ** 44;

/** Largest pfn a record may hold (physical addresses stay below 2^53). */
const MAX_PFN = 2 ** 41;
/** Largest folio order a folio section may declare. */
const MAX_FOLIO_ORDER = 30;
/** Largest block order a blocks section may declare (2^34 pages: 64 TiB). */
const MAX_BLOCK_ORDER = 34;

/** Objects a generation cannot preserve at all: *unsupported by this generation, because…*. */
export interface UnsupportedObjects {
  /** How many of the workload's objects. */
  readonly count: number;
  /** Why, e.g. "kho-v1-6.16 (6.16) has no Live Update Orchestrator (6.19 on): …". */
  readonly reason: string;
}

/** What every section carries. */
export interface SectionBase {
  /** Workload name (the error step). */
  readonly name: string;
  /**
   * Objects the workload tried to preserve: the records, the unsupported ones, and the rest
   * (whose preserve failed), which the successor counts as lost.
   */
  readonly attempted: number;
  /** Objects this generation cannot preserve (never counted as lost); absent when none. */
  readonly unsupported?: UnsupportedObjects;
  /**
   * Why the preserve of the objects that have neither a record nor are unsupported failed
   * (the first failure's errno and message), at most {@link SCENARIO_REASON_MAX} bytes;
   * absent when none failed (or nobody said).
   */
  readonly failedReason?: string;
}

/** Folios of one order (`kho_preserve_folio`). */
export interface FolioSection extends SectionBase {
  /** Kind. */
  readonly kind: "folio";
  /** Order of every folio. */
  readonly order: number;
  /** Head pfn of each preserved folio. */
  readonly pfns: Float64Array;
  /** Content hash of each, at build time. */
  readonly hashes: BigUint64Array;
}

/** Page ranges of `nrPages` pages (`kho_preserve_pages` / `kho_preserve_phys`). */
export interface RangeSection extends SectionBase {
  /** Kind. */
  readonly kind: "range";
  /** Pages per range. */
  readonly nrPages: number;
  /** First pfn of each preserved range. */
  readonly pfns: Float64Array;
  /** Content hash of each, at build time. */
  readonly hashes: BigUint64Array;
}

/** vmalloc buffers (`kho_preserve_vmalloc`). */
export interface VmallocSection extends SectionBase {
  /** Kind. */
  readonly kind: "vmalloc";
  /** Bytes per buffer (the hashed length). */
  readonly bytes: number;
  /** Descriptor of each preserved buffer. */
  readonly descs: readonly KhoVmalloc[];
  /** Content hash of each, at build time. */
  readonly hashes: BigUint64Array;
}

/** One memfd file preserved through LUO: where the successor finds it. */
export interface MemfdRecord {
  /** The LUO session it was preserved in (`RETRIEVE_SESSION`). */
  readonly session: string;
  /** Its token in that session (`RETRIEVE_FD`), a u64. */
  readonly token: bigint;
  /** Folios of the file. */
  readonly nrFolios: number;
  /** `MemfdFile.hash64` once preserved. */
  readonly hash: bigint;
}

/** memfd files preserved through LUO (`LIVEUPDATE_SESSION_PRESERVE_FD`, `memfd_luo_preserve`). */
export interface MemfdSection extends SectionBase {
  /** Kind. */
  readonly kind: "memfd";
  /** The preserved files. */
  readonly files: readonly MemfdRecord[];
}

/** The test_kho module (it finds its data through its own `kho_test` sub-FDT). */
export interface TestKhoSection extends SectionBase {
  /** Kind. */
  readonly kind: "test_kho";
  /** Whether the module saved its data. */
  readonly saved: boolean;
}

/** `size` bytes at `phys` (a sub-tree blob, a `reserve_mem=` region) and their hash. */
export interface BlobRecord {
  /** Physical address (page-aligned for a sub-tree blob). */
  readonly phys: number;
  /** Bytes (1..{@link SCENARIO_SUBTREE_MAX_BYTES} for a blob, ..{@link SCENARIO_REGION_MAX_BYTES} for a region). */
  readonly size: number;
  /** `PhysicalMemory.hash64` of the `size` bytes at build time. */
  readonly hash: bigint;
}

/** A KHO sub-tree (`kho_add_subtree`) named like the section. */
export interface SubtreeSection extends SectionBase {
  /** Kind. */
  readonly kind: "subtree";
  /** The blob, or null when adding the sub-tree failed. */
  readonly blob: BlobRecord | null;
}

/**
 * A `reserve_mem=` region named like the section: the kernel revives it by name itself (no
 * restore); the record says where it was and its hash.
 */
export interface ReserveMemSection extends SectionBase {
  /** Kind. */
  readonly kind: "reserve_mem";
  /** The region, or null when the first kernel had none of that name. */
  readonly blob: BlobRecord | null;
}

/** Blocks of any order each (`kho_preserve_pages` / `kho_preserve_phys`): a host's pfn list. */
export interface BlocksSection extends SectionBase {
  /** Kind. */
  readonly kind: "blocks";
  /** First pfn of each preserved block. */
  readonly pfns: Float64Array;
  /** Order of each block. */
  readonly orders: Uint8Array;
  /** Content hash of each, at build time. */
  readonly hashes: BigUint64Array;
}

/** One workload's (or named object's) part of the manifest. */
export type ManifestSection =
  | FolioSection
  | RangeSection
  | VmallocSection
  | MemfdSection
  | TestKhoSection
  | SubtreeSection
  | ReserveMemSection
  | BlocksSection;

/** A decoded value, or why the bytes were rejected. */
export type ManifestResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

function setU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v % 2 ** 32, true);
  dv.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
}

function getU64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * 2 ** 32 + dv.getUint32(at, true);
}

/** Why a blob or region record cannot be (null when it can). */
function blobProblem(kind: "subtree" | "reserve_mem", phys: number, size: number): string | null {
  const aligned = kind === "reserve_mem" || phys % PAGE_SIZE === 0;
  if (!(Number.isSafeInteger(phys) && phys >= 0 && phys / PAGE_SIZE < MAX_PFN && aligned)) {
    return `${kind === "subtree" ? "blob" : "region"} at ${phys}`;
  }
  const max = kind === "subtree" ? SCENARIO_SUBTREE_MAX_BYTES : SCENARIO_REGION_MAX_BYTES;
  if (!(Number.isInteger(size) && size >= 1 && size <= max)) {
    return `${kind === "subtree" ? "blob" : "region"} of ${size} bytes`;
  }
  return null;
}

/** Records of a section: the objects the first kernel preserved. */
export function sectionRecordCount(s: ManifestSection): number {
  switch (s.kind) {
    case "folio":
    case "range":
    case "blocks":
      return s.pfns.length;
    case "vmalloc":
      return s.descs.length;
    case "memfd":
      return s.files.length;
    case "test_kho":
      return s.saved ? 1 : 0;
    case "subtree":
    case "reserve_mem":
      return s.blob === null ? 0 : 1;
  }
}

function sectionParam(s: ManifestSection): number {
  switch (s.kind) {
    case "folio":
      return s.order;
    case "range":
      return s.nrPages;
    case "vmalloc":
      return s.bytes;
    default:
      return 0;
  }
}

/** Whether typed arrays are little-endian here (they are on every platform Deno runs on). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * Writes `{ u64 pfn; u64 hash; }` records at `out[at]` without creating BigInts (the
 * manifest of a 1 TiB host has a million of them). Returns the index of the first pfn that
 * is not an integer in [0, 2^41), or -1.
 */
function encodePfnHashRecords(
  out: Uint8Array,
  at: number,
  pfns: Float64Array,
  hashes: BigUint64Array,
): number {
  const n = pfns.length;
  if (!LITTLE_ENDIAN || (out.byteOffset + at) % 4 !== 0) {
    const dv = new DataView(out.buffer, out.byteOffset);
    for (let i = 0; i < n; i++) {
      const pfn = pfns[i];
      if (!(pfn >= 0 && pfn < MAX_PFN && Math.floor(pfn) === pfn)) return i;
      setU64(dv, at + 16 * i, pfn);
      dv.setBigUint64(at + 16 * i + 8, hashes[i], true);
    }
    return -1;
  }
  const o32 = new Uint32Array(out.buffer, out.byteOffset + at, 4 * n);
  const h32 = new Uint32Array(hashes.buffer, hashes.byteOffset, 2 * n);
  for (let i = 0; i < n; i++) {
    const pfn = pfns[i];
    if (!(pfn >= 0 && pfn < MAX_PFN && Math.floor(pfn) === pfn)) return i;
    o32[4 * i] = pfn % 4294967296;
    o32[4 * i + 1] = Math.floor(pfn / 4294967296);
    o32[4 * i + 2] = h32[2 * i];
    o32[4 * i + 3] = h32[2 * i + 1];
  }
  return -1;
}

/**
 * Reads `pfns.length` `{ u64 pfn; u64 hash; }` records at `bytes[at]` into `pfns` and
 * `hashes` (no BigInts). Returns the index of the first pfn ≥ 2^41, or -1.
 */
function decodePfnHashRecords(
  bytes: Uint8Array,
  at: number,
  pfns: Float64Array,
  hashes: BigUint64Array,
): number {
  const n = pfns.length;
  if (!LITTLE_ENDIAN || (bytes.byteOffset + at) % 4 !== 0) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    for (let i = 0; i < n; i++) {
      const pfn = getU64(dv, at + 16 * i);
      if (pfn >= MAX_PFN) return i;
      pfns[i] = pfn;
      hashes[i] = dv.getBigUint64(at + 16 * i + 8, true);
    }
    return -1;
  }
  const i32 = new Uint32Array(bytes.buffer, bytes.byteOffset + at, 4 * n);
  const h32 = new Uint32Array(hashes.buffer, hashes.byteOffset, 2 * n);
  const maxHi = MAX_PFN / 4294967296;
  for (let i = 0; i < n; i++) {
    const hi = i32[4 * i + 1];
    if (hi >= maxHi) return i;
    pfns[i] = hi * 4294967296 + i32[4 * i];
    h32[2 * i] = i32[4 * i + 2];
    h32[2 * i + 1] = i32[4 * i + 3];
  }
  return -1;
}

/** Bytes of the stream encoding `sections`. */
export function manifestStreamBytes(sections: readonly ManifestSection[]): number {
  let n = SCENARIO_STREAM_HEADER_SIZE;
  for (const s of sections) {
    n += SCENARIO_SECTION_HEADER_SIZE + align8(reasonBytes(s).length) +
      align8(failedReasonBytes(s).length) + sectionRecordCount(s) * SECTION_RECORD_SIZES[s.kind];
  }
  return n;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** The UTF-8 bytes of a section's unsupported reason (empty when nothing is unsupported). */
function reasonBytes(s: ManifestSection): Uint8Array {
  return s.unsupported && s.unsupported.count > 0
    ? new TextEncoder().encode(s.unsupported.reason)
    : new Uint8Array(0);
}

/**
 * `text` cut to at most {@link SCENARIO_REASON_MAX} UTF-8 bytes (on a character boundary,
 * "…" marking the cut), as a section's reasons must be.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clipReason, SCENARIO_REASON_MAX } from "./manifest_abi.ts";
 * assert.equal(clipReason("ENOMEM: no page"), "ENOMEM: no page");
 * const long = clipReason("é".repeat(1000));
 * assert.ok(new TextEncoder().encode(long).length <= SCENARIO_REASON_MAX && long.endsWith("…"));
 * ```
 */
export function clipReason(text: string): string {
  const enc = new TextEncoder();
  if (enc.encode(text).length <= SCENARIO_REASON_MAX) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (enc.encode(text.slice(0, mid) + "…").length <= SCENARIO_REASON_MAX) lo = mid;
    else hi = mid - 1;
  }
  let cut = text.slice(0, lo);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1); // no half of a surrogate pair
  return cut + "…";
}

/** The UTF-8 bytes of a section's failed-preserve reason (empty when none is given). */
function failedReasonBytes(s: ManifestSection): Uint8Array {
  return s.failedReason ? new TextEncoder().encode(s.failedReason) : new Uint8Array(0);
}

function putName(out: Uint8Array, at: number, name: string, max: number, what: string): void {
  const b = new TextEncoder().encode(name);
  if (b.length === 0 || b.length > max || b.includes(0)) {
    throw new RangeError(`${what} "${name}": 1..${max} bytes without NUL`);
  }
  out.set(b, at);
}

function getName(bytes: Uint8Array, at: number, max: number): string | null {
  const raw = bytes.subarray(at, at + max + 1);
  const end = raw.indexOf(0);
  if (end <= 0) return null;
  for (let i = end; i < raw.length; i++) if (raw[i] !== 0) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(raw.subarray(0, end));
  } catch {
    return null;
  }
}

/**
 * Encodes the stream (header and sections). Throws RangeError for a bad name, a count above
 * 2^32 - 1, a pfn or hash array of the wrong length, or a record value out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeManifest, encodeManifest } from "./manifest_abi.ts";
 * const bytes = encodeManifest([{
 *   kind: "folio", name: "iommu", attempted: 2, order: 0,
 *   pfns: Float64Array.of(0x1000), hashes: BigUint64Array.of(7n),
 * }]);
 * const r = decodeManifest(bytes);
 * assert.ok(r.ok);
 * const [e] = r.value;
 * assert.ok(e.kind === "folio");
 * assert.equal(e.pfns[0], 0x1000);
 * assert.equal(e.hashes[0], 7n);
 * ```
 */
export function encodeManifest(sections: readonly ManifestSection[]): Uint8Array {
  const out = new Uint8Array(manifestStreamBytes(sections));
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, SCENARIO_STREAM_MAGIC, true);
  dv.setUint32(8, SCENARIO_MANIFEST_VERSION, true);
  dv.setUint32(12, sections.length, true);
  setU64(dv, 16, out.length);
  let at = SCENARIO_STREAM_HEADER_SIZE;
  for (const s of sections) {
    const count = sectionRecordCount(s);
    const unsupported = s.unsupported?.count ?? 0;
    const reason = reasonBytes(s);
    if (
      !(Number.isInteger(unsupported) && unsupported >= 0 &&
        count + unsupported <= s.attempted && s.attempted <= 0xffffffff)
    ) {
      throw new RangeError(
        `section ${s.name}: ${count} records and ${unsupported} unsupported of ${s.attempted}`,
      );
    }
    if ((unsupported > 0) !== (reason.length > 0) || reason.length > SCENARIO_REASON_MAX) {
      throw new RangeError(`section ${s.name}: unsupported objects need a reason of 1..1024 bytes`);
    }
    const failedReason = failedReasonBytes(s);
    if (
      failedReason.length > SCENARIO_REASON_MAX ||
      (failedReason.length > 0 && count + unsupported === s.attempted)
    ) {
      throw new RangeError(
        `section ${s.name}: a failed-preserve reason of 1..1024 bytes, only when some failed`,
      );
    }
    putName(out, at, s.name, SCENARIO_SECTION_NAME_MAX, "section name");
    const size = SECTION_RECORD_SIZES[s.kind];
    dv.setUint32(at + 32, SECTION_KINDS[s.kind], true);
    dv.setUint32(at + 36, size, true);
    dv.setUint32(at + 40, s.attempted, true);
    dv.setUint32(at + 44, count, true);
    setU64(dv, at + 48, sectionParam(s));
    dv.setUint32(at + 56, unsupported, true);
    dv.setUint32(at + 60, reason.length, true);
    dv.setUint32(at + 64, failedReason.length, true);
    at += SCENARIO_SECTION_HEADER_SIZE;
    out.set(reason, at);
    at += align8(reason.length);
    out.set(failedReason, at);
    at += align8(failedReason.length);
    switch (s.kind) {
      case "folio":
      case "range": {
        if (s.hashes.length !== count) throw new RangeError(`section ${s.name}: hash count`);
        const bad = encodePfnHashRecords(out, at, s.pfns, s.hashes);
        if (bad >= 0) throw new RangeError(`section ${s.name}: pfn ${s.pfns[bad]}`);
        at += 16 * count;
        break;
      }
      case "vmalloc":
        if (s.hashes.length !== count) throw new RangeError(`section ${s.name}: hash count`);
        for (let i = 0; i < count; i++, at += size) {
          out.set(s.descs[i].encode(), at);
          dv.setBigUint64(at + KHO_VMALLOC_LAYOUT.size, s.hashes[i], true);
        }
        break;
      case "memfd":
        for (const f of s.files) {
          putName(out, at, f.session, SCENARIO_MEMFD_NAME_MAX, "LUO session name");
          if (f.token < 0n || f.token >= 1n << 64n) {
            throw new RangeError(`section ${s.name}: token ${f.token} is not a u64`);
          }
          dv.setBigUint64(at + 64, f.token, true);
          setU64(dv, at + 72, f.nrFolios);
          dv.setBigUint64(at + 80, f.hash, true);
          at += size;
        }
        break;
      case "test_kho":
        break;
      case "blocks":
        if (s.hashes.length !== count || s.orders.length !== count) {
          throw new RangeError(`section ${s.name}: order or hash count`);
        }
        for (let i = 0; i < count; i++, at += size) {
          const pfn = s.pfns[i], order = s.orders[i];
          if (!(pfn >= 0 && pfn < MAX_PFN && Math.floor(pfn) === pfn) || order > MAX_BLOCK_ORDER) {
            throw new RangeError(`section ${s.name}: block ${pfn} of order ${order}`);
          }
          setU64(dv, at, pfn);
          setU64(dv, at + 8, order);
          dv.setBigUint64(at + 16, s.hashes[i], true);
        }
        break;
      case "subtree":
      case "reserve_mem":
        if (s.blob !== null) {
          const why = blobProblem(s.kind, s.blob.phys, s.blob.size);
          if (why !== null) throw new RangeError(`section ${s.name}: ${why}`);
          setU64(dv, at, s.blob.phys);
          setU64(dv, at + 8, s.blob.size);
          dv.setBigUint64(at + 16, s.blob.hash, true);
          at += SECTION_RECORD_SIZES[s.kind];
        }
        break;
    }
  }
  return out;
}

function kindOf(code: number): SectionKind | undefined {
  for (const [k, c] of Object.entries(SECTION_KINDS)) if (c === code) return k as SectionKind;
  return undefined;
}

/**
 * Decodes and validates a stream: magic, version, `payload_bytes` equal to the stream's
 * length, every section inside it (known kind, matching record size, `count ≤ attempted`,
 * records in bounds, names NUL-padded UTF-8, pfns below 2^41, sane parameters), nothing left
 * over. Never throws; a rejection names the first problem.
 */
export function decodeManifest(bytes: Uint8Array): ManifestResult<ManifestSection[]> {
  if (bytes.length < SCENARIO_STREAM_HEADER_SIZE) {
    return fail(`manifest stream too short (${bytes.length} bytes)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getBigUint64(0, true) !== SCENARIO_STREAM_MAGIC) return fail("bad manifest magic");
  const version = dv.getUint32(8, true);
  if (version !== SCENARIO_MANIFEST_VERSION) return fail(`manifest version ${version}`);
  const nr = dv.getUint32(12, true);
  const total = getU64(dv, 16);
  if (total !== bytes.length) {
    return fail(`manifest payload_bytes ${total} != ${bytes.length} bytes read`);
  }
  if (nr > (total - SCENARIO_STREAM_HEADER_SIZE) / SCENARIO_SECTION_HEADER_SIZE) {
    return fail(`manifest nr_sections ${nr} does not fit in ${total} bytes`);
  }
  const sections: ManifestSection[] = [];
  let at = SCENARIO_STREAM_HEADER_SIZE;
  for (let si = 0; si < nr; si++) {
    if (at + SCENARIO_SECTION_HEADER_SIZE > total) return fail(`section ${si}: header truncated`);
    const name = getName(bytes, at, SCENARIO_SECTION_NAME_MAX);
    if (name === null) return fail(`section ${si}: bad name`);
    const kind = kindOf(dv.getUint32(at + 32, true));
    if (kind === undefined) return fail(`section ${name}: unknown kind`);
    const size = dv.getUint32(at + 36, true);
    if (size !== SECTION_RECORD_SIZES[kind]) {
      return fail(`section ${name}: record size ${size} for kind ${kind}`);
    }
    const attempted = dv.getUint32(at + 40, true);
    const count = dv.getUint32(at + 44, true);
    const param = getU64(dv, at + 48);
    const unsupported = dv.getUint32(at + 56, true);
    const reasonLen = dv.getUint32(at + 60, true);
    const failedLen = dv.getUint32(at + 64, true);
    if (count + unsupported > attempted) {
      return fail(
        `section ${name}: count ${count} + unsupported ${unsupported} > attempted ${attempted}`,
      );
    }
    if ((unsupported > 0) !== (reasonLen > 0) || reasonLen > SCENARIO_REASON_MAX) {
      return fail(`section ${name}: reason of ${reasonLen} bytes for ${unsupported} unsupported`);
    }
    if (
      failedLen > SCENARIO_REASON_MAX || (failedLen > 0 && count + unsupported === attempted)
    ) {
      return fail(`section ${name}: failed-preserve reason of ${failedLen} bytes`);
    }
    if (dv.getUint32(at + 68, true) !== 0) return fail(`section ${name}: reserved not zero`);
    at += SCENARIO_SECTION_HEADER_SIZE;
    const text = (len: number, what: string): ManifestResult<string> => {
      if (at + align8(len) > total) return fail(`section ${name}: ${what} truncated`);
      let t = "";
      try {
        t = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at, at + len));
      } catch {
        return fail(`section ${name}: ${what} is not UTF-8`);
      }
      for (let i = at + len; i < at + align8(len); i++) {
        if (bytes[i] !== 0) return fail(`section ${name}: ${what} padding not zero`);
      }
      at += align8(len);
      return { ok: true, value: t };
    };
    const reasonText = text(reasonLen, "reason");
    if (!reasonText.ok) return reasonText;
    const failedText = text(failedLen, "failed-preserve reason");
    if (!failedText.ok) return failedText;
    const reason = reasonText.value;
    if (at + count * size > total) {
      return fail(`section ${name}: ${count} records of ${size} bytes overflow the manifest`);
    }
    const base = {
      name,
      attempted,
      ...(unsupported > 0 ? { unsupported: { count: unsupported, reason } } : {}),
      ...(failedLen > 0 ? { failedReason: failedText.value } : {}),
    };
    switch (kind) {
      case "folio":
      case "range": {
        if (kind === "folio" && param > MAX_FOLIO_ORDER) {
          return fail(`section ${name}: folio order ${param}`);
        }
        if (kind === "range" && (param < 1 || param > 0xffffffff)) {
          return fail(`section ${name}: nr_pages ${param}`);
        }
        const pfns = new Float64Array(count);
        const hashes = new BigUint64Array(count);
        const bad = decodePfnHashRecords(bytes, at, pfns, hashes);
        if (bad >= 0) {
          return fail(`section ${name}: record ${bad}: pfn ${getU64(dv, at + 16 * bad)}`);
        }
        at += 16 * count;
        sections.push(
          kind === "folio"
            ? { ...base, kind, order: param, pfns, hashes }
            : { ...base, kind, nrPages: param, pfns, hashes },
        );
        break;
      }
      case "vmalloc": {
        if (param < 1 || param > 2 ** 44) return fail(`section ${name}: buffer bytes ${param}`);
        const descs: KhoVmalloc[] = [];
        const hashes = new BigUint64Array(count);
        for (let i = 0; i < count; i++, at += size) {
          descs.push(KhoVmalloc.decode(bytes, at));
          hashes[i] = dv.getBigUint64(at + KHO_VMALLOC_LAYOUT.size, true);
        }
        sections.push({ ...base, kind, bytes: param, descs, hashes });
        break;
      }
      case "memfd": {
        const files: MemfdRecord[] = [];
        for (let i = 0; i < count; i++, at += size) {
          const session = getName(bytes, at, SCENARIO_MEMFD_NAME_MAX);
          if (session === null) return fail(`section ${name}: record ${i}: bad session name`);
          const nrFolios = getU64(dv, at + 72);
          if (nrFolios > 0xffffffff) {
            return fail(`section ${name}: ${session}: nr_folios ${nrFolios}`);
          }
          files.push({
            session,
            token: dv.getBigUint64(at + 64, true),
            nrFolios,
            hash: dv.getBigUint64(at + 80, true),
          });
        }
        sections.push({ ...base, kind, files });
        break;
      }
      case "test_kho":
        if (count > 1) return fail(`section ${name}: test_kho count ${count}`);
        sections.push({ ...base, kind, saved: count === 1 });
        break;
      case "blocks": {
        if (param !== 0) return fail(`section ${name}: blocks param ${param}`);
        const pfns = new Float64Array(count);
        const orders = new Uint8Array(count);
        const hashes = new BigUint64Array(count);
        for (let i = 0; i < count; i++, at += size) {
          const pfn = getU64(dv, at), order = getU64(dv, at + 8);
          if (pfn >= MAX_PFN || order > MAX_BLOCK_ORDER) {
            return fail(`section ${name}: record ${i}: block ${pfn} of order ${order}`);
          }
          pfns[i] = pfn;
          orders[i] = order;
          hashes[i] = dv.getBigUint64(at + 16, true);
        }
        sections.push({ ...base, kind, pfns, orders, hashes });
        break;
      }
      case "subtree":
      case "reserve_mem": {
        if (count > 1) return fail(`section ${name}: ${kind} count ${count}`);
        if (param !== 0) return fail(`section ${name}: ${kind} param ${param}`);
        let blob: BlobRecord | null = null;
        if (count === 1) {
          const phys = getU64(dv, at);
          const size = getU64(dv, at + 8);
          const why = blobProblem(kind, phys, size);
          if (why !== null) return fail(`section ${name}: ${why}`);
          blob = { phys, size, hash: dv.getBigUint64(at + 16, true) };
          at += SECTION_RECORD_SIZES[kind];
        }
        sections.push({ ...base, kind, blob });
        break;
      }
    }
  }
  if (at !== total) return fail(`manifest has ${total - at} trailing bytes`);
  return { ok: true, value: sections };
}

// ------------------------------------------------------------------ chunks

/** The header of one chunk. */
export interface ChunkHeader {
  /** Physical address of the next chunk, 0 at the end. */
  next: number;
  /** Index in the chain. */
  seq: number;
  /** Folio order of the chunk (0..9). */
  order: number;
  /** Stream bytes the chunk carries. */
  used: number;
}

/** Stream bytes a chunk of `order` carries at most. */
export function chunkCapacity(order: number): number {
  return PAGE_SIZE * 2 ** order - SCENARIO_CHUNK_HEADER_SIZE;
}

/** The smallest chunk order (at most 9) whose chunk holds `bytesLeft` stream bytes. */
export function chunkOrderFor(bytesLeft: number): number {
  let order = 0;
  while (order < SCENARIO_CHUNK_MAX_ORDER && chunkCapacity(order) < bytesLeft) order++;
  return order;
}

/**
 * The chunk orders for a stream of `streamBytes` when every allocation succeeds: order-9
 * chunks while more than one is needed, then the smallest order that holds the rest (a
 * writer on fragmented memory falls back to smaller chunks).
 */
export function planChunkOrders(streamBytes: number): number[] {
  const orders: number[] = [];
  let left = streamBytes;
  do {
    const order = chunkOrderFor(left);
    orders.push(order);
    left -= Math.min(left, chunkCapacity(order));
  } while (left > 0);
  return orders;
}

/** The 32 header bytes of a chunk. */
export function encodeChunkHeader(h: ChunkHeader): Uint8Array {
  if (h.order > SCENARIO_CHUNK_MAX_ORDER || h.used > chunkCapacity(h.order)) {
    throw new RangeError(`chunk order ${h.order} with ${h.used} bytes`);
  }
  const out = new Uint8Array(SCENARIO_CHUNK_HEADER_SIZE);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, SCENARIO_CHUNK_MAGIC, true);
  setU64(dv, 8, h.next);
  dv.setUint32(16, h.seq, true);
  dv.setUint32(20, h.order, true);
  dv.setUint32(24, h.used, true);
  return out;
}

/** Decodes and checks a chunk header (magic, order ≤ 9, `used` within the chunk). */
export function decodeChunkHeader(bytes: Uint8Array): ManifestResult<ChunkHeader> {
  if (bytes.length < SCENARIO_CHUNK_HEADER_SIZE) return fail("chunk header truncated");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, SCENARIO_CHUNK_HEADER_SIZE);
  if (dv.getBigUint64(0, true) !== SCENARIO_CHUNK_MAGIC) return fail("bad chunk magic");
  const h = {
    next: getU64(dv, 8),
    seq: dv.getUint32(16, true),
    order: dv.getUint32(20, true),
    used: dv.getUint32(24, true),
  };
  if (h.order > SCENARIO_CHUNK_MAX_ORDER) return fail(`chunk order ${h.order}`);
  if (h.used > chunkCapacity(h.order)) {
    return fail(`chunk uses ${h.used} bytes of order ${h.order}`);
  }
  if (h.next % PAGE_SIZE !== 0) return fail(`chunk next ${h.next} not page-aligned`);
  return { ok: true, value: h };
}

/** What the root FDT records. */
export interface ManifestRoot {
  /** Physical address of chunk 0. */
  first: number;
  /** Chunks in the chain. */
  nrChunks: number;
  /** Bytes of the stream. */
  payloadBytes: number;
}

/** The root FDT bytes (exactly `totalsize`, at most one page). */
export function encodeManifestRoot(root: ManifestRoot): Uint8Array {
  const w = FdtWriter.create(SCENARIO_ROOT_FDT_BYTES);
  w.finishReservemap();
  w.beginNode("");
  w.property("compatible", cstring(SCENARIO_MANIFEST_COMPAT));
  w.property("first-chunk", le64(root.first));
  w.property("nr-chunks", le32(root.nrChunks));
  w.property("payload-bytes", le64(root.payloadBytes));
  w.endNode();
  return w.finish();
}

/**
 * Decodes the root FDT: a valid FDT, the compatible, the three properties with their exact
 * lengths, `1 ≤ nr-chunks ≤` {@link SCENARIO_MAX_CHUNKS}, a page-aligned non-zero first chunk
 * and a payload that fits the chunks. Never throws.
 */
export function decodeManifestRoot(bytes: Uint8Array): ManifestResult<ManifestRoot> {
  try {
    const rd = new FdtReader(bytes);
    if (rd.nodeCheckCompatible(0, SCENARIO_MANIFEST_COMPAT) !== 0) {
      return fail(`root FDT is not ${SCENARIO_MANIFEST_COMPAT}`);
    }
    const first = rd.getU64Le(0, "first-chunk");
    const payloadBytes = rd.getU64Le(0, "payload-bytes");
    const nc = rd.getprop(0, "nr-chunks");
    if (first === null || payloadBytes === null || nc === null || nc.length !== 4) {
      return fail("root FDT: first-chunk, nr-chunks or payload-bytes missing");
    }
    const nrChunks = new DataView(nc.buffer, nc.byteOffset, 4).getUint32(0, true);
    if (nrChunks < 1 || nrChunks > SCENARIO_MAX_CHUNKS) return fail(`nr-chunks ${nrChunks}`);
    if (first === 0 || first % PAGE_SIZE !== 0) return fail(`first-chunk ${first}`);
    if (
      payloadBytes < SCENARIO_STREAM_HEADER_SIZE ||
      payloadBytes > nrChunks * chunkCapacity(SCENARIO_CHUNK_MAX_ORDER)
    ) return fail(`payload-bytes ${payloadBytes} for ${nrChunks} chunks`);
    return { ok: true, value: { first, nrChunks, payloadBytes } };
  } catch (e) {
    return fail(`root FDT: ${(e as Error).message}`);
  }
}

/**
 * Follows the chain from `root.first` and reassembles the stream. `load(phys)` returns the
 * whole chunk folio's bytes (null when it cannot be had, e.g. not preserved). Checks each
 * header (magic, `seq`, order equal to the folio's size, `used` within the payload) and
 * stops with a reason at a cycle, a chain longer or shorter than `nr-chunks`, or a byte
 * count other than `payload-bytes`. Never loads a chunk twice; never throws.
 */
export function readChunkChain(
  root: ManifestRoot,
  load: (phys: number, seq: number) => Uint8Array | null,
): ManifestResult<Uint8Array> {
  const out = new Uint8Array(root.payloadBytes);
  const seen = new Set<number>();
  let phys = root.first;
  let filled = 0;
  let seq = 0;
  for (; phys !== 0; seq++) {
    if (seq >= root.nrChunks) return fail(`chain longer than nr-chunks ${root.nrChunks}`);
    if (seen.has(phys)) return fail(`chunk ${seq}: cycle back to ${phys.toString(16)}`);
    seen.add(phys);
    const bytes = load(phys, seq);
    if (bytes === null) return fail(`chunk ${seq} at 0x${phys.toString(16)} did not restore`);
    const h = decodeChunkHeader(bytes);
    if (!h.ok) return fail(`chunk ${seq}: ${h.reason}`);
    if (h.value.seq !== seq) return fail(`chunk ${seq}: seq ${h.value.seq}`);
    if (PAGE_SIZE * 2 ** h.value.order !== bytes.length) {
      return fail(`chunk ${seq}: order ${h.value.order} but a ${bytes.length}-byte folio`);
    }
    if (filled + h.value.used > out.length) {
      return fail(`chunk ${seq}: more than payload-bytes ${root.payloadBytes}`);
    }
    out.set(
      bytes.subarray(SCENARIO_CHUNK_HEADER_SIZE, SCENARIO_CHUNK_HEADER_SIZE + h.value.used),
      filled,
    );
    filled += h.value.used;
    phys = h.value.next;
  }
  if (seq !== root.nrChunks) return fail(`chain of ${seq} chunks, nr-chunks ${root.nrChunks}`);
  if (filled !== out.length) return fail(`chain holds ${filled} of ${out.length} bytes`);
  return { ok: true, value: out };
}
