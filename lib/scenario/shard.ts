/**
 * Shards: a sweep split over machines without a scheduler. Shard K of N runs the sweep's
 * points whose row index is K − 1 modulo N (`index % N === K - 1`: a round robin, so every
 * shard gets a share of the small and of the large points of a density sweep) and appends
 * each row, as it is complete, to its file as one JSON line; re-running the shard skips the
 * points already in its file. Nothing about a point depends on the sharding: its index, its
 * parameters and its seed (from the sweep seed and the value index, `pointSeed`) are the ones
 * of the whole sweep, so the rows are those a one-process run gives.
 *
 * A line ({@link ShardRecord}) holds the row as JSON has it (`rowJson`) with what a merge
 * needs to check it belongs: the point's index, the shard, the sweep's identity
 * ({@link SweepIdentity}: scenario, resolved parameters, swept parameter and values, profiles,
 * seed, timing repeats) and the code version (a digest of the sources and the Deno version).
 * {@link mergeShards} joins shard files into the rows of the whole sweep, in point order, and
 * refuses — naming the points — a point missing, a point given twice, or a point foreign to
 * the sweep (another scenario, other parameters, another seed, other code).
 *
 * @module
 */

import { getProfile } from "../kho/profiles.ts";
import type { MetricsRow, MetricValue } from "../metrics/metrics.ts";
import { DEFAULT_WARMUP } from "../metrics/replay.ts";
import { GiB } from "../units.ts";
import { type JsonRow, rowFromJson, rowJson } from "./export.ts";
import { InputFileError, type InputLimits, readInputFile } from "./input_file.ts";
import { availableProfiles, DEFAULT_REPEAT } from "./run.ts";
import { type ParamValue, pointSeed, resolveParams } from "./scenarios.ts";
import { defaultWorkers, runSweep, type SweepOptions, sweepPoints } from "./sweep.ts";

/** Shard `k` of `n` (1 ≤ k ≤ n). */
export interface Shard {
  /** Which shard, from 1. */
  readonly k: number;
  /** How many shards. */
  readonly n: number;
}

/** Most shards a sweep is split into. */
export const MAX_SHARDS = 1_000_000;

/** Caps on a shard file read back (resume, merge): 1 GiB (gzip accepted when merging). */
export const SHARD_FILE_LIMITS: InputLimits = { maxBytes: GiB, maxTextBytes: GiB };

/** The tag of a shard line (`kholab` key) and its format version. */
export const SHARD_FORMAT = "sweep-shard/1";

/**
 * Parses `K/N` (`--shard 2/8`): whole numbers, 1 ≤ K ≤ N ≤ {@link MAX_SHARDS}. SyntaxError
 * naming what is wrong otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseShard } from "./shard.ts";
 * assert.deepEqual(parseShard("2/8"), { k: 2, n: 8 });
 * assert.throws(() => parseShard("0/8"), /K must be 1 to 8/);
 * assert.throws(() => parseShard("3"), /expected K\/N/);
 * ```
 */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d{1,7})\s*\/\s*(\d{1,7})\s*$/.exec(text);
  if (m === null) {
    throw new SyntaxError(`--shard ${text}: expected K/N, shard K of N (e.g. 1/4)`);
  }
  const k = Number(m[1]), n = Number(m[2]);
  if (n < 1 || n > MAX_SHARDS) {
    throw new SyntaxError(`--shard ${text}: N must be 1 to ${MAX_SHARDS}`);
  }
  if (k < 1 || k > n) throw new SyntaxError(`--shard ${text}: K must be 1 to ${n}`);
  return { k, n };
}

/** `K/N`. */
export function shardText(shard: Shard): string {
  return `${shard.k}/${shard.n}`;
}

/** The shard (1..n) that runs the point at row `index` when a sweep is split into `n`. */
export function shardOf(index: number, n: number): number {
  return (index % n) + 1;
}

/**
 * The row indices shard `shard` runs, of a sweep of `total` points: those with
 * `index % N === K - 1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shardIndices } from "./shard.ts";
 * assert.deepEqual(shardIndices(7, { k: 2, n: 3 }), [1, 4]);
 * assert.deepEqual(shardIndices(2, { k: 3, n: 3 }), []); // more shards than points
 * ```
 */
