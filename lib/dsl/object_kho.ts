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
import { guestFileUnsupported, restoreRange } from "../scenario/workloads.ts";
import { PAGE_SIZE } from "../units.ts";
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
        o.state = "preserved";
        if (!(e instanceof KhoError)) throw e;
        throw new KhoError(
          e.code,
          `${e.message.replace(/^[A-Z0-9]+: /, "")}; ${o.name}: ${i} of ${o.phys.length} ` +
            `block(s) stay preserved (${kernel.profile.name} cannot unpreserve)`,
          { cause: e },
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

/**
 * Restores an incoming object in the successor (`kho_restore_folio`, `kho_restore_pages` or
 * the generation's per-block folio restore, `kho_restore_vmalloc`, the memfd client, a
 * sub-tree found by name). Returns the blocks restored and failed.
 */
export function restoreObject(kernel: Kernel, o: DslObject): { ok: number; failed: number } {
  const kho = kernel.kho;
  let ok = 0;
  switch (o.kind) {
    case "vmalloc": {
      let addr: number | null = null;
      try {
        addr = restoreVmalloc(kernel, o.vm!);
      } catch (e) {
        if (!(e instanceof KhoError)) throw e;
      }
      if (addr === null) o.failed.add(0);
      else {
        const area = kernel.vmalloc.findVmArea(addr)!;
        const step = 2 ** area.pageOrder;
        o.phys = [];
        o.pages = [];
        for (let i = 0; i < area.nrPages; i += step) {
          o.phys.push(area.pages[i] * PAGE_SIZE);
          o.pages.push(step);
        }
        o.vaddr = addr;
        o.huge = (area.flags & VM_ALLOW_HUGE_VMAP) !== 0;
        ok = o.phys.length;
      }
      break;
    }
    case "memfd": {
      const file = retrieveMemfd(kernel, o);
      if (file === null) o.failed.add(0);
      else {
        o.file = file;
        memfdBlocks(o, file);
        o.bytes = file.size;
        ok = o.phys.length;
        if (ok !== o.nrFolios) o.failed.add(0);
      }
      break;
    }
    default: {
      if (o.kind === "subtree") {
        try {
          if (kho.retrieveSubtree(o.name).phys !== o.phys[0]) o.failed.add(0);
        } catch (e) {
          if (!(e instanceof KhoError)) throw e;
          o.failed.add(0);
        }
      }
      o.restoredAs = o.unit === "pages" && !hasApi(kernel.profile, "restorePages")
        ? "folios"
        : "pages";
      for (let i = 0; i < o.phys.length; i++) {
        if (o.failed.has(i)) continue;
        let restored = false;
        try {
          restored = o.unit === "folio"
            ? kho.restoreFolio(o.phys[i]) !== null
            : restoreRange(kernel, o.phys[i] / PAGE_SIZE, o.pages[i]).ok;
        } catch (e) {
          if (!(e instanceof KhoError)) throw e;
        }
        if (restored) ok++;
        else o.failed.add(i);
      }
    }
  }
  o.state = "restored";
  o.restoredHere = true;
  return { ok, failed: o.failedBlocks() };
}

/**
 * The successor's side of a memfd object: the first open of `/dev/liveupdate` deserializes the
 * incoming sessions, then `RETRIEVE_SESSION`, `RETRIEVE_FD` and `FINISH`; null when any of them
 * fails (the object's restore counts as failed).
 */
function retrieveMemfd(kernel: Kernel, o: DslObject): MemfdFile | null {
  if (o.luoRef === null || !kernel.liveupdate.enabled) return null;
  let dev;
  try {
    dev = kernel.liveupdate.open();
  } catch (e) {
    if (!(e instanceof KhoError)) throw e;
    return null;
  }
  try {
    const session = dev.retrieveSession(o.luoRef.session);
    const file = session.retrieveFd(o.luoRef.token) as MemfdFile;
    session.finish();
    return file;
  } catch (e) {
    if (!(e instanceof KhoError)) throw e;
    return null;
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
