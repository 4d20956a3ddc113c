/**
 * The base handovers of the `handover` fuzz target: for every profile of the default set
 * (`PROFILE_NAMES`) and a few small machine variants, a first kernel preserves one object of
 * every client kind — folios, page ranges, vmalloc buffers (one of two chunks), memfd files
 * through LUO with an FLB, the test_kho module's data, a sub-tree blob, a `reserve_mem=`
 * region — writes the scenario manifest and runs the kexec path up to the handover record.
 * The memory at that moment is the base every input starts from (a copy per input).
 *
 * The base also knows where the successor reads: one run of the successor over the unchanged
 * base through a recording view of memory notes every byte range read, labelled with the
 * structure it belongs to (the root FDT, the scratch array, the tracker's pages, each sub-tree
 * blob) or else with the client step that read it (a LUO session block, a `memfd_luo_ser`, a
 * vmalloc chunk, the records behind it, a manifest chunk…). Mutations aim at those ranges;
 * content that is only hashed or summed (folio bytes) is not recorded.
 *
 * Bases are built lazily, once per process, and are deterministic.
 *
 * @module
 */

import { Kernel, type KernelModule, type KernelOptions } from "../../lib/boot/kernel.ts";
import { kernelKexec } from "../../lib/boot/kexec.ts";
import type { BootHandoff } from "../../lib/boot/options.ts";
import { memfdCreate } from "../../lib/clients/memfd.ts";
import { MEMFD_LUO_MODULE, memfdLuoHandler } from "../../lib/clients/memfd_luo.ts";
import { KernelLog } from "../../lib/kernel/dmesg.ts";
import { KernelOops } from "../../lib/kernel/oops.ts";
import { decodeKhoFdtU64, KHO_SUB_TREE_SIZE_PROP_NAME } from "../../lib/kho/abi/kexec_handover.ts";
import { FdtReader } from "../../lib/kho/fdt/reader.ts";
import { getProfile, PROFILE_NAMES, type ProfileName } from "../../lib/kho/profiles.ts";
import { TrackerCounters } from "../../lib/kho/trackers/counters.ts";
import { trackerPagesRead } from "../../lib/kho/trackers/pages_read.ts";
import type { FlbOpArgs, LiveUpdateFlb } from "../../lib/luo/luo_flb.ts";
import { Machine } from "../../lib/machine/machine.ts";
import type { PhysicalMemory } from "../../lib/machine/physmem.ts";
import type { Topology } from "../../lib/machine/topology.ts";
import { KhoError } from "../../lib/errors.ts";
import { collectHandoverExport, type HandoverExport } from "../../lib/scenario/handover_export.ts";
import { writeScenarioManifest } from "../../lib/scenario/manifest.ts";
import type { ManifestSection } from "../../lib/scenario/manifest_abi.ts";
import {
  FolioSet,
  MemfdSet,
  RangeSet,
  Tally,
  TestKhoWorkload,
  VmallocSet,
} from "../../lib/scenario/workloads.ts";
import { MiB, PAGE_SIZE } from "../../lib/units.ts";

/** A machine and configuration a base is built on. */
export interface BaseVariant {
  /** Short name. */
  readonly id: string;
  /** RAM. */
  readonly ramBytes: number;
  /** NUMA nodes. */
  readonly nodes: number;
  /** kholab's strict successor (else the kernel's verdict). */
  readonly strict: boolean;
}

/** The variants, small machines so an input stays fast. */
export const BASE_VARIANTS: readonly BaseVariant[] = [
  { id: "512M", ramBytes: 512 * MiB, nodes: 1, strict: false },
  { id: "1G-2n", ramBytes: 1024 * MiB, nodes: 2, strict: false },
  { id: "512M-strict", ramBytes: 512 * MiB, nodes: 1, strict: true },
];

/** Every base: the profiles of the default set × the variants. */
export const BASE_KEYS: readonly { profile: ProfileName; variant: BaseVariant }[] = PROFILE_NAMES
  .flatMap((profile) => BASE_VARIANTS.map((variant) => ({ profile, variant })));

/** A byte range the successor reads, and what it is. */
export interface ReadRange {
  /** Structure or client step (`root-fdt`, `tracker`, `sub:LUO`, `memfd-retrieve`, …). */
  readonly label: string;
  /** Physical address. */
  readonly phys: number;
  /** Bytes. */
  readonly len: number;
}

/** A `reserve_mem=` region of the first kernel. */
export interface BaseRegion {
  /** Its name. */
  readonly name: string;
  /** Where it is. */
  readonly start: number;
}

