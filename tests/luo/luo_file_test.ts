import assert from "node:assert/strict";
import { KhoError } from "../../lib/errors.ts";
import { type AbiProfile, getProfile } from "../../lib/kho/profiles.ts";
import { PAGE_SIZE } from "../../lib/units.ts";
import {
  luoColdBoot,
  luoKexec,
  luoMachine,
  PageFile,
  PageFileHandler,
} from "./support/luo_boot.ts";

const code = (c: string) => (e: KhoError) => e instanceof KhoError && e.code === c;

function handedOver(profile: "kho-v3" | "kho-v4" | AbiProfile = "kho-v4") {
  const b = luoColdBoot(luoMachine(), { profile });
  const s = b.lu.open().createSession("s");
  const files = [PageFile.create(b.k, "one"), PageFile.create(b.k, "two")];
  files.forEach((f, i) => s.preserveFd(f, i + 1));
  const b2 = luoKexec(b);
  const r = b2.lu.open().retrieveSession("s");
  return { b, b2, r, files };
}

Deno.test("RETRIEVE_FD: the same file twice; a failed retrieve leaves retrieved false and a retry calls the handler again (6.19–7.2)", () => {
  const { b2, r } = handedOver();
  const f1 = r.retrieveFd(1);
  assert.equal(r.retrieveFd(1), f1);
  assert.equal(b2.fh.calls.retrieve, 1);
  b2.fh.failRetrieve = () => true;
  assert.throws(() => r.retrieveFd(2), code("EIO"));
  assert.deepEqual(r.files().map((f) => f.state), ["retrieved", "failed"]);
  b2.fh.failRetrieve = () => false;
  const f2 = r.retrieveFd(2) as PageFile;
  assert.equal(f2.text(), "two");
  assert.equal(b2.fh.calls.retrieve, 3, "no retrieve_status: the retry reached the handler");
  assert.deepEqual(r.files().map((f) => f.state), ["retrieved", "retrieved"]);
});

Deno.test("RETRIEVE_FD with retrieve_status (linux-mm): a failed retrieve's error is kept", () => {
  const v4 = getProfile("kho-v4");
  const { b2, r } = handedOver({ ...v4, luo: { ...v4.luo!, retrieveStatus: true } });
  b2.fh.failRetrieve = () => true;
  assert.throws(() => r.retrieveFd(2), code("EIO"));
  b2.fh.failRetrieve = () => false;
  assert.throws(() => r.retrieveFd(2), code("EIO"), "the cached error, no second attempt");
  assert.equal(b2.fh.calls.retrieve, 1);
  assert.deepEqual(r.files().map((f) => f.state), ["deserialized", "failed"]);
});

Deno.test("FINISH: can_finish vetoes with EBUSY and nothing changes; finish without retrieve discards the state", () => {
  const { b2, r, files } = handedOver();
  const mine = r.retrieveFd(2) as PageFile;
  b2.fh.busy = true;
  assert.throws(() => r.finish(), code("EBUSY"));
  assert.equal(r.files().length, 2);
  assert.equal(b2.fh.calls.finish, 0);
  b2.fh.busy = false;
  r.finish();
  assert.equal(b2.fh.calls.finish, 2);
  // The unretrieved file's page was restored and freed by its handler; the retrieved one stays
  // with its new owner.
  assert.ok(b2.k.buddy.isFree(files[0].pfn));
  assert.equal(mine.text(), "two");
  assert.ok(!b2.k.buddy.isFree(files[1].pfn));
  r.finish(); // nothing left: 0
  assert.equal(b2.fh.calls.finish, 2);
});

Deno.test("closing a retrieved session finishes it; closing an outgoing session unpreserves its files", () => {
  const { b2, r } = handedOver();
  r.close();
  assert.equal(b2.fh.calls.finish, 2);
  assert.equal(b2.lu.sessions!.incoming.length, 0);

  const b = luoColdBoot(luoMachine());
  const dev = b.lu.open();
  const s = dev.createSession("s");
  const f = PageFile.create(b.k, "x");
  s.preserveFd(f, 1);
  assert.ok(b.k.kho.out!.isPreserved(f.pfn, 0));
  const blocks = s.session.files.blockSet!;
  assert.equal(blocks.nblocks, 1);
  const blk = blocks.blocks()[0];
  s.close();
  assert.equal(b.fh.calls.unpreserve, 1);
  assert.equal(b.k.kho.out!.isPreserved(f.pfn, 0), false);
  assert.ok(b.k.buddy.isFree(blk / PAGE_SIZE));
  // The file is no longer preserved anywhere: another session may take it.
  dev.createSession("t").preserveFd(f, 1);
});

