/**
 * The world of a kholab script: the machine and its running kernel, the named objects, the
 * configuration for the next boot, the seed streams, variables, measured rows and counters,
 * the undo log of the command in progress, and where output goes. Command bodies
 * (`./commands/`) take a {@link Session}; the evaluator (`./evaluator.ts`) runs statements
 * against one; a session keeps its state across calls — script after script, REPL line after
 * REPL line, notebook cell after notebook cell (`./kho.ts`).
 *
 * @module
 */

import { MEMFD_LUO_MODULE } from "../clients/memfd_luo.ts";
import { HUGETLB_LUO_MODULE } from "../clients/hugetlb_luo.ts";
import { type BootConfig, type BootOptions, Kernel, KernelPanic } from "../boot/kernel.ts";
import type { FaultOptions } from "../kernel/faults.ts";
import { CURRENT_PROFILE, type ProfileName } from "../kho/profiles.ts";
import { Machine } from "../machine/machine.ts";
import { Topology, type TopologyOptions } from "../machine/topology.ts";
import type { MetricsRow } from "../metrics/metrics.ts";
import { type Clock, deriveSeed, Rng } from "../rng.ts";
import type { ManifestSection } from "../scenario/manifest_abi.ts";
import { formatSize, GiB, MiB, SECTION_SIZE } from "../units.ts";
import { bootBytes, MemoryBudget } from "../machine/host_memory.ts";
import { CommandError, didYouMean, RunStop } from "./errors.ts";
import { regionObject } from "./handover.ts";
import type { DslObject } from "./objects.ts";
import type { Chart } from "../plot/chart.ts";
import type { ScalarValue } from "./values.ts";
import type { Outcome } from "../metrics/outcomes.ts";

/** Options of a {@link Session}. */
export interface SessionOptions {
  /** Script name for diagnostics. Default `<script>`. */
  file?: string;
  /** Initial seed (a `seed` command overrides it). Default 42. */
  seed?: number;
  /** Called with each line of output as it is produced. */
  onOutput?: (line: string) => void;
  /** Largest machine a script may power on (bytes). Default 64 TiB. */
  maxRamBytes?: number;
  /** Clock for wall-clock metrics (the `scenario` command's `*Ms`); the caller hands it in. */
  clock: Clock;
  /**
   * Steps one run may take — statements executed and loop iterations, across `include`s —
   * before it is stopped. Default {@link DEFAULT_MAX_STEPS}.
   */
  maxSteps?: number;
  /**
   * Asked between steps and inside long commands: true stops the run (the REPL's Ctrl-C).
   * The command in progress is rolled back.
   */
  interrupted?: () => boolean;
  /**
   * Host memory (JavaScript heap in use plus buffers) the session may take, in bytes: a
   * command whose estimate does not fit is refused before it runs, a run that passes it is
   * stopped. Default half of V8's heap limit (`../machine/host_memory.ts`).
   */
  maxMemoryBytes?: number;
}

/** Default step budget of a run: 10 million statements and loop iterations. */
export const DEFAULT_MAX_STEPS = 10_000_000;

/** Steps between two checks of the memory in use (a power of two). */
const MEMORY_CHECK_STEPS = 1024;

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

/**
 * An outcome the successor settled at `kexec` for an object that did not come back as an
 * incoming object: every handed-over object when the successor refused the handover, all of
 * them when it could not read the manifest, a region it did not reserve again.
 */
export interface SettledOutcome {
  /** Object name. */
  name: string;
  /** Object kind (`folios`, `pages`, …). */
  kind: string;
  /** `refused` or `lost`. */
  outcome: Outcome;
  /** Why (the successor's logged reason). */
  reason: string;
}

/** What the last `kexec` handed over (`show outcomes`). */
export interface HandoverLedger {
  /** The successor's boot index. */
  boot: number;
  /** The successor's profile. */
  profile: string;
  /** Objects handed over. */
  handedOver: number;
  /** Outcomes settled at kexec (objects that are not incoming objects of the successor). */
  settled: SettledOutcome[];
}

/** One `measure` row. */
export interface MeasureRow {
  /** Row label. */
  label: string;
  /**
   * The value of each `sweep` variable the row was measured under, outermost first ({} outside
   * a sweep): a sweep's table has a column per swept parameter.
   */
  params: Record<string, ScalarValue>;
  /** Every metric at that point. */
  metrics: Record<string, number | string>;
}

/** One `sweep` variable bound while its block runs. */
export interface SweepBinding {
  /** The variable. */
  readonly name: string;
  /** Its value in this pass. */
  readonly value: ScalarValue;
}

