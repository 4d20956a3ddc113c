/**
 * The memfd file model (lib/clients/memfd.ts): shmem page-cache semantics, seals, the freeze,
 * hugetlb files, and `memfd_pin_folios` (holes allocated, folios migrated out of CMA).
 */

import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { MIGRATE_CMA } from "../../lib/kernel/gfp.ts";
import {
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
} from "../../lib/kho/abi/memfd.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import {
  HUGETLB_FOLIO_SITE,
  memfdCreate,
  PIN_MIGRATE_SITE,
  SHMEM_FOLIO_SITE,
} from "../../lib/clients/memfd.ts";

const code = (c: string) => (e: unknown) => e instanceof KhoError && e.code === c;
const text = (s: string) => new TextEncoder().encode(s);

function boot(gib = 4): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: gib * GiB, nodes: 1 }));
}

Deno.test("write allocates uptodate dirty folios; holes and fallocated folios read as zeros", () => {
  const k = boot();
  const free0 = k.buddy.nrFreePages();
  const f = memfdCreate(k, "a");
  assert.equal(f.size, 0);
  assert.equal(f.seals, F_SEAL_SEAL, "no MFD_ALLOW_SEALING: F_SEAL_SEAL from the start");
  f.write(2 * PAGE_SIZE + 10, text("hello"));
  assert.equal(f.size, 2 * PAGE_SIZE + 15);
  assert.deepEqual(f.folios().map((x) => [x.index, x.order, x.uptodate, x.dirty]), [
    [2, 0, true, true],
  ]);
  // The rest of a newly written folio is zeroed (shmem_write_end), holes read as zeros.
  const all = f.read(0, f.size);
  assert.equal(new TextDecoder().decode(all.subarray(2 * PAGE_SIZE + 10)), "hello");
  assert.ok(all.subarray(0, 2 * PAGE_SIZE + 10).every((b) => b === 0));
  f.fallocate(0, PAGE_SIZE);
  const fa = f.folioAt(0)!;
  assert.deepEqual([fa.uptodate, fa.dirty], [false, false]);
  k.machine.mem.fill(fa.pfn * PAGE_SIZE, PAGE_SIZE, { byte: 0xaa });
  assert.ok(f.read(0, PAGE_SIZE).every((b) => b === 0), "not uptodate: zeros, whatever the bytes");
  assert.equal(f.read(f.size - 2, 100).length, 2, "a short read at i_size");
  assert.equal(f.allocedPages, 2);
  f.close();
  assert.ok(f.released);
  assert.equal(k.buddy.nrFreePages(), free0, "the last reference frees every folio");
  assert.throws(() => f.read(0, 1), code("EBADF"));
});

Deno.test("THP order: 2 MiB folios where they fit, order 0 beside existing ones; order ≤ 9", () => {
  const k = boot();
  const f = memfdCreate(k, "thp", { folioOrder: 9 });
  f.write(PAGE_SIZE, text("x"));
  f.fill(2 * MiB, 2 * MiB, { pattern: 3 });
  assert.deepEqual(f.folios().map((x) => [x.index, x.order]), [[0, 9], [512, 9]]);
  const g = memfdCreate(k, "mixed", { folioOrder: 9 });
  g.write(3 * PAGE_SIZE, text("y")); // order 9 folio at 0
  g.ftruncate(PAGE_SIZE * 2); // shrinks into the folio: it stays, its tail zeroed
  assert.deepEqual(g.folios().map((x) => [x.index, x.order]), [[0, 9]]);
  assert.ok(g.read(0, 2 * PAGE_SIZE).every((b) => b === 0));
  assert.throws(() => memfdCreate(k, "pud", { folioOrder: 18 }), code("EINVAL"));
  assert.throws(() => memfdCreate(k, "n".repeat(250)), code("EINVAL"));
});

