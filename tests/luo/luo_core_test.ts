import assert from "node:assert/strict";
import type { KhoError } from "../../lib/errors.ts";
import { Kernel } from "../../lib/boot/kernel.ts";
import { KernelPanic } from "../../lib/kernel/panic.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import type { ProfileName } from "../../lib/kho/profiles.ts";
import { FdtReader } from "../../lib/kho/fdt/reader.ts";
import {
  luoColdBoot,
  luoKexec,
  luoKexecCorrupted,
  luoMachine,
  PageFile,
} from "./support/luo_boot.ts";
import { flbPage, luoFdt, luoSer, readLuoSer } from "./support/model.ts";

const PANIC = "Kernel panic - not syncing: The incoming tree failed to initialize properly";

Deno.test("liveupdate=: off by default, on enables /dev/liveupdate; a bad value warns", () => {
  const m = luoMachine();
  const plain = Kernel.coldBoot(m);
  assert.equal(plain.liveupdate.enabled, false);
  assert.equal(plain.liveupdate.device, null);
  assert.throws(() => plain.liveupdate.open(), (e: KhoError) => e.code === "ENOENT");
  assert.throws(() => plain.kho.retrieveSubtree("LUO"), (e: KhoError) => e.code === "ENOENT");
  const bad = Kernel.coldBoot(luoMachine(), { cmdline: "liveupdate=maybe" });
  assert.equal(bad.liveupdate.enabled, false);
  assert.equal(bad.log.grep("liveupdate=maybe: not a boolean").length, 1);
  const on = Kernel.coldBoot(luoMachine(), { cmdline: "liveupdate=1" });
  assert.ok(on.liveupdate.enabled && on.liveupdate.device !== null);
  assert.equal(on.kho.out!.subtrees().find((s) => s.name === "LUO")?.size, 32);
});

Deno.test("KHO off: LUO is disabled with the kernel's message", () => {
  const k = Kernel.coldBoot(luoMachine(), { cmdline: "kho=off liveupdate=on" });
  assert.equal(k.liveupdate.enabled, false);
  assert.equal(k.log.grep("luo: Disabling liveupdate because KHO is disabled").length, 1);
  assert.throws(() => k.liveupdate.open(), (e: KhoError) => e.code === "ENOENT");
  assert.throws(
    () => k.liveupdate.registerFileHandler({} as never),
    (e: KhoError) => e.code === "EOPNOTSUPP",
  );
});

Deno.test("generations before 6.19 have no LUO: unsupported, and they say why", () => {
  for (const profile of ["kho-v1-6.16", "kho-v1-6.18", "rfc-v1-order-table"] as const) {
    const k = Kernel.coldBoot(luoMachine(), { profile, cmdline: "liveupdate=on" });
    assert.equal(k.liveupdate.gen, null);
    assert.equal(k.liveupdate.enabled, false);
    assert.throws(
      () => k.liveupdate.open(),
      (e: KhoError) =>
        e.code === "ENOENT" &&
        /has no Live Update Orchestrator: it arrived in 6\.19/.test(e.message),
    );
  }
});

/** The outgoing "LUO" blob equals the model, for every LUO generation. */
function checkBlob(k: Kernel, num: number): void {
  const gen = k.liveupdate.gen!;
  const sub = k.kho.out!.subtrees().find((s) => s.name === "LUO")!;
  const mem = k.machine.mem;
  if (gen.blob === "luo-ser") {
    const { flbsPa } = readLuoSer(mem, sub.phys);
    assert.equal(sub.size, 32);
    assert.deepEqual(mem.readBytes(sub.phys, 32), luoSer(num, 0, flbsPa));
    assert.deepEqual(mem.readBytes(flbsPa, 4096), flbPage([]));
    return;
  }
  const page = mem.readBytes(sub.phys, 4096);
  const dv = new DataView(page.buffer);
  const total = dv.getUint32(4, false);
  // The addresses are the allocator's: read them where the model puts them, then compare all.
  const sessionHeader = dv.getBigUint64(64 + 8 + 20 + 20 + 16 + 28 + 12, true);
  const flb = gen.flbCompat
    ? { compat: gen.flbCompat, header: dv.getBigUint64(64 + 116 + 12 + 24 + 12, true) }
    : null;
  const model = luoFdt(BigInt(num), gen.sessionCompat!, sessionHeader, flb);
  assert.deepEqual(page.subarray(0, total), model);
  if (k.profile.blobSize) assert.equal(sub.size, total);
  assert.ok(mem.readBytes(Number(sessionHeader), 8).every((b) => b === 0)); // count 0
  if (flb) assert.deepEqual(mem.readBytes(Number(flb.header), 4096), flbPage([]));
}

