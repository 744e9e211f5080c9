"""A suspect line's ask and its reply read as the edit it means (gastown/agents/lineask.py)."""

from __future__ import annotations

from typing import Any

from test_suspects import SHAPES

from gastown.agents import lineask, suspects


def suspect_at(text: str, line: str, header: bool = False) -> suspects.Suspect:
    number = text.splitlines().index(line) + 1
    return suspects.Suspect("shapes.py", number, number, "clamp", header, 1.0)


def test_a_corrected_line_takes_the_lines_indent_and_may_add_a_line():
    faulty = "    return max(low, min(x, low))"
    suspect = suspect_at(SHAPES, faulty)
    edit = lineask.as_edit(suspect, "```python\nreturn max(low, min(x, high))\n```", SHAPES)
    assert edit is not None and edit.name == "edit_file" and edit.source == "line"
    assert SHAPES.replace(edit.arguments["old"], edit.arguments["new"]) == SHAPES.replace("min(x, low)", "min(x, high)")
    two = lineask.as_edit(suspect, "Fixed:\n```\nx = min(x, high)\nreturn max(low, x)\n```", SHAPES)
    assert two is not None
    fixed = SHAPES.replace(two.arguments["old"], two.arguments["new"])
    assert "    x = min(x, high)\n    return max(low, x)\n" in fixed


def test_a_corrected_header_keeps_its_body_and_a_repeated_line_is_edited_where_it_stands():
    header = suspect_at(SHAPES, "    if low > high:", header=True)
    edit = lineask.as_edit(header, '```python\nif low >= high:\n    raise ValueError("x")\n```', SHAPES)
    assert edit is not None
    fixed = SHAPES.replace(edit.arguments["old"], edit.arguments["new"])
    assert fixed == SHAPES.replace("if low > high:", "if low >= high:")
    twice = "def f(x):\n    if x:\n        return 1\n    return 1\n"
    second = suspects.Suspect("m.py", 4, 4, "f", False, 1.0)
    edit = lineask.as_edit(second, "```python\nreturn 2\n```", twice)
    assert edit is not None and twice.count(edit.arguments["old"]) == 1
    assert (
        twice.replace(edit.arguments["old"], edit.arguments["new"])
        == "def f(x):\n    if x:\n        return 1\n    return 2\n"
    )


def test_a_reply_that_is_no_lines_correction_is_read_the_usual_way():
    suspect = suspect_at(SHAPES, "    return max(low, min(x, low))")
    assert lineask.as_edit(suspect, "The fault is in the min call.", SHAPES) is None
    other = "shapes.py\n```python\ndef area(width, height):\n    return width * height\n```"
    assert lineask.as_edit(suspect, other, SHAPES) is None  # not the line's definition
    long = "```python\n" + "x = 1\n" * (suspects.MAX_REPLY_LINES + 1) + "```"
    assert lineask.as_edit(suspect, long, SHAPES) is None
    header = suspect_at(SHAPES, "    if low > high:", header=True)
    assert lineask.as_edit(header, "```python\nreturn low\n```", SHAPES) is None  # no header in it
    same = lineask.as_edit(suspect, "```python\nreturn max(low, min(x, low))\n```", SHAPES)
    assert same is not None and same.arguments["old"] == same.arguments["new"]


def test_the_ask_shows_the_line_and_asks_for_it_alone_naming_no_file():
    header = suspect_at(SHAPES, "    if low > high:", header=True)
    note = lineask.ask(header, SHAPES)
    assert note.startswith("\n## The line at fault\nThis line of `clamp` is the one at fault")
    assert "```python\nif low > high:\n```" in note
    assert "that line alone: its body stays as it is" in note
    assert "shapes.py" not in note  # told a path, the 1.5B sends the whole file under it


