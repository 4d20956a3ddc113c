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
import type { Kernel } from "../boot/kernel.ts";
import { OutcomeTally } from "../metrics/outcomes.ts";
import type { MemfdFile } from "../clients/memfd.ts";
import { testKhoSave, testKhoVerify } from "../clients/test_kho.ts";
import {
  type BlocksSection,
  clipReason,
  type FolioSection,
  type ManifestSection,
  type MemfdRecord,
  type MemfdSection,
  type RangeSection,
  type ReserveMemSection,
  type SubtreeSection,
  type TestKhoSection,
  type UnsupportedObjects,
  type VmallocSection,
} from "./manifest_abi.ts";
import type { KhoVmalloc } from "../kho/abi/kexec_handover.ts";
import { type AbiProfile, hasApi, hasGuestMemory } from "../kho/profiles.ts";
import { splitPages } from "../kho/page_split.ts";
import { preserveVmalloc, restoreVmalloc } from "../kho/vmalloc.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import {
  attemptedSections,
  failureText,
  logSince,
  RestoreJudge,
  settleUnrecorded,
} from "./restore_outcome.ts";

/**
 * Running totals of one scenario run. What became of each object is in {@link outcomes} (by
 * kind, with reasons: `lib/metrics/outcomes.ts`), tallied in the successor from what it finds;
 * `lostObjects`, `restoreFailures` and `unsupportedObjects` are its sums.
 */
export class Tally {
  /** Preserve calls (one per object: a folio, a range, a file, a buffer, the module). */
  preserveCalls = 0;
  /** Preserve calls that failed. */
  preserveFailures = 0;
  /** Blocks restored in the successor. */
  restoredBlocks = 0;
  /** Every attempted object's outcome, by kind, with reasons. */
  readonly outcomes: OutcomeTally = new OutcomeTally();
  /**
   * Workload → its unsupported objects and the reason, in first-seen order, as the first kernel
   * found them (the row's `unsupported` text).
   */
  readonly unsupported: Map<string, UnsupportedObjects> = new Map();
  /** `step:ERRNO` → occurrences, in first-seen order. */
  readonly errors: Map<string, number> = new Map();

  /** Objects lost (the sum of the `lost` outcomes). */
  get lostObjects(): number {
    return this.outcomes.total("lost");
  }

  /** Objects whose restore failed (the sum of the `failedRestore` outcomes). */
  get restoreFailures(): number {
    return this.outcomes.total("failedRestore");
  }

  /** Objects the generation cannot preserve (the sum of the `unsupported` outcomes). */
  get unsupportedObjects(): number {
    return this.outcomes.total("unsupported");
  }

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
  }

  /** The unsupported objects as `step: reason ×n; …`. */
  unsupportedText(): string {
    return [...this.unsupported].map(([k, u]) => `${k}: ${u.reason} ×${u.count}`).join("; ");
  }
}

/**
 * The preserve calls of workload `step`, tallied; the first failure is its section's
 * `failedReason`: `API: ERRNO: message`, cut to the manifest's limit.
 */
