import assert from "node:assert/strict";
import {
  KHO_FDT_COMPATIBLE,
  KHO_ORDER_0_LOG2,
  KHO_RADIX_KEY_WIDTH,
} from "../../../lib/kho/abi/kexec_handover.ts";
import {
  KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED,
  KHO_KEY_TYPE_SHIFT,
  KHO_KEY_TYPE_SHIFT_FIXED,
  KHO_PAGE_CONTIG,
  KHO_PAGE_SPLIT,
  khoKeyTypeMaskHi,
} from "../../../lib/kho/abi/rfc_page_type.ts";
import { getProfile } from "../../../lib/kho/profiles.ts";

Deno.test("page-type RFC: enum kho_page_type and where the type bit sits (kho-facts §5.6)", () => {
  assert.deepEqual([KHO_PAGE_CONTIG, KHO_PAGE_SPLIT], [0, 1]);
  // as posted: bit 63, beyond the 60 key bits a six-level tree indexes — the type is lost
  assert.equal(KHO_KEY_TYPE_SHIFT, 63);
  assert.ok(KHO_KEY_TYPE_SHIFT >= KHO_RADIX_KEY_WIDTH);
  // the corrected variant: bit 53, above every order bit (52 at most) and indexed by the root
  assert.equal(KHO_KEY_TYPE_SHIFT_FIXED, 53);
  assert.ok(KHO_KEY_TYPE_SHIFT_FIXED > KHO_ORDER_0_LOG2);
  assert.ok(KHO_KEY_TYPE_SHIFT_FIXED < KHO_RADIX_KEY_WIDTH);
  assert.equal(khoKeyTypeMaskHi(KHO_KEY_TYPE_SHIFT), 0x80000000);
  assert.equal(khoKeyTypeMaskHi(KHO_KEY_TYPE_SHIFT_FIXED), 1 << 21);
  assert.throws(() => khoKeyTypeMaskHi(31), RangeError);
});

Deno.test("page-type RFC: the posted profile keeps kho-v4, the fixed one needs its own compat", () => {
  assert.equal(getProfile("rfc-2026-page-type").compat, KHO_FDT_COMPATIBLE);
  assert.equal(getProfile("rfc-2026-page-type-fixed").compat, KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED);
  assert.notEqual(KHO_FDT_COMPATIBLE_PAGE_TYPE_FIXED, KHO_FDT_COMPATIBLE);
});
