import assert from "node:assert/strict";
import fc from "fast-check";
import { ManualClock } from "../../lib/rng.ts";
import type { MetricsRow } from "../../lib/metrics/metrics.ts";
import {
  expectedPoint,
  identityTotal,
  mergeShardFiles,
  mergeShards,
  parseShard,
  parseShardText,
  runShard,
  type ShardCode,
  ShardError,
  shardIndices,
  shardLine,
  shardOf,
  type ShardOptions,
  sweepIdentity,
} from "../../lib/scenario/shard.ts";
import { runSweep, sweepPoints } from "../../lib/scenario/sweep.ts";
import { rowsToCsv, rowsToJson } from "../../lib/scenario/export.ts";

const CODE: ShardCode = { digest: "sha256:" + "ab".repeat(32), deno: "2.9.6", revision: "r1" };

/** A small density sweep: 3 values × 2 profiles, on a 1 GiB machine. */
const SWEEP = {
  scenario: "uniform",
  params: { ramBytes: "1G", nodes: 1, poison: 0 },
  param: "pages",
  values: ["64", "128", "1Ki"],
  profiles: ["kho-v4", "kho-v1-6.16"] as const,
  seed: 7,
  workers: 0,
  repeat: 0,
};

/** A clock that moves 1 ms per reading: timed regions get deterministic samples. */
function tickingClock() {
  let t = 0;
  return { nowMs: () => t++ };
}

async function tempFile(): Promise<string> {
  return await Deno.makeTempFile({ suffix: ".jsonl" });
}

async function shard(
  k: number,
  n: number,
  file: string,
  extra: Partial<ShardOptions> = {},
): Promise<Awaited<ReturnType<typeof runShard>>> {
  return await runShard({
    ...SWEEP,
    profiles: [...SWEEP.profiles],
    clock: new ManualClock(),
    shard: { k, n },
    file,
    code: CODE,
    ...extra,
  });
}

Deno.test("shard K/N: parsed strictly; the shards partition the points round robin", () => {
  assert.deepEqual(parseShard("3/4"), { k: 3, n: 4 });
  assert.deepEqual(parseShard(" 1 / 1 "), { k: 1, n: 1 });
  for (const bad of ["", "1", "0/2", "3/2", "1/0", "-1/2", "1.5/2", "a/b", "1/2/3", "1/2000000"]) {
    assert.throws(() => parseShard(bad), SyntaxError, bad);
  }
  for (const total of [0, 1, 7, 18]) {
    for (const n of [1, 2, 3, 5, 20]) {
      const seen: number[] = [];
      for (let k = 1; k <= n; k++) {
        const ix = shardIndices(total, { k, n });
        for (const i of ix) assert.equal(shardOf(i, n), k);
        seen.push(...ix);
      }
      assert.deepEqual(seen.sort((a, b) => a - b), [...Array(total).keys()], `${total}/${n}`);
    }
  }
});

Deno.test("sweep identity: resolved parameters; the expected points are sweepPoints'", () => {
  const id = sweepIdentity(SWEEP);
  assert.equal(id.params.ramBytes, 2 ** 30); // "1G" resolved
  assert.equal(id.params.pages, undefined); // the swept parameter is not a common one
  assert.deepEqual(id.values, ["64", "128", "1Ki"]);
  assert.equal(identityTotal(id), 6);
  const points = sweepPoints(SWEEP);
  assert.deepEqual(
    points.map((p) => expectedPoint(id, p.index)),
    points.map((p) => ({
      pointIndex: p.pointIndex,
      profile: p.profile,
      seed: p.seed,
      sweepValue: p.sweepValue,
    })),
  );
  // Spelling a parameter another way is the same sweep; a compare has one value, "".
  assert.deepEqual(sweepIdentity({ ...SWEEP, params: { ...SWEEP.params, ramBytes: 2 ** 30 } }), id);
  const cmp = sweepIdentity({
    scenario: "uniform",
    params: { ramBytes: "1G" },
    profiles: ["kho-v4"],
  });
  assert.equal(identityTotal(cmp), 1);
  assert.deepEqual(expectedPoint(cmp, 0).sweepValue, "");
  assert.throws(() => sweepIdentity({ ...SWEEP, values: ["64", "lots"] }), /pages=lots/);
});

