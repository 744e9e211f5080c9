"""The names of the refs a town uses, in a module that imports nothing: the server's hook
reads them on every push and must start lean."""

from __future__ import annotations

ZERO = "0" * 40  # git's name for "no commit": a ref created or deleted by a push
TASKS_BRANCH = "tasks"
TASKS_REF = "refs/heads/tasks"
REMOTE = "origin"
REMOTE_REF = f"refs/remotes/{REMOTE}/{TASKS_BRANCH}"
PROPOSALS = "refs/claims/"  # on the remote: one ref per bead being claimed (gastown.town.claims)
SEEN_PROPOSALS = "refs/gastown/claims/"  # in a clone: the remote's proposals as last fetched
CLAIMS_FETCH = f"+{PROPOSALS}*:{SEEN_PROPOSALS}*"
