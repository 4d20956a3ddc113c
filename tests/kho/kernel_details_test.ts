/**
 * Smaller differences from the kernel source, each fixed and shown here against the kernel
 * function it follows (issue 15 §7).
 */
import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import type { KhoError } from "../../lib/errors.ts";
import { allocGigantic } from "../../lib/kernel/gigantic.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { CMA_MIN_ALIGNMENT_BYTES, GiB, MiB, PAGE_SIZE } from "../../lib/units.ts";
import { FdtReader } from "../../lib/kho/fdt/reader.ts";
import { requireTool } from "../support/system_tools.ts";
import { type Op, runLibfdt, toHex } from "./fdt/replay_support.ts";

const machine = () => new Machine({ ramBytes: 8 * GiB, nodes: 2 });

Deno.test("kho_preserve_pages(page, 0) and 6.16's kho_preserve_phys(phys, 0) return 0 and preserve nothing", () => {
  // The split loop `while (pfn < end_pfn)` never runs (S-7.1c, S-6.16c).
  const k = Kernel.coldBoot(machine());
  const pfn = k.buddy.allocPages(0)!;
  const before = k.kho.out!.tracker.ownedPagesPhys().length;
  k.kho.preservePages(pfn, 0);
  assert.equal(k.kho.out!.isPreserved(pfn, 0), false);
  assert.equal(k.kho.out!.tracker.ownedPagesPhys().length, before);
  const k16 = Kernel.coldBoot(machine(), { profile: "kho-v1-6.16" });
  k16.kho.preservePhys(0x40000000, 0);
  // …but an unaligned address is still EINVAL (the PAGE_ALIGNED check comes first).
  assert.throws(() => k16.kho.preservePhys(0x40000001, 0), (e: KhoError) => e.code === "EINVAL");
});

Deno.test("kho_alloc_preserve with kho=off: EINVAL through kho_preserve_folio's NULL-root WARN", () => {
  const k = Kernel.coldBoot(machine(), { cmdline: "kho=off" });
  assert.throws(() => k.kho.allocPreserve(100), (e: KhoError) => e.code === "EINVAL");
  assert.equal(k.log.warnings("kho_preserve_folio").length, 1);
});

Deno.test("kho_retrieve_subtree on an FDT that became corrupt: ENOENT for any negative fdt_subnode_offset, never a libfdt error", () => {
  const k1 = Kernel.coldBoot(machine());
  const blob = k1.kho.allocPreserve(64);
  k1.kho.addSubtree("blob", blob, 64);
  const k2 = k1.kexec();
  assert.deepEqual(k2.kho.retrieveSubtree("blob"), { phys: blob, size: 64 });
  // The successor's memory is its own to scribble on: break the FDT's magic.
  const fdtPhys = k2.kho.incoming!.fdtPhys;
  k2.machine.mem.writeU32(fdtPhys, 0x12345678);
  assert.throws(
    () => k2.kho.retrieveSubtree("blob"),
    (e: KhoError) => e.code === "ENOENT" && /FDT_ERR_BADMAGIC/.test(e.message),
  );
  assert.deepEqual(k2.kho.incoming!.subtreeNames(), []);
  // A truncated structure block (totalsize cut short): libfdt's probe fails too.
  k2.machine.mem.writeU32(fdtPhys, 0xd00dfeed);
  k2.machine.mem.writeU32(fdtPhys + 4, 0x40000000); // totalsize beyond the 4 KiB mapping
  assert.throws(() => k2.kho.retrieveSubtree("blob"), (e: KhoError) => e.code === "ENOENT");
});

Deno.test("6.16's kho_restore_folio returns NULL for an order above MAX_PAGE_ORDER", () => {
  // S-6.16c: `order = page->private; if (order) { if (order > MAX_PAGE_ORDER) return NULL; … }`
  const k1 = Kernel.coldBoot(machine(), { profile: "kho-v1-6.16" });
  const giant = allocGigantic(k1.buddy, 18, 0)!;
  const f10 = k1.buddy.folioAlloc(10)!;
  k1.kho.preserveFolio(giant);
  k1.kho.preserveFolio(f10);
  const k2 = k1.kexec();
  assert.equal(k2.kho.restoreFolio(giant * PAGE_SIZE), null);
  assert.equal(k2.log.warnings().length, 0, "no warning: a plain NULL");
  assert.equal(k2.kho.restoreFolio(f10 * PAGE_SIZE), f10);
});

