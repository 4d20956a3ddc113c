import assert from "node:assert/strict";
import {
  abiMatrix,
  abiMatrixCell,
  abiMatrixText,
  luoProbe,
} from "../../lib/scenario/abi_matrix.ts";

Deno.test("ABI matrix, LUO: a 7.1 → 7.2 live update loses the session with the kernel's message", () => {
  const c = abiMatrixCell("kho-v3", "kho-v4");
  assert.equal(c.verdict, "refused");
  assert.equal(c.luo, "lost");
  assert.equal(c.luoReason, 'disabling KHO revival: compat "kho-v3" does not match "kho-v4"');
  assert.match(
    abiMatrixText(abiMatrix(["kho-v3", "kho-v4"])),
    /kho-v3 → kho-v4: compat "kho-v3" does not match "kho-v4"; LUO session lost/,
  );
});

Deno.test("ABI matrix, LUO: restored on the same generation, unsupported before 6.19, lost where the successor has none", () => {
  for (const p of ["kho-v1-6.19", "kho-v2", "kho-v3", "kho-v4"] as const) {
    assert.deepEqual(luoProbe(p, p), { luo: "restored" });
  }
  // Same KHO compat and the same luo-v5: the page-type RFC is a 7.2 kernel for LUO.
  assert.deepEqual(luoProbe("kho-v4", "rfc-2026-page-type"), { luo: "restored" });
  assert.equal(luoProbe("kho-v1-6.18", "kho-v1-6.19").luo, "unsupported");
  // 6.19 → 6.18 is accepted by KHO (both "kho-v1") but 6.18 has no LUO.
  const back = abiMatrixCell("kho-v1-6.19", "kho-v1-6.18");
  assert.equal(back.luo, "lost");
  assert.match(back.luoReason!, /kho-v1-6\.18 has no LUO/);
});
