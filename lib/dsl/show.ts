/**
 * `show TOPIC`: text views of the interpreter's state — the measured table, metrics,
 * objects, the kernel log, /proc/buddyinfo, the root FDT as DTS, the tracker, scratch
 * areas, profiles and the configuration.
 *
 * @module
 */

import { PROFILES } from "../kho/abi/profiles.ts";
import { nativePropertyNote } from "../kho/abi/native_props.ts";
import { toDts } from "../kho/fdt/dts.ts";
import { FDT_MAGIC } from "../kho/fdt/format.ts";
import { KHO_FDT_SIZE } from "../kho/root_fdt.ts";
import { formatSize, hex } from "../units.ts";
import { describe, type Interpreter } from "./interpreter.ts";
import { METRICS } from "./metrics.ts";

const DEFAULT_COLUMNS = [
  "kernel.boot",
  "kernel.profile",
  "objects.count",
  "preserved.bytes",
  "tracker.pages",
  "walk.blocks",
  "restore.ok",
  "restore.failed",
  "verify.failed",
];

/** Renders rows as an aligned text table. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function fmt(v: number | string | undefined): string {
  if (v === undefined) return "-";
  return typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v);
}

/**
 * The line under `show metrics` naming the metrics without a value yet (they read as 0 in
 * `expect` and `measure`): a family of more than three as `prefix.* (N)`, with what sets it.
 */
export function unsetNote(names: readonly string[]): string {
  const byPrefix = new Map<string, string[]>();
  for (const n of names) {
    const prefix = n.split(".")[0];
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), n]);
  }
  const parts = [...byPrefix].flatMap(([prefix, ns]) =>
    ns.length > 3
      ? [`${prefix}.* (${ns.length}${prefix === "scenario" ? ", set by `scenario NAME`" : ""})`]
      : ns
  );
  return `not set yet (0 in expect and measure): ${parts.join(", ")}`;
}

