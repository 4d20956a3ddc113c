/**
 * Extended scratch (lib/kho/ext_scratch.ts; kho-facts §9.6, luo-hugetlb-facts §5.1) on a test
 * machine, against an independent model written from the facts: which 1 GiB blocks are busy
 * (the GiBs every preserved block starts a 1 GiB step in, and the GiBs of the tree's own pages,
 * as the first kernel knows them), which gaps become `MEMBLOCK_KHO_SCRATCH_EXT` (to the end of
 * DRAM), and the second tree's bytes (raw keys `phys >> 30`: below 32 TiB a root, four tables
 * with entry 0 set, one leaf whose bits are the keys). Also: memblock's user allocations come from
 * the extended areas only, the scratch sizing without HugeTLB memory, errors and corrupt trees.
 */
import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import { KernelPanic } from "../../lib/kernel/panic.ts";
import { MemblockFlags } from "../../lib/kernel/memblock.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { ManualClock } from "../../lib/rng.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import { KHO_EXT_BLOCK_BYTES, KHO_EXT_SHIFT } from "../../lib/kho/ext_scratch.ts";

const EXT = "rfc-2026-ext-scratch";
const GIB_PAGES = GiB / PAGE_SIZE;

/** The first kernel's own view: its preserved blocks and its tree's pages. */
function outgoing(k: Kernel) {
  const blocks: [number, number][] = [];
  k.kho.out!.tracker.walk((phys, order) => (blocks.push([phys, order]), 0));
  return { blocks, treePages: k.kho.out!.tracker.ownedPagesPhys() };
}

/** The model: busy GiB keys from blocks (one per 1 GiB step from the start) and tree pages. */
function modelBusy(blocks: [number, number][], treePages: number[]): number[] {
  const busy = new Set<number>();
  for (const [phys, order] of blocks) {
    const end = phys + PAGE_SIZE * 2 ** order;
    for (let s = phys; s < end; s += GiB) busy.add(Math.floor(s / GiB));
  }
  for (const p of treePages) busy.add(Math.floor(p / GiB));
  return [...busy].sort((a, b) => a - b);
}

/** The model's gaps: [0, first busy), between busy blocks, after the last to `end`. */
function modelGaps(busy: number[], end: number): { base: number; size: number }[] {
  const out: { base: number; size: number }[] = [];
  let prev = 0;
  for (const b of busy) {
    if (b * GiB > prev) out.push({ base: prev, size: b * GiB - prev });
    prev = (b + 1) * GiB;
  }
  if (prev < end) out.push({ base: prev, size: end - prev });
  return out;
}

/** u64 little endian from a BigInt. */
function le64(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}

/** A 16 GiB, two-node test machine with blocks preserved at chosen GiBs. */
function testMachine() {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 2 }), { profile: EXT });
  k1.kho.preservePages(5 * GIB_PAGES + 77, 1); // one page in GiB 5
  k1.kho.preservePages(9 * GIB_PAGES + 512, 512); // a 2 MiB block in GiB 9
  k1.kho.preservePages(13 * GIB_PAGES - 512, 1024); // 4 MiB across the 12/13 GiB boundary
  k1.kho.preservePages(10 * GIB_PAGES, 2 * GIB_PAGES); // one order-19 block: GiBs 10 and 11
  return k1;
}

