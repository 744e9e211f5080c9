"""What a model is shown of a long file: the parts its bead is about whole, an outline of the rest."""

from gastown.agents import focus, merge
from gastown.agents.excerpt import excerpt, without_body


def long_module(count: int = 30) -> str:
    parts = ['"""Words."""', "", "import re", "", "LIMIT = 3", ""]
    for n in range(count):
        parts += [
            "",
            f"def word_{n}(text):",
            f'    """Word number {n}.',
            "",
            "    More about it.",
            '    """',
            "    found = re.findall(r'\\w+', text)",
            f"    return found[{n}] if len(found) > {n} else ''",
            "",
        ]
    return "\n".join(parts) + "\n"


TESTS = (
    """import pytest

from words import word_2, word_5

TABLE_2 = [
    ("a b c", "c"),
    ("x y", ""),
    ("p q r s", "r"),
    ("1 2 3", "3"),
]

TABLE_5 = [
    ("a b c d e f", "f"),
    ("x", ""),
    ("1 2 3 4 5 6", "6"),
    ("q", ""),
]


@pytest.mark.parametrize(("text", "word"), TABLE_2)
def test_word_2(text, word):
    assert word_2(text) == word


@pytest.mark.parametrize(("text", "word"), TABLE_5)
def test_word_5(text, word):
    assert word_5(text) == word
"""
    + "\n".join(f"\n\ndef test_filler_{n}():\n    assert 1 + {n} > 0\n    assert True" for n in range(30))
    + "\n"
)


def test_a_long_module_shows_the_named_function_whole_and_lists_the_others():
    """Shown a module, even outlined, a small model sends the module back; shown the
    function under a list of the rest, it sends the function."""
    source = long_module()
    shown = dict(focus.focus([("words.py", source)], (), (), {"word_7"}))["words.py"]
    assert 'def word_7(text):\n    """Word number 7.\n\n    More about it.' in shown
    assert "return found[7]" in shown and "return found[8]" not in shown
    assert "word_8 (80-86)" in shown and "read_file words.py" in shown  # a long list: names and lines
    assert "\nimport re\n" in shown and "#   LIMIT = 3 (5), " in shown  # what the module sets up
    assert "def word_8" not in shown and len(shown) < len(source) * 0.6
    assert merge.merge(source, shown).text == source  # sent back as shown, it changes nothing
    changed = shown.replace("return found[7]", "return found[-7]")
    assert merge.merge(source, changed).text == source.replace("return found[7]", "return found[-7]")


def test_the_tables_right_above_a_kept_function_are_shown_with_it():
    source = long_module().replace("\ndef word_7(text):", "UNITS = (\n    'k',\n    'M',\n)\n\n\ndef word_7(text):")
    shown = excerpt(source, {"word_7"}, "words.py")
    assert shown is not None and "UNITS = (\n    'k',\n    'M',\n)\n\n\ndef word_7(text):" in shown
    other = excerpt(source, {"word_9"}, "words.py")  # another function's table: listed
    assert other is not None and "UNITS = (" not in other and " UNITS (70-73), " in other


def test_a_method_or_a_class_the_bead_is_about_is_outlined_in_its_class_not_excerpted():
    source = long_module() + "\n\nclass Box:\n    def open(self):\n        return 1\n"
    assert excerpt(source, {"open"}, "words.py") is None
    assert excerpt(source, {"Box"}, "words.py") is None
    assert excerpt(source, {"word_3", "open"}, "words.py") is None


def test_a_short_file_or_one_the_bead_is_not_about_is_shown_whole():
    short = long_module(5)
    assert focus.focus([("words.py", short)], (), (), {"word_1"}) == [("words.py", short)]
    source = long_module()
    assert focus.focus([("words.py", source)], (), (), {"nothing_here"}) == [("words.py", source)]


