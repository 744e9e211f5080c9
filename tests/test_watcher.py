"""Real watcher processes on a real town and rig, driven by a scripted model server."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import git, gt_process, wait_for
from fake_llm import Answer, FakeLLM, error, per_bead, script, text, tool
from watchers import COMBO_CODE, bead, make_rig, push_bead, roster_toml, set_config, start_watcher

from gastown.agents import rig as rigmod
from gastown.agents.liveness import heartbeat_path
from gastown.town.history import read_log
from gastown.town.town import locate as town_of

# A watcher woken by the push claims within a few seconds on two CI cores; one that only
# polled would sleep out its poll first (30 s on a local town; 8 s and more on a remote).
WOKEN_WITHIN = 6.0

pytestmark = pytest.mark.slow


def good_answers() -> list[Answer]:
    return [
        tool("read_file", path="tests/test_combo.py"),
        text(
            '<tool_call>{"name": "write_file", "arguments": {"path": "beatscore/combo.py", "content": '
            + json.dumps(COMBO_CODE)
            + "}}</tool_call>"
        ),
        tool("run_tests"),
        text('<invoke name="finish"><parameter name="summary">combo multiplier written</parameter></invoke>'),
    ]


def good_script(bead: str) -> object:
    return script(good_answers())


@pytest.fixture
def world(town, tmp_path, clone):
    """A town with the example rig and a person's clone of the tasks branch."""
    rig_path = make_rig(tmp_path)
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    person = clone(town.path, "person")
    return town, rig_path, person


def status_of(town, bead_id):
    entry = town.store().snapshot().index.get(bead_id)
    return entry.status if entry else None


def finish(proc, timeout=30):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"watcher did not exit: {err[-2000:]}") from None
    return proc.returncode, out, err


def test_a_pushed_bead_becomes_a_branch_and_a_done_result(world):
    town, rig_path, person = world
    with FakeLLM(per_bead(good_script)) as llm:
        set_config(town.path, roster_toml(llm.url))
        watcher = start_watcher(town.path, "polecat", "p1", "--idle-exit", "60", "--max-beads", "1")
        wait_for(lambda: heartbeat_path(town_of(town.path), "p1").exists(), 15, "no heartbeat")  # watching
        push_bead(person, bead("gt-c0mb0"))
        pushed = time.monotonic()
        wait_for(lambda: town.store().snapshot().index.get("gt-c0mb0"), 10, "the pushed bead never arrived")
        wait_for(lambda: town.store().snapshot().index.get("gt-c0mb0").status != "open", 10, "never claimed")
        latency = time.monotonic() - pushed
        assert latency < WOKEN_WITHIN, f"claimed {latency:.1f}s after the push: the watcher slept instead of waking"
        code, _, err = finish(watcher, 60)
        assert code == 0, err
    shown = town.queue().show("gt-c0mb0")
    assert shown.status == "done", (shown.close_reason, err[-2000:])
    result = shown.result
    assert result["tests"]["passed"] == 3 and result["tests"]["failed"] == 0
    assert result["tool_calls"] == {"read_file": 1, "write_file": 1}  # the passing write ended the bead
    assert result["tool_calls_recovered"] == 1 and result["tool_calls_failed"] == 0
    assert result["tokens_in"] > 0 and result["tokens_out"] > 0 and result["model"] == "fake"
    trace = Path(result["trace"])
    kinds = [json.loads(line)["kind"] for line in trace.read_text().splitlines()]
    assert kinds[0] == "claim" and "reply" in kinds and "tests" in kinds and kinds[-1] == "commit"
    # the code is on bead/<id> in the rig, with a Bead: trailer; main is untouched
    log = git(rig_path, "log", "--format=%s%n%(trailers:key=Bead,valueonly)", "bead/gt-c0mb0", "-1")
    assert log.splitlines()[0] == "Implement the combo multiplier" and "gt-c0mb0" in log
    assert git(rig_path, "show", "bead/gt-c0mb0:beatscore/combo.py") == COMBO_CODE
    assert "beatscore/combo.py" not in git(rig_path, "ls-tree", "-r", "--name-only", "main")
    assert result["commits"] == [git(rig_path, "rev-parse", "bead/gt-c0mb0").strip()]
    events = [e.event for e in read_log(town.store().git, "refs/heads/tasks", bead="gt-c0mb0", reverse=True)]
    assert events == ["claim", "complete"]  # the person's push carries no trailers
    entry = read_log(town.store().git, "refs/heads/tasks", limit=1)[0]
    trailers = dict(entry.trailers)
    assert trailers["Tests-Passed"] == "3" and trailers["Model"] == "fake" and trailers["Branch"] == "bead/gt-c0mb0"
    # the stable prefix: every request of the bead starts with the same head
    heads = [json.dumps(r["messages"][:2]) for r in llm.requests]
    assert len(set(heads)) == 1 and len(llm.requests) == 2
    assert not list((town.git_dir / "gastown" / "worktrees").glob("*/*"))  # worktree cleaned up
    town.fsck()


