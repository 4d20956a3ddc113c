/**
 * The Live Update Orchestrator's handover ABI (`include/linux/kho/abi/luo.h`), every version
 * kholab's profiles need — one home for each layout, used by the outgoing writer and the
 * successor's reader alike (luo-hugetlb-facts §2.4–§2.6):
 *
 * - **luo-v1 FDT** (6.19–7.1): the KHO sub-blob `"LUO"` is a PAGE_SIZE FDT written with the
 *   sequential-write API: `/ { compatible = "luo-v1"; liveupdate-number = <u64>;
 *   luo-session { compatible = "luo-session-v2"; luo-session-header = <u64 phys>; };
 *   [luo-flb { compatible = "luo-flb-v1"; luo-flb-header = <u64 phys>; };] }` (7.0 on adds
 *   `luo-flb`). The session header is `struct luo_session_header_ser { u64 count; }` followed by
 *   80-byte `luo_session_ser` entries in one 16-page block; each session's files are 64-byte
 *   `luo_file_ser` entries in a 2-page block.
 * - **luo-v5** (7.2): a raw 32-byte `struct luo_ser { char compatible[8]; u64 liveupdate_num;
 *   u64 sessions_pa; u64 flbs_pa; }`; sessions and files are the same 80- and 64-byte entries,
 *   now in kho_block chains ({@link KhoBlockSet}).
 * - **FLB** (7.0 on): one page, `struct luo_flb_header_ser { u64 pgcnt; u64 count; }` and up to
 *   63 × 64-byte `struct luo_flb_ser { char name[48]; u64 data; u64 count; }`.
 *
 * Every struct is `__packed`, native (little) endian. Strings are written with `strscpy`:
 * the bytes and one NUL, nothing after it touched.
 *
 * @module
 */

import type { PhysicalMemory } from "../../machine/physmem.ts";
import { PAGE_SIZE } from "../../units.ts";
import { FdtError } from "../../errors.ts";
import { getLe64, readLe64 } from "../fdt/format.ts";
import { FdtReader, libfdtRet } from "../fdt/reader.ts";
import { FdtWriter } from "../fdt/writer.ts";

/** Name of LUO's node in the KHO root FDT (`LUO_FDT_KHO_ENTRY_NAME`). */
export const LUO_KHO_ENTRY_NAME = "LUO";
/** `LIVEUPDATE_SESSION_NAME_LENGTH`: session names are at most 63 bytes plus a NUL. */
export const LIVEUPDATE_SESSION_NAME_LENGTH = 64;
/** `LIVEUPDATE_HNDL_COMPAT_LENGTH`: file handler compatibles, at most 47 bytes plus a NUL. */
export const LIVEUPDATE_HNDL_COMPAT_LENGTH = 48;
/** `LIVEUPDATE_FLB_COMPAT_LENGTH`. */
export const LIVEUPDATE_FLB_COMPAT_LENGTH = 48;

// ---------------------------------------------------------------- luo-v1 FDT (6.19–7.1)

/** `LUO_FDT_SIZE`: the FDT is built in one page. */
export const LUO_FDT_SIZE: number = PAGE_SIZE;
/** `LUO_FDT_COMPATIBLE`. */
export const LUO_FDT_COMPATIBLE = "luo-v1";
/** `LUO_FDT_LIVEUPDATE_NUM`. */
export const LUO_FDT_LIVEUPDATE_NUM = "liveupdate-number";
/** `LUO_FDT_SESSION_NODE_NAME`. */
export const LUO_FDT_SESSION_NODE_NAME = "luo-session";
/** `LUO_FDT_SESSION_COMPATIBLE` as released in 6.19 (an earlier header had `-v1`). */
export const LUO_FDT_SESSION_COMPATIBLE = "luo-session-v2";
/** `LUO_FDT_SESSION_HEADER`. */
export const LUO_FDT_SESSION_HEADER = "luo-session-header";
/** `LUO_FDT_FLB_NODE_NAME` (7.0 on). */
export const LUO_FDT_FLB_NODE_NAME = "luo-flb";
/** `LUO_FDT_FLB_COMPATIBLE` (7.0 on). */
export const LUO_FDT_FLB_COMPATIBLE = "luo-flb-v1";
/** `LUO_FDT_FLB_HEADER`. */
export const LUO_FDT_FLB_HEADER = "luo-flb-header";

