/**
 * KHO ABI profiles: one table, in one place, of everything that distinguishes one kernel
 * generation's (or proposal's) handover from another's — compat string, property names,
 * tracker, FDT construction style, finalize rules, the API that exists, restore rules and
 * known bugs.
 *
 * The ABI names a profile carries (compat, property names) come from `abi/kexec_handover.ts`.
 * A profile is the kernel as released, its bugs included and named ({@link KhoBug}). The
 * fixes that are posted, in the mm tree, or kholab's own where none is posted are data
 * ({@link KhoFix}, {@link KHO_FIXES}); a `+fixes` variant ({@link withFixes}) is its base with
 * a list of fixes applied: the same compat string and ABI (a fix does not change what crosses
 * kexec), the bugs they remove gone, and the fixes listed with their sources.
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
import {
  MEMFD_LUO_FH_COMPATIBLE_V1,
  MEMFD_LUO_FH_COMPATIBLE_V2,
  type MemfdLuoCompat,
} from "./abi/memfd.ts";

/** Names of the profiles kholab implements, oldest first; a `+fixes` variant after its base. */
export const PROFILE_NAMES = [
  "kho-v1-6.16",
  "kho-v1-6.18",
  "kho-v1-6.19",
  "rfc-v1-order-table",
  "kho-v2",
  "kho-v3",
  "kho-v4",
  "kho-v4+fixes",
  "rfc-2026-page-type",
  "rfc-2026-page-type-fixed",
  "rfc-2025-12-hugetlb",
  "rfc-2026-ext-scratch",
  "rfc-2026-guest-memfd",
  "rfc-2026-guest-memfd-hugetlb-assumed",
] as const;

/** The name of a built-in profile. */
export type BuiltinProfileName = typeof PROFILE_NAMES[number];

/**
 * A profile name: a built-in one, or one registered by a design (`defineProfile` in
 * `lib/design/`; {@link registerProfile}).
 */
export type ProfileName = BuiltinProfileName | (string & Record<never, never>);

/** The tracker kinds of the built-in profiles and formats (`trackers/registry.ts`). */
export type BuiltinTrackerKind =
  | "xarray-512"
  | "xarray-4k"
  | "order-table"
  | "radix"
  | "radix-typed"
  | "radix-typed-fixed"
  | "radix-jgg";

/**
 * The preserved-memory tracker a profile uses: a kind in the table of tracker formats, built
 * in or registered by a design (`defineTracker`).
 */
