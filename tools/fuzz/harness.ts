/**
 * The fuzz loop: seeded inputs from a target's generator, executed in a child process
 * ({@link ChildRunner}: time bound per input, heap bound), observations judged by the
 * target's oracle in batches (the oracle judges one batch while the child runs the next),
 * findings grouped by signature, the first input of each group minimized by delta debugging
 * and written to `<outDir>/<target>/`.
 *
 * The harness lives in tools/, so it may read the wall clock for its time budget and its
 * progress lines; the inputs themselves depend only on the seed.
 *
 * @module
 */

import { Rng } from "../../lib/rng.ts";
import { minimize } from "./minimize.ts";
import { ChildRunner, type RunResult } from "./runner.ts";
import { loadTarget } from "./targets.ts";
import type { FuzzOracle, FuzzTarget } from "./target.ts";

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** Target name (tools/fuzz/targets.ts) or a module URL exporting `target`. */
  target: string;
  /** Inputs to generate. */
  runs: number;
  /** Seed of the input generator. */
  seed: number;
  /** Wall-clock budget in seconds (the run stops between batches); Infinity for none. */
  seconds: number;
  /** Time bound per input in ms; past it the input is a hang. */
  inputMs: number;
  /** Bound of the child's V8 heap in MiB. */
  maxHeapMb: number;
  /** Bound of the process's resident memory in MiB (checked per batch; past it the run stops). */
  maxRssMb: number;
  /** Inputs per batch. */
  batch: number;
  /** Reproducers go to `<outDir>/<target>/` (null: none written). */
  outDir: string | null;
  /** Predicate calls per minimization. */
  minimizeTests: number;
  /** Predicate calls per minimization of a hang or memory finding (each may cost `inputMs`). */
  minimizeSlowTests: number;
  /** Distinct findings minimized and written at most. */
  maxReproducers: number;
  /** Fail (throw) instead of skipping the comparison when the oracle is unavailable. */
  requireOracle: boolean;
  /** Progress and report lines. */
  log: (line: string) => void;
}

/** Defaults of {@link FuzzOptions}. */
export const DEFAULT_OPTIONS: Omit<FuzzOptions, "target"> = {
  runs: 10_000,
  seed: 1,
  seconds: Infinity,
  inputMs: 2000,
  maxHeapMb: 1024,
  maxRssMb: 4096,
  batch: 512,
  outDir: ".out/fuzz",
  minimizeTests: 400,
  minimizeSlowTests: 20,
  maxReproducers: 20,
  requireOracle: false,
  log: (line) => console.error(line),
};

/** Kinds of findings. */
export type FindingKind = "exception" | "hang" | "memory" | "mismatch";

/** One group of findings with the same signature. */
export interface FindingGroup {
  /** Kind. */
  kind: FindingKind;
  /** Kind and the first line of the detail, digits folded: what groups findings. */
  signature: string;
  /** Detail of the first one. */
  detail: string;
  /** Index (run number) of the first one. */
  firstIndex: number;
  /** How many inputs had it. */
  count: number;
  /** The first input. */
  input: Uint8Array;
  /** The minimized input, when minimized. */
  minimized?: Uint8Array;
  /** Where the reproducer was written. */
  file?: string;
}

/** What a run found. */
export interface FuzzReport {
  /** Target name. */
  target: string;
  /** Inputs executed. */
  inputs: number;
  /** Inputs refused for their size (not executed). */
  refused: number;
  /** Inputs with a finding. */
  findings: number;
  /** Findings grouped by signature, in order of first appearance. */
  groups: FindingGroup[];
  /** The oracle's name, or why the comparison was skipped. */
  oracle: { name: string } | { skipped: string } | null;
  /** Inputs the oracle compared. */
  compared: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** Whether the wall-clock budget ended the run. */
  outOfTime: boolean;
  /** The target's statistics lines, if it keeps any. */
  summary: string | null;
  /** Child processes started (restarts after hangs, memory findings and deaths). */
  children: number;
}

/** The line a report ends with: `N inputs, K findings`. */
export function lastLine(r: FuzzReport): string {
  return `${r.inputs} inputs, ${r.findings} findings`;
}

function signatureOf(kind: FindingKind, detail: string): string {
  const first = detail.split("\n")[0].replace(/0x[0-9a-f]+|\d+/gi, "#");
  return `${kind}: ${first}`;
}