def dead_endpoint() -> str:
    """A base URL on 127.0.0.1 where nothing listens (the port was bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


def test_a_dead_endpoint_hands_the_bead_back_instead_of_failing_it(world):
    town, _, person = world
    set_config(town.path, roster_toml(dead_endpoint(), retries=1))
    town.add("a bead for a dead model", rig="example")
    code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--once"), 60)
    assert code == 0, err
    bead_id = next(iter(town.store().snapshot().index.entries))
    shown = town.queue().show(bead_id)
    assert shown.status == "open" and shown.attempts == 0 and shown.generation == 1
    entry = read_log(town.store().git, "refs/heads/tasks", limit=1)[0]
    assert entry.event == "release" and "unavailable" in dict(entry.trailers)["Reason"]


def test_a_watcher_whose_model_is_down_backs_off_instead_of_claiming_again_at_once(world):
    """An outage hands the bead back for the model's trouble; claiming it again at once would
    hand it back again — hundreds of claim and release commits a minute (seen before)."""
    town, _, person = world
    set_config(town.path, roster_toml(dead_endpoint(), retries=0))
    town.add("a bead for a dead model", rig="example")
    code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--idle-exit", "14"), 60)
    assert code == 0, err
    bead_id = next(iter(town.store().snapshot().index.entries))
    history = read_log(town.store().git, "refs/heads/tasks", bead=bead_id)
    claims = [e for e in history if e.event == "claim"]
    releases = [e for e in history if e.event == "release"]
    # Pauses of 1, 2, 4, 8 s: at most 4 claims in 14 s however fast a round is (without them,
    # a round every second or so here: 8 to 14), and the pause before a fourth claim is at
    # least 4 s (3 s in whole-second commit times), however slow a round is.
    assert 2 <= len(claims) <= 4 and len(releases) == len(claims), (len(claims), len(releases))
    claimed, released = sorted(e.time for e in claims), sorted(e.time for e in releases)
    if len(claims) == 4:
        assert claimed[3] - released[2] >= 3, (claimed, released)
    assert town.queue().show(bead_id).attempts == 0  # the model's trouble, not the bead's


def test_429_500_and_every_text_form_still_get_the_work_done(world):
    town, _, person = world
    write = {"path": "beatscore/combo.py", "content": COMBO_CODE}
    answers = script(
        [
            error(429, headers={"retry-after": "0"}),
            error(500),
            text('<function_calls><invoke name="run_tests"></invoke></function_calls>'),
            text("I am not sure what to do."),
            text('{"name": "finish", "arguments": {"summary": "done"}}'),  # refused: the tests fail
            text("```json\n" + json.dumps({"name": "write_file", "arguments": write}) + "\n```"),
        ]
    )
    with FakeLLM(answers) as llm:
        set_config(town.path, roster_toml(llm.url))
        town.add("combo", rig="example")
        code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--once"), 60)
    assert code == 0, err
    shown = town.queue().show(next(iter(town.store().snapshot().index.entries)))
    assert shown.status == "done", shown.close_reason
    assert shown.result["tool_calls_recovered"] == 3
    assert shown.result["tool_calls"] == {"write_file": 1, "run_tests": 1, "finish": 1}


def test_unusable_tool_calls_go_back_to_the_model_a_bounded_number_of_times(world):
    town, _, _ = world
    broken = [text(f'<invoke name="write_file"><parameter name="content">never closed {n}') for n in range(10)]
    with FakeLLM(script(broken)) as llm:
        set_config(town.path, roster_toml(llm.url))
        bead_id = town.add("hopeless", rig="example")
        code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--once"), 60)
        assert len(llm.requests) == 4  # the limit, not ten
        assert "never closed" in json.dumps(llm.requests[-1]["messages"][-1])
    shown = town.queue().show(bead_id)
    assert shown.status == "failed" and "usable tool call 4 times" in shown.close_reason
    assert shown.result["tool_calls_failed"] == 4 and shown.attempts == 1


def test_the_same_unusable_reply_ends_the_bead_stuck_at_the_third(world):
    town, _, _ = world
    broken = text('<invoke name="write_file"><parameter name="content">never closed')
    with FakeLLM(script([broken] * 10)) as llm:
        set_config(town.path, roster_toml(llm.url))
        bead_id = town.add("hopeless", rig="example")
        finish(start_watcher(town.path, "polecat", "p1", "--once"), 60)
        assert len(llm.requests) == 3
        told = llm.requests[-1]["messages"][-1]["content"]  # the third: a fresh try, told what repeated
        assert "Twice a reply was exactly this" in told and "never closed" in told
    shown = town.queue().show(bead_id)
    assert shown.status == "failed" and shown.close_reason.startswith("stuck: the same unusable tool call")


def test_a_bead_removed_from_the_branch_mid_work_is_dropped_once_and_the_watcher_goes_on(world):
    town, _, person = world
    bead_id = town.add("removed while it is worked", rig="example")
    other = town.add("the next one", rig="example", priority=4)
    path = town.store().snapshot().index.get(bead_id).path
    removed: list[str] = []

    def respond(request: dict[str, object]) -> Answer:
        if not removed:  # the first call of the first bead: the bead vanishes from tasks, past the hooks
            removed.append(bead_id)
            git(person, "pull", "--quiet", "origin", "tasks")
            git(person, "rm", "--quiet", path)
            git(person, "commit", "--quiet", "-m", "drop a bead")
            git(town.path, "fetch", "--quiet", str(person), "+tasks:tasks")
        return tool("finish", summary="nothing to do")

    with FakeLLM(respond) as llm:
        set_config(town.path, roster_toml(llm.url))
        code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--max-beads", "2", "--idle-exit", "5"), 90)
    assert code == 0, err
    assert "Traceback" not in err and f"{bead_id}: outcome dropped" in err, err
    assert err.count(bead_id) <= 3, err  # said once, not at every step
    assert town.store().snapshot().index.get(bead_id) is None
    assert town.queue().show(other).status != "open", err  # the watcher went on to the next bead
    town.fsck()


def test_sandbox_escapes_are_refused_and_a_changed_test_file_is_refused(world, tmp_path):
    town, rig_path, _ = world
    outside = tmp_path / "outside.txt"
    answers = script(
        [
            tool("write_file", path="../outside.txt", content="pwned"),
            tool("write_file", path=str(outside), content="pwned"),
            tool("read_file", path=".git/config"),
            tool("write_file", path="tests/test_combo.py", content="def test_nothing(): pass\n"),
            tool(
                "shell_exec",
                command="python -c \"open('tests/test_combo.py', 'w').write('def test_x(): pass')\"",
            ),
            tool("write_file", path="beatscore/combo.py", content=COMBO_CODE),
            tool("finish", summary="sneaky"),
        ]
    )
    with FakeLLM(answers) as llm:
        set_config(town.path, roster_toml(llm.url))
        bead_id = town.add("escape", rig="example")
        code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--once"), 60)
        replies = [m.get("content") for r in llm.requests for m in r["messages"] if m.get("role") == "tool"]
    assert not outside.exists() and not (rig_path.parent / "outside.txt").exists()
    assert any("'..' is refused" in (r or "") for r in replies)
    assert any("absolute paths outside the project are refused" in (r or "") for r in replies)
    assert any(".git folder is off limits" in (r or "") for r in replies)
    assert any("this is a test file" in (r or "") for r in replies)
    shown = town.queue().show(bead_id)
    assert shown.status == "failed" and "changed the Refinery's test files: tests/test_combo.py" in shown.close_reason
    assert shown.result["tool_calls_failed"] == 4


def test_a_conftest_and_the_rigs_hooks_are_out_of_a_polecats_reach(world, tmp_path):
    town, rig_path, _ = world
    hook, marker = rig_path / ".git" / "hooks" / "post-commit", tmp_path / "hook-ran"
    skip_all = "import pytest\\ndef pytest_collection_modifyitems(items):\\n    items.clear()\\n"
    answers = script(
        [
            tool("write_file", path="conftest.py", content=skip_all.replace("\\n", "\n")),
            tool("shell_exec", command=f"python -c \"open('conftest.py', 'w').write('{skip_all}')\""),
            tool("shell_exec", command=f"python -c \"open('{hook}', 'w').write('#!/bin/sh\\ntouch {marker}')\""),
            tool("write_file", path="beatscore/combo.py", content=COMBO_CODE),
            tool("finish", summary="sneaky"),
        ]
    )
    with FakeLLM(answers) as llm:
        set_config(town.path, roster_toml(llm.url))
        bead_id = town.add("fake the tests", rig="example")
        finish(start_watcher(town.path, "polecat", "p1", "--once"), 90)
        replies = [m.get("content") for r in llm.requests for m in r["messages"] if m.get("role") == "tool"]
    assert any("conftest.py" in (r or "") and "test file" in (r or "") for r in replies), replies
    shown = town.queue().show(bead_id)
    assert shown.status == "failed" and "changed the Refinery's test files: conftest.py" in shown.close_reason
    assert not hook.exists() and not marker.exists()


def test_kill_9_mid_bead_then_another_watcher_finishes_it_once(world):
    town, rig_path, _ = world
    slow_first = {"n": 0}

    def respond(request):
        slow_first["n"] += 1
        if slow_first["n"] == 1:
            return Answer(hang=20)  # the first watcher is stuck in its model call
        return good_script("x")(request)

    answers = per_bead(
        lambda b: script(
            [
                tool("write_file", path="beatscore/combo.py", content=COMBO_CODE),
                tool("run_tests"),
                tool("finish", summary="done after a crash"),
            ]
        )
    )

    def combined(request):
        slow_first["n"] += 1
        if slow_first["n"] == 1:
            return Answer(hang=20)
        return answers(request)

    with FakeLLM(combined) as llm:
        set_config(town.path, roster_toml(llm.url))
        bead_id = town.add("crashy", rig="example")
        victim = start_watcher(town.path, "polecat", "victim", "--once", "--lease", "2")
        wait_for(
            lambda: status_of(town, bead_id) == "claimed" and llm.requests,
            20,
            lambda: status_of(town, bead_id),
        )
        os.killpg(victim.pid, signal.SIGKILL)
        victim.communicate()
        town.fsck()
        heir = start_watcher(town.path, "polecat", "heir", "--idle-exit", "15", "--max-beads", "1")
        code, _, err = finish(heir, 60)
        assert code == 0, err
    shown = town.queue().show(bead_id)
    assert shown.status == "done" and shown.generation == 2
    events = [
        (e.event, dict(e.trailers).get("Agent"))
        for e in read_log(town.store().git, "refs/heads/tasks", bead=bead_id, reverse=True)
        if e.event != "renew"  # the victim may have renewed its 2 s lease before it died
    ]
    assert events[1:] == [("claim", "victim"), ("claim", "heir"), ("complete", "heir")]
    recovery = read_log(town.store().git, "refs/heads/tasks", bead=bead_id)[1]
    assert dict(recovery.trailers)["Recovery"] == "yes" and dict(recovery.trailers)["Previous-Agent"] == "victim"
    town.fsck()


def _sleepers(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _allow_sleep(town):
    _rig_toml(town, 'allowed_commands = [["sleep"]]\n')


def _rig_toml(town, extra):
    """Append TOML to the example rig's definition on tasks."""
    from gastown.town import events
    from gastown.town.store import Update

    store = town.store()
    path = f"{rigmod.RIGS_DIR}/example.toml"
    current = store.snapshot().read(path).decode()
    change = Update(events.Event(events.CONFIG, (), "t", "rig settings"), files={path: (current + extra).encode()})
    store.update(lambda s: change)