export function shardIndices(total: number, shard: Shard): number[] {
  const out: number[] = [];
  for (let i = shard.k - 1; i < total; i += shard.n) out.push(i);
  return out;
}

/** Everything a sweep's rows depend on, but the code: what every shard line repeats. */
export interface SweepIdentity {
  /** Scenario. */
  readonly scenario: string;
  /** The parameters common to every point, resolved (defaults included; not the swept one). */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** The swept parameter, or "". */
  readonly param: string;
  /** Its values as the rows write them (`sweepValue`); empty without a swept parameter. */
  readonly values: readonly string[];
  /** Profiles, in order. */
  readonly profiles: readonly string[];
  /** Sweep seed. */
  readonly seed: number;
  /** Timed samples per region (0: rows without wall-clock figures). */
  readonly repeat: number;
  /** Untimed warm-up replays. */
  readonly warmup: number;
}

/** The code a shard ran: the source digest (`sourceDigest`), Deno, and the git revision. */
export interface ShardCode {
  /** `sha256:…` of the sources and design modules: shards of one sweep must agree. */
  readonly digest: string;
  /** Deno version: shards of one sweep must agree. */
  readonly deno: string;
  /** `git rev-parse HEAD` (`+dirty`, `unknown`): for the reader, not compared. */
  readonly revision: string;
}

/**
 * The identity of a sweep (see {@link SweepIdentity}). Checks every point's parameters first,
 * as `sweepPoints` does (RangeError, SyntaxError naming the value).
 */
export function sweepIdentity(options: Omit<SweepOptions, "clock">): SweepIdentity {
  const points = sweepPoints(options);
  const param = options.param ?? "";
  const common = resolveParams(options.scenario, points[0]?.params ?? options.params ?? {});
  const params: Record<string, ParamValue> = {};
  for (const k of Object.keys(common).sort()) if (k !== param) params[k] = common[k];
  return {
    scenario: options.scenario,
    params,
    param,
    values: param === "" ? [] : (options.values ?? []).map(String),
    profiles: (options.profiles ?? availableProfiles()).map((p) => getProfile(p).name),
    seed: options.seed ?? 1,
    repeat: options.repeat ?? DEFAULT_REPEAT,
    warmup: options.warmup ?? DEFAULT_WARMUP,
  };
}

/** Points of a sweep of this identity. */
export function identityTotal(id: SweepIdentity): number {
  return id.profiles.length * (id.param === "" ? 1 : id.values.length);
}

/** What a point of the sweep must be: the fields of its row that identify it. */
export interface ExpectedPoint {
  /** Index of the parameter value. */
  readonly pointIndex: number;
  /** Profile. */
  readonly profile: string;
  /** Seed (`pointSeed(sweep seed, pointIndex)`). */
  readonly seed: number;
  /** The value as text, or "". */
  readonly sweepValue: string;
}

/**
 * The point at row `index` of a sweep of this identity, as `sweepPoints` orders them (values
 * outer, profiles inner).
 */
export function expectedPoint(id: SweepIdentity, index: number): ExpectedPoint {
  const p = id.profiles.length;
  const pointIndex = Math.floor(index / p);
  return {
    pointIndex,
    profile: id.profiles[index % p],
    seed: pointSeed(id.seed, pointIndex),
    sweepValue: id.param === "" ? "" : id.values[pointIndex],
  };
}

/** `point 5 (pages=128, kho-v4)`: a point named for a person. */
export function pointLabel(id: SweepIdentity, index: number): string {
  const e = expectedPoint(id, index);
  return `point ${index} (${id.param === "" ? "" : `${id.param}=${e.sweepValue}, `}${e.profile})`;
}

/** One line of a shard file. */
export interface ShardRecord {
  /** {@link SHARD_FORMAT}. */
  readonly kholab: string;
  /** Row index of the point in the sweep. */
  readonly index: number;
  /** The shard that ran it, `K/N`. */
  readonly shard: string;
  /** Source digest (see {@link ShardCode}). */
  readonly code: string;
  /** Deno version. */
  readonly deno: string;
  /** Git revision (informative). */
  readonly revision: string;
  /** The sweep. */
  readonly sweep: SweepIdentity;
  /** The row as JSON writes it (`rowJson`). */
  readonly row: JsonRow;
  /** Numbers JSON cannot hold (NaN, ±Infinity), by key, as text. */
  readonly nonFinite?: Readonly<Record<string, string>>;
}

