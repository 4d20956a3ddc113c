/**
 * Steady-state one-page preserve through the `Kho` facade, as the bench-ref workloads call it
 * (`kho.preservePages(pfn, 1)`, 6.16's `kho.preservePhys(pfn << 12, 4096)`), on the machine
 * shapes of `lib/metrics/kho_ref_workload.ts`: ns per item, the median of five timed loops after
 * three untimed ones, one fresh kernel per loop. It imports the engine of the tree it is run
 * from (the current directory), also trees from before the boot layer (lib/kernel/kernel.ts),
 * so one copy of this file compares two checkouts in alternating processes:
 *
 *   git worktree add /tmp/before 84efd2a
 *   for i in 1 2 3 4; do
 *     deno run -A bench/preserve_steady.ts
 *     (cd /tmp/before && deno run -A "$OLDPWD/bench/preserve_steady.ts")
 *   done
 *
 * Prints one JSON line `{ workload: ns, … }`; an argument `radix,hyper` selects workloads.
 *
 * @module
 */

const root = Deno.cwd();
// deno-lint-ignore no-explicit-any
let kernelModule: any;
try {
  kernelModule = await import(`file://${root}/lib/boot/kernel.ts`);
} catch {
  kernelModule = await import(`file://${root}/lib/kernel/kernel.ts`);
}
const { Machine } = await import(`file://${root}/lib/machine/machine.ts`);
const Kernel = kernelModule.Kernel;

const SPAN = 1 << 22;
const WORKLOADS: Record<string, { profile: string; pages: number; giant: number; phys: boolean }> =
  {
    radix: { profile: "kho-v4", pages: 1 << 20, giant: 0, phys: false },
    xarray512: { profile: "kho-v1-6.16", pages: 1 << 22, giant: 0, phys: true },
    xarray4k: { profile: "kho-v1-6.19", pages: 1 << 22, giant: 0, phys: false },
    hyper: { profile: "kho-v4", pages: 1 << 20, giant: 1008, phys: false },
  };

function pfnsOf(n: number): Float64Array {
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) p[i] = Number((BigInt(i) * 0x9E3779B1n) & BigInt(SPAN - 1));
  return p;
}

// deno-lint-ignore no-explicit-any
function pages(kho: any, p: Float64Array): void {
  for (let i = 0; i < p.length; i++) kho.preservePages(p[i], 1);
}

// deno-lint-ignore no-explicit-any
function phys(kho: any, p: Float64Array): void {
  for (let i = 0; i < p.length; i++) kho.preservePhys(p[i] * 4096, 4096);
}

const only = Deno.args[0]?.split(",");
const out: Record<string, number> = {};
for (const [name, w] of Object.entries(WORKLOADS)) {
  if (only && !only.includes(name)) continue;
  const p = pfnsOf(w.pages);
  const samples: number[] = [];
  for (let r = 0; r < 8; r++) {
    const ramBytes = Math.ceil((SPAN * 4096 + w.giant * 2 ** 30 + 8 * 2 ** 30) / 2 ** 30) * 2 ** 30;
    const k = Kernel.coldBoot(new Machine({ ramBytes, nodes: 1 }), {
      profile: w.profile,
      poison: false,
      memmapBytesPerPage: 0,
      cmdline: "kho_scratch=0,1G,256M",
    });
    const t0 = performance.now();
    if (w.phys) phys(k.kho, p);
    else pages(k.kho, p);
    if (r >= 3) samples.push((performance.now() - t0) * 1e6 / w.pages);
  }
  samples.sort((a, b) => a - b);
  out[name] = +samples[2].toFixed(2);
}
console.log(JSON.stringify(out));
