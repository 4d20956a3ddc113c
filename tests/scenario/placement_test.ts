import assert from "node:assert/strict";
import { Kernel } from "../../lib/boot/kernel.ts";
import { Machine } from "../../lib/machine/machine.ts";
import { Rng } from "../../lib/rng.ts";
import { allocRandomPages } from "../../lib/scenario/placement.ts";

Deno.test("allocRandomPages: an exception part-way gives back the pages taken", () => {
  const k = Kernel.coldBoot(new Machine({ ramBytes: 2 ** 31 }), { memmapBytesPerPage: 0 });
  const free = k.buddy.nrFreePages();
  const b = k.buddy as unknown as Record<string, unknown>;
  const orig = (b.isolateFreeRange as (...a: unknown[]) => unknown).bind(k.buddy);
  let calls = 0;
  b.isolateFreeRange = (...a: unknown[]) => {
    if (++calls === 40) throw new RangeError("Array buffer allocation failed");
    return orig(...a);
  };
  assert.throws(
    () => allocRandomPages(k, new Rng(1), { startPfn: 0, endPfn: 2 ** 19 }, 100),
    /Array buffer allocation failed/,
  );
  b.isolateFreeRange = orig;
  assert.equal(k.buddy.nrFreePages(), free);
});
