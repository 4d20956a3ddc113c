import assert from "node:assert/strict";
import { resolveScriptPath } from "../../lib/dsl/source_file.ts";

Deno.test("resolveScriptPath: a relative file is found beside the script that names it", () => {
  assert.equal(resolveScriptPath("h.txt", "a/b/run.kho"), "a/b/h.txt");
  assert.equal(resolveScriptPath("/h.txt", "a/b/run.kho"), "/h.txt");
  assert.equal(resolveScriptPath("h.txt", "<cell 3>"), "h.txt");
  assert.equal(resolveScriptPath("h.txt", undefined), "h.txt");
});
