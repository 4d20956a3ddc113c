/**
 * The folio record array of the LUO file handlers of folio-backed files — memfd
 * (`./memfd_luo.ts`), HugeTLB memfd (`./hugetlb_luo.ts`) and guest_memfd
 * (`./guest_memfd_luo.ts`): each hands a file's folios over as a `vcalloc`'d array of 16-byte
 * records (`memfd_luo_folio_ser` and its copies), one per folio, preserved with
 * `kho_preserve_vmalloc` and described in the handler's serialized struct; the successor
 * restores the array (`kho_restore_vmalloc`), then each folio. The steps the three handlers
 * write alike are here; each keeps its own names, errors, log lines and order of undoing.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import { KernelOops } from "../kernel/oops.ts";
import { KhoVmalloc } from "../kho/abi/kexec_handover.ts";
import { preserveVmalloc, restoreVmalloc, unpreserveVmalloc } from "../kho/vmalloc.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import type { ShmemFolio } from "./memfd.ts";

/** What preserve keeps for unpreserve (`private_data`; never handed over). */
export interface PreservedFolios<F> {
  readonly file: F;
  readonly folios: readonly ShmemFolio[];
  /** vmalloc address of the record array, 0 for a file without folios. */
  readonly array: number;
  readonly desc: KhoVmalloc;
}

/** The `kho_vmalloc` of a file without folios (no array). */
export const EMPTY_VMALLOC = new KhoVmalloc({ first: 0, totalPages: 0, flags: 0, order: 0 });

/** What a handler does to each folio beside `kho_preserve_folio`, and in which order it undoes. */
export interface FolioRecordOps {
  /** Writes folio `f`'s record at byte `at` of `dv`, once `f` is preserved. */
  record(dv: DataView, at: number, f: ShmemFolio): void;
  /** Undoes what `record` did beyond the bytes, after `kho_unpreserve_folio(f)`. */
  unrecord?(f: ShmemFolio): void;
  /**
   * What the handler preserves with the folios beyond the records (a HugeTLB design's
   * vmemmap): after the folios, before `kho_preserve_vmalloc`; all or nothing.
   */
  preserveMore?(): void;
  /** Undoes `preserveMore` (a failed `kho_preserve_vmalloc`, or unpreserve). */
  unpreserveMore?(): void;
}

/** How a handler lays out and names its record array. */
export interface FolioRecordSpec<R> {
  /** The handler's name in the ENOMEM of the `vcalloc` (`"memfd_luo"`, `"hugemfd"`, …). */
  readonly name: string;
  /** Fault-injection site of the `vcalloc`. */
  readonly site: string;
  /** Bytes per record. */
  readonly size: number;
  /** Reads the record at byte `at` of `dv`. */
  get(dv: DataView, at: number): R;
  /**
   * Whether folios are undone last first (guest_memfd's `err_unpreserve_unlocked` and
   * unpreserve) rather than first first (memfd, HugeTLB).
   */
  readonly lastFirst?: boolean;
}

/** One handler's record array, preserved and restored in `kernel`. */
export class FolioRecordArray<R extends { pfn: number; index: number }> {
  /** The array of a handler of `kernel`. */
  constructor(readonly kernel: Kernel, readonly spec: FolioRecordSpec<R>) {}

  /**
   * Per folio in index order `kho_preserve_folio` and its record; the records written to a
   * `vcalloc`'d array (ENOMEM at the fault site), {@link FolioRecordOps.preserveMore}, and
   * the array preserved. Every error undoes what the call did: the folios preserved so far
   * (with `unrecord`), `unpreserveMore`, the array.
   */
  preserve(
    folios: readonly ShmemFolio[],
    ops: FolioRecordOps,
  ): { array: number; desc: KhoVmalloc } {
    const k = this.kernel;
    const { size, site, name } = this.spec;
    const nr = folios.length;
    const array = k.vmalloc.vzalloc(nr * size, { site });
    if (array === null) throw new KhoError("ENOMEM", `${name}: vcalloc of the records`);
    try {
      const records = new Uint8Array(nr * size);
      const dv = new DataView(records.buffer);
      let i = 0;
      try {
        for (; i < nr; i++) {
          k.kho.preserveFolio(folios[i].pfn);
          ops.record(dv, i * size, folios[i]);
        }
      } catch (e) {
        this.#unpreserveFolios(folios.slice(0, i), ops.unrecord);
        throw e;
      }
      k.vmalloc.writeBytes(array, records);
      try {
        ops.preserveMore?.();
        try {
          return { array, desc: preserveVmalloc(k, array) };
        } catch (e) {
          ops.unpreserveMore?.();
          throw e;
        }
      } catch (e) {
        this.#unpreserveFolios(folios, ops.unrecord);
        throw e;
      }
    } catch (e) {
      k.vmalloc.vfree(array);
      throw e;
    }
  }

