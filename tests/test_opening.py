"""The start of a reply that adds one function: when a bead gets one, and what it holds."""

from gastown.agents.checks import CODE_NAME_RE
from gastown.agents.opening import asked_of, described, opening, signature_in, stub_headers

WRAP = '''"""Wrapping."""


def wrap(text: str, width: int = 70) -> list[str]:
    """Lines of at most width."""
    return text.split()
'''

HOLES = '''"""Numbers."""
import functools


@functools.cache
def ordinal(
    value: int,
    gender: str = "male",
) -> str:
    """The ordinal of value.

    Long docstring.
    """
    raise NotImplementedError


def apnumber(value: int) -> str: ...


class Cache:
    """A cache."""

    def popitem(self) -> tuple[str, int]:
        """Remove and return the least used item."""
        pass

    def clear(self) -> None:
        self.data = {}
'''

TRUNCATE = 'Add `truncate(text: str, width: int, placeholder: str = " [...]") -> str` to textkit/wrap.py.'


def test_a_signature_is_read_from_the_beads_text_when_it_is_a_valid_def_line():
    signature = 'truncate(text: str, width: int, placeholder: str = " [...]") -> str'
    assert signature_in(["Title", TRUNCATE], "truncate") == signature
    assert signature_in(["`def truncate(text: str) -> str:` and more"], "truncate") == "truncate(text: str) -> str"
    assert signature_in(["`truncate(text,\n    width: int)`"], "truncate") == "truncate(text, width: int)"
    assert signature_in(["`truncate(text, width`) and `truncate(text: str)`"], "truncate") == "truncate(text: str)"
    assert signature_in(["truncate(text: str) without backticks", "`truncated(x: str)`"], "truncate") is None
    assert signature_in(["`truncate(text: str) -> 'a`b'`"], "truncate") is None  # not a def line
    assert signature_in(["`truncate(text, width=10)` gives 'some...'"], "truncate") is None  # a call, not a signature
    assert signature_in(["`Parser(source: str)`"], "Parser") is None  # a class: its signature is its __init__'s


def test_a_stubs_header_is_its_decorators_def_lines_and_docstring():
    assert stub_headers(HOLES, {"ordinal"}) == [
        '@functools.cache\ndef ordinal(\n    value: int,\n    gender: str = "male",\n) -> str:\n'
        '    """The ordinal of value.\n\n    Long docstring.\n    """'
    ]
    assert stub_headers(HOLES, {"popitem", "clear"}) == [
        'class Cache:\n    def popitem(self) -> tuple[str, int]:\n        """Remove and return the least used item."""'
    ]  # a method under its class's header; clear has a body
    only = 'def only(x: int) -> int:\n    """Only a docstring."""\n'
    assert stub_headers(only, {"only"}) == ['def only(x: int) -> int:\n    """Only a docstring."""']
    inline = 'def inline(x: int) -> int:\n    """Doc."""; raise NotImplementedError\n'
    assert stub_headers(inline, {"inline"}) == ["def inline(x: int) -> int:"]  # its body on the docstring's line
    one_line = 'def one(\n    x: int,\n) -> int: """Doc."""\n'
    assert stub_headers(one_line, {"one"}) == ["def one(\n    x: int,\n) -> int:"]  # a body below it must parse
    assert stub_headers(HOLES, {"apnumber"}) == ["def apnumber(value: int) -> str:"]  # its body on its def line
    commented = "class Cache(\n    dict,\n):\n    def popitem(self):\n        # TODO\n        pass\n"
    assert stub_headers(commented, {"popitem"}) == ["class Cache(\n    dict,\n):\n    def popitem(self):"]
    assert stub_headers(HOLES, {"wrap"}) == [] and stub_headers("def (", {"wrap"}) == []
    hook = "class Timed:\n    def expire(self):\n        raise NotImplementedError\n\n\nclass TTL(Timed):\n    def expire(self):\n        return []\n"
    assert stub_headers(hook, {"expire"}) == []  # a hook its subclass fills, not a hole (cachetools' _TimedCache)


