/**
 * Test support for the radix tree (`lib/kho/trackers/radix.ts`) and its key codecs: an
 * independent BigInt model of every codec's keys straight from the formulas, a reader of the
 * tree's bytes that checks them against the model, and the small fixtures the radix tests
 * share (a tree over a page pool, the path of pages to its first leaf, a walk expected to
 * fail with a named reason).
 *
 * @module
 */

import assert from "node:assert/strict";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import { PagePool } from "../../../lib/design/page_pool.ts";
import { TrackerCorruptionError } from "../../../lib/kho/trackers/corruption.ts";
import {
  RadixTree,
  type RadixWalkErrorReason,
  walkRadixTree,
} from "../../../lib/kho/trackers/radix.ts";
import { ONE_HOT_CODEC, type RadixKeyCodec } from "../../../lib/kho/trackers/radix_codecs.ts";
import { trackerFormat } from "../../../lib/kho/trackers/registry.ts";
import type { KhoPageType } from "../../../lib/kho/abi/rfc_page_type.ts";

const TiB = 2 ** 40;

/** A block as a walk reports it: address, order, page type. */
export type Seen = [phys: number, order: number, type: KhoPageType];

/** A tree of `codec` over a pool at `poolBase`. */
export function setup(
  codec: RadixKeyCodec = ONE_HOT_CODEC,
  memBytes = TiB,
  poolBase = TiB / 2,
  poolPages = 1 << 16,
) {
  const mem = new PhysicalMemory(memBytes);
  const pool = new PagePool({ mem, basePhys: poolBase, pages: poolPages });
  const log = new KernelLog();
  const tree = RadixTree.create({ codec, mem, alloc: pool, log });
  return { mem, pool, log, tree };
}

/** Bits 0..59: what the tree indexes. */
export const MASK60 = (1n << 60n) - 1n;

/** The full 64-bit key of a codec (by kind), straight from the formulas. */
export function bigKey(kind: string, pfn: number, order: number, type: KhoPageType = 0): bigint {
  const phys = BigInt(pfn) * 4096n;
  const shifted = phys >> BigInt(12 + order);
  const oneHot = (1n << BigInt(52 - order)) | shifted;
  switch (kind) {
    case "radix-jgg":
      return (BigInt(order) << 51n) | shifted;
    case "radix-typed":
      return oneHot | (BigInt(type) << 63n);
    case "radix-typed-fixed":
      return oneHot | (BigInt(type) << 53n);
    default:
      return oneHot;
  }
}

function bitLength(k: bigint): number {
  return k === 0n ? 0 : k.toString(2).length;
}

/** Decodes a key the tree stores (bits 0..59 only), as each codec's decoder does. */
export function bigDecode(kind: string, key: bigint): Seen {
  if (kind === "radix-jgg") {
    const order = Number(key >> 51n);
    return [Number((key & ((1n << 51n) - 1n)) << BigInt(12 + order)), order, 0];
  }
  let type: KhoPageType = 0;
  if (kind === "radix-typed-fixed" && (key >> 53n) & 1n) {
    type = 1;
    key &= ~(1n << 53n);
  }
  if (kind === "radix-typed") type = Number(key >> 63n) as KhoPageType; // always 0 here
  const order = 53 - bitLength(key);
  return [Number((key ^ (1n << BigInt(52 - order))) << BigInt(12 + order)), order, type];
}

/** Path string of the node at `level` holding `key` (indices above that level). */
export function nodePath(key: bigint, level: number): string {
  const parts: string[] = [];
  for (let l = 5; l > level; l--) parts.push(String((key >> BigInt((l - 1) * 9 + 15)) & 511n));
  return parts.join("/");
}

/**
 * Reads the tree from bytes with mem.readU64 / mem.readBytes and compares every table and
 * leaf with what the keys predict: non-zero table entries are those on the path of some key
 * ever added (nodes are never freed), set leaf bits are exactly the current keys (bits 0..59
 * of each). Returns the physical addresses of the pages reached, ascending.
 */
