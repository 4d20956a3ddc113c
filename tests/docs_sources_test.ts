/**
 * Citations resolve inside the repository: every source tag (`S-7.1c`, `T-blk`, `P-v7`,
 * `M @ 65660710`, `RFC-HTLB`, …) and every facts-sheet section (`kho-facts §6.4`) cited in the
 * project's files has its line in `docs/sources.md`, and every `§` names its sheet. With the
 * shared folder present, each entry of `docs/sources.md` must also still exist in the sheets
 * (tags in their tag tables, sections as headings, commits as the sheets give them).
 */
import assert from "node:assert/strict";
import { readRepoFile, repoFiles } from "./support/repo_files.ts";
import { FACTS_DIR, requireTool } from "./support/system_tools.ts";

/** One citation found in a file. */
export interface Citation {
  /** `S-7.1c`, `M @ 65660710`, or `kho-facts §6.4`. */
  key: string;
  file: string;
  line: number;
}

/** What a scan found: tags, facts sections, and `§`s that name no sheet. */
export interface Citations {
  tags: Citation[];
  sections: Citation[];
  bare: Citation[];
}

/** The facts sheets a `§` may name. */
export const SHEETS = ["kho-facts", "luo-hugetlb-facts", "fdt-facts"] as const;

const TAG = /(?<![\w-])(?:[STP]-[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9]|RFC-[A-Z]+)(?![\w-])/g;
const MM_TAG = /\bM @ ([0-9a-f]{7,40})\b/g;
const SECTION = "§\\s?\\d+(?:\\.\\d+)*";
/** A sheet's name, then sections joined by `,`, `/`, `and`, `or`, `&` or a range dash. */
const CHAIN = new RegExp(
  `\\b(${
    SHEETS.join("|")
  })(?:\\.md)?,?\\s+(${SECTION}(?:\\s*(?:,|/|and|or|&|–|-|—)\\s*${SECTION})*)`,
  "g",
);

/** The sections of a range `§2.4–§2.6` (2.4, 2.5, 2.6); the two ends when not siblings. */
function rangeSections(from: string, to: string): string[] {
  const a = from.split("."), b = to.split(".");
  const [x, y] = [Number(a.at(-1)), Number(b.at(-1))];
  if (a.length !== b.length || a.slice(0, -1).join() !== b.slice(0, -1).join() || y <= x) {
    return [from, to];
  }
  return Array.from({ length: y - x + 1 }, (_, i) => [...a.slice(0, -1), x + i].join("."));
}

/**
 * Text with comment continuations joined: a newline followed by a comment prefix (`*`, `//`,
 * `#`) becomes a newline and one space, so a citation wrapped across comment lines reads as
 * one (line numbers are kept).
 */