export type TrackerKind = BuiltinTrackerKind | (string & Record<never, never>);

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
 * Live in the newest code (luo-hugetlb-facts §6, read at linux-mm @ 65660710 and S-7.1c):
 * - `int-size-overflow`: the successor's reservation computes `1 << (order + PAGE_SHIFT)` in
 *   `int` (`int sz` in `deserialize_bitmap` since 6.16 and in RFC v1's `kho_memblock_reserve`;
 *   `u64 sz = 1 << …` in `kho_preserved_memory_reserve` from 7.0), so a block of order 19
 *   reserves from its start to the end of memory (INT_MIN sign-extended, capped by
 *   `memblock_reserve`) and orders ≥ 20 shift modulo 32 (order 20 → 1 byte) (luo-hugetlb-facts §6.2).
 * - `numa-restore-mismatch`: `kho_restore_pages` splits the range without the NUMA rule that
 *   `kho_preserve_pages` applies (7.1 on), so a range that preserve cut at a node boundary is
 *   walked with a larger computed order: each block initialises the pages of its stamped
 *   order, the loop advances by the computed one, the blocks skipped stay stamped and
 *   unrestored, and the call returns success (luo-hugetlb-facts §6.1).
 * - `vmalloc-unwind-unset-order`: `kho_preserve_vmalloc`'s error path calls
 *   `kho_unpreserve_vmalloc(preservation)` before `preservation->order` is set, so the blocks of
 *   a huge (order-9) area are deleted as order-0 keys and stay preserved (luo-hugetlb-facts §6.3; 6.19 on, where
 *   unpreserve uses the descriptor's order).
 * - `numa-unpreserve-mismatch`: `__kho_unpreserve` (unpreserve and the rollback of a failed
 *   `kho_preserve_pages`) uses the plain split, so blocks that preserve cut at a node boundary
 *   are not the ones deleted (kho-facts §5.1; fixed by the 2026-05-19 patch, see
 *   {@link KHO_FIXES}).
 * - `subtree-setprop-leak`: `kho_add_subtree` returns the raw libfdt code when `fdt_setprop`
 *   fails and leaves the half-built node in the root FDT (6.19 … S-7.1c; cleaned up in the mm
 *   tree).
 * - `kdump-kho-active`: nothing stops KHO in a kdump kernel — a cold kdump boot reserves scratch
 *   like any kernel, and `kho_fill_kimage` hands the crashed kernel's FDT and scratch array to a
 *   crash image (only `kho_locate_mem_hole` skips crash images). The mm tree disables KHO in the
 *   kdump kernel and skips crash images in `kho_fill_kimage` (luo-hugetlb-facts §5.5).
 * - `luo-dup-session-empty-block`: 7.2's `luo_session_insert` grows the outgoing session
 *   block set before its duplicate-name scan and returns EEXIST without shrinking, so a
 *   duplicate name while the last block is full leaves an empty block linked at the tail;
 *   serialized as is, the successor's `kho_block_set_restore` rejects its count 0 and
 *   `luo_early_startup` panics (luo-hugetlb-facts §6.5; found by reading the code, not reported).
 * - `memfd-retrieve-lost-errno`: `memfd_luo_retrieve_folios` starts with `err = -EIO`, which
 *   every successful folio overwrites with 0, so a later `kho_restore_folio` failure returns 0:
 *   the retrieve succeeds with a hole from that folio on (luo-hugetlb-facts §6.4, the first
 *   defect). Fixed only in linux-mm @ fb2257f1 (`err = -EIO` before `goto put_folios`; the
 *   patch and its mainline status are **[UNVERIFIED]**), so every release with LUO keeps it.
 * - `memfd-acct-one-block`: the retrieve charges `shmem_inode_acct_blocks(inode, 1)` per folio
 *   whatever its size, so a file of 2 MiB folios comes back with 1/512 of its blocks
 *   accounted (luo-hugetlb-facts §3.4). Fixed by "mm/memfd: use folio_nr_pages() for shmem
 *   inode accounting", in linux-mm @ fb2257f1 (mainline status **[UNVERIFIED]**).
 *
 * Fixed in later releases:
 * - `unpreserve-hang`: `__kho_unpreserve` hits `continue` without advancing on a missing
 *   order or bitmap, an endless loop (6.16 until b05addf6f059). kholab detects the lockup
 *   and reports it as a `KhoHangError` instead of hanging.
 * - `restore-folio-no-refcount`: 6.16's `kho_restore_folio` only calls `prep_compound_page`
 *   for order > 0 (no refcounts) and never clears the stamp, so never-preserved memory and
 *   second restores are not detected.
 * - `vmalloc-same-head-page`, `vmalloc-chunk-overrun`, `vmalloc-unpreserve-order`: the three
 *   vmalloc preservation bugs fixed after merge (kho-facts §6.4).
 * - `memfd-flags-sampled`: 6.19's `memfd_luo_preserve_folios` records DIRTY/UPTODATE as the
 *   folios have them at preserve, so a fallocated folio written after preserve comes back not
 *   uptodate and reads as zeros (a lost write). Fixed by "mm: memfd_luo: always make all
 *   folios uptodate" (Pratyush Yadav, 2026-02-23, mm-hotfixes-stable: every folio zeroed if
 *   needed, marked uptodate and dirty, recorded as 0x3); in 7.0 **[UNVERIFIED]**
 *   (luo-hugetlb-facts §3.3, step 5e).
 * - `memfd-put-folios-pfn-as-phys`: the retrieve's error cleanup calls
 *   `kho_restore_folio(pfolio->pfn)` — a PFN where a physical address belongs, without the
 *   `!pfn` skip — so the folios after the failed one are never restored and stay reserved
 *   (luo-hugetlb-facts §6.4, the second defect). Fixed by 3538f90ab89a "mm/memfd_luo: fix
 *   physical address conversion in put_folios cleanup" (Chenghao Duan; Cc stable, queued for
 *   7.0.4), hence in 7.1.
 *
 * Of proposals:
 * - `order-table-no-slot`: RFC v1's order table has slots for orders 0..9 only; blocks of
 *   higher order are written past the table and never walked by the successor.
 * - `gmem-uptodate-sampled`: the guest_memfd series (as read, luo-hugetlb-facts §4.4) records
 *   GUEST_MEMFD_LUO_FOLIO_UPTODATE as each folio has it at PRESERVE_FD, and the frozen file
 *   still takes writes to folios already present until the reboot: a fallocated folio first
 *   written after preserve comes back not uptodate and reads as zeros — the defect memfd_luo
 *   had (`memfd-flags-sampled`) and fixed by always making folios uptodate. **[DERIVED]** from
 *   the code; not reported anywhere found.
 * - `page-type-lost`: the 2026 page-type RFC puts the type in key bit 63, which a six-level
 *   tree never indexes, so the successor cannot tell CONTIG from SPLIT blocks.
 * - `hugetlb-alloc-preserve-err-ptr`: the HugeTLB live update RFC (2025-12-07) tests
 *   `if (!ser)` after `kho_alloc_preserve()` in `hugetlb_flb_preserve` and `hugemfd_preserve`,
 *   but `kho_alloc_preserve` returns an `ERR_PTR` and never NULL: on an allocation failure the
 *   error pointer is written through — a page fault oops at 0xfffffffffffffff4
 *   (luo-hugetlb-facts §4.3, **[DERIVED]** code quirk).
 */
export type KhoBug =
  | "subtree-setprop-leak"
  | "int-size-overflow"
  | "numa-unpreserve-mismatch"
  | "numa-restore-mismatch"
  | "kdump-kho-active"
  | "unpreserve-hang"
  | "restore-folio-no-refcount"
  | "vmalloc-same-head-page"
  | "vmalloc-chunk-overrun"
  | "vmalloc-unpreserve-order"
  | "vmalloc-unwind-unset-order"
  | "order-table-no-slot"
  | "page-type-lost"
  | "gmem-uptodate-sampled"
  | "luo-dup-session-empty-block"
  | "memfd-flags-sampled"
  | "memfd-retrieve-lost-errno"
  | "memfd-put-folios-pfn-as-phys"
  | "memfd-acct-one-block"
  | "hugetlb-alloc-preserve-err-ptr";

/**
 * How far a fix has got: `mainline` (in a release), `mm-tree` (in linux-mm, ahead of
 * mainline), `posted` (on the list, not merged as far as the facts go), `kholab` (no fix is
 * posted; kholab's own, described in `summary`).
 */
export type FixStatus = "mainline" | "mm-tree" | "posted" | "kholab";

