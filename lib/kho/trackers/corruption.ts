/**
 * The one error every successor-side tracker reader throws when its walk of the handed-over
 * bytes aborts on corruption (radix tree, the xarray's khoser memory map, the RFC order
 * table): a {@link KhoError} EINVAL — what `kho_mem_retrieve` makes of a walk that fails —
 * carrying the structure, the named reason of the walk and the partial walk. Readers also
 * offer a checked walk that returns the same outcome without throwing.
 *
 * @module
 */

import { KhoError } from "../../errors.ts";
import type { WalkOutcome } from "./walk_guard.ts";

/**
 * The handed-over structure a reader walks, as the error message names it: the built-in
 * readers' three, or a user design's own name (e.g. `"extent list"`).
 */
export type TrackerStructure =
  | "radix tree"
  | "memory map"
  | "order table"
  | (string & Record<never, never>);

/**
 * A tracker walk aborted by corrupted handover bytes: a `KhoError` EINVAL with the named
 * {@link TrackerCorruptionError.reason} (`root-null`, `cycle`, `chunk-outside-ram`, …) and the
 * walk's outcome up to the error. The message is `EINVAL: corrupted KHO <structure>: <reason>:
 * <detail>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TrackerCorruptionError } from "./corruption.ts";
 * import { KhoError } from "../../errors.ts";
 * const e = new TrackerCorruptionError("radix tree", {
 *   ok: false, error: "cycle", detail: "entry 3", stopped: 0, blocks: 0, rejected: 0,
 * });
 * assert.ok(e instanceof KhoError && e.code === "EINVAL" && e.reason === "cycle");
 * assert.equal(e.message, "EINVAL: corrupted KHO radix tree: cycle: entry 3");
 * ```
 */
export class TrackerCorruptionError<
  W extends Readonly<WalkOutcome<string>> = Readonly<WalkOutcome<string>>,
> extends KhoError {
  /** The structure whose walk aborted. */
  readonly structure: TrackerStructure;
  /** The named reason (the walk's `error`). */
  readonly reason: NonNullable<W["error"]>;
  /** The walk's outcome up to the error. */
  readonly result: W;
  /** Builds the error from a failed walk; a walk that did not fail is a RangeError. */
  constructor(structure: TrackerStructure, result: W) {
    const reason = result.error;
    if (result.ok || reason === undefined) {
      throw new RangeError(`TrackerCorruptionError: the ${structure} walk did not fail`);
    }
    super("EINVAL", `corrupted KHO ${structure}: ${reason}: ${result.detail ?? ""}`);
    this.name = "TrackerCorruptionError";
    this.structure = structure;
    this.reason = reason as NonNullable<W["error"]>;
    this.result = result;
  }
}
