/**
 * **A deliberately broken design**, kept as a fixture of the conformance suite: it must fail.
 *
 * Tracker kind `broken-js-state` writes a real radix tree, but its successor-side reader
 * does not read it: it replays a JavaScript array the first kernel's tracker kept in this
 * module — an object that could never survive kexec. Every walk in one process "works";
 * `runConformance`'s `bytes-only` check builds two trackers at the same addresses and walks
 * the first one's bytes after the second was built, and names the failure
 * `reads-javascript-state`. Reading nothing, its walk charges no counter either, which the
 * `cost-counters` check names `walk-miscounted`.
 *
 * @module
 */

import {
  defineTracker,
  incomingTracker,
  type OutgoingTracker,
  TrackerCounters,
  trackerFormat,
} from "../../mod.ts";

const radix = trackerFormat("radix");

/** The bug: the last tracker's blocks, in this module's memory, as `phys/order` keys. */
let remembered = new Set<string>();

/** The broken format. */
export const BROKEN_JS_STATE = defineTracker({
  ...radix,
  capabilities: { ...radix.capabilities, batchedWalk: false },
  kind: "broken-js-state",
  summary: "BROKEN on purpose: its successor replays JavaScript state instead of the bytes",
  create(host): OutgoingTracker {
    const tree = radix.create(host);
    const blocks = remembered = new Set();
    const key = (pfn: number, order: number) =>
      `${Math.floor(pfn / 2 ** order) * 2 ** order * 4096}/${order}`;
    return {
      ...tree,
      kind: "broken-js-state",
      counters: tree.counters,
      add(pfn, order) {
        tree.add(pfn, order);
        blocks.add(key(pfn, order));
      },
      del(pfn, order) {
        tree.del(pfn, order);
        blocks.delete(key(pfn, order));
      },
      walk: (cb) => tree.walk(cb),
      handoverRoot: () => tree.handoverRoot(),
      metadataPages: () => tree.metadataPages(),
      metadataBytes: () => tree.metadataBytes(),
      ownedPagesPhys: () => tree.ownedPagesPhys(),
      destroy: () => tree.destroy?.(),
    };
  },
  incoming(_mem, _rootPhys, o = {}) {
    const counters = o.counters ?? new TrackerCounters();
    return incomingTracker({
      kind: "broken-js-state",
      structure: "radix tree",
      counters,
      walk(cb) {
        const list = [...remembered].map((k) => k.split("/").map(Number))
          .sort((a, b) => b[1] - a[1] || a[0] - b[0]);
        let blocks = 0, stopped = 0;
        for (const [phys, order] of list) {
          blocks++;
          stopped = cb(phys, order);
          if (stopped) break;
        }
        return { ok: true, stopped, blocks, rejected: 0 };
      },
    });
  },
});
