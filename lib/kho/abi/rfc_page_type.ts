/**
 * **Proposal, not in mainline.** The key layout of the RFC "kho: Support preserving unsplit
 * high-order pages" (Pranjal Shrivastava, [RFC PATCH 0/4], 2026-07-03; kho-facts §5.6): a
 * page type `enum kho_page_type { KHO_PAGE_CONTIG = 0, KHO_PAGE_SPLIT }` carried in the radix
 * key next to the one-hot order bit (`kexec_handover.ts`), so that the successor restores
 * the refcount pattern the block had.
 *
 * - As posted ({@link KHO_KEY_TYPE_SHIFT}): the type in key **bit 63**. Which bit the RFC
 *   uses is [UNVERIFIED] (bit 63 has been assumed); a six-level tree indexes only key bits
 *   0..59, so the type never reaches the successor (kholab's bug `page-type-lost`).
 * - kholab's corrected variant ({@link KHO_KEY_TYPE_SHIFT_FIXED}, never posted): the type in
 *   **bit 53**, the lowest bit above the order-0 order bit, inside the indexed bits; an old
 *   successor would decode a SPLIT key as order -1, so it needs its own compatible string
 *   ({@link KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED}).
 *
 * @module
 */

/** `KHO_PAGE_CONTIG`: an unsplit block (head refcount 1, tails 0); folios are always CONTIG. */
export const KHO_PAGE_CONTIG = 0;
/** `KHO_PAGE_SPLIT`: a split block (every page refcount 1). */
export const KHO_PAGE_SPLIT = 1;
/** `enum kho_page_type`. */
export type KhoPageType = 0 | 1;

/** Key bit of the page type as posted (bit 63, [UNVERIFIED]; never indexed by the tree). */
export const KHO_KEY_TYPE_SHIFT = 63;
/** Key bit of the page type in kholab's corrected variant (bit 53, indexed by the root). */
export const KHO_KEY_TYPE_SHIFT_FIXED = 53;
/**
 * Root FDT compatible of kholab's corrected variant (profile `rfc-2026-page-type-fixed`):
 * its SPLIT keys are not decodable by kho-v4 kernels. kholab's label, not a kernel string.
 */
export const KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED = "kho-v4-page-type";

/**
 * The type bit of a key with its type at key bit `shift` (32..63), as a mask of the key's
 * high u32 half.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KHO_KEY_TYPE_SHIFT, KHO_KEY_TYPE_SHIFT_FIXED, khoKeyTypeMaskHi } from "./rfc_page_type.ts";
 * assert.equal(khoKeyTypeMaskHi(KHO_KEY_TYPE_SHIFT), 0x80000000);
 * assert.equal(khoKeyTypeMaskHi(KHO_KEY_TYPE_SHIFT_FIXED), 0x200000);
 * ```
 */
export function khoKeyTypeMaskHi(shift: number): number {
  if (!Number.isInteger(shift) || shift < 32 || shift > 63) {
    throw new RangeError(`type bit ${shift} is not in the key's high half (32..63)`);
  }
  return (1 << (shift - 32)) >>> 0;
}
