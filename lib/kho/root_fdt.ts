/**
 * The outgoing root FDT, built and edited exactly as the kernel does from 6.19 on: created
 * once at `kho_init` with libfdt's sequential-write API in a preserved 4 KiB page
 * (`compatible`, `preserved-memory-map`), then edited read-write in place per sub-tree
 * (`fdt_open_into` … `fdt_add_subnode` … `fdt_setprop` … `fdt_pack`).
 *
 * @module
 */

import { FdtError, KhoError } from "../errors.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { AbiProfile } from "./profiles.ts";
import {
  decodeKhoFdtU64,
  encodeKhoFdtU64,
  KHO_FDT_SIZE,
  KHO_SUB_TREE_SIZE_PROP_NAME,
} from "./abi/kexec_handover.ts";
import { FdtEditor } from "./fdt/editor.ts";
import { FdtReader } from "./fdt/reader.ts";
import { FdtWriter } from "./fdt/writer.ts";

/**
 * The root FDT page of the outgoing kernel, in simulated memory at `phys`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RootFdt } from "./root_fdt.ts";
 * import { PhysicalMemory } from "../machine/physmem.ts";
 * import { getProfile } from "./profiles.ts";
 * const mem = new PhysicalMemory(2 ** 30);
 * const root = RootFdt.setup({ mem, phys: 0x10000, profile: getProfile("kho-v4"), mapPhys: 0x123456000 });
 * root.addSubtree("kexec-metadata", 0x1000, 73);
 * assert.equal(root.bytes().length, 233);
 * ```
 */
export class RootFdt {
  /** Physical address of the FDT page. */
  readonly phys: number;
  readonly #mem: PhysicalMemory;
  readonly #profile: AbiProfile;

  private constructor(mem: PhysicalMemory, phys: number, profile: AbiProfile) {
    this.#mem = mem;
    this.phys = phys;
    this.#profile = profile;
  }

  /**
   * `kho_out_fdt_setup`: writes the initial root into the page at `phys` with
   * `compatible = profile.compat` and `preserved-memory-map = mapPhys` (native-endian u64).
   */
  static setup(
    options: { mem: PhysicalMemory; phys: number; profile: AbiProfile; mapPhys: number },
  ): RootFdt {
    const { mem, phys, profile, mapPhys } = options;
    const w = FdtWriter.create(KHO_FDT_SIZE);
    w.finishReservemap();
    w.beginNode("");
    w.propertyString("compatible", profile.compat);
    w.property(profile.memoryMapProp, encodeKhoFdtU64(mapPhys));
    w.endNode();
    w.finish();
    mem.writeBytes(phys, w.finishBuffer());
    return new RootFdt(mem, phys, profile);
  }

  /** The page's whole buffer (stale bytes past totalsize included). */
  #page(): Uint8Array {
    return this.#mem.readBytes(this.phys, KHO_FDT_SIZE);
  }

  /** The blob: the first `totalsize` bytes. */
  bytes(): Uint8Array {
    const page = this.#page();
    return page.slice(0, new FdtReader(page).header("totalsize"));
  }

  /**
   * `kho_add_subtree(name, blob, size)`: adds a sub-node carrying the blob's physical address
   * (and, from kho-v3 on, its size). Errors as the kernel: `EEXIST` for a duplicate name,
   * `ENOMEM` when the 4 KiB root is full or cannot be opened. When setting a property fails
   * after the node was added, profiles with the `subtree-setprop-leak` bug leave the
   * half-built node in place and throw the raw libfdt error (as S-7.1c); others remove it
   * and throw `ENOMEM`.
   */
  addSubtree(name: string, blobPhys: number, size: number): void {
    let ed: FdtEditor;
    try {
      ed = FdtEditor.wrap(this.#page());
      ed.openInto(KHO_FDT_SIZE);
    } catch (e) {
      throw new KhoError("ENOMEM", `cannot open the root FDT: ${(e as Error).message}`, {
        cause: e,
      });
    }
    let off: number;
    try {
      off = ed.addSubnode(0, name);
    } catch (e) {
      if (e instanceof FdtError && e.code === "FDT_ERR_EXISTS") {
        throw new KhoError("EEXIST", `sub-tree "${name}" already exists`, { cause: e });
      }
      throw new KhoError("ENOMEM", `cannot add sub-tree "${name}": ${(e as Error).message}`, {
        cause: e,
      });
    }
    try {
      ed.setprop(off, this.#profile.subtreeProp, encodeKhoFdtU64(blobPhys));
      if (this.#profile.blobSize) {
        ed.setprop(off, KHO_SUB_TREE_SIZE_PROP_NAME, encodeKhoFdtU64(size));
      }
    } catch (e) {
      if (this.#profile.bugs.includes("subtree-setprop-leak")) {
        ed.pack();
        this.#mem.writeBytes(this.phys, ed.buffer());
        const code = e instanceof FdtError ? e.fdtErrno : -1;
        throw new KhoSubtreeLeakError(name, code, e);
      }
      throw new KhoError(
        "ENOMEM",
        `cannot set properties of sub-tree "${name}": ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    ed.pack();
    this.#mem.writeBytes(this.phys, ed.buffer());
  }

  /**
   * `kho_remove_subtree(blob)`: `fdt_open_into` the root, delete the first sub-node whose blob
   * address equals `blobPhys` (silently nothing if there is none), then `fdt_pack` — always,
   * so even a call that removes nothing re-lays a root still in its sequential-write layout
   * (6.19, 7.0: no sub-tree added yet; S-6.19c, S-7.1c). Returns whether a node was removed.
   */
  removeSubtree(blobPhys: number): boolean {
    const ed = FdtEditor.wrap(this.#page());
    ed.openInto(KHO_FDT_SIZE);
    const rd = ed.reader();
    let removed = false;
    for (const off of rd.subnodes(0)) {
      const v = rd.getprop(off, this.#profile.subtreeProp);
      if (decodeKhoFdtU64(v) === blobPhys) {
        ed.delNode(off);
        removed = true;
        break;
      }
    }
    ed.pack();
    this.#mem.writeBytes(this.phys, ed.buffer());
    return removed;
  }

  /** Sub-tree names in blob order (most recently added first). */
  subtreeNames(): string[] {
    const rd = new FdtReader(this.bytes());
    return rd.subnodes(0).map((o) => rd.getName(o));
  }

  /** Rewrites `preserved-memory-map` in place (same length, as `put_unaligned`). */
  setMemoryMap(mapPhys: number): void {
    const ed = FdtEditor.wrap(this.#page());
    ed.setpropInplace(0, this.#profile.memoryMapProp, encodeKhoFdtU64(mapPhys));
    this.#mem.writeBytes(this.phys, ed.buffer());
  }
}

/**
 * `kho_add_subtree` failed in `fdt_setprop` and, as in S-7.1c, returned the raw negative
 * libfdt code with the half-built node left in the root FDT. Reported as a KhoError whose
 * errno name is the closest kernel one (ENOMEM) and whose `libfdtCode` is the raw value.
 */
export class KhoSubtreeLeakError extends KhoError {
  /** The raw negative libfdt return value the kernel passed through (e.g. -3). */
  readonly libfdtCode: number;
  /** Creates the error for sub-tree `name`. */
  constructor(name: string, libfdtCode: number, cause: unknown) {
    super(
      "ENOMEM",
      `fdt_setprop failed (${libfdtCode}) for sub-tree "${name}"; half-built node left in place`,
      {
        cause,
      },
    );
    this.name = "KhoSubtreeLeakError";
    this.libfdtCode = libfdtCode;
  }
}