/** One fix: the bugs it removes (or the restriction it lifts), where it comes from, its status. */
export interface KhoFix {
  /** Short name, e.g. `"kho-unpreserve-numa-order"`. */
  readonly name: string;
  /** Bugs of the base profile the fix removes. */
  readonly removes: readonly KhoBug[];
  /**
   * Whether the fix lets KHO run with CONFIG_DEFERRED_STRUCT_PAGE_INIT (it adds
   * `kho_get_preserved_page`, which initialises each preserved page before the stamp).
   */
  readonly deferredStructPageInit?: boolean;
  /** Where it comes from: a Message-ID, a commit, or `"kholab's fix"`. */
  readonly source: string;
  /** How far it has got. */
  readonly status: FixStatus;
  /** What it changes, in one or two sentences. */
  readonly summary: string;
}

/** A table by name whose entries take their `name` from their key. */
function named<T>(table: Record<string, T>): Readonly<Record<string, T & { name: string }>> {
  return Object.fromEntries(Object.entries(table).map(([name, v]) => [name, { name, ...v }]));
}

/**
 * The fixes kholab knows, by name (luo-hugetlb-facts §5.2, §5.5, §5.6, §6; kho-facts §5.1, §5.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KHO_FIXES } from "./profiles.ts";
 * assert.equal(KHO_FIXES["kho-unpreserve-numa-order"].status, "mm-tree");
 * assert.match(KHO_FIXES["kho-restore-numa-order"].source, /kholab/);
 * ```
 */
export const KHO_FIXES: Readonly<Record<string, KhoFix>> = named<Omit<KhoFix, "name">>({
  "kho-unpreserve-numa-order": {
    removes: ["numa-unpreserve-mismatch"],
    source: '"kho: fix order calculation for kho_unpreserve_pages()", ' +
      "<20260519133332.2498092-1-pratyush@kernel.org> (Cc stable); in linux-mm @ 65660710",
    status: "mm-tree",
    summary: "__kho_unpreserve splits with __kho_preserve_pages_order(), the NUMA rule of " +
      "kho_preserve_pages, so unpreserve deletes the blocks preserve added.",
  },
  "kho-restore-numa-order": {
    removes: ["numa-restore-mismatch"],
    source: "kholab's fix (no fix posted; luo-hugetlb-facts §6.1)",
    status: "kholab",
    summary: "kho_restore_pages splits with __kho_preserve_pages_order() too, so every block " +
      "preserve cut at a node boundary is restored.",
  },
  "kho-reserve-size-ul": {
    removes: ["int-size-overflow"],
    source: "kholab's fix (no standalone patch; a derived copy of the generalized radix " +
      "series computes 1UL << …, luo-hugetlb-facts §5.3, unverified)",
    status: "kholab",
    summary: "kho_preserved_memory_reserve computes sz = 1UL << (order + PAGE_SHIFT), so a " +
      "block of any order reserves exactly its size.",
  },
  "kho-vmalloc-unwind-order": {
    removes: ["vmalloc-unwind-unset-order"],
    source: "kholab's fix (no fix posted; luo-hugetlb-facts §6.3)",
    status: "kholab",
    summary: "kho_preserve_vmalloc sets preservation->order (and flags) before preserving " +
      "the blocks, so its error path unpreserves blocks of the area's order.",
  },
  "kho-add-subtree-cleanup": {
    removes: ["subtree-setprop-leak"],
    source: "linux-mm @ 65660710 (kho_add_subtree; the patch and its release are unverified, " +
      "luo-hugetlb-facts §5.6)",
    status: "mm-tree",
    summary: "a failing fdt_setprop deletes the half-built node (fdt_del_node) and returns " +
      "-ENOMEM instead of the raw libfdt code.",
  },
  "kho-kdump-disable": {
    removes: ["kdump-kho-active"],
    source: "linux-mm @ 65660710 (kho_memory_init, kho_fill_kimage; patch id and release " +
      "unverified, luo-hugetlb-facts §5.5)",
    status: "mm-tree",
    summary: 'the kdump kernel disables KHO ("disabled in the kdump kernel") and ' +
      "kho_fill_kimage returns early for crash images.",
  },
  "kho-deferred-struct-page-init": {
    removes: [],
    deferredStructPageInit: true,
    source: '"kho: add support for deferred struct page init" v2 (Michal Clapinski, ' +
      "2026-02-10; v1 <20251216084913.86342-1-epetron@amazon.de>), Fixes: 8b66ed2c3f42; " +
      "in linux-mm @ 65660710",
    status: "mm-tree",
    summary: "kho_get_preserved_page() calls init_deferred_page() for every page of a " +
      "preserved block before the stamp, so KHO works with CONFIG_DEFERRED_STRUCT_PAGE_INIT " +
      "(8b66ed2c3f42 had forbidden the combination).",
  },
  "memfd-retrieve-eio": {
    removes: ["memfd-retrieve-lost-errno"],
    source: "linux-mm @ fb2257f1 (memfd_luo_retrieve_folios sets err = -EIO before goto " +
      "put_folios; the patch, probably of Chenghao Duan's 2026-03 memfd_luo fixes, and its " +
      "mainline status are unverified, luo-hugetlb-facts §6.4)",
    status: "mm-tree",
    summary: "a folio that does not restore fails the retrieve with -EIO instead of a success " +
      "with a hole.",
  },
  "memfd-acct-folio-nr-pages": {
    removes: ["memfd-acct-one-block"],
    source: '"mm/memfd: use folio_nr_pages() for shmem inode accounting", in linux-mm @ ' +
      "fb2257f1 (mainline status unverified, luo-hugetlb-facts §3.4)",
    status: "mm-tree",
    summary: "the retrieve charges each folio's pages to the inode, not one block per folio.",
  },
  "luo-session-dup-check-first": {
    removes: ["luo-dup-session-empty-block"],
    source: "kholab's fix (not reported; luo-hugetlb-facts §6.5)",
    status: "kholab",
    summary: "luo_session_insert scans for a duplicate name before kho_block_set_grow, as " +
      "luo_preserve_file checks its token before growing.",
  },
});

