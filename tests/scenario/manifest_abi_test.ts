import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chunkCapacity,
  clipReason,
  decodeChunkHeader,
  decodeManifest,
  decodeManifestRoot,
  encodeChunkHeader,
  encodeManifest,
  encodeManifestRoot,
  type ManifestRoot,
  type ManifestSection,
  manifestStreamBytes,
  planChunkOrders,
  readChunkChain,
  SCENARIO_CHUNK_HEADER_SIZE,
  SCENARIO_SECTION_HEADER_SIZE,
  SCENARIO_STREAM_HEADER_SIZE,
  SECTION_KINDS,
} from "../../lib/scenario/manifest_abi.ts";
import { KhoVmalloc } from "../../lib/kho/abi/kexec_handover.ts";
import { FdtWriter, le64 } from "../../lib/kho/fdt/mod.ts";

const SECTIONS: ManifestSection[] = [
  {
    kind: "folio",
    name: "iommu",
    attempted: 4,
    order: 0,
    pfns: Float64Array.of(0x100, 0x3_ffff_ffff, 2 ** 41 - 1),
    hashes: BigUint64Array.of(0n, 0xffff_ffff_ffff_ffffn, 0x0123_4567_89ab_cdefn),
  },
  {
    kind: "range",
    name: "dma",
    attempted: 1,
    nrPages: 512,
    pfns: Float64Array.of(0x40000),
    hashes: BigUint64Array.of(42n),
  },
  {
    kind: "blocks",
    name: "host",
    attempted: 4,
    pfns: Float64Array.of(0x40000, 0x1, 2 ** 41 - 2 ** 34),
    orders: Uint8Array.of(18, 0, 34),
    hashes: BigUint64Array.of(1n, 2n, 3n),
  },
  {
    kind: "vmalloc",
    name: "vmalloc",
    attempted: 3,
    unsupported: { count: 1, reason: "no kho_preserve_vmalloc here" },
    bytes: 1 << 20,
    descs: [new KhoVmalloc({ first: 0x1_0000_2000, totalPages: 256, flags: 1, order: 0 })],
    hashes: BigUint64Array.of(7n),
  },
  {
    kind: "memfd",
    name: "guests",
    attempted: 5,
    unsupported: { count: 3, reason: "hugetlb memfd (1 GiB pages): no LUO file handler — é" },
    files: [
      { session: "vm0", token: 1n, nrFolios: 504, hash: 0xdead_beef_0000_0001n },
      { session: "x".repeat(63), token: 2n ** 64n - 1n, nrFolios: 0, hash: 0n },
    ],
  },
  { kind: "test_kho", name: "test_kho", attempted: 1, saved: true },
  {
    kind: "test_kho",
    name: "t".repeat(31),
    attempted: 1,
    saved: false,
    failedReason: "kho_test_init: ENOMEM: no page for the folios",
  },
  {
    kind: "subtree",
    name: "notes",
    attempted: 1,
    blob: { phys: 0x7_0000_1000, size: 20000, hash: 9n },
  },
  { kind: "subtree", name: "lost-blob", attempted: 1, blob: null },
  {
    kind: "reserve_mem",
    name: "trace",
    attempted: 1,
    blob: { phys: 0x1040, size: 8 << 20, hash: 1n },
  },
];

function mustDecode(bytes: Uint8Array): ManifestSection[] {
  const r = decodeManifest(bytes);
  assert.ok(r.ok, r.ok ? "" : r.reason);
  return r.value;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  const r = decodeManifest(bytes);
  assert.ok(!r.ok, "accepted a corrupt manifest");
  assert.match(r.reason, pattern);
}

