/**
 * What a scenario preserves, as groups of objects that preserve themselves in the first
 * kernel: folios (guest folios, IOMMU page-table pages), page ranges (DMA blocks, dense
 * bands), memfd files through LUO sessions, vmalloc buffers and the test_kho module. Failures
 * never throw: they are tallied with the kernel's errno, because a profile that cannot
 * represent a scenario must report it. What a generation cannot do at all (no LUO before
 * 6.19, no `kho_preserve_vmalloc` in 6.16, no hugetlb preservation before the HugeTLB RFC) is
 * tallied as *unsupported by <profile>: <reason>* — never as lost.
 *
 * **No JavaScript object crosses the kexec.** Each workload's `preserve` returns its
 * {@link ManifestSection} — what the successor needs: pfns, orders, vmalloc descriptors, LUO
 * session names and tokens of memfd files, the content hashes, and the unsupported count with
 * its reason — which `run.ts`
 * writes into preserved memory as the scenario manifest (`./manifest.ts`). In the successor,
 * {@link restoreSection} restores and verifies a section decoded from those bytes, with only
 * the successor kernel; the workload objects of the first kernel are never consulted again.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { asKernelVerdict } from "../boot/verdict.ts";
import type { Kernel } from "../boot/kernel.ts";
import type { MemfdFile } from "../clients/memfd.ts";
import { testKhoSave, testKhoVerify } from "../clients/test_kho.ts";
import {
  type BlocksSection,
  type FolioSection,
  type ManifestSection,
  type MemfdRecord,
  type MemfdSection,
  type RangeSection,
  type ReserveMemSection,
  sectionRecordCount,
  type SubtreeSection,
  type TestKhoSection,
  type UnsupportedObjects,
  type VmallocSection,
} from "./manifest_abi.ts";
import type { KhoVmalloc } from "../kho/abi/kexec_handover.ts";
import { type AbiProfile, hasApi, hasGuestMemory } from "../kho/profiles.ts";
import { splitPages } from "../kho/page_split.ts";
import { preserveVmalloc, restoreVmalloc } from "../kho/vmalloc.ts";
import { PAGE_SIZE } from "../units.ts";

/** Running totals of one scenario run. */
export class Tally {
  /** Preserve calls (one per object: a folio, a range, a file, a buffer, the module). */
  preserveCalls = 0;
  /** Preserve calls that failed. */
  preserveFailures = 0;
  /** Blocks restored in the successor. */
  restoredBlocks = 0;
  /** Restore calls that failed. */
  restoreFailures = 0;
  /** Objects that did not come back intact. */
  lostObjects = 0;
  /** Objects the generation cannot preserve at all (not lost: never handed over). */
  unsupportedObjects = 0;
  /** Workload → its unsupported objects and the reason, in first-seen order. */
  readonly unsupported: Map<string, UnsupportedObjects> = new Map();
  /** `step:ERRNO` → occurrences, in first-seen order. */
  readonly errors: Map<string, number> = new Map();