function joinComments(text: string): string {
  return text.replace(/\n[ \t]*(?:\*(?!\/)|\/\/+|#)?[ \t]*/g, "\n ");
}

/** Notebook text: the cells' sources, one after another. */
function notebookText(json: string): string {
  const nb = JSON.parse(json) as { cells: { source: string | string[] }[] };
  return nb.cells.map((c) => Array.isArray(c.source) ? c.source.join("") : c.source).join("\n");
}

/** The citations in one file's text. */
export function scanCitations(file: string, raw: string): Citations {
  const text = joinComments(file.endsWith(".ipynb") ? notebookText(raw) : raw);
  const lineAt = (i: number) => text.slice(0, i).split("\n").length;
  const out: Citations = { tags: [], sections: [], bare: [] };
  for (const m of text.matchAll(TAG)) out.tags.push({ key: m[0], file, line: lineAt(m.index) });
  for (const m of text.matchAll(MM_TAG)) {
    out.tags.push({ key: `M @ ${m[1].slice(0, 8)}`, file, line: lineAt(m.index) });
  }
  const covered = new Set<number>();
  for (const m of text.matchAll(CHAIN)) {
    const start = m.index + m[0].length - m[2].length;
    let prev: string | null = null;
    for (const s of m[2].matchAll(new RegExp(`(${SECTION})|[–—-]`, "g"))) {
      if (s[1] === undefined) { // a range dash: the next section closes the range
        prev = prev === null ? null : `range:${prev}`;
        continue;
      }
      covered.add(start + s.index);
      const n = s[1].replace(/[§\s]/g, "");
      const line = lineAt(start + s.index);
      const ns = prev?.startsWith("range:") ? rangeSections(prev.slice(6), n).slice(1) : [n];
      for (const k of ns) out.sections.push({ key: `${m[1]} §${k}`, file, line });
      prev = n;
    }
  }
  // "issue 18 §6" cites a section of a project issue, not of a facts sheet.
  for (const m of text.matchAll(new RegExp(`\\bissues?\\s+#?\\d+\\s+${SECTION}`, "g"))) {
    covered.add(m.index + m[0].indexOf("§"));
  }
  for (const m of text.matchAll(new RegExp(SECTION, "g"))) {
    if (!covered.has(m.index)) out.bare.push({ key: m[0], file, line: lineAt(m.index) });
  }
  return out;
}

/** The entries of docs/sources.md: the first cell (in backticks) of each table row. */
export function sourcesEntries(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of markdown.split("\n")) {
    const m = /^\|\s*`([^`]+)`\s*\|/.exec(line);
    if (m) out.set(m[1], line);
  }
  return out;
}

/** Whether a cited `M @ prefix` matches an entry `M @ prefix'` (either is a prefix). */
function entryFor(entries: Map<string, string>, key: string): string | undefined {
  if (entries.has(key)) return key;
  if (!key.startsWith("M @ ")) return undefined;
  const h = key.slice(4);
  return [...entries.keys()].find((k) =>
    k.startsWith("M @ ") && (k.slice(4).startsWith(h) || h.startsWith(k.slice(4)))
  );
}

/** The project's files that may cite sources. */
function citingFiles(): string[] {
  return repoFiles(
    [
      "lib",
      "tests",
      "tools",
      "bench",
      "docs",
      "examples",
      "notebooks",
      "cli.ts",
      "mod.ts",
      "README.md",
      ".ci",
    ],
    [".ts", ".js", ".md", ".ipynb", ".kho", ".py", ".c", ".h", ".sh", ".html", ".txt", "run"],
  );
}

const where = (c: Citation) => `${c.file}:${c.line}: ${c.key}`;

Deno.test("docs sources: the scanner finds tags, wrapped section chains and bare §", () => {
  const src = [
    "/**",
    " * As S-7.1c does (kho-facts",
    " * §11.1); see luo-hugetlb-facts §2.2, §2.3 and §2.7, fdt-facts.md §7.4 and M @ da1b3b18.",
    " * Ranges: luo-hugetlb-facts §1.2–§1.4, kho-facts §9–§10.2.",
    " * RFC-HTLB and P-v4-03 too; not a tag: ABI-v1, x-S-7, MS-DOS. A bare §9 here (issue 18 §6 is not).",
    " */",
  ].join("\n");
  const c = scanCitations("lib/x.ts", src);
  assert.deepEqual(c.tags.map((t) => t.key).sort(), [
    "M @ da1b3b18",
    "P-v4-03",
    "RFC-HTLB",
    "S-7.1c",
  ]);
  assert.deepEqual(c.sections.map((s) => `${s.key}@${s.line}`), [
    "kho-facts §11.1@3",
    "luo-hugetlb-facts §2.2@3",
    "luo-hugetlb-facts §2.3@3",
    "luo-hugetlb-facts §2.7@3",
    "fdt-facts §7.4@3",
    "luo-hugetlb-facts §1.2@4",
    "luo-hugetlb-facts §1.3@4",
    "luo-hugetlb-facts §1.4@4",
    "kho-facts §9@4",
    "kho-facts §10.2@4",
  ]);
  assert.deepEqual(c.bare.map(where), ["lib/x.ts:5: §9"]);
  const nb = JSON.stringify({ cells: [{ source: ["kho-facts\n", "§6.4 and T-blk"] }] });
  const n = scanCitations("notebooks/x.ipynb", nb);
  assert.deepEqual([n.tags.map((t) => t.key), n.sections.map((s) => s.key)], [["T-blk"], [
    "kho-facts §6.4",
  ]]);
  const e = sourcesEntries(
    "| Tag | x |\n| --- | --- |\n| `S-7.1c` | a |\n| `M @ 65660710` | b |\n",
  );
  assert.deepEqual([...e.keys()], ["S-7.1c", "M @ 65660710"]);
  assert.equal(entryFor(e, "M @ 6566071"), "M @ 65660710");
  assert.equal(entryFor(e, "M @ 12345678"), undefined);
});

Deno.test("docs sources: every cited tag and facts section is in docs/sources.md", () => {
  const entries = sourcesEntries(readRepoFile("docs/sources.md"));
  const files = citingFiles();
  assert.ok(files.length > 100, `only ${files.length} files scanned: the scan is broken`);
  // Not the list itself, and not this file (its scanner test cites made-up sources).
  const skip = new Set(["docs/sources.md", "tests/docs_sources_test.ts"]);
  const all = files.filter((f) => !skip.has(f)).map((f) => scanCitations(f, readRepoFile(f)));
  const tags = all.flatMap((c) => c.tags);
  const sections = all.flatMap((c) => c.sections);
  // The project cites tags and sections today; finding none means the scan is broken.
  assert.ok(tags.length > 0 && sections.length > 0, "no citations found");
  const missing = [...tags, ...sections].filter((c) => entryFor(entries, c.key) === undefined);
  const bare = all.flatMap((c) => c.bare);
  assert.deepEqual(
    { missingFromSourcesMd: missing.map(where), bareSectionSigns: bare.map(where) },
    { missingFromSourcesMd: [], bareSectionSigns: [] },
    "add missing citations to docs/sources.md; a § names its facts sheet (kho-facts §6.4)",
  );
});

Deno.test("docs sources: the README links docs/sources.md", () => {
  assert.match(readRepoFile("README.md"), /\]\(docs\/sources\.md\)/);
});

