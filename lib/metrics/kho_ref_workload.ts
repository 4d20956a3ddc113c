/**
 * The tracker workloads of ../shared/bench-ref (kho_ref.c), performed through kholab's
 * engine: preserve through the kernel API on a machine large enough, hand over, then walk
 * the handed-over tracker bytes with the successor's reader and the checksum callback
 * (Σ phys XOR order mod 2^64), and finally boot the successor for real (reserve + stamp).
 * The command line runs it as `kholab bench` (see `deno task kholab bench --help`).
 *
 * pfn_i = (i * 0x9E3779B1) mod S; hyper adds G order-18 blocks at S + k * 2^18. The walk
 * skips the blocks KHO preserves for itself (the root FDT page, kexec-metadata), which the
 * successor identifies from the handover, so the checksum equals kho_ref's. The walk is the
 * successor's (`kho_mem_retrieve` uses the same batched reader): blocks arrive a leaf or a
 * bitmap per call.
 *
 * JIT warm-up: like any JavaScript benchmark harness (`deno bench` included), the runner
 * first performs the workload up to the walk `warmup` times (default 3) on fresh machines,
 * untimed, and then times one more run; its successor then boots from the handed-over bytes
 * `warmup` times untimed and once timed (after the walk was timed: the boot calls the same
 * walker with its own callback); `--warmup 0` measures a cold process. The wall clock is handed
 * in by the caller (`cli.ts` passes `wallClock`); with a `ManualClock` every timing is 0 and
 * the run is deterministic.
 *
 * @module
 */

import { Kernel } from "../boot/kernel.ts";
import { Machine } from "../machine/machine.ts";
import {
  bootBytes,
  estimate,
  HOST_BYTES,
  type MemoryEstimate,
  sumEstimates,
  term,
  trackerBytes,
} from "../machine/host_memory.ts";
import type { Clock } from "../rng.ts";
import { GiB, PAGE_SIZE } from "../units.ts";
import { walkIncomingBatched } from "../kho/trackers/registry.ts";
import { TrackerCounters } from "../kho/trackers/counters.ts";
import { FdtReader } from "../kho/fdt/reader.ts";
import { decodeKhoFdtU64, KHO_FDT_SIZE } from "../kho/abi/kexec_handover.ts";
import type { ProfileName } from "../kho/profiles.ts";

/** Workload parameters, as kho_ref takes them. */
export interface WorkloadOptions {
  /** radix, xarray or hyper. */
  workload: "radix" | "xarray" | "hyper";
  /** Order-0 pages preserved. */
  pages: number;
  /** Span of the pfns (a power of two). */
  spanPages: number;
  /** hyper: order-18 blocks after the span. */
  giantFolios?: number;
  /** xarray: 512 (6.16) or 4096 (6.19). */
  bitmapBytes?: 512 | 4096;
  /** Untimed runs before the timed one (JIT warm-up). Default 3. */
  warmup?: number;
  /** The clock the timings read. */
  clock: Clock;
}

/** What a run prints (kho_ref's keys plus engine extras). */
export interface WorkloadResult {
  engine: "kholab";
  workload: string;
  profile: ProfileName;
  pages: number;
  span_pages: number;
  giant_folios?: number;
  bitmap_bytes?: number;
  preserve_ns_per_item: number;
  serialize_ns_total?: number;
  walk_ns_per_item: number;
  tracker_pages?: number;
  bitmaps?: number;
  walked: number;
  checksum: string;
  successor_boot_ms: number;
  warmup_runs: number;
}

/**
 * Host memory one run of the workload is estimated to need (`../machine/host_memory.ts`):
 * the machine booted twice (this kernel and the successor), the pfn list and the span's
 * marks, the tracker's pages and, per preserved block, the successor's reservation.
 */
export function workloadMemory(
  o: Pick<WorkloadOptions, "pages" | "spanPages" | "giantFolios" | "workload">,
): MemoryEstimate {
  const giant = o.workload === "hyper" ? o.giantFolios ?? 0 : 0;
  const ramBytes = o.spanPages * PAGE_SIZE + giant * GiB + 8 * GiB;
  const boot = bootBytes(ramBytes);
  return sumEstimates(
    estimate(2 * boot.bytes, `2 × ${boot.detail}`),
    term(o.pages, 8 + HOST_BYTES.preservedBlock, "preserved pages"),
    term(o.spanPages, 1, "span pages"),
    trackerBytes(o.pages, o.spanPages),
  );
}

