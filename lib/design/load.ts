/**
 * Design modules: TypeScript files that call `defineTracker` / `defineProfile` when they are
 * imported. {@link loadDesign} imports one (a path or URL) and says what it registered; every
 * registration remembers the module it came from ({@link designOrigin}), so that a sweep's
 * Deno workers — separate threads with their own copies of every table — can load the same
 * files before running a point of a design's profile ({@link designModules}). Nothing but a
 * URL crosses to a worker.
 *
 * @module
 */

import { isBuiltinTrackerKind, trackerKinds } from "../kho/trackers/registry.ts";
import { getProfile, isBuiltinProfile, profileNames } from "../kho/profiles.ts";

/** What a design module registered. */
export interface LoadedDesign {
  /** The module's URL. */
  readonly url: string;
  /** Tracker kinds it registered (`defineTracker`), in order. */
  readonly trackers: readonly string[];
  /** Profiles it registered (`defineProfile`), in order. */
  readonly profiles: readonly string[];
}

/** A design file that cannot be loaded: missing, failing on import, or registering nothing. */
export class DesignError extends Error {
  /** The file or URL as given. */
  readonly file: string;
  /** Builds the error for `file`. */
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(`design ${file}: ${message}`, options);
    this.name = "DesignError";
    this.file = file;
  }
}

/** The module being imported by {@link loadDesign}, if any. */
let loading: string | null = null;
/** Where each registration came from (`tracker:KIND`, `profile:NAME` → module URL or null). */
const origins = new Map<string, string | null>();
/** Modules loaded, by URL. */
const loaded = new Map<string, LoadedDesign>();

const DESIGN_DIR = new URL("./", import.meta.url).href;

/**
 * The module that called into lib/design, from the stack: a `file:` module that exists (a
 * notebook cell or a REPL line has none).
 */
function callerModule(): string | null {
  for (const line of (new Error().stack ?? "").split("\n").slice(1)) {
    const m = /((?:file|https?):\/\/[^\s()]+?):\d+:\d+\)?$/.exec(line.trim());
    if (m === null || m[1].startsWith(DESIGN_DIR)) continue;
    if (!/\.(ts|js|mts|mjs|tsx|jsx)$/.test(m[1])) return null;
    if (m[1].startsWith("file:")) {
      try {
        Deno.statSync(new URL(m[1]));
      } catch {
        return null;
      }
    }
    return m[1];
  }
  return null;
}

/** Records where a registration came from (called by `defineTracker` / `defineProfile`). */
export function recordOrigin(what: "tracker" | "profile", name: string): void {
  origins.set(`${what}:${name}`, loading ?? callerModule());
}

/**
 * The module a tracker kind or profile was registered from: a URL, null when it was defined
 * in this thread without a module file (a notebook cell), undefined when it is built in or
 * unknown.
 */
export function designOrigin(what: "tracker" | "profile", name: string): string | null | undefined {
  return origins.get(`${what}:${name}`);
}

/** `file` (a path, relative to `base` or the working directory, or a URL) as a URL. */
export function designUrl(file: string | URL, base?: string | URL): string {
  if (file instanceof URL) return file.href;
  if (/^(file|https?):\/\//.test(file)) return file;
  const from = base ?? `file://${Deno.cwd()}/`;
  return new URL(file, from).href;
}

/**
 * Imports a design module (a path or URL) and returns what it registered. A module already
 * loaded is not imported again. A missing file, an exception while importing or a module
 * that registers no tracker and no profile is a {@link DesignError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DesignError, loadDesign } from "./load.ts";
 * await assert.rejects(loadDesign("no/such/design.ts"), DesignError);
 * ```
 */
export async function loadDesign(file: string | URL, base?: string | URL): Promise<LoadedDesign> {
  const url = designUrl(file, base);
  const done = loaded.get(url);
  if (done !== undefined) return done;
  const name = String(file);
  if (url.startsWith("file:")) {
    try {
      Deno.statSync(new URL(url));
    } catch (e) {
      throw new DesignError(name, e instanceof Deno.errors.NotFound ? "no such file" : String(e));
    }
  }
  const trackersBefore = new Set(trackerKinds());
  const profilesBefore = new Set(profileNames());
  const outer = loading;
  loading = url;
  try {
    await import(url);
  } catch (e) {
    throw new DesignError(name, e instanceof Error ? e.message : String(e), { cause: e });
  } finally {
    loading = outer;
  }
  let trackers = trackerKinds().filter((k) => !trackersBefore.has(k));
  let profiles = profileNames().filter((p) => !profilesBefore.has(p));
  if (trackers.length === 0 && profiles.length === 0) {
    // imported before (statically): what it registered then
    trackers = trackerKinds().filter((k) => origins.get(`tracker:${k}`) === url);
    profiles = profileNames().filter((p) => origins.get(`profile:${p}`) === url);
  }
  if (trackers.length === 0 && profiles.length === 0) {
    throw new DesignError(
      name,
      "registered no tracker and no profile (a design calls defineTracker or defineProfile " +
        "from this kholab's mod.ts when it is imported)",
    );
  }
  const design = { url, trackers, profiles };
  loaded.set(url, design);
  return design;
}

/** What {@link loadDesign} registered from `file` in this thread, or undefined. */
export function loadedDesign(file: string | URL, base?: string | URL): LoadedDesign | undefined {
  return loaded.get(designUrl(file, base));
}

/**
 * The design modules a thread must load to run `profiles` (built-in ones need none): the
 * origin of each design profile and of its tracker, each once. A design defined without a
 * module file (in a notebook cell) cannot reach a worker: RangeError naming it.
 */
export function designModules(profiles: readonly string[]): string[] {
  const out = new Set<string>();
  const need = (what: "tracker" | "profile", name: string) => {
    const url = designOrigin(what, name);
    if (url === undefined) return;
    if (url === null) {
      throw new RangeError(
        `${what} "${name}" was defined in this thread, not by a module file, so a worker ` +
          `cannot load it: run with workers: 0, or put the design in a file and load it ` +
          `(loadDesign, --design FILE.ts)`,
      );
    }
    out.add(url);
  };
  for (const p of profiles) {
    if (isBuiltinProfile(p)) continue;
    need("profile", p);
    const kind = getProfile(p).tracker;
    if (!isBuiltinTrackerKind(kind)) need("tracker", kind);
  }
  return [...out];
}
