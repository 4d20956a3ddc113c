/**
 * The interpreter of the kholab language: runs parsed statements against a simulated
 * machine and its kernels. Commands are dispatched through the command table; each one is
 * a transaction (a failed command leaves the state as before and raises a
 * {@link ScriptRuntimeError} naming the line, the command and the kernel's errno).
 *
 * Objects belong to one kernel. `kexec` writes the named-object table into preserved
 * memory; the successor re-finds the objects there — no JavaScript object crosses.
 *
 * @module
 */

import { FdtError, KhoError, PhysRangeError } from "../errors.ts";
import type { FaultOptions } from "../kernel/faults.ts";
import { Kernel, KernelPanic } from "../boot/kernel.ts";
import { CURRENT_PROFILE, type ProfileName } from "../kho/abi/profiles.ts";
import { Machine } from "../machine/machine.ts";
import { type Clock, deriveSeed, Rng } from "../rng.ts";
import { formatSize, GiB, MiB, SECTION_SIZE } from "../units.ts";
import type { Expr, Program, Stmt, Value } from "./ast.ts";
import { COMMANDS, type Invocation, OBJECT_KINDS, type OptionSpec } from "./commands.ts";
import {
  CommandError,
  didYouMean,
  ScriptRuntimeError,
  ScriptSyntaxErrors,
  type Span,
} from "./errors.ts";
import { helpText } from "./help.ts";
import { METRICS } from "./metrics.ts";
import "./scenario_command.ts";
import { discardObjectTable, readObjectTable, writeObjectTable } from "./object_table.ts";
import {
  createObject,
  createSubtree,
  DslObject,
  freeObject,
  preserveObject,
  removeSubtree,
  restoreObject,
  splitObject,
  unpreserveObject,
  verifyObject,
} from "./objects.ts";
import { numberLiteralValue, parse } from "./parser.ts";
import { showTopic } from "./show.ts";
import {
  convertValue,
  type FaultSpec,
  type FillSpecDsl,
  type ScalarValue,
  ValueError,
} from "./values.ts";

/** Options of an {@link Interpreter}. */
export interface InterpreterOptions {
  /** Script name for diagnostics. Default `<script>`. */
  file?: string;
  /** Initial seed (a `seed` command overrides it). Default 42. */
  seed?: number;
  /** Called with each line of output as it is produced. */
  onOutput?: (line: string) => void;
  /** Reads an included file (default: Deno.readTextFileSync). */
  readFile?: (path: string) => string;
  /** Largest machine a script may power on (bytes). Default 64 TiB. */
  maxRamBytes?: number;
  /** Clock for wall-clock metrics (the `scenario` command's `*Ms`); the caller hands it in. */
  clock: Clock;
}

/** Counters the language keeps across kexecs. */
export interface ScriptStats {
  /** kexecs run. */
  kexecs: number;
  /** Blocks restored. */
  restoreOk: number;
  /** Blocks whose restore failed. */
  restoreFailed: number;
  /** Objects verified equal. */
  verifyOk: number;
  /** Objects that differed. */
  verifyFailed: number;
  /** Expectations that held. */
  expectPassed: number;
  /** Expectations that failed. */
  expectFailed: number;
  /** `try` blocks that caught an error. */
  tryFailed: number;
}

/** One `measure` row. */
export interface MeasureRow {
  /** Row label. */
  label: string;
  /** Every metric at that point. */
  metrics: Record<string, number | string>;
}

/** One evaluated `expect`. */
export interface ExpectResult {
  /** Script name. */
  file: string;
  /** Line. */
  line: number;
  /** The expression as written. */
  source: string;
  /** Whether it held. */
  ok: boolean;
  /** Values of the names it used. */
  values: Record<string, ScalarValue>;
}

/** Machine configuration (`machine`). */
export interface MachineConfig {
  /** RAM for workloads. */
  ramBytes: number;
  /** NUMA nodes. */
  nodes: number;
  /** Extra RAM for the kernel (null: ram/128, at least 256 MiB). */
  headroomBytes: number | null;
  /** struct page bytes per page charged to memblock. */
  memmapBytesPerPage: number;
  /** Poison memory handed to the allocator. */
  poison: boolean;
}

/** Kernel command-line configuration (`kernel`). */
export interface KernelConfig {
  /** kho= */
  kho?: boolean;
  /** kho_scratch= */
  khoScratch?: string;
  /** reserve_mem= values. */
  reserveMem: string[];
  /** Extra words. */
  extra: string;
}

const INCLUDE_DEPTH = 8;
const REPEAT_MAX = 100_000;

/** The default machine headroom for `ram`: ram/128, at least 256 MiB, section-aligned. */
export function defaultHeadroom(ramBytes: number): number {
  return Math.ceil(Math.max(ramBytes / 128, 256 * MiB) / SECTION_SIZE) * SECTION_SIZE;
}

