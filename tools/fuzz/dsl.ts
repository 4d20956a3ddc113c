/**
 * The `dsl` fuzz target: scripts of the command language mutated from the examples
 * (`examples/*.kho`) and from one statement per command, object kind and special form of the
 * command table (so every command is reached), run through `parse`, `checkScript` and
 * `runScript` with small budgets (a step budget, a host-memory budget, a machine of at most
 * 2 GiB, includes resolved among the corpus' scripts).
 *
 * A finding is anything but the language's own diagnostics: an exception escaping `parse`,
 * `checkScript` or `runScript`, an internal error (a failure of kholab, reported with its
 * line), a hang (past the harness's time bound) or a heap past its bound.
 *
 * Mutations (1–4 per input, weighted): token-level — delete, duplicate, swap, replace with a
 * word of the table (commands, options, kinds, metrics, profiles), an operator or a hostile
 * value (huge and fractional numbers, sizes past 64 TiB, negative counts, long words), insert
 * separators and brackets; structural — deep nesting (parentheses, unary operators, blocks,
 * 200 to 20,000 levels), nested repeats with huge counts, `include` of a corpus script (and of
 * itself), a line spliced from another script, many statements on one line; byte-level — bit
 * flips, control and invalid UTF-8 bytes, a byte-order mark, truncation.
 *
 * @module
 */

import { checkScript, runScript } from "../../lib/dsl/run.ts";
import { usage } from "../../lib/dsl/spec.ts";
import { TABLE } from "../../lib/dsl/table.ts";
import { kindWords } from "../../lib/dsl/values.ts";
import { hostMemoryInUse } from "../../lib/machine/host_memory.ts";
import { ManualClock, type Rng } from "../../lib/rng.ts";
import type { FuzzStats, FuzzTarget } from "./target.ts";

/** What one script did. */
export interface DslObservation {
  /** Syntax errors found by the parser (reported and counted). */
  syntaxErrors: number;
  /** Exit code of the run: 0, 1 (an expect failed), 2 (a script error). */
  exitCode: number;
  /** Kind of the run's error, or "" (syntax, runtime). */
  error: string;
}

/** Largest input: 256 KiB (deep nesting and long lines need room). */
export const DSL_MAX_INPUT_BYTES = 256 * 1024;

/**
 * Budgets of a fuzzed run, so that no input runs for long: steps, a machine of at most 2 GiB
 * (with its headroom), host memory over what the process holds when the input starts.
 */
export const DSL_LIMITS = {
  maxSteps: 1000,
  maxRamBytes: 2 * 2 ** 30,
  memoryAllowanceBytes: 48 * 2 ** 20,
} as const;

const ROOT = new URL("../../", import.meta.url);

/** The example scripts, by name (`examples/NAME.kho`). */
function exampleScripts(): Map<string, string> {
  const out = new Map<string, string>();
  const dir = new URL("examples/", ROOT);
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".kho"));
  for (const n of names.sort()) out.set(n, Deno.readTextFileSync(new URL(n, dir)));
  return out;
}

/** One statement per command, object kind and special form, with each option once. */
function tableStatements(): string[] {
  const out: string[] = ["machine ram=2G", "let n = 3", "expect n == 3"];
  for (const spec of TABLE.commands.values()) {
    if (spec.special) {
      out.push(spec.special.replaceAll("…", "kexec").replace("FILE", "quickstart.kho"));
      continue;
    }
    const opts = spec.options.map((o) => o.flag ? o.name : `${o.name}=${o.default ?? "1"}`);
    const args = spec.positionals.map((p) => kindWords(p.kind)[0] ?? "x");
    out.push([spec.name, ...args, ...opts].join(" "));
  }
  for (const kind of TABLE.objectKinds.values()) {
    const opts = kind.options.filter((o) => o.required || o.default)
      .map((o) => o.flag ? o.name : `${o.name}=${o.default ?? "4K"}`);
    out.push(`x = ${kind.name} ${opts.join(" ")}`, `free x`);
    out.push(usage(kind));
  }
  return out;
}

let examples: Map<string, string> | null = null;

function corpusScripts(): Map<string, string> {
  if (examples === null) examples = exampleScripts();
  return examples;
}

/** The corpus: the examples and the table's statements (a script of 1–6 of them each). */
function corpus(): Uint8Array[] {
  const enc = new TextEncoder();
  const out = [...corpusScripts().values()].map((t) => enc.encode(t));
  const st = tableStatements();
  for (let i = 0; i < st.length; i++) {
    out.push(enc.encode(["machine ram=1G", ...st.slice(i, i + 1 + (i % 6))].join("\n")));
  }
  return out;
}

