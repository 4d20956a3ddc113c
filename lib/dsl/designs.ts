/**
 * The design modules a script names (`design FILE.ts`), found before it runs and imported:
 * what `kholab run`, `kholab check` and the REPL do, since importing a module is
 * asynchronous and a script runs synchronously (see `./commands/design.ts`).
 *
 * @module
 */

import { loadDesign } from "../design/load.ts";
import type { Stmt } from "./ast.ts";
import { scriptBase } from "./commands/design.ts";
import { parseWithErrors } from "./parser.ts";
import type { CommandTable } from "./spec.ts";

/** Options of {@link loadScriptDesigns}. */
export interface ScriptDesignOptions {
  /** The script's name (design paths resolve against its folder). */
  file: string;
  /** Reads included scripts (default: none followed). */
  readFile?: (path: string) => string;
  /** The language's table. */
  table?: CommandTable;
}

/**
 * The design modules a script names in `design` statements with a literal FILE (in blocks
 * and included scripts too), as URLs, in order. A script that does not parse gives what
 * parsed: its errors are reported when it runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scriptDesigns } from "./designs.ts";
 * const urls = scriptDesigns("machine ram=1G\ntry {\n  design d/x.ts\n}", { file: "a/s.kho" });
 * assert.equal(urls.length, 1);
 * assert.ok(urls[0].endsWith("/a/d/x.ts"));
 * ```
 */
export function scriptDesigns(text: string, o: ScriptDesignOptions): string[] {
  const base = scriptBase(o.file);
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (body: Stmt[], file: string, depth: number) => {
    for (const st of body) {
      if (st.kind === "command" && st.name === "design") {
        const v = st.args[0];
        if (v !== undefined && v.kind !== "expr") out.push(new URL(v.text, base).href);
      } else if (st.kind === "repeat" || st.kind === "try" || st.kind === "sweep") {
        visit(st.body, file, depth);
      } else if (st.kind === "include" && o.readFile && depth < 8 && st.path.kind !== "expr") {
        const path = st.path.text;
        const resolved = path.startsWith("/") || !file.includes("/")
          ? path
          : file.slice(0, file.lastIndexOf("/") + 1) + path;
        if (seen.has(resolved)) continue;
        seen.add(resolved);
        let included: string;
        try {
          included = o.readFile(resolved);
        } catch {
          continue; // reported when the script runs
        }
        visit(
          parseWithErrors(included, { file: resolved, table: o.table }).program.body,
          resolved,
          depth + 1,
        );
      }
    }
  };
  visit(parseWithErrors(text, { file: o.file, table: o.table }).program.body, o.file, 0);
  return [...new Set(out)];
}

/** Loads the design modules of {@link scriptDesigns}; a failing one is a `DesignError`. */
export async function loadScriptDesigns(text: string, o: ScriptDesignOptions): Promise<void> {
  for (const url of scriptDesigns(text, o)) await loadDesign(url);
}
