/**
 * Property lengths 0xfffffff0…0xffffffff: libfdt 1.6.1 adds the length to a C `int` offset,
 * which wraps, and reads it back through `int *lenp`, where it is negative. The checker, the
 * editor and the reader follow that arithmetic exactly; the only differences are where
 * libfdt hangs or crashes (pinned here, and compared with libfdt itself when python3-libfdt
 * is installed).
 */

import assert from "node:assert/strict";
import { FdtError } from "../../../lib/errors.ts";
import { checkFullOutcome, checkFullVerdict } from "../../../lib/kho/fdt/check.ts";
import { FdtEditor } from "../../../lib/kho/fdt/editor.ts";
import { le64 } from "../../../lib/kho/fdt/format.ts";
import { FdtReader } from "../../../lib/kho/fdt/reader.ts";
import { FdtWriter } from "../../../lib/kho/fdt/writer.ts";
import { CRASH, HANG, LibfdtOracle, verdictName } from "../../../tools/fuzz/libfdt_oracle.ts";
import { diffRecords, editRecord } from "../../../tools/fuzz/fdt_edits.ts";
import { requireTool } from "../../support/system_tools.ts";
import { type Op, type OpsResult, runLibfdt, runOurs, toHex } from "./replay_support.ts";

/** The golden root_rw blob (fdt-facts §7.2): compatible at 0x40, its length at 0x44. */
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

const COMPAT = 0x40; // the compatible record of root_rw: len at +4, nameoff at +8, value at +12

function set32(b: Uint8Array, off: number, v: number): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(off, v >>> 0);
  return b;
}

function get32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off);
}

function code(f: () => unknown): string {
  try {
    f();
    return "OK";
  } catch (e) {
    assert.ok(e instanceof FdtError, String(e));
    return e.code;
  }
}

/** compatible's length set to `len`; with `nops`, its two value words are FDT_NOP tags. */
function wrapped(len: number, nops = false): Uint8Array {
  const b = set32(rootRw(), COMPAT + 4, len);
  if (nops) set32(set32(b, COMPAT + 12, 4), COMPAT + 16, 4);
  return b;
}

Deno.test("check: a length wrapping onto its own tag hangs libfdt once the name is valid", () => {
  // 0xfffffff4 + 12 ≡ 0: fdt_next_tag returns the property's own offset as the next one.
  // fdt_check_full first validates the name (fdt_getprop_by_offset), then loops forever.
  assert.deepEqual(checkFullOutcome(wrapped(0xfffffff4)), { err: -11, fault: "hang" });
  assert.equal(checkFullVerdict(wrapped(0xfffffff4)), "FDT_ERR_BADSTRUCTURE");
  // With a bad name offset libfdt returns the name's error and never loops.
  const badName = set32(wrapped(0xfffffff4), COMPAT + 8, 0x1000);
  assert.deepEqual(checkFullOutcome(badName), { err: -4, fault: null });
});

Deno.test("check: lengths that wrap 1…11 bytes on are read on from there, as in libfdt", () => {
  // 0xfffffffd + 12 ≡ 9 → the next tag is at +12, the value: two NOPs make a valid blob.
  assert.equal(checkFullVerdict(wrapped(0xfffffffd, true)), "OK");
  assert.equal(checkFullVerdict(wrapped(0xffffffff, true)), "OK");
  // …and the value "kho-v1\0\0" read as a tag is not one.
  assert.equal(checkFullVerdict(wrapped(0xfffffffd)), "FDT_ERR_BADSTRUCTURE");
  // 0xfffffff8 + 12 ≡ 4 → the length itself is read as a tag.
  assert.equal(checkFullVerdict(wrapped(0xfffffff8, true)), "FDT_ERR_BADSTRUCTURE");
  // 0xfffffff0 + 12 ≡ -4: the walk would go backwards; fdt_offset_ptr refuses the span.
  assert.equal(checkFullVerdict(wrapped(0xfffffff0, true)), "FDT_ERR_BADSTRUCTURE");
});

Deno.test("check: a pre-v16 root without '/' crashes libfdt (NULL name); here BADSTRUCTURE", () => {
  const b = set32(set32(rootRw(), 20, 3), 24, 2);
  assert.deepEqual(checkFullOutcome(b), { err: -11, fault: "crash" });
});

