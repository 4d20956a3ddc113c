#!/usr/bin/env bash
# One shard of a kholab sweep or compare, on this machine:
#
#   tools/scaleout/shard.sh K N OUTDIR -- sweep|compare ARGS…
#
# runs `kholab ARGS --shard K/N --out OUTDIR/shard-K-of-N.jsonl` from the repository this script
# is in, with $KHOLAB_DENO (default: npx -y deno@2.9.6, Deno from npm). Running it again resumes
# the shard (the points already in its file are skipped). The job scripts of docs/scale-out.md
# (GNU parallel over SSH, Slurm job arrays, Kubernetes Indexed Jobs) all end here. Exit code:
# kholab's (0 done, 1 a point failed, 2 bad input).
set -euo pipefail

usage() {
  echo "usage: tools/scaleout/shard.sh K N OUTDIR -- sweep|compare ARGS…" >&2
  exit 2
}
[ $# -ge 5 ] && [ "$4" = "--" ] || usage
k=$1 n=$2 outdir=$3
shift 4
case "$1" in sweep | compare) ;; *) usage ;; esac
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
cd "$repo"
# KHOLAB_DENO is a command line (word-split on purpose: "npx -y deno@2.9.6").
# shellcheck disable=SC2086
exec ${KHOLAB_DENO:-npx -y deno@2.9.6} task -q kholab "$@" \
  --shard "$k/$n" --out "$outdir/shard-$k-of-$n.jsonl"
