import assert from "node:assert/strict";
import { type CliOutput, main } from "../cli.ts";
import { COMPARE_COLUMNS } from "../lib/scenario/compare.ts";
import { rowsFromCsv } from "../lib/scenario/export.ts";

/** Runs the CLI in this process; returns the exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const io: CliOutput = { log: (t) => out.push(t), error: (t) => err.push(t) };
  const code = await main(args, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const SMALL = [
  "ramBytes=4G",
  "headroomBytes=4G",
  "nodes=1",
  "guestBytes=4M",
  "guestFolio=2M",
  "poolBytes=128M",
  "iommuPages=500",
];

Deno.test("cli: help for every command; unknown commands and options exit 2 with one line", async () => {
  const help = await cli("help");
  assert.equal(help.code, 0);
  const commands = [...help.out.matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]);
  assert.deepEqual(commands, [
    "run",
    "check",
    "repl",
    "demo",
    "report",
    "report",
    "bench",
    "compare",
    "sweep",
    "matrix",
    "profiles",
    "conformance",
    "fdt",
    "fdt",
    "import",
    "export",
    "inspect",
    "help",
  ]);
  for (const c of new Set(commands.filter((c) => c !== "help"))) {
    const r = await cli(c, "--help");
    assert.equal(r.code, 0, c);
    assert.match(r.out, /^Usage: deno task /, c);
    assert.equal((await cli("help", c)).out, r.out, c);
  }
  const unknown = await cli("frobnicate");
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "frobnicate"/);
  for (
    const c of [
      "matrix",
      "profiles",
      "repl",
      "demo",
      "compare",
      "sweep",
      "report",
      "bench",
      "import",
      "export",
      "inspect",
      "conformance",
    ]
  ) {
    const r = await cli(c, "--bogus");
    assert.equal(r.code, 2, c);
    assert.match(r.err, new RegExp(`^kholab ${c}: Unknown option '--bogus'`), c);
    assert.ok(r.err.endsWith(` (deno task kholab ${c} --help)`) && !r.err.includes("\n"), c);
  }
});

Deno.test("cli compare and sweep: tables, JSON and CSV; bad arguments exit 2", async () => {
  const table = await cli("compare", ...SMALL, "--profiles", "kho-v4", "--workers", "0");
  assert.equal(table.code, 0, table.err);
  assert.equal(table.out.split("\n")[0].split(/\s{2,}/).length, COMPARE_COLUMNS.length);
  const json = await cli(
    "compare",
    ...SMALL,
    "--profiles=kho-v4",
    "--workers=0",
    "--format",
    "json",
  );
  assert.equal(JSON.parse(json.out).length, 1);
  const csv = await cli(
    "sweep",
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
  );
  assert.equal(csv.code, 0, csv.err);
  const rows = rowsFromCsv(csv.out);
  assert.deepEqual(rows.map((r) => `${r.sweepValue}/${r.profile}`), [
    "10/kho-v4",
    "10/kho-v1-6.19",
    "20/kho-v4",
    "20/kho-v1-6.19",
  ]);
  assert.ok(rows.every((r) => r.status === "ok"));
  // Wall clock: the default 5 timed samples of every region, in the CSV's own columns.
  assert.ok(rows.every((r) => r["walkMs.n"] === 5 && r["reserveMs.n"] === 5));
  assert.ok(
    csv.out.split("\n")[0].includes(",walkMs,walkMs.n,walkMs.median,walkMs.min,walkMs.max,"),
  );
  const repeat = await cli(
    "sweep",
    "uniform",
    "--profiles",
    "kho-v4",
    "--workers",
    "0",
    "--repeat",
    "2",
    "ramBytes=1G",
    "pages=8",
  );
  assert.equal(rowsFromCsv(repeat.out)[0]["preserveMs.n"], 2);
  const none = await cli("sweep", "uniform", "--profiles", "kho-v4", "--repeat", "0", "pages=8");
  assert.equal(none.code, 0, none.err);
  assert.ok(!none.out.includes("walkMs"), "--repeat 0: no wall-clock columns");
  // --set and the swept value both reach the scenario: 2 GiB of RAM, 10 or 20 pages.
  assert.deepEqual(
    rows.map((r) => JSON.parse(r.params as string)).map((p) => [p.ramBytes, p.pages]),
    [[2 ** 31, 10], [2 ** 31, 10], [2 ** 31, 20], [2 ** 31, 20]],
  );
  const bad: [string[], RegExp][] = [
    [["sweep", "uniform", "--param", "pages"], /^kholab sweep: --param pages needs --values$/],
    [["sweep"], /^kholab sweep: usage: sweep SCENARIO/],
    [["compare", "--format", "xml", ...SMALL, "--profiles", "kho-v4", "--workers", "0"], /xml/],
    [["compare", "--profiles", "kho-v9"], /kho-v9/],
    [["compare", "--seed", "x1"], /^kholab compare: --seed: not a count: "x1"$/],
    [["compare", "uniform", "dense"], /unexpected argument "dense"/],
    [["compare", "--set", "pages"], /--set pages: expected name=value/],
    [["compare", "--repeat", "x"], /^kholab compare: --repeat: not a count: "x"$/],
    [["sweep", "uniform", "--repeat=-1"], /^kholab sweep: --repeat: /],
    [["report", "--out", "x", "--repeat", "0"], /a report needs at least 1 timed sample/],
  ];
  for (const [args, re] of bad) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, re, args.join(" "));
  }
});

Deno.test("cli report: arguments, errors and the reproducing command", async () => {
  for (
    const [args, re] of [
      [["--scenario", "uniform"], /--out DIR is required/],
      [["--bogus", "1", "--out", "x"], /Unknown option '--bogus'/],
      [["--out", "x", "stray"], /unexpected argument "stray"/],
      [["--out", "x", "--param", "pages"], /--param needs --values/],
    ] as const
  ) {
    const r = await cli("report", ...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, re);
  }
  const outDir = await Deno.makeTempDir();
  const r = await cli(
    "report",
    "--scenario",
    "uniform",
    "ramBytes=1G",
    "pages=64",
    "--profiles",
    "kho-v4",
    "--param",
    "pages",
    "--values",
    "16,64",
    "--workers",
    "0",
    "--repeat",
    "3",
    "--no-matrix",
    "--out",
    outDir,
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*index\.html/);
  const data = JSON.parse(await Deno.readTextFile(`${outDir}/data.json`));
  assert.equal(
    data.meta.command,
    `deno task kholab report --scenario uniform --seed 1 --profiles kho-v4 --repeat 3 ` +
      `--param pages --values 16,64 --no-matrix ramBytes=1G pages=64 --out ${outDir}`,
  );
  assert.equal(data.meta.timing.repeat, 3);
  assert.equal(data.rows[1].timings.walkMs.n, 3);
  assert.deepEqual(data.meta.sweep, { param: "pages", values: ["16", "64"] });
  assert.equal(data.rows.length, 2);
  const html = await Deno.readTextFile(`${outDir}/index.html`);
  assert.match(html, /data-chart="sweep_handover"/);
  assert.match(html, /data-chart="metadata"/, "a line per profile along the sweep");
  // Every point of the sweep in a table with a column for the swept parameter.
  const sweepTable = html.slice(html.indexOf("<caption>Every point, by pages and profile"));
  assert.match(sweepTable, /^<caption>[^<]*<\/caption><thead><tr><th>pages<\/th><th>profile<\/th>/);
  for (const v of ["16", "64"]) {
    assert.match(sweepTable, new RegExp(`<td>${v}</td><td>kho-v4</td>`));
  }
  await Deno.remove(outDir, { recursive: true });
});

/** A small script over two generations with two charts, for `kholab report FILE.kho`. */
const SCRIPT = `sweep p in [kho-v3, kho-v4] {
  machine ram=1G
  profile $p
  b = pages count=$n within=128M
  preserve b
  measure label=before
  kexec
  restore b
  measure label=after
  expect restore.failed == 0
}
chart metadata
chart walk
`;