Deno.test("runSweep with indices runs exactly those points, with their whole-sweep seeds", async () => {
  const whole = await runSweep({
    ...SWEEP,
    profiles: [...SWEEP.profiles],
    clock: new ManualClock(),
  });
  const seen: number[] = [];
  const part = await runSweep({
    ...SWEEP,
    profiles: [...SWEEP.profiles],
    indices: [4, 1],
    clock: new ManualClock(),
    onRow: (_row, done, total, index) => {
      seen.push(index);
      assert.ok(done <= total && total === 2);
    },
  });
  assert.deepEqual(part, [whole[1], whole[4]]);
  assert.deepEqual(seen.sort(), [1, 4]);
  const base = { ...SWEEP, profiles: [...SWEEP.profiles], clock: new ManualClock() };
  await assert.rejects(() => runSweep({ ...base, indices: [6] }), /index 6 is not a point/);
  await assert.rejects(() => runSweep({ ...base, indices: [1, 1] }), /given twice/);
  await assert.rejects(() => runSweep({ ...base, maxPendingPoints: 0 }), RangeError);
});

Deno.test("shards merge into the one-process rows, timings included, in point order", async () => {
  const clock = tickingClock();
  const timed = { repeat: 2, warmup: 0, clock, workers: 1 };
  const whole = await runSweep({ ...SWEEP, profiles: [...SWEEP.profiles], ...timed });
  const files: string[] = [];
  for (const k of [3, 1, 2]) {
    const f = await tempFile();
    await Deno.remove(f); // the shard creates its file
    const r = await shard(k, 3, f, { ...timed, clock: tickingClock() });
    assert.deepEqual(r.indices, shardIndices(6, { k, n: 3 }));
    assert.equal(r.already, 0);
    files.push(f);
  }
  const merged = mergeShardFiles(files);
  assert.deepEqual(merged.rows, whole);
  // The CSV and JSON of the merge are the one-process run's, byte for byte.
  assert.equal(rowsToCsv(merged.rows), rowsToCsv(whole));
  assert.equal(rowsToJson(merged.rows), rowsToJson(whole));
  assert.ok(rowsToCsv(whole).includes("walkMs.median"));
  assert.deepEqual(merged.shards, ["1/3", "2/3", "3/3"]);
  assert.equal(merged.sweep.repeat, 2);
  for (const f of files) await Deno.remove(f);
});

Deno.test("a shard resumes: the points in its file are skipped, an interrupted line is cut", async () => {
  const f = await tempFile();
  const first = await shard(1, 2, f);
  assert.deepEqual(first.indices, [0, 2, 4]);
  assert.equal(first.ran, 3);
  const full = await Deno.readTextFile(f);
  // Interrupted while writing its third line: two whole lines and half of one.
  const lines = full.split("\n");
  await Deno.writeTextFile(f, `${lines[0]}\n${lines[1]}\n${lines[2].slice(0, 100)}`);
  const ran: number[] = [];
  const again = await shard(1, 2, f, { onPoint: (p) => ran.push(p.index) });
  assert.equal(again.already, 2);
  assert.equal(again.ran, 1);
  assert.ok(again.droppedTail);
  assert.deepEqual(ran, [JSON.parse(lines[2]).index]); // the interrupted point, run again
  const text = await Deno.readTextFile(f);
  assert.equal(text.split("\n").length, 4); // three lines and the final newline
  assert.deepEqual(
    parseShardText(text, f).lines.map((l) => l.rec.index).sort(),
    [0, 2, 4],
  );
  // Nothing left: no point runs, the file stays as it is.
  const done = await shard(1, 2, f, { onPoint: () => assert.fail("nothing to run") });
  assert.equal(done.ran, 0);
  assert.equal(await Deno.readTextFile(f), text);
  assert.deepEqual(done.rows, again.rows);
  await Deno.remove(f);
});

Deno.test("a shard refuses a file of another shard, sweep or code, and leaves it as it is", async () => {
  const f = await tempFile();
  await shard(2, 2, f);
  const before = await Deno.readTextFile(f);
  const refused = async (extra: Partial<ShardOptions>, k: number, n: number, re: RegExp) => {
    await assert.rejects(() => shard(k, n, f, extra), (e: Error) => {
      assert.ok(e instanceof ShardError, String(e));
      assert.match(e.message, re);
      assert.match(e.message, new RegExp(`^${f}:1: `));
      return true;
    });
    assert.equal(await Deno.readTextFile(f), before, "the file is left as it was");
  };
  await refused({}, 1, 2, /point 1 \(pages=64, kho-v1-6\.16\) of shard 2\/2, not 1\/2/);
  await refused({ seed: 8 }, 2, 2, /another sweep \(seed 7 ≠ 8\)/);
  await refused({ code: { ...CODE, digest: "sha256:" + "cd".repeat(32) } }, 2, 2, /code version/);
  await refused({ params: { ...SWEEP.params, nodes: 2 } }, 2, 2, /params\.nodes 1 ≠ 2/);
  await Deno.writeTextFile(f, before + "not json\n");
  await assert.rejects(() => shard(2, 2, f), /:4: not JSON/);
  await Deno.remove(f);
});