Deno.test("the stream round-trips every section kind, little-endian, at the documented offsets", () => {
  const bytes = encodeManifest(SECTIONS);
  assert.equal(bytes.length, manifestStreamBytes(SECTIONS));
  const reasons = [
    new TextEncoder().encode("no kho_preserve_vmalloc here").length, // 28 → 32
    new TextEncoder().encode("hugetlb memfd (1 GiB pages): no LUO file handler — é").length,
    "kho_test_init: ENOMEM: no page for the folios".length, // the failed-preserve reason
  ].map((n) => Math.ceil(n / 8) * 8);
  assert.equal(
    bytes.length,
    24 + 10 * 72 + reasons[0] + reasons[1] + reasons[2] + 3 * 16 + 16 + 24 + 2 * 88 + 24 + 24 +
      3 * 24,
    "header, ten section headers, three reasons, records",
  );
  assert.equal(dv0(bytes).getUint32(8, true), 3, "version 3");
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "KHSCMAN1");
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getUint32(12, true), SECTIONS.length);
  assert.equal(Number(dv.getBigUint64(16, true)), bytes.length);
  // The first section: name, kind, record size, attempted, count, order, then pfn 0x100.
  const s0 = SCENARIO_STREAM_HEADER_SIZE;
  assert.equal(new TextDecoder().decode(bytes.subarray(s0, s0 + 5)), "iommu");
  assert.equal(bytes[s0 + 5], 0);
  assert.deepEqual(
    [32, 36, 40, 44].map((o) => dv.getUint32(s0 + o, true)),
    [SECTION_KINDS.folio, 16, 4, 3],
  );
  assert.deepEqual(
    [56, 60, 64, 68].map((o) => dv.getUint32(s0 + o, true)),
    [0, 0, 0, 0],
    "nothing unsupported, no failed-preserve reason, reserved",
  );
  assert.equal(dv.getUint32(s0 + SCENARIO_SECTION_HEADER_SIZE, true), 0x100);
  assert.deepEqual(mustDecode(bytes), SECTIONS);
  // The memfd section: unsupported 3 and its reason, then { session[64], token, nr, hash }.
  let at = s0;
  for (let i = 0; i < SECTIONS.findIndex((x) => x.kind === "memfd"); i++) {
    at += SCENARIO_SECTION_HEADER_SIZE + Math.ceil(dv.getUint32(at + 60, true) / 8) * 8 +
      dv.getUint32(at + 36, true) * dv.getUint32(at + 44, true);
  }
  assert.deepEqual([32, 36, 40, 44, 56].map((o) => dv.getUint32(at + o, true)), [4, 88, 5, 2, 3]);
  const rec = at + SCENARIO_SECTION_HEADER_SIZE + reasons[1];
  assert.equal(new TextDecoder().decode(bytes.subarray(rec, rec + 3)), "vm0");
  assert.deepEqual(
    [dv.getBigUint64(rec + 64, true), dv.getBigUint64(rec + 72, true)],
    [1n, 504n],
  );
});

function dv0(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}

Deno.test("property: random sections round-trip", () => {
  const pfns = fc.array(fc.integer({ min: 0, max: 2 ** 41 - 1 }), { maxLength: 20 });
  const section = fc.oneof(
    fc.record({
      kind: fc.constantFrom("folio" as const, "range" as const),
      name: fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes("\0")),
      extra: fc.nat(5),
      param: fc.integer({ min: 1, max: 18 }),
      pfns,
      seed: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    }).map((r): ManifestSection => {
      const hashes = BigUint64Array.from(r.pfns, (p) => (r.seed ^ BigInt(p)) & (2n ** 64n - 1n));
      const base = { name: r.name, attempted: r.pfns.length + r.extra };
      return r.kind === "folio"
        ? { ...base, kind: "folio", order: r.param, pfns: Float64Array.from(r.pfns), hashes }
        : { ...base, kind: "range", nrPages: r.param, pfns: Float64Array.from(r.pfns), hashes };
    }),
    fc.record({
      names: fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,63}$/), { maxLength: 5 }),
      extra: fc.nat(3),
      unsupported: fc.nat(3),
      reason: fc.string({ minLength: 1, maxLength: 40 }),
      token: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    }).map((r): ManifestSection => ({
      kind: "memfd",
      name: "guests",
      attempted: r.names.length + r.extra + r.unsupported,
      ...(r.unsupported > 0 ? { unsupported: { count: r.unsupported, reason: r.reason } } : {}),
      files: r.names.map((session, i) => ({
        session,
        token: r.token ^ BigInt(i),
        nrFolios: i * 3,
        hash: BigInt(i) << 60n,
      })),
    })),
    fc.record({
      pfn: fc.integer({ min: 0, max: 2 ** 41 - 1 }),
      size: fc.integer({ min: 1, max: 2 ** 30 }),
      hash: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      added: fc.boolean(),
      region: fc.boolean(),
    }).map((r): ManifestSection => ({
      kind: r.region ? "reserve_mem" : "subtree",
      name: "blob",
      attempted: 1,
      blob: r.added ? { phys: r.pfn * 4096, size: r.size, hash: r.hash } : null,
    })),
  );
  fc.assert(
    fc.property(fc.array(section, { maxLength: 6 }), (sections) => {
      assert.deepEqual(mustDecode(encodeManifest(sections)), sections);
    }),
    { seed: 20260601, numRuns: 150 },
  );
});