Deno.test("docs sources: every entry still exists in the facts sheets", () => {
  if (!requireTool("facts")) return;
  const sheet = (name: string) => Deno.readTextFileSync(`${FACTS_DIR}${name}.md`);
  const sheets = Object.fromEntries(SHEETS.map((s) => [s, sheet(s)]));
  // Tag tables: rows "| **S-7.1c** | …" (two tags may share a row: "**S-6.16h / S-6.18h**").
  const definedTags = new Set(
    [...(sheets["kho-facts"] + sheets["luo-hugetlb-facts"]).matchAll(/^\| \*\*([^*]+)\*\* \|/gm)]
      .flatMap((m) => m[1].split(" / ")),
  );
  assert.ok(definedTags.has("S-7.1c") && definedTags.has("T-blk"), "tag tables not found");
  const problems: string[] = [];
  for (const key of sourcesEntries(readRepoFile("docs/sources.md")).keys()) {
    if (key.endsWith(".md")) { // the table of sheets
      try {
        Deno.statSync(`${FACTS_DIR}${key}`);
      } catch {
        problems.push(`${key}: no such sheet in ${FACTS_DIR}`);
      }
      continue;
    }
    const sec = /^([\w-]+) §(\d+(?:\.\d+)*)$/.exec(key);
    if (sec) {
      const [, name, n] = sec;
      const text = sheets[name];
      const heading = new RegExp(`^#{2,4} ${n.replaceAll(".", "\\.")}[. ]`, "m");
      if (text === undefined) problems.push(`${key}: no facts sheet ${name}`);
      else if (!heading.test(text)) problems.push(`${key}: no section ${n} in ${name}.md`);
      continue;
    }
    if (key.startsWith("M @ ")) {
      if (!sheets["luo-hugetlb-facts"].includes(`@ \`${key.slice(4)}`)) {
        problems.push(`${key}: not a linux-mm commit of luo-hugetlb-facts.md`);
      }
    } else if (!definedTags.has(key)) {
      problems.push(`${key}: not in the sheets' tag tables`);
    }
  }
  // Every commit id an entry gives (7+ hex digits with a letter and a digit) is the sheets'.
  const allSheets = Object.values(sheets).join("\n");
  for (const [key, row] of sourcesEntries(readRepoFile("docs/sources.md"))) {
    for (const [h] of row.matchAll(/(?<![\w-])[0-9a-f]{7,40}(?![\w-])/g)) {
      if (/\d/.test(h) && /[a-f]/.test(h) && !allSheets.includes(h)) {
        problems.push(`${key}: commit ${h} is not in the facts sheets`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
