import assert from "node:assert/strict";
import { forEachSeed } from "../support/seeds.ts";
import fc from "fast-check";
import { pageSeed, PhysicalMemory } from "../../lib/machine/physmem.ts";
import { PhysRangeError } from "../../lib/errors.ts";
import { GiB, PAGE_SIZE, TiB } from "../../lib/units.ts";

Deno.test("power-on memory reads zero and costs nothing", () => {
  const mem = new PhysicalMemory(32 * TiB);
  assert.equal(mem.readU64(12 * TiB), 0);
  assert.equal(mem.readU8(32 * TiB - 1), 0);
  assert.equal(mem.stats().sections, 0);
  const zeroHash = mem.hash64(0, 4 * PAGE_SIZE);
  mem.writeU8(5, 0); // writing the same byte materializes the page with identical bytes
  assert.equal(mem.hash64(0, 4 * PAGE_SIZE), zeroHash);
  mem.writeU8(5, 1);
  assert.notEqual(mem.hash64(0, 4 * PAGE_SIZE), zeroHash);
});

Deno.test("little-endian scalar access round-trips at every alignment", () => {
  const mem = new PhysicalMemory(1 << 20);
  mem.writeU64(0x1000, 0x123456789abcd);
  assert.deepEqual([...mem.readBytes(0x1000, 8)], [0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0x00]);
  mem.writeU32(0x2ffe, 0xdeadbeef); // straddles a page boundary
  assert.equal(mem.readU32(0x2ffe), 0xdeadbeef);
  assert.equal(mem.readU16(0x2ffe), 0xbeef);
  mem.writeU64Parts(0x3000, 0x00000003, 0x4b484f50);
  assert.equal(mem.readU64Big(0x3000), 0x4b484f5000000003n);
  assert.deepEqual(mem.readU64Parts(0x3000), [3, 0x4b484f50]);
  mem.writeU64Big(0x3008, -1n);
  assert.equal(mem.readU64Big(0x3008), 0xffffffffffffffffn);
});

Deno.test("out-of-range access throws PhysRangeError", () => {
  const mem = new PhysicalMemory(1 << 20);
  assert.throws(() => mem.readU8(1 << 20), PhysRangeError);
  assert.throws(() => mem.writeU64((1 << 20) - 4, 1), PhysRangeError);
  assert.throws(() => mem.readBytes(-1, 2), PhysRangeError);
  assert.throws(() => mem.writeU64(0, -1), RangeError);
  assert.throws(() => new PhysicalMemory(1000), RangeError);
});

Deno.test("fills are descriptors: 1 GiB of random content stores no bytes", () => {
  const mem = new PhysicalMemory(4 * GiB);
  mem.fill(GiB, GiB, { pattern: 42 });
  const s = mem.stats();
  assert.equal(s.materializedPages, 0);
  assert.equal(s.sections, 8);
  const a = mem.readBytes(GiB + 5 * PAGE_SIZE, 64);
  assert.ok(a.some((b) => b !== 0));
  // Same seed and position give the same bytes; another seed differs.
  const other = new PhysicalMemory(4 * GiB);
  other.fill(GiB, GiB, { pattern: 42 });
  assert.deepEqual(other.readBytes(GiB + 5 * PAGE_SIZE, 64), a);
  other.fill(GiB, GiB, { pattern: 43 });
  assert.notDeepEqual(other.readBytes(GiB + 5 * PAGE_SIZE, 64), a);
});

Deno.test("partial writes materialize only the written page, keeping the pattern around it", () => {
  const mem = new PhysicalMemory(GiB);
  mem.fill(0, 16 * PAGE_SIZE, { pattern: 7 });
  const before = mem.readBytes(3 * PAGE_SIZE, PAGE_SIZE);
  mem.writeU8(3 * PAGE_SIZE + 10, before[10] ^ 0xff);
  const after = mem.readBytes(3 * PAGE_SIZE, PAGE_SIZE);
  assert.equal(after[10], before[10] ^ 0xff);
  assert.deepEqual(after.subarray(11), before.subarray(11));
  assert.equal(mem.stats().materializedPages, 1);
});

Deno.test("unaligned fills write exact byte ranges", () => {
  const mem = new PhysicalMemory(1 << 22);
  mem.fill(100, 3 * PAGE_SIZE, { byte: 0xab });
  assert.equal(mem.readU8(99), 0);
  assert.equal(mem.readU8(100), 0xab);
  assert.equal(mem.readU8(100 + 3 * PAGE_SIZE - 1), 0xab);
  assert.equal(mem.readU8(100 + 3 * PAGE_SIZE), 0);
  mem.zero(0, 1 << 22);
  assert.equal(mem.stats().sections, 0);
});