def test_a_module_getting_a_new_function_is_cut_however_short_to_what_the_tests_call_and_a_list():
    """Shown `wrap` whole above the place for `truncate`, every try of the 1.5B wrapped text
    into lines; shown the others outlined with `...` bodies, it wrote bodies for them. Listed
    in a comment, there is no body to copy and none to fill, and the signatures remain."""
    module = long_module(5)
    tests = "from words import word_2, word_9\n\ndef test_9():\n    assert word_9() == word_2()\n"
    files = [("words.py", module), ("tests/test_words.py", tests)]
    shown = dict(focus.focus(files, ["tests/test_words.py"], [], {"word_1", "word_9"}, adding={"words.py"}))
    cut = shown["words.py"]
    assert cut.startswith("# words.py has") and "#   word_1(text)  (lines" in cut  # named: still only listed
    kept = module[module.index("def word_2(") :].split("\n\n\n")[0]
    assert kept in cut and cut.count("def ") == 1  # what the tests call, whole; nothing else
    assert shown["tests/test_words.py"] == tests
    alone = [("words.py", module), ("tests/test_words.py", "from words import word_9\n")]
    only = dict(focus.focus(alone, ["tests/test_words.py"], [], set(), adding={"words.py"}))["words.py"]
    assert "Shown: its imports" in only and "def " not in only and "import re" in only
    assert merge.merge(module, only + "\n\ndef word_9(text):\n    return text\n").text.startswith(module.rstrip())
    assert dict(focus.focus(files, ["tests/test_words.py"], [], {"word_1"}))["words.py"] == module  # not adding
    long = long_module()  # past OUTLINE_LINES: the same rule, not the named functions kept too
    later = ("tests/test_words.py", tests.replace("word_9", "word_99"))
    cut = dict(focus.focus([("words.py", long), later], ["tests/test_words.py"], [], {"word_1"}, {"words.py"}))
    assert cut["words.py"].count("def ") == 1 and "def word_2(" in cut["words.py"]


def test_a_short_module_getting_a_new_function_beside_a_class_the_tests_use_stays_whole():
    """No excerpt holds a class (see excerpt); outlined, its `...` bodies would be filled in."""
    module = "class Box:\n    def split(self):\n        return []\n\n\ndef wrap(text):\n    return [text]\n"
    tests = "from boxes import Box, pack\n\ndef test_pack():\n    assert pack(Box()) == 'a b'.split()\n"
    files = [("boxes.py", module), ("tests/test_boxes.py", tests)]
    assert dict(focus.focus(files, ["tests/test_boxes.py"], [], set(), adding={"boxes.py"}))["boxes.py"] == module
    calls_a_method = tests.replace("Box, ", "").replace("Box()", "None")  # `.split()` is no call of Box.split
    shown = dict(
        focus.focus(
            [files[0], ("tests/test_boxes.py", calls_a_method)], ["tests/test_boxes.py"], [], set(), {"boxes.py"}
        )
    )
    assert "#   class Box" in shown["boxes.py"] and "def " not in shown["boxes.py"]


def test_a_test_file_keeps_its_acceptance_tests_and_their_tables_and_the_code_what_they_call():
    files = [("test_words.py", TESTS), ("words.py", long_module())]
    shown = dict(focus.focus(files, ("test_words.py::test_word_5",), (), set()))
    tests, code = shown["test_words.py"], shown["words.py"]
    assert "def test_word_5(text, word):\n    assert word_5(text) == word" in tests
    assert '("1 2 3 4 5 6", "6")' in tests  # the table its parametrize uses
    assert "def test_word_2" not in tests and '("p q r s", "r")' not in tests
    assert tests.startswith("# Only the tests of this bead (") and "not shown: 31 other tests, 1 other table." in tests
    counted = int(tests.split("(", 1)[1].split(" of ", 1)[0])
    assert counted == len(tests.splitlines()) - 1  # the lines shown under the header, as many as it says
    assert "return found[5]" in code and "return found[2]" not in code


def test_a_test_file_shows_only_the_imports_its_shown_tests_use_and_none_of_a_left_out_class():
    """toolz's test of thread_last came with 14 names imported from toolz.functoolz (it
    uses one) and five modules it does not use; a class of other tests left its
    commented-out methods behind it."""
    source = (
        (
            "import os\nimport pytest\nfrom words import (word_2, word_5,\n                   word_7)\n"
            "from words import word_9 as nine\n\n\nclass TestOther:\n    def test_x(self):\n        assert os.sep\n\n"
            "    # def test_y(self):\n    #     pass\n\n\n"
            "def test_word_5():\n    with pytest.raises(IndexError):\n        word_5('')\n    assert nine('')\n"
            "\n\nfrom words import word_7 as seven\nCASES = [(seven, 7)]\n\n\n"
            "@pytest.mark.parametrize('f, n', CASES)\ndef test_word_7(f, n):\n    assert f('') == ''\n"
        )
        + "\n".join(f"\n\ndef test_filler_{n}():\n    assert os.sep\n    assert word_2(str({n}))" for n in range(40))
        + "\n"
    )
    picked = ("test_words.py::test_word_5", "test_words.py::test_word_7")
    tests = dict(focus.focus([("test_words.py", source)], picked, (), set()))["test_words.py"]
    assert "\nimport pytest\nfrom words import word_5\nfrom words import word_9 as nine\n" in tests
    assert "import os" not in tests and "word_2" not in tests and "TestOther" not in tests
    assert "from words import word_7 as seven\nCASES = [(seven, 7)]" in tests  # a kept table's import stays
    assert "# def test_y" not in tests and "not shown: 41 other tests, 1 other import." in tests


