"""A definition shown only as an outline's stub is not the model's to rewrite unread (gastown/agents/unseen.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_prompts import _polecat_head

from gastown.agents import checks, unseen
from gastown.agents.commands import Run
from gastown.agents.tools import Sandbox
from gastown.town.bead import Bead


def _body(indent: str, n: int) -> str:
    return "".join(f"{indent}x = x + {j}\n" for j in range(n)) + f"{indent}return x"


FUNCTIONS = "\n\n\n".join(f'def f{i}(x):\n    """Function {i}."""\n{_body("    ", 12)}' for i in range(3))
METHODS = "\n\n".join(f'    def m{i}(self, x):\n        """Method {i}."""\n{_body("        ", 12)}' for i in range(8))
# a module past focus.OUTLINE_LINES whose class is past classexcerpt.WHOLE_LINES: outlined,
# its functions as stubs, the class whole
MODULE = f'''"""Module."""


{FUNCTIONS}


class Box:
    """A box."""

    def __init__(self, items):
        self.items = list(items)

{METHODS}

    def last(self):
        """The last item."""
        return self.items[0]
'''
TEST = "from lib.m import Box\n\n\ndef test_last():\n    assert Box([1, 2]).last() == 2\n"


def boxes(root: Path) -> None:
    (root / "lib").mkdir()
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "m.py").write_text(MODULE)
    (root / "tests").mkdir()
    (root / "tests" / "test_m.py").write_text(TEST)


def test_the_first_prompt_names_the_definitions_its_outline_shows_as_stubs(tmp_path):
    boxes(tmp_path)
    argv = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "tests/test_m.py")
    ran = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    bead = Bead(id="b-1", title="`Box` gives its first item as its last", acceptance_tests=("tests/test_m.py",))
    files = ["lib/__init__.py", "lib/m.py", "tests/test_m.py"]
    head = _polecat_head(tmp_path, bead, files, checks.read_run(Run(argv, ran.returncode, ran.stdout + ran.stderr)))
    assert 'def f0(x):  # lines 4-18\n    """Function 0."""\n    ...\n' in head.messages[1]["content"]
    assert head.unseen == (("lib/m.py", frozenset({"f0", "f1", "f2"})),)  # Box is shown whole


def test_a_write_that_fills_in_a_stub_keeps_that_definition_as_the_module_has_it_until_it_is_read(tmp_path):
    """Shown `boltons.mathutils` outlined for a bug in `Bits`, the 1.5B wrote new bodies for
    the stubs `clamp`, `ceil` and `floor` and broke four tests (run B1)."""
    boxes(tmp_path)
    box = Sandbox(tmp_path)
    box.outlined({"lib/m.py": frozenset({"f0", "f1", "f2"})})
    fragment = "def f0(x):\n    return x * 2\n\n\nclass Box:\n    def last(self):\n        return self.items[-1]\n"
    said = box.write_file("lib/m.py", fragment)
    fixed = MODULE.replace("return self.items[0]", "return self.items[-1]")
    assert (tmp_path / "lib" / "m.py").read_text() == fixed  # f0 as it was, the fix in
    assert said.startswith("merged into lib/m.py: replaced Box;")
    told = (
        ". f0 NOT changed: you saw only its outline; read_file lib/m.py start_line=4 end_line=18, then send it again."
    )
    assert said.endswith(told)
    again = box.write_file("lib/m.py", "def f0(x):\n    return x * 2\n")
    assert again == f"no change: lib/m.py is as it was{told}"
    box.read_file("lib/m.py", 1, 10)
    assert box.unseen["lib/m.py"] == frozenset({"f0", "f1", "f2"})  # f0 (lines 4-18) half read
    box.read_file("lib/m.py", 11, 20)  # and the rest of it: read, in two reads
    assert box.unseen["lib/m.py"] == frozenset({"f1", "f2"})
    box.write_file("lib/m.py", "def f0(x):\n    return x * 2\n")
    assert 'def f0(x):\n    """Function 0."""\n    return x * 2\n' in (tmp_path / "lib" / "m.py").read_text()
    now = (tmp_path / "lib" / "m.py").read_text()
    whole = now.replace("    x = x + 11\n    return x\n\n\ndef f2", "    return -x\n\n\ndef f2")  # f1's end
    assert whole != now
    said = box.write_file("lib/m.py", whole)  # the whole module, f1 changed: written whole, f1 kept
    assert (tmp_path / "lib" / "m.py").read_text() == now and said.startswith("no change: lib/m.py is as it was. f1")
    box.outlined({"lib/m.py": frozenset({"f0", "f1", "f2"})})  # a fresh try: what an earlier one read is unread
    assert box.unseen["lib/m.py"] == frozenset({"f0", "f1", "f2"}) and not box.lines_read


def test_only_a_stub_of_code_the_module_has_is_kept_and_only_where_the_write_indents_it_as_the_module_does():
    old = "def f(x):\n    return x + 1\n\n\nclass A:\n    def g(self):\n        return 1\n"
    new = "def f(x):\n    return 0\n\n\nclass A:\n  def g(self):\n    return 2\n"
    text, kept = unseen.restored(old, new, {"f", "A.g"})
    assert kept == (("f", 1, 2),)  # A.g moved: a string's lines would move with it, so it is left as sent
    assert text == "def f(x):\n    return x + 1\n\n\nclass A:\n  def g(self):\n    return 2\n"
    assert unseen.restored(old, new, ()) == (new, ())
    stubbed = "def f(x):\n    ...\n\n\nclass A:\n    def g(self):\n        return 1\n"
    assert unseen.restored(old, stubbed, {"f"}) == (stubbed, ())  # a stub sent back: merge keeps it (merge.py)
    shown = "def f(x):\n    '''F.'''\n    ...\n\n\nclass A:\n    def g(self):\n        ...\n"
    assert unseen.stubs(shown, old) == {"f", "A.g"}
    assert unseen.stubs(shown, stubbed) == {"A.g"}  # f is empty in the module too: the bead's to write
