import assert from "node:assert/strict";
import { Topology } from "../../lib/machine/topology.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, TiB } from "../../lib/units.ts";

Deno.test("flat layout splits RAM evenly across nodes at section boundaries", () => {
  const t = new Topology({ ramBytes: TiB, nodes: 2 });
  assert.deepEqual(t.ranges, [{ start: 0, end: 512 * GiB, nid: 0 }, {
    start: 512 * GiB,
    end: TiB,
    nid: 1,
  }]);
  assert.equal(t.nidOfPhys(512 * GiB - 1), 0);
  assert.equal(t.nidOfPhys(512 * GiB), 1);
  assert.equal(t.nidOfPhys(TiB), -1);
  assert.equal(t.nodeBytes(1), 512 * GiB);
  assert.deepEqual(t.nodesWithMemory(), [0, 1]);
});

Deno.test("x86 layout leaves a hole at [3 GiB, 4 GiB)", () => {
  const t = new Topology({ ramBytes: 8 * GiB, nodes: 1, layout: "x86" });
  assert.equal(t.endBytes, 9 * GiB);
  assert.equal(t.ramBytes, 8 * GiB);
  assert.ok(t.isRam(0, 3 * GiB));
  assert.ok(!t.isRam(3 * GiB, 4096));
  assert.ok(!t.isRam(3 * GiB - 4096, 8192));
  assert.equal(t.nidOfPhys(3.5 * GiB), -1);
});

Deno.test("isRam accepts ranges spanning adjacent RAM ranges of two nodes", () => {
  const t = new Topology({ ramBytes: 2 * GiB, nodes: 2 });
  assert.ok(t.isRam(GiB - 4096, 8192));
  assert.ok(!t.isRam(2 * GiB - 4096, 8192));
  assert.ok(!t.isRam(-4096, 4096));
});

Deno.test("impossible layouts are rejected", () => {
  assert.throws(() => new Topology({ ramBytes: 100 * MiB }), RangeError);
  assert.throws(() => new Topology({ ramBytes: 128 * MiB, nodes: 2 }), RangeError);
  assert.throws(() => new Topology({ ramBytes: 128 * TiB }), RangeError);
  assert.throws(
    () =>
      new Topology({
        ramBytes: 0,
        nodes: 1,
        ranges: [{ start: 0, end: GiB, nid: 0 }, { start: GiB / 2, end: 2 * GiB, nid: 0 }],
      }),
    RangeError,
  );
});

Deno.test("a 32 TiB machine powers on cheaply", () => {
  const m = new Machine({ ramBytes: 32 * TiB, nodes: 8 });
  assert.equal(m.mem.sizeBytes, 32 * TiB);
  assert.equal(m.mem.stats().sections, 0);
  assert.equal(m.topology.nodesWithMemory().length, 8);
});