/** A shard line for the row at `index` (newline included). */
export function shardLine(
  at: { index: number; shard: Shard; sweep: SweepIdentity; code: ShardCode },
  row: MetricsRow,
): string {
  const nonFinite: Record<string, string> = {};
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === "number" && !Number.isFinite(v)) nonFinite[k] = String(v);
  }
  const rec: ShardRecord = {
    kholab: SHARD_FORMAT,
    index: at.index,
    shard: shardText(at.shard),
    code: at.code.digest,
    deno: at.code.deno,
    revision: at.code.revision,
    sweep: at.sweep,
    row: rowJson(row),
    ...(Object.keys(nonFinite).length > 0 ? { nonFinite } : {}),
  };
  return JSON.stringify(rec) + "\n";
}

/** The row of a shard line, as the sweep returned it. */
export function recordRow(rec: ShardRecord): MetricsRow {
  const row = rowFromJson(rec.row as Record<string, unknown>);
  for (const [k, v] of Object.entries(rec.nonFinite ?? {})) row[k] = Number(v);
  return row;
}

/** Why a shard file cannot be used or shards cannot be merged; names files, lines, points. */
export class ShardError extends Error {
  /** What went wrong. */
  readonly kind: "malformed" | "foreign" | "duplicate" | "missing" | "empty";
  /** Row indices of the points concerned (none for a malformed line). */
  readonly points: readonly number[];
  /** Builds the error. */
  constructor(kind: ShardError["kind"], message: string, points: readonly number[] = []) {
    super(message);
    this.name = "ShardError";
    this.kind = kind;
    this.points = points;
  }
}

/** A parsed line and where it is. */
export interface ShardLineAt {
  /** The record. */
  readonly rec: ShardRecord;
  /** `FILE:LINE`. */
  readonly at: string;
}

/** What {@link parseShardText} read. */
export interface ParsedShardFile {
  /** The complete lines. */
  readonly lines: readonly ShardLineAt[];
  /**
   * Bytes of the text up to the end of its last complete line, when the text ends with an
   * incomplete line (a shard interrupted while writing it); else undefined.
   */
  readonly completeBytes?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Why `v` is not a shard record, or null. */
function recordProblem(v: unknown): string | null {
  if (!isObject(v)) return "not a JSON object";
  if (v.kholab !== SHARD_FORMAT) return `not a kholab shard line ("kholab": "${SHARD_FORMAT}")`;
  if (!Number.isSafeInteger(v.index) || (v.index as number) < 0) return "bad index";
  for (const k of ["shard", "code", "deno", "revision"]) {
    if (typeof v[k] !== "string") return `bad ${k}`;
  }
  if (!/^\d+\/\d+$/.test(v.shard as string)) return "bad shard";
  const s = v.sweep;
  if (
    !isObject(s) || typeof s.scenario !== "string" || !isObject(s.params) ||
    typeof s.param !== "string" || !Array.isArray(s.values) ||
    s.values.some((x) => typeof x !== "string") || !Array.isArray(s.profiles) ||
    s.profiles.length === 0 || s.profiles.some((x) => typeof x !== "string") ||
    !Number.isSafeInteger(s.seed) || !Number.isSafeInteger(s.repeat) ||
    !Number.isSafeInteger(s.warmup)
  ) return "bad sweep identity";
  if ((v.index as number) >= identityTotal(s as unknown as SweepIdentity)) {
    return `index ${v.index} is past the sweep's ${
      identityTotal(s as unknown as SweepIdentity)
    } points`;
  }
  if (!isObject(v.row)) return "bad row";
  const nonFinite = v.nonFinite ?? {};
  if (
    !isObject(nonFinite) ||
    Object.values(nonFinite).some((x) => x !== "NaN" && x !== "Infinity" && x !== "-Infinity")
  ) return "bad nonFinite";
  for (const [k, x] of Object.entries(v.row)) {
    if (k === "timings") {
      const ok = isObject(x) &&
        Object.values(x).every((t) =>
          isObject(t) && ["n", "median", "min", "max"].every((s) => typeof t[s] === "number")
        );
      if (!ok) return "bad row timings";
    } else if (k === "outcomes") {
      // rowJson's outcomes: per kind, counts and the reasons (lib/metrics/outcomes.ts)
      const ok = isObject(x) &&
        Object.values(x).every((o) =>
          isObject(o) &&
          Object.entries(o).every(([f, c]) =>
            f === "reasons"
              ? Array.isArray(c) && c.every((r) => typeof r === "string")
              : typeof c === "number"
          )
        );
      if (!ok) return "bad row outcomes";
    } else if (typeof x !== "number" && typeof x !== "string" && !(x === null && k in nonFinite)) {
      return `bad row value ${k}`;
    }
  }
  return null;
}

/**
 * Parses a shard file's text. A line that is not a shard record is a ShardError
 * (`FILE:LINE: …`); an incomplete last line (no newline at its end, not a record) is left out
 * and reported by `completeBytes`.
 */
export function parseShardText(text: string, file: string): ParsedShardFile {
  const lines: ShardLineAt[] = [];
  const parts = text.split("\n");
  const tail = parts.pop()!; // after the last newline: "" when the text ends with one
  const bad = (n: number, why: string) =>
    new ShardError("malformed", `${file}:${n}: ${why} (not a line kholab's --shard wrote)`);
  parts.forEach((line, i) => {
    if (line.trim() === "") throw bad(i + 1, "an empty line");
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw bad(i + 1, `not JSON (${(e as Error).message})`);
    }
    const problem = recordProblem(v);
    if (problem !== null) throw bad(i + 1, problem);
    lines.push({ rec: v as ShardRecord, at: `${file}:${i + 1}` });
  });
  if (tail === "") return { lines };
  let whole: unknown;
  try {
    whole = JSON.parse(tail);
  } catch {
    whole = undefined;
  }
  if (whole !== undefined && recordProblem(whole) === null) {
    lines.push({ rec: whole as ShardRecord, at: `${file}:${parts.length + 1}` });
    return { lines };
  }
  return { lines, completeBytes: new TextEncoder().encode(text.slice(0, -tail.length)).length };
}

