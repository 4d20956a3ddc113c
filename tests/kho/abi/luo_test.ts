import assert from "node:assert/strict";
import {
  buildLuoFdt,
  encodeLuoSer,
  fdtTotalsize,
  LUO_ABI_COMPATIBLE,
  LUO_FDT_COMPATIBLE,
  LUO_FDT_FLB_COMPATIBLE,
  LUO_FDT_SESSION_COMPATIBLE,
  LUO_FILE_MAX,
  LUO_FLB_MAX,
  LUO_SESSION_MAX,
  parseLuoFdt,
  readFileSer,
  readLuoSer,
  readSessionSer,
  strscpy,
  writeFileSer,
  writeFileSetSer,
  writeSessionSerName,
} from "../../../lib/kho/abi/luo.ts";
import { getProfile } from "../../../lib/kho/profiles.ts";
import { PhysicalMemory } from "../../../lib/machine/physmem.ts";
import { oracleBlobs } from "../../support/fdt_oracle.ts";
import { requireTool } from "../../support/system_tools.ts";
import { luoFdt as modelLuoFdt } from "../../luo/support/model.ts";

// The luo-v1 FDT model is independent of lib/: tests/luo/support/model.ts builds it from the
// devicetree format and luo_fdt_setup's call order (luo-hugetlb-facts §2.4).
const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("luo-v1 FDT: 236 bytes in 6.19, 311 with luo-flb (7.0/7.1), equal to the model; the page keeps the stale strings", () => {
  const cases = [
    { num: 1n, sc: "luo-session-v2", sh: 0x1_0000_0000n, flb: null, size: 236 },
    {
      num: 7n,
      sc: "luo-session-v2",
      sh: 0x8_1234_5000n,
      flb: { compat: "luo-flb-v1", header: 0x3000n },
      size: 311,
    },
  ];
  for (const c of cases) {
    const page = buildLuoFdt({
      liveupdateNum: Number(c.num),
      sessionCompat: c.sc,
      sessionHeaderPa: Number(c.sh),
      flb: c.flb ? { compat: c.flb.compat, headerPa: Number(c.flb.header) } : null,
    });
    const model = modelLuoFdt(c.num, c.sc, c.sh, c.flb);
    assert.equal(fdtTotalsize(page), c.size);
    assert.equal(model.length, c.size);
    assert.deepEqual(page.subarray(0, c.size), model);
    // fdt_finish moves the strings down without clearing their first copy at the page's end.
    const strSize = new DataView(model.buffer).getUint32(32, false);
    assert.deepEqual(page.subarray(4096 - strSize), model.subarray(c.size - strSize));
    assert.ok(page.subarray(c.size, 4096 - strSize).every((b) => b === 0));
  }
});

Deno.test("luo-v1 FDT equals libfdt's sequential writer (fdt_oracle)", async () => {
  if (!requireTool("libfdt", "oracle")) return;
  const cases = [
    {
      num: 1,
      session_compat: "luo-session-v2",
      session_header: 0x10000000,
      flb_compat: null,
      flb_header: 0,
    },
    {
      num: 3,
      session_compat: "luo-session-v2",
      session_header: 0x1234000,
      flb_compat: "luo-flb-v1",
      flb_header: 0x7f000,
    },
  ];
  const blobs = await oracleBlobs(cases.map((c) => ({ luo_fdt: c })));
  cases.forEach((c, i) => {
    const page = buildLuoFdt({
      liveupdateNum: c.num,
      sessionCompat: c.session_compat,
      sessionHeaderPa: c.session_header,
      flb: c.flb_compat ? { compat: c.flb_compat, headerPa: c.flb_header } : null,
    });
    assert.deepEqual(page.subarray(0, fdtTotalsize(page)), blobs[i]);
  });
});

Deno.test("luo-v1 FDT: the successor's checks in order, with the kernel's errno and message", () => {
  const good = { sessionCompat: "luo-session-v2", flbCompat: "luo-flb-v1" };
  const fdt = (o: Partial<{ root: string; sc: string; flb: boolean; fc: string }>) => {
    // Hand-made variants through the model (the writer under test is not used to corrupt).
    const m = modelLuoFdt(
      2n,
      o.sc ?? "luo-session-v2",
      0x5000n,
      o.flb === false ? null : { compat: o.fc ?? "luo-flb-v1", header: 0x6000n },
    );
    if (o.root) m.set(enc(o.root), m.indexOf(enc("luo-v1")[0], 56 + 20)); // same length
    return m;
  };
  const ok = parseLuoFdt(fdt({}), good);
  assert.deepEqual(ok, {
    ok: true,
    value: {
      liveupdateNum: 2,
      sessionCompat: "luo-session-v2",
      sessionHeaderPa: 0x5000,
      flb: { compat: "luo-flb-v1", headerPa: 0x6000 },
    },
  });
  const r1 = parseLuoFdt(fdt({ root: "luo-v9" }), good);
  assert.deepEqual(r1, {
    ok: false,
    code: "EINVAL",
    message: "FDT 'LUO' is incompatible with 'luo-v1' [1]",
  });
  const r2 = parseLuoFdt(fdt({ sc: "luo-session-v1" }), good);
  assert.deepEqual(r2, {
    ok: false,
    code: "EINVAL",
    message: "Session node incompatible [luo-session-v2]",
  });
  const r3 = parseLuoFdt(fdt({ flb: false }), good);
  assert.deepEqual(r3, { ok: false, code: "ENOENT", message: "Unable to get FLB node [luo-flb]" });
  // 6.19 reads no FLB node, so a 7.0 blob passes there.
  assert.ok(parseLuoFdt(fdt({}), { sessionCompat: "luo-session-v2", flbCompat: null }).ok);
  const r4 = parseLuoFdt(fdt({ fc: "luo-flb-v2" }), good);
  assert.equal(r4.ok ? "" : r4.code, "EINVAL");
  const junk = new Uint8Array(300);
  const r5 = parseLuoFdt(junk, good);
  assert.deepEqual(r5, {
    ok: false,
    code: "EINVAL",
    message: "FDT 'LUO' is incompatible with 'luo-v1' [-9]",
  });
});

