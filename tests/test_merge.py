"""A fragment of a module laid over the module: what is replaced, added and kept."""

import pytest

from gastown.agents import docstrings, merge, stubs

MODULE = '''"""Names."""

from __future__ import annotations

import re

SEPARATOR = " "


class Name:
    """A person's name."""


@property
def first(name):
    return name.split()[0]


def last(name):
    return name.split()[-1]
'''


def test_a_whole_module_is_not_a_fragment_and_neither_is_code_that_does_not_compile():
    assert not merge.is_fragment(MODULE, MODULE.replace('" "', '"-"'))
    assert not merge.is_fragment(MODULE, "def last(:\n")
    assert not merge.is_fragment(MODULE, "SEPARATOR = '-'\n")  # defines no function or class: not a fragment


def test_a_replaced_function_loses_its_old_decorators_and_keeps_its_place():
    merged = merge.merge(MODULE, "def first(name):\n    return name.split()[0].title()\n")
    assert merged.replaced == ("first",) and merged.added == () and merged.kept == ("Name", "last")
    assert "@property" not in merged.text
    assert merged.text.index("class Name") < merged.text.index("def first") < merged.text.index("def last")
    compile(merged.text, "names.py", "exec")


def test_new_imports_go_after_the_old_ones_and_a_future_import_is_not_moved_below_them():
    fragment = "from __future__ import annotations\nimport re\nimport string\n\n\ndef initials(name):\n    return ''\n"
    merged = merge.merge(MODULE, fragment)
    assert merged.added == ("initials",)
    assert merged.text.count("import re") == 1 and merged.text.count("from __future__") == 1
    assert merged.text.index("import re\nimport string\n") < merged.text.index("SEPARATOR")
    assert merged.text.rstrip().endswith("return ''")
    compile(merged.text, "names.py", "exec")


def test_a_module_without_imports_or_docstring_gets_the_fragments_imports_first():
    merged = merge.merge(
        "def a():\n    return 1\n\n\ndef b():\n    return 2\n", "import os\n\n\ndef b():\n    return 3\n"
    )
    assert merged.text == "import os\n\ndef a():\n    return 1\n\n\ndef b():\n    return 3\n"
    assert merged.replaced == ("b",) and merged.kept == ("a",)


def test_a_class_sent_with_only_one_method_keeps_its_other_methods():
    old = (
        "class Cart:\n    def __init__(self):\n        self.items = []\n\n"
        "    def add(self, item):\n        self.items.append(item)\n\n"
        "    def total(self):\n        return 0\n\n\ndef helper():\n    return 1\n"
    )
    new = "class Cart:\n    def total(self):\n        return sum(self.items)\n\n    def count(self):\n        return len(self.items)\n"
    merged = merge.merge(old, new)
    assert merged.replaced == ("Cart",)
    namespace: dict = {}
    exec(compile(merged.text, "cart.py", "exec"), namespace)
    cart = namespace["Cart"]()
    cart.add(2)
    cart.add(3)
    assert cart.total() == 5 and cart.count() == 2 and namespace["helper"]() == 1


def test_a_module_of_one_class_sent_with_one_method_is_a_fragment():
    old = "class Cart:\n    def add(self, item):\n        pass\n\n    def total(self):\n        return 0\n"
    new = "class Cart:\n    def total(self):\n        return 1\n"
    assert merge.is_fragment(old, new)
    assert "def add" in merge.merge(old, new).text