/**
 * A way guest memory can cross a live update — a profile's capability, as data
 * (`AbiProfile.guestMemory`, read with {@link hasGuestMemory}):
 * - `memfd-shmem` — a shmem memfd through LUO's memfd handler (`mm/memfd_luo.c`, 6.19 on):
 *   folios of at most PMD order (2 MiB);
 * - `hugetlb` — a hugetlbfs memfd (2 MiB or 1 GiB pages) through the HugeTLB live update RFC's
 *   `huge-memfd-v1` handler and `hugetlb-v1` FLB (posted 2025-12-07, luo-hugetlb-facts §4);
 * - `guest_memfd` — the guest_memfd proposal's `guest_memfd_luo_v1` handler bound to the VM's
 *   `kvm_vm_luo_v1` file (RFC 2026-06, luo-hugetlb-facts §4.4).
 *
 * A scenario picks the path from the profile; 1 GiB guest memory needs `hugetlb` (or
 * `guest_memfd` backed by 1 GiB pages, as assumed): a generation without it reports such
 * memory *unsupported*, with that reason.
 */
export type GuestMemoryPath = "memfd-shmem" | "hugetlb" | "guest_memfd";

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
  /**
   * Whether a failed retrieve is remembered (`retrieve_status`, linux-mm only): later
   * RETRIEVE_FD calls return the cached error and `finish` sees a negative status. Without
   * it (6.19–7.2, luo-hugetlb-facts §2.2) `retrieved` stays false after a failure: a retry
   * calls the handler's retrieve again, and `finish` treats the file as never retrieved.
   */
  readonly retrieveStatus: boolean;
  /**
   * The memfd file handler's compatible (`mm/memfd_luo.c`, luo-hugetlb-facts §3.1):
   * `"memfd-v1"` (40-byte `memfd_luo_ser`; 6.19, and 7.0 **[UNVERIFIED]**) or `"memfd-v2"`
   * (48 bytes with the seals; "mm: memfd_luo: preserve file seals", posted 2026-02-16, taken
   * here as 7.1 on — 7.0 vs 7.1 **[UNVERIFIED]**).
   */
  readonly memfd: MemfdLuoCompat;
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
  retrieveStatus: false,
  memfd: MEMFD_LUO_FH_COMPATIBLE_V1,
};
const LUO_7_0: LuoGeneration = {
  ...LUO_6_19,
  flbCompat: LUO_FDT_FLB_COMPATIBLE,
  flb: true,
  finalizeAtReboot: false,
  doublePreserveCheck: true,
};
const LUO_7_1: LuoGeneration = { ...LUO_7_0, memfd: MEMFD_LUO_FH_COMPATIBLE_V2 };
const LUO_7_2: LuoGeneration = {
  blob: "luo-ser",
  compat: LUO_ABI_COMPATIBLE,
  sessionCompat: null,
  flbCompat: null,
  flb: true,
  store: "kho-block",
  finalizeAtReboot: false,
  doublePreserveCheck: true,
  retrieveStatus: false,
  memfd: MEMFD_LUO_FH_COMPATIBLE_V2,
};
/**
 * The guest_memfd series' LUO: 7.2's, with `retrieve_status` — its handlers' `finish` tests
 * `args->retrieve_status`, which only linux-mm's LUO has (luo-hugetlb-facts §2.2, §2.7); the
 * series' base tree is **[UNVERIFIED]**, so this is as assumed.
 */
const LUO_GUEST_MEMFD: LuoGeneration = { ...LUO_7_2, retrieveStatus: true };

/** The memfd handler's bugs in every mainline release with LUO (see {@link KhoBug}). */
const MEMFD_BUGS_MAINLINE: readonly KhoBug[] = [
  "memfd-retrieve-lost-errno",
  "memfd-acct-one-block",
];

/**
 * Something a profile assumes that no source confirms: carried by the profile, named in its
 * summary and shown wherever the profile is, so that a result resting on it is never silent.
 */
export interface KhoAssumption {
  /** Short name, e.g. `"guest-memfd-hugetlb"`. */
  readonly name: string;
  /** What is assumed, as a label (e.g. "assumes HugeTLB-backed guest_memfd (unverified)"). */
  readonly label: string;
  /** Why it is unverified, and what the sources do say. */
  readonly why: string;
}

/**
 * The assumptions kholab can put on a profile, by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile, KHO_ASSUMPTIONS } from "./profiles.ts";
 * const a = KHO_ASSUMPTIONS["guest-memfd-hugetlb"];
 * assert.match(a.label, /unverified/);
 * assert.deepEqual(getProfile("rfc-2026-guest-memfd-hugetlb-assumed").assumptions, [a]);
 * assert.equal(getProfile("rfc-2026-guest-memfd").assumptions, undefined);
 * ```
 */
