import assert from "node:assert/strict";
import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { importPfnList, importText, unsupportedReason } from "../../lib/dsl/import.ts";
import { getProfile, PROFILE_NAMES, type ProfileName } from "../../lib/kho/profiles.ts";
import { ManualClock } from "../../lib/rng.ts";
import { PfnListError } from "../../lib/scenario/pfn_list.ts";
import { CommandError } from "../../lib/dsl/errors.ts";

const clock = new ManualClock();
const ORDERS = [0, 1, 2, 9, 10, 11, 18, 19, 20];

/** Non-overlapping aligned blocks above the fixed areas (the low 1 MiB, the image). */
const blockList = fc.array(
  fc.record({ at: fc.integer({ min: 0x20000, max: 0x3fffff }), order: fc.constantFrom(...ORDERS) }),
  { minLength: 1, maxLength: 20 },
).map((raw) => {
  const out: { pfn: number; order: number }[] = [];
  for (const { at, order } of raw) {
    const pfn = Math.floor(at / 2 ** order) * 2 ** order;
    const end = pfn + 2 ** order;
    if (pfn < 0x20000) continue;
    if (out.some((b) => pfn < b.pfn + 2 ** b.order && b.pfn < end)) continue;
    out.push({ pfn, order });
  }
  return out;
});

/** What each profile is expected not to hand over, and the reason it names. */
function expectedMiss(profile: ProfileName, order: number): RegExp | null {
  if (unsupportedReason(profile, order) !== null) return /order-table-no-slot/;
  if (getProfile(profile).bugs.includes("int-size-overflow") && order >= 20) {
    return /int-size-overflow/;
  }
  return null;
}

for (const profile of PROFILE_NAMES) {
  Deno.test(`import property (${profile}): preserve, kexec, walk gives back the list as given`, () => {
    fc.assert(
      fc.property(blockList, (blocks) => {
        const text = blocks.map((b) => `0x${b.pfn.toString(16)} ${b.order}`).join("\n");
        const r = importPfnList({ file: "gen.txt", text, profile, clock });
        assert.ok(r.successor.khoBoot, r.successor.refused ?? "");
        assert.ok(r.successor.walk.ok);
        const misses = new Map(r.missing.first.map((m) => [m.pfn, m]));
        let expectedMisses = 0;
        for (const b of blocks) {
          const why = expectedMiss(profile, b.order);
          if (why === null) {
            assert.ok(!misses.has(b.pfn), `${profile}: ${b.pfn} order ${b.order} missing`);
          } else {
            expectedMisses++;
            assert.match(misses.get(b.pfn)?.reason ?? "found", why);
          }
        }
        assert.equal(r.found, blocks.length - expectedMisses);
        assert.equal(r.missing.count, expectedMisses);
        assert.equal(r.outcome, expectedMisses === 0 ? "exact" : "incomplete");
      }),
      { seed: 20260714, numRuns: 10 },
    );
  });
}

Deno.test("import: nodes from the list, a machine that puts every block on its node", () => {
  const text = "pfn,order,node\n0x40000,18,0\n0x140000,18,1\n0x180000,9,1\n";
  const r = importPfnList({ file: "numa.csv", text, profile: "kho-v4", clock });
  assert.equal(r.machine.nodes, 2);
  assert.equal(r.outcome, "exact");
  assert.deepEqual(r.imported.byOrder, { "9": 1, "18": 2 });
  assert.match(importText(r), /found: 3 of 3 imported blocks exactly/);
  assert.equal(r.metricsBeforeKexec["preserved.blocks"], 3);
  // Asked for a machine the list does not fit: every line that does not fit is reported.
  assert.throws(
    () => importPfnList({ file: "numa.csv", text, ramBytes: 2 ** 32, nodes: 2, clock }),
    (e: unknown) =>
      e instanceof CommandError && e.code === "EINVAL" &&
      /numa.csv:3:1: block .* is outside RAM/.test(e.message) &&
      /numa.csv:4:1: /.test(e.message) && /2 errors; nothing was imported/.test(e.message),
  );
});

Deno.test("import: bad lines are reported before anything boots; the fixed areas are refused", () => {
  assert.throws(
    () => importPfnList({ file: "bad.txt", text: "0x40000 18\nzz 0\n0x40001 1\n", clock }),
    (e: unknown) => e instanceof PfnListError && e.diagnostics.length === 2,
  );
  // The kernel image sits at 16 MiB: a block there cannot be the host's.
  assert.throws(
    () => importPfnList({ file: "img.txt", text: "0x1000 9\n", clock }),
    /img.txt:1:1: block \[0x1000000, 0x1200000\) overlaps the simulated kernel's image/,
  );
});

Deno.test("import: a gzip file is read by its magic bytes, whatever its name", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/host.list`;
    Deno.writeFileSync(path, gzipSync(new TextEncoder().encode("0x40000 9\n0x40200 0\n")));
    const r = importPfnList({ file: path, profile: "kho-v1-6.19", clock });
    assert.ok(r.gzip && r.outcome === "exact" && r.found === 2);
    assert.equal(r.preserveApi, "kho_preserve_pages");
    assert.equal(
      importPfnList({ file: path, profile: "kho-v1-6.16", clock }).preserveApi,
      "kho_preserve_phys",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