  /**
   * Unpreserve's part: `kho_unpreserve_vmalloc`, `unpreserveMore`, every folio unpreserved
   * (then `each(f)`), the array freed; nothing for a file without folios.
   */
  unpreserve(
    p: PreservedFolios<unknown>,
    ops: { unpreserveMore?(): void; each?(f: ShmemFolio): void } = {},
  ): void {
    if (p.folios.length === 0) return;
    unpreserveVmalloc(this.kernel, p.desc);
    ops.unpreserveMore?.();
    this.#unpreserveFolios(p.folios, ops.each);
    this.kernel.vmalloc.vfree(p.array);
  }

  /**
   * `kho_restore_vmalloc(desc)` and the `nr` records in it (see {@link FolioRecordArray.read}),
   * or null when the array does not restore.
   */
  restore(desc: KhoVmalloc, nr: number, fn: string): { array: number; records: R[] } | null {
    const array = restoreVmalloc(this.kernel, desc);
    return array === null ? null : { array, records: this.read(array, nr, desc, fn) };
  }

  /** The `nr` records of the restored array; reading past the area is a page fault oops. */
  read(array: number, nr: number, desc: KhoVmalloc, fn: string): R[] {
    const { size } = this.spec;
    const bytes = nr * size;
    if (bytes > desc.totalPages * PAGE_SIZE) {
      throw new KernelOops({ address: array + desc.totalPages * PAGE_SIZE, fn }, this.kernel.log);
    }
    const b = this.kernel.vmalloc.readBytes(array, bytes);
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    const out: R[] = [];
    for (let i = 0; i < nr; i++) out.push(this.spec.get(dv, i * size));
    return out;
  }

  /**
   * Restores and puts the folios of `records` from `from` on (pfn 0 skipped); one that does
   * not restore is skipped, with a warning under `warn` if given. `pfnAsPhys` (memfd's
   * `memfd-put-folios-pfn-as-phys`) passes the pfn where the physical address belongs, pfn 0
   * included.
   */
  discard(
    records: readonly R[],
    o: { from?: number; warn?: string; pfnAsPhys?: boolean } = {},
  ): void {
    const k = this.kernel;
    for (let i = o.from ?? 0; i < records.length; i++) {
      const r = records[i];
      if (!o.pfnAsPhys && r.pfn === 0) continue;
      const phys = o.pfnAsPhys ? r.pfn : r.pfn * PAGE_SIZE;
      const pfn = k.kho.restoreFolio(phys);
      if (pfn !== null) k.buddy.folioPut(pfn);
      else if (o.warn !== undefined) {
        k.log.warning(o.warn, `Could not restore folio at ${hex(phys)}`);
      }
    }
  }

  #unpreserveFolios(folios: readonly ShmemFolio[], each?: (f: ShmemFolio) => void): void {
    const n = folios.length;
    for (let j = 0; j < n; j++) {
      const f = folios[this.spec.lastFirst ? n - 1 - j : j];
      this.kernel.kho.unpreserveFolio(f.pfn);
      each?.(f);
    }
  }
}

/**
 * `phys_to_virt(serialized_data)` for a handler's struct of `size` bytes: a page fault oops
 * when it is not RAM.
 */
export function requireSerRam(kernel: Kernel, serPa: number, size: number, fn: string): void {
  if (!Number.isSafeInteger(serPa) || !kernel.machine.topology.isRam(serPa, size)) {
    throw new KernelOops({ address: serPa, fn }, kernel.log);
  }
}
