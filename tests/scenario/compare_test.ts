import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import {
  COMPARE_COLUMNS,
  compareCommand,
  compareProfiles,
  formatBytes,
  formatTable,
  sweepCommand,
} from "../../lib/scenario/compare.ts";
import { rowsFromCsv } from "../../lib/scenario/export.ts";

const SMALL = [
  "ramBytes=4G",
  "headroomBytes=4G",
  "nodes=1",
  "guestFolios=2",
  "poolBytes=128M",
  "iommuPages=500",
];

Deno.test("compare from TypeScript returns one row per profile", async () => {
  const rows = await compareProfiles({
    params: { ramBytes: "4G", headroomBytes: "4G", nodes: 1, guestFolios: 2, poolBytes: "128M" },
    profiles: ["kho-v4", "kho-v1-6.18"],
    workers: 0,
    clock: new ManualClock(),
  });
  assert.deepEqual(rows.map((r) => r.profile), ["kho-v4", "kho-v1-6.18"]);
  assert.ok(rows.every((r) => r.scenario === "hypervisor"));
  const text = formatTable(rows);
  const lines = text.split("\n");
  assert.ok(lines[0].startsWith("profile") && lines[0].includes("handover"));
  assert.ok(lines[2].startsWith("kho-v4"));
  assert.match(text, /kho-v1-6\.18: .*guests-memfd:EOPNOTSUPP/);
});

Deno.test("compare and sweep commands print tables, JSON and CSV", async () => {
  const table = await compareCommand(
    [...SMALL, "--profiles", "kho-v4", "--workers", "0"],
    new ManualClock(),
  );
  assert.equal(table.split("\n")[0].split(/\s{2,}/).length, COMPARE_COLUMNS.length);
  const json = JSON.parse(
    await compareCommand(
      [...SMALL, "--profiles=kho-v4", "--workers=0", "--format", "json"],
      new ManualClock(),
    ),
  );
  assert.equal(json.length, 1);
  const csv = await sweepCommand([
    "uniform",
    "--param",
    "pages",
    "--values",
    "10,20",
    "--profiles",
    "kho-v4,kho-v1-6.19",
    "--workers",
    "0",
    "--set",
    "ramBytes=2G",
  ], new ManualClock());
  const rows = rowsFromCsv(csv);
  assert.deepEqual(rows.map((r) => `${r.sweepValue}/${r.profile}`), [
    "10/kho-v4",
    "10/kho-v1-6.19",
    "20/kho-v4",
    "20/kho-v1-6.19",
  ]);
  assert.ok(rows.every((r) => r.status === "ok"));
  await assert.rejects(
    () => sweepCommand(["uniform", "--param", "pages"], new ManualClock()),
    SyntaxError,
  );
  await assert.rejects(
    () =>
      compareCommand(
        ["--format", "xml", ...SMALL, "--profiles", "kho-v4", "--workers", "0"],
        new ManualClock(),
      ),
    RangeError,
  );
});

Deno.test("formatBytes", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(532 * 1024), "532 KiB");
  assert.equal(formatBytes(1.5 * 2 ** 20), "1.50 MiB");
});