Deno.test("editor: a wrapped length is a negative int, as libfdt's int *lenp", () => {
  const blob = wrapped(0xfffffffd, true); // len -3: FDT_TAGALIGN(-3) = 0
  const struct0 = get32(blob, 0x24);
  {
    const ed = FdtEditor.wrap(blob.slice());
    ed.delprop(0, "compatible"); // 12 + FDT_TAGALIGN(-3) = 12 bytes: the record header only
    assert.equal(ed.reader().header("sizeDtStruct"), struct0 - 12);
    const b = ed.blob();
    assert.equal(get32(b, COMPAT), 4); // the two value NOPs stay behind
    assert.equal(get32(b, COMPAT + 4), 4);
    assert.equal(checkFullVerdict(b), "OK");
    assert.deepEqual(ed.reader().properties(0).map((p) => p.name), ["preserved-memory-map"]);
  }
  {
    const ed = FdtEditor.wrap(blob.slice());
    ed.nopProperty(0, "compatible"); // len + 12 = 9 bytes: three words
    const b = ed.blob();
    for (let w = 0; w < 5; w++) assert.equal(get32(b, COMPAT + 4 * w), 4, `word ${w}`);
    assert.equal(get32(b, COMPAT + 20), 3); // the next property is untouched
  }
  {
    // fdt_resize_property_ splices FDT_TAGALIGN(-3) = 0 old value bytes: the new value goes in
    // front of the two NOPs and the length becomes 5.
    const ed = FdtEditor.openInto(blob, 4096);
    ed.setprop(0, "compatible", new Uint8Array([1, 2, 3, 4, 5]));
    const b = ed.blob();
    assert.equal(get32(b, COMPAT + 4), 5);
    // The padding keeps what was there (the first NOP's last bytes), as memcpy leaves it.
    assert.deepEqual([...b.subarray(COMPAT + 12, COMPAT + 20)], [1, 2, 3, 4, 5, 0, 0, 4]);
    assert.equal(get32(b, COMPAT + 20), 4);
    assert.equal(get32(b, COMPAT + 24), 4);
  }
  assert.equal(
    code(() => FdtEditor.openInto(blob, 4096).setpropInplace(0, "compatible", new Uint8Array(4))),
    "FDT_ERR_NOSPACE", // proplen -3 != 4
  );
  // 0xfffffffc is -4: the walk goes on at the name offset, which must then be a tag (NOP, and
  // a valid string offset). delprop removes 8 bytes; setprop's splice of -4 bytes is refused.
  const minus4 = set32(wrapped(0xfffffffc, true), COMPAT + 8, 4);
  assert.equal(checkFullVerdict(minus4), "OK");
  const ed = FdtEditor.openInto(minus4, 4096);
  assert.equal(
    code(() => ed.setprop(0, "erved-memory-map", new Uint8Array(1))),
    "FDT_ERR_BADOFFSET",
  );
  ed.delprop(0, "erved-memory-map");
  assert.equal(ed.reader().header("sizeDtStruct"), struct0 - 8);
});

Deno.test("editor and reader: a self-wrapping property (libfdt loops) gives BADSTRUCTURE", () => {
  const blob = wrapped(0xfffffff4);
  // Found by its own name without looping: delprop removes 12 + FDT_TAGALIGN(-12) = 0 bytes.
  const ed = FdtEditor.wrap(blob.slice());
  ed.delprop(0, "compatible");
  assert.deepEqual(ed.buffer(), blob);
  ed.nopProperty(0, "compatible"); // len + 12 = 0 bytes
  assert.deepEqual(ed.buffer(), blob);
  // Any other lookup, or a walk over it, steps onto it forever in libfdt 1.6.1.
  assert.equal(code(() => ed.delprop(0, "preserved-memory-map")), "FDT_ERR_BADSTRUCTURE");
  assert.equal(code(() => ed.addSubnode(0, "x")), "FDT_ERR_BADSTRUCTURE");
  assert.equal(code(() => ed.delNode(0)), "FDT_ERR_BADSTRUCTURE");
  assert.equal(code(() => ed.nopNode(0)), "FDT_ERR_BADSTRUCTURE");
  const r = new FdtReader(blob);
  assert.equal(code(() => r.getprop(0, "preserved-memory-map")), "FDT_ERR_BADSTRUCTURE");
  // Listing reads compatible's value first: its length (-12 in C) fits no blob.
  assert.equal(code(() => r.properties(0)), "FDT_ERR_TRUNCATED");
  assert.equal(code(() => r.subnodes(0)), "FDT_ERR_BADSTRUCTURE");
  // Its own value: C's *lenp is -12; no bytes can be returned for it.
  assert.equal(code(() => r.getprop(0, "compatible")), "FDT_ERR_TRUNCATED");
  // A v16 blob's structure size is found by walking: libfdt loops, here BADSTRUCTURE.
  const v16 = set32(blob.slice(), 20, 16);
  assert.equal(code(() => FdtEditor.openInto(v16, 4096)), "FDT_ERR_BADSTRUCTURE");
});

