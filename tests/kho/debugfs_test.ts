import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { khoOutDebugfs, parseScratchDebugfs, scratchDebugfsText } from "../../lib/kho/debugfs.ts";
import { Machine } from "../../lib/machine/machine.ts";

const boot = (profile: string) =>
  Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile: profile as "kho-v4" });

Deno.test("debugfs: scratch_phys and scratch_len print one 0x%llx line per area, and parse back", () => {
  const areas = [{ addr: 0xfbe00000, size: 0x4000000 }, { addr: 0, size: 0 }];
  const t = scratchDebugfsText(areas);
  assert.equal(t.phys, "0xfbe00000\n0x0\n");
  assert.equal(t.len, "0x4000000\n0x0\n");
  assert.deepEqual(parseScratchDebugfs(t.phys, t.len), areas);
  assert.throws(() => parseScratchDebugfs("0x1\n", "0x1\n0x2\n"), /1 areas, scratch_len 2/);
  assert.throws(() => parseScratchDebugfs("12\n", "0x1\n"), /scratch_phys:1: expected 0x%llx/);
});

Deno.test("debugfs: which files exist follows the generation", () => {
  const v4 = boot("kho-v4");
  const a = khoOutDebugfs(v4.kho.out!, v4.machine.mem);
  assert.deepEqual(a.files.map((f) => f.path), [
    "kho/out/scratch_phys",
    "kho/out/scratch_len",
    "kho/out/fdt",
    "kho/out/sub_fdts/kexec-metadata",
  ]);
  // kho-v3 on: the blob is blob-size bytes; the root FDT is what the successor will read.
  assert.equal(a.files[3].bytes.length, v4.kho.out!.subtrees()[0].size);
  assert.deepEqual(a.files[2].bytes, v4.kho.out!.root.bytes());
  assert.ok(a.notes.some((n) => /never updates it/.test(n)));

  const old = boot("kho-v1-6.16");
  const before = khoOutDebugfs(old.kho.out!, old.machine.mem);
  assert.deepEqual(before.files.map((f) => f.path), [
    "kho/out/scratch_phys",
    "kho/out/scratch_len",
    "kho/out/finalize",
  ]);
  assert.equal(new TextDecoder().decode(before.files[2].bytes), "0\n");
  assert.match(before.notes[0], /builds its root FDT at finalize/);
  old.kho.finalize();
  const after = khoOutDebugfs(old.kho.out!, old.machine.mem);
  assert.ok(after.files.some((f) => f.path === "kho/out/fdt"));
  assert.equal(new TextDecoder().decode(after.files[2].bytes), "1\n");

  const rfc = boot("rfc-v1-order-table");
  assert.match(khoOutDebugfs(rfc.kho.out!, rfc.machine.mem).notes[0], /kho_commit_fdt/);

  // 6.19 keeps its root FDT from kho_init; a sub-tree's file is its fdt_totalsize.
  const k = boot("kho-v1-6.19");
  const blob = k.kho.allocPreserve(4096);
  const w = new Uint8Array(4096);
  w.set([0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 64]);
  k.machine.mem.writeBytes(blob, w);
  k.kho.addSubtree("t", blob, 4096);
  const f = khoOutDebugfs(k.kho.out!, k.machine.mem).files;
  assert.equal(f.find((x) => x.path === "kho/out/sub_fdts/t")!.bytes.length, 64);
});

Deno.test("debugfs: a kernel booted by KHO shows no kho/out/fdt from 7.0 on (noted)", () => {
  const k1 = boot("kho-v4");
  const k2 = k1.kexec();
  const d = khoOutDebugfs(k2.kho.out!, k2.machine.mem, { khoBoot: k2.kho.isKhoBoot });
  assert.ok(d.notes.some((n) => /booted by KHO has no kho\/out\/fdt/.test(n)));
  assert.ok(d.files.some((f) => f.path === "kho/out/fdt"), "the tree is still written");
});