/** What makes lines belong to one sweep: its identity, the source digest and Deno. */
export type SweepStamp = Pick<ShardRecord, "sweep" | "code" | "deno">;

/** The key two records of one sweep share: identity and code (not the revision). */
function sweepKey(rec: SweepStamp): string {
  return JSON.stringify([canonical(rec.sweep), rec.code, rec.deno]);
}

/** `v` with object keys sorted (for comparing identities). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (!isObject(v)) return v;
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) o[k] = canonical(v[k]);
  return o;
}

/** How two records' sweeps differ: `seed 1 ≠ 2`, `params.pages 64 ≠ 128`, `code …`. */
export function identityDiff(a: SweepStamp, b: SweepStamp): string[] {
  const out: string[] = [];
  const show = (v: unknown) => {
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return s.length > 40 ? s.slice(0, 37) + "…" : s;
  };
  const cmp = (name: string, x: unknown, y: unknown) => {
    if (JSON.stringify(canonical(x)) !== JSON.stringify(canonical(y))) {
      out.push(`${name} ${show(x)} ≠ ${show(y)}`);
    }
  };
  const sa = a.sweep, sb = b.sweep;
  cmp("scenario", sa.scenario, sb.scenario);
  for (const k of [...new Set([...Object.keys(sa.params), ...Object.keys(sb.params)])].sort()) {
    cmp(`params.${k}`, sa.params[k] ?? "(none)", sb.params[k] ?? "(none)");
  }
  cmp("param", sa.param, sb.param);
  cmp("values", sa.values, sb.values);
  cmp("profiles", sa.profiles, sb.profiles);
  cmp("seed", sa.seed, sb.seed);
  cmp("repeat", sa.repeat, sb.repeat);
  cmp("warmup", sa.warmup, sb.warmup);
  cmp("code version", short(a.code), short(b.code));
  cmp("Deno", a.deno, b.deno);
  return out;
}

/** A digest shortened for messages (`sha256:0123456789ab`). */
function short(digest: string): string {
  return digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, "$1");
}

