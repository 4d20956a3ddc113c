/**
 * HugeTLB live update (lib/clients/hugetlb_luo.ts), the RFC of 2025-12-07 in the profile
 * `rfc-2025-12-hugetlb` (luo-hugetlb-facts §4.2–§4.5): the bytes handed over against the
 * independent LUO model (tests/luo/support/model.ts) and a model of `hugetlb_ser`/`hugemfd_ser`
 * written here, the pool that allocates only what is not preserved, HVO at retrieve and the
 * struct pages a retrieve writes, finish without retrieve, unpreserve, the errors that leak
 * on purpose, the ERR_PTR quirk, and hugetlb CMA under live update.
 */

import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel, type KernelOptions } from "../../lib/boot/kernel.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import { memfdCreate, type MemfdFile } from "../../lib/clients/memfd.ts";
import { MEMFD_LUO_MODULE } from "../../lib/clients/memfd_luo.ts";
import {
  hugeMemfdLuoHandler,
  HUGEMFD_MEMCG_SITE,
  HUGEMFD_RSRV_SITE,
  HUGETLB_LUO_MODULE,
  hugetlbLuoModule,
  hugetlbVmemmapDesign,
  type HugetlbVmemmapRestore,
  REBUILD_AND_REOPTIMIZE,
  registerHugetlbVmemmap,
} from "../../lib/clients/hugetlb_luo.ts";
import { type AbiProfile, getProfile, type ProfileName } from "../../lib/kho/profiles.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";
import {
  blockPage,
  chain,
  fileEntry,
  flbPage,
  readLuoSer,
  sessionEntry,
} from "../luo/support/model.ts";

const RFC: ProfileName = "rfc-2025-12-hugetlb";
const MIB = 2 ** 20;
const code = (c: string) => (e: unknown) => e instanceof KhoError && e.code === c;

function boot(
  o: {
    gib?: number;
    pages?: number;
    profile?: ProfileName | AbiProfile;
    extra?: string;
    scratch?: string;
  } = {},
): Kernel {
  const cmdline = `liveupdate=on kho_scratch=${o.scratch ?? "64M,256M,256M"} hugepagesz=1G ` +
    `hugepages=${o.pages ?? 4} hugetlb_free_vmemmap=on ${o.extra ?? ""}`;
  const opts: KernelOptions = {
    profile: o.profile ?? RFC,
    cmdline,
    modules: [MEMFD_LUO_MODULE, HUGETLB_LUO_MODULE],
  };
  return Kernel.coldBoot(new Machine({ ramBytes: (o.gib ?? 8) * GiB, nodes: 1 }), opts);
}

/** A guest memfd of `n` 1 GiB folios filled with `pattern`. */
function guest(k: Kernel, name: string, n: number, pattern: number): MemfdFile {
  const f = memfdCreate(k, name, { hugetlb: GiB });
  f.fill(0, n * GiB, { pattern });
  return f;
}

/** The preserved blocks of a kernel, as `phys/order` strings. */
function preserved(k: Kernel): Set<string> {
  const out = new Set<string>();
  k.kho.out!.tracker.walk((phys, order) => (out.add(`${phys}/${order}`), 0));
  return out;
}

/** Whether the folio at `pfn` is preserved as one block of `order`. */
function holds(k: Kernel, pfn: number, order: number): boolean {
  return preserved(k).has(`${pfn * PAGE_SIZE}/${order}`);
}

/** `u64` little-endian. */
function le64(v: number): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
}

Deno.test("the cover letter's host: 100 GiB, 90 × 1 GiB configured, 5 preserved → the successor's boot allocates 85", () => {
  // The successor's memmap (1.6 GiB for 100 GiB) comes from scratch: scratch-only memblock.
  assert.throws(
    () => boot({ gib: 100, pages: 90 }).kexec(),
    /cannot allocate the memmap of node 0/,
    "256 MiB of per-node scratch cannot hold it",
  );
  const k1 = boot({ gib: 100, pages: 90, scratch: "64M,256M,2G" });
  const h1 = k1.hugetlb.hstate(18)!;
  assert.equal(h1.nrHugePages, 90);
  const f = guest(k1, "vm", 5, 3);
  const hash = f.hash64();
  k1.liveupdate.open().createSession("vm").preserveFd(f, 1);
  const k2 = k1.kexec();
  const h2 = k2.hugetlb.hstate(18)!;
  assert.equal(h2.nrHugePages, 85, "hstate_liveupdate_pages(h) = 5 are not allocated again");
  assert.equal(h2.maxHugePages, 90);
  assert.match(k2.log.text(), /HugeTLB: 5 pages of size 1.00 GiB are preserved by live update/);
  assert.match(k2.log.text(), /HugeTLB: registered 1.00 GiB page size, pre-allocated 85 pages/);
  const back = k2.liveupdate.open().retrieveSession("vm").retrieveFd(1) as MemfdFile;
  assert.equal(back.hash64(), hash);
  assert.deepEqual([h2.nrHugePages, h2.freeHugePages], [90, 85], "5 in use, 85 free");
  assert.ok(back.folios().every((x) => h2.inUse(x.pfn)));
  // The retrieved file gives its folios back to the pool, as any hugetlbfs file.
  back.close();
  assert.deepEqual([h2.nrHugePages, h2.freeHugePages], [90, 90]);
});

