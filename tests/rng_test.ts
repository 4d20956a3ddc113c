import assert from "node:assert/strict";
import { ManualClock, Rng, timed } from "../lib/rng.ts";

Deno.test("the generator is reproducible and seed-sensitive", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 8 }, () => a.u32());
  assert.deepEqual(Array.from({ length: 8 }, () => b.u32()), sa);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.u32()), sa);
  assert.equal(new Rng(1).fork("x").u32(), new Rng(1).fork("x").u32());
  assert.notEqual(new Rng(1).fork("x").u32(), new Rng(1).fork("y").u32());
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
