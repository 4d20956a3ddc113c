/**
 * The `scenario` command: runs a standard analysis scenario (lib/scenario) from a script —
 * build, preserve, kexec, restore, verify, collect, then the timed replays — and exposes the
 * result row as `scenario.<metric>` for `expect`, `measure` and `show table`; a wall-clock
 * metric also as `scenario.<metric>.n`, `.median`, `.min` and `.max` (`show table` prints it
 * as `median (min–max)`).
 *
 * ```
 * scenario uniform profile=kho-v4 ramBytes=4G pages=2000 repeat=5
 * expect scenario.lost == 0 && scenario.trackerLiveBytes < 256K
 * ```
 *
 * @module
 */

import { CURRENT_PROFILE, type ProfileName } from "../../kho/profiles.ts";
import { METRICS as ANALYSIS_METRICS } from "../../metrics/metrics.ts";
import { TIMING_STATS, timingStatKey } from "../../metrics/timing.ts";
import { DEFAULT_REPEAT, runScenario } from "../../scenario/run.ts";
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
  const { profile, seed, repeat, ...params } = opts;
  const res = runScenario({
    scenario: name,
    profile: (profile as ProfileName | undefined) ?? CURRENT_PROFILE,
    params: params as Record<string, string>,
    seed: (seed as number | undefined) ?? s.seed,
    repeat: (repeat as number | undefined) ?? DEFAULT_REPEAT,
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
  details: `scenario NAME [profile=P] [seed=N] [repeat=N] [PARAM=VALUE …]
Scenarios: ${SCENARIO_NAMES.join(", ")}. Builds the scenario on its own machine, preserves,
kexecs, restores and verifies, then sets scenario.<metric> for every metric of the analysis
catalogue (docs/metrics.md). The script's own machine and objects are not touched.
Wall-clock metrics (scenario.walkMs, …) are the median of repeat= timed replays of their
region after a warm-up (default ${DEFAULT_REPEAT}; 0: none), with .n, .median, .min, .max.`,
  positionals: [{ name: "NAME", kind: { enum: [...SCENARIO_NAMES] }, doc: "scenario name" }],
  options: [
    {
      name: "profile",
      kind: "profile",
      doc: "ABI profile",
      default: CURRENT_PROFILE,
    },
    { name: "seed", kind: "int", doc: "scenario seed", default: "the script's seed" },
    {
      name: "repeat",
      kind: "int",
      doc: "timed samples of each wall-clock region",
      default: String(DEFAULT_REPEAT),
    },
    ...paramOptions(),
  ],
  run: (s, inv) => scenarioCommand(s, inv.args[0] as string, inv.opts),
};

/**
 * `scenario.<metric>` for every metric of the analysis catalogue, and for a wall-clock one
 * `scenario.<metric>.n`, `.median`, `.min`, `.max`.
 */
export const SCENARIO_METRICS: readonly MetricSpec[] = ANALYSIS_METRICS.flatMap((m) => [
  {
    name: `scenario.${m.name}`,
    doc: `${m.description} (${m.unit}${
      m.kind === "wallclock" ? ", median of the timed samples" : ""
    }; from the last \`scenario\` command)`,
    get: (s) => s.scenarioRow?.[m.name],
  },
  ...(m.kind !== "wallclock" ? [] : TIMING_STATS.map((stat) => ({
    name: `scenario.${timingStatKey(m.name, stat)}`,
    doc: stat === "n"
      ? `timed samples of scenario.${m.name} (from the last \`scenario\` command)`
      : `${stat} of the timed samples of scenario.${m.name} (ms)`,
    get: (s: Parameters<MetricSpec["get"]>[0]) => s.scenarioRow?.[timingStatKey(m.name, stat)],
  }))),
]);