/** Why a record's row is not the point its index names, or null. */
function rowMismatch(rec: ShardRecord): string | null {
  const id = rec.sweep;
  const e = expectedPoint(id, rec.index);
  const r = rec.row;
  const want: [string, MetricValue][] = [
    ["scenario", id.scenario],
    ["profile", e.profile],
    ["seed", e.seed],
    ["pointIndex", e.pointIndex],
    ["sweepParam", id.param],
    ["sweepValue", e.sweepValue],
  ];
  for (const [k, v] of want) {
    if (r[k] !== v) {
      return `its row has ${k} ${JSON.stringify(r[k])}, the point ${JSON.stringify(v)}`;
    }
  }
  return null;
}

/** At most `max` labels, then `… and K more`. */
function listed(labels: readonly string[], max = 10): string {
  return labels.length <= max
    ? labels.join(", ")
    : `${labels.slice(0, max).join(", ")} … and ${labels.length - max} more`;
}

/** A shard file to merge: its name (for messages) and its text. */
export interface ShardInput {
  /** File name. */
  readonly name: string;
  /** Its text. */
  readonly text: string;
}

/** What {@link mergeShards} gives. */
export interface MergedShards {
  /** The rows of the whole sweep, in point order. */
  readonly rows: MetricsRow[];
  /** The sweep. */
  readonly sweep: SweepIdentity;
  /** The code every shard ran (the revision of the first line). */
  readonly code: ShardCode;
  /** The shards seen, `K/N`, sorted. */
  readonly shards: readonly string[];
}

/**
 * Joins shard files into the rows of the whole sweep, in point order — the rows a one-process
 * run gives. Throws a {@link ShardError} naming the points (and files and lines) when a line is
 * not a shard line, an incomplete last line, points of another sweep or other code (the
 * largest group of lines is taken as the sweep; the others are foreign, with what differs), a
 * row that is not its point, a point given more than once, or points missing (and the shards
 * of which no point was given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeShards, shardLine, ShardError } from "./shard.ts";
 * import { pointSeed } from "./scenarios.ts";
 * const sweep = { scenario: "uniform", params: {}, param: "", values: [], profiles: ["a", "b"],
 *   seed: 1, repeat: 0, warmup: 3 };
 * const code = { digest: "sha256:0", deno: "2", revision: "x" };
 * const row = (index: number) => ({ scenario: "uniform", profile: ["a", "b"][index],
 *   seed: pointSeed(1, 0), pointIndex: 0, sweepParam: "", sweepValue: "", walkCacheLines: index });
 * const line = (index: number, k: number) =>
 *   shardLine({ index, shard: { k, n: 2 }, sweep, code }, row(index));
 * const merged = mergeShards([{ name: "2.jsonl", text: line(1, 2) }, { name: "1.jsonl", text: line(0, 1) }]);
 * assert.deepEqual(merged.rows.map((r) => r.profile), ["a", "b"]);
 * assert.throws(() => mergeShards([{ name: "1.jsonl", text: line(0, 1) }]),
 *   (e: ShardError) => e.kind === "missing" && /point 1 \(b\)/.test(e.message));
 * ```
 */
