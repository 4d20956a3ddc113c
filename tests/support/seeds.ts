/**
 * Multi-seed tests: {@link forEachSeed} runs a body once per seed and makes any failure say
 * which seed failed (`seed=N: …` in front of the assertion's message), so a failure out of
 * 100 seeds is reproducible with that one seed.
 *
 * @module
 */

/** Runs `body(seed)`; a thrown Error gets `seed=N: ` in front of its message. */
export function withSeed<T>(seed: number, body: (seed: number) => T): T {
  try {
    return body(seed);
  } catch (e) {
    if (e instanceof Error && !e.message.startsWith("seed=")) {
      e.message = `seed=${seed}: ${e.message}`;
    }
    throw e;
  }
}

/** Runs `body` for every seed in order (see {@link withSeed}). */
export function forEachSeed(seeds: Iterable<number>, body: (seed: number) => void): void {
  for (const seed of seeds) withSeed(seed, body);
}

/** The seeds `from..to` inclusive. */
export function seedRange(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
