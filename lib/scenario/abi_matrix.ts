/**
 * The ABI compatibility matrix: kexec from a kernel of profile X into a kernel of profile Y,
 * for every pair, and what the successor makes of the handover — accepted and restored,
 * accepted but wrong (same compat, different tracker format), or refused with its reason —
 * and, for kernels with a Live Update Orchestrator, whether a LUO session with a memfd in it
 * crosses (a separate live update per cell, so the KHO figures are those of a plain handover).
 *
 * @module
 */

import { Kernel } from "../boot/kernel.ts";
import { memfdCreate, type MemfdFile } from "../clients/memfd.ts";
import { MEMFD_LUO_MODULE } from "../clients/memfd_luo.ts";
import { KernelPanic } from "../kernel/panic.ts";
import { KhoHangError } from "../kho/trackers/xarray.ts";
import { Machine } from "../machine/machine.ts";
import { type AbiProfile, getProfile, type ProfileName } from "../kho/profiles.ts";
import { availableProfiles } from "./run.ts";
import { Rng } from "../rng.ts";
import { GiB, PAGE_SIZE } from "../units.ts";

/** One cell of the matrix. */
export interface AbiMatrixCell {
  /** Profile of the kernel that kexecs. */
  from: ProfileName;
  /** Profile of the successor. */
  to: ProfileName;
  /** Whether the successor accepted the handover (`is_kho_boot()`). */
  accepted: boolean;
  /** Why it refused, or why the walk failed. */
  reason?: string;
  /** Folios preserved by the first kernel. */
  preserved: number;
  /** Folios the successor restored with intact content. */
  restored: number;
  /**
   * `"ok"`, `"refused"`, `"corrupt"` (accepted, but content or restores wrong), `"panic"` (the
   * successor died: an oops on a wild pointer or block, or a panic) or `"hang"` (its walk would
   * never end) — the kernel's own verdict on the bytes, not kholab's strict one.
   */
  verdict: "ok" | "refused" | "corrupt" | "panic" | "hang";
  /**
   * A LUO session holding a one-page memfd across the same pair: `restored` (the session
   * retrieved by name and the memfd by token, its content intact),
   * `lost` (the kernel dropped it, see `luoReason`), `panic` (the successor panicked on the
   * incoming LUO state), or `unsupported` (X has no LUO).
   */
  luo: LuoMatrixOutcome;
  /** Why the session was lost, the panic, or why LUO is unsupported. */
  luoReason?: string;
}

/** What became of a LUO session across a kexec pair. */
export type LuoMatrixOutcome = "restored" | "lost" | "panic" | "unsupported";

/** Profiles whose trackers are implemented (`run.ts`), built-in ones oldest first. */
export { availableProfiles };

/** Preserves folios of orders 0..9 the way profile `p`'s clients can. */
function preserveSample(k: Kernel, rng: Rng): { pfn: number; order: number; hash: bigint }[] {
  const out: { pfn: number; order: number; hash: bigint }[] = [];
  for (let order = 0; order <= 9; order++) {
    const pfn = k.buddy.folioAlloc(order, { nid: order % 2 })!;
    k.machine.mem.fill(pfn * PAGE_SIZE, 2 ** order * PAGE_SIZE, { pattern: rng.u32() });
    k.kho.preserveFolio(pfn);
    out.push({ pfn, order, hash: k.machine.mem.hash64(pfn * PAGE_SIZE, 2 ** order * PAGE_SIZE) });
  }
  return out;
}

/**
 * Kexecs X → Y once and classifies the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { abiMatrixCell } from "./abi_matrix.ts";
 * const c = abiMatrixCell("kho-v3", "kho-v4");
 * assert.equal(c.accepted, false);
 * assert.equal(c.reason, 'compat "kho-v3" does not match "kho-v4"');
 * ```
 */
