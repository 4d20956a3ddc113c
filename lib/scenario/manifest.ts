/**
 * The manifest on a kernel: {@link writeScenarioManifest} puts the sections (a scenario's
 * workloads, a script's named objects) into preserved memory in the first kernel and
 * publishes them as the KHO sub-tree `"kholab-scenario"`; {@link readScenarioManifest} finds
 * them in the successor from bytes alone, restores the chunk folios, reads them and frees
 * them; {@link discardScenarioManifest} takes a written manifest back (a kexec that failed).
 * The layouts are in `./manifest_abi.ts`.
 *
 * Works in every profile: only `kho_preserve_folio` and `kho_restore_folio` are used, chunks
 * are buddy folios of order ≤ 9, the root blob is a small FDT published with
 * `kho_add_subtree` (directly, or from a FINALIZE notifier in the 6.16/6.18 era). The
 * manifest's own blocks are preserved memory like any other: rows report them as
 * `manifestBlocks` and `manifestBytes` so readers can subtract them.
 *
 * @module
 */

import { type ErrnoName, KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import { hasApi } from "../kho/profiles.ts";
import type { KhoNotifier } from "../kho/preserve.ts";
import {
  chunkCapacity,
  chunkOrderFor,
  decodeManifest,
  decodeManifestRoot,
  encodeChunkHeader,
  encodeManifest,
  encodeManifestRoot,
  type ManifestSection,
  readChunkChain,
  SCENARIO_CHUNK_HEADER_SIZE,
  SCENARIO_MANIFEST_NAME,
  SCENARIO_MAX_CHUNKS,
  SCENARIO_ROOT_FDT_BYTES,
} from "./manifest_abi.ts";
import { hex, PAGE_SIZE } from "../units.ts";

/** Fault-injection site of the manifest's folios. */
export const SCENARIO_MANIFEST_SITE = "kholab_scenario_manifest";

/** What {@link writeScenarioManifest} preserved. */
export interface ManifestWriteResult {
  /** Physical address of the root FDT (the sub-tree blob). */
  rootPhys: number;
  /** Physical address of chunk 0. */
  firstChunkPhys: number;
  /** Chunks in the chain. */
  chunks: number;
  /** Bytes of the stream. */
  payloadBytes: number;
  /** Blocks the manifest preserved (the chunks and the root FDT page). */
  blocks: number;
  /** Bytes of those blocks. */
  bytes: number;
  /** Head pfns of those blocks (the chunks, then the root page). */
  pfns: readonly number[];
  /** Takes the sub-tree back, where the generation can (see {@link discardScenarioManifest}). */
  unpublish: (() => void) | null;
}

/** What {@link readScenarioManifest} found: the sections, or an errno and a reason. */
export type ManifestReadResult =
  | { ok: true; sections: ManifestSection[]; chunks: number; payloadBytes: number }
  | { ok: false; errno: ErrnoName; reason: string };

/**
 * Publishes the root FDT the way this generation's clients do: `kho_add_subtree` (6.19 on, RFC
 * v1), or from a FINALIZE notifier registered now (6.16, 6.18). Returns what takes it back:
 * `unregister_kho_notifier`, `kho_remove_subtree`, or null where the generation has neither
 * (RFC v1).
 */
function publish(kernel: Kernel, rootPhys: number, size: number): (() => void) | null {
  const kho = kernel.kho;
  const out = kho.out;
  if (out === null) throw new KhoError("EOPNOTSUPP", "kho_add_subtree: KHO is not enabled");
  if (kernel.profile.finalize === "notifier") {
    const fn: KhoNotifier = (event, ser) => {
      if (event === "finalize") ser!.addSubtree(SCENARIO_MANIFEST_NAME, rootPhys);
      return 0;
    };
    kho.registerNotifier(fn);
    return () => out.unregisterNotifier(fn);
  }
  kho.addSubtree(SCENARIO_MANIFEST_NAME, rootPhys, size);
  return hasApi(kernel.profile, "removeSubtree") ? () => kho.removeSubtree(rootPhys) : null;
}

/** Preserves a folio just allocated (freed again if that fails); queues its undo. */
function preserveNew(kernel: Kernel, pfn: number, undo: (() => void)[]): number {
  try {
    kernel.kho.preserveFolio(pfn);
  } catch (e) {
    kernel.buddy.folioPut(pfn);
    throw e;
  }
  undo.push(() => {
    // Generations without kho_unpreserve_folio (6.16, 6.18, RFC v1) cannot take it back.
    if (hasApi(kernel.profile, "unpreserveFolio")) {
      kernel.kho.unpreserveFolio(pfn);
      kernel.buddy.folioPut(pfn);
    }
  });
  return pfn;
}

/**
 * A preserved chunk folio of `order`, or of the largest smaller order the allocator can give
 * (high orders are tried with `__GFP_NOWARN`, as kvmalloc does). Throws ENOMEM.
 */
function allocChunk(
  kernel: Kernel,
  order: number,
  undo: (() => void)[],
): { pfn: number; order: number } {
  for (let o = order; o >= 0; o--) {
    const pfn = kernel.buddy.folioAlloc(o, {
      gfp: o > 0 ? { noWarn: true } : undefined,
      site: SCENARIO_MANIFEST_SITE,
    });
    if (pfn !== null) return { pfn: preserveNew(kernel, pfn, undo), order: o };
  }
  throw new KhoError("ENOMEM", "scenario manifest: no free page");
}

/**
 * Writes the manifest of `sections` into preserved folios of `kernel` (one bulk write per
 * chunk) and publishes its root FDT as the sub-tree `"kholab-scenario"`. Call after the
 * workloads preserved their objects and before finalize. Throws the kernel's errno
 * (ENOMEM, a preserve error, a sub-tree error); whatever can be undone in the generation is.
 */
export function writeScenarioManifest(
  kernel: Kernel,
  sections: readonly ManifestSection[],
): ManifestWriteResult {
  const stream = encodeManifest(sections);
  const mem = kernel.machine.mem;
  const undo: (() => void)[] = [];
  try {
    const chunks: { pfn: number; order: number; used: number }[] = [];
    for (let off = 0; off < stream.length;) {
      if (chunks.length >= SCENARIO_MAX_CHUNKS) {
        throw new KhoError("E2BIG", `scenario manifest: more than ${SCENARIO_MAX_CHUNKS} chunks`);
      }
      const c = allocChunk(kernel, chunkOrderFor(stream.length - off), undo);
      const used = Math.min(stream.length - off, chunkCapacity(c.order));
      chunks.push({ ...c, used });
      off += used;
    }
    let off = 0;
    chunks.forEach((c, seq) => {
      const phys = c.pfn * PAGE_SIZE;
      const next = seq + 1 < chunks.length ? chunks[seq + 1].pfn * PAGE_SIZE : 0;
      mem.writeBytes(phys, encodeChunkHeader({ next, seq, order: c.order, used: c.used }));
      mem.writeBytes(phys + SCENARIO_CHUNK_HEADER_SIZE, stream.subarray(off, off + c.used));
      off += c.used;
    });
    const rootPfn = kernel.buddy.folioAlloc(0, { site: SCENARIO_MANIFEST_SITE });
    if (rootPfn === null) throw new KhoError("ENOMEM", "scenario manifest: no root page");
    const rootPhys = preserveNew(kernel, rootPfn, undo) * PAGE_SIZE;
    const first = chunks[0].pfn * PAGE_SIZE;
    const fdt = encodeManifestRoot({ first, nrChunks: chunks.length, payloadBytes: stream.length });
    mem.writeBytes(rootPhys, fdt);
    const unpublish = publish(kernel, rootPhys, fdt.length);
    const chunkBytes = chunks.reduce((s, c) => s + 2 ** c.order * PAGE_SIZE, 0);
    return {
      rootPhys,
      firstChunkPhys: first,
      chunks: chunks.length,
      payloadBytes: stream.length,
      blocks: chunks.length + 1,
      bytes: chunkBytes + PAGE_SIZE,
      pfns: [...chunks.map((c) => c.pfn), rootPfn],
      unpublish,
    };
  } catch (e) {
    while (undo.length > 0) undo.pop()!();
    throw e;
  }
}

/**
 * Takes a manifest written by {@link writeScenarioManifest} back, as far as the generation
 * can: the sub-tree (or its FINALIZE notifier) is removed, and the folios are unpreserved and
 * freed where `kho_unpreserve_folio` exists. Returns what stays behind: `""` when nothing, else
 * the reason (the generation and the API it lacks); the caller reports it.
 */
export function discardScenarioManifest(kernel: Kernel, written: ManifestWriteResult): string {
  const left: string[] = [];
  if (written.unpublish !== null) written.unpublish();
  else left.push(`the sub-tree stays (no kho_remove_subtree in ${kernel.profile.name})`);
  if (hasApi(kernel.profile, "unpreserveFolio")) {
    for (const pfn of written.pfns) {
      kernel.kho.unpreserveFolio(pfn);
      kernel.buddy.folioPut(pfn);
    }
  } else {
    left.push(
      `${written.blocks} block(s) stay preserved (no kho_unpreserve_folio in ${kernel.profile.name})`,
    );
  }
  return left.join("; ");
}

/** `folio_put` where the generation gave the folio a reference (6.16 does not for order > 0). */
function putRestored(kernel: Kernel, pfn: number): void {
  if (kernel.memmap.pageCount(pfn) > 0) kernel.buddy.folioPut(pfn);
}

/**
 * `kho_restore_folio` and the whole folio's bytes from `folio_address()`; null when it does
 * not restore. `kho_restore_folio` drops the offset inside the head page, so an address
 * into the middle of a chunk's page reads that page from its start. (A stamped order
 * reaching past RAM faults in the restore itself, as in the kernel.)
 */
function restoreChunk(kernel: Kernel, phys: number, restored: number[]): Uint8Array | null {
  const pfn = kernel.kho.restoreFolio(phys);
  if (pfn === null) return null;
  restored.push(pfn);
  return kernel.machine.mem.readBytes(
    pfn * PAGE_SIZE,
    PAGE_SIZE * 2 ** kernel.memmap.folioOrder(pfn),
  );
}

/**
 * Finds the manifest in the successor from bytes only: `kho_retrieve_subtree`, the root
 * FDT, the chain of chunks (`kho_restore_folio`, one bulk read each), the sections. Every
 * folio it restored is given back to the allocator. A missing manifest is ENOENT (or the
 * sub-tree errno), anything corrupt EINVAL with the reason; every failure but ENOENT is also
 * logged (a warning of `kholab-scenario` in the kernel log: the successor's objects stay
 * where they are, unrestored). A kernel verdict met on the way (an oops) propagates.
 */
export function readScenarioManifest(kernel: Kernel): ManifestReadResult {
  const fail = (errno: ErrnoName, reason: string): ManifestReadResult => {
    if (errno !== "ENOENT") {
      kernel.log.warning(SCENARIO_MANIFEST_NAME, `manifest unreadable (${errno}): ${reason}`);
    }
    return { ok: false, errno, reason };
  };
  const einval = (reason: string) => fail("EINVAL", reason);
  if (!kernel.kho.isKhoBoot) return { ok: false, errno: "ENOENT", reason: "not a KHO boot" };
  let rootPhys: number;
  try {
    rootPhys = kernel.kho.retrieveSubtree(SCENARIO_MANIFEST_NAME).phys;
  } catch (e) {
    if (!(e instanceof KhoError)) throw e;
    return fail(e.code, `${SCENARIO_MANIFEST_NAME}: ${e.message}`);
  }
  const restored: number[] = [];
  try {
    const rootBytes = restoreChunk(kernel, rootPhys, restored);
    if (rootBytes === null) return einval(`root FDT at ${hex(rootPhys)} did not restore`);
    const root = decodeManifestRoot(rootBytes.subarray(0, SCENARIO_ROOT_FDT_BYTES));
    if (!root.ok) return einval(root.reason);
    const stream = readChunkChain(root.value, (phys) => restoreChunk(kernel, phys, restored));
    if (!stream.ok) return einval(stream.reason);
    const sections = decodeManifest(stream.value);
    if (!sections.ok) return einval(sections.reason);
    return {
      ok: true,
      sections: sections.value,
      chunks: root.value.nrChunks,
      payloadBytes: root.value.payloadBytes,
    };
  } finally {
    for (const pfn of restored) putRestored(kernel, pfn);
  }
}
