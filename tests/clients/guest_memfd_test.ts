/**
 * guest_memfd files (lib/clients/guest_memfd.ts): creation checks, order-0 unmovable folios
 * (never in a CMA pageblock, i.e. never in KHO scratch), host access only with
 * GUEST_MEMFD_FLAG_MMAP, the freeze, HugeTLB backing as a labelled model-only option.
 */
import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { MIGRATE_CMA } from "../../lib/kernel/gfp.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import { KVM_X86_SW_PROTECTED_VM, kvmCreateVm } from "../../lib/clients/kvm.ts";
import {
  GUEST_MEMFD_FLAG_INIT_SHARED,
  GUEST_MEMFD_FLAG_MMAP,
  guestMemfdSupportedFlags,
  KVM_GMEM_CREATE_FILE_SITE,
  kvmCreateGuestMemfd,
} from "../../lib/clients/guest_memfd.ts";

const code = (c: string) => (e: unknown) => e instanceof KhoError && e.code === c;

function kernel(): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }));
}

Deno.test("KVM_CREATE_GUEST_MEMFD checks size, flags, huge page size and the VM", () => {
  const k = kernel();
  const vm = kvmCreateVm(k);
  assert.equal(guestMemfdSupportedFlags(vm), 3);
  assert.throws(() => kvmCreateGuestMemfd(vm, { size: 0 }), code("EINVAL"));
  assert.throws(() => kvmCreateGuestMemfd(vm, { size: 4097 }), code("EINVAL"));
  assert.throws(() => kvmCreateGuestMemfd(vm, { size: PAGE_SIZE, flags: 4 }), code("EINVAL"));
  assert.throws(() => kvmCreateGuestMemfd(vm, { size: 2 * MiB, hugetlb: 4 * MiB }), code("EINVAL"));
  assert.throws(() => kvmCreateGuestMemfd(vm, { size: MiB, hugetlb: 2 * MiB }), code("EINVAL"));
  const priv = kvmCreateVm(k, { type: KVM_X86_SW_PROTECTED_VM });
  assert.equal(guestMemfdSupportedFlags(priv), GUEST_MEMFD_FLAG_MMAP);
  assert.throws(() => kvmCreateGuestMemfd(priv, { size: PAGE_SIZE }), code("EINVAL"));
  k.faults.arm({ nth: 1, sites: [KVM_GMEM_CREATE_FILE_SITE] });
  assert.throws(() => kvmCreateGuestMemfd(vm, { size: PAGE_SIZE }), code("ENOMEM"));
  k.faults.disarm();
  vm.close();
  assert.throws(() => kvmCreateGuestMemfd(vm, { size: PAGE_SIZE }), code("EBADF"));
});

Deno.test("folios are order 0 and unmovable: none lands in a CMA pageblock", () => {
  const k = kernel();
  const g = kvmCreateGuestMemfd(kvmCreateVm(k), { size: 8 * MiB });
  g.fill(0, 8 * MiB, { pattern: 1 });
  assert.equal(g.folios().length, 2048);
  assert.equal(g.largeFolios, false);
  for (const f of g.folios()) {
    assert.equal(f.order, 0);
    assert.notEqual(k.buddy.getPageblockMigratetype(f.pfn), MIGRATE_CMA);
  }
});

Deno.test("host access needs GUEST_MEMFD_FLAG_MMAP (ENODEV); ranges stay inside the file (EINVAL)", () => {
  const k = kernel();
  const g = kvmCreateGuestMemfd(kvmCreateVm(k), {
    size: 4 * PAGE_SIZE,
    flags: GUEST_MEMFD_FLAG_INIT_SHARED,
  });
  assert.throws(() => g.write(0, new Uint8Array(1)), code("ENODEV"));
  assert.throws(() => g.read(0, 1), code("ENODEV"));
  g.fallocate(0, PAGE_SIZE); // no mapping needed
  assert.equal(g.folios().length, 1);
  const m = kvmCreateGuestMemfd(kvmCreateVm(k), { size: 4 * PAGE_SIZE });
  assert.throws(() => m.write(4 * PAGE_SIZE - 1, new Uint8Array(2)), code("EINVAL"));
  assert.throws(() => m.fallocate(-1, 1), code("EINVAL"));
});

Deno.test("frozen: no folio may be added (EPERM); present folios take writes; close frees everything", () => {
  const k = kernel();
  const g = kvmCreateGuestMemfd(kvmCreateVm(k), { size: 4 * PAGE_SIZE });
  g.fill(0, 2 * PAGE_SIZE, { byte: 7 });
  const free0 = k.buddy.nrFreePages();
  g.freeze(true);
  assert.throws(() => g.write(PAGE_SIZE, new Uint8Array(PAGE_SIZE + 1)), code("EPERM"));
  assert.throws(() => g.fallocate(3 * PAGE_SIZE, PAGE_SIZE), code("EPERM"));
  g.write(PAGE_SIZE, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...g.read(PAGE_SIZE, 4)], [1, 2, 3, 7]);
  g.freeze(false);
  g.close();
  assert.ok(g.released);
  assert.equal(k.buddy.nrFreePages(), free0 + 2);
});

Deno.test("HugeTLB backing (model only): 1 GiB folios from the HugeTLB pool", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    cmdline: "hugepagesz=1G hugepages=1",
  });
  const g = kvmCreateGuestMemfd(kvmCreateVm(k), { size: GiB, hugetlb: GiB });
  g.fill(0, PAGE_SIZE, { byte: 1 });
  assert.equal(g.largeFolios, true);
  assert.deepEqual(g.folios().map((f) => f.order), [18]);
});