/** The text of `show TOPIC`. */
export function showTopic(rt: Interpreter, topic: string, o: Record<string, unknown>): string {
  switch (topic) {
    case "table": {
      const cols = typeof o.columns === "string"
        ? o.columns.split(",").filter(Boolean)
        : DEFAULT_COLUMNS;
      if (rt.rows.length === 0) return "(no measurements: use `measure label=…`)";
      return textTable(
        ["label", ...cols],
        rt.rows.map((r) => [r.label, ...cols.map((c) => fmt(r.metrics[c]))]),
      );
    }
    case "metrics": {
      const set: string[][] = [];
      const unset: string[] = [];
      for (const [name, spec] of METRICS) {
        const v = spec.get(rt);
        if (v === undefined) unset.push(name);
        else {
          const text = fmt(v);
          set.push([name, text.length > 32 ? `${text.slice(0, 31)}…` : text, spec.doc]);
        }
      }
      const table = textTable(["metric", "value", "meaning"], set).split("\n")
        .map((l) => l.replace(/^(\S+\s+\S+)\s{2,}/, "$1  ")).join("\n");
      return unset.length === 0 ? table : `${table}\n${unsetNote(unset)}`;
    }
    case "objects": {
      if (rt.objects.size === 0) return "(no objects)";
      return textTable(
        ["name", "kind", "state", "blocks", "pages", "size", "first"],
        [...rt.objects.values()].map((x) => [
          x.name,
          x.kind,
          x.state,
          String(x.blocks()),
          String(x.totalPages()),
          formatSize(x.bytes),
          x.phys.length > 0 ? hex(x.phys[0]) : "-",
        ]),
      );
    }
    case "log": {
      const k = rt.ensureKernel();
      const text = k.log.text();
      const g = o.grep as string | undefined;
      return g === undefined ? text : text.split("\n").filter((l) => l.includes(g)).join("\n");
    }
    case "buddyinfo":
      return rt.ensureKernel().buddy.buddyinfoText();
    case "fdt": {
      const k = rt.ensureKernel();
      const mem = k.machine.mem;
      const parts: string[] = [];
      const dump = (what: string, phys: number, size: number) => {
        const blob = mem.contains(phys, size) ? mem.readBytes(phys, size) : null;
        if (
          blob === null || blob.length < 4 || new DataView(blob.buffer).getUint32(0) !== FDT_MAGIC
        ) {
          parts.push(`// ${what} at ${hex(phys)}: ${size} bytes, not an FDT`);
          return;
        }
        parts.push(`// ${what} at ${hex(phys)}`);
        try {
          parts.push(toDts(blob, { annotate: nativePropertyNote }));
        } catch (e) {
          parts.push(`// unreadable: ${(e as Error).message}`);
        }
      };
      const subtrees = o.subtrees === true;
      if (k.kho.out) {
        dump("outgoing root FDT", k.kho.out.root.phys, KHO_FDT_SIZE);
        if (subtrees) {
          for (const t of k.kho.out.subtrees()) {
            dump(`outgoing sub-tree "${t.name}"`, t.phys, t.size);
          }
        }
      }
      const inc = k.kho.incoming;
      if (inc?.isKhoBoot) {
        dump("incoming root FDT", inc.fdtPhys, KHO_FDT_SIZE);
        if (subtrees) {
          for (const name of inc.subtreeNames()) {
            try {
              const t = inc.retrieveSubtree(name);
              dump(`incoming sub-tree "${name}"`, t.phys, t.size ?? KHO_FDT_SIZE);
            } catch (e) {
              parts.push(`// incoming sub-tree "${name}": ${(e as Error).message}`);
            }
          }
        }
      }
      if (parts.length === 0) return "(KHO is off)";
      parts.push(
        "// KHO writes integer properties in native (little-endian) order and dtc prints " +
          "big-endian cells: the values are decoded after //",
      );
      return parts.join("\n");
    }
    case "tracker": {
      const k = rt.ensureKernel();
      const t = k.kho.out?.tracker;
      if (!t) return "(KHO is off)";
      const c = t.counters as unknown as Record<string, unknown>;
      const counters = Object.entries(c).filter(([, v]) => typeof v === "number").map(([n, v]) =>
        `  ${n}: ${v}`
      );
      return [
        `tracker: ${t.kind}`,
        `metadata: ${t.metadataPages()} pages (${formatSize(t.metadataBytes())})`,
        `handover root: ${hex(t.handoverRoot())}`,
        ...(counters.length ? ["counters:", ...counters] : []),
      ].join("\n");
    }
    case "scratch": {
      const k = rt.ensureKernel();
      return textTable(
        ["area", "start", "end", "size"],
        k.boot.scratch.map((a, i) => [
          String(i),
          hex(a.addr),
          hex(a.addr + a.size),
          formatSize(a.size),
        ]),
      );
    }
    case "profiles":
      return textTable(
        ["profile", "kernel", "compat", "blob-size", "kexec-metadata", "luo", "bugs"],
        Object.values(PROFILES).map((p) => [
          p.name,
          p.kernel,
          p.compat,
          p.blobSize ? "yes" : "no",
          p.kexecMetadata ? "yes" : "no",
          p.luo ? `${p.luo.compat}${p.luo.store === "kho-block" ? "+kho_block" : ""}` : "-",
          p.bugs.join(",") || "-",
        ]),
      );
    case "config": {
      const c = rt.machineConfig;
      return [
        `seed ${rt.seed}`,
        `machine ram=${
          formatSize(c.ramBytes)
        } nodes=${c.nodes} memmap=${c.memmapBytesPerPage} poison=${c.poison ? "on" : "off"}${
          c.headroomBytes !== null ? ` headroom=${formatSize(c.headroomBytes)}` : ""
        }`,
        `profile ${rt.kernel?.profile.name ?? rt.bootProfile}${
          rt.nextProfile ? ` (next kexec: ${rt.nextProfile})` : ""
        }`,
        `kernel ${rt.cmdline()}`,
        `booted: ${rt.kernel ? `boot #${rt.kernel.bootIndex}` : "no"}`,
        ...[...rt.objects.values()].map((x) => `object ${x.name}: ${describe(x)}`),
      ].join("\n");
    }
  }
  return `unknown topic ${topic}`;
}
