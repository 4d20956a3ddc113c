/**
 * The folio record array the LUO handlers of folio-backed files share
 * (lib/clients/folio_records.ts): records round-trip through kho_preserve_vmalloc, every error
 * undoes exactly what was done in the handler's order, reading past the restored area oopses.
 */

import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import { getFolioSer, MEMFD_LUO_FOLIO_SER_SIZE, putFolioSer } from "../../lib/kho/abi/memfd.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { PAGE_SIZE } from "../../lib/units.ts";
import { KhoVmalloc } from "../../lib/kho/abi/kexec_handover.ts";
import { VMALLOC_CHUNK_SITE } from "../../lib/kho/vmalloc.ts";
import { FolioRecordArray } from "../../lib/clients/folio_records.ts";
import type { ShmemFolio } from "../../lib/clients/memfd.ts";

function setup(lastFirst = false) {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }), {
    cmdline: "liveupdate=on",
  });
  const folios: ShmemFolio[] = [0, 1, 2, 3, 4].map((index) => ({
    pfn: k.buddy.folioAlloc(0)!,
    index,
    order: 0,
    uptodate: true,
    dirty: false,
    pins: 0,
  }));
  const records = new FolioRecordArray(k, {
    name: "test",
    site: "test_folios",
    size: MEMFD_LUO_FOLIO_SER_SIZE,
    get: getFolioSer,
    lastFirst,
  });
  const record = (dv: DataView, at: number, f: ShmemFolio) =>
    putFolioSer(dv, at, { pfn: f.pfn, flags: 0, index: f.index });
  const preserved = () => folios.filter((f) => k.kho.out!.isPreserved(f.pfn, 0)).length;
  return { k, folios, records, record, preserved };
}

Deno.test("the records round-trip through kho_preserve_vmalloc; unpreserve undoes it all", () => {
  const { k, folios, records, record, preserved } = setup();
  const areas = k.vmalloc.areas().length;
  const { array, desc } = records.preserve(folios, { record });
  assert.equal(preserved(), 5);
  assert.equal(k.vmalloc.areas().length, areas + 1);
  const pins: number[] = [];
  records.unpreserve({ file: null, folios, array, desc }, { each: (f) => pins.push(f.index) });
  assert.deepEqual(pins, [0, 1, 2, 3, 4]);
  assert.equal(preserved(), 0);
  assert.equal(k.vmalloc.areas().length, areas);
});

Deno.test("an error undoes the folios preserved so far, in the handler's order, and frees the array", () => {
  for (const lastFirst of [false, true]) {
    const { k, folios, records, record, preserved } = setup(lastFirst);
    const areas = k.vmalloc.areas().length;
    const undone: number[] = [];
    assert.throws(
      () =>
        records.preserve(folios, {
          record: (dv, at, f) => {
            if (f.index === 3) throw new KhoError("ENOMEM", "injected");
            record(dv, at, f);
          },
          unrecord: (f) => undone.push(f.index),
        }),
      /ENOMEM: injected/,
    );
    assert.deepEqual(undone, lastFirst ? [2, 1, 0] : [0, 1, 2]);
    assert.equal(preserved(), 1); // folio 3: preserved before its record failed, as the handlers do
    k.kho.unpreserveFolio(folios[3].pfn);
    assert.equal(k.vmalloc.areas().length, areas);
    k.faults.arm({ nth: 1, sites: ["test_folios"] });
    assert.throws(
      () => records.preserve(folios, { record }),
      /ENOMEM: test: vcalloc of the records/,
    );
    assert.equal(preserved(), 0);
  }
});

/**
 * The array's `kho_vmalloc` in a preserved page of the first kernel, as a handler's struct
 * holds it; the successor reads it from there (nothing but bytes crosses).
 */
function handOver(k: Kernel, desc: KhoVmalloc): { k2: Kernel; desc2: () => KhoVmalloc } {
  const ser = k.kho.allocPreserve(PAGE_SIZE);
  desc.writeTo(k.machine.mem, ser);
  const k2 = k.kexec();
  return {
    k2,
    desc2: () => {
      assert.equal(k2.kho.restoreFolio(ser), ser / PAGE_SIZE);
      return KhoVmalloc.readFrom(k2.machine.mem, ser);
    },
  };
}

