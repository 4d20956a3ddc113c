/**
 * The folio record array of the LUO handlers of folio-backed files (memfd, HugeTLB memfd,
 * guest_memfd): one 16-byte record per folio (`memfd_luo_folio_ser` and its copies) in a
 * `vcalloc`'d array preserved with `kho_preserve_vmalloc`, restored by the successor before
 * each folio. What the handlers wrote alike is here — the array, the preserve around it
 * ({@link preserveFile}), the struct's address check, module registration; each keeps its own
 * names, errors, log lines and order of undoing.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import { KernelOops } from "../kernel/oops.ts";
import { KhoVmalloc } from "../kho/abi/kexec_handover.ts";
import { preserveVmalloc, restoreVmalloc, unpreserveVmalloc } from "../kho/vmalloc.ts";
import type { FileOpArgs } from "../luo/file_handler.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import type { MemfdFile, ShmemFolio } from "./memfd.ts";

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

/** What a handler does beside `kho_preserve_folio` and `kho_preserve_vmalloc`. */
export interface FolioRecordOps {
  /** Writes the record of folio `f` (preserved) at byte `at` of `dv`. */
  record(dv: DataView, at: number, f: ShmemFolio): void;
  /** Undoes what `record` did beyond the bytes, after `kho_unpreserve_folio(f)`. */
  unrecord?(f: ShmemFolio): void;
  /** More to preserve with the folios (a HugeTLB design's vmemmap), all or nothing. */
  preserveMore?(folios: readonly ShmemFolio[]): void;
  /** Undoes `preserveMore`. */
  unpreserveMore?(folios: readonly ShmemFolio[]): void;
}

/** How a handler lays out and names its record array. */
export interface FolioRecordSpec<R> {
  /** The handler's name in the ENOMEM of the `vcalloc` (`"memfd_luo"`, …). */
  readonly name: string;
  /** Fault-injection site of the `vcalloc`. */
  readonly site: string;
  /** Bytes per record. */
  readonly size: number;
  /** Reads the record at byte `at` of `dv`. */
  get(dv: DataView, at: number): R;
  /** Whether folios are undone last first (guest_memfd) rather than first first. */
  readonly lastFirst?: boolean;
}

/** One handler's record array in `kernel`. */
export class FolioRecordArray<R extends { pfn: number }> {
  /** The array of a handler of `kernel`. */
  constructor(readonly kernel: Kernel, readonly spec: FolioRecordSpec<R>) {}

  /**
   * Per folio `kho_preserve_folio` and its record, the records in a `vcalloc`'d array
   * (ENOMEM), `preserveMore`, `kho_preserve_vmalloc` of the array. Every error undoes what the
   * call did.
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
        ops.preserveMore?.(folios);
        try {
          return { array, desc: preserveVmalloc(k, array) };
        } catch (e) {
          ops.unpreserveMore?.(folios);
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
   * `memfd_pin_folios` over the whole file, then {@link FolioRecordArray.preserve}; an error
   * drops the pins. Nothing for a file of size 0.
   */
  preservePinned(file: MemfdFile, ops: FolioRecordOps): PreservedFolios<MemfdFile> {
    if (file.size === 0) return { file, folios: [], array: 0, desc: EMPTY_VMALLOC };
    const folios = file.pinFolios();
    try {
      return { file, folios, ...this.preserve(folios, ops) };
    } catch (e) {
      for (const f of folios) file.unpinFolio(f);
      throw e;
    }
  }

  /**
   * `kho_unpreserve_vmalloc`, `unpreserveMore`, every folio unpreserved (then `each`), the
   * array freed; nothing for a file without folios.
   */
  unpreserve(
    p: PreservedFolios<unknown>,
    ops: Pick<FolioRecordOps, "unpreserveMore"> & { each?(f: ShmemFolio): void } = {},
  ): void {
    if (p.folios.length === 0) return;
    unpreserveVmalloc(this.kernel, p.desc);
    ops.unpreserveMore?.(p.folios);
    this.#unpreserveFolios(p.folios, ops.each);
    this.kernel.vmalloc.vfree(p.array);
  }

  /**
   * `kho_restore_vmalloc` of the array of `ser` and its `nrFolios` records (reading past the
   * area is a page fault oops in `fn`), or null when the array does not restore.
   */
  restore(
    ser: { folios: KhoVmalloc; nrFolios: number },
    fn: string,
  ): { array: number; records: R[] } | null {
    const { kernel: k, spec } = this;
    const array = restoreVmalloc(k, ser.folios);
    if (array === null) return null;
    const bytes = ser.nrFolios * spec.size;
    if (bytes > ser.folios.totalPages * PAGE_SIZE) {
      throw new KernelOops({ address: array + ser.folios.totalPages * PAGE_SIZE, fn }, k.log);
    }
    const b = k.vmalloc.readBytes(array, bytes);
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    const records: R[] = [];
    for (let i = 0; i < ser.nrFolios; i++) records.push(spec.get(dv, i * spec.size));
    return { array, records };
  }

  /**
   * Restores and puts the recorded folios from `from` on (pfn 0 skipped); one that does not
   * restore is skipped (warned under `warn`). `pfnAsPhys`: memfd's bug of that name.
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
      else if (o.warn) k.log.warning(o.warn, `Could not restore folio at ${hex(phys)}`);
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
 * A handler's `preserve`: the file frozen, its struct from `alloc` (`kho_alloc_preserve`),
 * `fill(ser)` (folios preserved, struct written; returns the `private_data`), LUO's reference
 * to the file (`fget`). Every error frees the struct and unfreezes (not after an oops).
 */
export function preserveFile(
  kernel: Kernel,
  args: FileOpArgs,
  alloc: () => number,
  fill: (ser: number) => unknown,
): void {
  const file = args.file as { freeze(on: boolean): void; get(): void };
  file.freeze(true);
  let ser: number;
  try {
    ser = alloc();
  } catch (e) {
    if (!(e instanceof KernelOops)) file.freeze(false);
    throw e;
  }
  try {
    const p = fill(ser);
    file.get(); // LUO's reference to the preserved file (fget in luo_preserve_file)
    args.privateData = p;
    args.serializedData = ser;
  } catch (e) {
    kernel.kho.unpreserveFree(ser);
    file.freeze(false);
    throw e;
  }
}

/**
 * A module's registration with LUO (`fn`): LUO disabled (EOPNOTSUPP) is not an error; another
 * error is logged (`<what>: -E` under `tag`) and thrown.
 */
export function luoRegister(kernel: Kernel, tag: string, what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof KhoError && e.code === "EOPNOTSUPP") return;
    if (e instanceof KhoError) kernel.log.error(tag, `${what}: -${e.code}`);
    throw e;
  }
}

/** `phys_to_virt(serialized_data)` of a `size`-byte struct: a page fault oops if not RAM. */
export function requireSerRam(kernel: Kernel, serPa: number, size: number, fn: string): void {
  if (!kernel.machine.topology.isRam(serPa, size)) { // false for any non-address too
    throw new KernelOops({ address: serPa, fn }, kernel.log);
  }
}