def test_every_function_sent_without_the_constant_they_use_is_a_fragment_that_keeps_it():
    """The 1.5B sent textkit/wrap.py's two functions without ``DEFAULT_WIDTH = 70``; written
    whole, the module no longer imported and the try's next two changes were spent on it."""
    old = (
        '"""Wrapping."""\n\nimport re\n\nDEFAULT_WIDTH = 70\n\n\n'
        "def wrap(text, width=DEFAULT_WIDTH):\n    return re.split(' ', text)\n\n\n"
        "def fill(text, width=DEFAULT_WIDTH):\n    return '\\n'.join(wrap(text, width))\n"
    )
    new = (
        "def wrap(text, width=DEFAULT_WIDTH):\n    return re.split(' +', text)\n\n\n"
        "def fill(text, width=DEFAULT_WIDTH):\n    return '\\n'.join(wrap(text, width))\n"
    )
    assert merge.is_fragment(old, new)
    assert merge.merge(old, new).text == old.replace("re.split(' ', text)", "re.split(' +', text)")
    # a whole module that binds what it uses, or no longer uses the constant, is a whole module
    local = new.replace("width=DEFAULT_WIDTH", "width=70").replace("re.split", "split")
    assert not merge.is_fragment(old, "import re\n\n" + new.replace("DEFAULT_WIDTH", "WIDTH") + "\nWIDTH = 7\n")
    assert not merge.is_fragment(old, "def split(a, b):\n    return [b]\n\n\n" + local)
    assert not merge.is_fragment(old, new.replace("width=DEFAULT_WIDTH", "width=70, re=None"))  # its own re


def test_a_function_sent_without_its_docstring_keeps_the_one_it_had():
    old = 'def a(x):\n    """Add one.\n\n    More.\n    """\n    return x + 1\n\n\nclass C:\n    def m(self):\n        """Em."""\n        return 1\n\n    def n(self):\n        return 2\n'
    merged = merge.merge(old, "def a(x):\n    return x + 2\n\n\nclass C:\n    def m(self):\n        return 5\n")
    assert merged.text == old.replace("return x + 1", "return x + 2").replace("return 1", "return 5")
    # a docstring that is sent replaces the old one
    assert '"""New."""' in merge.merge(old, 'def a(x):\n    """New."""\n    return x\n').text


def test_a_kept_docstring_loses_no_text_and_one_on_the_def_line_is_not_copied():
    old = 'def a(x):\n    """Add one.\n\ncol0 text\n    """\n    return x + 1\n\n\ndef b(y):  """B."""; return y\n'
    merged = merge.merge(old, "def a(x):\n    return x + 2\n")
    assert "col0 text" in merged.text and "return x + 2" in merged.text
    merged = merge.merge(old, "def b(y):\n    return y * 2\n")
    assert merged.text.endswith("def b(y):\n    return y * 2\n")


CACHES = '''"""Caches."""

import collections


class Cache:
    def __init__(self):
        self.data = {}

    def popitem(self):
        """Remove and return any pair."""
        return self.data.popitem()


class LRUCache(Cache):
    """Least recently used first."""

    def __init__(self):
        super().__init__()
        self.__order = collections.OrderedDict()

    def popitem(self):
        """Remove and return the pair least recently used."""
        raise NotImplementedError

    def touch(self, key):
        self.__order[key] = None
'''


def test_a_method_sent_without_its_class_goes_into_the_class_whose_method_is_a_stub():
    fragment = "from caches import Cache\n\n\ndef popitem(self):\n    key = next(iter(self.__order))\n    return key, self.data.pop(key)\n"
    merged = merge.merge(CACHES, fragment)
    assert merged.replaced == ("LRUCache.popitem",) and merged.added == ()
    assert "from caches import Cache" not in merged.text  # the module importing itself: left out
    namespace: dict = {}
    exec(compile(merged.text, "caches.py", "exec"), namespace)  # the mangled name resolves in the class
    cache = namespace["LRUCache"]()
    cache.data.update(a=1, b=2)
    cache.touch("b")
    cache.touch("a")
    assert cache.popitem() == ("b", 2)
    assert '        """Remove and return the pair least recently used."""' in merged.text  # its docstring kept
    assert merged.text.count("def popitem") == 2 and "\ndef popitem" not in merged.text


def test_a_stub_a_subclass_overrides_is_a_hook_not_the_hole_a_method_sent_alone_fills():
    """cachetools' `_TimedCache.expire` raises NotImplementedError and `TTLCache.expire` is the
    real one: a fix of `expire` sent without its class must not land in the base."""
    hook = CACHES.replace(
        '        """Remove and return any pair."""\n        return self.data.popitem()',
        "        raise NotImplementedError",
    )
    hook = hook.replace(
        '        """Remove and return the pair least recently used."""\n        raise NotImplementedError',
        "        return self.data.popitem()",
    )
    with pytest.raises(merge.Ambiguous, match="Cache, LRUCache each have one"):
        merge.merge(hook, "def popitem(self):\n    return None\n")


