/**
 * Units and page arithmetic of an x86_64 kernel: page size, orders, sections, and size
 * literals such as `"16G"` or `"1Mi"`.
 *
 * @module
 */

/** log2 of the page size. */
export const PAGE_SHIFT = 12;
/** 4 KiB pages. */
export const PAGE_SIZE: number = 1 << PAGE_SHIFT;
/** Largest buddy order (4 MiB blocks). */
export const MAX_PAGE_ORDER = 10;
/** Number of buddy orders, 0..MAX_PAGE_ORDER. */
export const NR_PAGE_ORDERS: number = MAX_PAGE_ORDER + 1;
/** Order of a 2 MiB huge page (HUGETLB_PAGE_ORDER = PMD_ORDER on x86_64). */
export const HUGETLB_PAGE_ORDER = 9;
/** Order of a 1 GiB gigantic page (PUD_ORDER). */
export const PUD_ORDER = 18;
/** pageblock_order: 2 MiB pageblocks. */
export const PAGEBLOCK_ORDER = 9;
/** Pages per pageblock. */
export const PAGEBLOCK_NR_PAGES: number = 1 << PAGEBLOCK_ORDER;
/** CMA_MIN_ALIGNMENT_BYTES: a pageblock. */
export const CMA_MIN_ALIGNMENT_BYTES: number = PAGEBLOCK_NR_PAGES * PAGE_SIZE;
/** SECTION_SIZE_BITS: 128 MiB memory sections. */
export const SECTION_SHIFT = 27;
/** Pages per memory section (32768). */
export const PAGES_PER_SECTION: number = 1 << (SECTION_SHIFT - PAGE_SHIFT);
/** Bytes per memory section. */
export const SECTION_SIZE: number = 2 ** SECTION_SHIFT;
/** Largest machine kholab simulates: 64 TiB. */
export const MAX_PHYS_BYTES: number = 2 ** 46;

/** 2^10 bytes. */
export const KiB = 1024;
/** 2^20 bytes. */
export const MiB: number = 1024 * KiB;
/** 2^30 bytes. */
export const GiB: number = 1024 * MiB;
/** 2^40 bytes. */
export const TiB: number = 1024 * GiB;

/** Physical address of a page frame number. */
export function pfnToPhys(pfn: number): number {
  return pfn * PAGE_SIZE;
}

/** Page frame number of a physical address (rounded down). */
export function physToPfn(phys: number): number {
  return Math.floor(phys / PAGE_SIZE);
}

/** Number of pages in a block of the given order. */
export function orderPages(order: number): number {
  return 2 ** order;
}

/** Bytes in a block of the given order. */
export function orderBytes(order: number): number {
  return 2 ** (order + PAGE_SHIFT);
}

/** floor(log2(n)) for n ≥ 1, exact up to 2^53. */
export function ilog2(n: number): number {
  if (n < 1) throw new RangeError(`ilog2 of ${n}`);
  if (n < 2 ** 31) return 31 - Math.clz32(n);
  return Math.floor(Math.log2(n)) - (2 ** Math.floor(Math.log2(n)) > n ? 1 : 0);
}

/** Count of trailing zero bits; 64 for 0 (as `__ffs`-style code sees it on 64-bit). */
export function ctz(n: number): number {
  const lo = n >>> 0; // n mod 2^32 for an integer below 2^53
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(n / 4294967296) >>> 0;
  return hi === 0 ? 64 : 63 - Math.clz32(hi & -hi);
}

/**
 * Set bits of a 32-bit word (`hweight32`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hweight32 } from "./units.ts";
 * assert.equal(hweight32(0), 0);
 * assert.equal(hweight32(0xf0f0), 8);
 * assert.equal(hweight32(-1), 32);
 * ```
 */
export function hweight32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** get_order(size): the smallest order whose block holds `size` bytes (size ≥ 1). */
export function getOrder(size: number): number {
  const pages = Math.ceil(size / PAGE_SIZE);
  return pages <= 1 ? 0 : ilog2(pages - 1) + 1;
}

/** Rounds `n` up to a multiple of `align`. */
export function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

const SIZE_SUFFIX: Record<string, number> = {
  "": 1,
  K: KiB,
  M: MiB,
  G: GiB,
  T: TiB,
  P: TiB * 1024,
};

const COUNT_SUFFIX: Record<string, number> = {
  "": 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  k: 1000,
  M: 1e6,
  G: 1e9,
};

/**
 * Parses a byte size: `4096`, `4K`, `16G`, `1T`, `0x1000`, with an optional `B`/`iB`
 * (`16GiB`). Binary units, as the kernel's `memparse`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSize } from "./units.ts";
 * assert.equal(parseSize("16G"), 16 * 2 ** 30);
 * ```
 */
export function parseSize(text: string): number {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?$/i.exec(t);
  if (!m) throw new SyntaxError(`not a size: "${text}"`);
  const value = Number(m[1]) * SIZE_SUFFIX[m[2].toUpperCase()];
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`size "${text}" is not a whole number of bytes`);
  }
  return value;
}

/**
 * Parses a count: `1000`, `1Mi` (2^20), `4Ki`, `1k` (1000), `2M` (2·10^6), or `0x…`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCount } from "./units.ts";
 * assert.equal(parseCount("1Mi"), 1048576);
 * ```
 */
export function parseCount(text: string): number {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G)?$/.exec(t);
  if (!m) throw new SyntaxError(`not a count: "${text}"`);
  const value = Number(m[1]) * COUNT_SUFFIX[m[2] ?? ""];
  if (!Number.isSafeInteger(value)) throw new RangeError(`count "${text}" is not a whole number`);
  return value;
}

/**
 * Formats a byte count with the largest binary unit that divides it, else with two
 * decimals: `formatSize(16 * 2 ** 30) === "16 GiB"`.
 */
export function formatSize(bytes: number): string {
  const units: [number, string][] = [[TiB, "TiB"], [GiB, "GiB"], [MiB, "MiB"], [KiB, "KiB"]];
  for (const [u, name] of units) {
    if (bytes >= u && bytes % u === 0) return `${bytes / u} ${name}`;
  }
  for (const [u, name] of units) {
    if (bytes >= u) return `${(bytes / u).toFixed(2)} ${name}`;
  }
  return `${bytes} B`;
}

/** `0x…` hex of a non-negative integer up to 2^53. */
export function hex(n: number): string {
  return "0x" + n.toString(16);
}
