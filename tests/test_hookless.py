"""A town on a host that runs no server hooks (GitHub, GitLab.com, hosted Gitea), shown on a
bare remote with none installed: whatever lands, watchers skip what is broken with a
visible reason, `gt validate --since` lists what should not have landed, and the CI
workflow `gt hooks ci` writes runs that same check on every push to tasks."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time

from conftest import git, gt_process
from fake_llm import FakeLLM, per_bead
from watchers import bead, make_rig, roster_toml, set_config, start_watcher

from gastown.agents import rig as rigmod
from gastown.town import founding, times
from gastown.town.store import GitStore


def push_unchecked(person, files: dict[str, str], message: str) -> str:
    """A person's commit pushed with no hook anywhere (--no-verify); the new tip."""
    git(person, "pull", "--quiet", "--rebase", "origin", "tasks")
    for path, text in files.items():
        target = person / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "--no-verify", "-m", message)
    git(person, "push", "--quiet", "--no-verify", "origin", "tasks")
    return git(person, "rev-parse", "HEAD").strip()


def test_a_hookless_remote_takes_bad_pushes_and_gastown_reports_and_skips_them(tmp_path, bare_remote, clone):
    remote = bare_remote("hostless.git", hooks=False)
    founder, _ = founding.init(tmp_path / "founder", str(remote))
    rigmod.add(GitStore(founder), "example", str(make_rig(tmp_path)), template="example")
    person = clone(remote, "person")
    before = git(person, "rev-parse", "HEAD").strip()
    # Pushes the server takes without a word: a broken bead, two good ones, then the
    # deletion of one of them (work lost, which a hook would refuse).
    push_unchecked(person, {"beads/gt-br0ke.json": '{"id": "gt-br0ke", "title": ""}\n'}, "a broken bead")
    good = {f"beads/{b}.json": json.dumps(bead(b)) for b in ("gt-g00d1", "gt-d3l3t")}
    push_unchecked(person, good, "two good beads")
    git(person, "rm", "--quiet", "beads/gt-d3l3t.json")
    git(person, "commit", "--quiet", "--no-verify", "-m", "a bead deleted")
    git(person, "push", "--quiet", "--no-verify", "origin", "tasks")

    checked = gt_process("--town", str(tmp_path / "founder"), "validate", "--since", before)
    assert checked.code == 2, checked.out + checked.err
    assert "beads/gt-br0ke.json: $.title" in checked.err
    assert "bead gt-d3l3t: deleting a bead loses work" in checked.err
    assert "gt-g00d1" not in checked.err and "Traceback" not in checked.err
    since_tip = gt_process("--town", str(tmp_path / "founder"), "validate", "--since", "tasks")
    assert since_tip.code == 0 and since_tip.out.startswith("ok: no commits"), since_tip.out

    # A watcher works the good bead and skips the broken one, saying why; it never crashes.
    with FakeLLM(per_bead(lambda _bead: _finish_script())) as llm:
        set_config(tmp_path / "founder", roster_toml(llm.url))
        watcher = start_watcher(tmp_path / "founder", "polecat", "p1", "--idle-exit", "8")
        out, err = watcher.communicate(timeout=90)
        assert watcher.returncode == 0, err
    status = gt_process("--town", str(tmp_path / "founder"), "status").out
    assert "invalid, skipped by every claimer: beads/gt-br0ke.json" in status
    claims = git(remote, "log", "--format=%s", "tasks")
    assert "claim gt-g00d1" in claims and "claim gt-br0ke" not in claims


def test_the_ci_workflow_runs_the_check_and_fails_on_what_a_hook_would_refuse(tmp_path, bare_remote, clone):
    remote = bare_remote("hostless.git", hooks=False)
    founder, _ = founding.init(tmp_path / "founder", str(remote))
    written = gt_process("--town", str(tmp_path / "founder"), "hooks", "ci", "--install", "gastown")
    assert written.code == 0, written.err
    person = clone(remote, "person")
    workflow = (person / ".github" / "workflows" / "gastown-tasks.yml").read_text()
    assert "branches: [tasks]" in workflow and "fetch-depth: 0" in workflow
    before = git(person, "rev-parse", "HEAD").strip()
    push_unchecked(person, {"beads/gt-br0ke.json": '{"id": "gt-br0ke", "title": ""}\n'}, "a broken bead")
    pushed = git(person, "rev-parse", "HEAD").strip()

    def run_workflow(before_sha: str) -> subprocess.CompletedProcess[str]:
        """The workflow's check, as the runner would run it on a fresh checkout of the push."""
        checkout = tmp_path / f"checkout-{before_sha[:7]}"
        git(tmp_path, "clone", "--quiet", "--branch", "tasks", str(remote), str(checkout))
        (line,) = [m for m in re.findall(r"- run: (gt .*)", workflow)]
        argv = shlex.split(line.replace("${{ github.event.before }}", before_sha))
        return subprocess.run(
            [sys.executable, "-m", "gastown", *argv[1:]], cwd=checkout, capture_output=True, text=True
        )

    red = run_workflow(before)
    assert red.returncode == 2 and "beads/gt-br0ke.json: $.title" in red.stderr, red.stderr
    new_branch = run_workflow("0" * 40)  # the first push of the branch: all of it is checked
    assert new_branch.returncode == 2 and "gt-br0ke" in new_branch.stderr
    assert pushed  # the broken push did land: only the check can say so


