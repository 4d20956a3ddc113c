/**
 * The tracker conformance suite: one contract, run against every tracker format — kholab's
 * own kinds and a user's design alike, as the kernel's `tools/testing/radix-tree` runs its
 * shared checkers against every tree. Each check builds the format's tracker over a fresh
 * {@link PagePool} in a 1 TiB sparse memory, drives it, and reads what the successor would
 * read: the bytes alone.
 *
 * The checks ({@link CONFORMANCE_CHECKS}), each passing or failing with a named reason:
 * - `add-walk`: a deterministic set of blocks (dense runs and scattered blocks of orders
 *   0..min(20, maxOrder), pfn 0 included, several hundred in all) walks back exactly, each block once, in the
 *   promised {@link WalkOrder};
 * - `incoming-walk`: the successor's reader of the handed-over bytes gives the same sequence;
 * - `batched-walk`: where a batched walk is promised, it gives the same sequence;
 * - `del`: deleting a third of the blocks leaves the rest, on both faces; deleting a block
 *   never added does not throw;
 * - `duplicate-add`: adding every block again changes no page and no byte;
 * - `random-ops`: seeded random add/del sequences over the set; after each, both walks give
 *   exactly the blocks a plain set model holds;
 * - `walk-stop`: a non-zero callback result stops both walks at once and is returned;
 * - `invalid-args`: a negative or fractional pfn, a negative or huge order are `KhoError`
 *   EINVAL and change nothing;
 * - `enomem-rollback`: the n-th page allocation fails, for every n of a scenario: the error is
 *   `KhoError` ENOMEM; with the `exact` promise pages, bytes and blocks are as before the
 *   call; with `none` (no rollback, e.g. RFC v1) nothing leaks and no block is lost or gained;
 *   the same add then succeeds;
 * - `accounting`: `metadataPages()` counts `ownedPagesPhys()`, every page in use at the
 *   allocator is owned (or in the serialized copy), metadata bytes fit the pages, and
 *   `destroy()` returns every page;
 * - `cost-counters`: the tracker charges its {@link TrackerCounters} as the cost model of
 *   `docs/metrics.md` says every encoding does: each add at least one line read, one line
 *   written (its bit) and one page touched, never more lines than its pages hold; pages
 *   allocated and freed as the allocator saw them, for `create` and each add; no counter goes
 *   down; the successor's walk one callback per block delivered, and lines and pages read
 *   when it delivers any; and the same adds on a fresh tracker charge the same counters;
 * - `bytes-only`: the reader works on a fresh copy of the bytes while every object the
 *   first kernel's tracker was given (memory, allocator, log) throws when touched, and two
 *   trackers built one after the other at the same addresses each read back their own set —
 *   a reader that keeps JavaScript state across "kexec" fails here;
 * - `corrupt-root`, `corrupt-outside-ram`, `corrupt-cycle`, `corrupt-shared`,
 *   `corrupt-random`: the handed-over bytes are corrupted (a root outside RAM or unaligned;
 *   each pointer between handed-over pages redirected outside RAM, to its own page, to
 *   another pointer's page; random words) and the reader must end in a named
 *   `TrackerCorruptionError` or a walk that stays inside RAM — never a raw exception, a
 *   block reported twice after a redirect, or a walk that does not terminate (bounded by a
 *   budget of memory reads and callbacks). Each of the first four needs at least one named
 *   reason where the bytes have such a pointer.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { KernelLog } from "../kernel/dmesg.ts";
import { PhysicalMemory } from "../machine/physmem.ts";
import { Rng } from "../rng.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import { checkedWalk, checkedWalkBatched } from "../kho/trackers/incoming.ts";
import { trackerFormat } from "../kho/trackers/registry.ts";
import {
  CACHE_LINE_SIZE,
  TRACKER_COUNTER_NAMES,
  type TrackerCounters,
  type TrackerCounterValues,
} from "../kho/trackers/counters.ts";
import type {
  IncomingTracker,
  OutgoingTracker,
  TrackerFormat,
  TrackerHost,
  WalkOrder,
} from "../kho/trackers/tracker.ts";
import type { WalkOutcome } from "../kho/trackers/walk_guard.ts";
import { PagePool } from "./page_pool.ts";

/** The checks, in the order they run and are reported. */
export const CONFORMANCE_CHECKS = [
  "add-walk",
  "incoming-walk",
  "batched-walk",
  "del",
  "duplicate-add",
  "random-ops",
  "walk-stop",
  "invalid-args",
  "enomem-rollback",
  "accounting",
  "cost-counters",
  "bytes-only",
  "corrupt-root",
  "corrupt-outside-ram",
  "corrupt-cycle",
  "corrupt-shared",
  "corrupt-random",
] as const;

/** A check's name. */
export type ConformanceCheckName = typeof CONFORMANCE_CHECKS[number];

/** One check's verdict. */
export interface ConformanceCheck {
  /** The check. */
  readonly name: ConformanceCheckName;
  /** Whether the format passed it. */
  readonly ok: boolean;
  /** The named reason of a failure (e.g. `"rollback-leak"`), null when it passed. */
  readonly reason: string | null;
  /** What was checked, or what went wrong, in one line. */
  readonly detail: string;
}

/** Every check's verdict for one format. */
export interface ConformanceReport {
  /** The format's kind. */
  readonly kind: string;
  /** Whether every check passed. */
  readonly ok: boolean;
  /** The checks, in {@link CONFORMANCE_CHECKS} order. */
  readonly checks: readonly ConformanceCheck[];
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** Seed of the block sets and random corruptions. Default 1. */
  seed?: number;
  /** Only these checks (default: all). */
  checks?: readonly ConformanceCheckName[];
}

