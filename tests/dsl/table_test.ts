import assert from "node:assert/strict";
import { parse } from "../../lib/dsl/parser.ts";
import { commandTable } from "../../lib/dsl/spec.ts";
import { TABLE } from "../../lib/dsl/table.ts";

Deno.test("the table is built explicitly: every command, object kind and metric once", () => {
  // Importing the parser alone is enough to parse every command, `scenario` included.
  const p = parse("scenario uniform profile=kho-v4 pages=10\nexpect scenario.lostObjects == 0");
  assert.equal(p.body.length, 2);
  assert.deepEqual([...TABLE.commands.keys()].slice(0, 4), [
    "seed",
    "machine",
    "profile",
    "kernel",
  ]);
  for (const c of TABLE.commands.values()) assert.ok(c.run || c.special, c.name);
  assert.deepEqual([...TABLE.objectKinds.keys()], [
    "folios",
    "pages",
    "vmalloc",
    "memfd",
    "pfns",
    "reserve_mem",
  ]);
  assert.ok(TABLE.metrics.has("api.kho_preserve_vmalloc"));
  assert.ok(!TABLE.metrics.has("api.__kho_unpreserve"));
});

Deno.test("a program's own table: the parser and evaluator use it, duplicates are refused", () => {
  const tiny = commandTable({ commands: [TABLE.commands.get("seed")!] });
  assert.throws(() => parse("kexec", { table: tiny }), /unknown command "kexec"/);
  assert.equal(parse("seed 3", { table: tiny }).body.length, 1);
  assert.throws(
    () => commandTable({ metrics: [...TABLE.metrics.values(), TABLE.metrics.get("kexec.count")!] }),
    /metric "kexec.count" defined twice/,
  );
});
