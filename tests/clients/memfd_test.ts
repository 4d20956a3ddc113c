import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { decodeFolioSer, encodeFolioSer } from "../../lib/kho/abi/memfd.ts";
import {
  encodeMemfdTable,
  MEMFD_TABLE_NAME,
  readMemfdTable,
} from "../../lib/clients/memfd_table.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import {
  incomingMemfds,
  MEMFD_SER_ARRAY_SITE,
  memfdClose,
  memfdCreate,
  memfdFinish,
  preservedMemfds,
  preserveMemfd,
  restoreMemfd,
  unpreserveMemfd,
} from "../../lib/clients/memfd.ts";

function boot(): Kernel {
  return Kernel.coldBoot(new Machine({ ramBytes: 8 * GiB, nodes: 2 }));
}

function preservedSet(k: Kernel): string[] {
  const out: string[] = [];
  k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
  return out.sort();
}

Deno.test("memfd ABI: packed folio records and the session table", () => {
  const r = { pfn: 2 ** 52 - 1, flags: 3, index: 2 ** 40 + 5 };
  const b = encodeFolioSer(r);
  assert.equal(b[6], 0x3f, "flags 3 in bits 52..53: byte 6 = 0x30 | pfn bits 48..51");
  assert.equal(b[7], 0);
  assert.deepEqual(decodeFolioSer(b), r);
  assert.deepEqual(
    [...encodeFolioSer({ pfn: 0x12345, flags: 2, index: 7 })],
    [0x45, 0x23, 0x01, 0, 0, 0, 0x20, 0, 7, 0, 0, 0, 0, 0, 0, 0],
  );
  const t = encodeMemfdTable([{ name: "vm-a", ser: 0x1234000 }, { name: "vm-b", ser: 0x5000 }]);
  assert.equal(t.length, 16 + 2 * 80);
  assert.equal(new TextDecoder().decode(t.subarray(0, 8)), "KHLMEMFD");
  assert.throws(() => encodeMemfdTable([{ name: "x".repeat(64), ser: 1 }]), RangeError);
});

Deno.test("memfd: 4 KiB files survive two kexecs by name with content, index and flags", () => {
  let k = boot();
  const a = memfdCreate(k, "vm-a", 300 * PAGE_SIZE + 17);
  const b = memfdCreate(k, "vm-b", 2 * MiB);
  a.fill(0, a.size, { pattern: 11 });
  b.writeBytes(5, new TextEncoder().encode("hello"));
  a.pos = 1234;
  const ha = a.hash64(), hb = b.hash64();
  const flagsB = b.folios.map((f) => f.flags);
  preserveMemfd(k, a);
  preserveMemfd(k, b);
  assert.deepEqual(preservedMemfds(k), ["vm-a", "vm-b"]);
  for (let step = 1; step <= 2; step++) {
    k = k.kexec();
    assert.deepEqual(incomingMemfds(k).sort(), ["vm-a", "vm-b"]);
    const a2 = restoreMemfd(k, "vm-a");
    const b2 = restoreMemfd(k, "vm-b");
    assert.equal(a2.hash64(), ha);
    assert.equal(b2.hash64(), hb);
    assert.equal(a2.size, 300 * PAGE_SIZE + 17);
    assert.equal(a2.pos, 1234);
    assert.equal(new TextDecoder().decode(b2.readBytes(5, 5)), "hello");
    assert.deepEqual(b2.folios.map((f) => f.flags), flagsB);
    assert.deepEqual(a2.folios.map((f) => f.index), a2.folios.map((_, i) => i));
    assert.throws(() => restoreMemfd(k, "vm-a"), (e: KhoError) => e.code === "ENOENT");
    assert.deepEqual(memfdFinish(k), []);
    assert.equal(k.log.warnings().length, 0, k.log.text());
    preserveMemfd(k, a2);
    preserveMemfd(k, b2);
  }
});

Deno.test("memfd: EBUSY for a second preserve, EEXIST for a second file of the same name", () => {
  const k = boot();
  const a = memfdCreate(k, "dup", 4 * PAGE_SIZE);
  preserveMemfd(k, a);
  const set = preservedSet(k);
  assert.throws(() => preserveMemfd(k, a), (e: KhoError) => e.code === "EBUSY");
  const other = memfdCreate(k, "dup", PAGE_SIZE);
  assert.throws(() => preserveMemfd(k, other), (e: KhoError) => e.code === "EEXIST");
  assert.deepEqual(preservedSet(k), set);
  assert.throws(() => memfdClose(a), (e: KhoError) => e.code === "EBUSY");
});

Deno.test("memfd: unpreserve restores the preserved set; finish drops files nobody retrieved", () => {
  const k = boot();
  const set = preservedSet(k);
  const fdt = k.kho.out!.root.bytes();
  const a = memfdCreate(k, "a", 40 * PAGE_SIZE);
  const b = memfdCreate(k, "b", 8 * PAGE_SIZE);
  preserveMemfd(k, a);
  preserveMemfd(k, b);
  unpreserveMemfd(k, a);
  unpreserveMemfd(k, b);
  assert.deepEqual(preservedSet(k), set);
  assert.deepEqual(k.kho.out!.root.bytes(), fdt);
  preserveMemfd(k, b);
  const k2 = k.kexec();
  assert.deepEqual(incomingMemfds(k2), ["b"]);
  const free = k2.buddy.nrFreePages();
  assert.deepEqual(memfdFinish(k2), ["b"]);
  assert.ok(k2.buddy.nrFreePages() >= free + 8 + 1, "folios, ser and table went back");
  assert.deepEqual(incomingMemfds(k2), []);
  assert.ok(!k2.kho.incoming!.subtreeNames().includes("x"));
  assert.ok(k2.kho.incoming!.subtreeNames().includes(MEMFD_TABLE_NAME));
});

