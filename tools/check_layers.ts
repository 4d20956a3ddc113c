/**
 * The layering check of `deno task check`: reads every project module's imports (`lib/`,
 * `mod.ts`, `cli.ts`; static `import`/`export … from`, `import type`, and `import("…")` with a
 * literal specifier, as Deno's own module graph (`deno info --json`) resolves them) and fails on
 *
 * - an import cycle among project modules (the cycle's path is printed), unless it is one of
 *   the {@link KNOWN_CYCLES} exactly;
 * - an import from a lower layer to a higher one ({@link LAYERS}: a module may import from its
 *   own rank or lower);
 * - an import from `lib/`, `cli.ts` or `mod.ts` into `bench/`, `tests/` or `tools/`;
 * - a project module that no layer claims (a new folder under `lib/` joins the table first).
 *
 *   deno run --allow-read --allow-run tools/check_layers.ts [ROOT]
 *
 * @module
 */

/** One layer: the files or folders (ending in "/") it holds, and its rank (0 = lowest). */
export interface Layer {
  /** Short name used in messages. */
  readonly name: string;
  /** Rank: a module may import from layers of its own rank or lower. */
  readonly rank: number;
  /** Paths relative to the repository root: a file, or a folder ending in "/". */
  readonly paths: readonly string[];
}

/**
 * The layer table, lowest first. Same-rank layers (clients and metrics; dsl and plot) may
 * import from each other.
 */
export const LAYERS: readonly Layer[] = [
  {
    name: "base",
    rank: 0,
    paths: ["lib/units.ts", "lib/errors.ts", "lib/rng.ts", "lib/diagnostics.ts"],
  },
  { name: "machine", rank: 1, paths: ["lib/machine/"] },
  { name: "kernel", rank: 2, paths: ["lib/kernel/"] },
  { name: "kho", rank: 3, paths: ["lib/kho/"] },
  { name: "luo", rank: 4, paths: ["lib/luo/"] },
  { name: "boot", rank: 5, paths: ["lib/boot/"] },
  { name: "clients", rank: 6, paths: ["lib/clients/"] },
  { name: "metrics", rank: 6, paths: ["lib/metrics/"] },
  { name: "design", rank: 7, paths: ["lib/design/"] },
  { name: "scenario", rank: 8, paths: ["lib/scenario/"] },
  { name: "dsl", rank: 9, paths: ["lib/dsl/"] },
  { name: "plot", rank: 9, paths: ["lib/plot/"] },
  { name: "report", rank: 10, paths: ["lib/report/"] },
  { name: "entry", rank: 11, paths: ["cli.ts", "mod.ts"] },
];

/** Folders no project module may import from. */
export const FORBIDDEN_FOLDERS: readonly string[] = ["bench/", "tests/", "tools/"];

/** A cycle tolerated for now: its exact set of modules, and what removes it. */
export interface KnownCycle {
  /** The modules of the strongly connected set, relative to the root. */
  readonly modules: readonly string[];
  /** Why it is there and which work removes it. */
  readonly reason: string;
}

/**
 * Cycles tolerated for now. Each entry must match one strongly connected set of modules
 * exactly: a set that grows is a new cycle, and one that shrinks or disappears fails too, so
 * that the entry is updated or removed with the work that changes it.
 */
export const KNOWN_CYCLES: readonly KnownCycle[] = [];

/** One import edge. */
export interface ImportEdge {
  /** The imported module, relative to the root (or an absolute path outside it). */
  readonly to: string;
  /** 1-based line of the specifier in the importing module. */
  readonly line: number;
  /** `import type` / `export type … from`. */
  readonly typeOnly?: boolean;
  /** `import("…")`. */
  readonly dynamic?: boolean;
}

/** Every project module and its imports of local files (npm:, node:, https: are left out). */
export type ModuleGraph = ReadonlyMap<string, readonly ImportEdge[]>;

/** A problem found by {@link checkLayers}. */
export type LayerViolation =
  | { kind: "cycle"; path: readonly string[]; members: readonly string[] }
  | { kind: "upward"; from: string; edge: ImportEdge; fromLayer: Layer; toLayer: Layer }
  | { kind: "forbidden"; from: string; edge: ImportEdge }
  | { kind: "unlayered"; module: string }
  | { kind: "stale-known-cycle"; known: KnownCycle; found: readonly string[] | null };