Deno.test("kho_scratch=: a 0 size is allocated and recorded at a real address; +50% is kstrtouint's; 6.16 rejects any 0 size", () => {
  // memblock_phys_alloc_range(0, …) finds an address (top-down below 4 GiB) and reserves nothing.
  const k = Kernel.coldBoot(machine(), { cmdline: "kho_scratch=0,512M,256M" });
  const [low] = k.boot.scratch;
  assert.equal(low.size, 0);
  assert.ok(low.addr > 0 && low.addr < 2 ** 32 && low.addr % CMA_MIN_ALIGNMENT_BYTES === 0);
  assert.ok(!k.memblock.reservedRegions().some((r) => r.size === 0), "nothing reserved for it");
  // The successor inherits it as it is; memblock_add of 0 bytes adds nothing.
  const k2 = k.kexec();
  assert.ok(k2.kho.isKhoBoot);
  assert.deepEqual(k2.boot.scratch[0], low);
  // kstrtouint accepts a leading '+' (and 10 characters at most before '%').
  const plus = Kernel.coldBoot(machine(), { cmdline: "kho_scratch=+50%" });
  const fifty = Kernel.coldBoot(machine(), { cmdline: "kho_scratch=50%" });
  assert.deepEqual(plus.boot.scratch.map((a) => a.size), fifty.boot.scratch.map((a) => a.size));
  assert.equal(plus.log.grep("using defaults").length, 0);
  // 6.16: `if (!sizes[i] || endp == p) return -EINVAL` — the defaults (200%) are used instead.
  const k16 = Kernel.coldBoot(machine(), {
    profile: "kho-v1-6.16",
    cmdline: "kho_scratch=0,512M,256M",
  });
  assert.equal(k16.log.grep("kho_scratch=0,512M,256M: bad size").length, 1);
  assert.ok(k16.boot.scratch[0].size > 0);
  // …and 6.16 ignores what follows the third size; later kernels want it consumed.
  const trail = (profile: "kho-v1-6.16" | "kho-v4") =>
    Kernel.coldBoot(machine(), { profile, cmdline: "kho_scratch=16M,512M,256Mxyz" });
  assert.equal(trail("kho-v1-6.16").boot.scratch[0].size, 16 * MiB);
  assert.equal(trail("kho-v4").log.grep('trailing "xyz"').length, 1);
});

Deno.test("scratch per online node (6.16–6.19): a memoryless node fails the reservation and disables KHO; 7.0 skips it", () => {
  const G = GiB;
  // Node 2 is online and has no memory.
  const m = () =>
    new Machine({
      ramBytes: 8 * G,
      nodes: 3,
      ranges: [{ start: 0, end: 4 * G, nid: 0 }, { start: 4 * G, end: 8 * G, nid: 1 }],
    });
  const k19 = Kernel.coldBoot(m(), { profile: "kho-v1-6.19" });
  assert.equal(k19.kho.enabled, false);
  assert.equal(k19.log.grep("Failed to reserve scratch area (node 2)").length, 1);
  const k70 = Kernel.coldBoot(m(), { profile: "kho-v2" });
  assert.ok(k70.kho.enabled);
  assert.equal(k70.boot.scratch.length, 2 + 2); // nodes_weight(N_MEMORY) + 2
});

Deno.test("kho_remove_subtree re-packs the root even when nothing is removed (fdt_open_into + fdt_pack)", async () => {
  // kho-v2 (7.0) has no kexec-metadata: its root FDT is still in kho_out_fdt_setup's
  // sequential-write layout (off_mem_rsvmap 48) until the first edit re-lays it (40).
  const k = Kernel.coldBoot(machine(), { profile: "kho-v2" });
  const before = k.kho.out!.root.bytes();
  assert.equal(new FdtReader(before).header("offMemRsvmap"), 48);
  k.kho.removeSubtree(0xdead000); // no such blob
  const after = k.kho.out!.root.bytes();
  assert.equal(new FdtReader(after).header("offMemRsvmap"), 40);
  assert.notDeepEqual(after, before);
  // kho-v4 added kexec-metadata at init: its root is already re-laid, a no-op stays a no-op.
  const k4 = Kernel.coldBoot(machine());
  const b4 = k4.kho.out!.root.bytes();
  k4.kho.removeSubtree(0xdead000);
  assert.deepEqual(k4.kho.out!.root.bytes(), b4);
  if (!requireTool("libfdt")) return;
  const le = (v: number) => toHex(new Uint8Array(new BigUint64Array([BigInt(v)]).buffer));
  const ops: Op[] = [
    ["create", PAGE_SIZE, false],
    ["finish_reservemap"],
    ["begin_node", ""],
    ["property", "compatible", toHex(new TextEncoder().encode("kho-v2\0"))],
    ["property", "preserved-memory-map", le(k.kho.out!.tracker.handoverRoot())],
    ["end_node"],
    ["finish"],
    ["open_into", PAGE_SIZE],
    ["pack"],
  ];
  const [want] = await runLibfdt([{ ops }]) as { buf: string; totalsize: number }[];
  assert.equal(toHex(after), want.buf.slice(0, 2 * want.totalsize));
});
