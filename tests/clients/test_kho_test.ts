import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { buildTestKhoFdt, KHO_TEST_FDT } from "../../lib/kho/abi/test_kho.ts";
import { KhoVmalloc } from "../../lib/kho/abi/kexec_handover.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import { FdtReader } from "../../lib/kho/fdt/reader.ts";
import { FdtEditor } from "../../lib/kho/fdt/editor.ts";
import { GiB, PAGE_SIZE } from "../../lib/units.ts";
import {
  TEST_KHO_MAX_MEM_BYTES,
  testKhoExit,
  testKhoInit,
  testKhoPreserve,
  testKhoSave,
  type TestKhoState,
  testKhoVerify,
} from "../../lib/clients/test_kho.ts";
import { oracleBlobs, type OracleRequest } from "../support/fdt_oracle.ts";
import { requireTool } from "../support/system_tools.ts";
import { forEachSeed, seedRange } from "../support/seeds.ts";

function boot(seedNodes = 1): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: seedNodes }));
}

function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out.sort();
}

function oracleRequest(s: TestKhoState): OracleRequest {
  return {
    test_kho_sub: {
      nr_folios: s.folios.length,
      first: s.foliosInfo.first,
      total_pages: s.foliosInfo.totalPages,
      flags: s.foliosInfo.flags,
      order: s.foliosInfo.order,
      csum: s.csum,
    },
  };
}

Deno.test("test_kho: generation follows the module's rules (orders 0..10, exactly max_mem)", () => {
  const k = boot();
  const s = testKhoSave(k, { seed: 5 });
  const total = s.folios.reduce((a, f) => a + PAGE_SIZE * 2 ** f.order, 0);
  assert.equal(total, TEST_KHO_MAX_MEM_BYTES);
  assert.ok(s.folios.every((f) => f.order >= 0 && f.order <= 10));
  assert.ok(s.folios.length >= 2 && s.folios.length <= 60, `${s.folios.length} folios`);
  assert.equal(s.foliosInfo.totalPages, Math.ceil((s.folios.length * 8) / PAGE_SIZE));
  for (const f of s.folios) assert.equal(k.memmap.folioOrder(f.pfn), f.order);
  // The index array in vmalloc memory holds phys | order.
  const e = k.vmalloc.readU64(s.foliosInfoAddr + 8);
  assert.equal(e, s.folios[1].pfn * PAGE_SIZE + s.folios[1].order);
});

Deno.test("test_kho: KHO restore succeeds across kexec for 100 seeds", () => {
  forEachSeed(seedRange(1, 100), (seed) => {
    const k1 = boot();
    const init = testKhoInit(k1, { seed });
    assert.equal(init.mode, "save");
    const k2 = k1.kexec();
    const r = testKhoInit(k2, { seed });
    assert.equal(r.mode, "restore");
    if (r.mode !== "restore") return;
    assert.ok(r.result.ok, r.result.reason);
    assert.equal(r.result.restoredFolios, r.result.nrFolios);
    assert.equal(k2.log.grep("KHO restore succeeded").length, 1);
    assert.equal(k2.log.warnings().length, 0, k2.log.text());
  });
});

Deno.test("test_kho: 10 chained kexecs, regenerating after each successful verify", () => {
  let k = boot(2);
  testKhoSave(k, { seed: 77 });
  for (let step = 1; step <= 10; step++) {
    k = k.kexec();
    const r = testKhoVerify(k, { seed: 77 });
    assert.ok(r.ok, `step ${step}: ${r.reason}`);
    assert.equal(k.kho.kexecCount, step);
    const free = k.buddy.nrFreePages();
    testKhoSave(k, { seed: 77 }); // a new generation for the next kernel
    assert.ok(k.buddy.nrFreePages() < free);
  }
});

Deno.test("test_kho: a changed byte, a wrong magic, or a missing sub-tree fail the restore", () => {
  {
    const k1 = boot();
    const s = testKhoSave(k1, { seed: 3 });
    const f = s.folios[s.folios.length - 1];
    const at = f.pfn * PAGE_SIZE + 100;
    k1.machine.mem.writeU8(at, k1.machine.mem.readU8(at) ^ 0xff);
    const k2 = k1.kexec();
    const r = testKhoVerify(k2);
    assert.equal(r.ok, false);
    assert.equal(r.errno, "EINVAL");
    assert.match(r.reason!, /csum/);
    assert.equal(r.restoredFolios, s.folios.length);
    assert.equal(k2.log.grep("KHO restore failed").length, 1);
  }
  {
    const k1 = boot();
    const s = testKhoSave(k1, { seed: 4 });
    const fdtPhys = s.fdtPfn * PAGE_SIZE;
    const off = s.fdt.findIndex((_, i) => s.fdt[i] === 0x21 && s.fdt[i + 1] === 0x4f);
    k1.machine.mem.writeU8(fdtPhys + off, 0x22); // magic 0x4b484f22
    const r = testKhoVerify(k1.kexec());
    assert.equal(r.ok, false);
    assert.match(r.reason!, /magic/);
  }
  {
    const k1 = boot();
    const s = testKhoSave(k1, { seed: 6 });
    // A folio whose recorded order is wrong: the order check stops the loop.
    k1.vmalloc.writeU64(s.foliosInfoAddr, s.folios[0].pfn * PAGE_SIZE + s.folios[0].order + 1);
    const r = testKhoVerify(k1.kexec());
    assert.equal(r.ok, false);
    assert.equal(r.restoredFolios, 0);
  }
  {
    const k2 = boot().kexec();
    const r = testKhoVerify(k2);
    assert.equal(r.errno, "ENOENT");
    assert.equal(testKhoInit(k2).mode, "save");
  }
});

