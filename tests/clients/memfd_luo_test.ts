/**
 * memfd through LUO (lib/clients/memfd_luo.ts, `mm/memfd_luo.c`): content across kexec on
 * every generation with LUO, the bytes handed over against models written from
 * luo-hugetlb-facts §3.1, hugetlb refused, each generation's named bugs (luo-hugetlb-facts
 * §3.3, §3.4, §6.4),
 * rollback of PRESERVE_FD on every injected allocation failure, and the LUO selftest's scale
 * (kho-facts §16.4).
 */

import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel, type KernelOptions } from "../../lib/boot/kernel.ts";
import {
  decodeFolioSer,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_WRITE,
  MEMFD_LUO_FOLIO_SER_SIZE,
  readMemfdLuoSer,
} from "../../lib/kho/abi/memfd.ts";
import {
  type AbiProfile,
  getProfile,
  type KhoBug,
  PROFILE_NAMES,
  type ProfileName,
} from "../../lib/kho/profiles.ts";
import { KHO_VMALLOC_ALLOC, KhoVmalloc } from "../../lib/kho/abi/kexec_handover.ts";
import type { LuoSessionFd } from "../../lib/luo/device.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import { memfdCreate, type MemfdFile } from "../../lib/clients/memfd.ts";
import { MEMFD_LUO_MODULE, memfdLuoHandler } from "../../lib/clients/memfd_luo.ts";

const code = (c: string) => (e: unknown) => e instanceof KhoError && e.code === c;
const text = (s: string) => new TextEncoder().encode(s);
const LUO_PROFILES = PROFILE_NAMES.filter((p) => getProfile(p).luo !== null);

function boot(profile: ProfileName | AbiProfile = "kho-v4", extra: KernelOptions = {}): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), {
    profile,
    cmdline: "liveupdate=on",
    modules: [MEMFD_LUO_MODULE],
    ...extra,
  });
}

/** The profile with some bugs fixed (a labelled fix variant, for the contrast). */
function without(name: ProfileName, ...fixed: KhoBug[]): AbiProfile {
  const p = getProfile(name);
  return { ...p, bugs: p.bugs.filter((b) => !fixed.includes(b)) };
}

/** The preserved blocks of a kernel, as `phys/order` strings. */
function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out.sort();
}

/** Where a file's records are: the `memfd_luo_ser` and the first record page (one chunk). */
function handedOver(k: Kernel, s: LuoSessionFd, token: number) {
  const info = s.files().find((f) => f.token === BigInt(token))!;
  const compat = k.profile.luo!.memfd;
  const ser = readMemfdLuoSer(k.machine.mem, info.serializedData, compat);
  const recordsPa = k.machine.mem.readU64(ser.folios.first + 8); // chunk->phys[0]
  return { serPa: info.serializedData, ser, recordsPa };
}

Deno.test("memfd restores content, size, position and folio order for 4 KiB and 2 MiB folios on every profile with LUO", () => {
  assert.deepEqual(LUO_PROFILES, [
    "kho-v1-6.19",
    "kho-v2",
    "kho-v3",
    "kho-v4",
    "kho-v4+fixes",
    "rfc-2026-page-type",
    "rfc-2026-page-type-fixed",
    "rfc-2025-12-hugetlb",
    "rfc-2026-ext-scratch",
    "rfc-2026-guest-memfd",
    "rfc-2026-guest-memfd-hugetlb-assumed",
  ]);
  for (const profile of LUO_PROFILES) {
    const k1 = boot(profile);
    const small = memfdCreate(k1, "small");
    small.fill(0, 300 * PAGE_SIZE + 17, { pattern: 11 });
    small.write(5, text("hello"));
    small.pos = 1234;
    const huge = memfdCreate(k1, "thp", { folioOrder: 9 });
    huge.fill(0, 6 * MiB, { pattern: 12 });
    const s = k1.liveupdate.open().createSession("vm");
    s.preserveFd(small, 1);
    s.preserveFd(huge, 2);
    const want = [small, huge].map((f) => ({
      hash: f.hash64(),
      bytes: f.read(0, f.size),
      size: f.size,
      orders: f.folios().map((x) => x.order),
    }));
    assert.deepEqual(s.files().map((f) => f.compatible), [
      getProfile(profile).luo!.memfd,
      getProfile(profile).luo!.memfd,
    ]);
    const k2 = k1.kexec();
    const r = k2.liveupdate.open().retrieveSession("vm");
    const back = [r.retrieveFd(1) as MemfdFile, r.retrieveFd(2) as MemfdFile];
    back.forEach((f, i) => {
      assert.equal(f.kernel, k2, profile);
      assert.equal(f.hash64(), want[i].hash, `${profile} file ${i}`);
      assert.deepEqual(f.read(0, f.size), want[i].bytes, `${profile} file ${i}`);
      assert.equal(f.size, want[i].size);
      assert.deepEqual(f.folios().map((x) => x.order), want[i].orders);
    });
    assert.equal(back[0].pos, 1234);
    assert.deepEqual(new Set(want[1].orders), new Set([9]), "2 MiB folios stay 2 MiB");
    r.finish();
    assert.deepEqual(k2.log.text().match(/WARN.*/g) ?? [], [], profile);
  }
});

