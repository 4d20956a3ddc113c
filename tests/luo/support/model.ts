/**
 * An independent model of LUO's handover bytes, written from luo-hugetlb-facts §1.2, §2.4–§2.6
 * without lib/kho/abi/luo.ts or lib/kho/abi/block.ts: the pages the kernel should have written,
 * built from what the test preserved, to compare with simulated memory byte for byte.
 *
 * @module
 */

import type { PhysicalMemory } from "../../../lib/machine/physmem.ts";

const PAGE = 4096;
const enc = (s: string) => new TextEncoder().encode(s);

function u64(b: Uint8Array, off: number, v: bigint | number): void {
  new DataView(b.buffer, b.byteOffset).setBigUint64(off, BigInt(v), true);
}

function r64(mem: PhysicalMemory, phys: number): number {
  const b = mem.readBytes(phys, 8);
  return Number(new DataView(b.buffer).getBigUint64(0, true));
}

/** strscpy into a zeroed field: the bytes (cut to size − 1) and zeros after. */
function field(s: string, size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set(enc(s).subarray(0, size - 1));
  return f;
}

/** A session as the model expects it in the handover. */
export interface ModelSession {
  name: string;
  /** Physical address of its file chain/array head (read from memory by the caller). */
  files: number;
  count: number;
}

/** A file entry as the model expects it. */
export interface ModelFile {
  compat: string;
  data: number;
  token: bigint;
}

/** The 80-byte `luo_session_ser`. */
export function sessionEntry(s: ModelSession): Uint8Array {
  const e = new Uint8Array(80);
  e.set(field(s.name, 64));
  u64(e, 64, s.files);
  u64(e, 72, s.count);
  return e;
}

/** The 64-byte `luo_file_ser`. */
export function fileEntry(f: ModelFile): Uint8Array {
  const e = new Uint8Array(64);
  e.set(field(f.compat, 48));
  u64(e, 48, f.data);
  u64(e, 56, f.token);
  return e;
}

/** A kho_block page: `{next, count}` then the entries, zeros elsewhere. */
export function blockPage(next: number, entries: Uint8Array[]): Uint8Array {
  const p = new Uint8Array(PAGE);
  u64(p, 0, next);
  u64(p, 8, entries.length);
  let at = 16;
  for (const e of entries) (p.set(e, at), at += e.length);
  return p;
}

/** Follows `next` from `head` (at most `limit` blocks): the header addresses in order. */
export function chain(mem: PhysicalMemory, head: number, limit = 20000): number[] {
  const out: number[] = [];
  for (let b = head; b !== 0 && out.length < limit; b = r64(mem, b)) out.push(b);
  return out;
}

/** Splits `entries` into blocks of `per` and builds the expected pages for `addrs`. */
export function chainPages(addrs: number[], entries: Uint8Array[], per: number): Uint8Array[] {
  return addrs.map((_, k) => blockPage(addrs[k + 1] ?? 0, entries.slice(k * per, (k + 1) * per)));
}

/** The 32-byte `luo_ser` ("luo-v5"). */
export function luoSer(num: number, sessionsPa: number, flbsPa: number): Uint8Array {
  const b = new Uint8Array(32);
  b.set(enc("luo-v5"));
  u64(b, 8, num);
  u64(b, 16, sessionsPa);
  u64(b, 24, flbsPa);
  return b;
}

/** Reads `luo_ser`'s three u64 fields. */
export function readLuoSer(mem: PhysicalMemory, phys: number) {
  return { num: r64(mem, phys + 8), sessionsPa: r64(mem, phys + 16), flbsPa: r64(mem, phys + 24) };
}

/** The FDT era's session block: `{count}` then the entries (first `len` bytes of 64 KiB). */
export function sessionArray(entries: Uint8Array[]): Uint8Array {
  const b = new Uint8Array(16 * PAGE);
  u64(b, 0, entries.length);
  entries.forEach((e, i) => b.set(e, 8 + 80 * i));
  return b;
}

/** The FDT era's 2-page file block. */
export function fileArray(entries: Uint8Array[]): Uint8Array {
  const b = new Uint8Array(2 * PAGE);
  entries.forEach((e, i) => b.set(e, 64 * i));
  return b;
}

/** The FLB page: `{pgcnt = 1, count}` then `{name[48], data, count}` entries. */
export function flbPage(entries: { name: string; data: number; count: number }[]): Uint8Array {
  const p = new Uint8Array(PAGE);
  u64(p, 0, 1);
  u64(p, 8, entries.length);
  entries.forEach((f, i) => {
    const at = 16 + 64 * i;
    p.set(field(f.name, 48), at);
    u64(p, at + 48, f.data);
    u64(p, at + 56, f.count);
  });
  return p;
}

/**
 * The luo-v1 FDT from the devicetree format and `luo_fdt_setup`'s call order: header at 0,
 * reservation map at ALIGN(40, 16) = 48, structure at 64, sequential-write strings (stored
 * last-added first).
 */
export function luoFdt(
  num: bigint,
  sessionCompat: string,
  sessionHeader: bigint,
  flb: { compat: string; header: bigint } | null,
): Uint8Array {
  const names = ["compatible", "liveupdate-number", "luo-session-header"];
  if (flb) names.push("luo-flb-header");
  const table = [...names].reverse();
  const strings = enc(table.map((n) => n + "\0").join(""));
  const nameoff = (n: string) =>
    table.slice(0, table.indexOf(n)).reduce((a, x) => a + x.length + 1, 0);
  const struct: number[] = [];
  const be32 = (v: number) =>
    struct.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  const bytes = (b: Uint8Array) => {
    struct.push(...b);
    while (struct.length % 4) struct.push(0);
  };
  const le64 = (v: bigint) => {
    const b = new Uint8Array(8);
    u64(b, 0, v);
    return b;
  };
  const begin = (name: string) => (be32(1), bytes(enc(name + "\0")));
  const prop = (name: string, value: Uint8Array) => (
    be32(3), be32(value.length), be32(nameoff(name)), bytes(value)
  );
  begin("");
  prop("compatible", enc("luo-v1\0"));
  prop("liveupdate-number", le64(num));
  begin("luo-session");
  prop("compatible", enc(sessionCompat + "\0"));
  prop("luo-session-header", le64(sessionHeader));
  be32(2);
  if (flb) {
    begin("luo-flb");
    prop("compatible", enc(flb.compat + "\0"));
    prop("luo-flb-header", le64(flb.header));
    be32(2);
  }
  be32(2);
  be32(9);
  const offRsv = 48;
  const offStruct = offRsv + 16;
  const total = offStruct + struct.length + strings.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const header = [
    0xd00dfeed,
    total,
    offStruct,
    offStruct + struct.length,
    offRsv,
    17,
    16,
    0,
    strings.length,
    struct.length,
  ];
  header.forEach((v, i) => dv.setUint32(i * 4, v, false));
  out.set(struct, offStruct);
  out.set(strings, offStruct + struct.length);
  return out;
}
