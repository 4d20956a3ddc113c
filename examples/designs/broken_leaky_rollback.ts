/**
 * **A deliberately broken design**, kept as a fixture of the conformance suite: it must fail.
 *
 * Tracker kind `broken-leaky-rollback` is the kernel's radix tree handed a page allocator
 * that never takes a page back: when an add fails with ENOMEM, the tree's rollback
 * (`err_free_nodes`) "frees" the pages it allocated for that add, and they stay allocated,
 * owned by nobody — a leak on rollback. `runConformance` names it: the `enomem-rollback`
 * check fails with `rollback-leak` (and `accounting` with `destroy-leak`).
 *
 * @module
 */

import { defineTracker, trackerFormat } from "../../mod.ts";

const radix = trackerFormat("radix");

/** The broken format. */
export const BROKEN_LEAKY_ROLLBACK = defineTracker({
  ...radix,
  kind: "broken-leaky-rollback",
  summary: "BROKEN on purpose: the radix tree over an allocator that never gets pages back",
  create: (host) =>
    radix.create({
      ...host,
      alloc: {
        allocZeroedPage: (site) => host.alloc.allocZeroedPage(site),
        freePage: () => {}, // the bug: the page is dropped, not returned
      },
    }),
});