/**
 * Runs kholab statements.
 *
 * @example
 * ```ts
 * import { Interpreter } from "./interpreter.ts";
 * import { parse } from "./parser.ts";
 * import { ManualClock } from "../rng.ts";
 * const rt = new Interpreter({ clock: new ManualClock() });
 * rt.run(parse("machine ram=2G\nb = folios order=3 count=2\npreserve b\nkexec\nrestore b\nverify b"));
 * console.assert(rt.stats.verifyOk === 1);
 * ```
 */
export class Interpreter {
  /** Script name. */
  readonly file: string;
  /** Output lines so far. */
  readonly output: string[] = [];
  /** Counters. */
  readonly stats: ScriptStats = {
    kexecs: 0,
    restoreOk: 0,
    restoreFailed: 0,
    verifyOk: 0,
    verifyFailed: 0,
    expectPassed: 0,
    expectFailed: 0,
    tryFailed: 0,
  };
  /** errno name of the last error caught by `try` ("" if none). */
  lastErrorCode = "";
  /** Measured rows. */
  readonly rows: MeasureRow[] = [];
  /** Evaluated expectations. */
  readonly expects: ExpectResult[] = [];
  /** Variables. */
  readonly vars: Map<string, ScalarValue> = new Map();
  /** Machine configuration for the next power-on. */
  machineConfig: MachineConfig = {
    ramBytes: 4 * GiB,
    nodes: 1,
    headroomBytes: null,
    memmapBytesPerPage: 0,
    poison: true,
  };
  /** Profile of the first kernel. */
  bootProfile: ProfileName = CURRENT_PROFILE;
  /** Profile of the next kexec (null: the running kernel's). */
  nextProfile: ProfileName | null = null;
  /** Command line of the first kernel and of kexecs. */
  kernelConfig: KernelConfig = { reserveMem: [], extra: "" };
  /** Fault injection to arm right after the first boot. */
  pendingFaults: FaultOptions | null = null;
  /** The machine, once powered on. */
  machine: Machine | null = null;
  /** The running kernel. */
  kernel: Kernel | null = null;
  /** Objects of the running kernel (rebuilt from memory at each kexec). */
  objects: Map<string, DslObject> = new Map();
  /** Seed. */
  seed: number;
  #streams = 0;
  #undo: (() => void)[] = [];
  #source: string;
  #fileStack: string[] = [];
  readonly #onOutput?: (line: string) => void;
  readonly #readFile: (path: string) => string;
  readonly #maxRam: number;
  /** The clock wall-clock metrics read. */
  readonly clock: Clock;

  /** Creates an interpreter with no machine yet. */
  constructor(options: InterpreterOptions) {
    this.file = options.file ?? "<script>";
    this.seed = options.seed ?? 42;
    this.#onOutput = options.onOutput;
    this.#readFile = options.readFile ?? ((p) => Deno.readTextFileSync(p));
    this.#maxRam = options.maxRamBytes ?? 2 ** 46;
    this.clock = options.clock;
    this.#source = "";
    this.#fileStack = [this.file];
  }

  /** Prints a line of output. */
  print(text: string): void {
    for (const line of text.split("\n")) {
      this.output.push(line);
      this.#onOutput?.(line);
    }
  }

  /** Registers an undo action of the current command (run if the command fails). */
  onUndo(fn: () => void): void {
    this.#undo.push(fn);
  }

  /** A fresh seeded generator for one use (undone with the command). */
  rng(): Rng {
    const n = this.#streams++;
    this.onUndo(() => this.#streams = n);
    return new Rng(deriveSeed(this.seed, `stream${n}`));
  }

  // ---------------------------------------------------------------- running

  /** Runs a parsed program (stops at the first runtime error, which it throws). */
  run(program: Program): void {
    const prevSource = this.#source;
    this.#source = program.source;
    this.#fileStack.push(program.file);
    try {
      this.#block(program.body);
    } finally {
      this.#fileStack.pop();
      this.#source = prevSource;
    }
  }

  /** Parses and runs text (REPL lines); throws ScriptSyntaxErrors or ScriptRuntimeError. */
  runText(text: string, file = this.file): void {
    this.run(parse(text, { file }));
  }

  get #file(): string {
    return this.#fileStack[this.#fileStack.length - 1];
  }

