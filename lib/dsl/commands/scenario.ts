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
import {
  checkParamValue,
  type ParamSpec,
  type ParamValue,
  parseParam,
  resolveParams,
  SCENARIO_NAMES,
  SCENARIOS,
  type ScenarioSpec,
} from "../../scenario/scenarios.ts";
import { scenarioMemory } from "../../scenario/scenario_memory.ts";
import { formatSize } from "../../units.ts";
import { CommandError, didYouMean } from "../errors.ts";
import type { Session } from "../session.ts";
import type { CheckProblem, CommandSpec, MetricSpec, OptionSpec } from "../spec.ts";
import type { ValueKind } from "../values.ts";

/** The value kind of a scenario parameter's type. */
function paramKind(p: ParamSpec): ValueKind {
  switch (p.type) {
    case "size":
    case "count":
    case "int":
    case "string":
      return p.type;
    case "enum":
      return { enum: p.choices ?? [] };
  }
}

/**
 * One option per scenario parameter, typed by the parameter (`ramBytes=4GB5` and `nodes=1.5`
 * are found by `check`); a name that two scenarios type differently is a RangeError here.
 */
function paramOptions(): OptionSpec[] {
  const out = new Map<string, OptionSpec>();
  for (const spec of Object.values(SCENARIOS)) {
    for (const p of spec.params) {
      const kind = paramKind(p);
      const known = out.get(p.name);
      if (known === undefined) {
        out.set(p.name, { name: p.name, kind, doc: `scenario parameter: ${p.doc}` });
      } else if (JSON.stringify(known.kind) !== JSON.stringify(kind)) {
        throw new RangeError(`scenario parameter ${p.name} has two types`);
      }
    }
  }
  return [...out.values()];
}

/** What the scenario options are that are not parameters. */
const NOT_PARAMS = new Set(["profile", "seed", "repeat"]);

/**
 * Checks parameters against the scenario (each must be one of its parameters, within its
 * bounds, the machine they make within 64 TiB); returns the problems, each naming its option.
 */
export function scenarioProblems(
  name: string,
  params: ReadonlyMap<string, ParamValue | null>,
): CheckProblem[] {
  const spec = (SCENARIOS as Record<string, ScenarioSpec | undefined>)[name];
  if (spec === undefined) return [];
  const problems: CheckProblem[] = [];
  const known: Record<string, ParamValue> = {};
  let complete = true;
  for (const [option, value] of params) {
    if (NOT_PARAMS.has(option)) continue;
    const ps = spec.params.find((p) => p.name === option);
    if (ps === undefined) {
      problems.push({
        option,
        message: `scenario ${name} has no parameter "${option}"${
          didYouMean(option, spec.params.map((p) => p.name))
        } (has: ${spec.params.map((p) => p.name).join(", ")})`,
      });
      continue;
    }
    if (value === null) {
      complete = false;
      continue;
    }
    try {
      known[option] = typeof value === "string" ? parseParam(ps, value) : value;
      checkParamValue(ps, known[option]);
    } catch (e) {
      problems.push({ option, message: (e as Error).message });
    }
  }
  if (problems.length === 0 && complete) {
    try {
      resolveParams(name, known);
    } catch (e) {
      problems.push({ message: (e as Error).message });
    }
  }
  return problems;
}

/** `scenario NAME …`: runs it on its own machine; the row becomes `scenario.*`. */
export function scenarioCommand(s: Session, name: string, opts: Record<string, unknown>): void {
  const { profile, seed, repeat, ...given } = opts;
  const params = given as Record<string, ParamValue>;
  const problems = scenarioProblems(name, new Map(Object.entries(params)));
  if (problems.length) throw new CommandError(null, problems.map((p) => p.message).join("; "));
  const machine = SCENARIOS[name as keyof typeof SCENARIOS].machineBytes(
    resolveParams(name, params),
  );
  if (machine > s.maxRamBytes) {
    throw new CommandError(
      "E2BIG",
      `scenario ${name}: a machine of ${formatSize(machine)} > limit ${formatSize(s.maxRamBytes)}`,
    );
  }
  const res = runScenario({
    scenario: name,
    profile: (profile as ProfileName | undefined) ?? CURRENT_PROFILE,
    params,
    seed: (seed as number | undefined) ?? s.seed,
    repeat: (repeat as number | undefined) ?? DEFAULT_REPEAT,
    clock: s.clock,
  });
  s.assign({ scenarioRow: res.row });
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
  estimate: (_s, inv) => {
    const { profile: _p, seed: _seed, repeat: _repeat, ...params } = inv.opts;
    try {
      return scenarioMemory(inv.args[0] as string, params as Record<string, ParamValue>);
    } catch {
      return { bytes: 0, detail: "bad parameters (refused when it runs)" };
    }
  },
  check: (literal) =>
    literal.args[0] === null ? [] : scenarioProblems(literal.args[0], literal.options),
};

/**
 * `scenario.<metric>` for every metric of the analysis catalogue, and for a wall-clock one
 * `scenario.<metric>.n`, `.median`, `.min`, `.max`. The outcomes per kind are not metrics (every
 * `measure` row would carry 56 more): their totals are (`scenario.attemptedObjects`,
 * `scenario.lostObjects`, …), `show outcomes` shows them per kind with their reasons.
 */
export const SCENARIO_METRICS: readonly MetricSpec[] = ANALYSIS_METRICS.flatMap((m) =>
  m.type === "outcomes" ? [] : [
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
  ]
);
