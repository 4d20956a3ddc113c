import assert from "node:assert/strict";
import {
  CONFORMANCE_CHECKS,
  conformanceTable,
  runConformance,
} from "../../lib/design/conformance.ts";
import { BUILTIN_TRACKER_FORMATS } from "../../lib/kho/trackers/registry.ts";

for (const format of BUILTIN_TRACKER_FORMATS) {
  Deno.test(`conformance: built-in kind ${format.kind} passes every check`, () => {
    const r = runConformance(format);
    assert.deepEqual(r.checks.map((c) => c.name), [...CONFORMANCE_CHECKS]);
    assert.ok(r.ok, conformanceTable([r]));
  });
}