/** Lines of a fake two-profile, three-value sweep, shard by shard (no scenario runs). */
function fakeShards(n: number, overrides: (index: number) => Partial<MetricsRow> = () => ({})) {
  const id = sweepIdentity({ ...SWEEP, profiles: [...SWEEP.profiles] });
  const texts: string[] = [];
  for (let k = 1; k <= n; k++) {
    let text = "";
    for (const i of shardIndices(identityTotal(id), { k, n })) {
      const e = expectedPoint(id, i);
      const row: MetricsRow = {
        scenario: "uniform",
        profile: e.profile,
        pointIndex: e.pointIndex,
        seed: e.seed,
        sweepParam: "pages",
        sweepValue: e.sweepValue,
        walkCacheLines: 10 * i,
        ...overrides(i),
      } as MetricsRow;
      text += shardLine({ index: i, shard: { k, n }, sweep: id, code: CODE }, row);
    }
    texts.push(text);
  }
  return texts.map((text, i) => ({ name: `s${i + 1}.jsonl`, text }));
}

function mergeError(inputs: { name: string; text: string }[]): ShardError {
  try {
    mergeShards(inputs);
  } catch (e) {
    assert.ok(e instanceof ShardError, String(e));
    return e;
  }
  assert.fail("the merge did not fail");
}

Deno.test("merge: a missing or duplicated shard fails naming the points", () => {
  const [s1, s2, s3] = fakeShards(3);
  assert.equal(
    mergeShards([s3, s1, s2]).rows.map((r) => r.walkCacheLines).join(),
    "0,10,20,30,40,50",
  );
  const missing = mergeError([s1, s3]);
  assert.equal(missing.kind, "missing");
  assert.deepEqual(missing.points, [1, 4]);
  assert.equal(
    missing.message,
    "2 of 6 point(s) missing: point 1 (pages=64, kho-v1-6.16), point 4 (pages=1Ki, kho-v4) " +
      "— no line of shard 2/3 was given",
  );
  const dup = mergeError([s1, s2, s3, s2]);
  assert.equal(dup.kind, "duplicate");
  assert.deepEqual(dup.points, [1, 4]);
  assert.match(
    dup.message,
    /^2 point\(s\) given more than once: point 1 \(pages=64, kho-v1-6\.16\) at s2\.jsonl:1 and s2\.jsonl:1, point 4/,
  );
  assert.match(dup.message, /\(s2\.jsonl given more than once\)$/);
  // One line of shard 3 copied into shard 1's file: a duplicate, named with both places.
  const copied = mergeError([{ ...s1, text: s1.text + s3.text.split("\n")[0] + "\n" }, s2, s3]);
  assert.match(copied.message, /point 2 \(pages=128, kho-v4\) at s1\.jsonl:3 and s3\.jsonl:1/);
  // Many missing points: ten named, then a count.
  const many = fakeShards(1)[0];
  const few = { name: "few.jsonl", text: many.text.split("\n")[0] + "\n" };
  assert.match(mergeError([few]).message, /^5 of 6 point\(s\) missing: point 1 /);
});

Deno.test("merge: foreign points (another sweep, other code, a row not its point) are named", () => {
  const [s1, s2] = fakeShards(2);
  const otherCode = {
    name: "o.jsonl",
    text: s2.text.replaceAll(CODE.digest, "sha256:" + "0".repeat(64)),
  };
  const foreign = mergeError([s1, s2, otherCode]);
  assert.equal(foreign.kind, "foreign");
  assert.deepEqual(foreign.points, [1, 3, 5]);
  assert.match(
    foreign.message,
    /^3 foreign point\(s\) in o\.jsonl \(point 1 \(pages=64, kho-v1-6\.16\) at o\.jsonl:1, .*\): another sweep than s1\.jsonl:1's — code version sha256:abababababab ≠ sha256:000000000000$/,
  );
  const otherSeed = { name: "x.jsonl", text: s2.text.replaceAll('"seed":7', '"seed":9') };
  assert.match(mergeError([s1, otherSeed]).message, /seed 7 ≠ 9/);
  // A row edited to another profile than its index names.
  const [t1, t2] = fakeShards(2, (i) => (i === 3 ? { profile: "kho-v4" } : {}));
  const edited = mergeError([t1, t2]);
  assert.equal(edited.kind, "foreign");
  assert.match(
    edited.message,
    /s2\.jsonl:2: foreign point 3 \(pages=128, kho-v1-6\.16\): its row has profile "kho-v4"/,
  );
});