Deno.test("profiles without LUO have no memfd handler; LUO off: the module loads, nothing registers", () => {
  for (const profile of ["kho-v1-6.16", "kho-v1-6.18", "rfc-v1-order-table"] as const) {
    const k = boot(profile);
    assert.deepEqual(k.modules, ["memfd_luo_init"]);
    assert.equal(memfdLuoHandler(k), null);
    assert.throws(() => k.liveupdate.open(), code("ENOENT"));
  }
  const off = boot("kho-v4", { cmdline: "" });
  assert.deepEqual(off.modules, ["memfd_luo_init"], "-EOPNOTSUPP is not an error");
  assert.equal(memfdLuoHandler(off), null);
  // Without the module nothing accepts a memfd: PRESERVE_FD finds no handler.
  const bare = boot("kho-v4", { modules: [] });
  assert.throws(
    () => bare.liveupdate.open().createSession("s").preserveFd(memfdCreate(bare, "m"), 1),
    code("ENOENT"),
  );
});

Deno.test("on a release a hugetlb memfd finds no handler: PRESERVE_FD fails with ENOENT and nothing is preserved", () => {
  const k = boot("kho-v4", {
    // Explicit scratch: the 1 GiB page is RSRV_KERN, which a 200 % scale would double.
    cmdline: "liveupdate=on kho_scratch=16M,64M,64M hugepagesz=1G hugepages=1 hugepagesz=2M " +
      "hugepages=1",
  });
  const s = k.liveupdate.open().createSession("guests");
  const before = preservedSet(k);
  for (const size of [2 * MiB, GiB]) {
    const h = memfdCreate(k, "huge", { hugetlb: size });
    h.fallocate(0, size);
    assert.throws(() => s.preserveFd(h, size), code("ENOENT"));
    assert.equal(h.frozen, false);
  }
  assert.deepEqual(preservedSet(k), before);
  assert.equal(s.files().length, 0);
  const shmem = memfdCreate(k, "shmem", { folioOrder: 9 });
  shmem.fill(0, 2 * MiB, { byte: 1 });
  s.preserveFd(shmem, 1);
  assert.equal(s.files().length, 1);
});

