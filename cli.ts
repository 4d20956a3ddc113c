/**
 * kholab command line: `deno task kholab <command> [options]`.
 *
 * Every command's arguments are parsed here, with `node:util`'s `parseArgs` in strict mode
 * (unknown options are errors), and every usage text lives here; `lib/` takes typed options.
 * Bad input — an unknown option, a malformed value, a missing or unreadable file, a
 * directory, a device — prints one line naming the command and exits 2, without a stack
 * trace. Exit codes: 0 done, 1 a failed check (an `expect`, a bad blob, a scenario point that
 * failed), 2 bad input, 70 an internal error (a failure of kholab itself: one line, the stack
 * with `KHOLAB_DEBUG=1`). Everything printed has its control characters escaped (a binary
 * file given as a script cannot drive the terminal). The wall clock is handed to `lib/` here.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkFullVerdict } from "./lib/kho/fdt/check.ts";
import { toDts } from "./lib/kho/fdt/dts.ts";
import { FdtError, KhoError } from "./lib/errors.ts";
import { formatSize, parseCount, parseSize } from "./lib/units.ts";
import { wallClock } from "./lib/rng.ts";
import {
  abiMatrix,
  abiMatrixText,
  availableProfiles,
  profileDetails,
  profileLine,
} from "./lib/scenario/abi_matrix.ts";
import { CURRENT_PROFILE, getProfile, type ProfileName, profileNames } from "./lib/kho/profiles.ts";
import { exportScenarioHandover, writeHandoverExport } from "./lib/scenario/handover_export.ts";
import {
  inspectHandover,
  inspectionText,
  readHandoverFolder,
} from "./lib/scenario/handover_inspect.ts";
import { numberLiteralValue } from "./lib/dsl/parser.ts";
import { checkScript, runScript } from "./lib/dsl/run.ts";
import { CommandError, escapeControl } from "./lib/dsl/errors.ts";
import { importPfnList, importText } from "./lib/dsl/import.ts";
import { hostFsErrno, InputFileError, readInputFile } from "./lib/scenario/input_file.ts";
import { readScriptFile } from "./lib/dsl/source_file.ts";
import { repl } from "./lib/dsl/repl.ts";
import { runWorkload, workloadMemory } from "./lib/metrics/kho_ref_workload.ts";
import { defaultMemoryBudget, HostMemoryError, MemoryBudget } from "./lib/machine/host_memory.ts";
import type { MetricsRow } from "./lib/metrics/metrics.ts";
import { demoReport, writeReport } from "./lib/report/report.ts";
import { writeScriptReport } from "./lib/report/script_report.ts";
import { compareProfiles, formatTable } from "./lib/scenario/compare.ts";
import { rowsToCsv, rowsToJson } from "./lib/scenario/export.ts";
import { LADDER_HOST_BYTES, type ParamValue } from "./lib/scenario/scenarios.ts";
import { defaultWorkers, runSweep, type SweepOptions } from "./lib/scenario/sweep.ts";
import {
  mergeShardFiles,
  parseShard,
  runShard,
  ShardError,
  shardText,
} from "./lib/scenario/shard.ts";
import { codeRevision, sourceDigest } from "./lib/report/provenance.ts";
import { conformanceTable, runConformance } from "./lib/design/conformance.ts";
import { DesignError, loadDesign } from "./lib/design/load.ts";
import { BUILTIN_TRACKER_FORMATS, trackerFormat } from "./lib/kho/trackers/registry.ts";
import { loadScriptDesigns } from "./lib/dsl/designs.ts";
import { DEFAULT_REPEAT } from "./lib/scenario/run.ts";
import { DEFAULT_WARMUP } from "./lib/metrics/replay.ts";

/** `512G,1T,…`: the ladder's host sizes as the command line writes them. */
const LADDER_TEXT = LADDER_HOST_BYTES.map((b) =>
  b % 2 ** 40 === 0 ? `${b / 2 ** 40}T` : `${b / 2 ** 30}G`
)
  .join(",");

const REPORT_USAGE = "report [--scenario NAME] --out DIR [--seed N] [--profiles all|a,b] " +
  "[--workers N [--force-workers]] [--repeat N] [--param NAME --values v1,v2,…] [--no-matrix] " +
  "[--design FILE.ts]… [name=value …]";
const REPORT_SCRIPT_USAGE = "report FILE.kho --out DIR [--seed N] [--set NAME=VALUE]… " +
  "[--max-steps N] [--design FILE.ts]…";
const COMPARE_USAGE = "compare [SCENARIO] [--profiles all|a,b] [--workers N [--force-workers]] " +
  "[--repeat N] [--seed N] [--format table|json|csv | --shard K/N --out FILE.jsonl] " +
  "[--design FILE.ts]… [name=value …]";
const COMPARE_MERGE_USAGE = "compare merge FILE.jsonl… [--format table|json|csv] [--out FILE]";
const IMPORT_USAGE = "import FILE [--profile NAME] [--ram SIZE] [--nodes N] [--seed N] [--json] " +
  "[--design FILE.ts]…";
const EXPORT_USAGE = "export --handover DIR [SCENARIO] [--profile NAME] [--seed N] " +
  "[--set name=value]… [--design FILE.ts]… [name=value …]";
const INSPECT_USAGE = "inspect DIR [--profile NAME] [--strict] [--json] [--design FILE.ts]…";
const SWEEP_USAGE = "sweep SCENARIO [--param NAME --values v1,v2,…] [--profiles all|a,b] " +
  "[--workers N [--force-workers]] [--repeat N] [--seed N] " +
  "[--format csv|json|table | --shard K/N --out FILE.jsonl] [--design FILE.ts]… [name=value …]";
const SWEEP_MERGE_USAGE = "sweep merge FILE.jsonl… [--format csv|json|table] [--out FILE]";
const CONFORMANCE_USAGE = "conformance [FILE.ts …] [--kind KIND]… [--seed N] [--json]";

/** What --design says in every command's help. */
const DESIGN_HELP =
  `--design FILE.ts (repeatable) first imports a design module: a TypeScript file that
calls defineTracker / defineProfile from kholab's mod.ts (examples/designs/); its profiles are
then named like the built-in ones.`;

/** What `--repeat` means, for the help texts. */
const REPEAT_HELP =
  `--repeat N: timed samples of each wall-clock region (default ${DEFAULT_REPEAT}),
taken after up to ${DEFAULT_WARMUP} untimed warm-up runs, one sweep point at a time once no
point runs (docs/metrics.md); rows carry NAME (the median), NAME.n, .median, .min and .max.`;

/** Largest blob `fdt dump|check` reads (kholab's FDTs are pages; libfdt's limit is 2 GiB). */
const FDT_MAX_BYTES = 64 * 1024 * 1024;