/** A built base. */
export interface HandoverBase {
  /** `profile/variant`. */
  readonly name: string;
  /** The profile of both kernels. */
  readonly profile: ProfileName;
  /** The machine variant. */
  readonly variant: BaseVariant;
  /** RAM layout (shared, never changed). */
  readonly topology: Topology;
  /** Memory right after the kexec path (never written: inputs work on copies). */
  readonly mem: PhysicalMemory;
  /** What the first kernel handed over. */
  readonly handoff: BootHandoff;
  /** The successor's boot options. */
  readonly options: KernelOptions;
  /** What the manifest holds (the first kernel's sections). */
  readonly sections: readonly ManifestSection[];
  /** Whether the test_kho module saved its data. */
  readonly testKho: boolean;
  /** The handover exported as `kholab export --handover` writes it (null where impossible). */
  readonly exported: HandoverExport | null;
  /** `reserve_mem=` regions handed over. */
  readonly regions: readonly BaseRegion[];
  /** Byte ranges the successor reads, labelled (filled once the base is built). */
  ranges: ReadRange[];
  /** The labels of {@link HandoverBase.ranges}, in first-seen order. */
  labels: string[];
}

// ------------------------------------------------------------------ the FLB of the base

/** Compatible of the fuzz target's FLB (linked to the memfd handler). */
export const FUZZ_FLB_COMPAT = "kholab-fuzz-flb-v1";
const FLB_TEXT = "kholab fuzz FLB state";

const flbOfKernel = new WeakMap<Kernel, LiveUpdateFlb>();

/** The fuzz FLB registered in `kernel`, or null. */
export function fuzzFlbOf(kernel: Kernel): LiveUpdateFlb | null {
  return flbOfKernel.get(kernel) ?? null;
}

/**
 * A small FLB user: preserve puts a text in a preserved 64-byte block and hands its address
 * over; retrieve reads it back (a page fault oops where the address is not RAM, as
 * `phys_to_virt` would give) and frees it.
 */
function fuzzFlb(kernel: Kernel): LiveUpdateFlb {
  return {
    compatible: FUZZ_FLB_COMPAT,
    preserve(args: FlbOpArgs) {
      const pa = kernel.kho.allocPreserve(64);
      kernel.machine.mem.writeBytes(pa, new TextEncoder().encode(FLB_TEXT));
      args.data = pa;
      args.obj = FLB_TEXT;
    },
    unpreserve(args: FlbOpArgs) {
      kernel.kho.unpreserveFree(args.data);
    },
    retrieve(args: FlbOpArgs) {
      const { topology, mem } = kernel.machine;
      if (!Number.isSafeInteger(args.data) || !topology.isRam(args.data, FLB_TEXT.length)) {
        throw new KernelOops(
          { address: args.data, fn: "fuzz_flb_retrieve", structure: "FLB state" },
          kernel.log,
        );
      }
      args.obj = new TextDecoder().decode(mem.readBytes(args.data, FLB_TEXT.length));
      kernel.kho.restoreFree(args.data);
    },
    finish() {},
  };
}

/** Registers the fuzz FLB on the memfd handler (after `memfd_luo_init`). */
export const FUZZ_FLB_MODULE: KernelModule = Object.freeze({
  name: "fuzz_flb_init",
  init(kernel: Kernel): void {
    const fh = memfdLuoHandler(kernel);
    if (fh === null || kernel.liveupdate.flb === null) return;
    const flb = fuzzFlb(kernel);
    kernel.liveupdate.registerFlb(fh, flb);
    flbOfKernel.set(kernel, flb);
  },
});

// ------------------------------------------------------------------ building

/** The `reserve_mem=` regions every base asks for. */
const RESERVE_MEM = "reserve_mem=1M:4K:trace reserve_mem=64K:64K:oops";

function bootOptions(profile: ProfileName, variant: BaseVariant): KernelOptions {
  const luo = getProfile(profile).luo !== null;
  return {
    profile,
    cmdline: `kho=on ${RESERVE_MEM}${luo ? " liveupdate=on" : ""}`,
    modules: luo ? [MEMFD_LUO_MODULE, FUZZ_FLB_MODULE] : [],
    poison: false,
    config: { strict: variant.strict },
  };
}

/** Fills a page-aligned range with a pattern and returns it. */
function filled(kernel: Kernel, pfn: number, pages: number, seed: number): number {
  kernel.machine.mem.fill(pfn * PAGE_SIZE, pages * PAGE_SIZE, { pattern: seed });
  return pfn;
}

/**
 * Builds one base: the first kernel, its objects, the manifest, the kexec path. Throws if the
 * first kernel cannot preserve what every base needs (a bug of the fuzzer or of kholab).
 */
