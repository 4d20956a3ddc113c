import assert from "node:assert/strict";
import { Topology } from "../../lib/machine/topology.ts";
import {
  checkPfnList,
  machineForPfnList,
  parsePfnList,
  PFN_LIST_MAX_ORDER,
  pfnListDiagnostics,
  PfnListError,
} from "../../lib/scenario/pfn_list.ts";
import { GiB } from "../../lib/units.ts";

Deno.test("pfn list: text and CSV, comments, a header, decimal and hex", () => {
  const text = [
    "# from host-a",
    "pfn,order,node",
    "0x40000 18 0",
    "",
    "262145,0,0   # trailing comment",
    "\t0x40002\t1",
    "0x40004, 2 ,0\r",
  ].join("\n");
  const { list, errors } = parsePfnList(text, { file: "a.csv" });
  assert.deepEqual(errors, []);
  assert.deepEqual([...list.pfns], [0x40000, 262145, 0x40002, 0x40004]);
  assert.deepEqual([...list.orders], [18, 0, 1, 2]);
  assert.deepEqual([...list.nodes], [0, 0, -1, 0]);
  assert.deepEqual([...list.lines], [3, 5, 6, 7]);
  // A header only counts as the first content line.
  assert.equal(parsePfnList("0 0\npfn,order\n", { file: "b" }).errors.length, 2);
});

Deno.test("pfn list: each bad field is reported at its column; the good lines still parse", () => {
  const text = [
    "0x1zz 0", // 1: bad number
    "0x200 35", // 2: order out of range
    "0x201 1", // 3: misaligned
    "0x300 0 64", // 4: node out of range
    "0x300", // 5: one field
    "0x300 0 0 7", // 6: four fields
    "0x400000000 0", // 7: beyond 64 TiB
    "0x3ffffffff 1", // 8: misaligned (odd pfn)
    "0x200 x", // 9: bad order
    "0x600 9",
  ].join("\n");
  const { list, errors } = parsePfnList(text, { file: "bad.txt" });
  assert.deepEqual([...list.pfns], [0x600]);
  const at = errors.map((e) => `${e.span.line}:${e.span.col}:${e.span.len}`);
  assert.deepEqual(at, [
    "1:1:5",
    "2:7:2",
    "3:1:5",
    "4:9:2",
    "5:1:5",
    "6:11:1",
    "7:1:11",
    "8:1:11",
    "9:7:1",
  ]);
  assert.match(errors[0].message, /^bad number "0x1zz"/);
  assert.match(errors[1].message, new RegExp(`order 35 out of range 0..${PFN_LIST_MAX_ORDER}`));
  assert.match(errors[2].message, /not aligned to its order 1/);
  assert.match(errors[3].message, /node 64 out of range 0..63/);
  assert.match(errors[4].message, /expected "pfn order \[node\]", found 1 field/);
  assert.match(errors[5].message, /unexpected field "7"/);
  assert.match(errors[6].message, /beyond the 64 TiB/);
  const e = new PfnListError("bad.txt", errors, text);
  assert.match(e.message, /^bad.txt:1:1: bad number "0x1zz" .*\n {3}1 \| 0x1zz 0\n {5}\| \^{5}\n/);
  assert.ok(e.message.endsWith("bad.txt: 9 errors; nothing was imported"));
});

Deno.test("pfn list: a long list of bad lines is reported in full, the message bounded", () => {
  const text = Array.from({ length: 1000 }, () => "nope 0").join("\n");
  const { errors } = parsePfnList(text, { file: "f" });
  assert.equal(errors.length, 1000);
  const msg = new PfnListError("f", errors, text).message;
  assert.match(msg, /… and 980 more\nf: 1000 errors; nothing was imported$/);
});

Deno.test("pfn list: against a machine — outside RAM, node mismatch, spanning nodes, overlaps", () => {
  const topology = new Topology({ ramBytes: 4 * GiB, nodes: 2 }); // node 1 from pfn 0x80000
  const text = [
    "0x1000 9 0", // 1: ok
    "0x100000 0", // 2: beyond RAM (4 GiB)
    "0x80000 0 0", // 3: node 1 really
    "0x7fe00 9", // 4: ok
    "0x1100 4 0", // 5: inside line 1's block
    "0x1000 0", // 6: the same pfn as line 1
    "0x2000 12", // 7: covers line 8
    "0x2400 0", // 8: inside line 7
  ].join("\n");
  const parsed = parsePfnList(text, { file: "m" });
  assert.deepEqual(parsed.errors, []);
  const diags = checkPfnList(parsed.list, topology);
  assert.deepEqual(diags.map((d) => `${d.span.line}:${d.span.col}`), [
    "2:1",
    "3:11",
    "5:1",
    "6:1",
    "8:1",
  ]);
  assert.match(diags[0].message, /outside RAM/);
  assert.match(diags[1].message, /node 0 does not match the machine: pfn 0x80000 is on node 1/);
  assert.match(diags[2].message, /overlaps the block of line 1/);
  assert.match(diags[3].message, /overlaps the block of line 1/);
  assert.match(diags[4].message, /overlaps the block of line 7/);
  // Nodes are section-aligned: only a block larger than a section can span two.
  const three = new Topology({ ramBytes: 3 * GiB, nodes: 3 }); // nodes at 0, 1 GiB, 2 GiB
  const span = checkPfnList(parsePfnList("0x0 19", { file: "s" }).list, three);
  assert.match(span[0].message, /spans nodes 0 and 1/);
  // Parse and machine diagnostics merge in line order.
  const both = pfnListDiagnostics(parsePfnList("x 0\n0x100000 0", { file: "m" }), topology);
  assert.deepEqual(both.map((d) => d.span.line), [1, 2]);
});

Deno.test("pfn list: a machine sized to the list puts every block on its node, with room", () => {
  const text = "0x0 0 0\n0x3ffff 0 0\n0x100000 18 1\n0x1c0000 18 1\n0x240000 9 2";
  const { list } = parsePfnList(text, { file: "x" });
  const m = machineForPfnList(list);
  assert.equal(m.nodes, 3);
  const t = new Topology({ ramBytes: m.ramBytes, nodes: m.nodes });
  assert.deepEqual(checkPfnList(list, t), []);
  // Without nodes: one node, the highest block plus room.
  const flat = machineForPfnList(parsePfnList("0x40000 18", { file: "y" }).list);
  assert.deepEqual(flat, { ramBytes: 3 * GiB, nodes: 1 });
  // Impossible node layouts still give a machine; the check reports the mismatch.
  const odd = parsePfnList("0x0 0 1\n0x40000 0 0", { file: "z" }).list;
  const mm = machineForPfnList(odd);
  assert.ok(checkPfnList(odd, new Topology(mm)).length > 0);
});
