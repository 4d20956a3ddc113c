/**
 * KHO ABI profiles: one table, in one place, of everything that distinguishes one kernel
 * generation's handover from another's — compat string, property names, tracker, FDT
 * construction style, restore rules and known bugs.
 *
 * @module
 */

/** Names of the profiles kholab implements. */
export type ProfileName = "kho-v2" | "kho-v3" | "kho-v4";

/** The tracker a profile uses. */
export type TrackerKind = "radix";

/** One ABI generation. */
export interface AbiProfile {
  /** Profile name, e.g. `"kho-v4"`. */
  readonly name: ProfileName;
  /** Kernel release that shipped it. */
  readonly kernel: string;
  /** The root FDT `compatible` (checked by exact match in the successor). */
  readonly compat: string;
  /** Root property holding the tracker's physical address. */
  readonly memoryMapProp: "preserved-memory-map";
  /** Sub-node property holding a sub-blob's physical address. */
  readonly subtreeProp: "fdt" | "preserved-data";
  /** Whether sub-nodes carry `blob-size` (kho-v3 on). */
  readonly blobSize: boolean;
  /** Preserved-memory tracker. */
  readonly tracker: TrackerKind;
  /** Root FDT construction: set up at init and edited read-write per sub-tree. */
  readonly fdtStyle: "rw";
  /** Whether `page->private` carries KHO_PAGE_MAGIC. */
  readonly pageMagic: boolean;
  /** Whether the kernel writes and reads the `kexec-metadata` sub-blob (7.1 on). */
  readonly kexecMetadata: boolean;
  /** Whether `kho_preserve_pages` never lets a block span two NUMA nodes (7.1 on). */
  readonly numaAwarePages: boolean;
  /** Largest order `kho_restore_page` accepts (S-7.0c rejects order > MAX_PAGE_ORDER), or null. */
  readonly maxRestoreOrder: number | null;
  /** Known bugs of this generation that the simulation reproduces (see {@link KhoBug}). */
  readonly bugs: readonly KhoBug[];
}

/**
 * Kernel bugs a profile can carry. The current profile carries none.
 *
 * - `subtree-setprop-leak`: `kho_add_subtree` returns the raw libfdt code when `fdt_setprop`
 *   fails and leaves the half-built node in the root FDT (S-7.1c; fixed later in mm).
 * - `int-size-overflow`: the successor's `memblock_reserve` size `1 << (order + PAGE_SHIFT)`
 *   is computed in `int`, so blocks of order ≥ 19 reserve the wrong size (S-7.0c, S-7.1c).
 * - `numa-unpreserve-mismatch`: `kho_preserve_pages` splits blocks at NUMA node boundaries
 *   but `kho_unpreserve_pages` and `kho_restore_pages` use the plain split (S-7.1c).
 */
export type KhoBug = "subtree-setprop-leak" | "int-size-overflow" | "numa-unpreserve-mismatch";

const RADIX_BASE = {
  memoryMapProp: "preserved-memory-map",
  subtreeProp: "preserved-data",
  tracker: "radix",
  fdtStyle: "rw",
  pageMagic: true,
} as const;

/** Every implemented profile, by name. */
export const PROFILES: Readonly<Record<ProfileName, AbiProfile>> = {
  "kho-v2": {
    ...RADIX_BASE,
    name: "kho-v2",
    kernel: "7.0",
    compat: "kho-v2",
    blobSize: false,
    kexecMetadata: false,
    numaAwarePages: false,
    maxRestoreOrder: 10,
    bugs: ["subtree-setprop-leak", "int-size-overflow"],
  },
  "kho-v3": {
    ...RADIX_BASE,
    name: "kho-v3",
    kernel: "7.1",
    compat: "kho-v3",
    blobSize: true,
    kexecMetadata: true,
    numaAwarePages: true,
    maxRestoreOrder: null,
    bugs: ["subtree-setprop-leak", "int-size-overflow", "numa-unpreserve-mismatch"],
  },
  "kho-v4": {
    ...RADIX_BASE,
    name: "kho-v4",
    kernel: "7.2-rc1",
    compat: "kho-v4",
    blobSize: true,
    kexecMetadata: true,
    numaAwarePages: true,
    maxRestoreOrder: null,
    bugs: [],
  },
};

/** The current profile (mainline as of v7.2-rc1). */
export const CURRENT_PROFILE: ProfileName = "kho-v4";

/**
 * Looks a profile up by name.
 *
 * @example
 * ```ts
 * import { getProfile } from "./profiles.ts";
 * console.assert(getProfile("kho-v3").blobSize);
 * ```
 */
export function getProfile(name: string): AbiProfile {
  const p = (PROFILES as Record<string, AbiProfile>)[name];
  if (!p) {
    throw new RangeError(
      `unknown KHO profile "${name}" (known: ${Object.keys(PROFILES).join(", ")})`,
    );
  }
  return p;
}
