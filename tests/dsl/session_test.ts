import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { Session } from "../../lib/dsl/session.ts";

const clock = new ManualClock();

Deno.test("a session keeps its state across programs, as the REPL does", () => {
  const s = new Session({ file: "<repl>", clock });
  const ev = new Evaluator(s);
  ev.runText("machine ram=1G", "<repl:1>");
  ev.runText("a = folios order=2 count=2", "<repl:2>");
  ev.runText("preserve a", "<repl:3>");
  ev.runText("kexec\nrestore a", "<repl:4>");
  assert.equal(s.kernel!.bootIndex, 1);
  assert.equal(s.objects.get("a")!.state, "restored");
  // A second evaluator on the same session sees the same world.
  new Evaluator(s).runText("verify a");
  assert.equal(s.stats.verifyOk, 1);
});

Deno.test("output goes to listeners; shown items keep their HTML for listeners that take it", () => {
  const s = new Session({ clock });
  const lines: string[] = [];
  const shown: string[] = [];
  const stop = s.listen({ line: (l) => lines.push(l), show: (x) => shown.push(x.html ?? "") });
  const plain: string[] = [];
  s.listen({ line: (l) => plain.push(l) });
  s.print("one\ntwo");
  s.show({ text: "t1\nt2", html: "<b>t</b>" });
  stop();
  s.print("three");
  assert.deepEqual(lines, ["one", "two"]);
  assert.deepEqual(shown, ["<b>t</b>"]);
  assert.deepEqual(plain, ["one", "two", "t1", "t2", "three"]);
  assert.deepEqual(s.output, ["one", "two", "t1", "t2", "three"]);
});

Deno.test("rollback runs every undo, last first, and reports the ones that could not run", () => {
  const s = new Session({ clock });
  const order: number[] = [];
  s.begin();
  s.onUndo(() => order.push(1));
  s.onUndo(() => {
    throw new Error("cannot");
  });
  s.onUndo(() => order.push(3));
  assert.deepEqual(s.rollback(), ["cannot"]);
  assert.deepEqual(order, [3, 1]);
  s.begin();
  s.onUndo(() => order.push(9));
  s.commit();
  assert.deepEqual(s.rollback(), []);
  assert.deepEqual(order, [3, 1]);
});

Deno.test("kernel reserve_mem=: the region is an object, revived with its content, verified by name", () => {
  const s = new Session({ clock });
  const ev = new Evaluator(s);
  ev.runText("machine ram=2G\nkernel reserve_mem=8M:4K:trace\nverify trace");
  const before = s.objects.get("trace")!;
  assert.deepEqual([before.kind, before.state, before.revived], ["reserve_mem", "reserved", false]);
  ev.runText("kexec\nverify trace\nexpect trace.revived && verify.ok == 2");
  assert.equal(s.stats.expectFailed, 0);
  const after = s.objects.get("trace")!;
  assert.equal(after.phys[0], before.phys[0]);
  assert.ok(s.kernel!.memblock.isRegionReserved(after.phys[0], after.bytes));
  // The kernel owns it: no preserve, free or restore by the script.
  assert.throws(() => ev.runText("free trace"), /trace is a reserve_mem= region/);
  // Changed content is caught.
  s.machine!.mem.fill(after.phys[0] + 4096, 1, { byte: 0x5a });
  ev.runText("kexec\nverify trace");
  assert.equal(s.stats.verifyFailed, 1);
});

Deno.test("kernel reserve_mem=: a region revived outside RAM from corrupt bytes (6.19 keeps it, as the kernel does) fails verify, never an exception (issue 18 §1)", () => {
  const s = new Session({ clock });
  const ev = new Evaluator(s);
  ev.runText("machine ram=1G\nprofile kho-v1-6.19\nkernel reserve_mem=1M:4K:trace\nverify trace");
  const k1 = s.kernel!;
  const sub = k1.kho.out!.subtrees().find((t) => t.name === "memblock")!;
  const page = k1.machine.mem.readBytes(sub.phys, 4096);
  const at = page.findIndex((_, i) =>
    new TextDecoder().decode(page.subarray(i, i + 6)) === "start\0"
  );
  assert.ok(at > 0);
  // The start property's value: the 8 bytes after the record that names it (found by value).
  const start = k1.reserveMem.regions[0].start;
  const dv = new DataView(page.buffer);
  for (let i = 0; i + 8 <= 4096; i += 4) {
    if (dv.getBigUint64(i, true) === BigInt(start)) dv.setBigUint64(i, 1n << 40n, true);
  }
  k1.machine.mem.writeBytes(sub.phys, page);
  ev.runText("kexec\nverify trace");
  assert.equal(s.kernel!.reserveMem.regions[0].start, 2 ** 40);
  assert.equal(s.stats.verifyFailed, 1);
});

Deno.test("assign sets the world's fields and a rollback of the command puts them back", () => {
  const s = new Session({ file: "<repl>", clock });
  new Evaluator(s).runText(
    "machine ram=1G\nprofile kho-v1-6.19\na = folios order=0 count=1",
    "<repl:1>",
  );
  assert.notEqual(s.machine, null);
  const before = { machine: s.machine, bootProfile: s.bootProfile, objects: s.objects };
  assert.equal(before.bootProfile, "kho-v1-6.19");
  s.begin();
  s.assign({ machine: null, bootProfile: "kho-v4", objects: new Map() });
  assert.equal(s.machine, null);
  assert.equal(s.bootProfile, "kho-v4");
  assert.deepEqual(s.rollback(), []);
  assert.equal(s.machine, before.machine);
  assert.equal(s.bootProfile, before.bootProfile);
  assert.equal(s.objects, before.objects);
  // committed, it stays
  s.begin();
  s.assign({ nextProfile: "kho-v4" });
  s.commit();
  assert.equal(s.nextProfile, "kho-v4");
});
