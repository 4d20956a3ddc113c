import assert from "node:assert/strict";
import { runWorkload } from "../../lib/metrics/kho_ref_workload.ts";
import { ManualClock } from "../../lib/rng.ts";

/** kho_ref's checksum computed directly: Σ (pfn_i << 12 XOR 0) + Σ (giant phys XOR 18). */
function expectedChecksum(pages: number, span: number, giant = 0): string {
  const seen = new Set<bigint>();
  for (let i = 0n; i < BigInt(pages); i++) seen.add((i * 0x9E3779B1n) & BigInt(span - 1));
  let sum = 0n;
  for (const pfn of seen) sum += pfn << 12n;
  for (let g = 0n; g < BigInt(giant); g++) sum += ((BigInt(span) + g * 2n ** 18n) << 12n) ^ 18n;
  return "0x" + (sum & (2n ** 64n - 1n)).toString(16).padStart(16, "0");
}

Deno.test("kho_ref workload: radix and xarray walks checksum as kho_ref; a manual clock times 0", () => {
  for (const workload of ["radix", "xarray"] as const) {
    const r = runWorkload({
      workload,
      pages: 4096,
      spanPages: 16384,
      warmup: 0,
      bitmapBytes: 512,
      clock: new ManualClock(),
    });
    assert.equal(r.checksum, expectedChecksum(4096, 16384), workload);
    assert.equal(r.walked, new Set(Array.from({ length: 4096 }, (_, i) => i)).size);
    assert.equal(r.preserve_ns_per_item, 0);
    assert.equal(r.walk_ns_per_item, 0);
    assert.equal(r.profile, workload === "radix" ? "kho-v4" : "kho-v1-6.16");
  }
});

Deno.test("kho_ref workload: hyper adds order-18 blocks after the span; bad spans are refused", () => {
  const r = runWorkload({
    workload: "hyper",
    pages: 1024,
    spanPages: 2 ** 18,
    giantFolios: 2,
    warmup: 0,
    clock: new ManualClock(),
  });
  assert.equal(r.checksum, expectedChecksum(1024, 2 ** 18, 2));
  assert.equal(r.walked, 1024 + 2);
  const clock = new ManualClock();
  assert.throws(
    () => runWorkload({ workload: "radix", pages: 1, spanPages: 3, clock }),
    /power of two/,
  );
  assert.throws(
    () => runWorkload({ workload: "radix", pages: 8, spanPages: 4, clock }),
    /pages > span/,
  );
});
