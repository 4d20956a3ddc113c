/**
 * Outcomes: every object a scenario or a script attempts ends in exactly one of
 *
 * - `restored` — restored in the successor and its content verified;
 * - `unsupported` — the generation lacks the API or capability (the reason names it); never
 *   handed over;
 * - `refused` — the successor rejected the handover (its logged reason): a cold boot;
 * - `failedRestore` — the successor kept the memory but the restore call failed (the errno or
 *   NULL, and the successor's log line, e.g. "order 18 > 10");
 * - `corrupted` — restored, but its content hash differs from the one taken when it was built;
 * - `lost` — attempted but not found: where it went missing (its preserve failed in the first
 *   kernel, the successor's walk did not keep it and `memblock_free_all` gave its memory to
 *   the page allocator, the manifest naming it was unreadable, the successor panicked, …).
 *
 * They are counted per object kind ({@link KindOutcomes}: `attempted`, a count per outcome,
 * and `reasons`), and every count but `restored` comes with reasons: lines
 * `NAME: N OUTCOME — TEXT` ({@link formatReason}) whose `N`s add up to that count. A row
 * carries them flat, so rows stay CSV columns ({@link outcomeColumns}):
 * `outcomes.KIND.attempted`, `outcomes.KIND.restored`, … and `outcomes.KIND.reasons` (the
 * reasons as a JSON array of strings); JSON nests them as `outcomes: { KIND: { attempted, …,
 * reasons: [text] } }` (`lib/scenario/export.ts`); {@link rowOutcomes} reads them back.
 *
 * @module
 */

/** The outcomes, in the order tables print them. */
export const OUTCOMES = [
  "restored",
  "unsupported",
  "refused",
  "failedRestore",
  "corrupted",
  "lost",
] as const;

/** One outcome. */
export type Outcome = typeof OUTCOMES[number];

/** What became of the objects of one kind. */
export interface KindOutcomes {
  /** Objects attempted: the sum of the six outcomes. */
  attempted: number;
  /** Restored and content verified. */
  restored: number;
  /** The generation cannot preserve them (never handed over). */
  unsupported: number;
  /** The successor refused the handover. */
  refused: number;
  /** The successor kept the memory; the restore call failed. */
  failedRestore: number;
  /** Restored with a different content hash. */
  corrupted: number;
  /** Not found: preserve failed, the walk dropped it, the manifest was unreadable, … */
  lost: number;
  /** `NAME: N OUTCOME — TEXT` lines; their `N`s add up to each count but `restored`'s. */
  reasons: string[];
}

/** Outcomes by object kind (`folio`, `range`, `memfd`, `vmalloc`, …), in first-seen order. */
export type Outcomes = Record<string, KindOutcomes>;

/** The fields of {@link KindOutcomes} in column order. */
export const OUTCOME_FIELDS: readonly (keyof KindOutcomes)[] = [
  "attempted",
  ...OUTCOMES,
  "reasons",
];

/** Distinct reasons kept per kind; the rest are folded into one line per name and outcome. */
export const MAX_REASONS_PER_KIND = 24;

/** The row key of one field of a kind's outcomes: `outcomes.memfd.restored`. */
export function outcomeKey(kind: string, field: keyof KindOutcomes): string {
  return `outcomes.${kind}.${field}`;
}

/** `{ kind, field }` of a key made by {@link outcomeKey}, or null for any other key. */
export function parseOutcomeKey(key: string): { kind: string; field: keyof KindOutcomes } | null {
  const m = /^outcomes\.([a-z][a-z0-9_]*)\.([A-Za-z]+)$/.exec(key);
  if (m === null || !(OUTCOME_FIELDS as readonly string[]).includes(m[2])) return null;
  return { kind: m[1], field: m[2] as keyof KindOutcomes };
}

/** A reason line: `NAME: N OUTCOME — TEXT`. */
export function formatReason(name: string, n: number, outcome: Outcome, text: string): string {
  return `${name}: ${n} ${outcome} — ${text}`;
}

const REASON = new RegExp(`: (\\d+) (${OUTCOMES.join("|")}) — `);

/** `{ n, outcome }` of a reason line made by {@link formatReason}, or null. */
export function parseReason(line: string): { n: number; outcome: Outcome } | null {
  const m = REASON.exec(line);
  return m ? { n: Number(m[1]), outcome: m[2] as Outcome } : null;
}