Deno.test("cli report FILE.kho: a script's report, its command, exit codes 0 and 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/two.kho`;
    await Deno.writeTextFile(file, SCRIPT);
    const r = await cli("report", file, "--out", `${dir}/out`, "--seed", "3", "--set", "n=64");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^kexec: boot #1 \(kho-v3\)/m, "the script's output as it runs");
    assert.match(
      r.out,
      /^report .*two\.kho: 4 measured rows, 2 charts, 2 of 2 expectations held$/m,
    );
    assert.match(r.out, /^wrote .*\/out\/index\.html, .*\/out\/data\.json, /m);
    const data = JSON.parse(await Deno.readTextFile(`${dir}/out/data.json`));
    assert.equal(
      data.meta.command,
      `deno task kholab report ${file} --seed 3 --set n=64 --out ${dir}/out`,
    );
    assert.deepEqual([data.meta.seed, data.meta.vars, data.meta.swept], [3, { n: 64 }, ["p"]]);
    assert.deepEqual(data.rows.map((x: { params: { p: string } }) => x.params.p), [
      "kho-v3",
      "kho-v3",
      "kho-v4",
      "kho-v4",
    ]);
    const html = await Deno.readTextFile(`${dir}/out/index.html`);
    assert.equal((html.match(/<figure class="kholab-chart"/g) ?? []).length, 2);
    // A failed expect: the report is written and says so; exit 1.
    await Deno.writeTextFile(`${dir}/fails.kho`, SCRIPT + "expect restore.ok == 0\n");
    const f = await cli("report", `${dir}/fails.kho`, "--out", `${dir}/out2`, "--set", "n=8");
    assert.equal(f.code, 1, f.err);
    assert.match(await Deno.readTextFile(`${dir}/out2/index.html`), /1 of 3 expectations failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli report FILE.kho: bad input exits 2 with one line (a script error as run prints it)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/s.kho`;
    await Deno.writeTextFile(file, SCRIPT);
    await Deno.writeTextFile(`${dir}/bad.kho`, "machine ram=1G\nkexc\n");
    await Deno.writeTextFile(`${dir}/notes.txt`, SCRIPT);
    await Deno.mkdir(`${dir}/sub.kho`);
    const cases: [string[], RegExp][] = [
      [[file], /^kholab report: --out DIR is required \(usage: report FILE\.kho --out DIR /],
      [
        [file, "--out", "x", "--scenario", "uniform"],
        /--scenario is for a scenario report, not with a script/,
      ],
      [[file, "--out", "x", "--profiles", "kho-v4"], /--profiles is for a scenario report/],
      [[file, "--out", "x", "--no-matrix"], /--no-matrix is for a scenario report/],
      [
        [file, `${dir}/b.kho`, "--out", "x"],
        /unexpected argument ".*b\.kho" with a script: one FILE\.kho/,
      ],
      [
        [file, "pages=3", "--out", "x"],
        /unexpected argument "pages=3" with a script: .*--set NAME=VALUE/,
      ],
      [[file, "--out", "x", "--set", "1x=2"], /--set 1x=2: expected NAME=VALUE/],
      [[file, "--out", "x", "--max-steps", "0"], /--max-steps 0: at least 1/],
      [["--out", "x", "--max-steps", "5"], /--max-steps is for a report from a script/],
      [
        [`${dir}/notes.txt`, "--out", "x"],
        /unexpected argument ".*notes\.txt" \(a script ends in \.kho; usage: /,
      ],
      [[`${dir}/none.kho`, "--out", "x"], /^kholab report: .*none\.kho/],
      [[`${dir}/sub.kho`, "--out", "x"], /^kholab report: .*sub\.kho.*directory/],
      [[file, "--out", "/proc/kholab/x", "--set", "n=4"], /^kholab report: /],
    ];
    for (const [args, re] of cases) {
      const r = await cli("report", ...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.err, re, args.join(" "));
      assert.equal(r.err.split("\n").length, 1, `one line: ${r.err}`);
    }
    // A script error: FILE:LINE:COL with a caret, as kholab run prints it; nothing written.
    const bad = await cli("report", `${dir}/bad.kho`, "--out", `${dir}/never`);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /bad\.kho:2:1: unknown command "kexc"/);
    assert.match(bad.err, /\^{4}/);
    assert.equal(bad.out, "");
    await assert.rejects(() => Deno.stat(`${dir}/never`), Deno.errors.NotFound);
    const runtime = await cli("report", file, "--out", `${dir}/never`, "--set", "n=0x1p");
    assert.equal(runtime.code, 2);
    assert.match(runtime.err, /s\.kho:4:/);
    await assert.rejects(() => Deno.stat(`${dir}/never`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli run and check: exit codes 0, 1, 2; a missing file exits 2", async () => {
  const dir = await Deno.makeTempDir();
  const ok = `${dir}/ok.kho`, failing = `${dir}/failing.kho`, bad = `${dir}/bad.kho`;
  await Deno.writeTextFile(ok, "machine ram=1G\nb = pages count=4\npreserve b\nkexec\nrestore b\n");
  await Deno.writeTextFile(failing, "expect 1 == 2\n");
  await Deno.writeTextFile(bad, "machine ram=1G\nkexc\n");
  assert.equal((await cli("run", ok)).code, 0);
  assert.equal((await cli("run", failing)).code, 1);
  const syntax = await cli("run", bad);
  assert.equal(syntax.code, 2);
  assert.match(syntax.err, /bad\.kho:2:1: unknown command "kexc"/);
  assert.equal((await cli("check", ok)).out, `${ok}: OK`);
  assert.equal((await cli("check", bad)).code, 2);
  const json = await cli("run", ok, "--json", "--seed", "7");
  assert.equal(json.code, 0);
  assert.ok(JSON.parse(json.out));
  const missing = await cli("run", `${dir}/none.kho`);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /^kholab run: /);
  assert.equal((await cli("run")).code, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: bad input in a fresh process exits 2 without a stack trace", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../cli.ts", import.meta.url).pathname, "matrix", "--bogus"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2);
  assert.match(err, /^kholab matrix: Unknown option '--bogus'/);
  assert.doesNotMatch(err, /\bat .*\.(ts|js):\d+/);
});

Deno.test("cli profiles and fdt", async () => {
  const p = await cli("profiles");
  assert.equal(p.code, 0);
  assert.match(p.out, /kho-v4/);
  assert.equal((await cli("fdt")).code, 2);
  assert.equal((await cli("fdt", "dump")).code, 2);
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/junk.dtb`, new Uint8Array(64));
  const check = await cli("fdt", "check", `${dir}/junk.dtb`);
  assert.equal(check.code, 1);
  assert.match(check.out, /^FDT_ERR_/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli import: the successor's findings, JSON, exit codes 0 / 1 / 2", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/host.txt`, "# host\n0x40000 18 0\n0x80000 9 0\n0x80400 10 0\n");
    const ok = await cli("import", `${dir}/host.txt`);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /found: 3 of 3 imported blocks exactly/);
    assert.match(ok.out, /outcome: exact/);
    const rfc = await cli("import", `${dir}/host.txt`, "--profile", "rfc-v1-order-table", "--json");
    assert.equal(rfc.code, 1);
    const r = JSON.parse(rfc.out);
    assert.equal(r.outcome, "incomplete");
    assert.match(r.missing.first[0].reason, /order-table-no-slot/);
    assert.equal(r.metrics["kernel.profile"], "rfc-v1-order-table");
    Deno.writeTextFileSync(`${dir}/bad.txt`, "0x40000 18\n0x40001 1\nzz 0\n");
    const bad = await cli("import", `${dir}/bad.txt`);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /bad\.txt:2:1: pfn 0x40001 is not aligned/);
    assert.match(bad.err, /bad\.txt:3:1: bad number "zz"/);
    assert.match(bad.err, /2 errors; nothing was imported/);
    assert.ok(!bad.err.includes("    at "), "no stack trace");
    assert.equal((await cli("import", `${dir}/none.txt`)).code, 2);
    assert.equal((await cli("import", dir)).code, 2);
    assert.equal((await cli("import", `${dir}/host.txt`, "--ram", "lots")).code, 2);
    assert.equal((await cli("import", `${dir}/host.txt`, "--profile", "kho-v9")).code, 2);
    assert.equal((await cli("import")).code, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli export and inspect: a scenario's handover round trip; a corrupted one's verdict", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const exp = await cli(
      "export",
      "--handover",
      `${dir}/h`,
      "hypervisor",
      ...SMALL,
      "--profile",
      "kho-v1-6.19",
    );
    assert.equal(exp.code, 0, exp.err);
    assert.match(exp.out, /export .*: kho-v1-6.19, \d+ sub-tree\(s\), tracker xarray-4k/);
    assert.ok(Deno.statSync(`${dir}/h/kho/out/fdt`).isFile);
    assert.ok(Deno.statSync(`${dir}/h/kholab/tracker.index.json`).isFile);
    const ins = await cli("inspect", `${dir}/h`);
    assert.equal(ins.code, 0, ins.err);
    assert.match(ins.out, /kho_populate: accepted/);
    assert.match(ins.out, /kho_mem_retrieve: \d+ blocks/);
    const json = JSON.parse((await cli("inspect", `${dir}/h`, "--json")).out);
    assert.equal(json.profile, "kho-v1-6.19");
    // A corrupted root FDT: the kernel refuses; exit 1, no stack trace.
    const fdt = Deno.readFileSync(`${dir}/h/kho/out/fdt`);
    fdt[0] = 0;
    Deno.writeFileSync(`${dir}/h/kho/out/fdt`, fdt);
    const bad = await cli("inspect", `${dir}/h`);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /kho_populate: refused: invalid FDT: FDT_ERR_BADMAGIC/);
    assert.equal((await cli("inspect", `${dir}/none`)).code, 2);
    assert.equal((await cli("export", "uniform")).code, 2, "--handover is required");
    assert.equal((await cli("export", "--handover", `${dir}/x`, "nosuch")).code, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli import, export and inspect take --design: a design's profile end to end", async () => {
  const design = new URL("../examples/designs/extent_list.ts", import.meta.url).pathname;
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/host.txt`, "0x40000 9\n0x40200 9\n0x50000 0\n0x50001 0\n");
    // Without --design a fresh process does not know the profile: bad input, one line.
    const fresh = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../cli.ts", import.meta.url).pathname,
        "import",
        `${dir}/host.txt`,
        "--profile",
        "extent-list",
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(fresh.code, 2);
    assert.match(new TextDecoder().decode(fresh.stderr), /^kholab import: .*extent-list/);
    const imp = await cli(
      "import",
      `${dir}/host.txt`,
      "--design",
      design,
      "--profile",
      "extent-list",
    );
    assert.equal(imp.code, 0, imp.err);
    assert.match(imp.out, /profile extent-list; preserved with kho_preserve_pages/);
    assert.match(imp.out, /found: 4 of 4 imported blocks exactly/);
    const exp = await cli(
      "export",
      "--handover",
      `${dir}/h`,
      "uniform",
      "ramBytes=1G",
      "pages=8",
      "--design",
      design,
      "--profile",
      "extent-list",
    );
    assert.equal(exp.code, 0, exp.err);
    assert.match(exp.out, /^export .*: extent-list, \d+ sub-tree\(s\), tracker extent-list at /);
    const ins = await cli("inspect", `${dir}/h`, "--design", design);
    assert.equal(ins.code, 0, ins.err);
    assert.match(ins.out, /read as extent-list \(the export's profile\)/);
    assert.match(ins.out, /compatible "kho-v4-extent-list"/);
    assert.match(ins.out, /kho_mem_retrieve: \d+ blocks/);
    for (
      const c of [["import", `${dir}/host.txt`], ["export", "--handover", `${dir}/x`], [
        "inspect",
        `${dir}/h`,
      ]]
    ) {
      const r = await cli(...c, "--design", `${dir}/none.ts`);
      assert.equal(r.code, 2, c[0]);
      assert.match(r.err, new RegExp(`^kholab ${c[0]}: .*none\\.ts`), c[0]);
      assert.match((await cli(c[0], "--help")).out, /--design FILE\.ts/, c[0]);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli: unreadable paths exit 2 with one line — directories, devices, FIFOs, too big", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/fifo`;
  new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
  const big = `${dir}/big.kho`;
  await Deno.writeFile(big, new Uint8Array(4 * 1024 * 1024 + 1).fill(0x0a));
  const cases: [string[], RegExp][] = [
    [["run", dir], /^kholab run: .*: a directory \(only regular files are read\)$/],
    [["check", dir], /^kholab check: .*: a directory \(only regular files are read\)$/],
    [["fdt", "check", dir], /^kholab fdt: .*: a directory \(only regular files are read\)$/],
    [["fdt", "dump", dir], /^kholab fdt: .*: a directory \(only regular files are read\)$/],
    [["run", "/dev/zero"], /^kholab run: \/dev\/zero: not a regular file/],
    [["fdt", "dump", "/dev/zero"], /^kholab fdt: \/dev\/zero: not a regular file/],
    [["run", fifo], /fifo: not a regular file \(only regular files are read\)$/],
    [["run", big], /big\.kho: larger than 4 MiB$/],
    [["run", `${dir}/missing.kho`], /missing\.kho: no such file$/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, re, args.join(" "));
    assert.ok(!r.err.includes("\n"), args.join(" "));
  }
  // include of a directory or a device: a runtime error at its line, exit 2.
  await Deno.writeTextFile(`${dir}/inc.kho`, `include "${dir}"\n`);
  const inc = await cli("run", `${dir}/inc.kho`);
  assert.equal(inc.code, 2);
  assert.match(inc.err, /inc\.kho:1:1: include: EINVAL: .*: a directory/);
  await Deno.writeTextFile(`${dir}/zero.kho`, "include /dev/zero\n");
  const zero = await cli("run", `${dir}/zero.kho`);
  assert.equal(zero.code, 2);
  assert.match(zero.err, /zero\.kho:1:1: include: EINVAL: \/dev\/zero: not a regular file/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: a file without read permission exits 2 (permission denied)", async () => {
  // Tests run as root, for whom chmod 000 still reads: deny the read with Deno's permissions.
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/secret.kho`, "kexec\n");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${new URL("..", import.meta.url).pathname},${Deno.env.get("HOME") ?? "/"}`,
      "--allow-env",
      new URL("../cli.ts", import.meta.url).pathname,
      "run",
      `${dir}/secret.kho`,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, err);
  assert.match(err, /^kholab run: .*secret\.kho: permission denied/);
  assert.doesNotMatch(err, /\bat .*\.(ts|js):\d+/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli run: each error printed once, on stderr; a binary script echoes no control byte", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.kho`, "machine ram=1G\nx = folios order=99\n");
  const r = await cli("run", `${dir}/bad.kho`);
  assert.equal(r.code, 2);
  assert.equal(r.err.match(/folio order 99|order: /g)?.length ?? 0, 1, r.err);
  assert.doesNotMatch(r.out, /bad\.kho:2/);
  const bin = new Uint8Array(4096);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 131 + 7) & 0xff;
  bin.set(new TextEncoder().encode("\x1b]0;owned\x07\x1b[2J"), 100);
  await Deno.writeFile(`${dir}/bin.kho`, bin);
  for (const cmd of ["run", "check"]) {
    const b = await cli(cmd, `${dir}/bin.kho`);
    assert.equal(b.code, 2, cmd);
    // deno-lint-ignore no-control-regex -- no control character may reach the terminal
    assert.doesNotMatch(b.out + b.err, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, cmd);
    assert.match(b.out + b.err, /syntax error/, cmd);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: bad flags and arguments exit 2 with one line and no stack trace", async () => {
  const cores = navigator.hardwareConcurrency || 1;
  const cases: [string[], RegExp][] = [
    [["matrix", "--frob"], /^kholab matrix: Unknown option '--frob'/],
    [["profiles", "extra"], /^kholab profiles: Unexpected argument 'extra'/],
    [["bench", "--pages", "-1"], /^kholab bench: Option '--pages' argument is ambiguous/],
    [["bench", "--workload", "radix", "--pages=-1"], /^kholab bench: --pages: not a count/],
    [["compare", "--workers", "abc"], /^kholab compare: --workers: not a count: "abc"$/],
    [["compare", "--workers=-2"], /^kholab compare: --workers: not a count: "-2"$/],
    [["compare", "--workers", "1.5"], /--workers: count "1\.5" is not a whole number/],
    [
      ["sweep", "uniform", "--workers", String(cores + 1)],
      new RegExp(`--workers ${cores + 1}: more than the ${cores} cores .*--force-workers`),
    ],
    [["demo", "--workers", "999"], /--workers 999: more than the/],
    [["report", "--out", "x", "--workers", "999"], /--workers 999: more than the/],
    [["run", "x.kho", "--max-steps", "0"], /--max-steps 0: at least 1/],
    // Found by the cli fuzz target: 1024 warm-up runs of a workload ran for minutes.
    [["bench", "--workload", "radix", "--warmup", "1024"], /--warmup 1024: at most 20/],
    // Writing where the host refuses: bad input, not an internal error.
    [[
      "report",
      "--out",
      "/proc/kholab/x",
      "uniform",
      "ramBytes=1G",
      "pages=8",
      "--profiles",
      "kho-v4",
      "--workers",
      "0",
      "--no-matrix",
    ], /^kholab report: /],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, re, args.join(" "));
    assert.doesNotMatch(r.err, /\n\s+at /, args.join(" "));
  }
});