export const KHO_ASSUMPTIONS: Readonly<Record<string, KhoAssumption>> = {
  "guest-memfd-hugetlb": {
    name: "guest-memfd-hugetlb",
    label: "assumes HugeTLB-backed guest_memfd (unverified)",
    why: "the guest_memfd series preserves PAGE_SIZE folios only (its can_preserve refuses a " +
      "mapping with large folio support; luo-hugetlb-facts §4.4 leaves 1 GiB-backed " +
      "guest_memfd unverified); this variant lets the handler take HugeTLB-backed files " +
      "(2 MiB or 1 GiB folios, each one radix key, restored with kho_restore_folio as the " +
      "huge-memfd RFC does), with the same guest_memfd_luo_ser and folio records",
  },
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
  /**
   * Whether `kho_preserve_folio` / `kho_preserve_pages` call `kho_scratch_overlap()` (real work
   * only with CONFIG_KEXEC_HANDOVER_DEBUG, kho-facts §5.5); 6.16 has no such check (S-6.16c).
   */
  readonly debugScratchCheck: boolean;
  /** KHO functions this kernel has (the others give EOPNOTSUPP). */
  readonly api: readonly KhoApi[];
  /** The Live Update Orchestrator this kernel has, or null (before 6.19, RFC v1). */
  readonly luo: LuoGeneration | null;
  /**
   * Whether `kho_populate` requires a non-zero memory map (6.19 on, S-6.19c/S-7.1c). 6.16
   * reads the map only in `kho_mem_deserialize`: a missing or zero map is a KHO boot with
   * nothing reserved (S-6.16c).
   */
  readonly populateChecksMap: boolean;
  /**
   * How the cold boot sizes the per-node scratch areas: `online` — one per online node,
   * `num_online_nodes() + 2` (6.16–6.19: a memoryless node cannot hold its area, the
   * reservation fails and KHO is disabled); `memory` — one per node with memory,
   * `nodes_weight(N_MEMORY) + 2` (7.0 on, S-7.0c).
   */
  readonly scratchNodes: "online" | "memory";
  /**
   * Whether `kho_scratch=lowmem,global,pernode` requires every size to be non-zero (6.16,
   * S-6.16c); later kernels require only a non-zero sum.
   */
  readonly scratchSizesNonZero: boolean;
  /** Known bugs of this generation that the simulation reproduces. */
  readonly bugs: readonly KhoBug[];
  /** The released profile a `+fixes` variant derives from; null for a released profile. */
  readonly base: ProfileName | null;
  /** Fixes applied over the base (empty for a released profile). */
  readonly fixes: readonly KhoFix[];
  /**
   * Whether KHO runs with CONFIG_DEFERRED_STRUCT_PAGE_INIT (`kho_get_preserved_page`): only
   * with the fix of that name; released kernels forbid the combination (8b66ed2c3f42).
   */
  readonly deferredStructPageInit: boolean;
  /** A proposal's status (where the series stands), e.g. `"posted 2025-12-07 as RFC"`. */
  readonly status?: string;
  /**
   * How guest memory can cross a live update ({@link GuestMemoryPath}; absent: none of the
   * paths listed there). Read it with {@link hasGuestMemory}.
   */
  readonly guestMemory?: readonly GuestMemoryPath[];
  /**
   * "kho: disable scratch-only earlier in boot" (HugeTLB RFC patch 2): `kho_memory_init` (the
   * tracker walk) runs before the boot-time gigantic pages are allocated and scratch-only mode
   * ends right after it, so HugeTLB's memblock allocations are not confined to scratch.
   * Without it a KHO boot allocates gigantic pages from scratch only (luo-hugetlb-facts §4.2).
   */
  readonly khoEarlyMemoryInit?: boolean;
  /**
   * The series "kho: make boot time huge page allocation work nicely with KHO" (Pratyush
   * Yadav, v1 2026-04-29; kho-facts §9.6, luo-hugetlb-facts §4.1, §5.1): a KHO boot digests
   * the incoming radix tree into a second one keyed by 1 GiB block and marks every gap
   * `MEMBLOCK_KHO_SCRATCH_EXT` (`kho_extend_scratch`); memblock allocations for user memory
   * (`memblock_alloc_nid_user`) come from those areas only; the cold boot's scratch sizing
   * leaves HugeTLB memblock allocations out (`memblock_reserved_hugetlb_size`).
   */
  readonly extendedScratch?: boolean;
  /** What the profile assumes that no source confirms (labelled wherever it is shown). */
  readonly assumptions?: readonly KhoAssumption[];
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

/** What every released profile has: no base, no fixes, no deferred struct page init. */
const RELEASED = { base: null, fixes: [], deferredStructPageInit: false } as const;

/** The guest memory path of a kernel with LUO's memfd handler (6.19 on). */
const SHMEM_MEMFD: readonly GuestMemoryPath[] = ["memfd-shmem"];

const XARRAY_ERA = {
  ...RELEASED,
  compat: KHO_FDT_COMPATIBLE_V1,
  memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
  subtreeProp: KHO_FDT_SUB_TREE_PROP_NAME_V1,
  blobSize: false,
  kexecMetadata: false,
  numaAwarePages: false,
  restoresOwnFdt: false,
  populateChecksMap: true,
  scratchNodes: "online",
  scratchSizesNonZero: false,
  debugScratchCheck: true,
} as const;

const RADIX_ERA = {
  ...RELEASED,
  memoryMapProp: KHO_FDT_MEMORY_MAP_PROP_NAME,
  subtreeProp: KHO_SUB_TREE_PROP_NAME,
  fdtStyle: "rw",
  finalize: "none",
  pageMagic: true,
  restoreRules: "current",
  restoresOwnFdt: false,
  metadataScratchCheck: false,
  api: API_6_19,
  populateChecksMap: true,
  scratchNodes: "memory",
  scratchSizesNonZero: false,
  debugScratchCheck: true,
} as const;

/** The radix era from kho-v3 (7.1) on: blob-size, kexec-metadata, the NUMA-aware page split. */
const KHO_V3_ERA = {
  ...RADIX_ERA,
  tracker: "radix",
  blobSize: true,
  kexecMetadata: true,
  numaAwarePages: true,
  maxRestoreOrder: null,
} as const;

/** kho-v4 (7.2-rc1)'s compat and LUO: the release and the 2026 proposals on top of it. */
const KHO_V4_ERA = { ...KHO_V3_ERA, compat: KHO_FDT_COMPATIBLE_V4, luo: LUO_7_2 } as const;

/**
 * The bugs of kho-v4 (7.2-rc1 = S-7.1c's KHO core + kho_block): every live bug of
 * luo-hugetlb-facts §6, the unpreserve split and sub-tree cleanup the mm tree fixed since, the
 * kdump handling the mm tree added, 7.2's LUO defect, and memfd_luo's retrieve defects that
 * only linux-mm has fixed.
 */
const KHO_V4_BUGS: readonly KhoBug[] = [
  "subtree-setprop-leak",
  "int-size-overflow",
  "numa-unpreserve-mismatch",
  "numa-restore-mismatch",
  "vmalloc-unwind-unset-order",
  "kdump-kho-active",
  "luo-dup-session-empty-block",
  ...MEMFD_BUGS_MAINLINE,
];

/**
 * The bugs still present in the newest KHO core read (linux-mm @ 65660710, luo-hugetlb-facts
 * §6) and 7.2's LUO defect: what a 2026 proposal on top of the current code inherits (with the
 * memfd ones of the release under it, {@link MEMFD_BUGS_MAINLINE}).
 */
const NEWEST_CODE_BUGS: readonly KhoBug[] = [
  "int-size-overflow",
  "numa-restore-mismatch",
  "vmalloc-unwind-unset-order",
  "luo-dup-session-empty-block",
];

/** The released profiles (and proposals), by name. */
const BASE_PROFILES = named<Omit<AbiProfile, "name">>({
  "kho-v1-6.16": {
    ...XARRAY_ERA,
    kernel: "6.16",
    summary: "xarray of 512-byte bitmaps, serialized at finalize; notifiers; finalize/abort",
    tracker: "xarray-512",
    fdtStyle: "sw-finalize",
    finalize: "notifier",
    pageMagic: false,
    restoreRules: "6.16",
    // kho_restore_folio: an order above MAX_PAGE_ORDER gives NULL (S-6.16c).
    maxRestoreOrder: 10,
    restoresOwnFdt: true,
    metadataScratchCheck: false,
    api: API_6_16,
    luo: null,
    populateChecksMap: false,
    scratchSizesNonZero: true,
    debugScratchCheck: false,
    bugs: ["unpreserve-hang", "restore-folio-no-refcount", "int-size-overflow", "kdump-kho-active"],
  },
  "kho-v1-6.18": {
    ...XARRAY_ERA,
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
      "int-size-overflow",
      "kdump-kho-active",
    ],
  },
  "kho-v1-6.19": {
    ...XARRAY_ERA,
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
    guestMemory: SHMEM_MEMFD,
    // S-6.19c: int sz in deserialize_bitmap, the vmalloc unwind, kho_add_subtree's raw code;
    // T-memfd: memfd_luo as first merged.
    bugs: [
      "subtree-setprop-leak",
      "int-size-overflow",
      "vmalloc-unwind-unset-order",
      "kdump-kho-active",
      "memfd-flags-sampled",
      "memfd-put-folios-pfn-as-phys",
      ...MEMFD_BUGS_MAINLINE,
    ],
  },
  "rfc-v1-order-table": {
    ...XARRAY_ERA,
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
    // kho_memblock_reserve keeps the int sz of deserialize_bitmap.
    bugs: [
      "order-table-no-slot",
      "restore-folio-no-refcount",
      "int-size-overflow",
      "kdump-kho-active",
    ],
  },
  "kho-v2": {
    ...RADIX_ERA,
    kernel: "7.0",
    summary: "unified radix tree, stateless; preserved-data",
    compat: KHO_FDT_COMPATIBLE_V2,
    tracker: "radix",
    blobSize: false,
    kexecMetadata: false,
    numaAwarePages: false,
    maxRestoreOrder: 10,
    luo: LUO_7_0,
    guestMemory: SHMEM_MEMFD,
    bugs: [
      "subtree-setprop-leak",
      "int-size-overflow",
      "vmalloc-unwind-unset-order",
      "kdump-kho-active",
      "memfd-put-folios-pfn-as-phys",
      ...MEMFD_BUGS_MAINLINE,
    ],
  },
  "kho-v3": {
    ...KHO_V3_ERA,
    kernel: "7.1",
    summary: "radix tree; blob-size; kexec-metadata; NUMA-aware page split",
    compat: KHO_FDT_COMPATIBLE_V3,
    luo: LUO_7_1,
    guestMemory: SHMEM_MEMFD,
    // S-7.1c: the same KHO core as kho-v4.
    bugs: KHO_V4_BUGS.filter((b) => b !== "luo-dup-session-empty-block"),
  },
  "kho-v4": {
    ...KHO_V4_ERA,
    kernel: "7.2-rc1",
    summary: "current: radix tree; kho_block chains for LUO sessions and files (luo-v5)",
    guestMemory: SHMEM_MEMFD,
    bugs: KHO_V4_BUGS,
  },
  "rfc-2026-page-type": {
    ...KHO_V4_ERA,
    kernel: "RFC 2026-07",
    summary: "unsplit high-order pages: CONTIG/SPLIT type in key bit 63, as posted",
    tracker: "radix-typed",
    api: [...API_6_19, "splitPreservedPages"],
    guestMemory: SHMEM_MEMFD,
    bugs: ["page-type-lost", ...NEWEST_CODE_BUGS, ...MEMFD_BUGS_MAINLINE],
  },
  "rfc-2026-page-type-fixed": {
    ...KHO_V4_ERA,
    kernel: "RFC 2026-07 + fix",
    summary:
      "unsplit high-order pages, type in key bit 53 (indexed); new compat: old kernels cannot decode SPLIT keys",
    compat: KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED,
    tracker: "radix-typed-fixed",
    api: [...API_6_19, "splitPreservedPages"],
    guestMemory: SHMEM_MEMFD,
    bugs: [...NEWEST_CODE_BUGS, ...MEMFD_BUGS_MAINLINE],
  },
  "rfc-2026-ext-scratch": {
    ...KHO_V4_ERA,
    kernel: "RFC 2026-04 (on 7.2)",
    summary: "boot-time huge pages: extended scratch (second radix tree by 1 GiB block, " +
      "MEMBLOCK_KHO_SCRATCH_EXT gaps), scratch sized without HugeTLB memory",
    status: "v1 posted 2026-04-29; a later revision queued in -next [release UNVERIFIED]",
    extendedScratch: true,
    bugs: [...NEWEST_CODE_BUGS, ...MEMFD_BUGS_MAINLINE],
  },
  "rfc-2026-guest-memfd": {
    ...KHO_V4_ERA,
    kernel: "RFC 2026-06 (on 7.2)",
    summary: "guest_memfd through LUO (guest_memfd_luo_v1, bound by vm_token to its VM's " +
      "kvm_vm_luo_v1 file); order-0 folios only",
    status: "posted, v4 2026-07-28",
    luo: LUO_GUEST_MEMFD,
    guestMemory: ["guest_memfd"],
    bugs: ["gmem-uptodate-sampled", ...NEWEST_CODE_BUGS, ...MEMFD_BUGS_MAINLINE],
  },
  "rfc-2026-guest-memfd-hugetlb-assumed": {
    ...KHO_V4_ERA,
    kernel: "RFC 2026-06 (on 7.2) + assumption",
    summary: "rfc-2026-guest-memfd that also takes HugeTLB-backed guest_memfd (1 GiB folios): " +
      "assumes HugeTLB-backed guest_memfd (unverified)",
    status: "posted, v4 2026-07-28; the HugeTLB backing is kholab's assumption",
    luo: LUO_GUEST_MEMFD,
    guestMemory: ["guest_memfd"],
    assumptions: [KHO_ASSUMPTIONS["guest-memfd-hugetlb"]],
    bugs: ["gmem-uptodate-sampled", ...NEWEST_CODE_BUGS, ...MEMFD_BUGS_MAINLINE],
  },
});

