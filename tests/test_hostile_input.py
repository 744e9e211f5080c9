"""Input that must not poison the town: each case a real push through the server's hook
(refused, remote unchanged, a clear line naming the file) or a real command (a usage
error, no traceback)."""

import json
import time

import pytest
from conftest import git, gt_process, write_bead_file
from test_hooks import bead, commit_all, refused

from gastown.town import times


@pytest.fixture
def person(town, clone):
    return clone(town.path, "person")


def test_a_lone_surrogate_or_a_nul_in_a_bead_is_refused(town, person):
    path = person / "beads" / "gt-sur01.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(bead("gt-sur01")).replace('"bead gt-sur01"', '"bad \\ud800 title"')
    path.write_text(text)
    commit_all(person)
    refused(town, person, "beads/gt-sur01.json: $.title holds a lone surrogate")
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    write_bead_file(person, bead("gt-nul01", description="a\u0000b"))
    commit_all(person)
    refused(town, person, "$.description holds a NUL character")


def test_a_bead_nested_deeper_than_anyone_can_read_is_refused_before_it_is_parsed(town, person):
    path = person / "beads" / "gt-deep1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    deep = json.dumps(bead("gt-deep1"))[:-1] + ', "design": ' + "[" * 980 + "]" * 980 + "}"
    path.write_text(deep)
    commit_all(person)
    refused(town, person, "beads/gt-deep1.json: JSON nested 981 deep; at most 32 levels")


def test_a_path_with_a_trailing_newline_is_not_the_path_it_starts_with(town, person):
    (person / "town.toml\n").write_bytes(b"\x00\x01binary")
    commit_all(person)
    refused(town, person, "'town.toml\\n': not a known tasks-branch path")


def test_symlinks_and_submodules_are_not_files(town, person):
    (person / "README.md").unlink()
    (person / "README.md").symlink_to("/etc/shadow")
    commit_all(person)
    refused(town, person, "README.md: a symlink; only regular files may be on the tasks branch")
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    sha = git(person, "rev-parse", "HEAD").strip()
    git(person, "update-index", "--add", "--cacheinfo", f"160000,{sha},beads/gt-sub01.json")
    git(person, "commit", "--quiet", "--no-verify", "-m", "a gitlink as a bead")
    refused(town, person, "beads/gt-sub01.json: a submodule (gitlink)")


def test_a_lease_without_end_is_refused_in_town_toml_in_a_claim_and_on_the_command_line(town, person):
    toml = person / "town.toml"
    toml.write_text(toml.read_text() + "\n[queue]\nlease_seconds = inf\n")
    commit_all(person)
    refused(town, person, "town.toml")
    git(person, "reset", "--quiet", "--hard", "origin/tasks")
    bead_id = town.add("pinned")
    git(person, "pull", "--quiet", "--ff-only")
    path = next(person.glob(f"beads/**/{bead_id}.json"))
    data = json.loads(path.read_text())
    stamp = times.iso(time.time())
    claim = {"agent": "someone", "generation": 1, "claimed_at": stamp, "expires_at": "9999-12-31T00:00:00Z"}
    path.write_text(json.dumps({**data, "status": "claimed", "generation": 1, "claim": claim}))
    commit_all(person, "claim forever")
    refused(town, person, f"bead {bead_id}: $.claim.expires_at is")
    for lease in ("1e12", "nan", "inf"):  # click's range lets nan through: it must not reach the claim
        refused_lease = gt_process("--town", str(town.path), "claim", "--role", "polecat", "--lease", lease)
        assert refused_lease.code == 2 and "--lease" in refused_lease.err, (lease, refused_lease.err)
        assert "Traceback" not in refused_lease.err + refused_lease.out


def test_a_bead_that_landed_past_the_hooks_is_skipped_by_claimers_with_its_reason_shown(town, person):
    """A host with no server hooks (here: a fetch, which runs none) lets through beads no
    claimer can read. Each is listed with its reason in gt status and the Mayor's report,
    and claimers pass over it to the good work: a claimer never dies on someone else's bead."""
    good = town.add("good work")
    git(person, "pull", "--quiet", "--ff-only")
    deep = json.dumps(bead("gt-deep2", priority=0))[:-1] + ', "design": ' + "[" * 980 + "]" * 980 + "}"
    (person / "beads" / "gt-deep2.json").write_text(deep)
    surrogate = json.dumps(bead("gt-sur02", priority=0)).replace('"bead gt-sur02"', '"bad \\ud800 title"')
    (person / "beads" / "gt-sur02.json").write_text(surrogate)
    write_bead_file(person, bead("gt-self2", priority=0, dependencies=[{"id": "gt-self2", "type": "blocks"}]))
    commit_all(person, "three beads no claimer can read")
    git(town.path, "fetch", "--quiet", str(person), "+tasks:tasks")

    status = town.gt_process("status")
    assert status.code == 0, status.err
    assert "invalid, skipped by every claimer: beads/gt-deep2.json: JSON nested 981 deep" in status.out
    assert "beads/gt-sur02.json: $.title holds a lone surrogate" in status.out
    assert "beads/gt-self2.json: $.dependencies[0]: a bead cannot depend on itself" in status.out
    report = town.gt_process("mayor", "reconcile", "--dry-run")
    assert report.code == 0, report.err
    for bad in ("gt-deep2", "gt-sur02", "gt-self2"):
        assert f"inconsistent: {bad}: skipped, not a bead" in report.out, report.out

    claimed = town.gt_process("claim", "--role", "polecat", "--agent", "polecat@h1", "--json")
    assert claimed.code == 0 and claimed.json()["id"] == good, claimed.err
    nothing = town.gt_process("claim", "--role", "polecat", "--agent", "polecat@h1")
    assert "nothing is ready" in nothing.err and "Traceback" not in nothing.err + nothing.out