class FirstFailure {
  text: string | undefined;
  constructor(readonly tally: Tally, readonly step: string) {}
  /** Keeps the first failure's text. */
  note(api: string, e: unknown): void {
    this.text ??= clipReason(`${api}: ${failureText(e)}`);
  }
  /** A failed preserve call through `api`: tallied with its errno, noted. */
  #fail(api: string, e: unknown): void {
    this.tally.preserveFailures++;
    this.tally.error(this.step, e);
    this.note(api, e);
  }
  /** `preserve(i)` of each of `n` objects, a preserve call each; the indices that failed. */
  each(api: string, n: number, preserve: (i: number) => void): number[] {
    const failed: number[] = [];
    for (let i = 0; i < n; i++) {
      this.tally.preserveCalls++;
      try {
        preserve(i);
      } catch (e) {
        this.#fail(api, e);
        failed.push(i);
      }
    }
    return failed;
  }
  /** `{ failedReason }` when a preserve failed, else nothing. */
  field(): { failedReason?: string } {
    return this.text === undefined ? {} : { failedReason: this.text };
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
  const first = new FirstFailure(tally, set.name);
  const failed = first.each("kho_preserve_folio", set.pfns.length, (i) => {
    kho.preserveFolio(set.pfns[i]);
  });
  return {
    kind: "folio",
    name: set.name,
    attempted: set.pfns.length,
    order: set.order,
    ...keep(set.pfns, set.hashes, failed),
    ...first.field(),
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
    const first = new FirstFailure(tally, this.name);
    const api = hasApi(kernel.profile, "preservePages")
      ? "kho_preserve_pages"
      : "kho_preserve_phys";
    const failed = first.each(api, this.starts.length, (i) => {
      kernel.kho.preserveRange(this.starts[i], this.nrPages);
    });
    return {
      kind: "range",
      name: this.name,
      attempted: this.starts.length,
      nrPages: this.nrPages,
      ...keep(this.starts, this.hashes, failed),
      ...first.field(),
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
    const first = new FirstFailure(tally, this.name);
    const section = (): MemfdSection => {
      if (reason === null) return { ...base, files, ...first.field() };
      tally.unsupportedBy(this.name, unsupported, reason);
      return { ...base, files, unsupported: { count: unsupported, reason }, ...first.field() };
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
      first.note("open(/dev/liveupdate)", e);
      return section();
    }
    first.each("LIVEUPDATE_SESSION_PRESERVE_FD", todo.length, (i) => {
      const f = todo[i];
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
    });
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
    const first = new FirstFailure(tally, this.name);
    first.each("kho_preserve_vmalloc", this.addrs.length, (i) => {
      descs.push(preserveVmalloc(kernel, this.addrs[i]));
      hashes.push(this.hashes[i]);
    });
    return { ...base, descs, hashes: BigUint64Array.from(hashes), ...first.field() };
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
    let saved = false;
    const first = new FirstFailure(tally, this.name);
    first.each("kho_test_init", 1, () => {
      testKhoSave(kernel, { maxMemBytes: this.maxMemBytes, seed: this.seed });
      saved = true;
    });
    return { kind: "test_kho", name: this.name, attempted: 1, saved, ...first.field() };
  }
}

// ------------------------------------------------------------------ the successor

/** A judge of `s`'s objects whose kernel verdicts go to the tally's errors as `NAME-restore`. */
function judgeOf(kernel: Kernel, s: ManifestSection, tally: Tally, step = "restore"): RestoreJudge {
  return new RestoreJudge(kernel, tally.outcomes, s, (e) => tally.error(`${s.name}-${step}`, e));
}

function restoreFolios(kernel: Kernel, s: FolioSection, tally: Tally): void {
  const pages = 2 ** s.order;
  const bytes = pages * PAGE_SIZE;
  const judge = judgeOf(kernel, s, tally);
  for (let i = 0; i < s.pfns.length; i++) {
    const phys = s.pfns[i] * PAGE_SIZE;
    const answer = judge.call(
      "kho_restore_folio",
      () => kernel.kho.restoreFolio(phys) !== null,
      { pfn: s.pfns[i], arg: () => hex(phys) },
    );
    if (answer.ok) tally.restoredBlocks++;
    judge.judgeMemory({
      pfn: s.pfns[i],
      pages,
      answer,
      api: "kho_restore_folio",
      same: () => sameHashAt(kernel, phys, bytes, s.hashes, i),
    });
  }
}

/** Whether `bytes` at `phys` (all RAM) hash to `hash`; null when they are not all RAM. */
/** {@link sameHash} against `hashes[i]` without a BigInt ({@link hashIs}). */
function sameHashAt(
  kernel: Kernel,
  phys: number,
  bytes: number,
  hashes: BigUint64Array,
  i: number,
): boolean | null {
  if (!kernel.machine.topology.isRam(phys, bytes)) return null;
  return hashIs(kernel, phys, bytes, hashes, i);
}

function sameHash(kernel: Kernel, phys: number, bytes: number, hash: bigint): boolean | null {
  if (!kernel.machine.topology.isRam(phys, bytes)) return null;
  return hashOf(kernel, phys, bytes) === hash;
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

/** The API {@link restoreRange} calls in this generation. */
export function restoreRangeApi(kernel: Kernel): string {
  return hasApi(kernel.profile, "restorePages")
    ? "kho_restore_pages"
    : "kho_restore_folio (each block of the split)";
}

/** Ranges of a range section (`nrPages` each) or a blocks section (`2^order` each). */
function restoreRanges(kernel: Kernel, s: RangeSection | BlocksSection, tally: Tally): void {
  const judge = judgeOf(kernel, s, tally);
  const api = restoreRangeApi(kernel);
  for (let i = 0; i < s.pfns.length; i++) {
    const pfn = s.pfns[i];
    const nrPages = s.kind === "range" ? s.nrPages : 2 ** s.orders[i];
    let blocks = 0;
    const answer = judge.call(api, () => {
      const r = restoreRange(kernel, pfn, nrPages);
      blocks = r.blocks;
      return r.ok;
    }, { arg: () => `${hex(pfn * PAGE_SIZE)}, ${nrPages}` });
    if (answer.ok) tally.restoredBlocks += blocks;
    judge.judgeMemory({
      pfn,
      pages: nrPages,
      answer,
      api,
      same: () => sameHashAt(kernel, pfn * PAGE_SIZE, nrPages * PAGE_SIZE, s.hashes, i),
    });
  }
}

/**
 * The successor's side of a VMM: opens `/dev/liveupdate` (its first open deserializes the
 * incoming sessions; EIO fails them all), retrieves each file by session name and token,
 * compares folios and content, and finishes the session.
 */
function restoreMemfds(kernel: Kernel, s: MemfdSection, tally: Tally): void {
  if (s.files.length === 0) return;
  const judge = judgeOf(kernel, s, tally);
  let dev: ReturnType<Kernel["liveupdate"]["open"]> | undefined;
  const opened = judge.call("open(/dev/liveupdate)", () => {
    dev = kernel.liveupdate.open();
    return true;
  });
  if (!opened.ok || dev === undefined) {
    judge.record("failedRestore", opened.failure!, s.files.length);
    return;
  }
  for (const rec of s.files) {
    let back: MemfdFile | null = null;
    const answer = judge.call("LIVEUPDATE_SESSION_RETRIEVE_FD", () => {
      const session = dev!.retrieveSession(rec.session);
      back = session.retrieveFd(rec.token) as MemfdFile;
      session.finish();
      return true;
    });
    const file = back as MemfdFile | null;
    const folios = file?.folios().length ?? 0;
    if (file !== null) tally.restoredBlocks += folios;
    const sameFolios = folios === rec.nrFolios;
    judge.judge({
      freedPfn: null,
      answer,
      api: "LIVEUPDATE_SESSION_RETRIEVE_FD",
      sameContent: file === null ? null : sameFolios && file.hash64() === rec.hash,
      detail: sameFolios ? undefined : `${folios} folios back, ${rec.nrFolios} preserved`,
    });
  }
  dev.close();
}

function restoreVmallocs(kernel: Kernel, s: VmallocSection, tally: Tally): void {
  const judge = judgeOf(kernel, s, tally);
  s.descs.forEach((d, i) => {
    const freedPfn = judge.vmallocFreedPfn(d);
    let addr: number | null = null;
    const answer = judge.call("kho_restore_vmalloc", () => {
      addr = restoreVmalloc(kernel, d);
      return addr !== null;
    });
    let same: boolean | null = null;
    let detail: string | undefined;
    if (addr !== null) {
      tally.restoredBlocks += Math.ceil(d.totalPages / 2 ** d.order);
      // A descriptor whose total_pages was changed restores a smaller area: content lost.
      const area = kernel.vmalloc.findVmArea(addr)!;
      const whole = area.nrPages * PAGE_SIZE >= s.bytes;
      same = whole && kernel.vmalloc.hash64(addr, s.bytes) === s.hashes[i];
      if (!whole) detail = `an area of ${area.nrPages} pages for ${s.bytes} bytes`;
    }
    judge.judge({ freedPfn, answer, api: "kho_restore_vmalloc", sameContent: same, detail });
  });
}

function restoreTestKho(kernel: Kernel, s: TestKhoSection, tally: Tally): void {
  if (!s.saved) return;
  const judge = judgeOf(kernel, s, tally, "verify");
  let r: ReturnType<typeof testKhoVerify> | null = null;
  const seq = kernel.log.printed;
  const answer = judge.call("kho_test_restore", () => {
    r = testKhoVerify(kernel);
    return true;
  });
  const v = r as ReturnType<typeof testKhoVerify> | null;
  if (v === null) {
    judge.record("failedRestore", answer.failure!);
    return;
  }
  tally.restoredBlocks += v.restoredFolios;
  if (v.ok) {
    judge.record("restored");
    return;
  }
  tally.error(`${s.name}-verify`, new KhoError(v.errno ?? "EINVAL", v.reason ?? ""));
  // Every folio came back and only the checksum differs: the content changed.
  if (v.restoredFolios === v.nrFolios && v.nrFolios > 0 && /^csum /.test(v.reason ?? "")) {
    judge.record("corrupted", `kho_test_restore: ${v.reason}`);
    return;
  }
  const lines = logSince(kernel, seq).slice(0, 3);
  judge.record(
    "failedRestore",
    `kho_test_restore: ${v.errno ?? "EINVAL"}: ${v.reason ?? "failed"}` +
      (lines.length > 0 ? `; successor's log: ${lines.join(" | ")}` : ""),
  );
}

/**
 * A sub-tree blob: `kho_retrieve_subtree` by the section's name must give the recorded
 * address, then `kho_restore_folio` of the blob and its hash.
 */
function restoreSubtree(kernel: Kernel, s: SubtreeSection, tally: Tally): void {
  if (s.blob === null) return;
  const blob = s.blob;
  const judge = judgeOf(kernel, s, tally);
  const answer = judge.call("kho_retrieve_subtree + kho_restore_folio", () => {
    const found = kernel.kho.retrieveSubtree(s.name).phys;
    if (found !== blob.phys) {
      throw new KhoError("EINVAL", `sub-tree ${s.name} at 0x${found.toString(16)}, not the blob`);
    }
    return kernel.kho.restoreFolio(blob.phys) !== null;
  });
  if (answer.ok) tally.restoredBlocks++;
  judge.judgeMemory({
    pfn: blob.phys / PAGE_SIZE,
    pages: Math.ceil(blob.size / PAGE_SIZE),
    answer,
    api: "kho_restore_folio",
    same: () => sameHash(kernel, blob.phys, blob.size, blob.hash),
  });
}

/**
 * A `reserve_mem=` region: the successor's kernel revived it by name at boot (no restore);
 * it must sit where it was and hold the recorded bytes.
 */
function restoreRegion(kernel: Kernel, s: ReserveMemSection, tally: Tally): void {
  if (s.blob === null) return;
  const judge = judgeOf(kernel, s, tally, "revive");
  const r = kernel.reserveMem.regions.find((x) => x.name === s.name);
  if (r === undefined || !r.revived || r.start !== s.blob.phys) {
    tally.error(`${s.name}-revive`, new KhoError("ENOENT", `reserve_mem ${s.name} not revived`));
    const where = r === undefined
      ? "the successor has no reserve_mem region of that name"
      : !r.revived
      ? "the successor reserved it anew instead of reviving it"
      : `the successor revived it at ${hex(r.start)}, not ${hex(s.blob.phys)}`;
    judge.record("lost", `reserve_mem ${s.name} not revived where it was: ${where}`);
    return;
  }
  tally.restoredBlocks++;
  judge.judge({
    freedPfn: null,
    answer: { ok: true, failure: null },
    api: "reserve_mem",
    sameContent: sameHash(kernel, r.start, s.blob.size, s.blob.hash),
  });
}

/**
 * Restores and verifies, in the successor, the objects of one section decoded from the
 * manifest, and records each object's outcome in `tally.outcomes`: the unsupported ones with
 * the section's reason, those whose preserve failed in the first kernel as lost with the
 * recorded errno; each preserved one is restored with its generation's API and judged
 * ({@link RestoreJudge}: lost when the walk did not keep its memory, failedRestore, corrupted
 * or restored). Uses only `kernel` and `section`.
 */
export function restoreSection(kernel: Kernel, section: ManifestSection, tally: Tally): void {
  settleUnrecorded(tally.outcomes, attemptedSections([section])[0]);
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