Deno.test("seals: F_ADD_SEALS rules and the operations each seal refuses", () => {
  const k = boot();
  const f = memfdCreate(k, "s", { allowSealing: true });
  f.write(0, text("data"));
  f.addSeals(F_SEAL_SHRINK);
  assert.throws(() => f.ftruncate(1), code("EPERM"));
  f.ftruncate(PAGE_SIZE); // growing is still allowed
  f.addSeals(F_SEAL_GROW);
  assert.throws(() => f.write(PAGE_SIZE, text("!")), code("EPERM"));
  assert.throws(() => f.fallocate(0, 2 * PAGE_SIZE), code("EPERM"));
  f.fallocate(0, PAGE_SIZE, { keepSize: true });
  f.write(1, text("A")); // inside the size
  f.addSeals(F_SEAL_FUTURE_WRITE);
  assert.throws(() => f.write(1, text("B")), code("EPERM"));
  assert.throws(() => f.addSeals(0x40), code("EINVAL"));
  f.addSeals(F_SEAL_SEAL | F_SEAL_WRITE);
  assert.throws(() => f.addSeals(F_SEAL_GROW), code("EPERM"));
  assert.equal(f.seals, 0x1f);
  assert.equal(new TextDecoder().decode(f.read(0, 4)), "dAta");
  const sealed = memfdCreate(k, "no-sealing");
  assert.throws(() => sealed.addSeals(F_SEAL_WRITE), code("EPERM"));
});

Deno.test("shmem_freeze: the size cannot change while LUO holds the file", () => {
  const k = boot();
  const f = memfdCreate(k, "frozen");
  f.fill(0, 3 * PAGE_SIZE, { pattern: 1 });
  f.freeze(true);
  assert.throws(() => f.ftruncate(PAGE_SIZE), code("EPERM"));
  assert.throws(() => f.write(3 * PAGE_SIZE, text("grow")), code("EPERM"));
  assert.throws(() => f.fallocate(0, 4 * PAGE_SIZE), code("EPERM"));
  f.write(0, text("inside")); // writes within the size go on
  f.freeze(false);
  f.ftruncate(PAGE_SIZE);
  assert.equal(f.size, PAGE_SIZE);
});

Deno.test("ENOMEM undoes the whole call: fallocate and write allocate all or nothing", () => {
  const k = boot();
  const f = memfdCreate(k, "enomem");
  f.write(0, text("keep"));
  const free0 = k.buddy.nrFreePages();
  k.faults.arm({ nth: 3, sites: [SHMEM_FOLIO_SITE] });
  assert.throws(() => f.fallocate(0, 8 * PAGE_SIZE), code("ENOMEM"));
  assert.equal(f.size, 4);
  assert.equal(f.folios().length, 1);
  assert.equal(k.buddy.nrFreePages(), free0);
  k.faults.arm({ nth: 2, sites: [SHMEM_FOLIO_SITE] });
  assert.throws(() => f.fill(0, 5 * PAGE_SIZE, { byte: 9 }), code("ENOMEM"));
  assert.equal(new TextDecoder().decode(f.read(0, 4)), "keep");
  assert.equal(k.buddy.nrFreePages(), free0);
});

Deno.test("hugetlb memfds: huge folios of 2 MiB or 1 GiB from the pool, huge-aligned sizes", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 1 }), {
    cmdline: "hugepagesz=1G hugepages=1 hugepagesz=2M hugepages=2",
  });
  const pool = k.hugetlb.hstate(18)!;
  const h = memfdCreate(k, "huge", { hugetlb: GiB });
  assert.ok(h.hugetlb);
  assert.throws(() => h.ftruncate(MiB), code("EINVAL"));
  h.fallocate(0, GiB);
  assert.deepEqual(h.folios().map((x) => [x.index, x.order]), [[0, 18]]);
  h.fill(0, GiB, { pattern: 5 });
  const h2 = memfdCreate(k, "huge2", { hugetlb: 2 * MiB });
  h2.write(0, text("z"));
  assert.deepEqual(h2.folios().map((x) => x.order), [9]);
  assert.throws(() => memfdCreate(k, "bad", { hugetlb: 4 * MiB }), code("EINVAL"));
  k.faults.arm({ nth: 1, sites: [HUGETLB_FOLIO_SITE] });
  assert.throws(() => h2.fallocate(2 * MiB, 2 * MiB), code("ENOMEM"));
  // The pool is empty: hugetlbfs has no other source (no surplus pages configured).
  const h3 = memfdCreate(k, "huge3", { hugetlb: GiB });
  assert.throws(() => h3.fallocate(0, GiB), code("ENOSPC"));
  assert.deepEqual([pool.nrHugePages, pool.freeHugePages], [1, 0]);
  const free0 = k.buddy.nrFreePages();
  h.close();
  // The folio goes back to the pool, not to the buddy allocator.
  assert.deepEqual([pool.nrHugePages, pool.freeHugePages], [1, 1]);
  assert.equal(k.buddy.nrFreePages(), free0);
});

