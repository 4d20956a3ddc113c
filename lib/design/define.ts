/**
 * The public design API: a tracker format and a profile defined outside `lib/` join kholab's
 * tables, and from then on every scenario, sweep, the compatibility matrix, reports, the
 * command line and the command language take them like the built-in ones.
 *
 * - {@link defineTracker} registers a {@link TrackerFormat}: `kind`, `capabilities`,
 *   `create(host)` returning an `OutgoingTracker` over pages from `host.alloc`, and
 *   `incoming(mem, rootPhys, options)` returning an `IncomingTracker` that reads the bytes
 *   only (the conformance suite, `runConformance`, checks that it does).
 * - {@link defineProfile} derives a profile from an existing one — a stateless base (kho-v2
 *   on) with another tracker and its own compatible string, or a HugeTLB live update base with
 *   another way to bring folios' struct pages back (`hugetlbVmemmap`) — and registers it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineProfile } from "./define.ts";
 * import { getProfile } from "../kho/profiles.ts";
 * // kho-v4 with the order << 51 keys of the RFC v1 review, under a compatible of its own
 * const p = defineProfile({
 *   name: "kho-v4-jgg-keys", base: "kho-v4", tracker: "radix-jgg", compat: "kho-v4-jgg",
 * });
 * assert.equal(getProfile("kho-v4-jgg-keys"), p);
 * assert.equal(p.luo, getProfile("kho-v4").luo); // everything else is the base's
 * ```
 *
 * @module
 */

import { PAGE_SIZE } from "../units.ts";
import {
  getProfile,
  hasGuestMemory,
  isBuiltinProfile,
  type KhoBug,
  registerProfile,
} from "../kho/profiles.ts";
import type { AbiProfile, ProfileName, TrackerKind } from "../kho/profiles.ts";
import {
  isBuiltinTrackerKind,
  registerTrackerFormat,
  trackerAvailable,
  trackerFormat,
} from "../kho/trackers/registry.ts";
import type { TrackerFormat, WalkOrder } from "../kho/trackers/tracker.ts";
import { recordOrigin } from "./load.ts";
import {
  hugetlbVmemmapDesign,
  type HugetlbVmemmapRestore,
  registerHugetlbVmemmap,
} from "../clients/hugetlb_luo.ts";

/** Names of designs: lower-case letters, digits, `.`, `_`, `+`, `-`, at most 40. */
const NAME = /^[a-z0-9][a-z0-9._+-]{0,39}$/;
const WALK_ORDERS: readonly WalkOrder[] = ["order-desc", "order-asc", "address", "unspecified"];

function check(ok: boolean, what: string): void {
  if (!ok) throw new RangeError(what);
}

/**
 * Registers a tracker format so that profiles (`defineProfile`), the conformance suite and
 * every table of formats can use it; returns it. The format is checked for shape — a kind
 * of lower-case letters, digits and `.`, `_`, `+`, `-` that is not a built-in one, the
 * capabilities, the two functions — not for behaviour: that is the conformance suite's job.
 * Defining a kind again (a notebook cell run twice) replaces the earlier format.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineTracker } from "./define.ts";
 * import { trackerFormat } from "../kho/trackers/registry.ts";
 * const radix = trackerFormat("radix");
 * // the kernel's tree under another name: a format is plain data
 * defineTracker({ ...radix, kind: "my-radix", summary: "the radix tree, renamed" });
 * assert.equal(trackerFormat("my-radix").capabilities.maxOrder, 52);
 * assert.throws(() => defineTracker({ ...radix }), /built in/);
 * ```
 */
