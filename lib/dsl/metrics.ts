/**
 * Metric names of the kholab language (`restore.failed`, `tracker.pages`, `kexec.count`, …):
 * what `expect` can test, `measure` records and `show metrics` prints. Other modules add
 * metrics with {@link registerMetric}.
 *
 * @module
 */

import type { Interpreter } from "./interpreter.ts";

/** A metric: documentation and how to read it from a running interpreter. */
export interface MetricSpec {
  /** Dotted name. */
  readonly name: string;
  /** One line of documentation. */
  readonly doc: string;
  /** Current value (undefined when not applicable, e.g. before boot). */
  readonly get: (rt: Interpreter) => number | string | undefined;
}

/** Every metric, by name. */
export const METRICS: Map<string, MetricSpec> = new Map();

/** Adds (or replaces) a metric. */
export function registerMetric(spec: MetricSpec): void {
  METRICS.set(spec.name, spec);
}

const m = (name: string, doc: string, get: MetricSpec["get"]) => registerMetric({ name, doc, get });

m("kexec.count", "kexecs run by this script", (rt) => rt.stats.kexecs);
m(
  "kernel.boot",
  "boot index of the running kernel (0 = cold boot)",
  (rt) => rt.kernel?.bootIndex ?? 0,
);
m("kernel.profile", "ABI profile of the running kernel", (rt) => rt.kernel?.profile.name);
m("boot.kho", "1 when the running kernel is a KHO boot", (rt) => rt.kernel?.kho.isKhoBoot ? 1 : 0);
m(
  "boot.refused",
  "1 when the last handover was refused",
  (rt) => rt.kernel?.boot.revivalRefused ? 1 : 0,
);
m(
  "kho.enabled",
  "1 when KHO is enabled in the running kernel",
  (rt) => rt.kernel?.kho.enabled ? 1 : 0,
);
m(
  "kho.kexec_count",
  "kexec count read from kexec-metadata",
  (rt) => rt.kernel?.kho.kexecCount ?? 0,
);
m("restore.ok", "blocks restored", (rt) => rt.stats.restoreOk);
m("restore.failed", "blocks whose restore failed", (rt) => rt.stats.restoreFailed);
m("verify.ok", "objects whose content matched", (rt) => rt.stats.verifyOk);
m("verify.failed", "objects whose content differed", (rt) => rt.stats.verifyFailed);
m("objects.count", "objects in the running kernel", (rt) => rt.objects.size);
m(
  "objects.incoming",
  "objects handed over and not restored yet",
  (rt) => [...rt.objects.values()].filter((o) => o.state === "incoming").length,
);
m(
  "objects.preserved",
  "objects preserved",
  (rt) => [...rt.objects.values()].filter((o) => o.state === "preserved").length,
);
m(
  "preserved.blocks",
  "blocks of preserved objects",
  (rt) =>
    [...rt.objects.values()].filter((o) => o.state === "preserved").reduce(
      (s, o) => s + o.blocks(),
      0,
    ),
);
m(
  "preserved.bytes",
  "bytes of preserved objects",
  (rt) =>
    [...rt.objects.values()].filter((o) => o.state === "preserved").reduce(
      (s, o) => s + o.bytes,
      0,
    ),
);
m(
  "tracker.pages",
  "metadata pages of the outgoing tracker",
  (rt) => rt.kernel?.kho.out?.tracker.metadataPages() ?? 0,
);
m(
  "tracker.bytes",
  "metadata bytes of the outgoing tracker",
  (rt) => rt.kernel?.kho.out?.tracker.metadataBytes() ?? 0,
);
m(
  "walk.blocks",
  "blocks the successor's tracker walk reserved",
  (rt) => rt.kernel?.boot.retrieve?.blocks ?? 0,
);
m(
  "walk.bytes",
  "bytes the successor's tracker walk reserved",
  (rt) => rt.kernel?.boot.retrieve?.bytes ?? 0,
);
m(
  "walk.rejected",
  "tracker entries the walk rejected",
  (rt) => rt.kernel?.boot.retrieve?.rejected ?? 0,
);
m(
  "walk.cachelines",
  "cache lines the walk read",
  (rt) => rt.kernel?.boot.retrieve?.counters.cacheLinesRead ?? 0,
);
m(
  "scratch.bytes",
  "bytes of scratch areas",
  (rt) => rt.kernel?.boot.scratch.reduce((s, a) => s + a.size, 0) ?? 0,
);
m("scratch.areas", "scratch areas", (rt) => rt.kernel?.boot.scratch.length ?? 0);
m(
  "subtrees.count",
  "sub-trees in the outgoing root FDT",
  (rt) => rt.kernel?.kho.out?.subtrees().length ?? 0,
);
m("mem.total", "bytes of RAM", (rt) => rt.kernel?.machine.topology.ramBytes ?? 0);
m(
  "mem.free",
  "bytes free in the buddy allocator",
  (rt) => (rt.kernel?.buddy.nrFreePages() ?? 0) * 4096,
);
m(
  "log.warnings",
  "warnings in the running kernel's log",
  (rt) => rt.kernel?.log.entries().filter((e) => e.level === "warn").length ?? 0,
);
m(
  "log.errors",
  "errors in the running kernel's log",
  (rt) => rt.kernel?.log.entries().filter((e) => e.level === "err").length ?? 0,
);
m(
  "faults.injected",
  "allocation failures injected in the running kernel",
  (rt) => rt.kernel?.faults.injected ?? 0,
);
m("expect.failed", "expectations that failed so far", (rt) => rt.stats.expectFailed);
m("try.failed", "try blocks that caught an error", (rt) => rt.stats.tryFailed);
m(
  "error.code",
  'errno name of the last error caught by try ("" if none)',
  (rt) => rt.lastErrorCode,
);
