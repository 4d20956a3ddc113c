/**
 * A list of preserved blocks taken from a real host: one `pfn order [node]` per line, the way a
 * KHO tracker walk reports them (`kho_radix_walk_tree`'s callback gets `(phys, order)`,
 * kho-facts §2.5; the older trackers deliver the same pairs, kho-facts §3.2). kholab imports
 * such a list into a simulated machine and preserves every block as given, through the
 * profile's preserve API.
 *
 * ```text
 * # pfn      order  node          (comments and blank lines are ignored)
 * pfn,order,node                  (an optional CSV header line)
 * 0x100000   18     0             (1 GiB folio at 4 GiB, node 0)
 * 1048577,0,0                     (CSV works too: commas and spaces both separate fields)
 * ```
 *
 * Numbers are decimal or `0x` hex. A block is `2^order` pages at `pfn`; `node` is optional.
 * Reading stops at nothing: every bad line is reported (bounded: the first 20, then a count)
 * as `FILE:LINE:COL` with the line and a caret, and nothing is imported when any line is bad:
 *
 * - {@link parsePfnList}: a field that is not a number, a pfn beyond the 64 TiB physical
 *   address space, an order outside 0..{@link PFN_LIST_MAX_ORDER}, a node outside 0..63, a
 *   pfn not aligned to its order (a block of `2^order` pages starts at a multiple of
 *   `2^order`: the buddy allocator's blocks and `kho_preserve_pages`' split are aligned,
 *   kho-facts §5.1), too few or too many fields;
 * - {@link checkPfnList}: against a machine — a block outside RAM, a node that does not match
 *   the machine's (or a block spanning two nodes), a block overlapping an earlier one.
 *
 * @module
 */

import { type Diagnostic, formatDiagnostics, type Span } from "../diagnostics.ts";
import type { Topology } from "../machine/topology.ts";
import { GiB, hex, MAX_PHYS_BYTES, PAGE_SIZE, SECTION_SIZE } from "../units.ts";

/**
 * Largest block order a list may give: a block of `2^34` pages is the whole 64 TiB physical
 * address space kholab simulates. (`kho_preserve_pages` splits a range into blocks as large as
 * its alignment allows, so real lists hold orders above a folio's 18.)
 */
export const PFN_LIST_MAX_ORDER = 34;
/** Largest node number (the kernel's `MAX_NUMNODES` with `NODES_SHIFT` 6). */
export const PFN_LIST_MAX_NODE = 63;
/** Diagnostics printed before `… and K more`. */
export const PFN_LIST_MAX_SHOWN = 20;

const MAX_PFN = MAX_PHYS_BYTES / PAGE_SIZE;

/** The blocks of a list, in file order, as parallel arrays (a real host has millions). */
export interface PfnList {
  /** The file's name, for diagnostics. */
  readonly file: string;
  /** The text, for the caret lines of later diagnostics. */
  readonly source: string;
  /** First page frame of each block. */
  readonly pfns: Float64Array;
  /** Order of each block. */
  readonly orders: Uint8Array;
  /** NUMA node of each block, or -1 where the line gives none. */
  readonly nodes: Int8Array;
  /** 1-based line of each block. */
  readonly lines: Uint32Array;
}

/** What {@link parsePfnList} found: the blocks of the good lines and the bad lines. */
export interface ParsedPfnList {
  /** The blocks of the lines that parsed. */
  readonly list: PfnList;
  /** One diagnostic per bad field, in line order. */
  readonly errors: Diagnostic[];
}

/**
 * Bad lines in a pfn list: every diagnostic (the message shows the first
 * {@link PFN_LIST_MAX_SHOWN}), and the promise that nothing was imported.
 */
export class PfnListError extends SyntaxError {
  /** The list's file name. */
  readonly file: string;
  /** Every diagnostic, in line order. */
  readonly diagnostics: readonly Diagnostic[];

