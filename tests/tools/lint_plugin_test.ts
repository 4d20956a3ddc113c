/// <reference lib="deno.unstable" />
import assert from "node:assert/strict";
import plugin from "../../tools/lint_plugin.ts";

function lint(filename: string, source: string) {
  return Deno.lint.runPlugin(plugin, filename, source);
}

Deno.test("Math.random, Date.now, performance.now and new Date are banned in lib/", () => {
  const d = lint(
    "/repo/lib/kho/foo.ts",
    "export const a = Math.random() + Date.now() + performance.now() + new Date().getTime();",
  );
  assert.equal(d.length, 4);
  assert.ok(d.every((x) => x.id === "kholab/no-ambient-nondeterminism"));
});

Deno.test("the seeded generator module and code outside lib/ are allowed", () => {
  assert.equal(lint("/repo/lib/rng.ts", "export const t = performance.now();").length, 0);
  assert.equal(lint("/repo/bench/x_bench.ts", "export const t = performance.now();").length, 0);
  assert.equal(lint("/repo/lib/a.ts", "export const r = rng.random();").length, 0);
});
