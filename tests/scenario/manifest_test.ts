import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { getProfile, type ProfileName } from "../../lib/kho/profiles.ts";
import {
  encodeManifestRoot,
  type ManifestSection,
  planChunkOrders,
  SCENARIO_CHUNK_HEADER_SIZE,
} from "../../lib/scenario/manifest_abi.ts";
import { KhoVmalloc } from "../../lib/kho/abi/kexec_handover.ts";
import {
  discardScenarioManifest,
  readScenarioManifest,
  SCENARIO_MANIFEST_SITE,
  writeScenarioManifest,
} from "../../lib/scenario/manifest.ts";
import { KhoError } from "../../lib/errors.ts";
import { availableProfiles } from "../../lib/scenario/run.ts";
import { restoreSection, Tally } from "../../lib/scenario/workloads.ts";
import { PAGE_SIZE } from "../../lib/units.ts";

function boot(profile: ProfileName = "kho-v4") {
  const machine = new Machine({ ramBytes: 4 * 2 ** 30, nodes: 1 });
  return Kernel.coldBoot(machine, { cmdline: "kho=on", profile });
}

/** kexec with finalize where the generation has one. */
function kexec(k1: Kernel): Kernel {
  const fin = getProfile(k1.profile.name).finalize;
  if (fin !== "none") k1.kho.finalize();
  return k1.kexec({ cmdline: "kho=on", profile: k1.profile.name });
}

function sections(n: number): ManifestSection[] {
  return [
    {
      kind: "folio",
      name: "many",
      attempted: n + 1,
      order: 0,
      pfns: Float64Array.from({ length: n }, (_, i) => 0x10_0000 + i),
      hashes: BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 0x9e37_79b9_7f4a_7c15n),
    },
    {
      kind: "vmalloc",
      name: "vm",
      attempted: 1,
      bytes: 8192,
      descs: [new KhoVmalloc({ first: 0x1234_5000, totalPages: 2, flags: 1, order: 0 })],
      hashes: BigUint64Array.of(5n),
    },
    {
      kind: "memfd",
      name: "guests",
      attempted: 1,
      files: [{ session: "vm0", token: 1n, nrFolios: 3, hash: 9n }],
    },
  ];
}

Deno.test("the manifest crosses kexec in every available profile and its folios are freed", () => {
  for (const profile of availableProfiles()) {
    const k1 = boot(profile);
    const want = sections(100);
    const w = writeScenarioManifest(k1, want);
    assert.equal(w.chunks, 1, profile);
    assert.equal(w.blocks, 2, profile);
    const k2 = kexec(k1);
    assert.ok(k2.kho.isKhoBoot, profile);
    const r = readScenarioManifest(k2);
    assert.ok(r.ok, `${profile}: ${r.ok ? "" : r.reason}`);
    assert.deepEqual(r.sections, want, profile);
    // The chunk and the root page went back to the allocator (6.16 gives a restored order-0
    // folio a reference, so both are order 0 here and freed in every generation).
    assert.ok(k2.buddy.isFree(w.firstChunkPhys / PAGE_SIZE), `${profile}: chunk freed`);
    assert.ok(k2.buddy.isFree(w.rootPhys / PAGE_SIZE), `${profile}: root freed`);
    assert.deepEqual(k2.log.warnings(), [], profile);
    // A second read finds the folios already restored: an error, not an exception (6.16's
    // kho_restore_folio checks nothing and restores them again).
    const again = readScenarioManifest(k2);
    assert.equal(again.ok, getProfile(profile).restoreRules === "6.16", profile);
  }
});

Deno.test("a multi-chunk manifest: order-9 chunks, bulk reads, the stream intact", () => {
  for (const profile of ["kho-v4", "rfc-v1-order-table", "kho-v1-6.16"] as const) {
    const k1 = boot(profile);
    const want = sections(300_000); // 4.8 MB: three chunks
    const w = writeScenarioManifest(k1, want);
    assert.equal(w.chunks, 3, profile);
    // Two order-9 chunks, an order-8 tail (606,056 bytes left) and the root page.
    assert.equal(w.payloadBytes, 24 + 72 + 300_000 * 16 + 72 + 24 + 72 + 88);
    assert.equal(w.bytes, 5 * 2 ** 20 + PAGE_SIZE);
    assert.equal(w.blocks, 4);
    const r = readScenarioManifest(kexec(k1));
    assert.ok(r.ok, `${profile}: ${r.ok ? "" : r.reason}`);
    assert.equal(r.chunks, 3);
    assert.deepEqual(r.sections, want, profile);
  }
});

