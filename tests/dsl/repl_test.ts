import assert from "node:assert/strict";
import { Evaluator } from "../../lib/dsl/evaluator.ts";
import { openBrackets } from "../../lib/dsl/repl.ts";
import { Session } from "../../lib/dsl/session.ts";
import { CURRENT_PROFILE } from "../../lib/kho/profiles.ts";
import { ManualClock } from "../../lib/rng.ts";
import { requireTool } from "../support/system_tools.ts";

/** The REPL as users start it: `deno task repl` runs `cli.ts repl`. */
const CLI = new URL("../../cli.ts", import.meta.url).pathname;

Deno.test("open brackets ignore strings and comments", () => {
  assert.equal(openBrackets("sweep x in [1, 2] {"), 1);
  assert.equal(openBrackets("repeat 2 { kexec }"), 0);
  assert.equal(openBrackets('expect x == "{" # {'), 0);
  assert.equal(openBrackets("sweep x in [1,\n"), 1);
});

Deno.test("piped stdin runs like a script with its exit code", async () => {
  const run = async (text: string) => {
    const p = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "repl"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { KHOLAB_HISTORY: "/dev/null" },
    }).spawn();
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(text));
    await w.close();
    const out = await p.output();
    return { code: out.code, text: new TextDecoder().decode(out.stdout) };
  };
  const ok = await run(
    "machine ram=1G\nb = folios order=1\npreserve b\nkexec\nrestore b\nexpect restore.failed == 0\n",
  );
  assert.equal(ok.code, 0, ok.text);
  assert.match(ok.text, /kexec: boot #1/);
  const bad = await run("machine ram=1G\nkexc\n");
  assert.equal(bad.code, 2);
  assert.match(bad.text, /<stdin>:2:1: unknown command "kexc"/);
  assert.equal((await run("expect 1 == 2\n")).code, 1);
});

