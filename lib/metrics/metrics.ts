/**
 * The metric catalogue: the one place where the names of kholab's scenario metrics are
 * defined, with their unit, what they mean and whether they are deterministic (identical for
 * a seed on any machine) or wall-clock (measured with a {@link Clock}, never compared).
 * `docs/metrics.md` is rendered from this table ({@link renderMetricsDoc}); a test keeps the
 * two in agreement.
 *
 * Names are camelCase with the unit last (`trackerLiveBytes`, `walkCacheLines`, `walkMs`).
 *
 * The outgoing figures include the scenario manifest (`lib/scenario/manifest.ts`), the
 * harness's own handover that tells the successor what to restore: `manifestBlocks` and
 * `manifestBytes` report its share so readers can subtract it.
 * Per-order metrics (`…ByOrder`) are strings `"order:value order:value …"` in ascending order,
 * so a row stays flat for CSV (see {@link formatByOrder}, {@link parseByOrder}).
 *
 * @module
 */

import { parseTimingStatKey } from "./timing.ts";
import { parseOutcomeKey } from "./outcomes.ts";

/** How a metric is obtained. */
export type MetricKind =
  /** A label of the run (scenario, profile, parameters, status); deterministic. */
  | "label"
  /** A count or size derived from the simulation only: identical for a seed everywhere. */
  | "deterministic"
  /** Milliseconds measured with a {@link Clock} around one region; varies between runs. */
  | "wallclock";

/**
 * The value type of a metric in a {@link MetricsRow}; `outcomes` is the family of flat columns
 * `outcomes.KIND.FIELD` (`./outcomes.ts`: counts, and the reasons as a JSON array).
 */
export type MetricType = "number" | "string" | "byOrder" | "outcomes";

/** One metric of the catalogue. */
export interface MetricDef {
  /** camelCase name, unit last. */
  readonly name: string;
  /** Unit (`bytes`, `pages`, `blocks`, `ms`, `bits`, `count`, `lines`, `words`, …). */
  readonly unit: string;
  /** Label, deterministic counter or wall-clock time. */
  readonly kind: MetricKind;
  /** Value type. */
  readonly type: MetricType;
  /** Section of the documentation. */
  readonly group: string;
  /** One sentence: what exactly is counted or timed. */
  readonly description: string;
}

/** A metric value: a number, or a string for labels and per-order values. */
export type MetricValue = number | string;

/** One result row: metric name → value (names from {@link METRICS}). */
export type MetricsRow = Record<string, MetricValue>;

const L = "label", D = "deterministic", W = "wallclock";
const N = "number", S = "string", O = "byOrder";

/** A metric of the catalogue before its group is known. */
type Ungrouped = Omit<MetricDef, "group">;

function def(
  name: string,
  unit: string,
  kind: MetricKind,
  type: MetricType,
  description: string,
): Ungrouped {
  return { name, unit, kind, type, description };
}

/** {@link def} of a deterministic number, the catalogue's common case. */
function counter(name: string, unit: string, description: string): Ungrouped {
  return def(name, unit, D, N, description);
}

/** {@link def} of a label (a string that names or explains, not measured). */
function label(name: string, unit: string, description: string): Ungrouped {
  return def(name, unit, L, S, description);
}

/** {@link def} of deterministic per-order values. */
function byOrder(name: string, unit: string, description: string): Ungrouped {
  return def(name, unit, D, O, description);
}

/** {@link def} of a wall-clock time. */
function timed(name: string, unit: string, description: string): Ungrouped {
  return def(name, unit, W, N, description);
}

/** The metrics of `items`, each in the group whose name came last before it. */
function catalogue(items: readonly (string | Ungrouped)[]): readonly MetricDef[] {
  let group = "";
  const out: MetricDef[] = [];
  for (const m of items) {
    if (typeof m === "string") group = m;
    else {
      const { name, unit, kind, type, description } = m;
      out.push(Object.freeze({ name, unit, kind, type, group, description }));
    }
  }
  return Object.freeze(out);
}