export function mergeShards(inputs: readonly ShardInput[]): MergedShards {
  const all: ShardLineAt[] = [];
  for (const f of inputs) {
    const parsed = parseShardText(f.text, f.name);
    if (parsed.completeBytes !== undefined) {
      throw new ShardError(
        "malformed",
        `${f.name}:${parsed.lines.length + 1}: an incomplete last line (the shard was ` +
          `interrupted: run it again, it resumes, then merge)`,
      );
    }
    all.push(...parsed.lines);
  }
  if (all.length === 0) {
    throw new ShardError("empty", `no shard lines in ${inputs.map((f) => f.name).join(", ")}`);
  }
  // The sweep is the largest group of lines with one identity and code; the others are foreign.
  const groups = new Map<string, ShardLineAt[]>();
  for (const l of all) {
    const k = sweepKey(l.rec);
    groups.set(k, [...(groups.get(k) ?? []), l]);
  }
  const [main] = [...groups.values()].sort((a, b) => b.length - a.length);
  const ref = main[0].rec;
  const id = ref.sweep;
  const problems: string[] = [];
  const foreignPoints: number[] = [];
  for (const g of groups.values()) {
    if (g === main) continue;
    const files = [...new Set(g.map((l) => l.at.replace(/:\d+$/, "")))];
    foreignPoints.push(...g.map((l) => l.rec.index));
    problems.push(
      `${g.length} foreign point(s) in ${files.join(", ")} (${
        listed(g.map((l) => `${pointLabel(l.rec.sweep, l.rec.index)} at ${l.at}`), 5)
      }): another sweep than ${main[0].at}'s — ${identityDiff(ref, g[0].rec).join(", ")}`,
    );
  }
  const byIndex = new Map<number, ShardLineAt[]>();
  for (const l of main) {
    const why = rowMismatch(l.rec);
    if (why !== null) {
      foreignPoints.push(l.rec.index);
      problems.push(`${l.at}: foreign ${pointLabel(id, l.rec.index)}: ${why}`);
      continue;
    }
    byIndex.set(l.rec.index, [...(byIndex.get(l.rec.index) ?? []), l]);
  }
  const total = identityTotal(id);
  const names = inputs.map((f) => f.name);
  const twice = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  const dups = [...byIndex.entries()].filter(([, ls]) => ls.length > 1).sort((a, b) => a[0] - b[0]);
  if (dups.length > 0) {
    problems.push(
      `${dups.length} point(s) given more than once: ${
        listed(
          dups.map(([i, ls]) => `${pointLabel(id, i)} at ${ls.map((l) => l.at).join(" and ")}`),
        )
      }${twice.length > 0 ? ` (${twice.join(", ")} given more than once)` : ""}`,
    );
  }
  const missing: number[] = [];
  for (let i = 0; i < total; i++) if (!byIndex.has(i)) missing.push(i);
  if (missing.length > 0) {
    const ns = new Set(main.map((l) => Number(l.rec.shard.split("/")[1])));
    let shardNote = "";
    if (ns.size === 1) {
      const n = [...ns][0];
      const seen = new Set(main.map((l) => l.rec.shard));
      const absent: string[] = [];
      for (let k = 1; k <= Math.min(n, total); k++) {
        if (!seen.has(`${k}/${n}`)) absent.push(`${k}/${n}`);
      }
      if (absent.length > 0) shardNote = ` — no line of shard ${listed(absent)} was given`;
    }
    problems.push(
      `${missing.length} of ${total} point(s) missing: ${
        listed(missing.map((i) => pointLabel(id, i)))
      }${shardNote}`,
    );
  }
  if (problems.length > 0) {
    const kind = foreignPoints.length > 0 ? "foreign" : dups.length > 0 ? "duplicate" : "missing";
    const points = kind === "foreign"
      ? foreignPoints
      : kind === "duplicate"
      ? dups.map(([i]) => i)
      : missing;
    throw new ShardError(kind, problems.join("; "), [...new Set(points)].sort((a, b) => a - b));
  }
  const rows: MetricsRow[] = [];
  for (let i = 0; i < total; i++) rows.push(recordRow(byIndex.get(i)![0].rec));
  return {
    rows,
    sweep: id,
    code: { digest: ref.code, deno: ref.deno, revision: ref.revision },
    shards: [...new Set(main.map((l) => l.rec.shard))].sort((a, b) => {
      const [ka, na] = a.split("/").map(Number), [kb, nb] = b.split("/").map(Number);
      return na - nb || ka - kb;
    }),
  };
}

/** Reads shard files (bounded, gzip accepted) and merges them ({@link mergeShards}). */
export function mergeShardFiles(files: readonly string[]): MergedShards {
  const inputs = files.map((name) => ({
    name,
    text: new TextDecoder().decode(readInputFile(name, SHARD_FILE_LIMITS).bytes),
  }));
  return mergeShards(inputs);
}

/** Options of {@link runShard}: a sweep, the shard, its file and the code running it. */
export interface ShardOptions extends SweepOptions {
  /** Which shard. */
  shard: Shard;
  /** The shard's file: read first (points already there are skipped), then appended to. */
  file: string;
  /** The code running it (`sourceDigest`, Deno, revision). */
  code: ShardCode;
  /**
   * Called as each point's row is appended: `done` of `total` points of the shard, the point's
   * `index` and `label` ({@link pointLabel}).
   */
  onPoint?: (
    p: { index: number; label: string; row: MetricsRow; done: number; total: number },
  ) => void;
}