def _finish_script():
    from fake_llm import script, tool
    from watchers import COMBO_CODE

    return script([tool("write_file", path="beatscore/combo.py", content=COMBO_CODE), tool("finish", summary="ok")])


def test_the_workflow_on_tasks_is_only_the_one_gt_hooks_ci_writes(town, clone):
    bad_spec = gt_process("--town", str(town.path), "hooks", "ci", "--install", 'gastown" ; curl evil')
    assert bad_spec.code == 2 and "not a pip requirement" in bad_spec.err and "Traceback" not in bad_spec.err
    assert gt_process("--town", str(town.path), "hooks", "ci", "--install", "gastown==0.3").code == 0
    tip = town.tip()
    again = gt_process("--town", str(town.path), "hooks", "ci", "--install", "gastown==0.3")
    assert again.code == 0 and "nothing to commit" in again.out and town.tip() == tip
    person = clone(town.path, "person")
    path = person / ".github" / "workflows" / "gastown-tasks.yml"
    assert '"gastown==0.3"' in path.read_text()
    path.write_text(path.read_text().replace("validate --since", "status; true ||"))
    git(person, "commit", "--quiet", "--no-verify", "-am", "the check switched off")
    edited = git(person, "rev-parse", "HEAD").strip()
    git(town.path, "fetch", "--quiet", str(person), "+tasks:refs/pushed/tasks")
    before = git(town.path, "rev-parse", "tasks").strip()
    checked = gt_process("--town", str(town.path), "validate", "--since", before, "refs/pushed/tasks")
    assert checked.code == 2 and "not the workflow `gt hooks ci` writes" in checked.err, checked.err
    other = person / ".github" / "workflows" / "other.yml"
    other.write_text("on: push\njobs: {}\n")
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "--no-verify", "-m", "another workflow")
    git(town.path, "fetch", "--quiet", str(person), "+tasks:refs/pushed/tasks")
    checked = gt_process("--town", str(town.path), "validate", "--since", edited, "refs/pushed/tasks")
    assert checked.code == 2 and ".github/workflows/other.yml: not a known tasks-branch path" in checked.err


def test_a_commit_dated_in_the_future_is_judged_as_of_now(tmp_path, bare_remote, clone):
    """A pusher picks a commit's date: one far ahead must not make a live claim look expired."""
    remote = bare_remote("hostless.git", hooks=False)
    founder, _ = founding.init(tmp_path / "founder", str(remote))
    queue_dir = tmp_path / "founder"
    made = gt_process("--town", str(queue_dir), "bead", "add", "--title", "held").out.strip()
    assert gt_process("--town", str(queue_dir), "claim", "--role", "polecat", "--agent", "owner").code == 0
    person = clone(remote, "person")
    before = git(person, "rev-parse", "HEAD").strip()
    (path,) = list((person / "beads").rglob(f"{made}.json"))
    data = json.loads(path.read_text())
    now = time.time()
    claim = {
        **data["claim"],
        "agent": "thief",
        "generation": data["generation"] + 1,
        "claimed_at": times.iso(now),
        "expires_at": times.iso(now + 600),
    }
    stolen = {**data, "generation": data["generation"] + 1, "claim": claim}
    path.write_text(json.dumps(stolen, indent=2) + "\n")
    later = "2099-01-01T00:00:00+0000"
    subprocess.run(
        ["git", "commit", "--quiet", "--no-verify", "-am", "taken"],
        cwd=person,
        check=True,
        env={**__import__("os").environ, "GIT_COMMITTER_DATE": later, "GIT_AUTHOR_DATE": later},
    )
    git(person, "push", "--quiet", "--no-verify", "origin", "tasks")
    checked = gt_process("--town", str(queue_dir), "validate", "--since", before)
    assert checked.code == 2 and "claimed by owner" in checked.err, checked.out + checked.err