/** `struct luo_session_header_ser { u64 count; }` (FDT era). */
export const LUO_SESSION_HEADER_SER_LAYOUT = { count: 0, size: 8 } as const;
/** `LUO_SESSION_PGCNT`: the FDT era's session block is 16 pages. */
export const LUO_SESSION_PGCNT = 16;
/** `LUO_SESSION_MAX` = (16 · 4096 − 8) / 80 = 819 (the kernel's comment says 744). */
export const LUO_SESSION_MAX: number = Math.floor(
  (LUO_SESSION_PGCNT * PAGE_SIZE - LUO_SESSION_HEADER_SER_LAYOUT.size) / 80,
);
/** `LUO_FILE_PGCNT`: the FDT era's per-session file block is 2 pages. */
export const LUO_FILE_PGCNT = 2;
/** `LUO_FILE_MAX` = 8192 / 64 = 128 files per session. */
export const LUO_FILE_MAX = (LUO_FILE_PGCNT * PAGE_SIZE) / 64;

/** What the luo-v1 FDT carries. */
export interface LuoFdtContents {
  /** `liveupdate-number`: the outgoing kernel's number (incoming + 1). */
  liveupdateNum: number;
  /** Compatible of the `luo-session` node. */
  sessionCompat: string;
  /** Physical address of the `luo_session_header_ser`. */
  sessionHeaderPa: number;
  /** The `luo-flb` node (7.0 on), or null. */
  flb: { compat: string; headerPa: number } | null;
}

/**
 * `luo_fdt_setup` (with `luo_session_setup_outgoing` and, 7.0 on, `luo_flb_setup_outgoing`):
 * the FDT as libfdt's sequential writer leaves it in its page — the whole 4096-byte buffer,
 * including the stale copy of the strings past `totalsize`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildLuoFdt, parseLuoFdt } from "./luo.ts";
 * const page = buildLuoFdt({
 *   liveupdateNum: 1,
 *   sessionCompat: "luo-session-v2",
 *   sessionHeaderPa: 0x1000000,
 *   flb: { compat: "luo-flb-v1", headerPa: 0x2000000 },
 * });
 * assert.equal(page.length, 4096);
 * const r = parseLuoFdt(page, { sessionCompat: "luo-session-v2", flbCompat: "luo-flb-v1" });
 * assert.ok(r.ok && r.value.liveupdateNum === 1 && r.value.flb?.headerPa === 0x2000000);
 * ```
 */
export function buildLuoFdt(c: LuoFdtContents): Uint8Array {
  const w = FdtWriter.create(LUO_FDT_SIZE);
  w.finishReservemap();
  w.beginNode("");
  w.propertyString("compatible", LUO_FDT_COMPATIBLE);
  w.property(LUO_FDT_LIVEUPDATE_NUM, u64Le(c.liveupdateNum));
  w.beginNode(LUO_FDT_SESSION_NODE_NAME);
  w.propertyString("compatible", c.sessionCompat);
  w.propertyLe64(LUO_FDT_SESSION_HEADER, c.sessionHeaderPa);
  w.endNode();
  if (c.flb) {
    w.beginNode(LUO_FDT_FLB_NODE_NAME);
    w.propertyString("compatible", c.flb.compat);
    w.propertyLe64(LUO_FDT_FLB_HEADER, c.flb.headerPa);
    w.endNode();
  }
  w.endNode();
  w.finish();
  return w.finishBuffer();
}

/** `totalsize` of an FDT buffer (its big-endian header word at byte 4). */
export function fdtTotalsize(buf: Uint8Array): number {
  return new DataView(buf.buffer, buf.byteOffset, buf.length).getUint32(4, false);
}