/** An empty {@link KindOutcomes}. */
export function emptyKindOutcomes(): KindOutcomes {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  return { attempted: 0, ...counts, reasons: [] };
}

/** A reason's class: its text with numbers blanked (pfns and counts vary, the cause does not). */
function reasonClass(text: string): string {
  return text.replace(/0x[0-9a-f]+|\d+/gi, "#");
}

interface ReasonGroup {
  name: string;
  outcome: Outcome;
  text: string;
  n: number;
  /** Some object's text differed from the first's (in its numbers). */
  varied: boolean;
}

/**
 * Counts outcomes per kind with their reasons. Objects of one name and outcome whose reasons
 * differ only in numbers (pfns, addresses) are one line: the first object's text, followed by
 * "(the first of N)" when the others' differed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OutcomeTally } from "./outcomes.ts";
 * const t = new OutcomeTally();
 * t.add("folio", "guests", "restored");
 * t.add("folio", "guests", "failedRestore", "NULL; log: order 18 > 10 at pfn 0x80000");
 * t.add("folio", "guests", "failedRestore", "NULL; log: order 18 > 10 at pfn 0xc0000");
 * const o = t.outcomes().folio;
 * assert.equal(o.attempted, 3);
 * assert.equal(o.failedRestore, 2);
 * assert.deepEqual(o.reasons, [
 *   "guests: 2 failedRestore — NULL; log: order 18 > 10 at pfn 0x80000 (the first of 2)",
 * ]);
 * assert.throws(() => t.add("folio", "guests", "lost"), /needs a reason/);
 * ```
 */
export class OutcomeTally {
  readonly #counts = new Map<string, KindOutcomes>();
  readonly #groups = new Map<string, Map<string, ReasonGroup>>();

  /**
   * Records `n` objects (default 1) of `kind`, from workload or object `name`, ending in
   * `outcome`, for `reason` (required for every outcome but `restored`).
   */
  add(kind: string, name: string, outcome: Outcome, reason?: string, n = 1): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`outcome count ${n}`);
    if (n === 0) return;
    if (outcome !== "restored" && !reason) {
      throw new RangeError(`${name}: ${outcome} needs a reason`);
    }
    let k = this.#counts.get(kind);
    if (k === undefined) {
      k = emptyKindOutcomes();
      this.#counts.set(kind, k);
      this.#groups.set(kind, new Map());
    }
    k.attempted += n;
    k[outcome] += n;
    if (!reason) return;
    const groups = this.#groups.get(kind)!;
    const key = `${name}\0${outcome}\0${reasonClass(reason)}`;
    const g = groups.get(key);
    if (g !== undefined) {
      g.n += n;
      g.varied ||= reason !== g.text;
    } else groups.set(key, { name, outcome, text: reason, n, varied: false });
  }

  /** Total objects of `outcome` over every kind. */
  total(outcome: Outcome | "attempted"): number {
    let n = 0;
    for (const k of this.#counts.values()) n += k[outcome];
    return n;
  }

  /** The outcomes by kind, reasons formatted (at most {@link MAX_REASONS_PER_KIND} per kind). */
  outcomes(): Outcomes {
    const out: Outcomes = {};
    for (const [kind, k] of this.#counts) {
      const groups = [...this.#groups.get(kind)!.values()];
      const shown = groups.slice(0, MAX_REASONS_PER_KIND);
      const reasons = shown.map((g) =>
        formatReason(
          g.name,
          g.n,
          g.outcome,
          g.varied ? `${g.text} (the first of ${g.n})` : g.text,
        )
      );
      const rest = new Map<string, ReasonGroup>();
      for (const g of groups.slice(MAX_REASONS_PER_KIND)) {
        const key = `${g.name}\0${g.outcome}`;
        const r = rest.get(key);
        if (r !== undefined) r.n += g.n;
        else rest.set(key, { ...g });
      }
      for (const g of rest.values()) {
        reasons.push(
          formatReason(
            g.name,
            g.n,
            g.outcome,
            `further causes not listed (${MAX_REASONS_PER_KIND} reasons per kind are)`,
          ),
        );
      }
      out[kind] = { ...k, reasons };
    }
    return out;
  }
}

/**
 * What is wrong with a kind's outcomes: the six outcomes must add up to `attempted`, and the
 * reasons of each outcome but `restored` to its count. Returns the problems (empty when none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outcomeProblems } from "./outcomes.ts";
 * const ok = { attempted: 3, restored: 2, unsupported: 0, refused: 0, failedRestore: 0,
 *   corrupted: 0, lost: 1, reasons: ["iommu: 1 lost — preserve failed (ENOMEM)"] };
 * assert.deepEqual(outcomeProblems("folio", ok), []);
 * assert.deepEqual(outcomeProblems("folio", { ...ok, reasons: [] }), [
 *   "folio: 1 lost, reasons for 0",
 * ]);
 * ```
 */
export function outcomeProblems(kind: string, k: KindOutcomes): string[] {
  const problems: string[] = [];
  const sum = OUTCOMES.reduce((s, o) => s + k[o], 0);
  if (sum !== k.attempted) problems.push(`${kind}: outcomes add up to ${sum}, not ${k.attempted}`);
  const byReason = new Map<Outcome, number>();
  for (const line of k.reasons) {
    const r = parseReason(line);
    if (r === null) problems.push(`${kind}: reason not NAME: N OUTCOME — TEXT: ${line}`);
    else byReason.set(r.outcome, (byReason.get(r.outcome) ?? 0) + r.n);
  }
  for (const o of OUTCOMES) {
    if (o === "restored") continue;
    const n = byReason.get(o) ?? 0;
    if (n !== k[o]) problems.push(`${kind}: ${k[o]} ${o}, reasons for ${n}`);
  }
  return problems;
}

/**
 * The flat row columns of `outcomes`: per kind `outcomes.KIND.FIELD` for every field of
 * {@link OUTCOME_FIELDS}, the reasons as a JSON array of strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OutcomeTally, outcomeColumns, rowOutcomes } from "./outcomes.ts";
 * const t = new OutcomeTally();
 * t.add("memfd", "guests", "unsupported", "no LUO (6.19 on)", 8);
 * const cols = outcomeColumns(t.outcomes());
 * assert.equal(cols["outcomes.memfd.unsupported"], 8);
 * assert.equal(cols["outcomes.memfd.reasons"], '["guests: 8 unsupported — no LUO (6.19 on)"]');
 * assert.deepEqual(rowOutcomes({ profile: "kho-v1-6.16", ...cols }), t.outcomes());
 * ```
 */
export function outcomeColumns(outcomes: Outcomes): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [kind, k] of Object.entries(outcomes)) {
    for (const f of OUTCOME_FIELDS) {
      out[outcomeKey(kind, f)] = f === "reasons" ? JSON.stringify(k.reasons) : k[f];
    }
  }
  return out;
}

