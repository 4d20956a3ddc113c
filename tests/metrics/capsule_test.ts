import assert from "node:assert/strict";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { createTracker } from "../../lib/kho/trackers/registry.ts";
import {
  bootOutcome,
  capsuleBuffers,
  capsuleBytes,
  type HandoverCapsule,
  recordTrackerOps,
  snapshotHandover,
  TRACKER_OP,
} from "../../lib/metrics/capsule.ts";
import { PAGE_SIZE } from "../../lib/units.ts";
import { PagePool } from "../../lib/design/page_pool.ts";

function tracker(kind: "radix" | "radix-typed" = "radix") {
  const m = new Machine({ ramBytes: 2 ** 30 });
  const pool = new PagePool({ mem: m.mem, basePhys: 2 ** 29, pages: 1024 });
  return createTracker(kind, { mem: m.mem, alloc: pool, log: new KernelLog() });
}

Deno.test("a recording holds the blocks before and every completed operation, in call order", () => {
  const t = tracker();
  t.add(7, 0);
  t.add(512, 9);
  const rec = recordTrackerOps(t);
  assert.throws(() => recordTrackerOps(t), RangeError, "one recording at a time");
  t.add(3, 0);
  t.add(1024, 9);
  t.del(7, 0);
  assert.throws(() => t.add(1, 70)); // rejected: the tracker is unchanged, nothing recorded
  t.add(5, 0);
  assert.equal(rec.length, 4);
  const log = rec.stop()!;
  // The blocks before, in the tracker's walk order.
  const before = [...log.before.pfns].map((pfn, i) => [pfn, log.before.orders[i]]);
  assert.deepEqual(before.sort((a, b) => a[0] - b[0]), [[7, 0], [512, 9]]);
  assert.deepEqual([...log.ops.pfns], [3, 1024, 7, 5]);
  assert.deepEqual([...log.ops.orders], [0, 9, 0, 0]);
  const { add, del } = TRACKER_OP;
  assert.deepEqual([...log.ops.ops], [add, add, del, add]);
  // Stopped: the tracker's own methods again, nothing more recorded.
  assert.ok(!Object.hasOwn(t, "add") && !Object.hasOwn(t, "del"));
  t.add(9, 0);
  assert.equal(rec.length, 4);
  // Every array has a buffer of its own, exactly its size (transferable).
  for (const a of [log.ops.pfns, log.ops.orders, log.ops.ops]) {
    assert.equal(a.buffer.byteLength, a.byteLength);
  }
});

Deno.test("a typed tree's add (CONTIG) and addTyped are each recorded once, with their type", () => {
  const t = tracker("radix-typed") as ReturnType<typeof tracker> & {
    addTyped(pfn: number, order: number, type: 0 | 1): void;
  };
  const rec = recordTrackerOps(t);
  t.add(512, 9);
  t.addTyped(1024, 9, 1);
  const log = rec.stop()!;
  assert.deepEqual([...log.ops.ops], [TRACKER_OP.addTyped0, TRACKER_OP.addTyped1]);
  assert.deepEqual([...log.ops.pfns], [512, 1024]);
});

Deno.test("the handover snapshot holds what the successor reads first, at its addresses", () => {
  const machine = new Machine({ ramBytes: 2 ** 32 });
  const k1 = Kernel.coldBoot(machine, { cmdline: "kho=on", profile: "kho-v4" });
  for (let i = 0; i < 64; i++) k1.kho.preserveFolio(k1.buddy.folioAlloc(i % 3)!);
  let snap: HandoverCapsule | null = null;
  const k2 = k1.kexec({}, {
    onHandoff: (handoff) => {
      assert.ok(Object.isFrozen(handoff));
      snap = snapshotHandover(k1, { handoff, bootOptions: { profile: "kho-v4" } });
    },
  });
  const s = snap! as HandoverCapsule;
  assert.equal(s.mapPhys, k1.kho.out!.tracker.handoverRoot());
  const h = s.handoff.handover!;
  const pfns = new Set(s.pfns);
  for (const p of k1.kho.out!.tracker.ownedPagesPhys()) assert.ok(pfns.has(p / PAGE_SIZE));
  assert.ok(pfns.has(Math.floor(h.fdtPhys / PAGE_SIZE)), "the root FDT");
  assert.ok(pfns.has(Math.floor(h.scratchPhys / PAGE_SIZE)), "the scratch array");
  assert.deepEqual([...s.pfns], [...pfns].sort((a, b) => a - b));
  assert.equal(s.bytes.length, s.pfns.length * PAGE_SIZE);
  // The copied bytes are the machine's at that instant.
  const i = s.pfns.indexOf(Math.floor(h.scratchPhys / PAGE_SIZE));
  assert.deepEqual(
    s.bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE),
    machine.mem.readBytes(s.pfns[i] * PAGE_SIZE, PAGE_SIZE),
  );
  // The reference walk over the live bytes is the successor's: 64 folios and KHO's own pages.
  assert.equal(s.walk!.ok, true);
  assert.equal(s.walk!.blocks, k2.boot.retrieve!.blocks);
  assert.deepEqual(s.walk!.counters, k2.boot.retrieve!.counters.snapshot());
  assert.deepEqual(bootOutcome(k2), {
    verdict: "ok",
    retrieve: { ok: true, blocks: k2.boot.retrieve!.blocks, bytes: k2.boot.retrieve!.bytes },
  });
  assert.deepEqual(bootOutcome(null), { verdict: "failed", retrieve: null });
  // Plain data that crosses to a worker, its buffers transferred.
  const capsule = { tracker: null, handover: s };
  const buffers = capsuleBuffers(capsule);
  assert.equal(buffers.length, 2);
  assert.equal(capsuleBytes(capsule), s.pfns.byteLength + s.bytes.byteLength);
  const pages = s.pfns.length;
  const moved = structuredClone(capsule, { transfer: buffers });
  assert.equal(moved.handover.bytes.length, pages * PAGE_SIZE);
  assert.equal(s.bytes.length, 0, "transferred, not copied");
});
