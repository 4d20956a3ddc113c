/**
 * Object commands: creating objects (`NAME = KIND …`), `preserve`, `unpreserve`, `split`,
 * `free` and `subtree`. Each is all or nothing on the {@link Session}: what a failing command
 * did is undone (as far as the generation can; the diagnostic says what stays).
 *
 * @module
 */

import { KhoError } from "../../errors.ts";
import { CommandError } from "../errors.ts";
import { checkPreserve, preserveObject, unpreserveObject } from "../object_kho.ts";
import {
  createObject,
  createSubtree,
  freeObject,
  removeSubtree,
  splitObject,
} from "../object_memory.ts";
import { describe, type DslObject } from "../objects.ts";
import { preserveEstimate, splitEstimate } from "../memory_estimates.ts";
import type { Session } from "../session.ts";
import { type CommandSpec, flagOption, type Invocation, type PositionalSpec } from "../spec.ts";
import type { FillSpecDsl } from "../values.ts";

/** `NAME = KIND …`. */
export function createCommand(
  s: Session,
  kind: string,
  name: string,
  opts: Record<string, unknown>,
): void {
  const kernel = s.ensureKernel();
  const existing = s.objects.get(name);
  if (existing) {
    throw new CommandError(
      "EEXIST",
      `object "${name}" exists (${existing.kind}, ${existing.state}); free it first`,
    );
  }
  const obj = createObject(kernel, s.rng(), {
    name,
    kind,
    opts,
    tick: () => s.checkpoint(`${name} = ${kind}`),
  });
  s.objects.set(name, obj);
  s.onUndo(() => {
    s.objects.delete(name);
    freeObject(kernel, obj);
  });
  s.print(`${name}: ${describe(obj)}`);
}

/** EINVAL for an object the kernel owns (a `reserve_mem=` region). */
function notRegion(o: DslObject, what: string): void {
  if (o.state === "reserved") {
    throw new CommandError(
      "EINVAL",
      `${o.name} is a reserve_mem= region: the kernel ${what} it`,
      o.name,
    );
  }
}

/** `preserve NAME…`: all or nothing (as far as the generation can unpreserve). */
export function preserveCommand(s: Session, names: string[]): void {
  const kernel = s.ensureKernel();
  const objs = s.distinct(names);
  for (const o of objs) {
    notRegion(o, "preserves and revives");
    if (o.state === "preserved") {
      throw new CommandError("EEXIST", `${o.name} is already preserved`, o.name);
    }
    if (o.state === "incoming") {
      throw new CommandError("EINVAL", `${o.name} is incoming: restore it first`, o.name);
    }
    if (o.kind === "subtree") {
      throw new CommandError("EINVAL", `${o.name} is a sub-tree: use "subtree NAME"`, o.name);
    }
    if (o.failedBlocks() > 0) {
      throw new CommandError("EINVAL", `${o.name} lost blocks in the handover`, o.name);
    }
  }
  // Every API first: a generation that lacks one refuses before anything is preserved.
  for (const o of objs) {
    try {
      checkPreserve(kernel, o);
    } catch (e) {
      if (!(e instanceof KhoError)) throw e;
      throw new CommandError(e.code, e.message.slice(e.code.length + 2), o.name);
    }
  }
  for (const o of objs) {
    const prev = o.state;
    preserveObject(kernel, o);
    s.onUndo(() => unpreserveObject(kernel, o, prev));
  }
}

/** `unpreserve NAME…`. */
export function unpreserveCommand(s: Session, names: string[]): void {
  const kernel = s.ensureKernel();
  const objs = s.distinct(names);
  for (const o of objs) {
    notRegion(o, "preserves");
    if (o.state !== "preserved") {
      throw new CommandError("EINVAL", `${o.name} is not preserved`, o.name);
    }
    if (o.kind === "subtree") {
      throw new CommandError(
        "EINVAL",
        `${o.name} is a sub-tree: use "subtree ${o.name} remove"`,
        o.name,
      );
    }
  }
  for (const o of objs) {
    unpreserveObject(kernel, o, o.restoredHere ? "restored" : "allocated");
    s.onUndo(() => preserveObject(kernel, o));
  }
}

/** `split NAME…`. */
export function splitCommand(s: Session, names: string[]): void {
  const kernel = s.ensureKernel();
  const objs = s.distinct(names);
  for (const o of objs) {
    if (o.kind !== "pages" || o.state === "reserved") {
      throw new CommandError(
        "EINVAL",
        `${o.name} is ${o.kind}: only pages objects are split`,
        o.name,
      );
    }
    if (o.state !== "allocated") {
      throw new CommandError("EBUSY", `${o.name} is ${o.state}`, o.name);
    }
    if (o.pool.length) {
      throw new CommandError("EINVAL", `${o.name} is order-0 pages already`, o.name);
    }
  }
  for (const o of objs) splitObject(kernel, o);
}

