"""Each kind of bad push is refused by the server's pre-receive hook, remote unchanged."""

import json
import subprocess
import time

import pytest
from conftest import git, gt_process, write_bead_file

from gastown.town import times
from gastown.town.hooks import run_hook
from gastown.town.queue import NewBead

NOW = time.time()


def bead(bead_id, **fields):
    stamp = times.iso(NOW)
    return {
        "id": bead_id,
        "title": f"bead {bead_id}",
        "created_at": stamp,
        "updated_at": stamp,
        **fields,
    }


def push(repo, *extra):
    proc = subprocess.run(["git", "push", *extra, "origin", "tasks"], cwd=repo, capture_output=True, text=True)
    return proc.returncode, proc.stderr


def commit_all(repo, message="change", verify=False):
    git(repo, "add", "-A")
    args = ["commit", "--quiet", "-m", message] + ([] if verify else ["--no-verify"])
    git(repo, *args)


@pytest.fixture
def person(town, clone):
    """A person's clone of the town with tasks checked out."""
    return clone(town.path, "person")


def refused(town, person, expected, *push_args):
    before = town.tip()
    code, err = push(person, *push_args)
    assert code != 0, err
    assert "pre-receive hook declined" in err or "rejected" in err, err
    assert expected in err, err
    assert town.tip() == before  # the remote is unchanged
    return err


def test_a_good_push_lands_and_is_found_at_a_flat_path(town, person):
    write_bead_file(person, bead("gt-h0nd1", priority=0))
    commit_all(person, "add a bead by hand")
    code, err = push(person)
    assert code == 0, err
    assert "gastown: tasks is now" in err and "(manual 1)" in err
    assert [e.id for e in town.queue().ready()] == ["gt-h0nd1"]


def test_schema_errors_name_the_file_and_field(town, person):
    write_bead_file(person, bead("gt-bad01", priority=9, titel="typo"))
    commit_all(person)
    err = refused(town, person, "beads/gt-bad01.json: $.priority: 9 is greater than the maximum of 4")
    assert "'titel' was unexpected" in err
    write_bead_file(person, bead("gt-bad01", priority=1))  # mended on top: the bad commit still goes
    commit_all(person)
    err = refused(town, person, "$.priority: 9 is greater than the maximum of 4")
    assert "every commit pushed is checked, not only the last" in err and "git rebase -i origin/tasks" in err


def test_unknown_paths_and_oversized_files(town, person):
    (person / "notes.txt").write_text("hi\n")
    commit_all(person)
    refused(town, person, "notes.txt: not a known tasks-branch path")
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    write_bead_file(person, bead("gt-big01", description="x" * 70000))
    commit_all(person)
    err = refused(town, person, "bead")
    assert "$.description" in err and "is too long" in err, err[-600:]


def test_size_limit_from_town_toml(town, person):
    toml = (person / "town.toml").read_text().replace("bead_bytes = 262144", "bead_bytes = 2048")
    (person / "town.toml").write_text(toml)
    commit_all(person, "tighten limits")
    assert push(person)[0] == 0
    write_bead_file(person, bead("gt-big02", description="y" * 3000))
    commit_all(person)
    refused(town, person, "over the limit of 2048 (limits in town.toml)")


def test_unknown_dependencies_and_cycles(town, person):
    write_bead_file(person, bead("gt-lone1", dependencies=["gt-ghost"]))
    commit_all(person)
    refused(town, person, "bead gt-lone1: depends on gt-ghost, which does not exist")
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    write_bead_file(person, bead("gt-cyca1", dependencies=["gt-cycb1"]))
    write_bead_file(person, bead("gt-cycb1", dependencies=["gt-cyca1"]))
    commit_all(person)
    refused(town, person, "dependency cycle: gt-cyc")


def test_a_new_bead_cannot_arrive_claimed_and_beads_cannot_be_deleted(town, person):
    claim = {
        "agent": "sneaky",
        "generation": 1,
        "claimed_at": times.iso(NOW),
        "expires_at": times.iso(NOW + 600),
    }
    write_bead_file(person, bead("gt-clm01", status="claimed", generation=1, claim=claim))
    commit_all(person)
    refused(town, person, "a new bead must not arrive claimed")
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    bead_id = town.add("precious")
    git(person, "pull", "--quiet", "--ff-only")
    path = next(person.glob(f"beads/**/{bead_id}.json"))
    path.unlink()
    commit_all(person)
    refused(town, person, f"bead {bead_id}: deleting a bead loses work")