Deno.test("memfd: fault injection at every allocation point of preserve undoes everything", () => {
  const k = boot();
  const first = memfdCreate(k, "first", 3 * PAGE_SIZE);
  preserveMemfd(k, first); // so the table swap path runs too
  // 700 folios: a 11 KiB record array, hence 3 pages + one chunk, many radix nodes.
  const f = memfdCreate(k, "guest", 700 * PAGE_SIZE, { nid: 1 });
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
    try {
      preserveMemfd(k, f);
    } catch (e) {
      failed = e;
    }
    k.faults.disarm();
    if (failed === null) break;
    points++;
    for (const [s, c] of k.faults.sites) if (c !== calls.get(s)) sites.add(s);
    assert.ok(failed instanceof KhoError && failed.code === "ENOMEM", `nth=${nth}: ${failed}`);
    assert.deepEqual(preservedSet(k), set, `nth=${nth}`);
    assert.deepEqual(k.kho.out!.root.bytes(), fdt, `nth=${nth}`);
    const kept = k.kho.out!.tracker.ownedPagesPhys().filter((p) => !owned.includes(p));
    assert.equal(free - k.buddy.nrFreePages(), kept.length, `nth=${nth}: pages leaked`);
    assert.deepEqual(preservedMemfds(k), ["first"]);
  }
  for (
    const s of ["kho_alloc_preserve", MEMFD_SER_ARRAY_SITE, "kho_vmalloc_chunk", "kho_radix_node"]
  ) {
    assert.ok(sites.has(s), `${s} not reached: ${[...sites].join(", ")}`);
  }
  assert.ok(points >= 6, `${points} points`);
  const k2 = k.kexec();
  assert.equal(restoreMemfd(k2, "guest").folios.length, 700);
  const table = k2.kho.retrieveSubtree(MEMFD_TABLE_NAME);
  assert.deepEqual(
    readMemfdTable(k2.machine.mem, table.phys, table.size!)!.map((e) => e.name),
    ["first", "guest"],
  );
});

Deno.test("memfd: a 1 TiB guest in 1008 × 1 GiB folios survives kexec with its checksum", () => {
  // 1088 GiB of RAM in 2 nodes: the guest's 1008 GiB plus the kernel's struct pages (64 B
  // per 4 KiB page = 17 GiB, 8.5 GiB per node) and scratch. A real 1 TiB host cannot give
  // 1008 GiB to one guest AND hold 16 GiB of struct pages + 200 % scratch (the default would
  // take 68 GiB here and leave room for only 1000 gigantic folios). So the machine gets the
  // extra RAM and the command line sizes scratch explicitly: 256 MiB low, 1 GiB global and
  // 10 GiB per node, enough for the successor's 8.5 GiB memmap per node.
  const machine = new Machine({ ramBytes: 1088 * GiB, nodes: 2 });
  const k1 = Kernel.coldBoot(machine, { cmdline: "kho_scratch=256M,1G,10G" });
  const half = 504 * GiB;
  const guest = memfdCreate(k1, "guest-1t", 1008 * GiB, { folioOrder: 18 });
  assert.equal(guest.folios.length, 1008);
  const nodes = new Set(guest.folios.map((f) => machine.topology.nidOfPfn(f.pfn)));
  assert.equal(nodes.size, 2);
  guest.fill(0, half, { pattern: 0x600d });
  guest.fill(half, half, { pattern: 0xbeef });
  guest.writeBytes(1008 * GiB - 8, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  const hash = guest.hash64();
  preserveMemfd(k1, guest);
  const k2 = k1.kexec();
  assert.ok(k2.kho.isKhoBoot);
  const back = restoreMemfd(k2, "guest-1t");
  assert.equal(back.folios.length, 1008);
  assert.equal(back.folioOrder, 18);
  assert.equal(back.hash64(), hash);
  assert.deepEqual([...back.readBytes(1008 * GiB - 8, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(k2.log.warnings().length, 0, k2.log.text());
});

Deno.test("memfdCreate: an exception part-way frees the folios allocated so far", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 * GiB }), { memmapBytesPerPage: 0 });
  const free = k.buddy.nrFreePages();
  const b = k.buddy as unknown as Record<string, unknown>;
  const orig = (b.allocPages as (...a: unknown[]) => unknown).bind(k.buddy);
  let calls = 0;
  b.allocPages = (...a: unknown[]) => {
    if (++calls === 50) throw new RangeError("Invalid array length");
    return orig(...a);
  };
  assert.throws(() => memfdCreate(k, "guest", 64 * MiB), /Invalid array length/);
  b.allocPages = orig;
  assert.equal(k.buddy.nrFreePages(), free);
});
