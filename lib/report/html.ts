/**
 * The self-contained HTML page of a report: inline CSS, inline SVG charts, HTML tables and a
 * reproduction block. No scripts, no external resources.
 *
 * @module
 */

import { type Chart, escapeHtml } from "../plot/chart.ts";
import type { ResultTable } from "../plot/table.ts";

/** One section of a report page. */
export interface ReportSection {
  /** Heading. */
  title: string;
  /** A paragraph of explanation (plain text). */
  text?: string;
  /** Charts, in order. */
  charts?: readonly Chart[];
  /** Tables, in order. */
  tables?: readonly ResultTable[];
  /** Collapsible parts after the charts (`<details>`), e.g. one per profile. */
  groups?: readonly ReportGroup[];
  /**
   * HTML fragments after the tables and charts, as they are (tables and charts a script
   * showed; the caller builds them from escaped text).
   */
  html?: readonly string[];
  /** Preformatted text blocks (a script, its output), each with an optional heading. */
  pre?: readonly ReportText[];
}

/** A block of preformatted text in a section. */
export interface ReportText {
  /** A heading above it (plain text). */
  title?: string;
  /** The text, shown as it is (escaped). */
  text: string;
  /** In a closed `<details>` whose summary is the title (long text: a script's output). */
  collapsed?: boolean;
}

/** A collapsible part of a section. */
export interface ReportGroup {
  /** Its `<summary>`. */
  title: string;
  /** Open when the page loads. */
  open?: boolean;
  /** A paragraph before the charts (plain text). */
  text?: string;
  /** Charts, in order. */
  charts: readonly Chart[];
}

/** The page: title, reproduction facts and sections. */
export interface ReportPage {
  /** Page title. */
  title: string;
  /** Lead paragraph. */
  summary: string;
  /** Facts to reproduce the run (label → value), shown in a definition list. */
  reproduce: Readonly<Record<string, string>>;
  /** Sections. */
  sections: readonly ReportSection[];
}

const CSS = `
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
table.kholab-table{border-collapse:collapse;font-size:.8rem;margin:.8rem 0;max-width:100%}
table.kholab-table caption{text-align:left;font-weight:600;padding:.2rem 0}
table.kholab-table th,table.kholab-table td{border:1px solid #ddd;padding:.2rem .45rem}
table.kholab-table td{white-space:nowrap}table.kholab-wrap td{white-space:normal}
table.kholab-table th{background:#f4f4f4;white-space:normal}
figure.kholab-chart{margin:1.2rem 0;max-width:100%}
figure.kholab-chart figcaption{font-size:.9rem;font-weight:600;margin:0 0 .4rem}
details{margin:.6rem 0;border:1px solid #eee;padding:.3rem .6rem}
details summary{cursor:pointer;font-weight:600}
dl.repro{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;font-size:.85rem}
dl.repro dt{font-weight:600}dl.repro dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
pre.kholab-pre{font-size:.8rem;background:#f7f7f7;border:1px solid #eee;padding:.5rem;overflow-x:auto;max-width:100%}
h3.kholab-pre{font-size:.95rem;margin:.8rem 0 .2rem}
`;

/** Renders a report page as one HTML document. */
export function renderReportHtml(page: ReportPage): string {
  const repro = Object.entries(page.reproduce).map(([k, v]) =>
    `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`
  ).join("\n");
  const sections = page.sections.map((s) =>
    [
      `<section><h2>${escapeHtml(s.title)}</h2>`,
      s.text ? `<p>${escapeHtml(s.text)}</p>` : "",
      ...(s.tables ?? []).map((t) => t.toHtml()),
      ...(s.charts ?? []).map((c) => c.toHtml()),
      ...(s.groups ?? []).map((g) =>
        `<details${g.open ? " open" : ""}><summary>${escapeHtml(g.title)}</summary>\n` +
        (g.text ? `<p>${escapeHtml(g.text)}</p>\n` : "") +
        g.charts.map((c) => c.toHtml()).join("\n") + "\n</details>"
      ),
      ...(s.html ?? []),
      ...(s.pre ?? []).map((p) => {
        const pre = `<pre class="kholab-pre">${escapeHtml(p.text)}</pre>`;
        return p.collapsed
          ? `<details><summary>${escapeHtml(p.title ?? "text")}</summary>\n${pre}\n</details>`
          : (p.title ? `<h3 class="kholab-pre">${escapeHtml(p.title)}</h3>\n` : "") + pre;
      }),
      "</section>",
    ].join("\n")
  ).join("\n");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${CSS}</style></head>
<body>
<h1>${escapeHtml(page.title)}</h1>
<p>${escapeHtml(page.summary)}</p>
<h2>Reproduce</h2>
<dl class="repro">
${repro}
</dl>
${sections}
</body></html>
`;
}
