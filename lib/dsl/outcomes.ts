/**
 * What became of the script's handed-over objects and of the last `scenario` command's: the
 * outcomes of `lib/metrics/outcomes.ts` with their reasons, for `show outcomes` and the
 * `outcomes.*` metrics. An object handed over at `kexec` is `pending` until it is decided —
 * `restore` decides `lost` and `failedRestore`, `verify` then `restored` or `corrupted` (a
 * `reserve_mem=` region, revived by the kernel, needs only `verify`); what the successor
 * settled at `kexec` (a refused handover, an unreadable manifest) is decided there.
 *
 * @module
 */

import {
  emptyKindOutcomes,
  formatReason,
  type KindOutcomes,
  type Outcome,
  OUTCOMES,
  rowOutcomes,
} from "../metrics/outcomes.ts";
import { escapeHtml } from "../plot/chart.ts";
import { ResultTable } from "../plot/table.ts";
import type { DslObject } from "./objects.ts";
import type { Session, Shown } from "./session.ts";
import { textTable } from "./text_table.ts";

/** An object's outcome, or `pending` with what is left to do. */
export interface ObjectOutcome {
  /** Object name. */
  name: string;
  /** Object kind. */
  kind: string;
  /** The outcome, or `pending`. */
  outcome: Outcome | "pending";
  /** Why (every outcome but `restored`; for `pending`, what decides it). */
  reason?: string;
}

/** The outcome of a handed-over object as it stands (null for an object not handed over). */
export function objectOutcome(o: DslObject): ObjectOutcome | null {
  if (!o.handedOver) return null;
  const at = { name: o.name, kind: o.kind };
  if (o.verdict !== null) return { ...at, ...o.verdict };
  if (o.state === "reserved" && o.missing > 0) {
    return {
      ...at,
      outcome: "lost",
      reason: `reserve_mem ${o.name} was not revived where the previous kernel recorded it`,
    };
  }
  if (o.state === "incoming") {
    return { ...at, outcome: "pending", reason: "incoming: `restore` it, then `verify`" };
  }
  if (o.verified === true) return { ...at, outcome: "restored" };
  if (o.verified === false) return { ...at, outcome: "corrupted", reason: "content hash differs" };
  return { ...at, outcome: "pending", reason: `${o.state}: \`verify\` decides` };
}

/** Every outcome of the last kexec's handover: settled ones, then the objects', in order. */
export function handoverOutcomes(s: Session): ObjectOutcome[] {
  if (s.handover === null) return [];
  return [
    ...s.handover.settled,
    ...[...s.objects.values()].flatMap((o) => objectOutcome(o) ?? []),
  ];
}

/** Counts of {@link handoverOutcomes}: each outcome, `pending` and `attempted` (their sum). */
export function handoverCounts(s: Session): Record<Outcome | "pending" | "attempted", number> {
  const out = { attempted: 0, pending: 0, ...Object.fromEntries(OUTCOMES.map((o) => [o, 0])) };
  for (const x of handoverOutcomes(s)) {
    out.attempted++;
    (out as Record<string, number>)[x.outcome]++;
  }
  return out as Record<Outcome | "pending" | "attempted", number>;
}

const COUNT_HEADER = ["kind", "attempted", ...OUTCOMES];

function countRow(kind: string, k: KindOutcomes, pending?: number): string[] {
  return [
    kind,
    String(k.attempted),
    ...OUTCOMES.map((o) => String(k[o])),
    ...(pending === undefined ? [] : [String(pending)]),
  ];
}

/** The handover part of `show outcomes`: per object, then per kind. */
function handoverPart(s: Session): { text: string; html: string } | null {
  const h = s.handover;
  if (h === null) return null;
  const list = handoverOutcomes(s);
  const title = `handover to boot #${h.boot} (${h.profile}): ${list.length} object(s)`;
  if (list.length === 0) return { text: `${title}`, html: `<p>${title}</p>` };
  const byKind = new Map<string, KindOutcomes & { pending: number }>();
  for (const x of list) {
    const k = byKind.get(x.kind) ?? { ...emptyKindOutcomes(), pending: 0 };
    byKind.set(x.kind, k);
    k.attempted++;
    if (x.outcome === "pending") k.pending++;
    else k[x.outcome]++;
    if (x.reason && x.outcome !== "pending") {
      k.reasons.push(formatReason(x.name, 1, x.outcome, x.reason));
    }
  }
  const objects = list.map((x) => [x.name, x.kind, x.outcome, x.reason ?? ""]);
  const kinds = [...byKind].map(([kind, k]) => countRow(kind, k, k.pending));
  const header = [...COUNT_HEADER, "pending"];
  const text = [
    title,
    ...list.map((x) => `  ${x.name} (${x.kind}): ${x.outcome}${x.reason ? ` — ${x.reason}` : ""}`),
    "",
    textTable(header, kinds),
  ].join("\n");
  const html = `<p>${escapeHtml(title)}</p>` +
    table(["name", "kind", "outcome", "reason"], objects, 3).toHtml() +
    table(header, kinds).toHtml();
  return { text, html };
}

/** The `scenario` part of `show outcomes`: per kind, with the reasons. */
function scenarioPart(s: Session): { text: string; html: string } | null {
  const row = s.scenarioRow;
  if (row === null) return null;
  const outcomes = rowOutcomes(row);
  const title = `scenario ${row.scenario} (${row.profile}): ${row.status ?? "done"}`;
  const kinds = Object.entries(outcomes);
  if (kinds.length === 0) return { text: title, html: `<p>${escapeHtml(title)}</p>` };
  const counts = kinds.map(([kind, k]) => countRow(kind, k));
  const reasons = kinds.flatMap(([kind, k]) => k.reasons.map((r) => `${kind}: ${r}`));
  const text = [title, textTable(COUNT_HEADER, counts), ...reasons.map((r) => `  ${r}`)].join(
    "\n",
  );
  const html = `<p>${escapeHtml(title)}</p>` +
    table(
      [...COUNT_HEADER, "reasons"],
      kinds.map(([, k], i) => [...counts[i], k.reasons.join("\n")]),
      COUNT_HEADER.length,
    ).toHtml();
  return { text, html };
}

/** A result table of text cells; column `wrapAt` (if any) wraps with its line breaks. */
function table(header: string[], rows: string[][], wrapAt?: number): ResultTable {
  return new ResultTable(
    rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""]))),
    header.map((h, i) => ({ header: h, metric: h, wrap: i === wrapAt })),
  );
}

/**
 * `show outcomes`: what became of every object the last `kexec` handed over (restored,
 * refused, failedRestore, corrupted, lost, or pending until `restore` and `verify` decide),
 * each with its reason, then counts per kind; and the last `scenario` command's outcomes per
 * kind with their reasons.
 */
export function showOutcomes(s: Session): Shown {
  const parts = [handoverPart(s), scenarioPart(s)].filter((p) => p !== null);
  if (parts.length === 0) {
    return { text: "(no outcomes yet: `kexec` hands objects over, `scenario` runs one)" };
  }
  return {
    text: parts.map((p) => p.text).join("\n\n"),
    html: parts.map((p) => p.html).join("\n"),
  };
}
