import assert from "node:assert/strict";
import { deriveSeed, hashLabel, ManualClock, Rng, timed } from "../lib/rng.ts";
import { pointSeed } from "../lib/scenario/scenarios.ts";
import { Session } from "../lib/dsl/session.ts";

Deno.test("the generator is reproducible and seed-sensitive", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 8 }, () => a.u32());
  assert.deepEqual(Array.from({ length: 8 }, () => b.u32()), sa);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.u32()), sa);
  assert.equal(new Rng(1).fork("x").u32(), new Rng(1).fork("x").u32());
  assert.notEqual(new Rng(1).fork("x").u32(), new Rng(1).fork("y").u32());
});

Deno.test("one seed derivation: Rng.fork, sweep points and script streams all use deriveSeed", () => {
  // The canonical formula (Rng.fork's since the start): scenario figures keep their values.
  for (
    const [seed, label] of [[1, "uniform"], [42, "iommu"], [0, "x"], [2 ** 31 + 5, "dma"]] as const
  ) {
    const want = (Math.imul(seed | 0, 0x9e3779b1) ^ hashLabel(label)) >>> 0;
    assert.equal(deriveSeed(seed, label), want, `seed=${seed} label=${label}`);
    assert.equal(new Rng(seed).fork(label).seed, want, `seed=${seed} label=${label}`);
  }
  // A sweep point's seed: label point#<value index> (the formula it always had).
  assert.equal(pointSeed(5, 1), deriveSeed(5, "point#1"));
  assert.equal(pointSeed(5, 1), (Math.imul(5, 0x9e3779b1) ^ hashLabel("point#1")) >>> 0);
  // A script's n-th draw stream: label stream<n>.
  const rt = new Session({ seed: 9, clock: new ManualClock() });
  assert.equal(rt.rng().seed, deriveSeed(9, "stream0"));
  assert.equal(rt.rng().seed, deriveSeed(9, "stream1"));
  // Seeds beyond 32 bits keep their high word; non-integers are misuse.
  assert.notEqual(deriveSeed(2 ** 32 + 1, "x"), deriveSeed(1, "x"));
  assert.notEqual(deriveSeed(2 ** 40, "x"), deriveSeed(0, "x"));
  assert.throws(() => deriveSeed(1.5, "x"), RangeError);
  assert.throws(() => deriveSeed(2 ** 53, "x"), RangeError);
});

Deno.test("int() is unbiased and in range, including beyond 2^32", () => {
  const r = new Rng(7);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 600, `bucket ${c}`);
  for (let i = 0; i < 1000; i++) {
    const x = r.int(2 ** 40);
    assert.ok(x >= 0 && x < 2 ** 40 && Number.isInteger(x));
  }
  assert.throws(() => r.int(0), RangeError);
});

Deno.test("a manual clock makes timings reproducible", () => {
  const clock = new ManualClock();
  const { value, ms } = timed(clock, () => {
    clock.advance(12.5);
    return 3;
  });
  assert.equal(value, 3);
  assert.equal(ms, 12.5);
});

Deno.test("one clock: lib/ never defaults a clock to wallClock", () => {
  // Only the clock's home, the sweep (which checks that its caller passed wallClock before it
  // uses workers) and the sweep worker (the entry point of its thread) name it.
  const allowed = new Set(["rng.ts", "scenario/sweep.ts", "scenario/sweep_worker.ts"]);
  const found: string[] = [];
  const walk = (dir: URL, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) walk(new URL(e.name + "/", dir), rel + e.name + "/");
      else if (e.name.endsWith(".ts")) {
        const code = Deno.readTextFileSync(new URL(e.name, dir))
          .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
        if (/\bwallClock\b/.test(code) && !allowed.has(rel + e.name)) found.push(rel + e.name);
        assert.doesNotMatch(code, /((?<![!=<>])=|\?\?)\s*wallClock\b/, rel + e.name);
      }
    }
  };
  walk(new URL("../lib/", import.meta.url), "");
  assert.deepEqual(found, []);
});