export function abiMatrixCell(from: ProfileName, to: ProfileName, seed = 1): AbiMatrixCell {
  const machine = new Machine({ ramBytes: 4 * GiB, nodes: 2 });
  const k1 = Kernel.coldBoot(machine, { profile: from });
  const sample = preserveSample(k1, new Rng(seed));
  let k2: Kernel;
  try {
    k2 = k1.kexec({ profile: to });
  } catch (e) {
    const hang = e instanceof KhoHangError;
    if (!hang && !(e instanceof KernelPanic)) throw e;
    return {
      from,
      to,
      accepted: true,
      preserved: sample.length,
      restored: 0,
      verdict: hang ? "hang" : "panic",
      reason: (e as Error).message,
      ...luoProbe(from, to),
    };
  }
  const cell: AbiMatrixCell = {
    from,
    to,
    accepted: k2.kho.isKhoBoot,
    preserved: sample.length,
    restored: 0,
    verdict: "refused",
    ...luoProbe(from, to),
  };
  if (!k2.kho.isKhoBoot) {
    cell.reason = k2.boot.revivalRefused ??
      (k2.boot.retrieve && !k2.boot.retrieve.ok
        ? `tracker walk failed: ${k2.boot.retrieve.error}`
        : "not revived");
    return cell;
  }
  for (const s of sample) {
    const pfn = k2.kho.restoreFolio(s.pfn * PAGE_SIZE);
    if (
      pfn === s.pfn && k2.memmap.folioOrder(pfn) === s.order &&
      machine.mem.hash64(s.pfn * PAGE_SIZE, 2 ** s.order * PAGE_SIZE) === s.hash
    ) cell.restored++;
  }
  const rejected = k2.boot.retrieve?.rejected ?? 0;
  cell.verdict = cell.restored === cell.preserved && rejected === 0 ? "ok" : "corrupt";
  if (cell.verdict === "corrupt") {
    cell.reason = `accepted, ${cell.restored}/${cell.preserved} folios intact` +
      (rejected ? `, ${rejected} tracker entries rejected` : "");
  }
  return cell;
}

/** The content of the probe's memfd. */
const PROBE_TEXT = "kholab abi-matrix memfd";

/**
 * A live update X → Y with one LUO session holding a one-page memfd (`liveupdate=on` and the
 * memfd module on both kernels): were the session and the file retrieved, the content intact,
 * and if not, the kernel's reason.
 */
export function luoProbe(
  from: ProfileName,
  to: ProfileName,
): { luo: LuoMatrixOutcome; luoReason?: string } {
  const pf = getProfile(from);
  if (pf.luo === null) {
    return { luo: "unsupported", luoReason: `${from} (${pf.kernel}) has no LUO` };
  }
  const machine = new Machine({ ramBytes: 2 * GiB, nodes: 1 });
  const k1 = Kernel.coldBoot(machine, {
    profile: from,
    cmdline: "liveupdate=on",
    modules: [MEMFD_LUO_MODULE],
  });
  const f = memfdCreate(k1, "abi-matrix");
  f.write(0, new TextEncoder().encode(PROBE_TEXT));
  k1.liveupdate.open().createSession("abi-matrix").preserveFd(f, 1);
  let k2: Kernel;
  try {
    k2 = k1.kexec({ profile: to });
  } catch (e) {
    if (e instanceof KernelPanic) return { luo: "panic", luoReason: e.message };
    throw e;
  }
  if (!k2.kho.isKhoBoot) {
    return {
      luo: "lost",
      luoReason: `disabling KHO revival: ${k2.boot.revivalRefused ?? "not revived"}`,
    };
  }
  if (k2.profile.luo === null) {
    return { luo: "lost", luoReason: `${to} has no LUO: the "LUO" sub-tree is never read` };
  }
  try {
    const back = k2.liveupdate.open().retrieveSession("abi-matrix").retrieveFd(1) as MemfdFile;
    const text = new TextDecoder().decode(back.read(0, PROBE_TEXT.length));
    if (text !== PROBE_TEXT) return { luo: "lost", luoReason: `memfd content: "${text}"` };
    return { luo: "restored" };
  } catch (e) {
    return { luo: "lost", luoReason: (e as Error).message };
  }
}

