/**
 * Charts that render themselves: a {@link Chart} wraps Observable Plot options, renders them
 * with a linkedom document (no browser needed), and displays itself in a Deno Jupyter
 * notebook through `Symbol.for("Jupyter.display")` as a `text/html` bundle (nbconvert strips
 * bare `image/svg+xml` outputs): a `<figure>` with the caption as `<figcaption>`. Outside a
 * notebook it is a standalone SVG or HTML string.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

/** The Observable Plot version the charts are drawn with (as pinned in deno.json). */
export const PLOT_VERSION = "0.6.17";

/** The key Deno's Jupyter kernel looks up to display a value. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A MIME bundle as Jupyter displays it. */
export type MimeBundle = Record<string, string>;

/** Options of a figure helper: Observable Plot options (marks, scales, size, title…). */
export type FigureOptions = Plot.PlotOptions;

const SVG_NS = "http://www.w3.org/2000/svg";

/** A fresh linkedom document for Plot to draw into. */
export function plotDocument(): Document {
  return parseHTML("<!DOCTYPE html><html><head></head><body></body></html>").document as Document;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** The caption of Plot options: `caption`, else `title` (strings only). */
function captionOf(options: FigureOptions): string {
  const c = options.caption ?? options.title;
  return typeof c === "string" ? c : "";
}

/**
 * A chart: Plot options that render to an SVG or HTML string and display themselves in a
 * notebook. In HTML it is a `<figure class="kholab-chart">` whose `<figcaption>` is the
 * options' `caption` (or `title`): the figure helpers write what is drawn and its unit there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as Plot from "@observablehq/plot";
 * import { Chart } from "./chart.ts";
 * const c = new Chart({ marks: [Plot.dot([{ x: 1, y: 2 }], { x: "x", y: "y" })], caption: "a dot (mm)" }, "demo");
 * assert.match(c.toSvg(), /^<svg/);
 * assert.ok(c.toHtml().includes("<figcaption>a dot (mm)</figcaption>"));
 * ```
 */
export class Chart {
  /** The Plot options. */
  readonly options: FigureOptions;
  /** Short name (used for files, alt text, `text/plain`). */
  readonly name: string;
  /** The figure caption: what is drawn and in which unit ("" when the options have none). */
  readonly caption: string;
  #html: string | null = null;

  /** Wraps Plot options; `name` labels the chart in text output and in reports. */
  constructor(options: FigureOptions, name = "chart", caption?: string) {
    this.options = options;
    this.name = name;
    this.caption = caption ?? captionOf(options);
  }

  /**
   * Renders into a fresh linkedom document (without the caption and title, which the figure
   * carries): an `<svg>`, or with a legend Plot's `<figure>` of swatches and `<svg>`.
   */
  render(): Element {
    const document = plotDocument();
    const { caption: _c, title: _t, subtitle: _s, ...options } = this.options;
    return Plot.plot({ ...options, document }) as unknown as Element;
  }

  /**
   * The chart as an HTML fragment: `<figure class="kholab-chart" data-chart=NAME>` with the
   * `<figcaption>` first, then the legend (if any) and the `<svg>` (with its namespace).
   */
  toHtml(): string {
    if (this.#html === null) {
      const el = this.render();
      for (const svg of el.tagName.toLowerCase() === "svg" ? [el] : el.querySelectorAll("svg")) {
        svg.setAttribute("xmlns", SVG_NS);
      }
      const body = el.tagName.toLowerCase() === "figure" ? el.innerHTML : el.outerHTML;
      const cap = this.caption ? `<figcaption>${escapeHtml(this.caption)}</figcaption>` : "";
      this.#html = `<figure class="kholab-chart" data-chart="${escapeHtml(this.name)}">` +
        cap + body + "</figure>";
    }
    return this.#html;
  }

  /**
   * The chart as a standalone SVG document (with `xmlns`): the plot's main `<svg>` (a
   * figure's legend swatches and caption are HTML and are left out).
   */
  toSvg(): string {
    const el = this.render();
    const svg = el.tagName.toLowerCase() === "svg"
      ? el
      : [...el.querySelectorAll("svg")].filter((s) => s.getAttribute("class")?.includes("plot"))
        .pop() ?? el.querySelector("svg");
    if (svg === null) throw new Error(`chart ${this.name}: Plot drew no <svg>`);
    svg.setAttribute("xmlns", SVG_NS);
    return svg.outerHTML;
  }

  /** The MIME bundle a notebook displays: `text/html` and a `text/plain` fallback. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return {
      "text/html": this.toHtml(),
      "text/plain": `[chart ${this.name}${this.caption ? `: ${this.caption}` : ""}]`,
    };
  }
}

/** A {@link Chart} from Plot options (shorthand). */
export function chart(options: FigureOptions, name?: string): Chart {
  return new Chart(options, name);
}
