import assert from "node:assert/strict";
import { KernelBug, KhoError } from "../../lib/errors.ts";
import { allocGigantic } from "../../lib/kernel/gigantic.ts";
import { Kernel, KernelPanic } from "../../lib/boot/kernel.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import { KhoHangError } from "../../lib/kho/trackers/xarray.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { MIGRATE_CMA } from "../../lib/kernel/gfp.ts";
import { Rng } from "../../lib/rng.ts";
import { GiB, hex, PAGE_SIZE } from "../../lib/units.ts";
import { KHO_PAGE_MAGIC } from "../../lib/kho/restore.ts";
import { hasApi, PROFILE_NAMES } from "../../lib/kho/profiles.ts";
import { KhoSubtreeLeakError, RootFdt } from "../../lib/kho/root_fdt.ts";
import { FdtReader } from "../../lib/kho/fdt/reader.ts";
import { readLe64 } from "../../lib/kho/fdt/format.ts";
import { requireTool } from "../support/system_tools.ts";
import { forEachSeed, seedRange } from "../support/seeds.ts";
import { oracleBlobs, type OracleRequest } from "../support/fdt_oracle.ts";
import type { ManifestSection } from "../../lib/scenario/manifest_abi.ts";
import { SCENARIO_MANIFEST_NAME } from "../../lib/scenario/manifest_abi.ts";
import { readScenarioManifest, writeScenarioManifest } from "../../lib/scenario/manifest.ts";
import { restoreSection, Tally } from "../../lib/scenario/workloads.ts";

/**
 * One object the chain test preserves: a folio (arg = order), a page range (arg = pages) or
 * a data blob published as the sub-tree `blob-<index>` (arg = bytes). The successor finds
 * them through the scenario manifest only (one section per object).
 */
interface TestObject {
  phys: number;
  kind: "folio" | "pages" | "blob";
  arg: number;
  hash: bigint;
}

function objectBytes(o: TestObject): number {
  if (o.kind === "folio") return 2 ** o.arg * PAGE_SIZE;
  if (o.kind === "pages") return o.arg * PAGE_SIZE;
  return o.arg;
}

function preserveObject(k: Kernel, o: TestObject, index: number): void {
  const pfn = o.phys / PAGE_SIZE;
  if (o.kind === "folio") k.kho.preserveFolio(pfn);
  else if (o.kind === "pages") k.kho.preservePages(pfn, o.arg);
  else {
    k.kho.preserveFolio(pfn);
    k.kho.addSubtree(`blob-${index}`, o.phys, o.arg);
  }
}

/** The manifest section of each object (names `obj-<i>`, blobs named like their sub-tree). */
function sectionsOf(objs: readonly TestObject[]): ManifestSection[] {
  return objs.map((o, i): ManifestSection => {
    const one = { attempted: 1, pfns: Float64Array.of(o.phys / PAGE_SIZE) };
    const hashes = BigUint64Array.of(o.hash);
    if (o.kind === "folio") {
      return { ...one, kind: "folio", name: `obj-${i}`, order: o.arg, hashes };
    }
    if (o.kind === "pages") {
      return { ...one, kind: "range", name: `obj-${i}`, nrPages: o.arg, hashes };
    }
    return {
      kind: "subtree",
      name: `blob-${i}`,
      attempted: 1,
      blob: { phys: o.phys, size: o.arg, hash: o.hash },
    };
  });
}

/** The objects a successor rebuilds from the manifest's sections (bytes only). */
function objectsOf(sections: readonly ManifestSection[]): TestObject[] {
  return sections.map((s): TestObject => {
    switch (s.kind) {
      case "folio":
        return { phys: s.pfns[0] * PAGE_SIZE, kind: "folio", arg: s.order, hash: s.hashes[0] };
      case "range":
        return { phys: s.pfns[0] * PAGE_SIZE, kind: "pages", arg: s.nrPages, hash: s.hashes[0] };
      case "subtree":
        return { phys: s.blob!.phys, kind: "blob", arg: s.blob!.size, hash: s.blob!.hash };
      default:
        throw new Error(`unexpected section ${s.kind}`);
    }
  });
}

function newMachine(): Machine {
  return new Machine({ ramBytes: 8 * GiB, nodes: 2 });
}

/** Folios of orders 0..10 and 18, page ranges and data blobs, filled with seeded content. */
function createObjects(k: Kernel, rng: Rng): TestObject[] {
  const mem = k.machine.mem;
  const objs: TestObject[] = [];
  const fill = (phys: number, bytes: number) => mem.fill(phys, bytes, { pattern: rng.u32() });
  for (let order = 0; order <= 10; order++) {
    const pfn = k.buddy.folioAlloc(order, { nid: rng.int(2) });
    assert.ok(pfn !== null, `order-${order} folio`);
    fill(pfn * PAGE_SIZE, 2 ** order * PAGE_SIZE);
    objs.push({ phys: pfn * PAGE_SIZE, kind: "folio", arg: order, hash: 0n });
  }
  const giant = allocGigantic(k.buddy, 18, rng.int(2));
  assert.ok(giant !== null, "1 GiB folio");
  fill(giant * PAGE_SIZE, GiB);
  objs.push({ phys: giant * PAGE_SIZE, kind: "folio", arg: 18, hash: 0n });
  for (let i = 0; i < 3; i++) {
    const block = k.buddy.allocPages(9);
    assert.ok(block !== null);
    const start = block + rng.int(64);
    const n = 1 + rng.int(400);
    fill(start * PAGE_SIZE, n * PAGE_SIZE);
    objs.push({ phys: start * PAGE_SIZE, kind: "pages", arg: n, hash: 0n });
  }
  for (let i = 0; i < 2; i++) {
    const size = 1 + rng.int(20000);
    const phys = k.kho.allocPreserve(size);
    mem.writeBytes(phys, rng.fillBytes(new Uint8Array(size)));
    objs.push({ phys, kind: "blob", arg: size, hash: 0n });
  }
  for (const o of objs) o.hash = mem.hash64(o.phys, objectBytes(o));
  objs.forEach((o, i) => {
    if (o.kind === "blob") k.kho.addSubtree(`blob-${i}`, o.phys, o.arg);
    else preserveObject(k, o, i);
  });
  return objs;
}