def test_sigterm_ends_the_running_tool_hands_the_bead_back_and_exits_0(world):
    town, _, _ = world
    marker = f"31.{os.getpid()}"  # a distinctive sleep length to find the child by
    with FakeLLM(per_bead(lambda b: script([tool("shell_exec", command=f"sleep {marker}")]))) as llm:
        set_config(town.path, roster_toml(llm.url))
        _allow_sleep(town)
        bead_id = town.add("sleepy", rig="example")
        watcher = start_watcher(town.path, "polecat", "p1", "--idle-exit", "60")
        wait_for(lambda: _sleepers(f"sleep {marker}"), 20, "the tool's sleep never started")
        watcher.send_signal(signal.SIGTERM)
        code, _, err = finish(watcher, 20)
    assert code == 0, err
    assert _sleepers(f"sleep {marker}") == []
    shown = town.queue().show(bead_id)
    assert shown.status == "open" and shown.attempts == 0
    assert read_log(town.store().git, "refs/heads/tasks", limit=1)[0].event == "release"
    assert not (town.git_dir / "gastown" / "watchers" / "p1.json").exists()


def test_a_second_sigterm_hands_the_bead_back_at_once_and_exits_130(world):
    town, _, _ = world
    with FakeLLM(script([Answer(hang=30)])) as llm:
        set_config(town.path, roster_toml(llm.url, timeout_s=60))
        bead_id = town.add("stuck in a model call", rig="example")
        watcher = start_watcher(town.path, "polecat", "p1", "--idle-exit", "60")
        wait_for(lambda: llm.requests, 20, "no model call")
        started = time.monotonic()
        watcher.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        watcher.send_signal(signal.SIGTERM)
        code, _, err = finish(watcher, 20)
        assert time.monotonic() - started < 10  # not waiting out the 30 s call
    assert code == 130, err
    shown = town.queue().show(bead_id)
    assert shown.status == "open"
    entry = read_log(town.store().git, "refs/heads/tasks", limit=1)[0]
    assert entry.event == "release" and dict(entry.trailers)["Reason"] == "the watcher was killed"


