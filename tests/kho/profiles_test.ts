import assert from "node:assert/strict";
import { getProfile, kernelRelease, PROFILE_NAMES } from "../../lib/kho/profiles.ts";

Deno.test("kernelRelease: VERSION.PATCHLEVEL.SUBLEVEL then EXTRAVERSION, as the Makefile", () => {
  const releases = Object.fromEntries(
    PROFILE_NAMES.map((p) => [p, kernelRelease(getProfile(p))]),
  );
  assert.deepEqual(releases, {
    "kho-v1-6.16": "6.16.0-kholab",
    "kho-v1-6.18": "6.18.0-kholab",
    "kho-v1-6.19": "6.19.0-kholab",
    "rfc-v1-order-table": "rfc-v1-order-table-kholab",
    "kho-v2": "7.0.0-kholab",
    "kho-v3": "7.1.0-kholab",
    "kho-v4": "7.2.0-rc1-kholab",
    "kho-v4+fixes": "7.2.0-rc1-fixes-kholab",
    "rfc-2026-page-type": "rfc-2026-page-type-kholab",
    "rfc-2026-page-type-fixed": "rfc-2026-page-type-fixed-kholab",
    "rfc-2025-12-hugetlb": "rfc-2025-12-hugetlb-kholab",
    "rfc-2026-ext-scratch": "rfc-2026-ext-scratch-kholab",
    "rfc-2026-guest-memfd": "rfc-2026-guest-memfd-kholab",
    "rfc-2026-guest-memfd-hugetlb-assumed": "rfc-2026-guest-memfd-hugetlb-assumed-kholab",
  });
  for (const r of Object.values(releases)) {
    assert.match(r, /^[0-9a-z.-]+$/, "no spaces or brackets in uname -r");
    assert.ok(r.length <= 64, "fits init_uts_ns.name.release (__NEW_UTS_LEN 64)");
    assert.doesNotMatch(r, /-rc\d+\.0/);
  }
});