/** A chart recorded by `chart KIND …` (`./charts.ts`): what a report from the script shows. */
export interface ScriptChart {
  /** Unique name (`chart1-metadata`, or the `name=` given). */
  readonly name: string;
  /** Kind: metadata, walk, by-order, buddyinfo, sweep. */
  readonly kind: string;
  /** The options as the statement gave them (after evaluation). */
  readonly options: Readonly<Record<string, ScalarValue>>;
  /** Indices into the session's rows of the rows drawn. */
  readonly rows: readonly number[];
  /** The chart (its caption names what is drawn and its unit). */
  readonly chart: Chart;
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
  /** liveupdate= (default on: the language's kernels are hosts that live-update). */
  liveupdate?: boolean;
  /** reserve_mem= values. */
  reserveMem: string[];
  /** Extra words. */
  extra: string;
  /** Build configuration (`debug`, `deferred_init`, `crash`, `strict`). */
  config?: BootConfig;
}

/**
 * Something shown: its text (what a terminal prints), and optionally an HTML rendering (a
 * table, a chart) for notebooks.
 */
export interface Shown {
  /** The text, one or more lines. */
  readonly text: string;
  /** An HTML fragment for notebooks. */
  readonly html?: string;
  /** The name of the chart, when it shows one a `chart` statement recorded. */
  readonly recorded?: string;
}

/** Receives what a session prints and shows. */
export interface OutputListener {
  /** Each line of text output (shown items without a `show` handler come here as lines). */
  line?: (line: string) => void;
  /** Each shown item (its text is not passed to `line` as well). */
  show?: (shown: Shown) => void;
}

/** The machine a session powers on when nothing is configured: 4 GiB, one node. */
export function defaultMachineConfig(): MachineConfig {
  return { ramBytes: 4 * GiB, nodes: 1, headroomBytes: null, memmapBytesPerPage: 0, poison: true };
}

/** The default machine headroom for `ram`: ram/128, at least 256 MiB, section-aligned. */
export function defaultHeadroom(ramBytes: number): number {
  return Math.ceil(Math.max(ramBytes / 128, 256 * MiB) / SECTION_SIZE) * SECTION_SIZE;
}

/**
 * The state of one script, REPL or notebook.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../rng.ts";
 * import { Session } from "./session.ts";
 * const s = new Session({ seed: 7, clock: new ManualClock() });
 * s.print("hello");
 * assert.deepEqual(s.output, ["hello"]);
 * assert.equal(s.kernel, null); // nothing boots until a command needs the machine
 * ```
 */
export class Session {
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
  /** The `sweep` variables bound now, outermost first (the evaluator keeps them). */
  readonly sweeps: SweepBinding[] = [];
  /** Charts recorded by `chart`. */
  readonly charts: ScriptChart[] = [];
  /**
   * The `sweep` variables whose values are all written as sizes (`256M`, `1G`: bytes, not
   * counts such as `64Ki`): a chart draws them with binary prefixes.
   */
  readonly sizeVariables: Set<string> = new Set();
  /** Evaluated expectations. */
  readonly expects: ExpectResult[] = [];
  /** Variables. */
  readonly vars: Map<string, ScalarValue> = new Map();
  /** Machine configuration for the next power-on. */
  machineConfig: MachineConfig = defaultMachineConfig();
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
  /** The row of the last `scenario` command. */
  scenarioRow: MetricsRow | null = null;
  /** What the last `kexec` handed over, for `show outcomes` (null before any kexec). */
  handover: HandoverLedger | null = null;
  /** Seed. */
  seed: number;
  /** Largest machine a script may power on (bytes). */
  readonly maxRamBytes: number;
  /** The clock wall-clock metrics read. */
  readonly clock: Clock;
  /** Steps one run may take. */
  readonly maxSteps: number;
  /** Steps taken by the current run. */
  steps = 0;
  /** The host-memory budget. */
  readonly memory: MemoryBudget;
  readonly #interrupted: (() => boolean) | null;
  #streams = 0;
  #undo: (() => void)[] = [];
  readonly #listeners: OutputListener[] = [];

  /** Creates a session with no machine yet. */
  constructor(options: SessionOptions) {
    this.file = options.file ?? "<script>";
    this.seed = options.seed ?? 42;
    this.maxRamBytes = options.maxRamBytes ?? 2 ** 46;
    this.clock = options.clock;
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    if (!(this.maxSteps >= 1)) throw new RangeError(`maxSteps ${this.maxSteps}: at least 1`);
    this.#interrupted = options.interrupted ?? null;
    this.memory = new MemoryBudget(options.maxMemoryBytes);
    if (options.onOutput) this.listen({ line: options.onOutput });
  }

