/**
 * KHO on the language's objects, with each generation's API: preserving (folios with
 * `kho_preserve_folio`, page blocks with `kho_preserve_pages` or 6.16's `kho_preserve_phys`,
 * vmalloc areas with `kho_preserve_vmalloc`, memfd files through LUO — a session named like
 * the object, the file under token 1, as a VMM does), unpreserving (a memfd: closing its
 * session), restoring in the successor (a memfd: `RETRIEVE_SESSION`, `RETRIEVE_FD`, `FINISH`)
 * and verifying content. Where a generation lacks an API the error names the API and the
 * generation — or that it has no Live Update Orchestrator, or that no LUO file handler takes
 * a hugetlb memfd — before anything is done.
 *
 * A preserve that fails part-way undoes what it did where the generation can unpreserve;
 * where it cannot (6.16, 6.18, RFC v1 have no `kho_unpreserve_folio`), the blocks done stay
 * preserved, the object says so (preserved, with the others failed) and the error says it.
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import type { MemfdFile } from "../clients/memfd.ts";
import { memfdLuoHandler } from "../clients/memfd_luo.ts";
import { hugeMemfdLuoHandler } from "../clients/hugetlb_luo.ts";
import { KhoError } from "../errors.ts";
import { VM_ALLOW_HUGE_VMAP } from "../kernel/vmalloc.ts";
import { hasApi, type KhoApi } from "../kho/profiles.ts";
import { preserveVmalloc, restoreVmalloc, unpreserveVmalloc } from "../kho/vmalloc.ts";
import { guestFileUnsupported, restoreRange, restoreRangeApi } from "../scenario/workloads.ts";
import { clipReason } from "../scenario/manifest_abi.ts";
import { failureText, RestoreJudge } from "../scenario/restore_outcome.ts";
import { type Outcome, OutcomeTally } from "../metrics/outcomes.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import { withNote } from "./errors.ts";
import { missingApi } from "./kho_api.ts";
import { blockHashes } from "./object_memory.ts";
import { type DslObject, MEMFD_OBJECT_TOKEN } from "./objects.ts";

/** EOPNOTSUPP naming the API and the generation, or null when the kernel has every one. */
function missingApiFor(kernel: Kernel, o: DslObject, apis: readonly KhoApi[]): KhoError | null {
  return missingApi(kernel.profile, `${o.kind} ${o.name}`, apis);
}

/** The APIs preserving `o` needs beyond the ones every generation has. */
function preserveApis(o: DslObject): KhoApi[] {
  switch (o.kind) {
    case "vmalloc":
      return ["preserveVmalloc"];
    default:
      return [];
  }
}

/** The APIs unpreserving `o` needs. */
function unpreserveApis(o: DslObject): KhoApi[] {
  switch (o.kind) {
    case "folios":
      return ["unpreserveFolio"];
    case "vmalloc":
      return ["unpreserveVmalloc"];
    case "memfd":
      return []; // closing the LUO session unpreserves the file
    default:
      return ["unpreservePages"];
  }
}

/**
 * Throws the EOPNOTSUPP of the first API preserving `o` needs and this kernel lacks; for a
 * memfd, that the generation has no Live Update Orchestrator, ENOENT when LUO is off or no
 * handler takes the file (a hugetlb memfd on a generation without HugeTLB preservation:
 * PRESERVE_FD's ENOENT, said before it is tried, with the profile's reason).
 */
export function checkPreserve(kernel: Kernel, o: DslObject): void {
  const e = missingApiFor(kernel, o, preserveApis(o));
  if (e) throw e;
  if (o.kind !== "memfd") return;
  const p = kernel.profile;
  if (p.luo === null) {
    throw new KhoError(
      "EOPNOTSUPP",
      `memfd ${o.name}: ${p.name} (${p.kernel}) has no Live Update Orchestrator (6.19 on), ` +
        `hence no memfd preservation`,
    );
  }
  const file = o.file!;
  const fh = file.hugetlb ? hugeMemfdLuoHandler(kernel) : memfdLuoHandler(kernel);
  const why = guestFileUnsupported(p, file);
  if (kernel.liveupdate.enabled && why !== null) {
    throw new KhoError("ENOENT", `memfd ${o.name}: ${why}`);
  }
  if (!kernel.liveupdate.enabled || fh === null) {
    throw new KhoError(
      "ENOENT",
      `memfd ${o.name}: ${
        kernel.liveupdate.enabled
          ? `no ${file.hugetlb ? "huge-memfd" : "memfd"} LUO handler registered`
          : "liveupdate is off"
      }`,
    );
  }
}