Deno.test("test_kho: the sub-FDT is byte-identical to fdt_oracle.py test-kho", async () => {
  const states: TestKhoState[] = [];
  for (let seed = 1; seed <= 8; seed++) states.push(testKhoSave(boot(), { seed }));
  const golden = buildTestKhoFdt({
    nrFolios: 37,
    foliosInfo: new KhoVmalloc({ first: 0x10203000, totalPages: 2, flags: 1, order: 0 }),
    csum: 0xdeadbeef,
  }, PAGE_SIZE);
  assert.equal(golden.length, 240);
  // What is in memory is what was built.
  const k = boot();
  const s = testKhoSave(k, { seed: 9 });
  const { phys, size } = { phys: s.fdtPfn * PAGE_SIZE, size: s.fdt.length };
  assert.deepEqual(k.machine.mem.readBytes(phys, size), s.fdt);
  assert.ok(k.kho.out!.subtrees().some((t) => t.name === KHO_TEST_FDT && t.size === size));
  if (!requireTool("libfdt", "oracle")) return;
  const want = await oracleBlobs([
    ...states.map(oracleRequest),
    {
      test_kho_sub: {
        nr_folios: 37,
        first: 0x10203000,
        total_pages: 2,
        flags: 1,
        order: 0,
        csum: 0xdeadbeef,
      },
    },
  ]);
  states.forEach((s, i) => assert.deepEqual(s.fdt, want[i], `seed=${i + 1}`));
  assert.deepEqual(golden, want[states.length]);
});

Deno.test("test_kho: module exit unpreserves everything; only KHO's own blocks stay", () => {
  const k = boot();
  const set = preservedSet(k);
  const owned = k.kho.out!.tracker.ownedPagesPhys();
  const free = k.buddy.nrFreePages();
  const fdt = k.kho.out!.root.bytes();
  const s = testKhoSave(k, { seed: 11 });
  assert.ok(preservedSet(k).length > set.length + s.folios.length);
  testKhoExit(k, s);
  assert.deepEqual(preservedSet(k), set, "the tracker walk shows only KHO's own allocations");
  assert.deepEqual(k.kho.out!.root.bytes(), fdt);
  const kept = k.kho.out!.tracker.ownedPagesPhys().filter((p) => !owned.includes(p));
  assert.equal(free - k.buddy.nrFreePages(), kept.length);
  const k2 = k.kexec();
  assert.equal(testKhoVerify(k2).errno, "ENOENT");
});

Deno.test("test_kho: fault injection at every allocation point of the save path", () => {
  const k = boot(2);
  const set = preservedSet(k);
  const fdt = k.kho.out!.root.bytes();
  let points = 0;
  const sites = new Set<string>();
  for (let nth = 1;; nth++) {
    const owned = k.kho.out!.tracker.ownedPagesPhys();
    const free = k.buddy.nrFreePages();
    const calls = new Map(k.faults.sites);
    k.faults.arm({ nth });
    let failed: unknown = null;
    let s: TestKhoState | null = null;
    try {
      s = testKhoSave(k, { seed: 21, maxMemBytes: 3 << 20 });
    } catch (e) {
      failed = e;
    }
    k.faults.disarm();
    if (failed === null) {
      testKhoExit(k, s!);
      break;
    }
    points++;
    for (const [site, c] of k.faults.sites) if (c !== calls.get(site)) sites.add(site);
    assert.ok(failed instanceof KhoError && failed.code === "ENOMEM", `nth=${nth}: ${failed}`);
    assert.deepEqual(preservedSet(k), set, `nth=${nth}: preserved set changed`);
    assert.deepEqual(k.kho.out!.root.bytes(), fdt, `nth=${nth}: root FDT changed`);
    const kept = k.kho.out!.tracker.ownedPagesPhys().filter((p) => !owned.includes(p));
    assert.equal(free - k.buddy.nrFreePages(), kept.length, `nth=${nth}: pages leaked`);
  }
  for (
    const site of [
      "kho_test_folios",
      "kho_test_folio",
      "kho_test_fdt",
      "kho_test_folios_info",
      "kho_vmalloc_chunk",
      "kho_radix_node",
    ]
  ) assert.ok(sites.has(site), `site ${site} not reached: ${[...sites].join(", ")}`);
  assert.ok(points >= 10, `only ${points} points`);
  assert.deepEqual(preservedSet(k), set);
});