Deno.test("on a test machine: busy 1 GiB blocks, the extended scratch areas and the second tree's bytes equal the model", () => {
  const k1 = testMachine();
  const { blocks, treePages } = outgoing(k1);
  assert.ok(blocks.some(([p, o]) => p === 10 * GiB && o === 19), "an order-19 block");
  const k2 = k1.kexec();
  const r = k2.boot.extScratch!;
  assert.equal(r.error, null);
  assert.equal(r.kernelReplay, false);
  const busy = modelBusy(blocks, treePages);
  assert.ok([5, 9, 10, 11, 12, 13].every((g) => busy.includes(g)), `busy ${busy}`);
  assert.deepEqual(r.busyBlocks, busy);
  const end = k2.memblock.endOfDram();
  assert.equal(end, 16 * GiB);
  assert.deepEqual(r.areas, modelGaps(busy, end));
  // The counters the model predicts: one callback per block, one table callback per tree page,
  // one kho_radix_add_key per 1 GiB step and per tree page.
  assert.equal(r.blocksDigested, blocks.length);
  assert.equal(r.radixNodes, treePages.length);
  const steps = blocks.reduce((n, [, o]) => n + Math.max(1, 2 ** o * PAGE_SIZE / GiB), 0);
  assert.equal(r.extKeyAdds, steps + treePages.length);
  // memblock: every memory region inside a gap is KHO_SCRATCH_EXT, every other is not.
  for (const m of k2.memblock.memoryRegions()) {
    const inGap = r.areas.some((a) => m.base >= a.base && m.base + m.size <= a.base + a.size);
    assert.equal((m.flags & MemblockFlags.KHO_SCRATCH_EXT) !== 0, inGap, `region ${m.base}`);
  }
  assert.equal(r.recoveredBytes, r.areas.reduce((n, a) => n + a.size, 0), "no holes here");
  // The second tree: 6 pages, allocated top-down from scratch (root first, then L4 … leaf).
  assert.equal(r.extTreePages, 6);
  const pages = r.tree.pages;
  assert.equal(pages.length, 6);
  assert.equal(pages[0].phys, r.tree.rootPhys);
  const byLevel = [...pages].sort((a, b) => b.phys - a.phys); // root, L4, L3, L2, L1, leaf
  for (let level = 0; level < 5; level++) {
    const model = new Uint8Array(PAGE_SIZE);
    model.set(le64(BigInt(byLevel[level + 1].phys)), 0); // entry 0: the next level
    assert.deepEqual(byLevel[level].bytes, model, `table ${5 - level}`);
  }
  const leaf = new Uint8Array(PAGE_SIZE);
  for (const key of busy) leaf[key >> 3] |= 1 << (key & 7); // bit i: byte i/8, bit i%8
  assert.deepEqual(byLevel[5].bytes, leaf, "the leaf's bits are the busy keys");
  // kho_radix_destroy_tree: every page of the second tree went back to memblock.
  assert.equal(r.ext.pagesAllocated, 6);
  assert.equal(r.ext.pagesFreed, 6);
});

Deno.test("the second tree's keys are raw 1 GiB indices (no order bit): KHO_EXT_SHIFT is 30", () => {
  assert.equal(KHO_EXT_SHIFT, 30);
  assert.equal(KHO_EXT_BLOCK_BYTES, 2 ** 30);
});

Deno.test("scratch-only allocations: kernel memory from scratch or extended scratch, user memory (memblock_alloc_nid_user) from extended scratch only", () => {
  const k2 = testMachine().kexec();
  const r = k2.boot.extScratch!;
  // After boot scratch-only mode is over; replay the rule on the successor's memblock.
  const mb = k2.memblock;
  mb.setKhoScratchOnly();
  const user = mb.allocNidUser({ size: GiB, align: GiB });
  assert.ok(user !== 0);
  assert.ok(r.areas.some((a) => user >= a.base && user + GiB <= a.base + a.size));
  const region = mb.findReserved(user)!;
  assert.equal(region.flags, MemblockFlags.RSRV_KERN | MemblockFlags.RSRV_HUGETLB);
  assert.equal(mb.reservedHugetlbSize(Number.MAX_SAFE_INTEGER, -1), GiB);
  mb.clearKhoScratchOnly();
  // Without extended scratch a KHO boot has no memory for user allocations in scratch-only mode.
  const plain = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 2 }), {
    profile: "kho-v4",
  }).kexec();
  assert.equal(plain.boot.extScratch, undefined);
  plain.memblock.setKhoScratchOnly();
  assert.equal(plain.memblock.allocNidUser({ size: 2 * MiB, align: 2 * MiB }), 0);
  assert.ok(plain.memblock.allocRange({ size: 2 * MiB, align: 2 * MiB }) !== 0, "kernel memory");
});

