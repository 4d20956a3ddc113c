import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";

const clock = new ManualClock();
import { ScriptRuntimeError } from "../../lib/dsl/errors.ts";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { Session, type SessionOptions } from "../../lib/dsl/session.ts";
import { SCENARIO_MANIFEST_NAME } from "../../lib/scenario/manifest_abi.ts";

/** A session and its evaluator, as `rt` (state on `rt.s`, expressions on `rt.ev`). */
class Rt {
  readonly s: Session;
  readonly ev: Evaluator;
  constructor(opts: Partial<SessionOptions> = {}) {
    this.s = new Session({ clock, ...opts });
    this.ev = new Evaluator(this.s);
  }
  get objects() {
    return this.s.objects;
  }
  get kernel() {
    return this.s.kernel;
  }
  get machine() {
    return this.s.machine;
  }
  get stats() {
    return this.s.stats;
  }
  get vars() {
    return this.s.vars;
  }
  get seed() {
    return this.s.seed;
  }
  lookup(name: string) {
    return this.ev.lookup(name);
  }
}

function run(rt: Rt, text: string): void {
  rt.ev.runText(text, "t.kho");
}

function fails(rt: Rt, text: string, code: string | null): ScriptRuntimeError {
  try {
    run(rt, text);
  } catch (e) {
    assert.ok(e instanceof ScriptRuntimeError, String(e));
    assert.equal(e.code, code);
    return e;
  }
  throw new Error("no error");
}

Deno.test("kexec re-finds objects from memory, not from JavaScript objects", () => {
  const rt = new Rt();
  run(
    rt,
    "machine ram=1G\na = folios order=3 count=2\nb = pages count=5\npreserve a b\nc = folios order=1",
  );
  const before = rt.objects.get("a")!;
  run(rt, "kexec");
  const after = rt.objects.get("a")!;
  assert.notEqual(after, before);
  assert.equal(after.state, "incoming");
  assert.deepEqual(after.phys, before.phys);
  assert.equal(after.hash, before.hash);
  assert.deepEqual([...rt.objects.keys()].sort(), ["a", "b"]); // c was not preserved
  assert.ok(rt.kernel!.kho.incoming!.subtreeNames().includes(SCENARIO_MANIFEST_NAME));
  run(rt, "restore\nverify");
  assert.equal(rt.stats.verifyOk, 2);
  assert.equal(rt.lookup("a.restored"), 1);
});

Deno.test("a corrupted object region fails verify, a refused handover finds nothing", () => {
  const rt = new Rt();
  run(rt, "machine ram=1G\na = folios order=2 count=2\npreserve a\nkexec\nrestore a");
  const phys = rt.objects.get("a")!.phys[1];
  rt.machine!.mem.fill(phys, 4096, { byte: 0xee });
  run(rt, "verify a\nexpect verify.failed == 1");
  assert.equal(rt.stats.expectFailed, 0);
  run(rt, "b = pages count=2\npreserve b\nkexec profile=kho-v2");
  assert.equal(rt.objects.size, 0);
  assert.equal(rt.lookup("boot.refused"), 1);
});

Deno.test("a failed preserve is rolled back completely", () => {
  const rt = new Rt();
  run(rt, "machine ram=1G\na = folios order=0 count=3\nb = pages count=64 within=512M");
  const pages = rt.lookup("tracker.pages");
  run(rt, "kernel fail=nth:2,sites:radix");
  const e = fails(rt, "preserve a b", "ENOMEM");
  assert.match(e.message, /^t\.kho:1:1: preserve: ENOMEM: /);
  assert.equal(rt.objects.get("a")!.state, "allocated");
  assert.equal(rt.objects.get("b")!.state, "allocated");
  assert.ok(!rt.kernel!.kho.out!.isPreserved(rt.objects.get("a")!.phys[0] / 4096, 0));
  assert.ok((rt.lookup("tracker.pages") as number) >= (pages as number));
  run(rt, "kernel fail=off\npreserve a b");
  assert.equal(rt.objects.get("b")!.state, "preserved");
});

