import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import type { ProfileName } from "../../lib/kho/profiles.ts";
import { LuoBlockedError } from "../../lib/luo/luo_internal.ts";
import { luoColdBoot, luoKexec, luoMachine, PageFile } from "./support/luo_boot.ts";

const code = (c: string) => (e: KhoError) => e instanceof KhoError && e.code === c;
const LUO_PROFILES: ProfileName[] = ["kho-v1-6.19", "kho-v2", "kho-v3", "kho-v4"];

Deno.test("/dev/liveupdate is exclusive: a second open is EBUSY until the first is closed", () => {
  const b = luoColdBoot(luoMachine());
  const fd = b.lu.open();
  assert.throws(() => b.lu.open(), code("EBUSY"));
  fd.close();
  assert.throws(() => fd.createSession("x"), code("EBADF"));
  b.lu.open().close();
});

Deno.test("CREATE_SESSION: EEXIST for a duplicate, EINVAL for an empty name or 64 bytes without NUL", () => {
  for (const profile of LUO_PROFILES) {
    const b = luoColdBoot(luoMachine(), { profile });
    const fd = b.lu.open();
    fd.createSession("dup");
    assert.throws(() => fd.createSession("dup"), code("EEXIST"), profile);
    assert.throws(() => fd.createSession(""), code("EINVAL"));
    assert.throws(() => fd.createSession(new Uint8Array(64).fill(0x61)), code("EINVAL"));
    assert.throws(() => fd.createSession("a".repeat(64)), code("EINVAL"));
    // Bytes after a NUL are not part of the name.
    assert.throws(() => fd.createSession(new TextEncoder().encode("dup\0tail")), code("EEXIST"));
    assert.equal(b.lu.sessions!.outgoing.length, 1);
  }
});

Deno.test("a name of 63 bytes round-trips across kexec; RETRIEVE_SESSION: ENOENT, then EINVAL the second time", () => {
  for (const profile of LUO_PROFILES) {
    const name = "n".repeat(62) + "!";
    const b = luoColdBoot(luoMachine(), { profile });
    const s = b.lu.open().createSession(name);
    assert.equal(s.state, "created");
    const b2 = luoKexec(b);
    const fd = b2.lu.open();
    assert.throws(() => fd.retrieveSession("other"), code("ENOENT"));
    const r = fd.retrieveSession(name);
    assert.equal(r.name, name);
    assert.equal(r.state, "retrieved");
    if (profile === "kho-v4") assert.equal(r.getName(), name);
    else assert.throws(() => r.getName(), code("EINVAL")); // no GET_NAME before 7.2
    assert.throws(() => fd.retrieveSession(name), code("EINVAL"));
  }
});

Deno.test("PRESERVE_FD: ENOENT without a handler, EEXIST for a token, EBADF, EBUSY for the same file twice (7.0 on)", () => {
  for (const profile of LUO_PROFILES) {
    const b = luoColdBoot(luoMachine(), { profile });
    const fd = b.lu.open();
    const s1 = fd.createSession("one");
    const s2 = fd.createSession("two");
    assert.throws(() => s1.preserveFd({ path: "/dev/null" }, 1), code("ENOENT"));
    const f = PageFile.create(b.k, "hello kexec world");
    s1.preserveFd(f, 0x1a);
    assert.throws(() => s1.preserveFd(PageFile.create(b.k, "x"), 0x1a), code("EEXIST"));
    assert.throws(() => s1.preserveFd(null, 2), code("EBADF"));
    if (b.lu.gen!.doublePreserveCheck) {
      assert.throws(() => s1.preserveFd(f, 2), code("EBUSY"), profile);
      assert.throws(() => s2.preserveFd(f, 2), code("EBUSY"), profile);
    } else {
      s2.preserveFd(f, 2); // 6.19 has no luo_preserved_files check
    }
    assert.throws(() => s1.preserveFd(f, -1), RangeError);
    assert.throws(() => s1.preserveFd(f, 1n << 64n), RangeError);
    assert.equal(s1.files().length, 1);
    assert.equal(s1.files()[0].state, "preserved");
  }
});

Deno.test("session ioctls check the session's direction: PRESERVE_FD outgoing, RETRIEVE_FD and FINISH incoming", () => {
  const b = luoColdBoot(luoMachine());
  const out = b.lu.open().createSession("s");
  out.preserveFd(PageFile.create(b.k, "x"), 7n);
  assert.throws(() => out.retrieveFd(7), code("EINVAL"));
  assert.throws(() => out.finish(), code("EINVAL"));
  const b2 = luoKexec(b);
  const inc = b2.lu.open().retrieveSession("s");
  assert.throws(() => inc.preserveFd(PageFile.create(b2.k, "y"), 8), code("EINVAL"));
  assert.throws(() => inc.retrieveFd(8), code("ENOENT"));
  assert.equal((inc.retrieveFd(7) as PageFile).text(), "x");
  inc.close();
  assert.throws(() => inc.finish(), code("EBADF"));
});

Deno.test("7.2: after liveupdate_reboot the session subsystem is frozen — every session call blocks", () => {
  const b = luoColdBoot(luoMachine());
  const fd = b.lu.open();
  const s = fd.createSession("s");
  b.lu.reboot();
  assert.equal(s.state, "frozen");
  assert.throws(() => fd.createSession("t"), (e: Error) => e instanceof LuoBlockedError);
  assert.throws(() => s.preserveFd(PageFile.create(b.k, "x"), 1), LuoBlockedError);
  // The direction check comes first: a wrong-direction ioctl still gets EINVAL.
  assert.throws(() => s.finish(), code("EINVAL"));
  assert.throws(() => s.close(), LuoBlockedError); // the release blocks (the fd is gone)
  // 7.1 has no such lock: sessions can still be created after serialization.
  const b71 = luoColdBoot(luoMachine(), { profile: "kho-v3" });
  const fd71 = b71.lu.open();
  fd71.createSession("s");
  b71.lu.reboot();
  fd71.createSession("t");
});

Deno.test("file states: preserved → frozen at reboot → deserialized → retrieved; sessions: created → frozen → deserialized → retrieved → finished", () => {
  const b = luoColdBoot(luoMachine());
  const dev = b.lu.open();
  const s = dev.createSession("s");
  s.preserveFd(PageFile.create(b.k, "a"), 1);
  s.preserveFd(PageFile.create(b.k, "b"), 2);
  const b2 = luoKexec(b);
  const fd = b2.lu.open();
  const inc = b2.lu.sessions!.incoming;
  assert.deepEqual(inc.map((x) => x.state), ["deserialized"]);
  const r = fd.retrieveSession("s");
  assert.deepEqual(r.files().map((f) => f.state), ["deserialized", "deserialized"]);
  r.retrieveFd(2);
  assert.deepEqual(r.files().map((f) => [f.token, f.state]), [[1n, "deserialized"], [
    2n,
    "retrieved",
  ]]);
  r.finish();
  assert.equal(r.state, "finished");
  assert.equal(r.files().length, 0);
  r.close();
  assert.equal(r.state, "closed");
  assert.equal(b2.lu.sessions!.incoming.length, 0);
});
