/**
 * Fault injection for allocations (like the kernel's failslab / fail_page_alloc): fail the
 * Nth allocation, or each allocation with a seeded probability, optionally only at named
 * allocation sites. Every allocation point in kholab asks {@link FaultInjector.shouldFail}.
 *
 * @module
 */

import { Rng } from "../rng.ts";

/** How to inject allocation failures. */
export interface FaultOptions {
  /** Fail the Nth matching allocation from now (1-based), once. */
  nth?: number;
  /** Fail each matching allocation with this probability (seeded). */
  probability?: number;
  /** Seed for `probability`. Default 0. */
  seed?: number;
  /** Only allocations whose site name contains one of these strings match. */
  sites?: string[];
  /** With `probability`: stop after this many injected failures. */
  times?: number;
}

/**
 * Decides, allocation by allocation, whether to fail.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultInjector } from "./faults.ts";
 * const f = new FaultInjector();
 * f.arm({ nth: 2 });
 * assert.equal(f.shouldFail("get_zeroed_page"), false);
 * assert.equal(f.shouldFail("get_zeroed_page"), true);
 * ```
 */
export class FaultInjector {
  #options: FaultOptions | null = null;
  #rng = new Rng(0);
  #matched = 0;
  #injected = 0;
  /** Allocation calls seen, armed or not. */
  calls = 0;
  /** Site names seen, in first-seen order, with their call counts. */
  readonly sites: Map<string, number> = new Map();

  /** Arms the injector (replacing any earlier setting). */
  arm(options: FaultOptions): void {
    if (options.nth !== undefined && (!Number.isInteger(options.nth) || options.nth < 1)) {
      throw new RangeError(`fault nth=${options.nth}: a positive integer`);
    }
    if (
      options.probability !== undefined && !(options.probability >= 0 && options.probability <= 1)
    ) {
      throw new RangeError(`fault probability=${options.probability}: 0..1`);
    }
    this.#options = { ...options };
    this.#rng = new Rng(options.seed ?? 0);
    this.#matched = 0;
    this.#injected = 0;
  }

  /** Disarms the injector. */
  disarm(): void {
    this.#options = null;
  }

  /** Failures injected since the last arm. */
  get injected(): number {
    return this.#injected;
  }

  /** Whether the allocation at `site` must fail. Call exactly once per allocation attempt. */
  shouldFail(site: string): boolean {
    this.calls++;
    this.sites.set(site, (this.sites.get(site) ?? 0) + 1);
    const o = this.#options;
    if (o === null) return false;
    if (o.sites && !o.sites.some((s) => site.includes(s))) return false;
    this.#matched++;
    let fail = false;
    if (o.nth !== undefined && this.#matched === o.nth) fail = true;
    if (o.probability !== undefined && (o.times === undefined || this.#injected < o.times)) {
      if (this.#rng.chance(o.probability)) fail = true;
    }
    if (fail) this.#injected++;
    return fail;
  }
}
