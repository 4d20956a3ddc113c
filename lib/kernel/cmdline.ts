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
 * `memparse(ptr, &retptr)` (lib/cmdline.c): `simple_strtoull(ptr, &end, 0)` — `0x` hex, a
 * leading `0` octal, else decimal — then one optional suffix K/M/G/T/P/E (either case), each a
 * further × 1024. Returns the value and the index just past what was parsed (`start` itself
 * when no digit was found).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memparse } from "./cmdline.ts";
 * assert.deepEqual(memparse("64M,1G", 0), { value: 64 * 2 ** 20, end: 3 });
 * assert.deepEqual(memparse("0x10k", 0), { value: 16384, end: 5 });
 * assert.deepEqual(memparse("x", 0), { value: 0, end: 0 });
 * ```
 */
export function memparse(text: string, start: number): { value: number; end: number } {
  let p = start;
  let base = 10;
  if (text[p] === "0" && /[xX]/.test(text[p + 1] ?? "") && /[0-9a-fA-F]/.test(text[p + 2] ?? "")) {
    base = 16;
    p += 2;
  } else if (text[p] === "0") base = 8;
  const digits = base === 16 ? /[0-9a-fA-F]/ : base === 8 ? /[0-7]/ : /[0-9]/;
  const from = p;
  let value = 0;
  while (p < text.length && digits.test(text[p])) value = value * base + parseInt(text[p++], base);
  if (p === from) return { value: 0, end: start };
  const shift: Record<string, number> = { k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 };
  const sh = shift[(text[p] ?? "").toLowerCase()];
  if (sh !== undefined) {
    value *= 2 ** sh;
    p++;
  }
  return { value, end: p };
}

/**
 * `kstrtouint(s, 10, &res)`: an optional `+`, decimal digits, an optional trailing newline;
 * `"EINVAL"` for anything else, `"ERANGE"` above 2^32 − 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kstrtouint } from "./cmdline.ts";
 * assert.equal(kstrtouint("+50"), 50);
 * assert.equal(kstrtouint("-1"), "EINVAL");
 * assert.equal(kstrtouint("4294967296"), "ERANGE");
 * ```
 */
export function kstrtouint(s: string): number | "EINVAL" | "ERANGE" {
  const m = /^\+?([0-9]+)\n?$/.exec(s);
  if (!m) return "EINVAL";
  const v = Number(m[1]);
  return v > 0xffffffff ? "ERANGE" : v;
}

/** The words of a command line as `[key, value]` (`""` for a word without `=`), in order. */
export function cmdlineWords(text: string): [key: string, value: string][] {
  return text.trim().split(/\s+/).filter(Boolean).map((word) => {
    const eq = word.indexOf("=");
    return eq < 0 ? [word, ""] : [word.slice(0, eq), word.slice(eq + 1)];
  });
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
  for (const [key, value] of cmdlineWords(text)) {
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