def test_an_excerpt_does_not_show_an_if_block_for_a_name_only_its_functions_use_inside():
    """toolz's functoolz.py: `if PYPY:` wraps a function whose local `val` is no module
    name; shown because thread_last has a parameter `val`, it was 10 lines of noise."""
    source = long_module().replace(
        "LIMIT = 3\n", "LIMIT = 3\n\nif LIMIT > 2:\n    def patched(val):\n        found = val\n        return found\n"
    )
    shown = excerpt(source, {"word_7"}, "words.py")
    assert shown is not None and "def patched" not in shown and "if LIMIT > 2:" in shown.split("\n\n", 1)[0]


def test_a_whole_test_file_keeps_the_failing_tests_about_what_the_bead_names():
    files = [("test_words.py", TESTS), ("words.py", long_module())]
    failing = ["test_words.py::test_word_2[a b c-c]", "test_words.py::test_word_5[x-]"]
    shown = dict(focus.focus(files, ("test_words.py",), failing, {"word_2"}))
    assert "def test_word_2(text, word):" in shown["test_words.py"]
    assert "def test_word_5" not in shown["test_words.py"]
    assert focus.mentioning(TESTS, failing, {"word_5"}) == ["test_words.py::test_word_5[x-]"]


def test_an_outline_copied_back_whole_changes_nothing_and_one_function_in_it_changes_only_that():
    source = long_module()
    shown = focus.outline(source, {"word_3"})
    copied = shown.split("\n", 1)[1]  # the outline without its note
    assert merge.is_fragment(source, copied)
    assert merge.merge(source, copied).text == source
    changed = copied.replace("return found[3] if len(found) > 3 else ''", "return found[3].upper()")
    merged = merge.merge(source, changed)
    assert merged.replaced == ("word_3",) and "return found[3].upper()" in merged.text
    assert merged.text.count("return found[") == 30  # every other body is still there


def test_test_ids_lose_their_parameters():
    assert focus.test_function("t.py::TestX::test_y[a-b]") == "test_y"
    assert focus.without_params("t.py::test_y[a-[b]]") == "t.py::test_y"


CLASS_TESTS = (
    """import pytest

from words import word_1


@pytest.fixture
def sample():
    return "a b c"


class TestWords:
    def setup_method(self):
        self.ready = True

    def test_one(self, sample):
        assert word_1(sample) == "b"

    def test_other(self):
        assert True
"""
    + "\n".join(f"\n\ndef test_filler_{n}():\n    assert 1 + {n} > 0\n    assert True" for n in range(40))
    + "\n"
)


def test_a_test_in_a_class_keeps_its_class_setup_and_fixtures():
    shown = dict(focus.focus([("test_words.py", CLASS_TESTS)], ("test_words.py::TestWords::test_one",), (), set()))
    tests = shown["test_words.py"]
    assert "class TestWords:\n    def setup_method(self):" in tests
    assert "def test_one(self, sample):" in tests and "def test_other" not in tests
    assert "@pytest.fixture\ndef sample():" in tests  # the fixture the test asks for
    assert "def test_filler_3" not in tests


def test_a_decorated_method_is_outlined_with_its_decorators_once():
    methods = "".join(
        f"\n    @property\n    def p{n}(self):\n        x = {n}\n        y = x\n        return y\n" for n in range(40)
    )
    source = f"class Big:{methods}\n\nclass Child(Big):\n    pass\n"
    shown = focus.outline(source, {"Child", "p3"})  # Big is used by what is kept: outlined
    assert shown.count("@property") == 40 and "return y" in shown
    assert "    @property\n    def p0(self):  # lines 2-6\n        ...\n" in shown


def test_a_table_copied_back_from_an_outline_stays_as_it_was():
    source = "TABLE = [\n" + "".join(f"    {n},\n" for n in range(30)) + "]\n" + long_module()
    shown = focus.outline(source, {"word_1"})
    assert "TABLE = ...  # lines 1-32" in shown
    copied = shown.split("\n", 1)[1]
    assert merge.merge(source, copied).text == source


