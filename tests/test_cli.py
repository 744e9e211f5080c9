"""The gt command as a person runs it: real processes, exit codes, no tracebacks."""

import json

from conftest import git, gt_process
from watchers import roster_toml, set_config

from gastown import errors


def assert_clean_error(result, code, *phrases):
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    for phrase in phrases:
        assert phrase in result.err, result.err


def test_the_whole_protocol_through_the_cli(town):
    added = town.gt_process("bead", "add", "--title", "Add beat scoring", "--priority", "1", "--tokens", "4000")
    assert added.code == 0, added.err
    bead_id = added.out.strip()
    second = town.gt("bead", "add", "--title", "After it", "--dep", bead_id).out.strip()
    ready = town.gt("ready", "--json").json()
    assert [r["id"] for r in ready] == [bead_id]
    claimed = town.gt_process("claim", "--role", "polecat", "--agent", "polecat@h1", "--lease", "60", "--json")
    assert claimed.code == 0 and claimed.json()["id"] == bead_id and claimed.json()["generation"] == 1
    status = town.gt("status", "--json").json()
    assert status["totals"] == {"claimed": 1, "blocked": 1}
    assert status["claims"][0]["agent"] == "polecat@h1" and 0 < status["claims"][0]["lease_left_s"] <= 60
    text = town.gt("status").out
    assert "claimed 1" in text and "polecat@h1" in text and "left" in text
    assert "watchers: none running on this machine" in text and "servers: none started by gastown" in text
    assert town.gt("renew", bead_id, "--agent", "polecat@h1", "--lease", "120").code == 0
    result_file = town.path.parent / "result.json"
    result_file.write_text(json.dumps({"summary": "scored", "tests": {"passed": 4, "failed": 0}}))
    done = town.gt_process("complete", bead_id, "--agent", "polecat@h1", "--result", str(result_file))
    assert done.code == 0, done.err
    assert town.gt("ready").out.split()[0] == second
    shown = town.gt("bead", "show", bead_id, "--json").json()
    assert shown["status"] == "done" and shown["result"]["tests"]["passed"] == 4
    text = town.gt("bead", "show", bead_id).out
    assert "  estimate  4000 tokens\n" in text and "attempt" not in text  # an estimate; no attempt failed
    log = town.gt("log", bead_id).out.splitlines()
    assert [line.split()[3] for line in log] == ["complete", "renew", "claim", "add"]
    as_json = town.gt("log", bead_id, "--json").json()
    assert as_json[0]["trailers"]["Tests-Passed"] == "4" and as_json[-1]["event"] == "add"
    assert town.gt("validate").out.startswith("ok: 2 beads")
    assert town.gt("claim", "--role", "polecat", "--agent", "polecat@h1").code == 0
    assert town.gt("fail", second, "--agent", "polecat@h1", "--reason", "no tests").code == 0
    assert "generation 1, 1 failed attempt)" in town.gt("bead", "show", second).out


def test_claim_with_nothing_ready_exits_3_with_one_line(town):
    result = town.gt_process("claim", "--role", "polecat", "--agent", "a")
    assert_clean_error(result, errors.EXIT_NOTHING_READY, "gt: nothing is ready for role polecat")
    assert len(result.err.strip().splitlines()) == 1


def test_a_claim_for_a_role_no_bead_has_names_the_roles_beads_have(town):
    town.add("for a polecat")
    typo = town.gt_process("claim", "--role", "polecats", "--agent", "a")
    assert_clean_error(typo, errors.EXIT_NOTHING_READY, "no bead has that role; roles of beads here: polecat")
    town.queue().claim("polecat", "a", lease=60)
    busy = town.gt_process("claim", "--role", "polecat", "--agent", "b")  # a known role with nothing ready
    assert_clean_error(busy, errors.EXIT_NOTHING_READY, "nothing is ready for role polecat")
    assert "no bead has" not in busy.err


def test_retry_reopens_a_failed_bead_and_a_done_one_only_when_asked(town):
    failed, done = town.add("failed once"), town.add("merged")
    queue = town.queue()
    queue.claim("polecat", "p", lease=60, bead_id=failed)
    queue.fail(failed, "p", "tests failed")
    queue.claim("polecat", "p", lease=60, bead_id=done)
    queue.fail(done, "p", "one test failed")  # then done: its summary is not a failed attempt's reason
    queue.retry(done)
    queue.claim("polecat", "p", lease=60, bead_id=done)
    queue.complete(done, "p", result={"summary": "all 4 pass"})
    assert "  failed    attempt 1 by p: tests failed\n" in town.gt("bead", "show", failed).out
    assert town.gt("retry", failed).out.strip() == f"{failed} open again"
    shown = town.gt("bead", "show", failed).out
    # how it ended, not that it is closed; which attempt (who made it is not kept once reopened)
    assert "  last try  attempt 1: tests failed\n" in shown and "closed" not in shown
    tip = town.tip()
    refused = town.gt_process("retry", done)
    assert_clean_error(refused, errors.EXIT_REFUSED, f"bead {done} is done", "--done")
    assert town.tip() == tip and town.gt("bead", "show", done, "--json").json()["status"] == "done"
    assert town.gt("retry", done, "--done").out.strip() == f"{done} open again"
    assert town.gt("bead", "show", done, "--json").json()["status"] == "open"
    reopened = town.gt("bead", "show", done).out
    assert "1 failed attempt)" in reopened and "  last try  all 4 pass\n" in reopened, reopened