def test_watchers_of_one_role_share_the_work_without_doubling_it(world):
    town, _, _ = world
    with FakeLLM(
        per_bead(
            lambda b: script(
                [
                    tool("write_file", path="beatscore/combo.py", content=COMBO_CODE),
                    tool("finish", summary=b),
                ]
            )
        )
    ) as llm:
        set_config(town.path, roster_toml(llm.url))
        made = [town.add(f"combo {i}", rig="example") for i in range(4)]
        watchers = [start_watcher(town.path, "polecat", f"p{i}", "--idle-exit", "4") for i in range(2)]
        for w in watchers:
            code, _, err = finish(w, 120)
            assert code == 0, err
    snap = town.store().snapshot()
    assert all(snap.index.get(b).status == "done" for b in made)
    log = read_log(town.store().git, "refs/heads/tasks")
    assert sorted(e.beads[0] for e in log if e.event == "complete") == sorted(made)
    agents = {dict(e.trailers)["Agent"] for e in log if e.event == "complete"}
    assert agents <= {"p0", "p1"}


def test_secrets_never_reach_prompts_logs_traces_or_commits(world):
    town, rig_path, _ = world
    secret = "sk-test-DO-NOT-LEAK-4242"
    (rig_path / "beatscore" / "config.py").write_text("")  # a file the model will read
    with FakeLLM(
        per_bead(
            lambda b: script(
                [
                    tool("read_file", path="README.md"),
                    tool("shell_exec", command='python -c "import os; print(sorted(os.environ))"'),
                    tool("finish", summary="looked"),
                ]
            )
        )
    ) as llm:
        set_config(town.path, roster_toml(llm.url, api_key_env="FAKE_CLOUD_KEY"))
        bead_id = town.add("look around", rig="example")
        code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--once", env={"FAKE_CLOUD_KEY": secret}), 60)
        assert code == 0, err
        assert secret not in json.dumps(llm.requests)
    assert "FAKE_CLOUD_KEY" not in json.dumps(llm.requests)  # not even the name leaks through the env
    shown = town.queue().show(bead_id)
    assert secret not in Path(shown.result["trace"]).read_text()
    assert secret not in git(town.path, "log", "-p", "tasks") and secret not in err
    assert secret not in git(rig_path, "log", "-p", "--all")