Deno.test("luo-v5 luo_ser: 32 bytes, compatible[8] then three little-endian u64; strncmp over 8 bytes", () => {
  const b = encodeLuoSer({ liveupdateNum: 5, sessionsPa: 0x1_2345_6000, flbsPa: 0x7000 });
  const model = new Uint8Array(32);
  model.set(enc("luo-v5"));
  const dv = new DataView(model.buffer);
  dv.setBigUint64(8, 5n, true);
  dv.setBigUint64(16, 0x1_2345_6000n, true);
  dv.setBigUint64(24, 0x7000n, true);
  assert.deepEqual(b, model);
  assert.deepEqual(readLuoSer(model), {
    ok: true,
    value: { liveupdateNum: 5, sessionsPa: 0x1_2345_6000, flbsPa: 0x7000 },
  });
  const short = readLuoSer(model.subarray(0, 31));
  assert.equal(short.ok, false);
  const v4 = model.slice();
  v4[5] = "4".charCodeAt(0);
  assert.equal(readLuoSer(v4).ok, false);
  const longer = model.slice();
  longer[6] = "x".charCodeAt(0); // "luo-v5x": differs before the NUL
  assert.equal(readLuoSer(longer).ok, false);
  const after = model.slice();
  after[7] = 1; // strncmp stops at the NUL at byte 6: byte 7 is not compared
  assert.equal(readLuoSer(after).ok, true);
});

Deno.test("session and file entries: 80 and 64 bytes, strscpy names, u64 fields", () => {
  const mem = new PhysicalMemory(1 << 20);
  mem.fill(0x1000, 4096, { byte: 0xee });
  writeSessionSerName(mem, 0x1000, enc("vm-1"));
  writeFileSetSer(mem, 0x1000, { files: 0xabc000, count: 3 });
  const e = mem.readBytes(0x1000, 80);
  assert.deepEqual([...e.subarray(0, 6)], [...enc("vm-1"), 0, 0xee]); // strscpy: one NUL only
  assert.equal(new DataView(e.buffer).getBigUint64(64, true), 0xabc000n);
  assert.equal(new DataView(e.buffer).getBigUint64(72, true), 3n);
  assert.deepEqual(readSessionSer(mem, 0x1000).count, 3);
  writeFileSer(mem, 0x2000, {
    compatible: enc("x".repeat(60)),
    data: 0x42000,
    token: (1n << 64n) - 1n,
  });
  const f = readFileSer(mem, 0x2000);
  assert.equal(f.compatible.indexOf(0), 47); // cut to 47 bytes + NUL
  assert.equal(f.data, 0x42000);
  assert.equal(f.token, (1n << 64n) - 1n);
  strscpy(mem, 0x3000, enc("abc\0def"), 8);
  assert.deepEqual([...mem.readBytes(0x3000, 5)], [97, 98, 99, 0, 0]);
  assert.deepEqual([LUO_SESSION_MAX, LUO_FILE_MAX, LUO_FLB_MAX], [819, 128, 63]);
});

Deno.test("LUO compatible strings (include/linux/kho/abi/luo.h) and the generations using them", () => {
  assert.deepEqual(
    [LUO_FDT_COMPATIBLE, LUO_FDT_SESSION_COMPATIBLE, LUO_FDT_FLB_COMPATIBLE, LUO_ABI_COMPATIBLE],
    ["luo-v1", "luo-session-v2", "luo-flb-v1", "luo-v5"],
  );
  const luo = (name: string) => {
    const g = getProfile(name).luo!;
    return [g.compat, g.sessionCompat, g.flbCompat];
  };
  assert.deepEqual(luo("kho-v1-6.19"), ["luo-v1", "luo-session-v2", null]);
  assert.deepEqual(luo("kho-v3"), ["luo-v1", "luo-session-v2", "luo-flb-v1"]);
  assert.deepEqual(luo("kho-v4"), ["luo-v5", null, null]);
});