Deno.test("the successor restores the array and reads the records back; more records than the area holds oops", () => {
  const { k, folios, records, record } = setup();
  const handed = handOver(k, records.preserve(folios, { record }).desc);
  const k2 = handed.k2, desc = handed.desc2();
  const again = new FolioRecordArray(k2, records.spec);
  const back = again.restore({ folios: desc, nrFolios: 5 }, "test_restore");
  assert.deepEqual(back?.records.map((r) => [r.pfn, r.index]), folios.map((f) => [f.pfn, f.index]));
  again.discard(back!.records, { from: 1 }); // restored and put: not restorable again
  assert.equal(k2.kho.restoreFolio(folios[1].pfn * PAGE_SIZE), null);
  assert.equal(k2.kho.restoreFolio(folios[0].pfn * PAGE_SIZE), folios[0].pfn);
  const k3 = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32, nodes: 1 }));
  assert.equal(
    new FolioRecordArray(k3, records.spec).restore({ folios: desc, nrFolios: 5 }, "x"),
    null,
  );
  // the area is one page: 256 records fit, the 257th is read past it
  const perPage = PAGE_SIZE / MEMFD_LUO_FOLIO_SER_SIZE;
  for (const nrFolios of [perPage, perPage + 1]) {
    const { k: k4, folios: f4, records: r4, record: put4 } = setup();
    const h = handOver(k4, r4.preserve(f4, { record: put4 }).desc);
    const d4 = h.desc2();
    const restore = () =>
      new FolioRecordArray(h.k2, r4.spec).restore({ folios: d4, nrFolios }, "test_restore");
    if (nrFolios === perPage) {
      assert.equal(restore()?.records.length, perPage);
      continue;
    }
    const before = new Set(h.k2.vmalloc.areas().map((a) => a.addr));
    let oops: unknown = null;
    try {
      restore();
    } catch (e) {
      oops = e;
    }
    // the fault is at the first byte past the restored one-page area
    const area = h.k2.vmalloc.areas().find((a) => !before.has(a.addr))!;
    assert.equal(area.size, PAGE_SIZE);
    assert.ok(oops instanceof KernelOops && oops.fn === "test_restore", String(oops));
    assert.equal(oops.address, area.addr + PAGE_SIZE);
  }
});

Deno.test("a failed kho_preserve_vmalloc or preserveMore undoes the rest in the handler's order", () => {
  for (const lastFirst of [false, true]) {
    for (const failing of ["vmalloc", "more"] as const) {
      const { k, folios, records, record, preserved } = setup(lastFirst);
      const areas = k.vmalloc.areas().length;
      const steps: string[] = [];
      if (failing === "vmalloc") k.faults.arm({ nth: 1, sites: [VMALLOC_CHUNK_SITE] });
      assert.throws(
        () =>
          records.preserve(folios, {
            record,
            unrecord: (f) => steps.push(`unrecord ${f.index}`),
            preserveMore: () => {
              steps.push("preserveMore");
              if (failing === "more") throw new KhoError("ENOMEM", "injected");
            },
            unpreserveMore: () => steps.push("unpreserveMore"),
          }),
        (e) => e instanceof KhoError && e.code === "ENOMEM",
      );
      const order = lastFirst ? [4, 3, 2, 1, 0] : [0, 1, 2, 3, 4];
      assert.deepEqual(steps, [
        "preserveMore",
        // preserveMore undone only when it succeeded, before the folios
        ...(failing === "vmalloc" ? ["unpreserveMore"] : []),
        ...order.map((i) => `unrecord ${i}`),
      ], `${failing}, lastFirst ${lastFirst}`);
      assert.equal(preserved(), 0);
      assert.equal(k.vmalloc.areas().length, areas); // the array is freed
    }
  }
});
