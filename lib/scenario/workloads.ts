/**
 * What a scenario preserves, as groups of objects that know how to preserve themselves in
 * the first kernel and how to restore and verify themselves in the successor: folios (1 GiB
 * guest folios, IOMMU page-table pages), page ranges (DMA blocks, dense bands), memfd files,
 * vmalloc buffers and the test_kho module. Failures never throw: they are tallied with the
 * kernel's errno, because a profile that cannot represent a scenario must report it.
 *
 * Content is checked by hash: every object is filled with seeded content when the scenario
 * is built and compared after restore. The vmalloc descriptors and the test_kho state are
 * kept by the scenario (a real client would keep them in its own preserved data).
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type MemfdFile, preserveMemfd, restoreMemfd } from "../clients/memfd.ts";
import { testKhoSave, testKhoVerify } from "../clients/test_kho.ts";
import type { KhoVmalloc } from "../kho/abi/vmalloc.ts";
import { hasApi } from "../kho/abi/profiles.ts";
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
  /** struct pages initialised by restores. */
  restoreStructPagesWritten = 0;
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
}

/** One group of preserved objects of a scenario. */
export interface Workload {
  /** Short name, used as the error step (`guests`, `iommu`, `dma`, …). */
  readonly name: string;
  /** Preserves every object in the first kernel. */
  preserve(kernel: Kernel, tally: Tally): void;
  /** Restores and verifies every object in the successor. */
  restore(kernel: Kernel, tally: Tally): void;
}

