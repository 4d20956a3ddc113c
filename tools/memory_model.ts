/**
 * Calibrates the host-memory model (`lib/machine/host_memory.ts`, the DSL's estimates and the
 * scenarios'): each probe — a statement of the command language after a setup, or a whole
 * scenario run — runs in a fresh process with `--expose-gc`; the probe's cost is the growth
 * of the process's peak resident memory (`VmHWM`) across it, beside the model's estimate for
 * the same input. Prints one line per probe and the ratio estimate ÷ measured (the model aims
 * at ≥ 0.8: it may overestimate, it should not underestimate much).
 *
 *   deno run -A tools/memory_model.ts            # every probe (a few minutes)
 *   deno run -A tools/memory_model.ts --quick    # one size per kind
 *
 * @module
 */

import { Evaluator } from "../lib/dsl/evaluator.ts";
import { Session } from "../lib/dsl/session.ts";
import type { MemoryEstimate } from "../lib/machine/host_memory.ts";
import { ManualClock } from "../lib/rng.ts";
import { runScenario } from "../lib/scenario/run.ts";
import { scenarioMemory } from "../lib/scenario/scenario_memory.ts";

/** One probe: a statement after a setup, or a scenario run. */
type Probe =
  | { kind: "dsl"; setup: string; statement: string }
  | { kind: "scenario"; scenario: string; params: Record<string, string> };

const DSL: [string, string][] = [
  ["machine ram=64G", "x = pages count=64k"],
  ["machine ram=64G", "x = pages count=256k"],
  ["machine ram=64G", "x = pages count=256k fill=none"],
  ["machine ram=64G", "x = folios order=9 count=8k"],
  ["machine ram=64G", "x = folios order=18 count=32"],
  ["machine ram=64G", "x = vmalloc size=1G"],
  ["machine ram=64G", "x = vmalloc size=4G huge"],
  ["machine ram=64G", "x = memfd size=1G"],
  ["machine ram=64G", "x = memfd size=16G folio=2M"],
  ["machine ram=64G", "x = reserve_mem size=8G"],
  ["machine ram=64G", "x = pages count=64k within=16G"],
  ["machine ram=64G\nx = pages count=256k within=8G\npreserve x", "kexec"],
  ["machine ram=64G\nprofile kho-v1-6.16\nx = pages count=256k within=8G\npreserve x", "kexec"],
  ["seed 1", "machine ram=8T\nkexec"],
  ["seed 1", "machine ram=32T nodes=8\nkexec"],
];

const SCENARIOS: [string, Record<string, string>][] = [
  ["uniform", { pages: "64k" }],
  ["uniform", { pages: "256k" }],
  ["clustered", { pages: "256k" }],
  ["dense", {}],
  ["dense", { bandBytes: "4G" }],
  ["hypervisor", { ramBytes: "256G", guestBytes: "240G", iommuPages: "256k" }],
  ["hypervisor", {}],
];

function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(m![1]) * 1024;
}

function rss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(m![1]) * 1024;
}

/** Runs one probe in this process; returns the peak RSS growth and the model's estimate. */
function runProbe(p: Probe): { measured: number; estimate: MemoryEstimate } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --v8-flags=--expose-gc");
  if (p.kind === "scenario") {
    const estimate = scenarioMemory(p.scenario, p.params);
    gc();
    const before = Math.max(peakRss(), rss());
    runScenario({
      scenario: p.scenario,
      profile: "kho-v4",
      params: p.params,
      clock: new ManualClock(),
    });
    return { measured: peakRss() - before, estimate };
  }
  const s = new Session({ clock: new ManualClock(), maxSteps: 1e12, maxMemoryBytes: 2 ** 50 });
  const ev = new Evaluator(s);
  ev.runText(p.setup);
  const estimates: MemoryEstimate[] = [];
  const check = s.memory.check.bind(s.memory);
  s.memory.check = (what: string, e: MemoryEstimate) => {
    if (!what.startsWith("parsing")) estimates.push(e);
    check(what, e);
  };
  gc();
  const before = Math.max(peakRss(), rss());
  ev.runText(p.statement);
  const measured = peakRss() - before;
  const bytes = estimates.reduce((sum, e) => sum + e.bytes, 0);
  return { measured, estimate: { bytes, detail: estimates.map((e) => e.detail).join(" + ") } };
}

/** The probes, one size per kind with `quick`. */
function probes(quick: boolean): Probe[] {
  const dsl = DSL.filter((_, i) => !quick || i % 2 === 0);
  const sc = SCENARIOS.filter((_, i) => !quick || i % 2 === 0);
  return [
    ...dsl.map(([setup, statement]) => ({ kind: "dsl" as const, setup, statement })),
    ...sc.map(([scenario, params]) => ({ kind: "scenario" as const, scenario, params })),
  ];
}

function label(p: Probe): string {
  return p.kind === "dsl"
    ? `${p.statement.replaceAll("\n", "; ")}   (after ${p.setup.replaceAll("\n", "; ")})`
    : `scenario ${p.scenario} ${Object.entries(p.params).map(([k, v]) => `${k}=${v}`).join(" ")}`;
}

const MiB = 2 ** 20;

if (import.meta.main) {
  const child = Deno.args.indexOf("--probe");
  if (child >= 0) {
    console.log(JSON.stringify(runProbe(JSON.parse(Deno.args[child + 1]))));
    Deno.exit(0);
  }
  const quick = Deno.args.includes("--quick");
  console.log("measured MiB  estimate MiB  ratio  probe");
  for (const p of probes(quick)) {
    const out = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        new URL(import.meta.url).pathname,
        "--probe",
        JSON.stringify(p),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).outputSync();
    const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      measured: number;
      estimate: MemoryEstimate;
    };
    const ratio = r.estimate.bytes / Math.max(r.measured, 1);
    console.log(
      `${(r.measured / MiB).toFixed(0).padStart(12)}  ${
        (r.estimate.bytes / MiB).toFixed(0).padStart(12)
      }  ${ratio.toFixed(2).padStart(5)}  ${label(p)}`,
    );
  }
}