def test_a_method_two_classes_could_own_is_refused_with_their_names():
    both = CACHES.replace("        return self.data.popitem()", "        raise NotImplementedError")
    with pytest.raises(merge.Ambiguous, match="Cache, LRUCache each have one"):
        merge.merge(both, "def popitem(self):\n    return None\n")
    assert merge.merge(both, "def popitem(item):\n    return item\n").added == ("popitem",)  # no self: a function


def test_a_placed_method_keeps_what_its_multiline_strings_say():
    fragment = 'def popitem(self):\n    text = """one\ntwo"""\n    return text\n'
    merged = merge.merge(CACHES, fragment)
    namespace: dict = {}
    exec(compile(merged.text, "caches.py", "exec"), namespace)
    assert namespace["LRUCache"]().popitem() == "one\ntwo"


THREADS = """from functools import reduce


def thread_first(val, *forms):
    def evalform_front(val, form):
        if callable(form):
            return form(val)
        func, args = form[0], form[1:]
        return func(val, *args)

    return reduce(evalform_front, forms, val)


def thread_last(val, *forms):
    def evalform_back(val, form):
        if callable(form):
            return form(val)
        func, args = form[0], form[1:]
        args = (val,) + args
        return func(*args)

    return reduce(evalform_back, forms, val)
"""
FIXED_INNER = "def evalform_back(val, form):\n    if callable(form):\n        return form(val)\n    func, args = form[0], form[1:]\n    return func(*args, val)\n"


def test_a_function_nested_in_one_of_the_modules_sent_alone_replaces_that_one():
    assert merge.is_fragment(THREADS, FIXED_INNER)
    merged = merge.merge(THREADS, FIXED_INNER)
    assert merged.replaced == ("thread_last.evalform_back",) and merged.added == ()
    assert merged.kept == ("thread_first",)
    namespace: dict = {}
    exec(compile(merged.text, "threads.py", "exec"), namespace)
    assert namespace["thread_last"]([1, 2], (map, str), list) == ["1", "2"]
    assert namespace["thread_first"](5, (divmod, 3)) == (1, 2)  # the other nested function as it was
    assert merge.homes(THREADS) == {"thread_first", "thread_last", "evalform_front", "evalform_back"}


def test_a_nested_name_shared_sent_with_its_function_or_with_other_parameters_is_no_inner_replacement():
    twice = THREADS.replace("evalform_front", "evalform_back")
    assert merge.merge(twice, FIXED_INNER).added == ("evalform_back",)  # whose? neither: added, as before
    assert "evalform_back" not in merge.homes(twice)
    with_outer = FIXED_INNER + "\n\ndef thread_last(val, *forms):\n    return val\n"
    merged = merge.merge(THREADS, with_outer)
    assert merged.replaced == ("thread_last",) and merged.added == ("evalform_back",)
    helper = "def evalform_back(text, sep=';'):\n    return text.split(sep)\n"  # other parameters: a new function
    assert merge.merge(THREADS, helper).added == ("evalform_back",)
    deeper = "def outer(x):\n    def middle(y):\n        def inner(z):\n            return z\n\n        return inner(y)\n\n    return middle(x)\n"
    assert merge.homes(deeper) == {"outer", "middle"}  # a function inside a nested one is no fragment's to send
    assert merge.merge(deeper, "def inner(z):\n    return -z\n").added == ("inner",)
    unchanged = "def evalform_back(val, form):\n    if callable(form):\n        return form(val)\n    func, args = form[0], form[1:]\n    args = (val,) + args\n    return func(*args)\n"
    assert merge.merge(THREADS, unchanged).text == THREADS  # sent back as it was: no change


PROPERTY = '''class Box:
    def __init__(self):
        self._size = 0

    @property
    def size(self):
        """How much it holds."""
        return self._size

    @size.setter
    def size(self, value):
        raise NotImplementedError
'''


