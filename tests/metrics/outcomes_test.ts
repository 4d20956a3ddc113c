import assert from "node:assert/strict";
import fc from "fast-check";
import {
  emptyKindOutcomes,
  formatOutcomeCounts,
  MAX_REASONS_PER_KIND,
  type Outcome,
  outcomeColumns,
  outcomeKey,
  outcomeProblems,
  OUTCOMES,
  OutcomeTally,
  parseOutcomeKey,
  parseReason,
  rowOutcomes,
  totalOutcomes,
} from "../../lib/metrics/outcomes.ts";
import { metricDef } from "../../lib/metrics/metrics.ts";

Deno.test("outcomes add up per kind; a reason per object but the restored ones", () => {
  const t = new OutcomeTally();
  t.add("folio", "iommu", "restored", undefined, 5);
  t.add("folio", "guests", "lost", "not kept by the walk: pfn 0x80000", 1);
  t.add("folio", "guests", "lost", "not kept by the walk: pfn 0xc0000", 1);
  t.add("memfd", "guests", "unsupported", "no LUO (6.19 on)", 8);
  t.add("vmalloc", "vmalloc", "failedRestore", "kho_restore_vmalloc returned NULL", 2);
  assert.equal(t.total("attempted"), 17);
  assert.equal(t.total("lost"), 2);
  const o = t.outcomes();
  assert.deepEqual(Object.keys(o), ["folio", "memfd", "vmalloc"]);
  assert.deepEqual(o.folio, {
    ...emptyKindOutcomes(),
    attempted: 7,
    restored: 5,
    lost: 2,
    reasons: ["guests: 2 lost — not kept by the walk: pfn 0x80000 (the first of 2)"],
  });
  assert.deepEqual(o.memfd.reasons, ["guests: 8 unsupported — no LUO (6.19 on)"]);
  for (const [kind, k] of Object.entries(o)) assert.deepEqual(outcomeProblems(kind, k), []);
  assert.equal(
    formatOutcomeCounts(totalOutcomes(o)),
    "5 restored, 8 unsupported, 2 failedRestore, 2 lost",
  );
  assert.throws(() => t.add("folio", "x", "corrupted"), /corrupted needs a reason/);
  assert.throws(() => t.add("folio", "x", "restored", undefined, -1), RangeError);
});

Deno.test("outcomeProblems finds outcomes that do not add up and counts without reasons", () => {
  const k = { ...emptyKindOutcomes(), attempted: 4, restored: 1, refused: 3 };
  assert.deepEqual(outcomeProblems("range", k), ["range: 3 refused, reasons for 0"]);
  assert.deepEqual(
    outcomeProblems("range", { ...k, attempted: 5, reasons: ["dma: 3 refused — cold boot"] }),
    ["range: outcomes add up to 4, not 5"],
  );
  assert.deepEqual(outcomeProblems("range", { ...k, reasons: ["no format"] }), [
    "range: reason not NAME: N OUTCOME — TEXT: no format",
    "range: 3 refused, reasons for 0",
  ]);
});

Deno.test("more causes than a kind lists are folded into one line per name and outcome", () => {
  const t = new OutcomeTally();
  for (let i = 0; i < MAX_REASONS_PER_KIND + 5; i++) {
    t.add("range", "dma", "failedRestore", `cause ${"x".repeat(i)}`);
  }
  const k = t.outcomes().range;
  assert.equal(k.reasons.length, MAX_REASONS_PER_KIND + 1);
  assert.match(k.reasons.at(-1)!, /^dma: 5 failedRestore — further causes not listed/);
  assert.deepEqual(outcomeProblems("range", k), []);
});

Deno.test("keys and reason lines parse back", () => {
  assert.deepEqual(parseOutcomeKey(outcomeKey("reserve_mem", "failedRestore")), {
    kind: "reserve_mem",
    field: "failedRestore",
  });
  assert.equal(parseOutcomeKey("outcomes.folio.mean"), null);
  assert.equal(parseOutcomeKey("walkMs.n"), null);
  assert.equal(metricDef("outcomes.memfd.lost")?.name, "outcomes");
  assert.deepEqual(parseReason("a: b: 3 lost — c: 4 refused — d"), { n: 3, outcome: "lost" });
});

Deno.test("property: any tally survives the flat columns, and always adds up", () => {
  const entry = fc.record({
    kind: fc.constantFrom("folio", "range", "memfd", "test_kho"),
    name: fc.string({ minLength: 1, maxLength: 6 }),
    outcome: fc.constantFrom(...OUTCOMES),
    reason: fc.string({ minLength: 1, maxLength: 12 }),
    n: fc.integer({ min: 0, max: 5 }),
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
      const t = new OutcomeTally();
      for (const e of entries) t.add(e.kind, e.name, e.outcome as Outcome, e.reason, e.n);
      const o = t.outcomes();
      assert.deepEqual(rowOutcomes({ profile: "p", ...outcomeColumns(o) }), o);
      for (const [kind, k] of Object.entries(o)) assert.deepEqual(outcomeProblems(kind, k), []);
    }),
    { seed: 17, numRuns: 200 },
  );
});
