/**
 * The kernel command line, as far as kholab's kernels read it: `kho=`, `kho_scratch=`,
 * `reserve_mem=size:align:name`, `kholab.poison=`, and anything else kept verbatim.
 *
 * @module
 */

import { parseSize } from "../units.ts";

/** One `reserve_mem=size:align:name` request. */
export interface ReserveMemParam {
  /** Bytes to reserve. */
  size: number;
  /** Alignment in bytes. */
  align: number;
  /** Region name (the handle used to revive it across kexec). */
  name: string;
}

/** The parsed command line. */
export interface KernelParams {
  /** The text as given. */
  raw: string;
  /** `kho=` (kstrtobool), undefined when absent. */
  kho?: boolean;
  /** `kho_scratch=` verbatim, undefined when absent. */
  khoScratch?: string;
  /** `reserve_mem=` requests in order. */
  reserveMem: ReserveMemParam[];
  /** Other `key=value` or bare `key` parameters. */
  other: Map<string, string>;
  /** Parameters the kernel would reject, with the reason (logged at boot). */
  errors: string[];
}

/** `kstrtobool`: y/Y/1/on → true, n/N/0/off → false, else null. */
export function kstrtobool(s: string): boolean | null {
  if (/^(y|Y|1|on|ON|On)$/.test(s)) return true;
  if (/^(n|N|0|off|OFF|Off)$/.test(s)) return false;
  return null;
}

/**
 * Parses a kernel command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCmdline } from "./cmdline.ts";
 * const p = parseCmdline("kho=on kho_scratch=16M,512M,256M reserve_mem=64M:4K:trace");
 * assert.equal(p.kho, true);
 * assert.equal(p.reserveMem[0].name, "trace");
 * ```
 */
export function parseCmdline(text: string): KernelParams {
  const params: KernelParams = { raw: text, reserveMem: [], other: new Map(), errors: [] };
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf("=");
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? "" : word.slice(eq + 1);
    switch (key) {
      case "kho": {
        const b = kstrtobool(value);
        if (b === null) params.errors.push(`kho=${value}: not a boolean`);
        else params.kho = b;
        break;
      }
      case "kho_scratch":
        params.khoScratch = value;
        break;
      case "reserve_mem": {
        const m = /^([^:]+):([^:]+):([^:]+)$/.exec(value);
        if (!m) {
          params.errors.push(`reserve_mem=${value}: expected size:align:name`);
          break;
        }
        try {
          const size = parseSize(m[1]);
          const align = parseSize(m[2]);
          if (size === 0 || align === 0 || (align & (align - 1)) !== 0 && align < 2 ** 31) {
            params.errors.push(`reserve_mem=${value}: size and a power-of-two alignment required`);
            break;
          }
          if (params.reserveMem.some((r) => r.name === m[3])) {
            params.errors.push(`reserve_mem=${value}: name ${m[3]} already used`);
            break;
          }
          params.reserveMem.push({ size, align, name: m[3] });
        } catch (e) {
          params.errors.push(`reserve_mem=${value}: ${(e as Error).message}`);
        }
        break;
      }
      default:
        params.other.set(key, value);
    }
  }
  return params;
}
