/**
 * `deno task demo`'s wall time by phase, from the outside: runs the demo's command under a
 * pseudo-terminal (`script`), so that its progress line is drawn, and stamps each redraw with
 * this process's clock; `/usr/bin/time -v` around the command gives the process's CPU time
 * and peak resident set (Deno's workers are threads of that one process).
 *
 *   deno run -A bench/demo_phases.ts [--out .out/demo] [--stamps] [-- EXTRA DEMO ARGUMENTS]
 *
 * `--stamps` prints every redraw with its ms first.
 *
 * The phases (`lib/report/report.ts`, `lib/scenario/sweep.ts`): `runs` — Deno's start and the
 * 14 profiles' runs on the sweep's workers, from the start to the last `run i/n` (the first
 * redraw comes with the first run's end: `firstRunMs`); `replays` — the timed replays,
 * one point at a time in the main thread while no worker runs, to the last `timed i/n`;
 * `inspections` — the kexec inspections on fresh workers, to the last `inside one kexec`;
 * `matrix` — the ABI compatibility matrix; `writing` — the charts, the HTML and the files, to
 * the end of the process. The demo's output goes to `--out` (default
 * `.out/demo`, not `report/demo`); its summary table is not printed.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  options: { out: { type: "string", default: ".out/demo" }, stamps: { type: "boolean" } },
  allowPositionals: true,
});
const root = new URL("..", import.meta.url).pathname;
const demo = [
  Deno.execPath(),
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "cli.ts",
  "demo",
  "--out",
  values.out!,
  ...positionals,
];
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const inner = ["/usr/bin/time", "-v", ...demo].map(quote).join(" ");
const t0 = performance.now();
const child = new Deno.Command("script", {
  args: ["-qfec", inner, "/dev/null"],
  cwd: root,
  stdout: "piped",
  stderr: "inherit",
}).spawn();

/** Progress texts with the ms they were first drawn at. */
const stamps: { ms: number; text: string }[] = [];
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  const ms = performance.now() - t0;
  tail += decoder.decode(chunk, { stream: true });
  const parts = tail.split(/[\r\n]/);
  tail = parts.pop()!;
  for (const raw of parts) {
    // deno-lint-ignore no-control-regex
    const text = raw.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").trim();
    if (text !== "") stamps.push({ ms, text });
  }
}
if (tail.trim() !== "") stamps.push({ ms: performance.now() - t0, text: tail.trim() });
const status = await child.status;
const endMs = performance.now() - t0;

if (values.stamps) { for (const s of stamps) console.log(`${Math.round(s.ms)}\t${s.text}`); }
const last = (re: RegExp) => {
  for (let i = stamps.length - 1; i >= 0; i--) if (re.test(stamps[i].text)) return stamps[i].ms;
  return NaN;
};
const first = (re: RegExp) => stamps.find((s) => re.test(s.text))?.ms ?? NaN;
const firstRunMs = first(/ run \d+\/\d+$/);
const runsEnd = last(/ run \d+\/\d+$/);
const replaysEnd = last(/ timed \d+\/\d+$/);
const inspectEnd = last(/inside one kexec/);
const matrixEnd = last(/compatibility matrix$/);
const timeLine = (re: RegExp) => stamps.find((s) => re.test(s.text))?.text.split(": ").at(-1);
const phases = {
  firstRunMs,
  runsMs: runsEnd,
  replaysMs: replaysEnd - runsEnd,
  inspectionsMs: inspectEnd - replaysEnd,
  matrixMs: matrixEnd - inspectEnd,
  writingMs: endMs - matrixEnd,
  totalMs: endMs,
};
const rounded = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)]));
console.log(JSON.stringify({
  ...rounded,
  userS: Number(timeLine(/^User time/)),
  systemS: Number(timeLine(/^System time/)),
  maxRssMiB: Math.round(Number(timeLine(/^Maximum resident set size/)) / 1024),
  exit: status.code,
  load: Deno.loadavg(),
}));
if (!status.success) Deno.exit(1);