Deno.test("the bytes handed over: hugemfd_ser, the folio records, hugetlb_ser and their entries in the LUO blob equal the models", () => {
  const k = boot({ pages: 4 });
  const a = guest(k, "vm-a", 2, 1);
  const b = guest(k, "vm-b", 1, 2);
  a.pos = 4096;
  const dev = k.liveupdate.open();
  const s = dev.createSession("guests");
  s.preserveFd(a, 7);
  s.preserveFd(b, 8);
  k.liveupdate.reboot(); // liveupdate_reboot serializes what kexec hands over
  const mem = k.machine.mem;
  const blob = k.kho.out!.subtrees().find((x) => x.name === "LUO")!;
  const { sessionsPa, flbsPa } = readLuoSer(mem, blob.phys);
  const info = s.files();
  const [serA, serB] = info.map((f) => f.serializedData);
  // The session block: one luo_session_ser naming the file chain of two entries.
  const [sblock] = chain(mem, sessionsPa);
  const filesHead = Number(new DataView(mem.readBytes(sblock + 16 + 64, 8).buffer).getBigUint64(
    0,
    true,
  ));
  assert.deepEqual(
    mem.readBytes(sblock, PAGE_SIZE),
    blockPage(0, [sessionEntry({ name: "guests", files: filesHead, count: 2 })]),
  );
  assert.deepEqual(
    mem.readBytes(chain(mem, filesHead)[0], PAGE_SIZE),
    blockPage(0, [
      fileEntry({ compat: "huge-memfd-v1", data: serA, token: 7n }),
      fileEntry({ compat: "huge-memfd-v1", data: serB, token: 8n }),
    ]),
  );
  // The FLB page: one hugetlb-v1 entry, its data the hugetlb_ser, count = 2 dependent files.
  const flbPage0 = mem.readBytes(flbsPa, PAGE_SIZE);
  const hugetlbSer = Number(new DataView(flbPage0.buffer).getBigUint64(16 + 48, true));
  assert.deepEqual(flbPage0, flbPage([{ name: "hugetlb-v1", data: hugetlbSer, count: 2 }]));
  // hugetlb_ser: {nr_pages 3, order 18} (hugepagesz=1G first), {0, 9} (the default 2 MiB), 2.
  assert.deepEqual(
    [...mem.readBytes(hugetlbSer, 37)],
    [...le64(3), 18, ...le64(0), 9, ...new Array(18).fill(0), 2],
  );
  // hugemfd_ser: size, pos, nr_folios, kho_vmalloc {first, total_pages 1, flags, order 0}, 18.
  for (const [ser, f] of [[serA, a], [serB, b]] as const) {
    const bytes = mem.readBytes(ser, 41);
    const first = Number(new DataView(bytes.buffer).getBigUint64(24, true));
    const flags = bytes[36] | (bytes[37] << 8);
    assert.deepEqual([...bytes], [
      ...le64(f.size),
      ...le64(f.pos),
      ...le64(f.folios().length),
      ...le64(first),
      1,
      0,
      0,
      0,
      flags & 0xff,
      flags >> 8,
      0,
      0,
      18,
    ]);
    // The records page (the chunk's phys[0]): {pfn | reserved 0 << 52, index} per folio.
    const recordsPa = mem.readU64(first + 8);
    const want = f.folios().flatMap((x) => [...le64(x.pfn), ...le64(x.index)]);
    assert.deepEqual([...mem.readBytes(recordsPa, want.length)], want);
    assert.ok(f.frozen, "hugetlb_i_freeze");
    // Each 1 GiB folio is one order-18 key of the radix tree: preserved, nothing else.
    for (const x of f.folios()) assert.ok(holds(k, x.pfn, 18));
  }
});

