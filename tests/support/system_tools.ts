/**
 * Tests that need a system tool (dtc, /usr/bin/python3 with libfdt, chromium, jupyter, tmux,
 * cc) call {@link requireTool}: when the tool is missing the test is skipped with a printed
 * reason, unless `KHOLAB_REQUIRE_TOOLS=1`, in which case it fails.
 *
 * @module
 */

const cache = new Map<string, string | null>();

/** Probes a tool by running a command; returns null if it works, else the reason. */
function probe(name: string, cmd: string, args: string[]): string | null {
  const key = `${name}`;
  if (cache.has(key)) return cache.get(key)!;
  let reason: string | null = null;
  try {
    const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
    if (!out.success) {
      reason = `${name}: '${cmd} ${args.join(" ")}' failed: ${
        new TextDecoder().decode(out.stderr).trim().split("\n").pop()
      }`;
    }
  } catch (e) {
    reason = `${name}: ${cmd} not runnable (${(e as Error).message})`;
  }
  cache.set(key, reason);
  return reason;
}

/** The system tools tests can ask for. */
export const TOOLS = {
  dtc: () => probe("dtc", "dtc", ["--version"]),
  libfdt: () => probe("python3-libfdt", "/usr/bin/python3", ["-c", "import libfdt"]),
  cc: () => probe("cc", "cc", ["--version"]),
  tmux: () => probe("tmux", "tmux", ["-V"]),
  chromium: () => probe("chromium", "/usr/bin/chromium", ["--version"]),
  jupyter: () => probe("jupyter", "/usr/bin/python3", ["-c", "import nbclient, nbformat"]),
} as const;

/** Whether missing tools must fail tests instead of skipping them. */
export const REQUIRE_TOOLS = Deno.env.get("KHOLAB_REQUIRE_TOOLS") === "1";

/**
 * Returns true if all the tools are available. Otherwise prints why and returns false (the
 * caller returns early, i.e. the test is skipped), or throws when KHOLAB_REQUIRE_TOOLS=1.
 */
export function requireTool(...names: (keyof typeof TOOLS)[]): boolean {
  for (const n of names) {
    const reason = TOOLS[n]();
    if (reason !== null) {
      if (REQUIRE_TOOLS) throw new Error(`required system tool missing: ${reason}`);
      console.log(`SKIPPED (system tool missing): ${reason}`);
      return false;
    }
  }
  return true;
}

/** Whether a tool is available (no printing, no failing). */
export function hasTool(name: keyof typeof TOOLS): boolean {
  return TOOLS[name]() === null;
}

/**
 * Absolute path of the shared folder: `../shared` beside the repository, or
 * `$KHOLAB_SHARED_DIR` (for a git worktree that does not sit beside it).
 */
export const SHARED_DIR = (() => {
  const env = Deno.env.get("KHOLAB_SHARED_DIR");
  if (env) return env.endsWith("/") ? env : env + "/";
  return new URL("../../../shared/", import.meta.url).pathname;
})();

/** Path of the byte-exact FDT oracle. */
export const FDT_ORACLE = SHARED_DIR + "oracles/fdt_oracle.py";