export function defineTracker(format: TrackerFormat): TrackerFormat {
  check(typeof format === "object" && format !== null, "defineTracker: a format object");
  const { kind, capabilities: c } = format;
  check(typeof kind === "string" && NAME.test(kind), `tracker kind "${kind}": ${NAME}`);
  check(!isBuiltinTrackerKind(kind), `tracker kind "${kind}" is built in and cannot be redefined`);
  check(typeof format.summary === "string", `tracker ${kind}: summary must be a string`);
  check(typeof c === "object" && c !== null, `tracker ${kind}: capabilities missing`);
  check(
    Number.isInteger(c.maxOrder) && c.maxOrder >= 0 && c.maxOrder <= 52,
    `tracker ${kind}: capabilities.maxOrder must be an integer 0..52`,
  );
  check(typeof c.pageType === "boolean", `tracker ${kind}: capabilities.pageType is a boolean`);
  check(
    c.rollback === "exact" || c.rollback === "none",
    `tracker ${kind}: capabilities.rollback is "exact" or "none"`,
  );
  check(
    WALK_ORDERS.includes(c.walkOrder),
    `tracker ${kind}: capabilities.walkOrder is one of ${WALK_ORDERS.join(", ")}`,
  );
  check(
    typeof c.batchedWalk === "boolean",
    `tracker ${kind}: capabilities.batchedWalk is a boolean`,
  );
  check(typeof format.create === "function", `tracker ${kind}: create(host) missing`);
  check(
    typeof format.incoming === "function",
    `tracker ${kind}: incoming(mem, rootPhys, options) missing`,
  );
  check(
    format.serialize === undefined || typeof format.serialize === "function",
    `tracker ${kind}: serialize must be a function`,
  );
  registerTrackerFormat(format);
  recordOrigin("tracker", kind);
  return format;
}

/** What {@link defineProfile} takes. */
export interface ProfileDesign {
  /** Name: lower-case letters, digits, `.`, `_`, `+`, `-`; not a built-in profile's. */
  readonly name: string;
  /** The profile it derives from: everything it does not set comes from there. */
  readonly base: ProfileName;
  /**
   * The root FDT `compatible` its kernels write and accept (exact match). Required when the
   * tracker differs from the base's: a successor built for another encoding must refuse the
   * handover rather than read its bytes as its own.
   */
  readonly compat?: string;
  /** Its tracker: a kind in the table, or a format (registered on the way). Default: the base's. */
  readonly tracker?: TrackerKind | TrackerFormat;
  /** One line (default: `"<base> with the <kind> tracker"`). */
  readonly summary?: string;
  /** What it stands for, as the profile table's kernel column (default `"design on <base>"`). */
  readonly kernel?: string;
  /** Known bugs it reproduces (default: the base's, less those of the base's tracker). */
  readonly bugs?: readonly KhoBug[];
  /**
   * Where the design stands, shown wherever a proposal's status is (default: the base's, for
   * a design with nothing of its own beyond another tracker; e.g. "kholab's own proposal").
   */
  readonly status?: string;
  /**
   * How its kernels bring a HugeTLB folio's struct pages back across a live update (a base
   * with the `hugetlb` guest memory path): preserve side, boot-time fold, restore
   * ({@link HugetlbVmemmapRestore}). Default: the base's (the RFC's rebuild and HVO).
   */
  readonly hugetlbVmemmap?: HugetlbVmemmapRestore;
}

/** Bugs that belong to a tracker rather than to the rest of a generation. */
const TRACKER_BUGS: Readonly<Partial<Record<KhoBug, TrackerKind>>> = {
  "order-table-no-slot": "order-table",
  "page-type-lost": "radix-typed",
};

/**
 * Derives a profile from `design.base` and registers it; returns it. Only a stateless base
 * (kho-v2 and later: no finalize) can take another tracker — the xarray generations
 * serialize their xarray at finalize, which no other tracker has. The new profile keeps the
 * base's FDT construction, properties, LUO generation, restore rules and API (less
 * `kho_split_preserved_pages` when its tracker has no page type). With `hugetlbVmemmap` (a
 * base with HugeTLB live update) its kernels bring HugeTLB folios' struct pages back the
 * design's way (`examples/designs/folded_vmemmap.ts`); otherwise the base's way. Defining a
 * name again (a notebook cell run twice) replaces the earlier profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineProfile } from "./define.ts";
 * assert.throws(
 *   () => defineProfile({ name: "v19-radix", base: "kho-v1-6.19", tracker: "radix", compat: "x" }),
 *   /finalize/,
 * );
 * assert.throws(
 *   () => defineProfile({ name: "v4-typed", base: "kho-v4", tracker: "radix-typed-fixed" }),
 *   /compat/,
 * );
 * ```
 */
