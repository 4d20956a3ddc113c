/**
 * What each statement of the language is estimated to need of host memory, from the model of
 * `../machine/host_memory.ts`: creating an object (by kind, count, order, size and fill),
 * preserving, kexec (the successor's boot and one record per preserved block), restoring,
 * splitting, a `scenario` (`../scenario/scenario_memory.ts`) and parsing a script. The
 * evaluator checks the estimate against the session's budget before the statement runs and
 * refuses it with the estimate in the message.
 *
 * @module
 */

import {
  blocksBytes,
  bootBytes,
  estimate,
  HOST_BYTES,
  type MemoryEstimate,
  sumEstimates,
  term,
  trackerBytes,
} from "../machine/host_memory.ts";
import { PAGE_SIZE } from "../units.ts";
import type { DslObject } from "./objects.ts";
import { defaultHeadroom, type Session } from "./session.ts";
import type { FillSpecDsl } from "./values.ts";

/** Host bytes per character of script while it is parsed and checked (syntax tree). */
export const PARSE_BYTES_PER_CHAR = 96;

/** Parsing `chars` characters of script. */
export function parseEstimate(chars: number): MemoryEstimate {
  return term(chars, PARSE_BYTES_PER_CHAR, "characters of script");
}

function fillKind(fill: unknown): "random" | "uniform" | "none" {
  const f = (fill as FillSpecDsl | undefined)?.kind ?? "random";
  return f === "random" ? "random" : f === "none" ? "none" : "uniform";
}

function num(v: unknown, dflt: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : dflt;
}

/**
 * `NAME = KIND options…`: the blocks the kind allocates, their fill and the kind's own
 * records. Values outside the kind's domain estimate as nothing (the command refuses them),
 * and so does a request for more pages than the machine has free (`freePages`): the
 * kernel's ENOMEM comes first, before anything is allocated.
 */
export function objectEstimate(
  kind: string,
  opts: Record<string, unknown>,
  freePages = Infinity,
): MemoryEstimate {
  const { pages, cost } = kindCost(kind, opts);
  return pages > freePages
    ? estimate(0, "more pages than the machine has free (the kernel's ENOMEM)")
    : cost;
}

/** The free pages of the session's machine (the configured one before it boots). */
export function freePagesOf(s: Session): number {
  if (s.kernel) return s.kernel.buddy.nrFreePages();
  return configuredRam(s) / PAGE_SIZE;
}

/**
 * What creating an object of `kind` costs: the pages it asks the allocator for (the pool for
 * `within=`), and its estimate.
 */
function kindCost(
  kind: string,
  opts: Record<string, unknown>,
): { pages: number; cost: MemoryEstimate } {
  const fill = fillKind(opts.fill);
  const sizePages = Math.ceil(num(opts.size, 0) / PAGE_SIZE);
  switch (kind) {
    case "folios": {
      const count = num(opts.count, 1), per = 2 ** Math.min(Math.max(num(opts.order, 0), 0), 18);
      return { pages: count * per, cost: blocksBytes(count, per, fill, true) };
    }
    case "pages": {
      const count = num(opts.count, 1);
      const per = 2 ** Math.min(Math.max(num(opts.order, 0), 0), 10);
      if (opts.within !== undefined) {
        const pool = Math.ceil(num(opts.within, 0) / PAGE_SIZE / 1024) * 1024;
        return {
          pages: pool,
          cost: sumEstimates(
            term(pool, HOST_BYTES.page, "pool pages"),
            blocksBytes(Math.min(count, pool), 1, fill),
          ),
        };
      }
      return { pages: count * per, cost: blocksBytes(count, per, fill) };
    }
    case "vmalloc": {
      const blockPages = opts.huge === true ? 512 : 1;
      return {
        pages: sizePages,
        cost: sumEstimates(
          blocksBytes(Math.ceil(sizePages / blockPages), blockPages, fill),
          term(sizePages, HOST_BYTES.vmallocPage, "vmalloc pages"),
        ),
      };
    }
    case "memfd": {
      const folioBytes = Math.max(PAGE_SIZE, num(opts.folio, PAGE_SIZE));
      const folios = Math.ceil(num(opts.size, 0) / folioBytes);
      return {
        pages: sizePages,
        cost: sumEstimates(
          blocksBytes(folios, folioBytes / PAGE_SIZE, fill, true),
          term(folios, HOST_BYTES.memfdFolio, "memfd folios"),
        ),
      };
    }
    case "reserve_mem":
      return { pages: sizePages, cost: blocksBytes(1, sizePages, fill) };
  }
  return { pages: 0, cost: estimate(0, "nothing") };
}

/** Blocks of the objects (all of them when `objects` is empty). */
function blocksOf(objects: Iterable<DslObject>): { blocks: number; pages: number } {
  let blocks = 0, pages = 0;
  for (const o of objects) {
    blocks += o.blocks();
    pages += o.totalPages();
  }
  return { blocks, pages };
}

/** The objects a statement names, or every object (names that do not exist are skipped). */
function named(s: Session, names: readonly string[]): DslObject[] {
  if (names.length === 0) return [...s.objects.values()];
  return names.flatMap((n) => s.objects.get(n) ?? []);
}

/** `preserve NAME…`: the tracker's pages for the blocks. */
export function preserveEstimate(s: Session, names: readonly string[]): MemoryEstimate {
  const { blocks } = blocksOf(named(s, names));
  const span = (s.kernel?.machine.topology.endBytes ?? 0) / PAGE_SIZE;
  return trackerBytes(blocks, span);
}

/** RAM of the machine the session would power on. */
function configuredRam(s: Session): number {
  const c = s.machineConfig;
  return c.ramBytes + (c.headroomBytes ?? defaultHeadroom(c.ramBytes));
}

/** `kexec`: the successor's boot and, per preserved block, its record on both sides. */
export function kexecEstimate(s: Session): MemoryEstimate {
  const preserved = [...s.objects.values()].filter((o) => o.state === "preserved");
  const { blocks } = blocksOf(preserved);
  // Without a kernel yet, kexec boots the configured machine first (the first kernel's
  // structures are garbage by the time the successor's peak comes: one boot's worth).
  const ram = s.kernel?.machine.topology.ramBytes ?? configuredRam(s);
  return sumEstimates(bootBytes(ram), term(blocks, HOST_BYTES.preservedBlock, "preserved blocks"));
}

/** `restore [NAME…]`: per incoming block, its restore record and struct pages. */
export function restoreEstimate(s: Session, names: readonly string[]): MemoryEstimate {
  const objs = named(s, names).filter((o) => o.state === "incoming");
  const { blocks, pages } = blocksOf(objs);
  return sumEstimates(
    term(blocks, HOST_BYTES.restoredBlock, "restored blocks"),
    term(pages, HOST_BYTES.page, "restored pages"),
  );
}

/** `split NAME…`: every page gets its own struct-page state and block record. */
export function splitEstimate(s: Session, names: readonly string[]): MemoryEstimate {
  const { pages } = blocksOf(named(s, names));
  return term(pages, HOST_BYTES.page + 16, "split pages");
}