Deno.test("kho_test_restore: a sub-FDT address outside RAM is the kernel's oops; strict fails with EINVAL", () => {
  for (const strict of [false, true]) {
    const k1 = Kernel.coldBoot(new Machine({ ramBytes: 4 * GiB, nodes: 1 }), {
      config: { strict },
    });
    assert.equal(testKhoInit(k1, { seed: 3 }).mode, "save");
    const k2 = k1.kexec();
    // Point the incoming "kho_test" node's preserved-data at memory that does not exist.
    const fdtPhys = k2.kho.incoming!.fdtPhys;
    const bytes = k2.machine.mem.readBytes(fdtPhys, PAGE_SIZE);
    const rd = new FdtReader(bytes);
    const prop = rd.getprop(rd.subnodeOffset(0, KHO_TEST_FDT), "preserved-data")!;
    k2.machine.mem.writeU64(fdtPhys + prop.byteOffset - bytes.byteOffset, 2 ** 40);
    if (strict) {
      const r = testKhoVerify(k2);
      assert.equal(r.ok, false);
      assert.equal(r.errno, "EINVAL");
    } else {
      assert.throws(
        () => testKhoVerify(k2),
        (e: Error) => e instanceof KernelOops && e.fn === "kho_test_restore",
      );
    }
  }
});

/** Edits the successor's incoming root FDT in place (its page in memory). */
function editIncomingRoot(k2: Kernel, edit: (ed: FdtEditor) => void): void {
  const fdtPhys = k2.kho.incoming!.fdtPhys;
  const page = k2.machine.mem.readBytes(fdtPhys, PAGE_SIZE);
  edit(FdtEditor.wrap(page));
  k2.machine.mem.writeBytes(fdtPhys, page);
}

Deno.test("kho_test_init (issue 18 §1): a kho_test node the kernel cannot read is warned about, as lib/test_kho.c does", () => {
  const k1 = boot();
  testKhoSave(k1, { seed: 5 });
  const k2 = k1.kexec();
  editIncomingRoot(k2, (ed) => {
    ed.setprop(ed.subnodeOffset(0, KHO_TEST_FDT), "preserved-data", new Uint8Array(4));
  });
  const r = testKhoVerify(k2);
  assert.equal(r.errno, "EINVAL");
  assert.match(k2.log.text(), /test_kho: failed to retrieve kho_test FDT: -22/);
});

Deno.test("kho_test_restore_data (issue 18 §1): nr_folios beyond a full folios_info array reads its guard page: the kernel's oops", () => {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: GiB, nodes: 1 }));
  // 512 order-0 folios: their folios_info fills its one vmalloc'd page exactly.
  const folios = Array.from({ length: 512 }, () => ({ pfn: k1.buddy.folioAlloc(0)!, order: 0 }));
  let csum = 0;
  for (const f of folios) {
    k1.machine.mem.fill(f.pfn * PAGE_SIZE, PAGE_SIZE, { pattern: f.pfn });
    csum = k1.machine.mem.csumPartial(f.pfn * PAGE_SIZE, PAGE_SIZE, csum);
  }
  const s = testKhoPreserve(k1, { folios, csum });
  // nr_folios 513 in the sub-FDT (a u32 property, native order).
  const rd = new FdtReader(s.fdt);
  const nr = rd.getprop(rd.pathOffset("/data"), "nr_folios")!;
  k1.machine.mem.writeU32(s.fdtPfn * PAGE_SIZE + nr.byteOffset - s.fdt.byteOffset, 513);
  const k2 = k1.kexec();
  assert.throws(
    () => testKhoVerify(k2),
    (e: Error) =>
      e instanceof KernelOops && e.fn === "kho_test_restore_data" && e.structure === "folios_info",
  );
  assert.match(k2.log.text(), /folios_info\[512\] lies past the 4096-byte array/);
});

Deno.test("kho_test_restore (issue 18 §1): a sub-FDT whose strings lie past the end of RAM faults where libfdt reads them", () => {
  const k1 = Kernel.coldBoot(new Machine({ ramBytes: GiB, nodes: 1 }));
  const s = testKhoSave(k1, { seed: 9 });
  const k2 = k1.kexec();
  // The same sub-FDT, moved to the last page of RAM with its strings block 8 KiB on.
  const blob = new Uint8Array(PAGE_SIZE);
  blob.set(s.fdt);
  const dv = new DataView(blob.buffer);
  const sizeStrings = dv.getUint32(32);
  dv.setUint32(12, 8192); // off_dt_strings
  dv.setUint32(4, 8192 + sizeStrings); // totalsize
  const last = GiB - PAGE_SIZE;
  k2.machine.mem.writeBytes(last, blob);
  editIncomingRoot(k2, (ed) => {
    const v = new Uint8Array(8);
    new DataView(v.buffer).setBigUint64(0, BigInt(last), true);
    ed.setpropInplace(ed.subnodeOffset(0, KHO_TEST_FDT), "preserved-data", v);
  });
  assert.throws(
    () => testKhoVerify(k2),
    (e: Error) => e instanceof KernelOops && e.fn === "kho_test_restore" && e.address === GiB,
  );
});
