/**
 * `kholab import FILE`: a real host's pfn list (`lib/scenario/pfn_list.ts`) through a whole
 * handover. A machine sized to the list (or as asked) boots a kernel of the chosen profile that
 * holds the listed blocks from the start of boot (`pfns`, `./object_pfns.ts`), preserves every
 * block as given, kexecs, and the successor walks the handed-over tracker from memory alone.
 * The result says what the successor found against what was imported — exactly, missing (with
 * the generation's named reason where it cannot represent a block), found with another order —
 * plus the session's metrics, as `kholab run` reports them.
 *
 * It is the command language underneath: the same session, object and commands a script
 * would run (`machine`, `profile`, `imported = pfns file=…`, `preserve imported`, `kexec`).
 *
 * @module
 */

import { getProfile, hasApi, type ProfileName } from "../kho/profiles.ts";
import type { Kernel } from "../boot/kernel.ts";
import { KHO_PAGE_MAGIC } from "../kho/restore.ts";
import type { Clock } from "../rng.ts";
import { machineForPfnList, parsePfnList, PfnListError } from "../scenario/pfn_list.ts";
import { formatSize, hex, HUGETLB_PAGE_ORDER, PAGE_SIZE } from "../units.ts";
import { preserveCommand } from "./commands/objects.ts";
import { kexecCommand } from "./commands/kexec.ts";
import { createPfnsObject, readPfnList } from "./object_pfns.ts";
import { Session } from "./session.ts";
import { HOST_BYTES, term } from "../machine/host_memory.ts";
import { metricValues } from "./spec.ts";
import { TABLE } from "./table.ts";

/** What to import. */
export interface ImportOptions {
  /** The list's file name (read unless `text` is given). */
  file: string;
  /** The list's text, when the caller has it (then `file` only names it in diagnostics). */
  text?: string;
  /** Profile of both kernels. Default the current one. */
  profile?: ProfileName;
  /** RAM in bytes. Default: sized to the list (see `machineForPfnList`). */
  ramBytes?: number;
  /** NUMA nodes. Default: the list's highest node + 1, or 1. */
  nodes?: number;
  /** Seed of the blocks' content. Default 1. */
  seed?: number;
  /** Clock for the wall-clock metrics. */
  clock: Clock;
  /** Host memory the import may take (see `SessionOptions.maxMemoryBytes`). */
  maxMemoryBytes?: number;
}

/** An imported block the successor did not find as given. */
export interface ImportMiss {
  /** First page frame. */
  pfn: number;
  /** Order in the list. */
  order: number;
  /** Line of the list. */
  line: number;
  /** The order the successor found at that pfn, or null when it found nothing there. */
  foundOrder: number | null;
  /** Why: the generation's named reason, or what the walk did. */
  reason: string;
}

/** What {@link importPfnList} found. */
export interface ImportResult {
  /** The list's file. */
  file: string;
  /** Whether it was gzip. */
  gzip: boolean;
  /** Profile of both kernels. */
  profile: ProfileName;
  /** The machine the list went into. */
  machine: { ramBytes: number; nodes: number };
  /** The API the first kernel preserved the blocks with. */
  preserveApi: "kho_preserve_pages" | "kho_preserve_phys";
  /** The list: blocks, bytes, blocks per order. */
  imported: { blocks: number; bytes: number; byOrder: Record<string, number> };
  /** The successor's boot: KHO boot, or why the handover was refused; its tracker walk. */
  successor: {
    khoBoot: boolean;
    refused: string | null;
    walk: { ok: boolean; error: string | null; blocks: number; bytes: number; rejected: number };
  };
  /** Imported blocks the successor's walk found exactly (pfn and order). */
  found: number;
  /** Imported blocks it did not find as given: their count, and the first 20. */
  missing: { count: number; first: ImportMiss[]; byReason: Record<string, number> };
  /**
   * Blocks the successor's walk found besides the imported ones (the kernels' own: root FDT,
   * sub-tree blobs, the manifest): the walk's count less the imported blocks it stamped.
   */
  otherBlocks: number;
  /** `exact`: every imported block was found as given; else `incomplete` or `refused`. */
  outcome: "exact" | "incomplete" | "refused";
  /** The session's metrics just before kexec (the first kernel's tracker, …). */
  metricsBeforeKexec: Record<string, number | string>;
  /** The session's metrics at the end, in the successor (as `kholab run --json` reports them). */
  metrics: Record<string, number | string>;
  /** What the session printed. */
  output: string[];
}

/**
 * What the successor's boot made of the block at `pfn`: the order `kho_mem_retrieve` stamped
 * in `page->private` (with `KHO_PAGE_MAGIC` where the generation has it; null when the page
 * carries no stamp), and whether it memblock-reserved the whole block. The walk runs once, at
 * boot, over pages the successor frees afterwards: its stamps and reservations are what it
 * found.
 */