def test_a_setter_sent_alone_replaces_the_setter_not_the_getter():
    merged = merge.merge(PROPERTY, "@size.setter\ndef size(self, value):\n    self._size = value\n")
    namespace: dict = {}
    exec(compile(merged.text, "box.py", "exec"), namespace)
    box = namespace["Box"]()
    box.size = 3
    assert box.size == 3 and merged.text.count("@property") == 1


def test_a_loose_method_beside_its_own_class_or_copied_from_an_outline_is_never_lost_quietly():
    with pytest.raises(merge.Ambiguous, match="this reply sends that class too"):
        merge.merge(CACHES, "class LRUCache(Cache):\n    pass\n\n\ndef popitem(self):\n    return 42\n")
    elided = 'def touch(self, key):\n    """Mark it."""\n    ...\n'  # an outline's summary: unchanged
    assert merge.merge(CACHES, elided).text == CACHES


def test_an_attribute_of_the_methods_name_is_no_stub_to_fill():
    source = "class A:\n    size = None\n\n\nclass B:\n    def size(self):\n        return 1\n"
    with pytest.raises(merge.Ambiguous, match="A, B each have one"):
        merge.merge(source, "def size(self):\n    return 2\n")


def test_placeholders_are_called_functions_and_methods_with_nothing_but_a_stand_in_body():
    text = """
def todo():
    \"\"\"Later.\"\"\"
    pass


def elided():
    ...


def hole(x):
    raise NotImplementedError("soon")


def real(x):
    return x


def unused():
    pass


class Cache:
    def get(self, key):
        raise NotImplementedError

    def size(self):
        return 0


def run():
    todo(), elided(), hole(1), real(2), Cache().get(3)
"""
    assert stubs.placeholders(text) == {"todo", "elided", "hole", "Cache.get"}
    assert stubs.placeholders("def broken(:\n") == set()
    # what the tests import counts as called: the bead's own function answered with its docstring
    asked = 'def truncate(text, width):\n    """Cut text to width."""\n    # Your code here\n'
    assert stubs.placeholders(asked) == set() and stubs.placeholders(asked, {"truncate"}) == {"truncate"}
    method = "class Base:\n    def truncate(self):\n        pass\n"  # the tests' truncate is another: a function
    assert stubs.placeholders(method, {"truncate"}) == set()
    meant = """
import abc
from typing import Generic, Protocol, TypeVar, overload

T = TypeVar("T")


@overload
def f(x: int) -> int: ...


class Base(abc.ABC):
    def run(self):
        raise NotImplementedError


class Meta(metaclass=abc.ABCMeta):
    def go(self):
        raise NotImplementedError


class Reader(Protocol[T]):
    def read(self) -> T: ...


class Plugin:
    @abc.abstractmethod
    def load(self):
        pass


def use(x):
    f(1), x.run(), x.go(), x.read(), x.load()
"""
    assert stubs.placeholders(meant) == set()  # bodies meant to be empty
    assert stubs.functions(meant) >= {"f", "use", "Base.run", "Plugin.load"}


def test_a_class_attribute_sent_back_in_its_class_leaves_the_class_docstring_alone():
    """An attribute was matched by a name it does not have (None), as the docstring is: the
    class came back with its attribute twice and no docstring."""
    source = (
        'class Cache:\n    """A cache."""\n\n    marker = object()\n\n    def pop(self, key):\n        return key\n'
    )
    sent = "class Cache:\n    marker = object()\n\n    def pop(self, key):\n        return None\n"
    assert merge.merge(source, sent).text == source.replace("        return key", "        return None")


def test_a_module_with_a_form_feed_keeps_its_lines_where_its_nodes_are():
    """str.splitlines breaks at a form feed, which Python reads as whitespace: split so, the
    lines a function's node names are a line off, and the merge drops the line before it."""
    module = "import os\n\x0c\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"
    assert merge.merge(module, "def f():\n    return 3\n").text == module.replace("return 1", "return 3")
    assert docstrings.with_docstrings('def f():\n    """F."""\n    return 1\n', "\x0c\ndef f():\n    return 3\n") == (
        '\x0c\ndef f():\n    """F."""\n    return 3\n'
    )