def test_a_last_line_without_its_newline_is_edited_where_it_stands_and_a_form_feed_moves_no_line():
    text = "def f(x):\n    if x:\n        return 2\n    return 2"
    last = suspects.Suspect("m.py", 4, 4, "f", False, 1.0)
    edit = lineask.as_edit(last, "```python\nreturn 3\n```", text)
    assert edit is not None and text.count(edit.arguments["old"]) == 1
    assert text.replace(edit.arguments["old"], edit.arguments["new"]) == text[: -len("2")] + "3"
    fed = "def g():\n    y = 1\x0c\n    return y\n"
    assert suspects.Suspect("m.py", 3, 3, "g", False, 1.0).lines(fed) == ["    return y"]


def test_an_elif_stays_one_and_of_two_blocks_the_one_that_changes_the_line_is_taken():
    source = "def f(x):\n    if x > 2:\n        return 1\n    elif x > 1:\n        return 2\n"
    elif_line = suspects.Suspect("m.py", 4, 4, "f", True, 1.0)
    edit = lineask.as_edit(elif_line, "```python\nif x >= 1:\n```", source)
    assert edit is not None and "    elif x >= 1:\n" in source.replace(edit.arguments["old"], edit.arguments["new"])
    both = "Before:\n```python\nelif x > 1:\n```\nAfter:\n```python\nelif x > 0:\n```"
    edit = lineask.as_edit(elif_line, both, source)
    assert edit is not None and "    elif x > 0:\n" in source.replace(edit.arguments["old"], edit.arguments["new"])


PAIRS = '''"""Two classes with a method of one name."""


class Low:
    def __getitem__(self, pair):
        """The pair's low end."""
        return pair[0]


class High:
    def __getitem__(self, pair):
        """The pair's high end."""
        return pair[0]
'''


BITS = """class Bits:
    def __getitem__(self, k):
        if k < 0:
            k += self.len - 1
        shift = self.len - k
        mask = (1 <<
                shift)
        return bool(self.val & mask)
"""
HEADER = suspects.Suspect("bits.py", 3, 3, "Bits.__getitem__", True, 1.0)


def fixed(suspect: suspects.Suspect, reply: str, text: str = BITS) -> str:
    """``text`` with the edit ``reply`` means in it."""
    edit = lineask.as_edit(suspect, reply, text)
    assert edit is not None and text.count(edit.arguments["old"]) == 1
    return text.replace(edit.arguments["old"], edit.arguments["new"])


def test_a_header_sent_back_as_it_was_over_its_body_corrected_is_the_edit_of_them_both():
    """In runs B1 and B2, `bits-index`'s `if k < 0:` got `if k < 0:` over `k += self.len`,
    the fix in its body, and was read as the header as it was."""
    assert fixed(HEADER, "```python\nif k < 0:\n    k += self.len\n```") == BITS.replace("self.len - 1", "self.len")
    # as it was, then corrected: the block that changes the code is taken
    twice = "```python\nif k < 0:\n    k += self.len - 1\n```\nshould be\n```python\nif k < 0:\n    k += self.len\n```"
    assert fixed(HEADER, twice) == BITS.replace("self.len - 1", "self.len")
    # on past the body, to a shallower line; each line at the indent of the line it stands for
    on = "```python\nif k < 0:\n    k += self.len - 1\nshift = self.len - k - 1\n```"
    assert fixed(HEADER, on) == BITS.replace("shift = self.len - k\n", "shift = self.len - k - 1\n")
    tabbed = BITS.replace("    ", "\t")
    assert fixed(HEADER, "```python\nif k < 0:\n    k += self.len\n```", tabbed) == tabbed.replace("len - 1", "len")


