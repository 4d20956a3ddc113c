import assert from "node:assert/strict";
import { defineProfile, defineTracker } from "../../lib/design/define.ts";
import { designModules, designOrigin } from "../../lib/design/load.ts";
import {
  getProfile,
  isBuiltinProfile,
  PROFILE_NAMES,
  profileNames,
} from "../../lib/kho/profiles.ts";
import { trackerAvailable, trackerFormat, trackerKinds } from "../../lib/kho/trackers/registry.ts";
import { runScenario } from "../../lib/scenario/run.ts";
import { runSweep } from "../../lib/scenario/sweep.ts";
import { ManualClock } from "../../lib/rng.ts";
import { hugetlbVmemmapDesign, REBUILD_AND_REOPTIMIZE } from "../../lib/clients/hugetlb_luo.ts";

const radix = trackerFormat("radix");

Deno.test("defineTracker: shape checked, built-in kinds kept, redefinition replaces", () => {
  const bad: [object, RegExp][] = [
    [{ ...radix, kind: "Bad Kind" }, /tracker kind "Bad Kind"/],
    [{ ...radix }, /built in/],
    [{ ...radix, kind: "t1", capabilities: { ...radix.capabilities, maxOrder: 53 } }, /maxOrder/],
    [
      { ...radix, kind: "t1", capabilities: { ...radix.capabilities, rollback: "some" } },
      /rollback/,
    ],
    [
      { ...radix, kind: "t1", capabilities: { ...radix.capabilities, walkOrder: "random" } },
      /walkOrder/,
    ],
    [{ ...radix, kind: "t1", create: undefined }, /create/],
    [{ ...radix, kind: "t1", incoming: 3 }, /incoming/],
  ];
  for (const [format, re] of bad) {
    assert.throws(() => defineTracker(format as never), re);
  }
  assert.ok(!trackerAvailable("t1"));
  const a = defineTracker({ ...radix, kind: "t1", summary: "first" });
  assert.equal(trackerFormat("t1"), a);
  assert.equal(trackerKinds().at(-1), "t1");
  const b = defineTracker({ ...radix, kind: "t1", summary: "second" });
  assert.equal(trackerFormat("t1"), b, "a notebook cell run twice replaces its format");
  // defined from this module: its origin is this file, so a worker could import it
  assert.equal(designOrigin("tracker", "t1"), import.meta.url);
});

Deno.test("defineProfile: derived from a stateless base, with its own compat", () => {
  const p = defineProfile({
    name: "typed-fixed-on-v4",
    base: "kho-v4",
    tracker: "radix-typed-fixed",
    compat: "kho-v4-tf",
  });
  assert.equal(getProfile("typed-fixed-on-v4"), p);
  assert.ok(!isBuiltinProfile(p.name));
  assert.deepEqual(profileNames().slice(0, PROFILE_NAMES.length), [...PROFILE_NAMES]);
  assert.ok(profileNames().includes("typed-fixed-on-v4"));
  const base = getProfile("kho-v4");
  assert.equal(p.luo, base.luo);
  assert.equal(p.fdtStyle, base.fdtStyle);
  assert.equal(p.kernel, "design on kho-v4");
  assert.ok(p.api.includes("splitPreservedPages") === false, "kho-v4 has no split API");
  // a tracker without a page type loses the split API; the tracker's own bugs go
  const q = defineProfile({
    name: "jgg-on-typed",
    base: "rfc-2026-page-type",
    tracker: "radix-jgg",
    compat: "jgg",
  });
  assert.ok(!q.api.includes("splitPreservedPages"));
  assert.ok(!q.bugs.includes("page-type-lost"));
  assert.ok(getProfile("rfc-2026-page-type").bugs.includes("page-type-lost"));
  // the same tracker: compat may stay (a relabelled generation)
  assert.equal(defineProfile({ name: "v4-copy", base: "kho-v4" }).compat, "kho-v4");
  for (
    const [design, re] of [
      [{ name: "kho-v4", base: "kho-v4" }, /built in/],
      [{ name: "Upper", base: "kho-v4" }, /profile name/],
      [{ name: "x1", base: "kho-v9" }, /unknown KHO profile "kho-v9"/],
      [{ name: "x1", base: "kho-v4", tracker: "nope", compat: "c" }, /unknown tracker kind "nope"/],
      [{ name: "x1", base: "kho-v4", tracker: "radix-jgg" }, /compat string of its own/],
      [{ name: "x1", base: "kho-v4", tracker: "radix-jgg", compat: "kho-v4" }, /of its own/],
      [{ name: "x1", base: "kho-v4", tracker: "radix-jgg", compat: "a b" }, /printable/],
      [{ name: "x1", base: "kho-v1-6.19", tracker: "radix", compat: "c" }, /finalize/],
    ] as const
  ) {
    assert.throws(() => defineProfile(design as never), re, JSON.stringify(design));
  }
});

