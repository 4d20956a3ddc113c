/**
 * The FDT properties KHO and its clients write as raw native-endian integers: the kernel
 * passes a `u64` (or `u32`) to `fdt_property(fdt, name, &value, sizeof(value))` instead of
 * `fdt_property_u64`, so on x86_64 the bytes are little-endian while dtc shows them as
 * big-endian cells (`preserved-memory-map = <0x40be16 0x1000000>` is 0x116be4000;
 * fdt-facts §5, §6). {@link nativePropertyNote} decodes them for `show fdt`.
 *
 * @module
 */

import { formatSize } from "../../units.ts";

/** How a native-endian property is decoded: its width and whether it is an address. */
export interface NativeProperty {
  /** Width in bytes. */
  readonly bytes: 4 | 8;
  /** `address` prints hex, `size` bytes with a binary unit, `count`/`value` plain. */
  readonly kind: "address" | "size" | "count" | "value";
}

/** Every native-endian property of KHO's root FDT and of the sub-FDTs kholab writes. */
export const NATIVE_PROPERTIES: Readonly<Record<string, NativeProperty>> = {
  // root FDT (kexec_handover.c)
  "preserved-memory-map": { bytes: 8, kind: "address" },
  "preserved-order-table": { bytes: 8, kind: "address" },
  "preserved-data": { bytes: 8, kind: "address" },
  "fdt": { bytes: 8, kind: "address" },
  "blob-size": { bytes: 8, kind: "size" },
  // memblock sub-FDT (reserve_mem)
  "start": { bytes: 8, kind: "address" },
  "size": { bytes: 8, kind: "size" },
  // test_kho sub-FDT
  "magic": { bytes: 4, kind: "value" },
  "nr_folios": { bytes: 4, kind: "count" },
  "csum": { bytes: 4, kind: "value" },
  // LUO sub-FDT (6.19 ABI)
  "liveupdate-number": { bytes: 8, kind: "count" },
  "luo-session-header": { bytes: 8, kind: "address" },
  // kholab's own scenario manifest
  "first-chunk": { bytes: 8, kind: "address" },
  "payload-bytes": { bytes: 8, kind: "size" },
  "nr-chunks": { bytes: 4, kind: "count" },
};

/**
 * The decoded value of a native-endian property as a comment (`u64 LE 0x116be4000`), or null
 * for other properties and for a value of another length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativePropertyNote } from "./native_props.ts";
 * const le = new Uint8Array([0x00, 0x40, 0xbe, 0x16, 0x01, 0, 0, 0]);
 * assert.equal(nativePropertyNote("preserved-memory-map", le), "u64 LE 0x116be4000");
 * assert.equal(nativePropertyNote("blob-size", new Uint8Array([73, 0, 0, 0, 0, 0, 0, 0])), "u64 LE 73 B");
 * assert.equal(nativePropertyNote("compatible", le), null);
 * ```
 */
export function nativePropertyNote(name: string, value: Uint8Array): string | null {
  const spec = Object.hasOwn(NATIVE_PROPERTIES, name) ? NATIVE_PROPERTIES[name] : undefined;
  if (spec === undefined || value.length !== spec.bytes) return null;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const n = spec.bytes === 8 ? view.getBigUint64(0, true) : BigInt(view.getUint32(0, true));
  const text = spec.kind === "address" || spec.kind === "value"
    ? `0x${n.toString(16)}`
    : spec.kind === "size" && n <= BigInt(Number.MAX_SAFE_INTEGER)
    ? formatSize(Number(n))
    : spec.kind === "size"
    ? `${n} B`
    : String(n);
  return `u${spec.bytes * 8} LE ${text}`;
}