/** Runs one workload through the engine: `warmup` untimed runs, then the timed one. */
export function runWorkload(o: WorkloadOptions): WorkloadResult {
  const S = o.spanPages;
  if (!(S > 0) || 2 ** Math.round(Math.log2(S)) !== S) {
    throw new RangeError("span must be a power of two");
  }
  if (o.pages > S) throw new RangeError("pages > span");
  const warmup = o.warmup ?? 3;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new RangeError("warmup: 0, 1, 2, …");
  const pfns = new Float64Array(o.pages);
  for (let i = 0; i < o.pages; i++) pfns[i] = Number((BigInt(i) * 0x9E3779B1n) & BigInt(S - 1));
  for (let w = 0; w < warmup; w++) runOnce(o, pfns, 0);
  return { ...runOnce(o, pfns, warmup + 1), warmup_runs: warmup };
}

/** Σ (phys XOR order) mod 2^64 as two double accumulators (kept as doubles: -0 start). */
const ACC = new Float64Array(2);

function carry(): void {
  const c = Math.floor(ACC[0] / 4294967296);
  ACC[0] -= c * 4294967296;
  ACC[1] = (ACC[1] + c) % 4294967296;
}

/** `kho_preserve_pages(pfn, 1)` for each pfn (a small function: optimised on its own). */
function preservePagesEach(kho: Kernel["kho"], pfns: Float64Array): void {
  for (let i = 0; i < pfns.length; i++) kho.preservePages(pfns[i], 1);
}

/** 6.16: `kho_preserve_phys(pfn << PAGE_SHIFT, PAGE_SIZE)` for each pfn. */
function preservePhysEach(kho: Kernel["kho"], pfns: Float64Array): void {
  for (let i = 0; i < pfns.length; i++) kho.preservePhys(pfns[i] * PAGE_SIZE, PAGE_SIZE);
}