Deno.test("a failed object creation frees what it allocated", () => {
  const rt = new Rt();
  run(rt, "machine ram=1G\nx = pages count=1");
  const free = rt.lookup("mem.free");
  run(rt, "kernel fail=nth:5");
  fails(rt, "big = pages order=3 count=20", "ENOMEM");
  assert.equal(rt.lookup("mem.free"), free);
  assert.ok(!rt.objects.has("big"));
  fails(rt, "huge = folios order=10 count=100000", "ENOMEM");
  assert.equal(rt.lookup("mem.free"), free);
});

Deno.test("failed let, measure and seed leave no trace", () => {
  const rt = new Rt();
  run(rt, "let a = 2\nseed 5");
  fails(rt, "let a = 1 / 0", null);
  assert.equal(rt.vars.get("a"), 2);
  assert.equal(rt.seed, 5);
});

Deno.test("seeded content is reproducible and the seed matters", () => {
  const hash = (seed: number) => {
    const rt = new Rt({ seed });
    run(rt, "machine ram=1G\na = pages count=8 within=64M");
    return [rt.objects.get("a")!.hash, rt.objects.get("a")!.phys.join()];
  };
  assert.deepEqual(hash(1), hash(1));
  assert.notDeepEqual(hash(1), hash(2));
});

Deno.test("expressions: arithmetic, comparisons, names, labels", () => {
  const rt = new Rt();
  run(rt, "machine ram=1G\nlet n = 3\nb = folios order=2 count=(n + 1)\nmeasure label=m-1");
  assert.equal(rt.lookup("b.folios"), 4);
  assert.equal(rt.lookup("m_1.objects.count"), 1);
  run(
    rt,
    'expect b.pages == 16 && 4K * 4 == 16K && !(1 > 2) || false\nexpect "kho-v4" == kernel.profile',
  );
  run(rt, "expect n % 2 == 0");
  assert.equal(rt.stats.expectFailed, 1);
  assert.equal(rt.stats.expectPassed, 2);
});

Deno.test("repeat and sweep bind variables; try records the errno", () => {
  const rt = new Rt();
  run(
    rt,
    "machine ram=1G\nlet s = 0\nrepeat 4 {\n  let s = s + i\n}\nsweep o in [1, 2] {\n  x = folios order=$o\n  free x\n}",
  );
  assert.equal(rt.vars.get("s"), 6);
  assert.equal(rt.vars.has("i"), false);
  run(rt, 'try {\n  preserve nothing\n}\nexpect error.code == "ENOENT" && try.failed == 1');
  assert.equal(rt.stats.expectFailed, 0);
});

Deno.test("vmalloc, memfd, reserve_mem and sub-trees survive kexec", () => {
  const rt = new Rt();
  run(
    rt,
    "machine ram=2G nodes=2\nv = vmalloc size=4M huge\nm = memfd size=10M folio=2M\nr = reserve_mem size=1M align=1M\nd = pages order=3 count=2 split\nsubtree meta size=8K\npreserve v m r d\nkexec\nrestore\nverify",
  );
  assert.equal(rt.stats.verifyOk, 5);
  assert.equal(rt.stats.restoreFailed, 0);
  assert.ok(rt.objects.get("v")!.vaddr !== null);
  const free = rt.lookup("mem.free") as number;
  run(rt, "free v m r d meta");
  assert.ok((rt.lookup("mem.free") as number) > free + 15 * 2 ** 20);
});

