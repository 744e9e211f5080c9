"""A long module of classes shown as the methods a bug fix is about, in their class."""

from gastown.agents import focus, merge
from gastown.agents.classexcerpt import class_excerpt


def filler(name: str, count: int) -> str:
    """A class of ``count`` short methods: long enough to make the module worth cutting."""
    methods = "".join(f"\n    def helper{n}(self):\n        return {n}\n" for n in range(count))
    return f'class {name}:\n    """{name} things."""\n{methods}'


MODULE = (
    '"""Caches."""\n\nimport collections\nimport time\n\nfrom . import keys\n\n\n'
    "class Cache:\n"
    '    """A cache."""\n\n'
    "    __marker = object()\n\n    __size = None\n\n"
    "    def __init__(self):\n        self.data = {}\n\n"
    "    def pop(self, key, default=__marker):\n"
    "        if key in self.data:\n            return self.data[key]\n"
    "        if default is self.__marker:\n            raise KeyError(key)\n        return default\n\n"
    "    def clear(self):\n        self.data.clear()\n\n\n"
    "class LRU(Cache):\n    def __init__(self):\n        super().__init__()\n"
    "        self.order = collections.OrderedDict()\n\n"
    "    def __getitem__(self, key):\n        self.order.move_to_end(key, last=False)\n        return self.data[key]\n\n\n"
    + filler("Timed", 40)
    + "\n\ndef cached(cache):\n    return cache\n"
)


def test_a_named_method_is_shown_in_its_class_with_what_it_uses_and_the_rest_listed():
    cut = class_excerpt(MODULE, {"Cache", "pop", "clear"}, {"Cache", "pop"}, "caches.py")
    assert cut is not None
    head, code = cut.split("\n\n", 1)[0], cut
    assert "Shown: Cache.pop in its class" in head
    assert "Cache, the rest of it: __size (14), __init__ (16-17), clear (26-27)" in head
    assert "LRU (30-37); Timed (40-" in head and "cached (" in head
    assert "import collections\nimport time\n\nfrom . import keys\n\n\nclass Cache:\n" in code
    assert '    """A cache."""\n\n    __marker = object()\n\n    def pop(self, key, default=__marker):' in code
    assert "__size = None" not in code and "def clear" not in code and "helper3" not in code
    body = "\n".join(line for line in cut.splitlines() if not line.startswith("# "))  # the note is prose
    assert merge.merge(MODULE, body).text == MODULE  # sent back as shown: nothing changes
    fixed = body.replace("            return self.data[key]", "            return self.data.pop(key)")
    merged = merge.merge(MODULE, fixed)
    assert merged.text == MODULE.replace("            return self.data[key]", "            return self.data.pop(key)")


def test_a_class_named_alone_is_shown_whole_and_a_hole_a_guess_or_a_long_class_is_not_cut_here():
    whole = class_excerpt(MODULE, {"LRU", "popitem"}, {"LRU"}, "caches.py")
    assert whole is not None and "Shown: class LRU," in whole
    assert "self.order.move_to_end(key, last=False)" in whole and "def pop(" not in whole
    stub = MODULE.replace("    def clear(self):\n        self.data.clear()", "    def clear(self):\n        ...")
    assert class_excerpt(stub, {"Cache", "clear"}, {"clear"}) is None  # a hole: its siblings help
    twice = MODULE.replace(
        "    def helper3(self):", "    def pop(self, key):\n        return key\n\n    def helper3(self):"
    )
    assert class_excerpt(twice, {"pop"}, {"pop"}) is None  # which class's pop?
    called = class_excerpt(MODULE, {"Cache", "pop"}, set())  # the tests call pop; the bead names the class
    assert called is not None and "Shown: class Cache," in called and "def clear(self):" in called


def test_a_long_module_the_bead_names_a_method_of_is_cut_to_it_not_outlined():
    tests = "from caches import Cache\n\n\ndef test_pop():\n    assert Cache().pop(1, 2) == 2\n"
    files = [("caches.py", MODULE + "\n" * 60), ("tests/test_caches.py", tests)]
    shown = dict(focus.focus(files, ["tests/test_caches.py::test_pop"], [], {"Cache", "pop"}))["caches.py"]
    assert "Shown: Cache.pop in its class" in shown and "Timed (40-" in shown  # listed in the note
    assert "def helper" not in shown and "def clear" not in shown


def test_what_the_method_uses_comes_with_it_and_a_decorator_stays_on_its_own_method():
    """A module constant and a nested class the method uses are shown; the decorator of a
    member left out is not taken for the class line's (a reply copying it back would have
    made `pop` a property); other classes the bead names come whole, and its functions."""
    source = (
        "LIMIT = 3\n\n\nclass Box:\n    @property\n    def size(self):\n        return 1\n\n"
        "    class _Link:\n        count = 0\n\n    def pop(self, key):\n"
        "        link = Box._Link()\n        return min(key, LIMIT) + link.count\n\n\n"
        "class Other:\n    def run(self):\n        return 2\n\n\ndef helper(x):\n    return x\n" + filler("Timed", 40)
    )
    cut = class_excerpt(source, {"Box", "pop", "Other", "helper"}, {"pop"})
    assert cut is not None
    code = "\n".join(line for line in cut.splitlines() if not line.startswith("# "))
    assert code.startswith(
        "\nLIMIT = 3\n\n\nclass Box:\n    class _Link:\n        count = 0\n\n    def pop(self, key):"
    )
    assert "@property" not in code and "Box, the rest of it: size (5-7)" in cut
    assert "class Other:\n    def run(self):" in code and "def helper(x):" in code
    assert merge.merge(source, code).text == source
    hook = source.replace(
        "        link = Box._Link()\n        return min(key, LIMIT) + link.count", "        raise NotImplementedError"
    )
    hook += "\n\nclass Sub(Box):\n    def pop(self, key):\n        return key\n"
    assert class_excerpt(hook, {"Box", "pop"}, {"pop"}) is not None  # a hook Sub fills: not a hole
    long = source.replace("class Other:\n", "class Other:\n" + "    x = 1\n" * 130)
    assert class_excerpt(long, {"Box", "pop", "Other"}, {"pop"}) is None  # Other whole would be 130 lines