/** `free NAME…`. */
export function freeCommand(s: Session, names: string[]): void {
  const kernel = s.ensureKernel();
  const objs = s.distinct(names);
  for (const o of objs) {
    notRegion(o, "keeps");
    if (o.state === "preserved") {
      throw new CommandError("EBUSY", `${o.name} is preserved: unpreserve it first`, o.name);
    }
    if (o.state === "incoming") {
      throw new CommandError("EINVAL", `${o.name} is incoming: restore it first`, o.name);
    }
  }
  for (const o of objs) {
    freeObject(kernel, o);
    s.objects.delete(o.name);
  }
}

/** `subtree NAME [size=…] [remove]`. */
export function subtreeCommand(s: Session, name: string, o: Record<string, unknown>): void {
  const kernel = s.ensureKernel();
  if (o.remove === true) {
    const obj = s.object(name);
    if (obj.kind !== "subtree" || obj.state !== "preserved") {
      throw new CommandError("EINVAL", `${name} is not a sub-tree added in this kernel`);
    }
    removeSubtree(kernel, obj);
    s.objects.delete(name);
    return;
  }
  if (s.objects.has(name)) throw new CommandError("EEXIST", `object "${name}" exists`);
  if (!kernel.kho.enabled) throw new CommandError("EOPNOTSUPP", "KHO is not enabled");
  const obj = createSubtree(kernel, s.rng(), {
    name,
    size: (o.size as number | undefined) ?? 4096,
    fill: (o.fill as FillSpecDsl | undefined) ?? { kind: "random" },
  });
  s.objects.set(name, obj);
  s.onUndo(() => {
    s.objects.delete(name);
    removeSubtree(kernel, obj);
  });
}

/** The objects a command takes (`NAME…`). */
export const OBJECTS: PositionalSpec = {
  name: "OBJECT",
  kind: "object",
  doc: "object names",
  variadic: true,
};

/** The object names of an invocation of a command taking {@link OBJECTS}. */
export const names = (inv: Invocation): string[] => inv.args as string[];

/** Fill option shared by object kinds and `subtree`. */
export const FILL_OPTION = {
  name: "fill",
  kind: "fill",
  doc: "content written at creation (verified after kexec)",
  default: "random",
} as const;

/** The object commands. */
export const OBJECT_COMMANDS: readonly CommandSpec[] = [
  {
    name: "preserve",
    summary: "preserve objects for the next kernel (kho_preserve_folio / _pages / _vmalloc)",
    details: "All or nothing: when one block fails, everything this command preserved is\n" +
      "unpreserved again (where the generation has kho_unpreserve_*; the error says what\n" +
      "stays preserved where it has not). A generation without an API an object needs\n" +
      "(kho_preserve_vmalloc before 6.18; a memfd needs LUO, 6.19 on, and a shmem file)\n" +
      "refuses before anything is preserved. A memfd goes into a LUO session named like\n" +
      "the object (token 1); unpreserve closes the session.",
    positionals: [OBJECTS],
    options: [],
    run: (s, inv) => preserveCommand(s, names(inv)),
    estimate: (s, inv) => preserveEstimate(s, names(inv)),
  },
  {
    name: "unpreserve",
    summary: "undo preserve (kho_unpreserve_folio / _pages / _vmalloc)",
    positionals: [OBJECTS],
    options: [],
    run: (s, inv) => unpreserveCommand(s, names(inv)),
  },
  {
    name: "split",
    summary: "split high-order pages objects into order-0 pages (split_page)",
    positionals: [OBJECTS],
    options: [],
    run: (s, inv) => splitCommand(s, names(inv)),
    estimate: (s, inv) => splitEstimate(s, names(inv)),
  },
  {
    name: "free",
    summary: "free objects (they must not be preserved)",
    positionals: [OBJECTS],
    options: [],
    run: (s, inv) => freeCommand(s, names(inv)),
  },
  {
    name: "subtree",
    summary: "add (or remove) a KHO sub-tree: a preserved blob named in the root FDT",
    positionals: [{ name: "NAME", kind: "name", doc: "sub-tree and object name" }],
    options: [
      { name: "size", kind: "size", doc: "blob size (≤ 4M)", default: "4K" },
      FILL_OPTION,
      flagOption("remove", "remove the sub-tree and free its blob"),
    ],
    run: (s, inv) => subtreeCommand(s, inv.args[0] as string, inv.opts),
  },
];
