/**
 * The kernel's KHO test module (`lib/test_kho.c`, `CONFIG_TEST_KEXEC_HANDOVER`), kho-facts
 * §11.1: on a first boot it allocates folios of random orders up to `max_mem`, fills them
 * with seeded content, preserves them, their `phys | order` index in vmalloc memory
 * (`kho_preserve_vmalloc`) and a `kho_test` sub-FDT; after kexec it finds everything again
 * from the sub-FDT bytes alone, restores it and compares checksums, printing
 * "KHO restore succeeded" or "KHO restore failed".
 *
 * Deviation, documented: when preservation fails the real module returns the error from
 * its init and leaks the folios it generated; kholab puts them back so a failed load leaves
 * the allocator as it was.
 *
 * @module
 */

import { type ErrnoName, FdtError, KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import { KernelOops } from "../kernel/oops.ts";
import type { KhoBug } from "../kho/profiles.ts";
import {
  buildTestKhoFdt,
  decodeTestKhoFolioInfo,
  encodeTestKhoFolioInfo,
  KHO_TEST_FDT,
  KHO_TEST_FOLIO_INFO_SIZE,
  parseTestKhoFdt,
} from "../kho/abi/test_kho.ts";
import type { KhoVmalloc } from "../kho/abi/kexec_handover.ts";
import { readPhysFdt } from "../kho/phys_fdt.ts";
import { preserveVmalloc, restoreVmalloc, unpreserveVmalloc } from "../kho/vmalloc.ts";
import { Rng } from "../rng.ts";
import { getOrder, hex, MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_SIZE } from "../units.ts";

/** `max_mem` default: (PAGE_SIZE << MAX_PAGE_ORDER) * 2 = 8 MiB. */
export const TEST_KHO_MAX_MEM_BYTES: number = (PAGE_SIZE * 2 ** MAX_PAGE_ORDER) * 2;
/** Fault-injection site of the `folios` pointer array (`kvmalloc_array`). */
export const TEST_KHO_FOLIOS_SITE = "kho_test_folios";
/** Fault-injection site of the generated folios (`folio_alloc`). */
export const TEST_KHO_FOLIO_SITE = "kho_test_folio";
/** Fault-injection site of the `folios_info` array (`vmalloc_array`). */
export const TEST_KHO_INFO_SITE = "kho_test_folios_info";
/** Fault-injection site of the sub-FDT folio. */
export const TEST_KHO_FDT_SITE = "kho_test_fdt";

/** Options of the test module. */
export interface TestKhoOptions {
  /** `max_mem` module parameter in bytes (page-aligned up). Default 8 MiB. */
  maxMemBytes?: number;
  /**
   * Randomness for folio orders and content (`get_random_u32`, `get_random_bytes`).
   * Default: `new Rng(seed).fork("test_kho#<boot index>")`.
   */
  rng?: Rng;
  /** Seed of the default generator. Default 0. */
  seed?: number;
  /** vmalloc preservation bugs to reproduce (default: the kernel profile's). */
  bugs?: readonly KhoBug[];
}

/** One generated folio. */
export interface TestKhoFolio {
  /** Head page frame. */
  pfn: number;
  /** Folio order (0..10). */
  order: number;
}

/** What the module keeps between init and exit in the outgoing kernel. */
export interface TestKhoState {
  /** The folios, in allocation order. */
  folios: TestKhoFolio[];
  /** Running csum_partial over all folios. */
  csum: number;
  /** vmalloc address of the `phys | order` array. */
  foliosInfoAddr: number;
  /** Its preservation descriptor. */
  foliosInfo: KhoVmalloc;
  /** Head pfn of the sub-FDT folio. */
  fdtPfn: number;
  /** The sub-FDT bytes (`fdt_totalsize`). */
  fdt: Uint8Array;
}

/** What the successor's verification found. */
export interface TestKhoResult {
  /** True when every folio came back with its order and the checksum matched. */
  ok: boolean;
  /** The errno the module returns when `ok` is false. */
  errno?: ErrnoName;
  /** Why, in words. */
  reason?: string;
  /** `nr_folios` from the sub-FDT (0 when not reached). */
  nrFolios: number;
  /** Folios restored and checked before the loop stopped. */
  restoredFolios: number;
  /** Checksum recomputed over the restored folios. */
  csum: number;
  /** Checksum stored by the previous kernel. */
  expectedCsum: number;
}

function defaultRng(kernel: Kernel, opts: TestKhoOptions): Rng {
  return opts.rng ?? new Rng(opts.seed ?? 0).fork(`test_kho#${kernel.bootIndex}`);
}

function putFolios(kernel: Kernel, folios: readonly TestKhoFolio[]): void {
  for (const f of folios) kernel.buddy.folioPut(f.pfn);
}

/**
 * `kho_test_generate_data`: random orders `get_random_u32() % NR_PAGE_ORDERS` until
 * `maxMemBytes`, shrinking the last ones so the total never overshoots; each folio filled
 * with a seeded pattern and folded into a running `csum_partial`. Throws ENOMEM (after
 * putting the folios back) when a folio cannot be allocated.
 */
export function testKhoGenerate(
  kernel: Kernel,
  rng: Rng,
  maxMemBytes: number = TEST_KHO_MAX_MEM_BYTES,
): { folios: TestKhoFolio[]; csum: number } {
  const mem = kernel.machine.mem;
  const folios: TestKhoFolio[] = [];
  let alloc = 0;
  let csum = 0;
  while (alloc < maxMemBytes) {
    let order = rng.u32() % NR_PAGE_ORDERS;
    if (alloc + PAGE_SIZE * 2 ** order > maxMemBytes) {
      order = getOrder(maxMemBytes - alloc);
      if (order) order--;
    }
    const size = PAGE_SIZE * 2 ** order;
    // GFP_KERNEL | __GFP_NORETRY: may fail quietly.
    const pfn = kernel.buddy.folioAlloc(order, { site: TEST_KHO_FOLIO_SITE });
    if (pfn === null) {
      putFolios(kernel, folios);
      throw new KhoError("ENOMEM", `kho_test: no order-${order} folio`);
    }
    folios.push({ pfn, order });
    mem.fill(pfn * PAGE_SIZE, size, { pattern: rng.u32() }); // get_random_bytes
    csum = mem.csumPartial(pfn * PAGE_SIZE, size, csum);
    alloc += size;
  }
  return { folios, csum };
}

/**
 * `kho_test_preserve`: the sub-FDT folio (preserved), the `folios_info` array in vmalloc
 * memory (preserved with `kho_preserve_vmalloc`), every folio, the sub-FDT and
 * `kho_add_subtree("kho_test", fdt, totalsize)`. On failure everything it did is undone and
 * the error rethrown.
 */
export function testKhoPreserve(
  kernel: Kernel,
  data: { folios: TestKhoFolio[]; csum: number },
  opts: TestKhoOptions = {},
): TestKhoState {
  const { folios, csum } = data;
  const kho = kernel.kho;
  const nr = folios.length;
  const fdtSize = nr * 8 + PAGE_SIZE;
  const fdtPfn = kernel.buddy.folioAlloc(getOrder(fdtSize), { site: TEST_KHO_FDT_SITE });
  if (fdtPfn === null) throw new KhoError("ENOMEM", "kho_test: no FDT folio");
  const undo: (() => void)[] = [() => kernel.buddy.folioPut(fdtPfn)];
  const rollback = (e: unknown): never => {
    while (undo.length > 0) undo.pop()!();
    throw e;
  };
  try {
    kho.preserveFolio(fdtPfn);
    undo.push(() => kho.unpreserveFolio(fdtPfn));
    // kho_test_preserve_data
    const info = kernel.vmalloc.vmalloc(Math.max(1, nr * KHO_TEST_FOLIO_INFO_SIZE), {
      site: TEST_KHO_INFO_SITE,
    });
    if (info === null) throw new KhoError("ENOMEM", "kho_test: vmalloc_array failed");
    undo.push(() => kernel.vmalloc.vfree(info));
    const desc = preserveVmalloc(kernel, info, { bugs: opts.bugs });
    undo.push(() => unpreserveVmalloc(kernel, desc, { bugs: opts.bugs }));
    folios.forEach((f, i) => {
      kernel.vmalloc.writeU64(
        info + KHO_TEST_FOLIO_INFO_SIZE * i,
        encodeTestKhoFolioInfo(f.pfn * PAGE_SIZE, f.order),
      );
      kho.preserveFolio(f.pfn);
      undo.push(() => kho.unpreserveFolio(f.pfn));
    });
    // kho_test_prepare_fdt + kho_add_subtree
    const fdt = buildTestKhoFdt({ nrFolios: nr, foliosInfo: desc, csum }, fdtSize);
    kernel.machine.mem.writeBytes(fdtPfn * PAGE_SIZE, fdt);
    kho.addSubtree(KHO_TEST_FDT, fdtPfn * PAGE_SIZE, fdt.length);
    return { folios, csum, foliosInfoAddr: info, foliosInfo: desc, fdtPfn, fdt };
  } catch (e) {
    return rollback(e);
  }
}

/**
 * `kho_test_save` (first boot): the `folios` array, generation, preservation. Throws the
 * kernel's errno; on failure the generated folios are put back (see the module note).
 */
export function testKhoSave(kernel: Kernel, opts: TestKhoOptions = {}): TestKhoState {
  const maxMem = Math.ceil((opts.maxMemBytes ?? TEST_KHO_MAX_MEM_BYTES) / PAGE_SIZE) * PAGE_SIZE;
  if (kernel.faults.shouldFail(TEST_KHO_FOLIOS_SITE)) {
    throw new KhoError("ENOMEM", "kho_test: kvmalloc_array(folios) failed");
  }
  const data = testKhoGenerate(kernel, defaultRng(kernel, opts), maxMem);
  try {
    return testKhoPreserve(kernel, data, opts);
  } catch (e) {
    putFolios(kernel, data.folios);
    throw e;
  }
}

function fail(
  kernel: Kernel,
  r: Omit<TestKhoResult, "ok">,
  print = true,
): TestKhoResult {
  if (print) kernel.log.error("test_kho", "KHO restore failed");
  return { ok: false, ...r };
}

/**
 * `PAGE_SIZE << order` as `kho_test_restore_data` stores it, in an `unsigned int`: the shift
 * of an unsigned long (count masked to 6 bits by x86), truncated to 32 bits — 0 from order 20.
 */
export function testKhoFolioBytes(order: number): number {
  return Number(BigInt.asUintN(32, BigInt(PAGE_SIZE) << BigInt(order % 64)));
}

/**
 * `kho_test_restore` in the successor, from bytes only: `kho_retrieve_subtree("kho_test")`,
 * the sub-FDT read through `phys_to_virt` (outside RAM: the kernel's oops, or EINVAL in
 * strict mode), the compatible and magic checks, the `/data` properties with their exact
 * lengths, `kho_restore_vmalloc(folios_info)`, then per entry `kho_restore_folio` + order
 * check + `csum_partial` + `folio_put`, `vfree`, and the checksum comparison. Logs "KHO
 * restore succeeded" (pr_info) or "KHO restore failed" (pr_err).
 *
 * Where the module trusts the bytes, so does this: an `nr_folios` beyond the restored array
 * reads past the vmalloc area (its guard page: an oops), and a folio's checksum reads its
 * `PAGE_SIZE << order` bytes (an oops where they are not RAM).
 */
export function testKhoVerify(kernel: Kernel, opts: TestKhoOptions = {}): TestKhoResult {
  const base = { nrFolios: 0, restoredFolios: 0, csum: 0, expectedCsum: 0 };
  let phys: number;
  try {
    phys = kernel.kho.retrieveSubtree(KHO_TEST_FDT).phys;
  } catch (e) {
    if (!(e instanceof KhoError)) throw e;
    if (e.code !== "ENOENT") {
      kernel.log.warning("test_kho", `failed to retrieve ${KHO_TEST_FDT} FDT: ${-e.errno}`);
    }
    return fail(kernel, { ...base, errno: e.code, reason: e.message }, false);
  }
  const mem = kernel.machine.mem;
  const einval = (reason: string) => fail(kernel, { ...base, errno: "EINVAL", reason });
  let parsed: ReturnType<typeof parseTestKhoFdt>;
  try {
    parsed = readPhysFdt(
      {
        mem,
        isRam: (p: number, n: number) => kernel.machine.topology.isRam(p, n),
        log: kernel.log,
      },
      phys,
      { fn: "kho_test_restore", structure: "kho_test sub-FDT", strict: kernel.kho.strict },
      (rd) => parseTestKhoFdt(rd),
    );
  } catch (e) {
    if (e instanceof FdtError) return einval(`sub-FDT: ${e.code}`);
    if (e instanceof KhoError && e.code === "EFAULT") return einval(e.message); // strict
    throw e;
  }
  if (!parsed.ok) return einval(parsed.reason);
  const { nrFolios, csum: expectedCsum, foliosInfo: desc } = parsed.fields;
  const info = restoreVmalloc(kernel, desc, { bugs: opts.bugs });
  if (info === null) {
    return fail(kernel, { ...base, nrFolios, expectedCsum, errno: "EINVAL", reason: "vmalloc" });
  }
  const infoBytes = kernel.vmalloc.findVmArea(info)!.nrPages * PAGE_SIZE;
  let csum = 0;
  let restored = 0;
  let reason: string | undefined;
  for (let i = 0; i < nrFolios; i++) {
    const at = KHO_TEST_FOLIO_INFO_SIZE * i;
    if (at + KHO_TEST_FOLIO_INFO_SIZE > infoBytes) {
      // folios_info[i] past the area: the guard page after it.
      kernel.log.error("test_kho", `folios_info[${i}] lies past the ${infoBytes}-byte array`);
      throw new KernelOops(
        { address: info + infoBytes, fn: "kho_test_restore_data", structure: "folios_info" },
        kernel.log,
      );
    }
    const [lo, hi] = kernel.vmalloc.readU64Parts(info + at);
    const { phys: folioPhys, order } = decodeTestKhoFolioInfo(lo, hi);
    const pfn = kernel.kho.restoreFolio(folioPhys);
    if (pfn === null) {
      reason = `folio ${i} at ${hex(folioPhys)} did not restore`;
      break;
    }
    if (kernel.memmap.folioOrder(pfn) !== order) {
      reason = `folio ${i}: order ${kernel.memmap.folioOrder(pfn)} != ${order}`;
      break;
    }
    const size = testKhoFolioBytes(order);
    if (size > 0 && !kernel.machine.topology.isRam(folioPhys, size)) {
      const end = kernel.machine.topology.ramRunEnd(folioPhys);
      kernel.log.error("test_kho", `folio ${i}: ${size} bytes at ${hex(folioPhys)} are not RAM`);
      throw new KernelOops(
        { address: end, fn: "csum_partial", structure: "test folio" },
        kernel.log,
      );
    }
    csum = mem.csumPartial(folioPhys, size, csum);
    kernel.buddy.folioPut(pfn);
    restored++;
  }
  kernel.vmalloc.vfree(info);
  const r = { nrFolios, restoredFolios: restored, csum, expectedCsum };
  if (csum !== expectedCsum) {
    return fail(kernel, {
      ...r,
      errno: "EINVAL",
      reason: reason ?? `csum ${hex(csum)} != ${hex(expectedCsum)}`,
    });
  }
  kernel.log.info("test_kho", "KHO restore succeeded");
  return { ok: true, ...r };
}

/**
 * `kho_test_init`: verifies the previous kernel's data when there is a `kho_test` sub-tree,
 * otherwise (ENOENT) generates and preserves a new set. Returns what it did; a failure of
 * the save path is thrown as the module's errno.
 */
export function testKhoInit(
  kernel: Kernel,
  opts: TestKhoOptions = {},
): { mode: "restore"; result: TestKhoResult } | { mode: "save"; state: TestKhoState } | {
  mode: "disabled";
} {
  if (!kernel.kho.enabled) return { mode: "disabled" };
  if (kernel.kho.isKhoBoot) {
    try {
      kernel.kho.retrieveSubtree(KHO_TEST_FDT);
      return { mode: "restore", result: testKhoVerify(kernel, opts) };
    } catch (e) {
      if (!(e instanceof KhoError && e.code === "ENOENT")) throw e;
    }
  }
  return { mode: "save", state: testKhoSave(kernel, opts) };
}

/**
 * `kho_test_exit` / `kho_test_cleanup`: removes the sub-tree, unpreserves every folio and
 * the vmalloc array, frees them, and unpreserves and frees the sub-FDT folio.
 */
export function testKhoExit(kernel: Kernel, state: TestKhoState, opts: TestKhoOptions = {}): void {
  const kho = kernel.kho;
  kho.removeSubtree(state.fdtPfn * PAGE_SIZE);
  for (const f of state.folios) kho.unpreserveFolio(f.pfn);
  unpreserveVmalloc(kernel, state.foliosInfo, { bugs: opts.bugs });
  kernel.vmalloc.vfree(state.foliosInfoAddr);
  putFolios(kernel, state.folios);
  kho.unpreserveFolio(state.fdtPfn);
  kernel.buddy.folioPut(state.fdtPfn);
}
