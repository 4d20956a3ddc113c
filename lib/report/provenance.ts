/**
 * What a reader needs to reproduce a run: the code revision (`git rev-parse HEAD`, with
 * `+dirty` when the work tree has changes; `unknown` without git) and the versions of Deno,
 * V8, TypeScript, Observable Plot, linkedom and kholab.
 *
 * @module
 */

import { PLOT_VERSION } from "../plot/chart.ts";

/** The linkedom version the charts are rendered with (as pinned in deno.json). */
export const LINKEDOM_VERSION = "0.18.11";

/** The kholab package version (deno.json). */
export const KHOLAB_VERSION = "0.1.0";

/** Versions of everything that shapes a report. */
export interface Versions {
  /** kholab. */
  kholab: string;
  /** Deno. */
  deno: string;
  /** V8. */
  v8: string;
  /** TypeScript. */
  typescript: string;
  /** Observable Plot. */
  plot: string;
  /** linkedom. */
  linkedom: string;
}

/** The versions of this process. */
export function versions(): Versions {
  return {
    kholab: KHOLAB_VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    plot: PLOT_VERSION,
    linkedom: LINKEDOM_VERSION,
  };
}

function git(args: string[], cwd: string): string | null {
  try {
    const out = new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/**
 * The code revision of the repository holding kholab: the commit, plus `+dirty` when
 * tracked files have uncommitted changes; `unknown` when git or the repository is absent
 * (or running it is not permitted).
 */
export function codeRevision(): string {
  const dir = new URL("../../", import.meta.url);
  if (dir.protocol !== "file:") return "unknown";
  const cwd = decodeURIComponent(dir.pathname);
  const head = git(["rev-parse", "HEAD"], cwd)?.trim();
  if (!head) return "unknown";
  const status = git(["status", "--porcelain", "--untracked-files=no"], cwd);
  return status !== null && status.trim() !== "" ? `${head}+dirty` : head;
}
