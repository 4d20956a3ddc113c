/**
 * KHO ABI profiles: one table, in one place, of everything that distinguishes one kernel
 * generation's (or proposal's) handover from another's — compat string, property names,
 * tracker, FDT construction style, finalize rules, the API that exists, restore rules and
 * known bugs.
 *
 * The ABI names a profile carries (compat, property names) come from `abi/kexec_handover.ts`.
 *
 * @module
 */

import {
  KHO_FDT_COMPATIBLE_V1,
  KHO_FDT_COMPATIBLE_V2,
  KHO_FDT_COMPATIBLE_V3,
  KHO_FDT_COMPATIBLE_V4,
  KHO_FDT_MEMORY_MAP_PROP_NAME,
  KHO_FDT_ORDER_TABLE_PROP_NAME,
  KHO_FDT_SUB_TREE_PROP_NAME_V1,
  KHO_SUB_TREE_PROP_NAME,
} from "./abi/kexec_handover.ts";
import { KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED } from "./abi/rfc_page_type.ts";
import {
  LUO_ABI_COMPATIBLE,
  LUO_FDT_COMPATIBLE,
  LUO_FDT_FLB_COMPATIBLE,
  LUO_FDT_SESSION_COMPATIBLE,
} from "./abi/luo.ts";

/** Names of the profiles kholab implements, oldest first. */
export const PROFILE_NAMES = [
  "kho-v1-6.16",
  "kho-v1-6.18",
  "kho-v1-6.19",
  "rfc-v1-order-table",
  "kho-v2",
  "kho-v3",
  "kho-v4",
  "rfc-2026-page-type",
  "rfc-2026-page-type-fixed",
] as const;

/** A profile name. */
export type ProfileName = typeof PROFILE_NAMES[number];

/** The preserved-memory tracker a profile uses. */
export type TrackerKind =
  | "xarray-512"
  | "xarray-4k"
  | "order-table"
  | "radix"
  | "radix-typed"
  | "radix-typed-fixed";

/**
 * How the outgoing root FDT is built.
 *
 * - `sw-finalize`: nothing until finalize, then one sequential-write pass with the memory
 *   map placeholder and the sub-nodes the FINALIZE notifiers add (6.16, 6.18).
 * - `sw-open`: a sequential-write FDT opened at init with the map property, sub-nodes
 *   appended by `kho_add_subtree`, closed by `kho_commit_fdt` at kexec (RFC v1).
 * - `rw`: written once at init, then edited read-write per sub-tree (6.19 on).
 */
export type FdtStyle = "sw-finalize" | "sw-open" | "rw";

/**
 * The finalize state machine: `notifier` (6.16–6.18: finalize/abort with EEXIST/ENOENT,
 * EBUSY on preserve while finalized, abort destroys every preservation), `repeatable` (6.19:
 * finalize re-serializes and rewrites the map in place; no abort), `none` (stateless).
 */
export type FinalizeStyle = "notifier" | "repeatable" | "none";

/** Restore semantics of `kho_restore_folio` / `kho_restore_pages` by era. */
export type RestoreRules = "6.16" | "6.18" | "current";

/** KHO API functions, for availability per profile. */
export type KhoApi =
  | "preserveFolio"
  | "preservePhys"
  | "preservePages"
  | "unpreserveFolio"
  | "unpreservePages"
  | "unpreservePhys"
  | "preserveVmalloc"
  | "unpreserveVmalloc"
  | "allocPreserve"
  | "removeSubtree"
  | "restorePages"
  | "splitPreservedPages";