/** A block as a walk reports it: physical address and order. */
type Block = readonly [phys: number, order: number];

const MEM_BYTES = 2 ** 40;
/** Blocks live below the pool; the pool's pages are the only other bytes written. */
const POOL_BASE = 2 ** 39;
const POOL_PAGES = 1 << 15;
/** Largest block order the suite preserves (a 4 GiB block). */
const SUITE_MAX_ORDER = 20;
/** Bytes of each order's region of the address space. */
const REGION_BYTES = 32 * 2 ** 30;
/** Memory-method calls a reader may make per handed-over page before it counts as a hang. */
const READS_PER_PAGE = 8 * 512;

const isRam = (phys: number, size: number) => phys >= 0 && phys + size <= MEM_BYTES;

/** A failed check, thrown inside a check and caught by the runner. */
class Failure extends Error {
  constructor(readonly reason: string, detail: string) {
    super(detail);
  }
}

function fail(reason: string, detail: string): never {
  throw new Failure(reason, detail);
}

/** What `f` throws, or null. */
function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
}

const blockText = ([phys, order]: Block) => `${hex(phys)}/${order}`;

// ------------------------------------------------------------------------------------------
// Block sets.

/** The orders the suite uses for a format: a spread up to min(20, maxOrder). */
function suiteOrders(maxOrder: number): number[] {
  const top = Math.min(SUITE_MAX_ORDER, maxOrder);
  return [...new Set([0, 1, 2, 3, 9, 10, 18, 20, top])].filter((o) => o <= top).sort((a, b) =>
    a - b
  );
}

/**
 * The suite's blocks: per order, in a 32 GiB region of its own, a dense run of consecutive
 * blocks (40 for orders up to 3, 3 above) and scattered ones (600 of order 0 — enough that
 * any structure needs several pages —, 40 of orders 1..3, up to 6 above; fewer where the
 * region holds few blocks), none overlapping; pfn 0 is the first order-0 block. As
 * `[pfn, order]`, in generation order.
 */
function blockSet(maxOrder: number, rng: Rng): [number, number][] {
  const out: [number, number][] = [];
  suiteOrders(maxOrder).forEach((order, r) => {
    const regionPfn = (r * REGION_BYTES) / PAGE_SIZE;
    const slots = REGION_BYTES / PAGE_SIZE / 2 ** order;
    const used = new Set<number>();
    const run = order <= 3 ? 40 : 3;
    const start = r === 0 ? 0 : rng.int(slots / 2 - run);
    for (let i = 0; i < run; i++) used.add(start + i);
    // enough scattered order-0 blocks that a structure needs several pages of any kind
    const scattered = Math.min(order === 0 ? 600 : order <= 3 ? 40 : 6, slots - run - 1);
    while (used.size < run + scattered) used.add(rng.int(slots));
    for (const slot of used) out.push([regionPfn + slot * 2 ** order, order]);
  });
  return out;
}

/** `[pfn, order]` → the block a walk reports. */
const asBlock = ([pfn, order]: readonly [number, number]): Block => [pfn * PAGE_SIZE, order];

function sortedFor(order: WalkOrder, blocks: readonly Block[]): Block[] {
  const byAddr = (a: Block, b: Block) => a[0] - b[0];
  const s = [...blocks];
  if (order === "order-desc") return s.sort((a, b) => b[1] - a[1] || byAddr(a, b));
  if (order === "order-asc") return s.sort((a, b) => a[1] - b[1] || byAddr(a, b));
  return s.sort((a, b) => byAddr(a, b) || a[1] - b[1]);
}

/** Compares a walked sequence with the expected set (and order where promised). */
function expectSequence(
  what: string,
  got: readonly Block[],
  want: readonly Block[],
  order: WalkOrder,
): void {
  const seen = new Set<string>();
  for (const b of got) {
    const k = blockText(b);
    if (seen.has(k)) fail("duplicate-visit", `${what}: block ${k} visited twice`);
    seen.add(k);
  }
  const wanted = new Set(want.map(blockText));
  const missing = [...wanted].filter((k) => !seen.has(k));
  if (missing.length) {
    fail("missing-block", `${what}: ${missing.length} blocks missing, first ${missing[0]}`);
  }
  const extra = [...seen].filter((k) => !wanted.has(k));
  if (extra.length) fail("extra-block", `${what}: ${extra.length} blocks never added, ${extra[0]}`);
  if (order === "unspecified") return;
  const sorted = sortedFor(order, got);
  const i = got.findIndex((b, j) => blockText(b) !== blockText(sorted[j]));
  if (i >= 0) {
    fail(
      "wrong-order",
      `${what}: block ${i} is ${blockText(got[i])}, ${order} puts ` +
        `${blockText(sorted[i])} there`,
    );
  }
}

// ------------------------------------------------------------------------------------------
// Rigs: a tracker over a fresh pool, whose host objects can be poisoned.

