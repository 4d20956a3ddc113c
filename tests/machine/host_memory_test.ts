import assert from "node:assert/strict";
import {
  blocksBytes,
  bootBytes,
  defaultMemoryBudget,
  heapLimitBytes,
  HOST_BYTES,
  hostBytesText,
  HostMemoryError,
  MemoryBudget,
  sumEstimates,
  term,
  trackerBytes,
} from "../../lib/machine/host_memory.ts";

const MiB = 2 ** 20;

Deno.test("the model: terms add up and name themselves", () => {
  const e = blocksBytes(1024, 1, "random");
  const per = HOST_BYTES.block + HOST_BYTES.page + HOST_BYTES.descriptor +
    HOST_BYTES.describedPage;
  assert.equal(e.bytes, 1024 * per);
  assert.equal(
    e.detail,
    "1Ki blocks × 360 B + 1Ki pages × 16 B + 1Ki descriptors × 230 B + 1Ki filled pages × 52 B",
  );
  // Blocks of whole sections need no per-page content entry; no fill needs no descriptor.
  assert.equal(blocksBytes(2, 32768, "random", true).bytes, 2 * (360 + 8224 + 230));
  assert.equal(blocksBytes(2, 32768, "random").bytes, 2 * (360 + 230) + 65536 * 16);
  assert.equal(blocksBytes(8, 1, "none").bytes, 8 * (360 + 16));
  assert.equal(bootBytes(2 ** 40).bytes, 22 * MiB);
  assert.equal(trackerBytes(10, 2 ** 30).bytes, 11 * HOST_BYTES.trackerPage);
  assert.equal(trackerBytes(2 ** 30, 2 ** 20).bytes, 257 * HOST_BYTES.trackerPage);
  const s = sumEstimates(term(3, 10, "things"), term(0, 99, "nothing"));
  assert.deepEqual(s, { bytes: 30, detail: "3 things × 10 B" });
});

Deno.test("the budget: refuses an estimate that does not fit, with the estimate", () => {
  let inUse = 100 * MiB;
  const b = new MemoryBudget(256 * MiB, () => inUse);
  b.check("small", term(100, 1000, "blocks")); // under the measuring threshold
  b.check("fits", term(120, MiB, "MiB"));
  assert.throws(
    () => b.check("x = pages count=200", term(130, MiB, "blocks")),
    (e: HostMemoryError) =>
      e.estimate?.bytes === 130 * MiB && e.inUseBytes === 100 * MiB &&
      e.message ===
        "x = pages count=200 needs an estimated 130 MiB of host memory (130 blocks × " +
          "1048576 B), which with 100 MiB in use exceeds the memory budget of 256 MiB " +
          "(--max-memory)",
  );
  // An estimate larger than the budget alone: refused without measuring.
  inUse = Infinity;
  assert.throws(
    () => b.check("huge", term(1, 512 * MiB, "block")),
    /huge needs an estimated 512 MiB .*, more than the memory budget of 256 MiB \(--max-memory\) allows/,
  );
  // Small estimates add up until they are worth a measurement (the checks keep an eighth
  // of the budget for what they do not see: 224 MiB of 256).
  assert.equal(b.limit, 224 * MiB);
  inUse = 223.5 * MiB;
  for (let i = 0; i < 7; i++) b.check("small", term(1, 100_000, "block"));
  assert.throws(() => b.check("small", term(4, 100_000, "blocks")), HostMemoryError);
  // A checkpoint compares what is in use now.
  inUse = 230 * MiB;
  assert.throws(() => b.checkpoint("the run"), /the run: 230 MiB of host memory in use, near/);
});

Deno.test("the default budget is half of V8's heap limit", () => {
  assert.equal(defaultMemoryBudget(), Math.floor(heapLimitBytes() / 2));
  assert.equal(new MemoryBudget().bytes, defaultMemoryBudget());
  assert.throws(() => new MemoryBudget(0), RangeError);
  assert.equal(hostBytesText(42112 * MiB), "41.1 GiB");
  assert.equal(hostBytesText(256 * MiB), "256 MiB");
  assert.equal(hostBytesText(512), "512 B");
});