/**
 * Kernel bugs a profile can carry and reproduce: a profile is the kernel as released.
 *
 * - `subtree-setprop-leak`: `kho_add_subtree` returns the raw libfdt code when `fdt_setprop`
 *   fails and leaves the half-built node in the root FDT (S-7.1c; fixed later in mm).
 * - `int-size-overflow`: the successor's `memblock_reserve` size `1 << (order + PAGE_SHIFT)`
 *   is computed in `int`, so blocks of order ≥ 19 reserve the wrong size (S-7.0c, S-7.1c).
 * - `numa-unpreserve-mismatch`: `kho_preserve_pages` splits blocks at NUMA node boundaries
 *   but `kho_unpreserve_pages` and `kho_restore_pages` use the plain split (S-7.1c).
 * - `unpreserve-hang`: `__kho_unpreserve` hits `continue` without advancing on a missing
 *   order or bitmap, an endless loop (6.16 until b05addf6f059). kholab detects the lockup
 *   and reports it as a `KhoHangError` instead of hanging.
 * - `restore-folio-no-refcount`: 6.16's `kho_restore_folio` only calls `prep_compound_page`
 *   for order > 0 (no refcounts) and never clears the stamp, so never-preserved memory and
 *   second restores are not detected.
 * - `vmalloc-same-head-page`, `vmalloc-chunk-overrun`, `vmalloc-unpreserve-order`: the three
 *   vmalloc preservation bugs fixed after merge (kho-facts §6.4).
 * - `vmalloc-unwind-unset-order`: the error path of `kho_preserve_vmalloc` unpreserves with the
 *   descriptor's `order` not yet set (0), so blocks of a huge-vmap area stay preserved.
 * - `order-table-no-slot`: RFC v1's order table has slots for orders 0..9 only; blocks of
 *   higher order are written past the table and never walked by the successor.
 * - `page-type-lost`: the 2026 page-type RFC puts the type in key bit 63, which a six-level
 *   tree never indexes, so the successor cannot tell CONTIG from SPLIT blocks.
 * - `luo-dup-session-empty-block`: 7.2's `luo_session_insert` grows the outgoing session
 *   block set before its duplicate-name scan and returns EEXIST without shrinking, so a
 *   duplicate name while the last block is full leaves an empty block linked at the tail;
 *   serialized as is, the successor's `kho_block_set_restore` rejects its count 0 and
 *   `luo_early_startup` panics (luo-hugetlb-facts §6.5; found by reading the code, not reported).
 */
export type KhoBug =
  | "subtree-setprop-leak"
  | "int-size-overflow"
  | "numa-unpreserve-mismatch"
  | "unpreserve-hang"
  | "restore-folio-no-refcount"
  | "vmalloc-same-head-page"
  | "vmalloc-chunk-overrun"
  | "vmalloc-unpreserve-order"
  | "vmalloc-unwind-unset-order"
  | "order-table-no-slot"
  | "page-type-lost"
  | "luo-dup-session-empty-block";

/**
 * The Live Update Orchestrator of a kernel generation (luo-hugetlb-facts §2.4, §2.9): the form
 * of its `"LUO"` KHO sub-blob and where sessions and files are kept.
 */
export interface LuoGeneration {
  /**
   * The `"LUO"` blob: `fdt` — the luo-v1 FDT of 6.19–7.1 (`liveupdate-number`, a
   * `luo-session` node, from 7.0 a `luo-flb` node); `luo-ser` — 7.2's raw 32-byte
   * `struct luo_ser` ("luo-v5").
   */
  readonly blob: "fdt" | "luo-ser";
  /** The blob's compatible: `"luo-v1"` or `"luo-v5"`. */
  readonly compat: string;
  /** FDT era: compatible of the `luo-session` node (`"luo-session-v2"`); null for luo-v5. */
  readonly sessionCompat: string | null;
  /** FDT era: compatible of the `luo-flb` node (`"luo-flb-v1"`); null without one. */
  readonly flbCompat: string | null;
  /** Whether file-lifecycle-bound objects exist (one page of `luo_flb_ser`, 7.0 on). */
  readonly flb: boolean;
  /**
   * Session and file storage: `contiguous` — one 16-page session array and a 2-page file
   * array per session (819 sessions, 128 files; 6.19–7.1); `kho-block` — kho_block chains
   * (7.2).
   */
  readonly store: "contiguous" | "kho-block";
  /** Whether `liveupdate_reboot` ends with `kho_finalize` (6.19; an error becomes EAGAIN). */
  readonly finalizeAtReboot: boolean;
  /** Whether preserving a file already preserved (any session) gives EBUSY (`xa_insert`). */
  readonly doublePreserveCheck: boolean;
}

