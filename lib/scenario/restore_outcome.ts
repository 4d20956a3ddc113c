/**
 * The successor's verdict on each object it tries to bring back (`lib/metrics/outcomes.ts`),
 * from what the successor itself finds — its page allocator, its log, the bytes — and the
 * manifest:
 *
 * - **lost** when the object's memory is in the successor's page allocator: the walk did not
 *   keep it, so `memblock_free_all` handed it out at boot. Whatever the restore call answers
 *   (6.16's rules and RFC v1 check no magic and return a page over free memory), the object is
 *   not the successor's; its content is compared only to say whether it "survived only because
 *   freed memory was not overwritten" (the successor booted with `poison` off) or was
 *   overwritten. The allocator is asked wherever the answer could be wrong
 *   ({@link RestoreJudge.judgeMemory}): a failed call, different content, or no poison;
 * - **failedRestore** when the memory was kept but the restore call failed: its errno (or
 *   NULL) and the successor's log lines it printed (a WARN_ON_ONCE that fired at an earlier
 *   object of the same section is quoted from there);
 * - **corrupted** when the object came back with a different content hash;
 * - **restored** otherwise.
 *
 * What the successor cannot find at all — a manifest it cannot read, a handover it refused, a
 * boot that panicked — is settled for the objects the harness attempted
 * ({@link settleUnread}): the harness's own accounting, since no section reached the successor.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { asKernelVerdict } from "../boot/verdict.ts";
import type { Kernel } from "../boot/kernel.ts";
import type { Outcome, OutcomeTally } from "../metrics/outcomes.ts";
import {
  chunkPhysOffset,
  KHO_VMALLOC_HDR_NEXT_OFFSET,
  KHO_VMALLOC_SIZE,
  type KhoVmalloc,
} from "../kho/abi/kexec_handover.ts";
import { type ManifestSection, type SectionKind, sectionRecordCount } from "./manifest_abi.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import { KHO_PAGE_MAGIC } from "../kho/restore.ts";

/** Log lines quoted per failure, and characters per line. */
const QUOTED_LINES = 3;
const QUOTED_CHARS = 240;

