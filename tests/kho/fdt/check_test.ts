/**
 * fdt_check_full and robustness: the fdt-facts §9 mutation table, libfdt's verdicts on
 * hundreds of mutated golden blobs (one python batch), and a property test that malformed
 * input only ever produces FdtError from the reader, checker, editor and dts printer.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { FdtError } from "../../../lib/errors.ts";
import { checkFull, checkFullVerdict } from "../../../lib/kho/fdt/check.ts";
import { toDts } from "../../../lib/kho/fdt/dts.ts";
import { FdtEditor } from "../../../lib/kho/fdt/editor.ts";
import { le32, le64 } from "../../../lib/kho/fdt/format.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";
import { Rng } from "../../../lib/rng.ts";
import { requireTool } from "../../support/system_tools.ts";
import { runLibfdt, toHex } from "./replay_support.ts";

function rootRw(): Uint8Array {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "kho-v1");
  w.property("preserved-memory-map", le64(0));
  w.endNode();
  const ed = FdtEditor.wrap(w.finish());
  for (const [name, phys] of [["memblock", 0x117150000], ["kho_test", 0x2000a000]] as const) {
    ed.openInto(4096);
    ed.setprop(ed.addSubnode(0, name), "fdt", le64(phys));
    ed.pack();
  }
  ed.setprop(0, "preserved-memory-map", le64(0x116be4000));
  return ed.blob();
}

function memblock(): Uint8Array {
  const w = FdtWriter.create(4096);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", "memblock-v1");
  for (const [n, s] of [["n1", 0x46bc00000], ["n2", 0x467c00000]] as const) {
    w.beginNode(n);
    w.propertyString("compatible", "reserve-mem-v1");
    w.property("start", le64(s));
    w.property("size", le64(0x4000000));
    w.endNode();
  }
  w.endNode();
  return w.finish();
}

function testKho(): Uint8Array {
  const w = FdtWriter.create(4096);
  w.addReservemapEntry(0x1000, 0x2000);
  w.finishReservemap();
  w.beginNode("");
  w.property("compatible", new TextEncoder().encode("kho-test-v1\0"));
  w.property("magic", le32(0x4b484f21));
  w.beginNode("data");
  w.property("nr_folios", le32(37));
  w.property("empty", new Uint8Array(0));
  w.endNode();
  w.endNode();
  return w.finish();
}

const GOLDEN = [rootRw(), memblock(), testKho()];

function setBe32(b: Uint8Array, off: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(off, v >>> 0);
  return c;
}

Deno.test("fdt-facts §9 mutation table: checkFull names (libfdt 1.6.1 verdicts)", () => {
  const g = rootRw();
  const table: [string, Uint8Array, string][] = [
    ["golden", g, "OK"],
    ["magic d00dfeee", setBe32(g, 0, 0xd00dfeee), "FDT_ERR_BADMAGIC"],
    ["file cut to 100 B", g.slice(0, 100), "FDT_ERR_TRUNCATED"],
    ["totalsize 4096 > file", setBe32(g, 4, 4096), "FDT_ERR_TRUNCATED"],
    ["first token 5", setBe32(g, 0x38, 5), "FDT_ERR_BADSTRUCTURE"],
    ["nameoff 0x1000", setBe32(g, 0x48, 0x1000), "FDT_ERR_BADOFFSET"],
    ["off_dt_struct 0x39", setBe32(g, 8, 0x39), "FDT_ERR_BADSTRUCTURE"],
    ["version 1", setBe32(g, 20, 1), "FDT_ERR_BADVERSION"],
    ["last_comp_version 18", setBe32(g, 24, 18), "FDT_ERR_BADVERSION"],
    ["version 18, last_comp 17", setBe32(setBe32(g, 20, 18), 24, 17), "OK"],
    // fdt-facts §9 says "accepted"; Debian's libfdt 1.6.1 rejects version < last_comp_version.
    ["version 16, last_comp 17", setBe32(setBe32(g, 20, 16), 24, 17), "FDT_ERR_BADVERSION"],
    ["version 16, last_comp 16", setBe32(g, 20, 16), "OK"],
    ["shorter than a v1 header", g.slice(0, 20), "FDT_ERR_TRUNCATED"],
    ["property length past the block", setBe32(g, 0x44, 0x1000), "FDT_ERR_BADSTRUCTURE"],
    ["length wrapping onto itself", setBe32(g, 0x44, 0xfffffff4), "FDT_ERR_BADSTRUCTURE"],
    ["strings block past totalsize", setBe32(g, 0x20, 0x100), "FDT_ERR_TRUNCATED"],
    ["unterminated rsvmap", setBe32(g, 0x28 + 12, 1), "FDT_ERR_TRUNCATED"],
    ["root named", setBe32(g, 0x3c, 0x61000000), "FDT_ERR_BADSTRUCTURE"],
    ["END_NODE for END", setBe32(g, 0xbc, 2), "FDT_ERR_BADSTRUCTURE"],
  ];
  for (const [what, blob, expected] of table) {
    assert.equal(checkFullVerdict(blob), expected, what);
    if (expected === "OK") checkFull(blob);
    else assert.throws(() => checkFull(blob), (e) => e instanceof FdtError && e.code === expected);
  }
});

Deno.test("fdt-facts §9 mutation table: reader behaviour (pylibfdt column)", () => {
  const g = rootRw();
  const code = (f: () => unknown) => {
    try {
      f();
      return "OK";
    } catch (e) {
      assert.ok(e instanceof FdtError, String(e));
      return e.code;
    }
  };
  const compat = (b: Uint8Array) => code(() => new FdtReader(b).getpropOrThrow(0, "compatible"));
  assert.equal(compat(setBe32(g, 0, 0xd00dfeee)), "FDT_ERR_BADMAGIC");
  assert.equal(compat(setBe32(g, 20, 1)), "FDT_ERR_BADVERSION");
  assert.equal(compat(setBe32(g, 24, 18)), "FDT_ERR_BADVERSION");
  assert.equal(compat(setBe32(g, 0x38, 5)), "FDT_ERR_BADOFFSET");
  assert.equal(compat(setBe32(g, 8, 0x39)), "FDT_ERR_BADOFFSET");
  assert.equal(compat(setBe32(g, 0x48, 0x1000)), "FDT_ERR_NOTFOUND");
  assert.equal(new FdtReader(setBe32(g, 0x48, 0x1000)).getprop(0, "compatible"), null);
  // A too-large totalsize is not caught by the header check (as in pylibfdt/fdtget)...
  assert.equal(compat(setBe32(g, 4, 4096)), "OK");
  // ...but reads never go past the bytes we have.
  assert.equal(code(() => toDts(g.slice(0, 100))), "FDT_ERR_TRUNCATED");
});

/** Deterministic mutations of golden blobs (header fields, tokens, lengths, bytes, cuts). */
function mutate(rng: Rng, src: Uint8Array): Uint8Array {
  let b: Uint8Array = src.slice();
  const dv = () => new DataView(b.buffer);
  const structOff = b.length >= 40 ? dv().getUint32(8) : 0;
  const structSize = b.length >= 40 ? dv().getUint32(36) : 0;
  for (let n = rng.int(3) + 1; n > 0; n--) {
    const k = rng.int(13);
    if (k <= 1 && b.length) b[rng.int(b.length)] ^= 1 << rng.int(8);
    else if (k === 2 && b.length) b[rng.int(b.length)] = rng.int(256);
    else if (k === 3) b = b.slice(0, rng.int(b.length + 1));
    else if (k <= 6 && b.length >= 40) {
      const field = rng.pick([4, 8, 12, 16, 20, 24, 32, 36]);
      const old = dv().getUint32(field);
      const v = rng.pick([
        old + rng.range(-9, 9),
        rng.u32(),
        0,
        0xffffffff,
        40,
        b.length,
        field === 20 || field === 24 ? rng.pick([0, 1, 16, 17, 18]) : old * 2,
      ]);
      dv().setUint32(field, v >>> 0);
    } else if (k <= 8 && structSize >= 8 && structOff + structSize <= b.length) {
      const at = structOff + 4 * rng.int(Math.floor(structSize / 4));
      dv().setUint32(at, rng.pick([0, 1, 2, 3, 4, 5, 9, 0xffffffff, rng.u32()]));
    } else if (k <= 10 && structSize >= 8 && structOff + structSize <= b.length) {
      const at = structOff + 4 * rng.int(Math.floor(structSize / 4));
      const v = rng.pick([0xfffffff8, 0xfffffffc, 0x7ffffff0, rng.int(300), rng.u32()]);
      dv().setUint32(at, v);
    } else if (k === 11) {
      const extra = rng.fillBytes(new Uint8Array(rng.int(16)));
      const c = new Uint8Array(b.length + extra.length);
      c.set(b);
      c.set(extra, b.length);
      b = c;
    } else if (k === 12 && b.length) {
      b = rng.fillBytes(new Uint8Array(rng.int(b.length)));
    }
  }
  return b;
}