/** What --workers means, for the help texts. */
const WORKERS_HELP =
  `--workers N runs on N Deno workers (default: the machine's cores, here ${defaultWorkers()}; 0 runs in this thread); more than the cores needs --force-workers.`;

/** What --shard and merge mean, for the help texts of sweep and compare. */
function shardHelp(cmd: "sweep" | "compare", merge: string): string {
  return `--shard K/N --out FILE.jsonl runs only shard K of N: the points whose row index is K-1
modulo N, each with the index, parameters and seed it has in the whole ${cmd}; each row is
appended to FILE.jsonl as one JSON line (the row, its index, the ${cmd}'s identity and the code
version: a digest of kholab's sources and --design files, and the Deno version) as soon as it is
complete, with progress on standard error. Running the shard again skips the points already in
the file (an interrupted line is cut off); a file of another sweep or shard is refused.
  deno task kholab ${merge}
joins the shard files into the rows of the one-process run (same rows, same order; --format as
the ${cmd} command, --out FILE instead of standard output), and exits 2 naming the points
when one is missing, given twice, or foreign (another scenario, parameters, seed or code).
docs/scale-out.md runs shards with GNU parallel over SSH, Slurm job arrays and Kubernetes
Indexed Jobs.`;
}

/** What --max-memory means, for the help texts. */
const MEMORY_HELP =
  `--max-memory SIZE bounds the host memory (JavaScript heap and buffers) the command may
take: what would not fit by its estimate is refused up front, naming the estimate (default:
half of V8's heap limit, here ${formatSize(defaultMemoryBudget())}; on workers, each point's
isolate; with the option, the points running together).`;