/**
 * A memfd into a LUO session of its own, named like the object, under token 1; the
 * session fd stays open until kexec (closing it unpreserves). The object's blocks and hash
 * follow the file (pinning allocates holes and moves folios out of scratch).
 */
function preserveMemfdObject(kernel: Kernel, o: DslObject): void {
  const dev = kernel.liveupdate.open();
  try {
    const session = dev.createSession(o.name);
    try {
      session.preserveFd(o.file!, MEMFD_OBJECT_TOKEN);
    } catch (e) {
      session.close();
      throw e;
    }
    o.luoSession = session;
  } finally {
    dev.close();
  }
  memfdBlocks(o, o.file!);
  o.hashes[0] = o.file!.hash64();
}

/** The object's blocks: the file's folios. */
function memfdBlocks(o: DslObject, file: MemfdFile): void {
  const folios = file.folios();
  o.phys = folios.map((f) => f.pfn * PAGE_SIZE);
  o.pages = folios.map((f) => 2 ** f.order);
  o.order = folios.reduce((m, f) => Math.max(m, f.order), 0);
}

/** Throws the EOPNOTSUPP of the first API unpreserving `o` needs and this kernel lacks. */
export function checkUnpreserve(kernel: Kernel, o: DslObject): void {
  const e = missingApiFor(kernel, o, unpreserveApis(o));
  if (e) throw e;
}

function preserveBlock(kernel: Kernel, o: DslObject, i: number): void {
  const pfn = o.phys[i] / PAGE_SIZE;
  if (o.unit === "folio") kernel.kho.preserveFolio(pfn);
  else kernel.kho.preserveRange(pfn, o.pages[i]);
}

function unpreserveBlock(kernel: Kernel, o: DslObject, i: number): void {
  const pfn = o.phys[i] / PAGE_SIZE;
  if (o.unit === "folio") kernel.kho.unpreserveFolio(pfn);
  else kernel.kho.unpreservePages(pfn, o.pages[i]);
}

/**
 * Preserves the object (state "preserved"). On failure what was done is undone where the
 * generation can; where it cannot, the object stays preserved with the blocks not done marked
 * failed, and the error (the kernel's errno) says which blocks stay preserved.
 */
export function preserveObject(kernel: Kernel, o: DslObject): void {
  checkPreserve(kernel, o);
  if (o.kind === "vmalloc") {
    o.vm = preserveVmalloc(kernel, o.vaddr!);
  } else if (o.kind === "memfd") {
    preserveMemfdObject(kernel, o);
  } else {
    for (let i = 0; i < o.phys.length; i++) {
      if (o.failed.has(i)) continue;
      try {
        preserveBlock(kernel, o, i);
      } catch (e) {
        // Any failure — the kernel's errno or an exception — undoes the blocks done, where
        // the generation can unpreserve.
        if (missingApiFor(kernel, o, unpreserveApis(o)) === null) {
          for (let k = i - 1; k >= 0; k--) if (!o.failed.has(k)) unpreserveBlock(kernel, o, k);
          throw e;
        }
        if (i === 0) throw e;
        for (let k = i; k < o.phys.length; k++) o.failed.add(k);
        const api = o.unit === "folio" ? "kho_preserve_folio" : "kho_preserve_pages";
        o.failReason = clipReason(`${api}: ${failureText(e)}`);
        o.state = "preserved";
        if (!(e instanceof KhoError)) throw e;
        throw withNote(
          e,
          `${o.name}: ${i} of ${o.phys.length} block(s) stay preserved ` +
            `(${kernel.profile.name} cannot unpreserve)`,
        );
      }
    }
  }
  o.state = "preserved";
}