/** The oracle request equivalent to this kernel's calls so far. */
function oracleRequest(k: Kernel): OracleRequest {
  const out = k.kho.out!;
  const subtrees = out.subtrees().map((s) => [s.name, s.phys] as [string, number]);
  return {
    root_rw: {
      compat: k.profile.compat,
      map: out.tracker.handoverRoot(),
      subtrees,
      prop_name: k.profile.subtreeProp,
      blob_sizes: k.profile.blobSize
        ? Object.fromEntries(out.subtrees().map((s) => [s.name, s.size]))
        : {},
    },
  };
}

/** Runs a chain of kexecs; returns the root FDT bytes and oracle requests seen at each step. */
function runChain(
  seed: number,
  kexecs: number,
  collect?: { seed: number; step: number; req: OracleRequest; got: Uint8Array }[],
) {
  const rng = new Rng(seed);
  const machine = newMachine();
  let k = Kernel.coldBoot(machine, { cmdline: "kho=on" });
  let objs = createObjects(k, rng);
  for (let step = 1; step <= kexecs; step++) {
    writeScenarioManifest(k, sectionsOf(objs));
    collect?.push({ seed, step, req: oracleRequest(k), got: k.kho.out!.root.bytes() });
    const prev = k;
    k = k.kexec();
    assert.ok(prev.dead);
    assert.throws(() => prev.kexec(), /gone/);
    assert.ok(
      k.kho.isKhoBoot,
      `seed ${seed} step ${step}: ${k.boot.revivalRefused ?? k.log.text()}`,
    );
    assert.equal(k.kho.kexecCount, step);
    const found = readScenarioManifest(k);
    assert.ok(found.ok, `seed ${seed} step ${step}: ${found.ok || found.reason}`);
    const tally = new Tally();
    for (const section of found.sections) restoreSection(k, section, tally);
    assert.equal(tally.errorText(), "", `seed ${seed} step ${step}`);
    assert.equal(tally.lostObjects, 0, `seed ${seed} step ${step}`);
    const objects = objectsOf(found.sections);
    for (const o of objects) {
      if (o.kind === "folio") assert.equal(k.memmap.folioOrder(o.phys / PAGE_SIZE), o.arg);
    }
    assert.equal(k.log.warnings().length, 0, k.log.text());
    objs = objects;
    objs.forEach((o, i) => preserveObject(k, o, i));
  }
  return k;
}

Deno.test("folios of orders 0..10 and 18, page ranges and sub-blobs survive 10 chained kexecs (100 seeds)", () => {
  forEachSeed(seedRange(1, 100), (seed) => runChain(seed, 10));
});

Deno.test("the root FDT is byte-identical to fdt_oracle.py root-rw after every step", async () => {
  const seen: { seed: number; step: number; req: OracleRequest; got: Uint8Array }[] = [];
  forEachSeed(seedRange(1, 10), (seed) => runChain(seed, 10, seen));
  if (!requireTool("libfdt", "oracle")) return;
  const want = await oracleBlobs(seen.map((s) => s.req));
  assert.equal(want.length, seen.length);
  seen.forEach((s, i) => assert.deepEqual(s.got, want[i], `seed=${s.seed} step ${s.step}`));
});

Deno.test("restored folios and pages have the kernel's refcount patterns; the stamp goes away", () => {
  const machine = newMachine();
  const k1 = Kernel.coldBoot(machine);
  const folio = k1.buddy.folioAlloc(3)!;
  const pages = k1.buddy.allocPages(2)!;
  k1.kho.preserveFolio(folio);
  k1.kho.preservePages(pages, 4);
  const k2 = k1.kexec();
  assert.deepEqual(k2.memmap.getPrivateParts(folio), [3, KHO_PAGE_MAGIC]);
  assert.deepEqual(k2.memmap.getPrivateParts(pages), [2, KHO_PAGE_MAGIC]);
  assert.ok(k2.memblock.isRegionReserved(folio * PAGE_SIZE, 8 * PAGE_SIZE));
  assert.ok(!k2.buddy.isFree(folio) && !k2.buddy.isFree(pages + 3));
  assert.equal(k2.kho.restoreFolio(folio * PAGE_SIZE), folio);
  assert.equal(k2.memmap.pageCount(folio), 1);
  for (let i = 1; i < 8; i++) assert.equal(k2.memmap.pageCount(folio + i), 0);
  assert.equal(k2.memmap.folioOrder(folio), 3);
  assert.equal(k2.kho.restorePages(pages * PAGE_SIZE, 4), pages);
  for (let i = 0; i < 4; i++) assert.equal(k2.memmap.pageCount(pages + i), 1);
  // A second restore, a tail page and never-preserved memory give null and a WARN.
  assert.equal(k2.kho.restoreFolio(folio * PAGE_SIZE), null);
  assert.equal(k2.log.warnings("kho_restore_page").length, 1);
  assert.equal(k2.kho.restorePages((pages + 1) * PAGE_SIZE, 1), null);
  assert.equal(k2.kho.restoreFolio(12345 * PAGE_SIZE), null);
  // The restored folio can be freed to the allocator.
  const before = k2.buddy.nrFreePages();
  k2.buddy.folioPut(folio);
  assert.equal(k2.buddy.nrFreePages(), before + 8);
});

Deno.test("the successor frees the old tracker pages and gets scratch as CMA pageblocks", () => {
  const machine = newMachine();
  const k1 = Kernel.coldBoot(machine);
  for (let i = 0; i < 50; i++) k1.kho.preserveFolio(k1.buddy.folioAlloc(i % 4, { nid: i % 2 })!);
  const trackerPages = k1.kho.out!.tracker.ownedPagesPhys();
  assert.ok(trackerPages.length > 6);
  for (const a of k1.boot.scratch) {
    assert.equal(k1.buddy.getPageblockMigratetype(a.addr / PAGE_SIZE), MIGRATE_CMA);
  }
  const k2 = k1.kexec();
  assert.ok(k2.kho.isKhoBoot);
  for (const phys of trackerPages) {
    assert.ok(
      !k2.memblock.isRegionReserved(phys, PAGE_SIZE),
      `tracker page ${phys} still reserved`,
    );
    const pfn = phys / PAGE_SIZE;
    assert.ok(
      k2.buddy.isFree(pfn) || k2.memmap.pageCount(pfn) > 0,
      "tracker page given to the allocator",
    );
  }
  for (const a of k2.boot.scratch) {
    assert.equal(k2.buddy.getPageblockMigratetype(a.addr / PAGE_SIZE + 512), MIGRATE_CMA);
  }
  // Kernel allocations never land in scratch, so nothing preserved can be there.
  for (let i = 0; i < 2000; i++) {
    const pfn = k2.buddy.allocPages(0)!;
    assert.ok(
      k2.boot.scratch.every((a) => pfn * PAGE_SIZE < a.addr || pfn * PAGE_SIZE >= a.addr + a.size),
    );
  }
});