Deno.test("cli compare and sweep: bad parameters exit 2 before anything runs", async () => {
  const cases: [string[], RegExp][] = [
    [["compare", "uniform", "pages=abc"], /^kholab compare: not a count: "abc"$/],
    [["compare", "uniform", "ramBytes=4GB5"], /not a size: "4GB5"/],
    [["compare", "uniform", "nodes=1.5"], /nodes: not an integer: 1\.5/],
    [["compare", "uniform", "nodes=99"], /nodes=99: at most 64/],
    [["compare", "uniform", "guestBytes=3"], /scenario uniform has no parameter "guestBytes"/],
    [
      ["sweep", "uniform", "--param", "pages", "--values", "1,x"],
      /^kholab sweep: --values pages=x: not a count: "x"$/,
    ],
    [["sweep", "uniform", "--param", "nodes", "--values", "1,0"], /pages=|nodes=0: at least 1/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args, "--profiles", "kho-v4", "--workers", "0");
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, re, args.join(" "));
    assert.equal(r.out, "", args.join(" "));
  }
  // --force-workers: more workers than cores when asked (one point: one worker starts).
  const cores = navigator.hardwareConcurrency || 1;
  const forced = await cli(
    "compare",
    "uniform",
    "ramBytes=1G",
    "nodes=1",
    "pages=8",
    "--profiles",
    "kho-v4",
    "--workers",
    String(cores + 1),
    "--force-workers",
  );
  assert.equal(forced.code, 0, forced.err);
});