def test_lines_under_a_header_sent_back_as_it_was_are_read_only_where_each_stands_for_the_modules_line():
    for reply in (
        "```python\nif k < 0:\n    raise IndexError(k)\n```",  # not like the line there
        "```python\nif k < 0:\n    k += self.len - 1\n    shift = self.len - k - 1\n```",  # not its shape
        "```python\nif k < 0:\n    k += (self.len - 1\n```",  # like it, but the module would not compile
        "```python\nif k < 0:\n    k += self.len - 1\n```",  # the body as it was too
    ):
        assert fixed(HEADER, reply) == BITS, reply  # the header alone, as it was
    three = "def f(k):\n    if k:\n        x = 1\n        y = 2\n        z = 3\n    return x + y + z\n"
    header = suspects.Suspect("f.py", 2, 2, "f", True, 1.0)
    assert fixed(header, "```python\nif k:\n    x = 1\n    z = 3\n```", three) == three  # y left out: not read
    # another line's further lines are new code put after it, as the ask invites, however like
    line = suspects.Suspect("bits.py", 5, 5, "Bits.__getitem__", False, 1.0)
    added = fixed(line, "```python\nshift = self.len - k\nmask = (2 <<\n```")
    assert "shift = self.len - k\n        mask = (2 <<\n        mask = (1 <<\n" in added


def test_a_reply_is_answered_at_its_first_block_that_is_not_the_line_as_it_was():
    corrected = "```python\nif k <= 0:\n```"
    assert lineask.answered(HEADER, BITS, f"Here:\n{corrected}\nThis compares") == f"Here:\n{corrected}\n"
    as_it_was = "```python\n    if k < 0:\n```\nshould be\n"
    assert lineask.answered(HEADER, BITS, as_it_was) is None
    assert lineask.answered(HEADER, BITS, as_it_was + corrected + " and") == as_it_was + corrected + "\n"
    assert lineask.answered(HEADER, BITS, "```python\nif k <= 0:\n``") is None  # not closed yet


def test_a_line_answered_with_its_method_whole_is_that_methods_edit_in_its_own_class():
    """C15's `LRUCache.__getitem__` line got its method back whole with the fix in it, which
    the usual reading could not place: five classes there have a `__getitem__`."""
    number = len(PAIRS.splitlines())  # High's `return pair[0]`, the last line
    line = suspects.Suspect("pairs.py", number, number, "High.__getitem__", False, 1.0)
    fixed = PAIRS[: PAIRS.rindex("pair[0]")] + "pair[1]\n"
    bare = "```python\ndef __getitem__(self, pair):\n    return pair[1]\n```"
    under_its_path = "pairs.py\n```python\n    def __getitem__(self, pair):\n        return pair[1]\n```\nFixed."
    for reply in (bare, under_its_path):
        edit = lineask.as_edit(line, reply, PAIRS)
        assert edit is not None and edit.name == "edit_file" and PAIRS.count(edit.arguments["old"]) == 1
        assert PAIRS.replace(edit.arguments["old"], edit.arguments["new"]) == fixed  # its docstring kept
    as_it_was = lineask.as_edit(line, "```python\ndef __getitem__(self, pair):\n    return pair[0]\n```", PAIRS)
    assert as_it_was is not None and as_it_was.arguments["old"] == as_it_was.arguments["new"]
    added = lineask.as_edit(
        line, "```python\ndef __getitem__(self, pair):\n    pair = pair[::-1]\n    return pair[0]\n```", PAIRS
    )
    assert added is not None  # a line added, none changed
    assert PAIRS.replace(added.arguments["old"], added.arguments["new"]) == PAIRS[: PAIRS.rindex("        return")] + (
        "        pair = pair[::-1]\n        return pair[0]\n"
    )
    assert lineask.as_edit(line, "```python\ndef get(self, pair):\n    return pair[1]\n```", PAIRS) is None
    static = "class Queue:\n    pass\n\n\nclass Sorted(Queue):\n    @staticmethod\n    def pop(items):\n        return items.pop()\n"
    first = suspects.Suspect("queues.py", 8, 8, "Sorted.pop", False, 1.0)
    edit = lineask.as_edit(first, "```python\ndef pop(items):\n    return items.pop(0)\n```", static)
    assert edit is not None  # its decorator kept: the ask showed the line, not the decorator
    assert static.replace(edit.arguments["old"], edit.arguments["new"]) == static.replace("pop()", "pop(0)")
    low = "```python\nclass Low:\n    def __getitem__(self, pair):\n        return pair[1]\n```"
    assert lineask.as_edit(line, low, PAIRS) is None  # a class is no answer to a line