Deno.test("the encoder refuses what the layout cannot hold", () => {
  const f = SECTIONS[0] as Extract<ManifestSection, { kind: "folio" }>;
  assert.throws(() => encodeManifest([{ ...f, name: "" }]), RangeError);
  assert.throws(() => encodeManifest([{ ...f, name: "n".repeat(32) }]), RangeError);
  assert.throws(() => encodeManifest([{ ...f, attempted: 2 }]), RangeError, "count > attempted");
  assert.throws(
    () => encodeManifest([{ ...f, pfns: Float64Array.of(2 ** 41), hashes: BigUint64Array.of(0n) }]),
    RangeError,
  );
  assert.throws(() => encodeManifest([{ ...f, hashes: new BigUint64Array(0) }]), RangeError);
  const blob = { phys: 0x1000, size: 1, hash: 0n };
  const sub = { kind: "subtree" as const, name: "s", attempted: 1 };
  assert.throws(() => encodeManifest([{ ...sub, blob: { ...blob, phys: 0x1001 } }]), RangeError);
  assert.throws(() => encodeManifest([{ ...sub, blob: { ...blob, size: 0 } }]), RangeError);
  assert.throws(
    () => encodeManifest([{ ...sub, blob: { ...blob, size: 2 ** 30 + 1 } }]),
    RangeError,
  );
  assert.throws(
    () => encodeManifest([{ ...f, attempted: 4, unsupported: { count: 2, reason: "r" } }]),
    RangeError,
    "records + unsupported > attempted",
  );
  assert.throws(
    () => encodeManifest([{ ...f, attempted: 5, unsupported: { count: 1, reason: "" } }]),
    RangeError,
    "unsupported objects need a reason",
  );
  assert.throws(
    () => encodeManifest([{ ...f, attempted: 3, failedReason: "ENOMEM" }]),
    RangeError,
    "a failed-preserve reason only where some preserve failed",
  );
  assert.throws(
    () => encodeManifest([{ ...f, failedReason: "x".repeat(1025) }]),
    RangeError,
    "at most 1024 bytes",
  );
});

Deno.test("clipReason keeps a reason within the layout's 1024 bytes, whole characters", () => {
  assert.equal(clipReason("x".repeat(1024)), "x".repeat(1024));
  const cut = clipReason("😀".repeat(300)); // 4 bytes each
  assert.ok(new TextEncoder().encode(cut).length <= 1024);
  assert.ok(cut.endsWith("…") && !cut.includes("\uFFFD"));
  assert.deepEqual(mustDecode(encodeManifest([{ ...SECTIONS[0], failedReason: cut }]))[0], {
    ...SECTIONS[0],
    failedReason: cut,
  });
});

