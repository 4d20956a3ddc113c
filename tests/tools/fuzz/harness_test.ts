/**
 * The fuzz harness on a toy target (toy_target.ts): each kind of finding is caught, grouped,
 * minimized and written; the size bound refuses inputs; the same seed gives the same run;
 * and the command line's exit codes and last line.
 */

import assert from "node:assert/strict";
import { lastLine, runFuzz } from "../../../tools/fuzz/harness.ts";
import { main } from "../../../tools/fuzz/main.ts";

const TOY = new URL("./toy_target.ts", import.meta.url).href;

Deno.test("harness: exceptions, hangs, memory and oracle mismatches, minimized and written", async () => {
  const out = await Deno.makeTempDir({ prefix: "kholab-fuzz-" });
  try {
    const r = await runFuzz({
      target: TOY,
      runs: 200,
      seed: 4, // 1 hang, 3 memory hogs, 5 exceptions, 8 mismatches
      inputMs: 1000, // a 40 MB allocation on a loaded machine must not look like a hang
      maxHeapMb: 32,
      batch: 100,
      outDir: out,
      minimizeTests: 200,
      minimizeSlowTests: 3, // each may restart the child
      log: () => {},
    });
    const kinds = new Map(r.groups.map((g) => [g.kind, g]));
    assert.deepEqual([...kinds.keys()].sort(), ["exception", "hang", "memory", "mismatch"]);
    const exc = kinds.get("exception")!;
    assert.equal(exc.signature, "exception: TypeError: toy: byte #"); // digits folded
    // ddmin keeps a non-zero first byte and the 0xee: two bytes at most.
    assert.ok(exc.minimized && exc.minimized.length <= 2, `minimized to ${exc.minimized}`);
    assert.ok(exc.minimized!.includes(0xee) && exc.minimized![0] !== 0);
    assert.ok(kinds.get("hang")!.minimized!.includes(0xab));
    assert.ok(kinds.get("mismatch")!.minimized!.length <= 2);
    for (const g of r.groups) {
      assert.ok(g.file, `${g.kind} written`);
      assert.deepEqual(await Deno.readFile(g.file!), g.minimized ?? g.input);
      const txt = await Deno.readTextFile(g.file!.replace(/\.bin$/, ".txt"));
      assert.match(txt, new RegExp(`first at input ${g.firstIndex}`));
    }
    assert.equal(r.findings, r.groups.reduce((n, g) => n + g.count, 0));
    assert.ok(r.refused > 0, "17-byte inputs refused");
    assert.equal(r.inputs + r.refused, 200);
    assert.ok(r.children >= 3, "restarted after each hang and memory finding");
    assert.equal(lastLine(r), `${r.inputs} inputs, ${r.findings} findings`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("harness: the same seed gives the same inputs and findings", async () => {
  const run = () =>
    runFuzz({
      target: TOY,
      runs: 200,
      seed: 6, // 2 hangs, 1 memory hog
      inputMs: 1000,
      maxHeapMb: 32,
      batch: 64,
      outDir: null,
      minimizeTests: 0,
      log: () => {},
    });
  const [a, b] = [await run(), await run()];
  // Exceptions, mismatches and endless loops depend on the inputs alone; an input that merely
  // runs slowly past the bound, or the heap after one, also on the machine: left out.
  const digest = (r: Awaited<ReturnType<typeof run>>) =>
    r.groups.filter((g) => g.kind !== "memory" && !/took/.test(g.signature))
      .map((g) => `${g.signature}×${g.count}@${g.firstIndex}`);
  assert.deepEqual(digest(a), digest(b));
  assert.ok(digest(a).length >= 3, `${digest(a)}`);
});

Deno.test("fuzz command line: exit 2 for unknown targets and bad numbers", async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    assert.equal(await main(["--target", "frob"]), 2);
    assert.match(
      errors.at(-1)!,
      /target 'frob' is unknown; implemented: fdt, handover, dsl, cli/,
    );
    assert.equal(await main(["--target", "fdt", "--runs", "-1"]), 2);
    assert.equal(await main(["--target", "fdt", "--seed", "abc"]), 2);
    assert.equal(await main(["--frob"]), 2);
    assert.equal(await main([]), 2);
  } finally {
    console.error = orig;
  }
});