// ---------------------------------------------------------------- mutation

const TOKEN =
  /\s+|"(?:[^"\\\n]|\\.)*"?|[A-Za-z_][A-Za-z0-9_.-]*|[0-9][0-9A-Za-z.]*|[^\sA-Za-z0-9_]/g;

const HOSTILE = [
  "0",
  "-1",
  "1.5",
  "1e400",
  "99999999999999999999",
  "0xffffffffffffffffff",
  "64Ti",
  "64T",
  "1P",
  "16G",
  "4GB5",
  "0x",
  "NaN",
  "Infinity",
  "true",
  "$i",
  "$nope",
  "(1/0)",
  "(-1)",
  '"x"',
  "'",
  '"',
  "#",
  "\\\n",
  "x".repeat(300),
  "nth:1",
  "prob:1",
  "byte:300",
  "pattern:0x1ffffffff",
  "off",
  "200%",
  "1M:4K:r",
];

const OPERATORS = ["==", "!=", "&&", "||", "!", "-", "+", "*", "/", "%", "<", ">=", "="];
const SEPARATORS = ["\n", ";", " ", "{", "}", "(", ")", "[", "]", ",", "\t", "\r\n"];

let dictionary: string[] | null = null;

/** Words of the table: commands, kinds, options (with `=`), metrics, enum values. */
function words(): string[] {
  if (dictionary !== null) return dictionary;
  const d = new Set<string>();
  for (const c of TABLE.commands.values()) {
    d.add(c.name);
    for (const o of c.options) d.add(o.flag ? o.name : `${o.name}=`);
    for (const p of c.positionals) for (const w of kindWords(p.kind)) d.add(w);
  }
  for (const k of TABLE.objectKinds.values()) {
    d.add(k.name);
    for (const o of k.options) d.add(o.flag ? o.name : `${o.name}=`);
  }
  for (const m of TABLE.metrics.keys()) d.add(m);
  for (const w of ["x", "y", "guest", "i", "n", "repeat", "sweep", "in", "try", "include"]) {
    d.add(w);
  }
  dictionary = [...d];
  return dictionary;
}

function tokens(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

function nest(rng: Rng, depth: number): string {
  switch (rng.int(5)) {
    case 0:
      return "expect " + "(".repeat(depth) + "1" + ")".repeat(depth) + " == 1";
    case 1:
      return "let x = " + rng.pick(["-", "!"]).repeat(depth) + "1";
    case 2:
      return "repeat 1 {\n".repeat(depth) + "let y = 1\n" + "}\n".repeat(depth);
    case 3:
      return "expect " + "1 + ".repeat(depth) + "1 > 0";
    default:
      return "try {\n".repeat(depth) + "kexec\n" + "}\n".repeat(depth);
  }
}

function mutateText(rng: Rng, text: string, others: readonly string[]): string {
  const k = rng.int(100);
  if (k < 55) {
    const t = tokens(text);
    if (t.length === 0) return text + rng.pick(words());
    const i = rng.int(t.length);
    const pick = () =>
      rng.chance(0.5)
        ? rng.pick(words())
        : rng.chance(0.6)
        ? rng.pick(HOSTILE)
        : rng.pick(rng.chance(0.5) ? OPERATORS : SEPARATORS);
    switch (rng.int(6)) {
      case 0:
        t.splice(i, 1);
        break;
      case 1:
        t.splice(i, 0, t[i]);
        break;
      case 2: {
        const j = rng.int(t.length);
        [t[i], t[j]] = [t[j], t[i]];
        break;
      }
      case 3:
        t[i] = pick();
        break;
      default:
        t.splice(i, 0, rng.chance(0.5) ? " " : "", pick(), rng.chance(0.5) ? " " : "");
    }
    return t.join("");
  }
  if (k < 70) {
    const lines = text.split("\n");
    const at = rng.int(lines.length + 1);
    let add: string;
    switch (rng.int(6)) {
      case 0:
        add = nest(rng, rng.chance(0.95) ? rng.pick([200, 255, 256, 257, 300]) : 20000);
        break;
      case 1:
        add = `repeat ${rng.pick(["100000", "99999", "2", "0", "-1"])} { repeat 100000 { ` +
          `${rng.pick(["let z = i", "measure", "x = pages count=1\nfree x", "kexec"])} } }`;
        break;
      case 2:
        add = `include ${rng.pick([...corpusScripts().keys(), "self.kho", "/dev/zero", "."])}`;
        break;
      case 3: {
        const o = rng.pick(others).split("\n");
        add = o[rng.int(o.length)];
        break;
      }
      case 4:
        add = Array.from(
          { length: rng.range(20, rng.chance(0.95) ? 200 : 3000) },
          () => rng.pick(words()),
        ).join(";");
        break;
      default:
        add = rng.pick(tableStatements());
    }
    lines.splice(at, 0, add);
    return lines.join("\n");
  }
  return text;
}

function mutateBytes(rng: Rng, b: Uint8Array): Uint8Array {
  switch (rng.int(6)) {
    case 0:
      if (b.length) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    case 1:
      if (b.length) b[rng.int(b.length)] = rng.pick([0, 0x1b, 0x7f, 0x80, 0xc0, 0xff, 0x0d, 9]);
      return b;
    case 2: {
      const at = rng.int(b.length + 1);
      const junk = rng.fillBytes(new Uint8Array(rng.range(1, 64)));
      const out = new Uint8Array(b.length + junk.length);
      out.set(b.subarray(0, at));
      out.set(junk, at);
      out.set(b.subarray(at), at + junk.length);
      return out;
    }
    case 3: {
      const out = new Uint8Array(b.length + 3);
      out.set([0xef, 0xbb, 0xbf]);
      out.set(b, 3);
      return out;
    }
    default:
      return b.subarray(0, rng.int(b.length + 1));
  }
}

/** A new script: a corpus script mutated 1–4 times. */
function generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
  const dec = new TextDecoder();
  const enc = new TextEncoder();
  const others = [...corpusScripts().values()];
  let text = dec.decode(rng.pick(corpus));
  const n = 1 + rng.int(4);
  let bytes: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    if (rng.int(100) < 85) {
      if (bytes) text = dec.decode(bytes);
      bytes = null;
      text = mutateText(rng, text, others);
    } else {
      bytes = mutateBytes(rng, bytes ?? enc.encode(text));
    }
  }
  return bytes ?? enc.encode(text);
}