/** The stream of SECTIONS with `patch` applied to a copy. */
function patched(patch: (dv: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = encodeManifest(SECTIONS).slice();
  patch(new DataView(bytes.buffer), bytes);
  return bytes;
}

Deno.test("the decoder rejects corrupt streams with a reason and never throws", () => {
  const s0 = SCENARIO_STREAM_HEADER_SIZE;
  rejects(patched((_, b) => (b[0] ^= 1)), /bad manifest magic/);
  rejects(patched((dv) => dv.setUint32(8, 1, true)), /version 1/);
  rejects(patched((dv) => dv.setUint32(16, 99, true)), /payload_bytes 99/);
  rejects(patched((dv) => dv.setUint32(12, 0xffff_ffff, true)), /nr_sections/);
  rejects(patched((dv) => dv.setUint32(12, 5, true)), /trailing bytes/);
  // Count overflow: 2^32 - 1 records of 16 bytes (count ≤ attempted still holds).
  rejects(
    patched((dv) => {
      dv.setUint32(s0 + 40, 0xffff_ffff, true);
      dv.setUint32(s0 + 44, 0xffff_ffff, true);
    }),
    /overflow the manifest/,
  );
  rejects(
    patched((dv) => dv.setUint32(s0 + 44, 5, true)),
    /count 5 \+ unsupported 0 > attempted 4/,
  );
  rejects(patched((dv) => dv.setUint32(s0 + 32, 9, true)), /unknown kind/);
  rejects(patched((dv) => dv.setUint32(s0 + 36, 24, true)), /record size 24/);
  rejects(patched((dv) => dv.setUint32(s0 + 48, 31, true)), /folio order 31/);
  rejects(patched((_, b) => (b[s0] = 0)), /bad name/);
  rejects(patched((_, b) => b.fill(0x41, s0, s0 + 32)), /bad name/);
  rejects(patched((dv) => dv.setUint32(s0 + 72 + 4, 0x200, true)), /pfn/);
  rejects(patched((dv) => dv.setUint32(s0 + 68, 1, true)), /reserved not zero/);
  rejects(patched((dv) => dv.setUint32(s0 + 64, 2000, true)), /failed-preserve reason of 2000/);
  rejects( // a failed-preserve reason where every object has a record
    patched((dv) => (dv.setUint32(s0 + 40, 3, true), dv.setUint32(s0 + 64, 8, true))),
    /failed-preserve reason of 8 bytes/,
  );
  rejects(
    patched((dv) => dv.setUint32(s0 + 56, 2, true)),
    /count 3 \+ unsupported 2 > attempted 4/,
  );
  rejects(
    patched((dv) => (dv.setUint32(s0 + 40, 9, true), dv.setUint32(s0 + 56, 1, true))),
    /reason of 0 bytes for 1 unsupported/,
  );
  rejects(patched((dv) => dv.setUint32(s0 + 60, 8, true)), /reason of 8 bytes for 0/);
  rejects(encodeManifest(SECTIONS).subarray(0, 20), /too short/);
  // The sub-tree record: the last but one section.
  const sub = encodeManifest(SECTIONS.slice(0, -3)).length + SCENARIO_SECTION_HEADER_SIZE;
  rejects(patched((dv) => dv.setUint32(sub, 0x1234, true)), /blob at/);
  rejects(patched((dv) => dv.setUint32(sub + 8, 0, true)), /blob of 0 bytes/);
  rejects(patched((dv) => dv.setUint32(sub - 24, 1, true)), /subtree param 1/); // param at 48
  // A region need not be page-aligned, but it must be a size.
  const reg = encodeManifest(SECTIONS.slice(0, -1)).length + SCENARIO_SECTION_HEADER_SIZE;
  rejects(patched((dv) => dv.setUint32(reg + 8, 0, true)), /region of 0 bytes/);
  rejects(patched((dv) => dv.setUint32(reg + 4, 0x200_0000, true)), /region at/);
  rejects(patched(() => {}).subarray(0, 100), /payload_bytes/);
  // Every single-byte corruption of the headers is either rejected or decodes to sections;
  // nothing throws.
  const good = encodeManifest(SECTIONS);
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const b = good.slice();
      b[at] ^= x;
      const r = decodeManifest(b);
      assert.ok(r.ok || r.reason.length > 0);
    }),
    { seed: 7, numRuns: 400 },
  );
});