def test_one_function_the_tests_import_that_the_module_lacks_opens_the_reply():
    files = [("textkit/wrap.py", WRAP)]
    absent = [("textkit/wrap.py", "truncate")]
    start = 'def truncate(text: str, width: int, placeholder: str = " [...]") -> str:'
    assert opening([TRUNCATE], files, absent, [], {"truncate"}) == ("textkit/wrap.py", start)
    assert opening(["Add truncate to wrap.py"], files, absent, [], {"truncate"}) is None  # no signature
    assert opening([TRUNCATE], [], absent, [], {"truncate"}) is None  # a module the prompt does not show
    two = [*absent, ("textkit/wrap.py", "shorten")]
    assert opening([TRUNCATE + " and `shorten(text: str) -> str`"], files, two, [], set()) is None
    assert opening([TRUNCATE], files, absent, ["textkit/slug.py"], {"truncate"}) is None  # a new module too
    cli = ("textkit/cli.py", "def summary(text):\n    return text\n")
    assert opening([TRUNCATE], [*files, cli], absent, [], {"truncate", "wrap"}) is not None
    assert opening([TRUNCATE], [*files, cli], absent, [], {"truncate", "summary"}) is None  # and a change in cli.py


SLUG = "Create the module textkit/slug.py with `slugify(text: str) -> str` that turns text into a slug."


def test_a_new_module_of_one_function_the_tests_import_opens_the_reply_at_that_function():
    """Asked for a whole new module, the 1.5B's first reply to `slugify` was its test file."""
    created = [("textkit/slug.py", "slugify")]
    start = 'def slugify(text: str) -> str:\n    """Turns text into a slug."""'
    assert opening(["Add slugify", SLUG], [], created, ["textkit/slug.py"], {"slugify"}) == ("textkit/slug.py", start)
    two = [*created, ("textkit/slug.py", "unslug")]
    assert opening([SLUG + " And `unslug(slug: str) -> str`."], [], two, ["textkit/slug.py"], set()) is None
    other = ["textkit/slug.py", "textkit/url.py"]  # a second new module: which to begin is not one function
    assert opening([SLUG], [], created, other, {"slugify"}) is None
    assert opening([SLUG], [], [], ["textkit/slug.py"], {"slugify"}) is None  # the tests import nothing named
    cli = ("textkit/cli.py", "def summary(text):\n    return text\n")
    assert opening([SLUG], [cli], created, ["textkit/slug.py"], {"slugify", "summary"}) is None  # cli.py too


def test_a_signature_sentence_gives_the_docstring_what_follows_the_signature():
    said = [
        ("Add `f(x: int) -> int` that doubles x.", "Doubles x."),
        ("In m.py add `f(x: int) -> int`: the double of x.", "The double of x."),
        ("A function `f(x: int) -> int` returns x twice.", "Returns x twice."),
        ("Add `f(x: int) -> int` to textkit/m.py, next to g().", ""),
        ("Add `f(x: int) -> int` to textkit/m.py: the double of x.", "The double of x."),
        ("Add `f(x: int) -> int` in `m.py`: the double of x.", "The double of x."),
        ("Add `f(x: int) -> int`.", ""),
    ]
    for text, doc in said:
        assert described(["title", text], "f", {"g"}) == (f'\n    """{doc}"""' if doc else ""), text


def test_an_example_call_and_a_neighbour_that_serves_a_parameter_stay_in_the_docstring():
    """toolz's `topk` bead ("Add `topk(k: int, seq, key=None) -> tuple` to toolz/itertoolz.py:
    the k largest ... `topk(2, [1, 100, 10, 1000])` is `(1000, 100)`. key is ... an index that
    `getter(key)` turns into one.") was begun with its last sentence alone: the first went
    with "to PATH", the example was read as a signature, and `getter` as the work around it.
    A neighbour named but not given a parameter is still the work around it."""
    text = (
        "Add `topk(k: int, seq, key=None) -> tuple` to toolz/itertoolz.py: the k largest items. "
        "`topk(2, [1, 100])` is `(100, 1)`. key may be an index that `getter(key)` turns into a "
        "function. Keep `getter` as it is. Keep getter() as it is for any key."
    )
    doc = described(["Add topk", text], "topk", {"getter"})
    assert doc == (
        '\n    """The k largest items. `topk(2, [1, 100])` is `(100, 1)`. key may be an index that\n'
        '    `getter(key)` turns into a function.\n    """'
    )
    assert signature_in(["Add topk", text], "topk") == "topk(k: int, seq, key=None) -> tuple"


