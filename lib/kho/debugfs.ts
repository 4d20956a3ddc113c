/**
 * The outgoing half of KHO's debugfs (`CONFIG_KEXEC_HANDOVER_DEBUGFS`, kho-facts §1.1): what
 * `/sys/kernel/debug/kho/out/` shows of a kernel's handover, file for file, so an export of a
 * simulated handover (`lib/scenario/handover_export.ts`) can be compared with a real machine's
 * with `diff` and `dtc`. From `kernel/liveupdate/kexec_handover_debugfs.c` (`torvalds/linux`
 * @ `062dd306d99cc2e02f761124e064e6a3735e27b0`) and its 6.16 form inside
 * `kernel/kexec_handover.c` (S-6.16c):
 *
 * | file                     | content                                                                 |
 * | ------------------------ | ----------------------------------------------------------------------- |
 * | `kho/out/scratch_phys`   | one `0x%llx\n` per entry of `kho_scratch[]`: the area's address          |
 * | `kho/out/scratch_len`    | one `0x%llx\n` per entry: the area's size                                |
 * | `kho/out/fdt`            | the root FDT, `fdt_totalsize` bytes                                      |
 * | `kho/out/sub_fdts/NAME`  | each sub-tree's blob: `fdt_totalsize` of it (6.16 – 7.0), `blob-size` (7.1 on) |
 * | `kho/out/finalize`       | 6.16 – 6.19 only: `0\n` or `1\n` (kho-facts §3.4)                        |
 *
 * When the files exist follows the generation: 6.16 and 6.18 add `fdt` and every
 * `sub_fdts/NAME` at finalize (the tree is built then, kho-facts §3.3); 6.19 on keep the root
 * FDT from `kho_init` (kho-facts §8.2); RFC v1 closes its tree at kexec. One difference is
 * kept out of the files on purpose, and reported: from 7.0 `kho_init` creates the `fdt` blob
 * with the size the tree had then and never updates it, so a real machine's `kho/out/fdt`
 * stops at the kho_init size once sub-trees were added (and `kho_init` returns before creating
 * it on a KHO boot), S-7.0c. The export writes the whole tree, which is what the successor
 * reads.
 *
 * @module
 */

import type { PhysicalMemory } from "../machine/physmem.ts";
import { formatSize, hex } from "../units.ts";
import { FDT_MAGIC } from "./fdt/format.ts";
import type { KhoOut } from "./preserve.ts";
import type { ScratchArea } from "./abi/asm_generic_kexec_handover.ts";

/** Largest sub-tree blob written (a header's `fdt_totalsize` can be anything). */
export const SUBTREE_EXPORT_MAX_BYTES = 16 * 2 ** 20;

/** Where the outgoing files live under the debugfs mount point. */
export const KHO_DEBUGFS_OUT = "kho/out";

/** One debugfs file: its path under the mount point and its bytes. */
export interface DebugfsFile {
  /** Path under the debugfs mount point, e.g. `kho/out/fdt`. */
  readonly path: string;
  /** Content. */
  readonly bytes: Uint8Array;
}

/** `scratch_phys` and `scratch_len` as the kernel prints them: one `0x%llx` line per area. */
export function scratchDebugfsText(areas: readonly ScratchArea[]): { phys: string; len: string } {
  return {
    phys: areas.map((a) => `${hex(a.addr)}\n`).join(""),
    len: areas.map((a) => `${hex(a.size)}\n`).join(""),
  };
}

/**
 * Parses `scratch_phys` and `scratch_len` back into areas (the same count of `0x…` lines in
 * each); throws SyntaxError naming the first line that is not one.
 */
export function parseScratchDebugfs(phys: string, len: string): ScratchArea[] {
  const lines = (text: string, name: string) =>
    text.split("\n").filter((l, i, all) => l !== "" || i < all.length - 1).map((l, i) => {
      if (!/^0x[0-9a-f]{1,16}$/.test(l)) {
        throw new SyntaxError(`${name}:${i + 1}: expected 0x%llx, found "${l.slice(0, 40)}"`);
      }
      const v = Number.parseInt(l.slice(2), 16);
      if (!Number.isSafeInteger(v)) throw new SyntaxError(`${name}:${i + 1}: ${l} is too large`);
      return v;
    });
  const addrs = lines(phys, "scratch_phys"), sizes = lines(len, "scratch_len");
  if (addrs.length !== sizes.length) {
    throw new SyntaxError(
      `scratch_phys has ${addrs.length} areas, scratch_len ${sizes.length}`,
    );
  }
  return addrs.map((addr, i) => ({ addr, size: sizes[i] }));
}

