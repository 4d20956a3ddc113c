/**
 * The `cli` fuzz target: the command line (`cli.ts`'s `main`, in process) with mutated
 * arguments and input files. An input is an argument list and a file's bytes; arguments
 * `@FILE` (that file, written fresh into a scratch folder), `@DIR` (a folder), `@OUT` (a
 * folder to write to), `@ZERO` (`/dev/zero`) and `@NONE` (a path that does not exist) are
 * replaced before the run.
 *
 * A finding is an exception escaping `main`, an exit code other than 0, 1 and 2 (70 is an
 * internal error), a stack trace in what it printed, or a hang (past the harness's time
 * bound).
 *
 * To keep each input short: `repl` (which would read the harness's own pipe) runs as
 * `check`, `matrix` (seconds for every pair of profiles) only with `--help` (and `report`
 * with `--no-matrix`); commands that
 * take `--max-memory` get 192M and `run` gets `--max-steps 2000` unless the input sets them.
 * The corpus is the invocations of the command line's tests, with the examples' scripts, FDT
 * blobs of the FDT tests' corpus and a host's pfn list as files.
 *
 * @module
 */

import { type CliOutput, main } from "../../cli.ts";
import type { Rng } from "../../lib/rng.ts";
import { fdtCorpus } from "../../tests/kho/fdt/corpus.ts";
import type { FuzzStats, FuzzTarget } from "./target.ts";

/** What one invocation did. */
export interface CliObservation {
  /** The command (first argument). */
  command: string;
  /** Its exit code. */
  code: number;
}

/** Largest input: 64 KiB (arguments and the file). */
export const CLI_MAX_INPUT_BYTES = 64 * 1024;

const ROOT = new URL("../../", import.meta.url);

/** The scratch folder the target writes `@FILE` and `@OUT` into (the child may write there). */
export const CLI_SCRATCH = new URL(".out/fuzz/cli-scratch/", ROOT).pathname;

const SMALL = ["ramBytes=1G", "nodes=1", "pages=8", "--profiles", "kho-v4", "--workers", "0"];

/** Invocations of the command line's tests (argument lists). */
const INVOCATIONS: string[][] = [
  ["run", "@FILE"],
  ["check", "@FILE"],
  ["run", "@FILE", "--json", "--seed", "7", "--set", "p=kho-v4"],
  ["run", "@FILE", "--max-steps", "100"],
  ["fdt", "check", "@FILE"],
  ["fdt", "dump", "@FILE"],
  ["profiles"],
  ["help", "run"],
  ["matrix", "--help"],
  ["compare", "uniform", ...SMALL],
  ["compare", "uniform", ...SMALL, "--format", "json"],
  ["sweep", "uniform", "--param", "pages", "--values", "1,2", ...SMALL.slice(2)],
  ["bench", "--workload", "radix", "--pages", "1024", "--span-pages", "4096", "--warmup", "0"],
  ["bench", "--workload", "xarray", "--pages", "512", "--span-pages", "4096", "--warmup", "0"],
  ["import", "@FILE"],
  ["import", "@FILE", "--json", "--profile", "kho-v1-6.19"],
  ["export", "--handover", "@OUT", "uniform", "ramBytes=1G", "pages=8"],
  ["inspect", "@DIR"],
  ["report", "--out", "@OUT", "--scenario", "uniform", ...SMALL, "--no-matrix"],
  ["demo", "--out", "@OUT"],
];

const FLAGS = [
  "--json",
  "--seed",
  "--set",
  "--max-steps",
  "--max-memory",
  "--workers",
  "--force-workers",
  "--profiles",
  "--format",
  "--param",
  "--values",
  "--scenario",
  "--out",
  "--no-matrix",
  "--workload",
  "--pages",
  "--span-pages",
  "--giant-folios",
  "--bitmap-bytes",
  "--warmup",
  "--profile",
  "--ram",
  "--nodes",
  "--handover",
  "--strict",
  "--help",
  "-h",
  "--",
  "--frob",
];

