/**
 * The session metrics of the kholab language (`restore.failed`, `tracker.pages`,
 * `kexec.count`, …): what `expect` can test, `measure` records and `show metrics` prints.
 * `./table.ts` puts them in the language's table (with the `scenario.*` metrics of the
 * `scenario` command).
 *
 * @module
 */

import { blocksByOrder, costByOrder } from "../metrics/by_order.ts";
import { freeBlocksByOrder } from "../metrics/buddy_stats.ts";
import { formatByOrder } from "../metrics/metrics.ts";
import { PAGE_SIZE } from "../units.ts";
import type { RetrieveStats } from "../kho/restore.ts";
import type { DslObject } from "./objects.ts";
import type { Session } from "./session.ts";
import type { MetricSpec } from "./spec.ts";
import { OUTCOMES } from "../metrics/outcomes.ts";
import { handoverCounts } from "./outcomes.ts";

const list: MetricSpec[] = [];
const m = (name: string, doc: string, get: MetricSpec["get"]) => void list.push({ name, doc, get });
/** A figure of the successor's tracker walk (`boot.retrieve`), 0 before one. */
const walked = (get: (r: RetrieveStats) => number) => (s: Session) => {
  const r = s.kernel?.boot.retrieve;
  return r === undefined ? 0 : get(r);
};
/** Entries of the running kernel's log at `level`, 0 before a boot. */
const logged = (level: string) => (s: Session) =>
  s.kernel?.log.entries().filter((e) => e.level === level).length ?? 0;
const objectsIn = (s: Session, state: DslObject["state"]) =>
  [...s.objects.values()].filter((o) => o.state === state);

m("kexec.count", "kexecs run by this script", (s) => s.stats.kexecs);
m(
  "kernel.boot",
  "boot index of the running kernel (0 = cold boot)",
  (s) => s.kernel?.bootIndex ?? 0,
);
m("kernel.profile", "ABI profile of the running kernel", (s) => s.kernel?.profile.name);
m("boot.kho", "1 when the running kernel is a KHO boot", (s) => s.kernel?.kho.isKhoBoot ? 1 : 0);
m(
  "boot.refused",
  "1 when the last handover was refused",
  (s) => s.kernel?.boot.revivalRefused ? 1 : 0,
);
m(
  "kho.enabled",
  "1 when KHO is enabled in the running kernel",
  (s) => s.kernel?.kho.enabled ? 1 : 0,
);
m(
  "luo.enabled",
  "1 when the running kernel's Live Update Orchestrator is enabled (6.19 on, liveupdate=on)",
  (s) => s.kernel?.liveupdate.enabled ? 1 : 0,
);
m(
  "luo.sessions",
  "outgoing LUO sessions of the running kernel (one per preserved memfd object)",
  (s) => s.kernel?.liveupdate.stats().sessions ?? 0,
);
m(
  "kho.kexec_count",
  "kexec count read from kexec-metadata",
  (s) => s.kernel?.kho.kexecCount ?? 0,
);
m("restore.ok", "blocks restored", (s) => s.stats.restoreOk);
m("restore.failed", "blocks whose restore failed", (s) => s.stats.restoreFailed);
m("verify.ok", "objects whose content matched", (s) => s.stats.verifyOk);
m("verify.failed", "objects whose content differed", (s) => s.stats.verifyFailed);
m(
  "outcomes.attempted",
  "objects the last kexec handed over (show outcomes)",
  (s) => handoverCounts(s).attempted,
);
for (const o of OUTCOMES) {
  m(
    `outcomes.${o}`,
    `of those, objects whose outcome is ${o} (show outcomes)`,
    (s) => handoverCounts(s)[o],
  );
}
m(
  "outcomes.pending",
  "of those, objects not decided yet (incoming, or restored and not verified)",
  (s) => handoverCounts(s).pending,
);
m("objects.count", "objects in the running kernel", (s) => s.objects.size);
m(
  "objects.incoming",
  "objects handed over and not restored yet",
  (s) => objectsIn(s, "incoming").length,
);
m("objects.preserved", "objects preserved", (s) => objectsIn(s, "preserved").length);
m(
  "preserved.blocks",
  "blocks of preserved objects",
  (s) => objectsIn(s, "preserved").reduce((n, o) => n + o.blocks(), 0),
);
m(
  "preserved.bytes",
  "bytes of preserved objects",
  (s) => objectsIn(s, "preserved").reduce((n, o) => n + o.bytes, 0),
);
m(
  "tracker.pages",
  "metadata pages of the outgoing tracker",
  (s) => s.kernel?.kho.out?.tracker.metadataPages() ?? 0,
);
m(
  "tracker.bytes",
  "metadata bytes of the outgoing tracker",
  (s) => s.kernel?.kho.out?.tracker.metadataBytes() ?? 0,
);
m(
  "handover.bytes",
  "metadata the successor reads: the tracker's pages plus its serialized chunk pages (the " +
    "xarray era, after finalize), as a scenario's handoverBytes",
  (s) => {
    const t = s.kernel?.kho.out?.tracker;
    return t && t.metadataBytes() + (t.serializedPagesPhys?.().length ?? 0) * PAGE_SIZE;
  },
);
m("walk.blocks", "blocks the successor's tracker walk reserved", walked((r) => r.blocks));
m("walk.bytes", "bytes the successor's tracker walk reserved", walked((r) => r.bytes));
m("walk.rejected", "tracker entries the walk rejected", walked((r) => r.rejected));
m("walk.cachelines", "cache lines the walk read", walked((r) => r.counters.cacheLinesRead));
m("walk.pages", "metadata pages the walk touched", walked((r) => r.counters.pagesTouched));
m("walk.entries", "tracker entries the walk visited", walked((r) => r.counters.entriesVisited));
m(
  "walk.bitmap_words",
  "bitmap words the walk scanned",
  walked((r) => r.counters.bitmapWordsScanned),
);
m(
  "scratch.bytes",
  "bytes of scratch areas",
  (s) => s.kernel?.boot.scratch.reduce((s, a) => s + a.size, 0) ?? 0,
);
m("scratch.areas", "scratch areas", (s) => s.kernel?.boot.scratch.length ?? 0);
m(
  "subtrees.count",
  "sub-trees in the outgoing root FDT",
  (s) => s.kernel?.kho.out?.subtrees().length ?? 0,
);
m("mem.total", "bytes of RAM", (s) => s.kernel?.machine.topology.ramBytes ?? 0);
m(
  "mem.free",
  "bytes free in the buddy allocator",
  (s) => (s.kernel?.buddy.nrFreePages() ?? 0) * 4096,
);
m(
  "buddy.free_by_order",
  'free blocks per order, all nodes (/proc/buddyinfo summed) as "order:count …"',
  (s) => s.kernel ? formatByOrder(freeBlocksByOrder(s.kernel.buddy)) : undefined,
);
m("log.warnings", "warnings in the running kernel's log", logged("warn"));
m("log.errors", "errors in the running kernel's log", logged("err"));
m(
  "reserve_mem.regions",
  "reserve_mem= regions of the running kernel",
  (s) => s.kernel?.reserveMem.regions.length ?? 0,
);
m(
  "reserve_mem.revived",
  "reserve_mem= regions revived from the previous kernel",
  (s) => s.kernel?.reserveMem.regions.filter((r) => r.revived).length ?? 0,
);
m(
  "faults.injected",
  "allocation failures injected in the running kernel",
  (s) => s.kernel?.faults.injected ?? 0,
);
m("expect.failed", "expectations that failed so far", (s) => s.stats.expectFailed);
m("try.failed", "try blocks that caught an error", (s) => s.stats.tryFailed);
m(
  "error.code",
  'errno name of the last error caught by try ("" if none)',
  (s) => s.lastErrorCode,
);

