/**
 * kholab — a laboratory for the Linux kernel's Kexec HandOver (KHO).
 *
 * A simulated machine whose physical memory survives kexec, the kernels that boot on it
 * (memblock, struct pages, the buddy allocator, vmalloc, a kernel log), and the KHO engine
 * that carries preserved memory from one kernel to the next — byte for byte in the kernel's
 * own layouts. The successor kernel knows only bytes.
 *
 * This module is the public API, listed name by name and grouped by layer (lowest first);
 * everything else under `lib/` is internal and may change. `tests/mod_test.ts` pins the list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Kernel, Machine } from "./mod.ts";
 * const machine = new Machine({ ramBytes: 2 ** 33, nodes: 2 });
 * const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on" });
 * const folio = k1.buddy.folioAlloc(9)!;             // a 2 MiB folio
 * machine.mem.fill(folio * 4096, 2 ** 21, { pattern: 7 });
 * const hash = machine.mem.hash64(folio * 4096, 2 ** 21);
 * k1.kho.preserveFolio(folio);
 * const k2 = k1.kexec();                             // only memory and 32 bytes cross
 * assert.equal(k2.kho.restoreFolio(folio * 4096), folio);
 * assert.equal(machine.mem.hash64(folio * 4096, 2 ** 21), hash);
 * ```
 *
 * @module
 */

// ---- base: the error policy, units, the one seed derivation and the one clock
export {
  ERRNO,
  type ErrnoName,
  FDT_ERR,
  type FdtErrName,
  FdtError,
  KernelBug,
  KhoError,
  PhysRangeError,
} from "./lib/errors.ts";
export {
  formatSize,
  GiB,
  hex,
  KiB,
  MAX_PAGE_ORDER,
  MiB,
  orderBytes,
  orderPages,
  PAGE_SHIFT,
  PAGE_SIZE,
  parseCount,
  parseSize,
  pfnToPhys,
  physToPfn,
  TiB,
} from "./lib/units.ts";
export { type Clock, deriveSeed, ManualClock, Rng, timed, wallClock } from "./lib/rng.ts";
// FILE:LINE:COL diagnostics with the source line and a caret, for every text input.
export {
  type Diagnostic,
  formatDiagnostic,
  formatDiagnostics,
  type Span,
} from "./lib/diagnostics.ts";

// ---- machine: what survives kexec (physical memory and its topology)
export { Machine } from "./lib/machine/machine.ts";
export { type FillSpec, PhysicalMemory, type PhysMemStats } from "./lib/machine/physmem.ts";
export type { RamRange, Topology, TopologyOptions } from "./lib/machine/topology.ts";
// What the simulator costs the host process, and the budget a run may take (--max-memory).
export {
  defaultMemoryBudget,
  HOST_BYTES,
  HostMemoryError,
  hostMemoryInUse,
  MemoryBudget,
  type MemoryEstimate,
} from "./lib/machine/host_memory.ts";