  #block(body: Stmt[]): void {
    for (const s of body) this.#statement(s);
  }

  #statement(s: Stmt): void {
    switch (s.kind) {
      case "repeat": {
        const n = this.#guard(s, "repeat", () => {
          const v = this.eval(s.count);
          if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > REPEAT_MAX) {
            throw new CommandError(null, `count must be an integer 0..${REPEAT_MAX}, got ${v}`);
          }
          return v;
        });
        const prev = this.vars.get("i");
        try {
          for (let i = 0; i < n; i++) {
            this.vars.set("i", i);
            this.#block(s.body);
          }
        } finally {
          if (prev === undefined) this.vars.delete("i");
          else this.vars.set("i", prev);
        }
        return;
      }
      case "sweep": {
        const values = this.#guard(s, "sweep", () => s.values.map((v) => this.#sweepValue(v)));
        const prev = this.vars.get(s.variable);
        try {
          for (const v of values) {
            this.vars.set(s.variable, v);
            this.#block(s.body);
          }
        } finally {
          if (prev === undefined) this.vars.delete(s.variable);
          else this.vars.set(s.variable, prev);
        }
        return;
      }
      case "try": {
        try {
          this.#block(s.body);
        } catch (e) {
          if (!(e instanceof ScriptRuntimeError)) throw e;
          this.stats.tryFailed++;
          this.lastErrorCode = e.code ?? "ERROR";
          this.print(`try: ${e.message.split("\n")[0]}`);
        }
        return;
      }
      case "include": {
        const program = this.#guard(s, "include", () => {
          if (this.#fileStack.length > INCLUDE_DEPTH) {
            throw new CommandError("ELOOP", `includes nested deeper than ${INCLUDE_DEPTH}`);
          }
          const raw = this.#raw(s.path);
          const path = String(raw);
          const base = this.#file;
          const resolved = path.startsWith("/") || !base.includes("/")
            ? path
            : base.slice(0, base.lastIndexOf("/") + 1) + path;
          let text: string;
          try {
            text = this.#readFile(resolved);
          } catch (e) {
            throw new CommandError("ENOENT", `${resolved}: ${(e as Error).message}`);
          }
          return parse(text, { file: resolved });
        });
        this.run(program);
        return;
      }
      default:
        this.#guard(s, this.#commandName(s), () => this.#simple(s));
    }
  }

  #commandName(s: Stmt): string {
    if (s.kind === "command") return s.name;
    if (s.kind === "assign") return s.objectKind;
    return s.kind;
  }

  /** Runs fn as a transaction: on error, undo and throw a ScriptRuntimeError. */
  #guard<T>(s: Stmt, command: string, fn: () => T): T {
    this.#undo = [];
    try {
      const r = fn();
      this.#undo = [];
      return r;
    } catch (e) {
      const undo = this.#undo;
      this.#undo = [];
      for (let i = undo.length - 1; i >= 0; i--) undo[i]();
      throw this.#toRuntime(e, s, command);
    }
  }

  #toRuntime(e: unknown, s: Stmt, command: string): unknown {
    if (e instanceof ScriptRuntimeError || e instanceof ScriptSyntaxErrors) return e;
    let span: Span = s.kind === "assign" ? s.kindSpan : s.span;
    let code: string | null = null;
    let reason: string;
    if (e instanceof SpannedError) {
      span = e.span;
      reason = e.message;
      code = e.code;
    } else if (e instanceof CommandError || e instanceof KhoError || e instanceof FdtError) {
      code = e.code;
      reason = e.message;
      if (e instanceof CommandError && e.token !== null && "args" in s) {
        const arg = s.args.find((a) => a.kind !== "expr" && a.text === e.token);
        if (arg) span = arg.span;
      }
    } else if (e instanceof KernelPanic) {
      reason = e.message;
    } else if (e instanceof ValueError) {
      reason = e.message;
    } else if (e instanceof PhysRangeError || e instanceof RangeError) {
      code = "EINVAL";
      reason = `EINVAL: ${(e as Error).message}`;
    } else {
      return e;
    }
    return new ScriptRuntimeError(reason, {
      file: this.#file,
      span,
      command,
      code,
      source: this.#source,
      cause: e,
    });
  }

  #simple(s: Stmt): void {
    switch (s.kind) {
      case "let": {
        const v = this.eval(s.expr);
        const prev = this.vars.get(s.name);
        this.vars.set(s.name, v);
        this.onUndo(() =>
          prev === undefined ? this.vars.delete(s.name) : this.vars.set(s.name, prev)
        );
        return;
      }
      case "expect":
        return this.#expect(s);
      case "command": {
        const spec = COMMANDS.get(s.name);
        if (!spec?.run) throw new CommandError(null, `unknown command "${s.name}"`);
        spec.run(this, this.#invocation(s, spec.positionals, spec.options));
        return;
      }
      case "assign": {
        const spec = OBJECT_KINDS.get(s.objectKind);
        if (!spec) throw new CommandError(null, `unknown object kind "${s.objectKind}"`);
        spec.create(this, s.target, this.#invocation(s, [], spec.options));
        return;
      }
      default:
        throw new CommandError(null, `cannot run ${s.kind} here`);
    }
  }

  #invocation(
    s: Stmt & { args: Value[]; options: { name: string; value: Value | null; span: Span }[] },
    positionals: readonly { kind: OptionSpec["kind"]; variadic?: boolean }[],
    options: readonly OptionSpec[],
  ): Invocation {
    const args: unknown[] = [];
    s.args.forEach((v, i) => {
      const ps = positionals[Math.min(i, positionals.length - 1)];
      args.push(this.#convert(ps.kind, v));
    });
    const opts: Record<string, unknown> = {};
    for (const o of s.options) {
      const os = options.find((x) => x.name === o.name)!;
      const value = o.value === null ? true : this.#convert(os.kind, o.value);
      if (os.repeatable) ((opts[o.name] ??= []) as unknown[]).push(value);
      else opts[o.name] = value;
    }
    return { args, opts, stmt: s };
  }

  #raw(v: Value): ScalarValue {
    if (v.kind === "expr") return this.eval(v.expr);
    return v.text;
  }

  #convert(kind: OptionSpec["kind"], v: Value): unknown {
    try {
      return convertValue(kind, this.#raw(v));
    } catch (e) {
      if (e instanceof ValueError) throw new SpannedError(null, e.message, v.span);
      throw e;
    }
  }

  #sweepValue(v: Value): ScalarValue {
    const raw = this.#raw(v);
    if (typeof raw === "string" && v.kind === "word") {
      try {
        return numberLiteralValue(raw);
      } catch {
        return raw;
      }
    }
    return raw;
  }

  // ---------------------------------------------------------------- expressions

  /** Evaluates an expression. */
  eval(e: Expr, used?: Record<string, ScalarValue>): ScalarValue {
    switch (e.kind) {
      case "num":
      case "str":
      case "bool":
        return e.value;
      case "name": {
        const v = this.lookup(e.name, e.span);
        if (used) used[e.name] = v;
        return v;
      }
      case "unary": {
        const v = this.eval(e.arg, used);
        if (e.op === "!") return !truthy(v);
        return -this.#num(v, e, "-");
      }
      case "binary": {
        if (e.op === "&&") {
          return truthy(this.eval(e.left, used)) && truthy(this.eval(e.right, used));
        }
        if (e.op === "||") {
          return truthy(this.eval(e.left, used)) || truthy(this.eval(e.right, used));
        }
        const a = this.eval(e.left, used);
        const b = this.eval(e.right, used);
        if (e.op === "==") return a === b;
        if (e.op === "!=") return a !== b;
        if (typeof a === "string" && typeof b === "string") {
          switch (e.op) {
            case "<":
              return a < b;
            case "<=":
              return a <= b;
            case ">":
              return a > b;
            case ">=":
              return a >= b;
            case "+":
              return a + b;
          }
        }
        const x = this.#num(a, e.left, e.op), y = this.#num(b, e.right, e.op);
        switch (e.op) {
          case "<":
            return x < y;
          case "<=":
            return x <= y;
          case ">":
            return x > y;
          case ">=":
            return x >= y;
          case "+":
            return x + y;
          case "-":
            return x - y;
          case "*":
            return x * y;
          case "/":
          case "%":
            if (y === 0) throw new SpannedError(null, "division by zero", e.right.span);
            return e.op === "/" ? x / y : x % y;
        }
      }
    }
  }

  #num(v: ScalarValue, e: Expr, op: string): number {
    if (typeof v === "number") return v;
    if (typeof v === "boolean") return v ? 1 : 0;
    throw new SpannedError(null, `"${op}" needs numbers, got the string "${v}"`, e.span);
  }

  /**
   * Value of a name: a variable, an object property (`guest.folios`), a measured row
   * (`before_kexec.tracker.pages`) or a metric (`restore.failed`).
   */
  lookup(name: string, span?: Span): ScalarValue {
    const v = this.vars.get(name);
    if (v !== undefined) return v;
    const dot = name.indexOf(".");
    if (dot > 0) {
      const head = name.slice(0, dot), rest = name.slice(dot + 1);
      const obj = this.objects.get(head);
      if (obj) return objectProperty(obj, rest, span);
      const row = this.rows.findLast((r) => r.label.replaceAll("-", "_") === head);
      if (row && rest in row.metrics) return row.metrics[rest];
    }
    const metric = METRICS.get(name);
    if (metric) {
      const v = metric.get(this);
      return v ?? 0;
    }
    const candidates = [
      ...this.vars.keys(),
      ...METRICS.keys(),
      ...[...this.objects.keys()].flatMap((o) => OBJECT_PROPERTIES.map((p) => `${o}.${p}`)),
    ];
    const msg = `unknown name "${name}"${didYouMean(name, candidates)}`;
    if (span) throw new SpannedError(null, msg, span);
    throw new CommandError(null, msg);
  }

  #expect(s: Stmt & { kind: "expect" }): void {
    const used: Record<string, ScalarValue> = {};
    const ok = truthy(this.eval(s.expr, used));
    const r: ExpectResult = {
      file: this.#file,
      line: s.span.line,
      source: s.source,
      ok,
      values: used,
    };
    this.expects.push(r);
    if (ok) this.stats.expectPassed++;
    else {
      this.stats.expectFailed++;
      const vals = Object.entries(used).map(([k, v]) => `${k} = ${fmtValue(v)}`).join(", ");
      this.print(
        `${this.#file}:${s.span.line}:${s.span.col}: expect failed: ${s.source}${
          vals ? ` (${vals})` : ""
        }`,
      );
    }
  }

  // ---------------------------------------------------------------- machine and kernel

  /** Boots the first kernel if none runs yet, and returns the running kernel. */
  ensureKernel(): Kernel {
    if (this.kernel) return this.kernel;
    const c = this.machineConfig;
    const total = c.ramBytes + (c.headroomBytes ?? defaultHeadroom(c.ramBytes));
    if (total > this.#maxRam) {
      throw new CommandError(
        "E2BIG",
        `machine of ${formatSize(total)} > limit ${formatSize(this.#maxRam)}`,
      );
    }
    const machine = new Machine({
      ramBytes: Math.ceil(total / SECTION_SIZE) * SECTION_SIZE,
      nodes: c.nodes,
    });
    let kernel: Kernel;
    try {
      kernel = Kernel.coldBoot(machine, {
        cmdline: this.cmdline(),
        profile: this.bootProfile,
        poison: c.poison,
        memmapBytesPerPage: c.memmapBytesPerPage,
      });
    } catch (e) {
      if (e instanceof KernelPanic) throw new CommandError(null, `cold boot: ${e.message}`);
      throw e;
    }
    if (this.pendingFaults) kernel.faults.arm(this.pendingFaults);
    this.machine = machine;
    this.kernel = kernel;
    this.objects = new Map();
    if (!kernel.kho.enabled) this.print(`boot: KHO is off (${kernel.params.raw || "kho=off"})`);
    return kernel;
  }

  /** The kernel command line from the `kernel` settings. */
  cmdline(): string {
    const k = this.kernelConfig;
    const words: string[] = [];
    if (k.kho !== undefined) words.push(`kho=${k.kho ? "on" : "off"}`);
    else words.push("kho=on");
    if (k.khoScratch !== undefined) words.push(`kho_scratch=${k.khoScratch}`);
    for (const r of k.reserveMem) words.push(`reserve_mem=${r}`);
    if (k.extra) words.push(k.extra);
    return words.join(" ");
  }

  #snapshot<T>(get: () => T, set: (v: T) => void): void {
    const v = get();
    this.onUndo(() => set(v));
  }

  /** `seed N`. */
  setSeed(n: number): void {
    const prev = [this.seed, this.#streams] as const;
    this.onUndo(() => [this.seed, this.#streams] = prev);
    this.seed = n;
    this.#streams = 0;
  }

  /** `machine …`: configures (and power-cycles) the machine. */
  machineCommand(o: Record<string, unknown>): void {
    const c: MachineConfig = { ...this.machineConfig };
    if (o.ram !== undefined) c.ramBytes = o.ram as number;
    if (o.nodes !== undefined) c.nodes = o.nodes as number;
    if (o.headroom !== undefined) c.headroomBytes = o.headroom as number;
    if (o.memmap !== undefined) c.memmapBytesPerPage = o.memmap as number;
    if (o.poison !== undefined) c.poison = o.poison as boolean;
    if (!(c.nodes >= 1 && c.nodes <= 64)) {
      throw new CommandError("EINVAL", `nodes=${c.nodes}: 1..64`);
    }
    if (c.ramBytes < 256 * MiB) {
      throw new CommandError("EINVAL", `ram=${c.ramBytes}: at least 256M`);
    }
    if (c.memmapBytesPerPage < 0 || c.memmapBytesPerPage > 256) {
      throw new CommandError("EINVAL", `memmap=${c.memmapBytesPerPage}: 0..256 bytes per page`);
    }
    const total = c.ramBytes + (c.headroomBytes ?? defaultHeadroom(c.ramBytes));
    if (total > this.#maxRam) {
      throw new CommandError(
        "E2BIG",
        `machine of ${formatSize(total)} > limit ${formatSize(this.#maxRam)}`,
      );
    }
    if (total / c.nodes < SECTION_SIZE) {
      throw new CommandError("EINVAL", `${c.nodes} nodes need at least 128 MiB each`);
    }
    const prev = [this.machineConfig, this.machine, this.kernel, this.objects] as const;
    this.onUndo(() => [this.machineConfig, this.machine, this.kernel, this.objects] = prev);
    this.machineConfig = c;
    this.machine = null;
    this.kernel = null;
    this.objects = new Map();
  }

  /** `profile NAME`. */
  profileCommand(name: string): void {
    if (this.kernel === null) {
      this.#snapshot(() => this.bootProfile, (v) => this.bootProfile = v);
      this.bootProfile = name as ProfileName;
    } else {
      this.#snapshot(() => this.nextProfile, (v) => this.nextProfile = v);
      this.nextProfile = name as ProfileName;
      this.print(`profile ${name} takes effect at the next kexec`);
    }
  }

  /** `kernel …`. */
  kernelCommand(o: Record<string, unknown>): void {
    const prev = { ...this.kernelConfig, reserveMem: [...this.kernelConfig.reserveMem] };
    const prevFaults = this.pendingFaults;
    this.onUndo(() => {
      this.kernelConfig = prev;
      this.pendingFaults = prevFaults;
    });
    const k = { ...prev, reserveMem: [...prev.reserveMem] };
    if (o.kho !== undefined) k.kho = o.kho as boolean;
    if (o.kho_scratch !== undefined) k.khoScratch = o.kho_scratch as string;
    if (o.reserve_mem !== undefined) k.reserveMem.push(...(o.reserve_mem as string[]));
    if (o.cmdline !== undefined) k.extra = o.cmdline as string;
    this.kernelConfig = k;
    if (o.fail !== undefined) {
      const f = o.fail as FaultSpec;
      if (this.kernel) {
        if (f === null) this.kernel.faults.disarm();
        else this.kernel.faults.arm(f);
      } else this.pendingFaults = f;
    }
  }

  // ---------------------------------------------------------------- objects

  /** The object `name`, or an ENOENT error with a suggestion. */
  object(name: string): DslObject {
    const o = this.objects.get(name);
    if (o) return o;
    const hint = didYouMean(name, this.objects.keys());
    const where = this.stats.kexecs > 0
      ? " (objects that were not preserved do not survive kexec)"
      : "";
    throw new CommandError("ENOENT", `no object "${name}"${hint}${where}`, name);
  }

  /** `NAME = KIND …`. */
  createObject(kind: string, name: string, opts: Record<string, unknown>): void {
    const kernel = this.ensureKernel();
    const existing = this.objects.get(name);
    if (existing) {
      throw new CommandError(
        "EEXIST",
        `object "${name}" exists (${existing.kind}, ${existing.state}); free it first`,
      );
    }
    const obj = createObject(kernel, this.rng(), { name, kind, opts });
    this.objects.set(name, obj);
    this.onUndo(() => {
      this.objects.delete(name);
      freeObject(kernel, obj);
    });
    this.print(`${name}: ${describe(obj)}`);
  }

  #distinct(names: string[]): DslObject[] {
    const seen = new Set<string>();
    return names.map((n) => {
      if (seen.has(n)) throw new CommandError("EINVAL", `"${n}" named twice`, n);
      seen.add(n);
      return this.object(n);
    });
  }

  /** `preserve NAME…`: all or nothing. */
  preserve(names: string[]): void {
    const kernel = this.ensureKernel();
    const objs = this.#distinct(names);
    for (const o of objs) {
      if (o.state === "preserved") {
        throw new CommandError("EEXIST", `${o.name} is already preserved`, o.name);
      }
      if (o.state === "incoming") {
        throw new CommandError("EINVAL", `${o.name} is incoming: restore it first`, o.name);
      }
    }
    for (const o of objs) {
      const prev = o.state;
      preserveObject(kernel, o);
      this.onUndo(() => {
        unpreserveObject(kernel, o);
        o.state = prev;
      });
    }
  }

  /** `unpreserve NAME…`. */
  unpreserve(names: string[]): void {
    const kernel = this.ensureKernel();
    const objs = this.#distinct(names);
    for (const o of objs) {
      if (o.state !== "preserved") {
        throw new CommandError("EINVAL", `${o.name} is not preserved`, o.name);
      }
      if (o.kind === "subtree") {
        throw new CommandError(
          "EINVAL",
          `${o.name} is a sub-tree: use "subtree ${o.name} remove"`,
          o.name,
        );
      }
    }
    for (const o of objs) {
      unpreserveObject(kernel, o);
      this.onUndo(() => preserveObject(kernel, o));
    }
  }

  /** `split NAME…`. */
  split(names: string[]): void {
    const kernel = this.ensureKernel();
    const objs = this.#distinct(names);
    for (const o of objs) {
      if (o.unit !== "pages" || o.kind !== "pages") {
        throw new CommandError(
          "EINVAL",
          `${o.name} is ${o.kind}: only pages objects are split`,
          o.name,
        );
      }
      if (o.state !== "allocated") {
        throw new CommandError("EBUSY", `${o.name} is ${o.state}`, o.name);
      }
      if (o.pool.length) {
        throw new CommandError("EINVAL", `${o.name} is order-0 pages already`, o.name);
      }
    }
    for (const o of objs) splitObject(kernel, o);
  }

  /** `free NAME…`. */
  free(names: string[]): void {
    const kernel = this.ensureKernel();
    const objs = this.#distinct(names);
    for (const o of objs) {
      if (o.state === "preserved") {
        throw new CommandError("EBUSY", `${o.name} is preserved: unpreserve it first`, o.name);
      }
      if (o.state === "incoming") {
        throw new CommandError("EINVAL", `${o.name} is incoming: restore it first`, o.name);
      }
    }
    for (const o of objs) {
      freeObject(kernel, o);
      this.objects.delete(o.name);
    }
  }

  /** `subtree NAME [size=…] [remove]`. */
  subtree(name: string, o: Record<string, unknown>): void {
    const kernel = this.ensureKernel();
    if (o.remove === true) {
      const obj = this.object(name);
      if (obj.kind !== "subtree" || obj.state !== "preserved") {
        throw new CommandError("EINVAL", `${name} is not a sub-tree added in this kernel`);
      }
      removeSubtree(kernel, obj);
      this.objects.delete(name);
      return;
    }
    if (this.objects.has(name)) throw new CommandError("EEXIST", `object "${name}" exists`);
    if (!kernel.kho.enabled) throw new CommandError("EOPNOTSUPP", "KHO is not enabled");
    const obj = createSubtree(kernel, this.rng(), {
      name,
      size: (o.size as number | undefined) ?? 4096,
      fill: (o.fill as FillSpecDsl | undefined) ?? { kind: "random" },
    });
    this.objects.set(name, obj);
    this.onUndo(() => {
      this.objects.delete(name);
      removeSubtree(kernel, obj);
    });
  }

  /** `finalize` / `abort`: only profiles with a finalize step have them. */
  finalizeOrAbort(what: "finalize" | "abort"): void {
    const kernel = this.ensureKernel();
    try {
      if (what === "finalize") kernel.kho.finalize();
      else kernel.kho.abort();
    } catch (e) {
      if (e instanceof KhoError && e.code === "EOPNOTSUPP") {
        throw new KhoError(
          "EOPNOTSUPP",
          `kho_${what}: not in this profile (${kernel.profile.name}: ${
            e.message.replace(/^EOPNOTSUPP: /, "")
          })`,
        );
      }
      throw e;
    }
    this.print(`kho_${what}: ok`);
  }

  /** `kexec [profile=…] [cmdline=…]`. */
  kexec(o: Record<string, unknown>): void {
    const kernel = this.ensureKernel();
    const profile = (o.profile as ProfileName | undefined) ?? this.nextProfile ??
      kernel.profile.name;
    const cmdline = [this.cmdline(), (o.cmdline as string | undefined) ?? ""].join(" ").trim();
    let table = null;
    const preserved = [...this.objects.values()].filter((x) => x.state === "preserved");
    if (kernel.kho.enabled) {
      try {
        table = writeObjectTable(kernel, preserved.map((x) => x.record()));
      } catch (e) {
        if (!(e instanceof KhoError && e.code === "EOPNOTSUPP")) throw e;
        // Generations without kho_alloc_preserve / rw sub-trees: the memory is preserved,
        // but the object table cannot be handed over, so no name can be re-found.
        this.print(`kexec: no object table in ${kernel.profile.name} (${e.message})`);
      }
    } else if (preserved.length) {
      this.print(`kexec: KHO is off; ${preserved.length} preserved object(s) are lost`);
    }
    let next: Kernel;
    try {
      next = kernel.kexec({ profile, cmdline });
    } catch (e) {
      if (e instanceof KernelPanic) {
        this.machine = null;
        this.kernel = null;
        this.objects = new Map();
        throw new CommandError(null, `${e.message} (the machine is powered off)`);
      }
      if (table) discardObjectTable(kernel, table);
      throw e;
    }
    this.kernel = next;
    this.nextProfile = null;
    this.stats.kexecs++;
    this.objects = new Map();
    let records: ReturnType<typeof readObjectTable> = [];
    try {
      records = readObjectTable(next);
    } catch (e) {
      this.print(`kexec: object table unreadable: ${(e as Error).message}`);
    }
    for (const r of records) this.objects.set(r.name, DslObject.fromRecord(r));
    const b = next.boot;
    this.print(
      `kexec: boot #${next.bootIndex} (${next.profile.name}), ${
        b.khoBoot ? "KHO boot" : `cold boot${b.revivalRefused ? ` (${b.revivalRefused})` : ""}`
      }, ${records.length} incoming object(s), walk ${b.retrieve?.blocks ?? 0} blocks`,
    );
  }

  #targets(names: string[], accept: (o: DslObject) => boolean): DslObject[] {
    if (names.length) return this.#distinct(names);
    return [...this.objects.values()].filter(accept);
  }

  /** `restore [NAME…]`: failures are counted, not raised. */
  restore(names: string[]): void {
    const kernel = this.ensureKernel();
    const objs = this.#targets(names, (o) => o.state === "incoming");
    for (const o of objs) {
      if (o.state !== "incoming") {
        throw new CommandError("EINVAL", `${o.name} is ${o.state}, not incoming`, o.name);
      }
    }
    for (const o of objs) {
      const r = restoreObject(kernel, o);
      this.stats.restoreOk += r.ok;
      this.stats.restoreFailed += r.failed;
      if (r.failed) this.print(`restore ${o.name}: ${r.failed} of ${o.blocks()} blocks failed`);
    }
  }

  /** `verify [NAME…]`: mismatches are counted, not raised. */
  verify(names: string[]): void {
    const kernel = this.ensureKernel();
    const objs = this.#targets(names, () => true);
    for (const o of objs) {
      const ok = verifyObject(kernel, o);
      if (ok) this.stats.verifyOk++;
      else {
        this.stats.verifyFailed++;
        this.print(`verify ${o.name}: content differs`);
      }
    }
  }

  /** Every metric's current value. */
  metrics(): Record<string, number | string> {
    const out: Record<string, number | string> = {};
    for (const [name, m] of METRICS) out[name] = m.get(this) ?? 0;
    return out;
  }

  /** `measure [label=…]`. */
  measure(label?: string): void {
    this.rows.push({ label: label ?? `m${this.rows.length + 1}`, metrics: this.metrics() });
    this.onUndo(() => this.rows.pop());
  }

  /** `show TOPIC`. */
  show(topic: string, o: Record<string, unknown>): void {
    this.print(showTopic(this, topic, o));
  }

  /** `help [COMMAND]`. */
  help(word?: string): void {
    this.print(helpText(word));
  }
}