/** Unpreserves the object (state back to allocated or restored); EOPNOTSUPP, untouched, where the generation cannot. */
export function unpreserveObject(kernel: Kernel, o: DslObject, state: DslObject["state"]): void {
  checkUnpreserve(kernel, o);
  if (o.kind === "vmalloc") {
    unpreserveVmalloc(kernel, o.vm!);
    o.vm = null;
  } else if (o.kind === "memfd") {
    o.luoSession!.close(); // luo_session_release: the file is unpreserved
    o.luoSession = null;
  } else {
    for (let i = o.phys.length - 1; i >= 0; i--) {
      if (!o.failed.has(i)) unpreserveBlock(kernel, o, i);
    }
  }
  o.state = state;
}

/** One block's (or a whole object's) outcome as `restore` judged it. */
type Verdict = { outcome: Outcome; reason?: string };

/**
 * The object's outcome from its blocks' verdicts and the blocks the first kernel could not
 * hand over: `lost` before `failedRestore` before `corrupted` (the first block of that
 * outcome gives the reason, with how many blocks share it); null when every block came back
 * (`verify` then decides).
 */
function objectVerdict(o: DslObject, blocks: readonly Verdict[]): Verdict | null {
  const all: Verdict[] = [
    ...Array.from({ length: o.missing }, () => ({
      outcome: "lost" as const,
      reason: `the previous kernel could not hand it over (its preserve failed${
        o.missingReason ? `: ${o.missingReason}` : ""
      })`,
    })),
    ...blocks,
  ];
  for (const outcome of ["lost", "failedRestore", "corrupted"] as const) {
    const of = all.filter((v) => v.outcome === outcome);
    if (of.length === 0) continue;
    const reason = of[0].reason ?? outcome;
    return {
      outcome,
      reason: all.length > 1 ? `${of.length} of ${all.length} block(s): ${reason}` : reason,
    };
  }
  return null;
}

/**
 * Restores an incoming object in the successor (`kho_restore_folio`, `kho_restore_pages` or
 * the generation's per-block folio restore, `kho_restore_vmalloc`, the memfd client, a
 * sub-tree found by name) and judges it (`RestoreJudge`, `lib/scenario/restore_outcome.ts`): a
 * block whose memory the successor's walk did not keep is lost, a failed restore call is
 * failedRestore with its errno and the successor's log line; the object's
 * {@link DslObject.verdict} is the worst of its blocks' (null when all came back: `verify`
 * decides). Returns the blocks restored and failed.
 */