Deno.test("hash64 detects any change and is position-sensitive", () => {
  const mem = new PhysicalMemory(GiB);
  mem.fill(0, 256 * PAGE_SIZE, { pattern: 1 });
  const h0 = mem.hash64(0, 256 * PAGE_SIZE);
  mem.writeU8(77 * PAGE_SIZE + 5, mem.readU8(77 * PAGE_SIZE + 5) ^ 1);
  const h1 = mem.hash64(0, 256 * PAGE_SIZE);
  assert.notEqual(h0, h1);
  assert.notEqual(mem.hash64(0, 255 * PAGE_SIZE), mem.hash64(PAGE_SIZE, 255 * PAGE_SIZE));
  // Uniform bytes hash the same whether materialized or described.
  const a = new PhysicalMemory(1 << 22), b = new PhysicalMemory(1 << 22);
  a.fill(0, 4 * PAGE_SIZE, { byte: 0x5a });
  b.writeBytes(0, new Uint8Array(4 * PAGE_SIZE).fill(0x5a));
  assert.equal(a.hash64(0, 4 * PAGE_SIZE), b.hash64(0, 4 * PAGE_SIZE));
  // Swapping two different pages changes the hash.
  a.fill(0, PAGE_SIZE, { byte: 1 });
  const h2 = a.hash64(0, 4 * PAGE_SIZE);
  a.fill(0, PAGE_SIZE, { byte: 0x5a });
  a.fill(PAGE_SIZE, PAGE_SIZE, { byte: 1 });
  assert.notEqual(a.hash64(0, 4 * PAGE_SIZE), h2);
});

Deno.test("hash64 over a 1 TiB pattern fill is closed-form (one step per section)", () => {
  const mem = new PhysicalMemory(TiB + GiB);
  mem.fill(GiB, TiB, { pattern: 9 });
  const h = mem.hash64(GiB, TiB);
  mem.fill(GiB + 512 * GiB, PAGE_SIZE, { byte: 0 });
  assert.notEqual(mem.hash64(GiB, TiB), h);
});

Deno.test("csumPartial matches a reference ones'-complement sum", () => {
  const mem = new PhysicalMemory(1 << 22);
  const bytes = new Uint8Array(5000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
  mem.writeBytes(0x1000, bytes);
  const ref = (start: number, len: number, sum: number) => {
    let acc = 0;
    for (let i = 0; i < len; i++) {
      acc += ((start + i) & 1) === (start & 1) ? bytes[i] : bytes[i] << 8;
    }
    while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
    let r = (acc + sum) >>> 0;
    if (sum > r) r = (r + 1) >>> 0;
    return r;
  };
  assert.equal(mem.csumPartial(0x1000, 5000, 0), ref(0x1000, 5000, 0));
  assert.equal(mem.csumPartial(0x1000, 5000, 0xffffffff), ref(0x1000, 5000, 0xffffffff));
  // Running checksum over two pieces equals one checksum over the whole when pieces are even.
  const whole = mem.csumPartial(0x1000, 4096, 0);
  const parts = mem.csumPartial(0x1800, 2048, mem.csumPartial(0x1000, 2048, 0));
  assert.equal(whole % 0xffff, parts % 0xffff);
});

Deno.test("copy of descriptor pages stays sparse and preserves content", () => {
  const mem = new PhysicalMemory(GiB);
  mem.fill(0, 64 * PAGE_SIZE, { pattern: 3 });
  const src = mem.readBytes(0, 64 * PAGE_SIZE);
  mem.copy(128 * PAGE_SIZE, 0, 64 * PAGE_SIZE);
  assert.deepEqual(mem.readBytes(128 * PAGE_SIZE, 64 * PAGE_SIZE), src);
  assert.equal(mem.stats().materializedPages, 0);
  // overlapping forward copy behaves like memmove
  mem.copy(PAGE_SIZE, 0, 8 * PAGE_SIZE);
  assert.deepEqual(mem.readBytes(PAGE_SIZE, 8 * PAGE_SIZE), src.subarray(0, 8 * PAGE_SIZE));
});

Deno.test("property: physical memory behaves like a flat byte array", () => {
  const size = 16 * PAGE_SIZE;
  const op = fc.oneof(
    fc.record({ k: fc.constant("u8" as const), at: fc.nat(size - 1), v: fc.nat(255) }),
    fc.record({ k: fc.constant("u32" as const), at: fc.nat(size - 4), v: fc.nat(0xffffffff) }),
    fc.record({
      k: fc.constant("u64" as const),
      at: fc.nat(size - 8),
      v: fc.nat(Number.MAX_SAFE_INTEGER),
    }),
    fc.record({
      k: fc.constant("fill" as const),
      at: fc.nat(size - 1),
      len: fc.nat(3 * PAGE_SIZE),
      v: fc.nat(255),
    }),
    fc.record({
      k: fc.constant("pat" as const),
      at: fc.nat(size - 1),
      len: fc.nat(3 * PAGE_SIZE),
      v: fc.nat(7),
    }),
    fc.record({
      k: fc.constant("copy" as const),
      at: fc.nat(size - 1),
      from: fc.nat(size - 1),
      len: fc.nat(2 * PAGE_SIZE),
    }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const mem = new PhysicalMemory(size);
      const model = new Uint8Array(size);
      for (const o of ops) {
        if (o.k === "u8") {
          mem.writeU8(o.at, o.v);
          model[o.at] = o.v;
        } else if (o.k === "u32") {
          mem.writeU32(o.at, o.v);
          new DataView(model.buffer).setUint32(o.at, o.v, true);
        } else if (o.k === "u64") {
          mem.writeU64(o.at, o.v);
          new DataView(model.buffer).setBigUint64(o.at, BigInt(o.v), true);
        } else if (o.k === "fill") {
          const len = Math.min(o.len, size - o.at);
          mem.fill(o.at, len, { byte: o.v });
          model.fill(o.v, o.at, o.at + len);
        } else if (o.k === "pat") {
          const len = Math.min(o.len, size - o.at);
          mem.fill(o.at, len, { pattern: o.v });
          model.set(mem.readBytes(o.at, len), o.at); // pattern content is defined by the memory
          // a pattern written twice at the same place is identical
          const again = new PhysicalMemory(size);
          again.fill(o.at, len, { pattern: o.v });
          assert.deepEqual(again.readBytes(o.at, len), model.subarray(o.at, o.at + len));
        } else {
          const len = Math.min(o.len, size - o.at, size - o.from);
          mem.copy(o.at, o.from, len);
          model.copyWithin(o.at, o.from, o.from + len);
        }
      }
      assert.deepEqual(mem.readBytes(0, size), model);
      for (let p = 0; p < size; p += 997) assert.equal(mem.readU8(p), model[p]);
    }),
    { seed: 20261121, numRuns: 150, endOnFailure: true },
  );
});