/** "4 mm-tree, 4 kholab's": how many fixes of each status. */
function fixCounts(fixes: readonly KhoFix[]): string {
  const order: FixStatus[] = ["mainline", "mm-tree", "posted", "kholab"];
  return order.map((st) => [st, fixes.filter((f) => f.status === st).length] as const)
    .filter(([, n]) => n > 0).map(([st, n]) => `${n} ${st === "kholab" ? "kholab's" : st}`)
    .join(", ");
}

/**
 * A `+fixes` variant: `base` with `fixes` applied — the same ABI (compat string, properties,
 * tracker, LUO generation), the bugs the fixes remove gone, the fixes listed. Throws RangeError
 * when a fix removes a bug the base does not carry (the variant would claim a fix of nothing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile, KHO_FIXES, withFixes } from "./profiles.ts";
 * const v = withFixes(getProfile("kho-v3"), "kho-v3+fixes", [KHO_FIXES["kho-reserve-size-ul"]]);
 * assert.equal(v.compat, "kho-v3");
 * assert.ok(!v.bugs.includes("int-size-overflow") && v.bugs.includes("numa-restore-mismatch"));
 * ```
 */
export function withFixes(base: AbiProfile, name: string, fixes: readonly KhoFix[]): AbiProfile {
  const removed = new Set<KhoBug>();
  for (const f of fixes) {
    for (const b of f.removes) {
      if (!base.bugs.includes(b)) {
        throw new RangeError(`fix ${f.name} removes ${b}, which ${base.name} does not carry`);
      }
      removed.add(b);
    }
  }
  return {
    ...base,
    name: name as ProfileName,
    kernel: `${base.kernel} + fixes`,
    summary: `${base.name} + ${fixes.length} fixes (${fixCounts(fixes)})`,
    bugs: base.bugs.filter((b) => !removed.has(b)),
    base: base.name,
    fixes,
    deferredStructPageInit: base.deferredStructPageInit ||
      fixes.some((f) => f.deferredStructPageInit === true),
  };
}