export function restoreObject(kernel: Kernel, o: DslObject): { ok: number; failed: number } {
  const kho = kernel.kho;
  const judge = new RestoreJudge(
    kernel,
    new OutcomeTally(),
    { kind: o.kind, name: o.name },
    (e) => {
      if (!(e instanceof KhoError)) throw e; // the script's kernel verdicts beyond errnos stop it
    },
  );
  const verdicts: Verdict[] = [];
  let ok = 0;
  switch (o.kind) {
    case "vmalloc": {
      if (o.vm === null) break;
      const desc = o.vm;
      const freedPfn = judge.vmallocFreedPfn(desc);
      let addr: number | null = null;
      const answer = judge.call("kho_restore_vmalloc", () => {
        addr = restoreVmalloc(kernel, desc);
        return addr !== null;
      });
      const got = addr as number | null;
      if (got === null) o.failed.add(0);
      else {
        const area = kernel.vmalloc.findVmArea(got)!;
        const step = 2 ** area.pageOrder;
        o.phys = [];
        o.pages = [];
        for (let i = 0; i < area.nrPages; i += step) {
          o.phys.push(area.pages[i] * PAGE_SIZE);
          o.pages.push(step);
        }
        o.vaddr = got;
        o.huge = (area.flags & VM_ALLOW_HUGE_VMAP) !== 0;
        ok = o.phys.length;
      }
      verdicts.push(
        judge.verdict({ freedPfn, answer, api: "kho_restore_vmalloc", sameContent: null }),
      );
      break;
    }
    case "memfd": {
      if (o.luoRef === null) break;
      let file: MemfdFile | null = null;
      const answer = judge.call("LIVEUPDATE_SESSION_RETRIEVE_FD", () => {
        file = retrieveMemfd(kernel, o);
        return true;
      });
      const got = file as MemfdFile | null;
      if (got === null) o.failed.add(0);
      else {
        o.file = got;
        memfdBlocks(o, got);
        o.bytes = got.size;
        ok = o.phys.length;
        if (ok !== o.nrFolios) o.failed.add(0);
      }
      verdicts.push(
        got !== null && ok !== o.nrFolios
          ? {
            outcome: "corrupted",
            reason: `content hash differs (${ok} folios back, ${o.nrFolios} preserved)`,
          }
          : judge.verdict({ freedPfn: null, answer, api: "RETRIEVE_FD", sameContent: null }),
      );
      break;
    }
    default: {
      let found = true;
      if (o.kind === "subtree") {
        const answer = judge.call("kho_retrieve_subtree", () => {
          const phys = kho.retrieveSubtree(o.name).phys;
          if (phys !== o.phys[0]) {
            throw new KhoError("EINVAL", `sub-tree ${o.name} at ${hex(phys)}, not the blob`);
          }
          return true;
        });
        if (!answer.ok) {
          found = false;
          o.failed.add(0);
          verdicts.push(judge.verdict({
            freedPfn: null,
            answer,
            api: "kho_retrieve_subtree",
            sameContent: null,
          }));
        }
      }
      o.restoredAs = o.unit === "pages" && !hasApi(kernel.profile, "restorePages")
        ? "folios"
        : "pages";
      const api = o.unit === "folio" ? "kho_restore_folio" : restoreRangeApi(kernel);
      for (let i = 0; found && i < o.phys.length; i++) {
        if (o.failed.has(i)) continue;
        const pfn = o.phys[i] / PAGE_SIZE;
        const freedPfn = judge.freedPfn(pfn, o.pages[i]);
        const answer = judge.call(
          api,
          () =>
            o.unit === "folio"
              ? kho.restoreFolio(o.phys[i]) !== null
              : restoreRange(kernel, pfn, o.pages[i]).ok,
          o.unit === "folio"
            ? { pfn, arg: () => hex(o.phys[i]) }
            : { arg: () => `${hex(o.phys[i])}, ${o.pages[i]}` },
        );
        if (answer.ok) ok++;
        else o.failed.add(i);
        const sameContent = freedPfn === null || !kernel.machine.topology.isRam(
            o.phys[i],
            o.pages[i] * PAGE_SIZE,
          )
          ? null
          : blockHashes(kernel, [o.phys[i]], [o.pages[i]])[0] === o.hashes[i];
        verdicts.push(judge.verdict({ freedPfn, answer, api, sameContent }));
      }
    }
  }
  o.verdict = objectVerdict(o, verdicts);
  o.state = "restored";
  o.restoredHere = true;
  return { ok, failed: o.failedBlocks() };
}

/**
 * The successor's side of a memfd object: the first open of `/dev/liveupdate` deserializes the
 * incoming sessions, then `RETRIEVE_SESSION`, `RETRIEVE_FD` and `FINISH`. Throws the errno of
 * the step that failed (ENOENT when LUO is off).
 */
function retrieveMemfd(kernel: Kernel, o: DslObject): MemfdFile {
  if (!kernel.liveupdate.enabled) {
    throw new KhoError("ENOENT", "the successor's Live Update Orchestrator is off");
  }
  const dev = kernel.liveupdate.open();
  try {
    const session = dev.retrieveSession(o.luoRef!.session);
    const file = session.retrieveFd(o.luoRef!.token) as MemfdFile;
    session.finish();
    return file;
  } finally {
    dev.close();
  }
}

/** Whether the object's content equals its hashes (what was handed over, all of it). */
export function verifyObject(kernel: Kernel, o: DslObject): boolean {
  let ok = o.failedBlocks() === 0;
  if (ok) {
    if (o.kind === "vmalloc") {
      ok = o.vaddr !== null && kernel.vmalloc.hash64(o.vaddr, o.bytes) === o.hashes[0];
    } else if (o.kind === "memfd") {
      ok = o.file !== null && o.file.hash64() === o.hashes[0];
    } else if (o.kind === "subtree" || o.state === "reserved") {
      // A sub-tree blob, a reserve_mem= region: exactly its bytes (a region revived from
      // corrupt bytes may lie outside RAM: not the region handed over).
      ok = kernel.machine.topology.isRam(o.phys[0], o.bytes) &&
        kernel.machine.mem.hash64(o.phys[0], o.bytes) === o.hashes[0];
    } else {
      const now = blockHashes(kernel, o.phys, o.pages);
      ok = now.length === o.hashes.length && now.every((h, i) => h === o.hashes[i]);
    }
  }
  o.verified = ok;
  return ok;
}
