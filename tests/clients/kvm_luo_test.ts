/**
 * The KVM VM file handler (lib/clients/kvm_luo.ts, `kvm_vm_luo_v1`, luo-hugetlb-facts §4.4): a
 * VM file alone across kexec, its 8-byte `kvm_luo_ser`, retrieve ENOMEM, finish without retrieve.
 */
import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";
import { KVM_CREATE_VM_SITE, kvmCreateVm, type KvmVm } from "../../lib/clients/kvm.ts";
import { KVM_LUO_MODULE } from "../../lib/clients/guest_memfd_luo.ts";

const code = (c: string) => (e: unknown) => e instanceof KhoError && e.code === c;

function boot(): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), {
    profile: "rfc-2026-guest-memfd",
    cmdline: "liveupdate=on",
    modules: [KVM_LUO_MODULE],
  });
}

Deno.test("a VM file crosses kexec: the type comes back in a new VM file named 1, 2, …", () => {
  const k1 = boot();
  const s = k1.liveupdate.open().createSession("vms");
  s.preserveFd(kvmCreateVm(k1, { type: 0 }), 1);
  s.preserveFd(kvmCreateVm(k1, { type: 7 }), 2);
  const pa = s.files()[1].serializedData;
  assert.deepEqual([...k1.machine.mem.readBytes(pa, 8)], [7, 0, 0, 0, 0, 0, 0, 0]);
  const k2 = k1.kexec();
  const r = k2.liveupdate.open().retrieveSession("vms");
  const [b, a] = [r.retrieveFd(2) as KvmVm, r.retrieveFd(1) as KvmVm];
  assert.deepEqual([a.type, a.fdName, b.type, b.fdName], [0n, "2", 7n, "1"]);
  assert.equal(k2.kho.restoreFolio(pa), null, "the struct was freed by retrieve");
});

Deno.test("retrieve ENOMEM frees the struct; finish without retrieve frees it too", () => {
  const k1 = boot();
  const s = k1.liveupdate.open().createSession("vms");
  s.preserveFd(kvmCreateVm(k1), 1);
  s.preserveFd(kvmCreateVm(k1), 2);
  const [pa1, pa2] = s.files().map((f) => f.serializedData);
  const k2 = k1.kexec();
  const r = k2.liveupdate.open().retrieveSession("vms");
  k2.faults.arm({ nth: 1, sites: [KVM_CREATE_VM_SITE] });
  assert.throws(() => r.retrieveFd(1), code("ENOMEM"));
  k2.faults.disarm();
  r.finish();
  for (const pa of [pa1, pa2]) assert.ok(k2.buddy.isFree(pa / PAGE_SIZE));
  assert.deepEqual(k2.log.text().match(/WARN.*/g) ?? [], []);
});

Deno.test("closing the session unpreserves the VM file and drops LUO's reference", () => {
  const k = boot();
  const vm = kvmCreateVm(k);
  const s = k.liveupdate.open().createSession("vms");
  s.preserveFd(vm, 1);
  const pa = s.files()[0].serializedData;
  vm.close();
  assert.equal(vm.fileActive, true, "LUO's reference");
  s.close();
  assert.equal(vm.fileActive, false);
  assert.ok(!k.kho.out!.isPreserved(pa / PAGE_SIZE, 0));
});
