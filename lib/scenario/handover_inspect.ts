/**
 * `kholab inspect DIR`: what a successor would find in an exported handover
 * (`./handover_export.ts`). The folder's bytes are put back at their physical addresses in an
 * otherwise empty physical memory — the root FDT at the record's address, the scratch array,
 * every tracker page, every sub-tree blob — and the successor's own code runs on them:
 * `kho_populate`'s checks (`validateHandover`: FDT header, exact compat, memory map, scratch
 * array), `kho_mem_retrieve` (`KhoIn.memRetrieve`: the profile's incoming walker, reserving and
 * stamping every block, the kernel's own walk replayed where the bytes are anomalous),
 * `kho_retrieve_subtree` for every sub-tree, and the decoders of the sub-blobs kholab knows
 * (FDTs as DTS, `kexec-metadata`, LUO's `luo_ser`). Corrupted bytes get the kernel's verdict — a
 * refused handover, an aborted walk with its named reason, the oops or lockup of a walk that
 * follows a wild pointer — never an exception; `strict` adds kholab's stricter checks.
 *
 * A folder with only a real machine's `kho/out/` (no `kholab/`) is read too: its FDT is
 * checked and its sub-trees decoded, but debugfs does not show the tracker's pages or the RAM
 * layout, so there is no walk and RAM is assumed to cover every address the FDT names.
 *
 * @module
 */

import { FdtError, KhoError } from "../errors.ts";
import { FaultInjector } from "../kernel/faults.ts";
import { KernelPanic } from "../kernel/panic.ts";
import { KhoHangError } from "../kho/trackers/xarray.ts";
import { KernelLog } from "../kernel/dmesg.ts";
import { Memblock } from "../kernel/memblock.ts";
import { Memmap } from "../kernel/memmap.ts";
import { encodeScratchArray, type ScratchArea } from "../kho/abi/asm_generic_kexec_handover.ts";
import {
  decodeKhoFdtU64,
  KHO_FDT_COMPATIBLE_V1,
  KHO_FDT_ORDER_TABLE_PROP_NAME,
  KHO_FDT_SIZE,
} from "../kho/abi/kexec_handover.ts";
import { KHO_KEXEC_METADATA_NAME, readKexecMetadata } from "../kho/abi/kexec_metadata.ts";
import { decodeKhoData, type Handover, KHO_DATA_SIZE } from "../kho/abi/kho_data.ts";
import { LUO_ABI_COMPATIBLE, LUO_KHO_ENTRY_NAME, readLuoSer } from "../kho/abi/luo.ts";
import { nativePropertyNote } from "../kho/abi/native_props.ts";
import { KHO_DEBUGFS_OUT, parseScratchDebugfs } from "../kho/debugfs.ts";
import { checkFullVerdict } from "../kho/fdt/check.ts";
import { toDts } from "../kho/fdt/dts.ts";
import { FDT_MAGIC } from "../kho/fdt/format.ts";
import { FdtReader } from "../kho/fdt/reader.ts";
import { LOW_RESERVED_BYTES } from "../kho/kho.ts";
import { CURRENT_PROFILE, getProfile, type ProfileName, profileNames } from "../kho/profiles.ts";
import { KhoIn, validateHandover } from "../kho/restore.ts";
import { TrackerCounters } from "../kho/trackers/counters.ts";
import { walkIncoming } from "../kho/trackers/registry.ts";
import { PhysicalMemory } from "../machine/physmem.ts";
import { type RamRange, Topology } from "../machine/topology.ts";
import { formatSize, hex, MiB, PAGE_SIZE, SECTION_SIZE } from "../units.ts";
import {
  EXPORT_FILES,
  HANDOVER_EXPORT_FORMAT,
  type HandoverExportMeta,
  TRACKER_INDEX_FORMAT,
  type TrackerIndex,
} from "./handover_export.ts";
import { InputFileError, type InputLimits, readInputFile } from "./input_file.ts";