/** The session metrics, in `show metrics` order. */
export const SESSION_METRICS: readonly MetricSpec[] = list;

/**
 * The per-order costs of the running kernel's outgoing tracker, as `measure by_order` records
 * them (`"order:value …"`, ascending): `preserved.blocks_by_order`, and for each order's blocks
 * alone in a tracker of the profile's kind `handover.bytes_by_order` and
 * `walk.cachelines_by_order` (lib/metrics/by_order.ts, as a scenario's `handoverBytesByOrder`
 * and `walkCacheLinesByOrder`). Empty when KHO is off or nothing booted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../rng.ts";
 * import { Evaluator } from "./evaluator.ts";
 * import { byOrderMetrics } from "./metrics.ts";
 * import { Session } from "./session.ts";
 * const s = new Session({ clock: new ManualClock() });
 * new Evaluator(s).runText("machine ram=1G\nb = folios order=9 count=2\npreserve b");
 * const m = byOrderMetrics(s);
 * // the two folios, beside order-0 pages the kernel preserves for itself
 * assert.match(m["preserved.blocks_by_order"], /^0:\d+ 9:2$/);
 * assert.match(m["handover.bytes_by_order"], /^0:\d+ 9:\d+$/);
 * ```
 */
export function byOrderMetrics(s: Session): Record<string, string> {
  const k = s.kernel;
  const tracker = k?.kho.out?.tracker;
  if (!k || !tracker) return {};
  const blocks = blocksByOrder(tracker);
  const costs = costByOrder(k.profile.tracker, blocks);
  const of = (f: (o: number) => number) =>
    formatByOrder(new Map([...costs.keys()].map((o) => [o, f(o)])));
  return {
    "preserved.blocks_by_order": formatByOrder(
      new Map([...blocks].map(([o, list]) => [o, list.length])),
    ),
    "handover.bytes_by_order": of((o) => costs.get(o)!.handoverBytes),
    "walk.cachelines_by_order": of((o) => costs.get(o)!.walkCacheLines),
  };
}
