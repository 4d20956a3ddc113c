/**
 * The handover commands: `finalize`, `abort`, `kexec`, `restore`, `verify`. `kexec` writes
 * the manifest (one section per preserved object and per `reserve_mem=` region, see
 * `../handover.ts`) and kexecs; the successor finds its objects in the manifest from bytes
 * alone and lists them as incoming until `restore`.
 *
 * @module
 */

import type { Kernel } from "../../boot/kernel.ts";
import { KernelPanic } from "../../boot/kernel.ts";
import { KhoError } from "../../errors.ts";
import { KhoHangError } from "../../kho/trackers/xarray.ts";
import type { ProfileName } from "../../kho/profiles.ts";
import type { ManifestSection } from "../../scenario/manifest_abi.ts";
import {
  discardScenarioManifest,
  type ManifestWriteResult,
  readScenarioManifest,
  writeScenarioManifest,
} from "../../scenario/manifest.ts";
import { CommandError, withNote } from "../errors.ts";
import { objectOfSection, sectionOf } from "../handover.ts";
import { restoreObject, verifyObject } from "../object_kho.ts";
import type { DslObject } from "../objects.ts";
import { kexecEstimate, restoreEstimate } from "../memory_estimates.ts";
import type { Session, SettledOutcome } from "../session.ts";
import type { Outcome } from "../../metrics/outcomes.ts";
import type { CommandSpec, PositionalSpec } from "../spec.ts";
import { names, OBJECTS } from "./objects.ts";

/**
 * Whether the running kernel's KHO holds no preservation any more although the script has
 * preserved objects: what `kho_abort` leaves (6.16, 6.18 — run by `abort`, by a failed
 * `kho_finalize`, or by a failed finalize at kexec), which destroys every preservation.
 */
function preservationsDestroyed(kernel: Kernel): boolean {
  const out = kernel.kho.out;
  return out !== null && kernel.profile.finalize === "notifier" && !out.finalized &&
    out.tracker.metadataPages() === 0;
}

/**
 * The script's view follows the kernel's after `kho_abort`: every preserved object is no
 * longer preserved (allocated again, or restored if it came from the previous kernel).
 * Returns their names. Not undone: the kernel's preservations are gone.
 */
export function forgetPreservations(s: Session): string[] {
  const names: string[] = [];
  for (const o of s.objects.values()) {
    if (o.state !== "preserved" || o.kind === "subtree") continue;
    o.state = o.restoredHere ? "restored" : "allocated";
    o.vm = null;
    o.failed.clear();
    names.push(o.name);
  }
  return names;
}

/** What a kho_abort did to the script's objects, for messages. */
function abortNote(names: readonly string[]): string {
  return `kho_abort destroyed every preservation${
    names.length ? ` (${names.join(", ")} no longer preserved)` : ""
  }`;
}

/** `finalize` / `abort`: only profiles with a finalize step have them. */
export function finalizeOrAbort(s: Session, what: "finalize" | "abort"): void {
  const kernel = s.ensureKernel();
  try {
    if (what === "finalize") kernel.kho.finalize();
    else kernel.kho.abort();
  } catch (e) {
    if (e instanceof KhoError && e.code === "EOPNOTSUPP") {
      throw new KhoError(
        "EOPNOTSUPP",
        `kho_${what}: not in this profile (${kernel.profile.name}: ${
          e.message.replace(/^EOPNOTSUPP: /, "")
        })`,
      );
    }
    if (preservationsDestroyed(kernel)) {
      // A failed notifier-era finalize ran kho_abort: the kernel preserves nothing now.
      const note = abortNote(forgetPreservations(s));
      if (e instanceof KhoError) throw withNote(e, note);
      s.cannotUndo(note);
    }
    throw e;
  }
  const dropped = what === "abort" ? forgetPreservations(s) : [];
  s.print(`kho_${what}: ok${dropped.length ? `; ${abortNote(dropped)}` : ""}`);
}

/** What {@link handOver} handed over. */
interface HandedOver {
  /** The manifest written (null without KHO). */
  written: ManifestWriteResult | null;
  /** The objects and regions it names: the script's own account of what it attempted. */
  attempted: { name: string; kind: string }[];
}