/** A failure as text: a KhoError's `ERRNO: message`, else `Name: message`. */
export function failureText(e: unknown): string {
  if (e instanceof KhoError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** The successor's log lines printed since line `seq`, as the kernel prints them. */
export function logSince(kernel: Kernel, seq: number): string[] {
  const entries = kernel.log.entries();
  const out: string[] = [];
  for (let i = entries.length - 1; i >= 0 && entries[i].seq >= seq; i--) {
    const e = entries[i];
    const who = e.origin === "kholab" ? "(kholab) " : "";
    out.push(`${who}${e.prefix ? `${e.prefix}: ` : ""}${e.text}`.slice(0, QUOTED_CHARS));
  }
  return out.reverse();
}

/** What a restore call answered. */
export interface RestoreAnswer {
  /** The call brought the object back. */
  ok: boolean;
  /** When it did not: the errno or NULL and the successor's log lines. */
  failure: string | null;
}

/** The answer of a call that brought its object back (shared: the hot path allocates none). */
const RESTORED: RestoreAnswer = Object.freeze({ ok: true, failure: null });

/** What {@link RestoreJudge.judge} weighs for one object. */
export interface ObjectFacts {
  /** The first pfn of the object that was in the page allocator before the restore, or null. */
  freedPfn: number | null;
  /** The restore call's answer. */
  answer: RestoreAnswer;
  /** The API that was called (`kho_restore_folio`, …), for "returned it anyway". */
  api: string;
  /** Whether the content equals the recorded hash, when it could be compared (else null). */
  sameContent: boolean | null;
  /** Why the content differs, beyond the hash (e.g. `3 folios back, 4 preserved`). */
  detail?: string;
}

/**
 * Judges the objects of one section in the successor and records each outcome with its
 * reason in `outcomes` (see the module doc); kernel verdicts thrown by a restore call are also
 * reported to `onError` (the row's `errors`), kholab's own exceptions are let through.
 */
export class RestoreJudge {
  readonly #kernel: Kernel;
  readonly #outcomes: OutcomeTally;
  readonly #section: { readonly kind: string; readonly name: string };
  readonly #onError: (e: unknown) => void;
  /** The log quote of the last failure per API and errno, for WARN_ON_ONCE's later calls. */
  readonly #lastQuote = new Map<string, string>();
  /** The last WARN line quoted. */
  #lastWarn: string | undefined;

  /** A judge of `section`'s objects in `kernel`. */
  constructor(
    kernel: Kernel,
    outcomes: OutcomeTally,
    section: { readonly kind: string; readonly name: string },
    onError: (e: unknown) => void,
  ) {
    this.#kernel = kernel;
    this.#outcomes = outcomes;
    this.#section = section;
    this.#onError = onError;
  }

  /**
   * The first page of `[pfn, pfn + pages)` in the successor's page allocator, or null: a
   * preserved object's memory is there only when the walk did not keep it.
   */
  freedPfn(pfn: number, pages: number): number | null {
    if (!(Number.isSafeInteger(pfn) && pfn >= 0 && pages >= 1)) return null;
    return this.#kernel.buddy.firstFreeIn(pfn, pfn + pages);
  }

  /**
   * The first page of a vmalloc buffer's memory — its chunks and the blocks they list, read
   * from the handed-over bytes as `kho_restore_vmalloc` will — in the page allocator, or null.
   * Stops at what the restore itself would reject (a chunk outside RAM, more entries than
   * `total_pages`): the restore's answer says the rest.
   */
  vmallocFreedPfn(desc: KhoVmalloc): number | null {
    const k = this.#kernel;
    const ram = (phys: number, bytes: number) => k.machine.topology.isRam(phys, bytes);
    const block = 2 ** Math.min(desc.order, 30);
    let chunk = desc.first;
    let pages = 0;
    for (let chunks = 0; chunk !== 0 && chunks <= desc.totalPages; chunks++) {
      if (chunk % PAGE_SIZE !== 0 || !ram(chunk, PAGE_SIZE)) return null;
      const own = this.freedPfn(chunk / PAGE_SIZE, 1);
      if (own !== null) return own;
      for (let i = 0; i < KHO_VMALLOC_SIZE && pages < desc.totalPages; i++) {
        const phys = k.machine.mem.readU64(chunk + chunkPhysOffset(i));
        if (phys === 0) break;
        if (phys % PAGE_SIZE !== 0 || !ram(phys, block * PAGE_SIZE)) return null;
        const freed = this.freedPfn(phys / PAGE_SIZE, block);
        if (freed !== null) return freed;
        pages += block;
      }
      chunk = k.machine.mem.readU64(chunk + KHO_VMALLOC_HDR_NEXT_OFFSET);
    }
    return null;
  }

  /**
   * What the successor's struct page of `pfn` holds in `page->private` after the walk: the
   * stamp `kho_restore_page` reads (order and, from 6.18, the KHO magic), and whether the
   * order is one the restore takes — for a NULL that the kernel returns without a word.
   */
  stampNote(pfn: number): string {
    const k = this.#kernel;
    if (!(Number.isSafeInteger(pfn) && k.machine.topology.isRam(pfn * PAGE_SIZE, PAGE_SIZE))) {
      return `pfn ${hex(pfn)} is not RAM`;
    }
    const [lo, hi] = k.memmap.getPrivateParts(pfn);
    const max = k.profile.maxRestoreOrder;
    if (k.profile.pageMagic && hi !== KHO_PAGE_MAGIC) {
      return `page->private of pfn ${hex(pfn)} has no KHO magic`;
    }
    const order = k.profile.pageMagic ? lo & 0x7fffffff : lo;
    return `page->private of pfn ${hex(pfn)} says order ${order}` +
      (max !== null && order > max ? `, above the ${max} the restore takes` : "");
  }

  /**
   * Calls a restore: `fn` returns whether the object came back (a kernel verdict it throws is
   * a failure too). The failure names the call (`api(arg())`, `arg` made only on a failure), its
   * errno or NULL, and quotes the successor's log; when the call printed nothing (and nothing
   * was quoted before), what `page->private` of `pfn` holds, where given.
   */
  call(
    api: string,
    fn: () => boolean,
    at: { pfn?: number; arg?: () => string } = {},
  ): RestoreAnswer {
    const pfn = at.pfn;
    const log = this.#kernel.log;
    const seq = log.printed;
    const suppressed = log.suppressedOnce;
    let ok = false;
    let error: unknown = null;
    try {
      ok = fn();
    } catch (e) {
      error = asKernelVerdict(e);
      this.#onError(error);
    }
    if (ok) return RESTORED;
    const call = at.arg === undefined ? api : `${api}(${at.arg()})`;
    const what = error === null ? `${call} returned NULL` : `${call}: ${failureText(error)}`;
    const key = `${api}\0${error instanceof KhoError ? error.code : error === null ? "" : "x"}`;
    const lines = logSince(this.#kernel, seq).slice(0, QUOTED_LINES);
    const warn = lines.find((l) => l.startsWith("WARNING"));
    if (warn !== undefined) this.#lastWarn = warn;
    // A WARN_ON_ONCE that fired at an earlier object prints nothing now: say which it was.
    const silent = log.suppressedOnce > suppressed
      ? `a WARN_ON_ONCE stayed silent (it fired before: ${this.#lastWarn ?? "at an earlier call"})`
      : null;
    let quote: string;
    if (lines.length > 0) {
      quote = `successor's log: ${lines.join(" | ")}${silent ? `; ${silent}` : ""}`;
      this.#lastQuote.set(key, quote);
    } else {
      quote = this.#lastQuote.get(key) ?? silent ??
        `the successor logged nothing${pfn === undefined ? "" : `; ${this.stampNote(pfn)}`}`;
    }
    return { ok: false, failure: `${what}; ${quote}` };
  }

  /** Records `n` objects of `outcome` for `reason`. */
  record(outcome: Outcome, reason?: string, n = 1): void {
    this.#outcomes.add(this.#section.kind, this.#section.name, outcome, reason, n);
  }

  /**
   * Judges an object of physical memory (`pages` pages at `pfn`) after its restore call: its
   * content is compared (`same`, where the call brought it back), and the page allocator is
   * asked whether the walk kept its memory only where the answer could be wrong — the call
   * failed, the content differs, or the successor did not poison freed memory (then matching
   * bytes prove nothing). After the call is as good as before: `kho_restore_*` takes no page
   * off the allocator's free lists (a folio 6.16's rules give back over free memory stays on
   * them). Records and returns the outcome.
   */
  judgeMemory(o: {
    pfn: number;
    pages: number;
    answer: RestoreAnswer;
    api: string;
    same: () => boolean | null;
  }): Outcome {
    const same = o.answer.ok ? o.same() : null;
    const ask = !o.answer.ok || same !== true || !this.#kernel.boot.poisoned;
    const freedPfn = ask ? this.freedPfn(o.pfn, o.pages) : null;
    return this.judge({
      freedPfn,
      answer: o.answer,
      api: o.api,
      sameContent: same ?? (freedPfn !== null ? o.same() : null),
    });
  }

  /** Judges one object from its facts (see the module doc) and records the outcome. */
  judge(f: ObjectFacts): Outcome {
    const v = this.verdict(f);
    this.record(v.outcome, v.reason);
    return v.outcome;
  }

  /** The outcome of one object from its facts (see the module doc), without recording it. */
  verdict(f: ObjectFacts): { outcome: Outcome; reason?: string } {
    if (f.freedPfn !== null) {
      const poisoned = this.#kernel.boot.poisoned;
      const content = f.sameContent === true
        ? poisoned
          ? "its content still matched"
          : "its content survived only because freed memory was not overwritten (poison off)"
        : f.sameContent === false
        ? poisoned
          ? "its content was overwritten (freed memory is poisoned)"
          : "its content differs"
        : null;
      const reason = [
        `not kept by the successor's walk: pfn ${
          hex(f.freedPfn)
        } was in the page allocator (memblock_free_all freed it at boot)`,
        f.answer.ok ? `${f.api} returned it anyway` : f.answer.failure!,
        ...(content === null ? [] : [content]),
      ].join("; ");
      return { outcome: "lost", reason };
    }
    if (!f.answer.ok) return { outcome: "failedRestore", reason: f.answer.failure! };
    if (f.sameContent === false) {
      return {
        outcome: "corrupted",
        reason: `content hash differs${f.detail ? ` (${f.detail})` : ""}`,
      };
    }
    return { outcome: "restored" };
  }
}

/** What the harness attempted in one section: enough to settle it when no section arrives. */
export interface AttemptedSection {
  /** Section kind (the outcome kind). */
  readonly kind: SectionKind;
  /** Workload or object name. */
  readonly name: string;
  /** Objects attempted. */
  readonly attempted: number;
  /** Objects preserved (with a record in the section). */
  readonly recorded: number;
  /** Objects the generation cannot preserve, and why. */
  readonly unsupported?: { readonly count: number; readonly reason: string };
  /** Why the preserve of the others failed. */
  readonly failedReason?: string;
}

/** The harness's summary of the sections it wrote (see {@link settleUnread}). */
export function attemptedSections(sections: readonly ManifestSection[]): AttemptedSection[] {
  return sections.map((s) => ({
    kind: s.kind,
    name: s.name,
    attempted: s.attempted,
    recorded: sectionRecordCount(s),
    ...(s.unsupported ? { unsupported: s.unsupported } : {}),
    ...(s.failedReason ? { failedReason: s.failedReason } : {}),
  }));
}

/**
 * The objects of a section that never reached the successor as records: those the generation
 * cannot preserve (`unsupported`, with the section's reason) and those whose preserve failed
 * in the first kernel (`lost`, with the recorded errno). Returns the count of the rest.
 */
export function settleUnrecorded(outcomes: OutcomeTally, s: AttemptedSection): number {
  const unsupported = s.unsupported?.count ?? 0;
  if (s.unsupported) outcomes.add(s.kind, s.name, "unsupported", s.unsupported.reason, unsupported);
  const failed = s.attempted - s.recorded - unsupported;
  outcomes.add(
    s.kind,
    s.name,
    "lost",
    `its preserve failed in the first kernel: ${s.failedReason ?? "no reason recorded"}`,
    failed,
  );
  return s.recorded;
}

/**
 * Settles every object of `sections` when the successor found none of them: the unsupported
 * and failed ones as always ({@link settleUnrecorded}), every recorded one as `outcome`
 * (`refused`: the successor refused the handover; `lost`: the manifest was unreadable, the
 * boot panicked) for `reason`.
 */
export function settleUnread(
  outcomes: OutcomeTally,
  sections: readonly AttemptedSection[],
  outcome: "refused" | "lost",
  reason: string,
): void {
  for (const s of sections) {
    outcomes.add(s.kind, s.name, outcome, reason, settleUnrecorded(outcomes, s));
  }
}
