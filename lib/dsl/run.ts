/**
 * Running and checking whole scripts: {@link runScript} (what `kholab run FILE` does) and
 * {@link checkScript} (what `kholab check FILE` does).
 *
 * @module
 */

import {
  isScriptError,
  ScriptRuntimeError,
  type ScriptSyntaxError,
  ScriptSyntaxErrors,
} from "./errors.ts";
import { Evaluator } from "./evaluator.ts";
import { MAX_REPORTED_ERRORS, parseWithErrors } from "./parser.ts";
import { type ExpectResult, type MeasureRow, Session, type Shown } from "./session.ts";
import type { Clock } from "../rng.ts";
import type { CommandTable } from "./spec.ts";
import type { ScalarValue } from "./values.ts";

/** Options of {@link runScript}. */
export interface RunOptions {
  /** Script name for diagnostics. Default `<script>`. */
  file?: string;
  /** Initial seed. Default 42. */
  seed?: number;
  /** Output one JSON document instead of text. */
  json?: boolean;
  /**
   * Called with each line of text output as it is produced (not in JSON mode); the error that
   * ends a run is not among them (it is in `output` and `results.error`).
   */
  onOutput?: (line: string) => void;
  /** Reads included files. */
  readFile?: (path: string) => string;
  /**
   * Called with each item the script shows (`show table`, `chart`, …: text and HTML), in
   * order, as it is shown; its text still goes to `onOutput` and `output`.
   */
  onShow?: (shown: Shown) => void;
  /** Largest machine the script may power on. Default 64 TiB. */
  maxRamBytes?: number;
  /** Clock for wall-clock metrics (`wallClock` from the command line, a `ManualClock` in tests). */
  clock: Clock;
  /** Variables bound before the script runs (`kholab run --set NAME=VALUE`). */
  vars?: Readonly<Record<string, ScalarValue>>;
  /** The commands, object kinds and metrics. Default the language's. */
  table?: CommandTable;
  /** Steps the run may take (statements and loop iterations). Default 10 million. */
  maxSteps?: number;
  /** Host memory the run may take (see `SessionOptions.maxMemoryBytes`). */
  maxMemoryBytes?: number;
}

/** What a script run produced. */
export interface RunResult {
  /** 0: ok, 1: an `expect` failed, 2: script error (syntax or runtime). */
  exitCode: 0 | 1 | 2;
  /** Everything printed (text, or JSON with `json`). */
  output: string;
  /**
   * The session the script ran in: its rows, charts (`chart`), objects and machine as the
   * script left them (what a report from the script draws).
   */
  session: Session;
  /** Structured results. */
  results: {
    /** `measure` rows. */
    measurements: MeasureRow[];
    /** Every evaluated `expect`. */
    expects: ExpectResult[];
    /** Metrics at the end. */
    metrics: Record<string, number | string>;
    /**
     * The error, when the script failed: a syntax error, a runtime error (the kernel's errno
     * in `code` when it refused), or an internal error (a failure of kholab itself).
     */
    error:
      | { kind: "syntax" | "runtime" | "internal"; message: string; code?: string | null }
      | null;
  };
}

/**
 * Parses, checks and runs a script. Syntax errors (all of them), runtime errors and internal
 * errors (kholab's own failures, reported at the statement that hit them) end in exit code 2
 * with the diagnostics in `output`; a failed `expect` gives exit code 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runScript } from "./run.ts";
 * import { wallClock } from "../rng.ts";
 * const r = runScript(
 *   "machine ram=1G\nb = pages count=4\npreserve b\nkexec\nrestore b\nexpect restore.failed == 0",
 *   { clock: wallClock },
 * );
 * assert.equal(r.exitCode, 0);
 * ```
 */
export function runScript(text: string, options: RunOptions): RunResult {
  const file = options.file ?? "<script>";
  const s = new Session({
    file,
    seed: options.seed,
    onOutput: options.json ? undefined : options.onOutput,
    maxRamBytes: options.maxRamBytes,
    clock: options.clock,
    maxSteps: options.maxSteps,
    maxMemoryBytes: options.maxMemoryBytes,
  });
  if (options.onShow) s.listen({ show: options.onShow });
  for (const [k, v] of Object.entries(options.vars ?? {})) s.vars.set(k, v);
  const ev = new Evaluator(s, { readFile: options.readFile, table: options.table });
  let error: RunResult["results"]["error"] = null;
  try {
    ev.runText(text, file);
  } catch (e) {
    if (!isScriptError(e)) throw e;
    error = scriptErrorSummary(e);
    // In `output`, not through onOutput: the caller prints the error once, where it wants.
    if (!options.json) s.output.push(...e.message.split("\n"));
  }
  const exitCode = error ? 2 : s.stats.expectFailed > 0 ? 1 : 0;
  const results = {
    measurements: s.rows,
    expects: s.expects,
    metrics: ev.metrics(),
    error,
  };
  const output = options.json
    ? JSON.stringify({ exitCode, ...results, output: s.output }, null, 2)
    : s.output.join("\n");
  return { exitCode, output, results, session: s };
}

/** The `error` of a result for a script error. */
export function scriptErrorSummary(
  e: ScriptSyntaxError | ScriptSyntaxErrors | ScriptRuntimeError,
): NonNullable<RunResult["results"]["error"]> {
  if (!(e instanceof ScriptRuntimeError)) return { kind: "syntax", message: e.message };
  return { kind: e.internal ? "internal" : "runtime", message: e.message, code: e.code };
}

/** Result of {@link checkScript}. */
export interface CheckResult {
  /** Whether the script has no syntax error. */
  ok: boolean;
  /** The syntax errors reported in full (the first {@link MAX_REPORTED_ERRORS}). */
  errors: ScriptSyntaxError[];
  /** Further errors, counted. */
  more: number;
  /** The diagnostics as text ("" when ok). */
  message: string;
}

/**
 * Parses and checks a script without running it (includes are checked when `readFile` is
 * given and their names are literal). Errors of the script and its includes are reported up
 * to {@link MAX_REPORTED_ERRORS} together, the rest counted.
 */
export function checkScript(
  text: string,
  options: { file?: string; readFile?: (path: string) => string } = {},
): CheckResult {
  const file = options.file ?? "<script>";
  const errors: ScriptSyntaxError[] = [];
  let more = 0;
  const visit = (src: string, name: string, depth: number) => {
    const { program: p, errors: found, more: extra } = parseWithErrors(src, {
      file: name,
      maxErrors: Math.max(0, MAX_REPORTED_ERRORS - errors.length),
    });
    errors.push(...found);
    more += extra;
    if (!options.readFile || depth > 8) return;
    const walk = (body: typeof p.body) => {
      for (const s of body) {
        if (s.kind === "include" && s.path.kind !== "expr") {
          const path = s.path.text.startsWith("/") || !name.includes("/")
            ? s.path.text
            : name.slice(0, name.lastIndexOf("/") + 1) + s.path.text;
          let inc: string;
          try {
            inc = options.readFile!(path);
          } catch {
            continue; // reported when it runs
          }
          visit(inc, path, depth + 1);
        } else if (s.kind === "repeat" || s.kind === "sweep" || s.kind === "try") walk(s.body);
      }
    };
    walk(p.body);
  };
  visit(text, file, 0);
  const bad = errors.length + more > 0;
  return {
    ok: !bad,
    errors,
    more,
    message: bad ? new ScriptSyntaxErrors(errors, more).message : "",
  };
}