Deno.test("a corrupt or missing manifest is an errno and a reason, never an exception", () => {
  // Missing: no manifest written.
  const none = readScenarioManifest(kexec(boot()));
  assert.ok(!none.ok && none.errno === "ENOENT", JSON.stringify(none));

  // A corrupt stream magic in chunk 0.
  let k1 = boot();
  let w = writeScenarioManifest(k1, sections(10));
  k1.machine.mem.fill(w.firstChunkPhys + SCENARIO_CHUNK_HEADER_SIZE, 8, { byte: 0xff });
  let r = readScenarioManifest(kexec(k1));
  assert.ok(!r.ok && r.errno === "EINVAL");
  assert.match(r.reason, /bad manifest magic/);

  // A chunk that points at itself, with a root that allows many chunks: a cycle, no hang.
  k1 = boot();
  w = writeScenarioManifest(k1, sections(10));
  k1.machine.mem.writeU64(w.firstChunkPhys + 8, w.firstChunkPhys);
  k1.machine.mem.writeBytes(
    w.rootPhys,
    encodeManifestRoot({ first: w.firstChunkPhys, nrChunks: 1000, payloadBytes: w.payloadBytes }),
  );
  r = readScenarioManifest(kexec(k1));
  assert.ok(!r.ok && r.errno === "EINVAL");
  assert.match(r.reason, /cycle/);

  // A root FDT overwritten with garbage.
  k1 = boot();
  w = writeScenarioManifest(k1, sections(10));
  k1.machine.mem.fill(w.rootPhys, 64, { byte: 0x5a });
  r = readScenarioManifest(kexec(k1));
  assert.ok(!r.ok && r.errno === "EINVAL");
  assert.match(r.reason, /root FDT/);

  // A next pointer to memory that was never preserved.
  k1 = boot();
  w = writeScenarioManifest(k1, sections(10));
  k1.machine.mem.writeU64(w.firstChunkPhys + 8, 0x8000_0000);
  k1.machine.mem.writeBytes(
    w.rootPhys,
    encodeManifestRoot({ first: w.firstChunkPhys, nrChunks: 2, payloadBytes: w.payloadBytes }),
  );
  r = readScenarioManifest(kexec(k1));
  assert.ok(!r.ok && r.errno === "EINVAL");
  assert.match(r.reason, /chunk 1 at 0x80000000 did not restore/);
});

Deno.test("on fragmented memory the writer falls back to smaller chunks; ENOMEM undoes all", () => {
  const k1 = boot();
  // The first chunk's order-9, 8 and 7 allocations fail: it becomes an order-6 chunk.
  k1.faults.arm({ probability: 1, times: 3, sites: [SCENARIO_MANIFEST_SITE] });
  const want = sections(300_000);
  const w = writeScenarioManifest(k1, want);
  assert.equal(k1.faults.injected, 3);
  assert.deepEqual(planChunkOrders(w.payloadBytes), [9, 9, 8]);
  assert.equal(w.chunks, 4, "an order-6 chunk, then 9, 9 and a smaller tail");
  assert.deepEqual(k1.log.warnings(), [], "high orders are tried with __GFP_NOWARN");
  const r = readScenarioManifest(kexec(k1));
  assert.ok(r.ok, r.ok ? "" : r.reason);
  assert.deepEqual(r.sections, want);

  // No memory at all for the manifest: ENOMEM, and (kho-v4 can unpreserve) nothing is left.
  const k = boot();
  const free = k.buddy.nrFreePages();
  k.faults.arm({ probability: 1, sites: [SCENARIO_MANIFEST_SITE] });
  assert.throws(
    () => writeScenarioManifest(k, want),
    (e) => e instanceof KhoError && e.code === "ENOMEM",
  );
  assert.equal(k.buddy.nrFreePages(), free);
  k.faults.arm({ nth: 2, sites: [SCENARIO_MANIFEST_SITE] }); // one order-0 chunk, then the root
  assert.throws(
    () => writeScenarioManifest(k, sections(10)),
    (e) => e instanceof KhoError && e.code === "ENOMEM",
  );
  assert.equal(k.buddy.nrFreePages(), free, "the chunk was unpreserved and freed");
  k.faults.disarm();
  const r2 = readScenarioManifest(kexec(k));
  assert.ok(!r2.ok && r2.errno === "ENOENT");
});