/** Help texts: the overview ("") and one per command. */
const HELP: Record<string, string> = {
  "": `kholab — a laboratory for the Linux kernel's Kexec HandOver (KHO)

Usage: deno task kholab <command> [options]

Commands:
  run FILE [--json] [--seed N] [--set NAME=VALUE]… [--max-steps N]
                       run a .kho script (exit 1 when an expect fails, 2 on a script error)
  check FILE           check a .kho script without running it
  repl                 the interactive command language (also: deno task repl)
  demo                 the 1 TiB hypervisor scenario for every profile; writes report/demo/
  report --out DIR     a reproducible HTML report of a scenario (charts, tables, data)
  report FILE.kho --out DIR
                       the same report from a script's measure rows and chart statements
  bench --workload W   the bench-ref tracker workloads through the engine (JSON, as kho_ref)
  compare [SCENARIO] [OPTIONS]   a scenario (default: the 1 TiB hypervisor) for every profile
  sweep SCENARIO [OPTIONS]       sweep a scenario parameter across profiles on workers
                       (sweep and compare: --shard K/N --out FILE.jsonl runs one shard of it,
                       on any machine; 'merge FILE.jsonl…' joins the shards: docs/scale-out.md)
  matrix               kexec between every pair of ABI profiles and print the compatibility matrix
  profiles             list the KHO generations and proposals kholab implements
  conformance [FILE.ts]  run the tracker contract against a design's trackers (or kholab's)
  fdt dump FILE        print a flattened device tree blob as dts text
  fdt check FILE       check a blob as libfdt's fdt_check_full does
  import FILE          a real host's pfn list through preserve, kexec and the successor's walk
  export --handover DIR [SCENARIO]
                       a scenario's outgoing handover laid out like the kernel's debugfs
  inspect DIR          what a successor would find in an exported handover
  help [COMMAND]       this text, or a command's

Every command takes --help; compare, sweep, report, matrix, profiles, run, check, import,
export and inspect take --design FILE.ts (a module defining trackers and profiles, e.g.
examples/designs/*.ts); run, repl, compare, sweep, report, demo, bench and import take
--max-memory SIZE (the host memory they may take). Exit codes: 0 done, 1 a failed check, 2 bad input (a bad option or value, an unreadable
file), 70 an internal error of kholab (KHOLAB_DEBUG=1 prints its stack).`,
  demo:
    `Usage: deno task demo   (deno task kholab demo [--out DIR] [--workers N [--force-workers]] [--repeat N])

Runs the default 1 TiB hypervisor scenario (1008 GiB of guest memory in 8 hugetlbfs memfds of
1 GiB pages, preserved through LUO where the profile can — the HugeTLB RFC — and reported
unsupported elsewhere, 1 Mi preserved order-0 IOMMU pages in a 16 GiB pool, vmalloc and DMA
buffers) for every ABI profile, kexecs, restores and verifies, writes the HTML report with
data.json and CSVs to report/demo/, and prints the summary table. ${WORKERS_HELP}
${REPEAT_HELP}
${MEMORY_HELP}`,
  report: `Usage: deno task kholab ${REPORT_USAGE}
       deno task kholab ${REPORT_SCRIPT_USAGE}

Writes one self-contained HTML page (inline SVG charts, tables, the exact command, seed,
versions and code revision) plus data.json and CSVs to --out DIR.

Of a scenario (the first form): the scenario for every profile (or --profiles), a sweep with
--param and --values. Parameters over the scenario's defaults are name=value (or --set
name=value); the seed defaults to 1.
${REPEAT_HELP}
${WORKERS_HELP}

Of a script (the second form, a FILE ending in .kho): runs it as 'kholab run' does (--seed,
default 42, --set NAME=VALUE and --max-steps as there) and reports what it measured and drew:
its measure rows (a column per swept variable), the charts of its 'chart KIND …' statements
(metadata, walk, by-order, buddyinfo, sweep), the tables it showed, its expectations and
output, and the script itself (also script.kho, rows.csv, expects.csv). A script error is
printed as FILE:LINE:COL with a caret and nothing is written (exit 2); a failed expect is
reported on the page (exit 1). The scenario options (--scenario, --profiles, --workers,
--repeat, --param, --values, --no-matrix) do not apply to a script.
${MEMORY_HELP}
${DESIGN_HELP}`,
  run:
    `Usage: deno task kholab run FILE [--json] [--seed N] [--set NAME=VALUE]… [--max-steps N] [--design FILE.ts]…

Runs a kholab script. The whole script is checked first; every syntax error is reported as
FILE:LINE:COL with the source line and a caret (the first 100; then "… and K more"). Exit
code 0 when it ran and every expect held, 1 when an expect failed, 2 on a syntax or runtime
error (printed once, on standard error). --json prints one JSON document with the
measurements, expects and metrics. --set binds a variable before the script runs (a number
if it reads as one, else a string), e.g.
  deno task kholab run examples/named-objects.kho --set p=kho-v1-6.16
--max-steps N stops the run after N steps (statements and loop iterations; default
10,000,000). FILE must be a regular file of at most 4 MiB (so are included files).
${MEMORY_HELP}
In a script, 'help' lists commands; a script's 'design FILE.ts' statements are imported
before it runs. ${DESIGN_HELP}`,
  check: `Usage: deno task kholab check FILE [--design FILE.ts]…

Parses and checks a script (and its includes) without running it; prints every error. The
script's 'design FILE.ts' statements are imported first (their profiles are then known).`,
  repl: `Usage: deno task kholab repl   (or: deno task repl)

The kholab command language, interactive: Tab completes commands, options, object and
profile names; Up/Down browse the history (~/.kholab_history); blocks continue until their
braces close; 'help' and 'help COMMAND' explain. Piped input runs like a script. Ctrl-C
stops a running command (rolled back; the session stays) or drops the line being typed;
Ctrl-D on an empty line quits. --max-steps N and --max-memory SIZE as for run.`,
  bench: `Usage: deno task kholab bench --workload radix|xarray|hyper --pages N --span-pages S
                               [--giant-folios G] [--bitmap-bytes 512|4096] [--warmup N]

Performs ../shared/bench-ref's workload through the engine: pfn_i = (i * 0x9E3779B1) mod S
preserved with kho_preserve_pages (6.16: kho_preserve_phys), hyper adds G order-18 blocks
after the span; the handed-over tracker is walked with the successor's reader and the
checksum callback, then the successor boots. The whole workload first runs N times untimed
(JIT warm-up, default 3, at most 20). Prints one JSON line: kho_ref's keys plus
successor_boot_ms.
tools/bench_ratios.ts runs both sides and prints the ratios.
${MEMORY_HELP}`,
  compare: `Usage: deno task kholab ${COMPARE_USAGE}

Runs a scenario (default: the 1 TiB hypervisor; also --scenario NAME) once per profile
(default: every available one), each a build, preserve, kexec, restore and verify, and
prints one row per profile: an aligned table by default. Parameters over the scenario's
defaults are name=value (or --set name=value); every parameter is checked before anything
runs (a bad one exits 2). Exit code 1 when a profile's run failed (status error).
${WORKERS_HELP}
${REPEAT_HELP} --repeat 0 leaves them out.
${MEMORY_HELP}
${DESIGN_HELP} A design's profiles run on the workers too: each worker imports the file.
${shardHelp("compare", COMPARE_MERGE_USAGE)}`,
  sweep: `Usage: deno task kholab ${SWEEP_USAGE}

Sweeps one scenario parameter (--param) over --values, crossed with the profiles, on Deno
workers; one row per (value, profile), CSV by default. 'ladder' without --param sweeps
hostBytes over ${LADDER_TEXT}. Every point's parameters are checked before anything runs (a
bad value exits 2); exit code 1 when a point's run failed (status error).
${WORKERS_HELP}
${REPEAT_HELP} --repeat 0 leaves them out.
${MEMORY_HELP}
${DESIGN_HELP}
${shardHelp("sweep", SWEEP_MERGE_USAGE)}`,
  matrix: `Usage: deno task kholab matrix [--json] [--profiles all|a,b] [--design FILE.ts]…

Boots a kernel of each profile, preserves folios of orders 0..9, kexecs into a kernel of
each profile and reports whether the successor revives them: ok, refused (with the reason),
or CORRUPT (accepted, but the preserved memory did not come back intact). ${DESIGN_HELP}`,
  profiles: `Usage: deno task kholab profiles [--design FILE.ts]…

Lists every ABI profile: kernel, compat string, tracker and a summary. ${DESIGN_HELP}`,
  import: `Usage: deno task kholab ${IMPORT_USAGE}

Imports a list of preserved blocks taken from a real host — one "pfn order [node]" per line,
text or CSV (commas or blanks), # comments, an optional "pfn,order,node" header, decimal or
0x hex; gzip accepted (recognised by its magic bytes) — into a simulated machine: a kernel of
the profile (default kho-v4) boots holding the listed blocks, preserves each one as given
(kho_preserve_pages, or kho_preserve_phys in 6.16 and RFC v1), kexecs, and the successor walks
the handed-over tracker from memory alone. Prints what the successor found against the list
(every block found exactly, or what is missing and the generation's named reason), and the
metrics. Bad lines are reported as FILE:LINE:COL with a caret and nothing is imported.
--ram and --nodes override the machine sized to the list (RAM split evenly between nodes).
docs/import-export.md says how to take such a list on a real machine.
Exit code 0 when every block was found as given, 1 when not, 2 on bad input.
${DESIGN_HELP} --profile NAME then runs the list through a design's profile.`,
  export: `Usage: deno task kholab ${EXPORT_USAGE}

Builds a scenario (default: the 1 TiB hypervisor; parameters as in compare) for one profile
(default kho-v4), preserves its workloads and runs the kexec path up to kho_fill_kimage, then
writes what would cross to DIR, laid out like /sys/kernel/debug/kho/out of a real machine:
  kho/out/fdt, kho/out/sub_fdts/NAME, kho/out/scratch_phys, kho/out/scratch_len
  (and kho/out/finalize for 6.16 - 6.19)
so that dtc -I dtb -O dts and diff compare the two, plus what debugfs does not show:
  kholab/tracker.bin, kholab/tracker.index.json  the pages the successor's walk reads
  kholab/scratch.bin, kholab/kho_data.bin       the scratch array and the handover record
  kholab/handover.json                           profile, RAM, sub-trees, notes
'kholab inspect DIR' reads it back. In a script: export DIR (before kexec).
${DESIGN_HELP} --profile NAME then exports a design's handover (inspect it with the same
--design).`,
  inspect: `Usage: deno task kholab ${INSPECT_USAGE}

Puts an exported handover's bytes back at their physical addresses and runs the successor's
code on them: kho_populate's checks, kho_mem_retrieve (the profile's tracker walk),
kho_retrieve_subtree for every sub-tree and the decoders kholab has for sub-blobs (FDTs as
dts, kexec-metadata, LUO). Prints what the successor would find, or the kernel's verdict on
bad bytes (a refused handover, an aborted walk, the oops of a walk that follows a wild
pointer). --strict adds kholab's stricter checks (the strict successor). A plain copy of a
real machine's kho/out works too (no walk: debugfs does not show the tracker; the profile is
guessed from the compat unless --profile says).
Exit code 0 when the handover is accepted and walked, 1 when the kernel refuses it or panics,
2 on bad input. ${DESIGN_HELP} A design's export is inspected with its --design.`,
  conformance: `Usage: deno task kholab ${CONFORMANCE_USAGE}

Runs the tracker contract (lib/design/conformance.ts) against every tracker kind the design
modules FILE.ts register (a module that registers profiles only: the kinds its profiles use),
or the kinds named with --kind (built-in or registered); with neither, against kholab's own
kinds. Prints one row per check (pass/FAIL, the named reason,
what was checked) and a summary per kind; --json prints the reports. Exit code 1 when a
check fails, 2 on bad input (a missing file, an unknown kind).`,
  fdt: `Usage: deno task kholab fdt dump FILE | fdt check FILE

dump   prints the blob as dts text (like dtc -I dtb -O dts)
check  prints OK or the libfdt error name (exit 1)
FILE must be a regular file of at most 64 MiB.`,
};

