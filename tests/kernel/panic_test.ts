import assert from "node:assert/strict";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { KernelPanic } from "../../lib/kernel/panic.ts";

Deno.test("KernelPanic: the kernel's panic line, logged at err level in the dying boot's log", () => {
  const log = new KernelLog();
  const p = new KernelPanic("no scratch", log);
  assert.equal(p.name, "KernelPanic");
  assert.equal(p.message, "Kernel panic - not syncing: no scratch");
  assert.equal(p.log, log);
  const last = log.entries().at(-1)!;
  assert.equal(last.level, "err");
  assert.equal(last.text, p.message);
});
