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

import { CURRENT_PROFILE, type ProfileName } from "../../kho/profiles.ts";
import { METRICS as ANALYSIS_METRICS } from "../../metrics/metrics.ts";
import { runScenario } from "../../scenario/run.ts";
import { SCENARIO_NAMES, SCENARIOS } from "../../scenario/scenarios.ts";
import type { Session } from "../session.ts";
import type { CommandSpec, MetricSpec, OptionSpec } from "../spec.ts";

/** One option per scenario parameter (the first definition of each name). */
function paramOptions(): OptionSpec[] {
  const out = new Map<string, OptionSpec>();
  for (const spec of Object.values(SCENARIOS)) {
    for (const p of spec.params) {
      if (!out.has(p.name)) {
        out.set(p.name, { name: p.name, kind: "string", doc: `scenario parameter: ${p.doc}` });
      }
    }
  }
  return [...out.values()];
}

/** `scenario NAME …`: runs it on its own machine; the row becomes `scenario.*`. */
export function scenarioCommand(s: Session, name: string, opts: Record<string, unknown>): void {
  const { profile, seed, ...params } = opts;
  const res = runScenario({
    scenario: name,
    profile: (profile as ProfileName | undefined) ?? CURRENT_PROFILE,
    params: params as Record<string, string>,
    seed: (seed as number | undefined) ?? s.seed,
    clock: s.clock,
  });
  const previous = s.scenarioRow;
  s.scenarioRow = res.row;
  s.onUndo(() => s.scenarioRow = previous);
  s.print(`scenario ${name} (${res.row.profile}): ${res.row.status ?? "done"}`);
}

/** The `scenario` command. */
export const SCENARIO_COMMAND: CommandSpec = {
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
      kind: "profile",
      doc: "ABI profile",
      default: CURRENT_PROFILE,
    },
    { name: "seed", kind: "int", doc: "scenario seed", default: "the script's seed" },
    ...paramOptions(),
  ],
  run: (s, inv) => scenarioCommand(s, inv.args[0] as string, inv.opts),
};

/** `scenario.<metric>` for every metric of the analysis catalogue. */
export const SCENARIO_METRICS: readonly MetricSpec[] = ANALYSIS_METRICS.map((m) => ({
  name: `scenario.${m.name}`,
  doc: `${m.description} (${m.unit}; from the last \`scenario\` command)`,
  get: (s) => s.scenarioRow?.[m.name],
}));