Deno.test("kho_unpreserve_free and kho_restore_free give memory back", () => {
  const k1 = Kernel.coldBoot(newMachine());
  const keep = k1.kho.allocPreserve(3 * PAGE_SIZE);
  const drop = k1.kho.allocPreserve(PAGE_SIZE);
  const free0 = k1.buddy.nrFreePages();
  k1.kho.unpreserveFree(drop);
  k1.kho.unpreserveFree(0);
  assert.equal(k1.buddy.nrFreePages(), free0 + 1);
  const k2 = k1.kexec();
  const free1 = k2.buddy.nrFreePages();
  k2.kho.restoreFree(keep);
  assert.equal(k2.buddy.nrFreePages(), free1 + 4);
  assert.equal(k2.kho.restoreFolio(drop), null);
  k2.kho.restoreFree(keep); // already restored: WARN
  assert.equal(k2.log.warnings("kho_restore_free").length, 1);
});

Deno.test("preserved blocks nobody restores stay reserved; unpreserved memory is poisoned", () => {
  const machine = newMachine();
  const k1 = Kernel.coldBoot(machine);
  const keep = k1.buddy.folioAlloc(0)!;
  const drop = k1.buddy.folioAlloc(0)!;
  machine.mem.fill(keep * PAGE_SIZE, PAGE_SIZE, { byte: 0x11 });
  machine.mem.fill(drop * PAGE_SIZE, PAGE_SIZE, { byte: 0x22 });
  k1.kho.preserveFolio(keep);
  k1.kho.preserveFolio(drop);
  k1.kho.unpreserveFolio(drop);
  const k2 = k1.kexec();
  assert.equal(machine.mem.readU8(keep * PAGE_SIZE), 0x11);
  assert.notEqual(machine.mem.readU8(drop * PAGE_SIZE), 0x22, "unpreserved page was poisoned");
  assert.ok(k2.memblock.isRegionReserved(keep * PAGE_SIZE, PAGE_SIZE));
  const k3 = k2.kexec();
  // Never restored in k2, so not preserved again: k3 boots with it free and poisoned.
  assert.equal(k3.kho.restoreFolio(keep * PAGE_SIZE), null);
  assert.notEqual(machine.mem.readU8(keep * PAGE_SIZE), 0x11);
});

Deno.test("kho_scratch_overlap: with CONFIG_KEXEC_HANDOVER_DEBUG, preserving scratch fails with EINVAL and a WARN; without, it is accepted", () => {
  // kho_preserve_pages: WARN_ON(kho_scratch_overlap(...)) → -EINVAL; the check does real work
  // only with CONFIG_KEXEC_HANDOVER_DEBUG (kho-facts §1.1, §5.5).
  const k = Kernel.coldBoot(newMachine(), { config: { khoDebug: true } });
  const area = k.boot.scratch[2];
  assert.ok(area.size > 0);
  const pfn = area.addr / PAGE_SIZE + 5;
  assert.throws(
    () => k.kho.preservePages(pfn, 1),
    (e: KhoError) => e.code === "EINVAL" && /overlaps scratch area 2/.test(e.message),
  );
  assert.equal(k.log.warnings("kho_preserve_pages").length, 1);
  const folio = k.buddy.folioAlloc(0, { nid: 1 })!;
  assert.throws(
    () => k.kho.preserveFolio(area.addr / PAGE_SIZE),
    (e: KhoError) => e.code === "EINVAL",
  );
  k.kho.preserveFolio(folio); // outside scratch: fine
  // The default build (the option has no Kconfig default): the same calls succeed, silently.
  const nodebug = Kernel.coldBoot(newMachine());
  assert.equal(nodebug.boot.config.khoDebug, false);
  const a2 = nodebug.boot.scratch[2];
  nodebug.kho.preservePages(a2.addr / PAGE_SIZE + 5, 1);
  assert.equal(nodebug.log.warnings().length, 0);
  assert.ok(nodebug.kho.out!.isPreserved(a2.addr / PAGE_SIZE + 5, 0));
});

Deno.test("scratch sizing: default 200%, N%, explicit sizes, and ignored on a KHO boot", () => {
  // 16 GiB, 2 nodes: memmaps of 128 MiB per node (top of each node, above 4 GiB) and the
  // 64 MiB image at 16 MiB are the kernel's memblock reservations.
  const k = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 2 }));
  const MiB = 2 ** 20;
  assert.deepEqual(k.boot.scratch.map((a) => a.size / MiB), [128, 512, 384, 256]);
  assert.ok(k.boot.scratch[0].addr + k.boot.scratch[0].size <= 2 ** 32);
  assert.equal(k.machine.topology.nidOfPhys(k.boot.scratch[3].addr), 1);
  const k150 = Kernel.coldBoot(new Machine({ ramBytes: 16 * GiB, nodes: 2 }), {
    cmdline: "kho_scratch=150%",
  });
  assert.deepEqual(k150.boot.scratch.map((a) => a.size / MiB), [96, 384, 288, 192]);
  const k2 = Kernel.coldBoot(newMachine(), { cmdline: "kho_scratch=64M,256M,96M" });
  assert.deepEqual(k2.boot.scratch.map((a) => a.size / MiB), [64, 256, 96, 96]);
  const k3 = k2.kexec({ cmdline: "kho_scratch=50%" });
  assert.deepEqual(k3.boot.scratch, k2.boot.scratch);
  assert.ok(k3.log.grep("kho_scratch= ignored").length === 1);
  const k4 = Kernel.coldBoot(newMachine(), { cmdline: "kho_scratch=4096G,1G,1G" });
  assert.equal(k4.kho.enabled, false);
  assert.ok(k4.log.grep("disabling kexec handover").length === 1);
  // Scratch too small for the successor's memmap: the next kernel panics, as a real one would.
  const tiny = Kernel.coldBoot(newMachine(), { cmdline: "kho_scratch=64M,16M,16M" });
  assert.throws(
    () => tiny.kexec(),
    (e: Error) => e instanceof KernelPanic && /memmap of node/.test(e.message),
  );
  // A kexec segment that fits no scratch area fails the kexec; the kernel keeps running.
  const small = Kernel.coldBoot(newMachine(), { cmdline: "kho_scratch=16M,16M,16M" });
  assert.throws(() => small.kexec(), (e: KhoError) => e.code === "EADDRNOTAVAIL");
  assert.equal(small.dead, false);
});

