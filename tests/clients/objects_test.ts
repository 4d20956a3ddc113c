import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import {
  decodeObjectsTable,
  encodeObjectsTable,
  type ObjectRecord,
  OBJECTS_TABLE_NAME,
} from "../../lib/kho/abi/objects.ts";
import { KhoVmalloc } from "../../lib/kho/abi/vmalloc.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import { memfdCreate, memfdFinish } from "../../lib/clients/memfd.ts";
import {
  incomingObjects,
  type ObjectSpec,
  preservedObjects,
  preserveObjects,
  respec,
  restoreObject,
  restoreObjects,
  unpreserveObject,
} from "../../lib/clients/objects.ts";

function boot(): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 2 }));
}

function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out.sort();
}

/** One object of each kind, filled with seeded content. */
function makeObjects(k: Kernel, seed: number): ObjectSpec[] {
  const mem = k.machine.mem;
  const folio = k.buddy.folioAlloc(4)!;
  mem.fill(folio * PAGE_SIZE, 16 * PAGE_SIZE, { pattern: seed });
  const block = k.buddy.allocPages(9, { nid: 1 })!;
  mem.fill((block + 3) * PAGE_SIZE, 300 * PAGE_SIZE, { pattern: seed + 1 });
  const vm = k.vmalloc.vmalloc(4 * MiB, { hugeVmap: true })!;
  k.vmalloc.fill(vm, 4 * MiB, { pattern: seed + 2 });
  const file = memfdCreate(k, "guest", 64 * PAGE_SIZE);
  file.fill(0, file.size, { pattern: seed + 3 });
  return [
    { kind: "folio", name: "folio-state", pfn: folio },
    { kind: "pages", name: "ring", pfn: block + 3, nrPages: 300 },
    { kind: "vmalloc", name: "index", addr: vm + 123 },
    { kind: "memfd", name: "guest", file },
  ];
}

Deno.test("objects ABI: 96-byte entries round trip", () => {
  const recs: ObjectRecord[] = [{
    name: "a",
    kind: "vmalloc",
    order: 0,
    phys: 0,
    count: 8192,
    vm: new KhoVmalloc({ first: 0x5000, totalPages: 2, flags: 3, order: 0 }),
    hash: 0xfedcba9876543210n,
  }, {
    name: "b".repeat(47),
    kind: "folio",
    order: 18,
    phys: 2 ** 40,
    count: 0,
    vm: new KhoVmalloc({ first: 0, totalPages: 0, flags: 0, order: 0 }),
    hash: 1n,
  }];
  const bytes = encodeObjectsTable(recs);
  assert.equal(bytes.length, 16 + 2 * 96);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "KHLOBJS1");
  const back = decodeObjectsTable(bytes)!;
  assert.deepEqual(
    back.map((r) => ({ ...r, vm: { ...r.vm } })),
    recs.map((r) => ({ ...r, vm: { ...r.vm } })),
  );
  bytes[16 + 48] = 9; // unknown kind
  assert.equal(decodeObjectsTable(bytes), null);
});

Deno.test("objects: every kind is found by name and intact across 3 chained kexecs", () => {
  let k = boot();
  const specs = makeObjects(k, 7);
  const recs = preserveObjects(k, specs);
  assert.deepEqual(preservedObjects(k).map((r) => r.name), specs.map((s) => s.name));
  for (let step = 1; step <= 3; step++) {
    k = k.kexec();
    assert.deepEqual(incomingObjects(k).map((r) => r.name).sort(), recs.map((r) => r.name).sort());
    const one = restoreObject(k, "ring");
    assert.ok(one.intact);
    const rest = restoreObjects(k);
    assert.deepEqual(rest.map((r) => r.name).sort(), ["folio-state", "guest", "index"]);
    for (const o of [one, ...rest]) {
      assert.ok(o.intact, `step ${step}: ${o.name}`);
      assert.equal(o.hash, recs.find((r) => r.name === o.name)!.hash);
    }
    const get = (n: string) => rest.find((o) => o.name === n)!;
    assert.equal(k.vmalloc.findVmArea(get("index").handle)!.pageOrder, 9);
    assert.equal(get("guest").file!.folios.length, 64);
    assert.throws(() => restoreObject(k, "ring"), (e: KhoError) => e.code === "ENOENT");
    memfdFinish(k);
    assert.equal(k.log.warnings().length, 0, k.log.text());
    preserveObjects(k, [one, ...rest].map(respec));
  }
});

