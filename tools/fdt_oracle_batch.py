#!/usr/bin/python3
"""fdt_oracle_batch.py - run many ../shared/oracles/fdt_oracle.py generators in one process.

Reads a JSON list on stdin; each item is one of
  {"root_rw": {"compat", "map", "subtrees": [[name, phys], ...], "prop_name", "blob_sizes": {name: size}}}
  {"root_sw": {...same...}}
  {"memblock_sub": {"regions": [[name, start, size], ...]}}
  {"test_kho_sub": {"nr_folios", "first", "total_pages", "flags", "order", "csum"}}
  {"luo_fdt": {"num", "session_compat", "session_header", "flb_compat", "flb_header"}}
      (LUO's luo_fdt_setup call sequence of 6.19-7.1; flb_compat null for 6.19)
and prints a JSON list of hex blobs, produced by the oracle's own functions (pylibfdt).
Run with /usr/bin/python3 (python3-libfdt). The oracle path is argv[1].
"""
import importlib.util
import json
import sys

spec = importlib.util.spec_from_file_location("fdt_oracle", sys.argv[1])
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)


def luo_fdt(a):
    """luo_fdt_setup + luo_session_setup_outgoing (+ luo_flb_setup_outgoing), 6.19-7.1."""
    sw = oracle.libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node('')
    sw.property_string('compatible', 'luo-v1')
    sw.property('liveupdate-number', oracle.le64(a["num"]))
    sw.begin_node('luo-session')
    sw.property_string('compatible', a["session_compat"])
    sw.property('luo-session-header', oracle.le64(a["session_header"]))
    sw.end_node()
    if a.get("flb_compat"):
        sw.begin_node('luo-flb')
        sw.property_string('compatible', a["flb_compat"])
        sw.property('luo-flb-header', oracle.le64(a["flb_header"]))
        sw.end_node()
    sw.end_node()
    return oracle.blob(sw.as_fdt())


out = []
for item in json.load(sys.stdin):
    (kind, a), = item.items()
    if kind in ("root_rw", "root_sw"):
        gen = oracle.root_rw if kind == "root_rw" else oracle.root_sw
        blob = gen([tuple(s) for s in a["subtrees"]], a["map"], a["compat"], a["prop_name"], a.get("blob_sizes") or {})
    elif kind == "memblock_sub":
        blob = oracle.memblock_sub([tuple(r) for r in a["regions"]])
    elif kind == "test_kho_sub":
        blob = oracle.test_kho_sub(a["nr_folios"], a["first"], a["total_pages"], a["flags"], a["order"], a["csum"])
    elif kind == "luo_fdt":
        blob = luo_fdt(a)
    else:
        raise SystemExit("unknown generator " + kind)
    out.append(blob.hex())
json.dump(out, sys.stdout)