Deno.test("merge: lines that are not shard lines, incomplete lines, nothing at all", () => {
  const [s1, s2] = fakeShards(2);
  const cut = { name: "cut.jsonl", text: s2.text.slice(0, -20) };
  assert.match(mergeError([s1, cut]).message, /^cut\.jsonl:3: an incomplete last line/);
  const bad = (text: string) => mergeError([{ name: "b.jsonl", text }]);
  assert.match(bad("{}\n").message, /^b\.jsonl:1: not a kholab shard line/);
  assert.match(bad("[1]\n").message, /not a JSON object/);
  assert.match(bad("\n").message, /an empty line/);
  const line = JSON.parse(s1.text.split("\n")[0]);
  assert.match(
    bad(JSON.stringify({ ...line, index: 99 }) + "\n").message,
    /index 99 is past the sweep's 6 points/,
  );
  assert.match(
    bad(JSON.stringify({ ...line, row: { ...line.row, x: [1] } }) + "\n").message,
    /bad row value x/,
  );
  assert.match(bad(JSON.stringify({ ...line, shard: "1" }) + "\n").message, /bad shard/);
  assert.equal(mergeError([{ name: "e.jsonl", text: "" }]).kind, "empty");
  assert.throws(() => mergeShardFiles(["/nonexistent.jsonl"]), /no such file/);
});

Deno.test("shard lines keep numbers JSON cannot hold", () => {
  const id = sweepIdentity({ ...SWEEP, profiles: [...SWEEP.profiles] });
  const e = expectedPoint(id, 0);
  const row = {
    scenario: "uniform",
    profile: e.profile,
    pointIndex: 0,
    seed: e.seed,
    sweepParam: "pages",
    sweepValue: "64",
    handoverFloorRatio: Infinity,
    walkCacheLines: NaN,
  };
  const texts = [0, 1, 2, 3, 4, 5].map((i) =>
    shardLine(
      { index: i, shard: { k: 1, n: 1 }, sweep: id, code: CODE },
      i === 0 ? row : { ...row, ...expectedPoint(id, i) },
    )
  );
  const merged = mergeShards([{ name: "a", text: texts.join("") }]);
  assert.equal(merged.rows[0].handoverFloorRatio, Infinity);
  assert.ok(Number.isNaN(merged.rows[0].walkCacheLines));
});

Deno.test("two runs of one shard on one file at once: the second waits, then runs nothing", async () => {
  const f = await tempFile();
  await Deno.remove(f);
  const cli = new URL("../../cli.ts", import.meta.url).pathname;
  const start = () =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        cli,
        "sweep",
        "uniform",
        "--param",
        "pages",
        "--values",
        "64,128,256",
        "--profiles",
        "kho-v4,kho-v1-6.16",
        "--repeat",
        "0",
        "--workers",
        "0",
        "ramBytes=1G",
        "nodes=1",
        "--shard",
        "1/1",
        "--out",
        f,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const [a, b] = await Promise.all([start(), start()]);
  const dec = new TextDecoder();
  assert.equal(a.code, 0, dec.decode(a.stderr));
  assert.equal(b.code, 0, dec.decode(b.stderr));
  const outs = [dec.decode(a.stdout), dec.decode(b.stdout)].sort();
  assert.match(outs[0], /\(0 already there, 6 run\)/);
  assert.match(outs[1], /\(6 already there, 0 run\)/);
  const indices = parseShardText(await Deno.readTextFile(f), f).lines.map((l) => l.rec.index);
  assert.deepEqual(indices.sort(), [0, 1, 2, 3, 4, 5]);
  await Deno.remove(f);
});

Deno.test("merge: edited shard files give rows or a ShardError, never another exception", () => {
  const [s1, s2] = fakeShards(2);
  const text = s1.text + s2.text;
  const edit = fc.tuple(
    fc.nat({ max: text.length - 1 }),
    fc.nat({ max: 40 }),
    fc.constantFrom("", "0", "-1", "null", "[]", "{}", '"', ",", "\n", "1e999", '"x"', "}"),
  );
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
      let t = text;
      for (const [at, cut, put] of edits) {
        const i = at % (t.length + 1);
        t = t.slice(0, i) + put + t.slice(i + cut);
      }
      try {
        const m = mergeShards([{ name: "e.jsonl", text: t }]);
        assert.equal(m.rows.length, 6);
      } catch (e) {
        if (!(e instanceof ShardError)) throw e;
        assert.ok(e.message.length > 0 && !e.message.includes("\n"));
      }
    }),
    { seed: 20, numRuns: 2000 },
  );
});
