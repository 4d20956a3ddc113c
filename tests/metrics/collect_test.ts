import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { log2Binomial } from "../../lib/metrics/floor.ts";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { createTracker, TrackerCounters, walkIncoming } from "../../lib/kho/trackers/registry.ts";
import { Machine } from "../../lib/machine/machine.ts";
import {
  collectOutgoing,
  collectSuccessor,
  costMetrics,
  preservedByOrder,
  replayWalk,
  uncharged,
} from "../../lib/metrics/collect.ts";
import { parseByOrder } from "../../lib/metrics/metrics.ts";
import { PagePool } from "../../lib/design/page_pool.ts";

function radix() {
  const m = new Machine({ ramBytes: 2 ** 30 });
  const pool = new PagePool({ mem: m.mem, basePhys: 2 ** 29, pages: 1024 });
  const t = createTracker("radix", { mem: m.mem, alloc: pool, log: new KernelLog() });
  return { m, t };
}

function walkCost(m: Machine, root: number) {
  const c = new TrackerCounters();
  const r = walkIncoming("radix", {
    mem: m.mem,
    rootPhys: root,
    isRam: () => true,
    log: new KernelLog(),
    counters: c,
  }, () => 0);
  assert.ok(r.ok);
  return c.snapshot();
}

Deno.test("an order-18 preserve in an empty radix tree allocates 5 pages", () => {
  const { t } = radix();
  const before = t.counters.snapshot();
  t.add(2 ** 18, 18);
  const d = t.counters.since(before);
  assert.equal(d.pagesAllocated, 5); // 4 inner tables + 1 leaf under the existing root
  assert.equal(t.metadataPages(), 6);
  assert.deepEqual(costMetrics("preserve", d), {
    preservePagesTouched: d.pagesTouched,
    preserveCacheLines: d.cacheLinesRead,
    preserveEntriesVisited: 5,
    preserveBitmapWords: 0,
    // the leaf's bit, and the link to each of the 5 new pages (one pointer stored each)
    preserveCacheLinesWritten: 6,
    preserveNodesAllocated: 0, // the radix tree allocates whole pages only
  });
  // serialization rows carry no node count: finalize allocates chunk pages only
  assert.deepEqual(Object.keys(costMetrics("serialize", d)), [
    "serializePagesTouched",
    "serializeCacheLines",
    "serializeEntriesVisited",
    "serializeBitmapWords",
    "serializeCacheLinesWritten",
  ]);
});

Deno.test("walking one full radix leaf reads 64 cache lines and 512 bitmap words", () => {
  const { m, t } = radix();
  for (let i = 0; i < 32768; i++) t.add(32768 + i, 0); // one aligned 128 MiB leaf, full
  const w = walkCost(m, t.handoverRoot());
  assert.equal(w.bitmapWordsScanned, 512);
  assert.equal(w.callbacks, 32768);
  // five 512-entry tables scanned whole (64 lines each) plus the leaf's 64 lines
  assert.equal(w.entriesVisited, 5 * 512);
  assert.equal(w.cacheLinesRead, 5 * 64 + 64);
  assert.equal(w.pagesTouched, 6);
  // A second full leaf in the same level-1 table adds exactly one leaf's cost.
  for (let i = 0; i < 32768; i++) t.add(65536 + i, 0);
  const w2 = walkCost(m, t.handoverRoot());
  assert.equal(w2.bitmapWordsScanned - w.bitmapWordsScanned, 512);
  assert.equal(w2.cacheLinesRead - w.cacheLinesRead, 64);
});

Deno.test("uncharged walks leave the counters as they were", () => {
  const { t } = radix();
  t.add(5, 0);
  t.add(2 ** 18, 18);
  const before = t.counters.snapshot();
  const byOrder = preservedByOrder(t);
  assert.deepEqual([...byOrder].sort(), [[0, 1], [18, 1]]);
  assert.deepEqual(t.counters.snapshot(), before);
  assert.throws(() =>
    uncharged(t.counters, () => {
      t.counters.cacheLinesRead += 5;
      throw new Error("x");
    })
  );
  assert.deepEqual(t.counters.snapshot(), before);
});

