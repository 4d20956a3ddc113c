import assert from "node:assert/strict";
import {
  CONFORMANCE_CHECKS,
  conformanceTable,
  runConformance,
} from "../../lib/design/conformance.ts";
import { BUILTIN_TRACKER_FORMATS, trackerFormat } from "../../lib/kho/trackers/registry.ts";
import type { OutgoingTracker, TrackerFormat } from "../../lib/kho/trackers/tracker.ts";

for (const format of BUILTIN_TRACKER_FORMATS) {
  Deno.test(`conformance: built-in kind ${format.kind} passes every check`, () => {
    const r = runConformance(format);
    assert.deepEqual(r.checks.map((c) => c.name), [...CONFORMANCE_CHECKS]);
    assert.ok(r.ok, conformanceTable([r]));
  });
}

// ---------------------------------------------------------------- cost-counters mutants

/** The radix format with its outgoing tracker's `add` (and counters) altered by `mutate`. */
function mutant(
  kind: string,
  mutate: (tree: OutgoingTracker, add: (pfn: number, order: number) => void) => (
    pfn: number,
    order: number,
  ) => void,
): TrackerFormat {
  const radix = trackerFormat("radix");
  return {
    ...radix,
    kind,
    create(host) {
      const tree = radix.create(host);
      const add = mutate(tree, (pfn, order) => tree.add(pfn, order));
      return {
        kind,
        counters: tree.counters,
        add,
        del: (pfn, order) => tree.del(pfn, order),
        walk: (cb) => tree.walk(cb),
        handoverRoot: () => tree.handoverRoot(),
        metadataPages: () => tree.metadataPages(),
        metadataBytes: () => tree.metadataBytes(),
        ownedPagesPhys: () => tree.ownedPagesPhys(),
        destroy: () => tree.destroy?.(),
      };
    },
  };
}

const costReason = (f: TrackerFormat) =>
  runConformance(f, { checks: ["cost-counters"] }).checks[0].reason;

Deno.test("cost-counters: an add that writes no line fails uncharged-add", () => {
  const f = mutant("no-writes", (t, add) => (pfn, order) => {
    add(pfn, order);
    t.counters.cacheLinesWritten--;
  });
  assert.equal(costReason(f), "uncharged-add");
});

Deno.test("cost-counters: pages the allocator did not give fail pages-miscounted", () => {
  const f = mutant("extra-pages", (t, add) => (pfn, order) => {
    add(pfn, order);
    if (order === 9) t.counters.pagesAllocated++;
  });
  assert.equal(costReason(f), "pages-miscounted");
});

Deno.test("cost-counters: charges that differ between two runs fail nondeterministic", () => {
  let calls = 0;
  const f = mutant("drifting", (t, add) => (pfn, order) => {
    add(pfn, order);
    t.counters.entriesVisited += calls++ === 0 ? 1 : 0; // only the first tracker's first add
  });
  assert.equal(costReason(f), "nondeterministic");
});

Deno.test("cost-counters: a counter that goes down fails counter-decreased", () => {
  const f = mutant("decreasing", (t, add) => (pfn, order) => {
    add(pfn, order);
    t.counters.entriesVisited += t.counters.entriesVisited < 1000 ? 1000 : -10;
  });
  assert.equal(costReason(f), "counter-decreased");
});

Deno.test("cost-counters: a walk that charges no callback fails walk-miscounted", () => {
  const radix = trackerFormat("radix");
  const f: TrackerFormat = {
    ...radix,
    kind: "silent-walk",
    incoming(mem, root, o = {}) {
      const r = radix.incoming(mem, root, o);
      return {
        kind: "silent-walk",
        counters: r.counters,
        walk(cb) {
          const n = r.walk(cb);
          r.counters.callbacks = 0;
          return n;
        },
      };
    },
  };
  assert.equal(costReason(f), "walk-miscounted");
});