const LUO_6_19: LuoGeneration = {
  blob: "fdt",
  compat: LUO_FDT_COMPATIBLE,
  sessionCompat: LUO_FDT_SESSION_COMPATIBLE,
  flbCompat: null,
  flb: false,
  store: "contiguous",
  finalizeAtReboot: true,
  doublePreserveCheck: false,
};
const LUO_7_0: LuoGeneration = {
  ...LUO_6_19,
  flbCompat: LUO_FDT_FLB_COMPATIBLE,
  flb: true,
  finalizeAtReboot: false,
  doublePreserveCheck: true,
};
const LUO_7_2: LuoGeneration = {
  blob: "luo-ser",
  compat: LUO_ABI_COMPATIBLE,
  sessionCompat: null,
  flbCompat: null,
  flb: true,
  store: "kho-block",
  finalizeAtReboot: false,
  doublePreserveCheck: true,
};

/** One ABI generation or proposal. */
export interface AbiProfile {
  /** Profile name, e.g. `"kho-v4"`. */
  readonly name: ProfileName;
  /** Kernel release (or series) that has it. */
  readonly kernel: string;
  /** One-line description. */
  readonly summary: string;
  /** The root FDT `compatible` (checked by exact match in the successor). */
  readonly compat: string;
  /** Root property holding the tracker's physical address. */
  readonly memoryMapProp: "preserved-memory-map" | "preserved-order-table";
  /** Sub-node property holding a sub-blob's physical address. */
  readonly subtreeProp: "fdt" | "preserved-data";
  /** Whether sub-nodes carry `blob-size` (kho-v3 on). */
  readonly blobSize: boolean;
  /** Preserved-memory tracker. */
  readonly tracker: TrackerKind;
  /** Root FDT construction. */
  readonly fdtStyle: FdtStyle;
  /** Finalize state machine. */
  readonly finalize: FinalizeStyle;
  /** Whether `page->private` carries KHO_PAGE_MAGIC. */
  readonly pageMagic: boolean;
  /** Restore semantics. */
  readonly restoreRules: RestoreRules;
  /** Whether the kernel writes and reads the `kexec-metadata` sub-blob (7.1 on). */
  readonly kexecMetadata: boolean;
  /** Whether `kho_preserve_pages` never lets a block span two NUMA nodes (7.1 on). */
  readonly numaAwarePages: boolean;
  /** Largest order `kho_restore_page` accepts, or null for no limit. */
  readonly maxRestoreOrder: number | null;
  /** Whether the successor restores its own incoming FDT folio at boot (6.16). */
  readonly restoresOwnFdt: boolean;
  /** Whether 6.18/6.19's debug check rejects tracker metadata pages inside scratch. */
  readonly metadataScratchCheck: boolean;
  /** KHO functions this kernel has (the others give EOPNOTSUPP). */
  readonly api: readonly KhoApi[];
  /** The Live Update Orchestrator this kernel has, or null (before 6.19, RFC v1). */
  readonly luo: LuoGeneration | null;
  /** Known bugs of this generation that the simulation reproduces. */
  readonly bugs: readonly KhoBug[];
}

const API_6_16: KhoApi[] = ["preserveFolio", "preservePhys", "unpreservePhys"];
const API_6_18: KhoApi[] = [
  "preserveFolio",
  "preservePages",
  "unpreservePages",
  "preserveVmalloc",
  "restorePages",
];
const API_6_19: KhoApi[] = [
  "preserveFolio",
  "preservePages",
  "unpreserveFolio",
  "unpreservePages",
  "preserveVmalloc",
  "unpreserveVmalloc",
  "allocPreserve",
  "removeSubtree",
  "restorePages",
];
const API_RFC_V1: KhoApi[] = ["preserveFolio", "preservePhys"];