/** The `+fixes` variants, by name. */
const FIXED_PROFILES: Readonly<Record<string, AbiProfile>> = {
  // kho-v4 with every fix kholab knows: those posted or in the mm tree, and kholab's own.
  "kho-v4+fixes": withFixes(BASE_PROFILES["kho-v4"], "kho-v4+fixes", Object.values(KHO_FIXES)),
};

/**
 * Proposals on top of a release, as data: the release's profile with what the series
 * changes.
 */
const PROPOSAL_PROFILES: Readonly<Record<string, AbiProfile>> = {
  // "[RFC PATCH 00/10] liveupdate: hugetlb support" (Pratyush Yadav, 2025-12-07,
  // <20251206230222.853493-1-pratyush@kernel.org>; luo-hugetlb-facts §4.1–§4.5) on 7.2: the
  // hugetlb-v1 FLB and the huge-memfd-v1 handler (lib/clients/hugetlb_luo.ts); patch 1 "kho:
  // drop restriction on maximum page order" is already in 7.1's kho_restore_page (kho-facts
  // §5.3); patch 2 moves kho_memory_init before the gigantic pages; patches 3-4 read the FLB
  // in early boot; 7 allocates only the pages not preserved; 8 disables hugetlb CMA under
  // live update. No compat string of KHO or LUO changes.
  "rfc-2025-12-hugetlb": {
    ...BASE_PROFILES["kho-v4"],
    name: "rfc-2025-12-hugetlb",
    kernel: "RFC 2025-12-07",
    summary: "HugeTLB live update on 7.2: hugetlb-v1 FLB, huge-memfd-v1 handler (1 GiB " +
      "folios as order-18 keys), boot pool of the unpreserved remainder, HVO at retrieve",
    status: "posted 2025-12-07 as RFC",
    guestMemory: ["memfd-shmem", "hugetlb"],
    khoEarlyMemoryInit: true,
    bugs: [...KHO_V4_BUGS, "hugetlb-alloc-preserve-err-ptr"],
  },
};

