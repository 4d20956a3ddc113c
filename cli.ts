/**
 * kholab command line: `deno task kholab <command> [options]`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkFullVerdict } from "./lib/kho/fdt/check.ts";
import { toDts } from "./lib/kho/fdt/dts.ts";
import { FdtError } from "./lib/errors.ts";
import { parseCount } from "./lib/units.ts";
import { wallClock } from "./lib/rng.ts";
import {
  abiMatrix,
  abiMatrixText,
  availableProfiles,
  profileLine,
} from "./lib/scenario/abi_matrix.ts";
import { getProfile, PROFILE_NAMES } from "./lib/kho/abi/profiles.ts";
import { checkScript, runScript } from "./lib/dsl/run.ts";
import { repl } from "./lib/dsl/repl.ts";
import { runWorkload } from "./lib/metrics/kho_ref_workload.ts";
import { demoReport, REPORT_USAGE, reportCommand } from "./lib/report/report.ts";
import {
  COMPARE_USAGE,
  compareCommand,
  SWEEP_USAGE,
  sweepCommand,
} from "./lib/scenario/compare.ts";

const HELP: Record<string, string> = {
  "": `kholab — a laboratory for the Linux kernel's Kexec HandOver (KHO)

Usage: deno task kholab <command> [options]

Commands:
  run FILE [--json] [--seed N]   run a .kho script (exit 1 when an expect fails, 2 on a script error)
  check FILE           check a .kho script without running it
  repl                 the interactive command language (also: deno task repl)
  demo                 the 1 TiB hypervisor scenario for every profile; writes report/demo/
  report --out DIR     a reproducible HTML report of a scenario (charts, tables, data)
  bench --workload W   the bench-ref tracker workloads through the engine (JSON, as kho_ref)
  compare [SCENARIO] [OPTIONS]   a scenario (default: the 1 TiB hypervisor) for every profile
  sweep SCENARIO [OPTIONS]       sweep a scenario parameter across profiles on workers
  matrix               kexec between every pair of ABI profiles and print the compatibility matrix
  profiles             list the KHO generations and proposals kholab implements
  fdt dump FILE        print a flattened device tree blob as dts text
  fdt check FILE       check a blob as libfdt's fdt_check_full does
  help [COMMAND]       this text, or a command's

Every command takes --help.`,
  demo: `Usage: deno task demo   (deno task kholab demo [--out DIR] [--workers N])

Runs the default 1 TiB hypervisor scenario (1008 × 1 GiB guest folios through the memfd
client, 1 Mi preserved order-0 IOMMU pages in a 16 GiB pool, vmalloc and DMA buffers) for
every ABI profile, kexecs, restores and verifies, writes the HTML report with data.json and
CSVs to report/demo/, and prints the summary table.`,
  report: `Usage: deno task kholab ${REPORT_USAGE}

Writes one self-contained HTML page (inline SVG charts, tables, the exact command, seed,
versions and code revision) plus data.json and CSVs to --out DIR.`,
  run: `Usage: deno task kholab run FILE [--json] [--seed N]

Runs a kholab script. The whole script is checked first; every syntax error is reported as
FILE:LINE:COL with the source line and a caret. Exit code 0 when it ran and every expect
held, 1 when an expect failed, 2 on a syntax or runtime error. --json prints one JSON
document with the measurements, expects and metrics. In a script, 'help' lists commands.`,
  check: `Usage: deno task kholab check FILE

Parses and checks a script (and its includes) without running it; prints every error.`,
  repl: `Usage: deno task kholab repl   (or: deno task repl)

The kholab command language, interactive: Tab completes commands, options, object and
profile names; Up/Down browse the history (~/.kholab_history); blocks continue until their
braces close; 'help' and 'help COMMAND' explain. Piped input runs like a script.`,
  bench: `Usage: deno task kholab bench --workload radix|xarray|hyper --pages N --span-pages S
                               [--giant-folios G] [--bitmap-bytes 512|4096] [--warmup N]

Performs ../shared/bench-ref's workload through the engine: pfn_i = (i * 0x9E3779B1) mod S
preserved with kho_preserve_pages (6.16: kho_preserve_phys), hyper adds G order-18 blocks
after the span; the handed-over tracker is walked with the successor's reader and the
checksum callback, then the successor boots. The whole workload first runs N times untimed
(JIT warm-up, default 3). Prints one JSON line: kho_ref's keys plus successor_boot_ms.
tools/bench_ratios.ts runs both sides and prints the ratios.`,
  matrix: `Usage: deno task kholab matrix [--json]

Boots a kernel of each profile, preserves folios of orders 0..9, kexecs into a kernel of
each profile and reports whether the successor revives them: ok, refused (with the reason),
or CORRUPT (accepted, but the preserved memory did not come back intact).`,
  profiles: `Usage: deno task kholab profiles

Lists every ABI profile: kernel, compat string, tracker and a summary.`,
  fdt: `Usage: deno task kholab fdt dump FILE | fdt check FILE

dump   prints the blob as dts text (like dtc -I dtb -O dts)
check  prints OK or the libfdt error name (exit 1)`,
};

function usage(cmd: string, code = 0): number {
  (code === 0 ? console.log : console.error)(HELP[cmd] ?? HELP[""]);
  return code;
}

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [cmd = "", ...rest] = args;
  if (cmd === "repl") {
    if (rest.includes("--help") || rest.includes("-h")) return usage("repl");
    return await repl({ clock: wallClock });
  }
  if (cmd === "" || cmd === "help" || cmd === "--help" || cmd === "-h") return usage(rest[0] ?? "");
  try {
    switch (cmd) {
      case "demo": {
        const { values } = parseArgs({
          args: rest,
          options: {
            out: { type: "string", default: "report/demo" },
            workers: { type: "string" },
            help: { type: "boolean", short: "h" },
          },
        });
        if (values.help) return usage("demo");
        const r = await demoReport({
          outDir: values.out,
          workers: values.workers !== undefined ? parseCount(values.workers) : undefined,
          clock: wallClock,
        });
        console.log(r.summary);
        console.log(`\nreport: ${values.out}/index.html (files: ${r.files.join(", ")})`);
        return 0;
      }
      case "report": {
        if (rest.includes("--help") || rest.includes("-h")) return usage("report");
        console.log(await reportCommand(rest, wallClock));
        return 0;
      }
      case "run":
      case "check": {
        const { values, positionals } = parseArgs({
          args: rest,
          options: {
            json: { type: "boolean" },
            seed: { type: "string" },
            help: { type: "boolean", short: "h" },
          },
          allowPositionals: true,
        });
        if (values.help) return usage(cmd);
        const file = positionals[0];
        if (!file || positionals.length > 1) return usage(cmd, 2);
        const text = Deno.readTextFileSync(file);
        const readFile = (path: string) => Deno.readTextFileSync(path);
        if (cmd === "check") {
          const r = checkScript(text, { file, readFile });
          console.log(r.ok ? `${file}: OK` : r.message);
          return r.ok ? 0 : 2;
        }
        const r = runScript(text, {
          file,
          readFile,
          json: values.json,
          seed: values.seed !== undefined ? parseCount(values.seed) : undefined,
          onOutput: (line) => console.log(line),
          clock: wallClock,
        });
        if (values.json) console.log(r.output);
        else if (r.results.error) console.error(r.results.error.message);
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
            help: { type: "boolean", short: "h" },
          },
        });
        if (values.help) return usage("bench");
        const w = values.workload;
        if (w !== "radix" && w !== "xarray" && w !== "hyper") return usage("bench", 2);
        const bitmapBytes = Number(values["bitmap-bytes"]);
        if (bitmapBytes !== 512 && bitmapBytes !== 4096) return usage("bench", 2);
        const r = runWorkload({
          workload: w,
          pages: parseCount(values.pages!),
          spanPages: parseCount(values["span-pages"]!),
          giantFolios: parseCount(values["giant-folios"]!),
          bitmapBytes,
          warmup: parseCount(values.warmup!),
          clock: wallClock,
        });
        console.log(JSON.stringify(r));
        return 0;
      }
      case "compare":
      case "sweep": {
        if (rest.includes("--help") || rest.includes("-h")) {
          console.log(cmd === "compare" ? COMPARE_USAGE : SWEEP_USAGE);
          return 0;
        }
        const text = await (cmd === "compare"
          ? compareCommand(rest, wallClock)
          : sweepCommand(rest, wallClock));
        console.log(text);
        return 0;
      }
      case "matrix": {
        const { values } = parseArgs({
          args: rest,
          options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
        });
        if (values.help) {
          return usage("matrix");
        }
        const cells = abiMatrix();
        console.log(values.json ? JSON.stringify(cells, null, 2) : abiMatrixText(cells));
        return 0;
      }
      case "profiles": {
        const { values } = parseArgs({
          args: rest,
          options: { help: { type: "boolean", short: "h" } },
        });
        if (values.help) {
          return usage("profiles");
        }
        for (const name of PROFILE_NAMES) {
          const available = availableProfiles().includes(name)
            ? ""
            : "  (tracker not yet implemented)";
          console.log(profileLine(getProfile(name)) + available);
        }
        return 0;
      }
      case "fdt": {
        const { values, positionals } = parseArgs({
          args: rest,
          options: { help: { type: "boolean", short: "h" } },
          allowPositionals: true,
        });
        const [sub, file] = positionals;
        if (values.help || !sub) {
          return usage("fdt", values.help ? 0 : 2);
        }
        if (!file) {
          return usage("fdt", 2);
        }
        const blob = Deno.readFileSync(file);
        if (sub === "check") {
          const v = checkFullVerdict(blob);
          console.log(v);
          return v === "OK" ? 0 : 1;
        }
        if (sub === "dump") {
          console.log(toDts(blob));
          return 0;
        }
        return usage("fdt", 2);
      }
      default:
        console.error(`kholab: unknown command "${cmd}"\n`);
        return usage("", 2);
    }
  } catch (e) {
    if (
      e instanceof FdtError || e instanceof SyntaxError || e instanceof RangeError ||
      e instanceof Deno.errors.NotFound
    ) {
      console.error(`kholab ${cmd}: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
