import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import { KHO_BLOCK_NODE_SITE, KhoBlockSet } from "../../lib/kho/block.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";

// Independent model of the 7.2 block ABI, written from luo-hugetlb-facts §1.2–§1.5 and kept
// apart from lib/kho/abi/block.ts on purpose: a 16-byte little-endian {next, count} header at
// byte 0 of a page, entry i at 16 + i·size, ⌊4080 / size⌋ entries per block.
const HEADER = 16;
const perBlock = (size: number) => Math.floor((4096 - HEADER) / size);

function headerBytes(next: number, count: bigint | number): Uint8Array {
  const b = new Uint8Array(HEADER);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt(next), true);
  dv.setBigUint64(8, BigInt(count), true);
  return b;
}

/** The page the model expects for block k of a set holding `entries` (blocks at `addrs`). */
function modelPage(
  addrs: readonly number[],
  k: number,
  entries: readonly Uint8Array[],
  size: number,
  countOf: (k: number) => number,
): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  page.set(headerBytes(addrs[k + 1] ?? 0, countOf(k)), 0);
  const per = perBlock(size);
  for (let i = 0; i < countOf(k); i++) page.set(entries[k * per + i], HEADER + i * size);
  return page;
}

function entryBytes(size: number, i: number): Uint8Array {
  const e = new Uint8Array(size);
  for (let j = 0; j < size; j++) e[j] = (i * 31 + j * 7 + 1) & 0xff;
  return e;
}

function machine(gib = 2): Machine {
  return new Machine({ ramBytes: gib * GiB, nodes: 1 });
}

function host(k: Kernel) {
  const { mem, topology } = k.machine;
  return {
    mem,
    isRam: (p: number, n: number) => topology.isRam(p, n),
    kho: k.kho,
    log: k.log,
    faults: k.faults,
  };
}

/** Pages of a chain, as the tracker walks them (radix key order). */
function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out;
}

Deno.test("grow + reserve_entry: every block page equals the model, for 80-, 64- and 32-byte entries", () => {
  const k = Kernel.coldBoot(machine());
  for (const [size, n] of [[80, 0], [80, 1], [80, 51], [80, 52], [80, 103], [64, 130], [32, 255]]) {
    const per = perBlock(size);
    const bs = new KhoBlockSet(host(k), size);
    assert.equal(bs.countPerBlock, per);
    bs.grow(n);
    assert.equal(bs.nblocks, Math.ceil(n / per), `${size}×${n}`);
    const entries = Array.from({ length: n }, (_, i) => entryBytes(size, i));
    const it = bs.iterator();
    for (const e of entries) k.machine.mem.writeBytes(it.reserveEntry()!, e);
    if (n % per === 0) assert.equal(it.reserveEntry(), null); // every block is full
    const addrs = bs.blocks();
    assert.equal(bs.headPa, addrs[0] ?? 0);
    const countOf = (b: number) => Math.min(per, n - b * per);
    addrs.forEach((a, b) => {
      assert.equal(a % PAGE_SIZE, 0);
      assert.deepEqual(
        k.machine.mem.readBytes(a, PAGE_SIZE),
        modelPage(addrs, b, entries, size, countOf),
        `${size}-byte entries ×${n}, block ${b}`,
      );
    });
    bs.destroy();
    assert.equal(bs.nblocks, 0);
    assert.equal(bs.headPa, 0);
  }
});

Deno.test("iterators: reserve_entry rewrites the header count, it_prev steps back without decrementing it", () => {
  const k = Kernel.coldBoot(machine());
  const bs = new KhoBlockSet(host(k), 80);
  bs.grow(102);
  assert.equal(bs.nblocks, 2);
  const [b0, b1] = bs.blocks();
  const mem = k.machine.mem;
  const it = bs.iterator();
  assert.equal(it.prev(), null); // at the very beginning
  for (let i = 0; i < 52; i++) it.reserveEntry();
  assert.equal(mem.readU64(b0 + 8), 51);
  assert.equal(mem.readU64(b1 + 8), 1);
  assert.equal(it.prev(), b1 + 16); // the slot just reserved
  assert.equal(it.prev(), b0 + 16 + 50 * 80); // last slot of the previous block
  assert.equal(mem.readU64(b1 + 8), 1);
  assert.equal(it.reserveEntry(), b0 + 16 + 50 * 80); // reserved again: count rewritten to 51
  assert.equal(it.reserveEntry(), b1 + 16);
  // Fill block 1 (51 slots) and run past the end: null, nothing written.
  for (let i = 1; i < 51; i++) assert.notEqual(it.reserveEntry(), null);
  assert.equal(it.reserveEntry(), null);
  assert.equal(mem.readU64(b1 + 8), 51);
  // read_entry follows the header counts.
  const rd = bs.iterator();
  let n = 0;
  while (rd.readEntry() !== null) n++;
  assert.equal(n, 102);
  // An empty set has no entries either way.
  const empty = new KhoBlockSet(host(k), 64).iterator();
  assert.equal(empty.reserveEntry(), null);
  assert.equal(empty.readEntry(), null);
  assert.equal(empty.prev(), null);
});

