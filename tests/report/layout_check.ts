/**
 * Checks of a rendered report page, run inside the browser (Chromium over CDP): every chart is
 * a `<figure>` with a non-empty `<figcaption>`; no two tick labels of an axis overlap; no text
 * of a chart is clipped by its SVG viewport; no table is wider than the page; the colour of
 * every mark titled with a profile name, in every chart.
 *
 * @module
 */

/** What {@link LAYOUT_CHECK} returns. */
export interface LayoutReport {
  /** Charts seen (`data-chart` names). */
  charts: string[];
  /** Every problem, as `chart: what`. */
  problems: string[];
  /** Colours seen per profile (fill or stroke of marks whose `<title>` names it). */
  colors: Record<string, string[]>;
}

/**
 * A JavaScript expression for `Runtime.evaluate`: opens every `<details>`, measures, and
 * returns a {@link LayoutReport}. `profiles` are the names whose colours are collected.
 */
export function layoutCheck(profiles: readonly string[]): string {
  return `(() => {
  const profiles = ${JSON.stringify(profiles)};
  const problems = [];
  const colors = {};
  for (const d of document.querySelectorAll("details")) d.open = true;
  const overlap = (a, b) =>
    a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const charts = [...document.querySelectorAll(".kholab-chart")];
  for (const c of charts) {
    const name = c.dataset.chart;
    if (c.tagName !== "FIGURE") problems.push(name + ": not a <figure>");
    const cap = c.querySelector(":scope > figcaption");
    if (!cap || cap.textContent.trim() === "") problems.push(name + ": no caption");
    const svgs = [...c.querySelectorAll("svg")];
    const svg = svgs[svgs.length - 1];
    if (!svg) { problems.push(name + ": no svg"); continue; }
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll("text")) {
      if (t.textContent.trim() === "") continue;
      const r = t.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 ||
          r.bottom > box.bottom + 0.5) {
        problems.push(name + ": text clipped: " + JSON.stringify(t.textContent.trim()));
      }
    }
    for (const g of svg.querySelectorAll('g[aria-label$="tick label"]')) {
      const boxes = [...g.querySelectorAll("text")].map((t) => [t.textContent, t.getBoundingClientRect()]);
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          if (overlap(boxes[i][1], boxes[j][1])) {
            problems.push(name + ": " + g.getAttribute("aria-label") + "s overlap: " +
              JSON.stringify(boxes[i][0]) + " and " + JSON.stringify(boxes[j][0]));
          }
        }
      }
    }
    for (const el of svg.querySelectorAll("title")) {
      const m = /^([A-Za-z0-9._+-]+)(:|$)/.exec(el.textContent);
      if (!m || !profiles.includes(m[1])) continue;
      const mark = el.parentElement;
      const color = mark.getAttribute("fill") ?? mark.getAttribute("stroke") ??
        mark.parentElement.getAttribute("fill") ?? mark.parentElement.getAttribute("stroke");
      if (color === null || color === "none") continue;
      (colors[m[1]] ??= []).includes(color) || colors[m[1]].push(color);
    }
  }
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) {
    problems.push("page: wider than the window (" + page.scrollWidth + " > " + page.clientWidth + ")");
  }
  for (const [i, t] of [...document.querySelectorAll("table")].entries()) {
    const r = t.getBoundingClientRect();
    const body = document.body.getBoundingClientRect();
    if (r.right > body.right + 0.5) problems.push("table " + i + ": wider than the page");
  }
  return { charts: charts.map((c) => c.dataset.chart), problems, colors };
})()`;
}
