/**
 * Tests that need a system tool (dtc, /usr/bin/python3 with or without libfdt, chromium,
 * jupyter, tmux, cc, sshd and ssh, GNU parallel, rsync, Slurm and munge) or the byte-exact FDT oracle (`oracles/fdt_oracle.py` in the shared folder) call
 * {@link requireTool}: when the tool is missing the test is skipped with a printed reason,
 * unless `KHOLAB_REQUIRE_TOOLS=1`, in which case it fails.
 *
 * The shared folder is `../shared` beside the repository; `KHOLAB_SHARED_DIR` overrides it
 * (for a git worktree that does not sit beside it).
 *
 * @module
 */

const cache = new Map<string, string | null>();

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

/** Folder of the team's facts sheets (kho-facts.md, …; see docs/sources.md). */
export const FACTS_DIR = SHARED_DIR + "reference/";

/** Probes a file the tests read; returns null if it is there, else the reason. */
function probeFile(name: string, path: string): string | null {
  if (cache.has(name)) return cache.get(name)!;
  let reason: string | null = null;
  try {
    if (!Deno.statSync(path).isFile) reason = `${name}: ${path} is not a file`;
  } catch (e) {
    reason = `${name}: ${path} not found (${(e as Error).name}; set KHOLAB_SHARED_DIR)`;
  }
  cache.set(name, reason);
  return reason;
}

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
  python3: () => probe("python3", "/usr/bin/python3", ["--version"]),
  cc: () => probe("cc", "cc", ["--version"]),
  tmux: () => probe("tmux", "tmux", ["-V"]),
  chromium: () => probe("chromium", "/usr/bin/chromium", ["--version"]),
  jupyter: () => probe("jupyter", "/usr/bin/python3", ["-c", "import nbclient, nbformat"]),
  sshd: () => probeFile("openssh-server", "/usr/sbin/sshd"),
  ssh: () => probe("openssh-client", "ssh", ["-V"]),
  parallel: () => probe("parallel", "parallel", ["--version"]),
  rsync: () => probe("rsync", "rsync", ["--version"]),
  slurm: () =>
    probe("slurm-wlm (slurmctld)", "/usr/sbin/slurmctld", ["-V"]) ??
      probe("slurm-wlm (slurmd)", "/usr/sbin/slurmd", ["-V"]) ??
      probeFile("slurm-wlm (sbatch)", "/usr/bin/sbatch"),
  munge: () => probe("munge", "/usr/sbin/munged", ["--version"]),
  oracle: () => probeFile("fdt oracle", FDT_ORACLE),
  facts: () => probeFile("facts sheets", FACTS_DIR + "kho-facts.md"),
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