/** Where the command line writes: the console, or a test's capture. */
export interface CliOutput {
  /** Standard output: one call per line or block. */
  log(text: string): void;
  /** Standard error. */
  error(text: string): void;
}

const CONSOLE: CliOutput = { log: (t) => console.log(t), error: (t) => console.error(t) };

/** `out` with control characters escaped in everything written. */
function escaped(out: CliOutput): CliOutput {
  return { log: (t) => out.log(escapeControl(t)), error: (t) => out.error(escapeControl(t)) };
}

const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

/** A count option (`--workers 4`, `--seed 0x10`); absent stays undefined. */
function countOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseCount(text);
  } catch (e) {
    throw new SyntaxError(`--${name}: ${(e as Error).message}`);
  }
}

/**
 * `--workers N`: a whole number, 0 (this thread) up to the machine's cores; more only with
 * `--force-workers`. Absent stays undefined (the default: the cores).
 */
function workersOption(text: string | undefined, force: boolean | undefined): number | undefined {
  const n = countOption("workers", text);
  if (n === undefined) return undefined;
  const cores = defaultWorkers();
  if (n > cores && !force) {
    throw new SyntaxError(
      `--workers ${n}: more than the ${cores} cores of this machine (--force-workers to insist)`,
    );
  }
  return n;
}

/** `--max-memory SIZE`: the host memory a command may take (see lib/machine/host_memory.ts). */
const MEMORY_OPTION = { "max-memory": { type: "string" } } as const;

/** Smallest `--max-memory`: below it Deno itself does not fit. */
const MIN_MEMORY_BYTES = 16 * 1024 * 1024;

/** `--max-memory SIZE` (`512M`, `2G`); absent: the default (half of V8's heap limit). */
function memoryOption(text: string | undefined): number | undefined {
  const n = sizeOption("max-memory", text);
  if (n !== undefined && n < MIN_MEMORY_BYTES) {
    throw new SyntaxError(`--max-memory ${text}: at least 16M`);
  }
  return n;
}

/** Most untimed runs `bench --warmup` takes (each is a whole workload: a bound on the time). */
const MAX_WARMUP = 20;

/** `bench --warmup N`: 0..20. */
function warmupOption(text: string | undefined): number {
  const n = countOption("warmup", text) ?? 3;
  if (n > MAX_WARMUP) throw new SyntaxError(`--warmup ${n}: at most ${MAX_WARMUP}`);
  return n;
}

/** `--max-steps N` (at least 1). */
function stepsOption(text: string | undefined): number | undefined {
  const n = countOption("max-steps", text);
  if (n === 0) throw new SyntaxError("--max-steps 0: at least 1");
  return n;
}

/** `--profiles all|a,b`: undefined for all, else the named profiles (RangeError if unknown). */
function profilesOption(text: string | undefined): ProfileName[] | undefined {
  if (text === undefined || text === "all") return undefined;
  return text.split(",").map((p) => getProfile(p.trim()).name);
}

/** `--values v1,v2,…`. */
function valuesOption(text: string | undefined): string[] | undefined {
  return text?.split(",").map((v) => v.trim());
}

/**
 * Scenario parameters from `--set name=value` options and `name=value` arguments (in the
 * order given); returns them with the other positional arguments.
 */
/**
 * Script variables from `kholab run --set NAME=VALUE` (NAME a script name; VALUE a number
 * where it reads as one — `4K`, `0x10` — else the text).
 */
function scriptVars(set: readonly string[] | undefined): Record<string, string | number> {
  const vars: Record<string, string | number> = {};
  for (const kv of set ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(kv);
    if (!m) throw new SyntaxError(`--set ${kv}: expected NAME=VALUE (NAME: letters, digits, _)`);
    let v: string | number = m[2];
    try {
      v = numberLiteralValue(m[2]);
    } catch {
      // not a number: the text
    }
    vars[m[1]] = v;
  }
  return vars;
}

function paramArgs(
  set: readonly string[] | undefined,
  positionals: readonly string[],
): { params: Record<string, string>; rest: string[] } {
  const params: Record<string, string> = {};
  for (const s of set ?? []) {
    const j = s.indexOf("=");
    if (j <= 0) throw new SyntaxError(`--set ${s}: expected name=value`);
    params[s.slice(0, j)] = s.slice(j + 1);
  }
  const rest: string[] = [];
  for (const a of positionals) {
    if (/^[A-Za-z]\w*=/.test(a)) {
      const j = a.indexOf("=");
      params[a.slice(0, j)] = a.slice(j + 1);
    } else rest.push(a);
  }
  return { params, rest };
}

/** At most `n` plain positional arguments. */
function atMost(rest: readonly string[], n: number, usage: string): void {
  if (rest.length > n) throw new SyntaxError(`unexpected argument "${rest[n]}" (usage: ${usage})`);
}

/** A size option (`--ram 64G`); absent stays undefined. */
function sizeOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseSize(text);
  } catch (e) {
    throw new SyntaxError(`--${name}: ${(e as Error).message}`);
  }
}

/** `kholab import FILE …`: the text (or JSON) to print and the exit code. */
async function importCommand(args: string[]): Promise<{ text: string; code: number }> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      profile: { type: "string" },
      ram: { type: "string" },
      nodes: { type: "string" },
      seed: { type: "string" },
      json: { type: "boolean" },
      design: { type: "string", multiple: true },
      ...MEMORY_OPTION,
      ...HELP_OPTION,
    },
    allowPositionals: true,
  });
  const [file] = positionals;
  if (file === undefined) throw new SyntaxError(`a FILE is required (usage: ${IMPORT_USAGE})`);
  atMost(positionals, 1, IMPORT_USAGE);
  await loadDesigns(values.design);
  const r = importPfnList({
    file,
    profile: values.profile === undefined ? undefined : getProfile(values.profile).name,
    ramBytes: sizeOption("ram", values.ram),
    nodes: countOption("nodes", values.nodes),
    seed: countOption("seed", values.seed),
    clock: wallClock,
    maxMemoryBytes: memoryOption(values["max-memory"]),
  });
  return {
    text: values.json ? JSON.stringify(r, null, 2) : importText(r),
    code: r.outcome === "exact" ? 0 : 1,
  };
}

