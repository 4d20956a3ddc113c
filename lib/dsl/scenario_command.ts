/**
 * The `scenario` command: runs a standard analysis scenario (lib/scenario) from a script —
 * build, preserve, kexec, restore, verify, collect — and exposes the result row as
 * `scenario.<metric>` for `expect`, `measure` and `show table`.
 *
 * ```
 * scenario uniform profile=kho-v4 ramBytes=4G pages=2000
 * expect scenario.lost == 0 && scenario.trackerLiveBytes < 256K
 * ```
 *
 * @module
 */

import { METRICS as ANALYSIS_METRICS, type MetricsRow } from "../metrics/metrics.ts";
import { CURRENT_PROFILE, PROFILE_NAMES, type ProfileName } from "../kho/abi/profiles.ts";
import { runScenario } from "../scenario/run.ts";
import { SCENARIO_NAMES, SCENARIOS } from "../scenario/scenarios.ts";
import { type OptionSpec, registerCommand } from "./commands.ts";
import type { Interpreter } from "./interpreter.ts";
import { registerMetric } from "./metrics.ts";

const lastRow = new WeakMap<Interpreter, MetricsRow>();

const paramOptions = new Map<string, OptionSpec>();
for (const spec of Object.values(SCENARIOS)) {
  for (const p of spec.params) {
    if (!paramOptions.has(p.name)) {
      paramOptions.set(p.name, {
        name: p.name,
        kind: "string",
        doc: `scenario parameter: ${p.doc}`,
      });
    }
  }
}

registerCommand({
  name: "scenario",
  summary: "run a standard analysis scenario and expose its metrics as scenario.*",
  details: `scenario NAME [profile=P] [seed=N] [PARAM=VALUE …]
Scenarios: ${SCENARIO_NAMES.join(", ")}. Builds the scenario on its own machine, preserves,
kexecs, restores and verifies, then sets scenario.<metric> for every metric of the analysis
catalogue (docs/metrics.md). The script's own machine and objects are not touched.`,
  positionals: [{ name: "NAME", kind: { enum: [...SCENARIO_NAMES] }, doc: "scenario name" }],
  options: [
    {
      name: "profile",
      kind: { enum: [...PROFILE_NAMES] },
      doc: "ABI profile",
      default: CURRENT_PROFILE,
    },
    { name: "seed", kind: "int", doc: "scenario seed", default: "the script's seed" },
    ...paramOptions.values(),
  ],
  run: (rt, inv) => {
    const { profile, seed, ...params } = inv.opts as Record<string, unknown>;
    const res = runScenario({
      scenario: inv.args[0] as string,
      profile: (profile as ProfileName | undefined) ?? CURRENT_PROFILE,
      params: params as Record<string, string>,
      seed: (seed as number | undefined) ?? rt.seed,
      clock: rt.clock,
    });
    const previous = lastRow.get(rt);
    lastRow.set(rt, res.row);
    rt.onUndo(() => (previous ? lastRow.set(rt, previous) : lastRow.delete(rt)));
    rt.print(`scenario ${inv.args[0]} (${res.row.profile}): ${res.row.status ?? "done"}`);
  },
});

for (const m of ANALYSIS_METRICS) {
  registerMetric({
    name: `scenario.${m.name}`,
    doc: `${m.description} (${m.unit}; from the last \`scenario\` command)`,
    get: (rt) => lastRow.get(rt)?.[m.name],
  });
}
