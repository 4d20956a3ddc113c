/**
 * Engine / C yardstick ratios for the tracker workloads of ../shared/bench-ref: builds
 * kho_ref.c with `cc -O2`, then for each of `--runs` rounds runs every workload once on each
 * side (kho_ref, then `cli.ts bench` in a fresh Deno process), checks that the checksums
 * agree, and prints the median (min–max) of the paired ratios next to the targets of issue 19
 * (every ratio ≤ 2×) with the C side's median ns, and the successor's boot (ms and ns per
 * preserved block).
 *
 *   deno run -A tools/bench_ratios.ts [--runs 5] [--workloads radix,xarray512,xarray4k,hyper]
 *        [--ref PATH] [--max-memory 8G] [--warmup 3] [--json] [--markdown]
 *
 * `--warmup N`: the engine's untimed runs of the workload before the timed one (`kholab bench
 * --warmup`, default 3). V8 has not settled after three: more warm-up gives lower and steadier
 * engine figures (docs/speed-profile.md); the C side needs none.
 *
 * Ratios: preserve and walk are ns per item (engine / C); for xarray the target is on
 * serialize + walk together (serialize_ns_total + walk_ns_per_item × items). The engine's
 * successor boot (memblock reserve + struct page stamp + freeing the rest) has no C
 * counterpart and is reported on its own (issue 19: ≤ 200 ns per block at 1 Mi blocks;
 * `tools/boot_curve.ts` prints it from 64 Ki to 4 Mi blocks).
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One workload as kho_ref takes it: `kho_ref WORKLOAD PAGES SPAN [EXTRA]`. */
interface Spec {
  name: string;
  workload: "radix" | "xarray" | "hyper";
  pages: number;
  span: number;
  /** xarray: bitmap bytes; hyper: giant folios. */
  extra?: number;
}

const SPECS: Record<string, Spec> = {
  radix: { name: "radix 1 Mi pages in 16 GiB", workload: "radix", pages: 2 ** 20, span: 2 ** 22 },
  xarray512: {
    name: "xarray 16 GiB dense, 512 B bitmaps (6.16)",
    workload: "xarray",
    pages: 2 ** 22,
    span: 2 ** 22,
    extra: 512,
  },
  xarray4k: {
    name: "xarray 16 GiB dense, 4 KiB bitmaps (6.19)",
    workload: "xarray",
    pages: 2 ** 22,
    span: 2 ** 22,
    extra: 4096,
  },
  hyper: {
    name: "hyper: radix 1 Mi pages + 1008 × 1 GiB",
    workload: "hyper",
    pages: 2 ** 20,
    span: 2 ** 22,
    extra: 1008,
  },
};

function refArgs(s: Spec): string[] {
  return [s.workload, String(s.pages), String(s.span), ...(s.extra ? [String(s.extra)] : [])];
}

function engineArgs(s: Spec): string[] {
  const extra = s.workload === "xarray"
    ? ["--bitmap-bytes", String(s.extra)]
    : s.workload === "hyper"
    ? ["--giant-folios", String(s.extra)]
    : [];
  return ["--workload", s.workload, "--pages", String(s.pages), "--span-pages", String(s.span)]
    .concat(extra, ["--max-memory", maxMemory, "--warmup", String(warmup)]);
}

function items(s: Spec): number {
  return s.pages + (s.workload === "hyper" ? s.extra! : 0);
}

/** Target of issue 19 for every ratio (engine / C, medians). */
const TARGET = 2;

type Json = Record<string, number | string>;

const root = new URL("..", import.meta.url).pathname;

async function run(cmd: string, args: string[]): Promise<Json> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", cwd: root })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function buildRef(path: string | undefined): Promise<string> {
  if (path) return path;
  const src = new URL("../../shared/bench-ref/kho_ref.c", import.meta.url).pathname;
  await Deno.mkdir(`${root}.out`, { recursive: true });
  const bin = `${root}.out/kho_ref`;
  const cc = await new Deno.Command("cc", { args: ["-O2", "-o", bin, src] }).output();
  if (!cc.success) throw new Error(`cc: ${new TextDecoder().decode(cc.stderr)}`);
  return bin;
}

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    workloads: { type: "string", default: "radix,xarray512,xarray4k,hyper" },
    ref: { type: "string" },
    // The engine's host-memory budget (`kholab bench --max-memory`): its default, half of
    // V8's heap limit, refuses the 16 GiB dense xarray workloads by their estimate.
    "max-memory": { type: "string", default: "8G" },
    warmup: { type: "string", default: "3" },
    json: { type: "boolean" },
    markdown: { type: "boolean" },
  },
});
const runs = Number(values.runs);
const maxMemory = values["max-memory"]!;
const warmup = Number(values.warmup);
if (!(Number.isInteger(warmup) && warmup >= 0)) throw new Error(`--warmup: 0, 1, 2, …`);
const names = values.workloads!.split(",");
for (const n of names) if (!SPECS[n]) throw new Error(`unknown workload ${n}`);
const ref = await buildRef(values.ref);
const deno = Deno.execPath();