  /** Formats the diagnostics (bounded) and a closing count. */
  constructor(file: string, diagnostics: readonly Diagnostic[], source?: string) {
    const n = diagnostics.length;
    super(
      `${formatDiagnostics(diagnostics, { file, source, max: PFN_LIST_MAX_SHOWN })}\n` +
        `${file}: ${n} error${n === 1 ? "" : "s"}; nothing was imported`,
    );
    this.name = "PfnListError";
    this.file = file;
    this.diagnostics = diagnostics;
  }
}

/** One field of a line: its text and where it starts. */
interface Field {
  readonly text: string;
  /** 1-based column. */
  readonly col: number;
}

/** The fields of a line (separated by spaces, tabs and commas), without its `#` comment. */
function fieldsOf(line: string): Field[] {
  const hash = line.indexOf("#");
  const body = hash >= 0 ? line.slice(0, hash) : line;
  const out: Field[] = [];
  for (const m of body.matchAll(/[^\s,]+/g)) out.push({ text: m[0], col: m.index + 1 });
  return out;
}

/** A decimal or `0x` hex number, or null. Values past 2^53 read as Infinity (out of range). */
function parseNumber(text: string): number | null {
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) {
    return text.length > 15 ? Infinity : parseInt(text.slice(2), 16);
  }
  if (/^[0-9]+$/.test(text)) return text.length > 15 ? Infinity : Number(text);
  return null;
}

function span(line: number, f: Field): Span {
  return { line, col: f.col, len: f.text.length };
}

/**
 * Parses a list. Never throws: the blocks of the good lines and a diagnostic per bad field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePfnList } from "./pfn_list.ts";
 * const { list, errors } = parsePfnList("pfn,order\n0x200 9\n0x401 1 # misaligned\n", {
 *   file: "host.txt",
 * });
 * assert.deepEqual([...list.pfns], [0x200]);
 * assert.equal(errors.length, 1);
 * assert.deepEqual(errors[0].span, { line: 3, col: 1, len: 5 });
 * ```
 */
export function parsePfnList(text: string, options: { file: string }): ParsedPfnList {
  const pfns: number[] = [], orders: number[] = [], nodes: number[] = [], lines: number[] = [];
  const errors: Diagnostic[] = [];
  let start = 0;
  let lineNo = 0;
  let sawContent = false;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end);
    start = end + 1;
    const fields = fieldsOf(line);
    if (fields.length === 0) {
      if (end === text.length) break;
      continue;
    }
    if (!sawContent) {
      sawContent = true;
      if (fields[0].text.toLowerCase() === "pfn") continue; // the CSV header
    }
    const bad = (f: Field, message: string) => errors.push({ span: span(lineNo, f), message });
    if (fields.length < 2) {
      bad(fields[0], `expected "pfn order [node]", found 1 field`);
      continue;
    }
    if (fields.length > 3) {
      bad(fields[3], `unexpected field "${fields[3].text}" (expected "pfn order [node]")`);
      continue;
    }
    const [pf, of, nf] = fields;
    const pfn = parseNumber(pf.text);
    const order = parseNumber(of.text);
    const node = nf === undefined ? -1 : parseNumber(nf.text);
    /** Whether field `f` (`name`) is a number `v` of at most `max`; reports it when not. */
    const valid = (f: Field, v: number | null, name: string, max: number, beyond?: string) => {
      if (v === null) bad(f, `bad number "${f.text}" (${name}: decimal or 0x hex)`);
      else if (v > max) bad(f, beyond ?? `${name} ${f.text} out of range 0..${max}`);
      return v !== null && v <= max;
    };
    let ok = valid(
      pf,
      pfn,
      "pfn",
      MAX_PFN - 1,
      `pfn ${pf.text} is beyond the 64 TiB physical address space`,
    );
    ok = valid(of, order, "order", PFN_LIST_MAX_ORDER) && ok;
    if (nf !== undefined) ok = valid(nf, node, "node", PFN_LIST_MAX_NODE) && ok;
    if (ok && pfn! % 2 ** order! !== 0) {
      bad(
        pf,
        `pfn ${hex(pfn!)} is not aligned to its order ${order} (a multiple of ${hex(2 ** order!)})`,
      );
      ok = false;
    }
    if (ok && pfn! + 2 ** order! > MAX_PFN) {
      bad(pf, `block ${hex(pfn!)} of order ${order} ends beyond the 64 TiB physical address space`);
      ok = false;
    }
    if (!ok) continue;
    pfns.push(pfn!);
    orders.push(order!);
    nodes.push(node!);
    lines.push(lineNo);
  }
  return {
    list: {
      file: options.file,
      source: text,
      pfns: Float64Array.from(pfns),
      orders: Uint8Array.from(orders),
      nodes: Int8Array.from(nodes),
      lines: Uint32Array.from(lines),
    },
    errors,
  };
}