Deno.test("fault injection at every allocation point of the writer: ENOMEM and nothing left", () => {
  const k = boot();
  const free = k.buddy.nrFreePages();
  const fdt = k.kho.out!.root.bytes();
  const preserved = () => {
    const out: string[] = [];
    k.kho.out!.tracker.walk((phys, order) => (out.push(`${phys}/${order}`), 0));
    return out.sort();
  };
  const set = preserved();
  const want = sections(300_000);
  let failures = 0;
  let points = 0;
  for (let nth = 1;; nth++) {
    k.faults.arm({ nth });
    let failed: unknown = null;
    let written = null;
    try {
      written = writeScenarioManifest(k, want);
    } catch (e) {
      failed = e;
    }
    const injected = k.faults.injected;
    k.faults.disarm();
    if (injected === 0) {
      // Past the last allocation point: the write succeeded; take it back for the next run.
      assert.ok(written !== null);
      assert.equal(discardScenarioManifest(k, written), "");
      break;
    }
    points++;
    if (written !== null) {
      // A high-order chunk fell back to a smaller order (kvmalloc-style); still complete.
      assert.equal(discardScenarioManifest(k, written), "");
    } else {
      failures++;
      assert.ok(failed instanceof KhoError && failed.code === "ENOMEM", `nth=${nth}: ${failed}`);
    }
    assert.deepEqual(preserved(), set, `nth=${nth}`);
    assert.deepEqual(k.kho.out!.root.bytes(), fdt, `nth=${nth}`);
    // Tracker pages the tracker keeps may stay; nothing else is leaked.
    assert.ok(free - k.buddy.nrFreePages() <= k.kho.out!.tracker.metadataPages(), `nth=${nth}`);
  }
  // Chunk allocations fall back to smaller orders down to 0; the root page has no fallback.
  assert.ok(points >= 4 && failures >= 1, `${points} points, ${failures} failing`);
  writeScenarioManifest(k, want);
  const r = readScenarioManifest(kexec(k));
  assert.ok(r.ok && r.sections.length === want.length);
});

Deno.test("sub-tree sections: the blob is found by name, restored and its content checked", () => {
  for (const profile of ["kho-v4", "kho-v1-6.19", "kho-v2"] as const) {
    const k1 = boot(profile);
    const phys = k1.kho.allocPreserve(10_000);
    k1.machine.mem.fill(phys, 10_000, { pattern: 3 });
    k1.kho.addSubtree("notes", phys, 10_000);
    const hash = k1.machine.mem.hash64(phys, 10_000);
    const want: ManifestSection[] = [
      { kind: "subtree", name: "notes", attempted: 1, blob: { phys, size: 10_000, hash } },
      { kind: "subtree", name: "gone", attempted: 1, blob: null },
    ];
    writeScenarioManifest(k1, want);
    const k2 = kexec(k1);
    const r = readScenarioManifest(k2);
    assert.ok(r.ok, profile);
    assert.deepEqual(r.sections, want, profile);
    const tally = new Tally();
    for (const s of r.sections) restoreSection(k2, s, tally);
    assert.equal(tally.restoredBlocks, 1, profile);
    assert.equal(tally.lostObjects, 1, `${profile}: the blob that was never added`);
    assert.equal(tally.errorText(), "", profile);
  }
});

Deno.test("an unreadable manifest is logged (issue 18 §1): its objects stay unrestored, never silently; a missing one is not", () => {
  const none = kexec(boot());
  assert.equal(readScenarioManifest(none).ok, false);
  assert.equal(none.log.grep("kholab-scenario").length, 0, "ENOENT: nothing to say");
  const k1 = boot();
  const w = writeScenarioManifest(k1, sections(10));
  k1.machine.mem.fill(w.firstChunkPhys + SCENARIO_CHUNK_HEADER_SIZE, 8, { byte: 0xff });
  const k2 = kexec(k1);
  const r = readScenarioManifest(k2);
  assert.ok(!r.ok && r.errno === "EINVAL");
  const lines = k2.log.entries().filter((e) => e.prefix === "kholab-scenario");
  assert.deepEqual(lines.map((e) => [e.level, e.text]), [
    ["warn", "manifest unreadable (EINVAL): bad manifest magic"],
  ]);
});
