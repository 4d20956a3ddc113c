/**
 * Determinism: the one seeded random generator and the one clock of `lib/`.
 *
 * Everything random in kholab draws from a {@link Rng} built from a seed; everything timed
 * reads a {@link Clock}. This is the only module of `lib/` allowed to touch
 * `Math.random`-like sources or the wall clock (the lint plugin enforces it), so a seed and
 * the code version reproduce any run, and wall-clock figures are kept apart from the
 * deterministic cost counters.
 *
 * One seed: a child seed is always {@link deriveSeed}`(parent, label)` — `Rng.fork`, a sweep
 * point (`point#<i>`), a script's draw streams (`stream<n>`) — never a formula of its own.
 *
 * One clock, handed in from the outermost API: a `lib/` function that times something takes a
 * required `clock` (an argument or a required options field) and never defaults it. The entry
 * points choose: `cli.ts`, `bench/`, notebooks and a user's TypeScript pass {@link wallClock};
 * tests pass a {@link ManualClock} (every wall-clock metric reads 0, the run is deterministic).
 * No module of `lib/` names `wallClock` itself: sweep workers read no clock (their runs are
 * deterministic) and the timed replays run in the caller's thread with the caller's clock.
 *
 * @module
 */

/** splitmix32 step, used to expand seeds. */
function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

/** Hashes a string label to 32 bits (FNV-1a). */
export function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/**
 * The one seed derivation of kholab: an independent child seed from a parent seed and a label,
 * stable across runs, platforms and worker counts. Every derived generator goes through it —
 * {@link Rng.fork}, a sweep point's seed (`point#<index>`), a script's draw streams
 * (`stream<n>`) — so a seed means the same thing everywhere. The formula is
 * `(imul(parent, 0x9e3779b1) ^ fnv1a(label)) >>> 0` on the parent's low 32 bits; a parent
 * beyond 32 bits folds its high word in first, so large seeds do not collide with small ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deriveSeed, hashLabel, Rng } from "./rng.ts";
 * assert.equal(deriveSeed(7, "x"), (Math.imul(7, 0x9e3779b1) ^ hashLabel("x")) >>> 0);
 * assert.equal(new Rng(7).fork("x").seed, deriveSeed(7, "x"));
 * assert.notEqual(deriveSeed(1, "x"), deriveSeed(2 ** 32 + 1, "x"));
 * ```
 */
export function deriveSeed(parent: number, label: string): number {
  if (!Number.isSafeInteger(parent)) {
    throw new RangeError(`deriveSeed: seed ${parent} is not a safe integer`);
  }
  let x = parent | 0;
  if (parent >= 2 ** 32 || parent < -(2 ** 31)) {
    x ^= Math.imul(Math.floor(parent / 2 ** 32) | 0, 0x85ebca6b);
  }
  return (Math.imul(x, 0x9e3779b1) ^ hashLabel(label)) >>> 0;
}

/**
 * A seeded pseudo-random generator (xoshiro128**), reproducible across platforms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./rng.ts";
 * const a = new Rng(42), b = new Rng(42);
 * assert.equal(a.u32(), b.u32());
 * assert.ok(a.int(10) < 10);
 * ```
 */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  /** The seed this generator started from. */
  readonly seed: number;

  /** Creates a generator from a 32-bit (or any safe-integer) seed. */
  constructor(seed: number) {
    this.seed = seed;
    let st = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    let v: number;
    [st, v] = splitmix32(st);
    this.#s0 = v;
    [st, v] = splitmix32(st);
    this.#s1 = v;
    [st, v] = splitmix32(st);
    this.#s2 = v;
    [st, v] = splitmix32(st);
    this.#s3 = v | 1;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    let n2 = s2 ^ s0;
    let n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    n2 ^= t;
    n3 = rotl(n3, 11);
    this.#s0 = n0;
    this.#s1 = n1;
    this.#s2 = n2;
    this.#s3 = n3;
    return result;
  }

  /** A float in [0, 1) with 53 random bits. */
  float(): number {
    return (this.u32() * 2 ** 21 + (this.u32() >>> 11)) / 2 ** 53;
  }

  /** An integer in [0, n) for 1 ≤ n ≤ 2^53, without modulo bias. */
  int(n: number): number {
    if (!(n >= 1) || !Number.isSafeInteger(n)) throw new RangeError(`Rng.int(${n})`);
    if (n <= 2 ** 32) {
      const limit = 2 ** 32 - (2 ** 32 % n);
      for (;;) {
        const x = this.u32();
        if (x < limit) return x % n;
      }
    }
    for (;;) {
      const x = this.u32() * 2 ** 21 + (this.u32() >>> 11);
      const limit = 2 ** 53 - (2 ** 53 % n);
      if (x < limit) return x % n;
    }
  }

  /** An integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /** A random element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Shuffles an array in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** Fills a byte array with random bytes (like `get_random_bytes`). */
  fillBytes(out: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const x = this.u32();
      out[i] = x;
      out[i + 1] = x >>> 8;
      out[i + 2] = x >>> 16;
      out[i + 3] = x >>> 24;
    }
    if (i < out.length) {
      let x = this.u32();
      for (; i < out.length; i++, x >>>= 8) out[i] = x;
    }
    return out;
  }

  /**
   * An independent generator derived from this one's seed and a label (stable across runs):
   * `new Rng(deriveSeed(this.seed, label))`.
   */
  fork(label: string): Rng {
    return new Rng(deriveSeed(this.seed, label));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A monotonic millisecond clock; inject a fake one for reproducible tests. */
export interface Clock {
  /** Milliseconds since an arbitrary origin. */
  nowMs(): number;
}

/** The real monotonic wall clock (`performance.now`). */
export const wallClock: Clock = { nowMs: () => performance.now() };

/** A clock that advances only when told to; for tests. */
export class ManualClock implements Clock {
  #t = 0;
  /** The current time. */
  nowMs(): number {
    return this.#t;
  }
  /** Moves time forward. */
  advance(ms: number): void {
    this.#t += ms;
  }
}

/** Runs `fn` and returns its result with the elapsed milliseconds on `clock`. */
export function timed<T>(clock: Clock, fn: () => T): { value: T; ms: number } {
  const t0 = clock.nowMs();
  const value = fn();
  return { value, ms: clock.nowMs() - t0 };
}