// ---- kernel (mm): one boot's memory management, reached through a Kernel
export type { KernelLog, LogEntry, LogLevel } from "./lib/kernel/dmesg.ts";
export { KernelPanic } from "./lib/kernel/panic.ts";
export { KernelOops } from "./lib/kernel/oops.ts";
export type { FaultInjector, FaultOptions } from "./lib/kernel/faults.ts";
export type { KernelParams, ReserveMemParam } from "./lib/kernel/cmdline.ts";
export {
  type AllocNidOptions,
  type AllocRangeOptions,
  type AllocUserOptions,
  type FreeRangeFn,
  type Memblock,
  MemblockFlags,
  type MemblockRegion,
  type ReservedRangeFn,
  type ReserveOptions,
} from "./lib/kernel/memblock.ts";
export type { Memmap, MemmapCensus, MemmapStats } from "./lib/kernel/memmap.ts";
export type {
  AllocOptions,
  BuddyAllocator,
  BuddyStats,
  FreeBlockInfo,
  PagetypeRow,
} from "./lib/kernel/buddy.ts";
export { type Gfp, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_ZERO } from "./lib/kernel/gfp.ts";
export { allocGigantic, freeGigantic, type GiganticOptions } from "./lib/kernel/gigantic.ts";
// HugeTLB pools (hugepagesz=, hugepages=, hugetlb_free_vmemmap=, hugetlb_cma=; `kernel.hugetlb`).
export {
  Hstate,
  type Hugetlb,
  type HugetlbCmaArea,
  type HugetlbHost,
  type HugetlbParams,
  parseHugetlbParams,
} from "./lib/kernel/hugetlb.ts";
// The vmemmap: struct page bytes mapped, HVO, struct pages written per phase (`memmap.vmemmap`).
export {
  hugetlbVmemmapBytes,
  hugetlbVmemmapOptimizableBytes,
  STRUCT_PAGE_BYTES,
  STRUCT_PAGE_PHASES,
  type StructPagePhase,
  type Vmemmap,
  type VmemmapFold,
} from "./lib/kernel/vmemmap.ts";
export type { Vmalloc, VmallocCallOptions, VmArea } from "./lib/kernel/vmalloc.ts";

// ---- KHO: the engine's facade (`kernel.kho`), the handover, the generations
export type { Kho } from "./lib/kho/kho.ts";
export type {
  KhoEvent,
  KhoNotifier,
  KhoOut,
  OutgoingRootView,
  OutgoingSubtree,
} from "./lib/kho/preserve.ts";
export type {
  KhoIn,
  MemRetrieveOptions,
  PopulateResult,
  RetrieveStats,
} from "./lib/kho/restore.ts";
export type { KhoSerialization } from "./lib/kho/root_fdt_sw.ts";
// Extended scratch (the boot-time huge page series, kho-facts §9.6): the second tree by 1 GiB.
export {
  type ExtScratchHost,
  type ExtScratchOptions,
  type ExtScratchReport,
  type ExtTreePage,
  KHO_EXT_SHIFT,
  khoExtendScratch,
} from "./lib/kho/ext_scratch.ts";
export type { Handover } from "./lib/kho/abi/kho_data.ts";
export type { ScratchArea } from "./lib/kho/abi/asm_generic_kexec_handover.ts";
// The kho_vmalloc descriptor test_kho hands over (TestKhoState.foliosInfo).
export type { KhoVmalloc, KhoVmallocFields } from "./lib/kho/abi/kexec_handover.ts";
// What /sys/kernel/debug/kho/out/ shows of a kernel's outgoing handover.
export { type DebugfsFile, type KhoOutDebugfs, khoOutDebugfs } from "./lib/kho/debugfs.ts";
export {
  type AbiProfile,
  type BuiltinProfileName,
  type BuiltinTrackerKind,
  CURRENT_PROFILE,
  type FdtStyle,
  type FinalizeStyle,
  type FixStatus,
  getProfile,
  type GuestMemoryPath,
  hasApi,
  hasGuestMemory,
  isBuiltinProfile,
  kernelRelease,
  KHO_ASSUMPTIONS,
  KHO_FIXES,
  type KhoApi,
  type KhoAssumption,
  type KhoBug,
  type KhoFix,
  type LuoGeneration,
  PROFILE_NAMES,
  type ProfileName,
  profileNames,
  PROFILES,
  type RestoreRules,
  type TrackerKind,
  withFixes,
} from "./lib/kho/profiles.ts";
// KHO's native-endian integer properties (`show fdt` decodes them after dtc's cells).
export {
  NATIVE_PROPERTIES,
  type NativeProperty,
  nativePropertyNote,
} from "./lib/kho/abi/native_props.ts";
// Reading and checking flattened device trees (the root FDT, sub-FDTs; KhoIn's incoming FDT).
export {
  checkFullVerdict,
  type DtsOptions,
  type FdtProperty,
  FdtReader,
  type FdtReserveEntry,
  HDR,
  type HeaderField,
  toDts,
} from "./lib/kho/fdt/mod.ts";