/** Writes the manifest of the preserved objects and regions (none without KHO). */
function handOver(s: Session, kernel: Kernel): HandedOver {
  const objs = [...s.objects.values()];
  const preserved = objs.filter((x) => x.state === "preserved");
  const attempted = preserved.map((o) => ({ name: o.name, kind: o.kind }));
  if (!kernel.kho.enabled) {
    if (preserved.length) {
      s.print(`kexec: KHO is off; ${preserved.length} preserved object(s) are lost`);
    }
    return { written: null, attempted };
  }
  const regions = objs.filter((x) => x.state === "reserved");
  const written = writeScenarioManifest(kernel, [...preserved, ...regions].map(sectionOf));
  return {
    written,
    attempted: [...attempted, ...regions.map((o) => ({ name: o.name, kind: o.kind }))],
  };
}

/**
 * The outcomes the successor settles at kexec for objects that do not come back as its
 * incoming objects: all of them when it refused the handover (`refused`, its logged reason),
 * could not read the manifest or found none (`lost`), and each handed-over `reserve_mem=`
 * region it has no region of that name for (`lost`).
 */
function settleAtKexec(
  before: Kernel,
  next: Kernel,
  handed: HandedOver,
  found: ReturnType<typeof readScenarioManifest>,
): SettledOutcome[] {
  const all = (outcome: Outcome, reason: string) =>
    handed.attempted.map((a) => ({ ...a, outcome, reason }));
  if (!before.kho.enabled) return all("lost", "KHO is off in the kernel that preserved it");
  if (!next.kho.isKhoBoot) {
    return all(
      "refused",
      `the successor refused the handover: ${next.boot.revivalRefused ?? "no KHO boot"}`,
    );
  }
  if (!found.ok) {
    return all(
      "lost",
      `the successor could not read the manifest naming it (${found.errno}: ${found.reason})`,
    );
  }
  const regions = new Set(next.reserveMem.regions.map((r) => r.name));
  return found.sections.flatMap((x) =>
    x.kind === "reserve_mem" && x.blob !== null && !regions.has(x.name)
      ? [{
        name: x.name,
        kind: "reserve_mem",
        outcome: "lost" as const,
        reason: `the successor has no reserve_mem=…:${x.name} region to revive it into`,
      }]
      : []
  );
}

/** `kexec [profile=…] [cmdline=…]`. */
export function kexecCommand(s: Session, o: Record<string, unknown>): void {
  const kernel = s.ensureKernel();
  const profile = (o.profile as ProfileName | undefined) ?? s.nextProfile ?? kernel.profile.name;
  const cmdline = [s.cmdline(), (o.cmdline as string | undefined) ?? ""].join(" ").trim();
  const handed = handOver(s, kernel);
  const written = handed.written;
  let next: Kernel;
  try {
    next = kernel.kexec({ profile, cmdline, config: s.kernelConfig.config });
  } catch (e) {
    if (e instanceof KernelPanic || e instanceof KhoHangError) {
      s.machine = null;
      s.kernel = null;
      s.objects = new Map();
      throw new CommandError(null, `${e.message} (the machine is powered off)`);
    }
    if (!isAlive(kernel)) {
      // The old kernel was gone when the successor's boot failed: nothing runs any more.
      s.machine = null;
      s.kernel = null;
      s.objects = new Map();
      s.cannotUndo("the machine is powered off (the old kernel was gone when the next failed)");
      throw e;
    }
    let note = "";
    const destroyed = preservationsDestroyed(kernel);
    if (written !== null && destroyed) {
      // kho_abort unpreserved the manifest's folios too: free them.
      written.unpublish?.();
      for (const pfn of written.pfns) kernel.buddy.folioPut(pfn);
    } else if (written !== null) {
      const left = discardScenarioManifest(kernel, written);
      if (left) note = `manifest: ${left}`;
    }
    if (destroyed) {
      // The finalize at kexec failed and ran kho_abort.
      const abort = abortNote(forgetPreservations(s));
      note = note ? `${note}; ${abort}` : abort;
      if (!(e instanceof KhoError)) s.cannotUndo(abort);
    }
    if (note && e instanceof KhoError) throw withNote(e, note);
    // a configuration the next kernel's profile cannot build (deferred_init on kho-v4)
    if (e instanceof RangeError) throw new CommandError("EINVAL", `kexec: ${e.message}`);
    throw e;
  }
  s.kernel = next;
  s.nextProfile = null;
  s.stats.kexecs++;
  s.objects = new Map();
  const found = readScenarioManifest(next);
  const sections: ManifestSection[] = found.ok ? found.sections : [];
  if (!found.ok && found.errno !== "ENOENT") {
    s.print(`kexec: manifest unreadable: ${found.reason}`);
  }
  let incoming = 0;
  for (const section of sections) {
    const obj = objectOfSection(section);
    if (obj === null) continue;
    s.objects.set(obj.name, obj);
    incoming++;
  }
  const b = next.boot;
  s.print(
    `kexec: boot #${next.bootIndex} (${next.profile.name}), ${
      b.khoBoot ? "KHO boot" : `cold boot${b.revivalRefused ? ` (${b.revivalRefused})` : ""}`
    }, ${incoming} incoming object(s), walk ${b.retrieve?.blocks ?? 0} blocks`,
  );
  s.adoptRegions(next, new Map(sections.map((x) => [x.name, x])));
  s.handover = {
    boot: next.bootIndex,
    profile: next.profile.name,
    handedOver: handed.attempted.length,
    settled: settleAtKexec(kernel, next, handed, found),
  };
}

