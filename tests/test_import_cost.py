"""gt runs inside git hooks on every push: what it imports is a tested contract."""

import json
import subprocess
import sys

HEAVY = ("openai", "pynvml", "watchdog", "jsonschema", "httpx", "psutil")


def modules_after(code: str, cwd=None) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_cli_loads_nothing_heavy():
    loaded = modules_after("import gastown.cli")
    assert heavy_in(loaded) == []
    assert "pygit2" not in loaded  # even libgit2 waits until a command touches objects


def test_read_commands_and_hooks_stay_light(town):
    town.add("one")
    for args in (
        ["ready"],
        ["status", "--json"],
        ["claim", "--role", "polecat", "--agent", "a"],
        ["bead", "list"],
    ):
        code = (
            "import contextlib, io\nfrom gastown.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()): assert main({['--town', str(town.path), *args]!r}) == 0"
        )
        assert heavy_in(modules_after(code)) == [], args
    hook = "import io, sys\nfrom gastown.town import hooks\nsys.stdin = io.StringIO('')\nassert hooks.main(['pre-receive']) == 0"
    assert heavy_in(modules_after(hook, cwd=town.git_dir)) == []


def test_a_warm_gt_ready_does_not_load_libgit2(town):
    town.add("one")
    town.gt("ready")  # leaves the index saved for this tip
    code = (
        "import contextlib, io\nfrom gastown.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): assert main({['--town', str(town.path), 'ready']!r}) == 0"
    )
    assert "pygit2" not in modules_after(code)