/** `outcomes.KIND.reasons` of a flat row back as strings (a bad value: one line of its text). */
export function parseReasons(v: number | string | undefined): string[] {
  if (v === undefined || v === "") return [];
  try {
    const a = JSON.parse(String(v));
    if (Array.isArray(a) && a.every((x) => typeof x === "string")) return a;
  } catch {
    // not JSON: kept as one line below
  }
  return [String(v)];
}

/** The outcomes of a flat row, by kind in first-seen order (missing counts read 0). */
export function rowOutcomes(row: Readonly<Record<string, number | string>>): Outcomes {
  const out: Outcomes = {};
  for (const [key, v] of Object.entries(row)) {
    const p = parseOutcomeKey(key);
    if (p === null) continue;
    const k = out[p.kind] ??= emptyKindOutcomes();
    if (p.field === "reasons") k.reasons = parseReasons(v);
    else k[p.field] = Number(v) || 0;
  }
  return out;
}

/** The outcomes of every kind added up, reasons concatenated. */
export function totalOutcomes(outcomes: Outcomes): KindOutcomes {
  const t = emptyKindOutcomes();
  for (const k of Object.values(outcomes)) {
    t.attempted += k.attempted;
    for (const o of OUTCOMES) t[o] += k[o];
    t.reasons.push(...k.reasons);
  }
  return t;
}

/**
 * A kind's (or a total's) counts as text: `12 restored, 8 unsupported` — the non-zero ones
 * (`0 attempted` when nothing was).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyKindOutcomes, formatOutcomeCounts } from "./outcomes.ts";
 * const k = { ...emptyKindOutcomes(), attempted: 10, restored: 2, failedRestore: 8 };
 * assert.equal(formatOutcomeCounts(k), "2 restored, 8 failedRestore");
 * ```
 */
export function formatOutcomeCounts(k: KindOutcomes): string {
  const parts = OUTCOMES.filter((o) => k[o] > 0).map((o) => `${k[o]} ${o}`);
  return parts.length > 0 ? parts.join(", ") : `${k.attempted} attempted`;
}