/** The layer a path belongs to, or null. A file entry wins over a folder entry. */
export function layerOf(path: string, layers: readonly Layer[] = LAYERS): Layer | null {
  let best: Layer | null = null;
  let bestLen = -1;
  for (const layer of layers) {
    for (const p of layer.paths) {
      const hit = p.endsWith("/") ? path.startsWith(p) : path === p;
      if (hit && p.length > bestLen) {
        best = layer;
        bestLen = p.length;
      }
    }
  }
  return best;
}

/** Strongly connected sets of more than one module (or with an import of itself), sorted. */
export function stronglyConnected(graph: ModuleGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let next = 0;
  const succ = (v: string) => (graph.get(v) ?? []).map((e) => e.to).filter((w) => graph.has(w));
  // Iterative Tarjan: module graphs can be deep enough to matter for recursion.
  for (const root of [...graph.keys()].sort()) {
    if (index.has(root)) continue;
    const work: { v: string; ws: string[]; i: number }[] = [];
    const open = (v: string) => {
      index.set(v, next);
      low.set(v, next++);
      stack.push(v);
      onStack.add(v);
      work.push({ v, ws: succ(v), i: 0 });
    };
    open(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (top.i < top.ws.length) {
        const w = top.ws[top.i++];
        if (!index.has(w)) open(w);
        else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].v;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.v)!));
      }
      if (low.get(top.v) === index.get(top.v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== top.v);
        if (scc.length > 1 || succ(top.v).includes(top.v)) out.push(scc.sort());
      }
    }
  }
  return out.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

/** A shortest cycle through the first module of a strongly connected set: `[a, b, …, a]`. */
export function cyclePath(graph: ModuleGraph, members: readonly string[]): string[] {
  const inSet = new Set(members);
  const start = members[0];
  const prev = new Map<string, string>();
  const queue = [start];
  for (let qi = 0; qi < queue.length; qi++) {
    const v = queue[qi];
    for (const { to } of graph.get(v) ?? []) {
      if (!inSet.has(to)) continue;
      if (to === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(to)) {
        prev.set(to, v);
        queue.push(to);
      }
    }
  }
  return [start, start];
}

/** Options of {@link checkLayers}. */
export interface CheckOptions {
  /** The layer table. Default {@link LAYERS}. */
  layers?: readonly Layer[];
  /** Cycles tolerated. Default {@link KNOWN_CYCLES}. */
  knownCycles?: readonly KnownCycle[];
  /** Folders no project module may import from. Default {@link FORBIDDEN_FOLDERS}. */
  forbidden?: readonly string[];
}

/** Every cycle, upward import, forbidden import and unlayered module of a graph. */
export function checkLayers(graph: ModuleGraph, options: CheckOptions = {}): LayerViolation[] {
  const layers = options.layers ?? LAYERS;
  const known = options.knownCycles ?? KNOWN_CYCLES;
  const forbidden = options.forbidden ?? FORBIDDEN_FOLDERS;
  const out: LayerViolation[] = [];
  const sccs = stronglyConnected(graph);
  const same = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
  for (const members of sccs) {
    if (known.some((k) => same(k.modules, members))) continue;
    out.push({ kind: "cycle", path: cyclePath(graph, members), members });
  }
  for (const k of known) {
    if (sccs.some((s) => same(s, k.modules))) continue;
    const overlap = sccs.find((s) => s.some((m) => k.modules.includes(m))) ?? null;
    out.push({ kind: "stale-known-cycle", known: k, found: overlap });
  }
  for (const [from, edges] of [...graph].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    const fromLayer = layerOf(from, layers);
    if (fromLayer === null) out.push({ kind: "unlayered", module: from });
    for (const edge of edges) {
      if (forbidden.some((f) => edge.to.startsWith(f))) {
        out.push({ kind: "forbidden", from, edge });
        continue;
      }
      const toLayer = layerOf(edge.to, layers);
      if (fromLayer && toLayer && toLayer.rank > fromLayer.rank) {
        out.push({ kind: "upward", from, edge, fromLayer, toLayer });
      }
    }
  }
  return out;
}

function how(edge: ImportEdge): string {
  return edge.dynamic ? " (dynamic import)" : edge.typeOnly ? " (type-only import)" : "";
}