Deno.test("retrieve re-applies HVO, and the struct pages it writes equal the hand computation (16 MiB → 4 KiB, 2 × 2^18 per folio)", () => {
  const n = 3;
  const k1 = boot({ pages: n });
  const f = guest(k1, "vm", n, 9);
  const hash = f.hash64();
  k1.liveupdate.open().createSession("vm").preserveFd(f, 1);
  const k2 = k1.kexec();
  const v = k2.memmap.vmemmap;
  // At boot the successor maps the struct pages of all RAM: 8 GiB → 128 MiB, the preserved
  // folios' 3 × 16 MiB included; its pool is empty (3 − 3), so nothing was optimized yet.
  assert.equal(v.populatedBytes, 8 * GiB / PAGE_SIZE * 64);
  assert.equal(v.hvoFreedBytes, 0);
  const session = k2.liveupdate.open().retrieveSession("vm");
  const before = { restore: v.writes("restore"), compound: v.writes("compound") };
  const free0 = k2.buddy.nrFreePages();
  const back = session.retrieveFd(1) as MemfdFile;
  assert.equal(back.hash64(), hash);
  // kho_init_folio: head + 262,143 tails per folio; prep_compound_page: the same again. The
  // retrieve also restores the hugemfd_ser page and the records' vmalloc area (one chunk page,
  // one data page): 3 order-0 blocks.
  assert.equal(v.writes("restore") - before.restore, n * 2 ** 18 + 3);
  assert.equal(v.writes("compound") - before.compound, n * 2 ** 18);
  assert.equal(n * 2 ** 18, n * (2 * 262_143 + 2) / 2, "2 × 262,143 tails + 2 head writes each");
  // HVO re-applied: each folio keeps one 4 KiB vmemmap page of its 16 MiB; 4095 pages freed.
  assert.equal(v.hvoFolios, n);
  assert.equal(v.hvoFreedBytes, n * (16 * MIB - 4096));
  assert.equal(v.mappedBytes, v.populatedBytes - n * (16 * MIB - 4096));
  // The 4095 pages of each folio go to the buddy allocator, with the hugemfd_ser page and the
  // record area's two pages (kho_restore_free, vfree).
  assert.equal(k2.buddy.nrFreePages() - free0, n * 4095 + 3);
});

Deno.test("HVO off (the Kconfig default): the folios keep their 16 MiB of struct pages", () => {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    profile: RFC,
    cmdline: "liveupdate=on kho_scratch=64M,256M,256M hugepagesz=1G hugepages=2",
    modules: [HUGETLB_LUO_MODULE],
  });
  assert.equal(k1.hugetlb.hvo, false);
  k1.liveupdate.open().createSession("vm").preserveFd(guest(k1, "vm", 2, 1), 1);
  const k2 = k1.kexec();
  k2.liveupdate.open().retrieveSession("vm").retrieveFd(1);
  assert.equal(k2.memmap.vmemmap.hvoFreedBytes, 0);
  assert.equal(k2.memmap.vmemmap.writes("compound"), 2 * 2 ** 18);
});

Deno.test("finish without retrieve: every folio goes back to the pool, free (prep_and_add_allocated_folios), not to the buddy allocator", () => {
  const k1 = boot({ pages: 4 });
  const f = guest(k1, "vm", 3, 5);
  k1.liveupdate.open().createSession("vm").preserveFd(f, 1);
  const k2 = k1.kexec();
  const h = k2.hugetlb.hstate(18)!;
  assert.deepEqual([h.nrHugePages, h.freeHugePages], [1, 1]);
  assert.equal(k2.memmap.vmemmap.hvoFolios, 1, "the page the boot allocated");
  const buddyFree = k2.buddy.nrFreePages();
  k2.liveupdate.open().retrieveSession("vm").finish();
  assert.deepEqual([h.nrHugePages, h.freeHugePages], [4, 4]);
  assert.equal(k2.memmap.vmemmap.hvoFolios, 4, "HVO'd as they join the pool");
  // Only the metadata pages (and the freed vmemmap) reach the buddy allocator.
  assert.ok(k2.buddy.nrFreePages() - buddyFree < 3 * 4096 + 16);
});

