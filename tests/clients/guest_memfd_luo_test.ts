/**
 * guest_memfd through LUO (lib/clients/guest_memfd_luo.ts, lib/clients/kvm_luo.ts; the proposal
 * of luo-hugetlb-facts §4.4): content across kexec, the bytes handed over against models written
 * from the facts (the 48-byte `guest_memfd_luo_ser`, its 16-byte folio records, `kvm_luo_ser` and
 * both `luo_file_ser` entries), the `vm_token` binding and its errors, retrieve and finish
 * semantics, rollback of PRESERVE_FD on every injected allocation failure, which folio sizes are
 * preserved (order 0; HugeTLB-backed only under the labelled assumption), and the profiles without
 * the proposal.
 */

import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel, type KernelOptions } from "../../lib/boot/kernel.ts";
import { KHO_VMALLOC_ALLOC } from "../../lib/kho/abi/kexec_handover.ts";
import { LUO_FILE_SER_LAYOUT } from "../../lib/kho/abi/luo.ts";
import { getProfile, type ProfileName } from "../../lib/kho/profiles.ts";
import type { LuoSessionFd } from "../../lib/luo/device.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import { KVM_X86_SW_PROTECTED_VM, kvmCreateVm, KvmVm } from "../../lib/clients/kvm.ts";
import {
  GUEST_MEMFD_FLAG_INIT_SHARED,
  GUEST_MEMFD_FLAG_MMAP,
  type GuestMemfdFile,
  kvmCreateGuestMemfd,
} from "../../lib/clients/guest_memfd.ts";
import {
  GUEST_MEMFD_LUO_FOLIOS_SITE,
  guestMemfdLuoHandler,
  KVM_LUO_MODULE,
} from "../../lib/clients/guest_memfd_luo.ts";

const code = (c: string) => (e: unknown) => e instanceof KhoError && e.code === c;
const text = (s: string) => new TextEncoder().encode(s);
const GMEM: ProfileName = "rfc-2026-guest-memfd";
const ASSUMED: ProfileName = "rfc-2026-guest-memfd-hugetlb-assumed";

function boot(profile: ProfileName = GMEM, extra: KernelOptions = {}, ramBytes = 4 * GiB): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes, nodes: 1 }), {
    profile,
    cmdline: "liveupdate=on",
    modules: [KVM_LUO_MODULE],
    ...extra,
  });
}

/** u64 little endian from a BigInt (the models' only integer type). */
function le64(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}

/** The preserved blocks of a kernel, as `phys/order` strings. */
function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out.sort();
}

/** A VM and a guest_memfd of 64 pages: page 0 written, pages 1..2 fallocated, page 5 filled. */
function guest(k: Kernel) {
  const vm = kvmCreateVm(k, { type: 0 });
  const gmem = kvmCreateGuestMemfd(vm, { size: 64 * PAGE_SIZE });
  gmem.write(0, text("guest page zero"));
  gmem.fallocate(PAGE_SIZE, 2 * PAGE_SIZE);
  gmem.fill(5 * PAGE_SIZE, PAGE_SIZE, { pattern: 9 });
  return { vm, gmem };
}

function incoming(k: Kernel, name = "vm0"): LuoSessionFd {
  return k.liveupdate.open().retrieveSession(name);
}

