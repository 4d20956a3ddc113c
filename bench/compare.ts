/**
 * Runs the profile comparison (default: the 1 TiB hypervisor scenario for every available
 * profile) and prints the table; `--format json|csv` for rows. Also `sweep …` as first
 * argument runs a sweep.
 *
 *   deno run -A bench/compare.ts [--workers N] [--profiles all|a,b] [name=value …]
 *   deno run -A bench/compare.ts sweep hypervisor --param iommuEveryBytes --values 4K,64K,2M,1G
 */
import { compareCommand, sweepCommand } from "../lib/scenario/compare.ts";
import { wallClock } from "../lib/rng.ts";

const args = [...Deno.args];
const t0 = performance.now();
const text = args[0] === "sweep"
  ? await sweepCommand(args.slice(1), wallClock)
  : await compareCommand(args[0] === "compare" ? args.slice(1) : args, wallClock);
console.log(text);
console.error(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
