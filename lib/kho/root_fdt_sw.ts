/**
 * Root FDTs built with libfdt's sequential-write API, as the older generations did:
 *
 * - {@link FinalizeRootBuilder} (6.16, 6.18): one pass at finalize — `compatible`, the
 *   `preserved-memory-map` placeholder, the sub-nodes the FINALIZE notifiers add (property
 *   `fdt`), then the map value once the tracker is serialized.
 * - {@link OpenRootFdt} (RFC v1): opened at init with `compatible` and
 *   `preserved-order-table`, sub-nodes appended by `kho_add_subtree`, closed by
 *   `kho_commit_fdt` at kexec.
 *
 * @module
 */

import { FdtError, KhoError } from "../errors.ts";
import type { PhysicalMemory } from "../machine/physmem.ts";
import type { AbiProfile } from "./profiles.ts";
import { encodeKhoFdtU64, KHO_FDT_SIZE, KHO_FDT_U64_SIZE } from "./abi/kexec_handover.ts";
import { FdtReader } from "./fdt/reader.ts";
import { FdtWriter, type PlaceholderHandle } from "./fdt/writer.ts";

/** The sub-tree side of a `struct kho_serialization`, as FINALIZE notifiers see it. */
export interface KhoSerialization {
  /** `kho_add_subtree(ser, name, fdt)`: emits `begin_node(name)`, `fdt = phys`, `end_node`. */
  addSubtree(name: string, blobPhys: number): void;
}

/**
 * The root FDT of one 6.16-style finalize, written into the page at `phys`.
 */
export class FinalizeRootBuilder implements KhoSerialization {
  readonly #w: FdtWriter;
  readonly #map: PlaceholderHandle;
  readonly #profile: AbiProfile;
  /** Sub-trees added, in call order. */
  readonly subtrees: { name: string; phys: number }[] = [];

  /** `fdt_create` … `fdt_property_placeholder(preserved-memory-map)`. Throws KhoError ENOMEM. */
  constructor(profile: AbiProfile) {
    this.#profile = profile;
    try {
      this.#w = FdtWriter.create(KHO_FDT_SIZE);
      this.#w.finishReservemap();
      this.#w.beginNode("");
      this.#w.propertyString("compatible", profile.compat);
      this.#map = this.#w.propertyPlaceholder(profile.memoryMapProp, KHO_FDT_U64_SIZE);
    } catch (e) {
      throw new KhoError("ENOMEM", `root FDT: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Adds a sub-node; a libfdt failure is thrown as FdtError (the notifier returns NOTIFY_BAD). */
  addSubtree(name: string, blobPhys: number): void {
    this.#w.beginNode(name);
    this.#w.property(this.#profile.subtreeProp, encodeKhoFdtU64(blobPhys));
    this.#w.endNode();
    this.subtrees.push({ name, phys: blobPhys });
  }

  /** Fills the map, closes the root and writes the page (stale bytes past totalsize included). */
  finish(mem: PhysicalMemory, phys: number, mapPhys: number): void {
    try {
      this.#w.fillPlaceholder(this.#map, encodeKhoFdtU64(mapPhys));
      this.#w.endNode();
      this.#w.finish();
    } catch (e) {
      throw new KhoError("ENOMEM", `root FDT: ${(e as Error).message}`, { cause: e });
    }
    mem.writeBytes(phys, this.#w.finishBuffer());
  }
}

/**
 * RFC v1's root FDT: a sequential-write tree kept open from `kho_init` until
 * `kho_commit_fdt` at kexec.
 */
export class OpenRootFdt {
  /** Physical address of the FDT page. */
  readonly phys: number;
  readonly #w: FdtWriter;
  readonly #mem: PhysicalMemory;
  readonly #profile: AbiProfile;
  readonly #names: string[] = [];
  #committed = false;

  /** `kho_out_fdt_init`: opens the tree with `compatible` and the map value. */
  constructor(
    options: { mem: PhysicalMemory; phys: number; profile: AbiProfile; mapPhys: number },
  ) {
    this.#mem = options.mem;
    this.phys = options.phys;
    this.#profile = options.profile;
    this.#w = FdtWriter.create(KHO_FDT_SIZE);
    this.#w.finishReservemap();
    this.#w.beginNode("");
    this.#w.propertyString("compatible", options.profile.compat);
    const h = this.#w.propertyPlaceholder(options.profile.memoryMapProp, KHO_FDT_U64_SIZE);
    this.#w.fillPlaceholder(h, encodeKhoFdtU64(options.mapPhys));
  }

  /** Whether `kho_commit_fdt` has closed the tree. */
  get committed(): boolean {
    return this.#committed;
  }

  /**
   * RFC v1 `kho_add_subtree(name, fdt)`: appends a sub-node. Errors: ENOMEM when the page is
   * full (the libfdt error), EINVAL after commit. Duplicate names are not detected, as in
   * the posted code.
   */
  addSubtree(name: string, blobPhys: number): void {
    if (this.#committed) throw new KhoError("EINVAL", "kho_add_subtree after kho_commit_fdt");
    try {
      this.#w.beginNode(name);
      this.#w.property(this.#profile.subtreeProp, encodeKhoFdtU64(blobPhys));
      this.#w.endNode();
    } catch (e) {
      if (e instanceof FdtError) {
        throw new KhoError("ENOMEM", `root FDT full: ${e.message}`, { cause: e });
      }
      throw e;
    }
    this.#names.push(name);
  }

  /** `kho_commit_fdt`: closes the root node and writes the finished tree into its page. */
  commit(): void {
    if (this.#committed) return;
    this.#w.endNode();
    this.#w.finish();
    this.#mem.writeBytes(this.phys, this.#w.finishBuffer());
    this.#committed = true;
  }

  /** The committed blob (empty before commit). */
  bytes(): Uint8Array {
    if (!this.#committed) return new Uint8Array(0);
    const page = this.#mem.readBytes(this.phys, KHO_FDT_SIZE);
    return page.slice(0, new FdtReader(page).header("totalsize"));
  }

  /** Sub-tree names in call order. */
  subtreeNames(): string[] {
    return [...this.#names];
  }
}