/** What {@link runShard} did. */
export interface ShardResult {
  /** The sweep. */
  readonly sweep: SweepIdentity;
  /** Points of the whole sweep. */
  readonly sweepTotal: number;
  /** Row indices of the shard's points. */
  readonly indices: readonly number[];
  /** Points already in the file (skipped). */
  readonly already: number;
  /** Points run now. */
  readonly ran: number;
  /** Whether an incomplete last line (an interrupted write) was cut off the file. */
  readonly droppedTail: boolean;
  /** Every row of the shard (the file's and the new ones), in point order. */
  readonly rows: MetricsRow[];
}

/**
 * Runs shard `shard` of a sweep into `file`: reads the file first — every line must be a point
 * of this shard of this sweep run by this code (else a ShardError naming the line, and the file
 * is left as it is); an incomplete last line is cut off — then runs the shard's other points
 * and appends each row as it is complete (with timings, after a small batch of runs: at most
 * four points per worker wait for their replays).
 */
export async function runShard(options: ShardOptions): Promise<ShardResult> {
  const sweep = sweepIdentity(options);
  const sweepTotal = identityTotal(sweep);
  const indices = shardIndices(sweepTotal, options.shard);
  const mine = new Set(indices);
  const at = { shard: options.shard, sweep, code: options.code };
  const done = new Map<number, MetricsRow>();
  let droppedTail = false;
  try {
    if (!Deno.statSync(options.file).isFile) {
      throw new InputFileError("EINVAL", options.file, "not a regular file (a shard file is)");
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  // Held until the shard is done: a second run of the same shard on the same file waits, then
  // finds every point there (no point is run twice into one file).
  const file = Deno.openSync(options.file, { read: true, append: true, create: true });
  try {
    file.lockSync(true);
    const text = new TextDecoder().decode(
      readInputFile(options.file, SHARD_FILE_LIMITS, { gunzip: false }).bytes,
    );
    const parsed = parseShardText(text, options.file);
    const stamp: SweepStamp = { sweep, code: options.code.digest, deno: options.code.deno };
    const key = sweepKey(stamp);
    for (const { rec, at: where } of parsed.lines) {
      const refuse = (why: string) =>
        new ShardError(
          "foreign",
          `${where}: ${why}; ${options.file} is another run's file: give this shard its own --out FILE`,
          [rec.index],
        );
      if (sweepKey(rec) !== key) {
        throw refuse(`a point of another sweep (${identityDiff(rec, stamp).join(", ")})`);
      }
      if (rec.shard !== shardText(options.shard) || !mine.has(rec.index)) {
        throw refuse(
          `${pointLabel(sweep, rec.index)} of shard ${rec.shard}, not ${shardText(options.shard)}`,
        );
      }
      const why = rowMismatch(rec);
      if (why !== null) throw refuse(`${pointLabel(sweep, rec.index)}: ${why}`);
      if (done.has(rec.index)) {
        throw new ShardError("duplicate", `${where}: ${pointLabel(sweep, rec.index)} again`, [
          rec.index,
        ]);
      }
      done.set(rec.index, recordRow(rec));
    }
    if (parsed.completeBytes !== undefined) {
      file.truncateSync(parsed.completeBytes);
      droppedTail = true;
    }
    const todo = indices.filter((i) => !done.has(i));
    const already = done.size;
    if (todo.length > 0) {
      const enc = new TextEncoder();
      await runSweep({
        ...options,
        indices: todo,
        maxPendingPoints: options.maxPendingPoints ??
          4 * Math.max(1, options.workers ?? defaultWorkers()),
        onRow: (row, _n, _total, index) => {
          const bytes = enc.encode(shardLine({ index, ...at }, row));
          for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
          done.set(index, row);
          options.onPoint?.({
            index,
            label: pointLabel(sweep, index),
            row,
            done: done.size,
            total: indices.length,
          });
          options.onRow?.(row, done.size, indices.length, index);
        },
      });
    }
    return {
      sweep,
      sweepTotal,
      indices,
      already,
      ran: todo.length,
      droppedTail,
      rows: indices.map((i) => done.get(i)!),
    };
  } finally {
    file.close();
  }
}