def test_a_bad_role_is_said_in_words_not_as_the_schemas_regex(town):
    bead_id = town.add("exists")
    tip = town.tip()
    rule = "a role is a lowercase letter, then up to 31 lowercase letters, digits, '_' or '-' (like polecat)"
    for argv in (
        ("claim", "--role", "Bad Role!", "--agent", "a"),
        ("claim", "--role", "Bad Role!", "--agent", "a", "--bead", bead_id),
        ("watch", "--role", "Bad Role!", "--once"),
        ("ready", "--role", "Bad Role!"),
        ("bead", "list", "--role", "Bad Role!"),
        ("metrics", "--role", "Bad Role!"),
    ):
        result = town.gt_process(*argv)
        assert_clean_error(result, errors.EXIT_USAGE, f"gt: --role 'Bad Role!' is not a role name: {rule}", "hint:")
        assert "^[a-z]" not in result.err
    added = town.gt_process("bead", "add", "--title", "x", "--role", "Bad Role!")
    assert_clean_error(added, errors.EXIT_USAGE, f"gt: new bead 'x': $.role: 'Bad Role!' is not a role name: {rule}")
    assert "^[a-z]" not in added.err and "gt-" not in added.err  # no id: none was made
    edited = town.gt_process("bead", "edit", bead_id, "--set", "role=Bad Role!")
    assert_clean_error(edited, errors.EXIT_USAGE, f"$.role: 'Bad Role!' is not a role name: {rule}")
    assert "^[a-z]" not in edited.err and edited.err.count("$.role") == 1
    assert town.tip() == tip


def test_claim_refuses_an_empty_agent_and_says_who_holds_the_claim(town):
    bead_id = town.add("for a polecat")
    tip = town.tip()
    for empty in ("", "  "):
        refused = town.gt_process("claim", "--role", "polecat", "--agent", empty)
        assert_clean_error(refused, errors.EXIT_USAGE, "gt: --agent is empty", "hint:")
    spaced = town.gt_process("claim", "--role", "polecat", "--agent", "a b")
    assert_clean_error(spaced, errors.EXIT_USAGE, "gt: --agent 'a b' is not a name: a name is a letter or digit")
    assert town.tip() == tip
    claimed = town.gt_process("claim", "--role", "polecat", "--agent", "polecat@h1", "--lease", "60")
    assert claimed.code == 0, claimed.err
    assert claimed.out.startswith(f"{bead_id}  claimed by polecat@h1, generation 1, lease "), claimed.out


def test_a_bad_gt_agent_is_said_in_words_and_claims_nothing(town):
    town.add("for a polecat")
    tip = town.tip()
    for argv in (("claim", "--role", "polecat"), ("watch", "--role", "polecat", "--once")):
        refused = town.gt_process(*argv, env={"GT_AGENT": "a b"})
        assert_clean_error(refused, errors.EXIT_USAGE, "gt: $GT_AGENT 'a b' is not a name: a name is", "hint:")
        assert "^[A-Za-z0-9]" not in refused.err
    assert town.tip() == tip
    claimed = town.gt_process("claim", "--role", "polecat", "--agent", "p@h2", env={"GT_AGENT": "a b"})
    assert claimed.code == 0 and "claimed by p@h2" in claimed.out, claimed.err  # --agent says who: $GT_AGENT unread
    assert town.gt_process("release", "--agent", "p@h2", claimed.out.split()[0]).code == 0
    defaulted = town.gt_process("claim", "--role", "polecat", env={"GT_AGENT": ""})  # empty: unset
    assert defaulted.code == 0 and "claimed by polecat@" in defaulted.out, defaulted.err


