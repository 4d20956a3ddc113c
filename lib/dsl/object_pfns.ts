/**
 * `NAME = pfns file=PATH`: the blocks of a real host's pfn list (`pfn order [node]` lines,
 * text or CSV, gzip accepted; `lib/scenario/pfn_list.ts`) as one object of the running
 * kernel, each block `2^order` pages at exactly its pfn. `preserve NAME` then preserves every
 * block as given — `kho_preserve_pages` (6.18 on) or `kho_preserve_phys` (6.16, RFC v1), whose
 * split of an aligned `2^order` range is that one block — and `kexec` hands them over in a
 * blocks section of the manifest.
 *
 * The list is read bounded (`lib/scenario/input_file.ts`), checked whole against the machine
 * (every bad line reported as `PATH:LINE:COL` with a caret; nothing is taken when one is bad),
 * then the blocks are taken: when no kernel runs yet, the first boot holds them
 * (`BootOptions.heldRanges`) so that the kernel's own memory goes elsewhere, as it did on the
 * host; in a running kernel they come out of the free lists, and a block the kernel uses is
 * reported at its line.
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import type { Kernel } from "../boot/kernel.ts";
import { InputFileError, PFN_LIST_LIMITS, readInputFile } from "../scenario/input_file.ts";
import {
  claimPfnBlocks,
  fixedConflicts,
  heldRangesOf,
  releaseHeldRanges,
} from "../scenario/pfn_claim.ts";
import {
  parsePfnList,
  type PfnList,
  pfnListDiagnostics,
  PfnListError,
} from "../scenario/pfn_list.ts";
import { formatSize, PAGE_SIZE } from "../units.ts";
import { CommandError } from "./errors.ts";
import { blockHashes, checkObjectName, fillBlocks, freeObject } from "./object_memory.ts";
import { describe, DslObject } from "./objects.ts";
import type { Session } from "./session.ts";
import { resolveScriptPath } from "./source_file.ts";
import type { FillSpecDsl } from "./values.ts";

/** Reads and parses a pfn list file; the language's errors for a file that cannot be read. */
export function readPfnList(path: string): { text: string; gzip: boolean } {
  try {
    const f = readInputFile(path, PFN_LIST_LIMITS);
    return { text: new TextDecoder().decode(f.bytes), gzip: f.gzip };
  } catch (e) {
    if (e instanceof InputFileError) throw new CommandError(e.code, e.message);
    throw e;
  }
}

/** EINVAL carrying every diagnostic of the list (bounded), as the language reports it. */
function listError(e: PfnListError): CommandError {
  return new CommandError("EINVAL", `${e.message}`);
}

/**
 * Creates the object `name` from the list at `file` (see the module). Throws CommandError
 * (EINVAL with the list's diagnostics; the file's errno) with nothing taken.
 */
export function createPfnsObject(
  s: Session,
  name: string,
  opts: {
    file: string;
    fill?: FillSpecDsl;
    script?: string;
    /** The list's text when the caller has it already (`file` then only names it). */
    source?: { text: string; gzip: boolean };
  },
): DslObject {
  try {
    checkObjectName(name);
  } catch (e) {
    if (e instanceof KhoError) throw new CommandError(e.code, e.message.replace(/^\w+: /, ""));
    throw e;
  }
  const existing = s.objects.get(name);
  if (existing) {
    throw new CommandError(
      "EEXIST",
      `object "${name}" exists (${existing.kind}, ${existing.state}); free it first`,
    );
  }
  const path = opts.source ? opts.file : resolveScriptPath(opts.file, opts.script);
  const { text, gzip } = opts.source ?? readPfnList(path);
  const parsed = parsePfnList(text, { file: path });
  const list = parsed.list;
  const fresh = s.kernel === null;
  const diags = pfnListDiagnostics(parsed, s.machineTopology());
  if (fresh) { for (const d of fixedConflicts(list)) diags.push(d); }
  diags.sort((a, b) => a.span.line - b.span.line || a.span.col - b.span.col);
  if (diags.length > 0) throw listError(new PfnListError(path, diags, text));
  if (list.pfns.length === 0) throw new CommandError("EINVAL", `${path}: no blocks in the list`);
  let kernel: Kernel;
  if (fresh) {
    const held = heldRangesOf(list);
    kernel = s.ensureKernel({ heldRanges: held });
    releaseHeldRanges(kernel, held);
  } else kernel = s.kernel!;
  const taken = claimPfnBlocks(kernel, list);
  if (taken.length > 0) throw listError(new PfnListError(path, taken, text));
  const obj = pfnsObject(kernel, name, list);
  s.objects.set(name, obj);
  s.onUndo(() => {
    s.objects.delete(name);
    freeObject(kernel, obj);
  });
  fillBlocks(kernel, s.rng(), opts.fill ?? { kind: "random" }, obj.phys, obj.pages);
  for (const h of blockHashes(kernel, obj.phys, obj.pages)) obj.hashes.push(h); // millions: no spread
  s.print(
    `${name}: ${describe(obj)} from ${path}${gzip ? " (gzip)" : ""}, ${list.pfns.length} line(s)`,
  );
  return obj;
}

/** The object of a claimed list (its hashes are added once the blocks are filled). */
function pfnsObject(kernel: Kernel, name: string, list: PfnList): DslObject {
  const phys = Array.from(list.pfns, (p) => p * PAGE_SIZE);
  const pages = Array.from(list.orders, (o) => 2 ** o);
  const bytes = pages.reduce((sum, p) => sum + p * PAGE_SIZE, 0);
  const obj = new DslObject({
    name,
    kind: "pfns",
    state: "allocated",
    phys,
    pages,
    hashes: [],
    bytes,
    order: list.orders.reduce((m, o) => Math.max(m, o), 0),
  });
  obj.split = true;
  kernel.log.info("kholab", `pfns ${name}: ${phys.length} blocks, ${formatSize(bytes)} taken`);
  return obj;
}
