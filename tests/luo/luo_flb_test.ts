import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { flbIncomingEarly, type FlbOpArgs, type LiveUpdateFlb } from "../../lib/luo/luo_flb.ts";
import {
  luoColdBoot,
  luoKexec,
  luoMachine,
  PageFile,
  PageFileHandler,
} from "./support/luo_boot.ts";
import { flbPage } from "./support/model.ts";

const code = (c: string) => (e: KhoError) => e instanceof KhoError && e.code === c;

/** A test FLB whose shared state is a number handed over as its data. */
class CounterFlb implements LiveUpdateFlb {
  readonly calls = { preserve: 0, unpreserve: 0, retrieve: 0, finish: 0 };
  constructor(readonly compatible: string, readonly value: number) {}
  preserve(a: FlbOpArgs): void {
    this.calls.preserve++;
    a.data = this.value;
    a.obj = { value: this.value };
  }
  unpreserve(_a: FlbOpArgs): void {
    this.calls.unpreserve++;
  }
  retrieve(a: FlbOpArgs): void {
    this.calls.retrieve++;
    a.obj = { value: a.data };
  }
  finish(_a: FlbOpArgs): void {
    this.calls.finish++;
  }
}

Deno.test("FLB: preserved with the first dependent file, unpreserved with the last; serialized page equals the model", () => {
  for (const profile of ["kho-v3", "kho-v4"] as const) {
    const b = luoColdBoot(luoMachine(), { profile, handler: false });
    const flb = new CounterFlb("kholab-test-flb-v1", 0xabc000);
    const idle = new CounterFlb("kholab-idle-flb-v1", 1);
    b.lu.registerFileHandler(b.fh);
    b.lu.registerFlb(b.fh, idle);
    b.lu.registerFlb(b.fh, flb);
    const other = new PageFileHandler(b.k, "other-v1");
    b.lu.registerFileHandler(other);
    const dev = b.lu.open();
    const gone = dev.createSession("gone");
    gone.preserveFd(PageFile.create(b.k, "x"), 1);
    gone.close();
    assert.deepEqual(flb.calls, { preserve: 1, unpreserve: 1, retrieve: 0, finish: 0 });
    const s = dev.createSession("s");
    for (let i = 0; i < 3; i++) s.preserveFd(PageFile.create(b.k, `f${i}`), i);
    assert.equal(flb.calls.preserve, 2);
    assert.deepEqual(b.lu.flbGetOutgoing(flb), { value: 0xabc000 });
    b.lu.reboot();
    // Registration order, only FLBs with dependent files: idle (3 files) and test (3 files).
    assert.deepEqual(
      b.k.machine.mem.readBytes(b.lu.flb!.outgoingPa, 4096),
      flbPage([
        { name: "kholab-idle-flb-v1", data: 1, count: 3 },
        { name: "kholab-test-flb-v1", data: 0xabc000, count: 3 },
      ]),
    );

    const k2 = b.k.kexec();
    const fh2 = new PageFileHandler(k2);
    const flb2 = new CounterFlb("kholab-test-flb-v1", 0);
    const lu2 = k2.liveupdate;
    lu2.registerFileHandler(fh2);
    lu2.registerFlb(fh2, flb2);
    const r = lu2.open().retrieveSession("s");
    assert.deepEqual(lu2.flbGetIncoming(flb2), { value: 0xabc000 });
    assert.equal(lu2.flbGetIncoming(flb2), lu2.flbGetIncoming(flb2));
    assert.equal(flb2.calls.retrieve, 1);
    r.retrieveFd(0);
    r.finish(); // three files: the count goes 3 → 0 and the FLB is finished once
    assert.equal(flb2.calls.finish, 1);
    assert.throws(() => lu2.flbGetIncoming(flb2), code("ENODATA"));
  }
});

Deno.test("FLB never retrieved in the successor: its u64 count wraps at the first finish and it is never finished", () => {
  const b = luoColdBoot(luoMachine(), { handler: false });
  b.lu.registerFileHandler(b.fh);
  b.lu.registerFlb(b.fh, new CounterFlb("kholab-test-flb-v1", 5));
  b.lu.open().createSession("s").preserveFd(PageFile.create(b.k, "x"), 1);
  const k2 = b.k.kexec();
  const fh2 = new PageFileHandler(k2);
  const flb2 = new CounterFlb("kholab-test-flb-v1", 0);
  k2.liveupdate.registerFileHandler(fh2);
  k2.liveupdate.registerFlb(fh2, flb2);
  k2.liveupdate.open().retrieveSession("s").finish();
  assert.deepEqual(flb2.calls, { preserve: 0, unpreserve: 0, retrieve: 0, finish: 0 });
});