Deno.test("kho=off: no preservation API, and kexec boots the successor cold", () => {
  const k = Kernel.coldBoot(newMachine(), { cmdline: "kho=off" });
  assert.equal(k.kho.enabled, false);
  assert.throws(
    () => k.kho.preserveFolio(k.buddy.folioAlloc(0)!),
    (e: KhoError) => e.code === "EINVAL",
  );
  // kho_alloc_preserve allocates the folio, kho_preserve_folio finds no radix tree
  // (WARN_ON_ONCE, -EINVAL) and the folio is freed: EINVAL, nothing kept (kho-facts §1.2).
  const free = k.buddy.nrFreePages();
  assert.throws(() => k.kho.allocPreserve(10), (e: KhoError) => e.code === "EINVAL");
  assert.equal(k.buddy.nrFreePages(), free);
  assert.equal(k.log.warnings("kho_preserve_folio").length, 1);
  const k2 = k.kexec({ cmdline: "kho=on" });
  assert.equal(k2.kho.isKhoBoot, false);
  assert.throws(() => k2.kho.retrieveSubtree("x"), (e: KhoError) => e.code === "ENOENT");
});

Deno.test("API errors: E2BIG, EINVAL, EEXIST, ENOENT, and the sub-tree round trip", () => {
  const k = Kernel.coldBoot(newMachine());
  assert.throws(() => k.kho.allocPreserve(0), (e: KhoError) => e.code === "EINVAL");
  assert.throws(() => k.kho.allocPreserve(8 << 20), (e: KhoError) => e.code === "E2BIG");
  const blob = k.kho.allocPreserve(100);
  k.kho.addSubtree("a", blob, 100);
  assert.throws(() => k.kho.addSubtree("a", blob, 100), (e: KhoError) => e.code === "EEXIST");
  k.kho.removeSubtree(0xdead000); // unknown: silently ignored
  const k2 = k.kexec();
  assert.deepEqual(k2.kho.retrieveSubtree("a"), { phys: blob, size: 100 });
  assert.throws(() => k2.kho.retrieveSubtree("b"), (e: KhoError) => e.code === "ENOENT");
  assert.deepEqual(k2.kho.incoming!.subtreeNames(), ["a", "kexec-metadata"]);
});

Deno.test("arguments no C caller can pass are EINVAL before anything is touched (issue 18 §6)", () => {
  const isEinval = (e: unknown) => e instanceof KhoError && e.code === "EINVAL";
  const blocks = (k: Kernel) => {
    const out: string[] = [];
    k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
    return out.sort().join(",");
  };
  const bad = [NaN, Infinity, -Infinity, -1, 1.5];
  for (const profile of PROFILE_NAMES) {
    const k = Kernel.coldBoot(newMachine(), { cmdline: "kho=on", profile });
    const pfn = k.buddy.allocPages(4)!;
    const before = blocks(k);
    const calls: [string, () => void][] = [];
    for (const v of bad) {
      calls.push([`preserveFolio(${v})`, () => k.kho.preserveFolio(v)]);
      calls.push([`preserveRange(${v}, 4)`, () => k.kho.preserveRange(v, 4)]);
      calls.push([`preserveRange(pfn, ${v})`, () => k.kho.preserveRange(pfn, v)]);
      if (k.profile.api.includes("preservePages")) {
        calls.push([`preservePages(${v}, 16)`, () => k.kho.preservePages(v, 16)]);
        calls.push([`preservePages(pfn, ${v})`, () => k.kho.preservePages(pfn, v)]);
        calls.push([`unpreservePages(${v}, 16)`, () => k.kho.unpreservePages(v, 16)]);
      } else {
        calls.push([`preservePhys(${v}, 4096)`, () => k.kho.preservePhys(v, 4096)]);
        calls.push([`preservePhys(phys, ${v})`, () => k.kho.preservePhys(pfn * 4096, v)]);
      }
    }
    // Simulator bound: 2^52 pages (the pfns of a 64-bit physical address space).
    if (k.profile.api.includes("preservePages")) {
      calls.push(["nr_pages 2^52 + 1", () => k.kho.preservePages(pfn, 2 ** 52 + 1)]);
      calls.push(["pfn 2^52 + 1", () => k.kho.preservePages(2 ** 52 + 1, 1)]);
      calls.push(["nr_pages 2^53", () => k.kho.unpreservePages(pfn, 2 ** 53)]);
    }
    for (const [what, call] of calls) assert.throws(call, isEinval, `${profile}: ${what}`);
    // the facade refuses them itself, naming the argument (no later check by luck)
    for (const [what, call] of calls) {
      assert.throws(
        call,
        /is not an unsigned integer|above the simulator's bound/,
        `${profile}: ${what}`,
      );
    }
    assert.equal(blocks(k), before, `${profile}: nothing preserved`);
    // A valid call still works afterwards, and the successor restores it.
    k.kho.preserveRange(pfn, 16);
    if (!k.profile.api.includes("restorePages")) continue;
    const k2 = k.kexec();
    for (const v of bad) {
      assert.throws(() => k2.kho.restoreFolio(v), isEinval, `${profile}: restoreFolio(${v})`);
      assert.throws(() => k2.kho.restorePages(v, 16), isEinval, `${profile}: restorePages(${v})`);
      assert.throws(() => k2.kho.restorePages(pfn * 4096, v), isEinval, `${profile}: nr ${v}`);
    }
    assert.equal(k2.kho.restorePages(pfn * PAGE_SIZE, 16), pfn);
    // An address read from corrupted bytes may be any u64: the kernel's NULL, no exception.
    assert.equal(k2.kho.restoreFolio(2 ** 60), null);
    assert.equal(k2.kho.restorePages(pfn * PAGE_SIZE, 2 ** 53), null);
  }
});

