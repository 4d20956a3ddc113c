/**
 * The extended-scratch walk against preservations, log-log (kho-facts §12): kholab's measured
 * `kho_extend_scratch` time (median of warm runs, with the fastest and slowest as a bar) next to
 * the two published points, each mark labelled with whose it is. Feed it
 * `runExtScratchShape` results (`lib/scenario/ext_scratch_shape.ts`).
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { formatCount, log10CountAxis, tickMargins } from "./axes.ts";
import type { FigureOptions } from "./chart.ts";

/** One point of the figure. */
export interface ExtScratchPoint {
  /** Preserved blocks walked. */
  preservations: number;
  /** Microseconds: the median of kholab's runs, or the published sample. */
  us: number;
  /** Fastest run (kholab's points; the published ones have one sample). */
  minUs?: number;
  /** Slowest run. */
  maxUs?: number;
  /** Whose measurement: e.g. "kholab (median of 5 warm runs)" or "published (QEMU/KVM)". */
  source: string;
}

/**
 * `kho_extend_scratch` time against preservations on log-log axes, a line per source; kholab's
 * spread as vertical bars. The caption names the units and the samples.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Chart } from "./chart.ts";
 * import { extScratchShapeFigure } from "./ext_scratch.ts";
 * const f = extScratchShapeFigure([
 *   { preservations: 557, us: 88, source: "published" },
 *   { preservations: 526386, us: 21769, source: "published" },
 *   { preservations: 557, us: 200, minUs: 180, maxUs: 260, source: "kholab" },
 * ], { runs: 5 });
 * assert.match(String(f.caption), /µs/);
 * assert.match(new Chart(f).toSvg(), /^<svg/);
 * ```
 */
export function extScratchShapeFigure(
  points: readonly ExtScratchPoint[],
  options: { runs: number; title?: string },
): FigureOptions {
  const data = points.filter((p) => p.us > 0 && p.preservations > 0);
  const spread = data.filter((p) => p.minUs !== undefined && p.maxUs !== undefined);
  const ys = data.flatMap((p) => [p.us, p.minUs ?? p.us, p.maxUs ?? p.us]);
  const xs = data.map((p) => p.preservations);
  const yAxis = log10CountAxis(ys), xAxis = log10CountAxis(xs);
  return {
    caption:
      `${
        options.title ?? "kho_extend_scratch: time against preserved blocks"
      } (µs against blocks, log-log; kholab: median of ${options.runs} warm runs on a simulated ` +
      `64 GiB machine, bars from fastest to slowest; published: one sample each on a 64 GiB ` +
      `QEMU/KVM guest)`,
    ...tickMargins(yAxis, xAxis),
    marginRight: 150,
    x: { type: "log", label: "preserved blocks walked →", ...xAxis },
    y: { type: "log", label: "↑ time (µs)", grid: true, ...yAxis },
    color: { legend: true, label: "source" },
    marks: [
      Plot.ruleX(spread, { x: "preservations", y1: "minUs", y2: "maxUs", stroke: "source" }),
      Plot.line(data, {
        x: "preservations",
        y: "us",
        z: "source",
        stroke: "source",
        marker: "circle",
        title: (d: ExtScratchPoint) =>
          `${d.source}: ${formatCount(d.preservations)} blocks, ${
            formatCount(Math.round(d.us))
          } µs`,
      }),
      Plot.text(
        data,
        Plot.selectLast({
          x: "preservations",
          y: "us",
          z: "source",
          text: "source",
          dx: 6,
          textAnchor: "start",
          fill: "source",
        }),
      ),
    ],
  };
}