/** Content hash of a physical range. */
function hashOf(kernel: Kernel, phys: number, bytes: number): bigint {
  return kernel.machine.mem.hash64(phys, bytes);
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
  readonly #hashes: BigUint64Array;
  readonly #preserved: Uint8Array;

  /** Records the folios and hashes their current content. */
  constructor(readonly name: string, kernel: Kernel, pfns: Float64Array, order: number) {
    this.pfns = pfns;
    this.order = order;
    this.#preserved = new Uint8Array(pfns.length);
    this.#hashes = new BigUint64Array(pfns.length);
    const bytes = 2 ** order * PAGE_SIZE;
    for (let i = 0; i < pfns.length; i++) {
      this.#hashes[i] = hashOf(kernel, pfns[i] * PAGE_SIZE, bytes);
    }
  }

  /** `kho_preserve_folio` of each folio. */
  preserve(kernel: Kernel, tally: Tally): void {
    const kho = kernel.kho;
    for (let i = 0; i < this.pfns.length; i++) {
      tally.preserveCalls++;
      try {
        kho.preserveFolio(this.pfns[i]);
        this.#preserved[i] = 1;
      } catch (e) {
        tally.preserveFailures++;
        tally.error(this.name, e);
      }
    }
  }

  /** `kho_restore_folio` and a content check of each folio. */
  restore(kernel: Kernel, tally: Tally): void {
    const bytes = 2 ** this.order * PAGE_SIZE;
    for (let i = 0; i < this.pfns.length; i++) {
      if (!this.#preserved[i]) {
        tally.lostObjects++;
        continue;
      }
      const phys = this.pfns[i] * PAGE_SIZE;
      const pfn = kernel.kho.restoreFolio(phys);
      if (pfn === null) {
        tally.restoreFailures++;
        tally.lostObjects++;
        continue;
      }
      tally.restoredBlocks++;
      tally.restoreStructPagesWritten += 2 ** this.order;
      if (hashOf(kernel, phys, bytes) !== this.#hashes[i]) tally.lostObjects++;
    }
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
  readonly #hashes: BigUint64Array;
  readonly #preserved: Uint8Array;

  /** Records the ranges and hashes their current content. */
  constructor(readonly name: string, kernel: Kernel, starts: Float64Array, nrPages: number) {
    this.starts = starts;
    this.nrPages = nrPages;
    this.#preserved = new Uint8Array(starts.length);
    this.#hashes = new BigUint64Array(starts.length);
    for (let i = 0; i < starts.length; i++) {
      this.#hashes[i] = hashOf(kernel, starts[i] * PAGE_SIZE, nrPages * PAGE_SIZE);
    }
  }

  /** `kho_preserve_pages` / `kho_preserve_phys` of each range. */
  preserve(kernel: Kernel, tally: Tally): void {
    for (let i = 0; i < this.starts.length; i++) {
      tally.preserveCalls++;
      try {
        kernel.kho.preserveRange(this.starts[i], this.nrPages);
        this.#preserved[i] = 1;
      } catch (e) {
        tally.preserveFailures++;
        tally.error(this.name, e);
      }
    }
  }

  /** Restores each range and checks its content. */
  restore(kernel: Kernel, tally: Tally): void {
    const pagesApi = hasApi(kernel.profile, "restorePages");
    for (let i = 0; i < this.starts.length; i++) {
      if (!this.#preserved[i]) {
        tally.lostObjects++;
        continue;
      }
      const pfn = this.starts[i];
      let ok = true;
      let blocks = 1;
      try {
        if (pagesApi) ok = kernel.kho.restorePages(pfn * PAGE_SIZE, this.nrPages) !== null;
        else {
          const split = splitPages(pfn, this.nrPages);
          blocks = split.length;
          for (const b of split) ok = kernel.kho.restoreFolio(b.pfn * PAGE_SIZE) !== null && ok;
        }
      } catch (e) {
        tally.error(`${this.name}-restore`, e);
        ok = false;
      }
      if (!ok) {
        tally.restoreFailures++;
        tally.lostObjects++;
        continue;
      }
      tally.restoredBlocks += blocks;
      tally.restoreStructPagesWritten += this.nrPages;
      if (hashOf(kernel, pfn * PAGE_SIZE, this.nrPages * PAGE_SIZE) !== this.#hashes[i]) {
        tally.lostObjects++;
      }
    }
  }
}

/**
 * Guest memory files through the memfd-style client. When the profile lacks an API the
 * client needs (`kho_alloc_preserve`, `kho_preserve_vmalloc`: 6.16, 6.18, RFC v1), the
 * errno is recorded as `guests-memfd:ERRNO` and the files' folios are preserved directly
 * with `kho_preserve_folio`, as a client of that generation would.
 */
export class MemfdSet implements Workload {
  /** Step name of errors. */
  readonly name: string;
  /** The files. */
  readonly files: readonly MemfdFile[];
  readonly #hashes: bigint[];
  readonly #preserved: boolean[];
  #fallback: FolioSet | null = null;
  readonly #kernel: Kernel;

  /** Records the files and hashes their content. */
  constructor(name: string, kernel: Kernel, files: readonly MemfdFile[]) {
    this.name = name;
    this.files = files;
    this.#kernel = kernel;
    this.#hashes = files.map((f) => f.hash64());
    this.#preserved = files.map(() => false);
  }

  /** `memfd_luo_preserve` of each file, or the folio fallback. */
  preserve(kernel: Kernel, tally: Tally): void {
    for (let i = 0; i < this.files.length; i++) {
      tally.preserveCalls++;
      try {
        preserveMemfd(kernel, this.files[i]);
        this.#preserved[i] = true;
      } catch (e) {
        tally.preserveFailures++;
        tally.error(`${this.name}-memfd`, e);
        if (i === 0 && e instanceof KhoError && e.code === "EOPNOTSUPP") {
          this.#fallback = this.#folioFallback();
          this.#fallback.preserve(kernel, tally);
          return;
        }
      }
    }
  }

  #folioFallback(): FolioSet {
    const order = this.files[0].folioOrder;
    const pfns = Float64Array.from(this.files.flatMap((f) => f.folios.map((x) => x.pfn)));
    return new FolioSet(this.name, this.#kernel, pfns, order);
  }

  /** `memfd_luo_retrieve` of each file and a content check. */
  restore(kernel: Kernel, tally: Tally): void {
    if (this.#fallback) {
      this.#fallback.restore(kernel, tally);
      return;
    }
    for (let i = 0; i < this.files.length; i++) {
      if (!this.#preserved[i]) {
        tally.lostObjects++;
        continue;
      }
      const f = this.files[i];
      try {
        const back = restoreMemfd(kernel, f.name);
        tally.restoredBlocks += back.folios.length;
        tally.restoreStructPagesWritten += back.folios.length * 2 ** back.folioOrder;
        if (back.folios.length !== f.folios.length || back.hash64() !== this.#hashes[i]) {
          tally.lostObjects++;
        }
      } catch (e) {
        tally.restoreFailures++;
        tally.lostObjects++;
        tally.error(`${this.name}-restore`, e);
      }
    }
  }
}

/** vmalloc buffers preserved with `kho_preserve_vmalloc`. */
export class VmallocSet implements Workload {
  /** vmalloc addresses. */
  readonly addrs: readonly number[];
  /** Bytes per buffer. */
  readonly bytes: number;
  readonly #hashes: bigint[];
  readonly #descs: (KhoVmalloc | null)[];

  /** Records the buffers and hashes their content. */
  constructor(readonly name: string, kernel: Kernel, addrs: readonly number[], bytes: number) {
    this.addrs = addrs;
    this.bytes = bytes;
    this.#hashes = addrs.map((a) => kernel.vmalloc.hash64(a, bytes));
    this.#descs = addrs.map(() => null);
  }

  /** `kho_preserve_vmalloc` of each buffer. */
  preserve(kernel: Kernel, tally: Tally): void {
    this.addrs.forEach((a, i) => {
      tally.preserveCalls++;
      try {
        if (!hasApi(kernel.profile, "preserveVmalloc")) {
          throw new KhoError(
            "EOPNOTSUPP",
            `kho_preserve_vmalloc does not exist in ${kernel.profile.name}`,
          );
        }
        this.#descs[i] = preserveVmalloc(kernel, a);
      } catch (e) {
        tally.preserveFailures++;
        tally.error(this.name, e);
      }
    });
  }

  /** `kho_restore_vmalloc` of each buffer and a content check. */
  restore(kernel: Kernel, tally: Tally): void {
    for (let i = 0; i < this.#descs.length; i++) {
      const d = this.#descs[i];
      if (d === null) {
        tally.lostObjects++;
        continue;
      }
      let addr: number | null = null;
      try {
        addr = restoreVmalloc(kernel, d);
      } catch (e) {
        tally.error(`${this.name}-restore`, e);
      }
      if (addr === null) {
        tally.restoreFailures++;
        tally.lostObjects++;
        continue;
      }
      tally.restoredBlocks += Math.ceil(d.totalPages / 2 ** d.order);
      tally.restoreStructPagesWritten += d.totalPages;
      if (kernel.vmalloc.hash64(addr, this.bytes) !== this.#hashes[i]) tally.lostObjects++;
    }
  }
}

/** lib/test_kho.c: generate and preserve in the first kernel, verify in the successor. */
export class TestKhoWorkload implements Workload {
  /** Step name of errors. */
  readonly name = "test_kho";
  #saved = false;

  /** A module run with `max_mem` bytes and content from `seed`. */
  constructor(readonly maxMemBytes: number, readonly seed: number) {}

  /** `kho_test_init` in the first kernel (save path). */
  preserve(kernel: Kernel, tally: Tally): void {
    tally.preserveCalls++;
    try {
      testKhoSave(kernel, { maxMemBytes: this.maxMemBytes, seed: this.seed });
      this.#saved = true;
    } catch (e) {
      tally.preserveFailures++;
      tally.error(this.name, e);
    }
  }

  /** `kho_test_init` in the successor (restore path). */
  restore(kernel: Kernel, tally: Tally): void {
    if (!this.#saved) {
      tally.lostObjects++;
      return;
    }
    try {
      const r = testKhoVerify(kernel, { maxMemBytes: this.maxMemBytes, seed: this.seed });
      tally.restoredBlocks += r.restoredFolios;
      if (!r.ok) {
        tally.restoreFailures++;
        tally.lostObjects++;
        tally.error(`${this.name}-verify`, new KhoError(r.errno ?? "EINVAL", r.reason ?? ""));
      }
    } catch (e) {
      tally.restoreFailures++;
      tally.lostObjects++;
      tally.error(`${this.name}-verify`, e);
    }
  }
}