Deno.test("fillPageRanges equals filling each range, on dense and sparse sections", () => {
  const size = 3 * 32768 * PAGE_SIZE; // three sections
  const rngRanges = (seed: number, dense: boolean) => {
    const out: [number, number][] = [];
    let p = seed % 7;
    while (p < size / PAGE_SIZE) {
      const len = dense ? 200 + ((p * 31 + seed) % 900) : 1 + ((p * 7 + seed) % 5);
      const end = Math.min(p + len, size / PAGE_SIZE);
      out.push([p, end]);
      p = end + (dense ? 1 + ((p + seed) % 3) : 50 + ((p + seed) % 400));
    }
    return out;
  };
  for (const dense of [true, false]) {
    forEachSeed([1, 2, 3], (seed) => {
      const a = new PhysicalMemory(size), b = new PhysicalMemory(size);
      for (const m of [a, b]) {
        m.fill(0, size, { pattern: 5 });
        m.writeU64(7 * PAGE_SIZE + 8, 0x1234);
        m.fill(40000 * PAGE_SIZE, 3 * PAGE_SIZE, { byte: 9 });
      }
      const ranges = rngRanges(seed, dense);
      a.fillPageRanges(ranges, { pattern: 99 });
      for (const [s, e] of ranges) b.fill(s * PAGE_SIZE, (e - s) * PAGE_SIZE, { pattern: 99 });
      assert.equal(a.hash64(0, size), b.hash64(0, size));
      for (const pfn of [0, 7, 100, 32767, 32768, 40000, 40001, 70000, 98303]) {
        assert.deepEqual(
          a.readBytes(pfn * PAGE_SIZE, 64),
          b.readBytes(pfn * PAGE_SIZE, 64),
          `dense=${dense} pfn ${pfn}`,
        );
      }
    });
  }
});

Deno.test("clone: copy-on-write both ways — writes to either side (bytes, fills, copies, whole pages) never reach the other", () => {
  const mem = new PhysicalMemory(2 ** 30);
  mem.writeU64(0x1000, 7);
  mem.fill(0x200000, 0x200000, { pattern: 3 });
  mem.fill(0x8000_000 + 0x3000, 100, { byte: 9 });
  const before = mem.image();
  const copy = mem.clone();
  assert.deepEqual(copy.image(), before);
  copy.writeU64(0x1000, 8);
  copy.writeBytes(0x200000, new Uint8Array(4096).fill(1));
  copy.fill(0x201000, 0x3000, { byte: 2 });
  copy.copy(0x400000, 0x200000, 0x2000);
  copy.zero(0x8000_000, 0x8000_000);
  assert.deepEqual(mem.image(), before, "the original is unchanged");
  // And the original's own writes after the clone stay its own.
  mem.writeU64(0x1008, 5);
  assert.equal(copy.readU64(0x1008), 0);
  assert.equal(copy.readU64(0x1000), 8);
  assert.equal(mem.readU64(0x1000), 7);
  const again = mem.clone();
  again.writeU8(0x1000, 1);
  assert.equal(mem.readU8(0x1000), 7);
  assert.equal(copy.readU8(0x1000), 8);
});