const VALUES = [
  "0",
  "1",
  "-1",
  "2",
  "99",
  "1.5",
  "abc",
  "0x10",
  "1e9",
  "99999999999999999999",
  "4K",
  "1G",
  "64T",
  "1P",
  "16M",
  "1Mi",
  "64Mi",
  "all",
  "kho-v4",
  "kho-v1-6.16",
  "kho-v9",
  "uniform",
  "dense",
  "hypervisor",
  "ladder",
  "test_kho",
  "clustered",
  "nosuch",
  "csv",
  "table",
  "xml",
  "radix",
  "hyper",
  "pages",
  "1,2,x",
  "ramBytes=4GB5",
  "nodes=1.5",
  "pages=64Mi",
  "ramBytes=64T",
  "hostBytes=32T",
  "guestBytes=3",
  "@FILE",
  "@DIR",
  "@OUT",
  "@ZERO",
  "@NONE",
  "",
  "=",
  "x=",
  "\u202e",
  "\x1b[2J",
];

const COMMANDS = [
  "run",
  "check",
  "repl",
  "demo",
  "report",
  "bench",
  "compare",
  "sweep",
  "matrix",
  "profiles",
  "fdt",
  "import",
  "export",
  "inspect",
  "help",
  "frob",
];

let files: Uint8Array[] | null = null;

/** Files of the corpus: the example scripts, FDT blobs, a pfn list. */
function corpusFiles(): Uint8Array[] {
  if (files !== null) return files;
  const enc = new TextEncoder();
  const dir = new URL("examples/", ROOT);
  const scripts = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".kho"))
    .sort().map((n) => Deno.readFileSync(new URL(n, dir)));
  files = [
    ...scripts,
    ...fdtCorpus().slice(0, 8),
    enc.encode("# host\n0x40000 18 0\n0x80000 9 0\n0x80400 10 0\n"),
    enc.encode("machine ram=1G\nb = pages count=4\npreserve b\nkexec\nrestore b\n"),
  ];
  return files;
}

/** Encodes an invocation: the arguments, NUL-separated, then NUL NUL and the file. */
export function encodeInvocation(argv: readonly string[], file: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(argv.join("\0") + "\0\0");
  const out = new Uint8Array(head.length + file.length);
  out.set(head);
  out.set(file, head.length);
  return out;
}

/** Decodes {@link encodeInvocation}. */
export function decodeInvocation(input: Uint8Array): { argv: string[]; file: Uint8Array } {
  let cut = -1;
  for (let i = 0; i + 1 < input.length; i++) {
    if (input[i] === 0 && input[i + 1] === 0) {
      cut = i;
      break;
    }
  }
  if (cut < 0) return { argv: [new TextDecoder().decode(input)], file: new Uint8Array(0) };
  const argv = cut === 0 ? [] : new TextDecoder().decode(input.subarray(0, cut)).split("\0");
  return { argv, file: input.slice(cut + 2) };
}

function corpus(): Uint8Array[] {
  const fs = corpusFiles();
  return INVOCATIONS.map((argv, i) => {
    const kind = argv[0];
    const file = kind === "fdt"
      ? fs[fs.length - 3 - (i % 8)]
      : kind === "import"
      ? fs[fs.length - 2]
      : fs[i % (fs.length - 10)];
    return encodeInvocation(argv, file);
  });
}

function mutateArgs(rng: Rng, argv: string[]): string[] {
  const a = [...argv];
  const value = () => rng.chance(0.5) ? rng.pick(VALUES) : rng.pick(FLAGS);
  switch (rng.int(7)) {
    case 0:
      if (a.length) a.splice(rng.int(a.length), 1);
      break;
    case 1:
      if (a.length) a.splice(rng.int(a.length), 0, a[rng.int(a.length)]);
      break;
    case 2:
      if (a.length > 1) {
        const i = rng.int(a.length), j = rng.int(a.length);
        [a[i], a[j]] = [a[j], a[i]];
      }
      break;
    case 3:
      if (a.length > 1) a[1 + rng.int(a.length - 1)] = value();
      else a.push(value());
      break;
    case 4:
      a.splice(rng.int(a.length + 1), 0, value(), ...(rng.chance(0.5) ? [rng.pick(VALUES)] : []));
      break;
    case 5:
      a[0] = rng.pick(COMMANDS);
      break;
    default: {
      const i = rng.int(a.length + 1);
      const flag = rng.pick(FLAGS);
      a.splice(i, 0, rng.chance(0.5) ? `${flag}=${rng.pick(VALUES)}` : flag);
    }
  }
  return a;
}