Deno.test("a VM and its order-0 guest_memfd cross kexec in one session: content, size, flags, orders, VM type", () => {
  const k1 = boot();
  const vm = kvmCreateVm(k1, { type: 0 });
  const gmem = kvmCreateGuestMemfd(vm, { size: 2 * MiB });
  gmem.fill(0, 2 * MiB, { pattern: 21 });
  gmem.write(4097, text("hello"));
  const want = { hash: gmem.hash64(), bytes: gmem.read(0, 2 * MiB) };
  const s = k1.liveupdate.open().createSession("vm0");
  s.preserveFd(vm, 10);
  s.preserveFd(gmem, 11);
  assert.deepEqual(s.files().map((f) => f.compatible), ["kvm_vm_luo_v1", "guest_memfd_luo_v1"]);
  assert.equal(gmem.frozen, true);
  const k2 = k1.kexec();
  const r = incoming(k2);
  // Retrieving the guest_memfd first retrieves its VM through vm_token.
  const back = r.retrieveFd(11) as GuestMemfdFile;
  const backVm = r.retrieveFd(10) as KvmVm;
  assert.ok(backVm instanceof KvmVm && back.vm === backVm);
  assert.equal(backVm.type, 0n);
  assert.equal(backVm.fdName, "1");
  assert.equal(back.kernel, k2);
  assert.equal(back.size, 2 * MiB);
  assert.equal(back.flags, GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
  assert.equal(back.hash64(), want.hash);
  assert.deepEqual(back.read(0, 2 * MiB), want.bytes);
  assert.deepEqual(new Set(back.folios().map((f) => f.order)), new Set([0]));
  assert.equal(back.folios().length, 512);
  assert.equal(back.frozen, false);
  r.finish();
  assert.deepEqual(k2.log.text().match(/WARN.*/g) ?? [], []);
});

Deno.test("the bytes handed over: guest_memfd_luo_ser, folio records, kvm_luo_ser and both luo_file_ser entries against the model", () => {
  const k1 = boot();
  const { vm, gmem } = guest(k1);
  const s = k1.liveupdate.open().createSession("vm0");
  s.preserveFd(vm, 0x1234_5678_9abc_def0n);
  s.preserveFd(gmem, 7);
  const pfns = gmem.folios().map((f) => f.pfn);
  assert.deepEqual(gmem.folios().map((f) => [f.index, f.uptodate]), [
    [0, true],
    [1, false],
    [2, false],
    [5, true],
  ]);
  const k2 = k1.kexec(); // freeze writes vm_token at reboot
  const mem = k2.machine.mem;
  const r = incoming(k2);
  const files = r.files();
  const gmemPa = files.find((f) => f.token === 7n)!.serializedData;
  const vmPa = files.find((f) => f.token === 0x1234_5678_9abc_def0n)!.serializedData;
  // kvm_luo_ser: u64 type.
  assert.deepEqual([...mem.readBytes(vmPa, 8)], le64(0n));
  // guest_memfd_luo_ser: size, flags (MMAP | INIT_SHARED), nr_folios, vm_token, kho_vmalloc.
  const first = mem.readU64(gmemPa + 32);
  const model = [
    ...le64(BigInt(64 * PAGE_SIZE)),
    ...le64(3n),
    ...le64(4n),
    ...le64(0x1234_5678_9abc_def0n),
    ...le64(BigInt(first)),
    ...[1, 0, 0, 0], // total_pages: 4 records of 16 bytes in one vcalloc'd page
    KHO_VMALLOC_ALLOC,
    0,
    0,
    0,
  ];
  assert.deepEqual([...mem.readBytes(gmemPa, 48)], model);
  // The records, in the one data page of the vmalloc chunk: UPTODATE (bit 52) as sampled.
  const recordsPa = mem.readU64(first + 8);
  const records = mem.readBytes(recordsPa, 4 * 16);
  [0, 1, 2, 5].forEach((index, i) => {
    const flags = index === 0 || index === 5 ? 1n : 0n;
    assert.deepEqual(
      [...records.subarray(16 * i, 16 * i + 16)],
      [...le64(BigInt(pfns[i]) | (flags << 52n)), ...le64(BigInt(index))],
      `record ${i}`,
    );
  });
  // The session's file block: two 64-byte luo_file_ser after the 16-byte kho_block header.
  const head = r.session.files.blockSet!.headPa;
  const entry = (i: number, compat: string, data: number, token: bigint) => {
    const field = new Uint8Array(48);
    field.set(text(compat));
    assert.deepEqual(
      [...mem.readBytes(head + 16 + i * LUO_FILE_SER_LAYOUT.size, 64)],
      [...field, ...le64(BigInt(data)), ...le64(token)],
      compat,
    );
  };
  entry(0, "kvm_vm_luo_v1", vmPa, 0x1234_5678_9abc_def0n);
  entry(1, "guest_memfd_luo_v1", gmemPa, 7n);
  // The successor reads the records' UPTODATE back: fallocated pages read as zeros.
  const back = r.retrieveFd(7) as GuestMemfdFile;
  assert.deepEqual(back.folios().map((f) => [f.index, f.uptodate]), [
    [0, true],
    [1, false],
    [2, false],
    [5, true],
  ]);
  assert.equal(new TextDecoder().decode(back.read(0, 15)), "guest page zero");
  assert.deepEqual(back.read(PAGE_SIZE, 8), new Uint8Array(8));
});

Deno.test("vm_token binds the guest_memfd to its VM in the same session: freeze fails with ENOENT otherwise", () => {
  // The VM not preserved at all.
  const a = boot();
  const ga = guest(a);
  const sa = a.liveupdate.open().createSession("vm0");
  sa.preserveFd(ga.gmem, 1); // accepted: the binding is taken at freeze (v4 as read)
  assert.throws(() => a.kexec(), code("ENOENT"));
  assert.ok(!a.dead, "the reboot is aborted; the kernel runs on");
  // The VM preserved in another session.
  const b = boot();
  const gb = guest(b);
  const dev = b.liveupdate.open();
  dev.createSession("vms").preserveFd(gb.vm, 1);
  dev.createSession("memory").preserveFd(gb.gmem, 1);
  assert.throws(() => b.kexec(), code("ENOENT"));
  // The VM file closed by its user and not preserved: get_file_active fails.
  const c = boot();
  const gc = guest(c);
  gc.vm.close();
  c.liveupdate.open().createSession("vm0").preserveFd(gc.gmem, 1);
  assert.throws(() => c.kexec(), code("ENOENT"));
  // Preserved in the same session (in any order), even after the user closed it.
  const d = boot();
  const gd = guest(d);
  const sd = d.liveupdate.open().createSession("vm0");
  sd.preserveFd(gd.gmem, 2);
  sd.preserveFd(gd.vm, 1);
  gd.vm.close();
  const rd = incoming(d.kexec());
  const back = rd.retrieveFd(2) as GuestMemfdFile;
  assert.equal(back.vm, rd.retrieveFd(1));
});

Deno.test("retrieve errors: unknown token, a token that is not a VM, bad size, unknown flags; folios and struct freed, finish then does nothing", () => {
  type Case = { name: string; patch: (k: Kernel, pa: number) => void; err: string };
  const cases: Case[] = [
    {
      name: "unknown vm_token",
      patch: (k, pa) => k.machine.mem.writeU64(pa + 24, 99),
      err: "ENOENT",
    },
    {
      // a dependency loop: kholab fails the nested retrieve (the kernel's locking unverified)
      name: "vm_token of itself",
      patch: (k, pa) => k.machine.mem.writeU64(pa + 24, 2),
      err: "EBUSY",
    },
    {
      name: "vm_token of a guest_memfd",
      patch: (k, pa) => k.machine.mem.writeU64(pa + 24, 3),
      err: "EINVAL",
    },
    { name: "size 0", patch: (k, pa) => k.machine.mem.writeU64(pa, 0), err: "EINVAL" },
    {
      name: "size not page aligned",
      patch: (k, pa) => k.machine.mem.writeU64(pa, 4097),
      err: "EINVAL",
    },
    {
      name: "unknown flags",
      patch: (k, pa) => k.machine.mem.writeU64(pa + 8, 7),
      err: "EOPNOTSUPP",
    },
  ];
  for (const c of cases) {
    const k1 = boot();
    const { vm, gmem } = guest(k1);
    const other = kvmCreateGuestMemfd(vm, { size: PAGE_SIZE });
    const s = k1.liveupdate.open().createSession("vm0");
    s.preserveFd(vm, 1);
    s.preserveFd(gmem, 2);
    s.preserveFd(other, 3);
    const pfns = gmem.folios().map((f) => f.pfn);
    const k2 = k1.kexec();
    const r = incoming(k2);
    const pa = r.files().find((f) => f.token === 2n)!.serializedData;
    c.patch(k2, pa);
    assert.throws(() => r.retrieveFd(2), code(c.err), c.name);
    assert.throws(() => r.retrieveFd(2), code(c.err), "retrieve_status keeps the error");
    r.finish(); // retrieve_status ≠ 0: finish leaves the file alone
    assert.deepEqual(k2.log.text().match(/WARN.*/g) ?? [], [], c.name);
    if (c.name === "unknown vm_token") {
      assert.match(k2.log.text(), /gmem: provided VM FD token \(63\) on preserve is incorrect/);
    }
    // Every folio went back to the allocator, and the struct with them: nothing is left
    // reserved, so restoring again finds nothing.
    for (const pfn of pfns) assert.equal(k2.kho.restoreFolio(pfn * PAGE_SIZE), null, c.name);
    assert.equal(k2.kho.restoreFolio(pa), null, `${c.name}: the struct was freed`);
  }
});

Deno.test("retrieve: a folio that does not restore is EIO; those before it go with the file, those after are restored and put", () => {
  const k1 = boot();
  const { vm, gmem } = guest(k1);
  const s = k1.liveupdate.open().createSession("vm0");
  s.preserveFd(vm, 1);
  s.preserveFd(gmem, 2);
  const pfns = gmem.folios().map((f) => f.pfn);
  const k2 = k1.kexec();
  const r = incoming(k2);
  const pa = r.files().find((f) => f.token === 2n)!.serializedData;
  const recordsPa = k2.machine.mem.readU64(k2.machine.mem.readU64(pa + 32) + 8);
  // Record 2 names a page nobody preserved: one the successor's allocator holds free.
  const bogus = k2.buddy.folioAlloc(0)!;
  k2.buddy.folioPut(bogus);
  k2.machine.mem.writeU64(recordsPa + 2 * 16, bogus);
  const free0 = k2.buddy.nrFreePages();
  assert.throws(() => r.retrieveFd(2), code("EIO"));
  assert.match(
    k2.log.text(),
    new RegExp(`gmem: failed to restore folio at 0x${(bogus * 4096).toString(16)}`),
  );
  for (const i of [0, 1, 3]) assert.equal(k2.kho.restoreFolio(pfns[i] * PAGE_SIZE), null);
  assert.ok(
    k2.kho.restoreFolio(pfns[2] * PAGE_SIZE) !== null,
    "the unrecorded folio stays preserved",
  );
  assert.ok(k2.buddy.nrFreePages() > free0, "folios, records and struct went back");
});

Deno.test("finish without retrieve: every folio, the records and both structs go back to the allocator", () => {
  const k1 = boot();
  const { vm, gmem } = guest(k1);
  const s = k1.liveupdate.open().createSession("vm0");
  s.preserveFd(vm, 1);
  s.preserveFd(gmem, 2);
  const pfns = gmem.folios().map((f) => f.pfn);
  const k2 = k1.kexec();
  const r = incoming(k2);
  const [vmPa, gmemPa] = [1n, 2n].map((t) => r.files().find((f) => f.token === t)!.serializedData);
  r.finish();
  assert.deepEqual(k2.log.text().match(/WARN.*/g) ?? [], []);
  for (const pfn of pfns) assert.ok(k2.buddy.isFree(pfn), `folio ${pfn}`);
  for (const pa of [vmPa, gmemPa]) {
    assert.ok(k2.buddy.isFree(pa / PAGE_SIZE));
    assert.equal(k2.kho.restoreFolio(pa), null);
  }
});

Deno.test("PRESERVE_FD of a guest_memfd rolls back on every injected allocation failure: nothing preserved, file unfrozen", () => {
  const k = boot();
  const { vm, gmem } = guest(k);
  const s = k.liveupdate.open().createSession("s");
  s.preserveFd(vm, 1);
  const snapshot = () => ({
    preserved: preservedSet(k),
    free: k.buddy.nrFreePages() + k.kho.out!.tracker.metadataPages(),
    vmalloc: k.vmalloc.areas().length,
    frozen: gmem.frozen,
    files: s.files().length,
    hash: gmem.hash64(),
  });
  const before = snapshot();
  const sites = new Set<string>();
  let failures = 0;
  for (let nth = 1;; nth++) {
    k.faults.arm({ nth });
    const seen = new Map(k.faults.sites);
    try {
      s.preserveFd(gmem, 2);
    } catch (e) {
      assert.ok(e instanceof KhoError && e.code === "ENOMEM", `nth=${nth}: ${e}`);
      k.faults.disarm();
      assert.deepEqual(snapshot(), before, `nth=${nth}`);
      for (const [site, n] of k.faults.sites) if (n !== seen.get(site)) sites.add(site);
      failures++;
      continue;
    }
    k.faults.disarm();
    break;
  }
  assert.ok(failures >= 4, `${failures} allocation points`);
  assert.ok(sites.has(GUEST_MEMFD_LUO_FOLIOS_SITE), [...sites].join());
  assert.equal(s.files().length, 2);
  // Closing the session unpreserves everything: the file is unfrozen, its folios unpreserved.
  s.close();
  assert.equal(gmem.frozen, false);
  for (const f of gmem.folios()) assert.ok(!k.kho.out!.isPreserved(f.pfn, 0));
});

Deno.test("while preserved the file is frozen: a write to a hole is EPERM; gmem-uptodate-sampled loses a late write to a fallocated folio", () => {
  assert.ok(getProfile(GMEM).bugs.includes("gmem-uptodate-sampled"));
  const k1 = boot();
  const { vm, gmem } = guest(k1);
  const s = k1.liveupdate.open().createSession("vm0");
  s.preserveFd(vm, 1);
  s.preserveFd(gmem, 2);
  assert.throws(() => gmem.write(10 * PAGE_SIZE, text("x")), code("EPERM"));
  assert.throws(() => gmem.fallocate(10 * PAGE_SIZE, PAGE_SIZE), code("EPERM"));
  gmem.write(PAGE_SIZE + 3, text("late")); // page 1 is present (fallocated): written after preserve
  gmem.write(5 * PAGE_SIZE, text("also late")); // page 5 was uptodate at preserve
  const k2 = k1.kexec();
  const back = incoming(k2).retrieveFd(2) as GuestMemfdFile;
  // Page 1's record says "not uptodate" (sampled at preserve): the successor reads zeros there.
  assert.deepEqual(back.read(PAGE_SIZE + 3, 4), new Uint8Array(4));
  assert.equal(new TextDecoder().decode(back.read(5 * PAGE_SIZE, 9)), "also late");
});

/** The HugeTLB pools a HugeTLB-backed guest_memfd takes its folios from. */
// kho_scratch sized by hand: the scaled default counts the pools' memblock reservations as
// kernel memory (the 2026 series leaves them out: memblock_reserved_hugetlb_size).
const POOLS = "liveupdate=on kho_scratch=64M,512M,256M hugepagesz=1G hugepages=2 hugepagesz=2M " +
  "hugepages=1";

Deno.test("folio sizes: the series takes order-0 guest_memfd only; HugeTLB-backed (2 MiB, 1 GiB) finds no handler", () => {
  const k = boot(GMEM, { cmdline: POOLS }, 8 * GiB);
  const vm = kvmCreateVm(k);
  const s = k.liveupdate.open().createSession("vm0");
  s.preserveFd(vm, 1);
  const before = preservedSet(k);
  for (const hugetlb of [2 * MiB, GiB]) {
    const g = kvmCreateGuestMemfd(vm, { size: hugetlb, hugetlb });
    g.fill(0, hugetlb, { byte: 1 });
    assert.equal(g.largeFolios, true);
    assert.throws(() => s.preserveFd(g, hugetlb), code("ENOENT"));
    assert.equal(g.frozen, false);
  }
  assert.deepEqual(preservedSet(k), before);
});

Deno.test("the labelled assumption profile takes HugeTLB-backed guest_memfd: each 1 GiB folio one order-18 key, restored whole", () => {
  const p = getProfile(ASSUMED);
  assert.deepEqual(p.assumptions!.map((a) => a.label), [
    "assumes HugeTLB-backed guest_memfd (unverified)",
  ]);
  assert.match(p.summary, /assumes HugeTLB-backed guest_memfd \(unverified\)/);
  const k1 = boot(ASSUMED, { cmdline: POOLS }, 8 * GiB);
  assert.equal(guestMemfdLuoHandler(k1)!.hugetlbAssumed, true);
  const vm = kvmCreateVm(k1);
  const g = kvmCreateGuestMemfd(vm, { size: 2 * GiB, hugetlb: GiB });
  g.fill(0, 2 * GiB, { pattern: 5 });
  const hash = g.hash64();
  const s = k1.liveupdate.open().createSession("vm0");
  s.preserveFd(vm, 1);
  s.preserveFd(g, 2);
  for (const f of g.folios()) {
    assert.equal(f.order, 18);
    assert.ok(k1.kho.out!.isPreserved(f.pfn, 18), "one order-18 radix key per folio");
  }
  const k2 = k1.kexec();
  const back = incoming(k2).retrieveFd(2) as GuestMemfdFile;
  assert.equal(back.hash64(), hash);
  assert.deepEqual(back.folios().map((f) => f.order), [18, 18]);
});

Deno.test("the VM handler: a dead or bugged VM is EINVAL; a private-memory VM's guest_memfd (no INIT_SHARED) finds no handler", () => {
  const k = boot();
  const s = k.liveupdate.open().createSession("vm0");
  const dead = kvmCreateVm(k);
  dead.dead = true;
  assert.throws(() => s.preserveFd(dead, 1), code("EINVAL"));
  const bugged = kvmCreateVm(k);
  bugged.bugged = true;
  assert.throws(() => s.preserveFd(bugged, 1), code("EINVAL"));
  const priv = kvmCreateVm(k, { type: KVM_X86_SW_PROTECTED_VM });
  assert.throws(
    () => kvmCreateGuestMemfd(priv, { size: PAGE_SIZE }),
    code("EINVAL"),
    "INIT_SHARED on a VM with private memory",
  );
  const g = kvmCreateGuestMemfd(priv, { size: PAGE_SIZE, flags: GUEST_MEMFD_FLAG_MMAP });
  assert.throws(() => s.preserveFd(g, 2), code("ENOENT"));
  const shared = kvmCreateGuestMemfd(kvmCreateVm(k), {
    size: PAGE_SIZE,
    flags: GUEST_MEMFD_FLAG_MMAP,
  });
  assert.throws(() => s.preserveFd(shared, 3), code("ENOENT"), "not INIT_SHARED");
  assert.equal(s.files().length, 0);
});

Deno.test("profiles without the proposal: the module says why and registers nothing; PRESERVE_FD finds no handler", () => {
  for (const profile of ["kho-v4", "kho-v1-6.19", "rfc-2026-ext-scratch"] as const) {
    const k = boot(profile);
    assert.deepEqual(k.modules, [], profile);
    assert.match(
      k.log.text(),
      new RegExp(`unsupported by ${profile}: no guest_memfd preservation`),
    );
    assert.equal(guestMemfdLuoHandler(k), null);
    const { vm, gmem } = guest(k);
    const s = k.liveupdate.open().createSession("vm0");
    assert.throws(() => s.preserveFd(vm, 1), code("ENOENT"), profile);
    assert.throws(() => s.preserveFd(gmem, 2), code("ENOENT"), profile);
  }
  const off = boot(GMEM, { cmdline: "" });
  assert.deepEqual(off.modules, ["kvm_gmem_luo_init"], "LUO off: -EOPNOTSUPP is not an error");
  assert.equal(guestMemfdLuoHandler(off), null);
});

Deno.test("chained: the retrieved VM and guest_memfd are preserved again and cross a second kexec", () => {
  const k1 = boot();
  const { vm, gmem } = guest(k1);
  const hash = gmem.hash64();
  const s1 = k1.liveupdate.open().createSession("vm0");
  s1.preserveFd(vm, 1);
  s1.preserveFd(gmem, 2);
  const k2 = k1.kexec();
  const dev2 = k2.liveupdate.open();
  const r2 = dev2.retrieveSession("vm0");
  const g2 = r2.retrieveFd(2) as GuestMemfdFile;
  const vm2 = r2.retrieveFd(1) as KvmVm;
  r2.finish();
  r2.close();
  const s2 = dev2.createSession("vm0");
  s2.preserveFd(vm2, 5);
  s2.preserveFd(g2, 6);
  const k3 = k2.kexec();
  const g3 = incoming(k3).retrieveFd(6) as GuestMemfdFile;
  assert.equal(g3.hash64(), hash);
  assert.equal(g3.vm.fdName, "1", "a new VM file in the third kernel");
});
