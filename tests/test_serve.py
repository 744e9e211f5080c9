"""``gt serve``: real towns, a real ``gt serve`` process on 127.0.0.1, plain HTTP (urllib)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import REPO_ROOT, TownHandle, git, gt_process, write_bead_file
from prometheus_client.parser import text_string_to_metric_families

from gastown.serve import graph
from gastown.town import times

START_TIMEOUT = 30.0


@dataclass
class Served:
    """A running ``gt serve`` process and the address it announced."""

    proc: subprocess.Popen[str]
    url: str
    token: str | None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        request = urllib.request.Request(self.url + path.lstrip("/"), headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)


def _start(town: TownHandle, *args: str) -> Served:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown", "--town", str(town.path), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    # The first line is printed once the socket listens: a barrier, not a sleep.
    line = proc.stdout.readline()
    if not line.startswith("gt serve: http://"):
        proc.kill()
        raise AssertionError(f"gt serve did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    url = line.split()[2].split("?")[0]
    token = None
    if "--host" in args:
        token_line = proc.stdout.readline()
        token = token_line.split()[1]
    return Served(proc, url, token)


def _stop(served: Served) -> None:
    served.proc.send_signal(signal.SIGINT)
    try:
        served.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait()
    for stream in (served.proc.stdout, served.proc.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """``serve(town, *args)``: ``gt serve --port 0`` as a real process, stopped after the test."""
    started: list[Served] = []

    def start(town: TownHandle, *args: str) -> Served:
        served = _start(town, *args)
        started.append(served)
        return served

    yield start
    for served in started:
        _stop(served)


def _result(
    model: str, tokens_in: int, tokens_out: int, tps: float, calls: dict[str, int], failed: int
) -> dict[str, Any]:
    return {
        "model": model,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "decode_tps": tps,
        "model_s": 2.0,
        "wall_s": 3.0,
        "tool_calls": calls,
        "tool_calls_failed": failed,
        "tool_calls_recovered": 1,
    }


def _busy_town(town: TownHandle) -> dict[str, str]:
    """A convoy of four beads: one done, one failed, one claimed, one blocked; and a ready one."""
    q = town.queue()
    convoy = town.gt("convoy", "create", "Combo multiplier", "--json").json()["id"]
    tests = town.add("tests for combo", role="refinery", convoy=convoy)
    from gastown.town.bead import Dependency

    code = town.add("implement combo", convoy=convoy, dependencies=(Dependency(tests),))
    docs = town.add("document combo", role="librarian", convoy=convoy, dependencies=(Dependency(code),))
    spare = town.add("tidy scoring", role="refinery")
    other = town.add("free bead")
    claimed = q.claim("refinery", "refinery@test", lease=600, bead_id=tests)
    q.complete(
        tests,
        "refinery@test",
        claimed.bead.generation,
        _result("qwen-7b", 1000, 200, 20.0, {"read_file": 3, "write_file": 1}, 1),
    )
    claimed = q.claim("refinery", "refinery@test", lease=600, bead_id=spare)
    q.fail(
        spare,
        "refinery@test",
        "tests would not pass",
        claimed.bead.generation,
        _result("qwen-7b", 500, 100, 30.0, {"run_tests": 2}, 2),
    )
    q.claim("polecat", "polecat@test", lease=600, bead_id=code)
    return {"convoy": convoy, "tests": tests, "code": code, "docs": docs, "spare": spare, "other": other}


def test_metrics_parse_with_prometheus_clients_own_parser_and_match_the_town(town, serve):
    ids = _busy_town(town)
    served = serve(town)
    status, body, headers = served.get("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(body)}

    def value(name: str, **labels: str) -> float:
        for sample in families[name].samples:
            if sample.name.endswith(("_created",)):
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
        raise AssertionError(f"no {name} sample with {labels}: {families[name].samples}")

    assert value("gastown_beads", state="done", role="refinery") == 1
    assert value("gastown_beads", state="failed", role="refinery") == 1
    assert value("gastown_beads", state="claimed", role="polecat") == 1
    assert value("gastown_beads", state="blocked", role="librarian") == 1
    assert value("gastown_beads", state="ready", role="polecat") == 1  # the free bead
    assert families["gastown_claims"].type == "counter" and value("gastown_claims") == 3
    assert value("gastown_bead_results", outcome="done") == 1
    assert value("gastown_bead_results", outcome="failed") == 1
    assert value("gastown_worker_failure_ratio") == 0.5
    assert value("gastown_tool_calls", tool="read_file") == 3
    assert value("gastown_tool_calls", tool="run_tests") == 2
    assert value("gastown_tool_call_outcomes", outcome="failed") == 3
    assert value("gastown_tool_call_outcomes", outcome="ok") == 3
    assert value("gastown_model_tokens", model="qwen-7b", direction="in") == 1500
    assert value("gastown_model_tokens", model="qwen-7b", direction="out") == 300
    assert value("gastown_model_decode_tokens_per_second", model="qwen-7b") == 25.0
    assert value("gastown_claims_live", role="polecat") == 1
    assert value("gastown_recoveries") == 0
    for name in ("gastown_energy_joules", "gastown_cost_dollars", "gastown_pure_cloud_cost_dollars"):
        assert name in families, sorted(families)
    assert ids["convoy"].startswith("gt-cv-")


def test_the_metrics_agree_with_gt_metrics_json(town, serve):
    _busy_town(town)
    figures = town.gt("metrics", "--json").json()
    served = serve(town)
    families = {f.name: f for f in text_string_to_metric_families(served.get("/metrics")[1])}
    assert families["gastown_claims"].samples[0].value == figures["orchestrator"]["claims"]
    assert families["gastown_dependency_blocks"].samples[0].value == figures["orchestrator"]["dependency_blocks"]
    per_tool = {s.labels["tool"]: s.value for s in families["gastown_tool_calls"].samples if s.name.endswith("_total")}
    assert per_tool == figures["tool_calls"]["per_tool"]


def test_pages_show_the_convoy_dag_the_bead_timeline_and_the_panels(town, serve):
    ids = _busy_town(town)
    served = serve(town)
    status, page, _ = served.get("/")
    assert status == 200 and ids["convoy"] in page and "Combo multiplier" in page
    status, page, _ = served.get(f"/convoys/{ids['convoy']}")
    assert status == 200 and "<svg" in page
    for bead_id, state in ((ids["tests"], "done"), (ids["code"], "claimed"), (ids["docs"], "blocked")):
        assert f'data-bead="{bead_id}" data-state="{state}"' in page, (bead_id, state)
    assert 'class="edge blocks' in page
    status, page, _ = served.get(f"/beads/{ids['tests']}")
    assert status == 200
    for event in ("add", "claim", "complete"):
        assert f'data-event="{event}"' in page, event
    assert "Lease-Expires" in page and "Tokens-In" in page and "read_file 3" in page
    status, page, _ = served.get("/panels?role=refinery")
    assert status == 200 and "worker failure rate" in page and "qwen-7b" in page
    status, page, _ = served.get("/agents")
    assert status == 200 and ids["code"] in page and "polecat@test" in page


def test_the_agents_page_shows_the_machines_budget_and_who_holds_it(town, serve):
    from gastown.machine.governor import _process_start, state_path

    # a model run on this machine, as the governor records it (this test's process holds it)
    state_path().parent.mkdir(parents=True, exist_ok=True)
    held = {"id": "r1", "model": "qwen2.5-coder-1.5b", "pid": os.getpid(), "ram_mib": 2048.0, "cores": [0, 1]}
    held |= {"started": time.time() - 65, "process_start": _process_start(os.getpid())}
    gone = held | {"id": "r2", "model": "gone-model", "pid": 2**22 + 1, "process_start": 1.0}  # its process is gone
    state_path().write_text(json.dumps({"reservations": [held, gone]}))
    served = serve(town)
    status, page, _ = served.get("/agents")
    assert status == 200 and 'id="machine"' in page
    ram = page[page.index('data-resource="ram"') :].split("</tr>")[0]
    assert 'class="held"' in ram and "qwen2.5-coder-1.5b (pid" in ram and "2048 of" in ram, ram
    assert 'data-resource="vram"' in page
    rows = page[page.index('id="reservations"') :].split("</table>")[0]
    assert "qwen2.5-coder-1.5b" in rows and "0,1" in rows and "1m0" in rows and "gone-model" not in rows
    assert json.loads(state_path().read_text())["reservations"][1]["model"] == "gone-model"  # looked, not written


def test_an_unknown_bead_or_convoy_is_a_404_page_and_a_bad_since_a_400(town, serve):
    served = serve(town)
    assert served.get("/beads/gt-zzzzz")[0] == 404
    assert served.get("/convoys/gt-cv-zzzzz")[0] == 404
    status, page, _ = served.get("/panels?since=yesterdayish")
    assert status == 400 and "an age like 7d" in page


def test_pages_load_nothing_from_another_host(town, serve):
    ids = _busy_town(town)
    served = serve(town)
    for path in ("/", f"/convoys/{ids['convoy']}", f"/beads/{ids['code']}", "/agents", "/panels"):
        page = served.get(path)[1].replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", ""), path
    assert served.get("/static/style.css")[0] == 200


def _events(served: Served, into: queue.Queue[tuple[float, str, str]], ready: threading.Event) -> threading.Thread:
    """Read ``/events`` in a thread, putting (arrival time, event, data) on ``into``."""

    def read() -> None:
        with urllib.request.urlopen(served.url + "events", timeout=30) as stream:
            ready.set()
            event = ""
            for raw in stream:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    into.put((time.monotonic(), event, line.split(":", 1)[1].strip()))
                    if event == "tasks":
                        return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_bead_pushed_with_plain_git_from_another_clone_is_an_event_within_a_second(town, serve, clone):
    served = serve(town)
    arrived: queue.Queue[tuple[float, str, str]] = queue.Queue()
    _events(served, arrived, threading.Event())
    _, kind, data = arrived.get(timeout=10)  # subscribed: the server saw this stream before the push
    assert kind == "hello" and json.loads(data)["tip"] == town.tip()
    person = clone(town.path, "person")
    stamp = times.iso(time.time())
    write_bead_file(person, {"id": "gt-p0sh1", "title": "pushed by hand", "created_at": stamp, "updated_at": stamp})
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "-m", "add a bead by hand")
    git(person, "push", "--quiet", "origin", "tasks")
    landed = time.monotonic()  # the push's hooks (a Python process each) ran before the ref moved
    when, kind, data = arrived.get(timeout=10)
    latency = when - landed
    assert kind == "tasks" and json.loads(data)["tip"] == town.tip()
    assert latency < 1.0, f"push landed -> event took {latency:.3f}s"
    assert "gt-p0sh1" in served.get("/")[1]


def test_with_host_every_request_needs_the_printed_token(town, serve):
    served = serve(town, "--host", "127.0.0.1")
    assert served.token
    for path in ("/", "/metrics", "/events"):
        status, body, headers = served.get(path)
        assert status == 401 and "token" in body and headers.get("www-authenticate") == "Bearer", path
    assert served.get("/?token=wrong")[0] == 401
    status, _, headers = served.get(f"/?token={served.token}")
    assert status == 200 and f"gt_serve_token={served.token}" in headers["set-cookie"]
    assert served.get("/metrics", {"Authorization": f"Bearer {served.token}"})[0] == 200
    assert served.get("/metrics", {"Authorization": f"bearer {served.token}"})[0] == 200  # any case
    assert served.get("/metrics", {"Authorization": f"Basic {served.token}"})[0] == 401
    assert served.get("/agents", {"Cookie": f"gt_serve_token={served.token}"})[0] == 200


def test_on_loopback_a_request_for_another_host_name_is_refused(town, serve):
    served = serve(town)
    assert served.get("/")[0] == 200
    assert served.get("/", {"Host": f"localhost:{served.url.rsplit(':', 1)[1].strip('/')}"})[0] == 200
    assert served.get("/", {"Host": "evil.example"})[0] == 400  # DNS rebinding reads nothing


def test_a_port_in_use_is_one_line_with_what_to_do(town):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gt_process("--town", str(town.path), "serve", "--port", str(port), timeout=30)
    assert result.code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.err and "--port 0" in result.err
    assert "Traceback" not in result.err


def test_a_bad_town_is_one_line_with_what_to_do(tmp_path):
    result = gt_process("--town", str(tmp_path / "nowhere"), "serve", "--port", "0", timeout=30)
    assert result.code == 5 and "no such directory" in result.err and "hint:" in result.err
    assert "Traceback" not in result.err


def test_the_dag_puts_each_bead_right_of_its_blockers_and_marks_the_longest_unfinished_chain():
    nodes = [
        graph.Node("a", "tests", "done"),
        graph.Node("b", "code", "claimed"),
        graph.Node("c", "docs", "ready"),
        graph.Node("d", "review", "blocked"),
        graph.Node("e", "more code", "blocked"),
    ]
    edges = [
        graph.Edge("a", "b"),
        graph.Edge("a", "c"),
        graph.Edge("b", "e"),
        graph.Edge("e", "d"),
        graph.Edge("c", "d"),
    ]
    place = graph.layout(nodes, edges)
    assert place.columns == {"a": 0, "b": 1, "c": 1, "e": 2, "d": 3}
    assert place.critical == ("a", "b", "e", "d")
    drawn = graph.svg(nodes, edges)
    assert drawn.count('class="edge blocks critical"') == 3 and drawn.count("<a href=") == 5


def test_a_cycle_pushed_past_the_hooks_is_still_drawn():
    nodes = [graph.Node("a", "one", "blocked"), graph.Node("b", "two", "blocked")]
    drawn = graph.svg(nodes, [graph.Edge("a", "b"), graph.Edge("b", "a")])
    assert drawn.count("<a href=") == 2 and drawn.count("<path class=") == 2


def test_importing_the_cli_does_not_load_the_web_stack():
    probe = "import gastown.cli, sys, json; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    heavy = [
        m for m in loaded if m.split(".")[0] in ("starlette", "uvicorn", "sse_starlette", "jinja2", "prometheus_client")
    ]
    assert heavy == []


CHROMIUM = shutil.which("chromium")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_in_a_real_browser_pushes_and_claims_show_up_without_a_reload(town, serve, clone, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    ids = _busy_town(town)
    review = town.add("review combo", role="refinery", convoy=ids["convoy"])
    person = clone(town.path, "person")
    served = serve(town)
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(served.url)
            sync_api.expect(page.locator("#live-state")).to_have_text("live")  # subscribed to /events
            assert page.locator(f'tr[data-convoy="{ids["convoy"]}"]').count() == 1
            page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
            stamp = times.iso(time.time())
            write_bead_file(person, {"id": "gt-br0w5", "title": "seen live", "created_at": stamp, "updated_at": stamp})
            git(person, "add", "-A")
            git(person, "commit", "--quiet", "-m", "add a bead by hand")
            git(person, "push", "--quiet", "origin", "tasks")
            landed = time.monotonic()
            page.locator('tr[data-bead="gt-br0w5"]').wait_for(timeout=5000)
            shown = time.monotonic() - landed
            assert shown < 3.0, f"push landed -> row on the page took {shown:.3f}s"  # bench/serve.py measures it
            assert page.evaluate("window.sameDocument === true")

            page.goto(served.url + f"convoys/{ids['convoy']}")
            sync_api.expect(page.locator("#live-state")).to_have_text("live")
            node = page.locator(f'svg.dag a[data-bead="{review}"]')
            assert node.get_attribute("data-state") == "ready"
            town.queue().claim("refinery", "refinery@browser", lease=600, bead_id=review)
            sync_api.expect(node).to_have_attribute("data-state", "claimed", timeout=5000)
            page.screenshot(path=str(tmp_path / "convoy.png"), full_page=True)

            node.click()  # a node is a plain link to its bead
            page.wait_for_url(f"**/beads/{review}")
            claim_row = page.locator('#timeline tr[data-event="claim"]')
            sync_api.expect(claim_row).to_contain_text("Lease-Expires")
            sync_api.expect(claim_row).to_contain_text("refinery@browser")
            lease = page.locator("span[data-expires]").first  # the lease counts down without a push
            before = lease.text_content()
            sync_api.expect(lease).not_to_have_text(before or "", timeout=3000)
            sync_api.expect(lease).to_contain_text("left")
        finally:
            browser.close()