/** Exercises every read/edit entry point; returns the first error code or "OK". */
function exercise(blob: Uint8Array): string {
  try {
    checkFullVerdict(blob);
    const r = new FdtReader(blob);
    const walk = (off: number, depth: number) => {
      r.getName(off);
      r.properties(off);
      r.getprop(off, "compatible");
      try {
        r.nodeCheckCompatible(off, "kho-v1");
      } catch (e) {
        if (!(e instanceof FdtError)) throw e;
      }
      if (depth < 64) { for (const c of r.subnodes(off)) walk(c, depth + 1); }
    };
    walk(r.pathOffset("/"), 0);
    r.reservations();
    toDts(blob);
    const ed = FdtEditor.openInto(blob, 4096);
    ed.setprop(ed.addSubnode(0, "x"), "fdt", le64(1));
    ed.delprop(0, "compatible");
    ed.pack();
    return "OK";
  } catch (e) {
    if (e instanceof FdtError) return e.code;
    throw e;
  }
}

Deno.test("property: random bytes and mutated golden blobs only ever raise FdtError", () => {
  const goldenArb = fc.tuple(
    fc.nat(GOLDEN.length - 1),
    fc.integer(),
    fc.integer({ min: 1, max: 2 }),
  )
    .map(([i, seed, rounds]) => {
      let b = GOLDEN[i];
      const rng = new Rng(seed >>> 0);
      for (let r = 0; r < rounds; r++) b = mutate(rng, b);
      return b;
    });
  const withMagic = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((b) => {
    if (b.length >= 8) new DataView(b.buffer).setUint32(0, 0xd00dfeed);
    return b;
  });
  fc.assert(
    fc.property(
      fc.oneof(
        { arbitrary: goldenArb, weight: 5 },
        { arbitrary: withMagic, weight: 1 },
        { arbitrary: fc.uint8Array({ maxLength: 120 }), weight: 1 },
      ),
      (blob) => {
        exercise(blob);
      },
    ),
    { seed: 0x0fd7, numRuns: 800 },
  );
});

