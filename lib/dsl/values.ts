/**
 * Kinds of option and positional values and their conversion from script text: sizes
 * (`4K`, `16G`, `1T`, `0x1000`), counts (`1Mi`, `64Ki`, `1k`), integers, booleans, profile
 * names, fills (`random`, `zero`, `none`, `byte:N`, `pattern:N`), fault specs
 * (`nth:3`, `prob:0.01,seed:5,sites:radix|vmalloc,times:2`, `off`), `kho_scratch=` values and
 * `reserve_mem=` values. The parser converts literal values while checking a script; the
 * evaluator converts `$var` and `(expr)` values when the command runs, with the same code.
 *
 * @module
 */

import type { FaultOptions } from "../kernel/faults.ts";
import { kstrtobool } from "../kernel/cmdline.ts";
import { profileNames } from "../kho/profiles.ts";
import { parseKhoScratch } from "../kho/scratch.ts";
import { parseCount, parseSize } from "../units.ts";
import { didYouMean, quoteToken } from "./errors.ts";

/** The kind of a value, which decides how its text is read. */
export type ValueKind =
  | "size"
  | "count"
  | "int"
  | "number"
  | "bool"
  | "word"
  | "string"
  | "name"
  | "object"
  | "profile"
  | "fill"
  | "fault"
  | "scratch"
  | "reservemem"
  | "path"
  | { readonly enum: readonly string[] };

/** How an object's memory is filled at creation. */
export type FillSpecDsl =
  | { kind: "random" }
  | { kind: "zero" }
  | { kind: "none" }
  | { kind: "byte"; value: number }
  | { kind: "pattern"; value: number };

/** A `fail=` value: fault options, or null for `off`. */
export type FaultSpec = FaultOptions | null;

/** A value as the evaluator holds it. */
export type ScalarValue = number | string | boolean;

/** A value did not fit its kind (the message says why). */
export class ValueError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ValueError";
  }
}

/** Names of the kinds not named by their own name in capitals. */
const KIND_NAMES: Partial<Record<ValueKind & string, string>> = {
  int: "N",
  bool: "on|off",
  fill: "random|zero|none|byte:N|pattern:N",
  fault: "nth:N|prob:P[,seed:S][,sites:A|B][,times:N]|off",
  scratch: "N%|LOW,GLOBAL,PERNODE",
  reservemem: "SIZE:ALIGN:NAME",
  path: "FILE",
};

/** Human name of a kind, for messages and help. */
export function kindName(kind: ValueKind): string {
  if (typeof kind === "object") return kind.enum.join("|");
  if (kind === "profile") return profileNames().join("|");
  return KIND_NAMES[kind] ?? kind.toUpperCase();
}

/** Candidate words for a kind (enum values, profiles), for completion and suggestions. */
export function kindWords(kind: ValueKind): string[] {
  if (typeof kind === "object") return [...kind.enum];
  if (kind === "profile") return profileNames();
  if (kind === "bool") return ["on", "off"];
  if (kind === "fill") return ["random", "zero", "none"];
  if (kind === "fault") return ["off", "nth:", "prob:"];
  return [];
}

function toNumber(raw: ScalarValue, parse: (t: string) => number, what: string): number {
  if (typeof raw === "number") {
    if (!Number.isFinite(raw)) throw new ValueError(`${what} ${raw} is not finite`);
    return raw;
  }
  if (typeof raw === "boolean") throw new ValueError(`expected ${what}, got ${raw}`);
  try {
    return parse(raw);
  } catch (e) {
    throw new ValueError((e as Error).message);
  }
}

function wholeNonNegative(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ValueError(`${what} must be a whole number ≥ 0, got ${n}`);
  }
  return n;
}

function parseFill(text: string): FillSpecDsl {
  if (text === "random" || text === "zero" || text === "none") return { kind: text };
  const m = /^(byte|pattern):(0x[0-9a-fA-F]+|\d+)$/.exec(text);
  if (m) {
    const value = Number(m[2]);
    if (m[1] === "byte" && value > 255) throw new ValueError(`fill byte ${value} is not 0..255`);
    if (value > 0xffffffff) throw new ValueError(`fill pattern ${value} is not a u32`);
    return { kind: m[1] as "byte" | "pattern", value };
  }
  throw new ValueError(
    `bad fill ${quoteToken(text)} (expected random, zero, none, byte:N or pattern:N)`,
  );
}

