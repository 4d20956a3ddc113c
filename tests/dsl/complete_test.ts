import assert from "node:assert/strict";
import { commonPrefix, complete } from "../../lib/dsl/complete.ts";

const ctx = { objects: ["guest", "gpu"], variables: ["n"] };
const c = (line: string) => complete(line, ctx).candidates;

Deno.test("completes commands, object kinds, options, values and object names", () => {
  assert.deepEqual(c("kex"), ["kexec"]);
  assert.deepEqual(c("pre"), ["preserve"]);
  assert.deepEqual(c("x = fo"), ["folios"]);
  assert.deepEqual(c("x = pages co"), ["count="]);
  assert.ok(c("x = vmalloc ").includes("huge"));
  assert.ok(["kho-v2", "kho-v3", "kho-v4"].every((p) => c("profile kho-v").includes(p)));
  assert.deepEqual(c("profile kho-v3"), ["kho-v3"]);
  assert.deepEqual(c("kexec profile=kho-v4"), ["profile=kho-v4", "profile=kho-v4+fixes"]);
  assert.deepEqual(c("preserve g"), ["gpu", "guest"]);
  assert.deepEqual(c("preserve guest g"), ["gpu"]);
  assert.deepEqual(c("show ta"), ["table"]);
  assert.ok(c("expect restore.").includes("restore.failed"));
  assert.ok(c("expect gu").includes("guest.folios"));
  assert.deepEqual(c("repeat 2 { kex"), ["kexec"]);
  assert.deepEqual(c("machine ram=1G ra"), []);
  assert.equal(complete("preserve gu", ctx).start, 9);
});

Deno.test("common prefix", () => {
  assert.equal(commonPrefix(["kho-v2", "kho-v3"]), "kho-v");
  assert.equal(commonPrefix([]), "");
});