/** A check of the successor failed: the errno it returns and the line it logs. */
export interface LuoAbiFailure {
  /** Always false. */
  ok: false;
  /** The errno `luo_early_startup` returns (and panics with). */
  code: "EINVAL" | "ENOENT";
  /** The kernel's pr_err text. */
  message: string;
}

/** A parsed blob or the successor's verdict. */
export type LuoAbiResult<T> = { ok: true; value: T } | LuoAbiFailure;

/**
 * The successor's checks of a luo-v1 FDT, in the kernel's order (`luo_early_startup`,
 * `luo_session_setup_incoming`, `luo_flb_setup_incoming`): root compatible "luo-v1"
 * (EINVAL; a blob libfdt rejects fails this check too), `liveupdate-number` of 8 bytes
 * (EINVAL), the session node present, compatible and with an 8-byte header (EINVAL each), and
 * when `flbCompat` is given the FLB node present (ENOENT), compatible (EINVAL) and with an
 * 8-byte header (EINVAL).
 */
export function parseLuoFdt(
  blob: Uint8Array,
  expect: { sessionCompat: string; flbCompat: string | null },
): LuoAbiResult<LuoFdtContents> {
  const fail = (code: "EINVAL" | "ENOENT", message: string): LuoAbiFailure => ({
    ok: false,
    code,
    message,
  });
  let r: FdtReader | null = null;
  let err = 0;
  try {
    r = new FdtReader(blob);
    err = r.nodeCheckCompatible(0, LUO_FDT_COMPATIBLE);
  } catch (e) {
    if (!(e instanceof FdtError)) throw e;
    err = e.fdtErrno;
  }
  if (err !== 0 || r === null) {
    return fail(
      "EINVAL",
      `FDT '${LUO_KHO_ENTRY_NAME}' is incompatible with '${LUO_FDT_COMPATIBLE}' [${err}]`,
    );
  }
  try {
    const num = r.getprop(0, LUO_FDT_LIVEUPDATE_NUM);
    if (num === null || num.length !== 8) {
      return fail(
        "EINVAL",
        `Unable to get live update number '${LUO_FDT_LIVEUPDATE_NUM}' [${num?.length ?? 0}]`,
      );
    }
    const liveupdateNum = readLe64(num);
    const sess = subnode(r, LUO_FDT_SESSION_NODE_NAME);
    if (sess < 0) {
      return fail("EINVAL", `Unable to get session node: [${LUO_FDT_SESSION_NODE_NAME}]`);
    }
    if (!compatible(r, sess, expect.sessionCompat)) {
      return fail("EINVAL", `Session node incompatible [${expect.sessionCompat}]`);
    }
    const hdr = r.getprop(sess, LUO_FDT_SESSION_HEADER);
    if (hdr === null || hdr.length !== 8) {
      return fail(
        "EINVAL",
        `Unable to get session header '${LUO_FDT_SESSION_HEADER}' [${hdr?.length ?? 0}]`,
      );
    }
    let flb: LuoFdtContents["flb"] = null;
    if (expect.flbCompat !== null) {
      const node = subnode(r, LUO_FDT_FLB_NODE_NAME);
      if (node < 0) return fail("ENOENT", `Unable to get FLB node [${LUO_FDT_FLB_NODE_NAME}]`);
      if (!compatible(r, node, expect.flbCompat)) {
        return fail("EINVAL", `FLB node is incompatible with '${expect.flbCompat}'`);
      }
      const fh = r.getprop(node, LUO_FDT_FLB_HEADER);
      if (fh === null || fh.length !== 8) {
        return fail(
          "EINVAL",
          `Unable to get FLB header property '${LUO_FDT_FLB_HEADER}' [${fh?.length ?? 0}]`,
        );
      }
      flb = { compat: expect.flbCompat, headerPa: readLe64(fh) };
    }
    return {
      ok: true,
      value: {
        liveupdateNum,
        sessionCompat: expect.sessionCompat,
        sessionHeaderPa: readLe64(hdr),
        flb,
      },
    };
  } catch (e) {
    if (!(e instanceof FdtError)) throw e;
    // libfdt reports a broken structure as a negative error: the kernel's checks see "absent".
    return fail("EINVAL", `LUO FDT: ${e.message}`);
  }
}

