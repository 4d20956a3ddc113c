/**
 * `deno task fuzz --target NAME --runs N --seed S [options]`: runs a fuzz target (see
 * tools/fuzz/harness.ts) and ends with the line `N inputs, K findings`.
 *
 * Exit status: 0 without findings, 1 with findings, 2 for a bad command line (unknown or
 * unimplemented target, bad number), 3 when the harness itself fails.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_OPTIONS, type FuzzOptions, lastLine, runFuzz } from "./harness.ts";
import { TARGETS } from "./targets.ts";

const USAGE = `usage: deno task fuzz --target NAME [--runs N] [--seed S] [options]

targets: ${Object.keys(TARGETS).join(", ")}

options:
  --runs N          inputs to generate (default ${DEFAULT_OPTIONS.runs})
  --seed S          generator seed, a non-negative integer (default ${DEFAULT_OPTIONS.seed})
  --seconds T       wall-clock budget; the run stops between batches (default: none)
  --input-ms MS     time bound per input; past it the input is a hang (default ${DEFAULT_OPTIONS.inputMs})
  --max-heap-mb MB  bound of the worker's heap (default ${DEFAULT_OPTIONS.maxHeapMb})
  --max-rss-mb MB   bound of the process's resident memory (default ${DEFAULT_OPTIONS.maxRssMb})
  --batch N         inputs per batch (default ${DEFAULT_OPTIONS.batch})
  --out DIR         reproducers go to DIR/<target>/ (default ${DEFAULT_OPTIONS.outDir})
  --require-oracle  fail when the target's reference (e.g. python3-libfdt) is missing
`;

class UsageError extends Error {}

function num(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name}: expected a number ≥ ${min}, got '${v}'`);
  }
  return n;
}

function int(name: string, v: string | undefined, def: number, min: number): number {
  const n = num(name, v, def, min);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name}: expected an integer, got '${v}'`);
  return n;
}

/** Parses the command line into options (throws UsageError). */
function parse(args: string[]): FuzzOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        target: { type: "string" },
        runs: { type: "string" },
        seed: { type: "string" },
        seconds: { type: "string" },
        "input-ms": { type: "string" },
        "max-heap-mb": { type: "string" },
        "max-rss-mb": { type: "string" },
        batch: { type: "string" },
        out: { type: "string" },
        "require-oracle": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return "help";
  const target = v.target;
  if (target === undefined) throw new UsageError("--target is required");
  if (!(target in TARGETS)) {
    throw new UsageError(
      `target '${target}' is unknown; implemented: ${Object.keys(TARGETS).join(", ")}`,
    );
  }
  return {
    ...DEFAULT_OPTIONS,
    target,
    runs: int("runs", v.runs, DEFAULT_OPTIONS.runs, 1),
    seed: int("seed", v.seed, DEFAULT_OPTIONS.seed, 0),
    seconds: num("seconds", v.seconds, Infinity, 0),
    inputMs: int("input-ms", v["input-ms"], DEFAULT_OPTIONS.inputMs, 1),
    maxHeapMb: int("max-heap-mb", v["max-heap-mb"], DEFAULT_OPTIONS.maxHeapMb, 16),
    maxRssMb: int("max-rss-mb", v["max-rss-mb"], DEFAULT_OPTIONS.maxRssMb, 64),
    batch: int("batch", v.batch, DEFAULT_OPTIONS.batch, 1),
    outDir: v.out ?? DEFAULT_OPTIONS.outDir,
    requireOracle: v["require-oracle"] ?? false,
    log: (line) => console.error(line),
  };
}

/** Runs the command; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let o: FuzzOptions | "help";
  try {
    o = parse(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`fuzz: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (o === "help") {
    console.log(USAGE);
    return 0;
  }
  try {
    const r = await runFuzz(o);
    const out: string[] = [];
    out.push(
      `fuzz ${r.target}: seed ${o.seed}, ${r.inputs} inputs in ${r.seconds.toFixed(1)} s ` +
        `(${(r.inputs / r.seconds).toFixed(0)}/s)${r.outOfTime ? ", stopped by --seconds" : ""}`,
    );
    if (r.oracle && "name" in r.oracle) {
      out.push(`compared with ${r.oracle.name}: ${r.compared} inputs`);
    }
    if (r.oracle && "skipped" in r.oracle) out.push(`comparison skipped: ${r.oracle.skipped}`);
    if (r.refused) out.push(`refused (size > bound): ${r.refused}`);
    if (r.summary) out.push(r.summary);
    if (r.children > 1) out.push(`child processes restarted: ${r.children - 1}`);
    for (const g of r.groups) {
      out.push(`  ${g.count} × ${g.signature}` + (g.file ? ` → ${g.file}` : ""));
    }
    out.push(lastLine(r));
    console.log(out.join("\n"));
    return r.findings > 0 ? 1 : 0;
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}`);
    return 3;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
