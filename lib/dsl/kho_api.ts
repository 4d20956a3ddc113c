/**
 * The KHO API as scripts see it: the kernel name of each function a profile may have
 * (`kho_preserve_vmalloc`), the `api.<name>` metrics (1 when the running kernel — before
 * boot, the configured first kernel — has it), and the EOPNOTSUPP a command raises when an
 * object needs a function the generation lacks, naming the function and the generation.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { type AbiProfile, getProfile, hasApi, type KhoApi } from "../kho/profiles.ts";
import type { Session } from "./session.ts";
import type { MetricSpec } from "./spec.ts";

/** The kernel name of each KHO API function kholab models. */
export const KHO_API_NAMES: Readonly<Record<KhoApi, string>> = {
  preserveFolio: "kho_preserve_folio",
  preservePhys: "kho_preserve_phys",
  preservePages: "kho_preserve_pages",
  unpreserveFolio: "kho_unpreserve_folio",
  unpreservePages: "kho_unpreserve_pages",
  unpreservePhys: "__kho_unpreserve",
  preserveVmalloc: "kho_preserve_vmalloc",
  unpreserveVmalloc: "kho_unpreserve_vmalloc",
  allocPreserve: "kho_alloc_preserve",
  removeSubtree: "kho_remove_subtree",
  restorePages: "kho_restore_pages",
  splitPreservedPages: "kho_split_preserved_pages",
};

/** EOPNOTSUPP naming the first of `apis` the profile lacks (prefixed with `what`), or null. */
export function missingApi(
  profile: AbiProfile,
  what: string,
  apis: readonly KhoApi[],
): KhoError | null {
  for (const api of apis) {
    if (!hasApi(profile, api)) {
      return new KhoError(
        "EOPNOTSUPP",
        `${what}: ${KHO_API_NAMES[api]} does not exist in ${profile.name} (${profile.kernel})`,
      );
    }
  }
  return null;
}

/** The profile of the running kernel, or of the first kernel before boot. */
function profileOf(s: Session): AbiProfile {
  return s.kernel?.profile ?? getProfile(s.bootProfile);
}

/** `api.<kernel name>` for every exported KHO function (not the internal `__kho_unpreserve`). */
export const API_METRICS: readonly MetricSpec[] = (Object.keys(KHO_API_NAMES) as KhoApi[])
  .filter((api) => !KHO_API_NAMES[api].startsWith("__"))
  .map((api) => ({
    name: `api.${KHO_API_NAMES[api]}`,
    doc: `1 when the running kernel has ${KHO_API_NAMES[api]} (its profile's API)`,
    get: (s: Session) => hasApi(profileOf(s), api) ? 1 : 0,
  }));