Deno.test("closing the session before the update unpreserves everything: counts back to 0, the FLB freed, the inode unfrozen", () => {
  const k = boot({ pages: 3 });
  const before = [...preserved(k)].sort();
  const dev = k.liveupdate.open();
  const s = dev.createSession("vm");
  const f = guest(k, "vm", 2, 1);
  s.preserveFd(f, 1);
  assert.ok(f.folios().every((x) => holds(k, x.pfn, 18)));
  s.close();
  assert.deepEqual([...preserved(k)].sort(), before);
  assert.equal(f.frozen, false);
  assert.equal(f.folios().every((x) => x.pins === 0), true);
  // Preserving again starts from a fresh FLB with zero counts.
  const s2 = dev.createSession("vm2");
  s2.preserveFd(f, 1);
  assert.ok(holds(k, f.folios()[0].pfn, 18));
});

Deno.test("a release has no hugetlb handler: the module does nothing and PRESERVE_FD gives ENOENT", () => {
  const k = boot({ profile: "kho-v4", pages: 1 });
  assert.equal(hugeMemfdLuoHandler(k), null);
  const f = guest(k, "vm", 1, 1);
  assert.throws(() => k.liveupdate.open().createSession("vm").preserveFd(f, 1), code("ENOENT"));
  assert.equal(hugeMemfdLuoHandler(boot({ pages: 1 }))?.compatible, "huge-memfd-v1");
});

Deno.test("the RFC's quirk: kho_alloc_preserve's ERR_PTR passes the !ptr test and is written through (hugetlb-alloc-preserve-err-ptr)", () => {
  // kho_alloc_preserve calls of the first PRESERVE_FD: the session's file block, the FLB's
  // hugetlb_ser, the file's hugemfd_ser.
  for (const [nth, fn] of [[2, "hugetlb_flb_preserve"], [3, "hugemfd_preserve"]] as const) {
    const k = boot({ pages: 1 });
    const s = k.liveupdate.open().createSession("vm");
    const f = guest(k, "vm", 1, 1);
    k.faults.arm({ nth, sites: ["kho_alloc_preserve"] });
    assert.throws(
      () => s.preserveFd(f, 1),
      (e: unknown) =>
        e instanceof KernelOops && e.fn === fn && /0xfffffffffffffff4/.test(e.message),
    );
    assert.match(k.log.text(), /BUG: unable to handle page fault for address: 0xfffffffffffffff4/);
  }
  // The same failure with the check the kernel needs (IS_ERR): ENOMEM, everything undone.
  const fixed = {
    ...getProfile(RFC),
    bugs: getProfile(RFC).bugs.filter((b) => b !== "hugetlb-alloc-preserve-err-ptr"),
  };
  const k = boot({ profile: fixed, pages: 1 });
  const s = k.liveupdate.open().createSession("vm");
  const f = guest(k, "vm", 1, 1);
  const before = [...preserved(k)].sort();
  k.faults.arm({ nth: 3, sites: ["kho_alloc_preserve"] });
  assert.throws(() => s.preserveFd(f, 1), code("ENOMEM"));
  assert.deepEqual([...preserved(k)].sort(), before);
  assert.equal(f.frozen, false);
});

Deno.test("retrieve errors leak on purpose: folios restored before the error stay out of every file and of the free pool; finish cannot restore them again", () => {
  // A charge failure before any folio is restored: finish returns them all to the pool.
  {
    const k1 = boot({ pages: 2 });
    k1.liveupdate.open().createSession("vm").preserveFd(guest(k1, "vm", 2, 1), 1);
    const k2 = k1.kexec();
    const s = k2.liveupdate.open().retrieveSession("vm");
    k2.faults.arm({ nth: 1, sites: [HUGEMFD_RSRV_SITE] });
    assert.throws(() => s.retrieveFd(1), code("ENOMEM"));
    s.finish();
    const h = k2.hugetlb.hstate(18)!;
    assert.deepEqual([h.nrHugePages, h.freeHugePages], [2, 2]);
  }
  // A memcg charge failure after the folios joined the pool: they stay there, in use, in no
  // file (leaked on purpose: "might be in use for DMA"); finish finds them already restored.
  {
    const k1 = boot({ pages: 2 });
    k1.liveupdate.open().createSession("vm").preserveFd(guest(k1, "vm", 2, 1), 1);
    const k2 = k1.kexec();
    const s = k2.liveupdate.open().retrieveSession("vm");
    k2.faults.arm({ nth: 1, sites: [HUGEMFD_MEMCG_SITE] });
    assert.throws(() => s.retrieveFd(1), code("ENOMEM"));
    s.finish();
    const h = k2.hugetlb.hstate(18)!;
    assert.deepEqual([h.nrHugePages, h.freeHugePages], [2, 0], "2 in use, owned by nobody");
    assert.ok(k2.log.warnings("kho_restore_page").length > 0, "the second restore WARNs");
  }
});