export function buildBase(profile: ProfileName, variant: BaseVariant): HandoverBase {
  const p = getProfile(profile);
  const machine = new Machine({ ramBytes: variant.ramBytes, nodes: variant.nodes });
  const options = bootOptions(profile, variant);
  const k1 = Kernel.coldBoot(machine, options);
  const tally = new Tally();
  const alloc = (order: number) => {
    const pfn = k1.buddy.folioAlloc(order, { nid: variant.nodes - 1 });
    if (pfn === null) throw new Error(`internal: fuzz base ${profile}: no order-${order} folio`);
    return pfn;
  };
  const small = [0, 1, 2].map((i) => filled(k1, alloc(0), 1, 100 + i));
  const big = [filled(k1, alloc(3), 8, 200)];
  const range = filled(k1, alloc(4), 16, 300);
  const vm = [k1.vmalloc.vmalloc(3 * PAGE_SIZE)!, k1.vmalloc.vmalloc(513 * PAGE_SIZE)!];
  vm.forEach((a, i) => k1.vmalloc.fill(a, 3 * PAGE_SIZE, { pattern: 400 + i }));
  const files = [];
  if (p.luo !== null) {
    const a = memfdCreate(k1, "vm0");
    a.fill(0, 5 * PAGE_SIZE + 100, { pattern: 500 });
    a.pos = 77;
    const b = memfdCreate(k1, "vm1", { folioOrder: 9 });
    b.fill(0, 2 * 2 * MiB, { pattern: 501 });
    files.push(a, b);
  }
  const workloads = [
    new FolioSet("pages", k1, Float64Array.from(small), 0),
    new FolioSet("folios", k1, Float64Array.from(big), 3),
    new RangeSet("dma", k1, Float64Array.from([range]), 16),
    new VmallocSet("vbuf", k1, vm, 3 * PAGE_SIZE),
    new MemfdSet("guests", files),
    new TestKhoWorkload(128 * 1024, 7),
  ];
  const sections: ManifestSection[] = workloads.map((w) => w.preserve(k1, tally));
  // A sub-tree blob of its own, as a client of the generation publishes one.
  const blobPfn = filled(k1, alloc(0), 1, 600);
  k1.kho.preserveFolio(blobPfn);
  k1.kho.registerSubtree("fuzzblob", blobPfn * PAGE_SIZE, 200);
  sections.push({
    kind: "subtree",
    name: "fuzzblob",
    attempted: 1,
    blob: {
      phys: blobPfn * PAGE_SIZE,
      size: 200,
      hash: machine.mem.hash64(blobPfn * PAGE_SIZE, 200),
    },
  });
  for (const r of k1.reserveMem.regions) {
    sections.push({
      kind: "reserve_mem",
      name: r.name,
      attempted: 1,
      blob: { phys: r.start, size: r.size, hash: machine.mem.hash64(r.start, r.size) },
    });
  }
  // Only what the generation lacks may fail (6.16's test_kho needs kho_preserve_vmalloc).
  if ([...tally.errors.keys()].some((k) => !k.endsWith(":EOPNOTSUPP"))) {
    throw new Error(`internal: fuzz base ${profile}: preserve failed: ${tally.errorText()}`);
  }
  writeScenarioManifest(k1, sections);
  const ctx = kernelKexec({
    machine,
    log: k1.log,
    profile: k1.profile,
    kho: k1.kho,
    liveupdate: k1.liveupdate,
    options,
  });
  if (ctx.handover === null) throw new Error(`internal: fuzz base ${profile}: no handover`);
  let exported: HandoverExport | null = null;
  try {
    exported = collectHandoverExport(k1, { handover: ctx.handover });
  } catch (e) {
    if (!(e instanceof KhoError)) throw e;
  }
  return {
    name: `${profile}/${variant.id}`,
    profile,
    variant,
    topology: machine.topology,
    mem: machine.mem,
    handoff: { handover: ctx.handover, imagePhys: ctx.imagePhys, bootIndex: 1 },
    options,
    sections,
    testKho: sections.some((s) => s.kind === "test_kho" && s.saved),
    exported,
    regions: k1.reserveMem.regions.map((r) => ({ name: r.name, start: r.start })),
    ranges: [],
    labels: [],
  };
}

// ------------------------------------------------------------------ what the successor reads

/** Methods of PhysicalMemory that read bytes at an address, and their width (0: `len`). */
const PHYS_READS: Record<string, number> = {
  readU8: 1,
  readU16: 2,
  readU32: 4,
  readU64: 8,
  readU64Parts: 8,
  readU64Big: 8,
  readBytes: 0,
};
/** Methods that read a whole page by frame number. */
const PFN_READS = new Set(["materializedPage", "isZeroPage", "pageView"]);