Deno.test("outgoing and successor metrics of a small kexec; the replay equals the real walk", () => {
  for (const profile of ["kho-v4", "kho-v1-6.19"] as const) {
    const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
    const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on", profile });
    const pfn = k1.buddy.folioAlloc(9)!;
    k1.kho.preserveFolio(pfn);
    for (let i = 0; i < 3; i++) k1.kho.preserveFolio(k1.buddy.folioAlloc(0)!);
    if (profile === "kho-v1-6.19") k1.kho.finalize();
    const out = collectOutgoing(k1);
    const byOrder = parseByOrder(out.row.preservedBlocksByOrder as string);
    assert.equal(byOrder.get(9), 1);
    assert.ok((byOrder.get(0) ?? 0) >= 3);
    assert.equal(
      out.row.preservedBytes,
      [...byOrder].reduce((s, [o, n]) => s + n * 2 ** o * 4096, 0),
    );
    assert.equal(
      out.row.handoverBytes,
      (out.row.trackerLiveBytes as number) + (out.row.trackerSerializedBytes as number),
    );
    if (profile === "kho-v4") assert.equal(out.row.trackerSerializedPages, 0);
    else assert.equal(out.row.trackerSerializedPages, 2); // one khoser chunk per order (0, 9)
    // No placement domain: nothing drawn at random, no floor; the uniform-RAM bound remains.
    assert.equal(out.row.floorBits, 0);
    assert.match(out.row.floorDomains as string, /^none/);
    assert.ok((out.row.floorUniformRamBytes as number) > 0);
    const replay = replayWalk(k1, out.mapPhys, new ManualClock());
    const k2 = k1.kexec({ finalizeAtKexec: false });
    const s = collectSuccessor(k2);
    assert.equal(s.walkOk, 1);
    assert.equal(s.walkBlocks, out.row.preservedBlocks);
    assert.equal(replay.blocks, s.walkBlocks);
    assert.deepEqual(replay.counters, k2.boot.retrieve!.counters.snapshot());
    assert.equal(s.walkCacheLines, replay.counters.cacheLinesRead);
    assert.ok((s.memblockReserveCalls as number) >= (s.walkBlocks as number));
    assert.ok((s.scratchUsedBytes as number) > 0);
    assert.ok((s.scratchUsedBytes as number) <= (s.scratchBytes as number));
    assert.equal(s.free1GiBBlocks, (s.free1GiBBlocks as number) | 0);
    assert.ok((s.free2MiBBlocks as number) >= (s.free1GiBBlocks as number) * 512);
  }
});

Deno.test("the floor counts a stated domain and the other blocks of its order inside it", () => {
  const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
  const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on", profile: "kho-v4", poison: false });
  const pool = k1.buddy.allocPages(10)!; // a 4 MiB "pool" of 1024 pages
  const drawn = [3, 100, 517, 1000].map((o) => pool + o);
  for (const pfn of drawn) k1.kho.preserveFolio(pfn);
  const domain = {
    workload: "iommu",
    order: 0,
    nid: 0,
    startBytes: pool * 4096,
    endBytes: (pool + 1024) * 4096,
    unitPages: 1,
    places: 1024,
    chosen: 4,
    blocks: 4,
    what: "a 4 MiB pool",
  };
  const clean = collectOutgoing(k1, [{ domain, preserved: 4 }]).row;
  assert.equal(clean.floorBits, Math.round(log2Binomial(1024, 4) * 100) / 100);
  assert.equal(clean.floorBytes, Math.ceil(log2Binomial(1024, 4) / 8));
  assert.equal(clean.floorBlocks, 4);
  assert.equal(clean.floorBitsByOrder, `0:${clean.floorBits}`);
  assert.match(clean.floorDomains as string, /^iommu: 4 of 1024 order-0 places, a 4 MiB pool/);
  k1.kho.preserveFolio(pool + 7); // another order-0 block inside the domain's range
  const mixed = collectOutgoing(k1, [{ domain, preserved: 4 }]).row;
  assert.match(mixed.floorDomains as string, /1 other block there/);
  assert.equal(
    mixed.floorBits,
    Math.round((log2Binomial(1024, 4) - log2Binomial(5, 1)) * 100) / 100,
  );
  const failed = collectOutgoing(k1, [{ domain, preserved: 3 }]).row;
  assert.equal(failed.floorBits, 0);
  assert.match(failed.floorDomains as string, /not counted \(1 of its 4 drawn blocks/);
});
