import assert from "node:assert/strict";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { PROFILES, type TrackerKind } from "../../lib/kho/profiles.ts";
import {
  createTracker,
  trackerAvailable,
  TrackerCounters,
  walkIncoming,
} from "../../lib/kho/trackers/registry.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { blocksByOrder, costByOrder } from "../../lib/metrics/by_order.ts";
import { PhysicalMemory } from "../../lib/machine/physmem.ts";
import { PagePool } from "../../lib/design/page_pool.ts";

const KINDS = [...new Set(Object.values(PROFILES).map((p) => p.tracker))]
  .filter(trackerAvailable) as TrackerKind[];

/** The whole set in one tracker of `kind`: handover bytes and walk lines. */
function whole(kind: TrackerKind, blocks: Map<number, number[]>) {
  const mem = new PhysicalMemory(2 ** 41);
  const pool = new PagePool({ mem, basePhys: 2 ** 40, pages: 4096 });
  const log = new KernelLog();
  const t = createTracker(kind, { mem, alloc: pool, log });
  for (const [o, list] of blocks) for (const p of list) t.add(p / 4096, o);
  let root = t.handoverRoot(), ser = 0;
  const x = t as unknown as { serialize?: (o: object) => number; serializedPagesPhys(): number[] };
  if (x.serialize) {
    root = x.serialize({ era: "6.19" });
    ser = x.serializedPagesPhys().length;
  }
  const c = new TrackerCounters();
  walkIncoming(kind, { mem, rootPhys: root, isRam: () => true, log, counters: c }, () => 0);
  return { bytes: t.metadataBytes() + ser * 4096, lines: c.cacheLinesRead };
}

Deno.test("cost by order: each order alone, no more than the whole, together at least it", () => {
  // 3000 scattered 4 KiB pages in 16 GiB and 12 GiB folios above them.
  const pages = Array.from({ length: 3000 }, (_, i) => ((i * 1399) % 4194304) * 4096);
  const folios = Array.from({ length: 12 }, (_, i) => (20 + i) * 2 ** 30);
  const blocks = new Map([[0, pages], [18, folios]]);
  for (const kind of KINDS) {
    const cost = costByOrder(kind, blocks);
    const all = whole(kind, blocks);
    const sum = (f: "handoverBytes" | "walkCacheLines") =>
      [...cost.values()].reduce((s, c) => s + c[f], 0);
    for (const [o, c] of cost) {
      assert.ok(c.handoverBytes > 0 && c.handoverBytes <= all.bytes, `${kind} order ${o}`);
      assert.ok(c.walkCacheLines > 0 && c.walkCacheLines <= all.lines, `${kind} order ${o}`);
    }
    assert.ok(sum("handoverBytes") >= all.bytes, kind);
    assert.ok(sum("walkCacheLines") >= all.lines, kind);
    // The folios are a sliver of the metadata next to 3000 scattered pages.
    assert.ok(cost.get(18)!.handoverBytes < cost.get(0)!.handoverBytes, kind);
    const only = costByOrder(kind, new Map([[0, pages]]));
    assert.deepEqual(only.get(0), cost.get(0), `${kind}: an order's cost ignores the others`);
  }
});

Deno.test("blocksByOrder lists an outgoing tracker's blocks without charging it", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { cmdline: "kho=on" });
  const f = k.buddy.folioAlloc(9)!;
  k.kho.preserveFolio(f);
  const t = k.kho.out!.tracker;
  const before = t.counters.snapshot();
  const b = blocksByOrder(t);
  assert.deepEqual(b.get(9), [f * 4096]);
  assert.deepEqual(t.counters.snapshot(), before);
});