Deno.test("the root FDT fills up: kho-v4 leaves a half-built node (subtree-setprop-leak), kho-v4+fixes ENOMEM and an unchanged FDT", () => {
  // kho_add_subtree (S-7.1c): a failing fdt_setprop returns the raw libfdt code with the
  // node left in place; linux-mm @ 65660710 deletes it and returns -ENOMEM (luo-hugetlb-facts
  // §5.6). Which call fails first depends on the space left: the node, or one of its properties.
  for (const profile of ["kho-v4", "kho-v4+fixes"] as const) {
    const k = Kernel.coldBoot(newMachine(), { profile });
    const blob = k.kho.allocPreserve(64);
    let n = 0;
    let err: unknown;
    let before = k.kho.out!.root.bytes();
    for (;;) {
      before = k.kho.out!.root.bytes();
      try {
        k.kho.addSubtree(`sub-tree-with-a-long-name-${n++}`, blob, 64);
      } catch (e) {
        err = e;
        break;
      }
    }
    assert.ok(err instanceof KhoError && err.code === "ENOMEM", String(err));
    assert.ok(n > 20 && k.kho.out!.root.bytes().length <= PAGE_SIZE);
    const after = k.kho.out!.root.bytes();
    if (profile === "kho-v4") {
      // fdt_add_subnode fitted, fdt_setprop did not: the node stays (with no properties)
      assert.equal((err as KhoSubtreeLeakError).libfdtCode, -3, String(err));
      assert.notDeepEqual(after, before);
      assert.ok(k.kho.out!.root instanceof RootFdt);
      assert.ok(
        (k.kho.out!.root as RootFdt).subtreeNames().includes(`sub-tree-with-a-long-name-${n - 1}`),
      );
    } else {
      assert.ok(!(err instanceof KhoSubtreeLeakError));
      assert.deepEqual(after, before);
    }
  }
});

/** The state a failed call must leave untouched. */
function snapshot(k: Kernel) {
  const out = k.kho.out!;
  const pages = out.tracker.ownedPagesPhys();
  return {
    pages,
    pageHashes: pages.map((p) => k.machine.mem.hash64(p, PAGE_SIZE)),
    fdt: k.machine.mem.readBytes(out.root.phys, PAGE_SIZE),
    buddyinfo: k.buddy.buddyinfoText(),
    pagetypes: k.buddy.pagetypeinfoText(),
    free: k.buddy.nrFreePages(),
  };
}

/** The preserved set, as the tracker walks it. */
function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out;
}

Deno.test("fault injection: every allocation point of preserveFolio, preservePages, addSubtree, allocPreserve", () => {
  const k = Kernel.coldBoot(newMachine());
  // [name, op, single]: "single" calls add one block, so a failure must leave everything
  // exactly as before. preservePages adds several blocks; when block i fails, the blocks
  // before it are deleted again, and (as in the kernel, whose radix delete frees nothing)
  // the table pages they allocated stay in the tree, empty.
  const ops: [string, () => void, boolean][] = [];
  for (let i = 0; i < 6; i++) {
    const order = [0, 3, 9, 10, 0, 5][i];
    const pfn = k.buddy.folioAlloc(order, { nid: i % 2 })!;
    ops.push([`preserveFolio order ${order}`, () => k.kho.preserveFolio(pfn), true]);
  }
  const block = k.buddy.allocPages(10, { nid: 1 })!;
  ops.push(["preservePages", () => k.kho.preservePages(block + 1, 700), false]);
  ops.push(["allocPreserve", () => void k.kho.allocPreserve(3 * PAGE_SIZE + 1), true]);
  const blob = k.kho.allocPreserve(PAGE_SIZE);
  ops.push(["addSubtree", () => k.kho.addSubtree("s", blob, 10), true]);
  let points = 0;
  for (const [name, op, single] of ops) {
    for (let nth = 1;; nth++) {
      const before = snapshot(k);
      const set = preservedSet(k);
      k.faults.arm({ nth });
      let failed: unknown = null;
      try {
        op();
      } catch (e) {
        failed = e;
      }
      k.faults.disarm();
      if (failed === null) break; // the nth allocation was not reached: the call succeeded
      points++;
      assert.ok(
        failed instanceof KhoError && failed.code === "ENOMEM",
        `${name} nth=${nth}: ${failed}`,
      );
      assert.deepEqual(preservedSet(k), set, `${name} nth=${nth} changed the preserved set`);
      if (single) {
        assert.deepEqual(snapshot(k), before, `${name} nth=${nth} changed state`);
      } else {
        const after = snapshot(k);
        assert.deepEqual(after.fdt, before.fdt);
        const kept = after.pages.filter((p) => !before.pages.includes(p));
        assert.ok(before.pages.every((p) => after.pages.includes(p)));
        assert.equal(before.free - after.free, kept.length, `${name} nth=${nth}: pages leaked`);
      }
    }
  }
  assert.ok(points >= 12, `only ${points} allocation points reached`);
  // After all that, the preserved set is complete and kexec works.
  const k2 = k.kexec();
  assert.ok(k2.kho.isKhoBoot);
  assert.deepEqual(k2.kho.retrieveSubtree("s"), { phys: blob, size: 10 });
  assert.equal(k2.kho.restorePages((block + 1) * PAGE_SIZE, 700), block + 1);
});

/** Prepares a kexec by hand so the handover can be corrupted before the successor boots. */
function prepared(seed = 1) {
  const machine = newMachine();
  const k = Kernel.coldBoot(machine);
  const pfn = k.buddy.folioAlloc(4)!;
  machine.mem.fill(pfn * PAGE_SIZE, 16 * PAGE_SIZE, { pattern: seed });
  k.kho.preserveFolio(pfn);
  const filled = k.kho.fillKimage({ imageBytes: 64 << 20, mem: machine.mem });
  const boot = (
    o: {
      handover?: typeof filled.handover;
      profile?: "kho-v3";
      strict?: boolean;
      imagePhys?: number;
    } = {},
  ) =>
    Kernel.bootFrom(
      machine,
      {
        handover: o.handover ?? filled.handover,
        imagePhys: o.imagePhys ?? filled.imagePhys,
        bootIndex: 1,
      },
      { profile: o.profile, config: { strict: o.strict } },
    );
  return { machine, k, pfn, filled, boot };
}