def helpers(count: int) -> str:
    """Short methods enough to make a class long: what an outline would keep as they are."""
    return "".join(f"\n    def helper{n}(self):\n        return {n}\n" for n in range(count))


def test_a_class_nothing_kept_uses_shows_only_the_methods_the_bead_is_about():
    """A module of many classes (a real library's cache types): the class the tests use and its
    base are outlined as before; every other class shows its line, its docstring and only its
    method of the name the bead names — how a sibling does the same thing — and names the rest."""
    filler = helpers(60)
    source = (
        "class Base:\n    def pop(self, key):\n        return key\n"
        f"{filler}\n\n"
        'class FIFO(Base):\n    """First in, first out."""\n\n    def popitem(self):\n'
        "        return self.pop(next(iter(self.order)))\n\n    def touch(self, key):\n        return key\n\n\n"
        "class Unrelated:\n    def work(self):\n        return 101\n\n    def more(self):\n        return 102\n\n\n"
        "class LRU(Base):\n    def popitem(self):\n        raise NotImplementedError\n"
    )
    shown = focus.outline(source, {"LRU"}, named={"popitem"})
    assert 'class FIFO(Base):\n    """First in, first out."""\n\n    ...  # lines 192-193 not shown: touch' in shown
    assert "return self.pop(next(iter(self.order)))" in shown
    assert "class Unrelated:\n    ...  # lines" in shown and "not shown: work, more" in shown
    assert "return 101" not in shown
    assert "class LRU(Base):\n    def popitem(self):\n        raise NotImplementedError" in shown  # kept whole
    assert "def pop(self, key):" in shown  # Base is what LRU uses: outlined, not hidden
    copied = shown.split("\n", 1)[1]
    assert merge.merge(source, copied).text == source  # an outline sent back changes nothing


def test_with_no_class_kept_the_class_holding_a_kept_method_is_outlined_not_hidden():
    """Tests that reach a class through a fixture keep only its method's name: that class is
    the one the bead is about, and a one-line class stays as it is."""
    filler = helpers(60)
    source = (
        "class Error(Exception): pass\n\n\n"
        f"class Cache:\n    def __init__(self):\n        self.link = Link()\n{filler}\n"
        "    def popitem(self):\n        raise NotImplementedError\n\n\n"
        "class Link:\n    def unlink(self):\n        return None\n"
    )
    shown = focus.outline(source, {"popitem"})
    assert "class Error(Exception): pass" in shown
    assert "def __init__(self):" in shown and "raise NotImplementedError" in shown
    copied = shown.split("\n", 1)[1]
    assert merge.merge(source, copied).text == source


def test_an_excerpt_that_would_hold_every_definition_is_not_made():
    """Sent back whole, it would read as the whole file and lose what it does not show."""
    source = '"""Conv."""\n' + long_module(3).split('"""Words."""', 1)[1] + '\nif __name__ == "__main__":\n    main()\n'
    source += "\n" * 130  # long enough to be cut
    assert excerpt(source, {"word_0", "word_1", "word_2"}, "conv.py") is None


def test_an_excerpt_lists_what_it_does_not_show_and_shows_what_the_function_needs():
    source = (
        '"""Data."""\n\ntry:\n    import simplejson as json\nexcept ImportError:\n    json = None\n\nFAST = False\n\n\n'
        "@cache\nasync def fetch(url: str) -> bytes:\n    return b''\n\n\n"
        "def dump(data):\n    return json.dumps(data)\n\n\n"
        "def later():\n    return 2\n\n\n"
        'if __name__ == "__main__":\n    print(dump({}))\n'
    ) + "\n" * 130
    shown = excerpt(source, {"later", "dump"}, "data.py")
    assert shown is not None
    assert "Shown: dump (lines 16-17), later (lines 20-21)" in shown  # in the file's order, whatever the set's
    assert "except ImportError:\n    json = None" in shown  # dump uses json: where it comes from is shown
    assert "#   FAST = False  (line 8)" in shown
    assert "#   @cache async def fetch(url: str) -> bytes  (lines 11-13)" in shown
    assert '#   if __name__ == "__main__":  (lines 24-25)' in shown
    assert '"""Data."""' not in shown
    assert merge.merge(source, shown).text == source