Deno.test("shrink removes tail blocks, relinks the new last block and keeps the head; clear zeroes entries", () => {
  const k = Kernel.coldBoot(machine());
  const bs = new KhoBlockSet(host(k), 64);
  bs.grow(63 * 3);
  const [b0, b1, b2] = bs.blocks();
  const it = bs.iterator();
  for (let i = 0; i < 63 * 3; i++) k.machine.mem.writeU64(it.reserveEntry()!, i + 1);
  assert.equal(k.machine.mem.readU64(b1), b2);
  bs.shrink(63 * 2); // still needs two blocks
  assert.equal(bs.nblocks, 2);
  assert.equal(k.machine.mem.readU64(b1), 0); // new last: next = 0
  assert.equal(k.kho.out!.isPreserved(b2 / PAGE_SIZE, 0), false);
  assert.ok(k.buddy.isFree(b2 / PAGE_SIZE));
  bs.shrink(64);
  assert.deepEqual(bs.blocks(), [b0, b1]); // 64 entries still need two blocks
  bs.shrink(63);
  assert.deepEqual(bs.blocks(), [b0]);
  assert.equal(k.machine.mem.readU64(b0), 0);
  bs.clear();
  assert.deepEqual(k.machine.mem.readBytes(b0, PAGE_SIZE), new Uint8Array(PAGE_SIZE));
  assert.equal(bs.nblocks, 1);
  bs.shrink(0);
  assert.equal(bs.nblocks, 0);
  assert.equal(bs.headPa, 0);
  assert.throws(() => bs.grow(-1), RangeError);
});

Deno.test("grow: EINVAL on an incoming set (WARN) and when KHO is off; no entry fits above 4080 bytes", () => {
  const k = Kernel.coldBoot(machine());
  const inc = new KhoBlockSet(host(k), 80);
  inc.restore(0); // an empty incoming set
  assert.ok(inc.incoming && inc.isEmpty);
  assert.throws(() => inc.grow(1), (e: KhoError) => e.code === "EINVAL");
  assert.equal(k.log.warnings("kho_block_set_grow").length, 1);

  const off = Kernel.coldBoot(machine(), { cmdline: "kho=off" });
  const free = off.buddy.nrFreePages();
  const bs = new KhoBlockSet(host(off), 80);
  assert.throws(() => bs.grow(1), (e: KhoError) => e.code === "EINVAL");
  assert.equal(bs.nblocks, 0);
  assert.equal(off.buddy.nrFreePages(), free);
  assert.equal(off.log.warnings("kho_preserve_folio").length, 1);

  const big = new KhoBlockSet(host(k), 4081);
  assert.equal(big.countPerBlock, 0);
  assert.equal(k.log.warnings("kho_block_set_init").length, 1);
});

