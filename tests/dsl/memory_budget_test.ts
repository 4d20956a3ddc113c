/**
 * The host-memory budget (issue 18 §2): a command whose estimate does not fit is refused
 * before it runs, naming the estimate; with a small `--max-memory`, no input drives the
 * process past it. The subprocess tests run `cli.ts` with a V8 heap capped just above the
 * budget (an input that got past it would end in V8's "heap out of memory", not exit 2) and
 * compare the process's peak resident memory with a trivial command's.
 */
import assert from "node:assert/strict";
import { HostMemoryError } from "../../lib/machine/host_memory.ts";
import { ScriptRuntimeError } from "../../lib/dsl/errors.ts";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { runScript } from "../../lib/dsl/run.ts";
import { Session } from "../../lib/dsl/session.ts";
import { ManualClock } from "../../lib/rng.ts";

const clock = new ManualClock();
const MiB = 2 ** 20;

Deno.test("a command past the budget is refused up front: a runtime error naming the estimate", () => {
  const s = new Session({ clock, file: "m.kho", maxMemoryBytes: 256 * MiB });
  const ev = new Evaluator(s);
  ev.runText("machine ram=63T");
  for (
    const [text, re] of [
      ["x = pages count=64Mi", /x = pages count=64Mi needs an estimated 41\.1 GiB of host memory/],
      ["x = vmalloc size=1T", /x = vmalloc size=1T needs an estimated 17\d(\.\d)? GiB/],
      ["x = folios order=0 count=16Mi", /needs an estimated 10\.3 GiB/],
      ["x = memfd size=64G", /needs an estimated [\d.]+ GiB .*memfd folios × 320 B/],
      ["scenario uniform ramBytes=64T pages=64Mi", /scenario uniform .*64Mi scattered pages/],
    ] as const
  ) {
    let e: unknown;
    try {
      ev.runText(text, "m.kho");
    } catch (x) {
      e = x;
    }
    assert.ok(e instanceof ScriptRuntimeError, text);
    assert.equal(e.internal, false, text);
    assert.equal(e.code, null, text);
    assert.ok(e.cause instanceof HostMemoryError, text);
    assert.match(e.message, re, text);
    assert.match(e.message, /more than the memory budget of 256 MiB \(--max-memory\) allows/, text);
    assert.equal(s.objects.size, 0, text);
  }
  // Booting is refused the same way; try catches the refusal like any failed command.
  const r = runScript('machine ram=63T\ntry {\n  kexec\n}\nexpect error.code == "ERROR"', {
    clock,
    maxMemoryBytes: 256 * MiB,
  });
  assert.equal(r.exitCode, 0, r.output);
  assert.match(r.output, /kexec needs an estimated 397 MiB of host memory \(boot of 63.5 TiB/);
  // A script too big to parse within the budget.
  const big = "kexec\n".repeat(200_000);
  const p = runScript(big, { clock, maxMemoryBytes: 64 * MiB, file: "big.kho" });
  assert.match(
    p.results.error!.message,
    /^big\.kho:1:1: parse: parsing big\.kho needs an estimated/,
  );
});

/** Runs the CLI in a fresh process with a V8 heap of `heapMiB`; exit code, stderr, peak RSS. */
async function measured(
  args: string[],
  heapMiB: number,
): Promise<{ code: number; err: string; peak: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--v8-flags=--max-old-space-size=${heapMiB}`,
      new URL("../support/measured_cli.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  const peak = Number(/peak-rss (\d+)\s*$/.exec(err)?.[1] ?? NaN);
  return { code: out.code, err, peak };
}

Deno.test("with --max-memory 256M no big input drives the process past it", async () => {
  const dir = await Deno.makeTempDir();
  const budget = 256;
  const heap = budget + 128; // V8 aborts the process past this
  const base = await measured(["profiles"], heap);
  assert.equal(base.code, 0, base.err);
  const scripts: Record<string, string> = {
    "pages on 63 TiB": "machine ram=63T\nx = pages count=64Mi\n",
    "vmalloc 1T": "machine ram=2T\nv = vmalloc size=1T\n",
    "boot 64 TiB": "machine ram=63T\nkexec\n",
    "many small objects": Array.from({ length: 3000 }, (_, i) => `o${i} = pages count=4k`)
      .join("\n"),
    "nested loops of measure": "machine ram=1G\nrepeat 100000 { repeat 100 { measure } }\n",
    "scenario": "scenario ladder hostBytes=32T\n",
  };
  const cases: [string, string[]][] = Object.entries(scripts).map(([name, text]) => {
    const path = `${dir}/${name.replaceAll(" ", "_")}.kho`;
    Deno.writeTextFileSync(path, text);
    return [name, ["run", path, "--max-memory", `${budget}M`]];
  });
  cases.push(
    ["compare", ["compare", "uniform", "ramBytes=64T", "pages=64Mi", "--workers", "0"]],
    ["sweep", ["sweep", "uniform", "--param", "pages", "--values", "1k,32Mi", "--workers", "0"]],
    ["bench", ["bench", "--workload", "radix", "--pages", "256Mi", "--span-pages", "1Gi"]],
  );
  for (const [name, args] of cases) {
    if (!args.includes("--max-memory")) args.push("--max-memory", `${budget}M`);
    const r = await measured(args, heap);
    assert.equal(r.code, 2, `${name}: ${r.err}`);
    assert.match(
      r.err,
      /needs an estimated .* of host memory|of host memory in use, near the memory budget/,
      name,
    );
    assert.doesNotMatch(r.err, /out of memory|\n\s+at /, name);
    assert.ok(
      r.peak <= base.peak + budget * MiB,
      `${name}: peak RSS ${(r.peak / MiB).toFixed(0)} MiB, baseline ${
        (base.peak / MiB).toFixed(0)
      } MiB + budget ${budget} MiB`,
    );
  }
  // What fits runs.
  const ok = `${dir}/ok.kho`;
  Deno.writeTextFileSync(
    ok,
    "machine ram=16G\nx = pages count=64k\npreserve x\nkexec\nrestore x\n",
  );
  const r = await measured(["run", ok, "--max-memory", `${budget}M`], heap);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.peak <= base.peak + budget * MiB);
  await Deno.remove(dir, { recursive: true });
});
