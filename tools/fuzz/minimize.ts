/**
 * Delta debugging over bytes (Zeller's ddmin, complement-removal form), then a pass that
 * zeroes single bytes: the smallest input the predicate still holds for, within a budget of
 * predicate calls.
 *
 * @module
 */

/** Result of {@link minimize}. */
export interface Minimized {
  /** The smallest failing input found. */
  input: Uint8Array;
  /** Predicate calls made. */
  tests: number;
}

/**
 * Shrinks `input` while `fails` holds (it must hold for `input` itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { minimize } from "./minimize.ts";
 * // Fails while it contains the bytes 7 and 9, in this order.
 * const fails = (b: Uint8Array) => {
 *   const i = b.indexOf(7);
 *   return Promise.resolve(i >= 0 && b.indexOf(9, i) > i);
 * };
 * const input = new Uint8Array([1, 2, 7, 3, 4, 5, 9, 6, 8]);
 * const r = await minimize(input, fails, { maxTests: 500 });
 * assert.deepEqual([...r.input], [7, 9]);
 * ```
 */
export async function minimize(
  input: Uint8Array,
  fails: (candidate: Uint8Array) => Promise<boolean>,
  options: { maxTests: number },
): Promise<Minimized> {
  let best = input;
  let tests = 0;
  const test = async (c: Uint8Array) => {
    tests++;
    return await fails(c);
  };
  let n = 2;
  while (best.length >= 2 && tests < options.maxTests) {
    const chunk = Math.ceil(best.length / n);
    let reduced = false;
    for (let i = 0; i < n && tests < options.maxTests; i++) {
      const from = i * chunk, to = Math.min(best.length, from + chunk);
      if (from >= to) break;
      const candidate = new Uint8Array(best.length - (to - from));
      candidate.set(best.subarray(0, from));
      candidate.set(best.subarray(to), from);
      if (await test(candidate)) {
        best = candidate;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= best.length) break;
      n = Math.min(best.length, 2 * n);
    }
  }
  for (let i = 0; i < best.length && tests < options.maxTests; i++) {
    if (best[i] === 0) continue;
    const candidate = best.slice();
    candidate[i] = 0;
    if (await test(candidate)) best = candidate;
  }
  return { input: best, tests };
}