// A handed-over FDT blob read as kernel code reads one (phys_to_virt + libfdt: an oops past RAM).
export {
  type PhysFdtHost,
  type PhysFdtSite,
  readPhysFdt,
  readPhysFdtBytes,
} from "./lib/kho/phys_fdt.ts";

// kho_block (7.2): chains of preserved blocks of fixed-size entries, as KHO's clients use them.
export { type KhoBlockHost, KhoBlockSet, type KhoBlockSetIt } from "./lib/kho/block.ts";

// ---- KHO trackers: the table of formats, walking handed-over bytes, costs and failures
export {
  BUILTIN_TRACKER_FORMATS,
  type IncomingWalkOptions,
  type IncomingWalkResult,
  isBuiltinTrackerKind,
  trackerAvailable,
  trackerFormat,
  trackerKinds,
  walkIncoming,
} from "./lib/kho/trackers/registry.ts";
export type {
  IncomingTracker,
  IncomingTrackerOptions,
  KernelReplay,
  MetadataPageAllocator,
  OutgoingTracker,
  TrackerCapabilities,
  TrackerFormat,
  TrackerHost,
  WalkBatchCallback,
  WalkCallback,
  WalkOrder,
} from "./lib/kho/trackers/tracker.ts";
// What a design's reader is built from: the one incoming adapter and the walk's guard.
export {
  type CheckedWalk,
  checkedWalk,
  incomingTracker,
  type IncomingWalks,
} from "./lib/kho/trackers/incoming.ts";
export {
  type BlockCallback,
  type ChildReasons,
  TREE_CHILD_REASONS,
  type TreeWalkErrorReason,
  WalkGuard,
  type WalkGuardOptions,
  type WalkOutcome,
} from "./lib/kho/trackers/walk_guard.ts";
export {
  cacheLinesSpanned,
  settleOnAccess,
  TRACKER_COUNTER_NAMES,
  TrackerCounters,
  type TrackerCounterValues,
} from "./lib/kho/trackers/counters.ts";
export { TrackerCorruptionError, type TrackerStructure } from "./lib/kho/trackers/corruption.ts";
export { type TrackerPages, trackerPagesRead } from "./lib/kho/trackers/pages_read.ts";
export { KhoHangError } from "./lib/kho/trackers/xarray.ts";
export type { KhoserEra } from "./lib/kho/trackers/khoser.ts";
// The kernel's own walk of handed-over bytes (the verdict when the validating reader objects).
export {
  type KernelBlockCallback,
  type KernelWalkHost,
  type KernelWalkResult,
  KhoWalkHangError,
} from "./lib/kho/trackers/kernel_walk.ts";

// ---- LUO: the Live Update Orchestrator (`kernel.liveupdate`, 6.19 on): /dev/liveupdate,
// sessions, files through registered handlers, file-lifecycle-bound (FLB) objects
export type { LiveUpdate, LuoStats } from "./lib/luo/luo_core.ts";
export type {
  LiveUpdateDevice,
  LiveUpdateFd,
  LuoFileInfo,
  LuoSessionFd,
} from "./lib/luo/device.ts";
export type {
  FileOpArgs,
  LiveUpdateFileHandler,
  LuoFile,
  LuoSessionOps,
} from "./lib/luo/file_handler.ts";
export {
  type FlbEarlyHost,
  flbIncomingEarly,
  type FlbOpArgs,
  type LiveUpdateFlb,
  type LuoFlbGlobal,
} from "./lib/luo/luo_flb.ts";
export type { LuoSession, LuoSessionGlobal, LuoSessionState } from "./lib/luo/luo_session.ts";
export type { LuoFileEntry, LuoFileGlobal, LuoFileSet, LuoFileState } from "./lib/luo/luo_file.ts";
export { LuoBlockedError, type LuoHost } from "./lib/luo/luo_internal.ts";
export type { LuoFileSetSer } from "./lib/kho/abi/luo.ts";