Deno.test("liveupdate_num + 1 on every boot; the LUO blob of each generation equals the model", () => {
  const profiles: ProfileName[] = ["kho-v1-6.19", "kho-v2", "kho-v3", "kho-v4"];
  for (const profile of profiles) {
    let b = luoColdBoot(luoMachine(), { profile });
    assert.equal(b.lu.liveupdateNum, 0);
    checkBlob(b.k, 1);
    for (let i = 1; i <= 3; i++) {
      b = luoKexec(b);
      assert.ok(b.k.kho.isKhoBoot, profile);
      assert.equal(b.lu.liveupdateNum, i, profile);
      assert.equal(b.k.log.grep(`Retrieved live update data, liveupdate number: ${i}`).length, 1);
      checkBlob(b.k, i + 1);
    }
  }
});

Deno.test("7.2: the incoming luo_ser page goes back to the allocator after early start-up", () => {
  const b1 = luoColdBoot(luoMachine());
  const pa = b1.k.kho.out!.subtrees().find((s) => s.name === "LUO")!.phys;
  const b2 = luoKexec(b1);
  // kho_restore_free took it: a second restore finds no KHO stamp (WARN, null).
  assert.equal(b2.k.kho.restoreFolio(pa), null);
  assert.ok(b2.k.buddy.isFree(pa / 4096) || b2.lu.outgoingPa === pa);
});

Deno.test("bad incoming LUO state panics the successor (luo_restore_fail), even with liveupdate off", () => {
  const cases: [ProfileName, string, (b: ReturnType<typeof luoColdBoot>) => void, RegExp][] = [
    ["kho-v4", "compatible", (b) => b.k.machine.mem.writeU8(b.lu.outgoingPa + 5, 0x34), /-EINVAL/],
    ["kho-v4", "count 0 in a session block", (b) => {
      const { sessionsPa } = readLuoSer(b.k.machine.mem, b.lu.outgoingPa);
      b.k.machine.mem.writeU64(sessionsPa + 8, 0);
    }, /-EINVAL/],
    ["kho-v4", "a session block cycle", (b) => {
      const { sessionsPa } = readLuoSer(b.k.machine.mem, b.lu.outgoingPa);
      b.k.machine.mem.writeU64(sessionsPa, sessionsPa);
    }, /-EINVAL/],
    ["kho-v3", "session node compatible", (b) => {
      const at = findBytes(b.k.machine.mem.readBytes(b.lu.outgoingPa, 4096), "luo-session-v2");
      b.k.machine.mem.writeU8(b.lu.outgoingPa + at + 13, 0x31);
    }, /-EINVAL/],
    ["kho-v3", "FDT magic", (b) => b.k.machine.mem.writeU32(b.lu.outgoingPa, 0), /-EINVAL/],
  ];
  for (const [profile, what, corrupt, errno] of cases) {
    for (const cmdline of ["liveupdate=on", "liveupdate=off"]) {
      const b = luoColdBoot(luoMachine(), { profile });
      b.lu.open().createSession("s");
      assert.throws(
        () => luoKexecCorrupted(b, () => corrupt(b), { cmdline }),
        (e: Error) =>
          e instanceof KernelPanic && e.message.startsWith(PANIC) && errno.test(e.message),
        `${profile}: ${what} (${cmdline})`,
      );
    }
  }
});

Deno.test("a session chain pointing outside RAM is an oops in the successor, not an exception", () => {
  const b = luoColdBoot(luoMachine());
  const dev = b.lu.open();
  for (let i = 0; i < 52; i++) dev.createSession(`s${i}`);
  assert.throws(
    () =>
      luoKexecCorrupted(b, () => {
        const { sessionsPa } = readLuoSer(b.k.machine.mem, b.lu.outgoingPa);
        b.k.machine.mem.writeU64(sessionsPa, 2 ** 44);
      }),
    (e: Error) => e instanceof KernelOops && e.fn === "kho_block_set_is_cyclic",
  );
});

Deno.test("a 7.1 → 7.2 live update: KHO refuses the handover, the LUO state is lost", () => {
  const b = luoColdBoot(luoMachine(), { profile: "kho-v3" });
  const s = b.lu.open().createSession("vm");
  s.preserveFd(PageFile.create(b.k, "guest"), 1);
  const b2 = luoKexec(b, { profile: "kho-v4" });
  assert.equal(b2.k.boot.revivalRefused, 'compat "kho-v3" does not match "kho-v4"');
  assert.equal(b2.k.log.grep("disabling KHO revival").length, 1);
  assert.equal(b2.lu.liveupdateNum, 0); // a fresh start: no incoming LUO
  assert.throws(() => b2.lu.open().retrieveSession("vm"), (e: KhoError) => e.code === "ENOENT");
});

