#!/usr/bin/env bash
# One shard of a kholab sweep (or compare) as one pod of a Kubernetes Indexed Job
# (tools/scaleout/k8s_indexed_job.yaml): pod JOB_COMPLETION_INDEX (0 to completions - 1) runs
# shard K = index + 1 of N = $KHOLAB_SHARDS (the Job's completions) into
# $KHOLAB_SHARD_DIR/shard-K-of-N.jsonl (default /out, a volume that outlives the pods: a
# retried pod resumes its shard), with $KHOLAB_DENO (default: npx -y deno@2.9.6).
#
#   tools/scaleout/k8s_shard.sh sweep uniform --param pages --values 1Ki,2Ki --repeat 0
#
# Exit code: kholab's; 2 when the index or the shard count is missing or wrong.
set -euo pipefail

die() {
  echo "k8s_shard.sh: $*" >&2
  exit 2
}
index="${JOB_COMPLETION_INDEX:-}" n="${KHOLAB_SHARDS:-}"
[[ "$index" =~ ^[0-9]+$ ]] || die "JOB_COMPLETION_INDEX is not set: run as a pod of an Indexed Job"
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "KHOLAB_SHARDS (the Job's completions) is not set"
[ "$index" -lt "$n" ] || die "JOB_COMPLETION_INDEX $index: the Job has $n completions (KHOLAB_SHARDS)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/shard.sh" "$((index + 1))" "$n" "${KHOLAB_SHARD_DIR:-/out}" -- "$@"
