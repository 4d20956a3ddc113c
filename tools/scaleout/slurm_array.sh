#!/usr/bin/env bash
#SBATCH --job-name=kholab-shard
#SBATCH --cpus-per-task=2
#SBATCH --output=kholab-shard-%A_%a.log
# One shard of a kholab sweep (or compare) as one task of a Slurm job array. From the
# repository, on a cluster whose nodes share it (and the submit directory):
#
#   sbatch --array=1-16 tools/scaleout/slurm_array.sh \
#     sweep uniform --param pages --values 1Ki,2Ki,4Ki --repeat 0 --workers 2
#
# Task SLURM_ARRAY_TASK_ID runs shard K = ID - SLURM_ARRAY_TASK_MIN + 1 of
# N = SLURM_ARRAY_TASK_COUNT (the array must be a plain range: 1-16, 0-7) into
# $KHOLAB_SHARD_DIR/shard-K-of-N.jsonl (default: shards/ in the submit directory), with
# $KHOLAB_DENO (default: npx -y deno@2.9.6). Submitting the array again (or requeueing a task)
# resumes the shards. Then merge (docs/scale-out.md), e.g. as a job that waits for the array:
#
#   sbatch --dependency=afterany:JOBID --wrap \
#     'npx -y deno@2.9.6 task -q kholab sweep merge shards/shard-*-of-16.jsonl --out merged.csv'
#
# --cpus-per-task above is the shard's --workers (give both the same number). Exit code:
# kholab's; 2 when not run as an array task.
set -euo pipefail

die() {
  echo "slurm_array.sh: $*" >&2
  exit 2
}
id="${SLURM_ARRAY_TASK_ID:-}"
[ -n "$id" ] || die "SLURM_ARRAY_TASK_ID is not set: submit with sbatch --array=1-N"
min="${SLURM_ARRAY_TASK_MIN:-}" max="${SLURM_ARRAY_TASK_MAX:-}"
count="${SLURM_ARRAY_TASK_COUNT:-}"
for v in "$id" "$min" "$max"; do [[ "$v" =~ ^[0-9]+$ ]] || die "SLURM_ARRAY_TASK_* not numbers"; done
count="${count:-$((max - min + 1))}"
[ "$count" = "$((max - min + 1))" ] ||
  die "the array $min-$max has $count tasks: use a plain range (--array=1-N)"
k=$((id - min + 1))
# sbatch runs a copy of this script: the repository is where it was submitted from.
repo="${KHOLAB_REPO:-${SLURM_SUBMIT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}}"
[ -x "$repo/tools/scaleout/shard.sh" ] ||
  die "$repo is not the kholab repository: submit from it, or set KHOLAB_REPO"
exec "$repo/tools/scaleout/shard.sh" "$k" "$count" "${KHOLAB_SHARD_DIR:-$repo/shards}" -- "$@"