/** `kholab export --handover DIR …`: writes the export; returns the summary. */
async function exportCommandLine(args: string[]): Promise<string> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      handover: { type: "string" },
      profile: { type: "string" },
      seed: { type: "string" },
      set: { type: "string", multiple: true },
      design: { type: "string", multiple: true },
      ...HELP_OPTION,
    },
    allowPositionals: true,
  });
  const { params, rest } = paramArgs(values.set, positionals);
  atMost(rest, 1, EXPORT_USAGE);
  const dir = values.handover;
  if (dir === undefined) {
    throw new SyntaxError(`--handover DIR is required (usage: ${EXPORT_USAGE})`);
  }
  await loadDesigns(values.design);
  const exp = exportScenarioHandover({
    scenario: rest[0] ?? "hypervisor",
    profile: getProfile(values.profile ?? CURRENT_PROFILE).name,
    params,
    seed: countOption("seed", values.seed),
  });
  const files = writeHandoverExport(dir, exp);
  const t = exp.meta.tracker;
  return [
    `export ${dir}: ${exp.meta.profile}, ${exp.meta.subtrees.length} sub-tree(s), tracker ` +
    `${t.kind} at ${t.root}: ${t.pages} page(s) holding ${t.walk.blocks} block(s)`,
    ...files.map((f) => `  ${f}`),
    ...exp.meta.notes.map((n) => `note: ${n}`),
  ].join("\n");
}

/** `kholab inspect DIR …`: the text (or JSON) and the exit code. */
async function inspectCommand(args: string[]): Promise<{ text: string; code: number }> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      profile: { type: "string" },
      strict: { type: "boolean" },
      json: { type: "boolean" },
      design: { type: "string", multiple: true },
      ...HELP_OPTION,
    },
    allowPositionals: true,
  });
  const [dir] = positionals;
  if (dir === undefined) throw new SyntaxError(`a DIR is required (usage: ${INSPECT_USAGE})`);
  atMost(positionals, 1, INSPECT_USAGE);
  await loadDesigns(values.design);
  const i = inspectHandover(readHandoverFolder(dir), {
    profile: values.profile === undefined ? undefined : getProfile(values.profile).name,
    strict: values.strict,
  });
  const accepted = i.populate.ok && i.panic === null && (i.retrieve === null || i.retrieve.ok);
  return {
    text: values.json ? JSON.stringify(i, null, 2) : inspectionText(i, dir),
    code: accepted ? 0 : 1,
  };
}

/** Rows in the chosen format. */
function render(rows: MetricsRow[], format: string): string {
  switch (format) {
    case "json":
      return rowsToJson(rows);
    case "csv":
      return rowsToCsv(rows);
    case "table":
      return formatTable(rows);
    default:
      throw new RangeError(`--format ${format}: table, json or csv`);
  }
}

/** Options of `compare` and `sweep`. */
const SCENARIO_OPTIONS = {
  ...MEMORY_OPTION,
  scenario: { type: "string" },
  profiles: { type: "string" },
  workers: { type: "string" },
  repeat: { type: "string" },
  "force-workers": { type: "boolean" },
  seed: { type: "string" },
  format: { type: "string" },
  shard: { type: "string" },
  out: { type: "string" },
  set: { type: "string", multiple: true },
  design: { type: "string", multiple: true },
  ...HELP_OPTION,
} as const;

/** Imports the `--design` modules (a failing one is a DesignError: bad input). */
async function loadDesigns(files: readonly string[] | undefined): Promise<void> {
  for (const f of files ?? []) await loadDesign(f);
}

/** `kholab compare …`: the text to print. */
async function compareCommand(args: string[], out: CliOutput): Promise<CommandOutput> {
  const { values, positionals } = parseArgs({
    args,
    options: SCENARIO_OPTIONS,
    allowPositionals: true,
  });
  const { params, rest } = paramArgs(values.set, positionals);
  atMost(rest, 1, COMPARE_USAGE);
  const shard = shardOptions(values);
  await loadDesigns(values.design);
  const options = {
    scenario: values.scenario ?? rest[0] ?? "hypervisor",
    params,
    profiles: profilesOption(values.profiles),
    seed: countOption("seed", values.seed),
    workers: workersOption(values.workers, values["force-workers"]),
    repeat: countOption("repeat", values.repeat),
    maxMemoryBytes: memoryOption(values["max-memory"]),
    clock: wallClock,
  };
  if (shard !== null) return await shardCommand("compare", options, shard, values.design, out);
  const rows = await compareProfiles(options);
  return { text: render(rows, values.format ?? "table"), failed: failedRows(rows) };
}

/** Exit code 1 when a scenario run failed (a row with status error), else 0. */
function failedRows(rows: readonly MetricsRow[]): boolean {
  return rows.some((r) => r.status === "error");
}

/** What a command prints and whether a check failed (exit code 1). */
interface CommandOutput {
  text: string;
  failed: boolean;
  /** The exit code when it is not 0 or 1 (a script error: 2, its message already printed). */
  code?: number;
}

/** `--shard K/N --out FILE.jsonl` (both or neither; not with --format), or null. */
function shardOptions(
  values: { shard?: string; out?: string; format?: string },
): { shard: ReturnType<typeof parseShard>; file: string } | null {
  if (values.shard === undefined && values.out === undefined) return null;
  if (values.shard === undefined) {
    throw new SyntaxError(
      `--out ${values.out}: the shard file of --shard K/N (--shard is missing)`,
    );
  }
  const shard = parseShard(values.shard);
  if (values.out === undefined) {
    throw new SyntaxError(`--shard ${values.shard} needs --out FILE.jsonl (the shard's rows)`);
  }
  if (values.format !== undefined) {
    throw new SyntaxError(
      `--format ${values.format} with --shard: a shard writes JSON lines to --out; ` +
        "'merge' formats the rows",
    );
  }
  if (values.out === "") throw new SyntaxError("--out: an empty file name");
  return { shard, file: values.out };
}

/** `kholab sweep|compare … --shard K/N --out FILE.jsonl`: runs the shard into its file. */
async function shardCommand(
  cmd: "sweep" | "compare",
  options: SweepOptions,
  at: { shard: ReturnType<typeof parseShard>; file: string },
  designs: readonly string[] | undefined,
  out: CliOutput,
): Promise<CommandOutput> {
  const name = `shard ${shardText(at.shard)}`;
  const code = { digest: sourceDigest(designs), deno: Deno.version.deno, revision: codeRevision() };
  const r = await runShard({
    ...options,
    shard: at.shard,
    file: at.file,
    code,
    onPoint: (p) => out.error(`${name}: ${p.done}/${p.total} ${p.label} ${p.row.status ?? ""}`),
  });
  const failed = r.rows.filter((row) => row.status === "error").length;
  const text = [
    `${name} of ${cmd} ${options.scenario}: ${r.indices.length} of ${r.sweepTotal} point(s) in ` +
    `${at.file} (${r.already} already there, ${r.ran} run${
      r.droppedTail ? "; an interrupted last line was cut off and run again" : ""
    }); ${failed} failed; code ${code.digest.slice(0, 19)} (revision ${code.revision})`,
  ].join("\n");
  return { text, failed: failed > 0 };
}

