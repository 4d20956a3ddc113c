import assert from "node:assert/strict";
import { ManualClock } from "../../lib/rng.ts";
import { session } from "../../lib/dsl/tag.ts";
import { handoverOutcomes } from "../../lib/dsl/outcomes.ts";

function newSession() {
  return session({ seed: 3, clock: new ManualClock() });
}

Deno.test("show outcomes: pending until restore and verify decide; restored and corrupted with reasons", () => {
  const kho = newSession();
  const setup = kho`machine ram=2G
buf = folios order=2 count=3
dma = pages order=4 count=2
vm = vmalloc size=64K
guest = memfd size=4M
preserve buf dma vm guest
kexec`;
  assert.ok(setup.ok, setup.error?.message);
  assert.equal(kho.value("outcomes.attempted"), 4);
  assert.equal(kho.value("outcomes.pending"), 4);
  assert.match(
    kho`show outcomes`.output.join("\n"),
    /buf \(folios\): pending — incoming: `restore` it/,
  );
  assert.ok(kho`restore`.ok);
  assert.equal(kho.value("outcomes.pending"), 4, "restored, not verified yet");
  // Change a byte of dma's first block in the successor: verify finds it.
  const dma = kho.session.objects.get("dma")!;
  kho.session.kernel!.machine.mem.writeU8(dma.phys[0] + 9, 0x5a);
  assert.ok(kho`verify`.ok);
  assert.deepEqual(
    ["attempted", "restored", "corrupted", "lost", "pending"].map((k) =>
      kho.value(`outcomes.${k}`)
    ),
    [4, 3, 1, 0, 0],
  );
  const text = kho`show outcomes`.output.join("\n");
  assert.match(text, /^handover to boot #1 \(kho-v4\): 4 object\(s\)$/m);
  assert.match(text, /^ {2}dma \(pages\): corrupted — content hash differs$/m);
  assert.match(text, /^ {2}guest \(memfd\): restored$/m);
  assert.match(text, /^pages {2,}1 {2,}0 {2,}0 {2,}0 {2,}0 {2,}1 {2,}0 {2,}0$/m, "per kind");
});

Deno.test("show outcomes: lost where the walk did not keep a folio (the order table has no slot above 9)", () => {
  const kho = newSession();
  const r = kho`machine ram=2G poison=off
profile rfc-v1-order-table
big = folios order=10 count=1
small = folios order=0 count=2
preserve big small
kexec
restore
verify`;
  assert.ok(r.ok, r.error?.message);
  const [big, small] = handoverOutcomes(kho.session);
  assert.equal(small.outcome, "restored");
  assert.equal(big.outcome, "lost");
  assert.match(
    big.reason!,
    /^not kept by the successor's walk: pfn 0x[0-9a-f]+ was in the page allocator \(memblock_free_all freed it at boot\); kho_restore_folio returned it anyway; its content/,
  );
  assert.equal(kho.value("outcomes.lost"), 1);
});

Deno.test("show outcomes: failedRestore with the successor's WARN (6.18 restores no order-18 folio)", () => {
  const kho = newSession();
  const r = kho`machine ram=4G
profile kho-v1-6.18
guest = folios order=18 count=1
preserve guest
kexec
restore guest`;
  assert.ok(r.ok, r.error?.message);
  const [g] = handoverOutcomes(kho.session);
  assert.equal(g.outcome, "failedRestore");
  assert.match(
    g.reason!,
    /^kho_restore_folio\(0x[0-9a-f]+\) returned NULL; successor's log: WARNING: at kho_restore_page: pfn 0x[0-9a-f]+: order 18 > 10$/,
  );
  // verify does not turn it into anything else.
  kho`verify guest`;
  assert.equal(handoverOutcomes(kho.session)[0].outcome, "failedRestore");
});

Deno.test("show outcomes: a refused handover refuses every object handed over, with the successor's reason", () => {
  const kho = newSession();
  const r = kho`machine ram=2G
a = pages count=2
b = folios order=0 count=1
preserve a b
kexec profile=kho-v3`;
  assert.ok(r.ok, r.error?.message);
  const list = handoverOutcomes(kho.session);
  assert.deepEqual(list.map((x) => [x.name, x.outcome]), [["a", "refused"], ["b", "refused"]]);
  const why = kho.session.kernel!.boot.revivalRefused!;
  assert.equal(list[0].reason, `the successor refused the handover: ${why}`);
  assert.equal(kho.value("outcomes.refused"), 2);
  assert.equal(kho.session.objects.size, 0, "nothing came back");
});

Deno.test("show outcomes: the last scenario's outcomes per kind with their reasons; their totals for expect", () => {
  const kho = newSession();
  const r =
    kho`scenario hypervisor profile=kho-v1-6.16 ramBytes=4G headroomBytes=4G nodes=1 guestBytes=8M guestFolio=2M vms=2 poolBytes=256M iommuPages=200 vmallocBuffers=1 dmaBlocks=1 repeat=0
expect scenario.unsupportedObjects == 3 && scenario.restoredObjects == 201
expect scenario.attemptedObjects == 204 && scenario.lostObjects == 0
show outcomes`;
  assert.ok(r.ok, r.error?.message);
  assert.equal(kho.session.stats.expectFailed, 0);
  const text = r.output.join("\n");
  assert.match(text, /^scenario hypervisor \(kho-v1-6\.16\): unsupported$/m);
  assert.match(
    text,
    /^ {2}memfd: guests: 2 unsupported — kho-v1-6\.16 \(6\.16\) has no Live Update Orchestrator/m,
  );
  assert.match(
    text,
    /^ {2}vmalloc: vmalloc: 1 unsupported — .* no kho_preserve_vmalloc \(6\.18 on\)$/m,
  );
  const html = r.parts.find((p) => p.kind === "html");
  assert.ok(html && html.kind === "html" && html.html.includes("white-space:pre-line"));
});

Deno.test("show outcomes before anything was handed over", () => {
  const kho = newSession();
  assert.match(kho`show outcomes`.output.join("\n"), /no outcomes yet/);
});