def test_a_listed_function_is_summed_up_by_its_docstrings_first_sentence_not_its_first_line():
    wrapped = (
        '    """Convert an integer to its ordinal as a string, for example\n'
        '    1 is 1st, 2 is 2nd. It works on negative numbers too.\n    """'
    )
    source = long_module(12).replace('    """Word number 8.\n\n    More about it.\n    """', wrapped) + "\n" * 150
    shown = dict(focus.focus([("words.py", source)], (), (), {"word_7"}))["words.py"]
    assert (
        "word_8(text)  (lines 80-85): Convert an integer to its ordinal as a string, for example 1 is 1st, 2 is 2nd.\n"
        in shown
    )
    rambling = "    " + '"""' + "A very long sentence " * 12 + 'with no end.\n    """'
    shown = dict(focus.focus([("words.py", source.replace(wrapped, rambling))], (), (), {"word_7"}))["words.py"]
    gist = shown.split("word_8(text)", 1)[1].split("\n", 1)[0]
    assert gist.endswith(" …") and "with no end" not in gist and len(gist) < 160


def test_a_long_list_of_what_an_excerpt_leaves_out_names_each_part_and_its_lines_only():
    """toolz's itertoolz.py: 41 left-out functions, each with its signature and gist, were
    2,700 characters of a bug fix's first prompt (~900 tokens, ~15 s of prefill on 2 cores)."""
    shown = dict(focus.focus([("words.py", long_module())], (), (), {"word_7"}))["words.py"]
    listed = shown.split("# Also in it (do not send these back):\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert (
        listed[0] == "#   LIMIT = 3 (5), word_0 (8-14), word_1 (17-23), word_2 (26-32), word_3 (35-41), word_4 (44-50)"
    )
    assert len(listed) == 5 and "Word number" not in shown.split("def word_7", 1)[0]
    assert "word_7 (71" not in "\n".join(listed) and "word_29 (269-275)" in listed[-1]
    assert merge.merge(long_module(), shown.split("\n", 1)[1]).text == long_module()


def test_a_functions_body_is_left_out_below_its_docstring_and_only_of_the_one_named():
    stand_in = "...  # its body, left out here: write it whole"
    source = (
        "import re\n\n\n"
        'def tail(n, seq):\n    """The last n.\n\n    >>> tail(1, "ab")\n    \'b\'\n    """\n'
        "    # the slice\n    return seq[n:]\n\n\n"
        "def head(n, seq): return seq[:n]\n\n\n"
        "def last(seq):\n    return seq[-1]\n\n\n"
        "class Seq:\n    def first(self):\n        return 1\n"
    )
    assert without_body(source, {"tail"}) == (
        source.replace("    # the slice\n    return seq[n:]\n", f"    {stand_in}\n"),
        "tail",
    )
    assert without_body(source, {"last"}) == (source.replace("    return seq[-1]", f"    {stand_in}"), "last")
    assert without_body(source, {"head"}) is None  # its body is on its def line
    assert without_body(source, {"tail", "last"}) is None  # two named: which one is the bug's is not known
    assert without_body(source, {"first"}) is None  # a method: only a module's own functions
    assert without_body(source, {"shout"}) is None and without_body("def (", {"tail"}) is None
    assert without_body('def tail(n, seq):\n    """Only this."""\n', {"tail"}) is None  # nothing to leave out


def test_a_body_left_out_keeps_the_functions_decorators_signature_and_indentation():
    """A decorated inner function, a signature over two lines, a comment above the body,
    tabs: what is left is code that parses, indented as the file is."""
    stand_in = "...  # its body, left out here: write it whole"
    wrapper = (
        "@functools.cache\nasync def wrap(f,\n         g):\n    # the inner one\n"
        "    @functools.wraps(f)\n    def inner(*args):\n        return g(f(*args))\n    return inner\n"
    )
    hidden, name = without_body(wrapper, {"wrap"})
    assert name == "wrap" and hidden == f"@functools.cache\nasync def wrap(f,\n         g):\n    {stand_in}\n"
    tabbed = "def shout(word):\n\treturn word.upper()\n"
    hidden, _ = without_body(tabbed, {"shout"})
    assert hidden == f"def shout(word):\n\t{stand_in}\n"
    for text in (wrapper, tabbed):
        compile(without_body(text, {"wrap", "shout"})[0], "m.py", "exec")