Deno.test("memfd_pin_folios: holes allocated zeroed and uptodate, every folio pinned", () => {
  const k = boot();
  const f = memfdCreate(k, "pin");
  f.write(0, text("first"));
  f.ftruncate(3 * PAGE_SIZE);
  const pinned = f.pinFolios();
  assert.deepEqual(pinned.map((x) => [x.index, x.pins, x.uptodate, x.dirty]), [
    [0, 1, true, true],
    [1, 1, true, false],
    [2, 1, true, false],
  ]);
  assert.equal(new TextDecoder().decode(f.read(0, 5)), "first");
  assert.ok(f.read(PAGE_SIZE, 2 * PAGE_SIZE).every((b) => b === 0));
  pinned.forEach((x) => f.unpinFolio(x));
  assert.ok(f.folios().every((x) => x.pins === 0));
});

Deno.test("memfd_pin_folios on a KHO kernel: shmem folios in scratch are migrated out", () => {
  // Fill ordinary memory so that shmem's movable allocations fall back to CMA (scratch).
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 * GiB, nodes: 1 }), {
    cmdline: "kho=on kho_scratch=256M",
    memmapBytesPerPage: 0,
  });
  const hog: [number, number][] = [];
  for (let order = 10; order >= 0; order--) {
    for (;;) {
      const p = k.buddy.allocPages(order, { gfp: { noWarn: true } });
      if (p === null) break;
      hog.push([p, order]);
    }
  }
  const f = memfdCreate(k, "scratch", { folioOrder: 9 });
  f.fill(0, 8 * MiB, { pattern: 9 });
  const before = f.folios().map((x) => k.buddy.getPageblockMigratetype(x.pfn));
  assert.ok(before.every((mt) => mt === MIGRATE_CMA), "movable folios landed in scratch");
  const content = f.read(0, 8 * MiB);
  // No room outside CMA: the pin fails with ENOMEM, its pins dropped.
  assert.throws(() => f.pinFolios(), code("ENOMEM"));
  assert.ok(f.folios().every((x) => x.pins === 0));
  for (const [p, order] of hog.splice(0, 8)) k.buddy.freePages(p, order);
  k.faults.arm({ nth: 2, sites: [PIN_MIGRATE_SITE] });
  assert.throws(() => f.pinFolios(), code("ENOMEM"));
  const pinned = f.pinFolios();
  assert.ok(pinned.every((x) => k.buddy.getPageblockMigratetype(x.pfn) !== MIGRATE_CMA));
  assert.deepEqual(f.read(0, 8 * MiB), content, "the bytes moved with the folios");
});

Deno.test("fallocate: an exception part-way frees the folios allocated so far", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 * GiB }), { memmapBytesPerPage: 0 });
  const free = k.buddy.nrFreePages();
  const b = k.buddy as unknown as Record<string, unknown>;
  const orig = (b.allocPages as (...a: unknown[]) => unknown).bind(k.buddy);
  let calls = 0;
  b.allocPages = (...a: unknown[]) => {
    if (++calls === 50) throw new RangeError("Invalid array length");
    return orig(...a);
  };
  const f = memfdCreate(k, "guest");
  assert.throws(() => f.fallocate(0, 64 * MiB), /Invalid array length/);
  b.allocPages = orig;
  assert.equal(f.folios().length, 0);
  assert.equal(k.buddy.nrFreePages(), free);
});
