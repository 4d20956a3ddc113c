/**
 * The fuzz targets: name → module. Adding a target is one file exporting `target` (a
 * {@link FuzzTarget}) and one line here.
 *
 * @module
 */

import type { FuzzTarget } from "./target.ts";

/** Implemented targets and the module that exports each one's `target`. */
export const TARGETS: Readonly<Record<string, URL>> = {
  fdt: new URL("./fdt.ts", import.meta.url),
  handover: new URL("./handover.ts", import.meta.url),
  dsl: new URL("./dsl.ts", import.meta.url),
  cli: new URL("./cli.ts", import.meta.url),
};

/** Loads a target from its module (a name of {@link TARGETS}, or a module URL for tests). */
export async function loadTarget(nameOrUrl: string): Promise<FuzzTarget> {
  const url = TARGETS[nameOrUrl] ?? new URL(nameOrUrl);
  const mod = await import(url.href);
  if (!mod.target) throw new Error(`${url.href} does not export a fuzz target`);
  return mod.target as FuzzTarget;
}