export function successorFound(
  k2: Kernel,
  pfn: number,
  order: number,
): { order: number | null; covered: boolean } {
  const [lo, hi] = k2.memmap.getPrivateParts(pfn);
  let stampOrder: number | null = null;
  if (k2.profile.pageMagic) {
    if (hi === KHO_PAGE_MAGIC) stampOrder = lo & 0x7fffffff;
  } else if (k2.memblock.isReserved(pfn * PAGE_SIZE)) stampOrder = lo;
  const end = (pfn + 2 ** order) * PAGE_SIZE;
  let p = pfn * PAGE_SIZE;
  while (p < end) {
    const r = k2.memblock.findReserved(p);
    if (r === null) break;
    p = r.base + r.size;
  }
  return { order: stampOrder, covered: p >= end };
}

/** Most misses listed in a result. */
export const IMPORT_MISSES_SHOWN = 20;

/**
 * Why a generation does not hand a block over, where it names a reason: RFC v1's order table
 * has slots for orders 0..9 only (`order-table-no-slot`, kho-facts §4.1).
 */
export function unsupportedReason(profile: ProfileName, order: number): string | null {
  const p = getProfile(profile);
  if (p.bugs.includes("order-table-no-slot") && order > HUGETLB_PAGE_ORDER) {
    return `unsupported by ${p.name}: order-table-no-slot (slots for orders 0..${HUGETLB_PAGE_ORDER} only)`;
  }
  return null;
}

/**
 * Imports a list, preserves it, kexecs and compares the successor's walk with it. Throws
 * {@link PfnListError} (every bad line; nothing imported), the language's `CommandError` (a
 * file that cannot be read, blocks the machine cannot take, with their diagnostics) or the
 * kernel's `KhoError` when it refuses the preserve. A refused handover is an outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../rng.ts";
 * import { importPfnList } from "./import.ts";
 * const r = importPfnList({
 *   file: "host.txt", text: "0x40000 18 0\n0x80000 9 0\n0x80200 0 0\n", profile: "kho-v4",
 *   clock: new ManualClock(),
 * });
 * assert.equal(r.outcome, "exact");
 * assert.equal(r.found, 3);
 * ```
 */
export function importPfnList(options: ImportOptions): ImportResult {
  const profile = getProfile(options.profile ?? "kho-v4").name;
  const source = options.text !== undefined
    ? { text: options.text, gzip: false }
    : readPfnList(options.file);
  const parsed = parsePfnList(source.text, { file: options.file });
  if (parsed.errors.length > 0) throw new PfnListError(options.file, parsed.errors, source.text);
  const list = parsed.list;
  const fit = machineForPfnList(list, { nodes: options.nodes });
  const machine = { ramBytes: options.ramBytes ?? fit.ramBytes, nodes: fit.nodes };

  const s = new Session({
    file: options.file,
    seed: options.seed ?? 1,
    clock: options.clock,
    maxMemoryBytes: options.maxMemoryBytes,
  });
  // Every block is created, preserved, handed over and found again (host_memory's model).
  s.memory.check(
    `import ${options.file}`,
    term(
      list.pfns.length,
      HOST_BYTES.block + HOST_BYTES.descriptor + HOST_BYTES.preservedBlock +
        HOST_BYTES.restoredBlock,
      "listed blocks",
    ),
  );
  s.machineConfig = {
    ramBytes: machine.ramBytes,
    nodes: machine.nodes,
    headroomBytes: 0,
    memmapBytesPerPage: 0,
    poison: true,
  };
  s.bootProfile = profile;
  const step = (fn: () => void) => {
    s.begin();
    try {
      fn();
      s.commit();
    } catch (e) {
      s.rollback();
      throw e;
    }
  };
  step(() => void createPfnsObject(s, "imported", { file: options.file, source }));
  step(() => preserveCommand(s, ["imported"]));
  const before = metricValues(TABLE, s);
  step(() => kexecCommand(s, {}));

  const k2 = s.kernel!;
  const retrieve = k2.boot.retrieve;
  const walk: ImportResult["successor"]["walk"] = {
    ok: retrieve?.ok ?? false,
    error: retrieve?.error ?? null,
    blocks: retrieve?.blocks ?? 0,
    bytes: retrieve?.bytes ?? 0,
    rejected: retrieve?.rejected ?? 0,
  };
  const byOrder: Record<string, number> = {};
  const byReason: Record<string, number> = {};
  const first: ImportMiss[] = [];
  let exact = 0, missing = 0, stamped = 0, importedBytes = 0;
  for (let i = 0; i < list.pfns.length; i++) {
    const pfn = list.pfns[i], order = list.orders[i];
    byOrder[order] = (byOrder[order] ?? 0) + 1;
    importedBytes += 2 ** order * PAGE_SIZE;
    const seen = k2.kho.isKhoBoot
      ? successorFound(k2, pfn, order)
      : { order: null, covered: false };
    if (seen.order !== null) stamped++;
    if (seen.order === order && seen.covered) {
      exact++;
      continue;
    }
    missing++;
    const reason = !k2.kho.isKhoBoot
      ? `handover refused: ${k2.boot.revivalRefused ?? "KHO is off"}`
      : seen.order !== null && seen.order !== order
      ? `found with order ${seen.order}`
      : seen.order === order
      ? k2.profile.bugs.includes("int-size-overflow")
        ? "reserved with the wrong size: int-size-overflow (1 << (order + PAGE_SHIFT) in an int)"
        : "stamped but not reserved by the successor"
      : unsupportedReason(profile, order) ?? "not found by the successor's walk";
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    if (first.length < IMPORT_MISSES_SHOWN) {
      first.push({ pfn, order, line: list.lines[i], foundOrder: seen.order, reason });
    }
  }
  return {
    file: options.file,
    gzip: source.gzip,
    profile,
    machine,
    preserveApi: hasApi(getProfile(profile), "preservePages")
      ? "kho_preserve_pages"
      : "kho_preserve_phys",
    imported: { blocks: list.pfns.length, bytes: importedBytes, byOrder },
    successor: { khoBoot: k2.kho.isKhoBoot, refused: k2.boot.revivalRefused ?? null, walk },
    found: exact,
    missing: { count: missing, first, byReason },
    otherBlocks: Math.max(0, walk.blocks - stamped),
    outcome: !k2.kho.isKhoBoot ? "refused" : missing === 0 ? "exact" : "incomplete",
    metricsBeforeKexec: before,
    metrics: metricValues(TABLE, s),
    output: s.output,
  };
}

