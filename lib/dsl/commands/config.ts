/**
 * Configuration commands: `seed`, `machine`, `profile`, `kernel` — what the next boot (or
 * kexec) looks like. Each body takes the {@link Session} and registers its undo.
 *
 * @module
 */

import type { BootConfig } from "../../boot/options.ts";
import { CURRENT_PROFILE, type ProfileName } from "../../kho/profiles.ts";
import { MiB, SECTION_SIZE } from "../../units.ts";
import { CommandError } from "../errors.ts";
import { defaultMachineConfig, type MachineConfig, type Session } from "../session.ts";
import { type CommandSpec, flagOption } from "../spec.ts";
import type { FaultSpec } from "../values.ts";

/**
 * `machine …`: powers on a new machine. Nothing of the previous machine carries over: options
 * not given take their defaults (not the previous machine's), the profile is the default
 * again (a `profile` given before or pending for a kexec is dropped), the kernel settings
 * (`kernel …`, `fail=`) are cleared. What carries over is the script's: seed, variables,
 * measured rows, counters.
 */
export function machineCommand(s: Session, o: Record<string, unknown>): void {
  const c: MachineConfig = defaultMachineConfig();
  if (o.ram !== undefined) c.ramBytes = o.ram as number;
  if (o.nodes !== undefined) c.nodes = o.nodes as number;
  if (o.headroom !== undefined) c.headroomBytes = o.headroom as number;
  if (o.memmap !== undefined) c.memmapBytesPerPage = o.memmap as number;
  if (o.poison !== undefined) c.poison = o.poison as boolean;
  if (!(c.nodes >= 1 && c.nodes <= 64)) {
    throw new CommandError("EINVAL", `nodes=${c.nodes}: 1..64`);
  }
  if (c.ramBytes < 256 * MiB) {
    throw new CommandError("EINVAL", `ram=${c.ramBytes}: at least 256M`);
  }
  if (c.memmapBytesPerPage < 0 || c.memmapBytesPerPage > 256) {
    throw new CommandError("EINVAL", `memmap=${c.memmapBytesPerPage}: 0..256 bytes per page`);
  }
  const total = s.checkMachineSize(c);
  if (total / c.nodes < SECTION_SIZE) {
    throw new CommandError("EINVAL", `${c.nodes} nodes need at least 128 MiB each`);
  }
  s.assign({
    machineConfig: c,
    machine: null,
    kernel: null,
    objects: new Map(),
    bootProfile: CURRENT_PROFILE,
    nextProfile: null,
    kernelConfig: { reserveMem: [], extra: "" },
    pendingFaults: null,
  });
}

/** `profile NAME`: the first kernel's before boot, the next kexec's after. */
export function profileCommand(s: Session, name: ProfileName): void {
  if (s.kernel === null) s.assign({ bootProfile: name });
  else {
    s.assign({ nextProfile: name });
    s.print(`profile ${name} takes effect at the next kexec`);
  }
}

/** The kernel's configuration flags of `kernel …`: option, its `BootConfig` field, doc. */
const CONFIG_FLAGS: readonly [string, keyof BootConfig, string][] = [
  ["debug", "khoDebug", "CONFIG_KEXEC_HANDOVER_DEBUG (debug=off)"],
  [
    "deferred_init",
    "deferredStructPageInit",
    "CONFIG_DEFERRED_STRUCT_PAGE_INIT (kho_get_preserved_page profiles)",
  ],
  ["crash", "crashKernel", "a kdump kernel; kexec loads a crash image"],
  ["strict", "strict", "kholab's strict handover checks"],
];

/** `kernel …`: command-line words for the next boot; `fail=` arms fault injection. */
export function kernelCommand(s: Session, o: Record<string, unknown>): void {
  const k = { ...s.kernelConfig, reserveMem: [...s.kernelConfig.reserveMem] };
  if (o.kho !== undefined) k.kho = o.kho as boolean;
  if (o.kho_scratch !== undefined) k.khoScratch = o.kho_scratch as string;
  if (o.liveupdate !== undefined) k.liveupdate = o.liveupdate as boolean;
  if (o.reserve_mem !== undefined) k.reserveMem.push(...(o.reserve_mem as string[]));
  if (o.cmdline !== undefined) k.extra = o.cmdline as string;
  for (const [opt, key] of CONFIG_FLAGS) {
    if (o[opt] !== undefined) k.config = { ...k.config, [key]: o[opt] as boolean };
  }
  s.assign({ kernelConfig: k });
  if (o.fail !== undefined) {
    const f = o.fail as FaultSpec;
    if (s.kernel) {
      if (f === null) s.kernel.faults.disarm();
      else s.kernel.faults.arm(f);
    } else s.assign({ pendingFaults: f });
  }
}