// ---------------------------------------------------------------- execution

/** Includes resolve among the corpus' scripts (`self.kho`: the script itself). */
function reader(self: string): (path: string) => string {
  return (path) => {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (name === "self.kho") return self;
    const t = corpusScripts().get(name);
    if (t === undefined) throw new Deno.errors.NotFound(`${path}: not in the fuzz corpus`);
    return t;
  };
}

/**
 * Runs one script through parse, check and run. Throws for what is a finding: an exception
 * escaping them (not the language's diagnostics) or an internal error.
 */
function execute(input: Uint8Array): DslObservation {
  const text = new TextDecoder().decode(input);
  const c = checkScript(text, { file: "fuzz.kho", readFile: reader(text) });
  const syntaxErrors = c.errors.length + c.more;
  if (c.ok !== (syntaxErrors === 0)) {
    throw new Error(`check: ok ${c.ok} with ${syntaxErrors} errors`);
  }
  // The budget is over what the process holds now (earlier inputs' garbage included).
  const baseline = hostMemoryInUse();
  const r = runScript(text, {
    file: "fuzz.kho",
    clock: new ManualClock(),
    readFile: reader(text),
    maxSteps: DSL_LIMITS.maxSteps,
    maxRamBytes: DSL_LIMITS.maxRamBytes,
    // The checks keep an eighth of a budget for what they do not see: allow a full allowance.
    maxMemoryBytes: Math.ceil((baseline + DSL_LIMITS.memoryAllowanceBytes) * 8 / 7),
  });
  const err = r.results.error;
  if (err?.kind === "internal") throw new Error(`internal error: ${err.message}`);
  if (syntaxErrors > 0 && err?.kind !== "syntax") {
    throw new Error(`a script with syntax errors ran: ${err?.kind ?? "no error"}`);
  }
  return { syntaxErrors, exitCode: r.exitCode, error: err?.kind ?? "" };
}

function stats(): FuzzStats<DslObservation> {
  const byExit = new Map<string, number>();
  let syntax = 0;
  return {
    add(o) {
      const key = `exit ${o.exitCode}${o.error ? ` (${o.error})` : ""}`;
      byExit.set(key, (byExit.get(key) ?? 0) + 1);
      if (o.syntaxErrors > 0) syntax++;
    },
    toString: () =>
      `runs: ${[...byExit].sort().map(([k, n]) => `${k} ${n}`).join(", ")}; ` +
      `with syntax errors ${syntax}`,
  };
}

/** The dsl target. */
export const target: FuzzTarget<DslObservation> = {
  name: "dsl",
  description: "mutated scripts through parse, check and run with small budgets",
  maxInputBytes: DSL_MAX_INPUT_BYTES,
  childFlags: ["--allow-read", "--allow-env"],
  corpus,
  generate,
  execute,
  stats,
};