Deno.test("grow rolls back on every injected ENOMEM: chain bytes, blocks and preserved set as before", () => {
  const k = Kernel.coldBoot(machine());
  const bs = new KhoBlockSet(host(k), 80);
  bs.grow(51);
  const it = bs.iterator();
  for (let i = 0; i < 51; i++) k.machine.mem.writeU64(it.reserveEntry()!, 7 * i);
  let points = 0;
  const sites = new Set<string>();
  for (let nth = 1;; nth++) {
    const before = {
      blocks: [...bs.blocks()],
      head: bs.headPa,
      bytes: bs.blocks().map((b) => k.machine.mem.readBytes(b, PAGE_SIZE)),
      preserved: preservedSet(k),
      tables: k.kho.out!.tracker.ownedPagesPhys(),
      free: k.buddy.nrFreePages(),
    };
    const seen = new Map(k.faults.sites);
    k.faults.arm({ nth });
    let failed: unknown = null;
    try {
      bs.grow(51 * 4);
    } catch (e) {
      failed = e;
    }
    k.faults.disarm();
    if (failed === null) break;
    points++;
    for (const [s, n] of k.faults.sites) if (n !== seen.get(s)) sites.add(s);
    assert.ok(failed instanceof KhoError && failed.code === "ENOMEM", `nth=${nth}: ${failed}`);
    assert.deepEqual([...bs.blocks()], before.blocks, `nth=${nth}`);
    assert.equal(bs.headPa, before.head);
    assert.deepEqual(bs.blocks().map((b) => k.machine.mem.readBytes(b, PAGE_SIZE)), before.bytes);
    assert.deepEqual(preservedSet(k), before.preserved, `nth=${nth}: preserved set changed`);
    // The radix tree keeps table pages it allocated (its delete frees none); nothing else leaks.
    const kept = k.kho.out!.tracker.ownedPagesPhys().filter((p) => !before.tables.includes(p));
    assert.equal(before.free - k.buddy.nrFreePages(), kept.length, `nth=${nth}: pages leaked`);
  }
  assert.ok(points >= 4, `only ${points} allocation points reached`);
  assert.ok(sites.has(KHO_BLOCK_NODE_SITE) && sites.has("kho_alloc_preserve"), [...sites].join());
  assert.equal(bs.nblocks, 4);
});

Deno.test("grow past KHO_MAX_BLOCKS: ENOSPC, the 10001st page unpreserved and every new block freed", () => {
  const k = Kernel.coldBoot(machine());
  const bs = new KhoBlockSet(host(k), 4080); // one entry per block
  bs.grow(2);
  const before = { blocks: [...bs.blocks()], free: k.buddy.nrFreePages(), set: preservedSet(k) };
  const tables = k.kho.out!.tracker.ownedPagesPhys();
  assert.throws(() => bs.grow(10001), (e: KhoError) => e.code === "ENOSPC");
  assert.deepEqual([...bs.blocks()], before.blocks);
  assert.equal(k.machine.mem.readU64(before.blocks[1]), 0);
  assert.deepEqual(preservedSet(k), before.set);
  const kept = k.kho.out!.tracker.ownedPagesPhys().filter((p) => !tables.includes(p)).length;
  assert.equal(before.free - k.buddy.nrFreePages(), kept);
  bs.grow(10000);
  assert.equal(bs.nblocks, 10000);
});

/**
 * Kernel 1 forges chains with the model (pages from kho_alloc_preserve, headers written as raw
 * bytes) and hands each head over as a sub-tree; returns the successor and the chains.
 */
function forgeAndKexec(
  chains: Record<string, (pages: number[], mem: Machine["mem"]) => void>,
  lengths: Record<string, number>,
  gib = 2,
) {
  const m = machine(gib);
  const k1 = Kernel.coldBoot(m);
  const pages: Record<string, number[]> = {};
  for (const [name, forge] of Object.entries(chains)) {
    const p = Array.from({ length: lengths[name] }, () => k1.kho.allocPreserve(PAGE_SIZE));
    forge(p, m.mem);
    k1.kho.addSubtree(name, p[0], HEADER);
    pages[name] = p;
  }
  const k2 = k1.kexec();
  assert.ok(k2.kho.isKhoBoot);
  return { k2, pages };
}

/** A straight chain: block i → block i+1, each with `count(i)` entries. */
const straight =
  (count: (i: number, n: number) => bigint | number = () => 1) =>
  (p: number[], mem: Machine["mem"]) =>
    p.forEach((a, i) => mem.writeBytes(a, headerBytes(p[i + 1] ?? 0, count(i, p.length))));