def test_a_second_live_claim_is_refused(town, person):
    bead_id = town.add("contested")
    town.queue().claim("polecat", "alice", lease=600)
    git(person, "pull", "--quiet", "--ff-only")
    path = next(person.glob(f"beads/**/{bead_id}.json"))
    data = json.loads(path.read_text())
    data["generation"] = 2
    data["claim"] = dict(data["claim"], agent="mallory", generation=2)
    path.write_text(json.dumps(data))
    commit_all(person)
    refused(town, person, f"bead {bead_id}: already claimed by alice (generation 1)")


def test_a_stale_generation_write_is_refused(town, person):
    q = town.queue()
    bead_id = town.add("taken over")
    q.claim("polecat", "alice", lease=0.1)
    git(person, "pull", "--quiet", "--ff-only")
    path = next(person.glob(f"beads/**/{bead_id}.json"))
    alices_view = json.loads(path.read_text())
    time.sleep(0.2)
    q.claim("polecat", "bob", lease=600)  # takes over generation 2
    git(person, "pull", "--quiet", "--ff-only")
    done = dict(alices_view, status="done", claim=None, close_reason="done by alice")
    path.write_text(json.dumps(done))
    commit_all(person)
    refused(
        town,
        person,
        "stale generation: the bead is at generation 2, claimed by bob; this change carries 1",
    )


def test_illegal_transitions(town, person):
    bead_id = town.add("finished")
    q = town.queue()
    q.claim("polecat", "p", lease=60)
    q.complete(bead_id, "p")
    git(person, "pull", "--quiet", "--ff-only")
    path = next(person.glob(f"beads/**/{bead_id}.json"))
    data = json.loads(path.read_text())
    data.update(
        status="claimed",
        generation=2,
        claim={
            "agent": "x",
            "generation": 2,
            "claimed_at": times.iso(NOW),
            "expires_at": times.iso(NOW + 60),
        },
    )
    path.write_text(json.dumps(data))
    commit_all(person)
    refused(town, person, f"is done; reopen it (gt retry {data['id']} --done) before claiming")


def test_history_must_stay_linear_and_append_only(town, person):
    write_bead_file(person, bead("gt-side1"))
    commit_all(person, "mine")
    town.add("theirs")
    git(person, "fetch", "--quiet")
    git(person, "merge", "--quiet", "--no-edit", "origin/tasks")
    refused(town, person, "a merge commit: the tasks history must be linear")
    git(person, "reset", "--quiet", "--hard", "origin/tasks~1")
    write_bead_file(person, bead("gt-side2"))
    commit_all(person)
    refused(town, person, "non-fast-forward push to tasks is refused", "--force")
    before = town.tip()
    deletion = subprocess.run(["git", "push", "origin", ":tasks"], cwd=person, capture_output=True, text=True)
    assert "deleting the tasks branch is refused" in deletion.stderr
    code = deletion.returncode
    assert code != 0 and town.tip() == before


def test_bad_town_toml_and_convoys(town, person):
    (person / "town.toml").write_text("[queue]\nlease_seconds = -5\n")
    commit_all(person)
    refused(town, person, "town.toml")
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    # said as every gt command says it: the key, the value as TOML writes it
    (person / "town.toml").write_text('[queue]\nlease_seconds = "900"\n')
    commit_all(person)
    refused(town, person, 'town.toml: queue.lease_seconds: must be a positive number no larger than 604800, got "900"')
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    (person / "convoys" / "gt-cv-abcde.json").write_text(json.dumps({"id": "gt-cv-abcde", "title": "c"}))
    commit_all(person)
    refused(town, person, "convoys/gt-cv-abcde.json: $: 'beads' is a required property")


def test_every_problem_of_a_push_is_listed(town, person):
    write_bead_file(person, bead("gt-many1", priority=-1))
    (person / "junk.bin").write_bytes(b"\0")
    commit_all(person, "first")
    write_bead_file(person, bead("gt-many2", dependencies=["gt-nobody"]))
    commit_all(person, "second")
    err = refused(town, person, "$.priority")
    assert "junk.bin" in err and "gt-nobody" in err