Deno.test("objects: content changed after preserve is reported, not hidden", () => {
  const k1 = boot();
  const specs = makeObjects(k1, 3);
  preserveObjects(k1, specs);
  const folio = (specs[0] as { pfn: number }).pfn;
  k1.machine.mem.writeU8(folio * PAGE_SIZE + 77, 0x42);
  const k2 = k1.kexec();
  const byName = new Map(restoreObjects(k2).map((o) => [o.name, o]));
  assert.equal(byName.get("folio-state")!.intact, false);
  assert.equal(byName.get("ring")!.intact, true);
  assert.ok(!k2.kho.incoming!.subtreeNames().includes("nope"));
  assert.ok(k2.kho.incoming!.subtreeNames().includes(OBJECTS_TABLE_NAME));
});

Deno.test("objects: errors undo the whole call; unpreserveObject drops one object", () => {
  const k = boot();
  const set = preservedSet(k);
  const fdt = k.kho.out!.root.bytes();
  const specs = makeObjects(k, 1);
  const folio = k.buddy.folioAlloc(2)!;
  assert.throws(
    () => preserveObjects(k, [...specs, { kind: "folio", name: "tail", pfn: folio + 1 }]),
    (e: KhoError) => e.code === "EINVAL",
  );
  assert.deepEqual(preservedSet(k), set);
  assert.deepEqual(k.kho.out!.root.bytes(), fdt);
  assert.throws(
    () => preserveObjects(k, [specs[0], { ...specs[0] }]),
    (e: KhoError) => e.code === "EEXIST",
  );
  preserveObjects(k, specs);
  assert.throws(() => preserveObjects(k, [specs[1]]), (e: KhoError) => e.code === "EEXIST");
  for (const s of specs) unpreserveObject(k, s.name);
  assert.deepEqual(preservedSet(k), set);
  assert.deepEqual(k.kho.out!.root.bytes(), fdt);
  assert.equal(preservedObjects(k).length, 0);
});

Deno.test("objects: fault injection at every allocation point of preserveObjects", () => {
  const k = boot();
  preserveObjects(k, [{ kind: "folio", name: "early", pfn: k.buddy.folioAlloc(0)! }]);
  const specs = makeObjects(k, 5);
  const set = preservedSet(k);
  const fdt = k.kho.out!.root.bytes();
  let points = 0;
  for (let nth = 1;; nth++) {
    const owned = k.kho.out!.tracker.ownedPagesPhys();
    const free = k.buddy.nrFreePages();
    k.faults.arm({ nth });
    let failed: unknown = null;
    try {
      preserveObjects(k, specs);
    } catch (e) {
      failed = e;
    }
    k.faults.disarm();
    if (failed === null) break;
    points++;
    assert.ok(failed instanceof KhoError && failed.code === "ENOMEM", `nth=${nth}: ${failed}`);
    assert.deepEqual(preservedSet(k), set, `nth=${nth}`);
    assert.deepEqual(k.kho.out!.root.bytes(), fdt, `nth=${nth}`);
    const kept = k.kho.out!.tracker.ownedPagesPhys().filter((p) => !owned.includes(p));
    assert.equal(free - k.buddy.nrFreePages(), kept.length, `nth=${nth}: pages leaked`);
    assert.deepEqual(preservedObjects(k).map((r) => r.name), ["early"]);
  }
  assert.ok(points >= 10, `${points} points`);
  const k2 = k.kexec();
  assert.ok(restoreObjects(k2).every((o) => o.intact));
});