const XARRAY_ERA = {
  compat: KHO_FDT_COMPATIBLE_V1,
  memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
  subtreeProp: KHO_FDT_SUB_TREE_PROP_NAME_V1,
  blobSize: false,
  kexecMetadata: false,
  numaAwarePages: false,
  restoresOwnFdt: false,
} as const;

const RADIX_ERA = {
  memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
  subtreeProp: KHO_SUB_TREE_PROP_NAME,
  fdtStyle: "rw",
  finalize: "none",
  pageMagic: true,
  restoreRules: "current",
  restoresOwnFdt: false,
  metadataScratchCheck: false,
  api: API_6_19,
} as const;

/** Every implemented profile, by name. */
export const PROFILES: Readonly<Record<ProfileName, AbiProfile>> = {
  "kho-v1-6.16": {
    ...XARRAY_ERA,
    name: "kho-v1-6.16",
    kernel: "6.16",
    summary: "xarray of 512-byte bitmaps, serialized at finalize; notifiers; finalize/abort",
    tracker: "xarray-512",
    fdtStyle: "sw-finalize",
    finalize: "notifier",
    pageMagic: false,
    restoreRules: "6.16",
    maxRestoreOrder: null,
    restoresOwnFdt: true,
    metadataScratchCheck: false,
    api: API_6_16,
    luo: null,
    bugs: ["unpreserve-hang", "restore-folio-no-refcount"],
  },
  "kho-v1-6.18": {
    ...XARRAY_ERA,
    name: "kho-v1-6.18",
    kernel: "6.18",
    summary: "xarray of 4 KiB bitmaps; notifiers; KHO_PAGE_MAGIC; vmalloc with its early bugs",
    tracker: "xarray-4k",
    fdtStyle: "sw-finalize",
    finalize: "notifier",
    pageMagic: true,
    restoreRules: "6.18",
    maxRestoreOrder: 10,
    metadataScratchCheck: true,
    api: API_6_18,
    luo: null,
    bugs: [
      "unpreserve-hang",
      "vmalloc-same-head-page",
      "vmalloc-chunk-overrun",
      "vmalloc-unpreserve-order",
    ],
  },
  "kho-v1-6.19": {
    ...XARRAY_ERA,
    name: "kho-v1-6.19",
    kernel: "6.19",
    summary: "xarray of 4 KiB bitmaps; no notifiers; repeatable finalize; read-write FDT",
    tracker: "xarray-4k",
    fdtStyle: "rw",
    finalize: "repeatable",
    pageMagic: true,
    restoreRules: "current",
    maxRestoreOrder: 10,
    metadataScratchCheck: true,
    api: API_6_19,
    luo: LUO_6_19,
    bugs: [],
  },
  "rfc-v1-order-table": {
    ...XARRAY_ERA,
    name: "rfc-v1-order-table",
    kernel: "RFC v1 (2025-09)",
    summary: "per-order page tables of 128 MiB bitmaps; stateless; preserved-order-table",
    memoryMapProp: KHO_FDT_ORDER_TABLE_PROP_NAME,
    tracker: "order-table",
    fdtStyle: "sw-open",
    finalize: "none",
    pageMagic: false,
    restoreRules: "6.16",
    maxRestoreOrder: null,
    metadataScratchCheck: false,
    api: API_RFC_V1,
    luo: null,
    bugs: ["order-table-no-slot", "restore-folio-no-refcount"],
  },
  "kho-v2": {
    ...RADIX_ERA,
    name: "kho-v2",
    kernel: "7.0",
    summary: "unified radix tree, stateless; preserved-data",
    compat: KHO_FDT_COMPATIBLE_V2,
    tracker: "radix",
    blobSize: false,
    kexecMetadata: false,
    numaAwarePages: false,
    maxRestoreOrder: 10,
    luo: LUO_7_0,
    bugs: ["subtree-setprop-leak", "int-size-overflow"],
  },
  "kho-v3": {
    ...RADIX_ERA,
    name: "kho-v3",
    kernel: "7.1",
    summary: "radix tree; blob-size; kexec-metadata; NUMA-aware page split",
    compat: KHO_FDT_COMPATIBLE_V3,
    tracker: "radix",
    blobSize: true,
    kexecMetadata: true,
    numaAwarePages: true,
    maxRestoreOrder: null,
    luo: LUO_7_0,
    bugs: ["subtree-setprop-leak", "int-size-overflow", "numa-unpreserve-mismatch"],
  },
  "kho-v4": {
    ...RADIX_ERA,
    name: "kho-v4",
    kernel: "7.2-rc1",
    summary: "current: radix tree; kho_block chains for LUO sessions and files (luo-v5)",
    compat: KHO_FDT_COMPATIBLE_V4,
    tracker: "radix",
    blobSize: true,
    kexecMetadata: true,
    numaAwarePages: true,
    maxRestoreOrder: null,
    luo: LUO_7_2,
    bugs: ["luo-dup-session-empty-block"],
  },
  "rfc-2026-page-type": {
    ...RADIX_ERA,
    name: "rfc-2026-page-type",
    kernel: "RFC 2026-07",
    summary: "unsplit high-order pages: CONTIG/SPLIT type in key bit 63, as posted",
    compat: KHO_FDT_COMPATIBLE_V4,
    tracker: "radix-typed",
    blobSize: true,
    kexecMetadata: true,
    numaAwarePages: true,
    maxRestoreOrder: null,
    api: [...API_6_19, "splitPreservedPages"],
    luo: LUO_7_2,
    bugs: ["page-type-lost", "luo-dup-session-empty-block"],
  },
  "rfc-2026-page-type-fixed": {
    ...RADIX_ERA,
    name: "rfc-2026-page-type-fixed",
    kernel: "RFC 2026-07 + fix",
    summary:
      "unsplit high-order pages, type in key bit 53 (indexed); new compat: old kernels cannot decode SPLIT keys",
    compat: KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED,
    tracker: "radix-typed-fixed",
    blobSize: true,
    kexecMetadata: true,
    numaAwarePages: true,
    maxRestoreOrder: null,
    api: [...API_6_19, "splitPreservedPages"],
    luo: LUO_7_2,
    bugs: ["luo-dup-session-empty-block"],
  },
};

