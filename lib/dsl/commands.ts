/**
 * The command table of the kholab language: every command and object kind with its
 * positionals, options, value kinds and documentation. The parser validates statements
 * against it, `help` prints it, the REPL completes from it, and the interpreter dispatches
 * through it. New commands and object kinds (KHO clients, trackers, metrics) plug in with
 * {@link registerCommand} and {@link registerObjectKind}.
 *
 * @module
 */

import type { Stmt } from "./ast.ts";
import type { Interpreter } from "./interpreter.ts";
import { kindName, type ValueKind } from "./values.ts";

/** One `key=value` option (or bare flag) of a command. */
export interface OptionSpec {
  /** Option name. */
  readonly name: string;
  /** Kind of its value. */
  readonly kind: ValueKind;
  /** One line of documentation. */
  readonly doc: string;
  /** Must be given. */
  readonly required?: boolean;
  /** May be written bare (`huge`), meaning `huge=on`. Its kind is then "bool". */
  readonly flag?: boolean;
  /** May be given more than once (values collected in a list). */
  readonly repeatable?: boolean;
  /** Default, for help. */
  readonly default?: string;
}

/** One positional argument. */
export interface PositionalSpec {
  /** Name shown in usage (`OBJECT`, `TOPIC`). */
  readonly name: string;
  /** Kind of its value. */
  readonly kind: ValueKind;
  /** One line of documentation. */
  readonly doc: string;
  /** May be left out. */
  readonly optional?: boolean;
  /** Takes every remaining positional (at least one unless optional). */
  readonly variadic?: boolean;
}

/** The converted arguments of one statement. */
export interface Invocation {
  /** Positionals, converted (a variadic one is spread into the list). */
  readonly args: unknown[];
  /** Options by name, converted (repeatable options as arrays, flags as booleans). */
  readonly opts: Record<string, unknown>;
  /** The statement. */
  readonly stmt: Stmt;
}

/** A command. */
export interface CommandSpec {
  /** Command name. */
  readonly name: string;
  /** One-line summary. */
  readonly summary: string;
  /** Longer help text (may be several lines). */
  readonly details?: string;
  /** Positional arguments, in order. */
  readonly positionals: readonly PositionalSpec[];
  /** Options. */
  readonly options: readonly OptionSpec[];
  /**
   * Statements with their own grammar (`let`, `expect`, `repeat`, `sweep`, `include`) are
   * parsed and run by the parser and interpreter themselves; their entry here is for help
   * and completion.
   */
  readonly special?: string;
  /** Runs the command (absent for special forms). */
  readonly run?: (rt: Interpreter, inv: Invocation) => void;
}

/** An object kind, created with `NAME = KIND options…`. */
export interface ObjectKindSpec {
  /** Kind name. */
  readonly name: string;
  /** One-line summary. */
  readonly summary: string;
  /** Longer help. */
  readonly details?: string;
  /** Options. */
  readonly options: readonly OptionSpec[];
  /** Allocates and fills the object's memory, registering it under `name`. */
  readonly create: (rt: Interpreter, name: string, inv: Invocation) => void;
}

const FILL: OptionSpec = {
  name: "fill",
  kind: "fill",
  doc: "content written at creation (verified after kexec)",
  default: "random",
};
const NODE: OptionSpec = { name: "node", kind: "int", doc: "preferred NUMA node" };
const OBJECTS: PositionalSpec = {
  name: "OBJECT",
  kind: "object",
  doc: "object names",
  variadic: true,
};
const OBJECTS_OR_ALL: PositionalSpec = { ...OBJECTS, optional: true, doc: "objects (all)" };

/** Topics of `show`. */
export const SHOW_TOPICS = [
  "table",
  "metrics",
  "objects",
  "log",
  "buddyinfo",
  "fdt",
  "tracker",
  "scratch",
  "profiles",
  "config",
] as const;

const names = (inv: Invocation) => inv.args as string[];

/** Every command, by name. */
export const COMMANDS: Map<string, CommandSpec> = new Map();
/** Every object kind, by name. */
export const OBJECT_KINDS: Map<string, ObjectKindSpec> = new Map();