interface Pair {
  preserve: number;
  walk: number;
  serializeWalk?: number;
  bootMs: number;
  /** The C side's figures of the round: preserve and walk ns per item, serialize + walk ns. */
  cPreserveNs: number;
  cWalkNs: number;
  cSerializeWalkNs?: number;
}
const pairs: Record<string, Pair[]> = Object.fromEntries(names.map((n) => [n, []]));
const last: Record<string, { ref: Json; eng: Json }> = {};
for (let r = 0; r < runs; r++) {
  for (const n of names) {
    const s = SPECS[n];
    const c = await run(ref, refArgs(s));
    const e = await run(deno, ["run", "-A", "cli.ts", "bench", ...engineArgs(s)]);
    if (c.checksum !== e.checksum || c.walked !== e.walked) {
      throw new Error(`${n}: checksum ${e.checksum} vs kho_ref ${c.checksum}`);
    }
    const p: Pair = {
      preserve: +e.preserve_ns_per_item / +c.preserve_ns_per_item,
      walk: +e.walk_ns_per_item / +c.walk_ns_per_item,
      bootMs: +e.successor_boot_ms,
      cPreserveNs: +c.preserve_ns_per_item,
      cWalkNs: +c.walk_ns_per_item,
    };
    if (s.workload === "xarray") {
      const total = (j: Json) => +j.serialize_ns_total + +j.walk_ns_per_item * items(s);
      p.serializeWalk = total(e) / total(c);
      p.cSerializeWalkNs = total(c);
    }
    pairs[n].push(p);
    last[n] = { ref: c, eng: e };
    if (!values.json) {
      console.error(
        `run ${r + 1}/${runs} ${n}: preserve ${p.preserve.toFixed(2)}× walk ${p.walk.toFixed(2)}×` +
          (p.serializeWalk ? ` serialize+walk ${p.serializeWalk.toFixed(2)}×` : ""),
      );
    }
  }
}

/** Median, min and max of a figure over the rounds. */
function spread(xs: number[], digits: number): { median: number; min: number; max: number } {
  const r = (x: number) => +x.toFixed(digits);
  return { median: r(median(xs)), min: r(Math.min(...xs)), max: r(Math.max(...xs)) };
}

const rows = names.map((n) => {
  const ps = pairs[n];
  const s = SPECS[n];
  const bootMs = median(ps.map((p) => p.bootMs));
  return {
    workload: n,
    description: s.name,
    runs: ps.length,
    preserveRatio: spread(ps.map((p) => p.preserve), 2),
    walkRatio: spread(ps.map((p) => p.walk), 2),
    cPreserveNsPerItem: +median(ps.map((p) => p.cPreserveNs)).toFixed(2),
    cWalkNsPerItem: +median(ps.map((p) => p.cWalkNs)).toFixed(2),
    ...(s.workload === "xarray"
      ? {
        serializeWalkRatio: spread(ps.map((p) => p.serializeWalk!), 2),
        cSerializeWalkMs: +(median(ps.map((p) => p.cSerializeWalkNs!)) / 1e6).toFixed(2),
      }
      : {}),
    successorBootMs: spread(ps.map((p) => p.bootMs), 0),
    successorBootNsPerBlock: Math.round(bootMs * 1e6 / items(s)),
    checksum: last[n].ref.checksum,
  };
});

if (values.json) console.log(JSON.stringify(rows, null, 2));
else {
  const cell = (x: { median: number; min: number; max: number }, c: string) =>
    `${x.median}× (${x.min}–${x.max}) ${x.median <= TARGET ? "✓" : "✗"}; C ${c}`;
  const lines = [
    "| workload | preserve (target ≤ 2×) | walk (target ≤ 2×) | serialize + walk (target ≤ 2×) " +
    "| successor boot (reserve + stamp + free) |",
    "|---|---|---|---|---|",
    ...rows.map((r) => {
      const sw = "serializeWalkRatio" in r
        ? cell(r.serializeWalkRatio!, `${r.cSerializeWalkMs} ms`)
        : "—";
      const boot = r.successorBootMs;
      return `| ${r.description} | ${cell(r.preserveRatio, `${r.cPreserveNsPerItem} ns`)} | ` +
        `${cell(r.walkRatio, `${r.cWalkNsPerItem} ns`)} | ${sw} | ${boot.median} ms ` +
        `(${boot.min}–${boot.max}), ${r.successorBootNsPerBlock} ns/block |`;
    }),
  ];
  console.log(lines.join("\n"));
  if (!values.markdown) {
    console.log(
      `\nmedians (min–max) of ${runs} paired runs, the C side's median ns per item; checksums ` +
        "equal kho_ref's in every run",
    );
  }
}
