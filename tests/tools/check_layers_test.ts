import assert from "node:assert/strict";
import {
  checkLayers,
  cyclePath,
  formatViolations,
  type ImportEdge,
  KNOWN_CYCLES,
  layerOf,
  LAYERS,
  loadGraph,
  type ModuleGraph,
  stronglyConnected,
} from "../../tools/check_layers.ts";

/** A graph from `"a.ts": ["b.ts", …]` (every edge on line 1). */
function graph(edges: Record<string, string[]>): ModuleGraph {
  return new Map(
    Object.entries(edges).map((
      [from, tos],
    ) => [from, tos.map((to): ImportEdge => ({ to, line: 1 }))]),
  );
}

const none = { knownCycles: [] };

Deno.test("check_layers: a clean graph (downward and same-rank imports) has no violations", () => {
  const g = graph({
    "cli.ts": ["lib/report/report.ts", "lib/dsl/run.ts"],
    "lib/report/report.ts": ["lib/scenario/run.ts", "lib/plot/chart.ts"],
    "lib/dsl/run.ts": ["lib/plot/chart.ts", "lib/boot/kernel.ts"],
    "lib/plot/chart.ts": ["lib/dsl/values.ts"],
    "lib/dsl/values.ts": ["lib/units.ts"],
    "lib/scenario/run.ts": ["lib/metrics/collect.ts", "lib/clients/memfd.ts"],
    "lib/metrics/collect.ts": ["lib/clients/memfd.ts", "lib/boot/kernel.ts"],
    "lib/clients/memfd.ts": ["lib/kho/kho.ts"],
    "lib/boot/kernel.ts": ["lib/kho/kho.ts", "lib/kernel/buddy.ts", "lib/machine/machine.ts"],
    "lib/kho/kho.ts": ["lib/kernel/panic.ts", "lib/errors.ts"],
    "lib/kernel/panic.ts": ["lib/kernel/dmesg.ts"],
    "lib/kernel/dmesg.ts": [],
    "lib/kernel/buddy.ts": ["lib/machine/machine.ts", "lib/rng.ts"],
    "lib/machine/machine.ts": ["lib/units.ts"],
    "lib/units.ts": [],
    "lib/errors.ts": [],
    "lib/rng.ts": [],
  });
  assert.deepEqual(checkLayers(g, none), []);
  assert.deepEqual(stronglyConnected(g), []);
});

Deno.test("check_layers: a cycle is reported with its path, whatever the layers say", () => {
  const g = graph({
    "lib/scenario/run.ts": ["lib/scenario/scenarios.ts"],
    "lib/scenario/scenarios.ts": ["lib/scenario/workloads.ts"],
    "lib/scenario/workloads.ts": ["lib/scenario/run.ts", "lib/units.ts"],
    "lib/units.ts": [],
  });
  const v = checkLayers(g, none);
  assert.equal(v.length, 1);
  assert.equal(v[0].kind, "cycle");
  assert.match(
    formatViolations(v),
    /^import cycle: lib\/scenario\/run\.ts → lib\/scenario\/scenarios\.ts → lib\/scenario\/workloads\.ts → lib\/scenario\/run\.ts$/,
  );
  // a module that imports itself is a cycle too
  const self = checkLayers(graph({ "lib/units.ts": ["lib/units.ts"] }), none);
  assert.deepEqual(self.map((x) => x.kind), ["cycle"]);
});

Deno.test("check_layers: the printed cycle is a shortest one through the set's first module", () => {
  const g = graph({
    "a.ts": ["b.ts", "d.ts"],
    "b.ts": ["c.ts"],
    "c.ts": ["a.ts"],
    "d.ts": ["a.ts"],
  });
  const [scc] = stronglyConnected(g);
  assert.deepEqual(scc, ["a.ts", "b.ts", "c.ts", "d.ts"]);
  assert.deepEqual(cyclePath(g, scc), ["a.ts", "d.ts", "a.ts"]);
});

Deno.test("check_layers: an upward import names both ends, their layers and the line", () => {
  const g: ModuleGraph = new Map([
    ["lib/kernel/kernel.ts", [{ to: "lib/kho/kho.ts", line: 19, typeOnly: true }]],
    ["lib/kho/kho.ts", []],
  ]);
  const v = checkLayers(g, none);
  assert.equal(v.length, 1);
  assert.equal(v[0].kind, "upward");
  assert.equal(
    formatViolations(v),
    "upward import: lib/kernel/kernel.ts:19 (kernel, rank 2) imports lib/kho/kho.ts (kho, rank 3)" +
      " (type-only import)",
  );
});

Deno.test("check_layers: bench/, tests/ and tools/ are out of bounds; unknown lib folders have no layer", () => {
  const v = checkLayers(
    graph({
      "cli.ts": ["bench/workload.ts"],
      "lib/kho/kho.ts": ["tests/support/x.ts", "tools/lint_plugin.ts"],
      "lib/newthing/a.ts": [],
    }),
    none,
  );
  assert.deepEqual(v.map((x) => x.kind), ["forbidden", "forbidden", "forbidden", "unlayered"]);
  assert.match(formatViolations(v), /^forbidden import: cli\.ts:1 imports bench\/workload\.ts/);
  assert.match(formatViolations(v), /no layer: lib\/newthing\/a\.ts/);
});