/** Adds (or replaces) a command. */
export function registerCommand(spec: CommandSpec): void {
  COMMANDS.set(spec.name, spec);
}

/** Adds (or replaces) an object kind. */
export function registerObjectKind(spec: ObjectKindSpec): void {
  OBJECT_KINDS.set(spec.name, spec);
}

/** `NAME [ARG] [opt=KIND]…` usage line of a command or `NAME = kind …` of an object kind. */
export function usage(spec: CommandSpec | ObjectKindSpec): string {
  const parts: string[] = [];
  if ("positionals" in spec) {
    if (spec.special) return spec.special;
    parts.push(spec.name);
    for (const p of spec.positionals) {
      const s = p.variadic ? `${p.name}…` : p.name;
      parts.push(p.optional ? `[${s}]` : s);
    }
  } else {
    parts.push(`NAME = ${spec.name}`);
  }
  for (const o of spec.options) {
    const s = o.flag ? o.name : `${o.name}=${kindName(o.kind)}`;
    parts.push(o.required ? s : `[${s}]`);
  }
  return parts.join(" ");
}

// ------------------------------------------------------------------ configuration

registerCommand({
  name: "seed",
  summary: "seed the random generator (fills, page choices)",
  positionals: [{ name: "N", kind: "int", doc: "seed" }],
  options: [],
  run: (rt, inv) => rt.setSeed(inv.args[0] as number),
});

registerCommand({
  name: "machine",
  summary: "power on a new machine (drops the current one)",
  details: "ram= is the memory for workloads; the interpreter adds headroom= for the kernel\n" +
    "(default ram/128, at least 256M: 1T gets 8G, as bench/hyper_scale.ts) and does not\n" +
    "charge struct pages to memblock unless memmap=64 (bytes per page) is given, so a\n" +
    "1 TiB machine can give 1008 GiB to guests and keep 16 GiB for the hypervisor.",
  positionals: [],
  options: [
    { name: "ram", kind: "size", doc: "RAM for workloads", default: "4G" },
    { name: "nodes", kind: "int", doc: "NUMA nodes", default: "1" },
    { name: "headroom", kind: "size", doc: "extra RAM for the kernel", default: "ram/128" },
    { name: "memmap", kind: "int", doc: "struct page bytes charged per page", default: "0" },
    { name: "poison", kind: "bool", doc: "poison memory handed to the allocator", default: "on" },
  ],
  run: (rt, inv) => rt.machineCommand(inv.opts),
});

registerCommand({
  name: "profile",
  summary: "KHO ABI profile (before boot: the first kernel; after: the next kexec)",
  positionals: [{ name: "PROFILE", kind: "profile", doc: "profile name" }],
  options: [],
  run: (rt, inv) => rt.profileCommand(inv.args[0] as string),
});

registerCommand({
  name: "kernel",
  summary: "kernel boot parameters (before boot: first kernel; after: next kexec)",
  details: "fail= arms allocation fault injection in the running kernel (or right after the\n" +
    "first boot); a kexec'd kernel starts with fault injection off.",
  positionals: [],
  options: [
    { name: "kho", kind: "bool", doc: "kho=on|off", default: "on" },
    { name: "kho_scratch", kind: "scratch", doc: "scratch sizing", default: "200%" },
    {
      name: "reserve_mem",
      kind: "reservemem",
      doc: "reserve_mem=SIZE:ALIGN:NAME",
      repeatable: true,
    },
    { name: "fail", kind: "fault", doc: "fault injection, e.g. nth:3 or prob:0.01,seed:5" },
    { name: "cmdline", kind: "string", doc: "extra command-line words" },
  ],
  run: (rt, inv) => rt.kernelCommand(inv.opts),
});

// ------------------------------------------------------------------ KHO

registerCommand({
  name: "preserve",
  summary: "preserve objects for the next kernel (kho_preserve_folio / _pages)",
  details: "All or nothing: when one block fails, everything this command preserved is\n" +
    "unpreserved again.",
  positionals: [OBJECTS],
  options: [],
  run: (rt, inv) => rt.preserve(names(inv)),
});

