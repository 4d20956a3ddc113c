/**
 * A fuzz target for the harness's own tests: inputs are 16 bytes; when the first is not 0 (one
 * input in 8), it throws on a byte 0xee, spins forever on 0xab, keeps 40 MB of heap on
 * 0x77 and the oracle disagrees on 0x42. The generator plants at most one of these bytes.
 *
 * @module
 */

import type { Rng } from "../../../lib/rng.ts";
import type { FuzzOracle, FuzzTarget } from "../../../tools/fuzz/target.ts";

const kept: number[][] = [];

/** The toy target. */
export const target: FuzzTarget<number> = {
  name: "toy",
  description: "harness test target",
  maxInputBytes: 16,
  corpus: () => [new Uint8Array(16)],
  generate(rng: Rng): Uint8Array {
    // One input in 64 is 17 bytes long: refused by the size bound.
    const b = new Uint8Array(rng.int(64) === 0 ? 17 : 16);
    for (let i = 0; i < b.length; i++) {
      do b[i] = rng.int(256); while ([0xee, 0xab, 0x77, 0x42].includes(b[i]));
    }
    if (rng.int(8) !== 0) b[0] = 0; // mostly clean
    else b[1 + rng.int(15)] = rng.pick([0xee, 0xee, 0xee, 0x42, 0x42, 0x42, 0xab, 0x77, 0, 0]);
    return b;
  },
  execute(input: Uint8Array): number {
    if (input[0] === 0) return 0;
    if (input.includes(0xee)) throw new TypeError("toy: byte 0xee");
    if (input.includes(0xab)) { for (;;) { /* a hang */ } }
    if (input.includes(0x77)) {
      kept.length = 0; // at most one hoard at a time
      kept.push(new Array(5_000_000).fill(1.5)); // 40 MB
    }
    return input.includes(0x42) ? 1 : 0;
  },
  oracle(): FuzzOracle<number> {
    return {
      name: "toy oracle",
      judge: (_inputs, obs) => Promise.resolve(obs.map((o) => (o === 1 ? "toy: 0x42 seen" : null))),
      close: () => Promise.resolve(),
    };
  },
  stats() {
    let n = 0;
    return { add: () => void n++, toString: () => `toy: ${n} observations` };
  },
};
