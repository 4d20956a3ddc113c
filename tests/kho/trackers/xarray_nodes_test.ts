import assert from "node:assert/strict";
import fc from "fast-check";
import {
  XA_NODE_SIZE,
  XA_NODE_SLOT_LINES,
  xaExtraLines,
  xaForEachCost,
  xaHeight,
  XaShape,
  xaSlotLine,
} from "../../../lib/kho/trackers/xarray_nodes.ts";

// ---------------------------------------------------------------------------------------------
// A reference XArray with explicit 64-slot nodes, written from the description of
// lib/xarray.c (kho-facts §16.1 for the fan-out): a head holding either nothing, a lone entry
// at index 0, or the root node; stores grow the tree at the top and create missing nodes;
// loads and the xa_find / xa_find_after iteration count what they read.

interface RefNode {
  shift: number;
  offset: number; // slot in the parent
  parent: RefNode | null;
  slots: (RefNode | number | null)[]; // a child node, an entry (its index), or empty
  id: number;
}

class RefXArray {
  head: RefNode | number | null = null;
  nodes = 0;
  reads = 0; // slot reads
  followed = 0; // used slots taken (a node descended into, or the entry found)
  lines = new Map<number, Set<number>>(); // node id -> lines read

  #node(shift: number, parent: RefNode | null, offset: number): RefNode {
    this.nodes++;
    return { shift, offset, parent, slots: new Array(64).fill(null), id: this.nodes };
  }

  #touch(n: RefNode, slot: number): void {
    const s = this.lines.get(n.id) ?? new Set();
    s.add(0); // the header: shift
    s.add(Math.floor((40 + 8 * slot) / 64));
    this.lines.set(n.id, s);
  }

  #maxIndex(): number {
    if (this.head === null || typeof this.head === "number") return 0;
    return 64 * 2 ** this.head.shift - 1;
  }

  store(index: number): void {
    if (this.head === null && index === 0) {
      this.head = 0;
      return;
    }
    // expand: new roots over the current head until index fits
    if (this.head !== null) {
      while (index > this.#maxIndex()) {
        const shift = typeof this.head === "number" ? 0 : this.head.shift + 6;
        const root = this.#node(shift, null, 0);
        root.slots[0] = this.head;
        if (typeof this.head !== "number") this.head.parent = root;
        this.head = root;
      }
    } else {
      let shift = 0;
      while (index / 2 ** shift >= 64) shift += 6;
      this.head = this.#node(shift, null, 0);
    }
    let n = this.head as RefNode;
    for (;;) {
      const s = Math.floor(index / 2 ** n.shift) % 64;
      if (n.shift === 0) {
        n.slots[s] = index;
        return;
      }
      let child = n.slots[s];
      if (child === null) {
        child = this.#node(n.shift - 6, n, s);
        n.slots[s] = child;
      }
      n = child as RefNode;
    }
  }

  /** xas_load: [the node and slot where it stopped, found]. */
  load(index: number): { node: RefNode | null; slot: number; found: boolean } {
    if (this.head === null || typeof this.head === "number") {
      return { node: null, slot: 0, found: this.head === 0 && index === 0 };
    }
    let n = this.head;
    if (index > this.#maxIndex()) {
      this.lines.set(n.id, new Set([...(this.lines.get(n.id) ?? []), 0]));
      return { node: null, slot: 0, found: false };
    }
    for (;;) {
      const s = Math.floor(index / 2 ** n.shift) % 64;
      this.#touch(n, s);
      this.reads++;
      const e = n.slots[s];
      if (e === null) return { node: n, slot: s, found: false };
      this.followed++;
      if (typeof e === "number") return { node: n, slot: s, found: true };
      n = e;
    }
  }

  /** xa_find(start) as xas_find from a fresh state: the index found, or null. */
  find(start: number): number | null {
    const r = this.load(start);
    if (r.found) return start;
    if (r.node === null) return null;
    let n: RefNode | null = r.node, s = r.slot + 1;
    while (n !== null) {
      if (s === 64) {
        s = n.offset + 1;
        n = n.parent;
        continue;
      }
      this.#touch(n, s);
      this.reads++;
      const e: RefNode | number | null = n.slots[s];
      if (e !== null) this.followed++;
      if (typeof e === "number") return e;
      if (e !== null) {
        n = e;
        s = 0;
        continue;
      }
      s++;
    }
    return null;
  }

  lineCount(): number {
    let k = 0;
    for (const s of this.lines.values()) k += s.size;
    return k;
  }
}