/** Wraps `target` so that every property access throws once `state.poisoned` is set. */
function poisonable<T extends object>(target: T, name: string, state: { poisoned: boolean }): T {
  return new Proxy(target, {
    get(t, key) {
      if (state.poisoned) {
        throw new Failure(
          "reads-first-kernel-object",
          `the successor's reader used the first kernel's ${name} (.${String(key)})`,
        );
      }
      const v = Reflect.get(t, key, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

interface Rig {
  readonly format: TrackerFormat;
  readonly mem: PhysicalMemory;
  readonly pool: PagePool;
  readonly log: KernelLog;
  readonly tracker: OutgoingTracker;
  /** Set after the handover: the host objects then throw when touched. */
  readonly poison: { poisoned: boolean };
}

function newRig(format: TrackerFormat, failAt: number | null = null): Rig {
  const mem = new PhysicalMemory(MEM_BYTES);
  const pool = new PagePool({ mem, basePhys: POOL_BASE, pages: POOL_PAGES });
  pool.failAt = failAt;
  const log = new KernelLog();
  const poison = { poisoned: false };
  const host: TrackerHost = {
    mem: poisonable(mem, "memory", poison),
    alloc: poisonable(pool, "page allocator", poison),
    log: poisonable(log, "log", poison),
  };
  let tracker: OutgoingTracker;
  try {
    tracker = format.create(host);
  } catch (e) {
    if (pool.inUse.size > 0) {
      fail("create-leak", `create() failed (${e}) and left ${pool.inUse.size} pages in use`);
    }
    throw e;
  }
  return { format, mem, pool, log, tracker, poison };
}

function addAll(t: OutgoingTracker, blocks: readonly (readonly [number, number])[]): void {
  for (const [pfn, order] of blocks) t.add(pfn, order);
}

/** The root the successor gets: after `serialize` where the format has one. */
function handover(rig: Rig): number {
  return rig.format.serialize?.(rig.tracker) ?? rig.tracker.handoverRoot();
}

function walkOut(t: OutgoingTracker): Block[] {
  const out: Block[] = [];
  t.walk((phys, order) => (out.push([phys, order]), 0));
  return out;
}

/** A copy of the pool's pages in use, in a memory of its own (the bytes that cross). */
function copyBytes(rig: Rig): PhysicalMemory {
  const fresh = new PhysicalMemory(MEM_BYTES);
  for (const phys of rig.pool.inUse) fresh.writeBytes(phys, rig.mem.readBytes(phys, PAGE_SIZE));
  return fresh;
}

/** What the corruption walks return to stop a reader that reports too many blocks. */
const STOP = 0x5709;

/** The walk ran out of its budget: the reader does not terminate on these bytes. */
class BudgetExceeded extends Error {}
/** The reader reported a block twice (after a redirect) or one outside RAM. */
class BadBlock extends Failure {}

/** `mem` behind a counter of method calls that throws {@link BudgetExceeded} past `budget`. */
function budgeted(mem: PhysicalMemory, budget: number): PhysicalMemory {
  let calls = 0;
  return new Proxy(mem, {
    get(t, key) {
      const v = Reflect.get(t, key, t);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (++calls > budget) throw new BudgetExceeded(`more than ${budget} memory reads`);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

interface IncomingRun {
  readonly outcome: Readonly<WalkOutcome<string>>;
  readonly blocks: Block[];
}

/** The successor's walk of `mem` from `root`, collecting the blocks. */
function walkIn(
  format: TrackerFormat,
  mem: PhysicalMemory,
  root: number,
  onBlock?: (b: Block) => number,
): IncomingRun {
  const reader: IncomingTracker = format.incoming(mem, root, { isRam, log: new KernelLog() });
  const blocks: Block[] = [];
  const outcome = checkedWalk(reader, (phys, order) => {
    const b: Block = [phys, order];
    blocks.push(b);
    return onBlock ? onBlock(b) : 0;
  });
  return { outcome, blocks };
}

function expectOk(what: string, r: IncomingRun): void {
  if (!r.outcome.ok) {
    fail("incoming-error", `${what}: the reader failed: ${r.outcome.error}: ${r.outcome.detail}`);
  }
}

function snapshotPages(rig: Rig): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const phys of rig.tracker.ownedPagesPhys()) {
    out.set(phys, rig.mem.readBytes(phys, PAGE_SIZE));
  }
  return out;
}

function samePages(a: Map<number, Uint8Array>, b: Map<number, Uint8Array>): string | null {
  if (a.size !== b.size) return `${a.size} owned pages before, ${b.size} after`;
  for (const [phys, bytes] of a) {
    const other = b.get(phys);
    if (other === undefined) return `page ${hex(phys)} is no longer owned`;
    const i = bytes.findIndex((v, j) => v !== other[j]);
    if (i >= 0) return `byte ${hex(phys + i)} changed (${bytes[i]} → ${other[i]})`;
  }
  return null;
}

const sameList = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

// ------------------------------------------------------------------------------------------
// The checks.

interface Ctx {
  readonly format: TrackerFormat;
  readonly blocks: [number, number][];
  readonly want: Block[];
  readonly rng: Rng;
}

type CheckFn = (c: Ctx) => string;

/** A tracker holding the whole set, handed over. */
function fullRig(c: Ctx): { rig: Rig; root: number; out: Block[] } {
  const rig = newRig(c.format);
  addAll(rig.tracker, c.blocks);
  const root = handover(rig);
  return { rig, root, out: walkOut(rig.tracker) };
}

const CHECKS: Record<ConformanceCheckName, CheckFn> = {
  "add-walk": (c) => {
    const { out } = fullRig(c);
    expectSequence("outgoing walk", out, c.want, c.format.capabilities.walkOrder);
    return `${c.want.length} blocks of orders ${suiteOrders(c.format.capabilities.maxOrder)}, ` +
      `walked ${c.format.capabilities.walkOrder}`;
  },

  "incoming-walk": (c) => {
    const { rig, root, out } = fullRig(c);
    const r = walkIn(c.format, rig.mem, root);
    expectOk("incoming walk", r);
    if (r.blocks.map(blockText).join() !== out.map(blockText).join()) {
      expectSequence("incoming walk", r.blocks, c.want, c.format.capabilities.walkOrder);
      fail("incoming-differs", "the successor's walk is not the outgoing walk's sequence");
    }
    if (r.outcome.blocks !== r.blocks.length) {
      fail("miscounted", `outcome says ${r.outcome.blocks} blocks, ${r.blocks.length} delivered`);
    }
    return `${r.blocks.length} blocks from the bytes at ${hex(root)}, as the outgoing walk`;
  },

  "batched-walk": (c) => {
    if (!c.format.capabilities.batchedWalk) return "no batched walk promised";
    const { rig, root, out } = fullRig(c);
    const reader = c.format.incoming(rig.mem, root, { isRam });
    if (reader.walkBatched === undefined) {
      fail("no-batched-walk", "batchedWalk is promised but the reader has no walkBatched");
    }
    const got: Block[] = [];
    const r = checkedWalkBatched(reader, (phys, n, order) => {
      for (let i = 0; i < n; i++) got.push([phys[i], order]);
      return 0;
    });
    if (!r.ok || got.map(blockText).join() !== out.map(blockText).join()) {
      fail("batched-differs", "the batched walk is not the per-block walk's sequence");
    }
    if (rig.tracker.walkBatched) {
      const outGot: Block[] = [];
      rig.tracker.walkBatched((phys, n, order) => {
        for (let i = 0; i < n; i++) outGot.push([phys[i], order]);
        return 0;
      });
      if (outGot.map(blockText).join() !== out.map(blockText).join()) {
        fail("batched-differs", "the outgoing batched walk is not the per-block walk's sequence");
      }
    }
    return `${got.length} blocks in batches, same sequence`;
  },

  "del": (c) => {
    const { rig } = fullRig(c);
    const gone = c.blocks.filter((_, i) => i % 3 === 1);
    for (const [pfn, order] of gone) rig.tracker.del(pfn, order);
    // A block in a region of its own, never added: the kernel WARNs (or ignores it).
    const stranger = (suiteOrders(c.format.capabilities.maxOrder).length * REGION_BYTES) /
      PAGE_SIZE;
    try {
      rig.tracker.del(stranger, 0);
    } catch (e) {
      if (!(e instanceof KhoError)) fail("del-threw", `del of a block never added: ${e}`);
    }
    const rest = c.want.filter((_, i) => i % 3 !== 1);
    const order = c.format.capabilities.walkOrder;
    expectSequence("walk after del", walkOut(rig.tracker), rest, order);
    const root = handover(rig);
    const r = walkIn(c.format, rig.mem, root);
    expectOk("incoming walk after del", r);
    expectSequence("incoming walk after del", r.blocks, rest, order);
    return `${gone.length} of ${c.blocks.length} blocks deleted; the rest walk back on both faces`;
  },

  "duplicate-add": (c) => {
    const { rig, out } = fullRig(c);
    const before = snapshotPages(rig);
    const inUse = rig.pool.inUseSorted();
    addAll(rig.tracker, c.blocks);
    const diff = samePages(before, snapshotPages(rig));
    if (diff !== null) fail("duplicate-changed", `adding present blocks again: ${diff}`);
    if (!sameList(inUse, rig.pool.inUseSorted())) {
      fail("duplicate-changed", "adding present blocks again allocated or freed pages");
    }
    const again = walkOut(rig.tracker);
    if (again.map(blockText).join() !== out.map(blockText).join()) {
      fail("duplicate-visit", "the walk changed after adding present blocks again");
    }
    return `${c.blocks.length} blocks added twice: pages and bytes unchanged`;
  },

  "random-ops": (c) => {
    const rng = c.rng.fork("ops");
    const order = c.format.capabilities.walkOrder;
    let ops = 0;
    for (let round = 0; round < 6; round++) {
      const rig = newRig(c.format);
      const model = new Map<string, Block>();
      for (let n = 0; n < 80; n++, ops++) {
        const [pfn, o] = c.blocks[rng.int(c.blocks.length)];
        const b = asBlock([pfn, o]);
        if (rng.chance(0.65)) {
          rig.tracker.add(pfn, o);
          model.set(blockText(b), b);
        } else {
          rig.tracker.del(pfn, o);
          model.delete(blockText(b));
        }
      }
      const want = [...model.values()];
      expectSequence(`round ${round}: outgoing walk`, walkOut(rig.tracker), want, order);
      const root = handover(rig);
      const r = walkIn(c.format, copyBytes(rig), root);
      expectOk(`round ${round}: incoming walk`, r);
      expectSequence(`round ${round}: incoming walk`, r.blocks, want, order);
    }
    return `${ops} random adds and dels in 6 rounds: both walks match a set model`;
  },

  "walk-stop": (c) => {
    const { rig, root } = fullRig(c);
    const k = Math.floor(c.want.length / 2) + 1;
    let calls = 0;
    const stopAt = () => (++calls === k ? 7 : 0);
    const r1 = rig.tracker.walk(stopAt);
    if (r1 !== 7 || calls !== k) {
      fail("stop-ignored", `outgoing walk returned ${r1} after ${calls} callbacks (stop at ${k})`);
    }
    calls = 0;
    const r2 = walkIn(c.format, rig.mem, root, stopAt);
    if (r2.outcome.stopped !== 7 || calls !== k) {
      fail(
        "stop-ignored",
        `incoming walk stopped with ${r2.outcome.stopped} after ${calls} callbacks (stop at ${k})`,
      );
    }
    calls = 0;
    const thrown = c.format.incoming(rig.mem, root, { isRam }).walk(stopAt);
    if (thrown !== 7) fail("stop-value", `incoming walk() returned ${thrown}, not 7`);
    return `a callback returning 7 at block ${k} of ${c.want.length} stops both walks with 7`;
  },

  "invalid-args": (c) => {
    const { rig } = fullRig(c);
    const before = snapshotPages(rig);
    const bad: [number, number][] = [[-1, 0], [0.5, 0], [0, -1], [0, 64], [0, 1.5]];
    for (const [pfn, order] of bad) {
      const err = caught(() => rig.tracker.add(pfn, order));
      if (err === null) fail("accepted-invalid", `add(${pfn}, ${order}) was accepted`);
      if (!(err instanceof KhoError) || err.code !== "EINVAL") {
        fail("wrong-error", `add(${pfn}, ${order}) threw ${err}, not KhoError EINVAL`);
      }
    }
    const diff = samePages(before, snapshotPages(rig));
    if (diff !== null) fail("changed", `a refused add changed the tracker: ${diff}`);
    return `${bad.length} invalid adds: EINVAL, nothing changed`;
  },

  "enomem-rollback": (c) => {
    // A dry run records the allocations made by create and by each add; replaying the same
    // adds with allocation n failing then reaches the failing add without looking.
    const blocks = c.blocks;
    const dry = newRig(c.format);
    const after: number[] = [];
    for (const [pfn, order] of blocks) {
      dry.tracker.add(pfn, order);
      after.push(dry.pool.allocations);
    }
    const created = newRig(c.format).pool.allocations;
    const total = dry.pool.allocations;
    const promise = c.format.capabilities.rollback;
    let failures = 0;
    const step = Math.max(1, Math.floor(total / 64));
    for (let n = 1; n <= total; n += step) {
      let rig: Rig;
      try {
        rig = newRig(c.format, n); // a failed create must leave no page in use (create-leak)
      } catch (e) {
        if (e instanceof Failure) throw e;
        if (!(e instanceof KhoError && e.code === "ENOMEM") || n > created) {
          fail("wrong-error", `create with allocation ${n} failing threw ${e}`);
        }
        failures++;
        continue;
      }
      const i = after.findIndex((a) => a >= n);
      addAll(rig.tracker, blocks.slice(0, i));
      const [pfn, order] = blocks[i];
      const what = `add(${hex(pfn)}, ${order}) with allocation ${n} failing`;
      const pages = snapshotPages(rig);
      const inUse = rig.pool.inUseSorted();
      const walked = walkOut(rig.tracker).map(blockText).join();
      const err = caught(() => rig.tracker.add(pfn, order));
      if (err === null) fail("no-enomem", `${what} succeeded`);
      if (!(err instanceof KhoError) || err.code !== "ENOMEM") {
        fail("wrong-error", `${what}: ${err}`);
      }
      failures++;
      const owned = [...rig.tracker.ownedPagesPhys(), ...rig.tracker.serializedPagesPhys?.() ?? []];
      const leaked = rig.pool.inUseSorted().filter((p) => !owned.includes(p));
      if (leaked.length) {
        fail(
          "rollback-leak",
          `after a failed ${what}, page ${hex(leaked[0])} is in use but ` +
            `owned by nobody (${leaked.length} pages)`,
        );
      }
      if (walkOut(rig.tracker).map(blockText).join() !== walked) {
        fail("rollback-blocks", `a failed ${what} changed the walk`);
      }
      if (promise === "exact") {
        const diff = samePages(pages, snapshotPages(rig));
        if (diff !== null) fail("rollback-bytes", `after a failed ${what}: ${diff}`);
        if (!sameList(inUse, rig.pool.inUseSorted())) {
          fail("rollback-pages", `a failed ${what} kept pages`);
        }
      }
      try {
        rig.tracker.add(pfn, order);
      } catch (e) {
        fail("retry-failed", `add(${hex(pfn)}, ${order}) after the failure: ${e}`);
      }
    }
    return `${failures} failed adds at ${Math.ceil(total / step)} of ${total} allocation points: ` +
      `ENOMEM, ${
        promise === "exact" ? "pages and bytes as before" : "no rollback (promised), no leak"
      }`;
  },

  "accounting": (c) => {
    const { rig } = fullRig(c);
    const t = rig.tracker;
    const owned = t.ownedPagesPhys();
    if (t.metadataPages() !== owned.length) {
      fail("pages-mismatch", `metadataPages() ${t.metadataPages()}, ${owned.length} pages owned`);
    }
    if (!owned.every((p, i) => i === 0 || p > owned[i - 1])) {
      fail("owned-unsorted", "ownedPagesPhys() is not ascending and unique");
    }
    const foreign = owned.find((p) => !rig.pool.inUse.has(p));
    if (foreign !== undefined) fail("foreign-page", `owned page ${hex(foreign)} is not in use`);
    const all = new Set([...owned, ...t.serializedPagesPhys?.() ?? []]);
    const stray = rig.pool.inUseSorted().filter((p) => !all.has(p));
    if (stray.length) {
      fail("leak", `${stray.length} pages in use but not owned, first ${hex(stray[0])}`);
    }
    const bytes = t.metadataBytes();
    if (owned.length > 0 && !(bytes > 0 && bytes <= owned.length * PAGE_SIZE)) {
      fail("bytes-out-of-range", `metadataBytes() ${bytes} for ${owned.length} pages`);
    }
    if (t.destroy === undefined) return `${owned.length} pages owned, all accounted (no destroy)`;
    t.destroy();
    if (rig.pool.inUse.size !== 0) {
      fail("destroy-leak", `destroy() left ${rig.pool.inUse.size} pages in use`);
    }
    return `${owned.length} pages owned, ${all.size - owned.length} serialized; destroy frees all`;
  },

  "cost-counters": (c) => {
    const first = chargedRun(c), again = chargedRun(c);
    for (const k of TRACKER_COUNTER_NAMES) {
      if (first.outgoing[k] !== again.outgoing[k] || first.walk[k] !== again.walk[k]) {
        fail(
          "nondeterministic",
          `the same adds on a fresh tracker charged ${k} ${again.outgoing[k]} ` +
            `(walk ${again.walk[k]}), not ${first.outgoing[k]} (walk ${first.walk[k]})`,
        );
      }
    }
    const o = first.outgoing, w = first.walk;
    return `${c.blocks.length} adds: ${o.cacheLinesRead} lines read, ${o.cacheLinesWritten} ` +
      `written, ${o.pagesTouched} pages touched, ${o.pagesAllocated} allocated as the ` +
      `allocator saw; walk: ${w.callbacks} callbacks, ${w.cacheLinesRead} lines, ` +
      `${w.pagesTouched} pages; a second run charges the same`;
  },

  "bytes-only": (c) => {
    const a = fullRig(c);
    a.rig.poison.poisoned = true;
    const fresh = walkIn(c.format, copyBytes(a.rig), a.root);
    expectOk("walk of a copy of the bytes", fresh);
    if (fresh.blocks.map(blockText).join() !== a.out.map(blockText).join()) {
      fail("copy-differs", "the walk of a copy of the bytes differs from the outgoing walk");
    }
    // A twin: another set at the same addresses, built after the first.
    const twinBlocks = blockSet(c.format.capabilities.maxOrder, c.rng.fork("twin"))
      .filter((_, i) => i % 2 === 0);
    const b = newRig(c.format);
    addAll(b.tracker, twinBlocks);
    const bRoot = handover(b);
    b.poison.poisoned = true;
    const readA = walkIn(c.format, copyBytes(a.rig), a.root);
    expectOk("walk of the first tracker's bytes", readA);
    if (readA.blocks.map(blockText).join() !== a.out.map(blockText).join()) {
      fail(
        "reads-javascript-state",
        `the first tracker's bytes (root ${hex(a.root)}) walk back ${readA.blocks.length} ` +
          `blocks, not its ${a.out.length}: the reader uses state other than the bytes`,
      );
    }
    const readB = walkIn(c.format, copyBytes(b), bRoot);
    expectOk("walk of the second tracker's bytes", readB);
    expectSequence("twin walk", readB.blocks, twinBlocks.map(asBlock), "unspecified");
    return `walks a copy of the bytes with the first kernel's objects poisoned; two trackers ` +
      `at ${a.root === bRoot ? "the same root" : "two roots"} read back their own sets`;
  },

  "corrupt-root": (c) => {
    const { rig, root } = fullRig(c);
    const bytes = copyBytes(rig);
    const named: string[] = [];
    const cases: [number, boolean][] = [
      [MEM_BYTES + PAGE_SIZE, true],
      [2 ** 52, true],
      [root === 0 ? PAGE_SIZE + 8 : root + 8, false],
      [0, false],
    ];
    for (const [bad, mustName] of cases) {
      const v = corruptWalk(c.format, bytes, bad, sizesOf(c, rig), false);
      if (v.kind === "violation") fail(v.reason, `root ${hex(bad)}: ${v.detail}`);
      if (v.kind === "named") named.push(`${hex(bad)}: ${v.reason}`);
      else if (mustName) fail("accepted-bad-root", `root ${hex(bad)} (outside RAM) was walked`);
      else if (bad === 0 && v.blocks > 0) fail("accepted-bad-root", "root 0 reported blocks");
    }
    return named.join("; ");
  },

  "corrupt-outside-ram": (c) => pointerCheck(c, "outside"),
  "corrupt-cycle": (c) => pointerCheck(c, "cycle"),
  "corrupt-shared": (c) => pointerCheck(c, "shared"),

  "corrupt-random": (c) => {
    const { rig, root } = fullRig(c);
    const pages = rig.pool.inUseSorted();
    const rng = c.rng.fork("random");
    const reasons = new Map<string, number>();
    let tolerated = 0;
    for (let n = 0; n < 40; n++) {
      const bytes = copyBytes(rig);
      for (let m = 0; m <= n % 3; m++) {
        const at = pages[rng.int(pages.length)] + 8 * rng.int(PAGE_SIZE / 8);
        bytes.writeU64Parts(at, rng.int(2 ** 32), rng.chance(0.5) ? 0 : rng.int(2 ** 32));
      }
      const v = corruptWalk(c.format, bytes, root, sizesOf(c, rig), false);
      if (v.kind === "violation") fail(v.reason, `random corruption ${n}: ${v.detail}`);
      if (v.kind === "named") reasons.set(v.reason, (reasons.get(v.reason) ?? 0) + 1);
      else tolerated++;
    }
    return `40 random corruptions: ${tolerated} walked inside RAM, ` +
      `${[...reasons].map(([r, k]) => `${r} ×${k}`).join(", ") || "none named"}`;
  },
};

/** Fails unless every counter is a non-negative integer no lower than `before`'s. */
function expectCounters(what: string, now: TrackerCounterValues, before?: TrackerCounterValues) {
  for (const k of TRACKER_COUNTER_NAMES) {
    const v = now[k];
    if (!Number.isSafeInteger(v) || v < 0) fail("bad-counter", `${what}: ${k} is ${v}`);
    if (before !== undefined && v < before[k]) {
      fail("counter-decreased", `${what}: ${k} went from ${before[k]} to ${v}`);
    }
  }
}

/** Fails when `v` read more cache lines than its pages touched hold. */
function expectLinesInPages(what: string, v: TrackerCounterValues): void {
  if (v.cacheLinesRead > (PAGE_SIZE / CACHE_LINE_SIZE) * v.pagesTouched) {
    fail("lines-beyond-pages", `${what} read ${v.cacheLinesRead} lines in ${v.pagesTouched} pages`);
  }
}

/** Fails unless `counters` charged the pages the pool allocated and freed since `mark`. */
function expectPages(
  what: string,
  d: TrackerCounterValues,
  pool: { allocations: number; inUse: Set<number> },
  mark: { allocations: number; inUse: number },
): void {
  const allocated = pool.allocations - mark.allocations;
  const freed = allocated - (pool.inUse.size - mark.inUse);
  if (d.pagesAllocated !== allocated || d.pagesFreed !== freed) {
    fail(
      "pages-miscounted",
      `${what}: the allocator gave ${allocated} pages and took back ${freed}; the counters ` +
        `say ${d.pagesAllocated} and ${d.pagesFreed}`,
    );
  }
}

/**
 * The suite's adds on a fresh tracker, each checked against the cost model's floor, then the
 * successor's walk of the handed-over bytes: the counters both charged.
 */
function chargedRun(c: Ctx): { outgoing: TrackerCounterValues; walk: TrackerCounterValues } {
  const rig = newRig(c.format);
  const t = rig.tracker, pool = rig.pool;
  const k: TrackerCounters = t.counters;
  expectCounters("after create()", k.snapshot());
  expectPages("create()", k.snapshot(), pool, { allocations: 0, inUse: 0 });
  for (const [pfn, order] of c.blocks) {
    const what = `add(${hex(pfn)}, ${order})`;
    const before = k.snapshot();
    const mark = { allocations: pool.allocations, inUse: pool.inUse.size };
    t.add(pfn, order);
    expectCounters(what, k.snapshot(), before);
    const d = k.since(before);
    if (d.cacheLinesRead < 1 || d.pagesTouched < 1 || d.cacheLinesWritten < 1) {
      fail(
        "uncharged-add",
        `${what} charged ${d.cacheLinesRead} lines read, ${d.cacheLinesWritten} written, ` +
          `${d.pagesTouched} pages touched: recording a block reads and writes at least the ` +
          `line of its bit in one page`,
      );
    }
    expectLinesInPages(what, d);
    expectPages(what, d, pool, mark);
  }
  const root = handover(rig);
  const total = k.snapshot();
  if (total.pagesAllocated - total.pagesFreed !== pool.inUse.size) {
    fail(
      "pages-miscounted",
      `${total.pagesAllocated} pages allocated and ${total.pagesFreed} freed by the counters, ` +
        `${pool.inUse.size} in use at the allocator`,
    );
  }
  const reader = c.format.incoming(rig.mem, root, { isRam, log: new KernelLog() });
  let blocks = 0;
  const r = checkedWalk(reader, () => (blocks++, 0));
  if (!r.ok) fail("incoming-error", `the reader failed: ${r.error}: ${r.detail}`);
  const w = reader.counters.snapshot();
  expectCounters("the successor's walk", w);
  if (w.callbacks !== blocks) {
    fail("walk-miscounted", `the walk delivered ${blocks} blocks and charged ${w.callbacks}`);
  }
  if (blocks > 0 && (w.cacheLinesRead < 1 || w.pagesTouched < 1)) {
    fail("uncharged-walk", `the walk delivered ${blocks} blocks reading no line or page`);
  }
  expectLinesInPages("the walk", w);
  return { outgoing: total, walk: w };
}

type Verdict =
  | { kind: "named"; reason: string }
  | { kind: "tolerated"; blocks: number }
  | { kind: "violation"; reason: string; detail: string };

/**
 * Walks corrupted bytes with a budget: a named error, a walk that stays inside RAM (and,
 * with `noDuplicates`, reports no block twice), or a violation.
 */
function corruptWalk(
  format: TrackerFormat,
  bytes: PhysicalMemory,
  root: number,
  sizes: { blocks: number; pages: number },
  noDuplicates: boolean,
): Verdict {
  const mem = budgeted(bytes, READS_PER_PAGE * (sizes.pages + 16));
  const seen = new Set<string>();
  let calls = 0;
  // Corrupted bytes may honestly name millions of blocks (a run length, a full bitmap): past
  // this many the walk is asked to stop; a reader that goes on does not terminate.
  const callBudget = 8 * sizes.blocks + 65536;
  try {
    const r = walkIn(format, mem, root, (b) => {
      if (++calls > callBudget) {
        if (calls > 2 * callBudget) throw new BudgetExceeded(`more than ${calls} callbacks`);
        return STOP;
      }
      if (!isRam(b[0], 2 ** (b[1] + 12))) {
        throw new BadBlock("block-outside-ram", `reported ${blockText(b)} outside RAM`);
      }
      if (noDuplicates) {
        const k = blockText(b);
        if (seen.has(k)) throw new BadBlock("duplicate-block", `reported ${k} twice`);
        seen.add(k);
      }
      return 0;
    });
    if (r.outcome.stopped === STOP) return { kind: "tolerated", blocks: calls };
    if (!r.outcome.ok) {
      const reason = r.outcome.error;
      if (typeof reason !== "string" || reason === "") {
        return {
          kind: "violation",
          reason: "unnamed-error",
          detail: "a failed walk without a reason",
        };
      }
      return { kind: "named", reason };
    }
    return { kind: "tolerated", blocks: r.blocks.length };
  } catch (e) {
    if (e instanceof BudgetExceeded) {
      return { kind: "violation", reason: "no-termination", detail: e.message };
    }
    if (e instanceof BadBlock) return { kind: "violation", reason: e.reason, detail: e.message };
    if (e instanceof Failure) throw e;
    return {
      kind: "violation",
      reason: "raw-exception",
      detail: `${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
    };
  }
}

/** The walk budgets' sizes: the blocks added, the pages handed over. */
function sizesOf(c: Ctx, rig: Rig): { blocks: number; pages: number } {
  return { blocks: c.want.length, pages: rig.pool.inUse.size };
}

/** Pointer words: u64 words of handed-over pages whose value is another handed-over page. */
function pointers(rig: Rig): { at: number; value: number; page: number }[] {
  const pages = new Set(rig.pool.inUse);
  const out: { at: number; value: number; page: number }[] = [];
  for (const page of rig.pool.inUseSorted()) {
    for (let off = 0; off < PAGE_SIZE; off += 8) {
      const v = rig.mem.readU64(page + off);
      if (v !== 0 && v % PAGE_SIZE === 0 && pages.has(v)) {
        out.push({ at: page + off, value: v, page });
      }
    }
  }
  return out;
}

/**
 * Up to `n` pointers spread over the pages that hold them: every page's first pointer (a
 * list's `next`, a table's first entry), then its later ones in turn, page by page.
 */
function samplePointers<P extends { page: number }>(all: readonly P[], n: number): P[] {
  const byPage = new Map<number, P[]>();
  for (const p of all) {
    const list = byPage.get(p.page);
    if (list === undefined) byPage.set(p.page, [p]);
    else list.push(p);
  }
  const pages = [...byPage.values()];
  const out: P[] = [];
  for (let k = 0; out.length < n; k++) {
    const row = pages.filter((l) => l.length > k);
    if (row.length === 0) break;
    const step = Math.max(1, Math.floor(row.length / (n - out.length)));
    for (let i = 0; i < row.length && out.length < n; i += step) out.push(row[i][k]);
  }
  return out;
}

/** Redirects pointers outside RAM, to their own page, or to another pointer's page. */
function pointerCheck(c: Ctx, how: "outside" | "cycle" | "shared"): string {
  const { rig, root } = fullRig(c);
  const all = pointers(rig);
  if (all.length === 0) return "no pointers between handed-over pages: nothing to redirect";
  const reasons = new Map<string, number>();
  let tolerated = 0, tried = 0;
  for (const p of samplePointers(all, 48)) {
    let value: number;
    if (how === "outside") value = MEM_BYTES + 2 ** 30;
    else if (how === "cycle") value = p.page;
    else {
      const other = all.find((q) => q.value !== p.value && q.value !== p.page);
      if (other === undefined) continue;
      value = other.value;
    }
    tried++;
    const bytes = copyBytes(rig);
    bytes.writeU64(p.at, value);
    const v = corruptWalk(c.format, bytes, root, sizesOf(c, rig), how !== "outside");
    if (v.kind === "violation") {
      fail(v.reason, `pointer at ${hex(p.at)} → ${hex(value)}: ${v.detail}`);
    }
    if (v.kind === "named") reasons.set(v.reason, (reasons.get(v.reason) ?? 0) + 1);
    else tolerated++;
  }
  if (tried > 0 && reasons.size === 0) {
    fail(
      "unnamed-corruption",
      `${tried} pointers redirected (${how}): every walk went on, none ended in a named reason`,
    );
  }
  return `${tried} of ${all.length} pointers redirected: ` +
    `${[...reasons].map(([r, k]) => `${r} ×${k}`).join(", ")}` +
    (tolerated ? `; ${tolerated} walked on inside RAM` : "");
}

// ------------------------------------------------------------------------------------------
// Running and reporting.

/**
 * Runs the contract against a format (or a kind in the table) and returns every check's
 * verdict. Never throws for a failing design: an exception inside a check is that check's
 * failure (`exception`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runConformance } from "./conformance.ts";
 * const r = runConformance("radix", { checks: ["add-walk", "walk-stop", "enomem-rollback"] });
 * assert.ok(r.ok, r.checks.map((c) => `${c.name}: ${c.reason} ${c.detail}`).join("\n"));
 * ```
 */
export function runConformance(
  format: TrackerFormat | string,
  options: ConformanceOptions = {},
): ConformanceReport {
  const f = typeof format === "string" ? trackerFormat(format) : format;
  const rng = new Rng(options.seed ?? 1);
  const blocks = blockSet(f.capabilities.maxOrder, rng.fork("blocks"));
  const ctx: Ctx = { format: f, blocks, want: blocks.map(asBlock), rng };
  const only = options.checks ?? CONFORMANCE_CHECKS;
  const checks: ConformanceCheck[] = [];
  for (const name of CONFORMANCE_CHECKS) {
    if (!only.includes(name)) continue;
    try {
      checks.push({ name, ok: true, reason: null, detail: CHECKS[name](ctx) });
    } catch (e) {
      if (e instanceof Failure) {
        checks.push({ name, ok: false, reason: e.reason, detail: e.message });
      } else {
        const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        checks.push({ name, ok: false, reason: "exception", detail: what });
      }
    }
  }
  return { kind: f.kind, ok: checks.every((c) => c.ok), checks };
}

/**
 * The reports as a text table: one row per check (kind, check, pass/FAIL, reason, detail),
 * then one summary line per kind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { conformanceTable, runConformance } from "./conformance.ts";
 * const text = conformanceTable([runConformance("xarray-4k", { checks: ["walk-stop"] })]);
 * assert.match(text, /xarray-4k\s+walk-stop\s+pass/);
 * assert.match(text, /xarray-4k: 1 of 1 checks pass/);
 * ```
 */
export function conformanceTable(reports: readonly ConformanceReport[]): string {
  const rows = [["kind", "check", "result", "reason", "detail"]];
  for (const r of reports) {
    for (const c of r.checks) {
      rows.push([r.kind, c.name, c.ok ? "pass" : "FAIL", c.reason ?? "", c.detail]);
    }
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    row.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]) : cell)).join("  ").trimEnd()
  );
  for (const r of reports) {
    const passed = r.checks.filter((c) => c.ok).length;
    lines.push(
      `${r.kind}: ${passed} of ${r.checks.length} checks pass${r.ok ? "" : " — NOT CONFORMANT"}`,
    );
  }
  return lines.join("\n");
}
