/**
 * The successor's side of the `handover` fuzz target: boots a kernel from a (mutated) copy of
 * a base handover and drives every client restore path — the boot's own clients
 * (`reserve_mem=` revival, kexec-metadata, LUO's early start-up), the test_kho module's
 * verification, the scenario manifest reader, the restore of every section (folios, ranges,
 * vmalloc buffers, the sub-tree blob), `/dev/liveupdate` (open, the FLB, retrieve of every
 * session and file with a content check, or finish without retrieve, then close) and a kexec
 * from the successor.
 *
 * What is allowed: a kernel verdict (`lib/boot/verdict.ts`: an errno, a panic or oops, a
 * detected lockup, a BUG) or a documented result (NULL, a failed verification, content that
 * differs). What is a finding: any other exception (it propagates), and a corruption a client
 * detected without a line in the kernel log ({@link UnloggedCorruption}). "Detected" per client:
 *
 * - boot: the handover refused (`revivalRefused`);
 * - `reserve_mem=`: a region of the first kernel not revived though the successor's root FDT
 *   has a `memblock` sub-tree; kexec-metadata: not read (count 0) though the sub-tree is there;
 * - test_kho: a failed verification other than ENOENT (no `kho_test` sub-tree);
 * - the manifest: any failure other than ENOENT;
 * - vmalloc: `kho_restore_vmalloc` gives NULL;
 * - LUO: `/dev/liveupdate` fails to open with EIO (deserialization failed); a file's retrieve
 *   fails with anything but ENOENT (unknown token).
 *
 * A line means: since the call began, a printk at warn or err level, a kholab note, or a
 * WARN_ON_ONCE that had already fired (its line is earlier in the log). For the boot's
 * clients, any such line of the boot naming the client.
 *
 * @module
 */

import { Kernel } from "../../lib/boot/kernel.ts";
import { kernelVerdict } from "../../lib/boot/verdict.ts";
import type { KernelLog } from "../../lib/kernel/dmesg.ts";
import { testKhoVerify } from "../../lib/clients/test_kho.ts";
import { KhoError } from "../../lib/errors.ts";
import { getProfile } from "../../lib/kho/profiles.ts";
import { restoreVmalloc } from "../../lib/kho/vmalloc.ts";
import type { LiveUpdateFd } from "../../lib/luo/device.ts";
import type { Machine } from "../../lib/machine/machine.ts";
import type { MemfdFile } from "../../lib/clients/memfd.ts";
import { readScenarioManifest } from "../../lib/scenario/manifest.ts";
import type { ManifestSection, MemfdRecord } from "../../lib/scenario/manifest_abi.ts";
import { restoreRange } from "../../lib/scenario/workloads.ts";
import { PAGE_SIZE } from "../../lib/units.ts";
import { fuzzFlbOf, type HandoverBase } from "./handover_base.ts";

/** A corruption a client detected without a line in the kernel log: a finding. */
export class UnloggedCorruption extends Error {
  /** Creates the finding for `what` (the client and what it detected). */
  constructor(what: string) {
    super(`unlogged: ${what}, but the kernel log has no line about it`);
    this.name = "UnloggedCorruption";
  }
}

/** How the drive goes. */
export interface DriveOptions {
  /** The base (what the first kernel preserved, the boot options). */
  base: HandoverBase;
  /** The machine: the base's topology and a copy of its memory, mutated. */
  machine: Machine;
  /** Bit 0: finish memfd sessions without retrieving their files. */
  mode: number;
  /** Called with each step's label before it runs (the recording pass labels reads). */
  step?: (label: string) => void;
}

/** What the drive saw: the boot's outcome and one word per client step. */
export interface DriveOutcome {
  /** `ok`, `refused`, or the verdict kind that stopped the boot. */
  boot: string;
  /** `client:result` per step, e.g. `test_kho:ok`, `memfd:EIO`, `kexec:oops`. */
  steps: string[];
}

interface Mark {
  printed: number;
  suppressed: number;
}

function mark(log: KernelLog): Mark {
  return { printed: log.printed, suppressed: log.suppressedOnce };
}

/** Whether the log has a line about an anomaly since `m` (see the module doc). */
export function loggedSince(log: KernelLog, m: Mark, about?: (text: string) => boolean): boolean {
  if (log.suppressedOnce > m.suppressed && about === undefined) return true;
  for (const e of log.entries()) {
    if (e.seq < m.printed) continue;
    if (e.level !== "err" && e.level !== "warn" && e.origin !== "kholab") continue;
    if (about === undefined || about(`${e.prefix}: ${e.text}`)) return true;
  }
  return false;
}

