/**
 * Charts that render themselves: a {@link Chart} wraps Observable Plot options, renders them
 * with a linkedom document (no browser needed), and displays itself in a Deno Jupyter
 * notebook through `Symbol.for("Jupyter.display")` as a `text/html` bundle (nbconvert strips
 * bare `image/svg+xml` outputs). Outside a notebook it is a standalone SVG or HTML string.
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

/**
 * A chart: Plot options that render to an SVG or HTML string and display themselves in a
 * notebook.
 *
 * @example
 * ```ts
 * import * as Plot from "@observablehq/plot";
 * import { Chart } from "./chart.ts";
 * const c = new Chart({ marks: [Plot.dot([{ x: 1, y: 2 }], { x: "x", y: "y" })] }, "demo");
 * console.assert(c.toSvg().startsWith("<svg") && c.toHtml().includes("<svg"));
 * ```
 */
export class Chart {
  /** The Plot options. */
  readonly options: FigureOptions;
  /** Short name (used for files, alt text, `text/plain`). */
  readonly name: string;
  #html: string | null = null;

  /** Wraps Plot options; `name` labels the chart in text output and in reports. */
  constructor(options: FigureOptions, name = "chart") {
    this.options = options;
    this.name = name;
  }

  /** Renders into a fresh linkedom document: an `<svg>` or, with a legend or title, a `<figure>`. */
  render(): Element {
    const document = plotDocument();
    return Plot.plot({ ...this.options, document }) as unknown as Element;
  }

  /**
   * The chart as an HTML fragment (the `<figure>` or `<svg>`), wrapped in a
   * `<div class="kholab-chart" data-chart=NAME>`; every `<svg>` carries its namespace.
   */
  toHtml(): string {
    if (this.#html === null) {
      const el = this.render();
      for (const svg of el.tagName.toLowerCase() === "svg" ? [el] : el.querySelectorAll("svg")) {
        svg.setAttribute("xmlns", SVG_NS);
      }
      this.#html = `<div class="kholab-chart" data-chart="${escapeHtml(this.name)}">` +
        el.outerHTML + "</div>";
    }
    return this.#html;
  }

  /**
   * The chart as a standalone SVG document (with `xmlns`): the plot's main `<svg>` (a
   * figure's legend swatches and title are HTML and are left out).
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
    return { "text/html": this.toHtml(), "text/plain": `[chart ${this.name}]` };
  }
}

/** A {@link Chart} from Plot options (shorthand). */
export function chart(options: FigureOptions, name?: string): Chart {
  return new Chart(options, name);
}