/**
 * What became of a successor boot: a KHO boot (the preserved folio restored), a refusal with
 * its reason and (strict) the extra check, or the oops / lockup the kernel would die of.
 */
function verdictOf(run: () => Kernel, pfn: number): string {
  let k2: Kernel;
  try {
    k2 = run();
  } catch (e) {
    if (e instanceof KernelOops) return `oops in ${e.fn} at ${hex(e.address)}`;
    if (e instanceof KhoHangError) return `hang: ${e.message}`;
    throw e; // never a raw JavaScript exception
  }
  if (k2.kho.isKhoBoot) {
    assert.equal(k2.boot.revivalRefused, undefined);
    return k2.kho.restoreFolio(pfn * PAGE_SIZE) === pfn ? "KHO boot" : "KHO boot, folio lost";
  }
  assert.ok(k2.log.grep("disabling KHO revival").length === 1);
  assert.ok(k2.kho.enabled, "the successor still offers KHO");
  return `refused: ${k2.boot.revivalRefused}` +
    (k2.boot.strictCheck ? ` [strict check: ${k2.boot.strictCheck}]` : "");
}

Deno.test("corrupted handovers: the kernel's verdict (kho_populate) and the strict verdict, per case", () => {
  // kho_populate (S-7.1c) checks: early_memremap of the FDT (1 byte … 64 pages), fdt_check_header,
  // the exact compat, a non-zero 8-byte map, early_memremap of the scratch array; then
  // scratch_len / 16 areas, truncated, accepted whatever they say. Strict adds kholab's checks.
  type P = ReturnType<typeof prepared>;
  const area = (p: P, i: number, addr: number, size?: number) => {
    p.machine.mem.writeU64(p.filled.handover.scratchPhys + 16 * i, addr);
    if (size !== undefined) {
      p.machine.mem.writeU64(p.filled.handover.scratchPhys + 16 * i + 8, size);
    }
  };
  const cases: [string, (p: P) => void, Partial<Parameters<P["boot"]>[0]>, string, string][] = [
    [
      "bad FDT magic",
      (p) => p.machine.mem.writeU32(p.filled.handover.fdtPhys, 0),
      {},
      "refused: invalid FDT: FDT_ERR_BADMAGIC",
      "refused: invalid FDT: FDT_ERR_BADMAGIC",
    ],
    [
      // early_memremap maps the whole page: the 4 KiB root FDT is all there.
      "fdt_len 64, shorter than the FDT",
      () => {},
      { handover: undefined },
      "KHO boot",
      "refused: invalid FDT: FDT_ERR_TRUNCATED [strict check: FDT within fdt_len]",
    ],
    [
      "wrong compat",
      () => {},
      { profile: "kho-v3" },
      'refused: compat "kho-v4" does not match "kho-v3"',
      'refused: compat "kho-v4" does not match "kho-v3"',
    ],
    [
      // early_memremap maps what is not RAM; nothing answers there (all-ones): bad magic.
      "FDT outside RAM",
      () => {},
      {},
      "refused: invalid FDT: FDT_ERR_BADMAGIC",
      "refused: FDT at 0x10000000000+0x1000 is not in RAM [strict check: FDT inside RAM]",
    ],
    [
      "map = 0",
      (p) => setMap(p, 0),
      {},
      "refused: preserved-memory-map is 0",
      "refused: preserved-memory-map is 0",
    ],
    [
      // scratch_cnt = 20 / 16 = 1: only the lowmem area is inherited, and enough to boot.
      "scratch length 20",
      () => {},
      {},
      "KHO boot",
      "refused: scratch array length 20 is not 16 × areas [strict check: scratch array of 1..64 whole areas]",
    ],
    [
      // early_memremap(scratch_phys, 0): WARN and NULL.
      "scratch length 0",
      () => {},
      {},
      "refused: failed to memremap scratch (phys=0xf7ff0000, len=0)",
      "refused: scratch array length 0 is not 16 × areas [strict check: scratch array of 1..64 whole areas]",
    ],
    [
      // area 0 = [0, 1 MiB): memblock_add of memory already added; the low 1 MiB stays reserved.
      "scratch overlaps the kernel",
      (p) => area(p, 0, 0, 1 << 20),
      {},
      "KHO boot",
      "refused: scratch area 0 overlaps kernel memory at 0x0 [strict check: scratch clear of the FDT and kernel memory]",
    ],
    [
      // memblock_add of memory that does not exist; kho_release_scratch touches its struct pages.
      "scratch outside RAM",
      (p) => area(p, 1, 2 ** 44),
      {},
      "oops in kho_release_scratch at 0x100000000000",
      "refused: scratch area 1 0x100000000000+0x8000000 is not page-aligned RAM [strict check: scratch areas of page-aligned RAM]",
    ],
    [
      "kernel image outside scratch",
      () => {},
      { imagePhys: 2 ** 31 },
      "KHO boot",
      "refused: kernel image at 0x80000000 is outside scratch [strict check: kernel image inside scratch]",
    ],
  ];
  const handovers: Record<string, (p: P) => P["filled"]["handover"]> = {
    "fdt_len 64, shorter than the FDT": (p) => ({ ...p.filled.handover, fdtLen: 64 }),
    "FDT outside RAM": (p) => ({ ...p.filled.handover, fdtPhys: 2 ** 40 }),
    "scratch length 20": (p) => ({ ...p.filled.handover, scratchLen: 20 }),
    "scratch length 0": (p) => ({ ...p.filled.handover, scratchLen: 0 }),
  };
  for (const [name, corrupt, opts, kernel, strict] of cases) {
    for (const [isStrict, want] of [[false, kernel], [true, strict]] as const) {
      const p = prepared();
      corrupt(p);
      const handover = handovers[name]?.(p);
      const got = verdictOf(() => p.boot({ ...opts, handover, strict: isStrict }), p.pfn);
      assert.equal(got, want, `${name} (${isStrict ? "strict" : "kernel"})`);
    }
  }
});

