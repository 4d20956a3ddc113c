/**
 * The `kexec-metadata` sub-blob (Linux 7.1, `include/linux/kho/abi/kexec_metadata.h`):
 * `struct kho_kexec_metadata { u32 version; char previous_release[65]; u32 kexec_count; }
 * __packed` — 73 bytes, native (little) endian. The one home of this layout: the writer
 * (outgoing kernel) and the reader (successor) both use it.
 *
 * @module
 */

/** Sub-blob name in the root FDT. */
export const KHO_KEXEC_METADATA_NAME = "kexec-metadata";
/** `KHO_KEXEC_METADATA_VERSION`. */
export const KHO_KEXEC_METADATA_VERSION = 1;
/** `__NEW_UTS_LEN + 1`. */
export const UTS_RELEASE_LEN = 65;
/** Byte offsets and total size of the packed struct. */
export const KEXEC_METADATA_LAYOUT = {
  version: 0,
  previousRelease: 4,
  kexecCount: 4 + UTS_RELEASE_LEN,
  size: 4 + UTS_RELEASE_LEN + 4,
} as const;

/** Decoded kexec metadata. */
export interface KexecMetadata {
  /** Layout version (1). */
  version: number;
  /** `init_uts_ns.name.release` of the kernel that wrote it. */
  previousRelease: string;
  /** Number of kexecs so far: 1 after the first. */
  kexecCount: number;
}

/**
 * Encodes the 73-byte blob.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeKexecMetadata, readKexecMetadata } from "./kexec_metadata.ts";
 * const b = encodeKexecMetadata({ version: 1, previousRelease: "7.2.0-kholab", kexecCount: 3 });
 * assert.equal(b.length, 73);
 * assert.deepEqual(readKexecMetadata(b), {
 *   ok: true, value: { version: 1, previousRelease: "7.2.0-kholab", kexecCount: 3 },
 * });
 * ```
 */
export function encodeKexecMetadata(m: KexecMetadata): Uint8Array {
  const L = KEXEC_METADATA_LAYOUT;
  const out = new Uint8Array(L.size);
  const dv = new DataView(out.buffer);
  dv.setUint32(L.version, m.version, true);
  const rel = new TextEncoder().encode(m.previousRelease).subarray(0, UTS_RELEASE_LEN - 1);
  out.set(rel, L.previousRelease);
  dv.setUint32(L.kexecCount, m.kexecCount >>> 0, true);
  return out;
}

/** Why an incoming blob was ignored, or the metadata. */
export type KexecMetadataResult = { ok: true; value: KexecMetadata } | {
  ok: false;
  reason: string;
};

/**
 * Decodes an incoming blob with `kho_init`'s checks: size ≥ 4, version == 1, size ≥ 73.
 */
export function readKexecMetadata(bytes: Uint8Array): KexecMetadataResult {
  const L = KEXEC_METADATA_LAYOUT;
  if (bytes.length < 4) {
    return { ok: false, reason: `kexec-metadata too small (${bytes.length} bytes)` };
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = dv.getUint32(L.version, true);
  if (version !== KHO_KEXEC_METADATA_VERSION) {
    return {
      ok: false,
      reason: `kexec-metadata version ${version}, expected ${KHO_KEXEC_METADATA_VERSION}`,
    };
  }
  if (bytes.length < L.size) {
    return { ok: false, reason: `kexec-metadata too small (${bytes.length} bytes)` };
  }
  const relBytes = bytes.subarray(L.previousRelease, L.previousRelease + UTS_RELEASE_LEN);
  const nul = relBytes.indexOf(0);
  const previousRelease = new TextDecoder().decode(
    relBytes.subarray(0, nul < 0 ? UTS_RELEASE_LEN : nul),
  );
  return {
    ok: true,
    value: { version, previousRelease, kexecCount: dv.getUint32(L.kexecCount, true) },
  };
}