Deno.test("kernel debug/deferred_init/crash/strict: the boot's configuration, kept across kexec", () => {
  const rt = new Rt();
  run(rt, "machine ram=1G\nkernel debug strict\nprofile kho-v4+fixes");
  assert.deepEqual(rt.s.ensureKernel().boot.config, {
    khoDebug: true,
    deferredStructPageInit: false,
    crashKernel: false,
    strict: true,
  });
  run(rt, "kernel deferred_init strict=off\na = folios order=2 count=1\npreserve a\nkexec");
  const k2 = rt.kernel!;
  assert.equal(k2.boot.verdict, "kernel");
  assert.equal(k2.boot.config.deferredStructPageInit, true);
  assert.ok(k2.boot.retrieve!.deferredInitPages >= 4);
  // A kdump kernel on kho-v4+fixes: kho_fill_kimage skips the crash image, KHO is off.
  run(rt, "kernel crash\nkexec");
  assert.equal(rt.kernel!.kho.enabled, false);
  assert.equal(rt.kernel!.log.grep("disabled in the kdump kernel").length, 1);
  // kho-v4 cannot boot with deferred struct page init: a clear EINVAL, no exception.
  const e = fails(
    new Rt(),
    "machine ram=1G\nkernel deferred_init\nx = folios order=0",
    "EINVAL",
  );
  assert.match(e.message, /unsupported by kho-v4/);
});

Deno.test("a memfd object crosses in a LUO session named like it; hugetlb, no LUO and liveupdate=off are refused before anything is preserved", () => {
  const lines: string[] = [];
  const rt = new Rt({ onOutput: (l) => void lines.push(l) });
  run(
    rt,
    "machine ram=4G\nm = memfd size=6M folio=2M\nh = memfd size=1G folio=1G fill=none\n" +
      'try {\n  preserve h\n}\nexpect error.code == "ENOENT" && luo.sessions == 0\n' +
      "preserve m\nexpect luo.sessions == 1 && m.folios == 3\nunpreserve m\n" +
      "expect luo.sessions == 0\npreserve m\nkexec\nexpect objects.incoming == 1\n" +
      "restore m\nverify m\nexpect m.restored && m.folios == 3 && verify.failed == 0",
  );
  assert.equal(rt.stats.expectFailed, 0, lines.join("\n"));
  const m = rt.objects.get("m")!;
  assert.equal(m.file?.size, 6 * 2 ** 20);
  assert.deepEqual(m.luoRef, { session: "m", token: 1n });
  assert.match(lines.join("\n"), /memfd h: kho-v4 \(7\.2-rc1\): no hugetlb preservation/);
  for (
    const [setup, code, why] of [
      [
        "profile kho-v1-6.18",
        "EOPNOTSUPP",
        /kho-v1-6\.18 \(6\.18\) has no Live Update Orchestrator/,
      ],
      ["kernel liveupdate=off", "ENOENT", /memfd m: liveupdate is off/],
    ] as const
  ) {
    const out: string[] = [];
    const r2 = new Rt({ onOutput: (l) => void out.push(l) });
    run(
      r2,
      `machine ram=1G\n${setup}\nm = memfd size=2M folio=2M\ntry {\n  preserve m\n}\n` +
        `expect error.code == "${code}" && luo.sessions == 0 && !m.preserved`,
    );
    assert.equal(r2.stats.expectFailed, 0, `${setup}: ${out.join("\n")}`);
    assert.match(out.join("\n"), why);
  }
});

Deno.test("a 1 GiB hugetlb memfd object crosses on the HugeTLB RFC: the pool grows for it, it comes back by session name", () => {
  const lines: string[] = [];
  const rt = new Rt({ onOutput: (l) => void lines.push(l) });
  run(
    rt,
    "machine ram=8G\nprofile rfc-2025-12-hugetlb\n" +
      "h = memfd size=2G folio=1G\npreserve h\nexpect luo.sessions == 1 && h.folios == 2\n" +
      "kexec\nrestore h\nverify h\nexpect h.restored && h.folios == 2 && verify.failed == 0",
  );
  assert.equal(rt.stats.expectFailed, 0, lines.join("\n"));
  assert.equal(rt.objects.get("h")!.file?.hugetlb, true);
});
