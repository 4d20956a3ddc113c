import assert from "node:assert/strict";
import { openBrackets } from "../../lib/dsl/repl.ts";
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