def test_a_key_under_any_roster_name_is_stripped_and_redacted_by_value_and_nothing_harmless_is(world):
    town, rig_path, _ = world
    secret = "cloud-7f3a9c1e5b2d4"  # held by a variable whose name says nothing of keys
    (rig_path / "deploy.ini").write_text(f"[cloud]\nkey = {secret}\n")  # a person committed it by mistake
    git(rig_path, "add", "deploy.ini")
    git(rig_path, "commit", "-q", "-m", "deploy settings")
    dump = "import os; print(sorted(os.environ.items()))"
    keep = "import os; open('leak.txt', 'w').write(repr(sorted(os.environ.items())))"
    with FakeLLM(
        per_bead(
            lambda b: script(
                [
                    tool("shell_exec", command=f'python -c "{dump}"'),
                    tool("shell_exec", command=f'python -c "{keep}"'),
                    tool("read_file", path="deploy.ini"),
                    tool("write_file", path="beatscore/combo.py", content=COMBO_CODE),
                ]
            )
        )
    ) as llm:
        set_config(town.path, roster_toml(llm.url, api_key_env="BEATSCORE_CLOUD"))
        _rig_toml(town, '[sandbox]\nenv = ["GIT_AUTHOR_NAME", "SSH_AUTH_SOCK", "COPIED"]\n')
        bead_id = town.add("look around", rig="example")
        env = {
            "BEATSCORE_CLOUD": secret,
            "COPIED": secret,
            "GIT_AUTHOR_NAME": "Ada Byron",
            "SSH_AUTH_SOCK": "/tmp/s.sock",
        }
        code, _, err = finish(start_watcher(town.path, "polecat", "p1", "--once", env=env), 60)
        assert code == 0, err
        sent = json.dumps(llm.requests)
    assert secret not in sent and "BEATSCORE_CLOUD" not in sent and "COPIED" not in sent
    assert "key = [redacted]" in sent  # the file that holds it is shown redacted
    # what the rig passes in reaches its commands unredacted; a copy of the key does not, named or not
    assert "Ada Byron" in sent and "/tmp/s.sock" in sent
    shown = town.queue().show(bead_id)
    assert shown.status == "done", shown.close_reason
    assert secret not in Path(shown.result["trace"]).read_text()
    assert secret not in git(town.path, "log", "-p", "tasks") and secret not in err
    leaked = git(rig_path, "show", f"bead/{bead_id}:leak.txt")
    assert "GIT_AUTHOR_NAME" in leaked and "BEATSCORE_CLOUD" not in leaked and secret not in leaked


