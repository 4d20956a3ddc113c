/**
 * A look inside one kexec of a scenario, for the figures that need more than a metrics row:
 * /proc/buddyinfo of the first kernel after it preserved everything and of the successor
 * after its boot, and (for radix-tree profiles) the tree's occupancy by level and its pages
 * by order, read from the handed-over bytes.
 *
 * @module
 */

import { describeBootConfig } from "../boot/options.ts";
import { RadixTree } from "../kho/trackers/radix.ts";
import { getProfile, type ProfileName } from "../kho/profiles.ts";
import { type BuddyinfoRow, buddyinfoRows } from "../plot/figures.ts";
import { type RadixOccupancy, radixOccupancy } from "../plot/radix_occupancy.ts";
import { buildScenario } from "../scenario/scenarios.ts";
import type { RunOptions } from "../scenario/run.ts";
export { PROFILE_NAMES, type ProfileName } from "../kho/profiles.ts";
export type { ParamValue } from "../scenario/scenarios.ts";

/** What {@link inspectKexec} saw. */
export interface KexecInspection {
  /** Profile of both kernels. */
  profile: ProfileName;
  /** Free blocks per order (all nodes) before and after kexec. */
  buddyinfo: BuddyinfoRow[];
  /** Radix occupancy, or null when the profile's tracker is not a radix tree. */
  radix: RadixOccupancy | null;
  /** Whether the successor revived KHO. */
  khoBoot: boolean;
  /**
   * The successor's boot report in brief: its configuration (kernel names of the switches on,
   * "" for none), whose verdict it applied (`kernel` or `strict`), why it refused the handover
   * and which strict check fired, if any.
   */
  boot: { config: string; verdict: "kernel" | "strict"; refused?: string; strictCheck?: string };
}

/**
 * Builds `scenario` for `profile`, preserves its workloads, records buddyinfo and the
 * radix occupancy, kexecs and records the successor's buddyinfo.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspectKexec } from "./inspect.ts";
 * const v = inspectKexec({ scenario: "uniform", profile: "kho-v4", params: { ramBytes: "2G", pages: 64 } });
 * assert.equal(v.khoBoot, true);
 * assert.notEqual(v.radix, null);
 * assert.equal(v.buddyinfo.length, 22);
 * ```
 */
export function inspectKexec(
  options: Pick<RunOptions, "scenario" | "profile" | "params" | "seed">,
): KexecInspection {
  const inst = buildScenario(options.scenario, options);
  const k1 = inst.kernel;
  for (const w of inst.workloads) w.preserve(k1, inst.tally);
  const before = k1.buddy.buddyinfo();
  const tracker = k1.kho.out?.tracker;
  const radix = tracker instanceof RadixTree && tracker.codec.oneHotOrder &&
      tracker.handoverRoot() !== 0
    ? radixOccupancy(inst.machine.mem, tracker.handoverRoot())
    : null;
  const finalized = getProfile(options.profile).finalize === "none";
  const k2 = k1.kexec({ ...inst.bootOptions, finalizeAtKexec: !finalized });
  return {
    profile: options.profile,
    buddyinfo: buddyinfoRows({ "before kexec": before, "after kexec": k2.buddy.buddyinfo() }),
    radix,
    khoBoot: k2.kho.isKhoBoot,
    boot: {
      config: describeBootConfig(k2.boot.config),
      verdict: k2.boot.verdict,
      refused: k2.boot.revivalRefused,
      strictCheck: k2.boot.strictCheck,
    },
  };
}