function subnode(r: FdtReader, name: string): number {
  return libfdtRet(() => r.subnodeOffset(0, name));
}

function compatible(r: FdtReader, node: number, compat: string): boolean {
  return libfdtRet(() => r.nodeCheckCompatible(node, compat)) === 0;
}

/**
 * A u64 counter as 8 little-endian bytes. `liveupdate_num` is read from handed-over bytes, so it
 * can be any u64 — beyond 2^53 a JavaScript number holds it approximately (and 2^64 − 1 reads
 * as 2^64): the value is written modulo 2^64, as the kernel's u64 arithmetic wraps.
 */
function u64Le(v: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(Math.trunc(v))), true);
  return out;
}

/** `liveupdate_num + 1` as the kernel's u64 computes it (2^64 − 1 wraps to 0). */
export function nextLiveupdateNum(v: number): number {
  return v + 1 >= 2 ** 64 ? 0 : v + 1;
}

// ---------------------------------------------------------------- luo-v5 (7.2)

/** `LUO_ABI_COMPATIBLE` of 7.2. */
export const LUO_ABI_COMPATIBLE = "luo-v5";
/** `LUO_ABI_COMPAT_LEN` = ALIGN(sizeof("luo-v5"), 8) = 8. */
export const LUO_ABI_COMPAT_LEN = 8;
/** Byte offsets and size of `struct luo_ser`. */
export const LUO_SER_LAYOUT = {
  compatible: 0,
  liveupdateNum: 8,
  sessionsPa: 16,
  flbsPa: 24,
  size: 32,
} as const;

/** The fields of `struct luo_ser`. */
export interface LuoSer {
  /** `liveupdate_num` (incoming + 1). */
  liveupdateNum: number;
  /** Physical address of the first session block header, 0 without sessions. */
  sessionsPa: number;
  /** Physical address of the FLB page. */
  flbsPa: number;
}

/**
 * The 32 bytes of `struct luo_ser` as `luo_state_setup` and `luo_session_serialize` leave them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeLuoSer, readLuoSer } from "./luo.ts";
 * const b = encodeLuoSer({ liveupdateNum: 2, sessionsPa: 0x5000, flbsPa: 0x6000 });
 * assert.equal(new TextDecoder().decode(b.subarray(0, 6)), "luo-v5");
 * assert.deepEqual(readLuoSer(b), { ok: true, value: { liveupdateNum: 2, sessionsPa: 0x5000, flbsPa: 0x6000 } });
 * ```
 */
export function encodeLuoSer(s: LuoSer): Uint8Array {
  const L = LUO_SER_LAYOUT;
  const out = new Uint8Array(L.size);
  out.set(new TextEncoder().encode(LUO_ABI_COMPATIBLE), L.compatible);
  const dv = new DataView(out.buffer);
  setU64(dv, L.liveupdateNum, s.liveupdateNum);
  setU64(dv, L.sessionsPa, s.sessionsPa);
  setU64(dv, L.flbsPa, s.flbsPa);
  return out;
}

/**
 * The successor's checks of `struct luo_ser` (`luo_early_startup`, 7.2): at least 32 bytes and
 * `strncmp(compatible, "luo-v5", 8) == 0`, else EINVAL.
 */