Deno.test("chunk headers and chunk planning: order ≤ 9, smallest order for the tail", () => {
  const h = { next: 0x1_2340_0000, seq: 3, order: 9, used: chunkCapacity(9) };
  const b = encodeChunkHeader(h);
  assert.equal(b.length, SCENARIO_CHUNK_HEADER_SIZE);
  assert.equal(new TextDecoder().decode(b.subarray(0, 8)), "KHSCCHK1");
  assert.deepEqual(decodeChunkHeader(b), { ok: true, value: h });
  assert.throws(() => encodeChunkHeader({ ...h, order: 10 }), RangeError);
  assert.throws(() => encodeChunkHeader({ ...h, used: chunkCapacity(9) + 1 }), RangeError);
  const bad = b.slice();
  bad[0] ^= 1;
  assert.equal(decodeChunkHeader(bad).ok, false);
  new DataView(bad.buffer).setUint32(8, 0x1001, true);
  bad[0] ^= 1;
  assert.match((decodeChunkHeader(bad) as { reason: string }).reason, /not page-aligned/);

  assert.deepEqual(planChunkOrders(24), [0]);
  assert.deepEqual(planChunkOrders(chunkCapacity(0) + 1), [1]);
  // 1 Mi records of 16 bytes: eight order-9 chunks and a small tail.
  const big = 24 + 56 + 16 * 2 ** 20 + 4 * 56 + 1000;
  const orders = planChunkOrders(big);
  assert.deepEqual(orders.slice(0, 8), [9, 9, 9, 9, 9, 9, 9, 9]);
  assert.equal(orders.length, 9);
  assert.ok(orders[8] <= 1);
  assert.ok(orders.reduce((s, o) => s + chunkCapacity(o), 0) >= big);
});

Deno.test("the root FDT round-trips and the decoder checks it", () => {
  const root: ManifestRoot = { first: 0x2_0000_0000, nrChunks: 9, payloadBytes: 16 * 2 ** 20 };
  const fdt = encodeManifestRoot(root);
  assert.ok(fdt.length < 4096);
  assert.deepEqual(decodeManifestRoot(fdt), { ok: true, value: root });
  const reason = (bytes: Uint8Array) => {
    const r = decodeManifestRoot(bytes);
    assert.ok(!r.ok);
    return r.reason;
  };
  assert.match(reason(new Uint8Array(4096)), /root FDT/);
  assert.match(reason(encodeManifestRoot({ ...root, nrChunks: 0 })), /nr-chunks 0/);
  assert.match(reason(encodeManifestRoot({ ...root, first: 0x1234 })), /first-chunk/);
  assert.match(reason(encodeManifestRoot({ ...root, payloadBytes: 10 })), /payload-bytes/);
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "kholab-scenario-v1");
  w.property("first-chunk", le64(0x1000));
  w.endNode();
  assert.match(reason(w.finish()), /missing/);
  const other = fdt.slice();
  other.set(new TextEncoder().encode("kholab-scenario-v2"), fdt.indexOf(0x6b)); // "k" of compat
  assert.match(reason(other), /not kholab-scenario-v1/);
});

/** A chain in a Map: phys → chunk bytes, each `1 << order` pages. */
function chain(stream: Uint8Array, physOf: (seq: number) => number) {
  const orders = planChunkOrders(stream.length);
  const mem = new Map<number, Uint8Array>();
  let off = 0;
  orders.forEach((order, seq) => {
    const bytes = new Uint8Array(4096 * 2 ** order);
    const used = Math.min(stream.length - off, chunkCapacity(order));
    const next = seq + 1 < orders.length ? physOf(seq + 1) : 0;
    bytes.set(encodeChunkHeader({ next, seq, order, used }));
    bytes.set(stream.subarray(off, off + used), SCENARIO_CHUNK_HEADER_SIZE);
    off += used;
    mem.set(physOf(seq), bytes);
  });
  const root: ManifestRoot = {
    first: physOf(0),
    nrChunks: orders.length,
    payloadBytes: stream.length,
  };
  return { mem, root };
}