/** The current profile (mainline as of v7.2-rc1). */
export const CURRENT_PROFILE: ProfileName = "kho-v4";

/**
 * Looks a profile up by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile } from "./profiles.ts";
 * assert.equal(getProfile("kho-v3").blobSize, true);
 * assert.equal(getProfile("kho-v1-6.16").blobSize, false);
 * ```
 */
export function getProfile(name: string): AbiProfile {
  const p = (PROFILES as Record<string, AbiProfile>)[name];
  if (!p) {
    throw new RangeError(`unknown KHO profile "${name}" (known: ${PROFILE_NAMES.join(", ")})`);
  }
  return p;
}

/**
 * `uname -r` of a kernel of this profile, as the kernel's Makefile builds `KERNELRELEASE`
 * (`VERSION.PATCHLEVEL.SUBLEVEL` then `EXTRAVERSION`, e.g. `7.2.0-rc1`) with the local
 * version `-kholab`. A proposal's series has no release of its own: its release is the
 * profile name with `-kholab` (no base kernel is invented for it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile, kernelRelease } from "./profiles.ts";
 * assert.equal(kernelRelease(getProfile("kho-v4")), "7.2.0-rc1-kholab");
 * assert.equal(kernelRelease(getProfile("kho-v1-6.16")), "6.16.0-kholab");
 * assert.equal(kernelRelease(getProfile("rfc-v1-order-table")), "rfc-v1-order-table-kholab");
 * ```
 */
export function kernelRelease(profile: AbiProfile): string {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(-rc\d+)?$/.exec(profile.kernel);
  if (m === null) return `${profile.name}-kholab`;
  return `${m[1]}.${m[2]}.${m[3] ?? "0"}${m[4] ?? ""}-kholab`;
}

/** Whether a profile has an API function. */
export function hasApi(profile: AbiProfile, fn: KhoApi): boolean {
  return profile.api.includes(fn);
}