function setMap(p: ReturnType<typeof prepared>, value: number) {
  const fdtPhys = p.filled.handover.fdtPhys;
  const bytes = p.machine.mem.readBytes(fdtPhys, PAGE_SIZE);
  const rd = new FdtReader(bytes);
  const prop = rd.getprop(0, "preserved-memory-map")!;
  const off = prop.byteOffset - bytes.byteOffset;
  assert.equal(readLe64(prop), p.k.kho.out!.tracker.handoverRoot());
  p.machine.mem.writeU64(fdtPhys + off, value);
}

Deno.test("corrupted trackers: the kernel oopses on pointers and blocks outside RAM; strict names and contains them", () => {
  type P = ReturnType<typeof prepared>;
  const root = (p: P) => p.k.kho.out!.tracker.handoverRoot();
  const cases: [string, (p: P) => void, string, string][] = [
    [
      // __kho_radix_walk_tree: phys_to_virt(root) read
      "root outside RAM",
      (p) => setMap(p, 2 ** 44),
      "oops in __kho_radix_walk_tree at 0x100000000000",
      "refused: root-outside-ram",
    ],
    [
      "an entry outside RAM",
      (p) => p.machine.mem.writeU64(root(p) + 8 * 1, 2 ** 43),
      "oops in __kho_radix_walk_tree at 0x80000000000",
      "refused: entry-outside-ram",
    ],
    [
      // The depth-bounded walk re-walks the root's subtree one level lower: its keys gain the
      // bits of index 3 at level 5 and decode to a block with no struct page.
      "an entry pointing back at the root",
      (p) => p.machine.mem.writeU64(root(p) + 8 * 3, root(p)),
      "oops in kho_preserved_memory_reserve at 0x800800000000e000",
      "refused: cycle",
    ],
  ];
  for (const [name, corrupt, kernel, strict] of cases) {
    for (const [isStrict, want] of [[false, kernel], [true, strict]] as const) {
      const p = prepared();
      corrupt(p);
      let got: string;
      try {
        const k2 = p.boot({ strict: isStrict });
        assert.equal(k2.kho.isKhoBoot, false, name);
        assert.equal(k2.boot.strictCheck, `tracker walk: ${k2.boot.retrieve?.error}`);
        got = `refused: ${k2.boot.retrieve?.error}`;
      } catch (e) {
        if (!(e instanceof KernelOops)) throw e;
        got = `oops in ${e.fn} at ${hex(e.address)}`;
        assert.match(e.log.text(), /BUG: unable to handle page fault/);
      }
      assert.equal(got, want, `${name} (${isStrict ? "strict" : "kernel"})`);
    }
  }
  {
    // Preserve a 1 GiB-order key, then set a bit in the same leaf for a block far beyond RAM:
    // kho_preserved_memory_reserve writes page->private of a page that has no struct page.
    for (const strict of [false, true]) {
      const machine = newMachine();
      const k = Kernel.coldBoot(machine, { config: { strict } });
      const giant = allocGigantic(k.buddy, 18, 0)!;
      k.kho.preserveFolio(giant);
      const tree = k.kho.out!.tracker;
      const leaf = tree.ownedPagesPhys().find((phys) => {
        const w = machine.mem.readBytes(phys, PAGE_SIZE);
        return w.some((b) => b !== 0) && phys !== tree.handoverRoot() &&
          (w[Math.floor(giant / 2 ** 18 / 8)] & (1 << ((giant / 2 ** 18) % 8))) !== 0;
      })!;
      assert.ok(leaf !== undefined);
      machine.mem.writeU8(leaf + 5, 1 << 0); // bit 40 → 40 GiB, beyond an 8 GiB machine
      if (!strict) {
        assert.throws(
          () => k.kexec(),
          (e: Error) =>
            e instanceof KernelOops && e.fn === "kho_preserved_memory_reserve" &&
            e.address === 40 * GiB,
        );
        continue;
      }
      const k2 = k.kexec();
      assert.ok(k2.kho.isKhoBoot);
      assert.equal(k2.boot.retrieve?.rejected, 1);
      assert.equal(k2.boot.strictCheck, "preserved blocks inside RAM");
      assert.equal(k2.kho.restoreFolio(giant * PAGE_SIZE), giant);
    }
  }
});

Deno.test("corrupted xarray memory maps (6.19): a chunk list that loops is a detected hang, a wild chunk an oops", () => {
  // kho_mem_deserialize: while (chunk) { …; chunk = KHOSER_LOAD_PTR(chunk->hdr.next); }
  const run = (corrupt: (first: number, mem: Machine["mem"]) => void, strict: boolean) => {
    const machine = newMachine();
    const k = Kernel.coldBoot(machine, { profile: "kho-v1-6.19", config: { strict } });
    const pfn = k.buddy.folioAlloc(4)!;
    k.kho.preserveFolio(pfn);
    k.kho.finalize();
    corrupt(k.kho.out!.serializedRoot, machine.mem);
    // (no second finalize at kexec: it would serialize the list afresh)
    return () => k.kexec({ finalizeAtKexec: false });
  };
  const loop = (first: number, mem: Machine["mem"]) => mem.writeU64(first, first);
  const wild = (first: number, mem: Machine["mem"]) => mem.writeU64(first, 2 ** 44);
  assert.throws(
    run(loop, false),
    (e: Error) =>
      e instanceof KhoHangError && /kho_mem_deserialize loops over the khoser_mem_chunk list/
        .test(e.message),
  );
  assert.throws(
    run(wild, false),
    (e: Error) =>
      e instanceof KernelOops && e.fn === "kho_mem_deserialize" && e.address === 2 ** 44,
  );
  for (const [corrupt, reason] of [[loop, "cycle"], [wild, "chunk-outside-ram"]] as const) {
    const k2 = run(corrupt, true)();
    assert.equal(k2.kho.isKhoBoot, false);
    assert.equal(k2.boot.retrieve?.error, reason);
    assert.equal(k2.boot.strictCheck, `tracker walk: ${reason}`);
  }
});