/** The spans of field `k` (0 pfn, 1 order, 2 node) of the lines given, in one pass over the text. */
function fieldSpans(list: PfnList, want: readonly { line: number; field: number }[]): Span[] {
  const order = want.map((_, j) => j).sort((a, b) => want[a].line - want[b].line);
  const out = new Array<Span>(want.length);
  let lineNo = 1, start = 0;
  for (const j of order) {
    const { line, field } = want[j];
    while (lineNo < line) {
      start = list.source.indexOf("\n", start) + 1;
      lineNo++;
    }
    const end = list.source.indexOf("\n", start);
    const f = fieldsOf(list.source.slice(start, end < 0 ? undefined : end))[field];
    out[j] = f ? span(line, f) : { line, col: 1, len: 1 };
  }
  return out;
}

/**
 * Checks a parsed list against a machine: every block in RAM, on the node the line names (and
 * on one node), not overlapping a block of an earlier line. Returns the diagnostics, in line
 * order.
 */
export function checkPfnList(list: PfnList, topology: Topology): Diagnostic[] {
  const bad: BlockProblem[] = [];
  const n = list.pfns.length;
  const inRam = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const pfn = list.pfns[i], pages = 2 ** list.orders[i];
    if (!topology.isRam(pfn * PAGE_SIZE, pages * PAGE_SIZE)) {
      bad.push({
        i,
        field: 0,
        message: `block [${hex(pfn * PAGE_SIZE)}, ${hex((pfn + pages) * PAGE_SIZE)}) is ` +
          `outside RAM (the machine has RAM up to ${hex(topology.endBytes)})`,
      });
      continue;
    }
    inRam[i] = 1;
    const first = topology.nidOfPfn(pfn), last = topology.nidOfPfn(pfn + pages - 1);
    if (first !== last) {
      bad.push({ i, field: 0, message: `block spans nodes ${first} and ${last}` });
    } else if (list.nodes[i] >= 0 && list.nodes[i] !== first) {
      bad.push({
        i,
        field: 2,
        message: `node ${list.nodes[i]} does not match the machine: pfn ${
          hex(pfn)
        } is on node ${first}`,
      });
    }
  }
  // Overlaps: in address order, each block against the furthest-reaching block before it; the
  // later of the two lines is the bad one.
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    list.pfns[a] - list.pfns[b] || list.lines[a] - list.lines[b]
  );
  const reported = new Set<number>();
  let reach = -1, owner = -1;
  for (const i of idx) {
    const pfn = list.pfns[i], end = pfn + 2 ** list.orders[i];
    if (owner >= 0 && pfn < reach) {
      const [earlier, later] = list.lines[owner] < list.lines[i] ? [owner, i] : [i, owner];
      if (!reported.has(later)) {
        reported.add(later);
        bad.push({
          i: later,
          field: 0,
          message: `block ${hex(list.pfns[later])} (order ${list.orders[later]}) overlaps ` +
            `the block of line ${list.lines[earlier]} (${hex(list.pfns[earlier])}, order ${
              list.orders[earlier]
            })`,
        });
      }
    }
    if (end > reach) {
      reach = end;
      owner = i;
    }
  }
  return pfnListDiagnosticsAt(list, bad);
}

/** Where a diagnostic about block `i` points: field 0 (pfn), 1 (order) or 2 (node). */
export interface BlockProblem {
  /** Index of the block in the list. */
  readonly i: number;
  /** The field the caret goes under. */
  readonly field: 0 | 1 | 2;
  /** What is wrong. */
  readonly message: string;
}

