#!/usr/bin/env bash
# cluster.sh [WORK]: the sample's validate + synth throughput with 1, 2 and 4 array tasks on this
# machine, side by side, through the files `forge cluster plan --engine slurm` writes.
#
# For each N: a fresh shared folder holding the mined sample, a two-step plan (validate, then
# synth) of N shards, and its scripts run as a one-node Slurm would run them: the N array scripts
# at once (SLURM_ARRAY_TASK_ID=1..N), then the merge script, for each step in turn. Every N uses
# one workspace whose environment was built beforehand (not timed), so all start warm, and its
# own copy of the sample's clone (synth writes mutant commits into it).
#
# Environment: FORGE (default .build/release/forge), NICE (default 10), MAX (synth --max-candidates
# per shard; default none: every candidate, the same work for every N).
# Prints a markdown table: wall seconds per step, tasks validated, candidates tried, kept tasks,
# and throughput per minute.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/Workspace/bench-cluster}
forge=${FORGE:-$here/.build/release/forge}
nice=${NICE:-10}
max=${MAX:+--max-candidates $MAX}
case "$forge" in /*) ;; *) forge="$here/$forge" ;; esac
rm -rf "$work"; mkdir -p "$work"; cd "$work"

"$forge" sample create sample > /dev/null
"$forge" mine sample/textkit --repo forge-sample/textkit --db mined.db > /dev/null
cp mined.db warm.db
nice -n "$nice" "$forge" validate --clone sample/textkit --reruns 0 --db warm.db --workspace "$work/ws" > /dev/null

now() { date +%s.%N; }
count() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$@"; }

# run_step DIR STEP N: the array scripts at once, then the merge; prints the wall seconds.
run_step() {
  local dir=$1 step=$2 n=$3 start pids=()
  start=$(now)
  for i in $(seq 1 "$n"); do
    SLURM_ARRAY_TASK_ID=$i nice -n "$nice" bash "$dir/plan/$step.sbatch" > "$dir/$step-$i.log" 2>&1 & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || { echo "array task of $step failed: see $dir" >&2; exit 1; }; done
  nice -n "$nice" bash "$dir/plan/$step-merge.sbatch" > "$dir/$step-merge.log" 2>&1 || { echo "merge of $step failed" >&2; exit 1; }
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(now)"
}

echo "| array tasks | validate s | tasks validated | tasks/min | synth s | candidates tried | kept | candidates/min | total s |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in 1 2 4; do
  dir="$work/n$n"
  mkdir -p "$dir/Workspace" "$dir/cluster/forge/logs"
  cp mined.db "$dir/Workspace/forge.db"
  cp -r sample "$dir/sample"
  "$forge" cluster plan --engine slurm --shards "$n" --shared "$dir" --workspace "$work/ws" --forge "$forge" \
    --cpus 1 --out "$dir/plan" \
    "validate --clone $dir/sample/textkit --reruns 0" \
    "synth --repo forge-sample/textkit --clone $dir/sample/textkit --reruns 0 $max" > /dev/null
  validate_s=$(run_step "$dir" 01-validate "$n")
  synth_s=$(run_step "$dir" 02-synth "$n")
  db="$dir/Workspace/forge.db"
  validated=$(count "$db" "select count(*) from verdict where kind = 'validation' and instance_id not like '%.synth-%'")
  tried=$(count "$db" "select count(*) from synthesis_candidate")
  kept=$(count "$db" "select count(*) from task where instance_id like '%.synth-%'")
  python3 - "$n" "$validate_s" "$validated" "$synth_s" "$tried" "$kept" <<'PY'
import sys
n, vs, validated, ss, tried, kept = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
print(f"| {n} | {vs:.1f} | {validated} | {validated / vs * 60:.1f} | {ss:.1f} | {tried} | {kept} | {tried / ss * 60:.1f} | {vs + ss:.1f} |")
PY
done
