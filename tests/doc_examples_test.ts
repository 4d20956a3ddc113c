/**
 * Documentation that runs: every code example Deno's `--doc` mode would run (fenced
 * ts/js blocks in doc comments and in Markdown) asserts with throwing assertions, and the
 * test task runs them. `console.assert` only prints; an `ignore`d block never runs.
 */
import assert from "node:assert/strict";
import { readRepoFile, repoFiles } from "./support/repo_files.ts";

/** One fenced example. */
interface Example {
  file: string;
  line: number;
  lang: string;
  code: string;
}

const FENCE_LANGS = /^(ts|tsx|js|jsx|javascript|typescript|mjs|cjs|mts|cts)\b/;

/** Fenced code blocks of a file: in `/** … *\/` comments for code, the whole text for Markdown. */
export function examplesOf(file: string, text: string): Example[] {
  const lines = text.split("\n");
  const md = file.endsWith(".md");
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*(?:\* ?)?```(.*)$/.exec(lines[i]);
    if (!m || (!md && !/^\s*\*/.test(lines[i]))) continue;
    const info = m[1].trim();
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*(?:\* ?)?```\s*$/.test(lines[j]); j++) {
      body.push(md ? lines[j] : lines[j].replace(/^\s*\* ?/, ""));
    }
    if (FENCE_LANGS.test(info)) out.push({ file, line: i + 1, lang: info, code: body.join("\n") });
    i = j;
  }
  return out;
}

/** What is wrong with an example, or null. */
export function exampleProblem(e: Example): string | null {
  if (e.lang !== "ts") return `fence "${e.lang}": examples are plain \`ts\` blocks that run`;
  if (/\bconsole\.assert\b/.test(e.code)) return "console.assert never throws";
  if (!/^import assert from "node:assert\/strict";$/m.test(e.code)) {
    return 'no `import assert from "node:assert/strict"`';
  }
  if (!/\bassert(\.\w+)?\(/.test(e.code)) return "asserts nothing";
  return null;
}

/** Files whose examples `deno test --doc` runs: library, entry points, tools, Markdown. */
function exampleFiles(): string[] {
  return [
    ...repoFiles(["lib", "tools", "mod.ts", "cli.ts"], [".ts"]),
    ...repoFiles(["README.md", "docs"], [".md"]),
  ];
}

Deno.test("doc examples: the checker flags console.assert, ignored blocks and missing assertions", () => {
  const src = (body: string, info = "ts") =>
    `/**\n * @example\n * \`\`\`${info}\n${
      body.split("\n").map((l) => ` * ${l}`).join("\n")
    }\n * \`\`\`\n */\nexport const x = 1;\n`;
  const one = (text: string, file = "lib/x.ts") => {
    const ex = examplesOf(file, text);
    assert.equal(ex.length, 1);
    return exampleProblem(ex[0]);
  };
  const ok = 'import assert from "node:assert/strict";\nassert.equal(1 + 1, 2);';
  assert.equal(one(src(ok)), null);
  assert.equal(one(src("console.assert(1 === 2);")), "console.assert never throws");
  assert.match(one(src(ok, "ts ignore"))!, /^fence "ts ignore"/);
  assert.match(one(src("const y = 1;"))!, /^no `import assert/);
  assert.equal(
    one(src('import assert from "node:assert/strict";\nconst y = 1;')),
    "asserts nothing",
  );
  assert.equal(
    one("# t\n\n```ts\nconsole.assert(true);\n```\n", "README.md"),
    "console.assert never throws",
  );
  assert.equal(examplesOf("README.md", "```sh\nls\n```\n").length, 0);
  // A fence in ordinary (non-doc) code is not an example.
  assert.equal(examplesOf("lib/x.ts", "const s = `\n```ts\nx\n```\n`;\n").length, 0);
});

Deno.test("doc examples: every example asserts with node:assert/strict and runs", () => {
  const all = exampleFiles().flatMap((f) => examplesOf(f, readRepoFile(f)));
  assert.ok(all.length >= 100, `only ${all.length} examples found: the scan is broken`);
  const problems = all.flatMap((e) => {
    const p = exampleProblem(e);
    return p === null ? [] : [`${e.file}:${e.line}: ${p}`];
  });
  assert.deepEqual(problems, []);
});

Deno.test("doc examples: deno task test runs them (--doc, over the whole project)", () => {
  const task: string = JSON.parse(readRepoFile("deno.json")).tasks.test;
  const args = task.split(/\s+/);
  assert.deepEqual(args.slice(0, 2), ["deno", "test"]);
  assert.ok(args.includes("--doc"), `the test task has no --doc: ${task}`);
  // No path arguments: Deno then takes every module and Markdown file of the project.
  const paths = args.slice(2).filter((a) => !a.startsWith("-"));
  assert.deepEqual(paths, [], `the test task names paths, so other modules' examples do not run`);
});
