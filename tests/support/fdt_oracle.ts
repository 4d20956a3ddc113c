/**
 * Batch access to the byte-exact FDT oracle (`../shared/oracles/fdt_oracle.py`) through
 * `tools/fdt_oracle_batch.py`: one Python process for many blobs. A test calls
 * `requireTool("libfdt", "oracle")` first: without the oracle (or pylibfdt) it is skipped with the
 * reason printed, and fails only under `KHOLAB_REQUIRE_TOOLS=1`.
 *
 * @module
 */

import { FDT_ORACLE, hasTool } from "./system_tools.ts";

/** What the oracle needs: the oracle file and Python's libfdt. */
const ORACLE_TOOLS = ["libfdt", "oracle"] as const;

/** One oracle request. */
export type OracleRequest =
  | {
    root_rw: {
      compat: string;
      map: number;
      subtrees: [string, number][];
      prop_name: string;
      blob_sizes?: Record<string, number>;
    };
  }
  | {
    root_sw: {
      compat: string;
      map: number;
      subtrees: [string, number][];
      prop_name: string;
      blob_sizes?: Record<string, number>;
    };
  }
  | { memblock_sub: { regions: [string, number, number][] } }
  | {
    test_kho_sub: {
      nr_folios: number;
      first: number;
      total_pages: number;
      flags: number;
      order: number;
      csum: number;
    };
  }
  | {
    luo_fdt: {
      num: number;
      session_compat: string;
      session_header: number;
      flb_compat: string | null;
      flb_header: number;
    };
  };

const BATCH = new URL("../../tools/fdt_oracle_batch.py", import.meta.url).pathname;

/** Runs the requests through the oracle and returns the blobs, in order. */
export async function oracleBlobs(requests: OracleRequest[]): Promise<Uint8Array[]> {
  for (const t of ORACLE_TOOLS) {
    if (!hasTool(t)) throw new Error(`oracleBlobs: ${t} missing; call requireTool first`);
  }
  const child = new Deno.Command("/usr/bin/python3", {
    args: [BATCH, FDT_ORACLE],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(requests)));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`fdt oracle failed: ${new TextDecoder().decode(out.stderr)}`);
  const hexes: string[] = JSON.parse(new TextDecoder().decode(out.stdout));
  return hexes.map((h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16)));
}
