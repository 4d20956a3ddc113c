/**
 * kholab — a laboratory for the Linux kernel's Kexec HandOver (KHO).
 *
 * A simulated machine whose physical memory survives kexec, the kernels that boot on it
 * (memblock, struct pages, the buddy allocator, vmalloc, a kernel log), and the KHO engine
 * that carries preserved memory from one kernel to the next — byte for byte in the kernel's
 * own layouts. The successor kernel knows only bytes.
 *
 * @example
 * ```ts
 * import { Kernel, Machine } from "./mod.ts";
 * const machine = new Machine({ ramBytes: 2 ** 33, nodes: 2 });
 * const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on" });
 * const folio = k1.buddy.folioAlloc(9)!;             // a 2 MiB folio
 * machine.mem.fill(folio * 4096, 2 ** 21, { pattern: 7 });
 * const hash = machine.mem.hash64(folio * 4096, 2 ** 21);
 * k1.kho.preserveFolio(folio);
 * const k2 = k1.kexec();                             // only memory and 32 bytes cross
 * console.assert(k2.kho.restoreFolio(folio * 4096) === folio);
 * console.assert(machine.mem.hash64(folio * 4096, 2 ** 21) === hash);
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export * from "./lib/units.ts";
export { hashLabel, ManualClock, Rng, timed, wallClock } from "./lib/rng.ts";
export type { Clock } from "./lib/rng.ts";

export { PhysicalMemory } from "./lib/machine/physmem.ts";
export type { FillSpec, PhysMemStats } from "./lib/machine/physmem.ts";
export { Topology } from "./lib/machine/topology.ts";
export type { RamRange, TopologyOptions } from "./lib/machine/topology.ts";
export { Machine } from "./lib/machine/machine.ts";

export { Kernel, POISON_SEED } from "./lib/boot/kernel.ts";
export { KernelPanic } from "./lib/kernel/panic.ts";
export type { BootHandoff, BootOptions, BootReport } from "./lib/boot/kernel.ts";
export { kstrtobool, parseCmdline } from "./lib/kernel/cmdline.ts";
export type { KernelParams, ReserveMemParam } from "./lib/kernel/cmdline.ts";
export { format as formatLogEntry, KernelLog } from "./lib/kernel/dmesg.ts";
export type { LogEntry, LogLevel } from "./lib/kernel/dmesg.ts";
export { FaultInjector } from "./lib/kernel/faults.ts";
export type { FaultOptions } from "./lib/kernel/faults.ts";
export * from "./lib/kernel/memblock.ts";
export * from "./lib/kernel/memmap.ts";
export * from "./lib/kernel/gfp.ts";
export { BuddyAllocator } from "./lib/kernel/buddy.ts";
export type {
  AllocOptions,
  BuddyOptions,
  BuddyStats,
  FreeBlockInfo,
  PagetypeRow,
} from "./lib/kernel/buddy.ts";
export * from "./lib/kernel/gigantic.ts";
export * from "./lib/kernel/vmalloc.ts";

export { Kho } from "./lib/kho/kho.ts";
export { KhoOut } from "./lib/kho/preserve.ts";
export type {
  KhoEvent,
  KhoNotifier,
  KhoOutHost,
  OutgoingRootView,
  OutgoingSubtree,
} from "./lib/kho/preserve.ts";
export { intShiftSize, KHO_PAGE_MAGIC, KhoIn, validateHandover } from "./lib/kho/restore.ts";
export type { KhoInHost, PopulateResult, RetrieveStats } from "./lib/kho/restore.ts";
export { KhoSubtreeLeakError, RootFdt } from "./lib/kho/root_fdt.ts";
export * from "./lib/kho/scratch.ts";
export * from "./lib/kho/page_split.ts";
export * from "./lib/kho/abi/profiles.ts";
export * from "./lib/kho/abi/kho_data.ts";
export * from "./lib/kho/abi/kexec_metadata.ts";
export * from "./lib/kho/abi/scratch.ts";
export * from "./lib/kho/fdt/mod.ts";
export * from "./lib/kho/trackers/tracker.ts";
export * from "./lib/kho/trackers/counters.ts";
export * from "./lib/kho/trackers/radix_key.ts";
export * from "./lib/kho/trackers/radix.ts";

export * from "./lib/kho/trackers/xarray.ts";
export * from "./lib/kho/trackers/khoser.ts";
export * from "./lib/kho/trackers/registry.ts";
export type { WalkOutcome } from "./lib/kho/trackers/walk_guard.ts";
export { FinalizeRootBuilder, type KhoSerialization, OpenRootFdt } from "./lib/kho/root_fdt_sw.ts";
export * from "./lib/kho/abi/block.ts";
export * from "./lib/kho/block.ts";
export * from "./lib/kho/abi/luo.ts";
export { KernelOops } from "./lib/kernel/oops.ts";

export * from "./lib/luo/luo_core.ts";
export * from "./lib/luo/luo_session.ts";
export * from "./lib/luo/luo_file.ts";
export type * from "./lib/luo/file_handler.ts";
export * from "./lib/luo/luo_flb.ts";
export * from "./lib/luo/device.ts";
export * from "./lib/luo/luo_internal.ts";
export * from "./lib/scenario/abi_matrix.ts";
export { checkScript, runScript } from "./lib/dsl/run.ts";
export type { CheckResult, RunOptions, RunResult } from "./lib/dsl/run.ts";
export { repl } from "./lib/dsl/repl.ts";
export type { ReplOptions } from "./lib/dsl/repl.ts";
export type { ExpectResult, MeasureRow } from "./lib/dsl/interpreter.ts";
export { parse as parseScript } from "./lib/dsl/parser.ts";
export { format as formatScript } from "./lib/dsl/ast.ts";
export * from "./lib/dsl/errors.ts";
export type { RawInput } from "./lib/dsl/lineedit.ts";
export type { ScalarValue } from "./lib/dsl/values.ts";
export type { ParseOptions } from "./lib/dsl/parser.ts";
export type * from "./lib/dsl/ast.ts";
export * from "./lib/metrics/metrics.ts";
export * from "./lib/metrics/floor.ts";
export * from "./lib/metrics/buddy_stats.ts";
export * from "./lib/metrics/collect.ts";
export * from "./lib/scenario/scenarios.ts";
export { runScenario } from "./lib/scenario/run.ts";
export type {
  BeforeKexecContext,
  RunOptions as ScenarioRunOptions,
  RunResult as ScenarioRunResult,
} from "./lib/scenario/run.ts";
export { Tally } from "./lib/scenario/workloads.ts";
export type { Workload } from "./lib/scenario/workloads.ts";
export * from "./lib/scenario/sweep.ts";
export * from "./lib/scenario/export.ts";
export * from "./lib/scenario/compare.ts";
export * from "./lib/plot/chart.ts";
export * from "./lib/plot/figures.ts";
export * from "./lib/plot/table.ts";
export * from "./lib/plot/progress.ts";
export * from "./lib/plot/radix_occupancy.ts";
export * from "./lib/report/report.ts";
export type { Versions } from "./lib/report/provenance.ts";
export { inspectKexec } from "./lib/report/inspect.ts";
export type { KexecInspection } from "./lib/report/inspect.ts";
