import assert from "node:assert/strict";
import { KernelLog } from "../../lib/kernel/dmesg.ts";

Deno.test("printk levels, WARN and WARN_ON_ONCE per call site", () => {
  const log = new KernelLog();
  log.info("KHO", "hello");
  log.warn("kho_preserve_folio", "overlaps scratch");
  log.warn("kho_preserve_folio", "overlaps scratch");
  log.warnOnOnce("kho_restore_page", "bad magic");
  log.warnOnOnce("kho_restore_page", "bad magic");
  assert.equal(log.warnings().length, 3);
  assert.equal(log.warnings("kho_restore_page").length, 1);
  assert.equal(log.grep(/overlaps scratch/).length, 2);
  assert.match(log.text(), /KHO: hello/);
  assert.match(log.text(), /WARNING: at kho_restore_page: bad magic/);
});

Deno.test("the ring buffer drops the oldest lines", () => {
  const log = new KernelLog(3);
  for (let i = 0; i < 5; i++) log.info("", `line ${i}`);
  assert.deepEqual(log.entries().map((e) => e.text), ["line 2", "line 3", "line 4"]);
  assert.equal(log.entries()[0].seq, 2);
});