/** The violations as a message, one paragraph each. */
export function formatViolations(violations: readonly LayerViolation[]): string {
  const lines: string[] = [];
  for (const v of violations) {
    switch (v.kind) {
      case "cycle":
        lines.push(`import cycle: ${v.path.join(" → ")}`);
        if (v.members.length > v.path.length - 1) {
          lines.push(`  (one cycle of ${v.members.length} modules: ${v.members.join(", ")})`);
        }
        break;
      case "upward":
        lines.push(
          `upward import: ${v.from}:${v.edge.line} (${v.fromLayer.name}, rank ${v.fromLayer.rank})` +
            ` imports ${v.edge.to} (${v.toLayer.name}, rank ${v.toLayer.rank})${how(v.edge)}`,
        );
        break;
      case "forbidden":
        lines.push(
          `forbidden import: ${v.from}:${v.edge.line} imports ${v.edge.to}${how(v.edge)}: ` +
            `project modules may not import from ${FORBIDDEN_FOLDERS.join(", ")}`,
        );
        break;
      case "unlayered":
        lines.push(`no layer: ${v.module} (add its folder to LAYERS in tools/check_layers.ts)`);
        break;
      case "stale-known-cycle":
        lines.push(
          `known cycle changed: ${v.known.modules.join(", ")} ` +
            (v.found
              ? `is now ${v.found.join(", ")}`
              : "no longer exists: remove it from KNOWN_CYCLES in tools/check_layers.ts"),
        );
        break;
    }
  }
  return lines.join("\n");
}

/** Project modules under `root`: `lib/**.ts`, `mod.ts`, `cli.ts` (relative paths, sorted). */
export async function projectModules(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of ["mod.ts", "cli.ts"]) {
    try {
      if ((await Deno.stat(`${root}/${f}`)).isFile) out.push(f);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const walk = async (dir: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(`${root}/${dir}`));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile && /\.(ts|tsx|js|mjs)$/.test(e.name)) out.push(p);
    }
  };
  await walk("lib");
  return out.sort();
}

interface InfoDependency {
  code?: { specifier: string; span: { start: { line: number } } };
  type?: { specifier: string; span: { start: { line: number } } };
  isDynamic?: boolean;
}

interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
  error?: string;
}

/**
 * The import graph of the project's modules under `root`, from Deno's module graph
 * (`deno info --json`, so comments, strings and regular expressions are never mistaken for
 * imports). Only local files are kept as edges.
 */
export async function loadGraph(root: string): Promise<Map<string, ImportEdge[]>> {
  const absRoot = await Deno.realPath(root);
  const rootUrl = new URL(`file://${absRoot}/`).href;
  const rel = (url: string) =>
    url.startsWith(rootUrl) ? decodeURIComponent(url.slice(rootUrl.length)) : new URL(url).pathname;
  const modules = await projectModules(absRoot);
  const wanted = new Set(modules);
  const graph = new Map<string, ImportEdge[]>();
  const errors: string[] = [];
  for (const entry of modules) {
    if (graph.has(entry)) continue;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: absRoot,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`deno info ${entry} failed:\n${new TextDecoder().decode(out.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file:")) continue;
      const from = rel(m.specifier);
      if (!wanted.has(from) || graph.has(from)) continue;
      if (m.error) errors.push(`${from}: ${m.error}`);
      const edges: ImportEdge[] = [];
      for (const d of m.dependencies ?? []) {
        const target = d.code ?? d.type;
        if (!target || !target.specifier.startsWith("file:")) continue;
        edges.push({
          to: rel(target.specifier),
          line: target.span.start.line + 1,
          ...(d.code ? {} : { typeOnly: true }),
          ...(d.isDynamic ? { dynamic: true } : {}),
        });
      }
      graph.set(from, edges);
    }
  }
  if (errors.length > 0) throw new Error(`module graph errors:\n${errors.join("\n")}`);
  return graph;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? ".";
  const graph = await loadGraph(root);
  const violations = checkLayers(graph);
  if (violations.length > 0) {
    console.error(formatViolations(violations));
    console.error(
      `\ncheck_layers: ${violations.length} problem(s) in ${graph.size} modules ` +
        `(layers, lowest first: ${LAYERS.map((l) => `${l.name}=${l.rank}`).join(" ")})`,
    );
    Deno.exit(1);
  }
  const edges = [...graph.values()].reduce((s, e) => s + e.length, 0);
  console.log(
    `check_layers: ${graph.size} modules, ${edges} imports: no cycles beyond ` +
      `${KNOWN_CYCLES.length} known, no upward or forbidden imports`,
  );
}