export function readLuoSer(bytes: Uint8Array): LuoAbiResult<LuoSer> {
  const L = LUO_SER_LAYOUT;
  if (bytes.length < L.size) {
    return { ok: false, code: "EINVAL", message: `LUO blob too small (${bytes.length} bytes)` };
  }
  if (strncmp(bytes.subarray(0, LUO_ABI_COMPAT_LEN), LUO_ABI_COMPATIBLE, LUO_ABI_COMPAT_LEN)) {
    return {
      ok: false,
      code: "EINVAL",
      message: `LUO blob compatible '${cstr(bytes.subarray(0, 8))}' is not '${LUO_ABI_COMPATIBLE}'`,
    };
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, L.size);
  return {
    ok: true,
    value: {
      liveupdateNum: getLe64(dv, L.liveupdateNum),
      sessionsPa: getLe64(dv, L.sessionsPa),
      flbsPa: getLe64(dv, L.flbsPa),
    },
  };
}

// ---------------------------------------------------------------- sessions and files

/** Byte offsets and size of `struct luo_session_ser` (name, then `luo_file_set_ser`). */
export const LUO_SESSION_SER_LAYOUT = { name: 0, files: 64, count: 72, size: 80 } as const;
/** Byte offsets and size of `struct luo_file_ser`. */
export const LUO_FILE_SER_LAYOUT = { compatible: 0, data: 48, token: 56, size: 64 } as const;

/** `struct luo_file_set_ser`. */
export interface LuoFileSetSer {
  /** Physical address of the file block (chain), 0 without files. */
  files: number;
  /** Number of files. */
  count: number;
}

/** A `luo_session_ser` entry as read. */
export interface LuoSessionSer extends LuoFileSetSer {
  /** `name[64]` as stored (no NUL guaranteed). */
  name: Uint8Array;
}

/** Writes `strscpy(ser->name, name, 64)` at the entry `phys`. */
export function writeSessionSerName(mem: PhysicalMemory, phys: number, name: Uint8Array): void {
  strscpy(mem, phys + LUO_SESSION_SER_LAYOUT.name, name, LIVEUPDATE_SESSION_NAME_LENGTH);
}

/** Zeroes the name of the entry at `phys` (`memset(ser->name, 0, 64)`). */
export function clearSessionSerName(mem: PhysicalMemory, phys: number): void {
  mem.zero(phys + LUO_SESSION_SER_LAYOUT.name, LIVEUPDATE_SESSION_NAME_LENGTH);
}

/** Writes the entry's `file_set_ser` (`{files, count}`; zeros for `{0, 0}`). */
export function writeFileSetSer(mem: PhysicalMemory, phys: number, s: LuoFileSetSer): void {
  mem.writeU64(phys + LUO_SESSION_SER_LAYOUT.files, s.files);
  mem.writeU64(phys + LUO_SESSION_SER_LAYOUT.count, s.count);
}

/** Reads the `luo_session_ser` at `phys`. */
export function readSessionSer(mem: PhysicalMemory, phys: number): LuoSessionSer {
  const L = LUO_SESSION_SER_LAYOUT;
  return {
    name: mem.readBytes(phys + L.name, LIVEUPDATE_SESSION_NAME_LENGTH),
    files: mem.readU64(phys + L.files),
    count: mem.readU64(phys + L.count),
  };
}

/** A `luo_file_ser` entry. */
export interface LuoFileSer {
  /** The handler's compatible (written with strscpy into 48 bytes). */
  compatible: Uint8Array;
  /** The handler's `serialized_data`. */
  data: number;
  /** The user's token (all 64 bits). */
  token: bigint;
}

/** Writes the `luo_file_ser` at `phys` as `luo_file_freeze` does. */
export function writeFileSer(mem: PhysicalMemory, phys: number, f: LuoFileSer): void {
  const L = LUO_FILE_SER_LAYOUT;
  strscpy(mem, phys + L.compatible, f.compatible, LIVEUPDATE_HNDL_COMPAT_LENGTH);
  mem.writeU64(phys + L.data, f.data);
  mem.writeU64Big(phys + L.token, f.token);
}

/** Reads the `luo_file_ser` at `phys`. */
export function readFileSer(mem: PhysicalMemory, phys: number): LuoFileSer {
  const L = LUO_FILE_SER_LAYOUT;
  return {
    compatible: mem.readBytes(phys + L.compatible, LIVEUPDATE_HNDL_COMPAT_LENGTH),
    data: mem.readU64(phys + L.data),
    token: mem.readU64Big(phys + L.token),
  };
}

