import assert from "node:assert/strict";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { byOrderMetrics } from "../../lib/dsl/metrics.ts";
import { Session } from "../../lib/dsl/session.ts";
import { TABLE } from "../../lib/dsl/table.ts";
import { costByOrder } from "../../lib/metrics/by_order.ts";
import { parseByOrder } from "../../lib/metrics/metrics.ts";
import { freeBlocksByOrder } from "../../lib/metrics/buddy_stats.ts";
import { ManualClock } from "../../lib/rng.ts";

const clock = new ManualClock();

function session(text: string): Session {
  const s = new Session({ clock });
  new Evaluator(s).runText(text);
  return s;
}

const get = (s: Session, name: string) => TABLE.metrics.get(name)!.get(s);

Deno.test("handover.bytes: the tracker's pages, plus the serialized chunks after finalize", () => {
  const s = session(
    "machine ram=2G\nprofile kho-v1-6.19\nb = pages count=3000 within=1G\npreserve b\nmeasure label=a",
  );
  const t = s.kernel!.kho.out!.tracker;
  assert.equal(get(s, "handover.bytes"), t.metadataBytes());
  new Evaluator(s).runText("finalize\nmeasure label=b");
  const chunks = t.serializedPagesPhys!().length;
  assert.ok(chunks > 0);
  assert.equal(get(s, "handover.bytes"), t.metadataBytes() + chunks * 4096);
  assert.equal(s.rows[1].metrics["handover.bytes"], get(s, "handover.bytes"));
  // kho-v4 has no serialized form: its tracker is what is handed over.
  const v4 = session("machine ram=2G\nb = pages count=3000 within=1G\npreserve b");
  assert.equal(get(v4, "handover.bytes"), v4.kernel!.kho.out!.tracker.metadataBytes());
  assert.equal(get(new Session({ clock }), "handover.bytes"), undefined, "nothing booted");
});

Deno.test("walk.* counters and buddy.free_by_order come from the successor's boot", () => {
  const s = session(
    "machine ram=2G\nb = pages count=512 within=256M\npreserve b\nmeasure label=a\nkexec\nmeasure label=b",
  );
  const c = s.kernel!.boot.retrieve!.counters;
  assert.deepEqual(
    ["walk.pages", "walk.cachelines", "walk.entries", "walk.bitmap_words"].map((m) =>
      s.rows[1].metrics[m]
    ),
    [c.pagesTouched, c.cacheLinesRead, c.entriesVisited, c.bitmapWordsScanned],
  );
  assert.ok(c.pagesTouched > 0 && c.entriesVisited > 0);
  assert.deepEqual([s.rows[0].metrics["walk.pages"], s.rows[0].metrics["walk.entries"]], [0, 0]);
  const free = parseByOrder(String(s.rows[1].metrics["buddy.free_by_order"]));
  const expected = freeBlocksByOrder(s.kernel!.buddy);
  for (let o = 0; o < expected.length; o++) {
    assert.equal(free.get(o) ?? 0, expected[o], `order ${o}`);
  }
  assert.match(String(s.rows[0].metrics["buddy.free_by_order"]), /^(\d+:\d+ ?)+$/);
});

Deno.test("measure by_order: per-order blocks and each order's costs alone, as a scenario", () => {
  const s = session(`machine ram=2G
small = pages count=300 within=512M
big = folios order=9 count=6
preserve small big
measure label=plain
measure label=costs by_order
kexec
measure label=after by_order`);
  assert.equal(s.rows[0].metrics["preserved.blocks_by_order"], undefined, "not by default");
  const m = s.rows[1].metrics;
  const blocks = parseByOrder(String(m["preserved.blocks_by_order"]));
  assert.equal(blocks.get(9), 6);
  assert.ok((blocks.get(0) ?? 0) >= 300);
  // The same figures lib/metrics/by_order.ts gives for the tracker's own blocks.
  const before = session(`machine ram=2G
small = pages count=300 within=512M
big = folios order=9 count=6
preserve small big`);
  const blocksOf = new Map<number, number[]>();
  before.kernel!.kho.out!.tracker.walk((phys, order) => {
    blocksOf.set(order, [...(blocksOf.get(order) ?? []), phys]);
    return 0;
  });
  const costs = costByOrder("radix", blocksOf);
  assert.deepEqual(
    parseByOrder(String(m["handover.bytes_by_order"])),
    new Map([...costs].map(([o, c]) => [o, c.handoverBytes])),
  );
  assert.deepEqual(
    parseByOrder(String(m["walk.cachelines_by_order"])),
    new Map([...costs].map(([o, c]) => [o, c.walkCacheLines])),
  );
  assert.deepEqual(byOrderMetrics(before), {
    "preserved.blocks_by_order": m["preserved.blocks_by_order"],
    "handover.bytes_by_order": m["handover.bytes_by_order"],
    "walk.cachelines_by_order": m["walk.cachelines_by_order"],
  });
  // The successor's own outgoing tracker (what it holds so far); KHO off: none.
  assert.equal(typeof s.rows[2].metrics["handover.bytes_by_order"], "string");
  assert.deepEqual(byOrderMetrics(session("machine ram=1G\nkernel kho=off\nmeasure")), {});
});