Deno.test("a second kexec from the successor: extended scratch is not handed on; the successor of the successor finds it again", () => {
  const k2 = testMachine().kexec();
  const scratch2 = k2.boot.scratch;
  const k3 = k2.kexec();
  assert.deepEqual(k3.boot.scratch, scratch2, "only the original scratch areas are handed on");
  const r3 = k3.boot.extScratch!;
  assert.equal(r3.error, null);
  assert.ok(r3.busyBlocks.length > 0);
});

Deno.test("ENOMEM for the second tree: 'Failed to extend scratch', the boot goes on", () => {
  // The successor's memblock allocations before kho_extend_scratch are the memmap's; the next
  // ones are the second tree's root and nodes.
  for (let nth = 1; nth < 40; nth++) {
    let k: Kernel;
    try {
      k = testMachine().kexec({ faults: { nth, sites: ["memblock_alloc"] } });
    } catch (e) {
      if (e instanceof KernelPanic) continue; // the memmap's allocation: no boot at all
      throw e;
    }
    if (k.boot.extScratch?.error === "ENOMEM") {
      assert.match(k.log.text(), /KHO: Failed to extend scratch: -ENOMEM/);
      assert.ok(k.kho.isKhoBoot, "the boot goes on");
      return;
    }
  }
  assert.fail("no injected ENOMEM reached kho_extend_scratch");
});

Deno.test("a corrupt tree: a table entry pointing outside RAM is the kernel's oops at the digest walk; strict gives the extension up", () => {
  const corrupt = () => {
    const k1 = testMachine();
    const root = k1.kho.out!.tracker.handoverRoot();
    return { k1, root };
  };
  const { k1, root } = corrupt();
  k1.machine.mem.writeU64(root + 8 * 7, 2 ** 45); // root entry 7 → beyond RAM
  assert.throws(() => k1.kexec(), KernelOops);
  const s = corrupt();
  s.k1.machine.mem.writeU64(s.root + 8 * 7, 2 ** 45);
  const k2 = s.k1.kexec({ config: { strict: true } });
  assert.match(k2.boot.extScratch!.strictCheck ?? "", /tracker walk/);
  assert.deepEqual(k2.boot.extScratch!.areas, []);
});

Deno.test("wall clock: extendUs comes from the boot's clock", () => {
  const clock = new ManualClock();
  const k2 = testMachine().kexec({ clock });
  assert.equal(k2.boot.extScratch!.extendUs, 0);
});

Deno.test("a scratch area outside RAM: kho_populate adds it to memblock unchecked, the second tree's first page comes from it and memblock_alloc's memset is the kernel's oops", () => {
  const k1 = testMachine();
  let scratchPhys = 0;
  // the last area (top-down allocation takes the highest scratch first) moved past the end of RAM
  const hooks = {
    onHandoff: ({ handover }: { handover: { scratchPhys: number; scratchLen: number } | null }) => {
      scratchPhys = handover!.scratchPhys;
      const last = handover!.scratchPhys + handover!.scratchLen - 16;
      k1.machine.mem.writeU64(last, 64 * GiB);
      k1.machine.mem.writeU64(last + 8, 64 * MiB);
    },
  };
  let oops: unknown;
  try {
    k1.kexec({}, hooks);
  } catch (e) {
    oops = e;
  }
  assert.ok(scratchPhys > 0, "the hook ran");
  assert.ok(oops instanceof KernelOops, `a KernelOops, got ${oops}`);
  assert.match(String((oops as KernelOops).message), /memblock_alloc_try_nid/);
  assert.match(
    (oops as KernelOops).log.text(),
    /kho_extend_scratch: memblock page 0x10[0-9a-f]+ is not RAM/,
  );
});
