/**
 * Exporting a kernel's outgoing handover to a folder a developer can compare with a real
 * machine's: `kho/out/…` exactly as the kernel's debugfs shows it (`lib/kho/debugfs.ts`: the
 * root FDT, `sub_fdts/NAME`, `scratch_phys`, `scratch_len`, `finalize` where the generation
 * has one), so `dtc -I dtb kho/out/fdt` and `diff` work on both, plus what debugfs does not
 * show and a successor needs, under `kholab/`:
 *
 * | file                         | content                                                       |
 * | ---------------------------- | ------------------------------------------------------------- |
 * | `kholab/kho_data.bin`        | the 32-byte handover record (x86 `struct kho_data`, kho-facts §9.4) |
 * | `kholab/scratch.bin`         | the `struct kho_scratch` array the record points to (kho-facts §9.1) |
 * | `kholab/tracker.bin`         | every page the successor's tracker walk reads, back to back    |
 * | `kholab/tracker.index.json`  | where each page of `tracker.bin` sits: `{ phys, offset }`      |
 * | `kholab/handover.json`       | profile, RAM ranges and nodes, the record, sub-trees, notes    |
 *
 * An export is taken at the moment of kexec: {@link exportScenarioHandover} runs a scenario's
 * kexec path up to `kho_fill_kimage` (LUO's reboot, finalize where the generation has one, the
 * record filled) and stops before `machine_kexec`; {@link collectHandoverExport} on a running
 * kernel (the command language's `export DIR`) takes what its debugfs shows now and plans the
 * record the way `kho_fill_kimage` would, without writing anything. `kholab inspect DIR`
 * (`./handover_inspect.ts`) reads such a folder back and runs the successor's code on it.
 *
 * @module
 */

import type { Kernel } from "../boot/kernel.ts";
import { kernelKexec, KEXEC_STEPS } from "../boot/kexec.ts";
import { KhoError } from "../errors.ts";
import { KernelLog } from "../kernel/dmesg.ts";
import { encodeScratchArray } from "../kho/abi/asm_generic_kexec_handover.ts";
import { decodeKhoFdtU64, KHO_SUB_TREE_SIZE_PROP_NAME } from "../kho/abi/kexec_handover.ts";
import { encodeKhoData, type Handover } from "../kho/abi/kho_data.ts";
import { KHO_DEBUGFS_OUT, khoOutDebugfs } from "../kho/debugfs.ts";
import { FdtReader } from "../kho/fdt/reader.ts";
import { DEFAULT_IMAGE_BYTES } from "../kho/kho.ts";
import type { ProfileName } from "../kho/profiles.ts";
import { TrackerCounters } from "../kho/trackers/counters.ts";
import { trackerPagesRead } from "../kho/trackers/pages_read.ts";
import { hex, PAGE_SIZE } from "../units.ts";
import { writeScenarioManifest } from "./manifest.ts";
import { buildScenario } from "./scenarios.ts";
import type { RunOptions } from "./run.ts";

/** `format` of `kholab/handover.json`. */
export const HANDOVER_EXPORT_FORMAT = "kholab-handover-export-v1";
/** `format` of `kholab/tracker.index.json`. */
export const TRACKER_INDEX_FORMAT = "kholab-tracker-pages-v1";
/** The kholab files of an export. */
export const EXPORT_FILES = {
  meta: "kholab/handover.json",
  khoData: "kholab/kho_data.bin",
  scratch: "kholab/scratch.bin",
  tracker: "kholab/tracker.bin",
  trackerIndex: "kholab/tracker.index.json",
} as const;

/** One sub-tree of the root FDT, as `kholab/handover.json` lists it. */
export interface ExportedSubtree {
  /** Node name. */
  name: string;
  /** Physical address of the blob (`fdt` / `preserved-data`). */
  phys: string;
  /** `blob-size`, or null where the generation has none. */
  blobSize: number | null;
  /** Its debugfs file, or null when debugfs has none. */
  file: string | null;
}