def test_one_stub_the_bead_names_opens_the_reply_and_a_function_with_a_body_does_not():
    files = [("num/number.py", HOLES), ("num/wrap.py", WRAP)]
    header = '@functools.cache\ndef ordinal(\n    value: int,\n    gender: str = "male",\n) -> str:'
    header += '\n    """The ordinal of value.\n\n    Long docstring.\n    """'
    assert opening(["Implement `ordinal`"], files, [], [], {"ordinal"}) == ("num/number.py", header)
    assert opening(["Fix `wrap`"], files, [], [], {"wrap"}) is None  # a fix: the model would send it back
    assert opening(["`ordinal` and `popitem`"], files, [], [], {"ordinal", "popitem"}) is None  # two holes
    assert opening(["Implement ordinal"], [("README.md", HOLES)], [], [], {"ordinal"}) is None


def test_a_new_functions_start_ends_with_a_docstring_of_what_the_bead_says_and_no_examples():
    """A code model writes a body best below a statement of what it does: `truncate`'s fresh
    tries, shown only the def line below `wrap`, wrapped text into lines every time. Its tests'
    calls as doctest examples made half the samples a placeholder body."""
    description = (
        "Add `truncate(text: str, width: int) -> str` to textkit/wrap.py, next to wrap(). "
        "Text that fits is returned whole, whitespace collapsed; otherwise whole words and "
        "the placeholder. textwrap.shorten behaves like this. Keep wrap() as it is. "
        "The tests are in tests/test_truncate.py."
    )
    files = [("textkit/wrap.py", WRAP)]
    absent = [("textkit/wrap.py", "truncate")]
    _, start = opening(["Add truncate", description], files, absent, [], {"truncate"})
    assert start == (
        "def truncate(text: str, width: int) -> str:\n"
        '    """Text that fits is returned whole, whitespace collapsed; otherwise whole words and\n'
        "    the placeholder. textwrap.shorten behaves like this.\n"
        '    """'
    )
    compile(start + "\n    return text\n", "wrap.py", "exec")  # a def a body can follow
    # nothing to say: the def line alone
    assert opening(["Add truncate", TRUNCATE], files, absent, [], {"truncate"}) == (
        "textkit/wrap.py",
        'def truncate(text: str, width: int, placeholder: str = " [...]") -> str:',
    )


def test_a_docstring_keeps_what_the_function_does_and_drops_where_the_work_is():
    text = (
        "Add `truncate(text: str) -> str` to textkit/wrap.py. It cuts text short. Keep wrap() and "
        '`fill` as they are. It counts the words of text. A quote """ or a \\ cannot be shown. '
        "The tests are in `tests/test_truncate.py`. Unlike the README.md says, it is fast."
    )
    doc = described(["Title: cut text short.", text], "truncate", {"wrap", "fill", "words", "text"})
    # neighbours named as words (text, words) are not calls of them: those sentences stay
    assert doc == '\n    """It cuts text short. It counts the words of text."""'
    long = " ".join(f"Sentence {n} says a little more about it." for n in range(40))
    kept = described(["t", long, "A short last one."], "truncate", set())
    assert 600 < len(kept) < 760 and "A short last one." not in kept  # the limit ends every text
    assert described(["Only a title"], "truncate", set()) == ""


def test_what_the_bead_asks_of_a_function_is_its_first_sentence_naming_it_as_code():
    text = (
        "Two changes. In textkit/stats.py add `reading_time(text: str) -> int`: the minutes, "
        'rounded up. In textkit/cli.py make summary() add a line "reading time: N min" (N from '
        "reading_time) after the average word length line. Keep summary() short."
    )
    texts = ["summary shows the reading time", text]
    assert asked_of(texts, "summary", CODE_NAME_RE) == (
        'In textkit/cli.py make summary() add a line "reading time: N min" (N from reading_time) '
        "after the average word length line."
    )
    assert asked_of(texts, "reading_time", CODE_NAME_RE).startswith("In textkit/stats.py add `reading_time(")
    assert asked_of(["a title naming `wrap`", "Fix `textkit.wrap.wrap` for exact widths."], "wrap", CODE_NAME_RE) == (
        "Fix `textkit.wrap.wrap` for exact widths."
    )
    assert asked_of(texts, "main", CODE_NAME_RE) == ""  # not named: nothing to quote
    assert asked_of(["summary()", ""], "summary", CODE_NAME_RE) == ""  # the title is not a sentence of the bead's
    assert asked_of(["t", f"Make summary() {'longer ' * 80}."], "summary", CODE_NAME_RE) == ""  # too long to quote
