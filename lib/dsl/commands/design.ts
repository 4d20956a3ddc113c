/**
 * `design FILE.ts`: a script uses the tracker and profile designs of a TypeScript module
 * (`defineTracker` / `defineProfile`, lib/design), then names them like built-in ones
 * (`profile NAME`, `scenario … profile=NAME`). Importing a module is asynchronous and a
 * script runs synchronously, so the module is imported before the script runs:
 * `loadScriptDesigns` (`../designs.ts`) finds the `design` statements of a script (its includes too) and
 * loads them — `kholab run`, `kholab check` and the REPL do — and the statement itself
 * checks that its module is there and says what it brought. In TypeScript or a notebook,
 * `await loadDesign(FILE)` first. A relative FILE is relative to the top script's folder
 * (the working directory for a notebook or the REPL).
 *
 * @module
 */

import { type LoadedDesign, loadedDesign } from "../../design/load.ts";
import { CommandError } from "../errors.ts";
import type { Session } from "../session.ts";
import type { CommandSpec } from "../spec.ts";

/** The base a script's design paths resolve against: its folder, or the working directory. */
export function scriptBase(file: string): string {
  const cwd = `file://${Deno.cwd()}/`;
  if (!file.includes("/") || file.startsWith("<")) return cwd;
  return new URL(file.slice(0, file.lastIndexOf("/") + 1), cwd).href;
}

/** `design FILE`: the module must have been loaded; prints what it registered. */
export function designCommand(s: Session, file: string): LoadedDesign {
  const d = loadedDesign(file, scriptBase(s.file));
  if (d === undefined) {
    throw new CommandError(
      "ENOENT",
      `design ${file} is not loaded: kholab run, check and the REPL load a script's designs ` +
        `before it runs; in TypeScript or a notebook, await loadDesign("${file}") first`,
    );
  }
  const parts = [
    d.trackers.length ? `trackers ${d.trackers.join(", ")}` : "",
    d.profiles.length ? `profiles ${d.profiles.join(", ")}` : "",
  ].filter(Boolean);
  s.print(`design ${file}: ${parts.join("; ")}`);
  return d;
}

/** The `design` command. */
export const DESIGN_COMMAND: CommandSpec = {
  name: "design",
  summary: "use the tracker and profile designs of a TypeScript module (then: profile NAME)",
  details: "design FILE.ts — a module calling defineTracker / defineProfile from kholab's\n" +
    "mod.ts (examples/designs/). FILE is relative to the script's folder. kholab run, check\n" +
    "and the REPL import it before the script runs; in a notebook, await loadDesign first.",
  positionals: [{ name: "FILE", kind: "path", doc: "design module (.ts)" }],
  options: [],
  run: (s, inv) => void designCommand(s, inv.args[0] as string),
};