function requireLogged(log: KernelLog, m: Mark, what: string, about?: (t: string) => boolean) {
  if (!loggedSince(log, m, about)) throw new UnloggedCorruption(what);
}

/** Whether the successor's root FDT has a sub-node `name` (read without side effects). */
function subtreePresent(k: Kernel, name: string): boolean {
  const incoming = k.kho.incoming;
  if (incoming === null || !incoming.isKhoBoot) return false;
  try {
    return incoming.fdt().subnodeOffset(0, name) >= 0;
  } catch {
    return false;
  }
}

/** The errno of a KhoError; any other verdict or exception is rethrown. */
function errnoOf(e: unknown): string {
  if (e instanceof KhoError) return e.code;
  throw e;
}

/** Checks of the clients that run during boot. */
function checkBoot(k: Kernel, base: HandoverBase, out: DriveOutcome): void {
  const log = k.log;
  const start = { printed: 0, suppressed: 0 };
  if (k.boot.revivalRefused !== null && k.boot.revivalRefused !== undefined) {
    requireLogged(log, start, `kho_populate refused the handover (${k.boot.revivalRefused})`);
  }
  for (const r of base.regions) {
    const got = k.reserveMem.regions.find((x) => x.name === r.name);
    if (got?.revived) {
      out.steps.push(`reserve_mem:${got.start === r.start ? "revived" : "moved"}`);
      continue;
    }
    out.steps.push("reserve_mem:fresh");
    if (subtreePresent(k, "memblock")) {
      requireLogged(
        log,
        start,
        `reserve_mem_kho_revive did not revive '${r.name}' from the memblock sub-tree`,
        (t) => /memblock|reserve.mem/i.test(t) || t.includes(`'${r.name}'`),
      );
    }
  }
  const p = getProfile(base.profile);
  if (p.kexecMetadata && k.kho.isKhoBoot && k.kho.previousRelease === null) {
    out.steps.push("kexec-metadata:none");
    if (subtreePresent(k, "kexec-metadata")) {
      requireLogged(
        log,
        start,
        "kho_in_kexec_metadata did not read the kexec-metadata blob",
        (t) => t.includes("kexec-metadata"),
      );
    }
  }
}

/** The memfd records of the sections. */
function memfdRecords(sections: readonly ManifestSection[]): MemfdRecord[] {
  return sections.flatMap((s) => (s.kind === "memfd" ? s.files : []));
}

/** Restores one section (not memfd, test_kho, reserve_mem: driven elsewhere). */
function restoreSectionChecked(k: Kernel, s: ManifestSection, out: DriveOutcome): void {
  const log = k.log;
  switch (s.kind) {
    case "folio": {
      let ok = 0;
      for (const pfn of s.pfns) if (k.kho.restoreFolio(pfn * PAGE_SIZE) !== null) ok++;
      out.steps.push(`folio:${ok}/${s.pfns.length}`);
      return;
    }
    case "range":
    case "blocks": {
      let ok = 0;
      s.pfns.forEach((pfn, i) => {
        const n = s.kind === "range" ? s.nrPages : 2 ** s.orders[i];
        if (restoreRange(k, pfn, n).ok) ok++;
      });
      out.steps.push(`range:${ok}/${s.pfns.length}`);
      return;
    }
    case "vmalloc":
      s.descs.forEach((d, i) => {
        const m = mark(log);
        const addr = restoreVmalloc(k, d);
        if (addr === null) {
          out.steps.push("vmalloc:null");
          requireLogged(log, m, `kho_restore_vmalloc gave NULL for buffer ${i}`);
          return;
        }
        const area = k.vmalloc.findVmArea(addr)!;
        const same = area.nrPages * PAGE_SIZE >= s.bytes &&
          k.vmalloc.hash64(addr, s.bytes) === s.hashes[i];
        out.steps.push(same ? "vmalloc:ok" : "vmalloc:differs");
        k.vmalloc.vfree(addr);
      });
      return;
    case "subtree": {
      if (s.blob === null) return;
      let phys: number;
      try {
        phys = k.kho.retrieveSubtree(s.name).phys;
      } catch (e) {
        out.steps.push(`subtree:${errnoOf(e)}`);
        return;
      }
      const pfn = phys === s.blob.phys ? k.kho.restoreFolio(phys) : null;
      out.steps.push(pfn === null ? "subtree:null" : "subtree:ok");
      return;
    }
    default:
      return;
  }
}