Deno.test("6.19–7.1: the 2-page file block is allocated by the first preserve and freed with the last file", () => {
  const b = luoColdBoot(luoMachine(), { profile: "kho-v3" });
  const s = b.lu.open().createSession("s");
  assert.equal(s.session.files.filesPa, 0);
  assert.throws(() => s.preserveFd({ not: "a page file" }, 1), code("ENOENT"));
  assert.equal(s.session.files.filesPa, 0, "freed again when no file made it");
  s.preserveFd(PageFile.create(b.k, "x"), 1);
  const pa = s.session.files.filesPa;
  assert.ok(pa !== 0 && b.k.kho.out!.isPreserved(pa / PAGE_SIZE, 1)); // order 1: 8 KiB
  s.close();
  assert.equal(b.k.kho.out!.isPreserved(pa / PAGE_SIZE, 1), false);
});

Deno.test("PRESERVE_FD rolls back on every injected allocation failure: blocks, preserved pages, file set as before", () => {
  for (const profile of ["kho-v3", "kho-v4"] as const) {
    const b = luoColdBoot(luoMachine(), { profile });
    const s = b.lu.open().createSession("s");
    for (let i = 0; i < 63; i++) s.preserveFd(PageFile.create(b.k, `f${i}`), i);
    let points = 0;
    for (let nth = 1;; nth++) {
      const f = PageFile.create(b.k, "new");
      const set = s.session.files;
      const before = {
        count: set.count,
        blocks: [...(set.blockSet?.blocks() ?? [])],
        filesPa: set.filesPa,
        preserved: [...b.lu.files!.preserved].length,
      };
      b.k.faults.arm({ nth });
      let failed: unknown = null;
      try {
        s.preserveFd(f, 1000 + nth);
      } catch (e) {
        failed = e;
      }
      b.k.faults.disarm();
      if (failed === null) break;
      points++;
      assert.ok(
        failed instanceof KhoError && failed.code === "ENOMEM",
        `${profile} nth=${nth}: ${failed}`,
      );
      assert.deepEqual(
        {
          count: set.count,
          blocks: [...(set.blockSet?.blocks() ?? [])],
          filesPa: set.filesPa,
          preserved: [...b.lu.files!.preserved].length,
        },
        before,
        `${profile} nth=${nth}`,
      );
      assert.equal(b.k.kho.out!.isPreserved(f.pfn, 0), false);
    }
    // 7.2 needs a new file block (kho_alloc_preserve, its list node) and the luo_file; 7.1 only
    // the luo_file (its 2-page block exists).
    assert.ok(points >= (profile === "kho-v4" ? 3 : 1), `${profile}: only ${points} points`);
    assert.equal(s.session.files.count, 64);
  }
});

Deno.test("a handler's preserve error is passed through and undone; unregistering and duplicate handlers", () => {
  const b = luoColdBoot(luoMachine(), { handler: false });
  const failing = new PageFileHandler(b.k, "failing-v1");
  failing.preserve = () => {
    throw new KhoError("EFBIG", "too large");
  };
  failing.canPreserve = (f) => f instanceof PageFile && f.text() === "big";
  b.lu.registerFileHandler(failing);
  b.lu.registerFileHandler(b.fh);
  assert.throws(
    () => b.lu.registerFileHandler(new PageFileHandler(b.k, "failing-v1")),
    code("EEXIST"),
  );
  const s = b.lu.open().createSession("s");
  const blocksBefore = s.session.files.blockSet!.nblocks;
  assert.throws(() => s.preserveFd(PageFile.create(b.k, "big"), 1), code("EFBIG"));
  assert.equal(s.session.files.blockSet!.nblocks, blocksBefore);
  assert.equal(b.lu.files!.preserved.size, 0);
  // The first handler whose can_preserve says yes wins: registration order.
  s.preserveFd(PageFile.create(b.k, "small"), 2);
  assert.equal(s.files()[0].compatible, "kholab-page-v1");
  b.lu.unregisterFileHandler(failing);
  assert.throws(() => b.lu.unregisterFileHandler(failing), code("ENOENT"));
});

Deno.test("6.19–7.1 refuse handler registration while sessions exist (EBUSY); 7.2 allows it", () => {
  const b = luoColdBoot(luoMachine(), { profile: "kho-v3" });
  b.lu.open().createSession("s");
  assert.throws(() => b.lu.registerFileHandler(new PageFileHandler(b.k, "late-v1")), code("EBUSY"));
  const b2 = luoColdBoot(luoMachine());
  b2.lu.open().createSession("s");
  b2.lu.registerFileHandler(new PageFileHandler(b2.k, "late-v1"));
});