/** An export as read from a folder: its metadata (null for a debugfs-only folder) and files. */
export interface HandoverFolder {
  /** `kholab/handover.json`, or null when the folder has only `kho/out/`. */
  readonly meta: HandoverExportMeta | null;
  /** Every file read, by path relative to the folder. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** Caps on what {@link readHandoverFolder} reads. */
export const INSPECT_LIMITS = {
  /** A debugfs file (the root FDT is at most a page; a sub-tree blob a few MiB). */
  debugfs: { maxBytes: 16 * MiB, maxTextBytes: 16 * MiB } as InputLimits,
  /** `kholab/tracker.bin` (65,536 pages). */
  tracker: { maxBytes: 256 * MiB, maxTextBytes: 256 * MiB } as InputLimits,
  /** A JSON file. */
  json: { maxBytes: 64 * MiB, maxTextBytes: 64 * MiB } as InputLimits,
  /** Files in `kho/out/sub_fdts/`. */
  subtrees: 4096,
} as const;

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Reads an export folder (or a copy of a real `kho/out/`), every file bounded. Throws
 * InputFileError for a folder or file that cannot be read, SyntaxError for kholab's own files
 * when malformed (the kernel's bytes are not judged here: {@link inspectHandover} does).
 */
export function readHandoverFolder(dir: string): HandoverFolder {
  try {
    if (!Deno.statSync(dir).isDirectory) {
      throw new InputFileError("EINVAL", dir, "not a directory (an export folder is expected)");
    }
  } catch (e) {
    if (e instanceof InputFileError) throw e;
    throw new InputFileError("ENOENT", dir, "no such directory");
  }
  const files = new Map<string, Uint8Array>();
  const take = (path: string, limits: InputLimits) => {
    if (!isFile(`${dir}/${path}`)) return;
    files.set(path, readInputFile(`${dir}/${path}`, limits, { gunzip: false }).bytes);
  };
  for (const f of ["fdt", "scratch_phys", "scratch_len", "finalize"]) {
    take(`${KHO_DEBUGFS_OUT}/${f}`, INSPECT_LIMITS.debugfs);
  }
  const subDir = `${dir}/${KHO_DEBUGFS_OUT}/sub_fdts`;
  let n = 0;
  try {
    for (const e of Deno.readDirSync(subDir)) {
      if (++n > INSPECT_LIMITS.subtrees) {
        throw new InputFileError("EFBIG", subDir, `more than ${INSPECT_LIMITS.subtrees} entries`);
      }
      if (e.isFile) take(`${KHO_DEBUGFS_OUT}/sub_fdts/${e.name}`, INSPECT_LIMITS.debugfs);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  take(EXPORT_FILES.meta, INSPECT_LIMITS.json);
  take(EXPORT_FILES.trackerIndex, INSPECT_LIMITS.json);
  take(EXPORT_FILES.khoData, INSPECT_LIMITS.debugfs);
  take(EXPORT_FILES.scratch, INSPECT_LIMITS.debugfs);
  take(EXPORT_FILES.tracker, INSPECT_LIMITS.tracker);
  if (!files.has(`${KHO_DEBUGFS_OUT}/fdt`) && !files.has(EXPORT_FILES.meta)) {
    throw new InputFileError(
      "ENOENT",
      dir,
      `neither ${KHO_DEBUGFS_OUT}/fdt nor ${EXPORT_FILES.meta}: not a handover export`,
    );
  }
  const metaBytes = files.get(EXPORT_FILES.meta);
  return { meta: metaBytes ? parseMeta(metaBytes) : null, files };
}

/** A kholab JSON file of `format` (SyntaxError naming `what` otherwise), its fields unchecked. */
function parseJson<T>(bytes: Uint8Array, what: string, format: string): Partial<T> {
  let v;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new SyntaxError(`${what}: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || v.format !== format) {
    throw new SyntaxError(`${what}: not a ${format} file`);
  }
  return v;
}

/** A `0x…` address of kholab's JSON files (SyntaxError naming `what` otherwise). */
function hexField(v: unknown, what: string): number {
  if (typeof v !== "string" || !/^0x[0-9a-f]{1,13}$/.test(v)) {
    throw new SyntaxError(`${what}: expected an address "0x…", found ${JSON.stringify(v)}`);
  }
  return Number.parseInt(v.slice(2), 16);
}

function parseMeta(bytes: Uint8Array): HandoverExportMeta {
  const what = EXPORT_FILES.meta;
  const m = parseJson<HandoverExportMeta>(bytes, what, HANDOVER_EXPORT_FORMAT);
  if (typeof m.profile !== "string" || !profileNames().includes(m.profile)) {
    throw new SyntaxError(`${what}: unknown profile ${JSON.stringify(m.profile)}`);
  }
  if (!Array.isArray(m.ram) || m.ram.length === 0 || m.ram.length > 1024) {
    throw new SyntaxError(`${what}: "ram" must list 1..1024 ranges`);
  }
  for (const r of m.ram) {
    hexField(r?.start, `${what}: ram start`);
    hexField(r?.end, `${what}: ram end`);
    if (!Number.isInteger(r?.nid)) throw new SyntaxError(`${what}: ram nid`);
  }
  if (!Number.isInteger(m.nodes)) throw new SyntaxError(`${what}: "nodes"`);
  return m as HandoverExportMeta;
}

function parseIndex(bytes: Uint8Array, binBytes: number): TrackerIndex {
  const what = EXPORT_FILES.trackerIndex;
  const ix = parseJson<TrackerIndex>(bytes, what, TRACKER_INDEX_FORMAT);
  if (ix.pageSize !== PAGE_SIZE || !Array.isArray(ix.pages)) {
    throw new SyntaxError(`${what}: expected pageSize ${PAGE_SIZE} and a "pages" list`);
  }
  ix.pages.forEach((p, i) => {
    const phys = hexField(p?.phys, `${what}: page ${i}`);
    if (phys % PAGE_SIZE !== 0) throw new SyntaxError(`${what}: page ${i} is not page-aligned`);
    const off = p?.offset;
    if (!Number.isInteger(off) || off < 0 || off % PAGE_SIZE !== 0 || off + PAGE_SIZE > binBytes) {
      throw new SyntaxError(
        `${what}: page ${i}: offset ${off} is outside ${EXPORT_FILES.tracker} (${binBytes} bytes)`,
      );
    }
  });
  return ix as TrackerIndex;
}

/** One sub-tree as the successor finds it. */
export interface InspectedSubtree {
  /** Node name. */
  name: string;
  /** The blob's address, or null when `kho_retrieve_subtree` failed. */
  phys: number | null;
  /** `blob-size` (kho-v3 on), or null. */
  size: number | null;
  /** `kho_retrieve_subtree`'s error, or null. */
  error: string | null;
  /** What the blob decodes to (DTS, the kexec-metadata fields, …), or why not. */
  decoded: string;
}

/** What {@link inspectHandover} found. */
export interface HandoverInspection {
  /** `export`: a kholab export; `debugfs`: only a `kho/out/` copy. */
  source: "export" | "debugfs";
  /** The profile the successor is (and where that came from). */
  profile: ProfileName;
  /** `export` (handover.json), `option`, or `compat` (guessed from the root FDT). */
  profileFrom: "export" | "option" | "compat";
  /** The handover record used. */
  handover: Handover;
  /** The root FDT as read: size, `fdt_check_full`'s verdict, its compatible, its DTS. */
  fdt: { bytes: number; check: string; compat: string | null; dts: string | null };
  /**
   * `kho_populate`: accepted (memory map, scratch areas), or the reason it refused (and, with
   * `strict`, the strict check that refused it).
   */
  populate:
    | { ok: true; mapPhys: number; scratch: ScratchArea[] }
    | { ok: false; reason: string; strictCheck: string | null };
  /** `kho_mem_retrieve`, or null when it did not run (`walkSkipped` says why). */
  retrieve: {
    ok: boolean;
    error: string | null;
    blocks: number;
    bytes: number;
    rejected: number;
    byOrder: Record<string, number>;
    /** Whether the kernel's own walk was replayed (the validating reader met an anomaly). */
    kernelReplay: boolean;
  } | null;
  /** The panic the kernel's walk ended in (an oops on a wild pointer, a lockup), or null. */
  panic: string | null;
  /** Why there was no walk. */
  walkSkipped: string | null;
  /** The sub-trees (empty when the handover was refused). */
  subtrees: InspectedSubtree[];
  /** The successor's kernel log of the inspection (its warnings and errors). */
  log: string[];
  /** Notes: from the export, and on what could not be placed. */
  notes: string[];
}

/** The value of a libfdt read, or null when libfdt fails. */
function libfdtOk<T>(f: () => T): T | null {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof FdtError)) throw e;
    return null;
  }
}

/** Guesses the profile from the root FDT's compat (6.16 – 6.19 share `kho-v1`). */
function profileFromCompat(fdt: Uint8Array, notes: string[]): ProfileName {
  // An FDT libfdt cannot read is judged by kho_populate below.
  const rd = libfdtOk(() => new FdtReader(fdt));
  const compat = (rd && libfdtOk(() => rd.getString(0, "compatible"))) ?? "";
  if (compat === KHO_FDT_COMPATIBLE_V1) {
    if (libfdtOk(() => rd?.getprop(0, KHO_FDT_ORDER_TABLE_PROP_NAME))) return "rfc-v1-order-table";
    notes.push("kho-v1 is shared by 6.16 – 6.19: read as kho-v1-6.19 (choose with --profile)");
    return "kho-v1-6.19";
  }
  const match = profileNames().map(getProfile).filter((p) => p.compat === compat);
  if (match.length > 1) {
    notes.push(
      `"${compat}" is shared by ${match.map((p) => p.name).join(", ")}: read as ${match[0].name}`,
    );
  }
  if (match.length === 0) {
    notes.push(`unknown compatible "${compat}": read as ${CURRENT_PROFILE}`);
    return CURRENT_PROFILE;
  }
  return match[0].name;
}

/** Writes `bytes` at `phys` when they fit in `mem`; else notes why they were left out. */
function place(
  mem: PhysicalMemory,
  phys: number,
  bytes: Uint8Array,
  what: string,
  notes: string[],
): void {
  if (bytes.length === 0) return;
  if (!Number.isSafeInteger(phys) || phys < 0 || phys + bytes.length > mem.sizeBytes) {
    notes.push(`${what} at ${hex(phys)} (+${bytes.length}) is outside the machine: not placed`);
    return;
  }
  mem.writeBytes(phys, bytes);
}

/** The decoded form of a sub-blob kholab knows, or a short description. */
function decodeBlob(name: string, blob: Uint8Array): string {
  if (
    blob.length >= 4 && new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0) === FDT_MAGIC
  ) {
    try {
      return toDts(blob, { annotate: nativePropertyNote });
    } catch (e) {
      if (!(e instanceof FdtError)) throw e;
      return `an FDT that does not parse: ${e.message}`;
    }
  }
  if (name === KHO_KEXEC_METADATA_NAME) {
    const r = readKexecMetadata(blob);
    return r.ok
      ? `kexec-metadata v${r.value.version}: previous release "${r.value.previousRelease}", ` +
        `kexec count ${r.value.kexecCount}`
      : `kexec-metadata rejected: ${r.reason}`;
  }
  if (name === LUO_KHO_ENTRY_NAME) {
    const r = readLuoSer(blob);
    return r.ok
      ? `${LUO_ABI_COMPATIBLE} luo_ser: liveupdate_num ${r.value.liveupdateNum}, sessions at ` +
        `${hex(r.value.sessionsPa)}, FLBs at ${hex(r.value.flbsPa)}`
      : `luo_ser rejected: ${r.message}`;
  }
  const head = [...blob.subarray(0, 32)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return `${blob.length} bytes, not an FDT; first bytes: ${head}`;
}

/** RAM for a debugfs-only folder: flat, up to the highest address the handover names. */
function assumedRam(addresses: number[]): RamRange[] {
  const top = Math.max(4 * 2 ** 30, ...addresses.filter(Number.isSafeInteger));
  return [{ start: 0, end: Math.ceil((top + 1) / SECTION_SIZE) * SECTION_SIZE, nid: 0 }];
}

/**
 * What a successor of the folder's handover would find (see the module). Never throws for the
 * kernel's bytes; `options.profile` overrides the export's (or picks one for a debugfs copy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Kernel } from "../boot/kernel.ts";
 * import { Machine } from "../machine/machine.ts";
 * import { collectHandoverExport } from "./handover_export.ts";
 * import { inspectHandover } from "./handover_inspect.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile: "kho-v4" });
 * k.kho.preserveFolio(k.buddy.folioAlloc(9)!);
 * const exp = collectHandoverExport(k);
 * const ins = inspectHandover(exp);
 * assert.ok(ins.populate.ok && ins.retrieve?.ok);
 * assert.equal(ins.retrieve!.blocks, exp.meta.tracker.walk.blocks);
 * // One flipped byte of the root FDT's magic: the kernel refuses the handover.
 * const fdt = exp.files.get("kho/out/fdt")!.slice();
 * fdt[0] ^= 0xff;
 * const bad = inspectHandover({ ...exp, files: new Map([...exp.files, ["kho/out/fdt", fdt]]) });
 * assert.ok(!bad.populate.ok && /FDT_ERR_BADMAGIC/.test(bad.populate.reason));
 * ```
 */
export function inspectHandover(
  folder: HandoverFolder,
  options: {
    profile?: ProfileName;
    /** kholab's strict successor (its extra checks on top of the kernel's). Default false. */
    strict?: boolean;
  } = {},
): HandoverInspection {
  const { meta, files } = folder;
  const notes = [...(meta?.notes ?? [])];
  const fdt = files.get(`${KHO_DEBUGFS_OUT}/fdt`) ?? new Uint8Array(0);
  const profileName = options.profile ?? meta?.profile ?? profileFromCompat(fdt, notes);
  const profile = getProfile(profileName);
  const profileFrom = options.profile ? "option" : meta ? "export" : "compat";

  // The scratch areas as debugfs prints them (checked against the array below).
  let debugfsScratch: ScratchArea[] | null = null;
  const sp = files.get(`${KHO_DEBUGFS_OUT}/scratch_phys`);
  const sl = files.get(`${KHO_DEBUGFS_OUT}/scratch_len`);
  if (sp && sl) {
    try {
      debugfsScratch = parseScratchDebugfs(
        new TextDecoder().decode(sp),
        new TextDecoder().decode(sl),
      );
    } catch (e) {
      notes.push(`scratch_phys/scratch_len: ${(e as Error).message}`);
    }
  }

  // The root FDT's own view of the tracker root and the sub-trees, for placing their bytes.
  let rd: FdtReader | null = null;
  let fdtCheck = "FDT_ERR_TRUNCATED";
  let compat: string | null = null;
  let dts: string | null = null;
  if (fdt.length > 0) {
    fdtCheck = checkFullVerdict(fdt);
    try {
      rd = new FdtReader(fdt);
      compat = rd.getString(0, "compatible");
      dts = toDts(fdt, { annotate: nativePropertyNote });
    } catch (e) {
      if (!(e instanceof FdtError)) throw e;
      rd = null;
    }
  }
  const blobs: { name: string; phys: number; bytes: Uint8Array }[] = [];
  if (rd !== null) {
    try {
      for (const off of rd.subnodes(0)) {
        const name = rd.getName(off);
        const phys = decodeKhoFdtU64(rd.getprop(off, profile.subtreeProp));
        const bytes = files.get(`${KHO_DEBUGFS_OUT}/sub_fdts/${name}`);
        if (phys !== null && bytes) blobs.push({ name, phys, bytes });
      }
    } catch (e) {
      if (!(e instanceof FdtError)) throw e; // a broken structure block: kho_populate judges it
    }
  }
  const mapFromFdt = libfdtOk(() => rd && decodeKhoFdtU64(rd.getprop(0, profile.memoryMapProp))) ??
    0;

  // The machine: the export's RAM, or flat RAM covering what the handover names.
  const scratchArray = files.get(EXPORT_FILES.scratch) ??
    (debugfsScratch ? encodeScratchArray(debugfsScratch) : new Uint8Array(0));
  const areas = debugfsScratch ?? [];
  const ram = meta
    ? meta.ram.map((r) => ({
      start: hexField(r.start, "ram"),
      end: hexField(r.end, "ram"),
      nid: r.nid,
    }))
    : assumedRam([
      ...areas.map((a) => a.addr + a.size),
      ...blobs.map((b) => b.phys + b.bytes.length),
      mapFromFdt + PAGE_SIZE,
    ]);
  let topology: Topology;
  try {
    topology = new Topology({
      ramBytes: ram.reduce((s, r) => s + r.end - r.start, 0),
      nodes: meta?.nodes ?? 1,
      ranges: ram,
    });
  } catch (e) {
    throw new SyntaxError(`${EXPORT_FILES.meta}: ram: ${(e as Error).message}`);
  }
  const mem = new PhysicalMemory(topology.endBytes);

  // The handover record: the export's, or one placed for a debugfs copy (FDT and scratch array
  // on pages no scratch area covers).
  let handover: Handover;
  const khoData = files.get(EXPORT_FILES.khoData);
  if (khoData) {
    if (khoData.length !== KHO_DATA_SIZE) {
      throw new SyntaxError(
        `${EXPORT_FILES.khoData}: ${khoData.length} bytes, not ${KHO_DATA_SIZE}`,
      );
    }
    handover = decodeKhoData(khoData);
  } else {
    const free = (after: number) => {
      let p = after;
      while (areas.some((a) => p < a.addr + a.size && a.addr < p + PAGE_SIZE)) p += PAGE_SIZE;
      return p;
    };
    const fdtPhys = free(LOW_RESERVED_BYTES);
    handover = {
      fdtPhys,
      fdtLen: KHO_FDT_SIZE,
      scratchPhys: free(fdtPhys + PAGE_SIZE),
      scratchLen: scratchArray.length,
    };
    notes.push(
      "debugfs does not show the handover record: the FDT and the scratch array were placed " +
        `at ${hex(handover.fdtPhys)} and ${hex(handover.scratchPhys)}`,
    );
  }

  // The bytes, back at their addresses.
  place(mem, handover.fdtPhys, fdt, "the root FDT", notes);
  place(mem, handover.scratchPhys, scratchArray, "the scratch array", notes);
  let trackerPlaced = false;
  const bin = files.get(EXPORT_FILES.tracker);
  const indexBytes = files.get(EXPORT_FILES.trackerIndex);
  if (bin && indexBytes) {
    const ix = parseIndex(indexBytes, bin.length);
    for (const p of ix.pages) {
      place(
        mem,
        hexField(p.phys, "page"),
        bin.subarray(p.offset, p.offset + PAGE_SIZE),
        "a tracker page",
        notes,
      );
    }
    trackerPlaced = true;
  }
  for (const b of blobs) place(mem, b.phys, b.bytes, `sub-tree "${b.name}"`, notes);
  if (debugfsScratch && files.has(EXPORT_FILES.scratch)) {
    const same = encodeScratchArray(debugfsScratch);
    if (same.length !== scratchArray.length || same.some((x, i) => x !== scratchArray[i])) {
      notes.push("scratch_phys/scratch_len differ from the scratch array the record points to");
    }
  }

  // The successor: kho_populate, kho_mem_retrieve, kho_retrieve_subtree.
  const log = new KernelLog();
  const r = validateHandover({
    mem,
    topology,
    profile,
    handover,
    forbidden: [{ addr: 0, size: LOW_RESERVED_BYTES }],
    strict: options.strict,
  });
  const result: HandoverInspection = {
    source: meta ? "export" : "debugfs",
    profile: profile.name,
    profileFrom,
    handover,
    fdt: { bytes: fdt.length, check: fdtCheck, compat, dts },
    populate: r.ok
      ? { ok: true, mapPhys: r.mapPhys, scratch: r.scratch }
      : { ok: false, reason: r.reason, strictCheck: r.strictCheck ?? null },
    retrieve: null,
    panic: null,
    walkSkipped: null,
    subtrees: [],
    log: [],
    notes,
  };
  if (!r.ok) {
    log.warning("KHO", `disabling KHO revival: ${r.reason}`);
    result.walkSkipped = "the handover was refused";
    result.log = logLines(log);
    return result;
  }
  log.info("KHO", `found kexec handover data (FDT ${hex(handover.fdtPhys)})`);
  const kin = new KhoIn(
    {
      mem,
      topology,
      memblock: new Memblock({ topology, log, faults: new FaultInjector() }),
      memmap: new Memmap(),
      log,
    },
    profile,
    handover.fdtPhys,
    r,
  );
  if (!trackerPlaced) {
    result.walkSkipped = "the kernel's debugfs does not show the tracker's pages: no walk";
  } else {
    const byOrder: Record<string, number> = {};
    const reader = walkIncoming(profile.tracker, {
      mem,
      rootPhys: r.mapPhys,
      isRam: (p, n) => topology.isRam(p, n),
      log: new KernelLog(),
      counters: new TrackerCounters(),
    }, (_phys, order) => {
      byOrder[order] = (byOrder[order] ?? 0) + 1;
      return 0;
    });
    try {
      const st = kin.memRetrieve({ strict: options.strict });
      result.retrieve = {
        ok: st.ok,
        error: st.error ?? null,
        blocks: st.blocks,
        bytes: st.bytes,
        rejected: st.rejected,
        // Per order from the validating reader, when it walked the whole tree.
        byOrder: reader.ok ? byOrder : {},
        kernelReplay: st.kernelReplay,
      };
    } catch (e) {
      // The kernel's walk faulted or locked up on the bytes: its verdict is the panic.
      if (!(e instanceof KernelPanic || e instanceof KhoHangError)) throw e;
      result.panic = e.message;
    }
  }
  if (result.panic === null && (kin.isKhoBoot || !trackerPlaced)) {
    let names: string[] = [];
    try {
      names = kin.subtreeNames();
    } catch (e) {
      if (!(e instanceof FdtError)) throw e;
      notes.push(`sub-trees: ${e.message}`);
    }
    for (const name of names) {
      try {
        const t = kin.retrieveSubtree(name);
        const size = t.size ?? null;
        let len = size ?? PAGE_SIZE;
        if (size === null && mem.contains(t.phys, 8)) {
          const head = mem.readBytes(t.phys, 8);
          const dv = new DataView(head.buffer);
          if (dv.getUint32(0) === FDT_MAGIC) len = dv.getUint32(4);
        }
        len = Math.min(len, INSPECT_LIMITS.debugfs.maxBytes);
        const blob = mem.contains(t.phys, len) ? mem.readBytes(t.phys, len) : null;
        result.subtrees.push({
          name,
          phys: t.phys,
          size,
          error: null,
          decoded: blob === null
            ? `${hex(t.phys)}+${len} is outside the machine`
            : decodeBlob(name, blob),
        });
      } catch (e) {
        if (!(e instanceof KhoError)) throw e;
        result.subtrees.push({ name, phys: null, size: null, error: e.message, decoded: "" });
      }
    }
  }
  result.log = logLines(log);
  return result;
}

/** The warnings and errors of the inspection's kernel log, as dmesg prints them. */
function logLines(log: KernelLog): string[] {
  return log.entries().filter((e) => e.level !== "info").map((e) =>
    e.prefix ? `${e.prefix}: ${e.text}` : e.text
  );
}

/** The inspection as text. */
export function inspectionText(i: HandoverInspection, dir: string): string {
  const lines = [
    `inspect ${dir}: ${
      i.source === "export" ? "a kholab export" : "a debugfs copy (kho/out only)"
    }` +
    `, read as ${i.profile} (${
      i.profileFrom === "compat"
        ? "from its compat"
        : i.profileFrom === "option"
        ? "--profile"
        : "the export's profile"
    })`,
    `handover record: FDT ${hex(i.handover.fdtPhys)}+${hex(i.handover.fdtLen)}, scratch array ` +
    `${hex(i.handover.scratchPhys)}+${hex(i.handover.scratchLen)}`,
    `root FDT: ${i.fdt.bytes} bytes, fdt_check_full ${i.fdt.check}, compatible ${
      i.fdt.compat === null ? "(unreadable)" : `"${i.fdt.compat}"`
    }`,
  ];
  if (i.populate.ok) {
    lines.push(
      `kho_populate: accepted; tracker root ${
        hex(i.populate.mapPhys)
      }, ${i.populate.scratch.length} scratch area(s): ` +
        i.populate.scratch.map((a) => `${hex(a.addr)}+${formatSize(a.size)}`).join(", "),
    );
  } else lines.push(`kho_populate: refused: ${i.populate.reason} (disabling KHO revival)`);
  if (i.retrieve) {
    const orders = Object.entries(i.retrieve.byOrder).map(([o, n]) => `${n}×order ${o}`).join(", ");
    lines.push(
      i.retrieve.ok
        ? `kho_mem_retrieve: ${i.retrieve.blocks} blocks, ${
          formatSize(i.retrieve.bytes)
        } reserved, ` +
          `${i.retrieve.rejected} rejected${orders ? ` (${orders})` : ""}`
        : `kho_mem_retrieve: walk aborted: ${i.retrieve.error} after ${i.retrieve.blocks} blocks ` +
          "(disabling KHO revival)",
    );
  } else if (i.panic) lines.push(`kho_mem_retrieve: ${i.panic}`);
  else if (i.walkSkipped) lines.push(`kho_mem_retrieve: not run: ${i.walkSkipped}`);
  if (i.subtrees.length) lines.push(`sub-trees (${i.subtrees.length}):`);
  for (const t of i.subtrees) {
    if (t.error) {
      lines.push(`  ${t.name}: kho_retrieve_subtree: ${t.error}`);
      continue;
    }
    lines.push(`  ${t.name} at ${hex(t.phys!)}${t.size === null ? "" : `, blob-size ${t.size}`}:`);
    lines.push(...t.decoded.split("\n").map((l) => `    ${l}`));
  }
  if (i.log.length) lines.push("successor log:", ...i.log.map((l) => `  ${l}`));
  if (i.notes.length) lines.push("notes:", ...i.notes.map((n) => `  ${n}`));
  return lines.join("\n");
}