/** Every metric, in the stable column order of tables, JSON and CSV; its group's name first. */
export const METRICS: readonly MetricDef[] = catalogue([
  "run",
  label("scenario", "name", "Scenario builder name (`hypervisor`, `dense`, …)."),
  label("profile", "name", "KHO ABI profile of both kernels."),
  label("tracker", "name", "Preserved-memory tracker kind of the profile."),
  def("pointIndex", "index", L, N, "Index of the sweep point (parameter value)."),
  def("seed", "seed", L, N, "Seed the scenario was built from (derived per point)."),
  label("sweepParam", "name", "Swept parameter name (empty when none)."),
  label("sweepValue", "text", "Value of the swept parameter at this point."),
  label("params", "json", "All scenario parameters of the point, as JSON."),
  label(
    "status",
    "text",
    "`ok`; `lost` when objects did not come back intact (an outcome `lost`, `failedRestore` " +
      "or `corrupted`, see `outcomes`); `unsupported` when nothing was lost but the generation " +
      "cannot preserve some objects at all (see `unsupported`); `refused` when the successor " +
      "refused the handover; `error` when the run stopped (see `errors`).",
  ),
  label(
    "errors",
    "text",
    "Errors met, `step:ERRNO` separated by semicolons (e.g. `guests-restore:EIO` when the " +
      "successor's first open of /dev/liveupdate failed); `timing:REGION: …` when a timed " +
      "replay disagreed with the run (that region then has no timing).",
  ),
  label(
    "unsupported",
    "text",
    "Objects the generation cannot preserve at all, `workload: reason ×n` separated by " +
      "semicolons (e.g. guest memfds on a profile without LUO, vmalloc buffers without " +
      "kho_preserve_vmalloc); never counted as lost.",
  ),
  // ---- what was preserved
  "preserve",
  counter(
    "preserveCalls",
    "calls",
    "Preserve calls the scenario made, one per object (a folio, a range, a memfd file's " +
      "LIVEUPDATE_SESSION_PRESERVE_FD, a vmalloc buffer, the test module).",
  ),
  counter(
    "preserveFailures",
    "calls",
    "Preserve calls that returned an errno (not those refused as unsupported).",
  ),
  counter(
    "unsupportedObjects",
    "objects",
    "Objects the generation cannot preserve (see `unsupported`): not handed over, not lost; the " +
      "sum of the `unsupported` outcomes.",
  ),
  counter(
    "luoSessions",
    "sessions",
    "Outgoing LUO sessions at kexec time (0 without LUO or with `liveupdate` off).",
  ),
  counter("luoFiles", "files", "Files preserved in those sessions."),
  counter(
    "luoMetadataPages",
    "pages",
    "Preserved pages of LUO's own state: the LUO blob page, the FLB page, the session and " +
      "file blocks (6.19–7.1: a 16-page session array and 2 pages per session with files; " +
      "7.2: kho_block chains). Handler data (a memfd's memfd_luo_ser and folio records) is " +
      "not included.",
  ),
  counter(
    "preservedBlocks",
    "blocks",
    "Blocks recorded in the outgoing tracker at kexec time (every client, KHO's own pages, " +
      "the scenario manifest).",
  ),
  counter("preservedBytes", "bytes", "Bytes covered by `preservedBlocks`."),
  byOrder("preservedBlocksByOrder", "blocks", "`preservedBlocks` per order."),
  byOrder("preservedBytesByOrder", "bytes", "`preservedBytes` per order."),
  counter(
    "manifestBlocks",
    "blocks",
    "Blocks of `preservedBlocks` that are the harness's own handover, the scenario manifest " +
      "(its chunk folios of order ≤ 9 and its root FDT page); subtract them for the workloads " +
      "alone (the tracker metadata they add is not separated).",
  ),
  counter(
    "manifestBytes",
    "bytes",
    "Bytes of `preservedBytes` covered by `manifestBlocks`.",
  ),
  // ---- the tracker at kexec time
  "tracker",
  counter(
    "trackerLivePages",
    "pages",
    "Pages of the live outgoing tracker at kexec (radix tables and leaves; bitmap or slab " +
      "pages of the xarray; order tables).",
  ),
  counter(
    "trackerLiveBytes",
    "bytes",
    "Bytes of the live tracker as the tracker reports them (a 512-byte bitmap counts 512).",
  ),
  counter(
    "trackerSerializedPages",
    "pages",
    "Pages of the serialized form written at finalize (khoser chunk pages); 0 when stateless.",
  ),
  counter("trackerSerializedBytes", "bytes", "`trackerSerializedPages` × 4096."),
  counter(
    "handoverBytes",
    "bytes",
    "Tracker bytes the successor must read: live structure it walks (radix, order tables, " +
      "bitmaps) plus the serialized chunk pages.",
  ),
  byOrder(
    "handoverBytesByOrder",
    "bytes",
    "`handoverBytes` of each order's blocks alone, as `walkCacheLinesByOrder`: what the " +
      "encoding spends on 1 GiB folios (order 18) against 4 KiB pages (order 0).",
  ),
  counter(
    "metadataAllocs",
    "pages",
    "Metadata pages the tracker allocated since KHO init (including serialization).",
  ),
  counter("metadataFrees", "pages", "Metadata pages the tracker freed."),
  counter(
    "floorBits",
    "bits",
    "Information floor of the scenario's random placement: Σ over the placement domains it " +
      "states (`floorDomains`) of log2 C(M, N) − log2 C(N + X, X), N blocks drawn among M " +
      "equally likely places, X other preserved blocks of that order in the domain. A lower " +
      "bound for any encoding, conditioned on the domain, N and the machine before the draw; " +
      "blocks the scenario did not draw (placed by the allocator or fixed by a parameter) add " +
      "0. See `lib/metrics/floor.ts`.",
  ),
  counter("floorBytes", "bytes", "`floorBits` / 8, rounded up."),
  byOrder("floorBitsByOrder", "bits", "`floorBits` per order (rounded to 0.01)."),
  counter(
    "floorBlocks",
    "blocks",
    "Drawn blocks the floor counts (of `preservedBlocks`; the rest add 0 to it).",
  ),
  label(
    "floorDomains",
    "text",
    "The assumption of the floor: each placement domain (workload, N of M places, the " +
      "physical range, node, X) and its bits, or why it is not counted; `none` when the " +
      "scenario draws nothing at random.",
  ),
  counter(
    "handoverFloorRatio",
    "ratio",
    "`handoverBytes` / `floorBytes` (0 when the floor is 0).",
  ),
  counter(
    "floorUniformRamBytes",
    "bytes",
    "Σ over orders of log2 C(M, N) / 8 with M every naturally aligned place of the order in " +
      "RAM: the floor only for blocks drawn uniformly over all RAM. Not a floor for these " +
      "scenarios — pool, clustered and allocator-placed sets are encoded below it.",
  ),
  // ---- deterministic costs of preserve and finalize (the cost model: COST_MODEL)
  "cost",
  counter(
    "preservePagesTouched",
    "pages",
    "Metadata pages (or slab objects: XArray nodes, `kho_mem_phys`) touched by the preserves.",
  ),
  counter(
    "preserveCacheLines",
    "lines",
    "64-byte lines of tracker metadata read by the preserves, every level of the path " +
      "charged (the cost model above: XArray nodes and `kho_mem_phys` included).",
  ),
  counter(
    "preserveEntriesVisited",
    "entries",
    "Pointer slots read by the preserves (table entries, XArray slots and heads).",
  ),
  counter("preserveBitmapWords", "words", "u64 bitmap words scanned by preserves."),
  counter(
    "preserveCacheLinesWritten",
    "lines",
    "64-byte lines the preserves stored to: one per bit set and one per pointer stored (a " +
      "new node or bitmap linked).",
  ),
  counter(
    "preserveNodesAllocated",
    "nodes",
    "Index objects smaller than a page the preserves allocated from slab: XArray nodes " +
      "(576 bytes) and per-order `kho_mem_phys` (xarray era); 0 for page-based trackers.",
  ),
  counter(
    "preserveCacheLinesPerBlock",
    "lines",
    "`preserveCacheLines` / `preservedBlocks` (rounded to 0.001).",
  ),
  counter(
    "serializeCacheLines",
    "lines",
    "64-byte lines read by finalize (serialization: the nodes of both XArrays' " +
      "`xa_for_each` and each `kho_mem_phys`; the bitmaps are not read); 0 when stateless.",
  ),
  counter("serializeBitmapWords", "words", "u64 bitmap words scanned by finalize."),
  counter(
    "serializeEntriesVisited",
    "entries",
    "Pointer slots read by finalize (the XArray slots its `xa_for_each` loops read).",
  ),
  counter(
    "serializePagesTouched",
    "pages",
    "Chunk pages written and XArray nodes and `kho_mem_phys` objects read by finalize.",
  ),
  counter(
    "serializeCacheLinesWritten",
    "lines",
    "64-byte lines of chunk pages finalize filled (header and entries); 0 when stateless.",
  ),
  // ---- the successor's walk
  "walk",
  counter("walkOk", "flag", "1 when the successor's tracker walk completed."),
  counter("walkBlocks", "blocks", "Blocks the successor's walk reserved."),
  counter("walkBytes", "bytes", "Bytes the successor's walk reserved."),
  counter("walkRejected", "entries", "Entries the walk rejected and skipped."),
  counter("walkPagesTouched", "pages", "Metadata pages the walk read."),
  counter("walkCacheLines", "lines", "Distinct 64-byte lines the walk read."),
  counter("walkBitmapWords", "words", "u64 bitmap words the walk scanned."),
  counter("walkEntriesVisited", "entries", "Table entries the walk read."),
  counter("walkEntriesFollowed", "entries", "Non-zero entries the walk followed."),
  byOrder(
    "walkCacheLinesByOrder",
    "lines",
    "`walkCacheLines` of each order's blocks alone: the walk of a tracker of the profile's " +
      "kind holding only that order's blocks (`lib/metrics/by_order.ts`; levels a real " +
      "tracker shares between orders count once per order).",
  ),
  counter(
    "walkDeferredInitPages",
    "pages",
    "init_deferred_page calls of the successor's walk (kho_get_preserved_page, " +
      "CONFIG_DEFERRED_STRUCT_PAGE_INIT): one 64-byte struct page per page of every preserved " +
      "block; 0 without the option.",
  ),
  counter(
    "walkKernelReplay",
    "flag",
    "1 when the validating reader met corrupt bytes and the kernel's own walk was replayed " +
      "(the kernel's verdict; 0 in strict mode).",
  ),
  counter(
    "memblockReserveCalls",
    "calls",
    "memblock_reserve calls of the successor's whole boot (one per walked block plus the " +
      "boot's own reservations).",
  ),
  counter(
    "walkStructPagesWritten",
    "pages",
    "struct pages the walk wrote (the page->private stamp on each block's head page).",
  ),
  "restore",
  counter(
    "restoredBlocks",
    "blocks",
    "Blocks the scenario's restore calls brought back in the successor.",
  ),
  counter(
    "restoreFailures",
    "objects",
    "Objects whose memory the successor kept but whose restore failed (NULL from kho_restore_*, " +
      "an errno from a client): the sum of the `failedRestore` outcomes.",
  ),
  counter(
    "lostObjects",
    "objects",
    "Objects attempted and not found: the sum of the `lost` outcomes (preserve failed, the " +
      "successor's walk did not keep them, the manifest naming them was unreadable, …).",
  ),
  "outcomes",
  counter(
    "attemptedObjects",
    "objects",
    "Objects the scenario attempted (each a folio, a range, a memfd file, a vmalloc buffer, the " +
      "test module, …): the sum of every outcome.",
  ),
  counter(
    "restoredObjects",
    "objects",
    "Objects restored in the successor with their content verified (outcome `restored`).",
  ),
  counter(
    "refusedObjects",
    "objects",
    "Objects handed over to a successor that refused the handover (outcome `refused`).",
  ),
  counter(
    "corruptedObjects",
    "objects",
    "Objects restored whose content hash differs from the one taken when they were built " +
      "(outcome `corrupted`).",
  ),
  def(
    "outcomes",
    "objects",
    D,
    "outcomes",
    "Per object kind (`folio`, `range`, `memfd`, `vmalloc`, `test_kho`, `subtree`, " +
      "`reserve_mem`, `blocks`), flat columns `outcomes.KIND.attempted` and one per outcome — " +
      "`.restored` (content verified), `.unsupported` (the generation lacks the API or " +
      "capability), `.refused` (the successor refused the handover), `.failedRestore` (the " +
      "memory was kept, the restore call failed), `.corrupted` (content hash differs), `.lost` " +
      "(not found: preserve failed, the walk did not keep it — memblock_free_all gave it to the " +
      "page allocator —, the manifest was unreadable) — adding up to `attempted`, and " +
      "`.reasons`: a JSON array of `NAME: N OUTCOME — TEXT` lines whose counts add up to each " +
      "outcome but `restored` (errno and the successor's log line; where poison was off, whether " +
      "content survived only because freed memory was not overwritten). JSON nests them as " +
      "`outcomes: { KIND: { attempted, …, reasons: [text] } }`.",
  ),
  // ---- the struct-page cost of bringing preserved memory back (lib/metrics/struct_pages.ts)
  "struct pages",
  counter(
    "memmapBootBytes",
    "bytes",
    "Struct pages the successor's sparse_init maps for all RAM: 64 bytes per 4 KiB page, 2 MiB " +
      "per 128 MiB section (HVO state is not handed over); a folded-vmemmap design maps a " +
      "preserved 1 GiB folio's onto one page (4 KiB, memmapFoldedFolios).",
  ),
  counter(
    "memmapPreservedBytes",
    "bytes",
    "Of those, the struct pages of the preserved memory (64 bytes per preserved page: 16 MiB " +
      "per 1 GiB folio) — what a preserved folio costs the successor at boot, whatever its " +
      "tracker costs.",
  ),
  counter(
    "memmapAfterHvoBytes",
    "bytes",
    "Struct pages still mapped after the successor's restores: memmapBootBytes minus what HVO " +
      "freed (its boot-time HugeTLB pool and the retrieved HugeTLB folios; a 1 GiB folio keeps " +
      "4 KiB of its 16 MiB).",
  ),
  counter(
    "hvoFreedBytes",
    "bytes",
    "vmemmap HVO freed in the successor (hugetlb_free_vmemmap=on: 4095 of 4096 pages per 1 GiB " +
      "folio, 7 of 8 per 2 MiB folio); 0 with HVO off.",
  ),
  counter("hvoFolios", "folios", "HugeTLB folios HVO optimized in the successor."),
  counter(
    "memmapFoldedFolios",
    "folios",
    "Preserved folios whose vmemmap the successor's sparse_init mapped folded onto one handed-" +
      "over page (a folded-vmemmap design, examples/designs/folded_vmemmap.ts; 0 in every " +
      "kernel): no memmap buffer, no memmap_init, 64 struct pages written at restore, no HVO. " +
      "Only in rows of a profile with such a design.",
  ),
  counter(
    "memmapInitStructPages",
    "pages",
    "Struct pages memmap_init writes in the successor: every page of RAM, or with " +
      "CONFIG_DEFERRED_STRUCT_PAGE_INIT every page but the noinit (preserved) ones, which " +
      "init_deferred_page writes in the walk (walkDeferredInitPages).",
  ),
  counter(
    "restoreStructPagesWritten",
    "pages",
    "Struct pages the successor's kho_restore_folio/kho_restore_pages wrote (kho_init_folio: " +
      "the head's refcount 1 and every tail's 0 — 2^order per folio, 262,144 per 1 GiB folio; " +
      "kho_restore_pages: every page refcount 1), the scenario's objects and the metadata " +
      "(LUO blocks, serialized records) alike.",
  ),
  counter(
    "compoundStructPagesWritten",
    "pages",
    "Struct pages prep_compound_page wrote again in those restores (head and every tail of " +
      "each folio of order > 0: 262,144 per 1 GiB folio, which restoreStructPagesWritten " +
      "already counted once).",
  ),
  counter(
    "structPageWrites",
    "pages",
    "Struct pages KHO made the successor write: init_deferred_page in the walk, the " +
      "page->private stamps, the restores and prep_compound_page (memmap_init not included).",
  ),
  counter(
    "structPageCacheLines",
    "lines",
    "64-byte cache lines of those struct-page writes (one per 64-byte struct page, counted " +
      "once per phase that writes it).",
  ),
  // ---- memory after the successor's boot
  "memory",
  counter("scratchAreas", "areas", "Scratch areas handed to the successor."),
  counter("scratchBytes", "bytes", "Total size of the scratch areas."),
  counter(
    "scratchUsedBytes",
    "bytes",
    "Bytes of scratch the successor's memblock reserved during boot (image, scratch array, " +
      "early allocations).",
  ),
  counter("freeBytes", "bytes", "Free memory in the successor after boot."),
  byOrder(
    "freeBlocksByOrder",
    "blocks",
    "Free buddy blocks per order 0..10 after the successor's boot (all nodes, /proc/buddyinfo).",
  ),
  counter(
    "free2MiBBlocks",
    "blocks",
    "Naturally aligned free 2 MiB blocks that can still be formed after the successor's boot.",
  ),
  counter(
    "free1GiBBlocks",
    "blocks",
    "Naturally aligned, entirely free 1 GiB ranges after the successor's boot (any migrate " +
      "type, CMA included).",
  ),
  // ---- wall clock: medians of timed replays (lib/metrics/replay.ts), with .n .median .min .max
  "time",
  timed(
    "preserveMs",
    "ms",
    "The outgoing tracker's share of the scenario's preserve calls (the region of the " +
      "`preserve*` counters): the tracker operations those calls made, recorded in the run, " +
      "replayed in call order on an empty tracker of the profile's kind that first holds the " +
      "blocks preserved before (untimed); its metadata pages come from a page pool instead of " +
      "the buddy allocator. The KHO API checks and the clients' own work (memfd, LUO, vmalloc " +
      "descriptors) are not in the region.",
  ),
  timed(
    "finalizeMs",
    "ms",
    "kho_finalize's kho_mem_serialize (`serializeMs` in the issue): the tracker's " +
      "serialization into khoser chunk pages, on the replayed tracker after the operations up " +
      "to finalize. The root FDT and the FINALIZE notifiers are not in the region; absent " +
      "where the profile is stateless (no finalize).",
  ),
  timed(
    "walkMs",
    "ms",
    "The successor's tracker walk with a callback that only counts, over a machine holding " +
      "the handed-over pages (tracker, root FDT, scratch array, sub-trees) copied at their " +
      "physical addresses the instant the successor started; the walk inside the successor's " +
      "boot, with its reservations, is reserveMs.",
  ),
  timed(
    "populateMs",
    "ms",
    "The successor's kho_populate (the handover's FDT and scratch array validated, scratch " +
      "added to memblock), in a replay of the successor's boot phases up to kho_memory_init " +
      "on such a machine, from the same handoff and boot options.",
  ),
  timed(
    "reserveMs",
    "ms",
    "The successor's kho_mem_retrieve in that replayed boot: the tracker walk, " +
      "memblock_reserve and the page->private stamp of every block and, with deferred struct " +
      "page init, its init_deferred_page loop, which kholab counts but does not perform (see " +
      "walkDeferredInitPages). Only on a KHO boot.",
  ),
  timed(
    "memmapInitMs",
    "ms",
    "Estimated successor memmap_init: memmapInitStructPages × the measured cost of " +
      "__init_single_page's stores per struct page on this machine (lib/metrics/struct_pages.ts; " +
      "median of n samples over one folio's 16 MiB of struct pages, with .n .median .min .max).",
  ),
  timed(
    "deferredInitMs",
    "ms",
    "Estimated init_deferred_page loop of the successor's walk (kholab counts it, reserveMs " +
      "does not perform it): walkDeferredInitPages × the same per-struct-page cost.",
  ),
  timed(
    "restoreStructPagesMs",
    "ms",
    "Estimated struct-page writes of the successor's restores: restoreStructPagesWritten × the " +
      "cost of a refcount store plus compoundStructPagesWritten × that of prep_compound_tail's " +
      "two stores, per struct page, measured alike.",
  ),
  timed(
    "hvoMs",
    "ms",
    "Estimated HVO in the successor: vmemmap pages freed × the measured cost of remapping one " +
      "vmemmap PTE and putting the page on a free list (no TLB flush, no buddy merging).",
  ),
]);