function hex8(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Runs a fuzz campaign; see {@link FuzzOptions}. */
export async function runFuzz(
  partial: Partial<FuzzOptions> & { target: string },
): Promise<FuzzReport> {
  const o: FuzzOptions = { ...DEFAULT_OPTIONS, ...partial };
  const t0 = performance.now();
  const target = await loadTarget(o.target);
  const corpus = target.corpus();
  if (corpus.length === 0) throw new Error(`fuzz ${target.name}: empty corpus`);
  const rng = new Rng(o.seed);
  const runner = new ChildRunner(o.target, {
    inputMs: o.inputMs,
    maxHeapBytes: o.maxHeapMb * 2 ** 20,
    flags: target.childFlags,
  });
  let oracle: FuzzOracle<unknown> | null = null;
  let oracleInfo: FuzzReport["oracle"] = null;
  if (target.oracle) {
    const got = target.oracle();
    if (typeof got === "string") {
      if (o.requireOracle) throw new Error(`fuzz ${target.name}: oracle unavailable: ${got}`);
      oracleInfo = { skipped: got };
      o.log(`fuzz ${target.name}: comparison skipped: ${got}`);
    } else {
      oracle = got;
      oracleInfo = { name: got.name };
    }
  }
  const groups = new Map<string, FindingGroup>();
  let findings = 0;
  const record = (kind: FindingKind, detail: string, index: number, input: Uint8Array) => {
    findings++;
    const signature = signatureOf(kind, detail);
    const g = groups.get(signature);
    if (g) g.count++;
    else groups.set(signature, { kind, signature, detail, firstIndex: index, count: 1, input });
  };
  const stats = target.stats?.() ?? null;
  let inputs = 0, refused = 0, compared = 0, outOfTime = false;
  let lastLog = t0;
  let judging: Promise<void> | null = null;
  const judge = async (batch: Uint8Array[], obs: unknown[], indices: number[]) => {
    if (!oracle || batch.length === 0) return;
    const verdicts = await oracle.judge(batch, obs);
    compared += batch.length;
    verdicts.forEach((v, i) => {
      if (v !== null) record("mismatch", v, indices[i], batch[i]);
    });
  };
  try {
    let index = 0;
    while (index < o.runs) {
      if ((performance.now() - t0) / 1000 > o.seconds) {
        outOfTime = true;
        break;
      }
      const batch: Uint8Array[] = [];
      const batchIndex: number[] = [];
      const n = Math.min(o.batch, o.runs - index);
      for (let i = 0; i < n; i++, index++) {
        const input = target.generate(rng, corpus);
        if (input.length > target.maxInputBytes) {
          refused++;
          continue;
        }
        batch.push(input);
        batchIndex.push(index);
      }
      const results = await runner.run(batch);
      if (judging) await judging;
      const okInputs: Uint8Array[] = [], okObs: unknown[] = [], okIdx: number[] = [];
      results.forEach((r: RunResult, i) => {
        inputs++;
        if (r.ok) {
          okInputs.push(batch[i]);
          okObs.push(r.obs);
          okIdx.push(batchIndex[i]);
          stats?.add(r.obs);
          if (r.ms > o.inputMs) {
            record(
              "hang",
              `took ${r.ms.toFixed(0)} ms (bound ${o.inputMs} ms)`,
              batchIndex[i],
              batch[i],
            );
          }
        } else record(r.kind, r.detail, batchIndex[i], batch[i]);
      });
      judging = judge(okInputs, okObs, okIdx);
      const rssMb = Deno.memoryUsage().rss / 2 ** 20;
      if (rssMb > o.maxRssMb) {
        record(
          "memory",
          `process RSS ${rssMb.toFixed(0)} MiB (bound ${o.maxRssMb} MiB)`,
          index - 1,
          batch[batch.length - 1] ?? new Uint8Array(0),
        );
        break;
      }
      const now = performance.now();
      if (now - lastLog > 10_000) {
        lastLog = now;
        const rate = inputs / ((now - t0) / 1000);
        o.log(
          `fuzz ${target.name}: ${inputs}/${o.runs} inputs, ${findings} findings, ${
            rate.toFixed(0)
          }/s`,
        );
      }
    }
    if (judging) await judging;
    const list = [...groups.values()];
    for (const g of list.slice(0, o.maxReproducers)) {
      await minimizeGroup(g, target, runner, oracle, o);
      if (o.outDir !== null) g.file = await writeReproducer(g, target.name, o);
    }
    return {
      target: target.name,
      inputs,
      refused,
      findings,
      groups: list,
      oracle: oracleInfo,
      compared,
      seconds: (performance.now() - t0) / 1000,
      outOfTime,
      summary: stats ? stats.toString() : null,
      children: runner.started,
    };
  } finally {
    runner.close();
    await oracle?.close();
  }
}

async function minimizeGroup(
  g: FindingGroup,
  target: FuzzTarget,
  runner: ChildRunner,
  oracle: FuzzOracle<unknown> | null,
  o: FuzzOptions,
): Promise<void> {
  const still = async (candidate: Uint8Array): Promise<boolean> => {
    if (candidate.length > target.maxInputBytes) return false;
    const [r] = await runner.run([candidate]);
    if (g.kind === "mismatch") {
      if (!r.ok || !oracle) return false;
      const [v] = await oracle.judge([candidate], [r.obs]);
      return v !== null && signatureOf("mismatch", v) === g.signature;
    }
    if (r.ok) return g.kind === "hang" && r.ms > o.inputMs;
    return signatureOf(r.kind, r.detail) === g.signature;
  };
  // A hang costs the time bound per test: fewer tests.
  const budget = g.kind === "hang" || g.kind === "memory" ? o.minimizeSlowTests : o.minimizeTests;
  if (!(await still(g.input))) return; // not reproducible alone (flaky or state-dependent)
  g.minimized = (await minimize(g.input, still, { maxTests: budget })).input;
}

async function writeReproducer(g: FindingGroup, name: string, o: FuzzOptions): Promise<string> {
  const dir = `${o.outDir}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  const bytes = g.minimized ?? g.input;
  const base = `${dir}/${g.kind}-${hex8(bytes)}`;
  await Deno.writeFile(`${base}.bin`, bytes);
  const lines = [
    `target ${name}, seed ${o.seed}, first at input ${g.firstIndex}, ${g.count} inputs`,
    `signature ${g.signature}`,
    `input ${g.input.length} bytes, minimized ${
      g.minimized ? `${g.minimized.length} bytes` : "no (did not reproduce alone)"
    }`,
    "",
    g.detail,
    "",
  ];
  await Deno.writeTextFile(`${base}.txt`, lines.join("\n"));
  return `${base}.bin`;
}