/** The whole matrix over `profiles` (default: every available profile). */
export function abiMatrix(profiles: readonly ProfileName[] = availableProfiles()): AbiMatrixCell[] {
  const out: AbiMatrixCell[] = [];
  for (const from of profiles) for (const to of profiles) out.push(abiMatrixCell(from, to));
  return out;
}

/** The matrix as a text table: rows = from, columns = to. */
export function abiMatrixText(cells: readonly AbiMatrixCell[]): string {
  const names = [...new Set(cells.map((c) => c.from))];
  const mark = (c: AbiMatrixCell) =>
    c.verdict === "ok" || c.verdict === "refused" ? c.verdict : c.verdict.toUpperCase();
  const w = Math.max(...names.map((n) => n.length)) + 2;
  const lines = [" ".repeat(w) + names.map((n) => n.padEnd(w)).join("")];
  for (const from of names) {
    const row = names.map((to) =>
      mark(cells.find((c) => c.from === from && c.to === to)!).padEnd(w)
    );
    lines.push(from.padEnd(w) + row.join(""));
  }
  const luoNote = (c: AbiMatrixCell) =>
    c.luo === "lost" || c.luo === "panic" ? `; LUO session ${c.luo}` : "";
  const notes = cells.filter((c) =>
    c.verdict !== "ok" && c.from !== c.to || c.verdict !== "ok" && c.verdict !== "refused" ||
    c.luo === "lost" || c.luo === "panic"
  )
    .map((c) =>
      c.verdict === "ok"
        ? `  ${c.from} → ${c.to}: accepted; LUO session ${c.luo} (${c.luoReason})`
        : `  ${c.from} → ${c.to}: ${c.reason}${luoNote(c)}`
    );
  return [...lines, "", ...notes].join("\n");
}

/**
 * A proposal's status and assumptions (labelled), its guest-memory paths and extended scratch,
 * the bugs a profile carries and the fixes a `+fixes` variant applies, one line each, indented
 * (for `kholab profiles`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getProfile } from "../kho/profiles.ts";
 * import { profileDetails } from "./abi_matrix.ts";
 * const lines = profileDetails(getProfile("kho-v4+fixes"));
 * assert.ok(lines.some((l) => l.includes("kho-unpreserve-numa-order [mm-tree]")));
 * const assumed = profileDetails(getProfile("rfc-2026-guest-memfd-hugetlb-assumed"));
 * assert.ok(assumed.some((l) => l.includes("assumes HugeTLB-backed guest_memfd (unverified)")));
 * assert.ok(assumed[0].startsWith("    status: posted, v4 2026-07-28"));
 * ```
 */
export function profileDetails(p: AbiProfile): string[] {
  const out: string[] = [];
  if (p.status) out.push(`    status: ${p.status}`);
  for (const a of p.assumptions ?? []) out.push(`    ${a.label}: ${a.why}`);
  if (p.guestMemory?.length) out.push(`    guest memory: ${p.guestMemory.join(", ")}`);
  if (p.extendedScratch) out.push("    extended scratch (MEMBLOCK_KHO_SCRATCH_EXT)");
  if (p.bugs.length) out.push(`    bugs: ${p.bugs.join(", ")}`);
  for (const f of p.fixes) {
    out.push(`    fix ${f.name} [${f.status}] removes ${f.removes.join(", ") || "a restriction"}:`);
    out.push(`      ${f.summary}`);
    out.push(`      source: ${f.source}`);
  }
  return out;
}

/** A short description of a profile for tables. */
export function profileLine(p: AbiProfile): string {
  return `${p.name.padEnd(26)} ${p.kernel.padEnd(18)} ${p.compat.padEnd(8)} ${
    p.tracker.padEnd(18)
  } ${p.summary}`;
}