/** An error that carries its own place (a value or a name in an expression). */
class SpannedError extends Error {
  readonly code: string | null;
  readonly span: Span;
  constructor(code: string | null, message: string, span: Span) {
    super(message);
    this.code = code;
    this.span = span;
  }
}

function truthy(v: ScalarValue): boolean {
  return typeof v === "string" ? v.length > 0 : Boolean(v);
}

function fmtValue(v: ScalarValue): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** Properties of objects in expressions (`guest.folios`). */
export const OBJECT_PROPERTIES = [
  "blocks",
  "folios",
  "pages",
  "bytes",
  "order",
  "preserved",
  "incoming",
  "restored",
  "failed",
  "verified",
  "phys",
] as const;

/** The value of `obj.prop`. */
export function objectProperty(obj: DslObject, prop: string, span?: Span): ScalarValue {
  switch (prop) {
    case "blocks":
      return obj.blocks();
    case "folios":
      return obj.unit === "folio" ? obj.blocks() : 0;
    case "pages":
      return obj.totalPages();
    case "bytes":
      return obj.bytes;
    case "order":
      return obj.unit === "folio" ? Math.log2(obj.pages[0] ?? 1) : obj.order;
    case "preserved":
      return obj.state === "preserved" ? 1 : 0;
    case "incoming":
      return obj.state === "incoming" ? 1 : 0;
    case "restored":
      return obj.state === "restored" ? 1 : 0;
    case "failed":
      return obj.failed.size;
    case "verified":
      return obj.verified === true ? 1 : 0;
    case "phys":
      return obj.phys[0] ?? 0;
  }
  const msg = `object ${obj.name} has no property "${prop}"${didYouMean(prop, OBJECT_PROPERTIES)}`;
  if (span) throw new SpannedError(null, msg, span);
  throw new CommandError(null, msg);
}

/** One-line description of an object. */
export function describe(o: DslObject): string {
  const blocks = o.unit !== "folio"
    ? `${o.blocks()} block(s), ${o.totalPages()} page(s)`
    : o.blocks() === 0
    ? "0 folios"
    : `${o.blocks()} folio(s) of ${formatSize(o.pages[0] * 4096)}`;
  return `${o.kind}, ${blocks}, ${formatSize(o.bytes)}, ${o.state}`;
}