Deno.test("property: random byte mutations of tracker pages and the FDT end in a KHO boot, a refusal, an oops or a hang — never a JavaScript exception", () => {
  const rng = new Rng(77);
  const seen = new Set<string>();
  for (let run = 0; run < 40; run++) {
    const strict = run % 2 === 1;
    const p = prepared(run);
    const targets = [...p.k.kho.out!.tracker.ownedPagesPhys(), p.filled.handover.fdtPhys];
    for (let m = 0; m < 1 + rng.int(6); m++) {
      const page = rng.pick(targets);
      const at = page + rng.int(PAGE_SIZE);
      p.machine.mem.writeU8(at, rng.int(256));
    }
    let k2: Kernel;
    try {
      k2 = p.boot({ strict });
    } catch (e) {
      // The kernel's verdict on wild bytes; strict mode never gets there.
      assert.ok(!strict, `run ${run}: strict successor threw ${e}`);
      assert.ok(e instanceof KernelPanic || e instanceof KhoHangError, `run ${run}: ${e}`);
      seen.add(e instanceof KhoHangError ? "hang" : "panic");
      continue;
    }
    if (k2.kho.isKhoBoot) {
      // Whatever it restores must be intact or refused, never an exception.
      k2.kho.restoreFolio(p.pfn * PAGE_SIZE);
      seen.add("KHO boot");
    } else {
      assert.ok(k2.boot.revivalRefused !== undefined || k2.boot.retrieve?.ok === false);
      seen.add("refused");
    }
  }
  assert.ok(seen.has("KHO boot") && seen.has("refused"), [...seen].join());
});

Deno.test("the manifest is found only through its sub-tree", () => {
  const k = Kernel.coldBoot(newMachine());
  writeScenarioManifest(k, []);
  const k2 = k.kexec();
  const found = readScenarioManifest(k2);
  assert.ok(found.ok && found.sections.length === 0);
  assert.ok(k2.kho.incoming!.subtreeNames().includes(SCENARIO_MANIFEST_NAME));
});

/**
 * A kho-v1-6.19 handover of one order-2 folio whose `khoser_mem_chunk` element has its
 * `phys_start` moved by `deltaBytes`: the kernel's walk stamps the block where the bytes say.
 */
function shiftedXarrayBlock(deltaBytes: number, ramBytes = GiB): { k2: Kernel; pfn: number } {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes, nodes: 1 }), { profile: "kho-v1-6.19" });
  const pfn = k1.buddy.folioAlloc(2)!;
  k1.kho.preserveFolio(pfn);
  k1.kho.finalize();
  const mem = k1.machine.mem;
  const root = new FdtReader(mem.readBytes(k1.kho.out!.root.phys, PAGE_SIZE));
  // Find the chunk of order 2 and its element for this folio.
  let chunk = readLe64(root.getprop(0, "preserved-memory-map")!);
  for (; chunk !== 0; chunk = mem.readU64(chunk)) {
    if (mem.readU32(chunk + 8) !== 2) continue;
    const n = mem.readU32(chunk + 12);
    for (let i = 0; i < n; i++) {
      const at = chunk + 16 + 16 * i;
      const start = mem.readU64(at);
      if (pfn * PAGE_SIZE >= start && pfn * PAGE_SIZE < start + 4096 * 8 * 4 * PAGE_SIZE) {
        mem.writeU64(at, start + deltaBytes);
      }
    }
  }
  return { k2: k1.kexec({ finalizeAtKexec: false }), pfn };
}

Deno.test("kho_restore_folio (issue 18 §1): a stamped order the kernel trusts faults on the first struct page past RAM, and a head not aligned to it is the allocator's BUG", () => {
  // phys_start one page on: the block is stamped at pfn + 1, order 2, not aligned.
  const { k2, pfn } = shiftedXarrayBlock(PAGE_SIZE);
  assert.ok(k2.kho.isKhoBoot);
  assert.throws(
    () => k2.kho.restoreFolio((pfn + 1) * PAGE_SIZE),
    (e: Error) => e instanceof KernelBug && /not aligned to its order/.test(e.message),
  );
  // A stamp whose block reaches past the end of RAM (a forged order, as a corrupt tracker
  // gives): every page of it gets its struct page written.
  const k = Kernel.coldBoot(new Machine({ ramBytes: GiB, nodes: 1 })).kexec();
  const last = GiB / PAGE_SIZE - 4;
  k.memmap.setPrivate(last, 3, KHO_PAGE_MAGIC);
  assert.throws(
    () => k.kho.restoreFolio(last * PAGE_SIZE),
    (e: Error) => e instanceof KernelOops && e.fn === "prep_compound_page" && e.address === GiB,
  );
  k.memmap.setPrivate(last, 3, KHO_PAGE_MAGIC);
  assert.throws(
    () => k.kho.restorePages(last * PAGE_SIZE, 4),
    (e: Error) => e instanceof KernelOops && e.fn === "kho_restore_page",
  );
});

Deno.test("one-page preserves: the facade's fast path leaves what the checked path leaves (blocks, pages, counters, verdicts), on every profile", () => {
  const pfns = Array.from({ length: 3000 }, (_, i) => 0x40000 + ((i * 0x9E3779B1) >>> 0) % 0x20000);
  for (const profile of PROFILE_NAMES) {
    const run = (fast: boolean) => {
      const k = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 2 }), {
        profile,
        cmdline: "kho=on",
      });
      const phys = !hasApi(k.profile, "preservePages");
      for (const p of pfns) {
        if (fast) {
          if (phys) k.kho.preservePhys(p * PAGE_SIZE, PAGE_SIZE);
          else k.kho.preservePages(p, 1);
        } else if (phys) k.kho.out!.preservePhys(p * PAGE_SIZE, PAGE_SIZE);
        else k.kho.out!.preservePages(p, 1);
      }
      const blocks: number[] = [];
      k.kho.out!.tracker.walk((b, order) => (blocks.push(b, order), 0));
      return {
        blocks,
        pages: k.kho.out!.tracker.metadataPages(),
        c: k.kho.out!.tracker.counters.snapshot(),
      };
    };
    assert.deepEqual(run(true), run(false), profile);
  }
  // a finalized 6.16 KHO: EBUSY under kho_preserve_phys's own name, nothing added
  const k = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 2 }), {
    profile: "kho-v1-6.16",
    cmdline: "kho=on",
  });
  k.kho.finalize();
  const before = k.kho.out!.tracker.metadataPages();
  assert.throws(
    () => k.kho.preservePhys(0x40000 * PAGE_SIZE, PAGE_SIZE),
    (e) => e instanceof KhoError && e.code === "EBUSY" && /kho_preserve_phys/.test(e.message),
  );
  assert.equal(k.kho.out!.tracker.metadataPages(), before);
});
