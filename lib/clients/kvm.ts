/**
 * A KVM virtual machine as LUO sees it: the VM file (`KVM_CREATE_VM`'s descriptor, `struct
 * kvm` behind it) that the guest_memfd proposal preserves with its `kvm_vm_luo_v1` handler
 * (`./kvm_luo.ts`) so that the VM's guest_memfd files can be bound to it across a live update
 * (luo-hugetlb-facts §4.4).
 *
 * Modelled: the VM type (`KVM_CREATE_VM`'s argument, handed over in `kvm_luo_ser`), whether the
 * VM has private memory (`kvm_arch_has_private_mem`; kholab's rule, as assumed: every x86 type
 * but `KVM_X86_DEFAULT_VM` has it), the dead/bugged states the VM handler refuses, and the file's
 * references (`get_file_active(&kvm->vm_file)` fails once the last one is gone). vCPUs, memory
 * slots and the secondary MMU are not modelled.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";

/** `KVM_X86_DEFAULT_VM`: the default VM type, without private memory. */
export const KVM_X86_DEFAULT_VM = 0;
/** `KVM_X86_SW_PROTECTED_VM`: a VM type with private memory (software-protected). */
export const KVM_X86_SW_PROTECTED_VM = 1;

/** Fault-injection site of `kvm_create_vm` (the successor's VM file too). */
export const KVM_CREATE_VM_SITE = "kvm_create_vm";

/**
 * A VM file (`file_is_kvm(file)`): the `struct kvm` and the descriptor that holds it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { kvmCreateVm } from "./kvm.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }));
 * const vm = kvmCreateVm(k);
 * assert.equal(vm.type, 0n);
 * assert.equal(vm.hasPrivateMem, false);
 * vm.close();
 * assert.equal(vm.fileActive, false); // get_file_active(&kvm->vm_file) now fails
 * ```
 */
export class KvmVm {
  /** The kernel the VM lives in. */
  readonly kernel: Kernel;
  /** The VM type given to `KVM_CREATE_VM` (a u64). */
  readonly type: bigint;
  /** `kvm->vm_dead`: the VM was killed; no live update. */
  dead = false;
  /** `kvm->vm_bugged`: KVM found a bug in it; no live update. */
  bugged = false;
  /** The name of the successor's anonymous inode (`"1"`, `"2"`, …), `""` for a user's VM. */
  readonly fdName: string;
  #refs = 1;

  /** Use {@link kvmCreateVm}; the VM handler's retrieve builds VMs this way too. */
  constructor(kernel: Kernel, type: bigint, fdName = "") {
    this.kernel = kernel;
    this.type = type;
    this.fdName = fdName;
  }

  /** `kvm_arch_has_private_mem(kvm)`: every type but the default (kholab's rule, as assumed). */
  get hasPrivateMem(): boolean {
    return this.type !== BigInt(KVM_X86_DEFAULT_VM);
  }

  /** Whether the VM file still has a reference (`get_file_active(&kvm->vm_file)` succeeds). */
  get fileActive(): boolean {
    return this.#refs > 0;
  }

  /** `get_file`: another reference (LUO's, while the file is preserved). */
  get(): void {
    if (this.#refs === 0) throw new RangeError("KVM VM file: get on a released file");
    this.#refs++;
  }

  /** `fput`. */
  put(): void {
    if (this.#refs === 0) throw new RangeError("KVM VM file: put on a released file");
    this.#refs--;
  }

  /** `close(vmfd)`: drops the caller's reference (EBADF when none is left). */
  close(): void {
    this.kernel.assertAlive();
    if (this.#refs === 0) throw new KhoError("EBADF", "KVM VM file is closed");
    this.put();
  }
}

/**
 * `ioctl(/dev/kvm, KVM_CREATE_VM, type)`: a new VM file. EINVAL for a type that is not a u64;
 * ENOMEM when the fault site {@link KVM_CREATE_VM_SITE} fires.
 */
export function kvmCreateVm(
  kernel: Kernel,
  opts: { type?: number | bigint } = {},
): KvmVm {
  kernel.assertAlive();
  const t = opts.type ?? 0;
  const type = typeof t === "bigint" ? t : Number.isSafeInteger(t) ? BigInt(t) : -1n;
  if (type < 0n || type >= 1n << 64n) throw new KhoError("EINVAL", `KVM_CREATE_VM type ${t}`);
  if (kernel.faults.shouldFail(KVM_CREATE_VM_SITE)) {
    throw new KhoError("ENOMEM", "kvm_create_vm");
  }
  return new KvmVm(kernel, type);
}