/** `kholab/handover.json`. */
export interface HandoverExportMeta {
  /** {@link HANDOVER_EXPORT_FORMAT}. */
  format: string;
  /** Profile of the kernel that wrote the handover. */
  profile: ProfileName;
  /** RAM ranges (hex) and their nodes. */
  ram: { start: string; end: string; nid: number }[];
  /** NUMA nodes. */
  nodes: number;
  /** The handover record (hex), as `kholab/kho_data.bin` holds it. */
  handover: { fdtPhys: string; fdtLen: string; scratchPhys: string; scratchLen: string };
  /** Whether the record is the one `kho_fill_kimage` filled (else planned, nothing written). */
  recordFilled: boolean;
  /** The sub-trees of the root FDT. */
  subtrees: ExportedSubtree[];
  /** The tracker: its kind, root, the pages exported, and the walk that found them. */
  tracker: {
    kind: string;
    root: string;
    pages: number;
    walk: { ok: boolean; error: string | null; blocks: number };
  };
  /** What a real machine would show differently, or why something is missing. */
  notes: string[];
}

/** An export in memory: its files by path (relative to the export folder) and its metadata. */
export interface HandoverExport {
  /** `kholab/handover.json`'s content. */
  readonly meta: HandoverExportMeta;
  /** Every file, `kho/out/…` and `kholab/…`. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** `kholab/tracker.index.json`. */
export interface TrackerIndex {
  /** {@link TRACKER_INDEX_FORMAT}. */
  format: string;
  /** Bytes per page (4096). */
  pageSize: number;
  /** The tracker kind. */
  kind: string;
  /** The tracker's root (the memory-map property's value), hex. */
  root: string;
  /** Each page: its physical address (hex) and its offset in `tracker.bin`. */
  pages: { phys: string; offset: number }[];
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");

/**
 * The export of a kernel's outgoing handover, now (see the module). `handover` is the record
 * `kho_fill_kimage` filled, when the kexec path ran; without it the record is planned and the
 * scratch array encoded from the kernel's areas. Throws KhoError: EOPNOTSUPP without KHO,
 * ENOENT when the generation has no root FDT yet (6.16/6.18 before finalize, RFC v1 before
 * kexec).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Kernel } from "../boot/kernel.ts";
 * import { Machine } from "../machine/machine.ts";
 * import { collectHandoverExport } from "./handover_export.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile: "kho-v4" });
 * k.kho.preserveFolio(k.buddy.folioAlloc(9)!);
 * const exp = collectHandoverExport(k);
 * assert.ok(exp.files.has("kho/out/fdt") && exp.files.has("kholab/tracker.bin"));
 * assert.equal(exp.meta.tracker.walk.blocks, 3); // the folio, the root FDT, kexec-metadata
 * ```
 */
export function collectHandoverExport(
  kernel: Kernel,
  options: { handover?: Handover } = {},
): HandoverExport {
  const out = kernel.kho.out;
  if (out === null) throw new KhoError("EOPNOTSUPP", "KHO is not enabled");
  const profile = kernel.profile;
  const mem = kernel.machine.mem;
  const topology = kernel.machine.topology;
  const dbg = khoOutDebugfs(out, mem, { khoBoot: kernel.kho.isKhoBoot });
  const files = new Map<string, Uint8Array>(dbg.files.map((f) => [f.path, f.bytes]));
  const notes = [...dbg.notes];
  const fdt = files.get(`${KHO_DEBUGFS_OUT}/fdt`);
  if (fdt === undefined) throw new KhoError("ENOENT", notes[0]);
  const record = options.handover ??
    kernel.kho.planKimage({ imageBytes: DEFAULT_IMAGE_BYTES }).handover;
  const scratch = options.handover
    ? mem.readBytes(record.scratchPhys, record.scratchLen)
    : encodeScratchArray(out.scratch);

  const rd = new FdtReader(fdt);
  const root = decodeKhoFdtU64(rd.getprop(0, profile.memoryMapProp)) ?? 0;
  const subtrees: ExportedSubtree[] = rd.subnodes(0).map((off) => {
    const name = rd.getName(off);
    const path = `${KHO_DEBUGFS_OUT}/sub_fdts/${name}`;
    const phys = decodeKhoFdtU64(rd.getprop(off, profile.subtreeProp));
    return {
      name,
      phys: hex(phys ?? 0),
      blobSize: profile.blobSize
        ? decodeKhoFdtU64(rd.getprop(off, KHO_SUB_TREE_SIZE_PROP_NAME))
        : null,
      file: files.has(path) ? path : null,
    };
  });

  let pages: number[] = [];
  let walk = { ok: false, error: "no tracker" as string | null, blocks: 0 };
  if (root === 0) {
    notes.push(
      `${profile.memoryMapProp} is 0: the successor refuses this handover` +
        (profile.finalize === "repeatable" ? ` (${profile.name} serializes at finalize)` : ""),
    );
  } else {
    const r = trackerPagesRead(profile.tracker, {
      mem,
      rootPhys: root,
      isRam: (p, n) => topology.isRam(p, n),
      log: new KernelLog(),
      counters: new TrackerCounters(),
    });
    pages = r.pages;
    walk = { ok: r.walk.ok, error: r.walk.error ?? null, blocks: r.walk.blocks };
  }
  const bin = new Uint8Array(pages.length * PAGE_SIZE);
  pages.forEach((p, i) => bin.set(mem.readBytes(p, PAGE_SIZE), i * PAGE_SIZE));
  const index: TrackerIndex = {
    format: TRACKER_INDEX_FORMAT,
    pageSize: PAGE_SIZE,
    kind: profile.tracker,
    root: hex(root),
    pages: pages.map((p, i) => ({ phys: hex(p), offset: i * PAGE_SIZE })),
  };
  const meta: HandoverExportMeta = {
    format: HANDOVER_EXPORT_FORMAT,
    profile: profile.name,
    ram: topology.ranges.map((r) => ({ start: hex(r.start), end: hex(r.end), nid: r.nid })),
    nodes: topology.nodes,
    handover: {
      fdtPhys: hex(record.fdtPhys),
      fdtLen: hex(record.fdtLen),
      scratchPhys: hex(record.scratchPhys),
      scratchLen: hex(record.scratchLen),
    },
    recordFilled: options.handover !== undefined,
    subtrees,
    tracker: { kind: profile.tracker, root: hex(root), pages: pages.length, walk },
    notes,
  };
  files.set(EXPORT_FILES.khoData, encodeKhoData(record));
  files.set(EXPORT_FILES.scratch, scratch);
  files.set(EXPORT_FILES.tracker, bin);
  files.set(EXPORT_FILES.trackerIndex, json(index));
  files.set(EXPORT_FILES.meta, json(meta));
  return { meta, files };
}

/**
 * A scenario's handover at kexec: builds the scenario for `profile`, preserves its workloads,
 * writes its manifest, finalizes where the generation has a finalize, runs the kexec path up
 * to `kho_fill_kimage` and exports what would cross (the first kernel is left at the point of
 * `machine_kexec`).
 */
export function exportScenarioHandover(
  options: Pick<RunOptions, "scenario" | "profile" | "params" | "seed">,
): HandoverExport {
  const inst = buildScenario(options.scenario, options);
  const k1 = inst.kernel;
  if (k1.kho.out === null) throw new KhoError("EOPNOTSUPP", "KHO is not enabled");
  const sections = inst.workloads.map((w) => w.preserve(k1, inst.tally));
  writeScenarioManifest(k1, sections);
  const ctx = kernelKexec(
    {
      machine: k1.machine,
      log: k1.log,
      profile: k1.profile,
      kho: k1.kho,
      liveupdate: k1.liveupdate,
      options: inst.bootOptions,
    },
    KEXEC_STEPS.filter((s) => s.name !== "machine_kexec"),
  );
  return collectHandoverExport(k1, { handover: ctx.handover ?? undefined });
}

/**
 * Writes an export into `dir` (created if needed; files of the same names are replaced).
 * Returns the paths written, relative to `dir`.
 */
export function writeHandoverExport(dir: string, exp: HandoverExport): string[] {
  const written: string[] = [];
  for (const [path, bytes] of exp.files) {
    const full = `${dir}/${path}`;
    Deno.mkdirSync(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    Deno.writeFileSync(full, bytes);
    written.push(path);
  }
  return written;
}
