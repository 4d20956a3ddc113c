/**
 * The repository's own files, for tests that check rules across the tree (doc examples,
 * source citations): paths relative to the repository root, sorted.
 */

/** The repository root (this file is tests/support/repo_files.ts). */
export const REPO_ROOT = new URL("../../", import.meta.url);

const SKIP_DIRS = new Set(["node_modules", ".git", ".out", "__snapshots__"]);

/**
 * Files under `dirs` (relative to the repository root; a file name is taken as is) whose
 * names end with one of `suffixes`, skipping node_modules, .git, .out and snapshots.
 */
export function repoFiles(dirs: readonly string[], suffixes: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const info = Deno.statSync(new URL(rel, REPO_ROOT));
    if (info.isFile) {
      if (suffixes.some((s) => rel.endsWith(s))) out.push(rel);
      return;
    }
    for (const e of Deno.readDirSync(new URL(rel, REPO_ROOT))) {
      if (e.isDirectory && SKIP_DIRS.has(e.name)) continue;
      walk(`${rel.replace(/\/$/, "")}/${e.name}`);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

/** A repository file's text. */
export function readRepoFile(rel: string): string {
  return Deno.readTextFileSync(new URL(rel, REPO_ROOT));
}
