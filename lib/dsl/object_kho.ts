/**
 * KHO on the language's objects, with each generation's API: preserving (folios with
 * `kho_preserve_folio`, page blocks with `kho_preserve_pages` or 6.16's `kho_preserve_phys`,
 * vmalloc areas with `kho_preserve_vmalloc`, memfd files through the memfd client),
 * unpreserving, restoring in the successor and verifying content. Where a generation lacks
 * an API the error names the API and the generation, before anything is done.
 *
 * A preserve that fails part-way undoes what it did where the generation can unpreserve;
 * where it cannot (6.16, 6.18, RFC v1 have no `kho_unpreserve_folio`), the blocks done stay
 * preserved, the object says so (preserved, with the others failed) and the error says it.
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import { preserveMemfd, restoreMemfd, unpreserveMemfd } from "../clients/memfd.ts";
import { KhoError } from "../errors.ts";
import { VM_ALLOW_HUGE_VMAP } from "../kernel/vmalloc.ts";
import { hasApi, type KhoApi } from "../kho/profiles.ts";
import { preserveVmalloc, restoreVmalloc, unpreserveVmalloc } from "../kho/vmalloc.ts";
import { restoreRange } from "../scenario/workloads.ts";
import { PAGE_SIZE } from "../units.ts";
import { missingApi } from "./kho_api.ts";
import { blockHashes } from "./object_memory.ts";
import type { DslObject } from "./objects.ts";

/** EOPNOTSUPP naming the API and the generation, or null when the kernel has every one. */
function missingApiFor(kernel: Kernel, o: DslObject, apis: readonly KhoApi[]): KhoError | null {
  return missingApi(kernel.profile, `${o.kind} ${o.name}`, apis);
}

/** The APIs preserving `o` needs beyond the ones every generation has. */
function preserveApis(o: DslObject): KhoApi[] {
  switch (o.kind) {
    case "vmalloc":
      return ["preserveVmalloc"];
    case "memfd":
      // memfd_luo_preserve: kho_alloc_preserve of the memfd_luo_ser, kho_preserve_vmalloc of
      // the folio array.
      return ["allocPreserve", "preserveVmalloc"];
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
      return ["unpreserveFolio", "unpreserveVmalloc", "allocPreserve"];
    default:
      return ["unpreservePages"];
  }
}

/** Throws the EOPNOTSUPP of the first API preserving `o` needs and this kernel lacks. */
export function checkPreserve(kernel: Kernel, o: DslObject): void {
  const e = missingApiFor(kernel, o, preserveApis(o));
  if (e) throw e;
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
    preserveMemfd(kernel, o.file!);
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
    unpreserveMemfd(kernel, o.file!);
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
      try {
        const file = restoreMemfd(kernel, o.name);
        o.file = file;
        o.phys = file.folios.map((f) => f.pfn * PAGE_SIZE);
        o.pages = file.folios.map(() => 2 ** file.folioOrder);
        o.order = file.folioOrder;
        o.bytes = file.size;
        ok = o.phys.length;
      } catch (e) {
        if (!(e instanceof KhoError)) throw e;
        o.failed.add(0);
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

/** Whether the object's content equals its hashes (what was handed over, all of it). */
export function verifyObject(kernel: Kernel, o: DslObject): boolean {
  let ok = o.failedBlocks() === 0;
  if (ok) {
    if (o.kind === "vmalloc") {
      ok = o.vaddr !== null && kernel.vmalloc.hash64(o.vaddr, o.bytes) === o.hashes[0];
    } else if (o.kind === "memfd") {
      ok = o.file !== null && o.file.hash64() === o.hashes[0];
    } else if (o.kind === "subtree" || o.state === "reserved") {
      // A sub-tree blob, a reserve_mem= region: exactly its bytes.
      ok = kernel.machine.mem.hash64(o.phys[0], o.bytes) === o.hashes[0];
    } else {
      const now = blockHashes(kernel, o.phys, o.pages);
      ok = now.length === o.hashes.length && now.every((h, i) => h === o.hashes[i]);
    }
  }
  o.verified = ok;
  return ok;
}