Deno.test("FLB registration: EINVAL, EEXIST, ENOSPC at 64; EOPNOTSUPP in 6.19; ENOENT/ENODATA lookups", () => {
  const b = luoColdBoot(luoMachine());
  const flb = new CounterFlb("a", 1);
  assert.throws(() => b.lu.registerFlb(new PageFileHandler(b.k, "nobody"), flb), code("EINVAL"));
  assert.equal(b.k.log.warnings("liveupdate_register_flb").length, 1);
  const broken = { compatible: "broken", preserve() {}, unpreserve() {}, retrieve() {} };
  assert.throws(() => b.lu.registerFlb(b.fh, broken as unknown as LiveUpdateFlb), code("EINVAL"));
  b.lu.registerFlb(b.fh, flb);
  assert.throws(() => b.lu.registerFlb(b.fh, flb), code("EEXIST"));
  assert.throws(() => b.lu.registerFlb(b.fh, new CounterFlb("a", 2)), code("EEXIST"));
  for (let i = 1; i < 63; i++) b.lu.registerFlb(b.fh, new CounterFlb(`f${i}`, i));
  assert.throws(() => b.lu.registerFlb(b.fh, new CounterFlb("f63", 63)), code("ENOSPC"));
  // An FLB may serve several handlers without counting twice.
  const other = new PageFileHandler(b.k, "other-v1");
  b.lu.registerFileHandler(other);
  b.lu.registerFlb(other, flb);
  assert.throws(() => b.lu.unregisterFileHandler(other), code("EBUSY"));
  // A cold boot has no incoming FLB page.
  assert.throws(() => b.lu.flbGetIncoming(flb), code("ENODATA"));

  const b19 = luoColdBoot(luoMachine(), { profile: "kho-v1-6.19" });
  assert.throws(() => b19.lu.registerFlb(b19.fh, new CounterFlb("x", 1)), code("EOPNOTSUPP"));

  // Incoming, but this FLB was not handed over.
  const b2 = luoKexec(luoColdBoot(luoMachine()));
  const absent = new CounterFlb("absent", 0);
  b2.lu.registerFlb(b2.fh, absent);
  assert.throws(() => b2.lu.flbGetIncoming(absent), code("ENOENT"));
});

Deno.test("liveupdate_flb_incoming_early: an FLB's data and count read from the handed-over bytes before LUO starts, in the luo-v1 FDT and the luo-v5 eras", () => {
  for (const profile of ["kho-v3", "kho-v4"] as const) {
    const b = luoColdBoot(luoMachine(), { profile, handler: false });
    b.lu.registerFileHandler(b.fh);
    b.lu.registerFlb(b.fh, new CounterFlb("kholab-early-flb-v1", 0x5a000));
    const s = b.lu.open().createSession("s");
    s.preserveFd(PageFile.create(b.k, "x"), 1);
    s.preserveFd(PageFile.create(b.k, "y"), 2);
    b.lu.reboot();
    // The outgoing state as the successor's early boot reads it (no LUO object involved).
    const blob = b.k.kho.out!.subtrees().find((x) => x.name === "LUO")!;
    const host = {
      mem: b.k.machine.mem,
      isRam: (p: number, n: number) => b.k.machine.topology.isRam(p, n),
      retrieveSubtree: (name: string) => {
        if (name !== "LUO") throw new KhoError("ENOENT", name);
        return { phys: blob.phys, size: blob.size };
      },
    };
    const gen = b.k.profile.luo!.blob;
    assert.deepEqual(flbIncomingEarly(host, gen, "kholab-early-flb-v1"), {
      data: 0x5a000,
      count: 2,
    });
    assert.equal(flbIncomingEarly(host, gen, "hugetlb-v1"), null);
    const none = {
      ...host,
      retrieveSubtree: () =>
        (() => {
          throw new KhoError("ENOENT", "LUO");
        })(),
    };
    assert.equal(flbIncomingEarly(none, gen, "kholab-early-flb-v1"), null, "not a live update");
  }
});
