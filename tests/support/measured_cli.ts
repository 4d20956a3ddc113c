/**
 * Runs the CLI (`cli.ts`'s `main`) with the arguments given and reports the process's peak
 * resident memory (`VmHWM` of /proc/self/status) on the last line of standard error, as
 * `peak-rss BYTES`; the exit code is the CLI's. For tests that bound what a command may take.
 *
 *   deno run -A tests/support/measured_cli.ts run big.kho --max-memory 256M
 *
 * @module
 */

import { main } from "../../cli.ts";

/** The process's peak resident set size in bytes (Linux). */
export function peakRssBytes(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) * 1024 : 0;
}

if (import.meta.main) {
  const code = await main(Deno.args);
  console.error(`peak-rss ${peakRssBytes()}`);
  Deno.exit(code);
}
