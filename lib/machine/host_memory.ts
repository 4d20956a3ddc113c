/**
 * Host memory: what the simulator costs the process that runs it, and the budget a run may
 * not exceed. A simulated 64 TiB machine costs little until something touches it, but the
 * structures of what a command creates — JavaScript arrays of pfns, content descriptors of
 * filled pages, struct-page chunks, free-list entries, tracker pages — grow with it: `x =
 * pages count=64Mi` on a 63 TiB machine needs some 40 GiB and used to end after 45 s in V8's
 * "heap out of memory". Commands estimate what they need with the model below and are refused
 * up front when it does not fit ({@link MemoryBudget.check}); long runs are watched as they go
 * ({@link MemoryBudget.checkpoint}).
 *
 * **The model** (peak resident bytes, measured with `tools/memory_model.ts` on Deno 2.9.6:
 * the growth of the process's peak RSS, `VmHWM`, across one command in a fresh process, fitted
 * over two sizes; see `docs/memory-model.md` for the measurements):
 *
 * | term | bytes | what it is |
 * | --- | --- | --- |
 * | {@link HOST_BYTES.block} | per block allocated | pfn, size and hash arrays, the undo closure, allocator bookkeeping |
 * | {@link HOST_BYTES.page} | per page allocated | struct-page chunks (512 pages × 15 B + views) |
 * | {@link HOST_BYTES.chunk} | per folio of whole sections | its head's struct-page chunk |
 * | {@link HOST_BYTES.descriptor} | per block filled at random | its content descriptor and index entries |
 * | {@link HOST_BYTES.describedPage} | per page filled, blocks under 128 MiB | a section's per-page entry |
 * | {@link HOST_BYTES.vmallocPage} | per vmalloc page | the area's page array (grown by doubling) and pieces |
 * | {@link HOST_BYTES.memfdFolio} | per memfd folio | the folio record |
 * | {@link HOST_BYTES.preservedBlock} | per block handed over at kexec | the manifest, the successor's reservations and its rebuilt object |
 * | {@link HOST_BYTES.restoredBlock} | per block restored | restore records, the successor's struct pages |
 * | {@link bootBytes} | per machine boot | memblock, sections, free lists: 16 MiB + 6 MiB per TiB |
 *
 * Figures are bytes at the peak of the command (garbage not yet collected included), rounded
 * up; the model errs on the high side (the fits are within −20 %…+40 % of the measurement).
 *
 * **The budget** ({@link MemoryBudget}) bounds the JavaScript heap in use plus the buffers
 * outside it (`Deno.memoryUsage()`: `heapUsed + external`), or the growth of the process's
 * resident memory since kholab was loaded if larger ({@link hostMemoryInUse}). A command is
 * refused when what is
 * in use now plus its estimate exceeds the budget; garbage not yet collected counts, so close
 * to the budget a refusal can come early. The default is half of V8's heap limit
 * (`node:v8`'s `heap_size_limit`), so that a run ends with a clear error long before V8 would
 * abort the process.
 *
 * @module
 */

import { getHeapStatistics } from "node:v8";

/** The model's per-unit costs in bytes (see the module documentation). */
export const HOST_BYTES: Readonly<{
  block: number;
  page: number;
  descriptor: number;
  describedPage: number;
  vmallocPage: number;
  memfdFolio: number;
  preservedBlock: number;
  restoredBlock: number;
  trackerPage: number;
  chunk: number;
}> = Object.freeze({
  block: 360,
  page: 16,
  descriptor: 230,
  describedPage: 52,
  vmallocPage: 56,
  memfdFolio: 320,
  preservedBlock: 720,
  restoredBlock: 220,
  trackerPage: 4096 + 200,
  chunk: 512 * 15 + 544,
});

/** Pages of a 128 MiB memory section (a fill of whole sections needs no per-page entry). */
const SECTION_PAGES = 32768;

/** What a command is estimated to need. */
export interface MemoryEstimate {
  /** Bytes at the command's peak. */
  readonly bytes: number;
  /** How the figure was reached (the model's terms). */
  readonly detail: string;
}

