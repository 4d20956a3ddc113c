/**
 * Runs the profile comparison (default: the 1 TiB hypervisor scenario for every available
 * profile) and prints the table; `--format json|csv` for rows. Also `sweep …` as first
 * argument runs a sweep. The same as `deno task kholab compare|sweep …`, timed.
 *
 *   deno run -A bench/compare.ts [--workers N] [--profiles all|a,b] [name=value …]
 *   deno run -A bench/compare.ts sweep hypervisor --param iommuEveryBytes --values 4K,64K,2M,1G
 */
import { main } from "../cli.ts";

const args = [...Deno.args];
const t0 = performance.now();
const code = await main(
  args[0] === "sweep" || args[0] === "compare" ? args : ["compare", ...args],
);
console.error(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
Deno.exit(code);