def test_a_line_answered_with_its_function_whole_is_that_functions_edit():
    line = suspect_at(SHAPES, "    return max(low, min(x, low))")
    checked = '    if low > high:\n        raise ValueError("low above high")\n'
    whole = f"shapes.py\n```python\ndef clamp(x, low, high):\n{checked}    return max(low, min(x, high))\n```"
    edit = lineask.as_edit(line, whole, SHAPES)
    assert edit is not None
    assert SHAPES.replace(edit.arguments["old"], edit.arguments["new"]) == SHAPES.replace("min(x, low)", "min(x, high)")
    longer = f"```python\ndef clamp(x, low, high):\n{checked}    high = max(high, low)\n    return max(low, min(x, high))\n```"
    edit = lineask.as_edit(line, longer, SHAPES)
    assert edit is not None
    assert SHAPES.replace(edit.arguments["old"], edit.arguments["new"]) == SHAPES.replace(
        "    return max(low, min(x, low))", "    high = max(high, low)\n    return max(low, min(x, high))"
    )


def applied(text: str, owner: str, line: int, reply: str) -> str | None:
    """``text`` with the edit ``reply`` means for ``owner``'s line ``line`` made; None for no edit."""
    edit = lineask.as_edit(suspects.Suspect("m.py", line, line, owner, False, 1.0), reply, text)
    if edit is None:
        return None
    assert text.count(edit.arguments["old"]) == 1
    return text.replace(edit.arguments["old"], edit.arguments["new"])


def block(code: str) -> str:
    return f"```python\n{code}\n```"


def test_a_definition_sent_for_its_line_changes_that_definition_alone_laid_out_as_its_module_is():
    prop = (
        "class C:\n    @property\n    def x(self):\n        return self._x\n\n"
        "    @x.setter\n    def x(self, value):\n        self._x = -value\n"
    )
    setter = applied(prop, "C.x", 8, block("def x(self, value):\n    self._x = value"))
    assert setter == prop.replace("-value", "value")  # the setter's line: the setter, its decorator kept
    for indent in ("  ", "\t"):  # the class's own indent: its method as sent under it
        source = f"class A:\n{indent}def f(self):\n{indent * 2}return 1\n\n{indent}def g(self):\n{indent * 2}return 2\n"
        fixed = applied(source, "A.f", 3, block("def f(self):\n    return 3"))
        assert fixed is not None and fixed.endswith(f"return 3\n\n{indent}def g(self):\n{indent * 2}return 2\n")
        scope: dict[str, Any] = {}
        exec(fixed, scope)
        assert scope["A"]().f() == 3
    shorter = "def f(x):\n    y = x\n    y = y + 1\n    return y\n"
    assert applied(shorter, "f", 3, block("def f(x):\n    y = x\n    return y")) == shorter.replace(
        "    y = y + 1\n", ""
    )
    two = "Before:\n" + block("def f(x):\n    y = x\n    y = y + 1\n    return y") + "\nAfter:\n"
    two += block("def f(x):\n    y = x\n    y = y + 2\n    return y")
    assert applied(shorter, "f", 3, two) == shorter.replace("+ 1", "+ 2")  # the block that changes it
    nested = "def helper(x):\n    return x\n\n\ndef outer(x):\n    def helper(y):\n        return y + 1\n    return helper(x)\n"
    assert applied(nested, "outer.helper", 7, block("def helper(y):\n    return y + 2")) is None  # not the top one's
    fed = "import os\n\x0c\n\nclass A:\n    def f(self):\n        return 1\n"
    assert applied(fed, "A.f", 6, block("def f(self):\n    return 2")) == fed.replace("return 1", "return 2")