def test_watch_check_says_whether_a_watcher_is_alive(world):
    town, _, _ = world
    with FakeLLM() as llm:
        set_config(town.path, roster_toml(llm.url))
        watcher = start_watcher(town.path, "polecat", "checked", "--idle-exit", "30")
        wait_for(
            lambda: (
                gt_process(
                    "--town",
                    str(town.path),
                    "watch",
                    "--role",
                    "polecat",
                    "--agent",
                    "checked",
                    "--check",
                ).code
                == 0
            ),
            15,
            "never alive",
        )
        watcher.send_signal(signal.SIGTERM)
        finish(watcher)
    dead = gt_process("--town", str(town.path), "watch", "--role", "polecat", "--agent", "checked", "--check")
    assert dead.code == 1 and "no heartbeat" in dead.out


def test_a_local_model_that_does_not_fit_the_machine_sends_the_bead_to_the_cloud(world):
    town, _, person = world
    with FakeLLM(per_bead(good_script)) as llm:
        set_config(
            town.path,
            "[models.huge]\n"
            'launch = ["false"]\n'  # never to be started: it cannot fit
            'device = "cpu"\n'
            "ram_mib = 1e12\n"
            "\n"
            "[models.cloud]\n"
            'kind = "cloud"\n'
            f'endpoint = "{llm.url}"\n'
            'model = "fake"\n'
            "\n"
            "[roles.polecat]\n"
            'bands = [{ max_tokens = 100000, model = "huge" }]\n'
            'cloud = "cloud"\n'
            'when_nothing_fits = "cloud"\n',
        )
        watcher = start_watcher(town.path, "polecat", "p1", "--idle-exit", "60", "--max-beads", "1")
        push_bead(person, bead("gt-f1ts0"))
        code, _, err = finish(watcher, 60)
        assert code == 0, err
    shown = town.queue().show("gt-f1ts0")
    assert shown.status == "done", (shown.close_reason, err[-2000:])
    assert shown.result["model"] == "cloud"
    assert shown.result["model_choice"] == "0 tokens: no local model fits, so cloud (cloud)"
    entry = read_log(town.store().git, "refs/heads/tasks", bead="gt-f1ts0", limit=1)[0]
    assert dict(entry.trailers)["Model-Choice"] == "0 tokens: no local model fits, so cloud (cloud)"  # in git log