export function checkBytes(
  mem: PhysicalMemory,
  root: number,
  ever: Iterable<bigint>,
  current: Iterable<bigint>,
): number[] {
  const tables = new Map<string, Set<number>>();
  const leaves = new Map<string, Set<number>>();
  for (const full of ever) {
    const k = full & MASK60;
    for (let level = 5; level >= 1; level--) {
      const p = nodePath(k, level);
      if (!tables.has(p)) tables.set(p, new Set());
      tables.get(p)!.add(Number((k >> BigInt((level - 1) * 9 + 15)) & 511n));
    }
    if (!leaves.has(nodePath(k, 0))) leaves.set(nodePath(k, 0), new Set());
  }
  for (const full of current) {
    const k = full & MASK60;
    leaves.get(nodePath(k, 0))!.add(Number(k & 32767n));
  }
  const pages: number[] = [];
  const visit = (phys: number, level: number, path: string) => {
    pages.push(phys);
    if (level === 0) {
      const bytes = mem.readBytes(phys, 4096);
      const bits = new Set<number>();
      for (let i = 0; i < 4096; i++) {
        for (let b = 0; b < 8; b++) if ((bytes[i] >> b) & 1) bits.add(i * 8 + b);
      }
      assert.deepEqual(bits, leaves.get(path) ?? new Set(), `leaf bits at ${path}`);
      return;
    }
    const nonZero = new Set<number>();
    for (let i = 0; i < 512; i++) {
      const v = mem.readU64(phys + 8 * i);
      if (v === 0) continue;
      nonZero.add(i);
      assert.equal(v % 4096, 0, "child pointer is page aligned");
      visit(v, level - 1, path === "" ? String(i) : `${path}/${i}`);
    }
    assert.deepEqual(nonZero, tables.get(path) ?? new Set(), `table entries at '${path}'`);
  };
  visit(root, 5, "");
  return pages.sort((a, b) => a - b);
}

/** The successor's view of a codec's blocks: stored keys ascending, decoded. */
export function expectedWalk(
  kind: string,
  blocks: Iterable<readonly [number, number, KhoPageType?]>,
): Seen[] {
  const keys = new Set<bigint>();
  for (const [p, o, t] of blocks) keys.add(bigKey(kind, p, o, t ?? 0) & MASK60);
  return [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => bigDecode(kind, k));
}

/** Pages a set of keys needs (root included), by distinct node paths. */
export function modelPages(keys: Iterable<bigint>): number {
  const nodes = new Set<string>([""]);
  for (const full of keys) {
    const k = full & MASK60;
    for (let level = 4; level >= 0; level--) nodes.add(`${level}:${nodePath(k, level)}`);
  }
  return nodes.size;
}

/** A walk's blocks, with the type the walk passes (0 where it passes none). */
export function collect(
  walk: (cb: (p: number, o: number, t?: number) => number) => number,
): Seen[] {
  const out: Seen[] = [];
  walk((p, o, t) => (out.push([p, o, (t ?? 0) as KhoPageType]), 0));
  return out;
}

/** A batched walk's blocks (type 0: a batch carries none). */
export function collectBatched(
  walk: (cb: (phys: Float64Array, n: number, order: number) => number) => number,
): Seen[] {
  const out: Seen[] = [];
  walk((phys, n, order) => {
    for (let i = 0; i < n; i++) out.push([phys[i], order, 0]);
    return 0;
  });
  return out;
}

/**
 * A tree with two order-0 blocks at 4 GiB in 64 GiB (pool at 32 GiB) and `chain`: the root
 * and the first page at each level below it, down to the leaf.
 */
export function smallTree(codec: RadixKeyCodec = ONE_HOT_CODEC) {
  const s = setup(codec, 64 * 2 ** 30, 32 * 2 ** 30, 1024);
  s.tree.add(2 ** 20, 0);
  s.tree.add(2 ** 20 + 5, 0);
  const chain: number[] = [s.tree.handoverRoot()];
  for (let level = 5; level >= 1; level--) {
    const page = chain[chain.length - 1];
    let next = 0;
    for (let i = 0; i < 512 && next === 0; i++) next = s.mem.readU64(page + 8 * i);
    chain.push(next);
  }
  return { ...s, chain };
}

/**
 * Walks `mem` from `rootPhys` with `codec` and expects the named `reason`: logged once, and
 * the format's reader throws the one `TrackerCorruptionError` with it.
 */
export function expectWalkError(
  codec: RadixKeyCodec,
  mem: PhysicalMemory,
  rootPhys: number,
  reason: RadixWalkErrorReason,
  isRam?: (p: number, s: number) => boolean,
) {
  const log = new KernelLog();
  const r = walkRadixTree({ codec, mem, rootPhys, isRam, log }, () => 0);
  assert.equal(r.ok, false);
  assert.equal(r.error, reason, r.detail);
  assert.equal(log.grep(reason).length, 1, "logged once");
  assert.throws(
    () => trackerFormat(codec.kind).incoming(mem, rootPhys, { isRam }).walk(() => 0),
    (e) =>
      e instanceof TrackerCorruptionError && e.structure === "radix tree" &&
      e.code === "EINVAL" && e.reason === reason,
  );
  return r;
}
