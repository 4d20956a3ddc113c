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
import {
  KHO_FDT_MEMORY_MAP_PROP_NAME,
  KHO_FDT_ORDER_TABLE_PROP_NAME,
  KHO_FDT_SUB_TREE_PROP_NAME_V1,
  KHO_SUB_TREE_PROP_NAME,
  KHO_SUB_TREE_SIZE_PROP_NAME,
} from "./kexec_handover.ts";
import { LUO_FDT_LIVEUPDATE_NUM, LUO_FDT_SESSION_HEADER } from "./luo.ts";
import { RESERVE_MEM_KHO_SIZE_PROP, RESERVE_MEM_KHO_START_PROP } from "./memblock.ts";
import { KHO_TEST_CSUM_PROP, KHO_TEST_MAGIC_PROP, KHO_TEST_NR_FOLIOS_PROP } from "./test_kho.ts";

/** How a native-endian property is decoded: its width and whether it is an address. */
export interface NativeProperty {
  /** Width in bytes. */
  readonly bytes: 4 | 8;
  /** `address` prints hex, `size` bytes with a binary unit, `count`/`value` plain. */
  readonly kind: "address" | "size" | "count" | "value";
}

/** Every native-endian property of KHO's root FDT and of the sub-FDTs kholab writes. */
export const NATIVE_PROPERTIES: Readonly<Record<string, NativeProperty>> = {
  // root FDT (kexec_handover.h; RFC v1's order table)
  [KHO_FDT_MEMORY_MAP_PROP_NAME]: { bytes: 8, kind: "address" },
  [KHO_FDT_ORDER_TABLE_PROP_NAME]: { bytes: 8, kind: "address" },
  [KHO_SUB_TREE_PROP_NAME]: { bytes: 8, kind: "address" },
  [KHO_FDT_SUB_TREE_PROP_NAME_V1]: { bytes: 8, kind: "address" },
  [KHO_SUB_TREE_SIZE_PROP_NAME]: { bytes: 8, kind: "size" },
  // memblock sub-FDT (reserve_mem)
  [RESERVE_MEM_KHO_START_PROP]: { bytes: 8, kind: "address" },
  [RESERVE_MEM_KHO_SIZE_PROP]: { bytes: 8, kind: "size" },
  // test_kho sub-FDT
  [KHO_TEST_MAGIC_PROP]: { bytes: 4, kind: "value" },
  [KHO_TEST_NR_FOLIOS_PROP]: { bytes: 4, kind: "count" },
  [KHO_TEST_CSUM_PROP]: { bytes: 4, kind: "value" },
  // LUO sub-FDT (6.19 – 7.1 ABI)
  [LUO_FDT_LIVEUPDATE_NUM]: { bytes: 8, kind: "count" },
  [LUO_FDT_SESSION_HEADER]: { bytes: 8, kind: "address" },
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