/** `/dev/liveupdate`: open, the FLB, every session and file, finish, close. */
function driveLuo(k: Kernel, records: readonly MemfdRecord[], mode: number, out: DriveOutcome) {
  const log = k.log;
  let m = mark(log);
  let dev: LiveUpdateFd;
  try {
    dev = k.liveupdate.open();
  } catch (e) {
    const code = errnoOf(e);
    out.steps.push(`luo-open:${code}`);
    if (code === "EIO") requireLogged(log, m, "luo_session_deserialize failed (open: EIO)");
    return;
  }
  out.steps.push("luo-open:ok");
  const flb = fuzzFlbOf(k);
  if (flb !== null) {
    try {
      k.liveupdate.flbGetIncoming(flb);
      out.steps.push("flb:ok");
    } catch (e) {
      out.steps.push(`flb:${errnoOf(e)}`);
    }
  }
  for (const rec of records) {
    let s;
    try {
      s = dev.retrieveSession(rec.session);
    } catch (e) {
      out.steps.push(`session:${errnoOf(e)}`);
      continue;
    }
    if ((mode & 1) === 0) {
      m = mark(log);
      try {
        const f = s.retrieveFd(rec.token) as MemfdFile;
        out.steps.push(f.hash64() === rec.hash ? "memfd:ok" : "memfd:differs");
      } catch (e) {
        const code = errnoOf(e);
        out.steps.push(`memfd:${code}`);
        if (code !== "ENOENT") {
          requireLogged(log, m, `memfd retrieve of token ${rec.token} failed (${code})`);
        }
      }
    }
    try {
      s.finish();
      out.steps.push("finish:ok");
    } catch (e) {
      out.steps.push(`finish:${errnoOf(e)}`);
    }
    try {
      s.close();
    } catch (e) {
      errnoOf(e);
    }
  }
  dev.close();
}

/**
 * Boots the successor and drives every client; returns what happened. Throws a non-verdict
 * exception or an {@link UnloggedCorruption} (findings); a verdict that kills the kernel ends
 * the drive and is reported in the outcome.
 */
export function driveSuccessor(o: DriveOptions): DriveOutcome {
  const { base } = o;
  const step = o.step ?? (() => {});
  const out: DriveOutcome = { boot: "", steps: [] };
  let label = "boot";
  step(label);
  let k: Kernel;
  try {
    k = Kernel.bootFrom(o.machine, base.handoff, base.options);
  } catch (e) {
    const kind = kernelVerdict(e);
    if (kind === null) throw e;
    out.boot = kind;
    return out;
  }
  out.boot = k.kho.isKhoBoot ? "ok" : "refused";
  try {
    checkBoot(k, base, out);
    if (base.testKho) {
      label = "test_kho";
      step(label);
      const m = mark(k.log);
      const r = testKhoVerify(k);
      out.steps.push(`test_kho:${r.ok ? "ok" : r.errno}`);
      if (!r.ok && r.errno !== "ENOENT") {
        requireLogged(k.log, m, `test_kho verification failed: ${r.reason}`);
      }
    }
    label = "manifest";
    step(label);
    const m = mark(k.log);
    const found = readScenarioManifest(k);
    out.steps.push(`manifest:${found.ok ? "ok" : found.errno}`);
    if (!found.ok && found.errno !== "ENOENT") {
      requireLogged(k.log, m, `the scenario manifest is unreadable: ${found.reason}`);
    }
    const sections = found.ok ? found.sections : base.sections;
    for (const s of sections) {
      label = `restore-${s.kind}`;
      step(label);
      restoreSectionChecked(k, s, out);
    }
    const records = memfdRecords(sections);
    if (records.length > 0 && getProfile(base.profile).luo !== null) {
      label = "luo";
      step(label);
      driveLuo(k, records, o.mode, out);
    }
    label = "kexec";
    step(label);
    const k3 = k.kexec();
    out.steps.push(`kexec:${k3.kho.isKhoBoot ? "ok" : "cold"}`);
  } catch (e) {
    const kind = kernelVerdict(e);
    if (kind === null) throw e;
    out.steps.push(`${label}:${kind === "errno" ? (e as KhoError).code : kind}`);
  }
  return out;
}