/** One run; `boots` successor boots after the walk, the last one timed (0: none). */
function runOnce(
  o: WorkloadOptions,
  pfns: Float64Array,
  boots: number,
): Omit<WorkloadResult, "warmup_runs"> {
  const S = o.spanPages;
  const clock = o.clock;
  const giant = o.workload === "hyper" ? o.giantFolios ?? 0 : 0;
  const profile: ProfileName = o.workload === "xarray"
    ? ((o.bitmapBytes ?? 4096) === 512 ? "kho-v1-6.16" : "kho-v1-6.19")
    : "kho-v4";
  // Room for the span, the giant blocks and the kernel (scratch lies above all of them).
  const spanBytes = S * PAGE_SIZE + giant * GiB;
  const ramBytes = Math.ceil((spanBytes + 8 * GiB) / GiB) * GiB;
  const machine = new Machine({ ramBytes, nodes: 1 });
  const k = Kernel.coldBoot(machine, {
    profile,
    poison: false,
    memmapBytesPerPage: 0,
    cmdline: "kho_scratch=0,1G,256M",
  });
  const kho = k.kho;
  const n = o.pages;
  const t0 = clock.nowMs();
  if (profile === "kho-v1-6.16") preservePhysEach(kho, pfns);
  else preservePagesEach(kho, pfns);
  for (let g = 0; g < giant; g++) kho.preservePages(S + g * 2 ** 18, 2 ** 18);
  const t1 = clock.nowMs();
  let serializeNs: number | undefined;
  if (k.profile.finalize !== "none") {
    const ts = clock.nowMs();
    kho.finalize();
    serializeNs = (clock.nowMs() - ts) * 1e6;
  }
  const tracker = kho.out!.tracker;
  const trackerPages = tracker.metadataPages();
  const bitmaps = (tracker as { bitmapCount?: () => number }).bitmapCount?.();
  const filled = kho.fillKimage({ imageBytes: 64 << 20, mem: machine.mem });

  // The successor's reader on the handed-over bytes: root from the FDT, KHO's own blocks
  // (root FDT page, kexec-metadata) identified from the FDT and left out of the checksum.
  const fdt = new FdtReader(machine.mem.readBytes(filled.handover.fdtPhys, KHO_FDT_SIZE));
  const root = decodeKhoFdtU64(fdt.getprop(0, k.profile.memoryMapProp));
  if (root === null) {
    throw new Error(`internal: ${k.profile.memoryMapProp} missing in the root FDT`);
  }
  const own = new Set<number>([filled.handover.fdtPhys]);
  for (const off of fdt.subnodes(0)) {
    const v = decodeKhoFdtU64(fdt.getprop(off, k.profile.subtreeProp));
    if (v !== null) own.add(v);
  }
  // A page KHO uses for itself may also be a workload pfn (preserving it twice is a no-op).
  const inSpan = new Uint8Array(S);
  for (let i = 0; i < n; i++) inSpan[pfns[i]] = 1;
  for (const p of [...own]) if (p / PAGE_SIZE < S && inSpan[p / PAGE_SIZE]) own.delete(p);
  if (own.size > 3) throw new Error(`internal: unexpected KHO-owned blocks: ${own.size}`);
  const [own0, own1, own2] = [...own, -1, -1, -1];
  const counters = new TrackerCounters();
  ACC[0] = -0; // -0: keeps V8's feedback on doubles (the sums leave the int32 range)
  ACC[1] = -0;
  let skipped = 0;
  const t2 = clock.nowMs();
  // The successor's walk (as kho_mem_retrieve does it): a leaf or bitmap per call.
  const r = walkIncomingBatched(k.profile.tracker, {
    mem: machine.mem,
    rootPhys: root,
    isRam: (p, s) => machine.topology.isRam(p, s),
    log: k.log,
    counters,
  }, (phys, count, order) => {
    let lo = ACC[0], hi = ACC[1];
    // A batch is ascending: look for KHO's own blocks only when one falls inside it.
    const first = phys[0], last = phys[count - 1];
    const mayOwn = (own0 >= first && own0 <= last) || (own1 >= first && own1 <= last) ||
      (own2 >= first && own2 <= last);
    for (let i = 0; i < count; i++) {
      const p = phys[i];
      if (mayOwn && (p === own0 || p === own1 || p === own2)) {
        skipped++;
        continue;
      }
      lo += ((p >>> 0) ^ order) >>> 0;
      hi += Math.floor(p / 4294967296);
    }
    ACC[0] = lo; // ≤ 2^15 terms below 2^32 each per call: lo stays below 2^53 before the carry
    ACC[1] = hi;
    if (lo >= 2 ** 52) carry();
    return 0;
  });
  const t3 = clock.nowMs();
  if (!r.ok) throw new Error(`internal: walk failed: ${r.error}`);
  carry();
  const lo = ACC[0], hi = ACC[1] % 4294967296;
  const items = n + giant;
  let bootMs = 0;
  for (let b = 0; b < boots; b++) {
    const t4 = clock.nowMs();
    const k2 = Kernel.bootFrom(machine, {
      handover: filled.handover,
      imagePhys: filled.imagePhys,
      bootIndex: 1,
    }, {
      profile,
      poison: false,
      memmapBytesPerPage: 0,
    });
    bootMs = clock.nowMs() - t4;
    if (!k2.kho.isKhoBoot) {
      throw new Error(`internal: successor refused: ${k2.boot.revivalRefused}`);
    }
  }
  const checksum = "0x" + hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
  return {
    engine: "kholab",
    workload: o.workload,
    profile,
    pages: n,
    span_pages: S,
    ...(o.workload === "hyper" ? { giant_folios: giant } : {}),
    ...(o.workload === "xarray"
      ? { bitmap_bytes: o.bitmapBytes ?? 4096, bitmaps }
      : { tracker_pages: trackerPages }),
    preserve_ns_per_item: +((t1 - t0) * 1e6 / items).toFixed(2),
    ...(serializeNs !== undefined ? { serialize_ns_total: Math.round(serializeNs) } : {}),
    walk_ns_per_item: +((t3 - t2) * 1e6 / items).toFixed(2),
    walked: counters.callbacks - skipped,
    checksum,
    successor_boot_ms: Math.round(bootMs),
  };
}
