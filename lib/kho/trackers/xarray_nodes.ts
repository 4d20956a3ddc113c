/**
 * The kernel's XArray (`lib/xarray.c`, `include/linux/xarray.h`) as the xarray-era tracker
 * uses it, reduced to what the cost counters need: which nodes exist, which of them a load
 * visits, which a store creates, and which 64-byte lines those visits read. The tracker
 * (`xarray.ts`, kho-facts §3.1) keeps its bitmaps in JavaScript arrays; this module gives the
 * counters the XArray the kernel would have built for the same indices.
 *
 * The model (x86_64, the kernel's default `XA_CHUNK_SHIFT` of 6 — kho-facts §16.1 notes the
 * user-space test suite's 3):
 * - A node (`struct xa_node`, 576 bytes from the `radix_tree_node` slab, 7 per 4 KiB page)
 *   has 64 slots. Its first 64-byte line holds the header (`shift`, `offset`, `count`, …,
 *   `parent`, `array`, the list head: 40 bytes) and slots 0..2; slot `s` lies in line
 *   `(40 + 8 s) / 64`, so slots 3..63 are one line further (lines 1..8).
 * - Index → levels: an XArray whose largest index is `max` has `height(max)` levels of
 *   nodes, the number of base-64 digits of `max` (1 up to 63, 2 up to 4095, …); a lone entry
 *   at index 0 lives in the head (`xa_head`) with no node at all. The node of level `k`
 *   (1 = the leaves, `height` = the root) on the path of index `i` is the one of prefix
 *   `i >> 6k`, and `i` goes through its slot `(i >> 6(k-1)) & 63`.
 * - `xa_load(i)` (`xas_load`): from the head down, at each node the header line (its
 *   `shift`) and the line of the slot taken: a present entry costs `height` nodes, `height`
 *   slots and `height + (levels whose slot is ≥ 3)` lines. A missing one stops at the first
 *   empty slot; an index past the tree reads the root's header only.
 * - `xa_store(i)` of a new entry (`xas_expand`, `xas_create`): the tree grows at the top
 *   until `i` fits (the old tree hangs at slot 0 of each new root), then every missing node
 *   on `i`'s path is allocated. Entries are never erased here (KHO only destroys the whole
 *   tracker), so the nodes of level `k` are exactly the distinct `i >> 6k` of the stored
 *   indices, and a store creates `nodes(S ∪ {i}) − nodes(S)`.
 * - `xa_for_each` (`xa_find`, then `xa_find_after` per entry, {@link xaForEachCost}): each
 *   step starts again from the head, descends to the index after the last entry found and
 *   scans slots forward (climbing to the parent past slot 63, descending at a node pointer)
 *   to the next entry; the last step scans to the end of the tree.
 *
 * Not modelled: RCU and the locks (`xa_lock` around stores), marks, multi-index entries
 * (KHO stores none), and allocation failures of nodes (they come from slab with GFP_KERNEL;
 * kholab injects faults into page allocations only).
 *
 * @module
 */

/** Slots per node: `1 << XA_CHUNK_SHIFT`, the kernel's default shift 6. */
export const XA_CHUNK_SIZE = 64;
/** Bits of index per level (`XA_CHUNK_SHIFT`). */
export const XA_CHUNK_SHIFT = 6;
/** `sizeof(struct xa_node)` on 64-bit: 576 bytes (7 per 4 KiB slab page). */
export const XA_NODE_SIZE = 576;
/** Byte offset of `slots[0]` in `struct xa_node` (the header before it is 40 bytes). */
export const XA_NODE_SLOTS_OFFSET = 40;
/** Lines a node's slots span: bytes 40 .. 40 + 64 × 8 lie in lines 0..8. */
export const XA_NODE_SLOT_LINES = 9;

/** The 64-byte line of a node that holds slot `s` (0 for the header and slots 0..2). */
export function xaSlotLine(s: number): number {
  return (XA_NODE_SLOTS_OFFSET + 8 * s) >>> 6;
}

/**
 * For indices below 4096 (two levels): how many of the two base-64 digits are ≥ 3, i.e.
 * how many levels' slots lie past the node's first line.
 */
export const XA_EXTRA_LINES_12: Uint8Array = Uint8Array.from(
  { length: 4096 },
  (_, i) => ((i & 63) >= 3 ? 1 : 0) + ((i >>> 6) >= 3 ? 1 : 0),
);

/**
 * Lines a present index's `xa_load` reads beyond one per node: the levels whose slot is 3 or
 * more (a digit of the index in base 64; digits above the index's own are 0 and cost none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xaExtraLines } from "./xarray_nodes.ts";
 * assert.equal(xaExtraLines(2), 0); // slot 2 shares the header's line
 * assert.equal(xaExtraLines(39), 1);
 * assert.equal(xaExtraLines(64 * 5 + 1), 1); // digits 5, 1
 * assert.equal(xaExtraLines(64 * 5 + 7), 2);
 * ```
 */
