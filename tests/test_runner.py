"""Local model servers as real processes: started from a template, checked, killed, restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import psutil
import pytest
from conftest import wait_for

from gastown.errors import Unavailable
from gastown.machine.governor import Budget, Governor
from gastown.machine.runner import Runner, command_for, healthy
from gastown.town.roster import ModelSpec

FAKE = str(Path(__file__).with_name("fake_llm.py"))


def spec(*options, **fields):
    launch = ("{python}", FAKE, "--port", "{port}", *options)
    return ModelSpec("fake-local", "fake", launch=launch, weights_mib=1000, context=1, **fields)


FINISH = [{"type": "function", "function": {"name": "finish", "parameters": {"type": "object"}}}]
MESSAGES = [{"role": "user", "content": "work"}]


def test_a_template_server_starts_answers_dies_and_comes_back(tmp_path):
    runner = Runner(tmp_path)
    url = runner.ensure(spec(), wait=30)
    assert healthy(url)
    first = runner.get("fake-local")
    os.killpg(first.pid, signal.SIGKILL)
    wait_for(lambda: not first.alive(), 5, "still alive")
    url2 = runner.ensure(spec(), wait=30)
    second = runner.get("fake-local")
    assert healthy(url2) and second.pid != first.pid and second.restarts == 1
    os.killpg(second.pid, signal.SIGKILL)
    wait_for(lambda: not second.alive(), 5, "still alive")
    with pytest.raises(Unavailable, match="crashed; next restart in"):
        runner.ensure(spec(), wait=30)  # a crash loop backs off
    assert runner.stop("fake-local") is False  # dead already; the record is cleared
    assert runner.get("fake-local") is None


def test_supervise_restarts_a_crashed_server(tmp_path):
    runner = Runner(tmp_path)
    runner.ensure(spec(), wait=30)
    first = runner.get("fake-local").pid
    stop = threading.Event()
    supervisor = threading.Thread(target=runner.supervise, args=([spec()], stop, 0.2))
    supervisor.start()
    try:
        os.killpg(first, signal.SIGKILL)
        wait_for(
            lambda: (s := runner.get("fake-local")) and s.pid != first and healthy(s.url),
            30,
            lambda: runner.get("fake-local"),
        )
    finally:
        stop.set()
        supervisor.join()
        runner.stop("fake-local")


def test_cpu_models_are_pinned_to_their_cores(tmp_path):
    runner = Runner(tmp_path)
    runner.ensure(spec(device="cpu", cpu_cores=(0,)), wait=30)
    server = runner.get("fake-local")
    try:
        assert psutil.Process(server.pid).cpu_affinity() == [0]
    finally:
        runner.stop("fake-local")


def test_the_governor_reservation_follows_the_server(tmp_path):
    runner = Runner(tmp_path / "state")
    governor = Governor(Budget(1500, 64000, frozenset(range(4)), "config"), tmp_path / "gov.json")
    runner.ensure(spec(), wait=30, governor=governor)
    server = runner.get("fake-local")
    assert [r.pid for r in governor.reservations()] == [server.pid]
    other = ModelSpec("other", "o", launch=("{python}", FAKE, "--port", "{port}"), weights_mib=1000, context=1)
    with pytest.raises(Unavailable, match="does not fit now: VRAM"):
        runner.ensure(other, wait=30, governor=governor)
    runner.stop("fake-local")
    assert governor.reservations() == []
    runner.ensure(other, wait=30, governor=governor)
    runner.stop("other")


def test_templates_fill_their_placeholders_and_name_unknown_ones():
    filled = command_for(
        ModelSpec(
            "q",
            "q",
            launch=(
                "llama-server",
                "-c",
                "{context}",
                "--parallel",
                "{parallel}",
                "-ctk",
                "{cache_type_k}",
                "--port",
                "{port}",
            ),
            context=6144,
            parallel=2,
            cache_type_k="q8_0",
        ),
        8081,
    )
    assert filled == [
        "llama-server",
        "-c",
        "6144",
        "--parallel",
        "2",
        "-ctk",
        "q8_0",
        "--port",
        "8081",
    ]
    from gastown.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown placeholder 'nope'"):
        command_for(ModelSpec("q", "q", launch=("x", "{nope}")), 1)


def test_a_server_killed_mid_request_is_restarted_and_the_request_sent_once_more(tmp_path):
    runner = Runner(tmp_path / "state")
    held = tmp_path / "held"
    client = runner.client(spec("--hold-first", str(held), retries=0))  # no retries: only the revival
    first = runner.get("fake-local")
    log = Path(first.log)

    def kill_when_held():
        wait_for(lambda: "holding the first request" in log.read_text(), 30, lambda: log.read_text()[-500:])
        os.killpg(first.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_held)
    killer.start()
    try:
        reply = client.chat(MESSAGES, tools=FINISH)
        killer.join()
        again = runner.get("fake-local")
        assert reply.tool_calls[0]["function"]["name"] == "finish" and reply.attempts == 1
        assert again.pid != first.pid and again.restarts == 1 and not first.alive()
        assert reply.endpoint == again.url
    finally:
        killer.join()
        runner.stop("fake-local")


def test_a_server_dying_on_the_retried_request_too_is_reported_with_its_log(tmp_path):
    runner = Runner(tmp_path / "state")
    abort = "parse: error parsing grammar: number of rules ... exceeds sane defaults"
    client = runner.client(spec("--crash", abort, retries=3))
    first = runner.get("fake-local").pid
    try:
        with pytest.raises(Unavailable, match="died again answering the same request") as caught:
            client.chat(MESSAGES, tools=FINISH)
        server = runner.get("fake-local")
        assert abort in caught.value.message and server.log in caught.value.message  # the log's last lines
        assert server.pid != first and server.restarts == 1  # restarted once, not in a loop
        assert "bead" not in caught.value.hint
    finally:
        runner.stop("fake-local")


def test_a_server_that_cannot_come_back_says_why_with_its_log(tmp_path):
    runner = Runner(tmp_path / "state")
    client = runner.client(spec("--start-once", str(tmp_path / "started"), retries=0))
    server = runner.get("fake-local")
    os.killpg(server.pid, signal.SIGKILL)
    wait_for(lambda: not server.alive(), 5, "still alive")
    try:
        with pytest.raises(Unavailable, match="died during a request and could not be restarted") as caught:
            client.chat(MESSAGES)
        assert "refusing to start a second time" in caught.value.message  # the log's last lines
    finally:
        runner.stop("fake-local")


def test_a_pid_reused_by_another_process_is_never_signalled(tmp_path):
    runner = Runner(tmp_path)
    runner.ensure(spec(), wait=30)
    record = runner.get("fake-local")
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # not the server gastown started
    try:
        os.killpg(record.pid, signal.SIGKILL)
        wait_for(lambda: not record.alive(), 5, "the server is still alive")
        (runner.folder / "fake-local.json").write_text(
            json.dumps(
                {**json.loads((runner.folder / "fake-local.json").read_text()), "pid": stranger.pid, "started": 1e9}
            )
        )  # as after a reboot: the saved pid, from long ago, now names someone else's process
        assert runner.stop("fake-local") is False
        assert stranger.poll() is None  # the stranger lives
        assert runner.get("fake-local") is None  # and the stale record is gone
    finally:
        stranger.kill()
        stranger.wait()
    ours = runner.ensure(spec(), wait=30) and runner.get("fake-local")
    assert runner.stop("fake-local") is True and not ours.alive()  # the real server still stops


def test_a_server_is_still_stopped_after_the_clock_was_set_forward(tmp_path):
    """Its record's start time an hour off (an NTP step since the start): the process whose
    command line is the record's, word for word, is still the server gastown started."""
    runner = Runner(tmp_path)
    runner.ensure(spec(), wait=30)
    path = runner.folder / "fake-local.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "started": record["started"] - 3600}))
    server = runner.get("fake-local")
    assert server is not None and server.is_ours()
    assert runner.stop("fake-local") is True
    wait_for(lambda: not server.alive(), 5, "the server still runs after gt down")


def test_gt_up_exits_non_zero_when_a_model_does_not_start(town):
    from watchers import set_config

    set_config(town.path, '[models.broken]\nmodel = "x"\ncontext = 2048\nweights_mib = 10\nlaunch = ["false"]\n')
    result = town.gt_process("up", "broken")
    assert result.code == 6, (result.code, result.out, result.err)
    assert "broken: not started" in result.err and "Traceback" not in result.err