// ---- boot: the kernel's boot sequence and kexec
export {
  Kernel,
  type KernelModule,
  type KernelOptions,
  type KexecHooks,
} from "./lib/boot/kernel.ts";
export {
  type BootConfig,
  type BootHandoff,
  type BootOptions,
  type BootReport,
  describeBootConfig,
  resolveBootConfig,
  type ResolvedBootConfig,
} from "./lib/boot/options.ts";
// Which kind of kernel verdict a thrown value is (errno, oops, panic, hang, BUG, blocked).
export { asKernelVerdict, kernelVerdict, type KernelVerdictKind } from "./lib/boot/verdict.ts";
// A design's folded vmemmap at sparse_init (what a fold source reads; none built in).
export {
  type VmemmapFoldSource,
  vmemmapFoldSource,
  type VmemmapFoldView,
} from "./lib/boot/vmemmap_fold.ts";
// reserve_mem=: reserved (or revived) at boot, preserved by the late initcall.
export {
  type ReservedMem,
  type ReserveMemHost,
  reserveMemPrepareKho,
  type ReserveMemState,
  reserveMemUnprepareKho,
} from "./lib/boot/reserve_mem.ts";

// ---- clients: the kernel's KHO and LUO users (lib/test_kho.c, memfd and its LUO file
// handler, registered through the boot's `modules`)
export {
  testKhoExit,
  type TestKhoFolio,
  testKhoInit,
  type TestKhoOptions,
  type TestKhoResult,
  testKhoSave,
  type TestKhoState,
  testKhoVerify,
} from "./lib/clients/test_kho.ts";
export {
  memfdCreate,
  type MemfdCreateOptions,
  MemfdFile,
  type ShmemFolio,
} from "./lib/clients/memfd.ts";
export { MEMFD_LUO_MODULE, MemfdLuoHandler, memfdLuoHandler } from "./lib/clients/memfd_luo.ts";
// HugeTLB live update (RFC 2025-12-07, profile rfc-2025-12-hugetlb): hugetlb-v1 FLB, huge-memfd-v1.
export {
  HugeMemfdLuoHandler,
  hugeMemfdLuoHandler,
  HUGETLB_LUO_MODULE,
  HugetlbFlb,
  hugetlbLuoModule,
  hugetlbVmemmapDesign,
  type HugetlbVmemmapRestore,
  REBUILD_AND_REOPTIMIZE,
  registerHugetlbVmemmap,
} from "./lib/clients/hugetlb_luo.ts";
export { HUGE_MEMFD_COMPATIBLE, HUGETLB_FLB_COMPATIBLE } from "./lib/kho/abi/hugetlb.ts";
export type { MemfdLuoCompat } from "./lib/kho/abi/memfd.ts";
// The guest_memfd proposal (luo-hugetlb-facts §4.4): VM files, guest_memfd files, their LUO
// handlers (kvm_vm_luo_v1, guest_memfd_luo_v1) and hand-over ABI.
export { KVM_X86_DEFAULT_VM, kvmCreateVm, KvmVm } from "./lib/clients/kvm.ts";
export {
  GUEST_MEMFD_FLAG_INIT_SHARED,
  GUEST_MEMFD_FLAG_MMAP,
  type GuestMemfdCreateOptions,
  GuestMemfdFile,
  kvmCreateGuestMemfd,
} from "./lib/clients/guest_memfd.ts";
export { KvmLuoHandler } from "./lib/clients/kvm_luo.ts";
export {
  GuestMemfdLuoHandler,
  guestMemfdLuoHandler,
  KVM_LUO_MODULE,
} from "./lib/clients/guest_memfd_luo.ts";
export {
  decodeGuestMemfdLuoSer,
  encodeGuestMemfdLuoSer,
  GUEST_MEMFD_LUO_FH_COMPATIBLE,
  type GuestMemfdLuoSer,
  KVM_LUO_FH_COMPATIBLE,
} from "./lib/kho/abi/kvm.ts";

