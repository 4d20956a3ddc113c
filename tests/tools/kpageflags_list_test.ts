import assert from "node:assert/strict";
import { importPfnList } from "../../lib/dsl/import.ts";
import { ManualClock } from "../../lib/rng.ts";
import { requireTool } from "../support/system_tools.ts";

const HEAD = 1n << 15n, TAIL = 1n << 16n, HUGE = 1n << 17n, THP = 1n << 22n;
const TOOL = new URL("../../tools/kpageflags_list.py", import.meta.url).pathname;

function run(args: string[]): { code: number; out: string; err: string } {
  const r = new Deno.Command("/usr/bin/python3", { args: [TOOL, ...args] }).outputSync();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test("kpageflags_list: HugeTLB folios of a kpageflags file become an importable list", () => {
  if (!requireTool("python3")) return;
  // A synthetic /proc/kpageflags: a 2 MiB and a 4 MiB HugeTLB folio, a THP, a broken head.
  const pages = 0x41000;
  const words = new BigUint64Array(pages);
  const folio = (pfn: number, order: number, flags: bigint) => {
    words[pfn] = HEAD | flags;
    for (let i = 1; i < 2 ** order; i++) words[pfn + i] = TAIL | flags;
  };
  folio(0x40000, 9, HUGE);
  folio(0x40400, 10, HUGE);
  folio(0x40200, 9, THP);
  words[0x40c00] = HEAD | HUGE; // two tails only: not a folio
  words[0x40c01] = TAIL | HUGE;
  words[0x40c02] = TAIL | HUGE;
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/kpageflags`, new Uint8Array(words.buffer));
    const huge = run(["--flags", `${dir}/kpageflags`]);
    assert.equal(huge.code, 0, huge.err);
    assert.equal(huge.out, `# pfn order (from ${dir}/kpageflags)\n0x40000 9\n0x40400 10\n`);
    assert.match(huge.err, /head 0x40c00 has 2 tails: skipped/);
    const all = run(["--flags", `${dir}/kpageflags`, "--all-compound", "--start", "0x40100"]);
    assert.deepEqual(all.out.split("\n").slice(1, -1), ["0x40200 9", "0x40400 10"]);
    // The list goes through a whole handover as given.
    const r = importPfnList({
      file: "host.txt",
      text: huge.out,
      profile: "kho-v4",
      clock: new ManualClock(),
    });
    assert.equal(r.outcome, "exact");
    assert.equal(r.found, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