def test_a_kept_class_with_a_kept_method_shows_that_method_and_outlines_its_others():
    """A fix in one method of a long class the bead names: sent the class whole, the 1.5B sent
    all of it back (cachetools' `Cache` for `pop`: 1,504 tokens, 95 s of decode)."""
    source = (
        'class Cache:\n    class _Link:\n        """A link of the order."""\n\n'
        "        def unlink(self):\n            self.next = None\n            return self\n\n"
        "    def __init__(self):\n        self.data = {}\n        self.size = 0\n        self.limit = 9\n"
        f"{helpers(60)}\n"
        "    def pop(self, key):\n        value = self.data[key]\n        return value\n\n"
        "    def clear(self):\n        self.data.clear()\n        self.size = 0\n        return None\n"
    )
    shown = focus.outline(source, {"Cache", "pop"}, named={"pop"})
    assert "    def pop(self, key):\n        value = self.data[key]\n        return value" in shown
    assert "def clear(self):  # lines" in shown and "self.data.clear()" not in shown  # outlined
    assert "def __init__(self):  # lines" in shown
    assert '    class _Link:  # lines 2-7\n        """A link of the order."""\n        ...\n' in shown  # nested
    assert merge.merge(source, shown.split("\n", 1)[1]).text == source  # sent back, it changes nothing
    # the class alone named, or its methods only called by the tests: the bug may be anywhere in it
    whole = focus.outline(source + "\n\ndef other(x):\n" + "    x += 1\n" * 5 + "    return x\n", {"Cache", "pop"})
    assert "self.data.clear()" in whole


def test_an_inherited_tests_class_keeps_its_line_and_setup_and_the_mixin_only_the_test():
    """The class an acceptance test's id names (``owners``) may inherit the test: its line and
    what it sets up are what the test runs with; its own tests are not the bead's. In the
    mixin, the test and the setup stay, helpers of other tests go."""
    tests = (
        "import unittest\nfrom . import Mixin\n\n\nclass LRUTest(unittest.TestCase, Mixin):\n    Cache = dict\n\n"
        "    def setUp(self):\n        self.made = True\n\n"
        + "".join(f"    def test_own_{n}(self):\n        self.assertTrue({n} >= 0)\n\n" for n in range(50))
    )
    ids = ["tests/test_lru.py::LRUTest::test_pop"]  # the id names the class: focus makes it an owner
    shown = dict(focus.focus([("tests/test_lru.py", tests)], ids, [], set()))["tests/test_lru.py"]
    assert "class LRUTest(unittest.TestCase, Mixin):\n    Cache = dict" in shown
    assert "def setUp(self):" in shown and "test_own_" not in shown
    mixin = (
        "class Mixin:\n    def setUp(self):\n        self.ready = 1\n\n"
        "    def test_pop(self):\n        self.assertEqual(1, self.check({1: 1}))\n\n"
        "    def check(self, d):\n        return self._expect(d.pop(1))\n\n"
        "    def _expect(self, value):\n        return value\n\n"
        "    def _test_sizes(self, cache):\n"
        + "        self.assertTrue(cache)\n" * 40
        + "\n"
        + "".join(f"    def test_other_{n}(self):\n        self._test_sizes({n})\n\n" for n in range(40))
    )
    cut = dict(focus.focus([("tests/__init__.py", mixin)], ["tests/__init__.py::Mixin::test_pop"], [], set()))
    shown = cut["tests/__init__.py"]
    assert "def test_pop(self):" in shown and "def setUp(self):" in shown
    assert (
        "def check(self, d):" in shown and "def _expect(self, value):" in shown
    )  # what the test calls, and what that calls
    assert "_test_sizes" not in shown and "test_other" not in shown


def test_an_outlined_function_whose_body_starts_with_a_decorated_def_still_parses():
    """Its summary ended at the inner def's line, after the decorator above it: a dangling
    `@functools.wraps(f)` that no parser takes (and a nested class's, a dangling `@property`)."""
    import ast

    source = (
        "import functools\n\n\ndef deco(f):\n    @functools.wraps(f)\n    def inner(*a):\n        return f(*a)\n\n"
        "    return inner\n\n\nclass Box:\n    class _Link:\n        @property\n        def count(self):\n"
        "            return 0\n\n    def pop(self):\n        return 1\n" + long_module()
    )
    shown = focus.outline(source, {"word_3", "Box", "pop"}, named={"pop"})
    ast.parse(shown.split("\n", 1)[1])
    assert "def deco(f):  # lines 4-9" in shown and "class _Link:  # lines 13-16" in shown