def test_a_bead_no_model_fits_waits_claimable_without_the_watcher_spinning(world):
    town, _, person = world
    set_config(
        town.path,
        "[models.huge]\n"
        'launch = ["false"]\n'
        'device = "cpu"\n'
        "ram_mib = 1e12\n"
        "\n"
        "[roles.polecat]\n"
        'bands = [{ max_tokens = 100000, model = "huge" }]\n'
        'when_nothing_fits = "wait"\n',
    )
    push_bead(person, bead("gt-wa1t0"))
    # It waits, then runs out its idle limit and exits by itself; one that spun would have
    # claimed and handed the bead back hundreds of times in those seconds.
    watcher = start_watcher(town.path, "polecat", "p1", "--idle-exit", "6")
    code, _, err = finish(watcher, 60)
    assert code == 0, err
    claims = [e for e in read_log(town.store().git, "refs/heads/tasks", bead="gt-wa1t0") if e.event == "claim"]
    assert len(claims) == 1, len(claims)  # one claim and hand-back said why; then it waited
    shown = town.queue().show("gt-wa1t0")
    assert shown.status == "open"  # claimable by any other watcher
    releases = [e for e in read_log(town.store().git, "refs/heads/tasks", bead="gt-wa1t0") if e.event == "release"]
    said = " ".join(v for _, v in releases[0].trailers) + releases[0].subject
    assert "no local model fits now; waiting" in said, releases[0]