export function xaExtraLines(index: number): number {
  if (index < 4096) return XA_EXTRA_LINES_12[index];
  if (index < 16777216) return XA_EXTRA_LINES_12[index & 4095] + XA_EXTRA_LINES_12[index >>> 12];
  let n = 0;
  for (let x = index; x > 0; x = Math.floor(x / XA_CHUNK_SIZE)) if (x % XA_CHUNK_SIZE >= 3) n++;
  return n;
}

/**
 * Levels of nodes an XArray needs when its largest index is `maxIndex`: the base-64 digits
 * of `maxIndex`, 0 for index 0 alone (the entry lives in the head).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xaHeight } from "./xarray_nodes.ts";
 * assert.deepEqual([0, 1, 63, 64, 4095, 4096].map(xaHeight), [0, 1, 1, 2, 2, 3]);
 * ```
 */
export function xaHeight(maxIndex: number): number {
  let h = 0;
  for (let x = maxIndex; x > 0; x = Math.floor(x / XA_CHUNK_SIZE)) h++;
  return h;
}

/** What one XArray operation read: nodes visited, slots read, distinct lines read. */
export interface XaCost {
  /** Distinct nodes visited. */
  nodes: number;
  /** Slots read (an entry visited each; a slot read again counts again). */
  slots: number;
  /** Non-empty slots followed to a node below or to the entry. */
  followed: number;
  /** Distinct 64-byte lines of nodes read. */
  lines: number;
}

const pow64 = (k: number) => XA_CHUNK_SIZE ** k;

/**
 * The node shape of one XArray holding a growing set of indices: per level the prefixes of
 * its nodes. Loads and stores are answered as the kernel's would walk that shape.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XaShape } from "./xarray_nodes.ts";
 * const xa = new XaShape();
 * assert.equal(xa.store(0), 0); // index 0 alone: in the head, no node
 * assert.equal(xa.store(5), 1); // one leaf node; index 0 moves into its slot 0
 * assert.equal(xa.store(100), 2); // a new root over the old node, and a second leaf
 * assert.equal(xa.height, 2);
 * assert.deepEqual(xa.load(100), { nodes: 2, slots: 2, followed: 2, lines: 3 });
 * assert.deepEqual(xa.load(70), { nodes: 2, slots: 2, followed: 1, lines: 3 }); // slot 6 empty
 * ```
 */
export class XaShape {
  /** `#levels[0]`: the indices stored; `#levels[k]`: the prefixes `i >> 6k` of level-k nodes. */
  #levels: Set<number>[] = [new Set()];
  #height = 0;
  #nodes = 0;

  /** Levels of nodes (0: empty, or index 0 alone in the head). */
  get height(): number {
    return this.#height;
  }

  /** Entries stored. */
  get count(): number {
    return this.#levels[0].size;
  }

  /** Nodes the XArray holds. */
  get nodes(): number {
    return this.#nodes;
  }

  /** Whether `index` holds an entry. */
  has(index: number): boolean {
    return this.#levels[0].has(index);
  }

  /**
   * `xa_store` of an entry at `index`: grows the shape and returns the nodes it allocates
   * (0 when `index` is already present).
   */
  store(index: number): number {
    const levels = this.#levels;
    if (levels[0].has(index)) return 0;
    const h = Math.max(this.#height, xaHeight(index));
    let created = 0;
    for (let k = this.#height + 1; k <= h; k++) {
      // xas_expand: each new root holds the old tree (or the head's lone entry) in slot 0
      const top = new Set<number>();
      if (levels[0].size > 0) {
        top.add(0);
        created++;
      }
      levels[k] = top;
    }
    levels[0].add(index);
    for (let k = 1; k <= h; k++) {
      const p = Math.floor(index / pow64(k));
      if (!levels[k].has(p)) {
        levels[k].add(p);
        created++;
      }
    }
    this.#height = h;
    this.#nodes += created;
    return created;
  }

  /** Whether the slot of node (level `k`, prefix `p`) at `s` is non-empty. */
  #slotUsed(k: number, p: number, s: number): boolean {
    return this.#levels[k - 1].has(p * XA_CHUNK_SIZE + s);
  }