/** `kholab sweep|compare merge FILE…`: the merged rows. */
function mergeCommand(
  cmd: "sweep" | "compare",
  args: string[],
  out: CliOutput,
): CommandOutput {
  const usage = cmd === "sweep" ? SWEEP_MERGE_USAGE : COMPARE_MERGE_USAGE;
  const { values, positionals } = parseArgs({
    args,
    options: { format: { type: "string" }, out: { type: "string" }, ...HELP_OPTION },
    allowPositionals: true,
  });
  if (positionals.length === 0) {
    throw new SyntaxError(`no shard files given (usage: ${usage})`);
  }
  const format = values.format ?? (cmd === "sweep" ? "csv" : "table");
  render([], format); // a bad --format before any file is read
  const m = mergeShardFiles(positionals);
  const text = render(m.rows, format);
  const failed = failedRows(m.rows);
  const what = `${m.rows.length} row(s) of ${m.sweep.scenario} from ${positionals.length} ` +
    `file(s) (shard ${m.shards.join(", ")}; code ${m.code.digest.slice(0, 19)}, Deno ` +
    `${m.code.deno}, revision ${m.code.revision})`;
  if (values.out === undefined) {
    out.error(`merged ${what}`);
    return { text, failed };
  }
  Deno.writeTextFileSync(values.out, text);
  return { text: `merged ${what} into ${values.out}`, failed };
}

/** `kholab sweep …`: the text to print. */
async function sweepCommand(args: string[], out: CliOutput): Promise<CommandOutput> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...SCENARIO_OPTIONS, param: { type: "string" }, values: { type: "string" } },
    allowPositionals: true,
  });
  const { params, rest } = paramArgs(values.set, positionals);
  atMost(rest, 1, SWEEP_USAGE);
  const scenario = values.scenario ?? rest[0];
  if (scenario === undefined) throw new SyntaxError(`usage: ${SWEEP_USAGE}`);
  let param = values.param;
  let list: ParamValue[] | undefined = valuesOption(values.values);
  if (param === undefined && scenario === "ladder") {
    param = "hostBytes";
    list = [...LADDER_HOST_BYTES];
  }
  if (param !== undefined && (list === undefined || list.length === 0)) {
    throw new SyntaxError(`--param ${param} needs --values`);
  }
  const shard = shardOptions(values);
  await loadDesigns(values.design);
  const options: SweepOptions = {
    scenario,
    params,
    param,
    values: list,
    profiles: profilesOption(values.profiles),
    seed: countOption("seed", values.seed),
    workers: workersOption(values.workers, values["force-workers"]),
    repeat: countOption("repeat", values.repeat),
    maxMemoryBytes: memoryOption(values["max-memory"]),
    clock: wallClock,
  };
  if (shard !== null) return await shardCommand("sweep", options, shard, values.design, out);
  const rows = await runSweep(options);
  return { text: render(rows, values.format ?? "csv"), failed: failedRows(rows) };
}

/** The options of `kholab report`, both forms (a scenario's, a script's). */
const REPORT_OPTIONS = {
  scenario: { type: "string" },
  out: { type: "string" },
  seed: { type: "string" },
  profiles: { type: "string" },
  workers: { type: "string" },
  repeat: { type: "string" },
  "force-workers": { type: "boolean" },
  ...MEMORY_OPTION,
  param: { type: "string" },
  values: { type: "string" },
  set: { type: "string", multiple: true },
  "no-matrix": { type: "boolean" },
  design: { type: "string", multiple: true },
  "max-steps": { type: "string" },
  ...HELP_OPTION,
} as const;

/** Options of a scenario report that a report from a script does not take, and the reverse. */
const SCENARIO_REPORT_ONLY = [
  "scenario",
  "profiles",
  "workers",
  "force-workers",
  "repeat",
  "param",
  "values",
  "no-matrix",
] as const;
const SCRIPT_REPORT_ONLY = ["max-steps"] as const;

/** Whether a positional argument of `report` names a script (not a `name=value` parameter). */
const isScriptArg = (a: string) => a.endsWith(".kho") && !/^[A-Za-z]\w*=/.test(a);

/** `kholab report …`: writes the report; returns the summary and the files written. */
async function reportCommand(args: string[], out: CliOutput): Promise<CommandOutput> {
  const { values, positionals } = parseArgs({
    args,
    options: REPORT_OPTIONS,
    allowPositionals: true,
  });
  if (positionals.some(isScriptArg)) return await scriptReportCommand(values, positionals, out);
  for (const o of SCRIPT_REPORT_ONLY) {
    if (values[o] !== undefined) {
      throw new SyntaxError(`--${o} is for a report from a script (usage: ${REPORT_SCRIPT_USAGE})`);
    }
  }
  await loadDesigns(values.design);
  const { params, rest } = paramArgs(values.set, positionals);
  if (rest.length > 0) {
    throw new SyntaxError(
      `unexpected argument "${rest[0]}" (a script ends in .kho; usage: ${REPORT_USAGE})`,
    );
  }
  const outDir = values.out;
  if (outDir === undefined) throw new SyntaxError(`--out DIR is required (usage: ${REPORT_USAGE})`);
  const seed = countOption("seed", values.seed) ?? 1;
  const { profiles, param } = values;
  const list = valuesOption(values.values);
  if (param !== undefined && !list?.length) throw new SyntaxError(`--param needs --values`);
  const matrix = !values["no-matrix"];
  const scenario = values.scenario ?? "hypervisor";
  const command = ["deno task kholab report", `--scenario ${scenario}`, `--seed ${seed}`]
    .concat((values.design ?? []).map((f) => `--design ${f}`))
    .concat(profiles ? [`--profiles ${profiles}`] : [])
    .concat(values.repeat !== undefined ? [`--repeat ${values.repeat}`] : [])
    .concat(param ? [`--param ${param} --values ${list!.join(",")}`] : [])
    .concat(matrix ? [] : ["--no-matrix"])
    .concat(Object.entries(params).map(([k, v]) => `${k}=${v}`))
    .concat([`--out ${outDir}`]).join(" ");
  const r = await writeReport({
    scenario,
    params,
    param,
    values: list,
    profiles: profilesOption(profiles),
    seed,
    workers: workersOption(values.workers, values["force-workers"]),
    repeat: countOption("repeat", values.repeat),
    maxMemoryBytes: memoryOption(values["max-memory"]),
    outDir,
    command,
    matrix,
    clock: wallClock,
  });
  return {
    text: r.summary + "\nwrote " + r.files.join(", ") + "\n",
    failed: failedRows(r.rows),
  };
}