const BY_NAME: ReadonlyMap<string, MetricDef> = new Map(METRICS.map((m) => [m.name, m]));

/** Metric names in catalogue order. */
export const METRIC_NAMES: readonly string[] = METRICS.map((m) => m.name);

/**
 * The definition of a metric, or undefined for a name outside the catalogue; a column of the
 * `outcomes` family (`outcomes.memfd.lost`) has the definition of `outcomes`.
 */
export function metricDef(name: string): MetricDef | undefined {
  return BY_NAME.get(name) ?? (parseOutcomeKey(name) ? BY_NAME.get("outcomes") : undefined);
}

/**
 * Whether a metric is measured with a clock (excluded from equality checks): a wall-clock
 * metric of the catalogue or one of its statistics (`walkMs.min`, `lib/metrics/timing.ts`).
 */
export function isWallClock(name: string): boolean {
  return BY_NAME.get(parseTimingStatKey(name)?.name ?? name)?.kind === "wallclock";
}

/** A copy of the row without its wall-clock metrics (for comparisons across runs). */
export function deterministicPart(row: MetricsRow): MetricsRow {
  const out: MetricsRow = {};
  for (const [k, v] of Object.entries(row)) if (!isWallClock(k)) out[k] = v;
  return out;
}

/**
 * Formats per-order values as `"order:value …"` (ascending, zeros omitted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatByOrder, parseByOrder } from "./metrics.ts";
 * const s = formatByOrder(new Map([[18, 1008], [0, 5]]));
 * assert.equal(s, "0:5 18:1008");
 * assert.deepEqual(parseByOrder(s), new Map([[0, 5], [18, 1008]]));
 * ```
 */