/** Whether a kernel still runs (kexec marks the one it replaces dead). */
function isAlive(kernel: Kernel): boolean {
  try {
    kernel.assertAlive();
    return true;
  } catch {
    return false;
  }
}

function targets(s: Session, names: string[], accept: (o: DslObject) => boolean): DslObject[] {
  if (names.length) return s.distinct(names);
  return [...s.objects.values()].filter(accept);
}

/** `restore [NAME…]`: failures are counted, not raised. */
export function restoreCommand(s: Session, names: string[]): void {
  const kernel = s.ensureKernel();
  const objs = targets(s, names, (o) => o.state === "incoming");
  for (const o of objs) {
    if (o.state !== "incoming") {
      throw new CommandError("EINVAL", `${o.name} is ${o.state}, not incoming`, o.name);
    }
  }
  for (const o of objs) {
    const r = restoreObject(kernel, o);
    s.stats.restoreOk += r.ok;
    s.stats.restoreFailed += r.failed;
    if (r.failed) {
      s.print(`restore ${o.name}: ${r.failed} of ${o.blocks() + o.missing} blocks failed`);
    }
  }
}

/** `verify [NAME…]`: mismatches are counted, not raised. */
export function verifyCommand(s: Session, names: string[]): void {
  const kernel = s.ensureKernel();
  const objs = targets(s, names, () => true);
  for (const o of objs) {
    if (verifyObject(kernel, o)) s.stats.verifyOk++;
    else {
      s.stats.verifyFailed++;
      s.print(`verify ${o.name}: content differs`);
    }
  }
}

const OBJECTS_OR_ALL: PositionalSpec = { ...OBJECTS, doc: "objects (all)", optional: true };

/** The handover commands. */
export const KEXEC_COMMANDS: readonly CommandSpec[] = [
  {
    name: "finalize",
    summary: "kho finalize (only profiles with a finalize step; radix profiles: EOPNOTSUPP)",
    positionals: [],
    options: [],
    run: (s) => finalizeOrAbort(s, "finalize"),
  },
  {
    name: "abort",
    summary: "kho abort (only profiles with a finalize step; radix profiles: EOPNOTSUPP)",
    positionals: [],
    options: [],
    run: (s) => finalizeOrAbort(s, "abort"),
  },
  {
    name: "kexec",
    summary: "kexec into the next kernel; objects are re-found from memory",
    details: "Writes the manifest (sub-tree kholab-scenario, one section per preserved object\n" +
      "and reserve_mem= region), then kexecs. JavaScript state does not cross: the\n" +
      "successor reads the manifest from physical memory and lists the objects as\n" +
      "incoming until `restore`. Works in every profile.",
    positionals: [],
    options: [
      { name: "profile", kind: "profile", doc: "profile of the next kernel" },
      { name: "cmdline", kind: "string", doc: "extra command-line words" },
    ],
    run: (s, inv) => kexecCommand(s, inv.opts),
    estimate: (s) => kexecEstimate(s),
  },
  {
    name: "restore",
    summary:
      "restore incoming objects (kho_restore_folio / _pages / _vmalloc); failures are counted",
    positionals: [OBJECTS_OR_ALL],
    options: [],
    run: (s, inv) => restoreCommand(s, names(inv)),
    estimate: (s, inv) => restoreEstimate(s, names(inv)),
  },
  {
    name: "verify",
    summary: "compare objects' contents with their creation hash; mismatches are counted",
    positionals: [OBJECTS_OR_ALL],
    options: [],
    run: (s, inv) => verifyCommand(s, names(inv)),
  },
];