Deno.test("6.19: liveupdate_reboot finalizes KHO; a finalize failure is EAGAIN and no kexec", () => {
  const b = luoColdBoot(luoMachine(), { profile: "kho-v1-6.19" });
  b.lu.open().createSession("a");
  b.lu.reboot();
  assert.ok(b.k.kho.out!.finalized);
  const b2 = luoColdBoot(luoMachine(), { profile: "kho-v1-6.19" });
  b2.lu.open().createSession("a");
  b2.k.faults.arm({ sites: ["khoser_mem_chunk"], nth: 1 });
  assert.throws(() => b2.k.kexec(), (e: KhoError) => e.code === "EAGAIN");
  b2.k.faults.disarm();
  assert.equal(b2.k.dead, false);
  assert.equal(b2.k.log.grep("luo: kho_finalize failed").length, 1);
});

function findBytes(hay: Uint8Array, s: string): number {
  const n = new TextEncoder().encode(s);
  for (let i = 0; i + n.length <= hay.length; i++) {
    if (n.every((b, j) => hay[i + j] === b)) return i;
  }
  throw new Error(`${s} not found`);
}

Deno.test("liveupdate_num (issue 18 §1): a u64 of 2^64 − 1 handed over wraps to 0 in the next state, as the kernel's u64 does (was RangeError le64)", () => {
  for (const profile of ["kho-v4", "kho-v3"] as const) {
    const b = luoColdBoot(luoMachine(), { profile });
    const b2 = luoKexecCorrupted(b, () => {
      const mem = b.k.machine.mem;
      if (profile === "kho-v4") mem.writeU64Big(b.lu.outgoingPa + 8, (1n << 64n) - 1n);
      else {
        // liveupdate-number: the first 8-byte property value after "luo-v1\0\0".
        const at = findBytes(mem.readBytes(b.lu.outgoingPa, 4096), "luo-v1") + 8 + 12;
        mem.writeU64Big(b.lu.outgoingPa + at, (1n << 64n) - 1n);
      }
    });
    assert.ok(b2.k.kho.isKhoBoot, profile);
    assert.equal(b2.lu.liveupdateNum, 2 ** 64, profile); // read as a number: approximately
    const sub = b2.k.kho.out!.subtrees().find((s) => s.name === "LUO")!;
    const mem = b2.k.machine.mem;
    const num = profile === "kho-v4"
      ? mem.readU64Big(sub.phys + 8)
      : mem.readU64Big(sub.phys + findBytes(mem.readBytes(sub.phys, 4096), "luo-v1") + 8 + 12);
    assert.equal(num, 0n, profile);
  }
});

Deno.test("the LUO FDT (6.19–7.1) is read through phys_to_virt: libfdt faults where it reads past RAM, and only there", () => {
  const b = luoColdBoot(luoMachine(), { profile: "kho-v3" });
  const mem = b.k.machine.mem;
  const ramEnd = b.k.machine.topology.endBytes;
  // The same FDT on the last page of RAM: it fits, the successor reads it as before.
  const fdt = mem.readBytes(b.lu.outgoingPa, 4096);
  const total = new DataView(fdt.buffer).getUint32(4);
  // The last page of RAM, preserved (else the successor poisons it as free memory).
  b.k.kho.preservePages(ramEnd / 4096 - 1, 1);
  const b2 = luoKexecCorrupted(b, () => {
    mem.writeBytes(ramEnd - 4096, fdt);
    pointLuoAt(b.k, ramEnd - 4096);
  });
  assert.ok(b2.k.kho.isKhoBoot);
  assert.ok(total < 4096);
  // Its strings block moved 8 KiB on: the compatible's name lies past RAM.
  const c = luoColdBoot(luoMachine(), { profile: "kho-v3" });
  const moved = c.k.machine.mem.readBytes(c.lu.outgoingPa, 4096);
  const dv = new DataView(moved.buffer);
  dv.setUint32(4, 8192 + dv.getUint32(32));
  dv.setUint32(12, 8192);
  c.k.kho.preservePages(ramEnd / 4096 - 1, 1);
  assert.throws(
    () =>
      luoKexecCorrupted(c, () => {
        c.k.machine.mem.writeBytes(ramEnd - 4096, moved);
        pointLuoAt(c.k, ramEnd - 4096);
      }),
    (e: Error) => e instanceof KernelOops && e.fn === "luo_early_startup" && e.address === ramEnd,
  );
});

/** Points the outgoing root FDT's "LUO" node at `phys` (the value bytes, in place). */
function pointLuoAt(k: Kernel, phys: number): void {
  const root = k.kho.out!.root.phys;
  const page = k.machine.mem.readBytes(root, 4096);
  const rd = new FdtReader(page);
  const v = rd.getprop(rd.subnodeOffset(0, "LUO"), "preserved-data")!;
  k.machine.mem.writeU64(root + v.byteOffset - page.byteOffset, phys);
}