/** Parsed options of `kholab report`. */
type ReportValues = ReturnType<typeof parseArgs<{ options: typeof REPORT_OPTIONS }>>["values"];

/**
 * `kholab report FILE.kho …`: runs the script and writes its report. A script error is
 * printed as `kholab run` prints it (FILE:LINE:COL, a caret) and nothing is written (exit 2).
 */
async function scriptReportCommand(
  values: ReportValues,
  positionals: readonly string[],
  out: CliOutput,
): Promise<CommandOutput> {
  for (const o of SCENARIO_REPORT_ONLY) {
    if (values[o] !== undefined) {
      throw new SyntaxError(
        `--${o} is for a scenario report, not with a script (usage: ${REPORT_SCRIPT_USAGE})`,
      );
    }
  }
  const [file, ...extra] = positionals;
  if (!isScriptArg(file) || extra.length > 0) {
    const bad = isScriptArg(file) ? extra[0] : file;
    throw new SyntaxError(
      `unexpected argument "${bad}" with a script: one FILE.kho, variables as --set NAME=VALUE ` +
        `(usage: ${REPORT_SCRIPT_USAGE})`,
    );
  }
  const outDir = values.out;
  if (outDir === undefined) {
    throw new SyntaxError(`--out DIR is required (usage: ${REPORT_SCRIPT_USAGE})`);
  }
  const vars = scriptVars(values.set);
  const seed = countOption("seed", values.seed) ?? 42;
  const maxSteps = stepsOption(values["max-steps"]);
  const maxMemoryBytes = memoryOption(values["max-memory"]);
  const text = readScriptFile(file);
  await loadDesigns(values.design);
  const command = ["deno task kholab report", file, `--seed ${seed}`]
    .concat((values.design ?? []).map((f) => `--design ${f}`))
    .concat((values.set ?? []).map((kv) => `--set ${kv}`))
    .concat(values["max-steps"] !== undefined ? [`--max-steps ${values["max-steps"]}`] : [])
    .concat([`--out ${outDir}`]).join(" ");
  const r = await writeScriptReport({
    file,
    text,
    outDir,
    seed,
    vars,
    maxSteps,
    maxMemoryBytes,
    command,
    onOutput: (line) => out.log(line),
    clock: wallClock,
  });
  if (r.error) {
    out.error(r.error.message);
    return { text: "", failed: true, code: 2 };
  }
  return {
    text: `report ${file}: ${r.rows.length} measured rows, ${r.charts.length} charts, ` +
      `${r.meta!.expects.passed} of ${r.meta!.expects.passed + r.meta!.expects.failed} ` +
      `expectations held\nwrote ${r.files.join(", ")}\n`,
    failed: r.exitCode !== 0,
  };
}

/** Whether `e` is `parseArgs`'s complaint about the arguments (an unknown option, …). */
function isArgumentError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof TypeError && typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

/**
 * Runs the CLI with `args`, writing to `out` (default: the console); returns the exit code:
 * 0 done, 1 a failed check (`run`: an expect; `fdt check`: a bad blob), 2 bad input.
 */