/** An estimate of `bytes` with its explanation. */
export function estimate(bytes: number, detail: string): MemoryEstimate {
  return { bytes: Math.ceil(bytes), detail };
}

/** The sum of estimates (their details joined). */
export function sumEstimates(...parts: readonly MemoryEstimate[]): MemoryEstimate {
  const kept = parts.filter((p) => p.bytes > 0);
  return {
    bytes: kept.reduce((s, p) => s + p.bytes, 0),
    detail: kept.map((p) => p.detail).join(" + ") || "nothing",
  };
}

/** A count for a model detail: `64Mi`, `1.5 k`, `12`. */
function count(n: number): string {
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20}Mi`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}Ki`;
  return String(Math.round(n));
}

/** Bytes of a term `n × unit`, with its detail `n what × unit B`. */
export function term(n: number, unit: number, what: string): MemoryEstimate {
  return estimate(n * unit, `${count(n)} ${what} × ${unit} B`);
}

/**
 * Booting a kernel on a machine of `ramBytes` (memblock, sections, free lists, the kernel's
 * allocations at boot): 16 MiB + 6 MiB per TiB.
 */
export function bootBytes(ramBytes: number): MemoryEstimate {
  const bytes = 16 * 2 ** 20 + 6 * 2 ** 20 * (ramBytes / 2 ** 40);
  return estimate(bytes, `boot of ${hostBytesText(ramBytes)} (16 MiB + 6 MiB/TiB)`);
}

/**
 * Allocating `blocks` blocks of `blockPages` pages each, filled (`random`: a descriptor per
 * block; any fill of blocks under a section: an entry per page). A compound folio of whole
 * sections is its head's struct-page state alone (`compound`); other blocks give every page
 * state (a refcount).
 */
export function blocksBytes(
  blocks: number,
  blockPages: number,
  fill: "random" | "uniform" | "none",
  compound = false,
): MemoryEstimate {
  const pages = blocks * blockPages;
  const parts = [
    term(blocks, HOST_BYTES.block, "blocks"),
    compound && blockPages >= SECTION_PAGES
      ? term(blocks, HOST_BYTES.chunk, "struct-page chunks")
      : term(pages, HOST_BYTES.page, "pages"),
  ];
  if (fill === "random") parts.push(term(blocks, HOST_BYTES.descriptor, "descriptors"));
  if (fill !== "none" && blockPages < SECTION_PAGES) {
    parts.push(term(pages, HOST_BYTES.describedPage, "filled pages"));
  }
  return sumEstimates(...parts);
}

/** Pages the tracker of `blocks` blocks spread over `spanPages` pages may take (bitmaps). */
export function trackerBytes(blocks: number, spanPages: number): MemoryEstimate {
  const pages = Math.ceil(Math.min(blocks, spanPages / 4096)) + 1;
  return term(pages, HOST_BYTES.trackerPage, "tracker pages");
}

/** The heap limit of this isolate (V8's `heap_size_limit`), in bytes. */
export function heapLimitBytes(): number {
  return getHeapStatistics().heap_size_limit;
}

/** The default budget: half of this isolate's heap limit. */
export function defaultMemoryBudget(): number {
  return Math.floor(heapLimitBytes() / 2);
}

/** The process's resident memory when kholab was loaded (Deno, V8 and the modules). */
const BASE_RSS_BYTES = Deno.memoryUsage().rss;

/**
 * Host memory kholab holds now: the JavaScript heap in use plus the buffers outside it
 * (`Deno.memoryUsage()`), or the growth of the process's resident memory since kholab was
 * loaded when that is larger (V8's spaces and fragmentation around the heap in use).
 */
export function hostMemoryInUse(): number {
  const m = Deno.memoryUsage();
  return Math.max(m.heapUsed + m.external, m.rss - BASE_RSS_BYTES);
}

/**
 * A command needs more host memory than the budget leaves: refused before it ran (an
 * estimate), or stopped while it ran (the memory in use passed the budget). Not the simulated
 * kernel's ENOMEM: the machine may have the pages, this process cannot hold the structures.
 */