  // ---------------------------------------------------------------- run limits

  /**
   * Counts one step of the run (a statement, a loop iteration); throws {@link RunStop} when
   * the step budget is used up or the run was interrupted.
   */
  tick(): void {
    if (++this.steps > this.maxSteps) {
      throw new RunStop(
        "steps",
        `stopped: the run took more than ${this.maxSteps.toLocaleString("en-US")} steps ` +
          "(statements and loop iterations; kholab run --max-steps N, or the session option " +
          "maxSteps, raises the limit)",
      );
    }
    this.checkInterrupt();
    if ((this.steps & (MEMORY_CHECK_STEPS - 1)) === 0) this.memory.checkpoint("the run");
  }

  /** Throws {@link RunStop} when the run was interrupted (long commands call it as they go). */
  checkInterrupt(): void {
    if (this.#interrupted?.()) throw new RunStop("interrupted", "interrupted (Ctrl-C)");
  }

  /**
   * What long commands call as they go: an interrupt stops them ({@link RunStop}), and so does
   * host memory in use past the budget (`HostMemoryError`); either way they are rolled back.
   */
  checkpoint(what: string): void {
    this.checkInterrupt();
    this.memory.checkpoint(what);
  }

  // ---------------------------------------------------------------- output

  /** Adds a listener; returns the function that removes it. */
  listen(l: OutputListener): () => void {
    this.#listeners.push(l);
    return () => {
      const i = this.#listeners.indexOf(l);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** Prints text (one or more lines). */
  print(text: string): void {
    for (const line of text.split("\n")) {
      this.output.push(line);
      for (const l of this.#listeners) l.line?.(line);
    }
  }

  /** Shows an item: its text goes to the output; listeners with `show` get the item. */
  show(shown: Shown): void {
    const lines = shown.text.split("\n");
    this.output.push(...lines);
    for (const l of this.#listeners) {
      if (l.show) l.show(shown);
      else if (l.line) { for (const line of lines) l.line(line); }
    }
  }

  // ---------------------------------------------------------------- transactions

  /** Registers an undo action of the current command (run if the command fails). */
  onUndo(fn: () => void): void {
    this.#undo.push(fn);
  }

  /** Sets fields of the script's world, each undone with the command. */
  assign(
    fields: Partial<
      Pick<
        Session,
        | "machineConfig"
        | "bootProfile"
        | "nextProfile"
        | "kernelConfig"
        | "pendingFaults"
        | "machine"
        | "kernel"
        | "objects"
        | "scenarioRow"
      >
    >,
  ): void {
    const prev = Object.fromEntries(Object.keys(fields).map((k) => [k, this[k as keyof this]]));
    this.onUndo(() => Object.assign(this, prev));
    Object.assign(this, fields);
  }

  /**
   * Records what the current command did that cannot be undone: if the command fails, the
   * rollback reports `reason` among what stays (the diagnostic's "not undone: …").
   */
  cannotUndo(reason: string): void {
    this.onUndo(() => {
      throw new Error(reason);
    });
  }

  /** Starts a command: an empty undo log. */
  begin(): void {
    this.#undo = [];
  }

  /** Ends a command that succeeded: its undo log is dropped. */
  commit(): void {
    this.#undo = [];
  }

  /**
   * Ends a command that failed: runs its undo actions, last first. An undo action the
   * generation cannot perform (it throws) is skipped and its reason returned, so the caller
   * can say what stays; every other action still runs.
   */
  rollback(): string[] {
    const undo = this.#undo;
    this.#undo = [];
    const notDone: string[] = [];
    for (let i = undo.length - 1; i >= 0; i--) {
      try {
        undo[i]();
      } catch (e) {
        notDone.push(e instanceof Error ? e.message : String(e));
      }
    }
    return notDone;
  }

  /** A fresh seeded generator for one use (undone with the command). */
  rng(): Rng {
    const n = this.#streams++;
    this.onUndo(() => this.#streams = n);
    return new Rng(deriveSeed(this.seed, `stream${n}`));
  }

  /** Sets the seed and restarts the streams (undone with the command). */
  setSeed(n: number): void {
    const prev = [this.seed, this.#streams] as const;
    this.onUndo(() => [this.seed, this.#streams] = prev);
    this.seed = n;
    this.#streams = 0;
  }

  // ---------------------------------------------------------------- machine and kernel

  /** Throws E2BIG when the configured machine is larger than the session allows. */
  checkMachineSize(c: MachineConfig): number {
    const total = c.ramBytes + (c.headroomBytes ?? defaultHeadroom(c.ramBytes));
    if (total > this.maxRamBytes) {
      throw new CommandError(
        "E2BIG",
        `machine of ${formatSize(total)} > limit ${formatSize(this.maxRamBytes)}`,
      );
    }
    return total;
  }

  /** The RAM layout of the machine: the running one's, or the one the next power-on builds. */
  machineTopology(): Topology {
    return this.machine?.topology ?? new Topology(this.#topologyOptions());
  }

  #topologyOptions(): TopologyOptions {
    const c = this.machineConfig;
    const total = this.checkMachineSize(c);
    this.memory.check("booting the machine", bootBytes(total));
    return { ramBytes: Math.ceil(total / SECTION_SIZE) * SECTION_SIZE, nodes: c.nodes };
  }

  /**
   * Boots the first kernel if none runs yet, and returns the running kernel. `boot.heldRanges`
   * (a first boot only) keeps ranges out of the first kernel's own allocations (see
   * `BootOptions.heldRanges`).
   */
  ensureKernel(boot: Pick<BootOptions, "heldRanges"> = {}): Kernel {
    if (this.kernel) return this.kernel;
    const c = this.machineConfig;
    const machine = new Machine(this.#topologyOptions());
    let kernel: Kernel;
    try {
      kernel = Kernel.coldBoot(machine, {
        cmdline: this.cmdline(),
        modules: [MEMFD_LUO_MODULE, HUGETLB_LUO_MODULE],
        profile: this.bootProfile,
        poison: c.poison,
        memmapBytesPerPage: c.memmapBytesPerPage,
        config: this.kernelConfig.config,
        heldRanges: boot.heldRanges,
      });
    } catch (e) {
      if (e instanceof KernelPanic) throw new CommandError(null, `cold boot: ${e.message}`);
      // a configuration the profile cannot build (deferred_init on kho-v4)
      if (e instanceof RangeError) throw new CommandError("EINVAL", `cold boot: ${e.message}`);
      throw e;
    }
    if (this.pendingFaults) kernel.faults.arm(this.pendingFaults);
    this.machine = machine;
    this.kernel = kernel;
    this.objects = new Map();
    this.handover = null;
    if (!kernel.kho.enabled) this.print(`boot: KHO is off (${kernel.params.raw || "kho=off"})`);
    this.adoptRegions(kernel, new Map());
    return kernel;
  }

  /**
   * Lists the kernel's `reserve_mem=` regions as objects: revived ones with the hash the
   * previous kernel handed over (`handed`, by name), new ones filled with seeded content.
   */
  adoptRegions(kernel: Kernel, handed: ReadonlyMap<string, ManifestSection>): void {
    const mem = kernel.machine.mem;
    for (const r of kernel.reserveMem.regions) {
      const o = regionObject(r, handed.get(r.name), {
        fill: () => {
          mem.fill(r.start, r.size, { pattern: this.rng().u32() });
          return mem.hash64(r.start, r.size);
        },
        // A region revived from corrupt bytes may lie outside RAM: nothing to hash there.
        hashNow: () =>
          kernel.machine.topology.isRam(r.start, r.size) ? mem.hash64(r.start, r.size) : 0n,
      });
      this.objects.set(r.name, o);
      this.print(
        `reserve_mem ${r.name}: ${formatSize(r.size)} at 0x${r.start.toString(16)}${
          r.revived ? ", revived" : ""
        }`,
      );
    }
    for (const name of kernel.reserveMem.failed) this.print(`reserve_mem ${name}: not reserved`);
    if (kernel.reserveMem.khoError) {
      this.print(`reserve_mem: not handed over (-${kernel.reserveMem.khoError})`);
    }
  }

  /** The kernel command line from the `kernel` settings. */
  cmdline(): string {
    const k = this.kernelConfig;
    const words: string[] = [];
    if (k.kho !== undefined) words.push(`kho=${k.kho ? "on" : "off"}`);
    else words.push("kho=on");
    if (k.khoScratch !== undefined) words.push(`kho_scratch=${k.khoScratch}`);
    words.push(`liveupdate=${k.liveupdate === false ? "off" : "on"}`);
    for (const r of k.reserveMem) words.push(`reserve_mem=${r}`);
    if (k.extra) words.push(k.extra);
    return words.join(" ");
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

  /** The objects named, each once (EINVAL for a name given twice). */
  distinct(names: readonly string[]): DslObject[] {
    const seen = new Set<string>();
    return names.map((n) => {
      if (seen.has(n)) throw new CommandError("EINVAL", `"${n}" named twice`, n);
      seen.add(n);
      return this.object(n);
    });
  }
}
