/**
 * `export DIR`: the running kernel's outgoing handover written to a folder laid out like the
 * kernel's debugfs (`kho/out/fdt`, `kho/out/sub_fdts/NAME`, `scratch_phys`, `scratch_len`),
 * plus the tracker's pages with an index and the handover record under `kholab/`
 * (`lib/scenario/handover_export.ts`). Taken after preserving, before `kexec`: what debugfs
 * shows now; the record is planned as `kho_fill_kimage` would fill it, nothing is written to
 * memory. `kholab inspect DIR` reads it back as a successor would.
 *
 * @module
 */

import { collectHandoverExport, writeHandoverExport } from "../../scenario/handover_export.ts";
import { hostFsErrno } from "../../scenario/input_file.ts";
import { formatSize } from "../../units.ts";
import { CommandError } from "../errors.ts";
import { resolveScriptPath } from "../source_file.ts";
import type { Session } from "../session.ts";
import type { CommandSpec } from "../spec.ts";

/** `export DIR` (DIR beside the script when relative). */
export function exportCommand(s: Session, dir: string, script?: string): void {
  const kernel = s.ensureKernel();
  const exp = collectHandoverExport(kernel);
  const path = resolveScriptPath(dir, script);
  let written: string[];
  try {
    written = writeHandoverExport(path, exp);
  } catch (e) {
    // The host refused the write (no permission, a file where a folder goes, …).
    const code = hostFsErrno(e);
    if (code !== null) throw new CommandError(code, `${path}: ${(e as Error).message}`);
    throw e;
  }
  const t = exp.meta.tracker;
  s.print(
    `export ${path}: ${written.length} files; root FDT ${
      exp.files.get("kho/out/fdt")!.length
    } bytes, ${exp.meta.subtrees.length} sub-tree(s), tracker ${t.pages} page(s) (${
      formatSize(t.pages * 4096)
    }) holding ${t.walk.blocks} block(s)`,
  );
  for (const n of exp.meta.notes) s.print(`export: note: ${n}`);
}

/** The export command. */
export const EXPORT_COMMANDS: readonly CommandSpec[] = [
  {
    name: "export",
    summary: "write the outgoing handover like the kernel's debugfs (kho/out/…) + tracker pages",
    details: "DIR gets kho/out/fdt, kho/out/sub_fdts/NAME, kho/out/scratch_phys and\n" +
      "scratch_len as /sys/kernel/debug/kho/out shows them (compare with dtc -I dtb), and\n" +
      "kholab/ with the tracker's pages, their index, the scratch array and the handover\n" +
      "record. `kholab inspect DIR` decodes it as a successor would. Generations that build\n" +
      "their root FDT at finalize (6.16, 6.18) need `finalize` first; RFC v1 closes its tree\n" +
      "only at kexec (use `kholab export --handover DIR SCENARIO`).",
    positionals: [{
      name: "DIR",
      kind: "path",
      doc: "folder (created; relative: beside the script)",
    }],
    options: [],
    run: (s, inv) => exportCommand(s, inv.args[0] as string, inv.file),
  },
];