Deno.test("readChunkChain reassembles the stream and stops at cycles and bad chains", () => {
  const stream = new Uint8Array(5 * 2 ** 20).map((_, i) => (i * 31) & 0xff);
  const physOf = (seq: number) => 0x4000_0000 - seq * 0x20_0000;
  const { mem, root } = chain(stream, physOf);
  assert.equal(root.nrChunks, 3);
  const loads: number[] = [];
  const load = (phys: number) => {
    loads.push(phys);
    return mem.get(phys) ?? null;
  };
  const r = readChunkChain(root, load);
  assert.ok(r.ok);
  assert.deepEqual(r.value, stream);
  assert.deepEqual(loads, [0, 1, 2].map(physOf));

  const reason = (rt: ManifestRoot, m: Map<number, Uint8Array>) => {
    const seen = new Set<number>();
    const x = readChunkChain(rt, (phys) => {
      assert.ok(!seen.has(phys), "a chunk loaded twice");
      seen.add(phys);
      return m.get(phys) ?? null;
    });
    assert.ok(!x.ok);
    return x.reason;
  };
  const withNext = (seq: number, next: number) => {
    const m = new Map([...mem].map(([k, v]) => [k, v.slice()]));
    new DataView(m.get(physOf(seq))!.buffer).setUint32(8, next % 2 ** 32, true);
    return m;
  };
  // Cycle: chunk 2 points back at chunk 0 (nr-chunks large enough not to stop it first).
  assert.match(reason({ ...root, nrChunks: 100 }, withNext(2, physOf(0))), /cycle/);
  assert.match(reason(root, withNext(2, physOf(0))), /longer than nr-chunks/);
  assert.match(reason({ ...root, nrChunks: 4 }, mem), /chain of 3 chunks/);
  assert.match(reason(root, withNext(0, 0x1000)), /did not restore/);
  const m2 = new Map(mem);
  m2.set(physOf(1), mem.get(physOf(1))!.slice(0, 4096));
  assert.match(reason(root, m2), /order 9 but a 4096-byte folio/);
  const m3 = new Map([...mem].map(([k, v]) => [k, v.slice()]));
  new DataView(m3.get(physOf(1))!.buffer).setUint32(16, 7, true);
  assert.match(reason(root, m3), /seq 7/);
  const m4 = new Map([...mem].map(([k, v]) => [k, v.slice()]));
  m4.get(physOf(2))![3] ^= 0x40;
  assert.match(reason(root, m4), /bad chunk magic/);
  assert.match(reason({ ...root, payloadBytes: stream.length - 1 }, mem), /more than payload/);
  assert.match(reason({ ...root, payloadBytes: stream.length + 1 }, mem), /holds/);
});

Deno.test("blocks sections: one order per record, checked both ways", () => {
  const b = SECTIONS.find((x) => x.kind === "blocks")!;
  const bytes = encodeManifest([b]);
  const at = SCENARIO_STREAM_HEADER_SIZE + SCENARIO_SECTION_HEADER_SIZE;
  const dv = new DataView(bytes.buffer);
  assert.deepEqual([0, 8, 24, 32].map((o) => Number(dv.getBigUint64(at + o, true))), [
    0x40000,
    18,
    0x1,
    0,
  ]);
  assert.equal(dv.getUint32(SCENARIO_STREAM_HEADER_SIZE + 32, true), SECTION_KINDS.blocks);
  dv.setBigUint64(at + 8, 35n, true);
  rejects(bytes, /record 0: block 262144 of order 35/);
  const bad = { ...b, orders: Uint8Array.of(18, 35, 0) } as ManifestSection;
  assert.throws(() => encodeManifest([bad]), /block 1 of order 35/);
});