def test_an_empty_bead_id_is_named_as_such(town):
    town.add("exists")
    shown = town.gt_process("bead", "show", "")
    assert_clean_error(shown, errors.EXIT_USAGE, "gt: BEAD_ID is empty: no bead id given", "gt bead list")
    assert "  " not in shown.err.splitlines()[0]  # no empty id between two words
    claimed = town.gt_process("claim", "--role", "polecat", "--agent", "a", "--bead", " ")
    assert_clean_error(claimed, errors.EXIT_USAGE, "gt: --bead is empty: no bead id given")
    assert_clean_error(town.gt_process("complete", "", "--agent", "a"), errors.EXIT_USAGE, "BEAD_ID is empty")


def test_claiming_a_named_bead_of_another_role_is_refused_naming_its_role(town):
    review = town.add("review the scoring", role="refinery")
    tip = town.tip()
    refused = town.gt_process("claim", "--role", "polecat", "--agent", "a", "--bead", review)
    assert_clean_error(
        refused, errors.EXIT_NOTHING_READY, f"gt: bead {review} is for role refinery, not polecat", "--role refinery"
    )
    assert town.tip() == tip


def test_a_watcher_for_a_role_no_bead_has_says_so_once_and_watches(town):
    town.add("for a polecat")
    town.add("for a refinery", role="refinery")
    set_config(town.path, roster_toml("http://127.0.0.1:9/v1", role="polecats"))  # nothing to start or warm
    typo = town.gt_process("watch", "--role", "polecats", "--agent", "w1", "--once")
    assert typo.code == errors.EXIT_NOTHING_READY, typo.err
    warned = [line for line in typo.err.splitlines() if "no bead has role" in line]
    assert warned == [
        "gt: warning: no bead has role polecats yet; roles of beads here: polecat, refinery "
        "(watching for one all the same)"
    ], typo.err


def test_user_mistakes_get_clear_errors_and_change_nothing(town, tmp_path):
    bead_id = town.add("exists")
    tip = town.tip()
    assert_clean_error(
        town.gt_process("bead", "add", "--title", "x", "--dep", "gt-nope1"),
        2,
        "gt-nope1 does not exist",
    )
    assert_clean_error(town.gt_process("bead", "add", "--title", "x", "--dep", "not an id"), 2, "is not a bead id")
    assert_clean_error(town.gt_process("bead", "add", "--title", " "), 2, "new bead: $.title: is empty", "--title")
    assert_clean_error(
        town.gt_process("bead", "edit", bead_id, "--set", "status=done"),
        2,
        "belongs to the claim protocol",
        "hint:",
    )
    assert_clean_error(town.gt_process("bead", "show", "gt-zzzzz"), errors.EXIT_NOT_FOUND, "no bead gt-zzzzz")
    assert_clean_error(
        town.gt_process("complete", bead_id, "--agent", "x"),
        errors.EXIT_REFUSED,
        "is open, not claimed",
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    town.queue().claim("polecat", "x", lease=60)
    assert_clean_error(
        town.gt_process("complete", bead_id, "--agent", "x", "--result", str(bad)),
        2,
        "--result",
        "not JSON",
    )
    bad.write_text(json.dumps({"tests": {"passed": "many"}}))
    assert_clean_error(
        town.gt_process("complete", bead_id, "--agent", "x", "--result", str(bad)),
        2,
        "$.tests.passed",
    )
    assert_clean_error(
        town.gt_process("complete", bead_id, "--agent", "y"),
        errors.EXIT_REFUSED,
        "claimed by x",
        "not by y",
    )
    assert town.tip() != tip  # only the claim landed
    assert town.git("log", "-1", "--format=%s", "tasks").startswith(f"claim {bead_id} x")
    outside = gt_process("status", cwd=tmp_path)
    assert_clean_error(outside, errors.EXIT_NOT_FOUND, "not inside a git repository", "gt init")


def test_gt_town_env_and_town_option(town, tmp_path):
    town.add("found")
    via_env = gt_process("ready", "--json", cwd=tmp_path, env={"GT_TOWN": str(town.path)})
    via_option = gt_process("status", "--town", str(town.path), "--json", cwd=tmp_path)
    assert via_env.code == 0 and len(via_env.json()) == 1
    assert via_option.code == 0 and via_option.json()["beads"] == 1


def test_convoy_commands(town):
    convoy_id = town.gt("convoy", "create", "Beat scoring", "--rig", "aerobeat").out.strip()
    town.gt("bead", "add", "--title", "tests", "--role", "refinery", "--convoy", convoy_id)
    shown = town.gt("convoy", "show", convoy_id, "--json").json()
    assert shown["progress"]["beads"] == 1 and shown["rig"] == "aerobeat"
    assert convoy_id in town.gt("convoy", "list").out


def test_validate_reports_beads_pushed_past_the_hooks(town, clone):
    person = clone(town.path, "p")
    (person / "beads" / "gt-broke.json").write_text('{"id": "gt-broke", "title": ""}\n')
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "--no-verify", "-m", "sneak")
    git(town.path, "fetch", "--quiet", str(person), "+tasks:tasks")  # fetch runs no hooks
    result = town.gt_process("validate")
    assert_clean_error(result, 2, "beads/gt-broke.json: $.title")
    status = town.gt("status", "--json").json()
    assert status["beads"] == 1  # the broken bead is listed, not dropped


