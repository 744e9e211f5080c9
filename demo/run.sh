#!/usr/bin/env bash
# gastown demo: a town driven with plain git, claimed by several processes at once.
# Runs in a temporary directory; needs `gt` on PATH (make demo puts the venv's there).
set -euo pipefail

work=$(mktemp -d "${TMPDIR:-/tmp}/gastown-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-Demo Person}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@example.invalid}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. A shared town: a bare remote with gastown's server hooks, and a first clone"
git init --quiet --bare "$work/town.git"
gt hooks install --bare "$work/town.git"
gt init "$work/mayor" --remote "$work/town.git" --name aerobeat-demo

say "2. A person pushes a small convoy of beads with plain git (no gt involved)"
git clone --quiet --branch tasks "$work/town.git" "$work/person"
cd "$work/person"
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
bead() {  # id title role priority deps-json tokens
  printf '{\n  "id": "%s", "title": "%s", "role": "%s", "priority": %s,\n  "dependencies": %s, "estimated_tokens": %s,\n  "rig": "example", "created_at": "%s", "updated_at": "%s"\n}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$now" "$now" > "beads/$1.json"
}
bead gt-t3st1 "Write tests for beat scoring" refinery 0 '[]' 3000
bead gt-c0de1 "Implement beat scoring" polecat 1 '["gt-t3st1"]' 5000
bead gt-c0de2 "Implement combo multiplier" polecat 1 '["gt-t3st1"]' 4000
bead gt-c0de3 "Implement accuracy grades" polecat 2 '["gt-t3st1"]' 6000
bead gt-d0cs1 "Document the scoring module" librarian 3 '["gt-c0de1"]' 2000
git add beads && git commit --quiet -m "Beat scoring convoy, written by hand"
git push origin tasks 2>&1 | sed 's/^/    /'

say "3. A bad bead is refused by the server, with the reason; the remote is unchanged"
printf '{"id": "gt-bad01", "title": "Oops", "priority": 9, "dependencies": ["gt-n0ne1"]}\n' > beads/gt-bad01.json
git add beads && git commit --quiet --no-verify -m "a mistake"
git push origin tasks 2>&1 | sed 's/^/    /' || true
git reset --quiet --hard origin/tasks

say "4. Clones on the same remote; the refinery claims the test bead first"
gt init "$work/worker1" --remote "$work/town.git" >/dev/null
gt init "$work/worker2" --remote "$work/town.git" >/dev/null
gt --town "$work/worker1" ready
gt --town "$work/worker1" claim --role refinery --agent refinery@worker1 --lease 600
gt --town "$work/worker1" complete gt-t3st1 --agent refinery@worker1 --summary "4 failing tests written"

say "5. Three polecats in two clones race for the unblocked beads: each is claimed exactly once"
for agent in polecat-a@worker1 polecat-b@worker2 polecat-c@worker2; do
  clone=${agent#*@}
  ( gt --town "$work/$clone" claim --role polecat --agent "$agent" --lease 600 || true ) &
done
wait

say "6. gt status from the mayor's clone (gt fetches the shared tasks branch first)"
gt --town "$work/mayor" status

say "7. git log is the event log (subjects and trailers)"
git -C "$work/town.git" log --format='%h %s%n%(trailers:key=Event,key=Agent,key=Generation,separator=%x2c )' tasks | sed 's/^/    /'

say "done: the town lived in $work (removed on exit)"