  /** Records an error of `step` (a KhoError's errno, or the error's name). */
  error(step: string, e: unknown): void {
    const code = e instanceof KhoError
      ? e.code
      : e instanceof Error
      ? `${e.name}(${e.message.slice(0, 80)})`
      : String(e);
    const key = `${step}:${code}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** The errors as `step:ERRNO×n; …`. */
  errorText(): string {
    return [...this.errors].map(([k, n]) => (n > 1 ? `${k}×${n}` : k)).join("; ");
  }

  /** Records `count` objects of workload `step` that this generation cannot preserve. */
  unsupportedBy(step: string, count: number, reason: string): void {
    if (count <= 0) return;
    const had = this.unsupported.get(step);
    if (had !== undefined && had.reason !== reason) {
      throw new RangeError(`${step}: two reasons for unsupported objects`);
    }
    this.unsupported.set(step, { count: (had?.count ?? 0) + count, reason });
    this.unsupportedObjects += count;
  }

  /** The unsupported objects as `step: reason ×n; …`. */
  unsupportedText(): string {
    return [...this.unsupported].map(([k, u]) => `${k}: ${u.reason} ×${u.count}`).join("; ");
  }
}

/** One group of preserved objects of a scenario. */
export interface Workload {
  /** Short name, used as the error step and the manifest section name (`guests`, `iommu`, …). */
  readonly name: string;
  /**
   * Preserves every object in the first kernel and returns the manifest section the
   * successor restores them from (see {@link restoreSection}).
   */
  preserve(kernel: Kernel, tally: Tally): ManifestSection;
}

/** Content hash of a physical range. */
function hashOf(kernel: Kernel, phys: number, bytes: number): bigint {
  return kernel.machine.mem.hash64(phys, bytes);
}

/** Content hashes of ranges `starts[i] × PAGE_SIZE + bytes`, made without BigInts. */
function hashesOf(kernel: Kernel, starts: Float64Array, bytes: number): BigUint64Array {
  const out = new BigUint64Array(starts.length);
  const lanes = new Uint32Array(out.buffer);
  const mem = kernel.machine.mem;
  for (let i = 0; i < starts.length; i++) {
    mem.hash64Lanes(starts[i] * PAGE_SIZE, bytes, lanes, 2 * i);
  }
  return out;
}

const HASH_LANES = new Uint32Array(2);

/** Whether the content hash of a physical range is `hashes[i]` (no BigInt made). */
function hashIs(
  kernel: Kernel,
  phys: number,
  bytes: number,
  hashes: BigUint64Array,
  i: number,
): boolean {
  kernel.machine.mem.hash64Lanes(phys, bytes, HASH_LANES, 0);
  const want = new Uint32Array(hashes.buffer, hashes.byteOffset + 8 * i, 2);
  return HASH_LANES[0] === want[0] && HASH_LANES[1] === want[1];
}

/**
 * The records of the objects whose preserve succeeded: `pfns` and `hashes` themselves when
 * none failed (no copy on the hot path), otherwise copies without the `failed` indices.
 */
function keep(
  pfns: Float64Array,
  hashes: BigUint64Array,
  failed: readonly number[],
): { pfns: Float64Array; hashes: BigUint64Array } {
  if (failed.length === 0) return { pfns, hashes };
  const n = pfns.length - failed.length;
  const out = { pfns: new Float64Array(n), hashes: new BigUint64Array(n) };
  for (let i = 0, j = 0, f = 0; i < pfns.length; i++) {
    if (f < failed.length && failed[f] === i) {
      f++;
      continue;
    }
    out.pfns[j] = pfns[i];
    out.hashes[j++] = hashes[i];
  }
  return out;
}

/** `kho_preserve_folio` of each folio; the section lists those preserved. */
function preserveFolios(
  kernel: Kernel,
  tally: Tally,
  set: { name: string; pfns: Float64Array; order: number; hashes: BigUint64Array },
): FolioSection {
  const kho = kernel.kho;
  const failed: number[] = [];
  for (let i = 0; i < set.pfns.length; i++) {
    tally.preserveCalls++;
    try {
      kho.preserveFolio(set.pfns[i]);
    } catch (e) {
      tally.preserveFailures++;
      tally.error(set.name, e);
      failed.push(i);
    }
  }
  return {
    kind: "folio",
    name: set.name,
    attempted: set.pfns.length,
    order: set.order,
    ...keep(set.pfns, set.hashes, failed),
  };
}

/**
 * Folios of one order preserved with `kho_preserve_folio` and restored with
 * `kho_restore_folio` (guest folios, IOMMU page-table pages).
 */
export class FolioSet implements Workload {
  /** Head pfns, ascending. */
  readonly pfns: Float64Array;
  /** Order of every folio. */
  readonly order: number;
  /** Content hash of each folio when the scenario was built (written into the manifest). */
  readonly hashes: BigUint64Array;

  /** Records the folios and hashes their current content. */
  constructor(readonly name: string, kernel: Kernel, pfns: Float64Array, order: number) {
    this.pfns = pfns;
    this.order = order;
    this.hashes = hashesOf(kernel, pfns, 2 ** order * PAGE_SIZE);
  }

  /** `kho_preserve_folio` of each folio. */
  preserve(kernel: Kernel, tally: Tally): FolioSection {
    return preserveFolios(kernel, tally, this);
  }
}

/**
 * Ranges of `nrPages` pages each, preserved with `kho_preserve_pages` (or
 * `kho_preserve_phys` where that is the API) and restored with `kho_restore_pages` (or, in
 * generations without it, `kho_restore_folio` of each block of the split).
 */
export class RangeSet implements Workload {
  /** First pfn of each range, ascending. */
  readonly starts: Float64Array;
  /** Pages per range. */
  readonly nrPages: number;
  /** Content hash of each range when the scenario was built (written into the manifest). */
  readonly hashes: BigUint64Array;

  /** Records the ranges and hashes their current content. */
  constructor(readonly name: string, kernel: Kernel, starts: Float64Array, nrPages: number) {
    this.starts = starts;
    this.nrPages = nrPages;
    this.hashes = hashesOf(kernel, starts, nrPages * PAGE_SIZE);
  }

  /** `kho_preserve_pages` / `kho_preserve_phys` of each range. */
  preserve(kernel: Kernel, tally: Tally): RangeSection {
    const failed: number[] = [];
    for (let i = 0; i < this.starts.length; i++) {
      tally.preserveCalls++;
      try {
        kernel.kho.preserveRange(this.starts[i], this.nrPages);
      } catch (e) {
        tally.preserveFailures++;
        tally.error(this.name, e);
        failed.push(i);
      }
    }
    return {
      kind: "range",
      name: this.name,
      attempted: this.starts.length,
      nrPages: this.nrPages,
      ...keep(this.starts, this.hashes, failed),
    };
  }
}

/**
 * Why `profile` cannot preserve `file` at all, or null when it has a path for it (the
 * profile's `guestMemory` capability): a hugetlbfs file needs `hugetlb` (the HugeTLB live
 * update RFC), a shmem file `memfd-shmem` (LUO's memfd handler, 6.19 on).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile } from "../kho/profiles.ts";
 * import { guestFileUnsupported } from "./workloads.ts";
 * const huge = { hugetlb: true, folioOrder: 18 };
 * assert.match(guestFileUnsupported(getProfile("kho-v1-6.16"), huge)!, /no hugetlb preservation/);
 * assert.equal(guestFileUnsupported(getProfile("rfc-2025-12-hugetlb"), huge), null);
 * ```
 */
export function guestFileUnsupported(
  profile: AbiProfile,
  file: { readonly hugetlb: boolean; readonly folioOrder: number },
): string | null {
  const who = `${profile.name} (${profile.kernel})`;
  if (file.hugetlb) {
    if (hasGuestMemory(profile, "hugetlb")) return null;
    const size = file.folioOrder === 18 ? "1 GiB" : "2 MiB";
    return `${who}: no hugetlb preservation — ${size} hugetlbfs pages need the HugeTLB live ` +
      `update RFC (2025-12-07); ` +
      (profile.luo === null
        ? "this generation has no Live Update Orchestrator either (6.19 on)"
        : "LUO's memfd handler takes shmem files only, whose folios are at most 2 MiB");
  }
  if (hasGuestMemory(profile, "memfd-shmem")) return null;
  return `${who} has no Live Update Orchestrator (6.19 on): no memfd preservation`;
}

/**
 * Guest memory files preserved through LUO the way a VMM does it: one session per file (named
 * after the file), the file under token 1 (`/dev/liveupdate` → `CREATE_SESSION` →
 * `PRESERVE_FD`). The session fds stay open until the kexec (closing one would unpreserve its
 * file); the device fd is closed again. The profile's capability chooses the path
 * ({@link guestFileUnsupported}): shmem memfds through LUO's memfd handler, hugetlbfs memfds
 * through the HugeTLB RFC's `huge-memfd-v1` handler; a file the generation has no path for is
 * *unsupported* with the reason, never tried and never lost. The record's hash is taken once
 * the file is preserved (pinning may migrate folios out of scratch).
 */
export class MemfdSet implements Workload {
  /** Step name of errors. */
  readonly name: string;
  /** The files. */
  readonly files: readonly MemfdFile[];

  /** Records the files. */
  constructor(name: string, files: readonly MemfdFile[]) {
    this.name = name;
    this.files = files;
  }

  /** `LIVEUPDATE_SESSION_PRESERVE_FD` of each file, in a session of its own. */
  preserve(kernel: Kernel, tally: Tally): MemfdSection {
    const files: MemfdRecord[] = [];
    const base = { kind: "memfd" as const, name: this.name, attempted: this.files.length };
    if (this.files.length === 0) return { ...base, files };
    const reasons = this.files.map((f) => guestFileUnsupported(kernel.profile, f));
    const reason = reasons.find((r) => r !== null) ?? null;
    if (reasons.some((r) => r !== null && r !== reason)) {
      throw new RangeError(`${this.name}: files of two kinds the profile cannot preserve`);
    }
    const unsupported = reasons.filter((r) => r !== null).length;
    const section = (): MemfdSection => {
      if (reason === null) return { ...base, files };
      tally.unsupportedBy(this.name, unsupported, reason);
      return { ...base, files, unsupported: { count: unsupported, reason } };
    };
    const todo = this.files.filter((_, i) => reasons[i] === null);
    if (todo.length === 0) return section();
    let dev;
    try {
      dev = kernel.liveupdate.open();
    } catch (e) {
      for (const _ of todo) {
        tally.preserveCalls++;
        tally.preserveFailures++;
        tally.error(`${this.name}-luo`, e);
      }
      return section();
    }
    for (const f of todo) {
      tally.preserveCalls++;
      try {
        const s = dev.createSession(f.name);
        try {
          s.preserveFd(f, MEMFD_TOKEN);
        } catch (e) {
          s.close();
          throw e;
        }
        files.push({
          session: f.name,
          token: MEMFD_TOKEN,
          nrFolios: f.folios().length,
          hash: f.hash64(),
        });
      } catch (e) {
        tally.preserveFailures++;
        tally.error(this.name, e);
      }
    }
    dev.close();
    return section();
  }
}

/** The token of a guest memory file in its session. */
export const MEMFD_TOKEN = 1n;

/** vmalloc buffers preserved with `kho_preserve_vmalloc`. */
export class VmallocSet implements Workload {
  /** vmalloc addresses. */
  readonly addrs: readonly number[];
  /** Bytes per buffer. */
  readonly bytes: number;
  /** Content hash of each buffer when the scenario was built (written into the manifest). */
  readonly hashes: readonly bigint[];

  /** Records the buffers and hashes their content. */
  constructor(readonly name: string, kernel: Kernel, addrs: readonly number[], bytes: number) {
    this.addrs = addrs;
    this.bytes = bytes;
    this.hashes = addrs.map((a) => kernel.vmalloc.hash64(a, bytes));
  }

  /**
   * `kho_preserve_vmalloc` of each buffer; the section carries the descriptors. A generation
   * without it (6.16, RFC v1) makes every buffer unsupported.
   */
  preserve(kernel: Kernel, tally: Tally): VmallocSection {
    const descs: KhoVmalloc[] = [];
    const hashes: bigint[] = [];
    const base = {
      kind: "vmalloc" as const,
      name: this.name,
      attempted: this.addrs.length,
      bytes: this.bytes,
    };
    if (!hasApi(kernel.profile, "preserveVmalloc") && this.addrs.length > 0) {
      const reason = `${kernel.profile.name} (${kernel.profile.kernel}) has no ` +
        `kho_preserve_vmalloc (6.18 on)`;
      tally.unsupportedBy(this.name, this.addrs.length, reason);
      return {
        ...base,
        descs,
        hashes: new BigUint64Array(0),
        unsupported: { count: this.addrs.length, reason },
      };
    }
    this.addrs.forEach((a, i) => {
      tally.preserveCalls++;
      try {
        descs.push(preserveVmalloc(kernel, a));
        hashes.push(this.hashes[i]);
      } catch (e) {
        tally.preserveFailures++;
        tally.error(this.name, e);
      }
    });
    return { ...base, descs, hashes: BigUint64Array.from(hashes) };
  }
}

/**
 * lib/test_kho.c: generate and preserve in the first kernel, verify in the successor (the
 * module finds its data through its own `kho_test` sub-FDT; the manifest only records
 * whether it saved).
 */
export class TestKhoWorkload implements Workload {
  /** Step name of errors. */
  readonly name = "test_kho";

  /** A module run with `max_mem` bytes and content from `seed`. */
  constructor(readonly maxMemBytes: number, readonly seed: number) {}

  /** `kho_test_init` in the first kernel (save path). */
  preserve(kernel: Kernel, tally: Tally): TestKhoSection {
    tally.preserveCalls++;
    let saved = false;
    try {
      testKhoSave(kernel, { maxMemBytes: this.maxMemBytes, seed: this.seed });
      saved = true;
    } catch (e) {
      tally.preserveFailures++;
      tally.error(this.name, e);
    }
    return { kind: "test_kho", name: this.name, attempted: 1, saved };
  }
}

// ------------------------------------------------------------------ the successor

function restoreFolios(kernel: Kernel, s: FolioSection, tally: Tally): void {
  const bytes = 2 ** s.order * PAGE_SIZE;
  for (let i = 0; i < s.pfns.length; i++) {
    const phys = s.pfns[i] * PAGE_SIZE;
    let pfn: number | null = null;
    try {
      pfn = kernel.kho.restoreFolio(phys);
    } catch (e) {
      tally.error(`${s.name}-restore`, asKernelVerdict(e));
    }
    if (pfn === null) {
      tally.restoreFailures++;
      tally.lostObjects++;
      continue;
    }
    tally.restoredBlocks++;
    if (!hashIs(kernel, phys, bytes, s.hashes, i)) tally.lostObjects++;
  }
}

/**
 * Restores the range `[pfn, pfn + nrPages)` with this generation's API: `kho_restore_pages`
 * (6.18 on), or (6.16, RFC v1) `kho_restore_folio` of each block of the split, every block
 * tried. `ok` is false when a block did not restore (blocks restored stay restored, as in the
 * kernel); `blocks` counts the blocks of the call (1 for `kho_restore_pages`).
 */
export function restoreRange(
  kernel: Kernel,
  pfn: number,
  nrPages: number,
): { ok: boolean; blocks: number } {
  if (hasApi(kernel.profile, "restorePages")) {
    return { ok: kernel.kho.restorePages(pfn * PAGE_SIZE, nrPages) !== null, blocks: 1 };
  }
  const split = splitPages(pfn, nrPages);
  let ok = true;
  for (const b of split) ok = kernel.kho.restoreFolio(b.pfn * PAGE_SIZE) !== null && ok;
  return { ok, blocks: split.length };
}

/** Ranges of a range section (`nrPages` each) or a blocks section (`2^order` each). */
function restoreRanges(kernel: Kernel, s: RangeSection | BlocksSection, tally: Tally): void {
  for (let i = 0; i < s.pfns.length; i++) {
    const pfn = s.pfns[i];
    const nrPages = s.kind === "range" ? s.nrPages : 2 ** s.orders[i];
    let ok = true;
    let blocks = 1;
    try {
      ({ ok, blocks } = restoreRange(kernel, pfn, nrPages));
    } catch (e) {
      tally.error(`${s.name}-restore`, asKernelVerdict(e));
      ok = false;
    }
    if (!ok) {
      tally.restoreFailures++;
      tally.lostObjects++;
      continue;
    }
    tally.restoredBlocks += blocks;
    if (!hashIs(kernel, pfn * PAGE_SIZE, nrPages * PAGE_SIZE, s.hashes, i)) {
      tally.lostObjects++;
    }
  }
}

/**
 * The successor's side of a VMM: opens `/dev/liveupdate` (its first open deserializes the
 * incoming sessions; EIO loses them all), retrieves each file by session name and token,
 * compares folios and content, and finishes the session.
 */
function restoreMemfds(kernel: Kernel, s: MemfdSection, tally: Tally): void {
  if (s.files.length === 0) return;
  const lose = (e: unknown, n = 1) => {
    tally.restoreFailures += n;
    tally.lostObjects += n;
    tally.error(`${s.name}-restore`, asKernelVerdict(e));
  };
  let dev;
  try {
    dev = kernel.liveupdate.open();
  } catch (e) {
    return lose(e, s.files.length);
  }
  for (const rec of s.files) {
    try {
      const session = dev.retrieveSession(rec.session);
      const back = session.retrieveFd(rec.token) as MemfdFile;
      const folios = back.folios();
      tally.restoredBlocks += folios.length;
      if (folios.length !== rec.nrFolios || back.hash64() !== rec.hash) tally.lostObjects++;
      session.finish();
    } catch (e) {
      lose(e);
    }
  }
  dev.close();
}

function restoreVmallocs(kernel: Kernel, s: VmallocSection, tally: Tally): void {
  s.descs.forEach((d, i) => {
    let addr: number | null = null;
    try {
      addr = restoreVmalloc(kernel, d);
    } catch (e) {
      tally.error(`${s.name}-restore`, asKernelVerdict(e));
    }
    if (addr === null) {
      tally.restoreFailures++;
      tally.lostObjects++;
      return;
    }
    tally.restoredBlocks += Math.ceil(d.totalPages / 2 ** d.order);
    // A descriptor whose total_pages was changed restores a smaller area: content lost.
    const area = kernel.vmalloc.findVmArea(addr)!;
    const same = area.nrPages * PAGE_SIZE >= s.bytes &&
      kernel.vmalloc.hash64(addr, s.bytes) === s.hashes[i];
    if (!same) tally.lostObjects++;
  });
}

function restoreTestKho(kernel: Kernel, s: TestKhoSection, tally: Tally): void {
  if (!s.saved) return;
  try {
    const r = testKhoVerify(kernel);
    tally.restoredBlocks += r.restoredFolios;
    if (!r.ok) {
      tally.restoreFailures++;
      tally.lostObjects++;
      tally.error(`${s.name}-verify`, new KhoError(r.errno ?? "EINVAL", r.reason ?? ""));
    }
  } catch (e) {
    tally.restoreFailures++;
    tally.lostObjects++;
    tally.error(`${s.name}-verify`, asKernelVerdict(e));
  }
}

/**
 * A sub-tree blob: `kho_retrieve_subtree` by the section's name must give the recorded
 * address, then `kho_restore_folio` of the blob and its hash.
 */
function restoreSubtree(kernel: Kernel, s: SubtreeSection, tally: Tally): void {
  if (s.blob === null) return;
  let pfn: number | null = null;
  try {
    const found = kernel.kho.retrieveSubtree(s.name).phys;
    if (found !== s.blob.phys) {
      throw new KhoError("EINVAL", `sub-tree ${s.name} at 0x${found.toString(16)}, not the blob`);
    }
    pfn = kernel.kho.restoreFolio(s.blob.phys);
  } catch (e) {
    tally.error(`${s.name}-restore`, asKernelVerdict(e));
  }
  if (pfn === null) {
    tally.restoreFailures++;
    tally.lostObjects++;
    return;
  }
  tally.restoredBlocks++;
  if (hashOf(kernel, s.blob.phys, s.blob.size) !== s.blob.hash) tally.lostObjects++;
}

/**
 * A `reserve_mem=` region: the successor's kernel revived it by name at boot (no restore);
 * it must sit where it was and hold the recorded bytes.
 */
function restoreRegion(kernel: Kernel, s: ReserveMemSection, tally: Tally): void {
  if (s.blob === null) return;
  const r = kernel.reserveMem.regions.find((x) => x.name === s.name);
  if (r === undefined || !r.revived || r.start !== s.blob.phys) {
    tally.restoreFailures++;
    tally.lostObjects++;
    tally.error(`${s.name}-revive`, new KhoError("ENOENT", `reserve_mem ${s.name} not revived`));
    return;
  }
  tally.restoredBlocks++;
  if (hashOf(kernel, r.start, s.blob.size) !== s.blob.hash) tally.lostObjects++;
}

/**
 * Restores and verifies, in the successor, the objects of one section decoded from the
 * manifest: objects the first kernel failed to preserve count as lost (the unsupported ones
 * do not: the generation never could preserve them); each preserved one
 * is restored with its generation's API and its content compared with the hash in the
 * section. Uses only `kernel` and `section`.
 */
export function restoreSection(kernel: Kernel, section: ManifestSection, tally: Tally): void {
  tally.lostObjects += section.attempted - sectionRecordCount(section) -
    (section.unsupported?.count ?? 0);
  switch (section.kind) {
    case "folio":
      return restoreFolios(kernel, section, tally);
    case "range":
    case "blocks":
      return restoreRanges(kernel, section, tally);
    case "memfd":
      return restoreMemfds(kernel, section, tally);
    case "vmalloc":
      return restoreVmallocs(kernel, section, tally);
    case "test_kho":
      return restoreTestKho(kernel, section, tally);
    case "subtree":
      return restoreSubtree(kernel, section, tally);
    case "reserve_mem":
      return restoreRegion(kernel, section, tally);
  }
}
