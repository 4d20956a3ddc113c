/**
 * One colour per profile in every chart: a fixed palette keyed by profile name, so a
 * generation has the same colour in the bars, the lines and the legend of every figure of a
 * report or notebook. Names outside the palette (user designs, renamed profiles) get a
 * colour derived from the name alone, so they too keep it from chart to chart.
 *
 * @module
 */

import { profileNames } from "../kho/profiles.ts";

/** Colours of the profiles kholab ships (colour-blind-safe hues, xarray era warm, radix cool). */
export const PROFILE_COLORS: Readonly<Record<string, string>> = {
  "kho-v1-6.16": "#b2182b",
  "kho-v1-6.18": "#e08214",
  "kho-v1-6.19": "#d6604d",
  "rfc-v1-order-table": "#8c510a",
  "kho-v2": "#2166ac",
  "kho-v3": "#4393c3",
  "kho-v4": "#053061",
  "kho-v4+fixes": "#542788",
  "rfc-2026-page-type": "#1b7837",
  "rfc-2026-page-type-fixed": "#5aae61",
  "rfc-2026-ext-scratch": "#35978f",
  "rfc-2026-guest-memfd": "#c51b7d",
  "rfc-2026-guest-memfd-hugetlb-assumed": "#de77ae",
};

/** FNV-1a of a string (32 bits). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The colour of a profile: from {@link PROFILE_COLORS}, else `hsl(H, 55%, 42%)` with the
 * hue taken from a hash of the name (the same name, the same colour, everywhere).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileColor } from "./palette.ts";
 * assert.equal(profileColor("kho-v4"), "#053061");
 * assert.equal(profileColor("my-design"), profileColor("my-design"));
 * assert.match(profileColor("my-design"), /^hsl\(\d+, 55%, 42%\)$/);
 * ```
 */
export function profileColor(name: string): string {
  if (Object.hasOwn(PROFILE_COLORS, name)) return PROFILE_COLORS[name];
  return `hsl(${fnv1a(name) % 360}, 55%, 42%)`;
}

/**
 * A Plot colour scale for profiles: the given names (known profiles first, in the profile
 * table's order, then the others in order of appearance) with their colours.
 */
export function profileColorScale(names: Iterable<string>): {
  type: "ordinal";
  domain: string[];
  range: string[];
  legend: true;
  label: string;
} {
  const seen = [...new Set(names)];
  const known = profileNames().filter((p) => seen.includes(p)) as string[];
  const domain = [...known, ...seen.filter((n) => !known.includes(n))];
  return {
    type: "ordinal",
    domain,
    range: domain.map(profileColor),
    legend: true,
    label: "profile",
  };
}