def test_a_watcher_in_a_long_model_call_beats_as_busy_with_its_bead(world):
    town, _, person = world
    slow = dataclasses.replace(tool("read_file", path="tests/test_combo.py"), delay=14.0)
    with FakeLLM(per_bead(lambda _bead: script([slow, *good_answers()]))) as llm:
        set_config(town.path, roster_toml(llm.url, timeout_s=60))
        watcher = start_watcher(town.path, "polecat", "busy", "--idle-exit", "30", "--max-beads", "1")
        push_bead(person, bead("gt-slow1"))
        path = heartbeat_path(town_of(town.path), "busy")
        wait_for(lambda: len(llm.requests) >= 1, 30, "no model call")
        seen = []
        began = time.monotonic()
        while time.monotonic() - began < 11:  # inside the 14 s call
            seen.append(json.loads(path.read_text()))
            time.sleep(0.5)
        checked = gt_process("--town", str(town.path), "watch", "--role", "polecat", "--agent", "busy", "--check")
        assert checked.code == 0, checked.out
        assert re.search(r"working gt-slow1 \(model fake, \d+s\)", checked.out), checked.out
        assert {beat["bead"] for beat in seen} == {"gt-slow1"}  # working, not idle
        updates = sorted({beat["updated"] for beat in seen})
        assert len(updates) >= 2, updates  # rewritten during the call, not only between beads
        assert max(beat["expires"] - beat["updated"] for beat in seen) < 30  # a busy beat promises the next soon
        code, _, err = finish(watcher, 90)
        assert code == 0, err


def test_a_watcher_in_a_clone_of_a_shared_town_wakes_on_a_push_to_the_remote(tmp_path, bare_remote, clone):
    from gastown.town import founding

    remote = bare_remote("shared.git")
    founder, _ = founding.init(tmp_path / "founder", str(remote))
    rig_path = make_rig(tmp_path)
    from gastown.town.store import GitStore

    rigmod.add(GitStore(founder), "example", str(rig_path), template="example")
    worker_town, what = founding.init(tmp_path / "worker", str(remote))
    assert "joined" in what
    person = clone(remote, "person")
    with FakeLLM(per_bead(good_script)) as llm:
        set_config(tmp_path / "founder", roster_toml(llm.url))
        watcher = start_watcher(tmp_path / "worker", "polecat", "remote-p1", "--idle-exit", "60", "--max-beads", "1")
        beat = heartbeat_path(town_of(tmp_path / "worker"), "remote-p1")
        wait_for(beat.exists, 15, "no heartbeat")
        # Long enough for a poller to back off (1 + 2 + 4 s) into an 8 s sleep, so a claim
        # within WOKEN_WITHIN of the push can only come from the wake-up.
        time.sleep(7.5)
        push_bead(person, bead("gt-rem0t"))
        pushed = time.monotonic()

        def claimed() -> bool:
            log = git(remote, "log", "--format=%s", "tasks")
            return "claim gt-rem0t" in log

        wait_for(claimed, 20, lambda: git(remote, "log", "--oneline", "-3", "tasks"))
        latency = time.monotonic() - pushed
        assert latency < WOKEN_WITHIN, f"claimed {latency:.1f}s after the push: the watcher slept instead of waking"
        code, _, err = finish(watcher, 60)
        assert code == 0, err
    shown = json.loads(git(remote, "show", "tasks:beads/gt-rem0t.json"))
    assert shown["status"] == "done" and shown["result"]["tests"]["passed"] == 3
    assert git(remote, "log", "-1", "--format=%s", "tasks").startswith("complete gt-rem0t remote-p1")


def test_watchdogs_stop_race_line_is_not_shown_but_its_other_errors_are(caplog):
    # watchdog's inotify thread logs this when the observer stops while it reads: nothing is lost
    import logging

    from gastown.agents import wakeup

    wakeup._quiet_stop_race()
    logger = logging.getLogger("watchdog.observers.inotify")
    with caplog.at_level(logging.ERROR):
        logger.error("InotifyEmitter.queue_events() called when the thread is inactive")
        logger.error("a real inotify failure")
    assert [r.getMessage() for r in caplog.records] == ["a real inotify failure"]