/** The configuration commands. */
export const CONFIG_COMMANDS: readonly CommandSpec[] = [
  {
    name: "seed",
    summary: "seed the random generator (fills, page choices)",
    positionals: [{ name: "N", kind: "int", doc: "seed" }],
    options: [],
    run: (s, inv) => s.setSeed(inv.args[0] as number),
  },
  {
    name: "machine",
    summary: "power on a new machine (drops the current one and its settings)",
    details: "Nothing carries over from the previous machine: options not given take their\n" +
      "defaults, the profile is the default again and kernel settings (kernel …, fail=) are\n" +
      "cleared; give profile and kernel after machine. Seed, variables, measured rows and\n" +
      "counters are the script's and stay.\n" +
      "ram= is the memory for workloads; the session adds headroom= for the kernel\n" +
      "(default ram/128, at least 256M: 1T gets 8G, as bench/hyper_scale.ts) and does not\n" +
      "charge struct pages to memblock unless memmap=64 (bytes per page) is given, so a\n" +
      "1 TiB machine can give 1008 GiB to guests and keep 16 GiB for the hypervisor.",
    positionals: [],
    options: [
      { name: "ram", kind: "size", doc: "RAM for workloads", default: "4G" },
      { name: "nodes", kind: "int", doc: "NUMA nodes", default: "1" },
      { name: "headroom", kind: "size", doc: "extra RAM for the kernel", default: "ram/128" },
      { name: "memmap", kind: "int", doc: "struct page bytes charged per page", default: "0" },
      {
        name: "poison",
        kind: "bool",
        doc: "poison memory handed to the allocator",
        default: "on",
      },
    ],
    run: (s, inv) => machineCommand(s, inv.opts),
  },
  {
    name: "profile",
    summary: "KHO ABI profile (before boot: the first kernel; after: the next kexec)",
    positionals: [{ name: "PROFILE", kind: "profile", doc: "profile name" }],
    options: [],
    run: (s, inv) => profileCommand(s, inv.args[0] as ProfileName),
  },
  {
    name: "kernel",
    summary: "kernel boot parameters (before boot: first kernel; after: next kexec)",
    details: "fail= arms allocation fault injection in the running kernel (or right after the\n" +
      "first boot); a kexec'd kernel starts with fault injection off. reserve_mem= regions\n" +
      "are reserved at boot (revived from the previous kernel when it handed them over),\n" +
      "listed as objects of kind reserve_mem (verify NAME, NAME.revived, show reserve_mem).\n" +
      "debug, deferred_init, crash and strict are the kernel's configuration (flags;\n" +
      "name=off turns one off). Kernels boot with liveupdate=on and the memfd LUO handler\n" +
      "(memfd_luo_init), as a host that live-updates does; liveupdate=off leaves LUO out\n" +
      "(memfd objects cannot cross).",
    positionals: [],
    options: [
      { name: "kho", kind: "bool", doc: "kho=on|off", default: "on" },
      { name: "kho_scratch", kind: "scratch", doc: "scratch sizing", default: "200%" },
      {
        name: "liveupdate",
        kind: "bool",
        doc: "liveupdate=on|off (LUO, 6.19 on: memfd objects cross in its sessions)",
        default: "on",
      },
      {
        name: "reserve_mem",
        kind: "reservemem",
        doc: "reserve_mem=SIZE:ALIGN:NAME",
        repeatable: true,
      },
      { name: "fail", kind: "fault", doc: "fault injection, e.g. nth:3 or prob:0.01,seed:5" },
      { name: "cmdline", kind: "string", doc: "extra command-line words" },
      ...CONFIG_FLAGS.map(([name, , doc]) => flagOption(name, doc)),
    ],
    run: (s, inv) => kernelCommand(s, inv.opts),
  },
];