Deno.test("cli: compare --shard K/N --out, then compare merge: the one-process table and CSV", async () => {
  const dir = await Deno.makeTempDir();
  const args = [
    "compare",
    "uniform",
    "--profiles",
    "kho-v4,kho-v1-6.19,kho-v2",
    "--repeat",
    "0",
    "--workers",
    "0",
    "ramBytes=1G",
    "nodes=1",
    "pages=300",
  ];
  const files = [1, 2].map((k) => `${dir}/c${k}.jsonl`);
  for (const [i, f] of files.entries()) {
    const r = await cli(...args, "--shard", `${i + 1}/2`, "--out", f);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^shard ${i + 1}/2 of compare uniform: ${2 - i} of 3 point`));
    assert.match(r.err, new RegExp(`shard ${i + 1}/2: 1/${2 - i} point ${i} \\(kho-`));
  }
  for (const format of ["table", "csv", "json"]) {
    const one = await cli(...args, "--format", format);
    const merged = await cli("compare", "merge", ...files.toReversed(), "--format", format);
    assert.equal(merged.code, 0, merged.err);
    assert.equal(merged.out, one.out, format);
    assert.match(merged.err, /^merged 3 row\(s\) of uniform from 2 file\(s\) \(shard 1\/2, 2\/2;/);
  }
  // compare merge prints the table by default, sweep merge CSV; --out writes the file.
  assert.equal((await cli("compare", "merge", ...files)).out, (await cli(...args)).out);
  const out = `${dir}/merged.csv`;
  const w = await cli("sweep", "merge", ...files, "--out", out);
  assert.equal(w.code, 0, w.err);
  assert.match(w.out, /into .*merged\.csv$/);
  assert.equal(await Deno.readTextFile(out), (await cli(...args, "--format", "csv")).out);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: bad --shard, --out and merge input exit 2 with one line", async () => {
  const dir = await Deno.makeTempDir();
  const sweep = ["sweep", "uniform", "--profiles", "kho-v4", "--repeat", "0", "ramBytes=1G"];
  const cases: [string[], RegExp][] = [
    [[...sweep, "--shard", "3/2", "--out", `${dir}/s`], /--shard 3\/2: K must be 1 to 2/],
    [[...sweep, "--shard", "x", "--out", `${dir}/s`], /--shard x: expected K\/N/],
    [[...sweep, "--shard", "1/2"], /--shard 1\/2 needs --out FILE\.jsonl/],
    [[...sweep, "--out", `${dir}/s`], /--shard is missing/],
    [
      [...sweep, "--shard", "1/2", "--out", `${dir}/s`, "--format", "csv"],
      /--format csv with --shard/,
    ],
    [[...sweep, "--shard", "1/2", "--out", dir], /not a regular file/],
    [[...sweep, "--shard", "1/2", "--out", `${dir}/no/such/dir/s`], /No such file|not found/i],
    [["sweep", "merge"], /no shard files given/],
    [["sweep", "merge", `${dir}/missing.jsonl`], /missing\.jsonl: no such file/],
    [["sweep", "merge", dir], /a directory/],
    [["compare", "merge", "--format", "xml", `${dir}/x`], /--format xml: table, json or csv/],
    [["sweep", "merge", "--bogus", `${dir}/x`], /Unknown option '--bogus'/],
  ];
  await Deno.writeTextFile(`${dir}/junk.jsonl`, "hello\n");
  cases.push([["sweep", "merge", `${dir}/junk.jsonl`], /junk\.jsonl:1: not JSON/]);
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, re, args.join(" "));
    assert.equal(r.err.split("\n").length, 1, r.err);
    assert.doesNotMatch(r.err, /\n\s+at /);
  }
  await Deno.remove(dir, { recursive: true });
});
