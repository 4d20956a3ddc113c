import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { ManualClock } from "../../lib/rng.ts";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { ScriptRuntimeError } from "../../lib/dsl/errors.ts";
import { runScript } from "../../lib/dsl/run.ts";
import { Session } from "../../lib/dsl/session.ts";

const clock = new ManualClock();

function withDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync();
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function runtimeError(fn: () => void): ScriptRuntimeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ScriptRuntimeError, String(e));
    return e;
  }
  throw new Error("no error");
}

Deno.test("pfns: a list beside the script, preserved as given, found again after kexec", () => {
  withDir((dir) => {
    Deno.writeFileSync(
      `${dir}/host.txt.gz`,
      gzipSync(new TextEncoder().encode("0x40000 18 0\n0x80000 9\n0x80200 0\n0x80400 10\n")),
    );
    const script = [
      "machine ram=4G",
      "profile kho-v3",
      "imp = pfns file=host.txt.gz",
      "expect imp.blocks == 4 && imp.pages == 262144 + 512 + 1 + 1024",
      "preserve imp",
      "kexec",
      "expect imp.incoming == 1 && imp.blocks == 4",
      "restore imp",
      "verify imp",
      "expect restore.failed == 0 && verify.ok == 1",
      "free imp",
      "expect objects.count == 0",
    ].join("\n");
    Deno.writeTextFileSync(`${dir}/run.kho`, script);
    const r = runScript(script, { file: `${dir}/run.kho`, clock });
    assert.equal(r.exitCode, 0, r.output);
    assert.match(
      r.output,
      /imp: pfns, 4 block\(s\), .* from .*host\.txt\.gz \(gzip\), 4 line\(s\)/,
    );
  });
});

Deno.test("pfns: bad lines fail the statement with every diagnostic; nothing is taken", () => {
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/bad.txt`, "0x40000 18\n0x40000 0\n0x1zz 0\n0x10000000 0\n");
    const s = new Session({ file: `${dir}/run.kho`, clock });
    const ev = new Evaluator(s);
    ev.runText("machine ram=2G");
    const e = runtimeError(() => ev.runText("imp = pfns file=bad.txt", `${dir}/run.kho`));
    assert.equal(e.code, "EINVAL");
    assert.equal(e.line, 1);
    assert.match(e.message, /bad\.txt:2:1: block 0x40000 \(order 0\) overlaps the block of line 1/);
    assert.match(e.message, /bad\.txt:3:1: bad number "0x1zz"/);
    assert.match(e.message, /bad\.txt:4:1: block .* is outside RAM/);
    assert.match(e.message, /bad\.txt: 3 errors; nothing was imported/);
    assert.equal(s.objects.size, 0);
    assert.equal(s.kernel, null, "nothing booted for a bad list");
    const missing = runtimeError(() => ev.runText("x = pfns file=none.txt", `${dir}/run.kho`));
    assert.equal(missing.code, "ENOENT");
  });
});

Deno.test("pfns in a running kernel: a block it uses, or in scratch, is an error at its line", () => {
  withDir((dir) => {
    const s = new Session({ file: `${dir}/run.kho`, clock });
    const ev = new Evaluator(s);
    ev.runText("machine ram=4G\nprofile kho-v4");
    const k = s.ensureKernel();
    const root = k.kho.out!.root.phys / 4096;
    const scratch = k.boot.scratch.find((a) => a.size > 0)!;
    const free = k.buddy.findFreeRange(0, 9)!;
    Deno.writeTextFileSync(
      `${dir}/l.txt`,
      `0x${free.toString(16)} 9\n0x${root.toString(16)} 0\n0x${
        (scratch.addr / 4096).toString(16)
      } 0\n`,
    );
    const freeBefore = k.buddy.nrFreePages();
    const e = runtimeError(() => ev.runText("imp = pfns file=l.txt", `${dir}/run.kho`));
    assert.match(e.message, /l\.txt:2:1: block .* is not free in the running kernel/);
    assert.match(e.message, /l\.txt:3:1: block .* lies in scratch area \d/);
    assert.equal(k.buddy.nrFreePages(), freeBefore, "the block taken first went back");
    // The free block alone is taken out of the free lists, and given back by free.
    Deno.writeTextFileSync(`${dir}/ok.txt`, `0x${free.toString(16)} 9\n`);
    ev.runText("imp = pfns file=ok.txt\nexpect imp.pages == 512", `${dir}/run.kho`);
    assert.equal(k.buddy.nrFreePages(), freeBefore - 512);
    ev.runText("free imp");
    assert.equal(k.buddy.nrFreePages(), freeBefore);
  });
});