Deno.test("pagePattern: one descriptor, every page the pattern of its own seed", () => {
  const a = new PhysicalMemory(2 ** 32);
  const b = new PhysicalMemory(2 ** 32);
  const pfns = [5, 6, 4096, 32767, 32768, 100000];
  for (const pfn of pfns) {
    a.fill(pfn * 4096, 4096, { pattern: pageSeed(9, pfn) });
    b.fill(pfn * 4096, 4096, { pagePattern: 9 });
  }
  assert.equal(b.stats().descriptors, 2); // zero and the one per-page pattern
  for (const pfn of pfns) {
    assert.deepEqual(b.readBytes(pfn * 4096, 4096), a.readBytes(pfn * 4096, 4096));
    assert.equal(b.hash64(pfn * 4096, 4096), a.hash64(pfn * 4096, 4096));
  }
  // whole ranges, a copy of such pages, and partial pages hash as the per-page patterns do
  assert.equal(b.hash64(0, 2 ** 30), a.hash64(0, 2 ** 30));
  a.copy(2 ** 31, 4096 * 4096, 4096);
  b.copy(2 ** 31, 4096 * 4096, 4096);
  assert.equal(b.hash64(2 ** 31 - 100, 8192), a.hash64(2 ** 31 - 100, 8192));
  b.fill(0, 2 ** 27, { pagePattern: 3 }); // a whole section: the base descriptor
  a.fill(0, 2 ** 27, { byte: 0 });
  for (let pfn = 0; pfn < 32768; pfn++) a.fill(pfn * 4096, 4096, { pattern: pageSeed(3, pfn) });
  assert.equal(b.hash64(4096 * 7, 4096 * 1000), a.hash64(4096 * 7, 4096 * 1000));
  assert.deepEqual(b.readBytes(4096 * 77, 16), a.readBytes(4096 * 77, 16));
});

Deno.test("hash64Lanes writes hash64's two u32 words", () => {
  const mem = new PhysicalMemory(2 ** 32);
  mem.fill(0x3000, 5 * 4096 + 17, { pattern: 4 });
  mem.writeU64(0x5008, 0x1234);
  const out = new BigUint64Array(3);
  mem.hash64Lanes(0x2ff0, 6 * 4096, new Uint32Array(out.buffer), 2);
  assert.equal(out[1], mem.hash64(0x2ff0, 6 * 4096));
  assert.equal(out[0], 0n);
});

Deno.test("a section of thousands of described pages keeps them in a dense array, same answers", () => {
  const mem = new PhysicalMemory(2 ** 32);
  const ref = new PhysicalMemory(2 ** 32);
  for (let pfn = 0; pfn < 6000; pfn++) {
    mem.fill(pfn * 4096, 4096, { pagePattern: 5 });
    if (pfn % 1000 === 0) ref.fill(pfn * 4096, 4096, { pagePattern: 5 }); // stays a Map
  }
  assert.equal(mem.stats().descriptorPages, 6000);
  mem.writeU64(10 * 4096 + 8, 77); // a frame among the ids
  mem.fill(20 * 4096, 4096, { byte: 0 }); // back to the base: no entry
  assert.deepEqual([mem.stats().materializedPages, mem.stats().descriptorPages], [1, 5998]);
  assert.equal(mem.readU64(10 * 4096 + 8), 77);
  assert.equal(mem.readU64(20 * 4096), 0);
  assert.equal(mem.readU64(7000 * 4096), 0);
  for (const pfn of [0, 1000, 5000]) {
    assert.equal(mem.hash64(pfn * 4096, 4096), ref.hash64(pfn * 4096, 4096));
    assert.deepEqual(mem.readBytes(pfn * 4096, 64), ref.readBytes(pfn * 4096, 64));
  }
  const before = mem.readBytes(30 * 4096, 16);
  const copy = mem.clone(); // copy-on-write of a dense section
  copy.fill(30 * 4096, 4096, { byte: 1 });
  assert.equal(copy.readU8(30 * 4096 + 5), 1);
  assert.deepEqual(mem.readBytes(30 * 4096, 16), before);
  assert.notEqual(copy.hash64(0, 6000 * 4096), mem.hash64(0, 6000 * 4096));
});
