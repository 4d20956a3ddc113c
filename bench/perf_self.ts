/**
 * A flat CPU profile of one part of a run, from `perf script` text: of the samples whose call
 * stack has a frame matching `--under` (a regular expression; default: every sample), the
 * share of each leaf function (the function the CPU was in: inlined callees count as their
 * caller, as V8's optimised code has them), with the sample counts. V8's JIT frames are named
 * when the process ran with `--v8-flags=--perf-basic-prof`.
 *
 *   perf record -F 4000 -g -o .out/prof/x.data -- npx -y deno@2.9.6 run -A \
 *     --v8-flags=--perf-basic-prof bench/preserve_layers.ts --workload radix --layers facade
 *   perf script -i .out/prof/x.data | deno run bench/perf_self.ts --under loopFacade [--top 15]
 *     [--comm REGEX]  (threads by name; default `^(deno|worker-|V8 )`: Deno's main thread, its
 *                      workers and V8's background threads — not npx's node)
 *     [--inclusive A,B]  (also the share of samples with a frame matching A, B, … anywhere)
 *
 * Names are shortened: `JS:*'add file:///…/lib/kho/trackers/radix.ts:210:10` prints as
 * `add (radix.ts)` with V8's tier mark kept (`*` optimised by TurboFan, `^` Sparkplug, `+`
 * Maglev, `~` interpreted). The positions V8 gives are of its transpiled source, not the
 * TypeScript line.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    under: { type: "string" },
    top: { type: "string", default: "15" },
    comm: { type: "string", default: "^(deno|worker-|V8 )" },
    inclusive: { type: "string" },
  },
});
const under = values.under === undefined ? null : new RegExp(values.under);
const comm = new RegExp(values.comm!);
/** `--inclusive a,b`: the share of the samples whose stack has a frame matching each. */
const inclusive = (values.inclusive ?? "").split(",").filter((x) => x !== "").map((x) => ({
  name: x,
  re: new RegExp(x),
  n: 0,
}));
const top = Number(values.top);

/** `JS:*'add file:///x/y/radix.ts:210:10` → `*add (radix.ts)`; other symbols as they are. */
function shortName(symbol: string): string {
  const sym = symbol.replace(/\+0x[0-9a-f]+$/, ""); // the offset inside the function
  const m = /^JS:([*^+~o]*)'?(\S*) (?:file:\/\/\/)?\S*?([^/\s]+?)(?::\d+:\d+)?$/.exec(sym);
  if (m === null) return sym;
  return `${m[1].replace("'", "")}${m[2] || "(anonymous)"} (${m[3]})`;
}

const text = await new Response(Deno.stdin.readable).text();
let total = 0, kept = 0;
const self = new Map<string, number>();
for (const block of text.split(/\n\s*\n/)) {
  const lines = block.split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0) continue;
  const head = lines[0];
  if (!comm.test(head.trimStart().replace(/\s+\d+(\/\d+)?\s+[\d.]+:.*$/, ""))) continue;
  total++;
  // Each frame line: "\t    7f… SYMBOL (DSO)".
  const frames = lines.slice(1).map((l) => {
    const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(l);
    return m === null ? l.trim() : m[1];
  });
  if (under !== null && !frames.some((f) => under.test(f))) continue;
  kept++;
  for (const x of inclusive) if (frames.some((f) => x.re.test(f))) x.n++;
  const leaf = shortName(frames[0] ?? "?");
  self.set(leaf, (self.get(leaf) ?? 0) + 1);
}
console.log(
  `samples of threads /${values.comm}/: ${total}; ` +
    (under === null ? "all of them" : `${kept} under /${values.under}/`),
);
const rows = [...self].sort((a, b) => b[1] - a[1]);
for (const [name, n] of rows.slice(0, top)) {
  console.log(`${(100 * n / kept).toFixed(1).padStart(5)} %  ${String(n).padStart(6)}  ${name}`);
}
const rest = rows.slice(top).reduce((s, [, n]) => s + n, 0);
if (rest > 0) {
  console.log(
    `${(100 * rest / kept).toFixed(1).padStart(5)} %  ${String(rest).padStart(6)}  (other)`,
  );
}
if (inclusive.length > 0) {
  console.log("inclusive (a frame matching, anywhere on the stack):");
  for (const x of inclusive) {
    console.log(
      `${(100 * x.n / kept).toFixed(1).padStart(5)} %  ${String(x.n).padStart(6)}  /${x.name}/`,
    );
  }
}
