#!/usr/bin/env bash
# Dense vs DSA at long context, side by side on the same tokens and the same machine load:
# training steps of the sparse stage (from one warm-up run, the same windows by seed) and greedy
# sampling of the same held-out prompts (the sparse stage's DSA model and its dense twin), alternating dense and DSA ROUNDS times so that other
# work on the machine falls on both alike. Uses the run folders of Benchmarks/learning-real.sh.
#
#   WORK=/tmp/forge-learning-real STORE=... CLONES=... WS=... bash Benchmarks/dsa-long-context.sh
# (Without run folders: `forge-bench dsa-train` times the same model shape's training step and
# sampling dense vs DSA on random weights, with a per-kernel breakdown.)
set -euo pipefail
cd "$(dirname "$0")/.."
F=${FORGE:-$PWD/.build/release/forge}
W=${WORK:-/tmp/forge-learning-real}
CLONES=${CLONES:?the folder with owner__name clones}
WS=${WS:?the workspace whose environments the tasks use}
REPOS=${REPOS:-"pypa/twine python-babel/babel dynaconf/dynaconf"}
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-4}
DB=$W/forge.db
CLONE_ARGS=()
for repo in $REPOS; do CLONE_ARGS+=(--clone "$repo=$CLONES/${repo/\//__}"); done
REPO_GLOBS=$(for repo in $REPOS; do printf '%s-*,%s.synth-*,' "${repo/\//__}" "${repo/\//__}"; done)
COMMON=(--db "$DB" "${CLONE_ARGS[@]}" --workspace "$WS" --tasks "${REPO_GLOBS%,}")
PROMPT=(--context-mode retrieval --max-files 8 --max-response-tokens 192 --held-out-every 4 --split-by family)
CONTEXT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['settings']['model']['context'])" "$W/pretrain/config.json")
T=$W/timing
rm -rf "$T"; mkdir -p "$T"
for round in $(seq 1 "$ROUNDS"); do
    for attention in sparse dense; do
        # Training: STEPS steps of the sparse stage (LM loss, and the indexer's KL in DSA mode) at the full context.
        nice -n 10 "$F" train sparse "${COMMON[@]}" --from "$W/warmup" --out "$T/train-$attention-$round" --attention "$attention" \
            --steps "$STEPS" --batch 1 --sequence-length "$CONTEXT" --eval-every 1000 --seed 7 >/dev/null 2>&1
        # Sampling: the two sparse-stage models (trained on the same tokens) on the held-out prompts, greedy.
        start=$(date +%s.%N)
        nice -n 10 "$F" agent solve "${COMMON[@]}" "${PROMPT[@]}" --held-out --model "$W/$attention" --out "$T/solve-$attention-$round.jsonl" \
            --responses "$T/solve-$attention-$round.responses.jsonl" >/dev/null 2>&1
        echo "$attention $round $(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")" >> "$T/solve.txt"
    done
done
python3 - "$T" "$ROUNDS" "$CONTEXT" <<'EOF'
import json, sys
from statistics import mean
folder, rounds, context = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def step_seconds(run):
    # The first step also pays for loading and the first measurement; the last one for the validation pass.
    lines = [json.loads(l) for l in open(f"{folder}/{run}/metrics.jsonl")]
    seconds = [l["seconds"] for l in lines if "seconds" in l and l.get("step", 0) >= 1 and "validation_loss" not in l]
    return [b - a for a, b in zip(seconds, seconds[1:])]
solve = {}
for line in open(f"{folder}/solve.txt"):
    attention, _, seconds = line.split()
    solve.setdefault(attention, []).append(float(seconds))
print(f"context {context}: seconds per training step (steps 2..n-1 of each run, {rounds} alternating runs each)")
for attention in ("sparse", "dense"):
    steps = [s for r in range(1, rounds + 1) for s in step_seconds(f"train-{attention}-{r}")]
    tokens = sum(len(json.loads(l)["response"]) for r in range(1, rounds + 1) for l in open(f"{folder}/solve-{attention}-{r}.responses.jsonl")) / rounds
    print(f"  {attention:6s} training step {mean(steps):6.2f} s  (n={len(steps)})   held-out sampling {mean(solve[attention]):6.1f} s per pass "
          f"({tokens:.0f} response characters per pass)")
EOF