def test_releasing_another_agents_live_claim_needs_force_and_is_recorded_as_forced(town):
    bead_id = town.gt("bead", "add", "--title", "Held by a watcher").out.strip()
    assert town.gt("claim", "--role", "polecat", "--agent", "polecat@h1").code == 0
    refused = town.gt_process("release", bead_id)
    assert_clean_error(refused, 4, f"bead {bead_id} is claimed by polecat@h1", "--force")
    assert town.gt("bead", "show", bead_id, "--json").json()["status"] == "claimed"
    assert town.gt("release", bead_id, "--force", "--reason", "its watcher hangs").code == 0
    entry = town.gt("log", bead_id, "--json").json()[0]
    assert entry["event"] == "release" and entry["trailers"]["Forced"] == "yes"
    assert entry["trailers"]["Reason"] == "its watcher hangs"


def test_status_says_how_model_commands_run(town):
    from watchers import set_config

    sandbox = town.gt("status", "--json").json()["sandbox"]
    assert sandbox.startswith("bwrap: model commands run in bubblewrap; limits: "), sandbox
    set_config(town.path, '[sandbox]\nmode = "none"\n')
    assert "sandbox none: model commands run unconfined" in town.gt("status").out


def test_help_lists_every_command():
    result = gt_process("--help")
    assert result.code == 0
    for name in (
        "init",
        "bead",
        "ready",
        "claim",
        "renew",
        "release",
        "complete",
        "fail",
        "status",
        "log",
        "validate",
        "hooks",
    ):
        assert f"  {name}" in result.out


def test_status_shows_the_model_servers_gastown_runs(town):
    import json as jsonlib
    import os

    folder = town.git_dir / "gastown" / "servers"
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "name": "qwen",
        "pid": os.getpid(),
        "port": 8081,
        "url": "http://127.0.0.1:8081/v1",
        "command": ["llama-server"],
        "log": str(folder / "qwen.log"),
        "started": 0.0,
    }
    (folder / "qwen.json").write_text(jsonlib.dumps(record))
    status = town.gt("status", "--json").json()
    (server,) = status["servers"]
    assert {k: server[k] for k in ("model", "pid", "url", "alive", "log")} == {
        "model": "qwen",
        "pid": os.getpid(),
        "url": record["url"],
        "alive": True,
        "log": record["log"],
    }
    assert not server["in_use"] and server["idle_s"] > 0 and server["vram_mib"] == 0  # no reservation of its own
    assert "server qwen: running, idle " in town.gt("status").out


def test_a_bad_acceptance_test_path_is_refused_with_what_to_write_not_a_regex(town):
    tip = town.tip()
    refused = town.gt_process("bead", "add", "--title", "x", "--test", "/etc/passwd")
    assert_clean_error(refused, errors.EXIT_USAGE, "'/etc/passwd' is an absolute path; name a test file inside the rig")
    assert "does not match" not in refused.err  # the schema's pattern stays the server's guard, unseen here
    assert_clean_error(
        town.gt_process("bead", "add", "--title", "x", "--test", "./tests/test_x.py"),
        errors.EXIT_USAGE,
        "write it as tests/test_x.py",
    )
    assert_clean_error(
        town.gt_process("bead", "add", "--title", "x", "--test", "tests/test_x.py::"),
        errors.EXIT_USAGE,
        "names no test after '::'",
    )
    assert town.tip() == tip  # nothing was added


def test_init_makes_the_town_the_town_option_names_and_not_the_one_gt_town_names(tmp_path):
    named, here, elsewhere = tmp_path / "named", tmp_path / "here", tmp_path / "elsewhere"
    for repo in (named, here, elsewhere):
        git(tmp_path, "init", "--quiet", str(repo))
    made = gt_process("--town", str(named), "init", "--no-hooks", cwd=tmp_path)
    assert made.code == 0, made.err
    assert git(named, "branch", "--list", "tasks").strip() == "tasks"
    env_only = gt_process("init", "--no-hooks", cwd=here, env={"GT_TOWN": str(elsewhere)})
    assert env_only.code == 0, env_only.err
    assert git(here, "branch", "--list", "tasks").strip() == "tasks"  # $GT_TOWN names the town to use, not to make
    assert git(elsewhere, "branch", "--list", "tasks").strip() == ""