/** Parses a `fail=` value (`nth:3`, `prob:0.01,seed:5,sites:radix|vmalloc`, `off`). */
export function parseFault(text: string): FaultSpec {
  if (text === "off" || text === "none") return null;
  const out: FaultOptions = {};
  for (const part of text.split(",")) {
    const m = /^([a-z]+):(.+)$/.exec(part);
    if (!m) throw new ValueError(`bad fault item "${part}" (expected key:value)`);
    const [, key, value] = m;
    const num = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || value.trim() === "") {
        throw new ValueError(`fault ${key}:${value}: not a number`);
      }
      return n;
    };
    const count = () => {
      const n = num();
      if (!Number.isInteger(n) || n < 1) throw new ValueError(`fault ${key}:${value}: N ≥ 1`);
      return n;
    };
    switch (key) {
      case "nth":
        out.nth = count();
        break;
      case "prob": {
        const p = num();
        if (!(p >= 0 && p <= 1)) throw new ValueError(`fault prob:${value}: 0..1`);
        out.probability = p;
        break;
      }
      case "seed":
        out.seed = num();
        break;
      case "times":
        out.times = count();
        break;
      case "sites":
        out.sites = value.split("|").filter(Boolean);
        break;
      default:
        throw new ValueError(
          `unknown fault key "${key}"${didYouMean(key, ["nth", "prob", "seed", "sites", "times"])}`,
        );
    }
  }
  if (out.nth === undefined && out.probability === undefined) {
    throw new ValueError(`fault ${quoteToken(text)} needs nth:N or prob:P`);
  }
  return out;
}

/**
 * Converts a raw value (text of a literal, or the result of an expression) to its kind.
 * Throws {@link ValueError} with a message fit for a diagnostic.
 */
export function convertValue(kind: ValueKind, raw: ScalarValue): unknown {
  if (typeof kind === "object") {
    const t = String(raw);
    if (!kind.enum.includes(t)) {
      throw new ValueError(
        `${quoteToken(t)} is not one of ${kind.enum.join(", ")}${didYouMean(t, kind.enum)}`,
      );
    }
    return t;
  }
  switch (kind) {
    case "size":
      return wholeNonNegative(toNumber(raw, parseSize, "a size"), "a size");
    case "count":
      return wholeNonNegative(toNumber(raw, parseCount, "a count"), "a count");
    case "int": {
      const n = toNumber(raw, (t) => {
        if (!/^-?(0x[0-9a-fA-F]+|\d+)$/.test(t)) {
          throw new ValueError(`not an integer: ${quoteToken(t)}`);
        }
        return Number(t);
      }, "an integer");
      if (!Number.isSafeInteger(n)) throw new ValueError(`${n} is not an integer`);
      return n;
    }
    case "number":
      return toNumber(raw, (t) => {
        const n = Number(t);
        if (t.trim() === "" || !Number.isFinite(n)) {
          throw new ValueError(`not a number: ${quoteToken(t)}`);
        }
        return n;
      }, "a number");
    case "bool": {
      if (typeof raw === "boolean") return raw;
      if (raw === "true") return true;
      if (raw === "false") return false;
      const b = kstrtobool(String(raw));
      if (b === null) throw new ValueError(`${quoteToken(String(raw))} is not a boolean (on/off)`);
      return b;
    }
    case "name":
    case "object": {
      const t = String(raw);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(t)) {
        throw new ValueError(`${quoteToken(t)} is not a name (letters, digits, _)`);
      }
      return t;
    }
    case "profile": {
      const t = String(raw);
      const known = profileNames();
      if (!known.includes(t)) {
        throw new ValueError(
          `unknown profile ${quoteToken(t)}${didYouMean(t, known)} (known: ${known.join(", ")})`,
        );
      }
      return t;
    }
    case "fill":
      return parseFill(String(raw));
    case "fault":
      return parseFault(String(raw));
    case "scratch": {
      const t = String(raw);
      try {
        parseKhoScratch(t);
      } catch (e) {
        throw new ValueError((e as Error).message);
      }
      return t;
    }
    case "reservemem": {
      const t = String(raw);
      const m = /^([^:]+):([^:]+):([A-Za-z0-9_.-]+)$/.exec(t);
      if (!m) throw new ValueError(`reserve_mem=${t}: expected SIZE:ALIGN:NAME`);
      try {
        parseSize(m[1]);
        parseSize(m[2]);
      } catch (e) {
        throw new ValueError(`reserve_mem=${t}: ${(e as Error).message}`);
      }
      return t;
    }
    case "word":
    case "string":
    case "path":
      return String(raw);
  }
}
