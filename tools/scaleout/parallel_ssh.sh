#!/usr/bin/env bash
# A kholab sweep (or compare) split into N shards run by GNU parallel on SSH hosts, then merged.
# docs/scale-out.md explains it; the short form:
#
#   tools/scaleout/parallel_ssh.sh --sshlogin 2/host1,2/host2 --shards 16 --outdir shards \
#     -- sweep uniform --param pages --values 1Ki,2Ki,4Ki --repeat 0
#
# Each host needs Deno from npm (npx) and this repository (at the same path, or --repo DIR), and
# what GNU parallel itself runs there: perl, and rsync for the shard files. Shard K's file,
# OUTDIR/shard-K-of-N.jsonl, is sent to the host that runs it (so an interrupted shard resumes
# there), run by tools/scaleout/shard.sh, and brought back; then this machine merges the shards
# into OUTDIR/merged.csv (or --out FILE, --format). With --shared, OUTDIR is a directory every
# host sees at the same path (NFS): nothing is transferred. Running the script again runs only
# the points missing from the shard files.
#
# Options:
#   --sshlogin LOGINS    GNU parallel's --sshlogin (repeatable): [jobs/]host,… ("2/host1,2/host2")
#   --sshloginfile FILE  GNU parallel's --sshloginfile
#   --shards N           how many shards (required; a few per job slot balances the hosts)
#   --outdir DIR         where the shard files and the merged rows go (default: shards)
#   --repo DIR           the repository's path on the hosts (default: this repository's path)
#   --deno CMD           Deno on the hosts (default: npx -y deno@2.9.6)
#   --local-deno CMD     Deno here, for the merge (default: npx -y deno@2.9.6)
#   --ssh CMD            the ssh command (GNU parallel's --ssh; default: ssh)
#   --shared             OUTDIR is shared by every host: no file transfer
#   --format F, --out FILE   of the merge (default: csv for sweep, table for compare;
#                        OUTDIR/merged.csv|json|txt)
#   --no-merge           run the shards only
# More GNU parallel options go in $PARALLEL (GNU parallel reads it), e.g. PARALLEL=--retries=3.
# Exit code: the merge's (0, 1 when a point failed, 2 when a point is missing: rerun to resume),
# or GNU parallel's failed jobs with --no-merge.
set -euo pipefail

die() {
  echo "parallel_ssh.sh: $*" >&2
  exit 2
}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
logins=()
shards="" outdir="shards" repo="$here" shared=0 merge=1 format="" out=""
deno="npx -y deno@2.9.6" local_deno="npx -y deno@2.9.6" ssh="ssh"
while [ $# -gt 0 ]; do
  case "$1" in
    --sshlogin | --sshloginfile) [ $# -ge 2 ] || die "$1 needs a value"; logins+=("$1" "$2"); shift 2 ;;
    --shards) shards="${2:-}"; shift 2 ;;
    --outdir) outdir="${2:-}"; shift 2 ;;
    --repo) repo="${2:-}"; shift 2 ;;
    --deno) deno="${2:-}"; shift 2 ;;
    --local-deno) local_deno="${2:-}"; shift 2 ;;
    --ssh) ssh="${2:-}"; shift 2 ;;
    --format) format="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    --shared) shared=1; shift ;;
    --no-merge) merge=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option $1 (--help)" ;;
  esac
done
cmd="${1:-}"
case "$cmd" in sweep | compare) ;; *) die "after --: sweep|compare and its arguments" ;; esac
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "--shards N: a whole number ≥ 1"
[ ${#logins[@]} -gt 0 ] || die "--sshlogin or --sshloginfile: the hosts"
command -v parallel >/dev/null || die "GNU parallel is not installed"

# One word of a shell command, quoted for any POSIX shell.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
args=""
for a in "$@"; do args+=" $(q "$a")"; done

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
if [ -z "$out" ]; then
  case "${format:-$([ "$cmd" = sweep ] && echo csv || echo table)}" in
    csv) out="$outdir/merged.csv" ;; json) out="$outdir/merged.json" ;; *) out="$outdir/merged.txt" ;;
  esac
fi
name() { echo "shard-$1-of-$shards.jsonl"; }
files=()
for k in $(seq 1 "$shards"); do
  touch "$outdir/$(name "$k")" # an empty file: nothing done yet (a shard's file resumes it)
  files+=("$outdir/$(name "$k")")
done

env="KHOLAB_DENO=$(q "$deno")"
shard="$(q "$repo/tools/scaleout/shard.sh")"
set +e
if [ "$shared" = 1 ]; then
  parallel "${logins[@]}" --ssh "$ssh" --line-buffer --joblog "$outdir/joblog" \
    "$env $shard {} $shards $(q "$outdir") --$args" ::: $(seq 1 "$shards")
else
  # Each job runs in a fresh directory on its host (--workdir ...): its shard file is sent
  # there, grown by the shard, and brought back (--return), the directory then removed.
  (cd "$outdir" && parallel "${logins[@]}" --ssh "$ssh" --line-buffer --joblog joblog \
    --workdir ... --transferfile "shard-{}-of-$shards.jsonl" \
    --return "shard-{}-of-$shards.jsonl" --cleanup \
    "$env $shard {} $shards \"\$PWD\" --$args" ::: $(seq 1 "$shards"))
fi
jobs_rc=$?
set -e
[ "$merge" = 1 ] || exit "$jobs_rc"
[ "$jobs_rc" = 0 ] || echo "parallel_ssh.sh: $jobs_rc job(s) failed; merging what is there" >&2
cd "$here"
# shellcheck disable=SC2086
$local_deno task -q kholab "$cmd" merge "${files[@]}" ${format:+--format "$format"} --out "$out"
