/**
 * The KVM VM file handler of the guest_memfd proposal (`virt/kvm/kvm_luo.c`, compatible
 * `"kvm_vm_luo_v1"`; luo-hugetlb-facts §4.4): the base VM handler the v3/v4 postings added so
 * that a guest_memfd can be bound to its VM across a live update. As read in a public copy of
 * the series (the exact posting is **[UNVERIFIED]**):
 *
 * - **can_preserve**: `file_is_kvm(file)`;
 * - **preserve**: EINVAL for a dead or bugged VM; an 8-byte `kvm_luo_ser` from
 *   `kho_alloc_preserve` holding the VM type; its physical address is `serialized_data`;
 * - **unpreserve**: WARN without `serialized_data`; `kho_unpreserve_free`;
 * - **retrieve**: EINVAL without `serialized_data`; a new VM file of the handed-over type
 *   (`kvm_create_vm_file`, named "1", "2", … in order); `kho_restore_free` of the struct,
 *   on failure too;
 * - **finish** without retrieve: the struct is freed (`kho_restore_free`; as assumed — the
 *   function was not read).
 *
 * Registered with the guest_memfd handler by {@link KVM_LUO_MODULE} (`./guest_memfd_luo.ts`).
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import {
  decodeKvmLuoSer,
  encodeKvmLuoSer,
  KVM_LUO_FH_COMPATIBLE,
  KVM_LUO_SER_LAYOUT,
} from "../kho/abi/kvm.ts";
import { hasGuestMemory } from "../kho/profiles.ts";
import type { FileOpArgs, LiveUpdateFileHandler, LuoFile } from "../luo/file_handler.ts";
import { requireSerRam } from "./folio_records.ts";
import { KVM_CREATE_VM_SITE, KvmVm } from "./kvm.ts";

/**
 * `kvm_luo_handler` of one kernel: EOPNOTSUPP from the constructor in a profile without the
 * guest_memfd proposal ("unsupported by kho-v4: no guest_memfd preservation").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Machine } from "../machine/machine.ts";
 * import { Kernel } from "../boot/kernel.ts";
 * import { KvmLuoHandler } from "./kvm_luo.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile: "kho-v4" });
 * assert.throws(() => new KvmLuoHandler(k), /EOPNOTSUPP: unsupported by kho-v4/);
 * ```
 */
export class KvmLuoHandler implements LiveUpdateFileHandler {
  /** `KVM_LUO_FH_COMPATIBLE`. */
  readonly compatible: string = KVM_LUO_FH_COMPATIBLE;
  /** The kernel whose VMs this handler takes. */
  readonly kernel: Kernel;
  /** VMs created by retrieve so far (`restored_vm_id`). */
  #restored = 0;

  /** The handler of `kernel`. */
  constructor(kernel: Kernel) {
    if (!hasGuestMemory(kernel.profile, "guest_memfd")) {
      throw new KhoError(
        "EOPNOTSUPP",
        `unsupported by ${kernel.profile.name}: no guest_memfd preservation ` +
          `(the KVM LUO handlers are the guest_memfd proposal's)`,
      );
    }
    this.kernel = kernel;
  }

  /** `kvm_luo_can_preserve`: a VM file of this kernel. */
  canPreserve(file: LuoFile): boolean {
    return file instanceof KvmVm && file.kernel === this.kernel;
  }

  /** `kvm_luo_preserve`. */
  preserve(args: FileOpArgs): void {
    const vm = args.file as KvmVm;
    if (vm.dead || vm.bugged) throw new KhoError("EINVAL", "kvm_luo_preserve: VM dead or bugged");
    const { kho, machine } = this.kernel;
    const ser = kho.allocPreserve(KVM_LUO_SER_LAYOUT.size);
    machine.mem.writeBytes(ser, encodeKvmLuoSer({ type: vm.type }));
    vm.get(); // LUO's reference (fget in luo_preserve_file)
    args.serializedData = ser;
  }

  /** `kvm_luo_unpreserve`. */
  unpreserve(args: FileOpArgs): void {
    if (args.serializedData === 0) {
      this.kernel.log.warn("kvm_luo_unpreserve", "no serialized data");
      return;
    }
    this.kernel.kho.unpreserveFree(args.serializedData);
    (args.file as KvmVm).put();
  }

  /** `kvm_luo_retrieve`: a new VM file of the handed-over type. */
  retrieve(args: FileOpArgs): void {
    const k = this.kernel;
    if (args.serializedData === 0) throw new KhoError("EINVAL", "kvm_luo_retrieve: no data");
    const ser = this.#readSer(args.serializedData, "kvm_luo_retrieve");
    const name = String(++this.#restored);
    if (k.faults.shouldFail(KVM_CREATE_VM_SITE)) {
      k.kho.restoreFree(args.serializedData);
      throw new KhoError("ENOMEM", "kvm_create_vm_file");
    }
    args.file = new KvmVm(k, ser.type, name);
    k.kho.restoreFree(args.serializedData);
  }

  /** `kvm_luo_finish`: nothing after a retrieve; otherwise the struct goes (as assumed). */
  finish(args: FileOpArgs): void {
    if (args.retrieveStatus !== 0 || args.serializedData === 0) return;
    this.kernel.kho.restoreFree(args.serializedData);
  }

  #readSer(serPa: number, fn: string) {
    requireSerRam(this.kernel, serPa, KVM_LUO_SER_LAYOUT.size, fn);
    return decodeKvmLuoSer(this.kernel.machine.mem.readBytes(serPa, KVM_LUO_SER_LAYOUT.size));
  }
}
