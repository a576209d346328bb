#!/usr/bin/env bash
# devset.sh CLONES [WORK]: mine, select and validate the dev set's instances, then print the table.
#
#   CLONES  a folder with one clone per repository, named owner__name (psf__requests), each
#           carrying GitHub's PR refs (../shared/scripts/clone-with-prs.sh MIRROR CLONES/owner__name).
#           Repositories without a clone are listed as such, not mined.
#   WORK    where the store (forge.db), environments and runs go (default: Workspace/devset).
#
# Environment: FORGE (the forge binary; default .build/debug/forge), TASKS (the dev set; default
# ../shared/data/dev-tasks.jsonl), REPOS (space-separated owner/name to restrict to), JOBS
# (validation jobs, default 1), RERUNS (default 0), NICE (default 10).
# Per repository and in total: instances, found by the miner, base commit and version agreement,
# environment built, gold confirmed (FAIL_TO_PASS non-empty, PASS_TO_FAIL empty), the failure
# reasons by category, and how many instances a Recipes/repos file applied to.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
clones=${1:?usage: devset.sh CLONES [WORK]}
work=${2:-$here/Workspace/devset}
forge=${FORGE:-$here/.build/debug/forge}
tasks=${TASKS:-$here/../shared/data/dev-tasks.jsonl}
jobs=${JOBS:-1}; reruns=${RERUNS:-0}; nice=${NICE:-10}
mkdir -p "$work"
db="$work/forge.db"
repos=${REPOS:-$(python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["repo"] for l in open(sys.argv[1]) if l.strip()})))' "$tasks")}

for repo in $repos; do
  clone="$clones/${repo/\//__}"
  if [ ! -d "$clone" ]; then echo "# $repo: no clone at $clone" >&2; continue; fi
  echo "# mining $repo" >&2
  nice -n "$nice" "$forge" mine "$clone" --repo "$repo" --db "$db" > "$work/mine-${repo/\//__}.log" 2>&1 \
    || echo "# $repo: forge mine failed: $(tail -1 "$work/mine-${repo/\//__}.log")" >&2
  # One batch per repository: --tasks takes the instance ids as a comma-separated list.
  ids=$(python3 -c 'import json,sys; print(",".join(t["instance_id"] for t in map(json.loads, open(sys.argv[1])) if t["repo"]==sys.argv[2]))' "$tasks" "$repo")
  nice -n "$nice" "$forge" validate --db "$db" --clone "$clone" --tasks "$ids" --jobs "$jobs" --reruns "$reruns" \
    --workspace "$work/ws" >> "$work/validate-${repo/\//__}.log" 2>&1
done

python3 - "$tasks" "$db" "$clones" "$here/Recipes/repos" $repos <<'PY'
import json, os, re, sqlite3, sys
from collections import Counter, defaultdict
tasks_path, db_path, clones, recipes, *repos = sys.argv[1:]
dev = [json.loads(l) for l in open(tasks_path) if l.strip()]
dev = [t for t in dev if t["repo"] in repos]
db = sqlite3.connect(db_path) if os.path.exists(db_path) else None
def mined(iid):
    if not db: return None
    return db.execute("select base_commit, version from task where instance_id=?", (iid,)).fetchone()
def verdict(iid):
    if not db: return None
    return db.execute("select status, reason, fail_to_pass, pass_to_fail from verdict where instance_id=? and kind='validation'", (iid,)).fetchone()
def category(reason):
    r = reason or ""
    m = re.match(r"env build failed: ([a-z-]+)", r)
    if m: return "env: " + m.group(1)
    for key in ["no FAIL_TO_PASS (tests need the network)", "no FAIL_TO_PASS", "PASS_TO_FAIL", "no tests ran", "test patch", "patch did not apply", "timeout", "flaky"]:
        if key.lower() in r.lower(): return key
    return (r.split(":")[0] or "unknown")[:40]
rows = defaultdict(Counter); reasons = defaultdict(Counter)
for t in dev:
    repo = t["repo"]; c = rows[repo]; c["instances"] += 1
    if not os.path.isdir(os.path.join(clones, repo.replace("/", "__"))):
        reasons[repo]["no clone"] += 1; continue
    m = mined(t["instance_id"])
    if not m: reasons[repo]["not found by the miner"] += 1; continue
    c["found"] += 1
    c["base"] += m[0] == t["base_commit"]
    c["version"] += (t.get("version") is None) or m[1] == t["version"]
    v = verdict(t["instance_id"])
    if not v: reasons[repo]["not validated"] += 1; continue
    status, reason, f2p, p2f = v
    if not (reason or "").startswith("env build failed"): c["env"] += 1
    # A repository recipe applied when the environment names one as its most specific recipe.
    envs = db.execute("select distinct e.recipe_name from test_run r join environment e on e.key = r.environment_key "
                      "where r.instance_id=?", (t["instance_id"],)).fetchall()
    if any("repos/" in (name or "") for (name,) in envs): c["recipe"] += 1
    logs = [p for (p,) in db.execute("select log_path from test_run where instance_id=? and phase='after'", (t["instance_id"],)) if p]
    if (reason or "").startswith("no FAIL_TO_PASS") and any(
            re.search(r"ConnectionError|Name or service not known|Temporary failure in name resolution|Network is unreachable",
                      open(p, errors="replace").read()) for p in logs if os.path.exists(p)):
        reason = "no FAIL_TO_PASS (tests need the network)"
    if json.loads(f2p) and not json.loads(p2f): c["confirmed"] += 1
    else: reasons[repo][category(reason)] += 1
cols = ["instances", "found", "base", "version", "env", "confirmed", "recipe"]
head = "| repository | instances | found | base commit | version | env built | gold confirmed | with recipe | failures |"
print(head); print("|" + "---|" * 9)
total = Counter(); total_reasons = Counter()
for repo in sorted(rows):
    c = rows[repo]; total.update(c); total_reasons.update(reasons[repo])
    print("| %s | %s | %s |" % (repo, " | ".join(str(c[k]) for k in cols), "; ".join(f"{k} {n}" for k, n in reasons[repo].most_common())))
print("| **total** | %s | %s |" % (" | ".join(str(total[k]) for k in cols), "; ".join(f"{k} {n}" for k, n in total_reasons.most_common())))
PY
