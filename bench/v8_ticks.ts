/**
 * V8's own CPU profile (`--prof`: a tick per millisecond of the isolate's thread, with its
 * JavaScript stack and VM state) by part of a run: the share of ticks whose stack has a frame
 * matching each `--inclusive` expression, the VM states (JavaScript, GC, compiler, …) and the
 * functions the ticks fell in (self).
 *
 *   deno run -A --v8-flags=--prof,--logfile=.out/prof/x.v8.log,--no-logfile-per-isolate \
 *     cli.ts demo --out .out/demo --workers 0
 *   sed -E "/^code-creation,JS/ s/,o?([*+^~]?)'?$/,\1/" .out/prof/x.v8.log > .out/prof/x.fixed.log
 *   node --prof-process --preprocess .out/prof/x.fixed.log > .out/prof/x.json
 *   deno run -A bench/v8_ticks.ts .out/prof/x.json --inclusive 'runPointUntimed,withTimings'
 *     [--within REGEX]  (only the ticks with a frame matching REGEX: one part's breakdown)
 *     [--top 20]
 *
 * The `sed` maps code states this Deno's V8 writes and Node 20's log reader does not know (OSR
 * `o*`/`o+`, and a trailing `'`) to the plain tier marks; without it most ticks are
 * "unaccounted". One isolate per log: a run with workers writes one log per worker, so the
 * profile is taken with `--workers 0` (everything on the main thread).
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  options: {
    inclusive: { type: "string", default: "" },
    top: { type: "string", default: "20" },
    within: { type: "string" },
  },
  allowPositionals: true,
});
if (positionals.length !== 1) throw new Error("usage: v8_ticks.ts FILE.json [--inclusive a,b]");
const raw = Deno.readTextFileSync(positionals[0]);
// `node --prof-process` may print a version warning before the JSON.
const data = JSON.parse(raw.slice(raw.indexOf("{"))) as {
  code: { name: string; type: string }[];
  ticks: { tm: number; vm: number; s: number[] }[];
};

/** V8's `StateTag`. */
const VM = ["JS", "GC", "PARSER", "BYTECODE_COMPILER", "COMPILER", "OTHER", "EXTERNAL", "ATOMICS"];
const names = data.code.map((c) => c.name.replace(/ file:\/\/\/\S*?([^/\s]+)$/, " ($1)"));
const parts = values.inclusive!.split(",").filter((x) => x !== "").map((x) => ({
  name: x,
  re: new RegExp(x),
  n: 0,
}));
const within = values.within === undefined ? null : new RegExp(values.within);
const vm = new Map<string, number>();
let total = 0;
const self = new Map<string, number>();
for (const t of data.ticks) {
  const frames: string[] = [];
  for (let i = 0; i < t.s.length; i += 2) if (t.s[i] >= 0) frames.push(names[t.s[i]]);
  if (within !== null && !frames.some((f) => within.test(f))) continue;
  total++;
  const state = VM[t.vm] ?? `state ${t.vm}`;
  vm.set(state, (vm.get(state) ?? 0) + 1);
  for (const p of parts) if (frames.some((f) => p.re.test(f))) p.n++;
  const leaf = t.vm === 1 ? "(GC)" : frames[0] ?? "(unknown)";
  self.set(leaf, (self.get(leaf) ?? 0) + 1);
}
const pct = (n: number) =>
  `${(100 * n / total).toFixed(1).padStart(5)} %  ${String(n).padStart(6)}`;
console.log(
  `${data.ticks.length} ticks` +
    (within === null ? "" : `; ${total} with a frame matching /${values.within}/ (100 % below)`),
);
console.log("VM state:");
for (const [k, n] of [...vm].sort((a, b) => b[1] - a[1])) console.log(`${pct(n)}  ${k}`);
if (parts.length > 0) {
  console.log("inclusive (a frame matching, anywhere on the stack):");
  for (const p of parts) console.log(`${pct(p.n)}  /${p.name}/`);
}
console.log("self:");
const rows = [...self].sort((a, b) => b[1] - a[1]);
for (const [k, n] of rows.slice(0, Number(values.top))) console.log(`${pct(n)}  ${k}`);