// ---- metrics: the catalogue of what a run measures (docs/metrics.md)
export {
  deterministicPart,
  isWallClock,
  METRIC_NAMES,
  type MetricDef,
  metricDef,
  type MetricKind,
  METRICS,
  type MetricsRow,
  type MetricType,
  type MetricValue,
} from "./lib/metrics/metrics.ts";
export {
  type DomainFloor,
  type DomainObservation,
  type FloorResult,
  type PlacementDomain,
  placementFloor,
  type PlacementFloorResult,
  preservationFloor,
} from "./lib/metrics/floor.ts";
// The struct-page cost of bringing preserved memory back (memmap, writes by phase, estimates).
export {
  measureStructPageCosts,
  type SampleStats,
  type StructPageCosts,
  structPageMetrics,
  structPageTimes,
} from "./lib/metrics/struct_pages.ts";
// What each block order costs alone in an encoding (the *ByOrder metrics, the per-order charts).
export { blocksByOrder, costByOrder, type OrderCost } from "./lib/metrics/by_order.ts";
// Wall-clock figures: n samples, median, min, max; replayed after the run, one point at a time.
export {
  formatTiming,
  rowTimings,
  type Timings,
  type TimingStats,
  timingStats,
} from "./lib/metrics/timing.ts";
// Every attempted object's outcome, per kind, with reasons (flat `outcomes.KIND.*` columns).
export {
  type KindOutcomes,
  type Outcome,
  outcomeColumns,
  outcomeProblems,
  OUTCOMES,
  type Outcomes,
  OutcomeTally,
  rowOutcomes,
  totalOutcomes,
} from "./lib/metrics/outcomes.ts";
export {
  DEFAULT_WARMUP,
  DEFAULT_WARMUP_MS,
  type ReplayOptions,
  type ReplayResult,
  replayTimings,
  TIMED_REGIONS,
} from "./lib/metrics/replay.ts";
export type {
  BootOutcome,
  CountedWalk,
  HandoverCapsule,
  TimingCapsule,
  TrackerCapsule,
  TrackerOps,
} from "./lib/metrics/capsule.ts";

// ---- design: trackers and profiles defined outside lib/, the conformance suite, design files
export { defineProfile, defineTracker, type ProfileDesign } from "./lib/design/define.ts";
export {
  CONFORMANCE_CHECKS,
  type ConformanceCheck,
  type ConformanceCheckName,
  type ConformanceOptions,
  type ConformanceReport,
  conformanceTable,
  runConformance,
} from "./lib/design/conformance.ts";
export { DesignError, designOrigin, loadDesign, type LoadedDesign } from "./lib/design/load.ts";
export { FaultyAllocator, PagePool, type PagePoolOptions } from "./lib/design/page_pool.ts";

