/**
 * The scale-out recipe of docs/scale-out.md on real engines: a sweep split into shards that
 * GNU parallel runs over SSH (`tools/scaleout/parallel_ssh.sh`) on two "hosts" — two logins
 * to an sshd this test starts on localhost (a free port, a throwaway host key and user key in a
 * temporary directory; no root needed) — then merged, and compared with the one-process run
 * field for field. The index arithmetic of the Slurm and Kubernetes job scripts is run here
 * too, with the variables those engines set.
 *
 * The default sweep is small (well under a minute). The acceptance run of issue 20 — a
 * 64-point density sweep × 9 profiles over two SSH hosts — is the same test with
 * `KHOLAB_SCALEOUT_FULL=1` (docs/scale-out.md gives the command and its time).
 */
import assert from "node:assert/strict";
import { type CliOutput, main } from "../../cli.ts";
import { deterministicPart } from "../../lib/metrics/metrics.ts";
import { rowsFromCsv } from "../../lib/scenario/export.ts";
import { pointLabel, shardIndices, sweepIdentity } from "../../lib/scenario/shard.ts";
import { requireTool } from "../support/system_tools.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const TOOLS = REPO + "tools/scaleout/";
const FULL = Deno.env.get("KHOLAB_SCALEOUT_FULL") === "1";

/** `n` preserved-page counts from 1 Ki to 256 Ki, geometric (a density sweep). */
function densities(n: number): string[] {
  return Array.from({ length: n }, (_, i) => String(Math.round(1024 * 256 ** (i / (n - 1)))));
}

/** The first nine profiles of `kholab profiles` (6.16 to kho-v4+fixes and the page-type RFC). */
const NINE = [
  "kho-v1-6.16",
  "kho-v1-6.18",
  "kho-v1-6.19",
  "rfc-v1-order-table",
  "kho-v2",
  "kho-v3",
  "kho-v4",
  "kho-v4+fixes",
  "rfc-2026-page-type",
];

/** The sweep: the acceptance's 64 × 9 on 16 GiB, or 6 × 3 on 1 GiB. */
const SWEEP = FULL
  ? {
    values: densities(64),
    profiles: NINE,
    params: ["poison=0"],
    shards: 8,
  }
  : {
    values: ["64", "256", "1Ki", "4Ki", "16Ki", "32Ki"],
    profiles: ["kho-v1-6.16", "rfc-v1-order-table", "kho-v4"],
    params: ["ramBytes=1G", "nodes=1", "poison=0"],
    shards: 4,
  };
const ARGS = [
  "sweep",
  "uniform",
  "--param",
  "pages",
  "--values",
  SWEEP.values.join(","),
  "--profiles",
  SWEEP.profiles.join(","),
  "--seed",
  "20",
  "--repeat",
  "0",
  ...SWEEP.params,
];

/** Runs the CLI in this process. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const io: CliOutput = { log: (t) => out.push(t), error: (t) => err.push(t) };
  const code = await main(args, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Runs a command; its exit code and output. */
async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

