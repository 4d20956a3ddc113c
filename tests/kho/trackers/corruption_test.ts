import assert from "node:assert/strict";
import { KhoError } from "../../../lib/errors.ts";
import { TrackerCorruptionError } from "../../../lib/kho/trackers/corruption.ts";
import { IncomingXarrayTracker } from "../../../lib/kho/trackers/khoser.ts";
import { IncomingOrderTable } from "../../../lib/kho/trackers/order_table.ts";
import { IncomingRadixTree } from "../../../lib/kho/trackers/radix.ts";
import {
  IncomingRadixVariant,
  TYPED_FIXED_CODEC,
} from "../../../lib/kho/trackers/radix_variants.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";

const mem = new PhysicalMemory(2 ** 24);

/** Every successor-side reader, given bytes its walk must reject at once. */
const READERS = [
  {
    structure: "radix tree",
    reason: "root-null",
    walk: () => new IncomingRadixTree({ mem, rootPhys: 0 }).walk(() => 0),
  },
  {
    structure: "radix tree",
    reason: "root-null",
    walk: () =>
      new IncomingRadixVariant({ codec: TYPED_FIXED_CODEC, mem, rootPhys: 0 }).walk(() => 0),
  },
  {
    structure: "memory map",
    reason: "chunk-outside-ram",
    walk: () =>
      new IncomingXarrayTracker({ mem, firstChunkPhys: 2 ** 30, bitmapBytes: 4096 }).walk(() => 0),
  },
  {
    structure: "order table",
    reason: "root-unaligned",
    walk: () => new IncomingOrderTable({ mem, rootPhys: 0x1234 }).walk(() => 0),
  },
] as const;

Deno.test("tracker corruption: every reader raises the one TrackerCorruptionError (EINVAL, reason, message)", () => {
  for (const r of READERS) {
    let caught: unknown;
    try {
      r.walk();
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof TrackerCorruptionError, `${r.structure}: ${caught}`);
    assert.ok(caught instanceof KhoError);
    assert.equal(caught.name, "TrackerCorruptionError");
    assert.equal(caught.code, "EINVAL");
    assert.equal(caught.errno, 22);
    assert.equal(caught.structure, r.structure);
    assert.equal(caught.reason, r.reason);
    assert.equal(caught.result.ok, false);
    assert.equal(caught.result.error, r.reason);
    assert.ok(
      caught.message.startsWith(`EINVAL: corrupted KHO ${r.structure}: ${r.reason}: `),
      caught.message,
    );
  }
});

Deno.test("tracker corruption: built from a walk that did not fail is a RangeError", () => {
  assert.throws(
    () =>
      new TrackerCorruptionError("radix tree", { ok: true, stopped: 0, blocks: 3, rejected: 0 }),
    RangeError,
  );
});
