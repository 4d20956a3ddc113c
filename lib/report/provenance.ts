/**
 * What a reader needs to reproduce a run: the code revision (`git rev-parse HEAD`, with
 * `+dirty` when the work tree has changes; `unknown` without git) and the versions of Deno,
 * V8, TypeScript, Observable Plot, linkedom and kholab; and the digest of the sources that
 * identifies the code of a sweep's shards ({@link sourceDigest}).
 *
 * @module
 */

import { createHash } from "node:crypto";
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

/** The files whose bytes make kholab's rows: every file under lib/, and these at the top. */
const SOURCE_TOP_FILES = ["cli.ts", "mod.ts", "deno.json", "deno.lock"];

/** Relative paths of the files under `dir` (recursive), sorted. */
function filesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(root + dir)) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...filesUnder(root, rel));
    else if (e.isFile) out.push(rel);
  }
  return out.sort();
}

/**
 * The code version of a run, for shards of a sweep run on several machines: `sha256:` and the
 * SHA-256 of kholab's sources (every file under `lib/`, then `cli.ts`, `mod.ts`, `deno.json`,
 * `deno.lock`, each as its path, length and bytes) and then the bytes of the `designs` files
 * (the `--design` modules, by content: their paths differ between machines). Unlike
 * {@link codeRevision} it needs no git and tells two different uncommitted edits apart, so two
 * copies of the repository give the same digest exactly when their sources are the same.
 * `unknown` when kholab is not loaded from files.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sourceDigest } from "./provenance.ts";
 * assert.match(sourceDigest(), /^sha256:[0-9a-f]{64}$/);
 * assert.equal(sourceDigest(), sourceDigest());
 * ```
 */
export function sourceDigest(designs: readonly string[] = []): string {
  const dir = new URL("../../", import.meta.url);
  if (dir.protocol !== "file:") return "unknown";
  const root = decodeURIComponent(dir.pathname);
  const h = createHash("sha256");
  const add = (label: string, bytes: Uint8Array) => {
    h.update(`${label}\0${bytes.length}\0`);
    h.update(bytes);
  };
  for (const rel of [...filesUnder(root, "lib"), ...SOURCE_TOP_FILES]) {
    add(rel, Deno.readFileSync(root + rel));
  }
  for (const f of designs) add("design", Deno.readFileSync(f));
  return `sha256:${h.digest("hex")}`;
}