function mutateFile(rng: Rng, b: Uint8Array): Uint8Array {
  const out = b.slice();
  switch (rng.int(4)) {
    case 0:
      for (let k = 0; k < 1 + rng.int(4) && out.length; k++) {
        out[rng.int(out.length)] ^= 1 << rng.int(8);
      }
      return out;
    case 1:
      return out.subarray(0, rng.int(out.length + 1));
    case 2:
      return rng.pick(corpusFiles());
    default:
      return rng.fillBytes(new Uint8Array(rng.int(256)));
  }
}

function generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
  let { argv, file } = decodeInvocation(rng.pick(corpus));
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.75)) argv = mutateArgs(rng, argv);
    else file = mutateFile(rng, file);
  }
  return encodeInvocation(argv, file);
}

/** Takes `--max-memory`: the commands whose budget the target sets when the input does not. */
const BUDGETED = new Set(["run", "compare", "sweep", "report", "demo", "bench", "import"]);

/** The arguments to run: placeholders replaced, the slow commands kept short. */
function prepare(argv: readonly string[], file: Uint8Array, n: number): string[] {
  const dir = `${CLI_SCRATCH}${n % 4}`;
  Deno.mkdirSync(`${dir}/dir`, { recursive: true });
  const path = `${dir}/input`;
  Deno.writeFileSync(path, file);
  const places: Record<string, string> = {
    "@FILE": path,
    "@DIR": `${dir}/dir`,
    "@OUT": `${dir}/out`,
    "@ZERO": "/dev/zero",
    "@NONE": `${dir}/none/such`,
  };
  const a = argv.map((x) => places[x] ?? x);
  if (a[0] === "repl") a[0] = "check";
  if (a[0] === "matrix" && !a.includes("--help")) a.push("--help");
  if (BUDGETED.has(a[0]) && !a.some((x) => x.startsWith("--max-memory"))) {
    a.push("--max-memory", "192M");
  }
  if (a[0] === "run" && !a.some((x) => x.startsWith("--max-steps"))) a.push("--max-steps", "2000");
  if (a[0] === "report" && !a.includes("--no-matrix")) a.push("--no-matrix");
  return a;
}

/** A stack trace in printed text: a line `    at name (file:line:col)`. */
const STACK = /\n\s+at [^\n]*:\d+:\d+\)?/;

let count = 0;

async function execute(input: Uint8Array): Promise<CliObservation> {
  const { argv, file } = decodeInvocation(input);
  const args = prepare(argv, file, count++);
  const printed: string[] = [];
  const io: CliOutput = { log: (t) => void printed.push(t), error: (t) => void printed.push(t) };
  const code = await main(args, io);
  const text = printed.join("\n");
  if (code !== 0 && code !== 1 && code !== 2) {
    throw new Error(`exit ${code}: ${text.split("\n").slice(-3).join(" | ")}`);
  }
  if (STACK.test("\n" + text)) {
    throw new Error(`a stack trace in the output: ${text.slice(0, 300)}`);
  }
  return { command: args[0] ?? "", code };
}

function stats(): FuzzStats<CliObservation> {
  const seen = new Map<string, number>();
  return {
    add(o) {
      const k = `${o.command}:${o.code}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    },
    toString: () => `exits: ${[...seen].sort().map(([k, n]) => `${k} ${n}`).join(", ")}`,
  };
}

/** The cli target. */
export const target: FuzzTarget<CliObservation> = {
  name: "cli",
  description: "cli.ts in process with mutated arguments and input files",
  maxInputBytes: CLI_MAX_INPUT_BYTES,
  childFlags: ["--allow-read", "--allow-env", "--allow-sys", `--allow-write=${CLI_SCRATCH}`],
  corpus,
  generate,
  execute,
  stats,
};
