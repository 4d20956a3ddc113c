/**
 * The after-job of a report's sweep (`SweepOptions.afterJobs`): {@link inspectKexec} of one
 * profile, run on a sweep worker once every point is timed, so that a report's inspections
 * share the cores two at a time instead of running one after another.
 *
 * @module
 */

import { inspectKexec, type KexecInspection } from "./inspect.ts";

/** One inspection: the arguments of {@link inspectKexec}. */
export type InspectJob = Parameters<typeof inspectKexec>[0];

/**
 * Runs one inspection (the `runAfterJob` a sweep worker calls).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runAfterJob } from "./inspect_job.ts";
 * const v = runAfterJob({ scenario: "uniform", profile: "kho-v4", params: { ramBytes: "2G", pages: 64 } });
 * assert.equal(v.khoBoot, true);
 * ```
 */
export function runAfterJob(job: InspectJob): KexecInspection {
  return inspectKexec(job);
}