/** Diagnostics for problems of blocks, in line order, with their spans found in one pass. */
export function pfnListDiagnosticsAt(
  list: PfnList,
  problems: readonly BlockProblem[],
): Diagnostic[] {
  const bad = [...problems].sort((a, b) => list.lines[a.i] - list.lines[b.i] || a.field - b.field);
  const spans = fieldSpans(list, bad.map((b) => ({ line: list.lines[b.i], field: b.field })));
  return bad.map((b, j) => ({ span: spans[j], message: b.message }));
}

/** Every diagnostic of a list, parse and machine checks together, in line order. */
export function pfnListDiagnostics(parsed: ParsedPfnList, topology: Topology): Diagnostic[] {
  return [...parsed.errors, ...checkPfnList(parsed.list, topology)].sort((a, b) =>
    a.span.line - b.span.line || a.span.col - b.span.col
  );
}

/** A machine that fits a list (see {@link machineForPfnList}). */
export interface PfnListMachine {
  /** RAM in bytes (a multiple of `nodes` × 128 MiB). */
  readonly ramBytes: number;
  /** NUMA nodes (RAM split evenly, as `Topology` does). */
  readonly nodes: number;
}

/**
 * The smallest flat machine that holds every block, with room above the highest block of each
 * node for what the first kernel allocates itself (its scratch areas, KHO's metadata): per
 * node 1/8 of its span, at least 1 GiB, where the list leaves that room. With nodes given (or
 * named by the list), RAM is split evenly and each node's size is chosen so that every block
 * lands on the node its line names, when such a size exists (otherwise the check reports the
 * mismatches).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { machineForPfnList, parsePfnList } from "./pfn_list.ts";
 * const { list } = parsePfnList("0x0 0 0\n0x140000 18 1\n", { file: "x" }); // node 1 at 5 GiB
 * const m = machineForPfnList(list);
 * assert.equal(m.nodes, 2);
 * assert.ok(m.ramBytes / 2 <= 5 * 2 ** 30 && m.ramBytes >= 6 * 2 ** 30);
 * ```
 */
export function machineForPfnList(
  list: PfnList,
  options: { nodes?: number } = {},
): PfnListMachine {
  let maxNode = -1;
  for (const nd of list.nodes) if (nd > maxNode) maxNode = nd;
  const nodes = options.nodes ?? Math.max(1, maxNode + 1);
  // Per node named by the list: [lowest start, highest end) in bytes.
  const lo = new Array<number>(nodes).fill(Infinity), hi = new Array<number>(nodes).fill(0);
  let maxEnd = 0;
  for (let i = 0; i < list.pfns.length; i++) {
    const start = list.pfns[i] * PAGE_SIZE, end = start + 2 ** list.orders[i] * PAGE_SIZE;
    maxEnd = Math.max(maxEnd, end);
    const nd = list.nodes[i];
    if (nd >= 0 && nd < nodes) {
      lo[nd] = Math.min(lo[nd], start);
      hi[nd] = Math.max(hi[nd], end);
    }
  }
  const up = (b: number) => Math.ceil(b / SECTION_SIZE) * SECTION_SIZE;
  const down = (b: number) => Math.floor(b / SECTION_SIZE) * SECTION_SIZE;
  // Each node k holds [k·S, (k+1)·S): S ≥ hi_k / (k+1) for the blocks to fit, S ≤ lo_k / k for
  // them to stay on their node; without node names only the whole span counts.
  let need = up(maxEnd / nodes);
  let limit = Infinity;
  for (let k = 0; k < nodes; k++) {
    if (hi[k] > 0) need = Math.max(need, up(hi[k] / (k + 1)));
    if (k > 0 && lo[k] < Infinity) limit = Math.min(limit, down(lo[k] / k));
  }
  const room = up(Math.max(GiB, need / 8));
  let size = Math.min(need + room, limit);
  if (size < need) size = need;
  size = Math.max(size, SECTION_SIZE, up(256 * 2 ** 20 / nodes));
  return { ramBytes: size * nodes, nodes };
}