Deno.test("check_layers: a known cycle passes only while it is exactly the same set", () => {
  const known = [{ modules: ["lib/dsl/a.ts", "lib/dsl/b.ts"], reason: "test" }];
  const exact = graph({ "lib/dsl/a.ts": ["lib/dsl/b.ts"], "lib/dsl/b.ts": ["lib/dsl/a.ts"] });
  assert.deepEqual(checkLayers(exact, { knownCycles: known }), []);
  const grown = graph({
    "lib/dsl/a.ts": ["lib/dsl/b.ts"],
    "lib/dsl/b.ts": ["lib/dsl/c.ts"],
    "lib/dsl/c.ts": ["lib/dsl/a.ts"],
  });
  assert.deepEqual(checkLayers(grown, { knownCycles: known }).map((x) => x.kind), [
    "cycle",
    "stale-known-cycle",
  ]);
  const gone = graph({ "lib/dsl/a.ts": ["lib/dsl/b.ts"], "lib/dsl/b.ts": [] });
  const v = checkLayers(gone, { knownCycles: known });
  assert.deepEqual(v.map((x) => x.kind), ["stale-known-cycle"]);
  assert.match(formatViolations(v), /no longer exists: remove it from KNOWN_CYCLES/);
});

Deno.test("check_layers: the layer table, lowest first; a file entry wins over its folder", () => {
  assert.equal(layerOf("lib/units.ts")!.name, "base");
  assert.equal(layerOf("lib/kho/abi/kho_data.ts")!.name, "kho");
  assert.equal(layerOf("lib/boot/kernel.ts")!.rank, layerOf("lib/kho/kho.ts")!.rank + 2);
  assert.equal(layerOf("lib/clients/memfd.ts")!.rank, layerOf("lib/metrics/collect.ts")!.rank);
  assert.equal(layerOf("lib/dsl/run.ts")!.rank, layerOf("lib/plot/chart.ts")!.rank);
  assert.equal(layerOf("mod.ts")!.name, "entry");
  assert.equal(layerOf("lib/other.ts"), null);
  assert.equal(layerOf("bench/workload.ts"), null);
  const ranks = LAYERS.map((l) => l.rank);
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b));
  assert.equal(KNOWN_CYCLES.length, 0, "no cycle is tolerated");
});

Deno.test("check_layers: the module graph comes from Deno's parser (type-only, dynamic, re-exports; no comments or strings)", async () => {
  const root = await Deno.makeTempDir({ prefix: "check_layers_" });
  try {
    await Deno.mkdir(`${root}/lib/kernel`, { recursive: true });
    await Deno.mkdir(`${root}/lib/kho`, { recursive: true });
    await Deno.mkdir(`${root}/tests`, { recursive: true });
    await Deno.writeTextFile(`${root}/deno.json`, "{}\n");
    await Deno.writeTextFile(
      `${root}/lib/kernel/a.ts`,
      [
        'import type { K } from "../kho/k.ts";',
        '// import "../kho/commented.ts";',
        'const r = /"/;',
        'const s = `import("../kho/in_a_string.ts")`;',
        'export const load = () => import("../kho/dyn.ts");',
        "export type A = K;",
        "export { r, s };",
      ].join("\n") + "\n",
    );
    await Deno.writeTextFile(
      `${root}/lib/kho/k.ts`,
      'export * from "../kernel/a.ts";\nexport type K = 1;\n',
    );
    await Deno.writeTextFile(`${root}/lib/kho/dyn.ts`, "export const d = 1;\n");
    await Deno.writeTextFile(`${root}/lib/kho/alone.ts`, 'import "../../tests/t.ts";\n');
    await Deno.writeTextFile(`${root}/tests/t.ts`, "export {};\n");
    const g = await loadGraph(root);
    assert.deepEqual([...g.keys()].sort(), [
      "lib/kernel/a.ts",
      "lib/kho/alone.ts",
      "lib/kho/dyn.ts",
      "lib/kho/k.ts",
    ]);
    assert.deepEqual(g.get("lib/kernel/a.ts"), [
      { to: "lib/kho/k.ts", line: 1, typeOnly: true },
      { to: "lib/kho/dyn.ts", line: 5, dynamic: true },
    ]);
    assert.deepEqual(g.get("lib/kho/k.ts"), [{ to: "lib/kernel/a.ts", line: 1 }]);
    assert.deepEqual(checkLayers(g, none).map((v) => v.kind), [
      "cycle",
      "upward",
      "upward",
      "forbidden",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("check_layers: this repository passes", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const g = await loadGraph(root);
  assert.ok(g.has("lib/boot/kernel.ts") && g.has("cli.ts") && g.has("mod.ts"));
  assert.deepEqual(formatViolations(checkLayers(g)), "");
});