Deno.test("defineProfile: a status of its own, and another way to bring HugeTLB struct pages back", () => {
  const rfc = getProfile("rfc-2025-12-hugetlb");
  assert.equal(defineProfile({ name: "rfc-copy", base: rfc.name }).status, rfc.status);
  const design = {
    name: "counting",
    restoreFolio: REBUILD_AND_REOPTIMIZE.restoreFolio,
    addFolios: REBUILD_AND_REOPTIMIZE.addFolios,
  };
  const p = defineProfile({
    name: "rfc-own",
    base: rfc.name,
    status: "kholab's own proposal",
    hugetlbVmemmap: design,
  });
  assert.equal(p.status, "kholab's own proposal");
  assert.equal(hugetlbVmemmapDesign("rfc-own"), design);
  assert.equal(hugetlbVmemmapDesign("rfc-copy"), null, "the RFC's own way");
  // A profile defined again without one goes back to the base's way.
  defineProfile({ name: "rfc-own", base: rfc.name });
  assert.equal(hugetlbVmemmapDesign("rfc-own"), null);
  for (
    const [d, re] of [
      [{ base: "kho-v4", hugetlbVmemmap: design }, /HugeTLB live update/],
      [{ base: rfc.name, hugetlbVmemmap: { name: "x" } }, /restoreFolio and addFolios/],
      [
        { base: rfc.name, hugetlbVmemmap: { ...design, preserveFolios: () => {} } },
        /both preserveFolios and unpreserveFolios/,
      ],
      [{ base: rfc.name, hugetlbVmemmap: { ...design, foldsAtBoot: 1 } }, /must be a function/],
      [{ base: rfc.name, status: "" }, /status/],
    ] as const
  ) {
    assert.throws(() => defineProfile({ name: "x2", ...d } as never), re, JSON.stringify(d));
  }
});

Deno.test("a design profile runs a scenario end to end; inline designs cannot reach a worker", async () => {
  defineTracker({ ...trackerFormat("radix-jgg"), kind: "jgg-copy", summary: "the jgg keys again" });
  const p = defineProfile({
    name: "jgg-copy-v4",
    base: "kho-v4",
    tracker: "jgg-copy",
    compat: "jc",
  });
  const { row } = runScenario({
    scenario: "uniform",
    profile: p.name,
    params: { ramBytes: "1G", pages: 200 },
    seed: 3,
    clock: new ManualClock(),
  });
  assert.equal(row.status, "ok");
  assert.equal(row.tracker, "jgg-copy");
  assert.equal(row.lostObjects, 0);
  // defined in this module: a worker can import it (its origin is this test file)
  assert.deepEqual(designModules(["kho-v4", p.name]), [import.meta.url]);
  const rows = await runSweep({
    scenario: "uniform",
    params: { ramBytes: "1G", pages: 100 },
    profiles: ["kho-v4", p.name],
    workers: 0,
    clock: new ManualClock(),
  });
  assert.deepEqual(rows.map((r) => r.status), ["ok", "ok"]);
});