export function formatByOrder(values: ReadonlyMap<number, number> | readonly number[]): string {
  const entries: [number, number][] = Array.isArray(values)
    ? (values as readonly number[]).map((v, i) => [i, v])
    : [...(values as ReadonlyMap<number, number>)];
  return entries.filter(([, v]) => v !== 0).sort((a, b) => a[0] - b[0])
    .map(([o, v]) => `${o}:${v}`).join(" ");
}

/** Parses {@link formatByOrder} output. Throws SyntaxError on malformed text. */
export function parseByOrder(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const part of text.split(" ")) {
    if (part === "") continue;
    const m = /^(\d+):(-?[0-9.e+-]+)$/.exec(part);
    if (!m) throw new SyntaxError(`bad per-order value "${part}"`);
    out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

/**
 * The cost model behind every deterministic cost counter (`lib/kho/trackers/counters.ts`),
 * as Markdown lines: one set of rules for every encoding, each encoding's levels, and the
 * XArray model of the xarray era (`lib/kho/trackers/xarray_nodes.ts`). Rendered into
 * `docs/metrics.md`; `tests/metrics/metrics_test.ts` checks its per-encoding figures
 * against the trackers.
 */
export const COST_MODEL: readonly string[] = Object.freeze([
  "## Cost model",
  "",
  "One model for every encoding — the kernel's generations, the proposals and user designs",
  "(`defineTracker`: a design charges the same `TrackerCounters`, and the conformance suite's",
  "`cost-counters` check holds it to the rules below). Counters are charged per operation (a",
  "preserve, an unpreserve, finalize's serialization, the successor's walk) and summed:",
  "",
  "- _cache lines read_: distinct 64-byte lines of tracker metadata the operation loads,",
  "  whatever holds them — table pages, leaves and bitmaps, XArray nodes, the per-order",
  "  `kho_mem_phys`, chunk pages; setting or clearing a bit reads its line; a whole 4 KiB page",
  "  is 64. An operation is charged the lines of its whole path, nodes it has just created",
  "  included. The tracker's anchor in the kernel's static data (the radix tree's root pointer,",
  "  `kho_out`'s `orders` XArray head, an FDT property) is not charged, nor are locks.",
  "- _entries visited_: pointer slots read on the way (a u64 table entry, an XArray slot or",
  "  head, a chunk element); _followed_ when non-zero and taken.",
  "- _cache lines written_: one line per bit set or cleared, one per pointer stored (a node or",
  "  bitmap linked, an entry added), and the lines a serialization fills; a page zeroed by its",
  "  allocator is not charged.",
  "- _pages touched_: distinct metadata pages read or written; an object smaller than a page",
  "  (an XArray node, a `kho_mem_phys`, a 512-byte bitmap) counts as the page holding it.",
  "- _nodes allocated_: index objects smaller than a page allocated from slab (XArray nodes,",
  "  `kho_mem_phys`); whole pages are _pages allocated_ (`metadataAllocs`).",
  "",
  "One preserve of a block whose path exists (an unpreserve reads the same path; a lookup",
  "that misses stops at the first empty slot) reads:",
  "",
  "- radix tree (kho-v2 on, kho-facts §2.3): the tables of levels 5..1 and the leaf;",
  "- order table (RFC v1, kho-facts §4.1): the order's slot in `kho_order_table`, the `L − 1`",
  "  page tables below it (`L = kho_table_level(order)`: 6 for order 0, 5 for orders 1..9, 4",
  "  for 10..18) and the bitmap table;",
  "- xarray (6.16 – 6.19, kho-facts §3.1): the `orders` XArray's nodes down to slot `order`",
  "  (`h_o` of them), the `kho_mem_phys` (its `phys_bits` head), the `phys_bits` nodes down to",
  "  slot `index` (`h_b`), the bitmap.",
  "",
  "| encoding | entries | lines read | pages |",
  "| --- | --- | --- | --- |",
  "| radix tree | 5 | 6 | 6 |",
  "| order table | L | L + 1 | L + 1 |",
  "| xarray | h_o + 1 + h_b | h_o + x(order) + 1 + h_b + x(index) + 1 | h_o + h_b + 2 |",
  "",
  "Every encoding writes one line (the bit) per preserve, plus one per pointer stored when it",
  "creates nodes or a bitmap.",
  "",
  "The XArray (`include/linux/xarray.h`, `lib/xarray.c`; kho-facts §16.1 for the 64 slots)",
  "as the xarray era's `__kho_preserve_order` uses it — `xa_load` on `orders` by order, then",
  "`xa_load` on the order's `phys_bits` by `index = (pfn >> order) / PRESERVE_BITS`, with",
  "`xa_cmpxchg` storing what is missing:",
  "",
  "- a node (`struct xa_node`, 576 bytes from slab) has 64 slots; its first line holds the",
  "  header and slots 0..2, slot `s` lies in line `(40 + 8 s) / 64`;",
  "- an XArray whose largest index is `max` has `h = height(max)` levels of nodes, the base-64",
  "  digits of `max` (1 up to 63, 2 up to 4095, 3 up to 262143); a lone entry at index 0 lives",
  "  in the head with no node. `h_o` is the `orders` XArray's height (0 while order 0 is the",
  "  only order, then 1), `h_b` the order's `phys_bits` height;",
  "- `xa_load(i)` of a present index visits `h` nodes: per node its header line and the line",
  "  of the slot taken, so `h + x(i)` lines, `x(i)` the number of base-64 digits of `i` that",
  "  are 3 or more (slots past the first line);",
  "- `xa_store(i)` of a new index grows the tree at the top until `i` fits (the old tree hangs",
  "  at slot 0 of each new root) and allocates the missing nodes on `i`'s path; nothing is",
  "  ever erased, so the nodes of level `k` are the distinct `i >> 6k` of the stored indices;",
  "  a new order also allocates its `kho_mem_phys`;",
  "- serialization (`kho_mem_serialize`, kho-facts §3.2): `xa_for_each` over `orders` and",
  "  over each `phys_bits` (`xa_find`, then `xa_find_after` per entry: each step descends",
  "  from the head again and scans slots forward to the next entry), so every node's 9 slot",
  "  lines are read and the slots are counted as often as they are read; each `kho_mem_phys`",
  "  is read; the bitmaps are listed by address, not read (`serializeBitmapWords` is 0); each",
  "  chunk page is written, header and entries (`serializeCacheLinesWritten`).",
  "",
  "So a 1 GiB band of order-0 pages at 4 GiB preserved into an empty tracker (the",
  "`review-questions` notebook) costs per page 6 lines on the radix tree (5 tables and the",
  "leaf, for every order), 4 on 6.18/6.19's xarray (no `orders` node yet, the",
  "`kho_mem_phys`, one `phys_bits` node whose slots 32..39 lie past its first line, the",
  "bitmap) and about 6 on 6.16's (512-byte bitmaps: indices 256..319 need two `phys_bits`",
  "levels). Once blocks of other orders exist the `orders` node adds one or two lines.",
  "",
  "The successor's walk (`walk*`) reads what was handed over: each table or chunk entry",
  "once, leaves and bitmaps word by word (`walkBitmapWords`), one callback per block.",
]);

/**
 * Renders the catalogue as Markdown: the contents of `docs/metrics.md`.
 */
export function renderMetricsDoc(): string {
  const lines: string[] = [
    "# Metrics",
    "",
    "<!-- Generated from lib/metrics/metrics.ts by renderMetricsDoc(); do not edit by hand. -->",
    "",
    "Every metric of a scenario row (`lib/scenario/run.ts`, sweeps, `compare`). Names are",
    "camelCase with the unit last. _deterministic_ metrics depend only on the scenario, its",
    "parameters and seed, so they compare across machines and worker counts: they are the",
    "comparison to rely on. `byOrder` values are strings `order:value` separated by spaces",
    "(ascending, zeros omitted).",
    "",
    "_wallclock_ metrics are milliseconds on the machine that ran them, excluded from equality",
    "checks. The run itself reads no clock; it records what each timed region needs (the",
    "tracker operations of the preserve calls and of finalize, the handed-over bytes when the",
    "successor starts), and the region is then replayed after warm-up (up to 3 untimed runs,",
    "fewer once they took 250 ms) `repeat`",
    "times (`--repeat N`, default 5) in one thread, one sweep point at a time and only once no",
    "sweep point runs (`lib/metrics/replay.ts`, `lib/scenario/sweep.ts`); each replay is",
    "checked against the run (its counters, walk and verdict) or gives no timing. A row",
    "carries each timing `NAME` as its median (`NAME`) and as `NAME.n`, `NAME.median`,",
    "`NAME.min`, `NAME.max`; JSON nests these as `timings: { NAME: { n, median, min, max } }`.",
    "The successor's whole boot, the scenario's build and its restores are not timed: on a",
    "1 TiB host each takes seconds of kholab's own simulation (memblock_free_all of all RAM,",
    "content hashes) that repeating would multiply; `RunResult.phaseMs` gives one run's",
    "phases to benchmarks.",
    "",
    "",
    ...COST_MODEL,
  ];
  let group = "";
  for (const m of METRICS) {
    if (m.group !== group) {
      group = m.group;
      lines.push("", `## ${group}`, "", "| name | unit | kind | type | description |");
      lines.push("| --- | --- | --- | --- | --- |");
    }
    lines.push(
      `| \`${m.name}\` | ${m.unit} | ${m.kind} | ${m.type} | ${
        m.description.replaceAll("|", "\\|")
      } |`,
    );
  }
  return lines.join("\n") + "\n";
}
