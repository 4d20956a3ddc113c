import assert from "node:assert/strict";
import { Kernel } from "../../../lib/boot/kernel.ts";
import { KernelLog } from "../../../lib/kernel/dmesg.ts";
import { PROFILE_NAMES } from "../../../lib/kho/profiles.ts";
import { TrackerCounters } from "../../../lib/kho/trackers/counters.ts";
import { recordingMemory, trackerPagesRead } from "../../../lib/kho/trackers/pages_read.ts";
import { Machine } from "../../../lib/machine/machine.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import { decodeKhoFdtU64 } from "../../../lib/kho/abi/kexec_handover.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";

Deno.test("recording memory: reads note their pages, writes and the rest pass through", () => {
  const mem = new PhysicalMemory(2 ** 24);
  const seen = new Set<number>();
  const r = recordingMemory(mem, seen);
  r.writeU64(0x3000, 7);
  assert.equal(seen.size, 0);
  assert.equal(r.readU64(0x3000), 7);
  r.readBytes(0x4ff8, 16); // straddles two pages
  r.isZeroPage(9);
  assert.deepEqual([...seen].sort((a, b) => a - b), [3, 4, 5, 9]);
  assert.equal(r.sizeBytes, mem.sizeBytes);
});

Deno.test("tracker pages: every generation's walk reads the tracker's pages and nothing else", () => {
  for (const profile of PROFILE_NAMES) {
    const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile });
    for (let i = 0; i < 40; i++) k.kho.preserveFolio(k.buddy.folioAlloc(i % 10)!);
    if (k.profile.finalize !== "none") k.kho.finalize();
    k.kho.out!.prepareKexec();
    const fdt = new FdtReader(k.kho.out!.root.bytes());
    const root = decodeKhoFdtU64(fdt.getprop(0, k.profile.memoryMapProp))!;
    const r = trackerPagesRead(k.profile.tracker, {
      mem: k.machine.mem,
      rootPhys: root,
      isRam: (p, n) => k.machine.topology.isRam(p, n),
      log: new KernelLog(),
      counters: new TrackerCounters(),
    });
    assert.ok(r.walk.ok, profile);
    assert.ok(r.pages.includes(root), profile);
    // The radix trees and the order table own exactly the pages they walk; the xarray era
    // walks its serialized chunk list and every bitmap the tracker owns.
    const owned = k.kho.out!.tracker.ownedPagesPhys();
    if (k.profile.tracker.startsWith("xarray")) {
      assert.ok(owned.every((p) => r.pages.includes(p)), profile);
      assert.ok(r.pages.includes(k.kho.out!.serializedRoot), profile);
      assert.ok(r.pages.length > owned.length, profile);
    } else {
      assert.deepEqual(r.pages, [...owned].sort((a, b) => a - b), profile);
    }
  }
});