Deno.test("restore: Floyd's boundary — ≤10000 blocks ok, 10001..20000 ENOSPC, >20000 and cycles EINVAL", () => {
  const lengths = { l10000: 10000, l10001: 10001, l20000: 20000, l20001: 20001, cycle: 5 };
  const { k2, pages } = forgeAndKexec(
    {
      l10000: straight(),
      l10001: straight(),
      l20000: straight(),
      l20001: straight(),
      cycle: (p, mem) => p.forEach((a, i) => mem.writeBytes(a, headerBytes(p[(i + 1) % 5], 1))),
    },
    lengths,
    4,
  );
  const restore = (name: string) => {
    const bs = new KhoBlockSet(host(k2), 4080);
    try {
      bs.restore(k2.kho.retrieveSubtree(name).phys);
      return { bs, code: "ok" };
    } catch (e) {
      return { bs, code: (e as KhoError).code };
    }
  };
  const ok = restore("l10000");
  assert.equal(ok.code, "ok");
  assert.equal(ok.bs.nblocks, 10000);
  assert.deepEqual([...ok.bs.blocks()], pages.l10000);
  assert.ok(pages.l10000.every((p) => !k2.buddy.isFree(p / PAGE_SIZE)));

  for (const name of ["l10001", "l20000"]) {
    const r = restore(name);
    assert.equal(r.code, "ENOSPC", name);
    assert.equal(r.bs.nblocks, 0);
    assert.equal(r.bs.headPa, 0);
    // Every block of the chain went back to the page allocator: the 10000 taken ones through
    // kho_block_set_destroy, the failing one and the rest through the tail walk.
    assert.ok(pages[name].every((p) => k2.buddy.isFree(p / PAGE_SIZE)), name);
  }
  const warnings = k2.log.warnings().length;
  for (const name of ["l20001", "cycle"]) {
    const r = restore(name);
    assert.equal(r.code, "EINVAL", name);
    assert.equal(r.bs.headPa, 0);
    assert.ok(r.bs.incoming);
    // The cycle check frees nothing: the pages stay reserved (leaked, as in the kernel).
    assert.ok(pages[name].every((p) => !k2.buddy.isFree(p / PAGE_SIZE)), name);
  }
  assert.equal(k2.log.grep("kho_block: Block set is corrupted").length, 2);
  assert.equal(k2.log.warnings().length, warnings);
});

Deno.test("restore: count 0 or above count_per_block → EINVAL, logged; taken and remaining blocks freed", () => {
  const bad: Record<string, bigint> = {
    zero: 0n,
    above: 52n,
    wide: (1n << 32n) | 3n, // a count whose low half alone would pass
  };
  const chains: Record<string, ReturnType<typeof straight>> = {};
  const lengths: Record<string, number> = {};
  for (const [name, c] of Object.entries(bad)) {
    chains[name] = straight((i) => (i === 2 ? c : 51));
    lengths[name] = 5;
  }
  chains.max = straight(() => 51);
  lengths.max = 3;
  const { k2, pages } = forgeAndKexec(chains, lengths);
  for (const [name, c] of Object.entries(bad)) {
    const bs = new KhoBlockSet(host(k2), 80);
    assert.throws(
      () => bs.restore(k2.kho.retrieveSubtree(name).phys),
      (e: KhoError) => e.code === "EINVAL",
    );
    assert.equal(bs.nblocks, 0);
    assert.ok(pages[name].every((p) => k2.buddy.isFree(p / PAGE_SIZE)), name);
    assert.equal(k2.log.grep(`Block contains invalid entry count: ${c}`).length, 1, name);
  }
  const bs = new KhoBlockSet(host(k2), 80);
  bs.restore(k2.kho.retrieveSubtree("max").phys);
  assert.equal(bs.nblocks, 3);
  const rd = bs.iterator();
  let n = 0;
  while (rd.readEntry() !== null) n++;
  assert.equal(n, 153);
  // Incoming shrink and destroy give the pages to the allocator (kho_restore_free).
  bs.shrink(51);
  assert.deepEqual([...bs.blocks()], [pages.max[0]]);
  assert.ok(k2.buddy.isFree(pages.max[2] / PAGE_SIZE));
  bs.destroy();
  assert.ok(pages.max.every((p) => k2.buddy.isFree(p / PAGE_SIZE)));
});

Deno.test("restore: a next pointer outside RAM is a fatal page fault, named, not an exception", () => {
  const beyond = 2 ** 44;
  const { k2 } = forgeAndKexec({
    wild: (p, mem) => {
      mem.writeBytes(p[0], headerBytes(p[1], 1));
      mem.writeBytes(p[1], headerBytes(beyond, 1));
    },
  }, { wild: 2 });
  const bs = new KhoBlockSet(host(k2), 80);
  assert.throws(
    () => bs.restore(k2.kho.retrieveSubtree("wild").phys),
    (e: KernelOops) =>
      e instanceof KernelOops && e.address === beyond && e.fn === "kho_block_set_is_cyclic",
  );
  assert.equal(k2.log.grep("unable to handle page fault for address: 0x100000000000").length, 1);
});