// ---------------------------------------------------------------------------------------------

Deno.test("node layout: slots 0..2 share the header's line, 64 slots span 9 lines", () => {
  assert.equal(XA_NODE_SIZE, 576);
  assert.deepEqual([0, 1, 2, 3, 10, 11, 63].map(xaSlotLine), [0, 0, 0, 1, 1, 2, 8]);
  assert.equal(xaSlotLine(63) + 1, XA_NODE_SLOT_LINES);
});

Deno.test("height: base-64 digits of the largest index, 0 for index 0 alone", () => {
  assert.deepEqual(
    [0, 1, 63, 64, 4095, 4096, 262143, 262144, 2 ** 36].map(xaHeight),
    [0, 1, 1, 2, 2, 3, 3, 4, 7],
  );
});

Deno.test("extra lines: one per base-64 digit of 3 or more, in every range", () => {
  const brute = (i: number) => {
    let n = 0;
    for (let x = i; x > 0; x = Math.floor(x / 64)) if (x % 64 >= 3) n++;
    return n;
  };
  for (const i of [0, 2, 3, 63, 64, 66, 67, 4095, 4096, 2 ** 24 - 1, 2 ** 24, 2 ** 30 + 7]) {
    assert.equal(xaExtraLines(i), brute(i), `index ${i}`);
  }
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (i) => xaExtraLines(i) === brute(i)));
});

Deno.test("store and load agree with a reference XArray of explicit nodes", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 300_000 })),
        { maxLength: 60 },
      ),
      fc.array(fc.integer({ min: 0, max: 300_000 }), { maxLength: 20 }),
      (stores, loads) => {
        const shape = new XaShape();
        const ref = new RefXArray();
        for (const i of stores) {
          const before = ref.nodes;
          const had = shape.has(i);
          if (!had) ref.store(i);
          assert.equal(shape.store(i), ref.nodes - before, `store ${i}`);
          assert.equal(shape.nodes, ref.nodes);
        }
        for (const i of [...loads, ...stores]) {
          ref.reads = 0;
          ref.lines.clear();
          const r = ref.load(i);
          const got = shape.load(i);
          assert.equal(got.slots, ref.reads, `load ${i}: slots`);
          assert.equal(got.nodes, ref.lines.size, `load ${i}: nodes`);
          assert.equal(got.lines, ref.lineCount(), `load ${i}: lines`);
          assert.equal(shape.has(i), r.found);
          if (r.found && shape.height > 0) {
            assert.equal(got.lines, shape.height + xaExtraLines(i));
            assert.equal(got.followed, shape.height);
          }
        }
      },
    ),
  );
});

Deno.test("xa_for_each costs what the reference iteration reads", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.oneof(
          fc.integer({ min: 0, max: 130 }),
          fc.integer({ min: 0, max: 300_000 }),
          fc.integer({ min: 0, max: 2 ** 40 }), // heights above 4: the division path
        ),
        { maxLength: 80 },
      ),
      (indices) => {
        const sorted = [...indices].sort((a, b) => a - b);
        const ref = new RefXArray();
        for (const i of indices) ref.store(i);
        const found: number[] = [];
        for (let at = ref.find(0); at !== null; at = ref.find(at + 1)) found.push(at);
        assert.deepEqual(found, sorted, "the reference iterates in index order");
        const got = xaForEachCost(sorted);
        assert.equal(got.slots, ref.reads);
        assert.equal(got.nodes, ref.lines.size);
        assert.equal(got.lines, ref.lineCount());
        assert.equal(got.nodes, ref.nodes, "every node is visited");
        assert.equal(got.lines, XA_NODE_SLOT_LINES * got.nodes, "every node read to slot 63");
        assert.equal(got.followed, ref.followed);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("a dense run of 512 indices: 9 nodes in two levels, 64 lines each way", () => {
  const shape = new XaShape();
  let created = 0;
  for (let i = 0; i < 512; i++) created += shape.store(i);
  assert.equal(created, 9); // 8 leaves and their root
  assert.equal(shape.height, 2);
  const all = Array.from({ length: 512 }, (_, i) => i);
  const c = xaForEachCost(all);
  assert.equal(c.nodes, 9);
  assert.equal(c.lines, 81);
  // each of the 512 finds descends two levels (the root slot, the leaf slot) to its entry;
  // the last find_after reads the root's empty slot 8 and scans its slots 9..63
  assert.equal(c.slots, 2 * 512 + 56);
});