// ---- scenarios: seeded scenarios, sweeps on workers, the profile comparison, exports
export {
  buildScenario,
  checkParamValue,
  getScenario,
  hypervisorMachine,
  LADDER_HOST_BYTES,
  type ParamBounds,
  type ParamSpec,
  type ParamType,
  type ParamValue,
  resolveParams,
  SCENARIO_NAMES,
  type ScenarioInstance,
  type ScenarioName,
  type ScenarioParams,
  SCENARIOS,
  type ScenarioSpec,
} from "./lib/scenario/scenarios.ts";
// What a scenario instance holds and what `beforeKexec` sees of the harness's own handover.
export { guestFileUnsupported, type Tally, type Workload } from "./lib/scenario/workloads.ts";
export type { ManifestWriteResult } from "./lib/scenario/manifest.ts";
export type {
  BlobRecord,
  BlocksSection,
  FolioSection,
  ManifestSection,
  MemfdRecord,
  MemfdSection,
  RangeSection,
  ReserveMemSection,
  SectionBase,
  SubtreeSection,
  TestKhoSection,
  UnsupportedObjects,
  VmallocSection,
} from "./lib/scenario/manifest_abi.ts";
export {
  type BeforeKexecContext,
  DEFAULT_REPEAT,
  type RunOptions as ScenarioRunOptions,
  type RunPhases,
  type RunResult as ScenarioRunResult,
  runScenario,
  runUntimed,
  type UntimedRunOptions,
  type UntimedRunResult,
  withTimings,
} from "./lib/scenario/run.ts";
export {
  type AfterJobs,
  runSweep,
  type SweepEvent,
  type SweepOptions,
  type SweepPoint,
  sweepPoints,
} from "./lib/scenario/sweep.ts";
export { scenarioMemory } from "./lib/scenario/scenario_memory.ts";
// Sweeps split over machines: shard K of N into a JSON-lines file, resumable; the merge.
export {
  MAX_SHARDS,
  type MergedShards,
  mergeShardFiles,
  mergeShards,
  parseShard,
  runShard,
  type Shard,
  type ShardCode,
  ShardError,
  shardIndices,
  type ShardInput,
  shardOf,
  type ShardOptions,
  type ShardResult,
  type SweepIdentity,
  sweepIdentity,
} from "./lib/scenario/shard.ts";
export {
  COMPARE_COLUMNS,
  type CompareOptions,
  compareProfiles,
  formatBytes,
  formatTable,
  OUTCOME_TABLE_COLUMNS,
  outcomeReasonLines,
  outcomeRows,
  type TableColumn,
  timingColumn,
} from "./lib/scenario/compare.ts";
export {
  type JsonRow,
  rowFromJson,
  rowJson,
  rowsFromCsv,
  rowsFromJson,
  rowsToCsv,
  rowsToJson,
} from "./lib/scenario/export.ts";
// The published shape of extended scratch (kho-facts §12): 557 and 526,386 preservations.
export {
  EXT_SCRATCH_PUBLISHED,
  EXT_SCRATCH_PUBLISHED_MACHINE,
  extScratchOrdersFor,
  type ExtScratchPublishedCase,
  type ExtScratchShapeOptions,
  type ExtScratchShapeResult,
  runExtScratchShape,
} from "./lib/scenario/ext_scratch_shape.ts";
// Real data in: a host's pfn list, read bounded, checked line by line.
export {
  checkPfnList,
  machineForPfnList,
  type ParsedPfnList,
  parsePfnList,
  type PfnList,
  PfnListError,
  type PfnListMachine,
} from "./lib/scenario/pfn_list.ts";
export {
  type InputFile,
  InputFileError,
  type InputLimits,
  readInputFile,
} from "./lib/scenario/input_file.ts";
// Real data out: a handover laid out like the kernel's debugfs, and read back as a successor.
export {
  collectHandoverExport,
  type ExportedSubtree,
  exportScenarioHandover,
  type HandoverExport,
  type HandoverExportMeta,
  writeHandoverExport,
} from "./lib/scenario/handover_export.ts";
export {
  type HandoverFolder,
  type HandoverInspection,
  type InspectedSubtree,
  inspectHandover,
  inspectionText,
  readHandoverFolder,
} from "./lib/scenario/handover_inspect.ts";
export {
  abiMatrix,
  type AbiMatrixCell,
  abiMatrixText,
  availableProfiles,
  type LuoMatrixOutcome,
} from "./lib/scenario/abi_matrix.ts";

