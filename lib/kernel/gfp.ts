/**
 * GFP flags and migrate types: how an allocation asks the buddy allocator for memory.
 *
 * A {@link Gfp} is a small object of booleans instead of the kernel's bit mask; the
 * exported constants mirror the kernel's common masks (`GFP_KERNEL`,
 * `GFP_HIGHUSER_MOVABLE`, …). Migrate types use the kernel's numbering (`enum
 * migratetype` with CONFIG_CMA and CONFIG_MEMORY_ISOLATION).
 *
 * @module
 */

/** The parts of a gfp mask kholab models. */
export interface Gfp {
  /** `__GFP_MOVABLE`: the pages can be migrated; may use MIGRATE_CMA pageblocks. */
  readonly movable?: boolean;
  /** `__GFP_RECLAIMABLE`: slab-like reclaimable memory (MIGRATE_RECLAIMABLE). */
  readonly reclaimable?: boolean;
  /** `__GFP_ZERO`: zero the pages (done when the allocator has physical memory). */
  readonly zero?: boolean;
  /** `__GFP_THISNODE`: only the requested node, no fallback to other nodes. */
  readonly exactNode?: boolean;
  /** `__GFP_NOWARN`: no "page allocation failure" warning on failure. */
  readonly noWarn?: boolean;
  /** `__GFP_COMP`: make a compound page (a folio) of a higher-order allocation. */
  readonly comp?: boolean;
}

/** GFP_KERNEL: an ordinary unmovable kernel allocation. */
export const GFP_KERNEL: Gfp = Object.freeze({});
/** GFP_KERNEL | __GFP_ZERO (`get_zeroed_page`, `kzalloc`). */
export const GFP_ZERO: Gfp = Object.freeze({ zero: true });
/** GFP_HIGHUSER_MOVABLE: user / page-cache memory, movable, may land in CMA. */
export const GFP_HIGHUSER_MOVABLE: Gfp = Object.freeze({ movable: true });
/** kholab shorthand for {@link GFP_HIGHUSER_MOVABLE}. */
export const GFP_MOVABLE: Gfp = GFP_HIGHUSER_MOVABLE;

/** MIGRATE_UNMOVABLE: kernel allocations that cannot move. */
export const MIGRATE_UNMOVABLE = 0;
/** MIGRATE_MOVABLE: user memory; the default type of every pageblock at boot. */
export const MIGRATE_MOVABLE = 1;
/** MIGRATE_RECLAIMABLE: reclaimable kernel memory. */
export const MIGRATE_RECLAIMABLE = 2;
/** MIGRATE_HIGHATOMIC (= MIGRATE_PCPTYPES): the high-order atomic reserve. */
export const MIGRATE_HIGHATOMIC = 3;
/** MIGRATE_CMA: contiguous-memory-allocator pageblocks; only movable allocations use them. */
export const MIGRATE_CMA = 4;
/** MIGRATE_ISOLATE: pageblocks being isolated; never allocated from. */
export const MIGRATE_ISOLATE = 5;
/** MIGRATE_TYPES: number of migrate types. */
export const MIGRATE_TYPES = 6;
/** MIGRATE_PCPTYPES: the types that have per-cpu lists and may merge with each other. */
export const MIGRATE_PCPTYPES = 3;

/** Names as /proc/pagetypeinfo prints them (`migratetype_names[]`), by migrate type. */
export const MIGRATETYPE_NAMES: readonly string[] = Object.freeze([
  "Unmovable",
  "Movable",
  "Reclaimable",
  "HighAtomic",
  "CMA",
  "Isolate",
]);

/** gfp_migratetype(): the free lists an allocation with these flags prefers. */
export function gfpMigratetype(gfp: Gfp): number {
  if (gfp.movable) return MIGRATE_MOVABLE;
  if (gfp.reclaimable) return MIGRATE_RECLAIMABLE;
  return MIGRATE_UNMOVABLE;
}

/** migratetype_is_mergeable(): only the per-cpu types merge across pageblocks. */
export function migratetypeIsMergeable(mt: number): boolean {
  return mt < MIGRATE_PCPTYPES;
}

/** The mask as `%pGg` would name it, e.g. `"GFP_KERNEL|__GFP_ZERO"`. */
export function gfpName(gfp: Gfp): string {
  const parts = [
    gfp.movable ? "GFP_HIGHUSER_MOVABLE" : "GFP_KERNEL",
  ];
  if (gfp.reclaimable && !gfp.movable) parts.push("__GFP_RECLAIMABLE");
  if (gfp.zero) parts.push("__GFP_ZERO");
  if (gfp.comp) parts.push("__GFP_COMP");
  if (gfp.exactNode) parts.push("__GFP_THISNODE");
  if (gfp.noWarn) parts.push("__GFP_NOWARN");
  return parts.join("|");
}