export function defineProfile(design: ProfileDesign): AbiProfile {
  const { name } = design;
  check(typeof name === "string" && NAME.test(name), `profile name "${name}": ${NAME}`);
  check(!isBuiltinProfile(name), `profile "${name}" is built in and cannot be redefined`);
  const base = getProfile(design.base);
  let kind = base.tracker;
  if (design.tracker !== undefined) {
    if (typeof design.tracker === "string") kind = design.tracker;
    else {
      if (
        !trackerAvailable(design.tracker.kind) ||
        trackerFormat(design.tracker.kind) !== design.tracker
      ) {
        defineTracker(design.tracker);
      }
      kind = design.tracker.kind;
    }
  }
  check(trackerAvailable(kind), `profile ${name}: unknown tracker kind "${kind}"`);
  const newTracker = kind !== base.tracker;
  if (newTracker) {
    check(
      base.finalize === "none",
      `profile ${name}: base ${base.name} serializes its ${base.tracker} tracker at finalize; ` +
        `another tracker needs a stateless base (kho-v2 and later)`,
    );
  }
  const compat = design.compat ?? base.compat;
  check(
    typeof compat === "string" && compat.length > 0 && compat.length < PAGE_SIZE / 64 &&
      /^[\x21-\x7e]+$/.test(compat),
    `profile ${name}: compat must be printable ASCII without spaces, 1..63 characters`,
  );
  check(
    !newTracker || design.compat !== undefined && compat !== base.compat,
    `profile ${name}: a tracker other than ${base.name}'s needs a compat string of its own`,
  );
  const format = trackerFormat(kind);
  const bugs = design.bugs ??
    base.bugs.filter((b) => !newTracker || TRACKER_BUGS[b] === undefined);
  const profile: AbiProfile = {
    ...base,
    name,
    kernel: design.kernel ?? `design on ${base.name}`,
    summary: design.summary ?? `${base.name} with the ${kind} tracker`,
    compat,
    tracker: kind,
    api: format.capabilities.pageType
      ? base.api
      : base.api.filter((f) => f !== "splitPreservedPages"),
    bugs: [...bugs],
    ...(design.status !== undefined ? { status: design.status } : {}),
  };
  const vmemmap = design.hugetlbVmemmap ?? hugetlbVmemmapDesign(base.name);
  if (design.hugetlbVmemmap !== undefined) {
    check(
      hasGuestMemory(base, "hugetlb"),
      `profile ${name}: hugetlbVmemmap needs a base with HugeTLB live update (${base.name} has none)`,
    );
    const d = design.hugetlbVmemmap;
    check(
      typeof d === "object" && d !== null && typeof d.name === "string" &&
        typeof d.restoreFolio === "function" && typeof d.addFolios === "function",
      `profile ${name}: hugetlbVmemmap needs a name, restoreFolio and addFolios`,
    );
    for (const f of ["preserveFolios", "unpreserveFolios", "foldsAtBoot"] as const) {
      check(
        d[f] === undefined || typeof d[f] === "function",
        `profile ${name}: hugetlbVmemmap.${f} must be a function`,
      );
    }
    check(
      (d.preserveFolios === undefined) === (d.unpreserveFolios === undefined),
      `profile ${name}: hugetlbVmemmap needs both preserveFolios and unpreserveFolios, or neither`,
    );
  }
  check(
    design.status === undefined || typeof design.status === "string" && design.status.length > 0,
    `profile ${name}: status must be a non-empty string`,
  );
  registerProfile(profile);
  registerHugetlbVmemmap(name, vmemmap);
  recordOrigin("profile", name);
  return profile;
}