/** Every implemented profile, by name, in {@link PROFILE_NAMES} order. */
export const PROFILES: Readonly<Record<BuiltinProfileName, AbiProfile>> = Object.fromEntries(
  PROFILE_NAMES.map((
    n,
  ) => [
    n,
    BASE_PROFILES[n] ?? FIXED_PROFILES[n] ??
      PROPOSAL_PROFILES[n],
  ]),
) as Record<BuiltinProfileName, AbiProfile>;

/** The current profile (mainline as of v7.2-rc1). */
export const CURRENT_PROFILE: ProfileName = "kho-v4";

/** Profiles registered by designs (`defineProfile`), by name, in registration order. */
const REGISTERED = new Map<string, AbiProfile>();

/** Whether `name` is one of kholab's own profiles ({@link PROFILE_NAMES}). */
export function isBuiltinProfile(name: string): boolean {
  return Object.hasOwn(PROFILES, name);
}

/**
 * Adds a profile to the table of profiles (or replaces a registered one of the same name);
 * a built-in name is a RangeError. `defineProfile` (lib/design) derives and validates it.
 */
export function registerProfile(profile: AbiProfile): void {
  if (isBuiltinProfile(profile.name)) {
    throw new RangeError(`profile "${profile.name}" is built in and cannot be redefined`);
  }
  REGISTERED.set(profile.name, profile);
}

/**
 * Every profile name: the built-in ones, oldest first ({@link PROFILE_NAMES}), then those
 * registered by designs, in registration order. Everything that lists profiles asks here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROFILE_NAMES, profileNames } from "./profiles.ts";
 * assert.deepEqual(profileNames().slice(0, PROFILE_NAMES.length), [...PROFILE_NAMES]);
 * ```
 */
export function profileNames(): ProfileName[] {
  return [...PROFILE_NAMES, ...REGISTERED.keys()];
}

/**
 * Looks a profile up by name: a built-in one or one registered by a design.
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
  const p = isBuiltinProfile(name)
    ? (PROFILES as Record<string, AbiProfile>)[name]
    : REGISTERED.get(name);
  if (p === undefined) {
    throw new RangeError(`unknown KHO profile "${name}" (known: ${profileNames().join(", ")})`);
  }
  return p;
}

/**
 * `uname -r` of a kernel of this profile, as the kernel's Makefile builds `KERNELRELEASE`
 * (`VERSION.PATCHLEVEL.SUBLEVEL` then `EXTRAVERSION`, e.g. `7.2.0-rc1`) with the local
 * version `-kholab`. A proposal's series has no release of its own: its release is the
 * profile name with `-kholab` (no base kernel is invented for it). A `+fixes` variant is its
 * base's release with `-fixes` before `-kholab`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile, kernelRelease } from "./profiles.ts";
 * assert.equal(kernelRelease(getProfile("kho-v4")), "7.2.0-rc1-kholab");
 * assert.equal(kernelRelease(getProfile("kho-v1-6.16")), "6.16.0-kholab");
 * assert.equal(kernelRelease(getProfile("rfc-v1-order-table")), "rfc-v1-order-table-kholab");
 * assert.equal(kernelRelease(getProfile("kho-v4+fixes")), "7.2.0-rc1-fixes-kholab");
 * ```
 */
export function kernelRelease(profile: AbiProfile): string {
  // A `+fixes` variant: its base's release with a local version naming the patches.
  if (profile.base !== null) {
    return kernelRelease(getProfile(profile.base)).replace(/-kholab$/, "-fixes-kholab");
  }
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(-rc\d+)?$/.exec(profile.kernel);
  if (m === null) return `${profile.name}-kholab`;
  return `${m[1]}.${m[2]}.${m[3] ?? "0"}${m[4] ?? ""}-kholab`;
}

/** Whether a profile has an API function. */
export function hasApi(profile: AbiProfile, fn: KhoApi): boolean {
  return profile.api.includes(fn);
}

/**
 * Whether guest memory can cross a live update by `path` in this profile (its `guestMemory`
 * list). `memfd-shmem` comes with LUO itself (`mm/memfd_luo.c` is in every release with LUO),
 * listed or not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile, hasGuestMemory } from "./profiles.ts";
 * assert.ok(hasGuestMemory(getProfile("rfc-2025-12-hugetlb"), "hugetlb"));
 * assert.ok(!hasGuestMemory(getProfile("kho-v4"), "hugetlb"));
 * assert.ok(hasGuestMemory(getProfile("kho-v4"), "memfd-shmem"));
 * assert.ok(!hasGuestMemory(getProfile("kho-v1-6.16"), "memfd-shmem"));
 * assert.ok(hasGuestMemory(getProfile("rfc-2026-guest-memfd"), "guest_memfd"));
 * assert.ok(!hasGuestMemory(getProfile("kho-v4"), "guest_memfd"));
 * ```
 */
export function hasGuestMemory(profile: AbiProfile, path: GuestMemoryPath): boolean {
  return (profile.guestMemory?.includes(path) ?? false) ||
    (path === "memfd-shmem" && profile.luo !== null);
}