/** The metrics {@link importText} prints (all are in the JSON): first kernel, successor. */
const SHOWN_BEFORE = ["preserved.blocks", "preserved.bytes", "tracker.pages", "tracker.bytes"];
const SHOWN_METRICS = [
  "walk.blocks",
  "walk.bytes",
  "walk.rejected",
  "walk.cachelines",
  "scratch.areas",
  "scratch.bytes",
  "log.warnings",
  "log.errors",
];

/** The result as text: the import, the successor's findings, the misses, the metrics. */
export function importText(r: ImportResult): string {
  const orders = Object.entries(r.imported.byOrder)
    .map(([o, n]) => `${n}×order ${o}`)
    .join(", ");
  const lines = [
    `import ${r.file}${r.gzip ? " (gzip)" : ""}: ${r.imported.blocks} blocks, ${
      formatSize(r.imported.bytes)
    } (${orders})`,
    `machine: ${
      formatSize(r.machine.ramBytes)
    }, ${r.machine.nodes} node(s); profile ${r.profile}; ` +
    `preserved with ${r.preserveApi}`,
    ...r.output.map((l) => `  ${l}`),
    r.successor.khoBoot
      ? `successor: KHO boot; walk ${
        r.successor.walk.ok ? "complete" : `failed (${r.successor.walk.error})`
      }, ` +
        `${r.successor.walk.blocks} blocks, ${
          formatSize(r.successor.walk.bytes)
        }, ${r.successor.walk.rejected} rejected`
      : `successor: cold boot (${r.successor.refused ?? "KHO off"})`,
    `found: ${r.found} of ${r.imported.blocks} imported blocks exactly; ${r.otherBlocks} other ` +
    `block(s) (the kernels' own: root FDT, sub-tree blobs, the manifest)`,
  ];
  if (r.missing.count > 0) {
    lines.push(`missing: ${r.missing.count}`);
    for (const [why, n] of Object.entries(r.missing.byReason)) lines.push(`  ${n} × ${why}`);
    for (const m of r.missing.first) {
      lines.push(`  ${r.file}:${m.line}: ${hex(m.pfn)} order ${m.order}: ${m.reason}`);
    }
    if (r.missing.count > r.missing.first.length) {
      lines.push(`  … and ${r.missing.count - r.missing.first.length} more`);
    }
  }
  lines.push(`outcome: ${r.outcome}`, "metrics (first kernel, before kexec):");
  for (const name of SHOWN_BEFORE) lines.push(`  ${name} = ${r.metricsBeforeKexec[name]}`);
  lines.push("metrics (successor):");
  for (const name of SHOWN_METRICS) lines.push(`  ${name} = ${r.metrics[name]}`);
  return lines.join("\n");
}