registerCommand({
  name: "unpreserve",
  summary: "undo preserve (kho_unpreserve_folio / _pages)",
  positionals: [OBJECTS],
  options: [],
  run: (rt, inv) => rt.unpreserve(names(inv)),
});

registerCommand({
  name: "split",
  summary: "split high-order pages objects into order-0 pages (split_page)",
  positionals: [OBJECTS],
  options: [],
  run: (rt, inv) => rt.split(names(inv)),
});

registerCommand({
  name: "free",
  summary: "free objects (they must not be preserved)",
  positionals: [OBJECTS],
  options: [],
  run: (rt, inv) => rt.free(names(inv)),
});

registerCommand({
  name: "subtree",
  summary: "add (or remove) a KHO sub-tree: a preserved blob named in the root FDT",
  positionals: [{ name: "NAME", kind: "name", doc: "sub-tree and object name" }],
  options: [
    { name: "size", kind: "size", doc: "blob size (≤ 4M)", default: "4K" },
    FILL,
    { name: "remove", kind: "bool", flag: true, doc: "remove the sub-tree and free its blob" },
  ],
  run: (rt, inv) => rt.subtree(inv.args[0] as string, inv.opts),
});

registerCommand({
  name: "finalize",
  summary: "kho finalize (only profiles with a finalize step; radix profiles: EOPNOTSUPP)",
  positionals: [],
  options: [],
  run: (rt) => rt.finalizeOrAbort("finalize"),
});

registerCommand({
  name: "abort",
  summary: "kho abort (only profiles with a finalize step; radix profiles: EOPNOTSUPP)",
  positionals: [],
  options: [],
  run: (rt) => rt.finalizeOrAbort("abort"),
});

registerCommand({
  name: "kexec",
  summary: "kexec into the next kernel; objects are re-found from memory",
  details: "Writes the named-object table sub-tree, then kexecs. JavaScript state does not\n" +
    "cross: the successor reads the table from physical memory and lists the objects as\n" +
    "incoming until `restore`.",
  positionals: [],
  options: [
    { name: "profile", kind: "profile", doc: "profile of the next kernel" },
    { name: "cmdline", kind: "string", doc: "extra command-line words" },
  ],
  run: (rt, inv) => rt.kexec(inv.opts),
});

registerCommand({
  name: "restore",
  summary: "restore incoming objects (kho_restore_folio / _pages); failures are counted",
  positionals: [OBJECTS_OR_ALL],
  options: [],
  run: (rt, inv) => rt.restore(names(inv)),
});

registerCommand({
  name: "verify",
  summary: "compare objects' contents with their creation hash; mismatches are counted",
  positionals: [OBJECTS_OR_ALL],
  options: [],
  run: (rt, inv) => rt.verify(names(inv)),
});

// ------------------------------------------------------------------ observation

registerCommand({
  name: "measure",
  summary: "record every metric as a row of the table",
  positionals: [],
  options: [{ name: "label", kind: "word", doc: "row label", default: "m1, m2, …" }],
  run: (rt, inv) => rt.measure(inv.opts.label as string | undefined),
});

registerCommand({
  name: "show",
  summary: "print table|metrics|objects|log|buddyinfo|fdt|tracker|scratch|profiles|config",
  positionals: [{ name: "TOPIC", kind: { enum: SHOW_TOPICS }, doc: "what to show" }],
  options: [
    { name: "columns", kind: "word", doc: "table: comma-separated metric names" },
    { name: "grep", kind: "string", doc: "log: only lines containing this text" },
    { name: "subtrees", kind: "bool", flag: true, doc: "fdt: also every sub-tree that is an FDT" },
  ],
  run: (rt, inv) => rt.show(inv.args[0] as string, inv.opts),
});

registerCommand({
  name: "help",
  summary: "list commands, or explain one",
  positionals: [{ name: "COMMAND", kind: "word", doc: "command or object kind", optional: true }],
  options: [],
  run: (rt, inv) => rt.help(inv.args[0] as string | undefined),
});

// ------------------------------------------------------------------ special forms

