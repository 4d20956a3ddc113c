/** KVM VM files (lib/clients/kvm.ts): type, private memory, references, creation errors. */
import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import {
  KVM_CREATE_VM_SITE,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SW_PROTECTED_VM,
  kvmCreateVm,
} from "../../lib/clients/kvm.ts";

const code = (c: string) => (e: unknown) => e instanceof KhoError && e.code === c;

Deno.test("KVM_CREATE_VM: the type as a u64; private memory for every type but the default", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }));
  assert.equal(kvmCreateVm(k, { type: KVM_X86_DEFAULT_VM }).hasPrivateMem, false);
  assert.equal(kvmCreateVm(k, { type: KVM_X86_SW_PROTECTED_VM }).hasPrivateMem, true);
  assert.equal(kvmCreateVm(k, { type: 2n ** 63n }).type, 2n ** 63n);
  assert.throws(() => kvmCreateVm(k, { type: -1 }), code("EINVAL"));
  assert.throws(() => kvmCreateVm(k, { type: 2n ** 64n }), code("EINVAL"));
  k.faults.arm({ nth: 1, sites: [KVM_CREATE_VM_SITE] });
  assert.throws(() => kvmCreateVm(k), code("ENOMEM"));
});

Deno.test("references: LUO's keeps the file active after the user's close; a second close is EBADF", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }));
  const vm = kvmCreateVm(k);
  vm.get();
  vm.close();
  assert.equal(vm.fileActive, true);
  vm.put();
  assert.equal(vm.fileActive, false);
  assert.throws(() => vm.close(), code("EBADF"));
  assert.throws(() => vm.put(), RangeError);
});