  /**
   * `xa_load(index)`: the nodes, slots and lines the descent reads, stopping at the first
   * empty slot (a present index costs `height` nodes and slots,
   * `height + xaExtraLines(index)` lines).
   */
  load(index: number): XaCost {
    const out: XaCost = { nodes: 0, slots: 0, followed: 0, lines: 0 };
    const h = this.#height;
    if (h === 0) return out; // the head holds index 0's entry or nothing: no node read
    out.nodes = 1;
    out.lines = 1;
    if (index >= pow64(h)) return out; // past the tree: the root's shift says so
    let p = 0;
    for (let k = h; k >= 1; k--) {
      if (k < h) {
        out.nodes++;
        out.lines++;
      }
      const s = Math.floor(index / pow64(k - 1)) % XA_CHUNK_SIZE;
      out.slots++;
      if (xaSlotLine(s) !== 0) out.lines++;
      if (!this.#slotUsed(k, p, s)) return out;
      out.followed++;
      p = p * XA_CHUNK_SIZE + s;
    }
    return out;
  }

  /** Forgets every node (`xa_destroy`). */
  clear(): void {
    this.#levels = [new Set()];
    this.#height = 0;
    this.#nodes = 0;
  }
}

/**
 * What `xa_for_each` over an XArray holding exactly `sorted` (ascending, distinct, without
 * erased entries) reads: `xa_find(0)`, then `xa_find_after` per entry found, each starting
 * again at the head (see the module comment). Counted arithmetically from the indices, in
 * O(entries × height) without building the tree:
 * - each find of `t` (0, or the last entry + 1) descends from the root along `t`'s digits
 *   while the slot is used — a slot on `t`'s path is used exactly when the entry before `t`
 *   or the next entry `e` shares its prefix —, then scans forward: the rest of each node on
 *   the way up to the lowest level `L` whose node holds both `t` and `e`, the slots of that
 *   node up to `e`'s, and down `e`'s path from slot 0 to `e`'s slot at each level; the last
 *   find scans to the end of the root;
 * - every node is entered at slot 0 and read to slot 63 by the time the walk ends, so it
 *   costs {@link XA_NODE_SLOT_LINES} lines; slots are counted each time they are read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xaForEachCost } from "./xarray_nodes.ts";
 * assert.deepEqual(xaForEachCost([0]), { nodes: 0, slots: 0, followed: 0, lines: 0 });
 * // one leaf node: find(0) reads slots 0..4 to reach 4, find_after(4) slots 5..9, the
 * // last find_after slots 10..63
 * assert.deepEqual(xaForEachCost([4, 9]), { nodes: 1, slots: 64, followed: 2, lines: 9 });
 * ```
 */
export function xaForEachCost(sorted: readonly number[]): XaCost {
  const out: XaCost = { nodes: 0, slots: 0, followed: 0, lines: 0 };
  const n = sorted.length;
  if (n === 0) return out;
  const h = xaHeight(sorted[n - 1]);
  if (h === 0) return out; // index 0 alone, in the head
  const P = new Float64Array(h + 2);
  for (let k = 0; k < P.length; k++) P[k] = pow64(k);
  // nodes: the distinct prefixes i >> 6k at each level, each level from the one below
  let level: readonly number[] = sorted;
  for (let k = 1; k <= h; k++) {
    const up: number[] = [];
    for (let j = 0; j < level.length; j++) {
      const p = Math.floor(level[j] / XA_CHUNK_SIZE);
      if (up.length === 0 || up[up.length - 1] !== p) up.push(p);
    }
    out.nodes += up.length;
    level = up;
  }
  out.lines = XA_NODE_SLOT_LINES * out.nodes;
  let slots = 0, followed = 0;
  // find(t) with `prev` the entry before t (-1: none) and `e` the next entry (-1: none)
  for (let j = -1; j < n; j++) {
    const prev = j < 0 ? -1 : sorted[j];
    const t = prev + 1;
    const e = j + 1 < n ? sorted[j + 1] : -1;
    if (t === e) { // t itself is present: the load reads one used slot per level
      slots += h;
      followed += h;
      continue;
    }
    if (t >= P[h]) continue; // past the tree: the root's shift only (its lines are counted)
    // the load: levels h..m while the slot on t's path is used (shared with prev or e)
    let m = h;
    for (;;) {
      slots++;
      const d = P[m - 1], pre = Math.floor(t / d);
      if (
        !((prev >= 0 && Math.floor(prev / d) === pre) || (e >= 0 && Math.floor(e / d) === pre))
      ) break;
      followed++;
      m--; // m > 1 here: at level 1 a used slot would be t itself
    }
    // the scan: up from level m to L, the lowest level whose node holds both t and e
    let L = m;
    while (L <= h && (e < 0 || Math.floor(t / P[L]) !== Math.floor(e / P[L]))) L++;
    for (let k = m; k < L; k++) slots += 63 - (Math.floor(t / P[k - 1]) % XA_CHUNK_SIZE);
    if (L > h) continue; // no entry left: the root's last slot ends the walk
    // across level L to e's slot, then down e's path from slot 0 at each level
    slots += (Math.floor(e / P[L - 1]) % XA_CHUNK_SIZE) -
      (Math.floor(t / P[L - 1]) % XA_CHUNK_SIZE);
    for (let k = 1; k < L; k++) slots += (Math.floor(e / P[k - 1]) % XA_CHUNK_SIZE) + 1;
    followed += L;
  }
  out.slots = slots;
  out.followed = followed;
  return out;
}