export async function main(args: string[], output: CliOutput = CONSOLE): Promise<number> {
  const out = escaped(output);
  const [cmd = "", ...rest] = args;
  const usage = (name: string, code = 0): number => {
    (code === 0 ? out.log : out.error)(HELP[name] ?? HELP[""]);
    return code;
  };
  if (cmd === "" || cmd === "help" || cmd === "--help" || cmd === "-h") {
    return usage(rest[0] ?? "");
  }
  if (!(cmd in HELP)) {
    out.error(`kholab: unknown command "${cmd}"\n`);
    return usage("", 2);
  }
  try {
    switch (cmd) {
      case "repl": {
        const { values } = parseArgs({
          args: rest,
          options: { ...MEMORY_OPTION, "max-steps": { type: "string" }, ...HELP_OPTION },
        });
        if (values.help) return usage("repl");
        return await repl({
          clock: wallClock,
          maxMemoryBytes: memoryOption(values["max-memory"]),
          maxSteps: stepsOption(values["max-steps"]),
        });
      }
      case "demo": {
        const { values } = parseArgs({
          args: rest,
          options: {
            out: { type: "string", default: "report/demo" },
            workers: { type: "string" },
            repeat: { type: "string" },
            "force-workers": { type: "boolean" },
            ...MEMORY_OPTION,
            ...HELP_OPTION,
          },
        });
        if (values.help) return usage("demo");
        const r = await demoReport({
          outDir: values.out,
          workers: workersOption(values.workers, values["force-workers"]),
          repeat: countOption("repeat", values.repeat),
          maxMemoryBytes: memoryOption(values["max-memory"]),
          clock: wallClock,
        });
        out.log(r.summary);
        out.log(`\nreport: ${values.out}/index.html (files: ${r.files.join(", ")})`);
        return 0;
      }
      case "report":
      case "compare":
      case "sweep": {
        if (rest.includes("--help") || rest.includes("-h")) return usage(cmd);
        const r = cmd === "report"
          ? await reportCommand(rest, out)
          : rest[0] === "merge"
          ? mergeCommand(cmd, rest.slice(1), out)
          : cmd === "compare"
          ? await compareCommand(rest, out)
          : await sweepCommand(rest, out);
        if (r.text !== "") out.log(r.text);
        return r.code ?? (r.failed ? 1 : 0);
      }
      case "run":
      case "check": {
        const { values, positionals } = parseArgs({
          args: rest,
          options: {
            json: { type: "boolean" },
            seed: { type: "string" },
            set: { type: "string", multiple: true },
            design: { type: "string", multiple: true },
            "max-steps": { type: "string" },
            ...MEMORY_OPTION,
            ...HELP_OPTION,
          },
          allowPositionals: true,
        });
        if (values.help) return usage(cmd);
        const vars = scriptVars(values.set);
        const maxSteps = stepsOption(values["max-steps"]);
        const maxMemoryBytes = memoryOption(values["max-memory"]);
        const file = positionals[0];
        if (!file || positionals.length > 1) return usage(cmd, 2);
        const text = readScriptFile(file);
        const readFile = (path: string) => readScriptFile(path);
        await loadDesigns(values.design);
        await loadScriptDesigns(text, { file, readFile });
        if (cmd === "check") {
          const r = checkScript(text, { file, readFile });
          out.log(r.ok ? `${file}: OK` : r.message);
          return r.ok ? 0 : 2;
        }
        const r = runScript(text, {
          file,
          readFile,
          json: values.json,
          seed: countOption("seed", values.seed),
          vars,
          maxSteps,
          maxMemoryBytes,
          onOutput: (line) => out.log(line),
          clock: wallClock,
        });
        if (values.json) out.log(r.output);
        else if (r.results.error) out.error(r.results.error.message);
        return r.exitCode;
      }
      case "bench": {
        const { values } = parseArgs({
          args: rest,
          options: {
            workload: { type: "string" },
            pages: { type: "string", default: "1048576" },
            "span-pages": { type: "string", default: "4194304" },
            "giant-folios": { type: "string", default: "0" },
            "bitmap-bytes": { type: "string", default: "4096" },
            warmup: { type: "string", default: "3" },
            json: { type: "boolean" },
            ...MEMORY_OPTION,
            ...HELP_OPTION,
          },
        });
        if (values.help) return usage("bench");
        const w = values.workload;
        if (w !== "radix" && w !== "xarray" && w !== "hyper") return usage("bench", 2);
        const bitmapBytes = Number(values["bitmap-bytes"]);
        if (bitmapBytes !== 512 && bitmapBytes !== 4096) return usage("bench", 2);
        const options = {
          workload: w,
          pages: countOption("pages", values.pages)!,
          spanPages: countOption("span-pages", values["span-pages"])!,
          giantFolios: countOption("giant-folios", values["giant-folios"])!,
          bitmapBytes,
          warmup: warmupOption(values.warmup),
          clock: wallClock,
        } as const;
        new MemoryBudget(memoryOption(values["max-memory"])).check(
          `bench --workload ${w}`,
          workloadMemory(options),
        );
        const r = runWorkload(options);
        out.log(JSON.stringify(r));
        return 0;
      }
      case "matrix": {
        const { values } = parseArgs({
          args: rest,
          options: {
            json: { type: "boolean" },
            profiles: { type: "string" },
            design: { type: "string", multiple: true },
            ...HELP_OPTION,
          },
        });
        if (values.help) return usage("matrix");
        await loadDesigns(values.design);
        const cells = abiMatrix(profilesOption(values.profiles));
        out.log(values.json ? JSON.stringify(cells, null, 2) : abiMatrixText(cells));
        return 0;
      }
      case "profiles": {
        const { values } = parseArgs({
          args: rest,
          options: { design: { type: "string", multiple: true }, ...HELP_OPTION },
        });
        if (values.help) return usage("profiles");
        await loadDesigns(values.design);
        for (const name of profileNames()) {
          const available = availableProfiles().includes(name)
            ? ""
            : "  (tracker not yet implemented)";
          out.log(profileLine(getProfile(name)) + available);
          for (const line of profileDetails(getProfile(name))) out.log(line);
        }
        return 0;
      }
      case "export": {
        if (rest.includes("--help") || rest.includes("-h")) return usage(cmd);
        out.log(await exportCommandLine(rest));
        return 0;
      }
      case "inspect": {
        if (rest.includes("--help") || rest.includes("-h")) return usage(cmd);
        const r = await inspectCommand(rest);
        out.log(r.text);
        return r.code;
      }
      case "import": {
        if (rest.includes("--help") || rest.includes("-h")) return usage(cmd);
        const r = await importCommand(rest);
        out.log(r.text);
        return r.code;
      }
      case "conformance": {
        const { values, positionals } = parseArgs({
          args: rest,
          options: {
            kind: { type: "string", multiple: true },
            seed: { type: "string" },
            json: { type: "boolean" },
            ...HELP_OPTION,
          },
          allowPositionals: true,
        });
        if (values.help) return usage("conformance");
        const kinds: string[] = [];
        for (const f of positionals) {
          const d = await loadDesign(f);
          kinds.push(...d.trackers);
          // A design of profiles only (another way to bring memory back over a built-in
          // tracker): the contract of the trackers its profiles hand over.
          if (d.trackers.length === 0) kinds.push(...d.profiles.map((p) => getProfile(p).tracker));
        }
        for (const k of values.kind ?? []) kinds.push(trackerFormat(k).kind);
        if (positionals.length === 0 && !values.kind) {
          kinds.push(...BUILTIN_TRACKER_FORMATS.map((f) => f.kind));
        }
        if (kinds.length === 0) {
          throw new RangeError(`${positionals.join(", ")} registered no tracker kind`);
        }
        const seed = countOption("seed", values.seed);
        const reports = [...new Set(kinds)].map((k) => runConformance(k, { seed }));
        out.log(values.json ? JSON.stringify(reports, null, 2) : conformanceTable(reports));
        return reports.every((r) => r.ok) ? 0 : 1;
      }
      case "fdt": {
        const { values, positionals } = parseArgs({
          args: rest,
          options: HELP_OPTION,
          allowPositionals: true,
        });
        const [sub, file] = positionals;
        if (values.help || !sub) return usage("fdt", values.help ? 0 : 2);
        if (!file || positionals.length > 2) return usage("fdt", 2);
        const blob = () =>
          readInputFile(file, { maxBytes: FDT_MAX_BYTES, maxTextBytes: FDT_MAX_BYTES }, {
            gunzip: false,
          }).bytes;
        if (sub === "check") {
          const v = checkFullVerdict(blob());
          out.log(v);
          return v === "OK" ? 0 : 1;
        }
        if (sub === "dump") {
          out.log(toDts(blob()));
          return 0;
        }
        return usage("fdt", 2);
      }
    }
    return usage("", 2);
  } catch (e) {
    if (isArgumentError(e)) {
      out.error(`kholab ${cmd}: ${(e as Error).message} (deno task kholab ${cmd} --help)`);
      return 2;
    }
    if (
      e instanceof FdtError || e instanceof SyntaxError || e instanceof RangeError ||
      e instanceof CommandError || e instanceof InputFileError || e instanceof DesignError ||
      e instanceof HostMemoryError || e instanceof ShardError || hostFsErrno(e) !== null
    ) {
      out.error(`kholab ${cmd}: ${(e as Error).message}`);
      return 2;
    }
    if (e instanceof KhoError) {
      // The simulated kernel refused (a preserve): its verdict, not bad input.
      out.error(`kholab ${cmd}: ${e.message}`);
      return 1;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    out.error(
      `kholab ${cmd}: internal error: ${err.name}: ${err.message} (a failure of kholab, ` +
        "not of the input; KHOLAB_DEBUG=1 prints the stack)",
    );
    if (debug()) out.error(err.stack ?? "");
    return EXIT_INTERNAL;
  }
}

/** Exit code of an internal error (sysexits' EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

function debug(): boolean {
  try {
    return Deno.env.get("KHOLAB_DEBUG") === "1";
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