Deno.test("the bytes handed over: memfd_luo_ser v1/v2 and the folio records against the model; flags per generation", () => {
  for (const profile of ["kho-v1-6.19", "kho-v2", "kho-v3"] as const) {
    const k = boot(profile);
    const f = memfdCreate(k, "flags", { allowSealing: true });
    f.write(0, text("written")); // index 0: uptodate, dirty
    f.fallocate(PAGE_SIZE, PAGE_SIZE); // index 1: not uptodate, clean
    f.ftruncate(3 * PAGE_SIZE); // index 2: a hole the pin allocates (zeroed, uptodate)
    f.pos = 77;
    f.addSeals(F_SEAL_GROW);
    const s = k.liveupdate.open().createSession("abi");
    s.preserveFd(f, 5);
    const { serPa, ser, recordsPa } = handedOver(k, s, 5);
    const v1 = profile === "kho-v1-6.19" || profile === "kho-v2";
    // Model (luo-hugetlb-facts §3.1): pos, size[, seals, flags], nr_folios, kho_vmalloc.
    const u64 = (v: number) =>
      Array.from({ length: 8 }, (_, i) => Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
    const u32 = (v: number) => Array.from({ length: 4 }, (_, i) => (v >>> (8 * i)) & 0xff);
    const desc = new KhoVmalloc({
      first: ser.folios.first,
      totalPages: 1, // 3 records of 16 bytes in one vcalloc'd page
      flags: KHO_VMALLOC_ALLOC,
      order: 0,
    });
    const model = [
      ...u64(77),
      ...u64(3 * PAGE_SIZE),
      ...(v1 ? [] : [...u32(F_SEAL_GROW), ...u32(0)]),
      ...u64(3),
      ...desc.encode(),
    ];
    assert.deepEqual([...k.machine.mem.readBytes(serPa, v1 ? 40 : 48)], model, profile);
    assert.ok(k.kho.out!.isPreserved(serPa / PAGE_SIZE, 0), "the memfd_luo_ser page");
    assert.ok(k.kho.out!.isPreserved(ser.folios.first / PAGE_SIZE, 0), "the vmalloc chunk");
    assert.ok(k.kho.out!.isPreserved(recordsPa / PAGE_SIZE, 0), "the record page");
    // 6.19 records the flags as sampled: 3 written, 0 fallocated, 2 the pin's hole folio.
    // From 7.0 every folio is made uptodate and dirty first: 3 everywhere.
    const flags = profile === "kho-v1-6.19" ? [3, 0, 2] : [3, 3, 3];
    const records = k.machine.mem.readBytes(recordsPa, 3 * MEMFD_LUO_FOLIO_SER_SIZE);
    f.folios().forEach((x, i) => {
      const word0 = BigInt(x.pfn) | (BigInt(flags[i]) << 52n);
      assert.deepEqual(
        [...records.subarray(16 * i, 16 * i + 16)],
        [...u64n(word0), ...u64(i)],
        `${profile} record ${i}`,
      );
      assert.ok(k.kho.out!.isPreserved(x.pfn, 0));
      assert.equal(x.pins, 1);
    });
    assert.equal(f.frozen, true);
  }
});

function u64n(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}

Deno.test("freeze writes the file position at reboot; seals: memfd-v2 keeps them, memfd-v1 comes back with F_SEAL_SEAL only", () => {
  for (const profile of ["kho-v2", "kho-v3"] as const) {
    const k1 = boot(profile);
    const f = memfdCreate(k1, "seals", { allowSealing: true });
    f.write(0, text("sealed"));
    f.addSeals(F_SEAL_WRITE | F_SEAL_GROW);
    const s = k1.liveupdate.open().createSession("s");
    s.preserveFd(f, 1);
    f.pos = 4242; // after preserve: only freeze carries it
    const k2 = k1.kexec();
    const back = k2.liveupdate.open().retrieveSession("s").retrieveFd(1) as MemfdFile;
    assert.equal(back.pos, 4242, profile);
    assert.equal(new TextDecoder().decode(back.read(0, 6)), "sealed");
    assert.equal(back.seals, profile === "kho-v3" ? F_SEAL_WRITE | F_SEAL_GROW : F_SEAL_SEAL);
  }
});

Deno.test("memfd-v2 retrieve: unknown seal bits are EOPNOTSUPP and the memfd_luo_ser is freed", () => {
  const k1 = boot("kho-v3");
  const f = memfdCreate(k1, "x", { allowSealing: true });
  f.write(0, text("x"));
  const s = k1.liveupdate.open().createSession("s");
  s.preserveFd(f, 1);
  const { serPa } = handedOver(k1, s, 1);
  const k2 = k1.kexec();
  k2.machine.mem.writeU32(serPa + 16, 0x40); // a seal memfd-v2 does not know
  const r = k2.liveupdate.open().retrieveSession("s");
  assert.throws(() => r.retrieveFd(1), code("EOPNOTSUPP"));
  assert.ok(k2.buddy.isFree(serPa / PAGE_SIZE), "kho_restore_free(ser)");
  // The kernel says nothing (issue 18 §1): kholab's note.
  assert.match(
    k2.log.text(),
    /\(kholab\) memfd_luo: retrieve: seals 0x40 unknown to memfd-v2: -EOPNOTSUPP/,
  );
});

Deno.test("memfd retrieve (issue 18 §1): two records for one page-cache index fail the insertion with the kernel's pr_err", () => {
  const k1 = boot("kho-v4");
  const f = memfdCreate(k1, "three");
  for (let i = 0; i < 3; i++) f.fill(i * PAGE_SIZE, PAGE_SIZE, { byte: 0x41 + i });
  const s = k1.liveupdate.open().createSession("s");
  s.preserveFd(f, 1);
  const { recordsPa } = handedOver(k1, s, 1);
  const k2 = k1.kexec();
  k2.machine.mem.writeU64(recordsPa + MEMFD_LUO_FOLIO_SER_SIZE + 8, 0); // record 1: index 0
  const r = k2.liveupdate.open().retrieveSession("s");
  assert.throws(() => r.retrieveFd(1), code("EEXIST"));
  assert.match(k2.log.text(), /memfd_luo: shmem: failed to add to page cache folio index 1: -17/);
});

Deno.test("memfd-flags-sampled (6.19): a fallocated folio written after preserve is lost; fixed from 7.0", () => {
  for (const profile of ["kho-v1-6.19", "kho-v2"] as const) {
    const k1 = boot(profile);
    const f = memfdCreate(k1, "late");
    f.fallocate(0, 2 * PAGE_SIZE);
    const s = k1.liveupdate.open().createSession("s");
    s.preserveFd(f, 1);
    f.write(0, text("written after preserve")); // allowed: the size does not change
    const k2 = k1.kexec();
    const back = k2.liveupdate.open().retrieveSession("s").retrieveFd(1) as MemfdFile;
    const got = new TextDecoder().decode(back.read(0, 22));
    if (profile === "kho-v1-6.19") {
      assert.equal(got, "\0".repeat(22), "record says not uptodate: the successor reads zeros");
      assert.deepEqual(back.folios().map((x) => x.uptodate), [false, false]);
    } else assert.equal(got, "written after preserve");
  }
});

/** Three one-page folios preserved; after kexec record `bad`'s pfn points at a free page. */
function badRecord(profile: ProfileName | AbiProfile, bad: number) {
  const k1 = boot(profile);
  const f = memfdCreate(k1, "three");
  for (let i = 0; i < 3; i++) f.fill(i * PAGE_SIZE, PAGE_SIZE, { byte: 0x41 + i });
  const s = k1.liveupdate.open().createSession("s");
  s.preserveFd(f, 1);
  const pfns = f.folios().map((x) => x.pfn);
  const { serPa, recordsPa } = handedOver(k1, s, 1);
  const stray = k1.buddy.allocPage()!; // never preserved
  const k2 = k1.kexec();
  const at = recordsPa + bad * MEMFD_LUO_FOLIO_SER_SIZE;
  const r0 = decodeFolioSer(k2.machine.mem.readBytes(at, 16));
  k2.machine.mem.writeU32(at, stray); // pfn:52, low word (flags untouched)
  const r = k2.liveupdate.open().retrieveSession("s");
  return { k2, r, pfns, serPa, r0 };
}

Deno.test("memfd-retrieve-lost-errno: a later folio that does not restore leaves a hole and success; the first one gives EIO; linux-mm's fix gives EIO", () => {
  // kho-v4: folio 1 fails after folio 0 succeeded -> err was overwritten with 0.
  const { k2, r, pfns } = badRecord("kho-v4", 1);
  const f = r.retrieveFd(1) as MemfdFile;
  assert.deepEqual(f.folios().map((x) => x.index), [0], "only the folio before the failure");
  assert.equal(f.size, 3 * PAGE_SIZE);
  assert.deepEqual([...f.read(PAGE_SIZE, 2)], [0, 0], "the rest is a hole");
  assert.match(k2.log.text(), /Unable to restore folio/);
  assert.ok(k2.buddy.isFree(pfns[2]), "7.1 on: put_folios restores and puts the folios after it");
  assert.ok(!k2.buddy.isFree(pfns[1]), "the folio never restored stays reserved");
  // Failing at the first folio: err is still -EIO.
  const first = badRecord("kho-v4", 0);
  assert.throws(() => first.r.retrieveFd(1), code("EIO"));
  // With linux-mm @ fb2257f1 (err = -EIO before goto put_folios): kho-v4+fixes.
  const fixed = badRecord("kho-v4+fixes", 1);
  assert.throws(() => fixed.r.retrieveFd(1), code("EIO"));
  assert.ok(fixed.k2.buddy.isFree(fixed.pfns[0]), "fput of the new file drops folio 0");
  assert.ok(fixed.k2.buddy.isFree(fixed.pfns[2]));
});

Deno.test("memfd-put-folios-pfn-as-phys (6.19, 7.0): the cleanup restores PFN << 0, so later folios stay reserved; fixed in 7.1 by 3538f90ab89a", () => {
  for (const profile of ["kho-v1-6.19", "kho-v2", "kho-v3"] as const) {
    const { k2, r, pfns } = badRecord(profile, 1);
    const f = r.retrieveFd(1) as MemfdFile; // the lost errno: success with a hole
    assert.deepEqual(f.folios().map((x) => x.index), [0], profile);
    const buggy = profile !== "kho-v3";
    // kho_restore_folio(pfn) looks at page PFN / 4096, which KHO never preserved: the real
    // folio is never restored and stays reserved.
    assert.equal(k2.buddy.isFree(pfns[2]), !buggy, profile);
    assert.equal(k2.kho.restoreFolio(pfns[2] * PAGE_SIZE) !== null, buggy, profile);
  }
  const fixed = badRecord(without("kho-v2", "memfd-put-folios-pfn-as-phys"), 1);
  fixed.r.retrieveFd(1);
  assert.ok(fixed.k2.buddy.isFree(fixed.pfns[2]));
});

Deno.test("finish: an unretrieved file's folios, records and memfd_luo_ser go back to the allocator; a retrieved one stays", () => {
  const k1 = boot();
  const a = memfdCreate(k1, "a", { folioOrder: 9 });
  a.fill(0, 4 * MiB, { pattern: 1 });
  const b = memfdCreate(k1, "b");
  b.fill(0, 5 * PAGE_SIZE, { pattern: 2 });
  const s = k1.liveupdate.open().createSession("s");
  s.preserveFd(a, 1);
  s.preserveFd(b, 2);
  const aPfns = a.folios().map((x) => x.pfn);
  const bPfns = b.folios().map((x) => x.pfn);
  const hb = handedOver(k1, s, 2);
  const k2 = k1.kexec();
  const r = k2.liveupdate.open().retrieveSession("s");
  const got = r.retrieveFd(1) as MemfdFile;
  r.finish();
  assert.ok(bPfns.every((p) => k2.buddy.isFree(p)), "b's folios dropped");
  assert.ok(k2.buddy.isFree(hb.serPa / PAGE_SIZE) && k2.buddy.isFree(hb.recordsPa / PAGE_SIZE));
  assert.ok(aPfns.every((p) => !k2.buddy.isFree(p)), "a belongs to its new owner");
  got.close();
  assert.ok(aPfns.every((p) => k2.buddy.isFree(p)));
  assert.deepEqual(k2.log.text().match(/WARN.*/g) ?? [], []);
});

Deno.test("after a failed retrieve (6.19–7.2: retrieved stays false) a retry and finish read the freed memfd_luo_ser; with retrieve_status finish does nothing", () => {
  const { k2, r } = badRecord("kho-v4", 0);
  assert.throws(() => r.retrieveFd(1), code("EIO"));
  const warns = () => (k2.log.text().match(/WARN/g) ?? []).length;
  const w0 = warns();
  // The retry calls retrieve again on the page retrieve freed: its vmalloc chunk was already
  // restored, so kho_restore_vmalloc fails.
  assert.throws(() => r.retrieveFd(1), code("EINVAL"));
  r.finish(); // memfd_luo_finish on the freed memfd_luo_ser: restores fail and WARN
  assert.ok(warns() > w0, "the use after free shows as KHO restore WARNs");
  const v4 = getProfile("kho-v4");
  const fixed = badRecord({ ...v4, luo: { ...v4.luo!, retrieveStatus: true } }, 0);
  assert.throws(() => fixed.r.retrieveFd(1), code("EIO"));
  assert.throws(() => fixed.r.retrieveFd(1), code("EIO"), "the cached error");
  const before = fixed.k2.log.text();
  fixed.r.finish();
  assert.equal(fixed.k2.log.text(), before, "finish: retrieve already cleaned up");
});

Deno.test("memfd-acct-one-block: the retrieve charges one page per folio; linux-mm charges folio_nr_pages", () => {
  for (const p of [getProfile("kho-v4"), getProfile("kho-v4+fixes")]) {
    const k1 = boot(p);
    const f = memfdCreate(k1, "acct", { folioOrder: 9 });
    f.fill(0, 6 * MiB, { byte: 3 });
    assert.equal(f.allocedPages, 3 * 512);
    k1.liveupdate.open().createSession("s").preserveFd(f, 1);
    const k2 = k1.kexec();
    const back = k2.liveupdate.open().retrieveSession("s").retrieveFd(1) as MemfdFile;
    assert.equal(back.allocedPages, p.bugs.includes("memfd-acct-one-block") ? 3 : 3 * 512);
  }
});

Deno.test("closing the session unpreserves everything; a preserved memfd outlives its fd", () => {
  const k = boot();
  const free0 = k.buddy.nrFreePages();
  const f = memfdCreate(k, "f", { folioOrder: 9 });
  f.fill(0, 4 * MiB, { pattern: 4 });
  const before = preservedSet(k);
  const s = k.liveupdate.open().createSession("s");
  s.preserveFd(f, 1);
  const { serPa } = handedOver(k, s, 1);
  f.close(); // the user's fd; LUO keeps the file
  assert.equal(f.released, false);
  s.close();
  assert.deepEqual(preservedSet(k), before);
  assert.ok(f.released, "the last reference was LUO's");
  assert.ok(k.buddy.isFree(serPa / PAGE_SIZE));
  const metadata = k.kho.out!.tracker.metadataPages();
  assert.ok(k.buddy.nrFreePages() >= free0 - metadata);
});

Deno.test("PRESERVE_FD rolls back on every injected allocation failure: nothing preserved, file unfrozen and unpinned", () => {
  for (const profile of ["kho-v1-6.19", "kho-v3", "kho-v4"] as const) {
    const k = boot(profile);
    const f = memfdCreate(k, "rb", { folioOrder: 9 });
    f.fill(0, 4 * MiB + 3 * PAGE_SIZE, { pattern: 8 }); // two 2 MiB folios and three 4 KiB
    const s = k.liveupdate.open().createSession("s");
    const snapshot = () => ({
      preserved: preservedSet(k),
      free: k.buddy.nrFreePages() + k.kho.out!.tracker.metadataPages(),
      vmalloc: k.vmalloc.areas().length,
      frozen: f.frozen,
      pins: f.folios().map((x) => x.pins),
      files: s.files().length,
      hash: f.hash64(),
    });
    const before = snapshot();
    let failures = 0;
    for (let nth = 1;; nth++) {
      k.faults.arm({ nth });
      try {
        s.preserveFd(f, 1);
      } catch (e) {
        assert.ok(e instanceof KhoError && e.code === "ENOMEM", `${profile} nth=${nth}: ${e}`);
        k.faults.disarm();
        assert.deepEqual(snapshot(), before, `${profile} nth=${nth}`);
        failures++;
        continue;
      }
      k.faults.disarm();
      break;
    }
    assert.ok(failures >= 5, `${profile}: ${failures} allocation points`);
    assert.equal(s.files().length, 1);
  }
});

Deno.test("the LUO selftest's scale on 7.2: 2000 sessions and 500 one-page memfds with file-data-%d, across kexec", () => {
  const k1 = boot("kho-v4");
  const dev = k1.liveupdate.open();
  for (let i = 0; i < 2000; i++) dev.createSession(`many-test-${i}`);
  const s = dev.createSession("stress-files");
  for (let i = 0; i < 500; i++) {
    const f = memfdCreate(k1, `file-${i}`);
    f.write(0, text(`file-data-${i}`));
    f.ftruncate(PAGE_SIZE);
    s.preserveFd(f, i);
  }
  const k2 = k1.kexec();
  const dev2 = k2.liveupdate.open();
  for (let i = 0; i < 2000; i++) dev2.retrieveSession(`many-test-${i}`).finish();
  const r = dev2.retrieveSession("stress-files");
  for (let i = 0; i < 500; i++) {
    const f = r.retrieveFd(i) as MemfdFile;
    const page = f.read(0, PAGE_SIZE);
    const nul = page.indexOf(0);
    assert.equal(new TextDecoder().decode(page.subarray(0, nul)), `file-data-${i}`); // strcmp
  }
  r.finish();
  assert.deepEqual(k2.log.text().match(/WARN.*/g) ?? [], []);
});

Deno.test("6.19–7.1: a session holds 128 memfds; the 129th PRESERVE_FD is ENOSPC", () => {
  const k1 = boot("kho-v3");
  const s = k1.liveupdate.open().createSession("files");
  const mk = (i: number) => {
    const f = memfdCreate(k1, `f${i}`);
    f.write(0, text(`file-data-${i}`));
    return f;
  };
  for (let i = 0; i < 128; i++) s.preserveFd(mk(i), i);
  const extra = mk(128);
  assert.throws(() => s.preserveFd(extra, 128), code("ENOSPC"));
  assert.equal(extra.frozen, false);
  const k2 = k1.kexec();
  const r = k2.liveupdate.open().retrieveSession("files");
  const f = r.retrieveFd(127) as MemfdFile;
  assert.equal(new TextDecoder().decode(f.read(0, 13)), "file-data-127");
});
