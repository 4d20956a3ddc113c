/**
 * `show TOPIC`: text views of the interpreter's state — the measured table, metrics,
 * objects, the kernel log, /proc/buddyinfo, the root FDT as DTS, the tracker, scratch
 * areas, profiles and the configuration.
 *
 * @module
 */

import { PROFILES } from "../kho/abi/profiles.ts";
import { toDts } from "../kho/fdt/dts.ts";
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
      const m = rt.metrics();
      return textTable(
        ["metric", "value", "meaning"],
        Object.entries(m).map(([k, v]) => [k, fmt(v), METRICS.get(k)?.doc ?? ""]),
      ).split("\n").map((l) => l.replace(/^(\S+\s+\S+)\s{2,}/, "$1  ")).join("\n");
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
          hex(x.phys[0] ?? 0),
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
      const parts: string[] = [];
      if (k.kho.out) {
        parts.push(`// outgoing root FDT at ${hex(k.kho.out.root.phys)}`);
        parts.push(toDts(k.machine.mem.readBytes(k.kho.out.root.phys, KHO_FDT_SIZE)));
      }
      if (k.kho.incoming?.isKhoBoot) {
        parts.push(`// incoming root FDT at ${hex(k.kho.incoming.fdtPhys)}`);
        parts.push(toDts(k.machine.mem.readBytes(k.kho.incoming.fdtPhys, KHO_FDT_SIZE)));
      }
      return parts.length ? parts.join("\n") : "(KHO is off)";
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