// ---- DSL: the kholab command language
// A session (a script's world) that keeps its state across calls, and its tagged template.
export {
  type CellPart,
  CellResult,
  type KhoTag,
  session,
  type SessionTagOptions,
} from "./lib/dsl/tag.ts";
export {
  DEFAULT_MAX_STEPS,
  type ExpectResult,
  type HandoverLedger,
  type KernelConfig,
  type MachineConfig,
  type MeasureRow,
  type OutputListener,
  type ScriptChart,
  type ScriptStats,
  Session,
  type SessionOptions,
  type SettledOutcome,
  type Shown,
  type SweepBinding,
} from "./lib/dsl/session.ts";
// `chart KIND …`: charts of a script's measured rows, kept for a report from the script.
export { CHART_KINDS, type ChartKind, type ChartRequest, recordChart } from "./lib/dsl/charts.ts";
export {
  DslObject,
  type ObjectInit,
  type ObjectKind,
  type ObjectState,
} from "./lib/dsl/objects.ts";
// The explicit command table, and the types to build one.
export {
  type CheckProblem,
  type CommandSpec,
  type CommandTable,
  commandTable,
  type Invocation,
  type LiteralArgs,
  type MetricSpec,
  type ObjectKindSpec,
  type OptionSpec,
  type PositionalSpec,
} from "./lib/dsl/spec.ts";
export { TABLE as COMMAND_TABLE } from "./lib/dsl/table.ts";
export {
  type CheckResult,
  checkScript,
  type RunOptions,
  type RunResult,
  runScript,
} from "./lib/dsl/run.ts";
export type { ScalarValue, ValueKind as ScriptValueKind } from "./lib/dsl/values.ts";
export type { RawInput } from "./lib/dsl/lineedit.ts";
// Reading a script a user names: a regular file, within a size limit.
export { MAX_SCRIPT_BYTES, readScriptFile } from "./lib/dsl/source_file.ts";
export { repl, type ReplOptions } from "./lib/dsl/repl.ts";
// `kholab import FILE`: a host's pfn list through preserve, kexec and the successor's walk.
export {
  type ImportMiss,
  type ImportOptions,
  importPfnList,
  type ImportResult,
  importText,
} from "./lib/dsl/import.ts";
export {
  ScriptRuntimeError,
  ScriptStopError,
  ScriptSyntaxError,
  ScriptSyntaxErrors,
  type StopReason,
} from "./lib/dsl/errors.ts";

// ---- plot: charts and tables from rows (notebooks and reports)
export { Chart, type FigureOptions, type MimeBundle } from "./lib/plot/chart.ts";
export {
  buddyinfoFigure,
  type BuddyinfoRow,
  byOrderFigure,
  type ByOrderRow,
  compatMatrixFigure,
  densitySweepFigure,
  hostLadderFigure,
  type LevelRow,
  type MatrixCell,
  metadataBarsFigure,
  metadataByOrderFigure,
  metadataFigure,
  type MetadataFigureOptions,
  type NamedBar,
  namedBarsFigure,
  type NamedBarsOptions,
  orderShareFigure,
  type OrderShareRow,
  orderShareRows,
  radixOccupancyFigure,
  sweepFigure,
  type SweepFigureOptions,
  timingFigure,
  walkCostFigure,
  type WalkCostOptions,
  walkTimeFigure,
} from "./lib/plot/figures.ts";
// One colour per profile in every chart.
export { PROFILE_COLORS, profileColor, profileColorScale } from "./lib/plot/palette.ts";
export { type ExtScratchPoint, extScratchShapeFigure } from "./lib/plot/ext_scratch.ts";
export { type ColumnSpec, ResultTable, table } from "./lib/plot/table.ts";
export { Progress, type ProgressSink } from "./lib/plot/progress.ts";
export type { RadixOccupancy } from "./lib/plot/radix_occupancy.ts";

// ---- report: reproducible HTML reports and a kexec's inside view
export {
  demoReport,
  type DemoReportOptions,
  type ReportMeta,
  type ReportOptions,
  type ReportResult,
  writeReport,
} from "./lib/report/report.ts";
// `kholab report FILE.kho`: the same report from a script's rows and charts.
export {
  type ScriptChartJson,
  type ScriptReportMeta,
  type ScriptReportOptions,
  type ScriptReportResult,
  writeScriptReport,
} from "./lib/report/script_report.ts";
export { inspectKexec, type KexecInspection } from "./lib/report/inspect.ts";
export type { Versions } from "./lib/report/provenance.ts";
export { codeRevision, sourceDigest } from "./lib/report/provenance.ts";
