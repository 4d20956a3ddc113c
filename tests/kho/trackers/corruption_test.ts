import assert from "node:assert/strict";
import { KhoError } from "../../../lib/errors.ts";
import { TrackerCorruptionError } from "../../../lib/kho/trackers/corruption.ts";
import { BUILTIN_TRACKER_FORMATS } from "../../../lib/kho/trackers/registry.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";

const mem = new PhysicalMemory(2 ** 24);

/** Every built-in format's reader, given a root outside RAM: each rejects it at once. */
const READERS = BUILTIN_TRACKER_FORMATS.map((f) => ({
  kind: f.kind,
  structure: f.kind.startsWith("xarray")
    ? "memory map"
    : f.kind === "order-table"
    ? "order table"
    : "radix tree",
  reason: f.kind.startsWith("xarray") ? "chunk-outside-ram" : "root-outside-ram",
  walk: () => f.incoming(mem, 2 ** 30).walk(() => 0),
}));

Deno.test("tracker corruption: every reader raises the one TrackerCorruptionError (EINVAL, reason, message)", () => {
  for (const r of READERS) {
    let caught: unknown;
    try {
      r.walk();
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof TrackerCorruptionError, `${r.kind}: ${caught}`);
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