/** What {@link khoOutDebugfs} shows. */
export interface KhoOutDebugfs {
  /** The files, in a stable order. */
  readonly files: DebugfsFile[];
  /** What a real machine's debugfs would show differently, or why a file is missing. */
  readonly notes: string[];
}

/** Whether `bytes` start with the FDT magic. */
function isFdt(bytes: Uint8Array): boolean {
  return bytes.length >= 4 &&
    new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) === FDT_MAGIC;
}

/**
 * The files of `/sys/kernel/debug/kho/out/` for a kernel's outgoing KHO state, now. Reads the
 * root FDT and the sub-tree blobs from `mem`; `khoBoot` says the kernel was booted by KHO
 * (noted where that changes what a real debugfs shows).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Kernel } from "../boot/kernel.ts";
 * import { Machine } from "../machine/machine.ts";
 * import { khoOutDebugfs } from "./debugfs.ts";
 * const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 32 }), { profile: "kho-v4" });
 * const { files } = khoOutDebugfs(k.kho.out!, k.machine.mem);
 * assert.deepEqual(files.map((f) => f.path), [
 *   "kho/out/scratch_phys", "kho/out/scratch_len", "kho/out/fdt", "kho/out/sub_fdts/kexec-metadata",
 * ]);
 * ```
 */
export function khoOutDebugfs(
  out: KhoOut,
  mem: PhysicalMemory,
  options: { khoBoot?: boolean } = {},
): KhoOutDebugfs {
  const profile = out.profile;
  const files: DebugfsFile[] = [];
  const notes: string[] = [];
  const enc = new TextEncoder();
  const scratch = scratchDebugfsText(out.scratch);
  files.push({ path: `${KHO_DEBUGFS_OUT}/scratch_phys`, bytes: enc.encode(scratch.phys) });
  files.push({ path: `${KHO_DEBUGFS_OUT}/scratch_len`, bytes: enc.encode(scratch.len) });
  if (profile.finalize !== "none") {
    files.push({
      path: `${KHO_DEBUGFS_OUT}/finalize`,
      bytes: enc.encode(`${out.finalized ? 1 : 0}\n`),
    });
  }
  const root = out.root.bytes();
  if (root.length === 0) {
    notes.push(
      profile.fdtStyle === "sw-finalize"
        ? `${profile.name} builds its root FDT at finalize: no kho/out/fdt before it`
        : `${profile.name} closes its root FDT at kexec (kho_commit_fdt): no kho/out/fdt before it`,
    );
    return { files, notes };
  }
  files.push({ path: `${KHO_DEBUGFS_OUT}/fdt`, bytes: root });
  if (profile.finalize === "none" && profile.fdtStyle === "rw" && options.khoBoot) {
    notes.push(
      `a real ${profile.name} kernel booted by KHO has no kho/out/fdt: kho_init returns before ` +
        "creating it (S-7.0c); the tree written here is what it would hand over",
    );
  } else if (
    profile.finalize === "none" && profile.fdtStyle === "rw" && out.subtrees().length > 0
  ) {
    notes.push(
      `a real ${profile.name} kernel gives kho/out/fdt the size the tree had when kho_init ` +
        "created the file and never updates it: sub-trees added later leave the real file " +
        `shorter than the ${root.length} bytes written here (S-7.0c)`,
    );
  }
  for (const s of out.subtrees()) {
    if (s.name.includes("/") || s.name === "." || s.name === "..") {
      notes.push(`sub-tree "${s.name}" cannot be a debugfs file name: left out`);
      continue;
    }
    let size = s.size;
    if (!profile.blobSize) {
      const head = mem.readBytes(s.phys, 8);
      if (isFdt(head)) {
        size = new DataView(head.buffer, head.byteOffset, 8).getUint32(4); // fdt_totalsize
        if (size > SUBTREE_EXPORT_MAX_BYTES) {
          notes.push(
            `sub-tree "${s.name}": fdt_totalsize ${size} cut to ${SUBTREE_EXPORT_MAX_BYTES}`,
          );
          size = SUBTREE_EXPORT_MAX_BYTES;
        }
      } else {
        notes.push(
          `sub-tree "${s.name}" is not an FDT: ${profile.name} sizes sub_fdts/${s.name} with ` +
            `fdt_totalsize, so a real kernel would show garbage; ${formatSize(s.size)} written`,
        );
      }
    }
    files.push({
      path: `${KHO_DEBUGFS_OUT}/sub_fdts/${s.name}`,
      bytes: mem.readBytes(s.phys, size),
    });
  }
  return { files, notes };
}