export class HostMemoryError extends Error {
  /** The estimate (refused up front), or null (stopped while running). */
  readonly estimate: MemoryEstimate | null;
  /** The budget in bytes. */
  readonly budgetBytes: number;
  /** Bytes in use when the check was made. */
  readonly inUseBytes: number;
  /** Creates the error; the message names the estimate or the use, and the budget. */
  constructor(
    what: string,
    at: { estimate: MemoryEstimate | null; budgetBytes: number; inUseBytes: number },
  ) {
    const budget = `the memory budget of ${hostBytesText(at.budgetBytes)} (--max-memory)`;
    const e = at.estimate;
    super(
      e === null
        ? `${what}: ${hostBytesText(at.inUseBytes)} of host memory in use, near ${budget}`
        : `${what} needs an estimated ${hostBytesText(e.bytes)} of host memory (${e.detail}), ` +
          (at.inUseBytes === 0
            ? `more than ${budget} allows`
            : `which with ${hostBytesText(at.inUseBytes)} in use exceeds ${budget}`),
    );
    this.name = "HostMemoryError";
    this.estimate = at.estimate;
    this.budgetBytes = at.budgetBytes;
    this.inUseBytes = at.inUseBytes;
  }
}

/**
 * Estimates are checked once they add up to this since the last check (small ones are summed,
 * not measured one by one: memoryUsage costs more than they do).
 */
const CHECK_FROM_BYTES = 1 * 2 ** 20;

/** Bytes for a message: `41.1 GiB`, `256 MiB`, `812 KiB` (three significant digits). */
export function hostBytesText(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let u = 0, x = bytes;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  const digits = u === 0 || x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return `${Number(x.toFixed(digits))} ${units[u]}`;
}

/**
 * A host-memory budget.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blocksBytes, HostMemoryError, MemoryBudget } from "./host_memory.ts";
 * const budget = new MemoryBudget(256 * 2 ** 20);
 * const e = blocksBytes(64 * 2 ** 20, 1, "random"); // x = pages count=64Mi
 * assert.ok(e.bytes > 40 * 2 ** 30);
 * assert.throws(() => budget.check("x = pages", e), HostMemoryError);
 * budget.check("y = pages", blocksBytes(16, 1, "random")); // small: no check at all
 * ```
 */
export class MemoryBudget {
  /** The budget in bytes. */
  readonly bytes: number;
  /**
   * What the checks allow: the budget less an eighth (at least 8 MiB) kept for what is not
   * measured at the moment of a check — V8's young generation, garbage made since, the
   * transient copies of a growing array.
   */
  readonly limit: number;
  readonly #inUse: () => number;
  #pending = 0;

  /** A budget of `bytes` (default {@link defaultMemoryBudget}); `inUse` measures the use. */
  constructor(bytes?: number, inUse: () => number = hostMemoryInUse) {
    const b = bytes ?? defaultMemoryBudget();
    if (!(Number.isSafeInteger(b) && b > 0)) throw new RangeError(`memory budget ${b}: > 0`);
    this.bytes = b;
    this.limit = b - Math.max(8 * 2 ** 20, Math.floor(b / 8));
    this.#inUse = inUse;
  }

  /**
   * Throws {@link HostMemoryError} when what is in use plus `e` (plus the small estimates
   * let through since the last measurement) exceeds the budget.
   */
  check(what: string, e: MemoryEstimate): void {
    const pending = this.#pending + e.bytes;
    if (pending < CHECK_FROM_BYTES) {
      this.#pending = pending;
      return;
    }
    this.#pending = 0;
    const inUse = e.bytes > this.limit ? 0 : this.#inUse();
    if (inUse + pending > this.limit) {
      throw new HostMemoryError(what, { estimate: e, budgetBytes: this.bytes, inUseBytes: inUse });
    }
  }

  /** Throws {@link HostMemoryError} when what is in use now exceeds the budget. */
  checkpoint(what: string): void {
    this.#pending = 0;
    const inUse = this.#inUse();
    if (inUse > this.limit) {
      throw new HostMemoryError(what, {
        estimate: null,
        budgetBytes: this.bytes,
        inUseBytes: inUse,
      });
    }
  }
}