def test_client_hooks_catch_problems_before_they_leave(town, person):
    from gastown.town.hooks import CLIENT_HOOKS, install

    install(person / ".git", CLIENT_HOOKS)
    write_bead_file(person, bead("gt-pc001", priority=42))
    git(person, "add", "-A")
    proc = subprocess.run(["git", "commit", "-m", "bad"], cwd=person, capture_output=True, text=True)
    assert proc.returncode != 0 and "$.priority: 42 is greater than the maximum of 4" in proc.stderr
    commit_all(person, "bad, hook skipped")
    proc = subprocess.run(["git", "push", "origin", "tasks"], cwd=person, capture_output=True, text=True)
    assert proc.returncode != 0 and "gastown: pre-push refused" in proc.stderr
    assert "hook declined" not in proc.stderr  # stopped on the client: the server never saw it


def test_a_bare_remote_gets_server_hooks_from_the_cli(tmp_path, make_town):
    bare = tmp_path / "central.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    result = gt_process("hooks", "install", "--bare", str(bare))
    assert result.code == 0 and "pre-receive" in result.out
    hooked = make_town("member", remote=str(bare), hooks=False)
    hooked.add("fine")
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", "--branch", "tasks", str(bare), str(work))
    write_bead_file(work, bead("gt-bare1", status="sideways"))
    commit_all(work)
    proc = subprocess.run(["git", "push", "origin", "tasks"], cwd=work, capture_output=True, text=True)
    assert proc.returncode != 0 and "$.status: 'sideways' is not one of" in proc.stderr


def test_the_hook_names_an_object_it_cannot_find_in_one_line(tmp_path, make_town):
    bare = tmp_path / "central.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    assert gt_process("hooks", "install", "--bare", str(bare)).code == 0
    make_town("member", remote=str(bare), hooks=False).add("fine")
    tip = git(bare, "rev-parse", "tasks").strip()
    missing = "1234567890" * 4
    line = f"{missing} {tip} refs/heads/tasks\n"  # a base this repository never had
    proc = subprocess.run([str(bare / "hooks" / "pre-receive")], input=line, cwd=bare, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot compare {missing[:10]}" in proc.stderr


def test_installing_over_someone_elses_hook_is_refused(town):
    from gastown.errors import UsageError
    from gastown.town.hooks import install

    hook = town.git_dir / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(UsageError, match="is not a gastown hook"):
        install(town.git_dir, ["pre-commit"])
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    install(town.git_dir, ["pre-commit"], force=True)
    assert "gastown hook" in hook.read_text()


def test_a_roster_mistake_in_town_toml_is_refused(town, person):
    toml = (
        person / "town.toml"
    ).read_text() + '\n[models.qwen]\nkv_cache = "f16"\n\n[roles.polecat]\nmodel = "ghost"\n'
    (person / "town.toml").write_text(toml)
    commit_all(person)
    refused(town, person, "models.qwen: unknown key 'kv_cache' (known keys: api_key_env, ")


def test_the_shell_post_receive_says_what_landed_as_gt_hook_post_receive_does(town, person):
    """The shim counts in shell (two processes, no Python) what `gt hook post-receive` counts:
    each commit once, by its Event trailer, a person's commit as manual, kinds by name."""
    before = town.tip()
    town.queue().add_many([NewBead(title="one"), NewBead(title="two")])
    town.queue().claim("polecat", "p1", lease=600)
    git(person, "pull", "--quiet", "--no-rebase", "origin", "tasks")
    write_bead_file(person, bead("gt-h0nd2", priority=1))
    commit_all(person, "add a bead by hand")
    code, err = push(person)
    assert code == 0, err
    line = f"{before} {town.tip()} refs/heads/tasks\n"
    hook = town.git_dir / "hooks" / "post-receive"
    shell = subprocess.run([str(hook)], input=line, text=True, capture_output=True, cwd=town.git_dir, check=True)
    _, python = run_hook("post-receive", town.git_dir, [line])
    assert shell.stdout.splitlines() == python
    assert "(add 1, claim 1, manual 1)" in shell.stdout
