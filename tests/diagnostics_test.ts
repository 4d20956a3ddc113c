import assert from "node:assert/strict";
import { formatDiagnostic, formatDiagnostics, snippetFor } from "../lib/diagnostics.ts";
import * as dslErrors from "../lib/dsl/errors.ts";

Deno.test("diagnostics: place, source line and caret; tabs and CR read as spaces", () => {
  const src = "first\n\tsecond\r\nthird";
  assert.equal(
    formatDiagnostic({
      file: "x.txt",
      span: { line: 2, col: 2, len: 6 },
      message: "m",
      source: src,
    }),
    "x.txt:2:2: m\n   2 |  second\n     |  ^^^^^^",
  );
  assert.equal(
    formatDiagnostic({ file: "x", span: { line: 9, col: 1, len: 1 }, message: "m" }),
    "x:9:1: m",
  );
  // A caret never runs past the line, and a line beyond the text is empty.
  assert.equal(snippetFor("ab", { line: 1, col: 2, len: 10 }), "   1 | ab\n     |  ^");
  assert.equal(snippetFor("ab", { line: 3, col: 1, len: 1 }), "   3 | \n     | ^");
});

Deno.test("diagnostics: a long list is cut to the first N and a count of the rest", () => {
  const diags = Array.from({ length: 25 }, (_, i) => ({
    span: { line: i + 1, col: 1, len: 1 },
    message: `bad ${i + 1}`,
  }));
  const text = formatDiagnostics(diags, { file: "f" });
  assert.equal(text.split("\n").filter((l) => /^f:\d+:1: bad/.test(l)).length, 20);
  assert.ok(text.endsWith("\n… and 5 more"));
  assert.equal(formatDiagnostics(diags.slice(0, 2), { file: "f", max: 2 }).includes("more"), false);
});

Deno.test("diagnostics: the command language formats its places with the same functions", () => {
  assert.equal(dslErrors.formatDiagnostic, formatDiagnostic);
  assert.equal(dslErrors.snippetFor, snippetFor);
});