Deno.test("hugetlb CMA is disabled under live update on the RFC, reserved on a release", () => {
  const rfc = boot({ pages: 0, extra: "hugetlb_cma=2G" });
  assert.equal(rfc.hugetlb.cmaAreas.length, 0);
  assert.match(rfc.log.text(), /hugetlb_cma disabled: live update is enabled/);
  const v4 = boot({ profile: "kho-v4", pages: 0, extra: "hugetlb_cma=2G" });
  assert.deepEqual(v4.hugetlb.cmaAreas.map((a) => a.size), [2 * GiB]);
  assert.match(v4.log.text(), /hugetlb_cma: reserved 2048 MiB on node 0/);
  // Without liveupdate=on the RFC reserves it too.
  const off = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    profile: RFC,
    cmdline: "kho_scratch=64M,256M,256M hugetlb_cma=1G",
  });
  assert.equal(off.hugetlb.cmaAreas.length, 1);
});

Deno.test("the struct-page restore is a hook: a module given another HugetlbVmemmapRestore uses it for retrieve and finish", () => {
  const calls: string[] = [];
  const design: HugetlbVmemmapRestore = {
    name: "counting",
    restoreFolio: (
      k,
      phys,
    ) => (calls.push(`restore ${phys / GiB}G`), REBUILD_AND_REOPTIMIZE.restoreFolio(k, phys)),
    addFolios: (
      k,
      pfns,
      order,
      inUse,
    ) => (calls.push(`add ${pfns.length} ${inUse}`),
      REBUILD_AND_REOPTIMIZE.addFolios(k, pfns, order, inUse)),
  };
  const module = hugetlbLuoModule({ vmemmapRestore: design });
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    profile: RFC,
    cmdline: "liveupdate=on kho_scratch=64M,256M,256M hugepagesz=1G hugepages=3",
    modules: [module],
  });
  const dev = k1.liveupdate.open();
  const a = guest(k1, "a", 1, 1), b = guest(k1, "b", 1, 2);
  dev.createSession("a").preserveFd(a, 1);
  dev.createSession("b").preserveFd(b, 1);
  const where = [a, b].map((f) => `restore ${f.folios()[0].pfn * PAGE_SIZE / GiB}G`);
  const k2 = k1.kexec();
  assert.equal(hugeMemfdLuoHandler(k2)!.vmemmapRestore, design, "the module passed it on");
  const d2 = k2.liveupdate.open();
  d2.retrieveSession("a").retrieveFd(1);
  d2.retrieveSession("b").finish();
  assert.deepEqual(calls, [where[0], "add 1 true", where[1], "add 1 false"]);
});

Deno.test("a design registered for a profile is every kernel's of that profile: its preserve side runs after the folios are preserved, its unpreserve side when they are given up", () => {
  const calls: string[] = [];
  const design: HugetlbVmemmapRestore = {
    ...REBUILD_AND_REOPTIMIZE,
    name: "recording",
    preserveFolios: (k, pfns, order) => {
      calls.push(`preserve ${pfns.length}×${order} ${pfns.every((p) => holds(k, p, order))}`);
    },
    unpreserveFolios: (k, pfns, order) => {
      calls.push(`unpreserve ${pfns.length}×${order} ${pfns.every((p) => holds(k, p, order))}`);
    },
  };
  registerHugetlbVmemmap("hugetlb-recording", design);
  try {
    // The registry is by profile name: a profile of that name, derived from the RFC.
    const profile = { ...getProfile(RFC), name: "hugetlb-recording" };
    const k1 = boot({ profile });
    assert.equal(hugeMemfdLuoHandler(k1)!.vmemmapRestore, design);
    const s = k1.liveupdate.open().createSession("a");
    s.preserveFd(guest(k1, "a", 2, 1), 1);
    s.close();
    assert.deepEqual(calls, ["preserve 2×18 true", "unpreserve 2×18 true"]);
    // An explicit vmemmapRestore wins over the registry.
    const k = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
      profile,
      cmdline: "liveupdate=on kho_scratch=64M,256M,256M",
      modules: [hugetlbLuoModule({ vmemmapRestore: REBUILD_AND_REOPTIMIZE })],
    });
    assert.equal(hugeMemfdLuoHandler(k)!.vmemmapRestore, REBUILD_AND_REOPTIMIZE);
  } finally {
    registerHugetlbVmemmap("hugetlb-recording", null);
  }
  assert.equal(hugetlbVmemmapDesign("hugetlb-recording"), null);
});
