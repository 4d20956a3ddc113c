/**
 * Every standard figure drawn from the fixed rows of `fixtures.ts`, by name: the golden SVGs
 * (`figures_test.ts`) and the layout check in Chromium (`tests/report/report_test.ts`).
 *
 * @module
 */

import { Chart } from "../../lib/plot/chart.ts";
import {
  buddyinfoFigure,
  buddyinfoRows,
  byOrderRows,
  compatMatrixFigure,
  densitySweepFigure,
  hostLadderFigure,
  metadataBarsFigure,
  metadataByOrderFigure,
  metadataFigure,
  namedBarsFigure,
  orderShareFigure,
  orderShareRows,
  radixOccupancyFigure,
  sweepFigure,
  timingFigure,
  walkCostFigure,
  walkTimeFigure,
} from "../../lib/plot/figures.ts";
import {
  BUDDY_AFTER,
  BUDDY_BEFORE,
  DENSITY_ROWS,
  LADDER_ROWS,
  LEVEL_ROWS,
  MATRIX_CELLS,
  PROFILE_ROWS,
  SCRIPT_ROWS,
} from "./fixtures.ts";

/** Name and maker of each standard figure. */
export const FIGURES: [string, () => Chart][] = [
  ["metadata", () => new Chart(metadataFigure(DENSITY_ROWS), "metadata")],
  ["metadata_bars", () => new Chart(metadataBarsFigure(PROFILE_ROWS), "metadata_bars")],
  ["walk_time", () => new Chart(walkTimeFigure(PROFILE_ROWS), "walk_time")],
  [
    "reserve_time",
    () =>
      new Chart(
        timingFigure(PROFILE_ROWS, "reserveMs", { title: "Successor's kho_mem_retrieve" }),
        "reserve_time",
      ),
  ],
  ["walk_cost", () => new Chart(walkCostFigure(PROFILE_ROWS), "walk_cost")],
  [
    "metadata_by_order",
    () =>
      new Chart(
        metadataByOrderFigure(byOrderRows(PROFILE_ROWS, "preservedBytesByOrder")),
        "metadata_by_order",
      ),
  ],
  ["density_sweep", () => new Chart(densitySweepFigure(DENSITY_ROWS), "density_sweep")],
  [
    "host_ladder",
    () => new Chart(hostLadderFigure(LADDER_ROWS, { y: "walkCacheLines" }), "host_ladder"),
  ],
  ["compat_matrix", () => new Chart(compatMatrixFigure(MATRIX_CELLS), "compat_matrix")],
  [
    "buddyinfo",
    () =>
      new Chart(
        buddyinfoFigure(
          buddyinfoRows({ "before kexec": BUDDY_BEFORE, "after kexec": BUDDY_AFTER }),
        ),
        "buddyinfo",
      ),
  ],
  ["radix_levels", () => new Chart(radixOccupancyFigure(LEVEL_ROWS), "radix_levels")],
  ["order_share", () => new Chart(orderShareFigure(orderShareRows(PROFILE_ROWS)), "order_share")],
  // What a script's `chart` statements draw (lib/dsl/charts.ts): rows named by profile and
  // swept value, coloured by profile; a size swept on a log axis; bytes on a linear one.
  [
    "script_metadata",
    () =>
      new Chart(
        namedBarsFigure(
          SCRIPT_ROWS.map((r) => ({
            name: String(r.name),
            profile: String(r.profile),
            value: Number(r.handoverBytes),
          })),
          { title: "Metadata the successor reads", label: "handover.bytes", bytes: true },
        ),
        "script_metadata",
      ),
  ],
  [
    "script_walk",
    () =>
      new Chart(walkCostFigure(SCRIPT_ROWS, undefined, undefined, { by: "name" }), "script_walk"),
  ],
  [
    "script_sweep",
    () =>
      new Chart(
        sweepFigure(SCRIPT_ROWS, { y: "handoverBytes", logY: false, xBytes: true }),
        "script_sweep",
      ),
  ],
];