/** A TCP port nobody listens on now. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** An sshd of our own on 127.0.0.1, and an ssh config naming it as hosts `hostA`, `hostB`. */
async function startSshd(dir: string): Promise<{ sshConfig: string; stop: () => Promise<void> }> {
  for (const key of ["host_key", "user_key"]) {
    const r = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/${key}`]);
    assert.equal(r.code, 0, r.err);
  }
  await Deno.copyFile(`${dir}/user_key.pub`, `${dir}/authorized_keys`);
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "UsePAM no", // no root needed: sshd runs as this user and logs in only this user
      "StrictModes no", // the temporary directory's modes are not checked
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PrintMotd no",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    `${dir}/ssh_config`,
    [
      "Host hostA hostB",
      "  HostName 127.0.0.1",
      `  Port ${port}`,
      `  IdentityFile ${dir}/user_key`,
      "  IdentitiesOnly yes",
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "  BatchMode yes",
      "  LogLevel ERROR",
      "",
    ].join("\n"),
  );
  // As root, sshd insists on its privilege-separation directory (Debian's unit creates it at
  // boot; a container has none); as any other user it does without.
  if (Deno.uid() === 0) Deno.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const sshd = new Deno.Command("/usr/sbin/sshd", {
    args: ["-D", "-f", `${dir}/sshd_config`, "-E", `${dir}/sshd.log`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const log = () => Deno.readTextFile(`${dir}/sshd.log`).catch(() => "(no log)");
  const stop = async () => {
    try {
      sshd.kill("SIGTERM");
    } catch {
      // already gone
    }
    await sshd.status;
  };
  for (let t = 0;; t += 50) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (t > 10_000) {
        await stop();
        assert.fail(`sshd did not start on port ${port}: ${await log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const probe = await run("ssh", ["-F", `${dir}/ssh_config`, "hostB", "echo", "ok"]);
  if (probe.out.trim() !== "ok") {
    await stop();
    assert.fail(`ssh hostB failed (${probe.code}): ${probe.err} ${await log()}`);
  }
  return { sshConfig: `${dir}/ssh_config`, stop };
}

Deno.test({
  name: `scale-out: a ${SWEEP.values.length}-point density sweep × ${SWEEP.profiles.length} ` +
    `profiles in ${SWEEP.shards} shards by GNU parallel over SSH on two hosts, merged = one process`,
  sanitizeResources: false,
  fn: async () => {
    if (!requireTool("sshd", "ssh", "parallel", "rsync")) return;
    const dir = await Deno.makeTempDir({ prefix: "kholab-scaleout-" });
    const { sshConfig, stop } = await startSshd(dir);
    try {
      const deno = Deno.execPath(); // the hosts' Deno: this one (the recipe says npx)
      const outdir = `${dir}/shards`;
      const merged = `${dir}/merged.csv`;
      const script = () =>
        run("bash", [
          TOOLS + "parallel_ssh.sh",
          "--sshlogin",
          "2/hostA,2/hostB",
          "--ssh",
          `ssh -F ${sshConfig}`,
          "--shards",
          String(SWEEP.shards),
          "--outdir",
          outdir,
          "--repo",
          REPO,
          "--deno",
          deno,
          "--local-deno",
          deno,
          "--out",
          merged,
          "--",
          ...ARGS,
          "--workers",
          "1",
        ], { PARALLEL_HOME: `${dir}/parallel` });
      const first = await script();
      assert.equal(first.code, 0, first.out + first.err);

      // Both hosts ran shards, every job succeeded.
      const jobs = (await Deno.readTextFile(`${outdir}/joblog`)).trim().split("\n").slice(1)
        .map((l) => l.split("\t"));
      assert.equal(jobs.length, SWEEP.shards);
      assert.deepEqual([...new Set(jobs.map((j) => j[1]))].sort(), ["hostA", "hostB"]);
      assert.ok(jobs.every((j) => j[6] === "0"), JSON.stringify(jobs));

      // The one-process run: the same CSV, byte for byte, and row by row field for field.
      const one = await cli(...ARGS, "--format", "csv");
      assert.equal(one.code, 0, one.err);
      const text = await Deno.readTextFile(merged);
      const rows = rowsFromCsv(text), oneRows = rowsFromCsv(one.out);
      assert.equal(rows.length, SWEEP.values.length * SWEEP.profiles.length);
      assert.deepEqual(rows.map(deterministicPart), oneRows.map(deterministicPart));
      assert.equal(text, one.out);

      // Interrupted: shard 1 lost its last line. Running the recipe again runs that point
      // only (the file travels to whichever host runs the shard) and merges the same rows.
      const shard1 = `${outdir}/shard-1-of-${SWEEP.shards}.jsonl`;
      const lines = (await Deno.readTextFile(shard1)).split("\n");
      await Deno.writeTextFile(shard1, lines.slice(0, -2).join("\n") + "\n");
      const again = await script();
      assert.equal(again.code, 0, again.out + again.err);
      const total = SWEEP.values.length * SWEEP.profiles.length;
      for (let k = 1; k <= SWEEP.shards; k++) {
        const n = shardIndices(total, { k, n: SWEEP.shards }).length;
        const expect = k === 1 ? `${n - 1} already there, 1 run` : `${n} already there, 0 run`;
        assert.ok(again.out.includes(`shard ${k}/${SWEEP.shards} `), again.out);
        assert.match(again.out, new RegExp(`shard ${k}/${SWEEP.shards} .*\\(${expect}\\)`));
      }
      assert.equal(await Deno.readTextFile(merged), one.out);

      // A shard missing, a shard given twice: exit 2, the points named.
      const id = sweepIdentity({
        scenario: "uniform",
        params: Object.fromEntries(SWEEP.params.map((p) => p.split("="))),
        param: "pages",
        values: SWEEP.values,
        profiles: SWEEP.profiles,
        seed: 20,
        repeat: 0,
      });
      const file = (k: number) => `${outdir}/shard-${k}-of-${SWEEP.shards}.jsonl`;
      const all = Array.from({ length: SWEEP.shards }, (_, i) => file(i + 1));
      const shard2 = shardIndices(rows.length, { k: 2, n: SWEEP.shards });
      const missing = await cli("sweep", "merge", ...all.filter((_, i) => i !== 1));
      assert.equal(missing.code, 2);
      assert.match(
        missing.err,
        new RegExp(`${shard2.length} of ${rows.length} point\\(s\\) missing`),
      );
      for (const i of shard2.slice(0, 10)) {
        assert.ok(missing.err.includes(pointLabel(id, i)), missing.err);
      }
      assert.match(missing.err, new RegExp(`no line of shard 2/${SWEEP.shards} was given`));
      const twice = await cli("sweep", "merge", ...all, file(2));
      assert.equal(twice.code, 2);
      assert.match(twice.err, new RegExp(`${shard2.length} point\\(s\\) given more than once`));
      for (const i of shard2.slice(0, 10)) {
        assert.ok(twice.err.includes(pointLabel(id, i)), twice.err);
      }
    } finally {
      await stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("scale-out: the Slurm and Kubernetes job scripts turn their index into shard K of N", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kholab-scaleout-" });
  try {
    const args = [
      "sweep",
      "uniform",
      "--param",
      "pages",
      "--values",
      "64,128",
      "--profiles",
      "kho-v4,kho-v1-6.19",
      "--repeat",
      "0",
      "--workers",
      "0",
      "ramBytes=1G",
      "nodes=1",
    ];
    const env = { KHOLAB_DENO: Deno.execPath(), KHOLAB_SHARD_DIR: dir };
    // A Slurm array --array=3-5 (three tasks: 3, 4, 5), as sbatch sets its variables.
    for (const id of [3, 4, 5]) {
      const r = await run("bash", [TOOLS + "slurm_array.sh", ...args], {
        ...env,
        SLURM_ARRAY_TASK_ID: String(id),
        SLURM_ARRAY_TASK_MIN: "3",
        SLURM_ARRAY_TASK_MAX: "5",
        SLURM_ARRAY_TASK_COUNT: "3",
      });
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`shard ${id - 2}/3 of sweep`));
    }
    // A Kubernetes Indexed Job of completions 3: JOB_COMPLETION_INDEX 0, 1, 2.
    const k8s = `${dir}/k8s`;
    for (const index of [0, 1, 2]) {
      const r = await run("bash", [TOOLS + "k8s_shard.sh", ...args], {
        ...env,
        KHOLAB_SHARD_DIR: k8s,
        JOB_COMPLETION_INDEX: String(index),
        KHOLAB_SHARDS: "3",
      });
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`shard ${index + 1}/3 of sweep`));
    }
    const one = await cli(...args, "--format", "csv");
    const shards = (d: string) => [1, 2, 3].map((k) => `${d}/shard-${k}-of-3.jsonl`);
    for (const d of [dir, k8s]) {
      const m = await cli("sweep", "merge", ...shards(d), "--format", "csv");
      assert.equal(m.code, 0, m.err);
      assert.equal(m.out, one.out);
    }
    // Outside an array job, or with a bad index, the scripts refuse (exit 2).
    const bad = await run("bash", [TOOLS + "slurm_array.sh", ...args], env);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /SLURM_ARRAY_TASK_ID/);
    const badK8s = await run("bash", [TOOLS + "k8s_shard.sh", ...args], {
      ...env,
      JOB_COMPLETION_INDEX: "3",
      KHOLAB_SHARDS: "3",
    });
    assert.equal(badK8s.code, 2);
    assert.match(badK8s.err, /JOB_COMPLETION_INDEX/);
    // The manifest runs that script, as an Indexed Job whose completions are its shard count.
    const yaml = await Deno.readTextFile(TOOLS + "k8s_indexed_job.yaml");
    assert.match(yaml, /completionMode: Indexed/);
    const completions = /completions: (\d+)/.exec(yaml)?.[1];
    assert.match(yaml, new RegExp(`name: KHOLAB_SHARDS\\s+value: "${completions}"`));
    assert.match(yaml, /tools\/scaleout\/k8s_shard\.sh/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Waits until `ready()` holds (polling), or fails after `ms` with `why()`. */
async function waitUntil(
  ready: () => Promise<boolean>,
  ms: number,
  why: () => Promise<string>,
): Promise<void> {
  for (let t = 0; !(await ready()); t += 100) {
    if (t > ms) assert.fail(await why());
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A single-node Slurm cluster of our own, run as this user in `dir`: munged on its own socket
 * and key, slurmctld and slurmd on free ports, no cgroups (proctrack/linuxproc, task/none), no
 * accounting. Returns the environment its commands need and a stop function.
 */
async function startSlurm(
  dir: string,
): Promise<{ env: Record<string, string>; stop: () => Promise<void> }> {
  const user = (await run("id", ["-un"])).out.trim();
  const host = (await run("hostname", ["-s"])).out.trim();
  for (const d of ["munge", "state", "spool", "log"]) {
    await Deno.mkdir(`${dir}/${d}`, { mode: 0o700 });
  }
  const key = `${dir}/munge/munge.key`;
  await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(1024)), { mode: 0o400 });
  const socket = `${dir}/munge/munge.sock`;
  const daemons: Deno.ChildProcess[] = [];
  const stop = async () => {
    for (const d of daemons.toReversed()) {
      try {
        d.kill("SIGTERM");
      } catch {
        // already gone
      }
      await d.status;
    }
  };
  const daemon = (cmd: string, args: string[], env: Record<string, string> = {}) =>
    daemons.push(
      new Deno.Command(cmd, { args, env, stdout: "null", stderr: "null" }).spawn(),
    );
  const log = async () => {
    const out: string[] = [];
    for (const f of ["munge/munged.log", "log/slurmctld.log", "log/slurmd.log"]) {
      out.push(`${f}: ${(await Deno.readTextFile(`${dir}/${f}`).catch(() => "")).slice(-1500)}`);
    }
    return out.join("\n");
  };
  try {
    daemon("/usr/sbin/munged", [
      "--foreground",
      "--force",
      `--socket=${socket}`,
      `--key-file=${key}`,
      `--pid-file=${dir}/munge/munged.pid`,
      `--log-file=${dir}/munge/munged.log`,
      `--seed-file=${dir}/munge/munged.seed`,
    ]);
    await waitUntil(
      () => Deno.stat(socket).then(() => true, () => false),
      10_000,
      async () => `munged did not start: ${await log()}`,
    );
    const conf = `${dir}/slurm.conf`;
    await Deno.writeTextFile(
      conf,
      [
        "ClusterName=kholab",
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmUser=${user}`,
        `SlurmdUser=${user}`,
        `SlurmctldPort=${freePort()}`,
        `SlurmdPort=${freePort()}`,
        "AuthType=auth/munge",
        `AuthInfo=socket=${socket}`,
        "CredType=cred/munge",
        `StateSaveLocation=${dir}/state`,
        `SlurmdSpoolDir=${dir}/spool`,
        `SlurmctldPidFile=${dir}/slurmctld.pid`,
        `SlurmdPidFile=${dir}/slurmd.pid`,
        `SlurmctldLogFile=${dir}/log/slurmctld.log`,
        `SlurmdLogFile=${dir}/log/slurmd.log`,
        "ProctrackType=proctrack/linuxproc", // no cgroups: nothing needs root
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SwitchType=switch/none",
        "MpiDefault=none",
        "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        `NodeName=${host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN`,
        `PartitionName=kholab Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
        "",
      ].join("\n"),
    );
    const env = { SLURM_CONF: conf };
    daemon("/usr/sbin/slurmctld", ["-D", "-f", conf], env);
    daemon("/usr/sbin/slurmd", ["-D", "-f", conf], env);
    await waitUntil(
      async () => (await run("sinfo", ["-h", "-o", "%T"], env)).out.trim() === "idle",
      30_000,
      async () => `the Slurm node did not come up: ${await log()}`,
    );
    return { env, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

Deno.test({
  name: "scale-out: the same sweep as a Slurm job array on a single-node cluster, merged by a " +
    "job that waits for it = one process",
  sanitizeResources: false,
  fn: async () => {
    if (!requireTool("slurm", "munge")) return;
    const dir = await Deno.makeTempDir({ prefix: "kholab-slurm-" });
    const { env, stop } = await startSlurm(dir);
    try {
      const shards = `${dir}/shards`;
      const deno = Deno.execPath();
      const sbatch = async (args: string[]) => {
        const r = await run("sbatch", ["--parsable", `--chdir=${REPO}`, ...args], env);
        assert.equal(r.code, 0, r.err);
        return r.out.trim();
      };
      // The recipe of docs/scale-out.md: the array, then the merge as a job that waits for it.
      const jobId = await sbatch([
        "--array=1-3",
        "--cpus-per-task=1",
        `--output=${dir}/shard-%A_%a.log`,
        `--export=ALL,KHOLAB_DENO=${deno},KHOLAB_SHARD_DIR=${shards}`,
        TOOLS + "slurm_array.sh",
        ...ARGS,
        "--workers",
        "1",
      ]);
      const files = [1, 2, 3].map((k) => `${shards}/shard-${k}-of-3.jsonl`).join(" ");
      const mergeId = await sbatch([
        `--dependency=afterany:${jobId}`,
        `--output=${dir}/merge.log`,
        "--wrap",
        `${deno} task -q kholab sweep merge ${files} --out ${dir}/merged.csv`,
      ]);
      const logs = async () => {
        const out: string[] = [];
        for await (const e of Deno.readDir(dir)) {
          if (e.name.endsWith(".log")) {
            out.push(`${e.name}: ${await Deno.readTextFile(`${dir}/${e.name}`)}`);
          }
        }
        return out.join("\n");
      };
      // (sbatch --wait would do, but it polls ever more slowly: half a minute late here.)
      await waitUntil(
        async () =>
          (await run("squeue", ["-h", "-j", `${jobId},${mergeId}`], env)).out.trim() === "",
        120_000,
        async () => `the jobs did not finish: ${await logs()}`,
      );
      // Every task and the merge completed with exit code 0 (finished jobs stay in slurmctld's
      // memory for MinJobAge, 300 s).
      let states = "";
      for (const id of [jobId, mergeId]) {
        const r = await run("scontrol", ["-o", "show", "job", id], env);
        states += r.out + r.err;
      }
      const tasks = [...states.matchAll(/JobState=(\S+) .*?ExitCode=(\S+)/g)].map((m) =>
        `${m[1]} ${m[2]}`
      );
      assert.deepEqual(tasks, Array(4).fill("COMPLETED 0:0"), `${states}\n${await logs()}`);
      for (const k of [1, 2, 3]) {
        assert.match(
          await Deno.readTextFile(`${dir}/shard-${jobId}_${k}.log`),
          new RegExp(`shard ${k}/3 of sweep`),
        );
      }
      const one = await cli(...ARGS, "--format", "csv");
      assert.equal(await Deno.readTextFile(`${dir}/merged.csv`), one.out);
    } finally {
      await stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