Deno.test("editor: an unterminated reservation map (libfdt memmoves (size_t)-112 bytes)", () => {
  const b = set32(rootRw(), 0x28 + 12, 1); // the terminator's size is no longer 0
  // libfdt 1.6.1's fdt_open_into does not check fdt_num_mem_rsv: -112 bytes of map make the
  // blocks look misordered and the repack corrupts memory. Here: FDT_ERR_TRUNCATED.
  assert.equal(code(() => FdtEditor.openInto(b, 4096)), "FDT_ERR_TRUNCATED");
  // A map at offset ≥ 112 still looks in order: libfdt moves the blob and succeeds.
  const far = new Uint8Array(b.length + 112);
  far.set(b.subarray(0, 40));
  far.set(b.subarray(40), 152);
  for (const f of [4, 8, 12, 16]) set32(far, f, get32(b, f) + 112); // totalsize, offsets
  const ed = FdtEditor.openInto(far, 4096);
  assert.equal(ed.totalsize, 4096);
  // In the 4096-byte buffer the map "ends" at the first 16 zero bytes, 12 entries on, past
  // the old blob: fdt_pack moves all 13 entries and the blob grows to 420 bytes (libfdt too;
  // the byte comparison is in the libfdt test below).
  ed.pack();
  assert.equal(ed.totalsize, 420);
});

/** The unterminated map at offset 152 of the test above, as a replay case. */
function farMapCase(): Op[] {
  const b = set32(rootRw(), 0x28 + 12, 1);
  const far = new Uint8Array(b.length + 112);
  far.set(b.subarray(0, 40));
  far.set(b.subarray(40), 152);
  for (const f of [4, 8, 12, 16]) set32(far, f, get32(b, f) + 112);
  return [["load", toHex(far), far.length], ["open_into_new", 4096], ["snapshot"], ["pack"], [
    "snapshot",
  ]];
}

/** Every property of root_rw and memblock with each wrapped length and a few variations. */
function wrapCorpus(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const g of [rootRw(), memblock()]) {
    const st = get32(g, 8), size = get32(g, 0x24);
    for (let p = st; p < st + size; p += 4) {
      if (get32(g, p) !== 3) continue;
      const olen = get32(g, p + 4);
      for (let k = 0; k < 16; k++) {
        for (const nameoff of [-1, 4, 0x1000]) {
          for (const version of [17, 16, 3]) {
            for (const nops of [false, true]) {
              const b = g.slice();
              if (nops) { for (let q = p + 12; q < p + 12 + olen; q += 4) set32(b, q, 4); }
              set32(b, p + 4, 0xfffffff0 + k);
              if (nameoff >= 0) set32(b, p + 8, nameoff);
              set32(b, 20, version);
              if (version < 16) set32(b, 24, 2);
              out.push(b);
            }
          }
        }
      }
    }
  }
  return out;
}

Deno.test("wrapped lengths: verdicts and edits equal libfdt's; hangs and crashes as documented", async () => {
  if (!requireTool("libfdt")) return;
  const blobs = wrapCorpus();
  const oracle = LibfdtOracle.start();
  try {
    const codes = await oracle.check(blobs);
    const seen = new Map<string, number>();
    const valid: Uint8Array[] = [];
    for (let i = 0; i < blobs.length; i++) {
      const ours = checkFullOutcome(blobs[i]);
      const t = codes[i];
      const ctx = `blob ${i}: libfdt ${verdictName(t)}, kholab ${verdictName(-ours.err)}`;
      seen.set(verdictName(t), (seen.get(verdictName(t)) ?? 0) + 1);
      if (t === HANG) assert.equal(ours.fault, "hang", ctx);
      else if (t === CRASH) assert.equal(ours.fault, "crash", ctx);
      else {
        assert.equal(ours.fault, null, ctx);
        assert.equal(ours.err, t === 0 ? 0 : -t, ctx);
      }
      if (t === 0) valid.push(blobs[i]);
    }
    assert.ok((seen.get("HANG") ?? 0) >= 20, `hangs: ${[...seen]}`);
    assert.ok((seen.get("CRASH") ?? 0) >= 20, `crashes: ${[...seen]}`);
    assert.ok(valid.length >= 100, `only ${valid.length} valid blobs`);
    const records = await oracle.edit(valid, "full");
    for (let i = 0; i < valid.length; i++) {
      assert.notEqual(records[i].length, 1, `libfdt's edits hung or crashed on valid blob ${i}`);
      assert.equal(diffRecords(editRecord(valid[i], true), records[i], true), null, `blob ${i}`);
    }
  } finally {
    await oracle.close();
  }
  const [theirs] = (await runLibfdt([{ ops: farMapCase() }])) as OpsResult[];
  assert.deepEqual(runOurs(farMapCase()), theirs);
});
