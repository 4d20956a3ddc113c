import assert from "node:assert/strict";
import { ERRNO, FDT_ERR, FdtError, KernelBug, KhoError, PhysRangeError } from "../lib/errors.ts";
import { KernelLog } from "../lib/kernel/dmesg.ts";
import { KernelPanic } from "../lib/kernel/panic.ts";
import { KernelOops } from "../lib/kernel/oops.ts";
import { LuoBlockedError } from "../lib/luo/luo_internal.ts";
import { TrackerCorruptionError } from "../lib/kho/trackers/corruption.ts";
import { KhoHangError } from "../lib/kho/trackers/xarray.ts";
import { Kernel } from "../lib/boot/kernel.ts";
import { Machine } from "../lib/machine/machine.ts";
import { reserveMemPrepareKho } from "../lib/boot/reserve_mem.ts";

Deno.test("error policy: KhoError carries every errno's name and number", () => {
  for (const [code, errno] of Object.entries(ERRNO)) {
    const e = new KhoError(code as keyof typeof ERRNO, "detail");
    assert.equal(e.name, "KhoError");
    assert.equal(e.code, code);
    assert.equal(e.errno, errno);
    assert.equal(e.message, `${code}: detail`);
  }
});

Deno.test("error policy: FdtError carries libfdt's negative return value", () => {
  for (const [code, n] of Object.entries(FDT_ERR)) {
    const e = new FdtError(code as keyof typeof FDT_ERR);
    assert.equal(e.name, "FdtError");
    assert.equal(e.fdtErrno, -n);
    assert.equal(e.message, code);
  }
});

Deno.test("error policy: one class per kind, none mistaken for another", () => {
  const log = new KernelLog();
  const kinds: [Error, string][] = [
    [new KhoError("EINVAL", "x"), "KhoError"],
    [new PhysRangeError(2 ** 40, 4096), "PhysRangeError"],
    [new KernelBug("VM_BUG_ON_PAGE(PageCompound(page)) at pfn 1"), "KernelBug"],
    [new KernelPanic("out of scratch", log), "KernelPanic"],
    [new KhoHangError(0x2010, 1, 7), "KhoHangError"],
    [new KernelOops({ address: 2 ** 45, fn: "kho_block_set_is_cyclic" }, log), "KernelPanic"],
    [new LuoBlockedError("luo_session_create"), "LuoBlockedError"],
    [new FdtError("FDT_ERR_BADMAGIC"), "FdtError"],
    [
      new TrackerCorruptionError("memory map", {
        ok: false,
        error: "chunk-cycle",
        stopped: 0,
        blocks: 0,
        rejected: 0,
      }),
      "TrackerCorruptionError",
    ],
  ];
  for (const [e, name] of kinds) assert.equal(e.name, name);
  const [kho, phys, bug, panic, hang, oops, blocked, fdt, corrupt] = kinds.map(([e]) => e);
  // What the kernel returns: only KhoError and the tracker corruption (EINVAL) carry an errno.
  assert.ok(corrupt instanceof KhoError && (corrupt as KhoError).code === "EINVAL");
  for (const e of [phys, bug, panic, hang, oops, blocked, fdt]) {
    assert.ok(!(e instanceof KhoError), e.name);
  }
  // Misuse of the simulator: RangeError; nothing else is one.
  assert.ok(phys instanceof RangeError);
  for (const e of [kho, bug, panic, hang, oops, blocked, fdt, corrupt]) {
    assert.ok(!(e instanceof RangeError), e.name);
  }
  // An oops is a panic; the dead kernel's log ends with it.
  assert.ok(oops instanceof KernelPanic && oops instanceof KernelOops);
  assert.ok(!(panic instanceof KernelOops));
  assert.match(
    log.entries().at(-1)!.text,
    /^Kernel panic - not syncing: Fatal exception in kho_block/,
  );
});

Deno.test("error policy: misuse of the simulator's API is a RangeError", () => {
  const machine = new Machine({ ramBytes: 2 ** 32, nodes: 1 });
  const k1 = Kernel.coldBoot(machine, { poison: false });
  k1.kexec();
  assert.throws(
    () => k1.kexec(),
    (e) => e instanceof RangeError && /replaced by kexec/.test(e.message),
  );
  assert.throws(() => machine.mem.readBytes(2 ** 33, 8), PhysRangeError);
  const k = Kernel.coldBoot(machine, { cmdline: "reserve_mem=8M:2M:trace", poison: false });
  // The boot prepared the regions' hand-over (reserve_mem_init); preparing again is misuse.
  assert.throws(
    () => reserveMemPrepareKho(k),
    (e) => e instanceof RangeError && /already/.test(e.message),
  );
});

Deno.test("error policy: lib/ throws a plain Error only for the host or an internal: check", () => {
  const allowed = [/^`?internal: /, /little-endian host/, /sweep worker failed/, /drew no <svg>/];
  const bad: string[] = [];
  const walk = (dir: URL) => {
    for (const entry of Deno.readDirSync(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) walk(url);
      else if (entry.name.endsWith(".ts")) {
        const text = Deno.readTextFileSync(url);
        for (const m of text.matchAll(/throw new Error\(\s*["'`]([^"'`]*)/g)) {
          if (!allowed.some((re) => re.test(m[1]))) bad.push(`${url.pathname}: ${m[1]}`);
        }
      }
    }
  };
  walk(new URL("../lib/", import.meta.url));
  assert.deepEqual(bad, []);
});
