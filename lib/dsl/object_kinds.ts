/**
 * The object kinds of the language (`NAME = KIND options…`): folios, pages, vmalloc, memfd,
 * pfns (a real host's list), reserve_mem. (Sub-trees are made with the `subtree` command; `reserve_mem=` regions of the
 * kernel command line appear as objects of kind reserve_mem by themselves.)
 *
 * @module
 */

import { createCommand, FILL_OPTION } from "./commands/objects.ts";
import { freePagesOf, objectEstimate } from "./memory_estimates.ts";
import { createPfnsObject } from "./object_pfns.ts";
import { flagOption, type ObjectKindSpec, type OptionSpec } from "./spec.ts";
import type { FillSpecDsl } from "./values.ts";

const NODE: OptionSpec = { name: "node", kind: "int", doc: "preferred NUMA node" };

/** Every object kind. */
export const OBJECT_KINDS: readonly ObjectKindSpec[] = [
  {
    name: "folios",
    summary: "COUNT folios of one order (order > 10: gigantic, e.g. 18 = 1 GiB)",
    options: [
      { name: "order", kind: "int", doc: "folio order (0..18)", required: true },
      { name: "count", kind: "count", doc: "how many", default: "1" },
      FILL_OPTION,
      NODE,
    ],
    create: (s, name, inv) => createCommand(s, "folios", name, inv.opts),
    estimate: (s, inv) => objectEstimate("folios", inv.opts, freePagesOf(s)),
  },
  {
    name: "pages",
    summary: "COUNT blocks of 2^order pages (kho_preserve_pages), optionally scattered",
    details: "within=SIZE draws order-0 pages at random from a pool of that size (the pool\n" +
      "stays allocated; only the chosen pages are preserved). split makes every page of a\n" +
      "block its own page (split_page) at creation.",
    options: [
      { name: "count", kind: "count", doc: "how many blocks", default: "1" },
      { name: "order", kind: "int", doc: "block order (0..10)", default: "0" },
      { name: "within", kind: "size", doc: "scatter order-0 pages over a pool of this size" },
      flagOption("split", "split each block into order-0 pages"),
      FILL_OPTION,
      NODE,
    ],
    create: (s, name, inv) => createCommand(s, "pages", name, inv.opts),
    estimate: (s, inv) => objectEstimate("pages", inv.opts, freePagesOf(s)),
  },
  {
    name: "vmalloc",
    summary: "a vmalloc area (huge: VM_ALLOW_HUGE_VMAP), preserved with kho_preserve_vmalloc",
    options: [
      { name: "size", kind: "size", doc: "area size", required: true },
      flagOption("huge", "vmalloc_huge (2 MiB blocks, split)"),
      FILL_OPTION,
      NODE,
    ],
    create: (s, name, inv) => createCommand(s, "vmalloc", name, inv.opts),
    estimate: (s, inv) => objectEstimate("vmalloc", inv.opts, freePagesOf(s)),
  },
  {
    name: "memfd",
    summary: "a memfd of SIZE bytes (shmem, folio=4K…2M; folio=1G: hugetlbfs, from the 1 GiB " +
      "pool, grown for it), preserved in a LUO session named like the object",
    options: [
      { name: "size", kind: "size", doc: "file size", required: true },
      {
        name: "folio",
        kind: "size",
        doc: "folio size: 4K..2M (shmem THP, PMD order at most) or 1G (a hugetlb memfd; " +
          "preserved by the HugeTLB RFC's profile only)",
        default: "4K",
      },
      FILL_OPTION,
      NODE,
    ],
    create: (s, name, inv) => createCommand(s, "memfd", name, inv.opts),
    estimate: (s, inv) => objectEstimate("memfd", inv.opts, freePagesOf(s)),
  },
  {
    name: "pfns",
    summary: "the blocks of a real host's pfn list: `pfn order [node]` lines (text/CSV, gzip)",
    details: "Every block is 2^order pages at exactly its pfn; preserve hands each over as\n" +
      "given (kho_preserve_pages, or kho_preserve_phys in 6.16 and RFC v1). Bad lines are\n" +
      "reported as FILE:LINE:COL with a caret and nothing is taken. Before the first boot the\n" +
      "kernel keeps its own memory off the listed blocks; in a running kernel a block it uses\n" +
      "is an error at its line. A relative FILE is found beside the script.",
    options: [
      { name: "file", kind: "path", doc: "the list (gzip accepted)", required: true },
      FILL_OPTION,
    ],
    create: (s, name, inv) =>
      void createPfnsObject(s, name, {
        file: inv.opts.file as string,
        fill: inv.opts.fill as FillSpecDsl | undefined,
        script: inv.file,
      }),
  },
  {
    name: "reserve_mem",
    summary: "a physically contiguous reserved range (like reserve_mem=SIZE:ALIGN:NAME)",
    options: [
      { name: "size", kind: "size", doc: "bytes", required: true },
      { name: "align", kind: "size", doc: "alignment (power of two)", default: "4K" },
      FILL_OPTION,
    ],
    create: (s, name, inv) => createCommand(s, "reserve_mem", name, inv.opts),
    estimate: (s, inv) => objectEstimate("reserve_mem", inv.opts, freePagesOf(s)),
  },
];
