#!/usr/bin/python3
"""fdt_oracle_batch.py - run many ../shared/oracles/fdt_oracle.py generators in one process.

Reads a JSON list on stdin; each item is one of
  {"root_rw": {"compat", "map", "subtrees": [[name, phys], ...], "prop_name", "blob_sizes": {name: size}}}
  {"root_sw": {...same...}}
  {"memblock_sub": {"regions": [[name, start, size], ...]}}
  {"test_kho_sub": {"nr_folios", "first", "total_pages", "flags", "order", "csum"}}
and prints a JSON list of hex blobs, produced by the oracle's own functions (pylibfdt).
Run with /usr/bin/python3 (python3-libfdt). The oracle path is argv[1].
"""
import importlib.util
import json
import sys

spec = importlib.util.spec_from_file_location("fdt_oracle", sys.argv[1])
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)

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
    else:
        raise SystemExit("unknown generator " + kind)
    out.append(blob.hex())
json.dump(out, sys.stdout)