// ---------------------------------------------------------------- FLB (7.0 on)

/** `LUO_FLB_PGCNT`. */
export const LUO_FLB_PGCNT = 1;
/** Byte offsets and size of `struct luo_flb_header_ser`. */
export const LUO_FLB_HEADER_SER_LAYOUT = { pgcnt: 0, count: 8, size: 16 } as const;
/** Byte offsets and size of `struct luo_flb_ser`. */
export const LUO_FLB_SER_LAYOUT = { name: 0, data: 48, count: 56, size: 64 } as const;
/** `LUO_FLB_MAX` = (4096 − 16) / 64 = 63. */
export const LUO_FLB_MAX: number = Math.floor(
  (LUO_FLB_PGCNT * PAGE_SIZE - LUO_FLB_HEADER_SER_LAYOUT.size) / LUO_FLB_SER_LAYOUT.size,
);

/** A `luo_flb_ser` entry. */
export interface LuoFlbSer {
  /** The FLB's compatible (48 bytes, strscpy). */
  name: Uint8Array;
  /** The FLB's preserved data handle. */
  data: number;
  /** Number of preserved files depending on it. */
  count: number;
}

/** Physical address of FLB entry `i` of the page at `headerPa`. */
export function flbSerPhys(headerPa: number, i: number): number {
  return headerPa + LUO_FLB_HEADER_SER_LAYOUT.size + i * LUO_FLB_SER_LAYOUT.size;
}

/** Writes FLB entry `i` of the page at `headerPa`. */
export function writeFlbSer(mem: PhysicalMemory, headerPa: number, i: number, f: LuoFlbSer): void {
  const at = flbSerPhys(headerPa, i);
  strscpy(mem, at + LUO_FLB_SER_LAYOUT.name, f.name, LIVEUPDATE_FLB_COMPAT_LENGTH);
  mem.writeU64(at + LUO_FLB_SER_LAYOUT.data, f.data);
  mem.writeU64(at + LUO_FLB_SER_LAYOUT.count, f.count);
}

/** Reads FLB entry `i` of the page at `headerPa`. */
export function readFlbSer(mem: PhysicalMemory, headerPa: number, i: number): LuoFlbSer {
  const at = flbSerPhys(headerPa, i);
  return {
    name: mem.readBytes(at + LUO_FLB_SER_LAYOUT.name, LIVEUPDATE_FLB_COMPAT_LENGTH),
    data: mem.readU64(at + LUO_FLB_SER_LAYOUT.data),
    count: mem.readU64(at + LUO_FLB_SER_LAYOUT.count),
  };
}

// ---------------------------------------------------------------- C strings

/**
 * `strscpy(dst, src, size)` into memory: the bytes of `src` up to its first NUL, at most
 * `size - 1` of them, then one NUL; the rest of `dst` is left as it was.
 */
export function strscpy(mem: PhysicalMemory, dst: number, src: Uint8Array, size: number): void {
  const nul = src.indexOf(0);
  const len = Math.min(nul < 0 ? src.length : nul, size - 1);
  const out = new Uint8Array(len + 1);
  out.set(src.subarray(0, len));
  mem.writeBytes(dst, out);
}

/** The C string in `bytes` (up to the first NUL, or all of it), decoded as UTF-8. */
export function cstr(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** `strncmp(a, b, n) != 0` for a byte buffer and a JavaScript string. */
export function strncmp(a: Uint8Array, b: string, n: number): boolean {
  const bb = new TextEncoder().encode(b);
  for (let i = 0; i < n; i++) {
    const x = i < a.length ? a[i] : 0;
    const y = i < bb.length ? bb[i] : 0;
    if (x !== y) return true;
    if (x === 0) return false;
  }
  return false;
}

function setU64(dv: DataView, off: number, v: number): void {
  dv.setBigUint64(off, BigInt.asUintN(64, BigInt(Math.trunc(v))), true);
}