Deno.test("mutated golden blobs: checkFull verdict equals libfdt's fdt_check_full", async () => {
  if (!requireTool("libfdt")) return;
  const rng = new Rng(0xc4ec);
  const blobs: Uint8Array[] = [];
  for (let i = 0; i < 360; i++) blobs.push(mutate(rng, rng.pick(GOLDEN)));
  for (let i = 0; i < 40; i++) {
    const b = rng.fillBytes(new Uint8Array(rng.range(28, 200)));
    new DataView(b.buffer).setUint32(0, 0xd00dfeed);
    new DataView(b.buffer).setUint32(20, 17);
    blobs.push(b);
  }
  const theirs = (await runLibfdt(blobs.map((b) => ({ check: toHex(b) })))) as { check: string }[];
  const verdicts = new Map<string, number>();
  let compared = 0;
  for (let i = 0; i < blobs.length; i++) {
    const ours = checkFullVerdict(blobs[i]);
    const t = theirs[i].check;
    verdicts.set(t, (verdicts.get(t) ?? 0) + 1);
    if (t === "HANG" || t === "CRASH") {
      // libfdt 1.6.1 loops or crashes here; ours must still give a clean error.
      assert.notEqual(ours, "OK", `blob ${i}: ${toHex(blobs[i])}`);
      continue;
    }
    assert.equal(ours, t, `blob ${i}: ${toHex(blobs[i])}`);
    compared++;
  }
  assert.ok(compared > 350, `only ${compared} verdicts compared`);
  assert.ok((verdicts.get("OK") ?? 0) > 10, `too few valid mutants: ${[...verdicts]}`);
  assert.ok(verdicts.size >= 5, `too few kinds of verdicts: ${[...verdicts]}`);
});