function tmux(...args: string[]): string {
  const out = new Deno.Command("tmux", { args, stdout: "piped", stderr: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout);
}

async function waitFor(session: string, re: RegExp, timeoutMs = 15000): Promise<string> {
  let screen = "";
  for (let t = 0; t < timeoutMs; t += 100) {
    screen = tmux("capture-pane", "-p", "-t", session);
    if (re.test(screen)) return screen;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${re}; screen:\n${screen}`);
}

Deno.test("REPL in a pseudo-terminal: completion, history, errors, multi-line sweep", async () => {
  if (!requireTool("tmux")) return;
  const session = `kholab-repl-${Deno.pid}`;
  const history = await Deno.makeTempFile({ suffix: ".history" });
  await Deno.writeTextFile(history, "show profiles\n");
  tmux(
    "new-session",
    "-d",
    "-s",
    session,
    "-x",
    "120",
    "-y",
    "40",
    `KHOLAB_HISTORY=${history} ${Deno.execPath()} run -A ${CLI} repl`,
  );
  try {
    await waitFor(session, /kholab>\s*$/m);
    // Tab completes a command; an option value; an object name.
    tmux("send-keys", "-t", session, "mach", "Tab");
    await waitFor(session, /kholab> machine$/m);
    tmux("send-keys", "-t", session, "ram=1G", "Enter");
    tmux("send-keys", "-t", session, "bufs = folios order=2 count=2", "Enter");
    await waitFor(session, /bufs: folios, 2 folio/);
    tmux("send-keys", "-t", session, "preserve bu", "Tab");
    await waitFor(session, /kholab> preserve bufs$/m);
    tmux("send-keys", "-t", session, "Enter");
    // An error does not end the session.
    tmux("send-keys", "-t", session, "preserve nope", "Enter");
    await waitFor(session, /<repl:4>:1:10: preserve: ENOENT: no object "nope"/);
    await waitFor(session, /\^\s*\nkholab>\s*$/m);
    // Up recalls the previous line.
    tmux("send-keys", "-t", session, "Up");
    await waitFor(session, /kholab> preserve nope$/m);
    tmux("send-keys", "-t", session, "C-u", "kexec", "Enter");
    await waitFor(session, /kexec: boot #1 \(kho-v4\), KHO boot, 1 incoming/);
    // A multi-line sweep continues until its brace closes.
    tmux("send-keys", "-t", session, "sweep o in [1, 2] {", "Enter");
    await waitFor(session, /^\.\.\.\s*$/m);
    tmux(
      "send-keys",
      "-t",
      session,
      "x = folios order=$o",
      "Enter",
      "free x",
      "Enter",
      "}",
      "Enter",
    );
    await waitFor(session, /x: folios, 1 folio\(s\) of 16 KiB/);
    tmux("send-keys", "-t", session, "restore; verify; expect verify.ok == 1", "Enter");
    tmux("send-keys", "-t", session, "show objects", "Enter");
    const screen = await waitFor(session, /bufs\s+folios\s+restored/);
    assert.doesNotMatch(screen, /expect failed/);
    tmux("send-keys", "-t", session, "C-d");
    for (let i = 0; i < 50 && tmux("has-session", "-t", session) !== ""; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const saved = await Deno.readTextFile(history);
    assert.match(saved, /^show profiles\nmachine ram=1G\n/);
    assert.match(saved, /sweep o in \[1, 2\] \{\n/);
  } finally {
    tmux("kill-session", "-t", session);
    await Deno.remove(history);
  }
});

Deno.test("REPL Ctrl-C: stops a running command and keeps the session; drops a line or a block; Ctrl-D quits", async () => {
  if (!requireTool("tmux")) return;
  const session = `kholab-repl-c-${Deno.pid}`;
  tmux(
    "new-session",
    "-d",
    "-s",
    session,
    "-x",
    "120",
    "-y",
    "40",
    `KHOLAB_HISTORY=/dev/null ${Deno.execPath()} run -A ${CLI} repl`,
  );
  try {
    await waitFor(session, /kholab>\s*$/m);
    tmux("send-keys", "-t", session, "machine ram=1G", "Enter");
    tmux("send-keys", "-t", session, "keep = folios order=2 count=3", "Enter");
    await waitFor(session, /keep: folios, 3 folio/);
    // A command that would run for hours (10^10 iterations, far past a second).
    tmux(
      "send-keys",
      "-t",
      session,
      "let n = 0; repeat 100000 { repeat 100000 { x = folios order=0; free x; let n = n + 1 } }",
      "Enter",
    );
    await new Promise((r) => setTimeout(r, 1500));
    tmux("send-keys", "-t", session, "C-c");
    await waitFor(session, /<repl:3>:\d+:\d+: [a-z]+: interrupted \(Ctrl-C\)/);
    await waitFor(session, /\^+\s*\nkholab>\s*$/m);
    // The session is intact: the object made before is there; the interrupted run left n.
    tmux("send-keys", "-t", session, "expect keep.folios == 3 && n > 0; show objects", "Enter");
    const screen = await waitFor(session, /keep\s+folios\s+allocated/);
    assert.doesNotMatch(screen, /expect failed/);
    // Ctrl-C on a partial line drops it; on a block being typed drops the block.
    tmux("send-keys", "-t", session, "preserve ke", "C-c");
    await waitFor(session, /kholab> preserve ke\^C\s*\nkholab>\s*$/m);
    tmux("send-keys", "-t", session, "repeat 2 {", "Enter");
    await waitFor(session, /^\.\.\.\s*$/m);
    tmux("send-keys", "-t", session, "free keep", "Enter", "C-c");
    await waitFor(session, /\.\.\.\s+\^C\s*\nkholab>\s*$/m);
    tmux("send-keys", "-t", session, "expect keep.folios == 3", "Enter");
    tmux("send-keys", "-t", session, "show objects", "Enter");
    const after = await waitFor(session, /keep\s+folios\s+allocated[\s\S]*kholab>\s*$/);
    assert.doesNotMatch(after, /expect failed|ENOENT/);
    // Ctrl-D on an empty line ends the REPL.
    tmux("send-keys", "-t", session, "C-d");
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await new Promise((r) => setTimeout(r, 100));
      alive = new Deno.Command("tmux", { args: ["has-session", "-t", session], stderr: "null" })
        .outputSync().success;
    }
    assert.equal(alive, false, "the REPL ended on Ctrl-D");
  } finally {
    tmux("kill-session", "-t", session);
  }
});

Deno.test("machine starts a new machine: no option, profile or kernel setting carries over", () => {
  const s = new Session({ clock: new ManualClock() });
  const ev = new Evaluator(s);
  ev.runText("machine ram=1G nodes=2 memmap=64\nprofile kho-v2\nkexec profile=kho-v3");
  ev.runText("profile kho-v4\nkernel kho_scratch=200% fail=nth:99999");
  assert.equal(s.nextProfile, "kho-v4");
  ev.runText("machine ram=2G");
  assert.deepEqual(s.machineConfig, {
    ramBytes: 2 * 2 ** 30,
    nodes: 1,
    headroomBytes: null,
    memmapBytesPerPage: 0,
    poison: true,
  });
  assert.equal(s.bootProfile, CURRENT_PROFILE);
  assert.equal(s.nextProfile, null);
  assert.equal(s.pendingFaults, null);
  assert.equal(s.cmdline(), "kho=on liveupdate=on"); // the defaults: KHO and LUO on
  assert.equal(s.ensureKernel().profile.name, CURRENT_PROFILE);
  // A failed machine command changes nothing.
  assert.throws(() => ev.runText("machine ram=1G nodes=99"));
  assert.equal(s.machineConfig.ramBytes, 2 * 2 ** 30);
});