/** A view of `mem` that reports every range read to `note`. */
export function rangeRecordingMemory(
  mem: PhysicalMemory,
  note: (phys: number, len: number) => void,
): PhysicalMemory {
  return new Proxy(mem, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      if (PFN_READS.has(prop)) {
        return (pfn: number, ...rest: unknown[]) => {
          note(pfn * PAGE_SIZE, PAGE_SIZE);
          return value.call(target, pfn, ...rest);
        };
      }
      if (prop in PHYS_READS) {
        const width = PHYS_READS[prop];
        return (phys: number, len?: number, ...rest: unknown[]) => {
          note(phys, width || (len as number));
          return value.call(target, phys, len, ...rest);
        };
      }
      return value.bind(target);
    },
  });
}

/** Known structures of a handover: label → ranges (for naming what a read range is). */
export function knownStructures(base: HandoverBase): ReadRange[] {
  const out: ReadRange[] = [];
  const h = base.handoff.handover!;
  const mem = base.mem;
  const prof = getProfile(base.profile);
  out.push({ label: "scratch-array", phys: h.scratchPhys, len: h.scratchLen });
  let rd: FdtReader;
  try {
    rd = new FdtReader(mem.readBytes(h.fdtPhys, PAGE_SIZE));
  } catch {
    return out;
  }
  out.push({ label: "root-fdt", phys: h.fdtPhys, len: rd.header("totalsize") });
  try {
    const map = decodeKhoFdtU64(rd.getprop(0, prof.memoryMapProp));
    if (map !== null && map !== 0) {
      const pages = trackerPagesRead(prof.tracker, {
        mem,
        rootPhys: map,
        isRam: (a, n) => base.topology.isRam(a, n),
        log: new KernelLog(),
        counters: new TrackerCounters(),
      }).pages;
      for (const phys of pages) out.push({ label: "tracker", phys, len: PAGE_SIZE });
    }
  } catch { /* no map in this generation's FDT */ }
  for (const off of rd.subnodes(0)) {
    const name = rd.getName(off);
    const phys = decodeKhoFdtU64(rd.getprop(off, prof.subtreeProp));
    if (phys === null) continue;
    let len = decodeKhoFdtU64(rd.getprop(off, KHO_SUB_TREE_SIZE_PROP_NAME)) ?? 0;
    if (len === 0) {
      try {
        len = new FdtReader(mem.readBytes(phys, PAGE_SIZE)).header("totalsize");
      } catch {
        len = PAGE_SIZE;
      }
    }
    out.push({ label: `sub:${name}`, phys, len: Math.min(len, 1 << 20) });
  }
  return out;
}

/** Merges overlapping or adjacent ranges of the same label. */
export function mergeRanges(ranges: readonly ReadRange[]): ReadRange[] {
  const byLabel = new Map<string, ReadRange[]>();
  for (const r of ranges) {
    if (!(r.len > 0) || !Number.isSafeInteger(r.phys)) continue;
    const list = byLabel.get(r.label) ?? [];
    list.push(r);
    byLabel.set(r.label, list);
  }
  const out: ReadRange[] = [];
  for (const list of byLabel.values()) {
    list.sort((a, b) => a.phys - b.phys);
    let cur = { ...list[0] };
    for (const r of list.slice(1)) {
      if (r.phys <= cur.phys + cur.len) {
        cur.len = Math.max(cur.len, r.phys + r.len - cur.phys);
      } else {
        out.push(cur);
        cur = { ...r };
      }
    }
    out.push(cur);
  }
  return out;
}

/**
 * Labels the ranges read by a recorded drive: the part of each that lies in a known
 * structure takes its label; the rest keeps the step's. Ranges of structures the walk never
 * read stay out.
 */
export function labelRanges(
  read: readonly ReadRange[],
  known: readonly ReadRange[],
): ReadRange[] {
  const out: ReadRange[] = [];
  for (const r of read) {
    let pieces: { phys: number; len: number }[] = [{ phys: r.phys, len: r.len }];
    for (const k of known) {
      const next: { phys: number; len: number }[] = [];
      for (const p of pieces) {
        const a = Math.max(p.phys, k.phys), b = Math.min(p.phys + p.len, k.phys + k.len);
        if (a >= b) {
          next.push(p);
          continue;
        }
        out.push({ label: k.label, phys: a, len: b - a });
        if (a > p.phys) next.push({ phys: p.phys, len: a - p.phys });
        if (p.phys + p.len > b) next.push({ phys: b, len: p.phys + p.len - b });
      }
      pieces = next;
    }
    for (const p of pieces) out.push({ label: r.label, ...p });
  }
  return mergeRanges(out);
}
