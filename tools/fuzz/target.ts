/**
 * What a fuzz target is: inputs are bytes (a blob, a script, an encoded list of mutations),
 * generated from the tests' corpus with the seeded {@link Rng}, executed one by one in a
 * worker, and optionally compared with a reference implementation.
 *
 * A finding is an exception escaping {@link FuzzTarget.execute}, an input that runs longer
 * than the per-input time bound (a hang), a worker heap past the memory bound, or an
 * observation the oracle disagrees with outside the documented differences.
 *
 * @module
 */

import type { Rng } from "../../lib/rng.ts";

/** A reference implementation the observations are compared with (main thread, batched). */
export interface FuzzOracle<O> {
  /** What is compared, e.g. "libfdt 1.6.1 fdt_check_full + edit scripts". */
  readonly name: string;
  /**
   * One answer per input: null when the reference agrees (or differs only where documented),
   * else what differs.
   */
  judge(inputs: readonly Uint8Array[], observations: readonly O[]): Promise<(string | null)[]>;
  /** Ends the reference (a child process, say). */
  close(): Promise<void>;
}

/** Running statistics of a run's observations (constant memory). */
export interface FuzzStats<O> {
  /** Counts one observation. */
  add(observation: O): void;
  /** The report lines. */
  toString(): string;
}

/** A fuzz target: one file in tools/fuzz/, one line in tools/fuzz/targets.ts. */
export interface FuzzTarget<O = unknown> {
  /** `--target` name. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** Inputs above this size (bytes) are refused before they run (counted, not executed). */
  readonly maxInputBytes: number;
  /**
   * Deno permission flags of the child process that runs {@link FuzzTarget.execute} (default
   * `--allow-read --allow-env`; a CLI target that spawns processes adds `--allow-run`).
   */
  readonly childFlags?: readonly string[];
  /** Seed inputs from the tests' corpus; deterministic. */
  corpus(): Uint8Array[];
  /** A new input derived from the corpus (main thread; use only `rng` for randomness). */
  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array;
  /**
   * Runs one input (in the worker) and returns what the oracle compares (structured-
   * cloneable), or a promise of it (a target driving async code, like the command line).
   * It must not throw: an exception is a finding.
   */
  execute(input: Uint8Array): O | Promise<O>;
  /** The oracle, or why it is unavailable (then the comparison is skipped, with that reason). */
  oracle?(): FuzzOracle<O> | string;
  /** Optional per-run statistics (e.g. a verdict histogram), fed every observation. */
  stats?(): FuzzStats<O>;
}