const SPECIAL: [string, string, string, string?][] = [
  ["let", "let NAME = EXPR", "bind a variable (use it as NAME in expressions, $NAME in options)"],
  [
    "expect",
    "expect EXPR",
    "check a condition; a false one fails the script (exit code 1) but it goes on",
    "EXPR: numbers (4K, 16G, 1Mi, 64Ki, 1k, 0x10), strings, metric names (restore.failed,\n" +
    "tracker.pages, kexec.count, …), object properties (guest.folios, iommu.preserved),\n" +
    "measured rows (before_kexec.tracker.pages), variables; + - * / %, == != < <= > >=,\n" +
    "&& || !, parentheses. `show metrics` lists the metric names.",
  ],
  ["repeat", "repeat N { … }", "run a block N times (the variable `i` counts from 0)"],
  ["sweep", "sweep VAR in [v1, v2, …] { … }", "run a block once per value"],
  [
    "try",
    "try { … }",
    "run a block; a runtime error in it is printed and recorded, and the script goes on",
    'After it: error.code is the errno name of the last error ("" if none), try.failed\n' +
    "counts failed try blocks. The failed command itself left no trace (rolled back).",
  ],
  ["include", "include FILE", "run another script (path relative to this one)"],
];
for (const [name, syntax, summary, details] of SPECIAL) {
  registerCommand({ name, summary, details, positionals: [], options: [], special: syntax });
}

// ------------------------------------------------------------------ object kinds

registerObjectKind({
  name: "folios",
  summary: "COUNT folios of one order (order > 10: gigantic, e.g. 18 = 1 GiB)",
  options: [
    { name: "order", kind: "int", doc: "folio order (0..18)", required: true },
    { name: "count", kind: "count", doc: "how many", default: "1" },
    FILL,
    NODE,
  ],
  create: (rt, name, inv) => rt.createObject("folios", name, inv.opts),
});

registerObjectKind({
  name: "pages",
  summary: "COUNT blocks of 2^order pages (kho_preserve_pages), optionally scattered",
  details: "within=SIZE draws order-0 pages at random from a pool of that size (the pool\n" +
    "stays allocated; only the chosen pages are preserved). split makes every page of a\n" +
    "block its own page (split_page) at creation.",
  options: [
    { name: "count", kind: "count", doc: "how many blocks", default: "1" },
    { name: "order", kind: "int", doc: "block order (0..10)", default: "0" },
    { name: "within", kind: "size", doc: "scatter order-0 pages over a pool of this size" },
    { name: "split", kind: "bool", flag: true, doc: "split each block into order-0 pages" },
    FILL,
    NODE,
  ],
  create: (rt, name, inv) => rt.createObject("pages", name, inv.opts),
});

registerObjectKind({
  name: "vmalloc",
  summary: "a vmalloc area (huge: VM_ALLOW_HUGE_VMAP); its pages are preserved",
  options: [
    { name: "size", kind: "size", doc: "area size", required: true },
    { name: "huge", kind: "bool", flag: true, doc: "vmalloc_huge (2 MiB blocks, split)" },
    FILL,
    NODE,
  ],
  create: (rt, name, inv) => rt.createObject("vmalloc", name, inv.opts),
});

registerObjectKind({
  name: "memfd",
  summary: "a memfd-like file of SIZE bytes in folios of folio=SIZE (4K, 2M, 1G, …)",
  options: [
    { name: "size", kind: "size", doc: "file size", required: true },
    { name: "folio", kind: "size", doc: "folio size (power of two ≥ 4K)", default: "4K" },
    FILL,
  ],
  create: (rt, name, inv) => rt.createObject("memfd", name, inv.opts),
});

registerObjectKind({
  name: "reserve_mem",
  summary: "a physically contiguous reserved range (like reserve_mem=SIZE:ALIGN:NAME)",
  options: [
    { name: "size", kind: "size", doc: "bytes", required: true },
    { name: "align", kind: "size", doc: "alignment (power of two)", default: "4K" },
    FILL,
  ],
  create: (rt, name, inv) => rt.createObject("reserve_mem", name, inv.opts),
});
